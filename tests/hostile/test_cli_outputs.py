"""Outputs never destroy inputs or an earlier run, and are checked before the work (issue 16,
item 7)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.hostile.cli import assert_one_line_error, run


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_replay_refuses_to_overwrite_its_inputs(reference_dir, cell_toml, tmp_path):
    log = tmp_path / "v.csv.gz"
    shutil.copy(reference_dir / "valid.csv.gz", log)
    cell = tmp_path / "c.toml"
    shutil.copy(cell_toml, cell)
    link = tmp_path / "link.csv.gz"
    os.symlink(log, link)
    before = {p: digest(p) for p in (log, cell)}
    for out in (log, cell, tmp_path / "sub" / ".." / "v.csv.gz"):
        code, _, err = run("replay", log, "--cell", cell, "-o", out)
        assert_one_line_error(code, err, "would overwrite the input")
    code, _, err = run("replay", link, "--cell", cell, "-o", log)  # the same file by another name
    assert_one_line_error(code, err, "would overwrite the input")
    # the JSON or PNG written beside the CSV must not land on an input either
    truth = tmp_path / "est.json"  # a truth CSV by an unlucky name
    shutil.copy(reference_dir / "truth.csv.gz", truth)
    before[truth] = digest(truth)
    code, _, err = run("replay", log, "--cell", cell, "--truth", truth, "-o", tmp_path / "est.csv")
    assert_one_line_error(code, err, "would overwrite the input")
    assert {p: digest(p) for p in before} == before


def test_fit_refuses_to_overwrite_its_input(reference_dir, tmp_path):
    x = tmp_path / "X.csv.gz"
    shutil.copy(reference_dir / "char.csv.gz", x)
    before = digest(x)
    code, _, err = run("fit", x, "-o", x)
    assert_one_line_error(code, err, "would overwrite the input")
    assert digest(x) == before


def test_replay_output_checked_before_the_work(reference_dir, cell_toml, tmp_path):
    code, _, err = run("replay", reference_dir / "valid.csv.gz", "--cell", cell_toml, "-o", tmp_path)
    assert_one_line_error(code, err, "is a folder")
    # /proc refuses new entries even to root: the folder cannot be made
    code, _, err = run(
        "replay", reference_dir / "valid.csv.gz", "--cell", cell_toml, "-o", "/proc/bms-x/e.csv"
    )
    assert_one_line_error(code, err, "cannot create the folder")


def test_simulate_refuses_an_earlier_run_unless_forced(tmp_path):
    out = tmp_path / "run"
    code, _, err = run("simulate", "--duration-s", "5", "--series", "4", "--out", out)
    assert code == 0, err
    before = digest(out / "summary.json")
    code, _, err = run("simulate", "--duration-s", "6", "--series", "4", "--out", out)
    assert_one_line_error(code, err, "already holds files (an earlier run?)")
    assert digest(out / "summary.json") == before
    (out / "log.mf4").write_text("stale")  # an earlier run's extra output
    code, _, err = run("simulate", "--duration-s", "6", "--series", "4", "--out", out, "--force")
    assert code == 0, err
    assert json.loads((out / "summary.json").read_text())["sim_s"] == pytest.approx(6.0, abs=0.11)
    assert not (out / "log.mf4").exists()


def test_simulate_out_checked_before_the_run(tmp_path):
    f = tmp_path / "hostname"
    f.write_text("host\n")
    code, _, err = run("simulate", "--duration-s", "5", "--out", f)
    assert_one_line_error(code, err, "exists and is not a folder")
    assert f.read_text() == "host\n"
    code, _, err = run("simulate", "--duration-s", "5", "--out", "/proc/bms-sim-out")
    assert_one_line_error(code, err, "cannot create the folder")


def test_simulate_never_overwrites_its_scenario_file(tmp_path):
    out = tmp_path / "run"
    assert run("simulate", "--duration-s", "5", "--series", "4", "--out", out)[0] == 0
    scn = out / "scenario.toml"
    before = digest(scn)
    code, _, err = run("simulate", "--scenario", scn, "--out", out, "--force")
    assert_one_line_error(code, err, "would overwrite the input")
    assert digest(scn) == before


def test_two_chemistries_from_files_get_their_own_folders(tmp_path):
    """A chemistry given as a path writes to OUT/<stem>, never to the path itself."""
    from bms.chemistry import CHEMISTRY_DIR

    (tmp_path / "chem").mkdir()
    shutil.copytree(CHEMISTRY_DIR.parent / "cells", tmp_path / "cells")  # its cell file, by relative path
    a = tmp_path / "chem" / "mine.toml"
    shutil.copy(CHEMISTRY_DIR / "lfp-graphite.toml", a)
    before = digest(a)
    out = tmp_path / "o"
    code, _, err = run(
        "simulate", "--duration-s", "3", "--series", "4", "--chemistry", a, "--chemistry", "nmc811-graphite",
        "--out", out,
    )  # fmt: skip
    assert code == 0, err
    assert (out / "mine" / "summary.json").is_file() and (out / "nmc811-graphite" / "summary.json").is_file()
    assert digest(a) == before
