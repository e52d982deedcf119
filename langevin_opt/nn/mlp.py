"""Compiled multilayer perceptrons with hand-written backpropagation.

Network
-------
Layer sizes ``s_0, s_1, ..., s_L`` (``s_0`` inputs, ``s_L`` outputs).  Layer
``l = 0..L-1`` maps ``a_l`` (length ``s_l``) to

``z_{l+1} = W_l a_l + b_l``,  ``a_{l+1} = act_l(z_{l+1})``

with ``W_l`` of shape ``(s_{l+1}, s_l)`` (PyTorch's ``Linear`` convention) and
the activation of the last layer the identity (the outputs ``f(x) = z_L``
are the logits or the regression prediction).  Hidden activations:
``"tanh"``, ``"relu"``, ``"softplus"``, ``"sigmoid"`` (and ``"identity"``).

Flat parameter vector
---------------------
``theta`` (shape ``(P,)``) holds, layer after layer, ``W_l`` row-major then
``b_l``: ``[W_0.ravel(), b_0, W_1.ravel(), b_1, ...]``;
``P = sum_l s_{l+1} (s_l + 1)``.  :meth:`MLP.unflatten` returns views.

Losses (per example)
--------------------
* ``"mse"``: ``loss_i = ||f(x_i) - y_i||^2 / (2 sigma^2)`` with the noise
  variance ``sigma^2 = noise_var`` (default 1, i.e. half the squared error):
  the negative log-likelihood of a Gaussian of variance ``sigma^2`` up to a
  constant.  Targets: float array ``(N, s_L)``.
* ``"softmax_ce"``: ``loss_i = logsumexp(f(x_i)) - f(x_i)[y_i]`` (softmax
  cross-entropy, natural log, computed stably with the maximum subtracted).
  Targets: integer labels in ``[0, s_L)``.

Kernels and layout: why hand-written loops and not BLAS
-------------------------------------------------------
The kernels are module-level ``numba.njit(cache=True)`` functions taking the
layer sizes as an int64 array, so they compile once per argument type and are
cached on disk.  Activations of a batch of ``n`` examples are stored
*feature-major* (``a_l`` as an ``(s_l, n)`` block: the batch is the fast,
SIMD axis, as in the walker kernels), together with a batch-major copy for
the weight gradients.  Every matrix product is then written
as AXPYs along a contiguous axis in 4 x 4 register blocks (4 output rows per
pass over 4 input rows), which LLVM vectorizes without reassociation; with no
fast-math flags the order of every sum is fixed by the source, so results are
bit-identical whatever the caller (serial loop, ``prange`` over chains, any
number of threads).  ``tanh``, ``sigmoid``, ``softplus`` and the softmax use
the vectorizable IEEE-only functions of :mod:`langevin_opt._fastmath`
(Numba would otherwise call scalar libm ``tanh``/``exp``, the reason a naive
Numba MLP is 2.7x slower than NumPy).

Why not BLAS: measured on the benchmark's shapes (64-128-10, batch 128), a
forward product plus a weight-gradient product take ~102 us of CPU time here
and in OpenBLAS ``dgemm`` as NumPy calls it (~101-104 us): near the machine's
multiply-add throughput either way (letting LLVM fuse them into FMAs would gain
~8 %, at the price of FMA-dependent bits).  ``np.dot(a, b, out)`` inside
``njit`` would add OpenBLAS thread pools inside the samplers' ``prange``
loops (oversubscription unless pinned, scheduling that depends on the thread
count), so it is not used.

Scratch (``fwork``) for a batch of capacity ``n``: :func:`fwork_size`
float64 values; nothing is allocated per call.

Precision
---------
The kernels are written once and compiled per array dtype: with float32
``theta``, ``X``, targets and ``fwork`` (``MLP(..., dtype="float32")``) the
products, activations and backpropagation run in float32, twice the SIMD
width.  Chosen at compile time from the dtype: ``tanh`` becomes a float32
rational approximation (absolute error < 4e-7; the other activations and the
softmax are evaluated in float64 and rounded), the three products are the
same source compiled with FMA contraction, and the batch sums of the loss and
of the bias gradients are accumulated in float64.  Float64 arrays give the
float64 kernels, bit for bit as before.  Measured on the benchmark network
(64-128-10, batch 128): forward + backward 185 + 118 us in float64, 67 + 58
us in float32.
"""

from __future__ import annotations

import types
from collections.abc import Sequence

import numba
import numpy as np
from numba.extending import overload

from .. import _fastmath as fm
from ..core.validation import check_choice, check_positive, check_seed
from ._precision import check_dtype

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "MLP",
    "fwork_size",
    "mlp_backward",
    "mlp_forward",
    "mlp_output_loss",
]

#: Activation name -> code used by the kernels.
ACTIVATIONS = {"identity": 0, "tanh": 1, "relu": 2, "softplus": 3, "sigmoid": 4}
#: Loss name -> code used by the kernels (``-1`` in the kernels: cotangent mode).
LOSSES = {"mse": 0, "softmax_ce": 1}
LOSS_COTANGENT = -1

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}

# The vectorizable activations of _fastmath, inlined at the Numba-IR level into
# the activation loops below.  Left to LLVM, ``tanh`` (exp + polynomial +
# division) exceeds the inliner's budget and every element becomes a scalar
# call (measured 6x slower).  IR inlining is safe here because the callers use
# ``error_model="numpy"`` too (no ZeroDivisionError branch in the loop).
_inl = numba.njit(inline="always", error_model="numpy")
# fm.tanh without its annotations (an overload's implementation must match the
# typing signature ``(x)``), inlined at the IR level below as before
_tanh64 = types.FunctionType(fm.tanh.py_func.__code__, fm.tanh.py_func.__globals__, "_tanh64")

