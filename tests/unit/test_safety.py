"""native/src/safety.c: debounce, tiers, hysteresis, latching and reset, for every
quantity and every fault id, against the semantics documented in safety.h."""

import pytest

from bms._native import ffi, lib
from bms.enums import FAULT_NAMES
from bms.protection import QUANTITIES

DT = 100  # ms


def _limits(q: int, is_max: bool, debounce=(300, 500, 700), hyst=(0.5, 0.5, 1.0)):
    lim = ffi.new("bms_limits_t *")
    w, d, t = (10.0, 20.0, 30.0) if is_max else (-10.0, -20.0, -30.0)
    for tier, thr, deb, h in zip(("warning", "derate", "trip"), (w, d, t), debounce, hyst, strict=True):
        x = getattr(lim.q[q], tier)
        x.threshold, x.debounce_ms, x.hysteresis = thr, deb, h
    return lim


class Monitor:
    def __init__(self, q: int, is_max: bool, **kw) -> None:
        self.q, self.sign = q, (1.0 if is_max else -1.0)
        self.f = int(lib.bms_safety_fault_of(q))  # the quantity's trip fault (QUANTITY_TRIP below)
        self.lim = _limits(q, is_max, **kw)
        self.s = ffi.new("bms_safety_state_t *")
        lib.bms_safety_reset(self.s)
        self.vals = ffi.new("bms_safety_value_t[]", lib.BMS_N_QUANTITIES)
        self.t = 0

    def step(self, magnitude: float, valid: bool = True) -> None:
        """magnitude: the value as if it were a maximum (mirrored for minima)."""
        v = self.vals[self.q]
        v.value, v.cell, v.valid = self.sign * magnitude, 5, int(valid)
        self.t += DT
        lib.bms_safety_evaluate(self.s, self.lim, self.vals, DT, self.t)

    @property
    def tripped(self) -> bool:
        return bool(self.s.latched >> self.f & 1)

    def active(self, tier: int) -> bool:
        return bool(self.s.tier_active[self.q][tier])


CASES = [(q, name, is_max) for q, (name, is_max) in enumerate(QUANTITIES)]
# each quantity's trip fault, by name (the files' spellings: written out, not derived)
QUANTITY_TRIP = {
    "cell_v_max": "cell_ov",
    "cell_v_min": "cell_uv",
    "core_temp_max_charge": "core_ot_charge",
    "core_temp_max_discharge": "core_ot_discharge",
    "surface_temp_max_charge": "surface_ot_charge",
    "surface_temp_max_discharge": "surface_ot_discharge",
    "temp_min_charge": "ut_charge",
    "temp_min_discharge": "ut_discharge",
    "charge_c_rate_max": "oc_charge",
    "discharge_c_rate_max": "oc_discharge",
    "cell_v_spread": "cell_spread",
    "pressure_min_charge": "pressure_low_charge",
    "pressure_min_discharge": "pressure_low_discharge",
    "pressure_max": "pressure_high",
}


def test_every_quantity_trips_its_own_fault():
    assert set(QUANTITY_TRIP) == {name for name, _ in QUANTITIES}
    for q, (name, _) in enumerate(QUANTITIES):
        assert FAULT_NAMES[lib.bms_safety_fault_of(q)] == QUANTITY_TRIP[name], name
    assert lib.bms_safety_fault_of(lib.BMS_N_QUANTITIES) == lib.BMS_N_FAULTS  # none beyond


@pytest.mark.parametrize(("q", "name", "is_max"), CASES, ids=[c[1] for c in CASES])
def test_trip_time_is_debounce_to_debounce_plus_one_step(q, name, is_max):
    for deb in (0, 50, 100, 250, 700, 1000):
        m = Monitor(q, is_max, debounce=(0, 0, deb))
        m.step(0.0)
        first = None
        for k in range(40):
            m.step(35.0)  # beyond the trip threshold (30)
            if m.tripped:
                first = k
                break
        assert first is not None
        elapsed = first * DT  # the counter starts at the first sample showing the condition
        assert deb <= elapsed <= deb + DT
        assert m.s.record[m.f].value == pytest.approx(m.sign * 35.0)
        assert m.s.record[m.f].cell == 5
        assert m.s.record[m.f].time_ms == m.t


@pytest.mark.parametrize(("q", "name", "is_max"), CASES, ids=[c[1] for c in CASES])
def test_exactly_at_the_threshold_counts(q, name, is_max):
    m = Monitor(q, is_max, debounce=(0, 0, 0))
    m.step(29.999)
    assert not m.tripped
    m.step(30.0)
    assert m.tripped


