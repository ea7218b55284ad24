"""native/src/contactor.c: every transition and every illegal command in every state."""

import pytest

from bms._native import ffi, lib

OPEN, PRE, CLOSED, OPENING = (
    lib.BMS_CONTACTOR_OPEN,
    lib.BMS_CONTACTOR_PRECHARGE,
    lib.BMS_CONTACTOR_CLOSED,
    lib.BMS_CONTACTOR_OPENING,
)
CMDS = {
    "close": lib.BMS_CMD_CLOSE,
    "open": lib.BMS_CMD_OPEN,
    "reset": lib.BMS_CMD_FAULT_RESET,
    "none": lib.BMS_CMD_NONE,
}
EMERGENCY_BIT = 1 << 8


def params():
    p = ffi.new("bms_contactor_params_t *")
    p.precharge_ratio = 0.95
    p.precharge_timeout_ms = 500
    p.break_current_a = 10.0
    p.opening_timeout_ms = 2000
    p.emergency_mask = EMERGENCY_BIT
    return p


def in_state(state):
    c = ffi.new("bms_contactor_t *")
    lib.bms_contactor_reset(c)
    c.state = state
    return c


# (state, command) -> (result, next state); faults never latched here
LEGAL = {
    (OPEN, "close"): (lib.BMS_CMD_R_ACCEPTED, PRE),
    (OPEN, "reset"): (lib.BMS_CMD_R_ACCEPTED, OPEN),
    (PRE, "open"): (lib.BMS_CMD_R_ACCEPTED, OPEN),
    (CLOSED, "open"): (lib.BMS_CMD_R_ACCEPTED, OPENING),
}
ALL = [(s, c) for s in (OPEN, PRE, CLOSED, OPENING) for c in CMDS]


@pytest.mark.parametrize(("state", "cmd"), ALL)
def test_command_table(state, cmd):
    c = in_state(state)
    rc = lib.bms_contactor_command(c, CMDS[cmd], 0)
    want_rc, want_state = LEGAL.get((state, cmd), (lib.BMS_CMD_R_ILLEGAL, state))
    assert rc == want_rc
    assert c.state == want_state
    assert c.illegal_cmds == (1 if want_rc == lib.BMS_CMD_R_ILLEGAL else 0)


def test_close_with_a_latched_fault_is_refused_and_counted():
    c = in_state(OPEN)
    assert lib.bms_contactor_command(c, CMDS["close"], 1 << 3) == lib.BMS_CMD_R_REFUSED
    assert c.state == OPEN and c.refused_cmds == 1 and c.illegal_cmds == 0


def test_precharge_completes_when_the_bus_follows():
    p, c = params(), in_state(PRE)
    lib.bms_contactor_step(c, p, 100, 400.0, 379.0, 0.0, 0)  # 94.75 %: not yet
    assert c.state == PRE
    lib.bms_contactor_step(c, p, 100, 400.0, 380.0, 0.0, 0)  # 95 %
    assert c.state == CLOSED and not c.precharge_failed


@pytest.mark.parametrize("bus", [0.0, 200.0, float("nan")])
def test_precharge_timeout_opens_and_flags(bus):
    p, c = params(), in_state(PRE)
    for _ in range(4):
        lib.bms_contactor_step(c, p, 100, 400.0, bus, 0.0, 0)
        assert c.state == PRE
    lib.bms_contactor_step(c, p, 100, 400.0, bus, 0.0, 0)  # 500 ms
    assert c.state == OPEN and c.precharge_failed


def test_precharge_aborts_on_a_fault():
    p, c = params(), in_state(PRE)
    lib.bms_contactor_step(c, p, 100, 400.0, 0.0, 0.0, 1 << 2)
    assert c.state == OPEN and not c.precharge_failed


def test_closed_fault_waits_for_the_current_then_opens():
    p, c = params(), in_state(CLOSED)
    lib.bms_contactor_step(c, p, 100, 400.0, 400.0, 150.0, 1 << 2)  # non-emergency
    assert c.state == OPENING
    lib.bms_contactor_step(c, p, 100, 400.0, 400.0, 50.0, 1 << 2)
    assert c.state == OPENING
    lib.bms_contactor_step(c, p, 100, 400.0, 400.0, -9.9, 1 << 2)
    assert c.state == OPEN and c.breaks_under_load == 0


def test_emergency_opens_at_once_under_load():
    p, c = params(), in_state(CLOSED)
    lib.bms_contactor_step(c, p, 100, 400.0, 400.0, 300.0, EMERGENCY_BIT)
    assert c.state == OPEN and c.breaks_under_load == 1
    c = in_state(OPENING)
    lib.bms_contactor_step(c, p, 100, 400.0, 400.0, 300.0, EMERGENCY_BIT)
    assert c.state == OPEN and c.breaks_under_load == 1


