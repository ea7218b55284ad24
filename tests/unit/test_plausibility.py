"""native/src/plausibility.c: each detector's raw condition on crafted readings."""

import numpy as np
import pytest

from bms._native import ffi, lib
from bms.chemistry import load_chemistry
from bms.firmware import PackLayout, fill_config

CHEM = load_chemistry("nmc811-graphite")
N, NS = 6, 3


class Plaus:
    def __init__(self) -> None:
        self.cfg = ffi.new("bms_config_t *")
        fill_config(self.cfg, CHEM.cell, PackLayout(N, (0, 2, 5)), CHEM.protection)
        # these synthetic readings are noiseless: judge frozen readings by the current
        self.cfg.plaus.stuck_needs_current = 1
        self.st = ffi.new("bms_plaus_state_t *")
        lib.bms_plaus_reset(self.st)
        self.res = ffi.new("bms_plaus_result_t *")
        self.t = 0

    def check(
        self,
        v=None,
        temps=None,
        current=0.0,
        pack_v=float("nan"),
        open_=0,
        new_sample=True,
        ocv_slope=0.0,
        pressure=None,
    ):
        """One sample; pressure: the stack-pressure readings (None: none judged)."""
        v = np.full(N, 3.7, dtype=np.float32) if v is None else np.asarray(v, dtype=np.float32)
        temps = np.full(NS, 25.0, dtype=np.float32) if temps is None else np.asarray(temps, dtype=np.float32)
        if new_sample:
            self.t += 100
        fields = {
            "pack_current_a": current,
            "pack_v": pack_v,
            "sample_time_ms": self.t,
            "dt_ms": 100,
            "contactors_open": open_,
            "ocv_slope_v": ocv_slope,
        }
        if pressure is not None:
            # the dict keeps the array alive through the call
            fields["pressure_mpa"] = ffi.new("float[]", [float(x) for x in pressure] or [0.0])
        pin = ffi.new("bms_plaus_input_t *", fields)
        lib.bms_plaus_check(
            self.st, self.cfg, pin, ffi.from_buffer("float[]", v), ffi.from_buffer("float[]", temps), self.res
        )
        return self.res


def test_clean_readings_are_all_usable():
    r = Plaus().check(pack_v=6 * 3.7)
    assert not r.any_unusable and r.current_valid
    assert list(r.cell_flags[0:N]) == [0] * N and list(r.temp_flags[0:NS]) == [0] * NS


def test_voltage_range_and_open_wire_are_told_apart():
    p = Plaus()
    r = p.check(v=[3.7, 3.7, float("nan"), 3.7, 0.3, 9.0])
    assert r.cell_flags[2] == lib.BMS_PLAUS_CELL_INVALID and r.cell_flags[5] == lib.BMS_PLAUS_CELL_INVALID
    assert r.cell_flags[4] == lib.BMS_PLAUS_CELL_OPEN_WIRE
    assert (r.volt_sensor.present, r.volt_sensor.index) == (1, 2)  # the first offender
    assert (r.open_wire.present, r.open_wire.index) == (1, 4)


def test_open_wire_that_keeps_readings_plausible_breaks_the_pack_sum():
    p = Plaus()
    v = [3.7, 3.7, 3.7, 3.4, 4.0, 3.7]  # a shared sense line moved: sum preserved
    assert not p.check(v=v, pack_v=sum(v)).open_wire.present
    extra = p.cfg.plaus.pack_sum_tol_v + 0.1  # a reading picked up extra: the sum does not match
    v = [3.7, 3.7, 3.7, 3.7, 3.7 + extra, 3.7]
    r = p.check(v=v, pack_v=6 * 3.7)
    assert r.open_wire.present and r.open_wire.index == 4
    assert abs(r.open_wire.value - extra) < 1e-4
    v[4] = 3.7 + p.cfg.plaus.pack_sum_tol_v - 0.05  # within the tolerance: not judged
    assert not p.check(v=v, pack_v=6 * 3.7).open_wire.present


def test_stuck_needs_the_current_to_move():
    p = Plaus()
    v = [3.7, 3.71, 3.72, 3.73, 3.74, 3.75]
    for i in (0.0, 1.0, 2.0, 3.0, 4.0):  # same readings, current within 5 A of the first
        assert not p.check(v=v, current=i).volt_stuck.present
    r = p.check(v=v, current=6.0)
    assert r.volt_stuck.present and r.cell_flags[0] == lib.BMS_PLAUS_CELL_STUCK
    r = p.check(v=v, current=0.0)  # frozen stays frozen once the current has moved
    assert r.volt_stuck.present
    v2 = list(v)
    v2[0] = 3.6999
    r = p.check(v=v2, current=0.0)
    assert r.cell_flags[0] == 0 and r.volt_stuck.index == 1


