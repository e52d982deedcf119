"""Saddle searches (CI-NEB, dimer), Hessians and harmonic rate theory on Müller–Brown."""

from __future__ import annotations

import math

import numpy as np
import pytest

import langevin_opt as lo
from langevin_opt.rates.saddles import (
    analyse_point,
    dimer,
    find_saddle,
    hessian_fd,
    landscape_function,
    minimize,
    neb,
)
from langevin_opt.rates.theory import (
    harmonic_point,
    kramers_overdamped_rate,
    langer_rate,
    vineyard_rate,
)

# Müller & Brown, Theor. Chim. Acta 53, 75 (1979); values as reproduced in the NEB/dimer
# literature (e.g. the ASE and pele test suites), checked here by polishing to |grad| < 1e-8.
MB_MINIMA = [((-0.558224, 1.441726), -146.69952), ((0.623499, 0.028038), -108.16672),
             ((-0.050011, 0.466694), -80.76782)]
MB_SADDLES = {"S1": ((-0.822002, 0.624313), -40.66484), "S2": ((0.212487, 0.292988), -72.24894)}
FMAX = 1e-3


@pytest.fixture(scope="module")
def f():
    return landscape_function(lo.muller_brown())


def test_published_minima(f):
    for x, e in MB_MINIMA:
        r = minimize(f, np.array(x) + 0.05)
        xm, em = r.x, r.fun
        assert np.allclose(xm, x, atol=2e-6)
        assert em == pytest.approx(e, abs=1e-4)
        assert np.linalg.norm(f(xm)[1]) < 1e-6


@pytest.mark.parametrize(("a", "b", "name"), [(0, 2, "S1"), (1, 2, "S2"), (0, 1, "S1")])
def test_climbing_image_neb_finds_published_saddles(f, a, b, name):
    res = neb(f, MB_MINIMA[a][0], MB_MINIMA[b][0], n_images=11, fmax=FMAX)
    x, e = MB_SADDLES[name]
    assert res.converged
    assert res.gradient_norm < FMAX
    assert np.allclose(res.saddle, x, atol=1e-5)
    assert res.saddle_energy == pytest.approx(e, abs=1e-4)
    # the band runs through the saddle: its highest image is the climbing one
    assert res.energies.max() == res.saddle_energy


@pytest.mark.parametrize(("start", "name"), [((-0.7, 0.8), "S1"), ((-0.5, 1.2), "S1"),
                                             ((0.1, 0.35), "S2")])
def test_dimer_finds_published_saddles(f, start, name):
    res = dimer(f, np.array(start), fmax=FMAX, seed=3)
    x, e = MB_SADDLES[name]
    assert res.converged and res.gradient_norm < FMAX
    assert res.curvature < 0
    assert np.allclose(res.x, x, atol=1e-5)
    assert res.energy == pytest.approx(e, abs=1e-4)


def test_hessian_at_saddles_and_minima(f):
    mb = lo.muller_brown()
    for x, _ in MB_SADDLES.values():
        p = analyse_point(f, x)
        assert p.n_negative == 1 and p.eigenvalues.size == 2
    for x, _ in MB_MINIMA:
        assert analyse_point(f, x).n_negative == 0
    # against the package's own finite-difference Hessian of the landscape
    from langevin_opt.analysis import hessian

    x = np.array(MB_SADDLES["S1"][0])
    assert np.allclose(hessian_fd(f, x), hessian(mb, x)[0], rtol=1e-5, atol=1e-3)


