"""CUDA kernels for particle systems: pair forces with cell lists, integrators, replicas.

Two layouts, as on the CPU (:mod:`langevin_opt.particles.dynamics`):

One large system (:class:`SystemDriver`, behind ``Dynamics(..., backend="cuda")``)
    One thread per atom and a few launches per step: the first half of the step
    (:func:`~langevin_opt.particles._update.first_half_atom` of the CPU integrators,
    the same source), the
    neighbour-list rebuild when an atom has moved more than ``skin / 2`` since
    the last build (cell binning and list building on the device, skipped on
    the device itself when no rebuild is needed: no host round trip), the forces
    and the final half kick (``kick_atom``).  The host only reads back at the
    recording interval: positions, velocities, forces, and the potential energy
    and virial reduced on the device.  The recording loop itself is the one of
    :meth:`langevin_opt.particles.Dynamics.run`.
Many replicas of a small system (:func:`run_replicas`, behind
``run_replicas(..., backend="cuda")``)
    One thread per replica running *all* steps of the call, with the CPU
    kernels' all-pairs loop (same order of operations) and spherical container.

Forces
------
Each atom sums over its *full* neighbour list (both directions of every pair,
sorted by atom index so that the order of the sum is deterministic; stored as
int32 ``(capacity, N)`` so that the loads of a warp are coalesced), so no
atomic additions are needed; the potential energy and virial are reduced per
atom (``u / 2`` and ``f r^2 / 2`` per pair) and then in fixed-size chunks.
The CPU kernels use half lists (Newton's third law) and a different summation
order: forces, energies and virials agree to rounding (``~1e-15`` relative per
force, ``~1e-13`` for the totals of thousands of atoms), not bit for bit, and a
trajectory of a chaotic liquid then departs from the CPU one at the rate set by
its Lyapunov exponent.  Batched replicas use the CPU's loop order and are
bit-identical under the simulator.

Random numbers: the noise of component ``k`` of atom ``i`` at step ``s`` is
``normal2(seed, stream0 + i, s, k // 2, PURPOSE_NOISE)``, exactly as on the CPU.
"""

from __future__ import annotations

import math
import types as _pytypes
from collections.abc import Callable

import numba
import numpy as np
from numba import cuda  # a module global: the simulator swaps it for its fake module

from ..core.codes import OVERDAMPED as _OVERDAMPED
from ..particles import _update as upd
from ..particles.forces import all_pairs_source
from . import _device as dv
from .backend import require, simulator

__all__ = ["SystemDriver", "run_replicas", "kernel_sources", "replica_kernels",
           "system_kernels"]

#: Atoms per chunk of the on-device reduction of energies and virials.
REDUCE_CHUNK = 256

_tpb, _blocks = dv.threads_per_block, dv.blocks


def _devjit(pyfn: Callable) -> Callable:
    # device-callable form of a Python source: the source itself under the simulator
    # (it takes arrays), an inline njit function otherwise (numba-cuda compiles it)
    if simulator():
        return pyfn
    return numba.njit(inline="always", error_model="numpy")(pyfn)


def _rebind(fn: Callable, **names: object) -> Callable:
    """The Python source of ``fn`` with some of its global names bound to other objects.

    The particle integrators' update math (:func:`~langevin_opt.particles._update.
    first_half_atom`) draws its noise through ``langevin_opt.rng.normal2``, whose
    ``np.sqrt`` numba-cuda cannot compile; rebinding its ``noise`` helper to one that calls
    :func:`langevin_opt.cuda._device.normal2` (the same numbers) keeps one source
    for the update math on both targets.
    """
    f = getattr(fn, "py_func", fn)
    g = dict(f.__globals__)
    g.update(names)
    return _pytypes.FunctionType(f.__code__, g, f.__name__, f.__defaults__, f.__closure__)


_SHARED: dict[str, Callable] = {}


def _shared() -> dict[str, Callable]:
    """The integrators' per-atom update functions in device-callable form."""
    if not _SHARED:
        noise = numba.njit(inline="always", error_model="numpy")(
            _rebind(upd.noise, normal2=dv.normal2))
        _SHARED["first_half"] = _devjit(_rebind(upd.first_half_atom, noise=noise))
        _SHARED["kick"] = _devjit(getattr(upd.kick_atom, "py_func", upd.kick_atom))
    return _SHARED


