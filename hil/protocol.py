"""The HIL wire protocol, described once with construct (the C side: native/src/protocol.c).

Frame before COBS: header (u8 version, u8 type, u16 seq, u16 length) | payload | CRC-32C
(Castagnoli, over header + payload), all little-endian. On the wire: 0x00, COBS(frame), 0x00.
Every request gets one reply with its seq (HELLO->HELLO, CONFIG->CONFIG, STEP->STATE,
COMMAND->COMMAND, RESET->RESET, STATS->STATS) or an ERROR.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from cobs import cobs
from construct import (
    Array,
    Bytes,
    Checksum,
    ChecksumError,
    Construct,
    ConstructError,
    Default,
    Float32l,
    Int8sl,
    Int8ul,
    Int16ul,
    Int32sl,
    Int32ul,
    PaddedString,
    Padding,
    RawCopy,
    Rebuild,
    Struct,
    len_,
    this,
)
from crc import Calculator, Configuration

from bms._native import lib
from bms.errors import BmsError
from bms.targets.base import SOP_FIELDS

VERSION = 1
HEADER_LEN = 6
CRC_LEN = 4
MAX_PAYLOAD = 1752
MAX_FRAME = HEADER_LEN + MAX_PAYLOAD + CRC_LEN
CONFIG_CHUNK = 1024


class Msg(IntEnum):
    HELLO = 1
    CONFIG = 2
    STEP = 3
    STATE = 4
    COMMAND = 5
    RESET = 6
    STATS = 7
    ERROR = 8


class ConfigOp(IntEnum):
    BEGIN = 0
    DATA = 1
    COMMIT = 2


class Counter(IntEnum):
    NONE = 0
    SYSTICK = 1  # core clock: cycles on silicon, instructions under QEMU -icount
    DWT = 2  # DWT CYCCNT: core cycles


RESET_FIRMWARE = 1
RESET_STATS = 2
STATE_CYCLES_VALID = 1

# ERROR codes and what they mean to a user (detail in parentheses)
ERRORS = {
    1: "wrong protocol version (firmware speaks {detail})",
    2: "unknown or non-request message type ({detail})",
    3: "payload does not fit its message type",
    4: "the firmware is not configured: configure() first",
    5: "configuration size differs (firmware's bms_config_t is {detail} bytes)",
    6: "configuration download out of sequence (firmware has {detail} bytes)",
    7: "configuration CRC mismatch (firmware computed 0x{detail_hex})",
    8: "firmware refused the configuration (bms_config_check {detail}); it is now unconfigured",
    9: "configuration download cancelled (no longer sent by this firmware)",
    10: "measurement shape differs from the configuration (cells << 16 | sensors = 0x{detail_hex})",
    11: "bad command ({detail})",
    12: "bms_step failed ({detail})",
    13: "firmware fault (pc 0x{detail_hex})",
    14: "the firmware refuses a configuration while its contactors are not open (contactor state "
    "{detail}): open the contactors first (command 'open', then step until they are open)",
}
E_NOT_CONFIGURED = 4
E_CONFIG_REJECTED = 8
E_CONFIG_BUSY = 14

# CRC-32C (Castagnoli): the definition, as the `crc` package computes it.
CRC32C = Configuration(
    width=32,
    polynomial=0x1EDC6F41,
    init_value=0xFFFFFFFF,
    final_xor_value=0xFFFFFFFF,
    reverse_input=True,
    reverse_output=True,
)
_crc_reference = Calculator(CRC32C, optimized=True)


def crc32c_reference(data: bytes) -> int:
    """CRC-32C by the `crc` package (pure Python, ~2.5 us per byte)."""
    return int(_crc_reference.checksum(data))


def crc32c(data: bytes) -> int:
    """CRC-32C by the firmware's own C function (through cffi: the lock-step loop needs it
    fast); tests/hil checks it against crc32c_reference."""
    return int(lib.bms_proto_crc32c(data, len(data)))


HEADER = Struct("version" / Int8ul, "type" / Int8ul, "seq" / Int16ul, "length" / Int16ul)

FRAME = Struct(
    "body"
    / RawCopy(
        Struct(
            "header" / HEADER,
            "payload" / Bytes(this.header.length),
        )
    ),
    "crc" / Checksum(Int32ul, lambda data: crc32c(data), this.body.data),
)

EMPTY = Struct()

HELLO = Struct(
    "fw_major" / Int8ul,
    "fw_minor" / Int8ul,
    "max_cells" / Int16ul,
    "max_sensors" / Int16ul,
    "max_payload" / Int16ul,
    "config_size" / Int32ul,
    "layout_hash" / Int32ul,
    "source_hash" / Int32ul,
    "config_hash" / Int32ul,
    "configured" / Int8ul,
    "counter_kind" / Int8ul,
    Padding(2),
    "counter_hz" / Int32ul,
    "cal_insns" / Int32ul,
    "cal_ticks" / Int32ul,
    "board" / PaddedString(16, "ascii"),
)

CONFIG = Struct(
    "op" / Int8ul,
    Padding(1),
    "data_len" / Rebuild(Int16ul, len_(this.data)),
    "value" / Int32ul,
    "crc" / Int32ul,
    "data" / Bytes(this.data_len),
)

CONFIG_REPLY = Struct("op" / Int8ul, Padding(3), "received" / Int32ul, "config_hash" / Int32ul)

STEP = Struct(
    "dt_ms" / Int32ul,
    "command" / Int8ul,
    Padding(1),
    "n_cells" / Rebuild(Int16ul, len_(this.cell_v)),
    "n_sensors" / Rebuild(Int16ul, len_(this.temp_degc)),
    # a pack without pressure sensors may leave pressure_mpa out of the fields
    "n_pressure" / Rebuild(Int16ul, lambda ctx: len(ctx.get("pressure_mpa") or ())),
    "current_a" / Float32l,
    "ambient_degc" / Float32l,
    "pack_v" / Float32l,
    "bus_v" / Float32l,
    "charger_max_a" / Float32l,
    "coolant_flow_lpm" / Float32l,
    "fast_charge_in_s" / Float32l,
    "sample_time_ms" / Int32ul,
    "cell_v" / Array(this.n_cells, Float32l),
    "temp_degc" / Array(this.n_sensors, Float32l),
    "pressure_mpa" / Default(Array(this.n_pressure, Float32l), []),  # stack pressure per module (MPa)
)

STATE_FLOATS = (
    "soc_min",
    "soc_max",
    "soc_mean",
    "soc_pack",
    "core_temp_max_degc",
    "cell_v_max",
    "cell_v_min",
    "temp_min_degc",
    "temp_max_degc",
    "ccl_a",
    "dcl_a",
    "model_nis_max",
    "cap_scale_min",
    "cap_sigma",
    "r_scale_max",
    "r_sigma",
    "pressure_min_mpa",
    "pressure_max_mpa",
    *SOP_FIELDS,  # state of power: per horizon the charge / discharge current and power
)
STATE_WORDS = (
    "ccl_limit",
    "dcl_limit",
    "faults",
    "warnings",
    "derates",
    "contactor_state",
    "status",
    "time_ms",
    "model_mismatch_cells",
    "cap_scale_min_cell",
    "r_scale_max_cell",
    "soh_updates",
    "bal_cells",
    "pressure_min_sensor",
    "contactor_counts",  # breaks under load << 16 | refused << 8 | illegal
)
STATE_BYTES = ("charge_complete", "heater_request", "cooling_request", "bal_test")

STATE = Struct(
    "n_cells" / Rebuild(Int16ul, len_(this.soc)),
    "cmd_result" / Int8sl,
    "flags" / Int8ul,
    "cycles" / Int32ul,
    *(name / Float32l for name in STATE_FLOATS),
    *(name / Int32ul for name in STATE_WORDS),
    *(name / Int8ul for name in STATE_BYTES),
    "soc" / Array(this.n_cells, Float32l),
    "core_temp_degc" / Array(this.n_cells, Float32l),
    "bal_mask" / Bytes((this.n_cells + 7) // 8),  # bit i of byte i // 8: cell i's switch
)

COMMAND = Struct("cmd" / Int8ul, Padding(3))
COMMAND_REPLY = Struct("cmd" / Int8ul, Padding(3), "result" / Int32sl)
RESET = Struct("flags" / Int8ul, Padding(3))

STATS_FIELDS = (
    "rx_bytes",
    "frames_ok",
    "crc_errors",
    "framing_errors",
    "oversize",
    "truncated",
    "length_errors",
    "bad_version",
    "unknown_type",
    "bad_payload",
    "rx_overruns",
    "frames_tx",
    "errors_tx",
    "steps",
    "stack_free",
)
STATS = Struct(*(name / Int32ul for name in STATS_FIELDS))

ERROR = Struct("code" / Int8ul, "request_type" / Int8ul, Padding(2), "detail" / Int32sl)

# payload layout per (type, direction)
REQUESTS: dict[Msg, Construct] = {
    Msg.HELLO: EMPTY,
    Msg.CONFIG: CONFIG,
    Msg.STEP: STEP,
    Msg.COMMAND: COMMAND,
    Msg.RESET: RESET,
    Msg.STATS: EMPTY,
}
REPLIES: dict[Msg, Construct] = {
    Msg.HELLO: HELLO,
    Msg.CONFIG: CONFIG_REPLY,
    Msg.STATE: STATE,
    Msg.COMMAND: COMMAND_REPLY,
    Msg.RESET: RESET,
    Msg.STATS: STATS,
    Msg.ERROR: ERROR,
}
REPLY_TO = {
    Msg.HELLO: Msg.HELLO,
    Msg.CONFIG: Msg.CONFIG,
    Msg.STEP: Msg.STATE,
    Msg.COMMAND: Msg.COMMAND,
    Msg.RESET: Msg.RESET,
    Msg.STATS: Msg.STATS,
}


class ProtocolError(BmsError):
    """A frame that cannot be decoded; kind names the STATS counter it matches."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Frame:
    version: int
    type: int
    seq: int
    payload: bytes


