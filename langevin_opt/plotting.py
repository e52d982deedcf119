"""Figures of runs (matplotlib, Agg backend; imported lazily by the CLI and runner)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .landscapes import Landscape

__all__ = ["basin_crossover_figure"]


def _plt():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def basin_crossover_figure(
    landscape: Landscape, rows: Sequence[dict], path: str | Path, *, title: str = ""
) -> Path:
    """Basin probabilities against temperature: exact curves and measured points.

    Left: a cut ``U(x, 0, ...)`` through the landscape with its minima.  Right:
    Boltzmann basin probabilities from quadrature (lines) and the fractions of
    walkers found in each basin (points with binomial 1-sigma error bars).  Where
    the two most probable basins exchange order, the crossover temperature is
    marked: below it energy wins (the deep basin), above it entropy (the wide one).

    Parameters
    ----------
    landscape : Landscape
        A 1-D or 2-D landscape with known minima.
    rows : sequence of dict
        Per-temperature rows of ``summary.json`` with ``T``, ``basin_measured``
        and ``n``.
    path : str or Path
        PNG to write.
    title : str
        Figure title.

    Returns
    -------
    Path
        The written file.
    """
    from .analysis.quadrature import quadrature_grid

    plt = _plt()
    temps = np.array([r["T"] for r in rows])
    meas = np.array([r["basin_measured"] for r in rows])
    n = np.array([r["n"] for r in rows])
    grid = quadrature_grid(landscape)
    t_line = np.geomspace(temps.min() / 1.5, temps.max() * 1.5, 60)
    exact = np.array([grid.at(t).basin_probabilities for t in t_line])
    k = exact.shape[1]
    names = [f"basin {i}" for i in range(k)]
    if landscape.name == "narrow_wide":
        names = ["narrow deep", "wide shallow"]

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.3))
    lo_, hi_ = landscape.bounds[0]
    xs = np.linspace(lo_, hi_, 600)
    pts = np.zeros((xs.size, landscape.dim))
    pts[:, 0] = xs
    ax0.plot(xs, landscape.energy(pts), "k-")
    for i, m in enumerate(landscape.minima):
        ax0.plot(m[0], landscape.energy(m)[0], "o", color=f"C{i}", label=names[i])
    ax0.set(xlabel="x (other coordinates 0)", ylabel="U", title="Landscape cut")
    ax0.legend(fontsize=8)

    for i in range(k):
        ax1.plot(t_line, exact[:, i], "-", color=f"C{i}", label=f"{names[i]}: exact")
        err = np.sqrt(np.maximum(meas[:, i] * (1 - meas[:, i]), 1e-12) / n)
        ax1.errorbar(temps, meas[:, i], yerr=err, fmt="o", color=f"C{i}", ms=5, capsize=3,
                     label=f"{names[i]}: walkers")
    top2 = np.argsort(exact.mean(axis=0))[-2:]
    d = exact[:, top2[0]] - exact[:, top2[1]]
    cross = np.flatnonzero(np.sign(d[:-1]) != np.sign(d[1:]))
    for c in cross:
        # linear interpolation of the sign change on the log-T grid
        f = d[c] / (d[c] - d[c + 1])
        t_star = float(np.exp(np.log(t_line[c]) + f * np.log(t_line[c + 1] / t_line[c])))
        ax1.axvline(t_star, color="0.5", ls="--", lw=1)
        ax1.text(t_star, 0.97, f" crossover T* ≈ {t_star:.3g}", va="top", fontsize=8,
                 color="0.3")
    ax1.set(xscale="log", xlabel="temperature T (k_B = 1)", ylabel="basin probability",
            ylim=(-0.02, 1.02), title="Energy vs entropy: who holds the walkers")
    ax1.legend(fontsize=7, ncol=2)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
