"""A run's log changed after the fact, to show that a property catches what it must."""

import copy
from dataclasses import replace

import numpy as np

from bms.chemistry import load_chemistry
from bms.plant.faults import Fault
from bms.plant.pack import Spread
from bms.sim.loop import ClosedLoop
from bms.sim.scenario import Scenario, load_scenario


def tampered(res, **cols):
    """A copy of the run whose log columns `name` went through fn(column) (in place)."""
    r = copy.copy(res)
    r.log = {k: np.array(v, copy=True) for k, v in res.log.items()}
    for name, fn in cols.items():
        fn(r.log[name])
    return r


def eight_cell_fastcharge(spread: Spread) -> Scenario:
    """Eight cells of the fast-charge preset for four minutes, the plant's spread given."""
    base = load_scenario("fastcharge-10-80")
    return replace(base, series=8, duration_s=240.0, stop_when_complete=False, spread=spread)


def planned_run(duration_s: float, plan: dict[int, list[str]], faults: list[Fault] | None = None):
    """The fast-charge preset, four cells, for duration_s (the scenario's faults given), with
    the vehicle's requests of `plan` (step -> requests, in order) sent before those steps:
    (the result, the chemistry)."""
    base = load_scenario("fastcharge-10-80")
    scn = replace(
        base,
        series=4,
        parallel=2,
        duration_s=duration_s,
        stop_when_complete=False,
        faults=tuple(faults or ()),
    )
    chem = load_chemistry(scn.chemistry)
    loop = ClosedLoop(scn, chemistry=chem)
    while True:
        for cmd in plan.get(loop.steps, []):
            loop.command(cmd)
        if loop.step() is None:
            return loop.result(), chem
