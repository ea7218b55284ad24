"""One lab file as a clean timeline: duplicate stamps merged, logging gaps found, segments of
rest / steady discharge / steady charge, and charge counted without integrating a gap.

Real cycler exports are irregular: several scripts in one file with days between them, rows
logged at 0.1 s during pulses and at 60-300 s between them, two rows on one stamp after a
rounding. Nothing here assumes a fixed sampling or a fixed order of the test steps."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bms.errors import LogFormatError
from bms.logs import StepEvidence, check_units, read_cell_log

# Two rows closer than this are one reading logged twice (cyclers stamp to 1 ms or coarser).
DUPLICATE_DT_S = 1e-3
# A logging gap: no row for this long, and 20 times the file's usual step. 600 s is longer than
# any logging period of a cycler test step we know (Arbin/Maccor/Neware logs at <= 300 s) - an
# assumption; the factor keeps a file logged at 60 s from calling every row a gap.
GAP_MIN_S = 600.0
GAP_FACTOR = 20.0
# Rest: |current| below 1 % of the file's 99.5th-percentile current (the rest of a cycler is
# exactly zero; the tolerance absorbs the current sensor's offset).
REST_SHARE = 0.01
# A rest this long has relaxed enough that its last voltage is an OCV point (NMC/NCA relax to
# within a few mV in 20-30 min at 25 degC: e.g. Barai et al., J. Power Sources 295 (2015) 99).
LONG_REST_S = 1200.0


@dataclass
class Segment:
    kind: str  # "rest", "dis", "chg"
    i0: int  # first row
    i1: int  # last row (inclusive)
    current_a: float
    duration_s: float
    ah: float  # charge moved (discharge > 0)


@dataclass
class Timeline:
    """One file after cleaning. `piece[k]`: rows joined by a logging gap with current on either
    side are different pieces (the charge moved in the gap is unknown); `dt_s[k]`: the interval
    before row k over which its current is held, 0 at a piece's start and across every gap."""

    path: str
    t: np.ndarray
    i: np.ndarray
    v: np.ndarray
    temp: np.ndarray
    dt_s: np.ndarray
    piece: np.ndarray
    n_duplicates: int
    n_gaps: int
    offset_a: float = 0.0

    @property
    def name(self) -> str:
        return Path(self.path).name


def _merge_duplicates(cols: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
    t = cols["time_s"]
    if len(t) < 2:
        return cols, 0
    new = np.concatenate([[True], np.diff(t) > DUPLICATE_DT_S])
    n_dup = int(np.sum(~new))
    if n_dup == 0:
        return cols, 0
    group = np.cumsum(new) - 1
    counts = np.bincount(group)
    out = {}
    for k, col in cols.items():
        if k == "time_s":
            out[k] = col[new]
        else:
            out[k] = np.bincount(group, weights=col) / counts
    return out, n_dup


def detect_segments(t: np.ndarray, current: np.ndarray, flow_dt_s: np.ndarray | None = None) -> list[Segment]:
    """Split a log into runs of rest / steady discharge / steady charge. A segment's duration
    is wall time (a rest across a logging gap lasts the gap); its charge uses `flow_dt_s`, the
    intervals over which current flowed (default: every interval)."""
    scale = float(np.percentile(np.abs(current), 99.5))
    if scale <= 0:
        raise LogFormatError("the current is zero everywhere: nothing to fit")
    rest_tol = REST_SHARE * scale
    dt_s = np.diff(t, prepend=t[0])
    if flow_dt_s is None:
        flow_dt_s = dt_s
    kind = np.where(np.abs(current) < rest_tol, 0, np.sign(current)).astype(int)
    # a new segment where the kind changes or, within one sign, the level steps by > 10 %
    starts = [0]
    ref_sum, ref_n = abs(float(current[0])), 1
    for k in range(1, len(t)):
        boundary = kind[k] != kind[starts[-1]]
        if not boundary and kind[k] != 0:
            ref = ref_sum / ref_n
            boundary = abs(abs(current[k]) - ref) > 0.1 * ref + rest_tol
        if boundary:
            starts.append(k)
            ref_sum, ref_n = 0.0, 0
        ref_sum += abs(float(current[k]))
        ref_n += 1
    segs: list[Segment] = []
    bounds = [*starts, len(t)]
    for a, b in itertools.pairwise(bounds):
        i1 = b - 1
        cur = current[a:b]
        # a segment lasts from the row before it (its current is held over the interval before
        # each row) to its last row
        dur = float(np.sum(dt_s[a:b]))
        ah = float(np.sum(cur * flow_dt_s[a:b]) / 3600.0)
        name = {0: "rest", 1: "dis", -1: "chg"}[int(kind[a])]
        segs.append(Segment(name, a, i1, float(cur.mean()), dur, ah))
    return segs


def read_timeline(path: str | Path) -> Timeline:
    """Read, check units and sign, merge duplicate stamps, find gaps and the current offset."""
    p = str(path)
    d = read_cell_log(path, repeats_ok=True)
    check_units(d, p)  # voltage and temperature; the current once the capacity is known
    cols = {k: d[k] for k in ("time_s", "current_a", "voltage_v", "temperature_c")}
    cols, n_dup = _merge_duplicates(cols)
    t, cur, v, temp = cols["time_s"], cols["current_a"], cols["voltage_v"], cols["temperature_c"]
    if len(t) < 10:
        raise LogFormatError(f"{p}: {len(t)} rows: too short to fit anything")
    step_a = 0.05 * float(np.percentile(np.abs(cur), 99.5))
    if step_a > 0:
        ev = StepEvidence(step_a=step_a)
        ev.feed(cols)
        ev.check(p)
    dt = np.diff(t, prepend=t[0])
    med = float(np.median(dt[1:]))
    gap = dt > max(GAP_MIN_S, GAP_FACTOR * med)
    gap[0] = False
    rest_tol = REST_SHARE * float(np.percentile(np.abs(cur), 99.5))
    # a gap between two resting rows is a long rest (the cell sat on the shelf); with current
    # on either side the charge moved in it is unknown: a new piece
    unknown = gap & ((np.abs(cur) >= rest_tol) | (np.abs(np.roll(cur, 1)) >= rest_tol))
    piece = np.cumsum(unknown)
    dt_s = np.where(gap, 0.0, dt)
    dt_s[0] = 0.0
    # a rested gap still counts as rest time, not as charge: keep its duration in the
    # segments (dt_s is the interval over which current flows)
    tl = Timeline(p, t, cur, v, temp, dt_s, piece, n_dup, int(gap.sum()))
    # the current sensor's offset: the median current over the long rests (true current 0)
    segs = detect_segments(t, cur, dt_s)
    long_rests = [s for s in segs if s.kind == "rest" and s.duration_s >= LONG_REST_S]
    if long_rests:
        rows = np.concatenate([np.arange(s.i0, s.i1 + 1) for s in long_rests])
        tl.offset_a = float(np.median(cur[rows]))
        tl.i = cur - tl.offset_a
    return tl


def segments(tl: Timeline) -> list[Segment]:
    """The file's segments; a rest's duration includes any gap it spans."""
    return detect_segments(tl.t, tl.i, tl.dt_s)


def coulombs(tl: Timeline, coulombic_eff: float = 1.0) -> np.ndarray:
    """Cumulative discharge in Ah (each row's current held over `dt_s`, none across a gap);
    charge counts `coulombic_eff` of its ampere-hours."""
    q = np.where(tl.i < 0, coulombic_eff * tl.i, tl.i) * tl.dt_s
    return np.cumsum(q) / 3600.0
