"""`bms fit`: identify the equivalent-circuit cell model from characterisation logs.

The protocol is read from the data, never from fixed rows or times:

1. rows are split into segments of rest / discharge / charge at a steady current;
2. the current sensor offset is the median current over the long rests (true current 0);
3. the slow sweeps are the discharge and the charge segment with the largest charge
   throughput at <= C/10; the discharge sweep, which starts from a rested full cell,
   gives the capacity and the SoC scale;
4. OCV(SoC) is the mean of the two sweeps (their overpotentials roughly cancel), pulled
   through the relaxed voltages at the end of every long rest (true OCV points);
5. R0, R1/C1, R2/C2 are fitted by least squares (scipy) over each dynamic window between
   two long rests (the HPPC pulses and the relaxation that follows), against the same
   discretised model the firmware runs, and placed on the SoC breakpoints;
6. the thermal model is fitted to the surface temperature driven by the heat I*(OCV - V).

Several files at different chamber temperatures give one table row per temperature; a
single file gets rows scaled by a documented Arrhenius law.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.linalg import expm
from scipy.optimize import least_squares

from bms.cells import MAX_TEMP_PTS, CellModel, EstimatorParams, ThermalParams
from bms.errors import ConfigError, LogFormatError
from bms.logs import StepEvidence, check_units, read_cell_log

GAS_CONSTANT = 8.314462618  # J/(mol K)
KELVIN = 273.15

# Activation energy of the cell resistances when only one temperature was measured.
# 25 kJ/mol: DC/charge-transfer resistance of NMC/graphite cells lies at 20-35 kJ/mol
# (e.g. Ecker et al., J. Electrochem. Soc. 162 (2015) A1836: graphite exchange-current
# activation 35 kJ/mol as used by Chen et al., J. Electrochem. Soc. 167 (2020) 080534;
# NMC811 17.8 kJ/mol in the same parameter set); the mean of the two electrodes is ~26.
DEFAULT_ACTIVATION_J_PER_MOL = 25.0e3
# What an activation energy of a cell resistance can be: >= 0 (a resistance that falls as the
# cell cools has no Arrhenius law), and at most 150 kJ/mol: an assumed ceiling, several times
# the 18-35 kJ/mol of the electrode kinetics cited above.
MAX_ACTIVATION_J_PER_MOL = 150.0e3
# One cell's capacity: coin cells hold a few mAh, the largest prismatic LFP cells 300-600 Ah
# (datasheets); 1000 Ah is an assumed ceiling with room to spare.
MIN_CELL_AH = 0.001
MAX_CELL_AH = 1000.0
# Temperature rows placed around the measured one for the Arrhenius extrapolation.
ARRHENIUS_ROW_OFFSETS_K = (-35.0, -20.0, -10.0, 0.0, 10.0, 25.0)

# SoC breakpoints of the tables: their number (the firmware's BMS_MAX_SOC_PTS) and
# the share of them spread evenly; the rest follow the OCV curve's bends.
N_SOC_BREAKPOINTS = 24
UNIFORM_SHARE = 0.5
MIN_BREAKPOINT_GAP = 0.004

# A rest this long has relaxed enough that its last voltage is an OCV point.
LONG_REST_S = 1200.0
# Thermal model identification. A surface thermistor sees the core only through the
# two-node dynamics: the surface trace fixes the surface-to-ambient resistance (DC gain)
# and the slow time constant (Ctot*Rsa + Cc*Rcs), but not how that splits between the
# heat capacity and the core-to-surface resistance; the fast pole (casing) is ~10 s and
# drowns in thermistor noise. So two ratios are fixed from the literature and the two
# identifiable quantities are fitted. Ratios from the two-state model of a cylindrical
# cell identified by Lin et al., J. Power Sources 257 (2014) 1-11 (Cc 62.7 J/K, Cs
# 4.5 J/K, Rc 1.94 K/W, Ru 3.19 K/W under forced air); override them in the TOML.
CASING_HEAT_CAPACITY_SHARE = 0.067  # Cs / (Cc + Cs)
CORE_TO_AMBIENT_RESISTANCE_RATIO = 0.61  # Rcs / Rsa (a Biot number)
# Specific heat of a Li-ion cell, J/(kg K) (Drake et al., J. Power Sources 252 (2014)
# 298: 1.0-1.1 kJ/(kg K)) and gravimetric energy of a high-energy cell, Wh/kg (LG M50:
# 18.2 Wh, 68 g -> 268): the start value of the fit and the default when a log has
# no usable temperature trace.
CELL_SPECIFIC_HEAT_J_PER_KG_K = 1050.0
CELL_SPECIFIC_ENERGY_WH_PER_KG = 260.0


@dataclass
class Segment:
    kind: str  # "rest", "dis", "chg"
    i0: int  # first row
    i1: int  # last row (inclusive)
    current_a: float
    duration_s: float
    ah: float  # charge moved (discharge > 0)


@dataclass
class WindowFit:
    soc_mid: float
    temp_c: float
    r0_ohm: float
    r1_ohm: float
    tau1_s: float
    r2_ohm: float
    tau2_s: float
    rms_v: float


@dataclass
class FileFit:
    path: str
    temp_c: float
    capacity_ah: float
    offset_a: float
    soc_grid: np.ndarray
    ocv_grid: np.ndarray
    soc_cover: tuple[float, float]
    anchors: list[tuple[float, float]]
    windows: list[WindowFit]
    thermal: ThermalParams | None
    thermal_rms_c: float | None
    data: dict[str, np.ndarray] = field(repr=False, default_factory=dict)


def detect_segments(t: np.ndarray, current: np.ndarray) -> list[Segment]:
    """Split a log into runs of rest / steady discharge / steady charge."""
    scale = float(np.percentile(np.abs(current), 99.5))
    if scale <= 0:
        raise LogFormatError("the current is zero everywhere: nothing to fit")
    rest_tol = 0.01 * scale
    kind = np.where(np.abs(current) < rest_tol, 0, np.sign(current)).astype(int)
    segs: list[Segment] = []
    start = 0
    n = len(t)
    for i in range(1, n + 1):
        boundary = i == n or kind[i] != kind[start]
        if not boundary and kind[i] != 0:
            # a step in current level within the same sign starts a new segment
            ref = abs(current[start:i].mean())
            boundary = abs(abs(current[i]) - ref) > 0.1 * ref + rest_tol
        if boundary:
            i1 = i - 1
            dt = np.diff(t[max(start - 1, 0) : i1 + 1])
            cur = current[start : i1 + 1]
            dur = float(t[i1] - t[start - 1]) if start > 0 else float(t[i1] - t[start])
            ah = float(np.sum(cur[-len(dt) :] * dt) / 3600.0) if len(dt) else 0.0
            name = {0: "rest", 1: "dis", -1: "chg"}[int(kind[start])]
            segs.append(Segment(name, start, i1, float(cur.mean()), dur, ah))
            start = i
    return segs


def _coulombs(t: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Cumulative discharge in Ah, each row's current held over the interval before it
    (the firmware's convention)."""
    ah = np.zeros(len(t))
    ah[1:] = np.cumsum(current[1:] * np.diff(t)) / 3600.0
    return ah


