"""Accuracy, special values, vectorization and lane/remainder bit-identity of _fastmath."""

from __future__ import annotations

import importlib
import importlib.util
import math
import platform
import re
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


def _import_fastmath():
    try:
        return importlib.import_module("langevin_opt._fastmath")
    except ImportError:
        pass
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))  # checkout without an installed package (bare `pytest`)
    try:
        return importlib.import_module("langevin_opt._fastmath")
    except ImportError:  # package __init__ not importable: load the module by path
        name = "_langevin_opt_fastmath"
        spec = importlib.util.spec_from_file_location(name, root / "langevin_opt" / "_fastmath.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod  # numba's cache must be able to re-import it by name
        # numba's on-disk cache is keyed by file, not module name: keep this copy apart
        saved = numba.config.CACHE_DIR
        numba.config.CACHE_DIR = tempfile.mkdtemp(prefix="fastmath_numba_cache_")
        try:
            spec.loader.exec_module(mod)
        finally:
            numba.config.CACHE_DIR = saved
        return mod


fm = _import_fastmath()

# 80-bit (or better) long double is our high-precision reference.
HAVE_LONG_DOUBLE = np.finfo(np.longdouble).nmant >= 63
needs_ld = pytest.mark.skipif(not HAVE_LONG_DOUBLE, reason="needs extended-precision long double")

PI = Fraction(
    "3.14159265358979323846264338327950288419716939937510582097494459230781640628620899862803"
)
LN2 = Fraction(
    "0.69314718055994530941723212145817656807550013436025525412068000949339362196969471560586"
)
TWO_PI_LD = np.longdouble(2) * np.longdouble("3.14159265358979323846264338327950288")
TINY = 2.0**-1074


# ----------------------------------------------------------------------------- helpers
@numba.njit
def _exp_arr(x):
    out = np.empty_like(x)
    for j in range(x.size):
        out[j] = fm.exp(x[j])
    return out


@numba.njit
def _log_arr(x):
    out = np.empty_like(x)
    for j in range(x.size):
        out[j] = fm.log(x[j])
    return out


@numba.njit
def _sincos_arr(u):
    s = np.empty_like(u)
    c = np.empty_like(u)
    for j in range(u.size):
        s[j], c[j] = fm.sincos_2pi(u[j])
    return s, c


def ulp_err(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|y - ref| in units of the float64 ulp at ref (ulp of the binade of ref)."""
    ref = np.asarray(ref, dtype=np.longdouble)
    _, e = np.frexp(ref)
    ulp = np.maximum(np.ldexp(np.longdouble(1), e - 53), np.longdouble(TINY))
    return np.abs((np.asarray(y, dtype=np.longdouble) - ref) / ulp).astype(np.float64)


def sincos_ref(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sin/cos(2 pi u) in long double after the exact reduction u -> u - round(u)."""
    u = np.asarray(u, dtype=np.float64)
    a = TWO_PI_LD * (u - np.round(u)).astype(np.longdouble)
    return np.sin(a), np.cos(a)


def bits(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


# ----------------------------------------------------------------------------- constants
def test_polynomial_constants_are_rounded_exact_rationals():
    f = math.factorial
    for k in range(2, 14):
        assert getattr(fm, f"_E{k}") == float(Fraction(1, f(k)))
    for k in range(1, 11):
        assert getattr(fm, f"_L{k}") == float(Fraction(2, 2 * k + 1))
    for k in range(9):
        assert getattr(fm, f"_S{2 * k + 1}") == float(
            (-1) ** k * (2 * PI) ** (2 * k + 1) / f(2 * k + 1)
        )
    for k in range(2, 9):
        assert getattr(fm, f"_C{2 * k}") == float((-1) ** k * (2 * PI) ** (2 * k) / f(2 * k))
    assert fm._HALF_4PI2 == float((2 * PI) ** 2 / 2)
    assert fm._S1_LO == float(2 * PI - Fraction(fm._S1))
    assert fm._INV_LN2 == float(1 / LN2)
    hi = Fraction(fm._LN2_HI)
    assert fm._LN2_HI.hex().endswith("00000p-1")  # 21 trailing zero bits: n * hi exact
    assert fm._LN2_LO == float(LN2 - hi)
    assert fm._SQRT_HALF_BITS == bits([math.sqrt(0.5)])[0]
    assert fm._SHIFT_BITS == bits([fm._SHIFT])[0]


# ----------------------------------------------------------------------------- exp
@needs_ld
def test_exp_dense_grid_within_1ulp():
    x = np.concatenate(
        [
            np.linspace(-708.0, 709.78, 1_000_001),
            np.linspace(-1.0, 1.0, 200_001),
            np.linspace(-1e-6, 1e-6, 20_001),
        ]
    )
    err = ulp_err(_exp_arr(x), np.exp(x.astype(np.longdouble)))
    assert err.max() <= 1.0, (err.max(), x[err.argmax()])


@needs_ld
def test_exp_gradual_underflow_within_one_subnormal_ulp():
    x = np.linspace(-745.2, -708.0, 200_001)
    y = _exp_arr(x)
    ref = np.exp(x.astype(np.longdouble))
    assert np.all(np.abs(y - ref) <= TINY)
    assert np.all(y >= 0.0)


def test_exp_special_values():
    cases = {
        0.0: 1.0,
        1e-300: 1.0,
        -1e-300: 1.0,
        5e-324: 1.0,
        1.0: math.e,
        709.78: math.exp(709.78),
        709.79: math.inf,
        710.0: math.inf,
        1e308: math.inf,
        math.inf: math.inf,
        -745.14: 0.0,
        -746.0: 0.0,
        -1e308: 0.0,
        -math.inf: 0.0,
        -745.13: 5e-324,
    }
    for x, want in cases.items():
        got = fm.exp(x)
        assert got == want or abs(got - want) <= np.spacing(want), (x, got, want)
    assert fm.exp(-0.0) == 1.0
    assert math.isnan(fm.exp(math.nan))
    # near n ln2 (r ~ 0, scaling edge cases): agree with libm within 1 ulp
    for n in (-1074, -1022, -1, 1, 52, 1023):
        x = n * math.log(2.0)
        assert abs(fm.exp(x) - math.exp(x)) <= np.spacing(math.exp(x)), n


@needs_ld
@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-745.2, max_value=709.78, allow_nan=False))
def test_exp_random_points(x):
    y = fm.exp(x)
    ref = np.exp(np.longdouble(x))
    if ref < 2.0**-1022:
        assert abs(np.longdouble(y) - ref) <= TINY
    else:
        assert ulp_err(np.array([y]), np.array([ref]))[0] <= 1.0


# ----------------------------------------------------------------------------- log
@needs_ld
def test_log_dense_grids_within_1ulp():
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [
            np.linspace(0.5, 2.0, 400_001),
            np.linspace(0.70, 0.72, 100_001),  # around sqrt(1/2): k = -1 / 0 switch
            np.linspace(1.40, 1.43, 100_001),  # around sqrt(2): k = 0 / 1 switch
            1.0 + np.linspace(-1e-4, 1e-4, 100_001),
            np.exp(rng.uniform(-744.0, 709.0, 300_000)),
            rng.integers(1, 2**52, 50_000).view(np.float64),  # subnormals
            np.array([5e-324, 2.2250738585072014e-308, 1.7976931348623157e308]),
        ]
    )
    err = ulp_err(_log_arr(x), np.log(x.astype(np.longdouble)))
    assert err.max() <= 1.0, (err.max(), x[err.argmax()])


