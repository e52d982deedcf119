"""Training a neural potential: the energy/force loss as a data landscape, with exact gradients.

Loss
----
For configurations ``c`` with ``N_c`` atoms, reference energies ``E_c^ref`` and forces
``F_c^ref``, the *energy* of the parameters ``theta`` (the samplers' ``U``) is

``U(theta) = sum_c L_c(theta) + ||theta||^2 / (2 sigma_prior^2)``,
``L_c = (E_c - E_c^ref)^2 / N_c + w_F sum_i |F_ci - F_ci^ref|^2 / (3 N_c)``

(energy units squared per atom; ``w_F`` in length², so that both terms have the same
unit; no prior when ``sigma_prior`` is ``None``).  Optional per-configuration weights
``a_c, b_c >= 0`` (``config_weights``, default 1) turn ``L_c`` into
``a_c (E_c - E_c^ref)^2 / N_c + b_c w_F sum_i |F_ci - F_ci^ref|^2 / (3 N_c)``: bootstrap
multiplicities (``a_c = b_c``) or the Gaussian likelihood of
:func:`langevin_opt.mlip.committee.posterior_landscape`.  A *configuration* is one example of the
:class:`~langevin_opt.datalandscape.DataLandscape` protocol: a minibatch of ``n``
configurations gives the unbiased estimate ``U~ = (C / n) sum_{c in B} L_c + prior``, so
SGD, SGLD, pSGLD, SGHMC and the rest of :mod:`langevin_opt.sgmcmc` train it unchanged, and
:func:`fit` runs SciPy's L-BFGS-B on the full-batch ``U`` and its gradient.

Exact parameter gradient (no finite differences)
------------------------------------------------
With ``X_i = (G_i - mu) / sigma`` the standardised descriptors, ``f_i = NN(X_i; theta)`` the
atomic network outputs and ``E = sum_i f_i + e0``, the energy term differentiates by plain
back-propagation.  The force term needs ``d/dtheta`` of ``F = -dE/dx``.  With the force
cotangent ``w_m = dL/dF_m``,

``sum_m w_m . F_m = -d/de E(x + e w) = -sum_i grad_X NN(X_i; theta) . t_i``,
``t_i = (dG_i/dx . w) / sigma``

where ``t_i`` (the tangent of the descriptors along ``w``, a Jacobian-vector product) does
not depend on ``theta``.  So ``d/dtheta sum_m w_m . F_m = -sum_i d/dtheta NNdot_i`` with
``NNdot_i`` the forward-mode tangent output of the network at ``X_i`` along ``t_i``; its
gradient is reverse mode over the network's forward + tangent pass (an R-op, written by
hand: ``z = W a + b``, ``zdot = W adot``, ``a' = phi(z)``, ``adot' = phi'(z) zdot``; the
backward pass needs ``phi''``: tanh, sigmoid, softplus, relu, identity).  Per configuration:

1. forward and backward pass of every atom: ``f_i`` and ``dE/dG_i``; energy ``E``;
2. forces ``F_m = sum_{e in row m} (g_e - g_rev(e))`` with ``g_e = J_e^T dE/dG_i``;
3. ``w = dL/dF``, the tangents ``t_i = sum_{e in row i} J_e (w_j - w_i) / sigma``;
4. forward + tangent + reverse pass of every atom with output cotangents
   ``(dL/dE, -1)`` for ``(f_i, NNdot_i)``, accumulated into the gradient.

Precomputed descriptors and Jacobians (memory)
----------------------------------------------
The descriptors do not depend on ``theta``: :func:`potential_landscape` computes, once per
data set, the standardised descriptors ``X`` (``N_atoms x D``) and the Jacobian of every
atom's descriptor with respect to each of its neighbour separation vectors,
``J_e = dG_i / dd_e`` for every entry ``e = (i, j)`` of the full neighbour list (``D x 3``
per entry, from ``D`` compiled vector-Jacobian passes; never finite differences).  Memory:
``8 (3 D M + D N_atoms + 3 M)`` bytes for ``M`` neighbour entries in all configurations,
e.g. about 20 kB per copper atom with ``D = 20`` features and 40 neighbours
(:attr:`PotentialLandscape.nbytes` reports it); after that, one loss-and-gradient
evaluation costs ``O(M D + N_atoms P)``, with no neighbour lists or triplet loops.

Kernels are module-level ``numba.njit(cache=True)`` functions, serial (chains run in
parallel around them), with all scratch in the chain's ``fwork`` row; every configuration
and atom is processed in a fixed order, so results do not depend on the thread count.

Frozen parameters (transfer learning)
-------------------------------------
``fit(..., trainable=mask)`` trains only the parameters where ``mask`` is true
(:func:`parameter_mask` selects them by layer and species).  It does not zero the frozen
entries of the gradient: it trains in the *subspace* of the trainable entries
(:func:`subspace_landscape`: ``theta = scatter(theta_0, idx, phi)``, ``U(phi)`` and
``dU/dphi = (dU/dtheta)[idx]``), so L-BFGS, SGD and every Langevin method (whose noise
would otherwise move frozen entries), their momenta and preconditioners, see only the
trainable entries; the frozen ones are copied, never updated, and stay bit-identical.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numba
import numpy as np

from ..core.validation import check_int, check_nonnegative, check_seed
from ..datalandscape import MINIBATCH_IWORK, DataLandscape, minibatch
from ..nn.landscape import _prior  # the Gaussian prior term of every network landscape
from .model import NeuralPotential

__all__ = ["potential_landscape", "PotentialLandscape", "reweighted", "predict", "errors",
           "fit", "FitResult", "FIT_METHODS", "parameter_mask", "subspace_landscape",
           "SubspaceLandscape"]

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}

#: Methods of :func:`fit`: ``"lbfgs"`` (SciPy L-BFGS-B, full batch) and the sgmcmc methods.
FIT_METHODS = ("lbfgs", "sgd", "sgld", "psgld", "sghmc", "csgld", "entropy-sgd")


# ------------------------------------------------------------------ compiled network passes
@numba.njit(**_JIT)
def _act(code, z):
    """``(phi(z), phi'(z), phi''(z))`` of activation ``code`` (``nn.mlp.ACTIVATIONS``)."""
    if code == 1:
        t = math.tanh(z)
        d = 1.0 - t * t
        return t, d, -2.0 * t * d
    if code == 2:
        if z > 0.0:
            return z, 1.0, 0.0
        return 0.0, 0.0, 0.0
    if code == 3:
        e = math.exp(-abs(z))
        s = 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)
        m = z if z > 0.0 else 0.0
        return m + math.log1p(e), s, s * (1.0 - s)
    if code == 4:
        if z >= 0.0:
            s = 1.0 / (1.0 + math.exp(-z))
        else:
            e = math.exp(z)
            s = e / (1.0 + e)
        d = s * (1.0 - s)
        return s, d, d * (1.0 - 2.0 * s)
    return z, 1.0, 0.0


