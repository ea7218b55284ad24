"""`bms replay --soc-init`: the estimator started 0.3 away from the truth on the PyBaMM NMC
drive cycle (tests/data/reference) converges within 2 % in at most 10 minutes."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from bms.cli import main
from bms.fit import fit_cell
from bms.logs import read_truth
from bms.replay import replay

TEN_MINUTES_S = 600.0


@pytest.fixture(scope="module")
def cell(reference_dir):
    return fit_cell([reference_dir / "char.csv.gz"]).cell


@pytest.mark.parametrize("offset", [-0.3, 0.3])
def test_a_wrong_start_converges_within_ten_minutes(reference_dir, cell, offset):
    truth = read_truth(reference_dir / "truth.csv.gz")
    start = float(np.clip(truth["soc_true"][0] + offset, 0.0, 1.0))
    r = replay(reference_dir / "valid.csv.gz", cell, reference_dir / "truth.csv.gz", soc_init=start)
    plain = replay(reference_dir / "valid.csv.gz", cell, reference_dir / "truth.csv.gz")
    assert r.soc[0] == plain.soc[0]  # the first sample seeds the estimator as always ...
    assert not np.array_equal(r.soc[1:20], plain.soc[1:20])  # ... then it runs from `start`
    conv = r.metrics["soc_converged_s"]
    assert conv is not None and conv <= TEN_MINUTES_S
    # and it stays converged: every later row within 2 %
    later = r.time_s >= conv
    assert np.max(np.abs(r.soc[later] - r.truth["soc_true"][later])) <= 0.02
    assert "soc_converged_s" not in plain.metrics


def test_cli_prints_and_writes_the_convergence_and_refuses_a_percentage(reference_dir, tmp_path):
    cell_path = tmp_path / "cell.toml"
    assert (
        CliRunner().invoke(main, ["fit", str(reference_dir / "char.csv.gz"), "-o", str(cell_path)]).exit_code
        == 0
    )
    args = ["replay", str(reference_dir / "valid.csv.gz"), "--cell", str(cell_path)]
    args += ["--truth", str(reference_dir / "truth.csv.gz"), "--no-plot"]
    r = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "e.csv"), "--soc-init", "0.25"])
    assert r.exit_code == 0, r.output
    assert "started at SoC 0.250" in r.output
    assert json.loads((tmp_path / "e.json").read_text())["soc_converged_s"] <= TEN_MINUTES_S
    r = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "f.csv"), "--soc-init", "25"])
    assert r.exit_code == 2 and "--soc-init must be a SoC within 0..1" in r.stderr
