"""Electrical pack plant: N series elements, each a parallel group of P cells lumped into
one equivalent circuit with aggregate parameters (capacity x P, resistances / P,
capacitances x P: identical cells in parallel share current equally in this model).

True parameters differ from the chemistry's nominal ones by a seeded manufacturing spread
and optional ageing. Exact zero-order-hold discretisation of the RC branches for any step.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from bms.cells import CellModel, Hysteresis
from bms.plant.tables import ENTROPIC, PatchLookup, TableSet

KELVIN = 273.15


@dataclass
class Spread:
    """1-sigma cell-to-cell variation (fractions) and ageing. Defaults: capacity 0.5 %,
    resistance 2 %, initial SoC 0.5 % (fresh automotive cells; Rumpf et al., J. Energy
    Storage 14 (2017) 224: capacity sigma/mean ~0.4 %, resistance ~1-2 %; Baumann et al., J.
    Energy Storage 18 (2018) 295)."""

    capacity: float = 0.005
    resistance: float = 0.02
    soc: float = 0.005
    capacity_fade: float = 0.0  # ageing: fraction of capacity lost (all elements)
    resistance_growth: float = 0.0  # ageing: fractional resistance increase
    # The plant's OCV curve where the firmware's table is not the truth (all 0: the table is):
    #   ocv_plant(soc, T) = ocv(soc, T) + offset_i + ocv_slope * (ocv(soc, T) - ocv(0.5, 25 C))
    # offset_i = ocv_offset_v + ocv_offset_cell_v * U(-1, 1) per element (seeded). An OCV table
    # is one branch or the mean of the charge and discharge curves, and an LFP cell's rested
    # OCV keeps a 5-25 mV gap between them (Roscher & Sauer, J. Power Sources 196 (2011) 331;
    # Marongiu et al., Appl. Energy 171 (2016) 629, the gap changing with ageing): about
    # +-10 mV from the table; the same order as the cell-to-cell OCV scatter of a batch
    # (Dubarry et al., J. Power Sources 196 (2011) 10328) and of a table fitted on another cell.
    # ocv_slope stretches the curve about its midpoint: ageing by loss of lithium inventory and
    # active material re-aligns the electrodes' potential curves, changing the full cell's
    # OCV-SoC slope by a few per cent over the life (Birkl et al., J. Power Sources 341 (2017)
    # 373); |ocv_slope| <= 0.03 is 0-36 mV at the ends of a 3.0-4.2 V curve.
    ocv_offset_v: float = 0.0  # signed, every element
    ocv_offset_cell_v: float = 0.0  # each element's own offset, uniform within +- this
    ocv_slope: float = 0.0  # signed: the curve stretched by 1 + ocv_slope about ocv(0.5, 25 C)
    # The plant's thermal network against the cell's two-node model the firmware is given
    # (1: the same): heat capacities of the core and the surface node, the core-to-surface
    # resistance and the surface's resistance to its surroundings (the cold plate and the
    # enclosure air together: both conductances / r_surf_amb_scale), each scaled on its own.
    # Lumped two-node fits of one cell type scatter by tens of per cent between methods and
    # cells (Forgez et al., J. Power Sources 195 (2010) 2961; Lin et al., J. Power Sources 257
    # (2014) 1), and a pack's thermal interface adds its own tolerance; +-30 % (issue 19) is an
    # assumption that covers those, not a measured bound.
    c_core_scale: float = 1.0
    c_surf_scale: float = 1.0
    r_core_surf_scale: float = 1.0
    r_surf_amb_scale: float = 1.0
    # self-discharge: a leakage current inside each element (A, the whole parallel group),
    # mean and cell-to-cell 1-sigma (drawn >= 0); separate from the internal-short fault.
    # Li-ion cells lose ~1-3 % a month at 25 degC, and a batch's rates scatter by about as
    # much as their mean (Zilberman et al., J. Energy Storage 26 (2019) 100900: 0.03-0.1 mA
    # per 3 Ah cell); what drives a pack apart is the spread
    self_discharge_a: float = 0.0
    self_discharge_spread_a: float = 0.0
    # the OCV's hysteresis (the cell file's [hysteresis], bms.cells.Hysteresis): the plant's
    # band against the file's (1: the same) and every element's state at the start (-1: it
    # last discharged, +1: it last charged; 0: halfway, as after a minor loop)
    hyst_scale: float = 1.0
    hyst_h0: float = 0.0
    # ... and a hysteresis the file does not state, added at every temperature (V; rate
    # hyst_gamma where the file has none). LFP cells keep a 5-25 mV gap between the branches
    # (Roscher & Sauer, J. Power Sources 196 (2011) 331): m + m0 up to ~12 mV. gamma 60 turns
    # h over within ~5 % of the capacity (1 - e^-3), as LFP's branches meet after a few per
    # cent (an assumption). hyst_told: the firmware's configuration states it too.
    hyst_m_v: float = 0.0
    hyst_m0_v: float = 0.0
    hyst_gamma: float = 60.0
    hyst_told: bool = False
    # a pressed solid-state pack (the chemistry's [stack_pressure]): every module fixture's
    # preload against the file's (1: as designed). A bolted fixture is set to a torque, not a
    # pressure, and relaxes as the stack creeps (ASSUMPTION: tens of per cent between modules
    # and over the first cycles; no measured distribution for such a module is known to us).
    preload_scale: float = 1.0


def plant_hysteresis(cell: CellModel, spread: Spread) -> Hysteresis:
    """The hysteresis the plant has: the cell file's scaled by spread.hyst_scale plus the
    spread's own (spread.hyst_m_v, hyst_m0_v at every temperature; its rate where the file
    states none)."""
    hy = cell.hysteresis
    m = np.asarray(hy.m_v, dtype=float) * spread.hyst_scale + spread.hyst_m_v
    m0 = np.asarray(hy.m0_v, dtype=float) * spread.hyst_scale + spread.hyst_m0_v
    gamma = float(hy.gamma) if hy.present else spread.hyst_gamma
    return Hysteresis(m, m0, gamma)


# the plant's table rows: R and C of the two RC branches adjacent, so that both branches
# are computed as one (2, n) array; the entropic coefficient looked up along with them
ROWS = ("ocv_v", "r0_ohm", "r1_ohm", "r2_ohm", "c1_f", "c2_f", ENTROPIC)


class PackPlant:
    def __init__(
        self,
        cell: CellModel,
        n_series: int,
        n_parallel: int,
        soc0: float,
        spread: Spread,
        rng: np.random.Generator,
    ) -> None:
        self.element = cell.scaled(n_parallel)
        self.n = n_series
        self.tables = TableSet(self.element)
        self._lookup = PatchLookup(self.tables, ROWS)
        self.coulombic_eff = self.element.coulombic_eff
        self.cap_ah = (
            self.element.capacity_ah
            * (1 - spread.capacity_fade)
            * (1 + spread.capacity * rng.standard_normal(n_series))
        )
        self.r_scale = (1 + spread.resistance_growth) * (
            1 + spread.resistance * rng.standard_normal(n_series)
        )
        self.soc = np.clip(soc0 + spread.soc * rng.standard_normal(n_series), 0.0, 1.0)
        # the OCV the firmware's table does not describe (Spread): drawn after the draws
        # above, and only when asked for, so a plant without it is the same plant
        self.ocv_offset_v = np.full(n_series, spread.ocv_offset_v)
        if spread.ocv_offset_cell_v > 0.0:
            self.ocv_offset_v += spread.ocv_offset_cell_v * rng.uniform(-1.0, 1.0, n_series)
        self.ocv_slope = spread.ocv_slope
        self.ocv_mid_v = float(self.tables.ocv(np.array([0.5]), np.array([25.0]))[0])
        self.ocv_error = bool(np.any(self.ocv_offset_v != 0.0) or self.ocv_slope != 0.0)
        # self-discharge (drawn last, and only when asked for: a plant without it is the same)
        self.leak_a = np.full(n_series, spread.self_discharge_a)
        if spread.self_discharge_spread_a > 0.0:
            self.leak_a = np.maximum(
                self.leak_a + spread.self_discharge_spread_a * rng.standard_normal(n_series), 0.0
            )
        # balancing: each element's bleed resistor behind its switch (set_balancing); a
        # switch stuck on conducts whatever it is told, one stuck off never
        self.bleed_ohm = np.inf
        self.sense_wire_ohm = 0.0
        self.bal_cmd = np.zeros(n_series, dtype=bool)
        self.stuck_on = np.zeros(n_series, dtype=bool)
        self.stuck_off = np.zeros(n_series, dtype=bool)
        self.bleed_ah = np.zeros(n_series)  # charge bled so far per element
        self.bleed_wh = 0.0  # energy burnt in the bleed resistors so far
        self._extra = bool(np.any(self.leak_a > 0.0))  # element currents differ from the pack's
        self.v_rc = np.zeros((2, n_series))  # the RC branches' voltages (v1, v2)
        # hysteresis (bms.cells.Hysteresis): per element, h and the instantaneous sign s
        hy = plant_hysteresis(self.element, spread)
        self.hyst = hy.present
        self.hyst_m_v = np.asarray(hy.m_v, dtype=float)
        self.hyst_m0_v = np.asarray(hy.m0_v, dtype=float)
        self.hyst_gamma = float(hy.gamma)
        self.hyst_h = np.full(n_series, float(np.clip(spread.hyst_h0, -1.0, 1.0)))
        self.hyst_s = np.full(n_series, float(np.sign(spread.hyst_h0)))
        # internal short across an element (set through short_circuit: any_short follows it)
        self.short_ohm = np.full(n_series, np.inf)
        self.any_short = False
        self._i_e: float | np.ndarray = 0.0  # element currents of the last step
        self._params: np.ndarray | None = None
        # each element's R0 multiplier (a solid-state pack's stack pressure, bms.plant.pressure:
        # set_r0_factor); None: none, and no multiplication at all (bit-identical without one)
        self.r0_factor: np.ndarray | None = None
        self.has_entropy = bool(np.any(self.tables.docv_dt != 0.0))
        self.v_term = self.terminal(0.0, np.full(n_series, 25.0))

    def set_balancing(self, bleed_ohm: float, sense_wire_ohm: float) -> None:
        """The pack's bleed resistors and sense-line resistance (balancing.BalancingSpec)."""
        self.bleed_ohm = bleed_ohm
        self.sense_wire_ohm = sense_wire_ohm

    def command_switches(self, cmd: np.ndarray) -> None:
        """The switches the firmware commanded for the coming interval."""
        self.bal_cmd = np.asarray(cmd, dtype=bool)
        self._extra = bool(self.bal_cmd.any() or self.stuck_on.any() or np.any(self.leak_a > 0.0))

    def conducting(self, discharge_permitted: bool = True) -> np.ndarray:
        """Which bleed switches conduct: during the interval (discharge_permitted) as
        commanded unless stuck; during a conversion with the bleeding paused, only the
        switches stuck on."""
        cmd = self.bal_cmd & ~self.stuck_off if discharge_permitted else np.zeros(self.n, dtype=bool)
        return cmd | self.stuck_on

    def bleed_a(self, discharge_permitted: bool = True) -> np.ndarray:
        """Each element's bleed current (A, > 0 drains it) through its resistor and both sense
        lines, at its present terminal voltage."""
        on = self.conducting(discharge_permitted)
        if not on.any():
            return np.zeros(self.n)
        return np.where(on, self.v_term / (self.bleed_ohm + 2.0 * self.sense_wire_ohm), 0.0)

    def sense_shift_v(self, discharge_permitted: bool) -> np.ndarray:
        """What the bleed currents through the shared sense lines add to each reading: its
        own 2 R_w I_b down, each neighbour's R_w I_b up (0 where nothing conducts)."""
        ib = self.bleed_a(discharge_permitted)
        if not ib.any():
            return np.zeros(self.n)
        nb = np.zeros(self.n)
        nb[1:] += ib[:-1]
        nb[:-1] += ib[1:]
        return self.sense_wire_ohm * (nb - 2.0 * ib)

    def set_r0_factor(self, factor: np.ndarray) -> None:
        """Each element's R0 multiplier from the next step on (the terminal voltage of the
        present state keeps the one it was computed with)."""
        self.r0_factor = np.asarray(factor, dtype=float)

    def _r0(self, p: np.ndarray) -> np.ndarray:
        """R0 of every element from a params() array: the table's, times r0_factor if set."""
        return p[1] if self.r0_factor is None else p[1] * self.r0_factor

    def short_circuit(self, element: int, ohm: float) -> None:
        """An internal short of `ohm` across a series element (inf: none)."""
        self.short_ohm[element] = ohm
        self.any_short = bool(np.isfinite(self.short_ohm).any())

    @property
    def i_elem(self) -> np.ndarray:
        """Current through each element over the last step (> 0 discharge)."""
        return np.broadcast_to(self._i_e, (self.n,)).astype(float)

    @property
    def v1(self) -> np.ndarray:
        return self.v_rc[0]

    @property
    def v2(self) -> np.ndarray:
        return self.v_rc[1]

    def params(self, temp_c: np.ndarray) -> np.ndarray:
        """(7, n) table values at the present SoC, rows as in ROWS. The end-of-step lookup of
        the last step is reused (its temperatures are a step old: a 0.1 s lag on the
        resistances' temperature)."""
        if self._params is not None:
            return self._params
        p = self._lookup(self.soc, temp_c)
        if self.ocv_error:
            p[0] += self.ocv_offset_v + self.ocv_slope * (p[0] - self.ocv_mid_v)
        if self.hyst:
            p[0] += self.hyst_v(temp_c)
        p[1:4] *= self.r_scale  # r0, r1, r2
        p[4:6] /= self.r_scale  # keep the time constants: C = tau / R
        return p

    def hyst_v(self, temp_c: np.ndarray) -> np.ndarray:
        """Each element's hysteresis voltage m0 s + m h at its temperature (V)."""
        t = self.element.temp_c
        m = np.interp(temp_c, t, self.hyst_m_v)
        m0 = np.interp(temp_c, t, self.hyst_m0_v)
        return m0 * self.hyst_s + m * self.hyst_h

    def _hyst_step(self, dt_s: float, i_e: float | np.ndarray) -> None:
        """h towards +1 on charge, -1 on discharge (Plett 2004): h' = a h + (1 - a) sgn with
        a = exp(-gamma eta |i| dt / Q); s follows the sign of any current above C/1000 (a
        self-discharge or leakage current does not set it: an assumption)."""
        i = np.broadcast_to(np.asarray(i_e, dtype=float), (self.n,))
        eta = np.where(i < 0.0, self.coulombic_eff, 1.0)
        a = np.exp(-self.hyst_gamma * eta * np.abs(i) * dt_s / (3600.0 * self.cap_ah))
        towards = np.where(i < 0.0, 1.0, -1.0)
        self.hyst_h = a * self.hyst_h + (1.0 - a) * towards
        moving = np.abs(i) > 1e-3 * self.cap_ah
        self.hyst_s = np.where(moving, towards, self.hyst_s)

    def terminal(self, current_a: float, temp_c: np.ndarray) -> np.ndarray:
        """Terminal voltages at the present state for a pack current (no state change)."""
        p = self.params(temp_c)
        return self._terminal(p[0], self._r0(p), current_a)

    def _terminal(self, ocv: np.ndarray, r0: np.ndarray, current_a: float | np.ndarray) -> np.ndarray:
        # an internal short R_s across the element draws V/R_s inside it:
        # V = ocv - v1 - v2 - r0 (I + V / R_s)  ->  V = (ocv - v1 - v2 - r0 I) / (1 + r0 / R_s)
        v = ocv - self.v_rc[0] - self.v_rc[1] - r0 * current_a
        # without a short the divisor is exactly 1
        return v / (1.0 + r0 / self.short_ohm) if self.any_short else v

    def step(self, dt_s: float, current_a: float, temp_core_c: np.ndarray) -> np.ndarray:
        """Advance by dt with a constant pack current (> 0 discharge). Returns the heat (W,
        mean over the step) generated in each element: Bernardi's I (OCV - V) integrated
        exactly over the step (the overpotential of every branch, as in lumped thermal
        models of the DFN), the entropic term and an internal short's dissipation.

        Not the resistors' v^2/R: with SoC-dependent R and C the ECM's capacitor energy
        1/2 C v^2 changes when the tables do, which is no physical energy; I (OCV - V) is
        the energy the terminals lose against the open-circuit voltage, so electric energy
        = chemical energy + heat holds exactly.

        Without a short every element carries the pack current: it stays a scalar here (the
        same numbers as a vector of it, with fewer array operations)."""
        p = self.params(temp_core_c)
        r0, r_rc, c_rc = self._r0(p), p[2:4], p[4:6]
        shorted = self.any_short
        v_start = self._terminal(p[0], r0, current_a) if shorted else self.v_term
        i_e: float | np.ndarray = current_a + v_start / self.short_ohm if shorted else current_a
        bleed = 0.0
        if self._extra:
            # the bleed current leaves through the terminals (its resistor is outside the
            # cell), the self-discharge stays inside: both drain the element
            ib = self.bleed_a()
            bleed = ib
            i_e = i_e + ib + self.leak_a
            if ib.any():
                self.bleed_ah += ib * (dt_s / 3600.0)
                self.bleed_wh += float(np.sum(ib * ib * self.bleed_ohm)) * dt_s / 3600.0
        v = self.v_rc
        tau = r_rc * c_rc
        # e = a - 1 = -g with g = 1 - a (accurate for dt << tau); the formulas below are
        # written with g and evaluated with -e, which is exact (a sign)
        e = np.expm1(-dt_s / tau)
        ri = r_rc * i_e
        # integral of v over the step for v' = (R i - v) / tau:  v0 tau g + R i (dt - tau g)
        free = v * tau * e  # -(v0 tau g)
        forced = ri * (dt_s + tau * e)
        int_v = forced[0] - free[0] - free[1] + forced[1]
        heat = r0 * (i_e * i_e) + i_e * int_v / dt_s
        if self.has_entropy:
            heat -= i_e * (temp_core_c + KELVIN) * p[6]  # dOCV/dT at the present SoC
        if self.hyst:
            # the hysteresis loop's energy is heat: I (OCV - V) over the branch offset
            heat = heat - i_e * self.hyst_v(temp_core_c)
        if shorted:
            heat += np.where(np.isfinite(self.short_ohm), v_start**2 / self.short_ohm, 0.0)
        if self._extra:
            # the bleed resistor's heat, all of it into its element (an upper bound: the board
            # sits on the module, part of its heat goes to the air; an assumption)
            heat = heat + bleed * bleed * self.bleed_ohm
        eff = self.coulombic_eff if current_a < 0.0 else 1.0
        soc = self.soc - eff * i_e * (dt_s / 3600.0) / self.cap_ah
        self.soc = np.minimum(np.maximum(soc, 0.0), 1.0)
        self.v_rc = v - e * (ri - v)  # v + g (R i - v)
        if self.hyst:
            self._hyst_step(dt_s, i_e)
        self._i_e = i_e
        self._params = None
        self._params = self.params(temp_core_c)
        self.v_term = self._terminal(self._params[0], self._r0(self._params), current_a + bleed)
        return heat

    def usable_capacity_ah(
        self, current_a: float, v_min: float, temp_c: np.ndarray, dt_s: float = 10.0
    ) -> float:
        """The charge a constant discharge current draws from the present state until the
        first element's terminal voltage reaches v_min, on a copy (this plant unchanged),
        at constant temperatures, balancing off; the last step interpolated to the crossing."""
        p = copy.deepcopy(self)
        p.command_switches(np.zeros(self.n, dtype=bool))
        p._params = None
        p.v_term = p.terminal(current_a, temp_c)
        ah = 0.0
        # no element holds twice its nominal charge: a bound on the steps
        for _ in range(int(2.0 * self.element.capacity_ah / (current_a * dt_s / 3600.0)) + 2):
            v0 = float(np.min(p.v_term))
            if v0 <= v_min:
                return ah
            p.step(dt_s, current_a, temp_c)
            v1 = float(np.min(p.v_term))
            if v1 <= v_min:
                return ah + current_a * dt_s / 3600.0 * (v0 - v_min) / (v0 - v1)
            ah += current_a * dt_s / 3600.0
            if np.all(p.soc <= 0.0):
                return ah
        return ah

    @property
    def capacity_total_ah(self) -> float:
        return float(np.min(self.cap_ah))
