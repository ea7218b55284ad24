"""native/src/sop.c: the state of power of one cell against an independent float64 reference
(numpy): the ECM's step response with the true piecewise-linear OCV table (the plant's own
lookup, bms.plant.tables), evaluated on a dense time grid over the whole horizon, and the
largest safe constant current found by bisection. Then the pack's fold, caps and zeroing,
and the figures bms_step reports."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bms._native import ffi, lib
from bms.cells import CellModel
from bms.chemistry import available, load_chemistry
from bms.enums import LIMITING_NAMES
from bms.firmware import PackLayout, fill_config
from bms.plant.tables import TableSet

HORIZONS_S = (2.0, 10.0, 30.0)
CHG, DIS = 0, 1


class Ref:
    """One chemistry's cell, configured as the firmware sees it, and the reference."""

    def __init__(self, name: str, cell: CellModel | None = None) -> None:
        chem = load_chemistry(name)
        self.cell = cell or chem.cell
        self.cfg = ffi.new("bms_config_t *")
        fill_config(self.cfg, self.cell, PackLayout(4, (0,)), chem.protection)
        self.tables = TableSet(self.cell)
        self.vmax = float(self.cfg.charge.cell_v_charge_max_v)
        self.vmin = float(self.cfg.charge.cell_v_discharge_min_v)

    def params(self, soc: float, temp: float, r_scale: float) -> tuple[float, ...]:
        ocv, r0, r1, c1, r2, c2 = self.tables.lookup(np.array([soc]), np.array([temp]))[:, 0]
        return ocv, r0 * r_scale, r1 * r_scale, r1 * c1, r2 * r_scale, r2 * c2

    def v_path(
        self, x: tuple[float, ...], direction: int, i_a: float, h: float, n: int = 601, const: bool = False
    ) -> np.ndarray:
        """Terminal voltage on a grid of [0, h] under a constant current magnitude i_a, the
        parameters following the SoC along the step (each RC branch integrated exactly over
        each grid interval with the parameters at its start, as the plant steps), or with
        const the parameters held at the start (the closed form)."""
        soc, v1, v2, temp, r_scale, cap_scale = x
        i_s = i_a if direction == DIS else -i_a  # > 0 discharge
        eta = self.cell.coulombic_eff if direction == CHG else 1.0
        t = np.linspace(0.0, h, n)
        soc_t = np.clip(soc - eta * i_s * t / (3600.0 * self.cell.capacity_ah * cap_scale), 0.0, 1.0)
        ocv = self.tables.ocv(soc_t, np.full(n, temp))
        if const:
            _, r0, r1, tau1, r2, tau2 = self.params(soc, temp, r_scale)
            e1, e2 = np.exp(-t / tau1), np.exp(-t / tau2)
            return ocv - i_s * r0 - (i_s * r1 * (1 - e1) + v1 * e1) - (i_s * r2 * (1 - e2) + v2 * e2)
        _, r0, r1, c1, r2, c2 = self.tables.lookup(soc_t, np.full(n, temp))
        tau1, tau2 = r1 * c1, r2 * c2  # the time constants are kept (the plant: C / r_scale)
        r0, r1, r2 = r0 * r_scale, r1 * r_scale, r2 * r_scale
        dt = h / (n - 1)
        a1, a2 = np.exp(-dt / tau1), np.exp(-dt / tau2)
        f1, f2 = (i_s * r1 * (1 - a1)).tolist(), (i_s * r2 * (1 - a2)).tolist()
        a1, a2 = a1.tolist(), a2.tolist()
        b1, b2 = [v1], [v2]
        for k in range(n - 1):
            b1.append(a1[k] * b1[-1] + f1[k])
            b2.append(a2[k] * b2[-1] + f2[k])
        return ocv - i_s * r0 - np.array(b1) - np.array(b2)

    def margin(
        self, x: tuple[float, ...], direction: int, i_a: float, h: float, const: bool = False
    ) -> float:
        """Smallest distance to the limit over the horizon (< 0: crossed), V."""
        v = self.v_path(x, direction, i_a, h, const=const)
        return float(np.min(v - self.vmin) if direction == DIS else np.min(self.vmax - v))

    def largest_safe(self, x: tuple[float, ...], direction: int, h: float, const: bool = False) -> float:
        if self.margin(x, direction, 0.0, h, const) < 0.0:
            return 0.0
        lo, hi = 0.0, 1.0
        while self.margin(x, direction, hi, h, const) >= 0.0:
            lo, hi = hi, 2.0 * hi
        for _ in range(30):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if self.margin(x, direction, mid, h, const) >= 0.0 else (lo, mid)
        return lo

    def flat_over(
        self, x: tuple[float, ...], direction: int, i_a: float, h: float, tol: float = 1e-3
    ) -> bool:
        """The resistances and time constants stay within tol of their start values over the
        SoC the step at i_a sweeps (densely sampled): where the constant-parameter closed form
        is the truth."""
        _, r0, r1, c1, r2, c2 = self.swept(x, direction, i_a, h, 201)
        vals = np.stack([r0, r1, r2, r1 * c1, r2 * c2])
        return bool(np.all(np.abs(vals / vals[:, :1] - 1.0) <= tol))

    def swept(self, x: tuple[float, ...], direction: int, i_a: float, h: float, n: int) -> np.ndarray:
        """The tables (ocv, r0, r1, c1, r2, c2; unscaled) at n SoCs from the start to the end of
        a step of i_a over h (the SoC it sweeps)."""
        soc, _, _, temp, _, cap_scale = x
        eta = self.cell.coulombic_eff if direction == CHG else 1.0
        s = 1.0 if direction == DIS else -1.0
        end = soc - s * eta * i_a * h / (3600.0 * self.cell.capacity_ah * cap_scale)
        socs = np.clip(np.linspace(soc, end, n), 0.0, 1.0)
        return self.tables.lookup(socs, np.full(n, temp))


