# ruff: noqa: E501  (the generated files' header lines are templates, kept as they read in the file)
"""A third sulfide all-solid-state cell: NMC811 | Li6PS5Cl | carbon-free micro-silicon, 5.0 Ah
pouch, derived term by term from the shipped Li-metal cell (bms/data/cells/assb-nmc811-lps-agc.toml)
and the Si anode's literature numbers (issue 18, part 1). Writes

    bms/data/cells/assb-nmc811-lps-si.toml        the cell (self-contained: every table listed)
    bms/data/chemistries/sulfide-assb-si.toml     the chemistry (self-contained)

Re-run after changing the base cell or a number here:

    python -m tests.tools.assb_si [--check]

--check: exit 1 if the committed files differ from what this derives (tests/unit/test_assb_si.py
runs it).

The design change: the Li-metal anode (Ag-C interlayer + in-situ Li) of the base cell is replaced by a
99.9 wt% micro-silicon layer without carbon and without solid electrolyte (the anode of Tan et al.,
Science 373 (2021) 1494, doi:10.1126/science.abg7217). The cathode (NMC811, 3.0 mAh/cm2, 52.6 um
composite), the 30 um Li6PS5Cl separator, the foils and the electrode area (1667 cm2) are the base's.
Term by term (every number's source is in the generated headers):

- OCV: the base's table (the NMC811 OCP vs Li, Chen 2020, with O'Regan 2022's entropic term) minus the
  Si lithiation potential U_Si(x) of Verbrugge et al. (PyBaMM Chen2020_composite, the "lithiation"
  branch), x = X0 + (X1 - X0) SoC: the charge branch.
- R0: the base's R0 (separator + composite ionic path + cathode charge transfer: all cathode/separator
  terms, the base neglects its anode interface) plus the SE | Li-Si interface R_int(T) / A.
- R1/C1, R2/C2: the base's two cathode-diffusion branches plus Li diffusion through the dense Li-Si
  layer (a slab fed at the SE face: surface-minus-mean polarisation R_D = |dU/dx| L0 lam^3 / (3 F D c0),
  Foster series R_n = 6/(n^2 pi^2) R_D, tau_n = L0^2 lam^3 / (n^2 pi^2 D)); the first Si term joins
  R2, the rest (lumped) joins R1: R adds, tau is the R-weighted mean, C = tau / R.
- thermal: per cm2 the base's layers less the Ag-C and the Li metal plus the Si; the base's pouch.
- plating map: plating_c(T, SoC) = (U_Si(x) - MARGIN) / (I_1C,areal (R_int(T) + R_D(x, T))), the largest
  steady current keeping the Si at the SE interface >= MARGIN vs Li; each breakpoint then takes the
  minimum over its two neighbouring SoC intervals (so the firmware's linear interpolation in SoC stays
  under the physics) and is floored to 0.01C.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from bms import assb_design as ad
from bms.cells import load_cell

ROOT = Path(__file__).resolve().parents[2]
BASE_CELL = ad.BASE  # bms/data/cells/assb-nmc811-lps-agc.toml
CELL_OUT = ROOT / "bms" / "data" / "cells" / "assb-nmc811-lps-si.toml"
CHEM_OUT = ROOT / "bms" / "data" / "chemistries" / "sulfide-assb-si.toml"

F = 96485.33  # C/mol
R_GAS = 8.314  # J/(mol K)
T_REF = 298.15  # K
CAP_AH = 5.0
Q_CATH = ad.Q_BASE  # 3.0 mAh/cm2, the base's cathode areal capacity
AREA_CM2 = CAP_AH * 1e3 / Q_CATH  # 1666.7 cm2, the base's electrode area
I_1C_A_CM2 = Q_CATH * 1e-3  # 1C per cm2: 3.0 mA/cm2

# ---- Si: the OCP of Verbrugge et al., J. Electrochem. Soc. 163 (2016) A262, as fitted in PyBaMM's
# Chen2020_composite (silicon_ocp_lithiation_Mark2016 / _delithiation_Mark2016), x = Li fraction 0..1
P_LITH = (-96.63, 372.6, -587.6, 489.9, -232.8, 62.99, -9.286, 0.8633)
P_DELITH = (-51.02, 161.3, -205.7, 140.2, -58.76, 16.87, -3.792, 0.9937)
# the window of x: SoC 0 at X0, SoC 1 at X1 (ASSUMPTIONS, reasons in the cell header)
X0, X1 = 0.10, 0.80
SI_MAH_G = 3579.0  # Li15Si4 (Li3.75Si), Obrovac & Christensen 2004 / Obrovac & Krause 2007
SI_G_CM3 = 2.329  # crystalline Si, handbook
SI_CP = 0.71  # J/gK, handbook (0.705 at 25 C)
SI_M_G_MOL = 28.0855
N_A = 6.02214e23
LI15SI4_A_ANG = 10.685  # cubic, Z = 4 (16 Si per cell), Obrovac & Christensen 2004
# DFT (ab initio MD) Li diffusivity in LixSi at room temperature: 2.08e-9 cm2/s at x_Li = 1.0 rising to
# 3.53e-7 cm2/s at 3.75 (ChemElectroChem 2 (2015) 1292, "Composition dependence of lithium diffusion in
# lithium silicide: a density functional theory study"); m2/s here
D_LO, D_HI = 2.08e-13, 3.53e-11
XLI_LO, XLI_HI = 1.0, 3.75
EA_SI_J = 35000.0  # the Si exchange current's activation energy in PyBaMM Chen2020_composite
R_INT_25 = 10.0  # ohm cm2 at 25 C, SE | Li-Si interface (ASSUMPTION, cell header)
MARGIN_V = 0.050  # plating margin above 0 V vs Li (ASSUMPTION, chemistry header)
# ---- stack pressure ([stack_pressure]: every choice argued in the chemistry file's text below)
FACE_CM2 = 80.0  # the base's 100 x 80 mm pouch face
PRELOAD_MPA = 10.0  # ASSUMPTION: a fifth of Tan et al.'s ~50 MPa
RISE_MPA = 5.0  # ASSUMPTION: the fixture's rise from SoC 0 to 1
CONTACT_ZERO_MPA, CONTACT_FULL_MPA = 2.0, 8.0  # ASSUMPTIONS
LOAD_CELL_FS_MPA = 20.0  # the base's load cell: 0-20 MPa
# the pressure limits (chemistry text: limits.pressure_*), ASSUMPTIONS argued there
P_TRIP_CHG_MPA = 5.0
P_DERATE_DIS_MPA, P_TRIP_DIS_MPA = 7.0, 3.0
P_DERATE_MAX_MPA, P_TRIP_MAX_MPA = 18.5, 19.5
# the base's fixture (sulfide-assb.toml [stack_pressure]): its thermal term per um of its stiffness is
# the cells' and the fixture's differential expansion, kept for the Si module
BASE_THERMAL_MPA_PER_K = 0.01
BASE_FIXTURE_MPA_PER_UM = 0.00495
BASE_RESIDUAL_SHARE = 0.1 / 2.0  # the base's yielding strap: 0.1 of its 2.0 MPa preload

# the chemistry's maps: the base's grid
MAP_SOC = (0.0, 0.1, 0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0)
MAP_T = (-10.0, 10.0, 20.0, 25.0, 45.0, 60.0, 70.0, 80.0)
# the base's claim's envelope, kept (chemistry header)
CHARGE_C = (
    (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    (0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.2, 0.1),
    (0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.25, 0.1),
    (3.0, 3.0, 3.0, 2.5, 2.0, 1.5, 1.0, 0.5, 0.2),
    (5.0, 5.0, 5.0, 4.5, 4.0, 3.0, 2.0, 1.0, 0.3),
    (6.0, 6.0, 6.0, 5.5, 4.5, 3.5, 2.5, 1.2, 0.3),
    (6.0, 6.0, 6.0, 5.5, 4.5, 3.5, 2.5, 1.2, 0.3),
)
SAG_V = 0.40  # discharge map: the 10 s sag budget (ASSUMPTION, chemistry header)
DIS_CAP_C = 5.0  # discharge map cap (ASSUMPTION, chemistry header)


def u_lith(x):
    return np.polyval(P_LITH, x)


def du_lith(x):
    return np.polyval(np.polyder(P_LITH), x)


def u_delith(x):
    return np.polyval(P_DELITH, x)


def u_nmc(y):
    """NMC811 OCP vs Li, Chen et al. J. Electrochem. Soc. 167 (2020) 080534 (PyBaMM)."""
    return (
        -0.8090 * y
        + 4.4875
        - 0.0428 * np.tanh(18.5138 * (y - 0.5542))
        - 17.7326 * np.tanh(15.7890 * (y - 0.3117))
        + 17.5842 * np.tanh(15.9308 * (y - 0.3120))
    )


def x_of_soc(soc):
    return X0 + (X1 - X0) * np.asarray(soc, dtype=float)


def y_of_soc(soc):
    """the base's cathode stoichiometry: SoC 1 at y = 0.305, SoC 0 at y = 0.908"""
    return 0.908 - 0.603 * np.asarray(soc, dtype=float)


