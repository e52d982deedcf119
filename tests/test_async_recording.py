"""Asynchronous recording (issue 19): a writer thread owns the H5MD files.

``H5MDWriter(asynchronous=True)`` hands each flush and checkpoint to one
background thread through a bounded queue while the compiled kernels compute on.
The promises tested here:

(a) the file is the same, dataset for dataset and attribute for attribute
    (timestamps and the random run id aside), as the synchronous writer's, for a
    walker run (``run_experiment``) and a particle MD run (``open_trajectory``);
(b) back-pressure: with a slow writer the queue never holds more than
    ``max_pending`` jobs, the caller waits, and the run ends with the same file;
(c) an error of the writer thread reaches the caller, with its own type, at its
    next call (or at ``close``), the rows kept for a retry and no checkpoint
    written after frames that were not; the CLI exits with the same code;
(d) SIGKILL while the writer thread is inside a flush (half of a segment, index or
    checkpoint written) leaves a file that ``run --resume`` continues to the
    uninterrupted run's result, bit for bit (tests/cli_child.py, ``writer_kill``).
"""

from __future__ import annotations

import errno
import json
import signal
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import langevin_opt.particles as lp
import langevin_opt.storage.h5md as h5md
from langevin_opt.cli import cli
from langevin_opt.runner import run_experiment
from langevin_opt.schema import read_toml, validate_config
from langevin_opt.storage import H5MDReader, H5MDWriter, StorageFullError

sys.path.insert(0, str(Path(__file__).parent))
import cli_child  # noqa: E402

sys.path.pop(0)

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny_dw.toml"
TIMESTAMPS = ("started", "finished")  # run parameters that differ between any two runs
_real_write_atomic = h5md.write_atomic


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _without_timestamps(value):  # noqa: ANN001, ANN202
    if isinstance(value, dict):
        return {k: _without_timestamps(v) for k, v in value.items() if k not in TIMESTAMPS}
    return value


def file_content(path: Path) -> dict:
    """Every dataset (dtype, shape, bytes) and attribute of an HDF5 file, by path.

    Left out: the run parameters ``started``/``finished`` (wall-clock times) and the
    random run id of the checkpoint.
    """
    out: dict = {}

    def attrs(name: str, obj) -> None:  # noqa: ANN001
        for key, value in obj.attrs.items():
            if key == h5md._RUN_ID or (name.startswith("parameters") and key in TIMESTAMPS):
                continue
            if key == h5md._PARAMS_JSON:
                value = json.dumps(_without_timestamps(json.loads(value)), sort_keys=True)
            elif isinstance(value, np.ndarray):
                value = (value.dtype.str, value.shape, value.tobytes())
            out[f"{name}@{key}"] = value

    def visit(name: str, obj) -> None:  # noqa: ANN001
        if isinstance(obj, h5py.Dataset):
            data = obj[()]
            out[name] = (obj.dtype.str, obj.shape,
                         data.tobytes() if isinstance(data, np.ndarray) else data)
        else:
            out[name] = "group"
        attrs(name, obj)

    with h5py.File(path, "r") as f:
        attrs("/", f)
        f.visititems(visit)
    return out


def walker_run(out: Path, asynchronous: bool, config: Path = TINY) -> Path:
    run_experiment(validate_config(read_toml(config)), out, overwrite=True,
                   make_figures=False, asynchronous=asynchronous)
    return out / "trajectory.h5"


def md_run(path: Path, asynchronous: bool, steps: int = 120) -> Path:
    """A 32-atom LJ liquid, a frame every 10 steps, flushed every ~2 frames."""
    x, box = lp.fcc_lattice(2, 0.8442)
    system = lp.ParticleSystem(x, box=box)
    md = lp.Dynamics(system, lp.lennard_jones(cutoff=1.6, mode="shifted"),
                     lp.LangevinBAOAB(0.005, 1.0), temperature=1.5, seed=3)
    with lp.open_trajectory(path, system, overwrite=True, parameters={"seed": 3},
                            flush_seconds=None, buffer_bytes=3000, fsync=False,
                            asynchronous=asynchronous) as w:
        assert w.asynchronous is asynchronous
        md.run(steps, record_every=5, writer=w, frame_every=10)
    return path


