"""The safety properties of a fast charge, checked on every step of a closed-loop run.

An independent (Python, float64, vectorised over the run) statement of what the firmware
must guarantee, used by the property tests, by `bms simulate --check` and by campaigns. It
reads only what any target reports (the logged `State` of every step), what the firmware was
given and the plant's truth, never the firmware's internals:

P1 envelope   no true cell voltage above the chemistry's absolute maximum, no true core
              temperature above its absolute maximum (an internal short heats its own cell
              whatever the BMS does: that cell's temperature is exempt once one is injected,
              and a neighbour's past the maximum next to a hotter exempt cell past it);
              with nothing injected, no true cell voltage above the charge voltage + 10 mV
P2 limit      the CCL is never above any of its constraints, recomputed here from the
              chemistry: the fast-charge and plating maps at every cell's reported SoC and core
              temperature, the temperature/voltage derates, the hardware and the charger's own
              limit; it rises no faster than the ramp (plus one step of the sent signal where
              the target quantises the limit on a bus); it is zero while a fault is latched, with
              the contactors not closed, outside the charge temperature window (closed at the
              trips' release bands) and once the charge is complete; the charge completes when
              the reported mean SoC reaches the target and resumes only below the resume SoC;
              the limiting term it names (map, plating, hardware, cold, temperature) is the one
              the CCL equals; the DCL is zero with a fault latched or the contactors not
              closed, and both limits name FAULT while a fault is latched
P3 detection  every injected fault is latched within its trip time + one step of its onset
              (one that never became observable in the run is a violation too: unobservable;
              one on a cell whose reading the firmware condemned before its deadline -- an
              open wire, an implausible or a frozen reading latched on that cell -- is
              answered by that latch: _masked);
              a latched fault leaves the contactors commanded open (emergency faults: open at
              once; others: opening, open within the opening timeout + one step); a latch that
              answers a cell-level injection names that cell in its record (RECORD_SPAN)
P5 nominal    without injected faults nothing latches, and after convergence every cell's SoC
              estimate is within 3 % of the truth, plus, until the firmware reports its first
              capacity update, the error of coulomb counting with the capacity it was given
              (soc_bound: before it could learn a cell's capacity, no worse than counting
              with what it was told)
P6 outputs    every reported number is finite and within its range; the firmware's clock
              advances by every step's dt
P7 latch      a latched fault stays latched until a reset, and a reset leaves latched every
              fault whose condition persists (an injected sensor, cooling or short fault), or
              another fault that catches the same persisting cause
P8 transition every change of the contactor state between two steps is one the documented
              state machine (contactor.h, docs/architecture.md) allows, under its condition
              (TRANSITIONS below: CLOSED only from PRECHARGE, or from OPEN within one step
              where the link was already precharged; PRECHARGE only from OPEN on a close
              request with no fault latched; ...), and none it demands is missing: PRECHARGE
              is left by its timeout, and closes where the link is precharged with no fault
              latched; every request gets the answer the state machine gives it in the state
              it meets (_command_answers: a close is accepted only from OPEN with no fault
              latched, refused there with one, illegal elsewhere; an open accepted only in
              PRECHARGE or CLOSED; a fault reset only in OPEN), and the state the requests
              leave is one the step can move from to the state it reports (STEP_MOVES); the
              coils the firmware drives are its state's (_relays: the main negative unless
              OPEN, the precharge relay only in PRECHARGE, the main positive only in CLOSED
              and OPENING), where the target reports them; the counters it reports
              (_contactor_counts) count the illegal and refused answers and the breaks under
              load (an opening at the break current or more, by its reading) as they happened
P9 balancing  no balancing switch is commanded on with a fault latched; at most
              max_per_module of a module at once; outside a switch test (bal_test), never the
              cell with the least charge by the firmware's own estimates (its reported SoC and
              capacity scales, where it reports them), never a cell whose true voltage is
              below the discharge trip, and only at rest or in a slow charge (the true
              current within the firmware's bands plus the current sensor's 3-sigma error)
P10 threshold the true value of every quantity the firmware trips on (each cell's voltage, the
              pack current, each cell's core temperature) goes past the firmware's own trip
              threshold by more than what its sensing allows unseen for no longer than the
              trip's debounce + two steps, or a fault is latched by then: the sensing error at
              5 sigma of the scenario's SensorSpec (AFE, shunt); for the core, what the observer
              cannot know from its sensors and its model (_core_allowance: the thermistors' lag
              and spacing, the model's thermal parameters against the plant's, the heat its
              OCV and SoC errors hide). Judged until a fault that changes what the firmware
              sees (a sensor or the link) is injected; a shorted cell's core is exempt as in P1

  P11 pressure: a pressed solid-state pack (bms.stack_pressure): the CCL is 0 whenever the lowest
              true module pressure is below the charge trip by more than a reading may err,
              and never above the CCD cap at the true contact that pressure leaves

  P12 thermal requests: the heater is requested below its band and not above it (the
              preconditioning band while a fast charge is announced), the cooling above its
              band and not below it, on the firmware's own temperatures

P13 core estimate: no cell's true core is hotter than the firmware's reported estimate by more
              than what the observer cannot know: P10's allowance (_core_allowance) and the
              lag a mis-scaled model gives a core warmed or cooled from outside (_core_estimate)

P14 tiers     the warnings and derates the firmware reports follow its own readings (the State's
              extremes, which are what its safety stage judges): a tier is active only while
              its quantity's reading is past the threshold or inside its hysteresis band
              (a warning or derate that never releases slows every later charge), and a
              reading past the threshold for the tier's debounce has it active (where the
              quantity is judged in either direction of the current)

One function per property below; the CCL's constraints P2 recomputes from the chemistry (the
maps, derates and window) are bms/sim/ccl_bound.py's `Limits`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from bms.chemistry import Chemistry
from bms.enums import FAULT_ID, LIMITING_NAMES, N_LIMITING, Command, ContactorState, Limiting, Status
from bms.plant.faults import FAULT_KINDS
from bms.plant.pack import Spread
from bms.plant.sensors import SensorSpec
from bms.protection import QUANTITIES, charge_detect_a
from bms.sim.ccl_bound import Limits
from bms.sim.loop import SimResult
from bms.sim.runlog import ANSWER_UNKNOWN, ANSWERS_MAX, COMMAND_BITS, command_answers
from bms.sim.scenario import Scenario
from bms.sim.vehicle import PRECHARGE_FAULT
from bms.stack_pressure import StackPressure
from bms.targets.base import RELAY_BITS

__all__ = ["Limits", "SafetyMonitor", "Violation", "check_run"]  # Limits: bms.sim.ccl_bound

OPEN, PRECHARGE, CLOSED, OPENING = (
    ContactorState.OPEN,
    ContactorState.PRECHARGE,
    ContactorState.CLOSED,
    ContactorState.OPENING,
)
# float32 firmware against a float64 statement: relative and absolute slack of the arithmetic
REL = 1e-4
ABS_A = 1e-3
SOC_CONVERGED_S = 120.0
SOC_TOLERANCE = 0.03
CHARGE_V_MARGIN = 0.010  # the CV phase's regulation allowance (issue 4's acceptance)
# The state of power (sop.h) applied as a constant step from the present state keeps every
# true cell voltage within [cell_v_discharge_min_v, cell_v_charge_max_v] give or take this:
# the firmware predicts from its estimates, not from the truth (the SoC filter's posterior
# voltage is off by the AFE's noise, <= 1.5 mV drawn, and the model error it is configured
# with), the allowance P1 grants the CV phase above the charge voltage.
SOP_V_MARGIN = CHARGE_V_MARGIN


def sop_step_violation(v_true: np.ndarray, v_min: float, v_max: float, charge: bool) -> str | None:
    """The state of power's step on the plant: the true cell voltages over the step (any
    shape) against the limit in the step's direction; None if within it (SOP_V_MARGIN)."""
    if charge and float(np.max(v_true)) > v_max + SOP_V_MARGIN:
        return f"a true cell at {float(np.max(v_true)):.4f} V > {v_max} V + {SOP_V_MARGIN} V"
    if not charge and float(np.min(v_true)) < v_min - SOP_V_MARGIN:
        return f"a true cell at {float(np.min(v_true)):.4f} V < {v_min} V - {SOP_V_MARGIN} V"
    return None


@dataclass
class Violation:
    prop: str
    t_s: float
    detail: str

    def __str__(self) -> str:
        return f"{self.prop} at t={self.t_s:.1f} s: {self.detail}"


class Checker:
    def __init__(self, max_per_prop: int) -> None:
        self.max_per_prop = max_per_prop
        self.violations: list[Violation] = []

    def where(self, prop: str, bad: np.ndarray, t: np.ndarray, detail) -> None:
        """Record the first steps where `bad` holds; detail(k) describes step k."""
        idx = np.flatnonzero(bad)
        for k in idx[: self.max_per_prop]:
            self.violations.append(Violation(prop, float(t[k]), detail(int(k))))


@dataclass(frozen=True)
class _Run:
    """What every property reads of one run: the log's arrays, the recomputed limits."""

    res: SimResult
    chem: Chemistry
    scn: Scenario
    log: dict[str, np.ndarray]
    t: np.ndarray
    n: int
    lim: Limits
    dt: float
    ccl: np.ndarray
    faults: np.ndarray  # the latched fault bits, int64
    contactor: np.ndarray  # ContactorState, int64
    est_soc: np.ndarray  # (steps, cells)
    est_core: np.ndarray  # (steps, cells)
    none_injected: np.ndarray  # the steps before the first injection

    @cached_property
    def soc_bound(self) -> np.ndarray:
        """(steps, cells): soc_bound."""
        return soc_bound(self.res)


