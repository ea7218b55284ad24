"""`bms fit`: a cell model from any mix of lab files.

1. each file is read into a timeline (duplicate stamps, gaps, the current offset) and its
   segments (bms.fit.timeline);
2. the SoC is anchored where the data shows full or empty, the capacity and the coulombic
   efficiency come from between those anchors, and the SoC is counted (bms.fit.soc);
3. the OCV at the reference temperature (the slow sweeps nearest 25 degC) from the sweeps and
   the relaxed rests; pieces without a full/empty anchor get one from a relaxed rest;
4. every stretch with current between two long rests that is not a slow sweep is a dynamic
   window (pulses, GITT, drive cycles); windows are grouped by temperature (one table row
   each), each group's OCV row from its own sweeps or the reference shifted through its own
   rests, and R0/R1/C1/R2/C2 from least squares over the group (bms.fit.ecm);
5. resistances at temperatures outside the measured ones by an Arrhenius law (fitted from the
   measured rows when there are two or more, else the documented default);
6. the thermal model from each file's surface trace (bms.fit.thermal);
7. the final tables are simulated over every window: the residual per file and per
   temperature, the worst window named; over `max_rms_mv` it is a warning (an error with
   `strict`)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bms.cells import MAX_TEMP_PTS, CellModel, EstimatorParams, Hysteresis, ThermalParams
from bms.config_bounds import CONFIG_BOUNDS
from bms.errors import BmsError, ConfigError, LogFormatError
from bms.fit import ecm, ocv, soc, thermal
from bms.fit import hysteresis as hyst
from bms.fit.residuals import MIN_WINDOW_C_RATE, FitReport, residuals
from bms.fit.timeline import LONG_REST_S, read_timeline
from bms.logs import check_units

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
# Temperature rows placed around a single measured one for the Arrhenius extrapolation, and
# how far beyond the measured range rows are added when several were measured.
ARRHENIUS_ROW_OFFSETS_K = (-35.0, -20.0, -10.0, 0.0, 10.0, 25.0)
EXTRAPOLATE_K = 15.0
# Windows whose temperatures lie within this of each other share a table row.
TEMP_CLUSTER_K = 5.0
# Residual over which a fit is suspect: 15 mV rms is about 1.5 % SoC on the steep part of an
# NMC curve (and far more on a flat LFP plateau) - the stated bound.
MAX_RESIDUAL_MV = 15.0


class FitQualityError(BmsError):
    """The fitted model does not explain the data within the stated bound (`--strict`)."""


@dataclass
class _Evidence:
    sweeps: list[tuple[str, float, ocv.Branch]]  # (kind, temp, branch)
    rests: list[tuple[float, float, float]]  # (soc, v, temp)
    windows: list[ecm.Window]
    rest_rows: list[tuple[hyst.History, int]]  # each rest's file record and last row


def _evidence(files: list[soc.FileSoc], capacity_ah: float) -> _Evidence:
    ev = _Evidence([], [], [], [])
    for f in files:
        tl, s_arr = f.tl, f.soc
        hist = hyst.History(tl.i, tl.dt_s)
        assert s_arr is not None
        known = np.isfinite(s_arr)
        sweep_rows = np.zeros(len(tl.t), bool)
        for s in f.segs:
            rows = slice(s.i0, s.i1 + 1)
            if s.kind in ("dis", "chg") and s.duration_s >= soc.SLOW_SWEEP_S and known[s.i0 : s.i1 + 1].all():
                ev.sweeps.append((s.kind, float(np.median(tl.temp[rows])), (s_arr[rows], tl.v[rows])))
                sweep_rows[rows] = True
            if s.kind == "rest" and s.duration_s >= LONG_REST_S and known[s.i1]:
                ev.rests.append((float(s_arr[s.i1]), float(tl.v[s.i1]), float(tl.temp[s.i1])))
                ev.rest_rows.append((hist, s.i1))
        # windows: from the end of a long rest (or a piece's start) to the end of the next
        cuts = sorted(
            {s.i1 for s in f.segs if s.kind == "rest" and s.duration_s >= LONG_REST_S}
            | {int(np.flatnonzero(tl.piece == p)[0]) for p in np.unique(tl.piece)}
            | {len(tl.t) - 1}
        )
        for a, b in itertools.pairwise(cuts):
            rows = slice(a, b + 1)
            if len(np.unique(tl.piece[rows])) > 1 or not known[rows].all() or sweep_rows[rows].any():
                continue
            if np.max(np.abs(tl.i[rows])) < MIN_WINDOW_C_RATE * capacity_ah:
                continue
            ev.windows.append(
                ecm.Window(
                    tl.name,
                    tl.t[rows],
                    tl.dt_s[rows],
                    tl.i[rows],
                    tl.v[rows],
                    s_arr[rows],
                    tl.temp[rows],
                    hist=hist,
                    i0=a,
                )
            )
    return ev


def _clusters(temps: list[float]) -> list[list[int]]:
    """Indices grouped by temperature (a new group where the sorted temperatures jump by more
    than TEMP_CLUSTER_K), at most MAX_TEMP_PTS groups (the closest neighbours merged)."""
    order = np.argsort(temps)
    groups: list[list[int]] = []
    for k in order:
        if groups and temps[k] - temps[groups[-1][-1]] <= TEMP_CLUSTER_K:
            groups[-1].append(int(k))
        else:
            groups.append([int(k)])
    while len(groups) > MAX_TEMP_PTS:
        mid = [float(np.median([temps[k] for k in g])) for g in groups]
        j = int(np.argmin(np.diff(mid)))
        groups[j : j + 2] = [groups[j] + groups[j + 1]]
    return groups


def _branch(sweeps: list[tuple[str, float, ocv.Branch]], kind: str, temp: float) -> ocv.Branch | None:
    near = [b for k, t, b in sweeps if k == kind and abs(t - temp) <= TEMP_CLUSTER_K]
    if not near:
        return None
    return max(near, key=lambda b: float(np.ptp(b[0])))


def _arrhenius(rows_t: np.ndarray, tables: dict[str, np.ndarray], ea_default: float) -> np.ndarray:
    """Activation energy of R0, R1, R2 from the measured rows (least squares on ln R against
    1/T per breakpoint, the median over SoC: one number per branch, robust to a breakpoint the
    data barely saw), within 0..MAX; with one row the default."""
    if len(rows_t) < 2:
        return np.full(3, ea_default)
    x = 1.0 / (rows_t + KELVIN)
    out = []
    for name in ("r0_ohm", "r1_ohm", "r2_ohm"):
        slope = np.polyfit(x - x.mean(), np.log(tables[name]), 1)[0]
        out.append(float(np.clip(np.median(slope) * GAS_CONSTANT, 0.0, MAX_ACTIVATION_J_PER_MOL)))
    return np.array(out)


def _add_rows(
    temps: np.ndarray, tables: dict[str, np.ndarray], docv_dt: np.ndarray, new_t: list[float], ea: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Rows at `new_t` from the nearest measured row: resistances by Arrhenius, capacitances
    kept (time constants scale with R), OCV moved by the entropic slope."""
    rows_t = list(temps)
    out = {k: list(v) for k, v in tables.items()}
    for t in new_t:
        j = int(np.argmin(np.abs(temps - t)))
        tk, tj = t + KELVIN, temps[j] + KELVIN
        for b, name in enumerate(("r0_ohm", "r1_ohm", "r2_ohm")):
            out[name].append(tables[name][j] * np.exp(ea[b] / GAS_CONSTANT * (1 / tk - 1 / tj)))
        out["c1_f"].append(tables["c1_f"][j])
        out["c2_f"].append(tables["c2_f"][j])
        out["ocv_v"].append(ocv.make_monotone(tables["ocv_v"][j] + docv_dt * (t - temps[j])))
        rows_t.append(t)
    order = np.argsort(rows_t)
    return np.array(rows_t)[order], {k: np.array(v)[order] for k, v in out.items()}


