"""Protection configuration: tiered limits, current-limit maps, plausibility and contactor
parameters, as dataclasses with validation (errors name the field and the rule) and the
code that writes them into the firmware's bms_config_t.

Cell-level numbers (voltages, temperatures, C-rates) come from a chemistry profile;
pack-level ones (current sensor, contactors, hardware current) from the pack; the
firmware gets amperes, so C-rates are multiplied by the series element's capacity here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from bms.enums import FAULT_ID, FAULT_NAMES
from bms.errors import ConfigError
from bms.schema import array, number, section, table

# Names of the monitored quantities in files, in bms_quantity_t order (bms.enums.Quantity), and
# their direction.
QUANTITIES: tuple[tuple[str, bool], ...] = (
    ("cell_v_max", True),
    ("cell_v_min", False),
    ("core_temp_max_charge", True),
    ("core_temp_max_discharge", True),
    ("surface_temp_max_charge", True),
    ("surface_temp_max_discharge", True),
    ("temp_min_charge", False),
    ("temp_min_discharge", False),
    ("charge_c_rate_max", True),  # C-rate in the file, amperes in the firmware
    ("discharge_c_rate_max", True),
    ("cell_v_spread", True),
    # stack pressure of a solid-state pack (MPa, the lowest / highest module sensor;
    # bms.stack_pressure): only a chemistry with [stack_pressure] has them
    ("pressure_min_charge", False),
    ("pressure_min_discharge", False),
    ("pressure_max", True),
)
QUANTITY_NAMES = tuple(q for q, _ in QUANTITIES)
PRESSURE_QUANTITIES = ("pressure_min_charge", "pressure_min_discharge", "pressure_max")
CURRENT_QUANTITIES = ("charge_c_rate_max", "discharge_c_rate_max")
TIERS = ("warning", "derate", "trip")
MAX_MAP_SOC = 12
MAX_MAP_TEMP = 8


@dataclass
class Tier:
    threshold: float
    hysteresis: float
    debounce_ms: int

    @classmethod
    def parse(cls, d: Any, where: str) -> Tier:
        keys = {"threshold", "hysteresis", "debounce_ms"}
        d = table(d, where, keys, keys)
        return cls(
            number(d["threshold"], f"{where}.threshold"),
            number(d["hysteresis"], f"{where}.hysteresis", 0),
            # at most 1 h
            number(d["debounce_ms"], f"{where}.debounce_ms", 0, 3_600_000, integer=True, unit="ms"),
        )


@dataclass
class Limit:
    warning: Tier
    derate: Tier
    trip: Tier

    @classmethod
    def parse(cls, d: Any, where: str, is_max: bool) -> Limit:
        d = table(d, where, TIERS, TIERS)
        lim = cls(*(Tier.parse(d[t], f"{where}.{t}") for t in TIERS))
        w, r, t = lim.warning.threshold, lim.derate.threshold, lim.trip.threshold
        if is_max and not (w < r < t):
            raise ConfigError(
                f"'{where}': a maximum needs warning < derate < trip, got {w:g} / {r:g} / {t:g}"
            )
        if not is_max and not (w > r > t):
            raise ConfigError(
                f"'{where}': a minimum needs warning > derate > trip, got {w:g} / {r:g} / {t:g}"
            )
        return lim


def _unmonitored(is_max: bool) -> Limit:
    """A pressure limit of a pack without pressure sensors (pack.n_pressure_sensors = 0): the
    firmware never evaluates it; the values only keep its table ordered."""
    t = (48.0, 49.0, 50.0) if is_max else (0.3, 0.2, 0.1)
    return Limit(*(Tier(x, 0.0, 1000) for x in t))


def parse_limits(d: Any, where: str = "limits", pressure: bool = False) -> dict[str, Limit]:
    """The tiered limits; the pressure ones are required with a stack-pressure fixture
    (`pressure`) and refused without one (no sensor would see them)."""
    need = [q for q in QUANTITY_NAMES if pressure or q not in PRESSURE_QUANTITIES]
    d = table(d, where, need, need)
    return {
        name: Limit.parse(d[name], f"{where}.{name}", is_max) if name in d else _unmonitored(is_max)
        for name, is_max in QUANTITIES
    }


@dataclass
class ChargeMaps:
    """C-rate maps over [temperature][soc]."""

    soc: np.ndarray
    temp_c: np.ndarray
    charge_c: np.ndarray
    plating_c: np.ndarray
    discharge_c: np.ndarray

    @classmethod
    def parse(cls, d: Any, where: str) -> ChargeMaps:
        names = {"soc", "temp_c", "charge_c", "plating_c", "discharge_c"}
        d = table(d, where, names, names)
        soc = array(d["soc"], f"{where}.soc", 1)
        temp = array(d["temp_c"], f"{where}.temp_c", 1)
        if not 2 <= len(soc) <= MAX_MAP_SOC:
            raise ConfigError(f"field '{where}.soc' needs 2..{MAX_MAP_SOC} breakpoints, got {len(soc)}")
        if not 1 <= len(temp) <= MAX_MAP_TEMP:
            raise ConfigError(f"field '{where}.temp_c' needs 1..{MAX_MAP_TEMP} breakpoints, got {len(temp)}")
        if np.any(np.diff(soc) <= 0) or soc[0] < 0 or soc[-1] > 1:
            raise ConfigError(f"field '{where}.soc' must be strictly increasing within [0, 1]")
        if np.any(np.diff(temp) <= 0):
            raise ConfigError(f"field '{where}.temp_c' must be strictly increasing")
        tables = {}
        for name in ("charge_c", "plating_c", "discharge_c"):
            a = array(d[name], f"{where}.{name}", 2)
            if a.shape != (len(temp), len(soc)):
                raise ConfigError(
                    f"field '{where}.{name}' has shape {a.shape} but the breakpoints need "
                    f"{len(temp)}x{len(soc)} (len(temp_c) x len(soc))"
                )
            if np.any(a < 0):
                raise ConfigError(f"field '{where}.{name}' must be C-rates >= 0")
            tables[name] = a
        return cls(soc, temp, **tables)


@dataclass
class ChargeParams:
    maps: ChargeMaps
    cell_v_charge_max_v: float
    cell_v_discharge_min_v: float
    ramp_c_per_s: float
    charge_detect_c: float
    target_soc: float
    resume_soc: float
    heater_on_below_c: float
    heater_off_above_c: float
    cooling_on_above_c: float
    cooling_off_below_c: float
    # while the vehicle announces a fast charge (Measurement.fast_charge_in_s) the heater
    # works to this window instead (the temperature where the maps allow the most current);
    # a file without them: the heater's own thresholds (an announcement changes nothing)
    precondition_on_below_c: float | None = None
    precondition_off_above_c: float | None = None

    @classmethod
    def parse(cls, d: Any, where: str = "charge") -> ChargeParams:
        optional = {"precondition_on_below_c", "precondition_off_above_c"}
        scalars = {f.name for f in fields(cls)} - {"maps"}
        d = table(d, where, scalars | {"map"}, (scalars - optional) | {"map"})
        vals = {k: number(d[k], f"{where}.{k}") for k in scalars if k in d}
        p = cls(maps=ChargeMaps.parse(d["map"], f"{where}.map"), **vals)
        rules = [
            (p.ramp_c_per_s > 0, "ramp_c_per_s must be > 0"),
            (p.charge_detect_c >= 0, "charge_detect_c must be >= 0"),
            (0 < p.resume_soc < p.target_soc <= 1, "needs 0 < resume_soc < target_soc <= 1"),
            (
                p.heater_off_above_c > p.heater_on_below_c,
                "heater_off_above_c must be above heater_on_below_c",
            ),
            (
                p.cooling_on_above_c > p.cooling_off_below_c,
                "cooling_on_above_c must be above cooling_off_below_c",
            ),
            (
                (p.precondition_on_below_c is None) == (p.precondition_off_above_c is None),
                "precondition_on_below_c and precondition_off_above_c go together",
            ),
            (
                p.precondition_on_below_c is None or p.precondition_on_below_c >= p.heater_on_below_c,
                "precondition_on_below_c must be at or above heater_on_below_c",
            ),
            (
                p.precondition_on_below_c is None
                or p.precondition_on_below_c < (p.precondition_off_above_c or 0.0) < p.cooling_on_above_c,
                "needs precondition_on_below_c < precondition_off_above_c < cooling_on_above_c",
            ),
            (
                p.cell_v_discharge_min_v < p.cell_v_charge_max_v,
                "cell_v_discharge_min_v must be below cell_v_charge_max_v",
            ),
        ]
        for ok, rule in rules:
            if not ok:
                raise ConfigError(f"'{where}': {rule}")
        return p


@dataclass
class PlausParams:
    """Sensor plausibility (BMS hardware: AFE, thermistors, current sensor)."""

    cell_v_min_v: float = -0.2  # AFE readings below: not a voltage (open/short inputs read ~0)
    cell_v_max_v: float = 5.5  # above the AFE's cell input range (e.g. LTC6813: 0-5 V nominal)
    temp_min_degc: float = -40.0  # NTC channels' specified range
    temp_max_degc: float = 125.0
    ntc_open_below_degc: float = -50.0  # an open NTC reads the coldest code
    ntc_short_above_degc: float = 150.0  # a shorted NTC reads the hottest code
    open_wire_v: float = 1.0  # far below any Li-ion cell in use (>= 2 V)
    # sum of cells vs pack voltage: the cell channels' errors add up per cell, the pack
    # voltage channel's own error is absolute (isolated HV measurement, ~0.1 V noise and
    # ~0.1 % of full scale; e.g. the IVT-S voltage inputs) -- both are in the tolerance
    pack_sum_tol_v_per_cell: float = 0.02
    pack_sum_tol_v_fixed: float = 1.0
    stuck_current_delta_a: float = 5.0  # with R0 ~ mOhm this moves any real reading
    # AFE converters dither: their noise (~100-250 uV on LTC681x-class parts) exceeds the LSB,
    # so a real reading does not repeat bit-exactly for seconds; 1 for noiseless converters
    stuck_needs_current: int = 0
    # A dithered reading repeats its code with p = sum_k p_k^2 ~ 0.28 at 1 LSB of noise (the
    # quietest converter in spec), up to 0.38 for a cell sitting mid-code; n repeats in a row
    # ~ 0.38^n. The volt_stuck debounce runs on the OR over all cells, so the rate that
    # matters is the pack's: 192 cells x 0.38^20 ~ 1e-6 per step (5 repeats tripped resting
    # 150-cell packs at 1 LSB of noise). A frozen channel is caught 20 samples + the debounce
    # after it freezes.
    stuck_repeats_min: int = 20
    current_offset_max_a: float = 2.0  # zero-current reading with contactors open
    sensor_debounce_ms: int = 500
    stuck_debounce_ms: int = 2000
    open_wire_debounce_ms: int = 500
    ntc_debounce_ms: int = 1000
    offset_debounce_ms: int = 2000
    stale_timeout_ms: int = 500
    # charger compliance: a DC charger regulates its current to a few percent (IEC 61851-23
    # class accuracy) and settles on a lower request within ~1 s
    ccl_excess_frac: float = 0.05
    ccl_excess_c: float = 0.05
    # ... but never below the current sensor's own band (noise ~0.2-0.4 A rms per 100 ms
    # sample and offset ~0.1 A on an IVT-S class shunt: 5 sigma), or a small pack's
    # idle noise reads as a charger delivering more than a zero limit
    ccl_excess_min_a: float = 2.0
    charger_response_ms: int = 1000
    ccl_excess_debounce_ms: int = 500
    # a runaway charger (an excess that through a cell's resistance alone would lift it from
    # the charge voltage limit past the overvoltage trip) is cut off after two samples: a
    # cold cell at 16 mohm rises ~0.1 V per 100 ms under a 66 A/s ramp
    ccl_excess_fast_ms: int = 100
    # an EV coolant loop runs at ~5-15 l/min; below 2 the pump or the loop has failed
    coolant_flow_min_lpm: float = 2.0
    cooling_debounce_ms: int = 3000
    # one cell further than 0.1 V from the others at rest; under load the allowance grows
    # by 30 % of R0 * |I| (cell-to-cell resistance spread is a few %: Rumpf et al., J.
    # Energy Storage 14 (2017) 224)
    cell_dev_max_v: float = 0.10
    cell_dev_r_rel: float = 0.30
    # a healthy pack's SoC imbalance (a few percent without active balancing): where the OCV
    # is steep (low SoC) it alone moves a cell's voltage by tens of millivolts
    cell_dev_soc_spread: float = 0.05
    cell_dev_debounce_ms: int = 2000
    # stack-pressure sensors (solid-state packs): a load cell per module behind a 4-20 mA
    # transmitter over 0-20 MPa (ASSUMPTION: a typical industrial span, no module data sheet).
    # A live reading sits within its span, a little below zero allowed for noise and offset;
    # 0 mA (an open loop) reads -5 MPa, i.e. at or below -2 MPa the loop is open.
    pressure_min_mpa: float = -0.5
    pressure_max_mpa: float = 20.0
    pressure_open_below_mpa: float = -2.0


def ccl_excess_a(p: PlausParams, capacity_ah: float) -> float:
    """The absolute charge current a compliant charger may deliver above the lagged CCL."""
    return max(p.ccl_excess_c * capacity_ah, p.ccl_excess_min_a)


@dataclass
class ContactorParams:
    precharge_ratio: float = 0.95  # bus must reach 95 % of the pack voltage (typical EV practice)
    precharge_timeout_ms: int = 500
    break_current_a: float = 10.0  # open under at most this current
    opening_timeout_ms: int = 2000  # then open anyway (counted as a break under load)
    # a charger that does not follow the CCL must be cut off at once, as must overcurrent and OV
    emergency_faults: tuple[str, ...] = ("oc_charge", "oc_discharge", "cell_ov", "charge_overcurrent")


def charge_detect_a(prot: Any, capacity_ah: float) -> float:
    """The charge current (A) above which the firmware takes the pack to be charging: a
    current within the sensor's zero-current band (what the offset check tolerates) is no
    charge, so a small pack's detection threshold is never below it."""
    return max(prot.charge.charge_detect_c * capacity_ah, prot.plausibility.current_offset_max_a)


