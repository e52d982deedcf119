"""Figures of the output files that are not trajectories (``langevin-opt plot FILE``).

Each function draws one figure from arrays read out of a JSON, CSV or ``.npz`` output
(the command line does the reading) and writes it to ``path`` atomically
(:func:`langevin_opt.plotting._base.save`), or returns the unsaved figure when ``path``
is None (for inspection in tests and notebooks).  Every series has its own colour
(:func:`~langevin_opt.plotting._base.series_colors`) and a legend label; every axis
names its quantity and unit.

* :func:`chain_energy_figure` — SG-MCMC chains (``sgmcmc.run_chains(out=...)``): the
  minibatch energy of every chain against the step.
* :func:`run_summary_figure` — a walker run's ``summary.json``: ``<U>`` and the basin
  occupations against the temperature.
* :func:`error_curves_figure` — active learning (``active-learn``): test force and
  energy RMSE against the number of labelled configurations, one line per strategy.
* :func:`member_errors_figure` — a deep-ensemble ``fit-potential`` summary: the errors
  of every member and of the committee mean.
* :func:`parameter_histogram_figure` — a model or committee file: its parameters.
* :func:`pool_figure` — an active-learning round's exploration pool: the committee
  force spread of every frame and the frames selected for labelling.
* :func:`sweep_figure` — a sweep's ``table.csv``: one metric against the swept keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import _base

__all__ = ["chain_energy_figure", "error_curves_figure", "member_errors_figure",
           "parameter_histogram_figure",
           "pool_figure", "run_summary_figure", "sweep_figure"]


def _finish(fig: Any, path: str | Path | None, dpi: int = 120) -> Any:
    fig.tight_layout()
    if path is None:
        return fig
    return _base.save(fig, path, dpi=dpi)


def chain_energy_figure(steps: np.ndarray, energies: np.ndarray, temperatures: Sequence[float],
                        path: str | Path | None, *, title: str = "") -> Any:
    """Minibatch energy ``U~`` of every SG-MCMC chain against the step.

    Parameters
    ----------
    steps : numpy.ndarray, shape (S,)
        Steps of the kept samples.
    energies : numpy.ndarray, shape (S, C)
        Energy of chain ``c`` at ``steps[k]`` (full-data scale, energy units).
    temperatures : sequence of float, shape (C,)
        Base temperature of every chain (``k_B = 1``), shown in its label.
    path : str, Path or None
        Figure file (format from the extension); None returns the figure unsaved.
    title : str
        Run name for the title.

    Returns
    -------
    Path or matplotlib.figure.Figure
        The written file, or the figure when ``path`` is None.
    """
    e = np.asarray(energies, dtype=np.float64)
    s = np.asarray(steps)
    temps = np.asarray(temperatures, dtype=np.float64).ravel()
    if e.ndim != 2 or e.shape[0] != s.size or e.shape[1] != temps.size:
        raise ValueError(f"chain_energy_figure: energies of shape {e.shape} do not match "
                         f"{s.size} steps x {temps.size} chains")
    plt = _base.plt()
    fig, ax = plt.subplots(figsize=(7, 4.3))
    t_labels = _base.distinct_labels("T = ", temps)
    for c, color in enumerate(_base.series_colors(temps.size)):
        ax.plot(s, e[:, c], "-", lw=1, color=color, label=f"chain {c} ({t_labels[c]})")
    ax.set(xlabel="step", ylabel="minibatch energy U~ (k_B = 1)",
           title=f"{title}: energy per chain" if title else "energy per chain")
    if np.all(e[np.isfinite(e)] > 0) and np.isfinite(e).any():
        lo, hi = np.nanmin(e), np.nanmax(e)
        if hi > 20 * lo:
            ax.set_yscale("log")
    ax.legend(fontsize=7, ncol=2 if temps.size > 6 else 1)
    return _finish(fig, path)


def run_summary_figure(rows: Sequence[Mapping], path: str | Path | None, *,
                       title: str = "") -> Any:
    """``<U>`` against ``T`` and, when stored, the basin occupations measured and exact.

    Parameters
    ----------
    rows : sequence of mapping
        The ``temperatures`` rows of a run's ``summary.json``: ``T``, ``mean_energy``
        and optionally ``basin_measured`` / ``basin_exact`` (one entry per basin).
    path : str, Path or None
        Figure file; None returns the figure unsaved.
    title : str
        Run name.

    Returns
    -------
    Path or matplotlib.figure.Figure
    """
    if not rows:
        raise ValueError("run_summary_figure: no temperature rows")
    t = np.array([float(r["T"]) for r in rows])
    u = np.array([float(r["mean_energy"]) for r in rows])
    k = max(len(r.get("basin_measured") or []) for r in rows)
    plt = _base.plt()
    fig, axes = plt.subplots(1, 2 if k else 1, figsize=(11 if k else 6, 4.2), squeeze=False)
    ax = axes[0, 0]
    ax.plot(t, u, "o-", color="C0", label="measured <U> (final walkers)")
    ax.set(xlabel="temperature T (k_B = 1)", ylabel="mean energy <U>",
           title=f"{title}: mean energy" if title else "mean energy")
    ax.legend(fontsize=8)
    if k:
        ax = axes[0, 1]
        for b, color in enumerate(_base.series_colors(k)):
            meas = [r["basin_measured"][b] if len(r.get("basin_measured") or []) > b
                    else np.nan for r in rows]
            ax.plot(t, meas, "o-", color=color, label=f"basin {b} measured")
            exact = [r["basin_exact"][b] if r.get("basin_exact") is not None
                     and len(r["basin_exact"]) > b else np.nan for r in rows]
            if np.isfinite(exact).any():
                ax.plot(t, exact, "x--", ms=9, color=color,
                        label=f"basin {b} exact (quadrature)")
        ax.set(xlabel="temperature T (k_B = 1)", ylabel="basin occupation (fraction)",
               ylim=(-0.02, 1.02), title="basin occupation")
        ax.legend(fontsize=7, ncol=2 if k > 3 else 1)
    return _finish(fig, path)


def error_curves_figure(curves: Mapping[str, Mapping[str, Sequence[float]]],
                        path: str | Path | None, *, title: str = "",
                        x_key: str = "n_labelled",
                        x_label: str = "labelled configurations") -> Any:
    """Test force and energy RMSE against the labelled set size, one line per strategy.

    Parameters
    ----------
    curves : mapping of str to mapping
        Per strategy: ``x_key`` (shape (R,)), ``force_rmse`` (eV/Å per component) and
        optionally ``energy_rmse_per_atom`` (eV/atom), each of shape (R,).
    path : str, Path or None
        Figure file; None returns the figure unsaved.
    title : str
        Run name.
    x_key, x_label : str
        The key of the x values and the axis label.

    Returns
    -------
    Path or matplotlib.figure.Figure
    """
    if not curves:
        raise ValueError("error_curves_figure: no curves")
    energy = any("energy_rmse_per_atom" in c for c in curves.values())
    plt = _base.plt()
    fig, axes = plt.subplots(1, 2 if energy else 1, figsize=(10 if energy else 5.5, 4.0),
                             squeeze=False)
    panels = [("force_rmse", "test force RMSE (eV/Å per component)")]
    if energy:
        panels.append(("energy_rmse_per_atom", "test energy RMSE (eV/atom)"))
    colors = _base.series_colors(len(curves))
    for ax, (key, ylabel) in zip(axes[0], panels, strict=True):
        for color, (name, c) in zip(colors, curves.items(), strict=True):
            if key not in c:
                continue
            x = np.asarray(c[x_key], dtype=np.float64)
            y = np.asarray(c[key], dtype=np.float64)
            if x.shape != y.shape:
                raise ValueError(f"error_curves_figure: {name!r}: {x_key} and {key} differ "
                                 "in length")
            ax.plot(x, y, "o-", color=color, label=name)
        _log_if_wide(ax)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set(xlabel=x_label, ylabel=ylabel)
        ax.legend(fontsize=8, title="strategy", title_fontsize=8)
    axes[0, 0].set_title(f"{title}: active learning" if title else "active learning")
    return _finish(fig, path, dpi=110)


def _log_if_wide(ax: Any) -> None:
    """A log y axis when every value is positive and they span more than a factor 5."""
    ys = [np.asarray(ln.get_ydata(), dtype=np.float64) for ln in ax.lines]
    ys = [y[np.isfinite(y)] for y in ys]
    y = np.concatenate(ys) if ys else np.zeros(0)
    if y.size and y.min() > 0 and y.max() > 5 * y.min():
        ax.set_yscale("log")


def member_errors_figure(rows: Mapping[str, Mapping[str, float | None]],
                         path: str | Path | None, *, title: str = "",
                         units: tuple[str, str] = ("eV/atom", "eV/Å")) -> Any:
    """Energy and force RMSE of committee members and of the committee mean, as bars.

    Parameters
    ----------
    rows : mapping of str to mapping
        Label (``"member 0 (train)"``, ``"committee mean (validation)"``) ->
        ``energy_rmse_per_atom`` and ``force_rmse`` (None: not measured).
    path : str, Path or None
        Figure file; None returns the figure unsaved.
    title : str
        Run name.
    units : (str, str)
        Units of the energy per atom and of the force components.

    Returns
    -------
    Path or matplotlib.figure.Figure
    """
    if not rows:
        raise ValueError("member_errors_figure: no rows")
    plt = _base.plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    labels = list(rows)
    colors = _base.series_colors(len(labels))
    for ax, key, ylabel in ((axes[0], "energy_rmse_per_atom",
                             f"energy RMSE per atom ({units[0]})"),
                            (axes[1], "force_rmse", f"force RMSE per component ({units[1]})")):
        vals = [np.nan if rows[k].get(key) is None else float(rows[k][key]) for k in labels]
        for i, (label, v, color) in enumerate(zip(labels, vals, colors, strict=True)):
            ax.bar(i, v, color=color, label=label)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.set(ylabel=ylabel)
    axes[0].set_title(f"{title}: committee errors" if title else "committee errors")
    return _finish(fig, path)


def parameter_histogram_figure(groups: Mapping[str, np.ndarray], path: str | Path | None, *,
                               title: str = "", xlabel: str = "parameter value") -> Any:
    """Histograms of parameter vectors, one outline per group (member, species network).

    Parameters
    ----------
    groups : mapping of str to numpy.ndarray
        Label -> parameters (any shape; flattened).
    path : str, Path or None
        Figure file; None returns the figure unsaved.
    title : str
        Title.
    xlabel : str
        Label of the x axis.

    Returns
    -------
    Path or matplotlib.figure.Figure
    """
    if not groups:
        raise ValueError("parameter_histogram_figure: no parameters")
    vals = [np.asarray(v, dtype=np.float64).ravel() for v in groups.values()]
    allv = np.concatenate(vals)
    allv = allv[np.isfinite(allv)]
    lo, hi = (float(allv.min()), float(allv.max())) if allv.size else (-1.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    bins = np.linspace(lo, hi, 41)
    plt = _base.plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    colors = _base.series_colors(len(vals))
    for color, label, v in zip(colors, groups, vals, strict=True):
        ax.hist(v[np.isfinite(v)], bins=bins, histtype="step", lw=1.4, color=color,
                label=f"{label} ({v.size} values)")
    ax.set(xlabel=xlabel, ylabel="count", title=title)
    ax.legend(fontsize=8)
    return _finish(fig, path)


def pool_figure(spreads: np.ndarray, selected: Sequence[int], path: str | Path | None, *,
                title: str = "") -> Any:
    """The committee force spread of every explored frame, the selected ones marked.

    Parameters
    ----------
    spreads : numpy.ndarray, shape (F,)
        Largest per-atom committee force standard deviation of every pool frame (eV/Å).
    selected : sequence of int
        Pool indices chosen for labelling.
    path : str, Path or None
        Figure file; None returns the figure unsaved.
    title : str
        Title.

    Returns
    -------
    Path or matplotlib.figure.Figure
    """
    s = np.asarray(spreads, dtype=np.float64).ravel()
    sel = np.asarray(selected, dtype=np.int64).ravel()
    plt = _base.plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    ax.plot(np.arange(s.size), s, "o", ms=4, color="C0", label=f"pool frame ({s.size})")
    if sel.size:
        ax.plot(sel, s[sel], "o", ms=9, mfc="none", mew=1.6, color="C3",
                label=f"selected for labelling ({sel.size})")
    ax.set(xlabel="pool frame", ylabel="max committee force std (eV/Å)",
           title=f"{title}: exploration pool" if title else "exploration pool")
    ax.legend(fontsize=8)
    return _finish(fig, path)


def _axis_values(values: Sequence[Any]) -> tuple[np.ndarray, list[str] | None]:
    """Numeric positions of a key's values and tick labels when they are not numbers."""
    try:
        x = np.array([float(v) for v in values])
        return x, None
    except (TypeError, ValueError):
        uniq = list(dict.fromkeys(str(v) for v in values))
        return np.array([uniq.index(str(v)) for v in values], dtype=np.float64), uniq


