"""The safety properties of a fast charge, checked on every step of a closed loop.

An independent (Python, float64) statement of what the firmware must guarantee, used by the
property tests, by `bms simulate --check` and by campaigns. Every check reads only what any
target reports (`State`), the sample the firmware got and the plant's truth, never the
firmware's internals:

P1 envelope   no true cell voltage above the chemistry's absolute maximum, no true core
              temperature above its absolute maximum (an internal short heats its own cell
              whatever the BMS does: that cell's temperature is exempt once one is injected)
P2 limit      the CCL is never above any of its constraints, recomputed here from the
              chemistry: the fast-charge and plating maps at every cell's reported SoC and core
              temperature, the temperature/voltage derates, the hardware and the charger's own
              limit; it rises no faster than the ramp; it is zero while a fault is latched, with
              the contactors not closed, outside the charge temperature window and once the
              charge is complete
P3 detection  every injected fault is latched within its trip time + one step of its onset;
              a latched fault leaves the contactors commanded open (emergency faults: open at
              once; others: opening, open within the opening timeout + one step)
P5 nominal    without injected faults nothing latches, and after convergence every cell's SoC
              estimate is within 3 % of the truth
P6 outputs    every reported number is finite and within its range
P7 latch      a latched fault stays latched until a reset, and a reset leaves latched every
              fault whose condition persists (an injected sensor, cooling or short fault)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bms.chemistry import Chemistry
from bms.protection import FAULT_ID
from bms.sim.loop import CLOSED, OPEN, OPENING, SimResult, StepView
from bms.sim.scenario import Scenario

PRECHARGE = 1
N_LIMITING = 14  # bms_limiting_t values 0..13
# float32 firmware against a float64 statement: relative and absolute slack of the arithmetic
REL = 1e-4
ABS_A = 1e-3
SOC_CONVERGED_S = 120.0
SOC_TOLERANCE = 0.03

# injected faults whose condition persists once injected (P7) and the fault each latches
PERSISTENT = {
    "open_sense_wire": "open_wire",
    "stuck_voltage": "volt_stuck",
    "ntc_open": "ntc_open",
    "ntc_short": "ntc_short",
    "current_offset": "current_offset",
    "internal_short": "cell_deviation",
    "cooling_loss": "cooling",
}


@dataclass
class Violation:
    prop: str
    t_s: float
    detail: str

    def __str__(self) -> str:
        return f"{self.prop} at t={self.t_s:.1f} s: {self.detail}"


def _map(soc: np.ndarray, temp_c: np.ndarray, soc_bp: np.ndarray, temp_bp: np.ndarray, tab: np.ndarray):
    """Bilinear over [temperature][soc], clamped at the edges (per cell)."""
    rows = np.array([np.interp(soc, soc_bp, row) for row in tab])  # (nT, n)
    if len(temp_bp) < 2:
        return rows[0]
    tc = np.clip(temp_c, temp_bp[0], temp_bp[-1])
    i = np.clip(np.searchsorted(temp_bp, tc, side="right") - 1, 0, len(temp_bp) - 2)
    w = (tc - temp_bp[i]) / (temp_bp[i + 1] - temp_bp[i])
    cols = np.arange(len(soc))
    return rows[i, cols] * (1 - w) + rows[i + 1, cols] * w


def _derate(value: float, derate: float, trip: float, is_max: bool) -> float:
    if not math.isfinite(value):
        return 1.0
    if is_max:
        if value <= derate:
            return 1.0
        return 0.0 if value >= trip else (trip - value) / (trip - derate)
    if value >= derate:
        return 1.0
    return 0.0 if value <= trip else (value - trip) / (derate - trip)


@dataclass
class SafetyMonitor:
    """Use as `ClosedLoop(..., monitor=SafetyMonitor(scn, chem))`; `finish(result)` adds the
    run-level checks and returns every violation (the first few of each property)."""

    scn: Scenario
    chem: Chemistry
    max_per_prop: int = 3
    violations: list[Violation] = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=dict)
    _prev_ccl: float = 0.0
    _prev_faults: int = 0
    _opening_since: float | None = None

    def __post_init__(self) -> None:
        scn, chem = self.scn, self.chem
        prot = chem.protection
        self.cap_ah = chem.cell.capacity_ah * scn.parallel
        m = prot.charge.maps
        self.maps = (m.soc, m.temp_c, m.charge_c, m.plating_c)
        lim = prot.limits
        self.hw_a = min(scn.pack.hw_charge_max_a, lim["charge_c_rate_max"].derate.threshold * self.cap_ah)
        self.hw_charge_max_a = scn.pack.hw_charge_max_a
        self.ramp_a_per_s = prot.charge.ramp_c_per_s * self.cap_ah
        self.derates = [
            (name, lim[name].derate.threshold, lim[name].trip.threshold, is_max)
            for name, is_max in (
                ("cell_v_max", True),
                ("core_temp_max_charge", True),
                ("surface_temp_max_charge", True),
                ("temp_min_charge", False),
            )
        ]
        # the charge window closes at the trips' release bands (threshold -/+ hysteresis)
        self.t_min_trip = lim["temp_min_charge"].trip.threshold + lim["temp_min_charge"].trip.hysteresis
        self.core_max_trip = (
            lim["core_temp_max_charge"].trip.threshold - lim["core_temp_max_charge"].trip.hysteresis
        )
        self.emergency = 0
        for name in prot.contactor.emergency_faults:
            self.emergency |= 1 << FAULT_ID[name]
        self.opening_timeout_s = prot.contactor.opening_timeout_ms / 1000.0
        self.dt_s = scn.dt_ms / 1000.0
        self.resets_seen = 0

    # ---- helpers ----
    def _bad(self, prop: str, t: float, detail: str) -> None:
        n = self._counts.get(prop, 0)
        self._counts[prop] = n + 1
        if n < self.max_per_prop:
            self.violations.append(Violation(prop, t, detail))

    def ccl_bound(self, v: StepView) -> tuple[float, str]:
        """The smallest constraint on the CCL this step, and its name."""
        st = v.state
        soc = np.asarray(st.soc, dtype=float)
        core = np.asarray(st.core_temp_degc, dtype=float)
        soc_bp, temp_bp, chg, plat = self.maps
        terms = {
            "map": float(np.min(_map(soc, core, soc_bp, temp_bp, chg))) * self.cap_ah,
            "plating": float(np.min(_map(soc, core, soc_bp, temp_bp, plat))) * self.cap_ah,
        }
        values = {
            "cell_v_max": st.cell_v_max,
            "core_temp_max_charge": st.core_temp_max_degc,
            "surface_temp_max_charge": st.temp_max_degc,
            "temp_min_charge": st.temp_min_degc,
        }
        f = min(_derate(values[n], d, t, mx) for n, d, t, mx in self.derates)
        terms["derate"] = self.hw_charge_max_a * f
        hw = self.hw_a
        cmax = v.meas.charger_max_a
        if math.isfinite(cmax) and cmax >= 0:
            hw = min(hw, cmax)
        terms["hardware"] = hw
        name = min(terms, key=lambda k: terms[k])
        return max(terms[name], 0.0), name

    # ---- every step ----
    def __call__(self, v: StepView) -> None:
        st, t = v.state, v.t_s
        chem = self.chem
        # P6: outputs finite and in range
        numbers = {
            "ccl_a": st.ccl_a,
            "dcl_a": st.dcl_a,
            "soc_min": st.soc_min,
            "soc_max": st.soc_max,
            "soc_mean": st.soc_mean,
            "soc_pack": st.soc_pack,
            "core_temp_max_degc": st.core_temp_max_degc,
        }
        for name, x in numbers.items():
            if not math.isfinite(float(x)):
                self._bad("P6-outputs", t, f"{name} = {x}")
        soc = np.asarray(st.soc, dtype=float)
        if not (np.all(np.isfinite(soc)) and np.all((soc >= 0) & (soc <= 1))):
            self._bad("P6-outputs", t, f"a cell SoC outside [0, 1]: {soc.min():.4f}..{soc.max():.4f}")
        if not np.all(np.isfinite(np.asarray(st.core_temp_degc, dtype=float))):
            self._bad("P6-outputs", t, "a core temperature is not finite")
        if not (0.0 <= st.ccl_a <= self.hw_charge_max_a * (1 + REL)):
            self._bad("P6-outputs", t, f"ccl_a = {st.ccl_a} outside [0, {self.hw_charge_max_a}]")
        if st.dcl_a < 0.0:
            self._bad("P6-outputs", t, f"dcl_a = {st.dcl_a} < 0")
        if st.contactor_state not in (OPEN, PRECHARGE, CLOSED, OPENING) or not 0 <= st.ccl_limit < N_LIMITING:
            self._bad("P6-outputs", t, f"contactor {st.contactor_state}, limiting {st.ccl_limit}")

        # P1: the true envelope
        vmax = float(np.max(v.v_true))
        if vmax > chem.abs_max.cell_v:
            cell = int(np.argmax(v.v_true))
            self._bad("P1-envelope", t, f"true cell {cell} at {vmax:.4f} V > abs max {chem.abs_max.cell_v} V")
        core = v.core_true_c
        shorted = [f.cell for f in v.injected if f.kind == "internal_short"]
        if shorted:
            core = np.delete(core, shorted)
        if core.size and float(np.max(core)) > chem.abs_max.core_temp_c:
            self._bad(
                "P1-envelope",
                t,
                f"true core {float(np.max(core)):.2f} degC > abs max {chem.abs_max.core_temp_c} degC",
            )

        # P2: the CCL against its constraints
        ccl = float(st.ccl_a)
        if st.faults and ccl != 0.0:
            self._bad("P2-limit", t, f"ccl {ccl:.2f} A with faults latched (0x{st.faults:x})")
        if st.contactor_state != CLOSED and ccl != 0.0:
            self._bad("P2-limit", t, f"ccl {ccl:.2f} A with the contactors not closed")
        if st.charge_complete and ccl != 0.0:
            self._bad("P2-limit", t, f"ccl {ccl:.2f} A after the charge is complete")
        if (
            st.temp_min_degc <= self.t_min_trip or st.core_temp_max_degc >= self.core_max_trip
        ) and ccl != 0.0:
            self._bad(
                "P2-limit",
                t,
                f"ccl {ccl:.2f} A outside the charge window "
                f"(T min {st.temp_min_degc:.1f}, core max {st.core_temp_max_degc:.1f} degC)",
            )
        if ccl > 0.0:
            bound, name = self.ccl_bound(v)
            if ccl > bound * (1 + REL) + ABS_A:
                self._bad("P2-limit", t, f"ccl {ccl:.3f} A above its {name} constraint {bound:.3f} A")
            ramp = self._prev_ccl + self.ramp_a_per_s * self.dt_s
            if ccl > ramp * (1 + REL) + ABS_A:
                self._bad(
                    "P2-limit", t, f"ccl rose {ccl - self._prev_ccl:.3f} A in one step (ramp {ramp:.3f})"
                )
        self._prev_ccl = ccl

        # P3: a latched fault commands the contactors open
        if st.faults:
            if st.contactor_state in (CLOSED, PRECHARGE):
                self._bad(
                    "P3-detection", t, f"faults 0x{st.faults:x} latched, contactor state {st.contactor_state}"
                )
            if st.faults & self.emergency and st.contactor_state != OPEN:
                self._bad(
                    "P3-detection", t, f"emergency fault 0x{st.faults & self.emergency:x} not opened at once"
                )
        if st.contactor_state == OPENING:
            if self._opening_since is None:
                self._opening_since = t
            elif t - self._opening_since > self.opening_timeout_s + self.dt_s + 1e-9:
                self._bad("P3-detection", t, "contactors still opening past the opening timeout")
        else:
            self._opening_since = None

        # P5: no fault without a cause; the SoC estimate converges
        if not v.injected:
            if st.faults:
                self._bad("P5-nominal", t, f"fault 0x{st.faults:x} latched with no fault injected (yet)")
            if t >= SOC_CONVERGED_S:
                err = np.abs(soc - v.soc_true)
                if float(err.max()) > SOC_TOLERANCE:
                    c = int(np.argmax(err))
                    self._bad(
                        "P5-nominal",
                        t,
                        f"cell {c} SoC estimate {soc[c]:.4f} vs true {v.soc_true[c]:.4f} (> {SOC_TOLERANCE})",
                    )

        # P7: latched until reset; a reset keeps what persists
        reset = v.resets > self.resets_seen
        self.resets_seen = v.resets
        lost = self._prev_faults & ~st.faults
        if lost and not reset:
            self._bad("P7-latch", t, f"faults 0x{lost:x} cleared without a reset")
        if reset:
            for f in v.injected:
                name = PERSISTENT.get(f.kind)
                if name is not None and lost >> FAULT_ID[name] & 1:
                    self._bad("P7-latch", t, f"reset cleared {name} while its {f.kind} persists")
        self._prev_faults = st.faults

    # ---- at the end ----
    def finish(self, res: SimResult) -> list[Violation]:
        dt = self.dt_s
        end = float(res.log["time_s"][-1]) if len(res.log["time_s"]) else 0.0
        for f in res.faults:
            if f["injected_kind"] is None or f["trip_time_s"] is None:
                continue
            onset, trip, det = f["onset_s"], float(f["trip_time_s"]), f["detected_s"]
            if onset is None:
                continue  # the condition never became observable in this run
            if det is None:
                if end >= float(onset) + trip + dt:
                    self._bad("P3-detection", end, f"{f['injected_kind']} (onset {onset} s) never detected")
            elif float(det) - float(onset) > trip + dt + 1e-9:
                self._bad(
                    "P3-detection",
                    float(det),
                    f"{f['injected_kind']} detected {float(det) - float(onset):.2f} s after onset "
                    f"(trip time {trip} s + one step)",
                )
        return self.violations
