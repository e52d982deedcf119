"""Library API of langevin_opt.sgmcmc: Optimizer, minimize, diagnostics, H5MD output."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from scipy.optimize import OptimizeResult
from stats_util import ALPHA, z_crit

from langevin_opt.rng import PURPOSE_NOISE, normals
from langevin_opt.schedules import Geometric, Linear
from langevin_opt.sgmcmc import (
    SGLD,
    Optimizer,
    autocorr_time,
    ess,
    linear_regression,
    make_linear_data,
    minimize,
    run_chains,
    split_rhat,
)
from langevin_opt.storage.h5md import H5MDReader

# ----------------------------------------------------------------------------- Optimizer


def test_optimizer_updates_in_place_with_schedules():
    n = 20
    w = np.array([[1.0, 2.0], [3.0, 4.0]])
    ref = w.copy()
    buf = w  # the same object must change
    opt = Optimizer("sgld", lr=0.1, temperature=0.5, schedule=Geometric(final=0.01),
                    lr_schedule=Linear(final=0.5), total_steps=n, seed=3, stream_offset=2)
    tf = Geometric(final=0.01).factors(np.arange(n), n)
    lf = Linear(final=0.5).factors(np.arange(n), n)
    for t in range(n):
        g = 2.0 * buf
        assert opt.lr == 0.1 * lf[t]
        assert opt.current_temperature == 0.5 * tf[t]
        opt.step(buf, g)
        eta, temp = 0.1 * lf[t], 0.5 * tf[t]
        # normal pair q goes to parameters q and q + P/2 (see sgmcmc.kernels)
        raw = normals(3, (1, 4), stream_offset=2, step=t, purpose=PURPOSE_NOISE)[0]
        z = np.concatenate([raw[0::2], raw[1::2]]).reshape(2, 2)
        ref = ref - eta * (2.0 * ref) + math.sqrt(2 * eta * temp) * z
    assert buf is w
    assert np.array_equal(w, ref)
    assert opt.t == n
    with pytest.raises(ValueError, match="total_steps"):
        opt.step(w, w)


def test_optimizer_mean_loss_units():
    """n_data=N: grad of the mean loss with a usual learning rate is the same drift."""
    w1 = np.array([1.0, -1.0])
    w2 = w1.copy()
    o1 = Optimizer("sgd", lr=0.5, n_data=10)
    o2 = Optimizer("sgd", lr=0.05)
    g = np.array([0.3, 0.7])
    o1.step(w1, g)  # g is grad L, grad U = 10 g, eta = 0.05
    o2.step(w2, 10 * g)
    assert np.allclose(w1, w2, rtol=1e-15, atol=1e-15)


def test_optimizer_errors():
    opt = Optimizer("sghmc", lr=0.01, friction=0.1, seed=0)
    w = np.zeros(3)
    with pytest.raises(ValueError, match="shape"):
        opt.step(w, np.zeros(4))
    with pytest.raises(TypeError, match="float64"):
        opt.step(np.zeros(3, dtype=np.float32), np.zeros(3))
    with pytest.raises(TypeError, match="float64"):
        opt.step([0.0, 0.0, 0.0], np.zeros(3))
    with pytest.raises(TypeError, match="dtype"):
        opt.step(w, np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="contiguous"):
        opt.step(np.zeros((3, 2))[:, 0], np.zeros(3))
    opt.step(w, np.ones(3))
    with pytest.raises(ValueError, match="first step"):
        opt.step(np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="minimize"):
        Optimizer("entropy-sgd")
    with pytest.raises(ValueError, match="total_steps"):
        Optimizer("csgld")
    with pytest.raises(ValueError, match="temperature"):
        Optimizer("sgld", temperature=-1.0)
    with pytest.raises(ValueError, match="did you mean"):
        Optimizer("sgld", step_sise=0.1, seed=0)
    # seed: required where random numbers are drawn, optional for SGD (which draws none)
    with pytest.raises(TypeError, match="^seed is required"):
        Optimizer("sgld")
    with pytest.raises(TypeError, match="^temperature must be a finite number >= 0, got str"):
        Optimizer("sgld", temperature="1", seed=0)
    with pytest.raises(ValueError, match=r"^stream_offset must be an integer in \[0, "):
        Optimizer("sgld", seed=0, stream_offset=2**32)
    assert Optimizer("sgd").seed == 0


# ----------------------------------------------------------------------------- minimize
# sgmcmc.minimize is deprecated: it forwards to langevin_opt.optimize.minimize (issue 17);
# tests/test_optimize_minimize.py checks the warning, these tests the kept behaviour

DEPRECATED = pytest.mark.filterwarnings(
    "ignore:langevin_opt.sgmcmc.minimize is deprecated:DeprecationWarning")


def rosen(x):
    f = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
    g = np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2),
                  200 * (x[1] - x[0] ** 2)])
    return f, g


rosen_jit = numba.njit(rosen)


@DEPRECATED
def test_minimize_sgd_converges_on_rosenbrock():
    res = minimize(rosen, np.array([-1.2, 1.0]), method="sgd", step_size=1.5e-3,
                   maxiter=20_000, gtol=1e-4)
    assert isinstance(res, OptimizeResult)
    assert res.success and res.status == 0, res.message
    assert np.allclose(res.x, [1.0, 1.0], atol=1e-3)
    assert res.fun < 1e-6
    # gtol now also stops the run (issue 17): fewer than maxiter steps, one evaluation each
    assert 1_000 < res.nit < 20_000 and res.nfev == res.nit + 1
    assert np.max(np.abs(res.jac)) <= 1e-4
    # too few steps: gtol not met, still the best point seen
    short = minimize(rosen, np.array([-1.2, 1.0]), method="sgd", step_size=1.5e-3,
                     maxiter=100, gtol=1e-4)
    assert not short.success and short.status == 1
    assert short.fun <= rosen(np.array([-1.2, 1.0]))[0]


@DEPRECATED
def test_minimize_python_and_compiled_functions_agree_bit_for_bit():
    x0 = np.array([-1.2, 1.0])
    kw = dict(method="sgld", step_size=1e-4, temperature=0.05, maxiter=500, seed=4,
              burn_in=100, thin=20)
    a = minimize(rosen, x0, **kw)
    b = minimize(rosen_jit, x0, **kw)
    assert a.x_final.tobytes() == b.x_final.tobytes()
    assert a.samples.tobytes() == b.samples.tobytes()
    assert a.x.tobytes() == b.x.tobytes() and a.fun == b.fun


@DEPRECATED
def test_minimize_sgld_keeps_samples_and_reports_the_best_point():
    res = minimize(rosen_jit, np.array([1.0, 1.0]), method="sgld", step_size=1e-4,
                   temperature=0.1, maxiter=3_000, seed=1, burn_in=1_000, thin=10)
    assert res.success
    assert res.samples.shape == (200, 2)
    assert np.array_equal(res.sample_steps, np.arange(1_000, 3_000, 10))
    assert np.allclose(res.sample_fun, [rosen(s)[0] for s in res.samples])
    assert res.fun <= res.sample_fun.min()
    assert res.samples.std(axis=0).min() > 0.01  # T > 0: the samples spread
    assert res.fun == rosen(res.x)[0]


@DEPRECATED
def test_minimize_entropy_sgd_python_and_compiled_agree():
    x0 = np.array([0.5, 0.5])
    kw = dict(method="entropy-sgd", step_size=0.1, inner_step_size=1e-3, inner_steps=5,
              gamma=0.5, temperature=1e-3, maxiter=40, seed=2)
    a = minimize(rosen, x0, **kw)
    b = minimize(rosen_jit, x0, **kw)
    assert a.x_final.tobytes() == b.x_final.tobytes()
    # Python loop: x0 once, then 5 per outer step; the compiled loop re-evaluates x0, the
    # last iterate and (when it is not the best) the best point in Python
    assert a.nfev == 40 * 5 + 1
    assert b.nfev == 40 * 5 + 2 + (0 if b.fun == rosen(b.x_final)[0] else 1)


@DEPRECATED
def test_minimize_errors():
    with pytest.raises(ValueError, match="run_chains"):
        minimize(rosen, np.zeros(2), method="resgld")
    with pytest.raises(ValueError, match="maxiter"):
        minimize(rosen, np.zeros(2), maxiter=0, seed=0)
    with pytest.raises(TypeError, match="^maxiter must be an integer"):
        minimize(rosen, np.zeros(2), maxiter=10.0, seed=0)
    with pytest.raises(ValueError, match="x0"):
        minimize(rosen, np.zeros((2, 2)), seed=0)
    with pytest.raises(ValueError, match="shape"):
        minimize(lambda x: (0.0, np.zeros(3)), np.zeros(2), maxiter=2, seed=0)
    with pytest.raises(TypeError, match="^seed is required"):
        minimize(rosen, np.zeros(2), method="sgld")
    with pytest.raises(TypeError, match="^fun must be callable"):
        minimize("rosen", np.zeros(2), seed=0)


@DEPRECATED
@pytest.mark.parametrize("method", ["sgld", "entropy-sgd"])
def test_minimize_objective_that_raises_names_the_iteration(method):
    calls = []

    def fails_at_third_call(x):
        calls.append(1)
        if len(calls) == 3:
            raise KeyError("boom")
        return rosen(x)

    with pytest.raises(RuntimeError, match=r"^fun raised KeyError at iteration 2"
                       r".*: 'boom'$") as info:
        minimize(fails_at_third_call, np.zeros(2), method=method, maxiter=10, seed=0,
                 **({"inner_steps": 1} if method == "entropy-sgd" else {}))
    assert isinstance(info.value.__cause__, KeyError)  # the user's exception is kept


@DEPRECATED
def test_minimize_compiled_objective_that_raises_says_so_in_one_line():
    @numba.njit
    def fails(x):
        if x[0] > 0.5:
            raise ValueError("boom from the compiled objective")
        return float(x @ x), -np.ones_like(x)

    with pytest.raises(RuntimeError, match=r"^fun raised ValueError inside the "
                       r"compiled loop \(iteration not known\): boom from the compiled "
                       r"objective$") as info:
        minimize(fails, np.zeros(2), method="sgd", step_size=0.2, maxiter=50)
    assert isinstance(info.value.__cause__, ValueError)


@DEPRECATED
def test_minimize_non_finite_objective_is_status_3_not_an_exception():
    def blows_up(x):
        return (float("inf") if x[0] > 0.5 else float(x @ x)), -np.ones_like(x)

    for fg in (blows_up, ):
        res = minimize(fg, np.zeros(2), method="sgd", step_size=0.2, maxiter=50)
        assert res.status == 3 and not res.success and "non-finite f at step" in res.message

    @numba.njit
    def blows_up_jit(x):
        return (np.inf if x[0] > 0.5 else float(x @ x)), -np.ones_like(x)

    res = minimize(blows_up_jit, np.zeros(2), method="sgd", step_size=0.2, maxiter=50)
    assert res.status == 3 and not res.success and res.nit == 3


# ----------------------------------------------------------------------------- diagnostics


def _ar1(phi: float, chains: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.standard_normal((chains, n)) * math.sqrt(1 - phi**2)
    x = np.empty((chains, n))
    x[:, 0] = rng.standard_normal(chains)
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9])
def test_autocorrelation_time_of_ar1(phi):
    C, S = 8, 20_000
    x = _ar1(phi, C, S, seed=int(phi * 10))
    tau = (1 + phi) / (1 - phi)
    est = autocorr_time(x)
    # Sokal: var(tau_hat) ≈ 2 (2W + 1) / n tau^2 with window W ≈ 5 tau
    se = tau * math.sqrt(2 * (2 * 5 * tau + 1) / (C * S))
    assert abs(est - tau) <= z_crit(ALPHA, 3) * se, (est, tau, se)
    # Geyer's ESS of the mean and Sokal's tau estimate the same time for mixed chains
    assert ess(x, "mean") == pytest.approx(C * S / est, rel=0.1)
    three = autocorr_time(x[:, :, None].repeat(3, axis=2))
    assert three.shape == (3,) and np.allclose(three, est)


def test_split_rhat_mixed_and_stuck():
    mixed = _ar1(0.5, 4, 2_000, seed=1)
    assert split_rhat(mixed) < 1.01
    assert split_rhat(mixed, rank_normalize=False) < 1.01
    stuck = mixed + np.array([0.0, 0.0, 2.0, 2.0])[:, None]
    assert split_rhat(stuck) > 1.1
    assert split_rhat(stuck, rank_normalize=False) > 1.1
    # a trend within chains is caught by splitting them
    trend = mixed + np.linspace(0, 3, 2_000)[None, :]
    assert split_rhat(trend) > 1.1
    with pytest.raises(ValueError, match="4 draws"):
        split_rhat(np.zeros((2, 3)))


# ----------------------------------------------------------------------------- H5MD


def test_h5md_output_round_trips(tmp_path):
    X, y = make_linear_data(60, [1.0, -0.5, 0.25], seed=3)
    land = linear_regression(X, y, batch_size=20)
    path = tmp_path / "chains.h5"
    r = run_chains(land, SGLD(step_size=1e-3), np.zeros((4, 3)), 200, seed=8, burn_in=50,
                   thin=25, temperature=[1.0, 1.0, 0.5, 0.5], out=path)
    with H5MDReader(path) as rd:
        assert np.array_equal(rd.steps, r.steps)
        # H5MD is time first, (frame, item, ...): the file holds the chain-first arrays
        # transposed
        assert np.array_equal(rd.position(), r.samples.transpose(1, 0, 2))
        _, _, e = rd.observable("energy")
        assert np.array_equal(e, r.energies.T)
        p = rd.parameters["sgmcmc"]
        assert p["method"] == {"kind": "sgld", "step_size": 1e-3, "decay": 0.0,
                               "decay_offset": 1.0}
        assert p["seed"] == 8 and p["burn_in"] == 50 and p["thin"] == 25
        assert p["temperatures"] == [1.0, 1.0, 0.5, 0.5]
        assert p["landscape"]["batch_size"] == 20
    with pytest.raises(FileExistsError):
        run_chains(land, SGLD(step_size=1e-3), np.zeros((4, 3)), 10, seed=8, out=path)
