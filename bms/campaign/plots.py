"""The campaign's PNGs (matplotlib, Agg), from the result rows:

time_to_target.png       histogram of the time to the target SoC (runs that reached it)
worst_case.png           each run's highest true cell voltage and core temperature, with
                         the abs-max limits
detection_latency.png    per injected fault kind: latency min / median / max beside the
                         configured trip time (only when the campaign injects faults)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bms.campaign.report import fault_detection


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(rows: list[dict[str, Any]], out: Path, title: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r["status"] == "ok"]
    paths = []

    fig, ax = plt.subplots(figsize=(7, 4))
    ttt = [r["time_to_target_s"] / 60 for r in ok if r["time_to_target_s"] is not None]
    if ttt:
        ax.hist(ttt, bins=min(40, max(5, len(ttt) // 4)), color="tab:blue", alpha=0.8)
    ax.set_xlabel("time to target SoC (min)")
    ax.set_ylabel("runs")
    ax.set_title(f"{title}: {len(ttt)} of {len(ok)} runs reached the target")
    paths.append(_save(fig, out / "time_to_target.png"))

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, lim, label, color in (
        (axes[0], "max_cell_v_true", "limit_cell_v", "highest true cell voltage (V)", "tab:purple"),
        (
            axes[1],
            "max_core_temp_c_true",
            "limit_core_temp_c",
            "highest true core temperature (°C)",
            "tab:red",
        ),
    ):
        vals = [r[key] for r in ok]
        if vals:
            ax.hist(vals, bins=min(40, max(5, len(vals) // 4)), color=color, alpha=0.8)
        for v in sorted({r[lim] for r in ok}):
            ax.axvline(v, color="k", ls="--", lw=1.2)
            ax.annotate(
                f"abs max {v:g}", (v, 0.95), xycoords=("data", "axes fraction"), ha="right", fontsize=8
            )
        over = sum(r[key] > r[lim] for r in ok)
        ax.set_xlabel(label)
        ax.set_ylabel("runs")
        ax.set_title(f"{over} of {len(ok)} runs over the limit", fontsize=10)
    fig.suptitle(f"{title}: worst case per run")
    paths.append(_save(fig, out / "worst_case.png"))

    det = fault_detection(ok)
    if det:
        kinds = list(det)
        fig, ax = plt.subplots(figsize=(8, 0.5 * len(kinds) + 1.8))
        for y, k in enumerate(kinds):
            d = det[k]
            lat = d["latency_s"]
            if lat["n"]:
                ax.plot([lat["min"], lat["max"]], [y, y], color="tab:blue", lw=2)
                ax.plot([lat["median"]], [y], "o", color="tab:blue")
            for t in d["trip_time_s"]:
                ax.plot([t], [y], "|", color="k", ms=14, mew=2)
            note = ", ".join(f"{d[o]} {o}" for o in ("late", "missed", "undecided") if d[o])
            ax.annotate(
                f"{d['detected'] + d['late']}/{d['injected']} detected" + (f" ({note})" if note else ""),
                (1.01, y),
                xycoords=("axes fraction", "data"),
                fontsize=8,
                va="center",
            )
        ax.set_yticks(range(len(kinds)), kinds)
        ax.set_xlabel("detection latency after onset (s): min - median - max; | = configured trip time")
        ax.set_title(f"{title}: fault detection")
        paths.append(_save(fig, out / "detection_latency.png"))
    return paths
