"""The two-node thermal model (core, surface) identified from the surface thermocouple.

A surface sensor sees the core only through the two-node dynamics: the surface trace fixes the
surface-to-ambient resistance (DC gain) and the slow time constant, not how that splits
between the heat capacity and the core-to-surface resistance; the fast pole (casing, ~10 s)
drowns in thermocouple noise. So two ratios are fixed from the literature and two quantities
are fitted, the total heat capacity bounded by what a cell of this capacity can weigh."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from bms.cells import CellModel, ThermalParams
from bms.fit import ocv
from bms.fit.ecm import recursion
from bms.fit.soc import FileSoc
from bms.fit.timeline import LONG_REST_S

# Ratios from the two-state model of a cylindrical cell identified by Lin et al., J. Power
# Sources 257 (2014) 1-11 (Cc 62.7 J/K, Cs 4.5 J/K, Rc 1.94 K/W, Ru 3.19 K/W under forced air).
CASING_HEAT_CAPACITY_SHARE = 0.067  # Cs / (Cc + Cs)
CORE_TO_AMBIENT_RESISTANCE_RATIO = 0.61  # Rcs / Rsa (a Biot number)
# Specific heat of a Li-ion cell, J/(kg K): 0.8-1.3 kJ/(kg K) over formats and chemistries
# (Drake et al., J. Power Sources 252 (2014) 298: 1.0-1.1 for 18650/26650; Bazinski & Wang,
# J. Electrochem. Soc. 162 (2015) A5036: LFP pouch 0.8-1.2). Specific energy, Wh/kg: 80
# (power LFP cells) to 300 (high-energy NMC/NCA 21700); LG M50: 18.2 Wh, 68 g -> 268.
CELL_SPECIFIC_HEAT_J_PER_KG_K = 1050.0
CELL_SPECIFIC_HEAT_RANGE = (800.0, 1300.0)
CELL_SPECIFIC_ENERGY_WH_PER_KG = 260.0
CELL_SPECIFIC_ENERGY_RANGE = (80.0, 300.0)
# Surface-to-ambient resistance: a bare 18650 in still air ~8-12 K/W, a large cell on a cold
# plate ~0.1 K/W (assumed bounds, wide).
R_SA_BOUNDS_K_PER_W = (0.05, 200.0)


def heat_capacity_guess(capacity_ah: float, v_nominal: float) -> float:
    mass_kg = capacity_ah * v_nominal / CELL_SPECIFIC_ENERGY_WH_PER_KG
    return mass_kg * CELL_SPECIFIC_HEAT_J_PER_KG_K


def heat_capacity_bounds(capacity_ah: float, v_nominal: float) -> tuple[float, float]:
    energy_wh = capacity_ah * v_nominal
    lo = energy_wh / CELL_SPECIFIC_ENERGY_RANGE[1] * CELL_SPECIFIC_HEAT_RANGE[0]
    hi = energy_wh / CELL_SPECIFIC_ENERGY_RANGE[0] * CELL_SPECIFIC_HEAT_RANGE[1]
    return lo, hi


def heat_w(
    current_a: np.ndarray,
    ocv_v: np.ndarray,
    cell_v: np.ndarray,
    docv_dt_v_per_k: np.ndarray,
    temp_c: np.ndarray,
) -> np.ndarray:
    """The heat the firmware's observer puts into the core (bms_thermal_heat_w, Bernardi et
    al., J. Electrochem. Soc. 132 (1985) 5): the irreversible I (OCV - V), never negative, plus
    the reversible -I T dOCV/dT, which cools a cell whose OCV falls with temperature while it
    charges. Without it a cell with a large entropic coefficient (PyBaMM's Mohtat2020: -0.5 to
    -1.9 mV/K) was fitted a surface-to-ambient resistance six times the true one."""
    irr = np.clip(current_a * (ocv_v - cell_v), 0.0, None)
    return irr - current_a * (temp_c + 273.15) * docv_dt_v_per_k


def params_of(ctot: float, rsa: float) -> ThermalParams:
    return ThermalParams(
        c_core_j_per_k=float(ctot * (1 - CASING_HEAT_CAPACITY_SHARE)),
        c_surf_j_per_k=float(ctot * CASING_HEAT_CAPACITY_SHARE),
        r_core_surf_k_per_w=float(rsa * CORE_TO_AMBIENT_RESISTANCE_RATIO),
        r_surf_amb_k_per_w=float(rsa),
    )


def simulate(
    p: ThermalParams, dt: np.ndarray, heat_w: np.ndarray, ambient_c: float, start_c: float
) -> np.ndarray:
    """Surface temperature of the two-node model (exact ZOH per row), in modal coordinates so
    each mode is a first-order recursion."""
    cc, cs = p.c_core_j_per_k, p.c_surf_j_per_k
    rcs, rsa = p.r_core_surf_k_per_w, p.r_surf_amb_k_per_w
    a = np.array([[-1 / (cc * rcs), 1 / (cc * rcs)], [1 / (cs * rcs), -(1 / rcs + 1 / rsa) / cs]])
    b = np.array([1 / cc, 0.0])  # heat into the core; temperatures relative to ambient
    lam, vec = np.linalg.eig(a)
    lam, vec = lam.real, vec.real
    vinv = np.linalg.inv(vec)
    bm = vinv @ b  # input gain per mode
    z0 = vinv @ np.array([start_c - ambient_c, start_c - ambient_c])
    out = np.zeros(len(dt))
    for m in range(2):
        ad = np.exp(lam[m] * dt)
        w = np.where(dt > 0, (ad - 1.0) / lam[m] * bm[m] * heat_w, 0.0)
        z = recursion(ad, w, z0[m])
        out += vec[1, m] * z
    return out + ambient_c


@dataclass
class ThermalFit:
    params: ThermalParams
    rms_c: float
    rel_sigma: tuple[float, float]  # 1-sigma of (total heat capacity, Rsa), relative


def thermal_fit(
    dt: np.ndarray, heat_w: np.ndarray, surf_c: np.ndarray, ambient_c: float, c_bounds: tuple[float, float]
) -> ThermalFit:
    """Total heat capacity and surface-to-ambient resistance from the surface trace; their
    uncertainty from the Jacobian at the optimum (residual variance times (J'J)^-1)."""

    def resid(x: np.ndarray) -> np.ndarray:
        p = params_of(*np.exp(x))
        return simulate(p, dt, heat_w, ambient_c, float(surf_c[0])) - surf_c

    lo = np.log([c_bounds[0], R_SA_BOUNDS_K_PER_W[0]])
    hi = np.log([c_bounds[1], R_SA_BOUNDS_K_PER_W[1]])
    x0 = np.clip(np.log([np.sqrt(c_bounds[0] * c_bounds[1]), 4.0]), lo + 1e-6, hi - 1e-6)
    sol = least_squares(resid, x0, bounds=(lo, hi))
    n = len(sol.fun)
    s2 = float(sol.fun @ sol.fun) / max(n - 2, 1)
    try:
        cov = s2 * np.linalg.inv(sol.jac.T @ sol.jac)
        sig = (float(np.sqrt(max(cov[0, 0], 0.0))), float(np.sqrt(max(cov[1, 1], 0.0))))
    except np.linalg.LinAlgError:
        sig = (float("inf"), float("inf"))
    return ThermalFit(params_of(*np.exp(sol.x)), float(np.sqrt(np.mean(sol.fun**2))), sig)


def fit_files(files: list[FileSoc], cell: CellModel, cap: float, lines: list[str]) -> ThermalParams:
    """Fit each file whose rests sit at one chamber temperature; the median of the fits."""
    v_nom = float(np.mean(cell.ocv_v))
    c_bounds = heat_capacity_bounds(cap, v_nom)
    fits = []
    for f in files:
        tl, s_arr = f.tl, f.soc
        assert s_arr is not None
        ok = np.isfinite(s_arr)
        rests = [s for s in f.segs if s.kind == "rest" and s.duration_s >= LONG_REST_S and ok[s.i1]]
        if not rests or not ok.any():
            continue
        amb = np.array([tl.temp[s.i1] for s in rests])
        if np.ptp(amb) > 3.0:
            lines.append(f"{tl.name}: thermal not fitted (rests span {np.ptp(amb):.1f} K: no one ambient)")
            continue
        rows = np.flatnonzero(ok)
        rows = rows[rows >= rows[0]]
        hs = ocv.hat_matrix(s_arr[rows], cell.soc)
        row = int(np.argmin(np.abs(cell.temp_c - float(np.median(amb)))))
        ocv_t = hs @ cell.ocv_v[row]
        heat = heat_w(tl.i[rows], ocv_t, tl.v[rows], hs @ cell.docv_dt_v_per_k, tl.temp[rows])
        if heat.max() <= 0 or np.ptp(tl.temp[rows]) < 0.5:
            continue
        dt = tl.dt_s[rows].copy()
        dt[0] = 0.0
        try:
            # the chamber: the median over every row of the long rests (a rest's last row is
            # biased by what the cell did before it: a warm cell is still cooling)
            rest_rows = np.concatenate([np.arange(s.i0, s.i1 + 1) for s in rests])
            tf = thermal_fit(dt, heat, tl.temp[rows], float(np.median(tl.temp[rest_rows])), c_bounds)
        except (ValueError, np.linalg.LinAlgError):
            continue
        fits.append(tf)
        p = tf.params
        lines.append(
            f"{tl.name}: thermal C {p.c_core_j_per_k + p.c_surf_j_per_k:.1f} J/K "
            f"(±{tf.rel_sigma[0]:.1%}), Rsa {p.r_surf_amb_k_per_w:.2f} K/W (±{tf.rel_sigma[1]:.1%}), "
            f"residual {tf.rms_c:.3f} K rms"
        )
    if not fits:
        ctot = heat_capacity_guess(cap, v_nom)
        lines.append("thermal: the temperature traces did not constrain the model; defaults used")
        return params_of(ctot, 4.0)
    return ThermalParams(
        c_core_j_per_k=float(np.median([x.params.c_core_j_per_k for x in fits])),
        c_surf_j_per_k=float(np.median([x.params.c_surf_j_per_k for x in fits])),
        r_core_surf_k_per_w=float(np.median([x.params.r_core_surf_k_per_w for x in fits])),
        r_surf_amb_k_per_w=float(np.median([x.params.r_surf_amb_k_per_w for x in fits])),
    )
