"""native/src/soc_ekf.c on data from an independent simulation of a known model."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bms.firmware import Firmware, PackLayout
from tests.synthetic import TruthCell, simulate


def _drive(cell: TruthCell, minutes: float, seed: int) -> list[tuple[float, float, float]]:
    rng = np.random.default_rng(seed)
    steps = []
    t = 0.0
    while t < minutes * 60:
        cur = float(rng.choice([-1.0, 0.0, 0.5, 1.0, 2.0])) * cell.capacity_ah * rng.uniform(0.2, 1.0)
        dur = float(rng.uniform(20, 120))
        steps.append((cur, dur, 1.0))
        t += dur
    return steps


def _run(cell: TruthCell, tr: dict, soc_error: float, noise_v: float, seed: int, **est):
    model = cell.cell_model()
    for k, v in est.items():
        setattr(model.estimator, k, v)
    fw = Firmware(model, PackLayout(1, (0,)))
    rng = np.random.default_rng(seed)
    n = len(tr["t"])
    v = tr["v"] + noise_v * rng.standard_normal(n)
    soc = np.empty(n)
    dt = np.diff(tr["t"], prepend=tr["t"][0])
    for k in range(n):
        fw.step_arrays(round(dt[k] * 1000), tr["i"][k], np.array([v[k]]), np.array([tr["t_surf"][k]]))
        if k == 0:
            # start the filter deliberately wrong: the test of convergence
            fw.instance.ekf[0].soc = float(np.clip(fw.instance.ekf[0].soc + soc_error, 0, 1))
            fw.instance.ekf[0].p[0] = 0.3**2
        soc[k] = fw.instance.ekf[0].soc
    return soc


@pytest.mark.parametrize("soc_error", [0.3, -0.3])
def test_converges_from_a_30_percent_wrong_start(soc_error):
    cell = TruthCell()
    tr = simulate(cell, _drive(cell, 40, seed=3), soc0=0.55)
    soc = _run(cell, tr, soc_error, noise_v=0.002, seed=1)
    err = soc - tr["soc"]
    assert abs(err[0]) > 0.25  # it really started wrong
    late = tr["t"] > 15 * 60
    assert np.max(np.abs(err[late])) < 0.02
    assert np.sqrt(np.mean(err[late] ** 2)) < 0.01


def test_beats_coulomb_counting_with_a_biased_current_sensor():
    cell = TruthCell()
    tr = simulate(cell, _drive(cell, 60, seed=5), soc0=0.7)
    biased = dict(tr)
    biased["i"] = tr["i"] * 1.01 + 0.02 * cell.capacity_ah  # +1 % gain, +C/50 offset
    soc = _run(cell, biased, 0.0, noise_v=0.002, seed=2)
    dt = np.diff(tr["t"], prepend=tr["t"][0])
    cc = 0.7 - np.cumsum(biased["i"] * dt) / (3600 * cell.capacity_ah)
    late = tr["t"] > 20 * 60
    ekf_err = np.abs(soc - tr["soc"])[late].max()
    cc_err = np.abs(cc - tr["soc"])[late].max()
    assert ekf_err < 0.5 * cc_err


def _cov(fw):
    p = fw.instance.ekf[0].p
    return np.array([[p[0], p[1], p[2]], [p[1], p[3], p[4]], [p[2], p[4], p[5]]], dtype=float)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-200, 200), st.floats(0.0, 6.0), st.integers(1, 60000)), min_size=1, max_size=60
    )
)
def test_covariance_stays_symmetric_positive_definite(samples):
    fw = Firmware(TruthCell().cell_model(), PackLayout(1, (0,)))
    fw.step_arrays(100, 0.0, np.array([3.7]), np.array([25.0]))
    for cur, v, dt in samples:
        fw.step_arrays(dt, cur, np.array([v]), np.array([25.0]))
        p = _cov(fw)
        assert np.all(np.isfinite(p))
        assert np.all(np.linalg.eigvalsh(p) > 0)
        assert 0.0 <= fw.soc[0] <= 1.0


def test_nan_voltage_holds_the_update_and_flags_it():
    fw = Firmware(TruthCell().cell_model(), PackLayout(1, (0,)))
    fw.step_arrays(0, 1.0, np.array([3.7]), np.array([25.0]))
    before = float(fw.soc[0])
    out = fw.step_arrays(1000, 0.0, np.array([np.nan]), np.array([25.0]))
    assert out.status & 0x4  # BMS_ST_VOLTAGE_INVALID
    assert np.isfinite(fw.soc[0]) and fw.soc[0] == pytest.approx(before, abs=1e-7)
    out = fw.step_arrays(1000, float("nan"), np.array([3.7]), np.array([25.0]))
    assert out.status & 0x2  # BMS_ST_CURRENT_INVALID
    assert np.all(np.isfinite([fw.soc[0], fw.core_temp_degc[0], fw.v_pred_v[0]]))
