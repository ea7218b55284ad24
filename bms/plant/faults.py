"""Injectable faults: one registry row per fault kind (FAULT_KINDS: what it does, what
catches it, where it acts, its trip time, whether it persists, its default magnitude, how
it is applied and how its onset is judged), the Fault a scenario names (what, when,
where), parsing of KIND:AT_S[:CELL] and validation. Adding a kind: docs/architecture.md,
"Adding a fault kind".

Levels: "cell" (the index is a series element), "thermistor" (a sensed element), "pack" (no
index) and "module" (the index is a module of a pressed solid-state pack, default 0: the
chemistry's [stack_pressure] groups the elements into modules, bms.stack_pressure; such kinds
need a chemistry that has one)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, Protocol

from bms.errors import ConfigError
from bms.plant import fault_onsets as onset

if TYPE_CHECKING:
    from bms.chemistry import Chemistry
    from bms.plant.charger import Charger
    from bms.plant.pack import PackPlant
    from bms.plant.pressure import StackPressurePlant
    from bms.plant.sensors import Sensors
    from bms.plant.thermal import ThermalNetwork
    from bms.sim.scenario import Scenario
    from bms.stack_pressure import StackPressure


class Rig(Protocol):
    """What a fault is applied to: the closed loop's plant, sensors, coolant, charger and
    the link that carries the measurements to the firmware."""

    plant: PackPlant
    sensors: Sensors
    thermal: ThermalNetwork
    charger: Charger
    comm_lost: bool
    pressure: StackPressurePlant | None  # the modules' fixtures (None: the pack is not pressed)
    precharge_open: bool  # the precharge path is open: the link cannot charge through it


def _to_sensors(f: Fault, rig: Rig) -> None:
    rig.sensors.inject(f)  # its effect: the kind's branch in bms.plant.sensors


def _short(f: Fault, rig: Rig) -> None:
    assert f.cell is not None
    rig.plant.short_circuit(f.cell, f.magnitude())


def _stop_pump(f: Fault, rig: Rig) -> None:
    rig.thermal.flow_lpm = 0.0


def _cut_link(f: Fault, rig: Rig) -> None:
    rig.comm_lost = True


def _open_precharge(f: Fault, rig: Rig) -> None:
    rig.precharge_open = True


def _precharge_trip_s(chem: Chemistry, scn: Scenario) -> float:
    """A precharge that cannot charge the link fails at its timeout, latched in that step."""
    return chem.protection.contactor.precharge_timeout_ms / 1000.0


def _overshoot(f: Fault, rig: Rig) -> None:
    rig.charger.overshoot = f.magnitude()


def _ignore_limit(f: Fault, rig: Rig) -> None:
    rig.charger.ignores_limit = True


def _pressed(f: Fault, rig: Rig) -> StackPressurePlant:
    """The rig's pressure plant, refusing a module-level fault on a pack that has none."""
    if rig.pressure is None:
        raise ConfigError(f"fault '{f.kind}' needs a chemistry with [stack_pressure]")
    return rig.pressure


def _lose_pressure(f: Fault, rig: Rig) -> None:
    _pressed(f, rig).lose(f.cell or 0)


def _to_pressure_sensor(f: Fault, rig: Rig) -> None:
    _pressed(f, rig)
    rig.sensors.inject(f)  # its effect: Sensors.pressures


def _switch_stuck_on(f: Fault, rig: Rig) -> None:
    assert f.cell is not None
    rig.plant.stuck_on[f.cell] = True
    rig.plant.stuck_off[f.cell] = False
    rig.plant.command_switches(rig.plant.bal_cmd)


def _switch_stuck_off(f: Fault, rig: Rig) -> None:
    assert f.cell is not None
    rig.plant.stuck_off[f.cell] = True
    rig.plant.stuck_on[f.cell] = False
    rig.plant.command_switches(rig.plant.bal_cmd)


