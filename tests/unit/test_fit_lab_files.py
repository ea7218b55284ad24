"""`bms fit` on lab-style files: the OCV test and the pulse test in separate files, in any
order, a CC-only charge that stops short of full, a logging gap of two days, a duplicated
stamp, a file that starts mid-SoC. The data come from an independent ODE simulation of a cell
whose parameters we chose (tests/synthetic.py); every check compares with that truth."""

import gzip

import numpy as np
import pytest
from click.testing import CliRunner

from bms.cli import main
from bms.errors import LogFormatError
from bms.fit import FitQualityError, fit_cell
from bms.fit.soc import align
from bms.fit.timeline import read_timeline
from tests.synthetic import TruthCell, ocv_fn, simulate

TRUTH = TruthCell(capacity_ah=4.0, r0=0.020, r1=0.010, tau1=12.0, r2=0.015, tau2=300.0)
C = TRUTH.capacity_ah
CHARGE_STOP_V = 4.10  # the CC charge ends here, well below full (OCV at SoC 1 is 4.27 V)
GAP_S = 2 * 86400.0


def _write(path, tr, *, t=None, v_offset=None):
    rng = np.random.default_rng(3)
    t = tr["t"] if t is None else t
    v = tr["v"] + 0.0005 * rng.standard_normal(len(t)) + (0.0 if v_offset is None else v_offset)
    with gzip.open(path, "wt") as fh:
        fh.write("time_s,current_a,voltage_v,temperature_c\n")
        for row in zip(t, tr["i"], v, np.round(tr["t_surf"], 2), strict=True):
            fh.write("{:.3f},{:.5f},{:.5f},{:.2f}\n".format(*row))
    return path


def _hppc_steps(n):
    steps = [(0.0, 3600.0, 60.0)]
    for _ in range(n):
        steps += [(C, 10.0, 1.0), (0.0, 40.0, 1.0), (-0.75 * C, 10.0, 1.0), (0.0, 40.0, 1.0)]
        steps += [(0.5 * C, 720.0, 5.0), (0.0, 3600.0, 60.0)]
    return steps


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    d = tmp_path_factory.mktemp("lab")
    ocv_steps = [
        (0.0, 3600.0, 60.0),
        (C / 20, 30 * 3600.0, 60.0),
        (0.0, 7200.0, 60.0),
        (-C / 20, 30 * 3600.0, 60.0),
    ]
    ocv_steps += [(0.0, 4 * 3600.0, 60.0)]
    ocv_tr = simulate(TRUTH, ocv_steps, soc0=1.0, v_stop=(2.6, CHARGE_STOP_V))
    # the last rest is logged after two days on the shelf (a gap at zero current) and one row
    # is logged twice on the same stamp (an export's rounding)
    t = ocv_tr["t"].copy()
    last_rest = np.flatnonzero(ocv_tr["i"] != 0)[-1] + 5
    t[last_rest:] += GAP_S
    keep = np.r_[np.arange(len(t)), last_rest - 20]
    keep.sort()
    ocv_dup = {k: v[keep] for k, v in ocv_tr.items()}
    ocv_path = _write(d / "ocv.csv.gz", ocv_dup, t=t[keep])
    hppc_tr = simulate(TRUTH, _hppc_steps(8), soc0=1.0, v_stop=(2.6, 4.3))
    hppc_path = _write(d / "hppc.csv.gz", hppc_tr)
    return {"ocv": ocv_path, "hppc": hppc_path, "ocv_tr": ocv_dup, "hppc_tr": hppc_tr, "dir": d}


@pytest.fixture(scope="module")
def fitted(lab):
    return fit_cell([lab["ocv"], lab["hppc"]])


def test_gap_and_duplicate_are_found_and_not_integrated(lab):
    tl = read_timeline(lab["ocv"])
    assert tl.n_duplicates == 1
    assert np.all(np.diff(tl.t) > 0)
    assert tl.n_gaps == 1
    assert tl.piece.max() == 0  # a gap at rest joins the rows: the cell sat on the shelf
    assert tl.dt_s.max() < 61.0  # no interval over which current would be integrated spans the gap


