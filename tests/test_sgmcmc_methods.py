"""SG-MCMC methods: validation, bit-level identities, reproducibility, cSGLD, reSGLD, Entropy-SGD."""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest
from scipy import stats
from stats_util import ALPHA, z_crit

from langevin_opt.core import DivergenceError
from langevin_opt.datalandscape import DataLandscape
from langevin_opt.rng import PURPOSE_SWAP, uniform2
from langevin_opt.sgmcmc import (
    METHODS,
    PSGLD,
    SGD,
    SGHMC,
    SGLD,
    ChainResult,
    ChainState,
    CyclicalSGLD,
    EntropySGD,
    Optimizer,
    ReplicaExchangeSGLD,
    autocorr_time,
    cyclical_step_sizes,
    linear_regression,
    linear_regression_posterior,
    make_linear_data,
    make_method,
    run_chains,
)
from langevin_opt.sgmcmc.kernels import swap_log_ratio

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def land():
    X, y = make_linear_data(120, [1.0, -0.5, 0.25], seed=3)
    return linear_regression(X, y, batch_size=20)


# ----------------------------------------------------------------------------- validation

@pytest.mark.parametrize("cls, field, value", [
    (SGD, "step_size", 0.0),
    (SGLD, "step_size", -1.0),
    (SGLD, "decay", 0.3),
    (PSGLD, "alpha", 1.0),
    (PSGLD, "eps", 0.0),
    (SGHMC, "friction", 1.5),
    (SGHMC, "noise_estimate", 0.2),
    (CyclicalSGLD, "n_cycles", 0),
    (CyclicalSGLD, "exploration", 1.0),
    (ReplicaExchangeSGLD, "swap_every", 0),
    (ReplicaExchangeSGLD, "correction", 0.5),
    (EntropySGD, "inner_steps", 0),
    (EntropySGD, "beta1", -0.1),
])
def test_bad_values_name_the_field(cls, field, value):
    with pytest.raises(ValueError, match=field):
        cls(**{field: value})


def test_registry_and_did_you_mean():
    assert set(METHODS) == {"sgd", "sgld", "psgld", "sghmc", "csgld", "resgld", "entropy-sgd"}
    assert make_method("sgld", step_size=0.1) == SGLD(step_size=0.1)
    with pytest.raises(ValueError, match="did you mean 'sgld'"):
        make_method("sglb")
    with pytest.raises(ValueError, match="did you mean 'friction'"):
        make_method("sghmc", fricton=0.1)
    with pytest.raises(ValueError, match="temperatures"):
        ReplicaExchangeSGLD(temperatures=(2.0, 1.0))


def test_run_chains_argument_errors(land):
    with pytest.raises(ValueError, match="theta0"):
        run_chains(land, "sgld", np.zeros(2), 10, seed=0)
    with pytest.raises(ValueError, match="n_steps"):
        run_chains(land, "sgld", np.zeros(3), 0, seed=0)
    with pytest.raises(ValueError, match="seed"):
        run_chains(land, "sgld", np.zeros(3), 10, seed=-1)
    with pytest.raises(ValueError, match="multiple of 2"):
        run_chains(land, ReplicaExchangeSGLD(), np.zeros((3, 3)), 10, seed=0)
    with pytest.raises(ValueError, match="temperature"):
        run_chains(land, ReplicaExchangeSGLD(), np.zeros((2, 3)), 10, seed=0, temperature=1.0)


# ----------------------------------------------------------------------------- identities

def test_sgld_at_zero_temperature_is_sgd_bit_for_bit(land):
    x0 = np.random.default_rng(0).standard_normal((3, 3))
    a = run_chains(land, SGD(step_size=1e-3), x0, 300, seed=4, thin=7)
    b = run_chains(land, SGLD(step_size=1e-3), x0, 300, seed=4, thin=7, temperature=0.0)
    assert a.theta.tobytes() == b.theta.tobytes()
    assert a.samples.tobytes() == b.samples.tobytes()
    # the Optimizer path too
    w1, w2 = x0[0].copy(), x0[0].copy()
    o1, o2 = Optimizer("sgd", lr=1e-3), Optimizer("sgld", lr=1e-3, temperature=0.0, seed=9)
    for t in range(50):
        o1.step(w1, land.energy(w1, seed=4, step=t)[1])
        o2.step(w2, land.energy(w2, seed=4, step=t)[1])
    assert w1.tobytes() == w2.tobytes()


@pytest.mark.parametrize("method", [SGLD(step_size=1e-3), PSGLD(step_size=1e-3),
                                    SGHMC(step_size=1e-3, friction=0.2)])
