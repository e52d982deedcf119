"""The compiled stretch loop of ``Dynamics.run`` against the per-step path.

``Dynamics._compiled_loop = False`` forces the per-step path (one Python iteration per
step).  Every covered case must give the same bits: positions, velocities, forces,
energies, recorded rows, frames, neighbour-list rebuilds, divergence reports, for any
split of the run into calls and for 1 and 2 threads.
"""

import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from langevin_opt import particles as lp
from langevin_opt.core import DivergenceError
from langevin_opt.schedules import Linear

INTEGRATORS = [lp.LangevinBAOAB(0.005, 1.0), lp.VelocityVerlet(0.005),
               lp.LangevinOverdamped(0.0005, 1.0)]


def liquid(cells=3, mode="truncated"):
    x, box = lp.fcc_lattice(cells, 0.8442)
    return lp.ParticleSystem(x, box=box), lp.lennard_jones(cutoff=2.5, mode=mode)


def make(system, potentials, integ, compiled, neighbors=True, **kw):
    md = lp.Dynamics(system, potentials, integ, temperature=1.0, seed=11,
                     neighbors=lp.NeighborList(2.5, 0.3) if neighbors else None, **kw)
    md._compiled_loop = compiled
    return md


def assert_same(a, b):
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.v, b.v)
    np.testing.assert_array_equal(a.forces, b.forces)
    assert (a.energy, a.virial, a.step) == (b.energy, b.virial, b.step)
    if a.neighbors is not None:
        assert a.neighbors.n_builds == b.neighbors.n_builds


def assert_same_record(ra, rb):
    for f in lp.MDRecord._fields:
        np.testing.assert_array_equal(getattr(ra, f), getattr(rb, f), err_msg=f)


@pytest.mark.parametrize("integ", INTEGRATORS, ids=lambda i: i.name)
@pytest.mark.parametrize("neighbors", [True, False], ids=["list", "all_pairs"])
def test_compiled_loop_is_bit_identical_to_the_per_step_path(integ, neighbors):
    s, lj = liquid()
    a = make(s, lj, integ, True, neighbors)
    b = make(s, lj, integ, False, neighbors)
    assert a._compiled_plan() is not None and b._compiled_plan() is None
    ra = a.run(120, record_every=7)
    rb = b.run(120, record_every=7)
    assert_same(a, b)
    assert_same_record(ra, rb)
    if neighbors:
        assert a.neighbors.n_builds > 3  # rebuilds in the middle of stretches


def test_species_schedule_and_runs_split_anywhere():
    s, _ = liquid()
    sp = np.arange(s.n_atoms) % 2
    s = s.replace(species=sp, masses=1.0 + sp)
    lj2 = lp.lennard_jones(epsilon=[1.0, 0.8], sigma=[1.0, 0.9], cutoff=2.5, mode="shifted")
    kw = dict(schedule=Linear(0.5), total_steps=90)
    a = make(s, lj2, INTEGRATORS[0], True, **kw)
    b = make(s, lj2, INTEGRATORS[0], False, **kw)
    c = make(s, lj2, INTEGRATORS[0], True, **kw)
    for n in (13, 1, 40, 36):  # compiled, split into calls anywhere
        a.run(n, record_every=4)
    rb = b.run(90, record_every=4)  # per step, one call
    rc = c.run(90, record_every=4)  # compiled, one call
    assert_same(a, b)
    assert_same(c, b)
    assert_same_record(rc, rb)
    assert rb.target_temperature[-1] < rb.target_temperature[0]


