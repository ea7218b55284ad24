"""`bms fit` on real lab files (Panasonic NCR18650PF at 25 °C; P. Kollmeyer, Mendeley Data V1,
2018, doi:10.17632/wykht8y7tg.1, CC BY 4.0; see tests/data/real/panasonic-18650pf/README.md):
the OCV test and the HPPC test are separate files, the charge sweep is CC-only and stops short
of full, the OCV file holds a 13.6 h logging gap. Checked against the cycler's own numbers."""

from pathlib import Path

import numpy as np
import pytest

from bms.fit import fit_cell
from bms.fit.soc import align
from bms.fit.timeline import read_timeline
from bms.logs import read_truth

DATA = Path(__file__).parents[1] / "data" / "real" / "panasonic-18650pf"
CYCLER_Q_AH = 2.9973  # the C/20 discharge capacity the data set's truth uses


@pytest.fixture(scope="module")
def fitted():
    return fit_cell([DATA / "char-25c-hppc.csv.gz", DATA / "char-25c.csv.gz"])


def test_capacity_is_the_cyclers(fitted):
    assert fitted.cell.capacity_ah == pytest.approx(CYCLER_Q_AH, rel=0.001)


def test_the_cc_only_charge_ends_where_the_cycler_says_not_at_full():
    al = align([read_timeline(DATA / "char-25c.csv.gz")])
    f = al.files[0]
    truth = read_truth(DATA / "char-25c.truth.csv.gz")
    end = int(np.flatnonzero(f.tl.i < -0.05)[-1])  # the charge sweep's last row
    t_end = f.tl.t[end]
    soc_cycler = float(np.interp(t_end, truth["time_s"], truth["soc_true"]))
    assert soc_cycler < 0.9
    assert f.soc[end] == pytest.approx(soc_cycler, abs=0.005)
    assert f.tl.n_gaps == 1


def test_the_model_explains_the_pulses_within_the_stated_bound(fitted):
    assert not fitted.warnings
    assert fitted.per_file_mv["char-25c-hppc.csv.gz"] < 15.0