def _fault_names(v: Any, where: str) -> tuple[str, ...]:
    if not isinstance(v, list) or any(x not in FAULT_ID for x in v):
        raise ConfigError(f"field '{where}' must list fault names from {FAULT_NAMES}, got {v!r}")
    return tuple(v)


def parse_plausibility(d: Any, where: str = "plausibility") -> PlausParams:
    p = section(PlausParams, d, where)
    rules = [
        (p.cell_v_min_v < p.open_wire_v < p.cell_v_max_v, "needs cell_v_min_v < open_wire_v < cell_v_max_v"),
        (
            p.ntc_open_below_degc < p.temp_min_degc < p.temp_max_degc < p.ntc_short_above_degc,
            "needs ntc_open_below_degc < temp_min_degc < temp_max_degc < ntc_short_above_degc",
        ),
        (
            p.pressure_open_below_mpa < p.pressure_min_mpa < p.pressure_max_mpa,
            "needs pressure_open_below_mpa < pressure_min_mpa < pressure_max_mpa",
        ),
        (p.pack_sum_tol_v_per_cell > 0, "pack_sum_tol_v_per_cell must be > 0"),
        (p.pack_sum_tol_v_fixed >= 0, "pack_sum_tol_v_fixed must be >= 0"),
        (p.stuck_current_delta_a > 0, "stuck_current_delta_a must be > 0"),
        # the firmware's repeat counter is 8 bits and saturates at 255
        (2 <= p.stuck_repeats_min <= 255, "stuck_repeats_min must be within 2..255"),
        (p.current_offset_max_a > 0, "current_offset_max_a must be > 0"),
        (p.cell_dev_max_v > 0, "cell_dev_max_v must be > 0"),
        (
            0 <= p.ccl_excess_fast_ms <= p.ccl_excess_debounce_ms,
            "ccl_excess_fast_ms must be within 0..ccl_excess_debounce_ms",
        ),
        *(
            (getattr(p, name) >= 0, f"{name} must be >= 0")
            for name in (
                "ccl_excess_frac",
                "ccl_excess_c",
                "ccl_excess_min_a",
                "coolant_flow_min_lpm",
                "cell_dev_r_rel",
                "cell_dev_soc_spread",
            )
        ),
    ]
    for ok, rule in rules:
        if not ok:
            raise ConfigError(f"'{where}': {rule}")
    return p