def test_optimizer_reproduces_chain_zero(land, method):
    """Optimizer.step with the landscape's minibatch gradients = run_chains chain 0, bit for bit."""
    x0 = np.array([0.3, -0.2, 0.1])
    n = 40
    r = run_chains(land, method, x0, n, seed=21, temperature=0.7)
    w = x0.copy()
    opt = Optimizer(method, temperature=0.7, seed=21)
    for t in range(n):
        opt.step(w, land.energy(w, seed=21, chain=0, step=t)[1])
    assert w.tobytes() == r.theta[0].tobytes()


def test_chains_do_not_depend_on_their_companions(land):
    x0 = np.random.default_rng(1).standard_normal((5, 3))
    full = run_chains(land, SGLD(step_size=1e-3), x0, 200, seed=8, thin=10)
    part = run_chains(land, SGLD(step_size=1e-3), x0[2:4], 200, seed=8, thin=10, stream_offset=2)
    assert part.samples.tobytes() == full.samples[2:4].tobytes()
    assert part.theta.tobytes() == full.theta[2:4].tobytes()


_SCRIPT = textwrap.dedent("""
    import hashlib, numpy as np
    from langevin_opt.sgmcmc import SGLD, run_chains, linear_regression, make_linear_data
    X, y = make_linear_data(120, [1.0, -0.5, 0.25], seed=3)
    land = linear_regression(X, y, batch_size=20)
    x0 = np.random.default_rng(1).standard_normal((5, 3))
    r = run_chains(land, SGLD(step_size=1e-3), x0, 200, seed=8, thin=10)
    print(hashlib.sha256(r.samples.tobytes() + r.theta.tobytes()).hexdigest())
""")


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 threads")
def test_bit_identical_for_one_and_two_threads(land):
    x0 = np.random.default_rng(1).standard_normal((5, 3))
    r = run_chains(land, SGLD(step_size=1e-3), x0, 200, seed=8, thin=10, threads=2)
    mine = hashlib.sha256(r.samples.tobytes() + r.theta.tobytes()).hexdigest()
    env = dict(os.environ, NUMBA_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True,
                         text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == mine


# ----------------------------------------------------------------------------- cSGLD

def test_cyclical_step_sizes_follow_the_formula():
    K, M, a0 = 103, 4, 0.5
    steps = np.arange(K)
    alpha, r = cyclical_step_sizes(a0, M, K, steps)
    per = math.ceil(K / M)
    for t in steps:
        k = t + 1
        ref = a0 / 2 * (math.cos(math.pi * ((k - 1) % per) / per) + 1)
        assert alpha[t] == pytest.approx(ref, rel=1e-12, abs=1e-15)
        assert r[t] == pytest.approx(((k - 1) % per) / per)
    assert alpha[0] == a0 and alpha[per] == a0


def test_cyclical_sgld_explores_without_noise_and_samples_in_stage(land):
    m = CyclicalSGLD(step_size=2e-3, n_cycles=3, exploration=0.75)
    n = 120
    x0 = np.array([0.5, 0.5, 0.5])
    r = run_chains(land, m, x0, n, seed=2, temperature=1.0)
    stage = m.sampling_stage(np.arange(n), n)
    assert np.array_equal(r.steps, np.flatnonzero(stage))
    # exploration steps are plain SGD with the cosine step: replay them with the Optimizer
    w = x0.copy()
    opt = Optimizer(m, temperature=1.0, seed=2, total_steps=n)
    sgd = x0.copy()
    for t in range(n):
        g = land.energy(w, seed=2, step=t)[1]
        if t < 30:  # first exploration stage: noise-free cosine-scheduled descent
            eta = cyclical_step_sizes(2e-3, 3, n, np.array([t]))[0][0]
            sgd = sgd - eta * land.energy(sgd, seed=2, step=t)[1]
        opt.step(w, g)
        if t == 29:
            assert np.array_equal(w, sgd)
    assert w.tobytes() == r.theta[0].tobytes()


# ----------------------------------------------------------------------------- reSGLD

def test_swap_rule_matches_the_corrected_formula():
    rng = np.random.default_rng(0)
    for _ in range(50):
        u1, u2 = rng.normal(0, 50, 2)
        t1 = rng.uniform(0.1, 1)
        t2 = t1 + rng.uniform(0, 2)
        var, f = rng.uniform(0, 100), rng.uniform(1, 10)
        d = 1 / t1 - 1 / t2
        ref = d * (u1 - u2 - d * var / f)
        assert swap_log_ratio(u1, u2, t1, t2, var, 1 / f) == pytest.approx(ref, rel=1e-12,
                                                                          abs=1e-12)
        naive = swap_log_ratio(u1, u2, t1, t2, var, 0.0)
        assert naive == pytest.approx(d * (u1 - u2), rel=1e-12, abs=1e-12)
    # the correction lowers the acceptance of a swap
    assert swap_log_ratio(1.0, 0.0, 1.0, 2.0, 4.0, 1.0) < swap_log_ratio(1.0, 0.0, 1.0, 2.0,
                                                                          4.0, 0.0)
    # the swap uniforms are the counter-based ones
    assert uniform2(np.uint64(3), 0, 5, 0, PURPOSE_SWAP)[0] != uniform2(np.uint64(3), 0, 5, 0, 0)[0]


def test_equal_temperatures_always_swap(land):
    m = ReplicaExchangeSGLD(temperatures=(1.0, 1.0), step_size=1e-3, swap_every=1)
    r = run_chains(land, m, np.zeros((4, 3)), 100, seed=3)
    assert r.swap_attempts[0] == 100 * 2 // 2  # every round, pair 0, two groups
    assert r.swap_accepts[0] == r.swap_attempts[0]


def test_three_replica_ladder_groups_are_independent(land):
    """Any number of replicas: pairs alternate; a group's chains do not depend on other groups."""
    m = ReplicaExchangeSGLD(temperatures=(0.5, 1.0, 2.0), step_size=(1e-3, 1e-3, 5e-4),
                            swap_every=2, correction=math.inf)
    x0 = np.random.default_rng(5).standard_normal((6, 3))
    r = run_chains(land, m, x0, 101, seed=3, thin=10)
    assert np.array_equal(r.temperatures, [0.5, 1.0, 2.0] * 2)
    # rounds at steps 1, 3, ..., 99: 50 rounds, pair 0 on even rounds, pair 1 on odd ones
    assert r.swap_attempts.tolist() == [2 * 25, 2 * 25]
    assert np.all(r.swap_accepts > 0)
    part = run_chains(land, m, x0[3:], 101, seed=3, thin=10, stream_offset=3)
    assert part.samples.tobytes() == r.samples[3:].tobytes()
    assert part.theta.tobytes() == r.theta[3:].tobytes()


def test_two_temperature_swap_rate_matches_the_product_distribution():
    """Full-batch reSGLD swap rate = E[min(1, exp(d (U1 - U2)))] under the stationary product law."""
    X, y = make_linear_data(100, [1.0, -0.5], seed=5)
    land = linear_regression(X, y)
    mean, cov = linear_regression_posterior(X, y)
    A = np.linalg.inv(cov)
    eta = 5e-4
    t1, t2 = 1.0, 1.5
    G = 48
    every = 200
    m = ReplicaExchangeSGLD(temperatures=(t1, t2), step_size=eta, swap_every=every,
                            energy_variance=0.0)
    # stationary laws are the Euler-Maruyama Gaussians at each temperature: start there
    em = np.linalg.inv(A @ (np.eye(2) - 0.5 * eta * A))
    L = np.linalg.cholesky(em)
    z0 = np.random.default_rng(0).standard_normal((G, 2, 2))
    x0 = (mean + np.sqrt(np.array([t1, t2]))[None, :, None] * z0 @ L.T).reshape(2 * G, 2)
    n = 4_000
    r = run_chains(land, m, x0, n, seed=12, thin=10)
    # states at one swap attempt decorrelate before the next: tau (steps) well below `every`
    tau = 10 * autocorr_time(r.samples[0::2, :, 0])
    assert tau < every / 4
    z = np.random.default_rng(1).standard_normal((2, 400_000, 2))
    th1 = mean + np.sqrt(t1) * z[0] @ L.T
    th2 = mean + np.sqrt(t2) * z[1] @ L.T

    def energy(th):
        return 0.5 * ((y[None] - th @ X.T) ** 2).sum(1) + 0.5 * (th**2).sum(1)

    d = 1 / t1 - 1 / t2
    expected = np.minimum(1.0, np.exp(d * (energy(th1) - energy(th2)))).mean()
    att, acc = int(r.swap_attempts[0]), int(r.swap_accepts[0])
    assert att == G * ((n // every + 1) // 2)  # pair 0 on even rounds only
    rate = acc / att
    se = math.sqrt(expected * (1 - expected) / att)
    assert abs(rate - expected) <= z_crit(ALPHA) * se, (rate, expected, se)
    assert 0.1 < expected < 0.9


# ----------------------------------------------------------------------------- Entropy-SGD

A1, W1, X1, A2, W2, X2 = 1.1, 0.15, -1.0, 1.0, 0.5, 1.0


@numba.njit
def _dw(x, g):
    a = A1 * math.exp(-((x - X1) ** 2) / (2 * W1 * W1))
    b = A2 * math.exp(-((x - X2) ** 2) / (2 * W2 * W2))
    g[0] = a * (x - X1) / (W1 * W1) + b * (x - X2) / (W2 * W2) + 0.1 * x
    return -a - b + 0.05 * x * x


@numba.njit
def _dw_eg(theta, data, fwork, iwork, seed, chain, step, grad):
    return _dw(theta[0], grad)


@numba.njit
def _dw_full(theta, data, fwork, iwork, grad):
    return _dw(theta[0], grad)


def test_entropy_sgd_prefers_the_wide_minimum():
    """A narrow deep well (x=-1, width 0.15) and a wide shallow one (x=+1, width 0.5).

    From the narrow basin SGD stays narrow; Entropy-SGD descends the local entropy,
    which at T = 0.2 and gamma = 0.1 (smoothing width sqrt(T/gamma) ≈ 1.4) is lower
    at the wide minimum (0.5 e^{1/0.2} > 0.15 e^{1.1/0.2}).
    """
    land = DataLandscape("narrow_wide_1d", 1, 1, 1, (np.zeros(1),), 0, 1, _dw_eg, _dw_full)
    x0 = np.full((64, 1), -0.7)
    ent = run_chains(land, EntropySGD(step_size=0.5, inner_step_size=0.02, inner_steps=100,
                                      gamma=0.1), x0, 200, seed=1, temperature=0.2)
    sgd = run_chains(land, SGD(step_size=0.01), x0, 2000, seed=1)
    assert np.all(sgd.theta[:, 0] < 0)
    wide = (ent.theta[:, 0] > 0).mean()
    # one-sided binomial check that more than half of the walkers chose the wide well
    assert stats.binom.sf(int(wide * 64) - 1, 64, 0.5) < ALPHA, wide
    assert ent.nfev == 200 * 100


def test_divergent_chain_stops_and_raises(land):
    x0 = np.zeros((3, 3))
    temps = [0.0, 0.0, 1.0]
    with pytest.raises(DivergenceError, match=r"^non-finite energy at step (\d+) for chain "
                       r"(\d) \(method sgld, 3 of 3 chain\(s\) diverged\)") as info:
        run_chains(land, SGLD(step_size=1.0), x0, 2_000, seed=1, temperature=temps)
    err = info.value
    r = err.partial_result
    assert isinstance(r, ChainResult) and isinstance(r.state, ChainState)
    assert np.all(r.status >= 0)
    assert err.step == r.status.min() and r.status[err.index] == err.step
    assert err.index == int(np.flatnonzero(r.status == err.step)[0])
    # the other chains finished their own runs: each stopped at its own step
    assert r.samples.shape == (3, 2_000, 3)
    assert np.all(np.isfinite(r.samples[:, : err.step]))


def test_divergence_of_one_chain_lets_the_others_finish(land):
    x0 = np.zeros((3, 3))
    x0[1] = 1e200  # only chain 1 starts where its energy overflows
    with pytest.raises(DivergenceError) as info:
        run_chains(land, SGLD(step_size=1e-3), x0, 50, seed=1, thin=10)
    err = info.value
    assert (err.step, err.index) == (0, 1)
    r = err.partial_result
    assert r.status.tolist() == [-1, 0, -1]
    ok = run_chains(land, SGLD(step_size=1e-3), x0[2:], 50, seed=1, thin=10, stream_offset=2)
    # chain 2 ran to the end, bit for bit as on its own (its stream is stream_offset + 0)
    assert np.array_equal(r.theta[2], ok.theta[0])
    assert r.samples.shape == (3, 5, 3) and np.array_equal(r.samples[2], ok.samples[0])


def test_run_chains_types_and_seed(land):
    with pytest.raises(TypeError, match="^seed is required"):
        run_chains(land, "sgld", np.zeros(3), 10)
    with pytest.raises(TypeError, match="^landscape must be a DataLandscape"):
        run_chains({}, "sgld", np.zeros(3), 10, seed=0)
    with pytest.raises(TypeError, match="^n_steps must be an integer"):
        run_chains(land, "sgld", np.zeros(3), 10.0, seed=0)
    with pytest.raises(ValueError, match=r"^temperature must be a scalar or have shape \(2,\)"):
        run_chains(land, "sgld", np.zeros((2, 3)), 10, seed=0, temperature=np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"^stream_offset must be an integer in \[0, "):
        run_chains(land, "sgld", np.zeros((2, 3)), 10, seed=0, stream_offset=2**32 - 1)
    with pytest.raises(TypeError, match="^step_size must be a finite number > 0, got str"):
        run_chains(land, "sgld", np.zeros(3), 10, seed=0, step_size="1e-3")
    ok = run_chains(land, SGLD(step_size=1e-3), np.zeros((3, 3)), 50, seed=1)
    assert np.all(ok.status == -1)
