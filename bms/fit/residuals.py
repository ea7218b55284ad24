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
    for r, tau in ((r1, tau1), (r2, tau2)):
        a = np.exp(-dt / tau)
        x = np.zeros(len(dt))
        prev = 0.0
        for k in range(len(dt)):  # time-varying R, tau: a plain loop
            prev = a[k] * prev + r[k] * (1.0 - a[k]) * w.i[k]
            x[k] = prev
        vm = vm - x
    return vm


def residuals(
    cell: CellModel, windows: list[ecm.Window], temps: np.ndarray, bound_mv: float, lines: list[str]
) -> FitReport:
    """Residuals of the final tables over every window; warnings over `bound_mv` (appended
    to `lines` too)."""
    per_file: dict[str, list[np.ndarray]] = {}
    per_temp: dict[float, list[np.ndarray]] = {}
    worst, worst_rms = "", -1.0
    all_r, dyn_r = [], []
    for w in windows:
        r = simulate_window(cell, w) - w.v
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
    for w in warnings:
        lines.append(f"WARNING: {w}; worst window {worst}")
    return FitReport(cell, rms_mv(all_r), rms_mv(dyn_r), lines, pf, pt, worst, warnings)
