"""native/src/current_limit.c: CCL/DCL properties (hypothesis) against terms recomputed
independently in Python (scipy interpolation of the chemistry's maps, the headroom
formula, the derate law)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.interpolate import RegularGridInterpolator

from bms._native import ffi, lib
from bms.chemistry import load_chemistry
from bms.firmware import PackLayout, fill_config

CHEM = load_chemistry("nmc811-graphite")
N = 6
CFG = ffi.new("bms_config_t *")
fill_config(CFG, CHEM.cell, PackLayout(N, (0, 5)), CHEM.protection)
CAP = CHEM.cell.capacity_ah
M = CHEM.protection.charge.maps
LIM = CHEM.protection.limits


def low_edge(q: str) -> float:
    """The temperature window closes at a trip's release band: at or below this (min)."""
    return LIM[q].trip.threshold + LIM[q].trip.hysteresis


def high_edge(q: str) -> float:
    """... and at or above this (max)."""
    return LIM[q].trip.threshold - LIM[q].trip.hysteresis


DT = 100
# the highest / lowest measured cell voltage handed to bms_limit_update (set by run/run_dis)
MEAS_MAX: dict[str, float] = {}
MEAS_MIN: dict[str, float] = {}


def interp(table: np.ndarray, soc: float, t: float) -> float:
    f = RegularGridInterpolator((M.temp_c, M.soc), table)
    return float(f([[np.clip(t, M.temp_c[0], M.temp_c[-1]), np.clip(soc, M.soc[0], M.soc[-1])]])[0])


def derate(name: str, v: float) -> float:
    lim = LIM[name]
    d, t = lim.derate.threshold, lim.trip.threshold
    return (
        float(np.clip((t - v) / (t - d), 0.0, 1.0)) if t > d else float(np.clip((v - t) / (d - t), 0.0, 1.0))
    )


cell_st = st.tuples(
    st.floats(0.0, 1.0),  # soc
    st.floats(-5.0, 70.0),  # core temperature
    st.floats(3.2, 4.3),  # ocv
    st.floats(-0.3, 0.3),  # v_rc next
    st.floats(0.005, 0.08),  # r_step
)


def run(
    cells,
    t_min=25.0,
    cell_v_max=3.9,
    charger=float("nan"),
    latched=0,
    closed=1,
    soc_pack=0.5,
    prev_ccl=1e9,
    complete=0,
):
    acc = ffi.new("bms_limit_acc_t *")
    lib.bms_limit_acc_init(acc)
    for soc, tc, ocv, vrc, r in cells:
        c = ffi.new(
            "bms_limit_cell_t *",
            {"soc": soc, "core_temp_degc": tc, "ocv_v": ocv, "v_rc_v": vrc, "r_step_ohm": r},
        )
        lib.bms_limit_acc_cell(acc, CFG, c)
    t_max = max(c[1] for c in cells)
    MEAS_MAX["v"] = cell_v_max
    MEAS_MIN.pop("v", None)
    f_chg = min(
        derate("cell_v_max", cell_v_max),
        derate("core_temp_max_charge", t_max),
        derate("temp_min_charge", t_min),
    )
    pk = ffi.new(
        "bms_limit_pack_t *",
        {
            "capacity_ah": CAP,
            "soc_charge": soc_pack,
            "t_min_degc": t_min,
            "derate_chg": f_chg,
            "derate_chg_src": lib.BMS_LIM_TEMPERATURE,
            "derate_dis": 1.0,
            "derate_dis_src": lib.BMS_LIM_DERATE,
            "charger_max_a": charger,
            "fault_latched": latched,
            "contactors_closed": closed,
            "have_data": 1,
            "cell_v_meas_max": MEAS_MAX.get("v", float("nan")),
            "cell_v_meas_min": MEAS_MIN.get("v", float("nan")),
            "dt_ms": DT,
        },
    )
    s = ffi.new("bms_limit_state_t *")
    lib.bms_limit_reset(s)
    s.ccl_a = prev_ccl
    s.dcl_a = 1e9
    s.charge_complete = complete
    ct = ffi.new("bms_limit_terms_t *")
    dt = ffi.new("bms_limit_terms_t *")
    lib.bms_limit_update(s, CFG, acc, pk, t_max, ct, dt)
    return s, ct, f_chg


