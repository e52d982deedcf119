"""Uncertainty metrics: how well a predicted spread describes the actual errors.

Every function takes ``errors`` (prediction minus reference, any shape) and the predicted
standard deviations ``sigma`` (same shape, ``> 0``, same units), flattened: one value per
energy, per energy per atom or per force component, as the caller chooses.  The reference
model is Gaussian, ``error ~ N(0, sigma^2)``.

* :func:`spearman`: Spearman rank correlation between the spread and the absolute error
  (average ranks for ties), the "does a larger spread mean a larger error" score.
* :func:`coverage`: fraction of errors inside ``k sigma`` (``0.6827`` and ``0.9545`` for
  ``k = 1, 2`` when calibrated).
* :func:`calibration_curve`: observed against expected coverage of the central Gaussian
  intervals ``|error| <= z_p sigma``, ``z_p = Phi^-1((1 + p) / 2)``, over levels ``p``;
  :func:`miscalibration_area` is the mean ``|observed - expected|`` over ``p`` in
  ``0.01 ... 0.99``.
* :func:`gaussian_nll`: mean negative log-likelihood
  ``log(2 pi sigma^2) / 2 + error^2 / (2 sigma^2)`` (nats per value).
* :func:`fit_scale`: the post-hoc factor ``k`` minimising the NLL of ``N(0, (k sigma)^2)``,
  in closed form ``k = sqrt(mean(error^2 / sigma^2))``; fit it on validation data and
  report it.
* :func:`spread_ratio`: how much the spread grows out of distribution (ratio of the
  median spreads).
* :func:`calibration_report`: all of the above in one dict.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.validation import check_choice, check_positive

__all__ = ["ONE_SIGMA", "TWO_SIGMA", "spearman", "coverage", "calibration_curve",
           "miscalibration_area", "gaussian_nll", "fit_scale", "spread_ratio",
           "calibration_report"]

#: Probability of ``|z| <= 1`` for a standard normal ``z`` (``erf(1 / sqrt 2)``).
ONE_SIGMA = math.erf(1.0 / math.sqrt(2.0))
#: Probability of ``|z| <= 2``.
TWO_SIGMA = math.erf(2.0 / math.sqrt(2.0))


def _pair(errors: object, sigma: object) -> tuple[np.ndarray, np.ndarray]:
    e = np.asarray(errors, dtype=np.float64)
    s = np.asarray(sigma, dtype=np.float64)
    if e.shape != s.shape:
        raise ValueError(f"errors and sigma must have the same shape, got {e.shape} and "
                         f"{s.shape}")
    e = e.ravel()
    s = s.ravel()
    if e.size == 0:
        raise ValueError("errors must not be empty")
    if not np.all(np.isfinite(e)):
        raise ValueError("errors must be finite")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError("sigma must be finite and > 0 (a zero spread has no likelihood)")
    return e, s


def _ranks(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(x, method="average")


def spearman(spread: object, abs_error: object) -> float:
    """Spearman rank correlation between predicted spread and absolute error.

    Parameters
    ----------
    spread : array_like
        Predicted standard deviations (any shape).
    abs_error : array_like
        Errors of the same shape (their absolute values are used).

    Returns
    -------
    float
        In ``[-1, 1]``: Pearson correlation of the average ranks.

    Raises
    ------
    ValueError
        Shapes differ, fewer than 3 values, non-finite values, or a constant input (no
        ranking).
    """
    s = np.asarray(spread, dtype=np.float64)
    a = np.asarray(abs_error, dtype=np.float64)
    if s.shape != a.shape:
        raise ValueError(f"spread and abs_error must have the same shape, got {s.shape} and "
                         f"{a.shape}")
    s, a = s.ravel(), np.abs(a.ravel())
    if s.size < 3:
        raise ValueError(f"spearman needs at least 3 values, got {s.size}")
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(a))):
        raise ValueError("spread and abs_error must be finite")
    if np.ptp(s) == 0 or np.ptp(a) == 0:
        raise ValueError("spread and abs_error must not be constant (the rank correlation "
                         "is undefined)")
    rs = _ranks(s) - (s.size + 1) / 2.0
    ra = _ranks(a) - (a.size + 1) / 2.0
    return float(np.dot(rs, ra) / math.sqrt(np.dot(rs, rs) * np.dot(ra, ra)))


def coverage(errors: object, sigma: object, k: float | object = 1.0) -> float | np.ndarray:
    """Fraction of errors inside ``k`` predicted standard deviations, ``|error| <= k sigma``.

    Parameters
    ----------
    errors, sigma : array_like
        Errors and predicted standard deviations (same shape, ``sigma > 0``).
    k : float or array_like of float
        Interval half-widths in units of ``sigma`` (``> 0``).

    Returns
    -------
    float or numpy.ndarray
        Observed fraction(s); a float for scalar ``k``.  Calibrated Gaussian errors give
        ``erf(k / sqrt 2)`` (:data:`ONE_SIGMA`, :data:`TWO_SIGMA`) within the binomial
        error ``sqrt(p (1 - p) / n)``.
    """
    e, s = _pair(errors, sigma)
    kk = np.asarray(k, dtype=np.float64)
    if not np.all(np.isfinite(kk)) or np.any(kk <= 0):
        raise ValueError(f"k must be finite and > 0, got {k!r}")
    z = np.sort(np.abs(e) / s)
    out = np.searchsorted(z, kk, side="right") / z.size
    return float(out) if kk.ndim == 0 else out


def _levels(levels: object) -> np.ndarray:
    p = np.asarray(levels, dtype=np.float64)
    if p.ndim != 1 or p.size == 0 or not np.all((p > 0) & (p < 1)):
        raise ValueError("levels must be a non-empty 1-D array of probabilities in (0, 1)")
    return p


def calibration_curve(errors: object, sigma: object, levels: object = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Observed against expected coverage of central Gaussian intervals.

    Parameters
    ----------
    errors, sigma : array_like
        Errors and predicted standard deviations (same shape, ``sigma > 0``).
    levels : array_like of float, optional
        Expected coverages ``p`` in ``(0, 1)`` (default ``0.05, 0.10, ..., 0.95``).

    Returns
    -------
    expected : numpy.ndarray, shape (L,)
        The levels ``p``.
    observed : numpy.ndarray, shape (L,)
        Fraction of ``|error| <= z_p sigma`` with ``z_p = Phi^-1((1 + p) / 2)``: on the
        diagonal for calibrated errors, below it for over-confident spreads.
    """
    from scipy.special import ndtri

    p = _levels(np.arange(1, 20) / 20.0 if levels is None else levels)
    return p.copy(), np.atleast_1d(coverage(errors, sigma, ndtri(0.5 * (1.0 + p))))


