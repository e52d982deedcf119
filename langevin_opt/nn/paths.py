"""Minima of a network's full-batch loss and the minimum-energy paths and saddles between them.

Everything works on the exact energy of a data landscape (``full_energy_grad``:
``U = sum_i loss_i + ||theta||^2 / (2 sigma_prior^2)``, loss units, ``k_B = 1``;
see :mod:`.landscape`), adapted to the ``f(x) -> (E, g)`` protocol of
:mod:`langevin_opt.rates.saddles` by :func:`energy_function`.  A weak Gaussian
prior makes the minima isolated (no flat directions from rescalings).

* :func:`network_minima`: many seeded starts, full-batch gradient descent run
  as parallel chains (:func:`~langevin_opt.sgmcmc.run_chains`, method ``"sgd"``),
  then each polished by L-BFGS and classified by its Hessian spectrum.
* :func:`minimum_energy_path`: climbing-image NEB between two points of any
  ``f`` (:func:`~langevin_opt.rates.saddles.neb`) with AutoNEB-style image
  insertion: after each converged band, the loss is probed on the straight
  segment between neighbouring images, and where it rises above both images
  by more than ``insert_tol`` times the barrier (the path is poorly resolved
  there; Draxler et al., ICML 2018, use this criterion for AutoNEB in
  parameter space) an image is inserted at the probe's maximum and the band
  is relaxed again.  The climbing image is then refined by the dimer method
  (:func:`~langevin_opt.rates.saddles.dimer`), the loss along the straight line
  between the end points is tabulated, and Hessian spectra are computed at both
  ends and at the saddle.
* :func:`connect`: align two network minima modulo hidden-unit symmetry
  (:func:`~langevin_opt.nn.symmetry.align`), polish them and run
  :func:`minimum_energy_path` between them.
* :func:`escape_saddles`: the distinct saddles out of one minimum, from the
  product minima escaping walkers reached (grouped in parameter space, not
  modulo symmetry; one unaligned path to each, paths through intermediate
  minima reported and excluded, saddles deduplicated).

Hessian spectra
---------------
:func:`hessian_spectrum` returns every eigenvalue of the finite-difference
Hessian (:func:`~langevin_opt.rates.saddles.hessian_fd`, ``P`` pairs of
gradients) when ``P <= full_max`` (default 200), and otherwise the ``k``
lowest eigenvalues by Lanczos (ARPACK's ``eigsh``, a deterministic start
vector) on central-difference Hessian-vector products.  The *index* of a
point is the number of eigenvalues below ``-zero_tol * max|λ|`` (for
Lanczos, at most ``k``: ``k`` means "at least ``k``").
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..core.validation import check_int, check_nonnegative, check_positive, check_seed
from ..datalandscape import DataLandscape
from .mlp import MLP
from .symmetry import Alignment, align

if TYPE_CHECKING:
    from ..rates.saddles import DimerResult, NEBResult

__all__ = [
    "Connection",
    "EscapeSaddles",
    "NetworkMinima",
    "PathResult",
    "connect",
    "count_maxima",
    "energy_function",
    "escape_saddles",
    "hessian_spectrum",
    "minimum_energy_path",
    "network_minima",
    "restrict",
    "saddle_index",
]

EnergyGradient = Callable[[np.ndarray], tuple[float, np.ndarray]]


@contextlib.contextmanager
def _serial_blas() -> Iterator[None]:
    """One BLAS thread for the enclosed small dense algebra (L-BFGS, eigensolvers).

    On vectors of tens of parameters a threaded BLAS only spins: measured here, L-BFGS-B
    polishing of ten 17-parameter minima took 5 s on a loaded 2-core machine with
    OpenBLAS's default threads and 0.05 s with one (``threadpoolctl``).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _check_landscape(landscape: object) -> DataLandscape:
    if not all(hasattr(landscape, a) for a in ("full_energy_grad", "data", "make_work",
                                                "n_params")):
        raise TypeError(f"landscape must be a DataLandscape, got {type(landscape).__name__}")
    return landscape  # type: ignore[return-value]


def energy_function(landscape: DataLandscape) -> EnergyGradient:
    """The exact (full-batch) energy of a data landscape as ``f(theta) -> (U, grad U)``.

    Parameters
    ----------
    landscape : DataLandscape
        E.g. :func:`~langevin_opt.nn.mlp_landscape`.

    Returns
    -------
    callable
        ``f(theta)`` with ``theta`` of shape ``(P,)``, returning ``(float, ndarray (P,))``
        (loss units); it owns one row of scratch, so it is not thread-safe.
    """
    ls = _check_landscape(landscape)
    fw, iw = ls.make_work(1)
    fw0, iw0 = fw[0], iw[0]
    P = int(ls.n_params)

    def f(theta: np.ndarray) -> tuple[float, np.ndarray]:
        th = np.ascontiguousarray(theta, dtype=np.float64)
        if th.shape != (P,):
            raise ValueError(f"theta must have shape ({P},), got {np.shape(theta)}")
        g = np.empty(P)
        u = ls.full_energy_grad(th, ls.data, fw0, iw0, g)
        return float(u), g

    return f


