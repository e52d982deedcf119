"""Arrhenius fit, bootstrap intervals, curvature test and the figure on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from langevin_opt.plotting import arrhenius_plot
from langevin_opt.rates.arrhenius import (
    arrhenius_fit,
    bootstrap_arrhenius,
    curvature_test,
)
from langevin_opt.rates.estimators import exponential_rate

DU, LNA = 5.0, np.log(40.0)
TEMPS = np.array([0.6, 0.7, 0.8, 1.0, 1.25])


def _synthetic(rng, temps, n_walkers, log_k):
    times, cens = [], []
    for t in temps:
        k = np.exp(log_k(t))
        x = rng.exponential(1.0 / k, n_walkers)
        limit = 3.0 / k          # ~5% censored
        times.append(np.minimum(x, limit))
        cens.append(x >= limit)
    return times, cens


def _rates(times, cens):
    est = [exponential_rate(a, b) for a, b in zip(times, cens, strict=True)]
    return np.array([e.rate for e in est]), np.array([e.n_events for e in est])


def test_fit_recovers_barrier_and_prefactor_with_coverage():
    rng = np.random.default_rng(0)
    cover_du = cover_la = 0
    reps = 200
    for _ in range(reps):
        times, cens = _synthetic(rng, TEMPS, 300, lambda t: LNA - DU / t)
        k, n = _rates(times, cens)
        fit = arrhenius_fit(TEMPS, k, n, level=0.9)
        cover_du += fit.barrier_ci[0] <= DU <= fit.barrier_ci[1]
        cover_la += fit.log_prefactor_ci[0] <= LNA <= fit.log_prefactor_ci[1]
    sd = np.sqrt(0.9 * 0.1 / reps)
    assert abs(cover_du / reps - 0.9) < 4 * sd
    assert abs(cover_la / reps - 0.9) < 4 * sd


def test_bootstrap_interval_and_rate_function():
    rng = np.random.default_rng(1)
    times, cens = _synthetic(rng, TEMPS, 400, lambda t: LNA - DU / t)
    fit = bootstrap_arrhenius(TEMPS, times, cens, n_boot=300, seed=2)
    assert fit.method == "bootstrap"
    assert fit.barrier_ci[0] < DU < fit.barrier_ci[1]
    assert fit.log_prefactor_ci[0] < LNA < fit.log_prefactor_ci[1]
    # the bootstrap width agrees with the normal-theory width within ~30%
    k, n = _rates(times, cens)
    wls = arrhenius_fit(TEMPS, k, n)
    w_b = fit.barrier_ci[1] - fit.barrier_ci[0]
    w_n = wls.barrier_ci[1] - wls.barrier_ci[0]
    assert 0.7 < w_b / w_n < 1.3
    assert fit.rate(1.0) == pytest.approx(np.exp(fit.log_prefactor - fit.barrier))


def test_curvature_flagged_only_for_curved_data():
    rng = np.random.default_rng(4)
    temps = np.linspace(0.5, 1.5, 6)
    straight = _rates(*_synthetic(rng, temps, 2000, lambda t: LNA - DU / t))
    # k = A T^3 exp(-DU/T) style curvature, strong
    curved = _rates(*_synthetic(rng, temps, 2000, lambda t: LNA - DU / t + 4.0 * np.log(t)))
    ok = curvature_test(temps, *straight)
    bad = curvature_test(temps, *curved)
    assert not ok.curved and ok.p_line > 0.001
    assert bad.curved and bad.p_value < 1e-3
    with pytest.raises(ValueError, match="at least 3"):
        curvature_test(temps[:2], straight[0][:2], straight[1][:2])


def test_fit_needs_two_temperatures_with_events():
    with pytest.raises(ValueError, match="at least 2"):
        arrhenius_fit([1.0, 2.0], [0.0, 1.0], [0, 10])


def test_plot_writes_png(tmp_path):
    rng = np.random.default_rng(5)
    times, cens = _synthetic(rng, TEMPS, 100, lambda t: LNA - DU / t)
    k, n = _rates(times, cens)
    fit = arrhenius_fit(TEMPS, k, n)
    ci = np.array([[0.9 * x, 1.1 * x] for x in k])
    out = tmp_path / "arr.png"
    arrhenius_plot(str(out), TEMPS, k, ci, fit=fit,
                   theory={"exact": lambda t: np.exp(LNA - DU / t)}, title="synthetic")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
