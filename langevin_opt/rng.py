"""Counter-based random numbers: Philox4x32-10 keyed by (seed, stream, step).

Every random number in langevin_opt is a *pure function* of

``(seed, stream, step, draw, purpose)``

where ``stream`` is the walker (or replica, or chain) id, ``step`` the global
integration step, ``draw`` the index of the draw within that step and
``purpose`` a small tag that separates independent uses (dynamics noise,
Metropolis acceptance, replica swaps, initialisation).  There is no generator
state to carry, save or split: a walker's noise at step ``n`` is the same
whichever thread, batch, chunk of the run or backend computes it.  This is what
makes trajectories bit-identical across thread counts, ensemble splits,
checkpoint/resume and (later) CPU/GPU.

The block cipher is Philox4x32 with 10 rounds (Salmon, Moraes, Dror & Shaw,
"Parallel random numbers: as easy as 1, 2, 3", SC'11), checked against the
Random123 known-answer vectors in the tests.  The 128-bit counter and 64-bit
key are laid out as::

    key     = (seed & 0xFFFFFFFF, seed >> 32)
    counter = (draw, step & 0xFFFFFFFF, (step >> 32) & 0xFFFF | purpose << 16, stream)

so seeds are any integer in ``[0, 2**64)``, streams ``[0, 2**32)``, steps
``[0, 2**48)``, draws ``[0, 2**32)`` and purposes ``[0, 2**16)``.

One Philox call gives 128 random bits, turned into two uniforms with 53-bit
resolution on the open interval (0, 1) or, by the Box–Muller transform, two
standard normals.

All functions here are plain ``numba.njit`` functions built from integer and
floating-point arithmetic only, so the same source compiles for the CPU and
inside ``numba.cuda`` kernels.
"""

from __future__ import annotations

import numba
import numpy as np

from . import _fastmath as fm
from .core.validation import check_seed  # re-exported (public here before core existed)

__all__ = [
    "PURPOSE_NOISE",
    "PURPOSE_ACCEPT",
    "PURPOSE_SWAP",
    "PURPOSE_INIT",
    "PURPOSE_MINIBATCH",
    "philox4x32",
    "uniform2",
    "normal2",
    "uniforms",
    "normals",
    "check_seed",
]

#: Tag of the Gaussian noise that drives the dynamics.
PURPOSE_NOISE = 0
#: Tag of Metropolis accept/reject uniforms (MALA).
PURPOSE_ACCEPT = 1
#: Tag of replica-exchange swap decisions.
PURPOSE_SWAP = 2
#: Tag of random initial positions.
PURPOSE_INIT = 3
#: Tag of minibatch selection.
PURPOSE_MINIBATCH = 4

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)
_MASK16 = np.uint64(0xFFFF)
_S32 = np.uint64(32)
_S16 = np.uint64(16)
_S11 = np.uint64(11)
_S21 = np.uint64(21)
_TWO_M53 = 1.0 / 9007199254740992.0  # 2**-53


@numba.njit(cache=True, inline="always")
def _round(c0, c1, c2, c3, k0, k1):
    p0 = _M0 * c0
    p1 = _M1 * c2
    hi0 = p0 >> _S32
    lo0 = p0 & _MASK32
    hi1 = p1 >> _S32
    lo1 = p1 & _MASK32
    return (hi1 ^ c1 ^ k0), lo1, (hi0 ^ c3 ^ k1), lo0


@numba.njit(cache=True)
def philox4x32(c0, c1, c2, c3, k0, k1, rounds=10):
    """Apply the Philox4x32 block function.

    Parameters
    ----------
    c0, c1, c2, c3 : uint64
        The four 32-bit counter words (held in uint64, upper bits must be 0).
    k0, k1 : uint64
        The two 32-bit key words.
    rounds : int, optional
        Number of rounds; 10 is the standard (Philox4x32-10).

    Returns
    -------
    tuple of 4 uint64
        The four 32-bit output words.
    """
    c0 = np.uint64(c0)
    c1 = np.uint64(c1)
    c2 = np.uint64(c2)
    c3 = np.uint64(c3)
    k0 = np.uint64(k0)
    k1 = np.uint64(k1)
    for r in range(rounds):
        if r > 0:
            k0 = (k0 + _W0) & _MASK32
            k1 = (k1 + _W1) & _MASK32
        c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    return c0, c1, c2, c3


@numba.njit(cache=True, inline="always")
def _philox10(c0, c1, c2, c3, k0, k1):
    # Ten-round Philox4x32 for the kernels (constant trip count: LLVM unrolls it and
    # vectorizes the rounds across walkers).
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    for _ in range(9):
        k0 = (k0 + _W0) & _MASK32
        k1 = (k1 + _W1) & _MASK32
        c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    return c0, c1, c2, c3


@numba.njit(cache=True, inline="always")
def _bits(seed, stream, step, draw, purpose):
    s = np.uint64(seed)
    st = np.uint64(step)
    k0 = s & _MASK32
    k1 = s >> _S32
    c0 = np.uint64(draw) & _MASK32
    c1 = st & _MASK32
    c2 = ((st >> _S32) & _MASK16) | (np.uint64(purpose) << _S16)
    c3 = np.uint64(stream) & _MASK32
    return _philox10(c0, c1, c2, c3, k0, k1)


