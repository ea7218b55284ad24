"""Scenario files (TOML): what pack, which charge, which faults. Validated on load: unknown
keys and out-of-range values are refused naming the field.

    [scenario]  name, description, chemistry, series, parallel, soc_start, soc_target,
                ambient_c, start_temp_c, duration_s, seed, dt_ms, plant_substeps, close_at_s,
                precondition_s,
                mode ("charge" | "drive_then_charge" | "cycles"), drive_s, drive_mean_kw,
                drive_peak_kw, stop_when_complete, cycles, cycle_soc_low, rest_s
    [pack]      current_range_a, hw_charge_max_a, hw_discharge_max_a
    [spread] [cooling] [sensors] [charger]   see bms.plant.*  (any field may be left out)
    [balancing] see bms.balancing
    [[faults]]  kind, at_s, cell, value
"""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w

from bms.balancing import BalancingSpec, parse_mode
from bms.chemistry import available as available_chemistries
from bms.errors import ConfigError
from bms.plant.charger import ChargerSpec
from bms.plant.faults import Fault, validate_faults
from bms.plant.pack import Spread
from bms.plant.sensors import SensorSpec
from bms.plant.thermal import CoolingSpec
from bms.schema import in_file, number, read_toml, section, table, value

SCENARIO_DIR = Path(str(resources.files("bms") / "data" / "scenarios"))
MODES = ("charge", "drive_then_charge", "cycles")


@dataclass
class PackSpec:
    """Pack hardware: current sensor range and the contactor/fuse/busbar ratings."""

    current_range_a: float = 2500.0
    hw_charge_max_a: float = 600.0
    hw_discharge_max_a: float = 800.0


@dataclass(frozen=True)
class Scenario:
    """A run's description, immutable (dataclasses.replace gives a changed
    copy): a run never writes to it, so one Scenario object runs any number of times."""

    name: str = "custom"
    description: str = ""
    chemistry: str = "nmc811-graphite"
    series: int = 96
    parallel: int = 20
    soc_start: float = 0.10
    soc_target: float = 0.80
    ambient_c: float = 25.0
    start_temp_c: float | None = None  # cells and coolant at the start (default: ambient)
    duration_s: float = 900.0
    seed: int = 1
    dt_ms: int = 100
    plant_substeps: int = 1
    close_at_s: float = 1.0
    # the vehicle announces the fast charge this long before it reaches the charger (at
    # close_at_s, which must leave room for it), and keeps announcing it until the charge is
    # complete (Measurement.fast_charge_in_s): the firmware preconditions; 0: no announcement
    precondition_s: float = 0.0
    mode: str = "charge"
    drive_s: float = 0.0
    drive_mean_kw: float = 25.0
    drive_peak_kw: float = 150.0
    stop_when_complete: bool = True
    # mode "cycles": parked for rest_s, then `cycles` times (drive until the firmware's pack
    # SoC is at cycle_soc_low, rest rest_s, fast charge until the firmware declares
    # soc_target reached, rest rest_s), the contactors closed throughout; the run ends after
    # the last rest
    cycles: int = 0
    cycle_soc_low: float = 0.2
    rest_s: float = 1800.0
    # the per-cell SoC the BMS stored at its last shutdown is the truth give or take this
    # (1-sigma): an estimate recalibrated at the last full charge, then coulomb-counted with
    # a 0.3 %-gain / 0.1 A-offset shunt over a drive (~0.2 % of a 50 % swing) plus the cells'
    # self-discharge spread while parked (cf. Plett, Battery Management Systems vol. II,
    # ch. 3); 0: nothing stored (a first power-up)
    nvm_soc_sigma: float = 0.005
    # the firmware estimates each cell's capacity and resistance online (soh.h); false holds
    # them at the configured model's (to show what the estimate is worth)
    soh: bool = True
    # the capacity and resistance the BMS kept in non-volatile memory (what it learned over
    # the pack's life) are the truth give or take this (relative 1-sigma: 0.5 %, the
    # new-cell capacity spread, Rumpf et al. 2017; the filter reaches 0.14 % RMS after the
    # three cycles of the aged-cycles preset); 0: nothing stored (a BMS configured with the
    # new-cell model on a pack it has not seen)
    nvm_soh_sigma: float = 0.005
    # the firmware's prior on each cell's health when nothing is stored (est.soh_init_sigma,
    # relative 1-sigma): 2 %, new cells of the chemistry's type (capacity sigma ~0.4 %, Rumpf
    # et al. 2017, and the datasheet's tolerance); a pack of unknown age needs more
    soh_prior_sigma: float = 0.02
    # ... and on its resistance: an aged cell's may have doubled (end of life, Schmalstieg et
    # al. 2014): 0.35 puts 2x at about 3 sigma; the firmware judges a runaway charger with
    # the upper bound until it has learned the resistance from current steps
    soh_r_prior_sigma: float = 0.35
    pack: PackSpec = field(default_factory=PackSpec)
    spread: Spread = field(default_factory=Spread)
    cooling: CoolingSpec = field(default_factory=CoolingSpec)
    sensors: SensorSpec = field(default_factory=SensorSpec)
    charger: ChargerSpec = field(default_factory=ChargerSpec)
    balancing: BalancingSpec = field(default_factory=BalancingSpec)
    faults: tuple[Fault, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "faults", tuple(self.faults))  # a list given is frozen too

    @property
    def start_c(self) -> float:
        return self.ambient_c if self.start_temp_c is None else self.start_temp_c

    @property
    def sensed(self) -> tuple[int, ...]:
        return tuple(range(0, self.series, max(1, self.sensors.sensor_every)))


