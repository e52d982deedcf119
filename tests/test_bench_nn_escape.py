"""The pieces of benchmarks/bench_nn_escape.py its comparison relies on (no torch needed)."""

import importlib
import os
import sys

import numpy as np
import pytest

BENCH_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "benchmarks")


@pytest.fixture(scope="module")
def bench():
    env = dict(os.environ)
    sys.path.insert(0, BENCH_DIR)
    try:
        mod = importlib.import_module("bench_nn_escape")
    finally:
        sys.path.remove(BENCH_DIR)
        os.environ.clear()  # _common pins thread variables on import: leave no trace
        os.environ.update(env)
    return mod


@pytest.fixture(scope="module")
def problem(bench):
    return bench.make_problem()


def test_problem_sizes(bench, problem):
    net, ds, ls, theta0, eta = problem
    assert net.n_params == 102 and ls.n_data == ls.batch_size == bench.N_EXAMPLES
    assert ds.X_train.shape == (bench.N_EXAMPLES, 2) and 0 < eta < 1e-2
    starts = bench.chain_starts(theta0, 5)
    assert starts.shape == (5, net.n_params) and not np.array_equal(starts[0], starts[1])
    assert np.abs(starts - theta0).max() < 10 * bench.JITTER


def test_noiseless_run_is_gradient_descent_on_the_full_loss(bench, problem):
    _, _, ls, theta0, eta = problem
    starts = bench.chain_starts(theta0, 3)
    out = bench.make_ours(ls, starts, eta, 4, 0.0, 1)()
    ref = starts.copy()
    for _ in range(4):
        for c in range(3):
            ref[c] -= eta * ls.energy(ref[c])[1]
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-14)
    assert np.abs(out - starts).max() > 1e-6  # it moved


def test_noisy_runs_agree_across_threads(bench, problem):
    import numba

    _, _, ls, theta0, eta = problem
    starts = bench.chain_starts(theta0, 4)
    a = bench.make_ours(ls, starts, eta, 3, bench.TEMPERATURE, 1)()
    b = bench.make_ours(ls, starts, eta, 3, bench.TEMPERATURE,
                        min(2, numba.config.NUMBA_NUM_THREADS))()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, bench.make_ours(ls, starts, eta, 3, 0.0, 1)())


def test_torch_script_is_valid_python(bench):
    compile(bench.TORCH_SCRIPT, "bench_nn_escape.TORCH_SCRIPT", "exec")
