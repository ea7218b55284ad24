"""Running an exploration: every point's files written on the client, each point's closed-loop
fast charge simulated on a Dask worker (the campaign's worker function: the summary with the
step-by-step safety properties), the rows gathered in the grid's order, then the report."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from bms.chemistry import load_chemistry
from bms.errors import BmsError
from bms.explore.design import Point, points, write_point
from bms.explore.report import build_report, write_plots
from bms.explore.spec import Exploration


@dataclass
class ExploreResult:
    report: dict[str, Any]
    files: list[Path]
    wall_s: float


def _row(pt: Point, scenario: Path, out: Path, got: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "point": pt.name,
        "areal_capacity_mah_cm2": pt.areal_capacity_mah_cm2,
        "ccd_scale": pt.ccd_scale,
        "pack_temp_c": pt.pack_temp_c,
        "charger_current_max_a": pt.charger_a,
        "stack_preload_mpa": pt.preload_mpa,
        "anode": pt.anode,
        "scenario": str(scenario.relative_to(out)),
    }
    if not got["ok"]:
        return {**row, "error": got["error"]}
    s = got["summary"]
    t = s.time_to_target_s
    row.update(
        time_to_target_min=None if t is None else round(t / 60.0, 3),
        ccl_binding=dict(s.ccl_binding or ()),
        max_cell_v_true=round(s.max_cell_v_true, 4),
        max_core_temp_c_true=round(s.max_core_temp_c_true, 3),
        abs_max_cell_v=s.abs_max_cell_v,
        abs_max_core_temp_c=s.abs_max_core_temp_c,
        cell_v_margin_v=round(s.abs_max_cell_v - s.max_cell_v_true, 4),
        core_temp_margin_k=round(s.abs_max_core_temp_c - s.max_core_temp_c_true, 3),
        heater_energy_wh=None if s.heater_energy_wh is None else round(s.heater_energy_wh, 1),
        pressure_min_mpa=s.pressure_min_mpa,
        faults=[f.name for f in s.faults],
        violations=list(s.violations or ()),
    )
    return row


def run_exploration(e: Exploration, out: Path, client: Any, console: Console | None = None) -> ExploreResult:
    from bms.campaign.worker import simulate_on_worker

    t0 = time.perf_counter()
    pts = points(e)
    written = [write_point(e, pt, out) for pt in pts]
    chems = [load_chemistry(scn.chemistry) for scn, _ in written]
    futs = [
        client.submit(simulate_on_worker, scn, chem, pure=False)
        for (scn, _), chem in zip(written, chems, strict=True)
    ]
    rows: list[dict[str, Any]] = []
    for k, (pt, (_, path), fut) in enumerate(zip(pts, written, futs, strict=True), start=1):
        rows.append(_row(pt, path, out, fut.result()))
        if console is not None:
            r = rows[-1]
            t = r.get("time_to_target_min")
            what = r.get("error") or (f"{t:.1f} min" if t is not None else "target not reached")
            console.print(f"  [{k}/{len(pts)}] {pt.name}: {what}", highlight=False)
    failed = [r for r in rows if "error" in r]
    results = out / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = build_report(e, rows)
    rep_path = out / "report.json"
    rep_path.write_text(json.dumps(report, indent=2) + "\n")
    files = [results, rep_path, *write_plots(report, out)]
    if failed:
        raise BmsError(
            f"{len(failed)} of {len(rows)} points could not be simulated (first: {failed[0]['point']}: "
            f"{failed[0]['error']}); the rows are in {results}"
        )
    return ExploreResult(report=report, files=files, wall_s=time.perf_counter() - t0)
