"""The firmware with its CAN layer on a python-can bus, and its partners on the same bus.

    plant -> sensors -> firmware (in-process) <- CAN layer <- bus <- charger / vehicle nodes
                                              -> CAN layer -> bus -> charger / vehicle nodes

The sensor readings reach the firmware directly, as on a BMS board; what a car carries on
CAN travels as frames: the vehicle's contactor requests and fault resets, the charger's
status and own limit (bms_meas_t.charger_max_a comes from CHG_Limits), and the BMS's
limits, states and extremes. `State.limits_bus` is the (CCL, DCL) *as decoded from
BMS_Limits* (0.1 A resolution, rounded down), which the charger in the loop obeys;
`State.ccl_a` / `dcl_a` stay the firmware's own values.

Lock-step over an asynchronous bus: each step the partners send their due frames and the
BMS side waits for exactly those (then the BMS's due frames, and the partners wait for
them); a frame that does not arrive within `timeout_s` is a TargetError, never a hang.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import can

from bms._native import ffi
from bms.firmware import Firmware
from bms.targets.base import Measurement, State, Target, TargetError, TargetInfo
from hil.can import codec
from hil.can.bus import BusSpec, open_bus, parse_bus
from hil.can.layer import CanLayer
from hil.can.partners import BmsView, ChargerNode, VehicleNode

LOG_SUFFIXES = (".asc", ".blf", ".log", ".csv")


class CanTarget(Target):
    name = "can"
    answers_commands = False  # a request goes out with the next step's VCU_Command

    def __init__(self, bus: str = "virtual", log: str | Path | None = None, timeout_s: float = 2.0) -> None:
        self.spec: BusSpec = parse_bus(bus)
        self.timeout_s = timeout_s
        self.fw = Firmware()
        self.layer = CanLayer()
        self.charger = ChargerNode()
        self.vehicle = VehicleNode()
        self.view = BmsView()
        self._meas = ffi.new("bms_meas_t *")
        self.time_ms = 0
        self.frames_sent = 0
        self._ecu: can.BusABC | None = None
        self._harness: can.BusABC | None = None
        self._logger: can.Listener | None = None
        try:
            self._harness = open_bus(self.spec.interface, self.spec.harness_channel)
            self._ecu = open_bus(self.spec.interface, self.spec.ecu_channel)
            if log is not None:
                path = Path(log)
                if path.suffix.lower() not in LOG_SUFFIXES:
                    raise codec.CanError(f"CAN log '{path}': use one of {', '.join(LOG_SUFFIXES)}")
                path.parent.mkdir(parents=True, exist_ok=True)
                self._logger = can.Logger(str(path))
        except codec.CanError as exc:
            self.close()
            raise TargetError(str(exc)) from None

    @property
    def limit_step_a(self) -> float:  # type: ignore[override]
        """BMS_Limits' CCL resolution in the DBC (sent rounded down to it)."""
        return float(codec.message("BMS_Limits").get_signal_by_name("ChargeCurrentLimit").scale)

    # ---- the Target interface ----
    def configure(self, config: bytes) -> None:
        """A new run: the firmware configured, its CAN layer and the partners started afresh
        (a partner's schedule from a previous run would leave the new one without frames)."""
        self.fw.configure(config)
        self.layer = CanLayer()
        self.charger = ChargerNode()
        self.vehicle = VehicleNode()
        self.view = BmsView()
        self.time_ms = 0

    def command(self, cmd: str) -> int:
        """The vehicle requests it over CAN: it goes out with the next step's VCU_Command and
        the BMS applies it before that step. Returns 0 (sent); the firmware's verdict is in
        the next State.extra['command_result']."""
        self.vehicle.request(cmd)
        return 0

    def reset(self) -> None:
        self.fw.reset()
        self.layer = CanLayer()

    def info(self) -> TargetInfo:
        i = self.fw.info()
        return replace(i, name=f"can:{self.spec.describe()}")

    def fault_records(self) -> dict[int, int]:
        return self.fw.fault_records()

    def step(self, dt_ms: int, meas: Measurement) -> State:
        assert self._ecu is not None and self._harness is not None
        self.time_ms += int(dt_ms)
        t = self.time_ms
        # partners -> BMS
        out_a = max(-meas.current_a, 0.0) if math.isfinite(meas.current_a) else float("nan")
        sent = self.vehicle.frames(t, meas.fast_charge_in_s) + self.charger.frames(
            t, meas.charger_max_a, meas.bus_v, out_a
        )
        for fid, data in sent:
            self._send(self._harness, fid, data, t)
        for msg in self._receive(self._ecu, [fid for fid, _ in sent], "the charger / vehicle"):
            self.layer.rx(msg.arbitration_id, bytes(msg.data))
        cmds = self.layer.inputs(int(dt_ms), self._meas)
        # what the bus carried: the charger's limit, the vehicle's fast-charge announcement
        meas_can = replace(
            meas,
            charger_max_a=float(self._meas.charger_max_a),
            fast_charge_in_s=float(self._meas.fast_charge_in_s),
            comm_lost=int(self._meas.comm_lost),
        )
        results = [self.fw.command(c) for c in cmds]
        state = self.fw.step(dt_ms, meas_can)
        # BMS -> partners
        cfg, m, out = self.fw.raw()
        tx = self.layer.tx(cfg, m, out)
        for fid, data in tx:
            self._send(self._ecu, fid, data, t)
        for msg in self._receive(self._harness, [fid for fid, _ in tx], "the BMS"):
            self.view.update(msg.arbitration_id, bytes(msg.data))
        return self._state(state, cmds, results)

    def close(self) -> None:
        for obj in (self._logger, self._harness, self._ecu):
            if obj is not None:
                with contextlib.suppress(can.CanError, OSError):
                    obj.stop() if isinstance(obj, can.Listener) else obj.shutdown()
        self._logger = self._harness = self._ecu = None

    # ---- internals ----
    def _state(self, state: State, cmds: list[str], results: list[int]) -> State:
        extra = dict(state.extra)
        extra["can_refused"] = float(sum(self.layer.refused.values()))
        extra["can_comm_lost"] = float(self.layer.comm_lost)
        if cmds:
            extra["command_result"] = float(min(results))
        bus = None
        if "BMS_Limits" in self.view.messages:
            bus = (
                float(self.view.get("BMS_Limits", "ChargeCurrentLimit")),
                float(self.view.get("BMS_Limits", "DischargeCurrentLimit")),
            )
        return replace(state, limits_bus=bus, extra=extra)

    def _send(self, bus: can.BusABC, fid: int, data: bytes, t_ms: int) -> None:
        msg = can.Message(arbitration_id=fid, data=data, is_extended_id=False, timestamp=t_ms / 1000.0)
        try:
            bus.send(msg, timeout=self.timeout_s)
        except can.CanError as exc:
            raise TargetError(f"CAN send of 0x{fid:03x} failed: {exc}") from None
        self.frames_sent += 1
        if self._logger is not None:
            self._logger.on_message_received(msg)

    def _receive(self, bus: can.BusABC, expected: list[int], who: str) -> list[can.Message]:
        """Everything on the bus until each expected frame (by id) has arrived, and whatever
        else is already there (another node's frames are received too, never left queued)."""
        missing = Counter(expected)
        got: list[can.Message] = []
        deadline = time.monotonic() + self.timeout_s
        while +missing:
            left = deadline - time.monotonic()
            msg = bus.recv(timeout=left) if left > 0 else None
            if msg is None:
                n = len(expected)
                raise TargetError(
                    f"CAN {self.spec.describe()}: {n - missing.total()} of {n} frames from {who} arrived "
                    f"within {self.timeout_s:.1f} s"
                )
            if not msg.is_error_frame:
                got.append(msg)
                missing[msg.arbitration_id] -= 1
        while (msg := bus.recv(timeout=0.0)) is not None:
            if not msg.is_error_frame:
                got.append(msg)
        return got