# float32 tanh: the odd rational approximation of Eigen's ``ptanh_float`` (degree 13/6 on
# [-7.9053, 7.9053], ``tanh(x) = x`` below 4e-4), in float32 arithmetic only, so that it
# runs 16 lanes wide; measured against float64 ``tanh`` in tests/test_nn_float32.py
# (absolute error < 3e-7).  Float64 networks keep the float64 ``tanh`` of _fastmath.
_T32 = {k: np.float32(v) for k, v in {
    "clamp": 7.90531110763549805, "tiny": 0.0004,
    "a1": 4.89352455891786e-03, "a3": 6.37261928875436e-04, "a5": 1.48572235717979e-05,
    "a7": 5.12229709037114e-08, "a9": -8.60467152213735e-11, "a11": 2.00018790482477e-13,
    "a13": -2.76076847742355e-16, "b0": 4.89352518554385e-03, "b2": 2.26843463243900e-03,
    "b4": 1.18534705686654e-04, "b6": 1.19825839466702e-06}.items()}
_C, _TINY = _T32["clamp"], _T32["tiny"]
_A1, _A3, _A5, _A7 = _T32["a1"], _T32["a3"], _T32["a5"], _T32["a7"]
_A9, _A11, _A13 = _T32["a9"], _T32["a11"], _T32["a13"]
_B0, _B2, _B4, _B6 = _T32["b0"], _T32["b2"], _T32["b4"], _T32["b6"]


def _tanh32(x):
    c = min(max(x, -_C), _C)
    z = c * c
    p = c * (_A1 + z * (_A3 + z * (_A5 + z * (_A7 + z * (_A9 + z * (_A11 + z * _A13))))))
    q = _B0 + z * (_B2 + z * (_B4 + z * _B6))
    return x if abs(x) < _TINY else p / q


def _tanh(x):
    """``tanh`` in the precision of ``x`` (compiled code only; inlined at the IR level)."""
    raise NotImplementedError("_tanh is for compiled code")


@overload(_tanh, inline="always", jit_options={"error_model": "numpy"})
def _tanh_impl(x):
    if x == numba.types.float32:
        return _tanh32
    return _tanh64
_sigmoid = _inl(fm.sigmoid.py_func)
_log1p = _inl(fm.log1p.py_func)
_exp = fm.exp


def fwork_size(sizes: Sequence[int], batch: int) -> int:
    """Float64 scratch needed by the kernels for batches of up to ``batch`` examples.

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes ``(s_0, ..., s_L)``.
    batch : int
        Batch capacity ``n``.

    Returns
    -------
    int
        ``4 n sum(sizes) + 3 n``.
    """
    return 4 * int(batch) * int(sum(int(s) for s in sizes)) + 3 * int(batch)


def _mat(a, o, r, c):
    """``a[o:o + r*c]`` viewed as an ``(r, c)`` matrix (compiled code only)."""
    raise NotImplementedError("_mat is for compiled code")


@overload(_mat, jit_options={"cache": True})
def _mat_impl(a, o, r, c):
    if a.layout == "C":  # the fast path: a C-contiguous matrix type
        def view(a, o, r, c):
            return a[o:o + r * c].reshape((r, c))
    else:  # any strided vector (e.g. a column of a Fortran array): still no copy
        def view(a, o, r, c):
            v = a[o:o + r * c]
            s = v.strides[0]
            return np.lib.stride_tricks.as_strided(v, shape=(r, c), strides=(c * s, s))
    return view


# ----------------------------------------------------------------- kernels
@numba.njit(**_JIT)
def _n_params(sizes):
    p = 0
    for l in range(sizes.shape[0] - 1):  # noqa: E741
        p += sizes[l + 1] * (sizes[l] + 1)
    return p


@numba.njit(**_JIT)
def _block(sizes, l, n):  # noqa: E741
    """Offset of layer ``l``'s block ``[A | D | E | T]`` (each ``s_l * n``) in fwork."""
    o = 0
    for m in range(l):
        o += 4 * sizes[m] * n
    return o


@numba.njit(**_JIT)
def _act_tanh(Z, D, so, n):
    for j in range(so):
        for b in range(n):
            t = _tanh(Z[j, b])
            Z[j, b] = t
            D[j, b] = 1.0 - t * t


@numba.njit(**_JIT)
def _act_relu(Z, D, so, n):
    for j in range(so):
        for b in range(n):
            z = Z[j, b]
            pos = z > 0.0
            Z[j, b] = z if pos else 0.0
            D[j, b] = 1.0 if pos else 0.0


@numba.njit(**_JIT)
def _act_softplus(Z, D, so, n):
    for j in range(so):
        for b in range(n):
            z = Z[j, b]
            e = _exp(-abs(z))
            r = 1.0 / (1.0 + e)
            s = e * r if z < 0.0 else r
            m = z if z > 0.0 else 0.0
            Z[j, b] = m + _log1p(e)
            D[j, b] = s


@numba.njit(**_JIT)
def _act_sigmoid(Z, D, so, n):
    for j in range(so):
        for b in range(n):
            s = _sigmoid(Z[j, b])
            Z[j, b] = s
            D[j, b] = s * (1.0 - s)


@numba.njit(**_JIT)
def _act_identity(Z, D, so, n):
    for j in range(so):
        for b in range(n):
            D[j, b] = 1.0


