"""Safety defects at the firmware's edges (issue 16, items 3-5): a drawn scenario whose
internal short looked detected late, the CAN layer's millisecond clock across its 2^32 wrap,
and implausible coolant-flow readings."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pytest

from bms._native import ffi, lib
from bms.chemistry import Chemistry, load_chemistry
from bms.enums import FAULT_ID
from bms.plant.faults import Fault
from bms.sim.checks import check_run
from bms.sim.configure import firmware_config
from bms.sim.loop import ClosedLoop, StepView
from bms.sim.run import build_scenario
from bms.sim.scenario import Scenario
from tests.rig import DT_MS, Rig

# ---------------------------------------------------------------- internal short (defect 3)

# `bms simulate --chemistry sulfide-assb --series 24 --soc-start 0.23 --soc-target 0.8
#  --ambient-c 25 --duration-s 900 --seed 614015 --fault internal_short:44.0:11`
ISSUE_OVERRIDES = dict(
    series=24, soc_start=0.23, soc_target=0.8, ambient_c=25.0, duration_s=900.0, seed=614015
)
SOC_EST_TOL = 0.03  # P5: the firmware's SoC estimate within 3 % of the truth


@dataclass
class ShortRun:
    scn: Scenario
    chem: Chemistry
    fault: dict[str, object]
    violations: list[str]
    t: np.ndarray
    i_mean: np.ndarray
    v_true: np.ndarray  # (steps, cells)
    soc_mean: np.ndarray
    core_mean: np.ndarray


def _run_short(short_ohm: float | None) -> ShortRun:
    scn = build_scenario("fastcharge-10-80", "sulfide-assb", ISSUE_OVERRIDES, ("internal_short:44.0:11",))
    if short_ohm is not None:
        scn = replace(scn, faults=[Fault("internal_short", 44.0, 11, short_ohm)])
    chem = load_chemistry(scn.chemistry)
    views: list[tuple[float, float, np.ndarray, float, float]] = []

    def monitor(v: StepView) -> None:
        soc, core = float(np.mean(v.soc_true)), float(np.mean(v.core_true_c))
        views.append((v.t_s, v.i_mean_a, v.v_true.copy(), soc, core))

    loop = ClosedLoop(scn, None, chem, monitor)
    while loop.step() is not None:
        pass
    res = loop.result()
    shorts = [f for f in res.faults if f["injected_kind"] == "internal_short"]
    assert len(shorts) == 1, res.faults
    return ShortRun(
        scn,
        chem,
        shorts[0],
        [str(v) for v in check_run(res, chem)],
        np.array([v[0] for v in views]),
        np.array([v[1] for v in views]),
        np.array([v[2] for v in views]),
        np.array([v[3] for v in views]),
        np.array([v[4] for v in views]),
    )


def _independent_onset(r: ShortRun, cell: int, at_s: float) -> float | None:
    """The first step at which the short is beyond what the firmware may allow, recomputed
    here from the plant's truth: the allowance as plausibility.c forms it, with the
    per-ampere coefficient read back from the configuration the firmware was given, the
    current at its largest reading (truth + 3 sigma sensor error), the OCV slope term at
    its steepest for a SoC estimate within P5's tolerance (the firmware's secant over its
    estimate +-0.02 can be no steeper than the steepest OCV segment in that band); then
    beyond it by the reading's 3-sigma error and one LSB."""
    scn, chem = r.scn, r.chem
    cfg = ffi.from_buffer("bms_config_t *", bytearray(firmware_config(chem, scn)))
    v_per_a = float(cfg.plaus.cell_dev_v_per_a)
    pl = chem.protection.plausibility
    se = scn.sensors
    cell_t = np.asarray(chem.cell.temp_c, dtype=float)
    soc_bp = np.asarray(chem.cell.soc, dtype=float)
    ocv_tab = np.asarray(chem.cell.ocv_v, dtype=float)  # [temperature][soc]
    for k in range(len(r.t)):
        if r.t[k] < at_s - 1e-9:
            continue
        # the OCV row at the mean core temperature (linear between the table's rows, clamped)
        row = np.array([np.interp(r.core_mean[k], cell_t, ocv_tab[:, j]) for j in range(len(soc_bp))])
        seg_slope = np.abs(np.diff(row) / np.diff(soc_bp))
        lo = r.soc_mean[k] - SOC_EST_TOL - 0.02
        hi = r.soc_mean[k] + SOC_EST_TOL + 0.02
        in_band = [s for j, s in enumerate(seg_slope) if soc_bp[j + 1] > lo and soc_bp[j] < hi]
        i_read = abs(r.i_mean[k]) + 3.0 * (
            se.current_gain_sigma * abs(r.i_mean[k]) + se.current_offset_sigma_a + se.current_noise_a
        )
        allow = pl.cell_dev_max_v + v_per_a * i_read + pl.cell_dev_soc_spread * max(in_band)
        v = r.v_true[k]
        dev = v[cell] - (v.sum() - v[cell]) / (len(v) - 1)
        err = 3.0 * (se.cell_v_noise_v + se.cell_v_offset_sigma_v + se.cell_v_gain_sigma * abs(v[cell]))
        if abs(dev) > allow + err + se.cell_v_lsb_v:
            return float(r.t[k])
    return None