def restrict(f: EnergyGradient, theta: np.ndarray, free: np.ndarray) -> EnergyGradient:
    """``f`` as a function of a few coordinates, the others held at ``theta``.

    Parameters
    ----------
    f : callable
        ``f(theta) -> (E, g)`` on the full vector.
    theta : array_like, shape (P,)
        Values of the fixed coordinates.
    free : array_like of int, shape (m,)
        Indices of the free coordinates (distinct, in ``[0, P)``).

    Returns
    -------
    callable
        ``h(x) -> (E, g[free])`` with ``x`` of shape ``(m,)``: a low-dimensional
        slice of the landscape (known-answer checks on a grid).
    """
    th = np.array(theta, dtype=np.float64).ravel()
    idx = np.asarray(free)
    if (idx.ndim != 1 or idx.size < 1 or not np.issubdtype(idx.dtype, np.integer)
            or np.unique(idx).size != idx.size or idx.min() < 0 or idx.max() >= th.size):
        raise ValueError(f"free must be distinct integer indices in [0, {th.size}), got {free!r}")

    def h(x: np.ndarray) -> tuple[float, np.ndarray]:
        full = th.copy()
        full[idx] = np.asarray(x, dtype=np.float64).ravel()
        e, g = f(full)
        return e, g[idx].copy()

    return h


# ----------------------------------------------------------------- spectra
def _hvp(f: EnergyGradient, x: np.ndarray, v: np.ndarray, eps: float) -> np.ndarray:
    nv = float(np.linalg.norm(v))
    if nv == 0.0:
        return np.zeros_like(x)
    h = eps * (1.0 + float(np.linalg.norm(x))) / nv
    return (f(x + h * v)[1] - f(x - h * v)[1]) / (2.0 * h)


def hessian_spectrum(f: EnergyGradient, x: np.ndarray, *, full_max: int = 200, k: int = 6,
                     eps: float = 1e-5) -> np.ndarray:
    """Hessian eigenvalues at ``x``: all of them for small ``P``, the lowest ``k`` beyond.

    Parameters
    ----------
    f : callable
        ``f(x) -> (E, g)``.
    x : array_like, shape (P,)
        Point (parameter units).
    full_max : int
        Largest ``P`` for the full finite-difference Hessian (>= 1).
    k : int
        Eigenvalues computed by Lanczos when ``P > full_max`` (``1 <= k < P``).
    eps : float
        Difference step (absolute for the full Hessian, relative
        ``eps (1 + ||x||)`` for Hessian-vector products).

    Returns
    -------
    numpy.ndarray
        Ascending eigenvalues (loss units per parameter unit squared), shape
        ``(P,)`` or ``(k,)``.
    """
    from ..rates.saddles import hessian_fd

    xv = np.array(x, dtype=np.float64).ravel()
    if xv.size < 1 or not np.all(np.isfinite(xv)):
        raise ValueError("x must be a non-empty finite vector")
    full_max = check_int("full_max", full_max, lo=1, hi=None)
    eps = check_positive("eps", eps)
    P = xv.size
    if P <= full_max:
        h = hessian_fd(f, xv, eps)
        return np.linalg.eigvalsh(0.5 * (h + h.T))
    k = check_int("k", k, lo=1, hi=P - 1)
    from scipy.sparse.linalg import LinearOperator, eigsh

    op = LinearOperator((P, P), matvec=lambda v: _hvp(f, xv, np.ravel(v), eps), dtype=np.float64)
    v0 = np.cos(np.arange(P) * 0.7 + 0.3)  # deterministic start vector
    w = eigsh(op, k=k, which="SA", v0=v0, tol=1e-8, return_eigenvectors=False)
    return np.sort(w)


