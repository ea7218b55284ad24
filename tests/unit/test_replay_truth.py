"""`bms replay` with a lab truth file (time_s,soc: the cycler's amp-hour SoC, no core
temperature) and the coulomb-counting baseline it reports beside the estimator."""

import gzip
import json

import numpy as np
import pytest
from click.testing import CliRunner

from bms.cells import save_cell
from bms.cli import main
from bms.replay import replay
from bms.replay_score import SCORE_FROM_S
from tests.synthetic import TruthCell, ocv_fn

CELL = TruthCell(capacity_ah=4.0)
I_A = 2.0  # constant discharge
DELTA = 0.01  # the truth's counter runs 1 % fast against the cell file's capacity


@pytest.fixture()
def files(tmp_path):
    t = np.arange(0.0, 3600.0, 1.0)
    soc_cell = 0.9 - I_A * t / (3600.0 * CELL.capacity_ah)
    v = ocv_fn(soc_cell) - CELL.r0 * I_A
    log = tmp_path / "log.csv.gz"
    with gzip.open(log, "wt") as fh:
        fh.write("time_s,current_a,voltage_v,temperature_c\n")
        for k in range(len(t)):
            fh.write(f"{t[k]:.1f},{I_A if k else 0.0:.4f},{v[k]:.5f},25.0\n")
    truth = tmp_path / "log.truth.csv.gz"
    soc_truth = 0.9 - (1 + DELTA) * I_A * t / (3600.0 * CELL.capacity_ah)
    with gzip.open(truth, "wt") as fh:
        fh.write("time_s,soc\n")
        fh.writelines(f"{t[k]:.1f},{soc_truth[k]:.8f}\n" for k in range(len(t)))
    cell = tmp_path / "cell.toml"
    save_cell(CELL.cell_model(), cell)
    return log, truth, cell, t


def test_coulomb_baseline_is_the_analytic_drift(files):
    log, truth, _, t = files
    res = replay(log, CELL.cell_model(), truth)
    m = res.metrics
    # coulomb counting from the true start drifts from this truth by DELTA * I t / (3600 Q)
    # (the first row carries no current: counting starts at t = 0)
    scored = t[t >= SCORE_FROM_S]
    drift = DELTA * I_A * scored / (3600.0 * CELL.capacity_ah)
    assert m["soc_rmse_coulomb"] == pytest.approx(float(np.sqrt(np.mean(drift**2))), rel=1e-4)
    assert m["soc_max_abs_coulomb"] == pytest.approx(float(drift.max()), rel=1e-4)
    assert "core_temp_rmse_c" not in m  # a lab truth has no core temperature


def test_cli_writes_the_baseline_and_no_core_metric(files, tmp_path):
    log, truth, cell, _ = files
    out = tmp_path / "est.csv"
    r = CliRunner().invoke(
        main, ["replay", str(log), "--cell", str(cell), "--truth", str(truth), "-o", str(out)]
    )
    assert r.exit_code == 0, r.output
    m = json.loads(out.with_suffix(".json").read_text())
    assert set(m) == {"soc_rmse", "soc_max_abs", "soc_rmse_coulomb", "soc_max_abs_coulomb"}
    assert "coulomb counting" in r.output


def test_truth_with_both_soc_columns_is_refused(files, tmp_path):
    log, _, cell, t = files
    bad = tmp_path / "both.csv"
    bad.write_text("time_s,soc,soc_true\n" + "".join(f"{x:.1f},0.5,0.5\n" for x in t))
    r = CliRunner().invoke(
        main, ["replay", str(log), "--cell", str(cell), "--truth", str(bad), "-o", str(tmp_path / "e.csv")]
    )
    assert r.exit_code == 2 and "both soc and soc_true" in r.stderr
