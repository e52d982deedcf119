"""Interoperability: files of langevin_opt's H5MDWriter read by MDAnalysis' H5MD reader.

MDAnalysis is a test extra (``pip install .[test]``).  MDAnalysis (2.11) builds a
topology from an H5MD file only for the particles group ``trajectory`` and only with
``unit`` attributes (``convert_units=True``); files written without units (as these raw
writer files are) load into an empty Universe with ``convert_units=False``.  Particle
trajectories (``open_trajectory``) declare units: see ``tests/test_h5md_interop.py``.
"""

from __future__ import annotations

import warnings

import MDAnalysis as mda
import numpy as np
import pytest

from langevin_opt.storage import H5MDWriter


def write_cluster(path, steps, positions, velocities, edges, **units):
    with H5MDWriter(
        path,
        n_particles=positions.shape[1],
        dim=3,
        particle_group="trajectory",
        creator_version="test",
        box_edges=edges,
        record_velocity=True,
        **units,
    ) as w:
        w.append_frames(steps, 0.5 * steps, positions, velocity=velocities)


def load_reduced(path, n_atoms):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no atom names/types to guess from
        u = mda.Universe.empty(n_atoms, trajectory=False)
        u.load_new(str(path), format="H5MD", convert_units=False)
    return u


@pytest.fixture
def cluster():
    rng = np.random.default_rng(3)
    steps = np.array([0, 10, 20, 30])
    edges = np.array([4.0, 5.0, 6.0])
    positions = rng.uniform(0.0, 1.0, size=(4, 7, 3)) * edges
    velocities = rng.normal(size=(4, 7, 3))
    return steps, positions, velocities, edges


def test_periodic_cluster_with_units_opens_as_universe(tmp_path, cluster):
    steps, positions, velocities, edges = cluster
    path = tmp_path / "cluster.h5md"
    write_cluster(path, steps, positions, velocities, edges, time_unit="ps", length_unit="nm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        u = mda.Universe(str(path))
    assert len(u.atoms) == 7
    assert len(u.trajectory) == 4
    assert u.trajectory.units["length"] == "nm"
    for ts in u.trajectory:
        i = ts.frame
        # MDAnalysis converts nm -> Angstrom and nm/ps -> Angstrom/ps
        np.testing.assert_allclose(ts.positions, 10.0 * positions[i], rtol=1e-6)
        np.testing.assert_allclose(ts.velocities, 10.0 * velocities[i], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(ts.dimensions, [*(10.0 * edges), 90.0, 90.0, 90.0], rtol=1e-6)
        assert ts.time == pytest.approx(0.5 * steps[i])
        assert ts.data["step"] == steps[i]


def test_periodic_cluster_in_reduced_units(tmp_path, cluster):
    steps, positions, velocities, edges = cluster
    path = tmp_path / "cluster.h5md"
    write_cluster(path, steps, positions, velocities, edges)
    u = load_reduced(path, 7)
    assert len(u.trajectory) == 4
    for ts in u.trajectory:
        i = ts.frame
        np.testing.assert_allclose(ts.positions, positions[i], rtol=1e-6)
        np.testing.assert_allclose(ts.dimensions, [*edges, 90.0, 90.0, 90.0], rtol=1e-6)
        assert ts.time == pytest.approx(0.5 * steps[i])


def test_walker_ensemble_with_observables(tmp_path):
    rng = np.random.default_rng(4)
    n_walkers = 6
    steps = np.arange(0, 50, 10)
    positions = rng.normal(size=(steps.size, n_walkers, 3))
    energies = (positions**2).sum(axis=2)
    path = tmp_path / "walkers.h5md"
    with H5MDWriter(path, n_particles=n_walkers, dim=3, creator_version="test") as w:
        w.append_frames(steps, 1e-3 * steps, positions)
        w.append_observables(steps, 1e-3 * steps, energy=energies, mean_energy=energies.mean(1))
        w.write_parameters({"kT": 0.3, "seed": 1})
        w.write_checkpoint(40, {"x": positions[-1]}, {})
    u = load_reduced(path, n_walkers)
    assert len(u.trajectory) == steps.size
    for ts in u.trajectory:
        i = ts.frame
        np.testing.assert_allclose(ts.positions, positions[i], rtol=1e-6, atol=1e-6)
        assert ts.dimensions is None  # boundary "none": no box
        assert ts.time == pytest.approx(1e-3 * steps[i])
        assert ts.data["step"] == steps[i]
        np.testing.assert_allclose(ts.data["energy"], energies[i])
        assert ts.data["mean_energy"] == pytest.approx(energies[i].mean())


def test_killed_run_index_reads_as_one_trajectory(tmp_path, cluster, monkeypatch):
    """A run killed before ``close``: its index file (virtual datasets over the segment
    files, one per flush) is one H5MD trajectory for MDAnalysis, from any directory."""
    steps, positions, velocities, edges = cluster
    path = tmp_path / "killed.h5md"
    w = H5MDWriter(path, n_particles=7, dim=3, particle_group="trajectory",
                   creator_version="test", box_edges=edges, record_velocity=True,
                   time_unit="ps", length_unit="nm")
    for i in range(4):  # four flushes: four segments, merged into one
        w.append_frames(steps[i:i + 1], 0.5 * steps[i:i + 1], positions[i:i + 1],
                        velocity=velocities[i:i + 1])
        w.append_observables(steps[i:i + 1], 0.5 * steps[i:i + 1], energy=[float(i)])
        w.flush()
    w.append_frames([40], [20.0], positions[:1], velocity=velocities[:1])
    w.append_observables([40], [20.0], energy=[4.0])
    w.flush()  # a fifth segment beside the merged one
    w._release()  # as if the process had been killed: no consolidation
    assert (tmp_path / "killed.h5md.seg").is_dir()
    monkeypatch.chdir("/")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        u = mda.Universe(str(path))
    assert len(u.trajectory) == 5
    for ts in u.trajectory:
        i = ts.frame
        expected = positions[i] if i < 4 else positions[0]
        np.testing.assert_allclose(ts.positions, 10.0 * expected, rtol=1e-6)
        assert ts.data["step"] == (steps[i] if i < 4 else 40)
        assert ts.data["energy"] == float(i)
