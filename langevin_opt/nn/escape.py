"""First passage out of a minimum of a network's full-batch loss (Langevin, SGD) and its rate.

Units: energies in loss units (``U = sum_i loss_i + prior``, :mod:`.landscape`),
``k_B = 1``, temperatures in loss units, time ``t = eta * steps``.

Dynamics
--------
Walkers run full-batch SGLD, the compiled loop of
:func:`~langevin_opt.sgmcmc.kernels.make_runner` (method ``"sgld"``)::

    theta <- theta - eta grad U(theta) + sqrt(2 eta T) xi,   xi ~ N(0, I),

which is the Euler–Maruyama step ``dt = eta`` of overdamped Langevin dynamics
with unit friction, ``d theta = -grad U dt + sqrt(2 T) dW`` (``ζ = 1`` in
:mod:`langevin_opt.rates.theory`).  Hence time is ``eta * steps``; the
discretisation bias of the rate is ``O(eta * λ_max)``.  The landscape must be
full batch (``batch_size == n_data``): then ``U~ = U``.

Walker ``k`` at temperature index ``t`` uses random stream
``stream_offset + t * walkers + k`` with the global step as counter; escaped
walkers are no longer simulated, and the compiled loop is called on contiguous
runs of active walkers, so a walker's trajectory does not depend on the others
or on the number of threads.

Commitment rule
---------------
As for clusters (:func:`~langevin_opt.particles.cluster_first_passage`): every
``check_every`` steps a copy of every active walker is quenched by
``quench_steps`` steps of full-batch gradient descent (the same compiled loop,
method ``"sgd"``, step ``quench_step_size``, default ``1 / λ_max`` of the start
minimum).  A quench that ends within ``tol`` (Euclidean, parameter units) of the
walker's reference copy of the start minimum is "still in".  The others are
polished by L-BFGS (:func:`~langevin_opt.rates.saddles.minimize`) and compared
with the start minimum *modulo hidden-unit symmetry*
(:func:`~langevin_opt.nn.symmetry.distance_modulo_symmetry`; plain distance for
``net=None``, e.g. for a :func:`slice_landscape`): farther than ``tol`` means the
walker has committed to another minimum; otherwise it has reached a symmetry
image of the start (not an escape) and that image becomes the walker's reference.
The escape time is the middle of the check interval in which the escape was
seen; walkers still in at ``max_steps`` are right-censored there.  The result
feeds :func:`~langevin_opt.rates.estimators.estimate_rate` and
:func:`~langevin_opt.rates.arrhenius.arrhenius_fit` (:func:`escape_rates`).

SGD without injected noise
--------------------------
:func:`sgd_first_passage` runs the same loop with plain minibatch SGD,
``theta <- theta - eta grad U~`` (method ``"sgd"``), at several
``(learning_rate, batch_size)`` settings; the batches come from the counter-based
sampler of :func:`~langevin_opt.datalandscape.minibatch`, keyed by ``(seed, stream,
step)``, so the only randomness is the choice of batches and results do not depend on
threads.  Time is again ``t = eta * steps``.  :func:`sgd_noise` writes one step's
gradient noise as a Langevin diffusion matrix ``D = eta Σ / 2`` (``Σ`` the minibatch
gradient covariance from :func:`gradient_covariance`, with the finite-population factor
of batches drawn without replacement) and gives matched temperatures: isotropic
``tr(D) / P`` and ``v^T D v`` along a direction ``v``.

Theory
------
:func:`eyring_kramers_rate` evaluates the overdamped Eyring–Kramers rate
``k = n_saddles |λ_1|/(2π) sqrt(det H_min / |det H_sad|) exp(-ΔU/T)``
(:func:`~langevin_opt.rates.theory.kramers_overdamped_rate`, ``ζ = 1``) from a
:class:`~langevin_opt.nn.paths.PathResult` (CI-NEB barrier, full Hessian spectra at
the minimum and the dimer-refined saddle).  ``n_saddles`` counts the
symmetry-equivalent copies of that saddle adjacent to the start minimum.  A
symmetry ``g`` maps the saddle ``s`` next to ``θ_a`` to ``g s`` next to ``g θ_a``,
so the copies next to ``θ_a`` itself are ``g s`` with ``g`` in the stabiliser of
``θ_a``: for a minimum with no symmetry of its own (generic parameters, the
stabiliser is the identity) ``n_saddles = 1``.  Other, inequivalent saddles out of
the same minimum add their own rates; the formula with the lowest saddle alone is
the leading term as ``T -> 0``.  The relative error of Eyring–Kramers is
``O(T/ΔU)`` at finite barriers (anharmonicity of the well and the saddle).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numba
import numpy as np

from ..core.validation import check_int, check_positive, check_seed
from ..core.validation import threads as _threads
from ..datalandscape import MINIBATCH_IWORK, DataLandscape
from .landscape import energy_grad as _mlp_energy_grad
from .landscape import full_energy_grad as _mlp_full_energy_grad
from .mlp import MLP
from .mlp import fwork_size as _mlp_fwork_size
from .paths import (
    EscapeSaddles,
    PathResult,
    _check_landscape,
    _serial_blas,
    energy_function,
    hessian_spectrum,
)
from .symmetry import distance_modulo_symmetry

__all__ = [
    "NetworkFirstPassage",
    "SGDFirstPassage",
    "SGDNoise",
    "escape_rates",
    "eyring_kramers_rate",
    "gradient_covariance",
    "network_first_passage",
    "per_example_gradients",
    "sgd_first_passage",
    "sgd_noise",
    "slice_landscape",
]


# ----------------------------------------------------------------- sliced landscape
@numba.njit(cache=True, nogil=True, error_model="numpy")
def _slice_energy_grad(x, data, fwork, iwork, seed, chain, step, grad):
    """Energy of an MLP landscape with all but ``free`` parameters fixed (compiled).

    ``data = inner_data + (theta_fixed, free)`` (flat: parallel loops take no nested
    tuples; ``inner_data`` is the 7-tuple of :func:`~langevin_opt.nn.mlp_landscape`);
    ``fwork`` is the inner scratch
    followed by the full ``theta`` and the full gradient.
    """
    inner = (data[0], data[1], data[2], data[3], data[4], data[5], data[6])
    th0 = data[7]
    free = data[8]
    P = th0.shape[0]
    n = fwork.shape[0]
    th = fwork[n - 2 * P:n - P]
    g = fwork[n - P:n]
    for p in range(P):
        th[p] = th0[p]
    for i in range(free.shape[0]):
        th[free[i]] = x[i]
    u = _mlp_energy_grad(th, inner, fwork[:n - 2 * P], iwork, seed, chain, step, g)
    for i in range(free.shape[0]):
        grad[i] = g[free[i]]
    return u


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _slice_full_energy_grad(x, data, fwork, iwork, grad):
    """Exact energy of the sliced landscape (see :func:`_slice_energy_grad`)."""
    inner = (data[0], data[1], data[2], data[3], data[4], data[5], data[6])
    th0 = data[7]
    free = data[8]
    P = th0.shape[0]
    n = fwork.shape[0]
    th = fwork[n - 2 * P:n - P]
    g = fwork[n - P:n]
    for p in range(P):
        th[p] = th0[p]
    for i in range(free.shape[0]):
        th[free[i]] = x[i]
    u = _mlp_full_energy_grad(th, inner, fwork[:n - 2 * P], iwork, g)
    for i in range(free.shape[0]):
        grad[i] = g[free[i]]
    return u


def slice_landscape(landscape: DataLandscape, theta: np.ndarray,
                    free: Sequence[int] | np.ndarray) -> DataLandscape:
    """An MLP landscape as a function of a few parameters, the others held at ``theta``.

    The compiled counterpart of :func:`~langevin_opt.nn.paths.restrict`: a
    :class:`~langevin_opt.datalandscape.DataLandscape` with ``n_params = len(free)``
    that the samplers run on (a loss that can be checked on a fine grid).

    Parameters
    ----------
    landscape : DataLandscape
        From :func:`~langevin_opt.nn.mlp_landscape`.
    theta : array_like, shape (P,)
        Values of the fixed parameters.
    free : array_like of int, shape (m,)
        Indices of the free parameters (distinct, in ``[0, P)``).

    Returns
    -------
    DataLandscape
        ``U(x) = U_full(theta with theta[free] = x)`` and its gradient in ``x``.
    """
    ls = _check_landscape(landscape)
    if ls.energy_grad is not _mlp_energy_grad:
        raise ValueError("landscape must come from nn.mlp_landscape (slices of other data "
                         "landscapes are not compiled here)")
    if len(ls.data) != 7:
        raise ValueError("landscape must come from nn.mlp_landscape (7 data arrays)")
    th = np.array(theta, dtype=np.float64).ravel()
    if th.shape != (ls.n_params,) or not np.all(np.isfinite(th)):
        raise ValueError(f"theta must be a finite vector of shape ({ls.n_params},)")
    idx = np.asarray(free)
    if (idx.ndim != 1 or idx.size < 1 or not np.issubdtype(idx.dtype, np.integer)
            or np.unique(idx).size != idx.size or idx.min() < 0 or idx.max() >= th.size):
        raise ValueError(f"free must be distinct integer indices in [0, {th.size}), got {free!r}")
    idx = idx.astype(np.int64)
    th.setflags(write=False)
    idx.setflags(write=False)
    return DataLandscape(name=f"{ls.name}_slice{idx.size}", n_params=int(idx.size),
                         n_data=ls.n_data, batch_size=ls.batch_size,
                         data=tuple(ls.data) + (th, idx), fwork_size=ls.fwork_size + 2 * th.size,
                         iwork_size=ls.iwork_size, energy_grad=_slice_energy_grad,
                         full_energy_grad=_slice_full_energy_grad)


# ----------------------------------------------------------------- first passage
@dataclass(frozen=True)
class NetworkFirstPassage:
    """Result of :func:`network_first_passage` (one row per walker).

    Attributes
    ----------
    temperature : numpy.ndarray, shape (M,)
        Temperature of every walker (loss units); walker ``t * walkers + k``.
    time : numpy.ndarray, shape (M,)
        Escape time (middle of the check interval of the first escape seen), or
        the censoring time ``max_steps * step_size`` (time units ``eta * steps``).
    censored : numpy.ndarray of bool, shape (M,)
        True if the walker had not escaped by ``max_steps``.
    product : numpy.ndarray, shape (M, P)
        The polished minimum it committed to (NaN if censored).
    product_energy : numpy.ndarray, shape (M,)
        ``U`` there (NaN if censored).
    start : numpy.ndarray, shape (P,)
        The start minimum (polished).
    start_energy : float
    step_size : float
        ``eta``, the time step.
    resolution : float
        ``check_every * step_size``: escape times are known to within this.
    quench_step_size : float
    walker_steps : int
        Dynamics steps simulated (escaped walkers stop).
    n_polished : int
        Quenches that ended farther than ``tol`` from the reference and were polished.
    n_images : int
        Polished quenches that found a symmetry image of the start (not escapes).
    """

    temperature: np.ndarray
    time: np.ndarray
    censored: np.ndarray
    product: np.ndarray
    product_energy: np.ndarray
    start: np.ndarray
    start_energy: float
    step_size: float
    resolution: float
    quench_step_size: float
    walker_steps: int
    n_polished: int
    n_images: int


def _blocks(ids: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs ``[a, b)`` of a sorted array of walker indices."""
    if ids.size == 0:
        return []
    cut = np.flatnonzero(np.diff(ids) != 1) + 1
    starts = np.concatenate([[0], cut])
    ends = np.concatenate([cut, [ids.size]])
    return [(int(ids[s]), int(ids[e - 1]) + 1) for s, e in zip(starts, ends, strict=True)]


