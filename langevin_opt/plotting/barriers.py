"""Barriers and escape on a network's loss: the four-panel paper figure.

Panels: (a) the loss along the minimum-energy path and along the straight line
between two aligned minima; (b) the barrier between independently trained minima
against the hidden-layer width; (c) ``ln k`` against ``1/T`` for overdamped Langevin
with the Eyring–Kramers lines; (d) the escape time of plain minibatch SGD against
batch size / learning rate, one series per minimum.  Every input is plain arrays
(the paper script reads them from the experiments' JSON); loss and temperature in
loss units (``k_B = 1``), time in gradient-flow units (step size × steps).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._base import plt, save

__all__ = ["network_barriers_figure"]

_PATH_KEYS = ("neb_s", "neb_energy", "line_s", "line_energy")
_WIDTH_KEYS = ("width", "neb_barrier", "line_barrier")
_RATE_KEYS = ("temperature", "rate", "rate_low", "rate_high", "eyring_kramers")
_SGD_KEYS = ("label", "batch_over_lr", "time", "time_low", "time_high")


def _need(block: Mapping[str, Any], keys: Sequence[str], name: str) -> dict[str, np.ndarray]:
    """The arrays of ``block`` named by ``keys`` (KeyError naming the missing one)."""
    out = {}
    for k in keys:
        if k not in block:
            raise KeyError(f"{name} needs key {k!r} (has {sorted(block)})")
        out[k] = block[k] if k == "label" else np.asarray(block[k], dtype=np.float64)
    return out


def network_barriers_figure(path_profile: Mapping[str, Any], width_scan: Mapping[str, Any],
                            langevin: Mapping[str, Any], sgd: Sequence[Mapping[str, Any]],
                            out: str | Path, *, title: str | None = None) -> Path:
    """Draw the barrier / escape figure of a network loss and write it atomically.

    Parameters
    ----------
    path_profile : mapping
        ``neb_s``, ``neb_energy``: normalised arc length (0 to 1) and loss of the NEB
        images; ``line_s``, ``line_energy``: the same along the straight line between
        the aligned end points.  Optional ``label`` (str) for the panel title.
    width_scan : mapping or sequence of mappings
        ``width`` (hidden units, one entry per pair of minima), ``neb_barrier`` and
        ``line_barrier`` (loss units, same length); optional ``label``.  A sequence
        draws one series per mapping (e.g. one per data-set size).
    langevin : mapping
        Per temperature: ``temperature``, ``rate``, ``rate_low``, ``rate_high``
        (inverse time) and ``eyring_kramers`` (the single-saddle prediction); optional
        ``eyring_kramers_total`` (summed over the saddles the walkers used).
    sgd : sequence of mappings
        One per start minimum: ``label`` (str), ``batch_over_lr`` (batch size /
        learning rate), ``time``, ``time_low``, ``time_high`` (mean escape time and
        its interval, gradient-flow time units; ``inf`` or NaN where no walker
        escaped: not drawn).
    out : str or Path
        Output image (format from the extension).
    title : str, optional
        Figure title.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    KeyError
        A required key is missing (nothing is written).
    ValueError
        Arrays of one panel differ in length, or ``sgd`` is empty.
    """
    p = _need(path_profile, _PATH_KEYS, "path_profile")
    scans = [width_scan] if isinstance(width_scan, Mapping) else list(width_scan)
    if not scans:
        raise ValueError("width_scan needs at least one series")
    ws = [_need(x, _WIDTH_KEYS, f"width_scan[{i}]") for i, x in enumerate(scans)]
    r = _need(langevin, _RATE_KEYS, "langevin")
    series = [_need(s, _SGD_KEYS, f"sgd[{i}]") for i, s in enumerate(sgd)]
    if not series:
        raise ValueError("sgd needs at least one series")
    blocks = [("path_profile", p, (("neb_s", "neb_energy"), ("line_s", "line_energy"))),
              ("langevin", r, (("temperature", "rate"), ("temperature", "eyring_kramers")))]
    blocks += [(f"width_scan[{i}]", w, (("width", "neb_barrier"), ("width", "line_barrier")))
               for i, w in enumerate(ws)]
    for name, block, pairs in blocks:
        for a, b in pairs:
            if block[a].shape != block[b].shape:
                raise ValueError(f"{name}: {a} and {b} differ in length "
                                 f"({block[a].size} vs {block[b].size})")
    total = langevin.get("eyring_kramers_total")

    pyplot = plt()
    fig, axes = pyplot.subplots(2, 2, figsize=(10.5, 8.0))
    try:
        ax = axes[0, 0]
        ax.plot(p["line_s"], p["line_energy"], color="0.55", ls="--", label="straight line")
        ax.plot(p["neb_s"], p["neb_energy"], "o-", color="C0", ms=3, label="NEB path")
        ax.set_xlabel("normalised path length")
        ax.set_ylabel("loss U (prior included)")
        ax.set_title("(a) " + str(path_profile.get("label", "path between two minima")))
        ax.legend(frameon=False)

        ax = axes[0, 1]
        for i, (w, scan) in enumerate(zip(ws, scans, strict=True)):
            tag = f" {scan['label']}" if "label" in scan else ""
            col = f"C{1 + 2 * i}"
            ax.scatter(w["width"] * 0.94, w["line_barrier"], s=12, marker="x", color=col,
                       alpha=0.6, label=f"straight line{tag}")
            ax.scatter(w["width"] * 1.06, w["neb_barrier"], s=14, color=col,
                       label=f"NEB{tag}")
            widths = np.unique(w["width"])
            med = [np.median(w["neb_barrier"][w["width"] == x]) for x in widths]
            ax.plot(widths, med, color=col, lw=1.2)
        ax.set_xscale("log", base=2)
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_ylim(bottom=0.0)
        ax.set_xlabel("hidden units")
        ax.set_ylabel("barrier ΔU between aligned minima")
        ax.set_title("(b) mode connectivity against width")
        ax.legend(frameon=False, fontsize=8)

        ax = axes[1, 0]
        inv = 1.0 / r["temperature"]
        err = np.vstack([np.log(r["rate"]) - np.log(r["rate_low"]),
                         np.log(r["rate_high"]) - np.log(r["rate"])])
        ax.errorbar(inv, np.log(r["rate"]), yerr=err, fmt="o", color="C0", capsize=3,
                    label="Langevin (95 % interval)")
        if total is not None:
            ax.plot(inv, np.log(np.asarray(total, dtype=np.float64)), color="C2", lw=3,
                    alpha=0.5, label="Eyring–Kramers, all saddles used")
        ax.plot(inv, np.log(r["eyring_kramers"]), color="C3", ls=":",
                label="Eyring–Kramers, NEB saddle")
        ax.set_xlabel("1 / T")
        ax.set_ylabel("ln k")
        ax.set_title("(c) Arrhenius law of overdamped Langevin")
        ax.legend(frameon=False, fontsize=8)

        ax = axes[1, 1]
        for i, s in enumerate(series):
            ok = np.isfinite(s["time"]) & (s["time"] > 0)
            x = s["batch_over_lr"][ok]
            o = np.argsort(x)
            lo = np.clip(s["time"][ok] - s["time_low"][ok], 0, None)
            hi = np.clip(s["time_high"][ok] - s["time"][ok], 0, None)
            ax.errorbar(x[o], s["time"][ok][o], yerr=[lo[o], hi[o]], fmt="o-",
                        color=f"C{i + 4}", capsize=3, label=str(s["label"]))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("batch size / learning rate")
        ax.set_ylabel("mean escape time (lr × steps)")
        ax.set_title("(d) plain SGD, no injected noise")
        ax.legend(frameon=False, fontsize=8)
        if title:
            fig.suptitle(title, fontsize=10)
        fig.tight_layout()
    except BaseException:
        pyplot.close(fig)
        raise
    return save(fig, out)
