"""CUDA first-passage loop: the GPU twin of :func:`langevin_opt.rates.first_passage`.

One thread per walker runs a chunk of steps per launch with the arithmetic and
random numbers of :mod:`langevin_opt.cuda.walkers` (the scalar update functions
of :mod:`langevin_opt.cuda._device`, keys ``(seed, walker_offset + i, step, q,
PURPOSE_NOISE)``), tests the commitment regions after every step exactly as the
CPU loop does (squared distances to each centre, in basin order; the first basin
other than the walker's own whose ball holds it), and stops at commitment, at its
step limit, or on a non-finite energy or position.  Finished threads return at
once; the host reads back only a counter of running walkers between launches.

The CPU loop swaps finished walkers out of their blocks and repacks the rest
between chunks; neither changes a walker's arithmetic, so first-passage steps,
basins and positions are those of the CPU loop (bit-identical under the
simulator and, with the default ``LANGEVIN_OPT_CUDA_FMA=0``, on a GPU for
landscapes written with IEEE arithmetic and :mod:`langevin_opt.fastmath`).

The step loop here repeats the overdamped and BAOAB steps of the walker kernel
(with schedule factor 1) instead of sharing a device function with it: the
kernels would then have to pass six arrays and a dozen scalars through a call
the simulator runs as Python; the arithmetic itself is shared (``_device``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numba import cuda  # a module global: the simulator swaps it for its fake module

from .._kernels import BAOAB
from ..rng import PURPOSE_INIT, PURPOSE_NOISE, check_seed, normals
from . import _device as dv
from .backend import require

__all__ = ["make_first_passage_kernel", "first_passage_signature", "first_passage"]

_DIVERGED = -2
THREADS_PER_BLOCK = 128


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
    normal2 = dv.normal2
    em_update, kick, drift, ou_update = dv.em_update, dv.kick, dv.drift, dv.ou_update
    baoab = method == BAOAB

    def fp_kernel(X, V, E, G, p, T, ids, origin, limit, dt, c1, c2, mass, seed, step0, n,
                  centers, r2, out_step, out_basin, out_x, running):
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
                for k in range(d):
                    V[k, i] = kick(V[k, i], G[k, i], hdtm)
                    X[k, i] = drift(X[k, i], V[k, i], hdt)
                for q in range((d + 1) // 2):
                    k = 2 * q
                    z0, z1 = normal2(seed, st, step, q, PURPOSE_NOISE)
                    V[k, i] = ou_update(V[k, i], c1, sd, z0)
                    X[k, i] = drift(X[k, i], V[k, i], hdt)
                    if k + 1 < d:
                        V[k + 1, i] = ou_update(V[k + 1, i], c1, sd, z1)
                        X[k + 1, i] = drift(X[k + 1, i], V[k + 1, i], hdt)
                e = eg(X, i, p, G)
                for k in range(d):
                    V[k, i] = kick(V[k, i], G[k, i], hdtm)
            else:
                for q in range((d + 1) // 2):
                    k = 2 * q
                    z0, z1 = normal2(seed, st, step, q, PURPOSE_NOISE)
                    X[k, i] = em_update(X[k, i], G[k, i], dt, sig, z0)
                    if k + 1 < d:
                        X[k + 1, i] = em_update(X[k + 1, i], G[k + 1, i], dt, sig, z1)
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
                hit = _DIVERGED
            if hit != -1 or done >= limit[i]:
                out_step[i] = done
                out_basin[i] = hit
                for k in range(d):
                    out_x[i, k] = X[k, i]
                finished = True
                break
        E[i] = e
        if not finished:
            cuda.atomic.add(running, 0, 1)

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


def first_passage(landscape, integrator, positions: np.ndarray, basins, *,
                  temperature: float | np.ndarray, max_steps: int | np.ndarray, seed: int,
                  start_basin: int | np.ndarray | None = None,
                  velocities: np.ndarray | None = None, walker_offset: int = 0,
                  chunk: int = 4096):
    """First-passage run on the GPU; the arguments and result of the CPU function.

    See :func:`langevin_opt.rates.first_passage` for the parameters (``threads``,
    ``progress`` and ``compact`` have no GPU meaning and are not taken).

    Parameters
    ----------
    landscape : Landscape
    integrator : Overdamped or BAOAB
    positions : array_like, shape (M, d)
    basins : Basins
    temperature : float or array_like, shape (M,)
        Temperatures (> 0, ``k_B = 1``).
    max_steps : int or array_like of int, shape (M,)
        Step limit per walker (censoring).
    seed : int
    start_basin : int or array_like of int, optional
    velocities : array_like, shape (M, d), optional
        BAOAB only; default Maxwell–Boltzmann as the CPU function draws them.
    walker_offset : int
        RNG stream id of walker 0.
    chunk : int
        Steps per launch.

    Returns
    -------
    FirstPassageResult

    Raises
    ------
    BackendUnavailableError
        Without a usable GPU.
    FloatingPointError
        A walker became non-finite.
    """
    from ..rates.first_passage import STILL_RUNNING, Basins, FirstPassageResult
    from ..sampling import BAOAB as BAOABInt
    from ..sampling import Overdamped, _as_positions

    require()
    if not isinstance(integrator, (Overdamped, BAOABInt)):
        raise ValueError("integrator must be Overdamped or BAOAB for first-passage runs, "
                         f"got {type(integrator).__name__}")
    if not isinstance(basins, Basins) or basins.dim != landscape.dim:
        raise ValueError("basins must be a Basins of the landscape's dimension")
    d = landscape.dim
    x = _as_positions("positions", positions, d)
    m = x.shape[0]
    seed = check_seed(seed)
    temps = np.broadcast_to(np.asarray(temperature, dtype=np.float64), (m,)).copy()
    if not np.all(np.isfinite(temps)) or np.any(temps <= 0):
        raise ValueError("temperature must be finite and > 0 for every walker")
    ms = np.asarray(max_steps)
    if ms.dtype.kind not in "iu" or np.any(ms < 1) or ms.ndim > 1:
        raise ValueError(f"max_steps must be an integer >= 1 or one per walker, got {max_steps!r}")
    limit = np.ascontiguousarray(np.broadcast_to(ms, (m,)).astype(np.int64))
    here = basins.assign(x)
    if start_basin is None:
        if np.any(here < 0):
            raise ValueError(f"walker {int(np.flatnonzero(here < 0)[0])} starts outside every "
                             "basin region; pass start_basin")
        origin = here.astype(np.int64)
    else:
        origin = np.broadcast_to(np.asarray(start_basin, dtype=np.int64), (m,)).copy()
    baoab = isinstance(integrator, BAOABInt)
    mass = float(getattr(integrator, "mass", 1.0))
    gamma = float(getattr(integrator, "friction", 1.0))
    if baoab:
        v = (normals(seed, (m, d), stream0=int(walker_offset), step=0, purpose=PURPOSE_INIT)
             * np.sqrt(temps * 1.0 / mass)[:, None]) if velocities is None else \
            _as_positions("velocities", velocities, d)
    else:
        v = np.zeros((1, d))
    dt = float(integrator.dt)
    c1 = math.exp(-gamma * dt)
    c2 = math.sqrt(1.0 - c1 * c1)
    kern = _kernel(landscape.energy_grad, integrator.code)
    dX = cuda.to_device(np.ascontiguousarray(x.T))
    dV = cuda.to_device(np.ascontiguousarray(v.T))
    dE = cuda.device_array(m)
    dG = cuda.device_array((d, m))
    dp = cuda.to_device(landscape.params)
    dT = cuda.to_device(temps)
    dids = cuda.to_device(np.arange(m, dtype=np.int64) + int(walker_offset))
    dorg = cuda.to_device(np.ascontiguousarray(origin))
    dlim = cuda.to_device(limit)
    dcen = cuda.to_device(np.ascontiguousarray(basins.centers, dtype=np.float64))
    dr2 = cuda.to_device(np.ascontiguousarray(basins.radii**2, dtype=np.float64))
    dstep = cuda.to_device(np.full(m, -1, dtype=np.int64))
    dbas = cuda.to_device(np.full(m, STILL_RUNNING, dtype=np.int64))
    dout = cuda.device_array((m, d))
    total = int(limit.max())
    grid = max(1, (m + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK)
    step = 0
    with dv.nvvm_fma():
        while step < total:
            n = int(min(chunk, total - step))
            running = cuda.to_device(np.zeros(1, dtype=np.int64))
            kern[grid, THREADS_PER_BLOCK](dX, dV, dE, dG, dp, dT, dids, dorg, dlim,
                                          np.float64(dt), np.float64(c1), np.float64(c2),
                                          np.float64(mass), np.uint64(seed), np.int64(step),
                                          np.int64(n), dcen, dr2, dstep, dbas, dout, running)
            step += n
            if int(running.copy_to_host()[0]) == 0:
                break
    steps = dstep.copy_to_host()
    basin = dbas.copy_to_host()
    if np.any(basin == _DIVERGED):
        k = int(np.flatnonzero(basin == _DIVERGED)[0])
        raise FloatingPointError(f"non-finite energy or coordinates at step {steps[k]} for "
                                 f"walker {k} (landscape '{landscape.name}', integrator "
                                 f"{integrator.kind}, dt={dt:g}); reduce dt")
    return FirstPassageResult(steps=steps, times=steps * dt, censored=basin < 0,
                              final_basin=basin, positions=dout.copy_to_host(),
                              temperatures=temps, start_basin=origin, dt=dt,
                              walker_steps=int(steps.sum()))