def test_generic_flat_vector_function():
    # Müller–Brown plus three stiff harmonic coordinates: a 5-D problem, as a cluster would be
    mbf = landscape_function(lo.muller_brown())
    k = np.array([50.0, 200.0, 800.0])

    def f5(x):
        e, g = mbf(x[:2])
        return e + 0.5 * float(k @ x[2:] ** 2), np.concatenate([g, k * x[2:]])

    a = np.r_[MB_MINIMA[0][0], 0.1, -0.1, 0.05]
    b = np.r_[MB_MINIMA[2][0], -0.1, 0.1, 0.0]
    s = find_saddle(f5, a, b, fmax=FMAX)
    assert s.ok
    assert np.allclose(s.saddle.x, np.r_[MB_SADDLES["S1"][0], 0, 0, 0], atol=1e-5)
    assert s.barrier == pytest.approx(MB_SADDLES["S1"][1] - MB_MINIMA[0][1], abs=1e-3)
    assert s.saddle.n_negative == 1


def test_rate_formulas_and_limits():
    # 1-D double well h (x^2-1)^2: U''(-1) = 8h, U''(0) = -4h, barrier h
    h, t = 2.0, 0.3
    mn = harmonic_point([-1.0], 0.0, [[8 * h]])
    sd = harmonic_point([0.0], h, [[-4 * h]])
    wa, wb = math.sqrt(8 * h), math.sqrt(4 * h)
    boltz = math.exp(-h / t)
    assert vineyard_rate(mn, sd, t) == pytest.approx(wa / (2 * math.pi) * boltz)
    assert kramers_overdamped_rate(mn, sd, t) == pytest.approx(wa * wb / (2 * math.pi) * boltz)
    g = 3.0
    kr = wa / (2 * math.pi * wb) * (math.sqrt(g * g / 4 + wb * wb) - g / 2) * boltz
    assert langer_rate(mn, sd, t, friction=g) == pytest.approx(kr)
    # gamma -> infinity: overdamped with zeta = m gamma; gamma -> 0: TST
    big = 1e6
    assert langer_rate(mn, sd, t, friction=big, mass=2.0) == pytest.approx(
        kramers_overdamped_rate(mn, sd, t, zeta=2.0 * big), rel=1e-6)
    assert langer_rate(mn, sd, t, friction=1e-9) == pytest.approx(vineyard_rate(mn, sd, t))
    # vectorised over temperatures; wrong saddle index is refused
    assert np.shape(vineyard_rate(mn, sd, np.array([0.2, 0.3]))) == (2,)
    with pytest.raises(ValueError, match="exactly 1 negative"):
        vineyard_rate(mn, mn, t)


def test_multidimensional_eyring_kramers_is_product_of_1d():
    # separable U = U1(x) + k y^2/2: the y-mode cancels between minimum and saddle
    mn = harmonic_point([-1.0, 0.0], 0.0, np.diag([8.0, 5.0]))
    sd = harmonic_point([0.0, 0.0], 1.0, np.diag([-4.0, 5.0]))
    m1 = harmonic_point([-1.0], 0.0, [[8.0]])
    s1 = harmonic_point([0.0], 1.0, [[-4.0]])
    for fn in (kramers_overdamped_rate, vineyard_rate):
        assert fn(mn, sd, 0.4) == pytest.approx(fn(m1, s1, 0.4))
    # zero modes (free cluster translations) are dropped at both points
    mz = harmonic_point([0, 0, 0], 0.0, np.diag([0.0, 8.0, 5.0]))
    sz = harmonic_point([0, 0, 0], 1.0, np.diag([0.0, -4.0, 5.0]))
    assert mz.n_zero == sz.n_zero == 1
    assert kramers_overdamped_rate(mz, sz, 0.4) == pytest.approx(
        kramers_overdamped_rate(mn, sd, 0.4))


def _lj2d(x):
    # Lennard-Jones cluster in 2-D (epsilon = sigma = 1), flat coordinates (N * 2,)
    p = x.reshape(-1, 2)
    n = p.shape[0]
    d = p[:, None, :] - p[None, :, :]
    r2 = (d**2).sum(-1) + np.eye(n)
    ir6 = 1.0 / r2**3
    e = 4 * (ir6**2 - ir6)
    np.fill_diagonal(e, 0.0)
    fr = (48 * ir6**2 - 24 * ir6) / r2
    np.fill_diagonal(fr, 0.0)
    return 0.5 * e.sum(), -(fr[:, :, None] * d).sum(1).ravel()


