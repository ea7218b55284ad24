"""`bms bench`: throughput of the firmware in-process, the replay's wall time and the
closed loop's real-time factor (bms/sim/bench.py)."""

from __future__ import annotations

import os
import time
from importlib import resources
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from bms.cells import CellModel, load_cell
from bms.firmware import Firmware, PackLayout

DEFAULT_REFERENCE = Path("../shared/data/reference/chen2020-25c")


def shipped_cell(name: str = "lgm50-chen2020") -> CellModel:
    return load_cell(resources.files("bms") / "data" / "cells" / f"{name}.toml")


def synthetic_pack_log(cell: CellModel, n_cells: int, n_samples: int, seed: int = 1) -> dict[str, np.ndarray]:
    """Plausible pack measurements: a drive-like current, cells spread in SoC."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples, dtype=float) * 0.1
    i_a = cell.capacity_ah * (1.5 * np.sin(t / 7.0) + 0.5 * np.sin(t / 1.3))
    soc0 = 0.6 + 0.02 * rng.standard_normal(n_cells)
    soc = soc0[None, :] - np.cumsum(i_a * 0.1)[:, None] / (3600 * cell.capacity_ah)
    ocv = np.interp(soc, cell.soc, cell.ocv_v[len(cell.temp_c) // 2])
    r0 = float(np.median(cell.r0_ohm))
    v = ocv - r0 * i_a[:, None] + 0.002 * rng.standard_normal((n_samples, n_cells))
    n_sens = max(1, n_cells // 4)
    temp = 25.0 + 0.1 * rng.standard_normal((n_samples, n_sens))
    return {
        "dt_ms": np.full(n_samples, 100, dtype=np.uint32),
        "current_a": i_a,
        "cell_v": v,
        "temp_degc": temp,
        "sensors": tuple(range(0, n_cells, 4))[:n_sens],
    }


def run_bench(
    console: Console,
    n_cells: int = 96,
    n_samples: int = 20000,
    data: Path | None = None,
    closed_loop: bool = True,
) -> dict[str, float]:
    cell = shipped_cell()
    log = synthetic_pack_log(cell, n_cells, n_samples)
    layout = PackLayout(n_cells=n_cells, temp_sensor_cells=log["sensors"])
    results: dict[str, float] = {}

    fw = Firmware(cell, layout)
    t0 = time.perf_counter()
    fw.run_batch(log["dt_ms"], log["current_a"], log["cell_v"], log["temp_degc"])
    t_batch = time.perf_counter() - t0
    batch_rate = n_cells * n_samples / t_batch

    # reference in the same run: one Python call per step through the same C code
    n_ref = min(n_samples, 3000)
    fw2 = Firmware(cell, layout)
    t0 = time.perf_counter()
    for k in range(n_ref):
        fw2.step_arrays(
            int(log["dt_ms"][k]), float(log["current_a"][k]), log["cell_v"][k], log["temp_degc"][k]
        )
    t_loop = time.perf_counter() - t0
    loop_rate = n_cells * n_ref / t_loop

    results.update(
        cell_steps_per_s=batch_rate,
        per_call_cell_steps_per_s=loop_rate,
        batch_vs_per_call=batch_rate / loop_rate,
        step_us_96=t_batch / n_samples * 1e6,
    )
    tab = Table(title=f"estimator throughput ({n_cells} cells, {n_samples} steps, in-process)")
    tab.add_column("path")
    tab.add_column("cell-steps/s", justify="right")
    tab.add_column("µs per pack step", justify="right")
    tab.add_column("ratio", justify="right")
    tab.add_row(
        "batched C call (bms_step_batch)",
        f"{batch_rate:,.0f}",
        f"{t_batch / n_samples * 1e6:.1f}",
        f"{batch_rate / loop_rate:.1f}×",
    )
    tab.add_row(
        "one Python call per step (reference)", f"{loop_rate:,.0f}", f"{t_loop / n_ref * 1e6:.1f}", "1.0×"
    )
    console.print(tab)

    ref_dir = data or Path(os.environ.get("BMS_REFERENCE_DATA", DEFAULT_REFERENCE))
    valid, truth, char = ref_dir / "valid.csv.gz", ref_dir / "truth.csv.gz", ref_dir / "char.csv.gz"
    if valid.is_file() and truth.is_file() and char.is_file():
        from bms.fit import fit_cell
        from bms.logs import read_cell_log
        from bms.replay import replay

        t0 = time.perf_counter()
        fitted = fit_cell([char]).cell
        t_fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        log_rows = read_cell_log(valid)
        t_read = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = replay(valid, fitted, truth)
        t_replay = time.perf_counter() - t0
        span = float(log_rows["time_s"][-1] - log_rows["time_s"][0])
        tab = Table(title=f"replay of {valid} ({len(log_rows['time_s'])} rows, {span / 3600:.2f} h)")
        tab.add_column("stage")
        tab.add_column("wall time", justify="right")
        tab.add_row("bms fit char.csv.gz", f"{t_fit:.2f} s")
        tab.add_row("read + validate the log (reference)", f"{t_read * 1e3:.0f} ms")
        tab.add_row("bms replay (read + estimate + score)", f"{t_replay * 1e3:.0f} ms")
        tab.add_row("replay speed", f"{span / t_replay:,.0f}× real time")
        console.print(tab)
        assert res.metrics is not None
        results.update(replay_wall_s=t_replay, fit_wall_s=t_fit, **res.metrics)
    else:
        console.print(
            f"[yellow]reference data not found in {ref_dir}: replay timing skipped "
            f"(set BMS_REFERENCE_DATA or --data)[/]"
        )
    if closed_loop:
        from bms.sim.bench import closed_loop_bench

        results.update(closed_loop_bench(console, series=n_cells))
    return results


# `bms bench --json FILE`: the figures issue 17 names, flat, each beside its same-run baseline
# where one exists; a figure this run could not measure is null with the reason in `missing`
DEFAULT_BOARD = "mps2_an386"


def bench_figures(
    core: dict[str, float], hil: dict[str, float] | None, campaign: dict[str, object] | None
) -> dict[str, object]:
    """The flat figures of one `bms bench` run from what its sections returned."""
    missing: dict[str, str] = {}
    fig: dict[str, object] = {}

    def put(key: str, value: object, why: str) -> None:
        fig[key] = value
        if value is None:
            missing[key] = why

    rtf = core.get("closed_loop_rtf")
    put("closed_loop_rtf", rtf, "the closed loop was not run (--no-closed-loop)")
    spme = core.get("pybamm_spme_wall_s")
    if rtf is not None and spme:
        sim_s = rtf * core["closed_loop_wall_s"]
        fig["closed_loop_rtf_baseline_pybamm_spme"] = sim_s / spme
    else:
        put("closed_loop_rtf_baseline_pybamm_spme", None, "PyBaMM not installed or the closed loop not run")
    put("batch_closed_loop_rtf", None, "no batched closed loop exists yet (issue 17, part 1)")
    put("props_per_min", None, "measured by make props-1000 (the property suite), not by bms bench")
    runs = None
    if campaign:
        workers = campaign.get("workers")
        if isinstance(workers, dict) and workers:
            runs = workers[max(workers, key=int)].get("runs_per_min")
    put("campaign_runs_per_min", runs, "the campaign bench was not run (--no-campaign, or no campaign extra)")
    h = hil or {}
    no_hil = "the HIL bench was not run or lacks its tools (arm-none-eabi-gcc, qemu-system-arm)"
    put("insn_per_cell_step", h.get("insn_per_step_per_cell_96"), no_hil)
    put("flash_192_b", h.get(f"flash_bytes_192_{DEFAULT_BOARD}"), no_hil)
    put("ram_192_b", h.get(f"ram_bytes_192_{DEFAULT_BOARD}"), no_hil)
    put("pil_steps_per_s_96", h.get("pil_steps_per_s_96"), no_hil)
    fig["cell_steps_per_s"] = core.get("cell_steps_per_s")
    fig["cell_steps_per_s_baseline_per_call"] = core.get("per_call_cell_steps_per_s")
    fig["cpus"] = os.cpu_count()
    fig["missing"] = missing
    return fig
