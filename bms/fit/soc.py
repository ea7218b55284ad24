"""Where the state of charge is known in a set of lab files, and the capacity between.

SoC is anchored only where the data shows it, never by a step's position in a file:
- **full**: a piece that starts rested within `FULL_REST_TOL_V` of the highest rested voltage
  of all files, when that voltage lies within `FULL_TOP_TOL_V` of the charge cut-off (the
  highest voltage logged): labs start tests from a full CC-CV charge; or the end of a CV
  phase (the voltage held at the cut-off while the current tapered);
- **empty**: the end of a slow discharge (steady for `SLOW_SWEEP_S` or longer) at the lowest
  voltage logged.
The capacity is the charge from a full to an empty point (or, with a CV end, from empty to
full, times the coulombic efficiency). The coulombic efficiency is identified when both
directions were measured; otherwise 1.0 is assumed and said so. Between anchors the SoC is
counted in ampere-hours; the difference found at the next anchor is spread over the charge
throughput between them (counting drift, not a jump)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from bms.errors import LogFormatError
from bms.fit.timeline import Segment, Timeline, coulombs, segments

# A steady current this long is a slow OCV sweep (C/10 over 40 % of the capacity; C/20-C/30
# tests last 20-30 h).
SLOW_SWEEP_S = 4 * 3600.0
# A segment at one current this long is no pulse: its voltage extremes are cut-offs.
STEADY_S = 1800.0
# A rested full cell relaxes 10-30 mV below a 4.2 V cut-off (NCR18650PF here: 16-28 mV).
FULL_REST_TOL_V = 0.03
FULL_TOP_TOL_V = 0.05
# The end of a slow discharge within this of the lowest voltage logged is empty.
EMPTY_TOL_V = 0.03
# CV phase: within 10 mV of the cut-off, the current tapered to 30 % of the phase's largest.
CV_TOL_V = 0.01
CV_TAPER = 0.3
# A coulombic efficiency outside this range is a measurement problem, not the cell (Li-ion:
# 0.995-0.9999 per cycle, e.g. Smith et al., J. Electrochem. Soc. 158 (2011) A447).
CE_RANGE = (0.98, 1.0)


@dataclass
class Anchor:
    row: int
    soc: float
    how: str  # "full-rest", "cv-end", "empty", "ocv-rest"


@dataclass
class FileSoc:
    """One file's timeline, segments, anchors and (once aligned) SoC per row (nan: unknown)."""

    tl: Timeline
    segs: list[Segment]
    anchors: list[Anchor] = field(default_factory=list)
    soc: np.ndarray | None = None


@dataclass
class Alignment:
    files: list[FileSoc]
    capacity_ah: float
    coulombic_eff: float
    lines: list[str]


def _initial_rest_v(fs: FileSoc, piece: int) -> tuple[int, float] | None:
    """(last row, voltage) of the rest a piece starts with, if it starts with one."""
    rows = np.flatnonzero(fs.tl.piece == piece)
    first = int(rows[0])
    for s in fs.segs:
        if s.i0 <= first <= s.i1:
            if s.kind != "rest":
                return None
            end = min(s.i1, int(rows[-1]))
            return end, float(fs.tl.v[end])
    return None


def _cv_ends(fs: FileSoc, v_top: float) -> list[int]:
    """Last rows of charges that ended in a CV phase at the cut-off."""
    out = []
    segs = fs.segs
    j = 0
    while j < len(segs):
        if segs[j].kind != "chg":
            j += 1
            continue
        k = j
        while k + 1 < len(segs) and segs[k + 1].kind == "chg":
            k += 1
        a, b = segs[j].i0, segs[k].i1
        i, v = -fs.tl.i[a : b + 1], fs.tl.v[a : b + 1]
        tail = slice(int(0.7 * len(i)), len(i))
        if len(i) >= 5 and np.all(v[tail] >= v_top - CV_TOL_V) and i[-1] <= CV_TAPER * i.max():
            out.append(b)
        j = k + 1
    return out


def find_anchors(files: list[FileSoc]) -> tuple[float, float]:
    """Full and empty anchors of every file; returns (cut-off voltage, lowest voltage)."""
    # the cut-offs: the extreme voltages at rest or in steady segments of 30 min or more
    # (a 10 s pulse overshoots the charge cut-off; it is not where the cell is full)
    slow = [
        f.tl.v[s.i0 : s.i1 + 1] for f in files for s in f.segs if s.kind == "rest" or s.duration_s >= STEADY_S
    ]
    v_top = max(float(x.max()) for x in slow)
    v_low = min(float(x.min()) for x in slow)
    rests = []
    for f in files:
        for p in np.unique(f.tl.piece):
            r = _initial_rest_v(f, int(p))
            if r is not None:
                rests.append((f, *r))
    top_rest = max((v for _, _, v in rests), default=-np.inf)
    for f, row, v in rests:
        if top_rest >= v_top - FULL_TOP_TOL_V and v >= top_rest - FULL_REST_TOL_V:
            f.anchors.append(Anchor(row, 1.0, "full-rest"))
    for f in files:
        f.anchors += [Anchor(r, 1.0, "cv-end") for r in _cv_ends(f, v_top)]
        for s in f.segs:
            if s.kind == "dis" and s.duration_s >= SLOW_SWEEP_S and f.tl.v[s.i1] <= v_low + EMPTY_TOL_V:
                f.anchors.append(Anchor(s.i1, 0.0, "empty"))
        f.anchors.sort(key=lambda a: a.row)
    return v_top, v_low


