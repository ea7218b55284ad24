"""A runaway charger on an aged cell whose resistance the firmware has not learned yet (issue
13 / 19): the fast trip judges the excess with the resistance's upper bound (soh.h), so the
true cell stays under its absolute maximum, as when the resistance is known."""

import dataclasses
from pathlib import Path

from bms.chemistry import load_chemistry
from bms.sim.loop import run
from bms.sim.scenario import load_scenario

SCN = Path(__file__).resolve().parent.parent / "data" / "scenarios" / "charger-runaway-aged-unlearned.toml"


def test_the_runaway_trips_before_the_cell_passes_its_absolute_maximum():
    scn = load_scenario(SCN)
    assert scn.nvm_soh_sigma == 0.0 and scn.spread.resistance_growth == 1.0
    abs_max = load_chemistry(scn.chemistry).abs_max.cell_v
    res = run(scn)
    assert [f["name"] for f in res.faults] == ["charge_overcurrent"]
    assert res.summary.max_cell_v_true <= abs_max
    # the same with the resistance known (stored): the bound costs nothing there
    known = run(dataclasses.replace(scn, nvm_soh_sigma=0.005))
    assert known.summary.max_cell_v_true <= abs_max
