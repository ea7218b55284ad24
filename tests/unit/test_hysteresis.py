"""The OCV's voltage hysteresis (native/src/hysteresis.c, the plant's in bms/plant/pack.py,
the SoC filter's use of it) against independent computations: the one-state model's closed
form under a constant current, and the ODE simulator of tests/synthetic.py."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from bms._native import ffi, lib
from bms.cells import CellModel, Hysteresis, cell_from_dict, cell_to_dict
from bms.errors import ConfigError
from bms.firmware import Firmware, PackLayout, fill_config
from bms.plant.pack import PackPlant, Spread
from bms.sim.scenario import Scenario, validate
from tests.synthetic import TruthCell, simulate

M_V = (0.030, 0.020)  # at 0 and 25 degC
M0_V = (0.006, 0.004)
GAMMA = 80.0
HYST_MODEL_REL = 0.2  # hysteresis.c's stated share of the band


def two_temp_cell(m_v=M_V, m0_v=M0_V, gamma=GAMMA, eff=1.0) -> CellModel:
    one = TruthCell().cell_model()
    two = {
        n: np.vstack([getattr(one, n)] * 2) for n in ("ocv_v", "r0_ohm", "r1_ohm", "c1_f", "r2_ohm", "c2_f")
    }
    return replace(
        one,
        temp_c=np.array([0.0, 25.0]),
        coulombic_eff=eff,
        hysteresis=Hysteresis(np.array(m_v), np.array(m0_v), gamma),
        **two,
    )


def closed_form_h(
    h0: float, current_a: float, t_s: float, cap_ah: float, gamma: float, eff: float = 1.0
) -> float:
    towards = 1.0 if current_a < 0 else -1.0
    eta = eff if current_a < 0 else 1.0
    return towards + (h0 - towards) * math.exp(-gamma * eta * abs(current_a) * t_s / (3600.0 * cap_ah))


def _cfg(cell: CellModel):
    c = ffi.new("bms_config_t *")
    fill_config(c, cell, PackLayout(1, (0,)))
    return c


@pytest.mark.parametrize("dt_s", [0.1, 1.0, 7.0])
@pytest.mark.parametrize("current_a,eff", [(2.0, 1.0), (-3.0, 1.0), (-3.0, 0.97)])
def test_a_constant_current_moves_h_as_the_closed_form(dt_s, current_a, eff):
    cell = two_temp_cell(eff=eff)
    cfg = _cfg(cell)
    hy = ffi.new("bms_hyst_t *")
    lib.bms_hyst_init(hy)
    h0 = 0.0
    n = round(120.0 / dt_s)
    for _ in range(n):
        lib.bms_hyst_step(hy, ffi.addressof(cfg.cell), current_a, dt_s, 0.01)
    want = closed_form_h(h0, current_a, n * dt_s, cell.capacity_ah, GAMMA, eff)
    assert hy.h == pytest.approx(want, abs=2e-5)
    assert hy.s == (1.0 if current_a < 0 else -1.0)
    # the unknown start is forgotten by the same factor
    assert hy.h_sigma == pytest.approx(abs(want - (1.0 if current_a < 0 else -1.0)), rel=1e-4)


@pytest.mark.parametrize(
    "current_a,dt_s", [(0.0, 1.0), (0.009, 1.0), (-0.009, 1.0), (float("nan"), 1.0), (-2.0, 0.0), (2.0, -1.0)]
)
def test_rest_noise_nan_and_no_time_move_nothing(current_a, dt_s):
    cfg = _cfg(two_temp_cell())
    hy = ffi.new("bms_hyst_t *")
    lib.bms_hyst_init(hy)
    hy.h, hy.s, hy.h_sigma = 0.4, 1.0, 0.5
    lib.bms_hyst_step(hy, ffi.addressof(cfg.cell), current_a, dt_s, 0.01)
    assert (hy.h, hy.s, hy.h_sigma) == (pytest.approx(0.4), 1.0, 0.5)


@pytest.mark.parametrize("temp", [-10.0, 0.0, 10.0, 25.0, 40.0])
def test_the_voltage_and_its_uncertainty_at_a_temperature(temp):
    cfg = _cfg(two_temp_cell())
    hy = ffi.new("bms_hyst_t *")
    lib.bms_hyst_init(hy)
    var = ffi.new("float *")
    m = float(np.interp(temp, [0.0, 25.0], M_V))
    m0 = float(np.interp(temp, [0.0, 25.0], M0_V))
    # at power-up: h = s = 0, both unknown over their whole range
    assert lib.bms_hyst_v(hy, ffi.addressof(cfg.cell), temp, var) == 0.0
    assert var[0] == pytest.approx(m**2 + m0**2 + (HYST_MODEL_REL * (m + m0)) ** 2, rel=1e-5)
    # after a long discharge: on the lower branch, only the model's own error left
    for _ in range(200):
        lib.bms_hyst_step(hy, ffi.addressof(cfg.cell), 4.0, 10.0, 0.01)
    v = lib.bms_hyst_v(hy, ffi.addressof(cfg.cell), temp, var)
    assert v == pytest.approx(-(m + m0), abs=1e-6)
    assert var[0] == pytest.approx((HYST_MODEL_REL * (m + m0)) ** 2, rel=1e-3)
    assert lib.bms_hyst_band_v(ffi.addressof(cfg.cell), temp) == pytest.approx(m + m0, rel=1e-6)


def test_the_plant_carries_the_closed_form_hysteresis_per_element():
    cell = two_temp_cell()
    rng = np.random.default_rng(0)
    spread = Spread(capacity=0.0, resistance=0.0, soc=0.0, hyst_h0=1.0)
    with_h = PackPlant(cell, 3, 2, 0.6, spread, rng)
    without = PackPlant(cell, 3, 2, 0.6, replace(spread, hyst_scale=0.0), np.random.default_rng(0))
    temp = np.full(3, 10.0)
    m = float(np.interp(10.0, [0.0, 25.0], M_V))
    m0 = float(np.interp(10.0, [0.0, 25.0], M0_V))
    # at rest after a charge: the upper branch
    np.testing.assert_allclose(with_h.terminal(0.0, temp) - without.terminal(0.0, temp), m + m0, atol=1e-12)
    i_a, dt = 6.0, 0.5
    for k in range(1, 241):
        with_h.step(dt, i_a, temp)
        without.step(dt, i_a, temp)
        if k % 60 == 0:
            h = closed_form_h(1.0, i_a, k * dt, 2 * cell.capacity_ah, GAMMA)
            np.testing.assert_allclose(with_h.v_term - without.v_term, m * h - m0, atol=1e-9)


def test_the_plants_hysteresis_heat_closes_the_energy_balance():
    """Electric energy in over a charge = the OCV table's chemical energy + the heat: the
    hysteresis loop's share of it included."""
    cell = two_temp_cell()
    p = PackPlant(
        cell, 1, 1, 0.3, Spread(capacity=0.0, resistance=0.0, soc=0.0, hyst_h0=-1.0), np.random.default_rng(1)
    )
    temp = np.array([25.0])
    i_a, dt = -4.0, 0.05
    e_el = e_chem = e_heat = 0.0
    for _ in range(int(600 / dt)):
        soc0 = float(p.soc[0])
        heat = p.step(dt, i_a, temp)
        # the terminal voltage over the step: trapezoid of the exact path is enough at 50 ms
        e_el += -i_a * float(p.v_term[0]) * dt
        soc_mid = 0.5 * (soc0 + float(p.soc[0]))
        ocv = float(np.interp(soc_mid, cell.soc, cell.ocv_v[1]))
        e_chem += -i_a * ocv * dt
        e_heat += float(heat[0]) * dt
    hyst_heat = e_el - e_chem - e_heat
    # what the loop would dissipate with the plant's heat left without its term: |I| m h
    assert abs(hyst_heat) < 2e-3 * e_heat


