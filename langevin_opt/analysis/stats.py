"""Goodness-of-fit test of binned samples against exact probabilities (chi-square)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..core.validation import check_choice, check_nonnegative

__all__ = ["ChiSquareResult", "chi_square_test"]


@dataclass(frozen=True)
class ChiSquareResult:
    """Outcome of :func:`chi_square_test`.

    Attributes
    ----------
    statistic : float
        Pearson ``X² = Σ (O - E)²/E`` (or ``G = 2 Σ O ln(O/E)``), scaled by
        ``n_effective / n``.
    dof : int
        Degrees of freedom, categories after pooling minus one.
    p_value : float
        Central chi-square upper tail probability of ``statistic``.
    threshold : float
        Rejection threshold: the ``1 - alpha`` quantile of the chi-square
        (non-central with ``noncentrality`` if a reference was given).
    alpha : float
        Significance level.
    noncentrality : float
        ``λ = n_eff Σ (r_i - p_i)²/p_i`` for the reference ``r`` (0 if none),
        plus any explicit allowance.
    n : int
        Number of samples.
    n_effective : float
        Effective number of independent samples.
    categories : int
        Number of categories after pooling.
    passed : bool
        ``statistic <= threshold``.
    """

    statistic: float
    dof: int
    p_value: float
    threshold: float
    alpha: float
    noncentrality: float
    n: int
    n_effective: float
    categories: int
    passed: bool


def chi_square_test(
    counts: np.ndarray,
    probabilities: np.ndarray,
    *,
    alpha: float = 1e-3,
    n_effective: float | None = None,
    reference: np.ndarray | None = None,
    noncentrality: float = 0.0,
    min_expected: float = 5.0,
    method: str = "pearson",
) -> ChiSquareResult:
    """Goodness-of-fit test of binned samples against exact probabilities.

    Categories whose expected count ``n_eff p_i`` is below ``min_expected``
    are pooled into one (and that one into its smallest neighbour in
    expected count if still too small), so the chi-square approximation holds.

    Correlated samples: with ``n`` samples drawn from a chain of statistical
    inefficiency ``g`` (see :func:`~langevin_opt.analysis.autocorr_time`), the
    multinomial variance is inflated by ``g``; passing
    ``n_effective = n / g`` rescales the statistic by ``n_eff/n`` so that it
    is again chi-square distributed.  Independent walkers at one frame have
    ``n_effective = n`` (the default).

    Known bias: for an unadjusted scheme whose stationary distribution is
    ``r`` (e.g. :func:`~langevin_opt.analysis.overdamped_bin_probabilities`), the statistic against
    ``p`` is non-central chi-square with ``λ = n_eff Σ (r_i - p_i)²/p_i``; the
    threshold is then that distribution's ``1 - alpha`` quantile.  This is the
    explicit, sample-size-derived allowance for the bias.

    Parameters
    ----------
    counts : array_like
        Observed counts per category (all samples, including an "outside"
        category if there is one).
    probabilities : array_like
        Exact probabilities of the same categories (summing to 1).
    alpha : float
        Significance level (false-alarm probability of the test).
    n_effective : float, optional
        Effective sample size (default ``n = Σ counts``).
    reference : array_like, optional
        Category probabilities the sampler is known to follow instead of
        ``probabilities`` (leading-order bias).
    noncentrality : float
        An additional allowance ``λ`` for a bias known only by its size (for
        example a bound ``n_eff Σ δ_i²/p_i`` on a bias ``δ``); added to the
        one from ``reference``.
    min_expected : float
        Smallest expected count of a category.
    method : {"pearson", "g"}
        Pearson ``X²`` or the likelihood-ratio ``G`` statistic.

    Returns
    -------
    ChiSquareResult
    """
    method = check_choice("method", method, ("pearson", "g"))
    o = np.asarray(counts, dtype=np.float64).ravel()
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    if o.shape != p.shape:
        raise ValueError(f"counts and probabilities differ in size: {o.size} vs {p.size}")
    if np.any(p < 0) or abs(p.sum() - 1.0) > 1e-6:
        raise ValueError(f"probabilities must be >= 0 and sum to 1 (sum {p.sum():.8g})")
    r = None if reference is None else np.asarray(reference, dtype=np.float64).ravel()
    if r is not None and r.shape != p.shape:
        raise ValueError("reference must have the shape of probabilities")
    n = float(o.sum())
    if n <= 0:
        raise ValueError("no samples")
    neff = n if n_effective is None else float(n_effective)
    scale = neff / n
    # pool small categories
    small = neff * p < min_expected
    groups = [np.array([i]) for i in np.flatnonzero(~small)]
    if small.any():
        groups.append(np.flatnonzero(small))
    oo = np.array([o[g].sum() for g in groups])
    pp = np.array([p[g].sum() for g in groups])
    rr = None if r is None else np.array([r[g].sum() for g in groups])
    if pp.size > 1 and neff * pp[-1] < min_expected and small.any():
        j = int(np.argmin(pp[:-1]))
        oo[j] += oo[-1]
        pp[j] += pp[-1]
        oo, pp = oo[:-1], pp[:-1]
        if rr is not None:
            rr[j] += rr[-1]
            rr = rr[:-1]
    k = pp.size
    if k < 2:
        raise ValueError("fewer than 2 categories after pooling; use more samples or bins")
    dof = k - 1
    e = n * pp
    if method == "pearson":
        stat = float(np.sum((oo - e) ** 2 / e))
    else:  # "g"
        with np.errstate(divide="ignore", invalid="ignore"):
            term = np.where(oo > 0, oo * np.log(oo / e), 0.0)
        stat = float(2.0 * np.sum(term))
    stat *= scale
    lam = 0.0 if rr is None else float(neff * np.sum((rr - pp) ** 2 / pp))
    lam += check_nonnegative("noncentrality", noncentrality)
    thr = float(stats.chi2.isf(alpha, dof)) if lam == 0.0 else float(stats.ncx2.isf(alpha, dof,
                                                                                      lam))
    pval = float(stats.chi2.sf(stat, dof))
    return ChiSquareResult(stat, dof, pval, thr, float(alpha), lam, int(n), neff, k,
                           bool(stat <= thr))
