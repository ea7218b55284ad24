"""Acceptance 4 (the function `bms bench` calls): runs per minute on 1 and 2 local workers and
the scaling, here on tiny runs so the test stays fast."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from bms.campaign.bench import campaign_bench


def test_campaign_bench_reports_runs_per_minute_and_scaling():
    buf = io.StringIO()
    d = campaign_bench(Console(file=buf, width=140), runs=2, duration_s=10.0, series=8)
    one, two = d["workers"]["1"], d["workers"]["2"]
    for w in (one, two):
        assert w["runs_per_min"] == pytest.approx(2 / w["wall_s"] * 60, abs=0.05)
    assert d["scaling"] == pytest.approx(two["runs_per_min"] / one["runs_per_min"], abs=0.01)
    out = buf.getvalue()
    assert "runs/min" in out and "Dask workers" in out
