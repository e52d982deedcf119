"""Vectorizable, bit-reproducible scalar ``exp``, ``log`` and ``sincos_2pi`` for Numba.

Our llvmlite is not SVML-patched, so ``math.exp``/``math.log``/``math.sin``/
``math.cos`` inside an ``njit`` loop become scalar libm calls (LLVM may still
"vectorize" the loop, but as ``llvm.exp.v8f64`` split into 8 libm calls).  The
functions below are written only with IEEE ``+ - * /``, comparisons/selects,
integer shifts/adds/bit ops and integer <-> float bit casts, so once LLVM inlines
them into a ``for j in range(W)`` walker loop the whole loop body is vectorized
(``<8 x double>`` on AVX-512, 3x-8x faster than libm; see
``benchmarks/bench_fastmath.py``).

Reproducibility
---------------
No ``fastmath`` flags are used and Numba emits no ``contract`` flags, so LLVM
may not fuse ``a * b + c`` into an FMA.  Every operation is a correctly rounded
IEEE operation, identical in a vector lane and in the scalar remainder loop:
results are bit-identical whichever way a walker is processed.

The functions are branch-free (selects only) and contain no CPU-only intrinsics,
so they are also meant to be callable from ``numba.cuda.jit`` device code (the
bit casts are ``llvmlite`` ``bitcast`` instructions, valid for NVVM as well).

Accuracy (measured against long-double references, see ``tests/test_fastmath.py``)
----------------------------------------------------------------------------------
* :func:`exp`: < 1 ulp (max measured 0.68 ulp, 98.4 % correctly rounded) on
  [-708, 709.78]; overflow to ``inf`` above 709.78, gradual underflow to
  subnormals (error < 1 subnormal ulp, measured 0.78: not always correctly
  rounded there) and ``0.0`` below -745.13; ``nan`` propagates.
* :func:`log`: < 1 ulp (max measured 0.86 ulp, 94 % correctly rounded) on the
  whole positive range including subnormals; ``log(+-0) = -inf``,
  ``log(x < 0) = nan``, ``log(inf) = inf``.
* :func:`sincos_2pi`: absolute error < 1.5e-16 (max measured 1.33e-16, i.e.
  1.2 ulp near ``|value| = 1/sqrt(2)``), against ~7e-16 for the naive
  ``math.sin(2 * math.pi * u)``.

All polynomial coefficients are truncated Taylor series, rounded once to
double from exact rationals (re-derived in the tests).
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["bits_to_float64", "exp", "float64_to_bits", "log", "sincos_2pi"]


# ---------------------------------------------------------------------------
# Bit casts.  ``bitcast`` is a no-op reinterpretation in LLVM IR (and in NVVM);
# it vectorizes to nothing at all, unlike going through memory or ``view``.
# ---------------------------------------------------------------------------


@intrinsic
def float64_to_bits(typingctx, x):
    """Reinterpret the bits of a float64 as an int64 (LLVM ``bitcast``; jitted code only).

    Parameters
    ----------
    x : float64
        Value to reinterpret (float32 is first converted to float64).

    Returns
    -------
    int64
        The IEEE-754 bit pattern of ``x`` as a signed 64-bit integer.
    """
    if not isinstance(x, types.Float):
        return None
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def bits_to_float64(typingctx, i):
    """Reinterpret the bits of an int64 as a float64 (LLVM ``bitcast``; jitted code only).

    Parameters
    ----------
    i : int64
        Bit pattern (other integer types are first cast to int64; a uint64 keeps its bits).

    Returns
    -------
    float64
        The float64 whose IEEE-754 bit pattern is ``i``.
    """
    if not isinstance(i, types.Integer):
        return None
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


# Plain ``njit`` (not ``inline="always"``): LLVM inlines these small functions
# into any jitted caller anyway, and -- unlike Numba-IR inlining -- it keeps
# this module's ``error_model="numpy"``, so the division in ``log`` never gets
# a ZeroDivisionError branch that would stop the caller's loop vectorizing.
_jit = numba.njit(cache=True, error_model="numpy", fastmath=False, nogil=True)

# 1.5 * 2**52: adding and subtracting it rounds |t| < 2**51 to the nearest
# integer (ties to even); the low bits of (t + _SHIFT) then hold that integer.
_SHIFT = 6755399441055744.0
_SHIFT_BITS = 0x4338000000000000

# ---------------------------------------------------------------------------
# exp
# ---------------------------------------------------------------------------
_INV_LN2 = 1.4426950408889634
# Cody-Waite split of ln 2: _LN2_HI has 21 trailing zero bits so n * _LN2_HI is
# exact for |n| < 2**21; _LN2_LO = ln 2 - _LN2_HI rounded to double.
_LN2_HI = 0.6931471803691238  # 0x1.62e42fee00000p-1
_LN2_LO = 1.9082149292705877e-10  # 0x1.a39ef35793c76p-33
# Clamp bounds: outside them the result is already 0.0 / inf, and clamping keeps
# n = round(x / ln 2) in [-1076, 1024] so that both half-scales 2**(n/2) are normal.
_EXP_LO = -746.0
_EXP_HI = 710.0
# 1/k! for k = 2..13; with |r| <= 0.35 the first omitted term r**14/14! < 5e-18.
_E2 = 0.5
_E3 = 0.16666666666666666
_E4 = 0.041666666666666664
_E5 = 0.008333333333333333
_E6 = 0.001388888888888889
_E7 = 0.0001984126984126984
_E8 = 2.48015873015873e-05
_E9 = 2.7557319223985893e-06
_E10 = 2.755731922398589e-07
_E11 = 2.505210838544172e-08
_E12 = 2.08767569878681e-09
_E13 = 1.6059043836821613e-10


@_jit
def exp(x: float) -> float:
    """Exponential ``e**x`` built from IEEE arithmetic only (vectorizable).

    ``x = n ln2 + r`` (Cody-Waite, ``|r| <= ln2/2``), ``e**r`` by a degree-13
    Taylor polynomial with the rounding error of ``r`` fed back in, and the
    scaling by ``2**n`` done as two exact multiplications by ``2**(n//2)`` and
    ``2**(n - n//2)`` whose bit patterns are built with integer shifts; this
    handles overflow and gradual underflow without branches.

    Parameters
    ----------
    x : float
        Argument (any float64, including ``inf`` and ``nan``).

    Returns
    -------
    float
        ``e**x`` within 1 ulp; ``inf`` for ``x > 709.78``, ``0.0`` for
        ``x < -745.14`` (subnormal in between), ``nan`` for ``nan``.
    """
    # Written as "if x > hi" (not min/max) so that nan falls through unchanged.
    if x > _EXP_HI:
        x = _EXP_HI
    if x < _EXP_LO:
        x = _EXP_LO
    kd = x * _INV_LN2 + _SHIFT
    # int64 round(x / ln2); no signed overflow even for nan payloads (Numba emits nsw)
    n = float64_to_bits(kd) - _SHIFT_BITS
    nd = kd - _SHIFT  # the same integer as a float64 (exact)
    hi = x - nd * _LN2_HI  # exact (n * _LN2_HI exact, Sterbenz)
    lo = nd * _LN2_LO
    r = hi - lo
    err = (hi - r) - lo  # rounding error of r, so that r + err == hi - lo
    p = _E12 + r * _E13
    p = _E11 + r * p
    p = _E10 + r * p
    p = _E9 + r * p
    p = _E8 + r * p
    p = _E7 + r * p
    p = _E6 + r * p
    p = _E5 + r * p
    p = _E4 + r * p
    p = _E3 + r * p
    p = _E2 + r * p
    # 1 + r as an exact sum hi + lo (Fast2Sum, |r| < 1), so only the last add rounds
    one_r = 1.0 + r
    one_r_lo = (1.0 - one_r) + r
    y = one_r + (one_r_lo + (err + (r * r) * p))
    n1 = n >> 1
    n2 = n - n1
    s1 = bits_to_float64((n1 + 1023) << 52)
    s2 = bits_to_float64((n2 + 1023) << 52)
    # y * s1 is exact (normal); the second product rounds once (also into subnormals).
    return (y * s1) * s2


# ---------------------------------------------------------------------------
# log
# ---------------------------------------------------------------------------
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD  # bits of sqrt(1/2)
_MIN_NORMAL = 2.2250738585072014e-308
_TWO52 = 4503599627370496.0
_INF = float("inf")
_NAN = float("nan")
# 2/(2k+1), k = 1..10: log(1+f) = 2s + s*R(s*s), s = f/(2+f), |s| <= 0.1716;
# the first omitted term is < 1e-18 relative.
_L1 = 0.6666666666666666
_L2 = 0.4
_L3 = 0.2857142857142857
_L4 = 0.2222222222222222
_L5 = 0.18181818181818182
_L6 = 0.15384615384615385
_L7 = 0.13333333333333333
_L8 = 0.11764705882352941
_L9 = 0.10526315789473684
_L10 = 0.09523809523809523


@_jit
def log(x: float) -> float:
    """Natural logarithm built from IEEE arithmetic only (vectorizable).

    ``x = 2**k m`` with ``m`` in ``[sqrt(1/2), sqrt(2))`` taken from the bit
    pattern (subnormals are pre-scaled by ``2**52``), ``f = m - 1`` (exact) and
    ``log(1+f) = f - (f*f/2 - s*(f*f/2 + R))`` with ``s = f/(2+f)`` and ``R``
    the atanh (Taylor) series in ``s*s``; finally ``+ k ln2`` in two parts.

    Parameters
    ----------
    x : float
        Argument (any float64).

    Returns
    -------
    float
        ``log(x)`` within 1 ulp for ``x > 0``; ``-inf`` for ``x == 0``, ``nan``
        for ``x < 0`` or ``nan``, ``inf`` for ``inf``.
    """
    sub = x < _MIN_NORMAL
    xs = x * _TWO52 if sub else x
    kadj = -52 if sub else 0
    # Sign bit dropped (x < 0 is handled by a select below): keeps every int64 op
    # free of overflow, which matters because Numba tags signed +,- with ``nsw``.
    ix = float64_to_bits(xs) & 0x7FFFFFFFFFFFFFFF
    k = (ix - _SQRT_HALF_BITS) >> 52  # arithmetic shift
    m = bits_to_float64(ix - (k << 52))
    f = m - 1.0  # exact
    dk = float(k + kadj)
    s = f / (2.0 + f)
    z = s * s
    rr = _L9 + z * _L10
    rr = _L8 + z * rr
    rr = _L7 + z * rr
    rr = _L6 + z * rr
    rr = _L5 + z * rr
    rr = _L4 + z * rr
    rr = _L3 + z * rr
    rr = _L2 + z * rr
    rr = _L1 + z * rr
    rr = z * rr
    hfsq = 0.5 * f * f
    y = (((s * (hfsq + rr) + dk * _LN2_LO) - hfsq) + f) + dk * _LN2_HI
    # Special values by selects (branch-free): order matters for -inf and nan.
    if x == 0.0:
        y = -_INF
    if x < 0.0:
        y = _NAN
    if not (x < _INF):  # +inf and nan
        y = x + x
    return y


# ---------------------------------------------------------------------------
# sincos_2pi
# ---------------------------------------------------------------------------
# (-1)**k (2 pi)**(2k+1) / (2k+1)!, k = 0..8 (first omitted term < 1e-19 at |f| = 1/8)
_S1 = 6.283185307179586
_S1_LO = 2.4492935982947064e-16  # 2 pi - _S1, restores the bits lost by rounding 2 pi
_S3 = -41.34170224039976
_S5 = 81.60524927607506
_S7 = -76.70585975306139
_S9 = 42.058693944897655
_S11 = -15.09464257682299
_S13 = 3.819952584848282
_S15 = -0.7181223017785006
_S17 = 0.10422916220813984
# (-1)**k (2 pi)**(2k) / (2k)!, k = 1..8 (first omitted term < 3e-18 at |f| = 1/8);
# the k = 1 term is used with the opposite sign, as _HALF_4PI2 = (2 pi)**2 / 2.
_HALF_4PI2 = 19.739208802178716
_C4 = 64.9393940226683
_C6 = -85.45681720669373
_C8 = 60.24464137187666
_C10 = -26.4262567833744
_C12 = 7.903536371318469
_C14 = -1.714390711088672
_C16 = 0.28200596845579123


@_jit
def sincos_2pi(u: float) -> tuple[float, float]:
    """Return ``(sin(2 pi u), cos(2 pi u))`` using IEEE arithmetic only (vectorizable).

    Exact quadrant reduction ``q = round(4u)``, ``f = u - q/4`` (exact,
    ``|f| <= 1/8``), Taylor polynomials in ``f`` for ``sin(2 pi f)`` and
    ``cos(2 pi f)`` (coefficients include the powers of ``2 pi``, so ``2 pi u``
    is never rounded), then the quadrant rotation by selects.

    Parameters
    ----------
    u : float
        Turns; intended for ``[0, 1)`` (uniform draws for Box-Muller), correct
        for any ``|u| < 2**49``.

    Returns
    -------
    tuple of float
        ``(sin(2 pi u), cos(2 pi u))``, absolute error < 1.5e-16 each;
        ``nan`` for non-finite ``u``.  Exact zeros may carry a negative sign.
    """
    t = 4.0 * u + _SHIFT  # exact scaling by 4, rounds to the nearest integer q
    q = float64_to_bits(t)  # low bits hold q (two's complement)
    f = u - (t - _SHIFT) * 0.25  # exact
    z = f * f
    ps = _S15 + z * _S17
    ps = _S13 + z * ps
    ps = _S11 + z * ps
    ps = _S9 + z * ps
    ps = _S7 + z * ps
    ps = _S5 + z * ps
    ps = _S3 + z * ps
    s = _S1 * f + (_S1_LO * f + (f * z) * ps)
    pc = _C14 + z * _C16
    pc = _C12 + z * pc
    pc = _C10 + z * pc
    pc = _C8 + z * pc
    pc = _C6 + z * pc
    pc = _C4 + z * pc
    # cos = 1 - hz + z*z*pc with the rounding error of w = 1 - hz added back
    hz = _HALF_4PI2 * z
    w = 1.0 - hz
    c = w + (((1.0 - w) - hz) + (z * z) * pc)
    # sin(a + q pi/2): q%4 = 0 -> (s, c), 1 -> (c, -s), 2 -> (-s, -c), 3 -> (-c, s)
    odd = (q & 1) != 0
    sin_v = c if odd else s
    cos_v = s if odd else c
    if (q & 2) != 0:
        sin_v = -sin_v
    if ((q ^ (q >> 1)) & 1) != 0:  # q % 4 in (1, 2); bit ops only: no int overflow
        cos_v = -cos_v
    return sin_v, cos_v


# ---------------------------------------------------------------------------
# tanh, sigmoid, softplus, log1p (added for langevin_opt.nn): built on exp/log
# above, so they vectorize the same way inside jitted loops.
# ---------------------------------------------------------------------------
def _tanh_taylor_coefficients(n_terms: int) -> tuple:
    """Taylor coefficients of ``tanh`` (``x**1, x**3, ...``), exact rationals rounded once."""
    from fractions import Fraction
    from math import comb, factorial

    bern = [Fraction(1)]  # B_0..B_{2 n_terms} (B_1 = -1/2 convention; only even ones used)
    for m in range(1, 2 * n_terms + 1):
        bern.append(-sum(comb(m + 1, k) * bern[k] for k in range(m)) / (m + 1))
    out = []
    for n in range(1, n_terms + 1):
        c = Fraction(2 ** (2 * n) * (2 ** (2 * n) - 1)) * bern[2 * n] / factorial(2 * n)
        out.append(float(c))
    return tuple(out)


# Below |x| = 1/4 a degree-23 odd Taylor polynomial (first omitted term < 3e-18
# relative); above, (1 - e) / (1 + e) with e = exp(-2|x|), whose cancellation
# costs at most ~1 ulp there.
_TH = _tanh_taylor_coefficients(12)
_TANH_SMALL = 0.25


@_jit
def tanh(x: float) -> float:
    """Hyperbolic tangent from IEEE arithmetic and :func:`exp` only (vectorizable).

    Larger than LLVM's inlining budget: inside a hot loop, inline it at the
    Numba-IR level (``numba.njit(inline="always", error_model="numpy")(tanh.py_func)``,
    as :mod:`langevin_opt.nn.mlp` does) or the loop keeps a scalar call per
    element.

    Parameters
    ----------
    x : float
        Argument (any float64).

    Returns
    -------
    float
        ``tanh(x)`` within 3 ulp (see ``tests/test_nn_fastmath.py``); exactly
        ``+-1`` for ``|x| > 19.1``, ``nan`` for ``nan``; odd (``tanh(-x) = -tanh(x)``).
    """
    ax = abs(x)
    z = x * x
    p = _TH[10] + z * _TH[11]
    p = _TH[9] + z * p
    p = _TH[8] + z * p
    p = _TH[7] + z * p
    p = _TH[6] + z * p
    p = _TH[5] + z * p
    p = _TH[4] + z * p
    p = _TH[3] + z * p
    p = _TH[2] + z * p
    p = _TH[1] + z * p
    small = x + (x * z) * p
    e = exp(-2.0 * ax)
    big = (1.0 - e) / (1.0 + e)
    if x < 0.0:
        big = -big
    return small if ax < _TANH_SMALL else big


@_jit
def log1p(x: float) -> float:
    """``log(1 + x)`` accurate for small ``x`` (vectorizable; for ``x > -1``).

    Uses ``u = 1 + x`` and ``log(u) * x / (u - 1)`` (exact correction of the
    rounding of ``u``), and ``x`` itself where ``u == 1``.

    Parameters
    ----------
    x : float
        Argument, ``x > -1``.

    Returns
    -------
    float
        ``log1p(x)`` within a few ulp; ``nan`` for ``x < -1`` or ``nan``.
    """
    u = 1.0 + x
    d = u - 1.0
    r = log(u) * (x / d)
    if d == 0.0:
        r = x
    if u == _INF:
        r = u
    return r


@_jit
def sigmoid(x: float) -> float:
    """Logistic function ``1 / (1 + exp(-x))`` without overflow (vectorizable).

    Parameters
    ----------
    x : float
        Argument (any float64).

    Returns
    -------
    float
        Value in ``[0, 1]`` within a few ulp; ``nan`` for ``nan``.
    """
    e = exp(-abs(x))
    r = 1.0 / (1.0 + e)
    return e * r if x < 0.0 else r


@_jit
def softplus(x: float) -> float:
    """``log(1 + exp(x))`` without overflow or cancellation (vectorizable).

    Parameters
    ----------
    x : float
        Argument (any float64).

    Returns
    -------
    float
        ``softplus(x) = max(x, 0) + log1p(exp(-|x|))``, within a few ulp;
        ``x`` itself for ``x > 37`` to double precision, ``nan`` for ``nan``.
    """
    m = x if x > 0.0 else 0.0
    return m + log1p(exp(-abs(x)))


__all__ += ["log1p", "sigmoid", "softplus", "tanh"]