def saddle_index(eigenvalues: np.ndarray, *, zero_tol: float = 1e-6) -> int:
    """Number of negative Hessian eigenvalues, ignoring those within ``zero_tol * max|λ|`` of 0.

    Parameters
    ----------
    eigenvalues : array_like
        Hessian eigenvalues.
    zero_tol : float
        Relative threshold (>= 0).

    Returns
    -------
    int
        0 at a minimum, 1 at a transition state.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    if lam.size == 0:
        raise ValueError("eigenvalues must be non-empty")
    zero_tol = check_nonnegative("zero_tol", zero_tol)
    return int(np.sum(lam < -zero_tol * float(np.max(np.abs(lam)))))


# ----------------------------------------------------------------- minima
@dataclass(frozen=True)
class NetworkMinima:
    """Result of :func:`network_minima` (one row per start).

    Attributes
    ----------
    theta : numpy.ndarray, shape (n, P)
        Polished points.
    energy : numpy.ndarray, shape (n,)
        Exact energies ``U`` (loss units).
    gradient_norm : numpy.ndarray, shape (n,)
        ``|grad U|`` there.
    lowest_eigenvalue : numpy.ndarray, shape (n,)
        Lowest Hessian eigenvalue (:func:`hessian_spectrum`).
    is_minimum : numpy.ndarray of bool, shape (n,)
        Converged (``|grad U| <= gtol`` in max-norm) and lowest eigenvalue
        ``> zero_tol * max|λ|``.
    starts : numpy.ndarray, shape (n, P)
        The seeded starting points.
    step_size : float
        Gradient-descent step used (energy units, 0 without descent).
    """

    theta: np.ndarray
    energy: np.ndarray
    gradient_norm: np.ndarray
    lowest_eigenvalue: np.ndarray
    is_minimum: np.ndarray
    starts: np.ndarray
    step_size: float


def _starts(net: MLP, n: int, seed: int, gain: float, bias_scale: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros((n, net.n_params))
    for i in range(n):
        for ws, (_, si), bs in net.layout():
            out[i, ws] = rng.standard_normal(ws.stop - ws.start) * (gain / np.sqrt(si))
            out[i, bs] = rng.standard_normal(bs.stop - bs.start) * bias_scale
    return out


def network_minima(landscape: DataLandscape, net: MLP, n_starts: int, *,
                   seed: int | None = None, init_gain: float = 1.0, bias_scale: float = 0.1,
                   descent_steps: int = 200, step_size: float | None = None,
                   gtol: float = 1e-6, max_iter: int = 20000, full_max: int = 200,
                   zero_tol: float = 1e-8, threads: int | None = None) -> NetworkMinima:
    """Local minima of the full-batch loss from ``n_starts`` seeded starts.

    Each start draws weights ``W_l ~ N(0, init_gain^2 / s_l)`` and biases
    ``b_l ~ N(0, bias_scale^2)``.  All starts then take ``descent_steps`` steps
    of gradient descent as parallel chains (method ``"sgd"`` of
    :func:`~langevin_opt.sgmcmc.run_chains`; full batch when the landscape's
    ``batch_size`` equals ``n_data``, else minibatch SGD from the same seed),
    and each is polished by L-BFGS (:func:`~langevin_opt.rates.saddles.minimize`)
    on the exact energy.

    Parameters
    ----------
    landscape : DataLandscape
        The loss of ``net`` (:func:`~langevin_opt.nn.mlp_landscape`), best with a
        weak prior so that minima are isolated.
    net : MLP
        The network (layer sizes for the starts).
    n_starts : int
        Number of starts (>= 1).
    seed : int
        Seeds the starts and the minibatches (keyword only, required).
    init_gain, bias_scale : float
        Scales of the starting weights (> 0) and biases (>= 0).
    descent_steps : int
        Gradient-descent steps before polishing (>= 0).
    step_size : float, optional
        Descent step ``eta`` (energy units); default ``1 / λ_max``, the largest
        Hessian eigenvalue over the starts (Lanczos, 20 steps), halved until
        the descent does not diverge.
    gtol : float
        L-BFGS tolerance on the largest gradient component (loss per parameter unit).
    max_iter : int
        L-BFGS iteration limit.
    full_max : int
        Full Hessians up to this ``P``, Lanczos beyond (:func:`hessian_spectrum`).
    zero_tol : float
        Relative threshold of :func:`saddle_index` for a positive definite Hessian.
    threads : int, optional
        Numba threads of the descent (results do not depend on it).

    Returns
    -------
    NetworkMinima
    """
    from ..core.errors import DivergenceError
    from ..rates.saddles import minimize
    from ..sgmcmc.run import run_chains
    from .flatness import top_eigenvalues

    ls = _check_landscape(landscape)
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an MLP, got {type(net).__name__}")
    if net.n_params != ls.n_params:
        raise ValueError(f"net has {net.n_params} parameters but the landscape "
                         f"{ls.n_params}; pass the network the landscape was built from")
    n = check_int("n_starts", n_starts, lo=1, hi=None)
    s = check_seed(seed)
    gain = check_positive("init_gain", init_gain)
    bscale = check_nonnegative("bias_scale", bias_scale)
    steps = check_int("descent_steps", descent_steps, lo=0, hi=None)
    gtol = check_positive("gtol", gtol)
    max_iter = check_int("max_iter", max_iter, lo=1, hi=None)
    full_max = check_int("full_max", full_max, lo=1, hi=None)
    zero_tol = check_nonnegative("zero_tol", zero_tol)
    starts = _starts(net, n, s, gain, bscale)
    theta = starts.copy()
    eta = 0.0
    if steps > 0:
        if step_size is None:
            lam = max(float(top_eigenvalues(ls, x, k=1, n_iter=min(20, net.n_params), seed=s)[0])
                      for x in starts)
            eta = 1.0 / max(lam, 1e-12)
            halvings = 30
        else:
            eta = check_positive("step_size", step_size)
            halvings = 0
        for attempt in range(halvings + 1):
            try:
                res = run_chains(ls, "sgd", starts, steps, seed=s, burn_in=steps - 1,
                                 threads=threads, step_size=eta)
                theta = np.array(res.theta)
                if np.all(np.isfinite(res.energy)):
                    break
            except DivergenceError:
                if attempt == halvings:
                    raise
            eta *= 0.5
    f = energy_function(ls)
    out = np.empty_like(theta)
    energy = np.empty(n)
    gnorm = np.empty(n)
    low = np.empty(n)
    ismin = np.zeros(n, dtype=bool)
    with _serial_blas():
        for i in range(n):
            r = minimize(f, theta[i], gtol=gtol, max_iter=max_iter)
            e, g = f(r.x)
            out[i], energy[i], gnorm[i] = r.x, e, float(np.linalg.norm(g))
            lam = hessian_spectrum(f, r.x, full_max=full_max, k=1)
            low[i] = lam[0]
            scale = float(np.max(np.abs(lam)))
            conv = float(np.max(np.abs(g))) <= 10 * gtol
            ismin[i] = conv and lam[0] > zero_tol * scale
    return NetworkMinima(out, energy, gnorm, low, ismin, starts, float(eta))


# ----------------------------------------------------------------- paths
@dataclass(frozen=True)
class PathResult:
    """Result of :func:`minimum_energy_path`.

    Attributes
    ----------
    images : numpy.ndarray, shape (m, P)
        The final band, end points included.
    energies : numpy.ndarray, shape (m,)
        Energies of the images (loss units).
    arc_length : numpy.ndarray, shape (m,)
        Cumulative Euclidean distance along the band (parameter units).
    n_inserted : int
        Images inserted by the AutoNEB rounds.
    neb : NEBResult
        The last CI-NEB run.
    dimer : DimerResult or None
        The dimer refinement (``None`` when ``refine=False``).
    saddle : numpy.ndarray, shape (P,)
        The saddle: the dimer's point when it converged near the climbing
        image, else the climbing image.
    saddle_energy : float
    saddle_gradient_norm : float
    refined : bool
        Whether ``saddle`` is the dimer's point.
    barrier_forward, barrier_backward : float
        ``U(saddle) - U(a)`` and ``U(saddle) - U(b)``.
    straight_s : numpy.ndarray, shape (n_straight,)
        Fractions ``s`` of the straight line ``(1 - s) a + s b``.
    straight_energies : numpy.ndarray, shape (n_straight,)
        The loss along it.
    straight_barrier : float
        ``max U(straight line) - U(a)``.
    spectrum_a, spectrum_b, spectrum_saddle : numpy.ndarray
        Hessian eigenvalues, ascending (:func:`hessian_spectrum`).
    full_hessian : bool
        Whether the spectra are complete (``P <= full_max``) or Lanczos' lowest ``k``.
    index_a, index_b, index_saddle : int
        Negative eigenvalues (:func:`saddle_index`).
    ok : bool
        NEB converged, both ends minima (index 0), the saddle of index 1.
    """

    images: np.ndarray
    energies: np.ndarray
    arc_length: np.ndarray
    n_inserted: int
    neb: NEBResult
    dimer: DimerResult | None
    saddle: np.ndarray
    saddle_energy: float
    saddle_gradient_norm: float
    refined: bool
    barrier_forward: float
    barrier_backward: float
    straight_s: np.ndarray
    straight_energies: np.ndarray
    straight_barrier: float
    spectrum_a: np.ndarray
    spectrum_b: np.ndarray
    spectrum_saddle: np.ndarray
    full_hessian: bool
    index_a: int
    index_b: int
    index_saddle: int
    ok: bool


def _poorly_resolved(f: EnergyGradient, imgs: np.ndarray, es: np.ndarray, tol: float,
                     probes: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Segments whose straight interpolation rises above both images by more than ``tol``."""
    out = []
    for i in range(imgs.shape[0] - 1):
        best, where = -np.inf, None
        for t in probes:
            x = (1.0 - t) * imgs[i] + t * imgs[i + 1]
            e = f(x)[0]
            if e > best:
                best, where = e, x
        if best - max(es[i], es[i + 1]) > tol:
            out.append((i, where))
    return out


