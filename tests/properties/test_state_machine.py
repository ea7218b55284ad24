"""A hypothesis state machine on the closed loop: firmware steps interleaved with charger
changes, fault injections, contactor commands and fault resets (also at the moments that
matter: during a precharge, during an opening, right after a fault latches), every property
(P1-P8, bms/sim/checks.py) checked after every rule, on the session's target."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from bms.chemistry import load_chemistry
from bms.enums import ContactorState
from bms.plant.faults import CELL_FAULTS, CHARGER_FAULTS, FAULT_KINDS, MODULE_FAULTS, Fault
from bms.sim.checks import check_run
from bms.sim.loop import ClosedLoop
from hil.pytest_plugin import scenario_budget
from hil.targets.remote import reset_for_a_new_run
from tests.properties.harness import fail_with_scenario
from tests.properties.strategies import scenarios

COMMANDS = st.sampled_from(["close", "open", "reset"])
MOMENT_STEPS = 300  # 30 s at the 100 ms step: a precharge, an opening, a detection
OPEN, PRECHARGE, CLOSED, OPENING = (int(s) for s in ContactorState)


class FastChargeMachine(RuleBasedStateMachine):
    target = None  # set by the test: the session's firmware target

    def __init__(self) -> None:
        super().__init__()
        self.loop: ClosedLoop | None = None
        self.violations: list = []
        self.charger_faulted = False

    @initialize(scn=scenarios(faults=False, max_series=24))
    def start(self, scn):
        # long enough that the rules, not the clock, end the run
        scn = replace(scn, duration_s=3600.0, stop_when_complete=False)
        self.scn = scn
        self.chem = load_chemistry(scn.chemistry)
        reset_for_a_new_run(self.target)  # a previous example may have left the contactors closed
        self.loop = ClosedLoop(scn, self.target, chemistry=self.chem)

    @rule(n=st.integers(1, 60))
    def steps(self, n):
        for _ in range(n):
            if self.loop.step() is None:
                break

    @rule(gain_frac=st.floats(-0.8, 0.8), tau_s=st.floats(0.05, 0.5))
    def charger_changes(self, gain_frac, tau_s):
        """A compliant charger changes its regulation within its tolerance."""
        if self.charger_faulted:
            return
        tol = self.loop.chem.protection.plausibility.ccl_excess_frac
        self.loop.charger.overshoot = 1.0 + gain_frac * tol
        self.loop.charger.spec = replace(self.loop.charger.spec, tau_s=tau_s)

    # faults come once the charge is under way, as in the scenario strategy (close + 5 s on)
    def inject_allowed(self) -> bool:
        return (
            self.loop is not None
            and len(self.loop.injected) < 3
            and self.loop.steps * self.scn.dt_ms / 1000.0 >= self.scn.close_at_s + 5.0
        )

    @precondition(lambda self: self.inject_allowed())
    @rule(kind=st.sampled_from(sorted(FAULT_KINDS)), where=st.floats(0.0, 1.0))
    def inject(self, kind, where):
        cell = None
        sp = self.chem.stack_pressure
        if kind in MODULE_FAULTS:
            if sp is None:
                return  # a pack without a pressed fixture has no stack pressure to lose
            cell = min(int(where * sp.n_modules(self.scn.series)), sp.n_modules(self.scn.series) - 1)
        elif FAULT_KINDS[kind].level == "thermistor":
            cell = self.scn.sensed[min(int(where * len(self.scn.sensed)), len(self.scn.sensed) - 1)]
        elif kind in CELL_FAULTS:
            cell = min(int(where * self.scn.series), self.scn.series - 1)
        catches = set(FAULT_KINDS[kind].caught_by)
        if any(catches & set(FAULT_KINDS[f.kind].caught_by) for f in self.loop.injected):
            return  # the firmware latches each fault once: a second one it cannot tell apart
        # A charger that ignores the limit while the measurement link is dead is a double fault
        # no BMS can answer in time: blind, it learns of the lost link only after the stale
        # timeout, and a runaway charger lifts a cold cell past its absolute maximum sooner
        # (found here: an LFP cell at 0 C, 3.26 -> 3.90 V in 0.6 s at 1C). A pack's safety
        # concept covers it with a second, independent layer (the charger's own voltage stop,
        # an AFE's hardware overvoltage comparator) that this bench does not model; the machine
        # draws single faults of each kind, and this pair not at once.
        kinds = {f.kind for f in self.loop.injected} | {kind}
        # one reading shows one failure at a time: a frozen reading of a cell whose sense wire
        # is open (or the reverse) is the same channel failing twice
        row = FAULT_KINDS[kind]
        if cell is not None and any(
            f.cell == cell
            and FAULT_KINDS[f.kind].applied_to == row.applied_to == "sensors"
            and FAULT_KINDS[f.kind].level == row.level
            for f in self.loop.injected
        ):
            return
        if "comm_loss" in kinds and kinds & set(CHARGER_FAULTS):
            return
        self.charger_faulted |= kind.startswith("charger")
        self.loop.inject(Fault(kind=kind, at_s=0.0, cell=cell))

    @rule(cmd=st.sampled_from(["close", "open", "reset"]))
    def command(self, cmd):
        self.loop.command(cmd)

    # The moments a request matters most are short (a precharge lasts a few steps, an opening
    # until the current falls): the rules below step the loop to such a moment and send the
    # request there, so that P8 (every contactor transition allowed, checked on every step)
    # and P3/P7 see it. Each gives up after MOMENT_STEPS if the moment never comes.
    def _step_until(self, reached, limit: int) -> bool:
        for _ in range(limit):
            view = self.loop.step()
            if view is None:
                return False
            if reached(view.state):
                return True
        return False

    def _contactor(self) -> int:
        return OPEN if self.loop.state is None else int(self.loop.state.contactor_state)

    @precondition(lambda self: self.loop is not None)
    @rule(cmd=COMMANDS, wait=st.integers(0, 1), reset_first=st.booleans())
    def command_during_precharge(self, cmd, wait, reset_first):
        """Open (where the contactors are not open), possibly a reset, a close, then the
        request in the first or second step of the precharge (none where a latched fault
        refuses the close)."""
        if self._contactor() in (PRECHARGE, CLOSED):
            self.loop.command("open")
            self._step_until(lambda s: int(s.contactor_state) == OPEN, MOMENT_STEPS)
        if reset_first:
            self.loop.command("reset")
        if self._contactor() == OPEN:
            self.loop.command("close")
        if self._step_until(lambda s: int(s.contactor_state) == PRECHARGE, 1):
            if wait:
                self.loop.step()
            self.loop.command(cmd)

    @rule(cmd=COMMANDS, settle=st.integers(0, 300))
    def command_during_opening(self, cmd, settle):
        """Closed (closing first where the contactors are open and nothing is latched), the
        charge under way, an open request; then the request while they wait for the current
        to fall below the break current (a current above it: OPENING, else straight to OPEN
        and there is no such moment)."""
        if self._contactor() == OPEN and (self.loop.state is None or int(self.loop.state.faults) == 0):
            self.loop.command("close")
            self._step_until(lambda s: int(s.contactor_state) == CLOSED, MOMENT_STEPS)
        if self._contactor() == CLOSED:
            # the charge under way: up to `settle` steps for the current to pass the break
            # current (a pack whose charge never does has no such moment)
            break_a = self.chem.protection.contactor.break_current_a
            for _ in range(settle):
                view = self.loop.step()
                if view is None or abs(view.i_mean_a) > 1.5 * break_a:
                    break
            self.loop.command("open")
        if self._step_until(lambda s: int(s.contactor_state) == OPENING, 2):
            self.loop.command(cmd)

    @precondition(lambda self: self.loop is not None)
    @rule(
        kind=st.sampled_from(sorted(FAULT_KINDS)),
        where=st.floats(0.0, 1.0),
        cmd=COMMANDS,
        then=st.sampled_from([None, "close", "open", "reset"]),
    )
    def command_right_after_a_latch(self, kind, where, cmd, then):
        """A fault injected (as the inject rule would, where it may), then the request in the
        step after a fault latches, and possibly a second one at once (a reset followed by a
        close: the latch and the close are judged on the faults after the reset)."""
        if self.inject_allowed():
            self.inject(kind, where)
        before = 0 if self.loop.state is None else int(self.loop.state.faults)
        if self._step_until(lambda s: (int(s.faults) & ~before) != 0, MOMENT_STEPS):
            self.loop.command(cmd)
            if then is not None:
                self.loop.command(then)

    @invariant()
    def every_property_holds_on_every_step_so_far(self):
        if self.loop is not None and self.loop.steps > 0:
            # an injection the random commands never let show (an offset while the contactors
            # stay closed) is not this machine's to judge; the scenario suite judges it
            violations = check_run(self.loop.result(), self.chem, unobservable=False)
            if violations:
                # the injections as scenario faults (the commands are in hypothesis' step listing)
                scn = replace(self.scn, faults=[inj.as_fault() for inj in self.loop.injected])
                fail_with_scenario(scn, violations)


def test_interleaved_steps_faults_commands_and_resets_keep_every_property(bms_target):
    FastChargeMachine.target = bms_target
    run_state_machine_as_test(
        FastChargeMachine,
        settings=settings(max_examples=max(2, scenario_budget() // 4), stateful_step_count=40),
    )