@pytest.mark.parametrize(("q", "name", "is_max"), CASES, ids=[c[1] for c in CASES])
def test_a_condition_shorter_than_the_debounce_never_trips(q, name, is_max):
    m = Monitor(q, is_max, debounce=(0, 0, 700))
    for _ in range(5):  # 4 steps counted = 400 ms < 700 ms
        m.step(40.0)
    for _ in range(50):
        m.step(0.0)
    assert not m.tripped
    # ... and one good sample inside a real fault only delays the trip (no restart)
    m = Monitor(q, is_max, debounce=(0, 0, 700))
    for _ in range(6):
        m.step(40.0)
    m.step(0.0)
    k = 0
    while not m.tripped:
        m.step(40.0)
        k += 1
    assert k <= 3  # a restart would need 8 more steps


@pytest.mark.parametrize(("q", "name", "is_max"), CASES, ids=[c[1] for c in CASES])
def test_latched_until_reset_and_reset_only_when_gone(q, name, is_max):
    m = Monitor(q, is_max, debounce=(0, 0, 0))
    m.step(31.0)
    assert m.tripped
    for _ in range(20):
        m.step(0.0)
    assert m.tripped  # latched although the value is back
    # inside the hysteresis band (threshold 30, hysteresis 1): condition not gone
    m.step(29.5)
    assert lib.bms_safety_reset_faults(m.s) == 0 and m.tripped
    m.step(28.9)
    assert lib.bms_safety_reset_faults(m.s) == 1 << m.f and not m.tripped


@pytest.mark.parametrize(("q", "name", "is_max"), CASES, ids=[c[1] for c in CASES])
def test_warning_and_derate_tiers_release_with_hysteresis(q, name, is_max):
    m = Monitor(q, is_max, debounce=(200, 0, 10_000), hyst=(0.5, 2.0, 1.0))
    m.step(12.0)  # warning (10) seen: counter starts
    m.step(12.0)
    assert not m.active(0)
    m.step(12.0)
    assert m.active(0) and not m.active(1)
    m.step(9.6)  # inside the band (10 - 0.5): still warning
    assert m.active(0)
    m.step(9.4)
    assert not m.active(0)
    m.step(21.0)
    assert m.active(1)
    m.step(18.5)  # derate band 20 - 2
    assert m.active(1)
    m.step(17.9)
    assert not m.active(1)
    assert not m.tripped


def test_derate_factor_is_linear_between_derate_and_trip():
    for q, (_, is_max) in enumerate(QUANTITIES):
        lim = _limits(q, is_max)
        sign = 1.0 if is_max else -1.0
        for mag, want in (
            (0.0, 1.0),
            (20.0, 1.0),
            (22.5, 0.75),
            (25.0, 0.5),
            (29.0, 0.1),
            (30.0, 0.0),
            (99.0, 0.0),
        ):
            got = lib.bms_safety_derate_factor(ffi.addressof(lim.q[q]), q, sign * mag)
            assert got == pytest.approx(want, abs=1e-6), (q, mag)


NON_LIMIT = [(f, n) for f, n in enumerate(FAULT_NAMES) if f >= len(QUANTITIES)]


@pytest.mark.parametrize(("fid", "name"), NON_LIMIT, ids=[n for _, n in NON_LIMIT])
def test_sensor_and_contactor_faults_share_the_semantics(fid, name):
    s = ffi.new("bms_safety_state_t *")
    lib.bms_safety_reset(s)
    t = 0
    for deb in (0, 300, 500):
        lib.bms_safety_reset(s)
        k_trip = None
        for k in range(20):
            t += DT
            lib.bms_safety_condition(s, fid, 1, 3, 1.5, DT, deb, t)
            if s.latched >> fid & 1:
                k_trip = k
                break
        assert k_trip is not None and deb <= k_trip * DT <= deb + DT
        assert (s.record[fid].cell, s.record[fid].value) == (3, 1.5)
        # present: reset refused; gone: reset clears (a suspected internal short: never)
        assert lib.bms_safety_reset_faults(s) == 0
        lib.bms_safety_condition(s, fid, 0, 0, 0.0, DT, deb, t)
        assert lib.bms_safety_reset_faults(s) == (0 if name == "cell_deviation" else 1 << fid)
    # short condition never trips
    lib.bms_safety_reset(s)
    for _ in range(3):
        lib.bms_safety_condition(s, fid, 1, 0, 0.0, DT, 500, t)
    for _ in range(20):
        lib.bms_safety_condition(s, fid, 0, 0, 0.0, DT, 500, t)
    assert not s.latched


