"""What makes a run a safety violation or a false trip, judged from the simulator's summary
(bms.sim.summary.RunSummary: the plant's true maxima and each fault's injected_s / onset_s / detected_s /
trip_time_s).

A run VIOLATES when any of these holds (its `violations` lists which):

    overvoltage       the highest true cell voltage of the run > the abs-max cell voltage
    overtemperature   the highest true core temperature of the run > the abs-max core temperature
    missed_detection  an injected fault whose condition became observable (onset_s) was never
                      detected, although the run went on past onset_s + trip_time_s + one step
    late_detection    an injected fault was detected after onset_s + trip_time_s + one step
                      (trip_time_s: the firmware's configured debounce for that kind; one
                      firmware step of slack for the sample the condition first shows in)
    unobservable      an injected fault never became observable to the firmware (no onset_s)
                      and was not detected: the run cannot show that it would be caught (a
                      current offset injected while the contactors stayed closed), so it
                      counts against the run instead of passing unseen
    P2-limit, P3-detection, P6-outputs, P7-latch
                      a step-by-step safety property of bms/sim/checks.py broke (the CCL
                      above one of its constraints, a latched fault not opening the
                      contactors, a non-finite output, a latch lost without a reset)

The abs-max limits are the campaign's [abs_max] where given, else the run's chemistry's.
An injected fault that never became observable (no onset_s) is `not_observable` (the
violation `unobservable`), and one whose deadline lies past the end of the run without a
detection is `undecided` (counted, not a violation: the run ended before it could be judged).

A FALSE TRIP is a run without any injected fault in which the firmware latched a fault;
counted separately from the violations. Faults latched in a fault run besides the one that
answers the injection are listed as `other_faults` (a consequence or a second symptom, not
judged).

Each run also records its margins to the limits: abs-max minus the worst true value
(negative when violated).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bms.sim.summary import FaultRecord, RunSummary

EPS = 1e-6
# the step-by-step properties of bms/sim/checks.py that count as violations here (P1 is the
# overvoltage / overtemperature above against the campaign's limits, P5 the false trips)
PROPERTY_KINDS = ("P2-limit", "P3-detection", "P6-outputs", "P7-latch")
VIOLATION_KINDS = (
    "overvoltage",
    "overtemperature",
    "missed_detection",
    "late_detection",
    "unobservable",
    *PROPERTY_KINDS,
)


@dataclass(frozen=True)
class Limits:
    cell_v: float
    core_temp_c: float


def fault_outcome(f: FaultRecord, dt_s: float, end_s: float) -> str:
    """detected / late / missed / undecided / not_observable for one injected fault."""
    onset, detected, trip = f.onset_s, f.detected_s, f.trip_time_s
    deadline = None if onset is None or trip is None else onset + trip + dt_s
    if detected is not None:
        if deadline is not None and detected > deadline + EPS:
            return "late"
        return "detected"
    if onset is None:
        # judged once the run went on for the time a detection would have needed
        injected = f.injected_s
        if injected is not None and trip is not None and injected + trip + dt_s > end_s + EPS:
            return "undecided"
        return "not_observable"
    if deadline is not None and deadline > end_s + EPS:
        return "undecided"
    return "missed"


def judge(summary: RunSummary, limits: Limits, dt_s: float) -> dict[str, Any]:
    """The verdict columns of one run's row."""
    v_max = float(summary.max_cell_v_true)
    t_max = float(summary.max_core_temp_c_true)
    end_s = float(summary.sim_s)
    injected = [f for f in summary.faults if f.injected_kind is not None]
    latched = [f for f in summary.faults if f.detected_s is not None]
    violations = []
    if v_max > limits.cell_v:
        violations.append("overvoltage")
    if t_max > limits.core_temp_c:
        violations.append("overtemperature")
    records = []
    for f in injected:
        outcome = fault_outcome(f, dt_s, end_s)
        latency = None
        if f.detected_s is not None and f.onset_s is not None:
            latency = round(float(f.detected_s) - float(f.onset_s), 3)
        records.append(
            {
                "kind": f.injected_kind,
                "detected_as": f.name,
                "cell": f.cell,
                "injected_s": f.injected_s,
                "onset_s": f.onset_s,
                "detected_s": f.detected_s,
                "trip_time_s": f.trip_time_s,
                "latency_s": latency,
                "outcome": outcome,
            }
        )
        if outcome == "missed" and "missed_detection" not in violations:
            violations.append("missed_detection")
        if outcome == "late" and "late_detection" not in violations:
            violations.append("late_detection")
        if outcome == "not_observable" and "unobservable" not in violations:
            violations.append("unobservable")
    for text in summary.violations or ():
        prop = str(text).split(" ", 1)[0]
        if prop in PROPERTY_KINDS and prop not in violations:
            violations.append(prop)
    unmatched = [f.name for f in latched if f.injected_kind is None]
    return {
        "limit_cell_v": limits.cell_v,
        "limit_core_temp_c": limits.core_temp_c,
        "margin_cell_v": round(limits.cell_v - v_max, 4),
        "margin_core_temp_c": round(limits.core_temp_c - t_max, 2),
        "violation": bool(violations),
        "violations": violations,
        "faults_injected": records,
        "false_trip": not injected and bool(latched),
        "false_trip_faults": unmatched if not injected else [],
        "other_faults": unmatched if injected else [],
    }
