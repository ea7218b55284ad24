"""Stack pressure in the firmware (bms.c, safety.c, current_limit.c, plausibility.c): the tiered
limits, the CCD cap scaled by a low pressure, the sensor faults and the configuration rules, on
a pressed sulfide pack (sulfide-assb's [stack_pressure] and limits.pressure_*)."""

from __future__ import annotations

import numpy as np
import pytest

from bms._native import ffi, lib
from bms.chemistry import load_chemistry
from bms.enums import FAULT_ID, Limiting
from bms.errors import BmsError
from bms.firmware import Firmware, PackLayout
from bms.firmware_config import config_problem, fill_config

CHEM = load_chemistry("sulfide-assb")
N_CELLS, SENSORS, N_P = 8, (0, 4, 7), 2
DT_MS = 100
LIM = CHEM.protection.limits


class Pressed:
    """A pressed 8s pack held at 60 C (inside the charge window), charging at its CCL."""

    def __init__(self) -> None:
        self.fw = Firmware(CHEM.cell, PackLayout(N_CELLS, SENSORS, n_pressure_sensors=N_P), CHEM.protection)
        self.ms = 0
        self.k = 0
        self.current_a = 0.0

    def step(self, p_mpa, current_a: float | None = None):
        i = self.current_a if current_a is None else current_a
        # a dither on every reading (an ADC's noise): nothing repeats bit for bit
        d = 1e-4 * ((self.k + np.arange(N_CELLS)) % 5)
        v = 3.85 + 0.002 * i + d
        self.ms += DT_MS
        self.k += 1
        out = self.fw.step_arrays(
            DT_MS,
            i,
            v,
            np.full(len(SENSORS), 60.0) + 0.01 * (self.k % 3),
            ambient_degc=60.0,
            pack_v=float(np.sum(v)),
            bus_v=float(np.sum(v)),
            sample_time_ms=self.ms,
            coolant_flow_lpm=10.0,
            pressure_mpa=np.asarray(p_mpa, dtype=float) + 1e-3 * (self.k % 2),
        )
        return out

    def close_and_charge(self, p_mpa, steps: int = 200):
        for _ in range(20):
            self.step(p_mpa, 0.0)
        assert self.fw.command("close") == 0
        out = None
        for _ in range(steps):
            out = self.step(p_mpa)
            self.current_a = -float(out.ccl_a)  # a charger that follows the limit
        return out


def _factor(p: float) -> float:
    """limits.pressure_min_charge's derate factor: 1 at the derate threshold, 0 at the trip."""
    d, t = LIM["pressure_min_charge"].derate.threshold, LIM["pressure_min_charge"].trip.threshold
    return float(np.clip((p - t) / (d - t), 0.0, 1.0))


def test_a_low_pressure_scales_the_ccd_cap_by_its_derate_factor():
    full = Pressed().close_and_charge([2.2, 2.3])
    assert int(full.ccl_limit) == Limiting.PLATING and full.ccl_a > 0  # the CCD cap binds here
    p_low = 1.3  # between the trip (1.0) and the derate (1.6): factor 0.5
    low = Pressed().close_and_charge([2.2, p_low])
    assert int(low.ccl_limit) == Limiting.PRESSURE
    # the same estimates (the CCL's SoC moves a little with the smaller current: compare the
    # terms, not the CCLs)
    assert low.ccl_terms.plating_a == pytest.approx(_full_plating(low) * _factor(p_low), rel=2e-3)
    assert low.ccl_a == pytest.approx(low.ccl_terms.plating_a, rel=1e-6)
    assert float(low.pressure_min_mpa) == pytest.approx(p_low, abs=2e-3)
    assert int(low.pressure_min_sensor) == 1


def _full_plating(out) -> float:
    """The plating (CCD) map at the firmware's own lowest-cap cell, in amperes: the map's value
    at 60 C and the cells' SoC (flat in SoC: the CCD is a current density)."""
    m = CHEM.protection.charge.maps
    row = np.interp(60.0, m.temp_c, m.plating_c[:, 0])
    return float(row * CHEM.cell.capacity_ah)


