"""The closed loop: plant -> sensors -> firmware (any target) -> limits -> charger -> plant.

Every firmware step (scenario.dt_ms, 100 ms by default) the plant advances by the step
(in plant_substeps exact sub-steps) with the current the charger (or the drive) delivered,
the sensors sample it, the firmware steps on that sample only, and the charger takes the
new charge current limit for the next step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from operator import attrgetter

import numpy as np

from bms._native import ffi
from bms.cells import CellModel, ThermalParams
from bms.chemistry import Chemistry, load_chemistry
from bms.enums import FAULT_ID, FAULT_NAMES, ContactorState
from bms.firmware import Firmware as InProcessTarget
from bms.firmware import PackLayout, fill_config, fill_nvm
from bms.plant.charger import Charger
from bms.plant.fault_onsets import OnsetView
from bms.plant.faults import FAULT_KINDS, PACK_LEVEL_FAULTS, Fault, Injection
from bms.plant.pack import PackPlant
from bms.plant.sensors import Sensors
from bms.plant.thermal import ThermalNetwork
from bms.sim.scenario import Scenario
from bms.targets.base import Measurement, State, Target

CLOSED, OPENING, OPEN = ContactorState.CLOSED, ContactorState.OPENING, ContactorState.OPEN
LOG_FIELDS = (
    "time_s",
    "soc_true_min",
    "soc_true_max",
    "soc_true_mean",
    "soc_est_min",
    "soc_est_max",
    "soc_est_pack",
    "soc_est_mean",
    "cell_v_true_min",
    "cell_v_true_max",
    "core_temp_true_max_c",
    "core_temp_est_max_c",
    "surface_temp_true_max_c",
    "coolant_c",
    "current_a",
    "ccl_a",
    "dcl_a",
    "ccl_limit",
    "contactor_state",
    "faults",
    "warnings",
    "heater_on",
    "cooling_on",
    "charge_complete",
    "cell_v_meas_max",  # the firmware's view (valid readings), for the safety checks
    "cell_v_meas_min",
    "temp_meas_min_c",
    "temp_meas_max_c",
    "charger_max_a",
    "dcl_limit",
    "resets",  # fault resets commanded so far
    "n_injected",  # faults injected so far
)
# log fields that are the firmware's State of the step: log name -> State attribute
STATE_FIELDS = {
    "soc_est_min": "soc_min",
    "soc_est_max": "soc_max",
    "soc_est_pack": "soc_pack",
    "soc_est_mean": "soc_mean",
    "core_temp_est_max_c": "core_temp_max_degc",
    "ccl_limit": "ccl_limit",
    "contactor_state": "contactor_state",
    "faults": "faults",
    "warnings": "warnings",
    "heater_on": "heater_request",
    "cooling_on": "cooling_request",
    "charge_complete": "charge_complete",
    "cell_v_meas_max": "cell_v_max",
    "cell_v_meas_min": "cell_v_min",
    "temp_meas_min_c": "temp_min_degc",
    "temp_meas_max_c": "temp_max_degc",
    "dcl_limit": "dcl_limit",
}
# log fields the loop itself knows of a step (ccl_a, dcl_a: the limits it obeys), in RunLog.loop's order
LOOP_FIELDS = ("current_a", "ccl_a", "dcl_a", "charger_max_a", "resets", "n_injected")
LoopValues = tuple[float, float, float, float, int, int]


def firmware_cell(chem: Chemistry, scn: Scenario) -> CellModel:
    """The series element as the firmware is configured: the chemistry's cell model x P,
    with the thermal model's surface-to-ambient path replaced by the pack's paths to the
    cold plate and to the enclosure air (the firmware's ambient input is their
    conductance-weighted temperature, see effective_ambient)."""
    el = chem.cell.scaled(scn.parallel)
    g = sum(ambient_conductances(chem, scn))
    el.thermal = ThermalParams(
        c_core_j_per_k=el.thermal.c_core_j_per_k,
        c_surf_j_per_k=el.thermal.c_surf_j_per_k,
        r_core_surf_k_per_w=el.thermal.r_core_surf_k_per_w,
        r_surf_amb_k_per_w=1.0 / g,
    )
    return el


def ambient_conductances(chem: Chemistry, scn: Scenario) -> tuple[float, float]:
    """Per element: surface to coolant (nominal flow), surface to enclosure air (W/K)."""
    p = float(scn.parallel)
    return (
        p * scn.cooling.cell_to_coolant_w_per_k,
        scn.cooling.enclosure_share * p / chem.cell.thermal.r_surf_amb_k_per_w,
    )


def effective_ambient(coolant_c: float, air_c: float, g: tuple[float, float]) -> float:
    """What the pack controller hands the firmware as 'ambient': the coolant and the pack's
    air temperature sensors weighted by the pack design's conductances."""
    return (g[0] * coolant_c + g[1] * air_c) / (g[0] + g[1])


