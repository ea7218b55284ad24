"""Electrical pack plant: N series elements, each a parallel group of P cells lumped into
one equivalent circuit with aggregate parameters (capacity x P, resistances / P,
capacitances x P: identical cells in parallel share current equally in this model).

True parameters differ from the chemistry's nominal ones by a seeded manufacturing spread
and optional ageing. Exact zero-order-hold discretisation of the RC branches for any step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bms.cells import CellModel
from bms.plant.tables import TableSet

KELVIN = 273.15


@dataclass
class Spread:
    """1-sigma cell-to-cell variation (fractions) and ageing. Defaults: capacity 0.5 %,
    resistance 2 %, initial SoC 0.5 % (fresh automotive cells; Rumpf et al., J. Energy
    Storage 14 (2017) 224: capacity sigma/mean ~0.4 %, resistance ~1-2 %; Baumann et al., J.
    Energy Storage 18 (2018) 295)."""

    capacity: float = 0.005
    resistance: float = 0.02
    soc: float = 0.005
    capacity_fade: float = 0.0  # ageing: fraction of capacity lost (all elements)
    resistance_growth: float = 0.0  # ageing: fractional resistance increase


class PackPlant:
    def __init__(
        self,
        cell: CellModel,
        n_series: int,
        n_parallel: int,
        soc0: float,
        spread: Spread,
        rng: np.random.Generator,
    ) -> None:
        self.element = cell.scaled(n_parallel)
        self.n = n_series
        self.tables = TableSet(self.element)
        self.coulombic_eff = self.element.coulombic_eff
        self.cap_ah = (
            self.element.capacity_ah
            * (1 - spread.capacity_fade)
            * (1 + spread.capacity * rng.standard_normal(n_series))
        )
        self.r_scale = (1 + spread.resistance_growth) * (
            1 + spread.resistance * rng.standard_normal(n_series)
        )
        self.soc = np.clip(soc0 + spread.soc * rng.standard_normal(n_series), 0.0, 1.0)
        self.v1 = np.zeros(n_series)
        self.v2 = np.zeros(n_series)
        self.short_ohm = np.full(n_series, np.inf)  # internal short across an element
        self.v_term = np.zeros(n_series)
        self.i_elem = np.zeros(n_series)
        self._params: np.ndarray | None = None
        self.has_entropy = bool(np.any(self.tables.docv_dt != 0.0))
        self.v_term = self.terminal(0.0, np.full(n_series, 25.0))

    def params(self, temp_c: np.ndarray) -> np.ndarray:
        """Table values at the present SoC. The end-of-step lookup of the last step is reused
        (its temperatures are a step old: a 0.1 s lag on the resistances' temperature)."""
        if self._params is not None:
            return self._params
        p = self.tables.lookup(self.soc, temp_c)
        p[1:3] *= self.r_scale  # r0, r1
        p[4] *= self.r_scale  # r2
        p[3] /= self.r_scale  # keep the time constants: C = tau / R
        p[5] /= self.r_scale
        return p

    def terminal(self, current_a: float, temp_c: np.ndarray) -> np.ndarray:
        """Terminal voltages at the present state for a pack current (no state change)."""
        ocv, r0 = self.params(temp_c)[0:2]
        return self._terminal(ocv, r0, current_a)

    def _terminal(self, ocv: np.ndarray, r0: np.ndarray, current_a: float) -> np.ndarray:
        # an internal short R_s across the element draws V/R_s inside it:
        # V = ocv - v1 - v2 - r0 (I + V / R_s)  ->  V = (ocv - v1 - v2 - r0 I) / (1 + r0 / R_s)
        return (ocv - self.v1 - self.v2 - r0 * current_a) / (1.0 + r0 / self.short_ohm)

    def step(self, dt_s: float, current_a: float, temp_core_c: np.ndarray) -> np.ndarray:
        """Advance by dt with a constant pack current (> 0 discharge). Returns the heat (W,
        mean over the step) generated in each element: Bernardi's I (OCV - V) integrated
        exactly over the step (the overpotential of every branch, as in lumped thermal
        models of the DFN), the entropic term and an internal short's dissipation.

        Not the resistors' v^2/R: with SoC-dependent R and C the ECM's capacitor energy
        1/2 C v^2 changes when the tables do, which is no physical energy; I (OCV - V) is
        the energy the terminals lose against the open-circuit voltage, so electric energy
        = chemical energy + heat holds exactly."""
        ocv, r0, r1, c1, r2, c2 = self.params(temp_core_c)
        shorted = self.any_short
        v_start = self._terminal(ocv, r0, current_a) if shorted else self.v_term
        i_e = current_a + v_start / self.short_ohm if shorted else np.full(self.n, current_a)
        tau1, tau2 = r1 * c1, r2 * c2
        g1 = -np.expm1(-dt_s / tau1)  # 1 - a, accurate for dt << tau
        g2 = -np.expm1(-dt_s / tau2)
        v1_new = self.v1 + g1 * (r1 * i_e - self.v1)
        v2_new = self.v2 + g2 * (r2 * i_e - self.v2)
        # integral of v over the step for v' = (R i - v) / tau:  v0 tau g + R i (dt - tau g)
        int_v = (
            self.v1 * tau1 * g1
            + r1 * i_e * (dt_s - tau1 * g1)
            + self.v2 * tau2 * g2
            + r2 * i_e * (dt_s - tau2 * g2)
        )
        heat = r0 * i_e**2 + i_e * int_v / dt_s
        if self.has_entropy:
            heat -= i_e * (temp_core_c + KELVIN) * self.tables.entropic(self.soc)
        if shorted:
            heat += np.where(np.isfinite(self.short_ohm), v_start**2 / self.short_ohm, 0.0)
        eff = self.coulombic_eff if current_a < 0.0 else 1.0
        self.soc = np.clip(self.soc - eff * i_e * (dt_s / 3600.0) / self.cap_ah, 0.0, 1.0)
        self.v1, self.v2 = v1_new, v2_new
        self.i_elem = i_e
        self._params = None
        self._params = self.params(temp_core_c)
        self.v_term = self._terminal(self._params[0], self._params[1], current_a)
        return heat

    @property
    def any_short(self) -> bool:
        return bool(np.isfinite(self.short_ohm).any())

    @property
    def capacity_total_ah(self) -> float:
        return float(np.min(self.cap_ah))
