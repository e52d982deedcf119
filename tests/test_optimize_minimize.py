"""langevin_opt.optimize.minimize: SciPy's calling conventions (issue 17, the local part)."""

from __future__ import annotations

import numba
import numpy as np
import pytest
import scipy
from scipy.optimize import OptimizeResult, rosen, rosen_der
from scipy.optimize import minimize as sp_minimize

import langevin_opt as lo
from langevin_opt.optimize import LOCAL_METHODS, minimize
from langevin_opt.sgmcmc import SGLD

X0 = np.array([-1.2, 1.0])


def rosen_fg(x):
    return rosen(x), rosen_der(x)


@numba.njit
def bowl_fg(x):
    """Anisotropic bowl with its minimum at (1, -2), compiled (the fast path)."""
    d0, d1 = x[0] - 1.0, x[1] + 2.0
    return d0 * d0 + 3.0 * d1 * d1, np.array([2.0 * d0, 6.0 * d1])


@lo.landscape(dim=2, params=[3.0], name="user_bowl")
def user_bowl(X, i, p, G):
    x = X[0, i] - 1.0
    y = X[1, i] + 2.0
    G[0, i] = 2.0 * x
    G[1, i] = 2.0 * p[0] * y
    return x * x + p[0] * y * y


# ----------------------------------------------------------------------------- default method


def test_rosenbrock_2d_default_method_reaches_1e_10_quickly():
    res = minimize(rosen, X0, jac=rosen_der)
    assert isinstance(res, OptimizeResult)
    assert res.success and res.status == 0 and res.message == \
        "Optimization terminated successfully."
    assert res.fun < 1e-10 and np.allclose(res.x, [1.0, 1.0], atol=1e-5)
    assert res.nit <= 60 and res.nfev <= 100  # BFGS in SciPy: 31 iterations, 38 evaluations
    assert np.max(np.abs(res.jac)) <= 1e-5


def test_jac_true_callable_and_finite_differences_and_their_counts():
    a = minimize(rosen_fg, X0, jac=True)
    b = minimize(rosen, X0, jac=rosen_der)
    c = minimize(rosen, X0)  # jac=None: 2-point differences, n extra f per gradient
    for r in (a, b, c):
        assert r.success and r.fun < 1e-10
    assert a.x.tobytes() == b.x.tobytes() and a.nfev == b.nfev == a.njev == b.njev
    assert c.nfev == 3 * c.njev  # 1 + n evaluations of fun per gradient (n = 2)
    # the counts are the calls the user's function received
    calls = []
    d = minimize(lambda x: calls.append(1) or rosen(x), X0, jac=False)
    assert d.nfev == len(calls) and d.x.tobytes() == c.x.tobytes()


def test_args_reach_fun_and_jac():
    seen = []

    def f(x, c, s):
        return s * float(((x - c) ** 2).sum())

    def g(x, c, s):
        seen.append((c.copy(), s))
        return 2 * s * (x - c)

    c = np.array([0.5, -1.5, 2.0])
    res = minimize(f, np.zeros(3), args=(c, 2.0), jac=g)
    assert res.success and np.allclose(res.x, c, atol=1e-8)
    assert seen and all(np.array_equal(a, c) and s == 2.0 for a, s in seen)
    res = minimize(lambda x, c: (float(((x - c) ** 2).sum()), 2 * (x - c)), np.zeros(3),
                   args=(c,), jac=True, method="sgd", options={"step_size": 0.1})
    assert res.success and np.allclose(res.x, c, atol=1e-5)


def test_callback_stop_iteration_matches_scipy():
    def stopper(k):
        def cb(intermediate_result):
            assert isinstance(intermediate_result, OptimizeResult)
            assert intermediate_result.fun == rosen(intermediate_result.x)
            got.append(intermediate_result.x.copy())
            if len(got) == k:
                raise StopIteration
        got = []
        return cb, got

    cb, got = stopper(3)
    res = minimize(rosen, X0, jac=rosen_der, callback=cb)
    ref = sp_minimize(rosen, X0, jac=rosen_der, method="BFGS", callback=stopper(3)[0])
    assert (res.status, res.success, res.message) == (ref.status, ref.success, ref.message)
    assert res.status == 99 and res.nit == 3 == len(got) and np.array_equal(res.x, got[-1])
    # SciPy's legacy form: callback(xk) with a copy of the iterate
    xs = []
    res = minimize(rosen, X0, jac=rosen_der, callback=lambda xk: xs.append(xk))
    assert res.success and len(xs) == res.nit and np.array_equal(xs[-1], res.x)
    # the Langevin family too: the run ends at the stop, the best point so far is returned
    cb, got = stopper(5)
    res = minimize(rosen_fg, X0, jac=True, method="sgld", callback=cb, seed=0,
                   options={"step_size": 1e-4, "temperature": 0.1, "maxiter": 100})
    assert res.status == 99 and not res.success and res.nit == 5 == len(got)
    assert np.array_equal(res.x_final, got[-1]) and res.fun <= rosen(got[-1])


