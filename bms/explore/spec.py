"""Explorer files (TOML): which design points of the sulfide Li-metal cell to charge, and
against which target. Validated on load (unknown keys refused, each value's rule named).

    [explore]  name, description, scenario (a shipped scenario or a scenario TOML, relative to
               this file: pack, charger, SoC window, duration), target_min (the claim: minutes
               from the charge start to the target SoC), seed (the scenario seed of every
               point: one pack drawn once, so points differ only by their design)
    [axes]     areal_capacity_mah_cm2: cathode areal capacities (bms.assb_design's range)
               ccd_scale: the critical current density as a multiple of the literature's
                          CCD(T) (sulfide-assb.toml): what a better interface would allow
               pack_temp_c: the temperature the thermal system holds the pack at through the
                          charge (it starts there: preconditioned; heater and cooling bands
                          around it)
               charger_current_max_a (optional): the DC charger's current rating (default:
                          the scenario's charger)
               stack_preload_mpa (optional): the module fixtures' preload (the chemistry's
                          [stack_pressure] preload_mpa; default: the base's 2 MPa): below
                          full contact the firmware derates the CCD cap (limits.pressure_*)
               anode (optional): "li-metal" (the designs above; the default) and/or "si" (the
                          micro-silicon cell, sulfide-assb-si.toml, as shipped: no CCD to
                          scale and its own areal capacity, so only the temperature, charger
                          and preload axes apply to it)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from bms.assb_design import Q_MAX, Q_MIN
from bms.errors import ConfigError
from bms.schema import in_file, number, read_toml, table, text
from bms.sim.scenario import Scenario, load_scenario

EXPLORE_DIR = Path(str(resources.files("bms") / "data" / "explore"))
# the held pack temperature: inside the base chemistry's charge window with room for the bands
# (heater 3 K under, cooling 3 K over; the core derate starts at 75 C, the charge trip at 80 C)
TEMP_LO_C, TEMP_HI_C = 20.0, 72.0
CCD_SCALE_LO, CCD_SCALE_HI = 0.1, 20.0
CHARGER_A_LO, CHARGER_A_HI = 1.0, 3000.0
# a fixture's preload: above the base's yielded residual (0.1 MPa), up to a lab cell's tens of MPa
PRELOAD_LO_MPA, PRELOAD_HI_MPA = 0.2, 50.0
ANODES = ("li-metal", "si")
MAX_POINTS = 400


@dataclass(frozen=True)
class Exploration:
    name: str
    description: str
    scenario_ref: str
    base: Scenario
    target_min: float
    seed: int
    areal_capacity_mah_cm2: tuple[float, ...]
    ccd_scale: tuple[float, ...]
    pack_temp_c: tuple[float, ...]
    charger_current_max_a: tuple[float, ...] | None
    source: str
    sha256: str
    # the fixtures' preload (MPa); None: the base chemistry's
    stack_preload_mpa: tuple[float, ...] | None = None
    # the anodes (ANODES); None: the Li-metal cell's designs only
    anode: tuple[str, ...] | None = None

    @property
    def n_points(self) -> int:
        n_chg = len(self.charger_current_max_a) if self.charger_current_max_a else 1
        n_p = len(self.stack_preload_mpa) if self.stack_preload_mpa else 1
        anodes = self.anode or ("li-metal",)
        designs = len(self.areal_capacity_mah_cm2) * len(self.ccd_scale) if "li-metal" in anodes else 0
        return (designs + (1 if "si" in anodes else 0)) * len(self.pack_temp_c) * n_chg * n_p


def _axis(d: dict[str, Any], key: str, lo: float, hi: float, unit: str) -> tuple[float, ...]:
    v = d[key]
    if not isinstance(v, list) or not v:
        raise ConfigError(f"field 'axes.{key}' must be a non-empty list of numbers, got {v!r}")
    xs = tuple(number(x, f"axes.{key}", lo, hi, unit=unit) for x in v)
    if len(set(xs)) != len(xs):
        raise ConfigError(f"field 'axes.{key}' lists a value twice: {list(xs)}")
    return tuple(sorted(xs))


def _anodes(d: dict[str, Any]) -> tuple[str, ...]:
    v = d["anode"]
    if not isinstance(v, list) or not v or any(x not in ANODES for x in v) or len(set(v)) != len(v):
        raise ConfigError(f"field 'axes.anode' must list distinct anodes from {list(ANODES)}, got {v!r}")
    return tuple(a for a in ANODES if a in v)


def load_exploration(name_or_path: str | Path) -> Exploration:
    """A shipped exploration by name (bms/data/explore) or a file."""
    p = Path(name_or_path)
    if not p.suffix:
        p = EXPLORE_DIR / f"{name_or_path}.toml"
        if not p.is_file():
            names = ", ".join(sorted(f.stem for f in EXPLORE_DIR.glob("*.toml")))
            raise ConfigError(f"unknown exploration '{name_or_path}'; shipped: {names}")
    if not p.is_file():
        raise ConfigError(f"{p}: exploration file not found")
    raw = read_toml(p, "exploration file")
    with in_file(str(p)):
        table(raw, "exploration file", ("explore", "axes"), ("explore", "axes"), kind="section")
        e = table(
            raw["explore"],
            "explore",
            ("name", "description", "scenario", "target_min", "seed"),
            ("name", "scenario", "target_min", "seed"),
        )
        ax = table(
            raw["axes"],
            "axes",
            (
                "areal_capacity_mah_cm2",
                "ccd_scale",
                "pack_temp_c",
                "charger_current_max_a",
                "stack_preload_mpa",
                "anode",
            ),
            ("areal_capacity_mah_cm2", "ccd_scale", "pack_temp_c"),
        )
        ref = text(e["scenario"], "explore.scenario")
        scn_path = p.parent / ref if Path(ref).suffix else None
        base = load_scenario(scn_path if scn_path is not None else ref)
        out = Exploration(
            name=text(e["name"], "explore.name"),
            description=text(e.get("description", ""), "explore.description"),
            scenario_ref=str(scn_path) if scn_path is not None else ref,
            base=base,
            target_min=number(e["target_min"], "explore.target_min", 0.0, lo_open=True, unit="min"),
            seed=number(e["seed"], "explore.seed", 0, integer=True),
            areal_capacity_mah_cm2=_axis(ax, "areal_capacity_mah_cm2", Q_MIN, Q_MAX, "mAh/cm2"),
            ccd_scale=_axis(ax, "ccd_scale", CCD_SCALE_LO, CCD_SCALE_HI, "x the literature CCD"),
            pack_temp_c=_axis(ax, "pack_temp_c", TEMP_LO_C, TEMP_HI_C, "degC"),
            charger_current_max_a=(
                _axis(ax, "charger_current_max_a", CHARGER_A_LO, CHARGER_A_HI, "A")
                if "charger_current_max_a" in ax
                else None
            ),
            source=str(p),
            sha256=hashlib.sha256(p.read_bytes()).hexdigest(),
            stack_preload_mpa=(
                _axis(ax, "stack_preload_mpa", PRELOAD_LO_MPA, PRELOAD_HI_MPA, "MPa")
                if "stack_preload_mpa" in ax
                else None
            ),
            anode=_anodes(ax) if "anode" in ax else None,
        )
        if out.n_points > MAX_POINTS:
            raise ConfigError(f"section 'axes': {out.n_points} points, at most {MAX_POINTS}")
    return out
