"""DIR/report.json: the campaign's aggregates, computed from the result rows only.

runs               total / ok / failed (with each failed run's error)
time_to_target_s   distribution (min, p05, median, p95, max, mean) over the runs that
                   reached the target, and how many did not
max_cell_v_true, max_core_temp_c_true
                   distribution of each run's worst true value, the limit(s), the worst
                   run and the smallest margin
fault_detection    per injected fault kind: injected / detected / late / missed /
                   undecided / not_observable, and latency (detected_s - onset_s)
                   min / median / max beside the configured trip time
violations         runs with a violation, per type, and each one's saved scenario
false_trips        runs without an injected fault that latched a fault, per fault name
execution          scheduler, workers, wall time, runs computed now and skipped as done,
                   runs per minute
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from bms.campaign.spec import Campaign
from bms.campaign.store import scenario_name
from bms.campaign.verdict import VIOLATION_KINDS


def stats(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "min": None, "p05": None, "median": None, "p95": None, "max": None, "mean": None}
    a = np.asarray(values, dtype=float)
    q = np.percentile(a, [5, 50, 95])
    return {
        "n": len(a),
        "min": float(a.min()),
        "p05": float(q[0]),
        "median": float(q[1]),
        "p95": float(q[2]),
        "max": float(a.max()),
        "mean": float(a.mean()),
    }


def _worst(rows: list[dict[str, Any]], key: str, limit_key: str, margin_key: str) -> dict[str, Any]:
    vals = [r[key] for r in rows]
    out: dict[str, Any] = dict(stats(vals))
    out["limits"] = sorted({r[limit_key] for r in rows})
    if rows:
        w = max(rows, key=lambda r: r[key])
        out["worst_run"] = w["index"]
        out["min_margin"] = min(r[margin_key] for r in rows)
        out["over_limit"] = sum(r[key] > r[limit_key] for r in rows)
    return out


def fault_detection(rows: list[dict[str, Any]]) -> dict[str, Any]:
    per: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        for f in r["faults_injected"]:
            per[f["kind"]].append(f)
    out = {}
    for kind in sorted(per):
        fs = per[kind]
        outcomes = Counter(f["outcome"] for f in fs)
        lat = [f["latency_s"] for f in fs if f["latency_s"] is not None]
        trips = sorted({f["trip_time_s"] for f in fs if f["trip_time_s"] is not None})
        s = stats(lat)
        out[kind] = {
            "injected": len(fs),
            **{k: outcomes.get(k, 0) for k in ("detected", "late", "missed", "undecided", "not_observable")},
            "latency_s": {"min": s["min"], "median": s["median"], "max": s["max"], "n": s["n"]},
            "trip_time_s": trips,
            "detected_as": sorted({f["detected_as"] for f in fs}),
        }
    return out


def build_report(c: Campaign, rows: dict[int, dict[str, Any]], execution: dict[str, Any]) -> dict[str, Any]:
    """Aggregates over the latest row of every run of the campaign (index < runs)."""
    all_rows = [rows[i] for i in sorted(rows) if i < c.runs]
    ok = [r for r in all_rows if r["status"] == "ok"]
    failed = [r for r in all_rows if r["status"] != "ok"]
    reached = [r["time_to_target_s"] for r in ok if r["time_to_target_s"] is not None]
    violating = [r for r in ok if r["violation"]]
    no_fault = [r for r in ok if not r["faults_injected"]]
    false_trips = [r for r in ok if r["false_trip"]]
    return {
        "campaign": {
            "name": c.name,
            "description": c.description,
            "source": c.source,
            "base": c.base_ref,
            "seed": c.seed,
            "runs": c.runs,
        },
        "execution": execution,
        "runs": {
            "total": c.runs,
            "on_disk": len(all_rows),
            "ok": len(ok),
            "failed": len(failed),
            "missing": c.runs - len(all_rows),
            "failed_runs": [{"index": r["index"], "error": r["error"]} for r in failed],
        },
        "time_to_target_s": {
            "reached": len(reached),
            "not_reached": len(ok) - len(reached),
            **stats(reached),
        },
        "max_cell_v_true": _worst(ok, "max_cell_v_true", "limit_cell_v", "margin_cell_v"),
        "max_core_temp_c_true": _worst(ok, "max_core_temp_c_true", "limit_core_temp_c", "margin_core_temp_c"),
        "fault_detection": fault_detection(ok),
        "violations": {
            "count": len(violating),
            "by_type": {k: sum(k in r["violations"] for r in ok) for k in VIOLATION_KINDS},
            "runs": [
                {
                    "index": r["index"],
                    "violations": r["violations"],
                    "scenario": f"violations/{scenario_name(r['index'])}",
                }
                for r in violating
            ],
        },
        "false_trips": {
            "count": len(false_trips),
            "runs_without_fault": len(no_fault),
            "by_fault": dict(Counter(n for r in false_trips for n in r["false_trip_faults"])),
            "runs": [{"index": r["index"], "faults": r["faults_latched"]} for r in false_trips],
        },
    }


def write_report(report: dict[str, Any], out: Path) -> Path:
    p = out / "report.json"
    tmp = out / ".report.json.tmp"
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(p)
    return p
