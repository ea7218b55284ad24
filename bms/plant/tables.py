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

        self.inv_ds = 1.0 / np.diff(self.soc)
        self.inv_dt = 1.0 / np.diff(self.temp) if self.nt > 1 else np.zeros(1)
        self.flat = self.stack.reshape(len(TABLES), -1)
        self._corner = np.array([0, 1, self.ns, self.ns + 1])

    def _locate(self, bp: np.ndarray, inv: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(bp) < 2:
            return np.zeros(x.shape, dtype=np.intp), np.zeros(x.shape)
        xc = np.minimum(np.maximum(x, bp[0]), bp[-1])
        i = np.searchsorted(bp, xc, side="right") - 1
        np.minimum(i, len(bp) - 2, out=i)
        return i, (xc - bp[i]) * inv[i]

    def lookup(self, soc: np.ndarray, temp_c: np.ndarray) -> np.ndarray:
        """(6, n) array: ocv, r0, r1, c1, r2, c2 at each (soc, T)."""
        i_s, w_s = self._locate(self.soc, self.inv_ds, soc)
        flat = self.flat
        if self.nt < 2:
            lo = flat[:, i_s]
            return lo + (flat[:, i_s + 1] - lo) * w_s
        i_t, w_t = self._locate(self.temp, self.inv_dt, temp_c)
        base = i_t * self.ns + i_s
        # the four corners of every cell in one gather: (6, 4, n)
        c = flat[:, (base + self._corner[:, None]).ravel()].reshape(flat.shape[0], 4, -1)
        lo = c[:, 0] + (c[:, 1] - c[:, 0]) * w_s
        hi = c[:, 2] + (c[:, 3] - c[:, 2]) * w_s
        return lo + (hi - lo) * w_t

    def ocv(self, soc: np.ndarray, temp_c: np.ndarray) -> np.ndarray:
        return self.lookup(soc, temp_c)[0]

    def entropic(self, soc: np.ndarray) -> np.ndarray:
        return np.interp(soc, self.soc, self.docv_dt)

    def soc_from_ocv(self, ocv: np.ndarray, temp_c: float) -> np.ndarray:
        """Inverse of the OCV at one temperature (monotone tables)."""
        i_t, w_t = self._locate(self.temp, self.inv_dt, np.array([temp_c]))
        if self.nt < 2:
            row = self.stack[0, 0]
        else:
            row = self.stack[0, i_t[0]] * (1 - w_t[0]) + self.stack[0, i_t[0] + 1] * w_t[0]
        return np.interp(ocv, row, self.soc)
