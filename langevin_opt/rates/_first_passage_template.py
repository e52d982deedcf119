"""Template of the first-passage kernel, specialised per landscape and integrator.

A template for :func:`langevin_opt.core.jitcache.specialize` (see
:mod:`langevin_opt._walker_template`): the kernels call the free globals ``eg`` (the
landscape's ``energy_grad``) and ``METHOD`` (``OVERDAMPED`` or ``BAOAB``), bound by
:func:`langevin_opt.rates.first_passage._driver`; the generated module's kernels are
cached on disk.  Imported directly, its placeholders are unbound and nothing here is
called.  Absolute imports only: the generated copy lives in the cache directory.
"""

from __future__ import annotations

import math

import numba
from numba import prange

from langevin_opt._kernels import JIT_OPTIONS
from langevin_opt.core.codes import BAOAB
from langevin_opt.core.jitcache import import_template_default
from langevin_opt.rng import PURPOSE_NOISE, normal2

# jitcache: bindings
eg = import_template_default("eg")
METHOD = -1
CACHE = False
# jitcache: end

# no reference counting (_nrt=False) and nothing allocated: see _kernels.JIT_OPTIONS
_JIT = {"cache": CACHE, **JIT_OPTIONS}
#: ``out_basin`` of a walker whose energy or position became non-finite
DIVERGED = -2
#: a compile-time constant: the overdamped kernel drops the velocity code
HAS_VELOCITY = METHOD == BAOAB


@numba.njit(**_JIT)
def evaluate_block(Xb, p, Eb, Gb, w):
    for j in range(w):
        Eb[j] = eg(Xb, j, p, Gb)

