"""The closed loop (bms/sim/loop.py) on the shipped scenarios: the acceptance of the
simulator issue."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from bms.chemistry import available, load_chemistry
from bms.cli import main
from bms.plant.faults import BALANCING_FAULTS
from bms.sim.checks import check_run
from bms.sim.loop import run
from bms.sim.runlog import LOG_FIELDS
from bms.sim.scenario import SCENARIO_DIR, load_scenario
from bms.sim.summary import RunSummary

FAULT_PRESETS = sorted(p.stem for p in SCENARIO_DIR.glob("fault-*.toml"))


@pytest.fixture(scope="module", params=available())
def nominal(request):
    scn = replace(load_scenario("fastcharge-10-80"), chemistry=request.param)
    res = run(scn)
    return scn, res, check_run(res, load_chemistry(scn.chemistry))


def test_nominal_fast_charge_keeps_every_safety_property(nominal):
    _scn, _res, violations = nominal
    assert violations == [], [str(v) for v in violations]


def test_nominal_fast_charge_is_safe_and_reaches_the_target(nominal):
    scn, res, _ = nominal
    chem = load_chemistry(scn.chemistry)
    s = res.summary
    assert res.faults == [], res.faults
    assert s.max_cell_v_true <= chem.protection.charge.cell_v_charge_max_v + 0.010
    assert s.max_core_temp_c_true < chem.abs_max.core_temp_c
    assert s.soc_rmse <= 0.02
    assert s.time_to_target_s is not None and s.time_to_target_s > 0
    assert abs(s.soc_true_at_target - scn.soc_target) < 0.02
    # the log holds every firmware step
    log = res.log
    assert len(log["time_s"]) == s.steps
    # the charge current follows the CCL the way a compliant charger can: the limit sent at
    # step k-1 reaches the charger at step k, and the step-mean of its first-order regulator
    # (time constant tau) may still carry the set point of one step before. Any excess above
    # that decays by the analytic step-mean factor tau/dt * (1 - exp(-dt/tau)).
    dt = scn.dt_ms / 1000.0
    decay = scn.charger.tau_s / dt * -math.expm1(-dt / scn.charger.tau_s)
    i_chg = -log["current_a"]
    ccl = log["ccl_a"]
    sent = np.maximum(ccl[1:-1], ccl[:-2])
    bound = sent + decay * np.maximum(0.0, i_chg[1:-1] - sent)
    assert np.all(i_chg[2:] <= bound + 1e-6), float(np.max(i_chg[2:] - bound))


@pytest.mark.parametrize("preset", FAULT_PRESETS)
def test_every_fault_preset_is_caught_in_time(preset):
    scn = load_scenario(preset)
    res = run(scn)
    violations = check_run(res, load_chemistry(scn.chemistry))
    assert violations == [], [str(v) for v in violations]
    injected = scn.faults[0]
    hits = [f for f in res.faults if f["injected_kind"] == injected.kind]
    assert len(hits) == 1, res.faults
    f = hits[0]
    assert f["detected_s"] is not None, f"{injected.kind} not detected"
    dt = scn.dt_ms / 1000.0
    assert f["onset_s"] >= f["injected_s"]
    assert f["detected_s"] - f["onset_s"] <= f["trip_time_s"] + dt + 1e-9
    if injected.kind.startswith("charger") or injected.kind in ("internal_short", "pressure_loss"):
        # these onsets are judged on true values against a threshold (a charger's excess beyond
        # the current sensor's error, a short's drift beyond the deviation allowance, a module's
        # pressure below its trip by more than the load cell's error); the
        # firmware, on measured values, may cross its own threshold a little sooner, but never
        # within the debounce of the injection
        assert f["detected_s"] - f["injected_s"] >= f["trip_time_s"] - 1e-9
    elif injected.kind in BALANCING_FAULTS:
        # the bound is the test interval + a sweep + the debounce: the next test may come at
        # once, its failure is confirmed only after the debounce
        assert f["detected_s"] - f["onset_s"] >= scn.balancing.switch_debounce_ms / 1000 - 1e-9
    else:
        assert f["detected_s"] - f["onset_s"] >= f["trip_time_s"] - 1e-9
    # the charge stops at detection, and the contactors open (or never close)
    t = res.log["time_s"]
    after = t >= f["detected_s"] - 1e-9
    assert np.all(res.log["ccl_a"][after] == 0.0)
    if injected.at_s < scn.close_at_s:
        assert np.all(res.log["contactor_state"] == 0)  # the close request was refused
    else:
        assert res.summary.contactor_open_s is not None
        assert res.summary.contactor_open_s <= f["detected_s"] + 2.5  # opening waits for the current


def test_no_false_fault_in_nominal_runs_over_twenty_seeds():
    base = load_scenario("fastcharge-10-80")
    for seed in range(1, 21):
        res = run(replace(base, seed=seed))
        assert res.faults == [], (seed, res.faults)
        assert res.summary.time_to_target_s is not None


def test_runs_are_deterministic_for_a_seed():
    scn = replace(load_scenario("drive-then-charge"), duration_s=400.0)
    a, b = run(scn), run(scn)
    for k in a.log:
        assert np.array_equal(a.log[k], b.log[k], equal_nan=True), k
    c = run(replace(scn, seed=scn.seed + 1))
    assert not np.array_equal(a.log["cell_v_true_max"], c.log["cell_v_true_max"])


def test_cold_pack_is_preheated_before_it_charges():
    res = run(replace(load_scenario("cold-fastcharge"), duration_s=900.0))
    log = res.log
    assert log["heater_on"][5] == 1.0
    first_charge = np.argmax(log["current_a"] < -1.0)
    assert (
        log["core_temp_true_max_c"][first_charge]
        > load_chemistry("sulfide-assb").protection.limits["temp_min_charge"].trip.threshold
    )


def test_cli_writes_the_files_and_refuses_bad_options(tmp_path):
    r = CliRunner().invoke(
        main,
        [
            "simulate",
            "--scenario",
            "fastcharge-10-80",
            "--duration-s",
            "60",
            "--series",
            "12",
            "--seed",
            "3",
            "--fault",
            "ntc_short:20:4",
            "--out",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "summary.json").read_text())
    assert RunSummary.from_dict(s).to_dict() == s  # every key of a summary (BmsError for a missing one)
    assert s["faults"][0]["name"] == "ntc_short" and s["faults"][0]["injected_s"] == 20.0
    header = (tmp_path / "log.csv").read_text().splitlines()[0].split(",")
    assert {
        "time_s",
        "soc_true_min",
        "soc_est_max",
        "cell_v_true_max",
        "core_temp_est_max_c",
        "ccl_a",
        "limiting_factor",
        "contactor",
        "fault_names",
    } <= set(header)
    assert (tmp_path / "plot.png").stat().st_size > 20_000
    rerun = CliRunner().invoke(
        main, ["simulate", "--scenario", str(tmp_path / "scenario.toml"), "--out", str(tmp_path / "again")]
    )
    assert rerun.exit_code == 0, rerun.output
    assert json.loads((tmp_path / "again" / "summary.json").read_text())["faults"] == s["faults"]
    for args, fragment in (
        (["--chemistry", "nope"], "unknown chemistry"),
        (["--soc-start", "1.5"], "scenario.soc_start"),
        (["--fault", "ntc_open:5:999"], "does not exist"),
        (["--scenario", "no-such-scenario"], "unknown scenario"),
        (["--target", "ftp://x"], "--target"),
    ):
        r = CliRunner().invoke(main, ["simulate", "--duration-s", "5", "--out", str(tmp_path / "bad"), *args])
        assert r.exit_code == 2 and fragment in r.output, (args, r.output)


def test_mdf_output_opens_in_asammdf(tmp_path):
    asammdf = pytest.importorskip("asammdf", reason="asammdf is the optional [mdf] extra")
    r = CliRunner().invoke(
        main, ["simulate", "--duration-s", "20", "--series", "8", "--format", "mdf", "--out", str(tmp_path)]
    )
    assert r.exit_code == 0, r.output
    mdf = asammdf.MDF(tmp_path / "log.mf4")
    ccl = mdf.get("ccl_a")
    log = np.genfromtxt(tmp_path / "log.csv", delimiter=",", names=True, usecols=range(len(LOG_FIELDS)))
    assert len(ccl.samples) == len(log["time_s"])
    assert np.allclose(ccl.samples, log["ccl_a"], rtol=1e-4)
