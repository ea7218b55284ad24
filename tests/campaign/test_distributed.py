"""Acceptance 1: the same campaign on the default local cluster and on a real `dask scheduler`
with two `dask worker` processes gives identical per-run results; each row is what a direct
run of its saved scenario gives; an unreachable scheduler is a clear error, not a hang."""

from __future__ import annotations

import subprocess
import sys
import time
import tomllib
from pathlib import Path

from click.testing import CliRunner

from bms.campaign.cluster import dask_client
from bms.campaign.rows import deterministic
from bms.campaign.runner import run_campaign
from bms.campaign.spec import load_campaign
from bms.campaign.verdict import Limits, judge
from bms.chemistry import load_chemistry
from bms.cli import main
from bms.sim.loop import run
from bms.sim.scenario import load_scenario
from tests.campaign.conftest import BIN, read_rows, write_campaign

RUNS = 8


def _by_index(out: Path) -> dict[int, dict]:
    rows = read_rows(out)
    assert len(rows) == len({r["index"] for r in rows}), "a run was written twice"
    return {r["index"]: deterministic(r) for r in rows}


def test_local_cluster_and_real_scheduler_give_identical_runs(tmp_path, dask_scheduler):
    cfile = write_campaign(tmp_path, runs=RUNS)
    c = load_campaign(cfile)
    local = tmp_path / "local"
    with dask_client("local", 2) as client:
        res = run_campaign(c, local, client)
    assert res.report["runs"]["ok"] == RUNS and res.report["execution"]["workers"] == 2

    remote = tmp_path / "remote"
    proc = subprocess.run(
        [
            *(str(BIN / "bms"), "campaign", str(cfile), "--out", str(remote)),
            *("--scheduler", dask_scheduler, "--workers", "2", "--connect-timeout", "30"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (
        f"{RUNS}/{RUNS}" in proc.stdout and "failed 0" in proc.stdout and "runs/min" in proc.stdout
    )  # progress
    a, b = _by_index(local), _by_index(remote)
    assert sorted(a) == list(range(RUNS))
    assert a == b
    workers = {r["worker"] for r in read_rows(remote)}
    assert len(workers) == 2 and all(w.startswith("tcp://127.0.0.1:") for w in workers)
    for i in range(RUNS):
        name = f"scenarios/run-{i:06d}.toml"
        assert tomllib.loads((local / name).read_text()) == tomllib.loads((remote / name).read_text())
    # the campaign is a mix worth comparing: faults detected, runs without a fault
    assert any(r["faults_injected"] for r in a.values()) and any(not r["faults_injected"] for r in a.values())


def test_a_row_is_what_its_saved_scenario_gives_when_run_directly(tmp_path):
    cfile = write_campaign(tmp_path, runs=3, seed=5)
    c = load_campaign(cfile)
    with dask_client("local", 1, processes=False) as client:
        run_campaign(c, tmp_path / "out", client)
    for row in read_rows(tmp_path / "out"):
        scn = load_scenario(tmp_path / "out" / row["scenario_file"])
        s = run(scn).summary
        chem = load_chemistry(scn.chemistry)
        expect = judge(s, Limits(chem.abs_max.cell_v, chem.abs_max.core_temp_c), scn.dt_ms / 1000)
        assert row["max_cell_v_true"] == s.max_cell_v_true
        assert row["max_core_temp_c_true"] == s.max_core_temp_c_true
        assert row["time_to_target_s"] == s.time_to_target_s
        assert row["steps"] == s.steps
        for k, v in expect.items():
            assert row[k] == v, k


def test_unreachable_scheduler_is_a_clear_error_within_the_timeout(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfile = write_campaign(tmp_path, runs=2)
    t0 = time.monotonic()
    r = CliRunner().invoke(
        main,
        [
            *("campaign", str(cfile), "--out", str(tmp_path / "o")),
            *("--scheduler", f"tcp://127.0.0.1:{port}", "--connect-timeout", "2"),
        ],
    )
    assert r.exit_code == 2, r.output
    assert "no Dask scheduler answered within 2 s" in r.output and "Traceback" not in r.output
    assert time.monotonic() - t0 < 30
    r = CliRunner().invoke(
        main, ["campaign", str(cfile), "--out", str(tmp_path / "o"), "--scheduler", "nowhere"]
    )
    assert r.exit_code == 2 and "use 'local' or a scheduler address" in r.output


def test_python_of_the_workers_is_this_one():
    # the dask CLI the fixture starts is this environment's, so workers import this bms
    assert (BIN / "dask").is_file() and Path(sys.executable).parent == BIN