def minimum_energy_path(f: EnergyGradient, x_a: np.ndarray, x_b: np.ndarray, *,
                        n_images: int = 9, max_images: int = 33, insert_tol: float = 0.05,
                        max_rounds: int = 4, fmax: float = 1e-3, max_iter: int = 20000,
                        spring: float | None = None, refine: bool = True,
                        n_straight: int = 101, full_max: int = 200, k: int = 6,
                        zero_tol: float = 1e-6, eps: float = 1e-5) -> PathResult:
    """CI-NEB with AutoNEB-style image insertion, dimer refinement and Hessian spectra.

    Parameters
    ----------
    f : callable
        ``f(x) -> (E, g)`` on flat vectors (e.g. :func:`energy_function`).
    x_a, x_b : array_like, shape (P,)
        End points, normally minima (held fixed).
    n_images : int
        Images of the first band, end points included (>= 3).
    max_images : int
        Most images after insertions (>= ``n_images``).
    insert_tol : float
        A segment is poorly resolved when the loss on the straight segment
        between its two images (probed at ``1/4, 1/2, 3/4``) exceeds both
        image energies by more than ``insert_tol`` times the band's barrier
        ``max(E) - min(E_a, E_b)`` (>= 0).
    max_rounds : int
        Most insertion rounds (>= 0).
    fmax : float
        NEB and dimer force tolerance (loss per parameter unit).
    max_iter : int
        FIRE iterations per NEB run and for the dimer.
    spring : float, optional
        NEB spring constant (default: :func:`~langevin_opt.rates.saddles.neb`'s).
    refine : bool
        Refine the climbing image by the dimer method.
    n_straight : int
        Points on the straight line (>= 2).
    full_max, k : int
        Spectra (:func:`hessian_spectrum`).
    zero_tol : float
        Threshold of :func:`saddle_index`.
    eps : float
        Difference step of the spectra.

    Returns
    -------
    PathResult
    """
    with _serial_blas():
        return _mep(f, x_a, x_b, n_images, max_images, insert_tol, max_rounds, fmax, max_iter,
                    spring, refine, n_straight, full_max, k, zero_tol, eps)


