"""Fault injection for the H5MD storage layer: kills inside a flush, full disks, double writers,
corrupted bytes, damaged files.

A synthetic, deterministic "run" (no Numba) writes frames, observables, parameters and a
checkpoint per chunk through :class:`H5MDWriter`, like the CLI runner: every chunk appends
``FRAMES`` frames, then ``write_checkpoint`` (which flushes).  A resume reads the
checkpoint, reopens in mode ``"a"``, truncates to the checkpoint step and continues.

``test_kill_during_every_flush``: a forked child runs it and, at the N-th call of
``H5MDWriter.flush`` (N = 1 ... all), arms ``setitimer(ITIMER_REAL, delay)`` with SIGALRM's
default action (which terminates the process even inside HDF5's C code) just before the real
flush; delays span 0 (before the flush) to 1.5 flush durations (after it, inside the
checkpoint write that follows).  The child logs every flush and checkpoint that returned;
after each kill the file must open, hold every logged frame and checkpoint, and a resume from
its checkpoint must reproduce the uninterrupted run's content exactly.  Set
``LANGEVIN_OPT_STRESS_TRIALS=5000`` for random (flush, delay) trials on top.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import random
import resource
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from langevin_opt.storage import H5MDReader, H5MDWriter
from langevin_opt.storage.h5md import (
    CorruptionError,
    DamagedFileError,
    OutputLockedError,
    StorageFullError,
)

N, D = 8, 2
FRAMES = 3  # frames per chunk
CHUNKS = 6  # chunks per run (each ends with a checkpoint)
EVERY = 10  # steps between frames
TOTAL = CHUNKS * FRAMES * EVERY
PARAMS = {"config": {"name": "synthetic", "steps": TOTAL}, "seed": 5, "status": "running"}
CTX = multiprocessing.get_context("fork")


def state_at(step: int) -> np.ndarray:
    return np.sin(0.01 * step * np.arange(1, N * D + 1)).reshape(N, D)


def make(path: Path, mode: str = "w", **kw) -> H5MDWriter:
    return H5MDWriter(path, n_particles=N, dim=D, creator_version="t", mode=mode,
                      overwrite=(mode == "w"), buffer_bytes=2**30, **kw)


def run(path: Path, log: Path | None = None, resume: bool = False, fsync: bool = False) -> None:
    """The synthetic run: from scratch, or resumed from the file's checkpoint."""
    def note(text: str) -> None:
        if log is not None:
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            os.write(fd, f"{text}\n".encode())
            os.close(fd)

    start = 0
    if resume:
        with H5MDReader(path) as r:
            ck = r.checkpoint()
        if ck is None:
            resume = False
        else:
            start = ck[0]
    if resume:
        w = make(path, "a", fsync=fsync)
        w.truncate_to_step(start)
        w.write_parameters({**PARAMS, "resumed": True})
    else:
        w = make(path, fsync=fsync)
        w.write_parameters({**PARAMS, "resumed": True})  # same record either way
        w.append_frames([0], [0.0], state_at(0)[None])
        w.append_observables([0], [0.0], energy=state_at(0)[None, :, 0], mean=[0.0])
        w.write_checkpoint(0, {"x": state_at(0), "rng": np.array([0, 7], np.uint64)},
                           {"total_steps": TOTAL})
        note("CK 0")
    real_flush = w.flush

    def flush() -> None:
        real_flush()
        if w._last_frame_step is not None:
            note(f"FL {w._safe_step}")

    w.flush = flush
    step = start
    try:  # like the runner: close (and so release the lock) whatever happens
        while step < TOTAL:
            steps = step + EVERY * np.arange(1, FRAMES + 1)
            pos = np.stack([state_at(int(s)) for s in steps])
            w.append_frames(steps, 0.5 * steps, pos)
            w.append_observables(steps, 0.5 * steps, energy=pos[:, :, 0],
                                 mean=pos.mean(axis=(1, 2)))
            step = int(steps[-1])
            w.write_checkpoint(step, {"x": state_at(step),
                                      "rng": np.array([step, 7], np.uint64)},
                               {"total_steps": TOTAL})
            note(f"CK {step}")
        w.write_parameters({**PARAMS, "resumed": True, "status": "completed"})
    finally:
        w.close()
    note("DONE")


