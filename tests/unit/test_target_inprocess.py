"""bms.firmware.Firmware: its target interface (configure/step -> State) gives the same
outputs as its numpy API."""

import numpy as np
import pytest

from bms._native import ffi
from bms.firmware import Firmware
from bms.targets.base import Measurement, TargetError
from tests.rig import N_CELLS, SENSORS, Rig


def test_same_as_the_wrapper():
    rig = Rig()
    t = Firmware()
    t.configure(bytes(ffi.buffer(rig.fw.config)))
    assert t.info().max_cells == 192 and len(t.info().config_hash) == 8
    for k in range(60):
        cur = -2.0 if k > 10 else 0.0
        if k == 5:
            assert t.command("close") == rig.fw.command("close") == 0
        m = rig.nominal(cur)
        pack = float(np.sum(m.cell_v))
        out = rig.step(m)
        st = t.step(
            100, Measurement(cur, m.cell_v, m.temp_degc, 25.0, pack, pack, float("nan"), 10.0, rig.sample_ms)
        )
        assert np.array_equal(st.soc, np.array(rig.fw.soc))
        assert (st.ccl_a, st.faults, st.contactor_state) == (out.ccl_a, out.faults, out.contactor_state)
    assert st.ccl_a > 0


def test_refuses_bad_configurations():
    t = Firmware()
    with pytest.raises(TargetError, match="bytes"):
        t.configure(b"\0" * 10)
    with pytest.raises(TargetError, match="refused"):
        t.configure(b"\0" * ffi.sizeof("bms_config_t"))
    with pytest.raises(TargetError, match="configure"):
        t.step(100, Measurement(0.0, np.full(N_CELLS, 3.7), np.full(len(SENSORS), 25.0)))
