"""CUDA kernels for walker ensembles: every integrator, schedules and replica exchange.

Layout and mapping
------------------
The device holds the same structure-of-arrays state as the CPU kernels
(:mod:`langevin_opt._kernels`): positions ``X`` and gradients ``G`` of shape
``(d, M)``, energies ``E`` of shape ``(M,)``.  One thread advances one walker
through *all* the steps of a launch (so consecutive threads read consecutive
columns: coalesced loads), with the landscape's ``energy_grad(X, i, p, G)``
inlined into the step loop exactly as on the CPU.  The host launches once per
stretch of steps between two events (a recorded frame, a replica-exchange round,
or at most :data:`MAX_STEPS_PER_LAUNCH` steps); frames are copied back only at
the recording interval.

Same random numbers, same answers
---------------------------------
Each walker's noise at step ``n`` is ``normal2(seed, stream_offset + i, n, q,
PURPOSE_NOISE)`` and its MALA test uniform ``uniform2(..., 0, PURPOSE_ACCEPT)``,
the keys of the CPU kernels; replica swaps use ``uniform2(seed, chain, step, k,
PURPOSE_SWAP)`` in the CPU driver's deterministic even/odd order, so swap
decisions, permutations and acceptance counts are those of a CPU run whenever the
energies agree.  Every launch starts by evaluating the gradient at the current
positions, as every CPU block call does: a pure function of the positions, so
splitting a run into launches changes nothing.

Under the CUDA simulator the kernels reproduce the CPU kernels bit for bit (the
same IEEE operations in the same order).  On a GPU they are compiled without
multiply-add contraction by default, so they are bit-identical to the CPU for
landscapes written with IEEE arithmetic and :mod:`langevin_opt.fastmath`, and
agree to libm-vs-libdevice rounding (a few ulp per evaluation, amplified by the
dynamics' Lyapunov exponent over a run) for landscapes calling ``math.*``;
with ``LANGEVIN_OPT_CUDA_FMA=1`` (faster) every fused multiply-add is such a
rounding difference.  See :mod:`langevin_opt.cuda._device`.

Difference from the CPU on divergence: the CPU stops a whole block of walkers at
the step where one of them becomes non-finite; here only that walker stops.  The
error raised (step and walker) and the frames kept are the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numba import cuda  # a module global: the simulator swaps it for its fake module

from .. import _kernels as K
from .._kernels import BAOAB, GD, MALA, OVERDAMPED
from ..rng import PURPOSE_ACCEPT, uniform2
from . import _device as dv
from .backend import require

__all__ = ["MAX_STEPS_PER_LAUNCH", "WalkerKernels", "kernels_for",
           "run_ensemble", "step_signature", "swap_signature"]

#: Longest stretch of steps in one launch (keeps each launch well under any watchdog).
MAX_STEPS_PER_LAUNCH = 4096


def make_step_kernel(energy_grad: Callable, method: int) -> Callable:
    """Python source of the step kernel of one (landscape, integrator) pair.

    Parameters
    ----------
    energy_grad : numba dispatcher
        The landscape's ``energy_grad(X, i, p, G)``.
    method : int
        Integrator code (``GD``, ``OVERDAMPED``, ``MALA``, ``BAOAB``), a closure
        constant: each integrator compiles on its own.

    Returns
    -------
    function
        The kernel as a Python function, to be decorated with ``cuda.jit`` (or
        compiled with ``cuda.compile_ptx``).  Arguments: see :func:`step_signature`.
    """
    eg = dv.device_fn(energy_grad)
    gd_update, mala_log_ratio = dv.gd_update, dv.mala_log_ratio
    em_noise = dv.device_fn(dv.em_noise)
    baoab_bao, baoab_kick = dv.device_fn(dv.baoab_bao), dv.device_fn(dv.baoab_kick)

    def step_kernel(X, V, E, G, Y, GY, p, T, phi, phi_off, dt, c1, c2, mass, seed, stream0,
                    step0, n, acc, status, flag):
        i = cuda.grid(1)
        if i >= X.shape[1]:
            return
        if status[i] >= 0:
            return
        d = X.shape[0]
        st = stream0 + i
        ti = T[i]
        e = eg(X, i, p, G)
        hdt = 0.5 * dt
        hdtm = 0.5 * dt / mass
        for s in range(n):
            step = step0 + s
            ph = phi[phi_off + s]
            if method == GD:
                for k in range(d):
                    X[k, i] = gd_update(X[k, i], G[k, i], dt)
                e = eg(X, i, p, G)
            elif method == OVERDAMPED:
                sig = math.sqrt(2.0 * ph * dt * ti)
                em_noise(X, X, G, i, dt, sig, seed, st, step)
                e = eg(X, i, p, G)
            elif method == MALA:
                sig = math.sqrt(2.0 * ph * dt * ti)
                em_noise(Y, X, G, i, dt, sig, seed, st, step)
                ey = eg(Y, i, p, GY)
                temp = ti * ph
                fwd = 0.0
                bwd = 0.0
                for k in range(d):
                    a = Y[k, i] - X[k, i] + dt * G[k, i]
                    b = X[k, i] - Y[k, i] + dt * GY[k, i]
                    fwd += a * a
                    bwd += b * b
                log_ratio = mala_log_ratio(ey, e, fwd, bwd, temp, dt)
                u, _ = uniform2(seed, st, step, 0, PURPOSE_ACCEPT)
                if math.log(u) < log_ratio:
                    acc[i] += 1
                    e = ey
                    for k in range(d):
                        X[k, i] = Y[k, i]
                        G[k, i] = GY[k, i]
            else:  # BAOAB: B A O A B, one gradient per step
                sd = c2 * math.sqrt(ph / mass * ti)
                baoab_bao(X, V, G, i, hdt, hdtm, c1, sd, seed, st, step)
                e = eg(X, i, p, G)
                baoab_kick(V, G, i, hdtm)
            # non-finite test on the energy and the positions (as the CPU kernels)
            v = e
            for k in range(d):
                v += 0.0 * X[k, i]
            if not math.isfinite(v):
                status[i] = step + 1
                flag[0] = 1
                break
        E[i] = e

    return step_kernel


def make_swap_kernel() -> Callable:
    """Python source of the replica-exchange swap kernel (one thread per chain).

    Chain ``c`` holds walkers ``c K .. c K + K - 1`` (temperature slots).  The
    neighbouring pairs ``(k, k+1)`` with ``k = parity, parity + 2, ...`` try to
    exchange configurations with probability
    ``min(1, exp((1/(T_k φ) - 1/(T_{k+1} φ)) (E_k - E_{k+1})))``, with the
    uniform ``uniform2(seed, chain0 + c, step_end, k, PURPOSE_SWAP)`` of the CPU
    driver.  Attempts and acceptances are counted per chain (no atomics; the host
    sums them, exactly).

    Returns
    -------
    function
        The kernel as a Python function; arguments: see :func:`swap_signature`.
    """
    # The round itself is _kernels.swap_chain, the CPU driver's own source compiled for
    # the device; here one thread per chain counts in its own row of att/acc (no atomics).
    swap_chain = dv.device_fn(K.swap_chain)

    def swap_kernel(X, V, E, T, fac, seed, chain0, step_end, parity, n_temps, perm, att,
                    acc, has_velocity):
        c = cuda.grid(1)
        if c >= perm.shape[0]:
            return
        swap_chain(c, X, V, E, T, fac, seed, chain0, step_end, parity, n_temps, perm, att[c],
                   acc[c], has_velocity)

    return swap_kernel


def step_signature() -> tuple:
    """Argument types of the step kernel (for ``cuda.compile_ptx``).

    Returns
    -------
    tuple of numba types
        ``X, V, E, G, Y, GY, p, T, phi, phi_off, dt, c1, c2, mass, seed, stream0,
        step0, n, acc, status, flag``: 2-D arrays are C-contiguous float64
        ``(d, M)`` (``V``, ``Y``, ``GY`` may be ``(d, 1)`` dummies when unused),
        ``seed`` is uint64, counters int64.
    """
    from numba import types as t

    a2, a1, i1 = t.float64[:, ::1], t.float64[::1], t.int64[::1]
    return (a2, a2, a1, a2, a2, a2, a1, a1, a1, t.int64, t.float64, t.float64, t.float64,
            t.float64, t.uint64, t.int64, t.int64, t.int64, i1, i1, i1)


def swap_signature() -> tuple:
    """Argument types of the swap kernel (for ``cuda.compile_ptx``).

    Returns
    -------
    tuple of numba types
        ``X, V, E, T, fac, seed, chain0, step_end, parity, n_temps, perm, att, acc,
        has_velocity``.
    """
    from numba import types as t

    a2, a1, i2 = t.float64[:, ::1], t.float64[::1], t.int64[:, ::1]
    return (a2, a2, a1, a1, t.float64, t.uint64, t.int64, t.int64, t.int64, t.int64, i2, i2,
            i2, t.boolean)


class WalkerKernels:
    """Lazily compiled CUDA kernels of one landscape function.

    Parameters
    ----------
    energy_grad : numba dispatcher
        The landscape's ``energy_grad``.
    """

    def __init__(self, energy_grad: Callable) -> None:
        self.energy_grad = energy_grad
        self._steps: dict[int, Callable] = {}

    def step(self, method: int) -> Callable:
        """The compiled (on first launch) step kernel of one integrator.

        Parameters
        ----------
        method : int
            Integrator code.

        Returns
        -------
        numba CUDA dispatcher
        """
        if method not in self._steps:
            self._steps[method] = cuda.jit(make_step_kernel(self.energy_grad, method))
        return self._steps[method]


_KERNELS: dict[int, WalkerKernels] = {}
_SWAP: list = []


def kernels_for(energy_grad: Callable) -> WalkerKernels:
    """Return (building once per process) the CUDA kernels of a landscape function.

    Parameters
    ----------
    energy_grad : numba dispatcher
        A landscape's ``energy_grad``.

    Returns
    -------
    WalkerKernels
    """
    hit = _KERNELS.get(id(energy_grad))
    if hit is None or hit.energy_grad is not energy_grad:
        hit = _KERNELS[id(energy_grad)] = WalkerKernels(energy_grad)
    return hit


def _swap_kernel() -> Callable:
    if not _SWAP:
        _SWAP.append(cuda.jit(make_swap_kernel()))
    return _SWAP[0]


def run_ensemble(
    energy_grad: Callable,
    method: int,
    xt: np.ndarray,
    vt: np.ndarray,
    e: np.ndarray,
    params: np.ndarray,
    temps: np.ndarray,
    phi: np.ndarray,
    dt: float,
    gamma: float,
    mass: float,
    seed: np.uint64,
    stream0: int,
    step0: int,
    n: int,
    rec_every: int,
    rec_origin: int,
    frames: np.ndarray,
    frame_e: np.ndarray,
    acc: np.ndarray,
    status: np.ndarray,
    replica: tuple | None = None,
) -> None:
    """Run ``n`` steps of a walker ensemble on the GPU (drop-in for the CPU drivers).

    Takes the arguments of the CPU drivers in :mod:`langevin_opt._kernels` (without
    the CPU's block size and scratch space) and updates the same arrays in place,
    so that :meth:`langevin_opt.Sampler.run` treats both backends alike.

    Parameters
    ----------
    energy_grad : numba dispatcher
        Landscape function.
    method : int
        Integrator code.
    xt, vt : numpy.ndarray, shape (d, M)
        Positions and (BAOAB) velocities, updated in place; ``vt`` is a ``(d, 1)``
        dummy for the other integrators.
    e : numpy.ndarray, shape (M,)
        Output: energies at the final positions.
    params : numpy.ndarray
        Landscape parameters.
    temps : numpy.ndarray, shape (M,)
        Base temperature per walker (``k_B = 1``).
    phi : numpy.ndarray, shape (max(n, 1),)
        Schedule factor of each step of the call.
    dt, gamma, mass : float
        Time step, BAOAB friction (1/time) and mass.
    seed : numpy.uint64
        RNG key.
    stream0, step0, n : int
        Stream id of walker 0, global step at the start, number of steps.
    rec_every, rec_origin : int
        Record at global steps ``rec_origin + f * rec_every`` (0: never).
    frames, frame_e : numpy.ndarray, shapes (F, M, d) and (F, M)
        Output frames (positions, energies).
    acc : numpy.ndarray of int64, shape (M,)
        MALA acceptance counts, incremented in place.
    status : numpy.ndarray of int64, shape (M,)
        ``-1`` while finite, else the step at which the walker became non-finite.
    replica : tuple, optional
        ``(n_temps, swap_every, chain0, perm, attempts, accepts, has_velocity)`` of
        the CPU replica-exchange driver; ``perm`` (C, K), ``attempts`` and
        ``accepts`` (K-1,) are updated in place.

    Raises
    ------
    BackendUnavailableError
        Without a usable GPU (one line; use ``backend="cpu"``).
    """
    require()
    d, m = xt.shape
    kernel = kernels_for(energy_grad).step(method)
    dX = cuda.to_device(np.ascontiguousarray(xt))
    dV = cuda.to_device(np.ascontiguousarray(vt))
    dE = cuda.to_device(e)
    dG = cuda.device_array((d, m))
    wy = m if method == MALA else 1
    dY = cuda.device_array((d, wy))
    dGY = cuda.device_array((d, wy))
    dp = cuda.to_device(np.ascontiguousarray(params, dtype=np.float64))
    dT = cuda.to_device(np.ascontiguousarray(temps, dtype=np.float64))
    dphi = cuda.to_device(np.ascontiguousarray(phi, dtype=np.float64))
    dacc = cuda.to_device(acc)
    dstatus = cuda.to_device(status)
    flag = np.zeros(1, dtype=np.int64)
    dflag = cuda.to_device(flag)
    c1 = math.exp(-gamma * dt)
    c2 = math.sqrt(1.0 - c1 * c1)
    end = step0 + n

    rec = set()
    if rec_every > 0:
        rec = set(range(rec_origin, end + 1, rec_every)) - {step0}
    events = set(rec) | {end}
    if replica is not None:
        n_temps, swap_every, chain0, perm, att, acc_sw, has_velocity = replica
        n_chains = m // n_temps
        rounds = set(range(step0 + swap_every, end + 1, swap_every))
        events |= rounds
        dperm = cuda.to_device(np.ascontiguousarray(perm, dtype=np.int64))
        datt = cuda.to_device(np.zeros((n_chains, n_temps - 1), dtype=np.int64))
        dacs = cuda.to_device(np.zeros((n_chains, n_temps - 1), dtype=np.int64))
        swap = _swap_kernel()
    else:
        rounds = set()
    # split long stretches so that no launch exceeds MAX_STEPS_PER_LAUNCH steps
    cuts = sorted(b for b in events if b > step0)
    bounds: list[int] = []
    cur = step0
    for b in cuts:
        while b - cur > MAX_STEPS_PER_LAUNCH:
            cur += MAX_STEPS_PER_LAUNCH
            bounds.append(cur)
        bounds.append(b)
        cur = b

    grid, tpb = dv.blocks(m), dv.threads_per_block()
    cur = step0
    sd = np.uint64(seed)
    with dv.nvvm_fma():
        for b in bounds:
            kernel[grid, tpb](
                dX, dV, dE, dG, dY, dGY, dp, dT, dphi, np.int64(cur - step0), np.float64(dt),
                np.float64(c1), np.float64(c2), np.float64(mass), sd, np.int64(stream0),
                np.int64(cur), np.int64(b - cur), dacc, dstatus, dflag)
            cur = b
            if b in rounds:
                if dflag.copy_to_host()[0]:
                    break  # as the CPU driver: no swap after a divergence, stop here
                parity = (b // swap_every) % 2
                fac = float(phi[b - step0 - 1])
                swap[dv.blocks(n_chains), tpb](
                    dX, dV, dE, dT, np.float64(fac), sd, np.int64(chain0), np.int64(b),
                    np.int64(parity), np.int64(n_temps), dperm, datt, dacs, bool(has_velocity))
            if b in rec:
                f = (b - rec_origin) // rec_every
                if f < frames.shape[0]:
                    frames[f] = dX.copy_to_host().T
                    frame_e[f] = dE.copy_to_host()
    xt[...] = dX.copy_to_host()
    if method == BAOAB:
        vt[...] = dV.copy_to_host()
    e[...] = dE.copy_to_host()
    acc[...] = dacc.copy_to_host()
    status[...] = dstatus.copy_to_host()
    if replica is not None:
        perm[...] = dperm.copy_to_host()
        att += datt.copy_to_host().sum(axis=0)
        acc_sw += dacs.copy_to_host().sum(axis=0)


_ = (GD, OVERDAMPED)  # integrator codes used as closure constants above
