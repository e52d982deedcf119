"""The one recording path (storage.recording.Recorder) over the H5MD writer."""

import numpy as np
import pytest

from langevin_opt.storage import H5MDReader, H5MDWriter
from langevin_opt.storage.recording import Recorder


def test_memory_only_keeps_rows_with_times():
    rec = Recorder(dt=0.25, keep=True)
    rec.observables([4], energy=[1.5], temperature=[0.7])
    rec.observables([8, 12], energy=[1.0, 0.5], temperature=[0.6, 0.5])
    rec.frames([4], np.zeros((1, 3, 2)))  # no writer: frames go nowhere, silently
    kept = rec.kept()
    np.testing.assert_array_equal(kept["step"], [4, 8, 12])
    np.testing.assert_array_equal(kept["time"], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(kept["energy"], [1.5, 1.0, 0.5])
    assert not rec.writes


def test_not_kept_without_keep():
    rec = Recorder(dt=1.0)
    rec.observables([1], energy=[2.0])
    assert rec.kept() == {}


def test_bad_dt():
    with pytest.raises(ValueError, match="dt must be"):
        Recorder(dt=0.0)


def test_writes_frames_observables_and_excludes(tmp_path):
    path = tmp_path / "t.h5md"
    x = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)
    with H5MDWriter(path, n_particles=3, dim=2, record_velocity=True,
                    creator_version="test") as w:
        rec = Recorder(w, dt=0.5, keep=True, file_exclude=["target"])
        assert rec.wants("velocity") and not rec.wants("force")
        # force is not recorded by this writer: ignored rather than an error
        rec.frames([2, 4], x, velocity=-x, force=x)
        rec.observables([2, 4], energy=[3.0, 2.0], target=[1.0, 1.0])
    r = H5MDReader(path)
    np.testing.assert_array_equal(r.position(), x)
    np.testing.assert_array_equal(r.velocity(), -x)
    np.testing.assert_array_equal(r.times, [1.0, 2.0])
    import h5py

    with h5py.File(path, "r") as f:
        obs = f["observables"]
        assert "energy" in obs and "target" not in obs
        np.testing.assert_array_equal(obs["energy/value"][()], [3.0, 2.0])
        np.testing.assert_array_equal(obs["energy/time"][()], [1.0, 2.0])
    np.testing.assert_array_equal(rec.kept()["target"], [1.0, 1.0])
