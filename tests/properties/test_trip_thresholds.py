"""Tiered limits, enforced on any target: a reading held beyond a trip threshold (reaching it
counts) latches its fault after exactly its debounce, one good sample in between delays but
does not restart it, the charge current limit is then zero, and a reset while the reading
persists keeps the fault latched. A reading held just inside the release band never trips.

The expected timing is computed here from the chemistry's limit table, independently of
the firmware's debounce code (safety.h documents the rule: +dt while present, -dt while
not; latched when the count reaches the debounce)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bms.chemistry import available, load_chemistry
from bms.enums import FAULT_ID
from bms.protection import CURRENT_QUANTITIES, QUANTITIES
from bms.sim.configure import firmware_config
from bms.sim.scenario import Scenario
from bms.targets.base import Measurement
from hil.targets.remote import configure_for_a_new_run

DT_MS = 100
# at rest (no current) the discharge-side quantities are the ones monitored
QUANTITY_FAULT = {
    "cell_v_max": "cell_ov",
    "cell_v_min": "cell_uv",
    "surface_temp_max_discharge": "surface_ot_discharge",
    "temp_min_discharge": "ut_discharge",
    "discharge_c_rate_max": "oc_discharge",
    # a pressed pack's stack pressure (one load cell per module; at rest the discharge side)
    "pressure_min_discharge": "pressure_low_discharge",
    "pressure_max": "pressure_high",
}
PRESSURE = ("pressure_min_discharge", "pressure_max")
IS_MAX = dict(QUANTITIES)
PRESSED = tuple(c for c in available() if load_chemistry(c).stack_pressure is not None)


@dataclass
class Case:
    chemistry: str
    series: int
    quantity: str
    where: int  # the cell or the sensor that reads beyond
    beyond: float  # how far past the threshold (0: exactly at it)
    good_at: int | None  # a single good sample at this index of the hold


@st.composite
def cases(draw: st.DrawFn) -> Case:
    series = draw(st.integers(2, 48))
    quantity = draw(st.sampled_from(sorted(QUANTITY_FAULT)))
    scn = Scenario(series=series, parallel=4)
    chemistry = draw(st.sampled_from(PRESSED if quantity in PRESSURE else available()))
    if quantity.startswith(("surface", "temp")):
        where = draw(st.sampled_from(scn.sensed))
    elif quantity in PRESSURE:
        sp = load_chemistry(chemistry).stack_pressure
        where = draw(st.integers(0, sp.n_modules(series) - 1))
    else:
        where = draw(st.integers(0, series - 1))
    return Case(
        chemistry=chemistry,
        series=series,
        quantity=quantity,
        where=where,
        beyond=draw(st.sampled_from([0.0, 0.001, 0.01, 0.05])),
        good_at=draw(st.none() | st.integers(1, 5)),
    )


class Rig:
    """Steady, plausible measurements of a resting pack, with one reading moved."""

    def __init__(self, target, chem_name: str, series: int) -> None:
        self.chem = load_chemistry(chem_name)
        self.scn = Scenario(chemistry=chem_name, series=series, parallel=4)
        configure_for_a_new_run(target, firmware_config(self.chem, self.scn))
        self.target = target
        self.cap_ah = self.chem.cell.capacity_ah * self.scn.parallel
        lim = self.chem.protection.limits
        # a resting cell halfway between the voltage derate tiers, 25 degC everywhere
        self.v_rest = 0.5 * (lim["cell_v_max"].derate.threshold + lim["cell_v_min"].derate.threshold)
        self.t_ms = 0
        self.rng = np.random.default_rng(1)
        # a pressed pack's load cells: halfway between the pressure warnings, one per module
        sp = self.chem.stack_pressure
        self.n_modules = 0 if sp is None else sp.n_modules(series)
        self.p_rest = 0.5 * (
            lim["pressure_min_charge"].warning.threshold + lim["pressure_max"].warning.threshold
        )

    def meas(self, quantity: str | None = None, where: int = 0, value: float = math.nan) -> Measurement:
        n = self.scn.series
        # dithered like a real AFE, so no reading looks frozen
        v = np.full(n, self.v_rest) + self.rng.normal(0.0, 0.0005, n)
        temps = np.full(len(self.scn.sensed), 25.0) + self.rng.normal(0.0, 0.05, len(self.scn.sensed))
        current = float(self.rng.normal(0.0, 0.05))
        # dithered too (a live load cell's noise exceeds its code step)
        p = np.full(self.n_modules, self.p_rest) + self.rng.normal(0.0, 0.01, self.n_modules)
        if quantity in PRESSURE:
            p[where] = value
        elif quantity in ("cell_v_max", "cell_v_min"):
            v[where] = value
        elif quantity in ("surface_temp_max_discharge", "temp_min_discharge"):
            temps[self.scn.sensed.index(where)] = value
        elif quantity == "discharge_c_rate_max":
            current = value
        self.t_ms += DT_MS
        return Measurement(
            current_a=current,
            cell_v=v.astype(np.float32),
            temp_degc=temps.astype(np.float32),
            ambient_degc=25.0,
            pack_v=float(np.sum(v)),
            bus_v=0.0,
            coolant_flow_lpm=10.0,
            sample_time_ms=self.t_ms,
            pressure_mpa=p,
        )


def threshold_value(rig: Rig, quantity: str, beyond: float) -> float:
    trip = rig.chem.protection.limits[quantity].trip.threshold
    scale = rig.cap_ah if quantity in CURRENT_QUANTITIES else 1.0
    sign = 1.0 if IS_MAX[quantity] else -1.0
    # the firmware holds thresholds in float32: the first float32 at or past the threshold
    at = float(np.float32(trip * scale))
    if (at < trip * scale) if sign > 0 else (at > trip * scale):
        at = float(np.nextafter(np.float32(at), np.float32(sign * np.inf)))
    return at + sign * beyond * (abs(at) if quantity in CURRENT_QUANTITIES else 1.0)


@given(case=cases())
def test_a_reading_beyond_its_trip_latches_after_its_debounce_and_stays(bms_target, case):
    rig = Rig(bms_target, case.chemistry, case.series)
    lim = rig.chem.protection.limits[case.quantity]
    fault_bit = 1 << FAULT_ID[QUANTITY_FAULT[case.quantity]]
    value = threshold_value(rig, case.quantity, case.beyond)
    for _ in range(5):  # settle: estimators initialised, nothing latched
        st_ = bms_target.step(DT_MS, rig.meas())
    assert st_.faults == 0, st_.faults
    steps_to_trip = math.ceil(lim.trip.debounce_ms / DT_MS)  # counted from the first sample
    extra = 2 if case.good_at is not None and case.good_at <= steps_to_trip else 0
    latched_at = None
    for k in range(steps_to_trip + extra + 3):
        good = case.good_at is not None and k == case.good_at
        st_ = bms_target.step(DT_MS, rig.meas() if good else rig.meas(case.quantity, case.where, value))
        if st_.faults & fault_bit and latched_at is None:
            latched_at = k
        if latched_at is not None:
            assert st_.ccl_a == 0.0
    assert latched_at is not None, f"{case.quantity} held at {value} never latched"
    # the leaky count: latched when the present samples less the good one reach the debounce
    assert steps_to_trip + extra - 1 <= latched_at <= steps_to_trip + extra, (
        latched_at,
        steps_to_trip,
        extra,
    )
    # a reset while the reading persists keeps the fault
    bms_target.command("reset")
    st_ = bms_target.step(DT_MS, rig.meas(case.quantity, case.where, value))
    assert st_.faults & fault_bit, "reset cleared a fault whose condition persists"


@given(case=cases())
def test_a_reading_inside_the_release_band_never_trips(bms_target, case):
    rig = Rig(bms_target, case.chemistry, case.series)
    lim = rig.chem.protection.limits[case.quantity]
    fault_bit = 1 << FAULT_ID[QUANTITY_FAULT[case.quantity]]
    scale = rig.cap_ah if case.quantity in CURRENT_QUANTITIES else 1.0
    sign = 1.0 if IS_MAX[case.quantity] else -1.0
    # just inside the trip threshold (by 1 % of the gap to the derate tier, at least 1 mV / 0.1 K)
    gap = abs(lim.trip.threshold - lim.derate.threshold) * scale
    value = lim.trip.threshold * scale - sign * max(0.01 * gap, 0.001 * scale if scale > 1 else 0.001)
    for _ in range(math.ceil(lim.trip.debounce_ms / DT_MS) + 10):
        st_ = bms_target.step(DT_MS, rig.meas(case.quantity, case.where, value))
        assert not st_.faults & fault_bit, f"{case.quantity} at {value} (inside its trip) latched"


class ClosedRig(Rig):
    """The same resting pack with its contactors closed (the bus follows the pack) and a
    hardware limit of 1C, so that the derates bind below the charge maps."""

    def __init__(self, target, chem_name: str, series: int) -> None:
        super().__init__(target, chem_name, series)
        self.scn.pack.hw_charge_max_a = self.cap_ah
        configure_for_a_new_run(target, firmware_config(self.chem, self.scn))

    def meas(self, quantity: str | None = None, where: int = 0, value: float = math.nan) -> Measurement:
        m = super().meas(quantity, where, value)
        m.bus_v = m.pack_v
        return m


@st.composite
def derate_cases(draw: st.DrawFn) -> tuple[str, int, int, float]:
    chem = draw(st.sampled_from(available()))
    series = draw(st.integers(4, 48))
    sensed = Scenario(series=series, parallel=4).sensed
    limits = load_chemistry(chem).protection.limits
    lim = limits["surface_temp_max_charge"]
    core = limits["core_temp_max_charge"].trip
    # inside the surface derate band, and with the core (which settles at the same
    # temperature) still inside the charge window
    top = min(lim.trip.threshold, core.threshold - core.hysteresis - 1.0)
    frac = draw(st.floats(0.0, 0.95))
    return (
        chem,
        series,
        draw(st.sampled_from(sensed)),
        lim.derate.threshold + frac * (top - lim.derate.threshold),
    )


@given(case=derate_cases())
def test_the_ccl_follows_a_temperature_derate_inside_its_band(bms_target, case):
    """A surface reading inside its derate band (below the trip): once the ramp has settled
    the CCL equals the smallest of its constraints as bms/sim/checks.py computes them from
    the chemistry (fast-charge and plating maps, the derates, the hardware) -- not above
    (unsafe), not below (a derate shaped wrong)."""
    from bms.sim.checks import Limits

    chem, series, sensor_cell, temp = case
    rig = ClosedRig(bms_target, chem, series)
    limits = Limits(rig.scn, rig.chem)
    bms_target.step(DT_MS, rig.meas())
    bms_target.command("close")
    st_ = None
    for _ in range(150):
        m = rig.meas("surface_temp_max_discharge", sensor_cell, temp)
        m.ambient_degc = temp  # a hot soak: coolant as warm as that cell, so the model agrees
        st_ = bms_target.step(DT_MS, m)
    assert st_.contactor_state == 2 and st_.faults == 0, (st_.contactor_state, st_.faults)
    bound, name = limits.ccl_bound(
        st_.soc[None],
        st_.core_temp_degc[None],
        np.array([st_.cell_v_max]),
        np.array([st_.core_temp_max_degc]),
        np.array([st_.temp_max_degc]),
        np.array([st_.temp_min_degc]),
        np.array([m.charger_max_a]),
    )
    assert st_.ccl_a == pytest.approx(bound[0], rel=1e-3, abs=1e-3), (st_.ccl_a, bound[0], name[0])


@given(chem=st.sampled_from(available()), series=st.integers(4, 48), frac=st.floats(0.0, 0.8))
def test_the_ccl_falls_at_once_when_a_constraint_does(bms_target, chem, series, frac):
    """P2 in the step a constraint drops: the charger announces a lower own limit (a
    derating cable, a shared power cabinet) and the CCL is at or below it in that very
    step -- the ramp limits increases only; a limit that fell slowly would be above one of
    its constraints meanwhile."""
    rig = ClosedRig(bms_target, chem, series)
    bms_target.step(DT_MS, rig.meas())
    bms_target.command("close")
    st_ = None
    for _ in range(150):  # ramped up to its settled value (the 1C hardware limit or a map)
        st_ = bms_target.step(DT_MS, rig.meas())
    assert st_.contactor_state == 2 and st_.faults == 0, (st_.contactor_state, st_.faults)
    before = float(st_.ccl_a)
    assert before > 0.2 * rig.cap_ah
    m = rig.meas()
    m.charger_max_a = frac * before
    st_ = bms_target.step(DT_MS, m)
    assert st_.ccl_a <= float(np.float32(m.charger_max_a)) + 1e-6, (st_.ccl_a, m.charger_max_a, before)


@given(
    chem=st.sampled_from(available()),
    series=st.integers(8, 48),
    hot_c=st.floats(30.0, 45.0),
    pick=st.integers(0, 100),
)
def test_the_core_estimate_follows_a_sensed_hot_spot(bms_target, chem, series, hot_c, pick):
    """One sensed cell's surface held at the ambient (coolant) temperature while the other
    sensors read colder, no current: with no heat inside, that cell's core estimate settles
    at its own sensor's reading (the observer uses each sensor for its own cell), within
    1 K after five core-surface time constants."""
    rig = Rig(bms_target, chem, series)
    sensed = rig.scn.sensed
    cell = sensed[pick % len(sensed)]
    el = rig.chem.cell.scaled(rig.scn.parallel)
    tau_s = el.thermal.r_core_surf_k_per_w * el.thermal.c_core_j_per_k
    dt_ms = 10_000
    st_ = None
    for _ in range(math.ceil(5 * tau_s / (dt_ms / 1000)) + 5):
        rig.t_ms += dt_ms - DT_MS
        m = rig.meas("surface_temp_max_discharge", cell, hot_c)
        m.ambient_degc = hot_c
        st_ = bms_target.step(dt_ms, m)
    assert abs(float(st_.core_temp_degc[cell]) - hot_c) < 1.0, (float(st_.core_temp_degc[cell]), hot_c)
