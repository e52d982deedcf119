"""Flatness of a data landscape at a point: curvature, basin width, local entropy.

All functions take any :class:`~langevin_opt.datalandscape.DataLandscape`
(not only MLPs) and a parameter vector ``theta`` (shape ``(P,)``), and work
on the *exact* energy ``U`` (``full_energy_grad``: summed loss + prior, the
energy units of :mod:`langevin_opt.nn.landscape`; divide by ``N`` for
mean-loss units).

Hessian-vector products
-----------------------
:func:`hessian_vector_product` uses **central differences of the analytic
full-batch gradient**, ``H v ≈ (∇U(θ + h v) − ∇U(θ − h v)) / (2h)`` with
``h = eps (1 + ||θ||) / ||v||`` (default ``eps = 1e-5``): truncation error
``O(h²)`` (zero for a quadratic ``U``), round-off ``O(ε_mach |∇U| / h)``;
two gradient evaluations per product.  (Not an exact R-operator: the
compiled kernels provide first derivatives only.)  Non-smooth activations
(ReLU) make it a difference quotient across kinks.

Measures
--------
* :func:`hessian_trace`: Hutchinson's estimator ``tr H = E[z^T H z]`` with
  Rademacher ``z``; returns the mean and its standard error.
* :func:`top_eigenvalues`: Lanczos iteration on Hessian-vector products with
  full reorthogonalisation; ``n_iter >= P`` gives all eigenvalues exactly (up
  to the finite-difference error).
* :func:`local_entropy`: Entropy-SGD's estimate (Chaudhari et al., ICLR 2017):
  overdamped Langevin dynamics of a copy ``θ'`` in
  ``U(θ') + (γ/2) ||θ' − θ||²`` at temperature ``T`` gives
  ``μ = <θ'>``, the gradient ``γ (θ − μ) = ∇_θ [−T F_γ(θ)]`` of the
  *local energy* (``F_γ(θ) = log ∫ exp(−[U(θ') + γ/2 ||θ − θ'||²]/T) dθ'``
  is the local entropy), its ``γ``-derivative
  ``∂F_γ/∂γ = −<||θ' − θ||²> / (2T)`` and the energy excess
  ``<U(θ')> − U(θ)``.  Flat (wide) minima have larger ``<||θ' − θ||²>``
  and smaller energy excess at the same ``γ``.
* :func:`basin_width`: along random unit directions ``d``, the distance
  ``r`` at which ``U(θ + r d) − U(θ)`` first reaches ``threshold`` (found on
  a doubling grid, then refined by bisection).  For a quadratic
  ``U = U_0 + ½ δᵀ A δ`` at its minimum, ``r = sqrt(2 threshold / dᵀ A d)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.errors import DivergenceError
from ..core.validation import check_int, check_positive, check_seed
from ..datalandscape import DataLandscape

__all__ = [
    "LocalEntropy",
    "basin_width",
    "hessian_trace",
    "hessian_vector_product",
    "local_entropy",
    "top_eigenvalues",
]


class _Energy:
    """Exact energy/gradient of a landscape with its own scratch (one chain)."""

    def __init__(self, landscape: DataLandscape) -> None:
        if not all(hasattr(landscape, a) for a in ("full_energy_grad", "data", "make_work")):
            raise ValueError(f"landscape must be a DataLandscape, got {type(landscape).__name__}")
        self.ls = landscape
        fw, iw = landscape.make_work(1)
        self.fw, self.iw = fw[0], iw[0]
        self.P = landscape.n_params

    def check(self, theta, name="theta") -> np.ndarray:
        th = np.ascontiguousarray(theta, dtype=np.float64)
        if th.shape != (self.P,):
            raise ValueError(f"{name} must have shape ({self.P},), got {np.shape(theta)}")
        if not np.all(np.isfinite(th)):
            raise ValueError(f"{name} must be finite")
        return th

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        g = np.empty(self.P)
        u = self.ls.full_energy_grad(theta, self.ls.data, self.fw, self.iw, g)
        return float(u), g

    def hvp(self, theta: np.ndarray, v: np.ndarray, eps: float) -> np.ndarray:
        nv = float(np.linalg.norm(v))
        if nv == 0.0:
            return np.zeros(self.P)
        h = eps * (1.0 + float(np.linalg.norm(theta))) / nv
        _, gp = self(theta + h * v)
        _, gm = self(theta - h * v)
        return (gp - gm) / (2.0 * h)


def hessian_vector_product(landscape: DataLandscape, theta: np.ndarray, v: np.ndarray, *,
                           eps: float = 1e-5) -> np.ndarray:
    """``H(θ) v`` by central differences of the exact gradient (module docstring).

    Parameters
    ----------
    landscape : DataLandscape
    theta : numpy.ndarray, shape (P,)
    v : numpy.ndarray, shape (P,)
    eps : float
        Relative step: ``h = eps (1 + ||θ||) / ||v||``.

    Returns
    -------
    numpy.ndarray, shape (P,)
        ``H v`` in energy units per parameter unit squared (times ``v``).
    """
    e = _Energy(landscape)
    return e.hvp(e.check(theta), e.check(v, "v"), check_positive("eps", eps))


def hessian_trace(landscape: DataLandscape, theta: np.ndarray, *, n_samples: int = 100,
                  seed: int | None = None, eps: float = 1e-5) -> tuple[float, float]:
    """Hutchinson estimate of ``tr H(θ)`` with Rademacher probe vectors.

    Parameters
    ----------
    landscape : DataLandscape
    theta : numpy.ndarray, shape (P,)
    n_samples : int
        Probe vectors (``2 n_samples`` gradient evaluations).
    seed : int
        Seed of ``numpy.random.default_rng`` (the probes); keyword only, required.
    eps : float
        Finite-difference step (see :func:`hessian_vector_product`).

    Returns
    -------
    (float, float)
        The estimate and its standard error (``std / sqrt(n_samples)``; 0 for
        one sample).
    """
    e = _Energy(landscape)
    th = e.check(theta)
    n = check_int("n_samples", n_samples, lo=1, hi=None)
    eps = check_positive("eps", eps)
    rng = np.random.default_rng(check_seed(seed))
    vals = np.empty(n)
    for i in range(n):
        z = rng.choice(np.array([-1.0, 1.0]), size=e.P)
        vals[i] = z @ e.hvp(th, z, eps)
    se = float(vals.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    return float(vals.mean()), se


def top_eigenvalues(landscape: DataLandscape, theta: np.ndarray, k: int = 1, *,
                    n_iter: int | None = None, seed: int | None = None, eps: float = 1e-5,
                    return_vectors: bool = False
                    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Largest ``k`` Hessian eigenvalues by Lanczos iteration (full reorthogonalisation).

    Parameters
    ----------
    landscape : DataLandscape
    theta : numpy.ndarray, shape (P,)
    k : int
        Number of eigenvalues, ``1 <= k <= P``.
    n_iter : int, optional
        Lanczos steps (Krylov dimension), capped at ``P``; default
        ``min(P, max(2k + 20, 40))``.  The iteration stops early when the
        Krylov space becomes invariant.
    seed : int
        Seed of the random start vector (keyword only, required).
    eps : float
        Finite-difference step of the Hessian-vector products.
    return_vectors : bool
        Also return the Ritz vectors.

    Returns
    -------
    numpy.ndarray, shape (k,)
        Ritz values, largest first (fewer than ``k`` if the Krylov space
        closed before ``k`` steps).
    numpy.ndarray, shape (k, P)
        Unit Ritz vectors (only with ``return_vectors``).
    """
    e = _Energy(landscape)
    th = e.check(theta)
    P = e.P
    k = check_int("k", k, lo=1, hi=None)
    if k > P:
        raise ValueError(f"k must be in [1, P={P}], got {k}")
    n_it = max(2 * k + 20, 40) if n_iter is None else check_int("n_iter", n_iter, lo=1, hi=None)
    m = min(P, n_it)
    m = max(m, min(k, P))
    eps = check_positive("eps", eps)
    rng = np.random.default_rng(check_seed(seed))
    q = rng.standard_normal(P)
    q /= np.linalg.norm(q)
    Q = np.zeros((m, P))
    alpha: list[float] = []
    beta: list[float] = []
    scale = 0.0
    for j in range(m):
        Q[j] = q
        w = e.hvp(th, q, eps)
        a = float(w @ q)
        alpha.append(a)
        for _ in range(2):  # full reorthogonalisation, twice is enough
            w -= Q[:j + 1].T @ (Q[:j + 1] @ w)
        b = float(np.linalg.norm(w))
        scale = max(scale, abs(a), b)
        if j == m - 1 or b <= 1e-10 * max(scale, 1e-300):
            break
        beta.append(b)
        q = w / b
    n = len(alpha)
    T = np.diag(alpha) + np.diag(beta[:n - 1], 1) + np.diag(beta[:n - 1], -1)
    vals, vecs = np.linalg.eigh(T)
    order = np.argsort(vals)[::-1][:k]
    if not return_vectors:
        return vals[order]
    ritz = (Q[:n].T @ vecs[:, order]).T
    return vals[order], ritz


