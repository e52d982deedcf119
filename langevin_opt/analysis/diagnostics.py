"""MCMC diagnostics after Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021).

The package's one implementation of autocorrelation, effective sample size (ESS),
R-hat and Monte Carlo standard error (``langevin_opt.sgmcmc`` re-exports it).  The
numbers agree with ArviZ (``arviz.rhat``, ``arviz.ess``, ``arviz.mcse``) to
rounding (tested to ``1e-8``), without importing ArviZ.

Axis convention, for every function here: **(chain, draw, ...)**.  ``x`` has shape
``(n_chains, n_draws)`` for one scalar quantity or ``(n_chains, n_draws, *shape)``
for several at once (results then have shape ``shape``); a 1-D ``x`` is one chain.

This is the package's one convention for arrays of draws held in memory: **arrays
of draws are (chain, draw, ...)**.  ``ChainResult.samples`` ``(C, S, P)`` and
``ChainResult.energies`` ``(C, S)`` of :func:`langevin_opt.sgmcmc.run_chains` go
straight into these functions (``ChainResult.chains`` / ``energy_chains`` are aliases
of the same arrays), and so do the posterior committees' monitored predictions.  H5MD
files are **(frame, item, ...)** by the format (``/particles/<group>/position/value``);
a result that mirrors a recorded trajectory keeps that layout and offers the
chain-first view: ``Trajectory.positions`` ``(F, M, d)`` of a walker ensemble, with
``Trajectory.chains`` ``(M, F, d)`` and ``Trajectory.energy_chains`` ``(M, F)``.

* :func:`rhat` — rank-normalised split R-hat (``method="rank"``, the default): the
  chains are split in halves, draws replaced by the normal scores of their pooled
  ranks (Blom's ``(r - 3/8) / (N + 1/4)``), and the Gelman–Rubin ratio
  ``sqrt((B/W + S - 1) / S)`` is taken for the bulk and for the folded draws
  ``|x - median|``; the larger one is returned.  ``"split"``, ``"folded"``,
  ``"z_scale"`` and ``"identity"`` give the parts.  Unlike ArviZ, which returns NaN
  for a single chain, one chain is split in two and checked for drift.
* :func:`ess` — ``C S / tau`` of the split chains with ``tau = -1 + 2 sum rho(t)``
  from Geyer's initial positive and initial monotone sequences.  The autocorrelation
  is ``rho(t) = 1 - (W - mean_c acov_c(t)) / var+`` with ``var+ = (S-1)/S W + B/S``,
  so disagreement *between* chains lowers the ESS: four chains, one shifted by
  ``3 sigma``, give a bulk ESS near 20, not near the number of draws.
  ``"bulk"`` (rank-normalised), ``"tail"`` (the smaller of the 5% and 95% quantile
  ESS), ``"mean"``, ``"sd"`` and ``"quantile"``.
* :func:`mcse` — Monte Carlo standard error of the mean (``sd / sqrt(ESS_mean)``), of
  the standard deviation, or of a quantile (from the quantile ESS and Beta quantiles).
* :func:`split_rhat` — the former name: ``rhat(x, "rank")``, or ``rhat(x, "split")``
  with ``rank_normalize=False``.
* :func:`autocorr_function`, :func:`autocorr_time` — the chain-averaged
  autocorrelation ``rho(t)`` (each chain about its own mean, FFT) and the
  integrated autocorrelation time ``tau = 1 + 2 sum_{t>=1} rho(t)`` with Sokal's
  adaptive window (``W >= c tau(W)``, ``c = 5``).  ``tau`` is a property of the
  dynamics *within* chains (used to thin); it does not see chains that disagree.
  For how many independent draws the chains are worth, use :func:`ess`.

Reference: A. Vehtari, A. Gelman, D. Simpson, B. Carpenter, P.-C. Bürkner,
"Rank-normalization, folding, and localization: an improved R-hat for assessing
convergence of MCMC", Bayesian Analysis 16 (2021) 667-718.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as _fft
from scipy import stats

from ..core.validation import check_choice

__all__ = ["autocorr_function", "autocorr_time", "ess", "mcse", "rhat", "split_rhat"]

RHAT_METHODS = ("rank", "split", "folded", "z_scale", "identity")
ESS_METHODS = ("bulk", "tail", "mean", "sd", "quantile")
MCSE_METHODS = ("mean", "sd", "quantile")


def _as_chains(x: object, min_draws: int = 2, name: str = "x") -> tuple[np.ndarray, tuple]:
    """``x`` as a float array ``(C, S, P)`` and the trailing shape of the results."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim < 2 or a.shape[0] < 1 or a.shape[1] < min_draws or 0 in a.shape[2:]:
        raise ValueError(f"{name} must have shape (draws,), (chains, draws) or (chains, draws, "
                         f"...) with at least {min_draws} draws, got {np.shape(x)}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    tail = a.shape[2:]
    return a.reshape(a.shape[0], a.shape[1], -1), tail


def _shape_out(r: np.ndarray, x: object, tail: tuple) -> np.ndarray | float:
    return float(r[0]) if np.ndim(x) < 3 else r.reshape(tail)


def _split(a: np.ndarray) -> np.ndarray:
    """Chains ``(C, S, P)`` split in halves ``(2C, S // 2, P)`` (middle draw dropped if S odd)."""
    h = a.shape[1] // 2
    return np.concatenate([a[:, :h], a[:, a.shape[1] - h:]], axis=0)


def _z_scale(a: np.ndarray) -> np.ndarray:
    """Normal scores of the pooled ranks (average ties), per parameter."""
    flat = a.reshape(-1, a.shape[2])
    ranks = stats.rankdata(flat, method="average", axis=0)
    return stats.norm.ppf((ranks - 0.375) / (flat.shape[0] + 0.25)).reshape(a.shape)


def _autocov(a: np.ndarray) -> np.ndarray:
    """Autocovariance of every chain about its own mean, ``(C, S, P)``, divided by ``S``."""
    S = a.shape[1]
    m = _fft.next_fast_len(2 * S)
    d = a - a.mean(axis=1, keepdims=True)
    f = np.fft.rfft(d, n=m, axis=1)
    return np.fft.irfft(f * np.conj(f), n=m, axis=1)[:, :S] / S


def _geyer_tau(rho: np.ndarray) -> float:
    """``tau = -1 + 2 sum rho`` truncated by Geyer's initial positive and monotone sequences.

    ``rho`` are the multi-chain autocorrelations ``rho(t)`` for ``t = 0 … S-1``;
    the loop follows Stan and ArviZ exactly (including their treatment of the last pair).
    """
    n = rho.size
    r = np.zeros(n)
    r[0] = even = 1.0
    r[1] = odd = rho[1]
    t = 1
    while t < n - 3 and even + odd > 0.0:
        even, odd = rho[t + 1], rho[t + 2]
        if even + odd >= 0:
            r[t + 1], r[t + 2] = even, odd
        t += 2
    max_t = t - 2
    if even > 0:
        r[max_t + 1] = even
    t = 1
    while t <= max_t - 2:
        if r[t + 1] + r[t + 2] > r[t - 1] + r[t]:
            r[t + 1] = r[t + 2] = (r[t - 1] + r[t]) / 2.0
        t += 2
    return float(-1.0 + 2.0 * np.sum(r[:max_t + 1]) + np.sum(r[max_t + 1:max_t + 2]))


def _ess_core(a: np.ndarray, relative: bool = False) -> np.ndarray:
    """ESS of chains ``(C, S, P)`` as given (no split), one value per parameter."""
    C, S, P = a.shape
    out = np.empty(P)
    span = a.max(axis=(0, 1)) - a.min(axis=(0, 1))
    acov = _autocov(a).mean(axis=0)  # (S, P)
    chain_mean = a.mean(axis=1)
    mean_var = acov[0] * S / (S - 1.0)
    var_plus = mean_var * (S - 1.0) / S
    if C > 1:
        var_plus = var_plus + chain_mean.var(axis=0, ddof=1)
    n = C * S
    for p in range(P):
        if span[p] < np.finfo(float).resolution:
            out[p] = 1.0 if relative else float(n)
            continue
        rho = 1.0 - (mean_var[p] - acov[:, p]) / var_plus[p]
        tau = max(_geyer_tau(rho), 1.0 / np.log10(n))
        out[p] = (1.0 if relative else n) / tau
    return out


def _quantile_ess(a: np.ndarray, prob: float, relative: bool) -> np.ndarray:
    q = np.quantile(a.reshape(-1, a.shape[2]), prob, axis=0)
    return _ess_core(_split((a <= q).astype(np.float64)), relative)


def _check_prob(prob: object) -> float:
    try:
        p = float(prob)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"prob must be a number in (0, 1), got {type(prob).__name__}") from None
    if not 0.0 < p < 1.0:
        raise ValueError(f"prob must be a number in (0, 1), got {prob!r}")
    return p