def _advance(run: Callable, ls: DataLandscape, theta: np.ndarray, active: np.ndarray,
             fwork: np.ndarray, iwork: np.ndarray, grad: np.ndarray, seed: np.uint64,
             offset: int, step0: int, n: int, eta: np.ndarray, temps: np.ndarray,
             hp: np.ndarray) -> None:
    """``n`` steps of the compiled loop on the active walkers, block by block."""
    ones = np.ones(n)
    rec = np.full(n, -1, dtype=np.int64)
    samples = np.zeros((1, 0, theta.shape[1]))  # (chain, draw, param): no draws kept
    energies = np.zeros((1, 0))
    for a, b in _blocks(active):
        C = b - a
        aux = np.zeros((C, 1))
        auxs = np.zeros((C, 4))
        best_e = np.full(C, np.inf)
        best_t = np.zeros((C, theta.shape[1]))
        status = np.full(C, -1, dtype=np.int64)
        run(theta[a:b], ls.data, fwork[a:b], iwork[a:b], aux, auxs, grad[a:b], seed,
            np.int64(offset + a), np.int64(step0), eta[a:b], temps[a:b], ones, ones, hp,
            rec, samples, energies, best_e, best_t, status)
        if np.any(status >= 0):
            from ..core.errors import DivergenceError

            c = int(np.flatnonzero(status >= 0)[0])
            raise DivergenceError(f"non-finite loss for walker {a + c} at step "
                                  f"{int(status[c])}; reduce step_size", int(status[c]),
                                  a + c, None)


