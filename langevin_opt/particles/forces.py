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
dimension, :func:`pair_kernels` compiles (lazily, once per process):

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
``bonds(x, bonds, table, box, periodic, F) -> (energy, virial)``,
``batch_bonds(X, bonds, table, box, periodic, E, F, W)``
    Bonded terms (adds into ``F``, ``E`` and ``W``).

All kernels take arrays (or NamedTuples of arrays) and allocate nothing, so
integrators can call them from their own compiled step loops; only a rebuild
of the neighbor list (``ok = False``) needs a return to Python.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numba
import numpy as np
from numba import prange

from ..core.validation import check_int
from .neighbors import NeighborList
from .potentials import BondPotential, PairPotential
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
    "compute_forces_batch",
    "kinetic_energy",
    "kinetic_temperature",
    "degrees_of_freedom",
    "pressure",
]

_JIT = {"nogil": True, "error_model": "numpy", "_nrt": False}


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


class PairKernels(NamedTuple):
    """Compiled non-bonded kernels of one pair function (see the module docstring)."""

    neighbor: Callable
    neighbor_serial: Callable
    all_pairs: Callable
    batch_all_pairs: Callable


class BondKernels(NamedTuple):
    """Compiled bonded kernels of one pair function (see the module docstring)."""

    bonds: Callable
    batch_bonds: Callable


# ---------------------------------------------------------------------------
# Kernel factories
# ---------------------------------------------------------------------------
@numba.njit(inline="always", **_JIT)
def _np_rint(t):
    # nearest integer (ties to even) for the CPU minimum image
    return np.rint(t)


