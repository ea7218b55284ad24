"""Campaign files and output folders against careless input (issue 16, item 8): refused at load
naming the field and the rule, before anything is written; failed runs make the exit non-zero."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

import bms.campaign.cli as campaign_cli_mod
import bms.campaign.runner as runner_mod
from bms.campaign.cluster import dask_client
from bms.campaign.spec import load_campaign
from tests.hostile.cli import assert_one_line_error, run

HEAD = """
[campaign]
name = "hostile"
base = "fastcharge-10-80"
runs = 3
seed = 1

[sample]
series = 4
duration_s = 5.0
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (
            "[sample.spread]\nresistance = -0.5\n",
            ("'sample.spread.resistance' = -0.5", "must be a finite number >= 0"),
        ),
        ("[sample.spread]\nresistance = 1e6\n", ("'sample.spread.resistance'", "must be within 0..0.1")),
        (
            "[sample.spread]\nresistance = { normal = [0.02, 0.01] }\n",
            ("'sample.spread.resistance': normal needs clip",),
        ),
        (
            '[faults]\nkinds = ["internal_short"]\nat_s = 2.0\ncell = 6\n',
            ("run 0", "faults[0].cell 6 does not exist"),
        ),
        (
            '[faults]\nkinds = ["internal_short"]\nat_s = { normal = [2.0, 1.0] }\n',
            ("'faults.at_s': normal needs clip",),
        ),
        ("[sample.pack]\ncurrent_range_a = 0.0\n", ("'pack.current_range_a' (0 A) must cover",)),
        ("[sample]\n", ("not valid TOML",)),  # a second [sample] table
    ],
)
def test_campaign_file_refused_at_load_and_nothing_written(tmp_path, extra, fragments):
    p = write(tmp_path, HEAD + extra)
    out = tmp_path / "out"
    code, _, err = run("campaign", p, "--out", out, "--workers", "1")
    assert_one_line_error(code, err, *fragments)
    assert not out.exists()


def test_a_drawn_pack_too_small_for_the_fault_cell(tmp_path):
    """series drawn from 4..8, the fault at cell 6: some runs' packs lack it; refused at load."""
    text = HEAD.replace("series = 4", "series = { randint = [4, 8] }")
    p = write(tmp_path, text + '[faults]\nkinds = ["internal_short"]\nat_s = 2.0\ncell = 6\n')
    with pytest.raises(
        Exception, match=r"run \d+ draws an invalid scenario: faults\[0\]\.cell 6 does not exist"
    ):
        load_campaign(p)


def test_binary_campaign_file(tmp_path):
    p = tmp_path / "bin.toml"
    p.write_bytes(bytes(range(256)) * 4)
    code, _, err = run("campaign", p, "--out", tmp_path / "o")
    assert_one_line_error(code, err, "not a text (UTF-8) TOML campaign file")


@pytest.fixture
def thread_cluster(monkeypatch):
    """The CLI's Dask cluster as threads in this process (so a patched worker function is used)."""

    @contextlib.contextmanager
    def local(scheduler, workers, timeout):
        with dask_client("local", 1, processes=False) as client:
            yield client

    monkeypatch.setattr(campaign_cli_mod, "dask_client", local)
    monkeypatch.setattr(campaign_cli_mod, "check_workers", lambda client: None)


def test_failed_runs_make_the_exit_non_zero(tmp_path, thread_cluster, monkeypatch):
    def broken(scn, chem):
        return {
            "ok": False,
            "error": "RuntimeError: plant diverged",
            "worker": "t",
            "wall_s": 0.0,
            "cpu_s": 0.0,
        }

    monkeypatch.setattr(runner_mod, "simulate_on_worker", broken)
    p = write(tmp_path, HEAD)
    out = tmp_path / "out"
    code, _, err = run("campaign", p, "--out", out)
    assert code == 1
    assert "error: 3 of 3 runs failed" in err
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == ["failed"] * 3


def test_a_good_campaign_exits_zero_and_reopens(tmp_path, thread_cluster):
    p = write(tmp_path, HEAD)
    out = tmp_path / "out"
    assert run("campaign", p, "--out", out)[0] == 0
    code, _, err = run("campaign", p, "--out", out)  # the same campaign: resumes, nothing to do
    assert code == 0, err


def test_out_with_another_campaigns_results_is_refused_before_writing(tmp_path, thread_cluster):
    p = write(tmp_path, HEAD)
    first = tmp_path / "first"
    assert run("campaign", p, "--out", first)[0] == 0
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "results.jsonl").write_bytes((first / "results.jsonl").read_bytes())
    code, _, err = run("campaign", p, "--out", foreign)
    assert_one_line_error(
        code, err, "holds files but no campaign manifest (results.jsonl of another campaign)"
    )
    assert sorted(x.name for x in foreign.iterdir()) == ["results.jsonl"]
    other = write(tmp_path, HEAD.replace("seed = 1", "seed = 2"))
    before = sorted(x.name for x in first.iterdir())
    code, _, err = run("campaign", other, "--out", first)
    assert_one_line_error(code, err, "holds the results of another campaign")
    assert sorted(x.name for x in first.iterdir()) == before


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        (b"\xff\xfe not text\n", "is not UTF-8 text"),
        (b'{"foo": 1}\n', "is not a run's row (no run index)"),
        (b"[1, 2, 3]\n", "is not a run's row"),
        (b"not json\n", "is not a JSON row"),
    ],
)
def test_damaged_results_file_is_one_line(tmp_path, thread_cluster, line, fragment):
    p = write(tmp_path, HEAD)
    out = tmp_path / "out"
    assert run("campaign", p, "--out", out)[0] == 0
    with (out / "results.jsonl").open("ab") as fh:
        fh.write(line)
    code, _, err = run("campaign", p, "--out", out)
    assert_one_line_error(code, err, "results.jsonl: line 4", fragment)


def test_shipped_campaigns_still_load():
    for name in ("fault-campaign", "montecarlo-fastcharge"):
        c = load_campaign(name)
        assert c.runs >= 100