@numba.njit(**_JIT)
def _net_forward(th, sz, ac, x, tan, A, T, ZT, D1, D2, tangent):
    """Forward (and with ``tangent`` forward-mode tangent) pass of one input ``x``.

    ``A``, ``T``, ``ZT``, ``D1``, ``D2`` hold, layer after layer (offsets ``sum sz[:l]``),
    the activations, their tangents, the pre-activation tangents and ``phi'``, ``phi''``.
    Returns the scalar output ``f`` (``A[-1]``; the tangent output is ``T[-1]``).
    """
    L = sz.shape[0] - 1
    s0 = sz[0]
    for k in range(s0):
        A[k] = x[k]
        if tangent:
            T[k] = tan[k]
    po = 0
    ai = 0
    for l in range(L):  # noqa: E741
        si = sz[l]
        so = sz[l + 1]
        bo = po + so * si
        ao = ai + si
        code = ac[l]
        for j in range(so):
            z = th[bo + j]
            zt = 0.0
            r = po + j * si
            for k in range(si):
                z += th[r + k] * A[ai + k]
            if tangent:
                for k in range(si):
                    zt += th[r + k] * T[ai + k]
            a, d1, d2 = _act(code, z)
            A[ao + j] = a
            D1[ao + j] = d1
            D2[ao + j] = d2
            ZT[ao + j] = zt
            T[ao + j] = d1 * zt
        po = bo + so
        ai = ao
    return A[ai]


@numba.njit(**_JIT)
def _net_input_grad(th, sz, A, D1, AB, dx):
    """``dx = d f / d x`` by back-propagation after :func:`_net_forward` (``AB`` scratch)."""
    L = sz.shape[0] - 1
    tot = 0
    for l in range(L + 1):  # noqa: E741
        tot += sz[l]
    ao = tot - sz[L]
    AB[ao] = 1.0
    po = 0
    for l in range(L):  # noqa: E741
        po += sz[l + 1] * (sz[l] + 1)
    for l in range(L - 1, -1, -1):  # noqa: E741
        si = sz[l]
        so = sz[l + 1]
        po -= so * (si + 1)
        ai = ao - si
        for k in range(si):
            AB[ai + k] = 0.0
        for j in range(so):
            zb = AB[ao + j] * D1[ao + j]
            r = po + j * si
            for k in range(si):
                AB[ai + k] += th[r + k] * zb
        ao = ai
    for k in range(sz[0]):
        dx[k] = AB[k]


@numba.njit(**_JIT)
def _net_param_grad(th, sz, A, T, ZT, D1, D2, AB, TB, ca, ct, grad, g0):
    """Add ``d(ca f + ct fdot)/dtheta`` to ``grad[g0:]`` (reverse over forward + tangent).

    Call after :func:`_net_forward` with ``tangent=True``; ``AB``, ``TB`` are scratch.
    """
    L = sz.shape[0] - 1
    tot = 0
    for l in range(L + 1):  # noqa: E741
        tot += sz[l]
    ao = tot - sz[L]
    AB[ao] = ca
    TB[ao] = ct
    po = 0
    for l in range(L):  # noqa: E741
        po += sz[l + 1] * (sz[l] + 1)
    for l in range(L - 1, -1, -1):  # noqa: E741
        si = sz[l]
        so = sz[l + 1]
        po -= so * (si + 1)
        bo = po + so * si
        ai = ao - si
        if l > 0:
            for k in range(si):
                AB[ai + k] = 0.0
                TB[ai + k] = 0.0
        for j in range(so):
            d1 = D1[ao + j]
            zb = AB[ao + j] * d1 + TB[ao + j] * D2[ao + j] * ZT[ao + j]
            ztb = TB[ao + j] * d1
            r = po + j * si
            for k in range(si):
                grad[g0 + r + k] += zb * A[ai + k] + ztb * T[ai + k]
            grad[g0 + bo + j] += zb
            if l > 0:
                for k in range(si):
                    AB[ai + k] += th[r + k] * zb
                    TB[ai + k] += th[r + k] * ztb
        ao = ai


