"""Walker ensembles: integrators, the sampler and replica exchange.

Units: reduced units with ``k_B = 1``; temperatures are energies, ``dt`` is
in the landscape's time unit (for overdamped dynamics the friction is 1, so
``D = T``).

An ensemble is ``M`` independent walkers in ``d`` dimensions, positions of
shape ``(M, d)``.  :class:`Sampler` holds the configuration (landscape,
integrator, temperatures, schedule, seed) and dispatches to compiled kernels;
:class:`EnsembleState` is a plain record of arrays that can be saved and
resumed.  A run of ``n`` steps is one call into compiled code; frames are
written into preallocated buffers every ``record_every`` steps.

Reproducibility: every random number is keyed by ``(seed, walker id, step)``
(:mod:`langevin_opt.rng`), with walker id ``walker_offset + i``.  The same seed
gives bit-identical trajectories for any number of threads, for any split of
the ensemble into parts run separately (give each part its ``walker_offset``),
and for any chunking of the run into several ``run`` calls.

Integrators
-----------
:class:`GradientDescent`
    ``x ← x - dt ∇U(x)`` (the ``T = 0`` limit; ignores temperatures).
:class:`Overdamped`
    Euler–Maruyama ``x ← x - dt ∇U(x) + sqrt(2 T dt) ξ``; stationary density
    ``exp(-U/T)`` up to an ``O(dt)`` bias.
:class:`MALA`
    The same proposal with a Metropolis–Hastings test (Roberts & Tweedie
    1996): exact ``exp(-U/T)`` at any ``dt``; per-walker acceptance counts.
:class:`BAOAB`
    Underdamped Langevin ``dx = v dt, m dv = -∇U dt - mγ v dt + sqrt(2mγT) dW``
    with the BAOAB splitting (Leimkuhler & Matthews 2013).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numba
import numpy as np

from . import _kernels as K
from .config import config
from .cuda.backend import check_backend
from .landscapes import Landscape, _suggest
from .rng import PURPOSE_INIT, check_seed, normals, uniforms
from .schedules import Constant, Schedule

__all__ = [
    "GradientDescent",
    "Overdamped",
    "MALA",
    "BAOAB",
    "INTEGRATORS",
    "make_integrator",
    "ReplicaExchange",
    "EnsembleState",
    "Trajectory",
    "RunResult",
    "DivergenceError",
    "Sampler",
    "sample",
    "uniform_positions",
]


def _positive_float(name: str, v: object) -> float:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number > 0, got {v!r}") from None
    if not (math.isfinite(f) and f > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    return f


@dataclass(frozen=True)
class GradientDescent:
    """Gradient descent ``x ← x - dt ∇U(x)``.

    Parameters
    ----------
    dt : float
        Step size (> 0).
    """

    dt: float
    kind = "gd"
    code = K.GD

    def __post_init__(self) -> None:
        _positive_float("dt", self.dt)


@dataclass(frozen=True)
class Overdamped:
    """Overdamped Langevin, Euler–Maruyama discretisation (unit friction).

    Parameters
    ----------
    dt : float
        Time step (> 0).
    """

    dt: float
    kind = "overdamped"
    code = K.OVERDAMPED

    def __post_init__(self) -> None:
        _positive_float("dt", self.dt)


@dataclass(frozen=True)
class MALA:
    """Metropolis-adjusted Langevin algorithm (exact at any step size).

    Parameters
    ----------
    dt : float
        Proposal time step (> 0); the proposal is the Euler–Maruyama step.
    """

    dt: float
    kind = "mala"
    code = K.MALA

    def __post_init__(self) -> None:
        _positive_float("dt", self.dt)


@dataclass(frozen=True)
class BAOAB:
    """Underdamped Langevin dynamics with the BAOAB splitting.

    Parameters
    ----------
    dt : float
        Time step (> 0).
    friction : float
        Friction rate ``γ`` in inverse time units (> 0).
    mass : float
        Walker mass ``m`` (> 0), the same in every dimension.
    """

    dt: float
    friction: float = 1.0
    mass: float = 1.0
    kind = "baoab"
    code = K.BAOAB

    def __post_init__(self) -> None:
        _positive_float("dt", self.dt)
        _positive_float("friction", self.friction)
        _positive_float("mass", self.mass)


Integrator = GradientDescent | Overdamped | MALA | BAOAB

#: Registry: integrator kind -> class.
INTEGRATORS: dict[str, type] = {
    "gd": GradientDescent,
    "overdamped": Overdamped,
    "mala": MALA,
    "baoab": BAOAB,
}


def make_integrator(kind: str, **settings: object) -> Integrator:
    """Build an integrator by kind name with validated settings.

    Parameters
    ----------
    kind : str
        One of :data:`INTEGRATORS`.
    **settings
        The integrator's fields (``dt``; ``friction`` and ``mass`` for BAOAB).

    Returns
    -------
    GradientDescent or Overdamped or MALA or BAOAB
    """
    if kind not in INTEGRATORS:
        raise ValueError(
            f"unknown integrator {kind!r}{_suggest(kind, INTEGRATORS)}; "
            f"allowed: {', '.join(INTEGRATORS)}"
        )
    cls = INTEGRATORS[kind]
    fields = list(cls.__dataclass_fields__)
    for key in settings:
        if key not in fields:
            raise ValueError(
                f"unknown setting {key!r} for integrator {kind!r}{_suggest(key, fields)}; "
                f"allowed: {', '.join(fields)}"
            )
    if "dt" not in settings:
        raise ValueError(f"integrator {kind!r} needs dt (a finite number > 0)")
    return cls(**settings)


@dataclass(frozen=True)
class ReplicaExchange:
    """Replica exchange (parallel tempering) across a temperature ladder.

    The ensemble is ``n_chains`` independent chains of ``K`` replicas; walker
    ``c*K + k`` sits at ``temperatures[k]``.  Every ``swap_every`` steps,
    neighbouring replicas ``(k, k+1)`` with ``k`` even (odd) on even (odd)
    rounds exchange configurations with probability
    ``min(1, exp((1/T_k - 1/T_{k+1}) (U_k - U_{k+1})))``.  Swap decisions use
    the counter-based generator (stream = chain id), so runs stay reproducible.

    Parameters
    ----------
    temperatures : array_like
        Increasing ladder of ``K >= 2`` temperatures (> 0).
    swap_every : int
        Steps between swap rounds (>= 1).
    """

    temperatures: tuple
    swap_every: int = 10

    def __post_init__(self) -> None:
        t = np.asarray(self.temperatures, dtype=np.float64).ravel()
        if t.size < 2 or not np.all(np.isfinite(t)) or np.any(t <= 0):
            raise ValueError("temperatures must be at least 2 finite numbers > 0")
        if np.any(np.diff(t) <= 0):
            raise ValueError("temperatures must be strictly increasing")
        object.__setattr__(self, "temperatures", tuple(float(x) for x in t))
        se = self.swap_every
        if isinstance(se, bool) or not isinstance(se, (int, np.integer)) or se < 1:
            raise ValueError(f"swap_every must be an integer >= 1, got {se!r}")

    @property
    def n_temps(self) -> int:
        """Number of temperatures ``K`` in the ladder."""
        return len(self.temperatures)


class EnsembleState(NamedTuple):
    """State of a walker ensemble at one step (all that a resume needs).

    Attributes
    ----------
    positions : numpy.ndarray, shape (M, d)
    velocities : numpy.ndarray, shape (M, d), or None
        Only for BAOAB.
    energies : numpy.ndarray, shape (M,)
    step : int
        Global step counter (the RNG counter of the next step).
    accepted : numpy.ndarray of int64, shape (M,)
        MALA acceptances per walker since the start.
    permutation : numpy.ndarray of int64, shape (C, K), or None
        Replica exchange: which replica sits at each temperature of each chain.
    swap_attempts, swap_accepts : numpy.ndarray of int64, shape (K-1,), or None
        Replica exchange statistics per neighbouring pair of temperatures.
    """

    positions: np.ndarray
    velocities: np.ndarray | None
    energies: np.ndarray
    step: int
    accepted: np.ndarray
    permutation: np.ndarray | None = None
    swap_attempts: np.ndarray | None = None
    swap_accepts: np.ndarray | None = None


class Trajectory(NamedTuple):
    """Recorded frames of one run call.

    Attributes
    ----------
    steps : numpy.ndarray of int64, shape (F,)
    positions : numpy.ndarray, shape (F, M, d)
    energies : numpy.ndarray, shape (F, M)
    """

    steps: np.ndarray
    positions: np.ndarray
    energies: np.ndarray


class RunResult(NamedTuple):
    """What :meth:`Sampler.run` returns: the final state and the frames."""

    state: EnsembleState
    trajectory: Trajectory


class DivergenceError(FloatingPointError):
    """A walker's energy, gradient, position or velocity became non-finite.

    Attributes
    ----------
    step : int
        First global step at which a non-finite value appeared.
    walker : int
        Index of the first walker (within the ensemble) that diverged then.
    result : RunResult
        State when the run stopped and every frame recorded before ``step``.
    """

    def __init__(self, message: str, step: int, walker: int, result: RunResult) -> None:
        super().__init__(message)
        self.step = step
        self.walker = walker
        self.result = result


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    top = numba.config.NUMBA_NUM_THREADS
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= top:
        raise ValueError(f"threads must be an integer in [1, {top}], got {n!r}")
    old = numba.get_num_threads()
    numba.set_num_threads(int(n))
    try:
        yield
    finally:
        numba.set_num_threads(old)


def _as_positions(name: str, x: object, dim: int) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a real float array, got dtype {a.dtype}")
    if dim == 1 and a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] != dim or a.shape[0] < 1:
        raise ValueError(f"{name} must have shape (M, {dim}) with M >= 1, got {a.shape}")
    a = np.array(a, dtype=np.float64, order="C")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    return a


class Sampler:
    """Configuration and dispatch for a walker ensemble on a landscape.

    Parameters
    ----------
    landscape : Landscape
        The energy surface.
    integrator : GradientDescent, Overdamped, MALA or BAOAB
        Update rule and its parameters.
    temperature : float or array_like of shape (M,)
        Base temperature of every walker (``k_B = 1``), ``>= 0`` (``> 0`` for
        MALA).  Ignored (must be left at its default) with replica exchange,
        whose ladder sets the temperatures.
    schedule : Schedule, optional
        Temperature profile ``φ(t)``; walker ``i`` runs at ``T_i φ(t)``.
    replica_exchange : ReplicaExchange, optional
        Turns the ensemble into ``M / K`` parallel-tempering chains.
    seed : int
        Generator key in ``[0, 2**64)`` (keyword only, required).
    walker_offset : int
        RNG stream id of walker 0 (to run parts of one ensemble separately).
    total_steps : int, optional
        Length of the whole run for the schedule profile; defaults to the end
        step of each :meth:`run` call.
    backend : {"cpu", "cuda"}
        Where :meth:`run` computes.  ``"cuda"`` runs the same integrators with the
        same random numbers on an NVIDIA GPU (:mod:`langevin_opt.cuda`; results
        agree with the CPU to rounding, see there) and raises
        :class:`langevin_opt.cuda.BackendUnavailableError` (one line) at once if
        no GPU can be used: it never falls back to the CPU.
    """

    def __init__(
        self,
        landscape: Landscape,
        integrator: Integrator,
        *,
        temperature: float | np.ndarray = 1.0,
        schedule: Schedule | None = None,
        replica_exchange: ReplicaExchange | None = None,
        seed: int,
        walker_offset: int = 0,
        total_steps: int | None = None,
        backend: str = "cpu",
    ) -> None:
        if not isinstance(landscape, Landscape):
            raise ValueError(f"landscape must be a Landscape, got {type(landscape).__name__}")
        if not isinstance(integrator, tuple(INTEGRATORS.values())):
            raise ValueError(
                f"integrator must be one of {', '.join(c.__name__ for c in INTEGRATORS.values())}"
            )
        if schedule is not None and not isinstance(schedule, Schedule):
            raise ValueError(f"schedule must be a Schedule, got {type(schedule).__name__}")
        if replica_exchange is not None and not isinstance(replica_exchange, ReplicaExchange):
            raise ValueError("replica_exchange must be a ReplicaExchange")
        if isinstance(walker_offset, bool) or not isinstance(walker_offset, (int, np.integer)) \
                or not 0 <= walker_offset < 2**32:
            raise ValueError(
                f"walker_offset must be an integer in [0, 2**32), got {walker_offset!r}"
            )
        if total_steps is not None and (not isinstance(total_steps, (int, np.integer))
                                        or total_steps < 1):
            raise ValueError(f"total_steps must be an integer >= 1, got {total_steps!r}")
        t = np.asarray(temperature, dtype=np.float64)
        if t.ndim > 1 or not np.all(np.isfinite(t)) or np.any(t < 0):
            raise ValueError(
                "temperature must be a finite number >= 0 or a 1-D array of them, "
                f"got {temperature!r}"
            )
        if isinstance(integrator, MALA) and np.any(t <= 0):
            raise ValueError("temperature must be > 0 for MALA (its acceptance test divides by T)")
        self.landscape = landscape
        self.integrator = integrator
        self.temperature = t
        self.schedule = schedule or Constant()
        self.replica_exchange = replica_exchange
        self.seed = check_seed(seed)
        self.walker_offset = int(walker_offset)
        self.total_steps = None if total_steps is None else int(total_steps)
        self.backend = check_backend(backend)
        if self.backend == "cuda":
            from .cuda.backend import require

            require()
        self._kernels = K.kernels_for(landscape.energy_grad)

    # ------------------------------------------------------------------ setup
    def temperatures_for(self, n_walkers: int) -> np.ndarray:
        """Per-walker base temperatures for an ensemble of ``n_walkers``.

        Parameters
        ----------
        n_walkers : int
            Ensemble size ``M``.

        Returns
        -------
        numpy.ndarray, shape (M,)
        """
        rex = self.replica_exchange
        if rex is not None:
            if n_walkers % rex.n_temps:
                raise ValueError(
                    f"replica exchange needs a multiple of {rex.n_temps} walkers "
                    f"(chains x temperatures), got {n_walkers}"
                )
            return np.tile(np.asarray(rex.temperatures), n_walkers // rex.n_temps)
        if self.temperature.ndim == 0:
            return np.full(n_walkers, float(self.temperature))
        if self.temperature.shape != (n_walkers,):
            raise ValueError(
                f"temperature array must have shape ({n_walkers},) to match the walkers, "
                f"got {self.temperature.shape}"
            )
        return self.temperature.copy()

    def init(
        self, positions: np.ndarray, velocities: np.ndarray | None = None, *, step: int = 0
    ) -> EnsembleState:
        """Validate starting positions and build the initial state.

        Parameters
        ----------
        positions : array_like, shape (M, d)
            Starting positions (``(M,)`` is accepted for ``d = 1``).
        velocities : array_like, shape (M, d), optional
            BAOAB only; default: drawn from the Maxwell–Boltzmann distribution
            at each walker's starting temperature with the counter-based RNG.
        step : int
            Global step counter of the state (0 for a fresh run).

        Returns
        -------
        EnsembleState
        """
        d = self.landscape.dim
        x = _as_positions("positions", positions, d)
        m = x.shape[0]
        if self.walker_offset + m > 2**32:
            raise ValueError("walker_offset + number of walkers must be <= 2**32")
        temps = self.temperatures_for(m)
        v = None
        if isinstance(self.integrator, BAOAB):
            if velocities is None:
                phi0 = self.schedule.factors(np.array([step]), self.total_steps or step + 1)[0]
                z = normals(self.seed, (m, d), stream0=self.walker_offset, step=step,
                            purpose=PURPOSE_INIT)
                v = z * np.sqrt(temps * phi0 / self.integrator.mass)[:, None]
            else:
                v = _as_positions("velocities", velocities, d)
                if v.shape != x.shape:
                    raise ValueError(f"velocities must have shape {x.shape}, got {v.shape}")
        elif velocities is not None:
            raise ValueError(f"velocities are only used by baoab, not {self.integrator.kind}")
        e = self.landscape.energy(x)
        if not np.all(np.isfinite(e)):
            bad = int(np.flatnonzero(~np.isfinite(e))[0])
            raise ValueError(f"positions: walker {bad} starts at a non-finite energy")
        perm = att = acc_sw = None
        rex = self.replica_exchange
        if rex is not None:
            perm = np.tile(np.arange(rex.n_temps, dtype=np.int64), (m // rex.n_temps, 1))
            att = np.zeros(rex.n_temps - 1, dtype=np.int64)
            acc_sw = np.zeros(rex.n_temps - 1, dtype=np.int64)
        return EnsembleState(x, v, e, int(step), np.zeros(m, dtype=np.int64), perm, att, acc_sw)

    # -------------------------------------------------------------------- run
    def run(
        self,
        state: EnsembleState,
        n_steps: int,
        *,
        record_every: int = 0,
        threads: int | None = None,
        frame_buffer: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> RunResult:
        """Advance the ensemble by ``n_steps`` in one compiled call.

        Parameters
        ----------
        state : EnsembleState
            Starting state (from :meth:`init` or a previous run); not modified.
        n_steps : int
            Number of steps (>= 0).  With replica exchange, a multiple of
            ``swap_every``.
        record_every : int
            Record positions and energies at every global step that is a
            multiple of ``record_every`` (0: record nothing).  The state at
            step 0 is recorded when a run starts there.
        threads : int, optional
            Number of threads for this call (default: Numba's current setting).
        frame_buffer : (numpy.ndarray, numpy.ndarray), optional
            Float64 arrays ``(F, M, d)`` and ``(F, M)`` with ``F`` at least the
            number of frames of this call, reused for the returned trajectory
            (which then is a view, overwritten by the next call that gets the same
            buffer).  Long runs pass one buffer to every chunk: a fresh
            multi-megabyte array costs a page fault per 4 KiB on first touch.

        Returns
        -------
        RunResult
            The new state and the frames recorded in this call.

        Raises
        ------
        DivergenceError
            If a walker becomes non-finite; carries the step, walker and the
            frames recorded before.
        """
        if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 0:
            raise ValueError(f"n_steps must be an integer >= 0, got {n_steps!r}")
        if isinstance(record_every, bool) or not isinstance(record_every, (int, np.integer)) \
                or record_every < 0:
            raise ValueError(f"record_every must be an integer >= 0, got {record_every!r}")
        n_steps = int(n_steps)
        k = int(record_every)
        integ = self.integrator
        x = _as_positions("state.positions", state.positions, self.landscape.dim)
        m, d = x.shape
        step0 = int(state.step)
        if step0 < 0 or step0 + n_steps >= 2**48:
            raise ValueError("steps must stay in [0, 2**48)")
        temps = self.temperatures_for(m)
        total = self.total_steps or (step0 + n_steps)
        if step0 + n_steps > total:
            raise ValueError(f"the run would pass total_steps={total} of the schedule")
        phi = np.ascontiguousarray(
            self.schedule.factors(np.arange(step0, step0 + n_steps), total), dtype=np.float64
        ).reshape(-1)
        if phi.size == 0:
            phi = np.ones(1)
        if np.any(~np.isfinite(phi)) or np.any(phi < 0):
            raise ValueError("schedule factors must be finite and >= 0")
        if isinstance(integ, MALA) and np.any(phi == 0):
            raise ValueError("MALA needs temperatures > 0, but the schedule reaches 0")
        rex = self.replica_exchange
        if rex is not None and (n_steps % rex.swap_every or step0 % rex.swap_every):
            raise ValueError(
                f"with replica exchange, n_steps and the start step must be multiples of "
                f"swap_every={rex.swap_every}, got n_steps={n_steps}, step={step0}"
            )

        # recording: frames at multiples of k in (step0, step0 + n], plus step0 at a run start
        if k > 0:
            first = (step0 // k + 1) * k
            rec_steps = list(range(first, step0 + n_steps + 1, k))
            include_initial = step0 == 0
        else:
            first, rec_steps, include_initial = 0, [], False
        n_rec = len(rec_steps)
        # one buffer for all frames of the call; slot 0 holds the initial state when it is
        # recorded, the kernel fills the rest (frames after a divergence are dropped below)
        n0 = int(include_initial)
        n_all = n0 + n_rec
        if frame_buffer is not None:
            bx, be = frame_buffer
            if (bx.dtype != np.float64 or be.dtype != np.float64 or bx.ndim != 3
                    or bx.shape[0] < n_all or bx.shape[1:] != (m, d)
                    or be.shape[0] < n_all or be.shape[1:] != (m,)
                    or not (bx.flags.c_contiguous and be.flags.c_contiguous)):
                raise ValueError(
                    f"frame_buffer must be C-contiguous float64 arrays of shapes "
                    f"(>= {n_all}, {m}, {d}) and (>= {n_all}, {m})"
                )
            all_frames, all_e = bx[:n_all], be[:n_all]
        else:
            all_frames = np.empty((n_all, m, d))
            all_e = np.empty((n_all, m))
        if include_initial:
            all_frames[0] = x
            all_e[0] = state.energies
        frames, frame_e = all_frames[n0:], all_e[n0:]

        xt = np.ascontiguousarray(x.T)
        vt = (np.ascontiguousarray(np.asarray(state.velocities, dtype=np.float64).T)
              if isinstance(integ, BAOAB) else np.zeros((d, 1)))
        if isinstance(integ, BAOAB) and vt.shape != (d, m):
            raise ValueError(f"state.velocities must have shape ({m}, {d}) for baoab")
        e = np.empty(m)
        acc = np.array(state.accepted, dtype=np.int64, copy=True)
        status = np.full(m, -1, dtype=np.int64)
        dt = float(integ.dt)
        gamma = float(getattr(integ, "friction", 1.0))
        mass = float(getattr(integ, "mass", 1.0))
        seed = np.uint64(self.seed)
        block = int(config.block_size)
        args = (xt, vt, e, self.landscape.params, temps, phi, dt, gamma, mass, seed,
                self.walker_offset, step0, n_steps, k if n_rec else 0, first, frames, frame_e,
                acc, status)
        if self.backend == "cpu":
            args += (block, K.make_scratch(m, d, block, integ.code))
        perm = att = acc_sw = None
        with _threads(threads):
            if self.backend == "cuda":
                from .cuda.walkers import run_ensemble

                replica = None
                if rex is not None:
                    perm = np.array(state.permutation, dtype=np.int64, copy=True)
                    att = np.array(state.swap_attempts, dtype=np.int64, copy=True)
                    acc_sw = np.array(state.swap_accepts, dtype=np.int64, copy=True)
                    replica = (rex.n_temps, rex.swap_every, self.walker_offset // rex.n_temps,
                               perm, att, acc_sw, isinstance(integ, BAOAB))
                run_ensemble(self.landscape.energy_grad, integ.code, *args, replica=replica)
            elif rex is None:
                self._kernels.driver(integ.code)(*args)
            else:
                perm = np.array(state.permutation, dtype=np.int64, copy=True)
                att = np.array(state.swap_attempts, dtype=np.int64, copy=True)
                acc_sw = np.array(state.swap_accepts, dtype=np.int64, copy=True)
                chain0 = self.walker_offset // rex.n_temps
                self._kernels.driver(integ.code, replica_exchange=True)(
                    *args, rex.n_temps, rex.swap_every, chain0, perm, att, acc_sw,
                    isinstance(integ, BAOAB))
            if n_steps == 0:
                self._kernels.evaluate(xt, self.landscape.params, e, np.empty_like(xt))

        steps = np.asarray([step0] * n0 + rec_steps, dtype=np.int64)
        frames, frame_e = all_frames, all_e
        new_x = np.ascontiguousarray(xt.T)
        new_v = np.ascontiguousarray(vt.T) if isinstance(integ, BAOAB) else None
        failed = status >= 0
        if failed.any():
            fail_step = int(status[failed].min())
            walker = int(np.flatnonzero(status == fail_step)[0])
            keep = steps < fail_step
            st = EnsembleState(new_x, new_v, e, fail_step, acc, perm, att, acc_sw)
            result = RunResult(st, Trajectory(steps[keep], frames[keep], frame_e[keep]))
            raise DivergenceError(
                f"non-finite energy or coordinates at step {fail_step} for walker {walker} "
                f"(landscape '{self.landscape.name}', integrator {integ.kind}, dt={dt:g}); "
                "reduce dt or check the landscape",
                fail_step,
                walker,
                result,
            )
        st = EnsembleState(new_x, new_v, e, step0 + n_steps, acc, perm, att, acc_sw)
        return RunResult(st, Trajectory(steps, frames, frame_e))

    def to_config(self) -> dict:
        """Describe the sampler as a plain dict (for configs and HDF5 provenance).

        Returns
        -------
        dict
        """
        cfg = {
            "landscape": self.landscape.to_config(),
            "integrator": {"kind": self.integrator.kind, **asdict(self.integrator)},
            "temperature": self.temperature.tolist(),
            "schedule": self.schedule.to_config(),
            "seed": self.seed,
            "walker_offset": self.walker_offset,
        }
        if self.backend != "cpu":
            cfg["backend"] = self.backend
        if self.replica_exchange is not None:
            cfg["replica_exchange"] = {
                "temperatures": list(self.replica_exchange.temperatures),
                "swap_every": self.replica_exchange.swap_every,
            }
        return cfg


def uniform_positions(bounds: np.ndarray, n_walkers: int, *, seed: int,
                      walker_offset: int = 0) -> np.ndarray:
    """Walkers spread uniformly over a box, from the counter-based generator.

    Parameters
    ----------
    bounds : array_like, shape (d, 2)
        Lower and upper edge per dimension.
    n_walkers : int
        Number of walkers ``M >= 1``.
    seed : int
        Generator key.
    walker_offset : int
        Stream id of walker 0.

    Returns
    -------
    numpy.ndarray, shape (M, d)
    """
    b = np.asarray(bounds, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 2 or np.any(b[:, 1] <= b[:, 0]):
        raise ValueError("bounds must have shape (d, 2) with lower < upper")
    if isinstance(n_walkers, bool) or not isinstance(n_walkers, (int, np.integer)) or n_walkers < 1:
        raise ValueError(f"n_walkers must be an integer >= 1, got {n_walkers!r}")
    u = uniforms(seed, (int(n_walkers), b.shape[0]), stream0=walker_offset, purpose=PURPOSE_INIT)
    return b[:, 0] + u * (b[:, 1] - b[:, 0])


def sample(
    landscape: Landscape,
    positions: np.ndarray,
    n_steps: int,
    *,
    method: str = "overdamped",
    dt: float,
    temperature: float | np.ndarray = 1.0,
    seed: int,
    schedule: Schedule | None = None,
    replica_exchange: ReplicaExchange | None = None,
    record_every: int = 0,
    friction: float = 1.0,
    mass: float = 1.0,
    velocities: np.ndarray | None = None,
    walker_offset: int = 0,
    threads: int | None = None,
    backend: str = "cpu",
) -> RunResult:
    """Run a walker ensemble in one call (the convenience front end of :class:`Sampler`).

    Parameters
    ----------
    landscape : Landscape
        Energy surface.
    positions : array_like, shape (M, d)
        Starting positions.
    n_steps : int
        Number of steps.
    method : {"gd", "overdamped", "mala", "baoab"}
        Integrator.
    dt : float
        Time step (> 0).
    temperature : float or array_like (M,)
        Temperatures (``k_B = 1``).
    seed : int
        Generator key (required).
    schedule : Schedule, optional
        Temperature profile over the run.
    replica_exchange : ReplicaExchange, optional
        Parallel tempering; then ``temperature`` is not used.
    record_every : int
        Frame interval (0: none).
    friction, mass : float
        BAOAB only.
    velocities : array_like, optional
        BAOAB only; default Maxwell–Boltzmann.
    walker_offset : int
        RNG stream id of walker 0.
    threads : int, optional
        Thread count for the call.
    backend : {"cpu", "cuda"}
        Compute backend (see :class:`Sampler`).

    Returns
    -------
    RunResult
    """
    settings: dict[str, object] = {"dt": dt}
    if method == "baoab":
        settings.update(friction=friction, mass=mass)
    integ = make_integrator(method, **settings)
    sampler = Sampler(landscape, integ, temperature=temperature, schedule=schedule,
                      replica_exchange=replica_exchange, seed=seed,
                      walker_offset=walker_offset, total_steps=max(int(n_steps), 1)
                      if isinstance(n_steps, (int, np.integer)) else None, backend=backend)
    state = sampler.init(positions, velocities)
    return sampler.run(state, n_steps, record_every=record_every, threads=threads)