def _rint(t):  # pragma: no cover - compiled
    # nearest integer for the minimum image (np.rint is not available on the device;
    # floor(t + 1/2) differs from it only at exact half-integers, never in practice)
    return math.floor(t + 0.5)


# ---------------------------------------------------------------------------
# batched replicas of a small system (one thread per replica)
# ---------------------------------------------------------------------------
def replica_kernels(pair: Callable, D: int) -> dict[str, Callable]:
    """Python sources of the replica kernels for one pair function and dimension.

    Parameters
    ----------
    pair : numba dispatcher
        Scalar pair function ``pair(r2, p) -> (u, f_over_r)``.
    D : int
        Dimension (2 or 3).

    Returns
    -------
    dict
        ``"run"`` and ``"evaluate"`` kernels as Python functions (decorate with
        ``cuda.jit``); arguments as the CPU ``run_replicas`` kernels without bonds.
    """
    pr = dv.device_fn(pair)
    rint = _devjit(_rint)
    sh = _shared()
    first_half, kick = sh["first_half"], sh["kick"]
    container_wall = _devjit(upd.container_wall_py)

    # the CPU's all-pairs loop (particles.forces.all_pairs_source, the same source in its
    # order of operations) compiled for the device with floor(t + 1/2) for np.rint
    all_pairs = _devjit(all_pairs_source(pr, rint, D))

    def forces_py(x, species, table, S, box, periodic, wall, F):
        # the CPU's batch_all_pairs + container for one replica
        n = x.shape[0]
        for i in range(n):
            for k in range(D):
                F[i, k] = 0.0
        e, w = all_pairs(x, species, table, S, box, periodic, F)
        if wall[1] > 0.0:
            e, w = container_wall(x, wall, F, e, w)
        return e, w

    forces = _devjit(forces_py)

    def run_kernel(code, X, V, F, E, W, minv, species, ptab, S, box, periodic, wall, dt, c1,
                   temps, tfac, seed, streams, step0, n_steps, status):
        r = cuda.grid(1)
        if r >= X.shape[0]:
            return
        if status[r] >= 0:
            return
        n = X.shape[1]
        x = X[r]
        v = V[r]
        f = F[r]
        base = streams[r] * n
        # one thread per replica: the device variant of the CPU's prange over replicas
        # (particles._replica_template "run"), kept as its own loop because the
        # device has no bonds and exits a thread where the CPU continues its prange; the
        # per-atom math and the force loop are the shared sources
        for s in range(n_steps):
            T = temps[r] * tfac[s]
            step = step0 + s
            for i in range(n):
                first_half(code, i, x, v, f, minv, dt, c1, T, seed, base + i, step)
            e, w = forces(x, species, ptab, S, box, periodic, wall, f)
            if code != _OVERDAMPED:
                for i in range(n):
                    kick(i, v, f, minv, 0.5 * dt)
            E[r] = e
            W[r] = w
            # the CPU's test: the virial catches infinite forces at a finite energy
            if not (math.isfinite(e) and math.isfinite(w)):
                status[r] = step + 1
                break

    def evaluate_kernel(X, F, E, W, species, ptab, S, box, periodic, wall):
        r = cuda.grid(1)
        if r >= X.shape[0]:
            return
        e, w = forces(X[r], species, ptab, S, box, periodic, wall, F[r])
        E[r] = e
        W[r] = w

    return {"run": run_kernel, "evaluate": evaluate_kernel}


def replica_signatures(D: int) -> dict[str, tuple]:
    """Argument types of the replica kernels (for ``cuda.compile_ptx``).

    Parameters
    ----------
    D : int
        Dimension.

    Returns
    -------
    dict
        ``"run"`` and ``"evaluate"`` -> tuple of numba types.
    """
    from numba import types as t

    a3, a2, a1 = t.float64[:, :, ::1], t.float64[:, ::1], t.float64[::1]
    i1, f, i = t.int64[::1], t.float64, t.int64
    return {
        "run": (i, a3, a3, a3, a1, a1, a1, i1, a2, i, a1, t.boolean, a1, f, f, a1, a1,
                t.uint64, i1, i, i, i1),
        "evaluate": (a3, a3, a1, a1, i1, a2, i, a1, t.boolean, a1),
    }