def reference_terms(cells, f_chg, charger=float("nan")):
    vmax = CHEM.protection.charge.cell_v_charge_max_v
    cmap = min(CAP * interp(M.charge_c, s, t) for s, t, *_ in cells)
    plat = min(CAP * interp(M.plating_c, s, t) for s, t, *_ in cells)
    head = min(max(0.0, (vmax - (ocv - vrc)) / r) for _, _, ocv, vrc, r in cells)
    # closed on the measurement: no current now, the highest measured cell at cell_v_max
    r_max = max(max(c[4], 1e-6) for c in cells)
    head = min(head, max(0.0, (vmax - MEAS_MAX["v"]) / r_max))
    hw = min(CFG.charge.hw_charge_max_a, LIM["charge_c_rate_max"].derate.threshold * CAP)
    if np.isfinite(charger):
        hw = min(hw, charger)
    return {
        "map": cmap,
        "plating": plat,
        "voltage": head,
        "derate": CFG.charge.hw_charge_max_a * f_chg,
        "hardware": hw,
    }


@settings(max_examples=300, deadline=None)
@given(
    st.lists(cell_st, min_size=1, max_size=N),
    st.floats(1.0, 40.0),
    st.floats(3.0, 4.3),
    st.one_of(st.just(float("nan")), st.floats(0.0, 60.0)),
)
def test_ccl_never_exceeds_any_constraint(cells, t_min, vmax_meas, charger):
    s, _ct, f = run(cells, t_min=t_min, cell_v_max=vmax_meas, charger=charger)
    ref = reference_terms(cells, f, charger)
    window = t_min > low_edge("temp_min_charge") and max(c[1] for c in cells) < (
        high_edge("core_temp_max_charge")
    )
    # float32 volts: the headroom's voltage difference carries ~2 ulp at 4.3 V
    tol = 2 * float(np.spacing(np.float32(4.3))) / min(c[4] for c in cells)
    assert s.ccl_a >= 0.0
    for name, v in ref.items():
        assert s.ccl_a <= v * (1 + 1e-5) + tol, name
    if window:
        # and it is the smallest of them (the ramp does not bind here)
        assert s.ccl_a == pytest.approx(min(ref.values()), rel=1e-5, abs=tol)
    else:
        assert s.ccl_a == 0.0


@settings(max_examples=200, deadline=None)
@given(st.lists(cell_st, min_size=1, max_size=N), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_non_increasing_with_core_temperature_above_the_derate_start(cells, a, b):
    t0 = LIM["core_temp_max_charge"].derate.threshold
    t_trip = high_edge("core_temp_max_charge")
    t1, t2 = sorted((t0 + a * (t_trip + 5 - t0), t0 + b * (t_trip + 5 - t0)))
    c1 = [(s, t1, o, v, r) for s, _, o, v, r in cells]
    c2 = [(s, t2, o, v, r) for s, _, o, v, r in cells]
    assert run(c2)[0].ccl_a <= run(c1)[0].ccl_a + 1e-6


@settings(max_examples=200, deadline=None)
@given(st.lists(cell_st, min_size=1, max_size=N), st.floats(0.0, 0.3), st.floats(0.0, 0.3))
def test_non_increasing_as_the_highest_cell_voltage_rises(cells, a, b):
    lo, hi = sorted((a, b))
    i = max(range(len(cells)), key=lambda k: cells[k][2] - cells[k][3])
    base_v = 4.0

    def raised(dv):
        cs = list(cells)
        s, t, o, v, r = cs[i]
        cs[i] = (s, t, o + dv, v, r)
        return run(cs, cell_v_max=base_v + dv)[0].ccl_a

    assert raised(hi) <= raised(lo) + 1e-6


@given(st.lists(cell_st, min_size=1, max_size=N))
@settings(max_examples=100, deadline=None)
def test_zero_when_latched_open_cold_hot_or_complete(cells):
    assert run(cells, latched=1 << 4)[0].ccl_a == 0.0
    assert run(cells, latched=1 << 4)[0].ccl_limit == lib.BMS_LIM_FAULT
    assert run(cells, closed=0)[0].ccl_a == 0.0
    assert run(cells, t_min=low_edge("temp_min_charge"))[0].ccl_a == 0.0
    hot = [(s, high_edge("core_temp_max_charge"), o, v, r) for s, _, o, v, r in cells]
    assert run(hot)[0].ccl_a == 0.0
    assert run(cells, soc_pack=CHEM.protection.charge.target_soc)[0].ccl_a == 0.0
    assert run(cells, soc_pack=CHEM.protection.charge.resume_soc + 0.005, complete=1)[0].ccl_a == 0.0


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.lists(cell_st, min_size=N, max_size=N), st.floats(0, 1)), min_size=2, max_size=30)
)
def test_increases_never_faster_than_the_ramp_decreases_at_once(seq):
    ramp = CFG.charge.ramp_up_a_per_s * DT / 1000
    prev = 0.0
    for cells, soc_pack in seq:
        assume(soc_pack < CHEM.protection.charge.resume_soc)
        s, _ct, _f = run(cells, prev_ccl=prev, soc_pack=soc_pack)
        target = run(cells, prev_ccl=1e9, soc_pack=soc_pack)[0].ccl_a
        assert s.ccl_a <= prev + ramp + 1e-5
        if target <= prev:
            assert s.ccl_a == pytest.approx(target, abs=1e-6)  # decreases are immediate
        else:
            assert s.ccl_a == pytest.approx(min(target, prev + ramp), rel=1e-6, abs=1e-6)
        prev = s.ccl_a