Q_SI = Q_CATH / (X1 - X0)  # mAh/cm2 of Si (x 0..1)
L0_M = Q_SI / (SI_MAH_G * SI_G_CM3) * 1e-2  # dense Si thickness, m
C0 = SI_MAH_G * SI_G_CM3 * 3.6 / F * 1e6  # mol/m3 of Li at x = 1 per pristine Si volume
V_SI_ANG3 = SI_M_G_MOL / (SI_G_CM3 * N_A) * 1e24
BETA = (LI15SI4_A_ANG**3 / 16.0) / V_SI_ANG3 - 1.0  # V/V0 = 1 + BETA x


def arrhenius(t_c, ea=EA_SI_J):
    """factor by which a rate (1/R, D) at t_c exceeds the one at 25 C"""
    return np.exp(-ea / R_GAS * (1.0 / (np.asarray(t_c, dtype=float) + 273.15) - 1.0 / T_REF))


def d_si(x, t_c):
    """Li diffusivity in LixSi, m2/s: log-linear in x_Li between the DFT end points, held outside"""
    xl = np.clip(3.75 * np.asarray(x, dtype=float), XLI_LO, XLI_HI)
    return D_LO * (D_HI / D_LO) ** ((xl - XLI_LO) / (XLI_HI - XLI_LO)) * arrhenius(t_c)


def lam(x):
    return 1.0 + BETA * np.asarray(x, dtype=float)


def r_int_cm2(t_c):
    return R_INT_25 / arrhenius(t_c)


def r_d_cm2(x, t_c):
    """steady surface-minus-mean polarisation of the Li-Si slab, ohm cm2"""
    return np.abs(du_lith(x)) * L0_M * lam(x) ** 3 / (3.0 * F * d_si(x, t_c) * C0) * 1e4


def tau_slab_s(x, t_c):
    """L0^2 lam^3 / D: tau_n = this / (n^2 pi^2)"""
    return L0_M**2 * lam(x) ** 3 / d_si(x, t_c)


SHARE_1 = 6.0 / math.pi**2  # first Foster term of the slab
SHARE_REST = 1.0 - SHARE_1
# R-weighted tau of the terms n >= 2: sum 6/(n^4 pi^4) / SHARE_REST, times L^2/D
TAU_REST_K = 6.0 / math.pi**4 * (math.pi**4 / 90.0 - 1.0) / SHARE_REST


def plating_limit(t_c, soc):
    """largest steady C-rate keeping the Si at the SE interface >= MARGIN_V vs Li (>= 0)"""
    x = x_of_soc(soc)
    r = r_int_cm2(t_c) + r_d_cm2(x, t_c)
    return np.maximum(0.0, (u_lith(x) - MARGIN_V) / (I_1C_A_CM2 * r))


def plating_map():
    out = []
    bp = np.asarray(MAP_SOC)
    for t in MAP_T:
        row = []
        for k in range(len(bp)):
            lo, hi = bp[max(k - 1, 0)], bp[min(k + 1, len(bp) - 1)]
            s = np.linspace(lo, hi, 401)
            row.append(math.floor(float(np.min(plating_limit(t, s))) * 100.0 + 1e-9) / 100.0)
        out.append(row)
    return np.asarray(out)


def interp_map(tab, t_c, soc):
    """the firmware's bilinear interpolation, clamped at the ends (current_limit.c)"""
    tab = np.asarray(tab)
    rows = np.array([np.interp(soc, MAP_SOC, r) for r in tab])
    return np.interp(t_c, MAP_T, rows)


def worst_anode_mv(pmap, t_lo=-10.0, cap=None):
    """the lowest Si potential (mV vs Li) the interpolated plating map allows (capped by the
    interpolated map `cap`, if given: the CCL's min), on a fine grid from t_lo to 80 C"""
    worst = (1e9, None, None)
    for t in np.arange(t_lo, 80.01, 0.5):
        for s in np.linspace(0.0, 1.0, 201):
            c = interp_map(pmap, t, s)
            if cap is not None:
                c = min(c, interp_map(cap, t, s))
            x = x_of_soc(s)
            phi = u_lith(x) - c * I_1C_A_CM2 * (r_int_cm2(t) + r_d_cm2(x, t))
            if phi * 1e3 < worst[0]:
                worst = (float(phi * 1e3), float(t), float(s))
    return worst


def robustness():
    """(factor, T, SoC): the smallest plating_limit / charge_c over the breakpoints from 45 C up
    where charge_c > 0: how much larger the anode-side resistance could be before the Si binds"""
    best = (1e9, None, None)
    for j, t in enumerate(MAP_T):
        if t < 45.0:
            continue
        for k, s in enumerate(MAP_SOC):
            c = CHARGE_C[j][k]
            if c > 0:
                f = float(plating_limit(t, s)) / c
                if f < best[0]:
                    best = (f, t, s)
    return best


def rows(a) -> str:
    return "\n".join("    [" + ", ".join(f"{v:.6g}" for v in r) + "]," for r in np.atleast_2d(a))


def vec(a) -> str:
    return "[" + ", ".join(f"{v:.6g}" for v in a) + "]"


