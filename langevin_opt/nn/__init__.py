"""Neural networks as data landscapes.

* :mod:`.mlp`: compiled multilayer perceptrons (flat parameter vector,
  hand-written backpropagation, input gradients);
* :mod:`.landscape`: :func:`mlp_landscape`, the training loss as a
  :class:`~langevin_opt.datalandscape.DataLandscape` (``U = N * mean loss + prior``);
* :mod:`.data`: synthetic and real small data sets;
* :mod:`.flatness`: Hessian trace and top eigenvalues, local entropy, basin width.
"""

from .landscape import mlp_landscape
from .mlp import ACTIVATIONS, LOSSES, MLP

__all__ = ["ACTIVATIONS", "LOSSES", "MLP", "mlp_landscape"]