@numba.njit(**_JIT)
def _act_layer(code, Z, D, so, n):
    # one small function per activation: each stays a straight loop with the
    # math inlined, which LLVM vectorizes (one big function with every branch
    # exceeds the inliner's budget and leaves scalar calls to tanh)
    if code == 1:
        _act_tanh(Z, D, so, n)
    elif code == 2:
        _act_relu(Z, D, so, n)
    elif code == 3:
        _act_softplus(Z, D, so, n)
    elif code == 4:
        _act_sigmoid(Z, D, so, n)
    else:
        _act_identity(Z, D, so, n)


@numba.njit(**_JIT)
def _gather(X, idx, i0, n, A0, T0):
    s0 = X.shape[1]
    for b in range(n):
        r = idx[i0 + b]
        for k in range(s0):
            T0[b, k] = X[r, k]
    _transpose(T0, A0, n, s0)


@numba.njit(**_JIT)
def _transpose(S, T, rows, cols):
    # T[c, r] = S[r, c], in 8 x 8 tiles
    for r0 in range(0, rows, 8):
        r1 = min(r0 + 8, rows)
        for c0 in range(0, cols, 8):
            c1 = min(c0 + 8, cols)
            for c in range(c0, c1):
                for r in range(r0, r1):
                    T[c, r] = S[r, c]


# The three products of a dense layer, _dense (Z = W A + b), _grad_w (gW += E T^T) and
# _dense_t (Ep = W^T E), look alike on purpose and are not merged: each is hand-blocked
# 4 x 4 along its own contiguous axis so that LLVM vectorizes its inner loop, and a
# shared generic routine would change the order of the floating-point sums (results
# must stay bit-identical) and lose the vectorization (the SIMD variants are the point).
@numba.njit(**_JIT)
def _dense(W, bias, A, Z, so, si, n):
    # Z[j, :] = bias[j] + sum_k W[j, k] A[k, :]: AXPYs along the batch axis in
    # 4 x 4 register blocks of W (4 rows of Z per pass over 4 rows of A).
    j = 0
    while j + 4 <= so:
        for b in range(n):
            Z[j, b] = bias[j]
            Z[j + 1, b] = bias[j + 1]
            Z[j + 2, b] = bias[j + 2]
            Z[j + 3, b] = bias[j + 3]
        k = 0
        while k + 4 <= si:
            w00, w01, w02, w03 = W[j, k], W[j, k + 1], W[j, k + 2], W[j, k + 3]
            w10, w11, w12, w13 = W[j + 1, k], W[j + 1, k + 1], W[j + 1, k + 2], W[j + 1, k + 3]
            w20, w21, w22, w23 = W[j + 2, k], W[j + 2, k + 1], W[j + 2, k + 2], W[j + 2, k + 3]
            w30, w31, w32, w33 = W[j + 3, k], W[j + 3, k + 1], W[j + 3, k + 2], W[j + 3, k + 3]
            for b in range(n):
                a0 = A[k, b]
                a1 = A[k + 1, b]
                a2 = A[k + 2, b]
                a3 = A[k + 3, b]
                Z[j, b] += w00 * a0 + w01 * a1 + w02 * a2 + w03 * a3
                Z[j + 1, b] += w10 * a0 + w11 * a1 + w12 * a2 + w13 * a3
                Z[j + 2, b] += w20 * a0 + w21 * a1 + w22 * a2 + w23 * a3
                Z[j + 3, b] += w30 * a0 + w31 * a1 + w32 * a2 + w33 * a3
            k += 4
        while k < si:
            w0, w1, w2, w3 = W[j, k], W[j + 1, k], W[j + 2, k], W[j + 3, k]
            for b in range(n):
                a0 = A[k, b]
                Z[j, b] += w0 * a0
                Z[j + 1, b] += w1 * a0
                Z[j + 2, b] += w2 * a0
                Z[j + 3, b] += w3 * a0
            k += 1
        j += 4
    while j < so:
        bj = bias[j]
        for b in range(n):
            Z[j, b] = bj
        k = 0
        while k + 4 <= si:
            w0, w1, w2, w3 = W[j, k], W[j, k + 1], W[j, k + 2], W[j, k + 3]
            for b in range(n):
                Z[j, b] += w0 * A[k, b] + w1 * A[k + 1, b] + w2 * A[k + 2, b] + w3 * A[k + 3, b]
            k += 4
        while k < si:
            w0 = W[j, k]
            for b in range(n):
                Z[j, b] += w0 * A[k, b]
            k += 1
        j += 1


@numba.njit(**_JIT)
def mlp_forward(theta, sizes, acts, X, idx, i0, n, fwork):
    """Forward pass of the batch ``X[idx[i0:i0 + n]]`` into ``fwork`` (compiled kernel).

    Parameters
    ----------
    theta : numpy.ndarray of float64, shape (P,)
        Flat parameters (layout in the module docstring).
    sizes : numpy.ndarray of int64, shape (L + 1,)
        Layer sizes.
    acts : numpy.ndarray of int64, shape (L,)
        Activation code of each layer (:data:`ACTIVATIONS`; the last is
        applied to the outputs, normally 0 = identity).
    X : numpy.ndarray of float64, shape (N, s_0)
        Inputs.
    idx : numpy.ndarray of int64
        Example indices; the batch is ``idx[i0:i0 + n]``.
    i0, n : int
        Start in ``idx`` and batch size (``n`` at most the capacity of ``fwork``).
    fwork : numpy.ndarray of float64, shape (>= fwork_size(sizes, n),)
        Scratch; on return holds the activations (feature-major), activation
        derivatives and batch-major copies of every layer.

    Returns
    -------
    int
        Offset in ``fwork`` of the outputs ``f``, an ``(s_L, n)`` block.
    """
    L = sizes.shape[0] - 1
    s0 = sizes[0]
    _gather(X, idx, i0, n, _mat(fwork, 0, s0, n),
            _mat(fwork, 3 * s0 * n, n, s0))
    base = 0
    po = 0
    for l in range(L):  # noqa: E741
        si = sizes[l]
        so = sizes[l + 1]
        bo = po + so * si
        nb = base + 4 * si * n
        Z = _mat(fwork, nb, so, n)
        _dense_any(_mat(theta, po, so, si), theta[bo:bo + so],
               _mat(fwork, base, si, n), Z, so, si, n)
        _act_layer(acts[l], Z, _mat(fwork, nb + so * n, so, n), so, n)
        if l < L - 1:  # batch-major copy for the weight gradient of the next layer
            _transpose(Z, _mat(fwork, nb + 3 * so * n, n, so), so, n)
        base = nb
        po = bo + so
    return base


