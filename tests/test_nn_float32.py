"""float32 networks: agreement with float64, SG-MCMC exactness, reproducibility, validation.

Documented tolerances (``langevin_opt.nn.landscape``, Precision): float32 energies
agree with float64 to 1e-6 relative, gradients to 1e-5 of their largest
component; the float32 ``tanh`` to 4e-7 absolute.  Float64 results are pinned
bit for bit elsewhere (``tests/test_pinned.py``).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from stats_util import ALPHA, z_crit

from langevin_opt.datalandscape import DataLandscape
from langevin_opt.nn import MLP, mlp_landscape, two_moons
from langevin_opt.nn.mlp import _act_tanh
from langevin_opt.sgmcmc import ess, run_chains

E_TOL = 1e-6  # relative, energies
G_TOL = 1e-5  # relative to the largest gradient component


def _grad_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.fixture(scope="module")
def moons():
    return two_moons(300, 50, noise=0.15, seed=3)


@pytest.mark.parametrize("act,loss", [("tanh", "softmax_ce"), ("relu", "mse"),
                                      ("sigmoid", "softmax_ce"), ("softplus", "mse")])
def test_energy_and_gradient_match_float64(moons, act, loss):
    net = MLP([2, 16, 8, 2], act, loss)
    y = moons.y_train if loss == "softmax_ce" else np.eye(2)[moons.y_train]
    # batch 32 does not divide N = 300: the full pass has a short last chunk
    l64 = mlp_landscape(net, moons.X_train, y, batch_size=32, prior_sigma=2.0)
    l32 = mlp_landscape(net, moons.X_train, y, batch_size=32, prior_sigma=2.0, dtype="float32")
    assert l64.dtype == "float64" and l32.dtype == "float32"
    assert l32.data[0].dtype == np.float32 and l32.make_work(2)[0].dtype == np.float32
    for k in range(3):
        th = net.init_params(k, gain=1.5)
        for kw in ({}, {"seed": 4, "chain": 1, "step": 17 + k}):
            u64, g64 = l64.energy(th, **kw)
            u32, g32 = l32.energy(th, **kw)
            assert g32.dtype == np.float64
            assert abs(u32 - u64) <= E_TOL * abs(u64), (kw, u32, u64)
            assert _grad_err(g32, g64) <= G_TOL, (kw, _grad_err(g32, g64))


def test_mlp_methods_in_float32(moons):
    n64 = MLP([2, 12, 2], "tanh", "softmax_ce")
    n32 = MLP([2, 12, 2], "tanh", "softmax_ce", dtype=np.float32)
    assert n32.dtype == "float32" and "dtype='float32'" in repr(n32)
    assert n64.with_dtype("float32").dtype == "float32" and "dtype" not in repr(n64)
    th = n64.init_params(1)
    X, y = moons.X_train, moons.y_train
    f32 = n32.forward(th, X)
    assert f32.dtype == np.float32
    np.testing.assert_allclose(f32, n64.forward(th, X), rtol=1e-5, atol=1e-6)
    (l32, g32), (l64, g64) = n32.loss_grad(th, X, y), n64.loss_grad(th, X, y)
    assert g32.dtype == np.float32
    assert abs(l32 - l64) <= E_TOL * abs(l64) and _grad_err(g32, g64) <= G_TOL
    _, dx32 = n32.input_grad(th, X, y)
    _, dx64 = n64.input_grad(th, X, y)
    assert _grad_err(dx32, dx64) <= G_TOL
    assert pickle.loads(pickle.dumps(n32)).dtype == "float32"
    # parameter vectors stay float64 (the samplers' master copy): views, not float32 copies
    parts = n32.unflatten(th)
    assert parts[0][0].dtype == np.float64 and np.shares_memory(parts[0][0], th)
    np.testing.assert_array_equal(n32.flatten(parts), th)


def test_float32_tanh_accuracy():
    x = np.concatenate([np.linspace(-25, 25, 200_001),
                        np.geomspace(1e-9, 20, 100_000), -np.geomspace(1e-9, 20, 100_000),
                        [0.0, np.inf, -np.inf]]).astype(np.float32)
    Z = x[None].copy()
    D = np.empty_like(Z)
    _act_tanh(Z, D, 1, Z.shape[1])
    ref = np.tanh(x.astype(np.float64))
    assert np.max(np.abs(Z[0] - ref)) < 4e-7
    assert np.max(np.abs(Z[0] - ref) / np.maximum(np.abs(ref), 1e-30)) < 4e-7
    np.testing.assert_array_equal(Z[0], -_tanh32(-x))  # odd
    assert np.all(np.abs(Z[0]) <= 1.0)
    np.testing.assert_allclose(D[0], 1.0 - Z[0].astype(np.float64) ** 2, rtol=1e-6, atol=1.2e-7)


def _tanh32(x: np.ndarray) -> np.ndarray:
    Z = x[None].copy()
    _act_tanh(Z, np.empty_like(Z), 1, Z.shape[1])
    return Z[0]


# ------------------------------------------------------------------ SG-MCMC
N_LIN = 200
NOISE_VAR = 1.0
PRIOR_SIGMA = 2.0


@pytest.fixture(scope="module")
def linear():
    """A 2-1 identity MLP with MSE loss: Bayesian linear regression with a bias."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((N_LIN, 2))
    y = X @ np.array([1.0, -0.5]) + 0.3 + rng.standard_normal(N_LIN)
    A = np.hstack([X, np.ones((N_LIN, 1))])  # theta = [w1, w2, b]
    prec = A.T @ A / NOISE_VAR + np.eye(3) / PRIOR_SIGMA**2
    cov = np.linalg.inv(prec)
    mean = cov @ A.T @ y / NOISE_VAR
    net = MLP([2, 1], loss="mse", noise_var=NOISE_VAR)
    return net, X, y, mean, cov


