"""Issue 13's acceptance figures for the SoC estimator, measured as `make demo-real` and the
README print them:

- real data (Panasonic NCR18650PF; P. Kollmeyer, Mendeley Data V1, 2018,
  doi:10.17632/wykht8y7tg.1, CC BY 4.0): fit from `char-25c` + both HPPC files; every 25 °C
  drive cycle here: SoC RMSE <= 1.0 %, max <= 2.5 %; every -10 °C one, started from the SoC the
  firmware's NvM holds (the truth's first value): not worse than coulomb counting from the same
  start by more than 0.5 %. The firmware is told the cycler's current sensor (3 mA: the data
  set's README bounds the current error by 0.25 % SoC over a cycle);
- PyBaMM sets outside the development set (tests/data/pybamm-eval/README.md): a cold (0 °C) 3C
  fast charge into CV on a cell fitted at 25/45 °C only: SoC <= 1.0 % / 2.5 %, core <= 1.0 K;
  LFP at 25 and 5 °C, started from the stored SoC: <= 1.0 % / 2.5 %; a cell that cools while it
  charges (Mohtat2020 at 5 °C): <= 1.0 % / 2.5 %, core <= 1.0 K."""

from pathlib import Path

import pytest

from bms.fit import fit_cell
from bms.logs import read_truth
from bms.replay import replay, with_current_sigma

DATA = Path(__file__).parents[1] / "data"
REAL = DATA / "real" / "panasonic-18650pf"
EVAL = DATA / "pybamm-eval"
CYCLER_CURRENT_SIGMA_A = 0.003


@pytest.fixture(scope="module")
def panasonic():
    rep = fit_cell([REAL / "char-25c.csv.gz", REAL / "char-25c-hppc.csv.gz", REAL / "char-n10c-hppc.csv.gz"])
    return with_current_sigma(rep.cell, CYCLER_CURRENT_SIGMA_A)


def _truth(log: Path) -> Path:
    return log.with_name(log.name.replace(".csv.gz", ".truth.csv.gz"))


@pytest.mark.parametrize("name", ["cycle3-25c", "la92-25c", "us06-25c"])
def test_panasonic_25c_drive_cycles(panasonic, name):
    log = REAL / f"{name}.csv.gz"
    m = replay(log, panasonic, _truth(log)).metrics
    assert m["soc_rmse"] <= 0.010
    assert m["soc_max_abs"] <= 0.025


@pytest.mark.parametrize("name", ["udds-n10c", "la92-n10c"])
def test_panasonic_cold_drive_cycles_are_no_worse_than_counting(panasonic, name):
    log = REAL / f"{name}.csv.gz"
    start = float(read_truth(_truth(log))["soc_true"][0])
    m = replay(log, panasonic, _truth(log), soc_stored=start).metrics
    assert m["soc_rmse"] <= m["soc_rmse_coulomb"] + 0.005


def test_cold_fast_charge_into_cv_outside_the_characterised_range():
    ref = DATA / "reference" / "chen2020-25c"
    cell = fit_cell([ref / "char.csv.gz", ref / "char-45c.csv.gz"]).cell
    d = EVAL / "chen2020-0c-valid"
    m = replay(d / "valid.csv.gz", cell, d / "truth.csv.gz").metrics
    assert m["soc_rmse"] <= 0.010
    assert m["soc_max_abs"] <= 0.025
    assert m["core_temp_rmse_c"] <= 1.0


@pytest.fixture(scope="module")
def lfp():
    d = EVAL / "prada2013-25c"
    return fit_cell(sorted(d.glob("char*.csv.gz"))).cell


@pytest.mark.parametrize("folder", ["prada2013-25c", "prada2013-5c-valid"])
def test_lfp_from_the_stored_soc(lfp, folder):
    d = EVAL / folder
    start = float(read_truth(d / "truth.csv.gz")["soc_true"][0])
    m = replay(d / "valid.csv.gz", lfp, d / "truth.csv.gz", soc_stored=start).metrics
    assert m["soc_rmse"] <= 0.010
    assert m["soc_max_abs"] <= 0.025


def test_lfp_whose_ocv_has_hysteresis_from_the_stored_soc():
    """PyBaMM's one-state hysteresis on the LFP electrode (a 20 mV gap between the charge and
    discharge branches, tests/data/pybamm-eval/README.md): on the flat plateau that gap is tens
    of per cent of SoC; the fit does not keep a hysteresis the data cannot separate from the
    polarisation, and the filter started from its stored SoC leans on coulomb counting."""
    d = EVAL / "prada2013-hyst-25c"
    cell = fit_cell([d / "char.csv.gz"]).cell
    start = float(read_truth(d / "truth.csv.gz")["soc_true"][0])
    m = replay(d / "valid.csv.gz", cell, d / "truth.csv.gz", soc_stored=start).metrics
    assert m["soc_rmse"] <= 0.010
    assert m["soc_max_abs"] <= 0.025
    assert m["soc_rmse"] <= m["soc_rmse_coulomb"] + 0.005


def test_a_cell_that_cools_while_it_charges():
    """Mohtat2020 (NMC532): entropic coefficients of -0.5..-1.9 mV/K, so its core falls below
    ambient during the 3C charge; the thermal fit must count that heat to get the core right."""
    d = EVAL / "mohtat2020-25c"
    cell = fit_cell(sorted(d.glob("char*.csv.gz"))).cell
    v = EVAL / "mohtat2020-5c-valid"
    m = replay(v / "valid.csv.gz", cell, v / "truth.csv.gz").metrics
    assert m["soc_rmse"] <= 0.010
    assert m["soc_max_abs"] <= 0.025
    assert m["core_temp_rmse_c"] <= 1.0
