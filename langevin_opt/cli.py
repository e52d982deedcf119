"""The ``langevin-opt`` command line: run, validate, inspect and plot experiments.

Commands
--------
``run CONFIG.toml``
    Run (or ``--resume``) an experiment config; writes ``DIR/trajectory.h5``,
    ``DIR/summary.json`` and figures (``DIR`` defaults to ``runs/<name>``).
``validate CONFIG.toml``
    Check a config of any kind (run, arrhenius, flatness, fit-potential,
    active-learn; told by its sections, :mod:`langevin_opt.schema.kinds`)
    without running it.  A config given to a command of another kind is a
    one-line error naming the command that runs it.
``inspect FILE [--verify]``
    Describe any output file.  HDF5 (walker run, arrhenius first-passage file,
    particle trajectory, SG-MCMC chains): kind, groups, frames, parameters,
    observables (for particles: those at the frames and the denser series), swap
    acceptance, the rate table, checkpoint; ``--verify`` also checks every checksum
    (exit 2 on corruption, naming the file, dataset and rows).  Every other output
    (:mod:`langevin_opt.outputs`: run, arrhenius, fit-potential and active-learn
    summaries, model and committee files, active-learning rounds and pools,
    extended XYZ data, sweep manifest/plan/table, flatness results): kind, config
    name, sizes and key results with units.  A file the package did not write is a
    one-line error listing the files understood.
``plot FILE [--kind K] [--metric COLUMN]``
    Figures of any output file, the default by its kind: walker runs ``energy``
    (mean energy traces), ``histogram`` (against the exact Boltzmann density),
    ``paths``, ``swaps`` (replica exchange); arrhenius files ``survival`` (of
    the first-passage times, per row), ``rates``; particle trajectories
    ``thermo`` (energies per atom, temperature, pressure against time); SG-MCMC
    chains ``energy`` (one colour per chain); summaries ``temperatures`` (run),
    ``rates`` (arrhenius), ``training`` (fit-potential: train and validation
    errors), ``learning`` (active-learn: test errors against the labelled set);
    model and committee files ``parameters``; rounds and pools ``pool``; sweeps
    ``metric`` (``--metric COLUMN`` of table.csv against the swept keys);
    flatness results ``flatness``.
``list``
    Built-in landscapes, integrators, schedules, particle potentials, SG-MCMC
    methods, cluster structures and the sections of every config kind, with
    their settings.
``arrhenius CONFIG.toml``
    Escape rates over a temperature grid (walkers on a landscape, or a cluster
    of atoms), censored-MLE rates with intervals, Arrhenius fit, saddle search
    and rate theory; writes ``DIR/first_passage.h5``, ``DIR/summary.json`` and
    ``DIR/arrhenius.png`` (body in :mod:`langevin_opt.rates.cli`).
``warmup [CONFIG.toml...] [--all] [--clear]``
    Compile the kernels of configs (or of every built-in landscape and
    integrator) into the disk cache (:mod:`langevin_opt.core.jitcache`), so
    later processes start without compiling.
``fit-potential CONFIG.toml --out DIR``, ``active-learn CONFIG.toml --out DIR``
    Neural potentials (bodies in :mod:`langevin_opt.mlip.cli` and
    :mod:`langevin_opt.mlip.active_cli`).
``sweep CONFIG.toml --out DIR``
    The ``[sweep]`` of a config of any kind on Dask (body in :mod:`langevin_opt.sweep`).

Exit codes: 0 success; 1 the run diverged (or failed while running); 2 user
errors (bad config, bad options, unusable output directory, another run
writing the same output, a damaged or corrupted file), reported as one
``Error: ...`` line on stderr without a traceback; 3 the disk is full or a
file-size limit was reached (the line names the cause and the last step whose
frames are safe; free space and continue with ``--resume``); 130 interrupted
(Ctrl-C or SIGTERM; a run can be continued with ``--resume``).

Reduced units throughout, ``k_B = 1``: temperatures are energies.
"""

from __future__ import annotations

import inspect as _inspect
import math
import re
import shutil
import signal
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path
from typing import Any, NoReturn

import click
import numba
import numpy as np

from ._version import __version__

__all__ = ["main", "cli", "CliError", "RunFailed"]

PROG = "langevin-opt"


# --------------------------------------------------------------------------
# errors and the one-line error policy
# --------------------------------------------------------------------------


class CliError(click.ClickException):
    """A user error: printed as one ``Error: ...`` line, exit status 2."""

    exit_code = 2


class RunFailed(click.ClickException):
    """The run itself failed (diverged): one ``Error: ...`` line, exit status 1."""

    exit_code = 1


class StorageFull(click.ClickException):
    """The disk is full or a file-size limit was hit: one ``Error: ...`` line, exit status 3."""

    exit_code = 3


class Interrupted(click.ClickException):
    """Ctrl-C or SIGTERM: one ``Error: ...`` line, exit status 130."""

    exit_code = 130


def _one_line(text: str) -> str:
    """Collapse whitespace (newlines included) into single spaces."""
    return " ".join(str(text).split())


