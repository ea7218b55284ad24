"""`bms replay`: run the C estimators over a recorded cell log and score them.

Two paths with the same result to the bit: `replay` holds the whole log in memory (the
library call), `replay_to_file` streams it in chunks through one firmware instance and
writes the CSV as it goes (the command: memory bounded by the chunk, not the log).

Rows the firmware flags unusable (current, a cell voltage or the temperature invalid, or a
time step it cannot predict over) are no estimate: their SoC, core temperature and predicted
voltage are written as nan, and they are never scored. A log whose units or current sign are
wrong is refused before it runs (bms.logs.check_units, StepEvidence)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bms._native import ffi, lib
from bms.cells import CellModel
from bms.errors import ConfigError, LogFormatError
from bms.firmware import Firmware, PackLayout, fill_nvm
from bms.logs import (
    DEFAULT_CHUNK_ROWS,
    LOG_COLUMNS,
    TRUTH_COLUMNS,
    TRUTH_OPTIONAL,
    StepEvidence,
    check_units,
    dt_ms_from_time,
    iter_table,
    read_cell_log,
    read_truth,
    truth_columns,
)
from bms.replay_score import Score, score, score_chunk

# status flags that make a row's estimate unusable (the first row's dt is always 0: it seeds)
INVALID_READING = lib.BMS_ST_CURRENT_INVALID | lib.BMS_ST_VOLTAGE_INVALID | lib.BMS_ST_TEMP_INVALID
INVALID_DT = lib.BMS_ST_DT_INVALID
CSV_HEADER = "time_s,soc,core_temp_c,voltage_pred_v"
CSV_FMT = ["%.3f", "%.6f", "%.4f", "%.5f"]
TRUTH_FMT = ["%.6f", "%.4f"]
PLOT_POINTS = 20000  # rows kept for the plot of a streamed replay
# 1-sigma of a SoC kept in non-volatile memory at the last shutdown (`--soc-stored`): the sim
# scenarios' default (bms.sim.scenario.Scenario.nvm_soc_sigma)
STORED_SOC_SIGMA = 0.005


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
    n_rows: int = 0  # rows of the log (the arrays may be a thinned copy for the plot)
    n_invalid: int = 0  # rows the firmware flagged unusable (nan, not scored)
    first_invalid_s: float | None = None
    span_s: float = 0.0  # time_s of the last row less the first


def invalid_rows(status: np.ndarray, first_row: bool) -> np.ndarray:
    """Rows whose estimate is unusable; `first_row`: status[0] is the log's first row."""
    bad = (status & INVALID_READING) != 0
    dt_bad = (status & INVALID_DT) != 0
    if first_row and len(dt_bad):
        dt_bad[0] = False
    return bad | dt_bad