def _sweeps(segs: list[Segment], path: str) -> tuple[Segment, Segment]:
    dis = [s for s in segs if s.kind == "dis"]
    chg = [s for s in segs if s.kind == "chg"]
    if not dis or not chg:
        raise LogFormatError(f"{path}: needs a slow discharge and a slow charge sweep; found none")
    d = max(dis, key=lambda s: s.ah)
    c = max(chg, key=lambda s: -s.ah)
    cap = d.ah
    for s, name in ((d, "discharge"), (c, "charge")):
        if abs(s.current_a) > 0.1 * cap or abs(s.ah) < 0.5 * cap:
            raise LogFormatError(
                f"{path}: no slow (<= C/10) {name} sweep over most of the capacity was found "
                f"(largest: {abs(s.ah):.3f} Ah at {abs(s.current_a):.3f} A)"
            )
    return d, c


def ocv_from_sweeps(
    soc_d: np.ndarray,
    v_d: np.ndarray,
    soc_c: np.ndarray,
    v_c: np.ndarray,
    anchors: list[tuple[float, float]],
    grid: np.ndarray,
) -> tuple[np.ndarray, tuple[float, float]]:
    """OCV on `grid` from the two sweeps, corrected through the rest anchors (soc, ocv)."""
    od = np.interp(grid, soc_d[::-1], v_d[::-1], left=np.nan, right=np.nan)
    oc = np.interp(grid, soc_c, v_c, left=np.nan, right=np.nan)
    lo = max(soc_d.min(), soc_c.min())
    hi = min(soc_d.max(), soc_c.max())
    mean = 0.5 * (od + oc)
    # outside the common range one sweep is missing: use it with the nearest half-gap
    inside = (grid >= lo) & (grid <= hi)
    half = 0.5 * (oc - od)
    j_lo, j_hi = np.argmax(inside), len(grid) - 1 - np.argmax(inside[::-1])
    for j in range(len(grid)):
        if np.isnan(mean[j]):
            h = half[j_lo] if j < j_lo else half[j_hi]
            if not np.isnan(od[j]):
                mean[j] = od[j] + h
            elif not np.isnan(oc[j]):
                mean[j] = oc[j] - h
    ok = ~np.isnan(mean)
    mean = np.interp(grid, grid[ok], mean[ok])
    if anchors:
        a = np.array(sorted(anchors))
        corr = a[:, 1] - np.interp(a[:, 0], grid, mean)
        mean = mean + np.interp(grid, a[:, 0], corr)
    cover = (float(min(soc_d.min(), soc_c.min())), float(max(soc_d.max(), soc_c.max())))
    return mean, cover


