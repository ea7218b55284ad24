"""The model error's correlation time `bms fit` measures (bms.fit.residuals.correlation_time_s),
checked against the analytic integral time scale of a first-order Gauss-Markov sequence:
rho(k) = a^k, so T = dt * (sum_k a^k - 1/2) = dt * (1 / (1 - a) - 1/2)."""

import numpy as np
import pytest

from bms.fit.residuals import correlation_time_s


def _ar1(n: int, a: float, rng: np.random.Generator) -> np.ndarray:
    e = rng.standard_normal(n) * np.sqrt(1 - a * a)
    x = np.empty(n)
    x[0] = rng.standard_normal()
    for k in range(1, n):
        x[k] = a * x[k - 1] + e[k]
    return x


@pytest.mark.parametrize("tau_s", [5.0, 40.0, 200.0])
def test_a_gauss_markov_error_gives_its_correlation_time(tau_s):
    rng = np.random.default_rng(3)
    a = float(np.exp(-1.0 / tau_s))
    expected = 1.0 / (1.0 - a) - 0.5
    # several windows, as a fit has: the pooled estimate
    series = [(np.arange(40000.0), _ar1(40000, a, rng)) for _ in range(4)]
    assert correlation_time_s(series) == pytest.approx(expected, rel=0.2)


def test_white_noise_has_no_correlation_time_to_speak_of():
    rng = np.random.default_rng(4)
    series = [(np.arange(20000.0), rng.standard_normal(20000))]
    assert correlation_time_s(series) < 1.5


def test_irregular_sampling_is_put_on_the_grid_first():
    """The same sequence sampled every 1 s and, with every other row dropped, every 2 s."""
    rng = np.random.default_rng(5)
    a = float(np.exp(-1.0 / 60.0))
    x = _ar1(80000, a, rng)
    t = np.arange(80000.0)
    full = correlation_time_s([(t, x)])
    thinned = correlation_time_s([(t[::2], x[::2])])
    assert thinned == pytest.approx(full, rel=0.1)


def test_a_constant_offset_is_the_most_correlated_error_of_all():
    t = np.arange(3000.0)
    assert correlation_time_s([(t, np.full(3000, 0.01))]) > 1000.0
