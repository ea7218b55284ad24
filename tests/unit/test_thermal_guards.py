"""The core-temperature observer's guards (native/src/thermal_observer.c), called directly: the
covariance that leaves a predict or an update is a covariance (symmetric, positive-definite,
checked by its eigenvalues) whatever came in, and a pack without thermistors has no
neighbours to interpolate (every cell's sensor index is the no-sensor mark, weight 0)."""

from __future__ import annotations

import numpy as np
import pytest

from bms._native import ffi, lib
from bms.firmware import PackLayout, fill_config
from tests.synthetic import TruthCell

BAD_COVARIANCES = {
    "collapsed": [0.0, 0.0, 0.0],
    "negative diagonal": [-1.0, 0.0, -1.0],
    "NaN core variance": [float("nan"), 0.0, 1.0],
    "a correlation no covariance allows": [1e-4, 1.0, 1e-4],
}


def model(layout: PackLayout):
    cfg = ffi.new("bms_config_t *")
    fill_config(cfg, TruthCell().cell_model(), layout)
    m = ffi.new("bms_thermal_model_t *")
    lib.bms_thermal_model_init(m, cfg)
    d = ffi.new("bms_thermal_disc_t *")
    lib.bms_thermal_disc_update(d, m, 100)
    return cfg, m, d


def cell_with(cfg, p: list[float]):
    c = ffi.new("bms_thermal_cell_t *")
    lib.bms_thermal_cell_init(c, 25.0, ffi.addressof(cfg.est))
    for k, v in enumerate(p):
        c.p[k] = v
    return c


def is_covariance(c) -> bool:
    p = np.array([[c.p[0], c.p[1]], [c.p[1], c.p[2]]], dtype=float)
    return bool(np.all(np.isfinite(p)) and np.all(np.linalg.eigvalsh(p) > 0))


@pytest.mark.parametrize("what", sorted(BAD_COVARIANCES))
def test_a_predict_leaves_a_covariance(what):
    cfg, _, d = model(PackLayout(1, (0,)))
    c = cell_with(cfg, BAD_COVARIANCES[what])
    lib.bms_thermal_cell_predict(c, d, ffi.addressof(cfg.thermal), ffi.addressof(cfg.est), 2.0, 25.0, 0.1)
    assert is_covariance(c), [c.p[k] for k in range(3)]


@pytest.mark.parametrize("what", sorted(k for k in BAD_COVARIANCES if "NaN" not in k))
def test_an_update_leaves_a_covariance(what):
    cfg, _, _ = model(PackLayout(1, (0,)))
    c = cell_with(cfg, BAD_COVARIANCES[what])
    lib.bms_thermal_cell_update(c, 0.3, 0.01)
    assert is_covariance(c), [c.p[k] for k in range(3)]


def test_a_pack_without_thermistors_has_no_neighbours_to_interpolate():
    cfg, m, _ = model(PackLayout(4, ()))
    for i in range(4):
        assert m.own_sensor[i] == lib.BMS_THERMAL_NO_SENSOR
        assert m.nb_lo[i] == lib.BMS_THERMAL_NO_SENSOR and m.nb_hi[i] == lib.BMS_THERMAL_NO_SENSOR
        assert lib.bms_thermal_nb_weight(m, cfg, i) == 0.0


def test_cells_past_the_last_thermistor_take_it_for_both_neighbours():
    cfg, m, _ = model(PackLayout(6, (1, 3)))
    # cell 0 below the first sensor, cells 4-5 above the last: one neighbour, weight 0
    assert (m.nb_lo[0], m.nb_hi[0]) == (0, 0)
    assert (m.nb_lo[5], m.nb_hi[5]) == (1, 1)
    assert lib.bms_thermal_nb_weight(m, cfg, 5) == 0.0
    # cell 2 halfway between the sensed cells 1 and 3
    assert lib.bms_thermal_nb_weight(m, cfg, 2) == 0.5


def test_thermistors_listed_in_any_order_give_the_same_neighbours():
    _, up, _ = model(PackLayout(7, (1, 3, 5)))
    cfg, down, _ = model(PackLayout(7, (5, 3, 1)))
    for i in range(7):
        # the same sensed cells on each side (the sensor indices differ: the order differs)
        lo_up, hi_up = (1, 3, 5)[up.nb_lo[i]], (1, 3, 5)[up.nb_hi[i]]
        lo_dn, hi_dn = (5, 3, 1)[down.nb_lo[i]], (5, 3, 1)[down.nb_hi[i]]
        assert (lo_up, hi_up) == (lo_dn, hi_dn), i
        assert lib.bms_thermal_nb_weight(down, cfg, i) == lib.bms_thermal_nb_weight(
            up, model(PackLayout(7, (1, 3, 5)))[0], i
        )
