"""The equivalent circuit's resistances and time constants, identified by least squares on
any dynamic data: HPPC pulses, GITT steps, drive cycles (Plett, Battery Management Systems
Vol. II, ch. 2: the ESC model's dynamic identification, here with two RC branches).

For fixed time constants the model is linear in the resistances. Each resistance is a
piecewise-linear function of SoC (hat functions on a coarse grid), so one drive cycle that
sweeps the SoC range constrains all of it and a pulse constrains the hats around its SoC. The
resistances come from non-negative least squares with a weak second-difference penalty; the
two time constants, shared by one temperature, from an outer search."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize, nnls
from scipy.signal import lfilter

from bms.fit.ocv import hat_matrix

# Hats of the resistance functions: evenly over SoC (the tables' 24 breakpoints would leave
# most hats without data in a pulse test at 10 % steps).
N_HATS = 11
# A hat with less than this share of the largest hat's ampere-seconds is not identified: it
# takes the nearest identified hat's values (held, not extrapolated).
MIN_HAT_SUPPORT = 0.05
# Weight of the second-difference penalty relative to the median column norm: it smooths
# between hats without flattening what the data shows (an assumption, checked in the tests
# against known parameters).
SMOOTHING = 0.05
# The fast branch (charge transfer, double layer), s; at least two sampling intervals, or a
# branch faster than the log can resolve trades freely with R0.
TAU_BOUNDS_S = (0.5, 300.0)
MIN_TAU_SAMPLES = 2.0
TAU_RATIO_BOUNDS = (1.2, 200.0)  # the slow branch (diffusion) is slower by this factor
# Largest capacitance the fit writes: a decade inside the firmware's bound for one cell.
MAX_BRANCH_C_F = 1e8
TAU_GRID_POINTS = 8  # per time constant, log-spaced over the bounds
TAU_POLISH_STARTS = 3


@dataclass
class Window:
    """Rows from the end of one long rest to the end of the next, with current between."""

    file: str
    t: np.ndarray  # s, from the file's start
    dt: np.ndarray  # interval before each row over which its current flowed (0 at the first)
    i: np.ndarray
    v: np.ndarray
    soc: np.ndarray
    temp: np.ndarray
    ocv: np.ndarray | None = None  # OCV of each row on the fitted table
    # the file's current record from its start and this window's first row in it (what the
    # hysteresis state depends on: bms.fit.hysteresis), and that state once fitted
    hist: object = None
    i0: int = 0
    hyst_v: np.ndarray | None = None  # m0 s + m h of the fitted hysteresis, per row

    @property
    def label(self) -> str:
        return f"{self.file} {self.t[0]:.0f}-{self.t[-1]:.0f} s"

    @property
    def temp_c(self) -> float:
        loaded = np.abs(self.i) > 0.05 * np.max(np.abs(self.i))
        return float(np.median(self.temp[loaded]))


def recursion(a: np.ndarray, w: np.ndarray, x0: np.ndarray | float = 0.0) -> np.ndarray:
    """x[k] = a[k] x[k-1] + w[k] (x[-1] = x0) along axis 0; w may have columns. Runs of equal
    a (uniform sampling) go through scipy's IIR filter, so a 1 s log costs one call."""
    w2 = w.reshape(len(w), -1)
    out = np.empty_like(w2, dtype=float)
    x = np.broadcast_to(np.asarray(x0, dtype=float), (w2.shape[1],)).copy()
    change = np.flatnonzero(np.diff(a) != 0) + 1
    for lo, hi in zip(np.concatenate([[0], change]), np.concatenate([change, [len(a)]]), strict=True):
        ak = float(a[lo])
        y, _ = lfilter([1.0], [1.0, -ak], w2[lo:hi], axis=0, zi=(ak * x)[None, :])
        out[lo:hi] = y
        x = y[-1]
    return out.reshape(w.shape)


