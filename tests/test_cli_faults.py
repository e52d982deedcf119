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
