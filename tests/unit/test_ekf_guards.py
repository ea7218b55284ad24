"""The SoC filter's guards (native/src/soc_ekf.c), called directly on a filter state that went
wrong: every way its state or covariance can be corrupted is reported as a divergence on the
step that sees it (bms.c then latches the estimator fault), and the covariance that leaves a
step is a covariance (symmetric, positive-definite: checked by its eigenvalues here) whatever
came in. A healthy state is never reported."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bms._native import ffi, lib
from bms.firmware import PackLayout, fill_config
from tests.synthetic import TruthCell

NAN = float("nan")
P00, P01, P02, P11, P12, P22 = range(6)


# no hysteresis (the cell files' default): the filter as without the model
NO_HYST = ffi.new("bms_ekf_hyst_in_t *", {"v": 0.0, "var_v2": 0.0})


@pytest.fixture(scope="module")
def cfg():
    c = ffi.new("bms_config_t *")
    fill_config(c, TruthCell().cell_model(), PackLayout(1, (0,)))
    return c


def healthy(cfg) -> object:
    c = ffi.new("bms_ekf_cell_t *")
    lib.bms_ekf_init(c, ffi.addressof(cfg.cell), ffi.addressof(cfg.est), 1.0, 3.7, 0.0, 25.0, NO_HYST)
    return c


def step(cfg, c, current_a: float = 2.0, cell_v: float = 3.68, valid: int = 1) -> object:
    out = ffi.new("bms_ekf_step_out_t *")
    lib.bms_ekf_step(
        c,
        ffi.addressof(cfg.cell),
        ffi.addressof(cfg.est),
        1.0,
        0.0,
        1.0,
        current_a,
        0.1,
        cell_v,
        valid,
        25.0,
        NO_HYST,
        out,
    )
    return out


def cov(c) -> np.ndarray:
    p = [c.p[k] for k in range(6)]
    return np.array(
        [[p[P00], p[P01], p[P02]], [p[P01], p[P11], p[P12]], [p[P02], p[P12], p[P22]]], dtype=float
    )


def test_a_healthy_filter_never_reports_a_divergence(cfg):
    c = healthy(cfg)
    for k in range(200):
        out = step(cfg, c, current_a=5.0 * math.sin(k / 10.0), cell_v=3.7 - 0.01 * math.sin(k / 10.0))
        assert out.diverged == 0, k
    assert np.all(np.linalg.eigvalsh(cov(c)) > 0)


# each way the filter's own state can go wrong, set on a healthy state before a step
CORRUPTIONS = {
    "soc far below 0": ("soc", -5.0),
    "soc far above 1": ("soc", 5.0),
    "soc NaN": ("soc", NAN),
    "innovation monitor NaN": ("nis_mean", NAN),
    "first RC voltage NaN": ("v_rc1_v", NAN),
    "second RC voltage infinite": ("v_rc2_v", float("inf")),
    "SoC variance negative": (P00, -1.0),
    "first RC variance negative": (P11, -1.0),
    "second RC variance negative": (P22, -1.0),
    "SoC variance NaN": (P00, NAN),
    "first RC variance NaN": (P11, NAN),
    "second RC variance NaN": (P22, NAN),
    "a correlation NaN": (P01, NAN),
    "another correlation NaN": (P02, NAN),
    "the RC correlation NaN": (P12, NAN),
}


@pytest.mark.parametrize("what", sorted(CORRUPTIONS))
@pytest.mark.parametrize("valid", [1, 0], ids=["update", "predict-only"])
def test_a_corrupted_state_is_reported_as_diverged(cfg, what, valid):
    c = healthy(cfg)
    field, value = CORRUPTIONS[what]
    if isinstance(field, int):
        c.p[field] = value
    else:
        setattr(c, field, value)
    out = step(cfg, c, valid=valid)
    assert out.diverged == 1, what


@pytest.mark.parametrize(
    "p",
    [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # collapsed: floors on the diagonal
        [1e-20, 0.0, 0.0, -1e-9, 0.0, -1e-9],  # round-off just below zero, within tolerance
        [1e-4, 0.5, 0.5, 1e-6, 0.5, 1e-6],  # correlations no covariance allows
        [1e-4, 1e-5, 0.0, 1e-6, 0.0, 1e-6],  # the first minor negative, the rest fine
    ],
    ids=["collapsed", "round-off", "impossible-correlations", "first-minor"],
)
@pytest.mark.parametrize("valid", [1, 0], ids=["update", "predict-only"])
def test_what_leaves_a_step_is_a_covariance_whatever_came_in(cfg, p, valid):
    c = healthy(cfg)
    for k, v in enumerate(p):
        c.p[k] = v
    step(cfg, c, valid=valid)
    out_p = cov(c)
    assert np.array_equal(out_p, out_p.T)
    assert np.all(np.linalg.eigvalsh(out_p) > 0), out_p
    assert out_p[0, 0] >= 1e-10 and out_p[1, 1] >= 1e-12 and out_p[2, 2] >= 1e-12


def flat_cell_cfg():
    """The test cell with its OCV made flat (10 uV across 0.3 of SoC) around 50 %: still
    strictly increasing, as the configuration rules ask, but flatter than any voltage can tell."""
    c = ffi.new("bms_config_t *")
    fill_config(c, TruthCell().cell_model(), PackLayout(1, (0,)))
    cp = c.cell
    soc = [cp.soc_bp[j] for j in range(cp.n_soc)]
    for t in range(cp.n_temp):
        mid = cp.ocv_v[t][int(np.searchsorted(soc, 0.5))]
        for j, s in enumerate(soc):
            if 0.35 <= s <= 0.65:
                cp.ocv_v[t][j] = mid + (s - 0.35) * 3.3e-5
    assert lib.bms_config_check(c) == lib.BMS_CFG_OK
    return c


def flat_first_guess() -> tuple[object, object]:
    """The flat cell's configuration and a filter started from its OCV at mid-plateau."""
    c = flat_cell_cfg()
    cell = ffi.new("bms_ekf_cell_t *")
    t = int(np.searchsorted([c.cell.soc_bp[j] for j in range(c.cell.n_soc)], 0.5))
    lib.bms_ekf_init(
        cell, ffi.addressof(c.cell), ffi.addressof(c.est), 1.0, c.cell.ocv_v[0][t], 0.0, 25.0, NO_HYST
    )
    return c, cell


