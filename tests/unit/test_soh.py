"""native/src/soh.c: the online capacity and resistance filters on crafted inputs, against
the scalar Kalman recursions written out here (a second implementation) and against the
truth the inputs were made from."""

import math

import numpy as np
import pytest

from bms._native import ffi, lib
from bms.chemistry import load_chemistry
from bms.firmware import PackLayout, fill_config

CHEM = load_chemistry("nmc811-graphite")
N = 8


def config():
    cfg = ffi.new("bms_config_t *")
    fill_config(cfg, CHEM.cell, PackLayout(N, (0, 4)), CHEM.protection)
    cfg.est.soh_init_sigma = 0.2  # a pack of unknown age (the aged-cycles preset's prior)
    cfg.est.soh_r_init_sigma = 0.35  # (the scenarios' resistance prior)
    return cfg


def fresh(cfg):
    s = ffi.new("bms_soh_t *")
    lib.bms_soh_reset(s, cfg)
    return s


def cap(s, i):
    return lib.bms_soh_cap_scale(s, i)


def rest_until_point(s, cfg, dt_s=1.0):
    """Rest at 0 A until bms_soh_charge reports the informative point (returns the steps)."""
    for k in range(100_000):
        if lib.bms_soh_charge(s, cfg, 0.0, 1, dt_s):
            return k + 1
    raise AssertionError("no informative point")


def point(s, cfg, soc, var):
    lib.bms_soh_point_begin(s, cfg)
    for v in var:
        lib.bms_soh_point_var(s, float(v))
    for i, x in enumerate(soc):
        lib.bms_soh_point_cell(s, cfg, i, float(x))
    lib.bms_soh_point_end(s, cfg)


@pytest.mark.parametrize("x", [0.0, 1e-12, 2.5e-5, 0.01, 0.5, 1.0, 2.0, 3.0, 12345.678, 3.4e38])
def test_sqrt_matches_libm(x):
    got = lib.bms_sqrtf(x)
    ref = math.sqrt(float(np.float32(x)))
    assert abs(got - ref) <= 1e-6 * max(ref, 1e-30)


def test_sqrt_edges():
    assert lib.bms_sqrtf(-1.0) == 0.0
    assert math.isnan(lib.bms_sqrtf(float("nan")))
    assert lib.bms_sqrtf(float("inf")) == float("inf")


def test_the_informative_point_comes_after_the_stated_rest_and_only_once():
    cfg = config()
    s = fresh(cfg)
    cfg.est.soh_rest_s = 900.0
    steps = rest_until_point(s, cfg, dt_s=1.0)
    assert steps == 900
    assert not any(lib.bms_soh_charge(s, cfg, 0.0, 1, 1.0) for _ in range(2000))
    # a current above C/50 restarts the rest
    q = cfg.cell.capacity_ah
    assert not lib.bms_soh_charge(s, cfg, 0.03 * q, 1, 1.0)
    assert rest_until_point(s, cfg) == 900