def ess(x: object, method: str = "bulk", *, prob: float | None = None,
        relative: bool = False) -> np.ndarray | float:
    """Effective sample size of multi-chain draws (Vehtari et al. 2021; as ``arviz.ess``).

    Parameters
    ----------
    x : array_like, shape (S,), (C, S) or (C, S, ...)
        Draws, chains first; ``S >= 4``.
    method : {"bulk", "tail", "mean", "sd", "quantile"}
        ``"bulk"``: ESS of the rank-normalised split chains (the default, for
        means and medians); ``"tail"``: the smaller ESS of the indicators
        ``x <= q05`` and ``x <= q95`` (``prob`` overrides 0.05); ``"mean"``: of
        the raw split chains; ``"sd"``: of ``(x - mean)^2``; ``"quantile"``: of
        ``x <= q_prob`` (``prob`` required).
    prob : float, optional
        Quantile probability in (0, 1) for ``"quantile"`` and ``"tail"``.
    relative : bool
        Return ESS per draw used instead, ``ESS / (2 C floor(S/2))`` (the split
        drops the middle draw of an odd ``S``).

    Returns
    -------
    float or numpy.ndarray of shape ``x.shape[2:]``
        A float for 1-D and 2-D input.  Between-chain disagreement lowers it
        (``var+`` includes the variance of the chain means).
    """
    method = check_choice("method", method, ESS_METHODS)
    a, tail = _as_chains(x, 4)
    if method == "bulk":
        r = _ess_core(_z_scale(_split(a)), relative)
    elif method == "mean":
        r = _ess_core(_split(a), relative)
    elif method == "sd":
        r = _ess_core(_split((a - a.mean(axis=(0, 1))) ** 2), relative)
    elif method == "quantile":
        if prob is None:
            raise ValueError("prob must be given for method='quantile'")
        r = _quantile_ess(a, _check_prob(prob), relative)
    else:  # tail
        lo = 0.05 if prob is None else _check_prob(prob)
        r = np.minimum(_quantile_ess(a, lo, relative), _quantile_ess(a, 1.0 - lo, relative))
    return _shape_out(r, x, tail)