def _mep(f, x_a, x_b, n_images, max_images, insert_tol, max_rounds, fmax, max_iter,
         spring, refine, n_straight, full_max, k, zero_tol, eps) -> PathResult:
    """Body of :func:`minimum_energy_path` (arguments as there)."""
    from ..rates.saddles import dimer, neb

    a = np.array(x_a, dtype=np.float64).ravel()
    b = np.array(x_b, dtype=np.float64).ravel()
    if a.shape != b.shape or a.size < 1:
        raise ValueError(f"x_a and x_b must be vectors of one length, got {np.shape(x_a)} "
                         f"and {np.shape(x_b)}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("x_a and x_b must be finite")
    n_images = check_int("n_images", n_images, lo=3, hi=None)
    max_images = check_int("max_images", max_images, lo=n_images, hi=None)
    insert_tol = check_nonnegative("insert_tol", insert_tol)
    max_rounds = check_int("max_rounds", max_rounds, lo=0, hi=None)
    fmax = check_positive("fmax", fmax)
    max_iter = check_int("max_iter", max_iter, lo=1, hi=None)
    n_straight = check_int("n_straight", n_straight, lo=2, hi=None)
    probes = np.array([0.25, 0.5, 0.75])
    band = None
    m = n_images
    inserted = 0
    for rnd in range(max_rounds + 1):
        res = neb(f, a, b, n_images=m, path=band, fmax=fmax, max_iter=max_iter, spring=spring)
        if rnd == max_rounds or m >= max_images:
            break
        es = res.energies
        tol = insert_tol * max(float(es.max() - min(es[0], es[-1])), 1e-300)
        bad = _poorly_resolved(f, res.images, es, tol, probes)[: max_images - m]
        if not bad:
            break
        rows = list(res.images)
        for i, x in sorted(bad, key=lambda t: -t[0]):  # insert from the end: indices stay valid
            rows.insert(i + 1, x)
        band = np.array(rows)
        m = band.shape[0]
        inserted += len(bad)
    imgs, es = res.images, res.energies
    ci = int(np.argmax(es))
    saddle, e_s, g_s = res.saddle, res.saddle_energy, res.gradient_norm
    dm = None
    refined = False
    if refine and 0 < ci < imgs.shape[0] - 1:
        tangent = imgs[ci + 1] - imgs[ci - 1]
        dm = dimer(f, saddle, direction=tangent, fmax=min(fmax, max(g_s, 1e-12)),
                   max_iter=max_iter, max_step=0.02 * max(1.0, float(np.linalg.norm(tangent))))
        near = float(np.linalg.norm(dm.x - saddle)) <= float(np.linalg.norm(tangent))
        if dm.converged and dm.curvature < 0 and near:
            saddle, e_s, g_s, refined = dm.x.copy(), dm.energy, dm.gradient_norm, True
    e_a, e_b = float(es[0]), float(es[-1])
    s = np.linspace(0.0, 1.0, n_straight)
    straight = np.array([f((1.0 - t) * a + t * b)[0] for t in s])
    spec = [hessian_spectrum(f, x, full_max=full_max, k=k, eps=eps) for x in (a, b, saddle)]
    idx = [saddle_index(w, zero_tol=zero_tol) for w in spec]
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(imgs, axis=0), axis=1))])
    ok = bool(res.converged and idx[0] == 0 and idx[1] == 0 and idx[2] == 1)
    return PathResult(imgs, es, arc, inserted, res, dm, np.array(saddle), float(e_s), float(g_s),
                      refined, float(e_s - e_a), float(e_s - e_b), s, straight,
                      float(straight.max() - e_a), spec[0], spec[1], spec[2],
                      bool(a.size <= full_max), idx[0], idx[1], idx[2], ok)


