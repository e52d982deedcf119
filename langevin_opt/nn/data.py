"""Small data sets for neural-network landscapes: synthetic and real.

Every generator is seeded by ``numpy.random.default_rng(seed)`` and returns a
:class:`Dataset` (train and test parts), so the same seed gives the same
arrays on every machine.  Inputs are float64 ``(M, d)``; targets are float64
``(M, k)`` for regression and int64 labels ``(M,)`` for classification --
what :func:`~langevin_opt.nn.mlp_landscape` takes.

* :func:`teacher_student_regression` / :func:`teacher_student_classification`:
  Gaussian inputs labelled by a random "teacher" MLP (the student can
  represent the target exactly when it has the teacher's architecture);
* :func:`two_moons`: the two interleaved half circles (2-D, 2 classes);
* :func:`iris`: Fisher's Iris data (150 x 4, 3 classes), a real data set that
  ships inside this package (``langevin_opt/nn/_iris_data.py``, provenance
  there), so nothing is downloaded at run time;
* :func:`train_test_split`: a seeded random split.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.validation import check_int, check_nonnegative, check_real, check_seed
from .mlp import MLP

__all__ = [
    "Dataset",
    "iris",
    "teacher_student_classification",
    "teacher_student_regression",
    "train_test_split",
    "two_moons",
]


@dataclass(frozen=True)
class Dataset:
    """A data set split into training and test parts.

    Attributes
    ----------
    name : str
        Short name.
    X_train : numpy.ndarray of float64, shape (N, d)
    y_train : numpy.ndarray
        ``(N, k)`` float64 (regression) or ``(N,)`` int64 labels (classification).
    X_test : numpy.ndarray of float64, shape (M, d)
    y_test : numpy.ndarray
        As ``y_train`` with ``M`` rows (``M`` may be 0).
    n_classes : int
        Number of classes (0 for regression).
    info : dict
        Generator settings (seed, noise, teacher parameters ...).
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    info: dict

    @property
    def n_features(self) -> int:
        """Input dimension ``d``."""
        return int(self.X_train.shape[1])

    @property
    def n_outputs(self) -> int:
        """Network outputs needed: classes, or the target dimension ``k``."""
        return self.n_classes if self.n_classes else int(self.y_train.shape[1])