def _rhat_core(a: np.ndarray) -> np.ndarray:
    # a: (C, S, P) with C >= 2; sqrt((B/W + S - 1) / S), B = S var(chain means)
    S = a.shape[1]
    between = S * a.mean(axis=1).var(axis=0, ddof=1)
    within = a.var(axis=1, ddof=1).mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sqrt((between / within + S - 1.0) / S)
    return np.where(within > 0, r, np.where(between > 0, np.inf, 1.0))


def rhat(x: object, method: str = "rank") -> np.ndarray | float:
    """R-hat across chains (Vehtari et al. 2021; as ``arviz.rhat``).

    Parameters
    ----------
    x : array_like, shape (S,), (C, S) or (C, S, ...)
        Draws, chains first, ``S >= 4``.  One chain is split in two (ArviZ
        returns NaN for one chain); ``"identity"`` needs ``C >= 2``.
    method : {"rank", "split", "folded", "z_scale", "identity"}
        ``"rank"``: the larger of the rank-normalised split R-hat of the bulk and
        of the folded draws ``|x - median|`` (the default and the recommended
        check); ``"split"``: classic split R-hat of the raw draws (Gelman et al.,
        BDA3); ``"folded"``, ``"z_scale"``: the two halves of ``"rank"``;
        ``"identity"``: the unsplit Gelman–Rubin R-hat.

    Returns
    -------
    float or numpy.ndarray of shape ``x.shape[2:]``
        About 1 for chains that agree; above 1.01 signals chains that disagree or
        drift.  Constant chains give 1 (equal) or ``inf`` (different constants).
    """
    method = check_choice("method", method, RHAT_METHODS)
    a, tail = _as_chains(x, 4)
    if method == "identity":
        if a.shape[0] < 2:
            raise ValueError(f"rhat(method='identity') needs at least 2 chains, got {a.shape[0]}")
        r = _rhat_core(a)
    else:
        sp = _split(a)
        if method == "split":
            r = _rhat_core(sp)
        else:
            folded = _z_scale(np.abs(sp - np.median(sp.reshape(-1, sp.shape[2]), axis=0)))
            if method == "folded":
                r = _rhat_core(folded)
            elif method == "z_scale":
                r = _rhat_core(_z_scale(sp))
            else:
                r = np.maximum(_rhat_core(_z_scale(sp)), _rhat_core(folded))
    return _shape_out(r, x, tail)


def split_rhat(x: object, rank_normalize: bool = True) -> np.ndarray | float:
    """Split R-hat (the former name): ``rhat(x, "rank")``, or ``rhat(x, "split")``.

    Parameters
    ----------
    x : array_like, shape (S,), (C, S) or (C, S, ...)
        Draws, chains first, ``S >= 4``.
    rank_normalize : bool
        ``True``: rank-normalised bulk/folded R-hat; ``False``: classic split R-hat.

    Returns
    -------
    float or numpy.ndarray of shape ``x.shape[2:]``
    """
    return rhat(x, "rank" if rank_normalize else "split")


