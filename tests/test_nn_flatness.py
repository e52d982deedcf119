"""Flatness measures on landscapes with a known Hessian, and Lanczos vs a dense Hessian."""

from __future__ import annotations

import numpy as np
import pytest

from langevin_opt.core import DivergenceError
from langevin_opt.nn import MLP, mlp_landscape
from langevin_opt.nn.flatness import (
    basin_width,
    hessian_trace,
    hessian_vector_product,
    local_entropy,
    top_eigenvalues,
)

NOISE_VAR = 0.5
PRIOR_SIGMA = 2.0


def quadratic_problem(seed=0, d=5, n=30):
    """A linear model with MSE loss: U is exactly quadratic with a known Hessian."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.linspace(0.2, 1.0, d)
    y = rng.standard_normal(n)
    net = MLP([d, 1], loss="mse", noise_var=NOISE_VAR)
    ls = mlp_landscape(net, X, y, batch_size=10, prior_sigma=PRIOR_SIGMA)
    phi = np.hstack([X, np.ones((n, 1))])  # theta = [w, b]
    H = phi.T @ phi / NOISE_VAR + np.eye(d + 1) / PRIOR_SIGMA**2
    theta_min = np.linalg.solve(H, phi.T @ y / NOISE_VAR)
    return ls, H, theta_min


def test_hvp_is_exact_on_a_quadratic():
    ls, H, tmin = quadratic_problem()
    rng = np.random.default_rng(1)
    theta = tmin + rng.standard_normal(tmin.size)
    v = rng.standard_normal(tmin.size)
    np.testing.assert_allclose(hessian_vector_product(ls, theta, v), H @ v, rtol=1e-7,
                               atol=1e-7 * np.abs(H).max())


def test_hutchinson_trace_within_its_standard_error():
    ls, H, tmin = quadratic_problem()
    est, se = hessian_trace(ls, tmin, n_samples=400, seed=3)
    assert se > 0
    assert abs(est - np.trace(H)) < 4 * se
    # off-diagonal terms are what makes Rademacher probes noisy: a rough check of se
    expected_se = np.sqrt(2 * (np.sum(H**2) - np.sum(np.diag(H) ** 2)) / 400)
    assert 0.7 * expected_se < se < 1.3 * expected_se


def test_lanczos_matches_known_spectrum():
    ls, H, tmin = quadratic_problem()
    ev = np.sort(np.linalg.eigvalsh(H))[::-1]
    vals, vecs = top_eigenvalues(ls, tmin, k=3, return_vectors=True, seed=0)
    np.testing.assert_allclose(vals, ev[:3], rtol=1e-7)
    for lam, v in zip(vals, vecs, strict=True):
        np.testing.assert_allclose(H @ v, lam * v, atol=1e-6 * lam)


def test_lanczos_matches_dense_finite_difference_hessian_of_a_tiny_mlp():
    rng = np.random.default_rng(5)
    net = MLP([2, 3, 2], "tanh", "softmax_ce")
    X = rng.standard_normal((12, 2))
    y = rng.integers(0, 2, 12)
    ls = mlp_landscape(net, X, y, batch_size=4, prior_sigma=3.0)
    theta = net.init_params(2) + 0.2 * rng.standard_normal(net.n_params)
    P = net.n_params
    Hfd = np.column_stack([hessian_vector_product(ls, theta, np.eye(P)[i]) for i in range(P)])
    Hfd = 0.5 * (Hfd + Hfd.T)
    ev = np.sort(np.linalg.eigvalsh(Hfd))[::-1]
    vals = top_eigenvalues(ls, theta, k=3, seed=1)
    np.testing.assert_allclose(vals, ev[:3], rtol=1e-5, atol=1e-6 * ev[0])
    # truncated Krylov space: the top eigenvalue converges first
    assert top_eigenvalues(ls, theta, k=1, n_iter=10, seed=0)[0] == pytest.approx(ev[0], rel=1e-4)


def test_basin_width_of_a_quadratic():
    ls, H, tmin = quadratic_problem()
    thr = 0.7
    widths = basin_width(ls, tmin, threshold=thr, n_directions=8, seed=4)
    rng = np.random.default_rng(4)
    for w in widths:
        d = rng.standard_normal(tmin.size)
        d /= np.linalg.norm(d)
        assert w == pytest.approx(np.sqrt(2 * thr / (d @ H @ d)), rel=1e-5)
    # a flatter landscape (same data, larger label noise) has wider basins
    assert np.all(widths < basin_width(_scaled(ls, 4.0), tmin, threshold=thr, n_directions=8,
                                       seed=4))


def _scaled(ls, factor):
    X, yf = ls.data[0], ls.data[1]
    net = MLP([X.shape[1], 1], loss="mse", noise_var=NOISE_VAR * factor)
    return mlp_landscape(net, X, yf, batch_size=10, prior_sigma=PRIOR_SIGMA * np.sqrt(factor))


def test_local_entropy_of_a_quadratic():
    ls, H, tmin = quadratic_problem(d=3)
    P = tmin.size
    rng = np.random.default_rng(7)
    theta = tmin + 0.3 * rng.standard_normal(P)
    gamma, temp = 20.0, 0.5
    res = local_entropy(ls, theta, gamma, temperature=temp, step_size=5e-4, n_steps=40_000,
                        n_chains=4, seed=11)
    # theta' ~ N(m, T (H + gamma)^-1),  m = (H + gamma)^-1 (H theta_min + gamma theta)
    A = H + gamma * np.eye(P)
    m = np.linalg.solve(A, H @ tmin + gamma * theta)
    cov = temp * np.linalg.inv(A)
    msd = np.sum((m - theta) ** 2) + np.trace(cov)
    np.testing.assert_allclose(res.mean, m, atol=0.02 * np.linalg.norm(m - theta) + 0.01)
    np.testing.assert_allclose(res.grad, gamma * (theta - m),
                               atol=0.05 * gamma * np.linalg.norm(theta - m))
    assert res.msd == pytest.approx(msd, rel=0.02)
    assert res.dF_dgamma == pytest.approx(-msd / (2 * temp), rel=0.02)
    u0 = ls.energy(theta)[0]
    u_min = ls.energy(tmin)[0]
    # <U(theta')> = U_min + 1/2 (m - tmin)^T H (m - tmin) + 1/2 tr(H cov)
    eu = u_min + 0.5 * (m - tmin) @ H @ (m - tmin) + 0.5 * np.trace(H @ cov)
    assert res.energy_mean == pytest.approx(eu, rel=0.01)
    assert res.energy_excess == pytest.approx(eu - u0, abs=0.03 * abs(eu) + 0.05)
    assert res.n_samples == 4 * (40_000 - 8_000)
    # a stronger coupling keeps theta' closer to theta
    res2 = local_entropy(ls, theta, 4 * gamma, temperature=temp, step_size=5e-4, n_steps=4000,
                         seed=11)
    assert res2.msd < res.msd


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda ls, t: top_eigenvalues(ls, t, k=0, seed=0), "k must be an integer >= 1"),
        (lambda ls, t: top_eigenvalues(ls, t, k=99, seed=0), r"k must be in \[1, P=6\]"),
        (lambda ls, t: basin_width(ls, t, threshold=0.0, seed=0), "threshold must be"),
        (lambda ls, t: hessian_trace(ls, t[:-1], seed=0), r"theta must have shape \(6,\)"),
        (lambda ls, t: local_entropy(ls, t, -1.0, step_size=1e-3, seed=0), "gamma must be"),
        (lambda ls, t: local_entropy(ls, t, 1.0, step_size=1e-3, n_steps=10, burn_in=10,
                                     seed=0),
         "burn_in must be < n_steps"),
    ],
)
def test_bad_arguments(call, match):
    ls, _, tmin = quadratic_problem()
    with pytest.raises(ValueError, match=match):
        call(ls, tmin)


@pytest.mark.parametrize("call", [
    lambda ls, t: hessian_trace(ls, t),
    lambda ls, t: top_eigenvalues(ls, t, k=1),
    lambda ls, t: basin_width(ls, t),
    lambda ls, t: local_entropy(ls, t, 1.0, step_size=1e-3, n_steps=10),
])
def test_seed_is_required(call):
    ls, _, tmin = quadratic_problem()
    with pytest.raises(TypeError, match="^seed is required"):
        call(ls, tmin)


def test_local_entropy_divergence_is_a_divergence_error():
    ls, _, tmin = quadratic_problem()
    ok = local_entropy(ls, tmin, 1.0, step_size=1e-3, n_steps=50, n_chains=1, seed=0)
    with pytest.raises(DivergenceError, match=r"^local_entropy: non-finite energy or position "
                       r"at step (\d+) for chain 0 \(step_size=10\)") as info:
        local_entropy(ls, tmin, 1.0, step_size=10.0, n_steps=2000, seed=0)
    err = info.value
    assert err.index == 0 and 0 < err.step <= 2000 and err.partial_result is None
    assert np.isfinite(ok.msd)
