"""A recorded fast-charge measurement sequence for SIL = PIL and the HIL benchmark.

Until the closed-loop simulator lands, this records what a 96s4p NMC811 pack (the shipped
`nmc811-graphite` chemistry) reports during 10 minutes of DC fast charge at 100 ms steps
(6000 samples): contactors open at rest, a close command at 1 s, the link capacitor
precharging (bus voltage rising with a 0.1 s time constant), then a charger that follows
the BMS's charge current limit with a 1 s lag and a 60 A/s ramp, so the current rises to
about 3C and tapers as the fast-charge map and the highest cell's voltage headroom take
over (CV-like), until the charge-complete SoC is reached.

The pack behind the readings: every cell is the chemistry's 2-RC equivalent circuit with
its own capacity (+-1 %), resistances (+-3 %) and initial SoC (+-1.5 %), a two-node thermal
model per cell cooled through the surface, and sensors with noise (cell voltages 0.3 mV,
current 0.05 A, thermistors 0.05 K at 8 cells along the string). The charger's current is
decided from the in-process firmware's limit at record time; the recording is then fixed
data: replaying it into any target must give the same outputs as in-process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bms._native import ffi
from bms.chemistry import load_chemistry
from bms.firmware import Firmware, PackLayout
from bms.targets.base import Measurement

N_CELLS = 96
PARALLEL = 4
SENSOR_CELLS = (0, 13, 27, 41, 55, 68, 82, 95)
DT_MS = 100
N_STEPS = 6000
CLOSE_AT = 10
AMBIENT_DEGC = 25.0
CHARGER_MAX_A = 200.0
CHARGER_TAU_S = 1.0
CHARGER_RAMP_A_PER_S = 60.0
PRECHARGE_TAU_S = 0.1
CONTACTOR_CLOSED = 2


@dataclass
class Recording:
    """One step per row; commands[k] is applied just before step k (None: no command)."""

    config: bytes
    n_cells: int
    n_sensors: int
    dt_ms: np.ndarray
    current_a: np.ndarray
    cell_v: np.ndarray  # (n, n_cells) float32
    temp_degc: np.ndarray  # (n, n_sensors) float32
    pack_v: np.ndarray
    bus_v: np.ndarray
    ambient_degc: np.ndarray
    charger_max_a: np.ndarray
    coolant_flow_lpm: np.ndarray
    sample_time_ms: np.ndarray
    commands: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.current_a)

    def measurement(self, k: int) -> Measurement:
        return Measurement(
            current_a=float(self.current_a[k]),
            cell_v=self.cell_v[k],
            temp_degc=self.temp_degc[k],
            ambient_degc=float(self.ambient_degc[k]),
            pack_v=float(self.pack_v[k]),
            bus_v=float(self.bus_v[k]),
            charger_max_a=float(self.charger_max_a[k]),
            coolant_flow_lpm=float(self.coolant_flow_lpm[k]),
            sample_time_ms=int(self.sample_time_ms[k]),
        )


def _interp2(
    table: np.ndarray, temp_bp: np.ndarray, soc_bp: np.ndarray, t: np.ndarray, s: np.ndarray
) -> np.ndarray:
    """Bilinear lookup of a [temp][soc] table at per-cell (t, s), clamped."""
    rows = np.array([np.interp(s, soc_bp, table[i]) for i in range(len(temp_bp))])  # (n_temp, n)
    if len(temp_bp) == 1:
        return rows[0]
    tc = np.clip(t, temp_bp[0], temp_bp[-1])
    j = np.clip(np.searchsorted(temp_bp, tc) - 1, 0, len(temp_bp) - 2)
    w = (tc - temp_bp[j]) / (temp_bp[j + 1] - temp_bp[j])
    idx = np.arange(len(s))
    return rows[j, idx] * (1 - w) + rows[j + 1, idx] * w


def record_fastcharge(n_steps: int = N_STEPS, n_cells: int = N_CELLS, seed: int = 5) -> Recording:
    chem = load_chemistry("nmc811-graphite")
    cell = chem.cell.scaled(PARALLEL)
    sensors = tuple(c for c in SENSOR_CELLS if c < n_cells) or (0,)
    fw = Firmware(cell, PackLayout(n_cells, sensors), chem.protection)
    config = bytes(ffi.buffer(fw.config))
    target = Firmware()
    target.configure(config)

    rng = np.random.default_rng(seed)
    cap_as = cell.capacity_ah * 3600.0 * (1 + 0.01 * rng.standard_normal(n_cells))
    r_scale = 1 + 0.03 * rng.standard_normal(n_cells)
    soc = np.clip(0.35 + 0.015 * rng.standard_normal(n_cells), 0.05, 0.95)
    v1 = np.zeros(n_cells)
    v2 = np.zeros(n_cells)
    t_core = np.full(n_cells, AMBIENT_DEGC)
    t_surf = np.full(n_cells, AMBIENT_DEGC)
    th = cell.thermal
    dt = DT_MS / 1000.0
    bus = 0.0
    i_chg = 0.0  # charger output (A, >= 0)
    ccl = 0.0
    contactor = 0

    rows = {k: [] for k in ("current", "cell_v", "temp", "pack", "bus", "flow")}
    commands: list[str | None] = []
    for k in range(n_steps):
        command = "close" if k == CLOSE_AT else None
        # the charger: follows the limit with a lag and a ramp, never above it
        if contactor == CONTACTOR_CLOSED:
            target_a = min(ccl, CHARGER_MAX_A)
            step_a = (target_a - i_chg) * (1 - np.exp(-dt / CHARGER_TAU_S))
            i_chg = min(i_chg + min(step_a, CHARGER_RAMP_A_PER_S * dt), target_a)
            i_chg = max(i_chg, 0.0)
        else:
            i_chg = 0.0
        current = -i_chg  # discharge positive
        # the cells over this step (exact ZOH of the RC branches at the step's current)
        r0 = _interp2(cell.r0_ohm, cell.temp_c, cell.soc, t_core, soc) * r_scale
        r1 = _interp2(cell.r1_ohm, cell.temp_c, cell.soc, t_core, soc) * r_scale
        r2 = _interp2(cell.r2_ohm, cell.temp_c, cell.soc, t_core, soc) * r_scale
        c1 = _interp2(cell.c1_f, cell.temp_c, cell.soc, t_core, soc)
        c2 = _interp2(cell.c2_f, cell.temp_c, cell.soc, t_core, soc)
        a1 = np.exp(-dt / (r1 * c1))
        a2 = np.exp(-dt / (r2 * c2))
        v1 = a1 * v1 + r1 * (1 - a1) * current
        v2 = a2 * v2 + r2 * (1 - a2) * current
        eff = np.where(current < 0, cell.coulombic_eff, 1.0)
        soc = soc - eff * current * dt / cap_as
        ocv = _interp2(cell.ocv_v, cell.temp_c, cell.soc, t_core, soc)
        v_true = ocv - current * r0 - v1 - v2
        heat = current**2 * r0 + np.abs(current * (v1 + v2))
        q_cs = (t_core - t_surf) / th.r_core_surf_k_per_w
        q_sa = (t_surf - AMBIENT_DEGC) / th.r_surf_amb_k_per_w
        t_core = t_core + dt * (heat - q_cs) / th.c_core_j_per_k
        t_surf = t_surf + dt * (q_cs - q_sa) / th.c_surf_j_per_k
        pack = float(np.sum(v_true))
        if contactor == 1 or contactor == CONTACTOR_CLOSED:  # precharge resistor, then closed
            bus = pack + (bus - pack) * float(np.exp(-dt / PRECHARGE_TAU_S)) if contactor == 1 else pack
        else:
            bus = bus * float(np.exp(-dt / 2.0))  # the link capacitor bleeds down
        # the sensors
        cell_v = (v_true + 0.0003 * rng.standard_normal(n_cells)).astype(np.float32)
        temp = (t_surf[list(sensors)] + 0.05 * rng.standard_normal(len(sensors))).astype(np.float32)
        meas_current = np.float32(current + 0.05 * rng.standard_normal())
        pack_v = np.float32(pack + 0.05 * rng.standard_normal())
        bus_v = np.float32(bus + 0.05 * rng.standard_normal())
        flow = np.float32(8.0 + 0.1 * rng.standard_normal())
        for key, val in (
            ("current", meas_current),
            ("cell_v", cell_v),
            ("temp", temp),
            ("pack", pack_v),
            ("bus", bus_v),
            ("flow", flow),
        ):
            rows[key].append(val)
        commands.append(command)
        meas = Measurement(
            float(meas_current),
            cell_v,
            temp,
            AMBIENT_DEGC,
            float(pack_v),
            float(bus_v),
            CHARGER_MAX_A,
            float(flow),
            (k + 1) * DT_MS,
        )
        state = target.step(DT_MS, meas, command)
        ccl = float(state.ccl_a)
        contactor = int(state.contactor_state)

    n = n_steps
    return Recording(
        config=config,
        n_cells=n_cells,
        n_sensors=len(sensors),
        dt_ms=np.full(n, DT_MS, dtype=np.uint32),
        current_a=np.array(rows["current"], dtype=np.float32),
        cell_v=np.array(rows["cell_v"], dtype=np.float32),
        temp_degc=np.array(rows["temp"], dtype=np.float32),
        pack_v=np.array(rows["pack"], dtype=np.float32),
        bus_v=np.array(rows["bus"], dtype=np.float32),
        ambient_degc=np.full(n, AMBIENT_DEGC, dtype=np.float32),
        charger_max_a=np.full(n, CHARGER_MAX_A, dtype=np.float32),
        coolant_flow_lpm=np.array(rows["flow"], dtype=np.float32),
        sample_time_ms=(np.arange(1, n + 1, dtype=np.int64) * DT_MS).astype(np.uint32),
        commands=commands,
    )
