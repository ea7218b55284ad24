"""An independent simulator for tests: the 2-RC equivalent circuit and the two-node
thermal model integrated as ODEs with scipy's adaptive Runge-Kutta (not the exact
discretisation the firmware uses), plus a characterisation protocol like the
reference's (rest, C/20 sweeps, HPPC blocks)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.integrate import solve_ivp

from bms.cells import CellModel, EstimatorParams, Hysteresis, ThermalParams


def ocv_fn(soc: np.ndarray | float) -> np.ndarray:
    """A smooth, strictly increasing OCV curve with NMC-like shape (V)."""
    s = np.asarray(soc, dtype=float)
    return 3.0 + 1.0 * s + 0.2 * np.tanh((s - 0.5) * 4.0) - 0.25 * np.exp(-12.0 * s) + 0.08 * s**4


@dataclass
class TruthCell:
    capacity_ah: float = 4.0
    r0: float = 0.020
    r1: float = 0.010
    tau1: float = 12.0
    r2: float = 0.015
    tau2: float = 300.0
    c_core: float = 50.0
    c_surf: float = 4.0
    r_cs: float = 2.0
    r_sa: float = 3.5
    ambient_c: float = 25.0
    # voltage hysteresis (Plett's one-state model in continuous time, integrated with the
    # rest: dh/dt = gamma |i| / Q (sgn - h), sgn = +1 charging; v += m0 s + m h)
    hyst_m: float = 0.0
    hyst_m0: float = 0.0
    hyst_gamma: float = 0.0
    h0: float = 0.0

    def cell_model(
        self, soc_grid: np.ndarray | None = None, estimator: EstimatorParams | None = None
    ) -> CellModel:
        """The same cell as firmware tables (one temperature row)."""
        g = np.linspace(0.0, 1.0, 21) if soc_grid is None else soc_grid
        ones = np.ones((1, len(g)))
        return CellModel(
            name="synthetic",
            capacity_ah=self.capacity_ah,
            coulombic_eff=1.0,
            v_min=2.75,
            v_max=4.3,
            soc=g,
            temp_c=np.array([25.0]),
            ocv_v=ocv_fn(g)[None, :],
            r0_ohm=self.r0 * ones,
            r1_ohm=self.r1 * ones,
            c1_f=(self.tau1 / self.r1) * ones,
            r2_ohm=self.r2 * ones,
            c2_f=(self.tau2 / self.r2) * ones,
            docv_dt_v_per_k=np.zeros(len(g)),
            thermal=ThermalParams(self.c_core, self.c_surf, self.r_cs, self.r_sa),
            estimator=estimator or EstimatorParams(),
            hysteresis=Hysteresis(np.array([self.hyst_m]), np.array([self.hyst_m0]), self.hyst_gamma),
        )


@dataclass
class Trace:
    t: list[float] = field(default_factory=list)
    i: list[float] = field(default_factory=list)
    v: list[float] = field(default_factory=list)
    soc: list[float] = field(default_factory=list)
    t_core: list[float] = field(default_factory=list)
    t_surf: list[float] = field(default_factory=list)
    h: list[float] = field(default_factory=list)

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self.__dict__.items()}


def simulate(
    cell: TruthCell,
    steps: list[tuple[float, float, float]],
    soc0: float,
    v_stop: tuple[float, float] | None = None,
) -> dict[str, np.ndarray]:
    """steps: (current_a, duration_s, sample_period_s). Returns the sampled trace.
    A step ends early when the voltage leaves v_stop = (v_min, v_max)."""
    x = np.array([soc0, 0.0, 0.0, cell.ambient_c, cell.ambient_c, cell.h0])
    tr = Trace()
    t_now = 0.0
    sign = float(np.sign(cell.h0))  # the instantaneous term's: +1 after a charge

    def terminal(state: np.ndarray, cur: float) -> float:
        hyst = cell.hyst_m0 * sign + cell.hyst_m * state[5]
        return float(ocv_fn(state[0]) + hyst - state[1] - state[2] - cell.r0 * cur)

    def rhs(_t: float, s: np.ndarray, cur: float) -> np.ndarray:
        q = cur * (ocv_fn(s[0]) - terminal(s, cur))
        return np.array(
            [
                -cur / (3600.0 * cell.capacity_ah),
                -s[1] / cell.tau1 + cur * cell.r1 / cell.tau1,
                -s[2] / cell.tau2 + cur * cell.r2 / cell.tau2,
                (q - (s[3] - s[4]) / cell.r_cs) / cell.c_core,
                ((s[3] - s[4]) / cell.r_cs - (s[4] - cell.ambient_c) / cell.r_sa) / cell.c_surf,
                cell.hyst_gamma * abs(cur) / (3600.0 * cell.capacity_ah) * (-np.sign(cur) - s[5]),
            ]
        )

    def record(t: float, s: np.ndarray, cur: float) -> None:
        tr.t.append(t)
        tr.i.append(cur)
        tr.v.append(terminal(s, cur))
        tr.soc.append(s[0])
        tr.t_core.append(s[3])
        tr.t_surf.append(s[4])
        tr.h.append(s[5])

    record(t_now, x, 0.0)
    for cur, dur, period in steps:
        if cur != 0.0:
            sign = -float(np.sign(cur))
        events = []
        if v_stop is not None and cur != 0.0:
            lo, hi = v_stop

            def ev(_t: float, s: np.ndarray, c: float = cur, lo: float = lo, hi: float = hi) -> float:
                v = terminal(s, c)
                return (v - lo) if c > 0 else (hi - v)

            ev.terminal = True  # type: ignore[attr-defined]
            events = [ev]
        n = max(1, round(dur / period))
        t_eval = t_now + np.linspace(period, n * period, n)
        sol = solve_ivp(
            rhs,
            (t_now, t_now + n * period),
            x,
            t_eval=t_eval,
            args=(cur,),
            rtol=1e-9,
            atol=1e-11,
            max_step=max(period, 1.0),
            events=events or None,
        )
        for k in range(sol.y.shape[1]):
            record(float(sol.t[k]), sol.y[:, k], cur)
        x = sol.y[:, -1]
        t_now = float(sol.t[-1])
    return tr.arrays()


def char_protocol(cell: TruthCell, n_hppc: int = 8) -> list[tuple[float, float, float]]:
    """The reference characterisation: rest, C/20 down, rest, C/20 up, rest, HPPC."""
    c = cell.capacity_ah
    steps: list[tuple[float, float, float]] = [
        (0.0, 3600.0, 60.0),
        (c / 20, 30 * 3600.0, 60.0),
        (0.0, 7200.0, 60.0),
        (-c / 20, 30 * 3600.0, 60.0),
        (0.0, 7200.0, 60.0),
    ]
    for _ in range(n_hppc):
        steps += [
            (c, 10.0, 1.0),
            (0.0, 40.0, 1.0),
            (-0.75 * c, 10.0, 1.0),
            (0.0, 40.0, 1.0),
            (0.5 * c, 720.0, 5.0),
            (0.0, 3600.0, 60.0),
        ]
    return steps