def test_log_special_values():
    assert fm.log(1.0) == 0.0
    assert fm.log(2.0) == math.log(2.0)
    assert fm.log(0.0) == -math.inf
    assert fm.log(-0.0) == -math.inf
    assert fm.log(math.inf) == math.inf
    for x in (-1.0, -5e-324, -math.inf, math.nan, -math.nan):
        assert math.isnan(fm.log(x)), x
    assert fm.log(5e-324) == pytest.approx(-744.4400719213812, rel=1e-15)
    assert fm.log(1.7976931348623157e308) == pytest.approx(709.782712893384, rel=1e-15)
    for n in (-1074, -1022, -1, 1, 1023):
        assert abs(fm.log(2.0**n) - n * math.log(2.0)) <= np.spacing(abs(n * math.log(2.0)))


@needs_ld
@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=5e-324, max_value=1.7976931348623157e308, allow_infinity=False))
def test_log_random_points(x):
    assert ulp_err(np.array([fm.log(x)]), np.array([np.log(np.longdouble(x))]))[0] <= 1.0


# ----------------------------------------------------------------------------- sincos_2pi
SINCOS_ABS_TOL = 1.5e-16  # measured max 1.33e-16 (1.2 ulp at |value| = 1/sqrt(2))


@needs_ld
def test_sincos_2pi_dense_grid_absolute_error():
    rng = np.random.default_rng(2)
    u = np.concatenate(
        [
            np.linspace(0.0, 1.0, 1_000_001)[:-1],
            rng.random(200_000),
            rng.random(20_000) * 1e-12,
            1.0 - rng.random(20_000) * 1e-12,
            np.arange(8) / 8.0,
        ]
    )
    s, c = _sincos_arr(u)
    rs, rc = sincos_ref(u)
    assert np.abs(s - rs).max() <= SINCOS_ABS_TOL
    assert np.abs(c - rc).max() <= SINCOS_ABS_TOL
    # tiny u: sin is relatively accurate (no rounding of 2*pi*u involved)
    small = u < 1e-6
    assert ulp_err(s[small], rs[small]).max() <= 1.0
    # far better than the naive float64 expression used before
    naive = np.abs(np.sin(2 * np.pi * u) - rs).max()
    assert naive > 2 * SINCOS_ABS_TOL