REFS = {name: Ref(name) for name in available()}


def fw_cell(
    ref: Ref, x: tuple[float, ...], v_meas: float = math.nan, i_now: float = math.nan, soc_sigma: float = 0.0
) -> object:
    cin = ffi.new("bms_sop_cell_in_t *", [x[0], soc_sigma, *x[1:], v_meas, i_now, [math.nan, math.nan]])
    out = ffi.new("bms_sop_cell_out_t *")
    lib.bms_sop_cell(ref.cfg, cin, out)
    return out


def states(chem: str):
    """A cell's present state: anywhere in SoC and temperature, polarised either way
    (after a discharge or a charge pulse, or relaxing), aged or not."""
    c = REFS[chem].cell
    v_rc = 0.4 * (float(np.max(c.r1_ohm)) + float(np.max(c.r2_ohm))) * c.capacity_ah  # ~0.4C..
    return st.tuples(
        st.floats(0.0, 1.0),  # the tables' ends included: the walk past them
        st.floats(-v_rc, v_rc),
        st.floats(-v_rc, v_rc),
        st.floats(-10.0, 50.0),
        st.floats(0.8, 2.0),
        st.floats(0.7, 1.1),
    )


# The firmware evaluates the OCV's drift on its chord between the horizon's ends where a
# relaxing branch decides (sop.c): within one horizon the table may sag below the chord by
# at most the slope change at a breakpoint inside the SoC the step sweeps times a quarter of
# that window (past the table's ends the OCV is flat: a slope change there too). The
# reference's grid and the float32 arithmetic add < 0.1 mV.
def sag_allowance_v(ref: Ref, x: tuple[float, ...], direction: int, i_a: float, h: float) -> float:
    eta = ref.cell.coulombic_eff if direction == CHG else 1.0
    dsoc = eta * i_a * h / (3600.0 * ref.cell.capacity_ah * x[5])
    lo, hi = (x[0] - dsoc, x[0]) if direction == DIS else (x[0], x[0] + dsoc)
    table = ref.tables.stack[0]
    slopes = np.diff(table, axis=1) / np.diff(ref.tables.soc)
    flat = np.zeros((table.shape[0], 1))
    dk = np.abs(np.diff(np.hstack([flat, slopes, flat]), axis=1))  # at each breakpoint
    inside = (ref.tables.soc > lo) & (ref.tables.soc < hi)
    return (float(np.max(dk[:, inside])) * dsoc / 4.0 if inside.any() else 0.0) + 1e-4


@pytest.mark.parametrize("chem", sorted(REFS))
def test_end_voltage_line_matches_the_reference_at_the_answer(chem):
    """a_v + sign b_ohm I is the terminal voltage at the horizon's end (the pack power) as the
    closed form gives it at the present parameters."""
    ref = REFS[chem]
    rng = np.random.default_rng(7)
    for _ in range(30):
        x = (
            rng.uniform(0.1, 0.9),
            rng.uniform(-0.05, 0.05),
            rng.uniform(-0.05, 0.05),
            rng.uniform(5, 40),
            1.0,
            1.0,
        )
        out = fw_cell(ref, x)
        for d in (CHG, DIS):
            sign = 1.0 if d == CHG else -1.0
            for k, h in enumerate(HORIZONS_S):
                i = float(out.i_a[d][k])
                v_end = float(out.a_v[d][k]) + sign * float(out.b_ohm[d][k]) * i
                # the expectation at the present parameters (the current is the bound's)
                assert v_end == pytest.approx(ref.v_path(x, d, i, h, const=True)[-1], abs=2e-3)