@pytest.fixture(scope="module")
def issue_short() -> ShortRun:
    return _run_short(None)


def test_issue_short_scenario_has_no_late_detection(issue_short):
    """The issue's 0.02 ohm short: the firmware trips cell_deviation on cell 11 and P3 holds.
    It was reported 6.5 s late against an onset taken with R0 = the median of the whole
    R0 table (0.58 mohm per element for this sulfide cell) while the firmware is configured
    with the 25 C row's (0.71 mohm): the oracle's allowance was 5 mV tighter than the
    firmware's at 113 A, so it dated the onset to 390.7 s where the firmware's own rule
    (which it followed: measured deviation past its limit for the 2 s debounce) could not
    yet be sure to fire."""
    r = issue_short
    f = r.fault
    assert f["name"] == "cell_deviation" and f["cell"] == 11
    assert f["detected_s"] is not None and float(f["detected_s"]) >= 44.0
    assert not [v for v in r.violations if v.startswith("P3")], r.violations
    onset = _independent_onset(r, 11, 44.0)
    assert onset is not None
    assert f["onset_s"] == pytest.approx(onset, abs=1e-6)
    dt = r.scn.dt_ms / 1000.0
    assert float(f["detected_s"]) - onset <= float(f["trip_time_s"]) + dt + 1e-9


def test_hard_short_is_detected_within_the_trip_time_of_its_onset():
    """A 0.01 ohm short on the same pack: the deviation is beyond every allowance at once;
    the firmware must latch within cell_dev_debounce_ms + one step of that onset."""
    r = _run_short(0.01)
    f = r.fault
    onset = _independent_onset(r, 11, 44.0)
    assert onset is not None and onset < 50.0  # observable at once, not at the end of the run
    assert f["onset_s"] == pytest.approx(onset, abs=1e-6)
    assert f["name"] == "cell_deviation" and f["detected_s"] is not None
    det = float(f["detected_s"])
    dt = r.scn.dt_ms / 1000.0
    assert onset <= det <= onset + float(f["trip_time_s"]) + dt + 1e-9
    assert r.violations == [], r.violations


# ---------------------------------------------------- the firmware's clock wrap (defect 4)
WRAP = 1 << 32


def _trace(start_ms: int | None, fault: str) -> tuple[list[tuple[int, float, int, int]], int, int]:
    """A rig whose firmware clock (bms_t.time_ms) and sample time stamps start at start_ms
    (None: at 0 as initialised): settle, close, then `fault` (frozen samples: stale; no
    coolant flow: cooling) for 5 s. Returns per step (faults, ccl, contactor, status), the
    latched fault's record time and the clock at the end."""
    rig = Rig()
    if start_ms is not None:
        rig.fw.instance.time_ms = start_ms
        rig.sample_ms = start_ms
    rig.settle(10)
    rig.close()
    rig.settle(10, current_a=5.0)
    trace = []
    for _ in range(50):
        m = rig.nominal(5.0)
        if fault == "stale":
            m.freeze_sample = True
        else:
            m.flow_lpm = 0.0
        out = rig.step(m)
        trace.append((int(out.faults), float(out.ccl_a), int(out.contactor_state), int(out.status)))
    fid = FAULT_ID["stale" if fault == "stale" else "cooling"]
    return trace, int(rig.fw.instance.safety.record[fid].time_ms), int(rig.fw.instance.time_ms)


