"""Figures of stored runs: basin crossover (``run``) and every figure of ``plot``.

For ``plot``: energy traces, histograms, paths and swap acceptance (walker runs),
first-passage survival (arrhenius files) and energies, temperature and pressure
against time (particle trajectories).

Each function takes arrays (no files), draws with matplotlib (Agg, imported on
first use) and writes the figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..landscapes import Landscape
from . import _base
from ._base import contour_grid, energy_levels, zoom_box

if TYPE_CHECKING:
    from ..analysis.quadrature import QuadratureGrid

__all__ = ["basin_crossover_figure", "energy_figure", "histogram_figure", "paths_figure",
           "survival_figure", "swap_acceptance_figure", "thermo_figure"]


def basin_crossover_figure(
    landscape: Landscape, rows: Sequence[dict], path: str | Path, *, title: str = "",
    grid: QuadratureGrid | None = None,
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
    grid : QuadratureGrid, optional
        ``quadrature_grid(landscape)`` when the caller has it already (building it
        costs about half a second for a 2-D landscape).

    Returns
    -------
    Path
        The written file.
    """
    from ..analysis.quadrature import quadrature_grid

    plt = _base.plt()
    temps = np.array([r["T"] for r in rows])
    meas = np.array([r["basin_measured"] for r in rows])
    n = np.array([r["n"] for r in rows])
    if grid is None:
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
    return _base.save(fig, path)


def energy_figure(traces: Sequence[tuple[str, np.ndarray, np.ndarray, float | None]],
                  path: str | Path, *, title: str, exact_legend: bool = False) -> Path:
    """Mean energy against step, one line per temperature, with exact ``<U>`` levels.

    Parameters
    ----------
    traces : sequence of (str, numpy.ndarray, numpy.ndarray, float or None)
        ``(label, steps, mean energy per step, exact <U> or None)`` per line
        (energy units, ``k_B = 1``).
    path : str or Path
        Figure file (format from the extension).
    title : str
        Run name for the title.
    exact_legend : bool
        Add a legend entry for the dotted exact levels.

    Returns
    -------
    Path
        The written file.
    """
    plt = _base.plt()
    fig, ax = plt.subplots(figsize=(7, 4.3))
    colors = _base.series_colors(len(traces))  # every line its own colour (> 10 lines too)
    for color, (label, steps, mean, exact) in zip(colors, traces, strict=True):
        ax.plot(steps, mean, "-", color=color, label=label)
        if exact is not None:
            ax.axhline(exact, color=color, ls=":", lw=1)
    if exact_legend:
        ax.plot([], [], "k:", lw=1, label="exact <U> (quadrature)")
    ax.set(xlabel="step", ylabel="mean energy <U> (k_B = 1)", title=f"{title}: mean energy")
    ax.legend(fontsize=8, ncol=2 if len(traces) > 6 else 1)
    fig.tight_layout()
    return _base.save(fig, path)


def histogram_figure(landscape: Landscape, x: np.ndarray, path: str | Path, *,
                     grid: Any = None, temperature: float = 0.0, step: int = 0,
                     bins: int = 40, title: str = "") -> Path:
    """Walker histogram of one frame beside the exact Boltzmann density (1-D or 2-D).

    Parameters
    ----------
    landscape : Landscape
        The 1-D or 2-D energy surface.
    x : numpy.ndarray, shape (n, d)
        Finite walker positions (length units).
    path : str or Path
        Figure file (format from the extension).
    grid : QuadratureGrid, optional
        Quadrature grid of the exact density (none: the energy contours in 2-D).
    temperature : float
        Temperature of the exact density (energy units).
    step : int
        Step of the frame (for the labels).
    bins : int
        Histogram bins per axis.
    title : str
        Figure title.

    Returns
    -------
    Path
        The written file.
    """
    plt = _base.plt()
    if landscape.dim == 1:
        lo, hi = (landscape.bounds[0] if landscape.bounds is not None
                  else (x.min(), x.max()))
        if x.size:
            lo, hi = min(lo, float(x.min())), max(hi, float(x.max()))
        fig, ax = plt.subplots(figsize=(7, 4.3))
        ax.hist(x[:, 0], bins=np.linspace(lo, hi, bins + 1), density=True, alpha=0.6,
                color="C0", label=f"walkers, step {step} (n = {x.shape[0]})")
        if grid is not None:
            rho = grid.density(temperature) / grid.cell_weights
            ax.plot(grid.axes[0], rho, "k-", lw=1.2, label="exact Boltzmann density")
        ax.set(xlabel="x", ylabel="probability density", title=title)
        ax.legend(fontsize=8)
    else:
        rho = None
        extents = [x] if x.size else []
        if grid is not None:
            rho = grid.density(temperature) / grid.cell_weights
            gx, gy = grid.axes
            ii, jj = np.nonzero(rho > 1e-3 * rho.max())
            extents.append(np.stack([gx[ii], gy[jj]], axis=1))
        lo, hi = zoom_box(extents, landscape.bounds)
        fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.6), sharex=True, sharey=True)
        h, xe, ye = np.histogram2d(x[:, 0], x[:, 1], bins=bins,
                                   range=[[lo[0], hi[0]], [lo[1], hi[1]]], density=True)
        mesh = ax0.pcolormesh(xe, ye, h.T, cmap="viridis", shading="flat")
        fig.colorbar(mesh, ax=ax0, label="walker density")
        ax0.set(xlabel="x", ylabel="y", title=f"walkers, step {step} (n = {x.shape[0]})")
        if rho is not None:
            top = float(rho.max())
            ax0.contour(gx, gy, rho.T, levels=top * np.array([0.01, 0.1, 0.3, 0.6, 0.9]),
                        colors="w", linewidths=0.7)
            cf = ax1.contourf(gx, gy, rho.T, levels=np.linspace(0, top, 21), cmap="viridis")
            fig.colorbar(cf, ax=ax1, label="exact density")
            ax1.set(xlabel="x", title="exact Boltzmann density (white lines on the left)",
                    xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]))
        else:
            xs, ys, e = contour_grid(landscape, lo, hi)
            ax1.contour(xs, ys, e.T, levels=energy_levels(e), cmap="viridis")
            ax1.set(xlabel="x", title="energy landscape (no exact density at T = 0)")
        fig.suptitle(title)
    fig.tight_layout()
    return _base.save(fig, path)


