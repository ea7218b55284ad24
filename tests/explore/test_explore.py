"""The claim explorer (issue 18, part 4): its report is reproducible from its file and seed,
each of its points re-runs with `bms simulate --scenario`, its design files state what the
point says (checked against the shipped base read independently), and a bad file or output
folder gets one line naming the field and the rule."""

from __future__ import annotations

import json
import subprocess
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bms import assb_design
from bms.cells import load_cell
from bms.chemistry import load_chemistry
from bms.enums import Limiting
from bms.sim.checks import check_run
from bms.sim.loop import run
from bms.sim.scenario import load_scenario, scenario_to_toml

pytest.importorskip("distributed")

BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"
BASE_CHEM = Path(__file__).resolve().parents[2] / "bms" / "data" / "chemistries" / "sulfide-assb.toml"


def write_small(d: Path, **axes: list[float]) -> Path:
    """A two-point exploration of a 6s2p pack (the fast-charge preset, small: seconds a point)."""
    scn = replace(load_scenario("fastcharge-10-80"), series=6, parallel=2, name="small-pack")
    (d / "pack.toml").write_text(scenario_to_toml(scn))
    ax = {"areal_capacity_mah_cm2": [1.0], "ccd_scale": [1.0, 3.0], "pack_temp_c": [70.0], **axes}
    lines = "\n".join(f"{k} = {v}" for k, v in ax.items())
    f = d / "small.toml"
    f.write_text(
        f'[explore]\nname = "small"\nscenario = "pack.toml"\ntarget_min = 10.0\nseed = 3\n\n[axes]\n{lines}\n'
    )
    return f


def bms(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "bms"), *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def explored(tmp_path_factory):
    d = tmp_path_factory.mktemp("explore")
    f = write_small(d)
    outs = []
    for name in ("a", "b"):
        r = bms("explore", str(f), "--out", str(d / name), "--workers", "1")
        assert r.returncode == 0, r.stderr
        outs.append(d / name)
    return f, outs, r.stdout


def test_the_report_is_reproducible_from_its_file_and_seed(explored):
    _, (a, b), _ = explored
    ra, rb = (json.loads((o / "report.json").read_text()) for o in (a, b))
    assert ra == rb  # every number, the answer and the points, from the file and its seed alone
    assert ra["exploration"]["seed"] == 3 and ra["exploration"]["sha256"]
    assert [p["point"] for p in ra["points"]] == ["q1-ccd1-t70", "q1-ccd3-t70"]
    assert (a / "explore.png").stat().st_size > 10_000


def test_each_point_re_runs_with_bms_simulate_to_the_same_result(explored):
    _, (a, _), _ = explored
    rep = json.loads((a / "report.json").read_text())
    for p in rep["points"]:
        scn = load_scenario(a / p["scenario"])
        res = run(scn)
        t = res.summary.time_to_target_s
        assert p["time_to_target_min"] == pytest.approx(t / 60.0, abs=1e-3)
        assert p["max_cell_v_true"] == pytest.approx(res.summary.max_cell_v_true, abs=1e-4)
    # and through the command line, from the scenario file alone
    one = a / rep["points"][0]["scenario"]
    r = bms("simulate", "--scenario", str(one), "--out", str(a / "rerun"))
    assert r.returncode == 0, r.stderr
    s = json.loads((a / "rerun" / "summary.json").read_text())
    assert s["time_to_target_s"] / 60.0 == pytest.approx(rep["points"][0]["time_to_target_min"], abs=1e-3)


def test_the_answer_names_exactly_the_points_that_meet_the_target_safely(explored):
    _, (a, _), stdout = explored
    rep = json.loads((a / "report.json").read_text())
    target = rep["exploration"]["target_min"]
    safe_fast = [
        p["point"]
        for p in rep["points"]
        if p["time_to_target_min"] is not None
        and p["time_to_target_min"] <= target
        and not p["violations"]
        and not p["faults"]
    ]
    assert sorted(rep["answer"]["meets_target"]) == sorted(safe_fast)
    assert rep["answer"]["statement"] in stdout
    if not safe_fast:
        assert rep["answer"]["statement"].startswith("NO point")
    # a faster CCD can only help: the same design with 3x the CCD is no slower
    t1, t3 = (p["time_to_target_min"] for p in rep["points"])
    assert t3 <= t1 + 1e-9