@pytest.mark.parametrize("fault", ["stale", "cooling"])
@pytest.mark.parametrize("start_ms", [WRAP - 1, WRAP - 1234, WRAP - 2650])
def test_stale_and_debounce_timing_is_unchanged_across_the_clock_wrap(fault, start_ms):
    """Every output of every step is the same as on a clock started at 0 (the sample stamps
    and the firmware clock wrap during the run); the fault latches after its configured
    time, and its record carries the wrapped clock."""
    ref, ref_rec, ref_end = _trace(None, fault)
    got, rec, end = _trace(start_ms, fault)
    assert got == ref
    pl = Rig().chem.protection.plausibility
    limit_ms = pl.stale_timeout_ms if fault == "stale" else pl.cooling_debounce_ms
    bit = 1 << FAULT_ID["stale" if fault == "stale" else "cooling"]
    first = next(k for k, row in enumerate(ref) if row[0] & bit)
    # the condition is present from step 0; the debounce arms there and counts from step 1
    assert first * DT_MS >= limit_ms > (first - 1) * DT_MS
    assert ref[first][1] == 0.0  # the CCL goes to 0 with the latch
    assert end == (start_ms + ref_end) % WRAP
    assert rec == (start_ms + ref_rec) % WRAP


# ---------------------------------------------------- coolant flow readings (defect 5)
PLAUS_FLOW_MAX_LPM = float(lib.BMS_PLAUS_FLOW_MAX_LPM)
FLOW_IMPLAUSIBLE = [-1.0, -0.01, math.inf, -math.inf, 1.0e6, 1000.5]


def _flow_run(flow: float, closed: bool, steps: int) -> tuple[Rig, list[tuple[int, float]]]:
    """A settled rig (contactors closed or open) fed `flow` l/min for `steps` steps."""
    rig = Rig()
    rig.settle(10)
    if closed:
        rig.close()
    trace = []
    for _ in range(steps):
        m = rig.nominal(5.0 if closed else 0.0)
        m.flow_lpm = flow
        out = rig.step(m)
        trace.append((int(out.faults), float(out.ccl_a)))
    return rig, trace


@pytest.mark.parametrize("closed", [True, False])
@pytest.mark.parametrize("flow", FLOW_IMPLAUSIBLE)
def test_an_implausible_flow_reading_latches_the_cooling_fault(flow, closed):
    """Negative, infinite or beyond-full-scale: never flow. The cooling fault latches after
    its debounce whether or not the pack is in use (it must not be closed on a meter that
    cannot show its cooling), its record holds the reading, the CCL is 0, a reset keeps it
    while the reading stays, and clears it once the meter reads a real flow."""
    pl = Rig().chem.protection.plausibility
    bit = 1 << FAULT_ID["cooling"]
    n = pl.cooling_debounce_ms // DT_MS + 3
    rig, trace = _flow_run(flow, closed, n)
    first = next((k for k, (faults, _) in enumerate(trace) if faults & bit), None)
    assert first is not None, trace
    assert first * DT_MS >= pl.cooling_debounce_ms > (first - 1) * DT_MS  # armed at step 0
    assert trace[first] == (bit, 0.0)  # the cooling fault alone, and no charge current
    rec = rig.fw.instance.safety.record[FAULT_ID["cooling"]]
    assert rec.value == float(np.float32(flow))  # the reading, as the firmware got it
    assert rig.fw.command("reset") == 0
    m = rig.nominal(0.0)
    m.flow_lpm = flow
    assert int(rig.step(m).faults) & bit  # still implausible: the latch stays
    m = rig.nominal(0.0)
    m.flow_lpm = 10.0
    rig.step(m)
    assert rig.fw.command("reset") == 0
    m = rig.nominal(0.0)
    assert not int(rig.step(m).faults) & bit


@pytest.mark.parametrize(
    ("flow", "closed", "latched"),
    [
        (math.nan, True, False),  # no flow sensor: nothing to judge
        (math.nan, False, False),
        (10.0, True, False),  # a running pump
        (0.0, True, True),  # a stopped pump while in use: cooling lost
        (0.0, False, False),  # ... but not judged at rest
        (PLAUS_FLOW_MAX_LPM, True, False),  # full scale is still a reading
    ],
)
def test_plausible_and_missing_flow_readings_keep_their_meaning(flow, closed, latched):
    pl = Rig().chem.protection.plausibility
    bit = 1 << FAULT_ID["cooling"]
    _, trace = _flow_run(flow, closed, pl.cooling_debounce_ms // DT_MS + 3)
    assert bool(trace[-1][0] & bit) is latched, trace[-1]
    assert all(f & ~bit == 0 for f, _ in trace)  # nothing else latches on these readings