def basin_width(landscape: DataLandscape, theta: np.ndarray, *, threshold: float = 1.0,
                n_directions: int = 20, seed: int | None = None, max_radius: float = 1e4,
                rtol: float = 1e-6) -> np.ndarray:
    """Distance to an energy rise of ``threshold`` along random directions.

    Parameters
    ----------
    landscape : DataLandscape
    theta : numpy.ndarray, shape (P,)
        Usually a minimum.
    threshold : float
        Energy rise ``ΔU > 0`` (energy units of ``U``; e.g. ``T`` for the
        thermal width, or ``N * δ`` for a rise ``δ`` of the mean loss).
    n_directions : int
        Number of random unit directions (isotropic Gaussian, normalised).
    seed : int
        Seed of ``numpy.random.default_rng`` (the directions); keyword only, required.
    max_radius : float
        Search limit; a direction along which ``U`` never rises by
        ``threshold`` within it gets ``inf``.
    rtol : float
        Relative precision of the bisection.

    Returns
    -------
    numpy.ndarray, shape (n_directions,)
        Widths ``r_d`` (parameter units), in the order of the directions.
    """
    e = _Energy(landscape)
    th = e.check(theta)
    thr = check_positive("threshold", threshold)
    nd = check_int("n_directions", n_directions, lo=1, hi=None)
    rmax = check_positive("max_radius", max_radius)
    rtol = check_positive("rtol", rtol)
    u0, _ = e(th)
    rng = np.random.default_rng(check_seed(seed))
    out = np.empty(nd)
    for i in range(nd):
        d = rng.standard_normal(e.P)
        d /= np.linalg.norm(d)

        def rise(r, d=d):
            return e(th + r * d)[0] - u0

        lo, hi = 0.0, 1e-6 * (1.0 + float(np.linalg.norm(th)))
        while rise(hi) < thr:
            lo, hi = hi, 2.0 * hi
            if hi > rmax:
                break
        if hi > rmax:
            out[i] = np.inf
            continue
        while hi - lo > rtol * hi:
            mid = 0.5 * (lo + hi)
            if rise(mid) < thr:
                lo = mid
            else:
                hi = mid
        out[i] = 0.5 * (lo + hi)
    return out