@numba.njit(**_JIT)
def mlp_output_loss(sizes, loss_kind, inv_var, Yf, Yi, idx, i0, n, scale, fwork):
    """Per-example losses of the batch and ``scale * dloss/df`` (compiled kernel).

    Call after :func:`mlp_forward` with the same ``idx, i0, n``.

    Parameters
    ----------
    sizes : numpy.ndarray of int64, shape (L + 1,)
        Layer sizes.
    loss_kind : int
        0 mean-squared error, 1 softmax cross-entropy, -1 cotangent mode (no
        loss: ``Yf[idx]`` rows are the cotangents ``dU/df`` and the returned
        loss is 0).
    inv_var : float
        ``1 / sigma^2`` of the MSE loss.
    Yf : numpy.ndarray of float64, shape (N, s_L)
        Regression targets (or cotangents); unused for cross-entropy.
    Yi : numpy.ndarray of int64, shape (N,)
        Class labels (cross-entropy only).
    idx, i0, n : see :func:`mlp_forward`.
    scale : float
        Factor of the loss gradient written into ``fwork`` (``N / n`` for the
        minibatch energy).
    fwork : numpy.ndarray of float64
        Scratch filled by :func:`mlp_forward`; the per-example losses go to
        ``fwork[o + 2n : o + 3n]`` with ``o = 4 n sum(sizes)``.

    Returns
    -------
    float
        Sum of the ``n`` per-example losses (not scaled).
    """
    L = sizes.shape[0] - 1
    so = sizes[L]
    base = _block(sizes, L, n)
    F = _mat(fwork, base, so, n)
    E = _mat(fwork, base + 2 * so * n, so, n)
    sc = _block(sizes, L + 1, n)
    mx = fwork[sc:sc + n]
    sm = fwork[sc + n:sc + 2 * n]
    lb = fwork[sc + 2 * n:sc + 3 * n]
    total = 0.0
    if loss_kind == 0:
        for b in range(n):
            lb[b] = 0.0
        for j in range(so):
            for b in range(n):
                r = F[j, b] - Yf[idx[i0 + b], j]
                lb[b] += r * r
                E[j, b] = scale * inv_var * r
        for b in range(n):
            lb[b] *= 0.5 * inv_var
            total += lb[b]
    elif loss_kind == 1:
        for b in range(n):
            mx[b] = F[0, b]
            sm[b] = 0.0
        for j in range(1, so):
            for b in range(n):
                v = F[j, b]
                mx[b] = v if v > mx[b] else mx[b]
        for j in range(so):
            for b in range(n):
                e = fm.exp(F[j, b] - mx[b])
                E[j, b] = e
                sm[b] += e
        for b in range(n):
            y = Yi[idx[i0 + b]]
            lb[b] = mx[b] + fm.log(sm[b]) - F[y, b]
            total += lb[b]
            sm[b] = scale / sm[b]
        for j in range(so):
            for b in range(n):
                E[j, b] *= sm[b]
        for b in range(n):
            y = Yi[idx[i0 + b]]
            E[y, b] -= scale
    else:
        for j in range(so):
            for b in range(n):
                E[j, b] = scale * Yf[idx[i0 + b], j]
        for b in range(n):
            lb[b] = 0.0
    return total


@numba.njit(**_JIT)
def mlp_backward(theta, sizes, n, fwork, grad, input_grad):
    """Backpropagation: add the parameter gradient of the batch to ``grad`` (compiled kernel).

    Call after :func:`mlp_forward` and :func:`mlp_output_loss`.

    Parameters
    ----------
    theta : numpy.ndarray of float64, shape (P,)
        Parameters.
    sizes : numpy.ndarray of int64, shape (L + 1,)
        Layer sizes.
    n : int
        Batch size.
    fwork : numpy.ndarray of float64
        Scratch of the forward pass.
    grad : numpy.ndarray of float64, shape (P,)
        Accumulator: ``grad += sum_b J_b^T e_b`` with ``e_b`` the output
        cotangents written by :func:`mlp_output_loss`.
    input_grad : bool
        Also back-propagate to the inputs: the ``(s_0, n)`` block at
        ``fwork[2 s_0 n : 3 s_0 n]`` then holds ``dU/dx`` (feature-major).
    """
    L = sizes.shape[0] - 1
    po = _n_params(sizes)
    base = _block(sizes, L, n)
    for l in range(L - 1, -1, -1):  # noqa: E741
        si = sizes[l]
        so = sizes[l + 1]
        po -= so * (si + 1)
        bo = po + so * si
        E = _mat(fwork, base + 2 * so * n, so, n)
        pb = base - 4 * si * n
        _grad_w_any(E, _mat(fwork, pb + 3 * si * n, n, si),
                _mat(grad, po, so, si), grad[bo:bo + so], so, si, n)
        if l > 0 or input_grad:
            Ep = _mat(fwork, pb + 2 * si * n, si, n)
            _dense_t_any(_mat(theta, po, so, si), E, Ep, so, si, n)
            if l > 0:
                _mul(Ep, _mat(fwork, pb + si * n, si, n), si, n)
        base = pb


