"""bms/fit.py recovers known parameters from a synthetic characterisation log made by an
independent ODE simulation (tests/synthetic.py) of a cell whose parameters we chose."""

import gzip

import numpy as np
import pytest

from bms.fit import CASING_HEAT_CAPACITY_SHARE, CORE_TO_AMBIENT_RESISTANCE_RATIO, detect_segments, fit_cell
from tests.synthetic import TruthCell, char_protocol, ocv_fn, simulate

C_TOT = 55.0
TRUTH = TruthCell(
    capacity_ah=4.0,
    r0=0.020,
    r1=0.010,
    tau1=12.0,
    r2=0.015,
    tau2=300.0,
    c_core=C_TOT * (1 - CASING_HEAT_CAPACITY_SHARE),
    c_surf=C_TOT * CASING_HEAT_CAPACITY_SHARE,
    r_sa=3.5,
    r_cs=3.5 * CORE_TO_AMBIENT_RESISTANCE_RATIO,
)


@pytest.fixture(scope="module")
def char_log(tmp_path_factory):
    tr = simulate(TRUTH, char_protocol(TRUTH, n_hppc=8), soc0=1.0, v_stop=(2.6, 4.25))
    rng = np.random.default_rng(11)
    v = tr["v"] + 0.0005 * rng.standard_normal(len(tr["t"]))
    i = tr["i"] * 1.0005 + 0.001  # lab-grade gain and offset errors, as in the reference
    temp = np.round(tr["t_surf"] + 0.01 * rng.standard_normal(len(tr["t"])), 2)
    p = tmp_path_factory.mktemp("fit") / "char.csv.gz"
    with gzip.open(p, "wt") as fh:
        fh.write("time_s,current_a,voltage_v,temperature_c\n")
        for row in zip(tr["t"], i, v, temp, strict=True):
            fh.write("{:.1f},{:.5f},{:.5f},{:.2f}\n".format(*row))
    return p, tr


def test_protocol_is_detected_from_the_data(char_log):
    _, tr = char_log
    segs = detect_segments(tr["t"], tr["i"])
    kinds = [s.kind for s in segs]
    assert kinds[:5] == ["rest", "dis", "rest", "chg", "rest"]
    assert kinds.count("dis") == 1 + 2 * 8 and kinds.count("chg") == 1 + 8


@pytest.fixture(scope="module")
def fitted(char_log):
    p, tr = char_log
    return fit_cell([p]), tr


def test_capacity_is_the_swept_charge(fitted):
    rep, tr = fitted
    # the C/20 discharge ran from SoC 1 to where it hit the voltage limit
    swept = TRUTH.capacity_ah * (1.0 - tr["soc"][np.argmin(tr["soc"])])
    assert rep.cell.capacity_ah == pytest.approx(swept, rel=0.003)


def test_ocv_table_follows_the_true_curve(fitted):
    rep, _ = fitted
    c = rep.cell
    row = int(np.argmin(np.abs(c.temp_c - 25.0)))
    # fitted SoC counts from full with the fitted capacity: map it to the true SoC
    s_true = 1.0 - (1.0 - c.soc) * c.capacity_ah / TRUTH.capacity_ah
    inner = (c.soc >= 0.05) & (c.soc <= 0.95)
    err = c.ocv_v[row][inner] - ocv_fn(s_true[inner])
    assert np.max(np.abs(err)) < 0.004


def test_resistances_and_time_constants(fitted):
    rep, _ = fitted
    c = rep.cell
    row = int(np.argmin(np.abs(c.temp_c - 25.0)))
    mid = (c.soc >= 0.15) & (c.soc <= 0.85)
    assert np.median(c.r0_ohm[row][mid]) == pytest.approx(TRUTH.r0, rel=0.02)
    assert np.median(c.r1_ohm[row][mid]) == pytest.approx(TRUTH.r1, rel=0.05)
    assert np.median(c.r2_ohm[row][mid]) == pytest.approx(TRUTH.r2, rel=0.05)
    tau1 = np.median((c.r1_ohm * c.c1_f)[row][mid])
    tau2 = np.median((c.r2_ohm * c.c2_f)[row][mid])
    assert tau1 == pytest.approx(TRUTH.tau1, rel=0.05)
    assert tau2 == pytest.approx(TRUTH.tau2, rel=0.05)
    assert rep.rms_mv < 2.0  # the model structure is exact: residual ~ noise


def test_single_temperature_gets_arrhenius_rows(fitted):
    rep, _ = fitted
    c = rep.cell
    assert len(c.temp_c) > 1
    # colder rows have higher resistance, warmer lower, with the documented law
    r = np.median(c.r0_ohm, axis=1)
    assert np.all(np.diff(r) < 0)
    k = np.exp(25e3 / 8.314462618 * (1 / (c.temp_c + 273.15) - 1 / (c.temp_c[3] + 273.15)))
    assert np.allclose(r / r[3], k, rtol=1e-4)


def test_thermal_model(fitted):
    rep, _ = fitted
    th = rep.cell.thermal
    assert th.r_surf_amb_k_per_w == pytest.approx(TRUTH.r_sa, rel=0.03)
    assert th.c_core_j_per_k + th.c_surf_j_per_k == pytest.approx(C_TOT, rel=0.05)
    assert th.r_core_surf_k_per_w / th.r_surf_amb_k_per_w == pytest.approx(CORE_TO_AMBIENT_RESISTANCE_RATIO)


def test_ocv_rows_that_differ_beyond_entropy_are_held_at_the_bound(tmp_path, char_log):
    """A second characterisation 20 K warmer whose OCV sits up to 100 mV lower near empty
    (5 mV/K: no Li-ion couple's entropy, e.g. sweeps cut off differently per chamber): the
    entropic slope is held at the firmware's bound there, the fit says where, and the cell
    file is one the firmware accepts. Where the two agree (the synthetic cell has no entropy)
    the slope stays near zero."""
    from bms.config_bounds import CONFIG_BOUNDS
    from bms.firmware import Firmware, PackLayout

    warm = TruthCell(**{**TRUTH.__dict__, "ambient_c": 45.0})
    tr = simulate(warm, char_protocol(warm, n_hppc=8), soc0=1.0, v_stop=(2.6, 4.25))
    v = tr["v"] - 0.1 * np.exp(-20.0 * tr["soc"])
    p45 = tmp_path / "char-45c.csv.gz"
    with gzip.open(p45, "wt") as fh:
        fh.write("time_s,current_a,voltage_v,temperature_c\n")
        for row in zip(tr["t"], tr["i"], v, np.round(tr["t_surf"], 2), strict=True):
            fh.write("{:.1f},{:.5f},{:.5f},{:.2f}\n".format(*row))
    rep = fit_cell([char_log[0], p45])
    bound = CONFIG_BOUNDS["cell.docv_dt_v_per_k"].hi
    slope = rep.cell.docv_dt_v_per_k
    assert np.max(np.abs(slope)) <= bound * (1 + 1e-6)
    assert slope[0] == pytest.approx(-bound, rel=1e-6)
    assert any(line.startswith("entropic slope:") for line in rep.lines)
    mid = (rep.cell.soc > 0.4) & (rep.cell.soc < 0.9)
    assert np.max(np.abs(slope[mid])) < 2e-4
    Firmware(rep.cell, PackLayout(n_cells=1, temp_sensor_cells=(0,)))  # accepted, not refused