def train_test_split(X: np.ndarray, y: np.ndarray, test_fraction: float, *,
                     seed: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random split into ``round(test_fraction * M)`` test rows and the rest.

    Parameters
    ----------
    X : numpy.ndarray, shape (M, d)
    y : numpy.ndarray, shape (M, ...)
    test_fraction : float
        In ``[0, 1)``.
    seed : int
        Seed of ``numpy.random.default_rng`` (the permutation; keyword only, required).

    Returns
    -------
    X_train, y_train, X_test, y_test : numpy.ndarray
        Rows in permuted order.
    """
    seed = check_seed(seed)
    f = check_real("test_fraction", test_fraction, lo=0.0, hi=1.0, hi_open=True)
    X = np.asarray(X)
    y = np.asarray(y)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X and y must have the same number of rows, got {X.shape[0]} "
                         f"and {y.shape[0]}")
    m = X.shape[0]
    perm = np.random.default_rng(seed).permutation(m)
    n_test = int(round(f * m))
    te, tr = perm[:n_test], perm[n_test:]
    return X[tr].copy(), y[tr].copy(), X[te].copy(), y[te].copy()


def _teacher(sizes: Sequence[int], activation: str, seed: int) -> tuple[MLP, np.ndarray,
                                                                        np.random.Generator]:
    rng = np.random.default_rng(seed)
    net = MLP(sizes, activation, "mse")
    theta = np.zeros(net.n_params)
    for ws, shape, bs in net.layout():
        theta[ws] = rng.standard_normal(shape[0] * shape[1]) / np.sqrt(shape[1])
        theta[bs] = 0.1 * rng.standard_normal(shape[0])
    return net, theta, rng


def teacher_student_regression(n_train: int, n_test: int = 0, *,
                               sizes: Sequence[int] = (8, 16, 1), activation: str = "tanh",
                               noise: float = 0.1, seed: int | None = None) -> Dataset:
    """Regression targets from a random teacher MLP plus Gaussian noise.

    ``x ~ N(0, I_d)``, ``y = f_teacher(x) + noise * N(0, I_k)``; teacher
    weights ``N(0, 1 / fan_in)``, biases ``N(0, 0.01)``.

    Parameters
    ----------
    n_train, n_test : int
        Numbers of examples (``n_train >= 1``, ``n_test >= 0``).
    sizes : sequence of int
        Teacher architecture ``(d, ..., k)``.
    activation : str
        Teacher hidden activation.
    noise : float
        Standard deviation of the label noise (>= 0).
    seed : int
        Seed of ``numpy.random.default_rng`` (keyword only, required).

    Returns
    -------
    Dataset
        ``X`` of shape ``(n, d)``, ``y`` of shape ``(n, k)`` float64;
        ``info["teacher_theta"]`` the teacher's flat parameters.
    """
    seed = check_seed(seed)
    n_train = check_int("n_train", n_train, lo=1, hi=None)
    n_test = check_int("n_test", n_test, lo=0, hi=None)
    noise = check_nonnegative("noise", noise)
    net, theta, rng = _teacher(sizes, activation, seed)
    X = rng.standard_normal((n_train + n_test, net.sizes[0]))
    y = net.forward(theta, X) + noise * rng.standard_normal((n_train + n_test, net.sizes[-1]))
    return Dataset("teacher_student_regression", X[:n_train], y[:n_train], X[n_train:],
                   y[n_train:], 0, {"sizes": net.sizes, "activation": activation,
                                    "noise": float(noise), "seed": seed,
                                    "teacher_theta": theta})


def teacher_student_classification(n_train: int, n_test: int = 0, *,
                                   sizes: Sequence[int] = (8, 16, 3), activation: str = "tanh",
                                   seed: int | None = None) -> Dataset:
    """Class labels ``argmax f_teacher(x)`` of a random teacher MLP, ``x ~ N(0, I_d)``.

    Parameters
    ----------
    n_train, n_test : int
        Numbers of examples (``n_train >= 1``, ``n_test >= 0``).
    sizes : sequence of int
        Teacher architecture ``(d, ..., k)``, ``k >= 2`` classes.
    activation : str
        Teacher hidden activation.
    seed : int
        Seed of ``numpy.random.default_rng`` (keyword only, required).

    Returns
    -------
    Dataset
        ``X`` of shape ``(n, d)``, int64 labels ``y`` in ``[0, k)``.
    """
    seed = check_seed(seed)
    n_train = check_int("n_train", n_train, lo=1, hi=None)
    n_test = check_int("n_test", n_test, lo=0, hi=None)
    if len(sizes) < 2 or int(sizes[-1]) < 2:
        raise ValueError(f"sizes must end with >= 2 classes, got {tuple(sizes)!r}")
    net, theta, rng = _teacher(sizes, activation, seed)
    X = rng.standard_normal((n_train + n_test, net.sizes[0]))
    y = np.argmax(net.forward(theta, X), axis=1).astype(np.int64)
    return Dataset("teacher_student_classification", X[:n_train], y[:n_train], X[n_train:],
                   y[n_train:], net.sizes[-1], {"sizes": net.sizes, "activation": activation,
                                                "seed": seed, "teacher_theta": theta})


def two_moons(n_train: int, n_test: int = 0, *, noise: float = 0.1,
              seed: int | None = None) -> Dataset:
    """Two interleaving half circles in 2-D (classes 0 and 1, alternating).

    Example ``i`` has class ``i % 2`` and angle ``t ~ U(0, pi)``: class 0 at
    ``(cos t, sin t)``, class 1 at ``(1 - cos t, 1/2 - sin t)``, plus
    ``noise * N(0, I_2)``.

    Parameters
    ----------
    n_train, n_test : int
        Numbers of examples (``n_train >= 1``, ``n_test >= 0``).
    noise : float
        Standard deviation of the Gaussian jitter (>= 0).
    seed : int
        Seed of ``numpy.random.default_rng`` (keyword only, required).

    Returns
    -------
    Dataset
        ``X`` of shape ``(n, 2)``, int64 labels in ``{0, 1}``.
    """
    seed = check_seed(seed)
    n_train = check_int("n_train", n_train, lo=1, hi=None)
    n_test = check_int("n_test", n_test, lo=0, hi=None)
    noise = check_nonnegative("noise", noise)
    rng = np.random.default_rng(seed)
    m = n_train + n_test
    y = (np.arange(m) % 2).astype(np.int64)
    t = rng.uniform(0.0, np.pi, m)
    X = np.where(y[:, None] == 0, np.stack([np.cos(t), np.sin(t)], 1),
                 np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], 1))
    X = X + noise * rng.standard_normal((m, 2))
    return Dataset("two_moons", X[:n_train], y[:n_train], X[n_train:], y[n_train:], 2,
                   {"noise": float(noise), "seed": seed})


#: Species names of :func:`iris`, in label order.
IRIS_CLASSES = ("setosa", "versicolor", "virginica")


def iris(*, test_fraction: float = 0.3, standardize: bool = True,
         seed: int | None = None) -> Dataset:
    """Fisher's Iris data: 150 flowers, 4 measurements (cm), 3 species.

    The data ship with langevin_opt (``langevin_opt/nn/_iris_data.py``: Fisher
    1936 via the UCI repository; provenance and licence there).

    Parameters
    ----------
    test_fraction : float
        Fraction of the 150 rows held out, in ``[0, 1)`` (random split).
    standardize : bool
        Shift and scale each feature to mean 0 and standard deviation 1 using
        the *training* rows' statistics (``info["mean"]``, ``info["std"]``).
    seed : int
        Seed of the split (keyword only, required).

    Returns
    -------
    Dataset
        ``X`` of shape ``(n, 4)`` float64, int64 labels in ``{0, 1, 2}``
        (:data:`IRIS_CLASSES`); ``n_train = 150 - round(150 * test_fraction)``.
    """
    from ._iris_data import IRIS_CSV

    raw = np.genfromtxt(io.StringIO(IRIS_CSV), delimiter=",", skip_header=1, dtype=str)
    X = raw[:, :4].astype(np.float64)
    y = np.array([IRIS_CLASSES.index(s) for s in raw[:, 4]], dtype=np.int64)
    seed = check_seed(seed)
    Xtr, ytr, Xte, yte = train_test_split(X, y, test_fraction, seed=seed)
    info: dict = {"seed": seed, "test_fraction": float(test_fraction),
                  "features": ("sepal_length", "sepal_width", "petal_length", "petal_width")}
    if standardize:
        mu = Xtr.mean(axis=0)
        sd = Xtr.std(axis=0)
        Xtr = (Xtr - mu) / sd
        Xte = (Xte - mu) / sd
        info.update(mean=mu, std=sd)
    return Dataset("iris", Xtr, ytr, Xte, yte, 3, info)
