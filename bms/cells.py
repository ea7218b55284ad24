"""Cell parameter files (TOML): the equivalent-circuit model, thermal model and
estimator tuning the firmware is configured with, and their validation.

Layout (all tables are [temperature][soc]):

    [cell]       name, capacity_ah, coulombic_eff, v_min, v_max
    [tables]     soc, temp_c, ocv_v, r0_ohm, r1_ohm, c1_f, r2_ohm, c2_f, docv_dt_v_per_k
    [thermal]    c_core_j_per_k, c_surf_j_per_k, r_core_surf_k_per_w, r_surf_amb_k_per_w
    [estimator]  noise standard deviations (see EstimatorParams)
    [fit]        optional, informational (what `bms fit` measured)
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from bms._native import ffi, lib
from bms.errors import ConfigError

MAX_SOC_PTS = 24
MAX_TEMP_PTS = 6
TABLE_NAMES = ("ocv_v", "r0_ohm", "r1_ohm", "c1_f", "r2_ohm", "c2_f")


@dataclass(frozen=True)
class FieldBound:
    """One row of the firmware's bounds table (native/src/config_check.c, read through
    cffi so a cell file is judged by the numbers the firmware checks). lo/hi bound a series
    element (a parallel group), cell_lo/cell_hi one cell of a cell file."""

    field: int
    name: str
    unit: str
    rule: str
    lo: float
    hi: float
    lo_incl: bool
    hi_incl: bool
    cell_lo: float
    cell_hi: float
    ranged: bool  # False: an integer field whose rules are in code

    def interval(self, cell: bool = False) -> str:
        lo, hi = (self.cell_lo, self.cell_hi) if cell else (self.lo, self.hi)
        unit = f" {self.unit}" if self.unit else ""
        return f"{'[' if self.lo_incl else '('}{lo:g}, {hi:g}{']' if self.hi_incl else ')'}{unit}"

    def contains(self, v: float, cell: bool = False) -> bool:
        lo, hi = (self.cell_lo, self.cell_hi) if cell else (self.lo, self.hi)
        if not math.isfinite(v):
            return False
        # the firmware compares in float32: so do we
        v, lo, hi = (float(np.float32(x)) for x in (v, lo, hi))
        return (v >= lo if self.lo_incl else v > lo) and (v <= hi if self.hi_incl else v < hi)


def _read_bounds() -> dict[str, FieldBound]:
    out = {}
    for f in range(int(lib.BMS_CFG_N_FIELDS)):
        r = lib.bms_config_field_info(f)
        name = ffi.string(r.name).decode()
        out[name] = FieldBound(
            field=f,
            name=name,
            unit=ffi.string(r.unit).decode(),
            rule=ffi.string(r.rule).decode(),
            lo=float(r.lo),
            hi=float(r.hi),
            lo_incl=bool(r.flags & lib.BMS_CFG_LO_INCL),
            hi_incl=bool(r.flags & lib.BMS_CFG_HI_INCL),
            cell_lo=float(r.cell_lo),
            cell_hi=float(r.cell_hi),
            ranged=r.shape != lib.BMS_CFG_SHAPE_INTEGER,
        )
    return out


# bms_config_t member path -> its bounds (e.g. "cell.capacity_ah", "est.heat_noise_w")
CONFIG_BOUNDS: dict[str, FieldBound] = _read_bounds()
# the firmware's field of each cell-file key
CELL_FILE_FIELDS = {
    "cell.capacity_ah": "cell.capacity_ah",
    "cell.coulombic_eff": "cell.coulombic_eff",
    "tables.soc": "cell.soc_bp",
    "tables.temp_c": "cell.temp_bp_degc",
    "tables.ocv_v": "cell.ocv_v",
    "tables.r0_ohm": "cell.r0_ohm",
    "tables.r1_ohm": "cell.r1_ohm",
    "tables.c1_f": "cell.c1_f",
    "tables.r2_ohm": "cell.r2_ohm",
    "tables.c2_f": "cell.c2_f",
    "tables.docv_dt_v_per_k": "cell.docv_dt_v_per_k",
    **{f"thermal.{k}": f"thermal.{k}" for k in ("c_core_j_per_k", "c_surf_j_per_k")},
    **{f"thermal.{k}": f"thermal.{k}" for k in ("r_core_surf_k_per_w", "r_surf_amb_k_per_w")},
}


def _check_bounds(key: str, value: Any, source: str | None, one_cell: bool, field_name: str = "") -> None:
    """A cell-file value against the firmware's bounds (every element of an array)."""
    b = CONFIG_BOUNDS[field_name or CELL_FILE_FIELDS.get(key, key.replace("estimator.", "est."))]
    arr = np.atleast_1d(np.asarray(value, dtype=float))
    for idx, v in np.ndenumerate(arr):
        if not b.contains(float(v), cell=one_cell):
            at = "".join(f"[{i}]" for i in idx) if np.ndim(value) > 0 else ""
            what = "" if one_cell else " (a series element)"
            raise ConfigError(
                f"{_where(source)}field '{key}{at}'{what} = {float(v):g} outside "
                f"{b.interval(cell=one_cell)} (rule: {b.rule})"
            )