def paths_figure(landscape: Landscape, steps: np.ndarray, paths: np.ndarray,
                 walkers: np.ndarray, temperatures: np.ndarray, path: str | Path, *,
                 title: str = "") -> Path:
    """Walker paths: ``x`` against step in 1-D, trajectories over energy contours in 2-D.

    Parameters
    ----------
    landscape : Landscape
        The 1-D or 2-D energy surface.
    steps : numpy.ndarray, shape (F,)
        Steps of the frames.
    paths : numpy.ndarray, shape (F, n, d)
        Positions of the ``n`` drawn walkers (length units).
    walkers : numpy.ndarray of int, shape (n,)
        Their indices (for the legend).
    temperatures : numpy.ndarray
        Temperature of every walker of the run, indexed by ``walkers`` (energy units).
    path : str or Path
        Figure file (format from the extension).
    title : str
        Figure title.

    Returns
    -------
    Path
        The written file.
    """
    plt = _base.plt()
    fig, ax = plt.subplots(figsize=(7.5, 5) if landscape.dim == 2 else (7, 4.3))
    if landscape.dim == 1:
        for j, w in enumerate(walkers):
            ax.plot(steps, paths[:, j, 0], "-", lw=0.9, color=f"C{j % 10}",
                    label=f"walker {w} (T = {temperatures[w]:g})")
        if landscape.minima is not None:
            for mnm in landscape.minima:
                ax.axhline(mnm[0], color="0.6", ls="--", lw=0.8)
        ax.set(xlabel="step", ylabel="x")
    else:
        finite = paths[np.all(np.isfinite(paths), axis=2)]
        extents = [finite] + ([landscape.minima] if landscape.minima is not None else [])
        lo, hi = zoom_box(extents, landscape.bounds, pad=0.25)
        xs, ys, e = contour_grid(landscape, lo, hi)
        ax.contour(xs, ys, e.T, levels=energy_levels(e), cmap="Greys", linewidths=0.7)
        for j, w in enumerate(walkers):
            p = paths[:, j]
            ax.plot(p[:, 0], p[:, 1], "-", lw=0.9, color=f"C{j % 10}",
                    label=f"walker {w} (T = {temperatures[w]:g})")
            ax.plot(p[0, 0], p[0, 1], "o", color=f"C{j % 10}", ms=4)
            ax.plot(p[-1, 0], p[-1, 1], "x", color=f"C{j % 10}", ms=6)
        ax.set(xlabel="x", ylabel="y", xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]))
    ax.set_title(title)
    if len(walkers) <= 12:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _base.save(fig, path)