def test_a_points_design_files_state_its_scaled_ccd_and_its_cell(explored):
    _, (a, _), _ = explored
    base = tomllib.loads(BASE_CHEM.read_text())["charge"]["map"]
    chem = load_chemistry(a / "chemistries" / "q1-ccd3-t70.toml")
    # the CCD is a current density: x3 for a third of the areal capacity, x3 for the point's scale
    k = 3.0 * (3.0 / 1.0)
    got = np.asarray(chem.protection.charge.maps.plating_c)
    assert np.allclose(got, np.asarray(base["plating_c"]) * k, rtol=1e-4)
    thin = load_cell(Path(__file__).resolve().parents[2] / "bms/data/cells/assb-nmc811-lps-agc-thin.toml")
    assert np.allclose(np.asarray(chem.cell.r0_ohm), np.asarray(thin.r0_ohm))  # q = 1: the shipped thin cell
    ch = chem.protection.charge
    assert (ch.heater_on_below_c, ch.cooling_on_above_c) == (67.0, 73.0)


def test_a_charger_axis_sets_the_points_charger_and_nothing_else(tmp_path):
    from bms.explore.design import points, write_point
    from bms.explore.spec import load_exploration

    f = write_small(tmp_path, charger_current_max_a=[700.0])
    e = load_exploration(f)
    (pt,) = [p for p in points(e) if p.ccd_scale == 1.0]
    _, path = write_point(e, pt, tmp_path / "out")
    assert pt.name == "q1-ccd1-t70-i700" and path.name == "q1-ccd1-t70-i700.toml"
    back = load_scenario(path)
    assert back.charger.current_max_a == 700.0
    assert back.charger.power_max_w == e.base.charger.power_max_w and back.pack == e.base.pack


def test_a_preload_axis_sets_the_points_fixtures_and_the_firmware_derates_below_full_contact(tmp_path):
    """stack_preload_mpa: each point's chemistry keeps the base's [stack_pressure] but its
    preload; at a preload whose pressure stays under the charge minimum's derate threshold the
    firmware names the pressure as the CCL's reason and charges no faster than at the base's
    preload (the CCD cap times the contact the firmware may count on)."""
    from bms.explore.design import points, write_point
    from bms.explore.spec import load_exploration

    f = write_small(tmp_path, ccd_scale=[1.0], stack_preload_mpa=[0.8, 2.0])
    e = load_exploration(f)
    assert e.stack_preload_mpa == (0.8, 2.0) and e.n_points == 2
    pts = points(e)
    assert [p.name for p in pts] == ["q1-ccd1-t70-p0.8", "q1-ccd1-t70-p2"]
    base = load_chemistry("sulfide-assb").stack_pressure
    runs = {}
    for pt in pts:
        scn, path = write_point(e, pt, tmp_path / "out")
        chem = load_chemistry(scn.chemistry)
        sp = chem.stack_pressure
        assert sp.preload_mpa == pt.preload_mpa
        assert replace(sp, preload_mpa=base.preload_mpa) == base  # nothing else of the fixture moves
        runs[pt.preload_mpa] = run(replace(load_scenario(path), duration_s=60.0))
        assert check_run(runs[pt.preload_mpa], chem) == []  # every property, P11 with it
    lim = load_chemistry("sulfide-assb").protection.limits["pressure_min_charge"]
    low, ok = runs[0.8], runs[2.0]
    assert np.nanmin(low.log["pressure_fw_min_mpa"]) < lim.derate.threshold
    assert (low.log["ccl_limit"] == int(Limiting.PRESSURE)).any()
    assert not (ok.log["ccl_limit"] == int(Limiting.PRESSURE)).any()
    assert low.log["soc_true_mean"][-1] <= ok.log["soc_true_mean"][-1]


