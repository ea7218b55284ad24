"""What runs on a Dask worker: one closed-loop simulation, its summary back to the client
(the client writes every file, so workers need no access to the output folder)."""

from __future__ import annotations

import sys
import time
from typing import Any

from bms.chemistry import Chemistry
from bms.sim.scenario import Scenario


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "in-process"


def simulate_on_worker(scn: Scenario, chemistry: Chemistry) -> dict[str, Any]:
    """One run. An exception in the simulation is returned as the run's error (the campaign
    records the run as failed and goes on), never raised."""
    t0 = time.perf_counter()
    c0 = time.thread_time()
    try:
        from bms.sim.checks import check_run
        from bms.sim.loop import run

        res = run(scn, chemistry=chemistry)
        # the step-by-step safety properties (bms/sim/checks.py) travel with the summary
        summ = res.summary.with_violations([str(v) for v in check_run(res, chemistry)])
    except Exception as exc:  # a run that fails is a result of the campaign, not its end
        return {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "worker": _worker_address(),
            "wall_s": round(time.perf_counter() - t0, 3),
            "cpu_s": round(time.thread_time() - c0, 3),
        }
    return {
        "ok": True,
        "summary": summ,
        "worker": _worker_address(),
        "wall_s": round(time.perf_counter() - t0, 3),
        "cpu_s": round(time.thread_time() - c0, 3),  # this thread's CPU time: wall less waiting
    }


def probe() -> dict[str, Any]:
    """What a worker runs: Python and package versions and the firmware's configuration size,
    compared with the client's before a campaign starts."""
    from importlib.metadata import PackageNotFoundError, version

    from bms._native import ffi

    try:
        pkg = version("bms-bench")
    except PackageNotFoundError:
        pkg = "unknown"
    return {
        "python": ".".join(map(str, sys.version_info[:2])),
        "bms-bench": pkg,
        "bms_config_t": int(ffi.sizeof("bms_config_t")),
    }
