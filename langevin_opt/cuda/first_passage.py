"""CUDA first-passage driver: arrays in, arrays out (:func:`run_first_passage`).

:func:`langevin_opt.rates.first_passage` validates its arguments once and hands the
same arrays to its compiled CPU driver or, with ``backend="cuda"``, to
:func:`run_first_passage` here.  This module imports no front end.

One thread per walker runs a chunk of steps per launch with the arithmetic and
random numbers of :mod:`langevin_opt.cuda.walkers` (the scalar update functions
of :mod:`langevin_opt.cuda._device`, keys ``(seed, ids[i], step, q,
PURPOSE_NOISE)`` with ``ids = stream_offset + i``), tests the commitment regions
after every step exactly as the CPU loop does (squared distances to each centre,
in basin order; the first basin other than the walker's own whose ball holds it),
and stops at commitment, at its step limit, or on a non-finite energy or position.
Finished threads return at once; the host reads back only two counters (running
and diverged walkers) between launches.

The CPU loop swaps finished walkers out of their blocks and repacks the rest
between chunks; neither changes a walker's arithmetic, so first-passage steps,
basins and positions are those of the CPU loop (bit-identical under the
simulator and, with the default ``LANGEVIN_OPT_CUDA_FMA=0``, on a GPU for
landscapes written with IEEE arithmetic and :mod:`langevin_opt.fastmath`).

The overdamped and BAOAB steps are the walker kernel's own device functions
(``_device.em_noise``, ``baoab_bao``, ``baoab_kick``, with schedule factor 1).
The CPU block loop of :mod:`langevin_opt.rates.first_passage` is a deliberate
vectorisation variant of them (a block of walkers per thread, loops over walkers
innermost); the scalar update arithmetic is the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numba import cuda  # a module global: the simulator swaps it for its fake module

from .._kernels import BAOAB
from . import _device as dv
from .backend import require

__all__ = ["DIVERGED", "FirstPassageArrays", "make_first_passage_kernel",
           "first_passage_signature", "run_first_passage"]

#: ``basin`` of a walker whose energy or position became non-finite.
DIVERGED = -2


def make_first_passage_kernel(energy_grad: Callable, method: int) -> Callable:
    """Python source of the first-passage kernel of one (landscape, integrator) pair.

    Parameters
    ----------
    energy_grad : numba dispatcher
        Landscape function.
    method : int
        ``OVERDAMPED`` or ``BAOAB`` (a closure constant).

    Returns
    -------
    function
        Arguments: see :func:`first_passage_signature`.
    """
    eg = dv.device_fn(energy_grad)
    em_noise = dv.device_fn(dv.em_noise)
    baoab_bao, baoab_kick = dv.device_fn(dv.baoab_bao), dv.device_fn(dv.baoab_kick)
    baoab = method == BAOAB

    def fp_kernel(X, V, E, G, p, T, ids, origin, limit, dt, c1, c2, mass, seed, step0, n,
                  centers, r2, out_step, out_basin, out_x, counts):
        i = cuda.grid(1)
        if i >= X.shape[1]:
            return
        if out_step[i] >= 0:
            return
        d = X.shape[0]
        st = ids[i]
        ti = T[i]
        e = eg(X, i, p, G)
        hdt = 0.5 * dt
        hdtm = 0.5 * dt / mass
        sig = math.sqrt(2.0 * dt * ti)
        sd = c2 * math.sqrt(1.0 / mass * ti)
        nbas = centers.shape[0]
        finished = False
        for s in range(n):
            step = step0 + s
            if baoab:
                baoab_bao(X, V, G, i, hdt, hdtm, c1, sd, seed, st, step)
                e = eg(X, i, p, G)
                baoab_kick(V, G, i, hdtm)
            else:
                em_noise(X, X, G, i, dt, sig, seed, st, step)
                e = eg(X, i, p, G)
            done = step + 1
            hit = -1
            fin = e
            for bb in range(nbas):
                a = 0.0
                for k in range(d):
                    dx = X[k, i] - centers[bb, k]
                    a += dx * dx
                fin += 0.0 * a
                if a < r2[bb] and origin[i] != bb and hit < 0:
                    hit = bb
            if not math.isfinite(fin):
                hit = DIVERGED
            if hit != -1 or done >= limit[i]:
                out_step[i] = done
                out_basin[i] = hit
                for k in range(d):
                    out_x[i, k] = X[k, i]
                if hit == DIVERGED:
                    cuda.atomic.add(counts, 1, 1)
                finished = True
                break
        E[i] = e
        if not finished:
            cuda.atomic.add(counts, 0, 1)

    return fp_kernel


def first_passage_signature() -> tuple:
    """Argument types of the first-passage kernel (for ``cuda.compile_ptx``).

    Returns
    -------
    tuple of numba types
    """
    from numba import types as t

    a2, a1, i1, f = t.float64[:, ::1], t.float64[::1], t.int64[::1], t.float64
    return (a2, a2, a1, a2, a1, a1, i1, i1, i1, f, f, f, f, t.uint64, t.int64, t.int64, a2, a1,
            i1, i1, a2, i1)


_KERNELS: dict = {}


def _kernel(energy_grad: Callable, method: int) -> Callable:
    key = (id(energy_grad), method)
    hit = _KERNELS.get(key)
    if hit is None or hit[0] is not energy_grad:
        hit = (energy_grad, cuda.jit(make_first_passage_kernel(energy_grad, method)))
        _KERNELS[key] = hit
    return hit[1]


class FirstPassageArrays(NamedTuple):
    """What :func:`run_first_passage` hands back (host arrays).

    Attributes
    ----------
    steps : numpy.ndarray of int64, shape (M,)
        Step at which each walker finished (committed, censored or diverged); -1 if
        still running.
    basin : numpy.ndarray of int64, shape (M,)
        Basin committed to; -1 censored or still running, ``DIVERGED`` (-2) diverged.
    positions : numpy.ndarray, shape (M, d)
        Position at which each walker finished (undefined where ``steps < 0``).
    current : numpy.ndarray, shape (M, d)
        Positions now (after the last launch), for walkers still running.
    step : int
        Steps done (the end of the last launch).
    walker_steps : int
        Walker-steps simulated.
    """

    steps: np.ndarray
    basin: np.ndarray
    positions: np.ndarray
    current: np.ndarray
    step: int
    walker_steps: int


def run_first_passage(energy_grad: Callable, params: np.ndarray, method: int, x: np.ndarray,
                      v: np.ndarray | None, temps: np.ndarray, ids: np.ndarray,
                      origin: np.ndarray, limit: np.ndarray, dt: float, gamma: float,
                      mass: float, seed: int, centers: np.ndarray, r2: np.ndarray, chunk: int,
                      progress: Callable[[int, int], None] | None = None
                      ) -> FirstPassageArrays:
    """Array driver of the first-passage loop on the GPU (arrays already validated).

    Called by :func:`langevin_opt.rates.first_passage` with ``backend="cuda"``, with
    the arrays its CPU driver takes.  Runs launches of ``chunk`` steps until every
    walker has finished, or until the end of the first launch in which a walker
    diverged (the caller raises).

    Parameters
    ----------
    energy_grad : numba dispatcher
        Landscape function ``energy_grad(X, i, p, G)``.
    params : numpy.ndarray
        Landscape parameters.
    method : int
        ``OVERDAMPED`` or ``BAOAB`` (:mod:`langevin_opt._kernels` codes).
    x : numpy.ndarray, shape (M, d)
        Starting positions (length units).
    v : numpy.ndarray, shape (M, d), or None
        BAOAB velocities (length / time units); None for overdamped.
    temps : numpy.ndarray, shape (M,)
        Temperatures (energy units, ``k_B = 1``).
    ids : numpy.ndarray of int64, shape (M,)
        Random stream of each walker.
    origin : numpy.ndarray of int64, shape (M,)
        Start basin of each walker.
    limit : numpy.ndarray of int64, shape (M,)
        Step limit of each walker.
    dt, gamma, mass : float
        Time step (time units), friction (1 / time units), mass (BAOAB).
    seed : int
        Generator key.
    centers : numpy.ndarray, shape (B, d)
        Basin centres (length units).
    r2 : numpy.ndarray, shape (B,)
        Squared radii of the commitment balls (length units squared).
    chunk : int
        Steps per launch.
    progress : callable, optional
        ``progress(step, n_running)`` after every launch.

    Returns
    -------
    FirstPassageArrays

    Raises
    ------
    BackendUnavailableError
        Without a usable GPU.
    """
    require()
    m, d = x.shape
    c1 = math.exp(-gamma * dt)
    c2 = math.sqrt(1.0 - c1 * c1)
    kern = _kernel(energy_grad, method)
    dX = cuda.to_device(np.ascontiguousarray(x.T))
    dV = cuda.to_device(np.ascontiguousarray((np.zeros((1, d)) if v is None else v).T))
    dE = cuda.device_array(m)
    dG = cuda.device_array((d, m))
    dp = cuda.to_device(params)
    dT = cuda.to_device(np.ascontiguousarray(temps, dtype=np.float64))
    dids = cuda.to_device(np.ascontiguousarray(ids, dtype=np.int64))
    dorg = cuda.to_device(np.ascontiguousarray(origin, dtype=np.int64))
    dlim = cuda.to_device(np.ascontiguousarray(limit, dtype=np.int64))
    dcen = cuda.to_device(np.ascontiguousarray(centers, dtype=np.float64))
    dr2 = cuda.to_device(np.ascontiguousarray(r2, dtype=np.float64))
    dstep = cuda.to_device(np.full(m, -1, dtype=np.int64))
    dbas = cuda.to_device(np.full(m, -1, dtype=np.int64))
    dout = cuda.device_array((m, d))
    total = int(np.max(limit))
    tpb, grid = dv.threads_per_block(), dv.blocks(m)
    step = 0
    with dv.nvvm_fma():
        while step < total:
            n = int(min(chunk, total - step))
            counts = cuda.to_device(np.zeros(2, dtype=np.int64))  # running, diverged
            kern[grid, tpb](dX, dV, dE, dG, dp, dT, dids, dorg, dlim, np.float64(dt),
                            np.float64(c1), np.float64(c2), np.float64(mass), np.uint64(seed),
                            np.int64(step), np.int64(n), dcen, dr2, dstep, dbas, dout, counts)
            step += n
            running, diverged = (int(c) for c in counts.copy_to_host())
            if diverged:
                break
            if progress is not None:
                progress(step, running)
            if running == 0:
                break
    steps = dstep.copy_to_host()
    done = steps >= 0
    # finished walkers ran their own step counts, the others every step so far
    walker_steps = int(steps[done].sum()) + int((~done).sum()) * step
    return FirstPassageArrays(steps, dbas.copy_to_host(), dout.copy_to_host(),
                              np.ascontiguousarray(dX.copy_to_host().T), step, walker_steps)