def test_capacity_converges_to_the_truth_with_the_variance_of_the_scalar_filter():
    """Cells of known capacity scale (0.8 +- 2 %) go through discharge / charge intervals
    between rests; the SoC at each rest is the truth plus noise of the stated variance. The
    firmware's estimate follows the recursion written out here (to float32 rounding and the
    16-bit store) and ends within 3 sigma of the truth."""
    cfg = config()
    cfg.est.soh_rest_s = 60.0
    cfg.est.soh_rw = 0.002
    s = fresh(cfg)
    rng = np.random.default_rng(5)
    q_cfg = cfg.cell.capacity_ah
    eff = cfg.cell.coulombic_eff
    true_c = 0.8 * (1 + 0.02 * rng.standard_normal(N))
    soc = np.full(N, 0.8)
    sig = 0.005  # the SoC error at a rest point (OCV error over its slope)
    theta = np.ones(N)  # the reference recursion: 1 / capacity scale
    p = cfg.est.soh_init_sigma**2
    var_start = None
    start = np.zeros(N)
    cycles = [(+1.0, 0.5 * q_cfg), (-1.0, 0.5 * q_cfg)] * 4  # (sign, current A) discharge 0.8 -> ~0.2, back
    for sign, i_a in cycles:
        # move the true SoC by ~0.6 of the cells' true capacity (0.6 of 0.8 q_cfg)
        dt = 1.0
        n = round(0.6 * 0.8 * q_cfg * 3600.0 / i_a)
        ah = 0.0
        for _ in range(n):
            cur = sign * i_a
            assert not lib.bms_soh_charge(s, cfg, cur, 1, dt)
            w = eff if cur < 0 else 1.0
            ah += w * cur * dt / 3600.0
            soc = soc - w * cur * dt / 3600.0 / (q_cfg * true_c)
        assert rest_until_point(s, cfg) >= 1
        meas = soc + sig * rng.standard_normal(N)
        var = np.full(N, sig**2)
        point(s, cfg, meas, var)
        # the reference filter (first point only opens the interval)
        if var_start is not None:
            x = -ah / q_cfg
            p += cfg.est.soh_rw**2
            r = var_start + sig**2 + (cfg.est.current_gain_sigma * x) ** 2
            k = p * x / (x * x * p + r)
            theta = theta + k * ((meas - start) - x * theta)
            p = p * r / (x * x * p + r)
        var_start = sig**2
        start = meas
    est = np.array([cap(s, i) for i in range(N)])
    assert np.allclose(est, 1 / theta, rtol=2e-4, atol=0)
    assert s.theta_var == pytest.approx(p, rel=1e-4)
    sigma_c = est**2 * math.sqrt(p)
    assert np.all(np.abs(est - true_c) < 3 * sigma_c + 2e-4)
    assert np.sqrt(np.mean((est / true_c - 1) ** 2)) < 0.01
    assert s.cap_updates == len(cycles) - 1


def test_a_flat_ocv_teaches_the_capacity_nothing():
    """Rest points whose SoC variance is huge (LFP's plateau: the OCV error over a slope near
    0) leave the capacity where it was."""
    cfg = config()
    cfg.est.soh_rest_s = 60.0
    s = fresh(cfg)
    q = cfg.cell.capacity_ah
    rest_until_point(s, cfg)
    point(s, cfg, np.full(N, 0.8), np.full(N, 1.0))
    for _ in range(3600):
        lib.bms_soh_charge(s, cfg, 0.5 * q, 1, 1.0)
    rest_until_point(s, cfg)
    point(s, cfg, np.full(N, 0.2), np.full(N, 1.0))  # 0.6 moved for 0.5 of q: a 0.83 capacity
    est = np.array([cap(s, i) for i in range(N)])
    assert np.all(np.abs(est - 1.0) < 0.01)


def test_an_unknown_current_voids_the_interval():
    cfg = config()
    cfg.est.soh_rest_s = 60.0
    s = fresh(cfg)
    q = cfg.cell.capacity_ah
    rest_until_point(s, cfg)
    point(s, cfg, np.full(N, 0.8), np.full(N, 1e-5))
    for k in range(3600):
        lib.bms_soh_charge(s, cfg, 0.5 * q, 0 if k == 100 else 1, 1.0)
    rest_until_point(s, cfg)
    point(s, cfg, np.full(N, 0.2), np.full(N, 1e-5))
    assert s.cap_updates == 0
    assert all(cap(s, i) == 1.0 for i in range(N))


def test_disabled_holds_the_scales():
    cfg = config()
    cfg.est.soh_init_sigma = 0.0
    cfg.est.soh_rest_s = 60.0
    s = fresh(cfg)
    q = cfg.cell.capacity_ah
    assert not any(lib.bms_soh_charge(s, cfg, 0.0, 1, 1.0) for _ in range(200))
    assert not lib.bms_soh_r_begin(s, cfg, 0.0, 1, 0.1)
    assert not lib.bms_soh_r_begin(s, cfg, q, 1, 0.1)
    assert all(cap(s, i) == 1.0 and lib.bms_soh_r_scale(s, i) == 1.0 for i in range(N))


