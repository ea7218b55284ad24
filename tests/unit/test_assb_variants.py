"""The sulfide cell variants (issue 18, part 1): the thin-electrode Li-metal cell is what
tests/tools/assb_thin.py derives, checked here against numbers worked by hand from the base
cell's header (not from the script's own functions), and its chemistry is the base's but for
what the design moves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bms.chemistry import available, load_chemistry
from tests.tools import assb_thin


@pytest.fixture(scope="module")
def pair():
    return load_chemistry("sulfide-assb"), load_chemistry("sulfide-assb-thin")


def test_the_committed_cell_file_is_what_the_script_derives():
    assert assb_thin.OUT.read_text() == assb_thin.derive()


def test_both_variants_are_shipped():
    assert {"sulfide-assb", "sulfide-assb-thin"} <= set(available())


def test_r0_loses_exactly_the_ionic_path_the_thinner_cathode_saves(pair):
    base, thin = (c.cell for c in pair)
    # by hand from the base's header: separator 1.5 ohm cm2, composite 14.6 ohm cm2 at 52.6 um;
    # 5 Ah at 3 mAh/cm2 = 1666.7 cm2, at 1 mAh/cm2 = 5000 cm2 with a 17.53 um cathode
    saved_25 = (1.5 + 14.6) / (5000 / 3) - (1.5 + 14.6 * 17.533 / 52.6) / 5000
    assert saved_25 == pytest.approx(8.386e-3, abs=2e-6)
    for row, t_c in enumerate(base.temp_c):
        arrhenius = math.exp(33.8e3 / 8.314 * (1 / (t_c + 273.15) - 1 / 298.15))
        diff = np.asarray(base.r0_ohm)[row] - np.asarray(thin.r0_ohm)[row]
        assert diff == pytest.approx(saved_25 * arrhenius, rel=1e-4)
    assert np.all(np.asarray(thin.r0_ohm) > 0)
    mid = int(np.argmin(np.abs(np.asarray(thin.soc) - 0.5)))
    r25 = int(np.argmin(np.abs(np.asarray(thin.temp_c) - 25.0)))
    assert thin.r0_ohm[r25, mid] == pytest.approx(5.8e-3, abs=0.1e-3)


def test_what_the_design_does_not_move_is_the_base_cells(pair):
    base, thin = (c.cell for c in pair)
    for name in ("soc", "temp_c", "ocv_v", "r1_ohm", "c1_f", "r2_ohm", "c2_f", "docv_dt_v_per_k"):
        assert np.array_equal(getattr(thin, name), getattr(base, name)), name
    assert (thin.capacity_ah, thin.v_min, thin.v_max, thin.coulombic_eff) == (
        base.capacity_ah,
        base.v_min,
        base.v_max,
        base.coulombic_eff,
    )
    assert thin.thermal.c_surf_j_per_k == base.thermal.c_surf_j_per_k
    assert thin.thermal.r_surf_amb_k_per_w == base.thermal.r_surf_amb_k_per_w


def test_the_thicker_stack_stores_and_holds_more_heat(pair):
    base, thin = (c.cell for c in pair)
    # by hand: per cm2 of the thin stack 0.013928 J/K (layers of the base's header) x 5000 cm2
    # replaces the base's 0.024754 J/K x 1666.7 cm2 in the core node
    expected = base.thermal.c_core_j_per_k - 0.024754 * 1666.7 + 0.013928 * 5000
    assert thin.thermal.c_core_j_per_k == pytest.approx(expected, rel=2e-3)
    # unit cells of 73.4 um x 62.5 against 118.2 um x 20.8: 1.86x the slab
    ratio = (73.4 * 5000) / (118.2 * 5000 / 3)
    got = thin.thermal.r_core_surf_k_per_w / base.thermal.r_core_surf_k_per_w
    assert got == pytest.approx(ratio, rel=2e-3)


def test_the_ccd_allows_three_times_the_c_rate_and_nothing_else_moves(pair):
    base, thin = pair
    mb, mt = base.protection.charge.maps, thin.protection.charge.maps
    # the base's maps are CCD / 3 mAh/cm2 rounded to 0.01 C
    assert np.asarray(mt.plating_c) == pytest.approx(3 * np.asarray(mb.plating_c), abs=0.02)
    assert np.asarray(mt.discharge_c) == pytest.approx(3 * np.asarray(mb.discharge_c), abs=0.02)
    assert np.array_equal(mt.charge_c, mb.charge_c)
    lb, lt = base.protection.limits, thin.protection.limits
    assert set(lb) == set(lt)
    moved = {q for q in lb if lb[q] != lt[q]}
    assert moved == {"discharge_c_rate_max"}
    # the stripping map's top stays under the discharge C-rate warning, as in the base
    assert float(np.max(mt.discharge_c)) < lt["discharge_c_rate_max"].warning.threshold
    assert base.abs_max == thin.abs_max
