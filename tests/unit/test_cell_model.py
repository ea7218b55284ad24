"""native/src/cell_model.c: tables against scipy, discretisation against the analytic
exponentials of the RC circuit."""

import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator

from bms._native import ffi, lib
from bms.firmware import PackLayout, fill_config


def _cfg(cell):
    cfg = ffi.new("bms_config_t *")
    fill_config(cfg, cell, PackLayout(1, (0,)))
    return cfg


def test_bilinear_tables_match_scipy_and_clamp(lgm50):
    cfg = _cfg(lgm50)
    rng = np.random.default_rng(0)
    for name in ("ocv_v", "r0_ohm", "r1_ohm", "c2_f"):
        table = getattr(lgm50, name)
        ref = RegularGridInterpolator((lgm50.temp_c, lgm50.soc), table, method="linear")
        ctab = getattr(cfg.cell, name)
        for _ in range(300):
            soc = rng.uniform(-0.2, 1.2)
            temp = rng.uniform(-20, 70)
            got = lib.bms_cell_table(ffi.addressof(cfg.cell), ctab, soc, temp)
            # clamping at the table edges = evaluating at the clipped point
            want = ref([[np.clip(temp, lgm50.temp_c[0], lgm50.temp_c[-1]), np.clip(soc, 0.0, 1.0)]])[0]
            assert got == pytest.approx(want, rel=1e-5, abs=1e-7)


def test_eval_bundles_the_same_values(lgm50):
    cfg = _cfg(lgm50)
    e = ffi.new("bms_cell_eval_t *")
    lib.bms_cell_eval(ffi.addressof(cfg.cell), 0.37, 31.0, e)
    t = lambda tab: lib.bms_cell_table(ffi.addressof(cfg.cell), tab, 0.37, 31.0)  # noqa: E731
    assert e.ocv_v == pytest.approx(t(cfg.cell.ocv_v), rel=1e-6)
    assert e.r0_ohm == pytest.approx(t(cfg.cell.r0_ohm), rel=1e-6)
    assert e.tau1_s == pytest.approx(t(cfg.cell.r1_ohm) * t(cfg.cell.c1_f), rel=1e-5)
    assert e.tau2_s == pytest.approx(t(cfg.cell.r2_ohm) * t(cfg.cell.c2_f), rel=1e-5)
    # slope: finite difference of the same piecewise-linear OCV inside one segment
    d = 1e-3
    slope = (
        t(cfg.cell.ocv_v) - lib.bms_cell_table(ffi.addressof(cfg.cell), cfg.cell.ocv_v, 0.37 - d, 31.0)
    ) / d
    assert e.docv_dsoc_v == pytest.approx(slope, rel=2e-3)


@pytest.mark.parametrize("dt_s", [0.001, 0.1, 1.0, 10.0, 60.0])
def test_rc_step_response_is_the_analytic_exponential(dt_s):
    r_ohm, tau_s, i_a = 0.012, 35.0, 7.5
    d = lib.bms_cell_rc_disc(r_ohm, tau_s, dt_s)
    n = round(180.0 / dt_s) if dt_s >= 0.1 else 2000
    v = 0.0
    for _ in range(n):
        v = d.a * v + d.b_ohm * i_a
    t = n * dt_s
    assert v == pytest.approx(r_ohm * i_a * (1 - np.exp(-t / tau_s)), rel=2e-4, abs=1e-9)
    assert 0.0 < d.a < 1.0  # stable for any step


def test_rc_pulse_then_relaxation_is_analytic():
    r_ohm, tau_s, i_a, dt = 0.02, 8.0, -5.0, 0.5
    d = lib.bms_cell_rc_disc(r_ohm, tau_s, dt)
    v = 0.0
    for _ in range(20):  # 10 s pulse
        v = d.a * v + d.b_ohm * i_a
    v_end = r_ohm * i_a * (1 - np.exp(-10.0 / tau_s))
    assert v == pytest.approx(v_end, rel=1e-5)
    for _ in range(60):  # 30 s rest
        v = d.a * v
    assert v == pytest.approx(v_end * np.exp(-30.0 / tau_s), rel=1e-5)


