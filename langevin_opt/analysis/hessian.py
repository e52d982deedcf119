"""The package's one finite-difference Hessian: central differences of an analytic gradient.

:func:`fd_hessian` is the implementation; :func:`hessian` and :func:`laplacian`
apply it to a :class:`~langevin_opt.Landscape` (batches of configurations), and
:func:`langevin_opt.rates.hessian_fd` to an ``f(x) -> (E, g)`` callable.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..landscapes import Landscape

__all__ = ["fd_hessian", "hessian", "laplacian"]


def fd_hessian(gradient: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
               eps: float) -> np.ndarray:
    """Symmetrised Hessians by central differences of a batched gradient.

    Column ``k`` of every Hessian is ``(∇U(x + h e_k) - ∇U(x - h e_k)) / (2h)``;
    the result is ``(H + Hᵀ) / 2``.  The error is ``O(h²)`` plus rounding
    ``~1e-16 |∇U| / h``.

    Parameters
    ----------
    gradient : callable
        ``gradient(X) -> G``: gradients ``∂U/∂x`` (energy / length) of a batch
        ``X`` of shape ``(M, n)``, returned with the same shape.
    x : numpy.ndarray, shape (M, n)
        Configurations (length units), float64.
    eps : float
        Difference step ``h`` (length units), ``> 0``.

    Returns
    -------
    numpy.ndarray, shape (M, n, n)
        Symmetrised Hessians (energy / length²).
    """
    n = x.shape[1]
    h = float(eps)
    out = np.empty((x.shape[0], n, n))
    for k in range(n):
        e = np.zeros(n)
        e[k] = h
        out[:, :, k] = (gradient(x + e) - gradient(x - e)) / (2.0 * h)
    return 0.5 * (out + np.swapaxes(out, 1, 2))


def _fd_step(landscape: Landscape, eps: float | None) -> float:
    if eps is not None:
        return float(eps)
    if landscape.bounds is not None:
        return 1e-5 * float(np.max(landscape.bounds[:, 1] - landscape.bounds[:, 0]))
    return 1e-5


def hessian(landscape: Landscape, x: np.ndarray, eps: float | None = None) -> np.ndarray:
    """Hessians ``∂²U/∂x_a∂x_b`` by central differences of the analytic gradient.

    Parameters
    ----------
    landscape : Landscape
        Energy surface.
    x : array_like, shape (M, d) or (d,)
        Configurations (length units).
    eps : float, optional
        Difference step (length units); default ``1e-5`` times the largest box
        edge.  The error is ``O(eps²)`` (plus rounding ``~1e-16 |∇U| / eps``).

    Returns
    -------
    numpy.ndarray, shape (M, d, d)
        Symmetrised Hessians (energy / length²).
    """
    return fd_hessian(landscape.gradient, landscape._as_batch(x), _fd_step(landscape, eps))


def laplacian(landscape: Landscape, x: np.ndarray, eps: float | None = None) -> np.ndarray:
    """Laplacian ``ΔU = Σ_k ∂²U/∂x_k²`` by central differences of the gradient.

    Parameters
    ----------
    landscape : Landscape
        Energy surface.
    x : array_like, shape (M, d) or (d,)
        Configurations (length units).
    eps : float, optional
        Difference step (length units), see :func:`hessian`.

    Returns
    -------
    numpy.ndarray, shape (M,)
        ``ΔU`` (energy / length²).
    """
    return np.trace(hessian(landscape, x, eps), axis1=1, axis2=2)
