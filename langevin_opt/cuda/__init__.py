"""CUDA backend (NVIDIA's ``numba-cuda``): walker ensembles and particle systems on a GPU.

Use it through the public API with ``backend="cuda"``
(:class:`langevin_opt.Sampler`, :func:`langevin_opt.sample`,
:class:`langevin_opt.particles.Dynamics`, :func:`langevin_opt.particles.run_replicas`,
:func:`langevin_opt.rates.first_passage`, ``langevin-opt run --backend cuda``).
Install with ``pip install 'langevin_opt[cuda]'``.

The seam is at the driver
-------------------------
Each front end validates its arguments once and then calls either its compiled CPU
driver or the GPU driver here with the same arrays.  This package exports only such
array-in/array-out drivers and imports only shared math (:mod:`langevin_opt.core`,
:mod:`langevin_opt.rng`, ``_fastmath``, landscapes, pair functions,
:mod:`langevin_opt.particles._update`, kernel codes), never a front end
(``tests/test_architecture.py`` checks it).  Every launch uses
``langevin_opt.config.threads_per_block`` threads per block.

Modules
-------
:mod:`.backend`
    :func:`available`, :func:`require` (one-line errors, never a silent CPU
    fallback), ``backend=`` validation.
:mod:`._device`
    Scalar update math and the normal generator shared by both targets; launch sizes.
:mod:`.walkers`
    Step kernels per (landscape, integrator), the replica-exchange swap kernel and
    the driver :func:`~.walkers.run_ensemble` (behind ``Sampler``).
:mod:`.particles`
    Pair forces (Lennard-Jones, Morse) with device-built cell/neighbour lists: the
    single-system driver :class:`~.particles.SystemDriver` (behind ``Dynamics``) and
    the batched small-cluster driver :func:`~.particles.run_replicas`.
:mod:`.first_passage`
    The first-passage driver :func:`~.first_passage.run_first_passage` (behind
    :func:`langevin_opt.rates.first_passage`).
:mod:`.ptx`
    :func:`compile_ptx_all`: every kernel compiled to PTX without a GPU.

Same random numbers, same answers
---------------------------------
Every random number is the counter-based Philox stream of :mod:`langevin_opt.rng`
with the CPU's keys, so a GPU run follows the CPU run of the same seed.  Under
the CUDA simulator all walker, replica-exchange, first-passage and batched-replica
results are bit-identical to the CPU (the tests check it).  On a GPU, kernels are
compiled without multiply-add contraction by default (``LANGEVIN_OPT_CUDA_FMA=0``),
which makes them bit-identical too wherever both sides run the same correctly
rounded IEEE operations: all integrators on landscapes written with arithmetic
and :mod:`langevin_opt.fastmath`.  Differences remain, at the rounding level,
where CUDA's libdevice replaces the C library (``math.exp``, ``cos``, ... in
``rastrigin``, ``ackley``, Morse, user landscapes: a few ulp per call; MALA's
``log u`` test: a different decision needs a tie within an ulp) and where the
summation order differs (particle forces over full neighbour lists, energy and
virial totals: ~1e-15 relative per force, ~1e-13 for totals).  Rounding-level
differences grow with the dynamics' Lyapunov exponent; statistics agree within
their sampling error.  ``LANGEVIN_OPT_CUDA_FMA=1`` trades bit-identity for speed
(every fused multiply-add is then a rounding-level difference).

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