SECTIONS = {
    "pack": PackSpec,
    "spread": Spread,
    "cooling": CoolingSpec,
    "sensors": SensorSpec,
    "charger": ChargerSpec,
    "balancing": BalancingSpec,
}
TOP = {f.name for f in fields(Scenario)} - set(SECTIONS) - {"faults"}


def scenario_from_dict(d: dict[str, Any], source: str = "<scenario>") -> Scenario:
    with in_file(source):
        return _scenario_from_dict(d)


def _scenario_from_dict(d: dict[str, Any]) -> Scenario:
    table(d, "top level", {"scenario", "faults", *SECTIONS}, kind="section")
    hints = typing.get_type_hints(Scenario)
    top = table(d.get("scenario", {}), "scenario", TOP)
    # the ranges are validate()'s: here the types (a whole float counts as an integer)
    kw: dict[str, Any] = {k: value(v, f"scenario.{k}", hints[k], int_lo=None) for k, v in top.items()}
    for name, cls in SECTIONS.items():
        if name in d:
            # every number of a section is >= 0 (the tighter rules are validate()'s)
            signed = SPREAD_SIGNED if name == "spread" else {}
            parsers = {k: _signed for k in signed}
            if name == "balancing":
                parsers["mode"] = parse_mode
            kw[name] = section(cls, d[name], name, lo=0, parsers=parsers)
    raw = d.get("faults", [])
    if not isinstance(raw, list):
        raise ConfigError("'faults' must be an array of tables ([[faults]])")
    kw["faults"] = tuple(_fault(f, f"faults[{k}]") for k, f in enumerate(raw))
    s = Scenario(**kw)
    validate(s)
    return s


def _signed(v: Any, where: str) -> float:
    return float(number(v, where))  # its range is validate()'s


def _fault(f: Any, where: str) -> Fault:
    f = table(f, where, {"kind", "at_s", "cell", "value"}, {"kind", "at_s"})
    return Fault(
        kind=str(f["kind"]),
        at_s=number(f["at_s"], f"{where}.at_s"),
        cell=None if "cell" not in f else number(f["cell"], f"{where}.cell", integer=True),
        value=None if "value" not in f else number(f["value"], f"{where}.value"),
    )