class _Group(click.Group):
    """A click group whose errors are always one line on stderr, never a traceback.

    Click's own usage errors print the usage and a hint over several lines;
    here every :class:`click.ClickException` becomes ``Error: <message>`` (with
    a ``--help`` hint on the same line for usage errors) and exits with the
    exception's code.
    """

    def main(  # noqa: D102
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as err:
            msg = _one_line(err.format_message())
            if err.ctx is not None:
                msg += f" (see '{err.ctx.command_path} --help')"
            click.echo(f"Error: {msg}", err=True)
            sys.exit(err.exit_code)
        except click.ClickException as err:
            click.echo(f"Error: {_one_line(err.format_message())}", err=True)
            sys.exit(err.exit_code)
        except click.exceptions.Abort:
            click.echo("Error: interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


class _Backend(click.Choice):
    """``--backend``: ``cpu`` or ``cuda`` (checked for a usable GPU by :func:`_require_backend`)."""

    def __init__(self) -> None:
        super().__init__(["cpu", "cuda"], case_sensitive=False)


def _require_backend(backend: str) -> None:
    """Fail with one line (exit 2) if ``backend`` cannot run here; never fall back."""
    if backend != "cuda":
        return
    from .cuda import BackendUnavailableError, require

    try:
        require()
    except BackendUnavailableError as err:
        msg = str(err).replace("backend='cuda'", "--backend cuda")
        raise CliError(msg.replace("backend='cpu'", "--backend cpu")) from None


# --------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------


def _check_command(path: Path, command: str) -> None:
    """One-line CliError when ``path`` is another kind's config (naming the right command).

    A file that cannot be read is left to the command's own loader, whose error
    names the problem.
    """
    from .schema import ConfigError, read_toml
    from .schema.kinds import wrong_command_message

    try:
        raw = read_toml(path)
    except ConfigError:
        return
    msg = wrong_command_message(path, raw, command)
    if msg is not None:
        raise CliError(msg)


def _load_experiment(path: Path):  # noqa: ANN202
    """Load and validate a run config; ConfigError becomes a one-line CliError."""
    from .schema import ConfigError, load_config

    _check_command(path, "run")
    try:
        # absurd values (1e308...) make numpy warn on the way to the ConfigError
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            return load_config(path)
    except ConfigError as err:
        msg = _one_line(str(err))
        if not msg.startswith(str(path)):
            msg = f"{path}: {msg}"
        raise CliError(msg) from None
    except MemoryError:
        raise CliError(f"{path}: the config needs more memory than is available "
                       "(check [landscape] dim)") from None


def _describe(exp: Any) -> str:
    """``<landscape>, <integrator>, N walkers x S steps`` of an experiment."""
    cfg = exp.config
    ens = cfg["ensemble"]
    n = ens["walkers"] * len(ens["temperatures"])
    return (f"{cfg['landscape']['name']}, {cfg['integrator']['kind']}, "
            f"{n} walkers x {ens['steps']} steps")


_SAFE_NAME = re.compile(r"[\w.\- ]+")


def _default_out(name: str) -> Path:
    """``runs/<name>``, refusing names that are not a single safe path component."""
    if not _SAFE_NAME.fullmatch(name) or name.strip(" .") == "":
        raise CliError(
            f"experiment name {name!r} cannot be used as a directory name; pass --out DIR"
        )
    return Path("runs") / name


def _fmt_duration(seconds: float) -> str:
    """``M:SS`` or ``H:MM:SS``; ``--:--`` when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "--:--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _stdout_is_tty() -> bool:
    """Whether stdout is an interactive terminal (tests monkeypatch this)."""
    try:
        return bool(sys.stdout.isatty())
    except (AttributeError, ValueError):
        return False


def _fmt_num(v: Any, spec: str = ".6g") -> str:
    if v is None:
        return "-"
    try:
        return format(float(v), spec)
    except (TypeError, ValueError):
        return str(v)


class _Progress:
    """Progress display for :func:`langevin_opt.runner.run_experiment`.

    On a terminal: one bar redrawn in place with percentage, ETA and the
    current observables.  Otherwise: one plain log line per chunk.

    Parameters
    ----------
    total : int
        Steps of the run.
    start_step : int
        Step the run starts from (the checkpoint step when resuming).
    tty : bool
        Draw a bar (True) or print log lines (False).
    acceptance : bool
        Show the acceptance rate (meaningful for MALA only).
    """

    def __init__(self, total: int, start_step: int, tty: bool, acceptance: bool) -> None:
        self.total = int(total)
        self.start_step = int(start_step)
        self.tty = tty
        self.acceptance = acceptance
        self.t0 = time.perf_counter()
        self._first: tuple[int, float] | None = None
        self._width = 0
        self.last_step = self.start_step
        self._broken = False
        if tty:
            self._draw(self.start_step, {}, math.nan)

    def _eta(self, step: int, now: float) -> float:
        # measured from the second chunk on: the first one includes the JIT compilation
        if self._first is None or step <= self._first[0]:
            return math.nan
        rate = (step - self._first[0]) / max(now - self._first[1], 1e-9)
        return (self.total - step) / rate

    def _obs_text(self, obs: dict, sep: str) -> str:
        parts = []
        if "mean_energy" in obs:
            parts.append(f"<U>{sep}{obs['mean_energy']:.6g}")
        if self.acceptance and "acceptance" in obs:
            parts.append(f"acceptance{sep}{obs['acceptance']:.4f}")
        return "  ".join(parts)

    def _draw(self, step: int, obs: dict, eta: float) -> None:
        cols = shutil.get_terminal_size((100, 24)).columns
        frac = step / self.total if self.total else 1.0
        nbar = 24
        fill = int(round(frac * nbar))
        elapsed = _fmt_duration(time.perf_counter() - self.t0)
        text = (f"[{'#' * fill}{'-' * (nbar - fill)}] {100 * frac:3.0f}%  "
                f"step {step}/{self.total}  elapsed {elapsed}  ETA {_fmt_duration(eta)}")
        extra = self._obs_text(obs, " ")
        if extra:
            text += "  " + extra
        text = text[: max(cols - 1, 20)]
        pad = max(self._width - len(text), 0)
        self._width = len(text)
        click.echo("\r" + text + " " * pad, nl=False)
        sys.stdout.flush()

    def update(self, step: int, total: int, obs: dict) -> None:
        """Callback for ``run_experiment(progress=...)``.

        Parameters
        ----------
        step : int
            Global step reached (a checkpoint has just been written).
        total : int
            Steps of the run.
        obs : dict
            Current observables (``mean_energy``, ``acceptance``).
        """
        now = time.perf_counter()
        self.total = int(total)
        eta = self._eta(step, now)
        if self._first is None:
            self._first = (step, now)
        self.last_step = step
        if self._broken:
            return
        try:
            if self.tty:
                self._draw(step, obs, eta)
                return
            width = len(str(self.total))
            line = (f"step {step:>{width}}/{self.total} ({100 * step / self.total:5.1f}%)  "
                    f"{self._obs_text(obs, ' = ')}  elapsed {_fmt_duration(now - self.t0)}  "
                    f"ETA {_fmt_duration(eta)}")
            click.echo(line)
        except BrokenPipeError:  # stdout closed (e.g. piped into head): keep running
            self._broken = True

    def close(self) -> None:
        """End the bar's line (terminal mode)."""
        if self.tty and self._width and not self._broken:
            self._width = 0
            try:
                click.echo("")
            except BrokenPipeError:
                self._broken = True


class _GracefulInterrupt:
    """Ctrl-C or SIGTERM during a run: stop at the next checkpoint; a second one stops at once.

    The first SIGINT (or SIGTERM, what cluster schedulers send before they
    kill a job) only sets a flag, checked by the progress callback that the
    runner calls right after each checkpoint, where the file is consistent and
    nothing is buffered.  A signal that is ignored (SIGINT in background jobs)
    is left alone, and so is everything outside the main thread.

    Parameters
    ----------
    progress : _Progress or None
        Progress display to end before the notice.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, progress: _Progress | None) -> None:
        self.progress = progress
        self.requested = False
        self.signal_name = "interrupt"
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _GracefulInterrupt:
        for sig in self.SIGNALS:
            try:
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self._old[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread
                pass
        return self

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = "interrupt" if signum == signal.SIGINT else "SIGTERM"
        if self.progress is not None:
            self.progress.close()
        again = "press Ctrl-C again" if signum == signal.SIGINT else "send it again"
        try:
            click.echo(f"{self.signal_name}: stopping after the next checkpoint; {again} to "
                       "stop now", err=True)
        except OSError:
            pass

    def check(self) -> None:
        """Raise KeyboardInterrupt if a stop was requested."""
        if self.requested:
            raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


def _checkpoint_step(traj: Path) -> int:
    """Step of the checkpoint in ``traj`` (0 if it cannot be read; the runner reports why)."""
    from .storage import H5MDReader

    try:
        with H5MDReader(traj) as reader:
            ck = reader.checkpoint()
        return 0 if ck is None else int(ck[0])
    except Exception:  # noqa: BLE001 - best effort, only used for the ETA
        return 0


def _written(out: Path, figures: Sequence[Path]) -> list[Path]:
    from .runner import SUMMARY, TRAJECTORY

    paths = [out / TRAJECTORY, out / SUMMARY, *figures]
    return [p for p in paths if p.exists()]


# --------------------------------------------------------------------------
# the group
# --------------------------------------------------------------------------


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name=PROG)
def cli() -> None:
    """Langevin sampling over walker ensembles (reduced units, k_B = 1).

    Exit status: 0 ok, 1 the run diverged, 2 user error (one 'Error:' line;
    also: output locked by another run, damaged or corrupted file), 3 disk
    full or file-size limit (free space, then 'run --resume'), 130 interrupted
    (Ctrl-C or SIGTERM; resume with 'run --resume').
    """


# --------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", "-o", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Output directory [default: runs/<experiment name>].")
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint in --out.")
@click.option("--overwrite", is_flag=True, help="Replace an existing run in --out.")
@click.option("--threads", type=click.IntRange(1, numba.config.NUMBA_NUM_THREADS), default=None,
              help="Numba threads [default: all].")
@click.option("--backend", type=_Backend(), default="cpu", show_default=True,
              help="Compute backend (cuda: an NVIDIA GPU with numba-cuda).")
@click.option("--quiet", "-q", is_flag=True, help="Print only the final summary line.")
def run(config: Path, out_dir: Path | None, resume: bool, overwrite: bool,
        threads: int | None, backend: str, quiet: bool) -> None:
    """Run (or resume) the experiment CONFIG.toml.

    Writes DIR/trajectory.h5 (H5MD frames, observables, checkpoints),
    DIR/summary.json and figures.  Results do not depend on --threads, and a
    resumed run is bit-identical to an uninterrupted one.
    """
    from .core.errors import OutputError
    from .runner import TRAJECTORY, RunDiverged, prepare_output, run_experiment
    from .schema import ConfigError
    from .storage import CorruptionError, DamagedFileError, OutputLockedError, StorageFullError

    backend = backend.lower()
    _require_backend(backend)
    exp = _load_experiment(config)
    out = out_dir if out_dir is not None else _default_out(exp.name)
    traj = out / TRAJECTORY
    try:  # refuse before printing anything (run_experiment checks again)
        prepare_output(out, resume=resume, overwrite=overwrite)
    except OutputError as err:
        raise CliError(_one_line(str(err))) from None
    kind = exp.config["integrator"]["kind"]
    total = exp.config["ensemble"]["steps"]
    if not quiet:
        verb = "resuming" if resume else "running"
        click.echo(f"{verb} {exp.name} ({_describe(exp)}) -> {out}")
    progress: _Progress | None = None
    if not quiet:
        start = _checkpoint_step(traj) if resume and traj.is_file() else 0
        progress = _Progress(total, start, _stdout_is_tty(), acceptance=kind == "mala")
    resume_hint = f"{PROG} run {config} --out {out} --resume"
    reached: list[int] = []

    def on_chunk(step: int, total: int, obs: dict) -> None:
        reached.append(step)
        if progress is not None:
            progress.update(step, total, obs)
        stop.check()  # a checkpoint was just written: a safe point to stop

    stop = _GracefulInterrupt(progress)
    compiling = _CompileNotice(enabled=not quiet)
    try:
        with stop:
            report = run_experiment(exp, out, resume=resume, overwrite=overwrite,
                                    threads=threads, progress=on_chunk, backend=backend,
                                    notify=_notice, compiling=compiling)
    except (OutputError, ConfigError) as err:
        _close(progress)
        raise CliError(_one_line(str(err))) from None
    except RunDiverged as err:
        _close(progress)
        kept = ""
        try:
            from .storage import H5MDReader

            with H5MDReader(traj) as reader:
                n, steps = reader.n_frames, reader.steps
            kept = (f"; {n} frames (steps {steps[0]}..{steps[-1]}) kept in {traj}" if n
                    else f"; no frames before the failure in {traj}")
        except Exception:  # noqa: BLE001 - the message matters more than the detail
            kept = f"; frames before the failure kept in {traj}"
        msg = _one_line(str(err))
        if f"step {err.step}" not in msg or f"walker {err.walker}" not in msg:
            msg = f"at step {err.step} for walker {err.walker}: {msg}"
        if not quiet:
            click.echo(f"{exp.name}: diverged at step {err.step} (walker {err.walker}) -> {out}")
            click.echo("wrote:")
            for p in _written(out, []):
                click.echo(f"  {p}")
        raise RunFailed(f"run diverged: {msg}{kept}") from None
    except MemoryError:
        _close(progress)
        raise CliError(f"not enough memory for this run ({_describe(exp)}); reduce [ensemble] "
                       "walkers or [output] checkpoint_every x walkers / record_every") from None
    except KeyboardInterrupt:
        _close(progress)
        if traj.exists():
            at = f" at step {reached[-1]}" if reached and stop.requested else ""
            what = "terminated (SIGTERM)" if stop.signal_name == "SIGTERM" else "interrupted"
            raise Interrupted(f"{what}{at}; the run can be resumed with: {resume_hint}"
                              ) from None
        raise Interrupted("interrupted before anything was written") from None
    except StorageFullError as err:
        _close(progress)
        hint = f"; free space, then resume with: {resume_hint}" if traj.exists() else ""
        raise StorageFull(f"{_one_line(str(err))}{hint}") from None
    except (OutputLockedError, DamagedFileError, CorruptionError) as err:
        _close(progress)
        raise CliError(_one_line(str(err))) from None
    except OSError as err:
        _close(progress)
        if isinstance(err, BrokenPipeError):
            raise
        hint = f"; resume with: {resume_hint}" if traj.exists() else ""
        raise RunFailed(f"I/O error while writing {out}: {_one_line(str(err))}{hint}") from None
    finally:
        compiling.close()
    _close(progress)

    s = report.summary
    status_line = (f"{exp.name}: {s.get('status', 'completed')}, {report.steps_done} steps, "
                   f"{s.get('walkers', '?')} walkers, {report.wall_s:.1f} s -> {out}")
    written = _written(out, report.figures)
    if quiet:
        click.echo(status_line)
        return
    click.echo("")
    click.echo(status_line)
    from .outputs import run_summary_lines

    for line in run_summary_lines(s, kind):
        click.echo("  " + line)
    click.echo("wrote:")
    for p in written:
        click.echo(f"  {p}")


class _CompileNotice:
    """``run_experiment(compiling=...)``: says on stderr that (and how long) kernels compile.

    Prints ``compiling kernels (first run only)...`` when the first compilation
    starts and ``done in X s`` on the same line when the kernels are ready; nothing
    when every kernel came from the disk cache.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.pending = False

    def __call__(self, seconds: float | None) -> None:
        if not self.enabled:
            return
        if seconds is None:
            click.echo("compiling kernels (first run only)... ", err=True, nl=False)
            self.pending = True
        elif self.pending:
            click.echo(f"done in {seconds:.1f} s", err=True)
            self.pending = False

    def close(self) -> None:
        """End a line left open by a failure during compilation."""
        if self.pending:
            click.echo("", err=True)
            self.pending = False


def _notice(line: str) -> None:
    """Print a one-line notice (e.g. what a resume recovered) on stderr."""
    click.echo(f"warning: {_one_line(line)}", err=True)


def _close(progress: _Progress | None) -> None:
    if progress is not None:
        progress.close()


# --------------------------------------------------------------------------
# arrhenius (body in langevin_opt.rates.cli)
# --------------------------------------------------------------------------


def _load_rates_experiment(path: Path):  # noqa: ANN202
    """Load and validate an arrhenius config; ConfigError becomes a one-line CliError."""
    from .schema import ConfigError
    from .schema.arrhenius import load_rates_config

    _check_command(path, "arrhenius")
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            return load_rates_config(path)
    except ConfigError as err:
        msg = _one_line(str(err))
        raise CliError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", "-o", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Output directory [default: runs/<experiment name>].")
@click.option("--overwrite", is_flag=True, help="Replace an existing result in --out.")
@click.option("--threads", type=click.IntRange(1, numba.config.NUMBA_NUM_THREADS), default=None,
              help="Numba threads [default: all].")
@click.option("--quiet", "-q", is_flag=True, help="Print only the final summary line.")
def arrhenius(config: Path, out_dir: Path | None, overwrite: bool, threads: int | None,
              quiet: bool) -> None:
    """Escape rates over a temperature grid from the arrhenius config CONFIG.toml.

    Walkers start in one minimum and run until they commit to another basin
    (or are censored at the step limit).  Writes DIR/first_passage.h5 (H5MD,
    first-passage times per walker), DIR/summary.json and DIR/arrhenius.png,
    and prints the table (T, events, censored, k with CI, theory).
    """
    from .core.errors import OutputError
    from .rates.cli import run_arrhenius, table_lines
    from .schema import ConfigError
    from .storage import CorruptionError, DamagedFileError, OutputLockedError, StorageFullError

    exp = _load_rates_experiment(config)
    out = out_dir if out_dir is not None else _default_out(exp.name)
    if not quiet:
        rc = exp.config["rates"]
        grid = "settings" if exp.is_network and exp.method == "sgd" else "temperatures"
        click.echo(f"arrhenius {exp.name} ({exp.system_name}, {exp.method}, "
                   f"{rc['walkers']} walkers x {exp.n_rows()} {grid}) -> {out}")
    last = [0.0]

    def progress(step: int, total: int, running: int) -> None:
        now = time.monotonic()
        if not quiet and now - last[0] > 5.0:
            last[0] = now
            click.echo(f"  step {step}/{total}: {running} walkers running")

    try:
        report = run_arrhenius(exp, out, overwrite=overwrite, threads=threads, progress=progress)
    except ConfigError as err:  # a [network] start beyond the minima found
        raise CliError(f"{config}: {_one_line(str(err))}") from None
    except OutputError as err:
        raise CliError(_one_line(str(err))) from None
    except StorageFullError as err:
        raise StorageFull(_one_line(str(err))) from None
    except (OutputLockedError, DamagedFileError, CorruptionError) as err:
        raise CliError(_one_line(str(err))) from None
    except FloatingPointError as err:
        raise RunFailed(f"run diverged: {_one_line(str(err))}") from None
    except KeyboardInterrupt:
        raise Interrupted("interrupted (arrhenius runs cannot be resumed; run again with "
                          "--overwrite)") from None
    s = report.summary
    fit = s.get("fit")
    status = (f"{exp.name}: {sum(r['events'] for r in s['rows'])} escapes, "
              f"{sum(r['censored'] for r in s['rows'])} censored, {report.wall_s:.1f} s"
              + (f", barrier {fit['barrier']:.5g}" if fit else "") + f" -> {out}")
    if quiet:
        click.echo(status)
        return
    click.echo("")
    click.echo(status)
    for line in table_lines(s):
        click.echo("  " + line)
    click.echo("wrote:")
    for p in report.files:
        click.echo(f"  {p}")


# --------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
def validate(config: Path) -> None:
    """Validate CONFIG.toml of any kind without running it.

    The kind follows from the sections: [ensemble] run, [rates] arrhenius
    (landscape, [cluster] or [network]), [sgld] flatness, [descriptor] with
    [training] fit-potential, [descriptor] with [active] active-learn; a
    [sweep] section validates every point of the sweep.  Prints one 'ok:' line
    naming the kind and the command that runs it.
    """
    from .schema import ConfigError, read_toml
    from .schema.kinds import COMMANDS, config_kind, validate_any

    try:
        raw = read_toml(config)
        kind = config_kind(raw)
    except ConfigError as err:
        raise CliError(_one_line(str(err))) from None
    if "sweep" in raw:
        from .sweep import SweepError, plan_sweep

        try:
            plan = plan_sweep(config)
        except SweepError as err:
            raise CliError(_one_line(str(err))) from None
        click.echo(f"ok: sweep of {len(plan.points)} {plan.kind} points over "
                   f"{', '.join(plan.keys)} ({plan.mode}; every point validated); run with "
                   f"langevin-opt sweep {config} --out DIR")
        return
    if kind == "run":
        exp = _load_experiment(config)
        click.echo(f"ok: {exp.name} ({_describe(exp)})")
        return
    if kind == "arrhenius":
        exp = _load_rates_experiment(config)
        rc = exp.config["rates"]
        grid = "settings" if exp.is_network and exp.method == "sgd" else "temperatures"
        click.echo(f"ok: {exp.name} (arrhenius: {exp.system_name}, {exp.method}, "
                   f"{rc['walkers']} walkers x {exp.n_rows()} {grid}; run with "
                   f"{COMMANDS[kind].format(path=config)})")
        return
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            kind, cfg = validate_any(config)
    except ConfigError as err:
        msg = _one_line(str(err))
        raise CliError(msg if msg.startswith(str(config)) else f"{config}: {msg}") from None
    name = cfg.get("experiment", {}).get("name", "?")
    click.echo(f"ok: {name} ({kind} config; run with {COMMANDS[kind].format(path=config)})")


# --------------------------------------------------------------------------
# warmup: fill the kernel cache
# --------------------------------------------------------------------------


def _config_kind(path: Path) -> str:
    """The kind of a config (:func:`langevin_opt.schema.kinds.config_kind`; ``""``: none)."""
    from .schema import ConfigError, read_toml
    from .schema.kinds import config_kind

    try:
        raw = read_toml(path)
    except ConfigError as err:
        raise CliError(_one_line(str(err))) from None
    return config_kind(raw) or ""


def _tiny_run(exp: Any, work: Path) -> None:
    """Run ``exp`` cut to one walker per temperature and one chunk (the kernels of the run)."""
    import copy

    from .runner import run_experiment
    from .schema import validate_config

    cfg = copy.deepcopy(exp.config)
    ens, outp = cfg["ensemble"], cfg["output"]
    n = ens["swap_every"] if ens["replica_exchange"] else 1
    ens["walkers"], ens["steps"], outp["checkpoint_every"] = 1, n, n
    if outp["record_every"]:
        outp["record_every"] = n
    run_experiment(validate_config(cfg), work / "run", overwrite=True, make_figures=False)


def _tiny_arrhenius(exp: Any, work: Path) -> None:
    """Run an arrhenius config cut to one walker per temperature and one chunk."""
    import copy

    from .rates.cli import run_arrhenius
    from .schema.arrhenius import validate_rates_config

    cfg = copy.deepcopy(exp.config)
    r = cfg["rates"]
    r["walkers"], r["bootstrap"] = 1, 0
    r["max_steps"] = r["chunk"] if exp.is_cluster or exp.is_network else 1
    if exp.is_network:  # the saddle search (NEB) compiles nothing the run has not
        cfg["theory"]["enabled"] = False
    cfg["output"]["plot"] = False
    run_arrhenius(validate_rates_config(cfg), work / "run", overwrite=True)


def _tiny_sample(name: str, kind: str) -> None:
    """``sample`` one walker of the built-in landscape ``name`` for one step with ``kind``."""
    from .landscapes import make_landscape
    from .sampling import sample

    land = make_landscape(name)
    x0 = land.minima[:1] if land.minima is not None else np.zeros((1, land.dim))
    sample(land, x0, 1, method=kind, dt=1e-6, temperature=1.0, seed=0)


@cli.command()
@click.argument("configs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--all", "all_builtin", is_flag=True,
              help="Also every built-in landscape with every integrator.")
@click.option("--clear", is_flag=True, help="Delete the kernel cache first.")
def warmup(configs: tuple[Path, ...], all_builtin: bool, clear: bool) -> None:
    """Compile the kernels of CONFIG... into the disk cache, ahead of time.

    Each config (run or arrhenius) runs once, cut to one walker per temperature
    and one chunk, in a temporary directory: that compiles exactly the kernels
    its real run needs, and later processes load them from the cache instead of
    compiling (seconds each).  --all warms every built-in landscape with every
    integrator (not the replica-exchange drivers: a config warms those).  One
    line per item; the cache directory is printed last.  Several processes may
    warm one cache at once.
    """
    import tempfile

    from .core import jitcache
    from .landscapes import LANDSCAPES
    from .runner import CompileWatch
    from .sampling import INTEGRATORS

    if not (configs or all_builtin or clear):
        raise click.UsageError("give CONFIG files, --all or --clear")
    root = jitcache.cache_dir()
    if clear:
        click.echo(f"cleared {jitcache.clear_cache()} files from {root / 'kernels'}")
    if not (configs or all_builtin):
        return
    if not jitcache.caching_enabled():
        raise CliError("kernel caching is disabled (LANGEVIN_OPT_CACHE=0): nothing would be "
                       "stored; unset it to warm the cache")
    items: list[tuple[str, Callable[[Path], None]]] = []
    for path in configs:  # every config is checked before anything compiles
        kind = _config_kind(path)
        if kind == "run":
            exp = _load_experiment(path)
            items.append((f"{path} ({_describe(exp)})",
                          lambda work, exp=exp: _tiny_run(exp, work)))
        elif kind == "arrhenius":
            exp = _load_rates_experiment(path)
            items.append((f"{path} (arrhenius: {exp.system_name}, {exp.method})",
                          lambda work, exp=exp: _tiny_arrhenius(exp, work)))
        else:
            what = (f"a {kind} config; warmup compiles run and arrhenius configs" if kind
                    else "not a run or arrhenius config")
            click.echo(f"  {path}: skipped ({what})")
    if all_builtin:
        items += [(f"{name} / {kind}", lambda work, n=name, k=kind: _tiny_sample(n, k))
                  for name in LANDSCAPES for kind in INTEGRATORS]
    failed = 0
    for label, warm in items:
        click.echo(f"  {label}: ", nl=False)
        t0 = time.perf_counter()
        try:
            with CompileWatch() as watch, \
                    tempfile.TemporaryDirectory(prefix="langevin-opt-warmup-") as work:
                warm(Path(work))
        except Exception as err:  # noqa: BLE001 - report and go on with the others
            failed += 1
            click.echo(f"failed: {_one_line(str(err)) or type(err).__name__}")
            continue
        dt = time.perf_counter() - t0
        click.echo(f"compiled in {watch.seconds:.1f} s" if watch.count
                   else f"loaded from the cache ({dt:.1f} s)")
    n_modules = len(list((root / "kernels").glob("*.py")))
    click.echo(f"kernel cache: {root / 'kernels'} ({n_modules} kernel modules)")
    if failed:
        raise RunFailed(f"{failed} of {len(items)} items failed to compile")


# --------------------------------------------------------------------------
# HDF5 files: open with one-line errors
# --------------------------------------------------------------------------


def _check_file(path: Path) -> None:
    if not path.exists():
        raise CliError(f"{path}: no such file")
    if path.is_dir():
        raise CliError(f"{path}: is a directory, expected an output file")


def _open_reader(path: Path):  # noqa: ANN202
    """Open an H5MD file; every failure becomes a one-line CliError."""
    from .outputs import understood
    from .storage import CorruptionError, DamagedFileError, H5MDReader

    _check_file(path)
    known = f"; inspect and plot understand the outputs of langevin-opt: {understood()}"
    try:
        return H5MDReader(path)
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except (DamagedFileError, CorruptionError) as err:
        msg = _one_line(str(err))
        if "not an HDF5 file" in msg:  # not damaged: never one of ours
            msg += known
        raise CliError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    except OSError as err:
        text = _one_line(str(err))
        if "signature" in text.lower():
            raise CliError(f"{path}: not an HDF5 file{known}") from None
        raise CliError(f"{path}: cannot read ({text})") from None
    except (ValueError, KeyError) as err:
        msg = _one_line(str(err))
        if "not an H5MD file" in msg:
            msg += known
        raise CliError(f"{path}: {msg}") from None


def _steps_text(steps: np.ndarray) -> str:
    if steps.size == 0:
        return "none"
    text = f"{int(steps[0])}..{int(steps[-1])}"
    if steps.size > 1:
        d = np.diff(steps)
        text += f" (every {int(d[0])})" if np.all(d == d[0]) else " (irregular)"
    return text


def _group_lines(path: Path) -> list[str]:
    import h5py

    lines = []
    with h5py.File(path, "r") as f:
        for name in sorted(f):
            obj = f[name]
            if not isinstance(obj, h5py.Group):
                lines.append(f"/{name} (dataset {obj.shape})")
                continue
            if name in ("particles", "observables"):
                for sub in sorted(obj):
                    child = obj[sub]
                    members = ", ".join(sorted(child)) if isinstance(child, h5py.Group) else ""
                    lines.append(f"/{name}/{sub}" + (f"  ({members})" if members else ""))
                if not len(obj):
                    lines.append(f"/{name}  (empty)")
            else:
                members = ", ".join(sorted(obj))
                lines.append(f"/{name}" + (f"  ({members})" if members else ""))
    return lines


# --------------------------------------------------------------------------
# inspect
# --------------------------------------------------------------------------


@cli.command("inspect")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--verify", is_flag=True,
              help="Also check every checksum (frames, segment files, checkpoints); "
                   "corruption is an error (exit 2) naming the file, dataset and rows.")
