"""Integer codes of the integrators, one table for every engine.

The codes are compile-time branch selectors of the compiled kernels (walkers in
:mod:`langevin_opt._kernels` and its CUDA twin, particle dynamics): a kernel is
specialised on its code, so the numbers themselves change no result.
"""

from __future__ import annotations

__all__ = ["BAOAB", "GD", "MALA", "OVERDAMPED", "VELOCITY_VERLET"]

#: Gradient descent ``x <- x - dt grad U``.
GD = 0
#: Overdamped Langevin, Euler-Maruyama.
OVERDAMPED = 1
#: Metropolis-adjusted Langevin.
MALA = 2
#: Underdamped Langevin, BAOAB splitting.
BAOAB = 3
#: Velocity Verlet (NVE).
VELOCITY_VERLET = 4
