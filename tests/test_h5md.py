"""Tests for langevin_opt.storage.h5md: layout, round trips, validation, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

import langevin_opt.storage.h5md as h5md_module
from langevin_opt.storage import Box, H5MDReader, H5MDWriter

REPO_ROOT = Path(h5md_module.__file__).resolve().parents[2]
N, D = 5, 3


def expected_position(steps, n=N, dim=D):
    """Deterministic positions: every value encodes (step, particle, axis)."""
    steps = np.asarray(steps, dtype=np.float64)
    return steps[:, None, None] + np.arange(n)[None, :, None] * 1e-3 + np.arange(dim) * 1e-6


def make_writer(path, **kwargs):
    options = {"n_particles": N, "dim": D, "creator_version": "0.0-test"}
    options.update(kwargs)
    return H5MDWriter(path, **options)


def assert_params_equal(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert sorted(a) == sorted(b)  # the HDF5 tree sorts names; JSON keeps order
        for key in a:
            assert_params_equal(a[key], b[key])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_params_equal(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


# --------------------------------------------------------------------------
# layout
# --------------------------------------------------------------------------


def test_layout_follows_h5md_1_1(tmp_path):
    path = tmp_path / "layout.h5md"
    with make_writer(
        path,
        author="Ada",
        creator="langevin_opt",
        box_edges=[1.0, 2.0, 3.0],
        record_velocity=True,
        record_force=True,
        record_image=True,
        time_unit="ps",
        length_unit="nm",
    ) as w:
        steps = np.arange(4)
        x = expected_position(steps)
        w.append_frames(steps, 0.1 * steps, x, velocity=x, force=x, image=np.ones(x.shape, int))
    with h5py.File(path, "r") as f:
        assert f["h5md"].attrs["version"].tolist() == [1, 1]
        assert f["h5md"].attrs["version"].dtype.kind == "i"
        assert f["h5md/author"].attrs["name"] == b"Ada"
        assert f["h5md/creator"].attrs["name"] == b"langevin_opt"
        assert f["h5md/creator"].attrs["version"] == b"0.0-test"
        assert f["h5md/modules/units"].attrs["version"].tolist() == [1, 0]
        group = f["particles/walkers"]
        box = group["box"]
        assert int(box.attrs["dimension"]) == 3
        assert box.attrs["boundary"].tolist() == [b"periodic"] * 3
        np.testing.assert_array_equal(box["edges/value"][:], np.tile([1.0, 2.0, 3.0], (4, 1)))
        position = group["position"]
        assert position["step"].dtype == np.int64
        assert position["time"].dtype == np.float64
        assert position["value"].dtype == np.float64
        assert position["value"].shape == (4, N, D)
        assert position["value"].maxshape == (None, N, D)
        assert position["value"].chunks is not None
        assert position["step"].maxshape == (None,)
        assert group["image/value"].dtype == np.int64
        for name in ("velocity", "force", "image"):
            assert group[f"{name}/step"].id == position["step"].id  # hard links
            assert group[f"{name}/time"].id == position["time"].id
        assert box["edges/step"].id == position["step"].id
        assert position["value"].attrs["unit"] == "nm"
        assert position["time"].attrs["unit"] == "ps"
        assert group["velocity/value"].attrs["unit"] == "nm ps-1"
        assert "unit" not in position["step"].attrs
        assert position["value"].compression is None
    # superblock version 3 (metadata checksums); the file was written to a temporary name
    # and closed before it was renamed into place: its "open for writing" flags are clear
    head = path.read_bytes()
    assert head[8] == 3 and head[11] == 0


def test_open_boundary_has_no_edges_and_no_units(tmp_path):
    path = tmp_path / "open.h5md"
    with make_writer(path, dim=2) as w:
        w.append_frames([0], [0.0], np.zeros((1, N, 2)))
    with h5py.File(path, "r") as f:
        box = f["particles/walkers/box"]
        assert box.attrs["boundary"].tolist() == [b"none", b"none"]
        assert "edges" not in box
        assert "modules" not in f["h5md"]
        assert "unit" not in f["particles/walkers/position/value"].attrs
    with H5MDReader(path) as r:
        assert r.box == Box(2, ("none", "none"), None)
        assert r.dim == 2 and r.n_particles == N


@pytest.mark.parametrize("compression", ["gzip", "lzf", None])
def test_compression_and_chunks(tmp_path, compression):
    path = tmp_path / "c.h5md"
    with make_writer(path, compression=compression, chunk_frames=7) as w:
        steps = np.arange(20)
        w.append_frames(steps, steps * 1.0, expected_position(steps))
        w.append_observables(steps, steps * 1.0, energy=steps * 2.0)
    with h5py.File(path, "r") as f:
        value = f["particles/walkers/position/value"]
        assert value.compression == compression
        assert value.chunks == (7, N, D)
        assert f["observables/energy/value"].chunks == (7,)
    with H5MDReader(path) as r:
        np.testing.assert_array_equal(r.position(), expected_position(np.arange(20)))


def test_auto_chunking_is_bounded(tmp_path):
    with make_writer(tmp_path / "a.h5md", n_particles=100_000, dim=3) as w:
        w.append_frames([0], [0.0], np.zeros((1, 100_000, 3)))
    with h5py.File(tmp_path / "a.h5md", "r") as f:
        assert f["particles/walkers/position/value"].chunks[0] == 1
        assert f["particles/walkers/position/step"].chunks[0] == 1024


# --------------------------------------------------------------------------
# round trips
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [1, 2, 3])
@pytest.mark.parametrize("periodic", [False, True])
def test_frames_round_trip(tmp_path, dim, periodic):
    path = tmp_path / "rt.h5md"
    edges = np.arange(1.0, dim + 1.0) if periodic else None
    rng = np.random.default_rng(dim)
    chunks = [np.arange(0, 3), np.arange(5, 6), np.arange(10, 17)]
    xs, vs, fs, ims = [], [], [], []
    with make_writer(
        path,
        dim=dim,
        box_edges=edges,
        record_velocity=True,
        record_force=True,
        record_image=periodic,
        chunk_frames=4,
    ) as w:
        for steps in chunks:
            shape = (steps.size, N, dim)
            x, v, fo = rng.normal(size=shape), rng.normal(size=shape), rng.normal(size=shape)
            im = rng.integers(-3, 3, size=shape) if periodic else None
            w.append_frames(steps, steps * 0.01, x, velocity=v, force=fo, image=im)
            xs.append(x), vs.append(v), fs.append(fo), ims.append(im)
    steps = np.concatenate(chunks)
    with H5MDReader(path) as r:
        assert r.particle_group == "walkers"
        assert r.n_frames == steps.size
        np.testing.assert_array_equal(r.steps, steps)
        np.testing.assert_array_equal(r.times, steps * 0.01)
        np.testing.assert_array_equal(r.position(), np.concatenate(xs))
        np.testing.assert_array_equal(r.velocity(), np.concatenate(vs))
        np.testing.assert_array_equal(r.force(), np.concatenate(fs))
        if periodic:
            np.testing.assert_array_equal(r.image(), np.concatenate(ims))
            assert r.box.boundary == ("periodic",) * dim
            np.testing.assert_array_equal(r.box.edges, edges)
        else:
            with pytest.raises(KeyError, match="image was not recorded"):
                r.image(0)


def test_reader_frame_selection(tmp_path):
    path = tmp_path / "sel.h5md"
    steps = np.arange(0, 60, 10)
    with make_writer(path) as w:
        w.append_frames(steps, steps * 0.5, expected_position(steps))
    full = expected_position(steps)
    with H5MDReader(path) as r:
        np.testing.assert_array_equal(r.position(2), full[2])
        np.testing.assert_array_equal(r.position(-1), full[-1])
        np.testing.assert_array_equal(r.position(slice(1, 5, 2)), full[1:5:2])
        np.testing.assert_array_equal(r.position(slice(None, None, -2)), full[::-2])
        assert r.position(slice(4, 2)).shape == (0, N, D)
        with pytest.raises(IndexError, match="frame 6 out of range for 6 frames"):
            r.position(6)
        with pytest.raises(ValueError, match="frame must be an int or a slice"):
            r.position(1.5)
        with pytest.raises(KeyError, match="velocity was not recorded"):
            r.velocity(0)


def test_observables_round_trip(tmp_path):
    path = tmp_path / "obs.h5md"
    with make_writer(path) as w:
        s1 = np.array([0, 2, 4])
        w.append_observables(s1, s1 * 0.1, potential_energy=s1 * 1.5, energy=np.ones((3, N)))
        s2 = np.array([6, 8])
        w.append_observables(s2, s2 * 0.1, potential_energy=[7.0, 8.0], energy=np.zeros((2, N)))
        w.append_observables([100], [10.0], accepted=np.array([3]))
    with H5MDReader(path) as r:
        assert r.observable_names == ["accepted", "energy", "potential_energy"]
        steps, times, values = r.observable("potential_energy")
        np.testing.assert_array_equal(steps, [0, 2, 4, 6, 8])
        np.testing.assert_allclose(times, [0.0, 0.2, 0.4, 0.6, 0.8])
        np.testing.assert_array_equal(values, [0.0, 3.0, 6.0, 7.0, 8.0])
        steps, _, values = r.observable("energy")
        assert values.shape == (5, N)
        np.testing.assert_array_equal(values[:3], 1.0)
        np.testing.assert_array_equal(values[3:], 0.0)
        assert r.observable("accepted")[2].dtype == np.float64
        assert r.n_frames == 0
        with pytest.raises(KeyError, match="no observable 'missing'"):
            r.observable("missing")


def test_parameters_round_trip_exactly(tmp_path):
    path = tmp_path / "p.h5md"
    params = {
        "kT": 0.5,
        "dt": 1e-3,
        "seed": 12345678901,
        "integrator": "BAOAB",
        "adaptive": False,
        "note": None,
        "temperatures": [0.1, 0.2, 0.4],
        "sizes": [1, 2, 3],
        "flags": [True, False],
        "names": ["a", "b"],
        "mixed": [1, "two", 3.0, None, {"x": 1}, [1, 2]],
        "empty_list": [],
        "empty_dict": {},
        "start": np.array([[1.0, 2.0], [3.0, 4.0]]),
        "counters": np.array([1, 2**63 + 5], dtype=np.uint64),
        "mask": np.array([True, False]),
        "landscape": {"name": "muller_brown", "scale": np.float32(0.25), "nested": {"n": 3}},
    }
    with make_writer(path) as w:
        w.write_parameters({"old": 1})
        w.write_parameters(params)
    expected = dict(params)
    expected["landscape"] = {"name": "muller_brown", "scale": 0.25, "nested": {"n": 3}}
    with H5MDReader(path) as r:
        assert_params_equal(r.parameters, expected)
        assert list(r.parameters) == list(expected)
    with h5py.File(path, "r") as f:
        group = f["parameters"]
        assert group.attrs["kT"] == 0.5 and group.attrs["integrator"] == "BAOAB"
        assert group["start"].dtype == np.float64 and group["counters"].dtype == np.uint64
        assert group["landscape"].attrs["name"] == "muller_brown"
        assert "old" not in group.attrs


def test_parameters_tree_fallback_without_json(tmp_path):
    path = tmp_path / "p.h5md"
    params = {
        "kT": 0.5,
        "seed": 7,
        "on": True,
        "name": "x",
        "none": None,
        "sizes": [1, 2],
        "temps": [0.5, 1.0],
        "names": ["a", "b"],
        "mixed": [1, "a"],
        "arr": np.arange(6.0).reshape(2, 3),
        "sub": {"deep": {"k": -1}},
    }
    with make_writer(path) as w:
        w.write_parameters(params)
    with h5py.File(path, "r+") as f:
        del f["parameters"].attrs["langevin_opt_json"]
    with H5MDReader(path) as r:
        assert_params_equal(r.parameters, params)


@pytest.mark.parametrize(
    ("mapping", "match"),
    [
        ({1: 2}, "parameter keys must be str"),
        ({"a/b": 1}, "parameter key in parameters must be a non-empty str without '/'"),
        ({"sub": {"": 1}}, "parameter key in /sub must be a non-empty str"),
        ({"langevin_opt_json": 1}, "is reserved"),
        ({"s": {1, 2}}, "parameter /s has type set; allowed: dict, str, int"),
        ({"c": np.array([1j])}, "parameter /c has array dtype complex128"),
        ({"big": 2**64}, "does not fit in int64"),
        ({"l": [1, object()]}, r"parameter /l\[1\] has type object"),
    ],
)
def test_parameters_validation(tmp_path, mapping, match):
    with make_writer(tmp_path / "p.h5md") as w:
        with pytest.raises(ValueError, match=match) as err:
            w.write_parameters(mapping)
        with pytest.raises(ValueError, match="mapping must be a dict"):
            w.write_parameters([("a", 1)])
    assert "\n" not in str(err.value)


def test_checkpoint_round_trip_and_replace(tmp_path):
    path = tmp_path / "ck.h5md"
    with make_writer(path) as w:
        w.write_checkpoint(10, {"x": np.ones((N, D)), "rng": np.array([1, 2], np.uint64)}, {"a": 1})
        w.write_checkpoint(
            20,
            {"x": np.full((N, D), 2.0), "rng": np.array([3, 2**64 - 1], np.uint64)},
            {"kT": 0.25, "name": "run", "ok": True, "none": None, "vec": np.arange(3)},
        )
    with H5MDReader(path) as r:
        step, arrays, attrs = r.checkpoint()
    assert step == 20
    np.testing.assert_array_equal(arrays["x"], 2.0)
    assert arrays["rng"].dtype == np.uint64 and arrays["rng"][1] == 2**64 - 1
    vec = attrs.pop("vec")
    np.testing.assert_array_equal(vec, np.arange(3))
    assert attrs == {"kT": 0.25, "name": "run", "ok": True, "none": None}
    with h5py.File(path, "r") as f:
        assert "checkpoint_new" not in f and "checkpoint_old" not in f


def test_no_checkpoint_returns_none(tmp_path):
    with make_writer(tmp_path / "x.h5md"):
        pass
    with H5MDReader(tmp_path / "x.h5md") as r:
        assert r.checkpoint() is None
        assert r.parameters == {}
        assert r.observable_names == []
        assert r.n_frames == 0 and r.steps.shape == (0,)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda w: w.write_checkpoint(1.5, {}), "step must be an int"),
        (lambda w: w.write_checkpoint(1, [np.ones(2)]), "arrays must be a dict"),
        (lambda w: w.write_checkpoint(1, {"a/b": np.ones(2)}), "checkpoint array name"),
        (lambda w: w.write_checkpoint(1, {"s": np.array(["x"])}), "must be numeric"),
        (lambda w: w.write_checkpoint(1, {}, {"langevin_opt_step": 1}), "checkpoint attr names"),
        (lambda w: w.write_checkpoint(1, {}, {"d": {"a": 1}}), "checkpoint attr d has type dict"),
        (lambda w: w.write_checkpoint(1, {}, [1]), "attrs must be a dict"),
    ],
)
def test_checkpoint_validation(tmp_path, call, match):
    with make_writer(tmp_path / "x.h5md") as w:
        with pytest.raises(ValueError, match=match) as err:
            call(w)
    assert "\n" not in str(err.value)


def test_truncate_to_step_and_resume(tmp_path):
    path = tmp_path / "t.h5md"
    steps = np.arange(0, 100, 10)
    with make_writer(path, record_velocity=True, box_edges=[3.0, 3.0, 3.0]) as w:
        w.append_frames(
            steps, steps * 0.1, expected_position(steps), velocity=expected_position(steps)
        )
        w.append_observables(steps[::2], steps[::2] * 0.1, energy=steps[::2] * 1.0)
        w.write_checkpoint(45, {"x": np.zeros(3)}, {})
        w.truncate_to_step(45)
        with pytest.raises(ValueError, match="larger than the last written step 40"):
            w.append_frames([40], [4.0], expected_position([40]), velocity=expected_position([40]))
        w.append_frames([50], [5.0], expected_position([50]) + 1, velocity=expected_position([50]))
        w.append_observables([50], [5.0], energy=[-1.0])
    with H5MDReader(path) as r:
        np.testing.assert_array_equal(r.steps, [0, 10, 20, 30, 40, 50])
        np.testing.assert_array_equal(r.position(-1), expected_position([50])[0] + 1)
        assert r.velocity().shape == (6, N, D)
        s, _, v = r.observable("energy")
        np.testing.assert_array_equal(s, [0, 20, 40, 50])
        np.testing.assert_array_equal(v, [0.0, 20.0, 40.0, -1.0])
        assert r.checkpoint()[0] == 45
    with h5py.File(path, "r") as f:
        assert f["particles/walkers/box/edges/value"].shape == (6, 3)
    with make_writer(path, mode="a", record_velocity=True, box_edges=[3.0, 3.0, 3.0]) as w:
        w.truncate_to_step(-1)
        with pytest.raises(ValueError, match="step must be an int"):
            w.truncate_to_step("5")
    with H5MDReader(path) as r:
        assert r.n_frames == 0 and r.observable("energy")[0].size == 0


def test_buffering_and_flush(tmp_path):
    path = tmp_path / "b.h5md"
    w = make_writer(path, buffer_bytes=10**9)
    w.append_frames([0, 1], [0.0, 1.0], expected_position([0, 1]))
    with h5py.File(path, "r") as f:  # same process: sees the library's state, not the disk
        assert f["particles/walkers/position/value"].shape[0] == 0
    w.flush()
    with h5py.File(path, "r") as f:
        assert f["particles/walkers/position/value"].shape[0] == 2
        assert f["particles/walkers/position"].attrs["langevin_opt_committed_rows"] == 2
    w.buffer_bytes = 0
    w.append_frames([2], [2.0], expected_position([2]))  # over the limit: flushes itself
    with h5py.File(path, "r") as f:
        assert f["particles/walkers/position/value"].shape[0] == 3
    w.close()
    w.close()
    assert w.closed
    with pytest.raises(ValueError, match="is closed"):
        w.append_frames([3], [3.0], expected_position([3]))


def test_context_manager_flushes_on_error(tmp_path):
    path = tmp_path / "e.h5md"
    with pytest.raises(RuntimeError):
        with make_writer(path) as w:
            w.append_frames([0], [0.0], expected_position([0]))
            raise RuntimeError("boom")
    with H5MDReader(path) as r:
        assert r.n_frames == 1


# --------------------------------------------------------------------------
# modes and validation
# --------------------------------------------------------------------------


def test_mode_w_refuses_to_overwrite(tmp_path):
    path = tmp_path / "exists.h5md"
    with make_writer(path) as w:
        w.append_frames([0], [0.0], expected_position([0]))
    with pytest.raises(FileExistsError, match="already exists; pass overwrite=True") as err:
        make_writer(path)
    assert "\n" not in str(err.value)
    with make_writer(path, overwrite=True):
        pass
    with H5MDReader(path) as r:
        assert r.n_frames == 0


def test_mode_a_resumes_and_checks_layout(tmp_path):
    path = tmp_path / "resume.h5md"
    with pytest.raises(FileNotFoundError, match="does not exist; mode='a'"):
        make_writer(path, mode="a")
    layout = {"box_edges": [2.0, 2.0, 2.0], "record_force": True, "time_unit": "ps"}
    with make_writer(path, **layout) as w:
        w.append_frames([0, 1], [0.0, 1.0], expected_position([0, 1]), force=np.zeros((2, N, D)))
        w.append_observables([0], [0.0], energy=[1.0])
    bad = [
        ({"n_particles": N + 1}, "n_particles=6 does not match the file's 5"),
        ({"dim": 2, "box_edges": [2.0, 2.0]}, "dim=2 does not match the file's 3"),
        ({"record_force": False}, "record_force=False does not match the file"),
        ({"record_velocity": True}, "record_velocity=True does not match the file"),
        ({"box_edges": [2.0, 2.0, 3.0]}, "box_edges=.* does not match"),
        ({"box_edges": None}, "box_edges=None does not match"),
        ({"time_unit": "fs"}, "time_unit='fs' does not match the file's 'ps'"),
        ({"particle_group": "atoms"}, "no particles/atoms/position"),
    ]
    kept = []  # keep the tracebacks (and any half-built writer in them) alive
    for change, match in bad:
        with pytest.raises(ValueError, match=match) as err:
            make_writer(path, mode="a", **{**layout, **change})
        kept.append(err)
    open_files = [i.name for i in h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE)]
    assert str(path).encode() not in open_files  # refused opens close the file again
    with make_writer(path, mode="a", **layout) as w:
        with pytest.raises(ValueError, match="larger than the last written step 1"):
            w.append_frames([1], [1.0], expected_position([1]), force=np.zeros((1, N, D)))
        with pytest.raises(ValueError, match="larger than its last step 0"):
            w.append_observables([0], [0.0], energy=[1.0])
        w.append_frames([2], [2.0], expected_position([2]), force=np.zeros((1, N, D)))
        w.append_observables([2], [2.0], energy=[3.0])
    with H5MDReader(path) as r:
        np.testing.assert_array_equal(r.steps, [0, 1, 2])
        np.testing.assert_array_equal(r.position(), expected_position([0, 1, 2]))
        np.testing.assert_array_equal(r.observable("energy")[2], [1.0, 3.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_particles": 0}, "n_particles must be a positive int, got 0"),
        ({"n_particles": True}, "n_particles must be a positive int"),
        ({"dim": "3"}, "dim must be a positive int"),
        ({"particle_group": "a/b"}, "particle_group must be a non-empty str"),
        ({"creator_version": ""}, "creator_version must be a non-empty str"),
        ({"author": None}, "author must be a non-empty str"),
        ({"time_unit": ""}, "time_unit must be None or a non-empty unit string"),
        ({"compression": "zstd"}, r"compression must be one of \(None, 'gzip', 'lzf'\)"),
        ({"chunk_frames": 0}, "chunk_frames must be a positive int"),
        ({"mode": "r"}, "mode must be 'w' \\(create\\) or 'a'"),
        ({"buffer_bytes": -1}, "buffer_bytes must be an int >= 0"),
        ({"box_edges": [1.0, 2.0]}, "box_edges must be None or 3 finite positive edge lengths"),
        ({"box_edges": [1.0, -2.0, 1.0]}, "box_edges must be None or 3 finite positive"),
        ({"box_edges": [1.0, np.inf, 1.0]}, "box_edges must be None or 3 finite positive"),
    ],
)
def test_writer_argument_validation(tmp_path, kwargs, match):
    path = tmp_path / "v.h5md"
    with pytest.raises(ValueError, match=match) as err:
        make_writer(path, **kwargs)
    assert "\n" not in str(err.value)
    assert not path.exists()


def _frames(n=2):
    steps = np.arange(n)
    return steps, steps * 1.0, expected_position(steps)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda w, s, t, x: w.append_frames(s * 1.0, t, x), "steps must have an integer dtype"),
        (lambda w, s, t, x: w.append_frames(s[::-1], t, x), "steps must be strictly increasing"),
        (lambda w, s, t, x: w.append_frames(s[:, None], t, x), "steps must be a 1-D integer"),
        (lambda w, s, t, x: w.append_frames(s, t[:1], x), r"times must have shape \(2,\)"),
        (lambda w, s, t, x: w.append_frames(s, t * np.nan, x), "times must be finite"),
        (
            lambda w, s, t, x: w.append_frames(s, t, x[:, :3]),
            r"position must have shape \(2, 5, 3\)",
        ),
        (lambda w, s, t, x: w.append_frames(s, t, x[..., :2]), r"position must have shape"),
        (
            lambda w, s, t, x: w.append_frames(s, t, x.astype(str)),
            "position must be a real numeric",
        ),
        (lambda w, s, t, x: w.append_frames(s, t, x, velocity=x), "velocity was given but"),
        (lambda w, s, t, x: w.append_frames(s, t, x, image=x), "image was given but"),
        (lambda w, s, t, x: w.append_observables(s, t), "needs at least one observable"),
        (
            lambda w, s, t, x: w.append_observables(s, t, e=np.ones(3)),
            "observable e must have shape",
        ),
        # (F, k) rows of any width k are fine (per-pair arrays); 3-D values or no columns are not
        (lambda w, s, t, x: w.append_observables(s, t, e=np.ones((2, 4, 1))),
         "observable e must"),
        (lambda w, s, t, x: w.append_observables(s, t, e=np.ones((2, 0))), "observable e must"),
        (lambda w, s, t, x: w.append_observables(s, t, e=["a", "b"]), "must be a real numeric"),
    ],
)
def test_append_validation(tmp_path, call, match):
    with make_writer(tmp_path / "v.h5md") as w:
        with pytest.raises(ValueError, match=match) as err:
            call(w, *_frames())
    assert "\n" not in str(err.value)


def test_append_validation_of_recorded_elements(tmp_path):
    s, t, x = _frames()
    with make_writer(tmp_path / "v.h5md", record_velocity=True, record_image=True) as w:
        with pytest.raises(ValueError, match="velocity is required because record_velocity=True"):
            w.append_frames(s, t, x, image=np.zeros(x.shape, int))
        with pytest.raises(ValueError, match="image must have an integer dtype"):
            w.append_frames(s, t, x, velocity=x, image=x)
        w.append_observables(s, t, e=np.ones(2))
        with pytest.raises(ValueError, match=r"observable e was stored with row shape \(\)"):
            w.append_observables(s + 2, t, e=np.ones((2, N)))
        w.append_frames(s[:0], t[:0], x[:0], velocity=x[:0], image=np.zeros((0, N, D), int))


def test_reader_errors(tmp_path):
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = 1
    with pytest.raises(ValueError, match="is not an H5MD file"):
        H5MDReader(plain)
    path = tmp_path / "r.h5md"
    with make_writer(path, particle_group="atoms"):
        pass
    with pytest.raises(
        ValueError, match=r"particle_group='walkers' not in .*available: \['atoms'\]"
    ):
        H5MDReader(path, particle_group="walkers")
    r = H5MDReader(path)
    assert r.particle_group == "atoms"
    assert r.h5md_metadata == {
        "version": (1, 1),
        "author": "langevin_opt user",
        "creator": "langevin_opt",
        "creator_version": "0.0-test",
    }
    r.close()
    r.close()
    with pytest.raises(ValueError, match="is closed"):
        _ = r.n_frames


# --------------------------------------------------------------------------
# files cut short by a crash
# --------------------------------------------------------------------------


def test_reader_uses_common_minimum_and_writer_repairs(tmp_path):
    path = tmp_path / "cut.h5md"
    steps = np.arange(6)
    with make_writer(path, record_velocity=True) as w:
        w.append_frames(
            steps, steps * 1.0, expected_position(steps), velocity=expected_position(steps)
        )
        w.append_observables(steps, steps * 1.0, energy=steps * 1.0)
    with h5py.File(path, "r+") as f:  # mimic a flush interrupted half-way
        f["particles/walkers/position/value"].resize(9, axis=0)
        f["particles/walkers/velocity/value"].resize(5, axis=0)
        f["observables/energy/time"].resize(4, axis=0)
        f["observables/energy/value"].resize(8, axis=0)
        del f["observables/energy"].attrs["langevin_opt_committed_rows"]
    with H5MDReader(path) as r:
        assert r.n_frames == 5
        assert r.position().shape == (5, N, D)
        s, t, v = r.observable("energy")
        assert s.shape == t.shape == v.shape == (4,)
    with h5py.File(path, "r+") as f:  # commit marker lower than every length
        f["particles/walkers/position"].attrs["langevin_opt_committed_rows"] = 3
    with H5MDReader(path) as r:
        assert r.n_frames == 3
        np.testing.assert_array_equal(r.velocity(), expected_position(steps[:3]))
    with make_writer(path, mode="a", record_velocity=True) as w:
        w.append_frames([3], [3.0], expected_position([3]), velocity=expected_position([3]))
        w.append_observables([4], [4.0], energy=[4.0])
    with h5py.File(path, "r") as f:
        for name in ("position", "velocity"):
            for part in ("step", "time", "value"):
                assert f[f"particles/walkers/{name}/{part}"].shape[0] == 4
    with H5MDReader(path) as r:
        np.testing.assert_array_equal(r.position(), expected_position(np.arange(4)))
        np.testing.assert_array_equal(r.observable("energy")[2], [0.0, 1.0, 2.0, 3.0, 4.0])


CHILD = textwrap.dedent(
    """
    import sys
    import time
    import numpy as np
    from langevin_opt.storage import H5MDWriter

    path, buffer_bytes = sys.argv[1], int(sys.argv[2])
    N, D = 5, 3

    def pos(steps):
        steps = np.asarray(steps, dtype=np.float64)
        return steps[:, None, None] + np.arange(N)[None, :, None] * 1e-3 + np.arange(D) * 1e-6

    def append(step, n):
        s = np.arange(step, step + n)
        w.append_frames(s, 0.5 * s, pos(s), velocity=-pos(s))
        w.append_observables(s, 0.5 * s, energy=2.0 * s)
        return step + n

    w = H5MDWriter(path, n_particles=N, dim=D, creator_version="t", box_edges=[4.0] * 3,
                   record_velocity=True, chunk_frames=4, buffer_bytes=buffer_bytes)
    w.write_parameters({"kT": 0.5})
    step = 0
    for i in range(8):
        step = append(step, 5)
        if i == 3:  # checkpoints flush too: put one before the last frames of the flush
            ck = step
            w.write_checkpoint(ck, {"x": np.full(3, float(ck))}, {"tag": "first"})
    w.flush()
    print("FLUSHED", step, ck, flush=True)
    if buffer_bytes == 0:
        # every append flushes by itself; report, then idle so that the kill lands
        # after a completed flush (a kill inside H5Fflush has no HDF5 guarantee)
        for i in range(20):
            step = append(step, 3)
            if i == 9:
                ck = step
                w.write_checkpoint(ck, {"x": np.full(3, float(ck))}, {"tag": "later"})
        print("FLUSHED", step, ck, flush=True)
        time.sleep(600)
    while True:  # keep appending: all of it stays in the buffer until the kill
        step = append(step, 3)
    """
)


def child_env():
    """Environment for child interpreters that import langevin_opt from this checkout."""
    paths = [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))


def run_child_and_kill(tmp_path, script, args, n_lines=1, settle=0.3):
    """Run ``script``; SIGKILL it ``settle`` s after its ``n_lines``-th FLUSHED line.

    Returns the whitespace-separated integers of that last line.
    """
    child = tmp_path / "child.py"
    child.write_text(script)
    proc = subprocess.Popen(
        [sys.executable, str(child), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    watchdog = threading.Timer(60.0, proc.kill)
    watchdog.start()
    try:
        for _ in range(n_lines):
            line = proc.stdout.readline()
            assert line.startswith("FLUSHED"), proc.stderr.read()
        try:
            proc.wait(timeout=settle)
        except subprocess.TimeoutExpired:
            pass
        assert proc.poll() is None, proc.stderr.read()  # still running when killed
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        watchdog.cancel()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return [int(v) for v in line.split()[1:]]


@pytest.mark.parametrize("buffer_bytes", [2**30, 0], ids=["buffered", "flush-every-append"])
def test_sigkill_after_flush_leaves_readable_file(tmp_path, buffer_bytes):
    path = tmp_path / "crash.h5md"
    n_lines = 1 if buffer_bytes else 2
    flushed, checkpointed = run_child_and_kill(tmp_path, CHILD, [path, buffer_bytes], n_lines)
    with H5MDReader(path) as r:
        n = r.n_frames
        assert n == flushed  # every flushed frame, nothing from the buffer
        np.testing.assert_array_equal(r.steps, np.arange(n))
        np.testing.assert_array_equal(r.times, 0.5 * np.arange(n))
        np.testing.assert_array_equal(r.position(), expected_position(np.arange(n)))
        np.testing.assert_array_equal(r.velocity(), -expected_position(np.arange(n)))
        np.testing.assert_array_equal(r.box.edges, [4.0] * 3)
        steps, times, values = r.observable("energy")
        np.testing.assert_array_equal(steps, np.arange(flushed))
        np.testing.assert_array_equal(times, 0.5 * steps)
        np.testing.assert_array_equal(values, 2.0 * steps)
        assert r.parameters == {"kT": 0.5}
        ck_step, arrays, attrs = r.checkpoint()
        assert ck_step == checkpointed
        np.testing.assert_array_equal(arrays["x"], float(ck_step))
    # resume: reopen in mode "a", roll back to the checkpoint, continue
    with H5MDWriter(
        path,
        n_particles=N,
        dim=D,
        creator_version="t",
        box_edges=[4.0] * 3,
        record_velocity=True,
        mode="a",
    ) as w:
        w.truncate_to_step(ck_step - 1)
        s = np.arange(ck_step, ck_step + 2)
        w.append_frames(s, 0.5 * s, expected_position(s), velocity=-expected_position(s))
    with H5MDReader(path) as r:
        assert r.n_frames == ck_step + 2
        np.testing.assert_array_equal(r.position(), expected_position(np.arange(ck_step + 2)))
        assert r.observable("energy")[0].size == ck_step
    with h5py.File(path, "r") as f:
        assert [k for k in f if k.startswith("checkpoint")] == ["checkpoint"]


CHECKPOINT_CHILD = textwrap.dedent(
    """
    import os
    import signal
    import sys
    import numpy as np
    from langevin_opt.storage import H5MDWriter

    path, stage = sys.argv[1], sys.argv[2]

    w = H5MDWriter(path, n_particles=2, dim=1, creator_version="t")
    w.append_frames([0], [0.0], np.zeros((1, 2, 1)))
    w.write_checkpoint(1, {"x": np.ones(2)}, {"which": "old"})
    print("FLUSHED 1", flush=True)
    # the second checkpoint renames: .ckpt.new.tmp -> .ckpt.new, .ckpt -> .ckpt.prev,
    # .ckpt.new -> .ckpt; die instead of the N-th rename
    calls, real_replace = [], os.replace

    def replace(src, dst):
        calls.append(src)
        if len(calls) == {"tmp-written": 1, "before-swap": 2, "mid-swap": 3}[stage]:
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst)

    os.replace = replace
    w.write_checkpoint(2, {"x": np.full(2, 2.0)}, {"which": "new"})
    """
)


@pytest.mark.parametrize(("stage", "expected"),
                         [("tmp-written", 1), ("before-swap", 2), ("mid-swap", 2)])
def test_crash_while_writing_checkpoint_keeps_a_complete_one(tmp_path, stage, expected):
    path = tmp_path / "ck.h5md"
    child = tmp_path / "child.py"
    child.write_text(CHECKPOINT_CHILD)
    env = child_env()
    proc = subprocess.run(
        [sys.executable, str(child), str(path), stage],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert proc.stdout.startswith("FLUSHED 1")
    with H5MDReader(path) as r:
        step, arrays, attrs = r.checkpoint()
        assert r.n_frames == 1
    assert step == expected
    np.testing.assert_array_equal(arrays["x"], float(expected))
    assert attrs == {"which": "old" if expected == 1 else "new"}
    with H5MDWriter(path, n_particles=2, dim=1, creator_version="t", mode="a") as w:
        w.append_frames([5], [5.0], np.zeros((1, 2, 1)))
    with h5py.File(path, "r") as f:
        assert [k for k in f if k.startswith("checkpoint")] == ["checkpoint"]
    with H5MDReader(path) as r:
        assert r.checkpoint()[0] == expected
        assert r.n_frames == 2


SWMR_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import h5py, numpy as np
    f = h5py.File(sys.argv[1], "w", libver="latest")
    f.create_group("h5md").attrs["version"] = np.array([1, 1], dtype=np.int32)
    g = f.create_group("particles/all/position")
    f.create_group("particles/all/box")
    for name, shape, dtype in (("step", (), "i8"), ("time", (), "f8"), ("value", (2, 1), "f8")):
        g.create_dataset(name, shape=(3, *shape), maxshape=(None, *shape), dtype=dtype,
                         data=np.arange(3 * int(np.prod(shape))).reshape(3, *shape))
    f.swmr_mode = True
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_reader_opens_crashed_swmr_file(tmp_path):
    """Files of other SWMR writers keep 'open for write' flags after a crash."""
    path = tmp_path / "swmr.h5md"
    child = tmp_path / "child.py"
    child.write_text(SWMR_CHILD)
    proc = subprocess.run([sys.executable, str(child), str(path)], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with pytest.raises(OSError, match="consistency flags"):
        h5py.File(path, "r")
    with H5MDReader(path) as r:
        assert r.particle_group == "all"
        np.testing.assert_array_equal(r.steps, [0, 1, 2])
        np.testing.assert_array_equal(r.position(2), [[4.0], [5.0]])
