"""Class probabilities and posterior-predictive helpers against hand computation in NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from langevin_opt import nn


def _forward(net, theta, X):
    """NumPy forward pass from the documented flat layout (tanh hidden layers)."""
    a = np.asarray(X, dtype=np.float64)
    layers = net.unflatten(theta)
    for i, (W, b) in enumerate(layers):
        a = a @ W.T + b
        if i < len(layers) - 1:
            a = np.tanh(a)
    return a


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    return rng.standard_normal((9, 3)), rng.integers(0, 4, size=9)


def test_predict_proba_softmax_and_sigmoid_by_hand():
    z = np.array([[1.0, 2.0, -1.0], [0.0, 0.0, 0.0], [1000.0, 0.0, -1000.0]])
    p = nn.predict_proba(z)
    np.testing.assert_allclose(p[:2], np.exp(z[:2]) / np.exp(z[:2]).sum(axis=1, keepdims=True),
                               rtol=1e-14)
    np.testing.assert_array_equal(p[2], [1.0, 0.0, 0.0])  # stable for huge logits
    s = np.array([-2.0, 0.0, 3.0, 800.0, -800.0])
    q = nn.predict_proba(s, "sigmoid")
    p1 = 1.0 / (1.0 + np.exp(-s[:3]))
    np.testing.assert_allclose(q[:3], np.stack([1 - p1, p1], axis=1), rtol=1e-14)
    np.testing.assert_array_equal(q[3:], [[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_array_equal(nn.predict_proba(s[:, None], "Sigmoid"), q)
    # leading batch axes: (K, M, classes)
    assert nn.predict_proba(np.zeros((2, 5, 3))).shape == (2, 5, 3)


def test_predictive_proba_averages_over_samples(data):
    X, y = data
    net = nn.MLP([3, 5, 4], "tanh", "softmax_ce")
    rng = np.random.default_rng(1)
    samples = rng.standard_normal((2, 6, net.n_params))  # (chains, kept, P)
    ref = np.mean([_softmax(_forward(net, t, X)) for t in samples.reshape(-1, net.n_params)],
                  axis=0)
    p = nn.predictive_proba(net, samples, X)
    np.testing.assert_allclose(p, ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-14)
    # the order of the leading axes does not matter for an average
    np.testing.assert_allclose(nn.predictive_proba(net, samples.transpose(1, 0, 2), X), p,
                               rtol=1e-14)
    f = nn.predictive_outputs(net, samples, X)
    assert f.shape == (12, 9, 4)
    np.testing.assert_allclose(f[3], _forward(net, samples.reshape(-1, net.n_params)[3], X),
                               rtol=1e-12, atol=1e-14)
    # scores by hand
    assert nn.accuracy(p, y) == np.mean(ref.argmax(axis=1) == y)
    assert nn.nll(p, y) == pytest.approx(-np.mean(np.log(ref[np.arange(9), y])), rel=1e-12)


def test_sigmoid_link_for_a_one_output_network(data):
    X, _ = data
    net = nn.MLP([3, 4, 1], "tanh", "mse")
    th = np.random.default_rng(2).standard_normal((3, net.n_params))
    p1 = np.mean([1 / (1 + np.exp(-_forward(net, t, X)[:, 0])) for t in th], axis=0)
    p = nn.predictive_proba(net, th, X, link="sigmoid")
    np.testing.assert_allclose(p[:, 1], p1, rtol=1e-12)
    np.testing.assert_allclose(p[:, 0], 1 - p1, rtol=1e-12)


def test_predictive_mean_var_for_regression(data):
    X, _ = data
    net = nn.MLP([3, 6, 2], "tanh", "mse", noise_var=0.25)
    th = np.random.default_rng(3).standard_normal((5, net.n_params))
    f = np.stack([_forward(net, t, X) for t in th])
    mean, var = nn.predictive_mean_var(net, th, X)
    np.testing.assert_allclose(mean, f.mean(axis=0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(var, f.var(axis=0) + 0.25, rtol=1e-12)
    _, v0 = nn.predictive_mean_var(net, th, X, include_noise=False)
    np.testing.assert_allclose(v0, f.var(axis=0), rtol=1e-12, atol=1e-15)
    # one sample: the spread is zero, the variance is the noise
    _, v1 = nn.predictive_mean_var(net, th[0], X)
    np.testing.assert_allclose(v1, 0.25)
    yt = f[0] + 0.1
    ref = -np.mean(stats.norm.logpdf(yt, mean, np.sqrt(var)).sum(axis=1))
    assert nn.gaussian_nll(mean, var, yt) == pytest.approx(ref, rel=1e-12)
    assert nn.gaussian_nll(mean[:, 0], var[:, 0], yt[:, 0]) == pytest.approx(
        -np.mean(stats.norm.logpdf(yt[:, 0], mean[:, 0], np.sqrt(var[:, 0]))), rel=1e-12)


def test_scores_edge_cases():
    p = np.array([[0.5, 0.5], [1.0, 0.0], [0.2, 0.8]])
    assert nn.accuracy(p, np.array([0, 0, 1])) == 1.0  # a tie goes to the lowest class
    assert nn.nll(p, np.array([0, 1, 1])) == np.inf  # probability 0 of the label
    assert nn.nll(p, np.array([1, 0, 1])) == pytest.approx(-(np.log(0.5) + np.log(0.8)) / 3)


def test_end_to_end_with_a_chain_result():
    from langevin_opt import sgmcmc

    ds = nn.two_moons(40, 20, noise=0.1, seed=0)
    net = nn.MLP([2, 4, 2], "tanh", "softmax_ce")
    land = nn.mlp_landscape(net, ds.X_train, ds.y_train, batch_size=20, prior_sigma=1.0)
    res = sgmcmc.run_chains(land, "sgld", net.init_params(0), 40, seed=1, n_chains=2,
                            step_size=0.05 / land.n_data, thin=10)
    p = nn.predictive_proba(net, res, ds.X_test)
    np.testing.assert_array_equal(p, nn.predictive_proba(net, res.samples, ds.X_test))
    assert p.shape == (20, 2) and 0.0 <= nn.accuracy(p, ds.y_test) <= 1.0


def test_bad_arguments_name_the_argument(data):
    X, y = data
    net = nn.MLP([3, 5, 4], "tanh", "softmax_ce")
    reg = nn.MLP([3, 5, 1], "tanh", "mse")
    th = np.zeros((2, net.n_params))
    with pytest.raises(ValueError, match=rf"^samples must have shape \(K, {net.n_params}\)"):
        nn.predictive_proba(net, np.zeros((2, 3)), X)
    with pytest.raises(ValueError, match=r"^X must have shape \(M, 3\), got \(9, 2\)"):
        nn.predictive_proba(net, th, X[:, :2])
    with pytest.raises(ValueError, match="^samples must be finite$"):
        nn.predictive_proba(net, np.full((1, net.n_params), np.nan), X)
    with pytest.raises(TypeError, match="^net must be an MLP, got str$"):
        nn.predictive_outputs("net", th, X)
    with pytest.raises(ValueError, match="^predictive_mean_var needs a regression network"):
        nn.predictive_mean_var(net, th, X)
    with pytest.raises(ValueError, match="^link must be given"):
        nn.predictive_proba(reg, np.zeros(reg.n_params), X)
    with pytest.raises(ValueError, match=r"unknown link 'softmx' \(did you mean 'softmax'\?\)"):
        nn.predict_proba(np.zeros((2, 3)), "softmx")
    with pytest.raises(ValueError, match=r"^logits must have shape \(M, n_classes\)"):
        nn.predict_proba(np.zeros((4, 1)))
    with pytest.raises(ValueError, match="^logits must be finite$"):
        nn.predict_proba(np.array([[0.0, np.inf]]))
    with pytest.raises(ValueError, match=r"^y must be integer labels of shape \(9,\)"):
        nn.accuracy(np.full((9, 4), 0.25), y[:5])
    with pytest.raises(ValueError, match=r"^y labels must be in \[0, 4\), got range"):
        nn.nll(np.full((9, 4), 0.25), y + 4)
    with pytest.raises(ValueError, match=r"^proba must have shape \(M, n_classes\)"):
        nn.accuracy(np.zeros(9), y)
    with pytest.raises(ValueError, match="^proba rows must sum to 1$"):
        nn.nll(np.full((9, 4), 0.5), y)
    with pytest.raises(ValueError, match="^var must be > 0$"):
        nn.gaussian_nll(np.zeros(3), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="^mean, var and y must have one shape"):
        nn.gaussian_nll(np.zeros(3), np.ones(2), np.zeros(3))
