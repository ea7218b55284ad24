"""When an injected fault's condition becomes observable to the firmware: one function per
way of judging it, named in the fault kind's registry row (bms.plant.faults.FAULT_KINDS).

Each is judged on the plant's truth with the firmware's documented thresholds, once per step
after the firmware step, and returns the onset time (s) once the condition is observable,
None while it is not yet. ccl_ref: the CCL as a compliant charger follows it (lagged by the
charger's response time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from bms.enums import FAULT_ID
from bms.protection import PlausParams, ccl_excess_a

if TYPE_CHECKING:
    from bms.chemistry import Chemistry
    from bms.plant.faults import Injection
    from bms.plant.pack import PackPlant
    from bms.sim.scenario import Scenario

# the firmware's pack-mean SoC estimate is within this of the truth (P5's tolerance,
# bms/sim/checks.py SOC_TOLERANCE): its dOCV/dSoC term may be taken anywhere in that band
SOC_EST_TOL = 0.03


@dataclass(slots=True)
class OnsetView:
    """What an onset is judged on: the step just taken and the plant's truth after it."""

    k: int  # the step's index
    t_s: float  # the time at the end of the step
    i_mean_a: float  # the true mean pack current over the step (> 0 discharge)
    ccl_ref_a: float  # the CCL as a compliant charger follows it
    v_true: np.ndarray
    contactors_open: bool
    # a close request was accepted before the step: the firmware judged its sample in a
    # precharge, even where a fault latched in the same step opened the contactors again
    # (the state reported after it)
    closing: bool
    current_offset_a: float  # what injected sensor offsets add to the current reading (A)
    samples_fresh: bool  # the firmware got a new sample this step (no cut link)
    latched: int  # the firmware's latched fault mask after the step
    core_c: np.ndarray
    plant: PackPlant
    chem: Chemistry
    scn: Scenario
    # the modules' true stack pressure after the step (MPa; bms.plant.pressure); empty: not pressed
    pressure_mpa: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # the link voltage the firmware got was at the precharge ratio of the pack's (a close
    # then closes at once, precharge path or not)
    link_precharged: bool = True


def precharge_blocked(f: Injection, view: OnsetView) -> float | None:
    """A precharge the firmware began with the link below its ratio (a close accepted before
    the step): with the path open it can only time out."""
    return view.t_s if view.closing and not view.link_precharged else None


def at_injection(f: Injection, view: OnsetView) -> float | None:
    """Observable at once (its first step)."""
    return view.t_s


def stuck_repeats(f: Injection, view: OnsetView) -> float | None:
    """A frozen reading once it has repeated stuck_repeats_min times."""
    pl = view.chem.protection.plausibility
    return view.t_s if view.k - f.k >= pl.stuck_repeats_min else None


def _cell_dev_allowance_v(
    pl: PlausParams, chem: Chemistry, scn: Scenario, plant: PackPlant, core_c: float, current_a: float
) -> float:
    """The most the firmware's cell-deviation allowance can be now (plausibility.c:
    cell_dev_max_v + cell_dev_v_per_a * |I| + cell_dev_soc_spread * |dOCV/dSoC|), from the
    truth: |I| is the true current plus the sensor's 3-sigma error; cell_dev_v_per_a is the
    value the firmware is configured with, cell_dev_r_rel times R0 at 25 C (the median of
    that row, per element: bms.firmware.fill_config), not any other R0 of the table (a
    sulfide cell's R0 falls ~4x from 25 to 60 C: a median over all rows is a different
    threshold); dOCV/dSoC is the firmware's secant over its mean SoC estimate +-0.02, which
    lies within the true mean SoC +- (SOC_EST_TOL + 0.02): the OCV is piecewise linear in
    SoC, so no secant there is steeper than the steepest table segment the band touches
    (at the cells' true mean core temperature; the firmware takes its estimate of it)."""
    cell = chem.cell
    row = int(np.argmin(np.abs(cell.temp_c - 25.0)))
    v_per_a = pl.cell_dev_r_rel * float(np.median(cell.r0_ohm[row])) / scn.parallel
    s = float(np.mean(plant.soc))
    lo, hi = s - SOC_EST_TOL - 0.02, s + SOC_EST_TOL + 0.02
    bp = plant.tables.soc
    ocv = plant.tables.ocv(bp, np.full(len(bp), core_c))
    seg = np.abs(np.diff(ocv)) / np.diff(bp)
    touch = (bp[1:] > lo) & (bp[:-1] < hi)
    slope = float(seg[touch].max()) if touch.any() else float(seg.max())
    return pl.cell_dev_max_v + v_per_a * current_a + pl.cell_dev_soc_spread * slope


