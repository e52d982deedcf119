"""Tests of the ``langevin-opt`` command line (langevin_opt.cli).

Most tests use click's CliRunner in-process (the compiled kernels of the tiny
double-well config are then built once per pytest process); subprocesses are
used where the real process matters (``python -m``, a pseudo-terminal).
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import langevin_opt.cli as cli_module
import langevin_opt.runner as runner_module
from langevin_opt.cli import cli
from langevin_opt.schema import load_config
from langevin_opt.storage import H5MDReader, H5MDWriter

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny_dw.toml"
DIVERGE = DATA / "diverge_dw.toml"
NW2 = DATA / "tiny_nw2.toml"
REPO = Path(cli_module.__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"

def invoke(*args: object, **kwargs):  # noqa: ANN201
    return CliRunner().invoke(cli, [str(a) for a in args], **kwargs)


def error_line(result) -> str:  # noqa: ANN001
    """Assert the result is a one-line user error without traceback; return the line."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    # the compile notice comes first when this process compiled the run's kernels (it
    # depends on the state of the kernel cache, not on the error)
    lines = [ln for ln in result.stderr.splitlines()
             if not ln.startswith("compiling kernels (first run only)... done in ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(directory)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def stored_parameters(traj: Path) -> dict:
    with H5MDReader(traj) as reader:
        return reader.parameters


def _subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    env.update(extra)
    return env


class PtyRun:
    """``python -m langevin_opt.cli ARGS`` with stdin/stdout/stderr on a pseudo-terminal."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        import pty

        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "langevin_opt.cli", *args], stdin=slave, stdout=slave,
            stderr=slave, cwd=cwd, env=_subprocess_env(COLUMNS="160"))
        os.close(slave)
        self.result: tuple[int, str] | None = None

    def finish(self, timeout: float = 300.0) -> tuple[int, str]:
        """Exit status and everything the process wrote to the terminal."""
        import select

        if self.result is None:
            chunks = []
            while True:
                ready, _, _ = select.select([self.master], [], [], timeout)
                if not ready:
                    self.proc.kill()
                    break
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            status = self.proc.wait(timeout=60)
            os.close(self.master)
            self.result = status, b"".join(chunks).decode(errors="replace")
        return self.result


@pytest.fixture(scope="module")
def pty_run(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A real run on a pseudo-terminal, started early so that its JIT compilation overlaps
    the in-process one of ``tiny_run``."""
    if sys.platform == "win32":  # pragma: no cover
        yield None
        return
    cwd = tmp_path_factory.mktemp("pty")
    run = PtyRun(["run", str(TINY), "--out", "run"], cwd)
    yield run, cwd
    if run.proc.poll() is None:
        run.proc.kill()
    run.finish()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, pty_run) -> tuple[Path, object]:  # noqa: ANN001
    """A completed tiny run (do not modify: copy it first)."""
    out = tmp_path_factory.mktemp("tiny") / "run"
    result = invoke("run", TINY, "--out", out)
    assert result.exit_code == 0, result.output
    return out, result


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# --------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------


def test_run_writes_trajectory_summary_and_figure(tiny_run):
    out, result = tiny_run
    traj = out / "trajectory.h5"
    with H5MDReader(traj) as reader:
        assert reader.n_frames == 11
        assert reader.steps.tolist() == list(range(0, 201, 20))
        assert reader.position().shape == (11, 100, 1)
        assert set(reader.observable_names) >= {"energy", "mean_energy", "acceptance"}
        ck = reader.checkpoint()
        assert ck is not None and ck[0] == 200
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["steps"] == 200
    assert [r["T"] for r in summary["temperatures"]] == [0.5, 1.0]
    assert all("basin_exact" in r and "basin_z" in r for r in summary["temperatures"])
    assert (out / "basins_vs_temperature.png").read_bytes().startswith(PNG)
    # summary table and the paths written
    text = result.stdout
    assert "tiny_dw: completed, 200 steps, 100 walkers" in text
    assert re.search(r"^\s+0\.5\s+\S+\s+0\.9\d+\s+0\.\d{3}/0\.500 \([+-]\d", text, re.M)
    for name in ("trajectory.h5", "summary.json", "basins_vs_temperature.png"):
        assert str(out / name) in text
    # non-TTY: one log line per chunk (4 chunks of 50 steps)
    assert len(re.findall(r"^step +\d+/200 ", text, re.M)) == 4
    assert "\r" not in text


def test_run_parameters_hold_config_and_seed(tiny_run):
    out, _ = tiny_run
    params = stored_parameters(out / "trajectory.h5")
    expected = json.loads(json.dumps(load_config(TINY).config))
    assert params["config"] == expected
    assert params["seed"] == 7
    assert params["status"] == "completed"
    assert np.array_equal(params["walker_temperatures"], np.repeat([0.5, 1.0], 50))
    for key in ("langevin_opt_version", "numba_version", "numpy_version", "started",
                "finished"):
        assert key in params


def test_second_run_refuses_and_leaves_files_untouched(tiny_run):
    out, _ = tiny_run
    before = snapshot(out)
    result = invoke("run", TINY, "--out", out)
    assert result.exit_code == 2
    line = error_line(result)
    assert "output exists" in line and "--overwrite" in line and "--resume" in line
    assert result.stdout == ""
    assert snapshot(out) == before


def test_overwrite_replaces_broken_outputs(tiny_run, tmp_path):
    out = copy_run(tiny_run[0], tmp_path / "run")
    (out / "trajectory.h5").write_bytes(b"not an HDF5 file")
    (out / "summary.json").write_text("{}")
    result = invoke("run", TINY, "--out", out, "--overwrite", "--quiet")
    assert result.exit_code == 0, result.output
    with H5MDReader(out / "trajectory.h5") as reader:
        assert reader.steps.tolist() == list(range(0, 201, 20))
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"


def test_resume_and_overwrite_exclude_each_other(tiny_run):
    out, _ = tiny_run
    before = snapshot(out)
    result = invoke("run", TINY, "--out", out, "--resume", "--overwrite")
    assert result.exit_code == 2
    assert "exclude each other" in error_line(result)
    assert snapshot(out) == before


def test_resume_without_output_is_a_user_error(tmp_path):
    result = invoke("run", TINY, "--out", tmp_path / "nothing", "--resume")
    assert result.exit_code == 2
    assert "nothing to resume" in error_line(result)


def test_unwritable_output_directory(tmp_path):
    blocker = tmp_path / "somefile"
    blocker.write_text("a regular file, so somefile/out cannot be created (even by root)")
    result = invoke("run", TINY, "--out", blocker / "out")
    assert result.exit_code == 2
    assert "somefile" in error_line(result)
    assert blocker.read_text().startswith("a regular file")


def test_output_path_is_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    result = invoke("run", TINY, "--out", target)
    assert result.exit_code == 2
    assert "not a directory" in error_line(result)


def test_quiet_and_default_output_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("run", TINY, "--quiet")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("tiny_dw: completed, 200 steps, 100 walkers")
    assert lines[0].endswith(str(Path("runs") / "tiny_dw"))
    assert (tmp_path / "runs" / "tiny_dw" / "trajectory.h5").is_file()


def test_progress_bar_on_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setattr(cli_module, "_stdout_is_tty", lambda: True)
    result = invoke("run", TINY, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "\r[" in text
    bar = text.split("\r")[-1].splitlines()[0]
    assert "100%" in bar and "step 200/200" in bar and "ETA" in bar
    assert "<U> " in bar and "acceptance " in bar
    assert not re.search(r"^step +\d+/200 ", text, re.M)  # no log lines on a terminal


def test_unsafe_experiment_name_needs_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "c.toml"
    cfg.write_text(TINY.read_text().replace('name = "tiny_dw"', 'name = "../escape"'))
    result = invoke("run", cfg)
    assert result.exit_code == 2
    assert "--out" in error_line(result)
    assert not (tmp_path.parent / "escape").exists()


@pytest.mark.parametrize(
    "args,match",
    [
        (["--backend", "tpu"], "'tpu' is not one of 'cpu', 'cuda'"),
        (["--threads", "0"], "--threads"),
        (["--threads", "many"], "--threads"),
        (["--bogus"], "No such option '--bogus'"),
    ],
)
def test_bad_run_options(tmp_path, args, match):
    result = invoke("run", TINY, "--out", tmp_path / "run", *args)
    assert result.exit_code == 2
    assert match in error_line(result)
    assert not (tmp_path / "run").exists()


@pytest.fixture
def default_sigint():
    """Python's own Ctrl-C handler, as in an interactive shell.

    A background job (e.g. a CI script started with ``&``) inherits SIGINT
    ignored, and the CLI rightly leaves an ignored SIGINT alone.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("mode", ["sigint", "forced"])
def test_interrupt_then_resume(tiny_run, tmp_path, monkeypatch, mode, default_sigint):
    """Ctrl-C stops at the next checkpoint (a second one at once): exit 130, resumable."""
    real = runner_module.run_experiment

    def interrupted(*args, progress=None, **kwargs):  # noqa: ANN001, ANN202
        def cb(step, total, obs):  # noqa: ANN001, ANN202
            if step == 100:
                if mode == "sigint":  # the CLI's handler only sets a flag ...
                    os.kill(os.getpid(), signal.SIGINT)
                else:  # ... a second Ctrl-C raises wherever the run is
                    raise KeyboardInterrupt
            progress(step, total, obs)  # ... which is checked here, after a checkpoint

        return real(*args, progress=cb, **kwargs)

    out = tmp_path / "run"
    monkeypatch.setattr(runner_module, "run_experiment", interrupted)
    result = invoke("run", TINY, "--out", out)
    assert result.exit_code == 130
    assert "Traceback" not in result.output
    *notice, line = result.stderr.splitlines()
    assert line.startswith("Error: interrupted") and str(out) in line
    assert line.endswith(f"langevin-opt run {TINY} --out {out} --resume")
    if mode == "sigint":
        assert notice == ["interrupt: stopping after the next checkpoint; press Ctrl-C again "
                          "to stop now"]
        assert "interrupted at step 100;" in line
    else:
        assert notice == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    monkeypatch.setattr(runner_module, "run_experiment", real)
    with H5MDReader(out / "trajectory.h5") as reader:
        assert reader.checkpoint()[0] == 100
        assert reader.steps.tolist() == list(range(0, 101, 20))
        assert reader.parameters["status"] == "running"
    result = invoke("run", TINY, "--out", out, "--resume")
    assert result.exit_code == 0, result.output
    assert "resuming tiny_dw" in result.stdout
    params = stored_parameters(out / "trajectory.h5")
    assert params["status"] == "completed" and params["resumed_at_step"] == 100
    assert params["config"] == stored_parameters(tiny_run[0] / "trajectory.h5")["config"]
    assert "resumed_at_step: 100" in invoke("inspect", out / "trajectory.h5").stdout
    with H5MDReader(out / "trajectory.h5") as a, \
            H5MDReader(tiny_run[0] / "trajectory.h5") as b:
        assert np.array_equal(a.steps, b.steps)
        assert a.position().tobytes() == b.position().tobytes()
        assert a.observable("energy")[2].tobytes() == b.observable("energy")[2].tobytes()


def test_divergence_exits_1_and_keeps_frames(tmp_path):
    out = tmp_path / "div"
    result = invoke("run", DIVERGE, "--out", out)
    assert result.exit_code == 1, result.output
    line = error_line(result)
    step = int(re.search(r"at step (\d+)", line).group(1))
    walker = int(re.search(r"for walker (\d+)", line).group(1))
    assert 50 < step < 400  # it really diverges, after a few checkpoints
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "diverged"
    assert (summary["diverged_at_step"], summary["diverged_walker"]) == (step, walker)
    with H5MDReader(out / "trajectory.h5") as reader:
        assert reader.steps.tolist() == list(range(0, step, 20))
        assert np.all(np.isfinite(reader.position()))
        assert reader.checkpoint()[0] == (step - 1) // 50 * 50
        assert reader.parameters["status"] == "diverged"
    assert str(out / "trajectory.h5") in result.stdout


# --------------------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------------------


def test_validate_ok():
    result = invoke("validate", TINY)
    assert result.exit_code == 0
    assert result.stdout == "ok: tiny_dw (double_well, mala, 100 walkers x 200 steps)\n"
    result = invoke("validate", REPO / "experiments" / "quickstart.toml")
    assert result.exit_code == 0
    assert result.stdout.startswith("ok: quickstart (narrow_wide, mala, 12000 walkers x 20000")


def _edit(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


BASE_TEXT = TINY.read_text()
BAD_CONFIGS = {
    "unknown key": (_edit(BASE_TEXT, "walkers = 50", "walkres = 50"),
                    "[ensemble] unknown key 'walkres' (did you mean 'walkers'?)"),
    "unknown section": (BASE_TEXT + "\n[outptu]\nrecord_every = 1\n",
                        "unknown section [outptu] (did you mean 'output'?)"),
    "wrong type": (_edit(BASE_TEXT, "steps = 200", 'steps = "200"'),
                   "[ensemble] steps: must be an integer, got string '200'"),
    "wrong type list": (_edit(BASE_TEXT, "temperatures = [0.5, 1.0]", 'temperatures = "hot"'),
                        "[ensemble] temperatures: must be an array of finite numbers"),
    "out of range": (_edit(BASE_TEXT, "dt = 0.01", "dt = -0.01"), "dt must be"),
    "out of range seed": (_edit(BASE_TEXT, "seed = 7", "seed = -7"),
                          "[experiment] seed: must be in [0, 2**64)"),
    "landscape setting": (_edit(BASE_TEXT, "barrier = 2.0", "barier = 2.0"),
                          "unknown setting 'barier' for landscape 'double_well' (did you mean "
                          "'barrier'?)"),
    "unknown landscape": (_edit(BASE_TEXT, '"double_well"', '"double_wel"'),
                          "(did you mean 'double_well'?)"),
    "missing required": (_edit(BASE_TEXT, "seed = 7\n", ""),
                         "[experiment] seed: missing (required)"),
    "missing section": (BASE_TEXT.split("[integrator]")[0],
                        "[integrator] section is missing (required)"),
    "truncated toml": (BASE_TEXT[: BASE_TEXT.index("temperatures = [0.5") + 19],
                       "TOML syntax error"),
    "nan": (_edit(BASE_TEXT, "dt = 0.01", "dt = nan"), "dt"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_validate_config_errors(tmp_path, case):
    text, match = BAD_CONFIGS[case]
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    result = invoke("validate", cfg)
    assert result.exit_code == 2
    line = error_line(result)
    assert match in line
    assert line.startswith(f"Error: {cfg}")
    assert result.stdout == ""
    # run reports the same line and touches nothing
    result = invoke("run", cfg, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert error_line(result) == line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("make", ["missing", "directory", "binary"])
def test_validate_unreadable_config(tmp_path, make):
    cfg = tmp_path / "c.toml"
    if make == "directory":
        cfg.mkdir()
    elif make == "binary":
        cfg.write_bytes(b"\xff\xfe\x00bad")
    result = invoke("validate", cfg)
    assert result.exit_code == 2
    assert str(cfg) in error_line(result)


# --------------------------------------------------------------------------------------
# inspect
# --------------------------------------------------------------------------------------


def test_inspect(tiny_run):
    out, _ = tiny_run
    result = invoke("inspect", out / "trajectory.h5")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "format: H5MD 1.1, created by langevin_opt" in text
    assert "/particles/" in text and "/observables/energy" in text and "/checkpoint" in text
    assert "frames: 11, steps 0..200 (every 20)" in text
    assert re.search(r"particles: group '\w+', 100 walkers, dim 1, box boundary none", text)
    assert re.search(r"energy: shape \(11, 100\), steps 0\.\.200 \(every 20\), mean of last "
                     r"frame [-\d.]", text)
    assert "acceptance: shape (4, 100)" in text
    assert "checkpoint: step 200 of 200 (" in text
    assert "status: completed" in text
    assert "config: tiny_dw (double_well, mala, 200 steps)" in text
    assert "seed: 7" in text
    assert re.search(r"versions: langevin_opt \S+, numba \S+, numpy \S+", text)
    assert "started: " in text and "finished: " in text
    assert "temperatures: 0.5, 1" in text


def _bad_h5_files(tmp_path: Path) -> dict[str, Path]:
    text = tmp_path / "text.h5"
    text.write_text("hello, not HDF5\n")
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = np.arange(3)
    truncated = tmp_path / "truncated.h5"
    return {"missing": tmp_path / "missing.h5", "text": text, "plain": plain,
            "directory": tmp_path, "truncated": truncated}


@pytest.mark.parametrize("which", ["missing", "text", "plain", "directory", "truncated"])
@pytest.mark.parametrize("command", ["inspect", "plot"])
def test_inspect_and_plot_bad_files(tiny_run, tmp_path, which, command):
    files = _bad_h5_files(tmp_path)
    if which == "truncated":
        data = (tiny_run[0] / "trajectory.h5").read_bytes()
        files["truncated"].write_bytes(data[: len(data) // 3])
    path = files[which]
    args = [command, path] + (["-o", tmp_path / "fig.png"] if command == "plot" else [])
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert str(path) in error_line(result)
    assert not (tmp_path / "fig.png").exists()


# --------------------------------------------------------------------------------------
# plot
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["energy", "histogram", "paths"])
def test_plot_1d(tiny_run, tmp_path, kind):
    traj = tiny_run[0] / "trajectory.h5"
    fig = tmp_path / f"{kind}.png"
    result = invoke("plot", traj, "--kind", kind, "-o", fig)
    assert result.exit_code == 0, result.output
    assert fig.read_bytes().startswith(PNG)
    assert result.stdout == f"wrote {fig}\n"


def test_plot_options(tiny_run, tmp_path):
    traj = tiny_run[0] / "trajectory.h5"
    fig = tmp_path / "h.svg"
    result = invoke("plot", traj, "--kind", "histogram", "--temperature", "1", "-o", fig)
    assert result.exit_code == 0, result.output
    assert b"<svg" in fig.read_bytes()
    result = invoke("plot", traj, "--kind", "paths", "--walkers", "3", "-T", "0.5",
                    "-o", tmp_path / "p.png")
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def synthetic_2d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-D narrow_wide trajectory written directly (no sampling) with the runner's layout."""
    exp = load_config(NW2)
    landscape = exp.landscape()
    temps = np.repeat([0.3, 0.6], 40)
    rng = np.random.default_rng(0)
    steps = np.arange(0, 101, 20)
    pos = landscape.minima[rng.integers(0, 2, 80)] + rng.normal(0, 0.2, (len(steps), 80, 2))
    energies = np.stack([landscape.energy(p) for p in pos])
    path = tmp_path_factory.mktemp("nw2") / "trajectory.h5"
    with H5MDWriter(path, n_particles=80, dim=2, creator_version="test") as w:
        w.write_parameters({"config": exp.config, "seed": exp.seed,
                            "walker_temperatures": temps, "status": "completed"})
        w.append_frames(steps, steps * 0.003, position=pos)
        w.append_observables(steps, steps * 0.003, energy=energies,
                             mean_energy=energies.mean(axis=1))
    return path


@pytest.mark.parametrize("kind", ["energy", "histogram", "paths"])
def test_plot_2d(synthetic_2d, tmp_path, kind):
    fig = tmp_path / f"{kind}.png"
    result = invoke("plot", synthetic_2d, "--kind", kind, "-o", fig, "--walkers", "4")
    assert result.exit_code == 0, result.output
    assert fig.read_bytes().startswith(PNG)


def test_plot_default_output_next_to_file(synthetic_2d, tmp_path):
    traj = shutil.copy(synthetic_2d, tmp_path / "trajectory.h5")
    result = invoke("plot", traj)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "energy.png").read_bytes().startswith(PNG)


@pytest.mark.parametrize(
    "args,match",
    [
        (["--kind", "violin"], "Invalid value for '--kind': 'violin' is not one of"),
        (["--kind", "histogram", "--temperature", "0.7"], "--temperature 0.7: not in"),
        (["-o", "{tmp}/fig.xyz"], "unsupported figure format 'xyz'"),
        (["-o", "{tmp}/fig"], "unsupported figure format '(no extension)'"),
        (["-o", "{tmp}/no/such/dir/fig.png"], "does not exist"),
        (["--walkers", "0"], "--walkers"),
    ],
)
def test_plot_errors(synthetic_2d, tmp_path, args, match):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "fig.png")]
    result = invoke("plot", synthetic_2d, *args)
    assert result.exit_code == 2
    assert match in error_line(result)
    assert not (tmp_path / "fig.png").exists()


