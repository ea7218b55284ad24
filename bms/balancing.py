"""Passive cell balancing: the pack's bleed hardware and the firmware's strategy (one
scenario section, ``[balancing]``), written into the firmware's ``bal`` configuration
(native/include/bms/balancing.h says what each number does there).

The plant uses the same hardware numbers (bleed resistor, sense-line resistance): the
bleed current V / (R_b + 2 R_w) drains its element and, while its switch conducts during a
conversion, shifts the element's reading by 2 R_w I_b down and each neighbour's R_w I_b up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bms.errors import ConfigError

MODES = {"off": 0, "top": 1, "bottom": 2}


@dataclass(frozen=True)
class BalancingSpec:
    """Balancing hardware and strategy of a pack. Currents are C-rates of the series element
    (so one file serves a 1p and a 20p pack)."""

    # off | top (equal charge to full: the charge ends with every cell full) | bottom
    mode: str = "off"
    # 33 ohm: the default, the usual value on LTC681x-class balancing boards
    # (~0.13 A at 4.2 V, 0.5 W per channel)
    bleed_ohm: float = 33.0
    # one sense line from the cell tap to the board: ~0.5 m of 0.35 mm^2 copper (~25 mohm)
    # plus crimp contacts and the tap's fuse; 0.1 ohm is an assumption (no datasheet gives a
    # harness), it sets the switch test's step 2 R_w V / R_b (24 mV at 4 V)
    sense_wire_ohm: float = 0.1
    # start at 1 % of the capacity above the reference cell, stop at 0.2 % (hysteresis)
    start_dsoc: float = 0.01
    stop_dsoc: float = 0.002
    # a cell takes part only with its SoC estimate's 1-sigma below 5 %: an NMC cell at rest
    # is at 0.5-3 %, an LFP cell on its plateau with nothing stored far above (assumption:
    # bleeding on an estimate that uncertain moves charge at random)
    soc_sigma_max: float = 0.05
    rest_current_c: float = 0.01  # at rest below C/100
    charge_current_max_c: float = 0.1  # while charging only in the CV tail, below C/10
    # the cells' hottest sensor as the board's temperature (the board sits on the module):
    # 55 degC keeps the board's resistors and the cells inside their ratings (assumption)
    temp_max_degc: float = 55.0
    rest_budget_s: float = 8 * 3600.0  # at most 8 h of bleeding per rest or charge
    test_di_max_c: float = 0.01  # a switch test needs the current steady within C/100 ...
    # ... but never less than what two readings of a steady current differ by: a shunt of the
    # IVT-S class reads 0.2-0.4 A rms noise per sample (as plausibility's ccl_excess_min_a),
    # ~1.5 A is 3 sigma of a difference
    test_di_min_a: float = 1.5
    # 12 cells per balancing board (one LTC6811-class AFE), at most 6 bleeding at once:
    # 3 W per board with passive cooling (assumption)
    cells_per_module: int = 12
    max_per_module: int = 6
    test_interval_ms: int = 60_000
    switch_debounce_ms: int = 120_000

    def mode_id(self) -> int:
        return MODES[self.mode]


def parse_mode(v: Any, where: str) -> str:
    if v not in MODES:
        raise ConfigError(f"field '{where}' must be one of {', '.join(MODES)}, got {v!r}")
    return str(v)


def fill_balancing(cfg: Any, spec: BalancingSpec, capacity_ah: float, zero_band_a: float) -> None:
    """Write the spec into a bms_config_t (C-rates of the element become amperes). A pack
    is at rest within the current sensor's zero band (zero_band_a: what the offset check
    accepts as no current), however small C/100 is."""
    b = cfg.bal
    b.mode = spec.mode_id()
    b.bleed_ohm = spec.bleed_ohm
    b.sense_wire_ohm = spec.sense_wire_ohm
    b.start_dsoc = spec.start_dsoc
    b.stop_dsoc = spec.stop_dsoc
    b.soc_sigma_max = spec.soc_sigma_max
    b.rest_current_a = max(spec.rest_current_c * capacity_ah, zero_band_a)
    b.charge_current_max_a = max(spec.charge_current_max_c * capacity_ah, b.rest_current_a)
    b.temp_max_degc = spec.temp_max_degc
    b.rest_budget_s = spec.rest_budget_s
    b.test_di_max_a = max(spec.test_di_max_c * capacity_ah, spec.test_di_min_a)
    b.cells_per_module = spec.cells_per_module
    b.max_per_module = spec.max_per_module
    b.test_interval_ms = spec.test_interval_ms
    b.switch_debounce_ms = spec.switch_debounce_ms


def switch_trip_bound_s(spec: BalancingSpec, n_series: int, dt_ms: int) -> float:
    """The longest time from the start of an interval in which balancing is allowed to the
    latch of a switch that does not follow its command (balancing.h): the next sweep starts
    within test_interval_ms, reaches the cell within its sweep (two firmware steps per test
    group), and the failed condition is confirmed switch_debounce_ms later."""
    stride = max(3, -(-spec.cells_per_module // spec.max_per_module))
    block = stride * 8  # BMS_BAL_TEST_CELLS
    groups = -(-n_series // block) * stride
    steps = 2 * groups + 2  # the sweep, and the step a test starts on after the last judged
    return (spec.test_interval_ms + steps * dt_ms + spec.switch_debounce_ms) / 1000.0