def firmware_config(chem: Chemistry, scn: Scenario, soc_stored: np.ndarray | None = None) -> bytes:
    """The firmware's configuration for a scenario; soc_stored: the per-cell SoC its
    non-volatile memory hands back at power-up (None: a first power-up, nothing stored)."""
    cfg = ffi.new("bms_config_t *")
    layout = PackLayout(
        n_cells=scn.series,
        temp_sensor_cells=scn.sensed,
        current_range_a=scn.pack.current_range_a,
        hw_charge_max_a=scn.pack.hw_charge_max_a,
        hw_discharge_max_a=scn.pack.hw_discharge_max_a,
    )
    fill_config(cfg, firmware_cell(chem, scn), layout, chem.protection)
    if soc_stored is not None:
        fill_nvm(cfg, soc_stored, scn.nvm_soc_sigma)
    return bytes(ffi.buffer(cfg))


def drive_power_w(t_s: np.ndarray, mean_kw: float, peak_kw: float, seed: int) -> np.ndarray:
    """A WLTC-like battery power trace: accelerations, cruising, regen, stops (seeded)."""
    rng = np.random.default_rng(seed + 7919)
    p = np.zeros_like(t_s)
    k = 0
    while k < len(t_s):
        n = int(rng.integers(20, 120))
        kind = rng.choice(["stop", "cruise", "accel", "regen"], p=[0.15, 0.45, 0.25, 0.15])
        level = {
            "stop": 0.02,
            "cruise": rng.uniform(0.5, 1.5),
            "accel": rng.uniform(1.5, 5.0),
            "regen": -rng.uniform(0.3, 1.5),
        }[kind]
        p[k : k + n] = level * mean_kw * 1e3
        k += n
    return np.clip(p, -0.5 * peak_kw * 1e3, peak_kw * 1e3)


@dataclass
class SimResult:
    scenario: Scenario
    log: dict[str, np.ndarray]
    faults: list[dict[str, object]]
    summary: dict[str, object]
    cells_true_soc: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    cells_est_soc: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    cells_true_core: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    cells_est_core: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    injected: list[Injection] = field(default_factory=list)  # the run's own records
    limit_step_a: float = 0.0  # the resolution of the logged ccl_a/dcl_a (Target.limit_step_a)