def content(path: Path) -> dict:
    with H5MDReader(path) as r:
        out = {"steps": r.steps.tobytes(), "times": r.times.tobytes(),
               "position": r.position().tobytes(), "params": repr(r.parameters),
               "n": r.n_frames}
        for name in r.observable_names:
            out[name] = b"".join(a.tobytes() for a in r.observable(name))
        step, arrays, attrs = r.checkpoint()
        out["ck"] = (step, {k: v.tobytes() for k, v in arrays.items()}, repr(attrs))
        assert r.verify() == []
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("ref") / "ref.h5"
    run(path)
    ref = content(path)
    assert ref["n"] == 1 + CHUNKS * FRAMES
    return ref


def _flush_duration(tmp: Path) -> float:
    """Median wall time of one flush + checkpoint of the synthetic run (s)."""
    w = make(tmp / "timing.h5")
    times = []
    for k in range(8):
        steps = np.arange(k * 3 + 1, k * 3 + 4)
        w.append_frames(steps, 0.5 * steps, np.zeros((3, N, D)))
        t = time.perf_counter()
        w.write_checkpoint(int(steps[-1]), {"x": state_at(0)})
        times.append(time.perf_counter() - t)
    w.close()
    return float(np.median(times))


def _child_killed_at_flush(path: Path, log: Path, n: int, delay: float) -> None:
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    real = H5MDWriter.flush
    count = [0]

    def flush(self: H5MDWriter) -> None:
        count[0] += 1
        if count[0] == n:
            signal.setitimer(signal.ITIMER_REAL, max(delay, 1e-6))
        real(self)

    H5MDWriter.flush = flush
    run(path, log)
    signal.setitimer(signal.ITIMER_REAL, 0)
    os._exit(0)


def _logged(log: Path) -> tuple[int | None, int | None]:
    """Last frame step whose flush returned, last checkpoint step that returned."""
    fl = ck = None
    if log.exists():
        for line in log.read_text().splitlines():
            kind, _, value = line.partition(" ")
            if kind == "FL":
                fl = int(value)
            elif kind == "CK":
                ck = int(value)
    return fl, ck


def _trial(tmp: Path, reference: dict, n: int, delay: float, stats: dict) -> None:
    path, log = tmp / f"t{n}_{delay:.6f}.h5", tmp / f"t{n}_{delay:.6f}.log"
    proc = CTX.Process(target=_child_killed_at_flush, args=(path, log, n, delay))
    proc.start()
    proc.join(60)
    assert proc.exitcode in (0, -signal.SIGALRM), proc.exitcode
    stats["trials"] += 1
    flushed, checkpointed = _logged(log)
    if not path.exists():  # killed before the writer published its first file
        assert checkpointed is None
        run(path, resume=False)
        stats["from_scratch"] += 1
    else:
        with H5MDReader(path) as r:  # every trial ends with a readable file ...
            steps = r.steps
            ck = r.checkpoint()
            assert r.recovery is None
        if flushed is not None:  # ... holding every frame whose flush returned
            assert steps.size and steps[-1] >= flushed
        if checkpointed is not None:  # ... and the last checkpoint that returned
            assert ck is not None and ck[0] >= checkpointed
        lost = int(np.sum(steps > ck[0])) if ck is not None else steps.size
        stats["frames_rolled_back"] += lost
        if ck is None:
            stats["from_scratch"] += 1
        run(path, resume=True)
    assert content(path) == reference
    stats["identical"] += 1
    for p in (path, log):
        p.unlink(missing_ok=True)