def derive_cell():
    base = load_cell(BASE_CELL)
    soc, temp = np.asarray(base.soc), np.asarray(base.temp_c)
    x = x_of_soc(soc)
    tt = temp[:, None]
    ocv = np.asarray(base.ocv_v) - u_lith(x)[None, :]
    r_int_cell = r_int_cm2(tt) / AREA_CM2 * np.ones_like(soc)[None, :]
    r0 = np.asarray(base.r0_ohm) + r_int_cell
    rd = r_d_cm2(x[None, :], tt) / AREA_CM2
    tau = tau_slab_s(x[None, :], tt)
    r_slow, tau_slow = SHARE_1 * rd, tau / math.pi**2
    r_fast, tau_fast = SHARE_REST * rd, TAU_REST_K * tau
    r1b, c1b, r2b, c2b = (np.asarray(getattr(base, n)) for n in ("r1_ohm", "c1_f", "r2_ohm", "c2_f"))
    r1 = r1b + r_fast
    t1 = (r1b * r1b * c1b + r_fast * tau_fast) / r1
    r2 = r2b + r_slow
    t2 = (r2b * r2b * c2b + r_slow * tau_slow) / r2
    c1, c2 = t1 / r1, t2 / r2

    # thermal: per cm2 the base's unit cell less Ag-C and Li metal, plus the Si
    g_b, j_b, um_b = ad.per_cm2(Q_CATH)
    agc = dict((n, (t, rho, cp)) for n, t, rho, cp in ad.LAYERS)["Ag-C"]
    agc_g = agc[0] * 1e-4 * agc[1]
    li_g = Q_CATH / ad.LI_MAH_PER_G
    si_g = Q_SI / SI_MAH_G
    g_s = g_b - agc_g - li_g + si_g
    j_s = j_b - agc_g * agc[2] - li_g * ad.LI_CP + si_g * SI_CP
    si_um_full = L0_M * 1e6 * float(lam(X1))  # lithiated dense Li-Si at SoC 1 (1-D expansion)
    si_um_empty = L0_M * 1e6 * float(lam(X0))
    um_s = um_b - agc[0] - ad.LI_UM_PER_MAH * Q_CATH + si_um_full
    th = base.thermal
    c_core = th.c_core_j_per_k - j_b * AREA_CM2 + j_s * AREA_CM2
    r_cs = th.r_core_surf_k_per_w * um_s / um_b
    pouch_g = g_b * AREA_CM2 * ad.POUCH_SHARE  # the base's pouch and tabs (same face)
    mass_b = g_b * AREA_CM2 + pouch_g
    mass_s = g_s * AREA_CM2 + pouch_g
    heat_cap = c_core + th.c_surf_j_per_k
    stack_mm_full = um_s * AREA_CM2 / 80.0 / 1e3
    stack_mm_empty = (um_s - si_um_full + si_um_empty) * AREA_CM2 / 80.0 / 1e3

    # energy, from the published OCP functions on a fine grid (25 C)
    sf = np.linspace(0.0, 1.0, 2001)
    e_chg = CAP_AH * np.trapezoid(u_nmc(y_of_soc(sf)) - u_lith(x_of_soc(sf)), sf)
    e_dis = CAP_AH * np.trapezoid(u_nmc(y_of_soc(sf)) - u_delith(x_of_soc(sf)), sf)
    e_base = CAP_AH * np.trapezoid(u_nmc(y_of_soc(sf)), sf)

    mid = int(np.argmin(np.abs(soc - 0.5)))
    row25 = int(np.argmin(np.abs(temp - 25.0)))
    est = base.estimator
    heat_noise = float(r0[row25, mid]) * CAP_AH**2
    return dict(
        base=base,
        soc=soc,
        temp=temp,
        x=x,
        ocv=ocv,
        r0=r0,
        r1=r1,
        c1=c1,
        r2=r2,
        c2=c2,
        r_int_cell=r_int_cell,
        rd=rd,
        t1=t1,
        t2=t2,
        tau_slow=tau_slow,
        c_core=c_core,
        c_surf=th.c_surf_j_per_k,
        r_cs=r_cs,
        r_sa=th.r_surf_amb_k_per_w,
        mass_b=mass_b,
        mass_s=mass_s,
        g_s=g_s,
        j_s=j_s,
        um_s=um_s,
        um_b=um_b,
        heat_cap=heat_cap,
        stack_mm_full=stack_mm_full,
        stack_mm_empty=stack_mm_empty,
        si_um_full=si_um_full,
        si_um_empty=si_um_empty,
        si_g=si_g,
        e_chg=e_chg,
        e_dis=e_dis,
        e_base=e_base,
        mid=mid,
        row25=row25,
        est=est,
        heat_noise=heat_noise,
    )


