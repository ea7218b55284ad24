"""The firmware's bounds table (native/src/config_check.c, `bms_config_field_info`) read
through cffi, and a cell file's values judged by it: one source of truth for the ranges the
firmware and the cell files accept (bms/firmware.py reports with it, bms/cells.py checks)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bms._native import ffi, lib
from bms.errors import ConfigError


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
    "hysteresis.m_v": "cell.hyst_m_v",
    "hysteresis.m0_v": "cell.hyst_m0_v",
    "hysteresis.gamma": "cell.hyst_gamma",
    **{f"thermal.{k}": f"thermal.{k}" for k in ("c_core_j_per_k", "c_surf_j_per_k")},
    **{f"thermal.{k}": f"thermal.{k}" for k in ("r_core_surf_k_per_w", "r_surf_amb_k_per_w")},
}


def check_bounds(key: str, value: Any, one_cell: bool, field_name: str = "") -> None:
    """A cell-file value (`key`: its place in the file) against the firmware's bounds of its
    field (`field_name`, default: the key's), every element of an array."""
    b = CONFIG_BOUNDS[field_name or CELL_FILE_FIELDS.get(key, key.replace("estimator.", "est."))]
    arr = np.atleast_1d(np.asarray(value, dtype=float))
    for idx, v in np.ndenumerate(arr):
        if not b.contains(float(v), cell=one_cell):
            at = "".join(f"[{i}]" for i in idx) if np.ndim(value) > 0 else ""
            what = "" if one_cell else " (a series element)"
            raise ConfigError(
                f"field '{key}{at}'{what} = {float(v):g} outside {b.interval(cell=one_cell)} (rule: {b.rule})"
            )
