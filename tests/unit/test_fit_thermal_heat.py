"""The thermal fit's heat input is the firmware observer's (irreversible plus reversible,
Bernardi 1985): checked against the C function, and a surface trace driven mostly by entropic
heat gives back the resistances of the two-node truth only with the reversible term in."""

import numpy as np
import pytest

from bms._native import lib
from bms.cells import ThermalParams
from bms.fit.thermal import heat_w, params_of, simulate, thermal_fit


def test_the_fit_and_the_firmware_compute_the_same_heat():
    rng = np.random.default_rng(2)
    n = 200
    i = rng.uniform(-15, 15, n)
    ocv = rng.uniform(3.0, 4.2, n)
    v = ocv - i * rng.uniform(0.0, 0.05, n) + rng.normal(0, 0.01, n)  # sometimes "wrong-signed"
    dudt = rng.uniform(-2e-3, 2e-3, n)
    t = rng.uniform(-20, 60, n)
    ours = heat_w(i, ocv, v, dudt, t)
    c = np.array([lib.bms_thermal_heat_w(*map(float, row)) for row in zip(i, ocv, v, dudt, t, strict=True)])
    assert ours == pytest.approx(c, rel=1e-5, abs=1e-5)


def test_entropic_heat_is_needed_to_find_the_resistances():
    """1C discharges (20 min, then 40 min rest) of a 5 Ah cell whose OCV falls 1 mV/K: it
    heats by ~1.5 W of entropy beside 0.5 W of ohmic heat. Fitted on the ohmic heat alone,
    the surface-to-ambient resistance comes out about four times too high."""
    truth = params_of(70.0, 4.0)
    dt = np.full(6000, 1.0)
    dt[0] = 0.0
    i = np.where((np.arange(6000) % 3600) < 1200, 5.0, 0.0)
    ocv = np.full(6000, 3.7)
    v = ocv - 0.02 * i  # 20 mOhm: 0.5 W at 5 A
    dudt = np.full(6000, -1e-3)
    temp = np.full(6000, 25.0)
    q = heat_w(i, ocv, v, dudt, temp)
    surf = simulate(truth, dt, q, 25.0, 25.0)
    with_rev = thermal_fit(dt, q, surf, 25.0, (20.0, 200.0)).params
    assert with_rev.r_surf_amb_k_per_w == pytest.approx(truth.r_surf_amb_k_per_w, rel=0.02)
    irr_only = thermal_fit(dt, np.clip(i * (ocv - v), 0, None), surf, 25.0, (20.0, 200.0)).params
    assert irr_only.r_surf_amb_k_per_w > 2.0 * truth.r_surf_amb_k_per_w
    assert isinstance(with_rev, ThermalParams)
