"""Arrhenius analysis: weighted fit of ``ln k`` against ``1/T``, bootstrap, curvature test, figure.

Model: ``k(T) = A exp(-ΔU / T)`` (``k_B = 1``), i.e. ``ln k = ln A - ΔU (1/T)``.
Each temperature contributes ``ln k_i`` with variance ``1/n_i`` (``n_i`` escape
events: the censored-exponential MLE has ``Var ln k ≈ 1/n``), so the fit is a
weighted least-squares line with weights ``n_i``.  Confidence intervals come
from the fit covariance (normal theory) and, when the per-walker first-passage
times are given, from a bootstrap over walkers (walkers resampled with
replacement within each temperature, rates re-estimated, line refitted).

Curvature (non-Arrhenius behaviour, e.g. a temperature-dependent prefactor or
a change of pathway) is tested by adding a ``c (1/T - mean)²`` term: the
z-score of ``c`` against its standard error, and the ``χ²`` of the straight
line with ``n_T - 2`` degrees of freedom.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .estimators import exponential_rate

__all__ = ["ArrheniusFit", "arrhenius_fit", "bootstrap_arrhenius", "CurvatureTest",
           "curvature_test"]


@dataclass(frozen=True)
class ArrheniusFit:
    """Weighted Arrhenius fit.

    Attributes
    ----------
    barrier : float
        ``ΔU`` (energy units).
    log_prefactor : float
        ``ln A`` (``A`` in inverse time units).
    barrier_ci, log_prefactor_ci : (float, float)
        Confidence intervals at ``level`` (normal theory from the fit
        covariance, or bootstrap percentiles after :func:`bootstrap_arrhenius`).
    cov : numpy.ndarray, shape (2, 2)
        Covariance of ``(ln A, ΔU)``.
    chi2 : float
        Weighted residual sum of squares of the line.
    dof : int
        ``n_T - 2``.
    level : float
        Confidence level.
    method : str
        ``"wls"`` or ``"bootstrap"``.
    """

    barrier: float
    log_prefactor: float
    barrier_ci: tuple[float, float]
    log_prefactor_ci: tuple[float, float]
    cov: np.ndarray
    chi2: float
    dof: int
    level: float
    method: str = "wls"

    @property
    def prefactor(self) -> float:
        """``A`` (inverse time units)."""
        return math.exp(self.log_prefactor)

    def rate(self, temperature: float | np.ndarray) -> float | np.ndarray:
        """Fitted ``k(T)``.

        Parameters
        ----------
        temperature : float or array_like
            ``T > 0``.

        Returns
        -------
        float or numpy.ndarray
        """
        t = np.asarray(temperature, dtype=np.float64)
        out = np.exp(self.log_prefactor - self.barrier / t)
        return float(out) if out.ndim == 0 else out


def _wls(x: np.ndarray, y: np.ndarray, w: np.ndarray, degree: int
         ) -> tuple[np.ndarray, np.ndarray, float]:
    xm = np.vander(x, degree + 1, increasing=True)
    a = xm.T @ (w[:, None] * xm)
    cov = np.linalg.inv(a)
    beta = cov @ (xm.T @ (w * y))
    r = y - xm @ beta
    return beta, cov, float(np.sum(w * r * r))


def _inputs(temperatures: Sequence[float], rates: Sequence[float], n_events: Sequence[float]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.asarray(temperatures, dtype=np.float64).ravel()
    k = np.asarray(rates, dtype=np.float64).ravel()
    n = np.asarray(n_events, dtype=np.float64).ravel()
    if not (t.shape == k.shape == n.shape):
        raise ValueError(f"temperatures, rates and n_events must have one entry each per "
                         f"temperature, got {t.size}, {k.size}, {n.size}")
    if np.any(t <= 0) or not np.all(np.isfinite(t)):
        raise ValueError("temperatures must be finite and > 0")
    use = (n > 0) & (k > 0)
    if use.sum() < 2:
        raise ValueError(f"an Arrhenius fit needs at least 2 temperatures with escapes, "
                         f"got {int(use.sum())}")
    return t[use], k[use], n[use]


def arrhenius_fit(temperatures: Sequence[float], rates: Sequence[float],
                  n_events: Sequence[float], *, level: float = 0.95) -> ArrheniusFit:
    """Weighted least-squares fit of ``ln k = ln A - ΔU/T``.

    Parameters
    ----------
    temperatures : array_like, shape (n_T,)
        Temperatures (``k_B = 1``).
    rates : array_like, shape (n_T,)
        Rate estimates (inverse time units).
    n_events : array_like, shape (n_T,)
        Escape events behind each rate (weights; ``Var ln k = 1/n``).
        Temperatures without events are skipped.
    level : float
        Confidence level.

    Returns
    -------
    ArrheniusFit
    """
    t, k, n = _inputs(temperatures, rates, n_events)
    beta, cov, chi2 = _wls(1.0 / t, np.log(k), n, 1)
    z = stats.norm.isf((1 - level) / 2)
    la, slope = beta
    se = np.sqrt(np.diag(cov))
    cov2 = cov * np.array([[1, -1], [-1, 1]])  # covariance of (ln A, ΔU = -slope)
    return ArrheniusFit(float(-slope), float(la), (float(-slope - z * se[1]),
                                                    float(-slope + z * se[1])),
                        (float(la - z * se[0]), float(la + z * se[0])), cov2, chi2,
                        t.size - 2, level)


def bootstrap_arrhenius(temperatures: Sequence[float], times: Sequence[np.ndarray],
                        censored: Sequence[np.ndarray], *, n_boot: int = 1000,
                        level: float = 0.95, seed: int = 0) -> ArrheniusFit:
    """Arrhenius fit with percentile-bootstrap intervals over walkers.

    Parameters
    ----------
    temperatures : array_like, shape (n_T,)
        Temperatures.
    times : sequence of array_like
        Per temperature, the walkers' first-passage (or censoring) times.
    censored : sequence of array_like of bool
        Per temperature, the censoring flags.
    n_boot : int
        Bootstrap replicas.
    level : float
        Confidence level.
    seed : int
        Seed of the resampling generator.

    Returns
    -------
    ArrheniusFit
        Point estimates of the weighted fit to the full data, with bootstrap
        percentile intervals and covariance (``method = "bootstrap"``).
    """
    t = np.asarray(temperatures, dtype=np.float64).ravel()
    if len(times) != t.size or len(censored) != t.size:
        raise ValueError("times and censored need one array per temperature")
    tt = [np.asarray(x, dtype=np.float64).ravel() for x in times]
    cc = [np.asarray(x, dtype=bool).ravel() for x in censored]
    est = [exponential_rate(a, b) for a, b in zip(tt, cc, strict=True)]
    base = arrhenius_fit(t, [e.rate for e in est], [e.n_events for e in est], level=level)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(int(n_boot)):
        ks, ns = [], []
        for a, b in zip(tt, cc, strict=True):
            i = rng.integers(0, a.size, a.size)
            ev = int((~b[i]).sum())
            ks.append(ev / a[i].sum() if ev else 0.0)
            ns.append(ev)
        try:
            fb = arrhenius_fit(t, ks, ns, level=level)
        except ValueError:
            continue
        draws.append((fb.log_prefactor, fb.barrier))
    d = np.asarray(draws)
    if d.shape[0] < 10:
        return base
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    la_ci = np.percentile(d[:, 0], q)
    du_ci = np.percentile(d[:, 1], q)
    return ArrheniusFit(base.barrier, base.log_prefactor, (float(du_ci[0]), float(du_ci[1])),
                        (float(la_ci[0]), float(la_ci[1])), np.cov(d.T), base.chi2, base.dof,
                        level, "bootstrap")


@dataclass(frozen=True)
class CurvatureTest:
    """Test of a straight Arrhenius line against a quadratic in ``1/T``.

    Attributes
    ----------
    curvature : float
        Coefficient ``c`` of ``(1/T - mean)²`` (energy² units).
    z : float
        ``c / se(c)``.
    p_value : float
        Two-sided p-value of ``z``.
    chi2_line : float
        Weighted ``χ²`` of the straight line.
    p_line : float
        ``P(χ²_{n_T-2} >= chi2_line)`` (lack of fit of the line).
    curved : bool
        ``p_value < alpha``.
    alpha : float
    """

    curvature: float
    z: float
    p_value: float
    chi2_line: float
    p_line: float
    curved: bool
    alpha: float


def curvature_test(temperatures: Sequence[float], rates: Sequence[float],
                   n_events: Sequence[float], *, alpha: float = 0.01) -> CurvatureTest:
    """Flag non-Arrhenius behaviour (curvature of ``ln k`` in ``1/T``).

    Parameters
    ----------
    temperatures, rates, n_events : array_like, shape (n_T,)
        As for :func:`arrhenius_fit` (at least 3 temperatures with events).
    alpha : float
        Significance level of the flag.

    Returns
    -------
    CurvatureTest
    """
    t, k, n = _inputs(temperatures, rates, n_events)
    if t.size < 3:
        raise ValueError(f"a curvature test needs at least 3 temperatures, got {t.size}")
    x = 1.0 / t
    xc = x - np.average(x, weights=n)
    y = np.log(k)
    _, _, chi2_line = _wls(xc, y, n, 1)
    beta, cov, _ = _wls(xc, y, n, 2)
    c = float(beta[2])
    z = c / math.sqrt(cov[2, 2])
    p = float(2 * stats.norm.sf(abs(z)))
    p_line = float(stats.chi2.sf(chi2_line, t.size - 2)) if t.size > 2 else 1.0
    return CurvatureTest(c, float(z), p, chi2_line, p_line, bool(p < alpha), alpha)
