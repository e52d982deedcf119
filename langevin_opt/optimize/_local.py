"""Local ``minimize`` with SciPy's calling conventions: L-BFGS and the SGD/Langevin family.

The objective is adapted once (:class:`_Objective`): a package :class:`~langevin_opt.Landscape`
(built-in or made with :func:`~langevin_opt.landscape`) becomes a compiled ``fg(x) -> (f, g)``;
a ``numba.njit`` ``fun`` with ``jac=True`` is used as it is; a plain Python callable is called
once per evaluation.  Compiled objectives run the stochastic methods in one compiled loop
(:func:`~langevin_opt.sgmcmc.run_chains`) when nothing can stop the run early (no callback,
no gradient test); otherwise one Python step per iteration, bit for bit the same arithmetic.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numba
import numpy as np
from numba.core.registry import CPUDispatcher

from ..core.errors import DivergenceError
from ..core.validation import (
    check_int,
    check_nonnegative,
    check_positive,
    check_real,
    check_seed,
    check_settings,
)
from ..landscapes import Landscape
from ..rng import PURPOSE_NOISE, normals
from ..schedules import Schedule

if TYPE_CHECKING:  # SciPy is imported when a result is made (it costs half a second)
    from scipy.optimize import OptimizeResult

    from ..sgmcmc.methods import Method

__all__ = ["LOCAL_METHODS", "minimize"]

#: Method names of :func:`minimize`; the first is the default (deterministic, ``T = 0``).
LOCAL_METHODS = ("l-bfgs", "sgd", "sgld", "psgld", "sghmc", "csgld", "entropy-sgd")

_LBFGS_OPTIONS = ("maxiter", "gtol", "ftol", "maxcor", "maxls", "c1", "c2", "disp")
_STOCHASTIC_OPTIONS = ("maxiter", "gtol", "disp", "temperature", "schedule", "lr_schedule",
                       "keep_samples", "burn_in", "thin", "threads")
_EPS = np.finfo(np.float64).eps

# SciPy's own messages (scipy.optimize._optimize._status_message, 1.17)
_MSG_OK = "Optimization terminated successfully."
_MSG_MAXITER = "Maximum number of iterations has been exceeded."
_MSG_PRECISION = "Desired error not necessarily achieved due to precision loss."
_MSG_NAN = "NaN result encountered."
_MSG_CALLBACK = "`callback` raised `StopIteration`."
_MSG_DONE = "Completed maxiter steps (no gradient test: gtol=None)."


class _Stop(Exception):
    """The user's callback raised ``StopIteration``."""


# ----------------------------------------------------------------------------- objective

_LANDSCAPE_FG: dict = {}


def _landscape_fg(land: Landscape) -> Callable:
    """A compiled ``fg(x) -> (f, g)`` for a landscape (memoized per function and params)."""
    key = (land.energy_grad, land.dim, np.asarray(land.params).tobytes())
    if key in _LANDSCAPE_FG:
        return _LANDSCAPE_FG[key]
    eg = land.energy_grad
    d = int(land.dim)
    p = np.array(land.params, dtype=np.float64)

    @numba.njit
    def fg(x):  # pragma: no cover - compiled
        X = np.empty((d, 1))
        for k in range(d):
            X[k, 0] = x[k]
        G = np.zeros((d, 1))
        e = eg(X, 0, p, G)
        return e, G[:, 0].copy()

    fg.__name__ = land.name
    _LANDSCAPE_FG[key] = fg
    return fg


