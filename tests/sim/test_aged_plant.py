"""`bms simulate --capacity-fade F --resistance-growth G` (and --ocv-offset-v, --ocv-slope):
a plant that has aged, or whose OCV is off the table, while the firmware keeps its model."""

import numpy as np
import pytest
from click.testing import CliRunner

from bms.cli import main
from bms.sim.loop import run
from bms.sim.run import build_scenario

BASE = {"series": 4, "duration_s": 150.0, "seed": 7}


def test_options_reach_the_plants_spread_only():
    scn = build_scenario("fastcharge-10-80", None, {**BASE, "spread.capacity_fade": 0.3}, ())
    ref = build_scenario("fastcharge-10-80", None, BASE, ())
    assert scn.spread.capacity_fade == 0.3
    assert scn.spread.resistance_growth == ref.spread.resistance_growth
    assert scn.spread.capacity == ref.spread.capacity


def test_a_faded_pack_gains_soc_faster_per_ampere_hour():
    # the same charge into cells with 30 % less capacity moves their SoC 1/0.7 times as far
    rises = []
    for fade in (0.0, 0.3):
        scn = build_scenario("fastcharge-10-80", None, {**BASE, "spread.capacity_fade": fade}, ())
        log = run(scn).log
        t, i = log["time_s"], log["current_a"]
        ah = -np.sum(i[1:] * np.diff(t)) / 3600.0
        rises.append((log["soc_true_mean"][-1] - log["soc_true_mean"][0]) / ah)
    assert rises[1] / rises[0] == pytest.approx(1 / 0.7, rel=0.02)


def test_out_of_range_ageing_is_refused_naming_the_field(tmp_path):
    r = CliRunner().invoke(main, ["simulate", "--capacity-fade", "0.9", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "field 'spread.capacity_fade' must be within 0..0.5 (an ageing fraction" in r.stderr


def test_ocv_options_reach_the_plants_spread_and_are_range_checked(tmp_path):
    scn = build_scenario("fastcharge-10-80", None, {**BASE, "spread.ocv_offset_v": -0.01}, ())
    assert scn.spread.ocv_offset_v == -0.01 and scn.spread.ocv_slope == 0.0
    r = CliRunner().invoke(main, ["simulate", "--ocv-slope", "0.5", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "field 'spread.ocv_slope' must be a finite number within [-0.1, 0.1], got 0.5" in r.stderr
