"""Edges of the core modules that no closed-loop run reaches in its minutes: time counters at
the end of their 32 bits saturate instead of wrapping (a wrapped counter would re-arm a
timeout or a staleness check from zero), the math helpers on their other branch (checked
against Python's float64 math), quantity ids past the table, a one-point table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bms._native import ffi, lib
from bms.protection import QUANTITIES
from tests.unit.test_plausibility import Plaus

U32_MAX = 0xFFFFFFFF


def test_the_contactor_state_timer_saturates_at_its_32_bits():
    c = ffi.new("bms_contactor_t *")
    lib.bms_contactor_reset(c)
    p = ffi.new("bms_contactor_params_t *")
    p.precharge_timeout_ms = 5000
    p.opening_timeout_ms = 1000
    p.precharge_ratio = 0.95
    c.state_ms = U32_MAX - 50
    lib.bms_contactor_step(c, p, 100, 400.0, 0.0, 0.0, 0)
    assert c.state_ms == U32_MAX
    lib.bms_contactor_step(c, p, 100, 400.0, 0.0, 0.0, 0)
    assert c.state_ms == U32_MAX
    assert c.state == lib.BMS_CONTACTOR_OPEN  # nothing happens on the saturated count


def test_the_staleness_timer_saturates_at_its_32_bits():
    pl = Plaus()
    pl.check()
    pl.st.stale_ms = U32_MAX - 50
    r = pl.check(new_sample=False)
    assert pl.st.stale_ms == U32_MAX and r.stale.present
    r = pl.check(new_sample=False)
    assert pl.st.stale_ms == U32_MAX and r.stale.value == float(np.float32(U32_MAX))


def test_quantity_ids_past_the_table_are_no_maximum():
    for q, (_, is_max) in enumerate(QUANTITIES):
        assert lib.bms_safety_is_max(q) == int(is_max)
    assert lib.bms_safety_is_max(len(QUANTITIES)) == 0
    assert lib.bms_safety_is_max(U32_MAX) == 0


@pytest.mark.parametrize("x", [-20.0, -3.0, -0.35, -0.3499, -1e-6, 0.0, 1e-6, 0.3499, 0.35, 2.0, 10.0])
def test_expm1_on_both_branches_against_float64(x):
    got = lib.bms_expm1f(x)
    want = math.expm1(float(np.float32(x)))
    assert abs(got - want) <= 2e-6 * max(abs(want), 1e-30) + 1e-12, (x, got, want)


def test_a_one_point_table_locates_its_only_point():
    bp = ffi.new("float[]", [3.0])
    y = ffi.new("float[]", [7.5])
    idx, w = ffi.new("uint32_t *"), ffi.new("float *")
    for x in (-1.0, 3.0, 99.0, float("nan")):
        lib.bms_interp_locate(bp, 1, x, idx, w)
        assert (idx[0], w[0]) == (0, 0.0)
        assert lib.bms_lerp_at(y, idx[0], w[0], 1) == 7.5


@pytest.mark.parametrize("r_step", [0.0, -1.0, float("nan")])
def test_a_cell_with_no_step_resistance_gets_a_finite_headroom(r_step):
    # a cell whose model gives no resistance (none configured at that point) is judged with
    # 1 micro-ohm: a finite, very large headroom, never a division by zero or a NaN limit
    from bms.firmware import PackLayout, fill_config
    from tests.synthetic import TruthCell

    cfg = ffi.new("bms_config_t *")
    fill_config(cfg, TruthCell().cell_model(), PackLayout(1, (0,)))
    acc = ffi.new("bms_limit_acc_t *")
    lib.bms_limit_acc_init(acc)
    cell = ffi.new("bms_limit_cell_t *", {"soc": 0.5, "core_temp_degc": 25.0, "ocv_v": 3.7, "v_rc_v": 0.0})
    cell.r_step_ohm = r_step
    lib.bms_limit_acc_headroom(acc, cfg, cell)
    want = np.float32(np.float32(cfg.charge.cell_v_charge_max_v) - np.float32(3.7)) / np.float32(1e-6)
    assert acc.headroom_chg_a == pytest.approx(float(want), rel=1e-6)
    assert math.isfinite(acc.headroom_dis_a) and acc.r_step_max_ohm == pytest.approx(1e-6)
