"""Cluster rearrangements: symmetry counting, quench-based first passage, LJ7 (2-D) rates."""

import math

import numpy as np
import pytest

from langevin_opt import particles as lp
from langevin_opt import rates
from langevin_opt.particles import rearrangements as rr

LJ = lp.lennard_jones(mode="plain")
# 2-D LJ7: the four minima (Dellago, Bolhuis & Chandler, J. Chem. Phys. 108, 9236 (1998))
LJ7_MINIMA = (-12.534867, -11.501, -11.477, -11.403)


def hexagon(a=1.12):
    return a * np.array([[0, 0]] + [[math.cos(t), math.sin(t)] for t in np.arange(6) * math.pi / 3])


def icosahedron(r=1.1):
    phi = (1 + 5**0.5) / 2
    v = [(0, a, b) for a in (-1, 1) for b in (-phi, phi)]
    v = v + [(a, b, 0) for a in (-1, 1) for b in (-phi, phi)]
    v = v + [(b, 0, a) for a in (-1, 1) for b in (-phi, phi)]
    v = np.array(v, dtype=float)
    return np.vstack([np.zeros(3), r * v / np.linalg.norm(v[0])])


@pytest.mark.parametrize("x, order", [
    (hexagon(), 12),                                        # D6 in the plane
    (icosahedron(), 120),                                   # I_h
    (np.array([[0, 0], [1, 0], [1, 1], [0, 1.0]]), 8),     # square: D4
    (np.array([[0, 0], [1, 0], [0.3, 0.9]]), 1),           # scalene triangle
    (np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1.0]]), 6),  # C3v corner
])
def test_symmetry_operations_have_the_point_group_order(x, order):
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(x.shape[1],) * 2))
    moved = x @ q.T + rng.normal(size=x.shape[1])   # any orientation and position
    ops = rr.symmetry_operations(moved)
    assert len(ops) == order
    c = moved - moved.mean(axis=0)
    for Q, p in ops:
        np.testing.assert_allclose(c @ Q.T, c[p], atol=1e-8)
        np.testing.assert_allclose(Q @ Q.T, np.eye(x.shape[1]), atol=1e-10)


def test_align_removes_rigid_motion():
    x = icosahedron() + np.random.default_rng(1).normal(0, 0.05, (13, 3))
    q, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    np.testing.assert_allclose(rr.align(x @ q.T + 3.0, x), x, atol=1e-10)


def test_count_equivalent_saddles():
    m = hexagon()
    # an asymmetric distortion has 12 images; one along a mirror line has 6
    s = m.copy()
    s[1] += [0.3, 0.1]
    assert rr.count_equivalent_saddles(m, s) == 12
    s = m.copy()
    s[1] *= 1.3  # atom 1 sits on the x axis: the x mirror keeps this distortion
    assert rr.count_equivalent_saddles(m, s) == 6
    assert rr.count_equivalent_saddles(m, m) == 1


def test_cluster_first_passage_validation():
    with pytest.raises(ValueError, match="multiple of check_every"):
        rr.cluster_first_passage(hexagon(), LJ, lp.LangevinBAOAB(0.005), [0.2], 150,
                                 check_every=100, seed=1)
    with pytest.raises(ValueError, match="temperatures must be positive"):
        rr.cluster_first_passage(hexagon(), LJ, lp.LangevinBAOAB(0.005), [0.0], 100, seed=1)
    with pytest.raises(TypeError, match="seed is required"):
        rr.cluster_first_passage(hexagon(), LJ, lp.LangevinBAOAB(0.005), [0.2], 100)
    with pytest.raises(TypeError, match="replicas must be an integer"):
        rr.cluster_first_passage(hexagon(), LJ, lp.LangevinBAOAB(0.005), [0.2], 100,
                                 replicas=2.5, seed=1)


@pytest.mark.slow
def test_lj7_rearrangement_rates_against_langer():
    integ = lp.LangevinBAOAB(0.005, 2.0)
    fp = rr.cluster_first_passage(hexagon(), LJ, integ, [0.2, 0.3], 30_000, replicas=48,
                                  check_every=200, seed=1)
    assert fp.start_energy == pytest.approx(LJ7_MINIMA[0], abs=1e-5)
    prod = np.round(fp.product_energy[~fp.censored], 3)
    assert set(prod) <= set(np.round(LJ7_MINIMA[1:], 3)), set(prod)
    # the same replica ids give the same escapes whatever else runs with them
    part = rr.cluster_first_passage(hexagon(), LJ, integ, [0.2], 30_000, replicas=48,
                                    check_every=200, seed=1)
    np.testing.assert_array_equal(part.time, fp.time[:48])
    rest = rr.cluster_first_passage(hexagon(), LJ, integ, [0.3], 30_000, replicas=48,
                                    check_every=200, seed=1, stream_offset=48)
    np.testing.assert_array_equal(rest.time, fp.time[48:])
    # theory: every channel out of the hexagon, Langer's moderate-friction rate
    f = rr.cluster_energy_function(LJ, 7, 2)
    m0 = lp.fire_minimize(lp.ParticleSystem(hexagon()), LJ, fire=lp.FIRE(fmax=1e-9)).positions
    channels = {}
    for x, e in zip(fp.products[~fp.censored], prod, strict=True):
        if e not in channels and e > -11.45:
            continue  # the -11.403 channel (barrier 1.76) is negligible at these T
        if e not in channels:
            sr = rates.find_saddle(f, m0.ravel(), rr.align(x, m0).ravel(), n_images=13,
                                   fmax=1e-6, n_zero=3)
            assert sr.ok and sr.saddle.n_negative == 1
            channels[e] = (sr, rr.count_equivalent_saddles(m0, sr.saddle.x.reshape(7, 2)))
    assert len(channels) == 2
    for sr, count in channels.values():
        assert count == 12
        assert sr.barrier == pytest.approx(1.496, abs=0.005)
    ratios = []
    for T in (0.2, 0.3):
        sel = fp.temperature == T
        est = rates.estimate_rate(fp.time[sel], fp.censored[sel], gof=False)
        theory = sum(c * rates.langer_rate(sr.minimum, sr.saddle, T, friction=2.0)
                     for sr, c in channels.values())
        ratios.append(est["rate"] / theory)
        print(f"T={T}: k = {est['rate']:.4g} [{est['rate_low']:.4g}, {est['rate_high']:.4g}], "
              f"Langer {theory:.4g}, ratio {ratios[-1]:.3f}")
        assert est["rate_low"] < 1.2 * theory  # harmonic theory is an upper bound here
    # the harmonic theory gets better as the temperature falls
    assert 0.5 < ratios[0] < 1.1 and ratios[1] < ratios[0]