# ------------------------------------------------------------------ compiled loss
@numba.njit(**_JIT)
def _config_loss(theta, data, c, fwork, scale, grad, want, record, Eout, Fout):
    """Loss ``L_c`` of configuration ``c``; with ``want`` add ``scale dL_c/dtheta`` to grad.

    With ``record``, ``Eout[c]`` and ``Fout[atoms of c]`` receive the predicted energy and
    forces.
    """
    (cstart, sp, X, istd, estart, ej, erev, jac, Eref, Fref, e0, t_off, sizes, s_off, acts,
     a_off, ipar, fpar, cw) = data
    D = X.shape[1]
    nmax = ipar[1]
    tw = ipar[2]
    wF = fpar[0]
    we = cw[c, 0]
    wf = cw[c, 1]
    a0 = cstart[c]
    n = cstart[c + 1] - a0
    # fwork layout: dEdG (nmax D) | F (3 nmax) | w (3 nmax) | t (D) | 7 network buffers
    o_dg = 0
    o_F = nmax * D
    o_w = o_F + 3 * nmax
    o_t = o_w + 3 * nmax
    o_n = o_t + D
    A = fwork[o_n:o_n + tw]
    T = fwork[o_n + tw:o_n + 2 * tw]
    ZT = fwork[o_n + 2 * tw:o_n + 3 * tw]
    D1 = fwork[o_n + 3 * tw:o_n + 4 * tw]
    D2 = fwork[o_n + 4 * tw:o_n + 5 * tw]
    AB = fwork[o_n + 5 * tw:o_n + 6 * tw]
    TB = fwork[o_n + 6 * tw:o_n + 7 * tw]
    tvec = fwork[o_t:o_t + D]
    # 1. energies and dE/dG of every atom
    E = 0.0
    for b in range(n):
        i = a0 + b
        s = sp[i]
        th = theta[t_off[s]:t_off[s + 1]]
        sz = sizes[s_off[s]:s_off[s + 1]]
        ac = acts[a_off[s]:a_off[s + 1]]
        E += _net_forward(th, sz, ac, X[i], tvec, A, T, ZT, D1, D2, False) + e0[s]
        dg = fwork[o_dg + b * D:o_dg + (b + 1) * D]
        _net_input_grad(th, sz, A, D1, AB, dg)
        for p in range(D):
            dg[p] *= istd[s, p]
    # 2. forces F_m = sum_{e in row m} (J_e^T dEdG_m - J_rev(e)^T dEdG_j)
    lf = 0.0
    for b in range(n):
        m = a0 + b
        f0 = 0.0
        f1 = 0.0
        f2 = 0.0
        for e in range(estart[m], estart[m + 1]):
            r = erev[e]
            bj = ej[e] - a0
            for p in range(D):
                u = fwork[o_dg + b * D + p]
                v = fwork[o_dg + bj * D + p]
                f0 += u * jac[e, p, 0] - v * jac[r, p, 0]
                f1 += u * jac[e, p, 1] - v * jac[r, p, 1]
                f2 += u * jac[e, p, 2] - v * jac[r, p, 2]
        fwork[o_F + 3 * b] = f0
        fwork[o_F + 3 * b + 1] = f1
        fwork[o_F + 3 * b + 2] = f2
        d0 = f0 - Fref[m, 0]
        d1 = f1 - Fref[m, 1]
        d2 = f2 - Fref[m, 2]
        lf += d0 * d0 + d1 * d1 + d2 * d2
        fwork[o_w + 3 * b] = scale * wf * 2.0 * wF * d0 / (3.0 * n)
        fwork[o_w + 3 * b + 1] = scale * wf * 2.0 * wF * d1 / (3.0 * n)
        fwork[o_w + 3 * b + 2] = scale * wf * 2.0 * wF * d2 / (3.0 * n)
        if record:
            Fout[m, 0] = f0
            Fout[m, 1] = f1
            Fout[m, 2] = f2
    de = E - Eref[c]
    if record:
        Eout[c] = E
    # with unit weights every product below is the unweighted one, bit for bit
    loss = we * de * de / n + wf * wF * lf / (3.0 * n)
    if not want:
        return loss
    ca = scale * we * 2.0 * de / n
    # 3.-4. tangent of each atom's descriptors along w, then the R-op of its network
    for b in range(n):
        i = a0 + b
        s = sp[i]
        for p in range(D):
            tvec[p] = 0.0
        w0 = fwork[o_w + 3 * b]
        w1 = fwork[o_w + 3 * b + 1]
        w2 = fwork[o_w + 3 * b + 2]
        for e in range(estart[i], estart[i + 1]):
            bj = ej[e] - a0
            v0 = fwork[o_w + 3 * bj] - w0
            v1 = fwork[o_w + 3 * bj + 1] - w1
            v2 = fwork[o_w + 3 * bj + 2] - w2
            for p in range(D):
                tvec[p] += jac[e, p, 0] * v0 + jac[e, p, 1] * v1 + jac[e, p, 2] * v2
        for p in range(D):
            tvec[p] *= istd[s, p]
        t0 = t_off[s]
        th = theta[t0:t_off[s + 1]]
        sz = sizes[s_off[s]:s_off[s + 1]]
        ac = acts[a_off[s]:a_off[s + 1]]
        _net_forward(th, sz, ac, X[i], tvec, A, T, ZT, D1, D2, True)
        _net_param_grad(th, sz, A, T, ZT, D1, D2, AB, TB, ca, -1.0, grad, t0)
    return loss


@numba.njit(**_JIT)
def energy_grad(theta, data, fwork, iwork, seed, chain, step, grad):
    """Minibatch energy ``U~`` of ``n`` configurations and its exact gradient (compiled).

    Parameters
    ----------
    theta : numpy.ndarray of float64, shape (P,)
        Network parameters (:attr:`NeuralPotential.theta` layout).
    data : tuple
        The arrays of :class:`PotentialLandscape` (``landscape.data``).
    fwork, iwork : numpy.ndarray
        The chain's scratch rows (``iwork[0] = -1`` before first use).
    seed, chain, step : int
        Minibatch coordinates (:func:`~langevin_opt.datalandscape.minibatch`).
    grad : numpy.ndarray of float64, shape (P,)
        Overwritten with ``dU~/dtheta``.

    Returns
    -------
    float
        ``U~ = (C / n) sum_{c in B} L_c + prior`` (energy² / atom).
    """
    cstart = data[0]
    ipar = data[16]
    fpar = data[17]
    C = cstart.shape[0] - 1
    n = ipar[0]
    off = minibatch(seed, chain, step, C, n, iwork)
    for p in range(grad.shape[0]):
        grad[p] = 0.0
    scale = C / n
    dummy = np.zeros(1)
    dF = np.zeros((1, 3))
    u = 0.0
    for b in range(n):
        u += _config_loss(theta, data, iwork[1 + off + b], fwork, scale, grad, True, False,
                          dummy, dF)
    return scale * u + _prior(theta, fpar[1], grad)