def survival_figure(rows: Sequence[tuple[str, np.ndarray, np.ndarray]], path: str | Path, *,
                    title: str = "", time_label: str = "time t") -> Path:
    """Empirical survival ``S(t)`` of first-passage times, one step line per row.

    ``S(t)`` is the fraction of a row's walkers that have not escaped by ``t``;
    censored walkers (no escape by the step limit) keep it above zero, and an
    exponential escape (a rate) is a straight line on the logarithmic axis.

    Parameters
    ----------
    rows : sequence of (str, numpy.ndarray, numpy.ndarray)
        ``(label, first-passage times (M,), censored (M,) bool)`` per row (a
        temperature, or a learning rate and batch size).
    path : str or Path
        Figure file (format from the extension).
    title : str
        Figure title.
    time_label : str
        x-axis label (what the times are).

    Returns
    -------
    Path
        The written file.
    """
    plt = _base.plt()
    fig, ax = plt.subplots(figsize=(7, 4.3))
    colors = _base.series_colors(len(rows))
    for color, (label, times, censored) in zip(colors, rows, strict=True):
        t = np.sort(np.asarray(times, dtype=np.float64)[~np.asarray(censored, dtype=bool)])
        n = len(times)
        if n == 0:
            continue
        surv = 1.0 - np.arange(1, t.size + 1) / n
        xs = np.concatenate([[0.0], t])
        ys = np.concatenate([[1.0], surv])
        ax.step(xs, np.maximum(ys, 0.5 / n), where="post", color=color,
                label=f"{label} ({t.size} of {n} escaped)")
    ax.set(yscale="log", xlabel=time_label, ylabel="survival S(t) (not yet escaped)",
           title=f"{title}: first-passage survival" if title else "first-passage survival")
    ax.legend(fontsize=8, ncol=2 if len(rows) > 6 else 1)
    fig.tight_layout()
    return _base.save(fig, path)


def thermo_figure(series: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path, *,
                  n_atoms: int, title: str = "") -> Path:
    """Energies per atom, temperature and pressure of a particle trajectory against time.

    Parameters
    ----------
    series : dict of str to (numpy.ndarray, numpy.ndarray)
        Observable name -> ``(times, values)``; any of ``potential_energy``,
        ``kinetic_energy``, ``total_energy`` (energy units), ``temperature``
        (``k_B = 1``) and ``pressure``.
    path : str or Path
        Figure file (format from the extension).
    n_atoms : int
        Atoms of the system (energies are drawn per atom).
    title : str
        Figure title.

    Returns
    -------
    Path
        The written file.
    """
    plt = _base.plt()
    energies = [k for k in ("potential_energy", "kinetic_energy", "total_energy") if k in series]
    others = [k for k in ("temperature", "pressure") if k in series]
    panels = ([energies] if energies else []) + [[k] for k in others]
    if not panels:
        raise ValueError("no energy, temperature or pressure series to plot")
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.4 * len(panels) + 0.6),
                             sharex=True, squeeze=False)
    for ax, names in zip(axes[:, 0], panels, strict=True):
        colors = _base.series_colors(len(names))
        for color, name in zip(colors, names, strict=True):
            t, v = series[name]
            v = np.asarray(v, dtype=np.float64)
            per = name.endswith("_energy")
            ax.plot(t, v / n_atoms if per else v, "-", color=color,
                    label=name.replace("_", " ") + (" / atom" if per else ""))
        ax.set_ylabel("energy / atom" if names is energies else names[0].replace("_", " "))
        ax.legend(fontsize=8)
    axes[-1, 0].set_xlabel("time")
    axes[0, 0].set_title(f"{title}: {n_atoms} atoms" if title else f"{n_atoms} atoms")
    fig.tight_layout()
    return _base.save(fig, path)


def swap_acceptance_figure(temperatures: Sequence[float], steps: np.ndarray,
                           acceptance: np.ndarray, path: str | Path, *,
                           title: str = "") -> Path:
    """Replica-exchange swap acceptance per neighbouring pair (last record, and over time).

    Parameters
    ----------
    temperatures : sequence of float
        The ladder, ascending (pair ``k`` swaps ``T_k`` and ``T_k+1``).
    steps : numpy.ndarray, shape (n_records,)
        Steps of the records.
    acceptance : numpy.ndarray, shape (n_records, n_pairs)
        Cumulative acceptance rate of each pair at each record.
    path : str or Path
        Figure file (format from the extension).
    title : str
        Figure title.

    Returns
    -------
    Path
        The written file.
    """
    plt = _base.plt()
    acc = np.asarray(acceptance, dtype=np.float64)
    t = [float(x) for x in temperatures]
    n = acc.shape[1]
    pairs = [f"{a:.3g}-{b:.3g}" for a, b in zip(t[:-1], t[1:], strict=False)][:n]
    if len(pairs) < n:
        pairs += [f"pair {k}" for k in range(len(pairs), n)]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.3))
    colors = _base.series_colors(n)
    ax0.bar(np.arange(n), acc[-1], color=colors)
    ax0.set_xticks(np.arange(n), pairs, rotation=45, ha="right", fontsize=7)
    ax0.set(ylim=(0, 1), xlabel="temperature pair T_k - T_k+1",
            ylabel="swap acceptance", title=f"at step {int(steps[-1])}")
    for k in range(n):
        ax1.plot(steps, acc[:, k], "-", color=colors[k], label=pairs[k])
    ax1.set(ylim=(0, 1), xlabel="step", ylabel="swap acceptance (cumulative)",
            title="over the run")
    ax1.legend(fontsize=7, ncol=2 if n > 6 else 1)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _base.save(fig, path)
