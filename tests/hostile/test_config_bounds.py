"""Configurations the firmware used to accept and then output NaN with no fault (issue 16,
safety defect 1): every float of bms_config_t now has a physical range, the refusal names
the field, the value and the rule; cell files are judged by the same table; and if a
non-finite value appears in the firmware's state anyway, BMS_F_ESTIMATOR latches in that
step with CCL = DCL = 0."""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from click.testing import CliRunner

from bms._native import ffi, lib
from bms.balancing import BalancingSpec, fill_balancing
from bms.cells import CONFIG_BOUNDS, load_cell
from bms.chemistry import available, load_chemistry
from bms.cli import main
from bms.enums import FAULT_ID, FAULT_NAMES, LIMITING_NAMES
from bms.errors import ConfigError
from bms.firmware import Firmware, PackLayout, config_problem
from tests.rig import Rig

DATA = Path(__file__).resolve().parents[2] / "bms" / "data"
LGM50 = DATA / "cells" / "lgm50-chen2020.toml"


def _cfg(chemistry: str = "nmc811-graphite", parallel: int = 1, n_cells: int = 8) -> object:
    chem = load_chemistry(chemistry)
    fw = Firmware(
        chem.cell.scaled(parallel), PackLayout(n_cells, tuple(sorted({0, n_cells - 1}))), chem.protection
    )
    cfg = ffi.new("bms_config_t *")
    ffi.memmove(cfg, fw.config, ffi.sizeof("bms_config_t"))
    return cfg


def _fill_table(table: object, value: float) -> None:
    for row in table:
        for j in range(len(row)):
            row[j] = value


# ---- the issue's configurations, through the firmware's check ---------------------------

ISSUE_CASES = [
    ("capacity 1e-30 Ah", lambda c: setattr(c.cell, "capacity_ah", 1e-30), "cell.capacity_ah", "Ah"),
    (
        "core heat capacity 1e-30",
        lambda c: setattr(c.thermal, "c_core_j_per_k", 1e-30),
        "thermal.c_core_j_per_k",
        "J/K",
    ),
    (
        "surface heat capacity 1e-30",
        lambda c: setattr(c.thermal, "c_surf_j_per_k", 1e-30),
        "thermal.c_surf_j_per_k",
        "J/K",
    ),
    ("dOCV/dT 1 V/K", lambda c: c.cell.docv_dt_v_per_k.__setitem__(3, 1.0), "cell.docv_dt_v_per_k[3]", "V/K"),
    (
        "dOCV/dT -1 V/K",
        lambda c: c.cell.docv_dt_v_per_k.__setitem__(0, -1.0),
        "cell.docv_dt_v_per_k[0]",
        "V/K",
    ),
    (
        "dOCV/dT 1e6 V/K",
        lambda c: c.cell.docv_dt_v_per_k.__setitem__(5, 1e6),
        "cell.docv_dt_v_per_k[5]",
        "V/K",
    ),
    ("r0 = 0", lambda c: _fill_table(c.cell.r0_ohm, 0.0), "cell.r0_ohm[0][0]", "Ohm"),
    ("kilovolt OCV", lambda c: c.cell.ocv_v[0].__setitem__(c.cell.n_soc - 1, 1000.0), "cell.ocv_v[0]", "V"),
] + [
    (f"{name} = 1e30", (lambda n: lambda c: setattr(c.est, n, 1e30))(name), f"est.{name}", "")
    for name in (
        "soc_init_sigma",
        "v_rc_init_sigma_v",
        "current_noise_a",
        "current_gain_sigma",
        "soc_rw_per_sqrt_s",
        "v_rc_rw_v_per_sqrt_s",
        "voltage_noise_v",
        "model_err_v",
        "r0_rel_sigma",
        "rc_rel_sigma",
        "rc_v_rel_sigma",
        "model_err_corr_s",
        "current_err_corr_s",
        "temp_init_sigma_degc",
        "heat_noise_w",
        "temp_noise_degc",
        "temp_spatial_sigma_degc",
        "r_surf_amb_rel_sigma",
    )
]


@pytest.mark.parametrize(("label", "mutate", "field", "unit"), ISSUE_CASES, ids=[c[0] for c in ISSUE_CASES])
def test_the_issues_configurations_are_refused_naming_field_value_and_rule(label, mutate, field, unit):
    cfg = _cfg()
    assert config_problem(cfg) is None
    mutate(cfg)
    msg = config_problem(cfg)
    assert msg is not None, label
    assert msg.startswith(f"config: {field}"), msg
    assert "outside [" in msg and "(rule: " in msg and "\n" not in msg, msg
    assert unit in msg, msg
    # the legacy code of the rule stays what tests and the wire use
    bound = CONFIG_BOUNDS[field.split("[")[0]]
    assert lib.bms_config_check(cfg) == lib.bms_config_field_info(bound.field).err
    # and bms_init refuses it: no firmware runs on it
    inst = ffi.new("bms_t *")
    assert lib.bms_init(inst, cfg) == lib.BMS_E_CONFIG


