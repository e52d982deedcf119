"""langevin_opt.optimize.global_minimize: SciPy's conventions, known minima, bad input (issue 17)."""

from __future__ import annotations

import time

import numba
import numpy as np
import pytest
from scipy.optimize import Bounds, OptimizeResult

import langevin_opt as lo
from langevin_opt import particles as lp
from langevin_opt.optimize import GLOBAL_METHODS, global_minimize

MB = lo.muller_brown()
MB_BOUNDS = [(-1.5, 1.2), (-0.5, 2.0)]
MB_MIN = -146.69951720995402
RAST2 = lo.rastrigin(2)
RAST_BOUNDS = [(-5.12, 5.12)] * 2


def rastrigin(x):
    """Plain NumPy Rastrigin (the slow path): scalar for ``(n,)``, ``(S,)`` for ``(n, S)``."""
    return 10.0 * x.shape[0] + np.sum(x * x - 10.0 * np.cos(2 * np.pi * x), axis=0)


def rastrigin_grad(x):
    return 2.0 * x + 20.0 * np.pi * np.sin(2 * np.pi * x)


@numba.njit
def tilted_fg(x):
    """A compiled ``fg`` whose minimum (3, 3, ...) lies outside the test box."""
    d = x - 3.0
    return float(np.sum(d * d) + np.sum(np.cos(5 * x))), 2.0 * d - 5.0 * np.sin(5 * x)


# ----------------------------------------------------------------------------- results


def test_result_fields_and_muller_brown_minimum():
    res = global_minimize(MB, MB_BOUNDS, seed=1, maxiter=15)
    assert isinstance(res, OptimizeResult)
    for key in ("x", "fun", "jac", "nfev", "njev", "nit", "success", "status", "message",
                "minima", "minima_fun", "temperatures"):
        assert key in res, key
    assert res.success and res.status == 0 and res.nit == 15
    assert res.fun == pytest.approx(MB_MIN, abs=1e-6)
    np.testing.assert_allclose(res.x, [-0.558224, 1.441726], atol=1e-4)
    # distinct minima, lowest first, the best one first; Müller–Brown has three
    assert res.minima.shape == (res.minima_fun.size, 2)
    assert np.all(np.diff(res.minima_fun) > 0)
    assert res.minima_fun[0] == pytest.approx(res.fun, abs=1e-9)
    assert res.minima_fun.size >= 2
    np.testing.assert_allclose(res.minima_fun[:3], [MB_MIN, -108.16672, -80.76782][
        :min(3, res.minima_fun.size)], atol=1e-3)
    assert res.nfev >= res.njev > 0
    assert np.all(np.diff(res.temperatures) > 0)


@pytest.mark.parametrize("method", GLOBAL_METHODS)
def test_every_method_finds_muller_brown(method):
    res = global_minimize(MB, MB_BOUNDS, method=method, seed=2, maxiter=10)
    assert res.fun == pytest.approx(MB_MIN, abs=1e-6)


def test_rastrigin_2d_landscape_and_plain_callable():
    res = global_minimize(RAST2, RAST_BOUNDS, seed=3, maxiter=60)
    assert res.fun < 1e-10 and np.max(np.abs(res.x)) < 1e-6
    plain = global_minimize(rastrigin, RAST_BOUNDS, jac=rastrigin_grad, seed=3, maxiter=60)
    assert plain.fun < 1e-10


def test_lj13_with_the_package_cluster_energy():
    system = lp.ParticleSystem(np.zeros((13, 3)))
    energy = lp.energy_function(system, lp.lennard_jones(mode="plain", cutoff=None))
    res = global_minimize(energy, [(-1.6, 1.6)] * 39, jac=True, seed=5, maxiter=100,
                          options={"f_target": -44.3267})
    assert res.fun == pytest.approx(-44.326801, abs=1e-4)
    assert res.message == "Reached f_target."


def test_args_callable_jac_and_x0():
    seen = []

    def f(x, a):
        seen.append(a)
        return float(np.sum((x - a) ** 2))

    res = global_minimize(f, [(-2.0, 2.0)] * 3, args=(0.5,), jac=lambda x, a: 2 * (x - a),
                          x0=[0.5, 0.5, 0.5], seed=0, maxiter=2)
    assert set(seen) == {0.5}
    np.testing.assert_allclose(res.x, 0.5, atol=1e-8)
    with pytest.raises(ValueError, match="x0 must lie inside bounds"):
        global_minimize(f, [(-2.0, 2.0)] * 3, args=(0.5,), x0=[3.0, 0.0, 0.0], seed=0)


