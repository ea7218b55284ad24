"""The cell-voltage spread limit discounts a healthy SoC imbalance where the OCV is steep:
the allowance plaus.cell_dev_soc_spread * |dOCV/dSoC| at the pack's mean SoC, recomputed here
from the cell table with numpy."""

from __future__ import annotations

import numpy as np
import pytest

from bms.enums import FAULT_ID
from tests.rig import N_CELLS, Meas, Rig

BIT = 1 << FAULT_ID["cell_spread"]


def table_ocv(rig: Rig, soc: float, temp_c: float) -> float:
    cell = rig.cell
    per_t = [np.interp(soc, cell.soc, cell.ocv_v[j]) for j in range(len(cell.temp_c))]
    return float(np.interp(temp_c, cell.temp_c, per_t))


def allowance(rig: Rig, soc_mean: float, temp_c: float) -> float:
    lo, hi = max(soc_mean - 0.02, 0.0), min(soc_mean + 0.02, 1.0)
    slope = (table_ocv(rig, hi, temp_c) - table_ocv(rig, lo, temp_c)) / (hi - lo)
    return rig.chem.protection.plausibility.cell_dev_soc_spread * abs(slope)


def two_groups(rig: Rig, lo_v: float, hi_v: float) -> Meas:
    m = rig.nominal()
    m.cell_v = np.where(np.arange(N_CELLS) % 2 == 0, hi_v, lo_v)
    m.cell_v = m.cell_v + 1e-4 * ((rig.k + np.arange(N_CELLS)) % 5)  # ADC dither: readings stay live
    return m


def groups_for(rig: Rig, soc: float, spread_v: float) -> tuple[float, float]:
    """Half the cells at SoC soc + d, half at soc - d (mean SoC soc), d such that their OCVs
    are spread_v apart (bisection on the table)."""
    lo, hi = 0.0, min(soc, 1.0 - soc)
    for _ in range(60):
        d = 0.5 * (lo + hi)
        if table_ocv(rig, soc + d, 25.0) - table_ocv(rig, soc - d, 25.0) < spread_v:
            lo = d
        else:
            hi = d
    return table_ocv(rig, soc - lo, 25.0), table_ocv(rig, soc + lo, 25.0)


def run_spread(spread_v: float, soc: float, steps: int) -> int:
    rig = Rig()
    lo_v, hi_v = groups_for(rig, soc, spread_v)
    assert hi_v - lo_v == pytest.approx(spread_v, abs=1e-6)
    out = None
    for _ in range(steps):
        out = rig.step(two_groups(rig, lo_v, hi_v))
    return int(out.faults)


@pytest.mark.parametrize("soc", [0.05, 0.08])
def test_a_healthy_imbalance_on_the_steep_part_does_not_trip(soc):
    rig = Rig()
    trip = rig.chem.protection.limits["cell_v_spread"].trip
    steps = 3 * trip.debounce_ms // 100
    allow = allowance(rig, soc, 25.0)
    assert allow > 0.15  # the steep bottom of the NMC curve: the discount matters here
    below = allow + trip.threshold - 0.06
    faults = run_spread(below, soc, steps)
    assert not faults & BIT, f"spread {below:.3f} V tripped at allowance {allow:.3f} V"
    assert below > trip.threshold  # the old rule (raw spread vs threshold) would have tripped


def test_a_spread_beyond_the_allowance_trips():
    rig = Rig()
    trip = rig.chem.protection.limits["cell_v_spread"].trip
    steps = 3 * trip.debounce_ms // 100
    above = allowance(rig, 0.05, 25.0) + trip.threshold + 0.06
    faults = run_spread(above, 0.05, steps)
    assert faults & BIT


def test_at_mid_soc_the_allowance_is_small():
    # the flat middle of the curve: the spread limit stays near its threshold
    rig = Rig()
    assert allowance(rig, 0.5, 25.0) < 0.06
    trip = rig.chem.protection.limits["cell_v_spread"].trip
    faults = run_spread(trip.threshold + 0.07, 0.5, 3 * trip.debounce_ms // 100)
    assert faults & BIT
