"""Template of the walker kernels, specialised per landscape and integrator.

This module is a *template* for :func:`langevin_opt.core.jitcache.specialize`: the
kernels below call the free globals ``eg`` (the landscape's ``energy_grad(X, i, p,
G) -> float``) and ``METHOD`` (an integrator code of :mod:`langevin_opt.core.codes`),
which :class:`langevin_opt._kernels.KernelSet` binds with::

    jitcache.specialize("langevin_opt._walker_template", {"eg": energy_grad, "METHOD": code})

The result is a generated module (one per landscape and integrator) whose kernels
Numba caches on disk, so a second process loads their machine code instead of
compiling it.  Imported directly, this module has unbound placeholders and its
kernels are never called.  Use absolute imports only: the generated copy lives in
the cache directory.

Both globals are compile-time constants to Numba: each integrator compiles on its
own and LLVM drops the branches of the others (compile time per integrator, not
all), and ``eg`` (compiled with ``inline="always"``) is inlined into the walker
loops.  ``METHOD = -1`` binds no integrator: only :func:`evaluate` is used then.

Every block function copies its walkers into block-local arrays (0-based,
C-contiguous), runs all steps on them and copies back.  Loops over the block are
``for j in range(w)`` so that LLVM knows indices are >= 0 (no negative-index
wraparound) and vectorizes across walkers.  See :mod:`langevin_opt._kernels` for
the layout, the status codes and the reproducibility guarantees.
"""

from __future__ import annotations

import math

import numba
from numba import prange

from langevin_opt._kernels import JIT_OPTIONS, swap_chain
from langevin_opt.core.codes import BAOAB, GD, MALA, OVERDAMPED
from langevin_opt.core.jitcache import import_template_default
from langevin_opt.rng import PURPOSE_ACCEPT, PURPOSE_NOISE, normal2, uniform2

# jitcache: bindings
eg = import_template_default("eg")
METHOD = -1
CACHE = False
# jitcache: end

# no reference counting (_nrt=False) and nothing allocated: see _kernels.JIT_OPTIONS
_JIT = {"cache": CACHE, **JIT_OPTIONS}


@numba.njit(**_JIT)
def load(lo, hi, A, B):
    for k in range(A.shape[0]):
        for j in range(hi - lo):
            B[k, j] = A[k, lo + j]

@numba.njit(**_JIT)
def store(lo, hi, B, A):
    for k in range(A.shape[0]):
        for j in range(hi - lo):
            A[k, lo + j] = B[k, j]

@numba.njit(**_JIT)
def evaluate_block(Xb, p, Eb, Gb, w):
    for j in range(w):
        Eb[j] = eg(Xb, j, p, Gb)

@numba.njit(**_JIT)
def check_and_record(lo, w, Xb, Eb, status, step, rec_every, rec_origin, frames, frame_e):
    # non-finite test on energy and positions (a non-finite velocity reaches the
    # positions within one step), then recording.  First a count of the non-finite
    # values, in loops over walkers that vectorize (integer sums); the per-walker test
    # below, whose inner loop over coordinates keeps it scalar, runs only when the count
    # is not 0.  It flags walker j iff E[j] or some X[k, j] is non-finite (0 * inf and
    # 0 * nan are nan), the very condition counted here.  (Issue 19: ~4 % of an
    # overdamped Müller–Brown step; no floating-point result changes.)
    bad = False
    d = Xb.shape[0]
    nonfinite = 0
    for j in range(w):
        nonfinite += 0 if math.isfinite(Eb[j]) else 1
    for k in range(d):
        for j in range(w):
            nonfinite += 0 if math.isfinite(Xb[k, j]) else 1
    for j in range(w if nonfinite > 0 else 0):
        v = Eb[j]
        for k in range(d):
            v += 0.0 * Xb[k, j]
        if not math.isfinite(v):
            status[lo + j] = step
            bad = True
    t = step - rec_origin
    if rec_every > 0 and t >= 0 and t % rec_every == 0:
        f = t // rec_every
        if f < frames.shape[0]:
            for j in range(w):
                for k in range(d):
                    frames[f, lo + j, k] = Xb[k, j]
                frame_e[f, lo + j] = Eb[j]
    return bad