# ----------------------------------------------------------------------------- conventions


@pytest.mark.parametrize("method", GLOBAL_METHODS)
def test_no_evaluation_outside_the_bounds(method):
    lb, ub = np.array([-1.0, 0.0, -2.0]), np.array([1.0, 0.5, 2.5])
    calls = []

    def f(x):  # minimum at (3, 3, 3), outside: walkers and quenches press on the bounds
        if np.any(x < lb) or np.any(x > ub):
            raise AssertionError(f"evaluated outside the bounds at {x}")
        calls.append(x.copy())
        return float(np.sum((x - 3.0) ** 2) + 0.1 * np.sum(np.cos(5 * x)))

    # jac=None: the finite-difference steps must turn inwards at the upper bound
    res = global_minimize(f, list(zip(lb, ub, strict=True)), method=method, seed=4,
                          maxiter=3)
    pts = np.array(calls)
    assert pts.min(axis=0).tolist() >= lb.tolist() and pts.max(axis=0).tolist() <= ub.tolist()
    assert np.any(pts == ub)  # the bound was reached, so the test did test something
    assert np.all(res.x >= lb) and np.all(res.x <= ub)
    assert res.nfev == len(calls)


def test_compiled_objective_stays_inside_the_bounds():
    bounds = Bounds([-1.0, -1.0], [1.0, 0.5])  # scipy.optimize.Bounds accepted
    res = global_minimize(tilted_fg, bounds, jac=True, seed=1, maxiter=5)
    assert np.all(res.minima >= [-1.0, -1.0]) and np.all(res.minima <= [1.0, 0.5])
    assert res.x[1] == 0.5  # the constrained minimum lies on the upper face


def test_callback_stops_the_run():
    got = []

    def new_style(intermediate_result):
        got.append(intermediate_result)
        if len(got) == 3:
            raise StopIteration

    res = global_minimize(MB, MB_BOUNDS, seed=1, maxiter=50, callback=new_style)
    assert res.status == 99 and res.nit == 3 and not res.success
    assert res.message == "`callback` raised `StopIteration`."
    assert isinstance(got[0], OptimizeResult) and got[-1].nit == 3
    assert got[-1].fun >= res.fun
    legacy = []

    def old_style(xk):
        legacy.append(xk.shape)
        if len(legacy) == 2:
            raise StopIteration

    res = global_minimize(MB, MB_BOUNDS, seed=1, maxiter=50, callback=old_style)
    assert res.nit == 2 and legacy == [(2,), (2,)]


def test_maxfev_is_never_exceeded():
    calls = [0]

    def f(x):
        calls[0] += 1
        return rastrigin(x)

    res = global_minimize(f, RAST_BOUNDS, seed=0, maxfev=700)
    assert calls[0] == res.nfev <= 700 and res.status == 1
    assert res.message == "Maximum number of function evaluations reached."
    comp = global_minimize(MB, MB_BOUNDS, seed=0, maxfev=400)
    assert comp.nfev <= 400 and comp.status == 1


def test_maxtime_is_respected():
    def slow(x):
        time.sleep(2e-4)
        return rastrigin(x)

    t0 = time.perf_counter()
    res = global_minimize(slow, [(-5.12, 5.12)] * 4, seed=0, maxtime=0.3)
    took = time.perf_counter() - t0
    assert res.status == 2 and res.message == "Maximum wall time reached."
    assert took < 0.3 + 1.0  # one batch (8 walkers x 5 points) may finish after the limit


def test_seed_reproducible_for_one_and_two_threads():
    top = numba.config.NUMBA_NUM_THREADS
    a = global_minimize(MB, MB_BOUNDS, seed=11, maxiter=8, workers=1)
    b = global_minimize(MB, MB_BOUNDS, seed=11, maxiter=8, workers=min(2, top))
    c = global_minimize(MB, MB_BOUNDS, seed=12, maxiter=8, workers=1)
    assert a.nfev == b.nfev and a.fun == b.fun
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.minima, b.minima)
    assert a.nfev != c.nfev or not np.array_equal(a.minima, c.minima)