def _as_outputs(out: dict[str, np.ndarray], bad: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    soc = out["soc"][:, 0].astype(float)
    core = out["core_temp_degc"][:, 0].astype(float)
    vpred = out["v_pred_v"][:, 0].astype(float)
    soc[bad] = np.nan
    core[bad] = np.nan
    vpred[bad] = np.nan
    return soc, core, vpred


def _step(fw: Firmware, log: dict[str, np.ndarray], prev_t: float | None) -> dict[str, np.ndarray]:
    t = log["time_s"] if prev_t is None else np.concatenate([[prev_t], log["time_s"]])
    dt = dt_ms_from_time(t)
    if prev_t is not None:
        dt = dt[1:]
    n = len(log["time_s"])
    return fw.run_batch(
        dt, log["current_a"], log["voltage_v"].reshape(n, 1), log["temperature_c"].reshape(n, 1)
    )


def with_current_sigma(cell: CellModel, sigma_a: float) -> CellModel:
    """The cell with its estimator told the current sensor's 1-sigma error (offset + noise):
    the firmware must be configured with the sensor that recorded the log (a lab cycler's
    is tens of times better than the automotive default of 1 % of 1C)."""
    if not (math.isfinite(sigma_a) and 0.0 < sigma_a <= 0.2 * cell.capacity_ah):
        raise ConfigError(
            f"--current-sigma-a must be > 0 A and at most 20 % of 1C "
            f"({0.2 * cell.capacity_ah:g} A), got {sigma_a:g}"
        )
    return replace(cell, estimator=replace(cell.estimator, current_noise_a=sigma_a))


def _firmware(cell: CellModel, soc_stored: float | None = None) -> Firmware:
    """One cell's firmware; with `soc_stored` its NvM block holds that SoC (1-sigma
    STORED_SOC_SIGMA), which the firmware fuses with the first voltage at power-up, as a BMS
    that was switched off at that SoC does."""
    fw = Firmware(cell, PackLayout(n_cells=1, temp_sensor_cells=(0,)))
    if soc_stored is not None:
        fill_nvm(fw.config, np.array([soc_stored]), STORED_SOC_SIGMA)
        fw.configure(bytes(ffi.buffer(fw.config)))
    return fw


def run_log(
    log: dict[str, np.ndarray],
    cell: CellModel,
    soc_init: float | None = None,
    soc_stored: float | None = None,
) -> dict[str, np.ndarray]:
    """Run one cell log through the firmware in a single batched C call (two with
    `soc_init`: the first sample seeds the estimators, then they are put at `soc_init`;
    `soc_stored`: the SoC in the NvM block at power-up)."""
    return _run(_firmware(cell, soc_stored), log, None, soc_init)


def _run(
    fw: Firmware, log: dict[str, np.ndarray], prev_t: float | None, soc_init: float | None
) -> dict[str, np.ndarray]:
    if soc_init is None or prev_t is not None:
        return _step(fw, log, prev_t)
    head = _step(fw, {k: v[:1] for k, v in log.items()}, None)
    fw.start_soc_estimate_at(soc_init)
    if len(log["time_s"]) == 1:
        return head
    tail = _step(fw, {k: v[1:] for k, v in log.items()}, float(log["time_s"][0]))
    return {k: np.concatenate([head[k], tail[k]]) for k in head}


def _truth_of_log(log: dict[str, np.ndarray], log_path: str | Path) -> dict[str, np.ndarray] | None:
    has = [c in log for c in TRUTH_COLUMNS]
    if all(has):
        return {"time_s": log["time_s"], **{c: log[c] for c in TRUTH_COLUMNS}}
    if any(has):
        raise LogFormatError(f"{log_path}: has only one of the truth columns soc_true, core_temp_c_true")
    return None


def _check_truth_rows(
    tr: dict[str, np.ndarray], log: dict[str, np.ndarray], truth_path: str | Path, log_path: str | Path
) -> None:
    if len(tr["time_s"]) != len(log["time_s"]) or not np.allclose(tr["time_s"], log["time_s"], atol=1e-6):
        raise LogFormatError(f"{truth_path}: its time_s column does not match the rows of {log_path}")


def _check_log(log: dict[str, np.ndarray], cell: CellModel, where: str, ev: StepEvidence) -> None:
    check_units(log, where, cell.capacity_ah)
    ev.feed(log)
    ev.check(where)


def _evidence(cell: CellModel) -> StepEvidence:
    return StepEvidence(step_a=0.05 * cell.capacity_ah)


def replay(
    log_path: str | Path,
    cell: CellModel,
    truth_path: str | Path | None = None,
    soc_init: float | None = None,
    soc_stored: float | None = None,
) -> ReplayResult:
    """The whole log in memory, one batched C call."""
    log = read_cell_log(log_path)
    _check_log(log, cell, str(log_path), _evidence(cell))
    truth = None
    if truth_path is not None:
        truth = read_truth(truth_path)
        _check_truth_rows(truth, log, truth_path, log_path)
    else:
        truth = _truth_of_log(log, log_path)
    out = run_log(log, cell, soc_init, soc_stored)
    bad = invalid_rows(out["status"], True)
    soc, core, vpred = _as_outputs(out, bad)
    metrics = score(log, soc, core, truth, cell, bad, soc_init is not None) if truth is not None else None
    n_bad = int(bad.sum())
    return ReplayResult(
        time_s=log["time_s"],
        soc=soc,
        core_temp_c=core,
        voltage_pred_v=vpred,
        voltage_v=log["voltage_v"],
        current_a=log["current_a"],
        surface_temp_c=log["temperature_c"],
        status=out["status"],
        truth=truth,
        metrics=metrics,
        n_rows=len(log["time_s"]),
        n_invalid=n_bad,
        first_invalid_s=float(log["time_s"][np.argmax(bad)]) if n_bad else None,
        span_s=float(log["time_s"][-1] - log["time_s"][0]),
    )


def _csv_rows(
    fh: object,
    time_s: np.ndarray,
    soc: np.ndarray,
    core: np.ndarray,
    vpred: np.ndarray,
    truth: dict[str, np.ndarray] | None,
) -> None:
    cols = [time_s, soc, core, vpred]
    fmt = list(CSV_FMT)
    if truth is not None:
        cols += [truth["soc_true"], truth["core_temp_c_true"]]
        fmt += TRUTH_FMT
    np.savetxt(fh, np.column_stack(cols), delimiter=",", fmt=fmt)


def _header(with_truth: bool) -> str:
    return CSV_HEADER + (",soc_true,core_temp_c_true" if with_truth else "")


def _write_json(metrics: dict[str, float] | None, out_csv: Path) -> Path | None:
    if metrics is None:
        return None
    jp = out_csv.with_suffix(".json")
    tmp = jp.with_name(f".{jp.name}.tmp")
    tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    os.replace(tmp, jp)
    return jp


def write_outputs(res: ReplayResult, out_csv: str | Path) -> Path | None:
    """Write OUT.csv and, with truth, OUT.json beside it. Returns the JSON path."""
    p = Path(out_csv)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    with tmp.open("w") as fh:
        fh.write(_header(res.truth is not None) + "\n")
        _csv_rows(fh, res.time_s, res.soc, res.core_temp_c, res.voltage_pred_v, res.truth)
    os.replace(tmp, p)
    return _write_json(res.metrics, p)


def _paired(
    log_path: str | Path, truth_path: str | Path | None, chunk_rows: int
) -> Iterator[tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]]:
    """Chunks of the log and, row for row, of the truth file."""
    logs = iter_table(log_path, LOG_COLUMNS, TRUTH_COLUMNS, chunk_rows)
    if truth_path is None:
        for log in logs:
            yield log, _truth_of_log(log, log_path)
        return
    truths = (
        truth_columns(c, truth_path) for c in iter_table(truth_path, ("time_s",), TRUTH_OPTIONAL, chunk_rows)
    )
    mismatch = LogFormatError(f"{truth_path}: its time_s column does not match the rows of {log_path}")
    for log in logs:
        tr = next(truths, None)
        if tr is None:
            raise mismatch
        _check_truth_rows(tr, log, truth_path, log_path)
        yield log, tr
    if next(truths, None) is not None:
        raise mismatch