def test_tol_and_gtol_stop_before_maxiter():
    full = minimize(rosen, X0, jac=rosen_der)
    loose = minimize(rosen, X0, jac=rosen_der, tol=1e-3)
    assert loose.success and loose.nit < full.nit and loose.fun > full.fun
    g = minimize(rosen, X0, jac=rosen_der, options={"gtol": 1e-2})
    assert g.success and np.max(np.abs(g.jac)) <= 1e-2 and g.nit < full.nit
    # SGD (T = 0): stops on the gradient test, not only after maxiter
    sgd = minimize(rosen_fg, X0, jac=True, method="sgd", tol=1e-3,
                   options={"step_size": 1.5e-3, "maxiter": 50_000})
    assert sgd.success and sgd.status == 0 and sgd.nit < 50_000
    assert np.max(np.abs(sgd.jac)) <= 1e-3 and sgd.nfev == sgd.nit + 1


def test_result_fields_and_maxiter_status():
    res = minimize(rosen, X0, jac=rosen_der, options={"maxiter": 5})
    assert {"x", "fun", "jac", "nit", "nfev", "njev", "success", "status",
            "message"} <= set(res)
    assert res.nit == 5 and res.status == 1 and not res.success
    assert res.message == "Maximum number of iterations has been exceeded."
    assert res.fun == rosen(res.x) and np.array_equal(res.jac, rosen_der(res.x))
    assert isinstance(res.fun, float)
    assert "samples" not in minimize(rosen_fg, X0, jac=True, method="sgld", seed=1,
                                     options={"step_size": 1e-4, "maxiter": 20})


def test_disp_prints_a_summary(capsys):
    minimize(rosen, X0, jac=rosen_der, options={"disp": True})
    out = capsys.readouterr().out
    assert "Optimization terminated successfully." in out and "Iterations:" in out


# ----------------------------------------------------------------------------- objectives


def test_landscapes_and_landscape_decorated_functions():
    mb = lo.muller_brown()
    res = minimize(mb, [0.0, 0.5])
    assert res.success
    assert min(np.linalg.norm(res.x - m) for m in mb.minima) < 1e-4
    assert res.fun == pytest.approx(float(mb.energy(res.x)[0]), abs=1e-12)
    u = minimize(user_bowl, [5.0, 5.0])
    assert u.success and np.allclose(u.x, [1.0, -2.0], atol=1e-7)
    with pytest.raises(ValueError, match="dim=2"):
        minimize(mb, np.zeros(3))


def test_langevin_reproducible_from_seed_for_any_thread_count():
    opts = {"step_size": 1e-3, "temperature": 0.5, "maxiter": 300, "keep_samples": True,
            "burn_in": 100, "thin": 10}
    # an @landscape objective runs in one compiled loop (run_chains), any thread count
    runs = [minimize(user_bowl, [0.0, 0.0], method="sgld", seed=7,
                     options={**opts, "threads": t}) for t in (1, 2)]
    # the same energy as a plain-Python function takes the per-step loop: bit for bit equal
    py = minimize(bowl_fg.py_func, [0.0, 0.0], jac=True, method="sgld", seed=7, options=opts)
    for r in runs[1:] + [py]:
        assert r.samples.tobytes() == runs[0].samples.tobytes()
        assert r.x.tobytes() == runs[0].x.tobytes() and r.fun == runs[0].fun
    r = runs[0]
    assert r.success and r.nit == 300 and r.samples.shape == (20, 2)
    assert np.array_equal(r.sample_steps, np.arange(100, 300, 10))
    assert r.fun <= r.sample_fun.min() and r.fun == bowl_fg(r.x)[0]
    assert r.samples.std(axis=0).min() > 0.05  # T > 0 spreads the samples
    other = minimize(user_bowl, [0.0, 0.0], method="sgld", seed=8, options=opts)
    assert other.samples.tobytes() != r.samples.tobytes()


#: step settings per method (pSGLD's steps are preconditioned; Entropy-SGD has an inner loop)
SETTINGS = {"psgld": {"step_size": 5e-2},
            "entropy-sgd": {"step_size": 0.5, "inner_step_size": 2e-2, "inner_steps": 5}}


