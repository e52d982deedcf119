"""Every figure the package draws (matplotlib with the Agg backend, imported on first use).

Front ends (the command line, the runner, the rates command, the paper
scripts) gather arrays and call these functions; importing this package does
not import matplotlib, so commands that draw nothing never load it.

* :mod:`.runs` — walker runs: :func:`basin_crossover_figure` (``run``),
  :func:`energy_figure`, :func:`histogram_figure`, :func:`paths_figure`,
  :func:`swap_acceptance_figure`, :func:`survival_figure`, :func:`thermo_figure` (``plot``).
* :mod:`.arrhenius` — :func:`arrhenius_plot` (``arrhenius``).
* :mod:`.flatness` — :func:`flatness_figure` (``paper/figures/fig_flatness.py``).
* :mod:`.mlip` — :func:`learning_curve_figure` (``fit-potential``),
  :func:`potential_validation_figure` (``paper/figures/fig_mlip.py``),
  :func:`transfer_learning_figure` (``paper/figures/fig_mlip_transfer.py``),
  :func:`uncertainty_figure` (``paper/figures/fig_mlip_uncertainty.py``),
  :func:`active_learning_figure` (``active-learn``).
* :mod:`.outputs` — figures of the other outputs (``plot FILE``):
  :func:`chain_energy_figure` (SG-MCMC chains), :func:`run_summary_figure`,
  :func:`error_curves_figure` (active learning), :func:`member_errors_figure`,
  :func:`parameter_histogram_figure`, :func:`pool_figure`, :func:`sweep_figure`.
* :mod:`.barriers` — :func:`network_barriers_figure` (``paper/figures/fig_nn_barriers.py``).
* :mod:`.globalopt` — :func:`globalopt_figure` (``benchmarks/bench_globalopt.py --figure``).
* :mod:`._base` — the lazy import, saving, zoom boxes and contour levels.
"""

from .arrhenius import arrhenius_plot
from .barriers import network_barriers_figure
from .flatness import flatness_figure
from .globalopt import globalopt_figure
from .mlip import (
    active_learning_figure,
    learning_curve_figure,
    potential_validation_figure,
    transfer_learning_figure,
    uncertainty_figure,
)
from .outputs import (
    chain_energy_figure,
    error_curves_figure,
    member_errors_figure,
    parameter_histogram_figure,
    pool_figure,
    run_summary_figure,
    sweep_figure,
)
from .runs import (
    basin_crossover_figure,
    energy_figure,
    histogram_figure,
    paths_figure,
    survival_figure,
    swap_acceptance_figure,
    thermo_figure,
)

__all__ = ["active_learning_figure", "arrhenius_plot", "basin_crossover_figure",
           "chain_energy_figure", "energy_figure", "error_curves_figure", "flatness_figure",
           "globalopt_figure", "histogram_figure", "learning_curve_figure",
           "member_errors_figure", "network_barriers_figure", "parameter_histogram_figure",
           "paths_figure", "pool_figure", "potential_validation_figure", "run_summary_figure",
           "survival_figure", "swap_acceptance_figure", "sweep_figure", "thermo_figure",
           "transfer_learning_figure", "uncertainty_figure"]
