"""Compute precision of the networks: float64 (default) or float32.

The network kernels of :mod:`.mlp` are written once and compiled per argument
type (Numba dispatch): with float32 parameters, inputs and scratch the
products, activations and backpropagation run in float32 (16 lanes per
AVX-512 vector instead of 8); with float64 arrays the very same source gives
the float64 kernels, bit-identical to before.

A float32 *data landscape* keeps the sampler in float64: ``theta``, the
gradient handed to the update, the method state and the update arithmetic
``theta <- theta - eta grad + sqrt(2 eta T) xi`` stay float64, and only the
network evaluation is float32.  The chain's float32 scratch row ``fwork``
starts with a float32 copy of ``theta`` and a float32 gradient buffer (each
:func:`param_pad` ``(P)`` long), then the network scratch.  The helpers
below are resolved at compile time from the dtypes: when ``fwork`` has the
dtype of ``theta`` they return their arguments unchanged and copy nothing, so
the float64 kernels are exactly the former ones.

Why float64 parameters: a float32 ``theta`` of size ``|theta| ~ 1`` resolves
``6e-8``; the SGLD drift ``eta * grad U~`` per step is often smaller (a
mean-loss learning rate of 1e-3 on a gradient of 1e-4) and would be rounded
away or biased, and the accumulation of many ``sqrt(2 eta T) xi`` increments
loses the low bits that make the stationary variance right.  The two
conversions per step (``P`` floats each way) cost 2.9 us at ``P = 9,610``,
about 1.5 % of a float32 step of the benchmark network (~200 us; see
``benchmarks/bench_sgld.py``): all that a float32 ``theta`` could save, while
the update itself is dominated by the Philox normals either way, and a
compensated (Kahan) float32 update would need a second float32 array per
method state and changes in every method's update.

Reproducibility: a float32 chain is bit-identical for any number of threads
and chains run together (the float32 products are compiled with FMA
contraction, so its last bits may differ between CPUs with and without FMA).
"""

from __future__ import annotations

import numpy as np
from numba.extending import overload

__all__ = ["DTYPES", "check_dtype", "param_pad", "work_grad", "work_params", "work_scratch",
           "grad_store", "grad_zero_chunk", "grad_add_chunk"]

#: Accepted compute precisions (name -> NumPy type).
DTYPES = {"float64": np.float64, "float32": np.float32}

_OVL = {"cache": True, "nogil": True, "error_model": "numpy"}


def check_dtype(name: str, value: object) -> str:
    """Validate a compute precision; return its name (``"float64"`` or ``"float32"``).

    Parameters
    ----------
    name : str
        Argument name for the error message.
    value : object
        ``"float32"``, ``"float64"``, ``numpy.float32``, ``numpy.float64`` or
        the corresponding ``numpy.dtype``.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        Anything else (one line naming the accepted values).
    """
    try:
        dt = np.dtype(value) if not isinstance(value, bool) and value is not None else None
    except TypeError:
        dt = None
    if dt is None or dt.name not in DTYPES:
        raise ValueError(f"{name} must be 'float64' or 'float32', got {value!r}")
    return dt.name


def param_pad(n_params: int) -> int:
    """Length of each of the two float32 parameter rows in ``fwork`` (``P`` rounded up to 16).

    Parameters
    ----------
    n_params : int
        ``P``.

    Returns
    -------
    int
    """
    return (int(n_params) + 15) // 16 * 16


# ----------------------------------------------------------- compiled helpers
def work_params(theta, fwork):
    """``theta`` in the precision of ``fwork`` (compiled code only)."""
    raise NotImplementedError("work_params is for compiled code")


def work_grad(grad, fwork):
    """The gradient buffer in the precision of ``fwork`` (compiled code only)."""
    raise NotImplementedError("work_grad is for compiled code")


def work_scratch(fwork, theta):
    """The network part of ``fwork`` (compiled code only)."""
    raise NotImplementedError("work_scratch is for compiled code")


def grad_store(grad, gw):
    """``grad[:] = gw`` if they are distinct buffers (compiled code only)."""
    raise NotImplementedError("grad_store is for compiled code")


def grad_zero_chunk(gw, grad):
    """Zero ``gw`` if it is a separate buffer (compiled code only)."""
    raise NotImplementedError("grad_zero_chunk is for compiled code")


def grad_add_chunk(grad, gw):
    """``grad += gw`` (float64 accumulation) if distinct buffers (compiled code only)."""
    raise NotImplementedError("grad_add_chunk is for compiled code")


def _same(a, b) -> bool:
    return a.dtype == b.dtype


@overload(work_params, jit_options=_OVL)
def _work_params_impl(theta, fwork):
    if _same(theta, fwork):
        return lambda theta, fwork: theta

    def impl(theta, fwork):
        n = theta.shape[0]
        w = fwork[:n]
        for p in range(n):
            w[p] = theta[p]
        return w
    return impl


@overload(work_grad, jit_options=_OVL)
def _work_grad_impl(grad, fwork):
    if _same(grad, fwork):
        return lambda grad, fwork: grad

    def impl(grad, fwork):
        n = grad.shape[0]
        o = (n + 15) // 16 * 16
        return fwork[o:o + n]
    return impl


@overload(work_scratch, jit_options=_OVL)
def _work_scratch_impl(fwork, theta):
    if _same(theta, fwork):
        return lambda fwork, theta: fwork

    def impl(fwork, theta):
        return fwork[2 * ((theta.shape[0] + 15) // 16 * 16):]
    return impl


@overload(grad_store, jit_options=_OVL)
def _grad_store_impl(grad, gw):
    if _same(grad, gw):
        return lambda grad, gw: None

    def impl(grad, gw):
        for p in range(grad.shape[0]):
            grad[p] = gw[p]
    return impl


@overload(grad_zero_chunk, jit_options=_OVL)
def _grad_zero_chunk_impl(gw, grad):
    if _same(grad, gw):
        return lambda gw, grad: None

    def impl(gw, grad):
        for p in range(gw.shape[0]):
            gw[p] = 0.0
    return impl


@overload(grad_add_chunk, jit_options=_OVL)
def _grad_add_chunk_impl(grad, gw):
    if _same(grad, gw):
        return lambda grad, gw: None

    def impl(grad, gw):
        for p in range(grad.shape[0]):
            grad[p] += gw[p]
    return impl
