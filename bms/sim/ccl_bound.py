"""The CCL's constraints recomputed from the chemistry and the pack (float64, vectorised over
a run): the independent bound property P2 of bms/sim/checks.py holds the firmware's CCL to.
The fast-charge and plating maps at every cell's SoC and core temperature, the temperature /
voltage derates, the hardware's and the charger's own limit; the charge temperature window,
the emergency faults and the opening timeout the contactor properties (P3) use."""

from __future__ import annotations

import numpy as np

from bms.chemistry import Chemistry
from bms.enums import FAULT_ID
from bms.sim.scenario import Scenario


def _map(soc: np.ndarray, temp_c: np.ndarray, soc_bp, temp_bp, tab) -> np.ndarray:
    """Bilinear over [temperature][soc], clamped at the edges; any array shape."""
    tab = np.atleast_2d(tab)
    soc = np.asarray(soc, dtype=float)
    if len(temp_bp) < 2:
        return np.interp(soc, soc_bp, tab[0])
    tc = np.clip(temp_c, temp_bp[0], temp_bp[-1])
    i = np.clip(np.searchsorted(temp_bp, tc, side="right") - 1, 0, len(temp_bp) - 2)
    w = (tc - temp_bp[i]) / (temp_bp[i + 1] - temp_bp[i])
    # each value interpolated along SoC in the two temperature rows around it only (a run
    # spans few of the rows: interpolating every row for every value costs most of the check)
    rows = np.unique(i.ravel()[:: max(1, i.size // 64)])  # a sample: most runs stay in one
    if len(rows) == 1 and np.all(i == rows[0]):
        r = int(rows[0])
        lo, hi = np.interp(soc, soc_bp, tab[r]), np.interp(soc, soc_bp, tab[r + 1])
        return lo * (1 - w) + hi * w
    lo, hi = np.empty(soc.shape), np.empty(soc.shape)
    for r in range(len(temp_bp) - 1):
        sel = i == r
        if sel.any():
            s = soc[sel]
            lo[sel] = np.interp(s, soc_bp, tab[r])
            hi[sel] = np.interp(s, soc_bp, tab[r + 1])
    return lo * (1 - w) + hi * w


def _derate(value: np.ndarray, derate: float, trip: float, is_max: bool) -> np.ndarray:
    v = np.asarray(value, dtype=float)
    with np.errstate(invalid="ignore"):
        if is_max:
            f = np.where(v <= derate, 1.0, np.where(v >= trip, 0.0, (trip - v) / (trip - derate)))
        else:
            f = np.where(v >= derate, 1.0, np.where(v <= trip, 0.0, (v - trip) / (derate - trip)))
    return np.where(np.isfinite(v), f, 1.0)


class Limits:
    """The chemistry's and the pack's constraints on the CCL, in amperes."""

    def __init__(self, scn: Scenario, chem: Chemistry) -> None:
        prot = chem.protection
        lim = prot.limits
        self.cap_ah = chem.cell.capacity_ah * scn.parallel
        m = prot.charge.maps
        self.maps = (m.soc, m.temp_c, m.charge_c, m.plating_c)
        self.hw_charge_max_a = scn.pack.hw_charge_max_a
        self.hw_a = min(scn.pack.hw_charge_max_a, lim["charge_c_rate_max"].derate.threshold * self.cap_ah)
        self.ramp_a_per_s = prot.charge.ramp_c_per_s * self.cap_ah
        self.v_charge_max = prot.charge.cell_v_charge_max_v
        # the charge completes at the target (mean SoC) and resumes below resume_soc, compared
        # in the firmware's float32
        self.target_soc = np.float32(prot.charge.target_soc)
        self.resume_soc = np.float32(prot.charge.resume_soc)
        self.derates = {
            name: (lim[name].derate.threshold, lim[name].trip.threshold, is_max)
            for name, is_max in (
                ("cell_v_max", True),
                ("core_temp_max_charge", True),
                ("surface_temp_max_charge", True),
                ("temp_min_charge", False),
                ("pressure_max", True),
            )
        }
        # a low stack pressure scales the plating (CCD) cap by its derate factor
        pm = lim["pressure_min_charge"]
        self.pressure_cap = (pm.derate.threshold, pm.trip.threshold, False)
        self.pressed = chem.stack_pressure is not None
        # the charge window closes at the trips' release bands (threshold -/+ hysteresis)
        t_min, core = lim["temp_min_charge"].trip, lim["core_temp_max_charge"].trip
        self.window_low = t_min.threshold + t_min.hysteresis
        self.window_high = core.threshold - core.hysteresis
        self.emergency = sum(1 << FAULT_ID[n] for n in prot.contactor.emergency_faults)
        self.opening_timeout_s = prot.contactor.opening_timeout_ms / 1000.0

    def plating_a(self, soc: np.ndarray, core_c: np.ndarray) -> np.ndarray:
        """Per step, the plating (CCD) map's smallest cap over the cells (A), at full contact.
        soc, core_c: (steps, cells)."""
        soc_bp, temp_bp, _, plat = self.maps
        return np.min(_map(soc, core_c, soc_bp, temp_bp, plat), axis=-1) * self.cap_ah

    def ccl_terms(
        self,
        soc: np.ndarray,
        core_c: np.ndarray,
        cell_v_max: np.ndarray,
        core_max_c: np.ndarray,
        temp_max_c: np.ndarray,
        temp_min_c: np.ndarray,
        charger_max_a: np.ndarray,
        pressure_min: np.ndarray | None = None,
        pressure_max: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Per step, each constraint on the CCL (A) by the firmware's name for it
        (bms_limiting_t): map, plating (the CCD cap at the contact the lowest stack pressure
        leaves: `pressure` when that scaling is in force), hardware (the pack's and the
        charger's), derate (the smallest of the derate factors), and of the derates the cold one
        (the lowest temperature's) and the temperature one (the core's and the surface's).
        soc, core_c: (steps, cells); the rest: (steps,); the pressures (the firmware's lowest
        and highest readings, NaN: none) None for a pack without pressure sensors."""
        soc_bp, temp_bp, chg, _ = self.maps
        soc = np.asarray(soc, dtype=float)
        core_c = np.asarray(core_c, dtype=float)
        values = {
            "cell_v_max": cell_v_max,
            "core_temp_max_charge": core_max_c,
            "surface_temp_max_charge": temp_max_c,
            "temp_min_charge": temp_min_c,
            "pressure_max": np.full(np.shape(temp_min_c), np.nan) if pressure_max is None else pressure_max,
        }
        fs = {n: _derate(values[n], *self.derates[n]) for n in self.derates}
        f_p = 1.0 if pressure_min is None else _derate(pressure_min, *self.pressure_cap)
        cmax = np.asarray(charger_max_a, dtype=float)
        hw = np.where(np.isfinite(cmax) & (cmax >= 0), np.minimum(self.hw_a, np.nan_to_num(cmax)), self.hw_a)
        t = {
            "map": np.min(_map(soc, core_c, soc_bp, temp_bp, chg), axis=-1) * self.cap_ah,
            "plating": self.plating_a(soc, core_c) * f_p,
            "derate": self.hw_charge_max_a * np.min(list(fs.values()), axis=0),
            "hardware": hw,
            "cold": self.hw_charge_max_a * fs["temp_min_charge"],
            "temperature": self.hw_charge_max_a
            * np.minimum(fs["core_temp_max_charge"], fs["surface_temp_max_charge"]),
        }
        # PRESSURE names either the CCD cap scaled by a low pressure or the over-pressure
        # derate: whichever of the two is in force (the other: no constraint)
        big = np.full(np.shape(t["hardware"]), np.inf)
        scaled = np.broadcast_to(np.asarray(f_p) < 1.0, big.shape)
        t["pressure"] = np.minimum(
            np.where(scaled, t["plating"], big),
            np.where(fs["pressure_max"] < 1.0, self.hw_charge_max_a * fs["pressure_max"], big),
        )
        return t

    def ccl_bound(
        self,
        soc: np.ndarray,
        core_c: np.ndarray,
        cell_v_max: np.ndarray,
        core_max_c: np.ndarray,
        temp_max_c: np.ndarray,
        temp_min_c: np.ndarray,
        charger_max_a: np.ndarray,
        pressure_min: np.ndarray | None = None,
        pressure_max: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per step: the smallest constraint on the CCL and its name. soc, core_c: (steps,
        cells); the rest: (steps,)."""
        t = self.ccl_terms(
            soc,
            core_c,
            cell_v_max,
            core_max_c,
            temp_max_c,
            temp_min_c,
            charger_max_a,
            pressure_min,
            pressure_max,
        )
        return self.bound_of(t)

    @staticmethod
    def bound_of(t: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The smallest of ccl_terms' map, plating, derate and hardware, and its name."""
        terms = np.stack([t["map"], t["plating"], t["derate"], t["hardware"]])
        k = np.argmin(terms, axis=0)
        names = np.array(["map", "plating", "derate", "hardware"])[k]
        return np.maximum(np.min(terms, axis=0), 0.0), names
