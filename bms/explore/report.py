"""The explorer's report: every point's time to the target with its safety margins and what
bound the charge, the answer to the claim (which points reach it with every property held,
or plainly none, and the fastest safe point), and one map per held temperature."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bms.explore.spec import Exploration

# what the explorer does not sweep yet, said in every report
NOT_SWEPT = {
    "stack_pressure": "held at sulfide-assb's fixture ([stack_pressure]: 2 MPa preload, above the 1.5 MPa "
    "of full contact, so the pressure never scales the CCD cap here; the axis stack_preload_mpa sweeps "
    "it, bms/data/explore/assb-pressure.toml); the CCD axis stands for what an interlayer would have "
    "to deliver",
    "anode": "only the Li-metal (Ag-C) anode of sulfide-assb, whose limit the CCD axis moves: the "
    "silicon-anode cell (sulfide-assb-si, limited by the anode potential instead) joins with the axis "
    'anode = ["li-metal", "si"] (as shipped: its areal capacity and maps are not derived per point)',
}


def _safe(r: dict[str, Any]) -> bool:
    return "error" not in r and not r["violations"] and not r["faults"]


def _binds(r: dict[str, Any]) -> str:
    b = r.get("ccl_binding") or {}
    return ", ".join(f"{k} {100 * v:.0f} %" for k, v in b.items()) or "-"


def _fixture(r: dict[str, Any]) -> str:
    p = r.get("stack_preload_mpa")
    return "" if p is None else f", fixtures at {p:g} MPa"


def _design(r: dict[str, Any]) -> str:
    """A point's cell in words: the Li-metal design (areal capacity, CCD multiple) or the Si cell."""
    if r.get("anode") == "si":
        return "micro-Si anode"
    return f"{r['areal_capacity_mah_cm2']:g} mAh/cm2, CCD x{r['ccd_scale']:g}"


def build_report(e: Exploration, rows: list[dict[str, Any]]) -> dict[str, Any]:
    target = e.target_min
    reached = [r for r in rows if _safe(r) and r["time_to_target_min"] is not None]
    meets = [r for r in reached if r["time_to_target_min"] <= target]
    unsafe = [r["point"] for r in rows if "error" not in r and not _safe(r)]
    # the least demanding design that meets it: the smallest CCD multiple, then the thickest
    # electrodes (energy density), then the coolest pack, then the loosest fixture
    meets.sort(
        key=lambda r: (
            r["ccd_scale"],
            -r["areal_capacity_mah_cm2"],
            r["pack_temp_c"],
            r.get("stack_preload_mpa") or 0.0,
        )
    )
    fastest = min(reached, key=lambda r: r["time_to_target_min"], default=None)
    soc = f"{100 * e.base.soc_start:.0f} -> {100 * e.base.soc_target:.0f} %"
    if meets:
        m = meets[0]
        statement = (
            f"{soc} in <= {target:g} min with every safety property held at {len(meets)} of {len(rows)} "
            f"points; the least demanding: {m['point']} ({_design(m)}, "
            f"held at {m['pack_temp_c']:g} C{_fixture(m)}): "
            f"{m['time_to_target_min']:.1f} min, bound by {_binds(m)}"
        )
    elif fastest is not None:
        f = fastest
        statement = (
            f"NO point charges {soc} in <= {target:g} min with every safety property held. The fastest "
            f"safe point: {f['point']} ({_design(f)}, "
            f"held at {f['pack_temp_c']:g} C{_fixture(f)}): {f['time_to_target_min']:.1f} min, "
            f"bound by {_binds(f)}"
        )
    else:
        statement = f"NO point reaches {soc} with every safety property held"
    return {
        "exploration": {
            "name": e.name,
            "description": e.description,
            "file": e.source,
            "sha256": e.sha256,
            "seed": e.seed,
            "scenario": e.scenario_ref,
            "pack": f"{e.base.series}s{e.base.parallel}p",
            "charger_current_max_a_base": e.base.charger.current_max_a,
            "target_min": target,
        },
        "axes": {
            "areal_capacity_mah_cm2": list(e.areal_capacity_mah_cm2),
            "ccd_scale": list(e.ccd_scale),
            "pack_temp_c": list(e.pack_temp_c),
            "charger_current_max_a": None
            if e.charger_current_max_a is None
            else list(e.charger_current_max_a),
            "stack_preload_mpa": None if e.stack_preload_mpa is None else list(e.stack_preload_mpa),
            "anode": list(e.anode or ("li-metal",)),
        },
        "not_swept": {
            k: v
            for k, v in NOT_SWEPT.items()
            if not (k == "stack_pressure" and e.stack_preload_mpa)
            and not (k == "anode" and "si" in (e.anode or ()))
        },
        "answer": {
            "statement": statement,
            "meets_target": [r["point"] for r in meets],
            "fastest_safe": None if fastest is None else fastest["point"],
            "unsafe_points": unsafe,
        },
        "points": rows,
    }