def rc_response(dt: np.ndarray, u: np.ndarray, tau_s: float) -> np.ndarray:
    """Voltage of RC branches with R = 1 ohm driven by the columns of u (exact ZOH: the
    current held over the interval before each row, as the firmware integrates)."""
    a = np.exp(-dt / tau_s)
    b = 1.0 - a
    x = recursion(a, u * (b[:, None] if u.ndim == 2 else b))
    # a decayed branch reaches subnormal floats, which make every later product ~100x slower
    x[np.abs(x) < 1e-30] = 0.0
    return x


@dataclass
class RcFit:
    tau1_s: float
    tau2_s: float
    hats: np.ndarray  # SoC of the hats
    r_ohm: np.ndarray  # [3, N_HATS]: R0, R1, R2 on the hats
    rms_v: list[float]  # per window
    # the extra columns' chosen parameter and coefficients (hysteresis: its rate; m, m0)
    extra_param: float = 0.0
    extra_coef: np.ndarray | None = None
    with_extra: RcFit | None = None  # the same fit with the extra columns (fit_rc's `extra`)


# Extra non-negative columns of the design for one value of an outer parameter (the
# hysteresis's rate: its columns -h and -s for m and m0), rows as the windows concatenated.
ExtraColumns = Callable[[float], np.ndarray]