@dataclass(frozen=True)
class Connection:
    """Result of :func:`connect`.

    Attributes
    ----------
    theta_a : numpy.ndarray, shape (P,)
        The first minimum (polished).
    theta_b : numpy.ndarray, shape (P,)
        The second minimum, aligned to the first and polished.
    alignment : Alignment or None
        How ``theta_b`` was aligned (``None`` with ``align=False``).
    path : PathResult
        The path from ``theta_a`` to ``theta_b``.
    """

    theta_a: np.ndarray
    theta_b: np.ndarray
    alignment: Alignment | None
    path: PathResult


def connect(landscape: DataLandscape, net: MLP, theta_a: np.ndarray, theta_b: np.ndarray, *,
            align_units: bool = True, flips: bool | None = None, polish: bool = True,
            gtol: float = 1e-8, **path_options: object) -> Connection:
    """Minimum-energy path and saddle between two minima of a network's loss.

    ``theta_b`` is first aligned to ``theta_a`` by hidden-unit permutations (and
    sign flips; :func:`~langevin_opt.nn.symmetry.align`), so the path joins
    the two closest copies of the minima; both are polished by L-BFGS, then
    :func:`minimum_energy_path` runs between them.

    Parameters
    ----------
    landscape : DataLandscape
        The loss of ``net``.
    net : MLP
    theta_a, theta_b : array_like, shape (P,)
        The minima (e.g. rows of :attr:`NetworkMinima.theta`).
    align_units : bool
        Align ``theta_b`` first (default).
    flips : bool, optional
        Sign flips in the alignment (:func:`~langevin_opt.nn.symmetry.align`).
    polish : bool
        Polish both ends by L-BFGS to ``gtol`` (max-norm of the gradient).
    gtol : float
        Polishing tolerance.
    **path_options
        Keywords of :func:`minimum_energy_path`.

    Returns
    -------
    Connection
    """
    from ..rates.saddles import minimize

    ls = _check_landscape(landscape)
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an MLP, got {type(net).__name__}")
    if net.n_params != ls.n_params:
        raise ValueError(f"net has {net.n_params} parameters but the landscape {ls.n_params}")
    a = np.array(theta_a, dtype=np.float64)
    b = np.array(theta_b, dtype=np.float64)
    al = None
    if align_units:
        al = align(a, b, net, flips=flips)
        b = al.theta.copy()
    elif a.shape != (net.n_params,) or b.shape != (net.n_params,):
        raise ValueError(f"theta_a and theta_b must have shape ({net.n_params},)")
    f = energy_function(ls)
    if polish:
        gtol = check_positive("gtol", gtol)
        with _serial_blas():
            a = minimize(f, a, gtol=gtol).x
            b = minimize(f, b, gtol=gtol).x
    if np.array_equal(a, b):
        raise ValueError("theta_a and theta_b are the same minimum (after alignment); "
                         "there is no path to find")
    path = minimum_energy_path(f, a, b, **path_options)  # type: ignore[arg-type]
    return Connection(a, b, al, path)


