"""Pack thermal network: per series element a core and a surface node (the cell's
two-node model, aggregated over its parallel cells), conduction between neighbouring
surfaces, each surface to a lumped coolant loop (cold plate) and to the enclosure air;
the coolant loop has a chiller (power-limited) and a heater.

Linear in the temperatures, so it is discretised exactly (matrix exponential of the
augmented system, cached per step length and coolant flow) with the heats, the ambient
and the coolant heater/chiller power held over each step.

The elements are identical and their surfaces form a chain, so the network decouples in
the chain's cosine modes (DCT-II): a 2x2 system (core, surface) per mode, and the uniform
mode with the coolant. Larger packs step in those modes (ModalStep): the same exact
discretisation, to rounding, without the dense (2n+1) x (3n+3) matrices a step would
otherwise stream through the cache (1.8 MB at 192 elements).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.fft import dct

from bms.cells import CellModel
from bms.plant.pack import Spread


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


# from this many elements on a step goes through the modes (below: the dense matrices are
# small, and the fewer array operations of a dense step win)
MODAL_MIN_ELEMENTS = 24


class ModalStep:
    """One step of the network in the cosine modes of the surface chain, from its continuous
    matrices a (2n+1 square: n cores, n surfaces, the coolant) and b (inputs: n core heats,
    ambient, coolant power). Where every element has the same parameters, the chain's
    surface block is diagonal in the orthonormal DCT-II basis D, so diag(D, D, 1) turns the
    network into a 2x2 system (core, surface) per mode k >= 1 and a 3x3 system of the
    uniform mode k = 0 with the coolant (which sees the surfaces' sum, sqrt(n) times mode
    0); each is discretised exactly (augmented matrix exponential, inputs held over the
    step). `build` checks that structure and returns None where a and b do not have it."""

    def __init__(self, w: np.ndarray) -> None:
        # (3, 6, n): per mode, [core, surface, coolant] after the step from [core, surface,
        # heat, coolant, ambient, coolant power] (the last three rows: mode 0 only)
        self.w = w
        self.n = n = w.shape[2]
        self._x = np.zeros((6, n))
        # D (to the modes: x @ D') and D' (back: y @ D), n x n: 0.3 MB at 192 elements. A
        # product of 2-3 rows with it is one single-threaded GEMM for OpenBLAS (a product
        # of one row, GEMV, it would run on several threads: in a loaded process that costs
        # far more than it saves), and quicker than a fast cosine transform at these sizes.
        self.d = _modes(np.eye(n), axis=0)
        self.d_t = np.ascontiguousarray(self.d.T)

    @staticmethod
    def build(a: np.ndarray, b: np.ndarray, dt_s: float) -> ModalStep | None:
        n = b.shape[1] - 2
        c, s, k = slice(0, n), slice(n, 2 * n), 2 * n
        tol = 1e-12 * max(np.abs(a).max(), np.abs(b).max())
        # the same for every element: core-core, core-surface, surface-core, heat-to-core
        # (diagonal blocks), surface-coolant, coolant-surface, ambient-to-surface
        uniform = [_scalar_diag(a[c, c], tol), _scalar_diag(a[c, s], tol), _scalar_diag(a[s, c], tol)]
        uniform += [
            _scalar_diag(b[c, :n], tol),
            _scalar(a[s, k], tol),
            _scalar(a[k, s], tol),
            _scalar(b[s, n], tol),
        ]
        zero = [a[c, k], a[k, c], b[s, :n], b[k, :n], b[c, n:], b[s, n + 1]]
        if any(u is None for u in uniform) or max(np.abs(z).max(initial=0.0) for z in zero) > tol:
            return None
        acc, acs, asc, bc, ask, aks, bsa = (float(u) for u in uniform)  # type: ignore[arg-type]
        ass = _modes(_modes(a[s, s], axis=0), axis=1)  # D a_ss D': the surface chain, diagonal
        if np.abs(ass - np.diag(np.diag(ass))).max() > tol:
            return None
        # modes k >= 1: 2 states, 1 input (the mode's heat), augmented 3x3 each
        aug = np.zeros((n - 1, 3, 3))
        aug[:, 0, 0], aug[:, 0, 1], aug[:, 0, 2] = acc, acs, bc
        aug[:, 1, 0], aug[:, 1, 1] = asc, np.diag(ass)[1:]
        w = np.zeros((3, 6, n))
        if n > 1:
            w[:2, :3, 1:] = _expm_stack(aug * dt_s)[:, :2, :].transpose(1, 2, 0)
        # the uniform mode with the coolant: 3 states, 3 inputs (heat, ambient, power)
        rn = np.sqrt(n)
        aug0 = np.zeros((6, 6))
        aug0[:3, :3] = [[acc, acs, 0.0], [asc, ass[0, 0], rn * ask], [0.0, rn * aks, a[k, k]]]
        aug0[:3, 3:] = [[bc, 0.0, 0.0], [0.0, rn * bsa, 0.0], [0.0, b[k, n], b[k, n + 1]]]
        # rows: core_0, surface_0, coolant; columns: those and heat_0, ambient, power
        e0 = _expm_stack(aug0[None] * dt_s)[0, :3]
        w[:, [0, 1, 3, 2, 4, 5], 0] = e0  # into the order of the step's rows
        return ModalStep(w)

    def __call__(self, t: np.ndarray, heat_w: np.ndarray, ambient_c: float, power_w: float) -> np.ndarray:
        """The temperatures after the step (a new array) from t before it."""
        n, x = self.n, self._x
        x[:2] = t[: 2 * n].reshape(2, n)
        x[2] = heat_w
        x[:3] = x[:3] @ self.d_t  # cores, surfaces and heats in modes
        x[3, 0], x[4, 0], x[5, 0] = t[2 * n], ambient_c, power_w
        new = (self.w * x).sum(axis=1)  # (3, n): every mode's own small system
        out = np.empty(2 * n + 1)
        np.matmul(new[:2], self.d, out=out[: 2 * n].reshape(2, n))
        out[2 * n] = new[2, 0]
        return out


def _expm_stack(m: np.ndarray) -> np.ndarray:
    """The exponential of each matrix of a stack (k, d, d) of small ones: a degree-18 Taylor
    polynomial after scaling to norm <= 1/4 (remainder < 1e-28), then squaring back; exact
    to rounding like scipy's expm, but in plain numpy loops. scipy's expm goes through
    LAPACK per matrix, which OpenBLAS runs on its thread pool: in a loaded process waking
    that pool costs milliseconds per call, seconds for the modes of a large pack."""
    norm = float(np.abs(m).sum(axis=-1).max(initial=0.0))
    squarings = max(0, math.ceil(math.log2(norm / 0.25))) if norm > 0.0 else 0
    x = m / 2.0**squarings
    out = term = np.broadcast_to(np.eye(m.shape[-1]), m.shape)
    for j in range(1, 19):
        term = np.einsum("kij,kjl->kil", term, x) / j  # einsum: no BLAS either
        out = out + term
    for _ in range(squarings):
        out = np.einsum("kij,kjl->kil", out, out)
    return out


def _modes(x: np.ndarray, axis: int) -> np.ndarray:
    """D x along an axis (orthonormal DCT-II) by fast cosine transform (no BLAS)."""
    return dct(x, type=2, norm="ortho", axis=axis)


def _scalar(v: np.ndarray, tol: float) -> float | None:
    """The common value of all entries (None if they differ by more than tol)."""
    return float(v[0]) if np.abs(v - v[0]).max() <= tol else None


def _scalar_diag(m: np.ndarray, tol: float) -> float | None:
    """x where m = x I (None otherwise)."""
    x = _scalar(np.diag(m), tol)
    return x if x is not None and np.abs(m - x * np.eye(len(m))).max() <= tol else None


class ThermalNetwork:
    def __init__(
        self,
        cell: CellModel,
        n_series: int,
        n_parallel: int,
        spec: CoolingSpec,
        ambient_c: float,
        start_c: float,
        spread: Spread | None = None,
    ) -> None:
        """spread: its thermal scale factors make the plant's network differ from the cell's
        model (None: it is the model)."""
        th = cell.thermal
        p = float(n_parallel)
        sp = spread or Spread()
        self.n = n_series
        self.spec = spec
        self.cc = th.c_core_j_per_k * p * sp.c_core_scale
        self.cs = th.c_surf_j_per_k * p * sp.c_surf_scale
        self.g_cs = p / (th.r_core_surf_k_per_w * sp.r_core_surf_scale)
        # the surface's paths to its surroundings (enclosure air and cold plate) scale together
        self.g_amb = spec.enclosure_share * p / (th.r_surf_amb_k_per_w * sp.r_surf_amb_scale)
        self.g_cool_nom = spec.cell_to_coolant_w_per_k * p / sp.r_surf_amb_scale
        self.g_nb = spec.neighbour_w_per_k * p
        n = n_series
        # a parked pack has soaked: its coolant starts at the cells' temperature (the
        # chiller set point inlet_c only matters once the chiller runs)
        self.t = np.concatenate([np.full(2 * n, start_c), [start_c]])
        self.ambient_c = ambient_c
        self.flow_lpm = spec.flow_lpm
        self._cache: dict[tuple[float, float], tuple[np.ndarray, np.ndarray]] = {}
        self._modal: dict[tuple[float, float], ModalStep | None] = {}
        # the step function of the last step and what it was for: a step with the same
        # length and coolant flow reuses it without recomputing the cache key
        self._last: tuple[float, float, Callable[[np.ndarray], np.ndarray]] | None = None
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
            e = _expm_stack(aug[None] * dt_s)[0]  # exact for inputs held over the step
            self._cache[key] = (e[:m, :m].copy(), e[:m, m:].copy())
        return self._cache[key]

    def modal(self, dt_s: float) -> ModalStep | None:
        """The step in modes (None: the network does not decouple), cached as discrete()."""
        key = (round(dt_s, 9), round(self.flow_factor(), 9))
        if key not in self._modal:
            self._modal[key] = ModalStep.build(*self.matrices(), dt_s)
        return self._modal[key]

    def step(self, dt_s: float, heat_w: np.ndarray, coolant_power_w: float) -> None:
        last = self._last
        if last is None or last[0] != dt_s or last[1] != self.flow_lpm:
            last = self._last = (dt_s, self.flow_lpm, self._step_function(dt_s))
        u = self._u
        u[: self.n] = heat_w
        u[self.n] = self.ambient_c
        u[self.n + 1] = coolant_power_w
        self.t = last[2](u)

    def _step_function(self, dt_s: float) -> Callable[[np.ndarray], np.ndarray]:
        """u (heats, ambient, coolant power) -> the temperatures after a step from self.t."""
        modal = self.modal(dt_s) if self.n >= MODAL_MIN_ELEMENTS else None
        if modal is not None:
            n = self.n
            return lambda u: modal(self.t, u[:n], u[n], u[n + 1])
        ad, bd = self.discrete(dt_s)
        return lambda u: ad @ self.t + bd @ u

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
