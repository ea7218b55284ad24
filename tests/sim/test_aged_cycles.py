"""The aged-cycles preset (issue 13, online state of health): a 96s pack with 20 % capacity
fade (2 % cell-to-cell) and +50 % resistance, the firmware configured with the new-cell model
and nothing stored. It learns each cell's capacity and resistance over three cycles; the
same run without the estimate shows what it is worth. The truth is the plant's own
(plant.cap_ah, plant.r_scale), independent of the firmware."""

import dataclasses

import numpy as np
import pytest

from bms.sim.checks import SOC_TOLERANCE, check_run
from bms.sim.loop import ClosedLoop
from bms.sim.run import build_scenario
from bms.sim.scenario import load_scenario


@pytest.fixture(scope="module")
def learned():
    loop = ClosedLoop(load_scenario("aged-cycles"))
    while loop.step() is not None:
        pass
    return loop, loop.result()


def test_the_preset_is_what_the_issue_asks_for():
    scn = load_scenario("aged-cycles")
    assert (scn.series, scn.spread.capacity_fade, scn.spread.capacity) == (96, 0.20, 0.02)
    assert scn.spread.resistance_growth == 0.5
    assert (scn.mode, scn.cycles, scn.cycle_soc_low, scn.soc_target, scn.rest_s) == (
        "cycles",
        3,
        0.2,
        0.8,
        1800.0,
    )
    assert scn.nvm_soh_sigma == 0.0 and scn.soh and scn.soh_prior_sigma == 0.2


def test_capacity_resistance_and_soc_are_learned(learned):
    loop, res = learned
    s = res.summary
    assert loop.cycles_done == 3 and loop.finished
    assert s.faults == ()
    # every safety property holds, P5's SoC bound included: before the first capacity update
    # the estimate may be as far off as counting with the new-cell capacity it was given, after
    # it the 3 % tolerance alone (bms/sim/checks.py, soc_bound)
    assert check_run(res, loop.chem) == []
    updated = (res.log["soh_updates"].astype(np.int64) >> 16) > 0
    err = np.abs(res.cells_est_soc - res.cells_true_soc).max(axis=1)
    assert updated.any() and err[updated].max() <= SOC_TOLERANCE
    assert s.capacity_rel_err_rms is not None and s.capacity_rel_err_rms <= 0.02
    assert s.r0_rel_err_rms is not None and s.r0_rel_err_rms <= 0.10
    assert s.soc_rmse <= 0.01
    # the summary's figures from the plant's truth, computed here again
    st = loop.state
    cap_true = loop.plant.cap_ah / loop.plant.element.capacity_ah
    assert np.sqrt(np.mean((st.cap_scale / cap_true - 1) ** 2)) == pytest.approx(
        s.capacity_rel_err_rms, abs=1e-5
    )
    # the weakest cell is reported as such, and its capacity is about 80 % of the model's
    assert st.cap_scale_min == pytest.approx(float(st.cap_scale.min()))
    assert int(st.cap_scale_min_cell) == int(np.argmin(st.cap_scale))
    assert 0.7 < st.cap_scale_min < 0.8
    assert 0.0 < st.cap_sigma < 0.02 and 0.0 < st.r_sigma < 0.05
    # three cycles: six intervals between rests, each updating the capacities
    assert st.soh_updates >> 16 == 6


def test_without_the_estimate_the_firmware_keeps_the_new_cell_model():
    scn = dataclasses.replace(load_scenario("aged-cycles"), soh=False, cycles=1, duration_s=9000.0)
    loop = ClosedLoop(scn)
    while loop.step() is not None:
        pass
    s = loop.result().summary
    assert s.capacity_rel_err_rms > 0.2  # it still believes the new capacity: 1 / 0.8 - 1
    assert s.soc_rmse > 0.02


def test_cycles_mode_is_validated():
    from bms.errors import ConfigError

    with pytest.raises(ConfigError, match=r"scenario\.cycles"):
        build_scenario("aged-cycles", None, {"cycles": 0}, ())
    with pytest.raises(ConfigError, match=r"scenario\.cycle_soc_low"):
        build_scenario("aged-cycles", None, {"cycle_soc_low": 0.9}, ())