@dataclass
class ThermalParams:
    """Two-node (core, surface) lumped thermal model of one cell."""

    c_core_j_per_k: float
    c_surf_j_per_k: float
    r_core_surf_k_per_w: float
    r_surf_amb_k_per_w: float


@dataclass
class EstimatorParams:
    """Kalman filter tuning, as 1-sigma values in physical units.

    Defaults describe an automotive BMS, not a particular log: cell-voltage AFE error
    ~2 mV (e.g. ADI LTC6813 datasheet: 2.2 mV max total error), pack current sensor
    gain 0.5 % (Isabellenhuette IVT-S class), NTC channel ~0.3 K. `bms fit` sets the
    cell-specific ones (current noise from the capacity, model error from its residual,
    heat uncertainty from R0).
    """

    soc_init_sigma: float = 0.10  # a voltage-based first guess is this good, or better
    v_rc_init_sigma_v: float = 0.02  # the first sample may be under load
    current_noise_a: float = 0.05  # offset + noise, ~1 % of 1C for a 5 Ah cell
    current_gain_sigma: float = 0.005
    soc_rw_per_sqrt_s: float = 2.0e-6  # capacity/ageing drift
    v_rc_rw_v_per_sqrt_s: float = 2.0e-4
    voltage_noise_v: float = 0.002
    model_err_v: float = 0.005  # ECM voltage error at low current (fit: its residual)
    # The ECM is identified from pulses of about 1C; at several C the Butler-Volmer and
    # diffusion nonlinearities change the effective R0 by tens of percent and the
    # polarisation by up to a factor of two, so those responses carry that uncertainty.
    r0_rel_sigma: float = 0.2
    rc_rel_sigma: float = 1.0
    # the predicted polarisation itself is uncertain (cell-to-cell resistance spread, the
    # diffusion the two RC branches only approximate): while it is large the voltage says
    # little about the SoC, so the filter leans on coulomb counting until it relaxes.
    # 0.3: a 30 % error of the polarisation, the size of the RC mismatch at several C seen
    # between the 1C-fitted ECM and the DFN reference
    rc_v_rel_sigma: float = 0.3
    temp_init_sigma_degc: float = 1.0
    heat_noise_w: float = 0.5  # fit: the ohmic heat at 1C, R0 * I_1C^2
    temp_noise_degc: float = 0.3
    temp_spatial_sigma_degc: float = 1.0


