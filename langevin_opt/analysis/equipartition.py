"""Equipartition estimators of the temperature from one frame of walkers."""

from __future__ import annotations

import math

import numpy as np

from ..landscapes import Landscape
from .hessian import laplacian

__all__ = ["configurational_temperature", "kinetic_temperature_stats"]


def kinetic_temperature_stats(velocities: np.ndarray,
                              mass: float = 1.0) -> tuple[float, float]:
    """Kinetic temperature ``T_kin = m <v²>`` per degree of freedom, with its standard error.

    The estimate and its error bar over independent walkers;
    :func:`langevin_opt.particles.kinetic_temperature` is the instantaneous
    temperature of one particle system (a number, no error bar).

    Parameters
    ----------
    velocities : array_like, shape (M, d)
        One frame of independent walkers (length / time).
    mass : float
        Walker mass ``m`` (energy time² / length²).

    Returns
    -------
    value : float
        ``T_kin`` (energy units).
    stderr : float
        Standard error from the spread of the per-walker ``m |v|²/d``.
    """
    v = np.asarray(velocities, dtype=np.float64)
    v = v.reshape(v.shape[0], -1)
    per = float(mass) * np.mean(v**2, axis=1)
    return float(per.mean()), float(per.std(ddof=1) / math.sqrt(per.size))


def configurational_temperature(
    landscape: Landscape, positions: np.ndarray, eps: float | None = None
) -> tuple[float, float]:
    """Configurational temperature ``T_conf = <|∇U|²> / <ΔU>`` with its standard error.

    In equilibrium ``<|∇U|²> = T <ΔU>`` (integration by parts), whatever the
    dynamics.  The Laplacian is taken by central differences of the gradient.

    Parameters
    ----------
    landscape : Landscape
        Energy surface.
    positions : array_like, shape (M, d)
        Independent configurations (length units).
    eps : float, optional
        Difference step for the Laplacian (see :func:`~langevin_opt.analysis.laplacian`).

    Returns
    -------
    value : float
        ``T_conf`` (energy units).
    stderr : float
        Delta-method standard error of the ratio of means.
    """
    x = landscape._as_batch(positions)
    a = np.sum(landscape.gradient(x) ** 2, axis=1)
    b = laplacian(landscape, x, eps)
    ma, mb = float(a.mean()), float(b.mean())
    r = ma / mb
    cov = np.cov(a, b, ddof=1)
    var = (cov[0, 0] - 2 * r * cov[0, 1] + r * r * cov[1, 1]) / (mb * mb * a.size)
    return r, float(math.sqrt(max(var, 0.0)))