class _Objective:
    """``fun``/``jac`` in SciPy's conventions as one counted ``(f, g)`` evaluation."""

    def __init__(self, fun: object, jac: object, args: tuple, n: int) -> None:
        if isinstance(fun, Landscape):
            if args:
                raise ValueError("args must be empty for a Landscape objective (its constants "
                                 "are Landscape.params)")
            if jac not in (None, True, False):
                raise ValueError("jac must be None or True for a Landscape objective (it "
                                 "carries its own gradient)")
            if fun.dim != n:
                raise ValueError(f"x0 has {n} coordinates but the landscape {fun.name!r} has "
                                 f"dim={fun.dim}")
            fun, jac = _landscape_fg(fun), True
        if not callable(fun):
            raise TypeError(f"fun must be callable or a Landscape, got {type(fun).__name__}")
        if not (jac is None or isinstance(jac, bool) or callable(jac)):
            raise TypeError(f"jac must be None, a bool or a callable, got {type(jac).__name__}")
        if not isinstance(args, tuple):
            args = (args,)  # SciPy accepts a single extra argument
        self.fun, self.jac, self.args, self.n = fun, jac, args, n
        self.mode = "fg" if jac is True else ("jac" if callable(jac) else "fd")
        self.nfev = 0
        self.njev = 0
        #: the compiled ``fg`` when the whole run may be one compiled loop
        self.compiled = fun if (self.mode == "fg" and not args
                                and isinstance(fun, CPUDispatcher)) else None

    def _user(self, fn: Callable, name: str, x: np.ndarray, where: str) -> object:
        try:
            return fn(x.copy(), *self.args)
        except Exception as err:  # noqa: BLE001 - any user error gets the same one-line context
            raise RuntimeError(f"{name} raised {type(err).__name__} {where}: {err}") from err

    def _scalar(self, f: object) -> float:
        try:
            return float(np.asarray(f, dtype=np.float64).item())
        except (TypeError, ValueError):
            raise ValueError(f"fun must return a scalar, got {type(f).__name__} "
                             f"{np.shape(f)}") from None

    def _grad(self, g: object, name: str) -> np.ndarray:
        g = np.asarray(g, dtype=np.float64)
        if g.shape != (self.n,):
            raise ValueError(f"{name} returned a gradient of shape {g.shape}, expected "
                             f"({self.n},)")
        return g

    def __call__(self, x: np.ndarray, where: str) -> tuple[float, np.ndarray]:
        """``(f(x), grad f(x))``; counts ``nfev``/``njev`` as SciPy does."""
        if self.mode == "fg":
            out = self._user(self.fun, "fun", x, where)
            self.nfev += 1
            self.njev += 1
            try:
                f, g = out
            except (TypeError, ValueError):
                raise ValueError("with jac=True, fun must return (f, grad)") from None
            return self._scalar(f), self._grad(g, "fun")
        f = self._scalar(self._user(self.fun, "fun", x, where))
        self.nfev += 1
        if self.mode == "jac":
            g = self._grad(self._user(self.jac, "jac", x, where), "jac")
        else:  # 2-point forward differences, SciPy's step h = sqrt(eps) sign(x) max(1, |x|)
            g = np.empty(self.n)
            h = math.sqrt(_EPS) * np.where(x >= 0, 1.0, -1.0) * np.maximum(1.0, np.abs(x))
            xh = x.copy()
            for i in range(self.n):
                xi = x[i]
                xh[i] = xi + h[i]
                hi = xh[i] - xi  # the step actually taken
                g[i] = (self._scalar(self._user(self.fun, "fun", xh, where)) - f) / hi
                xh[i] = xi
            self.nfev += self.n
        self.njev += 1
        return f, g


def _wrap_callback(callback: Callable | None) -> Callable | None:
    """SciPy's dispatch: ``callback(intermediate_result=res)`` or ``callback(xk)``."""
    if callback is None:
        return None
    if not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    try:
        new_style = set(inspect.signature(callback).parameters) == {"intermediate_result"}
    except (TypeError, ValueError):  # builtins without a signature
        new_style = False
    from scipy.optimize import OptimizeResult

    def call(x: np.ndarray, f: float, **fields: object) -> None:
        # fields: more entries of the intermediate result (global_minimize: nit, nfev)
        try:
            if new_style:
                callback(intermediate_result=OptimizeResult(x=x.copy(), fun=f, **fields))
            else:
                callback(x.copy())
        except StopIteration:
            raise _Stop from None

    return call


# ----------------------------------------------------------------------------- L-BFGS


def _cubic_min(a: float, fa: float, da: float, b: float, fb: float, db: float) -> float:
    """Minimiser of the cubic through two points with slopes (Nocedal & Wright eq. 3.59)."""
    with np.errstate(all="ignore"):
        d1 = da + db - 3.0 * (fa - fb) / (a - b)
        disc = d1 * d1 - da * db
        if not (math.isfinite(disc) and disc >= 0.0):
            return math.nan
        d2 = math.copysign(math.sqrt(disc), b - a)
        den = db - da + 2.0 * d2
        if den == 0.0:
            return math.nan
        return b - (b - a) * (db + d2 - d1) / den