def test_opening_times_out_if_the_current_never_falls():
    p, c = params(), in_state(OPENING)
    for _ in range(19):
        lib.bms_contactor_step(c, p, 100, 400.0, 400.0, 100.0, 0)
        assert c.state == OPENING
    lib.bms_contactor_step(c, p, 100, 400.0, 400.0, 100.0, 0)  # 2000 ms
    assert c.state == OPEN and c.breaks_under_load == 1


def test_stable_states_stay():
    p = params()
    for s in (OPEN, CLOSED):
        c = in_state(s)
        for _ in range(100):
            lib.bms_contactor_step(c, p, 100, 400.0, 400.0, 50.0, 0)
        assert c.state == s


@pytest.mark.parametrize(
    ("state", "relays"), [(OPEN, (0, 0, 0)), (PRE, (0, 1, 1)), (CLOSED, (1, 1, 0)), (OPENING, (1, 1, 0))]
)
def test_relay_outputs(state, relays):
    r = lib.bms_contactor_relays(state)
    assert (r.main_pos, r.main_neg, r.precharge) == relays


def test_through_the_firmware():
    from tests.rig import Rig

    rig = Rig()
    rig.settle()
    assert rig.fw.command("open") == -1  # illegal in OPEN
    assert rig.fw.command("close") == 0
    assert rig.fw.command("close") == -1  # illegal in PRECHARGE
    rig.step(rig.nominal())
    assert rig.fw.contactor_state == "closed"
    assert rig.fw.command("reset") == -1  # only in OPEN
    assert rig.fw.command("open") == 0
    rig.step(rig.nominal(50.0))
    assert rig.fw.contactor_state == "opening"
    rig.step(rig.nominal(0.0))
    assert rig.fw.contactor_state == "open"
    assert rig.fw.instance.contactor.illegal_cmds == 3


def test_break_current_is_a_strict_limit_and_sign_free():
    p = params()
    for i in (10.0, -10.0):
        c = in_state(OPENING)
        lib.bms_contactor_step(c, p, 100, 400.0, 400.0, i, 0)
        assert c.state == OPENING  # at the limit: not below it
    for i in (9.99, -9.99):
        c = in_state(OPENING)
        lib.bms_contactor_step(c, p, 100, 400.0, 400.0, i, 0)
        assert c.state == OPEN
    c = in_state(CLOSED)
    lib.bms_contactor_step(c, p, 100, 400.0, 400.0, -9.99, EMERGENCY_BIT)  # emergency below the limit
    assert c.state == OPEN and c.breaks_under_load == 0
    c = in_state(CLOSED)
    lib.bms_contactor_step(c, p, 100, 400.0, 400.0, -10.0, EMERGENCY_BIT)
    assert c.breaks_under_load == 1


def test_a_new_close_forgets_the_last_precharge_failure():
    p, c = params(), in_state(PRE)
    for _ in range(5):
        lib.bms_contactor_step(c, p, 100, 400.0, 0.0, 0.0, 0)
    assert c.precharge_failed
    assert lib.bms_contactor_command(c, CMDS["close"], 0) == lib.BMS_CMD_R_ACCEPTED
    assert not c.precharge_failed and c.state_ms == 0
    lib.bms_contactor_step(c, p, 100, 400.0, 0.0, 0.0, 0)
    assert c.state == PRE and c.state_ms == 100


def test_reset_whatever_the_memory_held():
    c = ffi.new("bms_contactor_t *")
    ffi.memmove(c, b"\xa5" * ffi.sizeof("bms_contactor_t"), ffi.sizeof("bms_contactor_t"))
    lib.bms_contactor_reset(c)
    assert (c.state, c.state_ms, c.illegal_cmds, c.refused_cmds, c.breaks_under_load, c.precharge_failed) == (
        OPEN,
        0,
        0,
        0,
        0,
        0,
    )


def test_a_small_break_current_limit_uses_the_magnitude():
    p = params()
    p.break_current_a = 0.5
    for i in (0.7, -0.7):
        c = in_state(OPENING)
        lib.bms_contactor_step(c, p, 100, 400.0, 400.0, i, 0)
        assert c.state == OPENING


@pytest.mark.parametrize(
    "breaks,refused,illegal",
    [(0, 0, 0), (1, 2, 3), (0xFFFF, 0xFF, 0xFF), (0x10000, 256, 1000), (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)],
)
def test_the_step_reports_the_counters_in_one_word_each_saturating(breaks, refused, illegal):
    """bms_out_t.contactor_counts (bms.c's outputs) from the instance's counters."""
    from tests.rig import Rig

    rig = Rig()
    rig.settle()
    ct = rig.fw.instance.contactor
    ct.breaks_under_load, ct.refused_cmds, ct.illegal_cmds = breaks, refused, illegal
    out = rig.step(rig.nominal())
    want = min(breaks, 0xFFFF) << 16 | min(refused, 0xFF) << 8 | min(illegal, 0xFF)
    assert out.contactor_counts == want