def test_headroom_alone_gives_the_cv_taper():
    """A cell near the charge voltage: the limit is what keeps the predicted voltage at
    the charge voltage, falling as the cell's open-circuit part rises."""
    vmax = CHEM.protection.charge.cell_v_charge_max_v
    prev = None
    for ocv in np.linspace(4.05, 4.19, 8):
        s, ct, _ = run([(0.5, 30.0, float(ocv), -0.05, 0.02)])
        tol = 2 * float(np.spacing(np.float32(4.3))) / 0.02
        assert ct.headroom_a == pytest.approx(max(0.0, (vmax - (ocv + 0.05)) / 0.02), rel=1e-5, abs=tol)
        if s.ccl_limit == lib.BMS_LIM_VOLTAGE and prev is not None:
            assert s.ccl_a < prev or s.ccl_a == 0.0
        prev = s.ccl_a
    assert s.ccl_limit == lib.BMS_LIM_VOLTAGE


def run_dis(cells, t_min=25.0, cell_v_min=3.6, latched=0, closed=1, prev=1e9, have_data=1):
    acc = ffi.new("bms_limit_acc_t *")
    lib.bms_limit_acc_init(acc)
    for soc, tc, ocv, vrc, r in cells:
        c = ffi.new(
            "bms_limit_cell_t *",
            {"soc": soc, "core_temp_degc": tc, "ocv_v": ocv, "v_rc_v": vrc, "r_step_ohm": r},
        )
        lib.bms_limit_acc_cell(acc, CFG, c)
    t_max = max(c[1] for c in cells)
    MEAS_MIN["v"] = cell_v_min
    MEAS_MAX.pop("v", None)
    f_dis = min(
        derate("cell_v_min", cell_v_min),
        derate("core_temp_max_discharge", t_max),
        derate("temp_min_discharge", t_min),
    )
    pk = ffi.new(
        "bms_limit_pack_t *",
        {
            "capacity_ah": CAP,
            "soc_charge": 0.5,
            "t_min_degc": t_min,
            "derate_chg": 1.0,
            "derate_chg_src": lib.BMS_LIM_TEMPERATURE,
            "derate_dis": f_dis,
            "derate_dis_src": lib.BMS_LIM_COLD,
            "charger_max_a": float("nan"),
            "fault_latched": latched,
            "contactors_closed": closed,
            "have_data": have_data,
            "cell_v_meas_max": MEAS_MAX.get("v", float("nan")),
            "cell_v_meas_min": MEAS_MIN.get("v", float("nan")),
            "dt_ms": DT,
        },
    )
    s = ffi.new("bms_limit_state_t *")
    lib.bms_limit_reset(s)
    s.ccl_a = 1e9
    s.dcl_a = prev
    ct = ffi.new("bms_limit_terms_t *")
    dt = ffi.new("bms_limit_terms_t *")
    lib.bms_limit_update(s, CFG, acc, pk, t_max, ct, dt)
    return s, dt, f_dis


