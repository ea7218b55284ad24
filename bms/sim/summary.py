"""A run's summary (summary.json): time to the charge target, the estimators' errors,
the plant's true maxima against the chemistry's limits, the faults, the real-time factor.

`RunSummary` is the typed record; `to_dict()` is summary.json's object (its keys in this
order, its values rounded as below) and `from_dict()` reads one back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from bms.chemistry import Chemistry
from bms.enums import LIMITING_NAMES, N_LIMITING
from bms.errors import BmsError
from bms.sim.scenario import Scenario


def _get(d: dict[str, Any], key: str, where: str = "") -> Any:
    try:
        return d[key]
    except (KeyError, TypeError):
        raise BmsError(f"summary: no '{where}{key}' (not a bms simulate summary.json)") from None


@dataclass(frozen=True)
class FaultRecord:
    """One fault of the run: a fault the firmware latched (detected_s), matched to the
    injection it answers (injected_kind, injected_s, onset_s, trip_time_s; None when it
    answers none), or an injection the firmware did not catch (detected_s None)."""

    id: int
    name: str
    cell: int | None
    injected_s: float | None
    detected_s: float | None
    injected_kind: str | None
    onset_s: float | None
    trip_time_s: float | None
    # the cell the injection named (None: a pack-level one, or no injection); a summary
    # written before it existed reads as None
    injected_cell: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FaultRecord:
        return cls(
            **{
                f.name: _get(d, f.name, "faults[].") if f.default is MISSING else d.get(f.name, f.default)
                for f in fields(cls)
            }
        )


@dataclass(frozen=True)
class RunSummary:
    scenario: str
    chemistry: str
    pack: str  # "<series>s<parallel>p"
    time_to_target_s: float | None  # charge start to the firmware's charge-complete (None: not reached)
    soc_true_at_target: float | None
    charge_start_s: float | None
    soc_true_end: float
    soc_est_end: float
    max_cell_v_true: float
    max_core_temp_c_true: float
    soc_rmse: float | None  # per cell, over the converged steps
    core_temp_rmse_c: float | None
    faults: tuple[FaultRecord, ...]
    contactor_open_s: float | None
    charge_limit_v: float
    abs_max_cell_v: float
    abs_max_core_temp_c: float
    steps: int
    sim_s: float
    wall_s: float
    realtime_factor: float | None
    # state of health at the end (soh.h): RMS over the cells of estimated / true - 1 of the
    # capacity and of the resistance; None where the target does not report each cell's
    capacity_rel_err_rms: float | None = None
    r0_rel_err_rms: float | None = None
    # balancing (bms.balancing): the true SoC spread (max - min over the cells) at the start
    # and the end, the energy burnt in the bleed resistors, and the charge a C/3 discharge
    # from the end state draws until the first cell reaches its discharge floor (mode
    # "cycles" only: a parked pack's usable capacity; None otherwise)
    soc_spread_start: float | None = None
    soc_spread_end: float | None = None
    balancing_energy_wh: float | None = None
    usable_capacity_ah: float | None = None
    # what bound the charge current: the firmware's CCL limiting term (bms_limiting_t's
    # names) over the charging steps from the charge start to the target (or the end),
    # each with its share of that time, largest first, those of 1 % or more; None: no charge
    ccl_binding: tuple[tuple[str, float], ...] | None = None
    # the coolant heater's energy over the run (Wh; preconditioning and keeping warm), and the
    # coldest true core temperature when the charge started (None: no charge)
    heater_energy_wh: float | None = None
    charge_start_core_min_c: float | None = None
    # a pressed solid-state pack (bms.plant.pressure): the lowest and highest true module stack
    # pressure over the run (MPa; None: the pack is not pressed)
    pressure_min_mpa: float | None = None
    pressure_max_mpa: float | None = None
    # the step-by-step safety properties' violations (bms.sim.checks); None: not checked
    # (then summary.json has no "violations" key)
    violations: tuple[str, ...] | None = None

    def with_violations(self, violations: list[str] | tuple[str, ...]) -> RunSummary:
        return replace(self, violations=tuple(violations))

    def to_dict(self) -> dict[str, Any]:
        """summary.json's object: every field in order, the faults as objects, the
        violations as a list (left out when not checked)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "faults":
                v = [x.to_dict() for x in v]
            elif f.name == "ccl_binding":
                v = None if v is None else dict(v)
            elif f.name == "violations":
                if v is None:
                    continue
                v = list(v)
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSummary:
        """A summary.json object read back (BmsError naming a missing key)."""
        optional = (  # older files lack them
            "violations",
            "capacity_rel_err_rms",
            "r0_rel_err_rms",
            "soc_spread_start",
            "soc_spread_end",
            "balancing_energy_wh",
            "usable_capacity_ah",
            "ccl_binding",
            "heater_energy_wh",
            "charge_start_core_min_c",
            "pressure_min_mpa",
            "pressure_max_mpa",
        )
        kw = {f.name: _get(d, f.name) for f in fields(cls) if f.name not in optional}
        kw.update({k: d.get(k) for k in optional[1:]})
        kw["faults"] = tuple(FaultRecord.from_dict(x) for x in kw["faults"])
        b = kw["ccl_binding"]
        kw["ccl_binding"] = None if b is None else tuple((str(k), float(x)) for k, x in dict(b).items())
        v = d.get("violations")
        return cls(**kw, violations=None if v is None else tuple(str(x) for x in v))


