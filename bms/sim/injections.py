"""The run's fault bookkeeping: the scenario's faults injected when their time comes (the
run's own Injection records), each injection's physical onset, the step the firmware first
latched each fault, and the fault list matching latched faults to the injections they answer."""

from __future__ import annotations

from collections.abc import Callable

from bms.chemistry import Chemistry
from bms.enums import FAULT_ID, FAULT_NAMES
from bms.plant.fault_onsets import OnsetView
from bms.plant.faults import FAULT_KINDS, PACK_LEVEL_FAULTS, Fault, Injection, Rig
from bms.sim.scenario import Scenario
from bms.targets.base import Target


class FaultBook:
    """The injections of one run and what the firmware latched, in step order."""

    def __init__(self, faults: tuple[Fault, ...] | list[Fault]) -> None:
        self.pending = sorted(faults, key=lambda f: f.at_s)  # the run's own list
        self.injected: list[Injection] = []
        self.first_seen: dict[int, float] = {}  # fault id -> the time the firmware latched it
        self._seen_faults = 0  # the fault bits in first_seen

    def inject(self, f: Fault, at_s: float, step: int, rig: Rig) -> None:
        """Record an injection at at_s (step) and apply it to the rig."""
        self.injected.append(Injection(f, at_s, step))
        FAULT_KINDS[f.kind].apply(f, rig)

    def inject_due(self, t_s: float, step: int, rig: Rig) -> None:
        """Inject the scenario's faults whose time has come by t_s (at their own at_s)."""
        pending = self.pending
        while pending and pending[0].at_s <= t_s:
            f = pending.pop(0)
            self.inject(f, f.at_s, step, rig)

    def note_latched(self, faults: int, t_s: float) -> None:
        """The fault bits the firmware reports at t_s: the new ones are first seen now."""
        new_faults = faults & ~self._seen_faults
        if new_faults:
            self._seen_faults |= new_faults
            for fid in range(len(FAULT_NAMES)):
                if new_faults >> fid & 1:
                    self.first_seen[fid] = t_s

    def judge_onsets(self, view: Callable[[], OnsetView]) -> None:
        """The onset of every injection not yet observable, judged on this step's view
        (built only while some injection waits for its onset)."""
        if not any(inj.onset_s is None for inj in self.injected):
            return
        ov = view()
        for inj in self.injected:
            # with the link cut the firmware sees no sample: nothing but the cut itself can
            # show (a short or a charger's excess during it is invisible to any BMS)
            row = FAULT_KINDS[inj.kind]
            if inj.onset_s is None and (ov.samples_fresh or row.applied_to == "link"):
                inj.onset_s = row.onset(inj, ov)
            elif inj.onset_s is None:
                inj.observable_since = None  # a blind step ends any interval being timed

    def fault_list(self, target: Target, chem: Chemistry, scn: Scenario) -> list[dict[str, object]]:
        return fault_list(self.first_seen, self.injected, target, chem, scn)


def fault_list(
    first_seen: dict[int, float], injected: list[Injection], target: Target, chem: Chemistry, scn: Scenario
) -> list[dict[str, object]]:
    """Every fault the firmware latched, matched to the injection it answers (if any),
    and every injection the firmware did not catch."""
    records = target.fault_records()
    out: list[dict[str, object]] = []
    used: set[int] = set()
    for fid, t in sorted(first_seen.items(), key=lambda x: x[1]):
        name = FAULT_NAMES[fid]
        match = None
        for j, f in enumerate(injected):
            if j not in used and name in FAULT_KINDS[f.kind].caught_by:
                match = j
                break
        if match is not None:
            used.add(match)
        f = injected[match] if match is not None else None
        cell = records.get(fid) if records else None
        if cell is None and f is not None:
            cell = f.cell
        if name in PACK_LEVEL_FAULTS:
            cell = None
        out.append(
            {
                "id": fid,
                "name": name,
                "cell": cell,
                "injected_s": None if f is None else f.at_s,
                "injected_cell": None if f is None else f.cell,
                "detected_s": round(t, 3),
                "injected_kind": None if f is None else f.kind,
                **_timing(f, chem, scn),
            }
        )
    for j, f in enumerate(injected):
        if j not in used:
            expected = FAULT_KINDS[f.kind].caught_by[0]
            out.append(
                {
                    "id": FAULT_ID[expected],
                    "name": expected,
                    "cell": f.cell,
                    "injected_s": f.at_s,
                    "injected_cell": f.cell,
                    "detected_s": None,
                    "injected_kind": f.kind,
                    **_timing(f, chem, scn),
                }
            )
    return out


def _timing(f: Injection | None, chem: Chemistry, scn: Scenario) -> dict[str, float | None]:
    if f is None:
        return {"onset_s": None, "trip_time_s": None}
    onset = f.onset_s
    trip = FAULT_KINDS[f.kind].trip_time_s(chem, scn)
    return {"onset_s": None if onset is None else round(float(onset), 3), "trip_time_s": trip}
