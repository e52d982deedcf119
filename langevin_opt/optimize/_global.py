"""``global_minimize``: box-bounded global optimisation from walker ensembles.

Three methods share one engine, vectorised over walkers (``W`` points at once):

* ``"basin-hopping"`` (default): Langevin basin hopping with replica exchange, the cluster
  method of :func:`~langevin_opt.particles.basin_hopping_replicas` generalised to any box-bounded
  objective.  ``R`` replicas on a temperature ladder each hop from their current local minimum
  by a short burst of overdamped Langevin dynamics at their own temperature (on a random block
  of coordinates, so separable and coupled problems are both served), a quench (a projected
  L-BFGS vectorised over the replicas) and the Metropolis rule on the quenched values
  (Wales & Doye, J. Phys. Chem. A 101, 5111 (1997)); neighbours exchange minima with
  probability ``min(1, exp[(1/T_k - 1/T_{k+1})(f_k - f_{k+1})])`` (Strodel et al.,
  J. Chem. Theory Comput. 6, 2573 (2010)).
* ``"replica-exchange"``: ``R`` walkers run overdamped Langevin dynamics on the ladder,
  exchanging configurations every ``swap_every`` steps; every ``quench_every`` steps copies of
  the walkers are quenched (periodic quenches) and their minima recorded.
* ``"annealing"``: ``R`` walkers anneal geometrically from the top of the ladder to its bottom
  (:class:`~langevin_opt.schedules.Geometric`) and are quenched; restarts begin from fresh
  uniform points, half of them from perturbed copies of the best minimum found.

The Langevin steps use a diagonal preconditioner: walker ``i`` moves by
``-dt_i grad f + sqrt(2 T_i dt_i) xi`` with ``dt_i = ell_i^2 / (2 T_i)``, so its noise step is
``ell_i`` per coordinate at any temperature, and the drift is capped at ``ell_i`` per coordinate
(coarse steps stay stable on stiff objectives).  Basin-hopping kicks run ``kick_steps`` such
steps at the kick temperature (default three times the top of the ladder) on a block of
coordinates of size ``floor((n + 1)^(u^3))`` (``u`` uniform: one coordinate in about half the
hops at ``n = 30``, all of them now and then), with ``ell`` log-uniform in
``step_fraction * (ub - lb)`` (up to the box width, folded back by reflection): small blocks
serve separable objectives, large ones coupled objectives, long steps far jumps.

Dynamics never leave the box: every Langevin step is reflected at the bounds, quenches project
onto the box, and finite-difference gradients step inwards at a bound, so ``fun`` is never
evaluated outside ``bounds``.  Temperatures come from the objective's own scale: ``f`` is
quenched from ``n_replicas`` uniform points in the box, and the ladder spans
``[1e-3, 1] * s`` (geometric) with ``s`` the spread (standard deviation) of those local minima's
values, the scale of the differences between basins; the cold end keeps the best minima while
the hot end explores (reduced units, ``k_B = 1``: temperatures are in units of ``f``).
Defaults were chosen on ``benchmarks/bench_globalopt.py`` (the same for every objective).

Random numbers come from the package's counter-based generator (:mod:`langevin_opt.rng`),
keyed by ``seed`` with one counter per draw, all drawn on the calling thread; compiled
objectives are evaluated per walker in parallel, so a run is the same for any ``workers``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numba
import numpy as np
from numba.core.registry import CPUDispatcher

from ..core.validation import check_int, check_positive, check_seed, check_settings, threads
from ..landscapes import Landscape
from ..rng import PURPOSE_ACCEPT, PURPOSE_INIT, PURPOSE_NOISE, PURPOSE_SWAP, normals, uniforms
from . import _walk
from ._local import _MSG_CALLBACK, _Stop, _wrap_callback

if TYPE_CHECKING:
    from scipy.optimize import OptimizeResult

__all__ = ["GLOBAL_METHODS", "global_minimize"]

#: Method names of :func:`global_minimize`; the first is the default.
GLOBAL_METHODS = ("basin-hopping", "replica-exchange", "annealing")

_OPTIONS = ("n_replicas", "t_min", "t_max", "kick_temperature", "kick_steps", "step_fraction",
            "swap_every", "quench_every", "anneal_steps", "polish_maxiter", "gtol", "n_minima",
            "patience", "vectorized", "f_target", "disp")
_EPS = np.finfo(np.float64).eps
#: drift cap of a Langevin step, in units of its noise step (keeps coarse steps stable)
_CAP = 1.0
_MSG_MAXITER = "Maximum number of iterations reached."
_MSG_MAXFEV = "Maximum number of function evaluations reached."
_MSG_MAXTIME = "Maximum wall time reached."
_MSG_PATIENCE = "No improvement of the best minimum for `patience` iterations."
_MSG_TARGET = "Reached f_target."


class _Budget(Exception):
    """An evaluation budget (``maxfev``, ``maxtime``) is spent."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# ----------------------------------------------------------------------------- objective

_KERNELS: dict = {}


def _landscape_kernel(eg: Callable, parallel: bool) -> Callable:
    """``run(XT, p, F, GT)``: every column of ``XT`` (shape ``(n, W)``) at once."""
    key = (eg, parallel)
    if key not in _KERNELS:

        @numba.njit(parallel=parallel)
        def run(XT, p, F, GT):  # pragma: no cover - compiled
            for i in numba.prange(XT.shape[1]):
                F[i] = eg(XT, i, p, GT)

        _KERNELS[key] = run
    return _KERNELS[key]


