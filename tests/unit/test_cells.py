"""bms/cells.py: cell files are validated and every refusal names the field."""

import copy

import numpy as np
import pytest

from bms.cells import cell_from_dict, cell_to_dict, load_cell, save_cell
from bms.errors import ConfigError


@pytest.fixture
def good(lgm50):
    return cell_to_dict(lgm50)


def test_round_trip(lgm50, tmp_path):
    save_cell(lgm50, tmp_path / "c.toml")
    back = load_cell(tmp_path / "c.toml")
    assert np.allclose(back.ocv_v, lgm50.ocv_v, rtol=1e-5)
    assert back.thermal.c_core_j_per_k == pytest.approx(lgm50.thermal.c_core_j_per_k, rel=1e-5)
    assert back.estimator == lgm50.estimator


def _refused(d, *fragments):
    with pytest.raises(ConfigError) as exc:
        cell_from_dict(d, "cell.toml")
    msg = str(exc.value)
    for f in fragments:
        assert f in msg, msg
    return msg


def test_non_monotone_ocv(good):
    d = copy.deepcopy(good)
    d["tables"]["ocv_v"][1][10] = d["tables"]["ocv_v"][1][9] - 0.01
    _refused(d, "tables.ocv_v", "strictly increasing")


def test_negative_resistance(good):
    d = copy.deepcopy(good)
    d["tables"]["r0_ohm"][0][3] = -0.001
    _refused(d, "tables.r0_ohm", "negative")
    d = copy.deepcopy(good)
    d["tables"]["r2_ohm"][0][3] = 0.0
    _refused(d, "tables.r2_ohm", "positive")


def test_mismatched_table_shapes(good):
    d = copy.deepcopy(good)
    d["tables"]["c1_f"] = [row[:-1] for row in d["tables"]["c1_f"]]
    _refused(d, "tables.c1_f", "shape")
    d = copy.deepcopy(good)
    d["tables"]["r1_ohm"] = d["tables"]["r1_ohm"][:-1]
    _refused(d, "tables.r1_ohm", "shape")
    d = copy.deepcopy(good)
    d["tables"]["docv_dt_v_per_k"] = [0.0, 0.0]
    _refused(d, "docv_dt_v_per_k")


def test_breakpoints(good):
    d = copy.deepcopy(good)
    d["tables"]["soc"][4] = d["tables"]["soc"][3]
    _refused(d, "tables.soc")
    d = copy.deepcopy(good)
    d["tables"]["soc"] = [x * 2 for x in d["tables"]["soc"]]
    _refused(d, "tables.soc", "[0, 1]")


def test_unknown_and_missing_fields(good):
    d = copy.deepcopy(good)
    d["thermal"]["c_core"] = 1.0
    _refused(d, "unknown", "c_core")
    d = copy.deepcopy(good)
    del d["cell"]["capacity_ah"]
    _refused(d, "missing", "capacity_ah")
    d = copy.deepcopy(good)
    d["estimator"]["voltage_noise_v"] = -1.0
    _refused(d, "estimator.voltage_noise_v")
    d = copy.deepcopy(good)
    d["cell"]["coulombic_eff"] = 1.5
    _refused(d, "cell.coulombic_eff")
    d = copy.deepcopy(good)
    d["tables"]["r0_ohm"][0][0] = float("nan")
    _refused(d, "tables.r0_ohm", "NaN")


def test_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_cell(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[cell\nname=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_cell(bad)


def test_parallel_aggregate(lgm50):
    p3 = lgm50.scaled(3)
    assert p3.capacity_ah == pytest.approx(3 * lgm50.capacity_ah)
    assert np.allclose(p3.r0_ohm, lgm50.r0_ohm / 3)
    # time constants unchanged: R/3 * 3C
    assert np.allclose(p3.r1_ohm * p3.c1_f, lgm50.r1_ohm * lgm50.c1_f)