def test_cluster_hook_lj7_2d_dimer_and_neb_with_zero_modes():
    # the 2-D LJ7 cluster (hexagon around a centre atom, E = -12.5349): a particle system
    # through the same flat-vector interface, with its 3 rigid-body zero modes projected out
    from langevin_opt.rates.saddles import rigid_body_modes

    ang = np.arange(6) * np.pi / 3
    hexagon = np.vstack([[0, 0], np.c_[np.cos(ang), np.sin(ang)] * 2 ** (1 / 6)]).ravel()
    r = minimize(_lj2d, hexagon)
    xm, em = r.x, r.fun
    assert em == pytest.approx(-12.534867, abs=1e-5)
    modes = rigid_body_modes(xm, 2)
    assert modes.shape == (3, 14) and np.allclose(modes @ modes.T, np.eye(3))
    assert np.allclose(modes @ hessian_fd(_lj2d, xm), 0.0, atol=1e-4)
    mn = analyse_point(_lj2d, xm, n_zero=3)
    assert mn.n_negative == 0 and mn.eigenvalues.size == 11

    def zm(x):
        return rigid_body_modes(x, 2)

    rng = np.random.default_rng(0)
    d = dimer(_lj2d, xm + 0.02 * rng.standard_normal(14), fmax=FMAX, max_step=0.05,
              zero_modes=zm, seed=0)
    assert d.converged and d.gradient_norm < FMAX and d.curvature < 0
    sp = analyse_point(_lj2d, d.x, n_zero=3)
    assert sp.n_negative == 1
    # slide off the saddle both ways; CI-NEB between the two minima finds the same saddle
    ends = [minimize(_lj2d, d.x + s * 0.05 * d.mode) for s in (-1.0, 1.0)]
    ends = [(r.x, r.fun) for r in ends]
    assert min(e for _, e in ends) == pytest.approx(em, abs=1e-6)
    band = neb(_lj2d, ends[0][0], ends[1][0], n_images=9, fmax=FMAX, zero_modes=zm)
    assert band.converged and band.gradient_norm < FMAX
    assert band.saddle_energy == pytest.approx(d.energy, abs=1e-6)
    assert vineyard_rate(mn, sp, 0.2) > 0


def test_saddle_fire_is_the_particle_fire_step():
    # one FIRE: NEB and the dimer move with langevin_opt.particles.fire.fire_step on the
    # flat vector as one row (one cap on the whole move), replayed here step by step
    from langevin_opt.particles import fire as pf
    from langevin_opt.rates import saddles

    a = np.array([1.0, 4.0, 9.0])

    def force(x):
        return -a * x, float(np.linalg.norm(a * x))

    x0 = np.array([1.0, -0.5, 0.3])
    x, it, err, ok = saddles._fire(force, x0, fmax=1e-8, max_iter=2000, max_step=0.05)
    assert ok and err < 1e-8 and it > 10
    f = force(x0)[0]
    dt = math.sqrt(0.1 * 0.05 / np.linalg.norm(f))
    prm = pf.fire_params(dt, 10 * dt, 4, 1.1, 0.5, 0.1, 0.99, 0.05, 1e-8)
    st = np.array([dt, 0.1, 0.0])
    row = x0.copy().reshape(1, -1)
    v = np.zeros_like(row)
    for _ in range(it):
        before = row.copy()
        pf.fire_step_py(row, v, f.reshape(1, -1), st, prm)
        assert np.linalg.norm(row - before) <= 0.05 * (1 + 1e-12)  # the cap on the whole move
        f = force(row[0])[0]
    np.testing.assert_array_equal(row[0], x)


def test_dimer_random_start_needs_a_seed():
    f = landscape_function(lo.muller_brown())
    with pytest.raises(TypeError, match="seed is required"):
        dimer(f, np.array([-0.8, 0.6]), fmax=FMAX)
