"""The precharge_open fault kind (bms/plant/faults.py): the precharge path opens, the link
cannot charge, the firmware's precharge times out and latches `precharge` (contactor.c,
bms.c stage_contactors) within the configured timeout of the precharge it meets; P3 judges it
and flags a firmware that does not latch."""

from __future__ import annotations

import numpy as np
import pytest

from bms.enums import FAULT_ID, ContactorState
from bms.plant.faults import Fault
from bms.sim.checks import check_run
from bms.sim.runlog import command_answer
from bms.sim.vehicle import PRECHARGE_ATTEMPTS
from tests.sim.tamper import planned_run, tampered

OPEN, PRE, CLOSED = int(ContactorState.OPEN), int(ContactorState.PRECHARGE), int(ContactorState.CLOSED)
BIT = 1 << FAULT_ID["precharge"]


@pytest.fixture(scope="module")
def blocked():
    return planned_run(20.0, {}, [Fault(kind="precharge_open", at_s=0.3)])


def test_the_precharge_times_out_and_latches_within_its_timeout(blocked):
    res, chem = blocked
    log = res.log
    s = log["contactor_state"].astype(int)
    timeout_s = chem.protection.contactor.precharge_timeout_ms / 1000.0
    started = int(np.flatnonzero(s == PRE)[0])
    latched = int(np.flatnonzero((log["faults"].astype(np.int64) & BIT) != 0)[0])
    # the link never reaches the ratio: nothing but the timeout ends the precharge
    ratio = chem.protection.contactor.precharge_ratio
    assert np.all(log["bus_v"][started : latched + 1] < ratio * log["pack_v_meas"][started : latched + 1])
    assert not np.any(s == CLOSED)
    assert s[latched] == OPEN and np.all(s[started:latched] == PRE)
    dt = res.scenario.dt_ms / 1000.0
    t = log["time_s"]
    assert t[latched] - t[started] == pytest.approx(timeout_s - dt, abs=1e-9)  # counted from the request
    (row,) = [f for f in res.faults if f["injected_kind"] == "precharge_open"]
    assert row["name"] == "precharge" and row["onset_s"] == pytest.approx(t[started])
    assert row["trip_time_s"] == pytest.approx(timeout_s)
    assert check_run(res, chem) == []


def test_a_firmware_that_does_not_latch_it_is_flagged(blocked):
    res, chem = blocked
    # the run's fault list is what the firmware latched and when: this one never
    no_latch = tampered(res)
    no_latch.faults = [
        dict(r, detected_s=None) if r["injected_kind"] == "precharge_open" else r for r in res.faults
    ]
    found = [v.detail for v in check_run(no_latch, chem) if v.prop == "P3-detection"]
    assert any("precharge_open (onset 1.0 s) never detected" in d for d in found), found


def test_the_vehicle_tries_the_precharge_three_times_then_gives_up(blocked):
    """bms.sim.vehicle: after a failed precharge (contactors open, never closed, the precharge
    fault the only one latched) the vehicle sends a fault reset and, the step after, a close,
    PRECHARGE_ATTEMPTS in all; the firmware accepts both (the reset acknowledges the failure,
    so the latch is gone and the close allowed), fails again at the timeout and latches again;
    after the third attempt nothing more is sent."""
    res, _ = blocked
    log = res.log
    s = log["contactor_state"].astype(int)
    bit = (log["faults"].astype(np.int64) & BIT) != 0
    ended = np.flatnonzero((np.roll(s, 1) == PRE) & (s == OPEN))
    assert len(ended) == PRECHARGE_ATTEMPTS
    assert list(np.flatnonzero(bit & ~np.roll(bit, 1))) == list(ended)  # each failure latches, only it
    # after each failure but the last: the reset at the next step, the close at the one after
    sent = np.flatnonzero(log["command_answers"])
    assert list(sent[1:]) == [int(k) + j for k in ended[:-1] for j in (1, 2)]
    answers = log["command_answers"][sent[1:]].reshape(-1, 2)
    assert np.all(answers == [command_answer("reset", 0), command_answer("close", 0)])
    assert not np.any(bit[sent[1::2]])  # each reset acknowledged the failure: the latch gone
    assert log["resets"][-1] == PRECHARGE_ATTEMPTS - 1
    assert bit[-1] and s[-1] == OPEN
