"""The vectorizable tanh, sigmoid, softplus and log1p added to _fastmath for langevin_opt.nn."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from langevin_opt import _fastmath as fm

HAVE_LONG_DOUBLE = np.finfo(np.longdouble).nmant >= 63


@numba.njit
def _eval(x):
    out = np.empty((4, x.size))
    for i in range(x.size):
        out[0, i] = fm.tanh(x[i])
        out[1, i] = fm.sigmoid(x[i])
        out[2, i] = fm.softplus(x[i])
        out[3, i] = fm.log1p(x[i])
    return out


def _grid():
    rng = np.random.default_rng(0)
    mags = np.concatenate([np.geomspace(1e-300, 1.0, 3000), np.linspace(0.0, 40.0, 20001),
                           rng.uniform(0.2, 0.3, 2000)])  # around tanh's switch at 1/4
    return np.concatenate([mags, -mags])


def _ulp_err(got, ref):
    ref = np.asarray(ref, dtype=np.longdouble)
    sp = np.spacing(np.abs(ref.astype(np.float64)))
    sp = np.where(sp == 0, np.finfo(float).smallest_subnormal, sp)
    return np.abs(got.astype(np.longdouble) - ref) / sp


@pytest.mark.skipif(not HAVE_LONG_DOUBLE, reason="needs extended-precision long double")
def test_accuracy_against_long_double():
    x = _grid()
    got = _eval(x)
    xl = x.astype(np.longdouble)
    assert _ulp_err(got[0], np.tanh(xl)).max() <= 3.0
    assert _ulp_err(got[1], 1 / (1 + np.exp(-xl))).max() <= 3.0
    assert _ulp_err(got[2], np.log1p(np.exp(xl))).max() <= 4.0
    xp = x[x > -1]
    assert _ulp_err(_eval(xp)[3], np.log1p(xp.astype(np.longdouble))).max() <= 3.0


def test_against_numpy_and_identities():
    x = _grid()
    got = _eval(x)
    np.testing.assert_allclose(got[0], np.tanh(x), rtol=1e-15, atol=0)
    np.testing.assert_allclose(got[2], np.logaddexp(0.0, x), rtol=1e-15, atol=0)
    np.testing.assert_array_equal(got[0][: x.size // 2], -got[0][x.size // 2:])  # odd
    assert np.all(np.abs(got[0]) <= 1.0)
    assert np.all((got[1] >= 0.0) & (got[1] <= 1.0))


def test_special_values():
    x = np.array([np.nan, np.inf, -np.inf, 800.0, -800.0, 0.0, 1e-320])
    t, s, sp, l1 = _eval(x)
    assert np.isnan(t[0]) and np.isnan(s[0]) and np.isnan(sp[0]) and np.isnan(l1[0])
    assert t[1] == 1.0 and t[2] == -1.0 and t[3] == 1.0 and t[4] == -1.0 and t[5] == 0.0
    assert t[6] == 1e-320
    assert s[1] == 1.0 and s[2] == 0.0 and s[5] == 0.5
    assert sp[1] == np.inf and sp[2] == 0.0 and sp[3] == 800.0 and sp[5] == np.log(2.0)
    assert l1[1] == np.inf and l1[5] == 0.0 and l1[6] == 1e-320
    assert np.isnan(_eval(np.array([-2.0]))[3, 0])
