"""The property suite's throughput from the per-scenario lines harness.record wrote
(BMS_PROPS_STATS=DIR): scenarios checked, their simulated length, and the wall time.

    python -m tests.properties.throughput DIR STARTED   (STARTED: the run's start, epoch s)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def summarise(stats_dir: Path, wall_s: float) -> dict[str, float]:
    rows = [
        json.loads(line) for f in sorted(stats_dir.glob("*.jsonl")) for line in f.read_text().splitlines()
    ]
    if not rows:
        raise SystemExit(f"no scenario statistics in {stats_dir}")
    sim = [r["sim_s"] for r in rows]
    cells = [r["cells"] for r in rows]
    return {
        "scenarios": len(rows),
        "with_fault": sum(r["faults"] > 0 for r in rows),
        "sim_s_min": min(sim),
        "sim_s_total": sum(sim),
        "cells_mean": sum(cells) / len(cells),
        "cells_max": max(cells),
        "wall_s": wall_s,
        "scenario_cpu_s": sum(r["wall_s"] for r in rows),
        "scenarios_per_min": 60.0 * len(rows) / wall_s,
    }


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    s = summarise(Path(sys.argv[1]), time.time() - float(sys.argv[2]))
    print(
        f"{s['scenarios']} fast-charge scenarios checked ({s['with_fault']} with a fault; "
        f"{s['cells_mean']:.0f} series cells on average, up to {s['cells_max']}; each "
        f">= {s['sim_s_min']:.0f} simulated s, {s['sim_s_total'] / 3600:.1f} simulated h in all) "
        f"in {s['wall_s']:.0f} s wall ({s['scenarios_per_min']:.0f} scenarios/min; "
        f"{s['scenario_cpu_s']:.0f} s in the scenarios themselves)"
    )
    ok = s["scenarios"] >= 1000 and s["sim_s_min"] >= 300.0 and s["wall_s"] <= 300.0
    print("target (>= 1000 scenarios of >= 300 s in <= 300 s):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
