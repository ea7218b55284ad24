"""Balancing in the closed loop (bms.sim.loop, plant bleed resistors and sense lines): a
resting 12s1p pack whose cells start 3 % apart (1 sigma) converges, the SoC filter follows
the charge the bleeding takes, the lowest cell is never bled, and both stuck-switch faults
are latched within their bound with every safety property (P1-P9) holding."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest

from bms.balancing import BalancingSpec
from bms.chemistry import load_chemistry
from bms.plant.faults import Fault
from bms.plant.pack import Spread
from bms.sim.checks import check_run
from bms.sim.loop import ClosedLoop
from bms.sim.loop import run as run_scenario
from bms.sim.scenario import Scenario, load_scenario

REST = Scenario(
    name="rest-balance",
    series=12,
    parallel=1,
    soc_start=0.6,
    mode="cycles",
    cycles=1,
    rest_s=7000.0,  # the run is the first rest
    duration_s=1800.0,
    stop_when_complete=False,
    spread=Spread(soc=0.03, self_discharge_a=0.0001, self_discharge_spread_a=0.0001),
    balancing=BalancingSpec(mode="top"),
)


def run(scn: Scenario) -> tuple[ClosedLoop, object]:
    loop = ClosedLoop(scn)
    soc0 = loop.plant.soc.copy()
    while loop.step() is not None:
        pass
    return loop, soc0


@pytest.fixture(scope="module")
def balanced() -> tuple[ClosedLoop, np.ndarray]:
    return run(REST)


def test_the_spread_shrinks_by_what_the_bleed_resistors_took(balanced):
    loop, soc0 = balanced
    res = loop.result()
    s = res.summary
    assert s.soc_spread_start == pytest.approx(np.ptp(soc0), abs=1e-5)
    # each element lost its bleed charge (and its leak): the truth by the plant's own charge
    # count, and the bleed current by Ohm's law at the cells' voltages (~3.8 V / 33.2 ohm)
    p = loop.plant
    i_b = 3.85 / (p.bleed_ohm + 2 * p.sense_wire_ohm)
    assert p.bleed_ah.max() <= i_b * REST.duration_s / 3600 * 1.02
    drained = soc0 - p.soc
    assert np.allclose(drained, (p.bleed_ah + p.leak_a * REST.duration_s / 3600) / p.cap_ah, atol=2e-4)
    assert s.soc_spread_end < s.soc_spread_start - 0.5 * p.bleed_ah.max() / p.cap_ah.mean()
    # the energy the resistors burnt: V I_b t of each element, V ~ 3.8-3.9 V here
    v_mean = float(np.mean(p.v_term))
    assert s.balancing_energy_wh == pytest.approx(float(np.sum(p.bleed_ah)) * v_mean * 33 / 33.2, rel=0.03)


def test_the_lowest_cell_is_never_bled_and_the_filter_follows_the_bleed(balanced):
    loop, soc0 = balanced
    p = loop.plant
    lowest = int(np.argmin(soc0))
    # its switch closes only for the test conversions: 100 ms per minute of ~0.12 A
    assert p.bleed_ah[lowest] < 0.12 * 0.1 * (REST.duration_s / 60 + 1) / 3600
    bled = p.bleed_ah > 0.01
    assert bled.sum() >= 3
    est = loop.state.soc.astype(float)
    assert np.max(np.abs(est[bled] - p.soc[bled])) < 0.01
    assert check_run(loop.result(), load_chemistry(REST.chemistry)) == []


def test_without_balancing_the_spread_stays():
    loop, soc0 = run(replace(REST, duration_s=600.0, balancing=BalancingSpec(mode="off")))
    assert loop.plant.bleed_wh == 0.0
    assert np.ptp(loop.plant.soc) == pytest.approx(np.ptp(soc0), abs=2e-4)  # the leaks only


@pytest.mark.parametrize("kind", ["balancing_stuck_on", "balancing_stuck_off"])
def test_a_stuck_switch_is_found_in_the_loop(kind):
    scn = replace(
        REST,
        duration_s=400.0,
        balancing=BalancingSpec(mode="top", test_interval_ms=20_000, switch_debounce_ms=40_000),
        faults=(Fault(kind, 60.0, 2),),
    )
    loop, _ = run(scn)
    res = loop.result()
    (f,) = res.faults
    assert (f["name"], f["cell"], f["injected_kind"]) == ("balancing", 2, kind)
    assert f["detected_s"] - f["onset_s"] <= f["trip_time_s"] + scn.dt_ms / 1000
    assert check_run(res, load_chemistry(scn.chemistry)) == []


def test_an_injected_current_offset_widens_the_band_p9_judges_the_firmware_by():
    """A 3 A charge read through a +5 A offset is 2 A of discharge to the firmware: it is at
    rest and balances (found by the state machine). P9 judges the current the firmware could
    know: the sensor's error plus the injected offset from its injection on (not before)."""
    base = load_scenario("fastcharge-10-80")
    scn = replace(
        base, chemistry="lfp-graphite", series=24, parallel=5, ambient_c=25.0, start_temp_c=25.0,
        soc_start=0.56, duration_s=80.0, stop_when_complete=False,
        spread=replace(base.spread, soc=0.03), balancing=replace(base.balancing, mode="bottom"),
        charger=replace(base.charger, current_max_a=3.0), faults=(Fault("current_offset", 40.0, value=5.0),),
    )  # fmt: skip
    chem = load_chemistry(scn.chemistry)
    res = run_scenario(scn)
    mask = np.asarray(res.bal_mask, dtype=bool)
    t = np.arange(1, mask.shape[0] + 1) * scn.dt_ms / 1000
    assert not mask[(t > 5.0) & (t < 40.0)].any()  # charging at 3 A, read right: no bleeding
    assert mask[t > 41.0].any(axis=1).sum() >= 50  # read as rest (within the noise): it balances, >= 5 s
    assert [v for v in check_run(res, chem, unobservable=False) if v.prop == "P9-balancing"] == []
    blind = copy.copy(res)
    blind.injected = []
    assert any(v.prop == "P9-balancing" for v in check_run(blind, chem, unobservable=False))
