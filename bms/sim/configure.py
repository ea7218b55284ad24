"""The firmware's configuration for a scenario: the series element it models (the
chemistry's cell x P with the pack's cooling paths) and what it is handed as 'ambient'."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bms._native import ffi
from bms.balancing import fill_balancing
from bms.cells import CellModel, Hysteresis, ThermalParams
from bms.chemistry import Chemistry
from bms.firmware import PackLayout, fill_config, fill_nvm
from bms.firmware_config import fill_nvm_health
from bms.sim.scenario import Scenario


def firmware_cell(chem: Chemistry, scn: Scenario) -> CellModel:
    """The series element as the firmware is configured: the chemistry's cell model x P,
    with the thermal model's surface-to-ambient path replaced by the pack's paths to the
    cold plate and to the enclosure air (the firmware's ambient input is their
    conductance-weighted temperature, see effective_ambient)."""
    el = chem.cell.scaled(scn.parallel)
    g = sum(ambient_conductances(chem, scn))
    el.thermal = ThermalParams(
        c_core_j_per_k=el.thermal.c_core_j_per_k,
        c_surf_j_per_k=el.thermal.c_surf_j_per_k,
        r_core_surf_k_per_w=el.thermal.r_core_surf_k_per_w,
        r_surf_amb_k_per_w=1.0 / g,
    )
    if scn.spread.hyst_told:  # the firmware is told the hysteresis the spread adds
        hy = el.hysteresis
        el.hysteresis = Hysteresis(
            hy.m_v + scn.spread.hyst_m_v,
            hy.m0_v + scn.spread.hyst_m0_v,
            hy.gamma if hy.present else scn.spread.hyst_gamma,
        )
    if not scn.soh:  # the firmware holds the model's capacity and resistance (soh.h)
        el.estimator = replace(el.estimator, soh_init_sigma=0.0)
    else:
        el.estimator = replace(
            el.estimator, soh_init_sigma=scn.soh_prior_sigma, soh_r_init_sigma=scn.soh_r_prior_sigma
        )
    return el


def ambient_conductances(chem: Chemistry, scn: Scenario) -> tuple[float, float]:
    """Per element: surface to coolant (nominal flow), surface to enclosure air (W/K)."""
    p = float(scn.parallel)
    return (
        p * scn.cooling.cell_to_coolant_w_per_k,
        scn.cooling.enclosure_share * p / chem.cell.thermal.r_surf_amb_k_per_w,
    )


def effective_ambient(coolant_c: float, air_c: float, g: tuple[float, float]) -> float:
    """What the pack controller hands the firmware as 'ambient': the coolant and the pack's
    air temperature sensors weighted by the pack design's conductances."""
    return (g[0] * coolant_c + g[1] * air_c) / (g[0] + g[1])


def firmware_config(
    chem: Chemistry,
    scn: Scenario,
    soc_stored: np.ndarray | None = None,
    health_stored: tuple[np.ndarray, np.ndarray] | None = None,
) -> bytes:
    """The firmware's configuration for a scenario; soc_stored: the per-cell SoC its
    non-volatile memory hands back at power-up (None: a first power-up, nothing stored);
    health_stored: the per-cell capacity and resistance scales it kept (None: nothing)."""
    cfg = ffi.new("bms_config_t *")
    layout = PackLayout(
        n_cells=scn.series,
        temp_sensor_cells=scn.sensed,
        current_range_a=scn.pack.current_range_a,
        hw_charge_max_a=scn.pack.hw_charge_max_a,
        hw_discharge_max_a=scn.pack.hw_discharge_max_a,
        n_pressure_sensors=chem.stack_pressure.n_modules(scn.series) if chem.stack_pressure else 0,
    )
    el = firmware_cell(chem, scn)
    fill_config(cfg, el, layout, chem.protection)
    fill_balancing(cfg, scn.balancing, el.capacity_ah, chem.protection.plausibility.current_offset_max_a)
    # the charge target the vehicle asks for (the driver's setting), with the chemistry's
    # resume band below it
    ch = chem.protection.charge
    cfg.charge.charge_target_soc = scn.soc_target
    cfg.charge.charge_resume_soc = scn.soc_target - (ch.target_soc - ch.resume_soc)
    if soc_stored is not None:
        fill_nvm(cfg, soc_stored, scn.nvm_soc_sigma)
    if health_stored is not None and scn.soh:
        fill_nvm_health(cfg, health_stored[0], health_stored[1], scn.nvm_soh_sigma)
    return bytes(ffi.buffer(cfg))