def cell_deviation(f: Injection, view: OnsetView) -> float | None:
    """An internal short once the cell's true voltage leaves the deviation allowance by
    more than the reading's own error (3 sigma): a drift the firmware must see (as a
    charger fault's onset is taken beyond the current error)."""
    v_true = view.v_true
    if len(v_true) < 2:
        return None  # a deviation needs other cells to deviate from
    pl = view.chem.protection.plausibility
    c = int(f.cell or 0)
    others = (np.sum(v_true) - v_true[c]) / (len(v_true) - 1)
    se = view.scn.sensors
    i_mean = view.i_mean_a
    i_read = abs(i_mean) + 3.0 * (
        se.current_gain_sigma * abs(i_mean) + se.current_offset_sigma_a + se.current_noise_a
    )
    allow = _cell_dev_allowance_v(pl, view.chem, view.scn, view.plant, float(np.mean(view.core_c)), i_read)
    err = 3.0 * (se.cell_v_noise_v + se.cell_v_offset_sigma_v + se.cell_v_gain_sigma * abs(v_true[c]))
    return view.t_s if abs(v_true[c] - others) > allow + err + se.cell_v_lsb_v else None


def _interval(f: Injection, view: OnsetView, observable: bool, debounce_ms: float) -> float | None:
    """The start of the first interval in which the fault is observable that lasts the
    debounce (the fault's trip time)."""
    if not (observable and view.samples_fresh):
        f.observable_since = None
        return None
    if f.observable_since is None:
        f.observable_since = view.t_s
    since = f.observable_since
    return since if view.t_s - since >= debounce_ms / 1000.0 else None


def at_rest(f: Injection, view: OnsetView) -> float | None:
    """A current-sensor offset: observable only with the contactors open (the only time the
    true current is known to be zero) and no precharge begun in the step (the firmware
    restarts its debounce after one), from the start of such an interval that lasts the
    debounce."""
    at_rest = view.contactors_open and not view.closing
    return _interval(f, view, at_rest, view.chem.protection.plausibility.offset_debounce_ms)


def in_use(f: Injection, view: OnsetView) -> float | None:
    """A lost coolant flow: observable only with the contactors closed (the pack in use),
    from the start of such an interval that lasts the debounce."""
    return _interval(f, view, not view.contactors_open, view.chem.protection.plausibility.cooling_debounce_ms)


def charger_excess(f: Injection, view: OnsetView) -> float | None:
    """A charger fault: its current exceeds what a compliant charger may deliver by more than
    the current sensor's own error (3 sigma), an excess the firmware can tell from a
    measurement error, in steps whose samples reach the firmware (a cut link shows it none),
    from the start of such an interval that lasts the debounce. An interval cut short by
    something else (the contactors opened on a command after one step of excess) is no
    charger fault the firmware must latch; one cut short because the firmware latched the
    fault that catches it (a runaway trips after ccl_excess_fast_ms and opens at once) is
    the onset of the excess it caught."""
    pl = view.chem.protection.plausibility
    se = view.scn.sensors
    i_mean = view.i_mean_a
    cap = view.chem.cell.capacity_ah * view.scn.parallel
    err = 3.0 * (se.current_gain_sigma * abs(i_mean) + se.current_offset_sigma_a + se.current_noise_a)
    # judged on the current the firmware reads: an injected sensor offset moves it (found by
    # the state machine: +5 A hid the first 5 A of a charger's excess over a zero limit)
    i_read = i_mean + view.current_offset_a
    hit = -i_read > view.ccl_ref_a * (1 + pl.ccl_excess_frac) + ccl_excess_a(pl, cap) + err
    if _caught(f, view) and f.observable_since is not None:
        return f.observable_since
    return _interval(f, view, hit, pl.ccl_excess_debounce_ms)


