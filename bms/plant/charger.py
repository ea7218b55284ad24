"""DC fast charger: follows the BMS's charge current limit within its own power, current
and voltage limits, with a ramp-rate limit on its set point and a first-order lag of the
delivered current; can misbehave (overshoot, ignore the limit)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class ChargerSpec:
    """Defaults: a 350 kW / 500 A / 1000 V CCS charger (e.g. the IONITY HPC class);
    current regulation with a ~0.2 s time constant and a 100 A/s ramp on increases."""

    power_max_w: float = 350_000.0
    current_max_a: float = 500.0
    voltage_max_v: float = 1000.0
    tau_s: float = 0.2
    ramp_a_per_s: float = 100.0
    # delivered / requested current in regulation: a compliant charger stays within a few
    # percent (IEC 61851-23 current regulation accuracy); a fault overrides it
    regulation_gain: float = 1.0


class Charger:
    def __init__(self, spec: ChargerSpec) -> None:
        self.spec = spec
        self.setpoint_a = 0.0  # after the ramp limit
        self.current_a = 0.0  # delivered (charge current magnitude, >= 0)
        self.overshoot = spec.regulation_gain
        self.ignores_limit = False
        self.enabled = False
        self._g: tuple[float, float, float] = (float("nan"), float("nan"), 0.0)  # (dt, tau, 1 - a)

    def own_limit(self, pack_v: float) -> float:
        s = self.spec
        if pack_v >= s.voltage_max_v:
            return 0.0
        return min(s.current_max_a, s.power_max_w / max(pack_v, 1.0))

    def step(self, dt_s: float, request_a: float, pack_v: float, circuit_closed: bool) -> float:
        """Advance by dt; returns the mean delivered current over the step (>= 0)."""
        s = self.spec
        if not self.enabled or not circuit_closed:
            target = 0.0
        elif self.ignores_limit:
            target = self.own_limit(pack_v)
        else:
            target = min(max(request_a, 0.0) * self.overshoot, self.own_limit(pack_v) * self.overshoot)
        # the set point rises at the ramp rate and drops at once (a charger must follow a
        # lower request immediately; its regulator's lag remains)
        self.setpoint_a = min(target, self.setpoint_a + s.ramp_a_per_s * dt_s)
        if not circuit_closed:
            # an open contactor interrupts the current at once
            self.current_a = 0.0
            return 0.0
        if self._g[0] != dt_s or self._g[1] != s.tau_s:  # the spec may change between steps
            self._g = (dt_s, s.tau_s, -math.expm1(-dt_s / s.tau_s))
        g = self._g[2]
        i0 = self.current_a
        u = self.setpoint_a
        self.current_a = u + (i0 - u) * (1.0 - g)
        return u + (i0 - u) * s.tau_s * g / dt_s  # exact mean of the first-order response