@dataclass
class CellModel:
    name: str
    capacity_ah: float
    coulombic_eff: float
    v_min: float
    v_max: float
    soc: np.ndarray
    temp_c: np.ndarray
    ocv_v: np.ndarray
    r0_ohm: np.ndarray
    r1_ohm: np.ndarray
    c1_f: np.ndarray
    r2_ohm: np.ndarray
    c2_f: np.ndarray
    docv_dt_v_per_k: np.ndarray
    thermal: ThermalParams
    estimator: EstimatorParams = field(default_factory=EstimatorParams)
    fit: dict[str, Any] = field(default_factory=dict)
    # 1: one cell (a cell file); p: the aggregate of p cells in parallel (scaled()), judged
    # by the firmware's series-element bounds instead of one cell's
    parallel: int = 1

    def __post_init__(self) -> None:
        validate_cell(self)

    def scaled(self, parallel: int) -> CellModel:
        """Aggregate of `parallel` identical cells in parallel (one series element)."""
        p = float(parallel)
        th = self.thermal
        return CellModel(
            name=f"{self.name} x{parallel}p",
            capacity_ah=self.capacity_ah * p,
            coulombic_eff=self.coulombic_eff,
            v_min=self.v_min,
            v_max=self.v_max,
            soc=self.soc.copy(),
            temp_c=self.temp_c.copy(),
            ocv_v=self.ocv_v.copy(),
            r0_ohm=self.r0_ohm / p,
            r1_ohm=self.r1_ohm / p,
            c1_f=self.c1_f * p,
            r2_ohm=self.r2_ohm / p,
            c2_f=self.c2_f * p,
            docv_dt_v_per_k=self.docv_dt_v_per_k.copy(),
            thermal=ThermalParams(
                c_core_j_per_k=th.c_core_j_per_k * p,
                c_surf_j_per_k=th.c_surf_j_per_k * p,
                r_core_surf_k_per_w=th.r_core_surf_k_per_w / p,
                r_surf_amb_k_per_w=th.r_surf_amb_k_per_w / p,
            ),
            estimator=EstimatorParams(
                **{
                    **asdict(self.estimator),
                    "current_noise_a": self.estimator.current_noise_a * p,
                    "heat_noise_w": self.estimator.heat_noise_w * p,
                }
            ),
            fit=dict(self.fit),
            parallel=self.parallel * parallel,
        )


def _where(source: str | None) -> str:
    return f"{source}: " if source else ""


def _finite_array(name: str, value: Any, ndim: int, source: str | None) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{_where(source)}field '{name}' must be numbers ({exc})") from None
    if arr.ndim != ndim:
        shape = "a list" if ndim == 1 else "a list of lists (one row per temperature)"
        raise ConfigError(f"{_where(source)}field '{name}' must be {shape}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{_where(source)}field '{name}' has a NaN or infinite value")
    return arr