def test_below_the_charge_trip_the_ccl_closes_at_once_and_the_fault_latches_after_its_debounce():
    pk = Pressed()
    out = pk.close_and_charge([2.2, 2.2], steps=100)
    assert out.ccl_a > 0
    trip = LIM["pressure_min_charge"].trip
    latched_at = None
    for k in range(40):
        out = pk.step([2.2, trip.threshold - 0.2])
        pk.current_a = -float(out.ccl_a) if k == 0 else -0.5 * CHEM.cell.capacity_ah  # a charger lagging
        assert out.ccl_a == 0.0
        if out.faults >> FAULT_ID["pressure_low_charge"] & 1 and latched_at is None:
            latched_at = k
    # charging (the lagging charger), the charge-side trip latches after its debounce
    assert latched_at is not None and latched_at * DT_MS >= trip.debounce_ms - DT_MS
    rec = pk.fw.fault_records()
    assert rec[FAULT_ID["pressure_low_charge"]] == 1  # the module, in the record


def test_over_pressure_derates_the_charge_and_trips():
    pk = Pressed()
    out = pk.close_and_charge([2.2, 2.2], steps=100)
    base = float(out.ccl_a)
    pm = LIM["pressure_max"]
    p_mid = 0.5 * (pm.derate.threshold + pm.trip.threshold)
    out = pk.step([p_mid, 2.2])
    # the hardware limit times the over-pressure derate factor (0.5), below the CCD cap here
    hw = float(pk.fw._inst.cfg.charge.hw_charge_max_a)
    f = (pm.trip.threshold - p_mid) / (pm.trip.threshold - pm.derate.threshold)
    assert out.ccl_terms.derate_a == pytest.approx(hw * f, rel=1e-3)
    assert out.ccl_a <= base
    for _ in range(int(pm.trip.debounce_ms / DT_MS) + 2):
        out = pk.step([pm.trip.threshold + 0.5, 2.2])
    assert out.faults >> FAULT_ID["pressure_high"] & 1


def test_an_open_pressure_loop_stops_the_charge_at_once_and_latches_the_sensor_fault():
    pk = Pressed()
    pk.close_and_charge([2.2, 2.2], steps=100)
    pl = CHEM.protection.plausibility
    out = pk.step([2.2, -5.0])
    assert out.ccl_a == 0.0 and int(out.ccl_limit) == Limiting.NO_DATA
    for _ in range(int(pl.sensor_debounce_ms / DT_MS) + 1):
        out = pk.step([2.2, -5.0])
    assert out.faults >> FAULT_ID["pressure_sensor"] & 1
    assert pk.fw.fault_records()[FAULT_ID["pressure_sensor"]] == 1


def test_a_stuck_pressure_sensor_latches_after_its_repeats_and_debounce():
    pk = Pressed()
    pk.close_and_charge([2.2, 2.2], steps=50)
    pl = CHEM.protection.plausibility
    steps = 0
    out = None
    while steps < 400:
        # module 1's reading frozen bit for bit (no dither), module 0 alive
        k = pk.k
        out = pk.fw.step_arrays(
            DT_MS,
            pk.current_a,
            3.85 + 1e-4 * ((k + np.arange(N_CELLS)) % 5),
            np.full(len(SENSORS), 60.0) + 0.01 * (k % 3),
            ambient_degc=60.0,
            pack_v=float(np.sum(np.full(N_CELLS, 3.85))),
            bus_v=float(np.sum(np.full(N_CELLS, 3.85))),
            sample_time_ms=pk.ms + DT_MS,
            coolant_flow_lpm=10.0,
            pressure_mpa=np.array([2.2 + 1e-3 * (k % 2), 2.25]),
        )
        pk.ms += DT_MS
        pk.k += 1
        steps += 1
        if out.faults >> FAULT_ID["pressure_sensor"] & 1:
            break
    first = pl.stuck_repeats_min  # the reading repeats from the second sample on
    assert first + pl.stuck_debounce_ms / DT_MS <= steps <= first + pl.stuck_debounce_ms / DT_MS + 3


