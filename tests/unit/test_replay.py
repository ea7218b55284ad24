"""Acceptance on the PyBaMM reference: `bms fit` then `bms replay` through the CLI."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from bms.cli import main
from bms.logs import read_cell_log, read_truth


@pytest.fixture(scope="module")
def fitted_cell(reference_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("replay") / "cell.toml"
    res = CliRunner().invoke(main, ["fit", str(reference_dir / "char.csv.gz"), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "fit voltage residual" in res.output
    return out


def test_fit_then_replay_meets_the_accuracy_targets(reference_dir, fitted_cell, tmp_path):
    est = tmp_path / "est.csv"
    args = [
        "replay",
        str(reference_dir / "valid.csv.gz"),
        "--cell",
        str(fitted_cell),
        "--truth",
        str(reference_dir / "truth.csv.gz"),
        "-o",
        str(est),
    ]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    m = json.loads(est.with_suffix(".json").read_text())
    assert set(m) == {
        "soc_rmse",
        "soc_max_abs",
        "core_temp_rmse_c",
        "core_temp_max_abs_c",
        "soc_rmse_coulomb",
        "soc_max_abs_coulomb",
    }
    assert m["soc_rmse"] <= 0.008
    assert m["soc_max_abs"] <= 0.020
    assert m["core_temp_rmse_c"] <= 0.7
    assert est.with_suffix(".png").stat().st_size > 10_000

    # the JSON is recomputed independently from the CSV and the truth file
    rows = np.genfromtxt(est, delimiter=",", names=True)
    truth = read_truth(reference_dir / "truth.csv.gz")
    log = read_cell_log(reference_dir / "valid.csv.gz")
    assert np.allclose(rows["time_s"], log["time_s"], atol=1e-3)
    sel = truth["time_s"] >= 300
    e = rows["soc"][sel] - truth["soc_true"][sel]
    assert np.sqrt(np.mean(e**2)) == pytest.approx(m["soc_rmse"], abs=2e-6)
    et = rows["core_temp_c"][sel] - truth["core_temp_c_true"][sel]
    assert np.sqrt(np.mean(et**2)) == pytest.approx(m["core_temp_rmse_c"], abs=2e-4)
    # the predicted voltage tracks the measurement
    assert np.sqrt(np.mean((rows["voltage_pred_v"] - log["voltage_v"]) ** 2)) < 0.03


def test_replay_without_truth_writes_no_json(reference_dir, fitted_cell, tmp_path):
    est = tmp_path / "est.csv"
    args = [
        "replay",
        str(reference_dir / "valid.csv.gz"),
        "--cell",
        str(fitted_cell),
        "-o",
        str(est),
        "--no-plot",
    ]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert est.exists() and not est.with_suffix(".json").exists()
    header = est.read_text().splitlines()[0]
    assert header == "time_s,soc,core_temp_c,voltage_pred_v"


def test_truth_rows_must_match(reference_dir, fitted_cell, tmp_path):
    bad = tmp_path / "truth.csv"
    bad.write_text("time_s,soc_true,core_temp_c_true\n0,0.5,25\n1,0.5,25\n")
    res = CliRunner().invoke(
        main,
        [
            "replay",
            str(reference_dir / "valid.csv.gz"),
            "--cell",
            str(fitted_cell),
            "--truth",
            str(bad),
            "-o",
            str(tmp_path / "e.csv"),
        ],
    )
    assert res.exit_code == 2
    assert "does not match the rows" in res.output
