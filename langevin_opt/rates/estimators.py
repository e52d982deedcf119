"""Escape-rate estimators for right-censored first-passage times.

If escape is a Markov (memoryless) process out of a well-equilibrated basin,
first-passage times are exponential with rate ``k``.  With ``n`` observed
events and censored walkers, the log-likelihood is
``n ln k - k S`` where ``S`` is the total time at risk (the sum of all
first-passage and censoring times), so the maximum-likelihood rate is
``k = n / S``.  The likelihood is that of a Poisson count with mean ``k S``;
the confidence interval used here is the exact (Garwood) Poisson interval
``[χ²_{2n}(α/2)/2S, χ²_{2n+2}(1-α/2)/2S]``, which is exact when every walker
runs until it escapes and conservative under censoring at a fixed time.

The exponential assumption is checked by a Kolmogorov–Smirnov distance between
the Kaplan–Meier survival curve and the fitted ``exp(-k t)``, with the
p-value from a parametric bootstrap under the same censoring times (so the
estimated rate and the censoring are accounted for).  A small p-value flags
non-exponential, e.g. non-Markovian or not yet equilibrated, escape.

Units: times in the integrator's time unit, rates in inverse time units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..core.validation import check_real

__all__ = ["RateEstimate", "exponential_rate", "mean_first_passage_time", "kaplan_meier",
           "GofResult", "exponential_gof", "estimate_rate"]


def _check(times: np.ndarray, censored: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(times, dtype=np.float64).ravel()
    c = np.zeros(t.shape, dtype=bool) if censored is None else np.asarray(censored, bool).ravel()
    if c.shape != t.shape:
        raise ValueError(f"censored must have the shape of times {t.shape}, got {c.shape}")
    if t.size == 0:
        raise ValueError("times must not be empty")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("times must be finite and >= 0")
    return t, c


@dataclass(frozen=True)
class RateEstimate:
    """Maximum-likelihood exponential rate with a confidence interval.

    Attributes
    ----------
    rate : float
        ``k = n_events / exposure`` (inverse time units).
    low, high : float
        Confidence interval of ``k`` at level ``level``.
    n_events, n_censored : int
        Walkers that escaped / were censored.
    exposure : float
        Total time at risk ``S`` (time units).
    level : float
        Confidence level.
    """

    rate: float
    low: float
    high: float
    n_events: int
    n_censored: int
    exposure: float
    level: float

    @property
    def log_se(self) -> float:
        """Standard error of ``ln k`` (``1/sqrt(n_events)``; inf without events)."""
        return 1.0 / math.sqrt(self.n_events) if self.n_events else math.inf


def exponential_rate(times: np.ndarray, censored: np.ndarray | None = None, *,
                     level: float = 0.95) -> RateEstimate:
    """MLE of an exponential rate from right-censored waiting times.

    Parameters
    ----------
    times : array_like, shape (M,)
        First-passage times, or censoring times where ``censored`` is True.
    censored : array_like of bool, shape (M,), optional
        Right-censoring flags (default: none censored).
    level : float
        Confidence level of the interval, in (0, 1).

    Returns
    -------
    RateEstimate
    """
    t, c = _check(times, censored)
    level = check_real("level", level, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    n = int((~c).sum())
    s = float(t.sum())
    if s <= 0:
        raise ValueError("the total time at risk is 0")
    alpha = 1.0 - level
    low = stats.chi2.ppf(alpha / 2, 2 * n) / (2 * s) if n > 0 else 0.0
    high = stats.chi2.ppf(1 - alpha / 2, 2 * n + 2) / (2 * s)
    return RateEstimate(n / s, float(low), float(high), n, int(c.sum()), s, level)


def kaplan_meier(times: np.ndarray, censored: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan–Meier survival curve.

    Parameters
    ----------
    times : array_like, shape (M,)
        Event or censoring times.
    censored : array_like of bool, optional
        Censoring flags.

    Returns
    -------
    event_times : numpy.ndarray
        Distinct event times, ascending.
    survival : numpy.ndarray
        ``S(t)`` just after each event time.
    """
    t, c = _check(times, censored)
    order = np.lexsort((c, t))  # events before censorings at equal times
    t, c = t[order], c[order]
    at_risk = t.size - np.arange(t.size)
    ev = ~c
    factors = np.where(ev, 1.0 - 1.0 / at_risk, 1.0)
    surv = np.cumprod(factors)
    return t[ev], surv[ev]


