"""The figures of ``langevin-opt arrhenius``: ``ln k`` against ``1/T``, or SGD escape rates."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from . import _base

__all__ = ["arrhenius_plot", "sgd_rate_plot"]


def arrhenius_plot(path: str | None, temperatures: Sequence[float], rates: Sequence[float],
                   rate_ci: Sequence[Sequence[float]] | None = None, *,
                   fit: Any = None,
                   theory: Mapping[str, Callable[[np.ndarray], np.ndarray]] | None = None,
                   title: str = "") -> object:
    """The Arrhenius plot: ``ln k`` against ``1/T`` with intervals, fit and theory lines.

    Parameters
    ----------
    path : str or None
        PNG file to write (``None``: only return the figure).
    temperatures : array_like, shape (n_T,)
        Temperatures.
    rates : array_like, shape (n_T,)
        Measured rates (non-positive ones are drawn as upper limits at the CI top).
    rate_ci : array_like, shape (n_T, 2), optional
        Confidence intervals of the rates.
    fit : ArrheniusFit, optional
        :func:`langevin_opt.rates.arrhenius_fit` result, drawn as a line with its
        barrier in the legend (this module imports nothing from ``rates``).
    theory : mapping of str to callable, optional
        Name -> ``k(T)`` (vectorised) drawn as lines.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _base.plt()
    t = np.asarray(temperatures, dtype=np.float64)
    k = np.asarray(rates, dtype=np.float64)
    x = 1.0 / t
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    xs = np.linspace(x.min() * 0.97, x.max() * 1.03, 200)
    styles = ["--", ":", "-.", (0, (5, 1, 1, 1))]
    for i, (name, fn) in enumerate((theory or {}).items()):
        ax.plot(xs, np.log(np.asarray(fn(1.0 / xs), dtype=np.float64)), ls=styles[i % 4],
                color=f"C{i + 1}", label=name)
    if fit is not None:
        lo_, hi_ = fit.barrier_ci
        ax.plot(xs, fit.log_prefactor - fit.barrier * xs, color="C0", lw=1.2,
                label=f"fit: ΔU = {fit.barrier:.4g} [{lo_:.4g}, {hi_:.4g}]")
    ok = k > 0
    if rate_ci is not None:
        ci = np.asarray(rate_ci, dtype=np.float64).reshape(-1, 2)
        lo_e = np.log(k[ok]) - np.log(np.maximum(ci[ok, 0], 1e-300))
        hi_e = np.log(ci[ok, 1]) - np.log(k[ok])
        ax.errorbar(x[ok], np.log(k[ok]), yerr=[lo_e, hi_e], fmt="o", color="k", ms=4,
                    capsize=2, label="simulation (95% CI)")
        if (~ok).any():
            ax.plot(x[~ok], np.log(ci[~ok, 1]), "v", color="k", label="no escape (upper limit)")
    else:
        ax.plot(x[ok], np.log(k[ok]), "o", color="k", ms=4, label="simulation")
    ax.set_xlabel("1 / T")
    ax.set_ylabel("ln k")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig


def sgd_rate_plot(path: str | None, learning_rates: Sequence[float], batch_sizes: Sequence[int],
                  rates: Sequence[float], rate_ci: Sequence[Sequence[float]] | None = None, *,
                  title: str = "") -> object:
    """SGD escape rates against the batch size, one curve per learning rate.

    Parameters
    ----------
    path : str or None
        PNG file to write (``None``: only return the figure).
    learning_rates : array_like, shape (n,)
        Learning rate of every setting.
    batch_sizes : array_like of int, shape (n,)
        Batch size of every setting.
    rates : array_like, shape (n,)
        Measured rates (inverse time, ``t = learning_rate * steps``); non-positive ones
        are drawn as upper limits at the CI top.
    rate_ci : array_like, shape (n, 2), optional
        Confidence intervals of the rates.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _base.plt()
    lr = np.asarray(learning_rates, dtype=np.float64)
    b = np.asarray(batch_sizes, dtype=np.float64)
    k = np.asarray(rates, dtype=np.float64)
    ci = None if rate_ci is None else np.asarray(rate_ci, dtype=np.float64).reshape(-1, 2)
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    for i, eta in enumerate(np.unique(lr)):
        m = lr == eta
        order = np.argsort(b[m])
        bb, kk = b[m][order], k[m][order]
        ok = kk > 0
        color = f"C{i}"
        if ci is not None:
            cc = ci[m][order]
            ax.errorbar(bb[ok], kk[ok], yerr=[kk[ok] - cc[ok, 0], cc[ok, 1] - kk[ok]],
                        fmt="o-", color=color, ms=4, capsize=2, label=f"learning rate {eta:.3g}")
            if (~ok).any():
                ax.plot(bb[~ok], cc[~ok, 1], "v", color=color)
        else:
            ax.plot(bb[ok], kk[ok], "o-", color=color, ms=4, label=f"learning rate {eta:.3g}")
    ax.set_xscale("log")
    ticks = np.unique(b)
    ax.set_xticks(ticks, [str(int(t)) for t in ticks])
    ax.set_xticks([], minor=True)
    if np.any(k > 0):
        ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("escape rate k (1 / (learning rate × steps))")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