def inspect_cmd(file: Path, verify: bool) -> None:
    """Describe any output FILE the package writes (--verify: and check its checksums).

    HDF5 files: walker runs (trajectory.h5), arrhenius first_passage.h5, particle
    trajectories, SG-MCMC chains.  Other outputs: run and arrhenius summary.json,
    fit-potential model.npz / committee.npz / summary.json, active-learn summaries,
    round errors.json, pool.npz and extended XYZ data, sweep manifest.json /
    sweep.json / table.csv, flatness results.  Prints the kind, the config name, the
    sizes and the key results with units.
    """
    from .storage import CorruptionError

    if not _is_hdf5(file):
        _inspect_other(file, verify)
        return
    reader = _open_reader(file)
    try:
        if verify:
            _raise_corruption(file, reader.verify())
        _inspect_lines(file, reader)
        if verify:
            click.echo("checksums: ok (frames, observables, checkpoints)")
    except CorruptionError as err:
        raise CliError(f"{file}: corrupted: {_one_line(str(err))}") from None
    except (OSError, ValueError, KeyError) as err:
        if isinstance(err, OSError) and not verify:  # a failed checksum: say where
            try:
                _raise_corruption(file, reader.verify())
            except (OSError, ValueError, KeyError):
                pass
        raise CliError(f"{file}: cannot read ({_one_line(str(err))})") from None
    finally:
        reader.close()


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _is_hdf5(path: Path) -> bool:
    """Whether ``path`` is an HDF5 file (its signature; missing files count as HDF5).

    A missing file or a directory goes the HDF5 way, whose errors name it.  The
    signature may also sit at 512, 1024, ... bytes (a user block).
    """
    if not path.is_file():
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if head == _HDF5_SIGNATURE:
                return True
            size = path.stat().st_size
            off = 512
            while off + 8 <= size and off <= 1 << 20:
                fh.seek(off)
                if fh.read(8) == _HDF5_SIGNATURE:
                    return True
                off *= 2
    except OSError:
        return True
    return path.suffix.lower() in (".h5", ".hdf5", ".h5md")


