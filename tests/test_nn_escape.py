"""First passage out of a network minimum under full-batch overdamped Langevin (issue 16 §3, §4).

The known answer: the 2-parameter slice of a 1-2-1 tanh network (the grid case of
``test_nn_paths.py``, first-layer weights free).  Walkers start in the deeper minimum
``a`` (barrier ``ΔU ≈ 0.102`` to ``b``) at ``T = ΔU / 4``; the measured rate must match
the overdamped Eyring–Kramers rate built from the CI-NEB saddle and the Hessians within
two standard errors of ``ln k`` (``1/sqrt(n_events)``) plus the finite-barrier
correction ``T/ΔU`` (the relative error of Eyring–Kramers is ``O(T/ΔU)``).  That
band is narrower than ``ln 2``, so a time mapping off by a factor 2 fails.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from langevin_opt import nn
from langevin_opt.nn.escape import (
    NetworkFirstPassage,
    escape_rates,
    eyring_kramers_rate,
    network_first_passage,
    slice_landscape,
)
from langevin_opt.nn.paths import energy_function, minimum_energy_path, restrict
from langevin_opt.rates.arrhenius import arrhenius_fit
from langevin_opt.rates.saddles import minimize

X1 = np.linspace(-2.0, 2.0, 21)[:, None]
V = np.array([1.0, 0.8])
Y1 = np.tanh(2.0 * X1[:, 0]) + V[1] * np.tanh(0.5 * X1[:, 0])
ETA = 0.02  # eta * lambda_max = 0.13 (Euler-Maruyama bias of a few per cent)


@pytest.fixture(scope="module")
def slice2d():
    net = nn.MLP([1, 2, 1], "tanh", "mse")
    ls = nn.mlp_landscape(net, X1, Y1, batch_size=len(Y1), prior_sigma=10.0)
    theta = net.flatten([(np.zeros((2, 1)), np.zeros(2)), (V[None, :], np.zeros(1))])
    sl = slice_landscape(ls, theta, [0, 1])
    f = energy_function(sl)
    a = minimize(f, np.array([2.0, 0.5])).x
    b = minimize(f, np.array([0.5, 2.0])).x
    path = minimum_energy_path(f, a, b)
    return ls, theta, sl, f, a, b, path


def test_slice_landscape_equals_restricted_loss(slice2d):
    ls, theta, sl, f, _, _, _ = slice2d
    g = restrict(energy_function(ls), theta, np.array([0, 1]))
    for x in ([1.3, 0.4], [-0.2, 2.5], [0.0, 0.0]):
        e1, g1 = f(np.array(x))
        e2, g2 = g(np.array(x))
        assert e1 == pytest.approx(e2, rel=1e-13) and np.allclose(g1, g2, rtol=1e-12, atol=1e-14)
    assert sl.n_params == 2 and sl.batch_size == sl.n_data == 21


def test_rate_matches_eyring_kramers(slice2d):
    _, _, sl, _, a, _, path = slice2d
    assert path.ok and path.full_hessian
    du = path.barrier_forward
    assert 0.09 < du < 0.11
    T = du / 4.0
    r = network_first_passage(sl, a, [T], 100_000, step_size=ETA, walkers=100,
                              check_every=1000, quench_steps=150, seed=3, threads=1)
    est = escape_rates(r)[0]
    k_ek = eyring_kramers_rate(path, T, start="a")
    n = est["events"]
    assert n >= 70 and est["censored"] == 100 - n
    band = 2.0 / math.sqrt(n) + T / du
    assert band < math.log(2.0)  # a factor-2 error in the time mapping cannot pass
    assert abs(math.log(est["rate"] / k_ek)) <= band
    # the products are the other minimum, escape times on the check grid
    done = ~r.censored
    np.testing.assert_allclose(r.product[done], np.repeat(path.images[-1][None], n, 0),
                               atol=1e-4)
    steps = r.time[done] / ETA
    np.testing.assert_allclose((steps + 500) % 1000, 0, atol=1e-6)
    assert np.all(r.time[r.censored] == 100_000 * ETA)
    assert r.resolution == 1000 * ETA and r.step_size == ETA


def test_reproducible_thread_and_subset_independent(slice2d):
    _, _, sl, _, a, _, _ = slice2d
    kw = dict(step_size=ETA, walkers=6, check_every=200, quench_steps=100, seed=11)
    temps = [0.05, 0.08]
    runs = []
    for t in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
        runs.append(network_first_passage(sl, a, temps, 6000, threads=t, **kw))
    r = runs[0]
    assert (~r.censored).sum() >= 3
    for other in runs[1:]:
        np.testing.assert_array_equal(other.time, r.time)
        np.testing.assert_array_equal(other.censored, r.censored)
        np.testing.assert_array_equal(other.product, r.product)
    # walker k at temperature index t is stream t * walkers + k
    hot = network_first_passage(sl, a, temps[1:], 6000, stream_offset=6, **kw)
    np.testing.assert_array_equal(hot.time, r.time[6:])
    other_seed = network_first_passage(sl, a, temps, 6000, **{**kw, "seed": 12})
    assert not np.array_equal(other_seed.time, r.time)


def test_arrhenius_on_escape_rates(slice2d):
    _, _, sl, _, a, _, path = slice2d
    r = network_first_passage(sl, a, [0.04, 0.05, 0.065], 20_000, step_size=ETA, walkers=30,
                              check_every=200, quench_steps=100, seed=5)
    rows = escape_rates(r)
    assert [row["temperature"] for row in rows] == [0.04, 0.05, 0.065]
    assert all(row["events"] >= 10 for row in rows)
    fit = arrhenius_fit([x["temperature"] for x in rows], [x["rate"] for x in rows],
                        [x["events"] for x in rows])
    # hot and few: only the order of magnitude of the barrier
    assert 0.5 * path.barrier_forward < fit.barrier < 2.0 * path.barrier_forward


def test_eyring_kramers_rate_formula_and_errors(slice2d):
    _, _, sl, _, a, _, path = slice2d
    lam_a, lam_s = path.spectrum_a, path.spectrum_saddle
    T = 0.03
    k = (-lam_s[0] / (2 * math.pi) * math.sqrt(np.prod(lam_a) / abs(np.prod(lam_s)))
         * math.exp(-path.barrier_forward / T))
    assert eyring_kramers_rate(path, T) == pytest.approx(k, rel=1e-12)
    assert eyring_kramers_rate(path, T, n_saddles=2) == pytest.approx(2 * k, rel=1e-12)
    lam_b = path.spectrum_b
    kb = (-lam_s[0] / (2 * math.pi) * math.sqrt(np.prod(lam_b) / abs(np.prod(lam_s)))
          * math.exp(-path.barrier_backward / T))
    assert eyring_kramers_rate(path, T, start="b") == pytest.approx(kb, rel=1e-12)
    with pytest.raises(ValueError, match="^start"):
        eyring_kramers_rate(path, T, start="c")
    with pytest.raises(TypeError, match="^path must be"):
        eyring_kramers_rate("p", T)
    cases = [
        (dict(step_size=0.0), ValueError, "step_size"),
        (dict(step_size=ETA, seed=None), TypeError, "seed"),
        (dict(step_size=ETA, walkers=0), ValueError, "walkers"),
        (dict(step_size=ETA, check_every=300), ValueError, "^max_steps"),
        (dict(step_size=ETA, tol=-1.0), ValueError, "tol"),
        (dict(step_size=ETA, net=nn.MLP([1, 3, 1])), ValueError, "^net has"),
    ]
    for kw, exc, pat in cases:
        kw = {"seed": 0, **kw}
        with pytest.raises(exc, match=pat) as err:
            network_first_passage(sl, a, [0.05], 1000, **kw)
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="^temperatures"):
        network_first_passage(sl, a, [0.0], 1000, step_size=ETA, seed=0)
    net = nn.MLP([1, 2, 1], "tanh", "mse")
    mb = nn.mlp_landscape(net, X1, Y1, batch_size=7)
    with pytest.raises(ValueError, match="^landscape must be full batch"):
        network_first_passage(mb, np.zeros(7), [0.05], 1000, step_size=ETA, seed=0)
    with pytest.raises(ValueError, match="^free must"):
        slice_landscape(mb, np.zeros(7), [0, 0])
    assert isinstance(network_first_passage(sl, a, [0.05], 100, step_size=ETA, seed=0,
                                            walkers=2, check_every=100), NetworkFirstPassage)