@numba.njit(**_JIT)
def _grad_w(E, T, gW, gb, so, si, n):
    # gb[j] += sum_b E[j, b];  gW[j, :] += sum_b E[j, b] T[b, :]: AXPYs along the
    # input axis in 4 x 4 blocks of E (4 rows of gW per pass over 4 rows of T).
    for j in range(so):
        acc = 0.0
        for b in range(n):
            acc += E[j, b]
        gb[j] += acc
    j = 0
    while j + 4 <= so:
        b = 0
        while b + 4 <= n:
            e00, e01, e02, e03 = E[j, b], E[j, b + 1], E[j, b + 2], E[j, b + 3]
            e10, e11, e12, e13 = E[j + 1, b], E[j + 1, b + 1], E[j + 1, b + 2], E[j + 1, b + 3]
            e20, e21, e22, e23 = E[j + 2, b], E[j + 2, b + 1], E[j + 2, b + 2], E[j + 2, b + 3]
            e30, e31, e32, e33 = E[j + 3, b], E[j + 3, b + 1], E[j + 3, b + 2], E[j + 3, b + 3]
            for k in range(si):
                t0 = T[b, k]
                t1 = T[b + 1, k]
                t2 = T[b + 2, k]
                t3 = T[b + 3, k]
                gW[j, k] += e00 * t0 + e01 * t1 + e02 * t2 + e03 * t3
                gW[j + 1, k] += e10 * t0 + e11 * t1 + e12 * t2 + e13 * t3
                gW[j + 2, k] += e20 * t0 + e21 * t1 + e22 * t2 + e23 * t3
                gW[j + 3, k] += e30 * t0 + e31 * t1 + e32 * t2 + e33 * t3
            b += 4
        while b < n:
            e0, e1, e2, e3 = E[j, b], E[j + 1, b], E[j + 2, b], E[j + 3, b]
            for k in range(si):
                t0 = T[b, k]
                gW[j, k] += e0 * t0
                gW[j + 1, k] += e1 * t0
                gW[j + 2, k] += e2 * t0
                gW[j + 3, k] += e3 * t0
            b += 1
        j += 4
    while j < so:
        b = 0
        while b + 4 <= n:
            e0, e1, e2, e3 = E[j, b], E[j, b + 1], E[j, b + 2], E[j, b + 3]
            for k in range(si):
                gW[j, k] += e0 * T[b, k] + e1 * T[b + 1, k] + e2 * T[b + 2, k] + e3 * T[b + 3, k]
            b += 4
        while b < n:
            e0 = E[j, b]
            for k in range(si):
                gW[j, k] += e0 * T[b, k]
            b += 1
        j += 1


@numba.njit(**_JIT)
def _dense_t(W, E, Ep, so, si, n):
    # Ep[k, :] = sum_j W[j, k] E[j, :]: AXPYs along the batch axis in 4 x 4
    # blocks of W (4 rows of Ep per pass over 4 rows of E).
    for k in range(si):
        for b in range(n):
            Ep[k, b] = 0.0
    k = 0
    while k + 4 <= si:
        j = 0
        while j + 4 <= so:
            w00, w01, w02, w03 = W[j, k], W[j + 1, k], W[j + 2, k], W[j + 3, k]
            w10, w11, w12, w13 = W[j, k + 1], W[j + 1, k + 1], W[j + 2, k + 1], W[j + 3, k + 1]
            w20, w21, w22, w23 = W[j, k + 2], W[j + 1, k + 2], W[j + 2, k + 2], W[j + 3, k + 2]
            w30, w31, w32, w33 = W[j, k + 3], W[j + 1, k + 3], W[j + 2, k + 3], W[j + 3, k + 3]
            for b in range(n):
                e0 = E[j, b]
                e1 = E[j + 1, b]
                e2 = E[j + 2, b]
                e3 = E[j + 3, b]
                Ep[k, b] += w00 * e0 + w01 * e1 + w02 * e2 + w03 * e3
                Ep[k + 1, b] += w10 * e0 + w11 * e1 + w12 * e2 + w13 * e3
                Ep[k + 2, b] += w20 * e0 + w21 * e1 + w22 * e2 + w23 * e3
                Ep[k + 3, b] += w30 * e0 + w31 * e1 + w32 * e2 + w33 * e3
            j += 4
        while j < so:
            w0, w1, w2, w3 = W[j, k], W[j, k + 1], W[j, k + 2], W[j, k + 3]
            for b in range(n):
                e0 = E[j, b]
                Ep[k, b] += w0 * e0
                Ep[k + 1, b] += w1 * e0
                Ep[k + 2, b] += w2 * e0
                Ep[k + 3, b] += w3 * e0
            j += 1
        k += 4
    while k < si:
        j = 0
        while j + 4 <= so:
            w0, w1, w2, w3 = W[j, k], W[j + 1, k], W[j + 2, k], W[j + 3, k]
            for b in range(n):
                Ep[k, b] += w0 * E[j, b] + w1 * E[j + 1, b] + w2 * E[j + 2, b] + w3 * E[j + 3, b]
            j += 4
        while j < so:
            w0 = W[j, k]
            for b in range(n):
                Ep[k, b] += w0 * E[j, b]
            j += 1
        k += 1