def _line_search(phi: Callable, f0: float, dg0: float, a1: float, c1: float, c2: float,
                 maxls: int) -> tuple | None:
    """Strong-Wolfe line search (Nocedal & Wright, Numerical Optimization, Alg. 3.5/3.6).

    ``phi(a) -> (f, slope, x, g)``; returns the accepted tuple or ``None`` after ``maxls``
    trials.  A non-finite trial value counts as too long a step.
    """

    def zoom(lo: tuple, hi: tuple, left: int) -> tuple | None:
        for _ in range(left):
            a_lo, a_hi = lo[0], hi[0]
            w = abs(a_hi - a_lo)
            if w <= _EPS * max(abs(a_lo), abs(a_hi)):
                return None
            a = (_cubic_min(a_lo, lo[1], lo[2], a_hi, hi[1], hi[2])
                 if math.isfinite(hi[1]) and math.isfinite(hi[2]) else math.nan)
            low, high = min(a_lo, a_hi) + 0.1 * w, max(a_lo, a_hi) - 0.1 * w
            if not (math.isfinite(a) and low <= a <= high):
                a = 0.5 * (a_lo + a_hi)
            t = (a, *phi(a))
            if not math.isfinite(t[1]) or t[1] > f0 + c1 * a * dg0 or t[1] >= lo[1]:
                hi = t
            else:
                if abs(t[2]) <= -c2 * dg0:
                    return t
                if t[2] * (a_hi - a_lo) >= 0:
                    hi = lo
                lo = t
        return None

    prev = (0.0, f0, dg0, None, None)
    a = a1
    for i in range(maxls):
        t = (a, *phi(a))
        if not math.isfinite(t[1]) or t[1] > f0 + c1 * a * dg0 or (i > 0 and t[1] >= prev[1]):
            return zoom(prev, t, maxls - i - 1)
        if abs(t[2]) <= -c2 * dg0:
            return t
        if t[2] >= 0:
            return zoom(t, prev, maxls - i - 1)
        prev = t
        a *= 2.0
    return None


def _phi(obj: _Objective, x: np.ndarray, d: np.ndarray, nit: int) -> Callable:
    """``phi(a) -> (f, slope, x, g)`` along ``x + a d`` for the line search."""

    def phi(a: float) -> tuple:
        xa = x + a * d
        fa, ga = obj(xa, f"at iteration {nit} (line search)")
        return fa, float(ga @ d), xa, ga

    return phi


def _lbfgs(obj: _Objective, x: np.ndarray, f: float, g: np.ndarray, opts: dict,
           cb: Callable | None) -> dict:
    """Limited-memory BFGS (Nocedal & Wright Alg. 7.4/7.5) with a strong-Wolfe line search."""
    maxiter, gtol, ftol = opts["maxiter"], opts["gtol"], opts["ftol"]
    m, maxls, c1, c2 = opts["maxcor"], opts["maxls"], opts["c1"], opts["c2"]
    S: list[np.ndarray] = []
    Y: list[np.ndarray] = []
    R: list[float] = []
    nit = 0
    status, msg = 1, _MSG_MAXITER
    if gtol is not None and np.max(np.abs(g)) <= gtol:
        return dict(x=x, fun=f, jac=g, nit=0, status=0, message=_MSG_OK)
    while nit < maxiter:
        q = g.copy()
        alphas = []
        for s, y, r in zip(reversed(S), reversed(Y), reversed(R), strict=True):
            al = r * (s @ q)
            alphas.append(al)
            q -= al * y
        if S:
            q *= (S[-1] @ Y[-1]) / (Y[-1] @ Y[-1])
            a1 = 1.0
        else:
            a1 = min(1.0, 1.0 / max(np.max(np.abs(g)), _EPS))
        for s, y, r, al in zip(S, Y, R, reversed(alphas), strict=True):
            q += s * (al - r * (y @ q))
        d = -q
        dg0 = float(g @ d)
        if not (dg0 < 0 and math.isfinite(dg0)):  # lost descent: restart from steepest descent
            S.clear(), Y.clear(), R.clear()
            d = -g
            dg0 = -float(g @ g)
            a1 = min(1.0, 1.0 / max(np.max(np.abs(g)), _EPS))

        t = _line_search(_phi(obj, x, d, nit), f, dg0, a1, c1, c2, maxls)
        if t is None and S:  # a stale curvature model: retry along the steepest descent
            S.clear(), Y.clear(), R.clear()
            d = -g
            t = _line_search(_phi(obj, x, d, nit), f, -float(g @ g),
                             min(1.0, 1.0 / max(np.max(np.abs(g)), _EPS)), c1, c2, maxls)
        if t is None:
            status, msg = 2, _MSG_PRECISION
            break
        _, f_new, _, x_new, g_new = t
        s, y = x_new - x, g_new - g
        sy = float(s @ y)
        if sy > _EPS * float(y @ y):
            S.append(s), Y.append(y), R.append(1.0 / sy)
            if len(S) > m:
                S.pop(0), Y.pop(0), R.pop(0)
        f_old = f
        x, f, g = x_new, f_new, g_new
        nit += 1
        if cb is not None:
            try:
                cb(x, f)
            except _Stop:
                status, msg = 99, _MSG_CALLBACK
                break
        if gtol is not None and np.max(np.abs(g)) <= gtol:
            status, msg = 0, _MSG_OK
            break
        if ftol is not None and f_old - f <= ftol * max(abs(f_old), abs(f), 1.0):
            status, msg = 0, _MSG_OK
            break
    return dict(x=x, fun=f, jac=g, nit=nit, status=status, message=msg)


