"""Training losses of multilayer perceptrons as data landscapes ``U(theta)``.

:func:`mlp_landscape` turns an :class:`~langevin_opt.nn.mlp.MLP` and a data set
``(X, y)`` of ``N`` examples into a :class:`~langevin_opt.datalandscape.DataLandscape`
that the SG-MCMC samplers (:mod:`langevin_opt.sgmcmc`) run on.

Units and scaling
-----------------
The energy is the *summed* loss plus a Gaussian prior,

``U(theta) = sum_{i=1..N} loss_i(theta) + ||theta||^2 / (2 sigma_prior^2)``
``         = N * (mean loss) + prior``,

and a step's minibatch estimate from the batch ``B`` (``n`` examples) is

``U~(theta) = (N / n) * sum_{i in B} loss_i(theta) + ||theta||^2 / (2 sigma_prior^2)``,

an unbiased estimate of ``U`` (the mean of ``U~`` over the ``N // n`` batches
of an epoch is exactly ``U`` when ``n`` divides ``N``).  ``loss_i`` is
``||f(x_i) - y_i||^2 / (2 noise_var)`` for ``"mse"`` and the softmax
cross-entropy (natural log) for ``"softmax_ce"`` (see :mod:`.mlp`).  With
``k_B = 1``, Langevin dynamics at temperature ``T = 1`` then samples the
Bayesian posterior ``p(theta | data) ∝ exp(-U)`` (Welling & Teh 2011), and
``T -> 0`` minimises the regularised training loss.  ``sigma_prior`` is the
prior standard deviation of every parameter (``None`` or ``0``: no prior, a
flat "prior"); ``prior = -log N(theta; 0, sigma_prior^2 I)`` up to a constant.

Relation to deep-learning learning rates: frameworks minimise the *mean* loss
``U / N`` (plus weight decay ``wd * ||theta||^2 / 2``).  A gradient step of
learning rate ``lr`` on the mean loss is a step of ``eta = lr / N`` on ``U``,
and weight decay ``wd`` corresponds to ``sigma_prior^2 = 1 / (N wd)``.  The
SGLD update ``theta <- theta - eta grad U~ + sqrt(2 eta T) xi`` at ``T = 1``
is, in mean-loss units, ``theta <- theta - lr grad(mean loss) + sqrt(2 lr / N) xi``:
the "temperature" of the mean-loss convention is ``T / N``.

Kernels
-------
``energy_grad(theta, data, fwork, iwork, seed, chain, step, grad)`` and
``full_energy_grad(theta, data, fwork, iwork, grad)`` are module-level
``numba.njit(cache=True)`` functions (cached on disk, callable from other
compiled code and inside ``prange`` loops over chains): they allocate nothing,
keep all scratch in the chain's ``fwork``/``iwork`` rows and compute each
example in a fixed order, so results do not depend on the number of threads.
``data = (X, Yf, Yi, sizes, acts, ipar, fpar)``: inputs ``(N, s_0)``, float
targets ``(N, s_L)`` (MSE; a ``(1, 1)`` dummy otherwise), int64 labels
``(N,)`` (cross-entropy; a ``(1,)`` dummy otherwise), layer sizes, activation
codes, ``ipar = [batch_size, loss_code]`` and ``fpar = [1 / noise_var,
1 / sigma_prior^2 (0: no prior)]``.  ``iwork`` holds the epoch permutation
(``iwork[0:N + 1]``, see :func:`~langevin_opt.datalandscape.minibatch`) and
then ``n`` indices for the chunks of the full-data pass.  ``theta``, ``grad``
and the scratch rows may be any strided float64 vectors; C-contiguous ones
(rows of C-ordered 2-D arrays) get the vectorized fast path.

Precision
---------
``mlp_landscape(..., dtype="float32")`` (or a network built with
``MLP(..., dtype="float32")``) stores ``X`` and the float targets in float32
and gives the landscape float32 scratch rows (``DataLandscape.dtype``): the
same kernels, compiled for float32 arrays, then run the forward and backward
passes in float32 (:mod:`._precision`), while ``theta``, ``grad`` and the
sampler's update stay float64.  Accumulated in float64: the loss sum over the
batch, the bias-gradient sums, the prior term and its gradient, and (full-data
energy) the per-chunk gradients.  Agreement with float64
(``tests/test_nn_float32.py``): energies to ~1e-6 relative, gradients to
~1e-5 of their largest component.
"""