# ----------------------------------------------------------------- escape saddles
@dataclass(frozen=True)
class EscapeSaddles:
    """Result of :func:`escape_saddles`: the distinct saddles walkers left a minimum over.

    Attributes
    ----------
    start : numpy.ndarray, shape (P,)
        The start minimum (polished).
    products : numpy.ndarray, shape (n, P)
        The distinct product minima in parameter space (one row per group; the
        first member of the group, polished).
    labels : numpy.ndarray of int, shape (M,)
        Group of every input product row (``-1`` for a row of NaN: a censored walker).
    counts : numpy.ndarray of int, shape (n,)
        Input rows (walkers) per product.
    paths : tuple of PathResult, length n
        The path from ``start`` to each product, the product *not* re-aligned.
    n_maxima : numpy.ndarray of int, shape (n,)
        Interior maxima of each band's energy profile (more than one: the
        product was reached through an intermediate minimum).
    retried : numpy.ndarray of bool, shape (n,)
        The first band did not converge and a plain CI-NEB with ``2 n_images - 1``
        images was run; ``paths`` holds the one of the two with the lower top.
    path_saddle : numpy.ndarray of int, shape (n,)
        Index into ``saddles`` of each path's saddle, ``-1`` where the path is
        excluded (not ``ok``, or more than one maximum).
    saddles : numpy.ndarray, shape (s, P)
        The distinct saddles (Euclidean distance above ``saddle_tol``).
    saddle_energy : numpy.ndarray, shape (s,)
        ``U`` at each saddle (loss units).
    barrier : numpy.ndarray, shape (s,)
        ``U(saddle) - U(start)`` (loss units).
    saddle_path : numpy.ndarray of int, shape (s,)
        The path (index into ``paths``) that represents each saddle.
    saddle_walkers : numpy.ndarray of int, shape (s,)
        Walkers whose product's path crossed each saddle.
    n_excluded : int
        Paths excluded from ``saddles``.
    """

    start: np.ndarray
    products: np.ndarray
    labels: np.ndarray
    counts: np.ndarray
    paths: tuple[PathResult, ...]
    n_maxima: np.ndarray
    retried: np.ndarray
    path_saddle: np.ndarray
    saddles: np.ndarray
    saddle_energy: np.ndarray
    barrier: np.ndarray
    saddle_path: np.ndarray
    saddle_walkers: np.ndarray
    n_excluded: int


def count_maxima(energies: np.ndarray, *, rel_tol: float = 1e-9) -> int:
    """Interior local maxima of an energy profile along a band.

    Differences within ``rel_tol`` times the profile's range count as flat
    (a plateau is one maximum at most).

    Parameters
    ----------
    energies : array_like, shape (m,)
        Energies of the images, end points included (``m >= 2``).
    rel_tol : float
        Relative flatness threshold (>= 0).

    Returns
    -------
    int
        Number of rises followed by falls: 1 for a single barrier, 2 or more
        when the band passes through intermediate minima.
    """
    e = np.asarray(energies, dtype=np.float64).ravel()
    if e.size < 2 or not np.all(np.isfinite(e)):
        raise ValueError("energies must be a finite profile of at least two values")
    rel_tol = check_nonnegative("rel_tol", rel_tol)
    d = np.diff(e)
    d = d[np.abs(d) > rel_tol * max(float(np.ptp(e)), 1e-300)]
    s = np.sign(d)
    return int(np.sum((s[:-1] > 0) & (s[1:] < 0)))


