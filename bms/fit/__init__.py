"""`bms fit`: the cell model from real lab files (see bms.fit.cell for the steps)."""

from bms.fit.cell import (
    DEFAULT_ACTIVATION_J_PER_MOL,
    MAX_ACTIVATION_J_PER_MOL,
    MAX_RESIDUAL_MV,
    FitQualityError,
    FitReport,
    fit_cell,
)
from bms.fit.ocv import choose_breakpoints, make_monotone
from bms.fit.thermal import CASING_HEAT_CAPACITY_SHARE, CORE_TO_AMBIENT_RESISTANCE_RATIO
from bms.fit.timeline import Segment, detect_segments

__all__ = [
    "CASING_HEAT_CAPACITY_SHARE",
    "CORE_TO_AMBIENT_RESISTANCE_RATIO",
    "DEFAULT_ACTIVATION_J_PER_MOL",
    "MAX_ACTIVATION_J_PER_MOL",
    "MAX_RESIDUAL_MV",
    "FitQualityError",
    "FitReport",
    "Segment",
    "choose_breakpoints",
    "detect_segments",
    "fit_cell",
    "make_monotone",
]