def test_config_rules_on_pressure_sensors():
    cfg = ffi.new("bms_config_t *")
    fill_config(cfg, CHEM.cell, PackLayout(N_CELLS, SENSORS, n_pressure_sensors=N_P), CHEM.protection)
    assert config_problem(cfg) is None
    cfg.pack.n_pressure_sensors = N_CELLS + 1
    assert "pack.n_pressure_sensors" in config_problem(cfg)
    cfg.pack.n_pressure_sensors = lib.BMS_MAX_PRESSURE_SENSORS + 1
    assert "pack.n_pressure_sensors" in config_problem(cfg)
    cfg.pack.n_pressure_sensors = N_P
    cfg.plaus.pressure_open_below_mpa = cfg.plaus.pressure_min_mpa
    assert "pressure_open_below_mpa < pressure_min_mpa" in config_problem(cfg)


def test_a_pressed_pack_is_not_batch_stepped_and_a_step_needs_its_readings():
    pk = Pressed()
    n = 3
    with pytest.raises(BmsError, match="stack pressure"):
        pk.fw.run_batch(
            np.full(n, DT_MS),
            np.zeros(n),
            np.full((n, N_CELLS), 3.85),
            np.full((n, len(SENSORS)), 60.0),
        )
    # and the C call itself refuses (a caller beside the binding), with every buffer given
    assert _one_batch_step(pk.fw._inst) == lib.BMS_E_ARG
    pk.fw._inst.cfg.pack.n_pressure_sensors = 0  # the same call on an unpressed pack runs
    assert _one_batch_step(pk.fw._inst) == lib.BMS_OK


def _one_batch_step(inst) -> int:
    """bms_step_batch over one sample, every buffer given (zeros)."""

    def f(k: int):
        return ffi.new("float[]", k)

    n = (1, N_CELLS, len(SENSORS))
    return lib.bms_step_batch(
        inst, 1, ffi.new("uint32_t[]", [DT_MS]), f(n[0]), f(n[1]), f(n[2]), ffi.NULL,
        f(n[1]), f(n[1]), f(n[1]), ffi.new("uint32_t[]", 1),
    )  # fmt: skip


def test_at_rest_a_low_pressure_trips_the_discharge_side_and_a_reset_waits_for_the_pressure():
    pk = Pressed()
    for _ in range(20):
        pk.step([2.2, 2.2], 0.0)
    trip = LIM["pressure_min_discharge"].trip
    p_low = trip.threshold - 0.1
    latched_at = None
    for k in range(30):
        out = pk.step([2.2, p_low], 0.0)
        if out.faults >> FAULT_ID["pressure_low_discharge"] & 1:
            latched_at = k
            break
    assert latched_at is not None
    assert trip.debounce_ms <= latched_at * DT_MS <= trip.debounce_ms + DT_MS
    assert not out.faults >> FAULT_ID["pressure_low_charge"] & 1  # at rest: the discharge side
    assert pk.fw.fault_records()[FAULT_ID["pressure_low_discharge"]] == 1
    # still low (inside the hysteresis band): a reset leaves it latched
    pk.step([2.2, trip.threshold + 0.5 * trip.hysteresis], 0.0)
    pk.fw.command("reset")
    out = pk.step([2.2, trip.threshold + 0.5 * trip.hysteresis], 0.0)
    assert out.faults >> FAULT_ID["pressure_low_discharge"] & 1
    # the fixture restored: the reset clears it
    pk.step([2.2, 2.2], 0.0)
    pk.fw.command("reset")
    out = pk.step([2.2, 2.2], 0.0)
    assert not out.faults >> FAULT_ID["pressure_low_discharge"] & 1