def miscalibration_area(errors: object, sigma: object) -> float:
    """Mean absolute gap between observed and expected coverage over ``p = 0.01 ... 0.99``.

    Parameters
    ----------
    errors, sigma : array_like
        Errors and predicted standard deviations (same shape, ``sigma > 0``).

    Returns
    -------
    float
        In ``[0, 1)``: 0 for perfect calibration (up to sampling noise), about 0.25 for
        spreads too small by a factor of 4.
    """
    exp, obs = calibration_curve(errors, sigma, np.arange(1, 100) / 100.0)
    return float(np.mean(np.abs(obs - exp)))


def gaussian_nll(errors: object, sigma: object) -> float:
    """Mean Gaussian negative log-likelihood of the errors under ``N(0, sigma^2)``.

    Parameters
    ----------
    errors, sigma : array_like
        Errors and predicted standard deviations (same shape and units, ``sigma > 0``).

    Returns
    -------
    float
        ``mean(log(2 pi sigma^2) / 2 + error^2 / (2 sigma^2))`` (nats per value; depends
        on the unit of ``sigma`` through ``log sigma``).
    """
    e, s = _pair(errors, sigma)
    return float(np.mean(0.5 * np.log(2.0 * np.pi * s * s) + 0.5 * (e / s) ** 2))