def test_firmware_raises_the_one_line_config_error():
    chem = load_chemistry("nmc811-graphite")
    cell = chem.cell.scaled(1)
    cell.thermal.c_core_j_per_k = 1e-30  # past the dataclass's own check: the firmware's is the last line
    with pytest.raises(ConfigError) as exc:
        Firmware(cell, PackLayout(8, (0, 7)), chem.protection)
    msg = str(exc.value)
    assert msg == (
        "config: thermal.c_core_j_per_k = 1e-30 outside [0.05, 1e+07] J/K "
        f"(rule: {CONFIG_BOUNDS['thermal.c_core_j_per_k'].rule})"
    )


# ---- the table itself --------------------------------------------------------------------


def _member_offset(name: str) -> int:
    """Offset of a bms_config_t member path, computed by cffi from the struct (independent of
    the table's offsetof)."""
    path = name.split(".")
    if path[0] == "limits":  # limits.<quantity>.threshold -> limits.q[i].warning.threshold
        from bms.protection import QUANTITY_NAMES

        names = [*QUANTITY_NAMES[:8], "charge_current_max", "discharge_current_max", *QUANTITY_NAMES[10:]]
        q = names.index(path[1])
        return ffi.offsetof("bms_config_t", "limits", "q", q, "warning", path[2])
    return ffi.offsetof("bms_config_t", *path)


def test_every_row_points_at_its_member_and_every_float_member_has_a_row():
    ranged = {b.name for b in CONFIG_BOUNDS.values() if b.ranged}
    for b in CONFIG_BOUNDS.values():
        assert int(lib.bms_config_field_info(b.field).offset) == _member_offset(b.name), b.name
        if b.ranged:
            assert math.isfinite(b.lo) and math.isfinite(b.hi) and b.lo < b.hi, b.name
            assert b.lo <= b.cell_lo < b.cell_hi <= b.hi, b.name  # one cell is inside the element range
    # every float member of the struct (walked by cffi) is covered by a row
    floats = []
    for sect, sf in ffi.typeof("bms_config_t").fields:
        for name, f in sf.type.fields:
            t = f.type
            while t.kind == "array":
                t = t.item
            if t.cname == "float":
                floats.append(f"{sect}.{name}")
    assert sorted(floats) == sorted(r for r in ranged if not r.startswith("limits."))
    # the limit tiers: threshold and hysteresis of each of the 11 quantities
    assert len([r for r in ranged if r.startswith("limits.")]) == 2 * lib.BMS_N_QUANTITIES


@pytest.mark.parametrize("name", sorted(n for n, b in CONFIG_BOUNDS.items() if b.ranged))
def test_a_nan_anywhere_in_a_field_is_refused_naming_that_field(name):
    b = CONFIG_BOUNDS[name]
    cfg = _cfg()
    cfg.nvm.valid = 1  # so the nvm rows are checked
    cfg.nvm.soc_sigma = 0.05
    cfg.nvm.soh_valid = 1
    cfg.nvm.soh_sigma = 0.01
    for i in range(cfg.pack.n_cells):
        cfg.nvm.cap_q[i] = 32768
        cfg.nvm.r_q[i] = 16384
    # balancing on, so its rows are checked (off, none of its numbers is used)
    fill_balancing(cfg, BalancingSpec(mode="top"), float(cfg.cell.capacity_ah), 2.0)
    assert config_problem(cfg) is None
    info = lib.bms_config_field_info(b.field)
    buf = ffi.cast("float *", ffi.cast("char *", cfg) + info.offset)
    buf[0] = math.nan
    where = ffi.new("bms_cfg_detail_t *")
    err = lib.bms_config_check_detail(cfg, where)
    assert err != lib.BMS_CFG_OK
    assert where.field == b.field, (name, ffi.string(lib.bms_config_field_info(where.field).name))
    assert math.isnan(where.value)


# ---- shipped configurations stay accepted --------------------------------------------------


@pytest.mark.parametrize("chemistry", available())
@pytest.mark.parametrize(("parallel", "n_cells"), [(1, 1), (1, 192), (30, 96), (1000, 192)])
def test_shipped_chemistries_pass_at_every_pack_size_the_scenarios_allow(chemistry, parallel, n_cells):
    assert config_problem(_cfg(chemistry, parallel, n_cells)) is None