def test_debounce_counter_saturates_instead_of_wrapping():
    d = ffi.new("bms_debounce_t *")
    assert lib.bms_safety_debounce(d, 1, 0, 10) == 0
    for _ in range(3):
        lib.bms_safety_debounce(d, 1, 0xFFFFFFF0, 10)
    assert d.count_ms == 0xFFFFFFFF


def _counts(seq, deb, dt=DT):
    d = ffi.new("bms_debounce_t *")
    out = []
    for c in seq:
        hit = lib.bms_safety_debounce(d, c, dt, deb)
        out.append((d.count_ms, d.seen, hit))
    return out


def test_debounce_counter_follows_the_documented_rule():
    # starts at 0 on the first sample with the condition, +dt per further sample,
    # -dt per sample without (never below 0); a sample without it at 0 ends it
    got = _counts([1, 1, 1, 0, 1, 0, 0, 1, 1], deb=10_000)
    assert [(c, s) for c, s, _ in got] == [
        (0, 1),
        (100, 1),
        (200, 1),
        (100, 1),
        (200, 1),
        (100, 1),
        (0, 1),
        (100, 1),
        (200, 1),
    ]
    # a counter that lands on 0 is still armed: the next sample counts on ...
    got = _counts([1, 1, 0, 1], deb=10_000)
    assert [(c, s) for c, s, _ in got] == [(0, 1), (100, 1), (0, 1), (100, 1)]
    # ... a sample without the condition at 0 ends it: the next appearance starts afresh
    got = _counts([1, 0, 0, 1], deb=10_000)
    assert [(c, s) for c, s, _ in got] == [(0, 1), (0, 0), (0, 0), (0, 1)]


@pytest.mark.parametrize("good_at", range(1, 10))
def test_one_good_sample_delays_a_persistent_trip_by_two_steps(good_at):
    seq = [1] * 20
    seq[good_at] = 0
    got = _counts(seq, deb=1000)
    first = next(k for k, (_, _, hit) in enumerate(got) if hit)
    assert first == 1000 // DT + 2


@pytest.mark.parametrize("deb", [1, 99, 101, 201, 299])
def test_odd_debounce_times_round_up_to_whole_steps(deb):
    got = _counts([1] * 6, deb)
    first = next(k for k, (_, _, hit) in enumerate(got) if hit)
    assert first * DT >= deb and (first - 1) * DT < deb


def test_reset_clears_the_counter_so_a_new_condition_waits_the_full_time():
    m = Monitor(0, True, debounce=(0, 0, 500))
    for _ in range(8):
        m.step(31.0)
    assert m.tripped
    m.step(0.0)  # gone for one sample: the counter still holds most of the time
    assert lib.bms_safety_reset_faults(m.s) == 1
    k = 0
    while not m.tripped:
        m.step(31.0)
        k += 1
    assert (k - 1) * DT >= 500


def test_a_released_tier_counts_afresh():
    m = Monitor(0, True, debounce=(300, 10_000, 10_000), hyst=(0.5, 0.5, 0.5))
    for _ in range(4):
        m.step(11.0)
    assert m.active(0)
    m.step(9.0)  # released
    assert not m.active(0)
    for _ in range(3):  # 0, 100, 200 ms: not yet
        m.step(11.0)
    assert not m.active(0)
    m.step(11.0)
    assert m.active(0)


def test_invalid_values_never_raise_a_tier_or_a_trip():
    m = Monitor(4, True, debounce=(0, 0, 0))
    for _ in range(5):
        m.step(99.0, valid=False)
    assert not m.active(0) and not m.active(1) and not m.tripped
    assert not m.s.present


def test_records_and_trip_count():
    m = Monitor(2, True, debounce=(0, 0, 0))
    m.step(31.0)
    assert (m.s.record[2].id, m.s.trip_count) == (2, 1)
    m.step(32.0)  # still latched: no second trip, the first record stays
    assert m.s.trip_count == 1 and m.s.record[2].value == pytest.approx(31.0)
    lib.bms_safety_condition(m.s, 15, 1, 7, 0.25, DT, 0, m.t)
    assert (m.s.record[15].id, m.s.record[15].cell, m.s.trip_count) == (15, 7, 2)