def test_where_the_ocv_is_flat_the_first_guess_is_as_unsure_as_the_configuration_allows():
    c, cell = flat_first_guess()
    assert 0.35 <= cell.soc <= 0.65
    assert cell.p[P00] == pytest.approx(c.est.soc_init_sigma**2, rel=1e-6)


def test_where_the_ocv_is_flat_the_stored_soc_wins():
    c, cell = flat_first_guess()
    guess = cell.soc
    lib.bms_ekf_fuse_prior(cell, ffi.addressof(c.cell), ffi.addressof(c.est), 25.0, 0.6, 0.01, NO_HYST)
    # the voltage's SoC error is taken as 1 (all of the range): the stored value's 1 % decides
    w = 1.0 / (1.0 + 0.01**2)
    assert cell.soc == pytest.approx(w * 0.6 + (1 - w) * guess, abs=1e-6)
    assert cell.p[P00] == pytest.approx(0.01**2 / (1 + 0.01**2), rel=1e-5)


@pytest.mark.parametrize("stored,sigma", [(float("nan"), 0.01), (0.6, 0.0), (0.6, -0.1), (0.6, float("nan"))])
def test_a_stored_soc_that_says_nothing_is_not_fused(cfg, stored, sigma):
    cell = healthy(cfg)
    before = (cell.soc, cell.p[P00])
    lib.bms_ekf_fuse_prior(
        cell, ffi.addressof(cfg.cell), ffi.addressof(cfg.est), 25.0, stored, sigma, NO_HYST
    )
    assert (cell.soc, cell.p[P00]) == before
