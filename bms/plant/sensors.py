"""Sensor models: what the firmware gets to see of the plant. Errors are drawn once per
channel (gain, offset) from a seeded generator and noise per sample; injected sensor
faults act here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bms.plant.faults import Fault


@dataclass
class SensorSpec:
    """Defaults: an automotive cell-monitoring AFE (ADI LTC6813: 16-bit, 100 uV LSB, total
    error <= 2.2 mV), a shunt current sensor (Isabellenhuette IVT-S: 0.4 % accuracy class),
    NTC thermistors glued to the cell cans (~5 s lag, 0.1 K resolution)."""

    cell_v_noise_v: float = 0.001
    cell_v_gain_sigma: float = 0.0002
    cell_v_offset_sigma_v: float = 0.0005
    cell_v_lsb_v: float = 0.0001
    current_noise_a: float = 0.2
    current_gain_sigma: float = 0.003
    current_offset_sigma_a: float = 0.1
    pack_v_noise_v: float = 0.1
    temp_noise_c: float = 0.1
    temp_lsb_c: float = 0.1
    temp_lag_s: float = 5.0
    coolant_temp_noise_c: float = 0.1
    flow_noise_lpm: float = 0.1
    sensor_every: int = 4  # a thermistor on every n-th element


class Sensors:
    def __init__(self, spec: SensorSpec, n_series: int, rng: np.random.Generator) -> None:
        self.spec = spec
        self.rng = rng
        self.n = n_series
        self.sensed = tuple(range(0, n_series, max(1, spec.sensor_every)))
        self.v_gain = 1.0 + spec.cell_v_gain_sigma * rng.standard_normal(n_series)
        self.v_offset = spec.cell_v_offset_sigma_v * rng.standard_normal(n_series)
        self.i_gain = 1.0 + spec.current_gain_sigma * rng.standard_normal()
        self.i_offset = spec.current_offset_sigma_a * rng.standard_normal()
        self.ntc = np.zeros(len(self.sensed))
        self.ntc_init = False
        self.active: list[Fault] = []
        self.frozen_v: dict[int, float] = {}

    def inject(self, f: Fault) -> None:
        self.active.append(f)

    def has(self, kind: str) -> bool:
        return any(f.kind == kind for f in self.active)

    def cell_voltages(self, v_true: np.ndarray) -> np.ndarray:
        s = self.spec
        v = v_true * self.v_gain + self.v_offset + s.cell_v_noise_v * self.rng.standard_normal(self.n)
        for f in self.active:
            c = f.cell
            if f.kind == "open_sense_wire" and c is not None:
                # the shared sense line between c and its upper neighbour opens: c reads ~0,
                # the neighbour reads across both cells
                nb = c + 1 if c + 1 < self.n else c - 1
                v[nb] = v[nb] + v[c]
                v[c] = s.cell_v_noise_v * abs(self.rng.standard_normal())
            elif f.kind == "stuck_voltage" and c is not None and c not in self.frozen_v:
                self.frozen_v[c] = float(np.round(v[c] / s.cell_v_lsb_v) * s.cell_v_lsb_v)
        v = np.round(v / s.cell_v_lsb_v) * s.cell_v_lsb_v
        for c, frozen in self.frozen_v.items():
            v[c] = frozen
        return v

    def current(self, i_true: float) -> float:
        s = self.spec
        i = i_true * self.i_gain + self.i_offset + s.current_noise_a * self.rng.standard_normal()
        for f in self.active:
            if f.kind == "current_offset":
                i += f.magnitude()
        return float(i)

    def temperatures(self, surf_true_c: np.ndarray, dt_s: float) -> np.ndarray:
        s = self.spec
        true = surf_true_c[list(self.sensed)]
        if not self.ntc_init:
            self.ntc = true.copy()
            self.ntc_init = True
        else:
            self.ntc = self.ntc + (true - self.ntc) * (-np.expm1(-dt_s / s.temp_lag_s))
        t = self.ntc + s.temp_noise_c * self.rng.standard_normal(len(self.ntc))
        t = np.round(t / s.temp_lsb_c) * s.temp_lsb_c
        for f in self.active:
            if f.kind in ("ntc_open", "ntc_short") and f.cell in self.sensed:
                j = self.sensed.index(f.cell)
                t[j] = -60.0 if f.kind == "ntc_open" else 160.0
        return t

    def pack_voltage(self, v_true: np.ndarray) -> float:
        return float(np.sum(v_true) + self.spec.pack_v_noise_v * self.rng.standard_normal())

    def coolant_temp(self, t_true: float) -> float:
        return float(t_true + self.spec.coolant_temp_noise_c * self.rng.standard_normal())

    def flow(self, flow_true: float) -> float:
        return float(max(flow_true + self.spec.flow_noise_lpm * self.rng.standard_normal(), 0.0))
