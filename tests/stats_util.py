"""Statistics helpers shared by the exactness tests (tolerances derived from sample sizes)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from langevin_opt.analysis import ChiSquareResult

#: False-alarm probability of one statistical test (a fixed seed makes each
#: outcome deterministic; alpha is what a fresh seed would risk).
ALPHA = 1e-3


def z_crit(alpha: float = ALPHA, m: int = 1) -> float:
    """Two-sided normal quantile for ``m`` simultaneous checks (Bonferroni)."""
    return float(stats.norm.isf(alpha / (2.0 * m)))


def counts_1d(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Histogram counts of 1-D samples followed by the count outside the edges."""
    x = np.asarray(x).ravel()
    c = np.histogram(x, edges)[0].astype(float)
    return np.concatenate([c, [x.size - c.sum()]])


def counts_2d(x: np.ndarray, ex: np.ndarray, ey: np.ndarray) -> np.ndarray:
    """2-D histogram counts (``ij`` order, flattened) followed by the outside count."""
    x = np.asarray(x).reshape(-1, 2)
    c = np.histogram2d(x[:, 0], x[:, 1], (ex, ey))[0].ravel()
    return np.concatenate([c, [x.shape[0] - c.sum()]])


def describe(res: ChiSquareResult) -> str:
    return (f"X2={res.statistic:.1f} dof={res.dof} threshold={res.threshold:.1f} "
            f"(lambda={res.noncentrality:.2f}) p={res.p_value:.3g} n={res.n}")


def logit_crossover(temps: np.ndarray, frac: np.ndarray, n: int) -> tuple[float, float]:
    """Crossover temperature from basin fractions, with its standard error.

    Fits ``logit f(T) = a + b/T`` by weighted least squares (the harmonic
    theory makes ``ln(P_1/P_2)`` linear in ``1/T``; weights ``n f (1-f)`` are the
    inverse binomial variances of ``logit f``) and returns ``T* = -b/a`` with
    the delta-method standard error from the fit covariance.
    """
    t = np.asarray(temps, dtype=float)
    f = np.asarray(frac, dtype=float)
    y = np.log(f / (1.0 - f))
    w = n * f * (1.0 - f)
    xmat = np.stack([np.ones_like(t), 1.0 / t], axis=1)
    cov = np.linalg.inv(xmat.T @ (w[:, None] * xmat))
    a, b = cov @ (xmat.T @ (w * y))
    tstar = -b / a
    grad = np.array([b / a**2, -1.0 / a])
    return float(tstar), float(math.sqrt(grad @ cov @ grad))
