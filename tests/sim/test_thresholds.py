"""P10 (bms/sim/checks.py): a true value past the firmware's own trip threshold by more than
its sensing allows (for the core: what the observer cannot know), for longer than the trip's
debounce, is flagged unless a fault latched. A clean run passes; the same
run with one planted excursion fails on P10 exactly where the allowance and the debounce end.
The allowances are recomputed here from the SensorSpec and the scenario's spread; the
excursion timer and the lag against a brute-force loop and the analytic step response."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bms.chemistry import load_chemistry
from bms.plant.faults import Fault, Injection
from bms.plant.pack import Spread
from bms.sim import checks
from bms.sim.checks import check_run
from bms.sim.loop import run
from tests.sim.tamper import eight_cell_fastcharge, tampered


@pytest.fixture(scope="module")
def clean():
    """Eight cells of the fast-charge preset, four minutes, a thermal model off by 30 %."""
    scn = eight_cell_fastcharge(replace(Spread(), r_core_surf_scale=1.3, c_core_scale=0.7))
    chem = load_chemistry(scn.chemistry)
    return run(scn), chem


def p10(res, chem) -> list[str]:
    return [str(v) for v in check_run(res, chem, max_per_prop=50) if v.prop == "P10-threshold"]


def with_cells(res, **arrays):
    """A copy of the run whose per-cell arrays (cells_true_core, cells_est_core, ...) went
    through fn(array) (in place)."""
    r = copy.copy(res)
    for name, fn in arrays.items():
        a = np.array(getattr(res, name), dtype=float, copy=True)
        fn(a)
        setattr(r, name, a)
    return r


def afe_allowance(spec, at: float) -> float:
    """The largest true value whose reading can still be at `at`: the reading x g + o + n
    rounded, each error at 5 sigma against it (x (1 - 5 sg) - 5 so - 5 sn - lsb / 2 = at)."""
    x = (at + 5 * spec.cell_v_offset_sigma_v + 5 * spec.cell_v_noise_v + spec.cell_v_lsb_v / 2) / (
        1 - 5 * spec.cell_v_gain_sigma
    )
    return x - at


def test_the_clean_run_holds_p10(clean):
    res, chem = clean
    assert p10(res, chem) == []


def voltage_trip(res, chem, name: str):
    """A cell-voltage trip, its AFE allowance there and its debounce in steps."""
    trip = chem.protection.limits[name].trip
    return (
        trip,
        afe_allowance(res.scenario.sensors, trip.threshold),
        round(trip.debounce_ms / res.scenario.dt_ms),
    )


def hold(k0: int, steps: int, value: float):
    def fn(col):
        col[k0 : k0 + steps] = value

    return fn


def test_a_cell_voltage_past_trip_and_sensing_for_longer_than_the_debounce_is_flagged(clean):
    res, chem = clean
    trip, a, n_deb = voltage_trip(res, chem, "cell_v_max")
    k0 = len(res.log["time_s"]) // 2
    over, inside = trip.threshold + a + 0.0005, trip.threshold + a - 0.0005
    # past the allowance for the debounce + 3 steps: flagged, at the step past debounce + two
    late = p10(tampered(res, cell_v_true_max=hold(k0, n_deb + 4, over)), chem)
    assert late and "cell_v_max" in late[0], late
    assert f"t={res.log['time_s'][k0 + n_deb + 3]:.1f} s" in late[0], late
    # within the debounce + two steps: what the debounce allows
    assert p10(tampered(res, cell_v_true_max=hold(k0, n_deb + 3, over)), chem) == []
    # held as long just inside the allowance: a reading that may not show it
    assert p10(tampered(res, cell_v_true_max=hold(k0, n_deb + 20, inside)), chem) == []


def test_an_excursion_answered_by_a_latch_in_time_is_not_flagged(clean):
    res, chem = clean
    trip, a, n_deb = voltage_trip(res, chem, "cell_v_min")
    k0 = 100
    under = hold(k0, n_deb + 30, trip.threshold - a - 0.01)

    def latch(col):
        col[k0 + n_deb + 2 :] = 1

    assert p10(tampered(res, cell_v_true_min=under, faults=latch), chem) == []

    def late_latch(col):
        col[k0 + n_deb + 4 :] = 1

    assert len(p10(tampered(res, cell_v_true_min=under, faults=late_latch), chem)) == 1


def test_a_reset_restarts_the_debounce(clean):
    res, chem = clean
    trip, a, n_deb = voltage_trip(res, chem, "cell_v_max")
    k0 = 200
    over = hold(k0, 2 * n_deb + 4, trip.threshold + a + 0.01)

    def reset_midway(col):
        col[k0 + n_deb :] += 1

    def latch_until_reset(col):
        col[k0 + n_deb - 1 : k0 + n_deb] = 1

    # latched in time, cleared by a reset while the excursion goes on: the debounce starts again
    flagged = p10(tampered(res, cell_v_true_max=over, resets=reset_midway, faults=latch_until_reset), chem)
    t_flag = float(flagged[0].split("t=")[1].split(" s")[0])
    assert math.isclose(t_flag, res.log["time_s"][k0 + 2 * n_deb + 3], abs_tol=1e-6), flagged


@pytest.mark.parametrize("direction", ["charge", "discharge"])
def test_a_current_past_its_trip_and_the_shunts_error_is_flagged(clean, direction):
    res, chem = clean
    se = res.scenario.sensors
    name = f"{direction}_c_rate_max"
    trip = chem.protection.limits[name].trip
    thr = trip.threshold * chem.cell.capacity_ah * res.scenario.parallel
    # the reading x g + o + n against the trip, each at 5 sigma
    a = (thr + 5 * se.current_offset_sigma_a + 5 * se.current_noise_a) / (1 - 5 * se.current_gain_sigma) - thr
    sign = -1.0 if direction == "charge" else 1.0
    n_deb = round(trip.debounce_ms / res.scenario.dt_ms)
    k0 = 300
    over = p10(tampered(res, current_a=hold(k0, n_deb + 4, sign * (thr + a + 0.05))), chem)
    assert any(f"true {direction} current" in v for v in over), over
    inside = p10(tampered(res, current_a=hold(k0, n_deb + 40, sign * (thr + a - 0.05))), chem)
    assert not any("current" in v and "past its trip" in v for v in inside), inside


def test_a_true_core_past_its_trip_unanswered_is_flagged_even_where_the_estimate_saw_it(clean):
    res, chem = clean
    trip = chem.protection.limits["core_temp_max_discharge"].trip  # the higher: judged at worst
    k0, cell = 600, 4  # a cell with its own thermistor
    assert cell in res.scenario.sensed
    hot_c = trip.threshold + 10.0

    def core(a):
        a[k0:, cell] = hot_c + 0.5

    def surf(a):
        a[k0:, cell] = hot_c

    # the cell's surface and core past the trip from k0 on, the estimate as hot as the truth:
    # only the missing latch is wrong, flagged once the thermistor's lag has caught up
    flagged = p10(with_cells(res, cells_true_core=core, cells_est_core=core, cells_true_surf=surf), chem)
    assert flagged and f"cell {cell} true core" in flagged[0], flagged
    lag_s = res.scenario.sensors.temp_lag_s
    t_flag = float(flagged[0].split("t=")[1].split(" s")[0])
    # the allowance has the lag's share of the 10 K + 0.5 K step left: 10.5 K e^(-t/tau) < 10 K
    assert t_flag - res.log["time_s"][k0] < lag_s * 3, flagged
    assert t_flag - res.log["time_s"][k0] > trip.debounce_ms / 1000.0, flagged


def core_allowance(res, chem, v_allow: float) -> np.ndarray:
    r = checks._Run(
        res=res, chem=chem, scn=res.scenario, log=res.log, t=res.log["time_s"], n=len(res.log["time_s"]),
        lim=None, dt=res.scenario.dt_ms / 1000.0, ccl=res.log["ccl_a"], faults=res.log["faults"],
        contactor=res.log["contactor_state"], est_soc=np.asarray(res.cells_est_soc, dtype=float),
        est_core=np.asarray(res.cells_est_core, dtype=float), none_injected=None,
    )  # fmt: skip
    return checks._core_allowance(r, res.log["current_a"], v_allow)


def test_the_core_allowance_holds_the_model_mismatch_of_the_drawn_spread(clean):
    res, chem = clean
    core, surf = np.asarray(res.cells_true_core), np.asarray(res.cells_true_surf)
    rise = np.maximum(0.0, core - surf)
    assert rise.max() > 1.0  # the charge heats the cores well above their surfaces
    # with no current there is no hidden heat: what a 1.3x core-to-surface resistance (the
    # model's steady rise 1/1.3 of the truth) and a 0.7x core capacity (the early rise 0.7 of
    # the model's) add is the two shortfalls of the true rise, and nothing else
    still = tampered(res, current_a=lambda i: i.fill(0.0))
    same = replace(res.scenario, spread=replace(res.scenario.spread, r_core_surf_scale=1.0, c_core_scale=1.0))
    matched = core_allowance(replace_scenario(still, same), chem, 0.0)
    m = (1 - 1 / 1.3) + (1 - 0.7)
    np.testing.assert_allclose(core_allowance(still, chem, 0.0) - matched, m * rise, atol=1e-9)


def replace_scenario(res, scn):
    r = copy.copy(res)
    r.scenario = scn
    return r


def test_nothing_is_judged_after_a_sensing_fault_is_injected(clean):
    res, chem = clean
    trip = chem.protection.limits["cell_v_max"].trip
    k0 = 500
    over = hold(k0, 200, trip.threshold + 0.5)
    assert p10(tampered(res, cell_v_true_max=over), chem)
    r = copy.copy(res)
    at_s = float(res.log["time_s"][k0 - 1])
    r.injected = [*res.injected, Injection(Fault("ntc_open", at_s=at_s, cell=0), at_s=at_s, k=k0 - 1)]
    assert p10(tampered(r, cell_v_true_max=over), chem) == []


@settings(max_examples=200, deadline=None)
@given(
    beyond=st.lists(st.booleans(), min_size=1, max_size=60),
    resets=st.lists(st.booleans(), min_size=60, max_size=60),
)
def test_the_excursion_timer_matches_a_loop(beyond, resets):
    n = len(beyond)
    t = np.arange(1, n + 1) * 0.1
    b = np.array(beyond)
    rs = np.array(resets[:n])
    got = checks._excursion_s(b, t, rs)
    start = None
    for k in range(n):
        if not b[k]:
            start = None
            assert got[k] == 0.0
            continue
        if start is None or rs[k]:
            start = k
        assert math.isclose(got[k], t[k] - t[start], abs_tol=1e-12), (k, got[k], start)


def test_the_first_order_lag_is_the_analytic_step_response():
    dt, tau = 0.1, 7.0
    x = np.full((500, 2), 3.0)
    y = checks._first_order(x, dt, tau, np.zeros(2))
    t = np.arange(1, 501) * dt
    np.testing.assert_allclose(y[:, 0], 3.0 * (1 - np.exp(-t / tau)), rtol=1e-12)
