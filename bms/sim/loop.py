"""The closed loop: plant -> sensors -> firmware (any target) -> limits -> charger -> plant.

Every firmware step (scenario.dt_ms, 100 ms by default) the plant advances by the step
(in plant_substeps exact sub-steps) with the current the charger (or the drive) delivered,
the sensors sample it, the firmware steps on that sample only, and the charger takes the
new charge current limit for the next step. This module only orchestrates: the vehicle
(bms.sim.vehicle), the firmware's configuration (bms.sim.configure), the fault bookkeeping
(bms.sim.injections), the run log (bms.sim.runlog) and the summary (bms.sim.summary).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from bms.chemistry import Chemistry, load_chemistry
from bms.firmware import Firmware
from bms.plant.charger import Charger
from bms.plant.fault_onsets import OnsetView
from bms.plant.faults import Fault, Injection
from bms.plant.pack import PackPlant
from bms.plant.pressure import StackPressurePlant
from bms.plant.sensors import Sensors
from bms.plant.thermal import ThermalNetwork
from bms.sim.configure import ambient_conductances, effective_ambient, firmware_cell, firmware_config
from bms.sim.injections import FaultBook
from bms.sim.runlog import ANSWER_OF_RC, ANSWER_UNKNOWN, ANSWERS_MAX, COMMAND_BITS, RunLog, command_answer
from bms.sim.scenario import Scenario
from bms.sim.summary import RunSummary, summary
from bms.sim.vehicle import (
    CLOSED,
    OPEN,
    OPENING,
    bus_voltage,
    drive_current_a,
    drive_power_w,
    vehicle_request,
)
from bms.targets.base import Measurement, State, Target


@dataclass
class SimResult:
    scenario: Scenario
    log: dict[str, np.ndarray]
    faults: list[dict[str, object]]
    summary: RunSummary
    cells_true_soc: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    cells_est_soc: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    cells_true_core: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    cells_est_core: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    injected: list[Injection] = field(default_factory=list)  # the run's own records
    limit_step_a: float = 0.0  # the resolution of the logged ccl_a/dcl_a (Target.limit_step_a)
    # the balancing switches the firmware commanded after each step (steps x cells)
    bal_mask: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0), dtype=bool))
    cells_true_v: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    cells_true_surf: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))
    # each cell's capacity (Ah) the firmware was configured with at power-up: the model's
    # element, times the health it stored if any (the SoC property's coulomb-counting reference)
    cells_cap_told_ah: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    # a pressed solid-state pack (bms.plant.pressure): each module's true stack pressure (MPa)
    # and its fraction of full Li | electrolyte contact after each step (steps x modules; no
    # columns when the pack is not pressed)
    pressure_true_mpa: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))
    pressure_contact: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))


@dataclass(slots=True)
class StepView:
    """What a monitor sees after each firmware step: the sample the firmware got, its
    answer, and the plant's truth at the end of the step."""

    k: int
    t_s: float
    meas: Measurement
    state: State
    i_mean_a: float  # mean pack current over the step (> 0 discharge)
    v_true: np.ndarray
    core_true_c: np.ndarray
    soc_true: np.ndarray
    injected: list[Injection]
    charging_phase: bool
    resets: int  # fault resets commanded so far