# ----------------------------------------------------------------------------- SGD / Langevin


def _stochastic(obj: _Objective, x: np.ndarray, f: float, g: np.ndarray, m: Method,
                opts: dict, seed: int, cb: Callable | None) -> dict:
    """One chain of an SG-MCMC method, one Python step per iteration, stopping early."""
    from ..sgmcmc.methods import EntropySGD
    from ..sgmcmc.optimizer import Optimizer

    n, gtol, temperature = opts["maxiter"], opts["gtol"], opts["temperature"]
    schedule, lr_schedule = opts["schedule"], opts["lr_schedule"]
    steps = np.arange(n)
    keep = _kept(m, steps, n, opts)
    samples, sfun, sstep = [], [], []
    best = (f, x.copy(), g)
    status, msg = (0 if gtol is None else 1), (_MSG_DONE if gtol is None else _MSG_MAXITER)
    entropy = isinstance(m, EntropySGD)
    if entropy:
        ef, _ = m.step_factors(steps, n)
        if lr_schedule is not None:
            ef = ef * lr_schedule.factors(steps, n)
        tf = np.ones(n) if schedule is None else schedule.factors(steps, n)
        mb = np.zeros_like(x)
    else:
        opt = Optimizer(m, temperature=temperature, schedule=schedule, lr_schedule=lr_schedule,
                        total_steps=n, seed=seed)
    t = 0
    while True:
        if gtol is not None and np.max(np.abs(g)) <= gtol:
            status, msg, best = 0, _MSG_OK, (f, x.copy(), g)  # the converged iterate
            break
        if t >= n:
            break
        if keep[t]:
            samples.append(x.copy()), sfun.append(f), sstep.append(t)
        if entropy:
            temp = float(temperature) * tf[t]
            gam = m.gamma * (1.0 + m.scoping) ** t
            L = m.inner_steps
            xp = x.copy()
            mu = x.copy()
            sn = math.sqrt(2.0 * m.inner_step_size * temp) if temp > 0 else 0.0
            gp = g
            for ll in range(L):
                if ll > 0:
                    fp, gp = obj(xp, f"at iteration {t} (inner step {ll})")
                    if not math.isfinite(fp):
                        return _nan_end(best, t, samples, sfun, sstep, x)
                d = gp - gam * (x - xp)
                xp = xp - m.inner_step_size * d
                if temp > 0:
                    z = normals(seed, (1, x.size), stream_offset=0, step=t * L + ll,
                                purpose=PURPOSE_NOISE)[0]
                    xp = xp + sn * z
                mu = m.beta1 * mu + (1.0 - m.beta1) * xp
            df = x - mu
            if m.momentum > 0:
                mb = m.momentum * mb + df
                df = df + m.momentum * mb if m.nesterov else mb
            x = x - (m.step_size * ef[t]) * df
        else:
            opt.step(x, g)
        t += 1
        f, g = obj(x, f"at iteration {t}")
        if not math.isfinite(f):
            return _nan_end(best, t, samples, sfun, sstep, x)
        if f < best[0]:
            best = (f, x.copy(), g)
        if cb is not None:
            try:
                cb(x, f)
            except _Stop:
                status, msg = 99, _MSG_CALLBACK
                break
    out = dict(x=best[1], fun=best[0], jac=best[2], nit=t, status=status, message=msg,
               x_final=x)
    return _with_samples(out, opts, samples, sfun, sstep, x.size)



