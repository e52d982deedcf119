"""Run an experiment config: H5MD output, checkpoints, resume, summary and figures.

The run advances in chunks of ``[output] checkpoint_every`` steps.  After each
chunk the recorded frames and observables are appended to
``DIR/trajectory.h5`` and a checkpoint (positions, velocities, step, MALA
acceptance counts, replica permutation and swap counters; the counter-based
RNG needs nothing more) replaces the previous one in the same file, which is
then flushed.  ``resume=True`` reopens the file, drops frames recorded after
the last checkpoint and continues from it: because every random number is a
function of ``(seed, walker, step)``, a resumed run is bit-identical to an
uninterrupted one.

Walker layout: without replica exchange, walker ``k * walkers + j`` runs at
``temperatures[k]`` (temperature-major); with replica exchange, chain ``c``
holds walkers ``c * K ... c * K + K - 1`` at the ``K`` ladder temperatures.
Units: reduced, ``k_B = 1``; the stored ``time`` is ``step * dt``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numba
import numpy as np

from ._version import __version__
from .core.errors import OutputError
from .landscapes import Landscape
from .sampling import (
    DivergenceError,
    EnsembleState,
    ReplicaExchange,
    RunResult,
    Sampler,
    uniform_positions,
)
from .schema import ConfigError, Experiment
from .storage import DamagedFileError, H5MDReader, H5MDWriter, OutputLock, StorageError
from .storage.recording import Recorder

if TYPE_CHECKING:
    from .analysis.quadrature import QuadratureGrid

__all__ = ["CompileWatch", "OutputError", "RunDiverged", "RunReport", "prepare_output",
           "check_shard", "run_experiment", "walker_layout", "TRAJECTORY", "SUMMARY"]

TRAJECTORY = "trajectory.h5"
SUMMARY = "summary.json"
FIGURES = ("basins_vs_temperature.png",)


class CompileWatch(numba.core.event.Listener):
    """Time spent in Numba compilation while installed (a context manager).

    Counts Numba's ``numba:compile`` events, which fire only when machine code is
    actually generated (a kernel loaded from the disk cache fires none).  Nested
    compilations (callees compiled on the way) count once, in their outermost one.

    Parameters
    ----------
    on_first : callable, optional
        Called with no argument when the first compilation starts (to say so).

    Attributes
    ----------
    seconds : float
        Wall time spent compiling so far.
    count : int
        Outermost compilations so far.
    """

    def __init__(self, on_first: Callable[[], None] | None = None) -> None:
        self.seconds = 0.0
        self.count = 0
        self._on_first = on_first
        self._depth = 0
        self._t0 = 0.0

    def on_start(self, event: numba.core.event.Event) -> None:  # noqa: D102
        if self._depth == 0:
            if self.count == 0 and self._on_first is not None:
                self._on_first()
            self.count += 1
            self._t0 = time.perf_counter()
        self._depth += 1

    def on_end(self, event: numba.core.event.Event) -> None:  # noqa: D102
        self._depth -= 1
        if self._depth == 0:
            self.seconds += time.perf_counter() - self._t0

    def __enter__(self) -> CompileWatch:
        numba.core.event.register("numba:compile", self)
        return self

    def __exit__(self, *exc: object) -> None:
        numba.core.event.unregister("numba:compile", self)


class RunDiverged(RuntimeError):
    """The run stopped on a non-finite value; frames up to the failure were kept."""

    def __init__(self, message: str, step: int, walker: int) -> None:
        super().__init__(message)
        self.step = step
        self.walker = walker


@dataclass
class RunReport:
    """What a finished (or diverged) run leaves behind.

    Attributes
    ----------
    out_dir : Path
        Output directory.
    steps_done : int
        Global step reached.
    wall_s : float
        Wall-clock seconds of this invocation.
    summary : dict
        Contents of ``summary.json``.
    figures : list of Path
        Figures written.
    compile_s : float
        Seconds of ``wall_s`` spent compiling kernels (0 when every kernel came from
        the disk cache or was already compiled in this process).
    """

    out_dir: Path
    steps_done: int
    wall_s: float
    summary: dict = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    compile_s: float = 0.0


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def prepare_output(out_dir: Path, *, overwrite: bool, resume: bool = False,
                   target: str = TRAJECTORY, resumable: bool = True) -> None:
    """Check (and create) an output directory according to the resume/overwrite flags.

    The one output check of the command line (``run`` and ``arrhenius``).

    Parameters
    ----------
    out_dir : Path
        Directory for the results (HDF5 file, ``summary.json``, figures).
    overwrite : bool
        Replace an existing result.
    resume : bool
        Continue the run stored there (``target`` must exist).
    target : str
        The result file inside ``out_dir`` whose presence means "output exists".
    resumable : bool
        Whether the command can resume (the message then names ``--resume``).

    Raises
    ------
    OutputError
        Existing output without either flag, both flags, nothing to resume,
        or a directory that cannot be created or written.
    """
    if resume and overwrite:
        raise OutputError("--resume and --overwrite exclude each other")
    traj = out_dir / target
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: exists and is not a directory")
    if resume:
        if not traj.is_file():
            raise OutputError(f"{traj}: nothing to resume (no such file)")
    elif traj.exists() and not overwrite:
        alt = " or --resume to continue it" if resumable else ""
        raise OutputError(f"{traj}: output exists; pass --overwrite to replace it{alt}")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{out_dir}: cannot create output directory ({err.strerror})") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise OutputError(f"{out_dir}: output directory is not writable")


def walker_layout(exp: Experiment) -> tuple[np.ndarray, ReplicaExchange | None]:
    """Temperature of every walker of a run config (the module docstring's layout).

    The one definition of the layout; the run stores it as the
    ``walker_temperatures`` parameter, which the ``plot`` command reads back.

    Parameters
    ----------
    exp : Experiment
        A validated run config.

    Returns
    -------
    temperatures : numpy.ndarray, shape (walkers * K,)
        Temperature of each walker (energy units, ``k_B = 1``): temperature-major
        without replica exchange, chain-major (``np.tile``) with it.
    replica_exchange : ReplicaExchange or None
        The ladder, with replica exchange.
    """
    ens = exp.config["ensemble"]
    temps = np.asarray(ens["temperatures"], dtype=np.float64)
    if ens["replica_exchange"]:
        rex = ReplicaExchange(temperatures=tuple(temps), swap_every=ens["swap_every"])
        return np.tile(temps, ens["walkers"]), rex
    return np.repeat(temps, ens["walkers"]), None


def check_shard(shard: tuple[int, int] | None, n_walkers: int,
                replica_exchange: bool) -> tuple[int, int]:
    """Check a ``shard`` of :func:`run_experiment` and return its ``(start, stop)``.

    Parameters
    ----------
    shard : (int, int) or None
        Global walker indices ``start <= i < stop`` (``None``: every walker).
    n_walkers : int
        Walkers of the whole run (walkers x temperatures).
    replica_exchange : bool
        Whether the run exchanges replicas (shards then are refused).

    Returns
    -------
    (int, int)
        ``(start, stop)``.

    Raises
    ------
    ValueError
        A shard that is not ``0 <= start < stop <= n_walkers``, or replica exchange.
    """
    if shard is None:
        return 0, n_walkers
    try:
        lo, hi = (int(v) for v in shard)
    except (TypeError, ValueError):
        raise ValueError(f"shard must be (start, stop), got {shard!r}") from None
    if not 0 <= lo < hi <= n_walkers:
        raise ValueError(f"shard must satisfy 0 <= start < stop <= {n_walkers}, got {shard!r}")
    if replica_exchange:
        raise ValueError("shards need [ensemble] replica_exchange = false")
    return lo, hi


def initial_positions(exp: Experiment, landscape: Landscape, n_walkers: int) -> np.ndarray:
    """Starting positions from ``[ensemble] init``.

    Parameters
    ----------
    exp : Experiment
        Validated config.
    landscape : Landscape
        Its landscape.
    n_walkers : int
        Ensemble size.

    Returns
    -------
    numpy.ndarray, shape (M, d)
    """
    ens = exp.config["ensemble"]
    init = ens["init"]
    if init == "uniform":
        if landscape.bounds is None:
            raise ConfigError(f"[ensemble] init: landscape {landscape.name!r} has no bounds; "
                              "use init = 'point'")
        return uniform_positions(landscape.bounds, n_walkers, seed=exp.seed)
    if init == "point":
        return np.tile(np.asarray(ens["point"], dtype=np.float64), (n_walkers, 1))
    k = int(init.split(":")[1])
    return np.tile(landscape.minima[k], (n_walkers, 1))


def _state_arrays(state: EnsembleState) -> dict[str, np.ndarray]:
    arrays = {"positions": state.positions, "energies": state.energies,
              "accepted": state.accepted}
    for name in ("velocities", "permutation", "swap_attempts", "swap_accepts"):
        v = getattr(state, name)
        if v is not None:
            arrays[name] = v
    return arrays


def _state_from_checkpoint(step: int, arrays: dict[str, np.ndarray]) -> EnsembleState:
    return EnsembleState(
        positions=np.asarray(arrays["positions"], dtype=np.float64),
        velocities=arrays.get("velocities"),
        energies=np.asarray(arrays["energies"], dtype=np.float64),
        step=int(step),
        accepted=np.asarray(arrays["accepted"], dtype=np.int64),
        permutation=arrays.get("permutation"),
        swap_attempts=arrays.get("swap_attempts"),
        swap_accepts=arrays.get("swap_accepts"),
    )


def _append(recorder: Recorder, result: RunResult, mala: bool) -> None:
    traj = result.trajectory
    recorder.frames(traj.steps, traj.positions)
    recorder.observables(traj.steps, energy=traj.energies,
                         mean_energy=traj.energies.mean(axis=1))
    st = result.state
    obs = {"acceptance": (st.accepted / max(st.step, 1))[None]} if mala else {}
    if st.swap_attempts is not None:
        rate = st.swap_accepts / np.maximum(st.swap_attempts, 1)
        obs["swap_acceptance"] = rate[None]  # one (1, n_pairs) row: pair k swaps T_k, T_k+1
    if obs:
        recorder.observables([st.step], **obs)


def run_experiment(
    exp: Experiment,
    out_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    threads: int | None = None,
    progress: Callable[[int, int, dict], None] | None = None,
    make_figures: bool = True,
    backend: str = "cpu",
    notify: Callable[[str], None] | None = None,
    compiling: Callable[[float | None], None] | None = None,
    shard: tuple[int, int] | None = None,
    asynchronous: bool = True,
) -> RunReport:
    """Run (or resume) an experiment and write its outputs.

    The kernels of the run are compiled (or loaded from the disk cache, see
    :mod:`langevin_opt.core.jitcache`) before the first chunk, so that
    ``summary.json`` reports ``compile_seconds`` apart from ``run_seconds``
    (``wall_seconds`` is their sum).

    Parameters
    ----------
    exp : Experiment
        Validated config (see :mod:`langevin_opt.schema`).
    out_dir : str or Path
        Output directory.
    resume : bool
        Continue from the last checkpoint in ``out_dir/trajectory.h5``.
    overwrite : bool
        Replace existing outputs.
    threads : int, optional
        Numba threads.
    progress : callable, optional
        ``progress(step, total, observables)`` after each chunk.
    make_figures : bool
        Write the experiment's figures at the end.
    backend : {"cpu", "cuda"}
        Compute backend of the sampler (see :class:`langevin_opt.Sampler`); the
        trajectory and checkpoints do not depend on it.
    notify : callable, optional
        ``notify(line)`` receives one line when a resumed file was damaged
        (which frames were lost, the checkpoint the run continues from).
    compiling : callable, optional
        ``compiling(None)`` when the first compilation starts, and
        ``compiling(seconds)`` once the kernels of the run are ready, if any had to
        be compiled (not when all were loaded from the disk cache).
    shard : (int, int), optional
        Run only the walkers ``start <= i < stop`` of the ensemble (global indices of
        the module docstring's layout), with their own random streams (walker ``i``
        keeps stream ``i``): the shards of one ensemble, run anywhere and merged, are
        bit-identical to the whole run (:mod:`langevin_opt.sweep`).  The file then
        holds ``stop - start`` walkers and its parameters record ``shard = [start,
        stop, walkers]``; a resume needs the same shard.  Not with replica exchange.
    asynchronous : bool
        Record from a writer thread (default): each chunk's frames, observables
        and checkpoint are handed to :class:`~langevin_opt.storage.H5MDWriter`
        (``asynchronous=True``), which writes them while the compiled kernels
        compute the next chunk (they release the GIL).  The file, the resume and
        the crash-safety are the same as with ``False`` (every write in this
        thread); a storage error surfaces at the next chunk's recording or at
        the end, with the same exception.

    Returns
    -------
    RunReport

    Raises
    ------
    OutputError
        Output directory problems (nothing has been written).
    OutputLockedError
        Another run writes ``out_dir`` (nothing was touched).
    DamagedFileError, CorruptionError
        ``resume``: nothing of the file can be recovered (nothing was changed).
    StorageFullError
        The disk is full or a file-size limit was reached; frames up to its
        ``last_safe_step`` are safe and the run can be resumed.
    RunDiverged
        A walker became non-finite; the frames before were written.
    """
    if not isinstance(asynchronous, bool):
        raise ValueError(f"asynchronous must be True or False, got {asynchronous!r}")
    with CompileWatch(None if compiling is None else lambda: compiling(None)) as watch:
        return _run_experiment(exp, Path(out_dir), resume, overwrite, threads, progress,
                               make_figures, backend, notify, compiling, watch, shard,
                               asynchronous)


def _run_experiment(exp: Experiment, out: Path, resume: bool, overwrite: bool,
                    threads: int | None, progress: Callable[[int, int, dict], None] | None,
                    make_figures: bool, backend: str, notify: Callable[[str], None] | None,
                    compiling: Callable[[float | None], None] | None,
                    watch: CompileWatch, shard: tuple[int, int] | None = None,
                    asynchronous: bool = True) -> RunReport:
    """The body of :func:`run_experiment`, with its compile-time watch installed."""
    temps, rex = walker_layout(exp)
    n_all = int(temps.size)
    lo, hi = check_shard(shard, n_all, rex is not None)
    temps = temps[lo:hi]
    shard_record = None if shard is None else [lo, hi, n_all]
    prepare_output(out, resume=resume, overwrite=overwrite)
    traj_path = out / TRAJECTORY
    # One writer per output: lock before anything is deleted, read or recovered, then
    # check again under the lock (another run may have created the output meanwhile).
    lock = OutputLock(traj_path)
    try:
        prepare_output(out, resume=resume, overwrite=overwrite)
        cfg = exp.config
        ens, outp = cfg["ensemble"], cfg["output"]
        landscape = exp.landscape()
        integ = exp.integrator()
        total = ens["steps"]
        sampler = Sampler(landscape, integ, temperature=temps if rex is None else None,
                          schedule=exp.schedule(), replica_exchange=rex, seed=exp.seed,
                          total_steps=total, backend=backend, stream_offset=lo)
        m = temps.size
        t_start = time.perf_counter()
        reopened = (_reopen(traj_path, cfg, m, landscape.dim, lock, notify, asynchronous)
                    if resume else None)
        if reopened is not None:
            writer, state, params = reopened
            if params.get("shard") != shard_record:
                writer.close()
                raise OutputError(f"{traj_path}: holds walkers {params.get('shard')} "
                                  f"([start, stop, of]), not {shard_record}; resume needs "
                                  "the same shard")
        else:
            try:  # before anything is deleted
                state = sampler.init(initial_positions(exp, landscape, n_all)[lo:hi])
            except ValueError as err:  # a start where the energy overflows float64
                raise ConfigError(f"[ensemble] init: {' '.join(str(err).split())}") from None
            for name in (TRAJECTORY, SUMMARY, *FIGURES):
                (out / name).unlink(missing_ok=True)
            comp = None if outp["compression"] == "none" else outp["compression"]
            writer = H5MDWriter(traj_path, n_particles=m, dim=landscape.dim,
                                creator_version=__version__, compression=comp,
                                overwrite=True, lock=lock, asynchronous=asynchronous)
            params = {
                "config": cfg,
                "seed": exp.seed,
                "walker_temperatures": temps,
                "langevin_opt_version": __version__,
                "numba_version": numba.__version__,
                "numpy_version": np.__version__,
                "started": _now(),
                "status": "running",
            }
            if shard_record is not None:
                params["shard"] = shard_record
            try:
                writer.write_parameters(params)
                writer.write_checkpoint(0, _state_arrays(state), {"total_steps": total})
            except BaseException:
                writer.close()
                raise
    finally:
        lock.release()  # a no-op once handed to the writer

    status = "completed"
    try:
        recorder = Recorder(writer, dt=float(integ.dt))
        mala = cfg["integrator"]["kind"] == "mala"
        chunk = outp["checkpoint_every"]
        rec = outp["record_every"]
        # frames of one chunk (never more than the run holds), plus the initial one
        n_buf = min(chunk, total) // rec + 2 if rec else 0
        frame_buffer = (np.empty((n_buf, m, landscape.dim)), np.empty((n_buf, m)))
        # a zero-step call compiles (or loads from the disk cache) the kernels of the run
        # now, with the arguments of the chunks below, so the compile time stands apart
        sampler.run(state, 0, record_every=rec, threads=threads, frame_buffer=frame_buffer)
        if _has_basin_table(landscape, exp):
            from .analysis import assign_basins

            assign_basins(landscape, state.positions[:1])  # the quench of the summary
        if compiling is not None and watch.count:
            compiling(watch.seconds)
        while state.step < total:
            n = min(chunk, total - state.step)
            try:
                res = sampler.run(state, n, record_every=rec, threads=threads,
                                  frame_buffer=frame_buffer)
            except DivergenceError as err:
                _append(recorder, err.partial_result, mala)
                writer.flush()
                status = "diverged"
                _finish(writer, params, status, err.step)
                summary = _summary(exp, landscape, err.partial_result.state, temps, status,
                                   time.perf_counter() - t_start, watch.seconds, err=err)
                _write_json(out / SUMMARY, summary)
                raise RunDiverged(str(err), err.step, err.index) from None
            state = res.state
            _append(recorder, res, mala)
            writer.write_checkpoint(state.step, _state_arrays(state), {"total_steps": total})
            if progress is not None:
                progress(state.step, total, _observables(state))
        _finish(writer, params, status, state.step)
    finally:
        if not writer.closed:
            writer.close()
    wall = time.perf_counter() - t_start
    summary = _summary(exp, landscape, state, temps, status, wall, watch.seconds)
    _write_json(out / SUMMARY, summary)
    figures = _figures(exp, landscape, summary, out) if make_figures else []
    return RunReport(out, state.step, wall, summary, figures, watch.seconds)


def _reopen(traj_path: Path, cfg: dict, m: int, dim: int, lock: OutputLock,
            notify: Callable[[str], None] | None, asynchronous: bool = False
            ) -> tuple[H5MDWriter, EnsembleState, dict] | None:
    """Reopen a run to resume: recover a damaged file, check it, drop frames after its checkpoint.

    A run of this config killed before its first checkpoint (no checkpoint, no
    frame, no damage: nothing was committed) is started again from step 0:
    ``None`` is returned and ``notify`` says so.

    Parameters
    ----------
    traj_path : Path
        The trajectory file.
    cfg : dict
        The normalised config of the run being resumed.
    m, dim : int
        Walkers and dimension.
    lock : OutputLock
        The output's lock, handed to the writer.
    notify : callable or None
        Receives one line if frames were lost to damage.
    asynchronous : bool
        Open the writer with a writer thread (see :func:`run_experiment`).

    Returns
    -------
    None
        Nothing was committed: start the run again.
    writer : H5MDWriter
        Open in mode ``"a"``, truncated to the checkpoint step.
    state : EnsembleState
        The state of the checkpoint.
    params : dict
        The stored parameters, updated for the resume.

    Raises
    ------
    OutputError
        Another config, another layout, or no checkpoint to resume from.
    DamagedFileError, CorruptionError
        Nothing can be recovered (the file is left as it was).
    """
    expected = json.loads(json.dumps(cfg))
    backup = None
    try:  # a readable file is checked before anything is changed
        with H5MDReader(traj_path) as reader:
            params, ck = reader.parameters, reader.checkpoint()
            ours = params.get("config") == expected or (  # or killed before its parameters
                not params and not reader.is_consolidated)
            if (ck is None and ours and reader.n_frames == 0 and reader.recovery is None
                    and not reader.problems):
                if notify is not None:
                    notify(f"{traj_path}: the run stopped before its first checkpoint was saved "
                           "(nothing was committed); starting it again from step 0")
                return None
            _check_resumable(traj_path, params, ck, expected)
    except DamagedFileError:
        # HDF5 cannot open it (truncated): recovery rewrites it, so keep the original
        # bytes (a hard link: the writer only ever renames over the name) until it is
        # known that the run can continue
        backup = traj_path.with_name(traj_path.name + ".damaged")
        backup.unlink(missing_ok=True)
        try:
            os.link(traj_path, backup)
        except OSError:
            shutil.copy2(traj_path, backup)
    except (OSError, KeyError, ValueError) as err:
        if isinstance(err, (StorageError, FileNotFoundError)):
            raise
        raise OutputError(f"{traj_path}: cannot be resumed ({' '.join(str(err).split())})"
                          ) from None
    try:
        writer = H5MDWriter(traj_path, n_particles=m, dim=dim, mode="a",
                            creator_version=__version__, lock=lock, asynchronous=asynchronous)
    except ValueError as err:
        _restore(traj_path, backup, None)
        raise OutputError(f"{traj_path}: cannot be resumed ({' '.join(str(err).split())})"
                          ) from None
    except BaseException:
        _restore(traj_path, backup, None)
        raise
    try:
        with H5MDReader(traj_path) as reader:
            params = reader.parameters
            ck = reader.checkpoint()
        _check_resumable(traj_path, params, ck, expected)
        step, arrays, _ = ck
        rec = writer.recovery
        if rec is not None and notify is not None:
            after = ("no frame was kept" if rec.last_safe_step is None
                     else f"frames after step {rec.last_safe_step} were lost")
            notify(f"{traj_path}: recovered a damaged run: {after} ({rec.lost_frames} "
                   f"frame(s); {'; '.join(rec.problems)}); resuming from the checkpoint at "
                   f"step {step}")
        # a run restarted at step 0 records its initial frame again
        writer.truncate_to_step(step - 1 if step == 0 else step)
        params = {**params, "resumed_at_step": int(step), "status": "running"}
        writer.write_parameters(params)
    except BaseException:
        _restore(traj_path, backup, writer)
        raise
    if backup is not None:
        backup.unlink(missing_ok=True)
    return writer, _state_from_checkpoint(step, arrays), params


def _check_resumable(traj_path: Path, params: dict, ck: tuple | None, expected: dict) -> None:
    """Raise OutputError unless the file holds this config's run and a checkpoint."""
    if params.get("config") != expected:
        raise OutputError(f"{traj_path}: was written with a different config; "
                          "resume needs the same config file")
    if ck is None:
        raise OutputError(f"{traj_path}: has no checkpoint to resume from (the run stopped "
                          "before its first checkpoint was saved: nothing to resume); "
                          "start it again with --overwrite")


def _restore(traj_path: Path, backup: Path | None, writer: H5MDWriter | None) -> None:
    """A resume that cannot continue: close the writer and put a damaged original back."""
    if writer is not None and not writer.closed:
        try:
            writer.close()
        except OSError:
            pass
    if backup is not None and backup.exists():
        with OutputLock(traj_path):
            if traj_path.exists() and os.path.samefile(backup, traj_path):
                backup.unlink()  # untouched (rename between hard links does nothing)
            else:
                os.replace(backup, traj_path)


def _finish(writer: H5MDWriter, params: dict, status: str, step: int) -> None:
    # write_parameters replaces the stored group: always write the whole record
    params.update(finished=_now(), status=status, final_step=int(step))
    writer.write_parameters(params)
    writer.flush()


def _observables(state: EnsembleState) -> dict:
    obs = {"mean_energy": float(np.mean(state.energies))}
    if state.step:
        obs["acceptance"] = float(state.accepted.sum() / (state.step * state.accepted.size))
    return obs


def _write_json(path: Path, data: dict) -> None:
    # temporary name, fsync, atomic rename: a kill leaves the old summary or the new one
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w") as fh:
        fh.write(json.dumps(data, indent=2, default=float) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _summary(exp: Experiment, landscape: Landscape, state: EnsembleState, temps: np.ndarray,
             status: str, wall: float, compile_s: float,
             err: DivergenceError | None = None) -> dict:
    s: dict = {
        "experiment": exp.name,
        "status": status,
        "steps": int(state.step),
        "walkers": int(temps.size),
        "wall_seconds": round(wall, 3),
        # compiling kernels (0 when all came from the disk cache), and the rest
        "compile_seconds": round(compile_s, 3),
        "run_seconds": round(wall - compile_s, 3),
        "temperatures": [],
    }
    if err is not None:
        s["diverged_at_step"] = err.step
        s["diverged_walker"] = err.index
        return s
    basins = _basin_table(landscape, state, temps, exp)
    for t in np.unique(temps):
        sel = temps == t  # with replica exchange slots keep their temperature
        row = {"T": float(t), "mean_energy": float(state.energies[sel].mean())}
        if state.step and exp.config["integrator"]["kind"] == "mala":
            row["acceptance"] = float(state.accepted[sel].mean() / state.step)
        if basins is not None:
            row.update(basins[float(t)])
        s["temperatures"].append(row)
    if state.swap_attempts is not None:
        s["swap_acceptance"] = (state.swap_accepts / np.maximum(state.swap_attempts, 1)).tolist()
    return s


def _has_basin_table(landscape: Landscape, exp: Experiment) -> bool:
    """Whether the summary holds basin occupations (a quench of the final positions)."""
    return (landscape.minima is not None and len(landscape.minima) >= 2
            and landscape.dim <= 2 and exp.config["schedule"]["kind"] == "constant")


_GRID: list = []  # (landscape, its quadrature grid): the summary's, reused by the figure


def _grid(landscape: Landscape) -> QuadratureGrid:
    from .analysis import quadrature_grid

    if not _GRID or _GRID[0][0] is not landscape:
        _GRID[:] = [(landscape, quadrature_grid(landscape))]
    return _GRID[0][1]


def _basin_table(landscape: Landscape, state: EnsembleState, temps: np.ndarray,
                 exp: Experiment) -> dict | None:
    if not _has_basin_table(landscape, exp):
        return None
    from .analysis import assign_basins

    labels = assign_basins(landscape, state.positions)
    grid = _grid(landscape)  # basin labels of the nodes do not depend on T
    k = len(landscape.minima)
    table = {}
    for t in np.unique(temps):
        sel = temps == t
        n = int(sel.sum())
        measured = np.bincount(labels[sel], minlength=k) / n
        row: dict = {"basin_measured": measured.tolist(), "n": n}
        if t > 0:
            exact = grid.at(float(t)).basin_probabilities
            se = np.sqrt(np.maximum(exact * (1 - exact), 1e-300) / n)
            row["basin_exact"] = exact.tolist()
            row["basin_z"] = ((measured - exact) / se).tolist()
        table[float(t)] = row
    return table


def _figures(exp: Experiment, landscape: Landscape, summary: dict, out: Path) -> list[Path]:
    from .plotting import basin_crossover_figure

    rows = [r for r in summary["temperatures"] if "basin_exact" in r]
    if len(rows) < 2:
        return []
    path = out / FIGURES[0]
    basin_crossover_figure(landscape, rows, path, title=exp.name, grid=_grid(landscape))
    return [path]