class ClosedLoop:
    """The loop, one firmware step at a time: `step()` until it returns None, then
    `result()`. Between steps a test may `inject` a fault, `command` the contactors or a
    reset, or change the charger. `run()` is the whole scenario in one call."""

    def __init__(
        self,
        scn: Scenario,
        target: Target | None = None,
        chemistry: Chemistry | None = None,
        monitor: Callable[[StepView], None] | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> None:
        self.scn = scn
        self.chem = chem = chemistry or load_chemistry(scn.chemistry)
        self.target = target or Firmware()
        self.monitor = monitor
        self.progress = progress
        # the generators' seeds: plant, sensors, stored SoC, stored health, pressure sensors (the
        # first four are those of spawn(4): a child's seed depends only on its index)
        seeds = np.random.SeedSequence(scn.seed).spawn(5)
        self.plant = PackPlant(
            chem.cell, scn.series, scn.parallel, scn.soc_start, scn.spread, np.random.default_rng(seeds[0])
        )
        self.plant.set_balancing(scn.balancing.bleed_ohm, scn.balancing.sense_wire_ohm)
        self.bal_test = False  # the coming conversion is a switch test (discharge permitted)
        self.thermal = ThermalNetwork(
            chem.cell, scn.series, scn.parallel, scn.cooling, scn.ambient_c, scn.start_c, scn.spread
        )
        self.sensors = Sensors(scn.sensors, scn.series, np.random.default_rng(seeds[1]))
        # a pressed solid-state pack: its modules' fixtures, their load cells, R0 by the contact
        # (None: not pressed, and the plant, its sensors and their draws are those without)
        self.pressure: StackPressurePlant | None = None
        if chem.stack_pressure is not None:
            # the fixtures as built: the file's preload times the scenario's (spread.preload_scale)
            sp = chem.stack_pressure
            sp = replace(sp, preload_mpa=sp.preload_mpa * scn.spread.preload_scale)
            self.pressure = StackPressurePlant(
                sp, scn.series, self.plant.soc, self.thermal.core_c, self.thermal.surf_c
            )
            self.plant.set_r0_factor(self.pressure.r0_factors())
            self.sensors.add_pressure_sensors(
                chem.stack_pressure, self.pressure.n_modules, np.random.default_rng(seeds[4])
            )
        self.charger = Charger(scn.charger)
        # what the BMS stored at its last shutdown: the true SoC give or take the drift since
        stored = None
        if scn.nvm_soc_sigma > 0:
            drift = scn.nvm_soc_sigma * np.random.default_rng(seeds[2]).standard_normal(scn.series)
            stored = np.clip(self.plant.soc + drift, 0.0, 1.0)
        # ... and the health it learned: the truth give or take the filter's error
        health = None
        if scn.nvm_soh_sigma > 0:
            rng = np.random.default_rng(seeds[3])
            el = self.plant.element
            health = (
                np.clip(
                    self.plant.cap_ah
                    / el.capacity_ah
                    * (1 + scn.nvm_soh_sigma * rng.standard_normal(scn.series)),
                    0.5,
                    1.5,
                ),
                np.clip(
                    self.plant.r_scale * (1 + scn.nvm_soh_sigma * rng.standard_normal(scn.series)), 0.5, 3.98
                ),
            )
        self.target.configure(firmware_config(chem, scn, stored, health))
        cap_model_ah = firmware_cell(chem, scn).capacity_ah
        self.cap_told_ah = np.full(scn.series, cap_model_ah) if health is None else health[0] * cap_model_ah
        self.soc_spread_start = float(np.ptp(self.plant.soc))
        self.g_amb = ambient_conductances(chem, scn)
        self.dt_s = dt_s = scn.dt_ms / 1000.0
        self.n_steps = n_steps = math.ceil(scn.duration_s / dt_s)
        self.sub_dt = dt_s / scn.plant_substeps
        t_grid = np.arange(1, n_steps + 1) * dt_s
        self.drive = (
            drive_power_w(t_grid, scn.drive_mean_kw, scn.drive_peak_kw, scn.seed)
            if scn.mode != "charge"
            else None
        )
        self.faults = FaultBook(scn.faults)
        self.log = RunLog(
            n_steps, scn.series, scn.balancing.mode, 0 if self.pressure is None else self.pressure.n_modules
        )
        self.state: State | None = None
        self.contactor = OPEN
        self.ccl = 0.0
        self.dcl = 0.0
        self.heater_on = self.cooling_on = False
        self.heater_wh = 0.0  # the coolant heater's energy over the run
        self.precondition_over = False  # the announced charge is complete
        self.bus_v = 0.0
        self.commands = 0  # COMMAND_BITS of the requests sent since the last step
        self.answers = 0  # ... and each with its answer, in order (runlog.command_answers)
        self.n_answers = 0
        self.close_accepted = False  # ... and whether a close among them was accepted
        self.last_meas: Measurement | None = None
        self.sample_ms = 0
        self.comm_lost = False
        self.precharge_open = False  # an injected precharge_open fault
        self.closed_once = False
        self.vehicle_closes = 0  # the close requests the vehicle sent (vehicle_request)
        self.vehicle_retrying = False  # its last request acknowledged a failed precharge
        self.was_closed = False
        self.contactor_open_s: float | None = None
        self.current_prev = 0.0
        self.ccl_ref = 0.0
        # the charger's assumed response: the lag of ccl_ref per step
        response_s = chem.protection.plausibility.charger_response_ms / 1000.0
        self._ccl_lag = -math.expm1(-dt_s / response_s)
        self._v_summed: np.ndarray | None = None  # the terminal voltages _v_sum is the sum of
        self._v_sum = 0.0
        self.done_at: float | None = None
        # mode "cycles": the phase ("rest_start", "drive", "rest_low", "charge", "rest_high"),
        # when it began, and the cycles completed (the pack was parked before the first drive)
        self.phase = "rest_start"
        self.phase_t0 = 0.0
        self.cycles_done = 0
        self.steps = 0
        self.finished = False
        self.wall_s = 0.0
        self.resets = 0

    @property
    def t_s(self) -> float:
        """Simulated time at the end of the last step."""
        return self.steps * self.dt_s

    @property
    def injected(self) -> list[Injection]:
        """The run's injections so far, in order."""
        return self.faults.injected

    def inject(self, f: Fault) -> None:
        """Inject a fault now (before the next step): recorded as injected at the present
        time (its own at_s is not read)."""
        self.faults.inject(f, self.t_s, self.steps, self)

    def command(self, cmd: str) -> int:
        """A vehicle request to the firmware: "close", "open" or "reset"."""
        if cmd == "close":
            self.closed_once = True  # the vehicle wants the charge: the charger may deliver
        return self._send(cmd)

    def _send(self, cmd: str) -> int:
        """A request to the target, noted for the log of the next step (`commands`)."""
        self.commands |= COMMAND_BITS[cmd]
        if cmd == "reset":
            self.resets += 1
        rc = self.target.command(cmd)
        if self.n_answers < ANSWERS_MAX:
            answer = command_answer(cmd, rc if self.target.answers_commands else None)
            self.answers |= answer << (4 * self.n_answers)
            self.n_answers += 1
        if cmd == "close" and rc == 0:
            self.close_accepted = True  # a precharge began before the next step's judgement
        return rc

    def step(self) -> StepView | None:
        """Advance one firmware step; None once the scenario has ended."""
        if self.finished or self.steps >= self.n_steps:
            self.finished = True
            return None
        t_wall = time.perf_counter()
        k = self.steps
        t = (k + 1) * self.dt_s
        self.faults.inject_due(t, k, self)
        prev = self.state
        if prev is not None:
            self._vehicle_requests(prev, t)
        if self.scn.mode == "cycles":
            self._next_phase(prev, t)
            if self.finished:
                return None
            charging_phase = self.phase == "charge"
        else:
            charging_phase = self.scn.mode == "charge" or t > self.scn.drive_s
        i_mean = self._current(k, charging_phase)
        v_true = self._advance_plant(i_mean)
        self.bus_v = bus_voltage(
            self.bus_v,
            self._pack_v(),
            self.contactor,
            None if prev is None else prev.contactor_state,
            self.dt_s,
            not self.precharge_open,
        )
        meas = self._sample(i_mean, v_true, charging_phase)
        # the limit in force over this interval (the one the charger was following): what the
        # firmware judges this interval's current against, before its step sets the next
        self._follow_ccl()
        state = self._firmware_step(meas, t)
        sent, self.commands = self.commands, 0  # the requests this step applied; then the next's
        answers, n_answers, self.answers, self.n_answers = self.answers, self.n_answers, 0, 0
        if n_answers == 1 and not self.target.answers_commands and "command_result" in state.extra:
            # a target whose command() cannot answer (a bus) reports the firmware's answer to the
            # one request that went out with the step in its State
            answers = (answers & ~3) | ANSWER_OF_RC.get(int(state.extra["command_result"]), ANSWER_UNKNOWN)
        closing, self.close_accepted = self.close_accepted, False
        self.faults.note_latched(state.faults, t)
        self.current_prev = i_mean
        self.faults.judge_onsets(lambda: self._onset_view(k, t, i_mean, v_true, int(state.faults), closing))
        loop_values = (
            i_mean, self.ccl, self.dcl, meas.charger_max_a, self.resets, len(self.injected),
            sent, answers, meas.bus_v, meas.pack_v,
        )  # fmt: skip
        self.log.append(
            k,
            state,
            loop_values,
            self.plant.soc,
            self.thermal.t,
            v_true,
        )
        if self.pressure is not None:
            self.log.append_pressure(k, self.pressure.p, self.pressure.contact, meas.pressure_mpa)
        if self.progress is not None and k % 100 == 0:
            self.progress(t)
        self._check_done(state, t, charging_phase)
        view = StepView(
            k, t, meas, state, i_mean, v_true, self.thermal.core_c, self.plant.soc, self.injected,
            charging_phase, self.resets,
        )  # fmt: skip
        self.wall_s += time.perf_counter() - t_wall
        if self.monitor is not None:
            self.monitor(view)
        return view

    def _vehicle_requests(self, state: State, t: float) -> None:
        """The vehicle's requests, from the last firmware state."""
        cmd = vehicle_request(
            self.scn,
            state,
            t,
            self.contactor,
            self.closed_once,
            self.vehicle_closes,
            self.was_closed,
            self.vehicle_retrying,
            self.current_prev,
        )
        if cmd is not None:
            self._send(cmd)
            if cmd == "close":
                self.closed_once = True
                self.vehicle_closes += 1
            self.vehicle_retrying = cmd == "reset"

    def _next_phase(self, state: State | None, t: float) -> None:
        """Mode "cycles": drive until the firmware's pack SoC is at cycle_soc_low, rest, charge
        until it declares the charge complete, rest; the run ends after the last rest."""
        scn = self.scn
        if state is None:
            return
        rested = t - self.phase_t0 >= scn.rest_s
        nxt = None
        if self.phase == "rest_start" and rested:
            nxt = "drive"
        elif self.phase == "drive" and self.contactor == CLOSED and state.soc_pack <= scn.cycle_soc_low:
            nxt = "rest_low"
        elif self.phase == "rest_low" and rested:
            nxt = "charge"
        elif self.phase == "charge" and state.charge_complete and abs(self.current_prev) < 1.0:
            nxt = "rest_high"
        elif self.phase == "rest_high" and rested:
            self.cycles_done += 1
            nxt = "drive"
            if self.cycles_done >= scn.cycles:
                self.finished = True
                return
        if nxt is not None:
            self.phase, self.phase_t0 = nxt, t

    def _current(self, k: int, charging_phase: bool) -> float:
        """The mean pack current over step k (> 0 discharge): the charger's or the drive's."""
        circuit = self.contactor in (CLOSED, OPENING)
        if self.scn.mode == "cycles" and self.phase.startswith("rest"):
            return 0.0
        pack_v_true = self._pack_v()
        if pack_v_true == 0.0 and not self.plant.v_term.any():
            pack_v_true = float(self.scn.series * 3.7)
        if charging_phase:
            self.charger.enabled = self.closed_once
            return -self.charger.step(self.dt_s, self.ccl, pack_v_true, circuit)
        assert self.drive is not None
        return drive_current_a(float(self.drive[k]), pack_v_true, self.ccl, self.dcl, circuit)

    def _advance_plant(self, i_mean: float) -> np.ndarray:
        """The pack and its thermal network over the step; the true terminal voltages."""
        plant, thermal = self.plant, self.thermal
        for _ in range(self.scn.plant_substeps):
            heat = plant.step(self.sub_dt, i_mean, thermal.core_c)
            thermal.step(self.sub_dt, heat, thermal.coolant_power(self.cooling_on, self.heater_on))
        if self.heater_on:  # a PTC heater: its electrical power is its heat (an assumption)
            self.heater_wh += thermal.spec.heater_w * self.dt_s / 3600.0
        if self.pressure is not None:
            # the fixtures at the step's end state; R0 follows from the next step on (the
            # pressure moves over tens of seconds: a step's lag)
            self.pressure.step(self.dt_s, plant.soc, thermal.core_c, thermal.surf_c)
            plant.set_r0_factor(self.pressure.r0_factors())
        return plant.v_term

    def _sample(self, i_mean: float, v_true: np.ndarray, charging_phase: bool) -> Measurement:
        """The sensors' sample of the step (with the link cut: the last one, same time stamp)."""
        if self.comm_lost and self.last_meas is not None:
            return self.last_meas
        scn, sensors, thermal = self.scn, self.sensors, self.thermal
        pack_v_true = self._pack_v()
        self.sample_ms += scn.dt_ms
        meas = Measurement(
            current_a=sensors.current(i_mean),
            cell_v=sensors.cell_voltages(self._at_afe(v_true)),
            temp_degc=sensors.temperatures(thermal.surf_c, self.dt_s),
            ambient_degc=effective_ambient(
                sensors.coolant_temp(thermal.coolant_c), sensors.coolant_temp(scn.ambient_c), self.g_amb
            ),
            pack_v=sensors.pack_voltage_of_sum(pack_v_true),
            bus_v=self.bus_v,
            charger_max_a=self.charger.own_limit(pack_v_true) if charging_phase else float("nan"),
            coolant_flow_lpm=sensors.flow(thermal.flow_lpm),
            fast_charge_in_s=self._announced(),
            sample_time_ms=self.sample_ms,
            pressure_mpa=sensors.pressures(self.pressure.p) if self.pressure is not None else np.zeros(0),
        )
        self.last_meas = meas
        return meas

    def _announced(self) -> float:
        """Measurement.fast_charge_in_s: from precondition_s before the arrival at the charger
        (close_at_s) the time left, then 0 until the charge is complete; NaN otherwise."""
        scn, t = self.scn, (self.steps + 1) * self.dt_s  # the sample's time (step())
        if scn.precondition_s <= 0.0 or self.precondition_over:
            return float("nan")
        if t < scn.close_at_s:
            left = scn.close_at_s - t
            return left if left <= scn.precondition_s else float("nan")
        st = self.state
        if st is not None and (st.charge_complete or (self.was_closed and self.contactor == OPEN)):
            self.precondition_over = True
            return float("nan")
        return 0.0

    def _at_afe(self, v_true: np.ndarray) -> np.ndarray:
        """The cell voltages at the front end's inputs: the true ones, shifted by the bleed
        currents that flow through the sense lines during the conversion (the switches the
        firmware told to conduct in a switch test, and any stuck on)."""
        p = self.plant
        if not (self.bal_test or p.stuck_on.any()):
            return v_true
        return v_true + p.sense_shift_v(self.bal_test)

    def _firmware_step(self, meas: Measurement, t: float) -> State:
        """The firmware's step on the sample, and the outputs the loop obeys from it."""
        state = self.state = self.target.step(self.scn.dt_ms, meas)
        self.steps += 1
        # the limits the charger and the drive obey: as received over a bus where the target has one
        self.ccl, self.dcl = state.limits_bus or (float(state.ccl_a), float(state.dcl_a))
        contactor = self.contactor = int(state.contactor_state)
        self.heater_on, self.cooling_on = bool(state.heater_request), bool(state.cooling_request)
        if state.bal_mask is not None:
            if state.bal_cells or self.plant.bal_cmd.any():
                self.plant.command_switches(state.bal_mask)
            self.bal_test = bool(state.bal_test)
        if contactor == CLOSED:
            self.was_closed = True
        elif self.was_closed and self.contactor_open_s is None:
            self.contactor_open_s = t  # the first step the firmware opened (or began opening)
        return state

    def _follow_ccl(self) -> None:
        """The CCL as a compliant charger follows it (its response lag): the charger faults' onset."""
        if self.ccl >= self.ccl_ref:
            self.ccl_ref = self.ccl
        else:
            self.ccl_ref += (self.ccl - self.ccl_ref) * self._ccl_lag

    def _onset_view(
        self, k: int, t: float, i_mean: float, v_true: np.ndarray, latched: int, closing: bool
    ) -> OnsetView:
        """closing: a close request was accepted before this step (OnsetView.closing)."""
        return OnsetView(
            k, t, i_mean, self.ccl_ref, v_true, self.contactor == OPEN, closing,
            self.sensors.injected_current_offset_a, not self.comm_lost, latched,
            self.thermal.core_c, self.plant, self.chem, self.scn,
            self.pressure.p if self.pressure is not None else np.zeros(0),
            self._link_precharged(),
        )  # fmt: skip

    def _link_precharged(self) -> bool:
        """The link voltage the firmware got this step was at its precharge ratio of the pack's."""
        m = self.last_meas
        ratio = self.chem.protection.contactor.precharge_ratio
        return m is not None and m.pack_v > 0 and m.bus_v >= ratio * m.pack_v

    def _check_done(self, state: State, t: float, charging_phase: bool) -> None:
        """A charge that ended (complete or faulted, contactors open) ends the run 5 s later."""
        scn = self.scn
        if (
            self.done_at is None
            and scn.stop_when_complete
            and self.contactor == OPEN
            and self.closed_once
            and (state.charge_complete or state.faults)
            and charging_phase
        ):
            self.done_at = t
        if self.done_at is not None and t >= self.done_at + 5.0:
            self.finished = True

    def _pack_v(self) -> float:
        """Sum of the plant's true terminal voltages (computed once per voltage vector)."""
        v = self.plant.v_term
        if v is not self._v_summed:
            self._v_summed, self._v_sum = v, float(np.add.reduce(v))  # np.sum without its wrapper
        return self._v_sum

    def _health_err(self) -> tuple[float, float] | None:
        """RMS over the cells of the firmware's capacity and resistance (its scales of the
        configured element) over the plant's true ones, less 1; None where the target does
        not report each cell's."""
        st = self.state
        if st is None or st.cap_scale is None or st.r_scale is None:
            return None
        cap_est = st.cap_scale.astype(float) * self.plant.element.capacity_ah
        cap_err = cap_est / self.plant.cap_ah - 1.0
        r_err = st.r_scale.astype(float) / self.plant.r_scale - 1.0
        return float(np.sqrt(np.mean(cap_err**2))), float(np.sqrt(np.mean(r_err**2)))

    def _balance(self) -> tuple[float, float, float, float | None]:
        """SoC spread at the start and now, bleed energy, and (mode cycles) the usable
        capacity at C/3 from here to the first cell at the discharge floor."""
        usable = None
        if self.scn.mode == "cycles":
            usable = self.plant.usable_capacity_ah(
                self.plant.element.capacity_ah / 3.0,
                self.chem.protection.charge.cell_v_discharge_min_v,
                self.thermal.core_c.copy(),
            )
        return self.soc_spread_start, float(np.ptp(self.plant.soc)), self.plant.bleed_wh, usable

    def result(self) -> SimResult:
        log, cells = self.log.arrays(self.steps, self.dt_s)
        faults = self.faults.fault_list(self.target, self.chem, self.scn)
        true_soc, est_soc, true_core, est_core = (
            cells["true_soc"], cells["est_soc"], cells["true_core"], cells["est_core"],
        )  # fmt: skip
        summ = summary(
            self.scn, self.chem, log, true_soc, est_soc, true_core, est_core, faults,
            self.contactor_open_s, self.wall_s, self._health_err(), self._balance(), self.heater_wh,
            cells["pressure_true"] if self.pressure is not None else None,
        )  # fmt: skip
        return SimResult(
            self.scn,
            log,
            faults,
            summ,
            true_soc,
            est_soc,
            true_core,
            est_core,
            list(self.injected),
            float(self.target.limit_step_a),
            cells["bal_mask"],
            cells["true_v"],
            cells["true_surf"],
            self.cap_told_ah.copy(),
            cells["pressure_true"],
            cells["pressure_contact"],
        )


def run(
    scn: Scenario,
    target: Target | None = None,
    progress: Callable[[float], None] | None = None,
    chemistry: Chemistry | None = None,
    monitor: Callable[[StepView], None] | None = None,
) -> SimResult:
    """The whole scenario; `monitor` (if given) sees every step and may raise."""
    loop = ClosedLoop(scn, target, chemistry, monitor, progress)
    while loop.step() is not None:
        pass
    return loop.result()