from __future__ import annotations

import numba
import numpy as np

from ..core.validation import check_int
from ..datalandscape import MINIBATCH_IWORK, DataLandscape, minibatch
from ._precision import (
    check_dtype,
    grad_add_chunk,
    grad_store,
    grad_zero_chunk,
    param_pad,
    work_grad,
    work_params,
    work_scratch,
)
from .mlp import LOSSES, MLP, fwork_size, mlp_backward, mlp_forward, mlp_output_loss

__all__ = ["energy_grad", "full_energy_grad", "mlp_landscape"]

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


@numba.njit(**_JIT)
def _prior(theta, prec, grad):
    if prec <= 0.0:
        return 0.0
    s = 0.0
    for p in range(theta.shape[0]):
        t = theta[p]
        s += t * t
        grad[p] += prec * t
    return 0.5 * prec * s


@numba.njit(**_JIT)
def energy_grad(theta, data, fwork, iwork, seed, chain, step, grad):
    """Minibatch energy ``U~`` and its gradient (compiled; protocol of ``DataLandscape``).

    Parameters
    ----------
    theta : numpy.ndarray of float64, shape (P,)
        Parameters.
    data : tuple
        ``(X, Yf, Yi, sizes, acts, ipar, fpar)`` (module docstring).
    fwork : numpy.ndarray of float64 or float32, shape (fwork_size,)
        The chain's float scratch (its dtype is the compute precision).
    iwork : numpy.ndarray of int64, shape (iwork_size,)
        The chain's int scratch (``iwork[0] = -1`` before first use).
    seed, chain, step : int
        Minibatch coordinates (:func:`~langevin_opt.datalandscape.minibatch`).
    grad : numpy.ndarray of float64, shape (P,)
        Overwritten with ``dU~/dtheta``.

    Returns
    -------
    float
        ``U~ = (N / n) sum_{i in B} loss_i + prior``.
    """
    X, Yf, Yi, sizes, acts, ipar, fpar = data
    N = X.shape[0]
    n = ipar[0]
    off = minibatch(seed, chain, step, N, n, iwork)
    tw = work_params(theta, fwork)  # theta itself, or its float32 copy in fwork
    gw = work_grad(grad, fwork)
    fw = work_scratch(fwork, theta)
    for p in range(gw.shape[0]):
        gw[p] = 0.0
    scale = N / n
    mlp_forward(tw, sizes, acts, X, iwork, 1 + off, n, fw)
    u = scale * mlp_output_loss(sizes, ipar[1], fpar[0], Yf, Yi, iwork, 1 + off, n, scale,
                                fw)
    mlp_backward(tw, sizes, n, fw, gw, False)
    grad_store(grad, gw)
    return u + _prior(theta, fpar[1], grad)


@numba.njit(**_JIT)
def full_energy_grad(theta, data, fwork, iwork, grad):
    """Exact energy ``U`` over all ``N`` examples and its gradient (compiled).

    The data are processed in chunks of ``batch_size`` examples, in order.

    Parameters
    ----------
    theta : numpy.ndarray of float64, shape (P,)
        Parameters.
    data : tuple
        ``(X, Yf, Yi, sizes, acts, ipar, fpar)``.
    fwork, iwork : numpy.ndarray
        The chain's scratch rows (``iwork[0:N + 1]`` is left untouched).
    grad : numpy.ndarray of float64, shape (P,)
        Overwritten with ``dU/dtheta``.

    Returns
    -------
    float
        ``U = sum_i loss_i + prior``.
    """
    X, Yf, Yi, sizes, acts, ipar, fpar = data
    N = X.shape[0]
    n = ipar[0]
    tw = work_params(theta, fwork)
    gw = work_grad(grad, fwork)
    fw = work_scratch(fwork, theta)
    for p in range(grad.shape[0]):
        grad[p] = 0.0
    u = 0.0
    i0 = N + 1
    for c0 in range(0, N, n):
        m = min(n, N - c0)
        for b in range(m):
            iwork[i0 + b] = c0 + b
        grad_zero_chunk(gw, grad)  # float32: one chunk in float32, summed in float64
        mlp_forward(tw, sizes, acts, X, iwork, i0, m, fw)
        u += mlp_output_loss(sizes, ipar[1], fpar[0], Yf, Yi, iwork, i0, m, 1.0, fw)
        mlp_backward(tw, sizes, m, fw, gw, False)
        grad_add_chunk(grad, gw)
    return u + _prior(theta, fpar[1], grad)