def cell_text(d) -> str:
    b = d["base"]
    temps = "/".join(f"{t:g}" for t in d["temp"])
    mid = d["mid"]
    r0m = " / ".join(f"{v * 1e3:.1f}" for v in d["r0"][:, mid])
    r0b = " / ".join(f"{v * 1e3:.1f}" for v in np.asarray(b.r0_ohm)[:, mid])
    rint = " / ".join(f"{v:.3g}" for v in r_int_cm2(d["temp"]))
    rdm = " / ".join(f"{v:.2g}" for v in r_d_cm2(0.45, d["temp"]))
    r10 = d["r0"][:, mid] + d["r1"][:, mid] + d["r2"][:, mid]
    r10b = (np.asarray(b.r0_ohm) + np.asarray(b.r1_ohm) + np.asarray(b.r2_ohm))[:, mid]
    t2m = " / ".join(f"{v:.0f}" for v in d["t2"][:, mid])
    ocv25 = d["ocv"][d["row25"]]
    e_b_wh_kg = d["e_base"] / (d["mass_b"] * 1e-3)
    wh_chg = d["e_chg"] / (d["mass_s"] * 1e-3)
    wh_dis = d["e_dis"] / (d["mass_s"] * 1e-3)
    est = d["est"]
    gap_mid = float(u_delith(0.45) - u_lith(0.45))
    xs = np.linspace(X0, X1, 701)
    gap_lo, gap_hi = float(np.min(u_delith(xs) - u_lith(xs))), float(np.max(u_delith(xs) - u_lith(xs)))
    return f"""# GENERATED by `python -m tests.tools.assb_si` from assb-nmc811-lps-agc.toml (the Li-metal base cell): edit the
# script, not this. Self-contained (no `base =`): every table is listed.
# Sulfide all-solid-state pouch cell, 5.0 Ah, WITHOUT a lithium-metal anode: NMC811 composite cathode |
# Li6PS5Cl | carbon-free micro-silicon (99.9 wt% uSi, no carbon, no solid electrolyte in the anode: the
# anode of Tan et al., Science 373 (2021) 1494, doi:10.1126/science.abg7217, whose NCM811 full cells
# "achieve high areal current density, wide operating temperature range, and high areal loadings"
# (abstract); they were cycled under ~50 MPa stack pressure (p. 1497, per a third-party summary: not
# checked here). NOT fitted to any measurement: no PyBaMM set or public data set exists for it.
# Everything not restated here is the base cell's (its header gives the sources): the NMC811 cathode
# (3.0 mAh/cm2, 52.6 um composite), the 30 um Li6PS5Cl separator, the foils, the 1667 cm2 electrode area.
# Tables: [temp][soc], temp {temps} C.
#
# OCV = the base's table (the NMC811 OCP vs Li of Chen et al., J. Electrochem. Soc. 167 (2020) 080534, y
#   0.908 -> 0.305 over SoC 0 -> 1, with O'Regan 2022's entropic term) MINUS the Si lithiation potential
#   U_Si(x): the 7th-order fit of Verbrugge, Baker & Xiao, "Formulation for the treatment of multiple
#   electrochemical reactions and associated speciation for the lithium-silicon electrode",
#   J. Electrochem. Soc. 163 (2016) A262, as coded in
#   PyBaMM's Chen2020_composite set (silicon_ocp_lithiation_Mark2016; x = Li fraction of the Si's
#   capacity: 0.37 V at x 0.1, 0.19 V at 0.5, 0.083 V at 0.8). This is the CHARGE (lithiation) branch.
#   The delithiation branch of the same source sits {gap_mid * 1e3:.0f} mV higher at x = 0.45 ({gap_lo * 1e3:.0f}-{gap_hi * 1e3:.0f} mV over
#   the window): on discharge the real cell is that much lower. NOT modelled (no hysteresis section;
#   a cells.py Hysteresis would need the table at the mean of the branches): this file is for the
#   fast-charge bench; discharge energy and a discharge SoC estimate are optimistic by that gap.
#   x = {X0:g} + {X1 - X0:g} SoC, linear (capacity is linear in Li content):
#   - X1 = {X1:g} at SoC 1 (ASSUMPTION: the Si's capacity is {Q_SI:.3f} mAh/cm2, N/P = {Q_SI / Q_CATH:.2f}):
#     the Si ends a charge at U_Si = {float(u_lith(X1)) * 1e3:.0f} mV, above the ~30 mV below which crystalline
#     Li15Si4 forms (Hatchard & Dahn, J. Electrochem. Soc. 151 (2004) A838: films > ~2 um), so a
#     plating margin remains at full charge;
#   - X0 = {X0:g} at SoC 0 (ASSUMPTION): below x 0.1 the fit's lithiation branch rises steeply to its
#     0.86 V first-lithiation onset; the lithium left in the Si there is the base cathode's empty-cell
#     stoichiometry's counterpart (its y = 0.908, not 1): not cycled.
#   x = 1 is taken as Li15Si4 = Li3.75Si, the fully lithiated room-temperature phase (Obrovac &
#   Christensen, Electrochem. Solid-State Lett. 7 (2004) A93): 3.75 x 26.80 Ah/mol / 28.0855 g/mol =
#   3579 mAh/g (ASSUMPTION: the fit's x scale is that of the full alloy).
#   OCV window: {ocv25[0]:.3f} V (SoC 0) .. {ocv25[-1]:.3f} V (SoC 1) at 25 C (base: {np.asarray(b.ocv_v)[d["row25"]][0]:.3f} .. {np.asarray(b.ocv_v)[d["row25"]][-1]:.3f} V).
#   dOCV/dT: the base's (the cathode's); the Si's entropic coefficient is taken as 0, as PyBaMM's
#   Chen2020_composite sets it (no measured value known to us).
# Anode (per cm2 of the base's electrode area): Si {d["si_g"] * 1e3:.3f} mg/cm2 = {Q_SI:.3f} mAh/cm2 / 3579 mAh/g, a dense
#   Si thickness L0 = {L0_M * 1e6:.2f} um at 2.329 g/cm3. With 99.9 wt% Si (Tan et al.'s abstract) the anode holds
#   no SE: the SE touches the Si only at the separator face, a planar interface, and the Li-Si alloy
#   itself must carry the Li into the layer (modelled below as a dense slab). Si expands
#   ~3.8x by volume at Li15Si4 (its cubic cell, a = 10.685 A with 16 Si, 76.3 A3 per Si against 20.0
#   A3 in Si; Obrovac & Christensen 2004), taken linear in x: V/V0 = 1 + {BETA:.2f} x, i.e. {float(lam(X0)):.2f}x at SoC 0 and
#   {float(lam(X1)):.2f}x at SoC 1 (~3x, as quoted for Si); ASSUMPTION: all of it through-plane (a laterally
#   constrained stack): the Li-Si layer breathes {d["si_um_empty"]:.1f} -> {d["si_um_full"]:.1f} um per cycle. The ECM knows no stack
#   pressure; the chemistry's [stack_pressure] (sulfide-assb-si.toml) models the module fixture, its
#   R0 scaling and the pressure sensors (Tan et al. cycled at ~50 MPa, above what a pack fixture applies).
# R0 = the base's R0 (separator 1.5 + composite ionic path 14.6 ohm cm2 at 25 C + cathode charge
#   transfer: the cathode and separator terms; the base neglects its Li | Ag-C interface) PLUS the
#   SE | Li-Si interface R_int(T) / A:
#   R_int = {R_INT_25:g} ohm cm2 at 25 C (ASSUMPTION: no measured Li-Si | argyrodite charge-transfer
#   resistance is known to us; a round value of the order of the base cathode's own solid|sulfide
#   charge transfer, 7.6 ohm cm2 at mid SoC and 25 C; equivalent to i0 = RT/(F R_int) = 2.6 mA/cm2
#   over the planar interface. The interphase itself is thin: a ~13 nm Li2S/SiS2/P2S5-glass SEI at a
#   model Si | Li3PS4 interface, Asano et al., ACS Appl. Mater. Interfaces (2024; reference not verified).) Arrhenius with
#   35 kJ/mol, the Si exchange current's activation energy in PyBaMM Chen2020_composite (Chen 2020 /
#   Ai et al., J. Power Sources 527 (2022) 231142), a liquid-electrolyte value used as a stand-in.
#   R_int = {rint} ohm cm2 at {temps} C; charge transfer is sub-second: in R0.
# R1/C1, R2/C2 = the base's two NMC811 diffusion branches PLUS Li diffusion through the Li-Si layer, a
#   slab fed at the SE face and sealed at the foil: in the pristine-Si frame its diffusivity is D /
#   lam^3 (lam = 1 + {BETA:.2f} x: the lengthened path and the Li diluted by the swelling), so the steady
#   surface-minus-mean polarisation is R_D = |dU_Si/dx| L0 lam^3 / (3 F D c0) (c0 = {C0:.0f} mol/m3, Li
#   at x = 1 per Si volume) and its exact Foster series R_n = 6/(n^2 pi^2) R_D, tau_n = L0^2 lam^3 /
#   (n^2 pi^2 D). D: the ab initio values of "Composition dependence of lithium diffusion in lithium
#   silicide: a density functional theory study", ChemElectroChem 2 (2015) 1292 (authors not verified; 2.08e-9 cm2/s at
#   LiSi rising to 3.53e-7 at Li3.75Si, room temperature), log-linear in between and held at the end
#   values outside (ASSUMPTION: the interpolation; x 0.1-0.27 is below LiSi and takes its value);
#   measured chemical diffusivities in a-Si films are far lower (1e-14 - 4e-13 cm2/s at 50 C, Xie et
#   al., Mater. Chem. Phys. 120 (2010) 421) but would leave a micron-thick carbon-free Si layer unable
#   to cycle at all, which Tan et al.'s cells do; Arrhenius 35 kJ/mol (ASSUMPTION: the interface's
#   value, for want of a measured one). R_D at x 0.45 (mid SoC) = {rdm} ohm cm2 at {temps} C.
#   The first Si term (61 %, tau = L0^2 lam^3/(pi^2 D)) joins R2/C2, the rest (39 %, lumped at its R-
#   weighted tau = L0^2 lam^3 / (77.3 D)) joins R1/C1: R adds, tau is the R-weighted mean, C = tau / R.
#   Slow branch at mid SoC: tau2 = {t2m} s at {temps} C.
# Result at mid SoC: R0 = {r0m} mOhm at {temps} C (base: {r0b}); total 10 s-class resistance
#   R0+R1+R2 at 25 C {r10[d["row25"]] * 1e3:.1f} mOhm (base {r10b[d["row25"]] * 1e3:.1f}); R0(25 C)/R0(60 C) = {d["r0"][d["row25"], mid] / d["r0"][4, mid]:.2f}.
# Coulombic efficiency 0.998: the base's value kept (ASSUMPTION: Tan et al.'s abstract reports that the
#   sulfide SE "eliminates continuous interfacial growth and irreversible lithium losses"; not quantified here).
# Thermal: 2-node pouch model on the base's 100 x 80 mm face. Per cm2: the base's layers (cathode 52.6
#   um at 3.41 g/cm3, separator 30 um Li6PS5Cl at 1.87 g/cm3, Al 6 / Cu 5 um per side) without the Ag-C
#   interlayer and without the Li metal, plus the Si ({d["si_g"] * 1e3:.3f} mg/cm2, cp 0.71 J/gK: handbook value, 0.705 at
#   25 C); the binder (0.1 wt%) is ignored; the lithium the Si holds comes from the cathode, whose mass
#   already counts it (the base adds its 3 mAh/cm2 of Li metal on top: 0.78 mg/cm2 the Si cell does
#   not carry). Unit cell {d["g_s"] * 1e3:.2f} mg/cm2 and {d["j_s"] * 1e3:.2f} mJ/(K cm2); the base's pouch and tabs (+10 % of the base's
#   stack mass, its surface node {d["c_surf"]:.3f} J/K). Mass {d["mass_s"]:.1f} g (base {d["mass_b"]:.1f} g); heat capacity {d["heat_cap"]:.1f} J/K
#   (base 45.3). Energy from the OCP functions at 25 C: {d["e_chg"]:.2f} Wh on the charge branch (table),
#   {d["e_dis"]:.2f} Wh on the delithiation branch (what a discharge delivers): ~{wh_dis:.0f} Wh/kg (~{wh_chg:.0f} on the charge branch;
#   the base, by the same computation, {d["e_base"]:.2f} Wh / {d["mass_b"]:.1f} g = ~{e_b_wh_kg:.0f} Wh/kg): the Si saves the Ag-C and Li mass
#   but costs ~{(d["e_base"] - d["e_dis"]) / CAP_AH:.2f} V of mean discharge voltage.
#   core-surface: the base's {b.thermal.r_core_surf_k_per_w:.4f} K/W scaled by the unit cell's thickness at SoC 1 ({d["um_s"]:.1f} um
#   against the base's {d["um_b"]:.1f}): stack {d["stack_mm_empty"]:.2f} mm at SoC 0 -> {d["stack_mm_full"]:.2f} mm at SoC 1 (the Si breathing).
#   surface-ambient: the base's (same faces, forced air h = 30 W/m2K).
# Estimator: the base's, heat noise R0(25 C, mid SoC) I_1C^2 = {d["heat_noise"]:.4f} W (as `bms fit` sets it).
[cell]
name = "Sulfide ASSB pouch 5 Ah: NMC811 | Li6PS5Cl | carbon-free micro-Si (literature ECM)"
capacity_ah = 5.0
coulombic_eff = {b.coulombic_eff:g}
v_min = {ocv25[0]:.4f}
v_max = {ocv25[-1]:.4f}

[tables]
soc = {vec(d["soc"])}
temp_c = {vec(d["temp"])}
ocv_v = [
{rows(d["ocv"])}
]
r0_ohm = [
{rows(d["r0"])}
]
r1_ohm = [
{rows(d["r1"])}
]
c1_f = [
{rows(d["c1"])}
]
r2_ohm = [
{rows(d["r2"])}
]
c2_f = [
{rows(d["c2"])}
]
docv_dt_v_per_k = {vec(b.docv_dt_v_per_k)}

[thermal]
c_core_j_per_k = {d["c_core"]:.6g}
c_surf_j_per_k = {d["c_surf"]:.6g}
r_core_surf_k_per_w = {d["r_cs"]:.6g}
r_surf_amb_k_per_w = {d["r_sa"]:.6g}

[estimator]
soc_init_sigma = {est.soc_init_sigma:g}
v_rc_init_sigma_v = {est.v_rc_init_sigma_v:g}
current_noise_a = {est.current_noise_a:g}
current_gain_sigma = {est.current_gain_sigma:g}
soc_rw_per_sqrt_s = {est.soc_rw_per_sqrt_s:g}
v_rc_rw_v_per_sqrt_s = {est.v_rc_rw_v_per_sqrt_s:g}
voltage_noise_v = {est.voltage_noise_v:g}
model_err_v = {est.model_err_v:g}
# ASSUMPTION (no measurement to fit), the base's: the model error lasts ~4 min, the correlation time the
# fitted LG M50T and Panasonic models show (243-296 s); 240 s
model_err_corr_s = {est.model_err_corr_s:g}
r0_rel_sigma = {est.r0_rel_sigma:g}
rc_rel_sigma = {est.rc_rel_sigma:g}
temp_init_sigma_degc = {est.temp_init_sigma_degc:g}
heat_noise_w = {d["heat_noise"]:.6g}
temp_noise_degc = {est.temp_noise_degc:g}
temp_spatial_sigma_degc = {est.temp_spatial_sigma_degc:g}
"""


