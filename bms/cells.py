"""Cell parameter files (TOML): the equivalent-circuit model, thermal model and
estimator tuning the firmware is configured with, and their validation.

Layout (all tables are [temperature][soc]):

    [cell]       name, capacity_ah, coulombic_eff, v_min, v_max
    [tables]     soc, temp_c, ocv_v, r0_ohm, r1_ohm, c1_f, r2_ohm, c2_f, docv_dt_v_per_k
    [thermal]    c_core_j_per_k, c_surf_j_per_k, r_core_surf_k_per_w, r_surf_amb_k_per_w
    [estimator]  noise standard deviations (see EstimatorParams)
    [hysteresis] optional: m_v, m0_v (per temp_c), gamma (see Hysteresis)
    [fit]        optional, informational (what `bms fit` measured)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from bms.config_bounds import CONFIG_BOUNDS, FieldBound, check_bounds  # noqa: F401 (importable here too)
from bms.errors import ConfigError
from bms.schema import array, in_file, number, read_toml_based, section, table

MAX_SOC_PTS = 24
MAX_TEMP_PTS = 6
TABLE_NAMES = ("ocv_v", "r0_ohm", "r1_ohm", "c1_f", "r2_ohm", "c2_f")


@dataclass
class ThermalParams:
    """Two-node (core, surface) lumped thermal model of one cell."""

    c_core_j_per_k: float
    c_surf_j_per_k: float
    r_core_surf_k_per_w: float
    r_surf_amb_k_per_w: float


@dataclass
class Hysteresis:
    """The OCV's voltage hysteresis (native/include/bms/hysteresis.h; Plett, J. Power
    Sources 134 (2004) 277): v = ocv + m0 s + m h, h moving towards +1 on charge and -1 on
    discharge at the rate gamma per unit of charge over the capacity, s the sign of the last
    current (+1 after a charge). m_v and m0_v per temperature breakpoint (V), gamma
    dimensionless; all zero: none (the OCV table is then the whole rested voltage)."""

    m_v: Any = None  # per temp_c; None: zeros
    m0_v: Any = None
    gamma: float = 0.0

    @property
    def present(self) -> bool:
        return bool(np.any(np.asarray(self.m_v) > 0) or np.any(np.asarray(self.m0_v) > 0))


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
    # how long the model error lasts (s): the filter weighs the voltage by the information it
    # carries per second, not per sample (soc_ekf.c). `bms fit` measures it as the integral
    # time scale of its residual; 0 (a file without it) takes the model error as white.
    model_err_corr_s: float = 0.0
    # how long the current sensor's error (offset, gain: current_noise_a, current_gain_sigma)
    # lasts (s). An assumption, not a measurement: an offset drifts with the sensor's
    # temperature over about an hour of driving and is re-zeroed at rest (key-off); 0 takes
    # the current error as white.
    current_err_corr_s: float = 3600.0
    # The innovation monitor: the mean of innovation^2 over its stated variance (model error,
    # noise, state uncertainty), averaged over this window (s). 1 when the model explains the
    # voltage as well as it claims; above mismatch_nis the cell is flagged (the filter has been
    # inflating its voltage noise by that ratio all along and leans on coulomb counting).
    # 300 s: about one correlation time of a fitted ECM's error (the Panasonic and PyBaMM fits
    # measure 285-296 s), so the mean holds a couple of independent error samples; 9: a
    # persistent 3-sigma innovation, which a model that is right reaches with a chance of ~1e-4
    # over two independent samples (chi-square, 2 degrees of freedom, mean > 9: exp(-9)).
    mismatch_window_s: float = 300.0
    mismatch_nis: float = 9.0
    temp_init_sigma_degc: float = 1.0
    heat_noise_w: float = 0.5  # fit: the ohmic heat at 1C, R0 * I_1C^2
    temp_noise_degc: float = 0.3
    temp_spatial_sigma_degc: float = 1.0
    # How well the pack's surface-to-ambient path (ThermalParams.r_surf_amb_k_per_w: the cold
    # plate and the coolant) is known, relative 1-sigma. ASSUMPTION 0.5: forced convection in
    # the plate's channels goes as Re^0.8 (Dittus-Boelter), so a pump at 60 % of its nominal
    # flow leaves 0.66x the conductance, and the thermal interface (gap pad, its compression)
    # varies by some +-30 % from pack to pack; the two together ~0.45, rounded up.
    r_surf_amb_rel_sigma: float = 0.5
    # Online state of health (native/include/bms/soh.h): each cell's capacity and resistance
    # as scales of this model. soh_init_sigma: how far a cell may be from the model when the
    # BMS has learned nothing of it (no stored health), relative 1-sigma; 0 holds both at the
    # model's values. A cell file leaves it at 0: a model fitted on this very cell (`bms fit`,
    # `bms replay` of its own lab logs) knows its capacity; the pack configuration sets it (the
    # simulator's scenarios: 2 %, new cells of this type, Rumpf et al. 2017: capacity sigma
    # ~0.4 %; the aged-cycles preset, a pack of unknown age: 20 %, an end-of-life pack having
    # lost 20-30 %). The capacity's uncertainty also widens the SoC filter's charge count
    # (soc_ekf.c), so the filter leans on the voltage until the capacity is learned.
    soh_init_sigma: float = 0.0
    # the same for the resistance (held at 0 in a cell file); a pack of unknown age may have
    # doubled it (end of life), and the firmware judges a runaway charger with the upper bound
    # 1 + 3 sigma of what it has learned (soh.h), so this prior only makes it more cautious
    soh_r_init_sigma: float = 0.0
    # ageing between two updates (1 sigma, relative): well above a real drift (0.01-0.05 %
    # capacity per cycle, Schmalstieg et al. 2014) so the filters keep following; an assumption
    soh_rw: float = 0.002
    # rest before a voltage gives the SoC: the RC branches the model carries are subtracted,
    # what they miss (slow diffusion) has mostly relaxed after 15 min (Plett 2015, sec. 2.10)
    soh_rest_s: float = 900.0
    # SoC swing between two rests that updates the capacity: the OCV's error (~1 % SoC at each
    # end) is then < 10 % of the swing
    soh_min_dsoc: float = 0.2
    # current step between two samples that updates the resistance (0.1 C: a step of R0 *
    # 0.1 C is ~ 2-5 mV per cell, above the AFE noise after averaging over many steps)
    soh_step_c: float = 0.1


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
    hysteresis: Hysteresis = field(default_factory=Hysteresis)
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
            hysteresis=Hysteresis(
                self.hysteresis.m_v.copy(), self.hysteresis.m0_v.copy(), self.hysteresis.gamma
            ),
            parallel=self.parallel * parallel,
        )


def validate_cell(c: CellModel, source: str | None = None) -> None:
    """Check every rule the firmware relies on; raise ConfigError naming the field."""
    with in_file(source):
        _check_tables(c)
        number(c.capacity_ah, "cell.capacity_ah", 0, lo_open=True, unit="Ah")
        number(c.coulombic_eff, "cell.coulombic_eff", 0, 1, lo_open=True)
        number(c.v_min, "cell.v_min", 0, lo_open=True, unit="V")
        if not number(c.v_max, "cell.v_max") > c.v_min:
            raise ConfigError("field 'cell.v_max' must be above cell.v_min")
        for f in fields(ThermalParams):
            number(getattr(c.thermal, f.name), f"thermal.{f.name}", 0, lo_open=True)
        for f in fields(EstimatorParams):
            positive = f.name in ("soc_init_sigma", "temp_noise_degc")
            number(getattr(c.estimator, f.name), f"estimator.{f.name}", 0, lo_open=positive)
        _check_hysteresis(c)
        if c.estimator.voltage_noise_v + c.estimator.model_err_v <= 0:
            raise ConfigError("fields 'estimator.voltage_noise_v' + 'estimator.model_err_v' must be > 0")
        _check_physical(c)


def _check_tables(c: CellModel) -> None:
    """The breakpoints and tables: finite, their shapes, monotone, signs (as arrays in `c`)."""
    c.soc = array(c.soc, "tables.soc", 1)
    c.temp_c = array(c.temp_c, "tables.temp_c", 1)
    ns, nt = len(c.soc), len(c.temp_c)
    if not 2 <= ns <= MAX_SOC_PTS:
        raise ConfigError(f"field 'tables.soc' needs 2..{MAX_SOC_PTS} breakpoints, got {ns}")
    if not 1 <= nt <= MAX_TEMP_PTS:
        raise ConfigError(f"field 'tables.temp_c' needs 1..{MAX_TEMP_PTS} breakpoints, got {nt}")
    if np.any(np.diff(c.soc) <= 0) or c.soc[0] < 0 or c.soc[-1] > 1:
        raise ConfigError("field 'tables.soc' must be strictly increasing within [0, 1]")
    if np.any(np.diff(c.temp_c) <= 0):
        raise ConfigError("field 'tables.temp_c' must be strictly increasing")
    for name in TABLE_NAMES:
        arr = array(getattr(c, name), f"tables.{name}", 2)
        if arr.shape != (nt, ns):
            raise ConfigError(
                f"field 'tables.{name}' has shape {arr.shape[0]}x{arr.shape[1]} but the breakpoints "
                f"need {nt}x{ns} (len(temp_c) x len(soc))"
            )
        setattr(c, name, arr)
    for k in range(nt):
        d = np.diff(c.ocv_v[k])
        if np.any(d <= 0):
            j = int(np.argmax(d <= 0))
            raise ConfigError(
                f"field 'tables.ocv_v' must be strictly increasing in soc: at {c.temp_c[k]:g} °C, "
                f"soc {c.soc[j]:g} -> {c.soc[j + 1]:g} goes {c.ocv_v[k, j]:.4f} -> {c.ocv_v[k, j + 1]:.4f} V"
            )
    if np.any(c.r0_ohm < 0):
        raise ConfigError("field 'tables.r0_ohm' has a negative resistance")
    for name in ("r1_ohm", "r2_ohm", "c1_f", "c2_f"):
        if np.any(getattr(c, name) <= 0):
            raise ConfigError(f"field 'tables.{name}' must be positive everywhere")
    c.docv_dt_v_per_k = array(c.docv_dt_v_per_k, "tables.docv_dt_v_per_k", 1)
    if c.docv_dt_v_per_k.shape != (ns,):
        raise ConfigError(
            f"field 'tables.docv_dt_v_per_k' has {len(c.docv_dt_v_per_k)} values but 'tables.soc' has {ns}"
        )


def _check_hysteresis(c: CellModel) -> None:
    """The hysteresis: one value per temperature breakpoint each (zeros where not given)."""
    hy = c.hysteresis
    nt = len(c.temp_c)
    for name in ("m_v", "m0_v"):
        v = getattr(hy, name)
        arr = np.zeros(nt) if v is None else array(v, f"hysteresis.{name}", 1)
        if arr.shape != (nt,):
            raise ConfigError(f"field 'hysteresis.{name}' has {len(arr)} values but 'tables.temp_c' has {nt}")
        setattr(hy, name, arr)
    number(hy.gamma, "hysteresis.gamma", 0)


def _check_physical(c: CellModel) -> None:
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
        "hysteresis.m_v": c.hysteresis.m_v,
        "hysteresis.m0_v": c.hysteresis.m0_v,
        "hysteresis.gamma": c.hysteresis.gamma,
    }
    for key, value in values.items():
        check_bounds(key, value, one)
    # the voltage window is a window of the OCV
    for key in ("cell.v_min", "cell.v_max"):
        check_bounds(key, getattr(c, key.split(".")[1]), one, "cell.ocv_v")


def cell_from_dict(d: dict[str, Any], source: str = "<cell>") -> CellModel:
    with in_file(source):
        table(
            d,
            "top level",
            {"cell", "tables", "thermal", "estimator", "fit", "hysteresis"},
            {"cell", "tables", "thermal"},
        )
        cell = table(
            d["cell"],
            "cell",
            {"name", "capacity_ah", "coulombic_eff", "v_min", "v_max"},
            {"capacity_ah", "v_min", "v_max"},
        )
        tnames = {"soc", "temp_c", *TABLE_NAMES, "docv_dt_v_per_k"}
        tables = table(d["tables"], "tables", tnames, tnames - {"docv_dt_v_per_k"})
        n_soc = len(tables["soc"]) if isinstance(tables["soc"], list) else 0
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
            thermal=section(ThermalParams, d["thermal"], "thermal"),
            estimator=section(EstimatorParams, d.get("estimator", {}), "estimator"),
            fit=dict(table(d.get("fit", {}), "fit", None)),
            hysteresis=section(
                Hysteresis,
                d.get("hysteresis", {}),
                "hysteresis",
                parsers={"m_v": _vector, "m0_v": _vector},
            ),
        )


def _vector(v: Any, where: str) -> np.ndarray:
    return array(v, where, 1)


def load_cell(path: str | Path) -> CellModel:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: cell file not found")
    return cell_from_dict(read_toml_based(p, "cell file"), str(p))


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
    if c.hysteresis.present:
        d["hysteresis"] = {
            "m_v": [float(f"{x:.6g}") for x in c.hysteresis.m_v],
            "m0_v": [float(f"{x:.6g}") for x in c.hysteresis.m0_v],
            "gamma": float(f"{c.hysteresis.gamma:.6g}"),
        }
    if c.fit:
        d["fit"] = c.fit
    return d


def save_cell(c: CellModel, path: str | Path, header: str = "") -> None:
    text = tomli_w.dumps(cell_to_dict(c))
    if header:
        text = "".join(f"# {line}\n" for line in header.splitlines()) + text
    Path(path).write_text(text)
