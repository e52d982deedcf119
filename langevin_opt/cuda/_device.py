"""Device-side building blocks shared by the CUDA kernels (one source for both targets).

Everything here is a plain ``numba.njit(inline="always")`` function of scalars:
it compiles for the CPU, compiles for CUDA when called from a ``cuda.jit``
kernel, and under the CUDA simulator (which runs kernels as Python) it is
called as ordinary compiled CPU code, so simulated kernels use bit for bit the
arithmetic of the CPU kernels.

Random numbers
--------------
The Philox4x32-10 block function, the bit layout of the counter and the
conversion to uniforms are :mod:`langevin_opt.rng`'s own functions
(``_bits``, ``_to_unit``, ``uniform2``), used unchanged on the GPU: uniforms are
bit-identical on both targets.  :func:`normal2` repeats the three lines of
:func:`langevin_opt.rng.normal2` with ``math.sqrt`` instead of ``np.sqrt``:
numba-cuda has no ``np.sqrt`` for scalars (its ufunc table lacks it), while on
the CPU both lower to the same correctly rounded ``llvm.sqrt.f64``, so the
CPU results of the two are identical (checked in ``tests/test_cuda_walkers.py``).
``_fastmath.log`` and ``sincos_2pi`` compile for CUDA as they are (their bit
casts are plain LLVM ``bitcast`` instructions, valid in NVVM).

Floating point on the GPU
-------------------------
NVVM contracts ``a * b + c`` into fused multiply-adds by default (``-fma=1``),
while the CPU kernels are compiled without contraction (Numba emits no
``contract`` flags).  A fused multiply-add rounds once instead of twice, which
changes results by about 1 ulp per fused operation, and such differences grow
with the dynamics' Lyapunov exponent over a run.  numba-cuda does not expose the
option, so :func:`nvvm_fma` sets it around our launches (the first launch of a
kernel compiles it) and PTX compilations.  Default: **no contraction**
(``LANGEVIN_OPT_CUDA_FMA=0``), so that every ``+ - * /`` and ``sqrt`` is the
same correctly rounded IEEE operation on both targets; set
``LANGEVIN_OPT_CUDA_FMA=1`` for speed at the price of rounding-level agreement.

What then remains different from the CPU: ``math.exp``/``log``/``sin``/``cos``
compile to CUDA's libdevice on the GPU and to the C library on the CPU (both
within 1-2 ulp, not the same bits).  The integrators use them only in the MALA
acceptance test (``log u < log ratio``: a different decision needs the two within
an ulp, probability ~1e-16 per step); landscapes written with IEEE arithmetic and
:mod:`langevin_opt.fastmath` (``double_well``, ``narrow_wide``, ``muller_brown``,
``gaussian``) are bit-identical, while ``rastrigin``, ``ackley`` and user
landscapes calling ``math.*`` agree to a few ulp per evaluation.  Integer work
(the Philox stream, the uniforms, replica-exchange bookkeeping) is exact.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator

import numba

from .. import _fastmath as fm
from ..rng import PURPOSE_NOISE, _bits, _to_unit

__all__ = ["nvvm_fma", "fma_default", "normal2", "device_fn", "gd_update", "em_update", "kick",
           "drift", "ou_update", "mala_log_ratio", "em_noise", "baoab_bao", "baoab_kick",
           "threads_per_block", "blocks"]

_inline = numba.njit(inline="always", error_model="numpy")


@_inline
def normal2(seed, stream, step, draw, purpose):  # pragma: no cover - compiled
    """Two standard normals, the stream of :func:`langevin_opt.rng.normal2` (any target)."""
    r0, r1, r2, r3 = _bits(seed, stream, step, draw, purpose)
    u1 = _to_unit(r0, r1)
    u2 = _to_unit(r2, r3)
    r = math.sqrt(-2.0 * fm.log(u1))
    s, c = fm.sincos_2pi(u2)
    return r * c, r * s


# --- integrator update math (scalars; the order of operations is the CPU kernels') -----

@_inline
def gd_update(x, g, dt):  # pragma: no cover - compiled
    """Gradient-descent step ``x - dt g``."""
    return x - dt * g


@_inline
def em_update(x, g, dt, sig, z):  # pragma: no cover - compiled
    """Euler–Maruyama step ``x - dt g + sig z`` (overdamped Langevin, MALA proposal)."""
    return x - dt * g + sig * z


@_inline
def kick(v, g, hdtm):  # pragma: no cover - compiled
    """BAOAB half kick ``v - (dt / 2m) g``."""
    return v - hdtm * g


@_inline
def drift(x, v, hdt):  # pragma: no cover - compiled
    """BAOAB half drift ``x + (dt / 2) v``."""
    return x + hdt * v


@_inline
def ou_update(v, c1, sd, z):  # pragma: no cover - compiled
    """BAOAB Ornstein–Uhlenbeck step ``c1 v + sd z``."""
    return c1 * v + sd * z


@_inline
def mala_log_ratio(e_new, e_old, fwd, bwd, temp, dt):  # pragma: no cover - compiled
    """Log Metropolis–Hastings ratio of a MALA proposal (energies, squared residuals)."""
    return -(e_new - e_old) / temp - (bwd - fwd) / (4.0 * temp * dt)


# --- one walker's step over its d components (kernels of .walkers and .first_passage) -----
# These take the (d, M) arrays and a walker index; kernels call them through device_fn.

@_inline
def em_noise(Y, X, G, i, dt, sig, seed, st, step):  # pragma: no cover - compiled
    """Euler–Maruyama update of walker ``i``: ``Y[:, i] = X[:, i] - dt G[:, i] + sig z``."""
    d = X.shape[0]
    for q in range((d + 1) // 2):
        k = 2 * q
        z0, z1 = normal2(seed, st, step, q, PURPOSE_NOISE)
        Y[k, i] = em_update(X[k, i], G[k, i], dt, sig, z0)
        if k + 1 < d:
            Y[k + 1, i] = em_update(X[k + 1, i], G[k + 1, i], dt, sig, z1)


@_inline
def baoab_bao(X, V, G, i, hdt, hdtm, c1, sd, seed, st, step):  # pragma: no cover - compiled
    """B A O A of a BAOAB step of walker ``i`` (the caller evaluates the gradient, then kicks)."""
    d = X.shape[0]
    for k in range(d):
        V[k, i] = kick(V[k, i], G[k, i], hdtm)
        X[k, i] = drift(X[k, i], V[k, i], hdt)
    for q in range((d + 1) // 2):
        k = 2 * q
        z0, z1 = normal2(seed, st, step, q, PURPOSE_NOISE)
        V[k, i] = ou_update(V[k, i], c1, sd, z0)
        X[k, i] = drift(X[k, i], V[k, i], hdt)
        if k + 1 < d:
            V[k + 1, i] = ou_update(V[k + 1, i], c1, sd, z1)
            X[k + 1, i] = drift(X[k + 1, i], V[k + 1, i], hdt)


@_inline
def baoab_kick(V, G, i, hdtm):  # pragma: no cover - compiled
    """The closing half kick B of a BAOAB step of walker ``i``."""
    for k in range(V.shape[0]):
        V[k, i] = kick(V[k, i], G[k, i], hdtm)


def device_fn(fn):
    """The form of a compiled function that a CUDA kernel can call on this backend.

    On a GPU (and for PTX compilation) kernels call the ``njit`` dispatcher
    itself, which numba-cuda compiles for the device.  The simulator runs kernels
    as Python and cannot pass its device arrays into compiled CPU code, so
    functions that take arrays (landscapes, pair loops) are called through their
    Python source (``py_func``); the scalar functions they call stay compiled.

    Parameters
    ----------
    fn : numba dispatcher
        An ``njit`` function.

    Returns
    -------
    callable
    """
    from .backend import simulator

    if simulator():
        return getattr(fn, "py_func", fn)
    return fn


def threads_per_block() -> int:
    """CUDA threads per block of every launch: ``langevin_opt.config.threads_per_block``.

    Read at each launch, so that a changed setting applies to the next launch.

    Returns
    -------
    int
    """
    from ..config import config
    from ..core.validation import check_int

    return check_int("config.threads_per_block", config.threads_per_block, lo=1, hi=1024)


def blocks(n: int) -> int:
    """Blocks of :func:`threads_per_block` threads needed for ``n`` threads (at least 1).

    Parameters
    ----------
    n : int
        Threads needed (walkers, replicas, atoms).

    Returns
    -------
    int
    """
    tpb = threads_per_block()
    return max(1, (int(n) + tpb - 1) // tpb)


def fma_default() -> bool:
    """Whether kernels are compiled with multiply-add contraction (``LANGEVIN_OPT_CUDA_FMA``).

    Returns
    -------
    bool
        True only if the environment variable is ``1`` (default: False, exact).
    """
    return os.environ.get("LANGEVIN_OPT_CUDA_FMA", "0").strip() == "1"


@contextlib.contextmanager
def nvvm_fma(enabled: bool | None = None) -> Iterator[None]:
    """Compile CUDA kernels with (or without) FMA contraction inside this block.

    numba-cuda compiles a kernel to PTX on its first launch (or in
    ``compile_ptx``) by calling ``numba.cuda.cudadrv.nvvm.compile_ir`` with its
    NVVM options; this passes ``fma`` to it for the duration of the block.

    Parameters
    ----------
    enabled : bool, optional
        Contract multiply-adds; default :func:`fma_default`.
    """
    from .backend import simulator

    if simulator():  # no compiler: kernels run as Python
        yield
        return
    if enabled is None:
        enabled = fma_default()
    from numba.cuda.cudadrv import nvvm

    saved = nvvm.compile_ir
    inner = getattr(saved, "_langevin_opt_inner", saved)

    def compile_ir(llvmir, **options):
        options.setdefault("fma", bool(enabled))
        return inner(llvmir, **options)

    compile_ir._langevin_opt_inner = inner
    nvvm.compile_ir = compile_ir
    try:
        yield
    finally:
        nvvm.compile_ir = saved
