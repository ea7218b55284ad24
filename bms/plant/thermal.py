"""Pack thermal network: per series element a core and a surface node (the cell's
two-node model, aggregated over its parallel cells), conduction between neighbouring
surfaces, each surface to a lumped coolant loop (cold plate) and to the enclosure air;
the coolant loop has a chiller (power-limited) and a heater.

Linear in the temperatures, so it is discretised exactly (matrix exponential of the
augmented system, cached per step length and coolant flow) with the heats, the ambient
and the coolant heater/chiller power held over each step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm

from bms.cells import CellModel


@dataclass
class CoolingSpec:
    """Pack cooling design. Defaults for a liquid-cooled pack of cylindrical cells:
    cell-to-coolant resistance ~3 K/W per cell through the cold plate and thermal
    interface (Worwood et al., J. Power Sources 346 (2017) 151 report a few K/W for
    surface/tab cooling of 18650/21700 cells); a 5 l glycol-water loop (3.6 kJ/(kg K));
    an EV chiller of ~6 kW and a coolant PTC heater of ~7 kW."""

    inlet_c: float = 25.0  # chiller set point (the coolant starts at the pack's temperature)
    flow_lpm: float = 10.0
    nominal_flow_lpm: float = 10.0
    cell_to_coolant_w_per_k: float = 0.33  # per cell
    neighbour_w_per_k: float = 0.1  # per cell, surface to the next element's surface
    enclosure_share: float = 0.2  # share of the bare cell's convection left inside the pack
    coolant_heat_capacity_j_per_k: float = 18_000.0
    coolant_to_ambient_w_per_k: float = 5.0
    chiller_max_w: float = 6000.0
    chiller_w_per_k: float = 2000.0  # removal per K above the set point, up to the maximum
    heater_w: float = 7000.0


class ThermalNetwork:
    def __init__(
        self,
        cell: CellModel,
        n_series: int,
        n_parallel: int,
        spec: CoolingSpec,
        ambient_c: float,
        start_c: float,
    ) -> None:
        th = cell.thermal
        p = float(n_parallel)
        self.n = n_series
        self.spec = spec
        self.cc = th.c_core_j_per_k * p
        self.cs = th.c_surf_j_per_k * p
        self.g_cs = p / th.r_core_surf_k_per_w
        self.g_amb = spec.enclosure_share * p / th.r_surf_amb_k_per_w
        self.g_cool_nom = spec.cell_to_coolant_w_per_k * p
        self.g_nb = spec.neighbour_w_per_k * p
        n = n_series
        # a parked pack has soaked: its coolant starts at the cells' temperature (the
        # chiller set point inlet_c only matters once the chiller runs)
        self.t = np.concatenate([np.full(2 * n, start_c), [start_c]])
        self.ambient_c = ambient_c
        self.flow_lpm = spec.flow_lpm
        self._cache: dict[tuple[float, float], tuple[np.ndarray, np.ndarray]] = {}
        self._u = np.zeros(n + 2)

    @property
    def core_c(self) -> np.ndarray:
        return self.t[: self.n]

    @property
    def surf_c(self) -> np.ndarray:
        return self.t[self.n : 2 * self.n]

    @property
    def coolant_c(self) -> float:
        return float(self.t[-1])

    def flow_factor(self) -> float:
        # forced-convection coefficient ~ Re^0.8 (Dittus-Boelter); no flow: 5 % natural convection
        f = max(self.flow_lpm, 0.0) / self.spec.nominal_flow_lpm
        return max(min(f, 1.0) ** 0.8, 0.05)

    def matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """Continuous A (2n+1 square) and B (inputs: n core heats, ambient, coolant power)."""
        n = self.n
        g_cool = self.g_cool_nom * self.flow_factor()
        a = np.zeros((2 * n + 1, 2 * n + 1))
        b = np.zeros((2 * n + 1, n + 2))
        idx = np.arange(n)
        c, s, k = idx, n + idx, 2 * n
        a[c, c] = -self.g_cs / self.cc
        a[c, s] = self.g_cs / self.cc
        b[c, idx] = 1.0 / self.cc
        a[s, c] = self.g_cs / self.cs
        a[s, s] = -(self.g_cs + self.g_amb + g_cool) / self.cs
        a[s, k] = g_cool / self.cs
        b[s, n] = self.g_amb / self.cs
        for i in range(n - 1):  # neighbouring surfaces
            a[n + i, n + i] -= self.g_nb / self.cs
            a[n + i, n + i + 1] += self.g_nb / self.cs
            a[n + i + 1, n + i + 1] -= self.g_nb / self.cs
            a[n + i + 1, n + i] += self.g_nb / self.cs
        cc = self.spec.coolant_heat_capacity_j_per_k
        a[k, s] = g_cool / cc
        a[k, k] = -(n * g_cool + self.spec.coolant_to_ambient_w_per_k) / cc
        b[k, n] = self.spec.coolant_to_ambient_w_per_k / cc
        b[k, n + 1] = 1.0 / cc
        return a, b

    def discrete(self, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
        key = (round(dt_s, 9), round(self.flow_factor(), 9))
        if key not in self._cache:
            a, b = self.matrices()
            m = a.shape[0]
            aug = np.zeros((m + b.shape[1], m + b.shape[1]))
            aug[:m, :m] = a
            aug[:m, m:] = b
            e = expm(aug * dt_s)  # exact for inputs held over the step
            self._cache[key] = (e[:m, :m].copy(), e[:m, m:].copy())
        return self._cache[key]

    def step(self, dt_s: float, heat_w: np.ndarray, coolant_power_w: float) -> None:
        ad, bd = self.discrete(dt_s)
        u = self._u
        u[: self.n] = heat_w
        u[self.n] = self.ambient_c
        u[self.n + 1] = coolant_power_w
        self.t = ad @ self.t + bd @ u

    def coolant_power(self, cooling_on: bool, heating_on: bool) -> float:
        """Net power into the coolant from the chiller (cooling, limited) and the heater."""
        p = 0.0
        if cooling_on:
            p -= min(
                self.spec.chiller_max_w,
                self.spec.chiller_w_per_k * max(self.coolant_c - self.spec.inlet_c, 0.0),
            )
        if heating_on:
            p += self.spec.heater_w
        return p

    def steady_state(self, heat_w: np.ndarray, coolant_power_w: float) -> np.ndarray:
        """Temperatures for constant inputs (A x + B u = 0)."""
        a, b = self.matrices()
        u = np.concatenate([heat_w, [self.ambient_c, coolant_power_w]])
        return np.linalg.solve(a, -b @ u)
