"""SciPy-convention optimisers built from the package's engines.

:func:`minimize` follows :func:`scipy.optimize.minimize`: ``minimize(fun, x0, args=(),
jac=None, method=..., tol=None, callback=None, options=None)`` returning a
:class:`scipy.optimize.OptimizeResult`.  The default method, ``"l-bfgs"``, is a
deterministic (``T = 0``) quasi-Newton optimiser; the SGD/Langevin family of
:mod:`langevin_opt.sgmcmc` (``"sgd"``, ``"sgld"``, ``"psgld"``, ``"sghmc"``, ``"csgld"``,
``"entropy-sgd"``) runs with ``options={"temperature": T, ...}`` and a keyword-only
``seed``.  Reduced units, ``k_B = 1``: temperatures are in the units of ``fun``.

>>> import numpy as np
>>> from langevin_opt.optimize import minimize
>>> res = minimize(lambda x: (float(x @ x), 2 * x), np.ones(3), jac=True)
>>> bool(res.success and res.fun < 1e-12)
True
"""

from ._local import LOCAL_METHODS, minimize

__all__ = ["LOCAL_METHODS", "minimize"]