def test_frames_and_records_in_the_middle_of_stretches(tmp_path):
    s, lj = liquid()
    out = {}
    for compiled in (True, False):
        md = make(s, lj, INTEGRATORS[0], compiled)
        path = tmp_path / f"c{compiled}.h5md"
        with lp.open_trajectory(path, s, record_force=True) as w:
            rec = md.run(50, record_every=6, writer=w, frame_every=8)
            rec2 = md.run(27, record_every=5, writer=w, frame_every=8)
        out[compiled] = (md, rec, rec2, path)
    a, b = out[True], out[False]
    assert_same(a[0], b[0])
    assert_same_record(a[1], b[1])
    assert_same_record(a[2], b[2])
    with h5py.File(a[3], "r") as fa, h5py.File(b[3], "r") as fb:
        names = []
        fa.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        assert any("position" in n for n in names)
        for n in names:
            if "creation" in n or "date" in n:
                continue
            np.testing.assert_array_equal(fa[n][()], fb[n][()], err_msg=n)


@pytest.mark.parametrize("neighbors", [True, False], ids=["list", "all_pairs"])
def test_divergence_is_reported_at_the_same_step(neighbors):
    s, lj = liquid()
    integ = lp.LangevinOverdamped(0.002, 1.0)  # explodes within a few steps
    errs = []
    for compiled in (True, False):
        md = make(s, lj, integ, compiled, neighbors)
        with pytest.raises(DivergenceError) as e:
            md.run(100, record_every=2)
        errs.append((md, e.value))
    (a, ea), (b, eb) = errs
    assert_same(a, b)
    assert (str(ea), ea.step) == (str(eb), eb.step)
    assert_same_record(ea.partial_result.record, eb.partial_result.record)


def test_non_finite_values_are_reported_at_the_same_step():
    # atoms 1e-22 apart: the LJ force overflows, so the first step is not finite
    s = lp.ParticleSystem([[0.0, 0.0, 0.0], [1e-22, 0.0, 0.0], [2.0, 0.0, 0.0]])
    lj = lp.lennard_jones(mode="plain")
    out = []
    for compiled in (True, False):
        md = lp.Dynamics(s, lj, lp.VelocityVerlet(0.001), temperature=0.0)
        md._compiled_loop = compiled
        with pytest.raises(DivergenceError, match="non-finite") as e:
            md.run(10)
        out.append((str(e.value), e.value.step, md.step))
    assert out[0] == out[1]


@pytest.mark.parametrize("neighbors", [True, False], ids=["list", "all_pairs"])
def test_two_dimensions(neighbors):
    x = lp.cubic_lattice(12, 1.1, dim=2)
    s = lp.ParticleSystem(x, box=[13.2, 13.2])
    lj = lp.lennard_jones(cutoff=2.5, mode="shifted")
    a = make(s, lj, INTEGRATORS[0], True, neighbors)
    b = make(s, lj, INTEGRATORS[0], False, neighbors)
    assert_same_record(a.run(80, record_every=10), b.run(80, record_every=10))
    assert_same(a, b)


@pytest.mark.parametrize("order", ["pair_bond", "bond_pair"])
@pytest.mark.parametrize("neighbors", [True, False], ids=["list", "all_pairs"])
def test_pair_and_bond_terms_in_either_order(order, neighbors):
    s, lj = liquid()
    bond = lp.harmonic_bonds([[0, 1], [2, 3], [5, 40]], k=10.0, r0=1.1)
    terms = [lj, bond] if order == "pair_bond" else [bond, lj]
    for integ in INTEGRATORS:
        a = make(s, terms, integ, True, neighbors)
        b = make(s, terms, integ, False, neighbors)
        assert a._compiled_plan() is not None
        assert_same_record(a.run(60, record_every=9), b.run(60, record_every=9))
        assert_same(a, b)


@pytest.mark.parametrize("integ", INTEGRATORS, ids=lambda i: i.name)
def test_bonds_alone(integ):
    s = lp.ParticleSystem([[0.0, 0.0, 0.0], [1.05, 0.0, 0.0], [1.9, 0.8, 0.0]])
    bonds = lp.gaussian_bonds([[0, 1], [1, 2]], depth=2.0, r0=1.0, width=0.2)
    a = make(s, bonds, integ, True, neighbors=False)
    b = make(s, bonds, integ, False, neighbors=False)
    assert a._compiled_plan() is not None
    assert_same_record(a.run(300, record_every=11), b.run(300, record_every=11))
    assert_same(a, b)


