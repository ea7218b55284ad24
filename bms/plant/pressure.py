"""The stack pressure of a solid-state pack's modules (the chemistry's [stack_pressure],
bms.stack_pressure): each module's fixture presses its block of series elements; the anode's
volume (the mean SoC of the module's elements) and the temperature (the mean of their core and
surface nodes) move the pressure, and a pressure_loss fault lets the fixture yield. What the
pressure does in the plant: every element's R0 times StackPressure.r0_factor of its module's
pressure (the interface share grows as the contact shrinks).

A fixture that yields (a strap or bolt; fault pressure_loss) relaxes, at the SoC and
temperature it yields at, exponentially (loss_tau_s) to loss_residual_mpa, the pressure the
chemistry file names ("the fixture relaxes to this pressure"). It is modelled as a loss L
subtracted from the healthy fixture's pressure, L relaxing towards the free pressure at the
injection less the residual: the swelling and thermal terms then act on what is left, and the
pressure never falls below 0 (a slack fixture presses nothing).
"""

from __future__ import annotations

import math

import numpy as np

from bms.stack_pressure import StackPressure


class StackPressurePlant:
    """The true pressure of every module (MPa), advanced once per loop step."""

    def __init__(
        self, sp: StackPressure, n_series: int, soc: np.ndarray, core_c: np.ndarray, surf_c: np.ndarray
    ) -> None:
        self.sp = sp
        self.n_modules = m = sp.n_modules(n_series)
        self.module = sp.module_of(n_series)  # the module of every element
        # modules are contiguous blocks: their first elements, for np.add.reduceat
        self._starts = np.flatnonzero(np.diff(self.module, prepend=-1))
        self._counts = np.diff(np.append(self._starts, n_series)).astype(float)
        self.loss = np.zeros(m)  # MPa taken off the healthy fixture's pressure (pressure_loss)
        self.loss_target = np.zeros(m)  # ... and what it relaxes towards
        self.yielding = np.zeros(m, dtype=bool)  # modules with a pressure_loss injected
        self._relax: tuple[float, float] = (math.nan, 0.0)  # (dt, 1 - exp(-dt / tau)) of the last step
        self.free = np.zeros(m)
        self.p = np.zeros(m)
        self._update(soc, core_c, surf_c)

    def module_means(self, x: np.ndarray) -> np.ndarray:
        """The mean of a per-element quantity over each module."""
        return np.add.reduceat(np.asarray(x, dtype=float), self._starts) / self._counts

    def _update(self, soc: np.ndarray, core_c: np.ndarray, surf_c: np.ndarray) -> None:
        t = self.module_means(0.5 * (np.asarray(core_c) + np.asarray(surf_c)))
        self.free = self.sp.free_pressure_mpa(self.module_means(soc), t)
        self.p = np.maximum(self.free - self.loss, 0.0)

    def step(self, dt_s: float, soc: np.ndarray, core_c: np.ndarray, surf_c: np.ndarray) -> np.ndarray:
        """The pressures at the end of a step of dt_s, from the elements' true SoC and their
        core and surface temperatures then. A yielding fixture's loss relaxes exactly (the
        exponential over dt with its target held)."""
        if self.yielding.any():
            if self._relax[0] != dt_s:
                self._relax = (dt_s, -math.expm1(-dt_s / self.sp.loss_tau_s))
            self.loss = self.loss + (self.loss_target - self.loss) * self._relax[1]
        self._update(soc, core_c, surf_c)
        return self.p

    def lose(self, module: int) -> None:
        """pressure_loss on a module: its fixture yields from now on, towards the residual
        pressure at its present state (a second injection only ever loses more)."""
        target = float(self.free[module]) - self.sp.loss_residual_mpa
        self.loss_target[module] = max(float(self.loss_target[module]), target, 0.0)
        self.yielding[module] = True

    @property
    def contact(self) -> np.ndarray:
        """Each module's fraction of full Li | electrolyte contact (the true CCD's factor)."""
        return self.sp.contact(self.p)

    def r0_factors(self) -> np.ndarray:
        """Each element's R0 multiplier at its module's present pressure."""
        return self.sp.r0_factor(self.p)[self.module]
