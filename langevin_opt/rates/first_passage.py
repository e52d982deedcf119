"""Compiled first-passage loop: walkers start in one basin and run until they commit to another.

Each walker is integrated with exactly the arithmetic and the random numbers of
:class:`langevin_opt.Sampler` (overdamped Euler–Maruyama or BAOAB; every normal
is keyed by ``(seed, walker id, step, draw, PURPOSE_NOISE)``), so until it
escapes a walker's trajectory is bit-identical to the plain ensemble run with the
same seed and walker id.  After every step each walker is tested against the
*commitment regions* of the basins: balls ``|x - c_b| < r_b`` around the minima.
A walker that enters the region of a basin other than its own has *committed*:
its first-passage time is recorded and it stops.  A walker that only grazes the
saddle and falls back is not counted (the regions lie well inside the basins).
Walkers still running at their step limit are right-censored, not dropped.

Performance
-----------
* Inside a block of walkers, a walker that escapes is swapped with the last
  running one and the block shrinks at once: no step is spent on a finished
  walker.
* The run advances in chunks of ``chunk`` steps, each one compiled call or (on the
  CPU, for Ctrl-C) a few.  After every call the running walkers are packed into
  contiguous arrays and re-cut into blocks of at most ``config.block_size`` walkers,
  as a multiple of the thread count of equal blocks (``prange`` gives every thread
  an equal share), so every core keeps busy as walkers drop out.
* Results do not depend on the number of threads, the block size or the chunk
  length (each walker's arithmetic is independent of where it sits).
* On the CPU a chunk runs as compiled calls of at most about a quarter of a second
  each (:mod:`langevin_opt.core.chunking`), so that Ctrl-C stops the run within a
  second: :class:`langevin_opt.core.Interrupted` carries the
  :class:`FirstPassageResult` so far.

Units: reduced, ``k_B = 1``; times are ``steps * dt`` in the integrator's time
unit (overdamped dynamics have unit friction, ``D = T``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np

from ..config import config
from ..core import jitcache
from ..core.chunking import ChunkLoop, ProgressBar, kernel_name
from ..core.errors import DivergenceError, Interrupted
from ..core.validation import (
    check_int,
    check_per_item,
    check_progress,
    check_seed,
    check_stream_offset,
)
from ..core.validation import threads as threads_of
from ..landscapes import Landscape
from ..rng import PURPOSE_INIT, normals
from ..sampling import BAOAB, Overdamped
from ._first_passage_template import DIVERGED

__all__ = ["Basins", "basins_from_landscape", "FirstPassageResult", "first_passage",
           "quench_basins", "STILL_RUNNING", "CENSORED"]

#: ``final_basin`` of a walker that has not committed (yet) / was censored.
STILL_RUNNING = -1
CENSORED = -1
_DIVERGED = DIVERGED
#: the template of the compiled driver, specialised per landscape and integrator
_TEMPLATE = "langevin_opt.rates._first_passage_template"


@dataclass(frozen=True)
class Basins:
    """Commitment regions: balls around the minima of a landscape.

    Parameters
    ----------
    centers : numpy.ndarray, shape (B, d)
        Basin centres (usually the minima), length units.
    radii : numpy.ndarray, shape (B,)
        Ball radii ``r_b > 0``; a walker is *in* basin ``b`` when
        ``|x - c_b| < r_b``.  Choose them well inside each basin (past the
        barrier), so that reaching one means commitment.
    """

    centers: np.ndarray
    radii: np.ndarray

    def __post_init__(self) -> None:
        c = np.atleast_2d(np.asarray(self.centers, dtype=np.float64))
        r = np.asarray(self.radii, dtype=np.float64).ravel()
        if r.size == 1 and c.shape[0] > 1:
            r = np.full(c.shape[0], float(r[0]))
        if c.ndim != 2 or c.shape[0] < 2:
            raise ValueError(f"centers must have shape (B, d) with B >= 2, got {np.shape(c)}")
        if r.shape != (c.shape[0],) or not np.all(np.isfinite(r)) or np.any(r <= 0):
            raise ValueError(f"radii must be {c.shape[0]} finite numbers > 0, got {self.radii!r}")
        if not np.all(np.isfinite(c)):
            raise ValueError("centers must be finite")
        dist = np.linalg.norm(c[:, None, :] - c[None, :, :], axis=-1)
        np.fill_diagonal(dist, np.inf)
        overlap = dist < r[:, None] + r[None, :]
        if overlap.any():
            a, b = np.argwhere(overlap)[0]
            raise ValueError(f"basin regions {a} and {b} overlap (distance {dist[a, b]:.4g} < "
                             f"r_{a} + r_{b} = {r[a] + r[b]:.4g})")
        object.__setattr__(self, "centers", np.ascontiguousarray(c))
        object.__setattr__(self, "radii", np.ascontiguousarray(r))

    @property
    def n(self) -> int:
        """Number of basins ``B``."""
        return self.centers.shape[0]

    @property
    def dim(self) -> int:
        """Dimension ``d``."""
        return self.centers.shape[1]

    def assign(self, x: np.ndarray) -> np.ndarray:
        """Basin of each configuration (``-1`` outside every region).

        Parameters
        ----------
        x : array_like, shape (M, d)
            Configurations.

        Returns
        -------
        numpy.ndarray of int64, shape (M,)
        """
        x = np.asarray(x, dtype=np.float64).reshape(-1, self.dim)
        d2 = ((x[:, None, :] - self.centers[None, :, :]) ** 2).sum(-1)
        inside = d2 < self.radii[None, :] ** 2
        out = np.where(inside.any(1), inside.argmax(1), -1)
        return out.astype(np.int64)


def basins_from_landscape(
    landscape: Landscape, radius: float | Sequence[float] | None = None,
    *, fraction: float = 0.5,
) -> Basins:
    """Commitment balls around the known minima of a landscape.

    Parameters
    ----------
    landscape : Landscape
        Needs ``landscape.minima`` (at least two).
    radius : float or sequence of float, optional
        Radius for every basin, or one per minimum.  Default: ``fraction``
        times the distance from each minimum to its nearest known saddle
        (``landscape.saddles``), or ``fraction / 2`` times the distance to the
        nearest other minimum when no saddles are known.
    fraction : float
        See ``radius`` (0 < fraction < 1).

    Returns
    -------
    Basins
    """
    if landscape.minima is None or landscape.minima.shape[0] < 2:
        raise ValueError(f"landscape '{landscape.name}' lists fewer than 2 minima; "
                         "pass Basins(centers, radii) explicitly")
    m = landscape.minima
    if radius is None:
        if not 0 < fraction < 1:
            raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
        if landscape.saddles is not None and landscape.saddles.shape[0]:
            ref = landscape.saddles
            dist = np.linalg.norm(m[:, None, :] - ref[None, :, :], axis=-1).min(1)
            r = fraction * dist
        else:
            dist = np.linalg.norm(m[:, None, :] - m[None, :, :], axis=-1)
            np.fill_diagonal(dist, np.inf)
            r = 0.5 * fraction * dist.min(1)
    else:
        r = np.broadcast_to(np.asarray(radius, dtype=np.float64), (m.shape[0],)).copy()
    return Basins(m, r)


@dataclass(frozen=True)
class FirstPassageResult:
    """Per-walker outcome of :func:`first_passage`.

    Attributes
    ----------
    steps : numpy.ndarray of int64, shape (M,)
        Step at which the walker committed (entered another basin's region);
        for censored walkers, the step limit at which it was stopped.
    times : numpy.ndarray, shape (M,)
        ``steps * dt`` (time units of the integrator).
    censored : numpy.ndarray of bool, shape (M,)
        True when the walker had not committed by its step limit.
    final_basin : numpy.ndarray of int64, shape (M,)
        Basin committed to, ``-1`` if censored.
    positions : numpy.ndarray, shape (M, d)
        Position at commitment (or at the step limit).
    temperatures : numpy.ndarray, shape (M,)
        Temperature of each walker.
    start_basin : numpy.ndarray of int64, shape (M,)
        Basin each walker started in.
    dt : float
        Time step.
    walker_steps : int
        Total number of walker-steps simulated (the work actually done).
    """

    steps: np.ndarray
    times: np.ndarray
    censored: np.ndarray
    final_basin: np.ndarray
    positions: np.ndarray
    temperatures: np.ndarray
    start_basin: np.ndarray
    dt: float
    walker_steps: int

    @property
    def n_events(self) -> int:
        """Number of walkers that committed."""
        return int((~self.censored).sum())

    def select(self, mask: np.ndarray) -> FirstPassageResult:
        """The walkers selected by a boolean mask or index array.

        Parameters
        ----------
        mask : array_like
            Boolean mask of shape (M,) or integer indices.

        Returns
        -------
        FirstPassageResult
        """
        sel = np.asarray(mask)
        return FirstPassageResult(self.steps[sel], self.times[sel], self.censored[sel],
                                  self.final_basin[sel], self.positions[sel],
                                  self.temperatures[sel], self.start_basin[sel], self.dt,
                                  int(self.steps[sel].sum()))


# --------------------------------------------------------------------------
# compiled kernel: langevin_opt.rates._first_passage_template, one specialisation per
# landscape and integrator (like langevin_opt._kernels)
# --------------------------------------------------------------------------


class _Scratch(NamedTuple):
    """Per-block work arrays (the kernels allocate nothing)."""

    X: np.ndarray
    G: np.ndarray
    E: np.ndarray
    T: np.ndarray
    V: np.ndarray
    ids: np.ndarray
    origin: np.ndarray
    limit: np.ndarray
    loc: np.ndarray
    hit: np.ndarray
    fin: np.ndarray
    acc: np.ndarray


def _make_scratch(nb: int, d: int, block: int, baoab: bool) -> _Scratch:
    i8 = np.int64
    return _Scratch(np.empty((nb, d, block)), np.empty((nb, d, block)), np.empty((nb, block)),
                    np.empty((nb, block)), np.empty((nb, d, block if baoab else 1)),
                    np.empty((nb, block), dtype=i8), np.empty((nb, block), dtype=i8),
                    np.empty((nb, block), dtype=i8), np.empty((nb, block), dtype=i8),
                    np.empty((nb, block), dtype=i8), np.empty((nb, block)), np.empty((nb, block)))


_DRIVERS: dict[tuple[int, int], tuple[Callable, Callable]] = {}


def _driver(energy_grad: Callable, method: int) -> Callable:
    """The compiled driver of one landscape and integrator (disk-cached, built once)."""
    key = (id(energy_grad), method)
    hit = _DRIVERS.get(key)
    if hit is None or hit[0] is not energy_grad:
        mod = jitcache.specialize(_TEMPLATE, {"eg": energy_grad, "METHOD": int(method)})
        hit = (energy_grad, mod.drive)
        _DRIVERS[key] = hit
    return hit[1]


# --------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------


class _Run(NamedTuple):
    """Validated arrays of one first-passage run (what either driver takes)."""

    x: np.ndarray          # (M, d) starting positions
    v: np.ndarray | None   # (M, d) BAOAB velocities, None for overdamped
    temps: np.ndarray      # (M,)
    limit: np.ndarray      # (M,) int64 step limits
    origin: np.ndarray     # (M,) int64 start basins
    ids: np.ndarray        # (M,) int64 random streams, stream_offset + i
    seed: int
    dt: float
    gamma: float
    mass: float
    chunk: int


def _validate(landscape, integrator, positions, basins, temperature, max_steps, seed,
              start_basin, velocities, stream_offset, chunk, threads, progress,
              compact) -> _Run:
    """Every check of :func:`first_passage`, for both backends (one path)."""
    from ..sampling import _as_positions

    if not isinstance(landscape, Landscape):
        raise TypeError(f"landscape must be a Landscape, got {type(landscape).__name__}")
    if not isinstance(integrator, (Overdamped, BAOAB)):
        raise TypeError("integrator must be Overdamped or BAOAB for first-passage runs, "
                        f"got {type(integrator).__name__}")
    if not isinstance(basins, Basins):
        raise TypeError(f"basins must be a Basins, got {type(basins).__name__}")
    d = landscape.dim
    if basins.dim != d:
        raise ValueError(f"basins have dimension {basins.dim}, the landscape {d}")
    x = _as_positions("positions", positions, d)
    m = x.shape[0]
    seed = check_seed(seed)
    temps = check_per_item("temperature", temperature, m, lo=0.0, lo_open=True)
    limit = check_per_item("max_steps", max_steps, m, lo=1, kind="i")
    chunk = check_int("chunk", chunk, lo=1)
    offset = check_stream_offset(stream_offset, m)
    if threads is not None:
        check_int("threads", threads, lo=1, hi=int(numba.config.NUMBA_NUM_THREADS))
    check_progress("progress", progress, call="progress(step, n_running)")
    if not isinstance(compact, (bool, np.bool_)):
        raise TypeError(f"compact must be True or False, got {type(compact).__name__}")
    here = basins.assign(x)
    if start_basin is None:
        if np.any(here < 0):
            bad = int(np.flatnonzero(here < 0)[0])
            raise ValueError(f"walker {bad} starts outside every basin region; "
                             "pass start_basin")
        origin = here
    else:
        origin = check_per_item("start_basin", start_basin, m, lo=0, hi=basins.n - 1, kind="i")
        clash = (here >= 0) & (here != origin)
        if clash.any():
            bad = int(np.flatnonzero(clash)[0])
            raise ValueError(f"walker {bad} starts inside basin {here[bad]}, "
                             f"not its start_basin {origin[bad]}")
    mass = float(getattr(integrator, "mass", 1.0))
    gamma = float(getattr(integrator, "friction", 1.0))
    v = None
    if isinstance(integrator, BAOAB):
        if velocities is None:
            z = normals(seed, (m, d), stream_offset=offset, step=0, purpose=PURPOSE_INIT)
            v = z * np.sqrt(temps * 1.0 / mass)[:, None]
        else:
            v = _as_positions("velocities", velocities, d)
            if v.shape != x.shape:
                raise ValueError(f"velocities must have shape {x.shape}, got {v.shape}")
    elif velocities is not None:
        raise ValueError("velocities are only used by baoab")
    ids = np.arange(m, dtype=np.int64) + offset
    return _Run(x, v, temps, limit, origin.astype(np.int64), ids, seed, float(integrator.dt),
                gamma, mass, chunk)


def _partial(run: _Run, steps: np.ndarray, basin: np.ndarray, positions: np.ndarray,
             walker_steps: int) -> FirstPassageResult:
    """The run so far: walkers still running have ``steps = -1`` and ``final_basin = -1``."""
    return FirstPassageResult(steps=steps, times=steps * run.dt,
                              censored=(basin == CENSORED) & (steps >= 0),
                              final_basin=basin, positions=positions,
                              temperatures=run.temps, start_basin=run.origin, dt=run.dt,
                              walker_steps=int(walker_steps))


def _diverged(landscape: Landscape, integrator, run: _Run, steps: np.ndarray,
              basin: np.ndarray, positions: np.ndarray, walker_steps: int) -> DivergenceError:
    """The error for a walker that became non-finite, with the run so far as partial result."""
    k = int(np.flatnonzero(basin == _DIVERGED)[0])
    partial = _partial(run, steps, basin, positions, walker_steps)
    return DivergenceError(
        f"non-finite energy or coordinates at step {int(steps[k])} for walker {k} "
        f"(landscape '{landscape.name}', integrator {integrator.kind}, "
        f"dt={integrator.dt:g}); reduce dt", step=int(steps[k]), index=k,
        partial_result=partial)


def _run_cpu(landscape: Landscape, integrator, basins: Basins, run: _Run,
             threads: int | None, progress: bool | Callable[[int, int], None],
             compact: bool) -> FirstPassageResult:
    """The compiled CPU driver over blocks of walkers, packed between calls.

    A ``chunk`` of steps runs as compiled calls of about a quarter of a second (never
    across a multiple of ``chunk``); the running walkers are packed after each.  The
    progress callback and a divergence come at multiples of ``chunk`` (and at the end),
    as on the GPU; Ctrl-C stops after any call.
    """
    x = run.x
    m, d = x.shape
    baoab = run.v is not None
    chunk = run.chunk
    drive = _driver(landscape.energy_grad, integrator.code)

    # packed state of the running walkers
    idx = np.arange(m, dtype=np.int64)               # original index of each packed walker
    xt = np.ascontiguousarray(x.T)
    vt = np.ascontiguousarray(run.v.T) if baoab else np.zeros((d, 1))
    e = np.empty(m)
    ids = run.ids.copy()
    tt = run.temps.copy()
    org = run.origin.copy()
    lim = run.limit.copy()
    res_step = np.full(m, -1, dtype=np.int64)
    res_basin = np.full(m, STILL_RUNNING, dtype=np.int64)
    res_x = np.empty((m, d))
    max_block = int(config.block_size)
    cen = basins.centers
    r2 = basins.radii**2
    step = 0
    total_limit = int(lim.max())
    walker_steps = 0
    diverged = False
    loop = ChunkLoop(total_limit, progress=progress is True, limit=chunk, label="first passage",
                     key=("first_passage", kernel_name(landscape.energy_grad), integrator.code,
                          m, d))
    with threads_of(threads), loop:
        n_thr = int(numba.get_num_threads())
        for step, n in loop:
            if not idx.size:
                break
            n_run = idx.size
            if compact:
                # blocks of equal size, a multiple of the thread count of them (prange hands
                # each thread an equal share of the iterations)
                per_thread = -(-n_run // n_thr)
                blocks_per_thread = -(-per_thread // max_block)
                block = max(1, -(-n_run // (n_thr * blocks_per_thread)))
            else:
                block = max_block
            nb = -(-n_run // block)
            scr = _make_scratch(nb, d, block, baoab)
            o_step = np.full(n_run, -1, dtype=np.int64)
            o_basin = np.full(n_run, STILL_RUNNING, dtype=np.int64)
            o_x = np.empty((n_run, d))
            drive(xt, vt, e, tt, ids, org, lim, landscape.params, run.dt, run.gamma,
                  run.mass, np.uint64(run.seed), step, n, cen, r2, o_step, o_basin, o_x, block,
                  scr)
            fin = o_step >= 0
            if not compact:
                fin &= res_step[idx] < 0
            walker_steps += int(np.where(o_step >= 0, o_step - step, n).sum())
            if fin.any():
                g = idx[fin]
                res_step[g] = o_step[fin]
                res_basin[g] = o_basin[fin]
                res_x[g] = o_x[fin]
                diverged |= bool(np.any(o_basin[fin] == _DIVERGED))
                if compact:
                    keep = ~fin
                    idx = idx[keep]
                    xt = np.ascontiguousarray(xt[:, keep])
                    if baoab:
                        vt = np.ascontiguousarray(vt[:, keep])
                    e = e[keep]
                    ids = ids[keep]
                    tt = tt[keep]
                    org = org[keep]
                    lim = lim[keep]
                else:
                    # keep the layout; finished walkers get a zero step budget
                    lim = lim.copy()
                    lim[fin] = 0
            step += n
            finished = not idx.size if compact else bool(np.all(res_step >= 0))
            if step % chunk and step < total_limit and not finished:
                continue  # inside a chunk: the next compiled call
            if diverged:
                # at the end of the chunk, as the GPU driver reports it
                running = res_step < 0
                res_x[idx[running[idx]]] = xt.T[running[idx]]
                raise _diverged(landscape, integrator, run, res_step, res_basin, res_x,
                                walker_steps)
            if finished and not compact:
                break
            if callable(progress):
                progress(step, int((res_step < 0).sum()))
            if finished:
                break
    if loop.interrupted:
        running = res_step < 0
        res_x[idx[running[idx]]] = xt.T[running[idx]]
        raise Interrupted(f"interrupted at step {step} of at most {total_limit} (Ctrl-C); "
                          ".partial_result holds the first passages so far (walkers still "
                          "running: steps -1, their current position)", step,
                          _partial(run, res_step, res_basin, res_x, walker_steps))
    return FirstPassageResult(steps=res_step, times=res_step * run.dt,
                              censored=res_basin < 0, final_basin=res_basin, positions=res_x,
                              temperatures=run.temps, start_basin=run.origin, dt=run.dt,
                              walker_steps=int(walker_steps))


def _run_cuda(landscape: Landscape, integrator, basins: Basins, run: _Run,
              progress: bool | Callable[[int, int], None]) -> FirstPassageResult:
    """The GPU driver (:func:`langevin_opt.cuda.first_passage.run_first_passage`).

    ``progress=True`` draws the bar from the driver's callback after every launch; Ctrl-C
    is Python's (a plain :class:`KeyboardInterrupt` between launches).
    """
    from ..cuda.backend import require

    require()
    from ..cuda.first_passage import run_first_passage

    bar = ProgressBar(int(run.limit.max()), "first passage") if progress is True else None

    def hook(step: int, running: int) -> None:
        if bar is not None:
            bar.update(step)
        if callable(progress):
            progress(step, running)

    try:
        out = run_first_passage(landscape.energy_grad, landscape.params, integrator.code,
                                run.x, run.v, run.temps, run.ids, run.origin, run.limit,
                                run.dt, run.gamma, run.mass, run.seed, basins.centers,
                                basins.radii**2, run.chunk,
                                hook if progress is not False else None)
    finally:
        if bar is not None:
            bar.close()
    if np.any(out.basin == _DIVERGED):
        running = out.steps < 0
        pos = out.positions.copy()
        pos[running] = out.current[running]
        raise _diverged(landscape, integrator, run, out.steps, out.basin, pos,
                        out.walker_steps)
    return FirstPassageResult(steps=out.steps, times=out.steps * run.dt,
                              censored=out.basin < 0, final_basin=out.basin,
                              positions=out.positions, temperatures=run.temps,
                              start_basin=run.origin, dt=run.dt,
                              walker_steps=int(out.walker_steps))


def first_passage(
    landscape: Landscape,
    integrator: Overdamped | BAOAB,
    positions: np.ndarray,
    basins: Basins,
    *,
    temperature: float | np.ndarray,
    max_steps: int | np.ndarray,
    seed: int | None = None,
    start_basin: int | np.ndarray | None = None,
    velocities: np.ndarray | None = None,
    stream_offset: int = 0,
    chunk: int = 1000,
    threads: int | None = None,
    progress: bool | Callable[[int, int], None] | None = None,
    compact: bool = True,
    backend: str = "cpu",
) -> FirstPassageResult:
    """Run walkers until each commits to another basin or reaches its step limit.

    Both backends take the same validated arrays (one validation path) and give the
    same result: the CPU driver is compiled here, the GPU one is
    :func:`langevin_opt.cuda.first_passage.run_first_passage`.

    Parameters
    ----------
    landscape : Landscape
        Energy surface.
    integrator : Overdamped or BAOAB
        Update rule (the same arithmetic and random numbers as
        :class:`langevin_opt.Sampler`); time step in the integrator's time unit.
    positions : array_like, shape (M, d)
        Starting positions, length units (``(M,)`` accepted for ``d = 1``).
    basins : Basins
        Commitment regions.
    temperature : float or array_like, shape (M,)
        Temperature of each walker (energy units, ``k_B = 1``), > 0.
    max_steps : int or array_like of int, shape (M,)
        Step limit per walker (>= 1); walkers still running then are censored.
    seed : int
        Generator key (keyword only, required).
    start_basin : int or array_like of int, shape (M,), optional
        Basin each walker starts in (it never "escapes" into its own region);
        default: the region each starting position lies in (it must lie in one).
    velocities : array_like, shape (M, d), optional
        BAOAB only (length / time units); default Maxwell–Boltzmann draws exactly as
        :meth:`langevin_opt.Sampler.init` makes them.
    stream_offset : int
        Random stream of walker 0: walker ``i`` uses stream ``stream_offset + i`` (a
        part of an ensemble run on its own gets the numbers of the whole run).
    chunk : int
        Steps between two ``progress`` calls and divergence checks; steps per kernel
        launch on the GPU.  On the CPU a chunk runs as one or more compiled calls of
        at most about a quarter of a second, the running walkers packed after each
        (results do not depend on it).
    threads : int, optional
        Numba threads for this call (CPU only; the GPU driver ignores it).
    progress : bool or callable, optional
        ``True``: a progress bar with ETA on stderr; a callable:
        ``progress(step, n_running)`` after every chunk (both backends); ``None`` or
        ``False``: nothing.
    compact : bool
        Pack the running walkers between chunks (True); False keeps the initial
        blocks (for tests: results are identical either way).  CPU only: on the GPU
        finished threads return at once and nothing is packed, so
        ``compact=False`` with ``backend="cuda"`` is refused.
    backend : {"cpu", "cuda"}
        ``"cuda"`` runs the GPU driver with the same arrays (one-line
        :class:`~langevin_opt.core.BackendUnavailableError` without a GPU, never a
        silent fallback).

    Returns
    -------
    FirstPassageResult
        Times in the integrator's time unit (``steps * dt``).

    Raises
    ------
    TypeError
        A missing ``seed``, or an argument of the wrong type.
    ValueError
        A value out of range or of the wrong shape (one line naming the argument).
    DivergenceError
        A walker's energy or position became non-finite (reduce ``dt``): ``step`` and
        ``index`` name the first such walker; ``partial_result`` is a
        :class:`FirstPassageResult` of the run up to the end of that chunk (walkers
        still running have ``steps = -1``, ``final_basin = -1`` and their current
        position; diverged ones ``final_basin = -2``).
    langevin_opt.core.Interrupted
        Ctrl-C (SIGINT), a :class:`KeyboardInterrupt`: on the CPU the run stops after
        the compiled call it is in (a quarter of a second or so); ``step`` is the step
        reached and ``partial_result`` the :class:`FirstPassageResult` so far (as for a
        divergence).  On the GPU, a plain :class:`KeyboardInterrupt` between launches.
    """
    from ..cuda.backend import check_backend

    be = check_backend(backend)
    run = _validate(landscape, integrator, positions, basins, temperature, max_steps, seed,
                    start_basin, velocities, stream_offset, chunk, threads, progress, compact)
    progress = check_progress("progress", progress, call="progress(step, n_running)")
    if be == "cuda":
        if not compact:
            raise ValueError("compact=False keeps the CPU's initial walker blocks; the GPU "
                             "driver packs nothing (finished threads return at once): use "
                             "compact=True with backend='cuda'")
        return _run_cuda(landscape, integrator, basins, run, progress)
    return _run_cpu(landscape, integrator, basins, run, threads, progress, compact)


def quench_basins(landscape: Landscape, result: FirstPassageResult, basins: Basins
                  ) -> np.ndarray:
    """Basin of each walker's final position by a gradient-descent quench.

    A check of the commitment regions: a committed walker's position should
    quench to the minimum whose region it entered (balls drawn too large, across
    a basin boundary, show up as disagreements).

    Parameters
    ----------
    landscape : Landscape
        Energy surface.
    result : FirstPassageResult
        Output of :func:`first_passage`.
    basins : Basins
        The regions used (their centres are the minima quenched to).

    Returns
    -------
    numpy.ndarray of int64, shape (M,)
        Index of the basin centre each final position quenches to (-1 if the
        quench did not converge to one of them).
    """
    from ..analysis.basins import quench

    x, ok = quench(landscape, result.positions, minima=basins.centers)
    d2 = ((x[:, None, :] - basins.centers[None, :, :]) ** 2).sum(-1)
    return np.where(ok, d2.argmin(1), -1).astype(np.int64)