def sweep_figure(params: Mapping[str, Sequence[Any]], metric: Sequence[float],
                 path: str | Path | None, *, metric_name: str, title: str = "") -> Any:
    """A sweep's metric against its first swept key, one line per value of the others.

    Parameters
    ----------
    params : mapping of str to sequence
        Swept key -> its value at every finished point (all of one length ``n``).
    metric : sequence of float, shape (n,)
        The metric at every point (NaN: not recorded).
    path : str, Path or None
        Figure file; None returns the figure unsaved.
    metric_name : str
        Label of the y axis (the table column).
    title : str
        Sweep name.

    Returns
    -------
    Path or matplotlib.figure.Figure
    """
    keys = list(params)
    y = np.asarray(metric, dtype=np.float64)
    if not keys:
        raise ValueError("sweep_figure: no swept keys")
    x, ticks = _axis_values(params[keys[0]])
    others = keys[1:]
    groups: dict[str, list[int]] = {}
    for i in range(y.size):
        label = ", ".join(f"{k} = {params[k][i]}" for k in others) or metric_name
        groups.setdefault(label, []).append(i)
    plt = _base.plt()
    fig, ax = plt.subplots(figsize=(7, 4.3))
    for color, (label, idx) in zip(_base.series_colors(len(groups)), groups.items(),
                                   strict=True):
        idx_a = np.array(idx)
        order = idx_a[np.argsort(x[idx_a], kind="stable")]
        ax.plot(x[order], y[order], "o-", color=color, label=label)
    if ticks is not None:
        ax.set_xticks(range(len(ticks)), ticks, rotation=20, fontsize=8)
    ax.set(xlabel=keys[0], ylabel=metric_name, title=title or "sweep")
    ax.legend(fontsize=8, ncol=2 if len(groups) > 6 else 1)
    return _finish(fig, path)
