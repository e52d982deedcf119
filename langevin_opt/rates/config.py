"""Config files of ``langevin-opt arrhenius``: defined in :mod:`langevin_opt.schema.arrhenius`.

Every config kind lives in :mod:`langevin_opt.schema`; this module keeps the
rates package's names.
"""

from __future__ import annotations

from ..schema.arrhenius import (
    CLUSTER_STRUCTURES,
    INTEGRATOR_KINDS,
    RatesExperiment,
    cluster_structure,
    load_rates_config,
    validate_rates_config,
)

__all__ = ["RatesExperiment", "validate_rates_config", "load_rates_config", "INTEGRATOR_KINDS",
           "CLUSTER_STRUCTURES", "cluster_structure"]
