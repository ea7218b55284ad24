"""The firmware's CAN layer against cantools and the `crc` package (independent encoders):
what it accepts, what it refuses and counts, timeouts, commands and the frames it sends."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bms._native import ffi, lib
from bms.enums import FAULT_ID
from hil.can import codec
from hil.can.layer import CanLayer, layer_config
from tests.rig import Meas, Rig

DT = 100
LIMITS = codec.message("CHG_Limits")
STATUS = codec.message("CHG_Status")
VCU = codec.message("VCU_Command")
BMS_SENT = {m.name for m in codec.database().messages if m.senders == ["BMS"]}


def meas_ptr() -> object:
    return ffi.new("bms_meas_t *")


def charger_frames(
    status: codec.ProtectedSender, limits: codec.ProtectedSender, max_a: float, state: int = 2
):
    return [
        (
            STATUS.frame_id,
            status.encode(
                {"ChargerOutputVoltage": 400.0, "ChargerOutputCurrent": 100.0, "ChargerState": state}
            ),
        ),
        (LIMITS.frame_id, limits.encode({"ChargerMaxCurrent": max_a, "ChargerMaxVoltage": 450.0})),
    ]


def charger_session(max_a: float) -> tuple[CanLayer, object, codec.ProtectedSender, codec.ProtectedSender]:
    """A layer that has accepted one charger status and limit (a session open), and its senders."""
    layer, m = CanLayer(), meas_ptr()
    s, lim = codec.ProtectedSender("CHG_Status"), codec.ProtectedSender("CHG_Limits")
    for fid, data in charger_frames(s, lim, max_a):
        assert layer.rx(fid, data) == "ok"
    return layer, m, s, lim


@given(st.integers(0, 0x7FF), st.binary(min_size=1, max_size=8))
def test_crc8_is_sae_j1850(frame_id, data):
    assert lib.bms_canl_crc8(frame_id, data, len(data)) == codec.crc8(frame_id, data[:-1])


def test_layer_takes_its_timing_from_the_dbc():
    cfg = layer_config()
    assert list(cfg.rx_timeout_ms) == [codec.rx_timeout_ms(m) for m in (STATUS, LIMITS, VCU)]
    assert cfg.tx_cycle_ms[lib.BMS_CANL_TX_LIMITS] == codec.cycle_ms(codec.message("BMS_Limits"))
    bad = layer_config()
    bad.rx_timeout_ms[1] = 0
    assert lib.bms_canl_init(ffi.new("bms_canl_t *"), bad) == lib.BMS_CANL_E_CONFIG


def test_charger_limit_reaches_the_measurement_at_signal_resolution():
    layer, m, _, _ = charger_session(123.44)
    layer.inputs(DT, m)
    assert m.charger_max_a == pytest.approx(123.4, abs=1e-4)  # 0.1 A resolution, rounded
    assert m.comm_lost == 0


def test_refused_frames_are_counted_and_never_applied():
    layer, m, _, lim = charger_session(200.0)
    layer.inputs(DT, m)
    good = lim.encode({"ChargerMaxCurrent": 50.0, "ChargerMaxVoltage": 450.0})
    flipped = bytes([good[0] ^ 0x01, *good[1:]])
    assert layer.rx(LIMITS.frame_id, flipped) == "checksum"
    assert layer.rx(LIMITS.frame_id, good[:7]) == "length"
    assert layer.rx(LIMITS.frame_id, good) == "ok"
    assert layer.rx(LIMITS.frame_id, good) == "counter"  # a repeated frame
    # 6553.5 A is a valid 16-bit raw value beyond the DBC's [0, 6000]
    over = lim.encode({"ChargerMaxCurrent": 65535, "ChargerMaxVoltage": 22500}, scaling=False, strict=False)
    assert layer.rx(LIMITS.frame_id, over) == "range"
    req = codec.ProtectedSender("VCU_Command")
    assert (
        layer.rx(
            VCU.frame_id, req.encode({"ContactorRequest": 3, "FaultReset": 0}, scaling=False, strict=False)
        )
        == "range"
    )
    assert layer.rx(0x7FF, b"\x00") == "not_ours"
    assert layer.refused == {"length": 1, "checksum": 1, "counter": 1, "range": 2}
    cmds = layer.inputs(DT, m)
    assert m.charger_max_a == pytest.approx(50.0)  # only the good frame applied
    assert cmds == []  # the out-of-range request did nothing
    # the count reaches the vehicle in BMS_State
    fw = Rig()
    out = fw.step(fw.nominal())
    frames = dict(layer.tx(fw.fw.config, meas_ptr(), out))
    _, state = codec.decode(codec.message("BMS_State").frame_id, frames[codec.message("BMS_State").frame_id])
    assert state["RxRefusedCount"] == 5


@pytest.mark.parametrize("breaks,refused,illegal", [(0, 0, 0), (3, 2, 1), (70000, 300, 256)])
def test_the_contactor_counters_reach_the_vehicle_in_bms_state(breaks, refused, illegal):
    """ContactorBreaks / ContactorRefused / ContactorIllegal: the instance's counters, each
    saturating at its signal's width (16, 8, 8 bits), as bms_out_t.contactor_counts holds them."""
    layer, rig = CanLayer(), Rig()
    rig.settle()
    ct = rig.fw.instance.contactor
    ct.breaks_under_load, ct.refused_cmds, ct.illegal_cmds = breaks, refused, illegal
    out = rig.step(rig.nominal())
    frames = dict(layer.tx(rig.fw.config, meas_ptr(), out))
    fid = codec.message("BMS_State").frame_id
    _, state = codec.decode(fid, frames[fid])
    assert (state["ContactorBreaks"], state["ContactorRefused"], state["ContactorIllegal"]) == (
        min(breaks, 0xFFFF),
        min(refused, 0xFF),
        min(illegal, 0xFF),
    )