def escape_saddles(landscape: DataLandscape | EnergyGradient, theta_start: np.ndarray,
                   products: np.ndarray, *, tol: float = 1e-3, saddle_tol: float = 1e-2,
                   polish: bool = True, gtol: float = 1e-8,
                   **path_options: object) -> EscapeSaddles:
    """The distinct saddles out of a minimum, from the product minima walkers reached.

    The products (e.g. :attr:`~langevin_opt.nn.escape.NetworkFirstPassage.product`,
    raw parameter vectors, *not* aligned) are grouped into distinct minima by plain
    Euclidean distance (``< tol``; symmetry images of one minimum are distinct
    points of parameter space and stay apart).  From the start to each group's
    minimum, :func:`minimum_energy_path` runs without any alignment, so each path
    ends at that exact image and its saddle is adjacent to the start itself.
    Paths that are not ``ok`` (unconverged, an end not a minimum, a saddle not of
    index 1) or whose band has more than one maximum (the product was reached
    through an intermediate minimum; the climbing image is then the highest of
    several saddles) are reported but excluded.  A band that does not converge
    (between far-apart images the first band, spring and image insertion can
    blow it up far from the minimum-energy path) is run again as a plain CI-NEB
    with ``2 n_images - 1`` images (``max_rounds = 0``), and the path with the
    lower top is kept.  The saddles of the remaining
    paths are deduplicated (Euclidean distance ``< saddle_tol``): each one left
    is a separate channel out of the start, and
    :func:`~langevin_opt.nn.escape.eyring_kramers_rate` sums their rates.
    Symmetry images of one saddle that are all adjacent to the start (a start
    with a non-trivial stabiliser) are different points and all count.

    Parameters
    ----------
    landscape : DataLandscape or callable
        The loss (:func:`energy_function` is applied), or any ``f(x) -> (E, g)``.
    theta_start : array_like, shape (P,)
        The start minimum.
    products : array_like, shape (M, P)
        Product minima, one row per walker; rows of NaN (censored walkers) are
        skipped.  At least one finite row.
    tol : float
        Grouping distance of products (parameter units, > 0).
    saddle_tol : float
        Distance within which two saddles are one (parameter units, > 0).
    polish : bool
        Polish the start and each product by L-BFGS to ``gtol`` first.
    gtol : float
        Polishing tolerance (max-norm of the gradient, > 0).
    **path_options
        Keywords of :func:`minimum_energy_path`.

    Returns
    -------
    EscapeSaddles
    """
    from ..rates.saddles import minimize

    if callable(landscape) and not hasattr(landscape, "full_energy_grad"):
        f = landscape
    else:
        f = energy_function(landscape)  # type: ignore[arg-type]
    x0 = np.array(theta_start, dtype=np.float64)
    if x0.ndim != 1 or x0.size < 1 or not np.all(np.isfinite(x0)):
        raise ValueError(f"theta_start must be a finite vector, got shape {np.shape(theta_start)}")
    P = x0.size
    prod = np.array(products, dtype=np.float64)
    if prod.ndim == 1:
        prod = prod[None]
    if prod.ndim != 2 or prod.shape[1] != P:
        raise ValueError(f"products must have shape (M, {P}), got {np.shape(products)}")
    tol = check_positive("tol", tol)
    saddle_tol = check_positive("saddle_tol", saddle_tol)
    gtol = check_positive("gtol", gtol)
    nan_row = np.all(np.isnan(prod), axis=1)
    if np.any(~np.isfinite(prod[~nan_row])):
        raise ValueError("products must be finite rows or rows of NaN (censored walkers)")
    if np.all(nan_row):
        raise ValueError("products has no finite row: no walker escaped")
    labels = np.full(prod.shape[0], -1, dtype=np.int64)
    reps: list[np.ndarray] = []
    for i in np.flatnonzero(~nan_row):
        d = [float(np.linalg.norm(prod[i] - r)) for r in reps]
        if d and min(d) < tol:
            labels[i] = int(np.argmin(d))
        else:
            labels[i] = len(reps)
            reps.append(prod[i])
    counts = np.bincount(labels[labels >= 0], minlength=len(reps)).astype(np.int64)
    if polish:
        with _serial_blas():
            x0 = minimize(f, x0, gtol=gtol).x
            reps = [minimize(f, r, gtol=gtol).x for r in reps]
    for r in reps:
        if float(np.linalg.norm(r - x0)) < tol:
            raise ValueError("products contains the start minimum itself (a distance below "
                             "tol); pass the minima the walkers escaped to")
    paths_l: list[PathResult] = []
    retried = np.zeros(len(reps), dtype=bool)
    n_img = int(path_options.get("n_images", 9))  # type: ignore[call-overload]
    for j, r in enumerate(reps):
        p = minimum_energy_path(f, x0, r, **path_options)  # type: ignore[arg-type]
        if not p.neb.converged:
            retried[j] = True
            opts = {**path_options, "n_images": 2 * n_img - 1, "max_rounds": 0,
                    "max_images": max(2 * n_img - 1,
                                      int(path_options.get("max_images", 33)))}  # type: ignore[call-overload]
            q = minimum_energy_path(f, x0, r, **opts)  # type: ignore[arg-type]
            if q.saddle_energy < p.saddle_energy:
                p = q
        paths_l.append(p)
    paths = tuple(paths_l)
    n_max = np.array([count_maxima(p.energies) for p in paths], dtype=np.int64)
    path_saddle = np.full(len(paths), -1, dtype=np.int64)
    sad: list[np.ndarray] = []
    sad_path: list[int] = []
    walkers: list[int] = []
    for j, p in enumerate(paths):
        if not (p.ok and n_max[j] == 1):
            continue
        d = [float(np.linalg.norm(p.saddle - s)) for s in sad]
        if d and min(d) < saddle_tol:
            k = int(np.argmin(d))
            walkers[k] += int(counts[j])
        else:
            k = len(sad)
            sad.append(p.saddle)
            sad_path.append(j)
            walkers.append(int(counts[j]))
        path_saddle[j] = k
    e0 = f(x0)[0]
    s_e = np.array([paths[j].saddle_energy for j in sad_path], dtype=np.float64)
    return EscapeSaddles(x0, np.array(reps), labels, counts, paths, n_max, retried, path_saddle,
                         np.array(sad).reshape(len(sad), P), s_e, s_e - e0,
                         np.array(sad_path, dtype=np.int64), np.array(walkers, dtype=np.int64),
                         int(np.sum(path_saddle < 0)))
