"""Closed-loop speed: `fastcharge-10-80` (96 cells, 10 min simulated) as a real-time factor,
where its time goes (profile by stage), and a PyBaMM single-cell SPMe charge of the same
duration measured in the same run (optional: skipped with a message without PyBaMM)."""

from __future__ import annotations

import cProfile
import pstats
import time
from dataclasses import replace

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bms.sim.loop import run
from bms.sim.scenario import load_scenario

# (label, file suffix, function name) of the stages of one loop step, as cProfile names them
STAGES = (
    ("plant_electrical", "plant: cell electrical model", "plant/pack.py", "step"),
    ("plant_thermal", "plant: thermal network", "plant/thermal.py", "step"),
    ("sensors", "sensors (noise, ADC, faults)", "plant/sensors.py", None),
    ("firmware", "firmware step (C via cffi + marshalling)", "bms/firmware.py", "step"),
    ("charger", "charger model", "plant/charger.py", "step"),
)


def _stage_times(stats: pstats.Stats) -> dict[str, float]:
    """Cumulative seconds per stage (sensors: the sum over its methods)."""
    out = dict.fromkeys((s[0] for s in STAGES), 0.0)
    for (path, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        for key, _label, suffix, name in STAGES:
            if path.endswith(suffix) and (name is None or func == name) and not func.startswith("_"):
                out[key] += ct
    return out


def pybamm_spme_wall_s(duration_s: float) -> tuple[float, float] | str:
    """Wall time of a PyBaMM SPMe single-cell 1C charge of duration_s (Chen2020 parameters):
    (build + solve, solve only), or why it was skipped."""
    try:
        import pybamm
    except ImportError:
        return "PyBaMM not installed (pip install 'bms-bench[pybamm]')"
    t0 = time.perf_counter()
    model = pybamm.lithium_ion.SPMe()
    params = pybamm.ParameterValues("Chen2020")
    params["Current function [A]"] = -params["Nominal cell capacity [A.h]"]  # 1C charge
    sim = pybamm.Simulation(model, parameter_values=params, solver=pybamm.IDAKLUSolver())
    sim.build(initial_soc=0.1)
    t1 = time.perf_counter()
    sim.solve([0.0, duration_s], initial_soc=0.1)
    t2 = time.perf_counter()
    return t2 - t0, t2 - t1


def closed_loop_bench(console: Console, duration_s: float = 600.0, series: int = 96) -> dict[str, float]:
    scn = replace(load_scenario("fastcharge-10-80"), duration_s=duration_s, series=series)
    run(replace(scn, duration_s=5.0))  # warm-up: imports, table construction, first calls
    t0 = time.perf_counter()
    res = run(scn)
    wall = time.perf_counter() - t0
    sim_s = float(res.log["time_s"][-1])
    rtf = sim_s / wall
    results: dict[str, float] = {
        "closed_loop_wall_s": wall,
        "closed_loop_rtf": rtf,
        "closed_loop_us_per_step": wall / res.summary.steps * 1e6,
    }
    # where the time goes: the same run under cProfile (slower; shares, not absolute times)
    prof = cProfile.Profile()
    prof.enable()
    run(scn)
    prof.disable()
    stats = pstats.Stats(prof)
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in stats.stats.values())  # type: ignore[attr-defined]
    stages = _stage_times(stats)

    tab = Table(title=f"closed loop: {scn.name}, {series}s{scn.parallel}p, {sim_s:.0f} s simulated")
    tab.add_column("run")
    tab.add_column("wall time", justify="right")
    tab.add_column("real-time factor", justify="right")
    tab.add_column("ratio", justify="right")
    spme = pybamm_spme_wall_s(sim_s)
    tab.add_row(f"bms closed loop ({series} cells + firmware + charger)", f"{wall:.2f} s", f"{rtf:,.0f}×", "")
    if isinstance(spme, tuple):
        build_solve, solve = spme
        results.update(pybamm_spme_wall_s=build_solve, pybamm_spme_solve_s=solve)
        tab.add_row(
            "PyBaMM SPMe, one cell, build + solve (reference)",
            f"{build_solve:.2f} s",
            f"{sim_s / build_solve:,.0f}×",
            f"{build_solve / wall:.2f}× the loop's wall time",
        )
        tab.add_row(
            "PyBaMM SPMe, one cell, solve only",
            f"{solve:.2f} s",
            f"{sim_s / solve:,.0f}×",
            f"per cell: {solve / (wall / series):.1f}× the loop's {wall / series * 1e3:.1f} ms",
        )
    else:
        tab.add_row("PyBaMM SPMe (reference)", "skipped", escape(spme), "")  # [pybamm] is not markup
    tab.add_row("target", "", "5,000×", f"reached {rtf / 5000:.0%}")
    fw_share = stages["firmware"] / total
    results["ceiling_rtf_firmware_only"] = rtf / max(fw_share, 1e-9)
    console.print(tab)

    prof_tab = Table(title="where the loop's time goes (cProfile of the same run, share of total)")
    prof_tab.add_column("stage")
    prof_tab.add_column("share", justify="right")
    accounted = 0.0
    for key, label, _suffix, _name in STAGES:
        secs = stages[key]
        prof_tab.add_row(label, f"{secs / total:.0%}")
        accounted += secs
        results[f"share_{key}"] = secs / total
    prof_tab.add_row("loop bookkeeping, logging, fault timing", f"{max(0.0, 1 - accounted / total):.0%}")
    console.print(prof_tab)
    console.print(
        f"ceiling if everything but the firmware step cost nothing: "
        f"~{results['ceiling_rtf_firmware_only']:,.0f}× (the firmware's share of the loop)"
    )
    return results
