"""Kernel template: the neighbor-list build kernels of one spatial dimension.

A :mod:`langevin_opt.core.jitcache` template:
:func:`langevin_opt.particles.neighbors.build_kernels` calls
``specialize(__name__, {"D": 2 or 3})``, which renders this source with ``D`` bound
into a generated module in the cache directory, so that Numba's disk cache stores
the compiled kernels (``cache=CACHE``).  Each kernel compiles on its first call.
The algorithm is described in :mod:`langevin_opt.particles.neighbors`.  Imports are
absolute: the generated module lives outside the package.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from langevin_opt.core.jitcache import twin

# jitcache: bindings
D = 3
CACHE = False
# jitcache: end

# Kernels allocate nothing (arrays come from NeighborList); no reference counting.
_JIT = {"nogil": True, "error_model": "numpy", "_nrt": False}


def assign_py(x, box, periodic, origin, cs, nc, stride, cell, xw):
    n = x.shape[0]
    for i in prange(n):
        c = 0
        for k in range(D):
            v = x[i, k]
            if periodic:
                v = v - box[k] * math.floor(v / box[k])
                if v >= box[k]:
                    v -= box[k]
            xw[i, k] = v
            q = int(math.floor((v - origin[k]) / cs[k]))
            if q < 0:
                q = 0
            if q >= nc[k]:
                q = nc[k] - 1
            c += q * stride[k]
        cell[i] = c


@numba.njit(cache=CACHE, **_JIT)
def sort_cells(cell, species, xw, cell_start, fill, sa, ssp, slot_cell, ref):
    # stable counting sort of atoms by cell -> slots
    n = cell.shape[0]
    nc = cell_start.shape[0] - 1
    for c in range(nc + 1):
        cell_start[c] = 0
    for i in range(n):
        cell_start[cell[i] + 1] += 1
    for c in range(nc):
        cell_start[c + 1] += cell_start[c]
    for c in range(nc):
        fill[c] = cell_start[c]
    for i in range(n):
        c = cell[i]
        s = fill[c]
        fill[c] = s + 1
        sa[s] = i
        ssp[s] = species[i]
        slot_cell[s] = c
        for k in range(D):
            ref[s, k] = xw[i, k]


@numba.njit(**_JIT)
def search_row(s, ref, box, periodic, mi_all, rcs2, ibox, fast, nc, stride, offs,
               slot_cell, cell_start, nbr, ptr, lim, fill):
    # Visit the half stencil of slot s.  Pass 0: own cell (t > s) and forward cells
    # reached without crossing a periodic face; pass 1: forward cells across a face
    # (minimum image).  With a collapsed periodic axis (mi_all) every pair is in
    # pass 1.  In fill mode every candidate is stored at nbr[ptr] and ptr advances
    # only for pairs inside the radius (branch-free); a cell that would pass lim
    # switches to counting.  Unsigned slot indices avoid negative-index wraparound
    # code.  Returns (ptr, start of the minimum-image segment, candidates, filled).
    # ``fast``: the minimum image multiplies by ``ibox = 1 / box`` instead of dividing
    # (the caller allows it only for a search radius below half the box, where the
    # two can pick different images only for pairs farther apart than the radius in
    # both images, so the list is the same, bit for bit).
    cidx = slot_cell[s]
    c0 = (cidx // stride[0]) % nc[0]
    c1 = (cidx // stride[1]) % nc[1]
    c2 = (cidx // stride[D - 1]) % nc[D - 1]
    xi0 = ref[s, 0]
    xi1 = ref[s, 1]
    xi2 = ref[s, D - 1]
    bx = box[0]
    by = box[1]
    bz = box[D - 1]
    ibx = ibox[0]
    iby = ibox[1]
    ibz = ibox[D - 1]
    cand = 0
    wrap_at = ptr
    for p in range(2):
        if p == 1:
            wrap_at = ptr
        for o in range(-1, offs.shape[0]):
            if o < 0:  # own cell
                if mi_all != (p == 1):
                    continue
                wrapped = mi_all
                t0 = np.uint64(s + 1)
                t1 = np.uint64(cell_start[cidx + 1])
            else:
                wrapped = mi_all
                outside = False
                k0 = c0 + offs[o, 0]
                if k0 < 0 or k0 >= nc[0]:
                    wrapped = True
                    outside = not periodic
                    k0 = k0 % nc[0]
                k1 = c1 + offs[o, 1]
                if k1 < 0 or k1 >= nc[1]:
                    wrapped = True
                    outside = outside or not periodic
                    k1 = k1 % nc[1]
                nb = k0 * stride[0] + k1 * stride[1]
                if D == 3:
                    k2 = c2 + offs[o, D - 1]
                    if k2 < 0 or k2 >= nc[D - 1]:
                        wrapped = True
                        outside = outside or not periodic
                        k2 = k2 % nc[D - 1]
                    nb += k2 * stride[D - 1]
                if outside or wrapped != (p == 1):
                    continue
                t0 = np.uint64(cell_start[nb])
                t1 = np.uint64(cell_start[nb + 1])
            if t1 <= t0:
                continue
            m = np.int64(t1 - t0)
            cand += m
            if fill and ptr + m > lim:
                fill = False
            for t in range(t0, t1):
                dx = xi0 - ref[t, 0]
                dy = xi1 - ref[t, 1]
                if wrapped:
                    if fast:
                        dx -= bx * np.rint(dx * ibx)
                        dy -= by * np.rint(dy * iby)
                    else:
                        dx -= bx * np.rint(dx / bx)
                        dy -= by * np.rint(dy / by)
                r2 = dx * dx + dy * dy
                if D == 3:
                    dz = xi2 - ref[t, 2]
                    if wrapped:
                        if fast:
                            dz -= bz * np.rint(dz * ibz)
                        else:
                            dz -= bz * np.rint(dz / bz)
                    r2 += dz * dz
                if fill:
                    nbr[ptr] = t
                ptr += r2 < rcs2
    return ptr, wrap_at, cand, fill


def fill_py(ref, box, periodic, mi_all, rcs2, ibox, fast, nc, stride, offs, slot_cell,
            cell_start, chunk_start, region_start, nbr, row_start, row_wrap, row_end, used,
            cand):
    # One pass: chunk q writes its rows into its own region of nbr.  used[q] is the
    # exact number of pairs of the chunk; used[q] < 0 flags an overflow (then
    # nothing of the chunk is valid and the caller retries with larger regions).
    for q in prange(chunk_start.shape[0] - 1):
        ptr = region_start[q]
        lim = region_start[q + 1]
        ok = True
        c = 0
        for s in range(chunk_start[q], chunk_start[q + 1]):
            row_start[s] = ptr
            ptr, wrap_at, m, ok = search_row(s, ref, box, periodic, mi_all, rcs2, ibox,
                                             fast, nc, stride, offs, slot_cell, cell_start,
                                             nbr, ptr, lim, ok)
            row_wrap[s] = wrap_at
            row_end[s] = ptr
            c += m
        n_pairs = ptr - region_start[q]
        used[q] = n_pairs if ok else -n_pairs - 1
        cand[q] = c


def max_disp2_py(x, ref, sa, box, periodic, chunk_start, chunk_d):
    # largest squared (minimum-image) displacement since the build
    nk = chunk_start.shape[0] - 1
    for q in prange(nk):
        m = 0.0
        for s in range(chunk_start[q], chunk_start[q + 1]):
            a = sa[s]
            r2 = 0.0
            for k in range(D):
                d = x[a, k] - ref[s, k]
                if periodic:
                    d -= box[k] * np.rint(d / box[k])
                r2 += d * d
            if r2 > m:
                m = r2
        chunk_d[q] = m
    m = 0.0
    for q in range(nk):
        if chunk_d[q] > m:
            m = chunk_d[q]
    return m


# serial and threaded variants of one source (twins: Numba's cache keys ignore options)
assign_cells = numba.njit(cache=CACHE, **_JIT)(assign_py)
assign_cells_par = numba.njit(parallel=True, cache=CACHE, **_JIT)(twin(assign_py,
                                                                       "assign_par_py"))
fill = numba.njit(cache=CACHE, **_JIT)(fill_py)
fill_par = numba.njit(parallel=True, cache=CACHE, **_JIT)(twin(fill_py, "fill_par_py"))
max_disp2 = numba.njit(cache=CACHE, **_JIT)(max_disp2_py)
max_disp2_par = numba.njit(parallel=True, cache=CACHE, **_JIT)(twin(max_disp2_py,
                                                                    "max_disp2_par_py"))
