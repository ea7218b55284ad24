"""P14 (bms/sim/checks.py): the warnings and derates the firmware reports follow its own
readings. A cold fast charge whose coldest sensor starts below the charge window's warning
and derate and warms past their release (the threshold + the hysteresis): each tier set and
released where its reading says, and planted departures from that flagged."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bms.chemistry import load_chemistry
from bms.firmware import Firmware
from bms.protection import QUANTITIES
from bms.sim.checks import check_run
from bms.sim.loop import run
from bms.sim.scenario import load_scenario
from tests.sim.tamper import tampered

Q = {name: q for q, (name, _) in enumerate(QUANTITIES)}


@pytest.fixture(scope="module")
def cold():
    scn = replace(load_scenario("cold-fastcharge"), series=8)
    return run(scn, Firmware()), load_chemistry(scn.chemistry)


def tiers_flagged(res, chem) -> list[str]:
    return [v.detail for v in check_run(res, chem, max_per_prop=50) if v.prop == "P14-tiers"]


def bit(log, col, name) -> np.ndarray:
    return (log[col].astype(np.int64) >> Q[name] & 1) != 0


def test_the_cold_charge_sets_and_releases_its_tiers_where_the_reading_says(cold):
    res, chem = cold
    log = res.log
    lim = chem.protection.limits["temp_min_charge"]
    t_min = log["temp_meas_min_c"]
    for col, tier in (("warnings", lim.warning), ("derates", lim.derate)):
        on = bit(log, col, "temp_min_charge")
        assert on.any() and not on[-1]  # set, then released
        # independent of the checker: active only below the release, inactive once above it
        assert np.all(t_min[on] < tier.threshold + tier.hysteresis)
        k = int(np.flatnonzero(on)[-1]) + 1  # the release
        assert t_min[k] >= tier.threshold + tier.hysteresis - 1e-4
    assert tiers_flagged(res, chem) == []


def test_a_tier_that_never_releases_is_flagged(cold):
    res, chem = cold
    log = res.log
    on = bit(log, "derates", "temp_min_charge")
    k = int(np.flatnonzero(on)[-1]) + 1
    stuck = 1 << Q["temp_min_charge"]

    def never_released(d):
        d[k:] = d[k:].astype(np.int64) | stuck

    found = tiers_flagged(tampered(res, derates=never_released), chem)
    assert found and all(d.startswith("temp_min_charge derate active with the reading at") for d in found)
    derate = chem.protection.limits["temp_min_charge"].derate
    assert f"(released past {derate.threshold + derate.hysteresis:.4g})" in found[0]


def test_a_reading_past_the_threshold_for_the_debounce_sets_the_tier(cold):
    """cell_v_max is judged whatever the current's direction: a reading planted past the
    warning for the warning's debounce (n steps: the debounce counts from the first) with the
    bit not set is flagged at the n-th; one step shorter, or with the bit set, it is not."""
    res, chem = cold
    warn = chem.protection.limits["cell_v_max"].warning
    n = int(np.ceil(warn.debounce_ms / res.scenario.dt_ms)) + 1
    k0 = 100

    def past(steps):
        def f(v):
            v[k0 : k0 + steps] = warn.threshold + 0.01

        return f

    found = tiers_flagged(tampered(res, cell_v_meas_max=past(n)), chem)
    assert found == [
        f"cell_v_max warning not active with the reading past {warn.threshold:g} (4.23) for 1000 ms and more"
    ]
    assert tiers_flagged(tampered(res, cell_v_meas_max=past(n - 1)), chem) == []

    def set_bit(w):
        w[k0 + n - 1 : k0 + n] = w[k0 + n - 1 : k0 + n].astype(np.int64) | 1 << Q["cell_v_max"]

    assert tiers_flagged(tampered(res, cell_v_meas_max=past(n), warnings=set_bit), chem) == []
