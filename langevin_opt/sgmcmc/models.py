"""Bayesian regression models as :class:`~langevin_opt.datalandscape.DataLandscape` s.

Both models have a Gaussian prior ``w ~ N(0, prior_var I)`` on the ``d``
weights and per-example losses ``loss_i = -log p(y_i | x_i, w)`` (constants
dropped), so ``U(w) = sum_i loss_i(w) + |w|^2 / (2 prior_var)`` is ``-log`` of the
posterior up to a constant and ``T = 1`` samples the posterior.

* Linear regression, ``y_i = x_i . w + N(0, noise_var)``:
  ``loss_i = (y_i - x_i . w)^2 / (2 noise_var)``; the posterior is Gaussian
  with precision ``A = X^T X / noise_var + I / prior_var`` and mean
  ``A^-1 X^T y / noise_var`` (:func:`linear_regression_posterior`).
* Logistic regression, ``y_i in {0, 1}``, ``p(y=1) = sigmoid(x_i . w)``:
  ``loss_i = softplus(x_i . w) - y_i x_i . w``.

Data tuples: ``(X (N, d), y (N,), consts = [noise_var, prior_var], ints = [N, n])``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..core.validation import check_positive, check_seed
from ..datalandscape import MINIBATCH_IWORK, DataLandscape, minibatch

__all__ = ["linear_regression", "logistic_regression", "linear_regression_posterior",
           "make_linear_data", "make_logistic_data"]


@numba.njit(cache=True, inline="always")
def _linreg_example(X, y, i, theta, grad):
    # example i: subtracts X_i r from grad, returns r^2 (r = y_i - X_i . theta)
    r = y[i]
    for j in range(theta.shape[0]):
        r -= X[i, j] * theta[j]
    for j in range(theta.shape[0]):
        grad[j] -= X[i, j] * r
    return r * r


@numba.njit(cache=True)
def _linreg_grad(theta, data, fwork, iwork, seed, chain, step, grad):
    X, y, consts, ints = data
    n_data, bs = ints[0], ints[1]
    inv_nv = 1.0 / consts[0]
    inv_pv = 1.0 / consts[1]
    d = theta.shape[0]
    scale = n_data / bs
    for j in range(d):
        grad[j] = 0.0
    loss = 0.0
    if bs == n_data:
        for i in range(n_data):
            loss += _linreg_example(X, y, i, theta, grad)
    else:
        o = minibatch(seed, chain, step, n_data, bs, iwork)
        for b in range(bs):
            loss += _linreg_example(X, y, iwork[1 + o + b], theta, grad)
    u = 0.0
    for j in range(d):
        grad[j] = grad[j] * (scale * inv_nv) + theta[j] * inv_pv
        u += theta[j] * theta[j]
    return 0.5 * (loss * scale * inv_nv + u * inv_pv)


@numba.njit(cache=True)
def _linreg_full(theta, data, fwork, iwork, grad):
    X, y, consts, ints = data
    inv_nv = 1.0 / consts[0]
    inv_pv = 1.0 / consts[1]
    d = theta.shape[0]
    for j in range(d):
        grad[j] = 0.0
    loss = 0.0
    for i in range(ints[0]):
        loss += _linreg_example(X, y, i, theta, grad)
    u = 0.0
    for j in range(d):
        grad[j] = grad[j] * inv_nv + theta[j] * inv_pv
        u += theta[j] * theta[j]
    return 0.5 * (loss * inv_nv + u * inv_pv)


@numba.njit(cache=True, inline="always")
def _softplus(a):
    if a > 0.0:
        return a + math.log1p(math.exp(-a))
    return math.log1p(math.exp(a))


@numba.njit(cache=True, inline="always")
def _sigmoid(a):
    if a >= 0.0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


@numba.njit(cache=True, inline="always")
def _logreg_example(X, y, i, theta, grad, w):
    a = 0.0
    for j in range(theta.shape[0]):
        a += X[i, j] * theta[j]
    r = _sigmoid(a) - y[i]
    for j in range(theta.shape[0]):
        grad[j] += w * r * X[i, j]
    return _softplus(a) - y[i] * a


@numba.njit(cache=True)
def _logreg_grad(theta, data, fwork, iwork, seed, chain, step, grad):
    X, y, consts, ints = data
    n_data, bs = ints[0], ints[1]
    inv_pv = 1.0 / consts[1]
    d = theta.shape[0]
    scale = n_data / bs
    for j in range(d):
        grad[j] = 0.0
    loss = 0.0
    if bs == n_data:
        for i in range(n_data):
            loss += _logreg_example(X, y, i, theta, grad, 1.0)
    else:
        o = minibatch(seed, chain, step, n_data, bs, iwork)
        for b in range(bs):
            loss += _logreg_example(X, y, iwork[1 + o + b], theta, grad, scale)
        loss *= scale
    u = 0.0
    for j in range(d):
        grad[j] += theta[j] * inv_pv
        u += theta[j] * theta[j]
    return loss + 0.5 * u * inv_pv


@numba.njit(cache=True)
def _logreg_full(theta, data, fwork, iwork, grad):
    X, y, consts, ints = data
    inv_pv = 1.0 / consts[1]
    d = theta.shape[0]
    for j in range(d):
        grad[j] = 0.0
    loss = 0.0
    for i in range(ints[0]):
        loss += _logreg_example(X, y, i, theta, grad, 1.0)
    u = 0.0
    for j in range(d):
        grad[j] += theta[j] * inv_pv
        u += theta[j] * theta[j]
    return loss + 0.5 * u * inv_pv


def _check_xy(X: object, y: object, batch_size: int | None,
              prior_var: float) -> tuple[np.ndarray, np.ndarray, int]:
    Xa = np.ascontiguousarray(X, dtype=np.float64)
    ya = np.ascontiguousarray(y, dtype=np.float64)
    if Xa.ndim != 2 or Xa.shape[0] < 1 or Xa.shape[1] < 1:
        raise ValueError(f"X must have shape (N, d) with N, d >= 1, got {Xa.shape}")
    if ya.shape != (Xa.shape[0],):
        raise ValueError(f"y must have shape ({Xa.shape[0]},), got {ya.shape}")
    if not (np.all(np.isfinite(Xa)) and np.all(np.isfinite(ya))):
        raise ValueError("X and y must be finite")
    check_positive("prior_var", prior_var)
    n = Xa.shape[0] if batch_size is None else batch_size
    return Xa, ya, int(n)


def linear_regression(X: np.ndarray, y: np.ndarray, *, noise_var: float = 1.0,
                      prior_var: float = 1.0, batch_size: int | None = None,
                      name: str = "linear_regression") -> DataLandscape:
    """Bayesian linear regression as a data landscape.

    Parameters
    ----------
    X : array_like, shape (N, d)
        Inputs (design matrix).
    y : array_like, shape (N,)
        Targets.
    noise_var : float
        Observation noise variance (> 0).
    prior_var : float
        Prior variance of every weight (> 0).
    batch_size : int, optional
        Minibatch size ``n`` (default ``N``: full batch).
    name : str
        Landscape name.

    Returns
    -------
    DataLandscape
        ``n_params = d``; energy ``U(w) = sum_i (y_i - x_i.w)^2 / (2 noise_var)
        + |w|^2 / (2 prior_var)``.
    """
    Xa, ya, n = _check_xy(X, y, batch_size, prior_var)
    check_positive("noise_var", noise_var)
    data = (Xa, ya, np.array([float(noise_var), float(prior_var)]),
            np.array([Xa.shape[0], n], dtype=np.int64))
    return DataLandscape(name, Xa.shape[1], Xa.shape[0], n, data, 0,
                         MINIBATCH_IWORK(Xa.shape[0]), _linreg_grad, _linreg_full)


def linear_regression_posterior(X: np.ndarray, y: np.ndarray, *, noise_var: float = 1.0,
                                prior_var: float = 1.0,
                                temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form target ``exp(-U/T)`` of :func:`linear_regression` (Gaussian).

    Parameters
    ----------
    X : array_like, shape (N, d)
    y : array_like, shape (N,)
    noise_var, prior_var : float
        As in :func:`linear_regression`.
    temperature : float
        ``T`` (``1`` = the Bayesian posterior).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Mean, shape ``(d,)``, and covariance ``T A^-1``, shape ``(d, d)``, with
        ``A = X^T X / noise_var + I / prior_var``.
    """
    Xa = np.asarray(X, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    prec = Xa.T @ Xa / noise_var + np.eye(Xa.shape[1]) / prior_var
    cov = np.linalg.inv(prec)
    return cov @ (Xa.T @ ya) / noise_var, temperature * cov


def logistic_regression(X: np.ndarray, y: np.ndarray, *, prior_var: float = 1.0,
                        batch_size: int | None = None,
                        name: str = "logistic_regression") -> DataLandscape:
    """Bayesian logistic regression as a data landscape.

    Parameters
    ----------
    X : array_like, shape (N, d)
        Inputs (add a column of ones for an intercept).
    y : array_like, shape (N,)
        Labels in {0, 1}.
    prior_var : float
        Prior variance of every weight (> 0).
    batch_size : int, optional
        Minibatch size (default ``N``).
    name : str
        Landscape name.

    Returns
    -------
    DataLandscape
        Energy ``U(w) = sum_i [softplus(x_i.w) - y_i x_i.w] + |w|^2 / (2 prior_var)``.
    """
    Xa, ya, n = _check_xy(X, y, batch_size, prior_var)
    if not np.all((ya == 0) | (ya == 1)):
        raise ValueError("y must hold labels 0 or 1")
    data = (Xa, ya, np.array([1.0, float(prior_var)]),
            np.array([Xa.shape[0], n], dtype=np.int64))
    return DataLandscape(name, Xa.shape[1], Xa.shape[0], n, data, 0,
                         MINIBATCH_IWORK(Xa.shape[0]), _logreg_grad, _logreg_full)


def _design(n_data: int, w_true: np.ndarray, seed: object
            ) -> tuple[np.random.Generator, np.ndarray, np.ndarray]:
    """The generator, the true weights and a standard-normal design ``X`` (N, d)."""
    rng = np.random.default_rng(check_seed(seed))
    w = np.asarray(w_true, dtype=np.float64)
    return rng, w, rng.standard_normal((n_data, w.size))


def make_linear_data(n_data: int, w_true: np.ndarray, *, noise_var: float = 1.0,
                     seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic linear-regression data: ``X ~ N(0, I)``, ``y = X w + N(0, noise_var)``.

    Parameters
    ----------
    n_data : int
        ``N``.
    w_true : array_like, shape (d,)
        True weights.
    noise_var : float
        Noise variance.
    seed : int
        NumPy generator seed (keyword only, required).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``X`` of shape ``(N, d)`` and ``y`` of shape ``(N,)``.
    """
    rng, w, X = _design(n_data, w_true, seed)
    return X, X @ w + math.sqrt(noise_var) * rng.standard_normal(n_data)


def make_logistic_data(n_data: int, w_true: np.ndarray, *,
                       seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic logistic-regression data: ``X ~ N(0, I)``, ``y ~ Bernoulli(sigmoid(X w))``.

    Parameters
    ----------
    n_data : int
        ``N``.
    w_true : array_like, shape (d,)
        True weights.
    seed : int
        NumPy generator seed (keyword only, required).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``X`` of shape ``(N, d)`` and labels ``y`` in {0, 1} of shape ``(N,)``.
    """
    rng, w, X = _design(n_data, w_true, seed)
    p = 1.0 / (1.0 + np.exp(-(X @ w)))
    return X, (rng.random(n_data) < p).astype(np.float64)
