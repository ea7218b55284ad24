"""P6: for arbitrary, including hostile, measurements and step lengths, every number the
firmware reports is finite and within its range, on the session's target."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bms.chemistry import load_chemistry
from bms.sim.configure import firmware_config
from bms.sim.scenario import Scenario
from bms.targets.base import Measurement
from hil.targets.remote import configure_for_a_new_run

N_CELLS = 12
SCN = Scenario(series=N_CELLS, parallel=4)
SENSORS = len(SCN.sensed)
CHEM = load_chemistry(SCN.chemistry)

anything = st.floats(allow_nan=True, allow_infinity=True, width=32)
plausible_v = st.floats(2.0, 4.375, width=32)


@st.composite
def measurements(draw: st.DrawFn) -> Measurement:
    hostile = draw(st.booleans())
    v = st.one_of(anything, plausible_v) if hostile else plausible_v
    return Measurement(
        current_a=draw(st.one_of(anything, st.floats(-512, 512, width=32))),
        cell_v=np.array(draw(st.lists(v, min_size=N_CELLS, max_size=N_CELLS)), dtype=np.float32),
        temp_degc=np.array(
            draw(
                st.lists(
                    st.one_of(anything, st.floats(-30, 60, width=32)), min_size=SENSORS, max_size=SENSORS
                )
            ),
            dtype=np.float32,
        ),
        ambient_degc=draw(anything),
        pack_v=draw(anything),
        bus_v=draw(anything),
        charger_max_a=draw(anything),
        coolant_flow_lpm=draw(anything),
        sample_time_ms=draw(st.integers(0, 2**32 - 1)),
    )


@given(
    steps=st.lists(
        st.tuples(
            st.integers(0, 2**32 - 1) | st.sampled_from([0, 1, 100, 3_600_000, 3_600_001]),
            measurements(),
            st.sampled_from([None, "close", "open", "reset"]),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_outputs_are_finite_and_in_range_whatever_comes_in(bms_target, steps):
    configure_for_a_new_run(bms_target, firmware_config(CHEM, SCN))
    hw = SCN.pack.hw_charge_max_a
    for dt_ms, meas, cmd in steps:
        if cmd is not None:
            bms_target.command(cmd)
        st_ = bms_target.step(dt_ms, meas)
        for name in ("ccl_a", "dcl_a", "soc_min", "soc_max", "soc_mean", "soc_pack", "core_temp_max_degc"):
            assert math.isfinite(getattr(st_, name)), (name, getattr(st_, name))
        assert 0.0 <= st_.ccl_a <= hw * (1 + 1e-6) and st_.dcl_a >= 0.0
        assert np.all(np.isfinite(st_.soc)) and np.all((st_.soc >= 0) & (st_.soc <= 1))
        assert np.all(np.isfinite(st_.core_temp_degc))
        assert st_.contactor_state in (0, 1, 2, 3)
        assert 0 <= st_.ccl_limit <= 13
        if st_.faults:
            assert st_.ccl_a == 0.0
