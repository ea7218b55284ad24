"""The `bms fit` command: options checked, the fit run, its report printed, the cell written."""

from __future__ import annotations

import math
import time
from pathlib import Path

import click
from rich.console import Console

from bms.cells import save_cell
from bms.errors import ConfigError
from bms.fit.cell import DEFAULT_ACTIVATION_J_PER_MOL, MAX_RESIDUAL_MV, fit_cell
from bms.outputs import check_output_file, refuse_inputs


def fit_command(
    console: Console,
    logs: tuple[Path, ...],
    out: Path,
    name: str | None,
    activation_kj_per_mol: float | None,
    max_residual_mv: float | None,
    strict: bool,
) -> None:
    ea = DEFAULT_ACTIVATION_J_PER_MOL if activation_kj_per_mol is None else activation_kj_per_mol * 1e3
    bound = MAX_RESIDUAL_MV if max_residual_mv is None else max_residual_mv
    if not (math.isfinite(bound) and bound > 0):
        raise ConfigError(f"--max-residual-mv must be a positive number of mV, got {bound:g}")
    refuse_inputs([out], logs, "-o")
    check_output_file(out, "-o")
    t0 = time.perf_counter()
    rep = fit_cell(list(logs), name=name, activation_j_per_mol=ea, strict=strict, max_rms_mv=bound)
    for line in rep.lines:
        if not line.startswith("WARNING"):
            console.print(line, highlight=False)
    for w in rep.warnings:
        click.echo(f"warning: {w} (worst window: {rep.worst})", err=True)
    th = rep.cell.thermal
    console.print(
        f"thermal: Cc {th.c_core_j_per_k:.1f} J/K, Cs {th.c_surf_j_per_k:.1f} J/K, "
        f"Rcs {th.r_core_surf_k_per_w:.2f} K/W, Rsa {th.r_surf_amb_k_per_w:.2f} K/W",
        highlight=False,
    )
    console.print(
        f"fit voltage residual: [bold]{rep.rms_mv:.2f} mV rms[/] "
        f"(under load: {rep.rms_dynamic_mv:.2f} mV rms)",
        highlight=False,
    )
    save_cell(rep.cell, out, header=f"written by `bms fit {' '.join(str(p) for p in logs)}`")
    console.print(f"wrote {out} ({time.perf_counter() - t0:.1f} s)", highlight=False)