def test_an_anode_axis_adds_the_silicon_cell_as_shipped(tmp_path):
    """anode = ["li-metal", "si"]: the Li-metal designs as before, plus one point per held
    temperature (charger, preload) of the silicon cell as shipped: its cell, its maps and its
    fixture (read independently from sulfide-assb-si.toml), only the thermal bands the point's.
    The report names it and its plot takes it beside the Li-metal grid."""
    from bms.explore.design import points, write_point
    from bms.explore.report import build_report, write_plots
    from bms.explore.spec import load_exploration

    f = write_small(tmp_path, ccd_scale=[1.0], anode=["li-metal", "si"])
    e = load_exploration(f)
    assert e.anode == ("li-metal", "si") and e.n_points == 2
    pts = points(e)
    assert [p.name for p in pts] == ["q1-ccd1-t70", "si-t70"]
    shipped = load_chemistry("sulfide-assb-si")
    scn, _ = write_point(e, pts[1], tmp_path / "out")
    si = load_chemistry(scn.chemistry)
    assert np.array_equal(si.protection.charge.maps.plating_c, shipped.protection.charge.maps.plating_c)
    assert si.cell.capacity_ah == shipped.cell.capacity_ah and si.stack_pressure == shipped.stack_pressure
    assert si.protection.charge.heater_off_above_c == 70.0  # the held temperature's bands
    rows = [
        {"point": p.name, "areal_capacity_mah_cm2": p.areal_capacity_mah_cm2, "ccd_scale": p.ccd_scale,
         "pack_temp_c": 70.0, "charger_current_max_a": None, "stack_preload_mpa": None, "anode": p.anode,
         "time_to_target_min": tt, "ccl_binding": {"map": 1.0}, "faults": [], "violations": []}
        for p, tt in zip(pts, (20.0, 9.5), strict=True)
    ]  # fmt: skip
    rep = build_report(e, rows)
    assert rep["answer"]["meets_target"] == ["si-t70"]
    assert "micro-Si anode" in rep["answer"]["statement"] and "anode" not in rep["not_swept"]
    (png,) = write_plots(rep, tmp_path)
    assert png.stat().st_size > 0
    # the Si cell alone: no Li-metal grid, the plot still draws
    only = replace(e, anode=("si",))
    assert [p.name for p in points(only)] == ["si-t70"] and only.n_points == 1
    (png,) = write_plots(build_report(only, rows[1:]), tmp_path)
    assert png.stat().st_size > 0


def test_the_design_at_the_base_loading_is_the_base_cell(tmp_path):
    """At 3.0 mAh/cm2 the derivation must give back the shipped cell: no ionic path saved, the
    same stack (an identity the derivation's terms must respect)."""
    p = tmp_path / "q3.toml"
    p.write_text(assb_design.derive(3.0, str(assb_design.BASE)))
    c, base = load_cell(p), load_cell(assb_design.BASE)
    assert np.allclose(np.asarray(c.r0_ohm), np.asarray(base.r0_ohm), rtol=1e-5)
    assert c.thermal.c_core_j_per_k == pytest.approx(base.thermal.c_core_j_per_k, rel=1e-5)
    assert c.thermal.r_core_surf_k_per_w == pytest.approx(base.thermal.r_core_surf_k_per_w, rel=1e-5)


@pytest.mark.parametrize(
    ("axes", "says"),
    [
        (
            {"areal_capacity_mah_cm2": [10.0]},
            "axes.areal_capacity_mah_cm2' must be a finite number within [0.25, 6]",
        ),
        ({"ccd_scale": [1.0, 1.0]}, "axes.ccd_scale' lists a value twice"),
        ({"pack_temp_c": []}, "axes.pack_temp_c' must be a non-empty list"),
        ({"pack_temp_c": [80.0]}, "axes.pack_temp_c' must be a finite number within [20, 72] degC"),
        (
            {"stack_preload_mpa": [0.1]},
            "axes.stack_preload_mpa' must be a finite number within [0.2, 50] MPa",
        ),
        (
            {"anode": ["li-metal", "graphite"]},
            "axes.anode' must list distinct anodes from ['li-metal', 'si']",
        ),
    ],
)
def test_a_bad_exploration_file_is_one_line_naming_the_field(tmp_path, axes, says):
    f = write_small(tmp_path, **axes)
    r = bms("explore", str(f), "--out", str(tmp_path / "out"))
    assert r.returncode == 2
    assert says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_an_out_folder_with_an_earlier_run_is_refused_without_force(explored, tmp_path):
    f, (a, _), _ = explored
    before = (a / "report.json").read_text()
    r = bms("explore", str(f), "--out", str(a))
    assert r.returncode == 2 and "already holds files" in r.stderr
    assert (a / "report.json").read_text() == before


@pytest.mark.parametrize("name", sorted(p.stem for p in (BASE_CHEM.parents[1] / "explore").glob("*.toml")))
def test_every_shipped_exploration_loads_and_writes_loadable_points(tmp_path, name):
    from bms.explore.design import points, write_point
    from bms.explore.spec import load_exploration

    e = load_exploration(name)
    pts = points(e)
    assert len(pts) == e.n_points and len({p.name for p in pts}) == len(pts)
    for pt in (pts[0], pts[-1]):
        scn, path = write_point(e, pt, tmp_path / "out")
        chem = load_chemistry(scn.chemistry)
        assert chem.stack_pressure is not None
        if pt.preload_mpa is not None:
            assert chem.stack_pressure.preload_mpa == pt.preload_mpa
        assert load_scenario(path).chemistry == scn.chemistry