_REPLICA_CACHE: dict = {}


def _compiled(cache: dict, make: Callable, pair: Callable, D: int) -> dict[str, Callable]:
    # the kernels of make(pair, D), compiled once per (pair function, dimension)
    key = (id(pair), D)
    hit = cache.get(key)
    if hit is None or hit[0] is not pair:
        hit = (pair, {k: cuda.jit(v) for k, v in make(pair, D).items()})
        cache[key] = hit
    return hit[1]


def _replica_compiled(pair: Callable, D: int) -> dict[str, Callable]:
    return _compiled(_REPLICA_CACHE, replica_kernels, pair, D)


def run_replicas(pair: Callable, X: np.ndarray, V: np.ndarray, code: int, dt: float,
                 c1: float, minv: np.ndarray, species: np.ndarray, ptab: np.ndarray, S: int,
                 box: np.ndarray, periodic: bool, wall: np.ndarray, temps: np.ndarray,
                 tfac: np.ndarray, seed: int, ids: np.ndarray, step0: int, n_steps: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate, then advance ``R`` replicas on the GPU: the CPU replica kernels' arrays.

    Called by :func:`langevin_opt.particles.run_replicas` with ``backend="cuda"``
    after its validation (bond terms are refused there: the GPU kernels have none).

    Parameters
    ----------
    pair : numba dispatcher
        Scalar pair function ``pair(r2, p) -> (u, f_over_r)``.
    X, V : numpy.ndarray, shape (R, N, d)
        Positions and velocities (length, length / time units), updated in place.
    code : int
        Integrator code (:mod:`langevin_opt.core.codes`).
    dt : float
        Time step (time units).
    c1 : float
        :func:`langevin_opt.particles._update.friction_factor` of the integrator.
    minv : numpy.ndarray, shape (N,)
        Inverse masses (1 / mass units).
    species : numpy.ndarray of int64, shape (N,)
    ptab : numpy.ndarray, shape (S * S, k)
        Pair parameter table.
    S : int
        Number of species.
    box : numpy.ndarray, shape (d,)
        Box edges (length units; ignored unless ``periodic``).
    periodic : bool
    wall : numpy.ndarray, shape (2,)
        Spherical container ``(radius, k)`` (``k = 0``: none).
    temps : numpy.ndarray, shape (R,)
        Temperatures (energy units).
    tfac : numpy.ndarray, shape (n_steps,)
        Schedule factors of the steps.
    seed : int
        Generator key.
    ids : numpy.ndarray of int64, shape (R,)
        Replica stream ids.
    step0, n_steps : int
        First global step and number of steps.

    Returns
    -------
    (F, E, W, status)
        Forces (R, N, d), energies (R,), virials (R,), and per replica ``-1`` or the
        step at which it became non-finite.

    Raises
    ------
    BackendUnavailableError
        Without a usable GPU.
    """
    require()
    r, n, d = X.shape
    k = _replica_compiled(pair, d)
    dX = cuda.to_device(X)
    dV = cuda.to_device(V)
    dF = cuda.device_array_like(X)
    dE = cuda.device_array(r)
    dW = cuda.device_array(r)
    sp = cuda.to_device(np.ascontiguousarray(species, dtype=np.int64))
    tab = cuda.to_device(np.ascontiguousarray(ptab))
    dbox = cuda.to_device(np.ascontiguousarray(box, dtype=np.float64))
    dwall = cuda.to_device(np.ascontiguousarray(wall, dtype=np.float64))
    status = np.full(r, -1, dtype=np.int64)
    grid, tpb = _blocks(r), _tpb()
    with dv.nvvm_fma():
        k["evaluate"][grid, tpb](dX, dF, dE, dW, sp, tab, np.int64(S), dbox, bool(periodic),
                                 dwall)
        if n_steps:
            dstatus = cuda.to_device(status)
            k["run"][grid, tpb](
                np.int64(code), dX, dV, dF, dE, dW,
                cuda.to_device(np.ascontiguousarray(minv, dtype=np.float64)), sp, tab,
                np.int64(S), dbox, bool(periodic), dwall, np.float64(dt), np.float64(c1),
                cuda.to_device(np.ascontiguousarray(temps, dtype=np.float64)),
                cuda.to_device(np.ascontiguousarray(tfac, dtype=np.float64)),
                np.uint64(seed), cuda.to_device(np.ascontiguousarray(ids, dtype=np.int64)),
                np.int64(step0), np.int64(n_steps), dstatus)
            status = dstatus.copy_to_host()
    X[...] = dX.copy_to_host()
    V[...] = dV.copy_to_host()
    return dF.copy_to_host(), dE.copy_to_host(), dW.copy_to_host(), status


# ---------------------------------------------------------------------------
# one large system (one thread per atom, a few launches per step)
# ---------------------------------------------------------------------------
def system_kernels(pair: Callable, D: int) -> dict[str, Callable]:
    """Python sources of the single-system kernels for one pair function and dimension.

    Parameters
    ----------
    pair : numba dispatcher
        Scalar pair function.
    D : int
        Dimension (2 or 3).

    Returns
    -------
    dict
        Kernels ``first_half``, ``kick``, ``clear_cells``, ``bin``, ``build``,
        ``forces_list``, ``forces_all``, ``reduce`` as Python functions (see
        :func:`system_signatures` for their arguments).
    """
    pr = dv.device_fn(pair)
    rint = _devjit(_rint)
    sh = _shared()
    first_half_atom, kick_atom = sh["first_half"], sh["kick"]

    def pair_term_py(x, i, j, species, table, base, box, periodic):
        # one term of atom i's sum over its full list (forces_list) or all atoms
        # (forces_all): minimum-image separation, pair energy and force over r
        dx = x[i, 0] - x[j, 0]
        dy = x[i, 1] - x[j, 1]
        if periodic:
            dx -= box[0] * rint(dx / box[0])
            dy -= box[1] * rint(dy / box[1])
        r2 = dx * dx + dy * dy
        dz = 0.0
        if D == 3:
            dz = x[i, 2] - x[j, 2]
            if periodic:
                dz -= box[2] * rint(dz / box[2])
            r2 += dz * dz
        u, fr = pr(r2, table[base + species[j]])
        return u, fr, dx, dy, dz, r2

    def cell_coord_py(x, i, k, box, nc):
        # cell index of atom i along axis k (positions wrapped into the box)
        u = x[i, k] - box[k] * math.floor(x[i, k] / box[k])
        ck = int(u / box[k] * nc[k])
        if ck >= nc[k]:
            ck = nc[k] - 1
        if ck < 0:
            ck = 0
        return ck

    def store_atom_py(i, fx, fy, fz, e, w, F, Ea, Wa, status, step):
        # atom i's force, half its pair energy and virial (each pair is summed from both
        # ends); a non-finite one marks the step
        F[i, 0] = fx
        F[i, 1] = fy
        if D == 3:
            F[i, 2] = fz
        Ea[i] = 0.5 * e
        Wa[i] = 0.5 * w
        if not (math.isfinite(e) and math.isfinite(fx + fy + fz)):
            cuda.atomic.min(status, 0, step)

    pair_term = _devjit(pair_term_py)
    store_atom = _devjit(store_atom_py)
    cell_coord = _devjit(cell_coord_py)

    def first_half(code, x, v, f, minv, dt, c1, T, seed, stream0, step, xref, half_skin2,
                   flag):
        # the integrators' first half step, then the neighbour-list skin test
        i = cuda.grid(1)
        if i >= x.shape[0]:
            return
        first_half_atom(code, i, x, v, f, minv, dt, c1, T, seed, stream0 + i, step)
        d2 = 0.0
        for k in range(D):
            t = x[i, k] - xref[i, k]
            d2 += t * t
        if not d2 <= half_skin2:  # also for a non-finite position
            flag[0] = 1

    def kick(v, f, minv, h):
        i = cuda.grid(1)
        if i >= v.shape[0]:
            return
        kick_atom(i, v, f, minv, h)

    def clear_cells(count, flag):
        c = cuda.grid(1)
        if flag[0] == 0 or c >= count.shape[0]:
            return
        count[c] = 0

    def bin_atoms(x, box, nc, count, cells, flag):
        # cell of each (unwrapped) atom; slots in a cell are taken by atomic increments
        # (their order does not matter: neighbour lists are sorted afterwards)
        i = cuda.grid(1)
        if flag[0] == 0 or i >= x.shape[0]:
            return
        c = 0
        for k in range(D):
            c = c * nc[k] + cell_coord(x, i, k, box, nc)
        slot = cuda.atomic.add(count, c, 1)
        if slot < cells.shape[1]:
            cells[c, slot] = i
        else:
            flag[1] = 1  # cell overflow: the host grows the cells and redoes the stretch

    def build(x, box, periodic, nc, count, cells, rl2, nbr, nn, xref, flag):
        i = cuda.grid(1)
        if flag[0] == 0 or i >= x.shape[0]:
            return
        cap = nbr.shape[0]
        m = 0
        ci0 = 0
        ci1 = 0
        ci2 = 0
        cc = 0
        for k in range(D):
            ck = cell_coord(x, i, k, box, nc)
            if k == 0:
                ci0 = ck
            elif k == 1:
                ci1 = ck
            else:
                ci2 = ck
        r0 = 1 if nc[0] >= 3 else 0
        r1 = 1 if nc[1] >= 3 else 0
        r2_ = 1 if (D == 3 and nc[D - 1] >= 3) else 0
        for a in range(-r0, r0 + 1):
            c0 = (ci0 + a) % nc[0]
            for b in range(-r1, r1 + 1):
                c1_ = (ci1 + b) % nc[1]
                for g in range(-r2_, r2_ + 1):
                    if D == 3:
                        cc = (c0 * nc[1] + c1_) * nc[2] + (ci2 + g) % nc[2]
                    else:
                        cc = c0 * nc[1] + c1_
                    cnt = count[cc]
                    if cnt > cells.shape[1]:
                        cnt = cells.shape[1]
                    for s in range(cnt):
                        j = cells[cc, s]
                        if j == i:
                            continue
                        r2 = 0.0
                        for k in range(D):
                            t = x[i, k] - x[j, k]
                            if periodic:
                                t -= box[k] * rint(t / box[k])
                            r2 += t * t
                        if r2 < rl2:
                            if m < cap:
                                # insertion keeps the list sorted by atom index
                                p = m
                                while p > 0 and nbr[p - 1, i] > j:
                                    nbr[p, i] = nbr[p - 1, i]
                                    p -= 1
                                nbr[p, i] = j
                            m += 1
        nn[i] = m
        if m > cap:
            flag[2] = 1  # list overflow: the host grows the lists and redoes the stretch
        for k in range(D):
            xref[i, k] = x[i, k]

    def forces_list(x, species, table, S, box, periodic, nbr, nn, F, Ea, Wa, flag,
                    status, step):
        i = cuda.grid(1)
        if i == 0:
            flag[0] = 0  # the rebuild (if any) is done: every kernel before this one ran
        if i >= x.shape[0]:
            return
        base = species[i] * S
        fx = 0.0
        fy = 0.0
        fz = 0.0
        e = 0.0
        w = 0.0
        cnt = nn[i]
        if cnt > nbr.shape[0]:
            cnt = nbr.shape[0]
        for q in range(cnt):
            j = nbr[q, i]
            u, fr, dx, dy, dz, r2 = pair_term(x, i, j, species, table, base, box, periodic)
            e += u
            w += fr * r2
            fx += fr * dx
            fy += fr * dy
            fz += fr * dz
        store_atom(i, fx, fy, fz, e, w, F, Ea, Wa, status, step)

    def forces_all(x, species, table, S, box, periodic, F, Ea, Wa, status, step):
        # all pairs (clusters, small boxes): the same sum over j != i in index order.
        # Its accumulation repeats forces_list's on purpose: two kernels specialised by
        # where j comes from (no neighbour-list branch or loads per pair); the per-pair
        # math is the shared pair_term and store_atom
        i = cuda.grid(1)
        if i >= x.shape[0]:
            return
        base = species[i] * S
        fx = 0.0
        fy = 0.0
        fz = 0.0
        e = 0.0
        w = 0.0
        for j in range(x.shape[0]):
            if j == i:
                continue
            u, fr, dx, dy, dz, r2 = pair_term(x, i, j, species, table, base, box, periodic)
            e += u
            w += fr * r2
            fx += fr * dx
            fy += fr * dy
            fz += fr * dz
        store_atom(i, fx, fy, fz, e, w, F, Ea, Wa, status, step)

    def reduce(Ea, Wa, v, m, out):
        # per chunk of REDUCE_CHUNK atoms, in index order: potential energy, virial,
        # kinetic energy (sum m v^2 / 2); the host adds the chunk sums
        c = cuda.grid(1)
        lo = c * REDUCE_CHUNK
        if lo >= Ea.shape[0]:
            return
        hi = min(lo + REDUCE_CHUNK, Ea.shape[0])
        e = 0.0
        w = 0.0
        k2 = 0.0
        for i in range(lo, hi):
            e += Ea[i]
            w += Wa[i]
            s = 0.0
            for k in range(D):
                s += v[i, k] * v[i, k]
            k2 += m[i] * s
        out[c, 0] = e
        out[c, 1] = w
        out[c, 2] = 0.5 * k2

    return {"first_half": first_half, "kick": kick, "clear_cells": clear_cells,
            "bin": bin_atoms, "build": build, "forces_list": forces_list,
            "forces_all": forces_all, "reduce": reduce}


def system_signatures() -> dict[str, tuple]:
    """Argument types of the single-system kernels (for ``cuda.compile_ptx``).

    Returns
    -------
    dict
        Kernel name -> tuple of numba types.
    """
    from numba import types as t

    a2, a1 = t.float64[:, ::1], t.float64[::1]
    i1, i2, f, i, b = t.int64[::1], t.int64[:, ::1], t.float64, t.int64, t.boolean
    n2 = t.int32[:, ::1]
    return {
        "first_half": (i, a2, a2, a2, a1, f, f, f, t.uint64, i, i, a2, f, i1),
        "kick": (a2, a2, a1, f),
        "clear_cells": (i1, i1),
        "bin": (a2, a1, i1, i1, i2, i1),
        "build": (a2, a1, b, i1, i1, i2, f, n2, i1, a2, i1),
        "forces_list": (a2, i1, a2, i, a1, b, n2, i1, a2, a1, a1, i1, i1, i),
        "forces_all": (a2, i1, a2, i, a1, b, a2, a1, a1, i1, i),
        "reduce": (a1, a1, a2, a1, a2),
    }


_SYSTEM_CACHE: dict = {}


def _system_compiled(pair: Callable, D: int) -> dict[str, Callable]:
    return _compiled(_SYSTEM_CACHE, system_kernels, pair, D)


def _clone(a):
    b = cuda.device_array_like(a)
    b.copy_to_device(a)
    return b


_NO_STATUS = np.iinfo(np.int64).max


class SystemDriver:
    """GPU driver of one particle system: arrays in, arrays out (``Dynamics(backend="cuda")``).

    Holds positions, velocities, forces, neighbour lists and cells on the device.
    :class:`langevin_opt.particles.Dynamics` validates its arguments, runs the one
    recording loop of the package's particle dynamics, and calls :meth:`load` (new
    host state), :meth:`advance` (``k`` steps between two records or frames) and
    :meth:`read` (the state, energy and virial for the records); the same loop
    calls the CPU update math when ``backend="cpu"``.

    Parameters
    ----------
    pair : numba dispatcher
        Scalar pair function ``pair(r2, p) -> (u, f_over_r)``.
    table : numpy.ndarray
        Pair parameter table of the potential.
    n_species : int
        Number of species of the table.
    species : numpy.ndarray of int64, shape (N,)
        Species of every atom.
    masses : numpy.ndarray, shape (N,)
        Masses (mass units).
    box : numpy.ndarray, shape (d,), or None
        Periodic box edges (length units); None for an open cluster.
    neighbors : (float, float) or None
        ``(cutoff, skin)`` of the neighbour list (length units); None: all pairs.
    dim : int
        Dimension (2 or 3).

    Raises
    ------
    BackendUnavailableError
        Without a usable GPU.
    """

    def __init__(self, pair: Callable, table: np.ndarray, n_species: int,
                 species: np.ndarray, masses: np.ndarray, box: np.ndarray | None,
                 neighbors: tuple[float, float] | None, dim: int) -> None:
        require()
        n, d = species.shape[0], int(dim)
        self.n, self.d = n, d
        self.n_species = int(n_species)
        self.k = _system_compiled(pair, d)
        self.periodic = box is not None
        self.box = np.ascontiguousarray(box if self.periodic else np.ones(d), dtype=np.float64)
        self.use_list = neighbors is not None
        zeros = np.zeros((n, d))
        self.dX = cuda.to_device(zeros)
        self.dV = cuda.to_device(zeros)
        self.dF = cuda.to_device(zeros)
        m = np.ascontiguousarray(masses, dtype=np.float64)
        self.dminv = cuda.to_device(1.0 / m)
        self.dm = cuda.to_device(m)
        self.dsp = cuda.to_device(np.ascontiguousarray(species, dtype=np.int64))
        self.dtab = cuda.to_device(np.ascontiguousarray(table))
        self.dbox = cuda.to_device(self.box)
        self.dEa = cuda.device_array(n)
        self.dWa = cuda.device_array(n)
        self.n_chunks = (n + REDUCE_CHUNK - 1) // REDUCE_CHUNK
        self.dred = cuda.device_array((self.n_chunks, 3))
        self.dstatus = cuda.to_device(np.full(1, _NO_STATUS, dtype=np.int64))
        self.flag = cuda.to_device(np.array([1, 0, 0], dtype=np.int64))  # rebuild first
        self.dxref = cuda.to_device(zeros)
        self.step = 0
        if self.use_list:
            cutoff, skin = neighbors
            rl = cutoff + skin
            self.rl2 = rl * rl
            self.half_skin2 = 0.25 * skin * skin
            if self.periodic:
                nc = np.maximum(np.floor(self.box / rl).astype(np.int64), 1)
                nc[nc < 3] = 1
            else:  # open cluster with a list: one cell, all atoms (lists still cut at rl)
                nc = np.ones(d, dtype=np.int64)
            self.nc = nc
            self.dnc = cuda.to_device(nc)
            vol = float(np.prod(self.box)) if self.periodic else 1.0
            rho = n / vol if self.periodic else float(n)
            per_cell = n / float(np.prod(nc))
            sphere = (4.0 / 3.0 * math.pi * rl**3) if d == 3 else math.pi * rl * rl
            self.cell_cap = int(2 * per_cell) + 16
            self.nbr_cap = min(n, int(1.5 * rho * sphere) + 16) if self.periodic else n
            self._alloc_lists()
        else:
            self.half_skin2 = math.inf

    def _alloc_lists(self) -> None:
        ncell = int(np.prod(self.nc))
        self.dcount = cuda.device_array(ncell, dtype=np.int64)
        self.dcells = cuda.device_array((ncell, self.cell_cap), dtype=np.int64)
        # (capacity, N): neighbour q of consecutive atoms is contiguous (coalesced loads)
        self.dnbr = cuda.device_array((max(self.nbr_cap, 1), self.n), dtype=np.int32)
        self.dnn = cuda.device_array(self.n, dtype=np.int64)

    def _rebuild_and_forces(self, step: int) -> None:
        k, g, tpb = self.k, _blocks(self.n), _tpb()
        if self.use_list:
            ncell = int(np.prod(self.nc))
            k["clear_cells"][_blocks(ncell), tpb](self.dcount, self.flag)
            k["bin"][g, tpb](self.dX, self.dbox, self.dnc, self.dcount, self.dcells, self.flag)
            k["build"][g, tpb](self.dX, self.dbox, self.periodic, self.dnc, self.dcount,
                               self.dcells, np.float64(self.rl2), self.dnbr, self.dnn,
                               self.dxref, self.flag)
            k["forces_list"][g, tpb](self.dX, self.dsp, self.dtab, np.int64(self.n_species),
                                     self.dbox, self.periodic, self.dnbr, self.dnn, self.dF,
                                     self.dEa, self.dWa, self.flag, self.dstatus,
                                     np.int64(step))
        else:
            k["forces_all"][g, tpb](self.dX, self.dsp, self.dtab, np.int64(self.n_species),
                                    self.dbox, self.periodic, self.dF, self.dEa, self.dWa,
                                    self.dstatus, np.int64(step))

    def _overflowed(self) -> bool:
        if not self.use_list:
            return False
        f = self.flag.copy_to_host()
        if f[1] or f[2]:
            self.cell_cap = int(self.cell_cap * 1.5) + 8 if f[1] else self.cell_cap
            self.nbr_cap = min(self.n, int(self.nbr_cap * 1.5) + 8) if f[2] else self.nbr_cap
            self._alloc_lists()
            self.flag = cuda.to_device(np.array([1, 0, 0], dtype=np.int64))
            return True
        return False

    def load(self, x: np.ndarray, v: np.ndarray, step: int) -> None:
        """Upload a state (it may have changed on the host) and evaluate its forces.

        Parameters
        ----------
        x, v : numpy.ndarray, shape (N, d)
            Unwrapped positions (length units) and velocities (length / time units).
        step : int
            Global step of the state.
        """
        self.dX.copy_to_device(np.ascontiguousarray(x, dtype=np.float64))
        self.dV.copy_to_device(np.ascontiguousarray(v, dtype=np.float64))
        self.step = int(step)
        self.flag = cuda.to_device(np.array([1, 0, 0], dtype=np.int64))
        with dv.nvvm_fma():
            while True:
                self._rebuild_and_forces(self.step)
                if not self._overflowed():
                    break
                self.flag = cuda.to_device(np.array([1, 0, 0], dtype=np.int64))

    def advance(self, code: int, dt: float, c1: float, temps: np.ndarray, seed: int) -> int:
        """Take ``len(temps)`` steps on the device (no host round trip in between).

        Parameters
        ----------
        code : int
            Integrator code (:mod:`langevin_opt.core.codes`).
        dt : float
            Time step (time units).
        c1 : float
            :func:`langevin_opt.particles._update.friction_factor` of the integrator.
        temps : numpy.ndarray, shape (k,)
            Thermostat temperature of each step (energy units).
        seed : int
            Generator key; atom ``i`` uses stream ``i`` at global step ``step``.

        Returns
        -------
        int
            The first step at which an energy or force was non-finite, or -1.
        """
        g, tpb = _blocks(self.n), _tpb()
        k = self.k
        useed = np.uint64(seed)
        with dv.nvvm_fma():
            while True:
                # snapshot first, so that a cell or list overflow can be redone with
                # larger arrays
                snap = [_clone(a) for a in (self.dX, self.dV, self.dF, self.dxref)]
                for q, T in enumerate(temps):
                    step = self.step + q
                    k["first_half"][g, tpb](np.int64(code), self.dX, self.dV, self.dF,
                                            self.dminv, np.float64(dt), np.float64(c1),
                                            np.float64(T), useed, np.int64(0), np.int64(step),
                                            self.dxref, np.float64(self.half_skin2), self.flag)
                    self._rebuild_and_forces(step + 1)
                    if code != _OVERDAMPED:
                        k["kick"][g, tpb](self.dV, self.dF, self.dminv, np.float64(0.5 * dt))
                if not self._overflowed():
                    break
                self.dX, self.dV, self.dF, self.dxref = snap
                self.flag = cuda.to_device(np.array([1, 0, 0], dtype=np.int64))
        self.step += len(temps)
        bad = int(self.dstatus.copy_to_host()[0])
        return -1 if bad == _NO_STATUS else bad

    def read(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
        """The state now, with potential energy and virial reduced on the device.

        Returns
        -------
        (x, v, forces, energy, virial)
            Positions, velocities, forces (N, d) and the totals (energy units).
        """
        self.k["reduce"][_blocks(self.n_chunks), _tpb()](self.dEa, self.dWa, self.dV, self.dm,
                                                          self.dred)
        red = self.dred.copy_to_host()
        return (self.dX.copy_to_host(), self.dV.copy_to_host(), self.dF.copy_to_host(),
                float(red[:, 0].sum()), float(red[:, 1].sum()))


def kernel_sources() -> dict[str, tuple[Callable, tuple]]:
    """The particle kernels for Lennard-Jones and Morse in 2-D and 3-D.

    Returns
    -------
    dict
        Kernel name -> ``(Python function, argument types)``.
    """
    from ..particles.potentials import lj_pair, morse_pair

    out: dict[str, tuple[Callable, tuple]] = {}
    for pname, pair in (("lj", lj_pair), ("morse", morse_pair)):
        for D in (2, 3):
            sigs = replica_signatures(D)
            for kname, fn in replica_kernels(pair, D).items():
                out[f"particles.replicas.{kname}[{pname},{D}d]"] = (fn, sigs[kname])
            sigs = system_signatures()
            for kname, fn in system_kernels(pair, D).items():
                out[f"particles.system.{kname}[{pname},{D}d]"] = (fn, sigs[kname])
    return out
