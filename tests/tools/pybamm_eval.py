"""Fit and replay the PyBaMM evaluation sets (tests/data/pybamm-eval/README.md): the table the
README quotes. Usage: python -m tests.tools.pybamm_eval [--jobs N]

Every cell is fitted by `bms fit` from its own characterisation files; each validation run is
replayed from the voltage alone (the estimator is not told the start) and from the SoC the
firmware's non-volatile memory would hold (`--soc-stored`, the truth's first value)."""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

DATA = Path(__file__).parents[1] / "data"
EVAL = DATA / "pybamm-eval"
REF = DATA / "reference" / "chen2020-25c"
# (label, characterisation files, validation folders)
CASES: list[tuple[str, list[Path], list[str]]] = [
    (
        "LG M50T (Chen2020), fit 5/25/45 °C",
        [REF / "char-5c.csv.gz", REF / "char.csv.gz", REF / "char-45c.csv.gz"],
        ["chen2020-m10c-valid", "chen2020-0c-valid", "chen2020-5c-valid", "chen2020-45c-valid"],
    ),
    (
        "LG M50T (Chen2020), fit 25/45 °C only",
        [REF / "char.csv.gz", REF / "char-45c.csv.gz"],
        ["chen2020-0c-valid", "chen2020-5c-valid"],
    ),
    ("Kokam (Ecker2015), fit 10/25/40 °C", [], ["ecker2015-25c", "ecker2015-10c-valid"]),
    ("NMC532 (Mohtat2020), fit 5/25/45 °C", [], ["mohtat2020-25c", "mohtat2020-5c-valid"]),
    ("LCO (Ai2020), fit 5/25/45 °C", [], ["ai2020-25c", "ai2020-5c-valid"]),
    ("NCA (Kim2011), fit 5/25/45 °C", [], ["nca_kim2011-25c", "nca_kim2011-5c-valid"]),
    ("A123 LFP (Prada2013), fit 5/25/45 °C", [], ["prada2013-25c", "prada2013-5c-valid"]),
    ("A123 LFP with a 20 mV hysteresis gap, fit 25 °C", [], ["prada2013-hyst-25c"]),
]


def _chars(case: tuple[str, list[Path], list[str]]) -> list[Path]:
    _, chars, valids = case
    return chars or sorted((EVAL / valids[0]).glob("char*.csv.gz"))


def _run(case: tuple[str, list[Path], list[str]]) -> list[str]:
    from bms.fit import fit_cell
    from bms.logs import read_truth
    from bms.replay import replay

    label, _, valids = case
    cell = fit_cell(_chars(case)).cell
    rows = []
    for v in valids:
        d = EVAL / v
        ambient = next(x for x in v.split("-")[1:] if x.endswith("c"))
        r = replay(d / "valid.csv.gz", cell, d / "truth.csv.gz")
        start = float(read_truth(d / "truth.csv.gz")["soc_true"][0])
        ms = replay(d / "valid.csv.gz", cell, d / "truth.csv.gz", soc_stored=start).metrics
        m = r.metrics
        assert m is not None and ms is not None
        at = ambient.replace("m", "−").replace("c", " °C")
        rows.append(
            f"| {label} | {at} | {m['soc_rmse'] * 100:.2f} % "
            f"| {m['soc_max_abs'] * 100:.2f} % "
            f"| {ms['soc_rmse'] * 100:.2f} % ({ms['soc_max_abs'] * 100:.2f} %) "
            f"| {m['soc_rmse_coulomb'] * 100:.2f} % | {m['core_temp_rmse_c']:.2f} K |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args(argv)
    print(
        "| cell, characterisation | run at | SoC RMSE | SoC max | from the stored SoC: RMSE (max) "
        "| coulomb counting RMSE | core-T RMSE |"
    )
    print("|---|---|---|---|---|---|---|")
    with ProcessPoolExecutor(a.jobs) as ex:
        for rows in ex.map(_run, CASES):
            print("\n".join(rows), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