def test_compiled_and_python_paths_draw_the_same_noise():
    # the same objective as a landscape (compiled kicks and quenches) and as NumPy code:
    # the quenched minima of the same seed agree
    a = global_minimize(RAST2, RAST_BOUNDS, seed=21, maxiter=4)
    b = global_minimize(rastrigin, RAST_BOUNDS, jac=rastrigin_grad, seed=21, maxiter=4)
    np.testing.assert_allclose(a.minima_fun[:3], b.minima_fun[:3], atol=1e-8)


def test_vectorized_callable():
    shapes = []

    def f(x):
        shapes.append(x.shape)
        return rastrigin(x)

    def g(x):
        return rastrigin_grad(x)

    res = global_minimize(f, RAST_BOUNDS, jac=g, seed=3, maxiter=40,
                          options={"vectorized": True})
    assert res.fun < 1e-10
    assert all(len(s) == 2 and s[0] == 2 for s in shapes) and max(s[1] for s in shapes) == 8

    def fg(x):
        return rastrigin(x), rastrigin_grad(x)

    res = global_minimize(fg, RAST_BOUNDS, jac=True, seed=3, maxiter=40,
                          options={"vectorized": True})
    assert res.fun < 1e-10
    fd = global_minimize(f, RAST_BOUNDS, seed=3, maxiter=5, options={"vectorized": True})
    assert fd.nfev == 3 * fd.njev  # gradients by differences: n = 2 extra points each


def test_map_like_workers_evaluate_plain_callables():
    used = []

    def pool_map(fn, xs):
        used.append(len(xs))
        return list(map(fn, xs))

    res = global_minimize(rastrigin, RAST_BOUNDS, jac=rastrigin_grad, seed=3, maxiter=5,
                          workers=pool_map)
    ref = global_minimize(rastrigin, RAST_BOUNDS, jac=rastrigin_grad, seed=3, maxiter=5)
    assert used and max(used) == 8
    assert res.fun == ref.fun and res.nfev == ref.nfev


# ----------------------------------------------------------------------------- bad input


def test_bad_input_one_clear_error_each():
    with pytest.raises(ValueError, match="x0 must be finite"):
        global_minimize(rastrigin, RAST_BOUNDS, x0=[np.nan, 0.0], seed=0)
    with pytest.raises(ValueError, match="lower < upper, violated at index 1"):
        global_minimize(rastrigin, [(-1.0, 1.0), (2.0, 2.0)], seed=0)
    with pytest.raises(ValueError, match="bounds must have shape"):
        global_minimize(rastrigin, [1.0, 2.0], seed=0)
    with pytest.raises(ValueError, match="fun returned a non-finite value"):
        global_minimize(lambda x: np.nan, RAST_BOUNDS, seed=0)
    with pytest.raises(ValueError, match=r"gradient of shape \(3,\), expected \(2,\)"):
        global_minimize(lambda x: (1.0, np.zeros(3)), RAST_BOUNDS, jac=True, seed=0)
    with pytest.raises(ValueError, match="gradient of shape"):
        global_minimize(rastrigin, RAST_BOUNDS, jac=lambda x: np.zeros(5), seed=0)
    with pytest.raises(TypeError, match="seed"):
        global_minimize(rastrigin, RAST_BOUNDS)
    with pytest.raises(ValueError, match="unknown method 'anealing'"):
        global_minimize(rastrigin, RAST_BOUNDS, method="anealing", seed=0)
    with pytest.raises(ValueError, match="n_replicas"):
        global_minimize(rastrigin, RAST_BOUNDS, seed=0, options={"n_replica": 4})
    with pytest.raises(ValueError, match="dim=2"):
        global_minimize(MB, [(-1.0, 1.0)] * 3, seed=0)
    with pytest.raises(RuntimeError, match="fun raised ZeroDivisionError"):
        global_minimize(lambda x: 1 / 0, RAST_BOUNDS, seed=0)


# ----------------------------------------------------------------------------- figure


def test_globalopt_figure(tmp_path):
    from langevin_opt.plotting import globalopt_figure

    table = {"rastrigin10": {"results": {
        "dual_annealing": {"success_rate": 1.0, "median_time_s": 0.1},
        "basin-hopping": {"success_rate": 0.5, "median_time_s": None}}},
        "lj13": {"results": {"basin-hopping": {"success_rate": 1.0, "median_time_s": 0.01}}}}
    out = globalopt_figure(table, tmp_path / "g.png", title="test")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    with pytest.raises(ValueError, match="success_rate"):
        globalopt_figure({"f": {"results": {"m": {"success_rate": 2.0}}}}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="non-empty"):
        globalopt_figure({}, tmp_path / "y.png")