def _check_passage_args(ls: DataLandscape, theta_min: np.ndarray, net: MLP | None,
                        max_steps: int, walkers: int, check_every: int, quench_steps: int,
                        tol: float, gtol: float, stream_offset: int,
                        progress: Callable[[int, int], object] | None) -> tuple:
    """Validate the arguments common to the first-passage front ends (one-line errors)."""
    if ls.batch_size != ls.n_data:
        raise ValueError(f"landscape must be full batch (batch_size == n_data = {ls.n_data}), "
                         f"got batch_size={ls.batch_size}")
    P = int(ls.n_params)
    if net is not None:
        if not isinstance(net, MLP):
            raise TypeError(f"net must be an MLP or None, got {type(net).__name__}")
        if net.n_params != P:
            raise ValueError(f"net has {net.n_params} parameters but the landscape {P}")
    x0 = np.array(theta_min, dtype=np.float64).ravel()
    if x0.shape != (P,) or not np.all(np.isfinite(x0)):
        raise ValueError(f"theta_min must be a finite vector of shape ({P},)")
    walkers = check_int("walkers", walkers, lo=1, hi=None)
    check_every = check_int("check_every", check_every, lo=1, hi=None)
    max_steps = check_int("max_steps", max_steps, lo=check_every, hi=None)
    if max_steps % check_every:
        raise ValueError(f"max_steps must be a positive multiple of check_every={check_every}, "
                         f"got {max_steps}")
    quench_steps = check_int("quench_steps", quench_steps, lo=1, hi=None)
    tol = check_positive("tol", tol)
    gtol = check_positive("gtol", gtol)
    stream_offset = check_int("stream_offset", stream_offset, lo=0, hi=None)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable, got {type(progress).__name__}")
    return x0, max_steps, walkers, check_every, quench_steps, tol, gtol, stream_offset


def _polish_start(ls: DataLandscape, x0: np.ndarray, gtol: float,
                  quench_step_size: float | None, seed: int) -> tuple:
    """Polish the start minimum; the quench step (default ``1 / λ_max`` there)."""
    from ..rates.saddles import minimize

    f = energy_function(ls)
    with _serial_blas():
        x0 = minimize(f, x0, gtol=gtol).x
    e0 = f(x0)[0]
    if quench_step_size is None:
        P = x0.size
        if P <= 200:
            with _serial_blas():
                top = float(np.max(np.abs(hessian_spectrum(f, x0))))
        else:
            from .flatness import top_eigenvalues

            top = float(top_eigenvalues(ls, x0, k=1, n_iter=min(20, P), seed=seed)[0])
        eta_q = 1.0 / max(top, 1e-12)
    else:
        eta_q = check_positive("quench_step_size", quench_step_size)
    return f, x0, float(e0), eta_q


