"""Every kind of particle-run H5MD file, read by MDAnalysis and by the H5MD spec.

Issue 18: ``MDAnalysis.Universe(path)`` (no options) must open every 3-D particle
trajectory, with units, the right ``dt``, and observables that MDAnalysis (which
indexes ``/observables/<name>/value`` by frame number) sees at the frame's step.
The kinds: a periodic liquid, an open cluster with forces, a run killed before
``close`` (index + segment files), a run resumed with ``mode="a"``, and the README's
``liquid.h5md``.  Each is checked frame by frame against this package's
:class:`H5MDReader` and against the run's own in-memory record; a second test follows
the H5MD 1.1 spec (step/time datasets, units module, hard links) with plain h5py.
``tests/test_h5md_pyh5md.py`` reads the same files with pyh5md.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import h5py
import MDAnalysis as mda
import numpy as np
import pytest

from langevin_opt import particles as lp
from langevin_opt.particles.dynamics import FRAME_OBSERVABLES
from langevin_opt.storage import H5MDReader, H5MDWriter
from langevin_opt.storage.h5md import REDUCED_UNITS

README = Path(__file__).resolve().parents[1] / "README.md"
DT = 0.005
NM_TO_ANGSTROM = 10.0  # MDAnalysis converts the declared nm to its Angstrom


def _liquid(seed=1):
    x, box = lp.fcc_lattice(2, 0.8442)  # 32 atoms
    s = lp.ParticleSystem(x, box=box)
    md = lp.Dynamics(s, lp.lennard_jones(cutoff=1.6, mode="truncated"),
                     lp.LangevinBAOAB(dt=DT, friction=1.0), temperature=1.0,
                     neighbors=lp.NeighborList(1.6, skin=0.3), seed=seed)
    return s, md


def _cluster():
    x = lp.fcc_lattice(2, 1.0)[0][:13] * 1.1
    s = lp.ParticleSystem(x)
    md = lp.Dynamics(s, lp.lennard_jones(mode="plain"), lp.VelocityVerlet(dt=DT),
                     temperature=0.2, seed=2)
    return s, md


def make_periodic(path):
    s, md = _liquid()
    with lp.open_trajectory(path, s) as w:  # frames at 25, 50, 75, 100; records every 10
        rec = md.run(100, record_every=10, writer=w, frame_every=25)
    return rec, 25 * DT


def make_cluster(path):
    s, md = _cluster()
    with lp.open_trajectory(path, s, record_force=True) as w:
        rec = md.run(24, record_every=3, writer=w, frame_every=4)
    return rec, 4 * DT


def make_killed(path):
    s, md = _liquid(seed=3)
    w = lp.open_trajectory(path, s, buffer_bytes=0)  # a segment file per frame
    rec = md.run(60, record_every=10, writer=w, frame_every=20)
    w.flush()  # the writer thread has published every frame handed to it
    w._release()  # as if killed: no consolidation, the index and its segments stay
    assert Path(str(path) + ".seg").is_dir()
    return rec, 20 * DT


def make_resumed(path):
    s, md = _liquid(seed=4)
    with lp.open_trajectory(path, s) as w:
        first = md.run(40, record_every=10, writer=w, frame_every=20)
    with H5MDWriter(path, mode="a", n_particles=s.n_atoms, dim=3, particle_group="trajectory",
                    creator_version="test", box_edges=s.box, record_velocity=True,
                    record_image=True) as w:  # units and frame observables from the file
        second = md.run(40, record_every=10, writer=w, frame_every=20)
    rec = {k: np.concatenate([getattr(first, k), getattr(second, k)])
           for k in ("step", "temperature", "potential_energy")}
    return rec, 20 * DT


def make_readme(path):
    """The README block that writes ``liquid.h5md``, run as written up to ``md.run``."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    block = next(b for b in blocks if "liquid.h5md" in b)
    lines = block.splitlines()
    end = next(i for i, line in enumerate(lines) if "md.run(" in line)
    code = "\n".join(lines[:end + 1]).replace('"liquid.h5md"', repr(str(path)))
    ns: dict = {}
    exec(compile(code, str(README), "exec"), ns)  # noqa: S102 - our own documentation
    md = ns["md"]
    every = int(re.search(r"frame_every=(\d+)", code).group(1))
    return ns["record"], every * md.integrator.dt


KINDS = {"periodic": make_periodic, "cluster": make_cluster, "killed": make_killed,
         "resumed": make_resumed, "readme": make_readme}