def test_charger_silence_is_a_comm_loss_after_its_timeout_only_in_a_session():
    layer, m = CanLayer(), meas_ptr()
    vcu = codec.ProtectedSender("VCU_Command")
    timeout = codec.rx_timeout_ms(LIMITS)
    # no charger yet: its silence is no fault
    for _ in range(20):
        layer.rx(VCU.frame_id, vcu.encode({"ContactorRequest": 0, "FaultReset": 0}))
        layer.inputs(DT, m)
        assert m.comm_lost == 0 and math.isnan(m.charger_max_a)
    s, lim = codec.ProtectedSender("CHG_Status"), codec.ProtectedSender("CHG_Limits")
    for fid, data in charger_frames(s, lim, 300.0):
        layer.rx(fid, data)
    layer.inputs(DT, m)
    lost_after = None
    for k in range(1, 20):
        layer.rx(VCU.frame_id, vcu.encode({"ContactorRequest": 0, "FaultReset": 0}))
        layer.inputs(DT, m)
        if m.comm_lost:
            lost_after = k * DT
            break
    assert m.comm_lost == lib.BMS_CANL_PARTNER_CHARGER
    assert math.isnan(m.charger_max_a)  # no limit from a charger that is gone
    assert lost_after == timeout + DT  # the first step whose age exceeds the timeout
    # the charger ends its session properly: silence afterwards is fine
    layer2, m2, s2, lim2 = charger_session(300.0)
    for fid, data in charger_frames(s2, lim2, 0.0, state=0):
        layer2.rx(fid, data)
    for _ in range(20):
        layer2.rx(VCU.frame_id, vcu.encode({"ContactorRequest": 0, "FaultReset": 0}))
        layer2.inputs(DT, m2)
        assert m2.comm_lost & lib.BMS_CANL_PARTNER_CHARGER == 0


