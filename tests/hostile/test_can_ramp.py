"""The README's CAN command held P2 on every seed only once the property states the
quantisation of the limit a charger receives (issue 16, safety defect 2): the CCL goes on
the bus rounded down to the DBC's 0.1 A, so it may rise by the ramp plus one such step in a
step (after one it was rounded down by almost a step), never above the firmware's own."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bms.chemistry import load_chemistry
from bms.firmware import Firmware
from bms.sim.checks import Limits, check_run
from bms.sim.loop import run
from bms.sim.scenario import load_scenario
from hil.can import codec
from hil.targets.can import CanTarget

STEP_A = codec.message("BMS_Limits").get_signal_by_name("ChargeCurrentLimit").scale


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_can_run_holds_p2_with_the_quantised_ramp(seed):
    scn = replace(load_scenario("fastcharge-10-80"), series=12, duration_s=40.0, seed=seed)
    chem = load_chemistry(scn.chemistry)
    with CanTarget(f"virtual:ramp{seed}") as tg:
        assert tg.limit_step_a == STEP_A == pytest.approx(0.1)
        res = run(scn, tg)
    assert res.limit_step_a == STEP_A
    assert [str(v) for v in check_run(res, chem) if v.prop == "P2-limit"] == []
    # the quantisation is real: rises beyond the ramp happen, and never by more than one step
    ccl = np.asarray(res.log["ccl_a"], dtype=float)
    ramp_step = Limits(scn, chem).ramp_a_per_s * scn.dt_ms / 1000.0
    excess = np.diff(np.concatenate([[0.0], ccl])) - ramp_step
    assert excess.max() <= STEP_A + 1e-3
    if excess.max() > 1e-3:
        # without the allowance the same run would be a violation: the allowance is needed
        strict = replace(res, limit_step_a=0.0)
        assert any("ccl rose" in v.detail for v in check_run(strict, chem))


def test_the_in_process_target_gets_no_quantisation_allowance():
    assert Firmware().limit_step_a == 0.0
    scn = replace(load_scenario("fastcharge-10-80"), series=12, duration_s=20.0)
    assert run(scn).limit_step_a == 0.0
