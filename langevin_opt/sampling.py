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
(:mod:`langevin_opt.rng`), with walker id ``stream_offset + i``.  The same seed
gives bit-identical trajectories for any number of threads, for any split of
the ensemble into parts run separately (give each part its ``stream_offset``),
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
    with the BAOAB splitting (Leimkuhler & Matthews 2013); ``γ = 0`` is plain
    velocity-Verlet (NVE) dynamics.

Errors follow :mod:`langevin_opt.core`: a wrong type raises :class:`TypeError`, a
wrong value, range or shape :class:`ValueError`, a non-finite walker
:class:`langevin_opt.core.DivergenceError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from . import _kernels as K
from .config import config
from .core import validation as _v
from .core.chunking import ChunkLoop, kernel_name
from .core.errors import DivergenceError, Interrupted
from .core.validation import (
    STREAM_LIMIT,
    check_array,
    check_int,
    check_nonnegative,
    check_positive,
    check_progress,
    check_seed,
    check_settings,
    check_stream_offset,
    suggest,
)
from .cuda.backend import check_backend
from .landscapes import Landscape
from .rng import PURPOSE_INIT, normals, uniforms
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
    "Interrupted",
    "Sampler",
    "sample",
    "uniform_positions",
]


@dataclass(frozen=True)
class _Stepped:
    """Settings every integrator has: the time step ``dt`` (> 0), checked once here."""

    dt: float

    def __post_init__(self) -> None:
        check_positive("dt", self.dt)


@dataclass(frozen=True)
class GradientDescent(_Stepped):
    """Gradient descent ``x ← x - dt ∇U(x)``.

    Parameters
    ----------
    dt : float
        Step size (> 0).
    """

    kind = "gd"
    code = K.GD


@dataclass(frozen=True)
class Overdamped(_Stepped):
    """Overdamped Langevin, Euler–Maruyama discretisation (unit friction).

    Parameters
    ----------
    dt : float
        Time step (> 0).
    """

    kind = "overdamped"
    code = K.OVERDAMPED


@dataclass(frozen=True)
class MALA(_Stepped):
    """Metropolis-adjusted Langevin algorithm (exact at any step size).

    Parameters
    ----------
    dt : float
        Proposal time step (> 0); the proposal is the Euler–Maruyama step.
    """

    kind = "mala"
    code = K.MALA


@dataclass(frozen=True)
class BAOAB(_Stepped):
    """Underdamped Langevin dynamics with the BAOAB splitting.

    Parameters
    ----------
    dt : float
        Time step (> 0).
    friction : float
        Friction rate ``γ`` in inverse time units (>= 0).  ``γ = 0`` is plain
        velocity-Verlet (NVE) dynamics: ``c1 = exp(-γ dt) = 1`` and the noise
        amplitude ``sqrt(1 - c1²) = 0``, so the energy is conserved up to the
        ``O(dt²)`` error of the splitting.
    mass : float
        Walker mass ``m`` (> 0), the same in every dimension.
    """

    friction: float = 1.0
    mass: float = 1.0
    kind = "baoab"
    code = K.BAOAB

    def __post_init__(self) -> None:
        super().__post_init__()
        check_nonnegative("friction", self.friction)
        check_positive("mass", self.mass)


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
    if not isinstance(kind, str):
        raise TypeError(f"integrator kind must be one of {', '.join(map(repr, INTEGRATORS))}, "
                        f"got {type(kind).__name__} {kind!r}")
    if kind not in INTEGRATORS:
        raise ValueError(
            f"unknown integrator {kind!r}{suggest(kind, INTEGRATORS)}; "
            f"allowed: {', '.join(INTEGRATORS)}"
        )
    cls = INTEGRATORS[kind]
    fields = list(cls.__dataclass_fields__)
    check_settings(settings, fields, where=f" for integrator {kind!r}")
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
        se = check_int("swap_every", self.swap_every, lo=1, hi=None)
        object.__setattr__(self, "swap_every", se)

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

    @property
    def chains(self) -> np.ndarray:
        """Positions walker first, shape ``(M, F, d)``: a view of ``positions``.

        The axis order (chain, draw, ...) of :mod:`langevin_opt.analysis.diagnostics`
        and ArviZ (each walker a chain); ``positions`` is time first, as in H5MD.
        """
        return self.positions.transpose(1, 0, 2)

    @property
    def energy_chains(self) -> np.ndarray:
        """Frame energies walker first, shape ``(M, F)`` (a view of ``energies``)."""
        return self.energies.T


class RunResult(NamedTuple):
    """What :meth:`Sampler.run` returns: the final state and the frames."""

    state: EnsembleState
    trajectory: Trajectory



def _as_positions(name: str, x: object, dim: int) -> np.ndarray:
    if isinstance(x, (str, bytes, dict)) or x is None:
        raise TypeError(f"{name} must be a real float array of shape (M, {dim}), got "
                        f"{type(x).__name__}")
    a = np.asarray(x)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real float array, got dtype {a.dtype}")
    if dim == 1 and a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] != dim or a.shape[0] < 1:
        raise ValueError(f"{name} must have shape (M, {dim}) with M >= 1, got {a.shape}")
    a = np.array(a, dtype=np.float64, order="C")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    return a


def _check_temperature(temperature: object) -> np.ndarray:
    """A temperature scalar or a 1-D array of them (one per walker), finite and >= 0."""
    if isinstance(temperature, (str, bytes, dict)) or temperature is None:
        raise TypeError("temperature must be a number >= 0 or a 1-D array of them (one per "
                        f"walker), got {type(temperature).__name__}")
    t = np.asarray(temperature)
    if t.dtype.kind not in "iuf":
        raise TypeError(f"temperature must hold real numbers, got dtype {t.dtype}")
    if t.ndim > 1:
        raise ValueError("temperature must be a number >= 0 or a 1-D array of them (one per "
                         f"walker), got an array of shape {t.shape}")
    t = t.astype(np.float64)
    ok = np.isfinite(t) & (t >= 0)
    if not np.all(ok):
        bad = "" if t.ndim == 0 else f" (entry {int(np.flatnonzero(~ok.ravel())[0])})"
        val = t[()] if t.ndim == 0 else t[np.flatnonzero(~ok)[0]]
        raise ValueError(f"temperature must be a finite number >= 0 or a 1-D array of them, "
                         f"got {float(val)!r}{bad}")
    return t


class Sampler:
    """Configuration and dispatch for a walker ensemble on a landscape.

    Parameters
    ----------
    landscape : Landscape
        The energy surface.
    integrator : GradientDescent, Overdamped, MALA or BAOAB
        Update rule and its parameters.
    temperature : float or array_like of shape (M,), optional
        Base temperature of every walker (``k_B = 1``), ``>= 0`` (``> 0`` for
        MALA); default 1.  Must be omitted with replica exchange, whose ladder
        sets the temperatures (passing both raises :class:`ValueError`).
    schedule : Schedule, optional
        Temperature profile ``φ(t)``; walker ``i`` runs at ``T_i φ(t)``.
    replica_exchange : ReplicaExchange, optional
        Turns the ensemble into ``M / K`` parallel-tempering chains.
    seed : int
        Generator key in ``[0, 2**64)`` (keyword only, required: a missing seed
        raises :class:`TypeError`).
    stream_offset : int
        Global index of walker 0: walker ``i`` uses random stream
        ``stream_offset + i`` (to run parts of one ensemble separately).
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
        temperature: float | np.ndarray | None = None,
        schedule: Schedule | None = None,
        replica_exchange: ReplicaExchange | None = None,
        seed: int | None = None,
        stream_offset: int = 0,
        total_steps: int | None = None,
        backend: str = "cpu",
    ) -> None:
        self.seed = check_seed(seed)
        if not isinstance(landscape, Landscape):
            raise TypeError(f"landscape must be a Landscape, got {type(landscape).__name__}")
        if not isinstance(integrator, tuple(INTEGRATORS.values())):
            raise TypeError(
                f"integrator must be one of {', '.join(c.__name__ for c in INTEGRATORS.values())}"
                f", got {type(integrator).__name__}"
            )
        if schedule is not None and not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a Schedule, got {type(schedule).__name__}")
        if replica_exchange is not None and not isinstance(replica_exchange, ReplicaExchange):
            raise TypeError(f"replica_exchange must be a ReplicaExchange, got "
                            f"{type(replica_exchange).__name__}")
        if replica_exchange is not None and temperature is not None:
            raise ValueError("pass one of temperature and replica_exchange, not both: with "
                             "replica exchange the ladder ReplicaExchange.temperatures sets "
                             "every walker's temperature")
        stream_offset = check_int("stream_offset", stream_offset, lo=0, hi=STREAM_LIMIT - 1)
        if total_steps is not None:
            total_steps = check_int("total_steps", total_steps, lo=1, hi=None)
        t = _check_temperature(1.0 if temperature is None else temperature)
        if isinstance(integrator, MALA) and np.any(t <= 0):
            raise ValueError("temperature must be > 0 for MALA (its acceptance test divides by T)")
        self.landscape = landscape
        self.integrator = integrator
        self.temperature = t
        self.schedule = schedule or Constant()
        self.replica_exchange = replica_exchange
        self.stream_offset = stream_offset
        self.total_steps = None if total_steps is None else int(total_steps)
        self.backend = check_backend(backend)
        if self.backend == "cuda":
            from .cuda.backend import require

            require()
        self._kernels = K.kernels_for(landscape.energy_grad)

    def __reduce__(self) -> tuple:
        """Pickle the configuration; unpickling builds the sampler (and its kernels) anew."""
        rex = self.replica_exchange
        kwargs = {"temperature": None if rex is not None else self.temperature,
                  "schedule": self.schedule, "replica_exchange": rex, "seed": self.seed,
                  "stream_offset": self.stream_offset, "total_steps": self.total_steps,
                  "backend": self.backend}
        return (_rebuild_sampler, (type(self), self.landscape, self.integrator, kwargs))

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
        step = check_int("step", step, lo=0, hi=2**48 - 1)
        d = self.landscape.dim
        x = _as_positions("positions", positions, d)
        m = x.shape[0]
        check_stream_offset(self.stream_offset, m)
        temps = self.temperatures_for(m)
        v = None
        if isinstance(self.integrator, BAOAB):
            if velocities is None:
                phi0 = self.schedule.factors(np.array([step]), self.total_steps or step + 1)[0]
                z = normals(self.seed, (m, d), stream_offset=self.stream_offset, step=step,
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
        progress: bool | Callable[[int, int], object] = False,
    ) -> RunResult:
        """Advance the ensemble by ``n_steps`` steps of compiled code.

        On the CPU the steps run as a few compiled calls of about a quarter of a
        second each (:mod:`langevin_opt.core.chunking`), so that Ctrl-C stops the run
        within a second; the split changes no number (random numbers are keyed by
        step).  On the GPU the steps run as one launch.

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
        progress : bool or callable
            ``True``: a progress bar with ETA on stderr; a callable:
            ``progress(done, n_steps)`` after every compiled chunk; ``False`` (default):
            nothing.

        Returns
        -------
        RunResult
            The new state and the frames recorded in this call.

        Raises
        ------
        TypeError
            ``state`` is not an :class:`EnsembleState`, or an argument or state field
            has the wrong type (e.g. ``state.step`` of 2.5).
        ValueError
            A state array of another shape than the ensemble's (checked exactly for
            every array the kernels write: positions, velocities, energies,
            accepted, permutation, swap counters), or a value out of range.
        langevin_opt.core.DivergenceError
            If a walker becomes non-finite: ``.step`` is the first global step with a
            non-finite value, ``.index`` the first walker then, ``.partial_result`` a
            :class:`RunResult` with the state when the run stopped and the frames
            recorded before ``step``.
        langevin_opt.core.Interrupted
            Ctrl-C (SIGINT) during the run, a :class:`KeyboardInterrupt`: ``.step`` is the
            step reached, ``.partial_result`` a :class:`RunResult` with the state at that
            step and the frames recorded up to it, as an uninterrupted run of that
            many steps would return them.
        """
        progress = check_progress("progress", progress)
        n_steps = check_int("n_steps", n_steps, lo=0, hi=None)
        k = check_int("record_every", record_every, lo=0, hi=None)
        integ = self.integrator
        x, v_in, e_in, acc_in, perm_in, att_in, acc_sw_in = self._check_state(state)
        m, d = x.shape
        step0 = int(state.step)
        if step0 + n_steps >= 2**48:
            raise ValueError(f"steps must stay in [0, 2**48), the run would reach "
                             f"{step0 + n_steps}")
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
            if not (isinstance(frame_buffer, tuple) and len(frame_buffer) == 2
                    and all(isinstance(b, np.ndarray) for b in frame_buffer)):
                raise TypeError("frame_buffer must be a tuple of two numpy arrays")
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
            all_e[0] = e_in
        frames, frame_e = all_frames[n0:], all_e[n0:]

        # fresh (d, M) copies: the kernels write into them, the caller's state stays as it was
        xt = np.array(x.T, order="C")
        vt = np.array(v_in.T, order="C") if isinstance(integ, BAOAB) else np.zeros((d, 1))
        e = np.array(e_in, copy=True)  # the kernels overwrite it (kept if none runs)
        acc = np.array(acc_in, copy=True)
        status = np.full(m, -1, dtype=np.int64)
        dt = float(integ.dt)
        gamma = float(getattr(integ, "friction", 1.0))
        mass = float(getattr(integ, "mass", 1.0))
        seed = np.uint64(self.seed)
        block = int(config.block_size)
        rec = k if n_rec else 0

        def args(s: int, n: int) -> tuple:
            # the drivers' arguments for steps [step0 + s, step0 + s + n): frames are
            # indexed by global step (origin ``first``), so every chunk gets the whole buffer
            return (xt, vt, e, self.landscape.params, temps, phi[s:s + max(n, 1)], dt, gamma,
                    mass, seed, self.stream_offset, step0 + s, n, rec, first, frames, frame_e,
                    acc, status)
        perm = att = acc_sw = None
        replica: tuple = ()
        if rex is not None:
            perm = np.array(perm_in, copy=True)
            att = np.array(att_in, copy=True)
            acc_sw = np.array(acc_sw_in, copy=True)
            replica = (rex.n_temps, rex.swap_every, self.stream_offset // rex.n_temps,
                       perm, att, acc_sw, isinstance(integ, BAOAB))
        with _v.threads(threads):
            if self.backend == "cuda":
                from .cuda.walkers import run_ensemble

                # one launch (a chunked GPU run would copy every frame buffer per chunk):
                # Ctrl-C takes effect when it returns
                loop = ChunkLoop(n_steps, progress=progress, label="sample",
                                 multiple=max(n_steps, 1), compile_stop=False)
                with loop:
                    for _ in loop:
                        run_ensemble(self.landscape.energy_grad, integ.code,
                                     *args(0, n_steps), replica=replica or None)
            else:
                drive = self._kernels.driver(integ.code, replica_exchange=rex is not None)
                scratch = (block, K.make_scratch(m, d, block, integ.code))
                loop = ChunkLoop(
                    n_steps, progress=progress, label="sample",
                    multiple=1 if rex is None else rex.swap_every,
                    key=("walkers", kernel_name(self.landscape.energy_grad), integ.code,
                         rex is not None, m, d, block))
                with loop:
                    for s, c in loop:
                        drive(*args(s, c), *scratch, *replica)
                        if status.max() >= 0:
                            break  # a walker diverged: its block stopped, stop the run
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
        if loop.interrupted:
            end = step0 + loop.done
            keep = steps <= end
            st = EnsembleState(new_x, new_v, e, end, acc, perm, att, acc_sw)
            raise Interrupted(
                f"interrupted at step {end} after {loop.done} of {n_steps} steps (Ctrl-C); "
                ".partial_result holds the state and frames so far", end,
                RunResult(st, Trajectory(steps[keep], frames[keep], frame_e[keep])))
        st = EnsembleState(new_x, new_v, e, step0 + n_steps, acc, perm, att, acc_sw)
        return RunResult(st, Trajectory(steps, frames, frame_e))

    def _check_state(self, state: object) -> tuple:
        """Check every array of a state before a kernel writes into its copies.

        The compiled kernels have no bounds checks: an array of another length or
        dtype would be read or written past its end.  Returns the arrays converted to
        the kernels' dtypes (positions, velocities, energies, accepted, permutation,
        swap attempts, swap accepts; ``None`` where the run does not use one).
        """
        if not isinstance(state, EnsembleState):
            raise TypeError("state must be an EnsembleState (from Sampler.init or a previous "
                            f"run), got {type(state).__name__}")
        d = self.landscape.dim
        x = check_array("state.positions", state.positions, (None, d), np.float64, finite=True)
        m = x.shape[0]
        if m < 1:
            raise ValueError("state.positions must hold at least one walker, got shape "
                             f"{x.shape}")
        check_int("state.step", state.step, lo=0, hi=2**48 - 1)
        check_stream_offset(self.stream_offset, m)
        e = check_array("state.energies", state.energies, (m,), np.float64)
        acc = check_array("state.accepted", state.accepted, (m,), np.int64)
        v = None
        if isinstance(self.integrator, BAOAB):
            v = check_array("state.velocities", state.velocities, (m, d), np.float64,
                            finite=True)
        elif state.velocities is not None:
            raise ValueError(f"state.velocities must be None for {self.integrator.kind} "
                             "(only baoab uses velocities)")
        perm = att = acc_sw = None
        rex = self.replica_exchange
        if rex is not None:
            n_t = rex.n_temps
            self.temperatures_for(m)  # m must be a multiple of the ladder
            perm = check_array("state.permutation", state.permutation, (m // n_t, n_t),
                               np.int64)
            if not np.array_equal(np.sort(perm, axis=1),
                                  np.broadcast_to(np.arange(n_t), perm.shape)):
                raise ValueError(f"state.permutation: every row must be a permutation of "
                                 f"0..{n_t - 1}")
            att = check_array("state.swap_attempts", state.swap_attempts, (n_t - 1,), np.int64)
            acc_sw = check_array("state.swap_accepts", state.swap_accepts, (n_t - 1,),
                                 np.int64)
        return x, v, e, acc, perm, att, acc_sw

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
            "stream_offset": self.stream_offset,
        }
        if self.backend != "cpu":
            cfg["backend"] = self.backend
        if self.replica_exchange is not None:
            cfg["replica_exchange"] = {
                "temperatures": list(self.replica_exchange.temperatures),
                "swap_every": self.replica_exchange.swap_every,
            }
        return cfg


def _rebuild_sampler(cls: type, landscape: Landscape, integrator: Integrator,
                     kwargs: dict) -> Sampler:
    """Unpickle a :class:`Sampler` through its constructor (which validates again)."""
    return cls(landscape, integrator, **kwargs)


def uniform_positions(bounds: np.ndarray, n_walkers: int, *, seed: int | None = None,
                      stream_offset: int = 0) -> np.ndarray:
    """Walkers spread uniformly over a box, from the counter-based generator.

    Parameters
    ----------
    bounds : array_like, shape (d, 2)
        Lower and upper edge per dimension.
    n_walkers : int
        Number of walkers ``M >= 1``.
    seed : int
        Generator key (keyword only, required).
    stream_offset : int
        Global index of walker 0 (walker ``i`` uses stream ``stream_offset + i``).

    Returns
    -------
    numpy.ndarray, shape (M, d)
        Positions in the units of ``bounds``.
    """
    seed = check_seed(seed)
    if isinstance(bounds, (str, bytes, dict)) or bounds is None:
        raise TypeError(f"bounds must be an array of shape (d, 2), got {type(bounds).__name__}")
    b = np.asarray(bounds)
    if b.dtype.kind not in "iuf":
        raise TypeError(f"bounds must hold real numbers, got dtype {b.dtype}")
    b = b.astype(np.float64)
    if b.ndim != 2 or b.shape[1] != 2:
        raise ValueError(f"bounds must have shape (d, 2), got {b.shape}")
    if not np.all(np.isfinite(b)) or np.any(b[:, 1] <= b[:, 0]):
        raise ValueError("bounds must be finite with lower < upper in every dimension")
    n_walkers = check_int("n_walkers", n_walkers, lo=1, hi=None)
    stream_offset = check_stream_offset(stream_offset, n_walkers)
    u = uniforms(seed, (n_walkers, b.shape[0]), stream_offset=stream_offset, purpose=PURPOSE_INIT)
    return b[:, 0] + u * (b[:, 1] - b[:, 0])


def sample(
    landscape: Landscape,
    positions: np.ndarray,
    n_steps: int,
    *,
    method: str = "overdamped",
    dt: float,
    temperature: float | np.ndarray | None = None,
    seed: int | None = None,
    schedule: Schedule | None = None,
    replica_exchange: ReplicaExchange | None = None,
    record_every: int = 0,
    friction: float = 1.0,
    mass: float = 1.0,
    velocities: np.ndarray | None = None,
    stream_offset: int = 0,
    threads: int | None = None,
    backend: str = "cpu",
    progress: bool | Callable[[int, int], object] = False,
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
    temperature : float or array_like (M,), optional
        Temperatures (``k_B = 1``); default 1.  Not with ``replica_exchange``
        (passing both raises :class:`ValueError`).
    seed : int
        Generator key (keyword only, required).
    schedule : Schedule, optional
        Temperature profile over the run.
    replica_exchange : ReplicaExchange, optional
        Parallel tempering; its ladder sets the temperatures.
    record_every : int
        Frame interval (0: none).
    friction, mass : float
        BAOAB only.
    velocities : array_like, optional
        BAOAB only; default Maxwell–Boltzmann.
    stream_offset : int
        Global index of walker 0 (walker ``i`` uses stream ``stream_offset + i``).
    threads : int, optional
        Thread count for the call.
    backend : {"cpu", "cuda"}
        Compute backend (see :class:`Sampler`).
    progress : bool or callable
        ``True``: a progress bar with ETA on stderr; a callable:
        ``progress(done, n_steps)`` after every compiled chunk (see :meth:`Sampler.run`).

    Returns
    -------
    RunResult
        Final state and recorded frames (positions in the landscape's length
        units, energies in its energy units).

    Raises
    ------
    TypeError
        An argument of the wrong type (e.g. ``dt="1e-4"``) or a missing ``seed``.
    ValueError
        A value out of range or of the wrong shape.
    DivergenceError
        A walker became non-finite (see :meth:`Sampler.run`).
    Interrupted
        Ctrl-C during the run (a :class:`KeyboardInterrupt`); ``.partial_result`` is the
        :class:`RunResult` up to the step reached (see :meth:`Sampler.run`).
    """
    progress = check_progress("progress", progress)
    settings: dict[str, object] = {"dt": dt}
    if method == "baoab":
        settings.update(friction=friction, mass=mass)
    integ = make_integrator(method, **settings)
    sampler = Sampler(landscape, integ, temperature=temperature, schedule=schedule,
                      replica_exchange=replica_exchange, seed=seed,
                      stream_offset=stream_offset, total_steps=max(int(n_steps), 1)
                      if isinstance(n_steps, (int, np.integer)) else None, backend=backend)
    state = sampler.init(positions, velocities)
    return sampler.run(state, n_steps, record_every=record_every, threads=threads,
                       progress=progress)