def frame_bytes(msg_type: int, seq: int, payload: bytes, version: int = VERSION) -> bytes:
    """The raw frame (header, payload, CRC) before COBS."""
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes does not fit the 16-bit length")
    return FRAME.build(
        {
            "body": {
                "value": {
                    "header": dict(version=version, type=msg_type, seq=seq, length=len(payload)),
                    "payload": payload,
                }
            }
        }
    )


def wire(raw_frame: bytes) -> bytes:
    """COBS with a leading and a trailing delimiter."""
    return b"\x00" + cobs.encode(raw_frame) + b"\x00"


def encode_frame(msg_type: int, seq: int, payload: bytes, version: int = VERSION) -> bytes:
    return wire(frame_bytes(msg_type, seq, payload, version))


def build_payload(msg_type: Msg, fields: dict[str, Any], reply: bool = False) -> bytes:
    table = REPLIES if reply else REQUESTS
    if msg_type not in table:
        raise ValueError(f"{msg_type.name} is not a {'reply' if reply else 'request'}")
    return table[msg_type].build(fields)


def encode(msg_type: Msg, seq: int, fields: dict[str, Any] | None = None, reply: bool = False) -> bytes:
    return encode_frame(int(msg_type), seq, build_payload(msg_type, fields or {}, reply))


