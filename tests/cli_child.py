"""Test helper: run ``langevin-opt`` commands in forked children of one warmed-up process.

A fresh ``python -m langevin_opt.cli`` pays the JIT compilation (10-30 s); this
driver compiles once (a warm-up run) and then forks one child per launch, so
tests can start dozens of real processes.  Numba's OpenMP layer cannot fork, so
the driver must run with ``NUMBA_THREADING_LAYER=workqueue`` (set by
:func:`command`).  Usage (``python tests/cli_child.py SPEC.json``)::

    {"warm": ["run", CONFIG, "--out", DIR, "--quiet"],
     "trials": [{"launches": [[args...], [args...]], "kill": null}, ...]}

Each trial forks its launches at once (they start together through a pipe)
and prints one JSON line: the exit codes (``-signal`` if killed) and the
stderr of each launch.  ``"flush_kill": [N, delay_s]`` arms, in the first
launch, ``setitimer(ITIMER_REAL, delay_s)`` with SIGALRM's default action just
before the N-th flush that writes (``H5MDWriter._write_flush``: a segment and
an index; in the writer thread of an asynchronous writer, in the caller's
otherwise) (the issue's fault injection);
``"sigterm_at_step": S`` sends SIGTERM to the launch itself right after the
checkpoint at step S (from the progress callback); ``"exit_before_checkpoint": S``
ends the launch (``os._exit(9)``) when the frames before the checkpoint at step
S are flushed but that checkpoint is not yet written.  ``"flush_log": PATH``
(with ``flush_kill``) appends a line ``CALL STEP`` to PATH after every
flush that returned: its call number and the last frame step made safe
so far (``H5MDWriter.last_safe_step``, ``-`` for none).
``"writer_kill": [N, pause_s]``: the N-th atomic file write
(``write_atomic``: segment, index or checkpoint) made by an asynchronous
writer's thread writes the first half of its bytes to ``<file>.tmp``, appends
``KILL <thread name> <file>`` to ``flush_log`` (if given), sleeps ``pause_s``
(the caller computes and queues on) and sends SIGKILL to the process: a kill
while the writer thread is inside a flush.
``"inspect": PATH`` opens the H5MD file PATH after the launches ended (in one
more forked child: the driver keeps no HDF5 state of the trials) and adds to
the trial's line ``"inspect"``: ``readable`` (or ``error``), the frame
``steps``, a CRC-32 of every frame's positions (``frames_crc``), the
``checkpoint`` step, ``recovery`` (what the reader found lost) and ``verify``
(the checksum problems :meth:`H5MDReader.verify` reports).  ``"copy": [SRC, DST]``
copies a file or a directory before the launches start.

A launch (or the warm-up) whose first argument is ``"python:MODULE.FUNCTION"``
calls that function with the remaining (string) arguments instead of the
command line (MODULE is imported from this directory, e.g. ``writer_jobs``);
``"warm"`` may also be a list of argument lists (command lines or such calls).
From a test, :func:`run_spec` runs a spec and returns the trials' lines.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import sys
from pathlib import Path


def _call(args: list[str]) -> None:
    """``["python:MODULE.FUNCTION", *args]``: call ``MODULE.FUNCTION(*args)``."""
    module, name = args[0].removeprefix("python:").rsplit(".", 1)
    getattr(importlib.import_module(module), name)(*args[1:])


def _child(args: list[str], err_path: str, go: int, trial: dict) -> None:
    fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 2)
    os.close(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.read(go, 1)  # wait for the start signal (EOF when the parent closes the pipe)
    code = 0
    try:
        if trial.get("flush_kill"):
            from langevin_opt.storage.h5md import H5MDWriter

            n_kill, delay = trial["flush_kill"]
            real, count = H5MDWriter._write_flush, [0]
            log = trial.get("flush_log")
            # here, in the main thread: the flush may run in the writer thread, where
            # signal.signal is refused (setitimer is not)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)

            def write_flush(self, batch):  # noqa: ANN001, ANN202
                count[0] += 1
                if count[0] == n_kill:
                    signal.setitimer(signal.ITIMER_REAL, max(delay, 1e-6))
                real(self, batch)
                if log:
                    safe = self.last_safe_step
                    with open(log, "a") as fh:
                        fh.write(f"{count[0]} {'-' if safe is None else safe}\n")

            H5MDWriter._write_flush = write_flush
        if trial.get("writer_kill"):
            import threading
            import time

            import langevin_opt.storage.h5md as h5md

            n_write, pause = trial["writer_kill"]
            real_write, writes = h5md.write_atomic, [0]
            log = trial.get("flush_log")

            def write_atomic(path, data, *, fsync=True):  # noqa: ANN001, ANN202
                thread = threading.current_thread().name
                if thread == h5md._WRITER_THREAD:
                    writes[0] += 1
                    if writes[0] == n_write:  # half the bytes written, then the kill
                        with open(f"{path}.tmp", "wb") as fh:
                            fh.write(bytes(data[:len(data) // 2]))
                        if log:
                            with open(log, "a") as fh:
                                fh.write(f"KILL {thread} {path}\n")
                        time.sleep(float(pause))
                        os.kill(os.getpid(), signal.SIGKILL)
                return real_write(path, data, fsync=fsync)

            h5md.write_atomic = write_atomic
        if trial.get("exit_before_checkpoint") is not None:
            from langevin_opt.storage.h5md import H5MDWriter

            real_ck, at_step = H5MDWriter._write_ckpt_file, int(trial["exit_before_checkpoint"])

            def write_ckpt(self, step, *a):  # noqa: ANN001, ANN002, ANN202
                if step == at_step:  # frames are flushed, the checkpoint not yet written
                    os._exit(9)
                return real_ck(self, step, *a)

            H5MDWriter._write_ckpt_file = write_ckpt
        if trial.get("sigterm_at_step") is not None:
            import langevin_opt.runner as runner

            real_run, at = runner.run_experiment, int(trial["sigterm_at_step"])

            def run_experiment(*a, progress=None, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
                def cb(step, total, obs):  # noqa: ANN001, ANN202
                    if step == at:
                        os.kill(os.getpid(), signal.SIGTERM)
                    progress(step, total, obs)

                return real_run(*a, progress=cb, **kw)

            runner.run_experiment = run_experiment
        if args[0].startswith("python:"):
            _call(args)
        else:
            from langevin_opt.cli import main

            main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001
        import traceback

        traceback.print_exc()
        code = 98
    finally:
        sys.stderr.flush()
        os._exit(code)


def _inspect(path: str, out: str) -> None:
    """Forked child: what a reader finds in ``path``, as JSON in ``out``; then ``_exit``."""
    code = 0
    try:
        import zlib

        from langevin_opt.storage import H5MDReader

        try:
            with H5MDReader(path) as r:
                steps = r.steps.tolist()
                crc = [zlib.crc32(r.position(i).tobytes()) for i in range(r.n_frames)]
                ck = r.checkpoint()
                info = {"readable": True, "steps": steps, "frames_crc": crc,
                        "checkpoint": None if ck is None else int(ck[0]),
                        "recovery": None if r.recovery is None else r.recovery.message(),
                        "verify": r.verify()}
        except Exception as err:  # noqa: BLE001 - reported, judged by the test
            info = {"readable": False, "error": f"{type(err).__name__}: {err}"}
        Path(out).write_text(json.dumps(info))
    except BaseException:  # noqa: BLE001
        code = 97
    finally:
        os._exit(code)


def drive(spec: dict) -> None:
    """Warm up, then run every trial of ``spec`` (see the module docstring)."""
    warm = spec.get("warm") or []
    for args in warm if warm and isinstance(warm[0], list) else [warm] if warm else []:
        if args[0].startswith("python:"):  # compile the kernels once, in this process
            _call(args)
            continue
        from click.testing import CliRunner

        from langevin_opt.cli import cli

        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
    for i, trial in enumerate(spec["trials"]):
        if trial.get("copy"):
            src, dst = trial["copy"]
            if os.path.isdir(src):
                shutil.copytree(src, dst)
            else:
                shutil.copy2(src, dst)
        go_r, go_w = os.pipe()
        pids, errs = [], []
        for k, args in enumerate(trial["launches"]):
            err = f"{spec['tmp']}/trial{i}-{k}.err"
            errs.append(err)
            pid = os.fork()
            if pid == 0:
                os.close(go_w)
                _child(args, err, go_r, trial if k == 0 else {})
            pids.append(pid)
        os.close(go_r)
        os.close(go_w)
        codes = []
        for pid in pids:
            _, status = os.waitpid(pid, 0)
            codes.append(os.waitstatus_to_exitcode(status))
        line = {"codes": codes, "stderr": [Path(e).read_text() for e in errs]}
        if trial.get("inspect"):
            report = f"{spec['tmp']}/trial{i}-inspect.json"
            pid = os.fork()
            if pid == 0:
                _inspect(trial["inspect"], report)
            os.waitpid(pid, 0)
            line["inspect"] = json.loads(Path(report).read_text())
        print(json.dumps(line), flush=True)


def run_spec(tmp_path: Path, spec: dict, timeout: float = 600) -> list[dict]:
    """Run ``spec`` (``"tmp"`` is set to ``tmp_path``) in a driver process; its trial lines."""
    import subprocess

    spec = {**spec, "tmp": str(tmp_path)}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    cmd, env = command(path)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def command(spec_path: Path) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run this driver on ``spec_path``."""
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue",
               PYTHONPATH=os.pathsep.join([str(repo), *filter(None,
                                                              [os.environ.get("PYTHONPATH")])]))
    return [sys.executable, str(Path(__file__).resolve()), str(spec_path)], env


if __name__ == "__main__":
    drive(json.loads(Path(sys.argv[1]).read_text()))
