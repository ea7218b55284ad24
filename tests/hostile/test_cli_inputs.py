"""Careless and hostile input to `bms fit`, `bms replay`, `bms simulate` (issue 16, items 6 and 9,
and the traceback list): each gives one line on stderr and exit status 2, or the safe result."""

from __future__ import annotations

import gzip
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from bms.cells import load_cell
from bms.logs import LOG_COLUMNS, read_cell_log, read_truth
from bms.replay import replay, replay_to_file, write_outputs
from tests.hostile.cli import assert_one_line_error, run


def write_log(path: Path, cols: dict[str, np.ndarray]) -> Path:
    np.savetxt(
        path,
        np.column_stack([cols[k] for k in LOG_COLUMNS]),
        delimiter=",",
        header=",".join(LOG_COLUMNS),
        comments="",
        fmt="%.9g",
    )
    return path


# a log in the wrong unit or sign, and the hint that fixes it
SCALED = [
    ("voltage_v", 1000.0, 0.0, "voltage_v looks like mV: divide it by 1000"),
    ("temperature_c", 1.0, 273.15, "temperature_c looks like kelvin: subtract 273.15"),
    ("current_a", 1000.0, 0.0, "current_a looks like mA: divide it by 1000"),
    ("current_a", -1.0, 0.0, "current_a has the wrong sign"),
]


@pytest.mark.parametrize(("column", "scale", "offset", "hint"), SCALED)
def test_replay_refuses_wrong_units_and_sign(reference_dir, cell_toml, tmp_path, column, scale, offset, hint):
    log = read_cell_log(reference_dir / "valid.csv.gz")
    log[column] = log[column] * scale + offset
    bad = write_log(tmp_path / "bad.csv", log)
    out = tmp_path / "est.csv"
    code, _, err = run("replay", bad, "--cell", cell_toml, "-o", out)
    assert_one_line_error(code, err, hint)
    assert not out.exists() and not out.with_suffix(".png").exists()


@pytest.mark.parametrize(("column", "scale", "offset", "hint"), SCALED)
def test_fit_refuses_wrong_units_and_sign(reference_dir, tmp_path, column, scale, offset, hint):
    log = read_cell_log(reference_dir / "char.csv.gz")
    log[column] = log[column] * scale + offset
    bad = write_log(tmp_path / "bad.csv", log)
    out = tmp_path / "cell.toml"
    code, _, err = run("fit", bad, "-o", out)
    assert_one_line_error(code, err, hint)
    assert not out.exists()


def test_rows_the_firmware_flags_are_nan_and_not_scored(reference_dir, cell_toml, tmp_path):
    """A stretch of readings beyond the cell's range (a loose sense lead at 9 V): those rows
    have no estimate in the output and the score is over the other rows only."""
    log = read_cell_log(reference_dir / "valid.csv.gz")
    bad_rows = slice(3000, 3050)
    log["voltage_v"][bad_rows] = 9.0
    p = write_log(tmp_path / "loose.csv", log)
    out = tmp_path / "est.csv"
    code, _, err = run(
        "replay", p, "--cell", cell_toml, "--truth", reference_dir / "truth.csv.gz", "-o", out, "--no-plot"
    )
    assert code == 0, err
    assert "warning: the firmware flagged 50 of" in err
    rows = np.genfromtxt(out, delimiter=",", names=True)
    nan = np.isnan(rows["soc"])
    assert np.array_equal(np.flatnonzero(nan), np.arange(3000, 3050))
    # the score, recomputed from the CSV and the truth file over the finite rows from 300 s on
    import json

    m = json.loads(out.with_suffix(".json").read_text())
    truth = read_truth(reference_dir / "truth.csv.gz")
    sel = (truth["time_s"] >= 300) & ~nan
    e = rows["soc"][sel] - truth["soc_true"][sel]
    assert math.isfinite(m["soc_rmse"])
    assert np.sqrt(np.mean(e**2)) == pytest.approx(m["soc_rmse"], abs=2e-6)  # CSV rounds to 1e-6


def test_a_log_whose_scored_rows_are_all_unusable_is_refused(reference_dir, cell_toml, tmp_path):
    """The first 400 s of the log, every reading from 300 s on at 9 V (a minority of the rows,
    so no unit error): nothing is left to score, which is an error, not a perfect score."""
    log = read_cell_log(reference_dir / "valid.csv.gz")
    truth = read_truth(reference_dir / "truth.csv.gz")
    keep = log["time_s"] < 400
    log = {k: v[keep] for k, v in log.items()}
    log["voltage_v"][log["time_s"] >= 300] = 9.0
    assert np.mean(log["time_s"] >= 300) < 0.5
    p = write_log(tmp_path / "short.csv", log)
    tp = tmp_path / "truth.csv"
    np.savetxt(
        tp,
        np.column_stack([truth[k][keep] for k in ("time_s", "soc_true", "core_temp_c_true")]),
        delimiter=",",
        header="time_s,soc_true,core_temp_c_true",
        comments="",
        fmt="%.9g",
    )
    out = tmp_path / "e.csv"
    code, _, err = run("replay", p, "--cell", cell_toml, "--truth", tp, "-o", out)
    assert_one_line_error(code, err, "flagged unusable by the firmware: nothing to score")
    assert not out.exists() and not out.with_suffix(".json").exists()


