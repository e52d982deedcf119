"""Escape rates: first-passage runs, rate estimators, Arrhenius fits, saddles and theory.

Reduced units with ``k_B = 1``: temperatures are energies, rates are in inverse
time units of the integrator (overdamped dynamics have unit friction).

Modules
-------
:mod:`~langevin_opt.rates.first_passage`
    Compiled first-passage loop over walker ensembles (:func:`first_passage`).
:mod:`~langevin_opt.rates.estimators`
    Censored exponential MLE, mean first-passage time, goodness of fit.
:mod:`~langevin_opt.rates.arrhenius`
    Weighted Arrhenius fit, bootstrap, curvature test (the figure,
    :func:`arrhenius_plot`, is drawn by :mod:`langevin_opt.plotting`).
:mod:`~langevin_opt.rates.saddles`
    CI-NEB, dimer, Hessians on any ``f(x) -> (E, g)`` (landscapes, clusters).
:mod:`~langevin_opt.rates.theory`
    HTST (Vineyard), Kramers/Langer, Eyring–Kramers, exact 1-D MFPT.
:mod:`~langevin_opt.rates.config`, :mod:`~langevin_opt.rates.cli`
    ``langevin-opt arrhenius`` configs (defined in :mod:`langevin_opt.schema.arrhenius`)
    and command body.
"""

from ..plotting.arrhenius import arrhenius_plot
from .arrhenius import (
    ArrheniusFit,
    CurvatureTest,
    arrhenius_fit,
    bootstrap_arrhenius,
    curvature_test,
)
from .estimators import (
    GofResult,
    RateEstimate,
    estimate_rate,
    exponential_gof,
    exponential_rate,
    kaplan_meier,
    mean_first_passage_time,
)
from .first_passage import (
    Basins,
    FirstPassageResult,
    basins_from_landscape,
    first_passage,
    quench_basins,
)
from .saddles import (
    DimerResult,
    NEBResult,
    SaddleResult,
    analyse_point,
    dimer,
    find_saddle,
    hessian_fd,
    landscape_function,
    minimize,
    neb,
    rigid_body_modes,
)
from .theory import (
    HarmonicPoint,
    eyring_kramers_mfpt,
    harmonic_point,
    kramers_overdamped_rate,
    langer_rate,
    mfpt_1d_exact,
    vineyard_rate,
)

__all__ = [
    "ArrheniusFit", "CurvatureTest", "arrhenius_fit", "arrhenius_plot", "bootstrap_arrhenius",
    "curvature_test",
    "GofResult", "RateEstimate", "estimate_rate", "exponential_gof", "exponential_rate",
    "kaplan_meier", "mean_first_passage_time",
    "Basins", "FirstPassageResult", "basins_from_landscape", "first_passage", "quench_basins",
    "DimerResult", "NEBResult", "SaddleResult", "analyse_point", "dimer", "find_saddle",
    "hessian_fd", "landscape_function", "minimize", "neb", "rigid_body_modes",
    "HarmonicPoint", "eyring_kramers_mfpt", "harmonic_point", "kramers_overdamped_rate",
    "langer_rate", "mfpt_1d_exact", "vineyard_rate",
]
