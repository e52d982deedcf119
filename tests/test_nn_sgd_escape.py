"""Escape out of a network minimum under plain minibatch SGD (issue 16 §3, second bullet).

The known answer: the 2-parameter slice of a 1-2-1 tanh network (first-layer weights
free) fitted to noisy targets, so that the per-example gradients do not vanish at the
minimum.  Full-batch SGD is deterministic gradient descent and never leaves the
minimum; smaller batches and larger learning rates (more gradient noise, ``D = eta Σ /
2``) escape sooner.  The gradient-noise covariance is checked against a brute-force
enumeration of every batch and against the batches the package's sampler draws.
"""

from __future__ import annotations

import dataclasses
import itertools

import numba
import numpy as np
import pytest

from langevin_opt import nn
from langevin_opt.nn.escape import (
    NetworkFirstPassage,
    SGDFirstPassage,
    escape_rates,
    gradient_covariance,
    per_example_gradients,
    sgd_first_passage,
    sgd_noise,
    slice_landscape,
)
from langevin_opt.nn.paths import energy_function
from langevin_opt.rates.estimators import estimate_rate
from langevin_opt.rates.saddles import minimize

X1 = np.linspace(-2.0, 2.0, 21)[:, None]
V = np.array([1.0, 0.8])
Y1 = (np.tanh(2.0 * X1[:, 0]) + V[1] * np.tanh(0.5 * X1[:, 0])
      + 0.2 * np.random.default_rng(0).standard_normal(21))


@pytest.fixture(scope="module")
def noisy_slice():
    net = nn.MLP([1, 2, 1], "tanh", "mse")
    ls = nn.mlp_landscape(net, X1, Y1, batch_size=len(Y1), prior_sigma=10.0)
    theta = net.flatten([(np.zeros((2, 1)), np.zeros(2)), (V[None, :], np.zeros(1))])
    sl = slice_landscape(ls, theta, [0, 1])
    a = minimize(energy_function(sl), np.array([2.0, 0.5])).x
    return net, ls, theta, sl, a


def _fd_grad(ls, th, h=1e-6):
    g = np.empty(th.size)
    for p in range(th.size):
        e = np.zeros(th.size)
        e[p] = h
        g[p] = (ls.energy(th + e)[0] - ls.energy(th - e)[0]) / (2 * h)
    return g


def test_per_example_gradients_match_finite_differences(noisy_slice):
    net, ls, theta, sl, a = noisy_slice
    th = theta + 0.1 * np.random.default_rng(1).standard_normal(theta.size)
    G = per_example_gradients(ls, th)
    assert G.shape == (21, net.n_params)
    for i in (0, 7, 20):
        one = nn.mlp_landscape(net, X1[i:i + 1], Y1[i:i + 1], batch_size=1)  # no prior
        np.testing.assert_allclose(G[i], _fd_grad(one, th), rtol=1e-6, atol=1e-8)
    # the rows sum to grad U minus the prior's gradient (sigma = 10)
    np.testing.assert_allclose(G.sum(0) + th / 100.0, ls.energy(th)[1], rtol=1e-12, atol=1e-13)
    # a slice gives the free columns; a minibatch landscape the same rows
    np.testing.assert_allclose(per_example_gradients(sl, th[[0, 1]]),
                               per_example_gradients(ls, np.r_[th[:2], theta[2:]])[:, [0, 1]],
                               rtol=1e-13)
    mb = nn.mlp_landscape(net, X1, Y1, batch_size=5, prior_sigma=10.0)
    np.testing.assert_array_equal(per_example_gradients(mb, th), G)
    # cross-entropy labels are per example too
    ds = nn.two_moons(8, 0, noise=0.2, seed=0)
    cnet = nn.MLP([2, 3, 2], "tanh", "softmax_ce")
    cls_ = nn.mlp_landscape(cnet, ds.X_train, ds.y_train, batch_size=8, prior_sigma=2.0)
    c = cnet.init_params(0)
    Gc = per_example_gradients(cls_, c)
    one = nn.mlp_landscape(cnet, ds.X_train[3:4], ds.y_train[3:4], batch_size=1)
    np.testing.assert_allclose(Gc[3], _fd_grad(one, c), rtol=1e-6, atol=1e-8)
    D = Gc - Gc.mean(0)
    np.testing.assert_allclose(gradient_covariance(cls_, c), D.T @ D / 8, rtol=1e-12)