def test_plot_without_stored_config(tmp_path):
    path = tmp_path / "bare.h5"
    with H5MDWriter(path, n_particles=3, dim=1, creator_version="test") as w:
        w.append_frames(np.array([0]), np.array([0.0]), position=np.zeros((1, 3, 1)))
    result = invoke("plot", path, "--kind", "paths", "-o", tmp_path / "p.png")
    assert result.exit_code == 2
    assert "no stored config" in error_line(result)
    result = invoke("inspect", path)
    assert result.exit_code == 0
    assert "config: (not stored)" in result.stdout


# --------------------------------------------------------------------------------------
# list, help, entry points
# --------------------------------------------------------------------------------------


def test_list():
    result = invoke("list")
    assert result.exit_code == 0
    text = result.stdout
    for name in ("double_well", "narrow_wide", "muller_brown", "gaussian", "rastrigin",
                 "ackley"):
        assert re.search(rf"^  {name}: \S", text, re.M)
    assert "barrier: float = 1.0, tilt: float = 0.0" in text
    assert "Tilted 1-D double well" in text
    assert "baoab (BAOAB): Underdamped Langevin" in text
    assert "dt: float, friction: float = 1.0, mass: float = 1.0" in text
    for name in ("constant", "linear", "geometric", "cosine"):
        assert re.search(rf"^  {name}: ", text, re.M)


