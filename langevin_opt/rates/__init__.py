"""Escape rates: first-passage runs, rate estimators, Arrhenius fits, saddles and theory.

Reduced units with ``k_B = 1``: temperatures are energies, rates are in inverse
time units of the integrator (overdamped dynamics have unit friction).
"""

from .first_passage import Basins, FirstPassageResult, basins_from_landscape, first_passage

__all__ = ["Basins", "FirstPassageResult", "basins_from_landscape", "first_passage"]
