"""balancing.c's rules at their edges: bms_bal_step called directly on inputs set by hand,
every threshold met exactly. The numbers are dyadic (exact in float32), so "at the threshold"
is the threshold itself and each rule's side of it (balancing.h / bms_config.h say which:
"below", "above", "within") is what is checked. The rules hold for any configuration; the
switch-test intervals here are shorter than config_check.c admits (>= 1 s) to keep the
tests short."""

from __future__ import annotations

import numpy as np
import pytest

from bms._native import ffi, lib
from bms.balancing import BalancingSpec, fill_balancing
from bms.chemistry import load_chemistry
from bms.firmware import PackLayout, fill_config

CHEM = load_chemistry("nmc811-graphite")
NEVER_MS = 0xFFFFFFFF  # no switch test in the decision's tests
# exact in float32: thresholds and the SoCs that sit on them
START = 2.0**-6  # 0.015625
STOP = 2.0**-7  # 0.0078125
SIGMA = 2.0**-4
BASE_SOC = 0.5


def f32(x: float) -> float:
    return float(np.float32(x))


def above(x: float) -> float:
    """The next float32 above x."""
    return float(np.nextafter(np.float32(x), np.float32(np.inf)))


class Bal:
    """One bms_bal_t with its configuration and the input struct it is stepped on."""

    def __init__(self, n: int = 12, mode: str = "top", **bal: float) -> None:
        self.n = n
        self.cfg = ffi.new("bms_config_t *")
        fill_config(self.cfg, CHEM.cell, PackLayout(n, (0, n // 2, n - 1)), CHEM.protection)
        fill_balancing(self.cfg, BalancingSpec(mode=mode), CHEM.cell.capacity_ah, 0.5)
        b = self.cfg.bal
        b.start_dsoc, b.stop_dsoc, b.soc_sigma_max = START, STOP, SIGMA
        b.rest_current_a, b.charge_current_max_a, b.temp_max_degc = 0.5, 2.0, 48.0
        b.bleed_ohm, b.sense_wire_ohm, b.test_di_max_a = 32.0, 0.25, 0.5
        b.cells_per_module, b.max_per_module = 12, 6
        b.test_interval_ms = NEVER_MS
        for k, v in bal.items():
            setattr(b, k, v)
        self.cfg.charge.cell_v_discharge_min_v = 3.0
        self.b = ffi.new("bms_bal_t *")
        lib.bms_bal_reset(self.b)
        m = int(lib.BMS_MAX_CELLS)
        self.v = ffi.new("float[]", [3.75] * m)
        self.flags = ffi.new("uint8_t[]", m)
        self.ekf = ffi.new("bms_ekf_cell_t[]", m)
        self.soh = ffi.new("bms_soh_t *")
        for i in range(m):
            self.ekf[i].soc = BASE_SOC
            self.ekf[i].p[0] = f32(SIGMA / 2) ** 2
            self.soh.cap_q[i] = 32768  # BMS_SOH_CAP_ONE: the model's capacity
        self.inp = ffi.new("bms_bal_input_t *")
        i = self.inp
        i.current_a, i.temp_max_degc, i.faults_latched, i.dt_ms = 0.0, 25.0, 0, 100
        i.fresh, i.estimates_ok = 1, 1
        i.cell_v, i.cell_flags, i.ekf, i.soh = self.v, self.flags, self.ekf, self.soh
        self.t_ms = 0

    def soc(self, values: dict[int, float]) -> None:
        for i, s in values.items():
            self.ekf[i].soc = s

    def decide(self, **inputs: float) -> set[int]:
        """One step on these inputs (bms_bal_input_t fields) changed; the switches then on."""
        for k, v in inputs.items():
            setattr(self.inp, k, v)
        self.step()
        return self.on()

    def step(self) -> tuple[int, int]:
        self.t_ms += int(self.inp.dt_ms)
        cell = ffi.new("uint32_t *")
        rc = lib.bms_bal_step(self.b, self.cfg, self.inp, cell)
        return int(rc), int(cell[0])

    def bits(self, mask: object) -> set[int]:
        return {i for i in range(int(lib.BMS_MAX_CELLS)) if (mask[i >> 3] >> (i & 7)) & 1}

    def on(self) -> set[int]:
        return self.bits(self.b.cmd)


def high(bal: Bal, cells: list[int], excess: float = 2 * START) -> None:
    """Top balancing: these cells that much nearer full than the others."""
    bal.soc({i: BASE_SOC + excess for i in cells})


# -- when balancing runs: rest, slow charge, temperature -----------------------------------


@pytest.mark.parametrize(
    ("current_a", "runs"),
    [
        (0.5, True),  # the rest band's edge, discharge side (|I| <= rest_current_a)
        (-0.5, True),  # its edge on the charge side
        (above(0.5), False),  # just past it, discharging
        (0.75, False),  # discharging below 1 A is not a slow charge
        (-2.0, True),  # the slow charge's edge (charging at most charge_current_max_a)
        (-above(2.0), False),
        (float("nan"), False),  # no current known
    ],
)
def test_balancing_runs_at_rest_and_in_a_slow_charge_up_to_their_edges(current_a, runs):
    bal = Bal()
    high(bal, [3])
    assert bal.decide(current_a=current_a) == ({3} if runs else set())


@pytest.mark.parametrize(("temp", "runs"), [(47.75, True), (48.0, False), (float("nan"), False)])
def test_balancing_stops_at_the_board_temperature_limit(temp, runs):
    bal = Bal()
    high(bal, [3])
    assert bal.decide(temp_max_degc=temp) == ({3} if runs else set())


def test_a_cell_at_its_discharge_floor_is_not_bled():
    bal = Bal()
    high(bal, [3, 4])
    bal.v[3] = 3.0  # cell_v_discharge_min_v: "above the floor" is required
    bal.v[4] = above(3.0)
    assert bal.decide() == {4}


def test_an_estimate_exactly_at_its_sigma_limit_takes_part():
    bal = Bal()
    high(bal, [3, 4])
    s = np.float32(SIGMA)
    bal.ekf[3].p[0] = float(s * s)  # variance == soc_sigma_max^2: within
    bal.ekf[4].p[0] = above(float(s * s))
    assert bal.decide() == {3}


# -- which cells: thresholds, hysteresis, the reference, the module's share ------------------


@pytest.mark.parametrize(("excess", "starts"), [(START, False), (above(BASE_SOC + START) - BASE_SOC, True)])
def test_a_cell_starts_only_above_the_start_threshold(excess, starts):
    bal = Bal()
    bal.soc({3: BASE_SOC + excess})
    assert bal.decide() == ({3} if starts else set())


def test_hysteresis_keeps_a_cell_down_to_the_stop_threshold_then_drops_it():
    bal = Bal()
    high(bal, [3])
    assert bal.decide() == {3}
    bal.soc({3: BASE_SOC + START / 2 + STOP / 2})  # between stop and start: stays on
    assert bal.decide() == {3}
    bal.soc({3: BASE_SOC + STOP})  # at the stop threshold: off ("stops below" is not "at")
    assert bal.decide() == set()


def test_the_reference_is_the_lowest_cell_wherever_it_is():
    # cell 0 the least charged, the others level above it: all but cell 0 are over the
    # start threshold (a reference taken elsewhere would leave them level with it)
    for ref in (0, 5, 11):
        bal = Bal(max_per_module=12)
        bal.soc({i: BASE_SOC + 2 * START for i in range(12) if i != ref})
        assert bal.decide() == set(range(12)) - {ref}, ref


def test_top_balancing_weighs_the_charge_to_full_by_each_cells_capacity():
    # both at 87.5 %: cell 1's capacity is 7/8 of cell 0's, so it misses 0.125 x 1/8 =
    # 1.5625 % of the model's capacity less than cell 0 to full: the start threshold, not above
    bal = Bal()
    bal.soc({0: 0.875, 1: 0.875})
    bal.soc({i: 0.5 for i in range(2, 12)})
    for i in range(2, 12):
        bal.flags[i] = 1  # out of the decision: only cells 0 and 1 count
    bal.soh.cap_q[1] = 28672  # 7/8
    assert bal.decide() == set()
    bal.soh.cap_q[1] = 16384  # 1/2: misses 6.25 % less than cell 0: bled
    assert bal.decide() == {1}


def test_a_module_bleeds_its_own_cells_only():
    # two modules of 4, one cell each: module 0's best candidate is cell 2; cell 4 (module
    # 1's first cell) is higher still but must not take module 0's place
    bal = Bal(n=8, cells_per_module=4, max_per_module=1)
    bal.soc({1: BASE_SOC + 2 * START, 2: BASE_SOC + 3 * START, 4: BASE_SOC + 6 * START})
    assert bal.decide() == {2, 4}


def test_a_cell_kept_on_counts_in_its_own_module_only():
    # two of four may bleed: cells 2 and 4 on; then cell 1 rises past the start threshold and
    # takes module 0's second place (cell 4, kept on in module 1, is not module 0's)
    bal = Bal(n=8, cells_per_module=4, max_per_module=2)
    bal.soc({2: BASE_SOC + 3 * START, 4: BASE_SOC + 6 * START})
    assert bal.decide() == {2, 4}
    bal.soc({1: BASE_SOC + 2 * START})
    assert bal.decide() == {1, 2, 4}


def test_at_most_max_per_module_stay_on_whatever_the_mask_held():
    bal = Bal(cells_per_module=6, max_per_module=2)
    high(bal, list(range(1, 12)))
    bal.b.on[0], bal.b.on[1] = 0xFF, 0x0F  # every cell of the pack on (an older decision)
    bal.step()
    on = bal.on()
    assert len(on & set(range(6))) == 2 and len(on & set(range(6, 12))) == 2
    assert 0 not in on


# -- the switch test ------------------------------------------------------------------------


def sweep_start(bal: Bal) -> set[int]:
    """Steps until a switch test starts; its group (the commanded cells)."""
    for _ in range(10):
        bal.step()
        if lib.bms_bal_test_pending(bal.b):
            return bal.on()
    raise AssertionError("no switch test started")


def judge(bal: Bal, group: set[int], drop_v: float, di_a: float = 0.0) -> tuple[int, int]:
    """The test conversion: each tested cell reads drop_v lower, the current moved di_a."""
    for i in group:
        bal.v[i] = bal.v[i] - drop_v
    bal.inp.current_a = bal.inp.current_a + di_a
    return bal.step()


HALF = 0.029296875  # half the step at 3.75 V: 0.5 x 2 x 0.25 x 3.75 / 32 (exact)


@pytest.mark.parametrize(("drop_v", "fails"), [(HALF, False), (HALF - 2.0**-20, True)])
def test_a_switch_fails_below_exactly_half_the_expected_step(drop_v, fails):
    bal = Bal(test_interval_ms=100)
    for i in range(bal.n):
        bal.v[i] = 3.75 + HALF  # so that a tested reading falls to 3.75 at half a step
    group = sweep_start(bal)
    assert 0 in group
    assert judge(bal, group, drop_v) == ((1, 0) if fails else (0, 0))


@pytest.mark.parametrize(("di", "judged"), [(0.5, True), (-0.5, True), (above(0.5), False)])
def test_a_switch_test_is_judged_with_the_current_steady_to_its_edge(di, judged):
    bal = Bal(test_interval_ms=100)
    bal.inp.current_a = 1.0 if di < 0 else 0.0
    sweep_start(bal)
    rc, _ = judge(bal, set(), 0.0, di)  # no step: every tested switch fails if judged
    assert rc == (1 if judged else 0)


@pytest.mark.parametrize(("step", "fails"), [(True, False), (False, True)])
def test_a_current_change_that_moves_every_reading_alike_is_taken_out_of_the_drop(step, fails):
    """Found by the property suite (a 129s1p LFP pack at 6 C, R doubled: a healthy switch
    judged failed while the charge current rose 0.09 A during its test, inside the
    sensor-sized steadiness band): the change every cell's reading shows is the current's,
    the tested cells' drop is judged against the untested cells' mean."""
    bal = Bal(test_interval_ms=100)
    group = sweep_start(bal)
    assert 0 < len(group) < bal.n
    rise = 3 * HALF  # the charge current's own effect on every reading: more than the step
    for i in range(bal.n):
        bal.v[i] = bal.v[i] + rise
    assert judge(bal, group, 2 * HALF if step else 0.0, -0.4) == ((1, min(group)) if fails else (0, 0))


@pytest.mark.parametrize(("drop_v", "fails"), [(HALF, False), (HALF - 2.0**-20, True)])
def test_a_pack_of_one_cell_judges_the_raw_drop(drop_v, fails):
    bal = Bal(n=1, test_interval_ms=100)
    bal.v[0] = 3.75 + HALF  # the tested reading falls to 3.75 at half a step
    group = sweep_start(bal)
    assert group == {0}
    assert judge(bal, group, drop_v) == ((1, 0) if fails else (0, 0))


def test_a_cell_unreadable_when_its_test_started_gets_no_verdict():
    bal = Bal(test_interval_ms=100)
    bal.flags[0] = 1
    group = sweep_start(bal)
    assert 0 not in group
    bal.flags[0] = 0  # readable again at the judging conversion: still nothing to compare
    step = 0.05859375
    rc, cell = judge(bal, group, step)
    assert rc == 0, cell


def test_a_sweep_of_24_cells_is_three_test_conversions_and_judges_no_cell_twice():
    # stride 3, eight cells a group: 24 cells are exactly one block, three groups
    bal = Bal(n=24, test_interval_ms=1000)
    step = 0.05859375
    seen: list[int] = []
    tests = 0
    for _ in range(40):
        bal.step()
        if lib.bms_bal_test_pending(bal.b):
            tests += 1
            group = bal.on()
            seen += sorted(group)
            rc, _ = judge(bal, group, step)
            assert rc == 0
            for i in group:
                bal.v[i] += step
            if not bal.b.sweeping:
                break
    assert tests == 3
    assert sorted(seen) == list(range(24))
    assert bal.bits(bal.b.failed) == set()


@pytest.mark.parametrize("n", [12, 13, 48])
def test_a_healthy_pack_fails_no_switch_and_keeps_nothing_past_its_cells(n):
    # 48 cells: a group's cells span 8 x 3, nothing past the group (a ninth cell) is judged;
    # 12 and 13: groups cut short by the pack's end, nothing judged past its last cell
    bal = Bal(n=n, test_interval_ms=100)
    step = 0.05859375
    for _ in range(60):
        bal.step()
        if lib.bms_bal_test_pending(bal.b):
            group = bal.on()
            rc, cell = judge(bal, group, step)
            assert rc == 0, cell
            for i in group:
                bal.v[i] += step
    assert bal.bits(bal.b.failed) == set()


def test_the_next_sweep_starts_a_whole_interval_after_the_last_ended():
    # three cells, three groups of one (stride 3); 1 ms steps. The wait counts from the step
    # that judged the last group, that step's interval included
    bal = Bal(n=3, test_interval_ms=1000)
    bal.inp.dt_ms = 1
    starts, judged = [], []
    step = 0.05859375
    while bal.t_ms < 3000:
        bal.step()
        if lib.bms_bal_test_pending(bal.b):
            starts.append(bal.t_ms)
            group = bal.on()
            judge(bal, group, step)
            judged.append(bal.t_ms)
            for i in group:
                bal.v[i] += step
    assert starts[:3] == [1000, 1002, 1004]
    assert starts[3] == judged[2] + 1000 - 1


def test_halt_abandons_a_test_under_way():
    bal = Bal(test_interval_ms=100)
    sweep_start(bal)
    lib.bms_bal_halt(bal.b)
    assert lib.bms_bal_test_pending(bal.b) == 0
    assert bal.on() == set()


def test_a_reset_after_any_history_is_the_power_on_state():
    # mid-sweep: group 0 judged failed (no step at all), group 1's test under way at 0.25 A
    bal = Bal(test_interval_ms=100)
    high(bal, [3, 7])
    bal.inp.current_a = 0.25
    group = sweep_start(bal)
    assert judge(bal, group, 0.0)[0] == 1
    assert sweep_start(bal) == {1, 4, 7, 10}
    assert bal.b.test_group == 1 and bal.b.budget_ms > 0
    lib.bms_bal_reset(bal.b)
    fresh = ffi.new("bms_bal_t *")
    lib.bms_bal_reset(fresh)
    assert bytes(ffi.buffer(bal.b)) == bytes(ffi.buffer(fresh))


def test_the_largest_excess_first_and_a_tie_to_the_first_cell():
    # one place per module: cell 0 has the largest excess (cell 6 is the reference)
    bal = Bal(max_per_module=1)
    bal.soc({0: BASE_SOC + 4 * START, 5: BASE_SOC + 2 * START})
    bal.soc({i: BASE_SOC + START for i in range(6, 12)})
    bal.soc({6: BASE_SOC})
    assert bal.decide() == {0}
    # a tie between cells 1 and 4 goes to the first (deterministic: SIL = PIL, replays agree)
    bal = Bal(max_per_module=1)
    bal.soc({1: BASE_SOC + 2 * START, 4: BASE_SOC + 2 * START})
    assert bal.decide() == {1}


@pytest.mark.parametrize(("dt_ms", "decides"), [(0, False), (1, True)])
def test_nothing_is_decided_while_time_stands_still(dt_ms, decides):
    bal = Bal()
    high(bal, [3])
    assert bal.decide() == {3}
    bal.inp.temp_max_degc = 50.0  # too hot now: a decision would open the switch
    assert bal.decide(dt_ms=dt_ms) == (set() if decides else {3})


@pytest.mark.parametrize("cell", [0, 3])
def test_the_budget_counts_from_zero_after_the_pack_was_used(cell):
    # budget 500.9765625 ms (exact): after the pack was used, six 100 ms steps of bleeding
    # fit (the sixth starts at 500 ms, below the budget), a seventh does not
    bal = Bal(rest_budget_s=0.5 + 2.0**-10)
    high(bal, [cell])
    bal.inp.current_a = 10.0
    bal.step()
    bal.inp.current_a = 0.0
    on_steps = 0
    for _ in range(10):
        bal.step()
        on_steps += bool(bal.on())
    assert on_steps == 6


def test_a_test_paused_by_a_latched_fault_resumes_where_it_stood():
    bal = Bal(n=24, test_interval_ms=1000)
    step = 0.05859375
    while not lib.bms_bal_test_pending(bal.b):
        bal.step()
    judge(bal, bal.on(), step)  # group 0 judged, healthy
    for i in range(24):
        bal.v[i] = 3.75
    bal.inp.faults_latched = 1
    for _ in range(5):
        bal.step()
        assert not lib.bms_bal_test_pending(bal.b)
    bal.inp.faults_latched = 0
    bal.step()  # the interval has passed: the sweep goes on with group 1 at once
    assert lib.bms_bal_test_pending(bal.b)
    assert bal.on() == set(range(1, 24, 3))


def test_a_rest_with_nothing_to_bleed_uses_none_of_the_budget():
    bal = Bal(rest_budget_s=0.5)
    for _ in range(20):  # 2 s at rest, the cells level
        assert bal.decide() == set()
    high(bal, [3])
    assert bal.decide() == {3}


def test_the_rest_band_holds_on_the_charge_side_where_the_slow_charge_band_is_narrower():
    # a valid configuration may allow less charge current than the rest band: at -0.5 A the
    # pack rests (|I| <= 0.5 A) though it charges faster than 0.25 A
    bal = Bal(charge_current_max_a=0.25)
    high(bal, [3])
    assert bal.decide(current_a=-0.5) == {3}
    assert bal.decide(current_a=-above(0.5)) == set()


def test_the_budget_stops_counting_when_the_last_cell_stops_bleeding():
    # 1 s budget: 0.3 s of bleeding, then 2 s with the cells level (nothing on), then a new
    # imbalance still finds 0.7 s left
    bal = Bal(rest_budget_s=1.0)
    high(bal, [3])
    for _ in range(3):
        assert bal.decide() == {3}
    bal.soc({3: BASE_SOC})
    for _ in range(20):
        assert bal.decide() == set()
    high(bal, [5])
    assert bal.decide() == {5}