@numba.njit(**_JIT)
def full_energy_grad(theta, data, fwork, iwork, grad):
    """Exact full-batch ``U`` and its gradient, configurations in order (compiled).

    Parameters
    ----------
    theta, data, fwork, iwork, grad
        As in :func:`energy_grad` (``iwork`` is not touched).

    Returns
    -------
    float
        ``U = sum_c L_c + prior``.
    """
    cstart = data[0]
    fpar = data[17]
    for p in range(grad.shape[0]):
        grad[p] = 0.0
    dummy = np.zeros(1)
    dF = np.zeros((1, 3))
    u = 0.0
    for c in range(cstart.shape[0] - 1):
        u += _config_loss(theta, data, c, fwork, 1.0, grad, True, False, dummy, dF)
    return u + _prior(theta, fpar[1], grad)


@numba.njit(parallel=True, **_JIT)
def _full_parallel(theta, data, fwork, chunk, grads, losses):
    """Full-batch loss and gradient over fixed chunks of configurations in parallel.

    ``grads`` (one row per chunk) and ``losses`` are summed by the caller in chunk order,
    so the result does not depend on the number of threads.
    """
    C = data[0].shape[0] - 1
    nch = grads.shape[0]
    for q in numba.prange(nch):
        g = grads[q]
        for p in range(g.shape[0]):
            g[p] = 0.0
        dummy = np.zeros(1)
        dF = np.zeros((1, 3))
        u = 0.0
        for c in range(q * chunk, min(C, (q + 1) * chunk)):
            u += _config_loss(theta, data, c, fwork[q], 1.0, g, True, False, dummy, dF)
        losses[q] = u


@numba.njit(**_JIT)
def _predict_kernel(theta, data, fwork, Eout, Fout):
    """Predicted energies ``(C,)`` and forces ``(N_atoms, 3)`` of every configuration."""
    C = data[0].shape[0] - 1
    dummy = np.zeros(1)
    for c in range(C):
        _config_loss(theta, data, c, fwork, 1.0, dummy, False, True, Eout, Fout)


@numba.njit(**_JIT)
def _scatter(phi, base, idx, full):
    """``full = base`` with ``full[idx] = phi`` (the frozen entries copied bit for bit)."""
    for p in range(base.shape[0]):
        full[p] = base[p]
    for k in range(idx.shape[0]):
        full[idx[k]] = phi[k]


@numba.njit(**_JIT)
def subspace_energy_grad(phi, data, fwork, iwork, seed, chain, step, grad):
    """Minibatch ``U~`` and gradient over the trainable entries only (compiled).

    Parameters
    ----------
    phi : numpy.ndarray of float64, shape (K,)
        The trainable entries.
    data : tuple
        ``(*inner_data, theta_0, idx)`` (one flat tuple: the parallel chain loops take no
        nested tuples): the 19 arrays of the full :class:`PotentialLandscape`, the full
        parameter vector holding the frozen values, and the ``K`` trainable indices.
    fwork, iwork : numpy.ndarray
        Scratch rows: ``fwork`` holds the full ``theta`` and gradient (``2 P``) before the
        full landscape's own scratch.
    seed, chain, step : int
        Minibatch coordinates.
    grad : numpy.ndarray of float64, shape (K,)
        Overwritten with ``dU~/dphi = (dU~/dtheta)[idx]``.

    Returns
    -------
    float
        ``U~`` at ``theta = scatter(theta_0, idx, phi)``.
    """
    inner = data[:19]
    base = data[19]
    idx = data[20]
    P = base.shape[0]
    full = fwork[:P]
    gfull = fwork[P:2 * P]
    _scatter(phi, base, idx, full)
    u = energy_grad(full, inner, fwork[2 * P:], iwork, seed, chain, step, gfull)
    for k in range(idx.shape[0]):
        grad[k] = gfull[idx[k]]
    return u


@numba.njit(**_JIT)
def subspace_full_energy_grad(phi, data, fwork, iwork, grad):
    """Exact full-batch ``U`` and gradient over the trainable entries (compiled).

    Parameters
    ----------
    phi, data, fwork, iwork, grad
        As in :func:`subspace_energy_grad`.

    Returns
    -------
    float
        ``U`` at ``theta = scatter(theta_0, idx, phi)``.
    """
    inner = data[:19]
    base = data[19]
    idx = data[20]
    P = base.shape[0]
    full = fwork[:P]
    gfull = fwork[P:2 * P]
    _scatter(phi, base, idx, full)
    u = full_energy_grad(full, inner, fwork[2 * P:], iwork, gfull)
    for k in range(idx.shape[0]):
        grad[k] = gfull[idx[k]]
    return u


# ------------------------------------------------------------------ Python side
@dataclass(frozen=True)
class PotentialLandscape(DataLandscape):
    """A :class:`~langevin_opt.datalandscape.DataLandscape` of a neural potential's loss.

    Built by :func:`potential_landscape`; adds the model and data-set facts needed to
    report errors.

    Attributes
    ----------
    model : NeuralPotential
        The model whose architecture and standardisation the kernels use (its
        :attr:`~NeuralPotential.theta` is only the default start).
    n_atoms : numpy.ndarray of int64, shape (C,)
        Atoms per configuration.
    force_weight : float
        ``w_F`` (length²).
    nbytes : int
        Bytes held by the precomputed arrays (module docstring).
    config_weights : numpy.ndarray, shape (C, 2)
        Weights ``(a_c, b_c)`` of every configuration's energy and force terms (the last
        array of ``data``; ones unless given).
    """

    model: NeuralPotential = field(default=None, repr=False, compare=False)
    n_atoms: np.ndarray = field(default=None, repr=False, compare=False)
    force_weight: float = 1.0
    nbytes: int = 0

    @property
    def config_weights(self) -> np.ndarray:
        """Per-configuration energy and force weights ``(a_c, b_c)``, shape ``(C, 2)``."""
        return self.data[18]


def _check_config_weights(weights: object, C: int) -> np.ndarray:
    """``(C, 2)`` read-only float64 weights from ``None``, ``(C,)`` or ``(C, 2)``."""
    if weights is None:
        w = np.ones((C, 2))
    else:
        w = np.array(weights, dtype=np.float64)
        if w.shape == (C,):
            w = np.repeat(w[:, None], 2, axis=1)
        if w.shape != (C, 2) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"config_weights must be finite and >= 0 with shape ({C},) or "
                             f"({C}, 2), got shape {np.shape(weights)}")
        w = np.ascontiguousarray(w)
    w.setflags(write=False)
    return w


