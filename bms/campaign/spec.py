"""Campaign files (TOML): a base scenario, what to draw for each run, how many runs, a seed.
Validated on load: unknown keys, bad distributions and values that would give an invalid
scenario are refused naming the field and the rule.

    [campaign]  name, description, base (a shipped scenario name or a scenario TOML, relative
                to the campaign file), runs (>= 1), seed (>= 0)
    [sample]    scenario fields (as in a scenario file: top-level names, or [sample.spread],
                [sample.charger], ... for the sections) with a value or a distribution
                (see bms.campaign.distributions). `chemistry` takes names or chemistry TOML
                paths (relative to the campaign file). Unless `seed` is sampled, each run's
                scenario seed (sensor noise, cell spread) is drawn from the campaign seed.
    [faults]    kinds (list of fault kinds, one drawn per run), probability (that a run gets
                a fault; the runs without one are the false-trip control, default 1),
                at_s (value or distribution), cell (optional; default: uniform over the
                pack, over the cells with a thermistor for ntc_* faults), value (optional,
                for kinds with a magnitude)
    [abs_max]   cell_v, core_temp_c: the limits every run is judged against (each defaults
                to the run's chemistry [abs_max]; set them to the cell datasheet's when the
                chemistry file under test may itself be wrong)
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from bms.campaign.distributions import Choice, Distribution, Fixed, Normal, bounds, parse_distribution
from bms.chemistry import CHEMISTRY_DIR, load_chemistry
from bms.errors import ConfigError
from bms.plant.faults import CELL_FAULTS, FAULT_KINDS, Fault, validate_faults
from bms.schema import in_file, number, read_toml, table, text
from bms.sim.scenario import SECTIONS, TOP, Scenario, load_scenario, scenario_to_toml, validate

CAMPAIGN_DIR = Path(str(resources.files("bms") / "data" / "campaigns"))
NOT_SAMPLED = {"name", "description"}  # set by the campaign for each run
NTC_FAULTS = ("ntc_open", "ntc_short")


@dataclass(frozen=True)
class FaultPlan:
    kinds: tuple[str, ...]
    probability: float
    at_s: Distribution
    cell: Distribution | None = None
    value: Distribution | None = None


@dataclass
class Campaign:
    name: str
    description: str
    base_ref: str
    base: Scenario
    runs: int
    seed: int
    sample: dict[str, Distribution]  # "ambient_c", "spread.capacity", ... in file order
    faults: FaultPlan | None
    abs_max: dict[str, float]  # overrides: cell_v, core_temp_c
    source: str
    raw: dict[str, Any]

    def chemistries(self) -> list[str]:
        """Every chemistry a run of this campaign can use (names or absolute paths)."""
        d = self.sample.get("chemistry")
        if isinstance(d, Fixed):
            return [d.value]
        if isinstance(d, Choice):
            return list(dict.fromkeys(d.options))
        return [self.base.chemistry]


def field_kind(path: str) -> str | None:
    """'float' / 'int' / 'str' / 'bool' for a scenario field ('ambient_c', 'charger.tau_s'),
    None if there is no such field."""
    if "." in path:
        sec, name = path.split(".", 1)
        cls = SECTIONS.get(sec)
        if cls is None:
            return None
        types = {f.name: f.type for f in fields(cls)}
    else:
        if path in NOT_SAMPLED:
            return None
        name = path
        types = {f.name: f.type for f in fields(Scenario) if f.name in TOP}
    t = types.get(name)
    if t is None:
        return None
    t = str(t)
    for kind in ("bool", "int", "str"):
        if t == kind:
            return kind
    return "float"


def set_field(scn: Scenario, path: str, value: Any) -> Scenario:
    if "." in path:
        sec, name = path.split(".", 1)
        return replace(scn, **{sec: replace(getattr(scn, sec), **{name: value})})
    return replace(scn, **{path: value})


def _resolve_chemistry(value: str, base_dir: Path) -> str:
    if not Path(value).suffix:
        return value
    p = Path(value)
    return str(p if p.is_absolute() else (base_dir / p).resolve())


def _bounded(dist: Distribution, where: str) -> Distribution:
    """Every drawn field has a bounded valid range: a normal must say where it is clipped
    (its tails reach any value, e.g. a negative spread or a time before the run)."""
    if isinstance(dist, Normal) and dist.clip is None:
        raise ConfigError(
            f"field '{where}': normal needs clip = [lo, hi] (an unclipped normal can draw any value, "
            "outside the field's valid range)"
        )
    return dist


def _parse_sample(d: Any, base_dir: Path) -> dict[str, Distribution]:
    d = table(d, "sample", TOP | set(SECTIONS))
    out: dict[str, Distribution] = {}
    for key, v in d.items():
        if key in SECTIONS:
            sec = table(v, f"sample.{key}", [f.name for f in fields(SECTIONS[key])])
            items = [(f"{key}.{k}", x) for k, x in sec.items()]
        else:
            items = [(key, v)]
        for path, x in items:
            kind = field_kind(path)
            if kind is None:
                raise ConfigError(f"field 'sample.{path}' is not a scenario field that can be sampled")
            dist = _bounded(parse_distribution(x, kind, f"sample.{path}"), f"sample.{path}")
            if path == "chemistry":
                if isinstance(dist, Fixed):
                    dist = Fixed(_resolve_chemistry(dist.value, base_dir))
                elif isinstance(dist, Choice):
                    dist = Choice(tuple(_resolve_chemistry(c, base_dir) for c in dist.options))
            out[path] = dist
    return out


def _parse_faults(d: Any) -> FaultPlan:
    d = table(d, "faults", {"kinds", "probability", "at_s", "cell", "value"}, {"kinds", "at_s"})
    kinds = d["kinds"]
    if not isinstance(kinds, list) or not kinds:
        raise ConfigError("field 'faults.kinds' must be a non-empty list of fault kinds")
    for k in kinds:
        if k not in FAULT_KINDS:
            raise ConfigError(
                f"field 'faults.kinds': '{k}' is not a fault kind; known: {', '.join(FAULT_KINDS)}"
            )
    prob = number(d.get("probability", 1.0), "faults.probability", 0, 1)
    cell = None if "cell" not in d else parse_distribution(d["cell"], "int", "faults.cell")
    value = None
    if "value" in d:
        without = [k for k in kinds if FAULT_KINDS[k].default_value is None]
        if without:
            with_value = [k for k, row in FAULT_KINDS.items() if row.default_value is not None]
            raise ConfigError(
                f"field 'faults.value': {', '.join(without)} take no value "
                f"(only {', '.join(with_value)} have a magnitude)"
            )
        value = _bounded(parse_distribution(d["value"], "float", "faults.value"), "faults.value")
    return FaultPlan(
        kinds=tuple(kinds),
        probability=prob,
        at_s=_bounded(parse_distribution(d["at_s"], "float", "faults.at_s"), "faults.at_s"),
        cell=cell,
        value=value,
    )


def _check_limits(plan: dict[str, Distribution], faults: FaultPlan | None, base: Scenario) -> None:
    """Every bounded extreme of every sampled field must give a valid scenario (others at
    the base's values), and every fault kind must fit the base pack at the extremes of at_s."""
    for path, dist in plan.items():
        for v in bounds(dist):
            try:
                validate(set_field(base, path, v))
            except ConfigError as exc:
                raise ConfigError(f"field 'sample.{path}' = {v!r} gives an invalid scenario: {exc}") from None
            except TypeError:
                raise ConfigError(f"field 'sample.{path}' = {v!r} has the wrong type") from None
    if faults is None:
        return
    durations = [base.duration_s, *bounds(plan.get("duration_s", Fixed(base.duration_s)))]
    at_bounds = bounds(faults.at_s)
    if at_bounds:
        lo_duration = min(durations)
        bad = [a for a in at_bounds if not 0.0 <= a <= lo_duration]
        if bad:
            raise ConfigError(
                f"field 'faults.at_s': {bad[0]:g} s is outside the run (0 .. {lo_duration:g} s, the "
                "shortest duration_s)"
            )


def campaign_from_dict(d: dict[str, Any], source: str, base_dir: Path) -> Campaign:
    with in_file(source):
        return _campaign_from_dict(d, source, base_dir)


def _campaign_from_dict(d: dict[str, Any], source: str, base_dir: Path) -> Campaign:
    table(d, "top level", {"campaign", "sample", "faults", "abs_max"}, {"campaign"})
    top = table(d["campaign"], "campaign", {"name", "description", "base", "runs", "seed"}, {"base", "runs"})
    for k in ("name", "description", "base"):
        if k in top:
            text(top[k], f"campaign.{k}")
    runs = number(top["runs"], "campaign.runs", 1, integer=True)
    seed = number(top.get("seed", 0), "campaign.seed", 0, integer=True)
    base_ref = top["base"]
    base_path = Path(base_ref)
    try:
        if base_path.suffix and not base_path.is_absolute():
            base_path = base_dir / base_path
        base = load_scenario(base_path if base_path.suffix else base_ref)
    except ConfigError as exc:
        raise ConfigError(f"field 'campaign.base': {exc}") from None
    sample = _parse_sample(d.get("sample", {}), base_dir)
    faults = None if "faults" not in d else _parse_faults(d["faults"])
    am = table(d.get("abs_max", {}), "abs_max", {"cell_v", "core_temp_c"})
    abs_max = {k: number(v, f"abs_max.{k}", 0, lo_open=True) for k, v in am.items()}
    name = str(top.get("name", Path(source).stem))
    c = Campaign(
        name=name,
        description=str(top.get("description", "")),
        base_ref=base_ref,
        base=base,
        runs=runs,
        seed=seed,
        sample=sample,
        faults=faults,
        abs_max=abs_max,
        source=source,
        raw=d,
    )
    for chem in c.chemistries():
        try:
            load_chemistry(chem)
        except ConfigError as exc:
            raise ConfigError(f"field 'sample.chemistry': {exc}") from None
    _check_limits(sample, faults, base)
    if faults is not None:
        for kind in faults.kinds:
            cell = base.sensed[0] if kind in CELL_FAULTS else None
            at = bounds(faults.at_s)[0] if bounds(faults.at_s) else 0.0
            try:
                validate_faults(
                    [Fault(kind, at, cell)], base.series, base.sensed, base.duration_s, base.chemistry
                )
            except ConfigError as exc:
                raise ConfigError(f"field 'faults.kinds': {kind}: {exc}") from None
    return c


def campaign_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if not p.suffix:
        p = CAMPAIGN_DIR / f"{name_or_path}.toml"
        if not p.is_file():
            names = ", ".join(available())
            raise ConfigError(f"unknown campaign '{name_or_path}'; shipped: {names}")
    if not p.is_file():
        raise ConfigError(f"{p}: campaign file not found")
    return p


def available() -> list[str]:
    return sorted(p.stem for p in CAMPAIGN_DIR.glob("*.toml"))


def load_campaign(name_or_path: str | Path, runs: int | None = None) -> Campaign:
    """A shipped campaign by name (see available()) or a TOML file; `runs` overrides the
    file's number of runs (the first runs of a campaign do not depend on how many there are)."""
    p = campaign_path(name_or_path)
    c = campaign_from_dict(read_toml(p, "campaign file"), str(p), p.resolve().parent)
    if runs is not None:
        if runs < 1:
            raise ConfigError(f"--runs must be >= 1, got {runs}")
        c.runs = runs
    check_runs(c)
    return c


def check_runs(c: Campaign) -> None:
    """Draw every run's scenario (cheap: no simulation) and refuse the campaign if any is
    invalid, e.g. a fault cell that a drawn pack does not have: at load, not as a failed run."""
    from bms.campaign.sampling import sample_run

    for i in range(c.runs):
        try:
            sample_run(c, i)
        except ConfigError as exc:
            raise ConfigError(f"{c.source}: run {i} draws an invalid scenario: {exc}") from None


def chemistry_text(name_or_path: str) -> str:
    p = Path(name_or_path) if Path(name_or_path).suffix else CHEMISTRY_DIR / f"{name_or_path}.toml"
    return p.read_text()


def fingerprint(c: Campaign) -> str:
    """What the results of a campaign depend on, hashed: the file (less the number of runs),
    the base scenario and every chemistry file a run can use. An output folder holds the
    results of one fingerprint only."""
    raw = json.loads(json.dumps(c.raw, default=str))
    raw.get("campaign", {}).pop("runs", None)
    parts = {
        "campaign": raw,
        "base": tomllib.loads(scenario_to_toml(c.base)),  # as data: the text's key order varies
        "chemistries": {k: chemistry_text(k) for k in c.chemistries()},
    }
    blob = json.dumps(parts, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()
