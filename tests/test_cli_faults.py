"""Issue 12 at the command line: storage errors, one writer per output, damaged files, SIGTERM.

Every storage error reaches the user as one ``Error: ...`` line without a
traceback: a full disk or a file-size limit exits 3 (naming the cause and the
last step whose frames are safe), a locked output, a damaged or a corrupted
file exit 2.  Most tests run in-process (CliRunner); the ones where the
process matters (two launches at once, SIGTERM, a file-size limit) start
``python -m langevin_opt.cli`` children.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import langevin_opt.cli as cli_module
import langevin_opt.runner as runner_module
from langevin_opt.cli import cli
from langevin_opt.storage import (
    CorruptionError,
    DamagedFileError,
    H5MDReader,
    OutputLockedError,
    StorageFullError,
)

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny_dw.toml"
REPO = Path(cli_module.__file__).resolve().parents[1]


def invoke(*args: object, **kwargs):  # noqa: ANN201
    return CliRunner().invoke(cli, [str(a) for a in args], **kwargs)


def error_line(result) -> str:  # noqa: ANN001
    """Assert a one-line error without traceback; return the line."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    e.update(extra)
    return e


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def content(traj: Path) -> tuple:
    """Everything a run records, as bytes (frames, observables, checkpoint)."""
    with H5MDReader(traj) as r:
        obs = tuple((name, *(a.tobytes() for a in r.observable(name)))
                    for name in r.observable_names)
        step, arrays, _ = r.checkpoint()
        ck = (step, tuple((k, np.asarray(v).tobytes()) for k, v in sorted(arrays.items())))
        return r.steps.tobytes(), r.position().tobytes(), obs, ck