def fit_scale(errors: object, sigma: object) -> float:
    """Post-hoc spread factor ``k`` minimising the Gaussian NLL of ``N(0, (k sigma)^2)``.

    ``d/dk [log k + mean(e^2 / sigma^2) / (2 k^2)] = 0`` gives
    ``k = sqrt(mean(error^2 / sigma^2))``.

    Parameters
    ----------
    errors, sigma : array_like
        Validation errors and predicted standard deviations (same shape, ``sigma > 0``).

    Returns
    -------
    float
        ``k > 0`` (``> 1``: the spread was over-confident); report it with the results.

    Raises
    ------
    ValueError
        Bad inputs, or all errors zero (no finite optimum).
    """
    e, s = _pair(errors, sigma)
    k = math.sqrt(float(np.mean((e / s) ** 2)))
    if k == 0:
        raise ValueError("errors are all zero: no scale factor minimises the likelihood")
    return k


def spread_ratio(sigma_in: object, sigma_out: object, statistic: str = "median") -> float:
    """How much the spread grows out of distribution: ``stat(sigma_out) / stat(sigma_in)``.

    Parameters
    ----------
    sigma_in : array_like
        Spreads on in-distribution data (e.g. a validation set like the training data).
    sigma_out : array_like
        Spreads on out-of-distribution data.
    statistic : {"median", "mean", "rms"}
        Summary of each set.

    Returns
    -------
    float
        ``> 1`` when the committee is less certain out of distribution.
    """
    stat = check_choice("statistic", statistic, ("median", "mean", "rms"))
    vals = []
    for name, x in (("sigma_in", sigma_in), ("sigma_out", sigma_out)):
        a = np.asarray(x, dtype=np.float64).ravel()
        if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0):
            raise ValueError(f"{name} must be a non-empty array of finite numbers > 0")
        vals.append(float(np.median(a)) if stat == "median" else float(np.mean(a))
                    if stat == "mean" else float(np.sqrt(np.mean(a * a))))
    return vals[1] / vals[0]


def calibration_report(errors: object, sigma: object, *, scale: float = 1.0) -> dict:
    """Every metric of this module for one set of errors and spreads.

    Parameters
    ----------
    errors, sigma : array_like
        Errors and predicted standard deviations (same shape, ``sigma > 0``).
    scale : float
        Factor applied to ``sigma`` first (a post-hoc scale fitted elsewhere; reported).

    Returns
    -------
    dict
        ``n``, ``scale``, ``rmse``, ``rms_sigma``, ``spearman`` (``nan`` if undefined),
        ``coverage_1sigma``, ``coverage_2sigma`` (with ``expected_1sigma`` and
        ``expected_2sigma``), ``nll``, ``miscalibration_area``, ``calibration_expected``,
        ``calibration_observed`` (lists, the default levels).
    """
    k = check_positive("scale", scale)
    e, s = _pair(errors, sigma)
    s = s * k
    try:
        rho = spearman(s, np.abs(e))
    except ValueError:
        rho = math.nan
    exp, obs = calibration_curve(e, s)
    return {"n": int(e.size), "scale": k, "rmse": float(np.sqrt(np.mean(e * e))),
            "rms_sigma": float(np.sqrt(np.mean(s * s))), "spearman": rho,
            "coverage_1sigma": coverage(e, s, 1.0), "expected_1sigma": ONE_SIGMA,
            "coverage_2sigma": coverage(e, s, 2.0), "expected_2sigma": TWO_SIGMA,
            "nll": gaussian_nll(e, s), "miscalibration_area": miscalibration_area(e, s),
            "calibration_expected": exp.tolist(), "calibration_observed": obs.tolist()}