def parse_contactor(d: Any, where: str = "contactor") -> ContactorParams:
    c = section(ContactorParams, d, where, parsers={"emergency_faults": _fault_names})
    number(c.precharge_ratio, f"{where}.precharge_ratio", 0, 1, lo_open=True)
    for name in ("precharge_timeout_ms", "opening_timeout_ms"):
        number(getattr(c, name), f"{where}.{name}", 0, integer=True, lo_open=True, unit="ms")
    number(c.break_current_a, f"{where}.break_current_a", 0, unit="A")
    return c


@dataclass
class Protection:
    """Everything the firmware protects the pack with, at cell level (C-rates)."""

    limits: dict[str, Limit]
    charge: ChargeParams
    plausibility: PlausParams = field(default_factory=PlausParams)
    contactor: ContactorParams = field(default_factory=ContactorParams)

    def check_against(self, where: str = "") -> None:
        lv = self.limits["cell_v_max"].warning.threshold
        if not self.charge.cell_v_charge_max_v < lv:
            raise ConfigError(
                f"{where}'charge.cell_v_charge_max_v' must be below limits.cell_v_max.warning ({lv:g})"
            )
        lm = self.limits["cell_v_min"].warning.threshold
        if not self.charge.cell_v_discharge_min_v > lm:
            raise ConfigError(
                f"{where}'charge.cell_v_discharge_min_v' must be above limits.cell_v_min.warning ({lm:g})"
            )


