"""The DBC is the single source of truth: it parses cleanly, the committed C is what cantools
generates from it, the functions its comments name exist, every signal the firmware and the
harness use is in it, and cantools and the generated C agree on every message."""

from __future__ import annotations

import re
import runpy
import warnings
from pathlib import Path

import cantools
import pytest
from cantools.database.can.c_source import camel_to_snake_case
from hypothesis import given, settings
from hypothesis import strategies as st

from bms._native import ffi, lib
from hil.can import codec
from hil.can.layer import RX_MESSAGES, TX_MESSAGES

ROOT = Path(__file__).resolve().parents[2]
GEN = ROOT / "native" / "gen"
DB = codec.database()
MESSAGES = sorted(DB.messages, key=lambda m: m.frame_id)


def test_dbc_parses_strictly_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        db = cantools.database.load_file(str(codec.DBC_PATH), strict=True)
    assert {m.name for m in db.messages} == set(RX_MESSAGES) | set(TX_MESSAGES)
    assert {n.name for n in db.nodes} == {"BMS", "VCU", "CHARGER"}


def test_every_message_has_its_timing():
    for m in MESSAGES:
        assert codec.cycle_ms(m) > 0, m.name
        if m.senders == ["BMS"]:
            assert m.name in TX_MESSAGES
        else:
            assert m.name in RX_MESSAGES
            assert codec.rx_timeout_ms(m) >= 2 * codec.cycle_ms(m), m.name  # one lost frame is no timeout


def test_committed_c_is_what_cantools_generates(tmp_path):
    gen = runpy.run_path(str(ROOT / "native" / "tools" / "can_gen.py"))
    for path in gen["generate"](tmp_path):
        assert path.read_text() == (GEN / path.name).read_text(), (
            f"native/gen/{path.name} is stale: run python native/tools/can_gen.py"
        )


def test_functions_named_in_the_comments_exist():
    sources = "".join(p.read_text() for p in (ROOT / "native" / "src").glob("*.c"))
    for m in MESSAGES:
        found = re.findall(r"(?:Sent|Received) by (\w+) \((native/src/\w+\.c)\)", m.comment or "")
        assert found, f"{m.name}: the comment names no C function"
        for func, path in found:
            assert hasattr(lib, func), f"{m.name}: {func} is not in the firmware"
            assert re.search(rf"\b{func}\s*\(", (ROOT / path).read_text()), f"{func} not defined in {path}"
            assert func in sources
        verb = "Sent" if m.senders == ["BMS"] else "Received"
        assert (m.comment or "").startswith(verb), m.name


def _signals_used_by_the_firmware() -> set[tuple[str, str]]:
    """(message, signal) in snake case for each struct field and generated scaling function
    native/src/can_layer.c uses."""
    text = (ROOT / "native" / "src" / "can_layer.c").read_text()
    used = set()
    parts = re.split(r"struct bms_can_(\w+)_t m;", text)
    for msg, body in zip(parts[1::2], parts[2::2], strict=True):
        body = body.split("\nstatic ", 1)[0]
        used |= {(msg, f) for f in re.findall(r"\bm\.(\w+)", body)}
    msgs = {camel_to_snake_case(m.name) for m in MESSAGES}
    for name in re.findall(r"\bbms_can_(\w+?)_(?:encode|decode|is_in_range)\b", text):
        msg = next((p for p in sorted(msgs, key=len, reverse=True) if name.startswith(p + "_")), None)
        assert msg is not None, f"bms_can_{name}: no such message in the DBC"
        used.add((msg, name[len(msg) + 1 :]))
    return used


def test_every_signal_the_firmware_uses_is_in_the_dbc():
    dbc = {(camel_to_snake_case(m.name), camel_to_snake_case(s.name)) for m in MESSAGES for s in m.signals}
    used = _signals_used_by_the_firmware()
    assert len(used) >= 40  # the parse found the layer's signals (not vacuous)
    assert used <= dbc, f"used by can_layer.c, missing in the DBC: {sorted(used - dbc)}"
    # and the layer maps every signal of the messages it handles
    handled = {m for m, _ in used}
    assert {s for s in dbc if s[0] in handled} <= used | {
        s for s in dbc if s[0] in handled and s[1].endswith(("_counter", "_checksum"))
    }


def test_a_renamed_signal_would_be_caught():
    # the check above on a DBC with one signal renamed
    dbc = {(camel_to_snake_case(m.name), camel_to_snake_case(s.name)) for m in MESSAGES for s in m.signals}
    renamed = (dbc - {("bms_limits", "charge_current_limit")}) | {("bms_limits", "charge_current_max")}
    assert not _signals_used_by_the_firmware() <= renamed


def _raw_range(sig) -> tuple[int, int]:
    if sig.is_signed:
        return -(1 << (sig.length - 1)), (1 << (sig.length - 1)) - 1
    return 0, (1 << sig.length) - 1


@st.composite
def raw_message(draw):
    m = draw(st.sampled_from(MESSAGES))
    return m, {s.name: draw(st.integers(*_raw_range(s))) for s in m.signals}


def _c_names(m) -> tuple[str, dict[str, str]]:
    return camel_to_snake_case(m.name), {s.name: camel_to_snake_case(s.name) for s in m.signals}


@settings(max_examples=400, deadline=None)
@given(raw_message())
def test_cantools_encoded_frames_unpack_identically_in_c(mr):
    m, raw = mr
    snake, fields = _c_names(m)
    data = m.encode(raw, scaling=False, strict=False)
    dst = ffi.new(f"struct bms_can_{snake}_t *")
    assert getattr(lib, f"bms_can_{snake}_unpack")(dst, data, len(data)) == 0
    for name, field in fields.items():
        value = getattr(dst, field)
        assert value == raw[name], name
        sig = m.get_signal_by_name(name)
        c_phys = getattr(lib, f"bms_can_{snake}_{field}_decode")(value)
        py_phys = sig.conversion.raw_to_scaled(raw[name], decode_choices=False)
        assert c_phys == pytest.approx(py_phys, rel=1e-6, abs=1e-6 * abs(sig.scale)), name


@settings(max_examples=400, deadline=None)
@given(raw_message())
def test_c_packed_frames_decode_identically_in_cantools(mr):
    m, raw = mr
    snake, fields = _c_names(m)
    src = ffi.new(f"struct bms_can_{snake}_t *")
    for name, field in fields.items():
        setattr(src, field, raw[name])
    buf = ffi.new("uint8_t[8]")
    assert getattr(lib, f"bms_can_{snake}_pack")(buf, src, 8) == m.length
    decoded = m.decode(bytes(ffi.buffer(buf, m.length)), scaling=False, decode_choices=False)
    assert decoded == raw
    # the C encoder of each physical value gives the raw value cantools gives
    for name, field in fields.items():
        sig = m.get_signal_by_name(name)
        lo = sig.conversion.scaled_to_raw(sig.minimum) if sig.minimum is not None else _raw_range(sig)[0]
        hi = sig.conversion.scaled_to_raw(sig.maximum) if sig.maximum is not None else _raw_range(sig)[1]
        r = raw[name]
        if lo <= r <= hi and abs(r) < (1 << 24):  # within the DBC range, exact in float32
            phys = sig.conversion.raw_to_scaled(r, decode_choices=False)
            assert getattr(lib, f"bms_can_{snake}_{field}_encode")(phys) == r, name
            assert sig.conversion.scaled_to_raw(phys) == r
