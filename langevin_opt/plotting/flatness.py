"""The flatness figure: SGLD temperature ladder, minima measures against ``T``.

Drawn from the per-chain arrays of
:func:`langevin_opt.nn.experiment.temperature_ladder_experiment` and the
statistics of :func:`langevin_opt.nn.experiment.analyse`
(``paper/figures/fig_flatness.py`` runs or loads them and calls this).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import _base

__all__ = ["flatness_figure"]


def _strip(ax: Any, x: np.ndarray, y: np.ndarray, color: str, label: str | None = None) -> None:
    """Per-chain points (jittered) and the median per temperature rung."""
    K = int(x.max()) + 1
    rng = np.random.default_rng(0)
    jit = rng.uniform(-0.18, 0.18, x.size)
    ok = np.isfinite(y)
    ax.plot(x[ok] + jit[ok], y[ok], "o", ms=3.5, alpha=0.55, color=color, mec="none")
    med = [np.nanmedian(y[x == k]) if np.any(np.isfinite(y[x == k])) else np.nan
           for k in range(K)]
    ax.plot(range(K), med, "-", lw=2, color=color, label=label)


def flatness_figure(res: Mapping, stats: Mapping, verdict: str, path: str | Path,
                    title: str) -> Path:
    """Draw the panels against the temperature rungs and save ``out``.

    Parameters
    ----------
    res : dict
        Per-chain arrays of the experiment (or of its ``.npz`` cache).
    stats : dict
        :func:`~langevin_opt.nn.experiment.analyse` statistics.
    verdict : str
        One-sentence verdict (the title).
    path : str or Path
        Figure file (format from the extension).
    title : str
        Experiment name.

    Returns
    -------
    Path
        The written file.
    """
    plt = _base.plt()
    T = np.asarray(res["temperature"], float)
    temps = np.asarray(res["temperatures"], float)
    x = np.searchsorted(temps, T).astype(float)
    N = float(res["n_train"])

    def rho(m: str) -> str:
        s = stats.get(m, {})
        return f"ρ = {s.get('rho', np.nan):+.2f}, p = {s.get('p', np.nan):.2g}"

    panels = [
        ("train_loss", np.asarray(res["train_loss"]), "training loss at the minimum\n"
         "(mean per example)"),
        ("test_loss", np.asarray(res["test_loss"]), "test loss (mean per example)"),
        ("test_accuracy", np.asarray(res["test_accuracy"]), "test accuracy"),
        ("hessian_trace", np.asarray(res["hessian_trace"]) / N, "Hessian trace / N\n"
         "(mean-loss units)"),
        ("top_eigenvalue", np.asarray(res["top_eigenvalue"]) / N,
         "top Hessian eigenvalue / N\n(mean-loss units)"),
    ]
    bw = np.asarray(res.get("basin_width", np.full(T.size, np.nan)), float)
    if np.any(np.isfinite(bw)):
        panels.append(("basin_width", bw, "basin width (median over\nrandom directions)"))
    if not np.any(np.isfinite(np.asarray(res["test_accuracy"], float))):
        panels = [p for p in panels if p[0] != "test_accuracy"]
    n = len(panels) + 1
    ncol = 4 if n > 6 else 3
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.5 * nrow + 0.9))
    axes = np.atleast_1d(axes).ravel()
    labels = [("0" if t == 0 else f"{t:g}") for t in temps]
    for ax, (m, y, ylab) in zip(axes, panels, strict=False):
        _strip(ax, x, y, "C0", label="minimum (after T = 0 quench)")
        if m + "_sgld" in res:
            _strip(ax, x, np.asarray(res[m + "_sgld"], float), "C1",
                   label="SGLD state before the quench")
            if m != "test_accuracy":
                ax.set_yscale("log")
            ax.legend(fontsize=7, loc="best")
        ax.set_xticks(range(temps.size), labels)
        ax.set_xlabel("temperature T (U units; mean-loss T = T / N)", fontsize=8)
        ax.set_ylabel(ylab, fontsize=9)
        ax.set_title(f"minima, Spearman vs T: {rho(m)}", fontsize=9)
        ax.grid(alpha=0.3)
    ax = axes[len(panels)]
    sc = ax.scatter(np.asarray(res["hessian_trace"]) / N, res["test_loss"], c=x, cmap="viridis",
                    s=14, vmin=0, vmax=temps.size - 1)
    cb = fig.colorbar(sc, ax=ax, ticks=range(temps.size))
    cb.ax.set_yticklabels(labels, fontsize=7)
    cb.set_label("T", fontsize=8)
    ax.set_xlabel("Hessian trace / N", fontsize=9)
    ax.set_ylabel("test loss", fontsize=9)
    ax.set_title(f"test loss vs trace: {rho('trace_vs_test_loss')}", fontsize=9)
    ax.grid(alpha=0.3)
    for ax in axes[len(panels) + 1:]:
        ax.axis("off")
    if len(axes) > len(panels) + 1:
        note = (f"T: energy units of U = N·(mean loss) + prior (k_B = 1);\n"
                f"T = 1 samples the Bayesian posterior, T = 0 is minibatch SGD.\n"
                f"Minima: full-batch gradient descent + L-BFGS from each\n"
                f"final SGLD state, max |∇U| ≤ {np.nanmax(res['grad_max']):.0e}.\n"
                f"Curvatures of U divided by N (mean-loss units);\n"
                f"Hutchinson SE of tr H / N ≈ "
                f"{np.nanmedian(np.asarray(res['hessian_trace_se'])) / N:.2f}.\n"
                f"Lines: medians; points: chains (jittered).")
        axes[-1].text(0.0, 0.95, note, va="top", fontsize=8.5, transform=axes[-1].transAxes)
    nc = T.size // temps.size
    head = (f"{title}: {nc} SGLD chains per temperature, N = {int(N)}, "
            f"P = {int(res['n_params'])}, Spearman over {T.size} chains (α = {stats['alpha']})")
    fig.suptitle(head + "\n" + "\n".join(textwrap.wrap(verdict, 150)), fontsize=9.5)
    fig.tight_layout()
    return _base.save(fig, path, dpi=130)
