"""Censored exponential MLE, its interval coverage, the goodness-of-fit check, Kaplan–Meier."""

from __future__ import annotations

import numpy as np
import pytest

from langevin_opt.rates.estimators import (
    estimate_rate,
    exponential_gof,
    exponential_rate,
    kaplan_meier,
    mean_first_passage_time,
)


def _censored_sample(rng, k, n, limit):
    t = rng.exponential(1.0 / k, n)
    c = t >= limit
    return np.minimum(t, limit), c


def test_mle_unbiased_and_ci_covers():
    rng = np.random.default_rng(1)
    k, n, limit, reps = 2.0, 200, 0.6, 1000   # about 30% censored
    rates, cover = [], 0
    for _ in range(reps):
        t, c = _censored_sample(rng, k, n, limit)
        r = exponential_rate(t, c, level=0.9)
        rates.append(r.rate)
        cover += r.low <= k <= r.high
    rates = np.asarray(rates)
    # relative bias of n/S is O(1/n_events) ~ 0.7%; allow 4 standard errors of the mean
    se = rates.std(ddof=1) / np.sqrt(reps)
    assert abs(rates.mean() - k) < 4 * se + 0.01 * k
    # coverage of the 90% interval: binomial tolerance (4 sd), conservative side allowed
    sd = np.sqrt(0.9 * 0.1 / reps)
    assert 0.9 - 4 * sd < cover / reps < 0.9 + 4 * sd + 0.03


def test_mle_without_censoring_and_zero_events():
    r = exponential_rate([1.0, 2.0, 3.0])
    assert r.rate == pytest.approx(0.5) and r.n_censored == 0
    z = exponential_rate([5.0, 5.0], [True, True])
    assert z.rate == 0 and z.low == 0 and z.high == pytest.approx(-np.log(0.025) / 10.0)
    with pytest.raises(ValueError, match="censored"):
        exponential_rate([1.0, 2.0], [True])


def test_gof_accepts_exponential_and_flags_gamma3():
    rng = np.random.default_rng(7)
    t, c = _censored_sample(rng, 1.0, 400, 2.5)
    ok = exponential_gof(t, c, n_boot=200, seed=1)
    assert not ok.non_exponential and ok.p_value > 0.01
    g = rng.gamma(3.0, 1.0 / 3.0, 400)          # same mean, shape 3: not memoryless
    bad = exponential_gof(np.minimum(g, 2.5), g >= 2.5, n_boot=200, seed=1)
    assert bad.non_exponential and bad.p_value < 0.01
    assert bad.cv < 0.7


def test_gof_false_alarm_rate_is_about_alpha():
    rng = np.random.default_rng(3)
    flags = [exponential_gof(*_censored_sample(rng, 1.0, 100, 1.5), n_boot=99, seed=i,
                             alpha=0.1).non_exponential for i in range(60)]
    # binomial(60, 0.1): mean 6, 4 sd ~ 9.3
    assert sum(flags) <= 15


def test_kaplan_meier_and_restricted_mean():
    t = np.array([1.0, 2.0, 2.0, 3.0, 4.0])
    c = np.array([False, True, False, False, True])
    et, s = kaplan_meier(t, c)
    assert np.allclose(et, [1.0, 2.0, 3.0])
    assert np.allclose(s, [0.8, 0.6, 0.3])
    mean, se, restricted = mean_first_passage_time(t, c)
    assert restricted and mean == pytest.approx(1 + 0.8 + 0.6 + 0.3)
    m2, se2, r2 = mean_first_passage_time([1.0, 3.0])
    assert not r2 and m2 == 2.0 and se2 == pytest.approx(1.0)


def test_estimate_rate_dict():
    rng = np.random.default_rng(5)
    t = rng.exponential(2.0, 300)
    d = estimate_rate(t)
    assert d["events"] == 300 and d["censored"] == 0
    assert d["rate_low"] < 0.5 < d["rate_high"]
    assert d["mfpt"] == pytest.approx(t.mean())


def test_level_is_checked():
    t = np.array([1.0, 2.0, 3.0])
    assert exponential_rate(t, level=0.9).level == 0.9
    with pytest.raises(ValueError, match=r"^level must be a finite number in \(0, 1\), got 1.0$"):
        exponential_rate(t, level=1.0)
    with pytest.raises(TypeError, match="level must be a finite number"):
        exponential_rate(t, level="0.9")