def check_run(
    res: SimResult, chem: Chemistry, max_per_prop: int = 3, unobservable: bool = True
) -> list[Violation]:
    """Every property on every step of a finished (or paused) run. unobservable: a fault that
    never became observable although the run went on for its trip time + one step after the
    injection is a violation (False: not judged, for runs whose commands, not the scenario,
    decide when a fault can show: the state machine opens and closes at random)."""
    scn = res.scenario
    log = res.log
    t = log["time_s"]
    c = Checker(max_per_prop)
    if len(t) == 0:
        return c.violations
    injected_s = sorted(f.at_s for f in res.injected)
    first_injection = injected_s[0] if injected_s else np.inf
    r = _Run(
        res=res,
        chem=chem,
        scn=scn,
        log=log,
        t=t,
        n=len(t),
        lim=Limits(scn, chem),
        dt=scn.dt_ms / 1000.0,
        ccl=log["ccl_a"],
        faults=log["faults"].astype(np.int64),
        contactor=log["contactor_state"].astype(np.int64),
        est_soc=np.asarray(res.cells_est_soc, dtype=float),
        est_core=np.asarray(res.cells_est_core, dtype=float),
        none_injected=t < first_injection - 1e-9,
    )
    _outputs(c, r)  # P6
    _envelope(c, r)  # P1
    _limit(c, r)  # P2
    _detection(c, r, unobservable)  # P3
    _nominal(c, r)  # P5
    _latch(c, r)  # P7
    _transitions(c, r)  # P8
    _command_answers(c, r)  # P8
    _relays(c, r)  # P8
    _balancing(c, r)  # P9
    _thresholds(c, r)  # P10
    _pressure(c, r)  # P11
    _thermal_requests(c, r)  # P12
    _core_estimate(c, r)  # P13
    _tiers(c, r)  # P14
    return c.violations


def _outputs(c: Checker, r: _Run) -> None:
    """P6: outputs finite and in range."""
    log, t, lim, ccl, contactor = r.log, r.t, r.lim, r.ccl, r.contactor
    est_soc, est_core = r.est_soc, r.est_core
    for name in ("ccl_a", "dcl_a", "soc_est_min", "soc_est_max", "soc_est_mean", "soc_est_pack"):
        x = log[name]
        c.where("P6-outputs", ~np.isfinite(x), t, lambda k, x=x, name=name: f"{name} = {x[k]}")
    c.where("P6-outputs", ~np.isfinite(log["core_temp_est_max_c"]), t, lambda k: "core_temp_max not finite")
    bad_soc = ~np.all(np.isfinite(est_soc) & (est_soc >= 0) & (est_soc <= 1), axis=1)
    c.where(
        "P6-outputs",
        bad_soc,
        t,
        lambda k: f"a cell SoC outside [0, 1]: {est_soc[k].min()}..{est_soc[k].max()}",
    )
    c.where(
        "P6-outputs", ~np.all(np.isfinite(est_core), axis=1), t, lambda k: "a core temperature is not finite"
    )
    c.where(
        "P6-outputs",
        ~((ccl >= 0) & (ccl <= lim.hw_charge_max_a * (1 + REL))) | ~(log["dcl_a"] >= 0),
        t,
        lambda k: f"ccl {ccl[k]} / dcl {log['dcl_a'][k]} outside [0, {lim.hw_charge_max_a}]",
    )
    c.where(
        "P6-outputs",
        ~np.isin(contactor, (OPEN, PRECHARGE, CLOSED, OPENING))
        | (log["ccl_limit"] < 0)
        | (log["ccl_limit"] >= N_LIMITING)
        | (log["dcl_limit"] < 0)
        | (log["dcl_limit"] >= N_LIMITING),
        t,
        lambda k: f"contactor {contactor[k]}, limiting {log['ccl_limit'][k]} / {log['dcl_limit'][k]}",
    )
    # the firmware's clock (its latches' timestamps, its timeouts) advances by every step's
    # dt: the loop steps it from power-up at the scenario's dt, never outside (0, BMS_MAX_DT_MS]
    fw_ms = log["fw_time_ms"].astype(np.int64)
    tick = np.diff(fw_ms, prepend=0) % (1 << 32)
    c.where(
        "P6-outputs",
        tick != int(r.res.scenario.dt_ms),
        t,
        lambda k: f"the firmware's clock moved {tick[k]} ms in a {r.res.scenario.dt_ms} ms step",
    )


def _envelope(c: Checker, r: _Run) -> None:
    """P1: the true envelope."""
    res, chem, scn, log, t, lim, none_injected = r.res, r.chem, r.scn, r.log, r.t, r.lim, r.none_injected
    vmax = log["cell_v_true_max"]
    c.where("P1-envelope", vmax > chem.abs_max.cell_v, t, lambda k: f"true cell at {vmax[k]:.4f} V > abs max")
    # a charger that over-delivers within its tolerance (regulation_gain > 1) pushes the
    # cells above the voltage the firmware aimed at by its excess current through the
    # element's resistance (R0 + R1 + R2, the table's largest: the CV phase is slow enough
    # for the RC branches to follow)
    cell = chem.cell
    r_el = float(np.max(cell.r0_ohm + cell.r1_ohm + cell.r2_ohm)) / scn.parallel
    excess_v = max(0.0, scn.charger.regulation_gain - 1.0) * np.maximum(0.0, -log["current_a"]) * r_el
    c.where(
        "P1-envelope",
        none_injected & (vmax > lim.v_charge_max + CHARGE_V_MARGIN + excess_v),
        t,
        lambda k: (
            f"true cell at {vmax[k]:.4f} V > charge voltage {lim.v_charge_max} V + 10 mV"
            + (f" + {excess_v[k] * 1000:.1f} mV of charger tolerance" if excess_v[k] > 0 else "")
        ),
    )
    core = np.array(res.cells_true_core, dtype=float)
    exempt = _short_exempt(r, core, core > chem.abs_max.core_temp_c)
    cmax = np.where(exempt, -np.inf, core).max(axis=1)
    c.where(
        "P1-envelope",
        cmax > chem.abs_max.core_temp_c,
        t,
        lambda k: f"true core {cmax[k]:.2f} degC > abs max {chem.abs_max.core_temp_c} degC",
    )


def _short_exempt(r: _Run, core: np.ndarray, hot: np.ndarray) -> np.ndarray:
    """The (steps, cells) a limit on the true core temperature does not judge: a cell with an
    injected internal short from its injection (its own heat), and what it conducts into its
    neighbours (the thermal network couples series neighbours): a `hot` cell next to a hotter
    exempt hot cell is exempt too, along the chain (found by the state machine: a sulfide cell
    shorted at 40 C took its neighbour past 100 C in 80 s with the contactors open; stopping a
    propagation is the pack's barriers' job)."""
    exempt = np.zeros(core.shape, dtype=bool)
    for f in r.res.injected:
        if f.kind == "internal_short" and f.cell is not None:
            exempt[r.t >= f.at_s - 1e-9, f.cell] = True
    if exempt.any():
        for _ in range(core.shape[1]):  # bounded: one cell further along the chain per pass
            spread = np.zeros_like(exempt)
            spread[:, 1:] |= exempt[:, :-1] & hot[:, :-1] & (core[:, :-1] > core[:, 1:])
            spread[:, :-1] |= exempt[:, 1:] & hot[:, 1:] & (core[:, 1:] > core[:, :-1])
            grown = exempt | (spread & hot)
            if np.array_equal(grown, exempt):
                break
            exempt = grown
    return exempt