def test_sgd_noise_equals_brute_force_over_all_batches():
    net = nn.MLP([1, 2, 1], "tanh", "mse")
    N, n, lr = 6, 2, 0.03
    X, Y = X1[::4][:N], Y1[::4][:N]
    ls = nn.mlp_landscape(net, X, Y, batch_size=N)  # no prior: grad U~ = (N/n) sum_B grad
    th = net.init_params(3)
    grads = []
    for S in itertools.combinations(range(N), n):
        sub = nn.mlp_landscape(net, X[list(S)], Y[list(S)], batch_size=n)
        grads.append(N / n * sub.energy(th)[1])
    grads = np.array(grads)
    sigma = np.cov(grads.T, bias=True)  # every batch equally likely
    z = sgd_noise(ls, th, lr, n, direction=np.arange(1.0, 8.0))
    np.testing.assert_allclose(z.covariance, sigma, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(z.diffusion, lr * sigma / 2, rtol=1e-9, atol=1e-12)
    assert z.temperature == pytest.approx(np.trace(lr * sigma / 2) / 7, rel=1e-9)
    v = np.arange(1.0, 8.0) / np.linalg.norm(np.arange(1.0, 8.0))
    assert z.direction_temperature == pytest.approx(v @ (lr * sigma / 2) @ v, rel=1e-9)
    np.testing.assert_allclose(z.direction, v)
    assert (z.learning_rate, z.batch_size, z.n_data) == (lr, n, N)
    assert sgd_noise(ls, th, lr, N).temperature == 0.0  # full batch: no noise
    # the sampler's batches (epochs without replacement) have this covariance per step
    mb = nn.mlp_landscape(net, X, Y, batch_size=n)
    draws = np.array([mb.energy(th, seed=5, chain=c, step=s)[1]
                      for c in range(700) for s in range(3)])
    emp = np.cov(draws.T)
    assert np.trace(emp) == pytest.approx(np.trace(sigma), rel=0.1)
    np.testing.assert_allclose(draws.mean(0), ls.energy(th)[1],
                               atol=4 * np.sqrt(np.diag(sigma).max() / 700))


def test_full_batch_never_escapes_and_noise_speeds_escape(noisy_slice):
    _, _, _, sl, a = noisy_slice
    settings = [(0.2, 1), (0.2, 4), (0.1, 1), (0.2, 21)]
    r = sgd_first_passage(sl, a, settings, 20_000, walkers=12, check_every=200,
                          quench_steps=100, seed=1)
    rows = escape_rates(r)
    assert [(x["learning_rate"], x["batch_size"]) for x in rows] == settings
    k = {(x["learning_rate"], x["batch_size"]): x for x in rows}
    full = k[(0.2, 21)]
    assert full["events"] == 0 and full["censored"] == 12  # deterministic GD stays
    assert np.all(r.time[r.batch_size == 21] == 20_000 * 0.2)
    assert k[(0.2, 1)]["events"] >= 10 and k[(0.2, 4)]["events"] >= 6
    assert k[(0.2, 1)]["rate"] > k[(0.2, 4)]["rate"]  # larger batch: slower
    assert k[(0.2, 1)]["rate"] > k[(0.1, 1)]["rate"]  # smaller learning rate: slower
    # the same ordering in SGD steps, and the noise temperatures agree with it
    med = {s: np.median(r.steps[(r.learning_rate == s[0]) & (r.batch_size == s[1])])
           for s in settings}
    assert med[(0.2, 1)] < med[(0.2, 4)] and med[(0.2, 1)] < med[(0.1, 1)]
    temps = {s: sgd_noise(sl, a, *s).temperature for s in settings}
    assert temps[(0.2, 1)] > temps[(0.2, 4)] > temps[(0.2, 21)] == 0.0
    # time = learning rate * steps, escapes on the check grid, products elsewhere
    done = ~r.censored
    np.testing.assert_array_equal(r.time, r.learning_rate * r.steps)
    np.testing.assert_allclose((r.steps[done] + 100) % 200, 0)
    assert np.all(np.linalg.norm(r.product[done] - r.start, axis=1) > 1e-3)
    assert np.all(np.isnan(r.product_energy[~done]))
    np.testing.assert_array_equal(r.resolution, 200 * r.learning_rate)
    assert r.walker_steps <= 48 * 20_000 and isinstance(r, SGDFirstPassage)


def test_reproducible_thread_and_subset_independent(noisy_slice):
    _, _, _, sl, a = noisy_slice
    kw = dict(walkers=5, check_every=200, quench_steps=100, seed=11)
    settings = [(0.2, 1), (0.2, 2)]
    runs = [sgd_first_passage(sl, a, settings, 4000, threads=t, **kw)
            for t in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)})]
    r = runs[0]
    assert (~r.censored).sum() >= 2
    for other in runs[1:]:
        np.testing.assert_array_equal(other.time, r.time)
        np.testing.assert_array_equal(other.censored, r.censored)
        np.testing.assert_array_equal(other.product, r.product)
    # walker k of setting s is stream s * walkers + k
    second = sgd_first_passage(sl, a, settings[1:], 4000, stream_offset=5, **kw)
    np.testing.assert_array_equal(second.time, r.time[5:])
    other_seed = sgd_first_passage(sl, a, settings, 4000, **{**kw, "seed": 12})
    assert not np.array_equal(other_seed.time, r.time)


