"""SciPy-convention optimisers built from the package's engines.

:func:`minimize` follows :func:`scipy.optimize.minimize`: ``minimize(fun, x0, args=(),
jac=None, method=..., tol=None, callback=None, options=None)`` returning a
:class:`scipy.optimize.OptimizeResult`.  The default method, ``"l-bfgs"``, is a
deterministic (``T = 0``) quasi-Newton optimiser; the SGD/Langevin family of
:mod:`langevin_opt.sgmcmc` (``"sgd"``, ``"sgld"``, ``"psgld"``, ``"sghmc"``, ``"csgld"``,
``"entropy-sgd"``) runs with ``options={"temperature": T, ...}`` and a keyword-only
``seed``.  Reduced units, ``k_B = 1``: temperatures are in the units of ``fun``.

:func:`global_minimize` searches a box for the global minimum (``bounds`` as SciPy's
global optimisers take them) with Langevin basin hopping and replica exchange (the default),
Langevin replica exchange with periodic quenches, or annealed Langevin ensembles with
restarts, and returns the distinct low minima it found with the best one.

>>> import numpy as np
>>> from langevin_opt.optimize import minimize
>>> res = minimize(lambda x: (float(x @ x), 2 * x), np.ones(3), jac=True)
>>> bool(res.success and res.fun < 1e-12)
True
"""

from ._global import GLOBAL_METHODS, global_minimize
from ._local import LOCAL_METHODS, minimize

__all__ = ["GLOBAL_METHODS", "LOCAL_METHODS", "global_minimize", "minimize"]