def test_a_cell_file_keeps_its_hysteresis_and_refuses_one_out_of_range():
    cell = two_temp_cell()
    back = cell_from_dict(cell_to_dict(cell))
    np.testing.assert_allclose(back.hysteresis.m_v, M_V)
    np.testing.assert_allclose(back.hysteresis.m0_v, M0_V)
    assert back.hysteresis.gamma == GAMMA
    d = cell_to_dict(cell)
    d["hysteresis"]["m_v"] = [0.03, 0.6]
    with pytest.raises(ConfigError, match=r"hysteresis\.m_v\[1\]"):
        cell_from_dict(d)
    d["hysteresis"]["m_v"] = [0.03]
    with pytest.raises(ConfigError, match=r"hysteresis\.m_v' has 1 values"):
        cell_from_dict(d)


@pytest.mark.parametrize(
    "field,value",
    [("hyst_m_v", -0.001), ("hyst_m0_v", 0.51), ("hyst_gamma", float("nan")), ("hyst_gamma", 2e4)],
)
def test_the_firmware_refuses_a_hysteresis_out_of_range(field, value):
    cfg = _cfg(two_temp_cell())
    if field == "hyst_gamma":
        cfg.cell.hyst_gamma = value
    else:
        getattr(cfg.cell, field)[1] = value
    assert lib.bms_config_check(cfg) == lib.BMS_CFG_E_HYSTERESIS


