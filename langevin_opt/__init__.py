"""langevin_opt: Numba-compiled Langevin optimisation and Boltzmann sampling.

Reduced units with ``k_B = 1`` throughout: temperatures are energies.
"""

from ._version import __version__
from .config import config
from .core.errors import DivergenceError, Interrupted
from .landscapes import (
    LANDSCAPES,
    Landscape,
    ackley,
    double_well,
    gaussian,
    landscape,
    make_landscape,
    muller_brown,
    narrow_wide,
    rastrigin,
)
from .sampling import (
    BAOAB,
    INTEGRATORS,
    MALA,
    EnsembleState,
    GradientDescent,
    Overdamped,
    ReplicaExchange,
    RunResult,
    Sampler,
    Trajectory,
    make_integrator,
    sample,
    uniform_positions,
)
from .schedules import SCHEDULES, ArraySchedule, Constant, Cosine, Geometric, Linear, make_schedule

__all__ = [
    "__version__",
    "config",
    "LANDSCAPES",
    "Landscape",
    "ackley",
    "double_well",
    "gaussian",
    "landscape",
    "make_landscape",
    "muller_brown",
    "narrow_wide",
    "rastrigin",
    "BAOAB",
    "INTEGRATORS",
    "MALA",
    "DivergenceError",
    "Interrupted",
    "EnsembleState",
    "GradientDescent",
    "Overdamped",
    "ReplicaExchange",
    "RunResult",
    "Sampler",
    "Trajectory",
    "make_integrator",
    "sample",
    "uniform_positions",
    "SCHEDULES",
    "ArraySchedule",
    "Constant",
    "Cosine",
    "Geometric",
    "Linear",
    "make_schedule",
]