@pytest.mark.parametrize("method", [m for m in LOCAL_METHODS if m != "l-bfgs"])
def test_every_langevin_method_runs_at_low_temperature(method):
    opts = {"step_size": 1e-2, **SETTINGS.get(method, {}), "temperature": 1e-4, "maxiter": 200}
    res = minimize(bowl_fg.py_func, [0.0, 0.0], jac=True, method=method, seed=3, options=opts)
    assert res.fun < 0.05, (method, res.fun)
    assert res.fun == bowl_fg(res.x)[0] and np.array_equal(res.jac, bowl_fg(res.x)[1])
    inst = minimize(bowl_fg.py_func, [0.0, 0.0], jac=True, method=SGLD(step_size=1e-2), seed=3,
                    options={"temperature": 1e-4, "maxiter": 200})
    assert inst.fun < 0.05


def test_non_finite_during_a_langevin_run_is_status_3():
    def wall(x):
        return (np.inf if x[0] > 0.5 else float(x @ x)), -np.ones_like(x)

    res = minimize(wall, np.zeros(2), jac=True, method="sgd", options={"step_size": 0.2})
    assert res.status == 3 and not res.success and res.message.startswith(
        "NaN result encountered.") and res.nit == 3


def test_lbfgs_line_search_backs_off_from_non_finite_values():
    def f(x):  # finite only for x < 3; minimum at 2
        return float(np.sum((x - 2.0) ** 2)) if np.all(x < 3.0) else np.nan

    res = minimize(f, np.zeros(2), jac=lambda x: 2 * (x - 2.0))
    assert res.success and np.allclose(res.x, 2.0, atol=1e-8)


# ----------------------------------------------------------------------------- bad input


def test_bad_input_one_clear_error_each():
    with pytest.raises(ValueError, match=r"^x0 must be finite, got non-finite entries at "
                       r"indices \[1\]$"):
        minimize(rosen, [0.0, np.nan])
    with pytest.raises(ValueError, match=r"^fun returned a non-finite value \(nan\) at x0$"):
        minimize(lambda x: np.nan, X0)
    with pytest.raises(ValueError, match=r"^the gradient of fun is not finite at x0$"):
        minimize(rosen, X0, jac=lambda x: np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match=r"^jac returned a gradient of shape \(3,\), "
                       r"expected \(2,\)$"):
        minimize(rosen, X0, jac=lambda x: np.zeros(3))
    with pytest.raises(ValueError, match=r"^fun returned a gradient of shape \(1,\)"):
        minimize(lambda x: (1.0, np.zeros(1)), X0, jac=True, method="sgd")
    with pytest.raises(ValueError, match="^x0 must be a vector"):
        minimize(rosen, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="^unknown method 'bfgss'"):
        minimize(rosen, X0, method="bfgss")
    with pytest.raises(ValueError, match="^unknown setting 'temperature' in options"):
        minimize(rosen, X0, options={"temperature": 1.0})
    with pytest.raises(TypeError, match="^seed is required"):
        minimize(rosen_fg, X0, jac=True, method="sgld")
    with pytest.raises(ValueError, match="^gtol must be"):
        minimize(rosen, X0, options={"gtol": -1.0})
    with pytest.raises(TypeError, match="^fun must be callable"):
        minimize("rosen", X0)


def test_objective_that_raises_names_the_iteration():
    calls = []

    def fails(x):
        calls.append(1)
        if len(calls) == 4:
            raise KeyError("boom")
        return rosen(x)

    with pytest.raises(RuntimeError, match=r"^fun raised KeyError at iteration \d+ "
                       r"\(line search\): 'boom'$") as info:
        minimize(fails, X0, jac=rosen_der)
    assert isinstance(info.value.__cause__, KeyError)


# ----------------------------------------------------------------------------- deprecation


def test_sgmcmc_minimize_forwards_with_a_deprecation_warning():
    from langevin_opt.sgmcmc import minimize as old

    with pytest.warns(DeprecationWarning, match="use langevin_opt.optimize.minimize"):
        a = old(rosen_fg, X0, method="sgld", step_size=1e-4, temperature=0.05, maxiter=50,
                seed=4, thin=5)
    b = minimize(rosen_fg, X0, jac=True, method="sgld", seed=4,
                 options={"step_size": 1e-4, "temperature": 0.05, "maxiter": 50, "thin": 5,
                          "keep_samples": True, "gtol": None})
    assert a.samples.tobytes() == b.samples.tobytes() and a.x.tobytes() == b.x.tobytes()
    assert a.keys() == b.keys()
    assert scipy.__version__  # the conventions above are the installed SciPy's
