"""Kernel template: the pair and bond force kernels of one pair function and dimension.

A :mod:`langevin_opt.core.jitcache` template: :func:`langevin_opt.particles.forces.pair_kernels`
and :func:`~langevin_opt.particles.forces.bond_kernels` call
``specialize(__name__, {"pair": <pair function>, "D": 2 or 3})``, which renders this
source with the two names bound into a generated module in the cache directory, so
that Numba's disk cache stores the compiled kernels (``cache=CACHE``).  The kernels
compile lazily: a call compiles only the kernel it runs.  Imported as an ordinary
module, the placeholders below stand in for the bindings (nothing is compiled);
:func:`~langevin_opt.particles.forces.all_pairs_source` takes the all-pairs loop's
source from here for the CUDA backend.

The kernels and their arguments are described in :mod:`langevin_opt.particles.forces`.
Imports are absolute: the generated module lives outside the package.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from langevin_opt.core.codes import OVERDAMPED
from langevin_opt.core.jitcache import import_template_default, twin
from langevin_opt.particles._update import all_finite, first_half_atom, kick_atom, kinetic

# jitcache: bindings
pair = import_template_default("pair")
bond = import_template_default("bond")
D = 3
CACHE = False
# jitcache: end

# Kernels allocate nothing (arrays come from the caller); no reference counting.
_JIT = {"nogil": True, "error_model": "numpy", "_nrt": False}


@numba.njit(inline="always", **_JIT)
def rint(t):
    # nearest integer (ties to even) for the CPU minimum image
    return np.rint(t)


def all_pairs_py(x, species, table, S, box, periodic, F):
    # The serial O(N^2) half loop; globals ``pair``, ``rint``, ``D``.  The CUDA replica
    # kernels compile this same source with their own ``rint`` (forces.all_pairs_source).
    # The pair displacement below repeats ``pair_update``'s on purpose: this loop keeps
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


def bonds_py(x, bl, table, box, periodic, F):
    # Bonded terms (globals ``pair``, ``D``): adds into F, returns (energy, virial).
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


all_pairs = numba.njit(cache=CACHE, **_JIT)(all_pairs_py)
bonds = numba.njit(cache=CACHE, **_JIT)(bonds_py)
# ``bonds_py`` with the ``bond`` binding as its pair function, for ``md_steps``: the same
# source (pinned bit for bit against the bond kernels)
bond_terms = numba.njit(cache=CACHE, **_JIT)(twin(bonds_py, "bond_terms_py", pair=bond))


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


def neighbor_py(x, nl, half_skin2, table, S, scratch, F, accumulate):
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
    # (the thread count comes from the caller through the scratch: a call of
    # numba.get_num_threads() here would keep the kernel out of the disk cache)
    nw = min(scratch.workers[0], scratch.loads.shape[0])
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


neighbor = numba.njit(parallel=True, cache=CACHE, **_JIT)(neighbor_py)
neighbor_serial = numba.njit(cache=CACHE, **_JIT)(twin(neighbor_py, "neighbor_serial_py"))


@numba.njit(parallel=True, cache=CACHE, **_JIT)
def batch_all_pairs(X, species, table, S, box, periodic, E, F, W):
    for r in prange(X.shape[0]):
        Fr = F[r]
        for i in range(X.shape[1]):
            for k in range(D):
                Fr[i, k] = 0.0
        e, w = all_pairs(X[r], species, table, S, box, periodic, Fr)
        E[r] = e
        W[r] = w


@numba.njit(parallel=True, cache=CACHE, **_JIT)
def batch_bonds(X, bl, table, box, periodic, E, F, W):
    for r in prange(X.shape[0]):
        e, w = bonds(X[r], bl, table, box, periodic, F[r])
        E[r] += e
        W[r] += w


# ---------------------------------------------------------------------------
# Dynamics over many steps in one compiled call (``Dynamics.run``)
# ---------------------------------------------------------------------------
def first_half_py(code, x, v, f, minv, dt, c1, T, seed, step):
    # everything of one step before the new force (atom i draws from stream i)
    for i in prange(x.shape[0]):
        first_half_atom(code, i, x, v, f, minv, dt, c1, T, seed, i, step)


def kick_py(v, f, minv, h):
    for i in prange(v.shape[0]):
        kick_atom(i, v, f, minv, h)


first_half = numba.njit(parallel=True, cache=CACHE, **_JIT)(first_half_py)
first_half_serial = numba.njit(cache=CACHE, **_JIT)(twin(first_half_py, "first_half_serial_py"))
kick = numba.njit(parallel=True, cache=CACHE, **_JIT)(kick_py)
kick_serial = numba.njit(cache=CACHE, **_JIT)(twin(kick_py, "kick_serial_py"))


def md_steps_py(code, x, v, F, minv, m, dt, c1, temps, seed, step0, start, skip_first,
                has_pair, use_list, nl, half_skin2, species, table, S, box, periodic,
                scratch, par, has_bonds, bonds_first, bl, btable, e, w, u_old, k_old,
                half_dof, jump_factor):
    # Steps start..len(temps)-1 of a stretch (step ``step0 + j`` at temperature
    # ``temps[j]``): the per-step path of ``Dynamics`` (first half, forces, closing
    # kick, divergence checks) with the same calls in the same order.  Forces: the
    # ``pair`` term (``has_pair``; over the neighbor list ``nl`` if ``use_list``, else
    # all pairs) and the ``bond`` term (``has_bonds``; bonds ``bl``, rows ``btable``),
    # summed in the order of the potentials (``bonds_first``).  ``skip_first``: the
    # first half of step ``start`` is done already (re-entry after a list rebuild).
    # Returns (status, next j, energy, virial, u_old, k_old, jump); status 0: done,
    # 1: the list is stale at step j (first half done, nothing else), 2: non-finite
    # values, 3: energy jump (both after step j - 1, which is counted as done).
    jump = 0.0
    h = 0.5 * dt
    n = x.shape[0]
    for j in range(start, temps.shape[0]):
        T = temps[j]
        step = step0 + j
        if not (skip_first and j == start):
            if par:
                first_half(code, x, v, F, minv, dt, c1, T, seed, step)
            else:
                first_half_serial(code, x, v, F, minv, dt, c1, T, seed, step)
        for i in range(n):
            for k in range(D):
                F[i, k] = 0.0
        e_tot = 0.0
        w_tot = 0.0
        if has_bonds and bonds_first:
            e0, w0 = bond_terms(x, bl, btable, box, periodic, F)
            e_tot += e0
            w_tot += w0
        if has_pair:
            if use_list:
                if par:
                    ok, e0, w0, _ = neighbor(x, nl, half_skin2, table, S, scratch, F, True)
                else:
                    ok, e0, w0, _ = neighbor_serial(x, nl, half_skin2, table, S, scratch, F,
                                                    True)
                if not ok:
                    return 1, j, e, w, u_old, k_old, jump
            else:
                e0, w0 = all_pairs(x, species, table, S, box, periodic, F)
            e_tot += e0
            w_tot += w0
        if has_bonds and not bonds_first:
            e0, w0 = bond_terms(x, bl, btable, box, periodic, F)
            e_tot += e0
            w_tot += w0
        e = e_tot
        w = w_tot
        if code != OVERDAMPED:
            if par:
                kick(v, F, minv, h)
            else:
                kick_serial(v, F, minv, h)
        k_new = kinetic(v, m)
        if not (np.isfinite(e + k_new) and all_finite(F) and all_finite(x)
                and (code == OVERDAMPED or all_finite(v))):
            return 2, j + 1, e, w, u_old, k_old, jump
        jump = abs(e + k_new - u_old - k_old)
        if jump > jump_factor * (abs(u_old) + k_old + half_dof * T):
            return 3, j + 1, e, w, u_old, k_old, jump
        u_old = e
        k_old = k_new
    return 0, temps.shape[0], e, w, u_old, k_old, jump


# no _nrt=False: the kernel calls the threaded kernels above
md_steps = numba.njit(cache=CACHE, nogil=True, error_model="numpy")(md_steps_py)