def test_a_relaxing_branch_peak_at_the_start_is_caught():
    """After a hard discharge pulse the branches carry more polarisation than a small current
    sustains: the voltage is lowest at t = 0 and recovers. Plan H alone (the end) would allow
    far more; the SoP must hold the start (Z)."""
    ref = REFS["nmc811-graphite"]
    soc, temp = 0.3, 25.0
    ocv, r0, *_ = ref.params(soc, temp, 1.0)
    # both branches hold what leaves the cell 20 mV above the floor at zero current
    v_rc = (ocv - ref.vmin - 0.020) / 2.0
    x = (soc, v_rc, v_rc, temp, 1.0, 1.0)
    out = fw_cell(ref, x)
    for k, h in enumerate(HORIZONS_S):
        i_fw = float(out.i_a[DIS][k])
        assert i_fw == pytest.approx(0.020 / r0, rel=1e-3)  # the instant drop decides
        assert ref.margin(x, DIS, i_fw, h) >= -1e-4
        assert i_fw == pytest.approx(ref.largest_safe(x, DIS, h), rel=1e-3)


def test_a_cell_reading_past_the_model_starts_its_step_from_the_reading():
    """Closed on the measurement: a cell reading 30 mV below what the model says at the
    present current starts a discharge step 30 mV lower (its end-voltage line and its current
    as for an OCV 30 mV lower), its charge step from the model; above: the other way round;
    no usable reading: the model."""
    ref = REFS["nmc811-graphite"]
    soc, temp, i_now = 0.4, 25.0, 20.0
    ocv, r0, *_ = ref.params(soc, temp, 1.0)
    x = (soc, 0.01, 0.005, temp, 1.0, 1.0)
    v_model = ocv - 0.015 - i_now * r0
    base = fw_cell(ref, x)
    assert [float(v) for v in fw_cell(ref, x, v_model, i_now).i_a[DIS]] == pytest.approx(
        list(base.i_a[DIS]), rel=1e-4
    )
    for gap, d_moved, d_kept in ((-0.030, DIS, CHG), (0.030, CHG, DIS)):
        got = fw_cell(ref, x, v_model + gap, i_now)
        for k, h in enumerate(HORIZONS_S):
            assert float(got.a_v[d_moved][k]) == pytest.approx(float(base.a_v[d_moved][k]) + gap, abs=1e-5)
            assert float(got.a_v[d_kept][k]) == pytest.approx(float(base.a_v[d_kept][k]), abs=1e-6)
            assert float(got.i_a[d_kept][k]) == pytest.approx(float(base.i_a[d_kept][k]), rel=1e-6)
            assert float(got.i_a[d_moved][k]) < float(base.i_a[d_moved][k])
            # as the bound for a cell whose trajectory lies `gap` further towards the limit
            i = float(got.i_a[d_moved][k])
            assert i == pytest.approx(min(plan_roots(ref, x, d_moved, h, gap_v=gap).values()), rel=1e-5)
            # and safe for it
            vlim = ref.vmin if d_moved == DIS else ref.vmax
            s = 1.0 if d_moved == DIS else -1.0
            v = ref.v_path(x, d_moved, i, h) + gap
            assert float(np.min(s * (v - vlim))) >= -1e-4
    nan_meas = fw_cell(ref, x, math.nan, i_now)
    assert list(nan_meas.i_a[DIS]) == list(base.i_a[DIS]) and list(nan_meas.i_a[CHG]) == list(base.i_a[CHG])


def test_an_uncertain_soc_takes_the_drift_where_the_ocv_is_steeper():
    """Near empty the OCV steepens towards the floor: with the filter's SoC sigma the drift is
    taken 1 sigma lower, and the discharge SoP is the reference's for a cell whose OCV drifts
    from there; mid-curve on one table segment nothing changes."""
    ref = REFS["nmc811-graphite"]
    x = (0.06, 0.0, 0.0, 25.0, 1.0, 1.0)
    base, unsure = fw_cell(ref, x), fw_cell(ref, x, soc_sigma=0.01)
    for k, h in enumerate(HORIZONS_S):
        assert float(unsure.i_a[DIS][k]) < float(base.i_a[DIS][k])
        # the same current keeps the cell 1 sigma lower within the floor once its start is
        # anchored at the estimate's voltage (OCV0 as estimated, the drift from the lower SoC)
        lo = (x[0] - 0.01, *x[1:])  # 1 sigma (sop.c: SOP_SOC_SIGMAS)
        shift = ref.params(x[0], 25.0, 1.0)[0] - ref.params(lo[0], 25.0, 1.0)[0]
        v = ref.v_path(lo, DIS, float(unsure.i_a[DIS][k]), h) + shift
        assert float(np.min(v - ref.vmin)) == pytest.approx(0.0, abs=1e-3)
    soc_bp = ref.tables.soc
    mid = float(0.5 * (soc_bp[4] + soc_bp[5]))
    y = (mid, 0.0, 0.0, 25.0, 1.0, 1.0)
    a, b = fw_cell(ref, y), fw_cell(ref, y, soc_sigma=1e-4)
    assert float(b.i_a[DIS][0]) == pytest.approx(float(a.i_a[DIS][0]), rel=1e-4)


