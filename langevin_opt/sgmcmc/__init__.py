"""Stochastic-gradient MCMC and Langevin optimisers for data landscapes.

Methods (:mod:`.methods`): SGD, SGLD (Welling & Teh 2011), pSGLD (Li et al.
2016), SGHMC (Chen et al. 2014), cyclical SGLD (Zhang et al. 2020),
replica-exchange SGLD (Deng et al. 2020) and Entropy-SGD (Chaudhari et al.
2017).  :func:`run_chains` runs many chains on a
:class:`~langevin_opt.datalandscape.DataLandscape` in one compiled loop;
:class:`Optimizer` updates a user's NumPy array in place; :func:`minimize`
is the SciPy-style entry point; :mod:`.diagnostics` gives R-hat, bulk and tail
effective sample sizes and Monte Carlo standard errors (Vehtari et al. 2021, as
ArviZ), chains first: ``ChainResult.samples`` is ``(chains, kept, params)`` and
``ChainResult.energies`` ``(chains, kept)``, ready to pass.

Energy convention: ``U = -log posterior`` (``sum_i loss_i + prior``), target
``exp(-U/T)``, SGLD step ``theta <- theta - eta grad U~ + sqrt(2 eta T) xi``
(``eta = ε/2`` of Welling & Teh; ``eta = lr / N`` for a mean-loss learning
rate ``lr``).

Example
-------
>>> import numpy as np
>>> from langevin_opt.sgmcmc import (SGLD, run_chains, linear_regression,
...                                  make_linear_data, rhat)
>>> X, y = make_linear_data(200, [1.0, -0.5], seed=0)
>>> land = linear_regression(X, y, batch_size=50)           # a DataLandscape
>>> res = run_chains(land, SGLD(step_size=5e-5), np.zeros(2), 4_000,
...                  n_chains=16, seed=1, burn_in=1_000, thin=10)
>>> res.samples.shape                                       # (chains, kept, params)
(16, 300, 2)
>>> bool(np.all(rhat(res.samples) < 1.1))
True
"""

from .methods import (
    METHODS,
    PSGLD,
    SGD,
    SGHMC,
    SGLD,
    CyclicalSGLD,
    EntropySGD,
    ReplicaExchangeSGLD,
    cyclical_step_sizes,
    make_method,
)
from .minimize import minimize
from .models import (
    linear_regression,
    linear_regression_posterior,
    logistic_regression,
    make_linear_data,
    make_logistic_data,
)
from .optimizer import Optimizer
from .run import ChainResult, ChainState, run_chains

__all__ = [
    "METHODS",
    "SGD",
    "SGLD",
    "PSGLD",
    "SGHMC",
    "CyclicalSGLD",
    "ReplicaExchangeSGLD",
    "EntropySGD",
    "cyclical_step_sizes",
    "make_method",
    "run_chains",
    "ChainResult",
    "ChainState",
    "Optimizer",
    "minimize",
    "autocorr_time",
    "ess",
    "mcse",
    "rhat",
    "split_rhat",
    "linear_regression",
    "linear_regression_posterior",
    "logistic_regression",
    "make_linear_data",
    "make_logistic_data",
]

#: re-exported lazily from :mod:`.diagnostics`: it imports SciPy (half a second), which a
#: run does not need
_DIAGNOSTICS = ("autocorr_time", "ess", "mcse", "rhat", "split_rhat")


def __getattr__(name: str) -> object:
    if name in _DIAGNOSTICS:
        from . import diagnostics

        return getattr(diagnostics, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
