"""MLP kernels: forward against a NumPy reference, gradients against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from langevin_opt.nn import ACTIVATIONS, MLP
from langevin_opt.nn.mlp import fwork_size

ACTS = ["tanh", "relu", "softplus", "sigmoid", "identity"]


# ------------------------------------------------------------ NumPy reference
def _act(name, z):
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "softplus":
        return np.logaddexp(0.0, z)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    return z


def naive_forward(net, theta, X):
    """Outputs and the list of hidden pre-activations."""
    a = X
    pre = []
    layers = net.unflatten(theta)
    for i, (W, b) in enumerate(layers):
        z = a @ W.T + b
        if i < len(layers) - 1:
            pre.append(z)
            a = _act(net.activations[i], z)
        else:
            a = z
    return a, pre


def naive_losses(net, theta, X, y):
    f, _ = naive_forward(net, theta, X)
    if net.loss == "mse":
        yy = y.reshape(f.shape)
        return 0.5 * np.sum((f - yy) ** 2, axis=1) / net.noise_var
    m = f.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(f - m).sum(axis=1))
    return lse - f[np.arange(len(y)), y]


def random_problem(draw_sizes, act, loss, m, seed):
    rng = np.random.default_rng(seed)
    net = MLP(draw_sizes, act, loss, noise_var=0.7 if loss == "mse" else 1.0)
    theta = net.init_params(seed) + 0.3 * rng.standard_normal(net.n_params)
    X = rng.standard_normal((m, draw_sizes[0]))
    if loss == "mse":
        y = rng.standard_normal((m, draw_sizes[-1]))
    else:
        y = rng.integers(0, draw_sizes[-1], m)
    return net, theta, X, y


problems = st.tuples(
    st.lists(st.integers(1, 6), min_size=2, max_size=4),
    st.sampled_from(ACTS),
    st.sampled_from(["mse", "softmax_ce"]),
    st.integers(1, 9),
    st.integers(0, 2**31),
)


def _fd_grad(fun, x, h=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = h
        g.flat[i] = (fun(x + e) - fun(x - e)) / (2 * h)
    return g


def _kink_free(net, theta, X):
    """No hidden ReLU pre-activation within reach of the finite-difference step."""
    if "relu" not in net.activations:
        return True
    _, pre = naive_forward(net, theta, X)
    return all(np.min(np.abs(z)) > 1e-3 for z in pre)


# ------------------------------------------------------------------- tests
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems)
def test_forward_and_losses_match_numpy(p):
    sizes, act, loss, m, seed = p
    if loss == "softmax_ce" and sizes[-1] < 2:
        sizes = [*sizes[:-1], 2]
    net, theta, X, y = random_problem(sizes, act, loss, m, seed)
    f_ref, _ = naive_forward(net, theta, X)
    np.testing.assert_allclose(net.forward(theta, X), f_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(net.losses(theta, X, y), naive_losses(net, theta, X, y),
                               rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems)
def test_parameter_gradient_matches_finite_differences(p):
    sizes, act, loss, m, seed = p
    if loss == "softmax_ce" and sizes[-1] < 2:
        sizes = [*sizes[:-1], 2]
    net, theta, X, y = random_problem(sizes, act, loss, m, seed)
    assume(_kink_free(net, theta, X))
    total, g = net.loss_grad(theta, X, y)
    assert total == pytest.approx(naive_losses(net, theta, X, y).sum(), rel=1e-12, abs=1e-12)
    fd = _fd_grad(lambda t: naive_losses(net, t, X, y).sum(), theta)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(fd).max()))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems)
def test_input_gradient_matches_finite_differences(p):
    sizes, act, loss, m, seed = p
    if loss == "softmax_ce" and sizes[-1] < 2:
        sizes = [*sizes[:-1], 2]
    net, theta, X, y = random_problem(sizes, act, loss, m, seed)
    assume(_kink_free(net, theta, X))
    # loss gradient with respect to the inputs
    f, dx = net.input_grad(theta, X, y)
    np.testing.assert_allclose(f, naive_forward(net, theta, X)[0], rtol=1e-12, atol=1e-12)
    fd = _fd_grad(lambda x: naive_losses(net, theta, x.reshape(X.shape), y).sum(), X)
    np.testing.assert_allclose(dx, fd, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(fd).max()))
    # vector-Jacobian product with an arbitrary cotangent
    c = np.random.default_rng(seed + 1).standard_normal(f.shape)
    _, dxc = net.input_grad(theta, X, cotangent=c)
    fdc = _fd_grad(lambda x: np.sum(c * naive_forward(net, theta, x.reshape(X.shape))[0]), X)
    np.testing.assert_allclose(dxc, fdc, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(fdc).max()))


def test_chunked_evaluation_equals_single_chunk():
    net, theta, X, y = random_problem([5, 7, 3], "tanh", "softmax_ce", 23, 4)
    t1, g1, *_ = net._run(theta, X, y, want_grad=True, chunk=64)[0::3]
    t2, g2, *_ = net._run(theta, X, y, want_grad=True, chunk=4)[0::3]
    assert t1 == pytest.approx(t2, rel=1e-13)
    np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-13)


def test_layout_flatten_unflatten_roundtrip():
    net = MLP([3, 4, 2], "relu", "mse")
    assert net.n_params == 4 * 3 + 4 + 2 * 4 + 2
    theta = np.arange(net.n_params, dtype=float)
    (W0, b0), (W1, b1) = net.unflatten(theta)
    assert W0.shape == (4, 3) and b0.shape == (4,) and W1.shape == (2, 4) and b1.shape == (2,)
    assert W0[1, 0] == 3.0 and b0[0] == 12.0 and W1[0, 0] == 16.0
    np.testing.assert_array_equal(net.flatten(net.unflatten(theta)), theta)
    assert fwork_size(net.sizes, 10) == 4 * 10 * 9 + 30


def test_large_logits_are_stable():
    net = MLP([1, 3], "tanh", "softmax_ce")
    theta = np.array([1000.0, -1000.0, 0.0, 0.0, 0.0, 0.0])
    X = np.array([[1.0], [-1.0]])
    losses = net.losses(theta, X, np.array([0, 0]))
    assert losses[0] == pytest.approx(0.0, abs=1e-300)
    assert losses[1] == pytest.approx(2000.0, rel=1e-15)
    _, g = net.loss_grad(theta, X, np.array([0, 0]))
    assert np.all(np.isfinite(g))


def test_activation_table():
    assert set(ACTIVATIONS) == {"identity", "tanh", "relu", "softplus", "sigmoid"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sizes": [3, 4, 2], "activation": "gelu"}, r"^unknown activation 'gelu'.*; allowed: identity, tanh, relu"),
        ({"sizes": [3, 4, 2], "activation": "tahn"},
         r"^unknown activation 'tahn' \(did you mean 'tanh'\?\); allowed: "),
        ({"sizes": [3, 4, 4, 2], "activation": ["tanh"]}, "one name per hidden layer"),
        ({"sizes": [3]}, "sizes must have >= 2 entries"),
        ({"sizes": [3, 0, 2]}, "sizes must have >= 2 entries"),
        ({"sizes": [3, 2], "loss": "hinge"}, "^unknown loss 'hinge'; allowed: mse, softmax_ce"),
        ({"sizes": [3, 1], "loss": "softmax_ce"}, "at least 2 outputs"),
        ({"sizes": [3, 2], "noise_var": 0.0}, "noise_var must be"),
    ],
)
def test_bad_network_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(**kwargs)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"activation": 3}, "^activation must be one of"),
    ({"loss": None}, "^loss must be one of"),
    ({"noise_var": "1"}, "^noise_var must be a finite number > 0, got str"),
])
def test_network_settings_of_the_wrong_type(kwargs, match):
    with pytest.raises(TypeError, match=match):
        MLP([3, 4, 2], **kwargs)


def test_bad_shapes_and_labels():
    net = MLP([3, 4, 2], "tanh", "softmax_ce")
    theta = net.init_params(0)
    with pytest.raises(ValueError, match=r"X must have shape \(M, 3\)"):
        net.forward(theta, np.zeros((5, 4)))
    with pytest.raises(ValueError, match=r"theta must have shape \(26,\)"):
        net.forward(theta[:-1], np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\)"):
        net.losses(theta, np.zeros((2, 3)), np.array([0, 2]))
    with pytest.raises(ValueError, match="integer labels"):
        net.losses(theta, np.zeros((2, 3)), np.array([0.0, 1.0]))
    reg = MLP([3, 2], "tanh", "mse")
    with pytest.raises(ValueError, match=r"y must have shape \(2, 2\)"):
        reg.losses(reg.init_params(0), np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="exactly one of"):
        reg.input_grad(reg.init_params(0), np.zeros((2, 3)))


# ------------------------------------------------------------- vectorization
def _ir(fn, sig):
    """LLVM IR of a fresh (uncached) compilation of one of the kernels."""
    import numba

    from langevin_opt.nn import mlp

    f = numba.njit(error_model="numpy")(getattr(mlp, fn).py_func)
    f.compile(sig)
    return f.inspect_llvm(sig)


@pytest.mark.parametrize("fn", ["_act_tanh", "_act_sigmoid", "_act_softplus", "_dense",
                                "_grad_w", "_dense_t"])
def test_hot_loops_are_vectorized_without_calls(fn):
    import re

    import numba

    m2 = numba.types.float64[:, ::1]
    m1 = numba.types.float64[::1]
    i = numba.types.int64
    sigs = {"_act_tanh": (m2, m2, i, i), "_act_sigmoid": (m2, m2, i, i),
            "_act_softplus": (m2, m2, i, i), "_dense": (m2, m1, m2, m2, i, i, i),
            "_grad_w": (m2, m2, m2, m1, i, i, i), "_dense_t": (m2, m2, m2, i, i, i)}
    ir = _ir(fn, sigs[fn])
    assert re.search(r"fmul <\d+ x double>", ir), f"{fn}: no vector multiply"
    assert re.search(r"fadd <\d+ x double>", ir), f"{fn}: no vector add"
    calls = [ln for ln in ir.splitlines() if " call " in ln and "@llvm." not in ln
             and "NRT_" not in ln]
    assert not [ln for ln in calls if "_fastmath" in ln], f"{fn}: scalar call left in the loop"
    assert "ZeroDivisionError" not in ir