def _limit(c: Checker, r: _Run) -> None:
    """P2: the CCL against its constraints."""
    res, log, t, n, lim, dt = r.res, r.log, r.t, r.n, r.lim, r.dt
    ccl, faults, contactor, est_soc, est_core = r.ccl, r.faults, r.contactor, r.est_soc, r.est_core
    dcl, ccl_why, dcl_why = log["dcl_a"], log["ccl_limit"], log["dcl_limit"]
    # the discharge limit closes as the charge limit does, and both say why: a fault latched
    # (before anything else), else the contactors not closed (or no usable data)
    for bad, why in (
        ((faults != 0) & (dcl != 0), "with faults latched"),
        ((contactor != CLOSED) & (dcl != 0), "with the contactors not closed"),
    ):
        c.where("P2-limit", bad, t, lambda k, why=why: f"dcl {dcl[k]:.3f} A {why}")
    for name, why_arr in (("ccl", ccl_why), ("dcl", dcl_why)):
        c.where(
            "P2-limit",
            (faults != 0) & (why_arr != int(Limiting.FAULT)),
            t,
            lambda k, name=name, why_arr=why_arr: (
                f"{name} limited by {LIMITING_NAMES[int(why_arr[k])]} with a fault latched (FAULT expected)"
            ),
        )
        c.where(
            "P2-limit",
            (faults == 0)
            & (contactor != CLOSED)
            & ~np.isin(why_arr, (int(Limiting.CONTACTOR), int(Limiting.NO_DATA))),
            t,
            lambda k, name=name, why_arr=why_arr: (
                f"{name} limited by {LIMITING_NAMES[int(why_arr[k])]} "
                "with the contactors not closed and no fault (CONTACTOR or NO_DATA expected)"
            ),
        )
    # the charge completes when the reported mean SoC reaches the target, and not before it
    # has fallen below the resume SoC (a charge that never completes is held only by the
    # voltage headroom; a mutant that never set the flag survived the suite)
    soc_mean = log["soc_est_mean"].astype(np.float32)
    complete = log["charge_complete"] != 0
    c.where(
        "P2-limit",
        (soc_mean >= lim.target_soc) & ~complete,
        t,
        lambda k: (
            f"mean SoC {soc_mean[k]:.4f} at the target {lim.target_soc:.4f} and the charge not complete"
        ),
    )
    c.where(
        "P2-limit",
        (soc_mean < lim.resume_soc) & complete,
        t,
        lambda k: (
            f"mean SoC {soc_mean[k]:.4f} below the resume SoC {lim.resume_soc:.4f} and the charge complete"
        ),
    )
    # ... and a completed charge says so: COMPLETE is the reason whenever nothing before it in
    # the firmware's order (a fault, no data, the contactors, the window) closes the CCL
    inside = (log["temp_meas_min_c"] > lim.window_low) & (log["core_temp_est_max_c"] < lim.window_high)
    c.where(
        "P2-limit",
        complete
        & (faults == 0)
        & (contactor == CLOSED)
        & inside
        & ~np.isin(ccl_why, (int(Limiting.COMPLETE), int(Limiting.NO_DATA))),
        t,
        lambda k: (
            f"charge complete and the CCL limited by {LIMITING_NAMES[int(ccl_why[k])]} (COMPLETE expected)"
        ),
    )
    for bad, why in (
        ((faults != 0) & (ccl != 0), "with faults latched"),
        ((contactor != CLOSED) & (ccl != 0), "with the contactors not closed"),
        ((log["charge_complete"] != 0) & (ccl != 0), "after the charge is complete"),
        (
            ((log["temp_meas_min_c"] <= lim.window_low) | (log["core_temp_est_max_c"] >= lim.window_high))
            & (ccl != 0),
            "outside the charge temperature window",
        ),
    ):
        c.where("P2-limit", bad, t, lambda k, why=why: f"ccl {ccl[k]:.3f} A {why}")
    live = ccl > 0
    q = float(res.limit_step_a)
    if live.any():
        terms = lim.ccl_terms(
            est_soc[live],
            est_core[live],
            log["cell_v_meas_max"][live],
            log["core_temp_est_max_c"][live],
            log["temp_meas_max_c"][live],
            log["temp_meas_min_c"][live],
            log["charger_max_a"][live],
            *((log["pressure_fw_min_mpa"][live], log["pressure_fw_max_mpa"][live]) if lim.pressed else ()),
        )
        bound, names = lim.bound_of(terms)
        # the term the firmware names as limiting (ccl_limit: what the VCU, the charger and
        # every report read as the reason) is the one that binds: the CCL is that term
        ccl_live = ccl[live]
        for why, term in BINDING_TERMS.items():
            named = np.zeros(n, dtype=bool)
            named[live] = (log["ccl_limit"][live] == int(why)) & (
                terms[term] > ccl_live * (1 + REL) + ABS_A + q
            )
            t_full = np.zeros(n)
            t_full[live] = terms[term]
            c.where(
                "P2-limit",
                named,
                t,
                lambda k, term=term, t_full=t_full: (
                    f"ccl {ccl[k]:.3f} A named limited by {term}, whose constraint is {t_full[k]:.3f} A"
                ),
            )
        over = np.zeros(n, dtype=bool)
        over[live] = ccl[live] > bound * (1 + REL) + ABS_A
        b_full = np.zeros(n)
        b_full[live] = bound
        n_full = np.full(n, "", dtype=object)
        n_full[live] = names
        c.where(
            "P2-limit",
            over,
            t,
            lambda k: f"ccl {ccl[k]:.3f} A above its {n_full[k]} constraint {b_full[k]:.3f} A",
        )
    # a limit sent rounded down to the bus signal's step (res.limit_step_a, 0.1 A over CAN)
    # can rise by the ramp plus that step, after a step it was rounded down by almost one: a
    # charger sees a quantised ramp, never more than the firmware's own limit
    prev = np.concatenate([[0.0], ccl[:-1]])
    ramp = prev + lim.ramp_a_per_s * dt
    quant = f" + one {q:g} A step of the sent limit" if q > 0 else ""
    c.where(
        "P2-limit",
        live & (ccl > ramp * (1 + REL) + ABS_A + q),
        t,
        lambda k: (
            f"ccl rose {ccl[k] - prev[k]:.3f} A in one step (ramp allows {lim.ramp_a_per_s * dt:.3f}{quant})"
        ),
    )


# the cell a latch must name in its record (what service reads) for a cell-level injection:
# (injected kind, latched fault) -> how far from the injected cell it may be; 1 where the
# mechanism is a sense wire two neighbouring cells share: an open wire reads on both. The
# balancing switch's own cell (0): the switch test judges each cell's own reading step (a
# verdict given through a reading the firmware later condemned is withdrawn, balancing.c:
# a frozen cell-0 reading once had a stuck-off switch on cell 1 latched as cell 0's)
RECORD_SPAN = {
    ("stuck_voltage", "volt_stuck"): 0,
    ("open_sense_wire", "open_wire"): 1,
    ("internal_short", "cell_deviation"): 0,
    ("internal_short", "cell_uv"): 0,
    ("internal_short", "open_wire"): 1,
    ("balancing_stuck_on", "balancing"): 0,
    ("balancing_stuck_off", "balancing"): 0,
}


# the CCL's limiting reasons (bms_limiting_t) whose constraint P2 recomputes: the term named
# must be the binding one (DERATE may name the cell-voltage spread's derate, VOLTAGE the
# measured headroom, neither recomputed here; RAMP is checked as the ramp)
BINDING_TERMS = {
    Limiting.MAP: "map",
    Limiting.PLATING: "plating",
    Limiting.HARDWARE: "hardware",
    Limiting.COLD: "cold",
    Limiting.TEMPERATURE: "temperature",
    Limiting.PRESSURE: "pressure",
}


# the faults after which the firmware no longer trusts a cell's voltage reading, with the
# debounce (PlausParams) from the moment it stops judging that reading to the latch
READING_FAULTS = {
    "open_wire": "open_wire_debounce_ms",
    "volt_sensor": "sensor_debounce_ms",
    "volt_stuck": "stuck_debounce_ms",
}


def _masked(r: _Run, f: dict, deadline_s: float) -> bool:
    """An injection on a cell the firmware answered in time by condemning that cell's
    voltage reading (a latch of READING_FAULTS on the same cell, on which the contactors
    open, within that fault's own debounce after the deadline: from the moment the reading
    is condemned the firmware judges nothing else through it): what else fails on that cell
    is seen through the reading it no longer trusts (a short, a frozen or a broken reading, a
    balancing switch), so no BMS can tell it apart any more, and the cell is isolated. Found
    by the state machine: a short and a frozen reading injected on one cell at once, the
    reading freezing as the short pulled it down (read as an open wire; or frozen at 2.5 V,
    flagged 2.0 s later as the short's 2.0 s deviation debounce ran, latched 2 s after)."""
    cell = f["cell"]
    if cell is None or FAULT_KINDS[str(f["injected_kind"])].level != "cell":
        return False
    pl = r.chem.protection.plausibility
    return any(
        g is not f and g["name"] in READING_FAULTS and g["cell"] == cell and g["detected_s"] is not None
        and float(g["detected_s"]) <= deadline_s + getattr(pl, READING_FAULTS[str(g["name"])]) / 1000.0 + r.dt
        for g in r.res.faults
    )  # fmt: skip


def _detection(c: Checker, r: _Run, unobservable: bool) -> None:
    """P3: latched faults command the contactors open; detection in time."""
    res, t, n, lim, dt, faults, contactor = r.res, r.t, r.n, r.lim, r.dt, r.faults, r.contactor
    c.where(
        "P3-detection",
        (faults != 0) & np.isin(contactor, (CLOSED, PRECHARGE)),
        t,
        lambda k: f"faults 0x{faults[k]:x} latched, contactor state {contactor[k]}",
    )
    c.where(
        "P3-detection",
        ((faults & lim.emergency) != 0) & (contactor != OPEN),
        t,
        lambda k: f"emergency fault 0x{faults[k] & lim.emergency:x} not opened at once",
    )
    opening = contactor == OPENING
    if opening.any():
        # length of each run of OPENING steps
        starts = np.flatnonzero(opening & ~np.concatenate([[False], opening[:-1]]))
        for s in starts:
            e = s
            while e + 1 < n and opening[e + 1]:
                e += 1
            if t[e] - t[s] > lim.opening_timeout_s + dt + 1e-9:
                c.where("P3-detection", np.arange(n) == e, t, lambda k: "contactors opening past the timeout")
    end = float(t[-1])
    for f in res.faults:
        span = RECORD_SPAN.get((str(f["injected_kind"]), str(f["name"])))
        got, want = f.get("cell"), f.get("injected_cell")
        named = f["detected_s"] is not None and span is not None and got is not None and want is not None
        if named and abs(int(got) - int(want)) > int(span):
            c.violations.append(
                Violation(
                    "P3-detection",
                    float(f["detected_s"]),
                    f"{f['name']} latched for {f['injected_kind']} on cell {want} names cell {got}",
                )
            )
        if f["injected_kind"] is None or f["trip_time_s"] is None:
            continue
        if f["onset_s"] is None:
            # never observable in this run (an offset injected while the contactors stayed
            # closed, a lost flow while they stayed open): the run proves nothing about its
            # detection, and says so instead of passing (once it had the time a detection needs)
            judged = unobservable and end >= float(f["injected_s"]) + float(f["trip_time_s"]) + dt
            if f["detected_s"] is None and judged:
                c.violations.append(
                    Violation(
                        "P3-detection",
                        end,
                        f"{f['injected_kind']} (injected at {f['injected_s']} s) never became observable "
                        "to the firmware: unobservable, its detection is untested",
                    )
                )
            continue
        onset, trip, det = float(f["onset_s"]), float(f["trip_time_s"]), f["detected_s"]
        if det is None:
            if end >= onset + trip + dt and not _masked(r, f, onset + trip + dt):
                c.violations.append(
                    Violation("P3-detection", end, f"{f['injected_kind']} (onset {onset} s) never detected")
                )
        elif float(det) - onset > trip + dt + 1e-9:
            c.violations.append(
                Violation(
                    "P3-detection",
                    float(det),
                    f"{f['injected_kind']} detected {float(det) - onset:.2f} s after onset "
                    f"(trip time {trip} s + one step)",
                )
            )


