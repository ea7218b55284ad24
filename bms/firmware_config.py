"""The firmware's configuration (bms_config_t) from the cell, pack and protection models:
the pack layout, the generic protection of a bare cell file, the fill of the struct (cell
tables, thermal and estimator parameters, protection, the NvM block) and the firmware's own
check of it as one line a user can act on (bms.firmware.Firmware loads what this builds)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from bms._native import ffi, lib
from bms.cells import CellModel
from bms.config_bounds import CONFIG_BOUNDS
from bms.errors import ConfigError
from bms.protection import (
    PRESSURE_QUANTITIES,
    QUANTITIES,
    ChargeMaps,
    ChargeParams,
    Limit,
    Protection,
    Tier,
    _unmonitored,
    fill_protection,
)

MAX_CELLS = int(lib.BMS_MAX_CELLS)
MAX_TEMP_SENSORS = int(lib.BMS_MAX_TEMP_SENSORS)

# bms_cfg_err_t -> the rule as a user would read it
CFG_ERRORS = {
    lib.BMS_CFG_E_N_CELLS: f"pack.n_cells must be in [1, {MAX_CELLS}]",
    lib.BMS_CFG_E_N_SENSORS: f"pack.n_temp_sensors must be <= {MAX_TEMP_SENSORS}",
    lib.BMS_CFG_E_SENSOR_CELL: "pack.temp_sensor_cell entries must be distinct cells in range",
    lib.BMS_CFG_E_TABLE_SHAPE: "cell table shape out of range",
    lib.BMS_CFG_E_SOC_BP: "cell.soc_bp must be strictly increasing within [0, 1]",
    lib.BMS_CFG_E_TEMP_BP: "cell.temp_bp_degc must be strictly increasing",
    lib.BMS_CFG_E_OCV: "cell.ocv_v must be finite and strictly increasing in soc",
    lib.BMS_CFG_E_RESISTANCE: "cell.r0_ohm must be >= 0 and r1_ohm, r2_ohm > 0",
    lib.BMS_CFG_E_CAPACITANCE: "cell.c1_f, c2_f must be > 0",
    lib.BMS_CFG_E_CAPACITY: "cell.capacity_ah must be > 0",
    lib.BMS_CFG_E_COULOMBIC: "cell.coulombic_eff must be in (0, 1]",
    lib.BMS_CFG_E_THERMAL: "thermal parameters must be > 0",
    lib.BMS_CFG_E_ESTIMATOR: "estimator sigmas must be finite and >= 0 (noise floors > 0)",
    lib.BMS_CFG_E_ENTROPIC: "cell.docv_dt_v_per_k must be finite",
    lib.BMS_CFG_E_HYSTERESIS: "cell.hyst_m_v, hyst_m0_v must be in 0..0.5 V and hyst_gamma in 0..1e4",
    lib.BMS_CFG_E_CURRENT_RANGE: "pack.current_range_a must be > 0",
    lib.BMS_CFG_E_LIMIT_ORDER: "limit tiers misordered (maxima: warning < derate < trip; minima reversed)",
    lib.BMS_CFG_E_LIMIT_VALUE: "limit thresholds must be finite and hysteresis >= 0",
    lib.BMS_CFG_E_PLAUS: "plausibility parameters inconsistent",
    lib.BMS_CFG_E_CONTACTOR: "contactor parameters out of range",
    lib.BMS_CFG_E_MAP_SHAPE: "current-limit map breakpoints or size out of range",
    lib.BMS_CFG_E_MAP_VALUE: "current-limit map values must be finite and >= 0",
    lib.BMS_CFG_E_CHARGE: "charge parameters inconsistent",
    lib.BMS_CFG_E_NVM: "nvm: valid must be 0 or 1 and the stored SoC's sigma > 0",
}

_BOUND_BY_FIELD = {b.field: b for b in CONFIG_BOUNDS.values()}
_TIERS = ("warning", "derate", "trip")


def config_problem(cfg: object) -> str | None:
    """None if the firmware accepts the bms_config_t, else one line naming the field (and
    table index), its value and the rule: what bms_config_check_detail() found."""
    where = ffi.new("bms_cfg_detail_t *")
    err = int(lib.bms_config_check_detail(cfg, where))
    if err == lib.BMS_CFG_OK:
        return None
    b = _BOUND_BY_FIELD.get(int(where.field))
    if b is None:
        return f"config: {CFG_ERRORS.get(err, err)}"
    shape = int(lib.bms_config_field_info(b.field).shape)
    row, col = int(where.row), int(where.col)
    if shape == lib.BMS_CFG_SHAPE_TIERS:
        at = f"[{_TIERS[row]}]" if row < len(_TIERS) else f"[{row}]"
    elif shape in (lib.BMS_CFG_SHAPE_CELL_TABLE, lib.BMS_CFG_SHAPE_MAP_TABLE):
        at = f"[{row}][{col}]"
    elif shape in (lib.BMS_CFG_SHAPE_SCALAR, lib.BMS_CFG_SHAPE_INTEGER) and b.name != "pack.temp_sensor_cell":
        at = ""
    else:
        at = f"[{col}]"
    rule = ffi.string(where.rule).decode() if where.rule != ffi.NULL else ""
    value = float(where.value)
    if where.out_of_range:
        return f"config: {b.name}{at} = {value:g} outside {b.interval()} (rule: {rule})"
    return f"config: {b.name}{at} = {value:g}: {rule}"


@dataclass
class PackLayout:
    """Series elements, where the surface thermistors sit, the current sensor's range,
    the pack hardware's current ratings."""

    n_cells: int
    temp_sensor_cells: tuple[int, ...]
    # full scale of the pack current sensor (automotive shunt/Hall sensors: +-1000..2500 A,
    # e.g. Isabellenhuette IVT-S +-2500 A); readings beyond it are not used
    current_range_a: float = 2500.0
    # contactor / fuse / busbar ratings; None: 10C of the series element (above any map)
    hw_charge_max_a: float | None = None
    hw_discharge_max_a: float | None = None
    # one stack-pressure sensor per module (bms.stack_pressure; module k of m holds elements
    # [k * n // m, (k + 1) * n // m)); 0: the pack is not pressed (Li-ion cells)
    n_pressure_sensors: int = 0


