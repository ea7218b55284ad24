"""The state of power (sop.h) on the plant (issue 14, property 5): from a drawn present state
(a pack of the property suite's strategies, every chemistry, cold and warm, charged or driven
for a drawn while on the closed loop), the predicted 10 s current applied as a constant step
on a copy of the plant for 10 s keeps every true cell voltage within its limit
(bms.sim.checks.sop_step_violation), and, where the plant is the model the firmware was
given, is not conservative by more than 10 % against the largest safe step found by
bisection on the plant (capped by the limit's other terms, recomputed from the chemistry)
and on the plant with each cell at the SoC the SoP is specified to cover (the firmware's
estimate 1 sigma towards the limit, where that lies beyond the truth).

The example budget is half the loaded profile's scenario budget (ci: 24, ~20 s; thousand
(make props-1000): 500), shared by the chemistries."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bms.chemistry import available, load_chemistry
from bms.enums import LIMITING_NAMES
from bms.sim.ccl_bound import Limits, _derate, _map
from bms.sim.checks import sop_step_violation
from bms.sim.loop import ClosedLoop
from hil.pytest_plugin import scenario_budget
from tests.properties.strategies import scenarios

CHEMISTRIES = available()
BUDGET = max(1, math.ceil(scenario_budget() / 2 / len(CHEMISTRIES)))
HORIZON_S = 10.0
STEP_S = 0.1
# the SoP and the limit's terms are from the firmware's estimates: where the plant is the
# model, what is left between them and the plant's truth is the estimation error
CONSERVATIVE_MAX = 0.10
# the limit's codes for which the CCL / DCL and so the SoP are 0 whatever the cells
ZERO_LIMITS = {"fault", "no_data", "contactor", "temp_window", "complete"}
# the pack's sizes here: the property is per cell; the strategies' 192-cell packs cost only time
MAX_SERIES = 24


@st.composite
def sop_states(draw: st.DrawFn, chemistry: str):
    """A nominal scenario of the suite, cold or warm, charging or driving until a drawn time."""
    scn = draw(scenarios(faults=False, chemistry=chemistry, max_series=MAX_SERIES))
    chem = load_chemistry(chemistry)
    cold = chem.protection.limits["temp_min_discharge"].trip
    t_low = max(-10.0, cold.threshold + cold.hysteresis + 1.0)
    ambient = draw(st.floats(t_low, 10.0)) if draw(st.booleans()) else draw(st.floats(20.0, 40.0))
    snap_s = draw(st.floats(15.0, 90.0))
    scn = replace(scn, ambient_c=ambient, start_temp_c=ambient, duration_s=snap_s + 1.0)
    if draw(st.booleans()):
        # a drive from anywhere in SoC (near empty and near full the voltage limits bind):
        # mean 0.3-2C, peaks 3x, regeneration within the CCL
        pack_kw = scn.series * 3.6 * chem.cell.capacity_ah * scn.parallel / 1000.0
        mean = draw(st.floats(0.3, 2.0)) * pack_kw
        scn = replace(
            scn,
            mode="drive_then_charge",
            drive_s=scn.duration_s,
            drive_mean_kw=mean,
            drive_peak_kw=3 * mean,
            soc_start=draw(st.floats(0.03, 0.97)),
        )
    if draw(st.booleans()):
        # in half the draws the plant is the model the firmware was given (and the health it
        # kept): there the SoP's conservatism is judged too
        sp = replace(
            scn.spread,
            resistance_growth=0.0,
            capacity_fade=0.0,
            ocv_offset_v=0.0,
            ocv_offset_cell_v=0.0,
            ocv_slope=0.0,
            hyst_m_v=0.0,
            hyst_m0_v=0.0,
        )
        scn = replace(scn, spread=sp, nvm_soh_sigma=0.005)
    return scn, snap_s


def run_to(scn, snap_s: float) -> ClosedLoop:
    loop = ClosedLoop(scn)
    while loop.t_s < snap_s - 1e-9:
        assert loop.step() is not None
    return loop


def step_on_copy(loop: ClosedLoop, current_a: float, soc: np.ndarray | None = None) -> np.ndarray:
    """The true cell voltages over a constant step (> 0 discharge) on a copy of the plant and
    its thermal network: at its start and after every 0.1 s. soc: the copy's elements at
    these SoCs instead (their polarisation kept)."""
    plant, thermal = copy.deepcopy(loop.plant), copy.deepcopy(loop.thermal)
    if soc is not None:
        plant.soc = np.asarray(soc, dtype=float).copy()
        plant._params = None  # looked up again at the new SoC
    power = thermal.coolant_power(loop.cooling_on, loop.heater_on)
    vs = [plant.terminal(current_a, thermal.core_c)]
    for _ in range(round(HORIZON_S / STEP_S)):
        heat = plant.step(STEP_S, current_a, thermal.core_c)
        thermal.step(STEP_S, heat, power)
        vs.append(plant.v_term.copy())
    return np.array(vs)


def largest_safe(
    loop: ClosedLoop, v_min: float, v_max: float, charge: bool, hi_a: float, soc: np.ndarray | None = None
) -> float:
    """Bisection on the plant for the largest constant step within the limit (no margin)."""

    def safe(i: float) -> bool:
        v = step_on_copy(loop, -i if charge else i, soc)
        return bool(np.max(v) <= v_max) if charge else bool(np.min(v) >= v_min)

    if safe(hi_a):
        return hi_a
    lo, hi = 0.0, hi_a
    for _ in range(12):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if safe(mid) else (lo, mid)
    return lo


def caps(loop: ClosedLoop, chem) -> tuple[float, float]:
    """The limit's other terms (maps, derates, hardware) at the firmware's reported estimates,
    recomputed from the chemistry: charge (bms.sim.ccl_bound, property P2's) and discharge."""
    scn, st_ = loop.scn, loop.state
    assert st_ is not None
    lim = Limits(scn, chem)
    soc, core = np.asarray(st_.soc, float)[None, :], np.asarray(st_.core_temp_degc, float)[None, :]
    one = lambda x: np.array([float(x)])  # noqa: E731
    chg, _ = lim.ccl_bound(
        soc, core, one(st_.cell_v_max), one(st_.core_temp_max_degc), one(st_.temp_max_degc),
        one(st_.temp_min_degc), one(loop.last_meas.charger_max_a if loop.last_meas else np.nan),
    )  # fmt: skip
    prot = chem.protection
    m, q = prot.charge.maps, prot.limits
    cap_ah = chem.cell.capacity_ah * scn.parallel
    dmap = float(np.min(_map(soc, core, m.soc, m.temp_c, m.discharge_c))) * cap_ah
    f = min(
        float(_derate(one(v), q[n].derate.threshold, q[n].trip.threshold, is_max)[0])
        for n, v, is_max in (
            ("cell_v_min", st_.cell_v_min, False),
            ("core_temp_max_discharge", st_.core_temp_max_degc, True),
            ("surface_temp_max_discharge", st_.temp_max_degc, True),
            ("temp_min_discharge", st_.temp_min_degc, False),
        )
    )
    hw = min(scn.pack.hw_discharge_max_a, q["discharge_c_rate_max"].derate.threshold * cap_ah)
    return float(chg[0]), min(dmap, scn.pack.hw_discharge_max_a * f, hw)


def believed_soc(loop: ClosedLoop, charge: bool) -> np.ndarray | None:
    """The plant's SoCs moved to the firmware's estimate 1 sigma towards the limit where that
    lies beyond the truth (None where it lies nowhere beyond): the SoC sop.h's bound is
    specified to cover (the SoC filter's 1 sigma, sop.c)."""
    st_, inst = loop.state, loop.target.instance
    n = loop.plant.n
    est = np.asarray(st_.soc, dtype=float)[:n]
    sig = np.sqrt(np.array([float(inst.ekf[i].p[0]) for i in range(n)]))
    soc = loop.plant.soc
    moved = np.maximum(soc, est + sig) if charge else np.minimum(soc, est - sig)
    moved = np.clip(moved, 0.0, 1.0)
    return None if np.array_equal(moved, soc) else moved


def plant_is_the_model(scn) -> bool:
    """The plant as the firmware was told: no ageing it does not know of, the OCV its table."""
    sp = scn.spread
    return (
        sp.resistance_growth == 0.0
        and sp.capacity_fade == 0.0
        and sp.ocv_offset_v == 0.0
        and sp.ocv_offset_cell_v == 0.0
        and sp.ocv_slope == 0.0
        # no hysteresis (told, the SoP takes the branch a step leads to: on the safe side by
        # up to twice the band at the shortest horizon, not judged for conservatism)
        and sp.hyst_m_v == 0.0
        and sp.hyst_m0_v == 0.0
        and scn.nvm_soh_sigma > 0.0  # the health it kept: the truth +- 0.5 %
    )


@pytest.mark.parametrize("chemistry", CHEMISTRIES)
@settings(max_examples=BUDGET)
@given(data=st.data())
def test_sop_10s_step_keeps_every_true_cell_within_its_limit(chemistry, data):
    scn, snap_s = data.draw(sop_states(chemistry), label="state")
    chem = load_chemistry(chemistry)
    loop = run_to(scn, snap_s)
    st_ = loop.state
    assert st_ is not None
    v_min = chem.protection.charge.cell_v_discharge_min_v
    v_max = chem.protection.charge.cell_v_charge_max_v
    i_chg, i_dis = float(st_.sop_chg_10s_a), float(st_.sop_dis_10s_a)
    assert i_chg >= 0.0 and i_dis >= 0.0
    for charge, i in ((True, i_chg), (False, i_dis)):
        if i == 0.0:
            continue  # no step: a zero SoP promises nothing (the cell may be past its limit at rest)
        bad = sop_step_violation(step_on_copy(loop, -i if charge else i), v_min, v_max, charge)
        assert bad is None, f"{'charge' if charge else 'discharge'} SoP {i:.3f} A: {bad}"
    # 0 wherever the limit is 0 for a reason that is no term
    if LIMITING_NAMES[int(st_.ccl_limit)] in ZERO_LIMITS:
        assert i_chg == 0.0
    if LIMITING_NAMES[int(st_.dcl_limit)] in ZERO_LIMITS:
        assert i_dis == 0.0
    if not plant_is_the_model(scn):
        return  # aged / mis-fitted cells: the safe side only
    cap_chg, cap_dis = caps(loop, chem)
    for charge, i, cap, why in (
        (True, i_chg, cap_chg, st_.ccl_limit),
        (False, i_dis, cap_dis, st_.dcl_limit),
    ):
        if LIMITING_NAMES[int(why)] in ZERO_LIMITS:
            continue
        best = largest_safe(loop, v_min, v_max, charge, hi_a=max(cap, 1e-3) * 1.01)
        # what sop.h promises to cover: each cell's SoC up to the filter's 1 sigma towards
        # the limit (where the OCV steepens there, that costs current the truth would allow)
        shifted = believed_soc(loop, charge)
        if shifted is not None:
            best = min(best, largest_safe(loop, v_min, v_max, charge, max(cap, 1e-3) * 1.01, shifted))
        want = min(best, cap)
        way = "charge" if charge else "discharge"
        assert i >= (1.0 - CONSERVATIVE_MAX) * want - 1e-3, (
            f"{way} SoP {i:.3f} A, the plant allows {best:.3f} A, cap {cap:.3f} A"
        )