@settings(max_examples=300, deadline=None)
@given(st.lists(cell_st, min_size=1, max_size=N), st.floats(-25.0, 40.0), st.floats(2.4, 4.2))
def test_dcl_never_exceeds_any_constraint(cells, t_min, vmin_meas):
    s, _, f = run_dis(cells, t_min=t_min, cell_v_min=vmin_meas)
    vmin = CHEM.protection.charge.cell_v_discharge_min_v
    ref = {
        "map": min(CAP * interp(M.discharge_c, c[0], c[1]) for c in cells),
        "voltage": min(
            min(max(0.0, (ocv - vrc - vmin) / r) for _, _, ocv, vrc, r in cells),
            max(0.0, (vmin_meas - vmin) / max(c[4] for c in cells)),
        ),
        "derate": CFG.charge.hw_discharge_max_a * f,
        "hardware": min(CFG.charge.hw_discharge_max_a, LIM["discharge_c_rate_max"].derate.threshold * CAP),
    }
    tol = 2 * float(np.spacing(np.float32(4.3))) / min(c[4] for c in cells)
    for name, v in ref.items():
        assert s.dcl_a <= v * (1 + 1e-5) + tol, name
    window = t_min > low_edge("temp_min_discharge") and max(c[1] for c in cells) < (
        high_edge("core_temp_max_discharge")
    )
    if window:
        assert s.dcl_a == pytest.approx(min(ref.values()), rel=1e-5, abs=tol)
    else:
        assert s.dcl_a == 0.0 and s.dcl_limit == lib.BMS_LIM_TEMP_WINDOW


def test_dcl_zero_conditions_and_ramp():
    cells = [(0.6, 25.0, 3.85, 0.0, 0.02)]
    assert run_dis(cells, latched=1)[0].dcl_a == 0.0
    assert run_dis(cells, latched=1)[0].dcl_limit == lib.BMS_LIM_FAULT
    assert run_dis(cells, closed=0)[0].dcl_limit == lib.BMS_LIM_CONTACTOR
    assert run_dis(cells, have_data=0)[0].dcl_limit == lib.BMS_LIM_NO_DATA
    assert run_dis(cells, have_data=0)[0].dcl_a == 0.0
    assert run_dis(cells, t_min=low_edge("temp_min_discharge"))[0].dcl_a == 0.0
    hot = [(0.6, high_edge("core_temp_max_discharge"), 3.85, 0.0, 0.02)]
    assert run_dis(hot)[0].dcl_a == 0.0
    ramp = CFG.charge.ramp_up_a_per_s * DT / 1000
    s, _, _ = run_dis(cells, prev=1.0)
    assert s.dcl_a == pytest.approx(1.0 + ramp) and s.dcl_limit == lib.BMS_LIM_RAMP
    s, _, _ = run_dis([(0.6, 25.0, 3.85, 0.0, 0.02)], t_min=-17.9)  # cold derate band, inside the window
    assert s.dcl_limit == lib.BMS_LIM_COLD  # the source the pack reported for the derate


def test_each_term_is_named_when_it_binds():
    base = [(0.3, 30.0, 3.7, 0.0, 0.01)]
    assert run(base)[0].ccl_limit == lib.BMS_LIM_MAP
    near_cv = [(0.3, 30.0, 4.195, 0.0, 0.01)]
    assert run(near_cv)[0].ccl_limit == lib.BMS_LIM_VOLTAGE
    hot = [(0.3, 53.0, 3.7, 0.0, 0.01)]
    assert run(hot)[0].ccl_limit in (lib.BMS_LIM_TEMPERATURE, lib.BMS_LIM_MAP)
    assert run(base, charger=1.0)[0].ccl_limit == lib.BMS_LIM_HARDWARE
    assert run(base, charger=1.0)[0].ccl_a == pytest.approx(1.0)
    assert run(base, prev_ccl=0.5)[0].ccl_limit == lib.BMS_LIM_RAMP