def replay_to_file(
    log_path: str | Path,
    cell: CellModel,
    out_csv: str | Path,
    truth_path: str | Path | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    plot_points: int = PLOT_POINTS,
    soc_init: float | None = None,
    soc_stored: float | None = None,
) -> ReplayResult:
    """Stream the log through one firmware instance `chunk_rows` rows at a time, writing
    OUT.csv (and OUT.json with truth) as write_outputs(replay(...)) would, to the bit. The
    result's arrays are every k-th row (at most about `plot_points`), for the plot; a refused
    log leaves no output file behind."""
    p = Path(out_csv)
    tmp = p.with_name(f".{p.name}.tmp")
    fw = _firmware(cell, soc_stored)
    ev = _evidence(cell)
    sc = Score(cell.capacity_ah, cell.coulombic_eff, soc_init is not None)
    past_any = False
    with_truth: bool | None = None
    prev_t: float | None = None
    n = n_bad = 0
    first_bad: float | None = None
    keep: dict[str, list[np.ndarray]] = {"row": []}
    stride = 1
    try:
        with tmp.open("w") as fh:
            for log, truth in _paired(log_path, truth_path, chunk_rows):
                _check_log(log, cell, str(log_path), ev)
                if with_truth is None:
                    with_truth = truth is not None
                    fh.write(_header(with_truth) + "\n")
                out = _run(fw, log, prev_t, soc_init)
                bad = invalid_rows(out["status"], prev_t is None)
                soc, core, vpred = _as_outputs(out, bad)
                t = log["time_s"]
                _csv_rows(fh, t, soc, core, vpred, truth)
                if truth is not None:
                    past_any |= score_chunk(sc, t, soc, core, truth, bad, log["current_a"])
                if bad.any():
                    if first_bad is None:
                        first_bad = float(t[np.argmax(bad)])
                    n_bad += int(bad.sum())
                # thin for the plot: rows whose index is a multiple of the stride, which
                # doubles whenever more than 2 * plot_points are kept
                rows = np.arange(n, n + len(t))
                sel = rows % stride == 0
                kept = {
                    "row": rows,
                    "t": t,
                    "soc": soc,
                    "core": core,
                    "vp": vpred,
                    "v": log["voltage_v"],
                    "i": log["current_a"],
                    "ts": log["temperature_c"],
                    "st": out["status"],
                }
                if truth is not None:
                    kept.update(st_t=truth["soc_true"], ct_t=truth["core_temp_c_true"])
                for k, arr in kept.items():
                    keep.setdefault(k, []).append(arr[sel])
                n += len(t)
                prev_t = float(t[-1])
                if sum(len(a) for a in keep["row"]) > 2 * plot_points:
                    stride *= 2
                    whole = {k: np.concatenate(v) for k, v in keep.items()}
                    m = whole["row"] % stride == 0
                    keep = {k: [v[m]] for k, v in whole.items()}
        metrics = sc.metrics(past_any) if with_truth else None
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    _write_json(metrics, p)
    cat = {k: np.concatenate(v) for k, v in keep.items()}
    return ReplayResult(
        time_s=cat["t"],
        soc=cat["soc"],
        core_temp_c=cat["core"],
        voltage_pred_v=cat["vp"],
        voltage_v=cat["v"],
        current_a=cat["i"],
        surface_temp_c=cat["ts"],
        status=cat["st"].astype(np.uint32),
        truth={"time_s": cat["t"], "soc_true": cat["st_t"], "core_temp_c_true": cat["ct_t"]}
        if with_truth
        else None,
        metrics=metrics,
        n_rows=n,
        n_invalid=n_bad,
        first_invalid_s=first_bad,
        span_s=float(prev_t - cat["t"][0]) if prev_t is not None else 0.0,
    )
