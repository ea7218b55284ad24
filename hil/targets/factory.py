"""Targets by name, as `--target` / `--bms-target` take them: sim, sim-wire, qemu, serial:URL."""

from __future__ import annotations

from typing import Any

from hil.targets.base import Target, TargetError

NAMES = ("sim", "sim-wire", "qemu", "serial:URL", "can:BUS")


def open_target(spec: str, **kwargs: Any) -> Target:
    """sim: the firmware in-process (cffi); sim-wire: the same through the wire protocol;
    qemu: the mps2-an386 image in QEMU (kwargs go to QemuTarget); serial:URL: a board or
    anything else on a pyserial URL (kwargs go to SerialTarget); can:BUS: the firmware with
    its CAN layer on a python-can bus (hil/can/bus.py; kwargs go to CanTarget)."""
    if spec == "sim":
        from hil.targets.inprocess import InProcessTarget

        return InProcessTarget()
    if spec == "sim-wire":
        from hil.targets.wire import WireTarget

        return WireTarget()
    if spec == "qemu":
        from hil.targets.qemu import QemuTarget

        return QemuTarget(**kwargs)
    if spec == "can" or spec.startswith("can:"):
        from hil.can.codec import CanError
        from hil.targets.can import CanTarget

        try:
            return CanTarget(spec.partition(":")[2] or "virtual", **kwargs)
        except CanError as exc:  # an unknown bus name: the spec is wrong, as below
            raise TargetError(f"target '{spec}': {exc}") from None
    if spec.startswith("serial:") and spec[len("serial:") :].strip():
        from hil.targets.serial import SerialTarget

        return SerialTarget(spec[len("serial:") :], **kwargs)
    raise TargetError(f"unknown target '{spec}': use one of {', '.join(NAMES)}")