def test_plating_cap_binds_when_it_is_the_lowest():
    cfg = ffi.new("bms_config_t *")
    ffi.memmove(cfg, CFG, ffi.sizeof("bms_config_t"))
    for k in range(cfg.charge.n_temp):
        for j in range(cfg.charge.n_soc):
            cfg.charge.plating_c[k][j] = 0.1
    acc = ffi.new("bms_limit_acc_t *")
    lib.bms_limit_acc_init(acc)
    for soc in (0.2, 0.5):
        c = ffi.new(
            "bms_limit_cell_t *",
            {"soc": soc, "core_temp_degc": 30.0, "ocv_v": 3.7, "v_rc_v": 0.0, "r_step_ohm": 0.01},
        )
        lib.bms_limit_acc_cell(acc, cfg, c)
    pk = ffi.new(
        "bms_limit_pack_t *",
        {
            "capacity_ah": CAP,
            "soc_charge": 0.4,
            "t_min_degc": 25.0,
            "derate_chg": 1.0,
            "derate_dis": 1.0,
            "charger_max_a": float("nan"),
            "contactors_closed": 1,
            "have_data": 1,
            "cell_v_meas_max": float("nan"),
            "cell_v_meas_min": float("nan"),
            "dt_ms": DT,
        },
    )
    s = ffi.new("bms_limit_state_t *")
    lib.bms_limit_reset(s)
    s.ccl_a = 1e9
    lib.bms_limit_update(
        s, cfg, acc, pk, 30.0, ffi.new("bms_limit_terms_t *"), ffi.new("bms_limit_terms_t *")
    )
    assert s.ccl_limit == lib.BMS_LIM_PLATING and s.ccl_a == pytest.approx(0.1 * CAP, rel=1e-6)
    assert acc.map_dis_a == pytest.approx(
        CAP * min(interp(M.discharge_c, x, 30.0) for x in (0.2, 0.5)), rel=1e-5
    )


def test_two_row_and_one_row_maps_interpolate_like_scipy():
    cfg = ffi.new("bms_config_t *")
    ffi.memmove(cfg, CFG, ffi.sizeof("bms_config_t"))
    cp = cfg.charge
    soc = np.array([0.0, 0.5, 1.0])
    for nt, temps in ((2, [0.0, 40.0]), (1, [20.0])):
        cp.n_soc, cp.n_temp = 3, nt
        table = np.arange(nt * 3, dtype=float).reshape(nt, 3) + 1.0
        for j in range(3):
            cp.soc_bp[j] = soc[j]
        for k in range(nt):
            cp.temp_bp_degc[k] = temps[k]
            for j in range(3):
                cp.charge_c[k][j] = table[k, j]
        for s_, t_ in ((0.25, 10.0), (0.9, 35.0), (0.5, -5.0), (1.2, 80.0)):
            if nt == 1:
                want = np.interp(s_, soc, table[0])
            else:
                f = RegularGridInterpolator((np.array(temps), soc), table)
                want = f([[np.clip(t_, temps[0], temps[-1]), np.clip(s_, 0, 1)]])[0]
            assert lib.bms_limit_map(ffi.addressof(cp), cp.charge_c, s_, t_) == pytest.approx(want, rel=1e-6)