@pytest.fixture(scope="module")
def walker_sync(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return walker_run(tmp_path_factory.mktemp("sync") / "run", asynchronous=False)


def _writer(path: Path, **kw) -> H5MDWriter:  # noqa: ANN003
    kw = {"n_particles": 4, "dim": 2, "creator_version": "test", "fsync": False, **kw}
    return H5MDWriter(path, **kw)


def _fill(w: H5MDWriter, chunks: int, start: int = 0) -> None:
    """``chunks`` chunks of 3 frames + an observable + a checkpoint, as the runner does."""
    for c in range(start, start + chunks):
        steps = np.arange(3 * c + 1, 3 * c + 4)
        w.append_frames(steps, 0.1 * steps, np.full((3, 4, 2), float(c)))
        w.append_observables(steps, 0.1 * steps, energy=np.full((3, 4), -float(c)))
        w.write_checkpoint(int(steps[-1]), {"x": np.full((4, 2), float(c))}, {"chunk": c})


# --------------------------------------------------------------------------------------
# (a) the same file as the synchronous writer
# --------------------------------------------------------------------------------------


def test_walker_run_file_is_identical_to_synchronous(walker_sync, tmp_path):
    got = walker_run(tmp_path / "run", asynchronous=True)
    a, b = file_content(walker_sync), file_content(got)
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    with H5MDReader(got) as r:  # the run recorded something: frames and a checkpoint
        assert r.n_frames > 2 and r.checkpoint()[0] == 200


def test_md_run_file_is_identical_to_synchronous(tmp_path):
    a = file_content(md_run(tmp_path / "sync.h5", asynchronous=False))
    b = file_content(md_run(tmp_path / "async.h5", asynchronous=True))
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    with H5MDReader(tmp_path / "async.h5") as r:
        assert r.n_frames == 12 and r.velocity().shape == (12, 32, 3)


def test_runner_and_open_trajectory_default_to_asynchronous(tmp_path, monkeypatch):
    made = []
    real = H5MDWriter.__init__

    def init(self, *a, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        real(self, *a, **kw)
        made.append(self.asynchronous)

    monkeypatch.setattr(H5MDWriter, "__init__", init)
    x, box = lp.fcc_lattice(2, 0.8442)
    lp.open_trajectory(tmp_path / "t.h5", lp.ParticleSystem(x, box=box)).close()
    run_experiment(validate_config(read_toml(TINY)), tmp_path / "run", make_figures=False)
    assert made == [True, True]


def test_kernels_release_the_gil():
    """The overlap needs the engines' compiled kernels to run without the GIL."""
    from langevin_opt import _kernels
    from langevin_opt.particles import _update, dynamics

    assert _kernels.JIT_OPTIONS["nogil"] is True  # walker kernels (_walker_template)
    assert dynamics._JIT["nogil"] is True and _update._JIT["nogil"] is True


def test_flush_returns_with_rows_on_disk_and_checkpoints_in_order(tmp_path):
    path = tmp_path / "w.h5"
    with _writer(path, asynchronous=True) as w:
        _fill(w, 5)
        w.flush()  # waits for the writer thread
        assert w.last_safe_step == 15
        with H5MDReader(path) as r:
            assert r.steps.tolist() == list(range(1, 16))
            step, arrays, attrs = r.checkpoint()
            assert step == 15 and attrs["chunk"] == 4
            np.testing.assert_array_equal(arrays["x"], np.full((4, 2), 4.0))


def test_checkpoint_arrays_are_copied(tmp_path):
    """The caller may overwrite its state arrays as soon as write_checkpoint returns."""
    path = tmp_path / "w.h5"
    release = threading.Event()
    real = H5MDWriter._apply

    def slow(self, job):  # noqa: ANN001, ANN202
        release.wait(10)
        real(self, job)

    state = np.ones((4, 2))
    with _writer(path, asynchronous=True) as w:
        w._apply = slow.__get__(w)
        w.append_frames([1], [0.1], np.zeros((1, 4, 2)))
        w.write_checkpoint(1, {"x": state})
        state[...] = -7.0  # the kernel overwrites its buffer while the writer waits
        release.set()
    with H5MDReader(path) as r:
        np.testing.assert_array_equal(r.checkpoint()[1]["x"], np.ones((4, 2)))


@pytest.mark.parametrize("kw, words", [
    ({"asynchronous": "yes"}, "asynchronous must be True or False"),
    ({"asynchronous": True, "max_pending": 0}, "max_pending must be an int >= 1"),
    ({"asynchronous": True, "max_pending": 1.5}, "max_pending must be an int >= 1"),
    ({"asynchronous": True, "max_pending": True}, "max_pending must be an int >= 1"),
])
def test_bad_async_arguments(tmp_path, kw, words):
    with pytest.raises(ValueError, match=words):
        _writer(tmp_path / "w.h5", **kw)
    assert not (tmp_path / "w.h5").exists()


def test_run_experiment_rejects_a_non_bool(tmp_path):
    with pytest.raises(ValueError, match="asynchronous must be True or False"):
        run_experiment(validate_config(read_toml(TINY)), tmp_path / "run",
                       asynchronous=1)


# --------------------------------------------------------------------------------------
# (b) back-pressure
# --------------------------------------------------------------------------------------


def _slow_writes(monkeypatch, seconds: float) -> list[int]:  # noqa: ANN001
    """Make every flush sleep; return the list of queue lengths seen (writer and caller)."""
    seen: list[int] = []
    real_flush, real_submit = H5MDWriter._write_flush, H5MDWriter._submit

    def write_flush(self, batch):  # noqa: ANN001, ANN202
        time.sleep(seconds)
        if self._queue is not None:
            seen.append(self._queue.qsize())
        real_flush(self, batch)

    def submit(self, job):  # noqa: ANN001, ANN202
        real_submit(self, job)
        seen.append(self._queue.qsize())

    monkeypatch.setattr(H5MDWriter, "_write_flush", write_flush)
    monkeypatch.setattr(H5MDWriter, "_submit", submit)
    return seen


@pytest.mark.parametrize("bound", [1, 3])
def test_queue_never_exceeds_its_bound(tmp_path, monkeypatch, bound):
    ref = tmp_path / "sync.h5"
    with _writer(ref) as w:
        _fill(w, 8)
    seen = _slow_writes(monkeypatch, 0.02)
    path = tmp_path / "async.h5"
    with _writer(path, asynchronous=True, max_pending=bound, buffer_bytes=0) as w:
        _fill(w, 8)
    assert max(seen) == bound  # the caller filled the queue and then waited
    assert file_content(ref).keys() == file_content(path).keys()
    a, b = file_content(ref), file_content(path)
    assert [k for k in a if a[k] != b[k]] == []


def test_slow_writer_run_completes_with_the_same_result(walker_sync, tmp_path, monkeypatch):
    seen = _slow_writes(monkeypatch, 0.05)
    got = walker_run(tmp_path / "run", asynchronous=True)
    assert seen and max(seen) <= 2  # the runner's writer: max_pending = 2
    a, b = file_content(walker_sync), file_content(got)
    assert [k for k in a if a[k] != b[k]] == []


# --------------------------------------------------------------------------------------
# (c) errors of the writer thread reach the caller
# --------------------------------------------------------------------------------------


def _fail_in_writer_thread(monkeypatch, exc: BaseException, when) -> list[str]:  # noqa: ANN001
    """``write_atomic`` raises ``exc`` in the writer thread for files ``when(path)`` picks."""
    failed: list[str] = []
    real = h5md.write_atomic

    def write_atomic(path, data, *, fsync=True):  # noqa: ANN001, ANN202
        if threading.current_thread().name == h5md._WRITER_THREAD and when(path):
            failed.append(path)
            raise exc
        return real(path, data, fsync=fsync)

    monkeypatch.setattr(h5md, "write_atomic", write_atomic)
    return failed


def test_full_disk_in_writer_thread_surfaces_as_storage_full(tmp_path, monkeypatch):
    path = tmp_path / "w.h5"
    w = _writer(path, asynchronous=True)
    _fill(w, 2)
    w.flush()
    failed = _fail_in_writer_thread(monkeypatch, OSError(errno.ENOSPC, "No space left"),
                                    lambda p: ".seg" in p)
    _fill(w, 1, start=2)  # handed over: the writer thread fails on it
    w._queue.join()
    assert failed
    with pytest.raises(StorageFullError) as info:  # at the caller's next call
        w.append_frames([10], [1.0], np.zeros((1, 4, 2)))
    assert info.value.errno == errno.ENOSPC and info.value.last_safe_step == 6
    assert "no space left on device" in str(info.value)
    with H5MDReader(path) as r:  # the failed job's checkpoint was not written
        assert r.checkpoint()[0] == 6
    monkeypatch.setattr(h5md, "write_atomic", _real_write_atomic)
    w.flush()  # space again: the kept rows (and the frame appended above) are written
    assert w.last_safe_step == 10
    w.close()
    with H5MDReader(path) as r:
        assert r.steps.tolist() == [*range(1, 10), 10]
        assert r.checkpoint()[0] == 6


@pytest.mark.parametrize("where", ["write_checkpoint", "flush", "close"])
def test_error_type_is_kept_whichever_call_sees_it(tmp_path, monkeypatch, where):
    class Boom(RuntimeError):
        pass

    path = tmp_path / "w.h5"
    w = _writer(path, asynchronous=True)
    _fill(w, 1)
    w.flush()
    go = threading.Event()
    real = h5md.write_atomic

    def write_atomic(p, data, *, fsync=True):  # noqa: ANN001, ANN202
        if threading.current_thread().name == h5md._WRITER_THREAD:
            go.wait(10)
            raise Boom("disk controller on fire")
        return real(p, data, fsync=fsync)

    monkeypatch.setattr(h5md, "write_atomic", write_atomic)
    try:
        w.append_frames([4], [0.4], np.zeros((1, 4, 2)))
        w.write_checkpoint(4, {"x": np.zeros((4, 2))})  # the writer thread fails on it...
        w.append_frames([5], [0.5], np.zeros((1, 4, 2)))  # ... after this is buffered
    finally:
        go.set()
    w._queue.join()
    with pytest.raises(Boom, match="on fire"):
        if where == "write_checkpoint":
            w.write_checkpoint(5, {"x": np.zeros((4, 2))})
        elif where == "flush":
            w.flush()
        else:
            w.close()
    if where != "close":
        monkeypatch.setattr(h5md, "write_atomic", _real_write_atomic)
        w.close()  # retries the kept rows: the failed job's and the buffered one
    assert w.closed and w._thread is None
    with H5MDReader(path) as r:
        assert r.checkpoint()[0] == 3
        assert r.steps.tolist() == ([1, 2, 3, 4, 5] if where != "close" else [1, 2, 3])


def test_unclosed_writer_is_closed_at_exit(tmp_path):
    """An asynchronous writer left open is closed (consolidated) when the interpreter exits."""
    import subprocess

    path = tmp_path / "w.h5"
    code = (f"import numpy as np; from langevin_opt.storage import H5MDWriter\n"
            f"w = H5MDWriter({str(path)!r}, n_particles=4, dim=2, creator_version='t', "
            f"asynchronous=True)\n"
            f"w.append_frames([1, 2], [0.1, 0.2], np.zeros((2, 4, 2)))\n"
            f"w.write_checkpoint(2, {{'x': np.ones(3)}})\n")
    env = cli_child.command(tmp_path)[1]
    proc = subprocess.run([sys.executable, "-c", code], env=env, timeout=120,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert not Path(f"{path}.seg").exists()  # consolidated: one plain file
    with H5MDReader(path) as r:
        assert r.steps.tolist() == [1, 2] and r.checkpoint()[0] == 2


def test_cli_exit_code_of_a_full_disk_is_unchanged(tmp_path, monkeypatch):
    """ENOSPC inside the runner's writer thread: one line, exit status 3, resumable."""
    # the first checkpoint (step 0) is written; the next fails in the writer thread
    calls = [0]
    real = h5md.H5MDWriter._write_ckpt_file

    def ckpt(self, step, *a):  # noqa: ANN001, ANN002, ANN202
        calls[0] += 1
        if calls[0] >= 2:
            assert threading.current_thread().name == h5md._WRITER_THREAD
            raise OSError(errno.ENOSPC, "No space left")
        return real(self, step, *a)

    monkeypatch.setattr(h5md.H5MDWriter, "_write_ckpt_file", ckpt)
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", str(TINY), "--out", str(out), "--quiet"])
    assert result.exit_code == 3, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in lines[0]
    assert "no space left on device" in lines[0] and "--resume" in lines[0]
    with H5MDReader(out / "trajectory.h5") as r:
        assert r.checkpoint()[0] == 0


# --------------------------------------------------------------------------------------
# (d) SIGKILL while the writer thread is inside a flush, then --resume
# --------------------------------------------------------------------------------------

# writes made by the runner's writer thread for the run below (one temperature, 4
# chunks): the checkpoint at step 0, then per chunk a segment, an index, a checkpoint
# (and the merges): every one of the first WRITER_WRITES is killed half-way once
WRITER_WRITES = 12


def test_sigkill_inside_a_writer_thread_flush_then_resume(tmp_path):
    config = tmp_path / "one.toml"
    config.write_text(TINY.read_text().replace("temperatures = [0.5, 1.0]",
                                               "temperatures = [0.7]"))
    trials = []
    for n in range(1, WRITER_WRITES + 1):
        out = tmp_path / f"k{n}"
        base = ["run", str(config), "--out", str(out), "--quiet"]
        # pause 0.05 s half-way through the write: the caller computes and queues on
        trials.append({"launches": [base], "writer_kill": [n, 0.05],
                       "flush_log": str(tmp_path / f"k{n}.log"),
                       "inspect": str(out / "trajectory.h5")})
        trials.append({"launches": [[*base, "--resume"]]})
    results = cli_child.run_spec(
        tmp_path, {"warm": ["run", str(config), "--out", str(tmp_path / "warm"), "--quiet"],
                   "trials": trials}, timeout=900)
    assert len(results) == len(trials)
    reference = file_content(tmp_path / "warm" / "trajectory.h5")
    with H5MDReader(tmp_path / "warm" / "trajectory.h5") as r:
        ref_steps = r.steps.tolist()
    kinds = set()
    for n in range(1, WRITER_WRITES + 1):
        killed, resumed = results[2 * n - 2], results[2 * n - 1]
        assert killed["codes"] == [-signal.SIGKILL], (n, killed)
        log = (tmp_path / f"k{n}.log").read_text().split()
        assert log[0] == "KILL" and log[1] == h5md._WRITER_THREAD, (n, log)
        kinds.add("segment" if ".seg" in log[2] else "checkpoint" if ".ckpt" in log[2]
                  else "index")
        found = killed["inspect"]
        if found["readable"]:  # killed after the index existed: a prefix of the run
            k = len(found["steps"])
            assert found["steps"] == ref_steps[:k], (n, found)
            assert not found["verify"] and found["recovery"] is None, (n, found)
        else:  # killed before the first index was published
            assert "FileNotFoundError" in found["error"] or "does not exist" in found["error"]
        assert resumed["codes"] == [0], (n, resumed["stderr"])
        assert "Traceback" not in resumed["stderr"][0]
        # everything but the run parameters (a resumed run records resumed_at_step)
        final = {k: v for k, v in file_content(tmp_path / f"k{n}" / "trajectory.h5").items()
                 if not k.startswith("parameters")}
        ref = {k: v for k, v in reference.items() if not k.startswith("parameters")}
        assert final.keys() == ref.keys(), n
        assert [k for k in ref if ref[k] != final[k]] == [], n
    assert kinds == {"segment", "index", "checkpoint"}