def test_escape_rates_on_sgd_results_and_types():
    r = SGDFirstPassage(np.array([0.1, 0.1, 0.1, 0.05, 0.05, 0.05]),
                        np.array([4, 4, 4, 2, 2, 2]),
                        np.array([1.0, 3.0, 10.0, 2.0, 4.0, 5.0]),
                        np.array([10.0, 30.0, 100.0, 40.0, 80.0, 100.0]),
                        np.array([False, False, True, False, False, True]),
                        np.full((6, 2), np.nan), np.full(6, np.nan), np.zeros(2), 0.0,
                        np.array([2.0] * 3 + [1.0] * 3), 0.1, 400, 4, 0)
    rows = escape_rates(r, level=0.9)
    assert [(x["learning_rate"], x["batch_size"]) for x in rows] == [(0.1, 4), (0.05, 2)]
    assert "temperature" not in rows[0]
    ref = estimate_rate(r.time[3:], r.censored[3:], level=0.9, gof=False)
    assert rows[1]["rate"] == ref["rate"] and rows[1]["events"] == 2
    assert rows[0]["rate"] == pytest.approx(2 / 14.0)
    with pytest.raises(TypeError, match="^result must be a NetworkFirstPassage or SGD"):
        escape_rates({"time": 1})
    nfp = NetworkFirstPassage(np.array([0.1, 0.1]), np.array([1.0, 2.0]),
                              np.array([False, False]), np.zeros((2, 2)), np.zeros(2),
                              np.zeros(2), 0.0, 0.01, 1.0, 0.1, 10, 0, 0)
    assert escape_rates(nfp)[0]["temperature"] == 0.1


def test_input_validation(noisy_slice):
    net, ls, theta, sl, a = noisy_slice
    cases = [
        (dict(settings=[]), ValueError, "^settings must be a non-empty"),
        (dict(settings=(0.1, 2)), ValueError, r"^settings must .* settings\[0\]"),
        (dict(settings=[(0.0, 2)]), ValueError, r"^settings\[0\] learning_rate"),
        (dict(settings=[(0.1, 2), (-1.0, 2)]), ValueError, r"^settings\[1\] learning_rate"),
        (dict(settings=[(0.1, 0)]), ValueError, r"^settings\[0\] batch_size"),
        (dict(settings=[(0.1, 22)]), ValueError, r"^settings\[0\] batch_size"),
        (dict(settings=[(0.1, 2.0)]), TypeError, r"^settings\[0\] batch_size"),
        (dict(settings=[(0.1, 2), (0.1, 2)]), ValueError, "^settings must be distinct"),
        (dict(seed=None), TypeError, "^seed"),
        (dict(walkers=0), ValueError, "^walkers"),
        (dict(max_steps=300), ValueError, "^max_steps"),
        (dict(tol=0.0), ValueError, "^tol"),
        (dict(quench_step_size=-1.0), ValueError, "^quench_step_size"),
        (dict(theta_min=np.zeros(3)), ValueError, "^theta_min"),
        (dict(net=net), ValueError, "^net has"),
        (dict(progress=3), TypeError, "^progress"),
    ]
    for kw, exc, pat in cases:
        args = {"settings": [(0.1, 2)], "max_steps": 400, "seed": 0, "theta_min": a, **kw}
        with pytest.raises(exc, match=pat) as err:
            sgd_first_passage(sl, args.pop("theta_min"), args.pop("settings"),
                              args.pop("max_steps"), check_every=200, **args)
        assert "\n" not in str(err.value)
    mb = nn.mlp_landscape(net, X1, Y1, batch_size=7)
    with pytest.raises(ValueError, match="^landscape must be full batch"):
        sgd_first_passage(mb, theta, [(0.1, 2)], 100, seed=0)
    alien = dataclasses.replace(sl, energy_grad=numba.njit(lambda *a: 0.0))
    with pytest.raises(ValueError, match="^landscape must come from nn.mlp_landscape or"):
        sgd_first_passage(alien, a, [(0.1, 2)], 100, seed=0)
    with pytest.raises(ValueError, match="^landscape must come from"):
        per_example_gradients(alien, a)
    with pytest.raises(ValueError, match="^theta must"):
        per_example_gradients(sl, np.zeros(3))
    for kw, exc, pat in [((0.0, 2), ValueError, "^learning_rate"),
                         ((0.1, 0), ValueError, "^batch_size"),
                         ((0.1, 2.5), TypeError, "^batch_size")]:
        with pytest.raises(exc, match=pat):
            sgd_noise(sl, a, *kw)
    for d in (np.zeros(2), np.ones(3), np.array([np.nan, 1.0])):
        with pytest.raises(ValueError, match="^direction must"):
            sgd_noise(sl, a, 0.1, 2, direction=d)
