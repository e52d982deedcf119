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

One *block function* per integrator runs it over one block; a driver runs it over
all blocks (``drive``) or interleaves it with replica-exchange swaps
(``drive_pt``).  Their source is the template :mod:`langevin_opt._walker_template`,
specialised for one landscape ``energy_grad(X, i, p, G)`` and one integrator by
:func:`langevin_opt.core.jitcache.specialize`: each pair gets its own fully inlined
machine code, compiled on first use and cached on disk, so a second process loads
it instead of compiling (built-in landscapes and user landscapes defined at module
level in a file; closures compile in every process, see :mod:`~langevin_opt.core.jitcache`).

Status codes: ``status[i] = -1`` while walker ``i`` is finite; otherwise the
global step at which its energy, gradient or position became non-finite.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable
from typing import NamedTuple

import numba
import numpy as np

from .core import jitcache
from .core.codes import BAOAB, GD, MALA, OVERDAMPED
from .rng import PURPOSE_SWAP, uniform2

# Integer codes of the integrators (first argument of the drivers) come from
# core.codes; re-exported here for the CUDA backend.
__all__ = ["BAOAB", "GD", "MALA", "OVERDAMPED", "KernelSet", "Scratch", "kernels_for",
           "make_scratch", "swap_chain"]

# _nrt=False: no reference counting.  Array arguments passed to the inlined landscape
# function otherwise get incref/decref calls inside the walker loop, which stop LLVM
# from vectorizing it (measured: 47 -> 10 ns per Müller–Brown gradient).  The kernels
# therefore allocate nothing; scratch space comes from the caller (see Scratch).  The
# templates (_walker_template, rates._first_passage_template) compile with these too.
JIT_OPTIONS = {"nogil": True, "error_model": "numpy", "_nrt": False}
_JIT = {"cache": True, **JIT_OPTIONS}


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


#: the template module of the walker kernels (see :mod:`langevin_opt._walker_template`)
TEMPLATE = "langevin_opt._walker_template"
#: ``METHOD`` of the specialisation that only evaluates energies and gradients
EVALUATE_ONLY = -1


class KernelSet:
    """Lazily compiled, disk-cached kernels for one landscape ``energy_grad`` function.

    One module is specialised from :data:`TEMPLATE` per integrator (and one for
    :meth:`evaluate`), on first use: a call compiles, or loads from the cache,
    only the kernels it runs (no replica-exchange driver unless one is asked for).

    Parameters
    ----------
    energy_grad : numba dispatcher
        The landscape kernel ``energy_grad(X, i, params, G) -> float``.
    """

    def __init__(self, energy_grad: Callable) -> None:
        self.energy_grad = energy_grad
        self._modules: dict[int, types.ModuleType] = {}

    def module(self, method: int) -> types.ModuleType:
        """Return (specialising on first use) the kernel module of one integrator.

        Parameters
        ----------
        method : int
            Integrator code, or :data:`EVALUATE_ONLY`.

        Returns
        -------
        module
            The specialised template (:func:`langevin_opt.core.jitcache.specialize`).
        """
        mod = self._modules.get(method)
        if mod is None:
            mod = jitcache.specialize(TEMPLATE, {"eg": self.energy_grad, "METHOD": int(method)})
            self._modules[method] = mod
        return mod

    def evaluate(self, Xt: np.ndarray, p: np.ndarray, E: np.ndarray, Gt: np.ndarray) -> None:
        """Evaluate energies ``E`` (M,) and gradients ``Gt`` (d, M) of ``Xt`` (d, M) in place.

        Parameters
        ----------
        Xt, p, E, Gt : numpy.ndarray
            Positions (column layout), parameters and the output arrays.
        """
        self.module(EVALUATE_ONLY).evaluate(Xt, p, E, Gt)

    def driver(self, method: int, replica_exchange: bool = False) -> Callable:
        """Return the driver of one integrator (it compiles, or loads, on first call).

        Parameters
        ----------
        method : int
            Integrator code: ``GD``, ``OVERDAMPED``, ``MALA`` or ``BAOAB``.
        replica_exchange : bool
            Whether to return the replica-exchange driver.

        Returns
        -------
        callable
            The driver (a Numba dispatcher of the specialised module).
        """
        if method not in (GD, OVERDAMPED, MALA, BAOAB):
            raise ValueError(f"unknown integrator code {method!r}")
        mod = self.module(method)
        return mod.drive_pt if replica_exchange else mod.drive


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
