"""One result row per run: what was drawn, what the simulator measured, the verdict, and
where and how fast it ran. Rows are plain JSON-able dicts (results.jsonl)."""

from __future__ import annotations

from typing import Any

from bms.campaign.sampling import SampledRun
from bms.campaign.store import scenario_name
from bms.campaign.verdict import Limits, judge
from bms.sim.summary import RunSummary

# copied from the simulator's summary
SUMMARY_KEYS = (
    "time_to_target_s",
    "soc_true_at_target",
    "soc_true_end",
    "soc_est_end",
    "max_cell_v_true",
    "max_core_temp_c_true",
    "soc_rmse",
    "core_temp_rmse_c",
    "contactor_open_s",
    "steps",
    "sim_s",
)
# where and how fast: differ between otherwise identical runs
TIMING_KEYS = ("worker", "wall_s", "cpu_s", "realtime_factor")


def ok_row(sampled: SampledRun, result: dict[str, Any], limits: Limits) -> dict[str, Any]:
    s: RunSummary = result["summary"]  # bms.campaign.worker
    scn = sampled.scenario
    row: dict[str, Any] = {
        "index": sampled.index,
        "status": "ok",
        "error": None,
        "scenario_file": f"scenarios/{scenario_name(sampled.index)}",
        "chemistry": scn.chemistry,
        "params": sampled.params,
    }
    row.update({k: getattr(s, k) for k in SUMMARY_KEYS})
    row["faults_latched"] = [f"{f.name}@{f.detected_s:g}" for f in s.faults if f.detected_s is not None]
    row.update(judge(s, limits, scn.dt_ms / 1000.0))
    row.update(
        worker=result.get("worker"),
        wall_s=result.get("wall_s"),
        cpu_s=result.get("cpu_s"),
        realtime_factor=s.realtime_factor,
    )
    return row


def failed_row(
    index: int, error: str, sampled: SampledRun | None = None, result: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "index": index,
        "status": "failed",
        "error": error,
        "scenario_file": None if sampled is None else f"scenarios/{scenario_name(index)}",
        "chemistry": None if sampled is None else sampled.scenario.chemistry,
        "params": {} if sampled is None else sampled.params,
        "worker": None if result is None else result.get("worker"),
        "wall_s": None if result is None else result.get("wall_s"),
    }


def deterministic(row: dict[str, Any]) -> dict[str, Any]:
    """The row without where/how fast it ran: equal for equal (campaign, index)."""
    return {k: v for k, v in row.items() if k not in TIMING_KEYS}


def violation_text(row: dict[str, Any]) -> str:
    """One line per violation of a row, with the numbers."""
    out = []
    for v in row.get("violations", []):
        if v == "overvoltage":
            out.append(
                f"overvoltage: max true cell voltage {row['max_cell_v_true']:.4f} V > "
                f"abs max {row['limit_cell_v']:g} V"
            )
        elif v == "overtemperature":
            out.append(
                f"overtemperature: max true core temperature {row['max_core_temp_c_true']:.2f} C > abs max "
                f"{row['limit_core_temp_c']:g} C"
            )
        else:
            for f in row["faults_injected"]:
                if (v, f["outcome"]) == ("unobservable", "not_observable"):
                    out.append(
                        f"unobservable: {f['kind']} injected at {f['injected_s']:g} s never became "
                        "observable to the firmware in the run: its detection is untested"
                    )
                elif (v, f["outcome"]) in (("missed_detection", "missed"), ("late_detection", "late")):
                    when = "never" if f["detected_s"] is None else f"at {f['detected_s']:g} s"
                    out.append(
                        f"{v}: {f['kind']} injected at {f['injected_s']:g} s, onset {f['onset_s']:g} s, "
                        f"detected {when} (trip time {f['trip_time_s']:g} s)"
                    )
    return "\n".join(out)