def fit_rc(
    windows: list[Window], extra: ExtraColumns | None = None, params: np.ndarray | None = None
) -> RcFit:
    """R0/R1/R2 as functions of SoC and two time constants from the windows of one
    temperature (each window's `ocv` set). With `extra`, its columns join the design for the
    value of `params` that fits best (searched at the time constants found without them, then
    the time constants polished with it); that fit is returned as `with_extra` of the one
    without."""
    hats = np.linspace(0.0, 1.0, N_HATS)
    soc = np.concatenate([w.soc for w in windows])
    cur = np.concatenate([w.i for w in windows])
    dt = np.concatenate([w.dt for w in windows])
    y = np.concatenate([w.ocv - w.v for w in windows])  # type: ignore[operator]
    h = hat_matrix(soc, hats)
    support = np.abs(h * (cur * np.maximum(dt, 1.0))[:, None]).sum(axis=0)
    active = np.flatnonzero(support >= MIN_HAT_SUPPORT * support.max())
    u = h[:, active] * cur[:, None]  # the current each hat carries
    # RC states start at zero in every window (each begins after a long rest)
    starts = np.cumsum([0] + [len(w.t) for w in windows])[:-1]
    dt_w = dt.copy()
    dt_w[starts] = np.inf  # a = 0: the state restarts
    na = len(active)
    d2 = np.zeros((max(na - 2, 0), na))
    for k in range(na - 2):
        d2[k, k : k + 3] = (1.0, -2.0, 1.0)

    cols: np.ndarray | None = None  # the extra columns in force

    def design(tau1: float, tau2: float) -> np.ndarray:
        a = np.hstack([u, rc_response(dt_w, u, tau1), rc_response(dt_w, u, tau2)])
        return a if cols is None else np.hstack([a, cols])

    yy = float(y @ y)

    def solve(tau1: float, tau2: float) -> tuple[np.ndarray, float]:
        # NNLS on the Cholesky factor of the normal equations: the same minimiser as on the
        # design matrix, at the cost of one product instead of a QR of the tall matrix
        a = design(tau1, tau2)
        ata, aty = a.T @ a, a.T @ y
        ata[np.diag_indices_from(ata)] += 1e-12 * np.trace(ata)
        r = np.linalg.cholesky(ata).T
        lam = SMOOTHING * float(np.median(np.abs(np.diag(r[: 3 * na, : 3 * na]))))
        pen = np.kron(np.eye(3), d2) * lam
        if cols is not None:
            pen = np.hstack([pen, np.zeros((len(pen), cols.shape[1]))])
        z = np.linalg.solve(r.T, aty)
        x, _ = nnls(np.vstack([r, pen]), np.concatenate([z, np.zeros(len(pen))]))
        cost = float(x @ ata @ x - 2 * x @ aty + yy + np.sum((pen @ x) ** 2))
        return x, cost

    loaded = np.abs(cur) > 0.05 * np.max(np.abs(cur))
    tau_lo = max(TAU_BOUNDS_S[0], MIN_TAU_SAMPLES * float(np.median(dt[loaded & (dt > 0)])))

    def taus(z: np.ndarray) -> tuple[float, float]:
        t1 = float(np.clip(np.exp(z[0]), tau_lo, TAU_BOUNDS_S[1]))
        return t1, t1 * float(np.clip(np.exp(z[1]), *TAU_RATIO_BOUNDS))

    # the cost over the time constants has several valleys (one branch can stand in for the
    # other): a coarse log grid over the whole allowed range first, then a local polish
    # from the best few grid points
    grid1 = np.geomspace(tau_lo, TAU_BOUNDS_S[1], TAU_GRID_POINTS)
    ratios = np.geomspace(*TAU_RATIO_BOUNDS, TAU_GRID_POINTS)
    scored = sorted((solve(t1, t1 * q)[1], t1, q) for t1 in grid1 for q in ratios)
    best = None
    for _, t1, q in scored[:TAU_POLISH_STARTS]:
        sol = minimize(
            lambda z: solve(*taus(z))[1],
            np.log([t1, q]),
            method="Nelder-Mead",
            options={"xatol": 1e-3, "fatol": 1e-9, "maxiter": 200},
        )
        if best is None or sol.fun < best.fun:
            best = sol
    assert best is not None

    def result(tau1: float, tau2: float, x: np.ndarray) -> RcFit:
        r = np.zeros((3, N_HATS))
        for b in range(3):
            vals = x[b * na : (b + 1) * na]
            # hats without data hold the nearest identified value
            r[b] = np.interp(hats, hats[active], vals)
        res = design(tau1, tau2) @ x - y
        rms = [
            float(np.sqrt(np.mean(res[s : s + len(w.t)] ** 2))) for s, w in zip(starts, windows, strict=True)
        ]
        return RcFit(tau1, tau2, hats, r, rms)

    tau1, tau2 = taus(best.x)
    x, _ = solve(tau1, tau2)
    base = result(tau1, tau2, x)
    if extra is None or params is None or not len(params):
        return base
    scored_p = []
    for prm in params:
        cols = extra(float(prm))
        scored_p.append((solve(tau1, tau2)[1], float(prm)))
    _, base.extra_param = min(scored_p)
    cols = extra(base.extra_param)
    sol = minimize(
        lambda z: solve(*taus(z))[1],
        best.x,
        method="Nelder-Mead",
        options={"xatol": 1e-3, "fatol": 1e-9, "maxiter": 200},
    )
    tau1, tau2 = taus(sol.x)
    x, _ = solve(tau1, tau2)
    ext = result(tau1, tau2, x)
    ext.extra_param = base.extra_param
    ext.extra_coef = x[3 * na :]
    base.with_extra = ext
    return base


def on_grid(fit: RcFit, grid: np.ndarray) -> dict[str, np.ndarray]:
    """Table rows on the SoC breakpoints; a branch the data cannot see (NNLS puts it at zero)
    keeps a tenth of its typical size, so the tables stay smooth and R, C positive."""
    out = {}
    taus = (0.0, fit.tau1_s, fit.tau2_s)
    for b, name in enumerate(("r0_ohm", "r1_ohm", "r2_ohm")):
        r = np.interp(grid, fit.hats, fit.r_ohm[b])
        # and a branch at zero everywhere keeps C = tau / R within a cell's 1e9 F (bms.config_bounds)
        floor = max(0.1 * float(np.median(fit.r_ohm[b])), taus[b] / MAX_BRANCH_C_F, 1e-6)
        out[name] = np.maximum(r, floor)
    out["c1_f"] = fit.tau1_s / out["r1_ohm"]
    out["c2_f"] = fit.tau2_s / out["r2_ohm"]
    return out
