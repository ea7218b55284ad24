"""The DBC, read once with cantools, and the frames the bus partners send.

The received messages of the BMS (charger, vehicle) carry an alive counter and a CRC-8
SAE J1850 over the identifier's two low bytes and the other data bytes (the frame's last
byte); the CRC here comes from the `crc` package, independently of the firmware's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cantools
from cantools.database.can import Database, Message
from crc import Calculator, Crc8

from bms.errors import BmsError

DBC_PATH = Path(__file__).resolve().parents[2] / "bms" / "data" / "can" / "bms.dbc"
BMS_NODE = "BMS"
_CRC8 = Calculator(Crc8.SAEJ1850)


class CanError(BmsError, RuntimeError):
    """A frame or a signal the DBC does not allow (a RuntimeError too, as it always was)."""


@functools.cache
def database(path: Path = DBC_PATH) -> Database:
    """The DBC, strictly parsed (overlapping or out-of-frame signals are errors)."""
    if not path.is_file():
        raise CanError(f"DBC not found: {path}")
    return cantools.database.load_file(str(path), strict=True)


def message(name: str) -> Message:
    try:
        return database().get_message_by_name(name)
    except KeyError:
        raise CanError(f"message '{name}' is not in {DBC_PATH.name}") from None


def crc8(frame_id: int, body: bytes) -> int:
    """CRC-8 SAE J1850 over the identifier (2 bytes, little-endian) and the body."""
    return _CRC8.checksum(bytes([frame_id & 0xFF, (frame_id >> 8) & 0xFF]) + bytes(body))


def protection_signals(msg: Message) -> tuple[str, str]:
    """The (counter, checksum) signal names of a protected message."""
    counter = [s.name for s in msg.signals if s.name.endswith("Counter")]
    checksum = [s.name for s in msg.signals if s.name.endswith("Checksum")]
    if len(counter) != 1 or len(checksum) != 1:
        raise CanError(f"{msg.name} has no alive counter / checksum pair")
    return counter[0], checksum[0]


def cycle_ms(msg: Message) -> int:
    if not msg.cycle_time:
        raise CanError(f"{msg.name} has no GenMsgCycleTime")
    return int(msg.cycle_time)


def rx_timeout_ms(msg: Message) -> int:
    """The message's RxTimeoutTime attribute (received messages only)."""
    attr = msg.dbc.attributes.get("RxTimeoutTime") if msg.dbc is not None else None
    if attr is None or not int(attr.value):
        raise CanError(f"{msg.name} has no RxTimeoutTime")
    return int(attr.value)


@dataclass
class ProtectedSender:
    """Encodes one received-by-the-BMS message with its alive counter and CRC."""

    name: str
    counter: int = 0

    def encode(self, signals: dict[str, Any], *, scaling: bool = True, strict: bool = True) -> bytes:
        """The frame's data; strict=False lets a value outside the DBC range through (to test
        the receiver). A signal not given goes out as its "not available" value (the DBC's SNA
        choice); one without an SNA must be given."""
        msg = message(self.name)
        counter_sig, checksum_sig = protection_signals(msg)
        values = {**signals, counter_sig: self.counter, checksum_sig: 0}
        for sig in msg.signals:
            if sig.name in values:
                continue
            sna = next((raw for raw, name in (sig.choices or {}).items() if str(name) == "SNA"), None)
            if sna is None:
                raise CanError(f"{msg.name}: signal {sig.name} not given and it has no SNA value")
            values[sig.name] = sig.scale * sna + sig.offset if scaling else sna
        data = bytearray(msg.encode(values, scaling=scaling, strict=strict))
        data[-1] = crc8(msg.frame_id, data[:-1])
        self.counter = (self.counter + 1) & 0xF
        return bytes(data)


def decode(frame_id: int, data: bytes) -> tuple[str, dict[str, Any]]:
    """(message name, physical signal values) of a frame; CanError for unknown ids or bad lengths."""
    try:
        msg = database().get_message_by_frame_id(frame_id)
    except KeyError:
        raise CanError(f"unknown frame id 0x{frame_id:03x}") from None
    if len(data) != msg.length:
        raise CanError(f"{msg.name}: {len(data)} data bytes, the DBC says {msg.length}")
    return msg.name, msg.decode(data, decode_choices=False, scaling=True)