def soc_bound(res: SimResult) -> np.ndarray:
    """(steps, cells): how far each cell's SoC estimate may be from the truth once converged.
    SOC_TOLERANCE, plus, until the firmware reports its first capacity update (the State's
    soh_updates, high 16 bits; a target that does not report it: throughout), the error of
    coulomb counting from the truth at SOC_CONVERGED_S with the true current and the
    capacity the firmware was configured with (SimResult.cells_cap_told_ah). A pack whose
    age the firmware was not told (aged-cycles: 20 % faded, configured new) counts charge
    with the wrong capacity until it has measured it between two rests; before that its
    estimate may not be worse than that counting (the voltage usually makes it far better),
    once it has, the tolerance alone holds."""
    log, t = res.log, res.log["time_s"]
    true_soc = np.asarray(res.cells_true_soc, dtype=float)
    bound = np.full(true_soc.shape, SOC_TOLERANCE)
    told = np.asarray(res.cells_cap_told_ah, dtype=float)
    k0 = int(np.searchsorted(t, SOC_CONVERGED_S))
    if told.shape != (true_soc.shape[1],) or k0 >= len(t):
        return bound
    # discharged charge (Ah) from step k0 on; the logged current is each step's mean
    dt = res.scenario.dt_ms / 1000.0
    ah = np.cumsum(np.asarray(log["current_a"], dtype=float)[k0:]) * dt / 3600.0
    counted = true_soc[k0] - (ah - ah[0])[:, None] / told[None, :]
    allowance = np.abs(counted - true_soc[k0:])
    if "soh_updates" in log:
        learned = (log["soh_updates"][k0:].astype(np.int64) >> 16) > 0
        allowance[learned] = 0.0
    bound[k0:] += allowance
    return bound


def _nominal(c: Checker, r: _Run) -> None:
    """P5: nothing latches without a cause; the SoC estimate converges (soc_bound)."""
    res, t, faults, est_soc, none_injected = r.res, r.t, r.faults, r.est_soc, r.none_injected
    c.where(
        "P5-nominal",
        none_injected & (faults != 0),
        t,
        lambda k: f"fault 0x{faults[k]:x} latched with no fault injected (yet)",
    )
    err = np.abs(est_soc - np.asarray(res.cells_true_soc, dtype=float))
    over = err - r.soc_bound
    worst = over.max(axis=1)
    c.where(
        "P5-nominal",
        none_injected & (t >= SOC_CONVERGED_S) & (worst > 0.0),
        t,
        lambda k: (
            f"cell {int(np.argmax(over[k]))} SoC estimate {est_soc[k, np.argmax(over[k])]:.4f} vs true "
            f"{res.cells_true_soc[k, np.argmax(over[k])]:.4f} (> {r.soc_bound[k, np.argmax(over[k])]:.4f})"
        ),
    )


def _latch(c: Checker, r: _Run) -> None:
    """P7: latched until reset; a reset keeps what persists."""
    res, log, t, faults = r.res, r.log, r.t, r.faults
    prev_f = np.concatenate([[0], faults[:-1]])
    lost = prev_f & ~faults
    resets = log["resets"]
    reset_now = resets > np.concatenate([[0.0], resets[:-1]])
    c.where(
        "P7-latch", (lost != 0) & ~reset_now, t, lambda k: f"faults 0x{lost[k]:x} cleared without a reset"
    )
    for f in res.injected:
        # a kind whose condition persists once injected (its registry row): a reset may not
        # leave it unanswered while it persists. It may clear one of the faults that catch it
        # whose own condition has gone while another of them stays latched (found by the state
        # machine: a short read first as an open wire, ~0.9 V, then as it recovered past the
        # open-wire level as an undervoltage; a reset cleared the open wire, not the cause)
        if not FAULT_KINDS[f.kind].persistent:
            continue
        catch = 0
        for name in FAULT_KINDS[f.kind].caught_by:
            catch |= 1 << FAULT_ID[name]
        for name in FAULT_KINDS[f.kind].caught_by:
            bit = 1 << FAULT_ID[name]
            c.where(
                "P7-latch",
                reset_now & ((lost & bit) != 0) & ((faults & catch) == 0) & (t >= f.at_s - 1e-9),
                t,
                lambda k, name=name, f=f: f"reset cleared {name} while its {f.kind} persists",
            )


# P8: the contactor state machine of contactor.h as data. A logged step shows the state after
# the requests sent before it (applied at once) and the step's own transition (after the
# step's safety stage: the faults it reports are those the contactor stage saw). So one step
# may hold two documented moves: a close request and, the link already precharged, the
# close; an open request and, the current below the break current, the opening. Each allowed
# change maps to alternatives, each a set of conditions that must all hold at the step where
# the new state is first reported; a change not listed is never allowed (OPEN -> OPENING,
# PRECHARGE -> OPENING, CLOSED -> PRECHARGE, OPENING -> CLOSED or PRECHARGE).
TRANSITIONS: dict[tuple[int, int], tuple[tuple[str, ...], ...]] = {
    (OPEN, PRECHARGE): (("close", "no_fault"),),
    (OPEN, CLOSED): (("close", "no_fault", "precharged"),),
    (PRECHARGE, CLOSED): (("no_fault", "precharged"),),
    (PRECHARGE, OPEN): (("open",), ("fault",), ("precharge_timeout",)),
    (CLOSED, OPENING): (("open",), ("fault",)),
    # an emergency fault opens at once; an open request below the break current, in one step
    (CLOSED, OPEN): (("emergency",), ("open",)),
    (OPENING, OPEN): ((),),  # the current fell, the opening timed out or an emergency
}
CONDITIONS = {
    "close": "a close request",
    "open": "an open request",
    "no_fault": "no fault latched",
    "fault": "a fault latched",
    "emergency": "an emergency fault latched",
    "precharged": "the link precharged (bus >= precharge_ratio x pack voltage)",
    "precharge_timeout": "the precharge timeout",
}


def _transitions(c: Checker, r: _Run) -> None:
    """P8: every contactor state change is an allowed transition under its condition; the
    precharge ends by its timeout, and closes once the link is precharged."""
    log, t, n, faults, contactor = r.log, r.t, r.n, r.faults, r.contactor
    cp = r.chem.protection.contactor
    names = [s.name for s in ContactorState]
    prev = np.concatenate([[int(OPEN)], contactor[:-1]])  # the firmware starts OPEN
    cmds = log["commands"].astype(np.int64)
    bus, pack = log["bus_v"], log["pack_v_meas"]
    valid = np.isfinite(bus) & np.isfinite(pack) & (pack > 0)
    ratio = cp.precharge_ratio * pack
    # the firmware compares in float32: a link within REL of the ratio is either side
    with np.errstate(invalid="ignore"):
        may_be_precharged = valid & (bus >= ratio * (1 - REL))
        surely_precharged = valid & (bus >= ratio * (1 + REL))
    # time in PRECHARGE by the end of each step, as the firmware counts it (the request sets
    # it to 0, each step adds dt): (steps since the run of PRECHARGE began + 1) x dt
    pre = contactor == PRECHARGE
    idx = np.arange(n)
    began = pre & (prev != PRECHARGE)
    run_start = np.maximum.accumulate(np.where(began, idx, -1))
    in_pre_ms = np.where(run_start >= 0, (idx - run_start + 1) * r.scn.dt_ms, 0)
    cond = {
        "close": (cmds & COMMAND_BITS["close"]) != 0,
        "open": (cmds & COMMAND_BITS["open"]) != 0,
        "no_fault": faults == 0,
        "fault": faults != 0,
        "emergency": (faults & r.lim.emergency) != 0,
        "precharged": may_be_precharged,
        "precharge_timeout": (prev == PRECHARGE) & (in_pre_ms >= cp.precharge_timeout_ms),
    }
    changed = prev != contactor
    for a, b in sorted({(int(x), int(y)) for x, y in zip(prev[changed], contactor[changed], strict=True)}):
        at = changed & (prev == a) & (contactor == b)
        alternatives = TRANSITIONS.get((a, b))
        if alternatives is None:
            c.where(
                "P8-transition",
                at,
                t,
                lambda k, a=a, b=b: (
                    f"contactor {names[a]} -> {names[b]}: not a transition of the state machine"
                ),
            )
            continue
        ok = np.zeros(n, dtype=bool)
        for conds in alternatives:
            ok |= np.logical_and.reduce([cond[x] for x in conds], initial=True) if conds else True
        why = " or ".join(" and ".join(CONDITIONS[x] for x in conds) for conds in alternatives)
        c.where(
            "P8-transition",
            at & ~ok,
            t,
            lambda k, a=a, b=b, why=why: (
                f"contactor {names[a]} -> {names[b]} needs {why}; at this step: faults "
                f"0x{faults[k]:x}, requests 0x{cmds[k]:x}, bus {bus[k]:.1f} V, pack {pack[k]:.1f} V"
            ),
        )
    c.where(
        "P8-transition",
        pre & (in_pre_ms >= cp.precharge_timeout_ms),
        t,
        lambda k: (
            f"still PRECHARGE {in_pre_ms[k]} ms after the request (timeout {cp.precharge_timeout_ms} ms)"
        ),
    )
    c.where(
        "P8-transition",
        pre & surely_precharged & (faults == 0),
        t,
        lambda k: f"still PRECHARGE with the link precharged (bus {bus[k]:.1f} V, pack {pack[k]:.1f} V)",
    )


