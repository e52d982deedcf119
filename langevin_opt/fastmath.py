"""Vectorizable scalar math for user landscapes (public re-export of ``_fastmath``).

``exp``, ``log`` and ``sincos_2pi`` are accurate to about 1 ulp and, unlike
``math.exp``/``math.log`` inside Numba code, let LLVM vectorize a loop over
walkers (see :mod:`langevin_opt.landscapes`).  ``tanh``, ``sigmoid``,
``softplus`` and ``log1p`` (within a few ulp) serve neural-network code.
``tanh`` is too large for LLVM to inline by itself into a loop it vectorizes;
:mod:`langevin_opt.nn.mlp` inlines it at the Numba IR level
(``njit(inline="always")`` callers), which is what user kernels should do too.
Call them from ``njit`` code only.
"""

from ._fastmath import exp, log, log1p, sigmoid, sincos_2pi, softplus, tanh

__all__ = ["exp", "log", "sincos_2pi", "tanh", "sigmoid", "softplus", "log1p"]