class RunLog:
    """Everything the loop keeps of each step, kept cheap per step: the firmware's State
    values as one tuple appended to a list, the per-cell arrays as one row each; the log
    arrays are assembled when a result is asked for (the same numbers, at the same float32 /
    float64 precision, as writing each field of each step into its own array)."""

    def __init__(self, n_steps: int, series: int) -> None:
        self.series = series
        self._state_values = attrgetter(*STATE_FIELDS.values())
        self.states: list[tuple[float, ...]] = []
        self.loop: list[LoopValues] = []
        self.est_soc = np.zeros((n_steps, series), dtype=np.float32)
        self.est_core = np.zeros((n_steps, series), dtype=np.float32)
        self.true_soc = np.zeros((n_steps, series))
        self.true_temps = np.zeros((n_steps, 2 * series + 1))  # the thermal network: cores, surfaces, coolant
        self.true_v = np.zeros((n_steps, series), dtype=np.float32)

    def append(
        self,
        k: int,
        state: State,
        loop: LoopValues,
        true_soc: np.ndarray,
        true_temps: np.ndarray,
        true_v: np.ndarray,
    ) -> None:
        self.states.append(self._state_values(state))
        self.loop.append(loop)
        self.est_soc[k] = state.soc
        self.est_core[k] = state.core_temp_degc
        self.true_soc[k] = true_soc
        self.true_temps[k] = true_temps
        self.true_v[k] = true_v

    def arrays(self, n: int, dt_s: float) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The log of the first n steps (LOG_FIELDS) and the per-cell arrays."""
        s = self.series
        states = np.array(self.states[:n], dtype=float).reshape(n, len(STATE_FIELDS)).T
        loop = np.array(self.loop[:n], dtype=float).reshape(n, len(LOOP_FIELDS)).T
        temps = self.true_temps[:n]
        cells = {
            "true_soc": self.true_soc[:n],
            "est_soc": self.est_soc[:n],
            "true_core": temps[:, :s],
            "est_core": self.est_core[:n],
        }
        true_v = self.true_v[:n]
        true_surf = temps[:, s : 2 * s].astype(np.float32)
        cols = {name: np.ascontiguousarray(states[j]) for j, name in enumerate(STATE_FIELDS)}
        cols.update({name: np.ascontiguousarray(loop[j]) for j, name in enumerate(LOOP_FIELDS)})
        for flag in ("heater_on", "cooling_on"):
            cols[flag] = (cols[flag] != 0).astype(float)
        cols["time_s"] = np.arange(1, n + 1) * dt_s
        cols["coolant_c"] = temps[:, -1].copy()
        cols["soc_true_min"] = cells["true_soc"].min(axis=1)
        cols["soc_true_max"] = cells["true_soc"].max(axis=1)
        cols["soc_true_mean"] = cells["true_soc"].mean(axis=1)
        cols["cell_v_true_min"] = true_v.min(axis=1).astype(float)
        cols["cell_v_true_max"] = true_v.max(axis=1).astype(float)
        cols["core_temp_true_max_c"] = cells["true_core"].max(axis=1)
        cols["surface_temp_true_max_c"] = true_surf.max(axis=1).astype(float)
        return {name: cols[name] for name in LOG_FIELDS}, cells


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
        self.target = target or InProcessTarget()
        self.monitor = monitor
        self.progress = progress
        seeds = np.random.SeedSequence(scn.seed).spawn(3)
        self.plant = PackPlant(
            chem.cell, scn.series, scn.parallel, scn.soc_start, scn.spread, np.random.default_rng(seeds[0])
        )
        self.thermal = ThermalNetwork(
            chem.cell, scn.series, scn.parallel, scn.cooling, scn.ambient_c, scn.start_c
        )
        self.sensors = Sensors(scn.sensors, scn.series, np.random.default_rng(seeds[1]))
        self.charger = Charger(scn.charger)
        # what the BMS stored at its last shutdown: the true SoC give or take the drift since
        stored = None
        if scn.nvm_soc_sigma > 0:
            drift = scn.nvm_soc_sigma * np.random.default_rng(seeds[2]).standard_normal(scn.series)
            stored = np.clip(self.plant.soc + drift, 0.0, 1.0)
        self.target.configure(firmware_config(chem, scn, stored))
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
        self.pending = sorted(scn.faults, key=lambda f: f.at_s)  # the loop's own list
        self.injected: list[Injection] = []
        self.log = RunLog(n_steps, scn.series)
        self.first_seen: dict[int, float] = {}
        self._seen_faults = 0  # the fault bits in first_seen
        self.state: State | None = None
        self.contactor = OPEN
        self.ccl = 0.0
        self.dcl = 0.0
        self.heater_on = self.cooling_on = False
        self.bus_v = 0.0
        self.last_meas: Measurement | None = None
        self.sample_ms = 0
        self.comm_lost = False
        self.closed_once = False
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
        self.steps = 0
        self.finished = False
        self.wall_s = 0.0
        self.resets = 0

    @property
    def t_s(self) -> float:
        """Simulated time at the end of the last step."""
        return self.steps * self.dt_s

    def inject(self, f: Fault) -> None:
        """Inject a fault now (before the next step): recorded as injected at the present
        time (its own at_s is not read)."""
        self.injected.append(Injection(f, self.t_s, self.steps))
        FAULT_KINDS[f.kind].apply(f, self)

    def command(self, cmd: str) -> int:
        """A vehicle request to the firmware: "close", "open" or "reset"."""
        if cmd == "close":
            self.closed_once = True  # the vehicle wants the charge: the charger may deliver
        elif cmd == "reset":
            self.resets += 1
        return self.target.command(cmd)

    def step(self) -> StepView | None:
        """Advance one firmware step; None once the scenario has ended."""
        if self.finished or self.steps >= self.n_steps:
            self.finished = True
            return None
        t_wall = time.perf_counter()
        scn, plant, thermal, sensors, charger = self.scn, self.plant, self.thermal, self.sensors, self.charger
        dt_s = self.dt_s
        k = self.steps
        t = (k + 1) * dt_s
        pending = self.pending
        while pending and pending[0].at_s <= t:
            f = pending.pop(0)
            self.injected.append(Injection(f, f.at_s, k))
            FAULT_KINDS[f.kind].apply(f, self)
        # ---- the vehicle's requests (from the last firmware state) ----
        state = self.state
        if state is not None:
            if not self.closed_once and t >= scn.close_at_s and self.contactor == OPEN and state.faults == 0:
                self.target.command("close")
                self.closed_once = True
            elif (
                scn.stop_when_complete
                and state.charge_complete
                and self.contactor == CLOSED
                and abs(self.current_prev) < 1.0
                and (scn.mode == "charge" or t > scn.drive_s)
            ):
                self.target.command("open")
        circuit = self.contactor in (CLOSED, OPENING)
        # ---- the current over this step ----
        charging_phase = scn.mode == "charge" or t > scn.drive_s
        pack_v_true = self._pack_v()
        if pack_v_true == 0.0 and not plant.v_term.any():
            pack_v_true = float(scn.series * 3.7)
        if charging_phase:
            charger.enabled = self.closed_once
            i_mean = -charger.step(dt_s, self.ccl, pack_v_true, circuit)
        else:
            assert self.drive is not None
            i_dem = self.drive[k] / max(pack_v_true, 1.0)
            i_mean = min(i_dem, self.dcl) if i_dem > 0 else max(i_dem, -self.ccl)
            i_mean = i_mean if circuit else 0.0
        # ---- plant ----
        for _ in range(scn.plant_substeps):
            heat = plant.step(self.sub_dt, i_mean, thermal.core_c)
            thermal.step(self.sub_dt, heat, thermal.coolant_power(self.cooling_on, self.heater_on))
        v_true = plant.v_term
        pack_v_true = self._pack_v()
        if self.contactor in (CLOSED, OPENING):
            self.bus_v = pack_v_true
        elif state is not None and state.contactor_state == 1:  # precharge: RC of ~50 ms
            self.bus_v = pack_v_true + (self.bus_v - pack_v_true) * math.exp(-dt_s / 0.05)
        else:
            self.bus_v *= math.exp(-dt_s / 1.0)  # discharge resistor
        # ---- sensors ----
        if self.comm_lost and self.last_meas is not None:
            meas = self.last_meas  # nothing new reaches the firmware: same sample, same time stamp
        else:
            self.sample_ms += scn.dt_ms
            meas = Measurement(
                current_a=sensors.current(i_mean),
                cell_v=sensors.cell_voltages(v_true),
                temp_degc=sensors.temperatures(thermal.surf_c, dt_s),
                ambient_degc=effective_ambient(
                    sensors.coolant_temp(thermal.coolant_c), sensors.coolant_temp(scn.ambient_c), self.g_amb
                ),
                pack_v=sensors.pack_voltage_of_sum(pack_v_true),
                bus_v=self.bus_v,
                charger_max_a=charger.own_limit(pack_v_true) if charging_phase else float("nan"),
                coolant_flow_lpm=sensors.flow(thermal.flow_lpm),
                sample_time_ms=self.sample_ms,
            )
            self.last_meas = meas
        # ---- firmware ----
        state = self.target.step(scn.dt_ms, meas)
        self.state = state
        self.steps += 1
        # the limits the charger and the drive obey: as received over a bus where the target has one
        self.ccl, self.dcl = state.limits_bus or (float(state.ccl_a), float(state.dcl_a))
        contactor = self.contactor = int(state.contactor_state)
        self.heater_on, self.cooling_on = bool(state.heater_request), bool(state.cooling_request)
        if contactor == CLOSED:
            self.was_closed = True
        elif self.was_closed and self.contactor_open_s is None:
            self.contactor_open_s = t  # the first step the firmware opened (or began opening)
        new_faults = state.faults & ~self._seen_faults
        if new_faults:
            self._seen_faults |= new_faults
            for fid in range(len(FAULT_NAMES)):
                if new_faults >> fid & 1:
                    self.first_seen[fid] = t
        self.current_prev = i_mean
        # the CCL as a compliant charger follows it (its response lag): the charger faults' onset
        if self.ccl >= self.ccl_ref:
            self.ccl_ref = self.ccl
        else:
            self.ccl_ref += (self.ccl - self.ccl_ref) * self._ccl_lag
        if any(inj.onset_s is None for inj in self.injected):
            ov = OnsetView(
                k,
                t,
                i_mean,
                self.ccl_ref,
                v_true,
                contactor == OPEN,
                not self.comm_lost,
                thermal.core_c,
                plant,
                self.chem,
                scn,
            )
            for inj in self.injected:
                if inj.onset_s is None:
                    inj.onset_s = FAULT_KINDS[inj.kind].onset(inj, ov)
        # ---- log (per-cell truth stored whole; its extremes are taken once in result()) ----
        self.log.append(
            k,
            state,
            (i_mean, self.ccl, self.dcl, meas.charger_max_a, self.resets, len(self.injected)),
            plant.soc,
            thermal.t,
            v_true,
        )
        if self.progress is not None and k % 100 == 0:
            self.progress(t)
        if (
            self.done_at is None
            and scn.stop_when_complete
            and contactor == OPEN
            and self.closed_once
            and (state.charge_complete or state.faults)
            and charging_phase
        ):
            self.done_at = t
        if self.done_at is not None and t >= self.done_at + 5.0:
            self.finished = True
        view = StepView(
            k,
            t,
            meas,
            state,
            i_mean,
            v_true,
            thermal.core_c,
            plant.soc,
            self.injected,
            charging_phase,
            self.resets,
        )
        self.wall_s += time.perf_counter() - t_wall
        if self.monitor is not None:
            self.monitor(view)
        return view

    def _pack_v(self) -> float:
        """Sum of the plant's true terminal voltages (computed once per voltage vector)."""
        v = self.plant.v_term
        if v is not self._v_summed:
            self._v_summed, self._v_sum = v, float(np.add.reduce(v))  # np.sum without its wrapper
        return self._v_sum

    def result(self) -> SimResult:
        n = self.steps
        log, cells = self.log.arrays(n, self.dt_s)
        faults = _fault_list(self.first_seen, self.injected, self.target, self.chem)
        summary = _summary(
            self.scn,
            self.chem,
            log,
            cells["true_soc"],
            cells["est_soc"],
            cells["true_core"],
            cells["est_core"],
            faults,
            self.contactor_open_s,
            self.wall_s,
        )
        return SimResult(
            self.scn,
            log,
            faults,
            summary,
            cells["true_soc"],
            cells["est_soc"],
            cells["true_core"],
            cells["est_core"],
            list(self.injected),
            float(self.target.limit_step_a),
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


def _fault_list(
    first_seen: dict[int, float], injected: list[Injection], target: Target, chem: Chemistry
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
                "detected_s": round(t, 3),
                "injected_kind": None if f is None else f.kind,
                **_timing(f, chem),
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
                    "detected_s": None,
                    "injected_kind": f.kind,
                    **_timing(f, chem),
                }
            )
    return out


