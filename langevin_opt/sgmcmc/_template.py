"""Kernel template: the multi-chain loops of the SG-MCMC methods for one data landscape.

A :mod:`langevin_opt.core.jitcache` template: :func:`langevin_opt.sgmcmc.kernels.make_runner`,
:func:`~langevin_opt.sgmcmc.kernels.make_exchange_runner` and
:func:`~langevin_opt.sgmcmc.kernels.make_full_energy` call ``specialize(__name__,
bindings)`` with the landscape's compiled functions (``energy_grad`` and the method
code ``KIND``, or ``full_energy_grad``), which renders this source with those names
bound into a generated module in the cache directory, so that Numba's disk cache
stores the compiled loops (``cache=CACHE``).  One module per (landscape function,
method): a call compiles only the loop it runs.  The method's branches fold away
(``KIND`` is a compile-time constant) and the energy is inlined into the loop.
Layout, parallelism and random streams are described in
:mod:`langevin_opt.sgmcmc.kernels`.  Imports are absolute: the generated module
lives outside the package.

Loops
-----
``run_independent`` / ``run_entropy``
    ``run(theta, data, fwork, iwork, aux, auxs, grad, seed, chain0, step0, eta, temps,
    eta_fac, temp_fac, hp, rec_idx, samples, energies, best_e, best_theta, status)``
    (every method but replica exchange; Entropy-SGD has its own nested loop).
``run_exchange``
    Replica-exchange SGLD (see :func:`~langevin_opt.sgmcmc.kernels.make_exchange_runner`).
``full``
    ``full(theta, data, fwork, iwork, grad, out)``: exact energies of all chains.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from langevin_opt.core.jitcache import import_template_default
from langevin_opt.rng import PURPOSE_NOISE, PURPOSE_SWAP, normal2, uniform2
from langevin_opt.sgmcmc.kernels import _entropy_elem, _keep, swap_log_ratio, update
from langevin_opt.sgmcmc.methods import K_SGLD

# jitcache: bindings
energy_grad = import_template_default("energy_grad")
full_energy_grad = import_template_default("full_energy_grad")
KIND = -1
CACHE = False
# jitcache: end


# The two loops below open alike (per-chain row views) but are kept apart on purpose:
# each is compiled only for the methods that need it, and Entropy-SGD's nested inner
# loop would otherwise be compiled (and kept from vectorizing) for every method.
@numba.njit(parallel=True, cache=CACHE)
def run_entropy(theta, data, fwork, iwork, aux, auxs, grad, seed, chain0, step0, eta, temps,
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


@numba.njit(parallel=True, cache=CACHE)
def run_independent(theta, data, fwork, iwork, aux, auxs, grad, seed, chain0, step0, eta,
                    temps, eta_fac, temp_fac, hp, rec_idx, samples, energies, best_e,
                    best_theta, status):
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
            update(KIND, th, g, ax, axs, e, temp, hp, seed, stream, gs)


@numba.njit(parallel=True, cache=CACHE)
def run_exchange(theta, data, fwork, iwork, auxs, grad, ubuf, seed, chain0, group0, step0,
                 eta, temps, eta_fac, temp_fac, hp, rec_idx, samples, energies, best_e,
                 best_theta, status, attempts, accepts):
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


@numba.njit(parallel=True, cache=CACHE)
def full(theta, data, fwork, iwork, grad, out):
    for c in prange(theta.shape[0]):
        out[c] = full_energy_grad(theta[c], data, fwork[c], iwork[c], grad[c])