def test_thermistor_open_short_and_range():
    r = Plaus().check(temps=[-55.0, 151.0, -45.0])
    assert r.temp_flags[0] == lib.BMS_PLAUS_TEMP_OPEN and r.temp_flags[1] == lib.BMS_PLAUS_TEMP_SHORT
    assert r.temp_flags[2] == lib.BMS_PLAUS_TEMP_INVALID
    assert (r.ntc_open.index, r.ntc_short.index, r.temp_sensor.index) == (
        0,
        2,
        5,
    )  # the cells the sensors sit on


def test_current_offset_only_with_contactors_open():
    p = Plaus()
    assert not p.check(current=3.0, open_=0).current_offset.present
    assert p.check(current=3.0, open_=1).current_offset.present
    assert not p.check(current=1.5, open_=1).current_offset.present
    r = p.check(current=3000.0)
    assert r.current_sensor.present and not r.current_valid


def test_stale_when_the_sample_time_does_not_move():
    p = Plaus()
    assert not p.check().stale.present
    r = p.check(new_sample=False)
    assert r.stale.present and r.any_unusable
    r = p.check(new_sample=False)
    assert r.stale.value == 200.0
    assert not p.check().stale.present


def test_range_edges_are_inclusive():
    p = Plaus()
    pl = CHEM.protection.plausibility
    r = p.check(v=[pl.cell_v_min_v, pl.cell_v_max_v, 3.7, 3.7, 3.7, pl.open_wire_v])
    assert r.cell_flags[1] == 0 and r.cell_flags[5] == 0
    assert r.cell_flags[0] == lib.BMS_PLAUS_CELL_OPEN_WIRE  # a valid reading, but below the open-wire level
    r = p.check(v=[pl.cell_v_min_v - 0.01, pl.cell_v_max_v + 0.01, 3.7, 3.7, 3.7, 3.7])
    assert r.cell_flags[0] == r.cell_flags[1] == lib.BMS_PLAUS_CELL_INVALID
    rng = p.cfg.pack.current_range_a
    assert p.check(current=rng).current_valid and p.check(current=-rng).current_valid
    assert not p.check(current=rng * 1.0001).current_valid
    r = p.check(temps=[pl.temp_min_degc, pl.temp_max_degc, 25.0])
    assert list(r.temp_flags[0:3]) == [0, 0, 0]


def test_pack_level_conditions_record_the_reading():
    p = Plaus()
    r = p.check(current=float("inf"))
    assert (r.current_sensor.index, r.current_sensor.value) == (0, float("inf"))
    r = p.check(current=-3.5, open_=1)
    assert (r.current_offset.index, r.current_offset.value) == (0, -3.5)
    p.check()
    r = p.check(new_sample=False)
    assert (r.stale.index, r.stale.value) == (0, 100.0)


def test_stuck_threshold_is_inclusive_and_ignores_an_invalid_current():
    p = Plaus()
    delta = CHEM.protection.plausibility.stuck_current_delta_a
    v = [3.7, 3.71, 3.72, 3.73, 3.74, 3.75]
    p.check(v=v, current=0.0)  # 0 A is kept exactly (the reference: a 16-bit fraction of the range)
    p.check(v=v, current=float("nan"))  # unknown current: nothing learnt, nothing flagged
    assert not p.check(v=v, current=0.999 * delta).volt_stuck.present
    assert p.check(v=v, current=delta).volt_stuck.present
    # any other reference is kept to half a step of range / 32767: within 1 % of delta
    half_lsb = 0.5 * p.cfg.pack.current_range_a / 32767
    assert half_lsb < 0.01 * delta
    r = Plaus()
    r.check(v=v, current=10.0)
    assert not r.check(v=v, current=10.0 + 0.99 * delta).volt_stuck.present
    assert r.check(v=v, current=10.0 + 1.01 * delta).volt_stuck.present
    q = Plaus()
    w = list(v)
    w[2] = 3.8
    q.check(v=w, current=float("nan"))  # a new reading while the current is unknown
    q.check(v=w, current=0.0)
    assert not q.check(v=w, current=delta * 0.999).volt_stuck.present


def test_pack_sum_names_the_first_of_equally_deviating_cells():
    p = Plaus()
    v = [3.7, 3.7, 3.9, 3.5, 3.7, 3.7]  # cells 2 and 3 deviate equally from the mean
    r = p.check(v=v, pack_v=sum(v) + p.cfg.plaus.pack_sum_tol_v + 0.5)
    assert r.open_wire.present and r.open_wire.index == 2