def _corrected_rests(
    ev: _Evidence, states: hyst.States, hf: hyst.HystFit
) -> list[tuple[float, float, float]]:
    """The relaxed rests moved onto a hysteresis-free table: each carried m0 s + m h of its
    history (a rest after a discharge lies m + m0 below the table)."""
    out = []
    for (sc, v, t), (hist, row) in zip(ev.rests, ev.rest_rows, strict=True):
        h, sg = states.at(hist, row, hf.gamma)
        out.append((sc, v - (hf.m0_v * sg + hf.m_v * h), t))
    return out


def _judge_hysteresis(
    ev: _Evidence,
    fitted: list[tuple[np.ndarray, ecm.RcFit, list[ecm.Window], int]],
    temps: np.ndarray,
    ref_t: float,
    sweeps: tuple[ocv.Branch | None, ocv.Branch | None],
    grid: np.ndarray,
    ref_ocv: np.ndarray,
    states: hyst.States,
) -> hyst.HystFit:
    """The hysteresis the reference temperature's dynamic windows show. Its rate, m and m0 are
    searched against an OCV free of it: the mean of the two slow sweeps without the relaxed
    rests (each rest carries the hysteresis of its history), or with one sweep or none the
    table itself. Then judged as it would be used: the rests corrected by it, the table through
    them, the windows fitted again at that rate; its gain is that fit's residual against the
    tables without it. The windows' OCV is put back afterwards."""
    dis, chg = sweeps
    k = int(np.argmin(np.abs(temps - ref_t)))
    row, base, wins, _ = fitted[k]
    free = ocv.ocv_table(dis, chg, [], grid)[0] if (dis is not None and chg is not None) else ref_ocv

    def fit_on(table: np.ndarray, gammas: np.ndarray) -> ecm.RcFit:
        for w in wins:
            w.ocv = np.interp(w.soc, grid, table)
        f = ecm.fit_rc(wins, lambda gm: states.columns(wins, gm), gammas).with_extra
        assert f is not None and f.extra_coef is not None
        return f

    hx = fit_on(free, hyst.GAMMA_GRID)
    first = hyst.HystFit(hx.extra_param, float(hx.extra_coef[0]), float(hx.extra_coef[1]), 0.0)
    ref_rests = [
        (sc, v) for sc, v, t in _corrected_rests(ev, states, first) if abs(t - ref_t) <= TEMP_CLUSTER_K
    ]
    used = fit_on(ocv.ocv_table(dis, chg, ref_rests, grid)[0], np.array([first.gamma]))
    for w in wins:
        w.ocv = np.interp(w.soc, grid, row)
    n = np.array([len(w.t) for w in wins], dtype=float)

    def pooled(f: ecm.RcFit) -> float:
        return float(np.sqrt(np.sum(n * np.square(f.rms_v)) / np.sum(n)))

    assert used.extra_coef is not None
    gain = 1.0 - pooled(used) / max(pooled(base), 1e-12)
    edge = first.gamma in (float(hyst.GAMMA_GRID[0]), float(hyst.GAMMA_GRID[-1]))
    return hyst.HystFit(first.gamma, float(used.extra_coef[0]), float(used.extra_coef[1]), gain, edge)


