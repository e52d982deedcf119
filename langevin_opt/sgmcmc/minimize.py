"""SciPy-style ``minimize`` with SGD and Langevin methods.

>>> import numpy as np
>>> from langevin_opt.sgmcmc import minimize
>>> def fg(x):
...     return float(x @ x), 2 * x
>>> res = minimize(fg, np.ones(2), method="sgd", step_size=0.1, maxiter=100)
>>> bool(res.fun < 1e-12)
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numba
import numpy as np
from numba.core.registry import CPUDispatcher

from ..core.errors import DivergenceError
from ..core.validation import check_int, check_positive, check_seed
from ..datalandscape import DataLandscape
from ..rng import PURPOSE_NOISE, normals
from ..schedules import Schedule
from .methods import CyclicalSGLD, EntropySGD, Method, ReplicaExchangeSGLD, make_method
from .optimizer import Optimizer
from .run import run_chains

if TYPE_CHECKING:  # SciPy is imported when a result is made (it costs half a second)
    from scipy.optimize import OptimizeResult

__all__ = ["minimize"]

_WRAPPED: dict = {}


def _wrap(fg: Callable) -> tuple[Callable, Callable]:
    """Data-landscape kernels around a compiled ``fg(x) -> (f, g)`` (memoized)."""
    if fg in _WRAPPED:
        return _WRAPPED[fg]

    @numba.njit
    def eg(theta, data, fwork, iwork, seed, chain, step, grad):
        f, g = fg(theta)
        for i in range(grad.shape[0]):
            grad[i] = g[i]
        return f

    @numba.njit
    def full(theta, data, fwork, iwork, grad):
        f, g = fg(theta)
        for i in range(grad.shape[0]):
            grad[i] = g[i]
        return f

    _WRAPPED[fg] = (eg, full)
    return eg, full


def _eval(fg: Callable, x: np.ndarray, where: str) -> object:
    """Call the user's objective; an exception it raises is re-raised with its context."""
    try:
        return fg(x)
    except Exception as err:  # noqa: BLE001 - any user error gets the same one-line context
        raise RuntimeError(f"fun_and_grad raised {type(err).__name__} {where}: {err}") from err


def _call(fg: Callable, x: np.ndarray, where: str) -> tuple[float, np.ndarray]:
    out = _eval(fg, x, where)
    try:
        f, g = out
    except (TypeError, ValueError):
        raise ValueError("fun_and_grad must return (f, grad)") from None
    g = np.asarray(g, dtype=np.float64)
    if g.shape != x.shape:
        raise ValueError(f"fun_and_grad returned a gradient of shape {g.shape}, expected "
                         f"{x.shape}")
    return float(f), g