def test_kill_during_every_flush(tmp_path, reference):
    duration = _flush_duration(tmp_path)
    n_flushes = 2 + 2 * CHUNKS + 2  # upper bound; later N just let the run finish
    stats = dict.fromkeys(("trials", "identical", "from_scratch", "frames_rolled_back"), 0)
    fractions = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.2, 1.6)
    for n in range(1, n_flushes + 1):
        for frac in fractions:
            _trial(tmp_path, reference, n, frac * duration, stats)
    extra = int(os.environ.get("LANGEVIN_OPT_STRESS_TRIALS", "0"))
    rng = random.Random(12)
    for _ in range(extra):
        _trial(tmp_path, reference, rng.randint(1, n_flushes), rng.random() * 2 * duration,
               stats)
    print(f"flush+checkpoint {duration * 1e3:.2f} ms; {stats}")
    assert stats["identical"] == stats["trials"]


def _child_killed_in_resume(path: Path, log: Path, target: str, n: int, delay: float) -> None:
    """Resume ``path``; die ``delay`` s after the n-th publish (or the consolidation) starts."""
    import langevin_opt.storage.h5md as h5md

    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    count = [0]

    def arm() -> None:
        count[0] += 1
        if count[0] == n:
            signal.setitimer(signal.ITIMER_REAL, max(delay, 1e-6))

    if target == "publish":
        real_write = h5md.write_atomic

        def write_atomic(*args, **kw):
            arm()
            return real_write(*args, **kw)

        h5md.write_atomic = write_atomic
    else:
        real_consolidate = H5MDWriter._consolidate

        def consolidate(self):
            arm()
            return real_consolidate(self)

        H5MDWriter._consolidate = consolidate
    run(path, log, resume=True)
    signal.setitimer(signal.ITIMER_REAL, 0)
    os._exit(0)


def test_kill_during_resume_and_close(tmp_path, reference):
    """Kills while a killed run is resumed: reopening, truncating, publishing, consolidating."""
    import shutil

    half = tmp_path / "half"
    half.mkdir()
    proc = CTX.Process(target=_child_killed_at_flush, args=(half / "r.h5", half / "log", 5, 0))
    proc.start()
    proc.join(60)
    assert proc.exitcode == -signal.SIGALRM
    (half / "log").unlink()
    t = time.perf_counter()
    trial_dir = tmp_path / "timing"
    shutil.copytree(half, trial_dir)
    run(trial_dir / "r.h5", resume=True)
    per_call = (time.perf_counter() - t) / 25
    trials = 0
    plan = [("publish", n, frac * per_call) for n in range(1, 26) for frac in (0.0, 0.5, 1.0)]
    plan += [("consolidate", 1, frac * 0.05) for frac in (0.0, 0.05, 0.2, 0.5, 1.0, 2.0)]
    for k, (target, n, delay) in enumerate(plan):
        trial_dir = tmp_path / f"trial{k}"
        shutil.copytree(half, trial_dir)
        path = trial_dir / "r.h5"
        proc = CTX.Process(target=_child_killed_in_resume,
                           args=(path, trial_dir / "log", target, n, delay))
        proc.start()
        proc.join(60)
        assert proc.exitcode in (0, -signal.SIGALRM), proc.exitcode
        _, checkpointed = _logged(trial_dir / "log")
        with H5MDReader(path) as r:
            ck = r.checkpoint()
            assert r.recovery is None
        if checkpointed is not None:
            assert ck is not None and ck[0] >= checkpointed
        run(path, resume=True)
        assert content(path) == reference
        shutil.rmtree(trial_dir)
        trials += 1
    print(f"resume/close kills: {trials} trials, all identical")


# --------------------------------------------------------------------------
# file-size limit and full disk
# --------------------------------------------------------------------------


def _child_with_fsize_limit(path: Path, log: Path, limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(
        resource.RLIMIT_FSIZE)[1]))
    try:
        run(path, log)
    except StorageFullError as err:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, f"FULL {err.last_safe_step} {err.errno} {err}\n".encode())
        os.close(fd)
        os._exit(3)
    os._exit(0)