@dataclass(frozen=True)
class FaultKind:
    description: str
    caught_by: tuple[str, ...]  # the firmware fault(s) that must catch it (bms.protection names)
    # where it is injected: a cell, a sensed cell, none, a module (of a pressed pack)
    level: Literal["cell", "thermistor", "pack", "module"]
    trip_time_field: str  # the firmware debounce that bounds its detection (a PlausParams field)
    persistent: bool  # its condition persists once injected: a reset must not clear what catches it
    applied_to: Literal["sensors", "pack", "coolant", "link", "charger", "contactors"]
    apply: Callable[[Fault, Rig], None]
    onset: Callable[[Injection, onset.OnsetView], float | None]  # bms.plant.fault_onsets
    default_value: float | None = None  # its magnitude if the scenario gives none (None: it has none)
    # fewest series elements in which the firmware can see it (a deviation needs others)
    min_series: int = 1
    # its trip time where no single PlausParams field is it (trip_time_field is then "")
    trip_time: Callable[[Chemistry, Scenario], float] | None = None

    def trip_time_s(self, chem: Chemistry, scn: Scenario) -> float:
        """The bound from its onset to its latch (s)."""
        if self.trip_time is not None:
            return self.trip_time(chem, scn)
        return float(getattr(chem.protection.plausibility, self.trip_time_field)) / 1000.0


def _switch_trip_s(chem: Chemistry, scn: Scenario) -> float:
    from bms.balancing import switch_trip_bound_s

    return switch_trip_bound_s(scn.balancing, scn.series, scn.dt_ms)


def _pressure_trip_s(chem: Chemistry, scn: Scenario) -> float:
    """A low stack pressure trips after its limit's trip debounce: the charge side's or the
    discharge side's (the firmware judges by the current's direction), the longer."""
    lim = chem.protection.limits
    return max(lim[q].trip.debounce_ms for q in ("pressure_min_charge", "pressure_min_discharge")) / 1000.0


