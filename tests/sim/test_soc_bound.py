"""P5's SoC bound (bms/sim/checks.py, soc_bound): the tolerance, plus, until the firmware
reports its first capacity update, the error of coulomb counting with the capacity it was
given. The allowance is recomputed here from the plant's true capacities and the true SoC
trajectory (the charge that moved, not the logged current the checker integrates)."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest

from bms.chemistry import load_chemistry
from bms.sim.checks import SOC_CONVERGED_S, SOC_TOLERANCE, check_run, soc_bound
from bms.sim.loop import ClosedLoop
from bms.sim.scenario import load_scenario


@pytest.fixture(scope="module")
def charged():
    scn = replace(load_scenario("fastcharge-10-80"), series=8, duration_s=300.0, stop_when_complete=False)
    loop = ClosedLoop(scn)
    while loop.step() is not None:
        pass
    return loop.result(), loop.plant.cap_ah.copy(), load_chemistry(scn.chemistry)


def with_est(res, k: int, cell: int, err: float):
    r = copy.copy(res)
    r.cells_est_soc = np.array(res.cells_true_soc, dtype=float, copy=True)
    r.cells_est_soc[k, cell] += err
    return r


def p5(res, chem) -> bool:
    return any(v.prop == "P5-nominal" for v in check_run(res, chem))


def test_told_the_true_capacity_the_bound_is_the_tolerance(charged):
    res, cap_true, _ = charged
    # the scenario stores each cell's health (nvm_soh_sigma 0.5 %): told the truth within it
    assert np.allclose(res.cells_cap_told_ah, cap_true, rtol=0.02)
    b = soc_bound(res)
    t = res.log["time_s"]
    assert np.all(b[t < SOC_CONVERGED_S] == SOC_TOLERANCE)
    moved = np.abs(res.cells_true_soc[-1] - res.cells_true_soc[np.searchsorted(t, SOC_CONVERGED_S)])
    assert moved.min() > 0.1  # the charge moved: a capacity error would show
    expected = moved * np.abs(cap_true / res.cells_cap_told_ah - 1.0)
    assert b[-1] - SOC_TOLERANCE == pytest.approx(expected, rel=0.02, abs=2e-4)


def test_told_a_capacity_20_percent_high_the_allowance_is_the_counting_error(charged):
    res, cap_true, chem = charged
    told = res.cells_cap_told_ah / 0.8
    wrong = copy.copy(res)
    wrong.cells_cap_told_ah = told
    t = res.log["time_s"]
    k0 = int(np.searchsorted(t, SOC_CONVERGED_S))
    # counting with the told capacity moves the SoC by (true move) x cap_true / told
    moved = res.cells_true_soc[k0:] - res.cells_true_soc[k0]
    expected = np.abs(moved) * np.abs(cap_true / told - 1.0)
    b = soc_bound(wrong)
    assert b[k0:] - SOC_TOLERANCE == pytest.approx(expected, rel=0.02, abs=2e-4)
    k, cell = len(t) - 1, 3
    assert b[k, cell] > SOC_TOLERANCE + 0.02
    # an estimate just inside the bound holds, just outside it is flagged ...
    assert not p5(with_est(wrong, k, cell, b[k, cell] - 0.002), chem)
    assert p5(with_est(wrong, k, cell, b[k, cell] + 0.002), chem)
    # ... and told the truth, the same error is flagged
    assert p5(with_est(res, k, cell, b[k, cell] - 0.002), chem)


def test_once_the_firmware_reports_a_capacity_update_the_tolerance_alone_holds(charged):
    res, _, chem = charged
    wrong = copy.copy(res)
    wrong.cells_cap_told_ah = res.cells_cap_told_ah / 0.8
    wrong.log = dict(res.log)
    t = res.log["time_s"]
    half = len(t) // 2
    upd = np.zeros(len(t))
    upd[half:] = float(1 << 16)  # one capacity update from the middle on
    wrong.log["soh_updates"] = upd
    b = soc_bound(wrong)
    assert np.all(b[half:] == SOC_TOLERANCE)
    k0 = int(np.searchsorted(t, SOC_CONVERGED_S))
    assert half > k0 + 100
    assert np.all(b[k0 + 100 : half] > SOC_TOLERANCE)
    assert p5(with_est(wrong, len(t) - 1, 2, SOC_TOLERANCE + 0.002), chem)
    # resistance updates alone (the low 16 bits) teach nothing of the capacity
    wrong.log["soh_updates"] = np.where(upd > 0, 5.0, 0.0)
    assert np.all(soc_bound(wrong)[half:, 2] > SOC_TOLERANCE)