def _caught(f: Injection, view: OnsetView) -> bool:
    """The firmware has latched a fault that catches f (its registry row's caught_by)."""
    from bms.plant.faults import FAULT_KINDS  # the registry imports this module

    return any((view.latched >> int(FAULT_ID[n])) & 1 for n in FAULT_KINDS[f.kind].caught_by)


def switch_testable(f: Injection, view: OnsetView) -> float | None:
    """A balancing switch stuck on or off: observable while the firmware tests its switches
    (balancing configured, no fault latched, whatever the current's level, a pack current the
    test accepts: its change between
    this step and the last within the test's bound less the current sensor's 3-sigma error
    of a difference),
    from the start of such an interval that lasts the bound from there to the latch
    (bms.balancing.switch_trip_bound_s)."""
    from bms.balancing import switch_trip_bound_s

    scn = view.scn
    bal = scn.balancing
    if _caught(f, view) and f.observable_since is not None:
        return f.observable_since  # the interval being timed ended in its detection
    cap = view.chem.cell.capacity_ah * scn.parallel
    se = scn.sensors
    prev = f.prev_current_a if f.prev_current_a is not None else view.i_mean_a
    f.prev_current_a = view.i_mean_a
    # two readings' difference: the offset cancels, the gain scales the change, the noise
    # adds sqrt(2) x its sigma (3 sigma)
    di = abs(view.i_mean_a - prev)
    err = di * se.current_gain_sigma + 3.0 * np.sqrt(2.0) * se.current_noise_a
    steady = di + err < max(bal.test_di_max_c * cap, bal.test_di_min_a)
    ok = bal.mode != "off" and view.latched == 0 and steady
    return _interval(f, view, ok, 1000.0 * switch_trip_bound_s(bal, scn.series, scn.dt_ms))


def _pressure_side(view: OnsetView) -> str | None:
    """The low-pressure limit the firmware judges by in this step, where the truth decides it:
    "charge" (pressure_min_charge) while the current it reads is surely a charge (the true
    current past charge_detect_c by the current sensor's 3-sigma error, injected offsets
    included), "discharge" (pressure_min_discharge) while it is surely not; None between
    (either: in a small pack at rest the sensor's error may exceed charge_detect_c)."""
    chem, scn = view.chem, view.scn
    se = scn.sensors
    i_mean = view.i_mean_a
    detect_a = chem.protection.charge.charge_detect_c * chem.cell.capacity_ah * scn.parallel
    err = 3.0 * (se.current_gain_sigma * abs(i_mean) + se.current_offset_sigma_a + se.current_noise_a)
    i_read = i_mean + view.current_offset_a
    if -i_read > detect_a + err:
        return "charge"
    if -i_read < detect_a - err:
        return "discharge"
    return None


def pressure_low(f: Injection, view: OnsetView) -> float | None:
    """A yielding fixture (pressure_loss): its module's true pressure below the trip threshold
    of the limit the firmware judges by (pressure_min_charge while charging, else
    pressure_min_discharge: _pressure_side) by more than the load cell's own error (its gain
    and offset bound sensor_error_mpa, 3 sigma of noise and a code step), judged by the same
    limit throughout (where the truth cannot tell which, below both), from the start of such an
    interval that lasts the trip's debounce. An interval cut short because the firmware latched
    what catches it is the onset of what it caught (its charge limit falls to 0 as the pressure
    nears the charge trip: the current may stop being a charge as the firmware trips)."""
    if _caught(f, view) and f.observable_since is not None:
        return f.observable_since
    sp = view.chem.stack_pressure
    if sp is None or len(view.pressure_mpa) == 0:
        return None
    side = _pressure_side(view)
    limits = view.chem.protection.limits
    trips = [limits[f"pressure_min_{s}"].trip for s in ((side,) if side else ("charge", "discharge"))]
    margin = sp.sensor_error_mpa + 3.0 * sp.sensor_sigma_mpa + sp.sensor_lsb_mpa
    # where the side is in doubt, below both trips (the lower), judged over the longer debounce
    low = float(view.pressure_mpa[f.cell or 0]) < min(t.threshold for t in trips) - margin
    if side != f.onset_side:
        f.observable_since = None  # another limit: its own debounce starts afresh
    f.onset_side = side
    return _interval(f, view, low, max(t.debounce_ms for t in trips))
