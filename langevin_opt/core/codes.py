"""Integrator codes: the compile-time branch selectors every compiled driver takes.

One numbering for every engine (walker ensembles, particle dynamics, first passage,
the CUDA drivers).  A code only selects a branch of compiled update math, so the
numbers carry no meaning beyond being distinct.
"""

from __future__ import annotations

__all__ = ["BAOAB", "GD", "MALA", "OVERDAMPED", "VELOCITY_VERLET"]

#: Gradient descent (no noise).
GD = 0
#: Overdamped Langevin (Euler–Maruyama).
OVERDAMPED = 1
#: Metropolis-adjusted Langevin.
MALA = 2
#: BAOAB underdamped Langevin.
BAOAB = 3
#: Velocity Verlet (NVE).
VELOCITY_VERLET = 4