def test_sincos_2pi_exact_points():
    for u, (s, c) in {
        0.0: (0.0, 1.0),
        0.25: (1.0, 0.0),
        0.5: (0.0, -1.0),
        0.75: (-1.0, 0.0),
        -0.25: (-1.0, 0.0),
        1.0: (0.0, 1.0),
    }.items():
        assert fm.sincos_2pi(u) == (s, c), u
    s, c = fm.sincos_2pi(0.125)
    assert abs(s - math.sqrt(0.5)) <= SINCOS_ABS_TOL
    assert abs(c - math.sqrt(0.5)) <= SINCOS_ABS_TOL
    for u in (math.nan, math.inf, -math.inf):
        assert all(math.isnan(v) for v in fm.sincos_2pi(u))


@needs_ld
@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
        st.floats(min_value=-1e6, max_value=1e6),
    )
)
def test_sincos_2pi_random_points(u):
    s, c = fm.sincos_2pi(u)
    rs, rc = sincos_ref(np.array([u]))
    assert abs(s - rs[0]) <= SINCOS_ABS_TOL
    assert abs(c - rc[0]) <= SINCOS_ABS_TOL
    assert abs(s * s + c * c - 1.0) <= 5e-16


# ----------------------------------------------------------------------------- vectorization
@numba.njit  # default error_model="python", like ordinary user code
def _kernel(x, y, u, out):
    for j in range(x.size):
        s, c = fm.sincos_2pi(u[j])
        out[j] = fm.exp(x[j]) + fm.log(y[j]) + s * c


def _kernel_scalar_reference(x, y, u):
    """Same formula, each function called separately from Python (compiled scalar code)."""
    out = np.empty_like(x)
    for j in range(x.size):
        s, c = fm.sincos_2pi(float(u[j]))
        out[j] = fm.exp(float(x[j])) + fm.log(float(y[j])) + s * c
    return out


def _compile_kernel():
    arr = numba.types.float64[::1]
    sig = (arr, arr, arr, arr)
    _kernel.compile(sig)
    return sig


def test_kernel_loop_is_vectorized():
    sig = _compile_kernel()
    llvm_ir = _kernel.inspect_llvm(sig)
    widths = {int(w) for w in re.findall(r"<(\d+) x double>", llvm_ir)}
    assert widths & {2, 4, 8, 16}, "walker loop is no longer vectorized"
    # no libm call and no ZeroDivisionError branch survived
    # NB: a loop calling math.exp *also* gets <8 x double> (llvm.exp.v8f64, scalarized
    # into 8 libm calls), so the width alone is not a sufficient guard:
    for fn in ("exp", "log", "sin", "cos"):
        assert f"@{fn}(" not in llvm_ir and f"llvm.{fn}." not in llvm_ir, fn
    # our functions were inlined (also when loaded from numba's cache) ...
    calls = [ln for ln in llvm_ir.splitlines() if " call " in ln]
    assert not [ln for ln in calls if re.search(r"@_ZN\S*(3exp|3log|10sincos_2pi)B", ln)]
    # ... and their integer bit manipulation and division were vectorized as well
    assert re.search(r"ashr <\d+ x i64>", llvm_ir)
    assert re.search(r"fdiv <\d+ x double>", llvm_ir)
    assert "ZeroDivisionError" not in llvm_ir


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86 asm")
def test_no_fma_contraction_on_x86():
    sig = _compile_kernel()
    asm = _kernel.inspect_asm(sig)
    # covers the vector body and the scalar remainder (the functions are inlined)
    assert "vmulpd" in asm or "mulpd" in asm
    assert not re.search(r"\bvf(n)?m(add|sub)", asm), "FMA contraction breaks bit-reproducibility"


def _assert_bit_identical(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    assert np.array_equal(nan_a, nan_b)
    mismatch = np.flatnonzero(bits(a)[~nan_a] != bits(b)[~nan_b])
    assert mismatch.size == 0, (mismatch, a[~nan_a][mismatch], b[~nan_b][mismatch])


@pytest.mark.parametrize("n", [1, 3, 7, 8, 16, 61, 203])
def test_vector_lanes_and_remainder_bit_identical_to_scalar(n):
    _compile_kernel()
    rng = np.random.default_rng(n)
    x = rng.uniform(-740.0, 705.0, n)
    y = np.exp(rng.uniform(-740.0, 705.0, n))
    u = rng.random(n)
    out = np.empty(n)
    _kernel(x, y, u, out)
    _assert_bit_identical(out, _kernel_scalar_reference(x, y, u))


finite_or_special = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(finite_or_special, finite_or_special, finite_or_special), max_size=45))
def test_vector_vs_scalar_bit_identical_random_inputs(rows):
    if not rows:
        return
    x, y, u = (np.array(col, dtype=np.float64) for col in zip(*rows, strict=True))
    ex, lg, (s, c) = _exp_arr(x), _log_arr(y), _sincos_arr(u)
    _assert_bit_identical(ex, [fm.exp(float(v)) for v in x])
    _assert_bit_identical(lg, [fm.log(float(v)) for v in y])
    sc = [fm.sincos_2pi(float(v)) for v in u]
    _assert_bit_identical(s, [p[0] for p in sc])
    _assert_bit_identical(c, [p[1] for p in sc])