@pytest.mark.parametrize("chunk_rows", [1, 7, 1000])
def test_streamed_replay_matches_the_whole_file_to_the_bit(reference_dir, cell_toml, tmp_path, chunk_rows):
    cell = load_cell(cell_toml)
    log, truth = reference_dir / "valid.csv.gz", reference_dir / "truth.csv.gz"
    whole = replay(log, cell, truth)
    write_outputs(whole, tmp_path / "whole.csv")
    streamed = replay_to_file(log, cell, tmp_path / "s.csv", truth, chunk_rows=chunk_rows, plot_points=300)
    assert (tmp_path / "s.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    assert (tmp_path / "s.json").read_bytes() == (tmp_path / "whole.json").read_bytes()
    assert streamed.metrics == whole.metrics
    # and the score against numpy over the unrounded estimates
    sel = whole.time_s >= 300
    e = whole.soc[sel] - whole.truth["soc_true"][sel]
    assert whole.metrics["soc_rmse"] == pytest.approx(float(np.sqrt(np.mean(e**2))), rel=1e-12)
    assert streamed.n_rows == len(whole.time_s) and len(streamed.time_s) <= 600
    assert streamed.span_s == pytest.approx(whole.time_s[-1] - whole.time_s[0])


def test_corrupt_gzip_is_one_line(reference_dir, cell_toml, tmp_path):
    data = bytearray((reference_dir / "valid.csv.gz").read_bytes())
    for i in range(3000, 3100):
        data[i] ^= 0x5A
    p = tmp_path / "corrupt.csv.gz"
    p.write_bytes(bytes(data))
    code, _, err = run("replay", p, "--cell", cell_toml, "-o", tmp_path / "e.csv")
    assert_one_line_error(code, err, "cannot be read")


def test_a_byte_order_mark_is_accepted(reference_dir, cell_toml, tmp_path):
    text = gzip.decompress((reference_dir / "valid.csv.gz").read_bytes())
    plain, bom = tmp_path / "plain.csv", tmp_path / "bom.csv"
    plain.write_bytes(text)
    bom.write_bytes(b"\xef\xbb\xbf" + text)
    for p in (plain, bom):
        code, _, err = run("replay", p, "--cell", cell_toml, "-o", p.with_suffix(".out.csv"), "--no-plot")
        assert code == 0, err
    assert (tmp_path / "bom.out.csv").read_bytes() == (tmp_path / "plain.out.csv").read_bytes()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--seed", "-1"], "scenario.seed' must be an integer in 0.."),
        (
            ["--soc-start", "0.9", "--soc-target", "0.8"],
            "scenario.soc_start' must be below scenario.soc_target",
        ),
        (["--dt-ms", "20000", "--duration-s", "10"], "scenario.dt_ms' must not be longer than the run"),
        (["--target", "serial:"], "--target: target 'serial:' needs a port"),
        (["--target", "serial:/dev/nonexistent-bms"], "cannot open serial port"),
        (["--target", "can:bogus"], "unknown CAN bus 'bogus'"),
        (["--target", "fpga"], "--target: unknown target 'fpga': use one of sim, "),
    ],
)
def test_simulate_options_refused_with_the_rule(tmp_path, args, fragment):
    out = tmp_path / "out"
    code, _, err = run("simulate", "--duration-s", "5", "--out", out, *args)
    assert_one_line_error(code, err, fragment)
    assert not (out / "summary.json").exists()


def test_qemu_target_without_qemu(tmp_path, monkeypatch):
    monkeypatch.setenv("BMS_QEMU", "no-such-qemu-system-arm")
    code, _, err = run("simulate", "--target", "qemu", "--duration-s", "5", "--out", tmp_path / "q")
    assert_one_line_error(code, err, "'no-such-qemu-system-arm' not found")


def test_activation_energy_is_bounded(reference_dir, tmp_path):
    for ea in ("-5", "nan", "1000"):
        code, _, err = run(
            "fit", reference_dir / "char.csv.gz", "-o", tmp_path / "c.toml", "--activation-kj-per-mol", ea
        )
        assert_one_line_error(code, err, "--activation-kj-per-mol must be within 0..150 kJ/mol")
    assert not (tmp_path / "c.toml").exists()


def test_binary_scenario_toml(tmp_path):
    p = tmp_path / "bin.toml"
    p.write_bytes(bytes(range(256)) * 4)
    code, _, err = run("simulate", "--scenario", p, "--out", tmp_path / "o")
    assert_one_line_error(code, err, "not a text (UTF-8) TOML scenario file")


@pytest.mark.parametrize(
    ("section", "fragment"),
    [
        ("[pack]\ncurrent_range_a = 0\n", "'pack.current_range_a' (0 A) must cover the pack's ratings"),
        ("[spread]\nresistance = 1e6\n", "'spread.resistance' must be within 0..0.1"),
        ("[scenario]\nseed = -3\n", "'scenario.seed' must be an integer in 0.."),
    ],
)
def test_scenario_file_values_refused(tmp_path, section, fragment):
    p = tmp_path / "s.toml"
    p.write_text(section)
    code, _, err = run("simulate", "--scenario", p, "--duration-s", "5", "--out", tmp_path / "o")
    assert_one_line_error(code, err, fragment)


def test_errors_go_to_stderr_not_stdout(tmp_path):
    code, out, err = run(
        "replay", tmp_path / "missing.csv", "--cell", tmp_path / "c.toml", "-o", tmp_path / "e.csv"
    )
    assert code == 2 and out == "" and err.startswith("error: ")


def test_shipped_reference_still_fits_and_replays(reference_dir, cell_toml, tmp_path):
    """The plausibility checks refuse nothing real: the three reference temperatures fit."""
    for name in ("char-5c.csv.gz", "char-45c.csv.gz"):
        shutil.copy(reference_dir / name, tmp_path / name)
    code, _, err = run(
        "fit", *(tmp_path / n for n in ("char-5c.csv.gz", "char-45c.csv.gz")), "-o", tmp_path / "c.toml"
    )
    assert code == 0, err