def minimize(
    fun_and_grad: Callable,
    x0: np.ndarray,
    method: str | Method = "sgld",
    *,
    maxiter: int = 1000,
    temperature: float = 1.0,
    seed: int | None = None,
    burn_in: int = 0,
    thin: int = 1,
    schedule: Schedule | None = None,
    lr_schedule: Schedule | None = None,
    gtol: float | None = None,
    **settings: object,
) -> OptimizeResult:
    """Minimise (or sample) ``f`` with SGD, SGLD, pSGLD, SGHMC, cSGLD or Entropy-SGD.

    Parameters
    ----------
    fun_and_grad : callable
        ``fun_and_grad(x) -> (f, grad)`` with ``x`` of shape ``(P,)``: a plain
        Python function (one Python call per gradient) or a ``numba.njit``
        function (the whole run is one compiled loop, :func:`run_chains`).
        ``f`` is an energy: at ``temperature`` T the Langevin methods sample
        ``exp(-f/T)``.
    x0 : array_like, shape (P,)
        Start.
    method : str or Method
        ``"sgd"``, ``"sgld"``, ``"psgld"``, ``"sghmc"``, ``"csgld"``,
        ``"entropy-sgd"`` or an instance (replica exchange: use
        :func:`run_chains`).
    maxiter : int
        Steps (outer steps for Entropy-SGD), >= 1.  No early stopping.
    temperature : float
        ``T >= 0`` (default 1; ignored by SGD; ``0`` turns SGLD into SGD).
    seed : int
        Generator key (keyword only; required for every method but ``"sgd"``,
        which draws no random numbers).
    burn_in, thin : int
        Samples kept: the state before step ``t`` for ``t >= burn_in`` and
        ``(t - burn_in) % thin == 0`` (cSGLD: sampling stages only).
    schedule, lr_schedule : Schedule, optional
        Temperature and step-size profiles over ``maxiter`` steps.
    gtol : float, optional
        Success requires ``max |grad f(x)| <= gtol`` at the returned ``x``.
    **settings
        Method fields, e.g. ``step_size=1e-3``, ``friction=0.1``.

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x``: the best point seen (lowest ``f`` among all evaluated points
        and the final iterate), ``fun`` = ``f(x)``, ``jac`` = ``grad f(x)``,
        ``nit``, ``nfev`` (gradient evaluations), ``success``, ``status``
        (0 done, 1 ``gtol`` not met, 2 non-finite ``f``: like SciPy, a
        non-finite objective ends the run with ``success=False`` instead of
        raising :class:`~langevin_opt.core.DivergenceError`), ``message``,
        ``samples`` (``(S, P)``), ``sample_steps`` (``(S,)``),
        ``sample_fun`` (``f`` at the samples, ``(S,)``), ``x_final`` (the last
        iterate).

    Raises
    ------
    RuntimeError
        A Python ``fun_and_grad`` raised: re-raised (``raise ... from err``, the
        original is ``__cause__``) with one line naming the exception and the
        iteration; for a ``numba.njit`` ``fun_and_grad`` the line says that it
        was raised inside the compiled loop (Numba does not report the iteration).
    TypeError
        An argument of the wrong type, or a missing ``seed``.
    ValueError
        A bad value.
    """
    m = make_method(method, **settings)
    if isinstance(m, ReplicaExchangeSGLD):
        raise ValueError("minimize runs one chain; use run_chains() for replica exchange")
    # SGD draws no random numbers here (full-batch objective): its seed may be omitted
    seed = 0 if seed is None and m.kind == "sgd" else check_seed(seed)
    x = np.array(x0, dtype=np.float64, copy=True)
    if x.ndim != 1 or x.size < 1 or not np.all(np.isfinite(x)):
        raise ValueError(f"x0 must be a finite vector of shape (P,), got shape {x.shape}")
    maxiter = check_int("maxiter", maxiter, lo=1, hi=None)
    if gtol is not None:
        gtol = check_positive("gtol", gtol)
    if not callable(fun_and_grad):
        raise TypeError(f"fun_and_grad must be callable, got {type(fun_and_grad).__name__}")

    if isinstance(fun_and_grad, CPUDispatcher):
        eg, full = _wrap(fun_and_grad)
        land = DataLandscape(getattr(fun_and_grad, "__name__", "f"), x.size, 1, 1,
                             (np.zeros(1),), 0, 1, eg, full)
        try:
            r = run_chains(land, m, x, maxiter, seed=seed, temperature=temperature,
                           burn_in=burn_in, thin=thin, schedule=schedule,
                           lr_schedule=lr_schedule)
        except DivergenceError as err:  # status 2 below, as for the Python loop
            r = err.partial_result
        except SystemError as err:
            # an exception raised by fun_and_grad inside the parallel compiled loop reaches
            # Python as "returned a result with an exception set", the original as context
            inner = err.__context__ if err.__context__ is not None else err
            raise RuntimeError(f"fun_and_grad raised {type(inner).__name__} inside the "
                               f"compiled loop (iteration not known): {inner}") from inner
        bad = int(r.status[0])
        samples, steps, sfun = r.samples[:, 0, :], r.steps, r.energies[:, 0]
        x_final = r.theta[0]
        best_f, best_x = float(r.best_energy[0]), r.best_theta[0].copy()
        nit = maxiter if bad < 0 else bad
        nfev = r.nfev
    else:
        samples, steps, sfun, x_final, best_f, best_x, bad, nit, nfev = _python_loop(
            fun_and_grad, x, m, maxiter, temperature, seed, burn_in, thin, schedule,
            lr_schedule)
    f_fin, g_fin = _call(fun_and_grad, x_final.copy(), "at the final iterate")
    nfev += 1
    if np.isfinite(f_fin) and not f_fin > best_f:
        best_f, best_x, jac = f_fin, x_final.copy(), g_fin
    else:
        _, jac = _call(fun_and_grad, best_x.copy(), "at the best point")
        nfev += 1
    if bad >= 0:
        status, success, msg = 2, False, f"non-finite f at step {bad}"
    elif gtol is not None and not np.max(np.abs(jac)) <= gtol:
        status, success, msg = 1, False, f"max |grad f(x)| > gtol={gtol} after {nit} steps"
    else:
        status, success, msg = 0, True, f"completed {nit} steps"
    from scipy.optimize import OptimizeResult

    return OptimizeResult(x=best_x, fun=best_f, jac=jac, nit=nit, nfev=nfev, success=success,
                          status=status, message=msg, samples=samples, sample_steps=steps,
                          sample_fun=sfun, x_final=x_final)