@pytest.fixture(scope="module", params=sorted(KINDS))
def particle_file(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(request.param) / f"{request.param}.h5md"
    rec, frame_dt = KINDS[request.param](path)
    rec = rec if isinstance(rec, dict) else {k: getattr(rec, k) for k in
                                             ("step", "temperature", "potential_energy")}
    return request.param, path, rec, frame_dt


def _universe(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no atom names to guess types from
        return mda.Universe(str(path))


def _same(a, b):
    np.testing.assert_array_equal(np.asarray(a, dtype=np.float64), np.asarray(b))


def test_mdanalysis_universe_opens_every_particle_file(particle_file):
    kind, path, rec, frame_dt = particle_file
    u = _universe(path)
    with H5MDReader(path) as r:
        assert len(u.atoms) == r.n_particles
        assert len(u.trajectory) == r.n_frames >= 3
        assert u.trajectory.units["length"] == "nm" and u.trajectory.units["time"] == "ps"
        assert u.trajectory.dt == pytest.approx(frame_dt, rel=1e-12)  # was 1.0 with a warning
        framed = {name: r.observable(name, at_frames=True) for name in FRAME_OBSERVABLES}
        box = r.box.edges
        record_step = {int(s): i for i, s in enumerate(rec["step"])}
        aligned_with_record = 0
        for ts in u.trajectory:
            i = ts.frame
            step = int(r.steps[i])
            assert ts.data["step"] == step
            assert ts.time == pytest.approx(r.times[i], rel=1e-12)
            np.testing.assert_allclose(ts.positions, NM_TO_ANGSTROM * r.position(i), rtol=2e-7,
                                       atol=1e-5)
            np.testing.assert_allclose(ts.velocities, NM_TO_ANGSTROM * r.velocity(i), rtol=2e-7,
                                       atol=1e-5)
            if kind == "cluster":
                assert ts.dimensions is None
                np.testing.assert_allclose(ts.forces, r.force(i) / NM_TO_ANGSTROM, rtol=2e-7,
                                           atol=1e-6)
            else:
                np.testing.assert_allclose(ts.dimensions,
                                           [*(NM_TO_ANGSTROM * box), 90.0, 90.0, 90.0],
                                           rtol=1e-6)
            for name, (steps, _, values) in framed.items():
                assert steps[i] == step
                _same(ts.data[name], values[i])
            # the run's own record (independent of the file) at this frame's step
            if step in record_step:
                k = record_step[step]
                aligned_with_record += 1
                assert ts.data["temperature"] == rec["temperature"][k]
                assert ts.data["potential_energy"] == rec["potential_energy"][k]
        assert aligned_with_record >= 2
    u.trajectory.close()


def test_series_and_frame_rows_follow_the_h5md_spec(particle_file):
    """The H5MD 1.1 layout, followed with plain h5py: explicit step/time datasets, the
    units module, hard links; the dense series where its steps say."""
    kind, path, rec, frame_dt = particle_file
    with h5py.File(path, "r") as f, H5MDReader(path) as r:
        assert tuple(f["h5md"].attrs["version"]) == (1, 1)
        units = f["h5md/modules/units"]
        assert tuple(units.attrs["version"]) == (1, 0)
        assert units.attrs["system"] == REDUCED_UNITS.system
        g = f["particles/trajectory"]
        pos = g["position"]
        assert pos["value"].attrs["unit"] == "nm" and pos["time"].attrs["unit"] == "ps"
        assert "unit" not in pos["step"].attrs  # never on step (units module)
        assert g["velocity/value"].attrs["unit"] == "nm ps-1"
        if "force" in g:
            assert g["force/value"].attrs["unit"] == "kJ mol-1 nm-1"
        assert g["box"].attrs["dimension"] == 3
        if kind != "cluster":
            assert g["box/edges/value"].attrs["unit"] == "nm"
            assert g["box/edges/step"] == pos["step"]  # hard link (required by H5MD)
        n = r.n_frames
        steps = pos["step"][:n]
        # frame-aligned observables: step/time are position's (hard links)
        for name in FRAME_OBSERVABLES:
            el = f["observables"][name]
            assert el["step"] == pos["step"] and el["time"] == pos["time"]
            assert el["value"].shape[0] >= n
        assert f["observables/dt"]["value"].attrs["unit"] == "ps"
        np.testing.assert_allclose(f["observables/dt/value"][:n], frame_dt, rtol=1e-12)
        # the series: every recorded row, with its own steps; a spec reader finds each
        # frame's value at the frame's step wherever the series has that step
        series = f["observable_series"]
        assert set(FRAME_OBSERVABLES) - {"dt"} <= set(series)
        t = series["temperature"]
        s_steps, s_times = t["step"][()], t["time"][()]
        assert s_steps.dtype.kind == "i" and s_steps.ndim == 1
        assert len(s_steps) == len(s_times) == t["value"].shape[0] > n
        assert np.all(np.diff(s_steps) > 0)
        assert t["time"].attrs["unit"] == "ps" and t["value"].attrs["unit"] == "kJ mol-1"
        _same(s_steps, rec["step"])
        _same(t["value"][()], rec["temperature"])
        np.testing.assert_allclose(s_times, s_steps * (frame_dt / (steps[1] - steps[0])),
                                   rtol=1e-12)
        common = np.intersect1d(steps, s_steps)
        assert common.size >= 2
        for step in common:
            i, k = int(np.flatnonzero(steps == step)[0]), int(np.flatnonzero(s_steps == step)[0])
            for name in ("temperature", "potential_energy", "pressure"):
                a = f["observables"][name]["value"][i]
                b = series[name]["value"][k]
                assert a == b or (math.isnan(a) and math.isnan(b))
        # the package's reader: the series by default, frame-aligned on request
        _same(r.observable("temperature")[2], rec["temperature"])
        _same(r.observable("temperature", at_frames=True)[0], steps)


def test_walker_files_stay_h5md_and_mdanalysis_says_why_not(tmp_path):
    """A 2-D walker ensemble (runner layout: observables at their own steps, no units):
    valid H5MD for spec readers; MDAnalysis refuses it with the documented reason."""
    path = tmp_path / "walkers.h5md"
    rng = np.random.default_rng(0)
    steps = np.arange(0, 50, 10)
    x = rng.normal(size=(5, 4, 2))
    with H5MDWriter(path, n_particles=4, dim=2, creator_version="test") as w:
        w.append_frames(steps, 0.01 * steps, x)
        w.append_observables(steps, 0.01 * steps, energy=(x**2).sum(2))
        w.append_observables([45], [0.45], acceptance=[0.9])
    with h5py.File(path, "r") as f:
        assert tuple(f["h5md"].attrs["version"]) == (1, 1)
        assert "observable_series" not in f  # no frame observables: series in /observables
        for name in ("energy", "acceptance"):
            el = f["observables"][name]
            assert el["step"].ndim == 1 and el["step"].shape[0] == el["value"].shape[0]
        _same(f["observables/acceptance/step"][()], [45])
    with H5MDReader(path) as r:
        assert r.observable_names == ["acceptance", "energy"]
        assert r.frame_observable_names == []
    with pytest.raises(ValueError, match="3-dimensional"):
        mda.Universe.empty(4, trajectory=False).load_new(str(path), format="H5MD",
                                                         convert_units=False)


def test_frame_observables_are_checked(tmp_path):
    kw = dict(n_particles=2, dim=3, creator_version="t", frame_observables=("dt",))
    with H5MDWriter(tmp_path / "a.h5md", **kw) as w:
        with pytest.raises(ValueError, match="frame observables"):
            w.append_frames([1], [0.1], np.zeros((1, 2, 3)))
        with pytest.raises(ValueError, match="shape"):
            w.append_frames([1], [0.1], np.zeros((1, 2, 3)), observables={"dt": [0.1, 0.2]})
        w.append_frames([1], [0.1], np.zeros((1, 2, 3)), observables={"dt": [0.1]})
    with pytest.raises(ValueError, match="does not match"):
        H5MDWriter(tmp_path / "a.h5md", mode="a", **{**kw, "frame_observables": ("T",)})
    with pytest.raises(ValueError, match="not both"):
        H5MDWriter(tmp_path / "b.h5md", n_particles=2, dim=3, creator_version="t",
                   units=REDUCED_UNITS, time_unit="ps")


def test_frame_observables_truncate_and_resume_with_the_frames(tmp_path):
    """Frame-aligned rows belong to the frames: truncate_to_step and mode="a" keep the
    two in step, and MDAnalysis still sees each frame's own value."""
    path = tmp_path / "t.h5md"
    kw = dict(n_particles=2, dim=3, particle_group="trajectory", creator_version="t",
              units=REDUCED_UNITS, frame_observables=("energy", "dt"))
    x = np.arange(6 * 2 * 3, dtype=float).reshape(6, 2, 3)
    with H5MDWriter(path, **kw) as w:
        for i in range(4):
            s = 10 * (i + 1)
            w.append_frames([s], [0.1 * s], x[i:i + 1],
                            observables={"energy": [float(s)], "dt": [1.0]})
            w.append_observables([s - 5, s], [0.1 * s - 0.5, 0.1 * s], energy=[-s, float(s)])
            w.flush()
        w.truncate_to_step(25)
    with H5MDWriter(path, mode="a", n_particles=2, dim=3, particle_group="trajectory",
                    creator_version="t") as w:
        assert set(w.frame_observables) == {"energy", "dt"} and w.time_unit == "ps"
        w.append_frames([30], [3.0], x[4:5], observables={"energy": [30.0], "dt": [1.0]})
        w.append_observables([30], [3.0], energy=[30.0])
    with H5MDReader(path) as r:
        _same(r.steps, [10, 20, 30])
        _same(r.observable("energy", at_frames=True)[2], [10.0, 20.0, 30.0])
        _same(r.observable("energy")[0], [5, 10, 15, 20, 25, 30])  # 25 <= 25 is kept
    u = _universe(path)
    assert [float(ts.data["energy"]) for ts in u.trajectory] == [10.0, 20.0, 30.0]
    assert u.trajectory.dt == 1.0
    u.trajectory.close()
