"""Injectable faults: what, when, where. Parsing of KIND:AT_S[:CELL] and validation."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bms.errors import ConfigError

# kind -> (what it does, the firmware fault(s) that must catch it)
FAULT_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "open_sense_wire": ("a cell's sense line opens: it reads ~0 V, its neighbour the sum", ("open_wire",)),
    "stuck_voltage": ("a cell's reading freezes at its value", ("volt_stuck",)),
    "ntc_open": ("a thermistor opens: it reads the coldest code", ("ntc_open",)),
    "ntc_short": ("a thermistor shorts: it reads the hottest code", ("ntc_short",)),
    "current_offset": ("the current sensor gains an offset", ("current_offset",)),
    # a short that pulls a small element below the plausible range reads like an open sense
    # line (~0 V) or, debounced, an undervoltage: either way the pack is tripped
    "internal_short": ("a hard internal short across an element", ("cell_deviation", "open_wire", "cell_uv")),
    "cooling_loss": ("the coolant pump stops", ("cooling",)),
    "comm_loss": ("no measurements reach the firmware", ("stale",)),
    "charger_overshoot": ("the charger delivers more than the limit by a factor", ("charge_overcurrent",)),
    "charger_ignores_limit": ("the charger delivers its own maximum", ("charge_overcurrent",)),
}
CELL_FAULTS = {"open_sense_wire", "stuck_voltage", "ntc_open", "ntc_short", "internal_short"}

# default magnitudes (the scenario may override them with `value`)
DEFAULT_VALUE = {
    "current_offset": 5.0,  # A, above the 2 A zero-current check
    # ohm across the whole parallel group: a failed separator across the element (hard short,
    # ~1C of short current for a 100 Ah element) -- soft shorts of ohms are not caught this fast
    "internal_short": 0.02,
    "charger_overshoot": 1.3,  # x the limit
}


@dataclass
class Fault:
    kind: str
    at_s: float
    cell: int | None = None
    value: float | None = None
    info: dict[str, float] = field(default_factory=dict)

    def magnitude(self) -> float:
        if self.value is not None:
            return self.value
        return DEFAULT_VALUE.get(self.kind, float("nan"))


def parse_fault(text: str) -> Fault:
    """KIND:AT_S[:CELL] as on the command line."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise ConfigError(f"--fault '{text}': expected KIND:AT_S[:CELL]")
    kind = parts[0]
    try:
        at_s = float(parts[1])
        cell = int(parts[2]) if len(parts) == 3 else None
    except ValueError:
        raise ConfigError(f"--fault '{text}': AT_S must be a number and CELL an integer") from None
    return Fault(kind=kind, at_s=at_s, cell=cell)


def validate_faults(faults: list[Fault], n_series: int, sensed: tuple[int, ...], duration_s: float) -> None:
    for k, f in enumerate(faults):
        where = f"faults[{k}]"
        if f.kind not in FAULT_KINDS:
            raise ConfigError(f"{where}.kind '{f.kind}' is not a fault kind; known: {', '.join(FAULT_KINDS)}")
        if not (math.isfinite(f.at_s) and 0.0 <= f.at_s <= duration_s):
            raise ConfigError(f"{where}.at_s must be within the run (0 .. {duration_s:g} s), got {f.at_s}")
        if f.kind in CELL_FAULTS:
            if f.cell is None:
                raise ConfigError(f"{where}: a {f.kind} fault needs a cell")
            if not 0 <= f.cell < n_series:
                raise ConfigError(f"{where}.cell {f.cell} does not exist (cells 0..{n_series - 1})")
            if f.kind in ("ntc_open", "ntc_short") and f.cell not in sensed:
                raise ConfigError(f"{where}.cell {f.cell} has no thermistor (sensed cells: {list(sensed)})")
        elif f.cell is not None:
            raise ConfigError(f"{where}: a {f.kind} fault is not at a cell; leave cell out")
        if f.value is not None and not (math.isfinite(f.value) and f.value > 0):
            raise ConfigError(f"{where}.value must be a positive number")