def test_heater_and_cooling_requests_have_hysteresis():
    ch = CHEM.protection.charge
    cells = [(0.5, 20.0, 3.7, 0.0, 0.01)]

    def step(s, t_min, t_max, precondition=0):
        acc = ffi.new("bms_limit_acc_t *")
        lib.bms_limit_acc_init(acc)
        lib.bms_limit_acc_cell(
            acc,
            CFG,
            ffi.new(
                "bms_limit_cell_t *",
                dict(zip(("soc", "core_temp_degc", "ocv_v", "v_rc_v", "r_step_ohm"), cells[0], strict=True)),
            ),
        )
        pk = ffi.new(
            "bms_limit_pack_t *",
            {
                "capacity_ah": CAP,
                "soc_charge": 0.5,
                "t_min_degc": t_min,
                "derate_chg": 1.0,
                "derate_dis": 1.0,
                "charger_max_a": float("nan"),
                "contactors_closed": 1,
                "have_data": 1,
                "precondition": precondition,
                "cell_v_meas_max": float("nan"),
                "cell_v_meas_min": float("nan"),
                "dt_ms": DT,
            },
        )
        lib.bms_limit_update(
            s, CFG, acc, pk, t_max, ffi.new("bms_limit_terms_t *"), ffi.new("bms_limit_terms_t *")
        )
        return s.heater_request, s.cooling_request

    s = ffi.new("bms_limit_state_t *")
    lib.bms_limit_reset(s)
    on, off = ch.heater_on_below_c, ch.heater_off_above_c
    assert step(s, on, 20.0) == (0, 0)  # exactly at the on threshold: not yet below
    assert step(s, on - 0.1, 20.0) == (1, 0)
    assert step(s, off, 20.0) == (1, 0)  # in the band: keeps heating
    assert step(s, off + 0.1, 20.0) == (0, 0)
    assert step(s, 0.5 * (on + off), 20.0) == (0, 0)  # in the band: stays off
    c_on, c_off = ch.cooling_on_above_c, ch.cooling_off_below_c
    assert step(s, 20.0, c_on)[1] == 0
    assert step(s, 20.0, c_on + 0.1)[1] == 1
    assert step(s, 20.0, c_off)[1] == 1
    assert step(s, 20.0, c_off - 0.1)[1] == 0
    assert step(s, 20.0, 0.5 * (c_on + c_off))[1] == 0
    # a fast charge announced: the preconditioning window, with its own hysteresis
    p_on, p_off = ch.precondition_on_below_c, ch.precondition_off_above_c
    assert p_on is not None and p_off is not None and p_on > off
    assert step(s, p_on - 0.1, 20.0) == (0, 0)  # not announced: warm enough for the heater
    assert step(s, p_on, 20.0, 1) == (0, 0)
    assert step(s, p_on - 0.1, 20.0, 1) == (1, 0)
    assert step(s, p_off, 20.0, 1) == (1, 0)
    assert step(s, p_off + 0.1, 20.0, 1) == (0, 0)
    assert step(s, 0.5 * (p_on + p_off), 20.0, 1) == (0, 0)
    step(s, p_on - 0.1, 20.0, 1)
    assert step(s, 0.5 * (p_on + p_off), 20.0, 0) == (0, 0)  # the notice withdrawn: above the heater's off


def test_reset_state_whatever_the_memory_held():
    s = ffi.new("bms_limit_state_t *")
    ffi.memmove(s, b"\x5a" * ffi.sizeof("bms_limit_state_t"), ffi.sizeof("bms_limit_state_t"))
    lib.bms_limit_reset(s)
    assert (s.ccl_a, s.dcl_a, s.charge_complete, s.heater_request, s.cooling_request) == (0.0, 0.0, 0, 0, 0)
    assert s.ccl_limit == s.dcl_limit == lib.BMS_LIM_CONTACTOR
    acc = ffi.new("bms_limit_acc_t *")
    ffi.memmove(acc, b"\x5a" * ffi.sizeof("bms_limit_acc_t"), ffi.sizeof("bms_limit_acc_t"))
    lib.bms_limit_acc_init(acc)
    assert min(acc.map_chg_a, acc.plating_a, acc.headroom_chg_a, acc.map_dis_a, acc.headroom_dis_a) >= 1e9