def _fg_kernel(fg: Callable, parallel: bool) -> Callable:
    """``run(X, F, G)`` over the rows of ``X`` for a compiled ``fg(x) -> (f, g)``."""
    key = (fg, parallel)
    if key not in _KERNELS:

        @numba.njit(parallel=parallel)
        def run(X, F, G):  # pragma: no cover - compiled
            for i in numba.prange(X.shape[0]):
                f, g = fg(X[i])
                F[i] = f
                for k in range(X.shape[1]):
                    G[i, k] = g[k]

        _KERNELS[key] = run
    return _KERNELS[key]


class _Batch:
    """``fun``/``jac`` evaluated on ``W`` points ``X`` (shape ``(W, n)``) inside the box.

    Counts ``nfev`` (points where ``fun`` was evaluated, finite-difference ones included) and
    ``njev`` (gradients), and raises :class:`_Budget` *before* an evaluation that would pass
    ``maxfev`` or start after ``maxtime``.
    """

    def __init__(self, fun: object, jac: object, args: tuple, lb: np.ndarray, ub: np.ndarray,
                 vectorized: bool, workers: object, maxfev: int | None,
                 maxtime: float | None) -> None:
        n = lb.size
        self.n, self.lb, self.ub = n, lb, ub
        self.nfev = self.njev = 0
        self.maxfev, self.maxtime = maxfev, maxtime
        self.t0 = time.perf_counter()
        self.map = workers if callable(workers) else map
        # one thread (the default, as SciPy's workers=1): a serial compiled loop, free of the
        # cost of starting a parallel region on every batch
        self.threads = workers if isinstance(workers, int) and workers > 1 else None
        parallel = self.threads is not None
        self.kernel = None
        self.ev = None
        if not isinstance(args, tuple):
            args = (args,)
        if isinstance(fun, Landscape):
            if args:
                raise ValueError("args must be empty for a Landscape objective (its constants "
                                 "are Landscape.params)")
            if jac not in (None, True, False):
                raise ValueError("jac must be None or True for a Landscape objective (it "
                                 "carries its own gradient)")
            if fun.dim != n:
                raise ValueError(f"bounds has {n} rows but the landscape {fun.name!r} has "
                                 f"dim={fun.dim}")
            self.kernel, self.params = "landscape", fun.params
            self.run = _landscape_kernel(fun.energy_grad, parallel)
            self.ev = _walk.landscape_ev(fun.energy_grad)
            self.walk = _walk.kernels(parallel)
            return
        if not callable(fun):
            raise TypeError(f"fun must be callable or a Landscape, got {type(fun).__name__}")
        if not (jac is None or isinstance(jac, bool) or callable(jac)):
            raise TypeError(f"jac must be None, a bool or a callable, got {type(jac).__name__}")
        self.fun, self.jac, self.args, self.vectorized = fun, jac, args, bool(vectorized)
        self.mode = "fg" if jac is True else ("jac" if callable(jac) else "fd")
        if (self.mode == "fg" and not args and not vectorized
                and isinstance(fun, CPUDispatcher)):
            self.kernel, self.run = "fg", _fg_kernel(fun, parallel)
            self.ev, self.params = _walk.fg_ev(fun), np.zeros(1)
            self.walk = _walk.kernels(parallel)

    # -- budget
    def _charge(self, points: int) -> None:
        if self.maxtime is not None and time.perf_counter() - self.t0 >= self.maxtime:
            raise _Budget(_MSG_MAXTIME)
        if self.maxfev is not None and self.nfev + points > self.maxfev:
            raise _Budget(_MSG_MAXFEV)

    # -- user calls
    def _user(self, fn: Callable, name: str, x: np.ndarray) -> object:
        try:
            return fn(x, *self.args)
        except Exception as err:  # noqa: BLE001 - one line of context for any user error
            raise RuntimeError(f"{name} raised {type(err).__name__}: {err}") from err

    def _values(self, X: np.ndarray) -> np.ndarray:
        """``f`` at the rows of ``X`` (no gradient)."""
        if self.vectorized:
            f = np.asarray(self._user(self.fun, "fun", X.T.copy()), dtype=np.float64)
            if self.mode == "fg":
                raise ValueError("with jac=True and vectorized, fun must return (f, grad)")
            if f.shape != (X.shape[0],):
                raise ValueError(f"vectorized fun must return shape ({X.shape[0]},) for x of "
                                 f"shape {X.T.shape}, got {f.shape}")
            return f
        return np.array(list(self.map(self._scalar_call, list(X.copy()))), dtype=np.float64)

    def _scalar_call(self, x: np.ndarray) -> float:
        f = self._user(self.fun, "fun", x)
        try:
            return float(np.asarray(f, dtype=np.float64).item())
        except (TypeError, ValueError):
            raise ValueError(f"fun must return a scalar, got {type(f).__name__} "
                             f"{np.shape(f)}") from None

    def _fg_python(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w, n = X.shape
        if self.mode == "fg":
            if self.vectorized:
                out = self._user(self.fun, "fun", X.T.copy())
                try:
                    f, g = out
                except (TypeError, ValueError):
                    raise ValueError("with jac=True, fun must return (f, grad)") from None
                f = np.asarray(f, dtype=np.float64)
                g = np.asarray(g, dtype=np.float64)
                if f.shape != (w,):
                    raise ValueError(f"vectorized fun must return f of shape ({w},), got "
                                     f"{f.shape}")
                self._check_grad(g, (n, w), "fun")
                return f, g.T.copy()
            F, G = np.empty(w), np.empty((w, n))
            for i, out in enumerate(self.map(self._fg_call, list(X.copy()))):
                F[i], G[i] = out
            return F, G
        F = self._values(X)
        if self.mode == "jac":
            if self.vectorized:
                g = np.asarray(self._user(self.jac, "jac", X.T.copy()), dtype=np.float64)
                self._check_grad(g, (n, w), "jac")
                return F, g.T.copy()
            G = np.empty((w, n))
            for i, x in enumerate(X):
                g = np.asarray(self._user(self.jac, "jac", x.copy()), dtype=np.float64)
                self._check_grad(g, (n,), "jac")
                G[i] = g
            return F, G
        # 2-point differences, step sqrt(eps) max(1, |x|), taken inwards at an upper bound
        h = math.sqrt(_EPS) * np.maximum(1.0, np.abs(X))
        h = np.where(X + h > self.ub, -h, h)
        P = np.repeat(X[:, None, :], n, axis=1)  # (w, n, n): point i, coordinate k stepped
        idx = np.arange(n)
        P[:, idx, idx] += h
        P = np.clip(P, self.lb, self.ub)
        step = P[:, idx, idx] - X
        Fh = self._values(P.reshape(w * n, n)).reshape(w, n)
        self.nfev += w * n
        return F, (Fh - F[:, None]) / step

    def _fg_call(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        out = self._user(self.fun, "fun", x)
        try:
            f, g = out
        except (TypeError, ValueError):
            raise ValueError("with jac=True, fun must return (f, grad)") from None
        g = np.asarray(g, dtype=np.float64)
        self._check_grad(g, (x.size,), "fun")
        try:
            return float(np.asarray(f, dtype=np.float64).item()), g
        except (TypeError, ValueError):
            raise ValueError(f"fun must return a scalar f, got {type(f).__name__} "
                             f"{np.shape(f)}") from None

    def compiled_polish(self, X: np.ndarray, F: np.ndarray, G: np.ndarray, maxiter: int,
                        gtol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`_polish` in one compiled loop; evaluations per walker capped for ``maxfev``."""
        w = X.shape[0]
        cap = 2**62 if self.maxfev is None else (self.maxfev - self.nfev) // w
        if cap < 1:
            raise _Budget(_MSG_MAXFEV)
        self._charge(0)
        nev = np.zeros(w, dtype=np.int64)
        with threads(self.threads):
            self.walk[0](X, F, G, self.lb, self.ub, maxiter, gtol, cap, self.ev, self.params,
                         nev)
        self.nfev += int(nev.sum())
        self.njev += int(nev.sum())
        self._finite(X, F, G)
        return X, F, G

    def compiled_kick(self, X: np.ndarray, G: np.ndarray, T: np.ndarray, ell: np.ndarray,
                      steps: int, mask: np.ndarray | None, rng: _Rng
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`_langevin` in one compiled loop, with the same random numbers."""
        w, n = X.shape
        self._charge(w * steps)
        X, G = X.copy(), G.copy()
        F = np.zeros(w)
        m = np.ones((w, n)) if mask is None else np.ascontiguousarray(mask, dtype=np.float64)
        ell = np.ascontiguousarray(np.broadcast_to(ell, (w, ell.shape[-1])), dtype=np.float64)
        step0 = rng.step + 1
        rng.step += steps
        with threads(self.threads):
            self.walk[1](X, F, G, self.lb, self.ub, np.asarray(T, dtype=np.float64), ell, m,
                         _CAP, steps, np.uint64(rng.seed), step0, self.ev, self.params)
        self.nfev += w * steps
        self.njev += w * steps
        self._finite(X, F, G)
        return X, F, G

    @staticmethod
    def _finite(X: np.ndarray, F: np.ndarray, G: np.ndarray) -> None:
        bad = ~np.isfinite(F)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"fun returned a non-finite value ({F[i]}) at x = "
                             f"{np.array2string(X[i], precision=6, threshold=8)}")
        badg = ~np.all(np.isfinite(G), axis=1)
        if badg.any():
            i = int(np.flatnonzero(badg)[0])
            raise ValueError("the gradient of fun is not finite at x = "
                             f"{np.array2string(X[i], precision=6, threshold=8)}")

    @staticmethod
    def _check_grad(g: np.ndarray, shape: tuple, name: str) -> None:
        if g.shape != shape:
            raise ValueError(f"{name} returned a gradient of shape {g.shape}, expected {shape}")

    def __call__(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(F, G)`` at the rows of ``X``: shapes ``(W,)`` and ``(W, n)``."""
        w, n = X.shape
        # a gradient by differences costs n more points each: charged before any is made
        self._charge(w * (n + 1) if self.kernel is None and self.mode == "fd" else w)
        if self.kernel == "landscape":
            XT = np.ascontiguousarray(X.T)
            F, GT = np.empty(w), np.zeros((n, w))
            with threads(self.threads):
                self.run(XT, self.params, F, GT)
            G = GT.T.copy()
        elif self.kernel == "fg":
            if self.nfev == 0:  # the first call checks the output in Python
                self._fg_call(X[0].copy())
            F, G = np.empty(w), np.empty((w, n))
            try:
                with threads(self.threads):
                    self.run(np.ascontiguousarray(X), F, G)
            except SystemError as err:
                inner = err.__context__ if err.__context__ is not None else err
                raise RuntimeError(f"fun raised {type(inner).__name__} inside the compiled "
                                   f"loop: {inner}") from inner
        else:
            F, G = self._fg_python(X)
        self.nfev += w
        self.njev += w
        self._finite(X, F, G)
        return F, G


# ----------------------------------------------------------------------------- pieces


def _reflect(X: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """Fold points back into the box by reflection at its faces."""
    w = ub - lb
    Y = np.mod(X - lb, 2.0 * w)
    Y = np.where(Y > w, 2.0 * w - Y, Y)
    return np.clip(lb + Y, lb, ub)


def _projected(X: np.ndarray, G: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """The gradient with the components that push out of the box at an active bound zeroed."""
    return np.where(((X <= lb) & (G > 0)) | ((X >= ub) & (G < 0)), 0.0, G)


def _polish(obj: _Batch, X: np.ndarray, F: np.ndarray, G: np.ndarray, maxiter: int,
            gtol: float, m: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Projected L-BFGS (Nocedal & Wright Alg. 7.4/7.5) on every row of ``X`` at once.

    Backtracking (Armijo) line search along the projected path ``clip(x + a d)``; curvature
    pairs with ``s.y <= eps y.y`` are dropped (their ``rho = 0``).  Rows stop when the projected
    gradient's max-norm falls below ``gtol``, when ``f`` stops decreasing (relative change below
    ``1e-13``), or when the line search fails.  Returns ``(X, F, G)``.
    """
    lb, ub = obj.lb, obj.ub
    X, F, G = X.copy(), F.copy(), G.copy()
    w, n = X.shape
    if obj.ev is not None:
        return obj.compiled_polish(X, F, G, maxiter, gtol)
    S = np.zeros((m, w, n))
    Y = np.zeros((m, w, n))
    rho = np.zeros((m, w))
    gamma = np.ones(w)
    active = np.ones(w, dtype=bool)
    for it in range(maxiter):
        PG = _projected(X, G, lb, ub)
        active &= np.max(np.abs(PG), axis=1) > gtol
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        q = PG[idx].copy()
        k = min(it, m)
        slots = [(it - 1 - j) % m for j in range(k)]
        al = np.zeros((k, idx.size))
        for j, s in enumerate(slots):
            al[j] = rho[s, idx] * np.einsum("ij,ij->i", S[s, idx], q)
            q -= al[j][:, None] * Y[s, idx]
        q *= gamma[idx][:, None]
        for j in range(k - 1, -1, -1):
            s = slots[j]
            b = rho[s, idx] * np.einsum("ij,ij->i", Y[s, idx], q)
            q += S[s, idx] * (al[j] - b)[:, None]
        d = -q
        x0, f0, g0, pg0 = X[idx], F[idx], G[idx], PG[idx]
        d = np.where(((x0 <= lb) & (d < 0)) | ((x0 >= ub) & (d > 0)), 0.0, d)
        slope = np.einsum("ij,ij->i", pg0, d)
        bad = ~(slope < 0)
        if bad.any():  # lost descent: steepest descent for those rows
            d[bad] = -pg0[bad]
        a = np.ones(idx.size)
        if it == 0:
            a = np.minimum(1.0, 1.0 / np.maximum(np.max(np.abs(d), axis=1), _EPS))
        a *= np.minimum(1.0, 0.25 * np.max(ub - lb) / np.maximum(
            np.max(np.abs(d), axis=1) * a, _EPS))
        todo = np.arange(idx.size)
        xn, fn, gn = x0.copy(), f0.copy(), g0.copy()
        ok = np.zeros(idx.size, dtype=bool)
        for _ in range(30):
            xt = np.clip(x0[todo] + a[todo][:, None] * d[todo], lb, ub)
            ft, gt = obj(xt)
            dec = np.einsum("ij,ij->i", g0[todo], xt - x0[todo])
            good = ft <= f0[todo] + 1e-4 * np.minimum(dec, 0.0)
            gi = todo[good]
            xn[gi], fn[gi], gn[gi] = xt[good], ft[good], gt[good]
            ok[gi] = True
            todo = todo[~good]
            if todo.size == 0:
                break
            a[todo] *= 0.3
        sv, yv = xn - x0, gn - g0
        sy = np.einsum("ij,ij->i", sv, yv)
        yy = np.einsum("ij,ij->i", yv, yv)
        good = ok & (sy > _EPS * yy) & (yy > 0)
        slot = it % m
        S[slot, idx], Y[slot, idx] = sv, yv
        rho[slot, idx] = np.where(good, 1.0 / np.where(good, sy, 1.0), 0.0)
        gamma[idx] = np.where(good, sy / np.where(good, yy, 1.0), gamma[idx])
        stalled = ~ok | (f0 - fn <= 1e-13 * np.maximum(1.0, np.abs(f0)))
        X[idx], F[idx], G[idx] = xn, fn, gn
        active[idx[stalled]] = False
    return X, F, G


class _Minima:
    """The distinct lowest minima seen.

    Two minima are the same when every coordinate differs by less than ``1e-4`` of the box
    width, or when their values agree to ``1e-9`` relative (symmetry-equivalent minima).
    """

    def __init__(self, width: np.ndarray, keep: int) -> None:
        self.width, self.keep = width, keep
        self.x = np.empty((0, width.size))
        self.f = np.empty(0)

    def add(self, X: np.ndarray, F: np.ndarray) -> None:
        for i in np.argsort(F, kind="stable"):
            x, f = X[i], F[i]
            if self.f.size == self.keep and f >= self.f[-1]:
                break
            same = (np.all(np.abs(self.x - x) <= 1e-4 * self.width, axis=1)
                    | (np.abs(self.f - f) <= 1e-9 * max(1.0, abs(f))))
            if same.any():
                j = int(np.flatnonzero(same)[0])
                if f < self.f[j]:
                    self.x[j], self.f[j] = x, f
                    order = np.argsort(self.f, kind="stable")
                    self.x, self.f = self.x[order], self.f[order]
                continue
            pos = int(np.searchsorted(self.f, f, side="right"))
            self.x = np.insert(self.x, pos, x, axis=0)[: self.keep]
            self.f = np.insert(self.f, pos, f)[: self.keep]


class _Rng:
    """Counter-based draws: every call advances one step of the generator keyed by ``seed``."""

    def __init__(self, seed: int) -> None:
        self.seed, self.step = seed, 0

    def normal(self, shape: tuple[int, int]) -> np.ndarray:
        self.step += 1
        return normals(self.seed, shape, step=self.step, purpose=PURPOSE_NOISE)

    def uniform(self, shape: tuple[int, int], purpose: int = PURPOSE_ACCEPT) -> np.ndarray:
        self.step += 1
        return uniforms(self.seed, shape, step=self.step, purpose=purpose)


def _ladder(obj: _Batch, rng: _Rng, r: int, o: dict, polish_maxiter: int, gtol: float,
            minima: _Minima, best: list
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Quench ``r`` uniform points and set the temperature ladder from their spread.

    Returns ``(X, F, G)`` of the quenched points and the ladder ``T`` (shape ``(r,)``,
    increasing, geometric from ``t_min`` to ``t_max``).
    """
    lb, ub = obj.lb, obj.ub
    X = lb + (ub - lb) * rng.uniform((r, lb.size), PURPOSE_INIT)
    F, G = obj(X)
    _note(best, X, F)
    X, F, G = _polish(obj, X, F, G, polish_maxiter, gtol)
    minima.add(X, F)
    _note(best, X, F)
    s = float(np.std(F))
    if not s > 0:
        s = max(abs(float(np.mean(F))), 1.0) * 1e-2
    t_min = o["t_min"] if o["t_min"] is not None else 1e-3 * s
    t_max = o["t_max"] if o["t_max"] is not None else max(1.0 * s, t_min)
    T = t_min * (t_max / t_min) ** (np.arange(r) / max(r - 1, 1))
    return X, F, G, T


def _note(best: list, X: np.ndarray, F: np.ndarray) -> None:
    i = int(np.argmin(F))
    if F[i] < best[1]:
        best[0], best[1] = X[i].copy(), float(F[i])


def _langevin(obj: _Batch, rng: _Rng, X: np.ndarray, G: np.ndarray, T: np.ndarray,
              ell: np.ndarray, steps: int, mask: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``steps`` overdamped Langevin steps, reflected at the box, one per walker temperature.

    Walker ``i`` moves by ``-dt_i g + sqrt(2 T_i dt_i) xi`` per coordinate with
    ``dt_i = ell_i^2 / (2 T_i)`` (a diagonal preconditioner: the noise displacement is
    ``ell_i`` per coordinate at every temperature); the drift is capped at ``ell_i`` per
    coordinate.  ``mask`` (``(W, n)`` of 0/1) restricts the moves to a block of coordinates.
    """
    lb, ub = obj.lb, obj.ub
    if obj.ev is not None and steps > 0:
        return obj.compiled_kick(X, G, T, ell, steps, mask, rng)
    dt = (ell * ell / (2.0 * T[:, None]))
    F = None
    for _ in range(steps):
        drift = np.clip(-dt * G, -_CAP * ell, _CAP * ell)
        step = drift + ell * rng.normal(X.shape)
        if mask is not None:
            step *= mask
        X = _reflect(X + step, lb, ub)
        F, G = obj(X)
    return X, F, G


def _swap(rng: _Rng, E: np.ndarray, T: np.ndarray, parity: int, *arrays: np.ndarray) -> int:
    """Exchange neighbours ``(k, k+1)`` for ``k = parity, parity + 2, ...`` (Metropolis)."""
    r = E.size
    u = rng.uniform((1, max(r, 2)), PURPOSE_SWAP)[0]
    swaps = 0
    for k in range(parity, r - 1, 2):
        a = (1.0 / T[k] - 1.0 / T[k + 1]) * (E[k] - E[k + 1])
        if a >= 0 or u[k] < math.exp(a):
            for arr in (E, *arrays):
                arr[[k, k + 1]] = arr[[k + 1, k]]
            swaps += 1
    return swaps


# ----------------------------------------------------------------------------- entry point


def _check_bounds(bounds: object) -> tuple[np.ndarray, np.ndarray]:
    try:
        if hasattr(bounds, "lb") and hasattr(bounds, "ub"):  # scipy.optimize.Bounds
            lb = np.asarray(bounds.lb, dtype=np.float64)
            ub = np.asarray(bounds.ub, dtype=np.float64)
            lb, ub = np.broadcast_arrays(lb, ub)
            b = np.stack([lb, ub], axis=1)
        else:
            b = np.asarray(bounds, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("bounds must be a sequence of (min, max) pairs") from None
    if b.ndim != 2 or b.shape[1] != 2 or b.shape[0] < 1:
        raise ValueError(f"bounds must have shape (n, 2) of (min, max) pairs, got {b.shape}")
    if not np.all(np.isfinite(b)):
        raise ValueError("bounds must be finite")
    bad = np.flatnonzero(b[:, 0] >= b[:, 1])
    if bad.size:
        raise ValueError(f"bounds must have lower < upper, violated at index {int(bad[0])}: "
                         f"{b[bad[0]].tolist()}")
    return b[:, 0].copy(), b[:, 1].copy()


def global_minimize(
    fun: Callable | Landscape,
    bounds: Sequence[tuple[float, float]] | np.ndarray,
    args: tuple = (),
    jac: Callable | bool | None = None,
    method: str = "basin-hopping",
    x0: np.ndarray | Sequence[float] | None = None,
    *,
    seed: int | None = None,
    maxiter: int = 1000,
    maxfev: int | None = None,
    maxtime: float | None = None,
    callback: Callable | None = None,
    workers: int | Callable | None = None,
    options: dict | None = None,
) -> OptimizeResult:
    """Find the global minimum of ``fun`` in a box, with SciPy's calling conventions.

    Parameters
    ----------
    fun : callable or Landscape
        ``fun(x, *args) -> f`` with ``x`` of shape ``(n,)`` (``-> (f, grad)`` with
        ``jac=True``).  A package :class:`~langevin_opt.Landscape` (built in, e.g.
        :func:`~langevin_opt.muller_brown`, or a user function made with
        :func:`~langevin_opt.landscape`) and a ``numba.njit`` ``fun`` with ``jac=True`` and
        no ``args`` are evaluated for all walkers in one compiled parallel loop (the fast
        path).  With ``options={"vectorized": True}``, ``fun`` gets ``x`` of shape ``(n, S)``
        and returns ``(S,)`` values (and ``(n, S)`` gradients), as
        ``scipy.optimize.differential_evolution(vectorized=True)``.
    bounds : sequence of (min, max) pairs or scipy.optimize.Bounds
        Finite box, lower < upper; ``fun`` is never evaluated outside it.
    args : tuple
        Extra arguments of ``fun`` and ``jac``.
    jac : callable, bool or None
        ``True``: ``fun`` returns ``(f, grad)``; a callable ``jac(x, *args) -> grad``;
        ``None``: 2-point differences (``n`` extra evaluations per gradient, counted in
        ``nfev``, stepping inwards at an upper bound).
    method : str
        ``"basin-hopping"`` (default; Langevin basin hopping with replica exchange),
        ``"replica-exchange"`` (Langevin replica exchange with periodic quenches) or
        ``"annealing"`` (annealed Langevin ensembles with restarts).  See the module notes.
    x0 : array_like, shape (n,), optional
        A finite start inside the box; it replaces the first of the uniform starting points.
    seed : int
        Key of the counter-based generator (keyword only, required).
    maxiter : int
        Iterations: hops (``"basin-hopping"``), quench cycles (``"replica-exchange"``) or
        annealing restarts (``"annealing"``).  Default 1000.
    maxfev : int, optional
        Evaluations of ``fun`` (points, finite-difference ones included): never exceeded.
    maxtime : float, optional
        Wall seconds; no evaluation starts after it (one batch may still finish).
    callback : callable, optional
        ``callback(intermediate_result)`` (an ``OptimizeResult`` with ``x``, ``fun``, ``nit``,
        ``nfev`` of the best point so far) after every iteration, or ``callback(xk)`` for any
        other signature; raising ``StopIteration`` stops the run (``status=99``).
    workers : int or map-like callable, optional
        Threads of the compiled loop (results do not depend on it), or, for a plain Python
        ``fun``, a ``map``-like callable used to evaluate the walkers (e.g. ``Pool.map``).
    options : dict, optional
        ``n_replicas`` (walkers, default 8), ``t_min``, ``t_max`` (ladder ends, energy units;
        default ``1e-3 s`` and ``s``, ``s`` the spread of the values of ``n_replicas`` local
        minima quenched from uniform points), ``kick_temperature`` (of the basin-hopping
        kicks, default ``3 t_max``), ``kick_steps`` (Langevin steps per hop, 10),
        ``step_fraction`` (range of the noise step per coordinate, as a fraction of the box
        width: ``(0.003, 1.0)``, log-uniform per hop, in ``"basin-hopping"``; ``(0.003, 0.3)``,
        geometric from the coldest to the hottest walker, otherwise), ``swap_every`` (steps
        between exchanges in ``"replica-exchange"``, 10; hops in ``"basin-hopping"``, 1),
        ``quench_every``
        (Langevin steps per quench cycle, 50), ``anneal_steps`` (steps per annealing run,
        200), ``polish_maxiter`` (L-BFGS iterations per quench, ``max(200, 20 n)``), ``gtol``
        (quench tolerance on the projected gradient, ``1e-6``), ``n_minima`` (distinct minima
        kept, 10), ``patience`` (stop after this many iterations without a lower minimum;
        default ``None``: never), ``vectorized`` (``False``), ``f_target`` (stop once a
        minimum with ``f <= f_target`` is found), ``disp``.

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x``, ``fun`` (the lowest point found, polished), ``jac`` (projected gradient there;
        NaN when the budget left nothing for the final polish),
        ``nfev``, ``njev``, ``nit``, ``success`` (``False`` only when the callback stopped the
        run: reaching ``maxiter``, ``maxfev`` or ``maxtime`` is the normal end of a global
        search),
        ``status`` (0 ``maxiter``/``patience``/``f_target``, 1 ``maxfev``, 2 ``maxtime``,
        99 callback), ``message``, ``minima`` (``(k, n)``, distinct local minima, lowest
        first), ``minima_fun`` (``(k,)``), ``temperatures`` (the ladder).

    Raises
    ------
    ValueError
        Bad bounds, ``x0`` non-finite, of the wrong shape or outside the box; ``fun`` or its
        gradient non-finite; a gradient of the wrong shape; an unknown method or option.
    TypeError
        An argument of the wrong type or a missing ``seed``.
    RuntimeError
        ``fun`` or ``jac`` raised (the original is ``__cause__``).

    Examples
    --------
    >>> import langevin_opt as lo
    >>> from langevin_opt.optimize import global_minimize
    >>> res = global_minimize(lo.muller_brown(), [(-1.5, 1.2), (-0.5, 2.0)], seed=1,
    ...                       maxiter=20)
    >>> round(res.fun, 2)
    -146.7
    """
    lb, ub = _check_bounds(bounds)
    n = lb.size
    seed = check_seed(seed)
    if not isinstance(method, str):
        raise TypeError(f"method must be a str, got {type(method).__name__}")
    key = method.lower().replace("_", "-")
    if key not in GLOBAL_METHODS:
        from ..core.validation import suggest

        raise ValueError(f"unknown method {method!r}{suggest(key, GLOBAL_METHODS)}; "
                         f"allowed: {', '.join(GLOBAL_METHODS)}")
    maxiter = check_int("maxiter", maxiter, lo=1, hi=None)
    maxfev = None if maxfev is None else check_int("maxfev", maxfev, lo=1, hi=None)
    maxtime = None if maxtime is None else check_positive("maxtime", maxtime)
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise TypeError(f"options must be a dict, got {type(options).__name__}")
    unknown = [k for k in options if k not in _OPTIONS]
    if unknown:
        check_settings(unknown[:1], list(_OPTIONS), where=" in options")
    if workers is not None and not callable(workers):
        workers = check_int("workers", workers, lo=1, hi=numba.config.NUMBA_NUM_THREADS)
    o = dict(options)
    r = check_int("n_replicas", o.get("n_replicas", 8), lo=1, hi=None)
    for name in ("t_min", "t_max"):
        o[name] = None if o.get(name) is None else check_positive(name, o[name])
    kick_steps = check_int("kick_steps", o.get("kick_steps", 10), lo=1, hi=None)
    frac = o.get("step_fraction", (0.003, 1.0) if key == "basin-hopping" else (0.003, 0.3))
    frac = np.broadcast_to(np.asarray(frac, dtype=np.float64), (2,))
    if not (np.all(np.isfinite(frac)) and np.all(frac > 0) and frac[0] <= frac[1]):
        raise ValueError(f"options step_fraction must be one or two increasing positive "
                         f"fractions, got {o.get('step_fraction')}")
    swap_every = check_int("swap_every", o.get("swap_every", 10 if key == "replica-exchange"
                                                else 1), lo=1, hi=None)
    quench_every = check_int("quench_every", o.get("quench_every", 50), lo=1, hi=None)
    anneal_steps = check_int("anneal_steps", o.get("anneal_steps", 200), lo=1, hi=None)
    polish_maxiter = check_int("polish_maxiter", o.get("polish_maxiter", max(200, 20 * n)),
                               lo=1, hi=None)
    gtol = check_positive("gtol", o.get("gtol", 1e-6))
    n_minima = check_int("n_minima", o.get("n_minima", 10), lo=1, hi=None)
    patience = o.get("patience")
    patience = None if patience is None else check_int("patience", patience, lo=1, hi=None)
    f_target = o.get("f_target")
    if f_target is not None:
        f_target = float(f_target)
    vectorized = o.get("vectorized", False)
    if not isinstance(vectorized, (bool, np.bool_)):
        raise TypeError(f"options vectorized must be a bool, got {type(vectorized).__name__}")
    start = None
    if x0 is not None:
        start = np.array(x0, dtype=np.float64, copy=True)
        if start.shape != (n,):
            raise ValueError(f"x0 must have shape ({n},) to match bounds, got {start.shape}")
        if not np.all(np.isfinite(start)):
            raise ValueError("x0 must be finite, got non-finite entries at indices "
                             f"{np.flatnonzero(~np.isfinite(start)).tolist()}")
        out = np.flatnonzero((start < lb) | (start > ub))
        if out.size:
            raise ValueError(f"x0 must lie inside bounds, violated at index {int(out[0])}")
    obj = _Batch(fun, jac, args, lb, ub, bool(vectorized), workers, maxfev, maxtime)
    cb = _wrap_callback(callback)

    rng = _Rng(seed)
    width = ub - lb
    minima = _Minima(width, n_minima)
    best: list = [None, math.inf]
    status, message, nit = 0, _MSG_MAXITER, 0
    T = np.ones(r)
    ell = np.geomspace(frac[0], frac[1], r)[:, None] * width
    try:
        if start is not None:
            Fs, Gs = obj(start[None])
            _note(best, start[None], Fs)
        X, F, G, T = _ladder(obj, rng, r, o, polish_maxiter, gtol, minima, best)
        if start is not None:
            xs, fs, gs = _polish(obj, start[None], Fs, Gs, polish_maxiter, gtol)
            minima.add(xs, fs)
            _note(best, xs, fs)
            j = int(np.argmax(F))
            X[j], F[j], G[j] = xs[0], fs[0], gs[0]
        t_kick = o.get("kick_temperature")
        t_kick = 3.0 * T[-1] if t_kick is None else check_positive("kick_temperature", t_kick)
        order = np.argsort(F, kind="stable")  # coldest slot gets the lowest minimum
        X, F, G = X[order], F[order], G[order]
        since = 0
        Xw, Gw = X.copy(), G.copy()  # replica-exchange walkers
        while nit < maxiter:
            before = best[1]
            if key == "basin-hopping":
                # a block of coordinates per replica: size (n + 1)^(u^3), small blocks favoured
                u = rng.uniform((r, n + 2), PURPOSE_INIT)
                size = np.floor(np.exp(u[:, 1] ** 3 * math.log(n + 1.0 - 1e-9))).astype(int)
                size = np.clip(size, 1, n)
                ranks = np.argsort(u[:, 2:], axis=1)
                mask = (np.argsort(ranks, axis=1) < size[:, None]).astype(np.float64)
                # step length per replica and hop: log-uniform over the step_fraction range
                ell_h = np.exp(np.log(frac[0]) + u[:, :1] * math.log(frac[1] / frac[0])) * width
                Tk = np.full(r, t_kick)
                Y, FY, GY = _langevin(obj, rng, X.copy(), G.copy(), Tk, ell_h, kick_steps, mask)
                _note(best, Y, FY)
                Z, FZ, GZ = _polish(obj, Y, FY, GY, polish_maxiter, gtol)
                minima.add(Z, FZ)
                _note(best, Z, FZ)
                un = rng.uniform((1, r))[0]
                dE = FZ - F
                take = (dE <= 0) | (un < np.exp(-np.maximum(dE, 0.0) / T))
                X[take], F[take], G[take] = Z[take], FZ[take], GZ[take]
                if r > 1 and (nit + 1) % swap_every == 0:
                    _swap(rng, F, T, nit % 2, X, G)
            elif key == "replica-exchange":
                steps = 0
                Fw = None
                while steps < quench_every:
                    k = min(swap_every, quench_every - steps)
                    Xw, Fw, Gw = _langevin(obj, rng, Xw, Gw, T, ell, k)
                    _note(best, Xw, Fw)
                    steps += k
                    if r > 1:
                        _swap(rng, Fw, T, (nit + steps) % 2, Xw, Gw)
                Z, FZ, _ = _polish(obj, Xw.copy(), Fw, Gw.copy(), polish_maxiter, gtol)
                minima.add(Z, FZ)
                _note(best, Z, FZ)
            else:  # annealing with restarts
                if nit > 0:
                    Xs = lb + width * rng.uniform((r, n), PURPOSE_INIT)
                    h = r // 2
                    if h and best[0] is not None:
                        Xs[:h] = _reflect(best[0] + ell[:h] * rng.normal((h, n)), lb, ub)
                    Fs, Gs = obj(Xs)
                    _note(best, Xs, Fs)
                else:
                    Xs, Gs = X.copy(), G.copy()
                t_hi, t_lo = T[-1], T[0]
                chunks = 10
                for c in range(chunks):
                    tc = t_hi * (t_lo / t_hi) ** (c / (chunks - 1))
                    k = anneal_steps // chunks + (1 if c < anneal_steps % chunks else 0)
                    if k:
                        Xs, Fs, Gs = _langevin(obj, rng, Xs, Gs, np.full(r, tc), ell, k)
                        _note(best, Xs, Fs)
                Z, FZ, _ = _polish(obj, Xs, Fs, Gs, polish_maxiter, gtol)
                minima.add(Z, FZ)
                _note(best, Z, FZ)
            nit += 1
            since = 0 if best[1] < before else since + 1
            if cb is not None:
                try:
                    cb(best[0], best[1], nit=nit, nfev=obj.nfev)
                except _Stop:
                    status, message = 99, _MSG_CALLBACK
                    break
            if f_target is not None and best[1] <= f_target:
                message = _MSG_TARGET
                break
            if patience is not None and since >= patience:
                message = _MSG_PATIENCE
                break
    except _Budget as b:
        status, message = (1 if b.message == _MSG_MAXFEV else 2), b.message
    if best[0] is None:
        raise ValueError("the budget (maxfev/maxtime) ended the run before fun was evaluated")
    # a final polish of the best point within whatever budget is left (unlimited if none)
    x, f = best[0], best[1]
    jac_x = np.full(n, np.nan)
    try:
        Fb, Gb = obj(x[None])
        xp, fp, gp = _polish(obj, x[None], Fb, Gb, polish_maxiter, gtol)
        minima.add(xp, fp)
        if fp[0] <= f:
            x, f = xp[0], float(fp[0])
        jac_x = _projected(xp, gp, lb, ub)[0]
    except _Budget:
        pass
    from scipy.optimize import OptimizeResult

    res = OptimizeResult(x=x.copy(), fun=float(f), jac=jac_x, nfev=obj.nfev, njev=obj.njev,
                         nit=nit, success=status != 99, status=status, message=message,
                         minima=minima.x.copy(), minima_fun=minima.f.copy(), temperatures=T)
    if o.get("disp", False):
        print(res.message)
        print(f"         Current function value: {res.fun:.6g}")
        print(f"         Iterations: {res.nit}")
        print(f"         Function evaluations: {res.nfev}")
    return res