def discharge_map(d):
    """flat in SoC: min(DIS_CAP_C, SAG_V / (I_1C (R0 + R1 + R2)(T, mid SoC))), the cell's table
    interpolated linearly in temperature (as the firmware interpolates it), floored to 0.05C"""
    mid = d["mid"]
    r10 = d["r0"][:, mid] + d["r1"][:, mid] + d["r2"][:, mid]
    out = []
    for t in MAP_T:
        r = float(np.interp(t, d["temp"], r10))
        c = min(DIS_CAP_C, SAG_V / (CAP_AH * r))
        out.append([math.floor(c * 20.0 + 1e-9) / 20.0] * len(MAP_SOC))
    return np.asarray(out)


def stack_pressure(d):
    """[stack_pressure] of the Si module: the Si layers' breathing per pouch from the cell's
    derivation (1-D swelling), the fixture sized on it, R0's interface share from the cell's R0."""
    swell_um = (d["si_um_full"] - d["si_um_empty"]) * AREA_CM2 / FACE_CM2
    stiff = RISE_MPA / swell_um
    mismatch_um_per_k = BASE_THERMAL_MPA_PER_K / BASE_FIXTURE_MPA_PER_UM
    thermal = mismatch_um_per_k * stiff
    mid, r25 = d["mid"], d["row25"]
    r_frac = float(d["r_int_cell"][r25, mid] / d["r0"][r25, mid])
    return dict(
        swell_um=swell_um,
        stiff=stiff,
        mismatch=mismatch_um_per_k,
        thermal=thermal,
        r_frac=r_frac,
        p_top=PRELOAD_MPA + RISE_MPA + thermal * (80.0 - 25.0),
        residual=BASE_RESIDUAL_SHARE * PRELOAD_MPA,
    )


def stack_pressure_text(d) -> str:
    sp = stack_pressure(d)
    mid, r25 = d["mid"], d["row25"]
    return f"""
# Stack pressure (bms.stack_pressure): the module fixture, how the cells move it, what it does to the
# Si | electrolyte contact, and the load cell that measures it (one per module). The base's
# (sulfide-assb.toml) structure; what a Si anode changes, argued here:
# - Fixture preload {PRELOAD_MPA:g} MPa at SoC 0 and 25 C (ASSUMPTION): Tan et al. (Science 373 (2021) 1494)
#   cycled at ~50 MPa (per a third-party summary, cell file: not checked), which a pack's module cannot
#   hold (50 MPa on the {FACE_CM2:g} cm2 face is 400 kN); a fifth of it ({PRELOAD_MPA * FACE_CM2 / 10:.0f} kN per face) is taken as what
#   a bolted end-plate module can. The Si needs its pressure most at SoC 0, contracted (voids open
#   at the Si | SE interface on delithiation), which is where the preload acts alone.
# - swelling_um: the Li-Si layers' breathing of the cell file, {d["si_um_empty"]:.2f} -> {d["si_um_full"]:.2f} um per layer from
#   SoC 0 to 1 (1-D, ASSUMPTION there), x {AREA_CM2 / FACE_CM2:.1f} layers ({AREA_CM2:.0f} cm2 of electrode on the {FACE_CM2:g} cm2 face)
#   = {sp["swell_um"]:.1f} um per pouch (the base's Li metal: 303 um; the Si breathes ~{float(lam(X1) / lam(X0)):.1f}x by volume, but
#   holds its lithium denser than Li metal does, so per pouch it moves less).
# - fixture_mpa_per_um: +{RISE_MPA:g} MPa from SoC 0 to 1 (ASSUMPTION: a fixture sized so that SoC 1 at 80 C,
#   {sp["p_top"]:.1f} MPa, stays inside the base's 0-{LOAD_CELL_FS_MPA:g} MPa load cell): {RISE_MPA:g} / {sp["swell_um"]:.1f} = {sp["stiff"]:.5f} MPa per um.
# - thermal_mpa_per_k: the base's differential expansion, {BASE_THERMAL_MPA_PER_K:g} MPa/K over its {BASE_FIXTURE_MPA_PER_UM:g} MPa/um
#   = {sp["mismatch"]:.2f} um/K per pouch (ASSUMPTION there), on this fixture's stiffness: {sp["thermal"]:.4f} MPa/K.
# - Contact: none at or below {CONTACT_ZERO_MPA:g} MPa, full at or above {CONTACT_FULL_MPA:g} MPa, linear between, never below 10 %
#   (ASSUMPTIONS: no contact-vs-pressure measurement for a Si | Li6PS5Cl interface is known to us; a
#   lithium silicide is far harder than lithium metal, so by the Greenwood-Williamson argument of
#   the base (real contact area ~ load / hardness) it needs several times the base's 0.5-1.5 MPa;
#   the preload sits {PRELOAD_MPA - CONTACT_FULL_MPA:g} MPa above full contact, as the base's sits 0.5 MPa above its own).
# - interface_r_frac: the SE | Li-Si interface's share of R0 at 25 C and mid SoC, from the cell file
#   (R_int / A = {d["r_int_cell"][r25, mid] * 1e3:.2f} of {d["r0"][r25, mid] * 1e3:.2f} mOhm): {sp["r_frac"]:.3f}; it grows as 1 / contact.
# - Sensor: the base's load cell (4-20 mA, 12-bit ADC over 0-{LOAD_CELL_FS_MPA:g} MPa, +-0.05 MPa gain and offset).
# - pressure_loss: the base's yielding strap, relaxing in 20 s to the same share of its preload
#   ({BASE_RESIDUAL_SHARE:g}): {sp["residual"]:g} MPa (ASSUMPTION).
[stack_pressure]
cells_per_module = 12
preload_mpa = {PRELOAD_MPA:.1f}
swelling_um = {sp["swell_um"]:.1f}
fixture_mpa_per_um = {sp["stiff"]:.5f}
thermal_mpa_per_k = {sp["thermal"]:.4f}
contact_zero_mpa = {CONTACT_ZERO_MPA:.1f}
contact_full_mpa = {CONTACT_FULL_MPA:.1f}
contact_min = 0.1
interface_r_frac = {sp["r_frac"]:.3f}
sensor_sigma_mpa = 0.01
sensor_lsb_mpa = 0.005
sensor_error_mpa = 0.05
loss_residual_mpa = {sp["residual"]:.2f}
loss_tau_s = 20.0
"""