def _fill_tier(dst: Any, t: Tier, scale: float = 1.0) -> None:
    dst.threshold = t.threshold * scale
    dst.hysteresis = t.hysteresis * scale
    dst.debounce_ms = t.debounce_ms


def fill_protection(
    cfg: Any,
    prot: Protection,
    capacity_ah: float,
    n_cells: int,
    hw_charge_max_a: float,
    hw_discharge_max_a: float,
    r0_ohm: float,
) -> None:
    """Write the protection into a bms_config_t (C-rates become amperes)."""
    for q, (name, _) in enumerate(QUANTITIES):
        lim = prot.limits[name]
        scale = capacity_ah if name in CURRENT_QUANTITIES else 1.0
        dst = cfg.limits.q[q]
        _fill_tier(dst.warning, lim.warning, scale)
        _fill_tier(dst.derate, lim.derate, scale)
        _fill_tier(dst.trip, lim.trip, scale)
    p = prot.plausibility
    pl = cfg.plaus
    for f in fields(PlausParams):
        if f.name == "pack_sum_tol_v_per_cell":
            pl.pack_sum_tol_v = p.pack_sum_tol_v_per_cell * n_cells + p.pack_sum_tol_v_fixed
        elif f.name == "pack_sum_tol_v_fixed":
            pass
        elif f.name == "ccl_excess_c":
            pl.ccl_excess_a = ccl_excess_a(p, capacity_ah)
        elif f.name == "ccl_excess_min_a":
            pass
        elif f.name == "cell_dev_r_rel":
            pl.cell_dev_v_per_a = p.cell_dev_r_rel * r0_ohm
        else:
            setattr(pl, f.name, getattr(p, f.name))
    c = prot.contactor
    cc = cfg.contactor
    cc.precharge_ratio = c.precharge_ratio
    cc.precharge_timeout_ms = c.precharge_timeout_ms
    cc.break_current_a = c.break_current_a
    cc.opening_timeout_ms = c.opening_timeout_ms
    cc.emergency_mask = sum(1 << FAULT_ID[n] for n in c.emergency_faults)
    ch = prot.charge
    m = ch.maps
    cp = cfg.charge
    cp.n_soc = len(m.soc)
    cp.n_temp = len(m.temp_c)
    for j, s in enumerate(m.soc):
        cp.soc_bp[j] = s
    for k, t in enumerate(m.temp_c):
        cp.temp_bp_degc[k] = t
    for name in ("charge_c", "plating_c", "discharge_c"):
        dst = getattr(cp, name)
        src = getattr(m, name)
        for k in range(len(m.temp_c)):
            row = dst[k]
            for j in range(len(m.soc)):
                row[j] = src[k, j]
    cp.cell_v_charge_max_v = ch.cell_v_charge_max_v
    cp.cell_v_discharge_min_v = ch.cell_v_discharge_min_v
    cp.hw_charge_max_a = hw_charge_max_a
    cp.hw_discharge_max_a = hw_discharge_max_a
    cp.ramp_up_a_per_s = ch.ramp_c_per_s * capacity_ah
    cp.charge_target_soc = ch.target_soc
    cp.charge_resume_soc = ch.resume_soc
    cp.charge_detect_a = charge_detect_a(prot, capacity_ah)
    cp.heater_on_below_degc = ch.heater_on_below_c
    cp.heater_off_above_degc = ch.heater_off_above_c
    cp.cooling_on_above_degc = ch.cooling_on_above_c
    cp.cooling_off_below_degc = ch.cooling_off_below_c
    pre_on = ch.heater_on_below_c if ch.precondition_on_below_c is None else ch.precondition_on_below_c
    pre_off = ch.heater_off_above_c if ch.precondition_off_above_c is None else ch.precondition_off_above_c
    cp.precond_on_below_degc = pre_on
    cp.precond_off_above_degc = pre_off