@dataclass(frozen=True)
class LocalEntropy:
    """Entropy-SGD estimates at ``theta`` (see :func:`local_entropy`).

    Attributes
    ----------
    gamma, temperature : float
        Coupling ``γ`` and temperature ``T``.
    mean : numpy.ndarray, shape (P,)
        ``μ = <θ'>``.
    grad : numpy.ndarray, shape (P,)
        ``γ (θ − μ)``: gradient of the local energy ``−T F_γ(θ)``.
    msd : float
        ``<||θ' − θ||²>``; ``∂F_γ/∂γ = −msd / (2T)``.
    energy_mean : float
        ``<U(θ')>``.
    energy_excess : float
        ``<U(θ')> − U(θ)``.
    n_samples : int
        Samples averaged (chains x kept steps).
    """

    gamma: float
    temperature: float
    mean: np.ndarray
    grad: np.ndarray
    msd: float
    energy_mean: float
    energy_excess: float
    n_samples: int

    @property
    def dF_dgamma(self) -> float:  # noqa: N802 - mathematical name
        """``∂F_γ/∂γ = −<||θ' − θ||²> / (2T)``."""
        return -self.msd / (2.0 * self.temperature)


_LOCAL: dict = {}


def _local_langevin(fe):
    """The compiled local-entropy chain for ``fe`` (:mod:`._flatness_template`, memoized)."""
    if fe not in _LOCAL:
        from ..core.jitcache import specialize

        _LOCAL[fe] = specialize("langevin_opt.nn._flatness_template", {"fe": fe}).local_langevin
    return _LOCAL[fe]


