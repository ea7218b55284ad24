"""hil's transports, registered in the core's target registry (bms.targets.registry) through
the `bms.targets` entry-point group (setup.py). Each factory imports its transport only when
a target of that kind is opened."""

from __future__ import annotations

from typing import Any

from bms.targets.base import Target, TargetError
from bms.targets.registry import Backend


def _open_wire(arg: str, **kw: Any) -> Target:
    from hil.targets.wire import WireTarget

    return WireTarget(**kw)


def _open_qemu(arg: str, **kw: Any) -> Target:
    from hil.targets.qemu import QemuTarget

    return QemuTarget(**kw)


def _open_serial(arg: str, **kw: Any) -> Target:
    from hil.targets.serial import SerialTarget

    return SerialTarget(arg, **kw)


def _open_can(arg: str, **kw: Any) -> Target:
    from hil.can.codec import CanError
    from hil.targets.can import CanTarget

    try:
        return CanTarget(arg or "virtual", **kw)
    except CanError as exc:  # an unknown bus name: the spec is wrong
        raise TargetError(str(exc)) from None


SIM_WIRE = Backend("sim-wire", _open_wire, frozenset({"sim", "inprocess", "wire"}), "sim-wire", "none")
QEMU = Backend(
    "qemu", _open_qemu, frozenset({"qemu", "emulated", "wire", "cycles", "needs_process"}), "qemu", "none"
)
SERIAL = Backend(
    "serial",
    _open_serial,
    frozenset({"hardware", "wire", "serial"}),
    "serial:URL",
    "required",
    "a port or pyserial URL (serial:/dev/ttyACM0, serial:socket://HOST:PORT)",
)
CAN = Backend(
    "can",
    _open_can,
    frozenset({"can", "inprocess", "bus"}),
    "can:BUS (can:virtual, can:udp_multicast, can:socketcan:IFACE, can:slcan:URL_A,URL_B)",
    "optional",
)