def _nan_end(best: tuple, t: int, samples: list, sfun: list, sstep: list,
             x: np.ndarray) -> dict:
    return dict(x=best[1], fun=best[0], jac=best[2], nit=t, status=3,
                message=f"{_MSG_NAN} (non-finite f at step {t})", x_final=x,
                _samples=(samples, sfun, sstep))


def _kept(m: Method, steps: np.ndarray, n: int, opts: dict) -> np.ndarray:
    from ..sgmcmc.methods import CyclicalSGLD

    if not opts["keep_samples"]:
        return np.zeros(n, dtype=bool)
    keep = (steps >= opts["burn_in"]) & ((steps - opts["burn_in"]) % opts["thin"] == 0)
    if isinstance(m, CyclicalSGLD):
        keep &= m.sampling_stage(steps, n)
    return keep


def _with_samples(out: dict, opts: dict, samples: list, sfun: list, sstep: list,
                  p: int) -> dict:
    out.pop("_samples", None)
    if opts["keep_samples"]:
        out["samples"] = np.array(samples, dtype=np.float64).reshape(-1, p)
        out["sample_fun"] = np.array(sfun, dtype=np.float64)
        out["sample_steps"] = np.array(sstep, dtype=np.int64)
    return out


_WRAPPED: dict = {}


def _wrap(fg: Callable) -> tuple[Callable, Callable]:
    """Data-landscape kernels around a compiled ``fg(x) -> (f, g)`` (memoized)."""
    if fg in _WRAPPED:
        return _WRAPPED[fg]

    @numba.njit
    def eg(theta, data, fwork, iwork, seed, chain, step, grad):  # pragma: no cover - compiled
        f, g = fg(theta)
        for i in range(grad.shape[0]):
            grad[i] = g[i]
        return f

    @numba.njit
    def full(theta, data, fwork, iwork, grad):  # pragma: no cover - compiled
        f, g = fg(theta)
        for i in range(grad.shape[0]):
            grad[i] = g[i]
        return f

    _WRAPPED[fg] = (eg, full)
    return eg, full


def _compiled_chain(obj: _Objective, x: np.ndarray, m: Method, opts: dict,
                    seed: int) -> dict:
    """The whole run in one compiled loop (:func:`run_chains`); nothing stops it early."""
    from ..datalandscape import DataLandscape
    from ..sgmcmc.run import run_chains

    fg = obj.compiled
    eg, full = _wrap(fg)
    n = opts["maxiter"]
    land = DataLandscape(getattr(fg, "__name__", "f"), x.size, 1, 1, (np.zeros(1),), 0, 1, eg,
                         full)
    burn_in = opts["burn_in"] if opts["keep_samples"] else n
    try:
        r = run_chains(land, m, x, n, seed=seed, temperature=opts["temperature"],
                       burn_in=burn_in, thin=opts["thin"], schedule=opts["schedule"],
                       lr_schedule=opts["lr_schedule"], threads=opts["threads"])
    except DivergenceError as err:
        r = err.partial_result
    except SystemError as err:
        # an exception raised by fun inside the parallel compiled loop reaches Python as
        # "returned a result with an exception set", the original as context
        inner = err.__context__ if err.__context__ is not None else err
        raise RuntimeError(f"fun raised {type(inner).__name__} inside the compiled loop "
                           f"(iteration not known): {inner}") from inner
    bad = int(r.status[0])
    nit = n if bad < 0 else bad
    obj.nfev += int(r.nfev)  # each an (f, g) evaluation
    obj.njev += int(r.nfev)
    x_final = r.theta[0].copy()
    best_f, best_x = float(r.best_energy[0]), r.best_theta[0].copy()
    samples = list(r.samples[0])  # chain 0's draws
    sfun, sstep = list(r.energies[0]), list(r.steps)
    if bad >= 0:
        f_b, g_b = obj(best_x, "at the best point")
        return dict(x=best_x, fun=f_b, jac=g_b, nit=nit, status=3,
                    message=f"{_MSG_NAN} (non-finite f at step {bad})", x_final=x_final,
                    _samples=(samples, sfun, sstep))
    f_fin, g_fin = obj(x_final, "at the final iterate")
    if f_fin < best_f:
        best_f, best_x, jac = f_fin, x_final.copy(), g_fin
    else:
        best_f, jac = obj(best_x, "at the best point")
    out = dict(x=best_x, fun=best_f, jac=jac, nit=nit, status=0, message=_MSG_DONE,
               x_final=x_final)
    return _with_samples(out, opts, samples, sfun, sstep, x.size)


