"""Stack pressure of a solid-state pack: the chemistry file's `[stack_pressure]` section (the
module fixture, how the cells' thickness and the temperature move its pressure, what the
pressure does to the Li | solid-electrolyte contact, and the pressure sensors), and the
relations the plant and the property checks share.

A solid-state cell needs its layers pressed together: the solid electrolyte does not flow
into the gaps a moving anode leaves, so contact (and with it the interface's resistance and
the current density lithium can be plated at without dendrites) depends on the stack
pressure the module's fixture applies (Doux et al., Adv. Energy Mater. 10 (2020) 1903253;
Kasemchainan et al., Nature Materials 18 (2019) 1105). One pressure sensor per module
(a load cell under the end plate) measures it; the firmware monitors it with tiered limits
(bms.protection: pressure_min_charge, pressure_min_discharge, pressure_max).

Modules are contiguous blocks of series elements: module k of a pack of n elements in m
modules holds elements [k * n // m, (k + 1) * n // m).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bms.errors import ConfigError
from bms.schema import section

# the firmware's capacity (native/include/bms/bms_config.h BMS_MAX_PRESSURE_SENSORS)
MAX_MODULES = 16
# Lithium metal plated per unit areal charge: 1 mAh/cm2 = 3.6 C/cm2 / 96485 C/mol x 6.94 g/mol
# / 0.534 g/cm3 = 4.85e-4 cm (the molar mass and density of Li, CRC Handbook): 4.85 um of Li per
# mAh/cm2, the thickness a Li-metal anode gains per unit of charge.
LI_UM_PER_MAH_CM2 = 3.6 / 96485.0 * 6.94 / 0.534 * 1e4


@dataclass(frozen=True)
class StackPressure:
    """What a module's fixture and its sensor do (units in the names)."""

    cells_per_module: int  # series elements under one fixture and one pressure sensor
    preload_mpa: float  # the fixture's pressure at SoC 0 and 25 C (set at assembly)
    swelling_um: float  # one element's thickness change from SoC 0 to 1 (the anode's volume)
    fixture_mpa_per_um: float  # pressure per um of one element's thickness change (stiffness)
    thermal_mpa_per_k: float  # reversible change per K from 25 C (cells and fixture expand)
    # Contact of the anode with the solid electrolyte: none at or below contact_zero_mpa, full
    # at or above contact_full_mpa, linear between. The true critical current density scales
    # with it; the interface resistance with its inverse (floored at contact_min).
    contact_zero_mpa: float
    contact_full_mpa: float
    contact_min: float  # the contact fraction never falls below this (resistance x 1/min)
    interface_r_frac: float  # the interface's share of the element's R0 at full contact
    # the sensor (a load cell on each module's end plate): white noise, code step, and the
    # worst gain/offset error within its specification
    sensor_sigma_mpa: float
    sensor_lsb_mpa: float
    sensor_error_mpa: float
    # pressure_loss: the fixture relaxes (a strap or bolt yields) to this pressure, with
    # this time constant
    loss_residual_mpa: float
    loss_tau_s: float

    def n_modules(self, n_series: int) -> int:
        return max(1, math.ceil(n_series / self.cells_per_module))

    def module_of(self, n_series: int) -> np.ndarray:
        """The module index of every series element."""
        m = self.n_modules(n_series)
        idx = np.arange(n_series)
        # element i is in module k when k * n // m <= i < (k + 1) * n // m
        return np.searchsorted([(k + 1) * n_series // m for k in range(m)], idx, side="right")

    def free_pressure_mpa(self, soc: np.ndarray, temp_c: np.ndarray) -> np.ndarray:
        """A healthy fixture's pressure at the modules' mean SoC and temperature."""
        return (
            self.preload_mpa
            + self.fixture_mpa_per_um * self.swelling_um * np.asarray(soc, dtype=float)
            + self.thermal_mpa_per_k * (np.asarray(temp_c, dtype=float) - 25.0)
        )

    def contact(self, p_mpa: np.ndarray | float) -> np.ndarray:
        """Fraction of full Li | electrolyte contact at a pressure (the true CCD's factor)."""
        span = self.contact_full_mpa - self.contact_zero_mpa
        return np.clip((np.asarray(p_mpa, dtype=float) - self.contact_zero_mpa) / span, 0.0, 1.0)

    def r0_factor(self, p_mpa: np.ndarray | float) -> np.ndarray:
        """The element's R0 against full contact: its interface share grows as 1/contact."""
        a = np.maximum(self.contact(p_mpa), self.contact_min)
        return 1.0 + self.interface_r_frac * (1.0 / a - 1.0)


def parse_stack_pressure(d: Any, where: str = "stack_pressure") -> StackPressure:
    sp = section(StackPressure, d, where, lo=0.0)
    rules = [
        (sp.cells_per_module >= 1, "cells_per_module must be >= 1"),
        (0.0 < sp.preload_mpa <= 50.0, "preload_mpa must be within (0, 50] MPa"),
        (
            sp.contact_zero_mpa < sp.contact_full_mpa,
            "contact_zero_mpa must be below contact_full_mpa",
        ),
        (0.0 < sp.contact_min <= 1.0, "contact_min must be within (0, 1]"),
        (sp.interface_r_frac <= 1.0, "interface_r_frac must be within [0, 1]"),
        (sp.sensor_lsb_mpa > 0.0, "sensor_lsb_mpa must be > 0"),
        (sp.loss_residual_mpa < sp.preload_mpa, "loss_residual_mpa must be below preload_mpa"),
        (sp.loss_tau_s > 0.0, "loss_tau_s must be > 0"),
    ]
    for ok, rule in rules:
        if not ok:
            raise ConfigError(f"'{where}': {rule}")
    return sp


def check_modules(sp: StackPressure, n_series: int, where: str) -> None:
    """A pack of n_series elements fits the firmware's pressure sensors."""
    m = sp.n_modules(n_series)
    if m > MAX_MODULES:
        raise ConfigError(
            f"'{where}': {n_series} series elements in modules of {sp.cells_per_module} need {m} "
            f"pressure sensors, the firmware takes at most {MAX_MODULES}"
        )