def _summary(
    scn: Scenario,
    chem: Chemistry,
    log: dict[str, np.ndarray],
    true_soc: np.ndarray,
    est_soc: np.ndarray,
    true_core: np.ndarray,
    est_core: np.ndarray,
    faults: list[dict[str, object]],
    contactor_open_s: float | None,
    wall: float,
) -> dict[str, object]:
    t = log["time_s"]
    charging = log["current_a"] < -0.01 * scn.parallel * chem.cell.capacity_ah
    if scn.mode != "charge":
        charging &= t > scn.drive_s  # regen while driving is not the charge
    t_start = float(t[np.argmax(charging)]) if charging.any() else None
    # the target is reached when the firmware declares the charge complete (its mean-cell
    # SoC estimate at the target): what a driver sees. The true SoC there is reported too.
    complete = (log["charge_complete"] > 0) & (log["faults"] == 0)
    time_to_target = None
    soc_true_at_target = None
    if t_start is not None and complete.any():
        k = int(np.argmax(complete))
        time_to_target = round(float(t[k]) - t_start + scn.dt_ms / 1000.0, 1)
        soc_true_at_target = round(float(log["soc_true_mean"][k]), 4)
    # converged: the steps from min(60 s, half the run) on (t rises: a slice, not a mask copy)
    conv = int(np.searchsorted(t, min(60.0, float(t[-1]) / 2)))
    soc_err = (est_soc[conv:] - true_soc[conv:]).ravel()
    core_err = (est_core[conv:] - true_core[conv:]).ravel()
    sim_s = float(t[-1]) if len(t) else 0.0
    return {
        "scenario": scn.name,
        "chemistry": scn.chemistry,
        "pack": f"{scn.series}s{scn.parallel}p",
        "time_to_target_s": time_to_target,
        "soc_true_at_target": soc_true_at_target,
        "charge_start_s": t_start,
        "soc_true_end": round(float(log["soc_true_mean"][-1]), 4),
        "soc_est_end": round(float(log["soc_est_mean"][-1]), 4),
        "max_cell_v_true": round(float(log["cell_v_true_max"].max()), 4),
        "max_core_temp_c_true": round(float(log["core_temp_true_max_c"].max()), 2),
        "soc_rmse": round(float(np.sqrt(np.mean(soc_err**2))), 5) if soc_err.size else None,
        "core_temp_rmse_c": round(float(np.sqrt(np.mean(core_err**2))), 3) if core_err.size else None,
        "faults": faults,
        "contactor_open_s": contactor_open_s,
        "charge_limit_v": chem.protection.charge.cell_v_charge_max_v,
        "abs_max_cell_v": chem.abs_max.cell_v,
        "abs_max_core_temp_c": chem.abs_max.core_temp_c,
        "steps": len(t),
        "sim_s": round(sim_s, 3),
        "wall_s": round(wall, 3),
        "realtime_factor": round(sim_s / wall, 1) if wall > 0 else None,
    }


def _timing(f: Injection | None, chem: Chemistry) -> dict[str, float | None]:
    if f is None:
        return {"onset_s": None, "trip_time_s": None}
    onset = f.onset_s
    trip = getattr(chem.protection.plausibility, FAULT_KINDS[f.kind].trip_time_field) / 1000.0
    return {"onset_s": None if onset is None else round(float(onset), 3), "trip_time_s": trip}


def with_overrides(scn: Scenario, **kw: object) -> Scenario:
    """A copy of a scenario with some top-level fields replaced (CLI options)."""
    return replace(scn, **{k: v for k, v in kw.items() if v is not None})
