"""Hidden-unit symmetries of MLPs: invariance of the loss, equivariance of gradient and
Hessian, alignment, canonical forms and distinct-minima counting (issue 16, §1 and §4)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langevin_opt import nn
from langevin_opt.nn.paths import energy_function
from langevin_opt.nn.symmetry import (
    ODD_ACTIVATIONS,
    HiddenSymmetry,
    align,
    apply_symmetry,
    canonical_form,
    distance_modulo_symmetry,
    distinct_minima,
    flips_allowed,
    identity_symmetry,
    random_symmetry,
    symmetry_matrix,
)
from langevin_opt.rates.saddles import hessian_fd, minimize

SEEDS = st.integers(0, 2**32 - 1)


def _data(n=24, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (X[:, 0] * X[:, 1] + 0.5 * X[:, 2] > 0).astype(np.int64)
    return X, y


@pytest.fixture(scope="module")
def tanh_problem():
    """Two hidden tanh layers (P = 39) on a small classification set, and a trained minimum."""
    X, y = _data()
    net = nn.MLP([3, 4, 3, 2], "tanh", "softmax_ce")
    ls = nn.mlp_landscape(net, X, y, batch_size=len(y), prior_sigma=3.0)
    f = energy_function(ls)
    theta = minimize(f, net.init_params(1, gain=1.5), gtol=1e-9).x
    return net, ls, f, theta


@pytest.fixture(scope="module")
def relu_problem():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((20, 3))
    y = np.sin(X.sum(1))
    net = nn.MLP([3, 5, 4, 1], "relu", "mse")
    ls = nn.mlp_landscape(net, X, y, batch_size=20, prior_sigma=3.0)
    theta = net.init_params(2)
    theta[net.layout()[0][2]] = 0.3  # biases off zero, so that no unit sits on a kink
    return net, ls, energy_function(ls), theta


# ---------------------------------------------------------------- group action
@settings(max_examples=30, deadline=None)
@given(seed=SEEDS)
def test_loss_invariant_gradient_equivariant_tanh(tanh_problem, seed):
    net, _, f, theta = tanh_problem
    rng = np.random.default_rng(seed)
    th = theta + 0.3 * rng.standard_normal(theta.size)  # a generic point, not only the minimum
    g = random_symmetry(net, seed=seed)
    m = symmetry_matrix(net, g)
    th2 = apply_symmetry(th, net, g)
    np.testing.assert_array_equal(th2, m @ th)
    e1, g1 = f(th)
    e2, g2 = f(th2)
    assert e2 == pytest.approx(e1, rel=1e-13)
    np.testing.assert_allclose(g2, m @ g1, rtol=1e-11, atol=1e-12 * np.abs(g1).max())
    # the network computes the same function
    X, _ = _data()
    np.testing.assert_allclose(net.forward(th2, X), net.forward(th, X), rtol=1e-12, atol=1e-13)


@settings(max_examples=8, deadline=None)
@given(seed=SEEDS)
def test_hessian_transforms_as_m_h_mt(tanh_problem, seed):
    net, _, f, theta = tanh_problem
    g = random_symmetry(net, seed=seed)
    m = symmetry_matrix(net, g)
    h1 = hessian_fd(f, theta)
    h2 = hessian_fd(f, apply_symmetry(theta, net, g))
    np.testing.assert_allclose(h2, m @ h1 @ m.T, atol=1e-7 * np.abs(h1).max())
    # and it is not trivially so: the Hessian itself is not invariant
    if not g.is_identity():
        assert np.abs(h2 - h1).max() > 1e-3 * np.abs(h1).max()


@settings(max_examples=15, deadline=None)
@given(seed=SEEDS)
def test_relu_permutations_leave_loss_invariant(relu_problem, seed):
    net, _, f, theta = relu_problem
    g = random_symmetry(net, seed=seed)
    assert all(np.all(s == 1.0) for s in g.signs)
    e1, g1 = f(theta)
    e2, g2 = f(apply_symmetry(theta, net, g))
    assert e2 == pytest.approx(e1, rel=1e-13)
    np.testing.assert_allclose(g2, symmetry_matrix(net, g) @ g1, rtol=1e-11,
                               atol=1e-12 * np.abs(g1).max())


@settings(max_examples=20, deadline=None)
@given(a=SEEDS, b=SEEDS)
def test_group_laws(tanh_problem, a, b):
    net, _, _, theta = tanh_problem
    ga = random_symmetry(net, seed=a)
    gb = random_symmetry(net, seed=b)
    ab = apply_symmetry(apply_symmetry(theta, net, gb), net, ga)
    np.testing.assert_array_equal(apply_symmetry(theta, net, ga.compose(gb)), ab)
    np.testing.assert_array_equal(apply_symmetry(apply_symmetry(theta, net, ga), net,
                                                 ga.inverse()), theta)
    assert ga.compose(ga.inverse()).is_identity()
    np.testing.assert_array_equal(symmetry_matrix(net, ga) @ symmetry_matrix(net, ga).T,
                                  np.eye(net.n_params))


def test_odd_activations_match_the_compiled_activations():
    x = np.linspace(-3, 3, 13)[:, None]
    for act in nn.ACTIVATIONS:
        net = nn.MLP([1, 1, 1], act, "mse")
        th = net.flatten([(np.array([[1.0]]), np.zeros(1)), (np.array([[1.0]]), np.zeros(1))])
        y = net.forward(th, x)[:, 0]  # = act(x)
        odd = bool(np.allclose(y, -y[::-1], atol=1e-14))
        assert odd == (act in ODD_ACTIVATIONS), act
    assert flips_allowed(nn.MLP([2, 3, 3, 1], ["tanh", "relu"])) == (True, False)


def test_sign_flips_refused_for_non_odd_activations(relu_problem):
    net, _, _, theta = relu_problem
    with pytest.raises(ValueError, match=r"^flips: sign flips .*'relu'") as err:
        random_symmetry(net, seed=0, flips=True)
    assert "\n" not in str(err.value)
    e = identity_symmetry(net)
    bad = HiddenSymmetry(e.perms, (-e.signs[0], e.signs[1]))
    with pytest.raises(ValueError, match=r"^symmetry: sign flips .*'relu'"):
        apply_symmetry(theta, net, bad)
    with pytest.raises(ValueError, match="^flips"):
        align(theta, theta, net, flips=True)
    for act in ("softplus", "sigmoid"):
        with pytest.raises(ValueError, match=f"'{act}'"):
            random_symmetry(nn.MLP([2, 3, 1], act), seed=0, flips=True)


def test_bad_inputs_get_one_line_errors(tanh_problem):
    net, _, _, theta = tanh_problem
    e = identity_symmetry(net)
    cases = [
        (lambda: align(theta[:-1], theta, net), ValueError, "^theta_a must have shape"),
        (lambda: align(theta, np.full_like(theta, np.nan), net), ValueError, "^theta_b must be"),
        (lambda: align(theta, theta, "net"), TypeError, "^net must be an MLP"),
        (lambda: align(theta, theta, net, flips=1), TypeError, "^flips must be"),
        (lambda: align(theta, theta, net, max_sweeps=-1), ValueError, "max_sweeps"),
        (lambda: apply_symmetry(theta, net, HiddenSymmetry(e.perms[:1], e.signs[:1])),
         ValueError, "^symmetry: need 2 hidden layers"),
        (lambda: apply_symmetry(theta, net, HiddenSymmetry((e.perms[0] * 0, e.perms[1]),
                                                           e.signs)),
         ValueError, r"^symmetry: perms\[0\] must be a permutation"),
        (lambda: apply_symmetry(theta, net, HiddenSymmetry(e.perms, (e.signs[0] * 2,
                                                                    e.signs[1]))),
         ValueError, r"^symmetry: signs\[0\]"),
        (lambda: apply_symmetry(theta, net, "g"), TypeError, "^symmetry must be"),
        (lambda: random_symmetry(net), TypeError, "^seed is required"),
        (lambda: distinct_minima(theta, net), ValueError, "^thetas must have shape"),
        (lambda: distinct_minima([theta], net, tol=-1), ValueError, "tol"),
        (lambda: distinct_minima([theta], net, energies=[1.0, 2.0]), ValueError, "^energies"),
        (lambda: distinct_minima([theta], net, symmetry="yes"), TypeError, "^symmetry must"),
    ]
    for fn, exc, pattern in cases:
        with pytest.raises(exc, match=pattern) as err:
            fn()
        assert "\n" not in str(err.value)


# ---------------------------------------------------------------- alignment
@settings(max_examples=30, deadline=None)
@given(seed=SEEDS)
def test_alignment_recovers_a_permuted_flipped_trained_network(tanh_problem, seed):
    net, _, _, theta = tanh_problem
    g = random_symmetry(net, seed=seed)
    moved = apply_symmetry(theta, net, g)
    al = align(theta, moved, net)
    assert al.distance <= 1e-12 * np.linalg.norm(theta)
    np.testing.assert_array_equal(al.theta, theta)  # a signed permutation: exact
    inv = g.inverse()
    for p, q, s, t in zip(al.symmetry.perms, inv.perms, al.symmetry.signs, inv.signs,
                          strict=True):
        np.testing.assert_array_equal(p, q)
        np.testing.assert_array_equal(s, t)
    # canonical forms of the two copies coincide
    c1, _ = canonical_form(theta, net)
    c2, h = canonical_form(moved, net)
    np.testing.assert_array_equal(c1, c2)
    np.testing.assert_array_equal(apply_symmetry(moved, net, h), c2)


@settings(max_examples=20, deadline=None)
@given(seed=SEEDS)
def test_alignment_never_increases_the_distance(tanh_problem, seed):
    net, _, _, theta = tanh_problem
    other = np.random.default_rng(seed).standard_normal(theta.size)
    al = align(theta, other, net)
    assert al.distance <= al.distance_before + 1e-12
    assert al.distance == pytest.approx(np.linalg.norm(theta - al.theta), rel=1e-12)
    np.testing.assert_array_equal(al.theta, apply_symmetry(other, net, al.symmetry))
    assert distance_modulo_symmetry(theta, other, net) == al.distance


@pytest.mark.parametrize("act", ["tanh", "softplus"])
def test_one_hidden_layer_alignment_is_the_global_optimum(act):
    net = nn.MLP([2, 4, 2], act, "mse")
    rng = np.random.default_rng(7)
    n = net.sizes[1]
    flip = act in ODD_ACTIVATIONS
    for _ in range(3):
        a, b = rng.standard_normal((2, net.n_params))
        best = np.inf
        for perm in itertools.permutations(range(n)):
            for signs in itertools.product(*([(1.0, -1.0)] if flip else [(1.0,)]) * n):
                g = HiddenSymmetry((np.array(perm),), (np.array(signs),))
                best = min(best, float(np.linalg.norm(a - apply_symmetry(b, net, g))))
        assert align(a, b, net).distance == pytest.approx(best, rel=1e-12)


def test_permutation_only_alignment_of_relu_network(relu_problem):
    net, _, f, theta = relu_problem
    g = random_symmetry(net, seed=11)
    al = align(theta, apply_symmetry(theta, net, g), net)
    np.testing.assert_array_equal(al.theta, theta)
    assert f(al.theta)[0] == f(theta)[0]


# ---------------------------------------------------------------- distinct minima
def test_distinct_minima_constructed_symmetry_images(tanh_problem):
    net, _, f, theta = tanh_problem
    # seeds 2-9 reach theta's minimum up to symmetry (aligned distance ~1e-7), seed 10 another
    same = minimize(f, net.init_params(4, gain=1.5), gtol=1e-9).x
    assert np.linalg.norm(same - theta) > 1.0
    assert distance_modulo_symmetry(theta, same, net) < 1e-5
    other = minimize(f, net.init_params(10, gain=1.5), gtol=1e-9).x
    assert distance_modulo_symmetry(theta, other, net) > 0.1  # really another minimum
    image = apply_symmetry(theta, net, random_symmetry(net, seed=3))
    assert np.linalg.norm(image - theta) > 1.0  # far apart as plain vectors
    thetas = np.array([image, other, theta])
    energies = np.array([f(x)[0] for x in thetas])
    assert energies[0] == pytest.approx(energies[2], rel=1e-13)
    mod = distinct_minima(thetas, net, energies=energies, tol=1e-6)
    raw = distinct_minima(thetas, net, energies=energies, tol=1e-6, symmetry=False)
    assert raw.n_classes == 3
    assert mod.n_classes == 2
    assert mod.labels[0] == mod.labels[2] != mod.labels[1]
    assert sorted(mod.counts.tolist()) == [1, 2]
    k = mod.labels[0]
    rep = mod.representatives[k]
    member = 2 if rep == 0 else 0
    np.testing.assert_array_equal(mod.aligned[member], thetas[rep])
    assert mod.distances[member] == 0.0
    # without energies the order of the input decides the representatives
    first = distinct_minima(thetas, net, tol=1e-6)
    assert first.representatives.tolist() == [0, 1]
    # an energy pre-filter below the gap keeps them apart
    sep = distinct_minima(thetas, net, energies=energies + [0.0, 0.0, 1.0], tol=1e-6,
                          energy_tol=0.5)
    assert sep.n_classes == 3