def all_pairs_source(pair: Callable, rint: Callable, D: int) -> Callable:
    """Python source of the serial all-pairs loop, for the CPU and the CUDA backend.

    The CPU compiles it with ``numba.njit`` and ``rint = np.rint``
    (:attr:`PairKernels.all_pairs`); the CUDA replica kernels
    (:mod:`langevin_opt.cuda.particles`) compile it for the device with their own
    ``rint`` (``floor(t + 1/2)``, as numba-cuda lacks ``np.rint``).

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

    def all_pairs(x, species, table, S, box, periodic, F):
        # the pair displacement below repeats ``pair_update``'s on purpose: this loop keeps
        # atom i's force in registers and writes F directly (serial, no slot arrays), and
        # the replica kernels (CPU and CUDA) inline it; both orders of operations are
        # pinned bit for bit
        n = x.shape[0]
        e = 0.0
        w = 0.0
        bx = box[0]
        by = box[1]
        bz = box[D - 1]
        for i in range(n - 1):
            xi = x[i, 0]
            yi = x[i, 1]
            zi = x[i, D - 1]
            fx = 0.0
            fy = 0.0
            fz = 0.0
            base = species[i] * S
            for j in range(i + 1, n):
                dx = xi - x[j, 0]
                dy = yi - x[j, 1]
                if periodic:
                    dx -= bx * rint(dx / bx)
                    dy -= by * rint(dy / by)
                r2 = dx * dx + dy * dy
                dz = 0.0
                if D == 3:
                    dz = zi - x[j, 2]
                    if periodic:
                        dz -= bz * rint(dz / bz)
                    r2 += dz * dz
                u, f = pair(r2, table[base + species[j]])
                e += u
                w += f * r2
                gx = f * dx
                gy = f * dy
                fx += gx
                fy += gy
                F[j, 0] -= gx
                F[j, 1] -= gy
                if D == 3:
                    gz = f * dz
                    fz += gz
                    F[j, 2] -= gz
            F[i, 0] += fx
            F[i, 1] += fy
            if D == 3:
                F[i, 2] += fz
        return e, w

    return all_pairs


def _make_pair_kernels(pair: Callable, D: int) -> PairKernels:
    @numba.njit(inline="always", **_JIT)
    def pair_update(t, p, xi, yi, zi, xs, fs, wrapped, bx, by, bz):
        # one half-list pair (s, t): returns (u, virial, force on s); subtracts from fs[t]
        dx = xi - xs[t, 0]
        dy = yi - xs[t, 1]
        if wrapped:
            dx -= bx * np.rint(dx / bx)
            dy -= by * np.rint(dy / by)
        r2 = dx * dx + dy * dy
        dz = 0.0
        if D == 3:
            dz = zi - xs[t, 2]
            if wrapped:
                dz -= bz * np.rint(dz / bz)
            r2 += dz * dz
        u, f = pair(r2, p)
        gx = f * dx
        gy = f * dy
        fs[t, 0] -= gx
        fs[t, 1] -= gy
        gz = 0.0
        if D == 3:
            gz = f * dz
            fs[t, 2] -= gz
        return u, f * r2, gx, gy, gz

    @numba.njit(**_JIT)
    def rows(lo, hi, xs, fs, ssp, row_start, row_wrap, row_end, nbr, table, S, box):
        # Half-list rows lo..hi-1 (slot order); adds into fs.  Segment 0 of a row needs
        # no image shift, segment 1 (pairs across a box face) the minimum image.  Slot
        # and table indices are unsigned (no negative-index wraparound code), and one
        # species hoists the parameter row out of the loop.
        e = 0.0
        w = 0.0
        bx = box[0]
        by = box[1]
        bz = box[D - 1]
        us = np.uint64(S)
        p0 = table[0]
        for s in range(lo, hi):
            xi = xs[s, 0]
            yi = xs[s, 1]
            zi = xs[s, D - 1]
            fx = 0.0
            fy = 0.0
            fz = 0.0
            base = np.uint64(ssp[s]) * us
            for seg in range(2):
                if seg == 0:
                    k0 = np.uint64(row_start[s])
                    k1 = np.uint64(row_wrap[s])
                else:
                    k0 = np.uint64(row_wrap[s])
                    k1 = np.uint64(row_end[s])
                wrapped = seg == 1
                if S == 1:
                    for kk in range(k0, k1):
                        t = np.uint64(nbr[kk])
                        u, v, gx, gy, gz = pair_update(t, p0, xi, yi, zi, xs, fs, wrapped,
                                                       bx, by, bz)
                        e += u
                        w += v
                        fx += gx
                        fy += gy
                        fz += gz
                else:
                    for kk in range(k0, k1):
                        t = np.uint64(nbr[kk])
                        p = table[base + np.uint64(ssp[t])]
                        u, v, gx, gy, gz = pair_update(t, p, xi, yi, zi, xs, fs, wrapped,
                                                       bx, by, bz)
                        e += u
                        w += v
                        fx += gx
                        fy += gy
                        fz += gz
            fs[s, 0] += fx
            fs[s, 1] += fy
            if D == 3:
                fs[s, 2] += fz
        return e, w

    def _neighbor(x, nl, half_skin2, table, S, scratch, F, accumulate):
        sa = nl.slot_atom
        ssp = nl.slot_species
        ref = nl.ref
        row_start = nl.row_start
        row_wrap = nl.row_wrap
        row_end = nl.row_end
        nbr = nl.nbr
        chunk_start = nl.chunk_start
        phase_start = nl.phase_start
        unit_start = nl.unit_start
        ranges = nl.ranges
        box = nl.box
        periodic = nl.periodic
        xs = scratch.xs
        fs = scratch.fs
        unit_e = scratch.unit_e
        unit_w = scratch.unit_w
        chunk_d = scratch.chunk_d
        nc = chunk_start.shape[0] - 1
        # 1. gather positions into slot order (continuous around the build positions),
        #    zero the slot forces, largest displacement per chunk.  The displacement
        #    loop repeats ``neighbors._max_disp2`` on purpose: fused with the gather it
        #    costs no second pass over the positions every step
        for q in prange(nc):
            m = 0.0
            for s in range(chunk_start[q], chunk_start[q + 1]):
                a = sa[s]
                r2 = 0.0
                for k in range(D):
                    v = x[a, k]
                    d = v - ref[s, k]
                    if periodic:
                        shift = box[k] * np.rint(d / box[k])
                        v -= shift
                        d -= shift
                    xs[s, k] = v
                    fs[s, k] = 0.0
                    r2 += d * d
                if r2 > m:
                    m = r2
            chunk_d[q] = m
        dmax = 0.0
        for q in range(nc):
            if chunk_d[q] > dmax:
                dmax = chunk_d[q]
        if dmax > half_skin2:
            return False, 0.0, 0.0, dmax
        # 2. the four colours in turn; units of one colour write disjoint atoms, so the
        #    thread that runs a unit does not matter.  Every worker replays the same
        #    greedy assignment (units sorted by decreasing work, each to the least
        #    loaded worker) and runs its own units.
        nw = min(numba.get_num_threads(), scratch.loads.shape[0])
        for p in range(4):
            for wk in prange(nw):
                loads = scratch.loads[wk]
                for j in range(nw):
                    loads[j] = 0
                for u in range(phase_start[p], phase_start[p + 1]):
                    best = 0
                    for j in range(1, nw):
                        if loads[j] < loads[best]:
                            best = j
                    loads[best] += nl.unit_work[u] + 1
                    if best != wk:
                        continue
                    e = 0.0
                    w = 0.0
                    for r in range(unit_start[u], unit_start[u + 1]):
                        de, dw = rows(ranges[r, 0], ranges[r, 1], xs, fs, ssp, row_start,
                                      row_wrap, row_end, nbr, table, S, box)
                        e += de
                        w += dw
                    unit_e[u] = e
                    unit_w[u] = w
        # 3. scatter forces to atom order; fixed-order sums of energy and virial
        for q in prange(nc):
            for s in range(chunk_start[q], chunk_start[q + 1]):
                a = sa[s]
                for k in range(D):
                    if accumulate:
                        F[a, k] += fs[s, k]
                    else:
                        F[a, k] = fs[s, k]
        e = 0.0
        w = 0.0
        for u in range(unit_e.shape[0]):
            e += unit_e[u]
            w += unit_w[u]
        return True, e, w, dmax

    all_pairs = numba.njit(**_JIT)(all_pairs_source(pair, _np_rint, D))

    @numba.njit(parallel=True, **_JIT)
    def batch_all_pairs(X, species, table, S, box, periodic, E, F, W):
        for r in prange(X.shape[0]):
            Fr = F[r]
            for i in range(X.shape[1]):
                for k in range(D):
                    Fr[i, k] = 0.0
            e, w = all_pairs(X[r], species, table, S, box, periodic, Fr)
            E[r] = e
            W[r] = w

    return PairKernels(
        neighbor=numba.njit(parallel=True, **_JIT)(_neighbor),
        neighbor_serial=numba.njit(**_JIT)(_neighbor),
        all_pairs=all_pairs,
        batch_all_pairs=batch_all_pairs,
    )


def _make_bond_kernels(pair: Callable, D: int) -> BondKernels:
    @numba.njit(**_JIT)
    def bonds(x, bl, table, box, periodic, F):
        e = 0.0
        w = 0.0
        for b in range(bl.shape[0]):
            i = bl[b, 0]
            j = bl[b, 1]
            dx = x[i, 0] - x[j, 0]
            dy = x[i, 1] - x[j, 1]
            if periodic:
                dx -= box[0] * np.rint(dx / box[0])
                dy -= box[1] * np.rint(dy / box[1])
            r2 = dx * dx + dy * dy
            dz = 0.0
            if D == 3:
                dz = x[i, 2] - x[j, 2]
                if periodic:
                    dz -= box[2] * np.rint(dz / box[2])
                r2 += dz * dz
            u, f = pair(r2, table[b])
            e += u
            w += f * r2
            F[i, 0] += f * dx
            F[i, 1] += f * dy
            F[j, 0] -= f * dx
            F[j, 1] -= f * dy
            if D == 3:
                F[i, 2] += f * dz
                F[j, 2] -= f * dz
        return e, w

    @numba.njit(parallel=True, **_JIT)
    def batch_bonds(X, bl, table, box, periodic, E, F, W):
        for r in prange(X.shape[0]):
            e, w = bonds(X[r], bl, table, box, periodic, F[r])
            E[r] += e
            W[r] += w

    return BondKernels(bonds=bonds, batch_bonds=batch_bonds)


_PAIR_KERNELS: dict[tuple[int, int], tuple[Callable, PairKernels]] = {}
_BOND_KERNELS: dict[tuple[int, int], tuple[Callable, BondKernels]] = {}


def _pair_fn(potential_or_pair) -> Callable:
    return getattr(potential_or_pair, "pair", potential_or_pair)


def pair_kernels(potential, dim: int) -> PairKernels:
    """Compiled non-bonded kernels for a potential's pair function (built once per process).

    Parameters
    ----------
    potential : PairPotential or numba dispatcher
        A potential, or a CPU pair function ``pair(r2, p) -> (u, f_over_r)``.
    dim : int
        Spatial dimension, 2 or 3.

    Returns
    -------
    PairKernels
    """
    return _cached(_PAIR_KERNELS, _make_pair_kernels, potential, dim)


def bond_kernels(potential, dim: int) -> BondKernels:
    """Compiled bonded kernels for a potential's pair function (built once per process).

    Parameters
    ----------
    potential : BondPotential or numba dispatcher
        A bonded potential, or a CPU pair function.
    dim : int
        Spatial dimension, 2 or 3.

    Returns
    -------
    BondKernels
    """
    return _cached(_BOND_KERNELS, _make_bond_kernels, potential, dim)


def _cached(cache: dict, make, potential, dim: int):
    """Kernels ``make(pair, dim)`` for a potential's pair function, built once per process."""
    check_int("dim", dim, lo=2, hi=3)
    pair = _pair_fn(potential)
    key = (id(pair), dim)
    hit = cache.get(key)
    if hit is None or hit[0] is not pair:
        hit = (pair, make(pair, dim))
        cache[key] = hit
    return hit[1]