def _escape_loop(groups: list[tuple[DataLandscape, int, int]], kind: int, ls: DataLandscape,
                 f: Callable, x0: np.ndarray, net: MLP | None, etas: np.ndarray,
                 temps: np.ndarray, max_steps: int, check_every: int, quench_steps: int,
                 eta_q: float, tol: float, gtol: float, seed: int, stream_offset: int,
                 threads: int | None, progress: Callable[[int, int], object] | None) -> tuple:
    """The walker loop shared by :func:`network_first_passage` and :func:`sgd_first_passage`.

    Walkers ``[a, b)`` of a group run the compiled loop of method ``kind`` on that
    group's landscape (stream ``stream_offset + walker``); every ``check_every`` steps
    the active walkers are quenched on the full-batch ``ls`` and committed (module
    docstring).  Returns the escape step (middle of the check interval; ``max_steps``
    if censored), the censoring mask, products, their energies, the walker steps
    simulated, the polished quenches and the symmetry images found.
    """
    from ..rates.saddles import minimize
    from ..sgmcmc import kernels as KR
    from ..sgmcmc.methods import K_SGD

    M, P = etas.size, x0.size
    theta = np.repeat(x0[None], M, axis=0)
    ref = theta.copy()  # per walker: the copy of the start minimum it is compared with
    works = [g.make_work(b - a) for g, a, b in groups]
    runs = [KR.make_runner(g.energy_grad, kind) for g, _, _ in groups]
    qfw, qiw = ls.make_work(M)
    grad = np.zeros((M, P))
    steps = np.full(M, float(max_steps))
    cens = np.ones(M, dtype=bool)
    prod = np.full((M, P), np.nan)
    prod_e = np.full(M, np.nan)
    etas_q = np.full(M, eta_q)
    zeros = np.zeros(M)
    hp = np.zeros(8)
    useed = np.uint64(seed)
    quench = KR.make_runner(ls.energy_grad, K_SGD)
    active = np.arange(M)
    step = 0
    work = 0
    n_pol = n_img = 0
    with _threads(threads):
        while step < max_steps and active.size:
            for (g, a, b), (fw, iw), run in zip(groups, works, runs, strict=True):
                sub = active[(active >= a) & (active < b)] - a
                _advance(run, g, theta[a:b], sub, fw, iw, grad[a:b], useed,
                         stream_offset + a, step, check_every, etas[a:b], temps[a:b], hp)
            work += active.size * check_every
            step += check_every
            q = theta.copy()
            _advance(quench, ls, q, active, qfw, qiw, grad, useed, stream_offset, 0,
                     quench_steps, etas_q, zeros, hp)
            far = active[np.linalg.norm(q[active] - ref[active], axis=1) > tol]
            gone = []
            with _serial_blas():
                for i in far:
                    n_pol += 1
                    x = minimize(f, q[i], gtol=gtol).x
                    d = (float(np.linalg.norm(x - x0)) if net is None
                         else distance_modulo_symmetry(x0, x, net))
                    if d > tol:
                        gone.append(i)
                        prod[i], prod_e[i] = x, f(x)[0]
                    else:
                        n_img += 1
                        ref[i] = x
            if gone:
                gi = np.array(gone, dtype=np.int64)
                steps[gi] = step - 0.5 * check_every
                cens[gi] = False
                active = active[~np.isin(active, gi)]
            if progress is not None:
                progress(step, int(active.size))
    return steps, cens, prod, prod_e, int(work), n_pol, n_img


def network_first_passage(landscape: DataLandscape, theta_min: np.ndarray,
                          temperatures: Sequence[float] | np.ndarray, max_steps: int, *,
                          step_size: float, net: MLP | None = None, walkers: int = 100,
                          check_every: int = 100, quench_steps: int = 200,
                          quench_step_size: float | None = None, tol: float = 1e-3,
                          gtol: float = 1e-8, seed: int | None = None, stream_offset: int = 0,
                          threads: int | None = None,
                          progress: Callable[[int, int], object] | None = None
                          ) -> NetworkFirstPassage:
    """Escape times out of a minimum of the full-batch loss under overdamped Langevin dynamics.

    See the module docstring for the dynamics, the commitment rule and the units.

    Parameters
    ----------
    landscape : DataLandscape
        Full-batch loss (``batch_size == n_data``), e.g. :func:`~langevin_opt.nn.mlp_landscape`
        or :func:`slice_landscape`.
    theta_min : array_like, shape (P,)
        The start minimum (polished by L-BFGS to ``gtol`` first).
    temperatures : array_like, shape (K,)
        Temperatures ``T > 0`` (loss units); ``walkers`` walkers at each.
    max_steps : int
        Time limit in steps, a positive multiple of ``check_every``.
    step_size : float
        ``eta`` (> 0): the Euler–Maruyama time step (keyword only, required).
    net : MLP, optional
        The network of ``landscape``: products are compared modulo its hidden-unit
        symmetries.  ``None``: plain Euclidean distance (slices, no symmetry).
    walkers : int
        Walkers per temperature (>= 1).
    check_every : int
        Steps between quenches (>= 1).
    quench_steps : int
        Gradient-descent steps per quench (>= 1).
    quench_step_size : float, optional
        Their step (> 0); default ``1 / λ_max`` at the start minimum.
    tol : float
        Distance (parameter units, > 0) within which a quench is the start minimum.
    gtol : float
        L-BFGS tolerance (max-norm of the gradient) of the polishing.
    seed : int
        Generator key (keyword only, required).
    stream_offset : int
        Stream of walker 0 (>= 0).
    threads : int, optional
        Numba threads (results do not depend on it).
    progress : callable, optional
        ``progress(step, n_active)`` after every check.

    Returns
    -------
    NetworkFirstPassage
    """
    from ..sgmcmc.methods import K_SGLD

    ls = _check_landscape(landscape)
    x0, max_steps, walkers, check_every, quench_steps, tol, gtol, stream_offset = \
        _check_passage_args(ls, theta_min, net, max_steps, walkers, check_every, quench_steps,
                            tol, gtol, stream_offset, progress)
    seed = check_seed(seed)
    temps = np.atleast_1d(np.asarray(temperatures, dtype=np.float64))
    if temps.ndim != 1 or temps.size < 1 or not np.all(np.isfinite(temps)) or np.any(temps <= 0):
        raise ValueError(f"temperatures must be positive finite numbers, got {temperatures!r}")
    eta = check_positive("step_size", step_size)
    f, x0, e0, eta_q = _polish_start(ls, x0, gtol, quench_step_size, seed)
    M = walkers * temps.size
    T = np.repeat(temps, walkers)
    steps, cens, prod, prod_e, work, n_pol, n_img = _escape_loop(
        [(ls, 0, M)], K_SGLD, ls, f, x0, net, np.full(M, eta), T, max_steps, check_every,
        quench_steps, eta_q, tol, gtol, seed, stream_offset, threads, progress)
    return NetworkFirstPassage(T, steps * eta, cens, prod, prod_e, x0, e0, eta,
                               check_every * eta, eta_q, work, n_pol, n_img)


