"""The BMS's bus partners on the bench: the DC charger's and the vehicle's CAN front ends.

They turn what the closed loop knows (the charger model's own limit, its output, the
vehicle's contactor requests) into the DBC's frames, at the DBC's cycle times, with alive
counters and CRCs; and they decode what the BMS sends. Each can be silenced (a lost node)
to test the BMS's timeouts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hil.can import codec

CHARGER_STATE = {"off": 0, "standby": 1, "charging": 2, "fault": 3}
REQUEST = {"none": 0, "close": 1, "open": 2}
# VCU_Command FastChargeIn: 10 s steps up to 2540 s; its SNA (raw 255, "none announced")
ANNOUNCE_STEP_S, ANNOUNCE_MAX_S, ANNOUNCE_SNA_S = 10.0, 2540.0, 2550.0


def announcement_signal(fast_charge_in_s: float) -> float:
    """The FastChargeIn value for an announcement: rounded down to its 10 s step (a vehicle
    says it arrives no later than it does) and held at 2540 s beyond; none (NaN, inf or a
    negative time, as the firmware reads bms_meas_t.fast_charge_in_s): SNA."""
    x = fast_charge_in_s
    if not math.isfinite(x) or x < 0.0:
        return ANNOUNCE_SNA_S
    return min(math.floor(x / ANNOUNCE_STEP_S) * ANNOUNCE_STEP_S, ANNOUNCE_MAX_S)


def _clamp(v: float, lo: float, hi: float) -> float:
    return lo if not math.isfinite(v) else min(max(v, lo), hi)


def _limit(v: float, scale: float, lo: float, hi: float) -> float:
    """A limit as it goes on the bus: rounded down to the signal's step (as the BMS sends its
    own), so the receiver never reads more than the sender allows."""
    steps = math.floor(_clamp(v, lo, hi) / scale + 1e-9)
    return steps * scale


@dataclass
class ChargerNode:
    """The charger's CAN interface. It joins the bus when the loop reports a charger limit
    (a finite charger_max_a), and leaves with ChargerState = off when it goes away."""

    max_voltage_v: float = 1000.0  # rated output voltage (bms.plant.charger.ChargerSpec)
    silent: bool = False
    session: bool = False
    next_ms: dict[str, int] = field(default_factory=dict)
    senders: dict[str, codec.ProtectedSender] = field(
        default_factory=lambda: {n: codec.ProtectedSender(n) for n in ("CHG_Status", "CHG_Limits")}
    )

    def frames(self, now_ms: int, max_a: float, out_v: float, out_a: float) -> list[tuple[int, bytes]]:
        if self.silent:
            return []
        present = math.isfinite(max_a)
        if not present and not self.session:
            return []
        if not present:  # the charger leaves: one last status, off
            self.session = False
            self.next_ms.clear()
            return [self._status(0, out_v, out_a)]
        self.session = True
        out = []
        for name in ("CHG_Status", "CHG_Limits"):
            if now_ms >= self.next_ms.get(name, 0):
                self.next_ms[name] = now_ms + codec.cycle_ms(codec.message(name))
                if name == "CHG_Status":
                    out.append(self._status(CHARGER_STATE["charging"], out_v, out_a))
                else:
                    step = {s.name: s.scale for s in codec.message(name).signals}
                    data = self.senders[name].encode(
                        {
                            "ChargerMaxCurrent": _limit(max_a, step["ChargerMaxCurrent"], 0.0, 6000.0),
                            "ChargerMaxVoltage": _limit(
                                self.max_voltage_v, step["ChargerMaxVoltage"], 0.0, 1300.0
                            ),
                        }
                    )
                    out.append((codec.message(name).frame_id, data))
        return out

    def _status(self, state: int, out_v: float, out_a: float) -> tuple[int, bytes]:
        data = self.senders["CHG_Status"].encode(
            {
                "ChargerOutputVoltage": _clamp(out_v, 0.0, 1300.0),
                "ChargerOutputCurrent": _clamp(out_a, 0.0, 6000.0),
                "ChargerState": state,
            }
        )
        return codec.message("CHG_Status").frame_id, data


@dataclass
class VehicleNode:
    """The vehicle's CAN interface: VCU_Command at its cycle time, and at once when the
    vehicle has a new request. A contactor request is a one-frame pulse (the BMS acts on a
    change); a fault reset is a one-frame 1 (the BMS acts on the rising edge)."""

    silent: bool = False
    pending: str | None = None
    next_ms: int = 0
    sender: codec.ProtectedSender = field(default_factory=lambda: codec.ProtectedSender("VCU_Command"))

    def request(self, cmd: str) -> None:
        if cmd not in ("close", "open", "reset"):
            raise codec.CanError(f"unknown vehicle request '{cmd}'")
        self.pending = cmd

    def frames(self, now_ms: int, fast_charge_in_s: float = math.nan) -> list[tuple[int, bytes]]:
        """fast_charge_in_s: the announcement (Measurement.fast_charge_in_s; NaN: none)."""
        if self.silent or (now_ms < self.next_ms and self.pending is None):
            return []
        self.next_ms = now_ms + codec.cycle_ms(codec.message("VCU_Command"))
        cmd, self.pending = self.pending, None
        data = self.sender.encode(
            {
                "ContactorRequest": REQUEST.get(cmd or "none", 0),
                "FaultReset": 1 if cmd == "reset" else 0,
                "FastChargeIn": announcement_signal(fast_charge_in_s),
            }
        )
        return [(codec.message("VCU_Command").frame_id, data)]


@dataclass
class BmsView:
    """The BMS as its partners see it: the last decoded value of each of its messages."""

    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    undecodable: int = 0

    def update(self, frame_id: int, data: bytes) -> None:
        try:
            name, signals = codec.decode(frame_id, data)
        except codec.CanError:
            self.undecodable += 1
            return
        self.messages[name] = signals

    def get(self, message: str, signal: str) -> Any:
        return self.messages[message][signal]
