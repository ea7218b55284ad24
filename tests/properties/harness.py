"""Run a scenario on the bench with the safety monitor; a violation fails with the
scenario written as a file that `bms simulate --scenario` re-runs."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from hypothesis import note

from bms.sim.checks import Violation, check_run
from bms.sim.loop import ClosedLoop, SimResult
from bms.sim.scenario import Scenario, scenario_to_toml

COUNTEREXAMPLES = Path("build/counterexamples")


def record(scn: Scenario, res: SimResult, wall_s: float) -> None:
    """With BMS_PROPS_STATS=DIR, one JSON line per checked scenario (per process), for
    the throughput figure (python -m tests.properties.throughput DIR)."""
    out = os.environ.get("BMS_PROPS_STATS")
    if not out:
        return
    Path(out).mkdir(parents=True, exist_ok=True)
    line = {
        "cells": scn.series,
        "parallel": scn.parallel,
        "chemistry": scn.chemistry,
        "faults": len(scn.faults),
        "sim_s": res.summary.sim_s,
        "wall_s": wall_s,
    }
    with open(Path(out) / f"{os.getpid()}.jsonl", "a") as fh:
        fh.write(json.dumps(line) + "\n")


def save_counterexample(scn: Scenario) -> Path:
    text = scenario_to_toml(scn)
    COUNTEREXAMPLES.mkdir(parents=True, exist_ok=True)
    path = COUNTEREXAMPLES / f"{hashlib.sha1(text.encode()).hexdigest()[:12]}.toml"
    path.write_text(text)
    return path


def fail_with_scenario(scn: Scenario, violations: list[Violation]) -> None:
    path = save_counterexample(scn)
    note(f"scenario file {path}:\n{path.read_text()}")
    raise AssertionError(
        "\n".join(str(v) for v in violations)
        + f"\nscenario written to {path}\nre-run it: bms simulate --scenario {path}"
    )


def check_scenario(bench: Callable[..., ClosedLoop], scn: Scenario) -> SimResult:
    """Run the whole scenario, check every step; fail on any violated property."""
    t0 = time.perf_counter()
    loop = bench(scn)
    while loop.step() is not None:
        pass
    res = loop.result()
    violations = check_run(res, loop.chem)  # the chemistry the loop ran (loaded once)
    record(scn, res, time.perf_counter() - t0)
    if violations:
        fail_with_scenario(scn, violations)
    return res
