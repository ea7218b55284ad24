"""Acceptance 3: a campaign over a planted unsafe fast-charge profile
(data/nmc811-xfc-misconfigured.toml: a 6C map with the 4.35 V window of another cell) reports
violations; each saved scenario reproduces its violation with `bms simulate`; the report's
counts are those recomputed from the rows; a too-high map alone and the shipped profile
stay within the real cell's limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bms.campaign.cluster import dask_client
from bms.campaign.runner import run_campaign
from bms.campaign.spec import load_campaign
from bms.cli import main
from tests.campaign.conftest import DATA, read_rows

CELL_V_MAX, CORE_T_MAX = 4.30, 70.0  # LG M50T: the campaign file's [abs_max]


@pytest.fixture(scope="module")
def campaign_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("unsafe") / "out"
    c = load_campaign(DATA / "unsafe-map.toml")
    with dask_client("local", 2) as client:
        res = run_campaign(c, out, client)
    return c, out, res.report, {r["index"]: r for r in read_rows(out)}


def test_planted_profile_violates_and_nothing_else_does(campaign_out):
    _c, _out, rep, rows = campaign_out
    assert rep["runs"]["ok"] == len(rows) == 9
    over = {
        i
        for i, r in rows.items()
        if r["max_cell_v_true"] > CELL_V_MAX or r["max_core_temp_c_true"] > CORE_T_MAX
    }
    violating = {i for i, r in rows.items() if r["violation"]}
    assert violating == over and len(over) >= 2
    chem = {i: Path(r["chemistry"]).stem for i, r in rows.items()}
    assert {chem[i] for i in over} == {"nmc811-xfc-misconfigured"}
    # the shipped profile and the too-high map alone were both sampled, and stayed within
    for name in ("nmc811-graphite", "nmc811-xfc-map-only"):
        mine = [r for i, r in rows.items() if chem[i] == name]
        assert mine, f"no run of {name} in the sample"
        assert all(r["max_cell_v_true"] <= CELL_V_MAX and not r["violation"] for r in mine)
    # the report's aggregates are the rows'
    assert rep["violations"]["count"] == len(over)
    assert rep["violations"]["by_type"]["overvoltage"] == sum(
        r["max_cell_v_true"] > CELL_V_MAX for r in rows.values()
    )
    assert {v["index"] for v in rep["violations"]["runs"]} == over
    assert rep["max_cell_v_true"]["max"] == max(r["max_cell_v_true"] for r in rows.values())
    assert rep["max_cell_v_true"]["over_limit"] == rep["violations"]["by_type"]["overvoltage"]
    assert rep["false_trips"]["count"] == sum(bool(r["faults_latched"]) for r in rows.values())
    for r in rows.values():
        assert r["margin_cell_v"] == pytest.approx(CELL_V_MAX - r["max_cell_v_true"], abs=1e-9)


def test_each_saved_violation_reproduces_with_bms_simulate(campaign_out, tmp_path):
    _c, out, rep, rows = campaign_out
    for v in rep["violations"]["runs"]:
        saved = out / v["scenario"]
        assert saved.read_text().startswith("# Run ")  # says what it violated
        r = CliRunner().invoke(
            main, ["simulate", "--scenario", str(saved), "--out", str(tmp_path / saved.stem)]
        )
        # 0, or 1 where `bms simulate` holds the run to its own safety checks and finds it broken
        assert r.exit_code in (0, 1) and "Traceback" not in r.output, r.output
        s = json.loads((tmp_path / saved.stem / "summary.json").read_text())
        assert s["max_cell_v_true"] == rows[v["index"]]["max_cell_v_true"] > CELL_V_MAX
        assert s["chemistry"].endswith("nmc811-xfc-misconfigured.toml")


def test_report_files(campaign_out):
    _c, out, rep, _rows = campaign_out
    for name in ("report.json", "results.parquet", "time_to_target.png", "worst_case.png", "campaign.toml"):
        assert (out / name).is_file(), name
    assert json.loads((out / "report.json").read_text()) == rep
    import pyarrow.parquet as pq

    t = pq.read_table(out / "results.parquet")
    assert t.num_rows == 9 and sorted(t.column("index").to_pylist()) == list(range(9))