def _capacity(files: list[FileSoc]) -> tuple[float, float, list[str]]:
    """Capacity (Ah) and coulombic efficiency from consecutive full/empty anchors of a piece."""
    dis, chg = [], []  # (Ah, temperature, file)
    for f in files:
        ah = coulombs(f.tl)
        for a, b in zip(f.anchors[:-1], f.anchors[1:], strict=True):
            if f.tl.piece[a.row] != f.tl.piece[b.row]:
                continue
            temp = float(np.median(f.tl.temp[a.row : b.row + 1]))
            q = float(ah[b.row] - ah[a.row])
            if a.soc == 1.0 and b.soc == 0.0 and q > 0:
                dis.append((q, temp, f.tl.name))
            elif a.soc == 0.0 and b.soc == 1.0 and q < 0:
                chg.append((-q, temp, f.tl.name))
    if not dis and not chg:
        raise LogFormatError(
            "no capacity measurement found: needs a slow discharge (steady for "
            f"{SLOW_SWEEP_S / 3600:.0f} h or more) from a full point (a rest near the charge "
            "cut-off voltage, or the end of a CV charge) to the lowest voltage, or a charge from "
            "there to the end of a CV phase"
        )

    def nearest_25(xs: list[tuple[float, float, str]]) -> tuple[float, float, str]:
        return min(xs, key=lambda x: abs(x[1] - 25.0))

    lines = []
    if dis:
        q, temp, name = nearest_25(dis)
        lines.append(f"capacity {q:.4f} Ah: slow discharge full -> empty in {name} at {temp:.1f} °C")
    if chg:
        qc, tc, namec = nearest_25(chg)
        if not dis:
            q = qc
            lines.append(f"capacity {q:.4f} Ah: charge empty -> CV end in {namec} at {tc:.1f} °C")
    eff = 1.0
    if dis and chg:
        eff = q / qc
        if not CE_RANGE[0] <= eff <= CE_RANGE[1]:
            lines.append(
                f"coulombic efficiency {eff:.4f} from discharge/charge capacities is outside "
                f"{CE_RANGE[0]}..{CE_RANGE[1]}: 1.0 used (check the current sensor's gain)"
            )
            eff = 1.0
        else:
            lines.append(f"coulombic efficiency {eff:.4f} (discharge / charge capacity)")
    else:
        lines.append(
            "coulombic efficiency: no charge between an empty point and a CV end was measured; 1.0 assumed"
        )
    return q, eff, lines


def count_soc(f: FileSoc, capacity_ah: float, eff: float) -> None:
    """SoC per row from the file's anchors (nan in pieces without one)."""
    ah = coulombs(f.tl, eff)
    soc = np.full(len(ah), np.nan)
    for p in np.unique(f.tl.piece):
        rows = np.flatnonzero(f.tl.piece == p)
        anc = [a for a in f.anchors if f.tl.piece[a.row] == p]
        if not anc:
            continue
        a0 = anc[0]
        s = a0.soc - (ah[rows] - ah[a0.row]) / capacity_ah
        # spread the counting error found at each later anchor over the throughput between
        through = np.cumsum(np.abs(f.tl.i[rows]) * f.tl.dt_s[rows])
        for a, b in itertools.pairwise(anc):
            ia, ib = np.searchsorted(rows, a.row), np.searchsorted(rows, b.row)
            err = b.soc - s[ib]
            span = through[ib] - through[ia]
            if span <= 0:
                continue
            frac = np.clip((through - through[ia]) / span, 0.0, 1.0)
            s = s + err * np.where(np.arange(len(rows)) > ia, frac, 0.0)
        soc[rows] = s
    f.soc = soc


def align(timelines: list[Timeline]) -> Alignment:
    files = [FileSoc(tl, segments(tl)) for tl in timelines]
    find_anchors(files)
    cap, eff, lines = _capacity(files)
    for f in files:
        count_soc(f, cap, eff)
    return Alignment(files, cap, eff, lines)


def anchor_by_ocv(
    f: FileSoc,
    ocv_inverse: Callable[[float, float], float],
    capacity_ah: float,
    eff: float,
    long_rest_s: float,
) -> bool:
    """Give a piece without anchors the SoC of its first long rest through the OCV curve
    (`ocv_inverse(v, temp_c) -> soc`). Returns whether any piece was anchored."""
    assert f.soc is not None
    done = False
    for p in np.unique(f.tl.piece):
        rows = np.flatnonzero(f.tl.piece == p)
        if np.isfinite(f.soc[rows]).any():
            continue
        for s in f.segs:
            if s.kind == "rest" and s.duration_s >= long_rest_s and f.tl.piece[s.i1] == p:
                soc = float(ocv_inverse(float(f.tl.v[s.i1]), float(f.tl.temp[s.i1])))
                f.anchors.append(Anchor(s.i1, soc, "ocv-rest"))
                done = True
                break
    if done:
        f.anchors.sort(key=lambda a: a.row)
        count_soc(f, capacity_ah, eff)
    return done