def fit_cell(
    paths: list[str | Path],
    name: str | None = None,
    activation_j_per_mol: float = DEFAULT_ACTIVATION_J_PER_MOL,
    strict: bool = False,
    max_rms_mv: float = MAX_RESIDUAL_MV,
) -> FitReport:
    if not paths:
        raise LogFormatError("no characterisation file given")
    if not 0.0 <= activation_j_per_mol <= MAX_ACTIVATION_J_PER_MOL:
        raise ConfigError(
            f"--activation-kj-per-mol must be within 0..{MAX_ACTIVATION_J_PER_MOL / 1e3:g} kJ/mol "
            f"(resistances rise as the cell cools), got {activation_j_per_mol / 1e3:g}"
        )
    lines: list[str] = []
    timelines = [read_timeline(p) for p in paths]
    al = soc.align(timelines)
    cap, eff = al.capacity_ah, al.coulombic_eff
    if not MIN_CELL_AH <= cap <= MAX_CELL_AH:
        hint = (
            "current_a looks like mA: divide it by 1000"
            if MIN_CELL_AH <= cap / 1e3 <= MAX_CELL_AH
            else "is current_a in A, for one cell?"
        )
        raise LogFormatError(
            f"the capacity measured is {cap:g} Ah, outside a cell's "
            f"{MIN_CELL_AH:g}..{MAX_CELL_AH:g} Ah; {hint}"
        )
    for tl in timelines:
        check_units({"voltage_v": tl.v, "temperature_c": tl.temp, "current_a": tl.i}, tl.path, cap)
    lines += al.lines
    ev = _evidence(al.files, cap)
    if not ev.sweeps and not ev.rests:
        raise LogFormatError("no slow sweep and no relaxed rest with a known SoC: the OCV cannot be read")
    # the reference OCV: sweeps nearest 25 degC (or, without sweeps, the rests)
    temps_ev = [t for _, t, _ in ev.sweeps] or [t for _, _, t in ev.rests]
    ref_t = min(temps_ev, key=lambda t: abs(t - 25.0))
    ref_rests = [(s, v) for s, v, t in ev.rests if abs(t - ref_t) <= TEMP_CLUSTER_K]
    dis, chg = _branch(ev.sweeps, "dis", ref_t), _branch(ev.sweeps, "chg", ref_t)
    if dis is None and chg is None and len(ref_rests) < 5:
        raise LogFormatError(f"at {ref_t:.1f} °C: no slow sweep and fewer than 5 relaxed rests: no OCV curve")
    dense_curve, _ = (
        ocv.ocv_from_sweeps(dis, chg, ref_rests, ocv.DENSE)
        if (dis or chg)
        else (
            np.interp(ocv.DENSE, *np.array(sorted(ref_rests)).T),
            (0.0, 1.0),
        )
    )
    grid = ocv.choose_breakpoints(ocv.DENSE, dense_curve)
    ref_ocv, _cover = ocv.ocv_table(dis, chg, ref_rests, grid)
    for kind, br in (("discharge", dis), ("charge", chg)):
        if br is not None:
            lines.append(
                f"OCV at {ref_t:.1f} °C: slow {kind} sweep over SoC {br[0].min():.3f}..{br[0].max():.3f}"
            )
    if dis is not None and chg is not None:
        gap = ocv._branch_on(ocv.DENSE, chg) - ocv._branch_on(ocv.DENSE, dis)
        lines.append(
            "charge - discharge sweep gap (overpotential + hysteresis): "
            f"median {np.nanmedian(gap) * 1e3:.1f} mV"
        )
    lines.append(f"OCV at {ref_t:.1f} °C: {len(ref_rests)} relaxed rests")

    # pieces without a full/empty anchor: SoC from their first relaxed rest
    def inverse(v: float, temp_c: float) -> float:
        # the reference temperature's curve: the OCV moves 0.1-0.5 mV/K with temperature
        # (entropic), a fraction of a percent of SoC over tens of kelvin on a sloped curve
        return float(np.interp(v, ref_ocv, grid))

    re_anchored = [f.tl.name for f in al.files if soc.anchor_by_ocv(f, inverse, cap, eff, LONG_REST_S)]
    if re_anchored:
        lines.append(f"SoC from a relaxed rest's OCV (no full/empty point): {', '.join(re_anchored)}")
        ev = _evidence(al.files, cap)
    for f in al.files:
        assert f.soc is not None
        unknown = ~np.isfinite(f.soc)
        if unknown.any():
            lines.append(f"{f.tl.name}: {unknown.mean():.0%} of the rows have no known SoC: not used")
    if not ev.windows:
        raise LogFormatError(
            "no dynamic data with a known SoC (pulses, GITT, drive cycles): nothing to fit R/C on"
        )

    groups = _clusters([w.temp_c for w in ev.windows])
    temps = np.array([float(np.median([ev.windows[k].temp_c for k in g])) for g in groups])
    states = hyst.States(cap, eff)

    def fit_groups(
        rests_all: list[tuple[float, float, float]], ref_row: np.ndarray, gammas: np.ndarray | None
    ) -> list[tuple[np.ndarray, ecm.RcFit, list[ecm.Window], int]]:
        """Per temperature group: its OCV row, its R/C fit (with the hysteresis's columns for
        `gammas`), its windows and relaxed rests."""
        out = []
        for g, tc in zip(groups, temps, strict=True):
            d_b, c_b = _branch(ev.sweeps, "dis", tc), _branch(ev.sweeps, "chg", tc)
            rests = [(s, v) for s, v, t in rests_all if abs(t - tc) <= TEMP_CLUSTER_K]
            if abs(tc - ref_t) <= TEMP_CLUSTER_K:
                row_ocv = ref_row
            elif d_b is not None or c_b is not None:
                row_ocv = ocv.ocv_table(d_b, c_b, rests, grid)[0]
            else:
                row_ocv = ocv.shifted_table(ref_row, grid, rests)
            wins = [ev.windows[k] for k in g]
            for w in wins:
                w.ocv = np.interp(w.soc, grid, row_ocv)
            fit = ecm.fit_rc(wins, lambda gm, wins=wins: states.columns(wins, gm), gammas)
            out.append((row_ocv, fit, wins, len(rests)))
        return out

    fitted = fit_groups(ev.rests, ref_ocv, None)
    judged = _judge_hysteresis(ev, fitted, temps, ref_t, (dis, chg), grid, ref_ocv, states)
    hyst_m = np.zeros(len(temps))
    hyst_m0 = np.zeros(len(temps))
    gamma = 0.0
    if judged.kept:
        gamma = judged.gamma
        # the relaxed rests carried the hysteresis of their history: moved onto the table (a
        # rest after a discharge lies m + m0 below it), then every group fitted again at this
        # rate (its own m and m0)
        corrected = _corrected_rests(ev, states, judged)
        ref_rests_c = [(sc, v) for sc, v, t in corrected if abs(t - ref_t) <= TEMP_CLUSTER_K]
        ref_ocv = ocv.ocv_table(dis, chg, ref_rests_c, grid)[0]
        fitted = [
            (row, f.with_extra or f, wins, n)
            for row, f, wins, n in fit_groups(corrected, ref_ocv, np.array([gamma]))
        ]
        for k, (_, f, wins, _) in enumerate(fitted):
            assert f.extra_coef is not None
            hyst_m[k], hyst_m0[k] = float(f.extra_coef[0]), float(f.extra_coef[1])
            for w in wins:
                w.hyst_v = states.voltage(w, gamma, hyst_m[k], hyst_m0[k])
        lines.append(
            f"hysteresis: gamma {gamma:.3g}, m {', '.join(f'{x * 1e3:.1f}' for x in hyst_m)} mV, m0 "
            f"{', '.join(f'{x * 1e3:.1f}' for x in hyst_m0)} mV at {', '.join(f'{x:.1f}' for x in temps)} °C "
            f"(at {ref_t:.1f} °C the dynamic residual {judged.gain:.0%} lower with it; rests corrected "
            "onto the table)"
        )
    else:
        lines.append(
            f"hysteresis: not identified (at {ref_t:.1f} °C the best, band {judged.band_v * 1e3:.1f} mV at "
            f"gamma {judged.gamma:.3g}{' (an end of the searched range)' if judged.at_edge else ''}, "
            f"changes the dynamic residual by {-judged.gain:+.0%}; kept from -{hyst.MIN_GAIN:.0%}, "
            f"{hyst.MIN_BAND_V * 1e3:g} mV and a rate inside the range)"
        )
    tables: dict[str, list[np.ndarray]] = {
        k: [] for k in ("ocv_v", "r0_ohm", "r1_ohm", "c1_f", "r2_ohm", "c2_f")
    }
    for (row_ocv, fit, wins, n_rests), tc in zip(fitted, temps, strict=True):
        rows = ecm.on_grid(fit, grid)
        tables["ocv_v"].append(row_ocv)
        for k in ("r0_ohm", "r1_ohm", "c1_f", "r2_ohm", "c2_f"):
            tables[k].append(rows[k])
        lines.append(
            f"{tc:.1f} °C: {len(wins)} dynamic windows, {n_rests} relaxed rests, "
            f"tau1 {fit.tau1_s:.1f} s, tau2 {fit.tau2_s:.0f} s, "
            f"R0 {np.median(rows['r0_ohm']) * 1e3:.1f} mOhm (median)"
        )
    tab = {k: np.array(v) for k, v in tables.items()}
    # entropic slope: from the OCV rows where every row has relaxed rests on both sides
    if len(temps) > 1:
        docv_dt = np.polyfit(temps - temps.mean(), tab["ocv_v"], 1)[0]
        rest_soc = [[s for s, _, t in ev.rests if abs(t - tc) <= TEMP_CLUSTER_K] for tc in temps]
        if all(rest_soc):
            lo, hi = max(min(r) for r in rest_soc), min(max(r) for r in rest_soc)
            inside = (grid >= lo) & (grid <= hi)
            if inside.any():
                docv_dt = np.interp(grid, grid[inside], docv_dt[inside])
    else:
        docv_dt = np.zeros(len(grid))
    # Entropy moves a Li-ion OCV by well under 1 mV/K (the firmware's bound, 2 mV/K, cites it):
    # rows that differ by more (an edge of the range where the sweeps are cut off at different
    # voltages per temperature) are not entropy, and the slope is held at the bound there.
    bound = CONFIG_BOUNDS["cell.docv_dt_v_per_k"].hi
    beyond = np.abs(docv_dt) > bound
    if beyond.any():
        lines.append(
            f"entropic slope: the OCV rows differ by up to {np.max(np.abs(docv_dt)) * 1e3:.1f} mV/K at SoC "
            f"{', '.join(f'{g:.3f}' for g in grid[beyond])}: more than entropy explains; held at "
            f"±{bound * 1e3:g} mV/K there"
        )
        docv_dt = np.clip(docv_dt, -bound, bound)
    ea = _arrhenius(temps, tab, activation_j_per_mol)
    if len(temps) == 1:
        new_t = [float(temps[0] + o) for o in ARRHENIUS_ROW_OFFSETS_K if o != 0.0]
        lines.append(
            f"one temperature ({temps[0]:.1f} °C): resistances scaled to other temperatures "
            f"with Ea = {activation_j_per_mol / 1e3:.1f} kJ/mol (Arrhenius)"
        )
    else:
        new_t = [t for t in (temps[0] - EXTRAPOLATE_K, temps[-1] + EXTRAPOLATE_K)][
            : MAX_TEMP_PTS - len(temps)
        ]
        lines.append(
            f"temperatures {', '.join(f'{x:.1f}' for x in temps)} °C: one table row each; rows at "
            f"{', '.join(f'{x:.1f}' for x in new_t)} °C extrapolated with the fitted activation energy "
            f"(R0 {ea[0] / 1e3:.1f}, R1 {ea[1] / 1e3:.1f}, R2 {ea[2] / 1e3:.1f} kJ/mol)"
        )
    temp_rows, tab = _add_rows(temps, tab, docv_dt, new_t, ea)
    # the hysteresis at an added row: the nearest measured row's (held)
    near = [int(np.argmin(np.abs(temps - t))) for t in temp_rows]
    hysteresis = Hysteresis(hyst_m[near], hyst_m0[near], gamma)

    ref_row = int(np.argmin(np.abs(temp_rows - ref_t)))
    r0_ref = float(np.median(tab["r0_ohm"][ref_row]))
    cell = CellModel(
        name=name or Path(str(paths[0])).name.split(".")[0],
        capacity_ah=cap,
        coulombic_eff=eff,
        v_min=float(np.floor(ref_ocv[0] * 100) / 100),
        v_max=float(np.ceil(ref_ocv[-1] * 100) / 100),
        soc=grid.copy(),
        temp_c=temp_rows,
        **tab,
        docv_dt_v_per_k=docv_dt,
        thermal=ThermalParams(1.0, 1.0, 1.0, 1.0),
        estimator=EstimatorParams(current_noise_a=0.01 * cap, heat_noise_w=r0_ref * cap**2),
        hysteresis=hysteresis,
    )
    rep = residuals(cell, ev.windows, temps, max_rms_mv, lines)
    cell.thermal = thermal.fit_files(al.files, cell, cap, lines)
    cell.estimator.model_err_v = max(rep.rms_mv / 1e3, 0.001)
    cell.estimator.model_err_corr_s = round(rep.corr_s, 1)
    cell.fit = {
        "sources": [tl.name for tl in timelines],
        "residual_rms_mv": round(rep.rms_mv, 3),
        "residual_rms_dynamic_mv": round(rep.rms_dynamic_mv, 3),
    }
    if rep.warnings and strict:
        raise FitQualityError(rep.warnings[0] + " (--strict)")
    return rep
