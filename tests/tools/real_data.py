"""Fit a cell from real lab files and replay every drive cycle beside it: the table the README
quotes. Usage: python -m tests.tools.real_data DIR [--fit NAME ...]

DIR holds `<name>.csv.gz` logs and `<name>.truth.csv.gz` truths (time_s,soc), e.g. the
Panasonic NCR18650PF subset (P. Kollmeyer, Panasonic 18650PF Li-ion Battery Data, Mendeley
Data V1, 2018, doi:10.17632/wykht8y7tg.1, CC BY 4.0). Files whose name starts with `char` are
characterisation; the rest are replayed with the fitted cell."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bms._native import lib
from bms.errors import BmsError
from bms.fit import fit_cell
from bms.logs import read_truth
from bms.replay import replay, with_current_sigma

MODEL_MISMATCH = lib.BMS_ST_MODEL_MISMATCH


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--fit", nargs="*", default=None, help="characterisation files (default: char*)")
    ap.add_argument(
        "--current-sigma-a",
        type=float,
        default=None,
        help="the current sensor's 1-sigma error (A) the firmware is told (default: the fit's)",
    )
    a = ap.parse_args(argv)
    if not a.dir.is_dir():
        print(f"error: {a.dir}: no such folder", file=sys.stderr)
        return 2
    logs = sorted(p for p in a.dir.glob("*.csv.gz") if not p.name.endswith(".truth.csv.gz"))
    char = [a.dir / f for f in a.fit] if a.fit else [p for p in logs if p.name.startswith("char")]
    try:
        t0 = time.perf_counter()
        rep = fit_cell(char)
        print(f"fit from {', '.join(p.name for p in char)} in {time.perf_counter() - t0:.1f} s:")
        for line in rep.lines:
            print(f"  {line}")
        print()
        cell = rep.cell if a.current_sigma_a is None else with_current_sigma(rep.cell, a.current_sigma_a)
        print(f"current sensor told to the firmware: {cell.estimator.current_noise_a:g} A (1-sigma)")
        print()
        print(
            "| drive cycle | SoC RMSE | max | from the stored SoC: RMSE | max "
            "| coulomb counting from the true start: RMSE | max | model mismatch flagged |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for p in logs:
            if p in char:
                continue
            truth = p.with_name(p.name.replace(".csv.gz", ".truth.csv.gz"))
            r = replay(p, cell, truth)
            m = r.metrics
            start = float(read_truth(truth)["soc_true"][0])
            ms = replay(p, cell, truth, soc_stored=start).metrics
            assert m is not None and ms is not None
            cells = [m["soc_rmse"], m["soc_max_abs"], ms["soc_rmse"], ms["soc_max_abs"]]
            cells += [m["soc_rmse_coulomb"], m["soc_max_abs_coulomb"]]
            row = " | ".join(f"{x * 100:.2f} %" for x in cells)
            flagged = float(((r.status & MODEL_MISMATCH) != 0).mean())
            print(f"| {p.name.removesuffix('.csv.gz')} | {row} | {flagged:.0%} of rows |")
    except BmsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
