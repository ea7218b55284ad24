"""The safety monitor (bms/sim/checks.py) flags what it should: a clean run passes, and the
same run with one planted excursion in its log fails on the property that names it. The
charger-tolerance allowance of P1 is recomputed here from the scenario and the cell tables."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest

from bms.chemistry import load_chemistry
from bms.enums import FAULT_ID, ContactorState, Limiting, Status
from bms.plant.charger import ChargerSpec
from bms.plant.faults import Fault
from bms.sim.checks import check_run
from bms.sim.loop import run
from bms.sim.scenario import load_scenario
from tests.sim.tamper import tampered


@pytest.fixture(scope="module")
def clean():
    base = load_scenario("fastcharge-10-80")
    charger = replace(ChargerSpec(), regulation_gain=1.03)
    scn = replace(base, series=8, duration_s=240.0, charger=charger, stop_when_complete=False)
    chem = load_chemistry(scn.chemistry)
    res = run(scn)
    return res, chem


def props(res, chem) -> set[str]:
    return {v.prop for v in check_run(res, chem)}


def short_run(
    chemistry: str, pack: tuple[int, int], ambient_c: float, soc: float, duration_s: float, *faults: Fault
):
    """The fast-charge preset as a small pack (series, parallel) of `chemistry` at
    `ambient_c` with `faults` (the runs the state machine's findings are checked on), and
    its chemistry."""
    scn = replace(
        load_scenario("fastcharge-10-80"), chemistry=chemistry, series=pack[0], parallel=pack[1],
        ambient_c=ambient_c, start_temp_c=ambient_c, soc_start=soc, duration_s=duration_s,
        stop_when_complete=False, faults=faults,
    )  # fmt: skip
    return run(scn), load_chemistry(chemistry)


def test_a_clean_run_holds_every_property(clean):
    res, chem = clean
    assert props(res, chem) == set()


def test_a_cell_above_its_absolute_maximum_is_flagged(clean):
    res, chem = clean
    k = len(res.log["time_s"]) // 2

    def bump(v):
        v[k] = chem.abs_max.cell_v + 0.001

    assert "P1-envelope" in props(tampered(res, cell_v_true_max=bump), chem)


def test_the_charge_voltage_margin_includes_exactly_the_chargers_tolerance(clean):
    res, chem = clean
    scn = res.scenario
    i_chg = np.maximum(0.0, -res.log["current_a"])
    k = int(np.argmax(i_chg))
    assert i_chg[k] > 10.0
    cell = chem.cell
    r_el = float(np.max(np.asarray(cell.r0_ohm) + np.asarray(cell.r1_ohm) + np.asarray(cell.r2_ohm)))
    allowance = 0.010 + 0.03 * i_chg[k] * r_el / scn.parallel
    v_max = chem.protection.charge.cell_v_charge_max_v

    def inside(v):
        v[k] = v_max + 0.98 * allowance

    def outside(v):
        v[k] = v_max + 1.02 * allowance

    assert "P1-envelope" not in props(tampered(res, cell_v_true_max=inside), chem)
    assert "P1-envelope" in props(tampered(res, cell_v_true_max=outside), chem)


def test_a_ccl_above_the_hardware_limit_is_flagged(clean):
    res, chem = clean
    k = len(res.log["time_s"]) // 2

    def over(c):
        c[k] = res.scenario.pack.hw_charge_max_a * 1.01

    found = props(tampered(res, ccl_a=over), chem)
    assert found & {"P2-limit", "P6-outputs"}


def test_a_firmware_clock_that_stops_or_jumps_is_flagged(clean):
    res, chem = clean
    n = len(res.log["time_s"])
    assert np.array_equal(res.log["fw_time_ms"], np.arange(1, n + 1) * res.scenario.dt_ms)

    def stall(t):
        t[n // 2 :] -= res.scenario.dt_ms  # one step the clock did not count

    assert "P6-outputs" in props(tampered(res, fw_time_ms=stall), chem)


def test_a_discharge_limit_left_open_or_a_wrong_reason_with_a_fault_latched_is_flagged(clean):
    res, chem = clean
    n = len(res.log["time_s"])
    k = n // 2
    assert res.log["contactor_state"][k] == int(ContactorState.CLOSED) and res.log["dcl_a"][k] > 0

    def latch(f):
        f[k:] = 1 << FAULT_ID["cell_ov"]

    def zero(x):
        x[k:] = 0.0

    def fault_reason(x):
        x[k:] = int(Limiting.FAULT)

    # a latch with both limits closed for it: only the latch itself is new (P7 / P3 judge it)
    base = tampered(res, faults=latch, ccl_a=zero, dcl_a=zero, ccl_limit=fault_reason, dcl_limit=fault_reason)
    assert "P2-limit" not in props(base, chem)
    # the discharge limit left open, or either limit naming another reason
    open_dcl = tampered(base, dcl_a=lambda x: x.__setitem__(slice(k + 5, k + 6), 10.0))
    assert "P2-limit" in props(open_dcl, chem)
    for col in ("ccl_limit", "dcl_limit"):
        wrong = tampered(base, **{col: lambda x: x.__setitem__(slice(k + 5, k + 6), int(Limiting.MAP))})
        assert "P2-limit" in props(wrong, chem)


def test_a_limiting_reason_that_names_a_constraint_not_binding_is_flagged(clean):
    """The reason the firmware reports (ccl_limit) must be the term the CCL equals: the map
    when the map binds, never the hardware limit well above it. Recomputed from the chemistry's
    map at the reported estimates (bms/sim/ccl_bound.py), independent of the firmware."""
    res, chem = clean
    why = res.log["ccl_limit"]
    k = int(np.flatnonzero(why == int(Limiting.MAP))[len(np.flatnonzero(why == int(Limiting.MAP))) // 2])
    assert res.log["ccl_a"][k] < 0.9 * res.scenario.pack.hw_charge_max_a

    def hardware(x):
        x[k] = int(Limiting.HARDWARE)

    def cold(x):
        x[k] = int(Limiting.COLD)

    assert "P2-limit" in props(tampered(res, ccl_limit=hardware), chem)
    assert "P2-limit" in props(tampered(res, ccl_limit=cold), chem)  # at 25 C no cold derate


def test_a_charge_that_does_not_complete_at_its_target_is_flagged(clean):
    res, chem = clean
    target = chem.protection.charge.target_soc
    soc = res.log["soc_est_mean"]
    k = len(soc) // 2
    assert soc[k] < target and res.log["charge_complete"][k] == 0  # the clean run: mid-charge

    def at_target(x):
        x[k] = target + 1e-4

    def complete(x):
        x[k] = 1

    assert "P2-limit" in props(tampered(res, soc_est_mean=at_target), chem)  # ... and not complete
    assert "P2-limit" in props(tampered(res, charge_complete=complete), chem)  # below the resume SoC


def test_a_completed_charge_that_names_another_reason_is_flagged(clean):
    res, chem = clean
    target = chem.protection.charge.target_soc
    k = len(res.log["time_s"]) // 2

    def done(name):
        def f(x):
            x[k:] = {"soc": target + 1e-3, "complete": 1, "ccl": 0.0}[name]

        return f

    base = tampered(res, soc_est_mean=done("soc"), charge_complete=done("complete"), ccl_a=done("ccl"))
    said = [v for v in check_run(base, chem) if "COMPLETE expected" in v.detail]
    assert said and said[0].t_s == pytest.approx(res.log["time_s"][k])  # the log still names MAP

    def complete_reason(x):
        x[k:] = int(Limiting.COMPLETE)

    ok = tampered(base, ccl_limit=complete_reason)
    assert not [v for v in check_run(ok, chem) if "COMPLETE expected" in v.detail]


def test_a_fault_that_clears_without_a_reset_is_flagged(clean):
    res, chem = clean
    n = len(res.log["time_s"])

    def blip(f):
        f[n // 2 : n // 2 + 3] = 1 << 3

    assert "P7-latch" in props(tampered(res, faults=blip), chem)


def test_a_fault_behind_a_reading_the_firmware_condemned_is_answered_by_that_latch():
    """A short and a frozen reading on one cell at once (found by the state machine): the
    reading freezes at the shorted cell's voltage, the stuck check flags it before the
    short's deviation debounce has run and the firmware latches volt_stuck on that cell; the
    short, seen only through that reading, is never latched, and P3 counts it answered
    (bms.sim.checks._masked). The same latch on another cell answers nothing."""
    res, chem = short_run(
        "lfp-graphite",
        (13, 11),
        0.0,
        0.21,
        40.0,
        Fault("internal_short", 10.0, 0),
        Fault("stuck_voltage", 10.0, 0),
    )
    rows = {f["injected_kind"]: f for f in res.faults}
    assert rows["internal_short"]["detected_s"] is None
    stuck = rows["stuck_voltage"]
    assert stuck["name"] == "volt_stuck" and stuck["cell"] == 0
    deadline = rows["internal_short"]["onset_s"] + rows["internal_short"]["trip_time_s"]
    assert stuck["detected_s"] > deadline  # latched after the short's own deadline
    assert props(res, chem) == set()
    elsewhere = copy.copy(res)
    elsewhere.faults = [dict(f, cell=1) if f["name"] == "volt_stuck" else f for f in res.faults]
    assert "P3-detection" in props(elsewhere, chem)


def test_a_shorted_cells_heat_conducted_into_its_neighbour_is_exempt_from_p1():
    """A hard short in a sulfide cell at 40 C: the cell runs away and conducts its heat into
    its series neighbour, which passes the absolute maximum although the firmware opened the
    contactors (found by the state machine). P1 exempts the shorted cell and a neighbour past
    the maximum next to it while that is hotter; not a neighbour that is hotter than it."""
    res, chem = short_run("sulfide-assb", (11, 1), 40.0, 0.5, 110.0, Fault("internal_short", 10.0, 0))
    core = np.asarray(res.cells_true_core, dtype=float)
    assert core[:, 1].max() > chem.abs_max.core_temp_c  # the neighbour did pass it
    assert core[:, 2:].max() < chem.abs_max.core_temp_c
    assert "P1-envelope" not in props(res, chem)
    # the shorted cell no hotter than its neighbour: the neighbour's heat is its own
    cool = copy.copy(res)
    cool.cells_true_core = np.minimum(core, core[:, 1:2] - 1.0).copy()
    cool.cells_true_core[:, 1] = core[:, 1]
    assert "P1-envelope" in props(cool, chem)


def test_a_reset_may_clear_one_catch_of_a_persisting_short_while_another_stays():
    """A short read first as an open wire, then (the cell recovering past the open-wire
    level) as an undervoltage (found by the state machine): a reset that clears the open
    wire while the undervoltage stays latched leaves the short answered; one that leaves
    neither latched does not."""
    res, chem = short_run("lfp-graphite", (1, 1), 0.0, 0.43, 30.0, Fault("internal_short", 10.0, 0))
    ow, uv = 1 << FAULT_ID["open_wire"], 1 << FAULT_ID["cell_uv"]
    faults = np.asarray(res.log["faults"], dtype=np.int64)
    first = int(np.flatnonzero(faults != 0)[0])
    k = (first + len(faults)) // 2  # the reset's step, well after the latch

    def latched(keep: int):
        def fn(f):
            f[first:k] = ow | uv
            f[k:] = keep

        return fn

    def one_reset(r):
        r[k:] = r[k - 1] + 1

    assert "P7-latch" not in props(tampered(res, faults=latched(uv), resets=one_reset), chem)
    assert "P7-latch" in props(tampered(res, faults=latched(0), resets=one_reset), chem)


def test_a_latch_that_names_another_cell_than_the_injected_one_is_flagged():
    """Service reads the record's cell: a frozen reading on cell 3 latched as volt_stuck must
    name cell 3 (an open sense wire may name either cell that shares the wire)."""
    res, chem = short_run("nmc811-graphite", (8, 2), 25.0, 0.3, 30.0, Fault("stuck_voltage", 5.0, 3))
    (row,) = [f for f in res.faults if f["injected_kind"] == "stuck_voltage"]
    assert row["detected_s"] is not None and row["cell"] == 3 == row["injected_cell"]
    assert props(res, chem) == set()
    for wrong, flagged in ((2, True), (4, True), (3, False)):
        moved = copy.copy(res)
        moved.faults = [dict(f, cell=wrong) if f is row else f for f in res.faults]
        found = [v for v in check_run(moved, chem) if "names cell" in v.detail]
        assert bool(found) == flagged


@pytest.fixture(scope="module")
def pressed():
    """A pressed sulfide pack (24s4p, 60 C) charging with full contact, 40 s."""
    base = load_scenario("fault-pressure-loss")
    scn = replace(base, series=24, parallel=4, duration_s=40.0, faults=[], stop_when_complete=False)
    return run(scn), load_chemistry(scn.chemistry)


def test_a_pressed_run_holds_every_property(pressed):
    res, chem = pressed
    assert props(res, chem) == set()
    assert (res.log["ccl_a"] > 0).sum() > 100  # it charged: P11 had a CCL to judge


def test_a_charge_below_the_minimum_true_pressure_is_flagged(pressed):
    """P11(a): the lowest true module pressure planted below the charge trip by more than a
    load cell errs, the CCL left open (what a firmware that judged a stale or wrong reading
    would do)."""
    res, chem = pressed
    live = np.flatnonzero(res.log["ccl_a"] > 0)
    k = int(live[len(live) // 2])
    trip = chem.protection.limits["pressure_min_charge"].trip.threshold

    def low(p):
        p[k] = trip - 0.2

    found = [v for v in check_run(tampered(res, pressure_true_min_mpa=low), chem) if v.prop == "P11-pressure"]
    assert any("below the charge trip" in v.detail for v in found)

    # inside the reading's error of the trip it is not the firmware's to see: not flagged
    def near(p):
        p[k] = trip - 0.05

    found = [
        v
        for v in check_run(tampered(res, pressure_true_min_mpa=near), chem)
        if "below the charge" in v.detail
    ]
    assert not found


def test_a_ccl_above_the_ccd_cap_at_the_true_contact_is_flagged(pressed):
    """P11(b): the true pressure planted at half contact (1.0 MPa for contact 0.5 .. 1.5), the
    CCL as the firmware had it with full contact: above the cap the contact left allows."""
    res, chem = pressed
    sp = chem.stack_pressure
    live = np.flatnonzero(res.log["ccl_a"] > 0.5 * res.log["ccl_a"].max())
    k = int(live[len(live) // 2])
    half = 0.5 * (sp.contact_zero_mpa + sp.contact_full_mpa)

    def halve(p):
        p[k] = half

    found = [
        v for v in check_run(tampered(res, pressure_true_min_mpa=halve), chem) if v.prop == "P11-pressure"
    ]
    assert any("above the CCD cap at the true contact" in v.detail for v in found)


def test_a_thermal_request_against_its_band_is_flagged(clean):
    """P12: the heater on above its band, off below it; the cooling likewise; the
    preconditioning band while the firmware says a fast charge is announced."""
    res, chem = clean
    ch = chem.protection.charge
    k = len(res.log["time_s"]) // 2
    assert props(res, chem) == set()

    def at_k(value: float):
        def put(col):
            col[k] = value

        return put

    hot = at_k(ch.heater_off_above_c + 5.0)
    heat_on = at_k(1.0)

    found = check_run(tampered(res, temp_meas_min_c=hot, heater_on=heat_on), chem)
    assert any(v.prop == "P12-thermal" and "heater on above" in v.detail for v in found)

    cold = at_k(ch.heater_on_below_c - 5.0)
    heat_off = at_k(0.0)

    found = check_run(tampered(res, temp_meas_min_c=cold, heater_on=heat_off), chem)
    assert any(v.prop == "P12-thermal" and "heater off below" in v.detail for v in found)
    # the same cold reading inside the preconditioning band with the announcement flagged: the
    # band is the preconditioning one (above the parked heater's), so a heater left off is wrong too
    pre_on = ch.precondition_on_below_c
    assert pre_on is not None and pre_on > ch.heater_on_below_c

    warmish = at_k(0.5 * (ch.heater_on_below_c + pre_on))

    def announced(s):
        s[k] = int(s[k]) | int(Status.PRECONDITIONING)

    found = check_run(tampered(res, temp_meas_min_c=warmish, heater_on=heat_off, fw_status=announced), chem)
    assert any("(preconditioning)" in v.detail for v in found)
    found = check_run(tampered(res, temp_meas_min_c=warmish, heater_on=heat_off), chem)
    assert not any(v.prop == "P12-thermal" for v in found)  # the parked band: not below it

    too_hot = at_k(ch.cooling_on_above_c + 5.0)
    cool_off = at_k(0.0)

    found = check_run(tampered(res, core_temp_est_max_c=too_hot, cooling_on=cool_off), chem)
    assert any(v.prop == "P12-thermal" and "cooling off above" in v.detail for v in found)
