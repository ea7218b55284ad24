"""PNG of a replay: SoC, voltage, temperatures, current."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bms.replay import ReplayResult


def plot_replay(res: ReplayResult, path: str | Path, title: str = "") -> None:
    t_min = res.time_s / 60.0
    fig, ax = plt.subplots(4, 1, figsize=(11, 10), sharex=True)
    ax[0].plot(t_min, res.soc * 100, label="estimated (EKF)")
    if res.truth is not None:
        ax[0].plot(t_min, res.truth["soc_true"] * 100, "--", label="true")
    ax[0].set_ylabel("SoC [%]")
    ax[1].plot(t_min, res.voltage_v, lw=0.8, label="measured")
    ax[1].plot(t_min, res.voltage_pred_v, lw=0.8, label="model (a priori)")
    ax[1].set_ylabel("voltage [V]")
    ax[2].plot(t_min, res.surface_temp_c, lw=0.8, label="surface (measured)")
    ax[2].plot(t_min, res.core_temp_c, label="core (estimated)")
    if res.truth is not None:
        ax[2].plot(t_min, res.truth["core_temp_c_true"], "--", label="core (true)")
    ax[2].set_ylabel("temperature [°C]")
    ax[3].plot(t_min, res.current_a, lw=0.8)
    ax[3].set_ylabel("current [A] (>0 discharge)")
    ax[3].set_xlabel("time [min]")
    for a in ax[:3]:
        a.legend(loc="best", fontsize=8)
    for a in ax:
        a.grid(alpha=0.3)
    if res.metrics is not None:
        m = res.metrics
        title = (
            f"{title}  SoC RMSE {m['soc_rmse'] * 100:.2f} % (max {m['soc_max_abs'] * 100:.2f} %; "
            f"coulomb counting {m['soc_rmse_coulomb'] * 100:.2f} %)"
        )
        if "core_temp_rmse_c" in m:
            title += f", core T RMSE {m['core_temp_rmse_c']:.2f} K (max {m['core_temp_max_abs_c']:.2f} K)"
    fig.suptitle(title.strip(), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