def mcse(x: object, method: str = "mean", *, prob: float | None = None) -> np.ndarray | float:
    """Monte Carlo standard error (as ``arviz.mcse``).

    Parameters
    ----------
    x : array_like, shape (S,), (C, S) or (C, S, ...)
        Draws, chains first, ``S >= 4``.
    method : {"mean", "sd", "quantile"}
        Error of the posterior mean (``sd / sqrt(ess(x, "mean"))``), of the
        standard deviation, or of the ``prob`` quantile (half the distance between
        the draws at the ``Beta(ESS p + 1, ESS (1-p) + 1)`` 16% and 84% points,
        ESS of the indicator ``x <= q_p``).
    prob : float, optional
        Quantile probability in (0, 1); required for ``"quantile"``.

    Returns
    -------
    float or numpy.ndarray of shape ``x.shape[2:]``
        In the units of ``x``.
    """
    method = check_choice("method", method, MCSE_METHODS)
    a, tail = _as_chains(x, 4)
    flat = a.reshape(-1, a.shape[2])
    if method == "mean":
        r = flat.std(axis=0, ddof=1) / np.sqrt(_ess_core(_split(a)))
    elif method == "sd":
        c2 = (a - a.mean(axis=(0, 1))) ** 2
        e = _ess_core(_split(c2))
        ev = c2.reshape(flat.shape).mean(axis=0)
        varvar = ((c2.reshape(flat.shape) ** 2).mean(axis=0) - ev**2) / e
        r = np.sqrt(varvar / ev / 4)
    else:
        if prob is None:
            raise ValueError("prob must be given for method='quantile'")
        p = _check_prob(prob)
        e = _quantile_ess(a, p, False)
        srt = np.sort(flat, axis=0)
        n = srt.shape[0]
        r = np.empty(a.shape[2])
        for j in range(a.shape[2]):
            lo, hi = stats.beta.ppf([0.1586553, 0.8413447], e[j] * p + 1, e[j] * (1 - p) + 1)
            i1 = int(np.floor(max(lo * n - 1, 0)))
            i2 = int(np.ceil(min(hi * n - 1, n - 1)))
            r[j] = (srt[i2, j] - srt[i1, j]) / 2
    return _shape_out(r, x, tail)


def autocorr_function(x: object) -> np.ndarray:
    """Normalised autocorrelation function averaged over chains.

    Parameters
    ----------
    x : array_like, shape (S,), (C, S) or (C, S, ...)
        Draws, chains first.

    Returns
    -------
    numpy.ndarray, shape (S, P)
        ``rho(t)`` for lags ``t = 0 … S-1`` and the ``P`` flattened trailing
        components (``rho(0) = 1``; a constant series gives ``rho = 0`` beyond
        lag 0).  Each chain is taken about its own mean: this is the within-chain
        autocorrelation.
    """
    a, _ = _as_chains(x)
    acov = _autocov(a).mean(axis=0)
    out = np.zeros_like(acov)
    ok = acov[0] > 0
    out[:, ok] = acov[:, ok] / acov[0, ok]
    out[0, :] = 1.0
    return out


def autocorr_time(x: object, c: float = 5.0) -> np.ndarray | float:
    """Within-chain integrated autocorrelation time with Sokal's adaptive window.

    Parameters
    ----------
    x : array_like, shape (S,), (C, S) or (C, S, ...)
        Draws, chains first (steps between draws = 1 unit of ``tau``).
    c : float
        Window constant (window ``W`` = smallest lag with ``W >= c tau(W)``).

    Returns
    -------
    float or numpy.ndarray of shape ``x.shape[2:]``
        ``tau >= 1/(2W+1)``; a float for 1-D/2-D input.  For an AR(1) process
        ``x_t = phi x_{t-1} + noise``, ``tau = (1 + phi) / (1 - phi)``.  It
        measures mixing within chains only; chains stuck in different modes can
        have a small ``tau`` and a tiny :func:`ess`.
    """
    a, tail = _as_chains(x)
    rho = autocorr_function(a)
    taus = 2.0 * np.cumsum(rho, axis=0) - 1.0
    S = rho.shape[0]
    lags = np.arange(S)[:, None]
    ok = lags >= c * taus
    w = np.where(ok.any(axis=0), ok.argmax(axis=0), S - 1)
    tau = taus[w, np.arange(rho.shape[1])]
    tau = np.maximum(tau, 1.0 / (2 * w + 1))
    return _shape_out(tau, x, tail)