@pytest.fixture(scope="module")
def lone_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A completed tiny run (do not modify)."""
    out = tmp_path_factory.mktemp("lone") / "run"
    result = invoke("run", TINY, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    return out


# --------------------------------------------------------------------------------------
# 1. storage errors: one line, their own exit codes
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("error, code, words", [
    (StorageFullError("/x/trajectory.h5: no space left on device (ENOSPC) while writing the "
                      "checkpoint at step 150; frames up to step 140 are safe on disk",
                      err=errno.ENOSPC, last_safe_step=140), 3,
     ["no space left on device", "frames up to step 140 are safe", "--resume"]),
    (OutputLockedError("/x/trajectory.h5: another writer is writing this output"), 2,
     ["another writer"]),
    (DamagedFileError("/x/trajectory.h5: truncated file: 10 bytes on disk, HDF5 expects 99"), 2,
     ["truncated file"]),
    (CorruptionError("/x/trajectory.h5.ckpt: checkpoint array positions fails its CRC-32"), 2,
     ["CRC-32"]),
])
def test_storage_errors_are_one_line_with_their_exit_code(tmp_path, monkeypatch, error, code,
                                                          words):
    def fail(exp, out, **kwargs):  # noqa: ANN001, ANN202
        (Path(out) / "trajectory.h5").write_bytes(b"")
        raise error

    monkeypatch.setattr(runner_module, "run_experiment", fail)
    result = invoke("run", TINY, "--out", tmp_path / "run", "--quiet")
    assert result.exit_code == code, result.output
    line = error_line(result)
    for word in words:
        assert word in line
    assert "lock the file" not in line


def test_help_documents_exit_code_3():
    result = invoke("--help")
    assert "3 disk" in " ".join(result.output.split())


def test_truncated_file_is_not_reported_as_locked(lone_run, tmp_path):
    data = (lone_run / "trajectory.h5").read_bytes()
    for n in (0, 96, len(data) // 2):
        path = tmp_path / f"cut{n}.h5"
        path.write_bytes(data[:n])
        result = invoke("inspect", path)
        assert result.exit_code == 2
        line = error_line(result)
        assert str(path) in line and "lock" not in line.lower()
        assert ("truncated" in line) or ("empty" in line) or ("not an HDF5" in line)


def test_file_size_limit_exits_3_and_resumes_bit_identically(lone_run, tmp_path):
    """A real EFBIG (RLIMIT_FSIZE, SIGXFSZ ignored) in a child: exit 3, one line, resumable."""
    import resource

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "langevin_opt.cli", "run", str(TINY), "--out",
                           str(out), "--quiet"], capture_output=True, text=True, env=env(),
                          preexec_fn=limit, timeout=600)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "file size limit exceeded (EFBIG)" in lines[0] and "--resume" in lines[0]
    assert "safe" in lines[0]
    result = invoke("run", TINY, "--out", out, "--resume", "--quiet")
    assert result.exit_code == 0, result.output
    assert content(out / "trajectory.h5") == content(lone_run / "trajectory.h5")


# --------------------------------------------------------------------------------------
# 2. one writer per output
# --------------------------------------------------------------------------------------


def drive(tmp_path: Path, trials: list[dict], timeout: float = 600,
          config: Path = TINY) -> list[dict]:
    """Run ``trials`` through tests/cli_child.py (forked launches of one warm process).

    The warm-up is an uninterrupted run of ``config`` into ``tmp_path / "warm"``.
    """
    import json

    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import cli_child
    finally:
        sys.path.pop(0)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"warm": ["run", str(config), "--out", str(tmp_path / "warm"),
                                         "--quiet"],
                                "tmp": str(tmp_path), "trials": trials}))
    cmd, environment = cli_child.command(spec)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=environment, timeout=timeout,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


RACES = int(os.environ.get("LANGEVIN_OPT_RACE_TRIALS", "20"))


def test_two_simultaneous_launches(lone_run, tmp_path):
    """Two launches on one --out at once: exactly one runs, the other exits 2 with one line.

    Trials alternate plain/plain, --overwrite/--overwrite (on an existing run) and
    plain/--resume pairs; the survivor's trajectory equals a lone run's.
    """
    trials, outs = [], []
    for i in range(RACES):
        out = tmp_path / f"race{i}"
        kind = ("plain", "overwrite", "resume")[i % 3]
        base = ["run", str(TINY), "--out", str(out), "--quiet"]
        if kind == "plain":
            launches = [base, base]
        elif kind == "overwrite":
            shutil.copytree(lone_run, out)
            launches = [base + ["--overwrite"], base + ["--overwrite"]]
        else:
            launches = [base, base + ["--resume"]]
        trials.append({"launches": launches})
        outs.append((out, kind))
    results = drive(tmp_path, trials)
    assert len(results) == RACES
    both_ran = 0
    for (out, kind), res in zip(outs, results, strict=True):
        codes, errs = res["codes"], res["stderr"]
        for code, err in zip(codes, errs, strict=True):
            assert "Traceback" not in err
            if code != 0:
                assert code == 2, (kind, codes, errs)
                lines = err.splitlines()
                assert len(lines) == 1 and lines[0].startswith("Error: "), err
        if kind == "overwrite" and codes == [0, 0]:
            both_ran += 1  # the second started after the first had finished: ran in turn
        elif kind == "resume" and codes == [0, 0]:
            both_ran += 1  # the resume found the finished run and "continued" it
        else:
            assert sorted(codes) == [0, 2], (kind, codes, errs)
        assert content(out / "trajectory.h5") == content(lone_run / "trajectory.h5")
    print(f"{RACES} races, {both_ran} ran one after the other")


# --------------------------------------------------------------------------------------
# 3. resume on a damaged file
# --------------------------------------------------------------------------------------


def _flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0xFF]))


@pytest.fixture(scope="module")
def killed_runs(lone_run, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Runs killed after the frames before the checkpoint at step S were flushed
    (S = 50: only the step-0 checkpoint exists; S = 150: checkpoint 100)."""
    tmp = tmp_path_factory.mktemp("killed")
    steps = (50, 150)
    trials = [{"launches": [["run", str(TINY), "--out", str(tmp / f"k{s}"), "--quiet"]],
               "exit_before_checkpoint": s} for s in steps]
    for res in drive(tmp, trials):
        assert res["codes"] == [9], res
    return {s: tmp / f"k{s}" for s in steps}