def reweighted(land: PotentialLandscape, config_weights: object) -> PotentialLandscape:
    """The same landscape with other per-configuration weights (arrays shared, not copied).

    Parameters
    ----------
    land : PotentialLandscape
        From :func:`potential_landscape`.
    config_weights : array_like, shape (C,) or (C, 2)
        New weights ``a_c = b_c`` (one column) or ``(a_c, b_c)``, finite and ``>= 0``
        (as in :func:`potential_landscape`).

    Returns
    -------
    PotentialLandscape
        Sharing every precomputed array (descriptors, Jacobians) with ``land``.
    """
    import dataclasses

    if not isinstance(land, PotentialLandscape):
        raise TypeError(f"land must be a PotentialLandscape, got {type(land).__name__}")
    w = _check_config_weights(config_weights, land.n_data)
    return dataclasses.replace(land, data=(*land.data[:18], w))


def _network_tables(model: NeuralPotential) -> tuple:
    return (model._t_off, model._sizes, model._s_off, model._acts, model._a_off)


def potential_landscape(model: NeuralPotential, dataset: object, *, force_weight: float = 1.0,
                        prior_sigma: float | None = None, batch_size: int | None = None,
                        name: str | None = None, config_weights: object = None
                        ) -> PotentialLandscape:
    """The training loss of ``model`` on ``dataset`` as a data landscape (module docstring).

    Descriptors and their per-neighbour Jacobians are computed once here, with the model's
    current standardisation (call :meth:`NeuralPotential.fit_standardization` first).

    Parameters
    ----------
    model : NeuralPotential
        Architecture, descriptor, standardisation and reference energies ``e0``.
    dataset : Dataset
        Configurations with energies and forces (:class:`langevin_opt.mlip.Dataset`);
        every species must be one of the model's.
    force_weight : float
        ``w_F >= 0`` (length²; ``0``: energies only).
    prior_sigma : float, optional
        Standard deviation of a Gaussian prior on every parameter (``None`` or ``0``: none).
    batch_size : int, optional
        Configurations per minibatch (default: all, i.e. full batch).
    name : str, optional
        Landscape name.
    config_weights : array_like, shape (C,) or (C, 2), optional
        Weights ``a_c`` (energy term) and ``b_c`` (force term) of every configuration
        (module docstring); one column sets both; default 1.

    Returns
    -------
    PotentialLandscape

    Raises
    ------
    ValueError
        Species unknown to the model, a box smaller than twice the cutoff, non-finite
        values, bad ``force_weight``/``prior_sigma``/``batch_size``/``config_weights``.
    """
    from .dataset import Dataset

    if not isinstance(model, NeuralPotential):
        raise TypeError(f"model must be a NeuralPotential, got {type(model).__name__}")
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a mlip.Dataset, got {type(dataset).__name__}")
    wF = check_nonnegative("force_weight", force_weight)
    if prior_sigma is None or prior_sigma == 0:
        prec = 0.0
    elif isinstance(prior_sigma, (int, float)) and math.isfinite(prior_sigma) \
            and prior_sigma > 0:
        prec = 1.0 / float(prior_sigma) ** 2
    else:
        raise ValueError(f"prior_sigma must be None, 0 or a finite number > 0, "
                         f"got {prior_sigma!r}")
    C = len(dataset)
    n = C if batch_size is None else check_int("batch_size", batch_size, lo=1, hi=C)
    cw = _check_config_weights(config_weights, C)
    desc = model.descriptor
    D = desc.n_features
    Xs, sps, starts, js, revs, jacs = [], [], [], [], [], []
    a_base = 0
    e_base = 0
    for k in range(C):
        x, sp, box = dataset.configuration(k, model.species, model.cutoff)
        nb = desc.neighbors(x, box)
        G = desc._pass(nb, sp, False)[0]
        M = nb.j.shape[0]
        J = np.empty((M, D, 3))
        Cot = np.zeros((sp.shape[0], D))
        g = np.empty((M, 3))
        for p in range(D):
            Cot[:, p] = 1.0
            desc._pass(nb, sp, True, Cot, G=np.empty_like(G), g=g)
            Cot[:, p] = 0.0
            J[:, p, :] = g
        Xs.append((G - model.feature_mean[sp]) / model.feature_std[sp])
        sps.append(sp)
        starts.append(nb.start[:-1] + e_base)
        js.append(nb.j + a_base)
        revs.append(nb.rev + e_base)
        jacs.append(J)
        a_base += sp.shape[0]
        e_base += M
    n_atoms = np.array([s.shape[0] for s in sps], dtype=np.int64)
    cstart = np.concatenate([[0], np.cumsum(n_atoms)]).astype(np.int64)
    estart = np.concatenate(starts + [[e_base]]).astype(np.int64)
    hid = model.hidden
    tw = D + sum(hid) + 1
    data = (cstart, np.concatenate(sps).astype(np.int64), np.ascontiguousarray(np.vstack(Xs)),
            np.ascontiguousarray(1.0 / model.feature_std), estart,
            np.concatenate(js).astype(np.int64), np.concatenate(revs).astype(np.int64),
            np.ascontiguousarray(np.concatenate(jacs, axis=0)),
            np.ascontiguousarray(dataset.energies, dtype=np.float64),
            np.ascontiguousarray(np.vstack(dataset.forces), dtype=np.float64),
            np.ascontiguousarray(model.energy_offsets, dtype=np.float64),
            *(np.ascontiguousarray(a, dtype=np.int64) for a in _network_tables(model)),
            np.array([n, int(n_atoms.max()), tw], dtype=np.int64),
            np.array([wF, prec]), cw)
    for a in data:
        a.setflags(write=False)
    nmax = int(n_atoms.max())
    fsize = nmax * D + 6 * nmax + D + 7 * tw
    nbytes = int(sum(a.nbytes for a in data))
    return PotentialLandscape(
        name=name or f"mlip_{'-'.join(model.species)}_{C}conf", n_params=model.n_params,
        n_data=C, batch_size=n, data=data, fwork_size=fsize,
        iwork_size=MINIBATCH_IWORK(C), energy_grad=energy_grad,
        full_energy_grad=full_energy_grad, model=model, n_atoms=n_atoms, force_weight=wF,
        nbytes=nbytes)


