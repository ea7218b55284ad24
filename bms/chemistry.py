"""Chemistry profiles (bms/data/chemistries/*.toml): a cell model plus the protection
numbers of the chemistry and its absolute maxima. Shared by the firmware and, later,
the simulated pack.

    [chemistry]   name, description, cell_file (a cell TOML, relative to this file)
    [abs_max]     cell_v, core_temp_c, temp_min_c: what must never happen to a real cell
    [limits.*]    tiered limits (see bms.protection.QUANTITIES)
    [charge]      current-limit parameters and [charge.map] (C-rate maps)
    [stack_pressure]  optional: the module fixture of a solid-state pack (bms.stack_pressure);
                  with it the pressure limits (limits.pressure_*) are required
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from bms.cells import CellModel, load_cell
from bms.errors import ConfigError
from bms.protection import ChargeParams, Protection, parse_limits
from bms.schema import in_file, number, read_toml_based, table
from bms.stack_pressure import StackPressure, parse_stack_pressure

CHEMISTRY_DIR = Path(str(resources.files("bms") / "data" / "chemistries"))


@dataclass
class AbsMax:
    cell_v: float
    core_temp_c: float
    temp_min_c: float


@dataclass
class Chemistry:
    name: str
    description: str
    cell: CellModel
    protection: Protection
    abs_max: AbsMax
    source: str
    # the module fixture and its pressure sensors (solid-state cells); None: not pressed
    stack_pressure: StackPressure | None = None


def available() -> list[str]:
    return sorted(p.stem for p in CHEMISTRY_DIR.glob("*.toml"))


def chemistry_from_dict(d: dict[str, Any], source: str, base: Path) -> Chemistry:
    with in_file(source):
        top = {"chemistry", "abs_max", "limits", "charge"}
        table(d, "top level", top | {"stack_pressure"}, top)
        ch = table(d["chemistry"], "chemistry", {"name", "description", "cell_file"}, {"name", "cell_file"})
        am_keys = ("cell_v", "core_temp_c", "temp_min_c")
        am = table(d["abs_max"], "abs_max", am_keys, am_keys)
        abs_max = AbsMax(*(number(am[k], f"abs_max.{k}") for k in am_keys))
        sp = parse_stack_pressure(d["stack_pressure"]) if "stack_pressure" in d else None
        limits = parse_limits(d["limits"], pressure=sp is not None)
        charge = ChargeParams.parse(d["charge"])
        prot = Protection(limits=limits, charge=charge)
        prot.check_against()
    cell = load_cell(base / str(ch["cell_file"]))
    if not abs_max.cell_v > limits["cell_v_max"].trip.threshold:
        raise ConfigError(f"{source}: 'abs_max.cell_v' must be above limits.cell_v_max.trip")
    if not abs_max.core_temp_c > limits["core_temp_max_charge"].trip.threshold:
        raise ConfigError(f"{source}: 'abs_max.core_temp_c' must be above limits.core_temp_max_charge.trip")
    return Chemistry(str(ch["name"]), str(ch.get("description", "")), cell, prot, abs_max, source, sp)


def load_chemistry(name_or_path: str | Path) -> Chemistry:
    """A shipped profile by name (see available()) or a TOML file path."""
    p = Path(name_or_path)
    if not p.suffix:
        p = CHEMISTRY_DIR / f"{name_or_path}.toml"
        if not p.is_file():
            raise ConfigError(f"unknown chemistry '{name_or_path}'; available: {', '.join(available())}")
    if not p.is_file():
        raise ConfigError(f"{p}: chemistry file not found")
    d = read_toml_based(p, "chemistry file", (("chemistry", "cell_file"),))
    return chemistry_from_dict(d, str(p), p.parent)
