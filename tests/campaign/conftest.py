"""Shared pieces of the campaign tests: small campaign files, output folders, a real Dask
scheduler with two workers on loopback (subprocesses, always killed)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
BIN = Path(sys.executable).parent

# A fault campaign on an 8-cell pack, two minutes simulated per run: fault and no-fault runs,
# cell and pack-level faults, sampled ambient, initial SoC, spread and charger lag.
SMALL = """
[campaign]
name = "small"
base = "fastcharge-10-80"
runs = {runs}
seed = {seed}

[sample]
series = 8
duration_s = 120.0
ambient_c = {{ uniform = [10.0, 35.0] }}
soc_start = {{ uniform = [0.1, 0.3] }}

[sample.spread]
resistance = {{ normal = [0.02, 0.01], clip = [0.0, 0.05] }}

[sample.charger]
tau_s = {{ uniform = [0.1, 0.8] }}

[faults]
probability = 0.7
kinds = ["open_sense_wire", "ntc_short", "internal_short", "charger_overshoot", "comm_loss"]
at_s = {{ uniform = [20.0, 90.0] }}
"""


def write_campaign(folder: Path, runs: int = 6, seed: int = 3, text: str = SMALL) -> Path:
    p = folder / "campaign.toml"
    p.write_text(text.format(runs=runs, seed=seed))
    return p


def read_rows(out: Path) -> list[dict]:
    """Every complete line of results.jsonl, in file order."""
    lines = (out / "results.jsonl").read_text().splitlines(keepends=True)
    return [json.loads(x) for x in lines if x.endswith("\n")]


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a process started with start_new_session=True and everything it started."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


@pytest.fixture
def dask_scheduler(tmp_path: Path) -> Iterator[str]:
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1 (free port via
    --port 0 and a scheduler file); the address; all killed at teardown."""
    sched_file = tmp_path / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__LOGGING__DISTRIBUTED": "error"}
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> None:
        procs.append(
            subprocess.Popen(
                [str(BIN / "dask"), *args],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
        )

    try:
        start(
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(sched_file),
        )
        deadline = time.monotonic() + 30
        while not sched_file.is_file() or not sched_file.read_text().strip():
            assert procs[0].poll() is None, "dask scheduler exited"
            assert time.monotonic() < deadline, "dask scheduler did not start within 30 s"
            time.sleep(0.1)
        time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        for _ in range(2):
            start(
                "worker",
                address,
                "--nthreads",
                "1",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
                "--death-timeout",
                "30",
            )
        yield address
    finally:
        for p in reversed(procs):
            kill_group(p)
