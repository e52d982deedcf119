"""Figures of neural-potential training (``langevin-opt fit-potential``)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ._base import plt

__all__ = ["learning_curve_figure"]


def learning_curve_figure(curve: Mapping[str, np.ndarray], path: str | Path, *,
                          title: str = "") -> Path:
    """Training loss and train/validation energy and force RMSEs against iteration.

    The figure is rendered in memory and written atomically (temporary file, ``fsync``,
    rename), so an interrupted run never leaves a half-written image.

    Parameters
    ----------
    curve : mapping of str to numpy.ndarray
        :attr:`langevin_opt.mlip.FitResult.curve`: ``iteration``, ``loss``,
        ``train_energy_rmse``, ``train_force_rmse`` and optionally ``val_energy_rmse``,
        ``val_force_rmse`` (energy per atom; energy / length per component).
    path : str or Path
        Output PNG file.
    title : str
        Title of the loss panel.

    Returns
    -------
    Path
        The written file.
    """
    from ..storage._safe import write_atomic

    pyplot = plt()
    fig, axes = pyplot.subplots(1, 3, figsize=(12, 3.6))
    it = np.asarray(curve["iteration"])
    axes[0].semilogy(it, curve["loss"], "k-")
    axes[0].set(xlabel="iteration", ylabel="training loss U", title=title)
    for ax, key, label in ((axes[1], "energy_rmse", "energy RMSE per atom"),
                           (axes[2], "force_rmse", "force RMSE per component")):
        ax.semilogy(it, curve["train_" + key], "C0-", label="train")
        if "val_" + key in curve:
            ax.semilogy(it, curve["val_" + key], "C1--", label="validation")
        ax.set(xlabel="iteration", ylabel=label)
        ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=110)
    finally:
        pyplot.close(fig)
    write_atomic(str(path), buf.getvalue())
    return Path(path)