# ----------------------------------------------------------------------------- entry point


def _options(options: dict | None, allowed: Sequence[str], method: str) -> dict:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"options must be a dict, got {type(options).__name__}")
    bad = [k for k in options if k not in allowed]
    if bad:
        check_settings(bad[:1], list(allowed), where=f" in options for method {method!r}")
    return dict(options)


def minimize(
    fun: Callable | Landscape,
    x0: np.ndarray | Sequence[float],
    args: tuple = (),
    jac: Callable | bool | None = None,
    method: str | Method = "l-bfgs",
    tol: float | None = None,
    callback: Callable | None = None,
    options: dict | None = None,
    *,
    seed: int | None = None,
) -> OptimizeResult:
    """Minimise a scalar function with SciPy's calling conventions.

    Parameters
    ----------
    fun : callable or Landscape
        ``fun(x, *args) -> f`` with ``x`` of shape ``(n,)`` (``-> (f, grad)`` with
        ``jac=True``): a plain Python function, or a ``numba.njit`` function (with
        ``jac=True`` and no ``args`` the stochastic methods then run in one compiled loop).
        A :class:`~langevin_opt.Landscape` (built in, e.g.
        :func:`~langevin_opt.muller_brown`, or made with :func:`~langevin_opt.landscape`)
        is minimised over its ``dim`` coordinates with its own compiled gradient.  ``f``
        is an energy: at temperature ``T`` the Langevin methods sample ``exp(-f/T)``.
    x0 : array_like, shape (n,)
        Finite start.
    args : tuple
        Extra arguments passed to ``fun`` and ``jac``.
    jac : callable, bool or None
        ``True``: ``fun`` returns ``(f, grad)``; a callable ``jac(x, *args) -> grad``;
        ``None``/``False``: 2-point forward differences as SciPy's (step
        ``sqrt(eps) * sign(x_i) * max(1, |x_i|)``), ``n`` extra evaluations of ``fun`` per
        gradient, counted in ``nfev``.
    method : str or sgmcmc.Method
        ``"l-bfgs"`` (default): limited-memory BFGS with a strong-Wolfe line search,
        deterministic (``T = 0``).  The SGD/Langevin family of :mod:`langevin_opt.sgmcmc`:
        ``"sgd"``, ``"sgld"``, ``"psgld"``, ``"sghmc"``, ``"csgld"``, ``"entropy-sgd"``, or a
        method instance (e.g. ``SGLD(step_size=1e-3)``).
    tol : float, optional
        Tolerance for termination: sets ``gtol`` (and, for ``"l-bfgs"``, ``ftol``) unless
        ``options`` gives them, as SciPy's gradient methods do.
    callback : callable, optional
        ``callback(intermediate_result)`` (the one parameter must have that name) gets an
        ``OptimizeResult`` with ``x`` and ``fun`` after every iteration; any other callable
        gets ``callback(xk)`` (SciPy's legacy form).  Raising ``StopIteration`` ends the run
        with ``status=99``, ``success=False`` and SciPy's message.
    options : dict, optional
        Every method: ``maxiter`` (``"l-bfgs"``: ``200 * n``, at least 1000; the stochastic
        methods: 1000 steps, outer steps for Entropy-SGD), ``gtol`` (stop once
        ``max |grad f| <= gtol``; default ``1e-5`` for ``"l-bfgs"`` and for runs at
        ``T = 0``, ``None``, no gradient test, for samplers at ``T > 0``; pass ``None`` to
        switch the test off), ``disp`` (print a summary).  ``"l-bfgs"``: ``ftol`` (stop
        when ``(f_k - f_{k+1}) <= ftol * max(|f_k|, |f_{k+1}|, 1)``; default off),
        ``maxcor`` (10 correction pairs), ``maxls`` (20 trials per line search), ``c1``,
        ``c2`` (Wolfe constants, ``1e-4``, ``0.9``).  Stochastic methods: ``temperature``
        (``T >= 0``, default 1; energy units of ``f``, ``k_B = 1``; ignored by SGD),
        ``schedule``, ``lr_schedule`` (:class:`~langevin_opt.schedules.Schedule` profiles
        over ``maxiter``), ``keep_samples`` (default ``False``), ``burn_in`` (0), ``thin``
        (1), ``threads`` (Numba threads of the compiled loop; results do not depend on
        it), and the method's own fields, e.g. ``step_size``, ``friction``.
    seed : int, optional
        Key of the counter-based generator (keyword only), required by every method but
        ``"l-bfgs"`` and ``"sgd"``, which draw no random numbers.

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x`` (``"l-bfgs"``: the last iterate; stochastic methods: the iterate that met
        ``gtol``, else the lowest-``f`` point evaluated), ``fun``, ``jac`` (gradient at
        ``x``), ``nit`` (iterations: accepted steps), ``nfev`` (evaluations of ``fun``,
        finite-difference ones included), ``njev`` (gradient evaluations), ``success``,
        ``status`` (0 converged, or a sampler at ``T > 0`` completed ``maxiter`` steps;
        1 ``maxiter`` reached without meeting ``gtol``/``ftol``; 2 line search failed
        (precision loss); 3 non-finite ``f`` during the run; 99 ``callback`` raised
        ``StopIteration``), ``message`` (SciPy's texts).  Stochastic methods add
        ``x_final`` (the last iterate) and, with ``keep_samples``, ``samples`` ``(S, n)``
        (the iterate before step ``t`` for the kept ``t``), ``sample_steps`` ``(S,)`` and
        ``sample_fun`` ``(S,)``.

    Raises
    ------
    ValueError
        Non-finite or non-vector ``x0``; ``fun`` (or its gradient) non-finite at ``x0``;
        a gradient of the wrong shape; an unknown method or option; a bad option value.
    TypeError
        An argument of the wrong type, or a missing ``seed`` for a method that needs one.
    RuntimeError
        ``fun`` or ``jac`` raised: re-raised with one line naming the exception and the
        iteration (the original is ``__cause__``).
    """
    from ..sgmcmc.methods import Method, ReplicaExchangeSGLD, make_method

    x = np.array(x0, dtype=np.float64, copy=True)
    if x.ndim != 1 or x.size < 1:
        raise ValueError(f"x0 must be a vector of shape (n,), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x0 must be finite, got non-finite entries at indices "
                         f"{np.flatnonzero(~np.isfinite(x)).tolist()}")
    n = x.size
    obj = _Objective(fun, jac, args, n)
    if isinstance(method, str):
        key = method.lower().replace("_", "-")
        key = {"lbfgs": "l-bfgs", "entropysgd": "entropy-sgd"}.get(key, key)
        if key not in LOCAL_METHODS:
            from ..core.validation import suggest

            raise ValueError(f"unknown method {method!r}{suggest(key, LOCAL_METHODS)}; "
                             f"allowed: {', '.join(LOCAL_METHODS)}")
    elif isinstance(method, Method):
        key = method.kind
    else:
        raise TypeError(f"method must be a name or an sgmcmc method instance, got "
                        f"{type(method).__name__}")
    if tol is not None:
        tol = check_positive("tol", tol)
    cb = _wrap_callback(callback)

    if key == "l-bfgs":
        o = _options(options, _LBFGS_OPTIONS, key)
        opts = {
            "maxiter": check_int("maxiter", o.get("maxiter", max(1000, 200 * n)), lo=1,
                                 hi=None),
            "gtol": _opt_tol(o, "gtol", tol if tol is not None else 1e-5),
            "ftol": _opt_tol(o, "ftol", tol),
            "maxcor": check_int("maxcor", o.get("maxcor", 10), lo=1, hi=None),
            "maxls": check_int("maxls", o.get("maxls", 20), lo=1, hi=None),
            "c1": check_real("c1", o.get("c1", 1e-4), lo=0.0, hi=1.0, lo_open=True,
                             hi_open=True),
            "c2": check_real("c2", o.get("c2", 0.9), lo=0.0, hi=1.0, lo_open=True,
                             hi_open=True),
        }
        if not opts["c1"] < opts["c2"]:
            raise ValueError(f"options c1={opts['c1']} must be < c2={opts['c2']}")
        f, g = _start(obj, x)
        out = _lbfgs(obj, x, f, g, opts, cb)
    else:
        o = _options(options, _STOCHASTIC_OPTIONS + _method_fields(method, key),
                     key)
        settings = {k: v for k, v in o.items() if k not in _STOCHASTIC_OPTIONS}
        m = make_method(method if not isinstance(method, str) else key, **settings)
        if isinstance(m, ReplicaExchangeSGLD):  # pragma: no cover - not in LOCAL_METHODS
            raise ValueError("minimize runs one chain; use run_chains() for replica exchange")
        seed = 0 if seed is None and m.kind == "sgd" else check_seed(seed)
        temperature = check_nonnegative("temperature", o.get("temperature", 1.0))
        schedule = o.get("schedule")
        lr_schedule = o.get("lr_schedule")
        for name, s in (("schedule", schedule), ("lr_schedule", lr_schedule)):
            if s is not None and not isinstance(s, Schedule):
                raise TypeError(f"options {name} must be a Schedule, got {type(s).__name__}")
        deterministic = m.kind == "sgd" or temperature == 0.0
        keep = o.get("keep_samples", False)
        if not isinstance(keep, (bool, np.bool_)):
            raise TypeError(f"options keep_samples must be a bool, got {type(keep).__name__}")
        threads = o.get("threads")
        opts = {
            "maxiter": check_int("maxiter", o.get("maxiter", 1000), lo=1, hi=None),
            "gtol": _opt_tol(o, "gtol", tol if tol is not None else
                             (1e-5 if deterministic else None)),
            "temperature": temperature, "schedule": schedule, "lr_schedule": lr_schedule,
            "keep_samples": bool(keep),
            "burn_in": check_int("burn_in", o.get("burn_in", 0), lo=0, hi=None),
            "thin": check_int("thin", o.get("thin", 1), lo=1, hi=None),
            "threads": None if threads is None else check_int("threads", threads, lo=1,
                                                              hi=None),
        }
        if obj.compiled is not None and cb is None and opts["gtol"] is None:
            _start(obj, x)  # bad input is refused before the compiled loop
            out = _compiled_chain(obj, x, m, opts, seed)
        else:
            f, g = _start(obj, x)
            out = _stochastic(obj, x, f, g, m, opts, seed, cb)
        if "_samples" in out:
            out = _with_samples(out, opts, *out["_samples"], n)
    from scipy.optimize import OptimizeResult

    out["fun"] = float(out["fun"])
    res = OptimizeResult(success=out["status"] == 0, nfev=obj.nfev, njev=obj.njev, **out)
    if o.get("disp", False):
        print(("" if res.success else "Warning: ") + res.message)
        print(f"         Current function value: {res.fun:.6g}")
        print(f"         Iterations: {res.nit}")
        print(f"         Function evaluations: {res.nfev}")
        print(f"         Gradient evaluations: {res.njev}")
    return res


def _method_fields(method: object, key: str) -> tuple[str, ...]:
    """Option names that are fields of the method (settings are refused with an instance)."""
    from dataclasses import fields

    from ..sgmcmc.methods import METHODS

    if not isinstance(method, str):
        return ()
    return tuple(f.name for f in fields(METHODS[key]))


def _opt_tol(o: dict, name: str, default: float | None) -> float | None:
    """A tolerance option: absent -> ``default``; ``None`` -> no test; else > 0."""
    v = o.get(name, default)
    return None if v is None else check_positive(name, v)


def _start(obj: _Objective, x: np.ndarray) -> tuple[float, np.ndarray]:
    """``(f, g)`` at ``x0``; a non-finite value there is bad input, not a result."""
    f, g = obj(x, "at x0")
    if not math.isfinite(f):
        raise ValueError(f"fun returned a non-finite value ({f}) at x0")
    if not np.all(np.isfinite(g)):
        raise ValueError("the gradient of fun is not finite at x0")
    return f, g
