"""Stochastic-gradient MCMC and Langevin optimisers for data landscapes.

Methods (:mod:`.methods`): SGD, SGLD (Welling & Teh 2011), pSGLD (Li et al.
2016), SGHMC (Chen et al. 2014), cyclical SGLD (Zhang et al. 2020),
replica-exchange SGLD (Deng et al. 2020) and Entropy-SGD (Chaudhari et al.
2017).  :func:`run_chains` runs many chains on a
:class:`~langevin_opt.datalandscape.DataLandscape` in one compiled loop;
:class:`Optimizer` updates a user's NumPy array in place; :func:`minimize`
is the SciPy-style entry point; :mod:`.diagnostics` gives autocorrelation
times, effective sample sizes and split R-hat.
"""

from .diagnostics import autocorr_time, ess, split_rhat
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
from .run import ChainResult, run_chains

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
    "Optimizer",
    "minimize",
    "autocorr_time",
    "ess",
    "split_rhat",
    "linear_regression",
    "linear_regression_posterior",
    "logistic_regression",
    "make_linear_data",
    "make_logistic_data",
]