def validate_cell(c: CellModel, source: str | None = None) -> None:
    """Check every rule the firmware relies on; raise ConfigError naming the field."""
    w = _where(source)
    c.soc = _finite_array("tables.soc", c.soc, 1, source)
    c.temp_c = _finite_array("tables.temp_c", c.temp_c, 1, source)
    ns, nt = len(c.soc), len(c.temp_c)
    if not 2 <= ns <= MAX_SOC_PTS:
        raise ConfigError(f"{w}field 'tables.soc' needs 2..{MAX_SOC_PTS} breakpoints, got {ns}")
    if not 1 <= nt <= MAX_TEMP_PTS:
        raise ConfigError(f"{w}field 'tables.temp_c' needs 1..{MAX_TEMP_PTS} breakpoints, got {nt}")
    if np.any(np.diff(c.soc) <= 0) or c.soc[0] < 0 or c.soc[-1] > 1:
        raise ConfigError(f"{w}field 'tables.soc' must be strictly increasing within [0, 1]")
    if np.any(np.diff(c.temp_c) <= 0):
        raise ConfigError(f"{w}field 'tables.temp_c' must be strictly increasing")
    for name in TABLE_NAMES:
        arr = _finite_array(f"tables.{name}", getattr(c, name), 2, source)
        if arr.shape != (nt, ns):
            raise ConfigError(
                f"{w}field 'tables.{name}' has shape {arr.shape[0]}x{arr.shape[1]} but the breakpoints "
                f"need {nt}x{ns} (len(temp_c) x len(soc))"
            )
        setattr(c, name, arr)
    for k in range(nt):
        d = np.diff(c.ocv_v[k])
        if np.any(d <= 0):
            j = int(np.argmax(d <= 0))
            raise ConfigError(
                f"{w}field 'tables.ocv_v' must be strictly increasing in soc: at {c.temp_c[k]:g} °C, "
                f"soc {c.soc[j]:g} -> {c.soc[j + 1]:g} goes {c.ocv_v[k, j]:.4f} -> {c.ocv_v[k, j + 1]:.4f} V"
            )
    if np.any(c.r0_ohm < 0):
        raise ConfigError(f"{w}field 'tables.r0_ohm' has a negative resistance")
    for name in ("r1_ohm", "r2_ohm", "c1_f", "c2_f"):
        if np.any(getattr(c, name) <= 0):
            raise ConfigError(f"{w}field 'tables.{name}' must be positive everywhere")
    c.docv_dt_v_per_k = _finite_array("tables.docv_dt_v_per_k", c.docv_dt_v_per_k, 1, source)
    if c.docv_dt_v_per_k.shape != (ns,):
        raise ConfigError(
            f"{w}field 'tables.docv_dt_v_per_k' has {len(c.docv_dt_v_per_k)} values but 'tables.soc' has {ns}"
        )
    _positive(c.capacity_ah, "cell.capacity_ah", source)
    if not (isinstance(c.coulombic_eff, int | float) and 0 < c.coulombic_eff <= 1):
        raise ConfigError(f"{w}field 'cell.coulombic_eff' must be in (0, 1], got {c.coulombic_eff!r}")
    _positive(c.v_min, "cell.v_min", source)
    if not (isinstance(c.v_max, int | float) and c.v_max > c.v_min):
        raise ConfigError(f"{w}field 'cell.v_max' must be above cell.v_min")
    for f in fields(ThermalParams):
        _positive(getattr(c.thermal, f.name), f"thermal.{f.name}", source)
    for f in fields(EstimatorParams):
        v = getattr(c.estimator, f.name)
        if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
            raise ConfigError(f"{w}field 'estimator.{f.name}' must be a finite number >= 0, got {v!r}")
    for name in ("soc_init_sigma", "temp_noise_degc"):
        if getattr(c.estimator, name) <= 0:
            raise ConfigError(f"{w}field 'estimator.{name}' must be > 0")
    if c.estimator.voltage_noise_v + c.estimator.model_err_v <= 0:
        raise ConfigError(f"{w}fields 'estimator.voltage_noise_v' + 'estimator.model_err_v' must be > 0")
    _check_physical(c, source)


def _check_physical(c: CellModel, source: str | None) -> None:
    """Every number against the firmware's physical bounds (one cell's, or a series
    element's for a parallel aggregate): what the firmware would refuse, refused here
    with the file's own key."""
    one = c.parallel == 1
    values: dict[str, Any] = {
        "cell.capacity_ah": c.capacity_ah,
        "cell.coulombic_eff": c.coulombic_eff,
        **{f"tables.{n}": getattr(c, n) for n in TABLE_NAMES},
        "tables.soc": c.soc,
        "tables.temp_c": c.temp_c,
        "tables.docv_dt_v_per_k": c.docv_dt_v_per_k,
        **{f"thermal.{k}": v for k, v in asdict(c.thermal).items()},
        **{f"estimator.{k}": v for k, v in asdict(c.estimator).items()},
    }
    for key, value in values.items():
        _check_bounds(key, value, source, one)
    # the voltage window is a window of the OCV
    for key in ("cell.v_min", "cell.v_max"):
        _check_bounds(key, getattr(c, key.split(".")[1]), source, one, "cell.ocv_v")


def _positive(v: Any, name: str, source: str | None) -> None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
        raise ConfigError(f"{_where(source)}field '{name}' must be a positive number, got {v!r}")


def _take(section: dict[str, Any], allowed: set[str], required: set[str], name: str, source: str) -> None:
    extra = set(section) - allowed
    if extra:
        raise ConfigError(f"{source}: unknown field(s) in [{name}]: {', '.join(sorted(extra))}")
    missing = required - set(section)
    if missing:
        raise ConfigError(f"{source}: missing field(s) in [{name}]: {', '.join(sorted(missing))}")