def window_params(ref: Ref, x: tuple[float, ...], d: int, h: float, i_a: float) -> tuple[float, ...]:
    """The parameters sop.c's bound holds over the SoC window a step of i_a sweeps (sampled
    densely from the plant's tables, float64): the largest R0, R1, R2 (scaled) and each
    branch's shortest and longest time constant."""
    r_scale = x[4]
    _, r0, r1, c1, r2, c2 = ref.swept(x, d, i_a, h, 4001)
    tau1, tau2 = r1 * c1, r2 * c2
    return (
        r0.max() * r_scale, r1.max() * r_scale, r2.max() * r_scale,
        tau1.min(), tau1.max(), tau2.min(), tau2.max(),
    )  # fmt: skip


def plan_roots(
    ref: Ref, x: tuple[float, ...], d: int, h: float, window: bool = True, gap_v: float = 0.0
) -> dict[str, float]:
    """The closed-form roots sop.c takes the smallest of, in float64 from the tables: H (the
    end, OCV drift on the real table by bisection), Z1 / Z2 (that branch at its start), Z12
    (the instant step). With window, over the SoC window the present parameters' answer
    sweeps (R at its largest; a branch's slope at its shortest tau, its start value's decay
    at the longest where it lies above the target). gap_v: the trajectory lies that much
    higher (the limit that much lower)."""
    soc, v1, v2, temp, r_scale, cap_scale = x
    ocv, r0, r1, tau1, r2, tau2 = ref.params(soc, temp, r_scale)
    t1 = t1_hi = tau1
    t2 = t2_hi = tau2
    if window:
        i1 = min(plan_roots(ref, x, d, h, window=False, gap_v=gap_v).values())
        r0, r1, r2, t1, t1_hi, t2, t2_hi = window_params(ref, x, d, h, max(i1, 0.0))
    s = 1.0 if d == DIS else -1.0
    vlim = (ref.vmin if d == DIS else ref.vmax) - gap_v
    eta = ref.cell.coulombic_eff if d == CHG else 1.0
    c0, u1, u2 = s * (ocv - vlim), s * v1, s * v2
    g1, g2 = 1.0 - math.exp(-h / t1), 1.0 - math.exp(-h / t2)
    e1 = math.exp(-h / t1_hi) if u1 > 0 else 1.0 - g1
    e2 = math.exp(-h / t2_hi) if u2 > 0 else 1.0 - g2
    spa = eta * h / (3600.0 * ref.cell.capacity_ah * cap_scale)

    def m_h(i: float) -> float:
        drift = s * (ocv - float(ref.tables.ocv(np.array([soc - s * spa * i]), np.array([temp]))[0]))
        return c0 - u1 * e1 - u2 * e2 - i * (r0 + r1 * g1 + r2 * g2) - drift

    lo, hi = 0.0, 1.0
    while m_h(hi) > 0:
        lo, hi = hi, 2 * hi
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if m_h(mid) > 0 else (lo, mid)
    return {
        "H": lo,
        "Z1": (c0 - u1 - u2 * e2) / (r0 + r2 * g2),
        "Z2": (c0 - u1 * e1 - u2) / (r0 + r1 * g1),
        "Z12": (c0 - u1 - u2) / r0,
    }


@pytest.mark.parametrize(
    ("chem", "x", "d", "h", "plan"),
    [
        # at rest the end decides (the capacity and the coulombic efficiency in the OCV's drift)
        ("sulfide-assb", (0.5, 0.0, 0.0, 25.0, 1.0, 0.8), CHG, 30.0, "H"),
        ("sulfide-assb", (0.5, 0.0, 0.0, 25.0, 1.3, 0.8), DIS, 30.0, "H"),
        ("nmc811-graphite", (0.3, 0.0, 0.0, 10.0, 1.0, 0.9), DIS, 10.0, "H"),
        # the fast branch polarised beyond what the current sustains, the slow one at rest: it
        # relaxes, the slow one charges up: the fast one at its start decides
        ("nmc811-graphite", (0.5, 0.75, 0.0, 25.0, 1.0, 1.0), DIS, 30.0, "Z1"),
        # the slow branch holding the cell just off its floor: at its start
        ("nmc811-graphite", (0.5, 0.0, 0.75, 25.0, 1.0, 1.0), DIS, 30.0, "Z2"),
    ],
)
def test_the_deciding_plan_gives_the_answer(chem, x, d, h, plan):
    """sop.c's answer is the smallest plan root; each case here is one where a given plan
    decides (checked: the others are larger), and the answer is that root to float32."""
    ref = REFS[chem]
    roots = plan_roots(ref, x, d, h)
    want = roots[plan]
    assert all(v > want * 1.001 for k, v in roots.items() if k != plan), roots
    got = float(fw_cell(ref, x).i_a[d][HORIZONS_S.index(h)])
    assert got == pytest.approx(want, rel=5e-6)