def test_vehicle_is_monitored_from_power_up():
    layer, m = CanLayer(), meas_ptr()
    timeout = codec.rx_timeout_ms(VCU)
    steps = [layer.inputs(DT, m) or m.comm_lost for _ in range(timeout // DT + 1)]
    assert steps[-2] == 0 and steps[-1] == lib.BMS_CANL_PARTNER_VEHICLE


def test_requests_act_on_a_change_and_resets_on_a_rising_edge():
    layer, m = CanLayer(), meas_ptr()
    vcu = codec.ProtectedSender("VCU_Command")
    seq = [(0, 0), (1, 0), (1, 0), (0, 0), (1, 1), (1, 1), (2, 0), (2, 1)]
    got = []
    for req, reset in seq:
        assert layer.rx(VCU.frame_id, vcu.encode({"ContactorRequest": req, "FaultReset": reset})) == "ok"
        got.append(layer.inputs(DT, m))
    assert got == [[], ["close"], [], [], ["close", "reset"], [], ["open"], ["reset"]]


def test_comm_loss_trips_the_firmware_fault_and_reset_clears_it_only_when_back():
    rig = Rig()
    layer, m = CanLayer(), meas_ptr()
    vcu = codec.ProtectedSender("VCU_Command")
    timeout = codec.rx_timeout_ms(VCU)
    bit = 1 << FAULT_ID["comm"]
    for _ in range(5):
        layer.rx(VCU.frame_id, vcu.encode({"ContactorRequest": 0, "FaultReset": 0}))
        layer.inputs(DT, m)
        assert not _with(rig, m).faults & bit
    tripped_ms = None
    for k in range(1, 30):
        layer.inputs(DT, m)
        if _with(rig, m).faults & bit:
            tripped_ms = k * DT
            break
    assert tripped_ms == timeout + DT
    assert rig.fw.command("reset") == 0
    assert rig.step(_meas(rig, m)).faults & bit  # still silent: the latch stays
    layer.rx(VCU.frame_id, vcu.encode({"ContactorRequest": 0, "FaultReset": 0}))
    layer.inputs(DT, m)
    assert m.comm_lost == 0
    assert _with(rig, m).faults & bit  # back, but latched until a reset
    assert rig.fw.command("reset") == 0
    assert not _with(rig, m).faults & bit


def _meas(rig: Rig, m: object) -> Meas:
    return replace(rig.nominal(), comm_lost=int(m.comm_lost))


def _with(rig: Rig, m: object) -> object:
    return rig.step(_meas(rig, m))


@settings(max_examples=50, deadline=None)
@given(
    ccl=st.floats(0, 6000),
    dcl=st.floats(0, 6000),
    soc=st.floats(0, 1),
    limit=st.integers(0, 13),
    faults=st.integers(0, (1 << lib.BMS_N_FAULTS) - 1),
    cell_v=st.lists(st.floats(2.5, 4.4), min_size=8, max_size=8),
)
def test_sent_frames_carry_the_firmware_state_at_signal_resolution(ccl, dcl, soc, limit, faults, cell_v):
    rig = Rig()
    out = ffi.new("bms_out_t *")
    out.ccl_a, out.dcl_a, out.soc_pack, out.soc_min, out.soc_max = ccl, dcl, soc, soc, soc
    out.ccl_limit, out.faults, out.contactor_state = limit, faults, 2
    v = np.float32(cell_v)
    out.cell_v_max, out.cell_v_min = float(v.max()), float(v.min())
    out.cell_v_max_cell, out.cell_v_min_cell = int(v.argmax()), int(v.argmin())
    out.core_temp_max_degc, out.core_temp_max_cell = 27.0, 7  # as bms_step reports them
    out.core_temp_min_degc, out.core_temp_min_cell = 20.0, 0
    m = meas_ptr()
    m.pack_v, m.pack_current_a = float(v.sum()), -150.0
    layer = CanLayer()
    layer.inputs(DT, m)
    frames = dict(codec.decode(fid, data) for fid, data in layer.tx(rig.fw.config, m, out))
    assert set(frames) == BMS_SENT  # all of them in the first cycle
    # limits go out rounded down: never above the firmware's, less than one step below
    for sig, limit_a in (("ChargeCurrentLimit", ccl), ("DischargeCurrentLimit", dcl)):
        f32 = float(np.float32(limit_a))
        assert f32 - 0.1 - 1e-4 < frames["BMS_Limits"][sig] <= f32 + 1e-9 * max(f32, 1.0), sig
    assert frames["BMS_Limits"]["ChargeLimitingFactor"] == limit
    assert frames["BMS_Faults"]["FaultMask"] == faults
    assert frames["BMS_State"]["ContactorState"] == 2
    assert frames["BMS_State"]["FaultLatched"] == (faults != 0)
    assert abs(frames["BMS_PackStatus"]["PackSoc"] - 100 * float(np.float32(soc))) <= 0.005 + 1e-6
    assert abs(frames["BMS_PackStatus"]["PackCurrent"] + 150.0) <= 0.025
    assert abs(frames["BMS_CellVoltages"]["CellVoltageMax"] - float(v.max())) <= 0.0005 + 1e-7
    assert frames["BMS_CellVoltages"]["CellVoltageMinIndex"] == int(v.argmin())
    assert frames["BMS_CellTemperatures"]["CellTempMaxIndex"] == 7
    assert frames["BMS_CellTemperatures"]["CellTempMax"] == pytest.approx(27.0)
    assert frames["BMS_CellTemperatures"]["CellTempMin"] == pytest.approx(20.0)
    assert frames["BMS_CellTemperatures"]["CellTempMinIndex"] == 0
    n = rig.fw.config.pack.n_cells
    v_max = n * rig.fw.config.charge.cell_v_charge_max_v
    assert v_max - 0.02 - 1e-4 < frames["BMS_Limits"]["MaxChargeVoltage"] <= v_max + 1e-4


def test_unknown_values_are_sent_as_not_available():
    rig = Rig()
    out = ffi.new("bms_out_t *")
    out.cell_v_max = out.cell_v_min = float("nan")
    out.temp_max_degc = out.temp_min_degc = float("nan")
    out.core_temp_min_degc = float("inf")  # bms_step: no finite core estimate
    out.core_temp_max_degc = float("nan")
    m = meas_ptr()
    m.pack_v = m.pack_current_a = float("nan")
    layer = CanLayer()
    layer.inputs(DT, m)
    raw = {}
    for fid, data in layer.tx(rig.fw.config, m, out):
        msg = codec.database().get_message_by_frame_id(fid)
        raw[msg.name] = msg.decode(data, scaling=False, decode_choices=True)
    assert raw["BMS_PackStatus"]["PackVoltage"] == "SNA" and raw["BMS_PackStatus"]["PackCurrent"] == "SNA"
    assert raw["BMS_CellVoltages"]["CellVoltageMax"] == "SNA"
    assert raw["BMS_CellTemperatures"]["CellTempMax"] == "SNA"
    assert raw["BMS_CellTemperatures"]["SensorTempMin"] == "SNA"


def test_non_finite_outputs_go_out_as_safe_values():
    # a limit nobody can compute is sent as 0 A, never as a cast of NaN
    rig = Rig()
    out = ffi.new("bms_out_t *")
    out.ccl_a, out.dcl_a, out.soc_pack = float("nan"), float("inf"), float("nan")
    layer, m = CanLayer(), meas_ptr()
    layer.inputs(DT, m)
    frames = dict(codec.decode(fid, data) for fid, data in layer.tx(rig.fw.config, m, out))
    assert frames["BMS_Limits"]["ChargeCurrentLimit"] == 0.0
    assert frames["BMS_Limits"]["DischargeCurrentLimit"] == 0.0  # so is an infinite one
    assert frames["BMS_PackStatus"]["PackSoc"] == 0.0


def test_messages_go_out_at_their_cycle_times():
    rig = Rig()
    out = rig.step(rig.nominal())
    layer, m = CanLayer(), meas_ptr()
    counts: dict[int, int] = {}
    for _ in range(50):  # 5 s
        layer.inputs(DT, m)
        for fid, _data in layer.tx(rig.fw.config, m, out):
            counts[fid] = counts.get(fid, 0) + 1
    for name in sorted(BMS_SENT):
        msg = codec.message(name)
        assert counts[msg.frame_id] == 5000 // codec.cycle_ms(msg), name


# ---- the millisecond clock across its 2^32 wrap (49.7 days) ----
WRAP = 1 << 32


def _schedule(start_ms: int | None, steps: int) -> list[list[int]]:
    """The frame ids sent in each step (one bms_canl_inputs + bms_canl_tx per DT) of a
    layer whose clock starts at start_ms (None: as initialised, at 0)."""
    rig = Rig()
    out = rig.step(rig.nominal())
    layer, m = CanLayer(), meas_ptr()
    if start_ms is not None:
        layer.raw.time_ms = start_ms
    sent = []
    for _ in range(steps):
        layer.inputs(DT, m)
        sent.append(sorted(fid for fid, _data in layer.tx(rig.fw.config, m, out)))
    return sent


@pytest.mark.parametrize("start_ms", [WRAP - 1, WRAP - DT, WRAP - 1234, WRAP - 60_000, 0xFFFFFF00])
def test_send_schedule_is_unchanged_across_the_clock_wrap(start_ms):
    """Each BMS message goes out at its DBC cycle time before, across and after the wrap,
    exactly as on a clock started at 0 (a saturating clock sent every message every step)."""
    steps = 1200  # 120 s: the wrap happens inside the run for every start
    assert (start_ms + DT * steps) >= WRAP
    wrapped = _schedule(start_ms, steps)
    assert wrapped == _schedule(None, steps)
    for name in sorted(BMS_SENT):
        msg = codec.message(name)
        every = codec.cycle_ms(msg) // DT
        at = [k for k, ids in enumerate(wrapped) if msg.frame_id in ids]
        assert at == list(range(0, steps, every)), name  # from the first step, every cycle


def test_a_step_longer_than_every_cycle_sends_everything_once():
    """A step of (nearly) 2^32 ms: the wrapping difference alone would read it as a short
    one; every message is due after it, and after that the schedule goes on as usual."""
    rig = Rig()
    out = rig.step(rig.nominal())
    layer, m = CanLayer(), meas_ptr()
    all_ids = sorted(codec.message(n).frame_id for n in BMS_SENT)
    layer.inputs(DT, m)
    assert sorted(fid for fid, _ in layer.tx(rig.fw.config, m, out)) == all_ids
    layer.inputs(WRAP - 50, m)  # the clock lands 50 ms behind where it was
    assert sorted(fid for fid, _ in layer.tx(rig.fw.config, m, out)) == all_ids
    layer.inputs(DT, m)  # one step on: only the messages of a DT cycle are due again
    every_step = sorted(codec.message(n).frame_id for n in BMS_SENT if codec.cycle_ms(codec.message(n)) <= DT)
    assert 0 < len(every_step) < len(all_ids)
    assert sorted(fid for fid, _ in layer.tx(rig.fw.config, m, out)) == every_step


@pytest.mark.parametrize("start_ms", [WRAP - 1, WRAP - 250, WRAP - 1234])
def test_receive_timeouts_are_unchanged_across_the_clock_wrap(start_ms):
    """The vehicle (monitored from power-up) and the charger (in a session) are lost after
    their DBC timeouts, in the same step as on a clock started at 0."""

    def first_lost(start: int | None) -> tuple[int, int]:
        layer, m = CanLayer(), meas_ptr()
        if start is not None:
            layer.raw.time_ms = start
        vcu_lost = next(k for k in range(1, 100) if layer.inputs(DT, m) or m.comm_lost)
        layer2, m2, _s, _lim = charger_session(100.0)
        if start is not None:
            layer2.raw.time_ms = start
        vcu = codec.ProtectedSender("VCU_Command")
        chg_lost = None
        for k in range(1, 100):
            layer2.rx(VCU.frame_id, vcu.encode({"ContactorRequest": 0, "FaultReset": 0}))
            layer2.inputs(DT, m2)
            if m2.comm_lost:
                chg_lost = k
                break
        assert chg_lost is not None and m2.comm_lost == lib.BMS_CANL_PARTNER_CHARGER
        return vcu_lost, chg_lost

    vcu_lost, chg_lost = first_lost(start_ms)
    assert (vcu_lost, chg_lost) == first_lost(None)
    # the first step whose age exceeds the timeout (the first inputs() already ages by DT)
    assert vcu_lost * DT == codec.rx_timeout_ms(VCU) + DT
    # the charger's frames arrived before its first inputs(), which only marks them fresh
    timeout_chg = min(codec.rx_timeout_ms(STATUS), codec.rx_timeout_ms(LIMITS))
    assert (chg_lost - 1) * DT == timeout_chg + DT


@pytest.mark.parametrize(
    "cells, nis, sent_cells, sent_nis",
    [(0, 0.8, 0, 0.8), (3, 12.3449, 3, 12.34), (300, 1e9, 255, 655.35), (1, float("nan"), 1, 0.0)],
)
def test_the_estimator_message_says_which_models_do_not_explain_their_cells(cells, nis, sent_cells, sent_nis):
    """BMS_Estimator: the innovation monitor's count and worst ratio (saturating; a NaN is sent
    as 0, never as a cast) and the mismatch flag."""
    rig = Rig()
    out = ffi.new("bms_out_t *")
    out.model_mismatch_cells, out.model_nis_max = cells, nis
    layer, m = CanLayer(), meas_ptr()
    layer.inputs(DT, m)
    frames = dict(codec.decode(fid, data) for fid, data in layer.tx(rig.fw.config, m, out))
    est = frames["BMS_Estimator"]
    assert est["ModelMismatchCells"] == sent_cells
    assert est["ModelMismatch"] == (cells != 0)
    assert est["ModelNisMax"] == pytest.approx(sent_nis, abs=1e-6)  # to the nearest 0.01


@pytest.mark.parametrize(
    "cap, cap_cell, r, r_cell, cap_sig, r_sig",
    [
        (0.8123, 5, 1.5049, 7, 0.0123, 0.0049),
        (1.0, 0, 1.0, 0, 0.0, 0.0),
        (0.3, 300, 9.0, 256, 0.9, float("nan")),  # beyond the signals: saturated, NaN as 0
    ],
)
def test_the_health_message_carries_the_weakest_cells(cap, cap_cell, r, r_cell, cap_sig, r_sig):
    """BMS_Health: the weakest capacity and the highest resistance (% of the model, 0.01 %
    steps) with their cells, and their 1-sigma (0.1 % steps), saturating."""
    rig = Rig()
    out = ffi.new("bms_out_t *")
    out.cap_scale_min, out.cap_scale_min_cell, out.cap_sigma = cap, cap_cell, cap_sig
    out.r_scale_max, out.r_scale_max_cell, out.r_sigma = r, r_cell, r_sig
    layer, m = CanLayer(), meas_ptr()
    layer.inputs(DT, m)
    frames = dict(codec.decode(fid, data) for fid, data in layer.tx(rig.fw.config, m, out))
    h = frames["BMS_Health"]
    assert h["CapacityMin"] == pytest.approx(min(100 * cap, 200.0), abs=0.0051)
    assert h["CapacityMinIndex"] == min(cap_cell, 255)
    assert h["ResistanceMax"] == pytest.approx(min(100 * r, 400.0), abs=0.0051)
    assert h["ResistanceMaxIndex"] == min(r_cell, 255)
    assert h["CapacitySigma"] == pytest.approx(min(100 * cap_sig, 25.5), abs=0.051)
    assert h["ResistanceSigma"] == pytest.approx(0.0 if r_sig != r_sig else min(100 * r_sig, 25.5), abs=0.051)


@pytest.mark.parametrize(
    "chg_a, dis_a, chg_w, dis_w",
    [
        (123.456, 0.05, 48_123.4, 55_555.5),
        (0.0, 7000.0, 1e9, 0.0),  # beyond the signals: saturated
        (float("nan"), float("inf"), float("nan"), -5.0),  # not a number / negative: 0
    ],
)
def test_the_sop_message_carries_the_10s_figures_rounded_down(chg_a, dis_a, chg_w, dis_w):
    """BMS_SoP: the 10 s state of power (sop.h, index 1 of the horizons), currents in 0.1 A
    and powers in 0.01 kW, rounded down as the limits are (never above the firmware's), 0
    for a value that is not a finite number, saturated at the signals' ranges."""
    rig = Rig()
    out = ffi.new("bms_out_t *")
    for arr in ("sop_chg_a", "sop_dis_a", "sop_chg_w", "sop_dis_w"):
        getattr(out, arr)[0] = getattr(out, arr)[2] = 1.0  # the other horizons are not sent
    out.sop_chg_a[1], out.sop_dis_a[1], out.sop_chg_w[1], out.sop_dis_w[1] = chg_a, dis_a, chg_w, dis_w
    layer, m = CanLayer(), meas_ptr()
    layer.inputs(DT, m)
    frames = dict(codec.decode(fid, data) for fid, data in layer.tx(rig.fw.config, m, out))
    p = frames["BMS_SoP"]

    def down(x: float, hi: float, res: float) -> float:
        if not math.isfinite(x) or x <= 0:
            return 0.0
        v = min(float(np.float32(x)), hi)
        return math.floor(v / res + 1e-6) * res

    for sig, x, hi, res in (
        ("SopChargeCurrent10s", chg_a, 6000.0, 0.1),
        ("SopDischargeCurrent10s", dis_a, 6000.0, 0.1),
        ("SopChargePower10s", chg_w / 1000.0, 655.35, 0.01),
        ("SopDischargePower10s", dis_w / 1000.0, 655.35, 0.01),
    ):
        assert p[sig] <= max(x, 0.0) + 1e-9 or not math.isfinite(x), sig
        assert p[sig] == pytest.approx(down(x, hi, res), abs=res * 1.01), sig


@pytest.mark.parametrize(
    ("p_min", "p_max", "module", "sent_min", "sent_max", "sent_module"),
    [
        (1.2345, 3.5, 3, 1.234, 3.5, 3),  # 1 kPa resolution
        (float("nan"), float("nan"), 0, None, None, 0),  # no usable reading (or no sensor): SNA
        (-0.3, 80.0, 15, 0.0, 65.534, 15),  # beyond the signal: clamped into it
    ],
)
def test_the_pressure_message_carries_the_lowest_and_highest_module(
    p_min, p_max, module, sent_min, sent_max, sent_module
):
    """BMS_Pressure: the firmware's lowest and highest usable stack-pressure readings (MPa,
    0.001 resolution) and the module of the lowest; SNA (raw 0xFFFF) when it has none."""
    rig = Rig()
    out = ffi.new("bms_out_t *")
    out.pressure_min_mpa, out.pressure_max_mpa, out.pressure_min_sensor = p_min, p_max, module
    layer, m = CanLayer(), meas_ptr()
    layer.inputs(DT, m)
    raw = {fid: data for fid, data in layer.tx(rig.fw.config, m, out)}
    msg = codec.message("BMS_Pressure")
    data = raw[msg.frame_id]
    decoded = msg.decode(data, decode_choices=False, scaling=False)
    p = msg.decode(data, decode_choices=False)
    for sig, want in (("PressureMin", sent_min), ("PressureMax", sent_max)):
        if want is None:
            assert decoded[sig] == 0xFFFF, sig
        else:
            assert p[sig] == pytest.approx(want, abs=0.0011), sig
    assert p["PressureMinModule"] == sent_module


@pytest.mark.parametrize(
    ("announced_s", "firmware_gets"),
    [
        (1200.0, 1200.0),  # 20 minutes ahead
        (37.9, 30.0),  # rounded down to the signal's 10 s step
        (0.0, 0.0),  # now, and through the charge
        (99_999.0, 2540.0),  # beyond the signal: held at its top
        (float("nan"), None),  # none: SNA, NaN for the firmware
        (-5.0, None),
    ],
)
def test_the_vehicles_fast_charge_announcement_reaches_the_firmware(announced_s, firmware_gets):
    """VCU_Command FastChargeIn: the vehicle's announcement (the encoding of
    hil.can.partners.VehicleNode) becomes bms_meas_t.fast_charge_in_s; it lasts while the
    vehicle does: NaN once its messages are overdue."""
    from hil.can.partners import VehicleNode

    layer, m = CanLayer(), meas_ptr()
    node = VehicleNode()
    for fid, data in node.frames(0, announced_s):
        assert layer.rx(fid, data) == "ok"
    layer.inputs(DT, m)
    if firmware_gets is None:
        assert math.isnan(m.fast_charge_in_s)
    else:
        assert m.fast_charge_in_s == pytest.approx(firmware_gets)
    # the vehicle falls silent: past its timeout the announcement is gone with it
    for _ in range(codec.rx_timeout_ms(VCU) // DT + 1):
        layer.inputs(DT, m)
    assert m.comm_lost & lib.BMS_CANL_PARTNER_VEHICLE and math.isnan(m.fast_charge_in_s)
