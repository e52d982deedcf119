"""Compiled multi-chain loops of the SG-MCMC methods.

Layout and parallelism
----------------------
``C`` chains of ``P`` parameters: ``theta`` has shape ``(C, P)``; every chain has
its own rows of ``fwork``/``iwork`` (the data landscape's scratch), of
``grad`` and of the method state ``aux`` (``(C, A * P)``: pSGLD's ``V``,
SGHMC's velocity, Entropy-SGD's ``x'``, ``mu`` and momentum) and ``auxs``
(``(C, 4)`` scalars).  Kept draws go to ``samples`` ``(C, S, P)`` and ``energies``
``(C, S)``, chain first like every other per-chain array (each thread writes its own
rows).  The independent methods run ``prange`` over chains, each
chain running *all* steps of the call (one parallel region per call, no
per-step Python or threading overhead).  Replica exchange runs step by step:
a parallel gradient phase, a serial swap phase, a parallel update phase.

Reproducibility
---------------
Every random number is ``normal2``/``uniform2(seed, stream, step, draw,
purpose)``: the dynamics noise of parameter ``p`` of chain ``c`` at global step
``s`` is the first normal of draw ``p`` (``p < ceil(P/2)``) or the second of draw
``p - ceil(P/2)`` of stream ``c`` (purpose ``PURPOSE_NOISE``), the
minibatch is :func:`langevin_opt.datalandscape.minibatch` of ``(seed, c, s)``, a
replica-exchange swap of pair ``k`` of group ``g`` is draw ``k`` of stream ``g``
(purpose ``PURPOSE_SWAP``).  No floating-point operation mixes chains except the
swap test, which runs serially, so results are bit-identical for any number of
threads and any number of chains run together (pass ``chain0``).

One runner is compiled per ``(energy_grad dispatcher, method code)`` pair: the
kernel template :mod:`._template` is specialised for both
(:func:`langevin_opt.core.jitcache.specialize`: compile-time constants, so the
method's branches fold away and the energy is inlined), memoized per pair, and
for landscape functions defined at module level (the built-in models and
networks) cached on disk across processes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numba

from ..rng import PURPOSE_NOISE, normal2
from .methods import K_CSGLD, K_ENTROPY, K_PSGLD, K_RESGLD, K_SGD, K_SGHMC, K_SGLD

__all__ = ["swap_log_ratio", "update", "make_runner", "make_exchange_runner", "make_full_energy"]


@numba.njit(cache=True)
def swap_log_ratio(u1, u2, t1, t2, variance, inv_correction):
    """Log acceptance threshold of the corrected reSGLD swap (Deng et al., ICML 2020).

    A swap is accepted if ``log(u) < swap_log_ratio(...)``, ``u ~ U(0, 1)``.

    Parameters
    ----------
    u1, u2 : float
        Minibatch energies ``U~`` (scaled to the full data set) of the replicas
        at temperatures ``t1`` and ``t2``.
    t1, t2 : float
        Temperatures (> 0).
    variance : float
        ``s2``, variance of the noisy energy difference ``U~1 - U~2``.
    inv_correction : float
        ``1 / F`` (0 gives the naive swap).

    Returns
    -------
    float
        ``(1/t1 - 1/t2) * (u1 - u2 - (1/t1 - 1/t2) * variance / F)``.
    """
    d = 1.0 / t1 - 1.0 / t2
    return d * (u1 - u2 - d * variance * inv_correction)


# The update loops are compiled without reference counting (``_nrt``) and with NumPy's
# error model: array arguments of the inlined element functions otherwise get
# incref/decref calls inside the loop, and division checks branch out of it; either stops
# LLVM from vectorizing.  The two halves are passed as separate views: with both stores
# into one array (``theta[q]``, ``theta[q + h]``) LLVM gives up on the aliasing checks
# (measured at P = 9,610: 168 -> 32 us per SGLD update).
_UPD = {"cache": True, "error_model": "numpy", "_nrt": False}

# Noise layout: the normal pair q = 0 .. ceil(P/2) - 1 of a step (one Philox call) goes to
# parameters q and q + ceil(P/2).  Both halves are contiguous, so the update loops below
# run over q and vectorize (a pair-to-(2q, 2q+1) layout carried a value across iterations
# and did not: 330 vs 65 us per SGLD update at P = 9,610).


@numba.njit(inline="always", **_UPD)
def _sgld_elem(theta, g, p, eta, s, z):
    theta[p] = theta[p] - eta * g[p] + s * z


@numba.njit(inline="always", **_UPD)
def _psgld_elem(theta, g, aux, p, z, alpha, lam, first, eta, temp):
    gp = g[p]
    v = gp * gp if first else alpha * aux[p] + (1.0 - alpha) * gp * gp
    aux[p] = v
    pre = 1.0 / (lam + math.sqrt(v))
    th = theta[p] - eta * pre * gp
    if temp > 0.0:
        th = th + math.sqrt(2.0 * eta * temp * pre) * z
    theta[p] = th


@numba.njit(inline="always", **_UPD)
def _sghmc_elem(theta, g, aux, p, z, a, eta, s):
    v = (1.0 - a) * aux[p] - eta * g[p] + s * z
    aux[p] = v
    theta[p] = theta[p] + v


@numba.njit(inline="always", **_UPD)
def _entropy_elem(th, g, xp, mu, p, z, gam, eta_in, sn, b1):
    x = xp[p] - eta_in * (g[p] - gam * (th[p] - xp[p])) + sn * z
    xp[p] = x
    mu[p] = b1 * mu[p] + (1.0 - b1) * x


@numba.njit(**_UPD)
def update(kind, theta, g, aux, auxs, eta, temp, hp, seed, stream, step):
    """One update of a single chain (all methods but Entropy-SGD and the swaps).

    Parameters
    ----------
    kind : int
        Method code (``methods.K_*``).
    theta : numpy.ndarray, shape (P,)
        Parameters, updated in place.
    g : numpy.ndarray, shape (P,)
        ``grad U~(theta)``.
    aux : numpy.ndarray, shape (A * P,)
        Method state (pSGLD ``V``, SGHMC velocity).
    auxs : numpy.ndarray, shape (4,)
        Scalar state (``auxs[0]``: pSGLD steps taken).
    eta, temp : float
        Step size and temperature of this step.
    hp : numpy.ndarray, shape (8,)
        Method constants (``Method.hyper()``).
    seed, stream, step : int
        Random-number key.
    """
    n = theta.shape[0]
    h = (n + 1) // 2
    odd = n % 2 == 1
    if kind == K_SGD or temp <= 0.0 and (kind == K_SGLD or kind == K_CSGLD or kind == K_RESGLD):
        for p in range(n):
            theta[p] = theta[p] - eta * g[p]
    elif kind == K_SGLD or kind == K_CSGLD or kind == K_RESGLD:
        s = math.sqrt(2.0 * eta * temp)
        t_lo, t_hi, g_lo, g_hi = theta[:h], theta[h:], g[:h], g[h:]
        for q in range(n // 2):
            a, b = normal2(seed, stream, step, q, PURPOSE_NOISE)
            _sgld_elem(t_lo, g_lo, q, eta, s, a)
            _sgld_elem(t_hi, g_hi, q, eta, s, b)
        if odd:
            a, b = normal2(seed, stream, step, h - 1, PURPOSE_NOISE)
            _sgld_elem(theta, g, h - 1, eta, s, a)
    elif kind == K_PSGLD:
        alpha = hp[0]
        lam = hp[1]
        first = auxs[0] == 0.0
        t_lo, t_hi, g_lo, g_hi = theta[:h], theta[h:], g[:h], g[h:]
        a_lo, a_hi = aux[:h], aux[h:n]
        for q in range(n // 2):
            a, b = normal2(seed, stream, step, q, PURPOSE_NOISE)
            _psgld_elem(t_lo, g_lo, a_lo, q, a, alpha, lam, first, eta, temp)
            _psgld_elem(t_hi, g_hi, a_hi, q, b, alpha, lam, first, eta, temp)
        if odd:
            a, b = normal2(seed, stream, step, h - 1, PURPOSE_NOISE)
            _psgld_elem(theta, g, aux, h - 1, a, alpha, lam, first, eta, temp)
        auxs[0] += 1.0
    elif kind == K_SGHMC:
        a0 = hp[0]
        s = math.sqrt(2.0 * (a0 - hp[1]) * eta * temp) if temp > 0.0 else 0.0
        t_lo, t_hi, g_lo, g_hi = theta[:h], theta[h:], g[:h], g[h:]
        a_lo, a_hi = aux[:h], aux[h:n]
        for q in range(n // 2):
            a, b = normal2(seed, stream, step, q, PURPOSE_NOISE)
            _sghmc_elem(t_lo, g_lo, a_lo, q, a, a0, eta, s)
            _sghmc_elem(t_hi, g_hi, a_hi, q, b, a0, eta, s)
        if odd:
            a, b = normal2(seed, stream, step, h - 1, PURPOSE_NOISE)
            _sghmc_elem(theta, g, aux, h - 1, a, a0, eta, s)


@numba.njit(**_UPD)
def step_one(kind, theta, g, aux, auxs, eta, temp, hp, seed, stream, step):
    """Compiled :func:`update` with a run-time method code (used by ``Optimizer``).

    Parameters
    ----------
    kind, theta, g, aux, auxs, eta, temp, hp, seed, stream, step
        See :func:`update`.
    """
    update(kind, theta, g, aux, auxs, eta, temp, hp, seed, stream, step)


@numba.njit(inline="always")
def _keep(r, c, th, u, samples, energies, best_e, best_theta):
    # what every runner does with the state before a step's update: record it as draw
    # r of chain c (if r >= 0; samples (C, S, P), energies (C, S), chain first) and keep
    # it if its energy is the lowest of chain c so far
    if r >= 0:
        for p in range(th.shape[0]):
            samples[c, r, p] = th[p]
        energies[c, r] = u
    if u < best_e[c]:
        best_e[c] = u
        for p in range(th.shape[0]):
            best_theta[c, p] = th[p]


_RUNNERS: dict = {}
_EXCHANGE: dict = {}
_FULL: dict = {}
_TEMPLATE = "langevin_opt.sgmcmc._template"


def _specialize(bindings: dict):
    from ..core.jitcache import specialize

    return specialize(_TEMPLATE, bindings)


def make_runner(energy_grad: Callable, kind: int) -> Callable:
    """Compiled multi-chain loop of an independent-chain method (memoized).

    The loop comes from the kernel template :mod:`._template` specialised for
    ``energy_grad`` and ``kind``; for an ``energy_grad`` defined at module level (the
    built-in models and networks) its machine code is cached on disk.

    Parameters
    ----------
    energy_grad : numba dispatcher
        ``(theta, data, fwork, iwork, seed, chain, step, grad) -> U~``.
    kind : int
        Method code other than replica exchange.

    Returns
    -------
    numba dispatcher
        ``run(theta, data, fwork, iwork, aux, auxs, grad, seed, chain0, step0,
        eta, temps, eta_fac, temp_fac, hp, rec_idx, samples, energies, best_e,
        best_theta, status)``; ``rec_idx[t]`` is the draw ``k`` that step ``t`` of
        the call records into ``samples[c, k]`` and ``energies[c, k]`` (the state
        *before* the step's update and the energy ``U~`` the step evaluated there), or
        ``-1``.
    """
    key = (energy_grad, int(kind))
    if key not in _RUNNERS:
        mod = _specialize({"energy_grad": energy_grad, "KIND": int(kind)})
        _RUNNERS[key] = mod.run_entropy if int(kind) == K_ENTROPY else mod.run_independent
    return _RUNNERS[key]


def make_exchange_runner(energy_grad: Callable) -> Callable:
    """Compiled replica-exchange SGLD loop (memoized per dispatcher).

    Chains ``g * K + k`` form group ``g`` (``K = hp[4]`` replicas); each step:
    gradients of all chains in parallel, a swap round every ``hp[3]`` steps
    (serial), then the SGLD updates in parallel.  Cached on disk as
    :func:`make_runner`.

    Parameters
    ----------
    energy_grad : numba dispatcher
        The data landscape's minibatch energy.

    Returns
    -------
    numba dispatcher
        ``run(theta, data, fwork, iwork, auxs, grad, ubuf, seed, chain0, group0,
        step0, eta, temps, eta_fac, temp_fac, hp, rec_idx, samples, energies,
        best_e, best_theta, status, attempts, accepts)``.
    """
    if energy_grad not in _EXCHANGE:
        mod = _specialize({"energy_grad": energy_grad, "KIND": K_RESGLD})
        _EXCHANGE[energy_grad] = mod.run_exchange
    return _EXCHANGE[energy_grad]


def make_full_energy(full_energy_grad: Callable) -> Callable:
    """Compiled exact energies of all chains (memoized per dispatcher).

    Cached on disk as :func:`make_runner`.

    Parameters
    ----------
    full_energy_grad : numba dispatcher
        ``(theta, data, fwork, iwork, grad) -> U``.

    Returns
    -------
    numba dispatcher
        ``full(theta, data, fwork, iwork, grad, out)`` writing ``U`` of chain
        ``c`` into ``out[c]``.
    """
    if full_energy_grad not in _FULL:
        _FULL[full_energy_grad] = _specialize({"full_energy_grad": full_energy_grad}).full
    return _FULL[full_energy_grad]
