"""Harmonic basin probabilities and the temperature at which two basins are equally likely."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import optimize

from ..landscapes import Landscape
from ._common import _check_temperature, _minima
from .hessian import hessian
from .quadrature import quadrature_grid

__all__ = [
    "crossover_temperature",
    "harmonic_basin_probabilities",
    "narrow_wide_harmonic_crossover",
]


def harmonic_basin_probabilities(
    landscape: Landscape, temperature: float, minima: np.ndarray | None = None
) -> np.ndarray:
    """Basin probabilities in the harmonic (Laplace) approximation.

    ``Z_i ≈ exp(-U(x_i)/T) (2π T)^{d/2} / sqrt(det H_i)`` at every known
    minimum ``x_i`` (Hessian ``H_i`` by finite differences).  The relative
    error of each ``Z_i`` is ``O(T / barrier)`` (anharmonic terms).

    Parameters
    ----------
    landscape : Landscape
        Energy surface.
    temperature : float
        ``T > 0`` (energy units).
    minima : array_like, optional
        Minima (default ``landscape.minima``).

    Returns
    -------
    numpy.ndarray
        Normalised probabilities, one per minimum.
    """
    t = _check_temperature(temperature)
    mins = _minima(landscape, minima)
    u = landscape.energy(mins)
    _, logdet = np.linalg.slogdet(hessian(landscape, mins))
    logz = -(u - u.min()) / t - 0.5 * logdet
    w = np.exp(logz - logz.max())
    return w / w.sum()


def narrow_wide_harmonic_crossover(
    depth_narrow: float = 4.0,
    width_narrow: float = 0.15,
    depth_wide: float = 3.0,
    width_wide: float = 0.6,
    dim: int = 2,
) -> float:
    """Crossover temperature of :func:`~langevin_opt.narrow_wide` in the harmonic approximation.

    With ``Z_i ≈ exp(D_i/T) (2π T w_i²/D_i)^{d/2}`` the two basin weights are
    equal at

    ``T* = (D_n - D_w) / ((d/2) ln(w_w² D_n / (w_n² D_w)))``.

    Parameters
    ----------
    depth_narrow, width_narrow, depth_wide, width_wide : float
        ``D_n, w_n, D_w, w_w`` of the landscape (energy and length units).
    dim : int
        Dimension ``d``.

    Returns
    -------
    float
        ``T*`` (energy units); ``nan`` if the narrow well is not deeper or
        not narrower (no crossover).
    """
    num = float(depth_narrow) - float(depth_wide)
    den = 0.5 * dim * math.log(width_wide**2 * depth_narrow / (width_narrow**2 * depth_wide))
    if num <= 0 or den <= 0:
        return float("nan")
    return num / den


def crossover_temperature(
    landscape: Landscape,
    bracket: tuple[float, float],
    *,
    basins: tuple[int, int] = (0, 1),
    bounds: np.ndarray | Sequence | None = None,
    panels: int | None = None,
    order: int = 8,
    xtol: float = 1e-10,
    minima: np.ndarray | None = None,
) -> float:
    """Temperature at which two basins are equally probable (quadrature + brentq).

    One quadrature grid (with its basin labels, which do not depend on ``T``)
    is built and ``P_a(T) - P_b(T)`` is root-found with
    :func:`scipy.optimize.brentq` inside the bracket.

    Parameters
    ----------
    landscape : Landscape
        A 1-D or 2-D energy surface with known minima.
    bracket : (float, float)
        ``T_lo < T_hi`` (energy units) with a sign change of ``P_a - P_b``.
    basins : (int, int)
        Indices into the minima of the two basins (for ``narrow_wide``:
        0 = narrow, 1 = wide).
    bounds : array_like, optional
        Integration box (default ``landscape.bounds``).
    panels : int, optional
        Panels per axis (default 256 in 1-D, 128 in 2-D).
    order : int
        Nodes per panel.
    xtol : float
        Absolute tolerance on ``T``.
    minima : array_like, optional
        Known minima (default ``landscape.minima``).

    Returns
    -------
    float
        The crossover temperature (energy units).
    """
    lo, hi = (float(bracket[0]), float(bracket[1]))
    _check_temperature(lo)
    _check_temperature(hi)
    if panels is None:
        panels = 256 if landscape.dim == 1 else 128
    grid = quadrature_grid(landscape, bounds=bounds, panels=panels, order=order, basins=True,
                           minima=minima, energy_cutoff=30.0 * hi)
    a, b = basins

    def diff(t: float) -> float:
        pr = grid.at(t).basin_probabilities
        return float(pr[a] - pr[b])  # type: ignore[index]

    return float(optimize.brentq(diff, lo, hi, xtol=xtol))
