"""MCMC diagnostics for chains: re-exported from :mod:`langevin_opt.analysis.diagnostics`.

Chains first: ``x`` has shape ``(n_chains, n_draws)`` or ``(n_chains, n_draws, ...)``;
``ChainResult.samples`` and ``ChainResult.energies`` have that layout (see that module).
"""

from __future__ import annotations

from ..analysis.diagnostics import (
    autocorr_function,
    autocorr_time,
    ess,
    mcse,
    rhat,
    split_rhat,
)

__all__ = ["autocorr_function", "autocorr_time", "ess", "mcse", "rhat", "split_rhat"]
