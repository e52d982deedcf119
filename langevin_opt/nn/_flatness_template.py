"""Kernel template: the Langevin loop of :func:`langevin_opt.nn.flatness.local_entropy`.

A :mod:`langevin_opt.core.jitcache` template: ``local_entropy`` calls
``specialize(__name__, {"fe": landscape.full_energy_grad})``, which renders this
source with ``fe`` bound into a generated module in the cache directory, so that
Numba's disk cache stores the compiled loop (``cache=CACHE``; a dispatcher passed
as an argument would miss the cache in every new process).  Imports are absolute:
the generated module lives outside the package.

``local_langevin(theta, data, fw, iw, g, xp, gamma, temp, eta, n_steps, burn_in, seed,
chain, mu, stats)`` runs one chain from ``xp = theta``, adds the kept positions to
``mu`` and ``[sum |xp - theta|^2, sum U, count]`` to ``stats``, and returns ``-1``,
or the first step at a non-finite energy (``n_steps`` for a non-finite position at
the end).
"""

from __future__ import annotations

import math

import numba

from langevin_opt.core.jitcache import import_template_default
from langevin_opt.rng import PURPOSE_NOISE, normal2

# jitcache: bindings
fe = import_template_default("fe")
CACHE = False
# jitcache: end


@numba.njit(cache=CACHE)
def local_langevin(theta, data, fw, iw, g, xp, gamma, temp, eta, n_steps, burn_in, seed, chain,
                   mu, stats):
    P = theta.shape[0]
    h = P // 2
    for p in range(P):
        xp[p] = theta[p]
    s = math.sqrt(2.0 * eta * temp)
    for t in range(n_steps):
        u = fe(xp, data, fw, iw, g)
        if not math.isfinite(u):
            return t  # first step at a non-finite energy (nothing of it is averaged)
        if t >= burn_in:
            d2 = 0.0
            for p in range(P):
                d = xp[p] - theta[p]
                d2 += d * d
                mu[p] += xp[p]
            stats[0] += d2
            stats[1] += u
            stats[2] += 1.0
        for p in range(P):
            g[p] += gamma * (xp[p] - theta[p])
        for q in range(h):
            z0, z1 = normal2(seed, chain, t, q, PURPOSE_NOISE)
            xp[q] = xp[q] - eta * g[q] + s * z0
            xp[h + q] = xp[h + q] - eta * g[h + q] + s * z1
        if P % 2:
            z0, z1 = normal2(seed, chain, t, h, PURPOSE_NOISE)
            xp[P - 1] = xp[P - 1] - eta * g[P - 1] + s * z0
    for p in range(P):
        if not math.isfinite(xp[p]):
            return n_steps
    return -1
