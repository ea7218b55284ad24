"""`bms replay`: run the C estimators over a recorded cell log and score them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bms.cells import CellModel
from bms.errors import LogFormatError
from bms.firmware import Firmware, PackLayout
from bms.logs import dt_ms_from_time, read_cell_log, read_truth

SCORE_FROM_S = 300.0  # metrics skip the estimator's first 5 minutes (convergence)


@dataclass
class ReplayResult:
    time_s: np.ndarray
    soc: np.ndarray
    core_temp_c: np.ndarray
    voltage_pred_v: np.ndarray
    voltage_v: np.ndarray
    current_a: np.ndarray
    surface_temp_c: np.ndarray
    status: np.ndarray
    truth: dict[str, np.ndarray] | None
    metrics: dict[str, float] | None


def run_log(log: dict[str, np.ndarray], cell: CellModel) -> dict[str, np.ndarray]:
    """Run one cell log through the firmware in a single batched C call."""
    fw = Firmware(cell, PackLayout(n_cells=1, temp_sensor_cells=(0,)))
    n = len(log["time_s"])
    return fw.run_batch(
        dt_ms_from_time(log["time_s"]),
        log["current_a"],
        log["voltage_v"].reshape(n, 1),
        log["temperature_c"].reshape(n, 1),
    )


def score(
    time_s: np.ndarray, soc: np.ndarray, core_c: np.ndarray, truth: dict[str, np.ndarray]
) -> dict[str, float]:
    m = time_s >= SCORE_FROM_S
    if not m.any():
        raise LogFormatError(f"the log is shorter than {SCORE_FROM_S:.0f} s: nothing to score")
    es = soc[m] - truth["soc_true"][m]
    et = core_c[m] - truth["core_temp_c_true"][m]
    return {
        "soc_rmse": float(np.sqrt(np.mean(es**2))),
        "soc_max_abs": float(np.max(np.abs(es))),
        "core_temp_rmse_c": float(np.sqrt(np.mean(et**2))),
        "core_temp_max_abs_c": float(np.max(np.abs(et))),
    }


def replay(log_path: str | Path, cell: CellModel, truth_path: str | Path | None = None) -> ReplayResult:
    log = read_cell_log(log_path)
    truth = None
    if truth_path is not None:
        tr = read_truth(truth_path)
        if len(tr["time_s"]) != len(log["time_s"]) or not np.allclose(tr["time_s"], log["time_s"], atol=1e-6):
            raise LogFormatError(f"{truth_path}: its time_s column does not match the rows of {log_path}")
        truth = tr
    elif "soc_true" in log and "core_temp_c_true" in log:
        truth = {
            "time_s": log["time_s"],
            "soc_true": log["soc_true"],
            "core_temp_c_true": log["core_temp_c_true"],
        }
    elif "soc_true" in log or "core_temp_c_true" in log:
        raise LogFormatError(f"{log_path}: has only one of the truth columns soc_true, core_temp_c_true")
    out = run_log(log, cell)
    soc = out["soc"][:, 0].astype(float)
    core = out["core_temp_degc"][:, 0].astype(float)
    metrics = score(log["time_s"], soc, core, truth) if truth is not None else None
    return ReplayResult(
        time_s=log["time_s"],
        soc=soc,
        core_temp_c=core,
        voltage_pred_v=out["v_pred_v"][:, 0].astype(float),
        voltage_v=log["voltage_v"],
        current_a=log["current_a"],
        surface_temp_c=log["temperature_c"],
        status=out["status"],
        truth=truth,
        metrics=metrics,
    )


def write_outputs(res: ReplayResult, out_csv: str | Path) -> Path | None:
    """Write OUT.csv and, with truth, OUT.json beside it. Returns the JSON path."""
    p = Path(out_csv)
    p.parent.mkdir(parents=True, exist_ok=True)
    cols = [res.time_s, res.soc, res.core_temp_c, res.voltage_pred_v]
    header = "time_s,soc,core_temp_c,voltage_pred_v"
    fmt = ["%.3f", "%.6f", "%.4f", "%.5f"]
    if res.truth is not None:
        cols += [res.truth["soc_true"], res.truth["core_temp_c_true"]]
        header += ",soc_true,core_temp_c_true"
        fmt += ["%.6f", "%.4f"]
    np.savetxt(p, np.column_stack(cols), delimiter=",", header=header, comments="", fmt=fmt)
    if res.metrics is None:
        return None
    jp = p.with_suffix(".json")
    jp.write_text(json.dumps(res.metrics, indent=2) + "\n")
    return jp