def test_stiff_bond_divergence_matches():
    s = lp.ParticleSystem([[0.0, 0.0, 0.0], [1.01, 0.0, 0.0]])
    bond = lp.harmonic_bonds([[0, 1]], k=1e4, r0=1.0)
    out = []
    for compiled in (True, False):
        md = lp.Dynamics(s, bond, lp.VelocityVerlet(0.5), temperature=0.0)
        md._compiled_loop = compiled
        with pytest.raises(DivergenceError) as e:
            md.run(2000, record_every=1)
        out.append((str(e.value), e.value.step, md.x.tolist(),
                    e.value.partial_result.record.total_energy.tolist()))
    assert out[0] == out[1]


def test_other_terms_take_the_per_step_path():
    s, lj = liquid()
    lj2 = lp.lennard_jones(epsilon=0.5, cutoff=2.5, mode="truncated")
    a = make(s, [lj, lj2], INTEGRATORS[0], True)
    assert a._compiled_plan() is None  # two pair terms
    b = make(s, [lj, lj2], INTEGRATORS[0], False)
    a.run(20)
    b.run(20)
    assert_same(a, b)


@pytest.mark.parametrize("cells,rc,skin", [(3, 2.5, 0.3), (4, 2.5, 0.3), (5, 2.5, 0.3),
                                           (6, 1.5, 0.4), (5, 3.5, 0.69)])
def test_fast_minimum_image_search_gives_the_same_list(cells, rc, skin):
    # the build's minimum image multiplies by 1 / box (radius below half the box) or
    # divides (at and above): the same arrays either way, bit for bit
    x, box = lp.fcc_lattice(cells, 0.8442)
    rng = np.random.default_rng(cells)
    for trial in range(3):
        y = x + rng.normal(0.0, 0.2, x.shape) + trial * box / 3
        lists = []
        for fast in (True, False):
            nl = lp.NeighborList(rc, skin)
            nl._fast_search = fast
            nl.build(y, box)
            lists.append(nl)
        a, b = (n.arrays for n in lists)
        for f in a._fields:
            if f != "nbr":
                np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
        rows = [np.concatenate([arr.nbr[s0:s1] for s0, s1 in zip(
            arr.row_start, arr.row_end, strict=True)]) for arr in (a, b)]
        np.testing.assert_array_equal(rows[0], rows[1])
        assert lists[0].n_pairs == lists[1].n_pairs > 0


_THREADS = textwrap.dedent("""
    import sys, numba, numpy as np
    from langevin_opt import particles as lp
    x, box = lp.fcc_lattice(8, 0.8442)          # 2048 atoms: the threaded kernels
    s = lp.ParticleSystem(x, box=box)
    lj = lp.lennard_jones(cutoff=2.5, mode="truncated")
    out = []
    for threads, compiled in ((1, True), (2, True), (2, False)):
        numba.set_num_threads(threads)
        md = lp.Dynamics(s, lj, lp.LangevinBAOAB(0.005, 1.0), neighbors=lp.NeighborList(2.5),
                         seed=5)
        md._compiled_loop = compiled
        rec = md.run(40, record_every=9)
        assert md.neighbors.parallel
        out.append(np.concatenate([md.x.ravel(), md.v.ravel(), md.forces.ravel(),
                                   rec.potential_energy, rec.pressure,
                                   [md.energy, md.virial, md.neighbors.n_builds]]))
    np.save(sys.argv[1], np.stack(out))
""")


def test_bit_identical_for_one_and_two_threads_and_both_paths(tmp_path):
    env = dict(os.environ, NUMBA_NUM_THREADS="2")
    out = tmp_path / "t.npy"
    subprocess.run([sys.executable, "-c", _THREADS, str(out)], check=True, env=env,
                   cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    a = np.load(out)
    np.testing.assert_array_equal(a[0], a[1])
    np.testing.assert_array_equal(a[0], a[2])
