"""Vectorizable scalar math for user landscapes (public re-export of ``_fastmath``).

``exp``, ``log`` and ``sincos_2pi`` are accurate to about 1 ulp and, unlike
``math.exp``/``math.log`` inside Numba code, let LLVM vectorize a loop over
walkers (see :mod:`langevin_opt.landscapes`).  Call them from ``njit`` code only.
"""

from ._fastmath import exp, log, sincos_2pi

__all__ = ["exp", "log", "sincos_2pi"]
