"""Landscapes: gradients against finite differences, known minima, validation."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

import langevin_opt as lo

BUILTINS = {
    "double_well": lo.double_well(barrier=2.0, tilt=0.3),
    "narrow_wide_1d": lo.narrow_wide(dim=1),
    "narrow_wide_2d": lo.narrow_wide(dim=2),
    "muller_brown": lo.muller_brown(),
    "gaussian_3d": lo.gaussian(dim=3, mean=[0.5, -1.0, 2.0],
                               stiffness=[[2.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 3.0]]),
    "rastrigin_4d": lo.rastrigin(dim=4),
    "ackley_3d": lo.ackley(dim=3),
}


def central_difference(land, x, h=1e-6):
    g = np.empty(land.dim)
    for k in range(land.dim):
        e = np.zeros(land.dim)
        e[k] = h
        g[k] = (land.energy(x + e)[0] - land.energy(x - e)[0]) / (2 * h)
    return g


@pytest.mark.parametrize("name", sorted(BUILTINS))
@settings(max_examples=30, deadline=None)
@given(u=st.lists(st.floats(0.02, 0.98), min_size=4, max_size=4))
def test_gradient_equals_central_difference(name, u):
    land = BUILTINS[name]
    b = land.bounds
    x = b[:, 0] + np.asarray(u[: land.dim]) * (b[:, 1] - b[:, 0])
    g = land.gradient(x)[0]
    fd = central_difference(land, x)
    scale = max(1.0, np.abs(g).max(), abs(land.energy(x)[0]))
    # central difference: O(h^2) truncation + O(eps * |U| / h) rounding
    assert np.allclose(g, fd, rtol=1e-6, atol=1e-7 * scale * 1e2)


def test_batch_and_single_evaluation_agree():
    mb = lo.muller_brown()
    x = lo.uniform_positions(mb.bounds, 37, seed=3)
    e, g = mb.energy_and_gradient(x)
    for i in (0, 17, 36):
        e1, g1 = mb.energy_and_gradient(x[i])
        assert e1[0] == e[i] and np.array_equal(g1[0], g[i])


def test_muller_brown_known_minima_and_saddles():
    mb = lo.muller_brown()
    ref_min = [-146.69951720995402, -108.16672411685231, -80.76781812965108]
    for x0, ref in zip(mb.minima, ref_min, strict=True):
        res = optimize.minimize(lambda x: mb.energy(x)[0], x0, jac=lambda x: mb.gradient(x)[0],
                                method="BFGS", options={"gtol": 1e-10})
        assert np.allclose(res.x, x0, atol=1e-5)
        assert math.isclose(res.fun, ref, rel_tol=0, abs_tol=1e-6)
    assert mb.global_minimum == pytest.approx(min(ref_min), abs=1e-9)
    # saddles: gradient vanishes, Hessian has one negative eigenvalue
    ref_saddle = [-40.66484331, -72.24894066]
    for xs, ref in zip(mb.saddles, ref_saddle, strict=True):
        sol = optimize.root(lambda x: mb.gradient(x)[0], xs, tol=1e-12)
        assert np.allclose(sol.x, xs, atol=1e-5)
        assert mb.energy(sol.x)[0] == pytest.approx(ref, abs=1e-6)
        hess = np.empty((2, 2))
        for k in range(2):
            e = np.zeros(2)
            e[k] = 1e-5
            hess[k] = (mb.gradient(sol.x + e)[0] - mb.gradient(sol.x - e)[0]) / 2e-5
        ev = np.linalg.eigvalsh(0.5 * (hess + hess.T))
        assert ev[0] < 0 < ev[1]


def test_double_well_minima_and_tilt():
    dw = lo.double_well(barrier=1.5)
    assert np.allclose(dw.minima.ravel(), [-1.0, 1.0])
    assert np.allclose(dw.energy(dw.minima), 0.0)
    tilted = lo.double_well(barrier=1.0, tilt=0.5)
    e = tilted.energy(tilted.minima)
    assert e[1] < e[0]  # positive tilt deepens the right well
    assert np.allclose(tilted.gradient(tilted.minima), 0.0, atol=1e-12)
    assert tilted.global_minimum == pytest.approx(e.min())


def test_gaussian_closed_form():
    k = np.array([[2.0, 0.5], [0.5, 1.0]])
    g = lo.gaussian(dim=2, mean=[1.0, -2.0], stiffness=k)
    x = np.array([[0.3, 0.7], [1.0, -2.0]])
    d = x - [1.0, -2.0]
    assert np.allclose(g.energy(x), 0.5 * np.einsum("mi,ij,mj->m", d, k, d))
    assert np.allclose(g.gradient(x), d @ k)


@pytest.mark.parametrize("land", [lo.rastrigin(dim=5), lo.ackley(dim=5)])
def test_global_optimisation_functions_vanish_at_origin(land):
    assert land.energy(np.zeros(land.dim))[0] == pytest.approx(0.0, abs=1e-12)
    assert np.allclose(land.gradient(np.zeros(land.dim)), 0.0)
    # and are positive elsewhere
    x = lo.uniform_positions(land.bounds, 100, seed=1)
    assert np.all(land.energy(x) > 0)


def test_narrow_wide_wells():
    nw = lo.narrow_wide(dim=2, depth_narrow=5.0, width_narrow=0.1, depth_wide=3.0,
                        width_wide=0.5, separation=2.0, confinement=0.0)
    centres = np.array([[-1.0, 0.0], [1.0, 0.0]])
    e = nw.energy(centres)
    # the listed minima are true minima (the other well's tail shifts them off the centres)
    assert np.allclose(nw.gradient(nw.minima), 0.0, atol=1e-10)
    assert np.all(nw.energy(nw.minima) <= e) and np.allclose(nw.minima, centres, atol=0.01)
    # each centre feels the other well's Gaussian tail (centres 2 apart)
    assert e[0] == pytest.approx(-5.0 - 3.0 * math.exp(-4 / (2 * 0.5**2)), abs=1e-12)
    assert e[1] == pytest.approx(-3.0 - 5.0 * math.exp(-4 / (2 * 0.1**2)), abs=1e-12)
    with_wall = lo.narrow_wide(dim=2, confinement=0.5, separation=2.0)
    expected = (0.5 * 16 - 4.0 * math.exp(-(1 + 4) / (2 * 0.15**2))
                - 3.0 * math.exp(-(1 + 4) / (2 * 0.6**2)))
    assert with_wall.energy([[0.0, 2.0]])[0] == pytest.approx(expected, abs=1e-12)
    # curvature at the narrow centre: D/w^2 plus the wide well's tail,
    # -D_w e^{-u} (r^2/w^4 - 1/w^2)
    tail = -3.0 * math.exp(-4 / (2 * 0.5**2)) * (4 / 0.5**4 - 1 / 0.5**2)
    h = 1e-4
    x = centres[0]
    curv = (nw.energy(x + [h, 0])[0] - 2 * e[0] + nw.energy(x - [h, 0])[0]) / h**2
    assert curv == pytest.approx(5.0 / 0.1**2 + tail, rel=1e-6)


def test_user_landscape_decorator_runs_compiled():
    @lo.landscape(dim=2, params=[3.0], name="bowl")
    def bowl(X, i, p, G):
        G[0, i] = 2 * p[0] * X[0, i]
        G[1, i] = 2 * p[0] * X[1, i]
        return p[0] * (X[0, i] ** 2 + X[1, i] ** 2)

    assert isinstance(bowl, lo.Landscape) and bowl.name == "bowl"
    assert bowl.energy([[1.0, 2.0]])[0] == 15.0
    r = lo.sample(bowl, np.ones((8, 2)), 200, method="gd", dt=0.05, seed=0)
    assert np.allclose(r.state.positions, 0.0, atol=1e-10)


def test_make_landscape_by_name_and_errors():
    assert lo.make_landscape("double_well", barrier=2.0).settings["barrier"] == 2.0
    with pytest.raises(ValueError, match="did you mean 'muller_brown'"):
        lo.make_landscape("muller_brwn")
    with pytest.raises(ValueError, match="unknown setting 'barier'.*did you mean 'barrier'"):
        lo.make_landscape("double_well", barier=1.0)
    with pytest.raises(ValueError, match="barrier must be a finite number > 0"):
        lo.make_landscape("double_well", barrier=-1.0)
    with pytest.raises(ValueError, match="dim must be 1 or 2"):
        lo.narrow_wide(dim=3)
    with pytest.raises(ValueError, match="positive definite"):
        lo.gaussian(dim=2, stiffness=[[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="dim must be an integer"):
        lo.rastrigin(dim=0)
    with pytest.raises(TypeError, match="^dim must be an integer"):
        lo.rastrigin(dim=2.0)
    with pytest.raises(TypeError, match="^barrier must be a finite number > 0, got str"):
        lo.double_well(barrier="1")
    with pytest.raises(TypeError, match="^landscape name must be a string"):
        lo.make_landscape(None)
    with pytest.raises(ValueError, match="finite number"):
        lo.double_well(tilt=float("nan"))


def test_energy_rejects_wrong_shapes():
    mb = lo.muller_brown()
    with pytest.raises(ValueError, match=r"shape \(M, 2\)"):
        mb.energy(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="needs 2 axes"):
        mb.energy_grid(np.linspace(0, 1, 3))
    grid = mb.energy_grid(np.linspace(-1, 1, 4), np.linspace(0, 1, 3))
    assert grid.shape == (4, 3)
    assert grid[2, 1] == mb.energy([[np.linspace(-1, 1, 4)[2], 0.5]])[0]
