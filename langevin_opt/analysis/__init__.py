"""Analysis tools: exact Boltzmann statistics, tests of samplers against them, MCMC diagnostics.

Units are the package's reduced units with ``k_B = 1``: temperatures ``T`` are
energies, lengths are the landscape's length unit, and the Boltzmann density is

``ρ_T(x) = exp(-U(x)/T) / Z(T)``,  ``Z(T) = ∫_B exp(-U(x)/T) dx``

over a box ``B`` (the landscape's ``bounds`` unless given).  ``Z`` carries units
of ``length^d``; the free energy ``F = -T ln Z`` is defined with that
convention (only differences of ``F`` are physical).

Modules, one concern each:

* :mod:`.hessian` — the one finite-difference Hessian (:func:`fd_hessian`,
  :func:`hessian`, :func:`laplacian`).
* :mod:`.basins` — gradient-descent quenches with the compiled ``method="gd"``
  integrator and basin labels (:func:`quench`, :func:`assign_basins`,
  :func:`grid_basin_labels`).
* :mod:`.quadrature` — composite Gauss–Legendre tensor grids and exact
  Boltzmann statistics (:func:`quadrature_grid`, :func:`exact_boltzmann`,
  :func:`basin_probabilities`).
* :mod:`.histograms` — exact bin probabilities and the Euler–Maruyama bias
  (:func:`bin_probabilities`, :func:`overdamped_bin_probabilities`,
  :func:`euler_maruyama_density_1d`).
* :mod:`.stats` — the chi-square goodness-of-fit test (:func:`chi_square_test`).
* :mod:`.diagnostics` — rank-normalised R-hat, bulk and tail effective sample
  size and Monte Carlo standard error after Vehtari et al. (2021), equal to
  ArviZ's; within-chain autocorrelation time.  Chains first ``(chain, draw, ...)``
  (:func:`rhat`, :func:`ess`, :func:`mcse`, :func:`split_rhat`,
  :func:`autocorr_time`).
* :mod:`.inference_data` — :func:`to_inference_data`: SG-MCMC chains, walker
  ensembles and replica-exchange runs as an ``arviz.InferenceData`` (ArviZ is an
  optional extra, imported only there).
* :mod:`.equipartition` — temperature estimators
  (:func:`kinetic_temperature_stats`, :func:`configurational_temperature`).
* :mod:`.crossover` — harmonic basin probabilities and basin crossover
  temperatures.

Accuracy (tested in ``tests/test_boltzmann.py``): with the default
``rtol = 1e-9``, ``ln Z`` and ``<U>`` agree with the closed forms of 1-D and
correlated 2-D Gaussian wells and with adaptive ``scipy.integrate.quad`` on the
double well to better than ``1e-9``; bin probabilities agree with Gaussian CDFs
to ``1e-10``; 1-D basin probabilities to ``1e-10``; 2-D basin probabilities
carry the error of an indicator function on the grid, estimated by
``basin_error`` (about ``1e-5``-``1e-4`` for Müller–Brown at ``T = 10-20``).
"""

from .basins import assign_basins, grid_basin_labels, quench
from .crossover import (
    crossover_temperature,
    harmonic_basin_probabilities,
    narrow_wide_harmonic_crossover,
)
from .diagnostics import autocorr_function, autocorr_time, ess, mcse, rhat, split_rhat
from .equipartition import configurational_temperature, kinetic_temperature_stats
from .hessian import fd_hessian, hessian, laplacian
from .histograms import (
    BinProbabilities,
    bin_probabilities,
    euler_maruyama_density_1d,
    overdamped_bin_probabilities,
)
from .inference_data import to_inference_data
from .quadrature import (
    BoltzmannResult,
    QuadratureGrid,
    basin_probabilities,
    exact_boltzmann,
    quadrature_grid,
)
from .stats import ChiSquareResult, chi_square_test

__all__ = [
    "BinProbabilities",
    "BoltzmannResult",
    "ChiSquareResult",
    "QuadratureGrid",
    "assign_basins",
    "autocorr_function",
    "autocorr_time",
    "basin_probabilities",
    "bin_probabilities",
    "chi_square_test",
    "configurational_temperature",
    "crossover_temperature",
    "ess",
    "euler_maruyama_density_1d",
    "exact_boltzmann",
    "fd_hessian",
    "grid_basin_labels",
    "harmonic_basin_probabilities",
    "hessian",
    "kinetic_temperature_stats",
    "laplacian",
    "mcse",
    "narrow_wide_harmonic_crossover",
    "overdamped_bin_probabilities",
    "quadrature_grid",
    "quench",
    "rhat",
    "split_rhat",
    "to_inference_data",
]
