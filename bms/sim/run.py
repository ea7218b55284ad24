"""`bms simulate`: scenario + options -> runs -> files and a summary table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bms.chemistry import load_chemistry
from bms.errors import BmsError
from bms.outputs import prepare_output_dir, refuse_inputs
from bms.plant.faults import parse_fault, validate_faults
from bms.sim.checks import check_run
from bms.sim.loop import SimResult, run
from bms.sim.report import write_all
from bms.sim.scenario import Scenario, load_scenario, validate
from bms.sim.summary import RunSummary
from bms.targets.base import Target, TargetError
from bms.targets.registry import capabilities, open_target


def _target_spec(spec: str, can_log: Path | None) -> None:
    """Refuse a --target the registry does not know, or --can-log without a CAN target,
    before anything runs."""
    try:
        caps = capabilities(spec)
    except TargetError as exc:
        raise BmsError(f"--target: {exc}") from None
    if can_log is not None and "can" not in caps:
        raise BmsError("--can-log needs a CAN target (--target can:virtual, ...)")


def _open(spec: str, can_log: Path | None) -> Target:
    try:
        return open_target(spec, **({"log": can_log} if can_log is not None else {}))
    except TargetError as exc:
        raise BmsError(f"--target: {exc}") from None


def build_scenario(
    name: str, chemistry: str | None, overrides: dict[str, Any], faults: tuple[str, ...]
) -> Scenario:
    scn = load_scenario(name)
    kw = {k: v for k, v in overrides.items() if v is not None}
    # a notice of S s: the vehicle announces the charge at the scenario's arrival and reaches
    # the charger S s later; the run is longer by as much, so the charge keeps its time
    if "precondition_s" in kw:
        lead = kw["precondition_s"] - scn.precondition_s
        kw["close_at_s"] = kw.get("close_at_s", scn.close_at_s) + lead
        kw["duration_s"] = kw.get("duration_s", scn.duration_s) + lead
    if chemistry:
        kw["chemistry"] = chemistry
    # "spread.NAME": a field of the pack's spread and ageing (the plant's, not the firmware's)
    spread = {k.split(".", 1)[1]: kw.pop(k) for k in list(kw) if k.startswith("spread.")}
    if spread:
        kw["spread"] = replace(scn.spread, **spread)
    # balancing on: the scenario's mode where it names one, else top balancing
    bal = kw.pop("balancing", None)
    if bal is not None:
        mode = (scn.balancing.mode if scn.balancing.mode != "off" else "top") if bal else "off"
        kw["balancing"] = replace(scn.balancing, mode=mode)
    scn = replace(scn, **kw)
    if faults:
        scn = replace(scn, faults=[*scn.faults, *(parse_fault(f) for f in faults)])
    validate(scn)
    validate_faults(scn.faults, scn.series, scn.sensed, scn.duration_s, scn.chemistry)
    return scn


def run_with_progress(console: Console, scn: Scenario, target: Target) -> SimResult:
    if scn.duration_s < 300 or not console.is_terminal:
        return run(scn, target)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(f"{scn.name} ({scn.chemistry})", total=scn.duration_s)
        return run(scn, target, progress=lambda t: bar.update(task, completed=t))


ROWS: list[tuple[str, Callable[[RunSummary], str]]] = [
    (
        "time to target (BMS: complete)",
        lambda s: (
            "not reached"
            if s.time_to_target_s is None
            else f"{s.time_to_target_s:.0f} s ({s.time_to_target_s / 60:.1f} min), "
            f"true SoC then {s.soc_true_at_target:.1%}"
        ),
    ),
    (
        "charge current bound by (share of the charge)",
        lambda s: (
            "-"
            if s.ccl_binding is None
            else ", ".join(f"{name} {share:.0%}" for name, share in s.ccl_binding)
        ),
    ),
    (
        "coldest core at the charge start; heater energy",
        lambda s: (
            ("-" if s.charge_start_core_min_c is None else f"{s.charge_start_core_min_c:.1f} °C")
            + ("" if s.heater_energy_wh is None else f"; {s.heater_energy_wh / 1000:.2f} kWh")
        ),
    ),
    ("true SoC at the end", lambda s: f"{s.soc_true_end:.1%}"),
    ("estimated SoC at the end", lambda s: f"{s.soc_est_end:.1%}"),
    ("SoC RMSE (per cell)", lambda s: f"{s.soc_rmse:.2%}"),
    (
        "max true cell voltage",
        lambda s: (
            f"{s.max_cell_v_true:.3f} V (limit {s.charge_limit_v:.2f}, abs. max {s.abs_max_cell_v:.2f})"
        ),
    ),
    (
        "max true core temperature",
        lambda s: f"{s.max_core_temp_c_true:.1f} °C (abs. max {s.abs_max_core_temp_c:.0f})",
    ),
    ("core temperature RMSE", lambda s: f"{s.core_temp_rmse_c:.2f} K"),
    (
        "stack pressure (true, min .. max over the modules)",
        lambda s: (
            "-"
            if s.pressure_min_mpa is None or s.pressure_max_mpa is None
            else f"{s.pressure_min_mpa:.2f} .. {s.pressure_max_mpa:.2f} MPa"
        ),
    ),
    (
        "faults",
        lambda s: (
            ", ".join(
                f"{f.name}@{f.detected_s}s"
                if f.detected_s is not None
                else f"{f.injected_kind} injected at {f.injected_s}s, not detected"
                for f in s.faults
            )
            or "none"
        ),
    ),
    (
        "safety properties (P1-P14)",
        lambda s: (
            "not checked"
            if s.violations is None
            else (f"{len(s.violations)} VIOLATED" if s.violations else "all held")
        ),
    ),
    (
        "SoC spread (true, max - min)",
        lambda s: (
            "-"
            if s.soc_spread_start is None or s.soc_spread_end is None
            else f"{s.soc_spread_start:.2%} -> {s.soc_spread_end:.2%}"
            + (f", {s.balancing_energy_wh:.1f} Wh bled" if s.balancing_energy_wh else "")
        ),
    ),
    (
        "usable capacity (C/3 from the end)",
        lambda s: "-" if s.usable_capacity_ah is None else f"{s.usable_capacity_ah:.2f} Ah",
    ),
    (
        "contactors opened",
        lambda s: "no" if s.contactor_open_s is None else f"at {s.contactor_open_s:.1f} s",
    ),
    (
        "simulated / wall",
        lambda s: f"{s.sim_s:.0f} s / {s.wall_s:.2f} s ({s.realtime_factor:.0f}x real time)",
    ),
]


def summary_table(results: list[SimResult]) -> Table:
    tab = Table(title=f"{results[0].scenario.name} ({results[0].summary.pack})")
    tab.add_column("")
    for r in results:
        tab.add_column(r.scenario.chemistry)
    for label, fn in ROWS:
        tab.add_row(label, *(fn(r.summary) for r in results))
    return tab


OUTPUT_NAMES = (
    "log.csv",
    "summary.json",
    "plot.png",
    "scenario.toml",
    "log.mf4",
    "can.asc",
    "can.blf",
    "can.log",
)


def _folder_name(chemistry: str) -> str:
    """A chemistry's sub-folder: its name, or a chemistry file's stem (never the file's path)."""
    return Path(chemistry).stem if Path(chemistry).suffix else chemistry


def simulate_cli(
    console: Console,
    scenario: str,
    chemistries: tuple[str, ...],
    overrides: dict[str, Any],
    faults: tuple[str, ...],
    out_dir: Path,
    fmt: str,
    target_spec: str,
    check: bool = True,
    can_log: str | None = None,
    force: bool = False,
) -> list[SimResult]:
    """Run and report; with `check`, every step is held to the safety properties
    (bms.sim.checks) and their violations go into the summary and the table. With a CAN
    target, can_log ('asc', 'blf' or 'log') writes the run's bus traffic beside its log.

    Everything that can be refused is refused before the first run: every scenario, the
    output folder (not a file, writable, empty unless `force`, no input inside it)."""
    _target_spec(target_spec, Path(can_log) if can_log else None)
    chems: list[str | None] = list(chemistries) or [None]
    scns = [build_scenario(scenario, chem, overrides, faults) for chem in chems]
    names = [_folder_name(s.chemistry) for s in scns]
    if len(set(names)) != len(names):
        raise BmsError(f"--chemistry: two chemistries would write to the same folder ({', '.join(names)})")
    folders = [out_dir / n for n in names] if len(chems) > 1 else [out_dir]
    inputs = [Path(scenario) if Path(scenario).suffix else None]
    inputs += [Path(s.chemistry) for s in scns if Path(s.chemistry).suffix]
    refuse_inputs([f / n for f in folders for n in OUTPUT_NAMES], inputs, "--out")
    prepare_output_dir(out_dir, "--out", force)
    for f in folders:
        prepare_output_dir(f, "--out", True)
        for n in OUTPUT_NAMES:  # --force: no file of the earlier run is left beside the new one
            (f / n).unlink(missing_ok=True)
    results = []
    for scn, folder in zip(scns, folders, strict=True):
        log_path = folder / f"can.{can_log}" if can_log else None
        target = _open(target_spec, log_path)
        try:
            res = run_with_progress(console, scn, target)
        finally:
            target.close()
        if check:
            res.summary = res.summary.with_violations(
                [str(v) for v in check_run(res, load_chemistry(scn.chemistry))]
            )
        paths = write_all(res, folder, fmt)
        if log_path is not None:
            paths.append(log_path)
        console.print(f"wrote {', '.join(str(p) for p in paths)}", highlight=False)
        results.append(res)
    console.print(summary_table(results))
    for r in results:
        for v in r.summary.violations or ():
            console.print(f"[red]VIOLATION[/] ({r.scenario.chemistry}) {v}", highlight=False)
    return results