def _identify_other(file: Path) -> tuple[str, Any]:
    """:func:`langevin_opt.outputs.identify` with its errors as one-line CliErrors."""
    from .outputs import OutputFileError, identify

    try:
        return identify(file)
    except OutputFileError as err:
        raise CliError(_one_line(str(err))) from None
    except OSError as err:
        raise CliError(f"{file}: cannot read ({_one_line(str(err))})") from None


def _inspect_other(file: Path, verify: bool) -> None:
    """``inspect`` of an output that is not HDF5 (:mod:`langevin_opt.outputs`)."""
    from .outputs import describe

    kind, content = _identify_other(file)
    if verify and kind in ("model", "committee"):
        from .mlip import load_committee, load_model
        from .mlip.io import ModelFileError

        try:
            (load_model if kind == "model" else load_committee)(file)
        except ModelFileError as err:
            msg = _one_line(str(err))
            raise CliError(msg if str(file) in msg else f"{file}: {msg}") from None
    try:
        lines = describe(file, kind, content)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise CliError(f"{file}: damaged {kind} file ({_one_line(str(err))})") from None
    for line in lines:
        click.echo(line)
    if verify:
        click.echo("checksums: ok (SHA-256 of the metadata and arrays)"
                   if kind in ("model", "committee")
                   else f"checksums: none stored in a {kind} file")


def _raise_corruption(file: Path, problems: list[str]) -> None:
    """One-line CliError naming the first checksum problem of :meth:`H5MDReader.verify`."""
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CliError(f"{file}: corrupted: {_one_line(problems[0])}{more}")