#: Atoms from which :func:`fit` evaluates the full-batch loss in parallel (below it, thread
#: start-up costs more than it saves on 2 busy cores: 0.7 ms serial vs 15 ms for 200 atoms).
PARALLEL_MIN_ATOMS = 20_000


def _full_loss(land: PotentialLandscape, theta: np.ndarray, chunk: int = 16,
               parallel: bool | None = None) -> tuple[float, np.ndarray]:
    """Full-batch ``U`` and gradient (in parallel for large data sets).

    Chunks of configurations run in parallel and their partial sums are added in chunk
    order, so any thread count gives the same bits.
    """
    th = np.ascontiguousarray(theta, dtype=np.float64)
    if parallel is None:
        parallel = int(land.n_atoms.sum()) >= PARALLEL_MIN_ATOMS
    if not parallel:
        return land.energy(th)
    nch = (land.n_data + chunk - 1) // chunk
    grads = np.empty((nch, land.n_params))
    losses = np.empty(nch)
    fw = np.zeros((nch, land.fwork_size))
    _full_parallel(th, land.data, fw, chunk, grads, losses)
    g = np.zeros(land.n_params)
    for q in range(nch):  # fixed order: thread-count independent
        g += grads[q]
    u = float(sum(losses.tolist()))
    prec = float(land.data[17][1])
    if prec > 0:
        u += 0.5 * prec * float(th @ th)
        g += prec * th
    return u, g


def predict(land: PotentialLandscape, theta: object = None) -> tuple[np.ndarray, np.ndarray]:
    """Energies and forces the parameters predict for every configuration of a landscape.

    Parameters
    ----------
    land : PotentialLandscape
        From :func:`potential_landscape`.
    theta : array_like, shape (P,), optional
        Parameters (default: the model's current ones).

    Returns
    -------
    energies : numpy.ndarray, shape (C,)
        Energy units.
    forces : numpy.ndarray, shape (N_atoms, 3)
        All configurations' forces stacked in order (energy / length).
    """
    th = np.ascontiguousarray(land.model.theta if theta is None else theta, dtype=np.float64)
    if th.shape != (land.n_params,):
        raise ValueError(f"theta must have shape ({land.n_params},), got {th.shape}")
    C = land.n_data
    E = np.empty(C)
    F = np.empty((int(land.n_atoms.sum()), 3))
    _predict_kernel(th, land.data, np.zeros(land.fwork_size), E, F)
    return E, F


def errors(land: PotentialLandscape, theta: object = None) -> dict:
    """Energy and force root-mean-square errors against the landscape's reference data.

    Parameters
    ----------
    land : PotentialLandscape
        Reference data.
    theta : array_like, shape (P,), optional
        Parameters (default: the model's).

    Returns
    -------
    dict
        ``energy_rmse_per_atom`` (energy units per atom: RMS of ``(E - E_ref) / N_c``),
        ``force_rmse`` (energy / length, per Cartesian component), ``loss`` (``sum_c L_c``
        without prior, with the landscape's configuration weights).
    """
    E, F = predict(land, theta)
    dE = (E - land.data[8]) / land.n_atoms
    dF = F - land.data[9]
    cw = land.config_weights
    loss = float(np.sum(cw[:, 0] * (E - land.data[8]) ** 2 / land.n_atoms)
                 + land.force_weight * np.sum(
                     cw[:, 1] * np.add.reduceat((dF * dF).sum(axis=1), land.data[0][:-1])
                     / (3.0 * land.n_atoms)))
    return {"energy_rmse_per_atom": float(np.sqrt(np.mean(dE * dE))),
            "force_rmse": float(np.sqrt(np.mean(dF * dF))), "loss": loss}



def parameter_mask(model: NeuralPotential, layers: object = None,
                   species: object = None) -> np.ndarray:
    """Which entries of :attr:`NeuralPotential.theta` belong to given layers and species.

    Layer ``l`` of a network with sizes ``(D, h_1, ..., h_{L-1}, 1)`` is the affine map
    ``z = W_l a + b_l`` from layer ``l`` to ``l + 1``: ``0`` is the first (descriptor to
    first hidden layer), ``L - 1`` (or ``-1``) the output layer; both ``W_l`` and ``b_l``
    are selected.

    Parameters
    ----------
    model : NeuralPotential
        The model whose parameter layout is meant.
    layers : int or sequence of int, optional
        Layer indices in ``[-L, L)`` (default: every layer).
    species : str or sequence of str, optional
        Species whose networks are selected (default: every species).

    Returns
    -------
    numpy.ndarray of bool, shape (P,)
        True at the selected parameters (``~mask`` freezes them in :func:`fit`).

    Raises
    ------
    ValueError
        A layer index out of range or a species the model does not have.

    Examples
    --------
    >>> from langevin_opt import mlip
    >>> sf = mlip.SymmetryFunctions(["Cu"], 4.0, mlip.radial_parameters(4, 4.0))
    >>> model = mlip.NeuralPotential(sf, hidden=(5, 3), seed=0)
    >>> int(mlip.parameter_mask(model, layers=0).sum())  # W_0 (5 x 4) and b_0 (5)
    25
    """
    if not isinstance(model, NeuralPotential):
        raise TypeError(f"model must be a NeuralPotential, got {type(model).__name__}")
    L = len(model.hidden) + 1
    if layers is None:
        ls = list(range(L))
    else:
        items = [layers] if isinstance(layers, (int, np.integer)) else layers
        if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
            raise TypeError(f"layers must be an int or a sequence of ints, got {layers!r}")
        ls = []
        for v in items:
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) \
                    or not -L <= v < L:
                raise ValueError(f"layers must hold integers in [{-L}, {L - 1}] (the model "
                                 f"has {L} layers), got {layers!r}")
            ls.append(int(v) % L)
    if species is None:
        sps = list(range(len(model.species)))
    else:
        names = [species] if isinstance(species, str) else list(species)
        bad = [n for n in names if n not in model.species]
        if bad:
            raise ValueError(f"species must be among the model's {model.species}, got "
                             f"{tuple(bad)}")
        sps = [model.species.index(n) for n in names]
    mask = np.zeros(model.n_params, dtype=bool)
    for s in sps:
        o = int(model._t_off[s])
        lay = model.networks[s].layout()
        for ell in ls:
            ws, _, bs = lay[ell]
            mask[o + ws.start:o + ws.stop] = True
            mask[o + bs.start:o + bs.stop] = True
    return mask


