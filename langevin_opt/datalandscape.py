"""Data landscapes: minibatch energies ``U(theta)`` of models fitted to data.

A *data landscape* is the energy of a parameter vector ``theta`` (shape
``(P,)``) given a data set of ``N`` examples,

``U(theta) = sum_{i=1..N} loss_i(theta) + prior(theta)``   (= N * mean loss + prior)

and its unbiased minibatch estimate from a batch ``B`` of ``n`` examples,

``U~(theta) = (N / n) * sum_{i in B} loss_i(theta) + prior(theta)``.

This is the scaling of Welling & Teh (2011): ``U = -log p(theta | data)`` up to
a constant when ``loss_i = -log p(x_i | theta)`` and ``prior = -log p(theta)``,
so that Langevin dynamics at temperature ``T = 1`` samples the Bayesian
posterior and at ``T -> 0`` minimises the regularised training loss.  (Deep-
learning code usually differentiates the *mean* loss ``U / N``; an SGD step of
learning rate ``lr`` on the mean loss is a step of ``lr / N`` on ``U``.)

The compiled protocol
---------------------
A :class:`DataLandscape` bundles, for the samplers' compiled loops:

``energy_grad(theta, data, fwork, iwork, seed, chain, step, grad) -> float``
    Minibatch estimate ``U~`` at ``theta``; writes ``dU~/dtheta`` into
    ``grad`` (overwrites).  The batch is :func:`minibatch` of
    ``(seed, chain, step)``: reproducible, independent of thread count.
``full_energy_grad(theta, data, fwork, iwork, grad) -> float``
    The exact ``U`` and its gradient over the whole data set.

``data`` is a tuple of read-only arrays (the data set and the model's
constants), ``fwork``/``iwork`` per-chain float64/int64 scratch vectors of
sizes ``fwork_size``/``iwork_size`` (chains running in parallel each get
their own rows).  Both functions are ``numba.njit`` dispatchers that can be
called from other compiled code.

Minibatches
-----------
Sampling *without* replacement by epochs: the examples are shuffled once per
epoch by a Fisher–Yates permutation drawn from the counter-based generator
keyed by ``(seed, chain, epoch)`` (purpose ``PURPOSE_MINIBATCH``); step ``s``
uses batch ``s % steps_per_epoch`` of epoch ``s // steps_per_epoch``, with
``steps_per_epoch = N // n`` (the last partial batch is dropped).  The
permutation is cached in ``iwork[:N + 1]`` (``iwork[0]`` holds the epoch it
belongs to) so it is drawn once per epoch, but the batch is a pure function of
``(seed, chain, step)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

from .core.pickling import dispatcher_ref, load_ref
from .core.validation import check_int, check_seed
from .rng import PURPOSE_MINIBATCH, uniform2

__all__ = ["DataLandscape", "minibatch", "MINIBATCH_IWORK"]


def _rebuild_data_landscape(cls: type, fields: dict, eg: tuple, full: tuple
                            ) -> DataLandscape:
    """Unpickle a :class:`DataLandscape` (see :meth:`DataLandscape.__reduce__`)."""
    return cls(energy_grad=load_ref(eg), full_energy_grad=load_ref(full), **fields)


def MINIBATCH_IWORK(n_data: int) -> int:  # noqa: N802 - a size, named like a constant
    """Length of the int64 scratch that :func:`minibatch` needs (``n_data + 1``).

    Parameters
    ----------
    n_data : int
        Number of examples ``N``.

    Returns
    -------
    int
    """
    return int(n_data) + 1


@numba.njit(cache=True, inline="always")
def minibatch(seed, chain, step, n_data, batch_size, iwork):
    """Start of the minibatch of step ``step`` in the cached epoch permutation.

    Parameters
    ----------
    seed : int
        Generator key.
    chain : int
        Chain id (stream of the generator).
    step : int
        Global step.
    n_data : int
        Number of examples ``N``.
    batch_size : int
        Examples per batch ``n`` (``1 <= n <= N``).
    iwork : numpy.ndarray of int64, shape (>= N + 1,)
        Scratch: ``iwork[0]`` the cached epoch (set it to ``-1`` before first
        use), ``iwork[1:N + 1]`` the permutation.

    Returns
    -------
    int
        Offset ``o`` such that the batch is ``iwork[1 + o : 1 + o + n]``.
    """
    spe = n_data // batch_size
    epoch = step // spe
    if iwork[0] != epoch:
        for i in range(n_data):
            iwork[1 + i] = i
        # Fisher-Yates, two uniforms per Philox call
        for i in range(n_data - 1, 0, -2):
            u0, u1 = uniform2(seed, chain, epoch, i, PURPOSE_MINIBATCH)
            j = np.int64(u0 * (i + 1))
            t = iwork[1 + i]
            iwork[1 + i] = iwork[1 + j]
            iwork[1 + j] = t
            if i - 1 > 0:
                j = np.int64(u1 * i)
                t = iwork[i]
                iwork[i] = iwork[1 + j]
                iwork[1 + j] = t
        iwork[0] = epoch
    return (step % spe) * batch_size


@dataclass(frozen=True)
class DataLandscape:
    """Configuration and compiled kernels of a minibatch energy (see module docstring).

    Attributes
    ----------
    name : str
        Human-readable name (for files and errors).
    n_params : int
        ``P``, length of ``theta``.
    n_data : int
        ``N``, number of training examples.
    batch_size : int
        ``n``, examples per minibatch (``n = N`` gives full-batch gradients).
    data : tuple of numpy.ndarray
        Read-only arrays passed to the kernels.
    fwork_size, iwork_size : int
        Per-chain scratch sizes.
    energy_grad : numba dispatcher
        ``(theta, data, fwork, iwork, seed, chain, step, grad) -> U~``.
    full_energy_grad : numba dispatcher
        ``(theta, data, fwork, iwork, grad) -> U``.
    dtype : {"float64", "float32"}
        Dtype of the ``fwork`` rows that :meth:`make_work` allocates: the
        precision the kernels compute in (``"float32"`` for float32 networks,
        :func:`langevin_opt.nn.mlp_landscape`).  ``theta`` and ``grad`` are
        float64 either way.
    """

    name: str
    n_params: int
    n_data: int
    batch_size: int
    data: tuple
    fwork_size: int
    iwork_size: int
    energy_grad: Callable
    full_energy_grad: Callable
    dtype: str = "float64"

    def __post_init__(self) -> None:
        if self.dtype not in ("float64", "float32"):
            raise ValueError(f"dtype must be 'float64' or 'float32', got {self.dtype!r}")
        check_int("n_params", self.n_params, lo=1, hi=None)
        check_int("n_data", self.n_data, lo=1, hi=None)
        check_int("batch_size", self.batch_size, lo=1, hi=self.n_data)

    def __reduce__(self) -> tuple:
        """Pickle the kernels by import path where they are module-level names.

        A worker process then finds the dispatchers it already has, and the chain
        loops compiled for them; other kernels go by value through Numba.
        """
        fields = {f: getattr(self, f) for f in self.__dataclass_fields__
                  if f not in ("energy_grad", "full_energy_grad")}
        return (_rebuild_data_landscape, (type(self), fields, dispatcher_ref(self.energy_grad),
                                          dispatcher_ref(self.full_energy_grad)))

    @property
    def steps_per_epoch(self) -> int:
        """Minibatch steps per pass over the data (``N // n``)."""
        return self.n_data // self.batch_size

    def make_work(self, n_chains: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Fresh scratch rows for ``n_chains`` chains.

        Parameters
        ----------
        n_chains : int
            Number of chains.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            ``fwork`` of shape ``(n_chains, fwork_size)`` (dtype :attr:`dtype`) and
            ``iwork`` of shape ``(n_chains, iwork_size)`` with ``iwork[:, 0] = -1`` (no
            cached epoch).
        """
        fw = np.zeros((n_chains, max(1, self.fwork_size)), dtype=self.dtype)
        iw = np.zeros((n_chains, max(1, self.iwork_size)), dtype=np.int64)
        iw[:, 0] = -1
        return fw, iw

    def energy(self, theta, *, seed: int | None = None, chain: int = 0,
               step: int = 0) -> tuple[float, np.ndarray]:
        """Energy and gradient at ``theta`` from Python (full batch unless ``seed`` given).

        Parameters
        ----------
        theta : array_like, shape (P,)
            Parameters.
        seed : int, optional
            With a seed, the minibatch estimate of step ``step`` of ``chain``;
            without, the exact full-data energy.
        chain, step : int
            Minibatch coordinates (used with ``seed``).

        Returns
        -------
        (float, numpy.ndarray)
            ``U`` (or ``U~``) and its gradient, shape ``(P,)``.
        """
        th = np.ascontiguousarray(theta, dtype=np.float64)
        if th.shape != (self.n_params,):
            raise ValueError(f"theta must have shape ({self.n_params},), got {th.shape}")
        g = np.empty(self.n_params)
        fw, iw = self.make_work(1)
        if seed is None:
            u = self.full_energy_grad(th, self.data, fw[0], iw[0], g)
        else:
            u = self.energy_grad(th, self.data, fw[0], iw[0], np.uint64(check_seed(seed)),
                                 check_int("chain", chain, lo=0, hi=2**32 - 1),
                                 check_int("step", step, lo=0, hi=2**48 - 1), g)
        return float(u), g
