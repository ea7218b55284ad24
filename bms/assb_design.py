"""The sulfide Li-metal cell at another cathode areal capacity, derived term by term from the
shipped cell `bms/data/cells/assb-nmc811-lps-agc.toml` by the layer physics its header states
(issue 18): what `sulfide-assb-thin` ships (1.0 mAh/cm2, written by `python -m
tests.tools.assb_thin`) and what the claim explorer (`bms explore`) sweeps.

The design change: the cathode's areal capacity q instead of 3.0 mAh/cm2 (the cell keeps its
5.0 Ah, so its electrode area scales by 3.0 / q). What that does, term by term (the base's
header gives each term's source):
- separator ionic resistance: the same 1.5 ohm cm2 (30 um Li6PS5Cl at 2 mS/cm) over 3 / q times
  the area;
- composite-cathode ionic path L/(3 sigma_eff): the cathode q / 3 as thick, q / 3 of the
  ohm cm2, over 3 / q times the area: (q / 3)^2;
- cathode charge transfer: the particle surface per cm2 scales with the thickness, so per cell
  it is the same surface: unchanged;
- solid diffusion in the NMC particles (R1/C1, R2/C2): the same particles, the same total
  volume: unchanged;
- both ionic terms follow the base's Arrhenius (0.35 eV = 33.8 kJ/mol), so the variant's R0 is
  the base's R0 less (or plus) the ionic part it saves at each temperature: R0 - (R_ion,base -
  R_ion,q) x exp(Ea/R (1/T - 1/298.15));
- thermal: per cm2 the same layers (the base's thicknesses and densities, the cathode q / 3),
  3 / q times the area; the pouch and tabs (the surface node) unchanged; the stack as many unit
  cells more, each thinner: core-to-surface L/(12 k A) in proportion to the stack's thickness;
  the faces the same (surface-to-ambient unchanged);
- the estimator's heat noise R0 I_1C^2 (as `bms fit` sets it) with the new R0.
The Li-metal anode's critical current density is a current density: per C-rate a cell of
areal capacity q tolerates 3.0 / q times the base's (`ccd_c_rate_scale`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from bms.cells import load_cell
from bms.errors import ConfigError

CELLS = Path(str(resources.files("bms") / "data" / "cells"))
BASE = CELLS / "assb-nmc811-lps-agc.toml"

R_GAS = 8.314  # J/(mol K)
EA_ION_J = 33.8e3  # the base's Li6PS5Cl activation (0.35 eV)
Q_BASE = 3.0  # mAh/cm2, the base cell's cathode areal capacity
Q_MIN, Q_MAX = 0.25, 6.0  # the range derived here (mAh/cm2): thinner or thicker is not this cell
CAP_AH = 5.0
SEP_OHM_CM2 = 1.5  # 30 um / 2 mS/cm, the base's
COMPOSITE_OHM_CM2 = 14.6  # the base's 52.6 um composite path at 25 C
# layers per cm2 of cathode (the base's header): thickness um, density g/cm3, cp J/gK
CATHODE_UM = 52.6
CATHODE_G_CM3 = 0.6 * 4.75 + 0.3 * 1.87  # 60 vol% NMC811, 30 vol% Li6PS5Cl
SOLID_CP = 0.75
LAYERS = (  # name, um, g/cm3, J/gK (cathode, Li: per areal capacity, below)
    ("separator", 30.0, 1.87, SOLID_CP),
    ("Ag-C", 10.0, 1.5, SOLID_CP),
    ("Al", 6.0, 2.70, 0.90),
    ("Cu", 5.0, 8.96, 0.385),
)
LI_UM_PER_MAH = 4.85  # um of Li per mAh/cm2 (the base's, from 3860 mAh/g, 0.534 g/cm3)
LI_MAH_PER_G, LI_CP = 3860.0, 3.58
POUCH_SHARE = 0.10  # pouch and tabs: +10 % of the base's stack mass (the base's header)


def per_cm2(q_mah: float) -> tuple[float, float, float]:
    """(g, J/K, um) of one unit cell per cm2 at areal capacity q_mah."""
    cath_um = CATHODE_UM * q_mah / Q_BASE
    g = cath_um * 1e-4 * CATHODE_G_CM3
    j = g * SOLID_CP
    um = cath_um
    for _, t_um, rho, cp in LAYERS:
        g += t_um * 1e-4 * rho
        j += t_um * 1e-4 * rho * cp
        um += t_um
    li_g = q_mah / LI_MAH_PER_G
    return g + li_g, j + li_g * LI_CP, um + LI_UM_PER_MAH * q_mah


def r_ion_ohm(q_mah: float) -> float:
    area = CAP_AH * 1e3 / q_mah
    return (SEP_OHM_CM2 + COMPOSITE_OHM_CM2 * q_mah / Q_BASE) / area


def ccd_c_rate_scale(q_mah: float) -> float:
    """The C-rate a critical current density allows at areal capacity q, per the base's."""
    return Q_BASE / q_mah


