"""Deprecated: ``sgmcmc.minimize`` forwards to :func:`langevin_opt.optimize.minimize`.

The SciPy-convention :func:`langevin_opt.optimize.minimize` takes ``jac=``, ``tol=``,
``callback=`` and ``options=``, stops on convergence and keeps samples only when asked.
This wrapper keeps the old signature: it calls it with ``jac=True``,
``options={"keep_samples": True, ...}`` and the old ``gtol`` (``None``: no gradient test, the
run lasts ``maxiter`` steps; a ``gtol`` now also stops the run once it is met).

>>> import warnings
>>> import numpy as np
>>> from langevin_opt.optimize import minimize
>>> def fg(x):
...     return float(x @ x), 2 * x
>>> res = minimize(fg, np.ones(2), jac=True, method="sgd",
...                options={"step_size": 0.1, "maxiter": 100})
>>> bool(res.fun < 1e-10)
True
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..schedules import Schedule
from .methods import Method, ReplicaExchangeSGLD

if TYPE_CHECKING:  # SciPy is imported when a result is made (it costs half a second)
    from scipy.optimize import OptimizeResult

__all__ = ["minimize"]


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
    """Deprecated alias of :func:`langevin_opt.optimize.minimize` with ``jac=True``.

    Parameters
    ----------
    fun_and_grad : callable
        ``fun_and_grad(x) -> (f, grad)`` (plain Python or ``numba.njit``).
    x0 : array_like, shape (P,)
        Start.
    method : str or Method
        ``"sgd"``, ``"sgld"`` (default), ``"psgld"``, ``"sghmc"``, ``"csgld"``,
        ``"entropy-sgd"`` or an instance (replica exchange: use :func:`run_chains`).
    maxiter : int
        Steps (outer steps for Entropy-SGD), >= 1.
    temperature : float
        ``T >= 0`` (energy units, ``k_B = 1``; ignored by SGD).
    seed : int
        Generator key (keyword only; required for every method but ``"sgd"``).
    burn_in, thin : int
        Samples kept (all are kept, as before: ``keep_samples=True``).
    schedule, lr_schedule : Schedule, optional
        Temperature and step-size profiles over ``maxiter`` steps.
    gtol : float, optional
        Stop once ``max |grad f| <= gtol`` (``None``: no gradient test).
    **settings
        Method fields, e.g. ``step_size=1e-3``.

    Returns
    -------
    scipy.optimize.OptimizeResult
        As :func:`langevin_opt.optimize.minimize`, with ``samples``, ``sample_steps``,
        ``sample_fun`` and ``x_final``.

    Raises
    ------
    ValueError, TypeError, RuntimeError
        As :func:`langevin_opt.optimize.minimize`; ``ValueError`` for replica exchange.
    """
    warnings.warn("langevin_opt.sgmcmc.minimize is deprecated; use "
                  "langevin_opt.optimize.minimize(fun, x0, jac=True, method=..., "
                  "options={...}, seed=...)", DeprecationWarning, stacklevel=2)
    if isinstance(method, ReplicaExchangeSGLD) or (
            isinstance(method, str) and method.lower().replace("_", "-") == "resgld"):
        raise ValueError("minimize runs one chain; use run_chains() for replica exchange")
    from ..optimize import minimize as _minimize

    options = dict(maxiter=maxiter, temperature=temperature, burn_in=burn_in, thin=thin,
                   schedule=schedule, lr_schedule=lr_schedule, keep_samples=True, gtol=gtol,
                   **settings)
    return _minimize(fun_and_grad, x0, jac=True, method=method, options=options, seed=seed)
