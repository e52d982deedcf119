"""Compiled kernels of :func:`~langevin_opt.optimize.global_minimize` for compiled objectives.

A compiled objective is turned into ``ev(x, p, g, X1, G1) -> f`` (value, gradient written into
``g``; ``X1``/``G1`` are ``(n, 1)`` scratch arrays for a landscape kernel).  The batch kernels
take ``ev`` as an argument and loop over walkers (``prange`` in the parallel build); each
walker's arithmetic is independent of the others, so results do not depend on the thread count.
The kick uses the same counter-based normals as the NumPy path of ``_global``: walker ``i``,
step counter ``step0 + s``, draw ``k // 2`` (:func:`~langevin_opt.rng.normal2`).
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np

from ..rng import PURPOSE_NOISE, normal2

_EPS = np.finfo(np.float64).eps
_EVS: dict = {}


def landscape_ev(eg: Callable) -> Callable:
    """``ev`` for a landscape kernel ``eg(X, i, p, G)`` (memoized)."""
    if eg not in _EVS:

        @numba.njit
        def ev(x, p, g, X1, G1):  # pragma: no cover - compiled
            for k in range(x.size):
                X1[k, 0] = x[k]
            f = eg(X1, 0, p, G1)
            for k in range(x.size):
                g[k] = G1[k, 0]
            return f

        _EVS[eg] = ev
    return _EVS[eg]


def fg_ev(fg: Callable) -> Callable:
    """``ev`` for a compiled ``fg(x) -> (f, g)`` (memoized)."""
    if fg not in _EVS:

        @numba.njit
        def ev(x, p, g, X1, G1):  # pragma: no cover - compiled
            f, gg = fg(x)
            for k in range(x.size):
                g[k] = gg[k]
            return f

        _EVS[fg] = ev
    return _EVS[fg]


@numba.njit(inline="always")
def _dot(a, b):  # pragma: no cover - compiled
    s = 0.0
    for k in range(a.size):
        s += a[k] * b[k]
    return s


@numba.njit
def _lbfgs_one(x, f, g, lb, ub, maxiter, gtol, maxev, ev, p, X1, G1):  # pragma: no cover
    """Projected L-BFGS of one walker, the arithmetic of ``_global._polish``; -> (f, nev)."""
    n = x.size
    m = 8
    S = np.zeros((m, n))
    Y = np.zeros((m, n))
    rho = np.zeros(m)
    al = np.zeros(m)
    gamma = 1.0
    q = np.empty(n)
    d = np.empty(n)
    xt = np.empty(n)
    gt = np.empty(n)
    wmax = 0.0
    for k in range(n):
        wmax = max(wmax, ub[k] - lb[k])
    nev = 0
    for it in range(maxiter):
        pgmax = 0.0
        for k in range(n):
            pk = g[k]
            if (x[k] <= lb[k] and pk > 0) or (x[k] >= ub[k] and pk < 0):
                pk = 0.0
            q[k] = pk
            pgmax = max(pgmax, abs(pk))
        if pgmax <= gtol:
            break
        kk = min(it, m)
        for j in range(kk):
            s = (it - 1 - j) % m
            al[j] = rho[s] * _dot(S[s], q)
            for k in range(n):
                q[k] -= al[j] * Y[s, k]
        for k in range(n):
            q[k] *= gamma
        for j in range(kk - 1, -1, -1):
            s = (it - 1 - j) % m
            b = rho[s] * _dot(Y[s], q)
            for k in range(n):
                q[k] += S[s, k] * (al[j] - b)
        slope = 0.0
        dmax = 0.0
        for k in range(n):
            dk = -q[k]
            if (x[k] <= lb[k] and dk < 0) or (x[k] >= ub[k] and dk > 0):
                dk = 0.0
            d[k] = dk
        for k in range(n):
            pk = g[k]
            if (x[k] <= lb[k] and pk > 0) or (x[k] >= ub[k] and pk < 0):
                pk = 0.0
            slope += pk * d[k]
        if not slope < 0:
            for k in range(n):
                pk = g[k]
                if (x[k] <= lb[k] and pk > 0) or (x[k] >= ub[k] and pk < 0):
                    pk = 0.0
                d[k] = -pk
        for k in range(n):
            dmax = max(dmax, abs(d[k]))
        a = 1.0
        if it == 0:
            a = min(1.0, 1.0 / max(dmax, _EPS))
        a *= min(1.0, 0.25 * wmax / max(dmax * a, _EPS))
        ok = False
        ft = f
        for _ in range(30):
            if nev >= maxev:
                return f, nev
            dec = 0.0
            for k in range(n):
                xt[k] = min(max(x[k] + a * d[k], lb[k]), ub[k])
                dec += g[k] * (xt[k] - x[k])
            ft = ev(xt, p, gt, X1, G1)
            nev += 1
            if not np.isfinite(ft):
                return ft, nev
            if ft <= f + 1e-4 * min(dec, 0.0):
                ok = True
                break
            a *= 0.3
        if not ok:
            break
        sy = 0.0
        yy = 0.0
        slot = it % m
        for k in range(n):
            S[slot, k] = xt[k] - x[k]
            Y[slot, k] = gt[k] - g[k]
            sy += S[slot, k] * Y[slot, k]
            yy += Y[slot, k] * Y[slot, k]
        if sy > _EPS * yy and yy > 0:
            rho[slot] = 1.0 / sy
            gamma = sy / yy
        else:
            rho[slot] = 0.0
        stalled = f - ft <= 1e-13 * max(1.0, abs(f))
        f = ft
        for k in range(n):
            x[k] = xt[k]
            g[k] = gt[k]
        if stalled:
            break
    return f, nev


def _build(parallel: bool) -> tuple[Callable, Callable]:
    @numba.njit(parallel=parallel)
    def polish(Xb, Fb, Gb, lb, ub, maxiter, gtol, maxev, ev, p, nev):  # pragma: no cover
        w, n = Xb.shape
        for i in numba.prange(w):
            X1 = np.empty((n, 1))
            G1 = np.zeros((n, 1))
            x = Xb[i].copy()
            g = Gb[i].copy()
            f, ne = _lbfgs_one(x, Fb[i], g, lb, ub, maxiter, gtol, maxev, ev, p, X1, G1)
            Xb[i] = x
            Gb[i] = g
            Fb[i] = f
            nev[i] = ne

    @numba.njit(parallel=parallel)
    def kick(Xb, Fb, Gb, lb, ub, T, ell, mask, cap, steps, seed, step0, ev, p):  # pragma: no cover
        w, n = Xb.shape
        for i in numba.prange(w):
            X1 = np.empty((n, 1))
            G1 = np.zeros((n, 1))
            x = Xb[i].copy()
            g = Gb[i].copy()
            f = Fb[i]
            for s in range(steps):
                for k in range(0, n, 2):
                    z0, z1 = normal2(seed, i, step0 + s, k // 2, PURPOSE_NOISE)
                    for kk in range(k, min(k + 2, n)):
                        z = z0 if kk == k else z1
                        e = ell[i, kk] if ell.shape[1] == n else ell[i, 0]
                        dt = e * e / (2.0 * T[i])
                        dr = min(max(-dt * g[kk], -cap * e), cap * e)
                        st = (dr + e * z) * mask[i, kk]
                        wk = ub[kk] - lb[kk]
                        y = (x[kk] + st - lb[kk]) % (2.0 * wk)
                        if y > wk:
                            y = 2.0 * wk - y
                        x[kk] = min(max(lb[kk] + y, lb[kk]), ub[kk])
                f = ev(x, p, g, X1, G1)
                if not np.isfinite(f):
                    break
            Xb[i] = x
            Gb[i] = g
            Fb[i] = f

    return polish, kick


_SERIAL = _build(False)
_PARALLEL: list = []


def kernels(parallel: bool) -> tuple[Callable, Callable]:
    """``(polish, kick)``, serial or parallel (the parallel build is compiled on first use)."""
    if not parallel:
        return _SERIAL
    if not _PARALLEL:
        _PARALLEL.extend(_build(True))
    return _PARALLEL[0], _PARALLEL[1]