def test_unknown_command_is_one_line():
    result = invoke("frobnicate")
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in error_line(result)


def _python(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "langevin_opt.cli", *args],
                          env=_subprocess_env(), capture_output=True, text=True, timeout=300,
                          **kwargs)


def test_python_m_entry_point(tmp_path):
    ok = _python("validate", str(TINY))
    assert ok.returncode == 0 and ok.stdout.startswith("ok: tiny_dw")
    bad = tmp_path / "bad.toml"
    bad.write_text(BASE_TEXT[:200])
    proc = _python("run", str(bad), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("Error: ")
    assert "Traceback" not in proc.stderr + proc.stdout
    from langevin_opt.cuda import available

    if not available():  # no GPU: one line naming the CPU alternative, exit 2
        proc = _python("run", str(TINY), "--backend", "cuda")
        assert proc.returncode == 2 and "use --backend cpu" in proc.stderr
        assert proc.stderr.count("\n") == 1
    proc = _python("--version")
    assert proc.returncode == 0 and "langevin-opt" in proc.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_real_terminal_run(pty_run):
    """A real run on a pseudo-terminal: progress bar, exit status 0, summary."""
    run, cwd = pty_run
    status, text = run.finish()
    assert status == 0, text
    assert "\r[" in text and "step 200/200" in text and "ETA" in text
    assert "acceptance" in text
    assert "tiny_dw: completed, 200 steps" in text
    assert "Traceback" not in text
    assert not re.search(r"^step +\d+/200 ", text, re.M)
    with H5MDReader(cwd / "run" / "trajectory.h5") as reader:
        assert reader.steps.tolist() == list(range(0, 201, 20))


# --------------------------------------------------------------------------------------
# property test: malformed configs never give a traceback nor touch a valid output
# --------------------------------------------------------------------------------------

BASE = tomllib.loads(BASE_TEXT)
KEYS = sorted({k for sec in BASE.values() for k in sec} | {
    "dim", "friction", "mass", "init", "point", "replica_exchange", "swap_every", "kind",
    "final", "compression", "description", "tilt"})


def toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def dump_toml(doc: dict) -> str:
    lines = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in doc.items()
             if not isinstance(v, dict)]
    for sec, table in doc.items():
        if isinstance(table, dict):
            lines.append(f"\n[{json.dumps(sec)}]")
            lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, -1, 1, 2**63 - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.5, 1e300, -1e300, math.nan, math.inf]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8),
    st.sampled_from(["", "double_well", "gaussian", "narrow_wide", "mala", "gd", "uniform",
                     "minimum:5", "point", "geometric", "gzip"]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(
    st.sampled_from(KEYS), scalars, max_size=2))