def write_plots(report: dict[str, Any], out: Path) -> list[Path]:
    """explore.png: per held temperature, time to the target over areal capacity x CCD, each
    cell annotated with the binding limit; a point with a violated property or a fault is
    crossed, one that meets the target framed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    ax_ = report["axes"]
    qs, ks, ts = ax_["areal_capacity_mah_cm2"], ax_["ccd_scale"], ax_["pack_temp_c"]
    # one row of panels per charger and preload
    rows_ = [
        (c, p)
        for p in (ax_.get("stack_preload_mpa") or [None])
        for c in (ax_["charger_current_max_a"] or [None])
    ]
    target = report["exploration"]["target_min"]
    by = {
        (
            r["areal_capacity_mah_cm2"],
            r["ccd_scale"],
            r["pack_temp_c"],
            r["charger_current_max_a"],
            r.get("stack_preload_mpa"),
            r.get("anode", "li-metal"),
        ): r
        for r in report["points"]
    }
    times = [r.get("time_to_target_min") for r in report["points"]]
    vmax = max([t for t in times if t is not None] or [target * 2])
    fig, axes = plt.subplots(
        len(rows_), len(ts), figsize=(4.2 * len(ts), 3.6 * len(rows_)), squeeze=False, sharey=True
    )
    im = None
    base_a = report["exploration"]["charger_current_max_a_base"]
    for i, (chg, pre) in enumerate(rows_):
        for j, t in enumerate(ts):
            ax = axes[i][j]
            grid = np.full((len(qs), len(ks)), np.nan)
            for a, q in enumerate(qs):
                for b, k in enumerate(ks):
                    r = by.get((q, k, t, chg, pre, "li-metal"))
                    if r is None:  # the Si cell alone: no Li-metal designs
                        continue
                    tt = r.get("time_to_target_min")
                    grid[a, b] = np.nan if tt is None else tt
                    top = next(iter(r.get("ccl_binding") or {}), "")
                    label = "not\nreached" if tt is None else f"{tt:.1f}"
                    dark = tt is not None and tt > 0.55 * vmax
                    ax.text(
                        b, a, f"{label}\n{top}", ha="center", va="center", fontsize=7,
                        color="white" if dark else "black",
                    )  # fmt: skip
                    if "error" in r or r["violations"] or r["faults"]:
                        ax.plot([b - 0.45, b + 0.45], [a - 0.45, a + 0.45], color="red", lw=1.5)
                        ax.plot([b - 0.45, b + 0.45], [a + 0.45, a - 0.45], color="red", lw=1.5)
                    elif tt is not None and tt <= target:
                        ax.add_patch(plt.Rectangle((b - 0.5, a - 0.5), 1, 1, fill=False, ec="black", lw=2.5))
            im = ax.imshow(grid, origin="lower", cmap="viridis_r", vmin=0.0, vmax=vmax, aspect="auto")
            ax.set_xticks(range(len(ks)), [f"x{k:g}" for k in ks])
            ax.set_yticks(range(len(qs)), [f"{q:g}" for q in qs])
            ax.set_xlabel("CCD (x literature)")
            fixture = "" if pre is None else f", preload {pre:g} MPa"
            si = next(
                (r for key, r in by.items() if key[2:] == (t, chg, pre, "si")),
                None,
            )
            si_line = ""
            if si is not None:
                st = si.get("time_to_target_min")
                si_line = "\nmicro-Si anode: " + ("not reached" if st is None else f"{st:.1f} min")
                si_line += "" if _safe(si) else " (a property violated or a fault)"
            ax.set_title(
                f"held at {t:g} C, charger {chg if chg is not None else base_a:g} A{fixture}{si_line}",
                fontsize=9,
            )
        axes[i][0].set_ylabel("areal capacity (mAh/cm2)")
    if any(k[5] == "si" for k in by):
        fig.subplots_adjust(hspace=0.55)  # two-line titles: the Si cell's time under each panel's
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), label="time 10 -> 80 % (min)")
    fig.suptitle(
        f"{report['exploration']['name']}: framed <= {target:g} min with every property held; crossed: a "
        "property violated or a fault",
        fontsize=9,
    )
    p = out / "explore.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return [p]