def test_capacity_and_a_charge_that_stops_short_of_full(lab):
    al = align([read_timeline(lab["hppc"]), read_timeline(lab["ocv"])])
    tr = lab["ocv_tr"]
    swept = C * (1.0 - tr["soc"].min())  # what the C/20 discharge moved, from full to 2.6 V
    assert al.capacity_ah == pytest.approx(swept, rel=0.003)
    f = next(f for f in al.files if f.tl.name == "ocv.csv.gz")
    charging = np.flatnonzero(f.tl.i < 0)
    end = charging[-1]
    # the fitted SoC at the charge's end is the truth's (on the fitted capacity's scale), not 1
    soc_true_end = 1.0 - (1.0 - tr["soc"][np.argmin(np.abs(tr["t"] - f.tl.t[end] + 0))]) * C / swept
    assert f.soc[end] < 0.95
    assert f.soc[end] == pytest.approx(soc_true_end, abs=0.005)


def test_tables_match_the_truth(fitted):
    c = fitted.cell
    row = int(np.argmin(np.abs(c.temp_c - 25.0)))
    s_true = 1.0 - (1.0 - c.soc) * c.capacity_ah / C
    inner = (c.soc >= 0.05) & (c.soc <= 0.95)
    assert np.max(np.abs(c.ocv_v[row][inner] - ocv_fn(s_true[inner]))) < 0.005
    mid = (c.soc >= 0.15) & (c.soc <= 0.85)
    assert np.median(c.r0_ohm[row][mid]) == pytest.approx(TRUTH.r0, rel=0.05)
    assert np.median(c.r1_ohm[row][mid] + c.r2_ohm[row][mid]) == pytest.approx(TRUTH.r1 + TRUTH.r2, rel=0.08)
    assert np.median((c.r2_ohm * c.c2_f)[row][mid]) == pytest.approx(TRUTH.tau2, rel=0.15)
    assert fitted.rms_mv < 3.0
    assert not fitted.warnings


def test_file_order_does_not_matter(lab, fitted):
    other = fit_cell([lab["hppc"], lab["ocv"]])
    for name in ("ocv_v", "r0_ohm", "r1_ohm", "r2_ohm", "c1_f", "c2_f"):
        assert np.allclose(getattr(other.cell, name), getattr(fitted.cell, name), rtol=1e-6, atol=1e-9)
    assert other.cell.capacity_ah == fitted.cell.capacity_ah


def test_a_file_starting_mid_soc_is_anchored_by_its_first_rest(lab, tmp_path):
    tr = simulate(TRUTH, _hppc_steps(3), soc0=0.6, v_stop=(2.6, 4.3))
    mid = _write(tmp_path / "mid.csv.gz", tr)
    rep = fit_cell([lab["ocv"], lab["hppc"], mid])
    assert any("mid.csv.gz" in line and "relaxed rest" in line for line in rep.lines)
    al = align([read_timeline(p) for p in (lab["ocv"], mid)])
    assert not np.isfinite(al.files[1].soc).any()  # no full or empty point in it by itself


def test_residual_bound_warns_and_strict_refuses(lab, tmp_path):
    tr = lab["hppc_tr"]
    # a voltage no cell model explains: a 30 mV, 5-minute oscillation (a loose sense lead)
    off = 0.030 * np.sin(2 * np.pi * tr["t"] / 300.0)
    bad = _write(tmp_path / "bad.csv.gz", tr, v_offset=off)
    rep = fit_cell([lab["ocv"], bad], max_rms_mv=15.0)
    assert rep.warnings and "bad.csv.gz" in rep.warnings[0]
    assert "bad.csv.gz" in rep.worst
    with pytest.raises(FitQualityError, match=r"bad\.csv\.gz"):
        fit_cell([lab["ocv"], bad], strict=True, max_rms_mv=15.0)
    res = CliRunner().invoke(
        main, ["fit", "--strict", str(lab["ocv"]), str(bad), "-o", str(tmp_path / "c.toml")]
    )
    assert res.exit_code == 2
    assert "exceeds 15 mV" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "c.toml").exists()


def test_no_full_or_empty_point_is_a_clear_error(tmp_path):
    tr = simulate(TRUTH, _hppc_steps(2), soc0=0.7, v_stop=(2.6, 4.3))
    p = _write(tmp_path / "mid.csv.gz", tr)
    with pytest.raises(LogFormatError, match="no capacity measurement found"):
        fit_cell([p])