# ----------------------------------------------------------------- SGD without injected noise
def _with_batch(landscape: DataLandscape, batch_size: int) -> DataLandscape:
    """The same loss with minibatches of ``batch_size`` examples.

    For :func:`~langevin_opt.nn.mlp_landscape` landscapes and their
    :func:`slice_landscape` slices (the batch size lives in ``data``).
    """
    ls = landscape
    n = check_int("batch_size", batch_size, lo=1, hi=ls.n_data)
    if ls.energy_grad is _mlp_energy_grad and len(ls.data) == 7:
        inner, extra, more = ls.data, (), 0
    elif ls.energy_grad is _slice_energy_grad and len(ls.data) == 9:
        inner, extra = ls.data[:7], ls.data[7:]
        more = 2 * extra[0].size
    else:
        raise ValueError("landscape must come from nn.mlp_landscape or nn.slice_landscape "
                         "(other data landscapes cannot be re-batched here)")
    ipar = np.array([n, inner[5][1]], dtype=np.int64)
    ipar.setflags(write=False)
    data = tuple(inner[:5]) + (ipar, inner[6]) + tuple(extra)
    return DataLandscape(name=ls.name, n_params=ls.n_params, n_data=ls.n_data, batch_size=n,
                         data=data, fwork_size=_mlp_fwork_size(inner[3], n) + more,
                         iwork_size=MINIBATCH_IWORK(ls.n_data) + n,
                         energy_grad=ls.energy_grad, full_energy_grad=ls.full_energy_grad)


def per_example_gradients(landscape: DataLandscape, theta: np.ndarray) -> np.ndarray:
    """Gradients ``g_i = d loss_i / d theta`` of every training example (prior excluded).

    Parameters
    ----------
    landscape : DataLandscape
        From :func:`~langevin_opt.nn.mlp_landscape` or :func:`slice_landscape`
        (any batch size).
    theta : array_like, shape (P,)
        Parameters (the free ones for a slice).

    Returns
    -------
    numpy.ndarray, shape (N, P)
        Row ``i`` is ``g_i`` (loss units per parameter unit); ``sum_i g_i`` is
        ``grad U`` minus the prior's gradient.
    """
    ls = _with_batch(_check_landscape(landscape), 1)
    th = np.array(theta, dtype=np.float64).ravel()
    if th.shape != (ls.n_params,) or not np.all(np.isfinite(th)):
        raise ValueError(f"theta must be a finite vector of shape ({ls.n_params},)")
    X, Yf, Yi, sizes, acts, ipar, fpar = ls.data[:7]
    N = ls.n_data
    no_prior = np.array([fpar[0], 0.0])
    fw, iw = ls.make_work(1)
    out = np.empty((N, ls.n_params))
    g = np.empty(ls.n_params)
    for i in range(N):
        yf = Yf[i:i + 1] if Yf.shape[0] == N else Yf
        yi = Yi[i:i + 1] if Yi.shape[0] == N else Yi
        data = (X[i:i + 1], yf, yi, sizes, acts, ipar, no_prior) + tuple(ls.data[7:])
        ls.full_energy_grad(th, data, fw[0], iw[0], g)
        out[i] = g
    return out


def gradient_covariance(landscape: DataLandscape, theta: np.ndarray) -> np.ndarray:
    """Population covariance of the per-example gradients at ``theta``.

    ``C = (1/N) sum_i (g_i - g_bar)(g_i - g_bar)^T`` with ``g_i`` from
    :func:`per_example_gradients` (the prior's gradient is the same for every
    example and drops out).

    Parameters
    ----------
    landscape : DataLandscape
        From :func:`~langevin_opt.nn.mlp_landscape` or :func:`slice_landscape`.
    theta : array_like, shape (P,)
        Parameters.

    Returns
    -------
    numpy.ndarray, shape (P, P)
        ``C`` (squared loss units per squared parameter unit).
    """
    G = per_example_gradients(landscape, theta)
    D = G - G.mean(axis=0)
    return D.T @ D / G.shape[0]


@dataclass(frozen=True)
class SGDNoise:
    """Gradient noise of minibatch SGD at a point, as a Langevin diffusion (:func:`sgd_noise`).

    Attributes
    ----------
    learning_rate : float
        ``eta``, the SGD step on ``U`` (time ``t = eta * steps``).
    batch_size : int
        ``n``.
    n_data : int
        ``N``.
    covariance : numpy.ndarray, shape (P, P)
        ``Σ = Cov(grad U~)`` of one step's minibatch gradient:
        ``N^2 (N - n) / (n (N - 1)) C`` (:func:`gradient_covariance` ``C``).
    diffusion : numpy.ndarray, shape (P, P)
        ``D = eta Σ / 2``: SGD is ``d theta = -grad U dt + sqrt(2 D) dW`` in ``t``.
    temperature : float
        Isotropic matched temperature ``tr(D) / P`` (loss units).
    direction : numpy.ndarray or None, shape (P,)
        Unit vector ``v`` (if one was given).
    direction_temperature : float or None
        ``v^T D v``: the temperature of the noise along ``v``.
    """

    learning_rate: float
    batch_size: int
    n_data: int
    covariance: np.ndarray
    diffusion: np.ndarray
    temperature: float
    direction: np.ndarray | None
    direction_temperature: float | None


