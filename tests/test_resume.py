"""Acceptance test: a run killed with SIGKILL and resumed equals an uninterrupted run, bit for bit.

``langevin-opt run`` is started as a subprocess (``python -m langevin_opt.cli``,
through a ``runpy`` wrapper that restores Python's SIGINT handler) on
``tests/data/resume_mb.toml`` (2000 overdamped walkers annealed on the
Müller–Brown surface, 20 checkpoints, a few seconds of sampling on one thread
after a JIT compilation of 15-30 s).  A poller process watches the HDF5 file
with ``H5MDReader(...).checkpoint()`` until it reports a step > 0; the run is
then killed with SIGKILL (three times) or interrupted with SIGINT (once) after
a random (seeded) fraction of a second, resumed with ``run --resume``, and
every recorded frame, every observable and the final checkpoint are compared
byte for byte with an uninterrupted run.

The killed runs use ``--threads 1``, the reference and the resumes all
threads: results must not depend on the thread count either.  To fit the time
budget, the killed runs compile and run concurrently (in threads of a module
fixture) while the uninterrupted reference runs in-process; the resumes also
run in-process (CliRunner), where the kernels are already compiled.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import langevin_opt.cli as cli_module
from langevin_opt.cli import cli
from langevin_opt.storage import H5MDReader

DATA = Path(__file__).parent / "data"
CONFIG = DATA / "resume_mb.toml"
REPO = Path(cli_module.__file__).resolve().parents[1]
# (seed of the kill delay, signal): three SIGKILLs and one SIGINT (Ctrl-C: the CLI stops
# at the next checkpoint and exits with status 130)
KILLS = ((11, signal.SIGKILL), (22, signal.SIGKILL), (33, signal.SIGKILL), (44, signal.SIGINT))
TOTAL_STEPS = 100000
TIMEOUT = 420.0

# Reads the file of a running writer: HDF5 file locking must be off in the reader,
# which needs a fresh process (HDF5 reads HDF5_USE_FILE_LOCKING when it starts).
POLLER = textwrap.dedent(
    """
    import sys, time
    from langevin_opt.storage import H5MDReader

    path, timeout = sys.argv[1], float(sys.argv[2])
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with H5MDReader(path) as reader:
                ck = reader.checkpoint()
        except Exception:
            ck = None
        if ck is not None and ck[0] > 0:
            print(ck[0], flush=True)
            sys.exit(0)
        time.sleep(0.02)
    sys.exit(3)
    """
)


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra)
    return env


def _wait_for_checkpoint(traj: Path, run: subprocess.Popen, deadline: float) -> int:
    """Step of the first checkpoint > 0 seen by a poller process (restarted if it dies)."""
    while time.monotonic() < deadline:
        poller = subprocess.Popen(
            [sys.executable, "-c", POLLER, str(traj), str(deadline - time.monotonic())],
            env=_env(HDF5_USE_FILE_LOCKING="FALSE"), stdout=subprocess.PIPE, text=True,
        )
        try:
            while poller.poll() is None:
                if run.poll() is not None:
                    raise AssertionError(f"run ended (status {run.returncode}) before its "
                                         f"first checkpoint: {run.stderr.read()}")
                time.sleep(0.01)
        finally:
            if poller.poll() is None:
                poller.kill()
            out = poller.communicate()[0]
        if poller.returncode == 0:
            return int(out.split()[0])
    raise AssertionError("no checkpoint > 0 before the deadline")


# SIGINT is ignored by processes started in the background by a non-interactive shell
# (and then by their children): restore Python's handler before running the CLI.
WITH_SIGINT = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'langevin-opt'; runpy.run_module('langevin_opt.cli', run_name='__main__')"
)


def _start_and_kill(out: Path, seed: int, sig: int) -> dict:
    """Start the run, signal it a random fraction of a second after its first checkpoint."""
    delay = random.Random(seed).random()
    traj = out / "trajectory.h5"
    run = subprocess.Popen(
        [sys.executable, "-c", WITH_SIGINT, "run", str(CONFIG), "--out", str(out),
         "--threads", "1", "--quiet"],
        env=_env(), cwd=out.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        seen = _wait_for_checkpoint(traj, run, time.monotonic() + TIMEOUT)
        time.sleep(delay)
        alive = run.poll() is None
        os.kill(run.pid, sig)
        stderr = run.communicate(timeout=120)[1]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    return {"seen": seen, "delay": delay, "alive": alive, "returncode": run.returncode,
            "stderr": stderr}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The uninterrupted reference and the three killed runs (computed concurrently)."""
    base = tmp_path_factory.mktemp("resume")
    killed = {seed: base / f"killed_{seed}" for seed, _ in KILLS}
    with ThreadPoolExecutor(len(KILLS)) as pool:
        futures = {seed: pool.submit(_start_and_kill, killed[seed], seed, sig)
                   for seed, sig in KILLS}
        ref = base / "reference"
        result = CliRunner().invoke(cli, ["run", str(CONFIG), "--out", str(ref), "--quiet"])
        assert result.exit_code == 0, result.output
        infos = {seed: f.result(timeout=TIMEOUT) for seed, f in futures.items()}
    return {"reference": ref, "killed": killed, "info": infos}