key_names = st.one_of(st.sampled_from(KEYS),
                      st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10))


@st.composite
def malformed_configs(draw) -> str:  # noqa: ANN001
    if draw(st.integers(0, 4)) == 0:  # random truncation of the valid text
        return BASE_TEXT[: draw(st.integers(0, len(BASE_TEXT) - 1))]
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["extra", "replace", "delete", "delete_section"]))
        sections = sorted(doc)
        if op == "extra":
            where = draw(st.sampled_from([*sections, None]))
            target = doc if where is None or not isinstance(doc[where], dict) else doc[where]
            target[draw(key_names)] = draw(values)
        elif op == "replace":
            sec = draw(st.sampled_from(sections))
            if isinstance(doc[sec], dict) and doc[sec]:
                doc[sec][draw(st.sampled_from(sorted(doc[sec])))] = draw(values)
            else:
                doc[sec] = draw(values)
        elif op == "delete":
            sec = draw(st.sampled_from(sections))
            if isinstance(doc[sec], dict) and doc[sec]:
                del doc[sec][draw(st.sampled_from(sorted(doc[sec])))]
        elif sections:
            del doc[draw(st.sampled_from(sections))]
    text = dump_toml(doc)
    if draw(st.booleans()) and draw(st.integers(0, 3)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    return text


@pytest.fixture(scope="module")
def valid_output(tiny_run, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = copy_run(tiny_run[0], tmp_path_factory.mktemp("prop") / "run")
    return out, snapshot(out)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=malformed_configs())
def test_malformed_configs_never_traceback_nor_touch_output(valid_output, tmp_path, text):
    out, before = valid_output
    cfg = tmp_path / "fuzz.toml"
    cfg.write_text(text, encoding="utf-8")
    for args in (["validate", cfg], ["run", cfg, "--out", out]):
        result = invoke(*args)
        assert result.exit_code in (0, 1, 2), (result.exit_code, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), \
            repr(result.exception)
        assert "Traceback" not in result.output
        if result.exit_code:
            error_line(result)
    assert snapshot(out) == before


def test_commands_that_draw_nothing_do_not_import_matplotlib():
    # figures live in langevin_opt.plotting, which imports matplotlib only when drawing
    code = ("import sys\n"
            "from click.testing import CliRunner\n"
            "import langevin_opt.plotting, langevin_opt.rates, langevin_opt.runner\n"
            "from langevin_opt.cli import cli\n"
            f"r = CliRunner().invoke(cli, ['validate', {str(TINY)!r}])\n"
            "assert r.exit_code == 0, r.output\n"
            "r = CliRunner().invoke(cli, ['list'])\n"
            "assert r.exit_code == 0, r.output\n"
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
