"""A fault reset while the measurements are stale (found by the state machine's
command-right-after-a-latch rule): a latched fault whose condition the firmware can only judge
on a new sample (here the current offset, judged at rest) must survive a reset sent while no
new sample comes; the firmware cannot know its condition is gone (P7)."""

from dataclasses import replace

from bms.chemistry import load_chemistry
from bms.enums import FAULT_ID
from bms.plant.faults import Fault
from bms.sim.checks import check_run
from bms.sim.loop import ClosedLoop
from bms.sim.scenario import load_scenario

BIT = {name: 1 << FAULT_ID[name] for name in ("current_offset", "stale")}


def step_until(loop, bit, limit=400):
    for _ in range(limit):
        view = loop.step()
        if int(view.state.faults) & bit:
            return
    raise AssertionError(f"fault bit 0x{bit:x} never latched")


def test_a_reset_while_blind_keeps_a_fault_it_cannot_judge():
    scn = replace(
        load_scenario("fastcharge-10-80"),
        chemistry="lfp-graphite",
        series=2,
        parallel=1,
        duration_s=120.0,
        stop_when_complete=False,
        close_at_s=100.0,  # the vehicle stays away: the contactors stay open
    )
    chem = load_chemistry(scn.chemistry)
    loop = ClosedLoop(scn, chemistry=chem)
    for _ in range(10):
        loop.step()
    loop.inject(Fault(kind="current_offset", at_s=0.0))  # 5 A read with no current flowing
    step_until(loop, BIT["current_offset"])
    loop.inject(Fault(kind="comm_loss", at_s=0.0))
    step_until(loop, BIT["stale"])
    loop.command("reset")
    view = loop.step()
    # the offset is still there, and the firmware has not seen one sample since
    assert int(view.state.faults) & BIT["current_offset"]
    assert not [v for v in check_run(loop.result(), chem, unobservable=False) if v.prop == "P7-latch"]