def _bytes(a: np.ndarray) -> tuple:
    a = np.asarray(a)
    return a.dtype.str, a.shape, a.tobytes()


def _assert_identical(ref: Path, other: Path) -> None:
    with H5MDReader(ref / "trajectory.h5") as a, H5MDReader(other / "trajectory.h5") as b:
        assert a.n_frames == b.n_frames == TOTAL_STEPS // 2500 + 1
        assert a.steps.tolist() == b.steps.tolist() == list(range(0, TOTAL_STEPS + 1, 2500))
        assert _bytes(a.times) == _bytes(b.times)
        assert _bytes(a.position()) == _bytes(b.position())
        assert a.observable_names == b.observable_names
        # overdamped run: acceptance counts are recorded for MALA only
        assert {"energy", "mean_energy"} <= set(a.observable_names)
        assert "acceptance" not in a.observable_names
        for name in a.observable_names:
            for x, y in zip(a.observable(name), b.observable(name), strict=True):
                assert _bytes(x) == _bytes(y), name
        ck_a, ck_b = a.checkpoint(), b.checkpoint()
        assert ck_a[0] == ck_b[0] == TOTAL_STEPS
        assert sorted(ck_a[1]) == sorted(ck_b[1])
        for key in ck_a[1]:
            assert _bytes(ck_a[1][key]) == _bytes(ck_b[1][key]), key
        assert ck_a[2] == ck_b[2]
    sa = json.loads((ref / "summary.json").read_text())
    sb = json.loads((other / "summary.json").read_text())
    assert sa["status"] == sb["status"] == "completed"
    assert sa["temperatures"] == sb["temperatures"]


@pytest.mark.parametrize("seed,sig", KILLS, ids=[f"{s.name}-{n}" for n, s in KILLS])
def test_kill_then_resume_is_bit_identical(runs, seed, sig):
    out = runs["killed"][seed]
    info = runs["info"][seed]
    assert info["alive"], f"the run ended before the kill: {info}"
    assert "Traceback" not in info["stderr"]
    with H5MDReader(out / "trajectory.h5") as reader:
        ck = reader.checkpoint()
        assert ck is not None
        killed_at = ck[0]
        assert info["seen"] <= killed_at < TOTAL_STEPS
        assert reader.parameters["status"] == "running"
        if sig == signal.SIGINT:  # stopped cleanly at a checkpoint: no frame after it
            assert int(reader.steps[-1]) == killed_at
    if sig == signal.SIGKILL:
        assert info["returncode"] == -signal.SIGKILL
    else:
        assert info["returncode"] == 130, info["stderr"]
        assert info["stderr"].splitlines()[-1] == (
            f"Error: interrupted at step {killed_at}; the run can be resumed with: "
            f"langevin-opt run {CONFIG} --out {out} --resume")
    print(f"{sig.name} {seed}: first checkpoint seen at step {info['seen']}, signal "
          f"{info['delay']:.3f} s later, last checkpoint at step {killed_at}")

    result = CliRunner().invoke(cli, ["run", str(CONFIG), "--out", str(out), "--resume",
                                      "--quiet"])
    assert result.exit_code == 0, result.output
    assert f"resume_mb: completed, {TOTAL_STEPS} steps" in result.stdout
    _assert_identical(runs["reference"], out)
    with H5MDReader(out / "trajectory.h5") as a, \
            H5MDReader(runs["reference"] / "trajectory.h5") as b:
        pa, pb = a.parameters, b.parameters
    assert pa["status"] == "completed" and pa["resumed_at_step"] == killed_at
    assert pa["config"] == pb["config"] and pa["seed"] == pb["seed"]