def test_decay_factors_are_the_exponentials_at_each_horizon():
    """One exp per branch, raised to the later horizons: each factor as numpy's exp. Seen
    through the end-voltage line: a cell at rest (no OCV drift at zero slope is not
    available), so the line's a_v carries v_rc e^{-h/tau}."""
    ref = REFS["nmc811-graphite"]
    soc, temp = 0.5, 25.0
    ocv, _, _, tau1, _, tau2 = ref.params(soc, temp, 1.0)
    for v1, v2 in ((0.05, 0.0), (0.0, 0.05)):
        out = fw_cell(ref, (soc, v1, v2, temp, 1.0, 1.0))
        for k, h in enumerate(HORIZONS_S):
            want = ocv - v1 * math.exp(-h / tau1) - v2 * math.exp(-h / tau2)
            assert float(out.a_v[CHG][k]) == pytest.approx(want, abs=2e-6)
            assert float(out.a_v[DIS][k]) == pytest.approx(want, abs=2e-6)


def test_capacity_and_resistance_scales_act_as_in_the_model():
    """A larger resistance lowers every SoP; a smaller capacity moves the OCV faster (the
    10 and 30 s discharge SoP drop on a sloped OCV)."""
    ref = REFS["nmc811-graphite"]
    base = fw_cell(ref, (0.15, 0.0, 0.0, 25.0, 1.0, 1.0))
    aged = fw_cell(ref, (0.15, 0.0, 0.0, 25.0, 1.5, 1.0))
    faded = fw_cell(ref, (0.15, 0.0, 0.0, 25.0, 1.0, 0.7))
    for d in (CHG, DIS):
        for k in range(3):
            assert float(aged.i_a[d][k]) < float(base.i_a[d][k])
    assert float(faded.i_a[DIS][2]) < float(base.i_a[DIS][2])
    for k in range(3):
        x = (0.15, 0.0, 0.0, 25.0, 1.0, 0.7)
        assert float(faded.i_a[DIS][k]) == pytest.approx(ref.largest_safe(x, DIS, HORIZONS_S[k]), rel=0.01)


def test_a_cell_past_its_limit_at_rest_has_no_power_that_way():
    ref = REFS["lfp-graphite"]
    soc, temp = 0.5, 25.0
    ocv, *_ = ref.params(soc, temp, 1.0)
    over = ref.vmax - ocv + 0.01  # charge polarisation beyond the limit
    out = fw_cell(ref, (soc, -over, 0.0, temp, 1.0, 1.0))
    assert all(float(out.i_a[CHG][k]) == 0.0 for k in range(3))  # t = 0 is in every horizon
    assert all(float(out.i_a[DIS][k]) > 0.0 for k in range(3))
    # with no current that way its end-voltage line still has a slope: the resistance and the
    # OCV's local slope (no secant through a zero current)
    assert all(math.isfinite(float(out.b_ohm[CHG][k])) and float(out.b_ohm[CHG][k]) > 0.0 for k in range(3))
    nan_out = ffi.new("bms_sop_cell_out_t *")
    for d in (CHG, DIS):
        for k in range(3):
            nan_out.i_a[d][k] = float("nan")
    acc = ffi.new("bms_sop_acc_t *")
    lib.bms_sop_acc_init(acc)
    lib.bms_sop_acc_cell(acc, out)
    lib.bms_sop_acc_cell(acc, nan_out)  # a cell without a finite state: 0, not its neighbour's
    assert all(float(acc.i_a[d][k]) == 0.0 for d in (CHG, DIS) for k in range(3))


def pack(outs: list[object], cap: tuple[float, float], zero: tuple[int, int]) -> dict[str, list[float]]:
    acc = ffi.new("bms_sop_acc_t *")
    lib.bms_sop_acc_init(acc)
    for o in outs:
        lib.bms_sop_acc_cell(acc, o)
    res = {k: ffi.new("float[3]") for k in ("chg_a", "dis_a", "chg_w", "dis_w")}
    lib.bms_sop_finish(acc, list(cap), list(zero), res["chg_a"], res["dis_a"], res["chg_w"], res["dis_w"])
    return {k: [float(v[i]) for i in range(3)] for k, v in res.items()}