def _python_loop(fg: Callable, x: np.ndarray, m: Method, n: int, temperature: float,
                 seed: int, burn_in: int, thin: int, schedule: Schedule | None,
                 lr_schedule: Schedule | None) -> tuple:
    steps = np.arange(n)
    keep = (steps >= burn_in) & ((steps - burn_in) % thin == 0)
    if isinstance(m, CyclicalSGLD):
        keep &= m.sampling_stage(steps, n)
    rec = steps[keep]
    samples = np.zeros((rec.size, x.size))
    sfun = np.zeros(rec.size)
    best_f, best_x = np.inf, x.copy()
    bad = -1
    k = 0
    nfev = 0
    if isinstance(m, EntropySGD):
        ef, _ = m.step_factors(steps, n)
        if lr_schedule is not None:
            ef = ef * lr_schedule.factors(steps, n)
        tf = np.ones(n) if schedule is None else schedule.factors(steps, n)
        L = m.inner_steps
        mb = np.zeros_like(x)
        for t in range(n):
            temp = float(temperature) * tf[t]
            gam = m.gamma * (1.0 + m.scoping) ** t
            xp = x.copy()
            mu = x.copy()
            sn = np.sqrt(2.0 * m.inner_step_size * temp) if temp > 0 else 0.0
            for ll in range(L):
                f, g = _eval(fg, xp, f"at iteration {t} (inner step {ll})")
                nfev += 1
                f = float(f)
                if ll == 0:
                    if keep[t]:
                        samples[k], sfun[k] = x, f
                        k += 1
                    if f < best_f:
                        best_f, best_x = f, x.copy()
                if not np.isfinite(f):
                    bad = t
                    break
                d = np.asarray(g, dtype=np.float64) - gam * (x - xp)
                xp = xp - m.inner_step_size * d
                if temp > 0:
                    z = normals(seed, (1, x.size), stream_offset=0, step=t * L + ll,
                                purpose=PURPOSE_NOISE)[0]
                    xp = xp + sn * z
                mu = m.beta1 * mu + (1.0 - m.beta1) * xp
            if bad >= 0:
                break
            df = x - mu
            if m.momentum > 0:
                mb = m.momentum * mb + df
                df = df + m.momentum * mb if m.nesterov else mb
            x = x - (m.step_size * ef[t]) * df
        return samples[:k], rec[:k], sfun[:k], x, best_f, best_x, bad, (n if bad < 0 else bad), \
            nfev
    opt = Optimizer(m, temperature=temperature, schedule=schedule, lr_schedule=lr_schedule,
                    total_steps=n, seed=seed)
    for t in range(n):
        f, g = _call(fg, x, f"at iteration {t}")
        nfev += 1
        if not np.isfinite(f):
            bad = t
            break
        if keep[t]:
            samples[k], sfun[k] = x, f
            k += 1
        if f < best_f:
            best_f, best_x = f, x.copy()
        opt.step(x, g)
    return samples[:k], rec[:k], sfun[:k], x, best_f, best_x, bad, (n if bad < 0 else bad), nfev
