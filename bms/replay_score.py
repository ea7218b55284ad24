"""Scoring a replay against the truth: the estimator's SoC and core-temperature errors and the
coulomb-counting baseline every estimator must beat, summed exactly so a streamed replay
scores to the bit as the whole log."""

from __future__ import annotations

import math

import numpy as np

from bms.cells import CellModel
from bms.errors import LogFormatError

SCORE_FROM_S = 300.0  # metrics skip the estimator's first 5 minutes (convergence)


class Score:
    """Squared and absolute errors of the scored rows, summed exactly (math.fsum, carried over
    chunks as a list of partials), so a streamed replay scores to the bit as the whole log.

    Beside the estimator it scores the baseline every estimator must beat: coulomb counting
    from the truth's first SoC with the cell's capacity and coulombic efficiency, over the
    same measured current (the firmware's convention: each row's current held over the
    interval before it)."""

    def __init__(self, capacity_ah: float, coulombic_eff: float) -> None:
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
        return out


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
) -> dict[str, float]:
    sc = Score(cell.capacity_ah, cell.coulombic_eff)
    t = log["time_s"]
    past = score_chunk(
        sc, t, soc, core_c, truth, np.zeros(len(t), bool) if bad is None else bad, log["current_a"]
    )
    return sc.metrics(past)
