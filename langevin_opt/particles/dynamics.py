"""Dynamics and minimisation of particle systems: NVE, Langevin, overdamped, FIRE.

Units are reduced (``k_B = 1``): temperatures are energies, masses ``m_i`` in
mass units, the time step ``dt`` and ``1 / friction`` in time units.

Integrators
-----------
:class:`VelocityVerlet` (NVE)
    ``v += (dt/2) F/m; x += dt v; F = F(x); v += (dt/2) F/m``.
:class:`LangevinBAOAB` (NVT; Leimkuhler & Matthews 2013)
    ``B A O A B`` with ``O: v <- c v + sqrt((1 - c^2) T / m_i) xi``,
    ``c = exp(-friction dt)``; per-particle masses; configurational averages
    are exact for harmonic wells at any stable ``dt``.
:class:`LangevinOverdamped` (Brownian dynamics, Euler–Maruyama)
    ``x += F dt / (m_i friction) + sqrt(2 T dt / (m_i friction)) xi``
    (friction coefficient ``zeta_i = m_i friction``).
:class:`FIRE` (Bitzek et al., PRL 97, 170201 (2006); the step lives in :mod:`.fire`)
    Local minimisation (quench): velocity mixing toward the force with an
    adaptive time step, restarted whenever ``F . v < 0``.

Conventions (shared with every engine, :mod:`langevin_opt.core`): ``seed`` is
keyword-only and required wherever random numbers are drawn; replica ``k`` of a
batch is replica ``stream_offset + k`` of the ensemble (or ``stream_ids[k]``);
divergence raises :class:`~langevin_opt.core.DivergenceError` with the step, the
replica and a partial result; Ctrl-C during :meth:`Dynamics.run` or :func:`run_replicas`
stops at the end of a compiled chunk of about a quarter of a second and raises
:class:`~langevin_opt.core.Interrupted` (a :class:`KeyboardInterrupt`) with the partial
result the same way; :attr:`Dynamics.state` and :class:`ReplicaState` share their field
names.

Temperatures can follow a schedule (:mod:`langevin_opt.schedules`): the
temperature at step ``s`` of a run of ``total`` steps is
``T_s = T * schedule.factors(s, total)``, which gives simulated annealing.

Two drivers share the same update math (module-level ``njit`` functions):

* :class:`Dynamics` moves one system (a periodic liquid with a
  :class:`~langevin_opt.particles.neighbors.NeighborList`, or a cluster with
  all pairs).  Updates are parallel over atoms; forces come from the
  deterministic threaded kernels of :mod:`~langevin_opt.particles.forces`.
  When the energy is at most one pair potential (neighbour list or all pairs)
  and one bond potential, :meth:`Dynamics.run` runs each stretch between
  records, frames and progress checks in one compiled call (``md_steps`` of
  :mod:`~langevin_opt.particles.forces`: list checks, forces, integrator,
  thermostat and divergence checks) for every integrator, returning to Python
  only to rebuild the neighbour list; other sets of terms (many-body potentials,
  two pair or two bond terms) take one Python iteration per step.  Both paths give
  bit-identical trajectories.  Systems below
  :data:`~langevin_opt.particles.neighbors.PARALLEL_MIN_ATOMS` (2,048) atoms run
  every kernel on one thread whatever ``numba.set_num_threads`` says (forking
  threads costs more than it saves there); results never depend on the thread count.
* :func:`run_replicas` moves ``R`` independent replicas of a small system
  (clusters, dimers) in one compiled loop (replicas over threads, each replica
  runs all steps of the call), with per-replica temperatures, an optional
  spherical container, and replica exchange (:func:`replica_exchange`).
  :func:`fire_replicas` quenches ``R`` replicas at once.

Random numbers
--------------
The noise on component ``k`` of atom ``i`` at step ``s`` is the counter-based
normal ``normal2(seed, stream = replica * N + i, s, draw = k // 2, NOISE)``
(:mod:`langevin_opt.rng`): trajectories are bit-identical for any number of
threads, any chunking of the run into calls, and any batch of replicas (a
replica keeps its id).  Replica swaps use ``uniform2(seed, pair, exchange,
0, SWAP)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numba
import numpy as np
from numba import prange

from ..core.chunking import ChunkLoop, kernel_name
from ..core.codes import BAOAB, OVERDAMPED, VELOCITY_VERLET
from ..core.errors import BackendUnavailableError, DivergenceError, Interrupted
from ..core.jitcache import twin
from ..core.validation import (
    check_choice,
    check_int,
    check_nonnegative,
    check_per_item,
    check_positive,
    check_progress,
    check_seed,
    check_stream_offset,
)
from ..cuda.backend import check_backend
from ..rng import PURPOSE_SWAP, uniform2
from ..schedules import Constant, Schedule
from ..storage.recording import Recorder
from ._update import all_finite as _all_finite
from ._update import container_wall as _container_wall
from ._update import first_half_atom as _first_half_atom
from ._update import friction_factor
from ._update import kick_atom as _kick_atom
from ._update import kinetic as _kinetic
from ._update import mb_fill as _mb_fill
from .fire import FIRE, MinimizeResult, fire_loop, fire_settings
from .forces import (
    ForceScratch,
    _as_terms,
    _check_bond,
    _check_pair,
    bond_kernels,
    degrees_of_freedom,
    make_scratch,
    pair_kernels,
)
from .kernels import md_kernel
from .neighbors import PARALLEL_MIN_ATOMS, NeighborArrays, NeighborList
from .potentials import BondPotential, LennardJones, PairPotential, harmonic_pair
from .system import ParticleSystem, check_box

__all__ = [
    "VelocityVerlet",
    "LangevinBAOAB",
    "LangevinOverdamped",
    "FIRE",
    "PARTICLE_INTEGRATORS",
    "make_particle_integrator",
    "maxwell_boltzmann",
    "Dynamics",
    "ParticleState",
    "PartialRun",
    "MDRecord",
    "MinimizeResult",
    "fire_minimize",
    "open_trajectory",
    "ReplicaState",
    "ExchangeStats",
    "Container",
    "run_replicas",
    "replica_exchange",
    "fire_replicas",
]

_JIT = {"nogil": True, "error_model": "numpy", "cache": True}

#: Observables written frame-aligned (one row per frame) by :func:`open_trajectory` files.
FRAME_OBSERVABLES = ("potential_energy", "kinetic_energy", "total_energy", "temperature",
                     "pressure", "dt")

# integer codes used by the compiled loops (one numbering for every engine)
_VV, _BAOAB, _OVERDAMPED = VELOCITY_VERLET, BAOAB, OVERDAMPED


# ---------------------------------------------------------------------------
# Integrator configurations
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class VelocityVerlet:
    """Velocity Verlet (NVE, symplectic, time reversible).

    Parameters
    ----------
    dt : float
        Time step (time units).
    """

    dt: float
    name = "velocity_verlet"
    code = _VV

    def __post_init__(self) -> None:
        object.__setattr__(self, "dt", check_positive("dt", self.dt))

    @property
    def friction(self) -> float:
        """Friction rate (0: no thermostat)."""
        return 0.0


@dataclass(frozen=True)
class LangevinBAOAB:
    """BAOAB Langevin integrator (NVT) with per-particle masses.

    Parameters
    ----------
    dt : float
        Time step (time units).
    friction : float
        Friction rate ``gamma`` (1 / time units, ``>= 0``); ``exp(-gamma dt)`` is the
        velocity memory per step.  ``friction = 0`` is plain NVE: the O step is
        the identity (``c = 1``, the noise is multiplied by ``sqrt(1 - c^2) = 0``),
        and the scheme reduces to velocity Verlet.
    """

    dt: float
    friction: float = 1.0
    name = "baoab"
    code = _BAOAB

    def __post_init__(self) -> None:
        object.__setattr__(self, "dt", check_positive("dt", self.dt))
        object.__setattr__(self, "friction", check_nonnegative("friction", self.friction))


@dataclass(frozen=True)
class LangevinOverdamped:
    """Overdamped (Brownian) Langevin dynamics, Euler–Maruyama.

    ``dx = F / (m gamma) dt + sqrt(2 T / (m gamma)) dW``: the friction
    coefficient of atom ``i`` is ``m_i gamma``; velocities are not used.

    Parameters
    ----------
    dt : float
        Time step (time units).
    friction : float
        Friction rate ``gamma`` (1 / time units).
    """

    dt: float
    friction: float = 1.0
    name = "overdamped"
    code = _OVERDAMPED

    def __post_init__(self) -> None:
        object.__setattr__(self, "dt", check_positive("dt", self.dt))
        object.__setattr__(self, "friction", check_positive("friction", self.friction))


#: Particle integrators by name.
PARTICLE_INTEGRATORS = {"velocity_verlet": VelocityVerlet, "baoab": LangevinBAOAB,
                        "overdamped": LangevinOverdamped}


def make_particle_integrator(name: str, **settings):
    """Build a particle integrator by name.

    Parameters
    ----------
    name : {"velocity_verlet", "baoab", "overdamped"}
        Integrator.
    **settings
        Its parameters (``dt``, ``friction``).

    Returns
    -------
    VelocityVerlet or LangevinBAOAB or LangevinOverdamped

    Raises
    ------
    TypeError
        ``name`` is not a string, or a parameter has the wrong type.
    ValueError
        Unknown name (with a suggestion and the allowed ones) or bad parameters.
    """
    name = check_choice("integrator", name, sorted(PARTICLE_INTEGRATORS))
    return PARTICLE_INTEGRATORS[name](**settings)


# ---------------------------------------------------------------------------
# Update math: one source for both drivers and the CUDA ones (``._update``)
# ---------------------------------------------------------------------------
def _first_half_py(code, x, v, f, minv, dt, c1, T, seed, stream0, step):
    for i in prange(x.shape[0]):
        _first_half_atom(code, i, x, v, f, minv, dt, c1, T, seed, stream0 + i, step)


def _kick_py(v, f, minv, h):
    for i in prange(v.shape[0]):
        _kick_atom(i, v, f, minv, h)


# threaded versions for large systems, serial ones below PARALLEL_MIN_ATOMS (where
# fork/join costs more than the work); every atom's update is independent, so both
# give bit-identical results.  The serial ones compile twins of the sources: Numba's
# disk cache files a function by name and line, not by its options, so the two
# variants of one function would load each other's machine code
_first_half = numba.njit(parallel=True, **_JIT)(_first_half_py)
_kick = numba.njit(parallel=True, **_JIT)(_kick_py)
_first_half_serial = numba.njit(**_JIT)(twin(_first_half_py, "_first_half_serial_py"))
_kick_serial = numba.njit(**_JIT)(twin(_kick_py, "_kick_serial_py"))


def _c1(integrator, dt: float) -> float:
    return friction_factor(integrator.code, integrator.friction, dt)


# ---------------------------------------------------------------------------
# Velocities
# ---------------------------------------------------------------------------
def maxwell_boltzmann(masses, dim: int, temperature: float, *, seed: int | None = None,
                      stream_offset: int = 0, step: int = 0,
                      zero_momentum: bool = True) -> np.ndarray:
    """Velocities drawn from the Maxwell–Boltzmann distribution at ``temperature``.

    Component ``k`` of atom ``i`` is ``sqrt(T / m_i)`` times a counter-based
    normal keyed by ``(seed, stream_offset + i, step)`` (purpose ``INIT``).

    Parameters
    ----------
    masses : array_like, shape (N,)
        Atomic masses.
    dim : int
        Spatial dimension (2 or 3).
    temperature : float
        Temperature (energy units, ``k_B = 1``), ``>= 0``.
    seed : int
        Generator key (required, keyword-only).
    stream_offset : int
        Stream of atom 0: atom ``i`` uses stream ``stream_offset + i`` (replica ``r``
        of ``N`` atoms uses ``stream_offset = r * N``).
    step : int
        Counter of the draw (e.g. the step at which velocities are redrawn).
    zero_momentum : bool
        Remove the centre-of-mass velocity (the temperature is not rescaled).

    Returns
    -------
    numpy.ndarray, shape (N, dim)
        Velocities (length / time units).

    Raises
    ------
    TypeError
        No seed, or an argument of the wrong type.
    ValueError
        An argument out of range (masses not positive, ``dim`` not 2 or 3, ...).
    """
    seed = check_seed(seed)
    m = np.ascontiguousarray(masses, dtype=np.float64)
    if m.ndim != 1 or not np.all(np.isfinite(m) & (m > 0)):
        raise ValueError(f"masses must be a 1-D array of positive finite numbers, got shape "
                         f"{m.shape}")
    check_int("dim", dim, lo=2, hi=3)
    t = check_nonnegative("temperature", temperature)
    step = check_int("step", step, lo=0, hi=2**48 - 1)
    stream_offset = check_stream_offset(stream_offset, m.shape[0])
    v = np.zeros((m.shape[0], dim))
    _mb_fill(v, 1.0 / m, t, np.uint64(seed), stream_offset, step)
    if zero_momentum and m.shape[0] > 1:
        v -= (m[:, None] * v).sum(axis=0) / m.sum()
    return v


# ---------------------------------------------------------------------------
# Single-system driver
# ---------------------------------------------------------------------------
class MDRecord(NamedTuple):
    """Observables of a run, one row per recorded step.

    Attributes
    ----------
    step : numpy.ndarray of int64
    time : numpy.ndarray
        ``step * dt`` (time units).
    potential_energy, kinetic_energy, total_energy : numpy.ndarray
        Energies (energy units; ``potential_energy`` includes tail corrections
        when enabled).
    temperature : numpy.ndarray
        Kinetic temperature ``2 K / N_f``.
    pressure : numpy.ndarray
        ``(2 K + W) / (d V) + P_tail`` (periodic systems; NaN for open ones).
    target_temperature : numpy.ndarray
        Thermostat temperature at that step (schedules).
    """

    step: np.ndarray
    time: np.ndarray
    potential_energy: np.ndarray
    kinetic_energy: np.ndarray
    total_energy: np.ndarray
    temperature: np.ndarray
    pressure: np.ndarray
    target_temperature: np.ndarray


class ParticleState(NamedTuple):
    """State of one particle system (a snapshot: arrays are copies).

    The same field names as :class:`ReplicaState` (which has one more leading axis).

    Attributes
    ----------
    positions, velocities, forces : numpy.ndarray, shape (N, d)
        Unwrapped positions (length), velocities (length / time) and forces
        (energy / length).
    energy, virial : float
        Potential energy (energy units, without tail corrections) and virial.
    step : int
        Global step of the state.
    """

    positions: np.ndarray
    velocities: np.ndarray
    forces: np.ndarray
    energy: float
    virial: float
    step: int


class PartialRun(NamedTuple):
    """What a diverged :meth:`Dynamics.run` leaves (``DivergenceError.partial_result``).

    Attributes
    ----------
    record : MDRecord
        Every row recorded before the step that diverged.
    state : ParticleState
        The state when the run stopped (at the diverged step: non-finite or exploded).
    """

    record: MDRecord
    state: ParticleState


def _md_record(recorder: Recorder) -> MDRecord:
    kept = recorder.kept()
    if not kept:
        return MDRecord(np.zeros(0, np.int64), *(np.zeros(0) for _ in range(7)))
    return MDRecord(*(kept[f] for f in MDRecord._fields))


#: A step whose total-energy change exceeds this many times the energy scale before it
#: (``|U| + K + N_f T / 2``) is an explosion, not dynamics (see :meth:`Dynamics.run`).
ENERGY_JUMP = 10.0


class _ForceField:
    """Forces of one system: pair terms over a neighbor list or all pairs, bonds.

    Many-body terms are prepared for this system (each with its own neighbour list).
    """

    def __init__(self, terms: list, species: np.ndarray, box: np.ndarray | None, dim: int,
                 neighbors: NeighborList | None) -> None:
        self.terms = terms
        self.species = species
        self.box = box
        self.bx = np.zeros(dim) if box is None else box
        self.periodic = box is not None
        self.neighbors = neighbors
        n_species = int(species.max()) + 1
        n = species.shape[0]
        self.calls = []
        for p in terms:
            if not p.compiled:  # many-body: a prepared copy for this system
                self.calls.append(("body", p.prepare(species, box, dim), None))
            elif isinstance(p, PairPotential):
                _check_pair(p, n_species, box)
                if neighbors is not None and neighbors.cutoff < p.cutoff:
                    raise ValueError(f"neighbors.cutoff ({neighbors.cutoff}) must be >= the "
                                     f"cutoff of {p.name} ({p.cutoff})")
                if neighbors is None and self.periodic and not math.isfinite(p.cutoff):
                    raise ValueError(f"cutoff of {p.name} must be finite in a periodic system")
                self.calls.append(("pair", p, pair_kernels(p, dim)))
            else:
                _check_bond(p, n)
                self.calls.append(("bond", p, bond_kernels(p, dim)))
        self.n_builds = 0

    def __call__(self, x: np.ndarray, F: np.ndarray) -> tuple[float, float]:
        F[:] = 0.0
        e_tot = 0.0
        w_tot = 0.0
        nl = self.neighbors
        for kind, p, kern in self.calls:
            if kind == "body":
                e, f, w = p.energy_forces(x, self.box, self.species)
                F += f
            elif kind == "bond":
                e, w = kern.bonds(x, p.bonds, p.table, self.bx, self.periodic, F)
            elif nl is None:
                e, w = kern.all_pairs(x, self.species, p.table, p.n_species, self.bx,
                                      self.periodic, F)
            else:
                if nl.arrays is None or nl.n_atoms != x.shape[0]:
                    nl.build(x, self.box, self.species)
                fn = kern.neighbor if nl.parallel else kern.neighbor_serial
                half2 = 0.25 * nl.skin**2
                for _ in range(3):
                    ok, e, w, _ = fn(x, nl.arrays, half2, p.table, p.n_species,
                                     make_scratch(nl), F, True)
                    if ok:
                        break
                    nl.build(x, self.box, self.species)
                else:  # pragma: no cover - rounding at the skin boundary twice in a row
                    raise RuntimeError("neighbor list could not be made valid")
            e_tot += e
            w_tot += w
        return float(e_tot), float(w_tot)


_NO_LIST: dict[int, tuple] = {}
_NO_BONDS = np.zeros((0, 2), dtype=np.int64)


def _no_list(dim: int) -> tuple:
    """Empty neighbour arrays and scratch: the typed placeholders of an all-pairs run."""
    if dim not in _NO_LIST:
        i1 = np.zeros(1, dtype=np.int64)
        i2 = np.zeros((1, 2), dtype=np.int64)
        f2 = np.zeros((1, dim))
        arrays = NeighborArrays(i1, i1, f2, i1, i1, i1, np.zeros(1, dtype=np.int32), i1, i1,
                                i1, i2, i1, np.zeros(dim), False)
        scratch = ForceScratch(f2, f2, np.zeros(1), np.zeros(1), np.zeros(1),
                               np.zeros((1, 1), dtype=np.int64), np.ones(1, dtype=np.int64))
        _NO_LIST[dim] = (arrays, scratch)
    return _NO_LIST[dim]


def _run_seed(seed, integrator, draws_velocities: bool) -> int:
    """``check_seed`` where the run draws random numbers; deterministic runs may omit it."""
    if seed is None and isinstance(integrator, VelocityVerlet) and not draws_velocities:
        return 0  # NVE from given (or zero) velocities: no random number is drawn
    return check_seed(seed)


class Dynamics:
    """Molecular or Langevin dynamics of one particle system.

    Parameters
    ----------
    system : ParticleSystem
        Initial configuration (positions, species, masses, box).
    potentials : Potential or sequence of them
        Terms of the potential energy: pair, bond or many-body potentials (any
        object :func:`~langevin_opt.particles.as_potential` accepts, such as a
        neural network potential; many-body terms keep their own neighbour lists).
    integrator : VelocityVerlet, LangevinBAOAB or LangevinOverdamped
        The update rule and its time step.
    temperature : float, optional
        Thermostat temperature ``T`` (energy units); ignored by velocity Verlet
        except to draw initial velocities.
    velocities : array_like, shape (N, d), optional
        Initial velocities; default Maxwell–Boltzmann at ``temperature`` with
        zero total momentum (zero if ``temperature = 0``).
    schedule : Schedule, optional
        Temperature factors over the run (simulated annealing); needs
        ``total_steps``.
    total_steps : int, optional
        Length of the whole run for the schedule (default: the first
        ``run``'s ``n_steps``).
    neighbors : NeighborList, optional
        Neighbor list for the pair terms (periodic liquids); without one, pair
        terms are summed over all pairs (clusters, small boxes).
    seed : int
        Key of the counter-based generator (keyword-only); required when the run
        draws random numbers: a Langevin integrator, or velocities drawn at
        ``temperature > 0``.  Atom ``i`` uses stream ``i``.
    tail_corrections : bool
        Add the Lennard-Jones long-range corrections to the reported potential
        energy and pressure (periodic systems with truncated LJ terms).
    remove_com : bool
        Count ``d`` fewer degrees of freedom in the kinetic temperature (NVE
        with zero total momentum).  Default: ``True`` for velocity Verlet.
    backend : {"cpu", "cuda"}
        ``"cuda"``: :meth:`run` steps on an NVIDIA GPU
        (:class:`langevin_opt.cuda.particles.SystemDriver`; one pair potential,
        same random numbers, forces equal to rounding); raises a one-line
        :class:`langevin_opt.cuda.BackendUnavailableError` without a GPU.

    Attributes
    ----------
    x, v, forces : numpy.ndarray, shape (N, d)
        Current (unwrapped) positions, velocities and forces, updated in place
        (:attr:`state` gives a copy).
    step : int
        Steps done so far.
    energy, virial : float
        Potential energy (without tail corrections) and virial at ``x``.

    Raises
    ------
    TypeError, ValueError
        A wrong type or a missing ``seed`` (TypeError); a wrong value or shape (ValueError).

    Notes
    -----
    :class:`Dynamics` is the stepping object (like the walkers' ``Sampler``);
    :attr:`state` returns an immutable :class:`ParticleState`.  Positions are
    integrated unwrapped; :attr:`system` returns them wrapped into the box with
    image counts.
    """

    def __init__(self, system: ParticleSystem, potentials, integrator, *,
                 temperature: float = 1.0, velocities=None, schedule: Schedule | None = None,
                 total_steps: int | None = None, neighbors: NeighborList | None = None,
                 seed: int | None = None, tail_corrections: bool = False,
                 remove_com: bool | None = None, backend: str = "cpu") -> None:
        if not isinstance(system, ParticleSystem):
            raise TypeError(f"system must be a ParticleSystem, got {type(system).__name__}")
        if not isinstance(integrator, (VelocityVerlet, LangevinBAOAB, LangevinOverdamped)):
            raise TypeError("integrator must be VelocityVerlet, LangevinBAOAB or "
                            f"LangevinOverdamped, got {type(integrator).__name__}")
        self.integrator = integrator
        self.temperature = check_nonnegative("temperature", temperature)
        self.schedule = Constant() if schedule is None else schedule
        if not isinstance(self.schedule, Schedule):
            raise TypeError(f"schedule must be a Schedule, got {type(schedule).__name__}")
        self.total_steps = None if total_steps is None else check_int("total_steps",
                                                                      total_steps, lo=1)
        self.seed = _run_seed(seed, integrator, velocities is None and self.temperature > 0)
        self.species = system.species
        self.masses = system.masses
        self.minv = 1.0 / system.masses
        self.box = system.box
        self.x = system.unwrapped_positions.copy()
        n, d = self.x.shape
        if velocities is None:
            self.v = maxwell_boltzmann(self.masses, d, self.temperature, seed=self.seed)
        else:
            v = np.array(velocities, dtype=np.float64)
            if v.shape != (n, d) or not np.all(np.isfinite(v)):
                raise ValueError(f"velocities must be finite with shape ({n}, {d}), "
                                 f"got {v.shape}")
            self.v = v
        self.neighbors = neighbors
        self.terms = _as_terms(potentials)
        self._ff = _ForceField(self.terms, self.species, self.box, d, neighbors)
        self.tail_energy = 0.0
        self.tail_pressure = 0.0
        if tail_corrections:
            if self.box is None:
                raise ValueError("tail_corrections need a periodic box")
            for p in self.terms:
                if isinstance(p, LennardJones):
                    e, pt = p.tail(system)
                    self.tail_energy += e
                    self.tail_pressure += pt
        rc = integrator.code == _VV if remove_com is None else bool(remove_com)
        self.dof = degrees_of_freedom(n, d, remove_com=rc)
        self.forces = np.zeros((n, d))
        self.energy, self.virial = self._ff(self.x, self.forces)
        self.step = 0
        self._compiled_loop = True
        self._plan = None
        self._device = None
        if check_backend(backend) == "cuda":
            self._device = self._gpu_driver()
            self._load_device()

    # -- properties -----------------------------------------------------------
    @property
    def n_atoms(self) -> int:
        """Number of atoms."""
        return self.x.shape[0]

    @property
    def dim(self) -> int:
        """Spatial dimension."""
        return self.x.shape[1]

    @property
    def system(self) -> ParticleSystem:
        """Current configuration (wrapped into the box, with image counts)."""
        if self.box is None:
            return ParticleSystem(self.x.copy(), species=self.species, masses=self.masses)
        im = np.floor(self.x / self.box).astype(np.int64)
        return ParticleSystem(self.x - im * self.box, species=self.species, masses=self.masses,
                              box=self.box, images=im)

    @property
    def state(self) -> ParticleState:
        """The current state as an immutable :class:`ParticleState` (copies)."""
        return ParticleState(self.x.copy(), self.v.copy(), self.forces.copy(),
                             float(self.energy), float(self.virial), int(self.step))

    def kinetic_energy(self) -> float:
        """Kinetic energy ``sum m v^2 / 2`` (energy units)."""
        return float(_kinetic(self.v, self.masses))

    def observables(self) -> dict:
        """Potential, kinetic and total energy, kinetic temperature and pressure now.

        Returns
        -------
        dict
            Keys ``potential_energy`` (with tail corrections if enabled),
            ``kinetic_energy``, ``total_energy``, ``temperature``, ``pressure``
            (NaN for open systems).
        """
        k = self.kinetic_energy()
        u = self.energy + self.tail_energy
        if self.box is None:
            p = math.nan
        else:
            vol = float(np.prod(self.box))
            p = (2.0 * k + self.virial) / (self.dim * vol) + self.tail_pressure
        return {"potential_energy": u, "kinetic_energy": k, "total_energy": u + k,
                "temperature": 2.0 * k / self.dof, "pressure": p}

    # -- running --------------------------------------------------------------
    def run(self, n_steps: int, *, record_every: int = 0, writer=None,
            frame_every: int = 0,
            progress: bool | Callable[[int, int], object] = False) -> MDRecord:
        """Advance ``n_steps`` steps.

        Parameters
        ----------
        n_steps : int
            Steps to take (``>= 0``).
        record_every : int
            Record the observables every this many steps (0: only at the end).
        writer : H5MDWriter, optional
            Trajectory file (see :func:`open_trajectory`); observables are
            appended at every record, frames every ``frame_every`` steps.
        frame_every : int
            Steps between frames in ``writer`` (0: no frames).
        progress : bool or callable
            ``True``: a progress bar with ETA on stderr; a callable:
            ``progress(done, n_steps)`` after every chunk of about a quarter of a
            second; ``False`` (default): nothing.

        Returns
        -------
        MDRecord
            The recorded observables.

        Raises
        ------
        DivergenceError
            At the first step after which the energy, a force, a position or a
            velocity is not finite, or the total energy jumped by more than
            :data:`ENERGY_JUMP` times the energy scale before the step
            (``|U| + K + N_f T / 2``; a stable step of any of the integrators
            changes it by a small fraction of that: an explosion where atoms are
            flung apart stays finite).  ``step`` is that step, ``index`` 0 and
            ``partial_result`` a :class:`PartialRun` (the rows recorded before and
            the state at the step); the object is left at that state.
        Interrupted
            Ctrl-C (SIGINT), a :class:`KeyboardInterrupt`: the run stops at the end of
            the chunk of steps it is in (Ctrl-C while a function compiles waits for
            it).  ``step`` is the step reached and ``partial_result`` a
            :class:`PartialRun` (the rows recorded so far and the state); the object is
            left at that state, so ``run`` can continue from it.
        """
        progress = check_progress("progress", progress)
        n_steps = check_int("n_steps", n_steps, lo=0)
        record_every = check_int("record_every", record_every, lo=0)
        frame_every = check_int("frame_every", frame_every, lo=0)
        if self.total_steps is None:
            self.total_steps = self.step + n_steps
        integ = self.integrator
        dt = integ.dt
        c1 = _c1(integ, dt)
        code = integ.code
        fac = self.schedule.factors(np.arange(self.step, self.step + n_steps),
                                    self.total_steps) if n_steps else np.zeros(0)
        # the one recording path: rows kept for the MDRecord, written to the file if any
        # (the schedule's set-point is kept, not written)
        recorder = Recorder(writer, dt=dt, keep=True, file_exclude=("target_temperature",))
        rec = record_every if record_every else max(n_steps, 1)
        if self._device is not None:
            self._load_device()  # the host state may have changed (minimize, user edits)
        # chunks of about a quarter of a second, for Ctrl-C and progress; the steps run
        # one by one (compiled update math per step), so the split changes no number.
        # compile_stop=False: a step changes the state before its later functions
        # compile on first use, so Ctrl-C waits for the compilation
        loop = ChunkLoop(n_steps, progress=progress, label="dynamics", compile_stop=False,
                         key=("dynamics", integ.code, self.n_atoms, self.dim,
                              self._device is None, self.neighbors is None,
                              tuple(kernel_name(getattr(p, "pair", p)) if p.compiled
                                    else p.name for p in self.terms)))
        with loop:
            for s, c in loop:
                end = s + c
                while s < end:
                    # one stretch up to the next record or frame (or the chunk's end), on
                    # either backend
                    stop = s + 1
                    while stop < end and not (stop % rec == 0 or (
                            frame_every and (self.step + stop - s) % frame_every == 0)):
                        stop += 1
                    temps = self.temperature * fac[s:stop]
                    if self._device is None:
                        failure = self._advance_cpu(code, dt, c1, temps)
                    else:
                        failure = self._advance_device(code, dt, c1, temps)
                    if failure is not None:
                        raise DivergenceError(failure, self.step, 0,
                                              PartialRun(_md_record(recorder), self.state))
                    s = stop
                    if s % rec == 0:
                        o = self.observables()
                        recorder.observables([self.step], target_temperature=[temps[-1]],
                                             **{k: [v] for k, v in o.items()})
                    if frame_every and self.step % frame_every == 0:
                        self._frame(recorder, frame_every * dt)
        if loop.interrupted:
            raise Interrupted(
                f"interrupted at step {self.step} after {loop.done} of {n_steps} steps "
                "(Ctrl-C); .partial_result holds the rows recorded so far and the state, "
                "where the object stands", self.step,
                PartialRun(_md_record(recorder), self.state))
        return _md_record(recorder)

    def _advance_cpu(self, code: int, dt: float, c1: float, temps: np.ndarray) -> str | None:
        """Take ``len(temps)`` steps with the compiled CPU update math.

        Returns ``None``, or the message of the first step that diverged (the state is
        left there): a non-finite value, or a total-energy jump above ``ENERGY_JUMP``
        times the energy scale before the step.  The checks are O(N) each, next to the
        O(N * neighbours) force evaluation, and change no arithmetic of the step.

        Systems whose energy is at most one pair term (over the neighbour list or all
        pairs) and one bond term run the whole stretch in one compiled call
        (:meth:`_advance_compiled`), which returns to Python only to rebuild the
        neighbour list; any other set of terms (many-body potentials, two pair or bond
        terms) steps here, one Python iteration per step.  Both give bit-identical
        trajectories.
        """
        plan = self._compiled_plan()
        if plan is not None:
            return self._advance_compiled(plan, code, dt, c1, temps)
        seed = np.uint64(self.seed)
        par = self.n_atoms >= PARALLEL_MIN_ATOMS
        first = _first_half if par else _first_half_serial
        kick = _kick if par else _kick_serial
        half_dof = 0.5 * self.dof
        k_old = _kinetic(self.v, self.masses)
        u_old = self.energy
        for T in temps:
            first(code, self.x, self.v, self.forces, self.minv, dt, c1, T, seed, 0, self.step)
            self.energy, self.virial = self._ff(self.x, self.forces)
            if code != _OVERDAMPED:
                kick(self.v, self.forces, self.minv, 0.5 * dt)
            self.step += 1
            k_new = _kinetic(self.v, self.masses)
            if not (math.isfinite(self.energy + k_new) and _all_finite(self.forces)
                    and _all_finite(self.x) and (code == _OVERDAMPED or _all_finite(self.v))):
                return (f"non-finite energy, force, position or velocity at step "
                        f"{self.step}; reduce dt={dt}")
            jump = abs(self.energy + k_new - u_old - k_old)
            if jump > ENERGY_JUMP * (abs(u_old) + k_old + half_dof * T):
                return (f"the total energy jumped by {jump:.3g} at step {self.step} (from "
                        f"{u_old + k_old:.6g}): the integration exploded; reduce dt={dt}")
            u_old = self.energy
            k_old = k_new
        return None

    def _compiled_plan(self) -> tuple | None:
        """How the compiled stretch loop runs these terms, or None (the per-step path).

        Covered: at most one pair potential (over the neighbour list or all pairs) and
        at most one bond potential, in either order, with any integrator.  Not covered
        (per-step path): many-body potentials, two or more pair or bond terms.
        ``_compiled_loop = False`` (a private switch, for tests) forces the per-step
        path.  Returns ``(kernel, pair term, bond term, bonds first)``.
        """
        if not self._compiled_loop:
            return None
        kinds = [kind for kind, _, _ in self._ff.calls]
        if not kinds or "body" in kinds or kinds.count("pair") > 1 or kinds.count("bond") > 1:
            return None
        pair = next((p for kind, p, _ in self._ff.calls if kind == "pair"), None)
        bond = next((p for kind, p, _ in self._ff.calls if kind == "bond"), None)
        if self._plan is None or self._plan[1:3] != (pair, bond):
            self._plan = (md_kernel(pair, bond, self.dim), pair, bond, kinds[0] == "bond")
        return self._plan

    def _advance_compiled(self, plan: tuple, code: int, dt: float, c1: float,
                          temps: np.ndarray) -> str | None:
        """:meth:`_advance_cpu` in one compiled call per stretch (``md_steps``).

        The kernel runs the per-step path's calls in the same order (first half, forces,
        closing kick, the divergence checks), so every number is the same; it returns
        early when the neighbour list is stale, and the step goes on after the rebuild.
        """
        kern, pair, bond, bonds_first = plan
        ff = self._ff
        n = self.n_atoms
        nl = ff.neighbors if pair is not None else None  # the list the per-step path uses
        use_list = nl is not None
        # typed stand-ins for an absent term (never read)
        ptab, n_sp = (pair.table, pair.n_species) if pair is not None else (bond.table, 1)
        bl, btab = (bond.bonds, bond.table) if bond is not None else (_NO_BONDS, ptab[:0])
        temps = np.ascontiguousarray(temps, dtype=np.float64)
        seed = np.uint64(self.seed)
        par = n >= PARALLEL_MIN_ATOMS
        step0 = self.step
        k_old = _kinetic(self.v, self.masses)
        u_old = self.energy
        e, w = self.energy, self.virial
        start, skip, stale = 0, False, 0
        while True:
            if use_list:
                if nl.arrays is None or nl.n_atoms != n:
                    nl.build(self.x, self.box, self.species)
                arrays, scratch, half2 = nl.arrays, make_scratch(nl), 0.25 * nl.skin**2
            else:
                arrays, scratch, half2 = *_no_list(self.dim), 0.0
            status, j, e, w, u_old, k_old, jump = kern(
                code, self.x, self.v, self.forces, self.minv, self.masses, dt, c1, temps,
                seed, step0, start, skip, pair is not None, use_list, arrays, half2,
                self.species, ptab, n_sp, ff.bx, ff.periodic, scratch, par,
                bond is not None, bonds_first, bl, btab, e, w, u_old, k_old,
                0.5 * self.dof, ENERGY_JUMP)
            self.step = step0 + int(j)
            self.energy, self.virial = float(e), float(w)
            if status == 0:
                return None
            if status == 2:
                return (f"non-finite energy, force, position or velocity at step "
                        f"{self.step}; reduce dt={dt}")
            if status == 3:
                return (f"the total energy jumped by {jump:.3g} at step {self.step} (from "
                        f"{u_old + k_old:.6g}): the integration exploded; reduce dt={dt}")
            # status 1: stale list at step j (its first half done): rebuild, go on
            stale = stale + 1 if (skip and j == start) else 1
            if stale >= 3:  # pragma: no cover - rounding at the skin boundary
                raise RuntimeError("neighbor list could not be made valid")
            nl.build(self.x, self.box, self.species)
            start, skip = int(j), True

    def _gpu_driver(self):
        """The CUDA array driver for this system (one pair potential, no bonds)."""
        from ..cuda.backend import require

        if any(not p.compiled for p in self.terms):
            raise BackendUnavailableError(
                "backend='cuda' runs pair potentials only; many-body potentials "
                f"({', '.join(p.name for p in self.terms if not p.compiled)}) run on "
                "backend='cpu'")
        require()
        pairs = [p for p in self.terms if isinstance(p, PairPotential)]
        if len(pairs) != 1 or len(self.terms) != 1:
            raise ValueError("backend='cuda' runs exactly one pair potential (no bonds) for "
                             "now; use backend='cpu'")
        from ..cuda.particles import SystemDriver

        p, nl = pairs[0], self.neighbors
        return SystemDriver(p.pair, p.table, p.n_species, self.species, self.masses, self.box,
                            None if nl is None else (nl.cutoff, nl.skin), self.dim)

    def _load_device(self) -> None:
        """Upload the host state to the GPU driver and take its forces, energy and virial."""
        self._device.load(self.x, self.v, self.step)
        self._read_device()

    def _read_device(self) -> None:
        x, v, f, self.energy, self.virial = self._device.read()
        self.x[...] = x
        self.v[...] = v
        self.forces[...] = f

    def _advance_device(self, code: int, dt: float, c1: float,
                        temps: np.ndarray) -> str | None:
        """Take ``len(temps)`` steps with the GPU driver, then copy the state back.

        Returns ``None`` or the divergence message (as :meth:`_advance_cpu`; the GPU
        driver reports non-finite values, not energy jumps).
        """
        bad = self._device.advance(code, dt, c1, temps, self.seed)
        self.step += len(temps)
        self._read_device()
        if bad >= 0 or not (_all_finite(self.x) and _all_finite(self.forces)):
            at = bad if bad >= 0 else self.step
            return f"non-finite energy, force or position at step {at}; reduce dt={dt}"
        return None

    def _frame(self, recorder: Recorder, interval: float) -> None:
        if not recorder.writes:
            return
        sysw = self.system
        obs = {k: [v] for k, v in self.observables().items()}
        obs["dt"] = [interval]
        recorder.frames([self.step], sysw.positions[None], velocity=self.v[None],
                        image=sysw.images[None], force=self.forces[None], observables=obs)

    def write_frame(self, writer, interval: float | None = None) -> None:
        """Append the current frame (wrapped positions, images, velocities) to ``writer``.

        Parameters
        ----------
        writer : H5MDWriter
            Created by :func:`open_trajectory` for this system.
        interval : float, optional
            Time between this frame and the next, stored as the frame
            observable ``dt`` (MDAnalysis' ``trajectory.dt``); default: the
            time since the file's previous frame, or the time step ``dt`` for
            the first frame.
        """
        dt = self.integrator.dt
        if interval is None:
            last = writer._last_frame_step
            interval = dt * (self.step - last) if last is not None and last < self.step else dt
        self._frame(Recorder(writer, dt=dt), check_positive("interval", interval))

    def minimize(self, fire: FIRE | None = None) -> MinimizeResult:
        """Quench the current positions with FIRE (velocities are set to zero after).

        Parameters
        ----------
        fire : FIRE, optional
            Settings (default ``FIRE()``).

        Returns
        -------
        MinimizeResult
        """
        fire = fire_settings(fire)
        res = fire_loop(self.x, self._ff, fire)
        self.forces[:] = res.forces
        self.energy = res.energy
        self.virial = self._ff(self.x, self.forces)[1]
        self.v[:] = 0.0
        return res


def open_trajectory(path, system: ParticleSystem, *, overwrite: bool = False,
                    record_velocity: bool = True, record_force: bool = False,
                    parameters: dict | None = None, flush_seconds: float | None = 10.0,
                    buffer_bytes: int = 64 * 2**20, fsync: bool = True, units=None,
                    asynchronous: bool = True):
    """Create an H5MD trajectory file for a particle system.

    The particle group is ``trajectory`` (what MDAnalysis looks for), with
    the box (periodic or ``none`` boundaries), wrapped positions, image counts
    (periodic systems), velocities, and the time-independent ``species`` and
    ``mass`` of every atom.  Units are declared on positions, box edges,
    velocities, forces, times and energies (``units``; reduced units by default,
    stored as the consistent set :data:`~langevin_opt.storage.h5md.REDUCED_UNITS`:
    sigma = 1 nm, tau = 1 ps, epsilon = 1 kJ/mol, m = 1 u), so a 3-D trajectory
    opens with ``MDAnalysis.Universe(path)`` and no options (MDAnalysis shows
    lengths in Angstrom: 10 times the reduced numbers; times and ``dt`` unchanged).

    Observables: :meth:`Dynamics.run` writes every recorded row (every
    ``record_every`` steps) to ``/observable_series/<name>`` (step/time per
    row), and at every frame the same observables plus ``dt`` (the time between
    frames) to ``/observables/<name>``, one row per frame at the frame's step:
    MDAnalysis' ``ts.data`` indexes ``/observables`` by frame number.  2-D
    systems write the same layout, which MDAnalysis cannot open (3-D boxes
    only); this package's :class:`~langevin_opt.storage.H5MDReader`, ``h5py``
    and ``pyh5md`` read every file.

    The file is written by the crash-proof :class:`~langevin_opt.storage.H5MDWriter`
    (one writer per file, held by a lock until ``close``): every flush is
    published atomically, so a run killed at any instant leaves a readable
    file with every frame of every completed flush.  Frames are flushed at the
    latest ``flush_seconds`` after they were recorded, so a kill loses at most
    that much of a long run.

    Parameters
    ----------
    path : str or os.PathLike
        File to create.
    system : ParticleSystem
        The system (its size, dimension, box, species and masses).
    overwrite : bool
        Replace an existing file.
    record_velocity, record_force : bool
        Store velocities / forces in the frames.
    parameters : dict, optional
        Stored under ``/parameters`` (run configuration).
    flush_seconds : float or None
        Flush buffered frames once the oldest is this many seconds old (wall
        time, default 10; a flush costs 10-30 ms); ``None``: only when
        ``buffer_bytes`` are pending, at ``flush()`` and at ``close()``.
    buffer_bytes : int
        Pending bytes above which the writer flushes (default 64 MiB).
    fsync : bool
        ``fsync`` every flush (default): flushed frames also survive a power cut.
    units : H5MDUnits, optional
        The unit strings to declare (default
        :data:`~langevin_opt.storage.h5md.REDUCED_UNITS`); pass the system's
        own units when its numbers are physical (e.g. nm, ps, kJ/mol).
    asynchronous : bool
        Write from a writer thread (default): flushes run while the compiled
        dynamics (which releases the GIL) computes on; the file, its crash-safety
        and the numbers are the same as with ``False`` (see
        :class:`~langevin_opt.storage.H5MDWriter`).  Close the writer (or use it
        as a context manager).

    Returns
    -------
    H5MDWriter

    Raises
    ------
    OutputLockedError
        Another writer has ``path`` open (nothing was touched).
    FileExistsError
        ``path`` exists and ``overwrite`` is false.
    """
    from .. import __version__
    from ..storage.h5md import REDUCED_UNITS, H5MDWriter

    units = REDUCED_UNITS if units is None else units
    energy = units.energy
    obs_units = {"potential_energy": energy, "kinetic_energy": energy, "total_energy": energy,
                 "temperature": energy,  # k_B = 1: a temperature is an energy
                 "pressure": f"{energy} {units.length}-{system.dim}", "dt": units.time}
    w = H5MDWriter(path, n_particles=system.n_atoms, dim=system.dim,
                   particle_group="trajectory", creator_version=__version__,
                   box_edges=system.box, record_velocity=record_velocity,
                   record_force=record_force, record_image=system.periodic,
                   overwrite=overwrite, flush_seconds=flush_seconds,
                   buffer_bytes=buffer_bytes, fsync=fsync, units=units,
                   observable_units=obs_units, frame_observables=FRAME_OBSERVABLES,
                   asynchronous=asynchronous)
    try:
        w.write_static(species=system.species, mass=system.masses)
        if parameters:
            w.write_parameters(parameters)
    except BaseException:
        w.close()  # release the lock now, not when the object is collected
        raise
    return w


# ---------------------------------------------------------------------------
# Minimisation (single system)
# ---------------------------------------------------------------------------
def fire_minimize(system: ParticleSystem, potentials, *, fire: FIRE | None = None,
                  neighbors: NeighborList | None = None) -> MinimizeResult:
    """Local minimisation of a particle system with FIRE.

    Parameters
    ----------
    system : ParticleSystem
        Starting configuration.
    potentials : Potential or sequence of them
        Energy terms (pair, bond or many-body).
    fire : FIRE, optional
        Settings (default ``FIRE()``: ``fmax = 1e-6``).
    neighbors : NeighborList, optional
        For large periodic systems.

    Returns
    -------
    MinimizeResult
        ``positions`` are unwrapped (add images back with ``ParticleSystem``).
    """
    fire = fire_settings(fire)
    ff = _ForceField(_as_terms(potentials), system.species, system.box, system.dim, neighbors)
    return fire_loop(system.unwrapped_positions.copy(), ff, fire)


# ---------------------------------------------------------------------------
# Batched replicas of a small system
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Container:
    """Spherical harmonic wall that keeps open clusters from evaporating.

    ``U_wall = (k / 2) sum_i max(0, |x_i - c| - radius)^2`` with ``c`` the origin.
    It is an external field: it breaks translation invariance (use it for
    sampling and global optimisation, not for rate or force-law checks).

    Parameters
    ----------
    radius : float
        Radius of the free region (length units).
    k : float
        Wall stiffness (energy / length^2).
    """

    radius: float
    k: float = 100.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "radius", check_positive("radius", self.radius))
        object.__setattr__(self, "k", check_positive("k", self.k))


class ReplicaState(NamedTuple):
    """State of ``R`` replicas of one small system.

    The fields of :class:`ParticleState`, with a leading replica axis.

    Attributes
    ----------
    positions, velocities, forces : numpy.ndarray, shape (R, N, d)
        Positions (length), velocities (length / time), forces (energy / length).
    energy, virial : numpy.ndarray, shape (R,)
        Potential energy (energy units, including the container) and virial.
    step : int
        Global step of the state.
    """

    positions: np.ndarray
    velocities: np.ndarray
    forces: np.ndarray
    energy: np.ndarray
    virial: np.ndarray
    step: int


_BATCH: dict = {}
_BATCH_KERNELS = ("run", "evaluate", "fire")


def _batch_kernels(pair, bond, D: int) -> dict:
    """The replica kernels for a pair and a bond function (:mod:`._replica_template`).

    Specialised once per process; each kernel compiles on its first call and, for
    pair functions defined at module level (the built-in ones), is cached on disk.
    """
    key = (id(pair), id(bond), D)
    hit = _BATCH.get(key)
    if hit is None or hit[0] is not pair or hit[1] is not bond:
        from ..core.jitcache import specialize

        mod = specialize("langevin_opt.particles._replica_template",
                         {"pair": pair, "bond": bond, "D": int(D)})
        hit = (pair, bond, {name: getattr(mod, name) for name in _BATCH_KERNELS})
        _BATCH[key] = hit
    return hit[2]


@dataclass
class _BatchSetup:
    kern: dict
    species: np.ndarray
    ptab: np.ndarray
    S: int
    blist: np.ndarray
    btab: np.ndarray
    box: np.ndarray
    periodic: bool
    wall: np.ndarray
    minv: np.ndarray
    extra: dict = field(default_factory=dict)

    def args(self) -> tuple:
        return (self.species, self.ptab, self.S, self.blist, self.btab, self.box,
                self.periodic, self.wall)


def _common(n: int, d: int, species, masses, box, container
            ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """Validated species, box, masses and wall array of a replica call."""
    sp = (np.zeros(n, dtype=np.int64) if species is None
          else np.ascontiguousarray(species, dtype=np.int64))
    if sp.shape != (n,) or np.any(sp < 0):
        raise ValueError(f"species must be {n} non-negative integers, got shape {sp.shape}")
    b = check_box(box, d)
    m = np.ones(n) if masses is None else np.broadcast_to(
        np.asarray(masses, dtype=np.float64), (n,)).copy()
    if not np.all(np.isfinite(m) & (m > 0)):
        raise ValueError("masses must be positive and finite")
    if container is not None and not isinstance(container, Container):
        raise TypeError(f"container must be a Container or None, got {type(container).__name__}")
    wall = np.zeros(2) if container is None else np.array([container.radius, container.k])
    return sp, b, m, wall


class _ReplicaForces:
    """Forces of ``R`` replicas with many-body terms.

    One :class:`_ForceField` each (its own prepared terms and neighbour lists), plus the
    container wall of the compiled replica kernels (the same source,
    :func:`._update.container_wall`).
    """

    def __init__(self, r: int, terms: list, species: np.ndarray, box: np.ndarray | None,
                 dim: int, wall: np.ndarray) -> None:
        self.fields = [_ForceField(terms, species, box, dim, None) for _ in range(r)]
        self.wall = wall

    def __call__(self, k: int, x: np.ndarray, F: np.ndarray) -> tuple[float, float]:
        e, w = self.fields[k](x, F)
        if self.wall[1] > 0.0:
            e, w = _container_wall(x, self.wall, F, e, w)
        return float(e), float(w)

    def field(self, k: int) -> Callable[[np.ndarray, np.ndarray], tuple[float, float]]:
        return lambda x, F: self(k, x, F)


def _is_many_body(terms: list) -> bool:
    return any(not p.compiled for p in terms)


def _setup(n: int, d: int, potentials, species, masses, box, container) -> _BatchSetup:
    terms = _as_terms(potentials)
    pairs = [p for p in terms if isinstance(p, PairPotential)]
    bonds = [p for p in terms if isinstance(p, BondPotential)]
    if len(pairs) != 1 or len(bonds) > 1:
        raise ValueError("replica kernels take exactly one pair potential and at most one bond "
                         f"potential, got {len(pairs)} pair and {len(bonds)} bond terms")
    p = pairs[0]
    sp = (np.zeros(n, dtype=np.int64) if species is None
          else np.ascontiguousarray(species, dtype=np.int64))
    if sp.shape != (n,) or np.any(sp < 0):
        raise ValueError(f"species must be {n} non-negative integers, got shape {sp.shape}")
    b = check_box(box, d)
    _check_pair(p, int(sp.max()) + 1, b)
    if b is not None and not math.isfinite(p.cutoff):
        raise ValueError(f"cutoff of {p.name} must be finite in a periodic system")
    if bonds:
        _check_bond(bonds[0], n)
        bpair, blist, btab = bonds[0].pair, bonds[0].bonds, bonds[0].table
    else:
        bpair, blist, btab = harmonic_pair, np.zeros((0, 2), dtype=np.int64), np.zeros((0, 2))
    m = np.ones(n) if masses is None else np.broadcast_to(
        np.asarray(masses, dtype=np.float64), (n,)).copy()
    if not np.all(np.isfinite(m) & (m > 0)):
        raise ValueError("masses must be positive and finite")
    if container is not None and not isinstance(container, Container):
        raise TypeError(f"container must be a Container or None, got {type(container).__name__}")
    wall = np.zeros(2) if container is None else np.array([container.radius, container.k])
    return _BatchSetup(_batch_kernels(p.pair, bpair, d), sp, p.table, p.n_species,
                       np.ascontiguousarray(blist, dtype=np.int64), btab,
                       np.zeros(d) if b is None else b, b is not None, wall, 1.0 / m)


def _as_positions(positions) -> np.ndarray:
    X = np.array(positions, dtype=np.float64)  # copy: kernels move it in place
    if X.ndim != 3 or X.shape[2] not in (2, 3) or X.shape[1] < 1 or X.shape[0] < 1:
        raise ValueError(f"positions must have shape (R, N, 2) or (R, N, 3), got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("positions must be finite")
    return X


def _run_replicas_many_body(su: _BatchSetup, X: np.ndarray, V: np.ndarray, integrator,
                            temps: np.ndarray, tfac: np.ndarray, seed: int, ids: np.ndarray,
                            step0: int, n_steps: int, progress) -> tuple:
    """The replica loop of ``_replica_template.run`` for many-body terms, step by step.

    The same per-atom update functions, streams (``ids[k] * N + i``), order (first half,
    forces, kick) and divergence checks as the compiled kernel; forces from one
    :class:`_ReplicaForces` field per replica.  A replica alone gives the same numbers
    as :class:`Dynamics` with ``stream_ids=[0]`` (streams ``0..N-1``).
    """
    r, n, _ = X.shape
    rf = su.extra["forces"]
    F = np.zeros_like(X)
    E = np.zeros(r)
    W = np.zeros(r)
    for k in range(r):
        E[k], W[k] = rf(k, X[k], F[k])
    status = np.where(np.isfinite(E) & np.isfinite(W), -1, step0).astype(np.int64)
    code, dt = integrator.code, integrator.dt
    c1 = _c1(integrator, dt)
    useed = np.uint64(seed)
    loop = ChunkLoop(n_steps, progress=progress, label="replicas", compile_stop=False,
                     key=("replicas-many-body", code, X.shape))
    with loop:
        for s0, c in loop:
            for k in range(r):
                if status[k] >= 0:
                    continue
                x, v, f = X[k], V[k], F[k]
                base = int(ids[k]) * n
                for s in range(s0, s0 + c):
                    T = temps[k] * tfac[s]
                    step = step0 + s
                    _first_half_serial(code, x, v, f, su.minv, dt, c1, T, useed, base, step)
                    e, w = rf(k, x, f)
                    if code != _OVERDAMPED:
                        _kick_serial(v, f, su.minv, 0.5 * dt)
                    E[k] = e
                    W[k] = w
                    if not (math.isfinite(e) and math.isfinite(w)):
                        status[k] = step + 1
                        break
    return F, E, W, status, loop


def run_replicas(positions, potentials, integrator, n_steps: int, *, temperatures=1.0,
                 velocities=None, masses=None, species=None, box=None,
                 container: Container | None = None, schedule: Schedule | None = None,
                 total_steps: int | None = None, step0: int = 0, seed: int | None = None,
                 stream_offset: int = 0, stream_ids: np.ndarray | list[int] | None = None,
                 fixed=None, backend: str = "cpu",
                 progress: bool | Callable[[int, int], object] = False) -> ReplicaState:
    """Advance ``R`` independent replicas of a small system by ``n_steps``.

    Parameters
    ----------
    positions : array_like, shape (R, N, d)
        Starting positions (or a :class:`ReplicaState` to continue from,
        in which case ``velocities`` and ``step0`` come from it).
    potentials : Potential or sequence of them
        Energy terms: one pair potential summed over all pairs and at most one
        bond potential (the compiled replica kernels, replicas over threads), or
        any terms including many-body ones (CPU only: replicas one after another,
        each with its own prepared terms; the same update functions, random
        streams and checks).
    integrator : VelocityVerlet, LangevinBAOAB or LangevinOverdamped
        Update rule.
    n_steps : int
        Steps to take.
    temperatures : float or array_like, shape (R,)
        Temperature of every replica (energy units).
    velocities : array_like, shape (R, N, d), optional
        Default: Maxwell–Boltzmann at each replica's temperature (keyed by the
        replica id and ``step0``).
    masses : float or array_like, shape (N,), optional
        Default 1.
    species : array_like of int, shape (N,), optional
    box : array_like, shape (d,), optional
        Periodic box shared by all replicas.
    container : Container, optional
        Spherical wall around the origin (open clusters at high temperature).
    schedule : Schedule, optional
        Temperature factors ``T_r(s) = temperatures[r] * phi(s)`` over a run of
        ``total_steps`` (default ``step0 + n_steps``): simulated annealing.
    total_steps : int, optional
    step0 : int
        Global step of the starting state (keys the random numbers).
    seed : int
        Key of the counter-based generator (keyword-only); required unless the
        run is deterministic (velocity Verlet from given velocities).
    stream_offset : int
        Global index of the first replica: replica ``k`` is replica
        ``stream_offset + k`` of the whole ensemble (its atom ``i`` uses stream
        ``(stream_offset + k) * N + i``), so a part of an ensemble run on its own
        follows the same trajectories.
    stream_ids : array_like of int, shape (R,), optional
        Arbitrary distinct replica ids instead of ``stream_offset + k`` (e.g. the
        replicas still active in a larger run); excludes ``stream_offset``.
    fixed : array_like of int or bool, optional
        Atoms held in place (e.g. the bottom layers of a slab): indices, or a mask of
        shape (N,).  Their inverse mass is 0 in every update and their velocities are
        set to 0, so their positions never change (bit for bit); they still exert
        forces on the others.  With fixed atoms the starting velocities of the others
        are Maxwell–Boltzmann without removing the centre-of-mass motion (the fixed
        atoms break momentum conservation).
    backend : {"cpu", "cuda"}
        ``"cuda"``: one GPU thread per replica (:mod:`langevin_opt.cuda.particles`;
        no bond potentials), the same random numbers and loop order.
    progress : bool or callable
        ``True``: a progress bar with ETA on stderr; a callable:
        ``progress(done, n_steps)`` after every compiled chunk; ``False`` (default):
        nothing.  On the CPU the steps run as compiled chunks of about a quarter of a
        second (the split changes no number); on the GPU as one launch.

    Returns
    -------
    ReplicaState

    Raises
    ------
    TypeError, ValueError
        A wrong type or a missing ``seed`` (TypeError); a wrong value or shape (ValueError).
    DivergenceError
        A replica's energy stopped being finite: ``step`` is the first step at
        which one did, ``index`` that replica's index in the batch, and
        ``partial_result`` the :class:`ReplicaState` when the call stopped (the
        other replicas ran all steps; a diverged one is left at its step).
    Interrupted
        Ctrl-C (SIGINT), a :class:`KeyboardInterrupt`: ``step`` is the step reached at
        the end of the chunk it came in, ``partial_result`` the :class:`ReplicaState`
        there (pass it back as ``positions`` to continue).
    """
    progress = check_progress("progress", progress)
    if isinstance(positions, ReplicaState):
        st = positions
        positions, velocities, step0 = st.positions, st.velocities, st.step
    X = _as_positions(positions)
    r, n, d = X.shape
    n_steps = check_int("n_steps", n_steps, lo=0)
    step0 = check_int("step0", step0, lo=0, hi=2**48 - 1)
    if not isinstance(integrator, (VelocityVerlet, LangevinBAOAB, LangevinOverdamped)):
        raise TypeError("integrator must be VelocityVerlet, LangevinBAOAB or LangevinOverdamped"
                        f", got {type(integrator).__name__}")
    temps = check_per_item("temperatures", temperatures, r, lo=0.0)
    terms = _as_terms(potentials)
    if _is_many_body(terms):
        if check_backend(backend) == "cuda":
            raise BackendUnavailableError(
                "backend='cuda' runs pair potentials only; many-body potentials run on "
                "backend='cpu'")
        sp, b, m, wall = _common(n, d, species, masses, box, container)
        su = _BatchSetup({}, sp, np.zeros((1, 1)), 1, np.zeros((0, 2), dtype=np.int64),
                         np.zeros((0, 2)), np.zeros(d) if b is None else b, b is not None,
                         wall, 1.0 / m, {"forces": _ReplicaForces(r, terms, sp, b, d, wall)})
    else:
        su = _setup(n, d, potentials, species, masses, box, container)
    held = _fixed_mask(fixed, n)
    seed = _run_seed(seed, integrator, velocities is None and bool(np.any(temps > 0)))
    ids = _stream_ids(stream_offset, stream_ids, r, n)
    if velocities is None:
        V = np.stack([maxwell_boltzmann(1.0 / su.minv, d, temps[k], seed=seed,
                                        stream_offset=int(ids[k]) * n, step=int(step0),
                                        zero_momentum=not held.any())
                      for k in range(r)])
    else:
        V = np.array(velocities, dtype=np.float64)
        if V.shape != X.shape:
            raise ValueError(f"velocities must have shape {X.shape}, got {V.shape}")
    if held.any():  # inverse mass 0: every update leaves these atoms where they are
        su.minv = np.where(held, 0.0, su.minv)
        V[:, held] = 0.0
    sched = Constant() if schedule is None else schedule
    total = int(step0) + int(n_steps) if total_steps is None else int(total_steps)
    tfac = np.ascontiguousarray(sched.factors(np.arange(step0, step0 + n_steps), total),
                                dtype=np.float64) if n_steps else np.zeros(0)
    if check_backend(backend) == "cuda":
        from ..cuda.backend import require

        require()
        if su.blist.shape[0]:
            raise ValueError("bond potentials are not supported by backend='cuda' yet; "
                             "use backend='cpu'")
        from ..cuda.particles import run_replicas as run_replicas_gpu

        pair = next(p for p in _as_terms(potentials) if isinstance(p, PairPotential)).pair

        def gpu(n: int) -> tuple:
            return run_replicas_gpu(
                pair, X, V, integrator.code, integrator.dt, _c1(integrator, integrator.dt),
                su.minv, su.species, su.ptab, su.S, su.box, su.periodic, su.wall, temps,
                tfac, seed, ids, int(step0), n)

        # one launch: Ctrl-C takes effect when it returns
        loop = ChunkLoop(n_steps, progress=progress, label="replicas",
                         multiple=max(n_steps, 1), compile_stop=False)
        out = None
        with loop:
            for _ in loop:
                out = gpu(int(n_steps))
        F, E, W, status = gpu(0) if out is None else out
    elif "forces" in su.extra:
        F, E, W, status, loop = _run_replicas_many_body(
            su, X, V, integrator, temps, tfac, seed, ids, int(step0), n_steps, progress)
    else:
        F = np.zeros_like(X)
        E = np.zeros(r)
        W = np.zeros(r)
        kern = su.kern
        kern["evaluate"](X, F, E, W, *su.args())
        # a replica that starts non-finite (atoms on top of each other) is not moved
        status = np.where(np.isfinite(E) & np.isfinite(W), -1, step0).astype(np.int64)
        # chunks of about a quarter of a second (Ctrl-C, progress): forces carry over in
        # F and a diverged replica is skipped by the kernel, so the split changes nothing
        loop = ChunkLoop(n_steps, progress=progress, label="replicas",
                         key=("replicas", kernel_name(kern["run"]), integrator.code, X.shape))
        c1 = _c1(integrator, integrator.dt)
        with loop:
            for s, c in loop:
                kern["run"](integrator.code, X, V, F, E, W, su.minv, *su.args(),
                            integrator.dt, c1, temps, tfac[s:s + c], np.uint64(seed), ids,
                            int(step0) + s, c, status)
    state = ReplicaState(X, V, F, E, W, int(step0) + loop.done)
    bad = np.flatnonzero(status >= 0)
    if bad.size:
        k = int(bad[np.argmin(status[bad])])  # first step; ties: lowest index
        raise DivergenceError(f"replica {k} (stream id {int(ids[k])}) became non-finite at "
                              f"step {int(status[k])}; reduce dt={integrator.dt}",
                              int(status[k]), k, state)
    if loop.interrupted:
        raise Interrupted(f"interrupted at step {state.step} after {loop.done} of {n_steps} "
                          "steps (Ctrl-C); .partial_result holds the replicas there",
                          state.step, state)
    return state


def _fixed_mask(fixed, n: int) -> np.ndarray:
    """Boolean mask (N,) of the ``fixed`` argument of :func:`run_replicas` (indices or mask)."""
    if fixed is None:
        return np.zeros(n, dtype=bool)
    if isinstance(fixed, (str, bytes, dict)):
        raise TypeError(f"fixed must be atom indices or a boolean mask, got {type(fixed).__name__}")
    a = np.asarray(fixed)
    if a.dtype == bool:
        if a.shape != (n,):
            raise ValueError(f"a fixed mask must have shape ({n},), got {a.shape}")
        mask = a.copy()
    elif a.dtype.kind in "iu" or a.size == 0:
        idx = a.astype(np.int64).ravel()
        if a.ndim > 1 or np.any(idx < 0) or np.any(idx >= n):
            raise ValueError(f"fixed atom indices must be a 1-D array in [0, {n}), got "
                             f"{a.ravel()[:5].tolist()}{'...' if a.size > 5 else ''}")
        mask = np.zeros(n, dtype=bool)
        mask[idx] = True
    else:
        raise TypeError(f"fixed must be atom indices or a boolean mask, got dtype {a.dtype}")
    if mask.all():
        raise ValueError("fixed holds every atom: nothing would move")
    return mask


def _stream_ids(stream_offset, stream_ids, r: int, n: int) -> np.ndarray:
    """Replica ids (``stream_offset + k`` or the given ``stream_ids``), checked."""
    if stream_ids is None:
        off = check_int("stream_offset", stream_offset, lo=0)
        if (off + r) * n >= 2**32:  # atom streams (off + k) * n + i are 32-bit
            raise ValueError(f"stream_offset must be < {2**32 // n - r} for {r} replicas of "
                             f"{n} atoms (32-bit random streams), got {off}")
        return np.arange(off, off + r, dtype=np.int64)
    if stream_offset != 0:
        raise ValueError("pass stream_offset or stream_ids, not both")
    if isinstance(stream_ids, (str, bytes, dict)):
        raise TypeError(f"stream_ids must be an array of {r} integers, got "
                        f"{type(stream_ids).__name__}")
    a = np.asarray(stream_ids)
    if a.dtype.kind not in "iu":
        raise TypeError(f"stream_ids must hold integers, got dtype {a.dtype}")
    ids = np.ascontiguousarray(a, dtype=np.int64)
    if ids.shape != (r,) or np.any(ids < 0) or len(np.unique(ids)) != r:
        raise ValueError(f"stream_ids must be {r} distinct non-negative integers, got shape "
                         f"{ids.shape}")
    if (int(ids.max()) + 1) * n >= 2**32:
        raise ValueError(f"stream_ids must be < {2**32 // n - 1} for {n} atoms (32-bit random "
                         f"streams), got {int(ids.max())}")
    return ids


class ExchangeStats(NamedTuple):
    """Replica-exchange bookkeeping.

    Attributes
    ----------
    attempted, accepted : numpy.ndarray of int64, shape (R - 1,)
        Swap attempts and acceptances between temperature slots ``k, k+1``.
    """

    attempted: np.ndarray
    accepted: np.ndarray

    @property
    def acceptance(self) -> np.ndarray:
        """Acceptance ratio per neighbouring pair (NaN where never attempted)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.accepted / self.attempted


@numba.njit(**_JIT)
def _swap_pass(X, V, F, E, W, temps, seed, exchange, parity, att, acc):
    r = X.shape[0]
    for k in range(parity, r - 1, 2):
        att[k] += 1
        b1 = 1.0 / temps[k] if temps[k] > 0 else np.inf
        b2 = 1.0 / temps[k + 1] if temps[k + 1] > 0 else np.inf
        delta = (b1 - b2) * (E[k] - E[k + 1])
        u, _ = uniform2(seed, k, exchange, 0, PURPOSE_SWAP)
        if delta >= 0.0 or u < math.exp(delta):
            acc[k] += 1
            sa = math.sqrt(temps[k] / temps[k + 1]) if temps[k + 1] > 0 else 0.0
            for i in range(X.shape[1]):
                for j in range(X.shape[2]):
                    t = X[k, i, j]
                    X[k, i, j] = X[k + 1, i, j]
                    X[k + 1, i, j] = t
                    t = F[k, i, j]
                    F[k, i, j] = F[k + 1, i, j]
                    F[k + 1, i, j] = t
                    # velocities rescaled to the new temperature
                    t = V[k, i, j]
                    V[k, i, j] = V[k + 1, i, j] * sa
                    V[k + 1, i, j] = t / sa if sa > 0 else 0.0
            t = E[k]
            E[k] = E[k + 1]
            E[k + 1] = t
            t = W[k]
            W[k] = W[k + 1]
            W[k + 1] = t


def replica_exchange(positions, potentials, integrator, n_steps: int, temperatures, *,
                     swap_every: int = 100, seed: int | None = None, callback=None,
                     **kwargs) -> tuple[ReplicaState, ExchangeStats]:
    """Parallel tempering over ``R`` temperature slots of one small system.

    Every ``swap_every`` steps, neighbouring slots ``(k, k+1)`` (even pairs,
    then odd pairs at the next exchange) swap configurations with the
    Metropolis probability ``min(1, exp[(1/T_k - 1/T_{k+1}) (U_k - U_{k+1})])``;
    swapped velocities are rescaled by ``sqrt(T_new / T_old)``.  Slots keep
    their random streams, so the run is reproducible for any thread count.

    Parameters
    ----------
    positions : array_like, shape (R, N, d) or ReplicaState
        Starting configurations, slot ``k`` at ``temperatures[k]``.
    potentials, integrator :
        As in :func:`run_replicas`.
    n_steps : int
        Total steps (a multiple of ``swap_every``).
    temperatures : array_like, shape (R,)
        Increasing temperature ladder.
    swap_every : int
        Steps between exchange attempts.
    seed : int
        Key of the counter-based generator (required, keyword-only).
    callback : callable, optional
        ``callback(state)`` after every exchange (e.g. quench and record the
        lowest minimum); a true return value stops the run early.
    **kwargs
        Passed to :func:`run_replicas` (``masses``, ``species``, ``box``,
        ``container``, ``stream_offset`` or ``stream_ids``: slot ``k`` keeps its
        stream id whatever configuration it holds).

    Returns
    -------
    (ReplicaState, ExchangeStats)

    Raises
    ------
    TypeError, ValueError
        A wrong type or a missing ``seed`` (TypeError); a wrong value or shape (ValueError).
    DivergenceError
        A slot's energy stopped being finite (``step``, ``index``: the slot);
        ``partial_result`` is ``(ReplicaState, ExchangeStats)`` when it stopped.
    """
    seed = check_seed(seed)
    if isinstance(temperatures, (str, bytes, dict)) or np.asarray(temperatures).dtype.kind \
            not in "iuf":
        raise TypeError(f"temperatures must be an array of numbers, got "
                        f"{type(temperatures).__name__}")
    temps = np.ascontiguousarray(temperatures, dtype=np.float64)
    if temps.ndim != 1 or temps.size < 2 or not np.all(np.isfinite(temps)) or np.any(
            np.diff(temps) <= 0) or temps[0] <= 0:
        raise ValueError("temperatures must be an increasing ladder of >= 2 positive values")
    swap_every = check_int("swap_every", swap_every, lo=1)
    n_steps = check_int("n_steps", n_steps, lo=0)
    if n_steps % swap_every:
        raise ValueError(f"n_steps must be a non-negative multiple of swap_every={swap_every}, "
                         f"got {n_steps!r}")
    r = temps.size
    att = np.zeros(r - 1, dtype=np.int64)
    acc = np.zeros(r - 1, dtype=np.int64)
    state = positions
    useed = np.uint64(seed)
    try:
        if not isinstance(state, ReplicaState):
            state = run_replicas(positions, potentials, integrator, 0, temperatures=temps,
                                 seed=seed, **kwargs)
        for _ in range(n_steps // swap_every):
            state = run_replicas(state, potentials, integrator, swap_every, temperatures=temps,
                                 seed=seed, **kwargs)
            ex = state.step // swap_every
            _swap_pass(state.positions, state.velocities, state.forces, state.energy,
                       state.virial, temps, useed, ex, ex % 2, att, acc)
            if callback is not None and callback(state):
                break
    except DivergenceError as e:
        raise DivergenceError(str(e), e.step, e.index,
                              (e.partial_result, ExchangeStats(att, acc))) from None
    return state, ExchangeStats(att, acc)


def fire_replicas(positions, potentials, *, fire: FIRE | None = None, species=None, box=None,
                  container: Container | None = None) -> MinimizeResult:
    """Quench ``R`` replicas of a small system with FIRE in one compiled loop.

    Parameters
    ----------
    positions : array_like, shape (R, N, d)
        Starting configurations (not modified).
    potentials : Potential or sequence of them
        As in :func:`run_replicas` (many-body terms: one quench after another).
    fire : FIRE, optional
    species, box, container :
        As in :func:`run_replicas`.

    Returns
    -------
    MinimizeResult
        With arrays: ``positions`` (R, N, d), ``energy`` (R,), ``n_steps``
        (R,), ``converged`` (R,); ``forces`` and ``fmax`` of the final
        configurations.

    Raises
    ------
    DivergenceError
        A replica's energy became non-finite: ``step`` is its iteration,
        ``index`` the replica (the one that diverged at the earliest iteration)
        and ``partial_result`` the :class:`MinimizeResult` of all replicas.
    """
    fire = fire_settings(fire)
    X = _as_positions(positions)
    r, n, d = X.shape
    terms = _as_terms(potentials)
    E = np.zeros(r)
    steps = np.zeros(r, dtype=np.int64)
    conv = np.zeros(r, dtype=np.bool_)
    F = np.zeros_like(X)
    W = np.zeros(r)
    if _is_many_body(terms):  # one Python-driven quench per replica (fire_loop)
        sp, b, _, wall = _common(n, d, species, None, box, container)
        rf = _ReplicaForces(r, terms, sp, b, d, wall)
        for k in range(r):
            try:
                q = fire_loop(X[k], rf.field(k), fire)
                steps[k] = q.n_steps
            except DivergenceError as err:
                steps[k] = err.step
            E[k], W[k] = rf(k, X[k], F[k])
    else:
        su = _setup(n, d, potentials, species, None, box, container)
        su.kern["fire"](X, E, steps, conv, *su.args(), fire.params(), int(fire.max_steps))
        su.kern["evaluate"](X, F, E, W, *su.args())
    fm = np.sqrt((F**2).sum(axis=2).max(axis=1))
    if _is_many_body(terms):
        conv = fm < fire.fmax
    res = MinimizeResult(X, E, F, fm, steps, conv)
    bad = np.flatnonzero(~np.isfinite(E))
    if bad.size:
        k = int(bad[np.argmin(steps[bad])])
        raise DivergenceError(f"FIRE quench of replica {k} produced a non-finite energy at "
                              f"iteration {int(steps[k])}; reduce FIRE dt={fire.dt} or "
                              f"max_move={fire.max_move}", int(steps[k]), k, res)
    return res