def test_resistance_follows_current_steps():
    """Innovations at current steps as the filter sees them when the true resistance is
    g_true times the model's: -R0 dI (g_true - g) plus the noise of two samples. The scale
    converges to g_true; small current changes and long steps teach nothing."""
    cfg = config()
    s = fresh(cfg)
    rng = np.random.default_rng(3)
    q = cfg.cell.capacity_ah
    r0 = 0.0015
    g_true = 1.0 + 0.5 + 0.02 * rng.standard_normal(N)
    sigma_v = math.sqrt(2 * cfg.est.voltage_noise_v**2 + cfg.est.model_err_v**2)
    i_prev = 0.0
    lib.bms_soh_r_begin(s, cfg, i_prev, 1, 0.1)
    updates = 0
    for _ in range(400):
        i_now = float(rng.choice([-2.0, -0.5, 0.0, 0.5, 1.0, 3.0]) * q)
        if lib.bms_soh_r_begin(s, cfg, i_now, 1, 0.1):
            updates += 1
            for c in range(N):
                g = lib.bms_soh_r_scale(s, c)
                innov = -r0 * (i_now - i_prev) * (g_true[c] - g) + sigma_v * rng.standard_normal()
                lib.bms_soh_r_cell(s, c, innov, r0)
            lib.bms_soh_r_end(s, cfg)
        i_prev = i_now
    est = np.array([lib.bms_soh_r_scale(s, c) for c in range(N)])
    assert updates > 300
    assert np.all(np.abs(est / g_true - 1) < 0.03)
    assert s.r_updates == updates
    # a step below soh_step_c, or over more than a second, is no step
    assert not lib.bms_soh_r_begin(s, cfg, i_prev + 0.5 * cfg.est.soh_step_c * q, 1, 0.1)
    assert not lib.bms_soh_r_begin(s, cfg, i_prev + 5 * q, 1, 2.0)


def test_a_wild_step_is_no_resistance():
    """An innovation far beyond what the filter's variance and the noise allow (a fault's
    step, an open circuit) leaves the scale alone."""
    cfg = config()
    s = fresh(cfg)
    q = cfg.cell.capacity_ah
    r0 = 0.0015
    lib.bms_soh_r_begin(s, cfg, 0.0, 1, 0.1)
    assert lib.bms_soh_r_begin(s, cfg, q, 1, 0.1)
    rz = s.r_noise_v2 / (r0 * q) ** 2
    sigma = math.sqrt(s.r_var + rz)
    gain = s.r_var / (s.r_var + rz)
    lib.bms_soh_r_cell(s, 0, -r0 * q * 3.5 * sigma, r0)  # 3.5 sigma: left out
    lib.bms_soh_r_cell(s, 1, -r0 * q * 2.5 * sigma, r0)  # 2.5 sigma: taken, with the filter's gain
    lib.bms_soh_r_end(s, cfg)
    assert lib.bms_soh_r_scale(s, 0) == 1.0
    assert lib.bms_soh_r_scale(s, 1) == pytest.approx(1.0 + gain * 2.5 * sigma, abs=1 / 16384)


def test_stored_health_is_validated_and_used():
    cfg = config()
    cfg.nvm.soh_valid = 1
    cfg.nvm.soh_sigma = 0.01
    for i in range(N):
        cfg.nvm.cap_q[i] = int(0.8 * 32768)
        cfg.nvm.r_q[i] = int(1.5 * 16384)
    assert lib.bms_config_check(cfg) == lib.BMS_CFG_OK
    s = fresh(cfg)
    assert cap(s, 3) == pytest.approx(0.8, abs=1e-4)
    assert lib.bms_soh_r_scale(s, 3) == pytest.approx(1.5, abs=1e-4)
    assert s.theta_var == pytest.approx(1e-4)
    cfg.nvm.cap_q[2] = int(0.3 * 32768)
    d = ffi.new("bms_cfg_detail_t *")
    assert lib.bms_config_check_detail(cfg, d) == lib.BMS_CFG_E_NVM
    assert d.field == lib.BMS_CFG_F_NVM_SOH_CAP and d.col == 2