# float32 networks: the same three products compiled a second time with LLVM's ``contract``
# flag, so that ``a * b + c`` may become one FMA (measured 1.2-1.4x on the benchmark's
# float32 shapes).  The float64 kernels keep no fast-math flag at all (bits independent
# of the CPU's FMA support); float32 results are reproducible for any thread count on one
# machine and may differ in the last bits between CPUs with and without FMA.
def _fma_variant(disp):
    f = disp.py_func
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__ + "_f32")
    g.__qualname__ = f.__qualname__ + "_f32"  # its own disk-cache entry
    return numba.njit(fastmath={"contract"}, **_JIT)(g)


def _product(kernel32, kernel):
    """An overloadable name that calls ``kernel32`` for float32 arrays, else ``kernel``."""
    def stub(M, X, Y, so, si, n):
        raise NotImplementedError("for compiled code")

    @overload(stub, jit_options=_JIT)
    def impl(M, X, Y, so, si, n):
        k = kernel32 if M.dtype == numba.types.float32 else kernel
        return lambda M, X, Y, so, si, n: k(M, X, Y, so, si, n)
    return stub


def _product4(kernel32, kernel):
    """As :func:`_product` for the four-array kernel ``_grad_w`` / ``_dense``."""
    def stub(M, V, X, Y, so, si, n):
        raise NotImplementedError("for compiled code")

    @overload(stub, jit_options=_JIT)
    def impl(M, V, X, Y, so, si, n):
        k = kernel32 if M.dtype == numba.types.float32 else kernel
        return lambda M, V, X, Y, so, si, n: k(M, V, X, Y, so, si, n)
    return stub


_dense_any = _product4(_fma_variant(_dense), _dense)
_grad_w_any = _product4(_fma_variant(_grad_w), _grad_w)
_dense_t_any = _product(_fma_variant(_dense_t), _dense_t)


@numba.njit(**_JIT)
def _mul(A, B, rows, n):
    for k in range(rows):
        for b in range(n):
            A[k, b] *= B[k, b]


@numba.njit(**_JIT)
def _apply(theta, sizes, acts, loss_kind, inv_var, X, Yf, Yi, idx, chunk, fwork, grad,
           want_grad, want_dx, pred, lossv, dx):
    """Drive the kernels over ``idx`` in chunks (Python-facing helper)."""
    L = sizes.shape[0] - 1
    so = sizes[L]
    s0 = sizes[0]
    m = idx.shape[0]
    total = 0.0
    for c0 in range(0, m, chunk):
        n = min(chunk, m - c0)
        fo = mlp_forward(theta, sizes, acts, X, idx, c0, n, fwork)
        for j in range(so):
            for b in range(n):
                pred[c0 + b, j] = fwork[fo + j * n + b]
        if want_grad or want_dx or loss_kind >= 0:
            total += mlp_output_loss(sizes, loss_kind, inv_var, Yf, Yi, idx, c0, n, 1.0, fwork)
            sc = _block(sizes, L + 1, n)
            for b in range(n):
                lossv[c0 + b] = fwork[sc + 2 * n + b]
        if want_grad or want_dx:
            mlp_backward(theta, sizes, n, fwork, grad, want_dx)
        if want_dx:
            for k in range(s0):
                for b in range(n):
                    dx[c0 + b, k] = fwork[2 * s0 * n + k * n + b]
    return total


