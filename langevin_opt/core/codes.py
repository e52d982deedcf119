"""Integrator codes: the one numbering every compiled kernel uses (walkers and particles).

The codes are compile-time (or run-time) branch selectors of the kernels, never
stored in results, so the numbering changes no number a run produces.
"""

from __future__ import annotations

__all__ = ["GD", "OVERDAMPED", "MALA", "BAOAB", "VELOCITY_VERLET"]

#: Gradient descent (walkers).
GD = 0
#: Overdamped Langevin, Euler–Maruyama (walkers, particles, first passage).
OVERDAMPED = 1
#: Metropolis-adjusted Langevin (walkers).
MALA = 2
#: BAOAB underdamped Langevin (walkers, particles, first passage).
BAOAB = 3
#: Velocity Verlet, NVE (particles).
VELOCITY_VERLET = 4
