"""Figures of neural-potential training (``langevin-opt fit-potential``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._base import plt, save

__all__ = ["learning_curve_figure", "potential_validation_figure", "transfer_learning_figure",
           "uncertainty_figure", "active_learning_figure"]


def learning_curve_figure(curve: Mapping[str, np.ndarray], path: str | Path | None, *,
                          title: str = "") -> Any:
    """Training loss and train/validation energy and force RMSEs against iteration.

    The figure is written atomically (``plotting._base.save``: temporary file, ``fsync``,
    rename), so an interrupted run never leaves a half-written image.

    Parameters
    ----------
    curve : mapping of str to numpy.ndarray
        :attr:`langevin_opt.mlip.FitResult.curve`: ``iteration``, ``loss``,
        ``train_energy_rmse``, ``train_force_rmse`` and optionally ``val_energy_rmse``,
        ``val_force_rmse`` (energy per atom; energy / length per component).
    path : str, Path or None
        Output PNG file; None returns the figure unsaved.
    title : str
        Title of the loss panel.

    Returns
    -------
    Path or matplotlib.figure.Figure
        The written file, or the figure when ``path`` is None.
    """
    pyplot = plt()
    fig, axes = pyplot.subplots(1, 3, figsize=(12, 3.6))
    it = np.asarray(curve["iteration"])
    axes[0].semilogy(it, curve["loss"], "k-")
    axes[0].set(xlabel="iteration", ylabel="training loss U", title=title)
    for ax, key, label in ((axes[1], "energy_rmse", "energy RMSE per atom\n"
                                                    "(eV/atom in metal units)"),
                           (axes[2], "force_rmse", "force RMSE per component\n"
                                                   "(eV/Å in metal units)")):
        ax.semilogy(it, curve["train_" + key], "C0-", label="train")
        if "val_" + key in curve:
            ax.semilogy(it, curve["val_" + key], "C1--", label="validation")
        ax.set(xlabel="iteration", ylabel=label)
        ax.legend()
    fig.tight_layout()
    if path is None:
        return fig
    return save(fig, path, dpi=110)


def _parity(ax: Any, ref: np.ndarray, pred: np.ndarray, unit: str, what: str) -> None:
    """One parity panel: prediction against reference, the diagonal, RMSE in the legend."""
    lo = float(min(ref.min(), pred.min()))
    hi = float(max(ref.max(), pred.max()))
    pad = 0.04 * (hi - lo if hi > lo else 1.0)
    rmse = float(np.sqrt(np.mean((pred - ref) ** 2)))
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.6", lw=0.8, zorder=1)
    ax.scatter(ref, pred, s=4 if ref.size > 500 else 10, alpha=0.5, color="C0", lw=0,
               label=f"RMSE {rmse:.3g} {unit}", zorder=2)
    ax.set(xlim=(lo - pad, hi + pad), ylim=(lo - pad, hi + pad),
           xlabel=f"reference {what} ({unit})", ylabel=f"network {what} ({unit})")
    ax.set_aspect("equal")
    ax.legend(loc="upper left", frameon=False)


def potential_validation_figure(data: Mapping[str, np.ndarray], path: str | Path, *,
                                reference: str = "EMT", summary: Mapping[str, Any] | None = None
                                ) -> Path:
    """Parity plots, E(V) and the barrier profile of a neural potential against its reference.

    Four panels: per-atom energies and force components of held-out configurations
    (network against reference), the equation of state ``E/N`` against ``V/N`` of both,
    and the energy profile along the NEB path of both (image index scaled to [0, 1]).
    Written atomically, like :func:`learning_curve_figure`.

    Parameters
    ----------
    data : mapping of str to numpy.ndarray
        ``test_energy_emt`` / ``test_energy_network`` (energy per atom, shape (C,)),
        ``test_forces_emt`` / ``test_forces_network`` (all components, flat),
        ``eos_volume_emt``, ``eos_energy_emt``, ``eos_volume_network``,
        ``eos_energy_network`` (volume and energy per atom), ``neb_emt`` and
        ``neb_network`` (image energies relative to the start), optionally
        ``neb_network_ase`` (the network in the reference code's NEB): the
        ``figure_data.npz`` of ``experiments/mlip_cu_emt.py``.  Units eV and Å.
    path : str or Path
        Output PNG file.
    reference : str
        Name of the reference potential in labels.
    summary : mapping, optional
        The experiment's ``results.json``; when given, the lattice constants, bulk
        moduli and barriers are printed in the panel titles.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    KeyError
        A required array is missing (its name in the message).
    """
    need = ("test_energy_emt", "test_energy_network", "test_forces_emt",
            "test_forces_network", "eos_volume_emt", "eos_energy_emt", "eos_volume_network",
            "eos_energy_network", "neb_emt", "neb_network")
    missing = [k for k in need if k not in data]
    if missing:
        raise KeyError(f"potential_validation_figure: missing arrays {missing}")
    d = {k: np.asarray(data[k], dtype=np.float64) for k in data}
    pyplot = plt()
    fig, axes = pyplot.subplots(1, 4, figsize=(16, 4.0))
    _parity(axes[0], d["test_energy_emt"], d["test_energy_network"], "eV/atom",
            "energy")
    axes[0].set_title(f"held-out energies ({d['test_energy_emt'].size} configurations)")
    _parity(axes[1], d["test_forces_emt"], d["test_forces_network"], "eV/Å", "force")
    axes[1].set_title(f"held-out force components ({d['test_forces_emt'].size})")
    ax = axes[2]
    ax.plot(d["eos_volume_emt"], d["eos_energy_emt"], "ks-", ms=4, lw=0.8, label=reference)
    ax.plot(d["eos_volume_network"], d["eos_energy_network"], "C1o-", ms=3, lw=1,
            label="network")
    ax.set(xlabel="volume per atom (Å³)", ylabel="energy per atom (eV)")
    title = "equation of state"
    if summary is not None and "lattice_constant_A" in summary:
        a, b = summary["lattice_constant_A"], summary.get("bulk_modulus_GPa", {})
        title = (f"a0 {a['network']:.4f} vs {a['emt']:.4f} Å"
                 + (f", B {b['network']:.0f} vs {b['emt']:.0f} GPa" if b else ""))
    ax.set_title(title, fontsize=9)
    ax.legend(frameon=False)
    ax = axes[3]
    for key, style, label in (("neb_emt", "ks-", f"{reference} (reference NEB)"),
                              ("neb_network", "C1o-", "network (langevin_opt NEB)"),
                              ("neb_network_ase", "C0^--", "network (reference NEB code)")):
        if key in d:
            e = d[key]
            ax.plot(np.linspace(0.0, 1.0, e.size), e, style, ms=4, lw=1, label=label)
    ax.set(xlabel="reaction coordinate (image / images)", ylabel="energy (eV)")
    title = "migration barrier"
    if summary is not None and "adatom_hop_barrier_eV" in summary:
        h = summary["adatom_hop_barrier_eV"]
        title = (f"adatom hop: {h['network_package_neb']:.3f} vs {h['emt_ase_neb']:.3f} eV")
    ax.set_title(title, fontsize=9)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return save(fig, path, dpi=110)


def transfer_learning_figure(table: Mapping[str, Mapping[str, Mapping[str, float]]],
                             path: str | Path, *, labels: Mapping[str, str] | None = None,
                             reference: Mapping[str, float] | None = None,
                             title: str = "") -> Path:
    """Learning curves of test energy and force errors against the training-set size.

    Two log-log panels (energy RMSE per atom, force RMSE per component) with one line per
    training variant (mean over repeats, error bars one standard deviation).  A variant
    whose name starts with ``zero_shot`` (no training) is drawn dashed.  Written
    atomically, like :func:`learning_curve_figure`.

    Parameters
    ----------
    table : mapping
        ``table[variant][str(n)]`` with ``energy_mev_per_atom``, ``energy_std``,
        ``force_ev_per_a``, ``force_std``: the ``table`` of
        ``experiments/mlip_transfer.py``'s ``results.json`` (meV/atom, eV/Å).
    path : str or Path
        Output PNG file.
    labels : mapping of str to str, optional
        Legend label of each variant (default: its name).
    reference : mapping, optional
        ``energy_mev_per_atom`` and ``force_ev_per_a`` of a reference drawn as a dotted
        horizontal line (e.g. the pretrained model on its own test set).
    title : str
        Figure title.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    KeyError
        A row without one of the four numbers.
    """
    pyplot = plt()
    fig, axes = pyplot.subplots(1, 2, figsize=(10, 4.0))
    keys = (("energy_mev_per_atom", "energy_std", "energy RMSE (meV/atom)"),
            ("force_ev_per_a", "force_std", "force RMSE (eV/Å)"))
    for k, variant in enumerate(table):
        rows = table[variant]
        ns = sorted(rows, key=float)
        x = np.array([float(n) for n in ns])
        dashed = variant.startswith("zero_shot")
        for ax, (mean, std, _) in zip(axes, keys, strict=True):
            y = np.array([rows[n][mean] for n in ns])
            e = np.array([rows[n][std] for n in ns])
            ax.errorbar(x, y, yerr=np.minimum(e, 0.95 * y), fmt="--" if dashed else "o-",
                        color=f"C{k}", ms=4, lw=1.2, capsize=2,
                        label=(labels or {}).get(variant, variant))
    for ax, (mean, _, ylabel) in zip(axes, keys, strict=True):
        if reference is not None and mean in reference:
            ax.axhline(reference[mean], color="0.4", ls=":", lw=1,
                       label="pretrained model, its own test set")
        ax.set(xscale="log", yscale="log", xlabel="training configurations", ylabel=ylabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(frameon=False, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, path, dpi=110)


def uncertainty_figure(data: Mapping[str, np.ndarray], path: str | Path, *,
                       kinds: tuple[str, ...] = ("ensemble", "posterior"),
                       group_names: tuple[str, ...] | None = None,
                       reference: str = "EMT") -> Path:
    """Calibration curves and error-against-spread scatter of committees, and barrier spread.

    Panels: the calibration curve of every kind (observed against expected coverage of
    the central Gaussian intervals, after the post-hoc scale as solid lines, raw as dashed
    and with out-of-distribution data as dotted lines when given); one scatter per kind of
    the absolute error against the predicted standard deviation (log-log, coloured by data
    group, with the lines ``|e| = sigma`` and ``|e| = 2 sigma``); and, when barrier arrays
    are given, the barrier of every member of each kind next to the reference value.
    Written atomically, like :func:`learning_curve_figure`.

    Parameters
    ----------
    data : mapping of str to numpy.ndarray
        For every kind ``k``: ``k_expected`` and ``k_observed`` (coverage levels and the
        observed fractions, shape (L,)), optionally ``k_observed_raw`` (before the
        scale) and ``k_observed_ood`` (scaled, on data that include out-of-distribution
        sets); ``k_abs_error`` and ``k_sigma`` (same shape, > 0 spreads), optionally
        ``k_group`` (integer group of every point); optionally ``k_barriers`` (member
        barriers, eV) and ``reference_barrier`` (eV).  Units eV, Å.
    path : str or Path
        Output PNG file.
    kinds : tuple of str
        Committee kinds, in panel order.
    group_names : tuple of str, optional
        Legend names of the groups ``0, 1, ...``.
    reference : str
        Name of the reference potential in labels.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    KeyError
        A required array is missing (its name in the message).
    ValueError
        Shapes of a kind's errors and spreads differ, or a spread is not > 0.
    """
    need = [f"{k}_{s}" for k in kinds for s in ("expected", "observed", "abs_error", "sigma")]
    missing = [k for k in need if k not in data]
    if missing:
        raise KeyError(f"uncertainty_figure: missing arrays {missing}")
    d = {k: np.asarray(v) for k, v in data.items()}
    for k in kinds:
        if d[f"{k}_abs_error"].shape != d[f"{k}_sigma"].shape:
            raise ValueError(f"uncertainty_figure: {k}_abs_error and {k}_sigma differ in shape")
        if not np.all(d[f"{k}_sigma"] > 0):
            raise ValueError(f"uncertainty_figure: {k}_sigma must be > 0")
    barriers = all(f"{k}_barriers" in d for k in kinds)
    n = 1 + len(kinds) + int(barriers)
    pyplot = plt()
    fig, axes = pyplot.subplots(1, n, figsize=(4.2 * n, 4.0))
    ax = axes[0]
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8)
    for i, k in enumerate(kinds):
        ax.plot(d[f"{k}_expected"], d[f"{k}_observed"], f"C{i}o-", ms=3,
                label=f"{k} (scaled)")
        if f"{k}_observed_raw" in d:
            ax.plot(d[f"{k}_expected"], d[f"{k}_observed_raw"], f"C{i}--", lw=1,
                    label=f"{k} (raw)")
        if f"{k}_observed_ood" in d:
            ax.plot(d[f"{k}_expected"], d[f"{k}_observed_ood"], f"C{i}:", lw=1.5,
                    label=f"{k} (scaled, with OOD)")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="expected coverage",
           ylabel="observed coverage", title="calibration (force components, test set)")
    ax.set_aspect("equal")
    ax.legend(frameon=False, fontsize=8)
    for j, k in enumerate(kinds):
        ax = axes[1 + j]
        e = d[f"{k}_abs_error"].ravel()
        s = d[f"{k}_sigma"].ravel()
        g = d[f"{k}_group"].ravel().astype(int) if f"{k}_group" in d else np.zeros(e.size, int)
        for q in np.unique(g):
            sel = g == q
            name = group_names[q] if group_names is not None and q < len(group_names) \
                else f"group {q}"
            ax.scatter(s[sel], np.maximum(e[sel], 1e-6), s=3, alpha=0.35, lw=0,
                       color=f"C{q}", label=name)
        lo, hi = float(s.min()), float(s.max())
        xs = np.array([lo, hi])
        ax.plot(xs, xs, "k-", lw=0.8, label="|e| = σ")
        ax.plot(xs, 2 * xs, "k--", lw=0.8, label="|e| = 2σ")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set(xlabel="predicted σ (eV/Å)", ylabel="|error| (eV/Å)", title=f"{k} committee")
        ax.legend(frameon=False, fontsize=7, markerscale=3, loc="lower right")
    if barriers:
        ax = axes[-1]
        for i, k in enumerate(kinds):
            b = d[f"{k}_barriers"].ravel()
            ax.scatter(np.full(b.size, i) + np.linspace(-0.15, 0.15, b.size), b, color=f"C{i}",
                       s=18, label=f"{k}: {b.mean():.3f} ± {b.std(ddof=1):.3f} eV"
                       if b.size > 1 else k)
        if "reference_barrier" in d:
            ax.axhline(float(d["reference_barrier"]), color="k", lw=1,
                       label=f"{reference}: {float(d['reference_barrier']):.3f} eV")
        ax.set_xticks(range(len(kinds)), kinds)
        ax.set(xlim=(-0.6, len(kinds) - 0.4), ylabel="migration barrier (eV)",
               title="barrier across members")
        ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return save(fig, path, dpi=110)


def active_learning_figure(curves: Mapping[str, Mapping[str, Any]], path: str | Path, *,
                           title: str = "") -> Path:
    """Learning curves: test force RMSE against the number of labelled configurations.

    One line per selection strategy (e.g. ``"uncertain"``, ``"random"``); when a curve
    holds ``force_rmse_runs`` (one row per repeat), its mean is drawn with the spread over
    repeats as a band.  Written atomically, like :func:`learning_curve_figure`.

    Parameters
    ----------
    curves : mapping of str to mapping
        Per strategy: ``n_labelled`` (shape (R,)) and ``force_rmse`` (eV/Å, shape (R,)),
        optionally ``force_rmse_runs`` (shape (S, R)).
    path : str or Path
        Output PNG file.
    title : str
        Title of the panel.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    KeyError
        A strategy without ``n_labelled`` or ``force_rmse``.
    ValueError
        Their lengths differ.
    """
    if not curves:
        raise ValueError("active_learning_figure: no curves")
    pyplot = plt()
    fig, ax = pyplot.subplots(1, 1, figsize=(5.2, 4.0))
    for i, (name, c) in enumerate(curves.items()):
        for key in ("n_labelled", "force_rmse"):
            if key not in c:
                raise KeyError(f"active_learning_figure: curve {name!r} has no {key!r}")
        n = np.asarray(c["n_labelled"], dtype=np.float64)
        f = np.asarray(c["force_rmse"], dtype=np.float64)
        if n.shape != f.shape:
            raise ValueError(f"active_learning_figure: curve {name!r}: n_labelled and "
                             f"force_rmse differ in length")
        ax.plot(n, f, f"C{i}o-", label=name)
        if "force_rmse_runs" in c:
            runs = np.asarray(c["force_rmse_runs"], dtype=np.float64)
            if runs.ndim == 2 and runs.shape[0] > 1 and runs.shape[1] == n.size:
                ax.fill_between(n, runs.min(axis=0), runs.max(axis=0), color=f"C{i}",
                                alpha=0.2, lw=0)
    ax.set_yscale("log")
    ax.set(xlabel="labelled configurations", ylabel="test force RMSE (eV/Å)", title=title)
    ax.legend(frameon=False)
    fig.tight_layout()
    return save(fig, path, dpi=110)