# ------------------------------------------------------------- Python API
class MLP:
    """A multilayer perceptron: layer sizes, activations, loss, and compiled kernels.

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes ``(s_0, ..., s_L)``, ``L >= 1``, each ``>= 1``.
    activation : str or sequence of str
        Hidden-layer activation(s): one of ``"tanh"``, ``"relu"``,
        ``"softplus"``, ``"sigmoid"``, ``"identity"``, or one per hidden layer
        (``L - 1`` names).  The output layer is linear.
    loss : {"mse", "softmax_ce"}
        Per-example loss (module docstring).
    noise_var : float
        ``sigma^2`` of the MSE loss (> 0).
    dtype : {"float64", "float32"}
        Precision of the evaluation (keyword only): parameters, inputs,
        activations and gradients are cast to it and the kernels compiled for
        it; outputs and gradients come back in it.  Parameter vectors made by
        :meth:`init_params` and :meth:`flatten` stay float64 (the samplers'
        master copy; see :mod:`langevin_opt.nn.landscape`, Precision).

    Attributes
    ----------
    sizes : tuple of int
    activations : tuple of str
        One per hidden layer.
    loss : str
    noise_var : float
    n_params : int
        ``P``.
    dtype : str
        ``"float64"`` or ``"float32"``.
    """

    def __init__(self, sizes: Sequence[int], activation: str | Sequence[str] = "tanh",
                 loss: str = "mse", noise_var: float = 1.0, *,
                 dtype: object = "float64") -> None:
        try:
            sz = tuple(int(s) for s in sizes)
        except (TypeError, ValueError):
            raise ValueError(f"sizes must be a sequence of integers, got {sizes!r}") from None
        if len(sz) < 2 or min(sz) < 1 or any(int(s) != s for s in sizes):
            raise ValueError(f"sizes must have >= 2 entries, all integers >= 1, got {sizes!r}")
        n_hidden = len(sz) - 2
        if isinstance(activation, (list, tuple)):
            acts = tuple(check_choice("activation", a, ACTIVATIONS) for a in activation)
            if len(acts) != n_hidden:
                raise ValueError(f"activation: need one name per hidden layer ({n_hidden}), "
                                 f"got {len(acts)}")
        else:
            acts = (check_choice("activation", activation, ACTIVATIONS),) * n_hidden
        codes = [ACTIVATIONS[a] for a in acts]
        loss = check_choice("loss", loss, LOSSES)
        check_positive("noise_var", noise_var)
        self.dtype = check_dtype("dtype", dtype)
        if loss == "softmax_ce" and sz[-1] < 2:
            raise ValueError("softmax_ce needs at least 2 outputs (classes), "
                             f"got sizes[-1] = {sz[-1]}")
        self.sizes = sz
        self.activations = acts
        self.loss = loss
        self.noise_var = float(noise_var)
        self.n_params = sum(sz[i + 1] * (sz[i] + 1) for i in range(len(sz) - 1))
        self._sizes = np.array(sz, dtype=np.int64)
        self._acts = np.array(codes + [0], dtype=np.int64)

    def __repr__(self) -> str:
        dt = "" if self.dtype == "float64" else f", dtype={self.dtype!r}"
        return (f"MLP(sizes={self.sizes}, activation={self.activations}, loss={self.loss!r}, "
                f"noise_var={self.noise_var}{dt})")

    def with_dtype(self, dtype: object) -> MLP:
        """The same network evaluated in another precision.

        Parameters
        ----------
        dtype : {"float64", "float32"}

        Returns
        -------
        MLP
        """
        acts = list(self.activations) if self.activations else "tanh"
        return MLP(self.sizes, acts, self.loss, self.noise_var, dtype=dtype)

    # ---------------------------------------------------------- layout
    @property
    def n_layers(self) -> int:
        """Number of affine layers ``L``."""
        return len(self.sizes) - 1

    @property
    def sizes_array(self) -> np.ndarray:
        """Layer sizes as the int64 array the kernels take, shape ``(L + 1,)``."""
        return self._sizes.copy()

    @property
    def act_codes(self) -> np.ndarray:
        """Activation codes per layer (last = identity), int64, shape ``(L,)``."""
        return self._acts.copy()

    def layout(self) -> list[tuple[slice, tuple[int, int], slice]]:
        """Where each layer lives in ``theta``.

        Returns
        -------
        list of (slice, (int, int), slice)
            Per layer ``l``: the slice of ``W_l`` (to be reshaped to the
            given shape ``(s_{l+1}, s_l)``) and the slice of ``b_l``.
        """
        out = []
        o = 0
        for i in range(self.n_layers):
            si, so = self.sizes[i], self.sizes[i + 1]
            out.append((slice(o, o + so * si), (so, si), slice(o + so * si, o + so * (si + 1))))
            o += so * (si + 1)
        return out

    def unflatten(self, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Views ``[(W_0, b_0), ...]`` into ``theta``.

        Parameters
        ----------
        theta : numpy.ndarray, shape (P,)

        Returns
        -------
        list of (numpy.ndarray, numpy.ndarray)
            ``W_l`` of shape ``(s_{l+1}, s_l)`` and ``b_l`` of shape ``(s_{l+1},)``.
        """
        th = np.ascontiguousarray(theta, dtype=np.float64)  # the float64 master copy
        if th.shape != (self.n_params,):
            raise ValueError(f"theta must have shape ({self.n_params},), got {th.shape}")
        return [(th[ws].reshape(shape), th[bs]) for ws, shape, bs in self.layout()]

    def flatten(self, params: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Inverse of :meth:`unflatten`.

        Parameters
        ----------
        params : sequence of (W, b)
            Shapes as returned by :meth:`unflatten`.

        Returns
        -------
        numpy.ndarray of float64, shape (P,)
        """
        if len(params) != self.n_layers:
            raise ValueError(f"params: expected {self.n_layers} (W, b) pairs, got {len(params)}")
        th = np.empty(self.n_params)
        for (ws, shape, bs), (w, b) in zip(self.layout(), params, strict=True):
            w = np.asarray(w, dtype=np.float64)
            b = np.asarray(b, dtype=np.float64)
            if w.shape != shape or b.shape != (shape[0],):
                raise ValueError(f"params: expected W {shape} and b ({shape[0]},), "
                                 f"got {w.shape} and {b.shape}")
            th[ws] = w.ravel()
            th[bs] = b
        return th

    def init_params(self, seed: int, *, gain: float = 1.0) -> np.ndarray:
        """Random initial parameters: ``W_l ~ N(0, gain^2 / s_l)``, ``b_l = 0``.

        Parameters
        ----------
        seed : int
            Seed of ``numpy.random.default_rng``.
        gain : float
            Scale of the weights (LeCun normal for ``gain = 1``).

        Returns
        -------
        numpy.ndarray of float64, shape (P,)
        """
        rng = np.random.default_rng(check_seed(seed))
        th = np.zeros(self.n_params)
        for ws, shape, _ in self.layout():
            th[ws] = rng.standard_normal(shape[0] * shape[1]) * (gain / np.sqrt(shape[1]))
        return th

    # ---------------------------------------------------------- checks
    def _theta(self, theta) -> np.ndarray:
        th = np.ascontiguousarray(theta, dtype=self.dtype)
        if th.shape != (self.n_params,):
            raise ValueError(f"theta must have shape ({self.n_params},), got {th.shape}")
        return th

    def check_inputs(self, X) -> np.ndarray:
        """Validate inputs: :attr:`dtype`, C-contiguous, shape ``(M, s_0)``.

        Parameters
        ----------
        X : array_like, shape (M, s_0)

        Returns
        -------
        numpy.ndarray of dtype :attr:`dtype`, shape (M, s_0)
        """
        with np.errstate(over="ignore"):  # overflow to inf is reported by the callers
            x = np.ascontiguousarray(X, dtype=self.dtype)
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"X must have shape (M, {self.sizes[0]}), got {np.shape(X)}")
        return x

    def check_targets(self, y, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Validate targets for ``m`` examples; return ``(Yf, Yi)`` as the kernels take them.

        Parameters
        ----------
        y : array_like
            ``(m, s_L)`` floats (``(m,)`` allowed when ``s_L = 1``) for MSE,
            ``(m,)`` integer labels in ``[0, s_L)`` for cross-entropy.
        m : int
            Number of examples.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            Float targets ``(m, s_L)`` in :attr:`dtype` (or ``(1, 1)`` dummy) and int64 labels
            ``(m,)`` (or ``(1,)`` dummy).
        """
        out = self.sizes[-1]
        if self.loss == "mse":
            with np.errstate(over="ignore"):
                yf = np.asarray(y, dtype=self.dtype)
            if yf.ndim == 1 and out == 1:
                yf = yf[:, None]
            if yf.shape != (m, out):
                raise ValueError(f"y must have shape ({m}, {out}) for loss 'mse', "
                                 f"got {np.shape(y)}")
            return np.ascontiguousarray(yf), np.zeros(1, dtype=np.int64)
        ya = np.asarray(y)
        if ya.shape != (m,) or not np.issubdtype(ya.dtype, np.integer):
            raise ValueError(f"y must be integer labels of shape ({m},) for loss 'softmax_ce', "
                             f"got shape {ya.shape} dtype {ya.dtype}")
        if m and (ya.min() < 0 or ya.max() >= out):
            raise ValueError(f"labels must be in [0, {out}), got range "
                             f"[{ya.min()}, {ya.max()}]")
        return np.zeros((1, 1), dtype=self.dtype), ya.astype(np.int64)

    # ---------------------------------------------------------- evaluation
    def _run(self, theta, X, y, *, want_grad=False, want_dx=False, cotangent=None,
             chunk=256):
        th = self._theta(theta)
        x = self.check_inputs(X)
        m = x.shape[0]
        out = self.sizes[-1]
        if cotangent is not None:
            c = np.asarray(cotangent, dtype=self.dtype)
            if c.ndim == 1 and out == 1:
                c = c[:, None]
            if c.shape != (m, out):
                raise ValueError(f"cotangent must have shape ({m}, {out}), "
                                 f"got {np.shape(cotangent)}")
            yf, yi, kind = np.ascontiguousarray(c), np.zeros(1, dtype=np.int64), LOSS_COTANGENT
        elif y is None:
            yf, yi, kind = np.zeros((1, 1), self.dtype), np.zeros(1, dtype=np.int64), -2
        else:
            yf, yi = self.check_targets(y, m)
            kind = LOSSES[self.loss]
        chunk = max(1, min(chunk, m))
        dt = self.dtype
        fw = np.empty(fwork_size(self.sizes, chunk), dt)
        grad = np.zeros(self.n_params, dt)
        pred = np.empty((m, out), dt)
        lossv = np.zeros(m, dt)
        dx = np.zeros((m, self.sizes[0]) if want_dx else (1, 1), dt)
        idx = np.arange(m, dtype=np.int64)
        total = _apply(th, self._sizes, self._acts, kind, 1.0 / self.noise_var, x, yf, yi, idx,
                       chunk, fw, grad, want_grad, want_dx, pred, lossv, dx)
        return total, pred, lossv, grad, dx

    def forward(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Network outputs ``f(X)`` (logits for cross-entropy).

        Parameters
        ----------
        theta : numpy.ndarray, shape (P,)
        X : numpy.ndarray, shape (M, s_0)

        Returns
        -------
        numpy.ndarray, shape (M, s_L)
        """
        return self._run(theta, X, None)[1]

    def losses(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-example losses ``loss_i``.

        Parameters
        ----------
        theta : numpy.ndarray, shape (P,)
        X : numpy.ndarray, shape (M, s_0)
        y : numpy.ndarray
            Targets (see :meth:`check_targets`).

        Returns
        -------
        numpy.ndarray, shape (M,)
        """
        return self._run(theta, X, y)[2]

    def loss_grad(self, theta: np.ndarray, X: np.ndarray,
                  y: np.ndarray) -> tuple[float, np.ndarray]:
        """Summed loss ``sum_i loss_i`` and its gradient with respect to ``theta``.

        Parameters
        ----------
        theta : numpy.ndarray, shape (P,)
        X : numpy.ndarray, shape (M, s_0)
        y : numpy.ndarray
            Targets (see :meth:`check_targets`).

        Returns
        -------
        (float, numpy.ndarray)
            The sum (no prior, no ``N/n`` scaling) and its gradient, shape ``(P,)``.
        """
        total, _, _, grad, _ = self._run(theta, X, y, want_grad=True)
        return float(total), grad

    def input_grad(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray | None = None, *,
                   cotangent: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Gradient with respect to the inputs (forces for learned potentials).

        With ``cotangent`` ``c`` (shape ``(M, s_L)``): ``dx_i = J_i^T c_i`` with
        ``J_i = df(x_i)/dx_i``, e.g. ``c = 1`` and ``s_L = 1`` gives
        ``df/dx`` (minus the forces when ``f`` is an energy).  With targets
        ``y`` instead: ``dx_i = d loss_i / d x_i``.  Exactly one of the two.

        Parameters
        ----------
        theta : numpy.ndarray, shape (P,)
        X : numpy.ndarray, shape (M, s_0)
        y : numpy.ndarray, optional
            Targets.
        cotangent : numpy.ndarray, shape (M, s_L), optional
            Output cotangents.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            Outputs ``f(X)`` of shape ``(M, s_L)`` and ``dx`` of shape ``(M, s_0)``.
        """
        if (y is None) == (cotangent is None):
            raise ValueError("input_grad needs exactly one of y (loss gradient) and "
                             "cotangent (vector-Jacobian product)")
        _, pred, _, _, dx = self._run(theta, X, y, want_dx=True, cotangent=cotangent)
        return pred, dx