def sgd_noise(landscape: DataLandscape, theta: np.ndarray, learning_rate: float,
              batch_size: int, *, direction: np.ndarray | None = None) -> SGDNoise:
    """Diffusion matrix and matched temperatures of minibatch SGD's gradient noise at ``theta``.

    One SGD step is ``theta <- theta - eta grad U~ = theta - eta grad U - eta ξ``, with
    ``ξ = grad U~ - grad U`` of mean 0.  The batch of a step is a uniform random subset
    of ``n`` of the ``N`` examples (drawn without replacement; consecutive batches of an
    epoch are disjoint, a correlation this single-step description ignores), so, with
    ``U~ = (N/n) sum_{i in B} loss_i + prior``,
    ``Σ = Cov(ξ) = N^2 (N - n) / (n (N - 1)) C`` (finite-population factor
    ``(N - n)/(N - 1)``: ``Σ = 0`` for full batch).  Matching the step's noise
    ``eta^2 Σ`` to Euler–Maruyama's ``2 D eta`` over ``dt = eta`` gives overdamped
    Langevin dynamics with diffusion matrix ``D = eta Σ / 2`` in the time
    ``t = eta * steps`` of :func:`network_first_passage` (unit friction, so ``D`` is a
    temperature matrix).  Two scalar temperatures summarise it: the isotropic one with
    the same total diffusion, ``T = tr(D) / P`` (returned as ``temperature``), and,
    given a direction ``v`` (e.g. a path's tangent at the minimum or the saddle's
    unstable mode), ``v^T D v``, the temperature that sets escape along ``v`` in the
    anisotropic-noise theory of Xie, Sato & Sugiyama (ICLR 2021).

    Parameters
    ----------
    landscape : DataLandscape
        From :func:`~langevin_opt.nn.mlp_landscape` or :func:`slice_landscape`.
    theta : array_like, shape (P,)
        Where (e.g. a minimum).
    learning_rate : float
        ``eta > 0`` (step on ``U``; on the mean loss it is ``N * eta``).
    batch_size : int
        ``n`` in ``[1, N]``.
    direction : array_like, shape (P,), optional
        A non-zero vector (normalised here).

    Returns
    -------
    SGDNoise
    """
    ls = _check_landscape(landscape)
    eta = check_positive("learning_rate", learning_rate)
    n = check_int("batch_size", batch_size, lo=1, hi=ls.n_data)
    v = None
    if direction is not None:
        v = np.array(direction, dtype=np.float64).ravel()
        nv = float(np.linalg.norm(v)) if np.all(np.isfinite(v)) else 0.0
        if v.shape != (ls.n_params,) or nv == 0.0:
            raise ValueError(f"direction must be a finite non-zero vector of shape "
                             f"({ls.n_params},)")
        v = v / nv
    C = gradient_covariance(ls, theta)
    N = ls.n_data
    fac = 0.0 if N == 1 else N * N * (N - n) / (n * (N - 1.0))
    S = fac * C
    D = 0.5 * eta * S
    T = float(np.trace(D)) / ls.n_params
    Tv = None if v is None else float(v @ D @ v)
    return SGDNoise(eta, n, N, S, D, T, v, Tv)


@dataclass(frozen=True)
class SGDFirstPassage:
    """Result of :func:`sgd_first_passage` (one row per walker).

    Walker ``s * walkers + k`` runs setting ``s`` (in the order given).

    Attributes
    ----------
    learning_rate : numpy.ndarray, shape (M,)
        ``eta`` of every walker (the step on ``U``).
    batch_size : numpy.ndarray of int64, shape (M,)
        Its batch size ``n``.
    time : numpy.ndarray, shape (M,)
        Escape time ``eta * steps`` (gradient-flow time, as ``network_first_passage``),
        or the censoring time ``eta * max_steps``.
    steps : numpy.ndarray, shape (M,)
        The same in SGD steps (middle of the check interval; ``max_steps`` if censored).
    censored : numpy.ndarray of bool, shape (M,)
        True if the walker had not escaped by ``max_steps``.
    product : numpy.ndarray, shape (M, P)
        The polished minimum it committed to (NaN if censored).
    product_energy : numpy.ndarray, shape (M,)
        ``U`` there (NaN if censored).
    start : numpy.ndarray, shape (P,)
        The start minimum (polished).
    start_energy : float
    resolution : numpy.ndarray, shape (M,)
        ``check_every * eta``: escape times are known to within this.
    quench_step_size : float
    walker_steps : int
        SGD steps simulated (escaped walkers stop).
    n_polished : int
        Quenches that ended farther than ``tol`` from the reference and were polished.
    n_images : int
        Polished quenches that found a symmetry image of the start (not escapes).
    """

    learning_rate: np.ndarray
    batch_size: np.ndarray
    time: np.ndarray
    steps: np.ndarray
    censored: np.ndarray
    product: np.ndarray
    product_energy: np.ndarray
    start: np.ndarray
    start_energy: float
    resolution: np.ndarray
    quench_step_size: float
    walker_steps: int
    n_polished: int
    n_images: int


