"""Kernel template: the replica kernels of one pair function, one bond function and dimension.

A :mod:`langevin_opt.core.jitcache` template: the replica front ends of
:mod:`langevin_opt.particles.dynamics` (:func:`~langevin_opt.particles.dynamics.run_replicas`,
:func:`~langevin_opt.particles.dynamics.fire_replicas`) call
``specialize(__name__, {"pair": ..., "bond": ..., "D": 2 or 3})``, which renders this
source with the names bound into a generated module in the cache directory, so that
Numba's disk cache stores the compiled kernels (``cache=CACHE``).  Each kernel
compiles on its first call: a run compiles ``evaluate`` and ``run``, a quench
``evaluate`` and ``fire``.  Imports are absolute: the generated module lives outside
the package.

Kernels
-------
``run(code, X, V, F, E, W, minv, species, ptab, S, blist, btab, box, periodic, wall, dt,
c1, temps, tfac, seed, streams, step0, n_steps, status)``
    ``n_steps`` integrator steps of every replica (replicas over threads).
``evaluate(X, F, E, W, species, ptab, S, blist, btab, box, periodic, wall)``
    Energies, forces and virials of every replica.
``fire(X, E, steps, conv, species, ptab, S, blist, btab, box, periodic, wall, prm,
max_steps)``
    A FIRE quench of every replica.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from langevin_opt.core.codes import OVERDAMPED
from langevin_opt.core.jitcache import import_template_default
from langevin_opt.particles._force_template import rint
from langevin_opt.particles._update import container_wall, first_half_atom, kick_atom
from langevin_opt.particles.fire import fire_fmax2, fire_step
from langevin_opt.particles.forces import all_pairs_source, bonds_source

# jitcache: bindings
pair = import_template_default("pair")
bond = import_template_default("bond")
D = 3
CACHE = False
# jitcache: end

_JIT = {"nogil": True, "error_model": "numpy"}


# the force loops of the one-system kernels (particles._force_template), compiled here
# for this template's pair and bond functions
all_pairs = numba.njit(nogil=True, error_model="numpy", _nrt=False)(
    all_pairs_source(pair, rint, D))
bonds = numba.njit(nogil=True, error_model="numpy", _nrt=False)(bonds_source(bond, D))


@numba.njit(inline="always", **_JIT)
def forces(x, species, ptab, S, blist, btab, box, periodic, wall, F):
    for i in range(x.shape[0]):
        for k in range(D):
            F[i, k] = 0.0
    e, w = all_pairs(x, species, ptab, S, box, periodic, F)
    e2, w2 = bonds(x, blist, btab, box, periodic, F)
    e += e2
    w += w2
    if wall[1] > 0.0:
        e, w = container_wall(x, wall, F, e, w)
    return e, w


@numba.njit(parallel=True, cache=CACHE, **_JIT)
def run(code, X, V, F, E, W, minv, species, ptab, S, blist, btab, box, periodic, wall,
        dt, c1, temps, tfac, seed, streams, step0, n_steps, status):
    # cuda.particles.replica_kernels "run" repeats this loop as its one-thread-per-
    # replica device variant (same per-atom sources, same order, same checks)
    n = X.shape[1]
    for r in prange(X.shape[0]):
        if status[r] >= 0:
            continue
        x = X[r]
        v = V[r]
        f = F[r]
        base = streams[r] * n
        for s in range(n_steps):
            T = temps[r] * tfac[s]
            step = step0 + s
            for i in range(n):
                first_half_atom(code, i, x, v, f, minv, dt, c1, T, seed, base + i, step)
            e, w = forces(x, species, ptab, S, blist, btab, box, periodic, wall, f)
            if code != OVERDAMPED:
                for i in range(n):
                    kick_atom(i, v, f, minv, 0.5 * dt)
            E[r] = e
            W[r] = w
            # the virial catches infinite forces at a finite energy (LJ's r^-14 force
            # overflows before its r^-12 energy; the next step's infinite positions
            # would drop out of every pair sum)
            if not (math.isfinite(e) and math.isfinite(w)):
                status[r] = step + 1
                break


@numba.njit(parallel=True, cache=CACHE, **_JIT)
def evaluate(X, F, E, W, species, ptab, S, blist, btab, box, periodic, wall):
    for r in prange(X.shape[0]):
        e, w = forces(X[r], species, ptab, S, blist, btab, box, periodic, wall, F[r])
        E[r] = e
        W[r] = w


@numba.njit(parallel=True, cache=CACHE, **_JIT)
def fire(X, E, steps, conv, species, ptab, S, blist, btab, box, periodic, wall, prm,
         max_steps):
    n = X.shape[1]
    f2 = prm[8] * prm[8]
    for r in prange(X.shape[0]):
        x = X[r]
        v = np.zeros((n, D))
        f = np.zeros((n, D))
        st = np.empty(3)
        st[0] = prm[0]
        st[1] = prm[5]
        st[2] = 0.0
        e, _ = forces(x, species, ptab, S, blist, btab, box, periodic, wall, f)
        it = 0
        while it < max_steps and fire_fmax2(f) >= f2:
            fire_step(x, v, f, st, prm)
            e, _ = forces(x, species, ptab, S, blist, btab, box, periodic, wall, f)
            it += 1
            if not math.isfinite(e):
                break
        E[r] = e
        steps[r] = it
        conv[r] = fire_fmax2(f) < f2