def test_pack_is_the_weakest_cell_capped_and_its_power_the_string_voltage():
    ref = REFS["nmc811-graphite"]
    xs = [
        (0.2, 0.01, 0.0, 25.0, 1.0, 1.0),
        (0.9, -0.02, 0.01, 30.0, 1.2, 0.95),
        (0.5, 0.0, 0.0, 10.0, 1.0, 1.0),
    ]
    outs = [fw_cell(ref, x) for x in xs]
    got = pack(outs, (1e9, 1e9), (0, 0))
    for d, key in ((CHG, "chg"), (DIS, "dis")):
        sign = 1.0 if d == CHG else -1.0
        for k in range(3):
            i_min = min(float(o.i_a[d][k]) for o in outs)
            assert got[f"{key}_a"][k] == pytest.approx(i_min, rel=1e-6)
            v_pack = sum(float(o.a_v[d][k]) + sign * float(o.b_ohm[d][k]) * i_min for o in outs)
            assert got[f"{key}_w"][k] == pytest.approx(v_pack * i_min, rel=1e-5)
    capped = pack(outs, (1.0, 2.0), (0, 0))
    assert capped["chg_a"] == [1.0] * 3 and capped["dis_a"] == [2.0] * 3
    zeroed = pack(outs, (1e9, 1e9), (1, 0))
    assert zeroed["chg_a"] == [0.0] * 3 and zeroed["chg_w"] == [0.0] * 3
    assert zeroed["dis_a"] == got["dis_a"]
    zeroed = pack(outs, (1e9, 1e9), (0, 1))
    assert zeroed["dis_a"] == [0.0] * 3 and zeroed["dis_w"] == [0.0] * 3
    assert zeroed["chg_a"] == got["chg_a"]
    assert pack(outs, (-5.0, 1e9), (0, 0))["chg_a"] == [0.0] * 3


def test_resistance_scale_is_the_upper_bound_not_below_the_floor():
    assert lib.bms_sop_r_scale(0.5, 0.03, 1.0) == 1.0  # learned below the floor: the floor
    assert lib.bms_sop_r_scale(1.2, 0.02, 1.0) == pytest.approx(1.26)  # above: g + 3 sigma
    assert lib.bms_sop_r_scale(1.2, 0.02, 1.3) == pytest.approx(1.3)
    assert lib.bms_sop_r_scale(1.0, 0.0, 2.05) == pytest.approx(2.05)  # the prior while learning
    assert lib.bms_sop_r_scale(float("nan"), 0.0, 1.1) == pytest.approx(1.1)


def test_fold_keeps_the_smallest_of_small_currents():
    outs = []
    for i in (0.5, 0.7, 0.6):
        o = ffi.new("bms_sop_cell_out_t *")
        for d in (CHG, DIS):
            for k in range(3):
                o.i_a[d][k], o.a_v[d][k], o.b_ohm[d][k] = i, 3.5, 0.01
        outs.append(o)
    got = pack(outs, (1e9, 1e9), (0, 0))
    assert got["chg_a"] == [0.5] * 3 and got["dis_a"] == [0.5] * 3
    assert got["chg_w"][0] == pytest.approx(0.5 * (3 * 3.5 + 3 * 0.01 * 0.5), rel=1e-6)
    assert got["dis_w"][0] == pytest.approx(0.5 * (3 * 3.5 - 3 * 0.01 * 0.5), rel=1e-6)


def test_zero_reasons_and_the_cap_terms():
    zero_names = {"fault", "no_data", "contactor", "temp_window", "complete"}
    for code, name in enumerate(LIMITING_NAMES):
        assert lib.bms_sop_zeroed(code) == (1 if name in zero_names else 0), name
    terms = ffi.new("bms_limit_terms_t *")
    vals = dict(map_a=50.0, headroom_a=1.0, derate_a=40.0, plating_a=30.0, hardware_a=20.0)
    for order in range(4):
        keys = ["map_a", "derate_a", "plating_a", "hardware_a"]
        smallest = keys[order]
        for key in keys:
            setattr(terms, key, 5.0 if key == smallest else vals[key])
        terms.headroom_a = 1.0  # the one-step headroom is no cap of the SoP
        assert lib.bms_sop_cap(terms) == 5.0
    terms.hardware_a = -3.0
    assert lib.bms_sop_cap(terms) == 0.0


def out_limits(rig) -> tuple[float, float]:
    ch = rig.fw.instance.cfg.charge
    return float(ch.cell_v_discharge_min_v), float(ch.cell_v_charge_max_v)


def test_through_bms_step_open_closed_and_faulted():
    """bms_step reports the SoP: 0 with the contactors open; closed, positive, falling with the
    horizon's length no faster than the weakest cell's own figures say, within the limit's
    other terms; 0 again once a fault is latched; finite and >= 0 on hostile readings."""
    from tests.rig import Rig

    rig = Rig()
    rig.settle()
    out = rig.fw.out
    assert [*out.sop_chg_a, *out.sop_dis_a, *out.sop_chg_w, *out.sop_dis_w] == [0.0] * 12
    rig.close()
    rig.settle(10, current_a=5.0)
    out = rig.fw.out
    caps = (
        lib.bms_sop_cap(ffi.addressof(out, "ccl_terms")),
        lib.bms_sop_cap(ffi.addressof(out, "dcl_terms")),
    )
    for k in range(3):
        for arr, w, cap in ((out.sop_chg_a, out.sop_chg_w, caps[0]), (out.sop_dis_a, out.sop_dis_w, caps[1])):
            assert 0.0 < arr[k] <= cap
            # the power is the current times the string's voltage at the horizon's end: every
            # cell within its limits there
            v_lo, v_hi = out_limits(rig)
            assert 8 * v_lo * arr[k] * (1 - 1e-5) <= w[k] <= 8 * v_hi * arr[k] * (1 + 1e-5)
    assert out.sop_dis_a[0] >= out.sop_dis_a[2]  # a longer horizon: the OCV drifts further
    # a latched fault: 0 both ways (as the CCL and the DCL)
    for _ in range(30):
        m = rig.nominal()
        m.cell_v = m.cell_v.copy()
        m.cell_v[2] = 5.0  # over the trip
        rig.step(m)
    out = rig.fw.out
    assert out.faults != 0
    assert [*out.sop_chg_a, *out.sop_dis_a, *out.sop_chg_w, *out.sop_dis_w] == [0.0] * 12