@pytest.mark.parametrize("limit", [2_000, 6_000, 12_000, 20_000, 40_000, 80_000])
def test_file_size_limit(tmp_path, reference, limit):
    path, log = tmp_path / "lim.h5", tmp_path / "lim.log"
    proc = CTX.Process(target=_child_with_fsize_limit, args=(path, log, limit))
    proc.start()
    proc.join(60)
    assert proc.exitcode in (0, 3), proc.exitcode  # no segfault, no other error
    lines = log.read_text().splitlines() if log.exists() else []
    if proc.exitcode == 3:
        full = lines[-1].split(" ", 3)
        assert full[2] == str(errno.EFBIG)
        assert "file size limit exceeded (EFBIG)" in full[3] and "\n" not in full[3]
        safe = None if full[1] == "None" else int(full[1])
        if path.exists():
            with H5MDReader(path) as r:  # everything flushed before stays readable
                if safe is not None:
                    assert r.steps[-1] >= safe
        else:
            assert safe is None
    run(path, resume=path.exists())  # the limit lifted: resume
    assert content(path) == reference


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MiB tmpfs (root only; skipped elsewhere)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
            capture_output=True).returncode:
        pytest.skip("needs root to mount a small tmpfs")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_then_resume(small_fs, tmp_path, reference):
    path = small_fs / "full.h5"
    ballast = small_fs / "ballast"
    n_blocks = 0
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT)  # fill the disk, then free ~40 KiB
    try:
        while True:
            os.write(fd, b"\0" * 4096)
            n_blocks += 1
    except OSError:
        pass
    finally:
        os.close(fd)
    os.truncate(ballast, max(0, (n_blocks - 10) * 4096))
    with pytest.raises(StorageFullError) as err:
        run(path)
    assert err.value.errno == errno.ENOSPC
    assert "no space left on device (ENOSPC)" in str(err.value)
    safe = err.value.last_safe_step
    if path.exists():
        with H5MDReader(path) as r:
            if safe is not None:
                assert r.steps[-1] >= safe
    ballast.unlink()
    run(path, resume=path.exists())
    assert content(path) == reference


def test_enospc_during_flush_keeps_buffer_and_retries(tmp_path, monkeypatch):
    path = tmp_path / "e.h5"
    w = make(path)
    w.append_frames([1, 2], [0.5, 1.0], np.ones((2, N, D)))
    w.flush()
    w.append_frames([3], [1.5], np.ones((1, N, D)))
    real_write = os.write

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(StorageFullError, match="frames up to step 2 are safe") as err:
        w.flush()
    assert err.value.last_safe_step == 2
    with H5MDReader(path) as r:
        assert r.steps.tolist() == [1, 2]
    monkeypatch.setattr(os, "write", real_write)
    w.flush()  # space freed: the buffered frame is written
    w.close()
    with H5MDReader(path) as r:
        assert r.steps.tolist() == [1, 2, 3]


# --------------------------------------------------------------------------
# one writer per output
# --------------------------------------------------------------------------


def test_second_writer_is_refused_before_touching_anything(tmp_path):
    path = tmp_path / "one.h5"
    w = make(path)
    w.append_frames([1], [0.5], np.ones((1, N, D)))
    w.flush()
    before = path.read_bytes()
    for kw in ({"mode": "w"}, {"mode": "a"}):
        with pytest.raises(OutputLockedError, match="another writer"):
            make(path, **kw)
    assert path.read_bytes() == before
    w.close()
    make(path, "a").close()  # released by close


def _racer(path: Path, barrier, results) -> None:
    barrier.wait()
    try:
        run(path)
    except OutputLockedError:
        results.put("locked")
        os._exit(2)
    results.put("ran")
    os._exit(0)