def test_zero_reasons_are_named():
    cells = [(0.4, 25.0, 3.7, 0.0, 0.01)]
    s = run(cells, closed=0)[0]
    assert (s.ccl_a, s.ccl_limit) == (0.0, lib.BMS_LIM_CONTACTOR)
    s = run(cells, t_min=low_edge("temp_min_charge"))[0]  # exactly at the edge: outside
    assert (s.ccl_a, s.ccl_limit) == (0.0, lib.BMS_LIM_TEMP_WINDOW)
    edge = [(0.4, high_edge("core_temp_max_charge"), 3.7, 0.0, 0.01)]
    s = run(edge)[0]
    assert (s.ccl_a, s.ccl_limit) == (0.0, lib.BMS_LIM_TEMP_WINDOW)
    s = run(cells, soc_pack=0.95)[0]
    assert (s.ccl_a, s.ccl_limit) == (0.0, lib.BMS_LIM_COMPLETE)
    s, _, _ = run_dis(cells, closed=0)
    assert (s.dcl_a, s.dcl_limit) == (0.0, lib.BMS_LIM_CONTACTOR)
    s, _, _ = run_dis(cells, t_min=low_edge("temp_min_discharge"))
    assert (s.dcl_a, s.dcl_limit) == (0.0, lib.BMS_LIM_TEMP_WINDOW)
    edge = [(0.4, high_edge("core_temp_max_discharge"), 3.7, 0.0, 0.01)]
    s, _, _ = run_dis(edge)
    assert (s.dcl_a, s.dcl_limit) == (0.0, lib.BMS_LIM_TEMP_WINDOW)


def test_charge_complete_latches_and_resumes_with_hysteresis():
    ch = CHEM.protection.charge
    cells = [(0.5, 25.0, 3.7, 0.0, 0.01)]
    assert run(cells, soc_pack=ch.target_soc)[0].charge_complete == 1
    # between resume and target: keeps the previous state
    assert run(cells, soc_pack=0.5 * (ch.target_soc + ch.resume_soc), complete=1)[0].charge_complete == 1
    assert run(cells, soc_pack=0.5 * (ch.target_soc + ch.resume_soc), complete=0)[0].charge_complete == 0
    s = run(cells, soc_pack=ch.resume_soc - 0.001, complete=1)[0]
    assert s.charge_complete == 0 and s.ccl_a > 0.0


@pytest.mark.parametrize("reading_above_a", [0.0, 0.3, 2.0])
@pytest.mark.parametrize("direction", ["charge", "discharge"])
def test_the_measured_headroom_takes_no_more_current_than_the_limit_in_force(direction, reading_above_a):
    """The measured-voltage headroom is the present current plus what keeps the measured cell
    at its limit; a current reading above the limit in force (sensor noise, or a charger's
    tolerance) must not pass into the next limit: the headroom starts from the limit."""
    r_step, prev_a, dv = 0.05, 20.0, 0.004
    cp = CFG.charge
    charge = direction == "charge"
    acc = ffi.new("bms_limit_acc_t *")
    lib.bms_limit_acc_init(acc)
    # a cell whose model leaves 1.5 V (30 A) of room: the measured cell decides
    ocv = cp.cell_v_charge_max_v - 1.5 if charge else cp.cell_v_discharge_min_v + 1.5
    cell = ffi.new(
        "bms_limit_cell_t *", {"soc": 0.5, "core_temp_degc": 25.0, "ocv_v": ocv, "r_step_ohm": r_step}
    )
    lib.bms_limit_acc_headroom(acc, CFG, cell)
    v_meas = cp.cell_v_charge_max_v - dv if charge else cp.cell_v_discharge_min_v + dv
    reading = prev_a + reading_above_a
    pk = ffi.new(
        "bms_limit_pack_t *",
        {
            "capacity_ah": CAP, "soc_charge": 0.5, "t_min_degc": 25.0, "derate_chg": 1.0,
            "derate_chg_src": lib.BMS_LIM_DERATE, "derate_dis": 1.0, "derate_dis_src": lib.BMS_LIM_DERATE,
            "charger_max_a": float("nan"), "fault_latched": 0, "contactors_closed": 1, "have_data": 1,
            "current_a": -reading if charge else reading,
            "cell_v_meas_max": v_meas if charge else 3.7, "cell_v_meas_min": v_meas if not charge else 3.7,
            "dt_ms": DT,
        },
    )  # fmt: skip
    s = ffi.new("bms_limit_state_t *")
    lib.bms_limit_reset(s)
    s.ccl_a = prev_a
    s.dcl_a = prev_a
    ct, dt = ffi.new("bms_limit_terms_t *"), ffi.new("bms_limit_terms_t *")
    lib.bms_limit_update(s, CFG, acc, pk, 25.0, ct, dt)
    head = (ct if charge else dt).headroom_a
    # from the limit in force, never from the reading above it
    assert head == pytest.approx(prev_a + dv / r_step, rel=1e-5)