@numba.njit(cache=True, inline="always")
def _to_unit(hi, lo):
    # 53 random bits -> (0, 1): (n + 1/2) * 2**-53, never 0 and never 1.
    n = (hi << _S21) ^ (lo >> _S11)
    return (np.float64(n) + 0.5) * _TWO_M53


@numba.njit(cache=True, inline="always")
def uniform2(seed, stream, step, draw, purpose):
    """Two independent uniforms on the open interval (0, 1).

    Parameters
    ----------
    seed : int
        Key of the generator, ``0 <= seed < 2**64``.
    stream : int
        Stream id (walker, replica or chain), ``0 <= stream < 2**32``.
    step : int
        Integration step, ``0 <= step < 2**48``.
    draw : int
        Index of the Philox call within the step.
    purpose : int
        One of the ``PURPOSE_*`` tags.

    Returns
    -------
    (float, float)
        Two uniforms with 53-bit resolution, strictly inside (0, 1).
    """
    r0, r1, r2, r3 = _bits(seed, stream, step, draw, purpose)
    return _to_unit(r0, r1), _to_unit(r2, r3)


@numba.njit(cache=True, inline="always")
def normal2(seed, stream, step, draw, purpose):
    """Two independent standard normals by the Box–Muller transform.

    Parameters
    ----------
    seed, stream, step, draw, purpose : int
        See :func:`uniform2`.

    Returns
    -------
    (float, float)
        Two independent N(0, 1) draws.
    """
    u1, u2 = uniform2(seed, stream, step, draw, purpose)
    r = np.sqrt(-2.0 * fm.log(u1))
    s, c = fm.sincos_2pi(u2)
    return r * c, r * s


@numba.njit(cache=True)
def _fill(out, seed, stream0, step, purpose, normal):
    m, n = out.shape
    for i in range(m):
        for k in range(0, n, 2):
            if normal:
                a, b = normal2(seed, stream0 + i, step, k // 2, purpose)
            else:
                a, b = uniform2(seed, stream0 + i, step, k // 2, purpose)
            out[i, k] = a
            if k + 1 < n:
                out[i, k + 1] = b


def _check_draw_args(streams: int, n: int, stream0: int, step: int, purpose: int) -> None:
    if streams < 1 or n < 1:
        raise ValueError(f"shape must be positive, got ({streams}, {n})")
    if not 0 <= stream0 or stream0 + streams > 2**32:
        raise ValueError(f"stream ids must lie in [0, 2**32), got [{stream0}, {stream0 + streams})")
    if not 0 <= step < 2**48:
        raise ValueError(f"step must lie in [0, 2**48), got {step}")
    if not 0 <= purpose < 2**16:
        raise ValueError(f"purpose must lie in [0, 2**16), got {purpose}")


def _draw(seed: int, shape: tuple[int, int], stream0: int, step: int, purpose: int,
          normal: bool) -> np.ndarray:
    seed = check_seed(seed)
    _check_draw_args(shape[0], shape[1], stream0, step, purpose)
    out = np.empty(shape, dtype=np.float64)
    _fill(out, np.uint64(seed), stream0, step, purpose, normal)
    return out


def normals(
    seed: int, shape: tuple[int, int], *, stream_offset: int = 0, step: int = 0, purpose: int = 0
) -> np.ndarray:
    """Standard normals for ``shape[0]`` consecutive streams at one step.

    Row ``i`` holds the ``shape[1]`` normals that stream ``stream_offset + i`` draws at
    ``step`` for ``purpose``: exactly the numbers the integrators use.

    Parameters
    ----------
    seed : int
        Generator key, ``0 <= seed < 2**64``.
    shape : (int, int)
        ``(number of streams, draws per stream)``.
    stream_offset : int, optional
        Id of the first stream.
    step : int, optional
        Step (counter).
    purpose : int, optional
        Purpose tag (``PURPOSE_NOISE`` by default).

    Returns
    -------
    numpy.ndarray
        Array of the given shape, float64.
    """
    return _draw(seed, shape, stream_offset, step, purpose, True)


def uniforms(
    seed: int, shape: tuple[int, int], *, stream_offset: int = 0, step: int = 0, purpose: int = 0
) -> np.ndarray:
    """Uniforms on (0, 1) for ``shape[0]`` consecutive streams at one step.

    Parameters
    ----------
    seed : int
        Generator key, ``0 <= seed < 2**64``.
    shape : (int, int)
        ``(number of streams, draws per stream)``.
    stream_offset : int, optional
        Id of the first stream.
    step : int, optional
        Step (counter).
    purpose : int, optional
        Purpose tag.

    Returns
    -------
    numpy.ndarray
        Array of the given shape, float64, values strictly inside (0, 1).
    """
    return _draw(seed, shape, stream_offset, step, purpose, False)
