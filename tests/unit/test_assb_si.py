"""Checks of the Si cell and chemistry files against an INDEPENDENT computation: the published
formulas retyped here (NMC811 OCP of Chen 2020, Si lithiation OCP of Verbrugge 2016 as in PyBaMM,
the DFT diffusivities, the stated assumptions), the base files read as plain TOML. Nothing is
imported from the generator (tests/tools/assb_si.py) and no expected value is read from the files
under test.

"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[2] / "bms" / "data"
CELL = DATA / "cells" / "assb-nmc811-lps-si.toml"
CHEM = DATA / "chemistries" / "sulfide-assb-si.toml"
BASE_CELL = DATA / "cells" / "assb-nmc811-lps-agc.toml"
BASE_CHEM = DATA / "chemistries" / "sulfide-assb.toml"

# ---- the stated design, retyped ----
FARADAY = 96485.33
RGAS = 8.314
X_SOC0, X_SOC1 = 0.10, 0.80  # Si Li fraction at SoC 0 / 1
Q_CATHODE = 3.0  # mAh/cm2
AREA = 5000.0 / Q_CATHODE  # cm2
I1C = Q_CATHODE / 1000.0  # A/cm2
MARGIN = 0.050  # V
RINT25 = 10.0  # ohm cm2
EA = 35000.0  # J/mol


def verbrugge_lith(x):
    # PyBaMM silicon_ocp_lithiation_Mark2016, Horner form written out
    x = np.asarray(x, dtype=float)
    c = [0.8633, -9.286, 62.99, -232.8, 489.9, -587.6, 372.6, -96.63]  # x^0 .. x^7
    return sum(ck * x**k for k, ck in enumerate(c))


def verbrugge_lith_slope(x, h=1e-6):
    return (verbrugge_lith(np.asarray(x) + h) - verbrugge_lith(np.asarray(x) - h)) / (2 * h)


def chen_nmc(y):
    y = np.asarray(y, dtype=float)
    return (
        -0.8090 * y
        + 4.4875
        - 0.0428 * np.tanh(18.5138 * (y - 0.5542))
        - 17.7326 * np.tanh(15.7890 * (y - 0.3117))
        + 17.5842 * np.tanh(15.9308 * (y - 0.3120))
    )


def x_si(soc):
    return X_SOC0 + (X_SOC1 - X_SOC0) * np.asarray(soc, dtype=float)


def kT(t_c):
    """rate factor relative to 25 C"""
    return np.exp(-EA / RGAS * (1.0 / (np.asarray(t_c, dtype=float) + 273.15) - 1.0 / 298.15))


def rint(t_c):
    return RINT25 / kT(t_c)


def slab(x, t_c):
    """dense Li-Si slab, 1-D swelling: (R_D ohm cm2 = |U'| L0 lam^3 / (3 F D c0), L0^2 lam^3 / D s)"""
    q_si = Q_CATHODE / (X_SOC1 - X_SOC0)  # mAh/cm2
    si_g = q_si / 3579.0
    l0 = si_g / 2.329 / 100.0  # m
    c0 = si_g / 28.0855 * 3.75 / (l0 * 1e-4)  # mol Li per m3 of Si: (mol/cm2) / (m x m2/cm2)
    v_si = 28.0855 / 2.329 / 6.02214e23 * 1e24  # A3 per Si atom
    beta = 10.685**3 / 16.0 / v_si - 1.0  # Li15Si4: a = 10.685 A, 16 Si per cell
    lam = 1.0 + beta * np.asarray(x, dtype=float)
    xli = np.clip(3.75 * np.asarray(x, dtype=float), 1.0, 3.75)
    d = np.exp(np.log(2.08e-13) + (xli - 1.0) / 2.75 * np.log(3.53e-11 / 2.08e-13)) * kT(t_c)
    r = np.abs(verbrugge_lith_slope(x)) * l0 * lam**3 / (3 * FARADAY * d * c0) * 1e4
    return r, l0**2 * lam**3 / d


def rdiff(x, t_c):
    return slab(x, t_c)[0]


def plating_formula(t_c, soc):
    x = x_si(soc)
    return np.maximum(0.0, (verbrugge_lith(x) - MARGIN) / (I1C * (rint(t_c) + rdiff(x, t_c))))


def load(p):
    with open(p, "rb") as f:
        return tomllib.load(f)


@pytest.fixture(scope="module")
def cell():
    return load(CELL)


@pytest.fixture(scope="module")
def base():
    return load(BASE_CELL)


@pytest.fixture(scope="module")
def chem():
    return load(CHEM)


def arr(d, k):
    return np.asarray(d["tables"][k], dtype=float)


# ---------------- the cell ----------------


def test_self_contained(cell, chem):
    assert "base" not in cell and "base" not in chem
    assert chem["chemistry"]["cell_file"] == "../cells/assb-nmc811-lps-si.toml"


def test_grids_are_the_bases(cell, base):
    assert cell["tables"]["soc"] == pytest.approx(base["tables"]["soc"])
    assert cell["tables"]["temp_c"] == pytest.approx(base["tables"]["temp_c"])
    assert cell["cell"]["capacity_ah"] == 5.0


def test_ocv_is_cathode_minus_si(cell, base):
    soc = arr(cell, "soc")
    ocv = arr(cell, "ocv_v")
    # identity against the base's cathode table at every point
    np.testing.assert_allclose(ocv + verbrugge_lith(x_si(soc))[None, :], arr(base, "ocv_v"), atol=2e-5)
    # and against the published functions directly at 25 C (row 2), a few points
    row = list(cell["tables"]["temp_c"]).index(25.0)
    for s in (0.0, 0.25, 0.5, 0.8, 1.0):
        k = int(np.argmin(np.abs(soc - s)))
        want = float(chen_nmc(0.908 - 0.603 * soc[k]) - verbrugge_lith(x_si(soc[k])))
        assert ocv[row, k] == pytest.approx(want, abs=1.0e-3), s
    # window
    assert ocv[row, 0] == pytest.approx(3.5617 - 0.3753, abs=2e-3)
    assert ocv[row, -1] == pytest.approx(4.1996 - 0.0828, abs=2e-3)
    assert cell["cell"]["v_min"] == pytest.approx(ocv[row, 0], abs=1e-4)
    assert cell["cell"]["v_max"] == pytest.approx(ocv[row, -1], abs=1e-4)
    assert np.all(np.diff(ocv, axis=1) > 0)


def test_entropic_is_the_cathodes(cell, base):
    np.testing.assert_allclose(
        cell["tables"]["docv_dt_v_per_k"], base["tables"]["docv_dt_v_per_k"], rtol=1e-5
    )


def test_r0_is_base_plus_interface(cell, base):
    t = arr(cell, "temp_c")
    want = arr(base, "r0_ohm") + (rint(t) / AREA)[:, None]
    np.testing.assert_allclose(arr(cell, "r0_ohm"), want, rtol=2e-5)
    # spot values: 25 C mid SoC ~20.2 mOhm, 60 C ~5.5 mOhm
    mid = list(cell["tables"]["soc"]).index(0.5)
    assert arr(cell, "r0_ohm")[list(t).index(25.0), mid] == pytest.approx(0.01422 + 0.006, rel=3e-3)


def test_rc_branches_add_the_si_diffusion(cell, base):
    t = arr(cell, "temp_c")
    x = x_si(arr(cell, "soc"))
    rd_cell = rdiff(x[None, :], t[:, None]) / AREA
    # the steady polarisation adds up
    np.testing.assert_allclose(
        arr(cell, "r1_ohm") + arr(cell, "r2_ohm"),
        arr(base, "r1_ohm") + arr(base, "r2_ohm") + rd_cell,
        rtol=1e-3,
    )
    # the first Foster term of the slab (6/pi^2) joins the slow branch
    np.testing.assert_allclose(arr(cell, "r2_ohm") - arr(base, "r2_ohm"), 6 / math.pi**2 * rd_cell, rtol=1e-3)
    # sum of R*tau conserved: the base's plus the slab's, sum_n R_n tau_n = R_D L0^2 lam^3 / (15 D)
    # (R_n = 6/(n^2 pi^2) R_D, tau_n = L0^2 lam^3/(n^2 pi^2 D), sum 1/n^4 = pi^4/90)
    rd, l2d = slab(x[None, :], t[:, None])
    rt = lambda d, i: arr(d, f"r{i}_ohm") ** 2 * arr(d, f"c{i}_f")  # noqa: E731  R * tau
    np.testing.assert_allclose(
        rt(cell, 1) + rt(cell, 2), rt(base, 1) + rt(base, 2) + rd / AREA * l2d / 15.0, rtol=1e-3
    )


# ---------------- the chemistry ----------------


def test_charge_map_is_the_bases_envelope(chem):
    b = load(BASE_CHEM)["charge"]["map"]
    m = chem["charge"]["map"]
    assert m["soc"] == b["soc"] and m["temp_c"] == b["temp_c"]
    np.testing.assert_allclose(m["charge_c"], b["charge_c"])


def test_plating_map_recomputed_from_the_anode_potential(chem):
    m = chem["charge"]["map"]
    soc, temps = np.asarray(m["soc"]), np.asarray(m["temp_c"])
    got = np.asarray(m["plating_c"])
    for j, t in enumerate(temps):
        for k in range(len(soc)):
            lo, hi = soc[max(k - 1, 0)], soc[min(k + 1, len(soc) - 1)]
            s = np.linspace(lo, hi, 2001)
            want = float(np.min(plating_formula(t, s)))
            # floored to 0.01C: never above the physics, at most 0.01 below (this file retypes the
            # constants: 3579 mAh/g vs 3.75 Li/Si differ by 1e-4, hence the relative slack)
            assert got[j, k] <= want * (1 + 5e-4) + 1e-9, (t, soc[k])
            assert got[j, k] >= want * (1 - 5e-4) - 0.0105, (t, soc[k])
            # never above the formula at its own breakpoint either
            assert got[j, k] <= float(plating_formula(t, soc[k])) * (1 + 5e-4) + 1e-9


def test_plating_spot_values(chem):
    m = chem["charge"]["map"]
    temps, soc = list(m["temp_c"]), list(m["soc"])
    p = np.asarray(m["plating_c"])
    # hand-checkable point: 25 C, SoC 0.9 -> x 0.73, U 0.109 V, R = 10 + R_D; the map's SoC 0.8
    # entry is the minimum over [0.7, 0.9], i.e. this value (the limit falls with SoC)
    x = 0.73
    u = float(verbrugge_lith(x))
    assert u == pytest.approx(0.109, abs=2e-3)
    c = (u - 0.05) / (0.003 * (10.0 + float(rdiff(x, 25.0))))
    assert 1.7 < c < 1.85
    assert p[temps.index(25.0), soc.index(0.8)] == pytest.approx(c, abs=0.015)
    # 45 C, SoC 0.4 entry: the minimum over [0.2, 0.6], at SoC 0.6 (x 0.52)
    x = 0.52
    c45 = (float(verbrugge_lith(x)) - 0.05) / (
        0.003 * (10.0 * math.exp(-EA / RGAS * (1 / 298.15 - 1 / 318.15)) + float(rdiff(x, 45.0)))
    )
    assert p[temps.index(45.0), soc.index(0.4)] == pytest.approx(c45, abs=0.015)
    # rises with temperature, falls towards full charge
    assert np.all(np.diff(p, axis=0) > 0)
    assert np.all(np.diff(p[:, 1:], axis=1) <= 0)


def _interp(tab, temps, socs, t, s):
    rows = np.array([np.interp(s, socs, r) for r in np.asarray(tab)])
    return float(np.interp(t, temps, rows))


def test_interpolated_map_keeps_si_above_lithium(chem):
    """the firmware interpolates the map bilinearly: the Si must stay above 0 V vs Li everywhere,
    and above the 50 mV margin wherever the CCL (min with charge_c) lets current flow"""
    m = chem["charge"]["map"]
    temps, socs = np.asarray(m["temp_c"]), np.asarray(m["soc"])
    worst_plating, worst_ccl = 1.0, 1.0
    for t in np.arange(-10.0, 80.01, 1.0):
        for s in np.linspace(0.0, 1.0, 101):
            x = x_si(s)
            r = I1C * (rint(t) + rdiff(x, t))
            cp = _interp(m["plating_c"], temps, socs, t, s)
            cc = min(cp, _interp(m["charge_c"], temps, socs, t, s))
            worst_plating = min(worst_plating, float(verbrugge_lith(x) - cp * r))
            worst_ccl = min(worst_ccl, float(verbrugge_lith(x) - cc * r))
    assert worst_plating > 0.0
    assert worst_ccl >= MARGIN - 1e-6


def test_envelope_below_plating_everywhere(chem):
    m = chem["charge"]["map"]
    assert np.all(np.asarray(m["charge_c"]) <= np.asarray(m["plating_c"]))


def test_voltage_limits_consistent(cell, chem):
    ocv = arr(cell, "ocv_v")
    ch = chem["charge"]
    lim = chem["limits"]
    # the CV limit sits under the OCV at SoC 1 at every temperature
    assert ch["cell_v_charge_max_v"] < ocv[:, -1].min()
    assert ch["cell_v_charge_max_v"] < lim["cell_v_max"]["warning"]["threshold"]
    # abs max: the cell voltage at which the cathode reaches 4.30 V vs Li on the charge branch
    lo, hi = 0.15, 0.305
    for _ in range(60):  # bisection on the NMC OCP, decreasing in y
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if chen_nmc(mid) < 4.30 else (mid, hi)
    soc43 = (0.908 - 0.5 * (lo + hi)) / 0.603
    v_abs = 4.30 - float(verbrugge_lith(x_si(soc43)))
    assert chem["abs_max"]["cell_v"] <= v_abs
    assert chem["abs_max"]["cell_v"] > v_abs - 0.02
    assert chem["abs_max"]["cell_v"] > lim["cell_v_max"]["trip"]["threshold"]
    # the cathode is at most 4.20 V vs Li at the CV limit at rest: V + U_Si(x(SoC)) at the SoC where
    # the OCV equals the CV limit
    row = list(cell["tables"]["temp_c"]).index(25.0)
    s_cv = float(np.interp(ch["cell_v_charge_max_v"], ocv[row], arr(cell, "soc")))
    assert ch["cell_v_charge_max_v"] + float(verbrugge_lith(x_si(s_cv))) <= 4.2005


def test_discharge_map_from_sag_budget(cell, chem):
    m = chem["charge"]["map"]
    t_cell = arr(cell, "temp_c")
    mid = list(cell["tables"]["soc"]).index(0.5)
    r10 = (arr(cell, "r0_ohm") + arr(cell, "r1_ohm") + arr(cell, "r2_ohm"))[:, mid]
    for j, t in enumerate(m["temp_c"]):
        want = min(5.0, 0.40 / (5.0 * float(np.interp(t, t_cell, r10))))
        row = np.asarray(m["discharge_c"][j])
        assert np.all(row == row[0])
        assert want - 0.05 - 1e-9 <= row[0] <= want + 1e-9


def test_thermal_from_layers(cell):
    # per cm2: cathode 52.6 um at 0.6*4.75 + 0.3*1.87 g/cm3, separator 30 um at 1.87, Al 6 um,
    # Cu 5 um, Si 3.0/0.7/3579 g; cp 0.75 (solids), 0.90 Al, 0.385 Cu, 0.71 Si
    si_g = 3.0 / 0.7 / 3579.0
    layers = [
        (52.6e-4 * (0.6 * 4.75 + 0.3 * 1.87), 0.75),
        (30e-4 * 1.87, 0.75),
        (6e-4 * 2.70, 0.90),
        (5e-4 * 8.96, 0.385),
        (si_g, 0.71),
    ]
    j_cm2 = sum(g * cp for g, cp in layers)
    stack_j = j_cm2 * AREA
    th = cell["thermal"]
    # core = stack (+ the base's small remainder of its core node), surface = the base's pouch
    assert th["c_surf_j_per_k"] == pytest.approx(2.71724, rel=1e-4)
    assert th["c_core_j_per_k"] == pytest.approx(stack_j, rel=0.05)
    assert th["c_core_j_per_k"] + th["c_surf_j_per_k"] == pytest.approx(40.2, abs=0.3)
    # mass -> specific energy on the discharge (delithiation) branch ~300 Wh/kg
    g_cm2 = sum(g for g, _ in layers)
    base_stack_g = (
        52.6e-4 * (0.6 * 4.75 + 0.3 * 1.87)
        + 30e-4 * 1.87
        + 10e-4 * 1.5
        + 6e-4 * 2.70
        + 5e-4 * 8.96
        + 3.0 / 3860.0
    ) * AREA
    mass = g_cm2 * AREA + 0.10 * base_stack_g
    assert mass == pytest.approx(56.7, abs=0.2)


def test_loads_in_the_bms():
    from bms.chemistry import load_chemistry

    ch = load_chemistry(str(CHEM))
    assert ch.name == "sulfide-assb-si"
    assert ch.cell.capacity_ah == 5.0


def test_the_committed_files_are_what_the_generator_derives():
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "tests.tools.assb_si", "--check"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr
