"""Energy, force and virial kernels, and the thermodynamic observables.

Conventions
-----------
Forces are ``F_i = -dU/dr_i``.  The virial is the scalar
``W = sum_{pairs i<j} r_ij . f_ij`` with ``r_ij = r_i - r_j`` (minimum image)
and ``f_ij`` the force on ``i`` due to ``j``, i.e. ``W = -sum r u'(r)``; the
configurational pressure is ``P_conf = W / (d V) = -dU/dV`` (affine scaling of
box and positions) and the full pressure ``P = (2 K + W) / (d V)``.

Kernels
-------
For every pair function (:mod:`langevin_opt.particles.potentials`) and
dimension, :func:`pair_kernels` specialises the kernel template
:mod:`langevin_opt.particles._force_template` (once per process; each kernel
compiles on its first call, and for pair functions defined at module level, such
as the built-in ones, its machine code is cached on disk by
:mod:`langevin_opt.core.jitcache`):

``neighbor(x, arrays, half_skin2, table, n_species, scratch, F, accumulate)
-> (ok, energy, virial, max_disp2)``
    Forces over a :class:`~langevin_opt.particles.neighbors.NeighborList`
    (``neighbor_serial``: the same, without threads; bit-identical results).
    It first gathers positions into slot order and measures the largest
    displacement since the list was built; if it exceeds ``skin / 2``
    (``max_disp2 > half_skin2``) it returns ``ok = False`` *without* computing
    forces, and the caller rebuilds the list and calls again.  Then it runs
    the four colours of work units in turn, the units of a colour in parallel
    (see :mod:`~langevin_opt.particles.neighbors`): deterministic for any
    thread count.  ``arrays`` is the list's
    :class:`~langevin_opt.particles.neighbors.NeighborArrays`, ``scratch`` a
    :class:`ForceScratch` (:func:`make_scratch`), ``half_skin2 = (skin / 2)^2``;
    ``accumulate`` adds into ``F`` instead of overwriting it.
``all_pairs(x, species, table, n_species, box, periodic, F) -> (energy, virial)``
    Serial O(N^2) half loop, adds into ``F``.  For clusters and small boxes.
``batch_all_pairs(X, species, table, n_species, box, periodic, E, F, W)``
    ``R`` independent replicas ``X[r]`` (shape ``(R, N, d)``) in one compiled
    loop, replicas spread over threads (each computed serially).
``md_steps(code, x, v, F, minv, m, dt, c1, temps, seed, step0, start, skip_first,
has_pair, use_list, arrays, half_skin2, species, table, n_species, box, periodic,
scratch, par, has_bonds, bonds_first, bonds, bond_table, e, w, u_old, k_old, half_dof,
jump_factor) -> (status, j, e, w, u_old, k_old, jump)``
    Steps ``start .. len(temps) - 1`` of a :class:`~langevin_opt.particles.Dynamics`
    stretch with this pair term (neighbour list if ``use_list``, else all pairs)
    and a bond term (:func:`~langevin_opt.particles.kernels.md_kernel` specialises
    it for both pair functions): the integrator's first half, the forces, the
    closing kick and the divergence checks, in the order of the per-step path
    (bit-identical).
    ``status`` 0: done; 1: the list is stale at step ``j`` (rebuild it and call
    again with ``start = j, skip_first = True``); 2, 3: non-finite values or an
    energy jump at step ``j - 1``.
``bonds(x, bonds, table, box, periodic, F) -> (energy, virial)``,
``batch_bonds(X, bonds, table, box, periodic, E, F, W)``
    Bonded terms (adds into ``F``, ``E`` and ``W``).

All kernels take arrays (or NamedTuples of arrays) and allocate nothing, so
integrators can call them from their own compiled step loops; only a rebuild
of the neighbor list (``ok = False``) needs a return to Python.
"""

from __future__ import annotations

import builtins
import math
import types
from collections.abc import Callable
from typing import NamedTuple

import numba
import numpy as np

from .kernels import BondKernels, PairKernels, bond_kernels, pair_kernels
from .neighbors import NeighborList
from .potentials import BondPotential, PairPotential, Potential, as_potential
from .system import ParticleSystem, check_box

__all__ = [
    "ForceResult",
    "BatchResult",
    "PairKernels",
    "BondKernels",
    "ForceScratch",
    "make_scratch",
    "pair_kernels",
    "bond_kernels",
    "compute_forces",
    "potential_energy",
    "energy_function",
    "compute_forces_batch",
    "kinetic_energy",
    "kinetic_temperature",
    "degrees_of_freedom",
    "pressure",
]

class ForceResult(NamedTuple):
    """Energy, forces and virial of one configuration.

    Attributes
    ----------
    energy : float
        Potential energy ``U`` (energy units).
    forces : numpy.ndarray, shape (N, d)
        ``-dU/dr_i``.
    virial : float
        ``W = sum_pairs r_ij . f_ij``; ``P_conf = W / (d V)``.
    """

    energy: float
    forces: np.ndarray
    virial: float


class BatchResult(NamedTuple):
    """Energies, forces and virials of ``R`` replicas.

    Attributes
    ----------
    energy : numpy.ndarray, shape (R,)
    forces : numpy.ndarray, shape (R, N, d)
    virial : numpy.ndarray, shape (R,)
    """

    energy: np.ndarray
    forces: np.ndarray
    virial: np.ndarray


# ---------------------------------------------------------------------------
# Kernels: one specialised template module per (pair function, dimension)
# ---------------------------------------------------------------------------


def _rebind(fn: Callable, name: str, pair: Callable, rint: Callable | None, D: int) -> Callable:
    """``fn``'s code with the globals ``pair``, ``rint``, ``D`` (a plain Python function)."""
    g = {"__builtins__": builtins, "__name__": __name__, "np": np, "pair": pair, "rint": rint,
         "D": D}
    out = types.FunctionType(fn.__code__, g, name)
    out.__qualname__ = name
    return out


def all_pairs_source(pair: Callable, rint: Callable, D: int) -> Callable:
    """Python source of the serial all-pairs loop, for the CPU and the CUDA backend.

    The CPU kernels compile it with ``numba.njit`` and ``rint = np.rint``
    (:attr:`PairKernels.all_pairs`, the replica kernels of
    :mod:`langevin_opt.particles.dynamics`); the CUDA replica kernels
    (:mod:`langevin_opt.cuda.particles`) compile it for the device with their own
    ``rint`` (``floor(t + 1/2)``, as numba-cuda lacks ``np.rint``).  The code is
    ``all_pairs_py`` of the kernel template :mod:`._force_template`, with the three
    names rebound as globals.

    Parameters
    ----------
    pair : callable
        Scalar pair function ``pair(r2, params) -> (u, f / r)`` in the target's form.
    rint : callable
        Nearest integer of a float, in the target's form.
    D : int
        Dimension (2 or 3).

    Returns
    -------
    function
        ``all_pairs(x, species, table, S, box, periodic, F) -> (energy, virial)``:
        adds the pair forces to ``F`` (shape ``(N, D)``) in index order.
    """
    from . import _force_template as tpl

    return _rebind(tpl.all_pairs_py, "all_pairs", pair, rint, D)


def bonds_source(pair: Callable, D: int) -> Callable:
    """Python source of the bonded-terms loop (:attr:`BondKernels.bonds`) for ``pair``.

    Parameters
    ----------
    pair : callable
        Scalar pair function of the bonds.
    D : int
        Dimension (2 or 3).

    Returns
    -------
    function
        ``bonds(x, bonds, table, box, periodic, F) -> (energy, virial)``.
    """
    from . import _force_template as tpl

    return _rebind(tpl.bonds_py, "bonds", pair, None, D)


# ---------------------------------------------------------------------------
# Python-level evaluation
# ---------------------------------------------------------------------------
def _as_terms(potentials) -> list[Potential]:
    """The terms of a ``potentials`` argument: one potential or a sequence of them.

    Pair and bond potentials are returned as they are; any other object goes through
    :func:`~langevin_opt.particles.as_potential` (many-body adapters).
    """
    if isinstance(potentials, Potential) or hasattr(potentials, "energy_forces") or hasattr(
            potentials, "bind"):
        return [as_potential(potentials)]
    try:
        items = list(potentials)
    except TypeError:
        raise ValueError(f"potentials must be a potential or a sequence of them, got "
                         f"{type(potentials).__name__}") from None
    return [as_potential(p) for p in items]


def _prepare_many_body(terms: list[Potential], species: np.ndarray, box: np.ndarray | None,
                       dim: int) -> list[Potential]:
    """``terms`` with every many-body term replaced by its prepared form for one system."""
    return [p if p.compiled else p.prepare(species, box, dim) for p in terms]


def _check_pair(p: PairPotential, n_species: int, box: np.ndarray | None) -> None:
    if n_species > p.n_species:
        raise ValueError(f"species must be < {p.n_species} for {p.name}, got "
                         f"{n_species - 1}")
    if box is not None and not p.cutoff <= 0.5 * box.min():
        raise ValueError(f"cutoff of {p.name} ({p.cutoff}) must not exceed half the shortest "
                         f"box edge ({0.5 * box.min():.6g}) of a periodic system")


def _check_bond(p: BondPotential, n: int) -> None:
    if p.n_bonds and p.bonds.max() >= n:
        raise ValueError(f"bonds of {p.name} must index atoms < {n}, got {p.bonds.max()}")


class ForceScratch(NamedTuple):
    """Work arrays of the neighbor-list force kernel.

    Attributes
    ----------
    xs, fs : numpy.ndarray, shape (N, d)
        Positions and forces in slot order.
    unit_e, unit_w : numpy.ndarray, shape (U,)
        Energy and virial of every work unit.
    chunk_d : numpy.ndarray, shape (C,)
        Largest squared displacement per chunk.
    loads : numpy.ndarray of int64, shape (T, T)
        Per-worker work tallies of the unit assignment (``T`` = the maximum
        number of threads, ``numba.config.NUMBA_NUM_THREADS``).
    workers : numpy.ndarray of int64, shape (1,)
        Threads to spread the work units over (``numba.get_num_threads()`` of the
        caller, set by :func:`make_scratch`; results do not depend on it).
    """

    xs: np.ndarray
    fs: np.ndarray
    unit_e: np.ndarray
    unit_w: np.ndarray
    chunk_d: np.ndarray
    loads: np.ndarray
    workers: np.ndarray


def make_scratch(neighbors: NeighborList) -> ForceScratch:
    """Scratch arrays for the neighbor kernel, cached on the list while its shape lasts.

    Call it before every kernel call: it also records the caller's current thread
    count (``workers``).

    Parameters
    ----------
    neighbors : NeighborList
        A built neighbor list.

    Returns
    -------
    ForceScratch
    """
    a = neighbors.arrays
    n, d = a.ref.shape
    units = a.unit_start.shape[0] - 1
    chunks = a.chunk_start.shape[0] - 1
    scr = getattr(neighbors, "_force_scratch", None)
    if scr is None or scr.xs.shape != (n, d) or scr.unit_e.shape[0] != units or (
            scr.chunk_d.shape[0] != chunks):
        t = max(1, numba.config.NUMBA_NUM_THREADS)
        scr = ForceScratch(np.empty((n, d)), np.empty((n, d)), np.empty(units),
                           np.empty(units), np.empty(chunks), np.zeros((t, t), dtype=np.int64),
                           np.ones(1, dtype=np.int64))
        neighbors._force_scratch = scr
    scr.workers[0] = numba.get_num_threads()
    return scr


def _neighbor_term(p: PairPotential, x: np.ndarray, species: np.ndarray,
                   box: np.ndarray | None, nl: NeighborList, F: np.ndarray) -> tuple[float,
                                                                                      float]:
    if nl.cutoff < p.cutoff:
        raise ValueError(f"neighbors.cutoff ({nl.cutoff}) must be >= the cutoff of {p.name} "
                         f"({p.cutoff})")
    n, d = x.shape
    kern = pair_kernels(p, d)
    for _ in range(3):
        nl.update(x, box, species)
        fn = kern.neighbor if nl.parallel else kern.neighbor_serial
        ok, e, w, _ = fn(x, nl.arrays, 0.25 * nl.skin**2, p.table, p.n_species,
                         make_scratch(nl), F, True)
        if ok:
            return e, w
        nl.build(x, box, species)  # borderline rounding between the two checks
    raise RuntimeError("neighbor list could not be made valid")  # pragma: no cover


def _evaluate(x: np.ndarray, species: np.ndarray, box: np.ndarray | None, terms: list,
              neighbors: NeighborList | None) -> ForceResult:
    n, d = x.shape
    F = np.zeros((n, d))
    bx = np.zeros(d) if box is None else box
    periodic = box is not None
    n_species = int(species.max()) + 1
    e_tot = 0.0
    w_tot = 0.0
    for p in terms:
        if not p.compiled:  # many-body (prepared by the caller)
            e, f, w = p.energy_forces(x, box, species)
            F += f
        elif isinstance(p, PairPotential):
            _check_pair(p, n_species, box)
            if neighbors is not None:
                e, w = _neighbor_term(p, x, species, box, neighbors, F)
            else:
                if periodic and not math.isfinite(p.cutoff):
                    raise ValueError(f"cutoff of {p.name} must be finite in a periodic system")
                e, w = pair_kernels(p, d).all_pairs(x, species, p.table, p.n_species, bx,
                                                    periodic, F)
        else:
            _check_bond(p, n)
            e, w = bond_kernels(p, d).bonds(x, p.bonds, p.table, bx, periodic, F)
        e_tot += e
        w_tot += w
    return ForceResult(float(e_tot), F, float(w_tot))


def compute_forces(system: ParticleSystem, potentials, *,
                   neighbors: NeighborList | None = None) -> ForceResult:
    """Potential energy, forces and virial of a particle system.

    Parameters
    ----------
    system : ParticleSystem
        The configuration.
    potentials : Potential or sequence of them
        The terms of the energy (summed): pair, bond or many-body potentials (any
        object :func:`~langevin_opt.particles.as_potential` accepts, such as a neural
        network potential).
    neighbors : NeighborList, optional
        Neighbor list for the pair terms (many-body terms keep their own); rebuilt
        automatically when stale (never built, other box, or an atom moved more than
        ``skin / 2``).
        Without one, pair terms use the O(N^2) all-pairs kernel (right for
        clusters and small systems).

    Returns
    -------
    ForceResult
        ``energy`` (energy units), ``forces`` (N, d) and ``virial``.

    Raises
    ------
    ValueError
        For an untruncated potential or a cutoff larger than half the box in a
        periodic system, species or bond indices out of range.
    """
    terms = _prepare_many_body(_as_terms(potentials), system.species, system.box, system.dim)
    return _evaluate(system.positions, system.species, system.box, terms, neighbors)


def potential_energy(system: ParticleSystem, potentials, *,
                     neighbors: NeighborList | None = None) -> float:
    """Potential energy of a particle system (see :func:`compute_forces`).

    Parameters
    ----------
    system : ParticleSystem
    potentials : PairPotential, BondPotential or sequence of them
    neighbors : NeighborList, optional

    Returns
    -------
    float
    """
    return compute_forces(system, potentials, neighbors=neighbors).energy


def energy_function(system: ParticleSystem, potentials, *,
                    neighbors: NeighborList | None = None
                    ) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """The flat ``f(x) -> (E, g)`` of a particle system, for saddle searches and Hessians.

    :mod:`langevin_opt.rates.saddles` (NEB, dimer, Hessians) works on flat coordinates;
    this adapter evaluates any potentials (pair, bond, many-body) of ``system`` there.
    Many-body terms are prepared once and keep their neighbour lists between calls.

    Parameters
    ----------
    system : ParticleSystem
        Gives the shape ``(N, d)``, species and box (positions are not used).
    potentials : Potential or sequence of them
        As in :func:`compute_forces`.
    neighbors : NeighborList, optional
        Neighbor list for the pair terms.

    Returns
    -------
    callable
        ``f(x)`` with ``x`` of shape ``(N * d,)`` (length units): the energy (energy
        units) and its gradient ``-F`` flattened, shape ``(N * d,)``.

    Examples
    --------
    >>> import numpy as np
    >>> from langevin_opt import particles as lp
    >>> s = lp.ParticleSystem([[0.0, 0.0, 0.0], [1.2, 0.0, 0.0]])
    >>> f = lp.energy_function(s, lp.lennard_jones(mode="plain"))
    >>> e, g = f(np.array([0.0, 0.0, 0.0, 2 ** (1 / 6), 0.0, 0.0]))
    >>> round(e, 12), bool(np.abs(g).max() < 1e-12)
    (-1.0, True)
    """
    if not isinstance(system, ParticleSystem):
        raise TypeError(f"system must be a ParticleSystem, got {type(system).__name__}")
    n, d = system.positions.shape
    sp, box = system.species, system.box
    terms = _prepare_many_body(_as_terms(potentials), sp, box, d)

    def f(x: np.ndarray) -> tuple[float, np.ndarray]:
        xx = np.asarray(x, dtype=np.float64).reshape(n, d)
        r = _evaluate(xx, sp, box, terms, neighbors)
        return r.energy, -r.forces.ravel()

    return f


def compute_forces_batch(positions, potentials, *, species=None, box=None) -> BatchResult:
    """Energies, forces and virials of ``R`` replicas of one small system.

    All replicas share species, bonds and box; they run in one compiled loop
    with replicas spread over threads (all-pairs within each replica).  Results
    are independent of the number of threads.  Many-body terms are evaluated one
    replica after another (in Python-called code).

    Parameters
    ----------
    positions : array_like, shape (R, N, d)
        Positions of every replica.
    potentials : Potential or sequence of them
    species : array_like of int, shape (N,), optional
        Species (default all 0).
    box : None or array_like, shape (d,)
        Periodic box shared by the replicas, or ``None`` (open clusters).

    Returns
    -------
    BatchResult
        ``energy`` (R,), ``forces`` (R, N, d), ``virial`` (R,).
    """
    X = np.ascontiguousarray(positions, dtype=np.float64)
    if X.ndim != 3 or X.shape[2] not in (2, 3) or X.shape[1] < 1:
        raise ValueError(f"positions must have shape (R, N, 2) or (R, N, 3), got {X.shape}")
    r, n, d = X.shape
    sp = (np.zeros(n, dtype=np.int64) if species is None
          else np.ascontiguousarray(species, dtype=np.int64))
    if sp.shape != (n,) or np.any(sp < 0):
        raise ValueError(f"species must be {n} non-negative integers, got shape {sp.shape}")
    b = check_box(box, d)
    bx = np.zeros(d) if b is None else b
    periodic = b is not None
    E = np.zeros(r)
    W = np.zeros(r)
    F = np.zeros((r, n, d))
    e1 = np.empty(r)
    w1 = np.empty(r)
    F1 = np.empty((r, n, d))
    n_species = int(sp.max()) + 1
    for p in _as_terms(potentials):
        if not p.compiled:  # many-body: one configuration at a time, one prepared copy
            q = p.prepare(sp, b, d)
            for k in range(r):
                e, f, w = q.energy_forces(X[k], b, sp)
                E[k] += e
                W[k] += w
                F[k] += f
        elif isinstance(p, PairPotential):
            _check_pair(p, n_species, b)
            if periodic and not math.isfinite(p.cutoff):
                raise ValueError(f"cutoff of {p.name} must be finite in a periodic system")
            pair_kernels(p, d).batch_all_pairs(X, sp, p.table, p.n_species, bx, periodic,
                                               e1, F1, w1)
            E += e1
            W += w1
            F += F1
        else:
            _check_bond(p, n)
            bond_kernels(p, d).batch_bonds(X, p.bonds, p.table, bx, periodic, E, F, W)
    return BatchResult(E, F, W)