# ---------------------------------------------------------------------------
# Python-level evaluation
# ---------------------------------------------------------------------------
def _as_terms(potentials) -> list:
    terms = [potentials] if isinstance(potentials, (PairPotential, BondPotential)) else list(
        potentials)
    for p in terms:
        if not isinstance(p, (PairPotential, BondPotential)):
            raise ValueError(f"potentials must be PairPotential or BondPotential objects, got "
                             f"{type(p).__name__}")
    return terms


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
    """

    xs: np.ndarray
    fs: np.ndarray
    unit_e: np.ndarray
    unit_w: np.ndarray
    chunk_d: np.ndarray
    loads: np.ndarray


def make_scratch(neighbors: NeighborList) -> ForceScratch:
    """Scratch arrays for the neighbor kernel, cached on the list while its shape lasts.

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
                           np.empty(units), np.empty(chunks), np.zeros((t, t), dtype=np.int64))
        neighbors._force_scratch = scr
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
        if isinstance(p, PairPotential):
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
    potentials : PairPotential, BondPotential or sequence of them
        The terms of the energy (summed).
    neighbors : NeighborList, optional
        Neighbor list for the pair terms; rebuilt automatically when stale
        (never built, other box, or an atom moved more than ``skin / 2``).
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
    return _evaluate(system.positions, system.species, system.box, _as_terms(potentials),
                     neighbors)


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


def compute_forces_batch(positions, potentials, *, species=None, box=None) -> BatchResult:
    """Energies, forces and virials of ``R`` replicas of one small system.

    All replicas share species, bonds and box; they run in one compiled loop
    with replicas spread over threads (all-pairs within each replica).  Results
    are independent of the number of threads.

    Parameters
    ----------
    positions : array_like, shape (R, N, d)
        Positions of every replica.
    potentials : PairPotential, BondPotential or sequence of them
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
        if isinstance(p, PairPotential):
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