def test_float32_sgld_matches_posterior_and_float64(linear):
    net, X, y, mean, cov = linear
    l64 = mlp_landscape(net, X, y, batch_size=20, prior_sigma=PRIOR_SIGMA)
    l32 = mlp_landscape(net, X, y, batch_size=20, prior_sigma=PRIOR_SIGMA, dtype="float32")
    eta = 2e-4
    x0 = mean + 0.1 * np.random.default_rng(1).standard_normal((16, 3))
    kw = {"seed": 11, "burn_in": 500, "thin": 4, "step_size": eta}
    r32 = run_chains(l32, "sgld", x0, 6_000, **kw)
    r64 = run_chains(l64, "sgld", x0, 6_000, **kw)
    # the same noise and batches: float32 rounding is the only difference, and the
    # contracting dynamics keep it small along the whole run
    assert r32.samples.dtype == np.float64
    assert np.max(np.abs(r32.samples - r64.samples)) < 1e-4
    # whitened posterior means within ESS-derived standard errors (as test_sgmcmc_exact),
    # allowing the O(eta) bias of minibatch SGLD by comparing against the float64 run too
    L = np.linalg.cholesky(cov)
    zc = z_crit(ALPHA, 3)
    for samples in (r32.samples,):
        z = np.linalg.solve(L, (samples - mean).reshape(-1, 3).T).T.reshape(samples.shape)
        for i in range(3):
            q = z[:, :, i]
            n_eff = ess(q, "mean")
            assert n_eff > 300
            assert abs(q.mean()) <= zc * q.std() / np.sqrt(n_eff) + 0.05, (i, q.mean())
    np.testing.assert_allclose(r32.energy, r64.energy, rtol=1e-5)


@pytest.mark.parametrize("method", ["psgld", "sghmc", "sgd"])
def test_other_methods_track_float64(moons, method):
    net = MLP([2, 8, 2], "tanh", "softmax_ce")
    kw = {"batch_size": 50, "prior_sigma": 1.0}
    l64 = mlp_landscape(net, moons.X_train, moons.y_train, **kw)
    l32 = mlp_landscape(net, moons.X_train, moons.y_train, dtype="float32", **kw)
    th = net.init_params(0)
    run = {"n_chains": 2, "seed": 5, "step_size": 1e-4 if method != "psgld" else 1e-5}
    a = run_chains(l32, method, th, 60, **run)
    b = run_chains(l64, method, th, 60, **run)
    assert np.all(np.isfinite(a.theta))
    assert np.max(np.abs(a.theta - b.theta)) < 1e-3 * max(1.0, np.max(np.abs(b.theta)))


def test_float32_chains_independent_of_threads_and_chain_count(moons):
    net = MLP([2, 8, 2], "tanh", "softmax_ce")
    land = mlp_landscape(net, moons.X_train, moons.y_train, batch_size=30, dtype="float32")
    th = net.init_params(2)
    kw = {"seed": 9, "step_size": 1e-4, "thin": 7}
    r1 = run_chains(land, "sgld", th, 80, n_chains=4, threads=1, **kw)
    r2 = run_chains(land, "sgld", th, 80, n_chains=4, threads=2, **kw)
    r3 = run_chains(land, "sgld", th, 80, n_chains=1, stream_offset=2, **kw)
    np.testing.assert_array_equal(r1.samples, r2.samples)
    np.testing.assert_array_equal(r1.theta, r2.theta)
    np.testing.assert_array_equal(r1.samples[2], r3.samples[0])


# --------------------------------------------------------------- validation
@pytest.mark.parametrize("bad", ["float16", "int64", np.int32, "c8", None, True, "double64"])
def test_bad_dtype_is_one_line(moons, bad):
    with pytest.raises(ValueError, match=r"^dtype must be 'float64' or 'float32', got") as e:
        MLP([2, 3, 2], dtype=bad)
    assert "\n" not in str(e.value)
    net = MLP([2, 3, 2], "tanh", "softmax_ce")
    if bad is not None:  # None means "the network's dtype" for mlp_landscape
        with pytest.raises(ValueError, match=r"^dtype must be"):
            mlp_landscape(net, moons.X_train, moons.y_train, batch_size=10, dtype=bad)


def test_dtype_spellings_and_overflow(moons):
    for ok in ("float32", np.float32, np.dtype("float32"), "f4"):
        assert MLP([2, 2], dtype=ok).dtype == "float32"
    assert MLP([2, 2], dtype=float).dtype == "float64"
    net = MLP([2, 3, 2], "tanh", "softmax_ce", dtype="float32")
    X = moons.X_train.copy()
    X[0, 0] = 1e300  # finite in float64, inf in float32
    with pytest.raises(ValueError, match="X must be finite"):
        mlp_landscape(net, X, moons.y_train, batch_size=10)
    land = mlp_landscape(net, moons.X_train, moons.y_train, batch_size=10)
    assert land.dtype == "float32" and land.name.endswith("_float32")
    with pytest.raises(ValueError, match="dtype must be"):
        DataLandscape("x", 1, 1, 1, (), 0, 1, land.energy_grad, land.full_energy_grad, "half")