def _hat_matrix(x: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Rows: linear-interpolation weights of each x on the grid (clamped)."""
    h = np.zeros((len(x), len(grid)))
    xc = np.clip(x, grid[0], grid[-1])
    j = np.clip(np.searchsorted(grid, xc, side="right") - 1, 0, len(grid) - 2)
    w = (xc - grid[j]) / (grid[j + 1] - grid[j])
    h[np.arange(len(x)), j] = 1.0 - w
    h[np.arange(len(x)), j + 1] = w
    return h


def ocv_table(
    soc_d: np.ndarray,
    v_d: np.ndarray,
    soc_c: np.ndarray,
    v_c: np.ndarray,
    anchors: list[tuple[float, float]],
    grid: np.ndarray,
) -> tuple[np.ndarray, tuple[float, float]]:
    """OCV breakpoint values whose linear interpolation best follows the sweep-derived
    curve and passes (nearly) through the relaxed rest points, which are true OCV."""
    dense = np.linspace(grid[0], grid[-1], 2001)
    curve, cover = ocv_from_sweeps(soc_d, v_d, soc_c, v_c, anchors, dense)
    rows = [_hat_matrix(dense, grid)]
    rhs = [curve]
    if anchors:
        a = np.array(sorted(anchors))
        inside = (a[:, 0] >= grid[0]) & (a[:, 0] <= grid[-1])
        weight = 20.0 * np.sqrt(len(dense) / max(len(grid), 1))
        rows.append(weight * _hat_matrix(a[inside, 0], grid))
        rhs.append(weight * a[inside, 1])
    values, *_ = np.linalg.lstsq(np.vstack(rows), np.concatenate(rhs), rcond=None)
    return make_monotone(values), cover


def make_monotone(v: np.ndarray, min_step_v: float = 2e-4) -> np.ndarray:
    """Strictly increasing copy (the firmware requires it for OCV inversion)."""
    out = np.array(v, dtype=float)
    for j in range(1, len(out)):
        if out[j] < out[j - 1] + min_step_v:
            out[j] = out[j - 1] + min_step_v
    return out


def simulate_ecm(
    t: np.ndarray,
    current: np.ndarray,
    soc0: float,
    capacity_ah: float,
    ocv_soc: np.ndarray,
    ocv_v: np.ndarray,
    r0: float,
    r1: float,
    tau1: float,
    r2: float,
    tau2: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Terminal voltage and SoC of the 2-RC model (exact ZOH, current held over the
    interval before each row). Returns (v, soc)."""
    dt = np.diff(t, prepend=t[0])
    soc = soc0 - np.concatenate([[0.0], np.cumsum(current[1:] * dt[1:])]) / (3600.0 * capacity_ah)
    a1 = np.exp(-dt / tau1)
    a2 = np.exp(-dt / tau2)
    b1 = r1 * (1.0 - a1) * current
    b2 = r2 * (1.0 - a2) * current
    v1 = np.empty_like(t)
    v2 = np.empty_like(t)
    x1 = x2 = 0.0
    for k in range(len(t)):
        x1 = a1[k] * x1 + b1[k]
        x2 = a2[k] * x2 + b2[k]
        v1[k] = x1
        v2[k] = x2
    v = np.interp(soc, ocv_soc, ocv_v) - v1 - v2 - r0 * current
    return v, soc


def _rc_unit_response(t: np.ndarray, current: np.ndarray, tau_s: float) -> np.ndarray:
    """Voltage of an RC branch with R = 1 ohm (exact ZOH, current held over the interval
    before each row)."""
    dt = np.diff(t, prepend=t[0])
    a = np.exp(-dt / tau_s)
    b = (1.0 - a) * current
    out = np.empty_like(t)
    x = 0.0
    for k in range(len(t)):
        x = a[k] * x + b[k]
        out[k] = x
    return out


def fit_windows(
    wins: list[dict[str, np.ndarray]], ocv_soc: np.ndarray, ocv_v: np.ndarray
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """R0, R1, R2 per window with time constants tau1 < tau2 shared by all windows.

    For fixed time constants the model is linear in the resistances (non-negative least
    squares per window); the two time constants are found by an outer least-squares
    search. Sharing them keeps the tables smooth over SoC: a free 2-RC fit per window
    trades one branch against the other from window to window.
    Returns (tau1, tau2, resistances [n_win, 3], rms per window)."""
    from scipy.optimize import nnls

    targets = [np.interp(w["soc"], ocv_soc, ocv_v) - w["v"] for w in wins]

    def solve(tau1: float, tau2: float) -> tuple[np.ndarray, list[np.ndarray]]:
        rs, res = [], []
        for w, y in zip(wins, targets, strict=True):
            a = np.column_stack(
                [w["i"], _rc_unit_response(w["t"], w["i"], tau1), _rc_unit_response(w["t"], w["i"], tau2)]
            )
            x, _ = nnls(a, y)
            rs.append(x)
            res.append(a @ x - y)
        return np.array(rs), res

    def outer(z: np.ndarray) -> np.ndarray:
        tau1 = float(np.exp(z[0]))
        tau2 = tau1 * (1.0 + float(np.exp(z[1])))
        return np.concatenate(solve(tau1, tau2)[1])

    best = None
    for t1, t2 in ((5.0, 100.0), (20.0, 300.0), (40.0, 800.0)):
        sol = least_squares(
            outer,
            np.log([t1, t2 / t1 - 1.0]),
            diff_step=1e-3,
            bounds=(np.log([0.5, 0.2]), np.log([300.0, 200.0])),
        )
        if best is None or sol.cost < best.cost:
            best = sol
    assert best is not None
    tau1 = float(np.exp(best.x[0]))
    tau2 = tau1 * (1.0 + float(np.exp(best.x[1])))
    rs, res = solve(tau1, tau2)
    return tau1, tau2, rs, np.array([float(np.sqrt(np.mean(r**2))) for r in res])


def thermal_fit(
    t: np.ndarray, heat_w: np.ndarray, surf_c: np.ndarray, ambient_c: float, total_c_guess: float
) -> tuple[ThermalParams, float]:
    """Fit the two-node model's surface response to the heat: total heat capacity and
    surface-to-ambient resistance; the casing share and Rcs/Rsa are the fixed ratios."""
    dt = np.diff(t, prepend=t[0])
    keys, inv = np.unique(np.round(dt, 3), return_inverse=True)

    def simulate(p: ThermalParams) -> tuple[np.ndarray, np.ndarray]:
        cc, cs = p.c_core_j_per_k, p.c_surf_j_per_k
        rcs, rsa = p.r_core_surf_k_per_w, p.r_surf_amb_k_per_w
        a = np.array([[-1 / (cc * rcs), 1 / (cc * rcs)], [1 / (cs * rcs), -(1 / rcs + 1 / rsa) / cs]])
        b = np.array([[1 / cc, 0.0], [0.0, 1 / (cs * rsa)]])
        ainv = np.linalg.inv(a)
        ads, bds = [], []
        for h in keys:
            ad = expm(a * h)
            ads.append(ad)
            bds.append(ainv @ (ad - np.eye(2)) @ b)
        x = np.array([surf_c[0], surf_c[0]], dtype=float)
        core = np.empty(len(t))
        surf = np.empty(len(t))
        for k in range(len(t)):
            if k > 0:
                x = ads[inv[k]] @ x + bds[inv[k]] @ np.array([heat_w[k], ambient_c])
            core[k], surf[k] = x
        return core, surf

    def params(x: np.ndarray) -> ThermalParams:
        ctot, rsa = np.exp(x)
        rcs = rsa * CORE_TO_AMBIENT_RESISTANCE_RATIO
        return ThermalParams(
            c_core_j_per_k=float(ctot * (1 - CASING_HEAT_CAPACITY_SHARE)),
            c_surf_j_per_k=float(ctot * CASING_HEAT_CAPACITY_SHARE),
            r_core_surf_k_per_w=float(rcs),
            r_surf_amb_k_per_w=float(rsa),
        )

    def resid(x: np.ndarray) -> np.ndarray:
        return simulate(params(x))[1] - surf_c

    x0 = np.log([total_c_guess, 4.0])
    sol = least_squares(resid, x0, bounds=(np.log([1.0, 0.05]), np.log([1e5, 200.0])))
    return params(sol.x), float(np.sqrt(np.mean(sol.fun**2)))


def heat_capacity_guess(capacity_ah: float, v_nominal: float) -> float:
    mass_kg = capacity_ah * v_nominal / CELL_SPECIFIC_ENERGY_WH_PER_KG
    return mass_kg * CELL_SPECIFIC_HEAT_J_PER_KG_K


def choose_breakpoints(soc: np.ndarray, ocv: np.ndarray, n: int = N_SOC_BREAKPOINTS) -> np.ndarray:
    """SoC breakpoints for a piecewise-linear OCV: knot density ~ sqrt(|OCV''|), the
    asymptotically best placement for linear interpolation (de Boor, A Practical Guide
    to Splines, ch. XII), blended with an even spread for the resistance tables."""
    from scipy.signal import savgol_filter

    d2 = np.abs(savgol_filter(ocv, window_length=41, polyorder=3, deriv=2, delta=float(soc[1] - soc[0])))
    w = np.sqrt(d2)
    w = w / max(float(np.mean(w)), 1e-12)
    density = UNIFORM_SHARE + (1.0 - UNIFORM_SHARE) * w
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(soc))])
    knots = np.interp(np.linspace(0.0, cum[-1], n), cum, soc)
    knots[0], knots[-1] = 0.0, 1.0
    for k in range(1, n):  # keep a minimum gap (float32 tables, tiny segments)
        knots[k] = max(knots[k], knots[k - 1] + MIN_BREAKPOINT_GAP)
    return np.minimum(knots, 1.0 - (n - 1 - np.arange(n)) * MIN_BREAKPOINT_GAP)


