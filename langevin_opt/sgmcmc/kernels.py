"""Compiled multi-chain loops of the SG-MCMC methods.

Layout and parallelism
----------------------
``C`` chains of ``P`` parameters: ``theta`` has shape ``(C, P)``; every chain has
its own rows of ``fwork``/``iwork`` (the data landscape's scratch), of
``grad`` and of the method state ``aux`` (``(C, A * P)``: pSGLD's ``V``,
SGHMC's velocity, Entropy-SGD's ``x'``, ``mu`` and momentum) and ``auxs``
(``(C, 4)`` scalars).  The independent methods run ``prange`` over chains, each
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
factory captures both as closure constants (so the method's branches fold
away and the energy is inlined) and is memoized per pair.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numba
import numpy as np
from numba import prange

from ..rng import PURPOSE_NOISE, PURPOSE_SWAP, normal2, uniform2
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
    # what every runner does with the state before a step's update: record it as frame
    # r (if r >= 0) and keep it if its energy is the lowest of chain c so far
    if r >= 0:
        for p in range(th.shape[0]):
            samples[r, c, p] = th[p]
        energies[r, c] = u
    if u < best_e[c]:
        best_e[c] = u
        for p in range(th.shape[0]):
            best_theta[c, p] = th[p]


_RUNNERS: dict = {}
_EXCHANGE: dict = {}
_FULL: dict = {}


def make_runner(energy_grad: Callable, kind: int) -> Callable:
    """Compiled multi-chain loop of an independent-chain method (memoized).

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
        best_theta, status)``; ``rec_idx[t]`` is the frame that step ``t`` of
        the call records (state *before* the step's update and the energy
        ``U~`` the step evaluated there), or ``-1``.
    """
    key = (energy_grad, int(kind))
    if key in _RUNNERS:
        return _RUNNERS[key]
    kind_c = int(kind)

    # The two loops below open alike (per-chain row views) but are kept apart on purpose:
    # each is compiled only for the methods that need it, and Entropy-SGD's nested inner
    # loop would otherwise be compiled (and kept from vectorizing) for every method.
    if kind_c == K_ENTROPY:
        @numba.njit(parallel=True)
        def run(theta, data, fwork, iwork, aux, auxs, grad, seed, chain0, step0, eta, temps,
                eta_fac, temp_fac, hp, rec_idx, samples, energies, best_e, best_theta, status):
            n_chains, n_par = theta.shape
            n_steps = eta_fac.shape[0]
            for c in prange(n_chains):
                th = theta[c]
                g = grad[c]
                fw = fwork[c]
                iw = iwork[c]
                ax = aux[c]
                stream = chain0 + c
                for t in range(n_steps):
                    gs = step0 + t
                    e = eta[c] * eta_fac[t]
                    temp = temps[c] * temp_fac[t]
                    inner = np.int64(hp[1])
                    eta_in = hp[0]
                    gam = hp[2] * (1.0 + hp[3]) ** gs
                    b1 = hp[4]
                    mom = hp[5]
                    xp = ax[0:n_par]
                    mu = ax[n_par:2 * n_par]
                    mb = ax[2 * n_par:3 * n_par]
                    for p in range(n_par):
                        xp[p] = th[p]
                        mu[p] = th[p]
                    u = 0.0
                    sn = math.sqrt(2.0 * eta_in * temp) if temp > 0.0 else 0.0
                    for ll in range(inner):
                        ui = energy_grad(xp, data, fw, iw, seed, stream, gs * inner + ll, g)
                        if ll == 0:
                            u = ui
                            _keep(rec_idx[t], c, th, u, samples, energies, best_e, best_theta)
                        if not math.isfinite(ui):
                            u = ui
                            break
                        hh = (n_par + 1) // 2
                        st = gs * inner + ll
                        for q in range(n_par // 2):
                            a = 0.0
                            b = 0.0
                            if temp > 0.0:
                                a, b = normal2(seed, stream, st, q, PURPOSE_NOISE)
                            _entropy_elem(th, g, xp, mu, q, a, gam, eta_in, sn, b1)
                            _entropy_elem(th, g, xp, mu, q + hh, b, gam, eta_in, sn, b1)
                        if n_par % 2 == 1:
                            a = 0.0
                            if temp > 0.0:
                                a, b = normal2(seed, stream, st, hh - 1, PURPOSE_NOISE)
                            _entropy_elem(th, g, xp, mu, hh - 1, a, gam, eta_in, sn, b1)
                    if not math.isfinite(u):
                        status[c] = gs
                        break
                    for p in range(n_par):
                        df = th[p] - mu[p]
                        if mom > 0.0:
                            mb[p] = mom * mb[p] + df
                            if hp[6] > 0.0:
                                df = df + mom * mb[p]
                            else:
                                df = mb[p]
                        th[p] = th[p] - e * df

    else:
        @numba.njit(parallel=True)
        def run(theta, data, fwork, iwork, aux, auxs, grad, seed, chain0, step0, eta, temps,
                eta_fac, temp_fac, hp, rec_idx, samples, energies, best_e, best_theta, status):
            n_chains, n_par = theta.shape
            n_steps = eta_fac.shape[0]
            for c in prange(n_chains):
                th = theta[c]
                g = grad[c]
                fw = fwork[c]
                iw = iwork[c]
                ax = aux[c]
                axs = auxs[c]
                stream = chain0 + c
                for t in range(n_steps):
                    gs = step0 + t
                    e = eta[c] * eta_fac[t]
                    temp = temps[c] * temp_fac[t]
                    u = energy_grad(th, data, fw, iw, seed, stream, gs, g)
                    if not math.isfinite(u):
                        status[c] = gs
                        break
                    _keep(rec_idx[t], c, th, u, samples, energies, best_e, best_theta)
                    update(kind_c, th, g, ax, axs, e, temp, hp, seed, stream, gs)

    _RUNNERS[key] = run
    return run


def make_exchange_runner(energy_grad: Callable) -> Callable:
    """Compiled replica-exchange SGLD loop (memoized per dispatcher).

    Chains ``g * K + k`` form group ``g`` (``K = hp[4]`` replicas); each step:
    gradients of all chains in parallel, a swap round every ``hp[3]`` steps
    (serial), then the SGLD updates in parallel.

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
    if energy_grad in _EXCHANGE:
        return _EXCHANGE[energy_grad]

    @numba.njit(parallel=True)
    def run(theta, data, fwork, iwork, auxs, grad, ubuf, seed, chain0, group0, step0, eta,
            temps, eta_fac, temp_fac, hp, rec_idx, samples, energies, best_e, best_theta,
            status, attempts, accepts):
        n_chains, n_par = theta.shape
        n_steps = eta_fac.shape[0]
        inv_f = hp[0]
        fixed_var = hp[1]
        rho = hp[2]
        every = np.int64(hp[3])
        k_rep = np.int64(hp[4])
        n_groups = n_chains // k_rep
        for t in range(n_steps):
            gs = step0 + t
            for c in prange(n_chains):
                u = energy_grad(theta[c], data, fwork[c], iwork[c], seed, chain0 + c, gs, grad[c])
                ubuf[c] = u
                axs = auxs[c]
                if axs[2] == 0.0:
                    axs[0] = u
                    axs[1] = 0.0
                else:
                    d = u - axs[0]
                    axs[0] += (1.0 - rho) * d
                    axs[1] = rho * (axs[1] + (1.0 - rho) * d * d)
                axs[2] += 1.0
            bad = False
            for c in range(n_chains):
                if not math.isfinite(ubuf[c]):
                    status[c] = gs
                    bad = True
            if bad:
                return t
            if (gs + 1) % every == 0:
                rnd = (gs + 1) // every - 1
                for grp in range(n_groups):
                    for k in range(rnd % 2, k_rep - 1, 2):
                        c1 = grp * k_rep + k
                        c2 = c1 + 1
                        t1 = temps[c1] * temp_fac[t]
                        t2 = temps[c2] * temp_fac[t]
                        if t1 <= 0.0 or t2 <= 0.0:
                            continue
                        if fixed_var >= 0.0:
                            var = fixed_var
                        else:
                            var = auxs[c1, 1] + auxs[c2, 1]
                        lr = swap_log_ratio(ubuf[c1], ubuf[c2], t1, t2, var, inv_f)
                        uu, _ = uniform2(seed, group0 + grp, gs, k, PURPOSE_SWAP)
                        attempts[k] += 1
                        if math.log(uu) < lr:
                            accepts[k] += 1
                            for p in range(n_par):
                                a = theta[c1, p]
                                theta[c1, p] = theta[c2, p]
                                theta[c2, p] = a
                                a = grad[c1, p]
                                grad[c1, p] = grad[c2, p]
                                grad[c2, p] = a
                            a = ubuf[c1]
                            ubuf[c1] = ubuf[c2]
                            ubuf[c2] = a
            r = rec_idx[t]
            for c in prange(n_chains):
                th = theta[c]
                _keep(r, c, th, ubuf[c], samples, energies, best_e, best_theta)
                update(K_SGLD, th, grad[c], grad[c], auxs[c], eta[c] * eta_fac[t],
                       temps[c] * temp_fac[t], eta_fac, seed, chain0 + c, gs)
        return n_steps

    _EXCHANGE[energy_grad] = run
    return run


def make_full_energy(full_energy_grad: Callable) -> Callable:
    """Compiled exact energies of all chains (memoized per dispatcher).

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
    if full_energy_grad in _FULL:
        return _FULL[full_energy_grad]

    @numba.njit(parallel=True)
    def full(theta, data, fwork, iwork, grad, out):
        for c in prange(theta.shape[0]):
            out[c] = full_energy_grad(theta[c], data, fwork[c], iwork[c], grad[c])

    _FULL[full_energy_grad] = full
    return full