def _check_sgd_settings(settings: object, n_data: int) -> list[tuple[float, int]]:
    """``settings`` as distinct ``(learning_rate > 0, batch_size in [1, n_data])`` pairs."""
    msg = (f"settings must be a non-empty sequence of (learning_rate > 0, batch_size in "
           f"[1, {n_data}]) pairs")
    if isinstance(settings, (str, bytes)) or not hasattr(settings, "__len__") \
            or len(settings) == 0:
        raise ValueError(f"{msg}, got {settings!r}"[:300])
    out = []
    for k, s in enumerate(settings):
        if isinstance(s, (str, bytes)) or not hasattr(s, "__len__") or len(s) != 2:
            raise ValueError(f"{msg}, got settings[{k}] = {s!r}"[:300])
        lr = check_positive(f"settings[{k}] learning_rate", s[0])
        n = check_int(f"settings[{k}] batch_size", s[1], lo=1, hi=n_data)
        if (lr, n) in out:
            raise ValueError(f"settings must be distinct, settings[{k}] = ({lr}, {n}) repeats")
        out.append((lr, n))
    return out


def sgd_first_passage(landscape: DataLandscape, theta_min: np.ndarray,
                      settings: Sequence[tuple[float, int]], max_steps: int, *,
                      net: MLP | None = None, walkers: int = 100, check_every: int = 100,
                      quench_steps: int = 200, quench_step_size: float | None = None,
                      tol: float = 1e-3, gtol: float = 1e-8, seed: int | None = None,
                      stream_offset: int = 0, threads: int | None = None,
                      progress: Callable[[int, int], object] | None = None
                      ) -> SGDFirstPassage:
    """Escape times out of a minimum of the full-batch loss under plain minibatch SGD.

    No noise is injected: walkers run ``theta <- theta - eta grad U~(theta)`` (the
    compiled loop of method ``"sgd"``), where ``U~`` is the minibatch estimate of
    :mod:`.landscape` with the batch of step ``s`` of walker ``w`` drawn by
    :func:`~langevin_opt.datalandscape.minibatch` from ``(seed, stream_offset + w, s)``
    (epochs without replacement), so results do not depend on the number of threads.
    The only randomness is the choice of batches; with ``batch_size == n_data`` the
    dynamics is deterministic gradient descent.  Time is ``t = eta * steps``, the
    gradient-flow time that matches Langevin's ``eta * steps``
    (:func:`sgd_noise` gives the equivalent diffusion).  Commitment, the check
    interval and the quench are those of :func:`network_first_passage` (the same
    loop), on the full-batch ``landscape``.

    Parameters
    ----------
    landscape : DataLandscape
        Full-batch loss (``batch_size == n_data``) from :func:`~langevin_opt.nn.mlp_landscape`
        or :func:`slice_landscape`; the SGD walkers run copies with their batch size.
    theta_min : array_like, shape (P,)
        The start minimum (polished by L-BFGS to ``gtol`` first).
    settings : sequence of (float, int)
        Distinct ``(learning_rate, batch_size)`` pairs: ``eta > 0`` the step on ``U``
        (``N * eta`` on the mean loss), ``batch_size`` in ``[1, N]``; ``walkers``
        walkers at each.
    max_steps : int
        Time limit in SGD steps (all settings), a positive multiple of ``check_every``.
    net : MLP, optional
        The network of ``landscape``: products are compared modulo its hidden-unit
        symmetries.  ``None``: plain Euclidean distance (slices, no symmetry).
    walkers : int
        Walkers per setting (>= 1).
    check_every : int
        Steps between quenches (>= 1).
    quench_steps : int
        Gradient-descent steps per quench (>= 1).
    quench_step_size : float, optional
        Their step (> 0); default ``1 / λ_max`` at the start minimum.
    tol : float
        Distance (parameter units, > 0) within which a quench is the start minimum.
    gtol : float
        L-BFGS tolerance (max-norm of the gradient) of the polishing.
    seed : int
        Generator key of the minibatches (keyword only, required).
    stream_offset : int
        Stream of walker 0 (>= 0); walker ``s * walkers + k`` uses stream
        ``stream_offset + s * walkers + k``.
    threads : int, optional
        Numba threads (results do not depend on it).
    progress : callable, optional
        ``progress(step, n_active)`` after every check.

    Returns
    -------
    SGDFirstPassage
    """
    from ..sgmcmc.methods import K_SGD

    ls = _check_landscape(landscape)
    x0, max_steps, walkers, check_every, quench_steps, tol, gtol, stream_offset = \
        _check_passage_args(ls, theta_min, net, max_steps, walkers, check_every, quench_steps,
                            tol, gtol, stream_offset, progress)
    seed = check_seed(seed)
    pairs = _check_sgd_settings(settings, ls.n_data)
    _with_batch(ls, 1)  # refuses landscapes that cannot be re-batched, before any work
    f, x0, e0, eta_q = _polish_start(ls, x0, gtol, quench_step_size, seed)
    M = walkers * len(pairs)
    lr = np.repeat([p[0] for p in pairs], walkers).astype(np.float64)
    bs = np.repeat([p[1] for p in pairs], walkers).astype(np.int64)
    by_batch: dict[int, DataLandscape] = {}
    groups = []
    for s, (_, n) in enumerate(pairs):
        if n not in by_batch:
            by_batch[n] = _with_batch(ls, n)
        groups.append((by_batch[n], s * walkers, (s + 1) * walkers))
    steps, cens, prod, prod_e, work, n_pol, n_img = _escape_loop(
        groups, K_SGD, ls, f, x0, net, lr, np.zeros(M), max_steps, check_every, quench_steps,
        eta_q, tol, gtol, seed, stream_offset, threads, progress)
    return SGDFirstPassage(lr, bs, steps * lr, steps, cens, prod, prod_e, x0, e0,
                           check_every * lr, eta_q, work, n_pol, n_img)


