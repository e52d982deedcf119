"""Network minima, minimum-energy paths and saddles in parameter space (issue 16, §1, §2, §4).

The known answer: a 1-2-1 tanh network with its two input weights free (the others fixed)
has a loss that NumPy evaluates on a fine grid; the lowest pass between its two minima on the
grid (the level at which their sublevel-set components merge) is the saddle that CI-NEB plus
dimer must find.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy import ndimage

from langevin_opt import nn
from langevin_opt.core.validation import threads
from langevin_opt.nn.paths import (
    connect,
    energy_function,
    hessian_spectrum,
    minimum_energy_path,
    network_minima,
    restrict,
    saddle_index,
)
from langevin_opt.nn.symmetry import apply_symmetry, distinct_minima, random_symmetry
from langevin_opt.rates.saddles import minimize

# ------------------------------------------------------------------ known answer on a grid
X1 = np.linspace(-2.0, 2.0, 21)[:, None]
V = np.array([1.0, 0.8])  # fixed output weights (asymmetric: two inequivalent minima)
Y1 = np.tanh(2.0 * X1[:, 0]) + V[1] * np.tanh(0.5 * X1[:, 0])
SIGMA = 10.0
H = 0.01  # grid spacing
GRID = np.arange(-1.0, 4.0 + H / 2, H)


def _grid_loss(w1, w2):
    """The same loss in NumPy: half squared error + Gaussian prior on all six parameters."""
    pred = np.tanh(w1[..., None] * X1[:, 0]) + V[1] * np.tanh(w2[..., None] * X1[:, 0])
    return (0.5 * ((pred - Y1) ** 2).sum(-1)
            + (w1**2 + w2**2 + V @ V) / (2 * SIGMA**2))


@pytest.fixture(scope="module")
def slice2d():
    net = nn.MLP([1, 2, 1], "tanh", "mse")
    ls = nn.mlp_landscape(net, X1, Y1, batch_size=len(Y1), prior_sigma=SIGMA)
    theta = net.flatten([(np.zeros((2, 1)), np.zeros(2)), (V[None, :], np.zeros(1))])
    f = restrict(energy_function(ls), theta, np.array([0, 1]))  # W_0 free: 2 parameters
    W1, W2 = np.meshgrid(GRID, GRID, indexing="ij")
    U = _grid_loss(W1, W2)
    a = minimize(f, np.array([2.0, 0.5])).x
    b = minimize(f, np.array([0.5, 2.0])).x
    return f, U, a, b


def _grid_pass(U, ia, ib):
    """Lowest level at which ia and ib lie in one 4-connected component of {U <= level}."""
    vals = np.sort(U.ravel())
    lo, hi = 0, vals.size - 1
    while lo < hi:
        mid = (lo + hi) // 2
        lab, _ = ndimage.label(U <= vals[mid])
        if lab[ia] == lab[ib]:
            hi = mid
        else:
            lo = mid + 1
    return vals[lo], tuple(np.argwhere(U == vals[lo])[0])


def test_grid_loss_equals_compiled_loss(slice2d):
    f, U, _, _ = slice2d
    for i, j in [(0, 0), (300, 150), (123, 456), (500, 500)]:
        assert f(np.array([GRID[i], GRID[j]]))[0] == pytest.approx(U[i, j], rel=1e-13)


@pytest.mark.parametrize("n_images", [9, 3])
def test_neb_saddle_and_barrier_equal_the_grid(slice2d, n_images):
    f, U, a, b = slice2d
    ia = np.unravel_index(np.argmin(np.where(np.hypot(*np.meshgrid(GRID - a[0], GRID - a[1],
                                                                   indexing="ij")) < 0.3,
                                             U, np.inf)), U.shape)
    ib = np.unravel_index(np.argmin(np.where(np.hypot(*np.meshgrid(GRID - b[0], GRID - b[1],
                                                                   indexing="ij")) < 0.3,
                                             U, np.inf)), U.shape)
    # the minima agree with the grid's to within one grid step
    assert np.abs(a - GRID[list(ia)]).max() <= H and np.abs(b - GRID[list(ib)]).max() <= H
    level, ks = _grid_pass(U, ia, ib)
    p = minimum_energy_path(f, a, b, n_images=n_images)
    assert p.ok and p.refined and p.index_saddle == 1 and p.index_a == p.index_b == 0
    assert p.full_hessian and p.spectrum_saddle.size == 2
    # saddle location: within one grid step of the grid's pass point
    assert np.abs(p.saddle - GRID[list(ks)]).max() <= H
    # saddle energy: within the loss variation over the grid cells around the pass point
    i, j = ks
    cell = U[i - 1:i + 2, j - 1:j + 2]
    assert abs(p.saddle_energy - level) <= cell.max() - cell.min()
    assert p.saddle_energy <= level + 1e-12  # the 4-connected grid pass lies above the saddle
    assert p.barrier_forward == pytest.approx(p.saddle_energy - f(a)[0], rel=1e-12)
    assert p.barrier_backward == pytest.approx(p.saddle_energy - f(b)[0], rel=1e-12)
    # the straight line crosses higher than the minimum-energy path
    assert p.straight_barrier >= p.barrier_forward
    assert p.straight_energies[0] == f(a)[0] and p.straight_energies[-1] == f(b)[0]
    # here the path is straight enough on each side of the saddle: nothing to insert
    assert p.n_inserted == 0 and p.images.shape[0] == n_images


def _ring(x):
    """k (r^2 - 1)^2 + c sin^2(2 phi): minima at (1, 0), (0, 1); saddle (1, 1)/sqrt(2), U = c."""
    k, c = 50.0, 1.0
    r2 = x @ x
    s = 2 * x[0] * x[1] / r2  # sin(2 phi)
    ds = 2 * np.array([x[1], x[0]]) / r2 - 2 * s * x / r2
    return k * (r2 - 1) ** 2 + c * s * s, 4 * k * (r2 - 1) * x + 2 * c * s * ds


def test_images_inserted_where_the_band_cuts_a_corner():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    p = minimum_energy_path(_ring, a, b, n_images=3, insert_tol=0.05)
    assert p.n_inserted > 0 and p.images.shape[0] == 3 + p.n_inserted
    assert p.ok and p.refined
    np.testing.assert_allclose(p.saddle, [2**-0.5, 2**-0.5], atol=1e-6)
    assert p.saddle_energy == pytest.approx(1.0, abs=1e-9)
    # every segment of the final band is resolved: the chord never rises much above its images
    for i in range(p.images.shape[0] - 1):
        t = np.linspace(0.0, 1.0, 21)
        chord = [_ring((1 - s) * p.images[i] + s * p.images[i + 1])[0] for s in t]
        assert max(chord) - max(p.energies[i], p.energies[i + 1]) <= 0.1
    # the straight line cuts through the ring's hole: far above the pass
    assert p.straight_barrier == pytest.approx(50 * 0.25 + 1.0, rel=1e-12)
    q = minimum_energy_path(_ring, a, b, n_images=3, max_rounds=0)
    assert q.n_inserted == 0 and q.images.shape[0] == 3


def test_image_insertion_limits(slice2d):
    f, _, a, b = slice2d
    p = minimum_energy_path(f, a, b, n_images=3, max_rounds=0)
    assert p.n_inserted == 0 and p.images.shape[0] == 3
    q = minimum_energy_path(f, a, b, n_images=3, max_images=4, refine=False)
    assert q.n_inserted <= 1 and q.images.shape[0] <= 4 and q.dimer is None and not q.refined
    np.testing.assert_allclose(q.arc_length[-1], np.linalg.norm(np.diff(q.images, axis=0),
                                                                axis=1).sum())


def test_path_input_errors(slice2d):
    f, _, a, b = slice2d
    cases = [
        (dict(n_images=2), "n_images"),
        (dict(max_images=5), "max_images"),
        (dict(insert_tol=-1.0), "insert_tol"),
        (dict(fmax=0.0), "fmax"),
        (dict(n_straight=1), "n_straight"),
    ]
    for kw, name in cases:
        with pytest.raises(ValueError, match=name) as err:
            minimum_energy_path(f, a, b, **kw)
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="^x_a and x_b must be vectors of one length"):
        minimum_energy_path(f, a, np.zeros(3))
    with pytest.raises(ValueError, match="^free must be distinct"):
        restrict(f, a, np.array([0, 0]))
    with pytest.raises(ValueError, match="^eigenvalues must be non-empty"):
        saddle_index([])
    assert saddle_index([-1.0, -1e-9, 2.0]) == 1
    assert saddle_index([-1.0, -1e-9, 2.0], zero_tol=0.0) == 2


# ------------------------------------------------------------------ network minima and paths
@pytest.fixture(scope="module")
def moons():
    ds = nn.two_moons(40, 0, noise=0.3, seed=2)
    net = nn.MLP([2, 3, 2], "tanh", "softmax_ce")
    ls = nn.mlp_landscape(net, ds.X_train, ds.y_train, batch_size=40, prior_sigma=2.0)
    mins = network_minima(ls, net, 10, seed=1, init_gain=2.0, descent_steps=100, threads=1)
    return net, ls, mins


def test_network_minima_are_minima_and_collapse_modulo_symmetry(moons):
    net, ls, m = moons
    assert m.theta.shape == (10, net.n_params) and m.starts.shape == m.theta.shape
    assert np.all(m.is_minimum) and np.all(m.lowest_eigenvalue > 0)
    assert np.all(m.gradient_norm < 1e-4)
    f = energy_function(ls)
    np.testing.assert_array_equal(m.energy, [f(x)[0] for x in m.theta])
    mod = distinct_minima(m.theta, net, energies=m.energy, tol=1e-3)
    raw = distinct_minima(m.theta, net, energies=m.energy, tol=1e-3, symmetry=False)
    assert 2 <= mod.n_classes < raw.n_classes
    assert mod.counts.sum() == 10
    # members of a class have one energy (a symmetry leaves the loss unchanged)
    for c, r in enumerate(mod.representatives):
        np.testing.assert_allclose(m.energy[mod.labels == c], m.energy[r], rtol=1e-9)


def test_network_minima_reproducible_and_thread_independent(moons):
    net, ls, m1 = moons
    runs = []
    for t in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
        with threads(t):
            runs.append(network_minima(ls, net, 10, seed=1, init_gain=2.0, descent_steps=100))
    for r in runs:
        for name in ("theta", "energy", "gradient_norm", "lowest_eigenvalue", "starts"):
            np.testing.assert_array_equal(getattr(r, name), getattr(m1, name))
        assert r.step_size == m1.step_size
    other = network_minima(ls, net, 2, seed=2, descent_steps=0)
    assert not np.array_equal(other.starts, m1.starts[:2]) and other.step_size == 0.0


def test_connect_two_network_minima(moons):
    net, ls, m = moons
    mod = distinct_minima(m.theta, net, energies=m.energy, tol=1e-3)
    ra, rb = mod.representatives[:2]
    # hand in a scrambled copy of the second minimum: alignment must undo it
    scrambled = apply_symmetry(m.theta[rb], net, random_symmetry(net, seed=5))
    con = connect(ls, net, m.theta[ra], scrambled)
    p = con.path
    assert con.alignment.distance < con.alignment.distance_before
    assert p.ok and p.refined
    assert p.index_saddle == 1 and p.index_a == 0 and p.index_b == 0
    assert p.full_hessian and p.spectrum_a.size == net.n_params
    assert p.saddle_gradient_norm < 1e-3
    assert p.barrier_forward > 0 and p.barrier_backward > 0
    assert p.straight_barrier >= p.barrier_forward - 1e-9
    assert p.saddle_energy >= p.energies.max() - 1e-6  # the band's top is the saddle
    f = energy_function(ls)
    assert f(con.theta_b)[0] == pytest.approx(m.energy[rb], abs=1e-8)
    with pytest.raises(ValueError, match="^theta_a and theta_b are the same minimum"):
        connect(ls, net, m.theta[ra], apply_symmetry(m.theta[ra], net,
                                                      random_symmetry(net, seed=1)))


def test_lanczos_spectrum_matches_full_spectrum(moons):
    net, ls, m = moons
    f = energy_function(ls)
    x = m.theta[0]
    full = hessian_spectrum(f, x)
    low = hessian_spectrum(f, x, full_max=5, k=4)
    assert full.size == net.n_params and low.size == 4
    np.testing.assert_allclose(low, full[:4], rtol=1e-5, atol=1e-6 * np.abs(full).max())
    with pytest.raises(ValueError, match="^k must"):
        hessian_spectrum(f, x, full_max=5, k=net.n_params)


def test_network_minima_input_errors(moons):
    net, ls, _ = moons
    cases = [
        (lambda: network_minima(ls, net, 2), TypeError, "^seed is required"),
        (lambda: network_minima(ls, net, 0, seed=0), ValueError, "n_starts"),
        (lambda: network_minima(ls, nn.MLP([2, 4, 2]), 2, seed=0), ValueError,
         "^net has 22 parameters"),
        (lambda: network_minima("ls", net, 2, seed=0), TypeError, "^landscape must be"),
        (lambda: network_minima(ls, net, 2, seed=0, step_size=-1.0), ValueError, "step_size"),
        (lambda: network_minima(ls, net, 2, seed=0, init_gain=0.0), ValueError, "init_gain"),
    ]
    for fn, exc, pattern in cases:
        with pytest.raises(exc, match=pattern) as err:
            fn()
        assert "\n" not in str(err.value)