def test_reset_whatever_the_memory_held():
    st = ffi.new("bms_plaus_state_t *")
    ffi.memmove(st, b"\xa5" * ffi.sizeof("bms_plaus_state_t"), ffi.sizeof("bms_plaus_state_t"))
    lib.bms_plaus_reset(st)
    assert (st.last_sample_time_ms, st.stale_ms, st.have_sample) == (0, 0, 0)
    assert set(st.stuck_ref_v) == {0.0} and set(st.stuck_ref_i) == {0.0} and set(st.stuck_count) == {0}


def test_an_unfrozen_reading_is_not_stuck_when_it_repeats_at_rest():
    p = Plaus()
    delta = CHEM.protection.plausibility.stuck_current_delta_a
    v = [3.7, 3.71, 3.72, 3.73, 3.74, 3.75]
    p.check(v=v, current=0.0)
    assert p.check(v=v, current=delta).volt_stuck.present
    w = list(v)
    w[0] = 3.69  # the reading moves again, then repeats while the current stays put
    p.check(v=w, current=delta)
    r = p.check(v=w, current=delta)
    assert r.cell_flags[0] == 0


def test_pack_sum_tolerance_is_exclusive_and_the_worst_cell_can_be_the_first():
    p = Plaus()
    p.cfg.plaus.pack_sum_tol_v = 0.125
    v = [3.5] * 6  # exactly representable: sum 21.0
    assert not p.check(v=v, pack_v=21.125).open_wire.present
    assert p.check(v=v, pack_v=21.25).open_wire.present
    w = [3.0, 3.5, 3.5, 3.5, 3.5, 3.5]
    r = p.check(v=w, pack_v=21.0)
    assert r.open_wire.present and r.open_wire.index == 0


def test_stale_time_restarts_with_every_new_sample():
    p = Plaus()
    p.check()
    p.check(new_sample=False)
    p.check(new_sample=False)
    p.check()
    assert p.check(new_sample=False).stale.value == 100.0


def test_cooling_lost_only_counts_while_the_pack_is_in_use():
    p = Plaus()

    def check(flow, open_, latched=0):
        v = np.full(N, 3.7, dtype=np.float32)
        t = np.full(NS, 25.0, dtype=np.float32)
        p.t += 100
        pin = ffi.new(
            "bms_plaus_input_t *",
            {
                "pack_current_a": 0.0,
                "pack_v": float("nan"),
                "sample_time_ms": p.t,
                "dt_ms": 100,
                "contactors_open": open_,
                "coolant_flow_lpm": flow,
                "cooling_latched": latched,
            },
        )
        lib.bms_plaus_check(
            p.st, p.cfg, pin, ffi.from_buffer("float[]", v), ffi.from_buffer("float[]", t), p.res
        )
        return p.res.cooling.present

    lo = CHEM.protection.plausibility.coolant_flow_min_lpm
    assert check(lo - 0.1, 0) and not check(lo, 0)
    assert not check(0.0, 1)  # parked: the pump may be off
    assert check(0.0, 1, latched=1)  # but a latched fault waits for the flow
    assert not check(float("nan"), 0)  # not measured: not judged


def test_a_cell_far_from_the_others_is_named_and_load_widens_the_allowance():
    p = Plaus()
    dev = CHEM.protection.plausibility.cell_dev_max_v
    v = [3.7, 3.7, 3.7, 3.7 - 1.05 * dev, 3.7, 3.7]
    r = p.check(v=v)
    assert r.cell_dev.present and r.cell_dev.index == 3
    assert r.cell_dev.value == pytest.approx(-1.05 * dev, abs=1e-5)
    v = [3.7, 3.7, 3.7, 3.7 - 0.95 * dev, 3.7, 3.7]
    assert not p.check(v=v).cell_dev.present
    # under 100 A the allowance grows by cell_dev_v_per_a * 100
    extra = p.cfg.plaus.cell_dev_v_per_a * 100.0
    assert extra > 0
    v = [3.7, 3.7, 3.7, 3.7 - dev - 0.5 * extra, 3.7, 3.7]
    assert not p.check(v=v, current=100.0).cell_dev.present
    w = [x + 1e-4 for x in v]  # a new sample (the same readings again would be frozen)
    assert p.check(v=w, current=0.0).cell_dev.present


def test_where_the_ocv_is_steep_a_healthy_imbalance_is_no_deviation():
    p = Plaus()
    dev = CHEM.protection.plausibility.cell_dev_max_v
    spread = p.cfg.plaus.cell_dev_soc_spread
    slope = 2.0  # V per unit SoC: the knee of an NMC OCV near empty
    v = [3.4, 3.4, 3.4, 3.4 - dev - 0.9 * spread * slope, 3.4, 3.4]
    assert p.check(v=v).cell_dev.present  # judged on a flat OCV
    w = [x + 1e-4 for x in v]
    assert not p.check(v=w, ocv_slope=slope).cell_dev.present
    w = [x + 1e-4 for x in w]
    w[3] -= 0.2 * spread * slope  # beyond what the imbalance explains
    assert p.check(v=w, ocv_slope=slope).cell_dev.present