def derive(
    q_mah: float, base_ref: str = BASE.name, generator: str = "`python -m tests.tools.assb_thin`"
) -> str:
    """The cell file (TOML text, `base =` base_ref: the shipped cell, as a path from where
    the file is written) of the base cell at cathode areal capacity q_mah."""
    if not Q_MIN <= q_mah <= Q_MAX:
        raise ConfigError(f"areal capacity {q_mah:g} mAh/cm2: must be within [{Q_MIN:g}, {Q_MAX:g}]")
    Q_THIN = q_mah  # the derivation's symbol
    base = load_cell(BASE)
    temp_k = np.asarray(base.temp_c) + 273.15
    arr = np.exp(EA_ION_J / R_GAS * (1.0 / temp_k - 1.0 / 298.15))[:, None]
    saved = (r_ion_ohm(Q_BASE) - r_ion_ohm(Q_THIN)) * arr
    r0 = np.asarray(base.r0_ohm) - saved
    # what is left is the charge transfer (and the Ag-C side the base neglects): positive
    ct = np.asarray(base.r0_ohm) - r_ion_ohm(Q_BASE) * arr
    if not np.all(ct > 0):
        raise ConfigError(
            "the base cell's R0 is smaller than its own ionic part somewhere: re-derive by hand"
        )

    a_base, a_thin = CAP_AH * 1e3 / Q_BASE, CAP_AH * 1e3 / Q_THIN
    g_b, j_b, um_b = per_cm2(Q_BASE)
    g_t, j_t, um_t = per_cm2(Q_THIN)
    th = base.thermal
    # the base's core node less its stack, plus the thin stack; the pouch (surface node) kept
    c_core = th.c_core_j_per_k - j_b * a_base + j_t * a_thin
    stack_ratio = (um_t * a_thin) / (um_b * a_base)  # the same face: thickness ~ layers x area
    r_cs = th.r_core_surf_k_per_w * stack_ratio
    mass_b = g_b * a_base * (1 + POUCH_SHARE)
    mass_t = g_t * a_thin + g_b * a_base * POUCH_SHARE
    i_1c = CAP_AH
    mid = int(np.argmin(np.abs(np.asarray(base.soc) - 0.5)))
    row25 = int(np.argmin(np.abs(np.asarray(base.temp_c) - 25.0)))
    heat_noise = base.estimator.heat_noise_w - saved[row25, 0] * i_1c**2
    r0_mid = r0[:, mid] * 1e3

    def rows(a: np.ndarray) -> str:
        return "\n".join("    [" + ", ".join(f"{x:.6g}" for x in r) + "]," for r in a)

    temps = "/".join(f"{t:g}" for t in base.temp_c)
    base_mid = " / ".join(f"{x:.1f}" for x in np.asarray(base.r0_ohm)[:, mid] * 1e3)
    saved25 = (r_ion_ohm(Q_BASE) - r_ion_ohm(Q_THIN)) * 1e3
    heat_cap = c_core + th.c_surf_j_per_k
    stack_mm = um_t * a_thin / 80.0 / 1e3  # the 100 x 80 mm face
    thin = Q_THIN < Q_BASE
    kind = "thin" if thin else "thick"
    ratio = f"{Q_BASE / Q_THIN:.3g}x"
    name = f"Sulfide ASSB pouch 5 Ah, {kind} electrodes ({Q_THIN:g} mAh/cm2): NMC811 | Li6PS5Cl | Ag-C/Li"
    why = "the price of power" if thin else "less of them per Ah"
    what = f"{kind.capitalize()}-electrode variant of the sulfide Li-metal cell"
    design = "a power" if thin else "an energy"
    return f"""# GENERATED by {generator} from {BASE.name}: edit the script, not this.
# {what}: the cathode's areal capacity {Q_THIN:g} mAh/cm2
# instead of {Q_BASE:g} (ASSUMPTION: {design} design; the same 5.0 Ah over {ratio} the electrode area).
# Everything not stated here is the base cell's (its header gives the sources); the derivation,
# term by term, is the script's docstring. Results:
#   R0 at mid SoC {" / ".join(f"{x:.1f}" for x in r0_mid)} mOhm at {temps} C
#   (base: {base_mid}): the ionic path it saves is {saved25:.2f} mOhm at 25 C;
#   the charge transfer and the solid diffusion (R1/C1, R2/C2) are the base's: the same particles.
#   mass {mass_t:.1f} g against the base's {mass_b:.1f} g: ~{mass_b / mass_t * 330:.0f} Wh/kg against ~330
#   ({why}: {ratio} the separator, foils and Ag-C per Ah); heat capacity {heat_cap:.1f} J/K;
#   stack {stack_mm:.2f} mm on the same 100 x 80 mm face ({stack_ratio:.2f}x the base's).
base = "{base_ref}"

[cell]
name = "{name} (literature ECM)"

[tables]
r0_ohm = [
{rows(r0)}
]

[thermal]
c_core_j_per_k = {c_core:.6g}
r_core_surf_k_per_w = {r_cs:.6g}

[estimator]
heat_noise_w = {heat_noise:.6g}
"""
