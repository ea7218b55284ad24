"""The wire format is defined once (hil/protocol.py, construct + cobs + crc) and implemented
in C (native/src/protocol.c): random messages encoded on one side decode to the same values
on the other, and what one side builds the other rebuilds byte for byte."""

from __future__ import annotations

import struct

from cobs import cobs
from hypothesis import given, settings
from hypothesis import strategies as st

from bms._native import ffi, lib
from bms.targets.base import SOP_FIELDS, sop_slot
from hil import protocol as P

F32 = st.floats(width=32, allow_nan=True, allow_infinity=True)
U8 = st.integers(0, 0xFF)
U16 = st.integers(0, 0xFFFF)
U32 = st.integers(0, 0xFFFFFFFF)
# payloads with zeros, and with runs of non-zero bytes longer than a COBS block
PAYLOAD = st.one_of(
    st.binary(max_size=P.MAX_PAYLOAD),
    st.lists(st.integers(1, 255), min_size=250, max_size=P.MAX_PAYLOAD).map(bytes),
)


def bits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def same_f32(a: float, b: float) -> bool:
    return (a != a and b != b) or bits(a) == bits(b)


def c_feed(wire: bytes) -> tuple[list[int], object]:
    ctx = ffi.new("bms_proto_ctx_t *")
    lib.bms_proto_init(ctx)
    return [lib.bms_proto_rx_byte(ctx, b) for b in wire], ctx


def c_payload(ctx: object) -> bytes:
    return bytes(ffi.buffer(lib.bms_proto_rx_payload(ctx), ctx.hdr.length))


def c_frame(msg_type: int, seq: int, payload: bytes) -> bytes:
    ctx = ffi.new("bms_proto_ctx_t *")
    lib.bms_proto_init(ctx)
    ffi.memmove(lib.bms_proto_tx_payload(ctx), payload, len(payload))
    n = lib.bms_proto_tx_finish(ctx, msg_type, seq, len(payload))
    assert n > 0
    return bytes(ctx.buf[0:n])


def test_crc32c_check_value_and_reference():
    assert P.crc32c(b"123456789") == P.crc32c_reference(b"123456789") == 0xE3069283


@given(st.binary(max_size=3000))
def test_crc32c_c_equals_the_crc_package(data):
    assert P.crc32c(data) == P.crc32c_reference(data)