@pytest.mark.parametrize("chem", sorted(REFS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_cell_sop_is_safe_and_tight_against_the_reference(chem, data):
    ref = REFS[chem]
    x = data.draw(states(chem), label="state")
    out = fw_cell(ref, x)
    for d in (CHG, DIS):
        for k, h in enumerate(HORIZONS_S):
            i_fw = float(out.i_a[d][k])
            assert i_fw >= 0.0 and math.isfinite(i_fw)
            i_ref = ref.largest_safe(x, d, h, const=True)  # the parameters held at the start
            if i_ref == 0.0:  # past the limit even at rest: no current that way
                assert i_fw == 0.0, (d, h, i_fw)
                continue
            # safe: at the firmware's current the true trajectory (the parameters following
            # the SoC) stays within the limit
            m = ref.margin(x, d, i_fw, h)
            assert m >= -sag_allowance_v(ref, x, d, i_fw, h), (d, h, i_fw, m)
            # tight: where the parameters do not change over the SoC the step sweeps (there
            # the closed form is the truth) and the branches all move the same way at the
            # answer (sop.c: the bound is then the exact minimum), within 1 % (the OCV's
            # chord, one refinement) or 1 mA
            if not ref.flat_over(x, d, 1.01 * i_ref, h):
                continue
            soc, v1, v2, temp, r_scale, _ = x
            _, _, r1, _, r2, _ = ref.params(soc, temp, r_scale)
            s = 1.0 if d == DIS else -1.0
            d1, d2 = s * v1 - i_ref * r1, s * v2 - i_ref * r2
            if (d1 >= 0) == (d2 >= 0):
                assert i_fw >= 0.99 * i_ref - 1e-3, (d, h, i_fw, i_ref)


def zigzag_cell() -> CellModel:
    """NMC811 with each RC branch's R and C swung against each other from one SoC breakpoint
    to the next (R x 1.8 where C x 0.2 and the other way round): tau = R C is 0.36 of its
    base at every breakpoint and peaks at the base value half-way between, inside each
    segment. A synthetic cell (no chemistry is known to do this) for the window's bound on
    the time constants: their extremes inside a segment, not only at its ends."""
    cell = load_chemistry("nmc811-graphite").cell
    sign = np.where(np.arange(len(cell.soc)) % 2 == 0, 1.0, -1.0)[None, :]
    up, down = 1.0 + 0.8 * sign, 1.0 - 0.8 * sign
    return replace(
        cell, r1_ohm=cell.r1_ohm * up, c1_f=cell.c1_f * down, r2_ohm=cell.r2_ohm * down, c2_f=cell.c2_f * up
    )


ZIGZAG = Ref("nmc811-graphite", zigzag_cell())


@settings(max_examples=80, deadline=None)
@given(x=states("nmc811-graphite"))
def test_time_constants_peaking_inside_a_segment_are_bounded(x):
    """On the zigzag cell a branch relaxing from a harder pulse keeps its voltage longest
    where tau peaks, mid-segment: the SoP must hold there too (the reference integrates the
    parameters along the step)."""
    out = fw_cell(ZIGZAG, x)
    for d in (CHG, DIS):
        for k, h in enumerate(HORIZONS_S):
            i_fw = float(out.i_a[d][k])
            assert i_fw >= 0.0 and math.isfinite(i_fw)
            if ZIGZAG.margin(x, d, 0.0, h) < 0.0:  # past the limit even at rest
                assert i_fw == 0.0, (d, h, i_fw)
                continue
            m = ZIGZAG.margin(x, d, i_fw, h)
            assert m >= -sag_allowance_v(ZIGZAG, x, d, i_fw, h), (d, h, i_fw, m)


@pytest.mark.parametrize(("chem", "vmin"), [("nmc811-graphite", 2.65), ("lfp-graphite", 2.40)])
def test_a_cell_of_negligible_resistance_walks_the_ocv_to_the_tables_first_segment(chem, vmin):
    """From the top of the table, a 30 s discharge of a cell whose resistance is a millionth
    of the model's, at rest: limited by the OCV alone, the current whose charge takes the
    OCV down to the floor. The floor set between the OCV at 0 % and at the next breakpoint
    puts the answer in the table's first segment: the walk crosses every segment."""
    ref = Ref(chem)
    ref.cfg.charge.cell_v_discharge_min_v = vmin
    ref.vmin = vmin
    temp = float(ref.cell.temp_c[1])  # on a table row: the OCV is that row's
    row = ref.cell.ocv_v[1]
    assert row[0] < vmin < row[1]
    x = (0.999, 0.0, 0.0, temp, 1e-6, 1.0)
    h = HORIZONS_S[2]
    i_fw = float(fw_cell(ref, x).i_a[DIS][2])
    # independent: the table row inverted (float64; the OCV rises with the SoC)
    soc_floor = float(np.interp(vmin, row, ref.cell.soc))
    want = (x[0] - soc_floor) * 3600.0 * ref.cell.capacity_ah / h
    assert i_fw == pytest.approx(want, rel=2e-3), (i_fw, want)


@pytest.mark.parametrize("ref", [ZIGZAG, REFS["lfp-graphite"]], ids=["zigzag", "lfp-graphite"])
@settings(max_examples=60, deadline=None)
@given(lo=st.floats(0.0, 1.0), width=st.floats(0.0, 0.3), temp=st.floats(-10.0, 50.0))
def test_the_windows_parameter_extremes_are_the_tables(ref, lo, width, temp):
    """bms_sop_window against the tables sampled densely (float64) over the same SoC window:
    each resistance's largest value and each time constant's range, the peaks of R C inside
    a segment included (the zigzag cell has one in every segment)."""
    hi = min(lo + width, 1.0)
    r_max, tau_min, tau_max = ffi.new("float[3]"), ffi.new("float[2]"), ffi.new("float[2]")
    lib.bms_sop_window(ref.cfg, lo, hi, temp, r_max, tau_min, tau_max)
    socs = np.unique(
        np.concatenate([np.linspace(lo, hi, 4001), ref.cell.soc[(ref.cell.soc > lo) & (ref.cell.soc < hi)]])
    )
    _, r0, r1, c1, r2, c2 = ref.tables.lookup(socs, np.full(len(socs), temp))
    want_r = [r0.max(), r1.max(), r2.max()]
    taus = [r1 * c1, r2 * c2]
    for k in range(3):
        assert r_max[k] == pytest.approx(want_r[k], rel=1e-5), k
    for b in range(2):
        # the dense grid may miss a vertex by up to its spacing (relative 1e-6 at 4001 points)
        assert tau_min[b] == pytest.approx(taus[b].min(), rel=1e-5), b
        assert tau_max[b] == pytest.approx(taus[b].max(), rel=1e-5), b


@pytest.mark.parametrize(("v1", "v2"), [(0.05, 0.0), (0.0, 0.05)])
@pytest.mark.parametrize("h", [10.0, 30.0])
def test_a_relaxing_branch_decays_at_the_windows_longest_time_constant(v1, v2, h):
    """On the zigzag cell at 33 % SoC (its time constants rise along the discharge's window),
    one branch polarised beyond what the current sustains: it keeps most at the window's
    longest tau, not the present one (which would let 1 % more current through here). The
    answer is the smallest plan root over the window, computed independently in float64."""
    x = (0.33, v1, v2, 25.0, 1.0, 1.0)
    want = min(plan_roots(ZIGZAG, x, DIS, h).values())
    got = float(fw_cell(ZIGZAG, x).i_a[DIS][HORIZONS_S.index(h)])
    assert got == pytest.approx(want, rel=3e-4)


@pytest.mark.parametrize("chem", sorted(REFS))
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_the_steps_fold_is_the_cells_results_folded_bit_for_bit(chem, data):
    """bms_step folds each cell into the pack's figures as it goes (bms_sop_cell_fold, no
    per-cell result held: the firmware's stack); the same cells through bms_sop_cell then
    bms_sop_acc_cell give the same bits, measured and not, polarised, with uncertainty."""
    ref = REFS[chem]
    folded = ffi.new("bms_sop_acc_t *")
    stepwise = ffi.new("bms_sop_acc_t *")
    lib.bms_sop_acc_init(folded)
    lib.bms_sop_acc_init(stepwise)
    for _ in range(data.draw(st.integers(1, 4))):
        x = data.draw(states(chem))
        v_meas = data.draw(st.sampled_from([math.nan, ref.params(x[0], x[3], 1.0)[0] - 0.02]))
        cin = ffi.new(
            "bms_sop_cell_in_t *",
            [
                x[0],
                data.draw(st.floats(0.0, 0.05)),
                *x[1:],
                v_meas,
                data.draw(st.floats(-50.0, 50.0)),
                [data.draw(st.floats(0.0, 500.0)), math.nan],
            ],
        )
        out = ffi.new("bms_sop_cell_out_t *")
        lib.bms_sop_cell(ref.cfg, cin, out)
        lib.bms_sop_acc_cell(stepwise, out)
        lib.bms_sop_cell_fold(ref.cfg, cin, folded)
    assert bytes(ffi.buffer(folded)) == bytes(ffi.buffer(stepwise))