#: What ``inspect`` and ``plot`` call each kind of output file.
FILE_KINDS = {
    "run": "walker run (langevin-opt run)",
    "arrhenius": "first-passage times (langevin-opt arrhenius)",
    "particles": "particle trajectory (particles.open_trajectory)",
    "walkers": "walker trajectory (H5MDWriter)",
    "sgmcmc": "SG-MCMC chains (sgmcmc.run_chains out=...)",
}

#: ``plot --kind`` values per file kind; the first is the default.
PLOT_KINDS = {
    "run": ("energy", "histogram", "paths", "swaps"),
    "walkers": ("energy", "paths"),
    "arrhenius": ("survival", "rates"),
    "particles": ("thermo",),
    "sgmcmc": ("energy",),
}


def _file_kind(reader: Any, params: dict) -> str:
    """``run``, ``arrhenius``, ``particles`` or ``walkers`` (any other H5MD walker file).

    Told by the stored ``kind`` parameter (arrhenius), the particle group
    (``trajectory``: :func:`langevin_opt.particles.open_trajectory`) and the stored
    config (``[ensemble]``: a walker run); the observables decide when the parameters
    are missing.
    """
    names = reader.observable_names
    if params.get("kind") == "arrhenius" or "first_passage_time" in names:
        return "arrhenius"
    if reader.particle_group == "trajectory":
        return "particles"
    if reader.particle_group == "chains" and isinstance(params.get("sgmcmc"), dict):
        return "sgmcmc"
    cfg = params.get("config")
    if isinstance(cfg, dict) and "ensemble" in cfg:
        return "run"
    return "walkers"


def _arrhenius_system(cfg: dict) -> tuple[str, str]:
    """(``landscape``/``cluster``/``network``, a description) of a stored arrhenius config."""
    if isinstance(cfg.get("cluster"), dict):
        c = cfg["cluster"]
        return "cluster", f"cluster {c.get('structure', '?')}"
    if isinstance(cfg.get("network"), dict):
        n, d = cfg["network"], cfg.get("data", {}) or {}
        method = (cfg.get("rates", {}) or {}).get("method") or "langevin"
        return "network", (f"network hidden {n.get('hidden', '?')} {n.get('activation', '')} on "
                           f"{d.get('kind', '?')}, {method}")
    land = cfg.get("landscape", {}) or {}
    integ = cfg.get("integrator", {}) or {}
    return "landscape", f"landscape {land.get('name', '?')}, {integ.get('kind', '?')}"


