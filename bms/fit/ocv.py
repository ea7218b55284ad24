"""The open-circuit voltage table: from slow sweeps (one or both directions, each over the
part of the SoC range it covered) pulled through relaxed rest voltages (true OCV points), on
SoC breakpoints placed where the curve bends."""

from __future__ import annotations

import numpy as np

# SoC breakpoints of the tables: their number (the firmware's BMS_MAX_SOC_PTS) and the share
# of them spread evenly; the rest follow the OCV curve's bends.
N_SOC_BREAKPOINTS = 24
UNIFORM_SHARE = 0.5
MIN_BREAKPOINT_GAP = 0.004
DENSE = np.linspace(0.0, 1.0, 2001)

Branch = tuple[np.ndarray, np.ndarray]  # (soc, voltage) of one sweep


def _branch_on(grid: np.ndarray, br: Branch | None) -> np.ndarray:
    if br is None:
        return np.full(len(grid), np.nan)
    s, v = br
    order = np.argsort(s)
    return np.interp(grid, s[order], v[order], left=np.nan, right=np.nan)


def ocv_from_sweeps(
    dis: Branch | None, chg: Branch | None, anchors: list[tuple[float, float]], grid: np.ndarray
) -> tuple[np.ndarray, tuple[float, float]]:
    """OCV on `grid` from the sweeps, corrected through the rest anchors (soc, ocv).

    Where both branches exist their mean (the overpotentials and the hysteresis roughly cancel);
    where one is missing (a CC-only charge stops short of full) that one plus the half-gap at
    the edge of the common range; beyond both, flat."""
    od, oc = _branch_on(grid, dis), _branch_on(grid, chg)
    both = ~np.isnan(od) & ~np.isnan(oc)
    if both.any():
        mean = np.where(both, 0.5 * (od + oc), np.nan)
        half = 0.5 * (oc - od)
        j_lo, j_hi = np.argmax(both), len(grid) - 1 - np.argmax(both[::-1])
        for j in np.flatnonzero(~both):
            h = half[j_lo] if j < j_lo else half[j_hi]
            if not np.isnan(od[j]):
                mean[j] = od[j] + h
            elif not np.isnan(oc[j]):
                mean[j] = oc[j] - h
    else:
        mean = np.where(np.isnan(od), oc, od)
    ok = ~np.isnan(mean)
    covered = grid[ok]
    mean = np.interp(grid, covered, mean[ok])
    if anchors:
        a = np.array(sorted(anchors))
        corr = a[:, 1] - np.interp(a[:, 0], grid, mean)
        mean = mean + np.interp(grid, a[:, 0], corr)
    return mean, (float(covered[0]), float(covered[-1]))


def hat_matrix(x: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Rows: linear-interpolation weights of each x on the grid (clamped)."""
    h = np.zeros((len(x), len(grid)))
    xc = np.clip(x, grid[0], grid[-1])
    j = np.clip(np.searchsorted(grid, xc, side="right") - 1, 0, len(grid) - 2)
    w = (xc - grid[j]) / (grid[j + 1] - grid[j])
    h[np.arange(len(x)), j] = 1.0 - w
    h[np.arange(len(x)), j + 1] = w
    return h


def ocv_table(
    dis: Branch | None, chg: Branch | None, anchors: list[tuple[float, float]], grid: np.ndarray
) -> tuple[np.ndarray, tuple[float, float]]:
    """OCV breakpoint values whose linear interpolation best follows the sweep-derived curve
    and passes (nearly) through the relaxed rest points, which are true OCV."""
    curve, cover = ocv_from_sweeps(dis, chg, anchors, DENSE)
    rows = [hat_matrix(DENSE, grid)]
    rhs = [curve]
    if anchors:
        a = np.array(sorted(anchors))
        inside = (a[:, 0] >= grid[0]) & (a[:, 0] <= grid[-1])
        weight = 20.0 * np.sqrt(len(DENSE) / max(len(grid), 1))
        rows.append(weight * hat_matrix(a[inside, 0], grid))
        rhs.append(weight * a[inside, 1])
    values, *_ = np.linalg.lstsq(np.vstack(rows), np.concatenate(rhs), rcond=None)
    return make_monotone(values), cover


def shifted_table(ref_ocv: np.ndarray, grid: np.ndarray, anchors: list[tuple[float, float]]) -> np.ndarray:
    """A temperature without sweeps: the reference curve moved through that temperature's
    relaxed rest points (the difference interpolated in SoC, held beyond the outermost)."""
    if not anchors:
        return ref_ocv.copy()
    a = np.array(sorted(anchors))
    corr = a[:, 1] - np.interp(a[:, 0], grid, ref_ocv)
    return make_monotone(ref_ocv + np.interp(grid, a[:, 0], corr))


def make_monotone(v: np.ndarray, min_step_v: float = 2e-4) -> np.ndarray:
    """Strictly increasing copy (the firmware requires it for OCV inversion)."""
    out = np.array(v, dtype=float)
    for j in range(1, len(out)):
        if out[j] < out[j - 1] + min_step_v:
            out[j] = out[j - 1] + min_step_v
    return out


def choose_breakpoints(soc: np.ndarray, ocv: np.ndarray, n: int = N_SOC_BREAKPOINTS) -> np.ndarray:
    """SoC breakpoints for a piecewise-linear OCV: knot density ~ sqrt(|OCV''|), the
    asymptotically best placement for linear interpolation (de Boor, A Practical Guide to
    Splines, ch. XII), blended with an even spread for the resistance tables."""
    from scipy.signal import savgol_filter

    d2 = np.abs(savgol_filter(ocv, window_length=41, polyorder=3, deriv=2, delta=float(soc[1] - soc[0])))
    w = np.sqrt(d2)
    w = w / max(float(np.mean(w)), 1e-12)
    density = UNIFORM_SHARE + (1.0 - UNIFORM_SHARE) * w
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(soc))])
    knots = np.interp(np.linspace(0.0, cum[-1], n), cum, soc)
    knots[0], knots[-1] = 0.0, 1.0
    for k in range(1, n):  # keep a minimum gap (float32 tables, tiny segments)
        knots[k] = max(knots[k], knots[k - 1] + MIN_BREAKPOINT_GAP)
    return np.minimum(knots, 1.0 - (n - 1 - np.arange(n)) * MIN_BREAKPOINT_GAP)