FAULT_KINDS: dict[str, FaultKind] = {
    "open_sense_wire": FaultKind(
        "a cell's sense line opens: it reads ~0 V, its neighbour the sum",
        ("open_wire",),
        "cell",
        "open_wire_debounce_ms",
        True,
        "sensors",
        _to_sensors,
        onset.at_injection,
    ),
    "stuck_voltage": FaultKind(
        "a cell's reading freezes at its value",
        ("volt_stuck",),
        "cell",
        "stuck_debounce_ms",
        True,
        "sensors",
        _to_sensors,
        onset.stuck_repeats,
    ),
    "ntc_open": FaultKind(
        "a thermistor opens: it reads the coldest code",
        ("ntc_open",),
        "thermistor",
        "ntc_debounce_ms",
        True,
        "sensors",
        _to_sensors,
        onset.at_injection,
    ),
    "ntc_short": FaultKind(
        "a thermistor shorts: it reads the hottest code",
        ("ntc_short",),
        "thermistor",
        "ntc_debounce_ms",
        True,
        "sensors",
        _to_sensors,
        onset.at_injection,
    ),
    "current_offset": FaultKind(
        "the current sensor gains an offset",
        ("current_offset",),
        "pack",
        "offset_debounce_ms",
        True,
        "sensors",
        _to_sensors,
        onset.at_rest,
        5.0,  # A, above the 2 A zero-current check
    ),
    # a short that pulls a small element below the plausible range reads like an open sense
    # line (~0 V) or, debounced, an undervoltage: either way the pack is tripped
    "internal_short": FaultKind(
        "a hard internal short across an element",
        ("cell_deviation", "open_wire", "cell_uv"),
        "cell",
        "cell_dev_debounce_ms",
        True,
        "pack",
        _short,
        onset.cell_deviation,
        # ohm across the whole parallel group: a failed separator across the element (hard
        # short, ~1C of short current for a 100 Ah element) -- soft shorts of ohms are not
        # caught this fast
        0.02,
        # found by its deviation from the other elements: in a one-element pack nothing
        # compares, and a hard short is only an undervoltage once it has drained the element
        min_series=2,
    ),
    "cooling_loss": FaultKind(
        "the coolant pump stops",
        ("cooling",),
        "pack",
        "cooling_debounce_ms",
        True,
        "coolant",
        _stop_pump,
        onset.in_use,
    ),
    "comm_loss": FaultKind(
        "no measurements reach the firmware",
        ("stale",),
        "pack",
        "stale_timeout_ms",
        False,
        "link",
        _cut_link,
        onset.at_injection,
    ),
    "precharge_open": FaultKind(
        "the precharge path opens (its resistor or relay): the link cannot charge before closing",
        ("precharge",),
        "pack",
        "",
        False,  # the firmware's condition is the failed precharge: an event a reset acknowledges
        "contactors",
        _open_precharge,
        onset.precharge_blocked,
        trip_time=_precharge_trip_s,
    ),
    "charger_overshoot": FaultKind(
        "the charger delivers more than the limit by a factor",
        ("charge_overcurrent",),
        "pack",
        "ccl_excess_debounce_ms",
        False,
        "charger",
        _overshoot,
        onset.charger_excess,
        1.3,  # x the limit
    ),
    "charger_ignores_limit": FaultKind(
        "the charger delivers its own maximum",
        ("charge_overcurrent",),
        "pack",
        "ccl_excess_debounce_ms",
        False,
        "charger",
        _ignore_limit,
        onset.charger_excess,
    ),
    # a balancing switch that no longer follows its command (a MOSFET failed short or open,
    # a broken driver): one stuck on drains its element and shifts its reading by the bleed
    # current through the sense lines; one stuck off leaves its cell unbalanced. Both found by
    # the switch test (balancing.h), so only while balancing is on and the current steady
    "balancing_stuck_on": FaultKind(
        "a balancing switch conducts whatever it is told",
        ("balancing",),
        "cell",
        "",
        True,
        "pack",
        _switch_stuck_on,
        onset.switch_testable,
        trip_time=_switch_trip_s,
    ),
    "balancing_stuck_off": FaultKind(
        "a balancing switch never conducts",
        ("balancing",),
        "cell",
        "",
        True,
        "pack",
        _switch_stuck_off,
        onset.switch_testable,
        trip_time=_switch_trip_s,
    ),
    # a solid-state pack's module fixture (bms.plant.pressure): a strap or bolt yields and the
    # pressure relaxes to the chemistry's loss_residual_mpa (loss_tau_s): the contact shrinks,
    # R0 grows; the firmware's low-pressure limits see it on the module's load cell
    "pressure_loss": FaultKind(
        "a module's fixture yields: its stack pressure relaxes",
        ("pressure_low_charge", "pressure_low_discharge"),
        "module",
        "",
        True,
        "pack",
        _lose_pressure,
        onset.pressure_low,
        trip_time=_pressure_trip_s,
    ),
    "pressure_sensor_stuck": FaultKind(
        "a module's pressure reading freezes at its value",
        ("pressure_sensor",),
        "module",
        "stuck_debounce_ms",
        True,
        "sensors",
        _to_pressure_sensor,
        onset.stuck_repeats,
    ),
    "pressure_sensor_open": FaultKind(
        "a module's pressure transmitter loop opens: it reads -5 MPa (0 mA on 4-20 mA)",
        ("pressure_sensor",),
        "module",
        "sensor_debounce_ms",
        True,
        "sensors",
        _to_pressure_sensor,
        onset.at_injection,
    ),
}
# the kinds injected at a cell (a thermistor's fault too: at a sensed cell)
CELL_FAULTS = frozenset(k for k, r in FAULT_KINDS.items() if r.level in ("cell", "thermistor"))
# the kinds injected at a module of a pressed pack (they need a chemistry with [stack_pressure])
MODULE_FAULTS = frozenset(k for k, r in FAULT_KINDS.items() if r.level == "module")
CHARGER_FAULTS = tuple(k for k, r in FAULT_KINDS.items() if r.applied_to == "charger")
# the kinds only a balancing firmware can find (its switch test): a scenario with them balances
BALANCING_FAULTS = tuple(k for k, r in FAULT_KINDS.items() if "balancing" in r.caught_by)
# firmware faults about the pack as a whole (no cell to name): those that catch a pack-level
# kind, and those no kind injects (an overcurrent, a failed current sensor or precharge)
PACK_LEVEL_FAULTS = frozenset(
    {n for r in FAULT_KINDS.values() if r.level == "pack" for n in r.caught_by}
    | {"oc_charge", "oc_discharge", "current_sensor", "precharge"}
)


@dataclass(frozen=True)
class Fault:
    """A fault a scenario names (immutable: a run keeps its own Injection records)."""

    kind: str
    at_s: float
    cell: int | None = None
    value: float | None = None

    def magnitude(self) -> float:
        if self.value is not None:
            return self.value
        v = FAULT_KINDS[self.kind].default_value
        return float("nan") if v is None else v