def _swap_acceptance(reader: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Replica-exchange swap acceptance of a run file: ``(steps, (n_records, n_pairs))``.

    Read from the one ``swap_acceptance`` observable; files written before it
    (one ``swap_acceptance_<k>`` group per pair) are merged in pair order.  None
    when the run had no replica exchange.
    """
    names = reader.observable_names
    if "swap_acceptance" in names:
        steps, _, values = reader.observable("swap_acceptance")
        values = np.asarray(values, dtype=np.float64)
        return np.asarray(steps), values.reshape(values.shape[0], -1)
    old = sorted((int(m.group(1)), n) for n in names
                 if (m := re.fullmatch(r"swap_acceptance_(\d+)", n)))
    if not old:
        return None
    cols = [reader.observable(n) for _, n in old]
    steps = np.asarray(cols[0][0])
    return steps, np.column_stack([np.asarray(c[2], dtype=np.float64).reshape(-1)
                                   for c in cols])


def _inspect_lines(file: Path, reader: Any) -> None:
    echo = click.echo
    params = reader.parameters
    kind = _file_kind(reader, params)
    size = file.stat().st_size
    echo(f"file: {file} ({size / 1024:.1f} KiB)")
    try:
        meta = reader.h5md_metadata
        echo(f"format: H5MD {'.'.join(map(str, meta['version']))}, created by "
             f"{meta['creator']} {meta['creator_version']}")
    except (KeyError, ValueError, OSError):
        pass
    what = FILE_KINDS[kind]
    cfg = params.get("config")
    if kind == "arrhenius" and isinstance(cfg, dict):
        what += f": {_arrhenius_system(cfg)[1]}"
    echo(f"kind: {what}; plot --kind {'|'.join(PLOT_KINDS[kind])}")
    echo("groups:")
    for line in _group_lines(file):
        echo(f"  {line}")

    n = reader.n_frames
    if reader.particle_group is not None and n:
        steps, times = reader.steps, reader.times
        echo(f"frames: {n}, steps {_steps_text(steps)}, time {times[0]:.6g}..{times[-1]:.6g}")
    else:
        echo(f"frames: {n}")
    if reader.particle_group is not None:
        try:
            box = reader.box
            edges = "none" if box.edges is None else np.array2string(box.edges, precision=6)
            noun = {"particles": "atoms", "sgmcmc": "chains"}.get(kind, "walkers")
            if kind == "arrhenius" and isinstance(cfg, dict) \
                    and _arrhenius_system(cfg)[0] == "cluster":
                noun = "replicas (one cluster each)"
            echo(f"particles: group '{reader.particle_group}', {reader.n_particles} {noun}, "
                 f"dim {box.dimension}, box boundary {', '.join(box.boundary)}, edges {edges}")
        except (KeyError, ValueError) as err:
            echo(f"particles: group '{reader.particle_group}' ({_one_line(str(err))})")
    else:
        echo("particles: none")

    echo("parameters:")
    if isinstance(cfg, dict) and kind == "arrhenius":
        rc = cfg.get("rates", {}) or {}
        sgd = rc.get("method") == "sgd"
        n_rows = (len(rc.get("learning_rates") or []) * len(rc.get("batch_sizes") or [])
                  if sgd else len(rc.get("temperatures") or []))
        echo(f"  config: {cfg.get('experiment', {}).get('name', '?')} (arrhenius: "
             f"{_arrhenius_system(cfg)[1]}, {rc.get('walkers', '?')} walkers x {n_rows} "
             f"{'settings' if sgd else 'temperatures'}, max_steps {rc.get('max_steps', '?')})")
    elif isinstance(cfg, dict):
        exp_t = cfg.get("experiment", {})
        echo(f"  config: {exp_t.get('name', '?')} ({cfg.get('landscape', {}).get('name', '?')}, "
             f"{cfg.get('integrator', {}).get('kind', '?')}, "
             f"{cfg.get('ensemble', {}).get('steps', '?')} steps)")
    elif kind == "sgmcmc":
        sg = params["sgmcmc"]
        meth = sg.get("method") or {}
        land = sg.get("landscape") or {}
        temps = sg.get("temperatures") or []
        echo(f"  method: {meth.get('kind', '?')} ("
             + ", ".join(f"{k} {v}" for k, v in meth.items() if k != "kind") + ")")
        echo(f"  landscape: {land.get('name', '?')}, {land.get('n_params', '?')} parameters, "
             f"{land.get('n_data', '?')} data, batch {land.get('batch_size', '?')}")
        echo(f"  chains: {sg.get('n_chains', '?')} x {sg.get('n_steps', '?')} steps (burn-in "
             f"{sg.get('burn_in', '?')}, thin {sg.get('thin', '?')}), seed {sg.get('seed', '?')}"
             f", T = {', '.join(f'{t:g}' for t in dict.fromkeys(temps)) or '?'} (k_B = 1)")
        res = params.get("result") or {}
        if res:
            status = res.get("status") or []
            bad = [c for c, v in enumerate(status) if v != -1]
            echo(f"  result: final energy U per chain "
                 f"{', '.join(_fmt_num(e, '.6g') for e in res.get('energy', []))}; "
                 f"{'all chains finite' if not bad else f'diverged chains {bad}'}; "
                 f"{res.get('nfev', '?')} gradient evaluations per chain")
    else:
        echo("  config: (not stored)")
    if "seed" in params:
        echo(f"  seed: {params['seed']}")
    versions = [f"{k.removesuffix('_version')} {params[k]}" for k in
                ("langevin_opt_version", "numba_version", "numpy_version") if k in params]
    if versions:
        echo(f"  versions: {', '.join(versions)}")
    for key in ("started", "resumed_at_step", "finished", "status", "final_step"):
        if key in params:
            echo(f"  {key}: {params[key]}")
    if "walker_temperatures" in params:
        temps = np.unique(np.asarray(params["walker_temperatures"], dtype=float))
        echo(f"  temperatures: {', '.join(f'{t:g}' for t in temps)}")
    shown = {"config", "seed", "langevin_opt_version", "numba_version", "numpy_version",
             "started", "resumed_at_step", "finished", "status", "final_step",
             "walker_temperatures", "kind", "sgmcmc", "result"}
    if kind == "arrhenius":
        shown.add("summary")
    others = sorted(set(params) - shown)
    if others:
        echo(f"  other keys: {', '.join(others)}")

    framed = set(reader.frame_observable_names)
    names = [n for n in reader.observable_names if n not in framed or kind != "particles"]
    last_what = "mean of the row" if kind == "arrhenius" else "mean of last frame"
    if kind == "particles":
        echo("observables at the frames (/observables, one row per frame):"
             if framed else "observables at the frames: none")
        for name in sorted(framed):
            _, _, values = reader.observable(name, at_frames=True)
            last = f"{float(np.mean(values[-1])):.6g}" if len(values) else "-"
            echo(f"  {name}: shape {tuple(values.shape)}, last frame {last}")
        series = [n for n in reader.observable_names if n != "dt"]
        echo("observable series (/observable_series, every recorded step):" if series
             else "observable series: none")
        names = series
    else:
        echo("observables:" if names else "observables: none")
    for name in names:
        steps, _, values = reader.observable(name)
        last = f"{float(np.mean(values[-1])):.6g}" if len(values) else "-"
        echo(f"  {name}: shape {tuple(values.shape)}, steps {_steps_text(steps)}, "
             f"{'last value' if kind == 'particles' else last_what} {last}")
    swaps = _swap_acceptance(reader) if kind in ("run", "walkers") else None
    if swaps is not None and swaps[1].shape[0]:
        echo("swap acceptance (last record; pair k swaps T_k and T_k+1): "
             + " ".join(f"{v:.3f}" for v in swaps[1][-1]))
    if kind == "arrhenius" and isinstance(params.get("summary"), dict) \
            and params["summary"].get("rows"):
        from .rates.cli import table_lines

        echo("escape rates (/parameters/summary):")
        for line in table_lines(params["summary"]):
            echo(f"  {line}")

    ck = reader.checkpoint()
    if ck is None:
        echo("checkpoint: none")
    else:
        step, arrays, attrs = ck
        total = attrs.get("total_steps")
        of = f" of {total}" if total is not None else ""
        echo(f"checkpoint: step {step}{of} ({', '.join(sorted(arrays))})")


# --------------------------------------------------------------------------
# plot
# --------------------------------------------------------------------------


def _stored_experiment(file: Path, params: dict):  # noqa: ANN202
    """Rebuild the validated experiment from the config stored in the file."""
    from .schema import ConfigError, validate_config

    cfg = params.get("config")
    if not isinstance(cfg, dict):
        raise CliError(f"{file}: no stored config (parameters/config); cannot rebuild the "
                       "landscape")
    # the stored config is the normalised one: drop the None placeholders of unset keys
    raw = {sec: ({k: v for k, v in tbl.items() if v is not None} if isinstance(tbl, dict)
                 else tbl) for sec, tbl in cfg.items()}
    try:
        return validate_config(raw)
    except ConfigError as err:
        raise CliError(f"{file}: stored config is invalid: {_one_line(str(err))}") from None


def _stored_walker_temperatures(file: Path, params: dict, n: int) -> np.ndarray:
    """Per-walker temperatures as stored in the file (written by ``runner.walker_layout``)."""
    wt = params.get("walker_temperatures")
    if wt is None:
        raise CliError(f"{file}: no walker_temperatures in parameters")
    wt = np.asarray(wt, dtype=np.float64).ravel()
    if wt.size != n:
        raise CliError(f"{file}: walker_temperatures has {wt.size} entries for {n} walkers")
    return wt


def _pick_temperature(file: Path, wt: np.ndarray, temperature: float | None) -> float:
    temps = np.unique(wt)
    if temperature is None:
        return float(temps.min())
    hit = temps[np.isclose(temps, temperature, rtol=1e-9, atol=1e-12)]
    if hit.size == 0:
        raise CliError(f"--temperature {temperature:g}: not in {file}; available: "
                       f"{', '.join(f'{t:g}' for t in temps)}")
    return float(hit[0])


def _check_output(output: Path) -> None:
    from .plotting._base import supported_formats

    supported = supported_formats()
    ext = output.suffix.lstrip(".").lower()
    if ext not in supported:
        raise CliError(f"-o {output}: unsupported figure format {ext or '(no extension)'!r}; "
                       f"use one of {', '.join(supported)}")
    parent = output.parent
    if not parent.is_dir():
        raise CliError(f"-o {output}: directory {parent} does not exist")


def _draw(figure: Callable[..., Path], *args: Any, output: Path, **kwargs: Any) -> None:
    """Call a :mod:`langevin_opt.plotting` function; a failed write is a one-line error."""
    try:
        figure(*args, output, **kwargs)
    except OSError as err:
        raise CliError(f"-o {output}: cannot write figure ({_one_line(str(err))})") from None


def _exact_temperature(exp: Any, temperature: float, step: int) -> float:
    """Temperature of the walkers at ``step`` (nominal times the schedule factor)."""
    total = exp.config["ensemble"]["steps"]
    factor = float(exp.schedule().factors(np.array([step]), total)[0])
    return temperature * factor


def _plot_chain_energy(file: Path, reader: Any, params: dict, output: Path) -> None:
    """Energy of every SG-MCMC chain against the step (one colour per chain)."""
    from .plotting.outputs import chain_energy_figure

    if "energy" not in reader.observable_names:
        raise CliError(f"{file}: no 'energy' observable to plot (no samples were kept)")
    sg = params["sgmcmc"]
    steps, _, values = reader.observable("energy")
    steps = np.asarray(steps)
    values = np.asarray(values, dtype=np.float64)
    temps = np.asarray(sg.get("temperatures") or [], dtype=np.float64)
    n = temps.size or reader.n_particles
    if values.ndim == 2 and values.shape == (n, steps.size) and values.shape[1] != n:
        values = values.T  # stored chain-first
    if values.ndim != 2 or values.shape != (steps.size, n):
        raise CliError(f"{file}: observable 'energy' has shape {values.shape}, expected "
                       f"({steps.size} steps, {n} chains)")
    if temps.size == 0:
        temps = np.ones(n)
    name = (sg.get("method") or {}).get("kind", "SG-MCMC")
    _draw(chain_energy_figure, steps, values, temps, output=output,
          title=f"{file.stem} ({name})")


def _plot_energy(file: Path, reader: Any, params: dict, output: Path) -> None:
    from .plotting import energy_figure

    if _file_kind(reader, params) == "sgmcmc":
        _plot_chain_energy(file, reader, params, output)
        return
    names = reader.observable_names
    traces = []
    exact_legend = False
    if "energy" in names:
        steps, _, values = reader.observable("energy")
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2:
            raise CliError(f"{file}: observable 'energy' has shape {values.shape}, "
                           "expected (frames, walkers)")
        wt = _stored_walker_temperatures(file, params, values.shape[1])
        exp = None
        if isinstance(params.get("config"), dict):
            exp = _stored_experiment(file, params)
        from .plotting._base import distinct_labels

        temps = np.unique(wt)
        for t, label in zip(temps, distinct_labels("T = ", temps), strict=True):
            sel = wt == t
            exact = _exact_mean_energy(exp, t) if exp is not None else None
            traces.append((label, steps, values[:, sel].mean(axis=1), exact))
        exact_legend = exp is not None and exp.config["schedule"]["kind"] == "constant"
    elif "mean_energy" in names:
        steps, _, values = reader.observable("mean_energy")
        traces.append(("all walkers", steps, values, None))
    else:
        raise CliError(f"{file}: no 'energy' or 'mean_energy' observable to plot")
    title = params.get("config", {}).get("experiment", {}).get("name", file.stem) \
        if isinstance(params.get("config"), dict) else file.stem
    _draw(energy_figure, traces, output=output, title=title, exact_legend=exact_legend)


def _exact_mean_energy(exp: Any, t: float) -> float | None:
    """Exact ``<U>_T`` by quadrature (constant schedule, 1-D/2-D, ``T > 0``), else None."""
    if exp.config["schedule"]["kind"] != "constant" or t <= 0:
        return None
    try:
        landscape = exp.landscape()
        if landscape.dim > 2 or landscape.bounds is None:
            return None
        from .analysis.quadrature import quadrature_grid

        return float(quadrature_grid(landscape, basins=False).at(t).mean_energy)
    except ValueError:
        return None


def _plot_histogram(file: Path, reader: Any, params: dict, output: Path,
                    temperature: float | None, bins: int) -> None:
    from .plotting import histogram_figure

    exp = _stored_experiment(file, params)
    landscape = exp.landscape()
    if reader.n_frames == 0:
        raise CliError(f"{file}: no frames recorded")
    pos = np.asarray(reader.position(-1), dtype=np.float64)
    step = int(reader.steps[-1])
    wt = _stored_walker_temperatures(file, params, pos.shape[0])
    t = _pick_temperature(file, wt, temperature)
    x = pos[wt == t]
    x = x[np.all(np.isfinite(x), axis=1)]
    if landscape.dim > 2:
        raise CliError(f"{file}: histogram plots need a 1-D or 2-D landscape, "
                       f"got dim {landscape.dim}")
    t_eff = _exact_temperature(exp, t, step)
    grid = None
    if t_eff > 0 and landscape.bounds is not None:
        from .analysis.quadrature import quadrature_grid

        try:
            grid = quadrature_grid(landscape, basins=False)
        except ValueError:
            grid = None
    label_t = f"T = {t:g}" + (f" (annealed to {t_eff:.4g} at step {step})"
                              if t_eff != t else "")
    _draw(histogram_figure, landscape, x, output=output, grid=grid, temperature=t_eff,
          step=step, bins=bins, title=f"{exp.name}: {label_t}")


def _plot_paths(file: Path, reader: Any, params: dict, output: Path,
                temperature: float | None, n_walkers: int) -> None:
    from .plotting import paths_figure

    exp = _stored_experiment(file, params)
    landscape = exp.landscape()
    n = reader.n_frames
    if n == 0:
        raise CliError(f"{file}: no frames recorded")
    m = reader.n_particles
    wt = _stored_walker_temperatures(file, params, m)
    if temperature is None:
        pool = np.arange(m)
    else:
        pool = np.flatnonzero(wt == _pick_temperature(file, wt, temperature))
    if landscape.dim > 2:
        raise CliError(f"{file}: path plots need a 1-D or 2-D landscape, got dim {landscape.dim}")
    idx = pool[np.unique(np.linspace(0, pool.size - 1, min(n_walkers, pool.size)).astype(int))]
    paths = np.stack([np.asarray(reader.position(f), dtype=np.float64)[idx] for f in range(n)])
    title = f"{exp.name}: {len(idx)} walker paths" + (" (o start, x end)"
                                                       if landscape.dim == 2 else "")
    if exp.config["ensemble"]["replica_exchange"]:
        title += "\nreplica exchange: a path follows a temperature slot across swaps"
    _draw(paths_figure, landscape, reader.steps, paths, idx, wt, output=output, title=title)


def _plot_swaps(file: Path, reader: Any, params: dict, output: Path) -> None:
    from .plotting import swap_acceptance_figure

    swaps = _swap_acceptance(reader)
    if swaps is None or not swaps[1].shape[0]:
        raise CliError(f"{file}: no swap acceptance stored (not a replica-exchange run)")
    temps = np.unique(_stored_walker_temperatures(file, params, reader.n_particles))
    name = params.get("config", {}).get("experiment", {}).get("name", file.stem)
    _draw(swap_acceptance_figure, temps, swaps[0], swaps[1], output=output,
          title=f"{name}: replica-exchange swap acceptance")


def _arrhenius_rows(file: Path, reader: Any) -> tuple[list[str], list[np.ndarray], bool]:
    """Row labels and walker masks of an arrhenius file (temperatures or SGD settings)."""
    names = reader.observable_names
    temp = np.asarray(reader.observable("temperature")[2][-1], dtype=np.float64)
    if "learning_rate" in names and "batch_size" in names:
        lr = np.asarray(reader.observable("learning_rate")[2][-1], dtype=np.float64)
        bs = np.asarray(reader.observable("batch_size")[2][-1]).astype(np.int64)
        keys = list(dict.fromkeys(zip(lr.tolist(), bs.tolist(), strict=True)))
        return ([f"lr {a:.4g}, batch {b}" for a, b in keys],
                [(lr == a) & (bs == b) for a, b in keys], True)
    from .plotting._base import distinct_labels

    temps = list(dict.fromkeys(temp.tolist()))
    return distinct_labels("T = ", temps), [temp == t for t in temps], False


def _plot_survival(file: Path, reader: Any, params: dict, output: Path) -> None:
    from .plotting import survival_figure

    labels, masks, sgd = _arrhenius_rows(file, reader)
    times = np.asarray(reader.observable("first_passage_time")[2][-1], dtype=np.float64)
    cens = np.asarray(reader.observable("censored")[2][-1]).astype(bool)
    rows = [(lab, times[m], cens[m]) for lab, m in zip(labels, masks, strict=True)]
    name = params.get("config", {}).get("experiment", {}).get("name", file.stem)
    _draw(survival_figure, rows, output=output, title=name,
          time_label="learning rate x steps" if sgd else "first-passage time t")


def _plot_rates(file: Path, reader: Any, params: dict, output: Path) -> None:
    from types import SimpleNamespace

    from .plotting._base import save
    from .plotting.arrhenius import arrhenius_plot, sgd_rate_plot

    summary = params.get("summary")
    if not isinstance(summary, dict) or not summary.get("rows"):
        raise CliError(f"{file}: no rate table stored (/parameters/summary)")
    rows = summary["rows"]
    ci = np.array([[r["rate_low"], r["rate_high"]] for r in rows], dtype=np.float64)
    k = [r["rate"] for r in rows]
    title = f"{summary.get('name', file.stem)}: escape rates"
    if "learning_rate" in rows[0]:
        fig = sgd_rate_plot(None, [r["learning_rate"] for r in rows],
                            [r["batch_size"] for r in rows], k, ci, title=title)
    else:
        fit = SimpleNamespace(**summary["fit"]) if summary.get("fit") else None
        fig = arrhenius_plot(None, [r["temperature"] for r in rows], k, ci, fit=fit,
                             title=title)
    _draw(lambda path: save(fig, path), output=output)


def _plot_thermo(file: Path, reader: Any, params: dict, output: Path) -> None:
    from .plotting import thermo_figure

    series = {}
    for name in ("potential_energy", "kinetic_energy", "total_energy", "temperature",
                 "pressure"):
        if name in reader.observable_names:
            _, times, values = reader.observable(name)
            series[name] = (np.asarray(times), np.asarray(values, dtype=np.float64))
    if not series:
        raise CliError(f"{file}: no energy, temperature or pressure observables to plot")
    _draw(thermo_figure, series, output=output, n_atoms=reader.n_particles, title=file.stem)


def _all_plot_kinds() -> list[str]:
    from .outputs import OUTPUT_KINDS

    ks = [k for ks in PLOT_KINDS.values() for k in ks]
    ks += [k for _, ks_ in OUTPUT_KINDS.values() for k in ks_]
    return list(dict.fromkeys(ks))


_ALL_PLOT_KINDS = _all_plot_kinds()


def _plot_other(file: Path, kind: str | None, output: Path | None, metric: str | None) -> None:
    """``plot`` of an output that is not HDF5 (:mod:`langevin_opt.outputs`)."""
    from .outputs import OUTPUT_KINDS, OutputFileError, plot_output

    fkind, content = _identify_other(file)
    desc, allowed = OUTPUT_KINDS[fkind]
    if not allowed:
        raise CliError(f"{file}: nothing to plot for a {desc}; inspect it instead")
    kind = kind or allowed[0]
    if kind not in allowed:
        raise CliError(f"--kind {kind}: not for a {desc} file ({file}); use one of: "
                       f"{', '.join(allowed)}")
    if metric is not None and fkind not in ("sweep-manifest", "sweep-plan", "sweep-table"):
        raise CliError(f"--metric: only for sweep files (manifest.json, sweep.json, "
                       f"table.csv), not a {desc}")
    output = output if output is not None else file.parent / f"{kind}.png"
    _check_output(output)
    try:
        plot_output(file, fkind, content, kind, output, metric=metric)
    except OutputFileError as err:
        raise CliError(_one_line(str(err))) from None
    except (KeyError, TypeError, IndexError) as err:
        raise CliError(f"{file}: damaged {fkind} file ({_one_line(str(err))})") from None
    except OSError as err:
        raise CliError(f"-o {output}: cannot write figure ({_one_line(str(err))})") from None
    click.echo(f"wrote {output}")


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--kind", type=click.Choice(_ALL_PLOT_KINDS), default=None,
              help="What to plot [default: the first of the file's kinds].  Walker runs: "
                   "energy, histogram, paths, swaps (replica exchange); arrhenius "
                   "first_passage.h5: survival, rates; particle trajectories: thermo; SG-MCMC "
                   "chains: energy; run summary.json: temperatures; arrhenius summary.json: "
                   "rates; fit-potential summary.json: training; model.npz, committee.npz: "
                   "parameters; active-learn summaries: learning; round errors.json, "
                   "pool.npz: pool; extended XYZ: energies; sweep manifest.json, sweep.json, "
                   "table.csv: metric; flatness results: flatness.")
@click.option("--metric", default=None,
              help="Sweeps: the table.csv column to draw against the swept keys [default: "
                   "by config kind, e.g. temperatures.0.mean_energy for run sweeps, "
                   "fit.barrier for arrhenius, validation.force_rmse for fit-potential].")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Figure file (format from the extension) [default: <kind>.png next to FILE].")
@click.option("--temperature", "-T", type=float, default=None,
              help="Temperature to show (histogram, paths) [default: lowest / all].")
@click.option("--walkers", type=click.IntRange(min=1), default=10, show_default=True,
              help="Number of walker paths (paths).")
@click.option("--bins", type=click.IntRange(min=2), default=40, show_default=True,
              help="Histogram bins per axis (histogram).")
def plot(file: Path, kind: str | None, metric: str | None, output: Path | None,
         temperature: float | None, walkers: int, bins: int) -> None:
    """Plot a stored output FILE (any kind the package writes).

    Walker runs (trajectory.h5): mean energy traces, histogram, walker paths,
    swap acceptance per pair.  Arrhenius files (first_passage.h5, landscapes,
    clusters and networks): survival of the first-passage times per row, or the
    rates (ln k against 1/T; SGD: against the batch size).  Particle
    trajectories: energies per atom, temperature and pressure against time.
    SG-MCMC chains: the energy of every chain.  Summaries: <U> and basin
    occupation against T (run), the rates (arrhenius), training and validation
    errors against the iteration (fit-potential), test errors against the
    labelled set (active-learn).  Model and committee files: their parameters.
    Sweeps: a result column (--metric) against the swept keys.
    """
    if not _is_hdf5(file):
        _plot_other(file, kind, output, metric)
        return
    if metric is not None:
        raise CliError("--metric: only for sweep files (manifest.json, sweep.json, table.csv)")
    reader = _open_reader(file)
    try:
        params = reader.parameters
        fkind = _file_kind(reader, params)
        allowed = PLOT_KINDS[fkind]
        kind = kind or allowed[0]
        if kind not in allowed:
            raise CliError(f"--kind {kind}: not for a {FILE_KINDS[fkind]} file ({file}); use "
                           f"one of: {', '.join(allowed)}")
        output = output if output is not None else file.parent / f"{kind}.png"
        _check_output(output)
        if kind == "energy":
            _plot_energy(file, reader, params, output)
        elif kind == "histogram":
            _plot_histogram(file, reader, params, output, temperature, bins)
        elif kind == "paths":
            _plot_paths(file, reader, params, output, temperature, walkers)
        elif kind == "swaps":
            _plot_swaps(file, reader, params, output)
        elif kind == "survival":
            _plot_survival(file, reader, params, output)
        elif kind == "rates":
            _plot_rates(file, reader, params, output)
        else:
            _plot_thermo(file, reader, params, output)
    except (OSError, KeyError) as err:
        raise CliError(f"{file}: cannot read ({_one_line(str(err))})") from None
    finally:
        reader.close()
    click.echo(f"wrote {output}")


# --------------------------------------------------------------------------
# list
# --------------------------------------------------------------------------


def _first_doc_line(obj: Any) -> str:
    doc = (_inspect.getdoc(obj) or "").replace("``", "")
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _signature_text(func: Callable) -> str:
    parts = []
    for p in _inspect.signature(func).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        ann = p.annotation if p.annotation is not p.empty else ""
        ann = ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))
        text = p.name + (f": {ann}" if ann else "")
        if p.default is not p.empty:
            text += f" = {p.default!r}"
        parts.append(text)
    return ", ".join(parts) if parts else "(no parameters)"


def _fields_text(cls: type) -> str:
    if not is_dataclass(cls):
        return _signature_text(cls)
    parts = []
    for f in fields(cls):
        text = f"{f.name}: {f.type}" if isinstance(f.type, str) else f.name
        if f.default is not MISSING:
            text += f" = {f.default!r}"
        parts.append(text)
    return ", ".join(parts) if parts else "(no parameters)"


def _field_text(name: str, f: Any) -> str:
    """``name (required)``, ``name = default`` or ``name in {a, b}`` of a schema Field."""
    if f.required:
        text = f"{name} (required)"
    elif f.default is None:
        text = f"{name} (optional)"
    else:
        text = f"{name} = {f.default!r}"
    if f.choices:
        text += f" in {{{', '.join(map(str, f.choices))}}}"
    return text


def _config_sections() -> list[tuple[str, str, dict]]:
    """(kind, section, fields) of every config kind's schema, in the kinds' order."""
    from .schema import active_learn, arrhenius, fit_potential, flatness
    from .schema import run as run_schema

    out: list[tuple[str, str, dict]] = []
    for sec, fields_ in run_schema.SECTIONS.items():
        out.append(("run", sec, fields_))
    for sec in run_schema.DYNAMIC:
        out.append(("run", sec, {}))
    for sec, fields_ in arrhenius.SECTIONS.items():
        out.append(("arrhenius", sec, fields_))
    out += [("arrhenius", "cluster", arrhenius.CLUSTER_FIELDS),
            ("arrhenius", "network", arrhenius.NETWORK_FIELDS),
            ("arrhenius", "data", arrhenius.DATA_FIELDS)]
    for kind, mod in (("flatness", flatness), ("fit-potential", fit_potential),
                      ("active-learn", active_learn)):
        out += [(kind, sec, fields_) for sec, fields_ in mod.SECTIONS.items()]
    return out


def _particle_potentials() -> list[tuple[str, Callable]]:
    """The public potential builders of :mod:`langevin_opt.particles.potentials`."""
    from .particles import potentials as pp

    found = []
    for name in sorted(dir(pp)):
        obj = getattr(pp, name)
        if name.startswith("_") or not _inspect.isfunction(obj) or obj.__module__ != pp.__name__:
            continue
        ret = _inspect.signature(obj).return_annotation
        ret = getattr(pp, ret, None) if isinstance(ret, str) else ret
        if name != "as_potential" and isinstance(ret, type) and issubclass(ret, pp.Potential):
            found.append((name, obj))
    return found


@cli.command("list")
def list_cmd() -> None:
    """List every built-in and every config section with its settings.

    Landscapes, integrators, schedules, particle potentials, SG-MCMC methods,
    cluster structures, the sections of every config kind and the [sweep]
    section, read from the registries and schemas.
    """
    from .landscapes import LANDSCAPES
    from .sampling import INTEGRATORS
    from .schedules import SCHEDULES
    from .schema.arrhenius import CLUSTER_STRUCTURES, cluster_structure
    from .sgmcmc.methods import METHODS

    echo = click.echo
    echo("landscapes ([landscape] name = ...):")
    for name, factory in LANDSCAPES.items():
        echo(f"  {name}: {_first_doc_line(factory)}")
        echo(f"      {_signature_text(factory)}")
    echo("integrators ([integrator] kind = ...):")
    for name, cls in INTEGRATORS.items():
        echo(f"  {name} ({cls.__name__}): {_first_doc_line(cls)}")
        echo(f"      {_fields_text(cls)}")
    echo("schedules ([schedule] kind = ...; a temperature factor over the run; configs "
         "need final for linear, geometric and cosine):")
    for name, cls in SCHEDULES.items():
        note = "  [Python API only]" if name == "array" else ""
        echo(f"  {name}: {_first_doc_line(cls)}{note}")
        echo(f"      {_fields_text(cls)}")
    echo("particle potentials (langevin_opt.particles.<name>(...)):")
    for name, fn in _particle_potentials():
        echo(f"  {name}: {_first_doc_line(fn)}")
        echo(f"      {_signature_text(fn)}")
    echo("SG-MCMC methods (langevin_opt.sgmcmc, method = ...; fit-potential [training] "
         "method):")
    for name, cls in METHODS.items():
        echo(f"  {name} ({cls.__name__}): {_first_doc_line(cls)}")
        echo(f"      {_fields_text(cls)}")
    echo("cluster structures ([cluster] structure = ... in arrhenius configs):")
    for name in CLUSTER_STRUCTURES:
        n, d = cluster_structure(name).shape
        echo(f"  {name}: {n} atoms in {d}-D ({_first_doc_line(cluster_structure)})")
    echo("config sections (langevin-opt validate CONFIG tells the kind from the sections):")
    kind = None
    for k, sec, fields_ in _config_sections():
        if k != kind:
            echo(f"  {k} configs:")
            kind = k
        if not fields_:
            echo(f"    [{sec}] settings of the chosen {sec} (see above)")
            continue
        echo(f"    [{sec}] " + ", ".join(_field_text(n, f) for n, f in fields_.items()))
    from .sweep import KINDS as SWEEP_KINDS

    echo("  sweeps (a [sweep] section added to a config of any kind; langevin-opt sweep "
         "CONFIG --out DIR):")
    echo(f"    [sweep] kind (optional; told by the sections) in {{{', '.join(SWEEP_KINDS)}}}, "
         "mode = 'product' in {product, zip}, shards = 1 (run configs: walker blocks per "
         "point)")
    echo("    [sweep.parameters] \"<section>.<key>\" = [values...] or {start, stop, step} or "
         "{start, stop, num} (at least one key, unless shards > 1)")


cli.add_command(__import__("langevin_opt.mlip.cli", fromlist=["cli"]).fit_potential)
cli.add_command(__import__("langevin_opt.mlip.active_cli", fromlist=["cli"]).active_learn)


# --------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Console-script entry point (``langevin-opt``).

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    NoReturn
        Exits the process with the command's status.
    """
    cli.main(args=None if argv is None else list(argv), prog_name=PROG)
    raise SystemExit(0)  # pragma: no cover - cli.main always exits



# --------------------------------------------------------------------------
# sweep (body in langevin_opt.sweep; dask.distributed is imported only here)
# --------------------------------------------------------------------------


@cli.command("sweep")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", "-o", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Output directory (manifest.json, table.csv, points/<id>/).")
@click.option("--scheduler", default=None,
              help="Address of a running Dask scheduler [default: start a local cluster].")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Worker processes of the local cluster.")
