"""native/src/bms_math.c against numpy."""

import numpy as np
import pytest

from bms._native import ffi, lib


def test_expf_matches_numpy_over_the_range():
    x = np.linspace(-80.0, 80.0, 20001).astype(np.float32)
    got = np.array([lib.bms_expf(float(v)) for v in x], dtype=np.float64)
    ref = np.exp(x.astype(np.float64))
    rel = np.abs(got - ref) / ref
    assert rel.max() < 4e-7  # a few float32 ulp


def test_expm1f_is_accurate_for_tiny_arguments():
    # exp(x)-1 by subtraction would lose everything here; the firmware's 1 ms steps need it
    for x in (-1e-7, -1e-5, -1e-3, -0.1, 0.2, -0.34, -0.36, -3.0):
        got = lib.bms_expm1f(x)
        assert got == pytest.approx(np.expm1(x), rel=3e-7, abs=0)


def test_expf_clamps_instead_of_overflowing():
    assert np.isfinite(lib.bms_expf(1000.0))
    assert lib.bms_expf(-1000.0) >= 0.0
    assert lib.bms_expf(-1000.0) < 1e-37


def test_isfinitef():
    assert lib.bms_isfinitef(1.0) == 1
    assert lib.bms_isfinitef(float("nan")) == 0
    assert lib.bms_isfinitef(float("inf")) == 0
    assert lib.bms_isfinitef(float("-inf")) == 0


@pytest.mark.parametrize("n", [2, 3, 7, 24])
def test_interp_locate_and_lerp_match_numpy_interp(n):
    rng = np.random.default_rng(n)
    bp = np.sort(rng.uniform(-5, 5, n)).astype(np.float32)
    y = rng.normal(size=n).astype(np.float32)
    cbp = ffi.new("float[]", bp.tolist())
    cy = ffi.new("float[]", y.tolist())
    idx = ffi.new("uint32_t *")
    w = ffi.new("float *")
    for x in np.concatenate([rng.uniform(-7, 7, 200), bp]).astype(np.float32):
        lib.bms_interp_locate(cbp, n, float(x), idx, w)
        got = lib.bms_lerp_at(cy, idx[0], w[0], n)
        ref = np.interp(float(x), bp.astype(float), y.astype(float))  # clamps at the ends too
        assert got == pytest.approx(ref, abs=2e-6)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 24])
def test_locate_near_finds_what_the_search_finds_from_any_hint(n):
    """bms_interp_locate_near walks from a hint instead of bisecting: the segment and weight
    must be the search's exactly, for every hint (in range, beyond it), at the breakpoints,
    the ends, outside them and NaN."""
    rng = np.random.default_rng(10 + n)
    bp = np.sort(rng.uniform(-5, 5, n)).astype(np.float32)
    cbp = ffi.new("float[]", bp.tolist())
    i_ref, w_ref = ffi.new("uint32_t *"), ffi.new("float *")
    i_near, w_near = ffi.new("uint32_t *"), ffi.new("float *")
    xs = [*rng.uniform(-7, 7, 150).astype(np.float32).tolist(), *bp.tolist(), float("nan"), float("inf")]
    for x in xs:
        lib.bms_interp_locate(cbp, n, x, i_ref, w_ref)
        for hint in (0, n // 2, max(n - 2, 0), n - 1, n + 5, 2**32 - 1):
            lib.bms_interp_locate_near(cbp, n, x, hint, i_near, w_near)
            assert i_near[0] == i_ref[0]
            assert np.float32(w_near[0]).tobytes() == np.float32(w_ref[0]).tobytes()


def test_interp_locate_nan_clamps_low():
    bp = ffi.new("float[]", [0.0, 1.0, 2.0])
    idx = ffi.new("uint32_t *")
    w = ffi.new("float *")
    lib.bms_interp_locate(bp, 3, float("nan"), idx, w)
    assert (idx[0], w[0]) == (0, 0.0)