def escape_rates(result: NetworkFirstPassage | SGDFirstPassage, *, level: float = 0.95,
                 gof: bool = False, seed: int = 0) -> list[dict]:
    """Per-temperature or per-setting escape rates (:func:`~langevin_opt.rates.estimate_rate`).

    Parameters
    ----------
    result : NetworkFirstPassage or SGDFirstPassage
    level : float
        Confidence level of the rate intervals.
    gof : bool
        Also run the exponential goodness-of-fit check.
    seed : int
        Its bootstrap seed.

    Returns
    -------
    list of dict
        For a :class:`NetworkFirstPassage`, one dict per temperature, ascending:
        ``temperature`` and the keys of ``estimate_rate``; for an
        :class:`SGDFirstPassage`, one per setting in the order given:
        ``learning_rate``, ``batch_size`` and those keys.  Rates in inverse time
        units (``t = eta * steps``).
    """
    from ..rates.estimators import estimate_rate

    if isinstance(result, SGDFirstPassage):
        out = []
        pairs = dict.fromkeys(zip(result.learning_rate.tolist(), result.batch_size.tolist(),
                                  strict=True))
        for lr, n in pairs:
            m = (result.learning_rate == lr) & (result.batch_size == n)
            d = estimate_rate(result.time[m], result.censored[m], level=level, gof=gof,
                              seed=seed)
            out.append({"learning_rate": float(lr), "batch_size": int(n), **d})
        return out
    if not isinstance(result, NetworkFirstPassage):
        raise TypeError(f"result must be a NetworkFirstPassage or SGDFirstPassage, got "
                        f"{type(result).__name__}")
    out = []
    for t in np.unique(result.temperature):
        m = result.temperature == t
        d = estimate_rate(result.time[m], result.censored[m], level=level, gof=gof, seed=seed)
        out.append({"temperature": float(t), **d})
    return out


def eyring_kramers_rate(path: PathResult | Sequence[PathResult] | EscapeSaddles,
                        temperature: float | np.ndarray, *,
                        start: str = "a", n_saddles: int = 1) -> float | np.ndarray:
    """Overdamped Eyring–Kramers escape rate over the saddle(s) of minimum-energy paths.

    ``k = n_saddles |λ_1|/(2π) sqrt(det H_min / |det H_sad|) exp(-ΔU/T)`` with unit
    friction (the time of :func:`network_first_passage`), from the path's barrier
    and full Hessian spectra (:func:`~langevin_opt.rates.theory.kramers_overdamped_rate`).
    Given several paths out of one minimum (distinct saddles, e.g. from
    :func:`~langevin_opt.nn.paths.escape_saddles`), the total rate is the sum of
    their rates: independent escape channels.

    Parameters
    ----------
    path : PathResult, sequence of PathResult, or EscapeSaddles
        From :func:`~langevin_opt.nn.paths.minimum_energy_path` or
        :func:`~langevin_opt.nn.paths.connect` (``.path``); each needs ``ok`` and full
        spectra.  A sequence is summed (its paths must be distinct saddles out of the
        same minimum); an :class:`~langevin_opt.nn.paths.EscapeSaddles` sums over its
        distinct saddles (``saddle_path``; excluded paths do not count, ``start``
        is then ``"a"``).
    temperature : float or array_like
        ``T > 0`` (loss units).
    start : {"a", "b"}
        The minimum the walkers start in (``x_a`` or ``x_b`` of the path).
    n_saddles : int
        Symmetry-equivalent copies of each saddle adjacent to the start minimum
        (1 for a minimum with trivial stabiliser; module docstring).

    Returns
    -------
    float or numpy.ndarray
        Rate in inverse time units.
    """
    from ..rates.theory import HarmonicPoint, kramers_overdamped_rate

    if isinstance(path, EscapeSaddles):
        if path.saddle_path.size == 0:
            raise ValueError("path (EscapeSaddles) has no saddle of index 1 to sum over")
        if start != "a":
            raise ValueError(f"start must be 'a' for EscapeSaddles (its paths start at the "
                             f"start minimum), got {start!r}")
        path = [path.paths[int(j)] for j in path.saddle_path]
    if isinstance(path, Sequence) and not isinstance(path, str):
        if len(path) == 0:
            raise ValueError("path must be a PathResult or a non-empty sequence of them")
        ks = [eyring_kramers_rate(p, temperature, start=start, n_saddles=n_saddles)
              for p in path]
        k = np.sum(np.asarray(ks, dtype=np.float64), axis=0)
        return float(k) if k.ndim == 0 else k
    if not isinstance(path, PathResult):
        raise TypeError(f"path must be a PathResult, got {type(path).__name__}")
    if start not in ("a", "b"):
        raise ValueError(f"start must be 'a' or 'b', got {start!r}")
    n_saddles = check_int("n_saddles", n_saddles, lo=1, hi=None)
    if not path.full_hessian:
        raise ValueError("path has Lanczos spectra only; Eyring-Kramers needs full Hessians "
                         "(raise full_max)")
    if not path.ok:
        raise ValueError("path is not ok (NEB not converged, or the saddle is not of index 1)")
    spec = path.spectrum_a if start == "a" else path.spectrum_b
    e_min = path.saddle_energy - (path.barrier_forward if start == "a" else path.barrier_backward)
    mini = HarmonicPoint(path.images[0 if start == "a" else -1], float(e_min), np.sort(spec),
                         0, 0)
    sad = HarmonicPoint(path.saddle, path.saddle_energy, np.sort(path.spectrum_saddle), 1, 0)
    k = np.asarray(kramers_overdamped_rate(mini, sad, temperature)) * n_saddles
    return float(k) if k.ndim == 0 else k