@numba.njit(**_JIT)
def add_noise_overdamped(Xb, Gb, Tb, f2, dt, seed, s0, step, w):
    # x <- x - dt g + sqrt(2 T phi dt) xi, two normals per Philox call
    d = Xb.shape[0]
    for q in range((d + 1) // 2):
        k = 2 * q
        if k + 1 < d:
            for j in range(w):
                sig = math.sqrt(f2 * Tb[j])
                z0, z1 = normal2(seed, s0 + j, step, q, PURPOSE_NOISE)
                Xb[k, j] = Xb[k, j] - dt * Gb[k, j] + sig * z0
                Xb[k + 1, j] = Xb[k + 1, j] - dt * Gb[k + 1, j] + sig * z1
        else:
            for j in range(w):
                sig = math.sqrt(f2 * Tb[j])
                z0, z1 = normal2(seed, s0 + j, step, q, PURPOSE_NOISE)
                Xb[k, j] = Xb[k, j] - dt * Gb[k, j] + sig * z0

@numba.njit(**_JIT)
def propose_mala(Xb, Gb, Yb, Tb, f2, dt, seed, s0, step, w):
    # the Euler–Maruyama step of add_noise_overdamped, written to Yb.  Not merged with
    # it on purpose (a deliberate vectorization variant): called with Yb = Xb, LLVM's
    # runtime overlap check fails and the walker loop falls back to scalar code.
    d = Xb.shape[0]
    for q in range((d + 1) // 2):
        k = 2 * q
        if k + 1 < d:
            for j in range(w):
                sig = math.sqrt(f2 * Tb[j])
                z0, z1 = normal2(seed, s0 + j, step, q, PURPOSE_NOISE)
                Yb[k, j] = Xb[k, j] - dt * Gb[k, j] + sig * z0
                Yb[k + 1, j] = Xb[k + 1, j] - dt * Gb[k + 1, j] + sig * z1
        else:
            for j in range(w):
                sig = math.sqrt(f2 * Tb[j])
                z0, z1 = normal2(seed, s0 + j, step, q, PURPOSE_NOISE)
                Yb[k, j] = Xb[k, j] - dt * Gb[k, j] + sig * z0

@numba.njit(**_JIT)
def ou_baoab(Xb, Vb, Tb, c1, c2, fs, hdt, seed, s0, step, w):
    # O then A: v <- c1 v + c2 sqrt(T phi / m) xi ;  x <- x + dt/2 v
    d = Xb.shape[0]
    for q in range((d + 1) // 2):
        k = 2 * q
        if k + 1 < d:
            for j in range(w):
                sd = c2 * math.sqrt(fs * Tb[j])
                z0, z1 = normal2(seed, s0 + j, step, q, PURPOSE_NOISE)
                Vb[k, j] = c1 * Vb[k, j] + sd * z0
                Xb[k, j] = Xb[k, j] + hdt * Vb[k, j]
                Vb[k + 1, j] = c1 * Vb[k + 1, j] + sd * z1
                Xb[k + 1, j] = Xb[k + 1, j] + hdt * Vb[k + 1, j]
        else:
            for j in range(w):
                sd = c2 * math.sqrt(fs * Tb[j])
                z0, z1 = normal2(seed, s0 + j, step, q, PURPOSE_NOISE)
                Vb[k, j] = c1 * Vb[k, j] + sd * z0
                Xb[k, j] = Xb[k, j] + hdt * Vb[k, j]


@numba.njit(**_JIT)
def block_run(b, lo, hi, Xt, Vt, E, p, T, phi, dt, gamma, mass, seed, stream0,
              step0, n, rec_every, rec_origin, frames, frame_e, acc, status, scr):
    d = Xt.shape[0]
    w = hi - lo
    s0 = stream0 + lo
    Xb = scr.X[b]
    Gb = scr.G[b]
    Eb = scr.E[b]
    Tb = scr.T[b]
    Vb = scr.V[b]
    Yb = scr.Y[b]
    GYb = scr.GY[b]
    EY = scr.EY[b]
    accb = scr.acc[b]
    for j in range(w):
        Tb[j] = T[lo + j]
        accb[j] = 0
    load(lo, hi, Xt, Xb)
    baoab = METHOD == BAOAB
    if baoab:
        load(lo, hi, Vt, Vb)
    mala = METHOD == MALA
    evaluate_block(Xb, p, Eb, Gb, w)
    c1 = math.exp(-gamma * dt)
    c2 = math.sqrt(1.0 - c1 * c1)
    hdt = 0.5 * dt
    hdtm = 0.5 * dt / mass
    for s in range(n):
        step = step0 + s
        if METHOD == GD:
            for k in range(d):
                for j in range(w):
                    Xb[k, j] = Xb[k, j] - dt * Gb[k, j]
            evaluate_block(Xb, p, Eb, Gb, w)
        elif METHOD == OVERDAMPED:
            add_noise_overdamped(Xb, Gb, Tb, 2.0 * phi[s] * dt, dt, seed, s0, step, w)
            evaluate_block(Xb, p, Eb, Gb, w)
        elif mala:
            propose_mala(Xb, Gb, Yb, Tb, 2.0 * phi[s] * dt, dt, seed, s0, step, w)
            evaluate_block(Yb, p, EY, GYb, w)
            for j in range(w):
                temp = Tb[j] * phi[s]
                fwd = 0.0
                bwd = 0.0
                for k in range(d):
                    a = Yb[k, j] - Xb[k, j] + dt * Gb[k, j]
                    b = Xb[k, j] - Yb[k, j] + dt * GYb[k, j]
                    fwd += a * a
                    bwd += b * b
                log_ratio = -(EY[j] - Eb[j]) / temp - (bwd - fwd) / (4.0 * temp * dt)
                u, _ = uniform2(seed, s0 + j, step, 0, PURPOSE_ACCEPT)
                if math.log(u) < log_ratio:
                    accb[j] += 1
                    Eb[j] = EY[j]
                    for k in range(d):
                        Xb[k, j] = Yb[k, j]
                        Gb[k, j] = GYb[k, j]
        else:
            # BAOAB (Leimkuhler & Matthews 2013): B A O A B, one gradient per step
            for k in range(d):
                for j in range(w):
                    Vb[k, j] = Vb[k, j] - hdtm * Gb[k, j]
                    Xb[k, j] = Xb[k, j] + hdt * Vb[k, j]
            ou_baoab(Xb, Vb, Tb, c1, c2, phi[s] / mass, hdt, seed, s0, step, w)
            evaluate_block(Xb, p, Eb, Gb, w)
            for k in range(d):
                for j in range(w):
                    Vb[k, j] = Vb[k, j] - hdtm * Gb[k, j]
        if check_and_record(lo, w, Xb, Eb, status, step + 1, rec_every, rec_origin,
                            frames, frame_e):
            break
    store(lo, hi, Xb, Xt)
    if baoab:
        store(lo, hi, Vb, Vt)
    for j in range(w):
        E[lo + j] = Eb[j]
        acc[lo + j] += accb[j]


@numba.njit(**_JIT)
def evaluate(Xt, p, E, Gt):
    # serial on purpose: it serves initial states, quadrature grids and tests, where a
    # parallel region costs more to compile (seconds) and to launch than it saves
    for i in range(Xt.shape[1]):
        E[i] = eg(Xt, i, p, Gt)


@numba.njit(parallel=True, **_JIT)
def drive(Xt, Vt, E, p, T, phi, dt, gamma, mass, seed, stream0, step0, n,
          rec_every, rec_origin, frames, frame_e, acc, status, block, scr):
    m = Xt.shape[1]
    nb = (m + block - 1) // block
    for b in prange(nb):
        lo = b * block
        hi = min(m, lo + block)
        block_run(b, lo, hi, Xt, Vt, E, p, T, phi, dt, gamma, mass, seed, stream0,
                  step0, n, rec_every, rec_origin, frames, frame_e, acc, status, scr)


@numba.njit(parallel=True, **_JIT)
def drive_pt(Xt, Vt, E, p, T, phi, dt, gamma, mass, seed, stream0, step0, n,
             rec_every, rec_origin, frames, frame_e, acc, status, block, scr,
             n_temps, swap_every, chain0, perm, attempts, accepts, has_velocity):
    # Replica exchange over chains of n_temps consecutive walkers (walker c*K + k sits
    # at temperature slot k).  After every swap_every steps, neighbouring slots
    # (k, k+1) with k of alternating parity (deterministic even/odd scheme) try to
    # exchange configurations with probability min(1, exp((b_k - b_k1)(E_k - E_k1))).
    m = Xt.shape[1]
    d = Xt.shape[0]
    nb = (m + block - 1) // block
    n_chains = m // n_temps
    n_rounds = n // swap_every
    for r in range(n_rounds):
        s0 = r * swap_every
        for b in prange(nb):
            lo = b * block
            hi = min(m, lo + block)
            block_run(b, lo, hi, Xt, Vt, E, p, T, phi[s0:s0 + swap_every], dt,
                      gamma, mass, seed, stream0, step0 + s0, swap_every, rec_every,
                      rec_origin, frames, frame_e, acc, status, scr)
        for i in range(m):
            if status[i] >= 0:
                return
        step_end = step0 + s0 + swap_every
        fac = phi[s0 + swap_every - 1]
        parity = (step_end // swap_every) % 2
        # one swap round, chain by chain (cuda/walkers.py runs the same swap_chain
        # with one thread per chain): the attempts and acceptances of all chains
        # are counted per slot pair here
        for c in range(n_chains):
            swap_chain(c, Xt, Vt, E, T, fac, seed, chain0, step_end, parity, n_temps,
                       perm, attempts, accepts, has_velocity)
        if rec_every > 0:
            # frames recorded inside the block loop hold pre-swap positions for the
            # last step of the round; rewrite that frame after the swap.
            t = step_end - rec_origin
            if t % rec_every == 0:
                f = t // rec_every
                if f < frames.shape[0]:
                    for i in range(m):
                        for q in range(d):
                            frames[f, i, q] = Xt[q, i]
                        frame_e[f, i] = E[i]
