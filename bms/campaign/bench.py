"""Campaign throughput: runs per minute of 10-minute 96-cell fast charges (fastcharge-10-80,
duration 600 s) on a local Dask cluster of 1 and of 2 worker processes, and the scaling
between them. Each cluster is warmed up first (imports, first runs) so the figure is the
steady rate a long campaign sees; the runs differ only in their seed."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import replace
from typing import Any

from rich.console import Console
from rich.table import Table

from bms.campaign.cluster import dask_client
from bms.campaign.worker import simulate_on_worker
from bms.chemistry import load_chemistry
from bms.errors import BmsError
from bms.sim.scenario import load_scenario


def _warm_up() -> None:
    from bms.sim.loop import run

    run(replace(load_scenario("fastcharge-10-80"), duration_s=5.0))


def campaign_bench(
    console: Console,
    runs: int = 8,
    duration_s: float = 600.0,
    series: int = 96,
    worker_counts: tuple[int, ...] = (1, 2),
) -> dict[str, Any]:
    base = replace(load_scenario("fastcharge-10-80"), duration_s=duration_s, series=series)
    chem = load_chemistry(base.chemistry)
    scns = [replace(base, seed=k + 1) for k in range(runs)]
    per: dict[int, dict[str, float]] = {}
    for n in worker_counts:
        with dask_client("local", n) as client:
            client.run(_warm_up)
            chem_f = client.scatter(chem, broadcast=True, hash=False)
            t0 = time.perf_counter()
            futs = client.map(simulate_on_worker, scns, [chem_f] * runs, pure=False)
            results = client.gather(futs)
            wall = time.perf_counter() - t0
        bad = [r["error"] for r in results if not r["ok"]]
        if bad:
            raise BmsError(f"campaign bench: a run failed: {bad[0]}")
        wall = round(wall, 3)
        per[n] = {
            "wall_s": wall,
            "runs_per_min": round(runs / wall * 60, 1),
            "run_wall_median_s": round(statistics.median(r["wall_s"] for r in results), 3),
            "run_cpu_median_s": round(statistics.median(r["cpu_s"] for r in results), 3),
        }
    first = per[worker_counts[0]]["runs_per_min"]
    tab = Table(
        title=f"campaign throughput: {runs} runs of fastcharge-10-80, {series} cells, "
        f"{duration_s:g} s simulated ({os.cpu_count()} CPUs)"
    )
    cols = (
        "Dask workers",
        "wall",
        "runs/min",
        "per run: wall / CPU (median)",
        f"vs {worker_counts[0]} worker",
    )
    for col in cols:
        tab.add_column(col, justify="right")
    for n, d in per.items():
        tab.add_row(
            str(n),
            f"{d['wall_s']:.1f} s",
            f"{d['runs_per_min']:.1f}",
            f"{d['run_wall_median_s']:.2f} s / {d['run_cpu_median_s']:.2f} s",
            f"{d['runs_per_min'] / first:.2f}x",
        )
    console.print(tab)
    console.print(
        "per run, wall above CPU time is time the worker waited for a core: other load on the machine "
        f"(load average now {', '.join(f'{x:.1f}' for x in os.getloadavg())})",
        highlight=False,
    )
    last = per[worker_counts[-1]]["runs_per_min"]
    return {
        "runs": runs,
        "duration_s": duration_s,
        "series": series,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "workers": {str(n): d for n, d in per.items()},
        "scaling": round(last / first, 2),
    }
