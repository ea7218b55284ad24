"""Sensor models: what the firmware gets to see of the plant. Errors are drawn once per
channel (gain, offset) from a seeded generator and noise per sample; injected sensor
faults act here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bms.plant.faults import Fault
from bms.stack_pressure import StackPressure

# The stack-pressure load cells (bms.stack_pressure: one per module): a 4-20 mA transmitter over
# 0-20 MPa on a 12-bit ADC (the chemistry file's [stack_pressure] states the rest). Its gain error
# is drawn so that gain and offset together stay within sensor_error_mpa over this range.
PRESSURE_FULL_SCALE_MPA = 20.0
# an open transmitter loop carries 0 mA: (0 - 4) / 16 x 20 MPa on the 4-20 mA scale
PRESSURE_OPEN_MPA = -5.0


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


class NormalStream:
    """Standard normal variates of a generator, drawn ahead in blocks and handed out in
    order. A block of k variates is the same sequence as k single draws (numpy's
    Generator fills arrays one variate at a time), so the samples are the ones per-call
    draws would give, at a fraction of the per-call cost."""

    def __init__(self, rng: np.random.Generator, block: int) -> None:
        self.rng = rng
        self.block = block
        self.buf = np.zeros(0)
        self.pos = 0

    def take(self, k: int) -> np.ndarray:
        """The next k variates (a view: use before the next call)."""
        pos = self.pos
        if pos + k > len(self.buf):
            self.buf = np.concatenate([self.buf[pos:], self.rng.standard_normal(max(self.block, k))])
            pos = 0
        self.pos = pos + k
        return self.buf[pos : pos + k]

    def next(self) -> float:
        """The next variate."""
        pos = self.pos
        if pos >= len(self.buf):
            self.buf = self.rng.standard_normal(self.block)
            pos = 0
        self.pos = pos + 1
        return float(self.buf[pos])


class Sensors:
    def __init__(self, spec: SensorSpec, n_series: int, rng: np.random.Generator) -> None:
        self.spec = spec
        self.rng = rng
        self.n = n_series
        self.sensed = tuple(range(0, n_series, max(1, spec.sensor_every)))
        # the thermistors' elements as a slice (sensed is a range): a view, no gather
        self._sensed_slice = slice(0, n_series, max(1, spec.sensor_every))
        self.v_gain = 1.0 + spec.cell_v_gain_sigma * rng.standard_normal(n_series)
        self.v_offset = spec.cell_v_offset_sigma_v * rng.standard_normal(n_series)
        self.i_gain = 1.0 + spec.current_gain_sigma * rng.standard_normal()
        self.i_offset = spec.current_offset_sigma_a * rng.standard_normal()
        # all later draws (sample noise) in the order the samples are taken: ~64 samples a block
        self.noise = NormalStream(rng, 64 * (n_series + len(self.sensed) + 8))
        self.ntc = np.zeros(len(self.sensed))
        self.ntc_init = False
        self._lag: tuple[float, float] = (float("nan"), 0.0)  # (dt, lag factor) of the last sample
        self.active: list[Fault] = []
        self.frozen_v: dict[int, float] = {}
        # stack-pressure sensors (add_pressure_sensors): none unless the pack is pressed
        self.p_spec: StackPressure | None = None
        self.p_gain = self.p_offset = np.zeros(0)
        self.p_noise: NormalStream | None = None
        self.frozen_p: dict[int, float] = {}

    def add_pressure_sensors(self, sp: StackPressure, n_modules: int, rng: np.random.Generator) -> None:
        """One load cell per module. Its errors and noise come from their own generator (the
        scenario's seed), so the other sensors' draws are those of a pack without them: gain
        and offset each uniform within +-sensor_error_mpa / 2 (the gain's at full scale), so
        that together they stay within sensor_error_mpa over 0..PRESSURE_FULL_SCALE_MPA."""
        half = 0.5 * sp.sensor_error_mpa
        self.p_spec = sp
        self.p_offset = rng.uniform(-half, half, n_modules)
        self.p_gain = 1.0 + rng.uniform(-half, half, n_modules) / PRESSURE_FULL_SCALE_MPA
        self.p_noise = NormalStream(rng, 64 * n_modules)

    def inject(self, f: Fault) -> None:
        self.active.append(f)

    def has(self, kind: str) -> bool:
        return any(f.kind == kind for f in self.active)

    def cell_voltages(self, v_true: np.ndarray) -> np.ndarray:
        s = self.spec
        v = v_true * self.v_gain + self.v_offset + s.cell_v_noise_v * self.noise.take(self.n)
        for f in self.active:
            c = f.cell
            if f.kind == "open_sense_wire" and c is not None:
                # the shared sense line between c and its upper neighbour opens: c reads ~0,
                # the neighbour reads across both cells
                nb = c + 1 if c + 1 < self.n else c - 1
                v[nb] = v[nb] + v[c]
                v[c] = s.cell_v_noise_v * abs(self.noise.next())
            elif f.kind == "stuck_voltage" and c is not None and c not in self.frozen_v:
                self.frozen_v[c] = float(np.round(v[c] / s.cell_v_lsb_v) * s.cell_v_lsb_v)
        v /= s.cell_v_lsb_v
        np.rint(v, out=v)  # = np.round: half to even
        v *= s.cell_v_lsb_v
        for c, frozen in self.frozen_v.items():
            v[c] = frozen
        return v

    @property
    def injected_current_offset_a(self) -> float:
        """What injected current-offset faults add to the current reading now (A)."""
        return float(sum(f.magnitude() for f in self.active if f.kind == "current_offset"))

    def current(self, i_true: float) -> float:
        s = self.spec
        i = i_true * self.i_gain + self.i_offset + s.current_noise_a * self.noise.next()
        return float(i + self.injected_current_offset_a)

    def temperatures(self, surf_true_c: np.ndarray, dt_s: float) -> np.ndarray:
        s = self.spec
        true = surf_true_c[self._sensed_slice]
        if not self.ntc_init:
            self.ntc = true.copy()
            self.ntc_init = True
        else:
            if self._lag[0] != dt_s:
                self._lag = (dt_s, -np.expm1(-dt_s / s.temp_lag_s))
            self.ntc = self.ntc + (true - self.ntc) * self._lag[1]
        t = self.ntc + s.temp_noise_c * self.noise.take(len(self.ntc))
        t /= s.temp_lsb_c
        np.rint(t, out=t)
        t *= s.temp_lsb_c
        for f in self.active:
            if f.kind in ("ntc_open", "ntc_short") and f.cell in self.sensed:
                j = self.sensed.index(f.cell)
                t[j] = -60.0 if f.kind == "ntc_open" else 160.0
        return t

    def pack_voltage(self, v_true: np.ndarray) -> float:
        return self.pack_voltage_of_sum(float(np.sum(v_true)))

    def pack_voltage_of_sum(self, v_sum: float) -> float:
        """pack_voltage for the sum of the true cell voltages, where that is known already."""
        return float(v_sum + self.spec.pack_v_noise_v * self.noise.next())

    def coolant_temp(self, t_true: float) -> float:
        return float(t_true + self.spec.coolant_temp_noise_c * self.noise.next())

    def flow(self, flow_true: float) -> float:
        return float(max(flow_true + self.spec.flow_noise_lpm * self.noise.next(), 0.0))

    def pressures(self, p_true: np.ndarray) -> np.ndarray:
        """The modules' pressure readings (MPa), quantised to the code step; empty when the
        pack has no pressure sensors. pressure_sensor_stuck: the module's reading freezes at
        the value it reads when the fault strikes; pressure_sensor_open: PRESSURE_OPEN_MPA."""
        sp = self.p_spec
        if sp is None or self.p_noise is None:
            return np.zeros(0)
        p = p_true * self.p_gain + self.p_offset + sp.sensor_sigma_mpa * self.p_noise.take(len(p_true))
        p /= sp.sensor_lsb_mpa
        np.rint(p, out=p)
        p *= sp.sensor_lsb_mpa
        for f in self.active:
            m = f.cell or 0
            if f.kind == "pressure_sensor_stuck" and m not in self.frozen_p:
                self.frozen_p[m] = float(p[m])
        for m, frozen in self.frozen_p.items():
            p[m] = frozen
        for f in self.active:
            if f.kind == "pressure_sensor_open":
                p[f.cell or 0] = PRESSURE_OPEN_MPA
        return p