@dataclass
class Protocol:
    """What one characterisation log holds, before any table is chosen."""

    path: str
    temp_c: float
    capacity_ah: float
    offset_a: float
    sweeps: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # soc_d, v_d, soc_c, v_c
    anchors: list[tuple[float, float]]
    windows: list[dict[str, np.ndarray]]
    data: dict[str, np.ndarray]

    def dense_ocv(self) -> tuple[np.ndarray, np.ndarray]:
        dense = np.linspace(0.0, 1.0, 2001)
        curve, _ = ocv_from_sweeps(*self.sweeps, self.anchors, dense)
        return dense, curve


def read_protocol(path: str | Path) -> Protocol:
    p = str(path)
    d = read_cell_log(path)
    check_units(d, p)  # voltage and temperature; the current once the capacity is known
    t, cur, v, temp = d["time_s"], d["current_a"], d["voltage_v"], d["temperature_c"]
    step_a = 0.05 * float(np.percentile(np.abs(cur), 99.5))
    if step_a > 0:
        ev = StepEvidence(step_a=step_a)
        ev.feed(d)
        ev.check(p)
    segs = detect_segments(t, cur)
    long_rests = [s for s in segs if s.kind == "rest" and s.duration_s >= LONG_REST_S]
    if not long_rests:
        raise LogFormatError(f"{p}: no rest of {LONG_REST_S:.0f} s or more: OCV points cannot be read")
    rest_rows = np.concatenate([np.arange(s.i0, s.i1 + 1) for s in long_rests])
    offset = float(np.median(cur[rest_rows]))
    cur = cur - offset
    temp_c = float(np.median(temp[rest_rows]))
    segs = detect_segments(t, cur)
    dsw, csw = _sweeps(segs, p)
    ah = _coulombs(t, cur)
    # the discharge sweep starts from a rested full cell: SoC 1 there
    start = dsw.i0 - 1 if dsw.i0 > 0 else dsw.i0
    capacity = float(ah[dsw.i1] - ah[start])
    if not v[dsw.i1] < v[start]:
        raise LogFormatError(
            f"{p}: the voltage rises over the slow discharge sweep ({v[start]:.3f} -> {v[dsw.i1]:.3f} V); "
            "current_a has the wrong sign: this bench takes current > 0 as discharge (negate current_a)"
        )
    if not MIN_CELL_AH <= capacity <= MAX_CELL_AH:
        hint = (
            "current_a looks like mA: divide it by 1000"
            if MIN_CELL_AH <= capacity / 1e3 <= MAX_CELL_AH
            else "is current_a in A, for one cell?"
        )
        raise LogFormatError(
            f"{p}: the discharge sweep gives a capacity of {capacity:g} Ah, outside a cell's "
            f"{MIN_CELL_AH:g}..{MAX_CELL_AH:g} Ah; {hint}"
        )
    check_units(d, p, capacity)
    soc = 1.0 - (ah - ah[start]) / capacity
    sl_d = slice(dsw.i0, dsw.i1 + 1)
    sl_c = slice(csw.i0, csw.i1 + 1)
    anchors = [(float(soc[s.i1]), float(v[s.i1])) for s in long_rests if s.i1 >= start]
    # dynamic windows: from the end of one long rest to the end of the next, after the sweeps
    after = max(dsw.i1, csw.i1)
    rest_ends = [s.i1 for s in long_rests if s.i1 > after]
    wins = []
    for a, b in itertools.pairwise(rest_ends):
        sl = slice(a, b + 1)
        if np.max(np.abs(cur[sl])) < 0.05 * capacity:
            continue
        wins.append({"t": t[sl] - t[a], "i": cur[sl], "v": v[sl], "soc": soc[sl], "temp": temp[sl]})
    if not wins:
        raise LogFormatError(
            f"{p}: no pulse windows between long rests after the sweeps: nothing to fit R/C on"
        )
    return Protocol(
        p,
        temp_c,
        capacity,
        offset,
        (soc[sl_d], v[sl_d], soc[sl_c], v[sl_c]),
        anchors,
        wins,
        {"t": t, "current_a": cur, "voltage_v": v, "soc": soc, "temp_c": temp},
    )


