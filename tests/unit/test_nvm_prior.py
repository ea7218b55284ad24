"""The stored per-cell SoC (bms_config_t.nvm, 16-bit fixed point as an NvM block holds it)
fused with the voltage-based guess at power-up: on LFP's flat plateau the voltage cannot
place the cell and the stored value must; the fusion is checked against an independent
inverse-variance computation on the chemistry's own tables."""

from __future__ import annotations

import numpy as np
import pytest

from bms._native import lib
from bms.chemistry import load_chemistry
from bms.firmware import ConfigError, Firmware, PackLayout, fill_nvm
from bms.plant.tables import TableSet

N = 4
TEMP_C = 25.0


def ocv(tables: TableSet, soc: float) -> float:
    return float(tables.ocv(np.array([soc]), np.array([TEMP_C]))[0])


def first_estimate(chem, cell_v: float, stored: np.ndarray | None, sigma: float = 0.005) -> np.ndarray:
    fw = Firmware(chem.cell, PackLayout(N, (0, N - 1)), chem.protection)
    if stored is not None:
        fill_nvm(fw.config, stored, sigma)
        assert lib.bms_config_check(fw.config) == lib.BMS_CFG_OK
        assert lib.bms_init(fw.instance, fw.config) == lib.BMS_OK
    fw.step_arrays(
        100,
        0.0,
        np.full(N, cell_v),
        np.full(2, TEMP_C),
        ambient_degc=TEMP_C,
        pack_v=N * cell_v,
        bus_v=0.0,
        sample_time_ms=100,
    )
    return fw.soc.astype(float).copy()


def fused(chem, tables: TableSet, guess: float, stored: float, sigma: float) -> float:
    """Independent inverse-variance fusion: the voltage guess's variance from the OCV slope
    around it (2 % each side) and the rested-cell voltage error; the stored value's sigma."""
    lo, hi = max(guess - 0.02, 0.0), min(guess + 0.02, 1.0)
    slope = (ocv(tables, hi) - ocv(tables, lo)) / (hi - lo)
    fw = Firmware(chem.cell, PackLayout(N, (0, N - 1)), chem.protection)
    err_v = fw.config.est.model_err_v + fw.config.est.voltage_noise_v
    var_v = min(err_v / slope, 1.0) ** 2 if slope > 1e-4 else 1.0
    var_p = sigma**2
    return (guess * var_p + stored * var_v) / (var_p + var_v)


def test_on_the_lfp_plateau_the_stored_soc_places_the_cell():
    chem = load_chemistry("lfp-graphite")
    tables = TableSet(chem.cell)
    v = ocv(tables, 0.5)
    # the plateau: 40 % and 60 % rest within a few tens of mV of each other
    assert abs(ocv(tables, 0.40) - ocv(tables, 0.60)) < 0.03
    guess = first_estimate(chem, v, None)
    for stored in (0.40, 0.60):
        est = first_estimate(chem, v, np.full(N, stored))
        expected = fused(chem, tables, float(guess[0]), stored, 0.005)
        assert abs(expected - stored) < 0.02  # the plateau leaves the voltage almost no say
        assert est == pytest.approx(np.full(N, expected), abs=2e-3)


def test_on_a_steep_ocv_the_voltage_outweighs_a_stale_stored_soc():
    chem = load_chemistry("nmc811-graphite")
    tables = TableSet(chem.cell)
    v = ocv(tables, 0.2)
    guess = first_estimate(chem, v, None)
    est = first_estimate(chem, v, np.full(N, 0.5), sigma=0.05)
    expected = fused(chem, tables, float(guess[0]), 0.5, 0.05)
    # a stored value 30 % off with a 5 % sigma moves a guess the steep OCV pins down little
    assert abs(expected - float(guess[0])) < 0.03
    assert est == pytest.approx(np.full(N, expected), abs=2e-3)


def test_stored_soc_quantised_to_sixteen_bits():
    chem = load_chemistry("lfp-graphite")
    fw = Firmware(chem.cell, PackLayout(N, (0, N - 1)), chem.protection)
    fill_nvm(fw.config, np.array([0.0, 1.0 / 3.0, 0.5, 1.0]), 0.01)
    codes = [fw.config.nvm.soc_q16[i] for i in range(N)]
    assert codes == [0, 21845, 32768, 65535]


@pytest.mark.parametrize(
    ("soc", "sigma", "rule"),
    [
        (np.full(N, 1.2), 0.01, "within \\[0, 1\\]"),
        (np.full(N, np.nan), 0.01, "within \\[0, 1\\]"),
        (np.full(N - 1, 0.5), 0.01, "one per cell"),
        (np.full(N, 0.5), 0.0, "soc_sigma must be > 0"),
    ],
)
def test_bad_stored_soc_is_refused_naming_the_rule(soc, sigma, rule):
    chem = load_chemistry("lfp-graphite")
    fw = Firmware(chem.cell, PackLayout(N, (0, N - 1)), chem.protection)
    with pytest.raises(ConfigError, match=rule):
        fill_nvm(fw.config, soc, sigma)


def test_the_firmware_refuses_a_stored_block_without_a_sigma():
    chem = load_chemistry("lfp-graphite")
    fw = Firmware(chem.cell, PackLayout(N, (0, N - 1)), chem.protection)
    fw.config.nvm.valid = 1
    fw.config.nvm.soc_sigma = float("nan")
    assert lib.bms_config_check(fw.config) == lib.BMS_CFG_E_NVM
    fw.config.nvm.valid = 2
    fw.config.nvm.soc_sigma = 0.01
    assert lib.bms_config_check(fw.config) == lib.BMS_CFG_E_NVM