# ---------------------------------------------------------------------------
# Observables
# ---------------------------------------------------------------------------
def kinetic_energy(velocities, masses) -> float | np.ndarray:
    """Kinetic energy ``K = sum_i m_i |v_i|^2 / 2``.

    Parameters
    ----------
    velocities : array_like, shape (N, d) or (R, N, d)
        Velocities (length / time units); a leading replica axis is allowed.
    masses : float or array_like, shape (N,)
        Masses.

    Returns
    -------
    float or numpy.ndarray, shape (R,)
        Kinetic energy (energy units) of the system or of each replica.
    """
    v = np.asarray(velocities, dtype=np.float64)
    m = np.broadcast_to(np.asarray(masses, dtype=np.float64), v.shape[-2:-1])
    k = 0.5 * np.einsum("...ik,...ik,i->...", v, v, m)
    return float(k) if v.ndim == 2 else k


def degrees_of_freedom(n_atoms: int, dim: int, *, remove_com: bool = False,
                       n_constraints: int = 0) -> int:
    """Number of kinetic degrees of freedom, ``N_f = d N - d [remove_com] - n_constraints``.

    Convention: every Cartesian velocity component counts (``N_f = d N``) unless
    the total momentum is conserved and zero, as in NVE molecular dynamics of a
    periodic system without a thermostat (``remove_com=True`` subtracts the ``d``
    centre-of-mass components); Langevin thermostats act on every component, so
    ``N_f = d N`` is right for them.

    Parameters
    ----------
    n_atoms, dim : int
        Atoms and spatial dimension.
    remove_com : bool
        Subtract the centre-of-mass degrees of freedom.
    n_constraints : int
        Further holonomic constraints.

    Returns
    -------
    int
    """
    nf = dim * n_atoms - (dim if remove_com else 0) - n_constraints
    if nf < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {nf}")
    return nf


def kinetic_temperature(velocities, masses, dof: int | None = None) -> float | np.ndarray:
    """Instantaneous kinetic temperature ``T = 2 K / N_f`` (``k_B = 1``).

    Parameters
    ----------
    velocities : array_like, shape (N, d) or (R, N, d)
        Velocities.
    masses : float or array_like, shape (N,)
        Masses.
    dof : int, optional
        Degrees of freedom ``N_f``; default ``d N`` (see :func:`degrees_of_freedom`).

    Returns
    -------
    float or numpy.ndarray, shape (R,)
        Temperature (energy units).
    """
    v = np.asarray(velocities, dtype=np.float64)
    nf = degrees_of_freedom(v.shape[-2], v.shape[-1]) if dof is None else int(dof)
    return 2.0 * kinetic_energy(v, masses) / nf


def pressure(virial, volume: float, dim: int, kinetic: float = 0.0, tail: float = 0.0):
    """Pressure from the virial: ``P = (2 K + W) / (d V) + P_tail``.

    With ``kinetic = 0`` this is the configurational pressure ``-dU/dV``.

    Parameters
    ----------
    virial : float or numpy.ndarray
        ``W = sum_pairs r_ij . f_ij`` (energy units).
    volume : float
        Box volume (area in 2-D).
    dim : int
        Spatial dimension ``d``.
    kinetic : float or numpy.ndarray
        Kinetic energy ``K`` (the ideal-gas term ``2 K / (d V) = N_f T / (d V)``).
    tail : float
        Long-range correction (e.g. :meth:`LennardJones.tail_pressure`).

    Returns
    -------
    float or numpy.ndarray
        Pressure (energy / volume units).
    """
    return (2.0 * np.asarray(kinetic) + np.asarray(virial)) / (dim * volume) + tail