def generic_protection(cell: CellModel) -> Protection:
    """Protection for a bare cell file (replay, tests): limits around the cell's voltage
    window and the temperature windows of a typical Li-ion datasheet (LG INR21700-M50:
    charge 0..45 C, discharge -20..60 C). Chemistry profiles replace it."""
    vmin, vmax = cell.v_min, cell.v_max

    def lim(w: float, d: float, t: float, h: float, deb: int = 1000) -> Limit:
        return Limit(Tier(w, h, deb), Tier(d, h, deb), Tier(t, h, deb))

    limits = {
        "cell_v_max": lim(vmax + 0.01, vmax + 0.03, vmax + 0.06, 0.01),
        "cell_v_min": lim(vmin + 0.10, vmin + 0.05, vmin - 0.05, 0.02),
        "core_temp_max_charge": lim(45.0, 50.0, 60.0, 2.0),
        "core_temp_max_discharge": lim(55.0, 60.0, 70.0, 2.0),
        "surface_temp_max_charge": lim(45.0, 50.0, 58.0, 2.0),
        "surface_temp_max_discharge": lim(55.0, 58.0, 65.0, 2.0),
        "temp_min_charge": lim(10.0, 5.0, 0.0, 1.0),
        "temp_min_discharge": lim(-10.0, -15.0, -20.0, 1.0),
        "charge_c_rate_max": lim(3.0, 4.0, 5.0, 0.2, 500),
        "discharge_c_rate_max": lim(5.0, 6.0, 8.0, 0.2, 500),
        "cell_v_spread": lim(0.05, 0.10, 0.30, 0.01, 5000),
        **{q: _unmonitored(is_max) for q, is_max in QUANTITIES if q in PRESSURE_QUANTITIES},
    }
    soc = np.array([0.0, 1.0])
    temp = np.array([0.0, 45.0])
    maps = ChargeMaps(soc, temp, np.ones((2, 2)), np.full((2, 2), 2.0), np.full((2, 2), 5.0))
    charge = ChargeParams(
        maps=maps,
        cell_v_charge_max_v=vmax,
        cell_v_discharge_min_v=vmin + 0.15,
        ramp_c_per_s=0.5,
        charge_detect_c=0.02,
        target_soc=1.0,
        resume_soc=0.98,
        heater_on_below_c=5.0,
        heater_off_above_c=10.0,
        cooling_on_above_c=40.0,
        cooling_off_below_c=35.0,
    )
    return Protection(limits=limits, charge=charge)


def fill_nvm(cfg: object, soc: np.ndarray, sigma: float) -> None:
    """The per-cell SoC kept in non-volatile memory at the last shutdown, and its 1-sigma."""
    soc = np.asarray(soc, dtype=float)
    n = int(cfg.pack.n_cells)
    if soc.shape != (n,):
        raise ConfigError(f"nvm.soc needs {n} values (one per cell), got {soc.shape}")
    if not (np.all(np.isfinite(soc)) and np.all((soc >= 0) & (soc <= 1))):
        raise ConfigError("nvm.soc must be within [0, 1]")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ConfigError(f"nvm.soc_sigma must be > 0, got {sigma}")
    for i, x in enumerate(soc):
        cfg.nvm.soc_q16[i] = round(float(x) * 65535.0)  # the NvM block's 16-bit fixed point
    cfg.nvm.soc_sigma = sigma
    cfg.nvm.valid = 1


