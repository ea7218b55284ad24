"""Vectorised bilinear lookup of a cell model's [temperature][soc] tables for many cells
at once (numpy; independent of the firmware's C interpolation)."""

from __future__ import annotations

import numpy as np

from bms.cells import CellModel

TABLES = ("ocv_v", "r0_ohm", "r1_ohm", "c1_f", "r2_ohm", "c2_f")
ENTROPIC = "docv_dt_v_per_k"  # the OCV's temperature coefficient: a table over SoC only


def _locate(bp: np.ndarray, inv: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segment index and weight of each x among the breakpoints bp (clamped at the ends)."""
    if len(bp) < 2:
        return np.zeros(x.shape, dtype=np.intp), np.zeros(x.shape)
    xc = np.minimum(np.maximum(x, bp[0]), bp[-1])
    i = np.searchsorted(bp, xc, side="right") - 1
    np.minimum(i, len(bp) - 2, out=i)
    return i, (xc - bp[i]) * inv[i]


class TableSet:
    """All six tables stacked, looked up together for a vector of (soc, T)."""

    def __init__(self, cell: CellModel) -> None:
        self.soc = np.asarray(cell.soc, dtype=float)
        self.temp = np.asarray(cell.temp_c, dtype=float)
        self.stack = np.stack([np.asarray(getattr(cell, n), dtype=float) for n in TABLES])  # (6, nT, nS)
        self.docv_dt = np.asarray(cell.docv_dt_v_per_k, dtype=float)
        self.ns, self.nt = len(self.soc), len(self.temp)

        self.inv_ds = 1.0 / np.diff(self.soc)
        self.inv_dt = 1.0 / np.diff(self.temp) if self.nt > 1 else np.zeros(1)
        self.flat = self.stack.reshape(len(TABLES), -1)
        self._corner = np.array([0, 1, self.ns, self.ns + 1])

    def lookup(self, soc: np.ndarray, temp_c: np.ndarray) -> np.ndarray:
        """(6, n) array: ocv, r0, r1, c1, r2, c2 at each (soc, T)."""
        i_s, w_s = _locate(self.soc, self.inv_ds, soc)
        flat = self.flat
        if self.nt < 2:
            lo = flat[:, i_s]
            return lo + (flat[:, i_s + 1] - lo) * w_s
        i_t, w_t = _locate(self.temp, self.inv_dt, temp_c)
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
        i_t, w_t = _locate(self.temp, self.inv_dt, np.array([temp_c]))
        if self.nt < 2:
            row = self.stack[0, 0]
        else:
            row = self.stack[0, i_t[0]] * (1 - w_t[0]) + self.stack[0, i_t[0] + 1] * w_t[0]
        return np.interp(ocv, row, self.soc)


class PatchLookup:
    """The same bilinear interpolation as TableSet.lookup, arranged for a per-step call on
    one pack (the plant's hot path): the tables in a chosen row order and, per patch (one
    temperature x SoC segment), the values at its lower-SoC corners and the differences to
    its upper-SoC corners precomputed in one row, so that a lookup is one gather and five
    array operations on contiguous (rows, cells) arrays. The differences are the very
    subtractions lookup() does on every call: both give the same numbers to the last bit."""

    def __init__(self, tables: TableSet, rows: tuple[str, ...]) -> None:
        """rows: names from TABLES, or ENTROPIC (the same at every temperature: its
        interpolation over T adds exactly zero)."""
        entropic = np.broadcast_to(tables.docv_dt, tables.stack.shape[1:])
        stack = np.stack([entropic if r == ENTROPIC else tables.stack[TABLES.index(r)] for r in rows])
        self.m = stack.shape[0]
        self.soc_bp, self.temp_bp = tables.soc, tables.temp
        self.inv_ds, self.inv_dt = tables.inv_ds, tables.inv_dt
        # searchsorted on the interior breakpoints is the clamped segment index itself
        self.soc_inner = tables.soc[1:-1]
        self.temp_inner = tables.temp[1:-1]
        self.n_seg = tables.ns - 1
        self.one_temp = tables.nt < 2
        # a SoC within [0, 1] needs no clamping when the table spans [0, 1]
        self.soc_spans_unit = bool(tables.soc[0] <= 0.0 and tables.soc[-1] >= 1.0)
        value = stack[:, :, :-1]  # (m, nT, nS-1)
        diff = stack[:, :, 1:] - value
        if self.one_temp:
            parts = [value[:, 0], diff[:, 0]]  # per segment: [value (m), difference (m)]
        else:
            # per patch i_t * (nS-1) + i_s: [value at the lower T row (m), at the upper (m),
            # difference at the lower T row (m), at the upper (m)]
            parts = [
                value[:, :-1].reshape(self.m, -1),
                value[:, 1:].reshape(self.m, -1),
                diff[:, :-1].reshape(self.m, -1),
                diff[:, 1:].reshape(self.m, -1),
            ]
        self.patch = np.ascontiguousarray(np.concatenate(parts).T)  # (patches, 2m or 4m)

    def __call__(self, soc: np.ndarray, temp_c: np.ndarray) -> np.ndarray:
        """(m, n): the rows at each (soc, T); soc within [0, 1]."""
        bp = self.soc_bp
        xs = soc if self.soc_spans_unit else np.minimum(np.maximum(soc, bp[0]), bp[-1])
        i_s = self.soc_inner.searchsorted(xs, side="right")
        w_s = (xs - bp[i_s]) * self.inv_ds[i_s]
        m = self.m
        if self.one_temp:
            g = self.patch.take(i_s, axis=0).T.copy()  # (2m, n)
            return g[:m] + g[m:] * w_s
        bp = self.temp_bp
        xt = np.minimum(np.maximum(temp_c, bp[0]), bp[-1])
        i_t = self.temp_inner.searchsorted(xt, side="right")
        w_t = (xt - bp[i_t]) * self.inv_dt[i_t]
        i_t *= self.n_seg
        i_t += i_s
        g = self.patch.take(i_t, axis=0).T.copy()  # (4m, n)
        lh = g[: 2 * m] + g[2 * m :] * w_s  # the lower and the upper T row
        lo = lh[:m]
        return lo + (lh[m:] - lo) * w_t