def local_entropy(landscape: DataLandscape, theta: np.ndarray, gamma: float, *,
                  temperature: float = 1.0, step_size: float, n_steps: int = 1000,
                  burn_in: int | None = None, n_chains: int = 1,
                  seed: int | None = None) -> LocalEntropy:
    """Entropy-SGD's local-entropy estimates by Langevin sampling around ``theta``.

    Runs ``n_chains`` chains of overdamped Langevin dynamics (Euler-Maruyama,
    exact full-batch gradients)
    ``θ' <- θ' − η [∇U(θ') + γ (θ' − θ)] + sqrt(2 η T) ξ`` from ``θ' = θ``,
    keeps the steps from ``burn_in`` on and averages (module docstring).
    The averages carry the ``O(η)`` bias of the discretisation: ``η`` must be
    small against ``1 / (λ_max + γ)``.

    Parameters
    ----------
    landscape : DataLandscape
    theta : numpy.ndarray, shape (P,)
        Centre point.
    gamma : float
        Coupling ``γ > 0`` (energy units per squared parameter unit).
    temperature : float
        ``T > 0`` (energy units, ``k_B = 1``).
    step_size : float
        ``η > 0``.
    n_steps : int
        Steps per chain.
    burn_in : int, optional
        Steps discarded per chain (default ``n_steps // 5``).
    n_chains : int
        Independent chains (streams ``0 .. n_chains - 1`` of the generator).
    seed : int
        Key of the counter-based generator (keyword only, required).

    Returns
    -------
    LocalEntropy

    Raises
    ------
    langevin_opt.core.DivergenceError
        A chain reached a non-finite energy or position (``step_size`` too
        large): ``.step`` is that step, ``.index`` the chain; ``.partial_result``
        is ``None`` (the estimates are averages over all chains: a run that
        diverged has none).
    """
    seed = check_seed(seed)
    e = _Energy(landscape)
    th = e.check(theta)
    gamma = check_positive("gamma", gamma)
    temp = check_positive("temperature", temperature)
    eta = check_positive("step_size", step_size)
    n_steps = check_int("n_steps", n_steps, lo=1, hi=None)
    burn = n_steps // 5 if burn_in is None else check_int("burn_in", burn_in, lo=0, hi=None)
    if burn >= n_steps:
        raise ValueError(f"burn_in must be < n_steps={n_steps}, got {burn}")
    n_chains = check_int("n_chains", n_chains, lo=1, hi=None)
    mu = np.zeros(e.P)
    stats = np.zeros(3)
    g = np.zeros(e.P)
    xp = np.zeros(e.P)
    run = _local_langevin(landscape.full_energy_grad)
    for c in range(n_chains):
        bad = run(th, landscape.data, e.fw, e.iw, g, xp, gamma, temp, eta, n_steps, burn,
                  np.uint64(seed), c, mu, stats)
        if bad >= 0:
            raise DivergenceError(
                f"local_entropy: non-finite energy or position at step {bad} for chain {c} "
                f"(step_size={eta:g}); reduce step_size", bad, c, None)
    cnt = stats[2]
    mu /= cnt
    u0, _ = e(th)
    em = stats[1] / cnt
    return LocalEntropy(gamma, temp, mu, gamma * (th - mu), float(stats[0] / cnt), float(em),
                        float(em - u0), int(cnt))
