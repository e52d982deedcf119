"""Uncertainty metrics on synthetic errors whose answer is known in closed form.

Calibrated Gaussian errors must give the Gaussian coverages (within the binomial error),
a diagonal calibration curve and the Gaussian entropy as NLL; errors drawn ``c`` times wider
than the spread must give ``fit_scale = c`` and coverage ``erf(1 / (c sqrt 2))``; a
bivariate normal with correlation ``rho`` has Spearman correlation ``(6 / pi) asin(rho/2)``.
Tolerances are ``z_crit`` (Bonferroni over the checks of a test) times the sampling error.
"""

import math

import numpy as np
import pytest
from scipy import stats
from stats_util import z_crit

from langevin_opt.mlip import uncertainty as U

N = 40_000


def calibrated(seed, c=1.0, n=N):
    """Spreads spanning a decade and errors ``~ N(0, (c sigma)^2)``."""
    rng = np.random.default_rng(seed)
    sigma = np.exp(rng.uniform(np.log(0.01), np.log(0.1), n))
    return c * sigma * rng.standard_normal(n), sigma


def test_calibrated_gaussian_errors_cover_one_and_two_sigma():
    e, s = calibrated(0)
    z = z_crit(m=4)
    for k, p in ((1.0, U.ONE_SIGMA), (2.0, U.TWO_SIGMA)):
        assert abs(U.coverage(e, s, k) - p) < z * math.sqrt(p * (1 - p) / N)
    assert U.ONE_SIGMA == pytest.approx(0.682689492, abs=1e-9)
    assert U.TWO_SIGMA == pytest.approx(0.954499736, abs=1e-9)
    # errors twice too large: the 1-sigma interval holds P(|z| < 1/2) = 0.383
    e2, s2 = calibrated(1, c=2.0)
    p = math.erf(0.5 / math.sqrt(2))
    assert abs(U.coverage(e2, s2, 1.0) - p) < z * math.sqrt(p * (1 - p) / N)
    # vector k, and the boundary counts as inside
    assert np.array_equal(U.coverage([1.0, -2.0, 3.0], [1.0, 1.0, 1.0], [1.0, 2.0, 3.0]),
                          [1 / 3, 2 / 3, 1.0])


def test_calibration_curve_is_diagonal_when_calibrated_and_below_when_overconfident():
    e, s = calibrated(2)
    exp, obs = U.calibration_curve(e, s)
    assert np.allclose(exp, np.arange(1, 20) / 20)
    band = z_crit(m=19) * np.sqrt(exp * (1 - exp) / N)
    assert np.all(np.abs(obs - exp) < band)
    assert U.miscalibration_area(e, s) < 0.01
    # spreads 3x too small: observed coverage of level p is P(|z| < z_p / 3)
    e3, s3 = calibrated(3, c=3.0)
    exp, obs = U.calibration_curve(e3, s3, [0.5, 0.9])
    want = stats.chi2.cdf((stats.norm.ppf(0.5 * (1 + exp)) / 3) ** 2, 1)
    assert np.all(np.abs(obs - want) < z_crit(m=2) * np.sqrt(want * (1 - want) / N))
    assert np.all(obs < exp - 0.3)
    # area: mean over p of |P(|z| < z_p / 3) - p|, computed here by quadrature
    p = np.arange(1, 100) / 100
    area = np.mean(np.abs(stats.chi2.cdf((stats.norm.ppf(0.5 * (1 + p)) / 3) ** 2, 1) - p))
    assert U.miscalibration_area(e3, s3) == pytest.approx(area, abs=0.01)