def summary(
    scn: Scenario,
    chem: Chemistry,
    log: dict[str, np.ndarray],
    true_soc: np.ndarray,
    est_soc: np.ndarray,
    true_core: np.ndarray,
    est_core: np.ndarray,
    faults: list[dict[str, object]],
    contactor_open_s: float | None,
    wall: float,
    health_err: tuple[float, float] | None = None,
    balance: tuple[float, float, float, float | None] | None = None,
    heater_wh: float | None = None,
    pressure_true: np.ndarray | None = None,
) -> RunSummary:
    """pressure_true: each module's true stack pressure after each step (steps x modules;
    None: the pack is not pressed)."""
    t = log["time_s"]
    charging = log["current_a"] < -0.01 * scn.parallel * chem.cell.capacity_ah
    if scn.mode != "charge":
        charging &= t > scn.drive_s  # regen while driving is not the charge
    t_start = float(t[np.argmax(charging)]) if charging.any() else None
    # the target is reached when the firmware declares the charge complete (its mean-cell
    # SoC estimate at the target): what a driver sees. The true SoC there is reported too.
    complete = (log["charge_complete"] > 0) & (log["faults"] == 0)
    time_to_target = None
    soc_true_at_target = None
    if t_start is not None and complete.any() and scn.mode != "cycles":  # cycles: several charges
        k = int(np.argmax(complete))
        time_to_target = round(float(t[k]) - t_start + scn.dt_ms / 1000.0, 1)
        soc_true_at_target = round(float(log["soc_true_mean"][k]), 4)
    binding = _ccl_binding(log, charging, t, t_start, time_to_target)
    # converged: the steps from min(60 s, half the run) on (t rises: a slice, not a mask copy)
    conv = int(np.searchsorted(t, min(60.0, float(t[-1]) / 2)))
    soc_err = (est_soc[conv:] - true_soc[conv:]).ravel()
    core_err = (est_core[conv:] - true_core[conv:]).ravel()
    sim_s = float(t[-1]) if len(t) else 0.0
    return RunSummary(
        scenario=scn.name,
        chemistry=scn.chemistry,
        pack=f"{scn.series}s{scn.parallel}p",
        time_to_target_s=time_to_target,
        soc_true_at_target=soc_true_at_target,
        charge_start_s=t_start,
        soc_true_end=round(float(log["soc_true_mean"][-1]), 4),
        soc_est_end=round(float(log["soc_est_mean"][-1]), 4),
        max_cell_v_true=round(float(log["cell_v_true_max"].max()), 4),
        max_core_temp_c_true=round(float(log["core_temp_true_max_c"].max()), 2),
        soc_rmse=round(float(np.sqrt(np.mean(soc_err**2))), 5) if soc_err.size else None,
        core_temp_rmse_c=round(float(np.sqrt(np.mean(core_err**2))), 3) if core_err.size else None,
        faults=tuple(FaultRecord.from_dict(f) for f in faults),
        contactor_open_s=contactor_open_s,
        charge_limit_v=chem.protection.charge.cell_v_charge_max_v,
        abs_max_cell_v=chem.abs_max.cell_v,
        abs_max_core_temp_c=chem.abs_max.core_temp_c,
        steps=len(t),
        sim_s=round(sim_s, 3),
        wall_s=round(wall, 3),
        realtime_factor=round(sim_s / wall, 1) if wall > 0 else None,
        capacity_rel_err_rms=None if health_err is None else round(health_err[0], 5),
        r0_rel_err_rms=None if health_err is None else round(health_err[1], 5),
        soc_spread_start=None if balance is None else round(balance[0], 5),
        soc_spread_end=None if balance is None else round(balance[1], 5),
        balancing_energy_wh=None if balance is None else round(balance[2], 3),
        usable_capacity_ah=None if balance is None or balance[3] is None else round(balance[3], 3),
        ccl_binding=binding,
        heater_energy_wh=None if heater_wh is None else round(heater_wh, 1),
        charge_start_core_min_c=(
            None if t_start is None else round(float(true_core[int(np.argmax(charging))].min()), 2)
        ),
        pressure_min_mpa=_pressure(pressure_true, np.min),
        pressure_max_mpa=_pressure(pressure_true, np.max),
    )


def _pressure(p: np.ndarray | None, how: Callable[[np.ndarray], Any]) -> float | None:
    """RunSummary.pressure_min_mpa / _max_mpa: over every step and module (None: not pressed)."""
    if p is None or p.size == 0:
        return None
    return round(float(how(p)), 3)


def _ccl_binding(
    log: dict[str, np.ndarray],
    charging: np.ndarray,
    t: np.ndarray,
    t_start: float | None,
    time_to_target: float | None,
) -> tuple[tuple[str, float], ...] | None:
    """RunSummary.ccl_binding: the limiting terms over the charge's charging steps."""
    if t_start is None:
        return None
    window = charging & (t >= t_start)
    if time_to_target is not None:
        window &= t <= t_start + time_to_target
    lim = log["ccl_limit"][window].astype(np.int64)
    if lim.size == 0:
        return None
    counts = np.bincount(np.clip(lim, 0, N_LIMITING - 1), minlength=N_LIMITING) / lim.size
    order = np.argsort(-counts, kind="stable")
    return tuple((LIMITING_NAMES[i], round(float(counts[i]), 3)) for i in order if counts[i] >= 0.01)
