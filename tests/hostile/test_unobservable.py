"""A fault the firmware cannot observe in a run counts against the run, in the property
checks and in the campaign verdict, instead of passing as '0 missed' (issue 16)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bms.campaign.report import fault_detection
from bms.campaign.rows import violation_text
from bms.campaign.verdict import Limits, judge
from bms.chemistry import load_chemistry
from bms.plant.faults import Fault
from bms.sim.checks import check_run
from bms.sim.loop import ClosedLoop, run
from bms.sim.scenario import load_scenario

BASE = replace(load_scenario("fault-current-offset"), series=8, parallel=4, duration_s=40.0)


def _run(close_at_s: float, at_s: float):
    scn = replace(BASE, close_at_s=close_at_s, faults=[Fault(kind="current_offset", at_s=at_s)])
    return scn, run(scn)


def test_an_offset_injected_with_the_contactors_closed_is_reported_unobservable():
    scn, res = _run(close_at_s=1.0, at_s=10.0)
    (f,) = res.faults
    assert f["injected_kind"] == "current_offset" and f["onset_s"] is None and f["detected_s"] is None
    v = [x for x in check_run(res, load_chemistry(scn.chemistry)) if x.prop == "P3-detection"]
    assert len(v) == 1 and "never became observable" in v[0].detail and "unobservable" in v[0].detail
    chem = load_chemistry(scn.chemistry)
    row = judge(res.summary, Limits(chem.abs_max.cell_v, chem.abs_max.core_temp_c), scn.dt_ms / 1000)
    assert row["violation"] and "unobservable" in row["violations"]
    assert row["faults_injected"][0]["outcome"] == "not_observable"
    assert "unobservable: current_offset injected at 10 s" in violation_text({**res.summary.to_dict(), **row})
    counts = fault_detection([{**res.summary.to_dict(), **row}])["current_offset"]
    assert counts["not_observable"] == 1 and counts["detected"] == counts["missed"] == 0


def test_the_same_offset_injected_at_rest_is_observable_and_caught():
    scn, res = _run(close_at_s=5.0, at_s=0.5)
    (f,) = res.faults
    assert f["onset_s"] == 0.5 and f["detected_s"] is not None
    assert float(f["detected_s"]) - 0.5 <= float(f["trip_time_s"]) + scn.dt_ms / 1000 + 1e-9
    assert [x for x in check_run(res, load_chemistry(scn.chemistry)) if x.prop == "P3-detection"] == []
    chem = load_chemistry(scn.chemistry)
    row = judge(res.summary, Limits(chem.abs_max.cell_v, chem.abs_max.core_temp_c), scn.dt_ms / 1000)
    assert "unobservable" not in row["violations"]


def test_a_precharge_begun_in_a_step_restarts_the_offsets_observable_interval():
    """An offset at rest, and a close request accepted just before the step in which another
    fault (an open thermistor) latches: the firmware judged that step's sample in a
    precharge (no zero-current check) and restarts its debounce, though the contactors are
    open again after the step. The offset's onset restarts with it (found by the state
    machine: a 'never detected' 0.1 s before the restarted debounce could end)."""
    scn = replace(
        BASE, close_at_s=1000.0,
        faults=[
            Fault(kind="current_offset", at_s=0.5),
            Fault(kind="ntc_open", at_s=0.5, cell=BASE.sensed[0]),
        ],
    )  # fmt: skip
    first = ClosedLoop(scn)
    while first.step() is not None and not first.state.faults:
        pass
    k_latch = first.steps  # the step (1-based) in which the first fault latched
    loop = ClosedLoop(scn)
    for _ in range(k_latch - 1):
        loop.step()
    assert loop.command("close") == 0  # accepted: nothing latched yet
    while loop.step() is not None:
        pass
    res = loop.result()
    rows = {f["injected_kind"]: f for f in res.faults}
    assert rows["ntc_open"]["detected_s"] == pytest.approx(k_latch * scn.dt_ms / 1000)
    offset = rows["current_offset"]
    # observable again from the step after the one judged in the precharge
    assert offset["onset_s"] == pytest.approx((k_latch + 1) * scn.dt_ms / 1000)
    assert offset["detected_s"] is not None
    assert float(offset["detected_s"]) - float(offset["onset_s"]) <= float(offset["trip_time_s"]) + 0.1 + 1e-9
    assert [x for x in check_run(res, load_chemistry(scn.chemistry)) if x.prop == "P3-detection"] == []


def test_a_charger_excess_is_judged_on_the_current_the_firmware_reads():
    """A current-sensor offset (+5 A) and then a charger that ignores a zero limit (a cold
    LFP pack): the offset hides the first 5 A of the excess from the firmware (found by the
    state machine). The excess's onset is where the reading shows it, later than without the
    offset, and the firmware latches within the trip time of it."""
    base = replace(
        load_scenario("fastcharge-10-80"), chemistry="lfp-graphite", series=1, parallel=15,
        ambient_c=0.0, start_temp_c=0.0, soc_start=0.05, duration_s=12.0, stop_when_complete=False,
    )  # fmt: skip
    onsets = []
    for faults in (
        [Fault(kind="charger_ignores_limit", at_s=6.3)],
        [Fault(kind="current_offset", at_s=6.1), Fault(kind="charger_ignores_limit", at_s=6.3)],
    ):
        scn = replace(base, faults=faults)
        res = run(scn)
        (row,) = [f for f in res.faults if f["injected_kind"] == "charger_ignores_limit"]
        assert row["detected_s"] is not None
        assert float(row["detected_s"]) - float(row["onset_s"]) <= float(row["trip_time_s"]) + 0.1 + 1e-9
        assert [v for v in check_run(res, load_chemistry(scn.chemistry), unobservable=False)
                if v.prop == "P3-detection"] == []  # fmt: skip
        onsets.append(float(row["onset_s"]))
    assert onsets[1] > onsets[0]
