"""MCMC diagnostics: integrated autocorrelation time, effective sample size, split R-hat.

The package's one implementation (``langevin_opt.sgmcmc`` re-exports it).

Axis convention, for every function here: **chains first**, ``x`` has shape
``(n_chains, n_samples)`` for one scalar, or ``(n_chains, n_samples, n_params)``
for ``n_params`` scalars at once (then results have shape ``(n_params,)``).  A
1-D ``x`` is one chain.  Arrays recorded time first, such as
``ChainResult.samples`` ``(n_samples, n_chains, n_params)`` or a walker
observable ``(n_frames, n_walkers)``, are passed transposed
(``samples.transpose(1, 0, 2)``, ``series.T``).

* :func:`autocorr_time` — integrated autocorrelation time
  ``tau = 1 + 2 sum_{t>=1} rho(t)`` with Sokal's adaptive window (the smallest
  ``W`` with ``W >= c tau(W)``, ``c = 5``; Sokal 1997, as in ``emcee``).  The
  autocorrelation ``rho(t)`` is the chain-averaged autocovariance (each chain
  about its own mean, FFT) divided by its lag-0 value.
* :func:`ess` — ``C S / tau``.
* :func:`split_rhat` — rank-normalised split R-hat of Vehtari, Gelman, Simpson,
  Carpenter & Bürkner (Bayesian Analysis 16, 2021): chains are split in
  halves, draws are replaced by normal scores of their pooled ranks, and the
  Gelman–Rubin ratio ``sqrt(((S'-1)/S' W + B/S') / W)`` is taken for the
  bulk and for the folded draws ``|x - median|``; the maximum is returned.
  ``rank_normalize=False`` gives the classic split R-hat (Gelman et al.,
  BDA3) of the raw draws.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["autocorr_function", "autocorr_time", "ess", "split_rhat"]


def _as_chains(x: object) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[0] < 1 or a.shape[1] < 2:
        raise ValueError(f"x must have shape (S,), (C, S) or (C, S, P) with S >= 2, got "
                         f"{np.shape(x)}")
    if not np.all(np.isfinite(a)):
        raise ValueError("x must be finite")
    return a


def autocorr_function(x: object) -> np.ndarray:
    """Normalised autocorrelation function averaged over chains.

    Parameters
    ----------
    x : array_like, shape (S,), (C, S) or (C, S, P)
        Draws.

    Returns
    -------
    numpy.ndarray, shape (S, P)
        ``rho(t)`` for lags ``t = 0 … S-1`` (``rho(0) = 1``; a constant series
        gives ``rho = 0`` beyond lag 0).
    """
    a = _as_chains(x)
    S = a.shape[1]
    n = 1 << int(2 * S - 1).bit_length()
    d = a - a.mean(axis=1, keepdims=True)
    f = np.fft.rfft(d, n=n, axis=1)
    acov = np.fft.irfft(f * np.conj(f), n=n, axis=1)[:, :S].mean(axis=0)
    out = np.zeros_like(acov)
    ok = acov[0] > 0
    out[:, ok] = acov[:, ok] / acov[0, ok]
    out[0, :] = 1.0
    return out


def autocorr_time(x: object, c: float = 5.0) -> np.ndarray | float:
    """Integrated autocorrelation time with Sokal's adaptive window.

    Parameters
    ----------
    x : array_like, shape (S,), (C, S) or (C, S, P)
        Draws (steps between draws = 1 unit of ``tau``).
    c : float
        Window constant (window ``W`` = smallest lag with ``W >= c tau(W)``).

    Returns
    -------
    float or numpy.ndarray of shape (P,)
        ``tau >= 1/(2W+1)``; a float for 1-D/2-D input.  For an AR(1) process
        ``x_t = phi x_{t-1} + noise``, ``tau = (1 + phi) / (1 - phi)``.
    """
    rho = autocorr_function(x)
    taus = 2.0 * np.cumsum(rho, axis=0) - 1.0
    S = rho.shape[0]
    lags = np.arange(S)[:, None]
    ok = lags >= c * taus
    w = np.where(ok.any(axis=0), ok.argmax(axis=0), S - 1)
    tau = taus[w, np.arange(rho.shape[1])]
    tau = np.maximum(tau, 1.0 / (2 * w + 1))
    return float(tau[0]) if np.ndim(x) < 3 else tau


def ess(x: object, c: float = 5.0) -> np.ndarray | float:
    """Effective sample size ``C S / tau`` (see :func:`autocorr_time`).

    Parameters
    ----------
    x : array_like, shape (S,), (C, S) or (C, S, P)
        Draws.
    c : float
        Sokal window constant.

    Returns
    -------
    float or numpy.ndarray of shape (P,)
    """
    a = _as_chains(x)
    tau = autocorr_time(a, c)
    e = a.shape[0] * a.shape[1] / np.asarray(tau)
    return float(e[0]) if np.ndim(x) < 3 else e


def _rhat_raw(a: np.ndarray) -> np.ndarray:
    # a: (C2, S2, P), already split
    s2 = a.shape[1]
    means = a.mean(axis=1)
    w = a.var(axis=1, ddof=1).mean(axis=0)
    b = s2 * means.var(axis=0, ddof=1)
    var_plus = (s2 - 1) / s2 * w + b / s2
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sqrt(var_plus / w)
    return np.where(w > 0, r, np.where(b > 0, np.inf, 1.0))


def split_rhat(x: object, rank_normalize: bool = True) -> np.ndarray | float:
    """Split R-hat across chains (Vehtari et al. 2021, rank-normalised, or Gelman–Rubin split).

    Parameters
    ----------
    x : array_like, shape (C, S) or (C, S, P)
        Draws of ``C >= 1`` chains (each split into two halves), ``S >= 4``.
    rank_normalize : bool
        ``True``: max of the rank-normalised bulk and folded split R-hat
        (Vehtari et al. 2021).  ``False``: classic split R-hat of the raw draws.

    Returns
    -------
    float or numpy.ndarray of shape (P,)
        ≈ 1 for well-mixed chains; > 1.01–1.1 signals chains that disagree.
    """
    a = _as_chains(x)
    C, S, P = a.shape
    if S < 4:
        raise ValueError(f"split_rhat needs at least 4 draws per chain, got {S}")
    h = S // 2
    sp = np.concatenate([a[:, :h], a[:, S - h:]], axis=0)
    if not rank_normalize:
        r = _rhat_raw(sp)
    else:
        def z(v: np.ndarray) -> np.ndarray:
            flat = v.reshape(-1, P)
            ranks = stats.rankdata(flat, axis=0)
            return stats.norm.ppf((ranks - 0.375) / (flat.shape[0] + 0.25)).reshape(v.shape)

        bulk = _rhat_raw(z(sp))
        med = np.median(sp.reshape(-1, P), axis=0)
        tail = _rhat_raw(z(np.abs(sp - med)))
        r = np.maximum(bulk, tail)
    return float(r[0]) if np.ndim(x) < 3 else r