def _check_trainable(trainable: object, P: int) -> np.ndarray | None:
    """Indices of the trainable entries (``None``: all of them)."""
    if trainable is None:
        return None
    m = np.asarray(trainable)
    if m.dtype != np.bool_ or m.shape != (P,):
        raise ValueError(f"trainable must be a boolean array of shape ({P},) (see "
                         f"parameter_mask), got dtype {m.dtype} and shape {m.shape}")
    if not m.any():
        raise ValueError("trainable must select at least one parameter, got none")
    if m.all():
        return None
    return np.flatnonzero(m).astype(np.int64)


def _mask_of(idx: np.ndarray, P: int) -> np.ndarray:
    m = np.zeros(P, dtype=bool)
    m[idx] = True
    return m


@dataclass(frozen=True)
class SubspaceLandscape(DataLandscape):
    """A data landscape over the trainable entries ``phi`` of a larger parameter vector.

    Built by :func:`subspace_landscape`; ``theta = scatter(theta0, index, phi)``.

    Attributes
    ----------
    theta0 : numpy.ndarray, shape (P,)
        The full vector, whose entries outside ``index`` are the frozen values.
    index : numpy.ndarray of int64, shape (K,)
        Positions of the trainable entries in ``theta``.
    """

    theta0: np.ndarray = field(default=None, repr=False, compare=False)
    index: np.ndarray = field(default=None, repr=False, compare=False)

    def full(self, phi: object) -> np.ndarray:
        """The full parameter vector of trainable entries ``phi``.

        Parameters
        ----------
        phi : array_like, shape (K,)

        Returns
        -------
        numpy.ndarray, shape (P,)
            A copy of :attr:`theta0` with ``phi`` at :attr:`index`.
        """
        th = np.array(self.theta0, dtype=np.float64)
        th[self.index] = np.asarray(phi, dtype=np.float64)
        return th


def subspace_landscape(land: PotentialLandscape, trainable: object,
                       theta: object = None) -> SubspaceLandscape:
    """The loss as a function of the trainable parameters only (module docstring).

    Parameters
    ----------
    land : PotentialLandscape
        The full landscape.
    trainable : array_like of bool, shape (P,)
        True at the parameters that move (e.g. ``~parameter_mask(model, layers=0)``).
    theta : array_like, shape (P,), optional
        The full parameters, giving the frozen values (default: the model's).

    Returns
    -------
    SubspaceLandscape
        ``n_params`` is the number ``K`` of trainable entries; its kernels are
        :func:`subspace_energy_grad` and :func:`subspace_full_energy_grad`, so every
        :mod:`langevin_opt.sgmcmc` method runs on it.
    """
    if not isinstance(land, PotentialLandscape):
        raise TypeError(f"land must be a PotentialLandscape, got {type(land).__name__}")
    P = land.n_params
    m = np.asarray(trainable)
    idx = _check_trainable(trainable, P)
    if idx is None:  # every entry trainable: the subspace is the whole space
        idx = np.flatnonzero(m).astype(np.int64)
    th = np.array(land.model.theta if theta is None else theta, dtype=np.float64)
    if th.shape != (P,) or not np.all(np.isfinite(th)):
        raise ValueError(f"theta must be finite with shape ({P},), got shape {th.shape}")
    th.setflags(write=False)
    idx.setflags(write=False)
    return SubspaceLandscape(
        name=f"{land.name}_train{idx.size}of{P}", n_params=int(idx.size), n_data=land.n_data,
        batch_size=land.batch_size, data=(*land.data, th, idx),
        fwork_size=2 * P + land.fwork_size, iwork_size=land.iwork_size,
        energy_grad=subspace_energy_grad, full_energy_grad=subspace_full_energy_grad,
        theta0=th, index=idx)


@dataclass
class FitResult:
    """Outcome of :func:`fit`.

    Attributes
    ----------
    model : NeuralPotential
        The trained model (the input model, updated in place).
    curve : dict of str to numpy.ndarray
        Learning curve: ``iteration``, ``loss`` (training ``U``), ``train_energy_rmse``,
        ``train_force_rmse`` and, with validation data, ``val_energy_rmse``,
        ``val_force_rmse`` (units as in :func:`errors`), ``time_s``.
    train : dict
        Final training errors (:func:`errors`).
    validation : dict or None
        Final validation errors.
    method : str
    message : str
        Optimizer message.
    n_evaluations : int
        Loss-and-gradient evaluations.
    n_trainable : int or None
        Parameters trained (``None``: all of them; see ``trainable`` of :func:`fit`).
    """

    model: NeuralPotential
    curve: dict
    train: dict
    validation: dict | None
    method: str
    message: str
    n_evaluations: int
    n_trainable: int | None = None


