"""Properties P1-P8 (bms/sim/checks.py) on drawn fast-charge scenarios, against whatever
target the session runs (--bms-target). One test per chemistry and fault mode, so pytest-xdist
spreads them; the loaded profile's example budget is shared among them."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bms.chemistry import available
from hil.pytest_plugin import scenario_budget
from tests.properties.harness import check_scenario
from tests.properties.strategies import scenarios

CHEMISTRIES = available()
N_TESTS = 2 * len(CHEMISTRIES)
# the loaded profile's scenario budget (ci, nightly, thousand), split over the tests below
BUDGET = max(1, math.ceil(scenario_budget() / N_TESTS))


@pytest.mark.parametrize("chemistry", CHEMISTRIES)
@settings(max_examples=BUDGET)
@given(data=st.data())
def test_nominal_fast_charge_holds_every_property(bms_bench, chemistry, data):
    """P1 envelope, P2 limit, P5 no false fault and SoC within 3 %, P6 outputs, P7 latch."""
    scn = data.draw(scenarios(faults=False, chemistry=chemistry), label="scenario")
    check_scenario(bms_bench, scn)


@pytest.mark.parametrize("chemistry", CHEMISTRIES)
@settings(max_examples=BUDGET)
@given(data=st.data())
def test_injected_fault_is_caught_and_the_pack_stays_safe(bms_bench, chemistry, data):
    """P1 (a misbehaving charger is cut off before any cell passes its absolute maximum),
    P2, P3 detection within the trip time + one step and the contactors commanded open, P6."""
    scn = data.draw(scenarios(faults=True, chemistry=chemistry), label="scenario")
    res = check_scenario(bms_bench, scn)
    injected = scn.faults[0]
    hit = [f for f in res.faults if f["injected_kind"] == injected.kind]
    assert len(hit) == 1, res.faults
    f = hit[0]
    # caught, or (check_run has judged the rest) its deadline lies past the end of the run
    end_s = float(res.log["time_s"][-1])
    undecided = (
        f["onset_s"] is not None and float(f["onset_s"]) + float(f["trip_time_s"]) + scn.dt_ms / 1000 > end_s
    )
    assert f["detected_s"] is not None or undecided, f
    if f["detected_s"] is not None:
        assert float(f["detected_s"]) >= injected.at_s - 1e-9, f  # not before it was injected
