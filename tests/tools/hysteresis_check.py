"""Hysteresis figures for the README (issue 13, part 3): `bms fit` on a synthetic cell with a
known hysteresis (the independent ODE simulator, tests/synthetic.py), and the SoC filter told
the hysteresis against one that is not, on a drive of that cell.

    python -m tests.tools.hysteresis_check
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from tests.synthetic import simulate
from tests.unit.test_fit_hysteresis import HYST, _fit
from tests.unit.test_hysteresis import _drive, _soc_rmse


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        rep = _fit(Path(d), HYST)
    hy = rep.cell.hysteresis
    row = int(np.argmin(np.abs(rep.cell.temp_c - 25.0)))
    print(
        f"fit of a cell with m {HYST.hyst_m * 1e3:.1f} mV, m0 {HYST.hyst_m0 * 1e3:.1f} mV, gamma "
        f"{HYST.hyst_gamma:g}: m {hy.m_v[row] * 1e3:.1f} mV, m0 {hy.m0_v[row] * 1e3:.1f} mV, gamma "
        f"{hy.gamma:.3g}; residual {rep.rms_mv:.2f} mV rms"
    )
    with tempfile.TemporaryDirectory() as d:
        rep0 = _fit(Path(d), replace(HYST, hyst_m=0.0, hyst_m0=0.0))
    print(
        "fit of the same cell without hysteresis: "
        + next(x for x in rep0.lines if x.startswith("hysteresis"))
    )
    truth = replace(HYST, hyst_m=0.025, hyst_m0=0.005, h0=-1.0)
    tr = simulate(truth, _drive(truth.capacity_ah, 90, seed=11), soc0=0.55)
    told = _soc_rmse(truth, truth.cell_model(), tr)
    blind = _soc_rmse(truth, replace(truth, hyst_m=0.0, hyst_m0=0.0).cell_model(), tr)
    print(
        f"90 min drive, m {truth.hyst_m * 1e3:.0f} + m0 {truth.hyst_m0 * 1e3:.0f} mV: SoC RMSE after 10 min "
        f"{told * 100:.2f} % told the hysteresis, {blind * 100:.2f} % not told"
    )


if __name__ == "__main__":
    main()
