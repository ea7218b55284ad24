"""A run keeps its own injection records: one Scenario object runs any number of times,
and copies of it (dataclasses.replace shares its faults) run independently."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import replace

import pytest

from bms.plant.faults import Fault
from bms.sim.loop import ClosedLoop, run
from bms.sim.scenario import Scenario, load_scenario

# the run's timing, different on every run
WALL = {"wall_s", "realtime_factor"}


def _small(kind: str, at_s: float, cell: int | None, value: float | None = None) -> Scenario:
    """A 12-cell pack whose fault's onset is judged later than its injection."""
    scn = replace(load_scenario("fastcharge-10-80"), series=12, parallel=4, duration_s=40.0)
    return replace(scn, faults=[Fault(kind=kind, at_s=at_s, cell=cell, value=value)])


def _summary(res) -> dict[str, object]:
    return {k: v for k, v in res.summary.to_dict().items() if k not in WALL}


# a soft short (ohm across the element) drifts the cell out of the allowance over seconds
@pytest.mark.parametrize(("kind", "cell", "value"), [("stuck_voltage", 3, None), ("internal_short", 5, 0.05)])
def test_one_scenario_object_run_twice_gives_identical_results(kind, cell, value):
    scn = _small(kind, 10.0, cell, value)
    before = copy.deepcopy(scn)
    first, second = run(scn), run(scn)
    assert scn == before  # the run wrote nothing onto the scenario or its faults
    (f,) = [x for x in first.faults if x["injected_kind"] == kind]
    assert f["onset_s"] is not None and f["onset_s"] > f["injected_s"]  # judged later
    assert second.faults == first.faults
    assert _summary(second) == _summary(first)


def test_a_copy_sharing_the_faults_judges_its_own_onsets():
    # replace() shares the Fault objects: a copy with another step length must report the
    # onset of its own run (a stuck reading shows after stuck_repeats_min steps), not the
    # first run's
    scn = _small("stuck_voltage", 10.0, 3)
    run(scn)
    shared = replace(scn, dt_ms=50)
    fresh = replace(_small("stuck_voltage", 10.0, 3), dt_ms=50)
    got, want = run(shared).faults, run(fresh).faults
    assert got == want
    onsets = {f["onset_s"] for f in run(scn).faults} | {f["onset_s"] for f in got}
    assert len(onsets) == 2  # the two step lengths give two onsets


def test_scenario_and_fault_are_immutable_and_inject_leaves_the_fault_alone():
    scn = _small("stuck_voltage", 10.0, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        scn.seed = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        scn.faults[0].at_s = 1.0  # type: ignore[misc]
    assert isinstance(scn.faults, tuple)
    loop = ClosedLoop(replace(scn, faults=()))
    for _ in range(30):
        loop.step()
    f = Fault(kind="ntc_short", at_s=0.0, cell=0)
    loop.inject(f)
    assert f == Fault(kind="ntc_short", at_s=0.0, cell=0)
    (inj,) = loop.injected
    assert inj.fault is f and inj.at_s == pytest.approx(3.0) and inj.k == 30
    assert inj.as_fault() == Fault(kind="ntc_short", at_s=inj.at_s, cell=0)
