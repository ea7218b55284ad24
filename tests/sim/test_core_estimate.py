"""P13 (bms/sim/checks.py): the firmware's core estimate is never below the true core by more
than what the observer cannot know. A clean run with a 30 % thermal mismatch passes; the same
run with one cell's estimate lowered fails on P13 at that cell from that step; the heater's
window is not judged; the helper that times it against a brute-force loop."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bms.chemistry import load_chemistry
from bms.plant.faults import Fault, Injection
from bms.plant.pack import Spread
from bms.sim import checks
from bms.sim.checks import check_run
from bms.sim.loop import run
from tests.sim.tamper import eight_cell_fastcharge, tampered


@pytest.fixture(scope="module")
def clean():
    """Eight cells of the fast-charge preset, four minutes, a thermal model off by 30 %."""
    scn = eight_cell_fastcharge(replace(Spread(), r_core_surf_scale=1.3, c_core_scale=0.7))
    chem = load_chemistry(scn.chemistry)
    return run(scn), chem


@pytest.fixture(scope="module")
def matched():
    """The same with the plant's thermal model the firmware's: the allowance is tight."""
    scn = eight_cell_fastcharge(Spread())
    return run(scn), load_chemistry(scn.chemistry)


def p13(res, chem) -> list[str]:
    return [str(v) for v in check_run(res, chem, max_per_prop=50) if v.prop == "P13-core-estimate"]


def lowered(res, cell: int, t0: float, t1: float, by_k: float):
    """A copy of the run whose estimate of `cell` reads by_k lower over [t0, t1)."""
    r = copy.copy(res)
    est = np.array(res.cells_est_core, dtype=float, copy=True)
    t = res.log["time_s"]
    est[(t >= t0) & (t < t1), cell] -= by_k
    r.cells_est_core = est
    return r


def test_the_clean_run_holds_p13(clean):
    res, chem = clean
    core = np.asarray(res.cells_true_core) - np.asarray(res.cells_est_core)
    assert np.nanmax(np.abs(core)) > 0.1  # the estimate is not the truth: there is something to judge
    assert p13(res, chem) == []


def test_an_estimate_below_the_truth_beyond_the_allowance_is_flagged_there(matched):
    res, chem = matched
    assert p13(res, chem) == []
    flagged = p13(lowered(res, 5, 120.0, 130.0, 3.0), chem)
    assert flagged and flagged[0].startswith("P13-core-estimate at t=120.0 s: cell 5 true core"), flagged
    assert all("cell 5" in f for f in flagged)
    # a few hundredths of a kelvin lower is within what the observer cannot know
    assert p13(lowered(res, 5, 120.0, 130.0, 0.02), chem) == []


def test_an_estimate_above_the_truth_is_not_this_propertys(matched):
    res, chem = matched
    assert p13(lowered(res, 5, 120.0, 130.0, -3.0), chem) == []


def test_nothing_is_judged_while_the_heater_runs_and_its_r_c_after(matched, monkeypatch):
    res, chem = matched
    tau_s = checks.core_tau_s(chem, res.scenario.spread)
    # a window that fits the four-minute run: 0.1 of the core's R C after the heater stops
    monkeypatch.setattr(checks, "HEATED_CORE_TAUS", 0.1)
    after = 0.1 * tau_s
    assert 2.0 < after < 30.0

    def heater(col):
        col[(res.log["time_s"] >= 50.0) & (res.log["time_s"] < 60.0)] = 1.0

    heated = tampered(res, heater_on=heater)
    assert p13(lowered(heated, 2, 55.0, 60.0 + after - 0.5, 3.0), chem) == []
    flagged = p13(lowered(heated, 2, 55.0, 60.0 + after + 2.0, 3.0), chem)
    assert flagged and "cell 2" in flagged[0]
    t_first = float(flagged[0].split("t=")[1].split(" s")[0])
    assert 60.0 + after - 0.2 <= t_first <= 60.0 + after + 0.2, flagged[0]


@settings(max_examples=200, deadline=None)
@given(on=st.lists(st.booleans(), min_size=1, max_size=60))
def test_the_time_since_the_heater_matches_a_loop(on):
    t = np.arange(len(on)) * 0.5
    got = checks._since(np.array(on), t)
    last = None
    for k, o in enumerate(on):
        last = t[k] if o else last
        want = np.inf if last is None else t[k] - last
        assert got[k] == want


def test_nothing_is_judged_after_a_coolant_fault_is_injected(matched):
    res, chem = matched
    assert p13(lowered(res, 4, 150.0, 160.0, 3.0), chem)
    r = copy.copy(res)
    at_s = 140.0
    k = int(np.searchsorted(res.log["time_s"], at_s))
    r.injected = [*res.injected, Injection(Fault("cooling_loss", at_s=at_s), at_s=at_s, k=k)]
    assert p13(lowered(r, 4, 150.0, 160.0, 3.0), chem) == []