ACCEPTED, ILLEGAL, REFUSED = 0, 1, 2  # runlog's answer digits
ANSWER_NAMES = ("accepted", "illegal", "refused", "not known")


def expected_answers(code: int, state: int, latched: bool | None) -> dict[int, tuple[int, bool | None]]:
    """What contactor.c's command does (contactor.h): for one request in `state` with a fault
    latched or not (None: not known, after a fault reset that may have left one latched), each
    answer it may give -> the state and latch it leaves."""
    if code == Command.CLOSE:
        if state != OPEN:
            return {ILLEGAL: (state, latched)}
        may = {ACCEPTED: (PRECHARGE, False), REFUSED: (OPEN, True)}
        return may if latched is None else {REFUSED: may[REFUSED]} if latched else {ACCEPTED: may[ACCEPTED]}
    if code == Command.OPEN:
        moves = {PRECHARGE: OPEN, CLOSED: OPENING}
        return {ACCEPTED: (moves[state], latched)} if state in moves else {ILLEGAL: (state, latched)}
    if code == Command.FAULT_RESET:
        # a reset clears the latches whose condition has gone; which, the log cannot tell
        return {ACCEPTED: (OPEN, None)} if state == OPEN else {ILLEGAL: (state, latched)}
    return {}


# the moves a step makes without a request (bms_contactor_step): the precharge ends (closed, or
# open on a fault or its timeout), a fault opens a closed pack (at once on an emergency), an
# opening ends
STEP_MOVES = {(PRECHARGE, OPEN), (PRECHARGE, CLOSED), (CLOSED, OPENING), (CLOSED, OPEN), (OPENING, OPEN)}


@dataclass
class _Requests:
    """The contactor requests of each step replayed through the state machine (expected_answers)
    from the previous step's reported state and latch: the state the contactor stage starts
    from (after the requests), how many were answered illegal and refused, and whether that is
    known (every answer logged and each one the state machine may give)."""

    state_in: np.ndarray  # int64
    illegal: np.ndarray
    refused: np.ndarray
    reset: np.ndarray  # bool: a fault reset accepted
    known: np.ndarray  # bool


def _replay_requests(c: Checker, r: _Run) -> _Requests:
    """_Requests of the run; a request answered otherwise than the state machine's answer, or
    requests that leave a state from where no step reaches the one reported, are P8-command
    violations (an accepted request that changed nothing shows there)."""
    n = r.n
    prev = np.concatenate([[int(OPEN)], r.contactor[:-1]])  # the firmware starts OPEN
    zeros = np.zeros(n, np.int64)
    out = _Requests(prev.copy(), zeros, zeros.copy(), np.zeros(n, dtype=bool), np.ones(n, dtype=bool))
    if "command_answers" not in r.log:
        out.known[:] = False
        return out
    packed = r.log["command_answers"].astype(np.int64)
    # a request sent without its answer logged (more than ANSWERS_MAX): what it met is not known
    out.known &= (packed != 0) | (r.log["commands"].astype(np.int64) == 0)
    names = [s.name for s in ContactorState]
    for k in np.flatnonzero(packed):
        state = int(prev[k])
        latched: bool | None = bool(r.faults[k - 1]) if k > 0 else False
        answers = command_answers(int(packed[k]))
        out.known[k] = len(answers) < ANSWERS_MAX
        for n_sent, (code, answer) in enumerate(answers):
            if answer == ANSWER_UNKNOWN:
                out.known[k] = False  # from here the state is not known
                break
            may = expected_answers(code, state, latched)
            if answer not in may:
                want = " or ".join(ANSWER_NAMES[a] for a in may)
                latch = {None: "perhaps", True: "with", False: "no"}[latched]
                c.violations.append(
                    Violation(
                        "P8-command",
                        float(r.t[k]),
                        f"request {n_sent + 1} before this step, {Command(code).name.lower()} in "
                        f"{names[state]} ({latch} fault latched): answered {ANSWER_NAMES[answer]}, "
                        f"the state machine's answer is {want}",
                    )
                )
                out.known[k] = False
                break
            out.illegal[k] += answer == ILLEGAL
            out.refused[k] += answer == REFUSED
            out.reset[k] |= code == Command.FAULT_RESET and answer == ACCEPTED
            state, latched = may[answer]
        else:
            now = int(r.contactor[k])
            if now != state and (state, now) not in STEP_MOVES:
                c.violations.append(
                    Violation(
                        "P8-command",
                        float(r.t[k]),
                        f"the requests before this step leave the state machine in {names[state]}, "
                        f"from where no step reaches {names[now]}",
                    )
                )
        out.state_in[k] = state
    return out


def _command_answers(c: Checker, r: _Run) -> None:
    """P8: each request's answer (the `command_answers` column: those the target's command()
    returns) is the one the state machine gives in the state it meets: the previous step's
    reported state and latch, then each earlier request's effect in the order sent; the state
    they leave must be one the step can move from to the state it reports (STEP_MOVES): an
    accepted request that changed nothing shows there. Then the counters (_contactor_counts)."""
    req = _replay_requests(c, r)
    _contactor_counts(c, r, req)
    _precharge_latch(c, r, req)


def _precharge_latch(c: Checker, r: _Run, req: _Requests) -> None:
    """P8: the precharge fault latches only at a step whose precharge ended open (by its
    timeout: contactor.h): a failed precharge is an event, which an accepted fault reset
    acknowledges (bms.c), so the latch it clears comes back only with a new failure and a
    retry is possible. Steps whose requests' answers are not known are not judged."""
    bit = (r.faults & PRECHARGE_FAULT) != 0
    before = np.concatenate([[False], bit[:-1]]) & ~req.reset
    ended = (req.state_in == PRECHARGE) & (r.contactor == OPEN)
    c.where(
        "P8-transition",
        req.known & bit & ~before & ~ended,
        r.t,
        lambda k: (
            "the precharge fault latched at a step whose precharge did not end open"
            + (" (after the fault reset that acknowledged the last one)" if req.reset[k] else "")
        ),
    )


# State.contactor_counts: (name, shift, saturation) of each counter in the word
COUNTERS = (("breaks under load", 16, 0xFFFF), ("refused requests", 8, 0xFF), ("illegal requests", 0, 0xFF))


def _contactor_counts(c: Checker, r: _Run, req: _Requests) -> None:
    """P8: the contactor's counters since power-up (State.contactor_counts, each saturating)
    count what happened: each step adds the illegal and the refused answers its requests got,
    and one break under load where its contactor stage opened (from CLOSED or OPENING, after
    the requests) with the current at or past the break current (contactor.h). The current is
    the firmware's reading: a break is demanded where the true current is past the break
    current by the shunt's allowance (_shunt_allowance), forbidden where it is that far below,
    either way within the band; after an injected current offset the band is widened by it and
    none is demanded (the firmware may then take the reading as unusable: 0 A), after a cut
    link (comm_loss: the firmware steps on the last sample) neither is judged. A break is
    counted at no other step."""
    if "contactor_counts" not in r.log:
        return
    raw = r.log["contactor_counts"]
    if not np.isfinite(raw).all():
        return  # a target that does not report them
    word = raw.astype(np.int64)
    t, n = r.t, r.n
    got = {name: (word >> shift) & cap for name, shift, cap in COUNTERS}
    before = {name: np.concatenate([[0], v[:-1]]) for name, v in got.items()}
    added = {"illegal requests": req.illegal, "refused requests": req.refused}
    for name, _, cap in COUNTERS[1:]:
        want = np.minimum(before[name] + added[name], cap)
        c.where(
            "P8-counts",
            req.known & (got[name] != want),
            t,
            lambda k, name=name, want=want: (
                f"{name} {got[name][k]} after the step's requests answered so, the count is {want[k]}"
            ),
        )
    cp = r.chem.protection.contactor
    i = np.abs(r.log["current_a"])
    band = np.full(n, float(_shunt_allowance(r.scn.sensors, np.array([cp.break_current_a]))[0]))
    demand = np.ones(n, dtype=bool)
    judged = np.ones(n, dtype=bool)
    for f in r.res.injected:
        after = t >= f.at_s - 1e-9
        if f.kind == "current_offset":
            band = band + np.where(after, abs(f.fault.magnitude()), 0.0)
            demand &= ~after
        elif f.kind == "comm_loss":
            judged &= ~after
    opened = (r.contactor == OPEN) & np.isin(req.state_in, (CLOSED, OPENING))
    may_open = opened | ((r.contactor == OPEN) & ~req.known)
    step = got["breaks under load"] - before["breaks under load"]
    at_cap = before["breaks under load"] >= 0xFFFF
    c.where(
        "P8-counts",
        (step != 0) & ~(may_open & (step == 1)),
        t,
        lambda k: (
            f"breaks under load {before['breaks under load'][k]} -> {got['breaks under load'][k]} "
            f"at a step that did not open the contactor from CLOSED or OPENING"
        ),
    )
    under_load = opened & req.known & judged & demand & (i >= cp.break_current_a + band) & ~at_cap
    c.where(
        "P8-counts",
        under_load & (step != 1),
        t,
        lambda k: (
            f"the contactor opened at {i[k]:.1f} A (break current {cp.break_current_a:g} A) "
            "and no break under load was counted"
        ),
    )
    c.where(
        "P8-counts",
        opened & req.known & judged & (i < cp.break_current_a - band) & (step != 0),
        t,
        lambda k: (
            f"a break under load counted for an opening at {i[k]:.1f} A "
            f"(break current {cp.break_current_a:g} A)"
        ),
    )