@given(PAYLOAD)
def test_cobs_c_equals_the_cobs_package(data):
    out = ffi.new("uint8_t[]", len(data) + len(data) // 254 + 2)
    n = lib.bms_proto_cobs_encode(data, len(data), out, len(out))
    assert bytes(out[0:n]) == cobs.encode(data)


@given(st.integers(1, 255), U16, PAYLOAD)
def test_frames_are_byte_identical_both_ways(msg_type, seq, payload):
    wire_py = P.encode_frame(msg_type, seq, payload)
    wire_c = c_frame(msg_type, seq, payload)  # built in place in the shared buffer
    assert wire_c == wire_py
    fr = P.decode_frame(wire_c[1:-1])
    assert (fr.version, fr.type, fr.seq, fr.payload) == (P.VERSION, msg_type, seq, payload)


@st.composite
def step_fields(draw):
    n_cells = draw(st.integers(0, 192))
    n_sensors = draw(st.integers(0, 192))
    n_pressure = draw(st.integers(0, 16))
    return dict(
        dt_ms=draw(U32),
        command=draw(U8),
        current_a=draw(F32),
        ambient_degc=draw(F32),
        pack_v=draw(F32),
        bus_v=draw(F32),
        charger_max_a=draw(F32),
        coolant_flow_lpm=draw(F32),
        fast_charge_in_s=draw(F32),
        sample_time_ms=draw(U32),
        cell_v=draw(st.lists(F32, min_size=n_cells, max_size=n_cells)),
        temp_degc=draw(st.lists(F32, min_size=n_sensors, max_size=n_sensors)),
        pressure_mpa=draw(st.lists(F32, min_size=n_pressure, max_size=n_pressure)),
    )


@settings(max_examples=60)
@given(step_fields(), U16)
def test_step_python_to_c(fields, seq):
    wire = P.encode(P.Msg.STEP, seq, fields)
    results, ctx = c_feed(wire)
    assert results[-1] == lib.BMS_PROTO_RX_FRAME and results.count(lib.BMS_PROTO_RX_FRAME) == 1
    assert (ctx.hdr.type, ctx.hdr.seq) == (P.Msg.STEP, seq)
    step = ffi.new("bms_proto_step_t *")
    meas = ffi.new("bms_meas_t *")
    payload = c_payload(ctx)
    assert lib.bms_proto_get_step(payload, len(payload), step, meas) == 0
    assert (step.dt_ms, step.command) == (fields["dt_ms"], fields["command"])
    assert (step.n_cells, step.n_sensors, step.n_pressure) == (
        len(fields["cell_v"]),
        len(fields["temp_degc"]),
        len(fields["pressure_mpa"]),
    )
    for name, cname in (
        ("current_a", "pack_current_a"),
        ("ambient_degc", "ambient_degc"),
        ("pack_v", "pack_v"),
        ("bus_v", "bus_v"),
        ("charger_max_a", "charger_max_a"),
        ("coolant_flow_lpm", "coolant_flow_lpm"),
        ("fast_charge_in_s", "fast_charge_in_s"),
    ):
        assert same_f32(getattr(meas, cname), fields[name]), name
    assert meas.sample_time_ms == fields["sample_time_ms"]
    assert all(same_f32(meas.cell_v[i], v) for i, v in enumerate(fields["cell_v"]))
    assert all(same_f32(meas.temp_degc[j], v) for j, v in enumerate(fields["temp_degc"]))
    assert all(same_f32(meas.pressure_mpa[k], v) for k, v in enumerate(fields["pressure_mpa"]))


@given(st.sampled_from(list(P.ConfigOp)), U32, U32, st.binary(max_size=P.CONFIG_CHUNK), U16)
def test_config_python_to_c(op, value, crc, data, seq):
    if op != P.ConfigOp.DATA:
        data = b""
    wire = P.encode(P.Msg.CONFIG, seq, dict(op=op, value=value, crc=crc, data=data))
    results, ctx = c_feed(wire)
    assert results[-1] == lib.BMS_PROTO_RX_FRAME
    m = ffi.new("bms_proto_config_t *")
    payload = c_payload(ctx)
    assert lib.bms_proto_get_config(payload, len(payload), m) == 0
    assert (m.op, m.value, m.crc, m.data_len) == (op, value, crc, len(data))
    assert payload[m.data_offset : m.data_offset + m.data_len] == data


@st.composite
def out_fields(draw):
    n = draw(st.integers(0, 192))
    d = {name: draw(F32) for name in P.STATE_FLOATS}
    d.update({name: draw(U32) for name in P.STATE_WORDS})
    d.update({name: draw(U8) for name in P.STATE_BYTES})
    d.update(
        soc=draw(st.lists(F32, min_size=n, max_size=n)),
        core_temp_degc=draw(st.lists(F32, min_size=n, max_size=n)),
        bal_cmd=draw(st.binary(min_size=24, max_size=24)),
        cycles=draw(U32),
        cmd_result=draw(st.integers(-128, 127)),
        flags=draw(U8),
    )
    return d


@settings(max_examples=60)
@given(out_fields())
def test_state_c_to_python_and_back(d):
    out = ffi.new("bms_out_t *")
    for name in (*P.STATE_FLOATS, *P.STATE_WORDS, *P.STATE_BYTES):
        if name in SOP_FIELDS:  # the state of power: arrays over the horizons in bms_out_t
            arr, k = sop_slot(name)
            getattr(out, arr)[k] = d[name]
        else:
            setattr(out, name, d[name])
    n = len(d["soc"])
    inst = ffi.new("bms_t *")  # the per-cell estimates come from the instance
    inst.cfg.pack.n_cells = n
    for i in range(n):
        inst.ekf[i].soc = d["soc"][i]
        inst.thermal[i].t_core_degc = d["core_temp_degc"][i]
    for k, b in enumerate(d["bal_cmd"]):
        inst.bal.cmd[k] = b
    buf = ffi.new("uint8_t[]", P.MAX_PAYLOAD)
    length = lib.bms_proto_put_state(buf, inst, out, n, d["cycles"], d["cmd_result"], d["flags"])
    c_bytes = bytes(buf[0:length])
    r = P.parse_payload(P.Msg.STATE, c_bytes)
    assert (r.n_cells, r.cycles, r.cmd_result, r.flags) == (n, d["cycles"], d["cmd_result"], d["flags"])
    for name in P.STATE_FLOATS:
        assert same_f32(r[name], d[name]), name
    for name in (*P.STATE_WORDS, *P.STATE_BYTES):
        assert r[name] == d[name], name
    assert all(same_f32(a, b) for a, b in zip(r.soc, d["soc"], strict=True))
    assert all(same_f32(a, b) for a, b in zip(r.core_temp_degc, d["core_temp_degc"], strict=True))
    assert bytes(r.bal_mask) == d["bal_cmd"][: (n + 7) // 8]  # the bytes that hold the n cells
    assert P.STATE.build(r) == c_bytes


@given(
    st.fixed_dictionaries(
        {
            "fw_major": U8,
            "fw_minor": U8,
            "max_cells": U16,
            "max_sensors": U16,
            "max_payload": U16,
            "config_size": U32,
            "layout_hash": U32,
            "source_hash": U32,
            "config_hash": U32,
            "configured": U8,
            "counter_kind": U8,
            "counter_hz": U32,
            "cal_insns": U32,
            "cal_ticks": U32,
            "board": st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=15),
        }
    )
)
def test_hello_c_to_python_and_back(d):
    h = ffi.new("bms_proto_hello_t *")
    for k, v in d.items():
        if k == "board":
            raw = v.encode()
            ffi.memmove(h.board, raw, len(raw))
        else:
            setattr(h, k, v)
    buf = ffi.new("uint8_t[]", P.MAX_PAYLOAD)
    c_bytes = bytes(buf[0 : lib.bms_proto_put_hello(buf, h)])
    r = P.parse_payload(P.Msg.HELLO, c_bytes)
    assert {k: r[k] for k in d} == d
    assert P.HELLO.build(r) == c_bytes


@given(st.lists(U32, min_size=len(P.STATS_FIELDS), max_size=len(P.STATS_FIELDS)))
def test_stats_c_to_python_and_back(values):
    s = ffi.new("bms_proto_stats_t *")
    for name, v in zip(P.STATS_FIELDS, values, strict=True):
        setattr(s, name, v)
    buf = ffi.new("uint8_t[]", P.MAX_PAYLOAD)
    c_bytes = bytes(buf[0 : lib.bms_proto_put_stats(buf, s)])
    r = P.parse_payload(P.Msg.STATS, c_bytes)
    assert [r[k] for k in P.STATS_FIELDS] == values
    assert P.STATS.build(r) == c_bytes


@given(U8, U8, st.integers(-(2**31), 2**31 - 1), U32, U32, st.integers(-(2**31), 2**31 - 1))
def test_error_config_and_command_replies(code, req, detail, received, cfg_hash, result):
    buf = ffi.new("uint8_t[]", 64)
    e = bytes(buf[0 : lib.bms_proto_put_error(buf, code, req, detail)])
    r = P.parse_payload(P.Msg.ERROR, e)
    assert (r.code, r.request_type, r.detail) == (code, req, detail)
    assert P.ERROR.build(dict(code=code, request_type=req, detail=detail)) == e
    c = bytes(buf[0 : lib.bms_proto_put_config_reply(buf, req, received, cfg_hash)])
    r = P.parse_payload(P.Msg.CONFIG, c)
    assert (r.op, r.received, r.config_hash) == (req, received, cfg_hash)
    assert P.CONFIG_REPLY.build(r) == c
    m = bytes(buf[0 : lib.bms_proto_put_command_reply(buf, req, result)])
    r = P.parse_payload(P.Msg.COMMAND, m)
    assert (r.cmd, r.result) == (req, result)
    assert P.COMMAND_REPLY.build(r) == m


def c_verdict(chunk: bytes) -> str:
    """What the C decoder makes of one chunk between delimiters: a counter name or 'ok'."""
    results, ctx = c_feed(b"\x00" + chunk + b"\x00")
    stats = {k: getattr(ctx.stats, k) for k in P.STATS_FIELDS if k != "stack_free"}
    moved = [
        k for k in ("framing_errors", "oversize", "truncated", "length_errors", "crc_errors") if stats[k]
    ]
    assert len(moved) <= 1
    if moved:
        assert results[-1] == lib.BMS_PROTO_RX_DROPPED
        return moved[0]
    assert stats["frames_ok"] == 1
    return "ok"


def py_verdict(chunk: bytes) -> str:
    try:
        P.decode_frame(chunk)
    except P.ProtocolError as exc:
        return exc.kind
    return "ok"


@st.composite
def damaged_frames(draw):
    """A valid frame, then cut, extended, bit-flipped or replaced, COBS-encoded again."""
    raw = P.frame_bytes(draw(U8), draw(U16), draw(st.binary(max_size=300)))
    how = draw(st.sampled_from(["cut", "extend", "flip", "random", "none"]))
    if how == "cut":
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif how == "extend":
        raw = raw + draw(st.binary(min_size=1, max_size=20))
    elif how == "flip":
        i = draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([raw[i] ^ (1 << draw(st.integers(0, 7)))]) + raw[i + 1 :]
    elif how == "random":
        raw = draw(st.binary(max_size=400))
    return cobs.encode(raw) if raw else b""


@settings(max_examples=300)
@given(
    st.one_of(
        damaged_frames(), st.binary(min_size=1, max_size=600).map(lambda b: b.replace(b"\x00", b"\x01"))
    )
)
def test_both_decoders_classify_broken_frames_alike(chunk):
    if not chunk:
        return
    assert c_verdict(chunk) == py_verdict(chunk)


def test_oversize_frames_alike():
    chunk = cobs.encode(bytes(i % 251 + 1 for i in range(P.MAX_FRAME + 50)))
    assert c_verdict(chunk) == py_verdict(chunk) == "oversize"