def cell_from_dict(d: dict[str, Any], source: str = "<cell>") -> CellModel:
    _take(
        d,
        {"cell", "tables", "thermal", "estimator", "fit"},
        {"cell", "tables", "thermal"},
        "top level",
        source,
    )
    for sec in ("cell", "tables", "thermal"):
        if not isinstance(d[sec], dict):
            raise ConfigError(f"{source}: [{sec}] must be a table")
    cell = d["cell"]
    _take(
        cell,
        {"name", "capacity_ah", "coulombic_eff", "v_min", "v_max"},
        {"capacity_ah", "v_min", "v_max"},
        "cell",
        source,
    )
    tables = d["tables"]
    tnames = {"soc", "temp_c", *TABLE_NAMES, "docv_dt_v_per_k"}
    _take(tables, tnames, tnames - {"docv_dt_v_per_k"}, "tables", source)
    th_names = {f.name for f in fields(ThermalParams)}
    _take(d["thermal"], th_names, th_names, "thermal", source)
    est = d.get("estimator", {})
    est_names = {f.name for f in fields(EstimatorParams)}
    _take(est, est_names, set(), "estimator", source)
    for name, v in list(d["thermal"].items()) + list(est.items()):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ConfigError(f"{source}: field '{name}' must be a number, got {v!r}")
    n_soc = len(tables["soc"]) if isinstance(tables["soc"], list) else 0
    try:
        return CellModel(
            name=str(cell.get("name", Path(source).stem)),
            capacity_ah=cell["capacity_ah"],
            coulombic_eff=cell.get("coulombic_eff", 1.0),
            v_min=cell["v_min"],
            v_max=cell["v_max"],
            soc=tables["soc"],
            temp_c=tables["temp_c"],
            ocv_v=tables["ocv_v"],
            r0_ohm=tables["r0_ohm"],
            r1_ohm=tables["r1_ohm"],
            c1_f=tables["c1_f"],
            r2_ohm=tables["r2_ohm"],
            c2_f=tables["c2_f"],
            docv_dt_v_per_k=tables.get("docv_dt_v_per_k", [0.0] * n_soc),
            thermal=ThermalParams(**d["thermal"]),
            estimator=EstimatorParams(**est),
            fit=dict(d.get("fit", {})),
        )
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def load_cell(path: str | Path) -> CellModel:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: cell file not found")
    return cell_from_dict(read_toml(p, "cell file"), str(p))


def read_toml(p: Path, what: str = "file") -> dict[str, Any]:
    """A TOML file's table (a UTF-8 BOM is fine), or a one-line ConfigError naming the file:
    unreadable, not UTF-8 text (a binary file), not TOML. Cell, chemistry, scenario and
    campaign files all come through here."""
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the {what} ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{p}: not a text (UTF-8) TOML {what}: byte {exc.start} is 0x{exc.object[exc.start]:02x}"
            " (a binary file?)"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None


def cell_to_dict(c: CellModel) -> dict[str, Any]:
    def rows(a: np.ndarray) -> list[list[float]]:
        return [[float(f"{x:.6g}") for x in r] for r in np.atleast_2d(a)]

    d: dict[str, Any] = {
        "cell": {
            "name": c.name,
            "capacity_ah": float(f"{c.capacity_ah:.6g}"),
            "coulombic_eff": float(c.coulombic_eff),
            "v_min": float(c.v_min),
            "v_max": float(c.v_max),
        },
        "tables": {
            "soc": [float(f"{x:.6g}") for x in c.soc],
            "temp_c": [float(f"{x:.6g}") for x in c.temp_c],
            **{name: rows(getattr(c, name)) for name in TABLE_NAMES},
            "docv_dt_v_per_k": [float(f"{x:.6g}") for x in c.docv_dt_v_per_k],
        },
        "thermal": {k: float(f"{v:.6g}") for k, v in asdict(c.thermal).items()},
        "estimator": {k: float(f"{v:.6g}") for k, v in asdict(c.estimator).items()},
    }
    if c.fit:
        d["fit"] = c.fit
    return d


def save_cell(c: CellModel, path: str | Path, header: str = "") -> None:
    text = tomli_w.dumps(cell_to_dict(c))
    if header:
        text = "".join(f"# {line}\n" for line in header.splitlines()) + text
    Path(path).write_text(text)
