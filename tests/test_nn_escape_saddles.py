"""All saddles out of a minimum from the walkers' products, and their summed Eyring–Kramers rate.

Known answers:

* a symmetric triple well ``U = x^2 (x^2 - 4)^2 / 16 + y^2 / 2``: the middle minimum (0, 0)
  has two mirror partners (±2, 0) behind two mirror saddles (±2/sqrt(3), 0) of energy 16/27;
  both must be found, and the total Eyring–Kramers rate is twice the single-saddle one;
  from (-2, 0) the direct path to (2, 0) crosses the middle minimum (two maxima) and must be
  excluded;
* the 2-parameter slice of a 1-2-1 tanh network (``test_nn_escape.py``): one saddle, the
  one :func:`minimum_energy_path` finds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from langevin_opt import nn
from langevin_opt.nn.escape import eyring_kramers_rate, slice_landscape
from langevin_opt.nn.paths import (
    EscapeSaddles,
    count_maxima,
    energy_function,
    escape_saddles,
    minimum_energy_path,
)
from langevin_opt.rates.saddles import minimize

XS = 2.0 / math.sqrt(3.0)
ES = 16.0 / 27.0


def _triple(x):
    """x^2 (x^2 - 4)^2 / 16 + y^2 / 2: minima at x = 0, ±2 (U = 0), saddles at ±2/sqrt(3)."""
    u = x[0] ** 2 * (x[0] ** 2 - 4.0) ** 2 / 16.0 + 0.5 * x[1] ** 2
    du = (2 * x[0] * (x[0] ** 2 - 4.0) ** 2 + 4 * x[0] ** 3 * (x[0] ** 2 - 4.0)) / 16.0
    return float(u), np.array([du, x[1]])


NAN = [np.nan, np.nan]


def test_both_mirror_saddles_found_and_rates_summed():
    prods = np.array([[2.0, 0.0], NAN, [-2.0, 0.0], [2.0 + 1e-5, 0.0], [-2.0, 1e-6], NAN,
                      [2.0, 0.0]])
    r = escape_saddles(_triple, [0.0, 0.0], prods)
    assert isinstance(r, EscapeSaddles)
    np.testing.assert_array_equal(r.labels, [0, -1, 1, 0, 1, -1, 0])
    np.testing.assert_array_equal(r.counts, [3, 2])
    np.testing.assert_allclose(r.products, [[2.0, 0.0], [-2.0, 0.0]], atol=1e-7)
    assert r.saddles.shape == (2, 2) and r.n_excluded == 0
    np.testing.assert_array_equal(r.n_maxima, [1, 1])
    np.testing.assert_array_equal(r.path_saddle, [0, 1])
    np.testing.assert_allclose(r.saddles, [[XS, 0.0], [-XS, 0.0]], atol=1e-6)
    np.testing.assert_allclose(r.saddle_energy, ES, rtol=1e-8)
    np.testing.assert_allclose(r.barrier, ES, rtol=1e-8)
    np.testing.assert_array_equal(r.saddle_walkers, [3, 2])
    for T in (0.1, 0.2):
        single = eyring_kramers_rate(r.paths[0], T)
        # by hand: the y curvature (1) cancels, k = sqrt(U"(0) |U"(x_s)|) / 2π e^{-ΔU/T}
        u2_min, u2_sad = _u2(0.0), _u2(XS)
        k = abs(u2_sad) / (2 * math.pi) * math.sqrt(u2_min / abs(u2_sad)) * math.exp(-ES / T)
        assert single == pytest.approx(k, rel=1e-4)
        assert eyring_kramers_rate(r, T) == pytest.approx(2 * single, rel=1e-6)
        assert eyring_kramers_rate(list(r.paths), T) == pytest.approx(
            single + eyring_kramers_rate(r.paths[1], T), rel=1e-12)
    ts = np.array([0.1, 0.2])
    np.testing.assert_allclose(eyring_kramers_rate(r, ts),
                               [eyring_kramers_rate(r, t) for t in ts], rtol=1e-12)


def _u2(x):
    """U''(x) of the triple well along x, by central differences of the exact gradient."""
    h = 1e-6
    return (_triple(np.array([x + h, 0.0]))[1][0] - _triple(np.array([x - h, 0.0]))[1][0]) / (2 * h)


def test_coinciding_saddles_deduplicated_and_intermediate_minima_excluded():
    # two product rows farther apart than tol that polish to one minimum: one saddle
    r = escape_saddles(_triple, [0.0, 0.0], [[2.0, 0.0], [2.0, 0.01]], tol=1e-3)
    assert r.products.shape == (2, 2) and r.saddles.shape == (1, 2)
    np.testing.assert_array_equal(r.path_saddle, [0, 0])
    np.testing.assert_array_equal(r.saddle_walkers, [2])
    np.testing.assert_array_equal(r.saddle_path, [0])
    # from the left well, (2, 0) lies behind the middle minimum: two maxima, excluded
    r = escape_saddles(_triple, [-2.0, 0.0], [[2.0, 0.0], [0.0, 0.0], [0.0, 0.0]],
                       n_images=11)
    np.testing.assert_array_equal(r.n_maxima, [2, 1])
    np.testing.assert_array_equal(r.path_saddle, [-1, 0])
    assert r.n_excluded == 1 and r.saddles.shape == (1, 2)
    np.testing.assert_allclose(r.saddles[0], [-XS, 0.0], atol=1e-6)
    np.testing.assert_array_equal(r.saddle_walkers, [2])
    assert eyring_kramers_rate(r, 0.1) == pytest.approx(eyring_kramers_rate(r.paths[1], 0.1),
                                                         rel=1e-12)
    only_far = escape_saddles(_triple, [-2.0, 0.0], [[2.0, 0.0]], n_images=11)
    assert only_far.n_excluded == 1 and only_far.saddles.shape == (0, 2)
    with pytest.raises(ValueError, match="^path \\(EscapeSaddles\\) has no saddle"):
        eyring_kramers_rate(only_far, 0.1)


def test_count_maxima():
    assert count_maxima([0.0, 1.0, 0.5]) == 1
    assert count_maxima([0.0, 1.0, 0.2, 0.9, 0.5]) == 2
    assert count_maxima([0.0, 1.0, 1.0, 0.5]) == 1  # a plateau is one maximum
    assert count_maxima([0.0, 0.5, 1.0]) == 0
    assert count_maxima([0.0, 1.0, 1.0 - 1e-12, 1.0, 0.0]) == 1  # dips below rel_tol are flat
    with pytest.raises(ValueError, match="^energies must"):
        count_maxima([1.0])


def test_network_slice_single_saddle():
    X1 = np.linspace(-2.0, 2.0, 21)[:, None]
    V = np.array([1.0, 0.8])
    Y1 = np.tanh(2.0 * X1[:, 0]) + V[1] * np.tanh(0.5 * X1[:, 0])
    net = nn.MLP([1, 2, 1], "tanh", "mse")
    ls = nn.mlp_landscape(net, X1, Y1, batch_size=len(Y1), prior_sigma=10.0)
    theta = net.flatten([(np.zeros((2, 1)), np.zeros(2)), (V[None, :], np.zeros(1))])
    sl = slice_landscape(ls, theta, [0, 1])
    f = energy_function(sl)
    a = minimize(f, np.array([2.0, 0.5]), gtol=1e-8).x
    b = minimize(f, np.array([0.5, 2.0]), gtol=1e-8).x
    r = escape_saddles(sl, a, np.array([b, [np.nan, np.nan], b]))
    p = minimum_energy_path(f, r.start, r.products[0])
    assert r.saddles.shape == (1, 2) and r.paths[0].ok
    np.testing.assert_allclose(r.saddles[0], p.saddle, atol=1e-9)
    assert r.barrier[0] == pytest.approx(p.barrier_forward, rel=1e-9)
    np.testing.assert_array_equal(r.saddle_walkers, [2])
    assert eyring_kramers_rate(r, 0.03) == pytest.approx(eyring_kramers_rate(p, 0.03), rel=1e-8)
    # the path runs to the product as given (no alignment): its last image is the product
    np.testing.assert_allclose(r.paths[0].images[-1], r.products[0], atol=1e-12)


def test_escape_saddles_input_errors():
    z = [0.0, 0.0]
    cases = [
        (lambda: escape_saddles(_triple, z, np.zeros((2, 3))), ValueError, "^products must have"),
        (lambda: escape_saddles(_triple, z, [NAN, NAN]), ValueError, "^products has no finite"),
        (lambda: escape_saddles(_triple, z, [[2.0, np.nan]]), ValueError, "^products must be"),
        (lambda: escape_saddles(_triple, z, [[1e-5, 0.0]]), ValueError,
         "^products contains the start"),
        (lambda: escape_saddles(_triple, [np.inf, 0.0], [[2.0, 0.0]]), ValueError,
         "^theta_start must"),
        (lambda: escape_saddles(_triple, z, [[2.0, 0.0]], tol=0.0), ValueError, "tol"),
        (lambda: escape_saddles(_triple, z, [[2.0, 0.0]], saddle_tol=-1.0), ValueError,
         "saddle_tol"),
        (lambda: escape_saddles("ls", z, [[2.0, 0.0]]), TypeError, "^landscape must be"),
        (lambda: escape_saddles(_triple, z, [[2.0, 0.0]], n_images=2), ValueError, "n_images"),
        (lambda: eyring_kramers_rate([], 0.1), ValueError, "^path must be a PathResult or"),
        (lambda: eyring_kramers_rate(["p"], 0.1), TypeError, "^path must be a PathResult"),
    ]
    for fn, exc, pattern in cases:
        with pytest.raises(exc, match=pattern) as err:
            fn()
        assert "\n" not in str(err.value)
    r = escape_saddles(_triple, z, [[2.0, 0.0]])
    with pytest.raises(ValueError, match="^start must be 'a'"):
        eyring_kramers_rate(r, 0.1, start="b")


def test_far_partner_image_retried_and_excluded_as_a_chain():
    """2-4-2 net of experiments/nn_escape.py: the nearest partner image lies behind one saddle;
    the next one farther away (distance 4.79) only through intermediate minima.  Its first band (9
    images, AutoNEB) blows up; the retry (17 images) converges and shows several maxima whose
    top is the same saddle energy: excluded, and the one saddle counted once."""
    import itertools

    from langevin_opt.nn.symmetry import HiddenSymmetry, apply_symmetry

    ds = nn.two_moons(40, 0, noise=0.3, seed=2)
    net = nn.MLP([2, 4, 2], "tanh", "softmax_ce")
    ls = nn.mlp_landscape(net, ds.X_train, ds.y_train, batch_size=40, prior_sigma=2.0)
    m = nn.network_minima(ls, net, 4, seed=1, init_gain=2.0, descent_steps=100)
    ok = np.flatnonzero(m.is_minimum)
    cls = nn.distinct_minima(m.theta[ok], net, energies=m.energy[ok], tol=1e-3)
    reps = ok[cls.representatives]
    assert reps.size == 2
    a, b = m.theta[reps[np.argmin(m.energy[reps])]], m.theta[reps[np.argmax(m.energy[reps])]]
    images = [apply_symmetry(b, net, HiddenSymmetry([np.array(p)], [np.array(s)]))
              for p in itertools.permutations(range(4))
              for s in itertools.product([1.0, -1.0], repeat=4)]
    images.sort(key=lambda x: float(np.linalg.norm(x - a)))
    d0 = float(np.linalg.norm(images[0] - a))
    far = next(x for x in images if float(np.linalg.norm(x - a)) > d0 + 0.5)
    r = escape_saddles(ls, a, np.array([images[0], far, images[0]]))
    np.testing.assert_array_equal(r.counts, [2, 1])
    assert not r.retried[0] and r.paths[0].ok and r.n_maxima[0] == 1
    assert r.retried[1] and r.paths[1].neb.converged and r.n_maxima[1] >= 2
    assert r.paths[1].images.shape[0] == 17
    np.testing.assert_array_equal(r.path_saddle, [0, -1])
    assert r.n_excluded == 1 and r.saddles.shape == (1, net.n_params)
    assert r.paths[1].saddle_energy == pytest.approx(r.saddle_energy[0], abs=1e-6)
    assert 0.9 < r.barrier[0] < 1.1
