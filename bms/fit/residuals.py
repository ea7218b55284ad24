"""How well the fitted tables explain the data: each dynamic window simulated with the final
tables (looked up as the firmware does), the residual per file and per temperature, the worst
window named, and a warning over the stated bound."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bms.cells import CellModel
from bms.fit import ecm, ocv

# A window needs current above this share of the capacity (A per Ah) to say anything about R/C.
MIN_WINDOW_C_RATE = 0.05
# The residual's correlation time is read on a uniform grid of this step (s), over lags up to
# MAX_CORR_LAG_S: a model error that lasts longer than half an hour is an offset.
CORR_GRID_S = 1.0
MAX_CORR_LAG_S = 1800.0


@dataclass
class FitReport:
    cell: CellModel
    rms_mv: float
    rms_dynamic_mv: float
    lines: list[str]
    per_file_mv: dict[str, float] = field(default_factory=dict)
    per_temp_mv: dict[float, float] = field(default_factory=dict)
    worst: str = ""
    warnings: list[str] = field(default_factory=list)
    corr_s: float = 0.0  # integral time scale of the residual (see correlation_time_s)


def simulate_window(cell: CellModel, w: ecm.Window) -> np.ndarray:
    """Terminal voltage of the final tables over a window (bilinear in SoC and the measured
    temperature, as the firmware looks them up; RC states from zero after the rest)."""
    ns, nt = len(cell.soc), len(cell.temp_c)
    hs = ocv.hat_matrix(w.soc, cell.soc)
    ht = ocv.hat_matrix(w.temp, cell.temp_c) if nt > 1 else np.ones((len(w.soc), 1))

    def look(tab: np.ndarray) -> np.ndarray:
        return np.einsum("ks,ts,kt->k", hs, tab.reshape(nt, ns), ht)

    r0, r1, r2 = look(cell.r0_ohm), look(cell.r1_ohm), look(cell.r2_ohm)
    tau1, tau2 = r1 * look(cell.c1_f), r2 * look(cell.c2_f)
    dt = w.dt.copy()
    dt[0] = np.inf
    vm = look(cell.ocv_v) - r0 * w.i
    if w.hyst_v is not None:
        vm = vm + w.hyst_v  # the fitted hysteresis along the window (bms.fit.hysteresis)
    for r, tau in ((r1, tau1), (r2, tau2)):
        a = np.exp(-dt / tau)
        x = np.zeros(len(dt))
        prev = 0.0
        for k in range(len(dt)):  # time-varying R, tau: a plain loop
            prev = a[k] * prev + r[k] * (1.0 - a[k]) * w.i[k]
            x[k] = prev
        vm = vm - x
    return vm


def correlation_time_s(series: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Integral time scale of the residual, T = sum of its autocorrelation rho(k) dt from lag 0
    to the first lag where rho falls to zero (at most MAX_CORR_LAG_S): for a first-order
    Gauss-Markov error rho = exp(-t/T) and T is its correlation time. Each (t, r) series is
    put on a CORR_GRID_S grid; the autocorrelation pools every series (lag products summed
    within each, normalised by the pooled energy). The mean is kept: an offset the model
    carries through a window is the most correlated error of all."""
    n_lag = int(MAX_CORR_LAG_S / CORR_GRID_S)
    num = np.zeros(n_lag + 1)
    energy = 0.0
    for t, r in series:
        if len(t) < 2 or t[-1] - t[0] < 2 * CORR_GRID_S:
            continue
        g = np.interp(np.arange(t[0], t[-1], CORR_GRID_S), t, r)
        m = min(len(g) - 1, n_lag)
        f = np.fft.rfft(g, 2 * len(g))  # zero-padded: linear (not circular) correlation
        ac = np.fft.irfft(f * np.conj(f))[: m + 1]
        num[: m + 1] += ac
        energy += float(ac[0])
    if energy <= 0.0:
        return 0.0
    rho = num / energy
    neg = np.nonzero(rho <= 0.0)[0]
    end = int(neg[0]) if len(neg) else len(rho)
    # trapezoid from lag 0 to the last positive lag
    return float((np.sum(rho[:end]) - 0.5 * rho[0]) * CORR_GRID_S)


def residuals(
    cell: CellModel, windows: list[ecm.Window], temps: np.ndarray, bound_mv: float, lines: list[str]
) -> FitReport:
    """Residuals of the final tables over every window; warnings over `bound_mv` (appended
    to `lines` too)."""
    per_file: dict[str, list[np.ndarray]] = {}
    per_temp: dict[float, list[np.ndarray]] = {}
    worst, worst_rms = "", -1.0
    all_r, dyn_r = [], []
    series = []
    for w in windows:
        r = simulate_window(cell, w) - w.v
        series.append((w.t, r))
        rms = float(np.sqrt(np.mean(r**2)))
        if rms > worst_rms:
            worst, worst_rms = w.label, rms
        per_file.setdefault(w.file, []).append(r)
        per_temp.setdefault(float(temps[np.argmin(np.abs(temps - w.temp_c))]), []).append(r)
        all_r.append(r)
        dyn_r.append(r[np.abs(w.i) > MIN_WINDOW_C_RATE * cell.capacity_ah])

    def rms_mv(rs: list[np.ndarray]) -> float:
        x = np.concatenate(rs)
        return float(np.sqrt(np.mean(x**2))) * 1e3 if len(x) else 0.0

    pf = {k: rms_mv(v) for k, v in per_file.items()}
    pt = {k: rms_mv(v) for k, v in sorted(per_temp.items())}
    warnings = []
    for k, v in pf.items():
        lines.append(f"{k}: residual {v:.2f} mV rms over its dynamic windows")
        if v > bound_mv:
            warnings.append(f"{k}: fit residual {v:.1f} mV rms exceeds {bound_mv:g} mV")
    for k, v in pt.items():
        lines.append(f"{k:.1f} °C: residual {v:.2f} mV rms")
        if v > bound_mv:
            warnings.append(f"{k:.1f} °C: fit residual {v:.1f} mV rms exceeds {bound_mv:g} mV")
    lines.append(f"worst window: {worst} ({worst_rms * 1e3:.2f} mV rms)")
    corr = correlation_time_s(series)
    lines.append(f"residual correlation time: {corr:.0f} s")
    for w in warnings:
        lines.append(f"WARNING: {w}; worst window {worst}")
    return FitReport(cell, rms_mv(all_r), rms_mv(dyn_r), lines, pf, pt, worst, warnings, corr)