def mlp_landscape(net: MLP, X: np.ndarray, y: np.ndarray, *, batch_size: int,
                  prior_sigma: float | None = None, name: str | None = None,
                  dtype: object = None) -> DataLandscape:
    """The training loss of ``net`` on ``(X, y)`` as a :class:`DataLandscape`.

    Parameters
    ----------
    net : MLP
        Architecture, activation and loss.
    X : array_like, shape (N, s_0)
        Training inputs.
    y : array_like
        Targets: ``(N, s_L)`` floats for ``"mse"`` (``(N,)`` when ``s_L = 1``),
        ``(N,)`` integer labels in ``[0, s_L)`` for ``"softmax_ce"``.
    batch_size : int
        Minibatch size ``n``, ``1 <= n <= N``.
    prior_sigma : float, optional
        Prior standard deviation ``sigma_prior > 0``; ``None`` or ``0`` for no prior.
    name : str, optional
        Name of the landscape (default from the architecture).
    dtype : {"float64", "float32"}, optional
        Precision of the network evaluation (default ``net.dtype``): the data
        are stored and the forward/backward passes computed in it; ``theta``,
        gradients and the samplers' updates stay float64 (module docstring).

    Returns
    -------
    DataLandscape
        ``U`` and ``U~`` as in the module docstring; ``n_params = net.n_params``.

    Raises
    ------
    ValueError
        Shapes that do not match the network, bad labels, ``batch_size`` out
        of range, non-finite data (also after rounding to float32), a negative
        ``prior_sigma`` or an unknown ``dtype``.
    """
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an MLP, got {type(net).__name__}")
    dt = net.dtype if dtype is None else check_dtype("dtype", dtype)
    if dt != net.dtype:
        net = net.with_dtype(dt)
    x = net.check_inputs(X)
    N = x.shape[0]
    if N < 1:
        raise ValueError("X must contain at least one example")
    if not np.all(np.isfinite(x)):
        raise ValueError("X must be finite")
    yf, yi = net.check_targets(y, N)
    if not np.all(np.isfinite(yf)):
        raise ValueError("y must be finite")
    check_int("batch_size", batch_size, lo=1, hi=N)
    if prior_sigma is None or prior_sigma == 0:
        prec = 0.0
    elif np.isfinite(prior_sigma) and prior_sigma > 0:
        prec = 1.0 / float(prior_sigma) ** 2
    else:
        raise ValueError(f"prior_sigma must be None, 0 or a finite number > 0, "
                         f"got {prior_sigma!r}")
    n = int(batch_size)
    data = (x.copy(), yf.copy(), yi.copy(), net.sizes_array, net.act_codes,
            np.array([n, LOSSES[net.loss]], dtype=np.int64),
            np.array([1.0 / net.noise_var, prec]))
    for a in data:
        a.setflags(write=False)
    if name is None:
        name = f"mlp{'-'.join(map(str, net.sizes))}_{net.loss}"
        if dt != "float64":
            name += f"_{dt}"
    extra = 0 if dt == "float64" else 2 * param_pad(net.n_params)
    return DataLandscape(name=name, n_params=net.n_params, n_data=N, batch_size=n, data=data,
                         fwork_size=fwork_size(net.sizes, n) + extra,
                         iwork_size=MINIBATCH_IWORK(N) + n,
                         energy_grad=energy_grad, full_energy_grad=full_energy_grad, dtype=dt)
