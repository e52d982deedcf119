"""Neighbor lists: brute-force equality, rebuild criterion, O(N) cells, thread independence."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from langevin_opt import particles as lp
from langevin_opt.particles import neighbors as nbm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def listed_pairs(nl):
    i, j = nl.pairs()
    pairs = [tuple(p) for p in np.sort(np.stack([i, j], axis=1), axis=1).tolist()]
    assert len(pairs) == len(set(pairs)) == nl.n_pairs  # every pair exactly once
    return set(pairs)


def assume_no_pair_at_radius(x, box, radius, tol=1e-9):
    dr = x[:, None, :] - x[None, :, :]
    if box is not None:
        dr -= box * np.rint(dr / box)
    r = np.sqrt(np.einsum("ijk,ijk->ij", dr, dr))
    assume(not np.any(np.abs(r - radius) < tol))


@st.composite
def random_systems(draw, max_atoms=300):
    dim = draw(st.sampled_from([2, 3]))
    periodic = draw(st.booleans())
    cutoff = draw(st.floats(0.5, 1.5))
    skin = draw(st.sampled_from([0.0, 0.1, 0.3]))
    n = draw(st.integers(1, max_atoms))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if periodic:
        edges = np.array(draw(st.lists(st.floats(2 * cutoff + 0.01, 9.0), min_size=dim,
                                       max_size=dim)))
        x = rng.random((n, dim)) * edges
        x += rng.integers(-2, 3, (n, dim)) * edges  # unwrapped input
        box = edges
    else:
        ext = np.array(draw(st.lists(st.floats(0.0, 9.0), min_size=dim, max_size=dim)))
        x = rng.random((n, dim)) * ext + draw(st.floats(-50, 50))
        box = None
    return x, box, cutoff, skin


@settings(max_examples=60, deadline=None)
@given(random_systems(), st.sampled_from(["auto", "all_pairs"]))
def test_neighbor_list_equals_brute_force(case, method):
    x, box, cutoff, skin = case
    assume_no_pair_at_radius(x, box, cutoff + skin)
    nl = lp.NeighborList(cutoff, skin, method=method)
    nl.build(x, box)
    assert listed_pairs(nl) == lp.brute_force_pairs(x, box, cutoff + skin)
    if method == "all_pairs":
        assert np.all(nl.grid == 1)


@settings(max_examples=20, deadline=None)
@given(random_systems(), st.integers(0, 2**32 - 1))
def test_list_independent_of_atom_order(case, seed):
    x, box, cutoff, skin = case
    assume_no_pair_at_radius(x, box, cutoff + skin)
    perm = np.random.default_rng(seed).permutation(len(x))
    a = lp.NeighborList(cutoff, skin)
    b = lp.NeighborList(cutoff, skin)
    a.build(x, box)
    b.build(x[perm], box)
    pairs_b = {tuple(sorted((int(perm[i]), int(perm[j])))) for i, j in listed_pairs(b)}
    assert listed_pairs(a) == pairs_b


@settings(max_examples=60, deadline=None)
@given(random_systems(max_atoms=600))
def test_work_units_of_one_colour_write_disjoint_atoms(case):
    """The invariant behind thread-independent forces (see neighbors module docstring)."""
    x, box, cutoff, skin = case
    nl = lp.NeighborList(cutoff, skin)
    nl.build(x, box)
    a = nl.arrays
    owner = np.full(len(x), -1)
    for u in range(nl.n_units):
        for lo, hi in a.ranges[a.unit_start[u]:a.unit_start[u + 1]]:
            assert np.all(owner[lo:hi] == -1)
            owner[lo:hi] = u
    assert np.all(owner >= 0)  # every slot is in exactly one unit
    for p in range(4):
        written = {}
        for u in range(a.phase_start[p], a.phase_start[p + 1]):
            rows = np.flatnonzero(owner == u)
            targets = set(rows.tolist())
            for s in rows:
                targets.update(a.nbr[a.row_start[s]:a.row_end[s]].tolist())
            for t in targets:
                assert written.setdefault(t, u) == u, (p, u, written[t], t)


def test_rebuild_criterion():
    x, box = lp.fcc_lattice(4, 0.8)
    skin = 0.4
    nl = lp.NeighborList(1.5, skin)
    assert nl.update(x, box) and nl.n_builds == 1
    assert not nl.update(x, box)
    y = x.copy()
    y[5, 1] += 0.49 * skin
    assert not nl.needs_rebuild(y, box)
    assert nl.max_displacement(y) == pytest.approx(0.49 * skin)
    y[7] += 0.51 * skin / np.sqrt(3)
    assert nl.needs_rebuild(y, box)
    # a wrapped atom has not moved (minimum image)
    z = x.copy()
    z[3] += box
    z[4, 0] -= 2 * box[0]
    assert not nl.needs_rebuild(z, box) and nl.max_displacement(z) < 1e-12
    assert nl.needs_rebuild(x, box * 1.001)  # other box
    assert nl.needs_rebuild(x[:-1], box)  # other N
    assert nl.needs_rebuild(x, None)  # open system
    species = np.arange(len(x)) % 2
    assert nl.needs_rebuild(x, box, species)  # other species
    assert nl.update(x, box, species) and not nl.needs_rebuild(x, box, species)
    assert nl.needs_rebuild(x, box)  # species None means all zero


def test_forces_valid_until_half_skin_then_rebuilt():
    x, box = lp.fcc_lattice(5, 0.8442)
    rng = np.random.default_rng(7)
    x = x + rng.normal(0, 0.05, x.shape)
    lj = lp.lennard_jones(cutoff=2.5, mode="shifted")
    skin = 0.3
    nl = lp.NeighborList(2.5, skin)
    lp.compute_forces(lp.ParticleSystem(x, box=box), lj, neighbors=nl)
    built = nl.n_builds
    for _ in range(8):
        u = rng.normal(size=x.shape)
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        y = x + u * rng.uniform(0, 0.499 * skin, (len(x), 1))  # each atom moves < skin/2
        system = lp.ParticleSystem(y, box=box)
        res = lp.compute_forces(system, lj, neighbors=nl)
        ref = lp.compute_forces(system, lj)
        assert nl.n_builds == built  # no rebuild, and still exact
        np.testing.assert_allclose(res.forces, ref.forces, rtol=0, atol=1e-11)
        assert res.energy == pytest.approx(ref.energy, rel=1e-12)
    # one atom beyond skin/2: the kernel refuses the stale list, the wrapper rebuilds
    y = x.copy()
    y[0, 2] += 0.51 * skin
    a = nl.arrays
    kern = lp.pair_kernels(lj, 3).neighbor_serial
    ok, *_ = kern(y, a, 0.25 * skin**2, lj.table, 1, lp.make_scratch(nl), np.zeros_like(y),
                  False)
    assert not ok
    system = lp.ParticleSystem(y, box=box)
    res = lp.compute_forces(system, lj, neighbors=nl)
    assert nl.n_builds == built + 1
    np.testing.assert_allclose(res.forces, lp.compute_forces(system, lj).forces, atol=1e-11)


def test_cell_list_cost_is_linear():
    rng = np.random.default_rng(0)
    rho, radius = 0.8, 1.8
    per_atom = []
    for cells in (5, 10):  # same cell size, 8x the atoms
        edge = cells * radius * (1 + 1e-9)
        n = int(rho * edge**3)
        x = rng.random((n, 3)) * edge
        nl = lp.NeighborList(1.5, 0.3)
        nl.build(x, [edge] * 3)
        counts = nl.cell_counts
        assert counts.sum() == n and counts.size == np.prod(nl.grid)
        assert np.all(nl.grid == cells)
        # candidates: own cell / 2 + 13 neighbour cells = 13.5 cells on average
        expected = 13.5 * n / counts.size
        assert nl.n_candidates / n == pytest.approx(expected, rel=0.1)
        # listed pairs: half a sphere of radius cutoff + skin
        assert nl.n_pairs / n == pytest.approx(0.5 * rho * 4 / 3 * np.pi * radius**3, rel=0.1)
        per_atom.append(nl.n_candidates / n)
    assert per_atom[1] == pytest.approx(per_atom[0], rel=0.1)  # O(N), not O(N^2)
    assert per_atom[1] < 0.05 * n


def test_open_cluster_spread_far_apart():
    rng = np.random.default_rng(1)
    x = np.vstack([rng.random((40, 3)) * 3, rng.random((40, 3)) * 3 + 1e4])
    nl = lp.NeighborList(1.0, 0.2)
    nl.build(x, None)
    assert np.prod(nl.grid) <= max(64, 2 * len(x))  # the grid stays small
    assert listed_pairs(nl) == lp.brute_force_pairs(x, None, 1.2)


def test_species_follow_the_slots():
    x, box = lp.fcc_lattice(4, 0.8)
    sp = np.arange(len(x)) % 3
    nl = lp.NeighborList(1.5, 0.3)
    nl.build(x, box, sp)
    a = nl.arrays
    np.testing.assert_array_equal(a.slot_species, sp[a.slot_atom])
    np.testing.assert_allclose(a.ref, lp.wrap_positions(x, box)[0][a.slot_atom])


def test_wrap_and_images():
    box = np.array([3.0, 4.0, 5.0])
    x = np.array([[-0.5, 4.5, 12.0], [3.0, 0.0, -5.0], [1.0, 2.0, 3.0]])
    s = lp.ParticleSystem(x, box=box)
    assert np.all((s.positions >= 0) & (s.positions < box))
    np.testing.assert_array_equal(s.images, [[-1, 1, 2], [1, 0, -1], [0, 0, 0]])
    np.testing.assert_allclose(s.unwrapped_positions, x, atol=1e-14)
    w, im = lp.wrap_positions(x[:1] + box, box, images=[[-1, 1, 2]])
    np.testing.assert_array_equal(im, [[-1 + 0, 1 + 2, 2 + 3]])  # input images + crossings
    np.testing.assert_allclose(w, s.positions[:1], atol=1e-14)
    np.testing.assert_allclose(lp.minimum_image([[2.0, -2.1, 2.4]], box), [[-1.0, 1.9, 2.4]])
    moved = s.with_positions(s.positions + [3.5, 0, 0])
    np.testing.assert_allclose(moved.unwrapped_positions, x + [3.5, 0, 0], atol=1e-14)
    tiny = lp.ParticleSystem([[-1e-17, 0.0]], box=[1.0, 1.0])  # rounds to the edge
    assert 0.0 <= tiny.positions[0, 0] < 1.0


def test_neighbor_list_validation():
    with pytest.raises(ValueError, match="cutoff"):
        lp.NeighborList(0.0)
    with pytest.raises(ValueError, match="skin"):
        lp.NeighborList(1.0, skin=-0.1)
    with pytest.raises(ValueError, match="method"):
        lp.NeighborList(1.0, method="kdtree")
    with pytest.raises(ValueError, match="cutoff"):
        lp.NeighborList(2.5).build(np.zeros((4, 3)), [4.0, 4.0, 4.0])
    with pytest.raises(ValueError, match="built"):
        lp.NeighborList(1.0).max_displacement(np.zeros((4, 3)))


THREADS_SCRIPT = textwrap.dedent("""
    import hashlib
    import numba
    import numpy as np
    from langevin_opt import particles as lp

    def digest(*arrays):
        h = hashlib.sha256()
        for a in arrays:
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    x, box = lp.fcc_lattice(9, 0.8442)  # 2916 atoms: parallel kernels
    x = x + np.random.default_rng(5).normal(0, 0.1, x.shape)
    species = np.arange(len(x)) % 2
    system = lp.ParticleSystem(x, box=box, species=species)
    lj = lp.lennard_jones(epsilon=[1.0, 0.8], sigma=[1.0, 0.9], cutoff=2.5)
    out = []
    for threads in (1, 2, 1):
        numba.set_num_threads(threads)
        nl = lp.NeighborList(2.5, 0.3)
        res = lp.compute_forces(system, lj, neighbors=nl)
        assert nl.parallel
        a = nl.arrays
        rows = [a.nbr[a.row_start[s]:a.row_end[s]] for s in range(len(x))]
        out.append(digest(res.forces, [res.energy, res.virial]) + " " + digest(*rows))
    # the serial kernel gives the same bits
    numba.set_num_threads(2)
    F = np.zeros_like(x)
    ok, e, w, _ = lp.pair_kernels(lj, 3).neighbor_serial(
        system.positions, a, 0.0225, lj.table, lj.n_species, lp.make_scratch(nl), F, False)
    out.append(digest(F, [e, w]) + " " + out[-1].split()[1])
    print(numba.get_num_threads(), nl.n_units)
    print("\\n".join(out))
""")


def test_forces_bit_identical_for_one_and_two_threads():
    env = dict(os.environ, NUMBA_NUM_THREADS="2", PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-c", THREADS_SCRIPT], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    threads, units = map(int, lines[0].split())
    assert threads == 2 and units >= 4
    digests = [line for line in lines[1:] if line]
    assert len(digests) == 4 and len(set(digests)) == 1, digests


def test_parallel_threshold_is_documented():
    assert nbm.PARALLEL_MIN_ATOMS <= 2916