def fill_nvm_health(cfg: object, cap_scale: np.ndarray, r_scale: np.ndarray, sigma: float) -> None:
    """Each cell's capacity and resistance scales the state-of-health filter kept in
    non-volatile memory (native/include/bms/soh.h), and their relative 1-sigma."""
    n = int(cfg.pack.n_cells)
    cap = np.asarray(cap_scale, dtype=float)
    res = np.asarray(r_scale, dtype=float)
    if cap.shape != (n,) or res.shape != (n,):
        raise ConfigError(f"nvm health needs {n} capacity and resistance scales (one per cell)")
    if not (np.all(np.isfinite(cap)) and np.all((cap >= 0.5) & (cap <= 1.5))):
        raise ConfigError("nvm capacity scales must be within [0.5, 1.5]")
    if not (np.all(np.isfinite(res)) and np.all((res >= 0.5) & (res < 3.99))):
        raise ConfigError("nvm resistance scales must be within [0.5, 3.99]")
    if not (math.isfinite(sigma) and 0 < sigma <= 1):
        raise ConfigError(f"nvm.soh_sigma must be within (0, 1], got {sigma}")
    for i in range(n):
        cfg.nvm.cap_q[i] = round(float(cap[i]) * 32768.0)  # the NvM block's 16-bit fixed point
        cfg.nvm.r_q[i] = round(float(res[i]) * 16384.0)
    cfg.nvm.soh_sigma = sigma
    cfg.nvm.soh_valid = 1


def fill_config(
    cfg: object, cell: CellModel, layout: PackLayout, protection: Protection | None = None
) -> None:
    """Write a CellModel, a pack layout and the protection into a bms_config_t."""
    if not 1 <= layout.n_cells <= MAX_CELLS:
        raise ConfigError(f"pack.n_cells must be in [1, {MAX_CELLS}], got {layout.n_cells}")
    if len(layout.temp_sensor_cells) > MAX_TEMP_SENSORS:
        raise ConfigError(f"at most {MAX_TEMP_SENSORS} temperature sensors")
    pk = cfg.pack
    pk.n_cells = layout.n_cells
    pk.current_range_a = layout.current_range_a
    pk.n_temp_sensors = len(layout.temp_sensor_cells)
    pk.n_pressure_sensors = layout.n_pressure_sensors
    for j, c in enumerate(layout.temp_sensor_cells):
        if not 0 <= c < layout.n_cells:
            raise ConfigError(f"temperature sensor {j} is at cell {c}, outside 0..{layout.n_cells - 1}")
        pk.temp_sensor_cell[j] = c
    cp = cfg.cell
    ns, nt = len(cell.soc), len(cell.temp_c)
    cp.n_soc = ns
    cp.n_temp = nt
    for j in range(ns):
        cp.soc_bp[j] = cell.soc[j]
        cp.docv_dt_v_per_k[j] = cell.docv_dt_v_per_k[j]
    for k in range(nt):
        cp.temp_bp_degc[k] = cell.temp_c[k]
        cp.hyst_m_v[k] = cell.hysteresis.m_v[k]
        cp.hyst_m0_v[k] = cell.hysteresis.m0_v[k]
    cp.hyst_gamma = cell.hysteresis.gamma
    for name in ("ocv_v", "r0_ohm", "r1_ohm", "c1_f", "r2_ohm", "c2_f"):
        src = getattr(cell, name)
        dst = getattr(cp, name)
        for k in range(nt):
            row = dst[k]
            for j in range(ns):
                row[j] = src[k, j]
    cp.capacity_ah = cell.capacity_ah
    cp.coulombic_eff = cell.coulombic_eff
    for k, v in asdict(cell.thermal).items():
        setattr(cfg.thermal, k, v)
    for k, v in asdict(cell.estimator).items():
        setattr(cfg.est, k, v)
    prot = protection or generic_protection(cell)
    hw_c = layout.hw_charge_max_a if layout.hw_charge_max_a is not None else 10.0 * cell.capacity_ah
    hw_d = layout.hw_discharge_max_a if layout.hw_discharge_max_a is not None else 10.0 * cell.capacity_ah
    row = int(np.argmin(np.abs(cell.temp_c - 25.0)))
    r0 = float(np.median(cell.r0_ohm[row]))
    fill_protection(cfg, prot, cell.capacity_ah, layout.n_cells, hw_c, hw_d, r0)
