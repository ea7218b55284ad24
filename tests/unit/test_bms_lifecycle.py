"""bms_init / bms_reset / bms_step as a lifecycle: the firmware may not depend on zeroed
memory, a reset returns it to power-on behaviour, and nothing beyond the configured cells
and sensors is ever read."""

from __future__ import annotations

import numpy as np

from bms._native import ffi, lib
from bms.chemistry import load_chemistry
from bms.firmware import PackLayout, fill_config

CHEM = load_chemistry("nmc811-graphite")
N, SENSORS = 6, (0, 3, 5)
OUT_FIELDS = (
    "soc_min",
    "soc_max",
    "soc_pack",
    "core_temp_max_degc",
    "ccl_a",
    "dcl_a",
    "ccl_limit",
    "dcl_limit",
    "faults",
    "warnings",
    "derates",
    "contactor_state",
    "charge_complete",
    "heater_request",
    "cooling_request",
    "status",
    "cell_v_max",
    "temp_min_degc",
)


def config():
    cfg = ffi.new("bms_config_t *")
    fill_config(cfg, CHEM.cell, PackLayout(N, SENSORS), CHEM.protection)
    return cfg


def script(k: int):
    """A sequence through rest, precharge, charge, a fault, reset and recovery."""
    cur, temps, cmd = 0.0, [25.0, 25.5, 24.8], None
    if k == 5:
        cmd = lib.BMS_CMD_CLOSE
    if 10 <= k < 200:
        cur = -min(0.5 * (k - 10), 12.0)
    if 120 <= k < 150:
        temps = [4.0, -3.0, 8.0]  # cold: derate, then under-temperature while charging
    if 200 <= k < 230:
        cur = 0.0
    if k == 230:
        cmd = lib.BMS_CMD_FAULT_RESET
    if k == 240:
        cmd = lib.BMS_CMD_CLOSE
    if k >= 250:
        cur = 3.0 * np.sin(k / 7.0)
    v = 3.75 - 0.004 * cur + 0.0003 * np.arange(N) + 1e-4 * (k % 3)
    return cur, v, temps, cmd


def run(inst, n=320, tail_fill=None):
    meas = ffi.new("bms_meas_t *")
    out = ffi.new("bms_out_t *")
    soc = ffi.new("float[]", lib.BMS_MAX_CELLS)
    core = ffi.new("float[]", lib.BMS_MAX_CELLS)
    out.cells.soc, out.cells.core_temp_degc = soc, core
    if tail_fill is not None:
        for i in range(lib.BMS_MAX_CELLS):
            meas.cell_v[i] = tail_fill
        for j in range(lib.BMS_MAX_TEMP_SENSORS):
            meas.temp_degc[j] = tail_fill
    rows = []
    for k in range(n):
        cur, v, temps, cmd = script(k)
        if cmd is not None:
            lib.bms_command(inst, cmd)
        meas.pack_current_a = cur
        for i in range(N):
            meas.cell_v[i] = v[i]
        for j, t in enumerate(temps):
            meas.temp_degc[j] = t
        meas.ambient_degc = 25.0
        meas.pack_v = float(np.sum(v, dtype=np.float32))
        meas.bus_v = meas.pack_v
        meas.charger_max_a = float("nan")
        meas.sample_time_ms = 100 * (k + 1)
        assert lib.bms_step(inst, meas, 100, out) == lib.BMS_OK
        rows.append(tuple(getattr(out, f) for f in OUT_FIELDS) + tuple(soc[0:N]) + tuple(core[0:N]))
    return rows


def fresh():
    inst = ffi.new("bms_t *")
    assert lib.bms_init(inst, config()) == lib.BMS_OK
    return inst


def _same(a, b):
    assert len(a) == len(b)
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        assert np.array_equal(np.array(x, dtype=float), np.array(y, dtype=float), equal_nan=True), k


def test_the_script_exercises_the_firmware():
    rows = run(fresh())
    faults = {r[OUT_FIELDS.index("faults")] for r in rows}
    states = {r[OUT_FIELDS.index("contactor_state")] for r in rows}
    assert max(r[OUT_FIELDS.index("ccl_a")] for r in rows) > 1.0
    assert any(f & (1 << 6) for f in faults)  # under-temperature while charging
    assert states >= {lib.BMS_CONTACTOR_OPEN, lib.BMS_CONTACTOR_CLOSED}
    assert any(r[OUT_FIELDS.index("heater_request")] for r in rows)


def test_init_does_not_rely_on_zeroed_memory():
    dirty = ffi.new("bms_t *")
    ffi.memmove(dirty, b"\xa5" * ffi.sizeof("bms_t"), ffi.sizeof("bms_t"))
    assert lib.bms_init(dirty, config()) == lib.BMS_OK
    _same(run(dirty), run(fresh()))


def test_reset_returns_to_power_on_behaviour():
    inst = fresh()
    run(inst, n=260)  # faults, contactors, limits, estimators all moved
    lib.bms_reset(inst)
    _same(run(inst), run(fresh()))


def test_nothing_beyond_the_configured_cells_and_sensors_is_read():
    for fill in (float("nan"), 0.0, 99.0, -1e30):
        inst = fresh()
        _same(run(inst, n=120, tail_fill=fill), run(fresh(), n=120))
