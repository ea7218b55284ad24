"""`bms fit` identifies the OCV's hysteresis (bms/fit/hysteresis.py) from data of a cell that
has one, made by the independent ODE simulator (tests/synthetic.py), and finds none in a cell
that has none."""

from __future__ import annotations

import gzip
from dataclasses import replace

import numpy as np
import pytest

from bms.fit import fit_cell
from bms.fit.hysteresis import History, state
from tests.synthetic import TruthCell, char_protocol, simulate

HYST = TruthCell(hyst_m=0.020, hyst_m0=0.004, hyst_gamma=60.0, h0=1.0)


def _drive_then_charge(cap: float, seed: int) -> list[tuple[float, float, float]]:
    """A dynamic test as labs run it (Plett's DYN scripts): drive-cycle-like discharge with
    regenerative pulses and rests, then a charge back with rests."""
    rng = np.random.default_rng(seed)
    steps: list[tuple[float, float, float]] = [(0.0, 1800.0, 10.0)]
    for _ in range(5):  # to about 40 % SoC from full
        for _ in range(8):
            steps.append((float(rng.uniform(0.3, 2.0)) * cap, float(rng.uniform(20, 90)), 1.0))
            steps.append((-float(rng.uniform(0.2, 1.0)) * cap, float(rng.uniform(5, 20)), 1.0))
        steps.append((0.0, 1800.0, 10.0))
    for _ in range(4):
        steps.append((-0.5 * cap, 900.0, 1.0))
        steps.append((0.0, 1800.0, 10.0))
    return steps


def _write(path, tr, seed):
    rng = np.random.default_rng(seed)
    v = tr["v"] + 0.0005 * rng.standard_normal(len(tr["t"]))
    with gzip.open(path, "wt") as fh:
        fh.write("time_s,current_a,voltage_v,temperature_c\n")
        for row in zip(tr["t"], tr["i"], v, np.round(tr["t_surf"], 2), strict=True):
            fh.write("{:.1f},{:.5f},{:.5f},{:.2f}\n".format(*row))


def _fit(tmp_path, cell: TruthCell):
    char = simulate(cell, char_protocol(cell, n_hppc=8), soc0=1.0, v_stop=(2.6, 4.25))
    dyn = simulate(
        replace(cell, h0=1.0), _drive_then_charge(cell.capacity_ah, 3), soc0=1.0, v_stop=(2.6, 4.25)
    )
    _write(tmp_path / "char.csv.gz", char, 1)
    _write(tmp_path / "dyn.csv.gz", dyn, 2)
    return fit_cell([tmp_path / "char.csv.gz", tmp_path / "dyn.csv.gz"])


def test_the_state_is_the_closed_form_of_the_one_state_model():
    # a discharge, a rest, a charge at irregular steps: h against the ODE's exact solution
    dt = np.array([0.0, 1.0, 2.0, 0.5, 10.0, 10.0, 3.0, 3.0, 1.0])
    i = np.array([0.0, 2.0, 2.0, 2.0, 0.0, 0.0, -1.0, -1.0, -1.0])
    h, s = state(History(i, dt), 4.0, 0.98, 60.0, h0=0.5)
    k = 60.0 / (3600.0 * 4.0)
    want_dis = -1.0 + 1.5 * np.exp(-k * 2.0 * np.cumsum(dt[1:4]))
    np.testing.assert_allclose(h[1:4], want_dis, rtol=1e-12)
    np.testing.assert_allclose(h[4:6], want_dis[-1], rtol=1e-12)
    want_chg = 1.0 + (want_dis[-1] - 1.0) * np.exp(-k * 0.98 * np.cumsum(dt[6:]))
    np.testing.assert_allclose(h[6:], want_chg, rtol=1e-12)
    assert list(s) == [0.0, -1.0, -1.0, -1.0, -1.0, -1.0, 1.0, 1.0, 1.0]


def test_the_fit_finds_the_band_of_a_cell_that_has_one(tmp_path):
    rep = _fit(tmp_path, HYST)
    hy = rep.cell.hysteresis
    row = int(np.argmin(np.abs(rep.cell.temp_c - 25.0)))
    band = hy.m_v[row] + hy.m0_v[row]
    assert band == pytest.approx(HYST.hyst_m + HYST.hyst_m0, rel=0.2)
    assert 30.0 <= hy.gamma <= 120.0  # within a factor 2 of the truth (60)
    assert any("hysteresis: gamma" in line for line in rep.lines)


def test_the_fit_finds_none_in_a_cell_without(tmp_path):
    rep = _fit(tmp_path, replace(HYST, hyst_m=0.0, hyst_m0=0.0))
    assert not rep.cell.hysteresis.present
    assert any("hysteresis: not identified" in line for line in rep.lines)
