"""Compiled CPU kernels for walker ensembles.

Layout
------
Kernels work on structure-of-arrays state: positions ``Xt`` and gradients
``Gt`` of shape ``(d, M)`` (walker index last, so the loop over walkers is
contiguous and vectorizes), energies ``E`` of shape ``(M,)``.  The public API
(:mod:`langevin_opt.sampling`) converts from and to the ``(M, d)`` layout once
per call.

Parallelism and reproducibility
-------------------------------
Walkers are cut into blocks of ``block`` consecutive walkers; ``prange`` runs
blocks on threads, and each block runs *all* steps of the call while its
walkers sit in L1 cache.  Every random number is a pure function of
``(seed, walker id, global step, draw, purpose)`` (:mod:`langevin_opt.rng`) and
no floating-point operation mixes walkers, so results are bit-identical for any
number of threads, any block size, any split of the ensemble (pass
``stream0``) and any chunking of the run into calls (pass ``step0``).

One *block function* per integrator (one source, specialised by an integer
closure constant) runs it over one block; a driver runs it over all blocks
(:func:`_make_driver`) or interleaves it with replica-exchange swaps
(:func:`_make_pt_driver`).  Drivers compile on first use.  The landscape's
``energy_grad(X, i, p, G)`` is a closure variable, so each landscape gets its own
specialised, fully inlined machine code.

Status codes: ``status[i] = -1`` while walker ``i`` is finite; otherwise the
global step at which its energy, gradient or position became non-finite.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numba
import numpy as np
from numba import prange

from .core.codes import BAOAB, GD, MALA, OVERDAMPED
from .rng import PURPOSE_ACCEPT, PURPOSE_NOISE, PURPOSE_SWAP, normal2, uniform2

# Integer codes of the integrators (first argument of the drivers) come from
# core.codes; re-exported here for the CUDA backend.
__all__ = ["BAOAB", "GD", "MALA", "OVERDAMPED", "KernelSet", "Scratch", "kernels_for",
           "make_scratch"]

# _nrt=False: no reference counting.  Array arguments passed to the inlined landscape
# function otherwise get incref/decref calls inside the walker loop, which stop LLVM
# from vectorizing it (measured: 47 -> 10 ns per Müller–Brown gradient).  The kernels
# therefore allocate nothing; scratch space comes from the caller (see Scratch).
_JIT = {"cache": False, "nogil": True, "error_model": "numpy", "_nrt": False}


@numba.njit(inline="always", **_JIT)
def swap_chain(c, X, V, E, T, fac, seed, chain0, step_end, parity, n_temps, perm, att, acc,
               has_velocity):
    """One replica-exchange swap round of chain ``c``, for both backends.

    Chain ``c`` holds walkers ``c K .. c K + K - 1`` (temperature slots, ``K =
    n_temps``).  The neighbouring pairs ``(k, k+1)`` with ``k = parity, parity + 2,
    ...`` exchange configurations with probability ``min(1, exp((1/(T_k φ) -
    1/(T_{k+1} φ)) (E_k - E_{k+1})))``, tested with ``uniform2(seed, chain0 + c,
    step_end, k, PURPOSE_SWAP)``.  The CPU replica-exchange driver calls it for each
    chain in turn; the CUDA swap kernel (:mod:`langevin_opt.cuda.walkers`) compiles
    the same function for the device and calls it with one thread per chain, so
    both backends make the same swap decisions.

    Parameters
    ----------
    c : int
        Chain index.
    X, V : numpy.ndarray, shape (d, M)
        Positions and velocities (``V`` is read only if ``has_velocity``).
    E, T : numpy.ndarray, shape (M,)
        Energies and base temperatures of the walkers.
    fac : float
        Temperature factor ``φ`` of the schedule at ``step_end``.
    seed, chain0, step_end, parity, n_temps : int
        Generator key, stream of chain 0, step of the round, ``step_end //
        swap_every % 2``, replicas per chain.
    perm : numpy.ndarray of int64, shape (n_chains, n_temps)
        Replica at each slot, updated in place.
    att, acc : numpy.ndarray of int64, shape (n_temps - 1,)
        Attempt and acceptance counters per slot pair, incremented in place.
    has_velocity : bool
        Swap velocities too (rescaled by ``sqrt(T_k / T_{k+1})``).
    """
    d = X.shape[0]
    for k in range(parity, n_temps - 1, 2):
        a = c * n_temps + k
        bb = a + 1
        delta = (1.0 / (T[a] * fac) - 1.0 / (T[bb] * fac)) * (E[a] - E[bb])
        u, _ = uniform2(seed, chain0 + c, step_end, k, PURPOSE_SWAP)
        att[k] += 1
        if delta >= 0.0 or math.log(u) < delta:
            acc[k] += 1
            tmp = perm[c, k]
            perm[c, k] = perm[c, k + 1]
            perm[c, k + 1] = tmp
            tmp_e = E[a]
            E[a] = E[bb]
            E[bb] = tmp_e
            scale = math.sqrt(T[a] / T[bb])
            for q in range(d):
                t = X[q, a]
                X[q, a] = X[q, bb]
                X[q, bb] = t
                if has_velocity:
                    t = V[q, a]
                    V[q, a] = V[q, bb] * scale
                    V[q, bb] = t / scale


def _build(eg: Callable) -> dict[str, Callable]:
    """Compile the block functions and drivers for one landscape kernel."""
    # Every block function copies its walkers into block-local arrays (0-based,
    # C-contiguous), runs all steps on them and copies back.  Loops over the
    # block are ``for j in range(w)`` so that LLVM knows indices are >= 0 (no
    # negative-index wraparound) and vectorizes across walkers.

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
        # positions within one step), then recording
        bad = False
        d = Xb.shape[0]
        for j in range(w):
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

    def make_block(method: int) -> Callable:
        # ``method`` is a closure constant: each integrator compiles on its own, and LLVM
        # drops the branches of the others at once (compile time per integrator, not all).
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
            baoab = method == BAOAB
            if baoab:
                load(lo, hi, Vt, Vb)
            mala = method == MALA
            evaluate_block(Xb, p, Eb, Gb, w)
            c1 = math.exp(-gamma * dt)
            c2 = math.sqrt(1.0 - c1 * c1)
            hdt = 0.5 * dt
            hdtm = 0.5 * dt / mass
            for s in range(n):
                step = step0 + s
                if method == GD:
                    for k in range(d):
                        for j in range(w):
                            Xb[k, j] = Xb[k, j] - dt * Gb[k, j]
                    evaluate_block(Xb, p, Eb, Gb, w)
                elif method == OVERDAMPED:
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

        return block_run

    @numba.njit(**_JIT)
    def evaluate(Xt, p, E, Gt):
        # serial on purpose: it serves initial states, quadrature grids and tests, where a
        # parallel region costs more to compile (seconds) and to launch than it saves
        for i in range(Xt.shape[1]):
            E[i] = eg(Xt, i, p, Gt)

    return {"evaluate": evaluate, "make_block": make_block}


def _make_driver(block_fn: Callable) -> Callable:
    @numba.njit(parallel=True, **_JIT)
    def drive(Xt, Vt, E, p, T, phi, dt, gamma, mass, seed, stream0, step0, n,
              rec_every, rec_origin, frames, frame_e, acc, status, block, scr):
        m = Xt.shape[1]
        nb = (m + block - 1) // block
        for b in prange(nb):
            lo = b * block
            hi = min(m, lo + block)
            block_fn(b, lo, hi, Xt, Vt, E, p, T, phi, dt, gamma, mass, seed, stream0,
                     step0, n, rec_every, rec_origin, frames, frame_e, acc, status, scr)

    return drive


def _make_pt_driver(block_fn: Callable) -> Callable:
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
                block_fn(b, lo, hi, Xt, Vt, E, p, T, phi[s0:s0 + swap_every], dt,
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

    return drive_pt


class Scratch(NamedTuple):
    """Per-block work arrays of the kernels (they allocate nothing themselves).

    Block ``b`` uses ``X[b]`` etc.: C-contiguous ``(d, block)`` or ``(block,)``
    slabs, so the loops over a block's walkers have unit stride.
    """

    X: np.ndarray
    G: np.ndarray
    E: np.ndarray
    T: np.ndarray
    V: np.ndarray
    Y: np.ndarray
    GY: np.ndarray
    EY: np.ndarray
    acc: np.ndarray


def make_scratch(n_walkers: int, dim: int, block: int, method: int) -> Scratch:
    """Allocate the scratch space of one kernel call.

    Parameters
    ----------
    n_walkers, dim, block : int
        Ensemble size, dimension and walkers per block.
    method : int
        Integrator code (velocity and proposal arrays only where needed).

    Returns
    -------
    Scratch
    """
    nb = (n_walkers + block - 1) // block
    wv = block if method == BAOAB else 1
    wy = block if method == MALA else 1
    return Scratch(
        X=np.empty((nb, dim, block)), G=np.empty((nb, dim, block)), E=np.empty((nb, block)),
        T=np.empty((nb, block)), V=np.empty((nb, dim, wv)), Y=np.empty((nb, dim, wy)),
        GY=np.empty((nb, dim, wy)), EY=np.empty((nb, wy)),
        acc=np.zeros((nb, block), dtype=np.int64),
    )


class KernelSet:
    """Lazily compiled kernels for one landscape ``energy_grad`` function.

    Parameters
    ----------
    energy_grad : numba dispatcher
        The landscape kernel ``energy_grad(x, params, grad) -> float``.
    """

    def __init__(self, energy_grad: Callable) -> None:
        self._k = _build(energy_grad)
        self._blocks: dict[int, Callable] = {}
        self._drivers: dict[tuple[int, bool], Callable] = {}

    def evaluate(self, Xt: np.ndarray, p: np.ndarray, E: np.ndarray, Gt: np.ndarray) -> None:
        """Evaluate energies ``E`` (M,) and gradients ``Gt`` (d, M) of ``Xt`` (d, M) in place.

        Parameters
        ----------
        Xt, p, E, Gt : numpy.ndarray
            Positions (column layout), parameters and the output arrays.
        """
        self._k["evaluate"](Xt, p, E, Gt)

    def driver(self, method: int, replica_exchange: bool = False) -> Callable:
        """Return (compiling on first use) the driver of one integrator.

        Parameters
        ----------
        method : int
            Integrator code: ``GD``, ``OVERDAMPED``, ``MALA`` or ``BAOAB``.
        replica_exchange : bool
            Whether to return the replica-exchange driver.

        Returns
        -------
        callable
            The compiled driver.
        """
        key = (method, replica_exchange)
        if key not in self._drivers:
            block = self._blocks.get(method)
            if block is None:
                block = self._blocks[method] = self._k["make_block"](method)
            make = _make_pt_driver if replica_exchange else _make_driver
            self._drivers[key] = make(block)
        return self._drivers[key]


_KERNELS: dict[int, tuple[Callable, KernelSet]] = {}


def kernels_for(energy_grad: Callable) -> KernelSet:
    """Return (building once per process) the kernel set of a landscape function.

    Parameters
    ----------
    energy_grad : numba dispatcher
        A landscape's ``energy_grad``.

    Returns
    -------
    KernelSet
    """
    key = id(energy_grad)
    hit = _KERNELS.get(key)
    if hit is None or hit[0] is not energy_grad:
        hit = (energy_grad, KernelSet(energy_grad))
        _KERNELS[key] = hit
    return hit[1]
