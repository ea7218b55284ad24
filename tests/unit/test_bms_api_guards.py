"""The firmware's entry points (bms.h) against misuse from the integrating code: a null
pointer is BMS_E_ARG, an instance never configured (or whose configuration was refused) is
BMS_E_NOT_INIT and steps nothing, a cell index past the pack reads NaN, and the batch entry
point refuses a pack with thermistors called without their readings. Checked through cffi on
the same objects the firmware images link."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bms._native import ffi, lib
from bms.firmware import PackLayout, fill_config
from tests.synthetic import TruthCell

N_CELLS = 3


def configured():
    cfg = ffi.new("bms_config_t *")
    fill_config(cfg, TruthCell().cell_model(), PackLayout(N_CELLS, (0, 2)))
    inst = ffi.new("bms_t *")
    assert lib.bms_init(inst, cfg) == lib.BMS_OK
    return inst, cfg


def meas():
    m = ffi.new("bms_meas_t *")
    m.pack_current_a = 1.0
    for i in range(N_CELLS):
        m.cell_v[i] = 3.7
    m.temp_degc[0] = m.temp_degc[1] = 25.0
    m.ambient_degc = 25.0
    m.pack_v = m.bus_v = m.charger_max_a = m.coolant_flow_lpm = math.nan
    m.sample_time_ms = 100
    return m


def test_null_pointers_are_refused():
    inst, cfg = configured()
    out = ffi.new("bms_out_t *")
    assert lib.bms_init(ffi.NULL, cfg) == lib.BMS_E_ARG
    assert lib.bms_init(inst, ffi.NULL) == lib.BMS_E_ARG
    assert lib.bms_step(ffi.NULL, meas(), 100, out) == lib.BMS_E_ARG
    assert lib.bms_step(inst, ffi.NULL, 100, out) == lib.BMS_E_ARG
    assert lib.bms_step(inst, meas(), 100, ffi.NULL) == lib.BMS_E_ARG
    assert lib.bms_command(ffi.NULL, lib.BMS_CMD_CLOSE) == lib.BMS_E_ARG


def test_an_instance_never_configured_steps_nothing():
    inst = ffi.new("bms_t *")  # zeroed: never through bms_init
    out = ffi.new("bms_out_t *")
    assert lib.bms_step(inst, meas(), 100, out) == lib.BMS_E_NOT_INIT
    assert inst.time_ms == 0
    assert lib.bms_command(inst, lib.BMS_CMD_CLOSE) == lib.BMS_E_NOT_INIT


def test_an_instance_whose_configuration_was_refused_steps_nothing():
    inst, cfg = configured()
    cfg.pack.n_cells = 0  # outside the configuration's rules
    assert lib.bms_init(inst, cfg) == lib.BMS_E_CONFIG
    out = ffi.new("bms_out_t *")
    assert lib.bms_step(inst, meas(), 100, out) == lib.BMS_E_NOT_INIT


def test_a_cell_index_past_the_pack_reads_nan():
    inst, _ = configured()
    out = ffi.new("bms_out_t *")
    assert lib.bms_step(inst, meas(), 100, out) == lib.BMS_OK
    assert math.isfinite(lib.bms_cell_soc(inst, N_CELLS - 1))
    assert math.isnan(lib.bms_cell_soc(inst, N_CELLS))
    assert math.isfinite(lib.bms_cell_core_temp_degc(inst, N_CELLS - 1))
    assert math.isnan(lib.bms_cell_core_temp_degc(inst, N_CELLS))


def batch_args(n: int):
    return {
        "dt": ffi.new("uint32_t[]", [100] * n),
        "i": ffi.new("float[]", [1.0] * n),
        "v": ffi.new("float[]", [3.7] * (n * N_CELLS)),
        "t": ffi.new("float[]", [25.0] * (n * 2)),
        "soc": ffi.new("float[]", n * N_CELLS),
        "core": ffi.new("float[]", n * N_CELLS),
        "vp": ffi.new("float[]", n * N_CELLS),
    }


def call_batch(inst, n: int, a: dict, **null) -> int:
    p = {k: (ffi.NULL if null.get(k) else v) for k, v in a.items()}
    return lib.bms_step_batch(
        inst, n, p["dt"], p["i"], p["v"], p["t"], ffi.NULL, p["soc"], p["core"], p["vp"], ffi.NULL
    )


@pytest.mark.parametrize("missing", ["dt", "i", "v", "soc", "core", "vp"])
def test_the_batch_refuses_a_missing_array(missing):
    inst, _ = configured()
    a = batch_args(4)
    assert call_batch(inst, 4, a, **{missing: True}) == lib.BMS_E_ARG
    assert inst.time_ms == 0


def test_the_batch_refuses_a_pack_with_thermistors_called_without_their_readings():
    inst, _ = configured()
    a = batch_args(4)
    assert call_batch(inst, 4, a, t=True) == lib.BMS_E_ARG
    assert call_batch(ffi.NULL, 4, a) == lib.BMS_E_ARG
    assert lib.bms_step_batch(ffi.new("bms_t *"), 4, a["dt"], a["i"], a["v"], a["t"], ffi.NULL, a["soc"],
                              a["core"], a["vp"], ffi.NULL) == lib.BMS_E_NOT_INIT  # fmt: skip


def test_the_batch_without_ambient_or_status_arrays_steps_as_single_steps_do():
    inst, _ = configured()
    a = batch_args(5)
    assert call_batch(inst, 5, a) == lib.BMS_OK
    assert inst.time_ms == 500
    ref, _ = configured()
    out = ffi.new("bms_out_t *")
    m = meas()
    m.ambient_degc = math.nan  # what the batch passes without an ambient array
    for k in range(5):
        m.sample_time_ms = 100 * (k + 1)
        assert lib.bms_step(ref, m, 100, out) == lib.BMS_OK
    got = np.frombuffer(ffi.buffer(a["soc"]), dtype=np.float32)[-N_CELLS:]
    want = np.array([lib.bms_cell_soc(ref, i) for i in range(N_CELLS)], dtype=np.float32)
    assert np.array_equal(got, want)


def test_a_zero_length_step_in_a_batch_is_reported_and_the_batch_goes_on():
    # no error: the step reports DT_INVALID (bms_step refuses only what the batch checked first)
    inst, _ = configured()
    a = batch_args(3)
    a["dt"][1] = 0
    status = ffi.new("uint32_t[]", 3)
    rc = lib.bms_step_batch(
        inst, 3, a["dt"], a["i"], a["v"], a["t"], ffi.NULL, a["soc"], a["core"], a["vp"], status
    )
    assert rc == lib.BMS_OK
    assert status[1] & lib.BMS_ST_DT_INVALID and not status[0] & lib.BMS_ST_DT_INVALID


def test_a_batch_on_a_pack_without_thermistors_needs_no_temperature_array():
    cfg = ffi.new("bms_config_t *")
    fill_config(cfg, TruthCell().cell_model(), PackLayout(N_CELLS, ()))
    inst = ffi.new("bms_t *")
    assert lib.bms_init(inst, cfg) == lib.BMS_OK
    a = batch_args(3)
    assert call_batch(inst, 3, a, t=True) == lib.BMS_OK
    assert inst.time_ms == 300


def test_a_batch_with_an_ambient_array_steps_as_single_steps_with_that_ambient_do():
    inst, _ = configured()
    a = batch_args(4)
    amb = ffi.new("float[]", [5.0, 10.0, 15.0, 20.0])
    rc = lib.bms_step_batch(
        inst, 4, a["dt"], a["i"], a["v"], a["t"], amb, a["soc"], a["core"], a["vp"], ffi.NULL
    )
    assert rc == lib.BMS_OK
    ref, _ = configured()
    out = ffi.new("bms_out_t *")
    m = meas()
    for k in range(4):
        m.ambient_degc = amb[k]
        m.sample_time_ms = 100 * (k + 1)
        assert lib.bms_step(ref, m, 100, out) == lib.BMS_OK
    got = np.frombuffer(ffi.buffer(a["core"]), dtype=np.float32)[-N_CELLS:]
    want = np.array([lib.bms_cell_core_temp_degc(ref, i) for i in range(N_CELLS)], dtype=np.float32)
    assert np.array_equal(got, want)
    # ... and the ambient mattered: without it the cores end elsewhere
    b = batch_args(4)
    other, _ = configured()
    assert call_batch(other, 4, b) == lib.BMS_OK
    assert not np.array_equal(np.frombuffer(ffi.buffer(b["core"]), dtype=np.float32)[-N_CELLS:], got)