def test_with_a_dithered_adc_a_repeated_reading_alone_is_frozen():
    p = Plaus()
    p.cfg.plaus.stuck_needs_current = 0
    v = [3.7, 3.71, 3.72, 3.73, 3.74, 3.75]
    assert not p.check(v=v).volt_stuck.present
    k = p.cfg.plaus.stuck_repeats_min
    for j in range(1, k):  # all but cell 2 move; cell 2 repeats k - 1 times: not yet
        w = [3.7 + 1e-4 * j, 3.71 + 1e-4 * j, 3.72, 3.73 + 1e-4 * j, 3.74 + 1e-4 * j, 3.75 + 1e-4 * j]
        assert not p.check(v=w).volt_stuck.present
    w = [3.7003 + 1e-4 * k, 3.7103 + 1e-4 * k, 3.72, 3.7303 + 1e-4 * k, 3.7403 + 1e-4 * k, 3.7503]
    r = p.check(v=w)
    assert r.volt_stuck.present and r.volt_stuck.index == 2
    assert [int(f) for f in r.cell_flags[0:6]] == [0, 0, lib.BMS_PLAUS_CELL_STUCK, 0, 0, 0]


def test_the_deviation_check_covers_the_first_cell_two_fresh_cells_and_a_nan_slope():
    dev = CHEM.protection.plausibility.cell_dev_max_v
    # the first cell is judged against the others like any other
    p = Plaus()
    r = p.check(v=[3.7 - 1.05 * dev, 3.7, 3.7, 3.7, 3.7, 3.7])
    assert r.cell_dev.present and r.cell_dev.index == 0
    assert r.cell_dev.value == pytest.approx(-1.05 * dev, abs=1e-5)
    # four readings unusable (open wire, ~0 V): the two fresh ones still judge each other
    p = Plaus()
    r = p.check(v=[0.0, 0.0, 0.0, 0.0, 3.7, 3.7 - 1.05 * dev])
    assert r.cell_dev.present and r.cell_dev.index == 4
    # a slope the estimators could not give (NaN) counts as a flat OCV: no extra allowance
    p = Plaus()
    r = p.check(v=[3.7, 3.7, 3.7 - 1.05 * dev, 3.7, 3.7, 3.7], ocv_slope=float("nan"))
    assert r.cell_dev.present and r.cell_dev.index == 2


def _pressure_check(p: Plaus, readings, n_sensors=None):
    """One sample with stack-pressure readings on a pack configured for len(readings) sensors."""
    p.cfg.pack.n_pressure_sensors = len(readings) if n_sensors is None else n_sensors
    return p.check(pressure=readings)


def test_pressure_readings_range_open_and_nan_are_flagged():
    p = Plaus()
    pl = p.cfg.plaus
    lo, hi, open_ = pl.pressure_min_mpa, pl.pressure_max_mpa, pl.pressure_open_below_mpa
    assert open_ < lo < hi  # the protection's defaults (a 4-20 mA transmitter over 0-20 MPa)
    r = _pressure_check(p, [2.0, float("nan"), open_, hi + 0.5, lo - 0.01 if lo - 0.01 > open_ else lo])
    assert list(r.pressure_flags[0:5]) == [
        0,
        lib.BMS_PLAUS_P_INVALID,
        lib.BMS_PLAUS_P_OPEN,
        lib.BMS_PLAUS_P_INVALID,
        lib.BMS_PLAUS_P_INVALID,
    ]
    assert (r.pressure_sensor.present, r.pressure_sensor.index) == (1, 1)  # the first offender
    assert r.any_unusable  # a pressure the firmware cannot read stops the charge at once


def test_a_frozen_pressure_reading_is_stuck_after_the_configured_repeats():
    p = Plaus()
    need = int(p.cfg.plaus.stuck_repeats_min)
    r = None
    for k in range(need + 1):
        # sensor 0 dithers (a live load cell), sensor 1 repeats its value bit for bit
        r = _pressure_check(p, [2.0 + 0.005 * (k % 2), 2.5])
        stuck = k >= need  # k identical repeats after the first reading
        assert bool(r.pressure_flags[1] == lib.BMS_PLAUS_P_STUCK) == stuck, k
        assert r.pressure_flags[0] == 0
        assert bool(r.pressure_stuck.present) == stuck
    assert r.pressure_stuck.index == 1


def test_no_pressure_sensors_judges_nothing():
    p = Plaus()
    r = _pressure_check(p, [float("nan")], n_sensors=0)
    assert not r.pressure_sensor.present and not r.any_unusable