def test_out_of_range_fault_ids_are_ignored():
    s = ffi.new("bms_safety_state_t *")
    lib.bms_safety_reset(s)
    before = bytes(ffi.buffer(s))
    lib.bms_safety_condition(s, lib.BMS_N_FAULTS, 1, 0, 1.0, DT, 0, 100)
    lib.bms_safety_condition(s, 31, 1, 0, 1.0, DT, 0, 100)
    assert bytes(ffi.buffer(s)) == before


def test_reset_state_is_all_clear_whatever_the_memory_held():
    s = ffi.new("bms_safety_state_t *")
    ffi.memmove(s, b"\xa5" * ffi.sizeof("bms_safety_state_t"), ffi.sizeof("bms_safety_state_t"))
    lib.bms_safety_reset(s)
    assert s.latched == 0 and s.present == 0 and s.trip_count == 0
    for q in range(lib.BMS_N_QUANTITIES):
        assert list(s.tier_active[q]) == [0, 0]
        for k in range(3):
            assert (s.tier_db[q][k].count_ms, s.tier_db[q][k].seen) == (0, 0)
    for f in range(lib.BMS_N_FAULTS):
        r = s.record[f]
        assert (s.fault_db[f].count_ms, s.fault_db[f].seen) == (0, 0)
        assert (r.id, r.cell, r.value, r.time_ms) == (f, 0, 0.0, 0)


@pytest.mark.parametrize(("q", "name", "is_max"), CASES, ids=[c[1] for c in CASES])
def test_release_at_exactly_threshold_minus_hysteresis(q, name, is_max):
    m = Monitor(q, is_max, debounce=(0, 0, 0), hyst=(0.5, 0.5, 1.0))
    m.step(31.0)
    m.step(29.0)  # exactly trip - hysteresis (30 - 1): the condition is gone
    assert lib.bms_safety_reset_faults(m.s) == 1 << m.f
    m.step(10.5)
    assert m.active(0)
    m.step(9.5)  # exactly warning - hysteresis
    assert not m.active(0)


def test_a_reset_while_the_samples_are_stale_clears_nothing():
    """A plausibility condition is judged on new samples only: while none comes (stale
    present) its absence means nothing, so a reset then acknowledges no fault; once the
    samples are back the faults whose condition is gone clear."""
    s = ffi.new("bms_safety_state_t *")
    lib.bms_safety_reset(s)
    off, stale = lib.BMS_F_CURRENT_OFFSET, lib.BMS_F_STALE
    lib.bms_safety_condition(s, off, 1, 0, 5.0, DT, 0, 0)  # latched at once (no debounce)
    lib.bms_safety_condition(s, off, 0, 0, 0.0, DT, 0, 0)  # not judged any more: reads absent
    lib.bms_safety_condition(s, stale, 1, 0, 100.0, DT, 10_000, 0)  # blind, not yet latched
    assert s.latched == 1 << off
    assert lib.bms_safety_reset_faults(s) == 0 and s.latched == 1 << off
    lib.bms_safety_condition(s, stale, 0, 0, 0.0, DT, 10_000, 0)  # a new sample: judged again
    assert lib.bms_safety_reset_faults(s) == 1 << off and s.latched == 0


def test_a_suspected_internal_short_needs_a_power_on_reset():
    """A latched cell deviation (internal short, failing cell) is not acknowledged by a
    command, nor while it is latched the cell undervoltage and open wire a short also causes;
    other faults are; bms_safety_reset (power-on) clears everything."""
    s = ffi.new("bms_safety_state_t *")
    lib.bms_safety_reset(s)
    dev, uv, ow, comm = lib.BMS_F_CELL_DEVIATION, lib.BMS_F_CELL_UV, lib.BMS_F_OPEN_WIRE, lib.BMS_F_COMM
    for f in (dev, uv, ow, comm):
        lib.bms_safety_condition(s, f, 1, 0, 0.0, DT, 0, DT)
    for f in (dev, uv, ow, comm):
        lib.bms_safety_condition(s, f, 0, 0, 0.0, DT, 0, 2 * DT)
    assert lib.bms_safety_reset_faults(s) == 1 << comm
    assert s.latched == (1 << dev) | (1 << uv) | (1 << ow)
    # without a deviation latched, an undervoltage whose condition is gone is acknowledged
    lib.bms_safety_reset(s)
    lib.bms_safety_condition(s, uv, 1, 0, 0.0, DT, 0, DT)
    lib.bms_safety_condition(s, uv, 0, 0, 0.0, DT, 0, 2 * DT)
    assert lib.bms_safety_reset_faults(s) == 1 << uv
    assert s.latched == 0
