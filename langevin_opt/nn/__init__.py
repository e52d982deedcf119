"""Neural networks as data landscapes.

* :mod:`.mlp`: compiled multilayer perceptrons (flat parameter vector,
  hand-written backpropagation, input gradients): :class:`MLP`;
* :mod:`.landscape`: :func:`mlp_landscape`, the training loss as a
  :class:`~langevin_opt.datalandscape.DataLandscape` (``U = N * mean loss + prior``);
* :mod:`.data`: teacher-student regression and classification, two moons,
  Fisher's Iris (shipped with the package), seeded splits;
* :mod:`.flatness`: Hessian-vector products, Hutchinson trace, Lanczos top
  eigenvalues, Entropy-SGD local entropy, basin width;
* :mod:`.symmetry`: hidden-unit permutations and sign flips acting on ``theta``,
  alignment (``linear_sum_assignment``), canonical forms, distinct minima;
* :mod:`.paths`: minima of the full-batch loss from many seeds, CI-NEB paths with
  image insertion, dimer-refined saddles and Hessian spectra between minima, and all
  the distinct saddles escaping walkers crossed (:func:`escape_saddles`);
* :mod:`.predictive`: class probabilities from logits (:func:`predict_proba`) and
  posterior-predictive summaries over kept samples (:func:`predictive_proba`,
  :func:`predictive_mean_var`), scored by :func:`accuracy`, :func:`nll` and
  :func:`gaussian_nll`;
* :mod:`.escape`: first passage out of a minimum under full-batch overdamped
  Langevin dynamics or plain minibatch SGD (quench-based commitment modulo
  symmetry), SGD's gradient noise as a diffusion, and the Eyring–Kramers rate
  over a path's saddle, or summed over several saddles.

Example::

    from langevin_opt import nn, sgmcmc

    ds = nn.two_moons(1000, 200, noise=0.1, seed=0)
    net = nn.MLP([2, 32, 2], "tanh", "softmax_ce")
    land = nn.mlp_landscape(net, ds.X_train, ds.y_train, batch_size=50, prior_sigma=1.0)
    res = sgmcmc.run_chains(land, "sgld", net.init_params(0), 5000, seed=1, n_chains=8,
                            step_size=0.05 / land.n_data, thin=100)
    lam = nn.top_eigenvalues(land, res.theta[0], k=3, seed=2)  # sharpest directions
    p = nn.predictive_proba(net, res, ds.X_test)      # averaged over the kept samples
    print(nn.accuracy(p, ds.y_test), nn.nll(p, ds.y_test))
"""

from .data import (
    Dataset,
    iris,
    teacher_student_classification,
    teacher_student_regression,
    train_test_split,
    two_moons,
)
from .escape import (
    NetworkFirstPassage,
    SGDFirstPassage,
    SGDNoise,
    escape_rates,
    eyring_kramers_rate,
    gradient_covariance,
    network_first_passage,
    per_example_gradients,
    sgd_first_passage,
    sgd_noise,
    slice_landscape,
)
from .flatness import (
    LocalEntropy,
    basin_width,
    hessian_trace,
    hessian_vector_product,
    local_entropy,
    top_eigenvalues,
)
from .landscape import mlp_landscape
from .mlp import ACTIVATIONS, LOSSES, MLP
from .paths import (
    Connection,
    EscapeSaddles,
    NetworkMinima,
    PathResult,
    connect,
    energy_function,
    escape_saddles,
    hessian_spectrum,
    minimum_energy_path,
    network_minima,
)
from .predictive import (
    accuracy,
    gaussian_nll,
    nll,
    predict_proba,
    predictive_mean_var,
    predictive_outputs,
    predictive_proba,
)
from .symmetry import (
    ODD_ACTIVATIONS,
    Alignment,
    HiddenSymmetry,
    MinimaClasses,
    align,
    apply_symmetry,
    canonical_form,
    distance_modulo_symmetry,
    distinct_minima,
    random_symmetry,
)

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "MLP",
    "ODD_ACTIVATIONS",
    "Alignment",
    "Connection",
    "Dataset",
    "EscapeSaddles",
    "HiddenSymmetry",
    "LocalEntropy",
    "MinimaClasses",
    "NetworkFirstPassage",
    "NetworkMinima",
    "PathResult",
    "SGDFirstPassage",
    "SGDNoise",
    "accuracy",
    "align",
    "apply_symmetry",
    "basin_width",
    "canonical_form",
    "connect",
    "distance_modulo_symmetry",
    "distinct_minima",
    "energy_function",
    "escape_rates",
    "escape_saddles",
    "eyring_kramers_rate",
    "gradient_covariance",
    "gaussian_nll",
    "hessian_spectrum",
    "hessian_trace",
    "hessian_vector_product",
    "iris",
    "local_entropy",
    "minimum_energy_path",
    "mlp_landscape",
    "network_first_passage",
    "network_minima",
    "per_example_gradients",
    "nll",
    "predict_proba",
    "predictive_mean_var",
    "predictive_outputs",
    "predictive_proba",
    "random_symmetry",
    "sgd_first_passage",
    "sgd_noise",
    "slice_landscape",
    "teacher_student_classification",
    "teacher_student_regression",
    "top_eigenvalues",
    "train_test_split",
    "two_moons",
]