@pytest.mark.parametrize("step", [50, 150])
def test_kill_before_a_checkpoint_then_resume(lone_run, killed_runs, tmp_path, step):
    """Frames on disk past the last checkpoint (the step-0 one included) resume bit-identically."""
    out = shutil.copytree(killed_runs[step], tmp_path / "run")
    with H5MDReader(out / "trajectory.h5") as r:
        assert r.checkpoint()[0] == step - 50
        assert int(r.steps[-1]) == step - 10  # the frames after the checkpoint are on disk
    result = invoke("run", TINY, "--out", out, "--resume", "--quiet")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert content(out / "trajectory.h5") == content(lone_run / "trajectory.h5")


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_resume_damaged_tail_segment(lone_run, killed_runs, tmp_path, damage):
    """A corrupted or truncated last segment: one warning line (what was lost, where it
    resumes), then a bit-identical run."""
    out = shutil.copytree(killed_runs[150], tmp_path / "run")
    segs = sorted((out / "trajectory.h5.seg").iterdir())
    if damage == "flip":
        _flip(segs[-1], segs[-1].stat().st_size // 2)
    else:
        os.truncate(segs[-1], segs[-1].stat().st_size // 2)
    result = invoke("run", TINY, "--out", out, "--resume", "--quiet")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: "), result.stderr
    assert "were lost" in lines[0] and "resuming from the checkpoint at step" in lines[0]
    assert content(out / "trajectory.h5") == content(lone_run / "trajectory.h5")


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.9, 0.99])
def test_resume_truncated_file(lone_run, tmp_path, cut):
    """A truncated file: recovered and resumed bit-identically, or one line, exit 2, untouched."""
    out = shutil.copytree(lone_run, tmp_path / "run")
    traj = out / "trajectory.h5"
    data = traj.read_bytes()
    traj.write_bytes(data[: int(len(data) * cut)])
    before = snapshot(out)
    result = invoke("run", TINY, "--out", out, "--resume", "--quiet")
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        assert content(traj) == content(lone_run / "trajectory.h5")
    else:
        assert result.exit_code == 2, result.output
        line = error_line(result) if "warning" not in result.stderr else \
            result.stderr.splitlines()[-1]
        assert str(traj) in line and "lock" not in line.lower()
        assert snapshot(out) == before


@pytest.mark.parametrize("case", ["empty", "garbage", "other_config", "not_h5md"])
def test_resume_refuses_unusable_files(lone_run, tmp_path, case):
    out = shutil.copytree(lone_run, tmp_path / "run")
    traj = out / "trajectory.h5"
    if case == "empty":
        traj.write_bytes(b"")
    elif case == "garbage":
        traj.write_bytes(b"not a trajectory\n" * 50)
    elif case == "not_h5md":
        import h5py

        traj.unlink()
        with h5py.File(traj, "w") as f:
            f["x"] = np.arange(3)
    before = snapshot(out)
    config = TINY
    if case == "other_config":
        config = tmp_path / "other.toml"
        config.write_text(TINY.read_text().replace("seed = 7", "seed = 8"))
    result = invoke("run", config, "--out", out, "--resume", "--quiet")
    assert result.exit_code == 2, result.output
    line = error_line(result)
    assert str(traj) in line and "lock" not in line.lower()
    assert snapshot(out) == before


# --------------------------------------------------------------------------------------
# 4. SIGTERM saves a checkpoint and exits like SIGINT
# --------------------------------------------------------------------------------------


def test_sigterm_then_resume_is_bit_identical(lone_run, tmp_path):
    """SIGTERM (a scheduler's stop) right after the checkpoint at step 100: exit 130 at that
    checkpoint with a resume hint; ``--resume`` gives the uninterrupted run's trajectory."""
    out = tmp_path / "run"
    trials = [{"launches": [["run", str(TINY), "--out", str(out)]], "sigterm_at_step": 100}]
    (res,) = drive(tmp_path, trials)
    assert res["codes"] == [130], res
    err = res["stderr"][0]
    assert "Traceback" not in err
    notice, line = err.splitlines()
    assert notice.startswith("SIGTERM: stopping after the next checkpoint")
    assert line.startswith("Error: terminated (SIGTERM) at step 100;")
    assert line.endswith(f"--out {out} --resume")
    with H5MDReader(out / "trajectory.h5") as r:
        assert r.checkpoint()[0] == 100
        assert r.parameters["status"] == "running"
    result = invoke("run", TINY, "--out", out, "--resume", "--quiet")
    assert result.exit_code == 0, result.output
    assert content(out / "trajectory.h5") == content(lone_run / "trajectory.h5")


