"""native/src/thermal_observer.c against the analytic two-node solution."""

import numpy as np
import pytest
from scipy.linalg import expm

from bms._native import ffi, lib
from bms.cells import ThermalParams
from bms.firmware import Firmware, PackLayout, fill_config
from tests.synthetic import TruthCell

TP = ThermalParams(c_core_j_per_k=55.0, c_surf_j_per_k=6.0, r_core_surf_k_per_w=2.5, r_surf_amb_k_per_w=4.0)


def _a_b(tp: ThermalParams):
    cc, cs, rcs, rsa = tp.c_core_j_per_k, tp.c_surf_j_per_k, tp.r_core_surf_k_per_w, tp.r_surf_amb_k_per_w
    a = np.array([[-1 / (cc * rcs), 1 / (cc * rcs)], [1 / (cs * rcs), -(1 / rcs + 1 / rsa) / cs]])
    b = np.array([[1 / cc, 0.0], [0.0, 1 / (cs * rsa)]])
    return a, b


def _model(tp: ThermalParams, n_cells: int = 1, sensors=(0,)):
    cell = TruthCell().cell_model()
    cell.thermal = tp
    cfg = ffi.new("bms_config_t *")
    fill_config(cfg, cell, PackLayout(n_cells, tuple(sensors)))
    m = ffi.new("bms_thermal_model_t *")
    lib.bms_thermal_model_init(m, cfg)
    return cfg, m


@pytest.mark.parametrize("dt_ms", [1, 100, 1000, 60000])
def test_discretisation_equals_the_matrix_exponential(dt_ms):
    _, m = _model(TP)
    d = ffi.new("bms_thermal_disc_t *")
    lib.bms_thermal_disc_update(d, m, dt_ms)
    a, b = _a_b(TP)
    ad = expm(a * dt_ms / 1000)
    bd = np.linalg.solve(a, (ad - np.eye(2))) @ b
    assert np.allclose(np.array(list(d.ad)).reshape(2, 2), ad, rtol=1e-5, atol=1e-7)
    assert np.allclose([d.bq[0], d.bq[1]], bd[:, 0], rtol=2e-4, atol=1e-10)
    assert np.allclose([d.ba[0], d.ba[1]], bd[:, 1], rtol=2e-4, atol=1e-9)


def test_step_response_and_steady_state_are_analytic():
    cfg, m = _model(TP)
    d = ffi.new("bms_thermal_disc_t *")
    lib.bms_thermal_disc_update(d, m, 500)
    c = ffi.new("bms_thermal_cell_t *")
    lib.bms_thermal_cell_init(c, 25.0, ffi.addressof(cfg.est))
    heat, amb = 2.0, 25.0
    a, b = _a_b(TP)
    t_core, t_surf = [], []
    for _ in range(4000):  # 2000 s
        lib.bms_thermal_cell_predict(c, d, ffi.addressof(cfg.thermal), ffi.addressof(cfg.est), heat, amb, 0.5)
        t_core.append(c.t_core_degc)
        t_surf.append(c.t_surf_degc)
    # analytic: x(t) = x_ss + exp(A t)(x0 - x_ss)
    x_ss = -np.linalg.solve(a, b @ np.array([heat, amb]))
    for k in (10, 200, 1000, 3999):
        t = (k + 1) * 0.5
        x = x_ss + expm(a * t) @ (np.array([25.0, 25.0]) - x_ss)
        assert t_core[k] == pytest.approx(x[0], abs=2e-4)
        assert t_surf[k] == pytest.approx(x[1], abs=2e-4)
    # steady state: core = ambient + Q (Rcs + Rsa). A float32 iteration stops creeping
    # once the step's change drops below rounding: ~3 roundings of half an ulp at 38 C,
    # divided by the slow mode's relaxation per step.
    for _ in range(40000):
        lib.bms_thermal_cell_predict(c, d, ffi.addressof(cfg.thermal), ffi.addressof(cfg.est), heat, amb, 0.5)
    lam_slow = np.max(np.linalg.eigvals(a).real)
    tol = 3 * 0.5 * np.spacing(np.float32(38.0)) / (1 - np.exp(lam_slow * 0.5))
    assert tol < 5e-3
    steady = lib.bms_thermal_steady_core_degc(ffi.addressof(cfg.thermal), heat, amb)
    assert steady == pytest.approx(amb + heat * (2.5 + 4.0), rel=1e-6)
    assert c.t_core_degc == pytest.approx(steady, abs=tol)
    assert c.t_surf_degc == pytest.approx(amb + heat * 4.0, abs=tol)


