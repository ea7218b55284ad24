"""A run's summary (summary.json): time to the charge target, the estimators' errors,
the plant's true maxima against the chemistry's limits, the faults, the real-time factor."""

from __future__ import annotations

import numpy as np

from bms.chemistry import Chemistry
from bms.sim.scenario import Scenario


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
) -> dict[str, object]:
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
    if t_start is not None and complete.any():
        k = int(np.argmax(complete))
        time_to_target = round(float(t[k]) - t_start + scn.dt_ms / 1000.0, 1)
        soc_true_at_target = round(float(log["soc_true_mean"][k]), 4)
    # converged: the steps from min(60 s, half the run) on (t rises: a slice, not a mask copy)
    conv = int(np.searchsorted(t, min(60.0, float(t[-1]) / 2)))
    soc_err = (est_soc[conv:] - true_soc[conv:]).ravel()
    core_err = (est_core[conv:] - true_core[conv:]).ravel()
    sim_s = float(t[-1]) if len(t) else 0.0
    return {
        "scenario": scn.name,
        "chemistry": scn.chemistry,
        "pack": f"{scn.series}s{scn.parallel}p",
        "time_to_target_s": time_to_target,
        "soc_true_at_target": soc_true_at_target,
        "charge_start_s": t_start,
        "soc_true_end": round(float(log["soc_true_mean"][-1]), 4),
        "soc_est_end": round(float(log["soc_est_mean"][-1]), 4),
        "max_cell_v_true": round(float(log["cell_v_true_max"].max()), 4),
        "max_core_temp_c_true": round(float(log["core_temp_true_max_c"].max()), 2),
        "soc_rmse": round(float(np.sqrt(np.mean(soc_err**2))), 5) if soc_err.size else None,
        "core_temp_rmse_c": round(float(np.sqrt(np.mean(core_err**2))), 3) if core_err.size else None,
        "faults": faults,
        "contactor_open_s": contactor_open_s,
        "charge_limit_v": chem.protection.charge.cell_v_charge_max_v,
        "abs_max_cell_v": chem.abs_max.cell_v,
        "abs_max_core_temp_c": chem.abs_max.core_temp_c,
        "steps": len(t),
        "sim_s": round(sim_s, 3),
        "wall_s": round(wall, 3),
        "realtime_factor": round(sim_s / wall, 1) if wall > 0 else None,
    }