def test_sigterm_handler_is_restored(lone_run, tmp_path):
    previous = signal.getsignal(signal.SIGTERM)
    result = invoke("run", TINY, "--out", tmp_path / "run", "--quiet")
    assert result.exit_code == 0
    assert signal.getsignal(signal.SIGTERM) is previous


# --------------------------------------------------------------------------------------
# 5. inspect --verify
# --------------------------------------------------------------------------------------


def _chunk_offset(path: Path, dataset: str) -> int:
    import h5py

    with h5py.File(path, "r") as f:
        return f[dataset].id.get_chunk_info(0).byte_offset + 3


def test_inspect_verify_ok(lone_run):
    result = invoke("inspect", lone_run / "trajectory.h5", "--verify")
    assert result.exit_code == 0, result.output
    assert "checksums: ok" in result.stdout


@pytest.mark.parametrize("where", ["particles/walkers/position/value", "observables/energy/value",
                                   "checkpoint"])
def test_inspect_verify_locates_a_flipped_byte(lone_run, tmp_path, where):
    traj = shutil.copy(lone_run / "trajectory.h5", tmp_path / "t.h5")
    if where == "checkpoint":
        import h5py

        with h5py.File(traj, "r") as f:
            name = next(k for k in f["checkpoint"] if isinstance(f["checkpoint"][k], h5py.Dataset)
                        and f["checkpoint"][k].size > 8)
        where = f"checkpoint/{name}"
    _flip(Path(traj), _chunk_offset(Path(traj), where))
    result = invoke("inspect", traj, "--verify")
    assert result.exit_code == 2, result.output
    line = result.stderr.splitlines()[-1]
    assert "Traceback" not in result.output and line.startswith("Error: ")
    assert "corrupted" in line and where.split("/")[-2] in line