def fit_file(proto: Protocol, grid: np.ndarray) -> FileFit:
    """OCV table and R/C windows of one log on the given SoC breakpoints."""
    ocv, cover = ocv_table(*proto.sweeps, proto.anchors, grid)
    wins = proto.windows
    windows: list[WindowFit] = []
    if wins:
        tau1, tau2, rs, rms = fit_windows(wins, grid, ocv)
        # a branch one window cannot see (NNLS puts it at zero) keeps a tenth of its
        # typical size, so the tables stay smooth and the firmware's R, C positive
        floor = 0.1 * np.median(rs, axis=0)
        for w, r, e in zip(wins, rs, rms, strict=True):
            r0, r1, r2 = (max(float(x), float(f), 1e-6) for x, f in zip(r, floor, strict=True))
            windows.append(
                WindowFit(
                    float(0.5 * (w["soc"][0] + w["soc"][-1])),
                    float(np.mean(w["temp"])),
                    r0,
                    r1,
                    tau1,
                    r2,
                    tau2,
                    float(e),
                )
            )
    return FileFit(
        proto.path,
        proto.temp_c,
        proto.capacity_ah,
        proto.offset_a,
        grid.copy(),
        ocv,
        cover,
        proto.anchors,
        windows,
        None,
        None,
        proto.data,
    )