def test_two_simultaneous_writers(tmp_path, reference):
    for trial in range(10):
        path = tmp_path / f"race{trial}.h5"
        barrier, results = CTX.Barrier(2), CTX.Queue()
        procs = [CTX.Process(target=_racer, args=(path, barrier, results)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        codes = sorted(p.exitcode for p in procs)
        # exactly one proceeds (or, when the first already finished, both run in turn)
        assert codes in ([0, 2], [0, 0]), codes
        assert content(path) == reference


# --------------------------------------------------------------------------
# checksums
# --------------------------------------------------------------------------


def _flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0xFF]))


def _chunk_offset(path: Path, dataset: str, chunk: int = 0) -> int:
    with h5py.File(path, "r") as f:
        return f[dataset].id.get_chunk_info(chunk).byte_offset + 3


def _abandoned_run(path: Path) -> None:
    """A run whose process died after its third checkpoint (index + segment files)."""
    w = make(path)
    w.write_parameters(PARAMS)
    for k in range(3):
        steps = np.arange(3 * k + 1, 3 * k + 4)
        w.append_frames(steps, 0.5 * steps, np.stack([state_at(int(s)) for s in steps]))
        w.write_checkpoint(int(steps[-1]), {"x": state_at(int(steps[-1]))})
    w._release()  # as if killed: no consolidation


def test_flip_in_consolidated_frames_is_located(tmp_path):
    path = tmp_path / "c.h5"
    run(path)
    _flip(path, _chunk_offset(path, "particles/walkers/position/value"))
    with H5MDReader(path) as r:
        problems = r.verify()
        assert len(problems) == 1
        assert "particles/walkers/position/value rows 0.." in problems[0]
        assert "Fletcher-32" in problems[0]
        with pytest.raises(OSError):
            r.position()  # never read silently
    with pytest.raises(CorruptionError, match="position/value rows 0"):
        make(path, "a")


def test_flip_in_segment_recovers_to_earlier_checkpoint(tmp_path):
    path = tmp_path / "s.h5"
    _abandoned_run(path)
    seg = Path(str(path) + ".seg") / "00000003.h5"  # frames 7..9 (third flush)
    _flip(seg, _chunk_offset(seg, "particles/walkers/position/value"))
    with H5MDReader(path) as r:
        assert r.n_frames == 9  # a cheap open checks sizes only
        step, _, _ = r.checkpoint()  # the resume path checks every byte
        assert step == 6
        assert r.n_frames == 6 and r.recovery.lost_frames == 3
        assert r.recovery.last_safe_step == 6
        assert "00000003.h5: CRC-32 mismatch" in r.recovery.message()
        assert "position/value rows 0..2" in r.recovery.message()
        assert any("CRC-32" in p for p in r.verify())
    w = make(path, "a")
    assert w.recovery is not None and w.recovery.lost_frames == 3
    w.truncate_to_step(6)
    w.close()
    with H5MDReader(path) as r:
        assert r.steps.tolist() == list(range(1, 7)) and r.verify() == []


def test_flip_in_checkpoint_falls_back_to_previous(tmp_path):
    path = tmp_path / "k.h5"
    _abandoned_run(path)
    ck = Path(str(path) + ".ckpt")
    _flip(ck, _chunk_offset(ck, "checkpoint/x"))
    with H5MDReader(path) as r:
        step, arrays, _ = r.checkpoint()
        assert step == 6 and np.array_equal(arrays["x"], state_at(6))
        assert "checkpoint array 'x'" in r.problems[0]
        assert any(".ckpt: checkpoint array 'x'" in p for p in r.verify())
    _flip(Path(str(path) + ".ckpt.prev"), _chunk_offset(Path(str(path) + ".ckpt.prev"),
                                                        "checkpoint/x"))
    with H5MDReader(path) as r, pytest.raises(CorruptionError, match="checkpoint array 'x'"):
        r.checkpoint()


def test_flip_in_consolidated_checkpoint(tmp_path):
    path = tmp_path / "kc.h5"
    run(path)
    _flip(path, _chunk_offset(path, "checkpoint/x"))
    with H5MDReader(path) as r, pytest.raises(CorruptionError, match="checkpoint array 'x'"):
        r.checkpoint()