# Cell-to-cell spread (1-sigma fractions) and ageing a plant can stand for. Measured spreads
# of production cells are far inside: capacity ~0.4 %, resistance 1-2 % (Rumpf et al., J.
# Energy Storage 14 (2017) 224; Baumann et al., J. Energy Storage 18 (2018) 295); 10 % sigma
# is already a badly mismatched batch, and keeps a cell's drawn capacity/resistance factor
# 1 + sigma*N(0,1) positive (a 10-sigma draw would be needed to reach zero). End of life is
# 20-30 % capacity fade with the resistance about doubled (e.g. Birkl et al., J. Power
# Sources 341 (2017) 373); the bounds below allow well past that (an assumption, not a datum).
SPREAD_MAX = {
    "capacity": 0.1,
    "resistance": 0.1,
    "soc": 0.1,
    "capacity_fade": 0.5,
    "resistance_growth": 2.0,
}
# The plant's model errors (Spread): signed OCV terms within +-bound, thermal scale factors
# within [lo, hi]. Wider than what the property suite draws (+-10 mV, +-3 %, +-30 %): a run
# may explore past it, not into a curve or a network that no longer means a cell.
SPREAD_SIGNED = {"ocv_offset_v": 0.05, "ocv_slope": 0.1}
# hysteresis: the elements' state at the start is within its range -1..1; the plant's band
# against the cell file's from none (0) to twice
SPREAD_SIGNED["hyst_h0"] = 1.0
SPREAD_SCALES = ("c_core_scale", "c_surf_scale", "r_core_surf_scale", "r_surf_amb_scale", "preload_scale")
SCALE_RANGE = (0.5, 2.0)
SPREAD_MAX["ocv_offset_cell_v"] = 0.05
# self-discharge of an element (A): healthy cells leak micro- to milliamperes; 1 A is already
# a soft internal short of a large element (1 %/h of 100 Ah)
SPREAD_MAX["self_discharge_a"] = 1.0
SPREAD_MAX["self_discharge_spread_a"] = 1.0
# a hysteresis the cell file does not state: 0.1 V each is beyond LFP's (5-25 mV gap) and
# graphite's, short of silicon's few hundred mV; its rate within the firmware's 0..1e4
SPREAD_MAX["hyst_m_v"] = 0.1
SPREAD_MAX["hyst_m0_v"] = 0.1
SPREAD_MAX["hyst_gamma"] = 1.0e4
SEED_MAX = 2**63 - 1  # numpy SeedSequence takes any integer >= 0; a TOML integer is int64