@numba.njit(**_JIT)
def step_overdamped(Xb, Gb, Tb, ids, f2, dt, seed, step, w):
    # the arithmetic of _walker_template.add_noise_overdamped with per-walker stream ids
    # ids[j]: a deliberate variant, not merged.  Escaped walkers are swapped out of
    # the block, so a block's streams are not consecutive here; the walker kernels
    # keep the contiguous s0 + j, which LLVM vectorizes without a gather
    d = Xb.shape[0]
    for q in range((d + 1) // 2):
        k = 2 * q
        if k + 1 < d:
            for j in range(w):
                sig = math.sqrt(f2 * Tb[j])
                z0, z1 = normal2(seed, ids[j], step, q, PURPOSE_NOISE)
                Xb[k, j] = Xb[k, j] - dt * Gb[k, j] + sig * z0
                Xb[k + 1, j] = Xb[k + 1, j] - dt * Gb[k + 1, j] + sig * z1
        else:
            for j in range(w):
                sig = math.sqrt(f2 * Tb[j])
                z0, z1 = normal2(seed, ids[j], step, q, PURPOSE_NOISE)
                Xb[k, j] = Xb[k, j] - dt * Gb[k, j] + sig * z0

@numba.njit(**_JIT)
def ou_baoab(Xb, Vb, Tb, ids, c1, c2, fs, hdt, seed, step, w):
    # _walker_template.ou_baoab with per-walker stream ids ids[j]: a deliberate variant, for
    # the reason given in step_overdamped
    d = Xb.shape[0]
    for q in range((d + 1) // 2):
        k = 2 * q
        if k + 1 < d:
            for j in range(w):
                sd = c2 * math.sqrt(fs * Tb[j])
                z0, z1 = normal2(seed, ids[j], step, q, PURPOSE_NOISE)
                Vb[k, j] = c1 * Vb[k, j] + sd * z0
                Xb[k, j] = Xb[k, j] + hdt * Vb[k, j]
                Vb[k + 1, j] = c1 * Vb[k + 1, j] + sd * z1
                Xb[k + 1, j] = Xb[k + 1, j] + hdt * Vb[k + 1, j]
        else:
            for j in range(w):
                sd = c2 * math.sqrt(fs * Tb[j])
                z0, z1 = normal2(seed, ids[j], step, q, PURPOSE_NOISE)
                Vb[k, j] = c1 * Vb[k, j] + sd * z0
                Xb[k, j] = Xb[k, j] + hdt * Vb[k, j]


@numba.njit(**_JIT)
def block_run(b, lo, hi, Xt, Vt, E, T, ids, origin, limit, p, dt, gamma, mass, seed,
              step0, n, centers, r2, out_step, out_basin, out_x, scr):
    # Runs walkers lo..hi-1 of the packed arrays for up to n steps from step0.
    # Escaped or censored walkers are written to out_* at their packed index and
    # swapped out of the block; the rest are stored back.  Returns nothing: the
    # caller finds the finished ones by out_step >= 0.
    d = Xt.shape[0]
    nbas = centers.shape[0]
    w = hi - lo
    Xb = scr.X[b]
    Gb = scr.G[b]
    Eb = scr.E[b]
    Tb = scr.T[b]
    Vb = scr.V[b]
    idb = scr.ids[b]
    orb = scr.origin[b]
    limb = scr.limit[b]
    locb = scr.loc[b]
    hitb = scr.hit[b]
    finb = scr.fin[b]
    accb = scr.acc[b]
    for j in range(w):
        Tb[j] = T[lo + j]
        idb[j] = ids[lo + j]
        orb[j] = origin[lo + j]
        limb[j] = limit[lo + j]
        locb[j] = lo + j
        for k in range(d):
            Xb[k, j] = Xt[k, lo + j]
            if HAS_VELOCITY:
                Vb[k, j] = Vt[k, lo + j]
    evaluate_block(Xb, p, Eb, Gb, w)
    c1 = math.exp(-gamma * dt)
    c2 = math.sqrt(1.0 - c1 * c1)
    hdt = 0.5 * dt
    hdtm = 0.5 * dt / mass
    fs = 1.0 / mass
    f2 = 2.0 * dt
    for s in range(n):
        if w == 0:
            break
        step = step0 + s
        if HAS_VELOCITY:
            for k in range(d):
                for j in range(w):
                    Vb[k, j] = Vb[k, j] - hdtm * Gb[k, j]
                    Xb[k, j] = Xb[k, j] + hdt * Vb[k, j]
            ou_baoab(Xb, Vb, Tb, idb, c1, c2, fs, hdt, seed, step, w)
            evaluate_block(Xb, p, Eb, Gb, w)
            for k in range(d):
                for j in range(w):
                    Vb[k, j] = Vb[k, j] - hdtm * Gb[k, j]
        else:
            step_overdamped(Xb, Gb, Tb, idb, f2, dt, seed, step, w)
            evaluate_block(Xb, p, Eb, Gb, w)
        # commitment test, vectorised over the block: squared distances to each
        # basin centre; the first basin (other than its own) whose ball holds the
        # walker is its hit.  Energy + distances also carry the non-finite test.
        done_step = step + 1
        for j in range(w):
            hitb[j] = -1
            finb[j] = Eb[j]
        for bb in range(nbas):
            for j in range(w):
                accb[j] = 0.0
            for k in range(d):
                ck = centers[bb, k]
                for j in range(w):
                    dx = Xb[k, j] - ck
                    accb[j] += dx * dx
            rr = r2[bb]
            for j in range(w):
                a = accb[j]
                finb[j] += 0.0 * a
                if a < rr and orb[j] != bb and hitb[j] < 0:
                    hitb[j] = bb
        nflag = 0
        for j in range(w):
            if hitb[j] >= 0 or done_step >= limb[j] or not math.isfinite(finb[j]):
                nflag += 1
        if nflag == 0:
            continue
        # finished walkers leave the block at once (swapped with the last running one)
        j = 0
        while j < w:
            hit = hitb[j]
            if not math.isfinite(finb[j]):
                hit = DIVERGED
            if hit != -1 or done_step >= limb[j]:
                g = locb[j]
                out_step[g] = done_step
                out_basin[g] = hit
                for k in range(d):
                    out_x[g, k] = Xb[k, j]
                last = w - 1
                if j != last:
                    Tb[j] = Tb[last]
                    idb[j] = idb[last]
                    orb[j] = orb[last]
                    limb[j] = limb[last]
                    locb[j] = locb[last]
                    Eb[j] = Eb[last]
                    hitb[j] = hitb[last]
                    finb[j] = finb[last]
                    for k in range(d):
                        Xb[k, j] = Xb[k, last]
                        Gb[k, j] = Gb[k, last]
                        if HAS_VELOCITY:
                            Vb[k, j] = Vb[k, last]
                w -= 1
            else:
                j += 1
    for j in range(w):
        g = locb[j]
        E[g] = Eb[j]
        for k in range(d):
            Xt[k, g] = Xb[k, j]
            if HAS_VELOCITY:
                Vt[k, g] = Vb[k, j]


@numba.njit(parallel=True, **_JIT)
def drive(Xt, Vt, E, T, ids, origin, limit, p, dt, gamma, mass, seed, step0, n,
          centers, r2, out_step, out_basin, out_x, block, scr):
    m = Xt.shape[1]
    nb = (m + block - 1) // block
    for b in prange(nb):
        lo = b * block
        hi = min(m, lo + block)
        block_run(b, lo, hi, Xt, Vt, E, T, ids, origin, limit, p, dt, gamma, mass, seed,
                  step0, n, centers, r2, out_step, out_basin, out_x, scr)