def _relays(c: Checker, r: _Run) -> None:
    """P8: the contactor coils each step drives are its reported state's (contactor.h)."""
    if "relays" not in r.log:
        return
    rel = r.log["relays"]
    known = np.isfinite(rel)
    if not known.any():
        return
    s = r.contactor
    want = (
        np.where(s != OPEN, RELAY_BITS["main_neg"], 0)
        | np.where(s == PRECHARGE, RELAY_BITS["precharge"], 0)
        | np.where((s == CLOSED) | (s == OPENING), RELAY_BITS["main_pos"], 0)
    )
    got = np.where(known, rel, 0).astype(np.int64)
    names = [x.name for x in ContactorState]

    def coils(bits: int) -> str:
        return "+".join(name for name, b in RELAY_BITS.items() if bits & b) or "none"

    c.where(
        "P8-relays",
        known & (got != want),
        r.t,
        lambda k: (
            f"contactor {names[int(s[k])]} drives coils {coils(int(got[k]))}, "
            f"its state's are {coils(int(want[k]))}"
        ),
    )


def _balancing(c: Checker, r: _Run) -> None:
    """P9: which cells balancing may bleed."""
    res, scn, log, t, faults = r.res, r.scn, r.log, r.t, r.faults
    mask = np.asarray(res.bal_mask, dtype=bool)
    if mask.size == 0 or not mask.any():
        return
    on = mask.sum(axis=1)
    c.where(
        "P9-balancing",
        (faults != 0) & (on > 0),
        t,
        lambda k: f"{on[k]} cells bled with faults 0x{faults[k]:x}",
    )
    bal = scn.balancing
    m = bal.cells_per_module
    n = mask.shape[1]
    pad = np.zeros((mask.shape[0], -(-n // m) * m), dtype=bool)
    pad[:, :n] = mask
    per_module = pad.reshape(mask.shape[0], -1, m).sum(axis=2).max(axis=1)
    c.where(
        "P9-balancing",
        per_module > bal.max_per_module,
        t,
        lambda k: f"{per_module[k]} cells of one module bled (at most {bal.max_per_module})",
    )
    normal = log["bal_test"] == 0
    ref = log["bal_ref"]
    rows = np.flatnonzero(normal & (ref >= 0))
    lowest_on = np.zeros(len(t), dtype=bool)
    lowest_on[rows] = mask[rows, ref[rows]]
    c.where(
        "P9-balancing", lowest_on, t, lambda k: f"cell {ref[k]} (the least charged by the estimates) bled"
    )
    uv = r.chem.protection.limits["cell_v_min"].trip.threshold
    low = normal & (mask & (np.asarray(res.cells_true_v) < uv)).any(axis=1)
    c.where("P9-balancing", low, t, lambda k: f"a cell below the discharge trip {uv} V bled")
    cap = r.chem.cell.capacity_ah * scn.parallel
    se = scn.sensors
    i = log["current_a"]
    err = 3.0 * (se.current_gain_sigma * np.abs(i) + se.current_offset_sigma_a + se.current_noise_a)
    # ... and by an injected offset from its injection (until the firmware finds it, at rest,
    # it judges a current that far off: found by the state machine, an LFP pack balancing in
    # a 3 A charge that read as 2 A of discharge)
    for f in res.injected:
        if f.kind == "current_offset":
            err = err + np.where(t >= f.at_s - 1e-9, abs(f.fault.magnitude()), 0.0)
    pl = r.chem.protection.plausibility
    rest_a = max(bal.rest_current_c * cap, pl.current_offset_max_a)
    slow_a = max(bal.charge_current_max_c * cap, rest_a)
    # the firmware judges the current it measured: the band widened by the sensor's error
    in_use = (i > rest_a + err) | (i < -(slow_a + err))
    c.where(
        "P9-balancing",
        normal & (on > 0) & in_use,
        t,
        lambda k: f"{on[k]} cells bled at {i[k]:.2f} A (rest band {rest_a:g} A, slow charge {slow_a:g} A)",
    )


# P10: each error term of a reading at SENSE_SIGMAS sigma of the scenario's SensorSpec (a
# channel's gain or offset drawn beyond 5 sigma: p = 5.7e-7), the terms summed (they need not
# align: the sum bounds them), and half an LSB of the converter
SENSE_SIGMAS = 5.0
# the fault kinds after whose injection P10 no longer judges: what the firmware sees changes
# (a reading frozen, offset or gone), and what it then misses is P3's question, not P10's
SENSING_FAULTS = frozenset(k for k, fk in FAULT_KINDS.items() if fk.applied_to in ("sensors", "link"))


def _reading_allowance(
    gain_sigma: float, offset: float, noise: float, lsb: float, at: np.ndarray
) -> np.ndarray:
    """How far past `at` a true value can be while its reading is not: the reading is
    x * gain + offset + noise, rounded to the LSB; solved for x at the bound of each term."""
    k = SENSE_SIGMAS
    return (np.abs(at) * k * gain_sigma + k * (offset + noise) + 0.5 * lsb) / (1.0 - k * gain_sigma)


def _afe_allowance(se: SensorSpec, at: np.ndarray) -> np.ndarray:
    """_reading_allowance of a cell-voltage reading (the AFE)."""
    return _reading_allowance(
        se.cell_v_gain_sigma, se.cell_v_offset_sigma_v, se.cell_v_noise_v, se.cell_v_lsb_v, at
    )


def _shunt_allowance(se: SensorSpec, at: np.ndarray) -> np.ndarray:
    """_reading_allowance of the pack current's reading (the shunt; no LSB modelled)."""
    return _reading_allowance(se.current_gain_sigma, se.current_offset_sigma_a, se.current_noise_a, 0.0, at)


def core_tau_s(chem: Chemistry, sp: Spread) -> float:
    """The plant core's time constant: its core-to-surface resistance times its capacity (s)."""
    th = chem.cell.thermal
    return th.r_core_surf_k_per_w * sp.r_core_surf_scale * th.c_core_j_per_k * sp.c_core_scale


def _core_allowance(r: _Run, current_a: np.ndarray, v_allow: float, held: bool = False) -> np.ndarray:
    """(steps, cells): how much hotter than its estimate a cell's core can be from what the
    observer (thermal_observer.h) cannot know, each term from the scenario and the plant's
    truth, independently of the firmware's filter:
    - the thermistors: their noise (5 sigma) and LSB, their lag (a first-order lag of the
      true surface with the SensorSpec's time constant, as the NTC is modelled) and their
      spacing (a cell without a sensor sees its neighbours' lagged surfaces interpolated by
      position): the true surface above what a perfect sensor arrangement shows;
    - the model's thermal parameters against the plant's (Spread: each +-30 %): at steady
      state the core's rise over the surface is Q R, the model's Q R / r_core_surf_scale,
      short of the truth by (1 - 1/r_core_surf_scale) of it; early in a heating the rise is
      the heat over the core's capacity, short by (1 - c_core_scale); the two added;
    - the heat it cannot see: the observer's heat is I (OCV(SoC estimate) - V measured); an
      OCV off by the plant's OCV mismatch (offsets, slope), by the SoC tolerance over the
      OCV's slope there, and a reading off by its sensing error hide |I| dV of heat, which
      the core-to-surface resistance turns into |I| dV R, reached through the core's lag (R C
      of the plant's core); so does a balancing switch stuck on, its resistor's heat.
    The firmware's own heats (the charge's, a commanded switch's resistor) it knows.
    held (P13, which judges the estimate at every step): the surface's sensing error reaches
    the core estimate twice: at once, through the filter's cross gain (a surface innovation
    moves the core estimate as well), and through the model's core-to-surface coupling, which
    carries the surface estimate's error into the core over the core's R C and out of it only
    as slowly: the error now plus its first-order lag through the plant core's R C. P10
    judges an excursion over a debounce with the error as it is."""
    res, scn, chem = r.res, r.scn, r.chem
    se, sp, cell = scn.sensors, scn.spread, chem.cell
    core = np.asarray(res.cells_true_core, dtype=float)
    surf = np.asarray(res.cells_true_surf, dtype=float)
    n = core.shape[1]
    sensed = np.array(scn.sensed)
    lagged = _first_order(surf[:, sensed], r.dt, se.temp_lag_s, surf[0, sensed])
    # each cell's reading as the interpolation of the sensed cells (clamped past the ends)
    w = np.stack([np.interp(np.arange(n), sensed, np.eye(len(sensed))[j]) for j in range(len(sensed))])
    shown = lagged @ w
    surf_err = np.maximum(0.0, surf - shown) + SENSE_SIGMAS * se.temp_noise_c + 0.5 * se.temp_lsb_c
    th = cell.thermal
    tau_s = core_tau_s(chem, sp)
    if held:
        surf_err = surf_err + _first_order(surf_err, r.dt, tau_s, surf_err[0])
    m = max(0.0, 1.0 - 1.0 / sp.r_core_surf_scale) + max(0.0, 1.0 - sp.c_core_scale)
    rise = m * np.maximum(0.0, core - surf)
    mid = float(np.interp(0.5, cell.soc, cell.ocv_v[int(np.argmin(np.abs(cell.temp_c - 25.0)))]))
    ocv_err_v = (
        abs(sp.ocv_offset_v)
        + sp.ocv_offset_cell_v
        + abs(sp.ocv_slope) * float(np.max(np.abs(cell.ocv_v - mid)))
        + v_allow
    )
    slope = np.max(np.abs(np.gradient(cell.ocv_v, cell.soc, axis=1)), axis=0)  # V per unit SoC
    soc_err_v = r.soc_bound * np.interp(np.asarray(res.cells_true_soc, dtype=float), cell.soc, slope)
    r_cs = th.r_core_surf_k_per_w / scn.parallel * sp.r_core_surf_scale
    heat_w = np.abs(current_a)[:, None] * (ocv_err_v + soc_err_v)
    # a balancing switch stuck on bleeds its cell unseen until the firmware finds it: its
    # resistor's heat (into the cell, the plant's bound) is hidden too
    bal = scn.balancing
    for f in res.injected:
        if f.kind == "balancing_stuck_on" and f.cell is not None:
            i_b = np.asarray(res.cells_true_v, dtype=float)[:, f.cell] / (
                bal.bleed_ohm + 2.0 * bal.sense_wire_ohm
            )
            heat_w[:, f.cell] += np.where(r.t >= f.at_s - 1e-9, i_b * i_b * bal.bleed_ohm, 0.0)
    # the hidden heat warms the core as any heat does: through its capacity, R C to settle
    heat = _first_order(heat_w * r_cs, r.dt, tau_s, np.zeros(n))
    return surf_err + rise + heat


def _first_order(x: np.ndarray, dt: float, tau_s: float, y0: np.ndarray) -> np.ndarray:
    """x (steps, k) through a first-order lag of time constant tau_s from y0 (exact for x
    held over each step)."""
    a = np.exp(-dt / tau_s)
    y = np.empty(x.shape)
    prev = np.asarray(y0, dtype=float)
    for k in range(len(x)):  # bounded by the run
        prev = a * prev + (1.0 - a) * x[k]
        y[k] = prev
    return y


def _excursion_s(beyond: np.ndarray, t: np.ndarray, reset_now: np.ndarray) -> np.ndarray:
    """How long each step's run of `beyond` (along axis 0, any trailing shape) has lasted, from
    its first step or the last reset within it (a reset restarts a debounce); 0 where not beyond."""
    n = len(t)
    idx = np.arange(n).reshape((n,) + (1,) * (beyond.ndim - 1))
    rs = reset_now.reshape(idx.shape)
    marker = np.where(~beyond, idx, np.where(rs, idx - 1, -1))
    start = np.minimum(np.maximum.accumulate(marker, axis=0) + 1, n - 1)
    tt = t.reshape(idx.shape)
    return np.where(beyond, tt - t[start], 0.0)


def _thresholds(c: Checker, r: _Run) -> None:
    """P10: no true value past a trip threshold beyond its sensing allowance for longer than
    the trip's debounce (+ two steps: the sample precedes the step's end the log shows, and
    the latch comes on the step the count reaches the debounce) without a fault latched."""
    res, scn, chem, log, t, dt, faults = r.res, r.scn, r.chem, r.log, r.t, r.dt, r.faults
    judged_until = min((f.at_s for f in res.injected if f.kind in SENSING_FAULTS), default=np.inf)
    judged = t < judged_until - 1e-9
    if not judged.any():
        return
    lim = chem.protection.limits
    se = scn.sensors
    resets = log["resets"]
    reset_now = resets > np.concatenate([[0.0], resets[:-1]])
    unanswered = judged & (faults == 0)
    cap_ah = chem.cell.capacity_ah * scn.parallel
    i = log["current_a"]

    def judge(name: str, value: np.ndarray, thr, allow, debounce_s: float, what: str) -> None:
        is_max = dict(QUANTITIES)[name]
        beyond = (value > thr + allow) if is_max else (value < thr - allow)
        if value.ndim == 2:
            beyond &= ~exempt
        late = beyond & (_excursion_s(beyond, t, reset_now) > debounce_s + 2.0 * dt + 1e-9)
        if late.ndim == 2:
            cell = np.argmax(late, axis=1)
            late = late.any(axis=1)
        else:
            cell = np.zeros(len(t), dtype=int)
        c.where(
            "P10-threshold",
            late & unanswered,
            t,
            lambda k: f"{what(k, int(cell[k]))}, unanswered past the {debounce_s:g} s debounce + two steps",
        )

    core = np.asarray(res.cells_true_core, dtype=float)
    derate = lim["core_temp_max_charge"].derate.threshold
    exempt = _short_exempt(r, core, core >= derate)
    for name, value in (("cell_v_max", log["cell_v_true_max"]), ("cell_v_min", log["cell_v_true_min"])):
        trip = lim[name].trip
        a_v = float(_afe_allowance(se, np.array(trip.threshold)))
        judge(
            name, value, trip.threshold, a_v, trip.debounce_ms / 1000.0,
            lambda k, _j, v=value, name=name, a_v=a_v, thr=trip.threshold: (
                f"true {name} {v[k]:.4f} V past its trip {thr} V + {a_v * 1000:.1f} mV of sensing"
            ),
        )  # fmt: skip
    for name, value in (("charge_c_rate_max", -i), ("discharge_c_rate_max", i)):
        trip = lim[name].trip
        thr = trip.threshold * cap_ah
        a_i = float(_shunt_allowance(se, np.array(thr)))
        judge(
            name, value, thr, a_i, trip.debounce_ms / 1000.0,
            lambda k, _j, v=value, name=name, a_i=a_i, thr=thr: (
                f"true {name.split('_')[0]} current {v[k]:.2f} A past its trip {thr:.2f} A "
                f"+ {a_i:.2f} A of sensing"
            ),
        )  # fmt: skip
    # the core's trip by direction: the charge tier where the firmware surely sees a charge
    # (the true current past its charge-detect level by the sensing error), else the
    # discharge tier (the higher: the one that applies at worst)
    detect_a = charge_detect_a(chem.protection, cap_ah)
    a_det = _shunt_allowance(se, i)
    chg, dis = lim["core_temp_max_charge"].trip, lim["core_temp_max_discharge"].trip
    charging = -i > detect_a + a_det
    thr = np.where(charging, chg.threshold, max(chg.threshold, dis.threshold))[:, None]
    a_v = float(_afe_allowance(se, np.array(chem.cell.v_max)))
    allow = _core_allowance(r, i, a_v)
    judge(
        "core_temp_max_charge", core, thr, allow, max(chg.debounce_ms, dis.debounce_ms) / 1000.0,
        lambda k, j: (
            f"cell {j} true core {core[k, j]:.2f} degC past its trip {thr[k, 0]:g} degC + "
            f"{allow[k, j]:.2f} K the observer cannot know"
        ),
    )  # fmt: skip


# the fault kinds after whose injection P13 no longer judges: the sensing faults (what the
# firmware sees) and the coolant's (the surface path its observer models)
P13_BLIND_KINDS = SENSING_FAULTS | frozenset(k for k, fk in FAULT_KINDS.items() if fk.applied_to == "coolant")
# P13 judges a core estimate this many of the plant core's R C after the coolant heater last ran
HEATED_CORE_TAUS = 3.0


def _since(on: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Seconds since `on` last held at or before each step (inf: never)."""
    last = np.where(on, t, -np.inf)
    return t - np.maximum.accumulate(last)


def _core_estimate(c: Checker, r: _Run) -> None:
    """P13: no cell's true core is hotter than the firmware's own estimate of it by more than
    what the observer cannot know (_core_allowance, P10's, and the lag a mis-scaled model
    gives a core warmed or cooled from outside: below), at any step the estimators run on
    real sensors (until a fault that changes what the firmware sees, or the coolant's path
    its observer models, is injected: P13_BLIND_KINDS); a shorted
    cell and what it conducts into its neighbours are exempt as in P1.

    Not judged while the coolant heater runs and for HEATED_CORE_TAUS of the core's R C after:
    the heater drives the surfaces through the cold plate, a path the observer knows only to
    est.r_surf_amb_rel_sigma and at the nominal coolant flow; where the plate conducts less
    than modelled (a slower pump) the surface warms slower than predicted, and the filter
    reads part of that as a colder core (an NMC cell at 60 % flow: 0.3 K below the truth
    beside a 0.3 K allowance). An estimate colder than the truth while the pack is cold
    enough to be heated errs on the side of the plating map and the cold derate (a lower
    CCL), and the heater's off band lies far below any hot limit.

    The outside term: a core follows its surface through R C (the core-to-surface resistance
    and the core's capacity). Where the surface moves from outside (the coolant's heater or
    chiller, the air), the true core lags it by about the surface's rate times the plant's
    R C, the observer's by the rate times the model's: short of the truth by (R C_model /
    R C_plant - 1) of the true lag (surface - core), the plant's scales (Spread) being the
    plant's R C over the model's."""
    res, scn, log, t = r.res, r.scn, r.log, r.t
    # a coolant fault takes away the surface path the observer models (as the heater drives
    # it, below): judged until then, as until a sensing fault
    judged_until = min((f.at_s for f in res.injected if f.kind in P13_BLIND_KINDS), default=np.inf)
    est = r.est_core
    sp = scn.spread
    tau_s = core_tau_s(r.chem, sp)
    judged = ((t < judged_until - 1e-9) & (_since(log["heater_on"] > 0.5, t) > HEATED_CORE_TAUS * tau_s))[
        :, None
    ] & np.isfinite(est)
    if not judged.any():
        return
    core = np.asarray(res.cells_true_core, dtype=float)
    surf = np.asarray(res.cells_true_surf, dtype=float)
    a_v = float(_afe_allowance(scn.sensors, np.array(r.chem.cell.v_max)))
    lag = max(0.0, 1.0 / (sp.r_core_surf_scale * sp.c_core_scale) - 1.0) * np.maximum(0.0, surf - core)
    allow = _core_allowance(r, log["current_a"], a_v, held=True) + lag
    bad = judged & (core > est + allow)
    bad &= ~_short_exempt(r, core, bad)
    cell = np.argmax(bad, axis=1)
    c.where(
        "P13-core-estimate",
        bad.any(axis=1),
        t,
        lambda k: (
            f"cell {cell[k]} true core {core[k, cell[k]]:.2f} degC, the firmware's estimate "
            f"{est[k, cell[k]]:.2f} degC + {allow[k, cell[k]]:.2f} K it cannot know"
        ),
    )


class SafetyMonitor:
    """check_run for one scenario: `finish(result)` returns the violations."""

    def __init__(self, scn: Scenario, chem: Chemistry, max_per_prop: int = 3) -> None:
        self.scn, self.chem, self.max_per_prop = scn, chem, max_per_prop
        self.limits = Limits(scn, chem)

    def finish(self, res: SimResult) -> list[Violation]:
        return check_run(res, self.chem, self.max_per_prop)


# the stack-pressure kinds a reading hides the pressure from the firmware with, until the
# firmware condemns the reading (their trip bound): meanwhile a fixture relaxing unseen is not
# the firmware's to stop
PRESSURE_BLIND_KINDS = ("pressure_sensor_stuck", "pressure_sensor_open")


def pressure_allowance_mpa(sp: StackPressure) -> float:
    """How far a usable pressure reading may sit above the true pressure: the sensor's gain
    and offset error within its specification, 4 sigma of its noise and half a code step."""
    return sp.sensor_error_mpa + 4.0 * sp.sensor_sigma_mpa + 0.5 * sp.sensor_lsb_mpa


def _pressure(c: Checker, r: _Run) -> None:
    """P11 (stack pressure, a pressed solid-state pack): (a) the charge never continues below
    the minimum pressure: whenever the lowest TRUE module pressure is below the charge trip
    threshold by more than a reading may err, the CCL is 0; (b) the CCD cap is never exceeded
    for the true contact: the CCL never exceeds the plating (CCD) map at the firmware's
    estimates times the true contact fraction the lowest true pressure leaves
    (bms.stack_pressure.contact), so the current density a charger following the CCL drives
    through the remaining contact stays under the CCD. Both exempt the time a failed pressure
    sensor hides the pressure, until its trip bound (the firmware has latched by then)."""
    sp = r.chem.stack_pressure
    if sp is None:
        return
    log, t, ccl, lim = r.log, r.t, r.ccl, r.lim
    p_true = log["pressure_true_min_mpa"]
    blind = np.zeros(r.n, dtype=bool)
    for inj in r.res.injected:
        if inj.kind in PRESSURE_BLIND_KINDS:
            bound = FAULT_KINDS[inj.kind].trip_time_s(r.chem, r.scn) + 2 * r.dt
            blind |= (t >= inj.at_s - 1e-9) & (t <= inj.at_s + bound + 1e-9)
    trip = r.chem.protection.limits["pressure_min_charge"].trip.threshold
    allow = pressure_allowance_mpa(sp)
    c.where(
        "P11-pressure",
        (p_true < trip - allow) & (ccl > ABS_A) & ~blind,
        t,
        lambda k: (
            f"ccl {ccl[k]:.3f} A with the lowest true stack pressure {p_true[k]:.3f} MPa below the charge "
            f"trip {trip:g} MPa by more than a reading errs ({allow:.3f} MPa)"
        ),
    )
    live = (ccl > 0) & ~blind
    if live.any():
        cap = lim.plating_a(r.est_soc[live], r.est_core[live])
        contact = sp.contact(p_true[live])
        over = np.zeros(r.n, dtype=bool)
        over[live] = ccl[live] > cap * contact * (1 + REL) + ABS_A
        allowed = np.zeros(r.n)
        allowed[live] = cap * contact
        c.where(
            "P11-pressure",
            over,
            t,
            lambda k: (
                f"ccl {ccl[k]:.3f} A above the CCD cap at the true contact ({allowed[k]:.3f} A; lowest true "
                f"pressure {p_true[k]:.3f} MPa)"
            ),
        )


# float32 temperatures against float64 thresholds: a request is judged only this far past a band
BAND_SLACK_C = 1e-3


def _thermal_requests(c: Checker, r: _Run) -> None:
    """P12: the thermal system's requests follow their bands (bms_limit_update) on the
    temperatures the firmware reports: the coldest sensor for the heater (the preconditioning
    band while BMS_ST_PRECONDITIONING says a fast charge is announced), the hottest core
    estimate for the cooling; inside a band the request keeps what it was (hysteresis). A
    heater that never stops heats a warm pack, one that never starts lets the pack arrive
    cold; a mutant that always preconditioned survived the suite without it."""
    ch = r.chem.protection.charge
    log, t = r.log, r.t
    pre = (log["fw_status"].astype(np.int64) & int(Status.PRECONDITIONING)) != 0
    on_below = np.where(
        pre,
        ch.heater_on_below_c if ch.precondition_on_below_c is None else ch.precondition_on_below_c,
        ch.heater_on_below_c,
    )
    off_above = np.where(
        pre,
        ch.heater_off_above_c if ch.precondition_off_above_c is None else ch.precondition_off_above_c,
        ch.heater_off_above_c,
    )
    t_min, t_max = log["temp_meas_min_c"], log["core_temp_est_max_c"]
    heater, cooling = log["heater_on"] != 0, log["cooling_on"] != 0
    with np.errstate(invalid="ignore"):
        for bad, what in (
            ((t_min < on_below - BAND_SLACK_C) & ~heater, "off below its band"),
            ((t_min > off_above + BAND_SLACK_C) & heater, "on above its band"),
        ):
            c.where(
                "P12-thermal",
                bad,
                t,
                lambda k, what=what: (
                    f"heater {what}: coldest sensor {t_min[k]:.3f} C, band {on_below[k]:g} .. "
                    f"{off_above[k]:g} C" + (" (preconditioning)" if pre[k] else "")
                ),
            )
        for bad, what in (
            ((t_max > ch.cooling_on_above_c + BAND_SLACK_C) & ~cooling, "off above its band"),
            ((t_max < ch.cooling_off_below_c - BAND_SLACK_C) & cooling, "on below its band"),
        ):
            c.where(
                "P12-thermal",
                bad,
                t,
                lambda k, what=what: (
                    f"cooling {what}: hottest core estimate {t_max[k]:.3f} C, band "
                    f"{ch.cooling_off_below_c:g} .. {ch.cooling_on_above_c:g} C"
                ),
            )


# P14: the quantities whose reading the State reports (QUANTITIES index -> log column); the
# C-rates and the cell spread are judged on values no State carries. `both`: the quantity is
# judged whatever the current's direction (the charge / discharge pairs only in theirs, which
# the log does not say exactly), so its tiers' debounce is demanded too.
TIER_READINGS: dict[str, tuple[str, bool]] = {
    "cell_v_max": ("cell_v_meas_max", True),
    "cell_v_min": ("cell_v_meas_min", True),
    "core_temp_max_charge": ("core_temp_est_max_c", False),
    "core_temp_max_discharge": ("core_temp_est_max_c", False),
    "surface_temp_max_charge": ("temp_meas_max_c", False),
    "surface_temp_max_discharge": ("temp_meas_max_c", False),
    "temp_min_charge": ("temp_meas_min_c", False),
    "temp_min_discharge": ("temp_meas_min_c", False),
    "pressure_min_charge": ("pressure_fw_min_mpa", False),
    "pressure_min_discharge": ("pressure_fw_min_mpa", False),
    "pressure_max": ("pressure_fw_max_mpa", True),
}


def _tiers(c: Checker, r: _Run) -> None:
    """P14: each warning and derate bit against the reading it judges (safety.c: a tier is set
    when its debounce ends with the reading past the threshold, held while the reading stays
    inside the hysteresis band, cleared once it leaves it or the reading is unusable). In
    float32 against float64: judged REL past each bound."""
    log, t = r.log, r.t
    if "derates" not in log:
        return
    bits = {"warning": log["warnings"].astype(np.int64), "derate": log["derates"].astype(np.int64)}
    dt_ms = r.scn.dt_ms
    for q, (name, is_max) in enumerate(QUANTITIES):
        if name not in TIER_READINGS:
            continue
        col, both = TIER_READINGS[name]
        v = log[col]
        sign = 1.0 if is_max else -1.0
        lim = r.chem.protection.limits[name]
        for tier_name in ("warning", "derate"):
            tier = getattr(lim, tier_name)
            on = (bits[tier_name] >> q & 1) != 0
            release = tier.threshold - sign * tier.hysteresis
            with np.errstate(invalid="ignore"):
                # inside the band or past the threshold, either within REL: not surely released
                held = sign * v > sign * release - REL * abs(release) - 1e-9
                past = sign * v >= sign * tier.threshold - REL * abs(tier.threshold) - 1e-9
                surely_past = sign * v > sign * tier.threshold + REL * abs(tier.threshold) + 1e-9
            c.where(
                "P14-tiers",
                on & ~(held | past),
                t,
                lambda k, name=name, tier_name=tier_name, v=v, release=release: (
                    f"{name} {tier_name} active with the reading at {v[k]:.4g} (released past {release:.4g})"
                ),
            )
            if not both:
                continue
            # past the threshold on n consecutive steps: the debounce counts from the first
            n = int(np.ceil(tier.debounce_ms / dt_ms)) + 1
            idx = np.arange(len(v))
            run = idx - np.maximum.accumulate(np.where(surely_past, -1, idx))
            c.where(
                "P14-tiers",
                (run >= n) & ~on,
                t,
                lambda k, name=name, tier_name=tier_name, v=v, tier=tier: (
                    f"{name} {tier_name} not active with the reading past {tier.threshold:g} "
                    f"({v[k]:.4g}) for {tier.debounce_ms} ms and more"
                ),
            )