@dataclass(slots=True)
class Injection:
    """One fault as a run injected it: when (time and step index), and what the run has
    judged of it since (its onset, the start of the interval in which it is observable)."""

    fault: Fault
    at_s: float  # when it was injected
    k: int  # the index of the first step it acts in
    onset_s: float | None = None  # when its condition became observable (None: not yet)
    observable_since: float | None = None  # start of the present observable interval
    prev_current_a: float | None = None  # the last step's true current (onsets that need it)
    onset_side: str | None = None  # the limit the present interval is judged by (pressure_low)

    @property
    def kind(self) -> str:
        return self.fault.kind

    @property
    def cell(self) -> int | None:
        return self.fault.cell

    def as_fault(self) -> Fault:
        """The scenario fault that repeats this injection."""
        return replace(self.fault, at_s=self.at_s)


def parse_fault(text: str) -> Fault:
    """KIND:AT_S[:CELL] as on the command line (a module-level kind: KIND:AT_S[:MODULE])."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise ConfigError(f"--fault '{text}': expected KIND:AT_S[:CELL or MODULE]")
    kind = parts[0]
    try:
        at_s = float(parts[1])
        cell = int(parts[2]) if len(parts) == 3 else None
    except ValueError:
        raise ConfigError(f"--fault '{text}': AT_S must be a number and CELL (MODULE) an integer") from None
    return Fault(kind=kind, at_s=at_s, cell=cell)


def _stack_pressure(chemistry: str | None) -> StackPressure | None:
    """The stack pressure of a chemistry (a name or a file), None without one."""
    if chemistry is None:
        return None
    from bms.chemistry import load_chemistry  # the chemistry is read only for module-level kinds

    return load_chemistry(chemistry).stack_pressure


def validate_faults(
    faults: Sequence[Fault],
    n_series: int,
    sensed: tuple[int, ...],
    duration_s: float,
    chemistry: str | None = None,
) -> None:
    """Each fault a kind, within the run, at a place the pack has. Module-level kinds need the
    chemistry (a name or a file; None: a pack that is not pressed, where they are refused)."""
    sp: StackPressure | None = None
    if any(f.kind in MODULE_FAULTS for f in faults):
        sp = _stack_pressure(chemistry)
    for k, f in enumerate(faults):
        where = f"faults[{k}]"
        if f.kind not in FAULT_KINDS:
            raise ConfigError(f"{where}.kind '{f.kind}' is not a fault kind; known: {', '.join(FAULT_KINDS)}")
        if not (math.isfinite(f.at_s) and 0.0 <= f.at_s <= duration_s):
            raise ConfigError(f"{where}.at_s must be within the run (0 .. {duration_s:g} s), got {f.at_s}")
        level = FAULT_KINDS[f.kind].level
        if level == "module":
            if sp is None:
                raise ConfigError(
                    f"{where}: fault '{f.kind}' needs a chemistry with [stack_pressure] "
                    f"({chemistry or 'none given'} has none)"
                )
            m = sp.n_modules(n_series)
            if f.cell is not None and not 0 <= f.cell < m:
                raise ConfigError(
                    f"{where}: module {f.cell} does not exist (modules 0..{m - 1}: {n_series} series "
                    f"elements in modules of {sp.cells_per_module})"
                )
        elif level != "pack":
            if f.cell is None:
                raise ConfigError(f"{where}: a {f.kind} fault needs a cell")
            if not 0 <= f.cell < n_series:
                raise ConfigError(f"{where}.cell {f.cell} does not exist (cells 0..{n_series - 1})")
            if level == "thermistor" and f.cell not in sensed:
                raise ConfigError(f"{where}.cell {f.cell} has no thermistor (sensed cells: {list(sensed)})")
        elif f.cell is not None:
            raise ConfigError(f"{where}: a {f.kind} fault is not at a cell; leave cell out")
        need = FAULT_KINDS[f.kind].min_series
        if n_series < need:
            raise ConfigError(
                f"{where}: a {f.kind} fault needs at least {need} series elements (the firmware "
                f"finds it by comparing them), the pack has {n_series}"
            )
        if f.value is not None and not (math.isfinite(f.value) and f.value > 0):
            raise ConfigError(f"{where}.value must be a positive number")
