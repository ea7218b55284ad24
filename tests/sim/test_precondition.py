"""Preconditioning (issue 18, part 3): the vehicle announces a fast charge ahead of its arrival
(Measurement.fast_charge_in_s), the firmware heats the pack to its chemistry's window
(charge.precondition_*), the charge starts warm. The announcement is checked against the
scenario's timeline, the heater energy against the logged heater requests, the effect against
the same pack arriving without notice."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from bms.chemistry import load_chemistry
from bms.errors import ConfigError
from bms.sim.checks import check_run
from bms.sim.loop import ClosedLoop
from bms.sim.run import build_scenario
from bms.sim.scenario import load_scenario, validate

ST_PRECONDITIONING = 0x0100  # bms.h BMS_ST_PRECONDITIONING
NOTICE_S = 1200.0  # the preset's (the acceptance: 20 minutes from 0 C)


def _small(notice_s: float):
    """The preset as a 12s20p pack, announced notice_s ahead of its arrival (none: it arrives
    at once, as `--precondition-s 0` makes it), an hour to charge."""
    base = load_scenario("precondition-cold")
    return replace(
        base, series=12, precondition_s=notice_s, close_at_s=notice_s + 1.0, duration_s=notice_s + 3601.0
    )


def _run(scn):
    seen: list[tuple[float, float, int, int]] = []  # t, fast_charge_in_s, status, charge_complete

    def monitor(v):
        seen.append((v.t_s, v.meas.fast_charge_in_s, int(v.state.status), int(v.state.charge_complete)))

    loop = ClosedLoop(scn, monitor=monitor)
    while loop.step() is not None:
        pass
    return loop, loop.result(), seen


@pytest.fixture(scope="module")
def announced():
    return _run(_small(NOTICE_S))


@pytest.fixture(scope="module")
def unannounced():
    return _run(_small(0.0))


def test_the_announcement_follows_the_timeline(announced):
    loop, _, seen = announced
    scn = loop.scn
    complete_t = next(t for t, _, _, done in seen if done)
    for t, lead, status, _ in seen:
        if t < scn.close_at_s - scn.precondition_s:
            assert math.isnan(lead) and not status & ST_PRECONDITIONING
        elif t < scn.close_at_s:
            assert lead == pytest.approx(scn.close_at_s - t, abs=1e-9)
        elif t <= complete_t:
            assert lead == 0.0
        if scn.close_at_s - scn.precondition_s <= t <= complete_t:
            assert status & ST_PRECONDITIONING
        elif t > complete_t + 1.0:
            assert math.isnan(lead) and not status & ST_PRECONDITIONING


def test_the_charge_starts_inside_the_window_and_the_heater_energy_is_its_requests(announced):
    loop, res, _ = announced
    s = res.summary
    ch = load_chemistry(loop.scn.chemistry).protection.charge
    assert s.charge_start_s == pytest.approx(loop.scn.close_at_s, abs=1.0)
    assert s.charge_start_core_min_c >= ch.precondition_on_below_c
    # the heater request of each step drives the plant over the next one, at the spec's power
    on = res.log["heater_on"].astype(bool)
    wh = on[:-1].sum() * loop.scn.cooling.heater_w * loop.dt_s / 3600.0
    assert s.heater_energy_wh == pytest.approx(wh, abs=0.1)
    assert s.heater_energy_wh > 100.0
    assert check_run(res, loop.chem) == []


def test_without_notice_the_pack_arrives_cold_and_charges_later(announced, unannounced):
    (la, ra, _), (lu, ru, seen_u) = announced, unannounced
    assert not any(status & ST_PRECONDITIONING for _, _, status, _ in seen_u)
    assert all(math.isnan(lead) for _, lead, _, _ in seen_u)
    sa, su = ra.summary, ru.summary
    ch = load_chemistry(lu.scn.chemistry).protection.charge
    assert su.charge_start_core_min_c < ch.precondition_on_below_c - 20.0

    def arrival_to_target(loop, s):
        return s.charge_start_s + s.time_to_target_s - loop.scn.close_at_s

    assert arrival_to_target(la, sa) < arrival_to_target(lu, su) - 300.0
    assert check_run(ru, lu.chem) == []


def test_a_notice_longer_than_the_wait_or_outside_a_charge_is_refused():
    scn = load_scenario("precondition-cold")
    with pytest.raises(ConfigError, match=r"scenario\.precondition_s.*within 0\.\.close_at_s"):
        validate(replace(scn, precondition_s=scn.close_at_s + 1.0))
    with pytest.raises(ConfigError, match=r"scenario\.precondition_s.*needs mode 'charge'"):
        validate(replace(scn, mode="cycles"))


def test_the_cli_notice_moves_the_arrival_and_keeps_the_charge_its_time():
    scn = load_scenario("precondition-cold")
    none = build_scenario("precondition-cold", None, {"precondition_s": 0.0}, ())
    assert (none.precondition_s, none.close_at_s) == (0.0, scn.close_at_s - scn.precondition_s)
    assert none.duration_s - none.close_at_s == scn.duration_s - scn.close_at_s
    longer = build_scenario("precondition-cold", None, {"precondition_s": 1800.0}, ())
    assert longer.close_at_s == pytest.approx(scn.close_at_s + 600.0)
    assert np.isclose(longer.duration_s - longer.close_at_s, scn.duration_s - scn.close_at_s)
