"""The run summary (bms/sim/summary.py): a typed RunSummary whose to_dict() is summary.json
with the keys, in the order, `bms simulate` wrote before the summary was typed."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

import pytest
from click.testing import CliRunner

from bms.chemistry import load_chemistry
from bms.cli import main
from bms.enums import LIMITING_NAMES
from bms.errors import BmsError
from bms.plant.faults import Fault
from bms.sim.checks import check_run
from bms.sim.loop import run
from bms.sim.scenario import load_scenario
from bms.sim.summary import FaultRecord, RunSummary

# the keys of the summary.json `bms simulate --scenario fault-internal-short --duration-s 150`
# wrote before RunSummary (the dict built in bms/sim/summary.py), in its order
KEYS = [
    "scenario",
    "chemistry",
    "pack",
    "time_to_target_s",
    "soc_true_at_target",
    "charge_start_s",
    "soc_true_end",
    "soc_est_end",
    "max_cell_v_true",
    "max_core_temp_c_true",
    "soc_rmse",
    "core_temp_rmse_c",
    "faults",
    "contactor_open_s",
    "charge_limit_v",
    "abs_max_cell_v",
    "abs_max_core_temp_c",
    "steps",
    "sim_s",
    "wall_s",
    "realtime_factor",
    "capacity_rel_err_rms",  # state of health at the end (soh.h)
    "r0_rel_err_rms",
    "soc_spread_start",  # balancing (bms.balancing): true SoC spread, bleed energy, usable capacity
    "soc_spread_end",
    "balancing_energy_wh",
    "usable_capacity_ah",
    "ccl_binding",  # what bound the charge current: the CCL's limiting term, share of the charge
    "heater_energy_wh",  # the coolant heater's energy; the coldest core at the charge start
    "charge_start_core_min_c",
    "pressure_min_mpa",  # a pressed solid-state pack: the true stack pressure's range (null: not pressed)
    "pressure_max_mpa",
    "violations",  # only with --check (the default); --no-check writes the keys above
]
# the old summary.json's fault keys, in order, and injected_cell after them (added: the injection's cell)
FAULT_KEYS = [
    "id",
    "name",
    "cell",
    "injected_s",
    "detected_s",
    "injected_kind",
    "onset_s",
    "trip_time_s",
    "injected_cell",
]


@pytest.fixture(scope="module")
def faulted():
    """A small pack with a stuck cell voltage: a fault latched and matched to its injection."""
    scn = replace(load_scenario("fastcharge-10-80"), series=12, parallel=4, duration_s=30.0)
    scn = replace(scn, faults=[Fault(kind="stuck_voltage", at_s=10.0, cell=3)])
    res = run(scn)
    return res, res.summary.with_violations([str(v) for v in check_run(res, load_chemistry(scn.chemistry))])


def test_a_summary_read_back_from_its_dict_is_the_same_summary(faulted):
    res, checked = faulted
    assert checked.faults and checked.faults[0].detected_s is not None  # not vacuous
    for s in (res.summary, checked):
        assert RunSummary.from_dict(s.to_dict()) == s
        assert RunSummary.from_dict(json.loads(json.dumps(s.to_dict()))) == s  # through summary.json


def test_to_dict_has_the_keys_of_the_old_summary_json(faulted):
    res, checked = faulted
    assert list(checked.to_dict()) == KEYS
    assert list(res.summary.to_dict()) == KEYS[:-1]  # not checked: no "violations"
    assert checked.to_dict()["violations"] == list(checked.violations or ())
    (f,) = checked.to_dict()["faults"]
    assert list(f) == FAULT_KEYS
    assert f == dict(zip(FAULT_KEYS, (getattr(checked.faults[0], k) for k in FAULT_KEYS), strict=True))


def test_ccl_binding_counts_the_limiting_term_over_the_charging_steps(faulted):
    res, _ = faulted
    log, scn = res.log, res.scenario
    cap = load_chemistry(scn.chemistry).cell.capacity_ah * scn.parallel
    steps = [
        LIMITING_NAMES[int(lim)]
        for t, i, lim in zip(log["time_s"], log["current_a"], log["ccl_limit"], strict=True)
        if i < -0.01 * cap and t >= res.summary.charge_start_s
    ]
    assert len(steps) > 100  # not vacuous: the 30 s run charges
    counts = Counter(steps)
    expected = {name: round(n / len(steps), 3) for name, n in counts.items() if n / len(steps) >= 0.01}
    binding = res.summary.ccl_binding
    assert binding is not None and dict(binding) == expected
    assert [share for _, share in binding] == sorted((share for _, share in binding), reverse=True)
    assert len(binding) >= 2  # the ramp, then the limit the fault leaves


def test_the_fault_list_of_the_run_is_the_summary_s(faulted):
    res, _ = faulted
    assert [f.to_dict() for f in res.summary.faults] == res.faults
    assert [FaultRecord.from_dict(f) for f in res.faults] == list(res.summary.faults)


def test_summary_json_on_disk_is_to_dict(tmp_path):
    out = tmp_path / "sim"
    r = CliRunner().invoke(
        main,
        ["simulate", "--duration-s", "6", "--series", "8", "--parallel", "2", "--out", str(out)],
    )
    assert r.exit_code == 0, r.output
    on_disk = json.loads((out / "summary.json").read_text())
    assert list(on_disk) == KEYS
    s = RunSummary.from_dict(on_disk)
    assert s.to_dict() == on_disk
    assert s.steps == 60 and s.violations == ()


def test_a_summary_missing_a_key_is_refused(faulted):
    d = faulted[1].to_dict()
    del d["soc_rmse"]
    with pytest.raises(BmsError, match="no 'soc_rmse'"):
        RunSummary.from_dict(d)
    d = faulted[1].to_dict()
    del d["faults"][0]["onset_s"]
    with pytest.raises(BmsError, match=r"no 'faults\[\]\.onset_s'"):
        RunSummary.from_dict(d)