def _params_on_grid(windows: list[WindowFit], grid: np.ndarray) -> dict[str, np.ndarray]:
    ws = sorted(windows, key=lambda w: w.soc_mid)
    s = np.array([w.soc_mid for w in ws])
    out = {}
    for name in ("r0_ohm", "r1_ohm", "tau1_s", "r2_ohm", "tau2_s"):
        y = np.array([getattr(w, name) for w in ws])
        # interpolate in log space (resistances vary by decades near empty)
        out[name] = np.exp(np.interp(grid, s, np.log(y)))
    return out


def simulate_file(ff: FileFit, cell: CellModel, row: int) -> np.ndarray:
    """Model voltage of the final tables over a whole file (current held over the
    interval before each row, as the firmware does)."""
    d = ff.data
    t, cur, soc = d["t"], d["current_a"], d["soc"]
    dt = np.diff(t, prepend=t[0])
    sgrid = cell.soc
    r0 = np.interp(soc, sgrid, cell.r0_ohm[row])
    r1 = np.interp(soc, sgrid, cell.r1_ohm[row])
    r2 = np.interp(soc, sgrid, cell.r2_ohm[row])
    tau1 = r1 * np.interp(soc, sgrid, cell.c1_f[row])
    tau2 = r2 * np.interp(soc, sgrid, cell.c2_f[row])
    a1, a2 = np.exp(-dt / tau1), np.exp(-dt / tau2)
    x1 = x2 = 0.0
    vm = np.empty_like(t)
    ocv = np.interp(soc, sgrid, cell.ocv_v[row])
    for k in range(len(t)):
        x1 = a1[k] * x1 + r1[k] * (1 - a1[k]) * cur[k]
        x2 = a2[k] * x2 + r2[k] * (1 - a2[k]) * cur[k]
        vm[k] = ocv[k] - x1 - x2 - r0[k] * cur[k]
    return vm