@pytest.mark.parametrize("path", sorted((DATA / "cells").glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_cells_pass_the_cell_file_bounds(path):
    cell = load_cell(path)
    assert cell.parallel == 1
    assert cell.scaled(1000).parallel == 1000  # the element of the largest group is in range too


# ---- cell files: the same ranges, refused at load ----------------------------------------


def _edit(text: str, pattern: str, repl: str) -> str:
    out, n = re.subn(pattern, repl, text, count=1, flags=re.S)
    assert n == 1, pattern
    return out


BAD_CELLS = {
    "r0 = 0": (r"(r0_ohm = \[\s*\[\s*)[0-9.e-]+", r"\g<1>0.0", "tables.r0_ohm[0][0]", "[1e-05, 10] Ohm"),
    "docv_dt = 1e6": (
        r"(docv_dt_v_per_k = \[\s*)[-0-9.e]+",
        r"\g<1>1e6",
        "tables.docv_dt_v_per_k[0]",
        "[-0.002, 0.002] V/K",
    ),
    "a 5146 Ah cell": (
        r"capacity_ah = [0-9.]+",
        "capacity_ah = 5146.12",
        "cell.capacity_ah",
        "[0.001, 2000] Ah",
    ),
    # what `bms fit` made of a log in mV: every voltage x 1000
    "a kilovolt OCV": ("mV", "", "tables.ocv_v[0][0]", "[0.5, 6] V"),
    "heat capacity 1e-30": (
        r"c_core_j_per_k = [0-9.e-]+",
        "c_core_j_per_k = 1e-30",
        "thermal.c_core_j_per_k",
        "[0.05, 100000] J/K",
    ),
    "sigma 1e30": (
        r"v_rc_init_sigma_v = [0-9.e-]+",
        "v_rc_init_sigma_v = 1e30",
        "estimator.v_rc_init_sigma_v",
        "[0, 1] V",
    ),
}


@pytest.fixture
def bad_cell(tmp_path):
    def make(case: str) -> Path:
        pattern, repl, _, _ = BAD_CELLS[case]
        p = tmp_path / f"{case.replace(' ', '_')}.toml"
        if pattern == "mV":
            d = tomllib.loads(LGM50.read_text())
            d["tables"]["ocv_v"] = [[v * 1000.0 for v in row] for row in d["tables"]["ocv_v"]]
            d["cell"]["v_min"] *= 1000.0
            d["cell"]["v_max"] *= 1000.0
            p.write_text(tomli_w.dumps(d))
        else:
            p.write_text(_edit(LGM50.read_text(), pattern, repl))
        return p

    return make


@pytest.mark.parametrize("case", sorted(BAD_CELLS))
def test_cell_files_out_of_physical_range_are_refused_at_load(bad_cell, case):
    _, _, key, interval = BAD_CELLS[case]
    p = bad_cell(case)
    with pytest.raises(ConfigError) as exc:
        load_cell(p)
    msg = str(exc.value)
    assert msg.startswith(f"{p}: field '{key}'"), msg
    assert f"outside {interval} (rule: " in msg and "\n" not in msg, msg


def test_a_non_finite_cell_value_and_a_binary_file_are_refused(tmp_path):
    p = tmp_path / "nan.toml"
    p.write_text(_edit(LGM50.read_text(), r"(r1_ohm = \[\s*\[\s*)[0-9.e-]+", r"\g<1>nan"))
    with pytest.raises(ConfigError, match=r"field 'tables.r1_ohm' has a NaN or infinite value"):
        load_cell(p)
    b = tmp_path / "binary.toml"
    b.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" + bytes(range(256)))
    with pytest.raises(ConfigError, match=r"binary.toml: not a text \(UTF-8\) TOML cell file: byte 0 is 0x"):
        load_cell(b)


def test_a_parallel_group_is_judged_as_a_series_element():
    cell = load_cell(LGM50)
    # 1000 x 5.1 Ah = 5.1 kAh: a series element (the scenarios allow 1000 parallel)
    assert cell.scaled(1000).capacity_ah == pytest.approx(5146.12)
    # but 20 kAh is the element's bound: 4000 parallel is beyond it
    with pytest.raises(
        ConfigError, match=r"cell.capacity_ah' \(a series element\) = 20584.5 outside \[0.001, 20000\]"
    ):
        cell.scaled(4000)


def _run_cli(*args: object) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


@pytest.mark.parametrize("case", ["r0 = 0", "docv_dt = 1e6", "a 5146 Ah cell"])
def test_cli_replay_refuses_the_cell_file_in_one_line(bad_cell, tmp_path, case):
    log = tmp_path / "log.csv"
    log.write_text("time_s,current_a,voltage_v,temp_c\n0,0,3.7,25\n1,0,3.7,25\n")
    code, out, err = _run_cli("replay", log, "--cell", bad_cell(case), "-o", tmp_path / "o.csv", "--no-plot")
    assert code == 2, (out, err)
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert BAD_CELLS[case][2] in err and "(rule: " in err
    assert not (tmp_path / "o.csv").exists()


def test_cli_simulate_refuses_a_chemistry_whose_cell_breaks_a_bound(bad_cell, tmp_path):
    cell = bad_cell("docv_dt = 1e6")
    chem = tmp_path / "chem.toml"
    text = (DATA / "chemistries" / "nmc811-graphite.toml").read_text()
    chem.write_text(_edit(text, r'cell_file = "[^"]+"', f'cell_file = "{cell.name}"'))
    code, out, err = _run_cli(
        "simulate", "--chemistry", chem, "--out", tmp_path / "sim", "--duration-s", "60"
    )
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and "tables.docv_dt_v_per_k[0]" in err and "V/K" in err, err


# ---- the internal fault ------------------------------------------------------------------


def _running_rig() -> Rig:
    rig = Rig()
    rig.settle(5)
    rig.close()
    for _ in range(10):
        out = rig.step(rig.nominal(-0.5 * rig.capacity_ah))
    assert int(out.faults) == 0 and out.ccl_a > 0 and out.dcl_a > 0
    return rig


@pytest.mark.parametrize(
    ("what", "poke"),
    [
        ("NaN SoC", lambda inst: setattr(inst.ekf[3], "soc", math.nan)),
        ("NaN core temperature", lambda inst: setattr(inst.thermal[5], "t_core_degc", math.nan)),
        ("inf RC voltage", lambda inst: setattr(inst.ekf[1], "v_rc1_v", math.inf)),
        ("NaN covariance", lambda inst: inst.ekf[6].p.__setitem__(4, math.nan)),
        # finite divergences
        ("negative SoC variance", lambda inst: inst.ekf[2].p.__setitem__(0, -0.5)),
        ("core at 5000 degC", lambda inst: setattr(inst.thermal[4], "t_core_degc", 5000.0)),
    ],
)
def test_a_non_finite_or_impossible_state_latches_the_estimator_fault_at_once(what, poke):
    rig = _running_rig()
    poke(rig.fw.instance)
    out = rig.step(rig.nominal(-0.5 * rig.capacity_ah))
    bit = 1 << FAULT_ID["estimator"]
    assert int(out.faults) & bit, what  # this very step: no debounce
    assert out.ccl_a == 0.0 and out.dcl_a == 0.0
    assert LIMITING_NAMES[out.ccl_limit] == "fault" and LIMITING_NAMES[out.dcl_limit] == "fault"
    assert "estimator" in rig.fw.faults
    rec = rig.fw.instance.safety.record[FAULT_ID["estimator"]]
    assert rec.time_ms == out.time_ms
    # the contactors leave "closed" (opening under load, then open as for any latched fault)
    for _ in range(30):
        out = rig.step(rig.nominal(0.0))
    assert rig.fw.contactor_state == "open"
    assert out.ccl_a == 0.0 and out.dcl_a == 0.0 and int(out.faults) & bit


def test_an_unknown_cell_state_is_reported_unknown_not_a_made_up_pack_soc():
    rig = _running_rig()
    rig.fw.instance.ekf[3].soc = math.nan
    rig.fw.instance.thermal[3].t_core_degc = math.nan
    out = rig.step(rig.nominal(0.0))
    # before: the NaN cell dropped out of min/max and the pack SoC read 0.5
    assert math.isnan(out.soc_pack) and math.isnan(out.soc_mean)
    assert math.isnan(out.soc_min) and math.isnan(out.soc_max)
    assert math.isnan(out.core_temp_max_degc) and out.core_temp_max_cell == 3


def test_the_fault_stays_while_the_state_is_bad_and_a_power_on_reset_reseeds():
    rig = _running_rig()
    rig.fw.instance.ekf[0].soc = math.nan
    rig.step(rig.nominal(0.0))
    rig.fw.command("reset")
    out = rig.step(rig.nominal(0.0))
    assert "estimator" in rig.fw.faults  # a fault reset does not clear it: its condition persists
    assert out.ccl_a == 0.0
    rig.fw.reset()  # power-on reset: the estimators are seeded again from the readings
    for _ in range(3):
        out = rig.step(rig.nominal(0.0))
    assert rig.fw.faults == []
    assert np.all(np.isfinite(rig.fw.soc)) and 0.0 < out.soc_pack < 1.0


def test_every_name_mirrors_the_enum():
    assert len(FAULT_NAMES) == lib.BMS_N_FAULTS
    assert FAULT_ID["estimator"] == lib.BMS_F_ESTIMATOR == lib.BMS_F_COMM + 1
    assert lib.BMS_N_FAULTS <= 32  # the DBC's FaultMask is 32 bits