@click.option("--threads-per-worker", type=click.IntRange(min=1), default=1,
              show_default=True, help="Threads (concurrent points) per local worker.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Numba threads of each point.")
@click.option("--retries", type=click.IntRange(min=0), default=0, show_default=True,
              help="Times a failed point is run again before it is recorded as failed.")
@click.option("--resume", is_flag=True,
              help="Continue the sweep in --out: finished points are kept, others resume.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, help="Seconds to wait for --scheduler to answer.")
def sweep_cmd(config: Path, out_dir: Path, scheduler: str | None, workers: int,
              threads_per_worker: int, threads: int, retries: int, resume: bool,
              timeout: float) -> None:
    """Run the [sweep] of CONFIG.toml (any config kind) on Dask, one task per point.

    Every point is validated first (a bad one: one 'Error:' line, exit 2, nothing
    started), then runs as the command of its kind would, in DIR/points/<id>/.
    DIR/manifest.json and DIR/table.csv are rewritten as points finish; one line is
    printed per finished point.  Exit status 1 if a point failed (after --retries).
    """
    from .sweep import SweepError, check_sweep_output, plan_sweep, start_client, sweep

    if not config.is_file():
        raise CliError(f"{config}: no such file")
    try:
        plan = plan_sweep(config)
        check_sweep_output(out_dir, plan, resume)
        client, cluster = start_client(scheduler, workers=workers,
                                       threads_per_worker=threads_per_worker, timeout=timeout)
    except SweepError as err:
        msg = _one_line(str(err))
        raise CliError(msg if msg.startswith(str(config)) else f"{config}: {msg}") from None
    if cluster is not None:
        click.echo(f"local Dask cluster: {workers} workers x {threads_per_worker} threads, "
                   f"dashboard {cluster.dashboard_link}")
    else:
        click.echo(f"Dask scheduler {scheduler}, dashboard {client.dashboard_link}")
    click.echo(f"sweep of {len(plan.points)} {plan.kind} points ({plan.mode} of "
               f"{', '.join(plan.keys) or 'no keys'}"
               + (f", {plan.shards} shards each" if plan.shards > 1 else "") + f") -> {out_dir}")
    try:
        res = sweep(plan, out_dir, client=client, retries=retries, resume=resume,
                    threads=threads, progress=lambda line: click.echo(line))
    except SweepError as err:
        raise CliError(_one_line(str(err))) from None
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    failed = sorted(k for k, v in res.statuses.items() if v == "failed")
    click.echo(f"{len(res.table)} of {len(plan.points)} points finished -> "
               f"{out_dir / 'table.csv'}, {out_dir / 'manifest.json'}")
    if failed:
        raise RunFailed(f"{len(failed)} of {len(plan.points)} points failed (first: "
                        f"{failed[0]}: {_one_line(res.errors[failed[0]])}); see "
                        f"{out_dir / 'manifest.json'}")


if __name__ == "__main__":  # last: every command above is registered by now
    main()