def _section_rules(s: Scenario) -> None:
    """Every number of every section finite and >= 0 (as a file load checks; a campaign's
    draws bypass the file), the spread within SPREAD_MAX, the pack's ratings consistent."""
    for name in SECTIONS:
        sec = getattr(s, name)
        for f in fields(sec):
            v = getattr(sec, f.name)
            if isinstance(v, int | float) and not isinstance(v, bool):
                signed = name == "spread" and f.name in SPREAD_SIGNED
                number(v, f"{name}.{f.name}", None if signed else 0)
    for k, hi in SPREAD_MAX.items():
        v = getattr(s.spread, k)
        if v > hi:
            if k in ("capacity_fade", "resistance_growth"):
                what = (
                    "an ageing fraction of the whole pack; end of life is 0.2-0.3 capacity fade, 0.5-1 "
                    "resistance growth"
                )
            elif k.startswith("self_discharge"):
                what = "amperes of leakage per element; healthy cells leak micro- to milliamperes"
            elif k.startswith("hyst_"):
                what = "a hysteresis the cell file does not state (V; its rate dimensionless)"
            elif k == "ocv_offset_cell_v":
                what = "volts: each cell's OCV offset from the table, uniform within +- this"
            else:
                what = "a 1-sigma fraction; production cells are at 0.004-0.02"
            raise ConfigError(f"field 'spread.{k}' must be within 0..{hi:g} ({what}), got {v!r}")
    for k, bound in SPREAD_SIGNED.items():
        number(getattr(s.spread, k), f"spread.{k}", -bound, bound)
    for k in SPREAD_SCALES:
        number(getattr(s.spread, k), f"spread.{k}", *SCALE_RANGE)
    number(s.spread.hyst_scale, "spread.hyst_scale", 0.0, 2.0)
    bal = s.balancing
    parse_mode(bal.mode, "balancing.mode")
    bal_rules = [
        (1.0 <= bal.bleed_ohm <= 10_000.0, "balancing.bleed_ohm", "must be within 1..10000 ohm"),
        (bal.sense_wire_ohm <= 10.0, "balancing.sense_wire_ohm", "must be within 0..10 ohm"),
        (0.001 <= bal.start_dsoc <= 0.5, "balancing.start_dsoc", "must be within 0.001..0.5"),
        (bal.stop_dsoc < bal.start_dsoc, "balancing.stop_dsoc", "must be below balancing.start_dsoc"),
        (0.001 <= bal.soc_sigma_max <= 1, "balancing.soc_sigma_max", "must be within 0.001..1"),
        (bal.test_di_max_c > 0, "balancing.test_di_max_c", "must be > 0"),
        (1 <= bal.cells_per_module <= 192, "balancing.cells_per_module", "must be within 1..192"),
        (
            1 <= bal.max_per_module <= bal.cells_per_module,
            "balancing.max_per_module",
            "must be within 1..balancing.cells_per_module",
        ),
        (
            1000 <= bal.test_interval_ms <= 86_400_000,
            "balancing.test_interval_ms",
            "must be within 1 s..1 day",
        ),
        (
            bal.test_interval_ms <= bal.switch_debounce_ms <= 86_400_000,
            "balancing.switch_debounce_ms",
            "must be within balancing.test_interval_ms..1 day",
        ),
    ]
    for ok, where, rule in bal_rules:
        if not ok:
            raise ConfigError(f"field '{where}' {rule}")
    pk = s.pack
    if not (pk.hw_charge_max_a > 0 and pk.hw_discharge_max_a > 0):
        raise ConfigError("fields 'pack.hw_charge_max_a' and 'pack.hw_discharge_max_a' must be > 0")
    if not pk.current_range_a >= max(pk.hw_charge_max_a, pk.hw_discharge_max_a):
        raise ConfigError(
            f"field 'pack.current_range_a' ({pk.current_range_a:g} A) must cover the pack's ratings "
            f"(hw_charge_max_a {pk.hw_charge_max_a:g} A, hw_discharge_max_a {pk.hw_discharge_max_a:g} A): "
            "the firmware treats a current beyond the sensor's range as implausible"
        )


