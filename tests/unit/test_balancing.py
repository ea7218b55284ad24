"""Cell balancing in the firmware (native/src/balancing.c): which cells bleed, when not,
and the balancing-switch test, against a front end modelled here from the circuit
(bms.balancing's docstring): a switch conducting during a conversion drops its own reading
by 2 R_w V / (R_b + 2 R_w) and raises each neighbour's by half that."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bms._native import ffi, lib
from bms.balancing import BalancingSpec, fill_balancing, switch_trip_bound_s
from bms.chemistry import load_chemistry
from bms.firmware import Firmware, PackLayout, fill_config
from bms.firmware_config import fill_nvm_health
from bms.targets.base import TargetError

N = 12
DT_MS = 100
CHEM = load_chemistry("nmc811-graphite")
CELL = CHEM.cell.scaled(2)


def ocv(soc: np.ndarray) -> np.ndarray:
    row = int(np.argmin(np.abs(CELL.temp_c - 25.0)))
    return np.interp(soc, CELL.soc, CELL.ocv_v[row])


def config(spec: BalancingSpec, n: int = N, cap_scale: np.ndarray | None = None) -> bytes:
    cfg = ffi.new("bms_config_t *")
    fill_config(cfg, CELL, PackLayout(n, (0, n // 2, n - 1)), CHEM.protection)
    fill_balancing(cfg, spec, CELL.capacity_ah, CHEM.protection.plausibility.current_offset_max_a)
    if cap_scale is not None:  # the health the BMS kept (soh.h)
        fill_nvm_health(cfg, cap_scale, np.ones(n), 0.005)
    return bytes(ffi.buffer(cfg))


class Afe:
    """The firmware on a resting pack whose cells sit at fixed SoCs, read through a front end
    with the balancing circuit: stuck switches, the test conversions."""

    def __init__(
        self, soc: np.ndarray, spec: BalancingSpec | None = None, cap_scale: np.ndarray | None = None
    ) -> None:
        self.spec = spec or BalancingSpec(mode="top")
        self.n = n = len(soc)
        self.fw = Firmware()
        self.fw.configure(config(self.spec, n, cap_scale))
        self.v = ocv(np.asarray(soc, dtype=float))
        self.stuck_on = np.zeros(n, dtype=bool)
        self.stuck_off = np.zeros(n, dtype=bool)
        self.cmd = np.zeros(n, dtype=bool)
        self.test = False
        self.current_a = 0.0
        self.temp_c = 25.0
        self.t_ms = 0
        self.k = 0

    def reading(self) -> np.ndarray:
        on = self.stuck_on | (self.cmd & self.test & ~self.stuck_off)
        ib = np.where(on, self.v / (self.spec.bleed_ohm + 2 * self.spec.sense_wire_ohm), 0.0)
        nb = np.concatenate([[0.0], ib[:-1]]) + np.concatenate([ib[1:], [0.0]])
        dither = 1e-4 * ((self.k + np.arange(self.n)) % 5)  # an ADC's dither keeps the readings alive
        return self.v + self.spec.sense_wire_ohm * (nb - 2 * ib) + dither

    def step(self, cell_v: np.ndarray | None = None) -> object:
        v = self.reading() if cell_v is None else cell_v
        self.t_ms += DT_MS
        out = self.fw.step_arrays(
            DT_MS, self.current_a, v, np.full(3, self.temp_c), ambient_degc=25.0,
            pack_v=float(np.sum(v)), bus_v=float(np.sum(v)), sample_time_ms=self.t_ms, coolant_flow_lpm=10.0,
        )  # fmt: skip
        self.k += 1
        self.cmd = self.fw.bal_mask.copy()
        self.test = bool(out.bal_test)
        return out

    def close(self) -> None:
        """Contactors closed (a current with them open is a sensor offset)."""
        assert self.fw.command("close") == 0
        for _ in range(3):
            self.step()
        assert self.fw.contactor_state == "closed"

    def run_s(self, seconds: float) -> list[np.ndarray]:
        masks = []
        for _ in range(int(seconds * 1000 / DT_MS)):
            out = self.step()
            if not out.bal_test:
                masks.append(self.cmd.copy())
        return masks


# twelve cells, cell 7 the least charged; cells 2, 4, 9 far above it, the others within
# the stop threshold of it (0.2 % of the capacity: 0.1 % here)
SOC = np.array([0.601, 0.6005, 0.66, 0.601, 0.65, 0.6008, 0.6003, 0.60, 0.601, 0.64, 0.6005, 0.601])


def test_top_balancing_bleeds_the_fuller_cells_and_never_the_lowest():
    afe = Afe(SOC)
    masks = afe.run_s(30)
    on = np.array(masks[-50:]).all(axis=0)
    assert set(np.flatnonzero(on)) == {2, 4, 9}
    assert not np.array(masks)[:, 7].any()  # the reference cell never


def test_bottom_balancing_bleeds_the_cells_with_more_charge_above_empty():
    # the same cells: bottom balancing measures from empty, the reference is again cell 7
    afe = Afe(SOC, BalancingSpec(mode="bottom"))
    on = np.array(afe.run_s(30)[-50:]).all(axis=0)
    assert set(np.flatnonzero(on)) == {2, 4, 9}
    # bottom balancing counts the charge the cell holds: with cell 2's capacity estimated
    # smaller, its charge is smaller -- the capacity scale enters (soh: a stored health)


def test_at_most_max_per_module_largest_excess_first():
    soc = np.array([0.60, 0.70, 0.68, 0.66, 0.64, 0.62, 0.61, 0.605, 0.603, 0.602, 0.70, 0.69])
    afe = Afe(soc, BalancingSpec(mode="top", cells_per_module=6, max_per_module=2))
    on = np.array(afe.run_s(30)[-50:]).all(axis=0)
    assert set(np.flatnonzero(on)) == {1, 2, 10, 11}  # the two largest of each six


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda a: setattr(a, "current_a", 30.0), id="discharging"),
        pytest.param(lambda a: setattr(a, "current_a", -0.5 * CELL.capacity_ah), id="charging-fast"),
        pytest.param(lambda a: setattr(a, "temp_c", 60.0), id="board-hot"),
    ],
)
def test_no_balancing_while_in_use_or_hot(change):
    afe = Afe(SOC)
    assert np.array(afe.run_s(10)[-5:]).any()  # balancing first
    change(afe)
    afe.v = afe.v - (0.004 * afe.current_a)  # a loaded cell reads its resistance's drop
    masks = afe.run_s(5)
    assert not np.array(masks[2:]).any()


def test_charging_slowly_in_the_cv_tail_balances():
    afe = Afe(SOC)
    afe.current_a = -0.05 * CELL.capacity_ah  # C/20, below the C/10 allowance
    on = np.array(afe.run_s(20)[-50:]).all(axis=0)
    assert set(np.flatnonzero(on)) == {2, 4, 9}


def test_an_implausible_reading_is_never_bled():
    afe = Afe(SOC)
    afe.run_s(10)
    # until its sensor fault latches (sensor_debounce_ms: 500 ms), the others go on
    for _ in range(4):
        v = afe.reading()
        v[4] = float("nan")
        afe.step(v)
        assert not afe.cmd[4]
        assert afe.cmd[2] or afe.test
    for _ in range(3):
        v = afe.reading()
        v[4] = float("nan")
        afe.step(v)
    assert afe.fw.faults == ["volt_sensor"] and not afe.cmd.any()


def test_a_latched_fault_stops_balancing():
    afe = Afe(SOC)
    afe.run_s(10)
    for _ in range(30):  # cell 0 over its overvoltage trip until it latches
        v = afe.reading()
        v[0] = 4.5
        afe.step(v)
    assert "cell_ov" in afe.fw.faults
    assert not afe.cmd.any()


def test_the_rest_budget_ends_balancing():
    afe = Afe(SOC, BalancingSpec(mode="top", rest_budget_s=20.0))
    masks = np.array(afe.run_s(40))
    on_steps = masks.any(axis=1)
    # on for about the budget, then off for good (within a few steps of the budget)
    assert 180 <= on_steps.sum() <= 210
    assert not on_steps[-100:].any()


def test_uncertain_estimates_do_not_take_part():
    # the filter's SoC sigma here is ~1.8 % at 0.64-0.66 and ~2.7 % at 0.60 (flatter OCV):
    # with 2 % as the most allowed, the cells at 0.60 are out (the reference among them), the
    # fuller cells are compared among themselves only: 0.66 is 2 % above 0.64 (over the 1.5 %
    # start), 0.65 only 1 %
    afe = Afe(SOC, BalancingSpec(mode="top", soc_sigma_max=0.02, start_dsoc=0.015))
    on = np.array(afe.run_s(30)[-50:]).all(axis=0)
    sig = np.sqrt([afe.fw.instance.ekf[i].p[0] for i in range(N)])
    assert np.all(sig[[2, 4, 9]] < 0.02) and np.all(np.delete(sig, [2, 4, 9]) > 0.02)
    assert set(np.flatnonzero(on)) == {2}
    # none of them at all when no cell is known well enough
    afe = Afe(SOC, BalancingSpec(mode="top", soc_sigma_max=0.005))
    assert not np.array(afe.run_s(20)).any()


@pytest.mark.parametrize("stuck", ["on", "off"])
def test_a_stuck_switch_is_latched_within_its_bound(stuck):
    spec = BalancingSpec(mode="top", test_interval_ms=5000, switch_debounce_ms=10000)
    afe = Afe(SOC, spec)
    afe.run_s(20)
    assert afe.fw.faults == []  # healthy switches pass their tests
    getattr(afe, f"stuck_{stuck}")[5] = True
    bound = switch_trip_bound_s(spec, N, DT_MS)
    t = 0.0
    while "balancing" not in afe.fw.faults and t < bound + 1.0:
        afe.step()
        t += DT_MS / 1000
    assert afe.fw.faults == ["balancing"]
    assert afe.fw.fault_records()[26] == 5
    assert t <= bound
    assert t >= spec.switch_debounce_ms / 1000  # confirmed, not tripped on one test


def test_healthy_switches_over_many_sweeps_trip_nothing():
    afe = Afe(SOC, BalancingSpec(mode="top", test_interval_ms=1000, switch_debounce_ms=2000))
    afe.run_s(120)
    assert afe.fw.faults == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"max_per_module": 13}, "bal.max_per_module"),
        ({"stop_dsoc": 0.02}, "bal.stop_dsoc"),
        ({"sense_wire_ohm": 0.001}, "bal.sense_wire_ohm"),
        ({"switch_debounce_ms": 1000}, "bal.switch_debounce_ms"),
        ({"bleed_ohm": 0.1}, "bal.bleed_ohm"),
    ],
)
def test_a_bad_balancing_config_names_its_field(change, field):
    with pytest.raises(TargetError, match=field.replace(".", r"\.")):
        Firmware().configure(config(replace(BalancingSpec(mode="top"), **change)))


def test_balancing_off_needs_none_of_its_numbers():
    cfg = ffi.new("bms_config_t *")
    fill_config(cfg, CELL, PackLayout(N, (0, 5, 11)), CHEM.protection)  # bal all zero
    Firmware().configure(bytes(ffi.buffer(cfg)))


def test_bleed_current_and_expected_step_by_ohms_law():
    afe = Afe(SOC)
    inst, cfg = afe.fw.instance, ffi.addressof(afe.fw.instance.cfg)
    r_b, r_w = afe.spec.bleed_ohm, afe.spec.sense_wire_ohm
    inst.bal.cmd[0] = 0b00000101  # cells 0 and 2
    inst.bal.cmd[1] = 0b00001000  # cell 11
    for cell, v in ((0, 3.7), (2, 0.5), (11, 4.1)):
        assert lib.bms_bal_bleed_a(ffi.addressof(inst.bal), cfg, cell, v) == pytest.approx(
            v / (r_b + 2 * r_w), rel=1e-6
        )
    for cell, v in ((1, 3.7), (3, 3.7), (0, float("nan")), (0, -1.0), (0, 0.0), (12, 3.7)):
        assert lib.bms_bal_bleed_a(ffi.addressof(inst.bal), cfg, cell, v) == 0.0  # off, no voltage, no cell
    inst.bal.cmd[1] = 0b00010000  # cell 12: beyond the pack's 12 cells
    assert lib.bms_bal_bleed_a(ffi.addressof(inst.bal), cfg, 12, 3.7) == 0.0
    assert lib.bms_bal_step_v(cfg, 4.0) == pytest.approx(2 * r_w * 4.0 / r_b, rel=1e-6)


@pytest.mark.parametrize(("wire_share", "fails"), [(0.6, False), (0.4, True)])
def test_a_switch_fails_its_test_below_half_the_expected_step(wire_share, fails):
    # the harness's sense lines carry less resistance than configured: the step shrinks to
    # that share of the expected one; the test's threshold is half of it
    spec = BalancingSpec(mode="top", test_interval_ms=2000, switch_debounce_ms=4000)
    afe = Afe(SOC, spec)
    afe.spec = replace(spec, sense_wire_ohm=spec.sense_wire_ohm * wire_share)  # the front end's truth
    afe.run_s(20)
    assert ("balancing" in afe.fw.faults) == fails


def test_the_step_that_latches_opens_every_switch_at_once():
    spec = BalancingSpec(mode="top", test_interval_ms=2000, switch_debounce_ms=4000)
    afe = Afe(SOC, spec)
    afe.run_s(10)
    assert afe.cmd.any()
    afe.stuck_off[4] = True
    for _ in range(200):
        out = afe.step()
        if out.faults:
            break
    assert afe.fw.faults == ["balancing"]
    assert not afe.cmd.any() and out.bal_cells == 0 and not out.bal_test


def test_a_power_on_reset_in_a_switch_test_forgets_everything():
    spec = BalancingSpec(mode="top", test_interval_ms=2000, switch_debounce_ms=4000, rest_budget_s=5.0)
    afe = Afe(SOC, spec)
    for _ in range(200):
        if afe.step().bal_test:
            break
    b = afe.fw.instance.bal
    assert b.test_phase == 1 and b.sweeping == 1 and b.n_on > 0 and any(b.on) and b.budget_ms > 0
    afe.fw.reset()
    assert not any(b.on) and not any(b.cmd) and not any(b.failed)
    assert (b.budget_ms, b.test_wait_ms, b.test_group, b.test_phase, b.sweeping, b.n_on) == (0, 0, 0, 0, 0, 0)
    assert b.test_i_a == 0.0 and list(b.test_v) == [0.0] * 8


def test_a_power_on_reset_forgets_a_failed_switch():
    spec = BalancingSpec(mode="top", test_interval_ms=2000, switch_debounce_ms=4000, rest_budget_s=5.0)
    afe = Afe(SOC, spec)
    afe.stuck_on[4] = True
    afe.run_s(20)
    assert afe.fw.faults == ["balancing"] and any(afe.fw.instance.bal.failed)
    afe.fw.reset()
    assert not any(afe.fw.instance.bal.failed)
    afe.stuck_on[4] = False  # repaired
    masks = afe.run_s(3)
    assert afe.fw.faults == []
    assert np.array(masks[-5:]).any()  # balancing again: a new budget


def test_a_sweep_tests_every_cell_once_in_groups_of_non_neighbours():
    spec = BalancingSpec(mode="top", test_interval_ms=3000, switch_debounce_ms=6000)
    afe = Afe(SOC, spec)
    tests = []
    for k in range(80):
        out = afe.step()
        if out.bal_test:
            tests.append((k, frozenset(np.flatnonzero(afe.cmd))))
            assert out.bal_cells == len(tests[-1][1])  # no switch beyond the pack
    # the first sweep starts when the interval has passed (the estimators' first step seeds)
    assert tests[0][0] == pytest.approx(3000 / DT_MS, abs=2)
    # three groups (stride 3 over a block of 24 cells), one every other step
    assert [g for _, g in tests[:3]] == [
        frozenset({0, 3, 6, 9}),
        frozenset({1, 4, 7, 10}),
        frozenset({2, 5, 8, 11}),
    ]
    assert [k for k, _ in tests[1:3]] == [tests[0][0] + 2, tests[0][0] + 4]
    # and the next sweep an interval after the last
    assert tests[3][0] - tests[2][0] == pytest.approx(3000 / DT_MS, abs=2)


def test_few_cells_per_module_at_once_stretches_the_test_groups():
    spec = BalancingSpec(mode="top", test_interval_ms=2000, switch_debounce_ms=4000, max_per_module=2)
    afe = Afe(SOC, spec)
    groups = []
    for _ in range(120):
        if afe.step().bal_test:
            groups.append(frozenset(np.flatnonzero(afe.cmd)))
    # stride ceil(12 / 2) = 6: {0, 6}, {1, 7}, ... {5, 11}
    assert groups[:6] == [frozenset({i, i + 6}) for i in range(6)]
    afe = Afe(SOC, replace(spec, max_per_module=3))
    groups = []
    for _ in range(120):
        if afe.step().bal_test:
            groups.append(frozenset(np.flatnonzero(afe.cmd)))
    # stride 4: {0, 4, 8}, ... {3, 7, 11}
    assert groups[:4] == [frozenset({i, i + 4, i + 8}) for i in range(4)]


def test_the_budget_is_new_after_the_pack_was_used():
    spec = BalancingSpec(mode="top", rest_budget_s=5.0)
    afe = Afe(SOC, spec)
    afe.run_s(10)
    assert not np.array(afe.run_s(2)).any()  # the budget is spent
    afe.current_a = 20.0  # driven
    afe.run_s(1)
    afe.current_a = 0.0
    assert np.array(afe.run_s(3)[-5:]).any()  # a new rest, a new budget


def test_a_flagged_reading_in_range_of_a_voltage_is_never_bled():
    # cell 2 (the fullest, bled) reads 5.6 V: above the front end's range, flagged at once
    afe = Afe(SOC)
    afe.run_s(5)
    assert afe.cmd[2] or afe.test
    for _ in range(3):
        v = afe.reading()
        v[2] = 5.6
        afe.step(v)
        assert not afe.cmd[2]


def test_no_cell_readable_no_switch():
    afe = Afe(SOC)
    afe.run_s(5)
    for _ in range(3):
        afe.step(np.full(N, np.nan))
        assert not afe.cmd.any()


def test_top_balancing_counts_the_charge_to_full_with_each_cells_capacity():
    # every cell at 60 %, the firmware's stored capacities differ: 0.9 x on cells 1 and 5.
    # Top: they miss 10 % less charge to full than the others (0.4 x 0.9 vs 0.4 x 1.0: 4 % of
    # the capacity), so they are full first: bled. Bottom: the larger cells hold more above
    # empty (0.6 x 1.0 vs 0.6 x 0.9: 6 %): those are bled, the small ones are the reference
    soc = np.full(N, 0.60)
    cap = np.ones(N)
    cap[[1, 5]] = 0.9
    top = Afe(soc, BalancingSpec(mode="top"), cap)
    on = np.array(top.run_s(20)[-30:]).all(axis=0)
    assert set(np.flatnonzero(on)) == {1, 5}
    bottom = Afe(soc, BalancingSpec(mode="bottom", max_per_module=12), cap)
    on = np.array(bottom.run_s(20)[-30:]).all(axis=0)
    assert set(np.flatnonzero(on)) == set(range(N)) - {1, 5}


def test_the_first_cell_can_be_the_reference():
    soc = np.array([0.60, 0.615, 0.60, 0.60, 0.60, 0.60, 0.60, 0.60, 0.60, 0.60, 0.60, 0.60]) + np.linspace(
        0, 0.001, N
    )
    soc[0] = 0.595  # the least charged, 2 % under cell 1
    afe = Afe(soc)
    on = np.array(afe.run_s(20)[-30:]).all(axis=0)
    assert set(np.flatnonzero(on)) == {1}


def test_balancing_in_a_slow_charge_beyond_the_rest_band():
    # a charge of C/4 with the allowance at C/2: not at rest (2 A band), but slow enough
    afe = Afe(SOC, BalancingSpec(mode="top", charge_current_max_c=0.5))
    afe.close()
    afe.current_a = -0.25 * CELL.capacity_ah
    afe.v = afe.v + 0.004 * 0.25 * CELL.capacity_ah
    on = np.array(afe.run_s(20)[-30:]).all(axis=0)
    assert set(np.flatnonzero(on)) == {2, 4, 9}


def test_the_budget_stops_at_exactly_its_time():
    spec = BalancingSpec(mode="top", rest_budget_s=2.0)
    afe = Afe(SOC, spec)
    afe.run_s(6)
    assert afe.fw.instance.bal.budget_ms == 2000  # counted while balancing, not one step more


def test_a_switch_test_is_judged_only_on_a_steady_current():
    spec = BalancingSpec(mode="top", test_interval_ms=2000, switch_debounce_ms=4000)
    afe = Afe(SOC, spec)
    afe.close()
    afe.stuck_off[4] = True
    for k in range(300):  # the current jumps by 6 A every step: no test is judged
        afe.current_a = 20.0 + 6.0 * (k % 2)
        afe.step()
    assert afe.fw.faults == []
    afe.current_a = 20.0  # steady, in use (no balancing): the switches are still tested
    for _ in range(150):
        if afe.step().faults:
            break
    assert afe.fw.faults == ["balancing"]


@pytest.mark.parametrize("cell", [0, 47])
def test_a_long_pack_sweeps_every_group_and_finds_a_late_stuck_switch(cell):
    # 48 cells: two blocks of 3 groups of 8 cells
    soc = np.resize(SOC, 48)
    spec = BalancingSpec(mode="top", test_interval_ms=2000, switch_debounce_ms=4000)
    afe = Afe(soc, spec)
    groups = []
    for _ in range(60):
        out = afe.step()
        if out.bal_test:
            groups.append(np.flatnonzero(afe.cmd))
            assert out.bal_cells == len(groups[-1])
    assert [list(g) for g in groups[:6]] == [
        list(range(b * 24 + o, b * 24 + 24, 3)) for b in (0, 1) for o in range(3)
    ]
    afe.run_s(10)
    assert afe.fw.faults == []  # healthy: every test passes
    afe.stuck_off[cell] = True  # after a few sweeps
    afe.run_s(switch_trip_bound_s(spec, 48, DT_MS) + 1)
    assert afe.fw.faults == ["balancing"] and afe.fw.fault_records()[26] == cell


def test_a_verdict_through_a_reading_later_condemned_is_withdrawn():
    """A cell's reading that freezes looks, to the switch test, like a switch that does not
    act: no step when its switch is toggled. Until plausibility condemns the frozen reading
    (stuck_repeats_min identical samples) the test may judge through it; that verdict must go
    with the reading, or the balancing fault latches on a healthy switch (found by the state
    machine: a 2s LFP pack whose cell 0 reading froze latched a balancing fault on cell 0,
    17 s after volt_stuck, while the failed switch was cell 1's)."""
    spec = BalancingSpec(mode="top", test_interval_ms=1000, switch_debounce_ms=3000)
    afe = Afe(SOC, spec)
    afe.run_s(10)
    assert afe.fw.faults == []
    frozen = afe.reading()[3]
    judged_frozen = False
    for _ in range(300):  # 30 s: volt_stuck latches within ~4 s, the switch debounce is 3 s
        v = afe.reading()
        v[3] = frozen  # bit for bit, whatever the switches do
        afe.step(v)
        judged_frozen |= bool(afe.fw._inst.bal.failed[0] >> 3 & 1)
    assert judged_frozen  # the test did judge through the frozen reading (the case at issue)
    assert "volt_stuck" in afe.fw.faults
    assert "balancing" not in afe.fw.faults
