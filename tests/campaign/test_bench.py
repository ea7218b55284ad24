"""Acceptance 4 (the function `bms bench` calls): runs per minute on 1 and 2 local workers and
the scaling, here on tiny runs so the test stays fast. The figures are checked against a clock
outside the bench and against the runs' own timings, not against the bench's arithmetic."""

from __future__ import annotations

import io
import time

from rich.console import Console

from bms.campaign.bench import campaign_bench

RUNS = 2


def test_campaign_bench_rates_agree_with_an_outside_clock_and_the_runs_timings():
    buf = io.StringIO()
    t0 = time.perf_counter()
    d = campaign_bench(Console(file=buf, width=140), runs=RUNS, duration_s=10.0, series=8)
    elapsed = time.perf_counter() - t0
    one, two = d["workers"]["1"], d["workers"]["2"]
    # both batches ran inside the call: together no longer than the outside clock saw
    assert 0 < one["wall_s"] + two["wall_s"] <= elapsed
    for w in (one, two):
        # a rate measured over a batch inside the call is at least the rate over the whole call
        assert w["runs_per_min"] >= RUNS / elapsed * 60 * 0.99
        # one run's CPU time is no more than its wall time (single-threaded BLAS in the worker)
        assert 0 < w["run_cpu_median_s"] <= w["run_wall_median_s"] * 1.05 + 0.01
    # one worker runs the batch one run after the other: its wall covers both runs
    # (the median of two runs is their mean); two workers need at least one run's time
    assert one["wall_s"] >= RUNS * one["run_wall_median_s"] * 0.95
    assert two["wall_s"] >= two["run_wall_median_s"] * 0.95
    ratio = two["runs_per_min"] / one["runs_per_min"]
    assert abs(d["scaling"] - ratio) <= 0.01
    out = buf.getvalue()
    assert "runs/min" in out and "Dask workers" in out
