"""Acceptance 2: a campaign killed midway (SIGKILL of `bms campaign` and its workers) and run
again completes the rest without recomputing what was finished, and ends with the rows of an
uninterrupted campaign. The output folder survives a kill during a write."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from bms.campaign.cluster import dask_client
from bms.campaign.rows import deterministic
from bms.campaign.runner import run_campaign
from bms.campaign.spec import fingerprint, load_campaign
from bms.campaign.store import RunStore
from bms.errors import BmsError
from tests.campaign.conftest import BIN, kill_group, read_rows, write_campaign

RUNS = 10


def test_killed_campaign_resumes_without_recomputing(tmp_path):
    cfile = write_campaign(tmp_path, runs=RUNS, seed=9)
    out = tmp_path / "out"
    cmd = [str(BIN / "bms"), "campaign", str(cfile), "--out", str(out), "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        results = out / "results.jsonl"
        while not (results.is_file() and results.read_text().count("\n") >= 3):
            assert proc.poll() is None, f"bms campaign ended early: {proc.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "no 3 runs on disk within 90 s"
            time.sleep(0.02)
    finally:
        kill_group(proc)  # SIGKILL: the campaign process and its Dask workers
    before = read_rows(out)
    assert 3 <= len(before) < RUNS, "the kill came too late to test anything"
    done = {r["index"] for r in before}
    mtimes = {i: (out / f"scenarios/run-{i:06d}.toml").stat().st_mtime_ns for i in done}
    prefix = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in before)

    c = load_campaign(cfile)
    with dask_client("local", 2, processes=False) as client:
        res = run_campaign(c, out, client)
    after = read_rows(out)
    assert (out / "results.jsonl").read_text().startswith(prefix)  # appended to, never rewritten
    indices = [r["index"] for r in after]
    assert sorted(indices) == list(range(RUNS))  # every run once: none of the finished ones again
    assert res.computed == RUNS - len(done) and res.skipped == len(done)
    assert res.report["execution"]["skipped_done"] == len(done)
    for i, t in mtimes.items():
        assert (out / f"scenarios/run-{i:06d}.toml").stat().st_mtime_ns == t

    # the same campaign, uninterrupted
    with dask_client("local", 2, processes=False) as client:
        run_campaign(c, tmp_path / "whole", client)
    whole = {r["index"]: deterministic(r) for r in read_rows(tmp_path / "whole")}
    assert {r["index"]: deterministic(r) for r in after} == whole

    # and once more: nothing left to do
    with dask_client("local", 1, processes=False) as client:
        again = run_campaign(c, out, client)
    assert again.computed == 0 and len(read_rows(out)) == RUNS


def test_partial_last_line_is_dropped_and_the_run_redone(tmp_path):
    cfile = write_campaign(tmp_path, runs=3, seed=4)
    c = load_campaign(cfile)
    out = tmp_path / "out"
    with dask_client("local", 1, processes=False) as client:
        run_campaign(c, out, client)
    rows = read_rows(out)
    # as if killed while appending the row of run 2: a partial line, no newline
    text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows if r["index"] != 2)
    (out / "results.jsonl").write_text(text + '{"index":2,"status":"ok","max_ce')
    with RunStore.open(out, fingerprint(c), c.name, cfile.read_text()) as st:
        assert st.done() == {0, 1}
    assert (out / "results.jsonl").read_text() == text
    with dask_client("local", 1, processes=False) as client:
        res = run_campaign(c, out, client)
    assert res.computed == 1
    assert {r["index"]: deterministic(r) for r in read_rows(out)} == {
        r["index"]: deterministic(r) for r in rows
    }


def test_failed_runs_are_recorded_and_retried(tmp_path):
    cfile = write_campaign(tmp_path, runs=2, seed=4)
    c = load_campaign(cfile)
    out = tmp_path / "out"
    with dask_client("local", 1, processes=False) as client:
        run_campaign(c, out, client)
    rows = read_rows(out)
    bad = {**rows[0], "status": "failed", "error": "RuntimeError: boom"}
    (out / "results.jsonl").write_text(json.dumps(bad) + "\n" + json.dumps(rows[1]) + "\n")
    with RunStore.open(out, fingerprint(c), c.name, "") as st:
        assert st.done() == {rows[1]["index"]}
    with dask_client("local", 1, processes=False) as client:
        res = run_campaign(c, out, client)
    assert res.computed == 1 and res.report["runs"]["failed"] == 0 and res.report["runs"]["ok"] == 2


def test_another_campaign_in_the_same_folder_is_refused(tmp_path):
    c = load_campaign(write_campaign(tmp_path, runs=2, seed=4))
    out = tmp_path / "out"
    RunStore.open(out, fingerprint(c), c.name, "").close()
    other = load_campaign(write_campaign(tmp_path, runs=2, seed=5))
    with pytest.raises(BmsError, match="holds the results of another campaign"):
        RunStore.open(out, fingerprint(other), other.name, "")
    more = load_campaign(write_campaign(tmp_path, runs=5, seed=4))  # more runs of the same: fine
    assert fingerprint(more) == fingerprint(c)
    with (
        RunStore.open(out, fingerprint(c), c.name, ""),
        pytest.raises(BmsError, match="another `bms campaign`"),
    ):
        RunStore.open(out, fingerprint(c), c.name, "")


def test_more_runs_of_the_same_campaign_compute_only_the_new_ones(tmp_path):
    cfile = write_campaign(tmp_path, runs=2, seed=6)
    out = tmp_path / "out"
    with dask_client("local", 1, processes=False) as client:
        run_campaign(load_campaign(cfile), out, client)
        first = {r["index"]: deterministic(r) for r in read_rows(out)}
        res = run_campaign(load_campaign(cfile, runs=4), out, client)
    assert res.computed == 2 and res.report["runs"]["ok"] == 4
    rows = {r["index"]: deterministic(r) for r in read_rows(out)}
    assert sorted(rows) == [0, 1, 2, 3] and {i: rows[i] for i in first} == first


def test_a_run_that_raises_is_recorded_as_failed_and_the_campaign_goes_on(tmp_path, monkeypatch):
    import bms.sim.loop

    c = load_campaign(write_campaign(tmp_path, runs=3, seed=4))
    real_run = bms.sim.loop.run

    def flaky(scn, *a, **kw):
        if scn.name.endswith("run000001"):
            raise RuntimeError("plant diverged")
        return real_run(scn, *a, **kw)

    monkeypatch.setattr(bms.sim.loop, "run", flaky)  # the in-process (threaded) workers see it
    out = tmp_path / "out"
    with dask_client("local", 1, processes=False) as client:
        res = run_campaign(c, out, client)
    assert res.report["runs"]["ok"] == 2 and res.report["runs"]["failed"] == 1
    assert res.report["runs"]["failed_runs"] == [{"index": 1, "error": "RuntimeError: plant diverged"}]
    assert (out / "scenarios/run-000001.toml").is_file()  # to reproduce the failure
    monkeypatch.setattr(bms.sim.loop, "run", real_run)
    with dask_client("local", 1, processes=False) as client:
        again = run_campaign(c, out, client)
    assert again.computed == 1 and again.report["runs"]["failed"] == 0
