"""Outputs of a simulation: log.csv, summary.json, plot.png and (optionally) an MDF4 file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bms.enums import CONTACTOR_STATES, FAULT_NAMES, LIMITING_NAMES
from bms.errors import BmsError
from bms.sim.loop import SimResult
from bms.sim.runlog import LOG_FIELDS
from bms.sim.scenario import scenario_to_toml

FMT = {
    "charge_complete": "%d",
    "time_s": "%.1f",
    "faults": "%d",
    "warnings": "%d",
    "ccl_limit": "%d",
    "contactor_state": "%d",
    "heater_on": "%d",
    "cooling_on": "%d",
}


def write_csv(res: SimResult, path: Path) -> None:
    """Every firmware step. Integer codes are followed by their names."""
    log = res.log
    n = len(log["time_s"])
    cols = [*list(LOG_FIELDS), "limiting_factor", "contactor", "fault_names"]
    with path.open("w") as fh:
        fh.write(",".join(cols) + "\n")
        for k in range(n):
            vals = []
            for name in LOG_FIELDS:
                fmt = FMT.get(name, "%.5g")
                vals.append(fmt % log[name][k])
            mask = int(log["faults"][k])
            names = "|".join(FAULT_NAMES[i] for i in range(len(FAULT_NAMES)) if mask >> i & 1)
            vals += [
                LIMITING_NAMES[int(log["ccl_limit"][k])],
                CONTACTOR_STATES[int(log["contactor_state"][k])],
                names,
            ]
            fh.write(",".join(vals) + "\n")


def write_summary(res: SimResult, path: Path) -> None:
    path.write_text(json.dumps(res.summary.to_dict(), indent=2) + "\n")


def write_mdf(res: SimResult, path: Path) -> None:
    """MDF4 (ASAM MDF 4.x) for automotive tools; needs asammdf (pip install '.[mdf]')."""
    try:
        from asammdf import MDF, Signal
    except ImportError:
        raise BmsError(
            "--format mdf needs asammdf: pip install 'bms-bench[mdf]' (or pip install asammdf)"
        ) from None
    t = res.log["time_s"]
    units = {"time_s": "s", "current_a": "A", "ccl_a": "A", "dcl_a": "A", "coolant_c": "degC"}
    sigs = []
    for name in LOG_FIELDS[1:]:
        unit = units.get(name, "V" if "_v_" in name else ("degC" if name.endswith("_c") else ""))
        sigs.append(
            Signal(samples=np.asarray(res.log[name], dtype=np.float64), timestamps=t, name=name, unit=unit)
        )
    mdf = MDF(version="4.10")
    mdf.append(sigs, comment=f"bms simulate {res.scenario.name}")
    mdf.save(path, overwrite=True)


def plot(res: SimResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    log = res.log
    t = log["time_s"] / 60.0
    s = res.summary
    fig, ax = plt.subplots(4, 1, figsize=(11, 11), sharex=True)
    ax[0].fill_between(
        t, log["soc_true_min"] * 100, log["soc_true_max"] * 100, alpha=0.3, label="true (min..max)"
    )
    ax[0].plot(t, log["soc_true_mean"] * 100, label="true mean")
    ax[0].plot(t, log["soc_est_pack"] * 100, "--", label="estimated (pack)")
    ax[0].axhline(res.scenario.soc_target * 100, color="grey", lw=0.8, ls=":")
    ax[0].set_ylabel("SoC [%]")
    ax[1].fill_between(
        t, log["cell_v_true_min"], log["cell_v_true_max"], alpha=0.4, label="true cell voltage band"
    )
    ax[1].axhline(s.charge_limit_v, color="orange", lw=0.8, ls="--", label="charge limit")
    ax[1].axhline(s.abs_max_cell_v, color="red", lw=0.8, ls="--", label="absolute max")
    ax[1].set_ylabel("cell voltage [V]")
    ax[2].plot(t, log["core_temp_true_max_c"], label="core max (true)")
    ax[2].plot(t, log["core_temp_est_max_c"], "--", label="core max (estimated)")
    ax[2].plot(t, log["surface_temp_true_max_c"], label="surface max (true)")
    ax[2].plot(t, log["coolant_c"], label="coolant")
    ax[2].set_ylabel("temperature [°C]")
    ax[3].plot(t, -log["current_a"], label="charge current")
    ax[3].plot(t, log["ccl_a"], "--", label="CCL")
    ax[3].set_ylabel("current [A]")
    ax[3].set_xlabel("time [min]")
    for f in res.faults:
        for a in ax:
            if f["injected_s"] is not None:
                a.axvline(float(f["injected_s"]) / 60, color="purple", lw=0.8, ls=":")
            if f["detected_s"] is not None:
                a.axvline(float(f["detected_s"]) / 60, color="red", lw=0.8)
        ax[3].annotate(
            str(f["name"]),
            (float(f["detected_s"] or f["injected_s"]) / 60, ax[3].get_ylim()[1] * 0.9),
            color="red",
            fontsize=8,
            rotation=90,
            va="top",
        )
    for a in ax:
        a.legend(loc="best", fontsize=8)
        a.grid(alpha=0.3)
    ttt = s.time_to_target_s
    title = (
        f"{res.scenario.name}: {s.pack} {s.chemistry}  "
        f"time to {res.scenario.soc_target:.0%}: {'not reached' if ttt is None else f'{ttt / 60:.1f} min'}"
    )
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_all(res: SimResult, out_dir: Path, fmt: str = "csv") -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "log.csv", out_dir / "summary.json", out_dir / "plot.png", out_dir / "scenario.toml"]
    write_csv(res, paths[0])
    write_summary(res, paths[1])
    plot(res, paths[2])
    paths[3].write_text(scenario_to_toml(res.scenario))
    if fmt == "mdf":
        p = out_dir / "log.mf4"
        write_mdf(res, p)
        paths.append(p)
    return paths
