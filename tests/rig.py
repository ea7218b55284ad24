"""A small firmware test rig: the shipped NMC chemistry on 8 series cells with three
thermistors, nominal measurements that respond to the current like real cells, and
helpers to close the contactors and to step with a modified measurement."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from bms.chemistry import Chemistry, load_chemistry
from bms.firmware import Firmware, PackLayout

N_CELLS = 8
SENSORS = (0, 3, 7)
DT_MS = 100
R_CELL = 0.004  # ohm: how the nominal readings respond to the current


@dataclass
class Meas:
    current_a: float = 0.0
    cell_v: np.ndarray = field(default_factory=lambda: np.full(N_CELLS, 3.7))
    temp_degc: np.ndarray = field(default_factory=lambda: np.full(len(SENSORS), 25.0))
    pack_v: float | None = None  # None: the sum of the cells (a healthy HV measurement)
    bus_v: float | None = None  # None: equal to the pack (precharged link)
    freeze_sample: bool = False
    flow_lpm: float = 10.0  # coolant flow of a running pump
    comm_lost: int = 0  # bus partners past their message timeout (can_layer.h)


class Rig:
    def __init__(self, chemistry: str = "nmc811-graphite", parallel: int = 1) -> None:
        self.chem: Chemistry = load_chemistry(chemistry)
        self.cell = self.chem.cell.scaled(parallel)
        self.fw = Firmware(self.cell, PackLayout(N_CELLS, SENSORS), self.chem.protection)
        self.k = 0
        self.sample_ms = 0
        self.capacity_ah = self.cell.capacity_ah

    def nominal(self, current_a: float = 0.0) -> Meas:
        # a small deterministic dither keeps every reading alive, as ADC noise does
        dither = 1e-4 * ((self.k + np.arange(N_CELLS)) % 5)
        return Meas(current_a=current_a, cell_v=3.7 - R_CELL * current_a + dither)

    def step(self, m: Meas, dt_ms: int = DT_MS) -> object:
        pack_v = float(np.sum(m.cell_v)) if m.pack_v is None else m.pack_v
        bus_v = pack_v if m.bus_v is None else m.bus_v
        if not m.freeze_sample:
            self.sample_ms += dt_ms
        out = self.fw.step_arrays(
            dt_ms,
            m.current_a,
            m.cell_v,
            m.temp_degc,
            ambient_degc=25.0,
            pack_v=pack_v,
            bus_v=bus_v,
            sample_time_ms=self.sample_ms,
            coolant_flow_lpm=m.flow_lpm,
            comm_lost=m.comm_lost,
        )
        self.k += 1
        return out

    def settle(self, n: int = 20, current_a: float = 0.0) -> None:
        for _ in range(n):
            self.step(self.nominal(current_a))

    def close(self) -> None:
        assert self.fw.command("close") == 0
        self.step(self.nominal())
        assert self.fw.contactor_state == "closed", self.fw.contactor_state

    def run(self, n: int, make: Callable[[Rig], Meas]) -> list[object]:
        outs = []
        for _ in range(n):
            out = self.step(make(self))
            outs.append((int(out.faults), float(out.ccl_a), int(out.contactor_state)))
        return outs