def chem_text(d, pmap, dmap, worst, worst10, worstccl, robust) -> str:
    p_top = stack_pressure(d)["p_top"]  # the fixture at SoC 1 and 80 C (limits.pressure_max)

    def row_of(t):
        return MAP_T.index(t)

    def at(t, s):
        return float(plating_limit(t, s))

    pl = {t: pmap[row_of(t)] for t in MAP_T}
    ocv25 = d["ocv"][d["row25"]]
    vmax_ocv = d["ocv"][:, -1]
    # the cathode's 4.30 V (Jung et al.) on the charge branch: the cell voltage there
    from scipy.optimize import brentq

    y43 = brentq(lambda y: float(u_nmc(y)) - 4.30, 0.15, 0.305)
    soc43 = (0.908 - y43) / 0.603
    v_abs = 4.30 - float(u_lith(x_of_soc(soc43)))
    s_of = ", ".join(f"{s:g}" for s in MAP_SOC)
    r25_8 = r_int_cm2(25.0) + r_d_cm2(x_of_soc(0.8), 25.0)
    dis_top = float(dmap.max())
    mid = d["mid"]
    r10 = (d["r0"][:, mid] + d["r1"][:, mid] + d["r2"][:, mid]) * 1e3

    def m(t, s):
        return f"{at(t, s):.1f}"

    return f"""# GENERATED by `python -m tests.tools.assb_si`: edit the script, not this. Self-contained (no `base =`).
# All-solid-state cell with a sulfide electrolyte and NO lithium-metal anode: NMC811 composite
# cathode | argyrodite Li6PS5Cl | carbon-free micro-silicon (the anode of Tan et al., Science 373
# (2021) 1494, doi:10.1126/science.abg7217: 99.9 wt% uSi, no carbon, no SE in the anode, NCM811 full
# cells). The cathode, separator, electrode area and the whole thermal/claim frame are those of
# sulfide-assb.toml (the Li-metal cell, Lee et al., Nature Energy 5 (2020) 299 concept), whose header
# gives the sources of everything kept; the cell file (assb-nmc811-lps-si.toml) derives the cell.
# No commercial cell or data sheet exists; numbers cite their sources or say ASSUMPTION.
# C-rates are per cell (x parallel count in the pack), temperatures in degC, voltages per cell.
#
# What changes with the anode: there is no lithium metal, so no critical current density (CCD) of a
# Li | SE interface. The charge limit on the anode side is now the Si's POTENTIAL: lithium plates
# on the Li-Si (at the SE interface, where the lithiation enters) once that potential falls to 0 V
# vs Li. The Si lithiates at 0.37 -> 0.08 V vs Li over SoC 0 -> 1 (cell file), a buffer Li metal does
# not have; the anode-side resistance (the SE | Li-Si interface R_int and the Li-Si's diffusion
# polarisation R_D, both per cm2 and Arrhenius, cell file) eats it at high current. The plating map
# is that budget divided by that resistance (formula at [charge.map]). With the cell file's numbers
# the Si does not bind the claim's envelope anywhere: at 45-80 C it allows {m(45, 0.1)}-{m(80, 0.1)}C at
# low SoC and {m(45, 0.8)}-{m(80, 0.8)}C at 80 % (the envelope: 3-6C and 1-2.5C). The claim's 10-80 % in
# ~10 minutes then meets the envelope itself (charge_c, the base's) and, nearer full, the voltage
# headroom (the CV limit of 4.11 V, 0.09 V under the Li-metal cell's 4.20 because the Si sits at
# ~0.08-0.37 V) and the heat of a cell with ~35-45 % more R0 than the base.
# CAVEAT: the map scales as 1/(R_int + R_D) and R_int is an ASSUMPTION (10 ohm cm2 at 25 C, no
# measured Li-Si | argyrodite value known to us): at 3x that value the 45 C row's 80 % entry would
# be ~{at(45, 0.8) * (r_int_cm2(45) + r_d_cm2(x_of_soc(0.8), 45)) / (3 * r_int_cm2(45) + r_d_cm2(x_of_soc(0.8), 45)):.1f}C, still above the envelope's 1.0C; from 45 C up the whole anode-side resistance
# could be {robust[0]:.1f}x larger before the Si bound anywhere (first at {robust[1]:g} C, SoC {robust[2]:g}).
# And Tan et al. cycled at ~50 MPa stack pressure; a pack fixture applies less ([stack_pressure] at
# the end: 10 MPa at SoC 0), and the Si breathes ~3x by volume (cell file).

[chemistry]
name = "sulfide-assb-si"
description = "Sulfide ASSB pouch, NMC811 | Li6PS5Cl | carbon-free micro-Si (no Li metal), 5 Ah, literature-built ECM (Tan et al., Science 373 (2021) 1494 anode)"
cell_file = "../cells/assb-nmc811-lps-si.toml"

[abs_max]
# The cathode must stay under ~4.3 V vs Li, where Ni-rich NMC starts to release lattice oxygen
# (Jung et al., J. Electrochem. Soc. 164 (2017) A1361) and oxidises the sulfide (Koerver et al.,
# Chem. Mater. 29 (2017) 5574). With the Si anode the cell voltage is cathode minus Si: on the charge
# branch the cathode reaches 4.30 V at SoC {soc43:.3f} (NMC811 OCP, y = {y43:.3f}), where the Si sits at
# {float(u_lith(x_of_soc(soc43))) * 1e3:.0f} mV: cell {v_abs:.4f} V, rounded down. Under charge current the Si is below its OCP, so the
# cathode is at most cell + {float(u_lith(x_of_soc(soc43))) * 1e3:.0f} mV there: the bound holds.
cell_v = {math.floor(v_abs * 100) / 100:.2f}
# The base's 100 C: 20 K above the 80 C top of the operating window; no measured runaway onset for a
# Si | sulfide cell is known to us (ASSUMPTION, as in the base; no lithium metal to melt at 180 C here).
core_temp_c = 100.0
# ASSUMPTION: no data sheet or cold-storage study; the Li-ion profiles' -20 C floor is kept.
temp_min_c = -20.0

# ---- tiered limits: warning < derate < trip for maxima, reversed for minima ----
# End of charge: the OCV at SoC 1 is {vmax_ocv.min():.3f}-{vmax_ocv.max():.3f} V (-10..80 C): the NMC811 at 4.20 V vs Li (the
# base's end of charge, 0.1 V under the oxygen-release onset) minus the Si at x = 0.8 ({float(u_lith(X1)) * 1e3:.0f} mV). The
# charge voltage 4.11 V (below) sits just under it at every temperature; steps of 20 mV above it
# as in the base, the trip under abs_max.cell_v.
[limits.cell_v_max]
warning = {{ threshold = 4.13, hysteresis = 0.02, debounce_ms = 1000 }}
derate = {{ threshold = 4.15, hysteresis = 0.02, debounce_ms = 500 }}
trip = {{ threshold = 4.17, hysteresis = 0.06, debounce_ms = 500 }}

# The OCV table (charge branch) is {ocv25[0]:.3f} V at SoC 0 (25 C); the real discharge runs on the Si's
# delithiation branch, {float(u_delith(X0) - u_lith(X0)) * 1e3:.0f} mV lower there (Verbrugge et al. 2016; not in the cell model),
# i.e. ~{float(u_nmc(0.908) - u_delith(X0)):.2f} V at rest at SoC 0. Cut-offs for the real cell: trip 2.50 V (ASSUMPTION: the
# lower cut-off usual for Si-anode full cells, cf. the NMC811/graphite profile's 2.50; no single
# source), derate 2.70, warning 2.90; the discharge headroom holds 3.00 V (below). On this model
# (no hysteresis) a discharge reaches SoC 0 at ~3.2 V and never nears them: they guard the real cell.
[limits.cell_v_min]
warning = {{ threshold = 2.90, hysteresis = 0.05, debounce_ms = 1000 }}
derate = {{ threshold = 2.70, hysteresis = 0.05, debounce_ms = 1000 }}
trip = {{ threshold = 2.50, hysteresis = 0.20, debounce_ms = 1000 }}

# Operating window 45-80 C for fast charge: the base's (the claim's premise; the same cathode and
# SE, whose interface degradation sets the 80 C top, ASSUMPTION as in the base); trips at 80 C
# (charge) and 85 C (discharge) core.
[limits.core_temp_max_charge]
warning = {{ threshold = 70.0, hysteresis = 2.0, debounce_ms = 2000 }}
derate = {{ threshold = 75.0, hysteresis = 2.0, debounce_ms = 1000 }}
trip = {{ threshold = 80.0, hysteresis = 5.0, debounce_ms = 1000 }}

[limits.core_temp_max_discharge]
warning = {{ threshold = 75.0, hysteresis = 2.0, debounce_ms = 2000 }}
derate = {{ threshold = 80.0, hysteresis = 2.0, debounce_ms = 1000 }}
trip = {{ threshold = 85.0, hysteresis = 5.0, debounce_ms = 1000 }}

# Surface (thermistor): the core-to-surface resistance is {d["r_cs"]:.3f} K/W (cell file): 2-3 K under the
# core limits, as in the base.
[limits.surface_temp_max_charge]
warning = {{ threshold = 68.0, hysteresis = 2.0, debounce_ms = 2000 }}
derate = {{ threshold = 73.0, hysteresis = 2.0, debounce_ms = 1000 }}
trip = {{ threshold = 78.0, hysteresis = 5.0, debounce_ms = 1000 }}

[limits.surface_temp_max_discharge]
warning = {{ threshold = 72.0, hysteresis = 2.0, debounce_ms = 2000 }}
derate = {{ threshold = 77.0, hysteresis = 2.0, debounce_ms = 1000 }}
trip = {{ threshold = 82.0, hysteresis = 5.0, debounce_ms = 1000 }}

# Charge window: the base's. The claim's envelope (charge_c, kept) is 0 at and below 10 C and slow
# charge at 20-25 C, so below 10 C the CCL is 0 and the pack is preheated (heater_on_below_c). The
# Si alone would allow more there: the plating formula gives {m(10, 0.4)}C at 10 C and {m(25, 0.4)}C at 25 C (SoC 0.4): a
# variant could open the cold rows; this profile keeps the base's frame so the two compare.
[limits.temp_min_charge]
warning = {{ threshold = 30.0, hysteresis = 2.0, debounce_ms = 2000 }}
derate = {{ threshold = 20.0, hysteresis = 2.0, debounce_ms = 2000 }}
trip = {{ threshold = 10.0, hysteresis = 2.0, debounce_ms = 2000 }}

# Discharge: no lithium is stripped from a metal, so the base's stripping-CCD reason (voids at the
# Li | SE interface) is gone; Tan et al. report a "wide operating temperature range" (abstract). The
# Li-ion profiles' window (NMC811/graphite: -10 / -15 / -20 C) is taken (ASSUMPTION); the discharge
# map below derates the cold cell by its resistance.
[limits.temp_min_discharge]
warning = {{ threshold = -10.0, hysteresis = 2.0, debounce_ms = 2000 }}
derate = {{ threshold = -15.0, hysteresis = 2.0, debounce_ms = 2000 }}
trip = {{ threshold = -20.0, hysteresis = 2.0, debounce_ms = 2000 }}

# Charge current: the base's, above the claim's 6C map (the derate threshold caps the CCL).
[limits.charge_c_rate_max]
warning = {{ threshold = 6.2, hysteresis = 0.1, debounce_ms = 1000 }}
derate = {{ threshold = 6.5, hysteresis = 0.1, debounce_ms = 500 }}
trip = {{ threshold = 7.0, hysteresis = 0.5, debounce_ms = 500 }}

# Discharge: the map below tops out at {dis_top:g}C; thresholds above it, warning +0.3C, derate +0.8C, trip
# +1.5C (the base: map top 2.05C, 2.2 / 2.5 / 3.0).
[limits.discharge_c_rate_max]
warning = {{ threshold = {dis_top + 0.3:g}, hysteresis = 0.1, debounce_ms = 1000 }}
derate = {{ threshold = {dis_top + 0.8:g}, hysteresis = 0.1, debounce_ms = 500 }}
trip = {{ threshold = {dis_top + 1.5:g}, hysteresis = 0.2, debounce_ms = 500 }}

# Cell-voltage spread: the base's (automotive practice, Plett, Battery Management Systems Vol. II,
# ch. 6); the firmware widens it by the SoC imbalance at the OCV's local slope, which the Si makes
# steeper at low SoC (cell file).
[limits.cell_v_spread]
warning = {{ threshold = 0.05, hysteresis = 0.01, debounce_ms = 5000 }}
derate = {{ threshold = 0.10, hysteresis = 0.02, debounce_ms = 5000 }}
trip = {{ threshold = 0.30, hysteresis = 0.05, debounce_ms = 5000 }}

# Stack pressure (MPa; [stack_pressure] below): the base's rules on this fixture's contact model
# (none at {CONTACT_ZERO_MPA:g}, full at {CONTACT_FULL_MPA:g} MPa). Charge: the anode-side cap (the plating map) scales with
# the derate factor, 1 at the derate threshold ({CONTACT_FULL_MPA + 0.1:g} MPa: full contact plus more than the load
# cell's 0.085 MPa worst error) falling to 0 at the trip ({P_TRIP_CHG_MPA:g} MPa): with the trip at or above
# {CONTACT_ZERO_MPA + 0.1:g} MPa the factor stays below the true contact fraction wherever a reading may sit (the base's
# argument); {P_TRIP_CHG_MPA:g} keeps half the contact in hand. Discharge (delithiation opens voids at the Si | SE
# interface) derates from {P_DERATE_DIS_MPA:g} and trips at {P_TRIP_DIS_MPA:g} MPa. Over-pressure: the fixture at SoC 1 and 80 C
# reaches {p_top:.1f} MPa; it derates the charge from {P_DERATE_MAX_MPA:g} MPa and trips at {P_TRIP_MAX_MPA:g}, inside the load cell's
# 0-{LOAD_CELL_FS_MPA:g} MPa span. ASSUMPTIONS throughout (no measured Si | argyrodite cell behind them).
[limits.pressure_min_charge]
warning = {{ threshold = {CONTACT_FULL_MPA + 0.5:g}, hysteresis = 0.1, debounce_ms = 1000 }}
derate = {{ threshold = {CONTACT_FULL_MPA + 0.1:g}, hysteresis = 0.1, debounce_ms = 500 }}
trip = {{ threshold = {P_TRIP_CHG_MPA:g}, hysteresis = 0.5, debounce_ms = 1000 }}

[limits.pressure_min_discharge]
warning = {{ threshold = {P_DERATE_DIS_MPA + 1.0:g}, hysteresis = 0.1, debounce_ms = 1000 }}
derate = {{ threshold = {P_DERATE_DIS_MPA:g}, hysteresis = 0.1, debounce_ms = 1000 }}
trip = {{ threshold = {P_TRIP_DIS_MPA:g}, hysteresis = 0.5, debounce_ms = 1000 }}

[limits.pressure_max]
warning = {{ threshold = {P_DERATE_MAX_MPA - 0.5:g}, hysteresis = 0.1, debounce_ms = 1000 }}
derate = {{ threshold = {P_DERATE_MAX_MPA:g}, hysteresis = 0.1, debounce_ms = 1000 }}
trip = {{ threshold = {P_TRIP_MAX_MPA:g}, hysteresis = 0.5, debounce_ms = 1000 }}

[charge]
# end of charge: just under the OCV at SoC 1 ({vmax_ocv.min():.3f} V at its lowest) at every temperature, so
# the cathode stays <= 4.20 V vs Li and the Si <= x 0.8 (limits.cell_v_max)
cell_v_charge_max_v = 4.11
# above the 2.9 V warning; 3.0 V on the real (delithiation) branch is SoC ~{float(np.interp(3.0, u_nmc(y_of_soc(np.linspace(0, 1, 1001))) - u_delith(x_of_soc(np.linspace(0, 1, 1001))), np.linspace(0, 1, 1001))) * 100:.0f} % at rest
cell_v_discharge_min_v = 3.00
# the base's: a CCS charger follows a new current request at tens of A/s (IEC 61851-23); 0.5 C/s
ramp_c_per_s = 0.5
charge_detect_c = 0.02
# the claim under test: 10-80 %
target_soc = 0.80
resume_soc = 0.78
# The base's thermal frame (the claim's envelope needs >= 45 C): heat below 45 C, stop at 55 C; cool
# above 70 C, 10 K under the charge trip. ASSUMPTION as in the base: no lifetime data for a sulfide
# cell held at 45-70 C is known to us (Lee et al. 2020 cycled theirs at 60 C).
heater_on_below_c = 45.0
heater_off_above_c = 55.0
cooling_on_above_c = 70.0
cooling_off_below_c = 65.0
# A fast charge announced: heat to 65 C, again below 60 C, where the claim's map allows 5-6C (the
# Si's plating formula {m(60, 0.1)}-{m(70, 0.1)}C at SoC 0.1 there: not binding)
precondition_on_below_c = 60.0
precondition_off_above_c = 65.0

# C-rate maps over [temp_c][soc] (the base's grid).
# plating_c, from the anode potential (cell file for every term): charging at C-rate c, the Si at
#   the SE interface sits at
#     phi = U_Si(x) - c I_1C (R_int(T) + R_D(x, T)),   x = {X0:g} + {X1 - X0:g} SoC, I_1C = 3.0 mA/cm2
#   (U_Si: Verbrugge et al. 2016 lithiation branch; R_int = 10 ohm cm2 x exp(35 kJ/mol / R (1/T -
#   1/298.15 K)) the SE | Li-Si interface, ASSUMPTION; R_D = |dU_Si/dx| L0 lam^3 / (3 F D(x, T) c0)
#   the Li-Si layer's steady diffusion polarisation, its full value: a charge lasts many of its
#   {float(d["tau_slow"][d["row25"], mid]):.0f} s time constants (25 C, mid SoC), all in ohm cm2). Keeping phi >= MARGIN:
#     plating_c(T, SoC) = (U_Si(x) - MARGIN) / (I_1C (R_int(T) + R_D(x, T)))
#   MARGIN = 50 mV (ASSUMPTION): plating starts at 0 V; 50 mV also keeps the interface above the
#   ~30 mV at which crystalline Li15Si4 forms (Hatchard & Dahn 2004) and absorbs the linear-R
#   simplification (a Butler-Volmer interface polarises less than R_int I at these currents) and
#   the firmware's interpolation. Each breakpoint is the minimum of the formula over its two
#   neighbouring SoC intervals (so the interpolation in SoC never exceeds it), floored to 0.01C;
#   between temperature rows the interpolated map overshoots the convex Arrhenius (by up to ~15 %
#   over -10..10 C), which the margin absorbs: the lowest Si potential the interpolated map allows
#   (every SoC, 0.5 K steps) is {worst[0]:.1f} mV vs Li over -10..80 C (at {worst[1]:g} C, SoC {worst[2]:.2f}),
#   {worst10[0]:.1f} mV over 10..80 C, and {worstccl[0]:.1f} mV under the CCL the firmware takes (the smaller of this
#   map and charge_c): above 0 V everywhere, above the margin wherever the charge can run.
#   At SoC 0.1 / 0.4 / 0.8 / 1.0 the formula gives {m(25, 0.1)} / {m(25, 0.4)} / {m(25, 0.8)} / {m(25, 1.0)}C at 25 C, {m(45, 0.1)} / {m(45, 0.4)} / {m(45, 0.8)} / {m(45, 1.0)}C at 45 C,
#   {m(60, 0.1)} / {m(60, 0.4)} / {m(60, 0.8)} / {m(60, 1.0)}C at 60 C and {m(70, 0.1)} / {m(70, 0.4)} / {m(70, 0.8)} / {m(70, 1.0)}C at 70 C (the map's entries, the minima over each
#   breakpoint's neighbourhood, are lower: at SoC 0.8 {pl[25.0][6]:g} / {pl[45.0][6]:g} / {pl[60.0][6]:g} / {pl[70.0][6]:g}C): it falls with SoC (the Si's potential
#   approaches the margin: {float(u_lith(X1)) * 1e3:.0f} mV at SoC 1) and rises with temperature (R_int). At 25 C and SoC 0.8
#   the anode side is {r25_8:.1f} ohm cm2, of which R_int {r_int_cm2(25.0):.0f}.
# charge_c: the base's claim's envelope, kept (NOT literature-supported as a whole: 5-6C at low SoC
#   tapering to ~2.5C at 80 % at 60-80 C, 3C at 45 C, slow charge at 20-25 C, 0 below): the physics
#   here does not contradict it: the plating map lies above it at every breakpoint (the cold rows
#   it keeps at 0-0.3C were the Li-metal CCD's; the Si would allow more, see limits.temp_min_charge).
# discharge_c: no stripping limit (no Li metal). ASSUMPTION: the C-rate whose 10 s-class drop
#   I (R0 + R1 + R2) at mid SoC is 0.40 V (the cell file's tables, interpolated in T as the firmware
#   does: {" / ".join(f"{v:.0f}" for v in r10)} mOhm at {"/".join(f"{t:g}" for t in d["temp"])} C), so a mid-SoC
#   cell under it stays above ~3.2 V and the DCL's voltage headroom, not the map, ends a discharge;
#   capped at 5C (the NMC811/graphite profile's automotive peak); flat in SoC, floored to 0.05C.
[charge.map]
soc = [{s_of}]
temp_c = [{", ".join(f"{t:g}" for t in MAP_T)}]
charge_c = [
{rows(np.asarray(CHARGE_C))}
]
plating_c = [
{rows(pmap)}
]
discharge_c = [
{rows(dmap)}
]
{stack_pressure_text(d)}"""


def texts() -> tuple[str, str]:
    """(cell file, chemistry file) as this derives them."""
    d = derive_cell()
    pmap = plating_map()
    dmap = discharge_map(d)
    worst = worst_anode_mv(pmap)
    worst10 = worst_anode_mv(pmap, 10.0)
    worstccl = worst_anode_mv(pmap, cap=np.asarray(CHARGE_C))
    robust = robustness()
    return cell_text(d), chem_text(d, pmap, dmap, worst, worst10, worstccl, robust)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    args = ap.parse_args()
    cell, chem = texts()
    if args.check:
        stale = [
            p.name for p, t in ((CELL_OUT, cell), (CHEM_OUT, chem)) if not p.is_file() or p.read_text() != t
        ]
        print(
            "up to date" if not stale else f"STALE: {', '.join(stale)} (re-run python -m tests.tools.assb_si)"
        )
        return 1 if stale else 0
    CELL_OUT.write_text(cell)
    CHEM_OUT.write_text(chem)
    print(f"wrote {CELL_OUT.relative_to(ROOT)}\nwrote {CHEM_OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