def test_gaussian_nll_and_closed_form_scale_factor():
    assert U.gaussian_nll([0.0], [1.0]) == pytest.approx(0.5 * math.log(2 * math.pi))
    assert U.gaussian_nll([2.0, 0.0], [1.0, 2.0]) == pytest.approx(
        0.5 * (0.5 * math.log(2 * math.pi) + 2.0 + 0.5 * math.log(8 * math.pi)))
    # calibrated: mean NLL = log(2 pi)/2 + E[log sigma] + 1/2 (the Gaussian entropy)
    e, s = calibrated(4)
    expect = 0.5 * math.log(2 * math.pi) + np.mean(np.log(s)) + 0.5
    assert abs(U.gaussian_nll(e, s) - expect) < z_crit(m=3) * math.sqrt(0.5 / N)
    # errors 2.5x the spread: the fitted factor is 2.5 within sqrt(1 / (2 n)) relative
    e, s = calibrated(5, c=2.5)
    k = U.fit_scale(e, s)
    assert abs(k / 2.5 - 1) < z_crit(m=3) * math.sqrt(0.5 / N)
    # and it is the minimiser of the NLL of the scaled spread
    nll = U.gaussian_nll(e, k * s)
    assert nll < U.gaussian_nll(e, 1.01 * k * s) and nll < U.gaussian_nll(e, 0.99 * k * s)
    assert U.coverage(e, k * s, 1.0) == pytest.approx(U.ONE_SIGMA, abs=0.02)
    rep = U.calibration_report(e, s, scale=k)
    assert rep["scale"] == k and rep["nll"] == pytest.approx(nll)
    assert rep["coverage_1sigma"] == U.coverage(e, k * s, 1.0)
    assert rep["n"] == N and len(rep["calibration_observed"]) == 19


def test_spearman_matches_the_bivariate_normal_formula_and_scipy():
    rng = np.random.default_rng(6)
    for rho in (0.0, 0.5, 0.9):
        x = rng.standard_normal(N)
        y = rho * x + math.sqrt(1 - rho * rho) * rng.standard_normal(N)
        r = U.spearman(x, y - y.min() + 1.0)  # a positive "absolute error"
        assert abs(r - 6 / math.pi * math.asin(rho / 2)) < z_crit(m=3) / math.sqrt(N - 1)
    a = rng.standard_normal(50)
    b = np.round(rng.standard_normal(50), 1)  # ties: average ranks, as SciPy
    assert U.spearman(a, np.abs(b)) == pytest.approx(stats.spearmanr(a, np.abs(b))[0],
                                                     abs=1e-12)
    assert U.spearman([1.0, 2.0, 3.0, 4.0], [-0.1, 0.2, 0.3, -5.0]) == pytest.approx(1.0)
    # calibrated errors with varied spread correlate positively with it
    e, s = calibrated(7)
    assert U.spearman(s, np.abs(e)) > 0.3


def test_spread_ratio():
    s_in = np.array([1.0, 2.0, 3.0])
    assert U.spread_ratio(s_in, 4 * s_in) == pytest.approx(4.0)
    assert U.spread_ratio([1.0, 3.0], [2.0, 2.0], "mean") == pytest.approx(1.0)
    assert U.spread_ratio([3.0, 4.0], [5.0, 5.0], "rms") == pytest.approx(5 / math.sqrt(12.5))


@pytest.mark.parametrize("call,match", [
    (lambda: U.coverage([1.0], [0.0]), "sigma must be finite and > 0"),
    (lambda: U.coverage([1.0, 2.0], [1.0]), "same shape"),
    (lambda: U.coverage([np.nan], [1.0]), "errors must be finite"),
    (lambda: U.coverage([1.0], [1.0], 0.0), "k must be finite and > 0"),
    (lambda: U.calibration_curve([1.0], [1.0], [0.5, 1.0]), "levels must be"),
    (lambda: U.spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]), "must not be constant"),
    (lambda: U.spearman([1.0, 2.0], [1.0, 2.0]), "at least 3 values"),
    (lambda: U.fit_scale([0.0, 0.0], [1.0, 1.0]), "all zero"),
    (lambda: U.spread_ratio([1.0], [-1.0]), "sigma_out must be"),
    (lambda: U.spread_ratio([1.0], [1.0], "max"), "unknown statistic .max.; allowed: median, mean, rms"),
    (lambda: U.calibration_report([1.0], [1.0], scale=0.0), "scale must be"),
    (lambda: U.gaussian_nll([], []), "must not be empty"),
])
def test_bad_inputs_get_one_line_errors(call, match):
    with pytest.raises(ValueError, match=match) as info:
        call()
    assert "\n" not in str(info.value)
