"""The OCV's voltage hysteresis from lab data (Plett, J. Power Sources 134 (2004) 277, sec.
3.3; Battery Management Systems Vol. I, 2015, sec. 2.7 and its ESC toolbox): the one-state
model h plus the instantaneous term s, v = ocv + m0 s + m h (native/include/bms/hysteresis.h).

For a rate gamma the state h along a file follows from its current alone, so m and m0 enter
the dynamic least squares as two more non-negative columns (bms.fit.ecm); gamma comes from a
search over a log grid, as in Plett's toolbox. The OCV the least squares works against must
be free of hysteresis: the relaxed rests the OCV table passes through are corrected by the
hysteresis they carried (a rest after a discharge lies m + m0 below the table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # ecm's Window holds a History: imported for the annotations only
    from bms.fit import ecm

# Rates searched: Plett's fits span O(1..1000) (a branch change over 100 % .. 0.1 % of the
# capacity); log-spaced, 3 per decade.
GAMMA_GRID = np.geomspace(3.0, 3000.0, 10)
# The fitted hysteresis is kept when it lowers the dynamic residual by this share against the
# tables without it (OCV through the relaxed rests), its band m + m0 is above the AFE's error
# (~2 mV, bms.cells.EstimatorParams) and its rate is inside the grid: otherwise the data cannot
# tell it from the polarisation and the table stays the whole rested voltage.
MIN_GAIN = 0.10
MIN_BAND_V = 0.002
# The firmware moves h only with a current beyond three sigmas of its sensor's noise and
# offset (bms.c); the fit mirrors it with the current noise `bms fit` writes, 1 % of 1C.
THRESHOLD_C = 0.03


@dataclass(eq=False)  # identity: one file's record, a key of States' cache
class History:
    """A file's current record (row-aligned): what h depends on, from the file's start."""

    i: np.ndarray
    dt: np.ndarray


def state(
    hist: History, cap_ah: float, eff: float, gamma: float, h0: float = 0.0, s0: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """h and s at every row of a file (after the row's current). Within a run of one current
    direction h follows the closed form towards +1 (charge) or -1 (discharge) in the charge
    moved, h = u + (h_start - u) exp(-gamma q); rows within the threshold move nothing."""
    i = hist.i
    moving = np.abs(i) > THRESHOLD_C * cap_ah
    u = np.where(moving, np.where(i < 0.0, 1.0, -1.0), 0.0)
    q = np.where(moving, np.abs(i) * np.where(i < 0.0, eff, 1.0) * hist.dt / (3600.0 * cap_ah), 0.0)
    h = np.empty(len(i))
    # s: the direction of the last moving row (forward fill)
    idx = np.where(moving, np.arange(len(i)), -1)
    last = np.maximum.accumulate(idx)
    s = np.where(last >= 0, u[np.maximum(last, 0)], s0)
    # runs: a new one where the direction in force (s) changes (rest rows join the run they
    # sit in: their q is 0)
    starts = np.flatnonzero(np.diff(s, prepend=np.nan) != 0)
    h_now = h0
    for a, b in zip(starts, np.append(starts[1:], len(i)), strict=True):
        d = s[a]
        if d == 0.0:
            h[a:b] = h_now
            continue
        qc = np.cumsum(q[a:b])
        h[a:b] = d + (h_now - d) * np.exp(-gamma * qc)
        h_now = float(h[b - 1])
    return h, s


@dataclass
class HystFit:
    gamma: float
    m_v: float
    m0_v: float
    gain: float  # the dynamic residual's relative reduction against the tables without it
    at_edge: bool = False  # the rate at an end of GAMMA_GRID: the data does not fix it

    @property
    def band_v(self) -> float:
        return self.m_v + self.m0_v

    @property
    def kept(self) -> bool:
        return self.gain >= MIN_GAIN and self.band_v >= MIN_BAND_V and not self.at_edge


class States:
    """h and s along each file for a rate, computed once per (file, rate)."""

    def __init__(self, cap_ah: float, eff: float) -> None:
        self.cap_ah, self.eff = cap_ah, eff
        self._cache: dict[tuple[History, float], tuple[np.ndarray, np.ndarray]] = {}

    def of(self, hist: History, gamma: float) -> tuple[np.ndarray, np.ndarray]:
        key = (hist, gamma)
        if key not in self._cache:
            self._cache[key] = state(hist, self.cap_ah, self.eff, gamma)
        return self._cache[key]

    def at(self, hist: History, row: int, gamma: float) -> tuple[float, float]:
        h, s = self.of(hist, gamma)
        return float(h[row]), float(s[row])

    def along(self, w: ecm.Window, gamma: float) -> tuple[np.ndarray, np.ndarray]:
        """h and s over one window's rows."""
        assert isinstance(w.hist, History)
        h, s = self.of(w.hist, gamma)
        sl = slice(w.i0, w.i0 + len(w.t))
        return h[sl], s[sl]

    def columns(self, windows: list[ecm.Window], gamma: float) -> np.ndarray:
        """The design's columns for m and m0 (-h, -s: the data's ocv - v falls by m h + m0 s)
        over the windows concatenated (bms.fit.ecm.fit_rc)."""
        return np.vstack([-np.column_stack(self.along(w, gamma)) for w in windows])

    def voltage(self, w: ecm.Window, gamma: float, m_v: float, m0_v: float) -> np.ndarray:
        """m0 s + m h along a window."""
        h, s = self.along(w, gamma)
        return m0_v * s + m_v * h
