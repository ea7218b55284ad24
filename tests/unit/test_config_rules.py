"""bms_config_check's rules between fields (native/src/config_check.c), each broken on its own
in a configuration the firmware accepts: the refusal names the field and the rule. The rules
are written out here from the header's documentation, one case per rule, independently of the
C code's order; the range table is covered by tests/hostile/test_config_bounds.py."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from bms._native import ffi, lib
from bms.balancing import BalancingSpec, fill_balancing
from bms.firmware import PackLayout, fill_config
from tests.synthetic import TruthCell

N_CELLS = 4


def valid():
    cfg = ffi.new("bms_config_t *")
    fill_config(cfg, TruthCell().cell_model(), PackLayout(N_CELLS, (0, 2)))
    fill_balancing(cfg, BalancingSpec(mode="top"), 1.0, 0.05)
    cfg.nvm.soh_valid = 1
    for i in range(N_CELLS):
        cfg.nvm.cap_q[i] = 32768  # 1.0
        cfg.nvm.r_q[i] = 16384  # 1.0
    cfg.nvm.soh_sigma = 0.01
    return cfg


def q(name: str) -> int:
    return getattr(lib, f"BMS_Q_{name}")


def set_tier(quantity: str, tier: str, value: float) -> Callable:
    def fn(c):
        getattr(c.limits.q[q(quantity)], tier).threshold = value

    return fn


def setter(path: str, value) -> Callable:
    def fn(c):
        *parents, leaf = path.split(".")
        obj = c
        for p in parents:
            obj = obj[int(p)] if p.isdigit() else getattr(obj, p)
        if leaf.isdigit():
            obj[int(leaf)] = value
        else:
            setattr(obj, leaf, value)

    return fn


def both(*fns: Callable) -> Callable:
    def fn(c):
        for f in fns:
            f(c)

    return fn


# (what, the change, the field named, a word of the rule)
CASES = [
    ("current range NaN", setter("pack.current_range_a", math.nan), "CURRENT_RANGE", "> 0"),
    ("current range zero", setter("pack.current_range_a", 0.0), "CURRENT_RANGE", "> 0"),
    (
        "too many thermistors",
        setter("pack.n_temp_sensors", lib.BMS_MAX_TEMP_SENSORS + 1),
        "N_TEMP_SENSORS",
        "at most",
    ),
    (
        "a thermistor past the pack",
        setter("pack.temp_sensor_cell.1", N_CELLS),
        "TEMP_SENSOR_CELL",
        "< pack.n_cells",
    ),
    ("two thermistors on one cell", setter("pack.temp_sensor_cell.1", 0), "TEMP_SENSOR_CELL", "two sensors"),
    ("one SoC breakpoint", setter("cell.n_soc", 1), "CELL_N_SOC", "soc breakpoints"),
    (
        "too many SoC breakpoints",
        setter("cell.n_soc", lib.BMS_MAX_SOC_PTS + 1),
        "CELL_N_SOC",
        "soc breakpoints",
    ),
    ("no temperature row", setter("cell.n_temp", 0), "CELL_N_TEMP", "temperature breakpoints"),
    (
        "too many temperature rows",
        setter("cell.n_temp", lib.BMS_MAX_TEMP_PTS + 1),
        "CELL_N_TEMP",
        "temperature",
    ),
    (
        "no voltage variance",
        both(setter("est.voltage_noise_v", 0.0), setter("est.model_err_v", 0.0)),
        "EST_VOLTAGE_NOISE",
        "must be > 0",
    ),
    (
        "a maximum's tiers out of order",
        set_tier("CELL_V_MAX", "derate", 9.0),
        lib.BMS_CFG_F_LIMITS + 2 * lib.BMS_Q_CELL_V_MAX,  # the quantity's threshold
        "warning < derate < trip",
    ),
    (
        "a minimum's tiers out of order",
        set_tier("CELL_V_MIN", "derate", 0.1),
        lib.BMS_CFG_F_LIMITS + 2 * lib.BMS_Q_CELL_V_MIN,
        "warning > derate > trip",
    ),
    (
        "a maximum's warning above its derate",
        set_tier("CELL_V_MAX", "warning", 4.34),
        lib.BMS_CFG_F_LIMITS + 2 * lib.BMS_Q_CELL_V_MAX,
        "warning < derate < trip",
    ),
    (
        "a minimum's warning below its derate",
        set_tier("CELL_V_MIN", "warning", 2.75),
        lib.BMS_CFG_F_LIMITS + 2 * lib.BMS_Q_CELL_V_MIN,
        "warning > derate > trip",
    ),
    (
        "a hysteresis NaN",
        setter(f"limits.q.{lib.BMS_Q_CELL_V_MIN}.trip.hysteresis", math.nan),
        lib.BMS_CFG_F_LIMITS + 2 * lib.BMS_Q_CELL_V_MIN + 1,  # ... and its hysteresis
        ">= 0",
    ),
    (
        "open wire above the cell range",
        lambda c: setattr(c.plaus, "open_wire_v", c.plaus.cell_v_max_v + 0.1),
        "PL_OPEN_WIRE",
        "open_wire_v <",
    ),
    (
        "open wire below the cell range",
        lambda c: setattr(c.plaus, "cell_v_min_v", c.plaus.open_wire_v + 0.1),
        "PL_OPEN_WIRE",
        "open_wire_v <",
    ),
    (
        "NTC open above the minimum",
        setter("plaus.ntc_open_below_degc", 200.0),
        "PL_TEMP_MIN",
        "ntc_open_below",
    ),
    (
        "NTC short below the maximum",
        setter("plaus.ntc_short_above_degc", -100.0),
        "PL_TEMP_MIN",
        "ntc_short_above",
    ),
    (
        "temperature window inverted",
        both(setter("plaus.temp_min_degc", 50.0), setter("plaus.temp_max_degc", 40.0)),
        "PL_TEMP_MIN",
        "temp_min_degc < temp_max_degc",
    ),
    (
        "fast excess slower than the debounce",
        both(setter("plaus.ccl_excess_debounce_ms", 1000), setter("plaus.ccl_excess_fast_ms", 2000)),
        "PL_CCL_EXCESS_FAST",
        "<= ccl_excess_debounce_ms",
    ),
    ("no precharge timeout", setter("contactor.precharge_timeout_ms", 0), "PRECHARGE_TIMEOUT", "> 0 ms"),
    ("no opening timeout", setter("contactor.opening_timeout_ms", 0), "OPENING_TIMEOUT", "> 0 ms"),
    (
        "an emergency fault that is none",
        setter("contactor.emergency_mask", 1 << 31),
        "EMERGENCY_MASK",
        "fault ids",
    ),
    ("one map SoC breakpoint", setter("charge.n_soc", 1), "MAP_N_SOC", "soc breakpoints"),
    ("too many map SoC breakpoints", setter("charge.n_soc", lib.BMS_MAX_MAP_SOC + 1), "MAP_N_SOC", "soc"),
    ("no map temperature row", setter("charge.n_temp", 0), "MAP_N_TEMP", "temperature"),
    (
        "too many map temperature rows",
        setter("charge.n_temp", lib.BMS_MAX_MAP_TEMP + 1),
        "MAP_N_TEMP",
        "temperature",
    ),
    ("map SoC not increasing", setter("charge.soc_bp.1", -1.0), "MAP_SOC_BP", "strictly increasing"),
    (
        "map temperatures not increasing",
        setter("charge.temp_bp_degc.0", math.nan),
        "MAP_TEMP_BP",
        "increasing",
    ),
    (
        "charge voltage at the warning",
        lambda c: setattr(c.charge, "cell_v_charge_max_v", c.limits.q[q("CELL_V_MAX")].warning.threshold),
        "V_CHARGE_MAX",
        "below limits.cell_v_max.warning",
    ),
    (
        "discharge floor at the warning",
        lambda c: setattr(c.charge, "cell_v_discharge_min_v", c.limits.q[q("CELL_V_MIN")].warning.threshold),
        "V_DISCHARGE_MIN",
        "above limits.cell_v_min.warning",
    ),
    (
        "discharge floor above the charge voltage",
        both(
            set_tier("CELL_V_MIN", "warning", 4.05),
            set_tier("CELL_V_MIN", "derate", 4.0),
            set_tier("CELL_V_MIN", "trip", 3.9),
            setter("charge.cell_v_charge_max_v", 4.08),
            setter("charge.cell_v_discharge_min_v", 4.1),
        ),
        "V_DISCHARGE_MIN",
        "below cell_v_charge_max_v",
    ),
    (
        "resume at the target",
        both(setter("charge.charge_target_soc", 0.8), setter("charge.charge_resume_soc", 0.8)),
        "CHARGE_RESUME",
        "below charge_target_soc",
    ),
    (
        "heater band inverted",
        lambda c: setattr(c.charge, "heater_off_above_degc", c.charge.heater_on_below_degc),
        "HEATER_OFF",
        "above heater_on_below_degc",
    ),
    (
        "preconditioning below the heater",
        lambda c: setattr(c.charge, "precond_on_below_degc", c.charge.heater_on_below_degc - 1.0),
        "PRECOND_ON",
        "at or above heater_on_below_degc",
    ),
    (
        "preconditioning band inverted",
        lambda c: setattr(c.charge, "precond_off_above_degc", c.charge.precond_on_below_degc),
        "PRECOND_OFF",
        "above precond_on_below_degc",
    ),
    (
        "preconditioning into the cooling",
        both(
            setter("charge.precond_off_above_degc", 36.0),
            setter("charge.cooling_on_above_degc", 36.0),
        ),
        "PRECOND_OFF",
        "below cooling_on_above_degc",
    ),
    (
        "cooling band inverted",
        lambda c: setattr(c.charge, "cooling_on_above_degc", c.charge.cooling_off_below_degc),
        "COOLING_ON",
        "above cooling_off_below_degc",
    ),
    ("stored SoC flag not 0/1", setter("nvm.valid", 2), "NVM_VALID", "0 or 1"),
    ("stored health flag not 0/1", setter("nvm.soh_valid", 2), "NVM_SOH_VALID", "0 or 1"),
    ("a stored capacity scale below 0.5", setter("nvm.cap_q.3", 16383), "NVM_SOH_CAP", "[0.5, 1.5]"),
    ("a stored capacity scale above 1.5", setter("nvm.cap_q.0", 49153), "NVM_SOH_CAP", "[0.5, 1.5]"),
    ("a stored resistance scale below 0.5", setter("nvm.r_q.2", 8191), "NVM_SOH_R", "[0.5, 4)"),
    ("balancing mode unknown", setter("bal.mode", 3), "BAL_MODE", "0 (off)"),
    ("no cells per module", setter("bal.cells_per_module", 0), "BAL_MODULE_CELLS", "1..BMS_MAX_CELLS"),
    (
        "modules past the pack's maximum",
        setter("bal.cells_per_module", lib.BMS_MAX_CELLS + 1),
        "BAL_MODULE_CELLS",
        "1..BMS_MAX_CELLS",
    ),
    ("no switch per module", setter("bal.max_per_module", 0), "BAL_MODULE_MAX", "1..cells_per_module"),
    (
        "more switches than cells",
        lambda c: setattr(c.bal, "max_per_module", c.bal.cells_per_module + 1),
        "BAL_MODULE_MAX",
        "1..cells_per_module",
    ),
    ("switch test too often", setter("bal.test_interval_ms", 999), "BAL_TEST_INTERVAL", "1 s..1 day"),
    (
        "switch test too rare",
        both(setter("bal.test_interval_ms", 86_400_001), setter("bal.switch_debounce_ms", 86_400_001)),
        "BAL_TEST_INTERVAL",
        "1 s..1 day",
    ),
    (
        "switch debounce shorter than the test interval",
        lambda c: setattr(c.bal, "switch_debounce_ms", c.bal.test_interval_ms - 1),
        "BAL_DEBOUNCE",
        "test_interval_ms..1 day",
    ),
    ("switch debounce over a day", setter("bal.switch_debounce_ms", 86_400_001), "BAL_DEBOUNCE", "1 day"),
    (
        "stop band above the start",
        lambda c: setattr(c.bal, "stop_dsoc", c.bal.start_dsoc),
        "BAL_STOP",
        "below start_dsoc",
    ),
]


def test_the_base_configuration_is_accepted():
    d = ffi.new("bms_cfg_detail_t *")
    assert lib.bms_config_check_detail(valid(), d) == lib.BMS_CFG_OK
    assert d.field == lib.BMS_CFG_N_FIELDS


@pytest.mark.parametrize("what,change,field,rule", CASES, ids=[c[0] for c in CASES])
def test_each_rule_refuses_its_field(what, change, field, rule):
    cfg = valid()
    change(cfg)
    d = ffi.new("bms_cfg_detail_t *")
    assert lib.bms_config_check_detail(cfg, d) != lib.BMS_CFG_OK, what
    text = ffi.string(d.rule).decode()
    if isinstance(field, int):  # a limit tier: two ids per quantity past BMS_CFG_F_LIMITS
        assert d.field == field, (what, d.field, text)
    else:
        named = [n for n in dir(lib) if n.startswith("BMS_CFG_F_") and getattr(lib, n) == d.field]
        assert f"BMS_CFG_F_{field}" in named, (what, named, text)
    assert rule in text, (what, text)


def test_a_field_id_past_the_table_has_no_bounds_row():
    assert lib.bms_config_field_info(lib.BMS_CFG_N_FIELDS - 1) != ffi.NULL
    assert lib.bms_config_field_info(lib.BMS_CFG_N_FIELDS) == ffi.NULL
