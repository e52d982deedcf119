"""Exact probabilities of histogram bins, and the Euler–Maruyama bias of their estimates."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..landscapes import Landscape
from ._common import _box, _check_landscape, _check_temperature
from .hessian import laplacian
from .quadrature import quadrature_grid

__all__ = [
    "BinProbabilities",
    "bin_probabilities",
    "euler_maruyama_density_1d",
    "overdamped_bin_probabilities",
]


@dataclass(frozen=True)
class BinProbabilities:
    """Exact probabilities of histogram bins.

    Attributes
    ----------
    probabilities : numpy.ndarray
        One entry per bin, shape ``(n_1, ..., n_d)`` (dimensionless).
    outside : float
        Probability of the part of the box not covered by the bins.
    error : float
        Largest change of a bin probability in the last grid refinement.
    edges : tuple of numpy.ndarray
        The bin edges (length units).
    """

    probabilities: np.ndarray
    outside: float
    error: float
    edges: tuple

    def categories(self) -> np.ndarray:
        """Flattened bin probabilities followed by ``outside`` (for ``chi_square_test``)."""
        return np.concatenate([self.probabilities.ravel(), [self.outside]])


def _edges(landscape: Landscape, edges: object) -> list[np.ndarray]:
    if landscape.dim == 1:
        if isinstance(edges, (list, tuple)) and len(edges) == 1 \
                and np.ndim(edges[0]) == 1:
            edges = edges[0]
        out = [np.asarray(edges, dtype=np.float64).ravel()]
    else:
        if len(edges) != landscape.dim:  # type: ignore[arg-type]
            raise ValueError(f"edges needs one array per dimension ({landscape.dim})")
        out = [np.asarray(e, dtype=np.float64).ravel() for e in edges]  # type: ignore[union-attr]
    for e in out:
        if e.size < 2 or np.any(np.diff(e) <= 0) or not np.all(np.isfinite(e)):
            raise ValueError("bin edges must be finite and strictly increasing (>= 2 per axis)")
    return out


def _bin_setup(landscape: Landscape, temperature: float, edges: object,
               bounds: object) -> tuple[float, list[np.ndarray], np.ndarray]:
    """Checked temperature, bin edges, and the box: ``bounds`` widened to cover the edges."""
    _check_landscape(landscape)
    t = _check_temperature(temperature)
    ed = _edges(landscape, edges)
    box = _box(landscape, bounds).copy()
    for k, e in enumerate(ed):
        box[k, 0] = min(box[k, 0], e[0])
        box[k, 1] = max(box[k, 1], e[-1])
    return t, ed, box


def bin_probabilities(
    landscape: Landscape,
    temperature: float,
    edges: np.ndarray | Sequence[np.ndarray],
    *,
    bounds: np.ndarray | Sequence | None = None,
    panels: int = 32,
    order: int = 8,
    rtol: float = 1e-9,
    max_panels: int = 512,
) -> BinProbabilities:
    """Exact probabilities ``∫_bin ρ_T dx`` of histogram bins (1-D or 2-D).

    The bin edges are quadrature breakpoints, so every bin integral is a
    smooth-integrand Gauss–Legendre integral; the panel count is doubled until
    no bin probability changes by more than ``rtol``.

    Parameters
    ----------
    landscape : Landscape
        A 1-D or 2-D energy surface.
    temperature : float
        ``T > 0`` (energy units).
    edges : array_like or sequence of array_like
        Bin edges (length units): one array in 1-D, ``(x_edges, y_edges)`` in
        2-D (the ``numpy.histogram2d`` convention).
    bounds : array_like, shape (d, 2), optional
        Normalisation box (default ``landscape.bounds``, widened to cover the
        edges).  Weight outside it is taken as zero.
    panels, order : int
        Starting panels per axis and nodes per panel.
    rtol : float
        Target absolute accuracy of every bin probability.
    max_panels : int
        Largest panel count per axis.

    Returns
    -------
    BinProbabilities
    """
    t, ed, box = _bin_setup(landscape, temperature, edges, bounds)
    p = int(panels)
    prev = None
    while True:
        g = quadrature_grid(landscape, bounds=box, panels=p, order=order, breakpoints=ed,
                            basins=False)
        probs, out = g.bin_masses(t, ed)
        if prev is not None:
            err = float(np.max(np.abs(probs - prev)))
            if err < rtol or 2 * p > max_panels:
                return BinProbabilities(probs, out, err, tuple(ed))
        prev = probs
        p *= 2


def overdamped_bin_probabilities(
    landscape: Landscape,
    temperature: float,
    dt: float,
    edges: np.ndarray | Sequence[np.ndarray],
    *,
    bounds: np.ndarray | Sequence | None = None,
    panels: int = 128,
    order: int = 8,
) -> BinProbabilities:
    """Bin probabilities of the Euler–Maruyama stationary density to first order in ``dt``.

    The scheme ``x ← x - dt ∇U + sqrt(2 T dt) ξ`` samples
    ``ρ_dt = ρ (1 + dt f₁) + O(dt²)`` with (Talay–Tubaro expansion; derived
    from the stationarity condition of the one-step generator
    ``1 + dt L + dt² A₂``)

    ``f₁ = |∇U|²/(4T) - ΔU/2 + <ΔU>/4``,

    which vanishes on average because ``<|∇U|²>/T = <ΔU>``.  For a harmonic
    well of stiffness ``k`` it gives the exact first-order variance
    ``T/k (1 + k dt/2)``.  ``ΔU`` is taken by central differences.

    Parameters
    ----------
    landscape : Landscape
        A 1-D or 2-D energy surface.
    temperature : float
        ``T > 0`` (energy units).
    dt : float
        Time step of the scheme (time units, friction 1).
    edges : array_like or sequence of array_like
        Bin edges, as for :func:`bin_probabilities`.
    bounds : array_like, optional
        Normalisation box (default ``landscape.bounds``).
    panels, order : int
        Panels per axis and nodes per panel.

    Returns
    -------
    BinProbabilities
        With ``error`` = the largest first-order shift ``|q_i - p_i|`` (a
        scale for the neglected ``O(dt²)`` term, which is ``dt`` times smaller).
    """
    t, ed, box = _bin_setup(landscape, temperature, edges, bounds)
    g = quadrature_grid(landscape, bounds=box, panels=panels, order=order, breakpoints=ed,
                        basins=False)
    pts = g.points
    grad = landscape.gradient(pts)
    lap = laplacian(landscape, pts)
    rho = g.density(t).ravel()
    mean_lap = float(np.sum(rho * lap))
    f1 = np.sum(grad**2, axis=1) / (4.0 * t) - 0.5 * lap + 0.25 * mean_lap
    p0, _ = g.bin_masses(t, ed)
    q, out = g.bin_masses(t, ed, factor=(1.0 + float(dt) * f1).reshape(g.energies.shape))
    return BinProbabilities(q, out, float(np.max(np.abs(q - p0))), tuple(ed))


def euler_maruyama_density_1d(
    landscape: Landscape,
    temperature: float,
    dt: float,
    *,
    bounds: np.ndarray | Sequence | None = None,
    n: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact stationary density of the 1-D Euler–Maruyama chain (Nyström method).

    The chain ``x' = x - dt U'(x) + sqrt(2 T dt) ξ`` has the Gaussian transition
    density ``k(x'|x) = N(x'; x - dt U'(x), 2 T dt)``; its stationary density
    solves ``π(x') = ∫ k(x'|x) π(x) dx``, discretised with the trapezoid rule
    on a uniform grid whose spacing resolves the kernel width
    ``σ = sqrt(2 T dt)`` (at most ``σ/8``), and solved as a linear system with
    the normalisation replacing one equation.

    Parameters
    ----------
    landscape : Landscape
        A 1-D energy surface.
    temperature : float
        ``T > 0`` (energy units).
    dt : float
        Time step (time units, friction 1).
    bounds : array_like, shape (1, 2), optional
        Domain (default ``landscape.bounds``); mass leaving it is dropped and
        the density renormalised.
    n : int, optional
        Number of grid points (default from the spacing rule, at least 1001).

    Returns
    -------
    x : numpy.ndarray
        Grid (length units).
    density : numpy.ndarray
        ``π(x)`` normalised to unit trapezoid integral (1 / length).
    """
    if landscape.dim != 1:
        raise ValueError("euler_maruyama_density_1d needs a 1-D landscape")
    t = _check_temperature(temperature)
    dt = float(dt)
    box = _box(landscape, bounds)
    a, b = box[0]
    sig = math.sqrt(2.0 * t * dt)
    if n is None:
        n = max(1001, int(math.ceil(8.0 * (b - a) / sig)) + 1)
    if n > 6001:
        raise ValueError(f"grid of {n} points needed; dt is too small for this method")
    x = np.linspace(a, b, n)
    h = x[1] - x[0]
    mu = x - dt * landscape.gradient(x[:, None])[:, 0]
    kern = np.exp(-0.5 * ((x[:, None] - mu[None, :]) / sig) ** 2) / (sig * math.sqrt(2 * math.pi))
    wts = np.full(n, h)
    wts[[0, -1]] *= 0.5
    kmat = kern * wts[None, :]
    # stationarity (K - I) pi = 0 with the normalisation sum(w pi) = 1 replacing one row
    amat = kmat - np.eye(n)
    amat[-1, :] = wts
    rhs = np.zeros(n)
    rhs[-1] = 1.0
    pi = np.linalg.solve(amat, rhs)
    return x, pi
