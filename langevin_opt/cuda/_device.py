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
NVVM contracts ``a * b + c`` into fused multiply-adds (its default ``-fma=1``,
which numba-cuda does not expose), while the CPU kernels are compiled without
contraction.  A fused multiply-add rounds once instead of twice, so GPU results
differ from the CPU ones by rounding (about 1 ulp per fused operation in the
normals, the landscape and the update), and those differences grow with the
dynamics' Lyapunov exponent over a run.  Integer work (the Philox stream, the
uniforms, replica-exchange bookkeeping) is exact.
"""

from __future__ import annotations

import math

import numba

from .. import _fastmath as fm
from ..rng import _bits, _to_unit

__all__ = ["normal2", "device_fn", "gd_update", "em_update", "kick", "drift", "ou_update",
           "mala_log_ratio"]

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
