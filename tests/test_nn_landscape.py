"""mlp_landscape: scaling, unbiased minibatches, thread-count independence, errors."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from langevin_opt.datalandscape import DataLandscape, minibatch
from langevin_opt.nn import MLP, mlp_landscape
from langevin_opt.nn.landscape import energy_grad, full_energy_grad


def _problem(loss="softmax_ce", n_data=48, batch=8, prior_sigma=1.5, seed=0):
    rng = np.random.default_rng(seed)
    net = MLP([3, 5, 4, 3], "tanh", loss)
    X = rng.standard_normal((n_data, 3))
    y = rng.integers(0, 3, n_data) if loss == "softmax_ce" else rng.standard_normal((n_data, 3))
    ls = mlp_landscape(net, X, y, batch_size=batch, prior_sigma=prior_sigma)
    theta = net.init_params(seed) + 0.1 * rng.standard_normal(net.n_params)
    return net, X, y, ls, theta


@pytest.mark.parametrize("loss", ["mse", "softmax_ce"])
def test_minibatch_energy_is_scaled_batch_loss_plus_prior(loss):
    net, X, y, ls, theta = _problem(loss)
    assert isinstance(ls, DataLandscape) and ls.n_params == net.n_params
    N, n = ls.n_data, ls.batch_size
    _, iw = ls.make_work(1)
    off = minibatch(np.uint64(7), 2, 3, N, n, iw[0])
    idx = iw[0, 1 + off:1 + off + n]
    u, g = ls.energy(theta, seed=7, chain=2, step=3)
    lb, gb = net.loss_grad(theta, X[idx], y[idx])
    prec = 1 / 1.5**2
    assert u == pytest.approx(N / n * lb + 0.5 * prec * theta @ theta, rel=1e-13)
    np.testing.assert_allclose(g, N / n * gb + prec * theta, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_data", [48, 50])
def test_full_energy_is_summed_loss_plus_prior(n_data):
    net, X, y, ls, theta = _problem(n_data=n_data, batch=8)  # 50: a partial last chunk
    u, g = ls.energy(theta)
    lt, gt = net.loss_grad(theta, X, y)
    prec = 1 / 1.5**2
    assert u == pytest.approx(lt + 0.5 * prec * theta @ theta, rel=1e-13)
    np.testing.assert_allclose(g, gt + prec * theta, rtol=1e-12, atol=1e-12)


def test_no_prior():
    net, X, y, ls, theta = _problem(prior_sigma=None)
    u, g = ls.energy(theta)
    lt, gt = net.loss_grad(theta, X, y)
    assert u == pytest.approx(lt, rel=1e-13)
    np.testing.assert_allclose(g, gt, rtol=1e-12, atol=1e-13)


def test_epoch_mean_of_minibatch_estimates_is_exact():
    _, _, _, ls, theta = _problem(n_data=48, batch=8)  # 6 batches per epoch
    U, G = ls.energy(theta)
    for epoch in (0, 3):
        steps = range(epoch * 6, epoch * 6 + 6)
        us, gs = zip(*(ls.energy(theta, seed=11, chain=1, step=s) for s in steps), strict=True)
        assert np.mean(us) == pytest.approx(U, rel=1e-13)
        np.testing.assert_allclose(np.mean(gs, axis=0), G, rtol=1e-11, atol=1e-12)


def test_batches_of_an_epoch_partition_the_data_and_differ_between_epochs():
    _, _, _, ls, _ = _problem(n_data=48, batch=8)
    _, iw = ls.make_work(1)
    seen = []
    for s in range(6):
        off = minibatch(np.uint64(3), 0, s, 48, 8, iw[0])
        seen.extend(iw[0, 1 + off:9 + off])
    assert sorted(seen) == list(range(48))
    off = minibatch(np.uint64(3), 0, 6, 48, 8, iw[0])
    assert list(iw[0, 1 + off:9 + off]) != seen[:8]


@numba.njit(parallel=True)
def _all_chains(theta, data, fwork, iwork, grad, seed, steps, out):
    for c in numba.prange(theta.shape[0]):
        for s in range(steps.shape[0]):
            out[c, s] = energy_grad(theta[c], data, fwork[c], iwork[c], seed, c, steps[s],
                                    grad[c])


def test_minibatch_energies_independent_of_thread_count_and_call_order():
    net, X, y, ls, theta = _problem(n_data=48, batch=8)
    C = 5
    th = np.ascontiguousarray(np.tile(theta, (C, 1)))
    th += 0.01 * np.arange(C)[:, None]
    steps = np.array([0, 1, 7, 2, 13, 5], dtype=np.int64)
    results = []
    old = numba.get_num_threads()
    try:
        for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(threads)
            fw, iw = ls.make_work(C)
            g = np.zeros_like(th)
            out = np.zeros((C, steps.size))
            _all_chains(th, ls.data, fw, iw, g, np.uint64(99), steps, out)
            results.append((out, g.copy()))
    finally:
        numba.set_num_threads(old)
    for out, g in results[1:]:
        np.testing.assert_array_equal(out, results[0][0])
        np.testing.assert_array_equal(g, results[0][1])
    # one chain at a time, steps in another order, fresh scratch each call: same numbers
    out0 = results[0][0]
    for c in (0, 3):
        for k, s in reversed(list(enumerate(steps))):
            u, _ = ls.energy(th[c], seed=99, chain=c, step=int(s))
            assert u == out0[c, k]


def test_full_energy_callable_from_compiled_code():
    @numba.njit
    def call(theta, data, fw, iw, g):
        return full_energy_grad(theta, data, fw, iw, g)

    _, _, _, ls, theta = _problem()
    fw, iw = ls.make_work(1)
    g = np.zeros(ls.n_params)
    assert call(theta, ls.data, fw[0], iw[0], g) == ls.energy(theta)[0]


def test_user_arrays_are_copied_not_frozen():
    net = MLP([2, 3, 2], "tanh", "softmax_ce")
    X = np.zeros((10, 2))
    y = np.zeros(10, dtype=np.int64)
    ls = mlp_landscape(net, X, y, batch_size=5)
    X[0, 0] = 1.0  # still writeable
    assert ls.data[0][0, 0] == 0.0 and not ls.data[0].flags.writeable


def test_sgd_through_sgmcmc_lowers_the_energy():
    sgmcmc = pytest.importorskip("langevin_opt.sgmcmc")
    if not hasattr(sgmcmc, "run_chains"):
        pytest.skip("langevin_opt.sgmcmc has no run_chains")
    net, X, y, ls, theta = _problem(n_data=48, batch=8)
    res = sgmcmc.run_chains(ls, "sgd", theta, 200, seed=1, step_size=2e-3)
    assert res.energy[0] < ls.energy(theta)[0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, r"batch_size must be an integer in \[1, 20\], got 0"),
        ({"batch_size": 21}, r"batch_size must be an integer in \[1, 20\], got 21"),
        ({"batch_size": 4, "prior_sigma": -1.0}, "prior_sigma must be"),
        ({"batch_size": 4, "X": np.zeros((20, 3))}, r"X must have shape \(M, 2\)"),
        ({"batch_size": 4, "y": np.zeros(19, dtype=int)}, r"y must be integer labels of shape \(20,\)"),
        ({"batch_size": 4, "X": np.full((20, 2), np.nan)}, "X must be finite"),
    ],
)
def test_bad_landscape_inputs(kwargs, match):
    net = MLP([2, 3, 2], "tanh", "softmax_ce")
    args = {"X": np.zeros((20, 2)), "y": np.zeros(20, dtype=int)} | kwargs
    with pytest.raises(ValueError, match=match):
        mlp_landscape(net, **args)


def test_landscape_inputs_of_the_wrong_type():
    net = MLP([2, 3, 2], "tanh", "softmax_ce")
    with pytest.raises(TypeError, match="^batch_size must be an integer"):
        mlp_landscape(net, np.zeros((20, 2)), np.zeros(20, dtype=int), batch_size=2.0)
    with pytest.raises(TypeError, match="^net must be an MLP, got dict"):
        mlp_landscape({}, np.zeros((20, 2)), np.zeros(20, dtype=int), batch_size=2)


def test_kernels_accept_strided_arrays():
    """theta, grad and scratch may be any strided vectors (e.g. Fortran-order rows)."""
    _, _, _, ls, theta = _problem(n_data=48, batch=8)
    P = ls.n_params
    fw, iw = ls.make_work(1)
    g = np.zeros(P)
    u_c = energy_grad(theta, ls.data, fw[0], iw[0], np.uint64(5), 1, 4, g)
    th_s = np.zeros(2 * P)[::2]
    th_s[:] = theta
    g_s = np.zeros(3 * P)[::3]
    fw_s = np.zeros(2 * ls.fwork_size)[1::2]
    _, iw2 = ls.make_work(1)
    assert not th_s.flags.c_contiguous and not fw_s.flags.c_contiguous
    u_s = energy_grad(th_s, ls.data, fw_s, iw2[0], np.uint64(5), 1, 4, g_s)
    assert u_s == u_c
    np.testing.assert_array_equal(g_s, g)
    assert full_energy_grad(th_s, ls.data, fw_s, iw2[0], g_s) == ls.energy(theta)[0]