def test_huge_step_is_stable():
    d = lib.bms_cell_rc_disc(0.01, 0.5, 3600.0)
    assert d.a == pytest.approx(0.0, abs=1e-30)
    assert d.b_ohm == pytest.approx(0.01, rel=1e-6)


def test_soc_from_ocv_inverts_the_table(lgm50):
    cfg = _cfg(lgm50)
    cp = ffi.addressof(cfg.cell)
    for soc in np.linspace(0.0, 1.0, 41):
        for temp in (5.0, 17.0, 25.0, 45.0):
            v = lib.bms_cell_ocv(cp, soc, temp)
            assert lib.bms_cell_soc_from_ocv(cp, v, temp) == pytest.approx(soc, abs=2e-5)
    assert lib.bms_cell_soc_from_ocv(cp, 1.0, 25.0) == 0.0
    assert lib.bms_cell_soc_from_ocv(cp, 9.0, 25.0) == 1.0


def test_coulomb_counting_with_charge_efficiency(lgm50):
    cfg = _cfg(lgm50)
    cfg.cell.coulombic_eff = 0.98
    cp = ffi.addressof(cfg.cell)
    q = cfg.cell.capacity_ah
    assert lib.bms_cell_dsoc(cp, q, 3600.0) == pytest.approx(-1.0, rel=1e-6)
    assert lib.bms_cell_dsoc(cp, -q, 1800.0) == pytest.approx(0.49, rel=1e-6)


def test_a_breakpoint_located_without_a_search_is_where_the_search_puts_it(lgm50):
    """bms_cell_locate_soc_bp(k) gives what bms_interp_locate gives for soc = soc_bp[k]: the
    segment k at its start, the last breakpoint at the end of the last segment (w = 1: the
    lerp there differs from y[n-1] in the last bit); and an evaluation at a located point is
    bms_cell_eval's, bit for bit (the state of power locates once and evaluates many)."""
    cfg = _cfg(lgm50)
    cp = ffi.addressof(cfg.cell)
    n = int(cfg.cell.n_soc)
    idx, w = ffi.new("uint32_t *"), ffi.new("float *")
    pt = ffi.new("bms_cell_pt_t *")
    for k in range(n):
        lib.bms_interp_locate(cfg.cell.soc_bp, n, cfg.cell.soc_bp[k], idx, w)
        lib.bms_cell_locate_soc_bp(cp, k, pt)
        assert (pt.i_soc, pt.w_soc) == (idx[0], w[0])
    assert (pt.i_soc, pt.w_soc) == (n - 2, 1.0)
    by_value, at_point, rc_only = (ffi.new("bms_cell_eval_t *") for _ in range(3))
    rng = np.random.default_rng(3)
    for soc, temp in [
        *zip(rng.uniform(-0.1, 1.1, 200), rng.uniform(-20, 70, 200), strict=True),
        (1.0, 25.0),
        (0.0, -40.0),
    ]:
        lib.bms_cell_eval(cp, soc, temp, by_value)
        lib.bms_cell_locate_temp(cp, temp, pt)
        lib.bms_cell_locate_soc(cp, soc, pt)
        lib.bms_cell_eval_at(cp, pt, at_point)
        lib.bms_cell_eval_rc_at(cp, pt, rc_only)
        assert bytes(ffi.buffer(at_point)) == bytes(ffi.buffer(by_value))
        assert lib.bms_cell_ocv_at(cp, pt) == by_value.ocv_v
        for f in ("r0_ohm", "r1_ohm", "tau1_s", "r2_ohm", "tau2_s"):
            assert getattr(rc_only, f) == getattr(by_value, f)
