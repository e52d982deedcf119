"""Config files (TOML) of every kind: one schema package, one error type, shared helpers.

* :mod:`._base` — what all kinds share: :class:`ConfigError` (one line naming the
  key), :class:`~._base.Field`, section and key checks with "did you mean" hints,
  type names, range checks, :func:`read_toml`.
* :mod:`.run` — ``langevin-opt run`` configs (:func:`load_config`,
  :func:`validate_config`, :class:`Experiment`); re-exported here.
* :mod:`.arrhenius` — ``langevin-opt arrhenius`` configs
  (:func:`~.arrhenius.load_rates_config`, :class:`~.arrhenius.RatesExperiment`).
* :mod:`.flatness` — the SGLD flatness experiment
  (:func:`~.flatness.load_flatness_config`).

The kind modules are imported on use (``langevin_opt.schema.arrhenius``), so
validating a run config does not import the rates or network packages.
"""

from ._base import ConfigError, read_toml
from .run import SECTIONS, Experiment, load_config, validate_config

__all__ = ["ConfigError", "Experiment", "SECTIONS", "load_config", "read_toml",
           "validate_config"]
