"""A recorded fast-charge measurement sequence for SIL = PIL and the HIL benchmark.

The closed loop (bms.sim.loop.ClosedLoop) charges a 96s4p NMC811 pack (the shipped
`nmc811-graphite` chemistry, its plant, sensors and charger) from 35 % SoC for 10 minutes at
100 ms steps (6000 samples) with the in-process firmware: contactors open at rest, the
vehicle's close command before step CLOSE_AT, the link capacitor precharging, then the charger
following the charge current limit as the ramp, the fast-charge map and the highest cell's
voltage headroom take over. What the firmware was handed (configuration, every sample, the
command before each step) and what it answered is recorded; the recording is then fixed
data: replaying it into any target must give the same outputs as in-process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bms.firmware import Firmware
from bms.sim.loop import ClosedLoop
from bms.sim.scenario import Scenario
from bms.targets.base import Measurement, State

N_CELLS = 96
PARALLEL = 4
DT_MS = 100
N_STEPS = 6000
CLOSE_AT = 10  # the step the vehicle's close command precedes
SOC_START = 0.35


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
    fast_charge_in_s: np.ndarray
    sample_time_ms: np.ndarray
    commands: list[str | None] = field(default_factory=list)
    states: list[State] = field(default_factory=list, repr=False)  # the in-process target's

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
            fast_charge_in_s=float(self.fast_charge_in_s[k]),
            sample_time_ms=int(self.sample_time_ms[k]),
        )


class _RecordingFirmware(Firmware):
    """The in-process target, keeping what it is handed; a command is recorded with the step
    after it (a replayed STEP carries it and applies it just before the step)."""

    def __init__(self) -> None:
        super().__init__()
        self.config_bytes = b""
        self.meas: list[Measurement] = []
        self.commands: list[str | None] = []
        self.states: list[State] = []
        self._command: str | None = None

    def configure(self, config: bytes) -> None:
        self.config_bytes = config
        super().configure(config)

    def command(self, cmd: str) -> int:
        self._command = cmd
        return super().command(cmd)

    def step(self, dt_ms: int, meas: Measurement, command: str | None = None) -> State:
        state = super().step(dt_ms, meas, command)  # a command given here passes command()
        self.meas.append(meas)
        self.commands.append(self._command)
        self._command = None
        self.states.append(state)
        return state


def fastcharge_scenario(n_steps: int = N_STEPS, n_cells: int = N_CELLS, seed: int = 5) -> Scenario:
    """The recorded run: the charge never completes in it and the vehicle never opens."""
    return Scenario(
        name="silpil-fastcharge",
        description=f"{n_cells}s{PARALLEL}p fast charge from {SOC_START:.0%} SoC, recorded for SIL = PIL",
        series=n_cells,
        parallel=PARALLEL,
        soc_start=SOC_START,
        soc_target=0.95,
        duration_s=n_steps * DT_MS / 1000.0,
        seed=seed,
        dt_ms=DT_MS,
        close_at_s=(CLOSE_AT + 1) * DT_MS / 1000.0,
        stop_when_complete=False,
    )


def record_fastcharge(n_steps: int = N_STEPS, n_cells: int = N_CELLS, seed: int = 5) -> Recording:
    target = _RecordingFirmware()
    loop = ClosedLoop(fastcharge_scenario(n_steps, n_cells, seed), target)
    while loop.step() is not None:
        pass
    meas = target.meas
    n = len(meas)

    def col(name: str) -> np.ndarray:
        return np.array([getattr(m, name) for m in meas], dtype=np.float32)

    return Recording(
        config=target.config_bytes,
        n_cells=n_cells,
        n_sensors=len(meas[0].temp_degc),
        dt_ms=np.full(n, DT_MS, dtype=np.uint32),
        current_a=col("current_a"),
        cell_v=np.array([m.cell_v for m in meas], dtype=np.float32),
        temp_degc=np.array([m.temp_degc for m in meas], dtype=np.float32),
        pack_v=col("pack_v"),
        bus_v=col("bus_v"),
        ambient_degc=col("ambient_degc"),
        charger_max_a=col("charger_max_a"),
        coolant_flow_lpm=col("coolant_flow_lpm"),
        fast_charge_in_s=col("fast_charge_in_s"),
        sample_time_ms=np.array([m.sample_time_ms for m in meas], dtype=np.uint32),
        commands=target.commands,
        states=target.states,
    )
