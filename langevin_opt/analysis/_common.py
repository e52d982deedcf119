"""Argument helpers shared by the analysis modules (landscape, box, minima, temperature)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.validation import check_positive
from ..landscapes import Landscape

_MAX_DIM = 2


def _check_temperature(temperature: float) -> float:
    return check_positive("temperature", temperature)


def _check_landscape(landscape: Landscape) -> None:
    if not isinstance(landscape, Landscape):
        raise TypeError(f"landscape must be a Landscape, got {type(landscape).__name__}")
    if landscape.dim > _MAX_DIM:
        raise ValueError(
            f"quadrature is implemented for 1-D and 2-D landscapes, got dim={landscape.dim}"
        )


def _box(landscape: Landscape, bounds: np.ndarray | Sequence | None) -> np.ndarray:
    b = landscape.bounds if bounds is None else bounds
    if b is None:
        raise ValueError(
            f"landscape '{landscape.name}' has no bounds; pass bounds=[[lo, hi], ...]"
        )
    b = np.asarray(b, dtype=np.float64).reshape(landscape.dim, 2)
    if not np.all(np.isfinite(b)) or np.any(b[:, 1] <= b[:, 0]):
        raise ValueError("bounds must be finite with lower < upper in every dimension")
    return b


def _minima(landscape: Landscape, minima: np.ndarray | None) -> np.ndarray:
    m = landscape.minima if minima is None else minima
    if m is None:
        raise ValueError(
            f"landscape '{landscape.name}' has no known minima; pass minima=[[...], ...]"
        )
    return np.asarray(m, dtype=np.float64).reshape(-1, landscape.dim)


def _points(axes: Sequence[np.ndarray]) -> np.ndarray:
    """Rows of the ``ij``-ordered tensor grid of ``axes``, shape ``(N, d)``."""
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)