@pytest.mark.parametrize(
    "field,value", [("hyst_h0", 1.5), ("hyst_h0", -1.01), ("hyst_scale", 2.5), ("hyst_scale", -0.1)]
)
def test_a_scenario_refuses_a_hysteresis_out_of_range(field, value):
    s = Scenario(spread=replace(Scenario().spread, **{field: value}))
    with pytest.raises(ConfigError, match=f"spread.{field}"):
        validate(s)


def _drive(cap: float, minutes: float, seed: int) -> list[tuple[float, float, float]]:
    rng = np.random.default_rng(seed)
    steps, t = [], 0.0
    while t < minutes * 60:
        # a drive with regenerative braking, then a rest: the hysteresis turns over and back
        cur = float(rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0, 1.5])) * cap * rng.uniform(0.3, 1.0)
        dur = float(rng.uniform(30, 240))
        steps.append((cur, dur, 1.0))
        t += dur
    return steps


def _soc_rmse(cell: TruthCell, model: CellModel, tr: dict, noise_v: float = 0.002) -> float:
    fw = Firmware(model, PackLayout(1, (0,)))
    rng = np.random.default_rng(7)
    v = tr["v"] + noise_v * rng.standard_normal(len(tr["t"]))
    dt = np.diff(tr["t"], prepend=tr["t"][0])
    soc = np.empty(len(tr["t"]))
    for k in range(len(tr["t"])):
        fw.step_arrays(round(dt[k] * 1000), tr["i"][k], np.array([v[k]]), np.array([tr["t_surf"][k]]))
        soc[k] = fw.instance.ekf[0].soc
    late = tr["t"] > 10 * 60
    return float(np.sqrt(np.mean((soc - tr["soc"])[late] ** 2)))


def test_a_filter_told_the_hysteresis_follows_the_soc_that_one_without_misses():
    truth = TruthCell(hyst_m=0.025, hyst_m0=0.005, hyst_gamma=60.0, h0=-1.0)
    tr = simulate(truth, _drive(truth.capacity_ah, 90, seed=11), soc0=0.55)
    told = _soc_rmse(truth, truth.cell_model(), tr)
    blind = _soc_rmse(truth, replace(truth, hyst_m=0.0, hyst_m0=0.0).cell_model(), tr)
    # the band over the OCV's slope here (~1.2 V per unit SoC) is ~2.5 % SoC at the branch
    # ends: blind, the filter carries about half of it; told, what is left is the noise's
    assert told < 0.002
    assert blind > 0.006


@pytest.mark.parametrize("told", [False, True])
def test_a_spread_adds_a_hysteresis_the_file_does_not_state_and_the_firmware_is_told_when_asked(told):
    from bms.chemistry import load_chemistry
    from bms.plant.pack import plant_hysteresis
    from bms.sim.configure import firmware_cell

    chem = load_chemistry("lfp-graphite")
    assert not chem.cell.hysteresis.present  # PyBaMM's Prada2013 has none
    sp = replace(Scenario().spread, hyst_m_v=0.006, hyst_m0_v=0.0015, hyst_gamma=80.0, hyst_told=told)
    scn = Scenario(chemistry="lfp-graphite", series=4, parallel=2, spread=sp)
    validate(scn)
    plant = plant_hysteresis(chem.cell.scaled(2), sp)
    np.testing.assert_allclose(plant.m_v, 0.006)
    np.testing.assert_allclose(plant.m0_v, 0.0015)
    assert plant.gamma == 80.0
    fw = firmware_cell(chem, scn).hysteresis
    if told:
        np.testing.assert_allclose(fw.m_v, plant.m_v)
        np.testing.assert_allclose(fw.m0_v, plant.m0_v)
        assert fw.gamma == plant.gamma
    else:
        assert not fw.present
