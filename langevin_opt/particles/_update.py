"""Per-atom update math of the particle integrators: one source for the CPU and CUDA drivers.

Everything here is a module-level ``numba.njit`` function of plain arrays and
scalars.  The CPU drivers of :mod:`langevin_opt.particles.dynamics` (one system,
batched replicas) call them compiled; the CUDA drivers of
:mod:`langevin_opt.cuda.particles` compile the same Python sources as device
functions (``py_func``), with :func:`noise` drawing through the CUDA-compilable
``normal2`` of :mod:`langevin_opt.cuda._device` (the same numbers).  This module
imports no driver and no front end.

Integrator codes are :mod:`langevin_opt.core.codes`; ``c1`` is
:func:`friction_factor`: ``exp(-friction dt)`` for BAOAB, ``1 / friction`` for the
overdamped scheme, 0 for velocity Verlet.  Units are reduced (``k_B = 1``).
"""

from __future__ import annotations

import math

import numba

from ..core.codes import BAOAB, OVERDAMPED, VELOCITY_VERLET
from ..rng import PURPOSE_INIT, PURPOSE_NOISE, normal2

__all__ = ["noise", "first_half_atom", "kick_atom", "kinetic", "all_finite", "friction_factor",
           "mb_fill", "container_wall_py", "container_wall"]

_JIT = {"nogil": True, "error_model": "numpy", "cache": True}


@numba.njit(inline="always", **_JIT)
def noise(D, seed, stream, step):
    """Normals for the ``D`` components of one atom (one Philox call per pair)."""
    a, b = normal2(seed, stream, step, 0, PURPOSE_NOISE)
    c = 0.0
    if D == 3:
        c, _ = normal2(seed, stream, step, 1, PURPOSE_NOISE)
    return a, b, c


@numba.njit(inline="always", **_JIT)
def first_half_atom(code, i, x, v, f, minv, dt, c1, T, seed, stream, step):
    """Everything of one step of atom ``i`` before the new force is known.

    ``c1`` is ``exp(-friction dt)`` for BAOAB and ``1 / friction`` for the
    overdamped scheme.
    """
    D = x.shape[1]
    if code == OVERDAMPED:
        mu = minv[i] * c1
        s = math.sqrt(2.0 * T * dt * mu)
        n0, n1, n2 = noise(D, seed, stream, step)
        x[i, 0] += dt * mu * f[i, 0] + s * n0
        x[i, 1] += dt * mu * f[i, 1] + s * n1
        if D == 3:
            x[i, 2] += dt * mu * f[i, 2] + s * n2
        return
    h = 0.5 * dt
    for k in range(D):
        v[i, k] += h * minv[i] * f[i, k]
    if code == VELOCITY_VERLET:
        for k in range(D):
            x[i, k] += dt * v[i, k]
        return
    for k in range(D):
        x[i, k] += h * v[i, k]
    s = math.sqrt((1.0 - c1 * c1) * T * minv[i])
    n0, n1, n2 = noise(D, seed, stream, step)
    v[i, 0] = c1 * v[i, 0] + s * n0
    v[i, 1] = c1 * v[i, 1] + s * n1
    if D == 3:
        v[i, 2] = c1 * v[i, 2] + s * n2
    for k in range(D):
        x[i, k] += h * v[i, k]


@numba.njit(inline="always", **_JIT)
def kick_atom(i, v, f, minv, h):
    """Half kick of atom ``i``: ``v_i += h f_i / m_i`` (``h = dt / 2``, time units)."""
    for k in range(v.shape[1]):
        v[i, k] += h * minv[i] * f[i, k]


@numba.njit(**_JIT)
def kinetic(v, m):
    """Kinetic energy ``sum_i m_i |v_i|^2 / 2`` (energy units) of velocities ``v`` (N, d)."""
    k = 0.0
    for i in range(v.shape[0]):
        s = 0.0
        for j in range(v.shape[1]):
            s += v[i, j] * v[i, j]
        k += m[i] * s
    return 0.5 * k


@numba.njit(**_JIT)
def all_finite(a):
    """Whether every entry of the 2-D array ``a`` is finite."""
    for i in range(a.shape[0]):
        for k in range(a.shape[1]):
            if not math.isfinite(a[i, k]):
                return False
    return True


def friction_factor(code: int, friction: float, dt: float) -> float:
    """The ``c1`` argument of :func:`first_half_atom` for an integrator.

    Parameters
    ----------
    code : int
        Integrator code (:mod:`langevin_opt.core.codes`).
    friction : float
        Friction rate ``gamma`` (1 / time units; ignored by velocity Verlet).
    dt : float
        Time step (time units).

    Returns
    -------
    float
        ``exp(-gamma dt)`` (BAOAB), ``1 / gamma`` (overdamped), 0 (velocity Verlet).
    """
    if code == BAOAB:
        return math.exp(-friction * dt)
    if code == OVERDAMPED:
        return 1.0 / friction
    return 0.0


@numba.njit(**_JIT)
def mb_fill(v, minv, T, seed, stream0, step):
    """Maxwell–Boltzmann velocities: ``sqrt(T / m_i)`` times normals of stream ``stream0 + i``."""
    n, D = v.shape
    for i in range(n):
        s = math.sqrt(T * minv[i])
        a, b = normal2(seed, stream0 + i, step, 0, PURPOSE_INIT)
        c, _ = normal2(seed, stream0 + i, step, 1, PURPOSE_INIT)
        v[i, 0] = s * a
        v[i, 1] = s * b
        if D == 3:
            v[i, 2] = s * c


def container_wall_py(x, wall, F, e, w):
    """Add the spherical wall ``wall = (radius, k)`` to ``F`` and return ``e, w`` with it.

    One source for the CPU replica kernels and (as a device function) the CUDA ones.
    """
    for i in range(x.shape[0]):
        r2 = 0.0
        for k in range(x.shape[1]):
            r2 += x[i, k] * x[i, k]
        r = math.sqrt(r2)
        if r > wall[0]:
            ex = r - wall[0]
            e += 0.5 * wall[1] * ex * ex
            g = wall[1] * ex / r
            for k in range(x.shape[1]):
                F[i, k] -= g * x[i, k]
            w -= g * r2
    return e, w


container_wall = numba.njit(inline="always", nogil=True, error_model="numpy")(
    container_wall_py)
