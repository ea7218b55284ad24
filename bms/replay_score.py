"""Scoring a replay against the truth: the estimator's SoC and core-temperature errors and the
coulomb-counting baseline every estimator must beat, summed exactly so a streamed replay
scores to the bit as the whole log."""

from __future__ import annotations

import math

import numpy as np

from bms.cells import CellModel
from bms.errors import LogFormatError

SCORE_FROM_S = 300.0  # metrics skip the estimator's first 5 minutes (convergence)
# A started-wrong estimator has converged once its SoC stays within this of the truth.
CONVERGED_SOC = 0.02


class Score:
    """Squared and absolute errors of the scored rows, summed exactly (math.fsum, carried over
    chunks as a list of partials), so a streamed replay scores to the bit as the whole log.

    Beside the estimator it scores the baseline every estimator must beat: coulomb counting
    from the truth's first SoC with the cell's capacity and coulombic efficiency, over the
    same measured current (the firmware's convention: each row's current held over the
    interval before it)."""

    def __init__(self, capacity_ah: float, coulombic_eff: float, convergence: bool = False) -> None:
        self.convergence = convergence
        self.first_t: float | None = None
        self.settled_t: float | None = None  # the first row after the last one outside the band
        self.capacity_ah = capacity_ah
        self.coulombic_eff = coulombic_eff
        self.n = 0
        self.n_core = 0
        self.sq = {"soc": [0.0], "core": [0.0], "cc": [0.0]}
        self.mx = {"soc": 0.0, "core": 0.0, "cc": 0.0}
        self.cc_last: float | None = None  # coulomb-counted SoC at the last row seen
        self.t_last: float | None = None

    @staticmethod
    def _exact_add(partials: list[float], values: np.ndarray) -> list[float]:
        items = [*partials, *values.tolist()]
        out: list[float] = []
        for _ in range(8):  # each round takes the rounded sum out; 2-3 rounds leave 0
            s = math.fsum([*items, *(-x for x in out)])
            if s == 0.0:
                break
            out.append(s)
        return out or [0.0]

    def _add(self, key: str, e: np.ndarray) -> None:
        if len(e):
            self.sq[key] = self._exact_add(self.sq[key], e**2)
            self.mx[key] = max(self.mx[key], float(np.max(np.abs(e))))

    def coulomb_count(self, time_s: np.ndarray, current_a: np.ndarray, soc_true: np.ndarray) -> np.ndarray:
        """The baseline's SoC over a chunk, carried on from the previous chunk."""
        t = time_s if self.t_last is None else np.concatenate([[self.t_last], time_s])
        dt = np.diff(t, prepend=t[0])[-len(time_s) :]
        eff = np.where(current_a < 0, self.coulombic_eff, 1.0)
        dsoc = -eff * current_a * dt / (3600.0 * self.capacity_ah)
        start = float(soc_true[0]) if self.cc_last is None else self.cc_last
        cc = np.cumsum(np.concatenate([[start], dsoc]))[1:]
        self.cc_last, self.t_last = float(cc[-1]), float(time_s[-1])
        return cc

    def add(self, es: np.ndarray, et: np.ndarray, ecc: np.ndarray) -> None:
        self.n += len(es)
        self._add("soc", es)
        self._add("cc", ecc)
        known = np.isfinite(et)
        self.n_core += int(known.sum())
        self._add("core", et[known])

    def metrics(self, any_rows_past_start: bool) -> dict[str, float]:
        if not any_rows_past_start:
            raise LogFormatError(f"the log is shorter than {SCORE_FROM_S:.0f} s: nothing to score")
        if self.n == 0:
            raise LogFormatError(
                f"every row from {SCORE_FROM_S:.0f} s on is flagged unusable by the firmware: "
                "nothing to score"
            )
        out = {
            "soc_rmse": math.sqrt(math.fsum(self.sq["soc"]) / self.n),
            "soc_max_abs": self.mx["soc"],
        }
        if self.n_core:
            out["core_temp_rmse_c"] = math.sqrt(math.fsum(self.sq["core"]) / self.n_core)
            out["core_temp_max_abs_c"] = self.mx["core"]
        out["soc_rmse_coulomb"] = math.sqrt(math.fsum(self.sq["cc"]) / self.n)
        out["soc_max_abs_coulomb"] = self.mx["cc"]
        if self.convergence:
            # seconds from the log's start until the estimate stays within CONVERGED_SOC
            # of the truth; None (null) if it is outside at the last row
            out["soc_converged_s"] = None if self.settled_t is None else self.settled_t - float(self.first_t)
        return out

    def track(self, time_s: np.ndarray, err: np.ndarray, usable: np.ndarray) -> None:
        """Follow |error| > CONVERGED_SOC over every usable row (from the first, not only the
        scored ones)."""
        if not len(time_s):
            return
        if self.first_t is None:
            self.first_t = self.settled_t = float(time_s[0])
        elif self.settled_t is None:  # the previous chunk ended outside the band
            self.settled_t = float(time_s[0])
        outside = np.flatnonzero(usable & (np.abs(err) > CONVERGED_SOC))
        if len(outside):
            j = int(outside[-1])
            self.settled_t = float(time_s[j + 1]) if j + 1 < len(time_s) else None


def score_chunk(
    sc: Score,
    time_s: np.ndarray,
    soc: np.ndarray,
    core: np.ndarray,
    truth: dict[str, np.ndarray],
    bad: np.ndarray,
    current_a: np.ndarray,
) -> bool:
    cc = sc.coulomb_count(time_s, current_a, truth["soc_true"])
    if sc.convergence:
        sc.track(time_s, soc - truth["soc_true"], ~bad)
    past = time_s >= SCORE_FROM_S
    m = past & ~bad
    sc.add(
        soc[m] - truth["soc_true"][m], core[m] - truth["core_temp_c_true"][m], cc[m] - truth["soc_true"][m]
    )
    return bool(past.any())


def score(
    log: dict[str, np.ndarray],
    soc: np.ndarray,
    core_c: np.ndarray,
    truth: dict[str, np.ndarray],
    cell: CellModel,
    bad: np.ndarray | None = None,
    convergence: bool = False,
) -> dict[str, float]:
    sc = Score(cell.capacity_ah, cell.coulombic_eff, convergence)
    t = log["time_s"]
    past = score_chunk(
        sc, t, soc, core_c, truth, np.zeros(len(t), bool) if bad is None else bad, log["current_a"]
    )
    return sc.metrics(past)