def test_inspect_verify_damaged_segment(killed_runs, tmp_path):
    out = shutil.copytree(killed_runs[150], tmp_path / "run")
    segs = sorted((out / "trajectory.h5.seg").iterdir())
    _flip(segs[0], segs[0].stat().st_size // 2)
    result = invoke("inspect", out / "trajectory.h5", "--verify")
    assert result.exit_code == 2, result.output
    line = result.stderr.splitlines()[-1]
    assert "corrupted" in line and segs[0].name in line


# --------------------------------------------------------------------------------------
# 6. a kill during every flush, then --resume (the fault injection, end to end)
# --------------------------------------------------------------------------------------

STRESS = int(os.environ.get("LANGEVIN_OPT_STRESS_TRIALS", "0"))
FLUSH_CALLS = 4  # flushes that write (H5MDWriter._write_flush) in the run below: one per
# chunk, in the runner's writer thread (the control trial checks the count)
# SIGALRM this long after the N-th flush began: "before" (1 us, at its start), inside (a
# flush takes 10-80 ms on the development VM: segment, index, merges; then the chunk's
# checkpoint, while the caller computes the next chunk) and "after" (the consolidation)
FLUSH_DELAYS = (1e-6, 0.002, 0.004, 0.008, 0.012, 0.02, 0.04, 0.3)


def _kill_plan() -> list[tuple[int, float]]:
    """(flush call, delay) per trial: every call at every delay, or random ones (stress)."""
    if STRESS:
        rng = np.random.default_rng(12)
        return [(1 + i % FLUSH_CALLS, float(10 ** rng.uniform(-6, -0.5))) for i in range(STRESS)]
    return [(n, d) for n in range(1, FLUSH_CALLS + 1) for d in FLUSH_DELAYS]


def _frames(traj: Path) -> tuple[list[int], list[int]]:
    import zlib

    with H5MDReader(traj) as r:
        return r.steps.tolist(), [zlib.crc32(r.position(i).tobytes()) for i in range(r.n_frames)]


def _last_safe(log: Path) -> int | None:
    lines = log.read_text().split() if log.exists() else []
    steps = [int(s) for s in lines[1::2] if s != "-"]
    return steps[-1] if steps else None


def test_kill_during_every_flush_then_resume(tmp_path):
    """SIGALRM (default action: the process dies, even inside HDF5's C code) at several
    delays after each flush N = 1..all of a ``run`` (in its writer thread); then ``--resume``.

    Every killed run must leave a file a reader opens, whose checksums verify, whose
    frames are a prefix of the uninterrupted run's (bit for bit) and hold every frame
    of every flush that returned; every resume must exit 0 and end bit-identical to the
    uninterrupted run.  Counts are printed (``-s``); ``LANGEVIN_OPT_STRESS_TRIALS=N`` runs
    N trials at random delays instead of the CI grid.
    """
    import re

    config = tmp_path / "one.toml"  # one temperature: no figure, 0.3 s a run
    config.write_text(TINY.read_text().replace("temperatures = [0.5, 1.0]",
                                               "temperatures = [0.7]"))
    plan = _kill_plan()
    control = tmp_path / "control.log"
    trials: list[dict] = [{"launches": [["run", str(config), "--out", str(tmp_path / "ctl"),
                                         "--quiet"]],
                           "flush_kill": [10**9, 0.0], "flush_log": str(control)}]
    for i, (n, delay) in enumerate(plan):
        out = tmp_path / f"k{i}"
        base = ["run", str(config), "--out", str(out), "--quiet"]
        trials.append({"launches": [base], "flush_kill": [n, delay],
                       "flush_log": str(tmp_path / f"k{i}.log"),
                       "inspect": str(out / "trajectory.h5")})
        trials.append({"launches": [[*base, "--resume"]]})
    results = drive(tmp_path, trials, config=config, timeout=3600)
    assert len(results) == len(trials)
    assert results[0]["codes"] == [0], results[0]
    calls = len(control.read_text().splitlines())
    assert calls == FLUSH_CALLS, f"the run now makes {calls} flush calls: update FLUSH_CALLS"

    lone = tmp_path / "warm" / "trajectory.h5"
    lone_content = content(lone)
    lone_steps, lone_crc = _frames(lone)
    counts = dict(trials=0, identical=0, restarted=0, recovered=0, frames_lost=0, lost=0)
    failures = []
    for i, (n, delay) in enumerate(plan):
        killed, resumed = results[1 + 2 * i], results[2 + 2 * i]
        out = tmp_path / f"k{i}"
        where = f"trial {i} (flush call {n}, +{delay * 1e3:.3f} ms)"
        problems = []
        code, err = killed["codes"][0], killed["stderr"][0]
        if code not in (0, -signal.SIGALRM) or "Traceback" in err:
            problems.append(f"killed run exited {code}: {err[-500:]}")
        found = killed["inspect"]
        if not found["readable"]:
            problems.append(f"unreadable after the kill: {found['error']}")
        else:
            k = len(found["steps"])
            if found["steps"] != lone_steps[:k] or found["frames_crc"] != lone_crc[:k]:
                problems.append(f"frames differ from the uninterrupted run: {found['steps']}")
            if found["verify"] or found["recovery"]:
                problems.append(f"damaged: {found['verify']} {found['recovery']}")
            safe = _last_safe(tmp_path / f"k{i}.log")
            if safe is not None and (not k or found["steps"][-1] < safe):
                problems.append(f"frames of a completed flush (to step {safe}) are missing")
        code, err = resumed["codes"][0], resumed["stderr"][0]
        if code != 0 or "Traceback" in err:
            problems.append(f"--resume exited {code}: {err[-500:]}")
        elif content(out / "trajectory.h5") != lone_content:
            problems.append("--resume is not bit-identical to the uninterrupted run")
        counts["trials"] += 1
        lost = re.search(r"\((\d+) frame\(s\)", err)
        if problems:
            counts["lost"] += 1
            failures.append(f"{where}: {'; '.join(problems)}")
        elif lost:
            counts["recovered"] += 1
            counts["frames_lost"] += int(lost.group(1))
        elif "nothing was committed" in err:
            counts["restarted"] += 1  # killed before the first checkpoint: from step 0
            counts["identical"] += 1
        elif err.strip():
            counts["lost"] += 1
            failures.append(f"{where}: unexpected output of --resume: {err}")
        else:
            counts["identical"] += 1
    print("flush-kill trials:", counts)
    assert not failures, "\n".join(failures[:20])
