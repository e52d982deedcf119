"""CUDA backend (NVIDIA's ``numba-cuda``): walker ensembles and particle systems on a GPU.

Use it through the public API with ``backend="cuda"``
(:class:`langevin_opt.Sampler`, :func:`langevin_opt.sample`,
``langevin-opt run --backend cuda``).  Install with
``pip install 'langevin_opt[cuda]'``.

Modules
-------
:mod:`.backend`
    :func:`available`, :func:`require` (one-line errors, never a silent CPU
    fallback), ``backend=`` validation.
:mod:`._device`
    Scalar update math and the normal generator shared by both targets.
:mod:`.walkers`
    Step kernels per (landscape, integrator), the replica-exchange swap kernel and
    the host driver :func:`~.walkers.run_ensemble`.
:mod:`.particles`
    Pair forces (Lennard-Jones, Morse) with host-built cell/neighbour lists,
    integrator steps for particle systems and batched small-cluster replicas.
:mod:`.ptx`
    :func:`compile_ptx_all`: every kernel compiled to PTX without a GPU.

Importing this package imports neither ``numba.cuda`` nor any kernel module.
"""

from __future__ import annotations

from .backend import BACKENDS, BackendUnavailableError, available, check_backend, require

__all__ = ["BACKENDS", "BackendUnavailableError", "available", "check_backend", "require",
           "compile_ptx_all"]


def compile_ptx_all(cc: tuple[int, int] = (8, 0), *, fma: bool | None = None) -> dict[str, str]:
    """Compile every CUDA kernel of the package to PTX (no GPU or driver needed).

    Parameters
    ----------
    cc : (int, int)
        Compute capability, e.g. ``(8, 0)`` (A100) or ``(9, 0)`` (H100).
    fma : bool, optional
        Multiply-add contraction; default: as kernels are launched (off unless
        ``LANGEVIN_OPT_CUDA_FMA=1``).

    Returns
    -------
    dict
        Kernel name -> PTX text.
    """
    from .ptx import compile_ptx_all as _compile

    return _compile(cc, fma=fma)