def mean_first_passage_time(times: np.ndarray, censored: np.ndarray | None = None
                            ) -> tuple[float, float, bool]:
    """Mean first-passage time and its standard error.

    Without censoring: the sample mean and ``sd / sqrt(M)``.  With censoring:
    the Kaplan–Meier restricted mean up to the last observed time (a lower
    bound of the true mean) with the Greenwood-free approximation
    ``mean / sqrt(n_events)``, and ``restricted = True``.

    Parameters
    ----------
    times : array_like, shape (M,)
        First-passage (or censoring) times.
    censored : array_like of bool, optional
        Censoring flags.

    Returns
    -------
    mean : float
    se : float
    restricted : bool
        True when censoring made the mean a restricted (lower-bound) estimate.
    """
    t, c = _check(times, censored)
    if not c.any():
        se = float(t.std(ddof=1) / math.sqrt(t.size)) if t.size > 1 else math.inf
        return float(t.mean()), se, False
    et, s = kaplan_meier(t, c)
    grid = np.concatenate([[0.0], et, [t.max()]])
    surv = np.concatenate([[1.0], s])
    mean = float(np.sum(surv * np.diff(grid)))
    n = int((~c).sum())
    return mean, (mean / math.sqrt(n) if n else math.inf), True


@dataclass(frozen=True)
class GofResult:
    """Goodness of fit of the exponential model.

    Attributes
    ----------
    statistic : float
        KS distance between Kaplan–Meier and fitted exponential survival.
    p_value : float
        Parametric-bootstrap p-value.
    cv : float
        Coefficient of variation of the uncensored times (1 for exponential
        data without censoring; NaN with fewer than 2 events).
    non_exponential : bool
        ``p_value < alpha``.
    alpha : float
        Significance level of the flag.
    """

    statistic: float
    p_value: float
    cv: float
    non_exponential: bool
    alpha: float


def _ks_stat(t: np.ndarray, c: np.ndarray) -> float:
    n = int((~c).sum())
    if n == 0:
        return 0.0
    k = n / t.sum()
    et, s = kaplan_meier(t, c)
    model = np.exp(-k * et)
    # KM jumps at event times: compare just after and just before each jump
    before = np.concatenate([[1.0], s[:-1]])
    return float(max(np.max(np.abs(s - model)), np.max(np.abs(before - model))))


def exponential_gof(times: np.ndarray, censored: np.ndarray | None = None, *,
                    n_boot: int = 300, seed: int = 0, alpha: float = 0.01) -> GofResult:
    """Test whether censored first-passage times are exponential.

    Parameters
    ----------
    times : array_like, shape (M,)
        First-passage (or censoring) times.
    censored : array_like of bool, optional
        Censoring flags; censored walkers keep their censoring time in the
        bootstrap replicas (type-I censoring).
    n_boot : int
        Bootstrap replicas.
    seed : int
        Seed of the bootstrap generator.
    alpha : float
        Level at which ``non_exponential`` is set.

    Returns
    -------
    GofResult
    """
    t, c = _check(times, censored)
    obs = _ks_stat(t, c)
    n = int((~c).sum())
    ev = t[~c]
    cv = float(ev.std(ddof=1) / ev.mean()) if n > 1 and ev.mean() > 0 else math.nan
    if n < 2:
        return GofResult(obs, 1.0, cv, False, alpha)
    k = n / t.sum()
    # censoring limit per walker: its censoring time, or (uncensored) the largest limit seen
    limit = np.where(c, t, t[c].max() if c.any() else np.inf)
    rng = np.random.default_rng(seed)
    count = 0
    for _ in range(int(n_boot)):
        sim = rng.exponential(1.0 / k, t.size)
        cc = sim >= limit
        sim = np.minimum(sim, limit)
        if _ks_stat(sim, cc) >= obs:
            count += 1
    p = (count + 1) / (n_boot + 1)
    return GofResult(obs, float(p), cv, bool(p < alpha), alpha)


def estimate_rate(times: np.ndarray, censored: np.ndarray | None = None, *, level: float = 0.95,
                  gof: bool = True, seed: int = 0) -> dict:
    """All estimators for one sample of first-passage times, as a plain dict.

    Parameters
    ----------
    times : array_like, shape (M,)
        First-passage (or censoring) times.
    censored : array_like of bool, optional
        Censoring flags.
    level : float
        Confidence level.
    gof : bool
        Run the goodness-of-fit check.
    seed : int
        Bootstrap seed of the check.

    Returns
    -------
    dict
        ``rate, rate_low, rate_high, events, censored, exposure, mfpt, mfpt_se,
        mfpt_restricted`` and, with ``gof``, ``gof_p, gof_stat, cv, non_exponential``.
    """
    r = exponential_rate(times, censored, level=level)
    mean, se, restricted = mean_first_passage_time(times, censored)
    out = {"rate": r.rate, "rate_low": r.low, "rate_high": r.high, "events": r.n_events,
           "censored": r.n_censored, "exposure": r.exposure, "mfpt": mean, "mfpt_se": se,
           "mfpt_restricted": restricted}
    if gof:
        g = exponential_gof(times, censored, seed=seed)
        out.update(gof_p=g.p_value, gof_stat=g.statistic, cv=g.cv,
                   non_exponential=g.non_exponential)
    return out
