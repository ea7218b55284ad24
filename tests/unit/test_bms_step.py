"""native/src/bms.c and config_check.c: one step, hostile inputs, configuration rules."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bms._native import ffi, lib
from bms.chemistry import load_chemistry
from bms.firmware import Firmware, PackLayout, fill_config

HOSTILE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 0.0, -1e30, 1e30]),
)


def _outputs_finite(fw: Firmware) -> bool:
    o = fw.out
    vals = [o.soc_min, o.soc_max, o.soc_mean, o.soc_pack, o.core_temp_max_degc]
    return bool(
        np.all(np.isfinite(vals))
        and np.all(np.isfinite(fw.soc))
        and np.all(np.isfinite(fw.core_temp_degc))
        and np.all(np.isfinite(fw.v_pred_v))
    )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(HOSTILE, st.lists(HOSTILE, min_size=4, max_size=4), HOSTILE, st.integers(0, 5_000_000)),
        min_size=1,
        max_size=30,
    )
)
def test_hostile_measurements_never_make_nan_outputs(lgm50, samples):
    fw = Firmware(lgm50, PackLayout(4, (0, 3)))
    fw.step_arrays(0, 1.0, np.full(4, 3.7), np.array([25.0, 25.0]))
    for cur, volts, temp, dt in samples:
        out = fw.step_arrays(
            dt, cur, np.array(volts, dtype=np.float32), np.array([temp, 25.0], dtype=np.float32)
        )
        assert _outputs_finite(fw)
        assert 0.0 <= out.soc_min <= out.soc_max <= 1.0
        assert out.status & lib.BMS_ST_INITIALISED


def test_invalid_inputs_are_flagged_and_state_held(lgm50):
    fw = Firmware(lgm50, PackLayout(2, (0,)))
    fw.step_arrays(0, 2.0, np.array([3.8, 3.8]), np.array([25.0]))
    soc = np.array(fw.soc)
    out = fw.step_arrays(1000, float("inf"), np.array([3.8, 3.8]), np.array([25.0]))
    assert out.status & lib.BMS_ST_CURRENT_INVALID
    assert np.array_equal(np.array(fw.soc), soc)
    out = fw.step_arrays(0, 2.0, np.array([3.8, 3.8]), np.array([25.0]))
    assert out.status & lib.BMS_ST_DT_INVALID
    out = fw.step_arrays(1000, 2.0, np.array([3.8, 3.8]), np.array([float("nan")]))
    assert out.status & lib.BMS_ST_TEMP_INVALID
    assert np.all(np.isfinite(fw.core_temp_degc))
    out = fw.step_arrays(1000, 2.0, np.array([3.8, 99.0]), np.array([25.0]))
    assert out.status & lib.BMS_ST_VOLTAGE_INVALID


def test_waits_for_a_usable_first_sample(lgm50):
    fw = Firmware(lgm50, PackLayout(1, (0,)))
    out = fw.step_arrays(0, float("nan"), np.array([3.7]), np.array([25.0]))
    assert not out.status & lib.BMS_ST_INITIALISED
    out = fw.step_arrays(100, 1.0, np.array([float("nan")]), np.array([25.0]))
    assert not out.status & lib.BMS_ST_INITIALISED
    out = fw.step_arrays(100, 1.0, np.array([3.7]), np.array([25.0]))
    assert out.status & lib.BMS_ST_INITIALISED


def test_reset_reseeds_from_the_next_sample(lgm50):
    fw = Firmware(lgm50, PackLayout(1, (0,)))
    fw.step_arrays(0, 0.0, np.array([3.5]), np.array([25.0]))
    low = float(fw.soc[0])
    fw.reset()
    fw.step_arrays(0, 0.0, np.array([4.1]), np.array([25.0]))
    assert fw.soc[0] > low + 0.3
    # the seed is the OCV inverse of the rested voltage
    ocv = np.interp(fw.soc[0], lgm50.soc, lgm50.ocv_v[1])
    assert ocv == pytest.approx(4.1, abs=1e-3)


def test_pack_aggregates(lgm50):
    fw = Firmware(lgm50, PackLayout(3, (1,)))
    out = fw.step_arrays(0, 0.0, np.array([3.6, 3.8, 4.0]), np.array([25.0]))
    soc = np.array(fw.soc)
    assert out.soc_min == pytest.approx(soc.min())
    assert out.soc_max == pytest.approx(soc.max())
    assert out.soc_mean == pytest.approx(soc.mean(), rel=1e-6)
    # display SoC: 0 when the weakest cell is empty, 1 when the strongest is full
    assert out.soc_pack == pytest.approx(soc.min() / (soc.min() + 1 - soc.max()), rel=1e-5)


def _cfg(cell, n_cells=2, sensors=(0,)):
    cfg = ffi.new("bms_config_t *")
    fill_config(cfg, cell, PackLayout(n_cells, sensors))
    return cfg


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda c: setattr(c.pack, "n_cells", 0), "BMS_CFG_E_N_CELLS"),
        (lambda c: setattr(c.pack, "n_cells", 193), "BMS_CFG_E_N_CELLS"),
        (lambda c: setattr(c.pack, "current_range_a", 0.0), "BMS_CFG_E_CURRENT_RANGE"),
        (lambda c: c.pack.temp_sensor_cell.__setitem__(0, 5), "BMS_CFG_E_SENSOR_CELL"),
        (lambda c: setattr(c.cell, "n_soc", 1), "BMS_CFG_E_TABLE_SHAPE"),
        (lambda c: setattr(c.cell, "n_temp", 7), "BMS_CFG_E_TABLE_SHAPE"),
        (lambda c: c.cell.soc_bp.__setitem__(3, 0.0), "BMS_CFG_E_SOC_BP"),
        (lambda c: c.cell.temp_bp_degc.__setitem__(1, -100.0), "BMS_CFG_E_TEMP_BP"),
        (lambda c: c.cell.ocv_v[0].__setitem__(5, 2.0), "BMS_CFG_E_OCV"),
        (lambda c: c.cell.ocv_v[1].__setitem__(5, float("nan")), "BMS_CFG_E_OCV"),
        (lambda c: c.cell.r0_ohm[0].__setitem__(2, -0.01), "BMS_CFG_E_RESISTANCE"),
        (lambda c: c.cell.r1_ohm[0].__setitem__(2, 0.0), "BMS_CFG_E_RESISTANCE"),
        (lambda c: c.cell.c2_f[2].__setitem__(2, 0.0), "BMS_CFG_E_CAPACITANCE"),
        (lambda c: setattr(c.cell, "capacity_ah", 0.0), "BMS_CFG_E_CAPACITY"),
        (lambda c: setattr(c.cell, "coulombic_eff", 1.01), "BMS_CFG_E_COULOMBIC"),
        (lambda c: setattr(c.thermal, "r_core_surf_k_per_w", 0.0), "BMS_CFG_E_THERMAL"),
        (lambda c: setattr(c.est, "voltage_noise_v", -1.0), "BMS_CFG_E_ESTIMATOR"),
        (lambda c: setattr(c.est, "temp_noise_degc", 0.0), "BMS_CFG_E_ESTIMATOR"),
        (lambda c: c.cell.docv_dt_v_per_k.__setitem__(0, float("inf")), "BMS_CFG_E_ENTROPIC"),
        (lambda c: setattr(c.limits.q[0].derate, "threshold", 99.0), "BMS_CFG_E_LIMIT_ORDER"),
        (lambda c: setattr(c.limits.q[6].trip, "threshold", 50.0), "BMS_CFG_E_LIMIT_ORDER"),
        (lambda c: setattr(c.limits.q[3].warning, "hysteresis", -1.0), "BMS_CFG_E_LIMIT_VALUE"),
        (lambda c: setattr(c.limits.q[3].warning, "threshold", float("nan")), "BMS_CFG_E_LIMIT_VALUE"),
        (lambda c: setattr(c.plaus, "open_wire_v", 9.0), "BMS_CFG_E_PLAUS"),
        (lambda c: setattr(c.plaus, "ntc_open_below_degc", 0.0), "BMS_CFG_E_PLAUS"),
        (lambda c: setattr(c.contactor, "precharge_ratio", 1.5), "BMS_CFG_E_CONTACTOR"),
        (lambda c: setattr(c.contactor, "emergency_mask", 1 << lib.BMS_N_FAULTS), "BMS_CFG_E_CONTACTOR"),
        (lambda c: setattr(c.charge, "n_soc", 13), "BMS_CFG_E_MAP_SHAPE"),
        (lambda c: c.charge.temp_bp_degc.__setitem__(1, -99.0), "BMS_CFG_E_MAP_SHAPE"),
        (lambda c: c.charge.plating_c[0].__setitem__(1, -0.5), "BMS_CFG_E_MAP_VALUE"),
        (lambda c: setattr(c.charge, "cell_v_charge_max_v", 9.0), "BMS_CFG_E_CHARGE"),
        (lambda c: setattr(c.charge, "charge_resume_soc", 1.0), "BMS_CFG_E_CHARGE"),
    ],
)
def test_config_check_names_the_broken_rule(lgm50, mutate, code):
    cfg = _cfg(lgm50)
    assert lib.bms_config_check(cfg) == lib.BMS_CFG_OK
    mutate(cfg)
    assert lib.bms_config_check(cfg) == getattr(lib, code)
    inst = ffi.new("bms_t *")
    assert lib.bms_init(inst, cfg) == lib.BMS_E_CONFIG
    out = ffi.new("bms_out_t *")
    meas = ffi.new("bms_meas_t *")
    assert lib.bms_step(inst, meas, 100, out) == lib.BMS_E_NOT_INIT


def test_batch_equals_single_steps_bit_for_bit(lgm50):
    from bms.bench import synthetic_pack_log

    log = synthetic_pack_log(lgm50, 8, 500)
    layout = PackLayout(8, log["sensors"])
    a = Firmware(lgm50, layout).run_batch(log["dt_ms"], log["current_a"], log["cell_v"], log["temp_degc"])
    fw = Firmware(lgm50, layout)
    for k in range(500):
        fw.step_arrays(
            int(log["dt_ms"][k]),
            float(np.float32(log["current_a"][k])),
            log["cell_v"][k],
            log["temp_degc"][k],
        )
        assert np.array_equal(np.array(fw.soc), a["soc"][k])
        assert np.array_equal(np.array(fw.core_temp_degc), a["core_temp_degc"][k])


def test_bms_init_from_the_instances_own_configuration(lgm50):
    """bms_init(inst, &inst->cfg) (the HIL node's CONFIG writes the configuration in place):
    the same instance, byte for byte, as one initialised from a separate copy, before and
    after a step; a broken configuration in place is refused as one passed from outside."""
    cfg = _cfg(lgm50, n_cells=4, sensors=(0, 3))
    copied = ffi.new("bms_t *")
    in_place = ffi.new("bms_t *")
    assert lib.bms_init(copied, cfg) == lib.BMS_OK
    in_place.cfg = cfg[0]
    assert lib.bms_init(in_place, ffi.addressof(in_place, "cfg")) == lib.BMS_OK
    assert in_place.configured == 1
    assert bytes(ffi.buffer(in_place)) == bytes(ffi.buffer(copied))
    meas = ffi.new("bms_meas_t *")
    meas.pack_current_a = 2.0
    for i in range(4):
        meas.cell_v[i] = 3.7 + 0.01 * i
    meas.temp_degc[0] = meas.temp_degc[1] = meas.ambient_degc = 25.0
    meas.pack_v = meas.bus_v = 14.86
    outs = [ffi.new("bms_out_t *"), ffi.new("bms_out_t *")]
    for inst, out in zip((copied, in_place), outs, strict=True):
        assert lib.bms_step(inst, meas, 100, out) == lib.BMS_OK
    assert bytes(ffi.buffer(outs[0])) == bytes(ffi.buffer(outs[1]))
    assert bytes(ffi.buffer(in_place)) == bytes(ffi.buffer(copied))
    in_place.cfg.pack.n_cells = 0
    assert lib.bms_init(in_place, ffi.addressof(in_place, "cfg")) == lib.BMS_E_CONFIG
    assert in_place.configured == 0


@pytest.mark.parametrize(
    ("fast_charge_in_s", "announced"),
    [(float("nan"), False), (float("inf"), False), (float("-inf"), False), (-1.0, False), (-0.0, True),
     (0.0, True), (1200.0, True), (1e30, True)],
)  # fmt: skip
def test_a_fast_charge_is_announced_only_by_a_finite_time_ahead(fast_charge_in_s, announced):
    """Preconditioning: a finite, non-negative time announces the charge (status bit, heater to
    charge.precond_*); NaN, inf or a negative time is no announcement, whatever else comes."""
    chem = load_chemistry("sulfide-assb")
    fw = Firmware(chem.cell, PackLayout(2, (0, 1)), chem.protection)
    pre = chem.protection.charge
    # between the heater's band and the preconditioning's: only an announcement heats
    t = 0.5 * (pre.heater_off_above_c + pre.precondition_on_below_c)
    assert pre.heater_off_above_c < t < pre.precondition_on_below_c
    for _ in range(3):
        out = fw.step_arrays(
            100, 0.0, np.full(2, 3.9), np.full(2, t), ambient_degc=t, fast_charge_in_s=fast_charge_in_s
        )
    assert bool(out.status & lib.BMS_ST_PRECONDITIONING) == announced
    assert out.heater_request == (1 if announced else 0)
