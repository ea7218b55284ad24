"""Vectorised bilinear lookup of a cell model's [temperature][soc] tables for many cells
at once (numpy; independent of the firmware's C interpolation)."""

from __future__ import annotations

import numpy as np

from bms.cells import CellModel

TABLES = ("ocv_v", "r0_ohm", "r1_ohm", "c1_f", "r2_ohm", "c2_f")


class TableSet:
    """All six tables stacked, looked up together for a vector of (soc, T)."""

    def __init__(self, cell: CellModel) -> None:
        self.soc = np.asarray(cell.soc, dtype=float)
        self.temp = np.asarray(cell.temp_c, dtype=float)
        self.stack = np.stack([np.asarray(getattr(cell, n), dtype=float) for n in TABLES])  # (6, nT, nS)
        self.docv_dt = np.asarray(cell.docv_dt_v_per_k, dtype=float)
        # OCV slope per segment for each temperature row (for the inverse)
        self.ns, self.nt = len(self.soc), len(self.temp)

    def _locate(self, bp: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(bp) < 2:
            return np.zeros(x.shape, dtype=np.intp), np.zeros(x.shape)
        xc = np.clip(x, bp[0], bp[-1])
        i = np.clip(np.searchsorted(bp, xc, side="right") - 1, 0, len(bp) - 2)
        w = (xc - bp[i]) / (bp[i + 1] - bp[i])
        return i, w

    def lookup(self, soc: np.ndarray, temp_c: np.ndarray) -> np.ndarray:
        """(6, n) array: ocv, r0, r1, c1, r2, c2 at each (soc, T)."""
        i_s, w_s = self._locate(self.soc, soc)
        if self.nt < 2:
            row = self.stack[:, 0, :]
            return row[:, i_s] * (1.0 - w_s) + row[:, i_s + 1] * w_s
        i_t, w_t = self._locate(self.temp, temp_c)
        lo = self.stack[:, i_t, i_s] * (1.0 - w_s) + self.stack[:, i_t, i_s + 1] * w_s
        hi = self.stack[:, i_t + 1, i_s] * (1.0 - w_s) + self.stack[:, i_t + 1, i_s + 1] * w_s
        return lo + (hi - lo) * w_t

    def ocv(self, soc: np.ndarray, temp_c: np.ndarray) -> np.ndarray:
        return self.lookup(soc, temp_c)[0]

    def entropic(self, soc: np.ndarray) -> np.ndarray:
        return np.interp(soc, self.soc, self.docv_dt)

    def soc_from_ocv(self, ocv: np.ndarray, temp_c: float) -> np.ndarray:
        """Inverse of the OCV at one temperature (monotone tables)."""
        i_t, w_t = self._locate(self.temp, np.array([temp_c]))
        if self.nt < 2:
            row = self.stack[0, 0]
        else:
            row = self.stack[0, i_t[0]] * (1 - w_t[0]) + self.stack[0, i_t[0] + 1] * w_t[0]
        return np.interp(ocv, row, self.soc)