def fit(model: NeuralPotential, dataset: object, *, method: str = "lbfgs",
        validation: object = None, force_weight: float = 1.0,
        prior_sigma: float | None = None, max_iter: int = 200, batch_size: int | None = None,
        seed: int | None = None, standardize: bool = True, fit_offsets: bool = True,
        log_every: int = 10, callback: Callable | None = None,
        trainable: object = None, **settings: object) -> FitResult:
    """Train a neural potential on energies and forces.

    Parameters
    ----------
    model : NeuralPotential
        Model to train (updated in place: standardisation, ``energy_offsets``, ``theta``).
    dataset : Dataset
        Training configurations.
    method : str
        ``"lbfgs"`` (SciPy L-BFGS-B on the full-batch loss and exact gradient;
        deterministic) or an :mod:`langevin_opt.sgmcmc` method (``"sgd"``, ``"sgld"``,
        ``"psgld"``, ``"sghmc"``, ...) run by :func:`~langevin_opt.sgmcmc.run_chains` on
        minibatches of ``batch_size`` configurations, with ``**settings`` as its fields
        (e.g. ``step_size``; ``temperature`` for the Langevin ones).
    validation : Dataset, optional
        Held-out configurations, reported in the learning curve.
    force_weight : float
        ``w_F`` of the loss (length²).
    prior_sigma : float, optional
        Gaussian prior standard deviation of every parameter.
    max_iter : int
        L-BFGS iterations, or sgmcmc steps.
    batch_size : int, optional
        Configurations per minibatch (sgmcmc methods; default all).
    seed : int, optional
        Generator key (required for the stochastic methods; unused by L-BFGS).
    standardize : bool
        First set the descriptor standardisation from the training data.
    fit_offsets : bool
        First set the per-species reference energies ``e0`` by least squares of the
        reference energies on the species counts (the networks then learn the rest).
    log_every : int
        Learning-curve spacing (iterations or steps).
    callback : callable, optional
        ``callback(row: dict)`` at every learning-curve row (progress).
    trainable : array_like of bool, shape (P,), optional
        Train only these parameters (e.g. ``~parameter_mask(model, layers=0)`` freezes the
        first layer of every network); the others keep their values bit for bit, for
        every method (module docstring, "Frozen parameters").  Default: all.
    **settings
        Fields of the sgmcmc method.

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError
        Unknown ``method``, bad settings, a dataset the model cannot take, a bad
        ``trainable`` mask.
    """
    from ..sgmcmc import make_method, run_chains
    from .dataset import Dataset

    if method not in FIT_METHODS:
        raise ValueError(f"method must be one of {', '.join(FIT_METHODS)}, got {method!r}")
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a mlip.Dataset, got {type(dataset).__name__}")
    if validation is not None and not isinstance(validation, Dataset):
        raise TypeError(f"validation must be a mlip.Dataset, got {type(validation).__name__}")
    max_iter = check_int("max_iter", max_iter, lo=1, hi=None)
    log_every = check_int("log_every", log_every, lo=1, hi=None)
    if method != "lbfgs":
        seed = check_seed(seed)
        m = make_method(method, **{k: v for k, v in settings.items() if k != "temperature"})
    elif settings:
        raise ValueError(f"method 'lbfgs' takes no settings, got {sorted(settings)}")
    idx = _check_trainable(trainable, model.n_params)
    saved = (model.feature_mean, model.feature_std, model.energy_offsets)
    try:
        if standardize:
            model.fit_standardization(dataset.configurations())
        if fit_offsets:
            model.energy_offsets = dataset.energy_offsets(model.species)
        land = potential_landscape(model, dataset, force_weight=force_weight,
                                   prior_sigma=prior_sigma, batch_size=batch_size)
        vland = None if validation is None else potential_landscape(
            model, validation, force_weight=force_weight)
    except BaseException:  # bad data: leave the model as it was
        model.feature_mean, model.feature_std, model.energy_offsets = saved
        raise
    rows: list[dict] = []
    t0 = time.perf_counter()

    def record(it: int, th: np.ndarray, loss: float) -> None:
        tr = errors(land, th)
        row = {"iteration": it, "loss": loss, "train_energy_rmse": tr["energy_rmse_per_atom"],
               "train_force_rmse": tr["force_rmse"], "time_s": time.perf_counter() - t0}
        if vland is not None:
            va = errors(vland, th)
            row["val_energy_rmse"] = va["energy_rmse_per_atom"]
            row["val_force_rmse"] = va["force_rmse"]
        rows.append(row)
        if callback is not None:
            callback(row)

    theta = model.theta.copy()
    if method == "lbfgs":
        from scipy.optimize import minimize as sp_minimize

        nfev = [0]
        it = [0]

        base = theta.copy()

        def full(phi: np.ndarray) -> np.ndarray:  # trainable entries -> all parameters
            if idx is None:
                return phi
            th = base.copy()
            th[idx] = phi
            return th

        def fg(phi: np.ndarray) -> tuple[float, np.ndarray]:
            nfev[0] += 1
            u, g = _full_loss(land, full(phi))
            return u, (g if idx is None else g[idx])

        phi0 = theta if idx is None else theta[idx]
        u0, _ = fg(phi0)
        record(0, theta, u0)

        def cb(intermediate_result: object) -> None:
            it[0] += 1
            if it[0] % log_every == 0:
                record(it[0], full(intermediate_result.x), float(intermediate_result.fun))

        res = sp_minimize(fg, phi0, jac=True, method="L-BFGS-B", callback=cb,
                          options={"maxiter": max_iter, "maxcor": 20, "ftol": 1e-14,
                                   "gtol": 1e-10})
        theta = full(res.x)
        if not rows or rows[-1]["iteration"] != it[0]:
            record(it[0], theta, float(res.fun))
        message = str(res.message)
        nev = nfev[0]
    else:
        temp = settings.get("temperature", 1.0)
        if idx is None:
            r = run_chains(land, m, theta, max_iter, seed=seed, temperature=temp,
                           thin=log_every)
            full = np.array
        else:  # the chains move the trainable entries only
            sub = subspace_landscape(land, _mask_of(idx, model.n_params), theta)
            r = run_chains(sub, m, theta[idx], max_iter, seed=seed, temperature=temp,
                           thin=log_every)
            full = sub.full
        for k, step in enumerate(r.steps.tolist()):
            th = full(r.samples[0, k])
            record(int(step), th, _full_loss(land, th)[0])
        theta = full(r.theta[0])
        record(max_iter, theta, _full_loss(land, theta)[0])
        message = f"completed {max_iter} {method} steps"
        nev = int(r.nfev)
    model.set_params(theta)
    return FitResult(model=model, curve={k: np.array([r.get(k, np.nan) for r in rows])
                                         for k in rows[0]},
                     train=errors(land, theta),
                     validation=None if vland is None else errors(vland, theta),
                     method=method, message=message, n_evaluations=nev,
                     n_trainable=None if idx is None else int(idx.size))

