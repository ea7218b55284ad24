"""The stack-pressure plant, its sensors and its fault kinds (issue 18, part 2), checked against
hand computations from the chemistry file's numbers (typed here, not read from the code under
test) and analytic solutions."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from bms.chemistry import load_chemistry
from bms.enums import Limiting
from bms.errors import ConfigError
from bms.plant.fault_onsets import pressure_low
from bms.plant.faults import FAULT_KINDS, MODULE_FAULTS, Fault, Injection, parse_fault, validate_faults
from bms.plant.pack import PackPlant, Spread
from bms.plant.pressure import StackPressurePlant
from bms.plant.sensors import PRESSURE_OPEN_MPA, Sensors, SensorSpec
from bms.sim.checks import check_run
from bms.sim.loop import ClosedLoop
from bms.sim.scenario import load_scenario, scenario_from_dict

# sulfide-assb.toml [stack_pressure], typed by hand
PRELOAD, SWELL, STIFF, THERMAL = 2.0, 303.0, 0.00495, 0.01
C_ZERO, C_FULL, C_MIN, R_FRAC = 0.5, 1.5, 0.1, 0.3
SIGMA, LSB, ERR = 0.01, 0.005, 0.05
RESIDUAL, TAU = 0.1, 20.0


@pytest.fixture(scope="module")
def sp():
    return load_chemistry("sulfide-assb").stack_pressure


def _plant(sp, soc, core, surf):
    return StackPressurePlant(sp, len(soc), np.asarray(soc), np.asarray(core), np.asarray(surf))


def test_the_file_states_the_numbers_typed_here(sp):
    assert (sp.cells_per_module, sp.preload_mpa, sp.swelling_um, sp.fixture_mpa_per_um) == (
        12,
        PRELOAD,
        SWELL,
        STIFF,
    )
    assert (sp.contact_zero_mpa, sp.contact_full_mpa, sp.contact_min, sp.interface_r_frac) == (
        C_ZERO,
        C_FULL,
        C_MIN,
        R_FRAC,
    )
    assert (sp.loss_residual_mpa, sp.loss_tau_s) == (RESIDUAL, TAU)
    # the thin variant inherits the fixture (the same Li per face) but not the interface share
    thin = load_chemistry("sulfide-assb-thin").stack_pressure
    assert replace(thin, interface_r_frac=R_FRAC) == sp and thin.interface_r_frac == 0.24


def test_free_pressure_of_each_module_by_hand(sp):
    # 24 elements: modules of 12; module 0 at SoC 0.2-0.3, 40/38 C; module 1 at SoC 0.7, 60/58 C
    soc = np.r_[np.full(6, 0.2), np.full(6, 0.3), np.full(12, 0.7)]
    core = np.r_[np.full(12, 40.0), np.full(12, 60.0)]
    surf = core - 2.0
    p = _plant(sp, soc, core, surf).p
    # mean SoC 0.25 and mean temperature 39 C; mean SoC 0.7 and 59 C
    assert p[0] == pytest.approx(2.0 + 0.00495 * 303.0 * 0.25 + 0.01 * 14.0, rel=1e-12)
    assert p[1] == pytest.approx(2.0 + 0.00495 * 303.0 * 0.7 + 0.01 * 34.0, rel=1e-12)
    # a full charge adds the design's ~1.5 MPa
    assert pytest.approx(1.5, abs=0.001) == STIFF * SWELL


def test_a_yielding_fixture_relaxes_exponentially_to_the_residual(sp):
    soc, core = np.full(24, 0.5), np.full(24, 45.0)
    pl = _plant(sp, soc, core, core)
    p0 = 2.0 + 0.00495 * 303.0 * 0.5 + 0.01 * 20.0
    pl.lose(1)
    dt = 0.1
    for k in range(1, 601):
        pl.step(dt, soc, core, core)
        t = k * dt
        assert pl.p[1] == pytest.approx(RESIDUAL + (p0 - RESIDUAL) * math.exp(-t / TAU), rel=1e-9, abs=1e-12)
        assert pl.p[0] == pytest.approx(p0, rel=1e-15)  # the other fixture holds
    # relaxed (3 tau: within 5 % of the way): swelling and temperature act on what is left
    for _ in range(2400):
        pl.step(dt, soc, core, core)
    assert pl.p[1] == pytest.approx(RESIDUAL, abs=1e-6)
    more = np.full(24, 0.7)
    pl.step(dt, more, core, core)
    assert pl.p[1] == pytest.approx(RESIDUAL + 0.00495 * 303.0 * 0.2, abs=1e-6)
    # ... and a slack fixture presses nothing (never below 0)
    cold = np.full(24, -40.0)
    pl.step(dt, soc, cold, cold)
    assert pl.p[1] == 0.0 and pl.p[0] > 0.0


def test_contact_and_r0_factor_at_the_breakpoints(sp):
    p = np.array([0.0, 0.5, 0.6, 1.0, 1.5, 3.0])
    assert np.allclose(sp.contact(p), [0.0, 0.0, 0.1, 0.5, 1.0, 1.0])
    # R0 x (1 + 0.3 (1 / max(contact, 0.1) - 1))
    assert np.allclose(sp.r0_factor(p), [3.7, 3.7, 3.7, 1.3, 1.0, 1.0])


def test_the_r0_factor_multiplies_each_elements_r0():
    cell = load_chemistry("sulfide-assb").cell
    t = np.full(4, 25.0)
    a = PackPlant(cell, 4, 2, 0.5, Spread(), np.random.default_rng(3))
    b = PackPlant(cell, 4, 2, 0.5, Spread(), np.random.default_rng(3))
    f = np.array([1.0, 1.3, 2.0, 3.7])
    b.set_r0_factor(f)
    ocv = a.terminal(0.0, t)  # no RC voltage yet: the OCV
    i = 20.0
    drop_a, drop_b = ocv - a.terminal(i, t), ocv - b.terminal(i, t)
    assert np.allclose(drop_b / drop_a, f, rtol=1e-12)
    # and in the step: the R0 heat I^2 R0 scales with it (the RC branches start empty)
    ha, hb = a.step(0.1, i, t), b.step(0.1, i, t)
    assert np.all(hb[1:] > ha[1:]) and hb[0] == pytest.approx(ha[0], rel=1e-12)


def _sensors(sp, m=4, seed=7):
    s = Sensors(SensorSpec(), 12, np.random.default_rng(1))
    s.add_pressure_sensors(sp, m, np.random.default_rng(seed))
    return s


def test_readings_are_quantised_noisy_and_within_the_error_bound(sp):
    s = _sensors(sp)
    p_true = np.array([0.8, 2.0, 3.3, 12.0])
    x = np.array([s.pressures(p_true) for _ in range(20000)])
    codes = x / LSB
    assert np.allclose(codes, np.round(codes), atol=1e-6)
    # white noise of 0.01 MPa plus the code step's uniform 0.005^2 / 12
    assert np.allclose(x.std(axis=0), math.sqrt(SIGMA**2 + LSB**2 / 12), rtol=0.03)
    err = x.mean(axis=0) - p_true
    assert np.all(np.abs(err) <= ERR)
    # the error is the drawn gain and offset (the mean of 20000 readings: within 4 sigma)
    assert np.allclose(err, (s.p_gain - 1.0) * p_true + s.p_offset, atol=4 * SIGMA / math.sqrt(20000) + 1e-4)
    # over many sensors: gain and offset within the bound over the 0-20 MPa range, and drawn
    many = _sensors(sp, 2000, seed=11)
    worst = np.abs(many.p_offset) + np.abs(many.p_gain - 1.0) * 20.0
    assert worst.max() <= ERR and worst.max() > 0.8 * ERR


def test_open_and_stuck_sensor_readings(sp):
    s = _sensors(sp)
    p_true = np.array([2.0, 2.1, 2.2, 2.3])
    s.pressures(p_true)
    s.inject(Fault("pressure_sensor_stuck", 0.0, 2))
    first = s.pressures(p_true)
    s.inject(Fault("pressure_sensor_open", 0.0, 1))
    later = np.array([s.pressures(p_true + 0.1 * k) for k in range(50)])
    assert np.all(later[:, 2] == first[2])  # frozen at the reading when the fault struck
    assert np.all(later[:, 1] == PRESSURE_OPEN_MPA) and PRESSURE_OPEN_MPA == (0.0 - 4.0) / 16.0 * 20.0
    assert len(np.unique(later[:, 0])) > 40  # the others live on
    # the default module is 0
    s.inject(Fault("pressure_sensor_open", 0.0, None))
    assert s.pressures(p_true)[0] == PRESSURE_OPEN_MPA


def test_fault_kinds_registry_rows():
    assert {"pressure_loss", "pressure_sensor_stuck", "pressure_sensor_open"} == MODULE_FAULTS
    assert FAULT_KINDS["pressure_loss"].caught_by == ("pressure_low_charge", "pressure_low_discharge")
    assert FAULT_KINDS["pressure_sensor_stuck"].trip_time_field == "stuck_debounce_ms"
    assert FAULT_KINDS["pressure_sensor_open"].trip_time_field == "sensor_debounce_ms"
    chem = load_chemistry("sulfide-assb")
    scn = load_scenario("fault-pressure-loss")
    # both low-pressure trips debounce 1000 ms in sulfide-assb.toml
    assert FAULT_KINDS["pressure_loss"].trip_time_s(chem, scn) == 1.0
    assert parse_fault("pressure_loss:12.5:3") == Fault("pressure_loss", 12.5, 3)


@pytest.mark.parametrize("kind", sorted(MODULE_FAULTS))
def test_module_faults_need_a_pressed_chemistry_and_an_existing_module(kind):
    with pytest.raises(ConfigError) as exc:
        validate_faults([Fault(kind, 1.0, None)], 96, (0,), 10.0, "nmc811-graphite")
    msg = str(exc.value)
    assert f"fault '{kind}' needs a chemistry with [stack_pressure]" in msg and "\n" not in msg
    with pytest.raises(ConfigError, match="needs a chemistry with"):
        validate_faults([Fault(kind, 1.0, 0)], 96, (0,), 10.0)  # no chemistry named
    # 96 elements in modules of 12: modules 0..7
    validate_faults([Fault(kind, 1.0, 7), Fault(kind, 1.0, None)], 96, (0,), 10.0, "sulfide-assb")
    for bad in (8, -1):
        with pytest.raises(ConfigError) as exc:
            validate_faults([Fault(kind, 1.0, bad)], 96, (0,), 10.0, "sulfide-assb")
        assert f"module {bad} does not exist (modules 0..7" in str(exc.value) and "\n" not in str(exc.value)
    # 30 elements: 3 modules (of 10, 10, 10)
    with pytest.raises(ConfigError, match=r"modules 0\.\.2"):
        validate_faults([Fault(kind, 1.0, 3)], 30, (0,), 10.0, "sulfide-assb")


def test_a_scenario_refuses_a_pressure_fault_on_an_unpressed_pack():
    d = {
        "scenario": {"chemistry": "nmc811-graphite", "series": 12, "duration_s": 30.0},
        "faults": [{"kind": "pressure_loss", "at_s": 5.0}],
    }
    with pytest.raises(ConfigError, match=r"needs a chemistry with \[stack_pressure\]"):
        scenario_from_dict(d, "s.toml")
    d["scenario"]["chemistry"] = "sulfide-assb"
    assert scenario_from_dict(d, "s.toml").faults[0].kind == "pressure_loss"


def test_a_pack_without_stack_pressure_builds_nothing_of_it():
    scn = replace(load_scenario("fastcharge-10-80"), series=12, parallel=4, duration_s=3.0)
    loop = ClosedLoop(scn)
    assert loop.pressure is None and loop.plant.r0_factor is None and loop.sensors.p_spec is None
    while loop.step() is not None:
        pass
    assert loop.last_meas is not None and loop.last_meas.pressure_mpa.size == 0
    res = loop.result()
    assert res.pressure_true_mpa.shape == (30, 0) and res.pressure_contact.shape == (30, 0)
    assert np.all(np.isnan(res.log["pressure_true_min_mpa"])) and np.all(
        np.isnan(res.log["pressure_meas_min_mpa"])
    )
    assert res.summary.pressure_min_mpa is None and res.summary.pressure_max_mpa is None
    with pytest.raises(ConfigError, match="needs a chemistry with"):
        loop.inject(Fault("pressure_loss", 0.0, 0))


def test_pressure_sensors_leave_the_other_sensors_draws_alone():
    base = replace(load_scenario("fastcharge-10-80"), series=24, parallel=4, duration_s=1.0)
    a = ClosedLoop(base)
    b = ClosedLoop(replace(base, chemistry="sulfide-assb"))
    assert b.pressure is not None and b.pressure.n_modules == 2
    for name in ("v_gain", "v_offset", "i_gain", "i_offset"):
        assert np.array_equal(getattr(a.sensors, name), getattr(b.sensors, name)), name
    assert np.array_equal(a.plant.r_scale, b.plant.r_scale)


def test_a_pressed_run_logs_its_modules():
    scn = replace(
        load_scenario("fault-pressure-loss"),
        series=24,
        parallel=4,
        duration_s=40.0,
        faults=[Fault("pressure_loss", 5.0, 1)],
    )
    loop = ClosedLoop(scn)
    sp = loop.chem.stack_pressure
    while loop.step() is not None:
        pass
    res = loop.result()
    p, c = res.pressure_true_mpa, res.pressure_contact
    assert p.shape == (len(res.log["time_s"]), 2)
    assert np.array_equal(res.log["pressure_true_min_mpa"], p.min(axis=1))
    assert np.allclose(c, sp.contact(p))
    assert res.summary.pressure_min_mpa == round(float(p.min()), 3)
    assert res.summary.pressure_max_mpa == round(float(p.max()), 3)
    # the yielding module loses pressure, its elements' R0 grows with the interface share
    assert p[-1, 1] < p[0, 1] - 1.0 and abs(p[-1, 0] - p[0, 0]) < 0.1
    f = loop.plant.r0_factor
    assert f is not None and np.array_equal(f, sp.r0_factor(loop.pressure.p)[np.repeat([0, 1], 12)])
    # the readings the firmware got: within the error bound of the truth
    meas = res.log["pressure_meas_min_mpa"]
    assert np.all(np.abs(meas - p.min(axis=1)) <= ERR + 5 * SIGMA + LSB)


def test_the_low_pressure_onset_follows_the_limit_the_firmware_judges_by():
    scn = replace(load_scenario("fault-pressure-loss"), series=24, parallel=20, duration_s=10.0)
    loop = ClosedLoop(scn)
    view0 = loop._onset_view(0, 0.0, 0.0, loop.plant.v_term, 0, False)
    margin = ERR + 3 * SIGMA + LSB  # the load cell's error bound
    # sulfide-assb.toml: trips at 1.0 MPa (charge) and 0.6 MPa (discharge), both 1000 ms; the
    # charge is detected from 0.02C = 2 A (20p of 5 Ah); the shunt's 3 sigma at 0 A: 0.9 A
    charge_a = -250.0  # 2.5C: surely a charge

    def judge(inj, t, p1, current):
        v = replace(view0, t_s=t, i_mean_a=current, pressure_mpa=np.array([2.0, p1]))
        return pressure_low(inj, v)

    # steps of 1/8 s (exact in binary): an interval lasts the 1 s debounce at its 9th step
    dt = 0.125
    # at rest: below 0.6 by the margin for 1 s -> the onset is the start of that interval
    inj = Injection(Fault("pressure_loss", 0.0, 1), 0.0, 0)
    got = [judge(inj, dt * k, 0.6 - margin - 0.01, 0.0) for k in range(1, 10)]
    assert got == [None] * 8 + [dt]
    # within the margin: never
    inj = Injection(Fault("pressure_loss", 0.0, 1), 0.0, 0)
    assert all(judge(inj, dt * k, 0.6 - margin + 0.01, 0.0) is None for k in range(1, 30))
    # charging: the charge trip's 1.0 MPa applies
    inj = Injection(Fault("pressure_loss", 0.0, 1), 0.0, 0)
    got = [judge(inj, dt * k, 1.0 - margin - 0.01, charge_a) for k in range(1, 10)]
    assert got == [None] * 8 + [dt]
    inj = Injection(Fault("pressure_loss", 0.0, 1), 0.0, 0)
    assert all(judge(inj, dt * k, 1.0 - margin - 0.01, 0.0) is None for k in range(1, 30))
    # the side changing (the charge stops) starts the debounce afresh
    inj = Injection(Fault("pressure_loss", 0.0, 1), 0.0, 0)
    for k in range(1, 6):
        assert judge(inj, dt * k, 0.5, charge_a) is None
    got = [judge(inj, dt * k, 0.5, 0.0) for k in range(6, 15)]
    assert got == [None] * 8 + [6 * dt]
    # a current near the charge detection (2 A +- 0.9 A): either limit may judge, so below both
    inj = Injection(Fault("pressure_loss", 0.0, 1), 0.0, 0)
    assert all(judge(inj, dt * k, 0.9, -2.0) is None for k in range(1, 30))
    inj = Injection(Fault("pressure_loss", 0.0, 1), 0.0, 0)
    got = [judge(inj, dt * k, 0.5, -2.0) for k in range(1, 10)]
    assert got == [None] * 8 + [dt]


def test_a_loose_fixture_starts_below_the_designed_pressure_and_the_firmware_derates():
    """spread.preload_scale: every fixture set to a share of the file's preload (a mismatch the
    property suite draws); the first step's pressure is the hand-computed free pressure with
    that preload, and the firmware, seeing it below full contact, scales its CCD cap down."""
    base = replace(
        load_scenario("fault-pressure-loss"),
        series=24,
        parallel=4,
        duration_s=30.0,
        faults=[],
        soc_start=0.1,
        start_temp_c=25.0,
    )
    scale = 0.5
    scn = replace(base, spread=replace(base.spread, preload_scale=scale))
    loop = ClosedLoop(scn)
    sp = loop.chem.stack_pressure
    soc0 = loop.plant.soc.copy()
    t0 = 0.5 * (loop.thermal.core_c + loop.thermal.surf_c)
    want = (
        scale * sp.preload_mpa
        + sp.fixture_mpa_per_um * sp.swelling_um * soc0[:12].mean()
        + sp.thermal_mpa_per_k * (t0[:12].mean() - 25.0)
    )
    assert loop.pressure.p[0] == pytest.approx(want, abs=1e-9)
    while loop.step() is not None:
        pass
    res = loop.result()
    lim = loop.chem.protection.limits["pressure_min_charge"]
    p_fw = res.log["pressure_fw_min_mpa"]
    assert np.all(p_fw < lim.derate.threshold)  # 1.0 + 0.1 x 1.5 at 25 C: ~1.15 MPa
    named = res.log["ccl_limit"] == int(Limiting.PRESSURE)
    assert named.any() and not (res.log["ccl_limit"] == int(Limiting.PLATING)).any()
    assert check_run(res, loop.chem) == []  # every property, P11 with it, on the loose fixture