# --------------------------------------------------------------------------
# damaged files
# --------------------------------------------------------------------------


def test_truncated_and_empty_files_are_one_clear_error(tmp_path):
    path = tmp_path / "t.h5"
    run(path)
    size = path.stat().st_size
    os.truncate(path, size // 2)
    with pytest.raises(DamagedFileError, match="truncated file") as err:
        H5MDReader(path)
    assert "lock" not in str(err.value).lower() and "\n" not in str(err.value)
    with pytest.raises(DamagedFileError, match="held HDF5 metadata: nothing can be recovered"):
        make(path, "a")
    assert path.stat().st_size == size // 2  # nothing overwritten
    assert not Path(str(path) + ".seg").exists()
    os.truncate(path, 0)
    with pytest.raises(DamagedFileError, match="empty file") as err:
        H5MDReader(path)
    assert "lock" not in str(err.value).lower()
    with pytest.raises(DamagedFileError, match="empty file"):
        make(path, "a")


def test_truncated_file_frames_before_the_cut_are_recovered(tmp_path):
    path = tmp_path / "cut.h5"
    w = make(path, chunk_frames=2)
    steps = np.arange(1, 61)
    positions = np.stack([state_at(int(s)) for s in steps])
    for k in range(0, 60, 3):
        w.append_frames(steps[k:k + 3], 0.5 * steps[k:k + 3], positions[k:k + 3])
        w.write_checkpoint(int(steps[k + 2]), {"x": positions[k + 2]})
    w.close()
    os.truncate(path, int(0.9 * path.stat().st_size))
    w = make(path, "a")
    rec = w.recovery
    assert rec is not None and 0 < rec.lost_frames < 60
    assert rec.last_safe_step == 60 - rec.lost_frames
    assert "truncated file" in rec.message() and "frames up to step" in rec.message()
    w.close()
    with H5MDReader(path) as r:
        n = r.n_frames
        assert n == 60 - rec.lost_frames and r.verify() == []
        np.testing.assert_array_equal(r.position(), positions[:n])


def test_damaged_tail_segment_is_recovered(tmp_path):
    path = tmp_path / "d.h5"
    _abandoned_run(path)
    seg = Path(str(path) + ".seg") / "00000003.h5"
    os.truncate(seg, seg.stat().st_size // 2)
    with H5MDReader(path) as r:  # the open already sees the short segment
        assert r.n_frames == 6 and r.recovery.lost_frames == 3
        assert "has " in r.recovery.problems[0]
        assert r.checkpoint()[0] == 6
    w = make(path, "a")
    assert w.recovery.last_safe_step == 6
    w.truncate_to_step(6)
    steps = np.arange(7, 10)
    w.append_frames(steps, 0.5 * steps, np.stack([state_at(int(s)) for s in steps]))
    w.close()
    with H5MDReader(path) as r:
        assert r.steps.tolist() == list(range(1, 10))
        np.testing.assert_array_equal(r.position(-1), state_at(9))


def test_killed_run_reads_as_one_file_everywhere(tmp_path):
    """The index of a killed run is one H5MD file for h5py too (VDS over the segments)."""
    path = tmp_path / "v.h5"
    _abandoned_run(path)
    cwd = os.getcwd()
    os.chdir("/")
    try:
        with h5py.File(path, "r") as f:
            value = f["particles/walkers/position/value"]
            assert value.is_virtual and value.shape == (9, N, D)
            np.testing.assert_array_equal(value[-1], state_at(9))
    finally:
        os.chdir(cwd)


def test_lock_taken_first_and_handed_to_the_writer(tmp_path):
    from langevin_opt.storage import OutputLock

    path = tmp_path / "h.h5"
    lock = OutputLock(path)
    with pytest.raises(OutputLockedError):
        make(path)
    w = make(path, lock=lock)
    assert not lock.held
    with pytest.raises(OutputLockedError):
        OutputLock(path)
    w.close()
    assert not (tmp_path / "h.h5.lock").exists()
    with OutputLock(path):
        pass