def decode_frame(encoded: bytes) -> Frame:
    """One frame between delimiters (COBS-encoded, without the zeros)."""
    try:
        raw = cobs.decode(encoded)
    except cobs.DecodeError as exc:
        raise ProtocolError("framing_errors", f"COBS framing error: {exc}") from None
    if len(raw) > MAX_FRAME:
        raise ProtocolError("oversize", f"frame of {len(raw)} bytes is longer than {MAX_FRAME}")
    if len(raw) < HEADER_LEN + CRC_LEN:
        raise ProtocolError("truncated", f"frame of {len(raw)} bytes is shorter than header + CRC")
    hdr = HEADER.parse(raw[:HEADER_LEN])
    expect = HEADER_LEN + hdr.length + CRC_LEN
    if len(raw) < expect:
        raise ProtocolError("truncated", f"frame of {len(raw)} bytes, its header says {expect}")
    if len(raw) > expect or hdr.length > MAX_PAYLOAD:
        raise ProtocolError("length_errors", f"frame of {len(raw)} bytes, its header says {expect}")
    try:
        parsed = FRAME.parse(raw)
    except ChecksumError:
        raise ProtocolError("crc_errors", "CRC mismatch") from None
    h = parsed.body.value.header
    return Frame(h.version, h.type, h.seq, bytes(parsed.body.value.payload))


def parse_payload(msg_type: int, payload: bytes, reply: bool = True) -> Any:
    table = REPLIES if reply else REQUESTS
    try:
        layout = table[Msg(msg_type)]
    except (ValueError, KeyError):
        raise ProtocolError("unknown_type", f"unknown message type {msg_type}") from None
    try:
        obj = layout.parse(payload)
    except ConstructError as exc:
        raise ProtocolError("bad_payload", f"{Msg(msg_type).name} payload: {exc}") from None
    if len(layout.build(obj)) != len(payload):
        raise ProtocolError(
            "bad_payload", f"{Msg(msg_type).name} payload of {len(payload)} bytes has extra bytes"
        )
    return obj


def describe_error(code: int, detail: int) -> str:
    text = ERRORS.get(code, f"error {code} ({{detail}})")
    return text.format(detail=detail, detail_hex=f"{detail & 0xFFFFFFFF:08x}")


class FrameSplitter:
    """Cuts a byte stream at the zero delimiters; empty frames are skipped, a frame longer
    than max_frame is dropped up to its delimiter (and counted)."""

    def __init__(self, max_frame: int = 2 * (HEADER_LEN + MAX_PAYLOAD + CRC_LEN)) -> None:
        self._buf = bytearray()
        self._max = max_frame
        self._discard = False
        self.oversize = 0

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        parts = data.split(b"\x00")
        for i, part in enumerate(parts):
            if not self._discard:
                self._buf += part
                if len(self._buf) > self._max:
                    self.oversize += 1
                    self._discard = True
                    self._buf.clear()
            if i < len(parts) - 1:  # a delimiter follows this part
                if not self._discard and self._buf:
                    out.append(bytes(self._buf))
                self._buf.clear()
                self._discard = False
        return out