@dataclass
class FitReport:
    cell: CellModel
    files: list[FileFit]
    rms_mv: float
    rms_dynamic_mv: float
    lines: list[str]


def fit_cell(
    paths: list[str | Path],
    name: str | None = None,
    activation_j_per_mol: float = DEFAULT_ACTIVATION_J_PER_MOL,
) -> FitReport:
    if not paths:
        raise LogFormatError("no characterisation file given")
    if not 0.0 <= activation_j_per_mol <= MAX_ACTIVATION_J_PER_MOL:
        raise ConfigError(
            f"--activation-kj-per-mol must be within 0..{MAX_ACTIVATION_J_PER_MOL / 1e3:g} kJ/mol "
            f"(resistances rise as the cell cools), got {activation_j_per_mol / 1e3:g}"
        )
    if len(paths) > MAX_TEMP_PTS:
        raise LogFormatError(f"at most {MAX_TEMP_PTS} characterisation files (one per temperature)")
    protos = sorted((read_protocol(p) for p in paths), key=lambda f: f.temp_c)
    temps = [f.temp_c for f in protos]
    if len(protos) > 1 and np.any(np.diff(temps) < 2.0):
        raise LogFormatError(f"characterisation files must be at distinct temperatures, got {temps}")
    ref_proto = min(protos, key=lambda f: abs(f.temp_c - 25.0))
    grid = choose_breakpoints(*ref_proto.dense_ocv())
    files = [fit_file(pr, grid) for pr in protos]
    ref = files[protos.index(ref_proto)]
    capacity = ref.capacity_ah
    lines = []
    rows: dict[str, list[np.ndarray]] = {
        k: [] for k in ("ocv_v", "r0_ohm", "r1_ohm", "c1_f", "r2_ohm", "c2_f")
    }
    if len(files) == 1:
        f = files[0]
        g = _params_on_grid(f.windows, grid)
        temp_rows = np.array([f.temp_c + o for o in ARRHENIUS_ROW_OFFSETS_K])
        for tr in temp_rows:
            k = np.exp(activation_j_per_mol / GAS_CONSTANT * (1 / (tr + KELVIN) - 1 / (f.temp_c + KELVIN)))
            rows["ocv_v"].append(f.ocv_grid)
            rows["r0_ohm"].append(g["r0_ohm"] * k)
            rows["r1_ohm"].append(g["r1_ohm"] * k)
            rows["c1_f"].append(g["tau1_s"] / g["r1_ohm"])
            rows["r2_ohm"].append(g["r2_ohm"] * k)
            rows["c2_f"].append(g["tau2_s"] / g["r2_ohm"])
        docv_dt = np.zeros(len(grid))
        lines.append(
            f"one temperature ({f.temp_c:.1f} °C): resistances scaled to other temperatures "
            f"with Ea = {activation_j_per_mol / 1e3:.1f} kJ/mol (Arrhenius)"
        )
    else:
        temp_rows = np.array(temps)
        for f in files:
            g = _params_on_grid(f.windows, grid)
            # SoC of every file on the reference capacity scale; outside what the file's
            # sweeps covered, follow the reference OCV shape
            ocv = f.ocv_grid.copy()
            lo, hi = f.soc_cover
            out_lo, out_hi = grid < lo, grid > hi
            if out_lo.any():
                j = np.argmax(~out_lo)
                ocv[out_lo] = ref.ocv_grid[out_lo] + (ocv[j] - ref.ocv_grid[j])
            if out_hi.any():
                j = len(grid) - 1 - np.argmax(~out_hi[::-1])
                ocv[out_hi] = ref.ocv_grid[out_hi] + (ocv[j] - ref.ocv_grid[j])
            rows["ocv_v"].append(make_monotone(ocv))
            rows["r0_ohm"].append(g["r0_ohm"])
            rows["r1_ohm"].append(g["r1_ohm"])
            rows["c1_f"].append(g["tau1_s"] / g["r1_ohm"])
            rows["r2_ohm"].append(g["r2_ohm"])
            rows["c2_f"].append(g["tau2_s"] / g["r2_ohm"])
        ocvs = np.array(rows["ocv_v"])
        tk = temp_rows + KELVIN
        docv_dt = np.polyfit(tk - tk.mean(), ocvs, 1)[0]
        # trust it only where every file has relaxed OCV points on both sides; beyond,
        # the curves come from sweeps whose overpotential depends on temperature
        lo = max(min(s for s, _ in f.anchors) for f in files)
        hi = min(max(s for s, _ in f.anchors) for f in files)
        inside = (grid >= lo) & (grid <= hi)
        if inside.any():
            docv_dt = np.interp(grid, grid[inside], docv_dt[inside])
        lines.append(f"temperatures {', '.join(f'{x:.1f}' for x in temps)} °C: one table row each")

    # tables are final: now the residuals and the heat each file's surface trace saw
    ref_row = int(np.argmin(np.abs(temp_rows - ref.temp_c)))
    r0_ref = float(np.median(rows["r0_ohm"][ref_row]))
    cell = CellModel(
        name=name or Path(str(paths[0])).name.split(".")[0],
        capacity_ah=capacity,
        coulombic_eff=1.0,
        v_min=float(np.floor(ref.ocv_grid[0] * 100) / 100),
        v_max=float(np.ceil(ref.ocv_grid[-1] * 100) / 100),
        soc=grid.copy(),
        temp_c=temp_rows,
        **{k: np.array(v) for k, v in rows.items()},
        docv_dt_v_per_k=docv_dt,
        thermal=ThermalParams(1.0, 1.0, 1.0, 1.0),
        estimator=EstimatorParams(
            current_noise_a=0.01 * capacity,
            heat_noise_w=r0_ref * capacity**2,
        ),
    )
    res_all, res_dyn = [], []
    for f in files:
        row = int(np.argmin(np.abs(cell.temp_c - f.temp_c)))
        vm = simulate_file(f, cell, row)
        d = f.data
        r = vm - d["voltage_v"]
        res_all.append(r)
        res_dyn.append(r[np.abs(d["current_a"]) > 0.05 * capacity])
        ocv_t = np.interp(d["soc"], grid, cell.ocv_v[row])
        heat = np.clip(d["current_a"] * (ocv_t - d["voltage_v"]), 0.0, None)
        try:
            f.thermal, f.thermal_rms_c = thermal_fit(
                d["t"], heat, d["temp_c"], f.temp_c, heat_capacity_guess(capacity, float(np.mean(ocv_t)))
            )
        except (ValueError, np.linalg.LinAlgError):
            f.thermal, f.thermal_rms_c = None, None
        lines.append(
            f"{Path(f.path).name}: {f.temp_c:.1f} °C, capacity {f.capacity_ah:.4f} Ah, "
            f"current offset {f.offset_a * 1e3:+.2f} mA, {len(f.windows)} pulse windows, "
            f"residual {np.sqrt(np.mean(r**2)) * 1e3:.2f} mV rms"
            + (f", thermal residual {f.thermal_rms_c:.3f} K rms" if f.thermal_rms_c is not None else "")
        )

    ths = [f.thermal for f in files if f.thermal is not None]
    if ths:
        thermal = ThermalParams(
            c_core_j_per_k=float(np.median([x.c_core_j_per_k for x in ths])),
            c_surf_j_per_k=float(np.median([x.c_surf_j_per_k for x in ths])),
            r_core_surf_k_per_w=float(np.median([x.r_core_surf_k_per_w for x in ths])),
            r_surf_amb_k_per_w=float(np.median([x.r_surf_amb_k_per_w for x in ths])),
        )
    else:
        ctot = heat_capacity_guess(capacity, float(np.mean(ref.ocv_grid)))
        thermal = ThermalParams(
            ctot * (1 - CASING_HEAT_CAPACITY_SHARE), ctot * CASING_HEAT_CAPACITY_SHARE, 2.0, 4.0
        )
        lines.append("thermal: the temperature trace did not constrain the model; defaults used")

    cell.thermal = thermal
    r_all = np.concatenate(res_all)
    r_dyn = np.concatenate(res_dyn)
    rms = float(np.sqrt(np.mean(r_all**2)))
    rms_dyn = float(np.sqrt(np.mean(r_dyn**2))) if len(r_dyn) else rms
    cell.estimator.model_err_v = max(rms, 0.001)
    cell.fit = {
        "sources": [Path(f.path).name for f in files],
        "residual_rms_mv": round(rms * 1e3, 3),
        "residual_rms_dynamic_mv": round(rms_dyn * 1e3, 3),
    }
    return FitReport(cell, files, rms * 1e3, rms_dyn * 1e3, lines)