def test_heat_is_bernardi():
    # discharge 10 A, 50 mV overpotential, dU/dT = -0.1 mV/K at 25 C
    q = lib.bms_thermal_heat_w(10.0, 3.70, 3.65, -1e-4, 25.0)
    assert q == pytest.approx(10 * 0.05 + 10 * 298.15 * 1e-4, rel=1e-5)
    # charge: overpotential reversed, still heats
    assert lib.bms_thermal_heat_w(-10.0, 3.70, 3.75, 0.0, 25.0) == pytest.approx(0.5, rel=1e-5)
    # noise that would make the irreversible part negative is clipped
    assert lib.bms_thermal_heat_w(1.0, 3.70, 3.71, 0.0, 25.0) == 0.0


def _truth_two_node(heat, dt, amb, tp):
    a, b = _a_b(tp)
    ad = expm(a * dt)
    bd = np.linalg.solve(a, ad - np.eye(2)) @ b
    x = np.array([amb, amb])
    out = []
    for q in heat:
        x = ad @ x + bd @ np.array([q, amb])
        out.append(x.copy())
    return np.array(out)


def test_observer_recovers_the_core_from_the_surface_sensor():
    """Closed loop through bms_step: surface sensor only; heat from I*(OCV - V)."""
    tc = TruthCell(
        c_core=TP.c_core_j_per_k,
        c_surf=TP.c_surf_j_per_k,
        r_cs=TP.r_core_surf_k_per_w,
        r_sa=TP.r_surf_amb_k_per_w,
    )
    model = tc.cell_model()
    fw = Firmware(model, PackLayout(1, (0,)))
    rng = np.random.default_rng(4)
    n, dt = 3000, 1.0
    # 3C charge, rest, 3C discharge, rest, 300 s each: the SoC stays within 0.6..0.85 (a
    # charge-only pattern would push 125 % of the capacity in, which only a filter that
    # follows this made-up voltage instead of the charge counted keeps inside [0, 1])
    phase = (np.arange(n) // 300) % 4
    cur = np.select([phase == 0, phase == 2], [-3.0 * tc.capacity_ah, 3.0 * tc.capacity_ah], 0.0)
    overpot = 0.1  # a constant overpotential so the heat is known exactly: |I| * 0.1 V
    heat = np.abs(cur) * overpot
    x = _truth_two_node(heat, dt, 25.0, TP)
    fw.step_arrays(0, 0.0, np.array([3.7]), np.array([25.0]), ambient_degc=25.0)
    err = []
    for k in range(n):
        soc = float(fw.instance.ekf[0].soc)
        ocv = float(np.interp(soc, model.soc, model.ocv_v[0]))
        v = ocv - overpot * np.sign(cur[k])  # charging: V above OCV
        fw.step_arrays(
            1000, cur[k], np.array([v]), np.array([x[k, 1] + 0.1 * rng.standard_normal()]), ambient_degc=25.0
        )
        err.append(fw.core_temp_degc[0] - x[k, 0])
    err = np.array(err)
    assert np.max(x[:, 0] - x[:, 1]) > 1.5  # a real core-surface gradient to find
    assert np.sqrt(np.mean(err[300:] ** 2)) < 0.15


def test_unsensed_cells_are_estimated_from_model_and_neighbours():
    """Nine cells with a resistance spread (heat rising along the string); thermistors
    on the first and last cell only. The truth is the two-node model per cell."""
    tc = TruthCell(
        c_core=TP.c_core_j_per_k,
        c_surf=TP.c_surf_j_per_k,
        r_cs=TP.r_core_surf_k_per_w,
        r_sa=TP.r_surf_amb_k_per_w,
    )
    model = tc.cell_model()
    n_cells, n = 9, 2400
    overpot = np.linspace(0.04, 0.12, n_cells)
    cur = -3.0 * tc.capacity_ah
    truth = np.stack([_truth_two_node(np.full(n, abs(cur) * o), 1.0, 25.0, TP) for o in overpot], axis=1)
    fw = Firmware(model, PackLayout(n_cells, (0, n_cells - 1)))
    rng = np.random.default_rng(7)
    fw.step_arrays(0, 0.0, np.full(n_cells, 3.7), np.array([25.0, 25.0]), ambient_degc=25.0)
    for k in range(n):
        soc = np.array([fw.instance.ekf[i].soc for i in range(n_cells)])
        ocv = np.interp(soc, model.soc, model.ocv_v[0])
        sensors = truth[k, [0, -1], 1] + 0.1 * rng.standard_normal(2)
        noise = 0.001 * rng.standard_normal(n_cells)  # a real AFE reading never repeats exactly
        fw.step_arrays(1000, cur, ocv + overpot + noise, sensors, ambient_degc=25.0)
    core_err = np.array(fw.core_temp_degc) - truth[-1, :, 0]
    surf_err = np.array(fw.surf_temp_degc) - truth[-1, :, 1]
    assert truth[-1, -1, 0] - truth[-1, 0, 0] > 5.0  # a real spread along the string
    assert np.max(np.abs(core_err)) < 0.5
    assert np.max(np.abs(surf_err)) < 0.5
    # without its own sensor the middle cell still lands between its neighbours
    assert truth[-1, 0, 0] < fw.core_temp_degc[4] < truth[-1, -1, 0]