def validate(s: Scenario) -> None:
    if s.chemistry not in available_chemistries() and not Path(s.chemistry).suffix:
        raise ConfigError(
            f"field 'scenario.chemistry': unknown chemistry '{s.chemistry}'; "
            f"available: {', '.join(available_chemistries())}"
        )
    rules = [
        (1 <= s.series <= 192, "scenario.series", "must be in 1..192 (the firmware's BMS_MAX_CELLS)"),
        (1 <= s.parallel <= 1000, "scenario.parallel", "must be in 1..1000"),
        (0.0 <= s.soc_start <= 1.0, "scenario.soc_start", "must be within [0, 1]"),
        (0.0 < s.soc_target <= 1.0, "scenario.soc_target", "must be within (0, 1]"),
        (-40.0 <= s.ambient_c <= 60.0, "scenario.ambient_c", "must be within -40..60 degC"),
        (-40.0 <= s.start_c <= 80.0, "scenario.start_temp_c", "must be within -40..80 degC"),
        (0.0 < s.duration_s <= 24 * 3600.0, "scenario.duration_s", "must be in (0, 86400] s"),
        (1 <= s.dt_ms <= 60_000, "scenario.dt_ms", "must be in 1..60000 ms"),
        (
            s.dt_ms <= s.duration_s * 1000.0,
            "scenario.dt_ms",
            f"must not be longer than the run (duration_s {s.duration_s:g} s = {s.duration_s * 1000.0:g} ms)",
        ),
        (0 <= s.seed <= SEED_MAX, "scenario.seed", f"must be an integer in 0..{SEED_MAX}"),
        (
            s.mode != "charge" or s.soc_start < s.soc_target,
            "scenario.soc_start",
            f"must be below scenario.soc_target in a charge ({s.soc_start:g} >= {s.soc_target:g})",
        ),
        (1 <= s.plant_substeps <= 100, "scenario.plant_substeps", "must be in 1..100"),
        (0.0 <= s.nvm_soc_sigma <= 0.2, "scenario.nvm_soc_sigma", "must be within 0..0.2"),
        (0.0 <= s.nvm_soh_sigma <= 0.2, "scenario.nvm_soh_sigma", "must be within 0..0.2"),
        (0.0 < s.soh_prior_sigma <= 1.0, "scenario.soh_prior_sigma", "must be within (0, 1]"),
        (0.0 < s.soh_r_prior_sigma <= 1.0, "scenario.soh_r_prior_sigma", "must be within (0, 1]"),
        (s.mode in MODES, "scenario.mode", f"must be one of {MODES}"),
        (0.0 <= s.close_at_s < s.duration_s, "scenario.close_at_s", "must be within the run"),
        (
            0.0 <= s.precondition_s <= s.close_at_s,
            "scenario.precondition_s",
            f"must be within 0..close_at_s ({s.close_at_s:g} s): the announcement comes before the arrival",
        ),
        (
            s.precondition_s == 0.0 or s.mode == "charge",
            "scenario.precondition_s",
            "needs mode 'charge' (the vehicle arrives at the charger at close_at_s)",
        ),
        (s.sensors.sensor_every >= 1, "sensors.sensor_every", "must be >= 1"),
        (s.charger.tau_s > 0 and s.charger.ramp_a_per_s > 0, "charger.tau_s / ramp_a_per_s", "must be > 0"),
        (0.5 <= s.charger.regulation_gain <= 2.0, "charger.regulation_gain", "must be within 0.5..2"),
        (s.cooling.nominal_flow_lpm > 0, "cooling.nominal_flow_lpm", "must be > 0"),
    ]
    for ok, where, rule in rules:
        if not ok:
            raise ConfigError(f"field '{where}' {rule}")
    _section_rules(s)
    if s.mode == "cycles":
        cyc = [
            (1 <= s.cycles <= 100, "scenario.cycles", "must be in 1..100 for mode cycles"),
            (
                0.0 < s.cycle_soc_low < s.soc_target,
                "scenario.cycle_soc_low",
                "must be within (0, soc_target)",
            ),
            (60.0 <= s.rest_s <= 86400.0, "scenario.rest_s", "must be within 60..86400 s"),
            (not s.stop_when_complete, "scenario.stop_when_complete", "must be false for mode cycles"),
        ]
        for ok, where, rule in cyc:
            if not ok:
                raise ConfigError(f"field '{where}' {rule}")
    if s.mode == "drive_then_charge" and not 0 < s.drive_s < s.duration_s:
        raise ConfigError("field 'scenario.drive_s' must be within the run for mode drive_then_charge")
    validate_faults(s.faults, s.series, s.sensed, s.duration_s, s.chemistry)


def load_scenario(name_or_path: str | Path) -> Scenario:
    p = Path(name_or_path)
    if not p.suffix:
        p = SCENARIO_DIR / f"{name_or_path}.toml"
        if not p.is_file():
            names = ", ".join(sorted(x.stem for x in SCENARIO_DIR.glob("*.toml")))
            raise ConfigError(f"unknown scenario '{name_or_path}'; shipped: {names}")
    if not p.is_file():
        raise ConfigError(f"{p}: scenario file not found")
    return scenario_from_dict(read_toml(p, "scenario file"), str(p))


def scenario_to_toml(s: Scenario) -> str:
    """A file that `bms simulate --scenario` reads back into the same scenario."""
    top = {k: getattr(s, k) for k in sorted(TOP) if getattr(s, k) is not None}
    d: dict[str, Any] = {"scenario": top}
    for name in SECTIONS:
        d[name] = asdict(getattr(s, name))
    if s.faults:
        d["faults"] = [
            {
                k: v
                for k, v in (("kind", f.kind), ("at_s", f.at_s), ("cell", f.cell), ("value", f.value))
                if v is not None
            }
            for f in s.faults
        ]
    return tomli_w.dumps(d)
