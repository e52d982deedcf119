"""A second, independent H5MD reader: pyh5md (test extra) reads every file kind.

pyh5md follows the H5MD step/time datasets of each element (it does not index by frame
number), so it finds the recorded observable series at their own steps and the
frame-aligned observables at the frames' steps.  The files are those of
``tests/test_h5md_interop.py`` (every particle-run kind) plus a 2-D walker ensemble.
"""

from __future__ import annotations

import numpy as np
import pyh5md
import pytest
from test_h5md_interop import FRAME_OBSERVABLES, KINDS

from langevin_opt.storage import H5MDReader, H5MDWriter


@pytest.fixture(scope="module", params=sorted(KINDS))
def particle_path(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(request.param) / f"{request.param}.h5md"
    KINDS[request.param](path)
    return path


def _check_elements(f, r):
    n = r.n_frames
    group = f.particles_group(r.particle_group)
    pos = pyh5md.element(group, "position")
    assert pos.element_type == "TimeElement"
    np.testing.assert_array_equal(pos.step[:n], r.steps)
    np.testing.assert_array_equal(pos.time[:n], r.times)
    np.testing.assert_array_equal(pos.value[:n], r.position())
    box = group["box"]
    assert box.attrs["dimension"] == r.dim
    if "edges" in box:
        edges = pyh5md.element(box, "edges")
        np.testing.assert_array_equal(edges.step[:n], r.steps)  # hard link to position's
        np.testing.assert_array_equal(edges.value[:n], np.broadcast_to(r.box.edges, (n, r.dim)))
    return n


def test_pyh5md_reads_every_particle_file(particle_path):
    with pyh5md.File(str(particle_path), "r") as f, H5MDReader(particle_path) as r:
        n = _check_elements(f, r)
        vel = pyh5md.element(f.particles_group("trajectory"), "velocity")
        np.testing.assert_array_equal(vel.value[:n], r.velocity())
        assert vel.value.attrs["unit"] == "nm ps-1"
        for name in FRAME_OBSERVABLES:  # one row per frame, at the frames' steps
            el = pyh5md.element(f["observables"], name)
            np.testing.assert_array_equal(el.step[:n], r.steps)
            np.testing.assert_array_equal(el.value[:n],
                                          r.observable(name, at_frames=True)[2])
        series = f["observable_series"]
        assert set(series) == set(FRAME_OBSERVABLES) - {"dt"}
        for name in series:  # every recorded row, at its own steps
            el = pyh5md.element(series, name)
            steps, times, values = r.observable(name)
            np.testing.assert_array_equal(el.step[()], steps)
            np.testing.assert_array_equal(el.time[()], times)
            np.testing.assert_array_equal(el.value[()], values)
            # a step-following reader finds the frame's value in the series at its step
            frames = pyh5md.element(f["observables"], name)
            for i, step in enumerate(r.steps):
                k = np.flatnonzero(el.step[()] == step)
                if k.size:
                    np.testing.assert_array_equal(el.value[k[0]], frames.value[i])


def test_pyh5md_reads_a_walker_file(tmp_path):
    path = tmp_path / "walkers.h5md"
    rng = np.random.default_rng(1)
    steps = np.arange(0, 40, 10)
    x = rng.normal(size=(4, 5, 2))
    with H5MDWriter(path, n_particles=5, dim=2, creator_version="test") as w:
        w.append_frames(steps, 0.01 * steps, x)
        w.append_observables(steps, 0.01 * steps, energy=(x**2).sum(2))
        w.append_observables([35], [0.35], acceptance=[0.8])
    with pyh5md.File(str(path), "r") as f, H5MDReader(path) as r:
        _check_elements(f, r)
        for name in ("energy", "acceptance"):
            el = pyh5md.element(f["observables"], name)
            steps_r, _, values = r.observable(name)
            np.testing.assert_array_equal(el.step[()], steps_r)
            np.testing.assert_array_equal(el.value[()], values)
