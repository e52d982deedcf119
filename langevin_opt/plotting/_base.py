"""Shared pieces of the figures: the lazy matplotlib import, saving, zoom boxes, contour levels."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["distinct_labels", "energy_levels", "plt", "save", "series_colors",
           "supported_formats", "zoom_box"]


def plt():  # noqa: ANN201
    """``matplotlib.pyplot`` with the Agg backend, imported on first use.

    Returns
    -------
    module
        ``matplotlib.pyplot``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def series_colors(n: int) -> list[Any]:
    """``n`` distinct line colours: the tab10 cycle up to 10, else a sampled colormap.

    The default ``C{i % 10}`` cycle repeats after ten series (the 1st and the 11th
    line share a colour); beyond ten, ``turbo`` is sampled at ``n`` evenly spaced
    points, which keeps every colour distinct and ordered (cold to hot).

    Parameters
    ----------
    n : int
        Number of series.

    Returns
    -------
    list
        Matplotlib colour specifications, one per series, all different.
    """
    if n <= 10:
        return [f"C{i}" for i in range(n)]
    import matplotlib

    cmap = matplotlib.colormaps["turbo"]
    return [tuple(float(c) for c in cmap(x)) for x in np.linspace(0.0, 1.0, n)]


def distinct_labels(prefix: str, values: Sequence[float], digits: int = 4) -> list[str]:
    """``prefix + value`` labels with as many significant digits as keep them all distinct.

    Parameters
    ----------
    prefix : str
        Text before each number (``"T = "``).
    values : sequence of float
        The numbers (distinct values give distinct labels).
    digits : int
        Fewest significant digits to show.

    Returns
    -------
    list of str
    """
    vals = [float(v) for v in values]
    for d in range(digits, 18):
        labels = [f"{prefix}{v:.{d}g}" for v in vals]
        if len(set(labels)) == len(set(vals)):
            return labels
    return [f"{prefix}{v!r}" for v in vals]


def supported_formats() -> list[str]:
    """File extensions the Agg canvas writes (``png``, ``pdf``, ``svg``, ...).

    Returns
    -------
    list of str
        Sorted, lower case, without the dot.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    return sorted(FigureCanvasAgg.get_supported_filetypes())


def save(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Write a figure atomically and close it (also when writing fails).

    The figure goes to a temporary name in the same directory, is fsync-ed and
    renamed over ``path``, so a kill leaves the previous file or the complete new
    one, never half an image.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or Path
        Output file; the format follows the extension.
    dpi : int
        Resolution (dots per inch).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    OSError
        The file cannot be written.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        with open(tmp, "wb") as fh:
            fig.savefig(fh, dpi=dpi, format=path.suffix.lstrip(".") or None)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        plt().close(fig)
    return path


def contour_grid(landscape: Any, lo: np.ndarray, hi: np.ndarray, n: int = 160) -> tuple:
    """Energies of a 2-D landscape on an ``n x n`` grid over the box ``[lo, hi]``.

    Parameters
    ----------
    landscape : Landscape
        A 2-D energy surface.
    lo, hi : numpy.ndarray, shape (2,)
        Box corners (length units).
    n : int
        Nodes per axis.

    Returns
    -------
    xs, ys : numpy.ndarray
        Node coordinates (length units).
    e : numpy.ndarray, shape (n, n)
        Energies (``ij`` indexing, energy units).
    """
    xs = np.linspace(lo[0], hi[0], n)
    ys = np.linspace(lo[1], hi[1], n)
    e = landscape.energy_grid(xs, ys)
    return xs, ys, e


def zoom_box(points: Sequence[np.ndarray], bounds: np.ndarray | None,
             pad: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """A 2-D box around ``points`` (padded), inside ``bounds``; ``bounds`` if degenerate.

    Parameters
    ----------
    points : sequence of array_like
        Point sets of shape ``(n, 2)`` (non-finite rows are ignored).
    bounds : numpy.ndarray, shape (2, 2), optional
        The landscape's box.
    pad : float
        Padding as a fraction of the span.

    Returns
    -------
    lo, hi : numpy.ndarray, shape (2,)
        Box corners (length units).
    """
    pts = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in points if np.size(p)]
    pts = [p[np.all(np.isfinite(p), axis=1)] for p in pts]
    pts = [p for p in pts if p.size]
    if not pts:
        if bounds is None:
            return np.array([-1.0, -1.0]), np.array([1.0, 1.0])
        return bounds[:, 0].copy(), bounds[:, 1].copy()
    allp = np.concatenate(pts)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    span = np.maximum(hi - lo, 1e-6 if bounds is None else 0.05 * (bounds[:, 1] - bounds[:, 0]))
    lo, hi = lo - pad * span, hi + pad * span
    if bounds is not None:
        lo, hi = np.maximum(lo, bounds[:, 0]), np.minimum(hi, bounds[:, 1])
    return lo, hi


def energy_levels(e: np.ndarray, n: int = 25) -> np.ndarray:
    """Contour levels from the minimum to the 70th percentile of the finite energies.

    Parameters
    ----------
    e : numpy.ndarray
        Energies on a grid (energy units).
    n : int
        Number of levels.

    Returns
    -------
    numpy.ndarray, shape (n,)
    """
    finite = e[np.isfinite(e)]
    lo = float(finite.min())
    hi = float(np.percentile(finite, 70))
    if hi <= lo:
        hi = float(finite.max()) if finite.max() > lo else lo + 1.0
    return np.linspace(lo, hi, n)
