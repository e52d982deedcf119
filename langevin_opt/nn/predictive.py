"""Class probabilities and posterior-predictive summaries of networks over kept samples.

For parameter samples ``theta_1 … theta_K`` (e.g. the kept SGLD samples of
:func:`langevin_opt.sgmcmc.run_chains`, ``res.samples``):

* classification: the posterior-predictive class probabilities are the average
  of the per-sample probabilities, ``p(y | x) = (1/K) sum_k softmax(f(x; theta_k))``
  (:func:`predictive_proba`; :func:`predict_proba` turns one set of logits into
  probabilities); :func:`accuracy` and :func:`nll` (``-mean log p(y_i | x_i)``,
  natural log) score them;
* regression (``"mse"`` loss, Gaussian noise of variance ``sigma^2 = noise_var``):
  the predictive mean ``(1/K) sum_k f(x; theta_k)`` and variance
  ``(1/K) sum_k (f_k - mean)^2 + sigma^2`` (the spread of the samples plus the
  noise, :func:`predictive_mean_var`), scored by :func:`gaussian_nll`.

Samples may be given as ``(K, P)``, as any array whose last axis is ``P`` (e.g.
``(C, S, P)``, the (chain, draw, param) layout of ``ChainResult.samples``: all leading
axes are pooled, ``k`` running over chain 0's draws, then chain 1's, ...), or as a
:class:`~langevin_opt.sgmcmc.ChainResult`.
"""

from __future__ import annotations

import numpy as np

from ..core.validation import check_choice
from .mlp import MLP

__all__ = [
    "accuracy",
    "gaussian_nll",
    "nll",
    "predict_proba",
    "predictive_mean_var",
    "predictive_outputs",
    "predictive_proba",
]

#: link names of :func:`predict_proba`
LINKS = ("softmax", "sigmoid")


def _log_proba(logits: np.ndarray, link: str) -> np.ndarray:
    """Log class probabilities ``(..., n_classes)`` from validated float logits."""
    if link == "softmax":
        z = logits - logits.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    z = logits[..., 0]
    # log sigmoid(z) = -log(1 + exp(-z)), stably for either sign
    log_p1 = -np.logaddexp(0.0, -z)
    log_p0 = -np.logaddexp(0.0, z)
    return np.stack([log_p0, log_p1], axis=-1)


def _check_logits(logits: object, link: str) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    if link == "sigmoid" and z.ndim >= 1 and z.shape[-1] != 1:
        z = z[..., None]
    if z.ndim < 2 or z.shape[-1] < 1 or (link == "softmax" and z.shape[-1] < 2):
        need = "(M, n_classes) with n_classes >= 2" if link == "softmax" else "(M,) or (M, 1)"
        raise ValueError(f"logits must have shape {need} for link {link!r}, got "
                         f"{np.shape(logits)}")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits must be finite")
    return z


def predict_proba(logits: object, link: str = "softmax") -> np.ndarray:
    """Class probabilities from network outputs (``MLP.forward``).

    Parameters
    ----------
    logits : array_like
        ``"softmax"``: shape ``(M, n_classes)`` (``n_classes >= 2``), the outputs of a
        ``"softmax_ce"`` network; ``"sigmoid"``: shape ``(M,)`` or ``(M, 1)``, one
        logit per example of a binary classifier.  Leading batch axes are allowed.
    link : {"softmax", "sigmoid"}
        The link of the loss the network was trained with.

    Returns
    -------
    numpy.ndarray, shape (..., n_classes)
        Probabilities summing to 1 along the last axis; for ``"sigmoid"`` the two
        columns are ``1 - sigmoid(z)`` (class 0) and ``sigmoid(z)`` (class 1).
    """
    link = check_choice("link", link, LINKS)
    return np.exp(_log_proba(_check_logits(logits, link), link))


def _samples(net: MLP, samples: object) -> np.ndarray:
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an MLP, got {type(net).__name__}")
    th = getattr(samples, "samples", samples)  # a ChainResult: its kept samples
    th = np.asarray(th, dtype=np.float64)
    if th.ndim < 1 or th.shape[-1] != net.n_params or th.size == 0:
        raise ValueError(f"samples must have shape (K, {net.n_params}) (any leading axes, the "
                         f"last one the {net.n_params} parameters), got {np.shape(th)}")
    th = th.reshape(-1, net.n_params)
    if not np.all(np.isfinite(th)):
        raise ValueError("samples must be finite")
    return th


def predictive_outputs(net: MLP, samples: object, X: object) -> np.ndarray:
    """Network outputs for every kept sample.

    Parameters
    ----------
    net : MLP
        The architecture the samples belong to.
    samples : array_like, shape (..., P), or ChainResult
        Parameter samples; leading axes are pooled into ``K``.
    X : array_like, shape (M, s_0)
        Inputs.

    Returns
    -------
    numpy.ndarray, shape (K, M, s_L)
        ``f(X; theta_k)`` (logits for ``"softmax_ce"``).
    """
    th = _samples(net, samples)
    x = net.check_inputs(X)
    if not np.all(np.isfinite(x)):
        raise ValueError("X must be finite")
    return np.stack([net.forward(t, x) for t in th])


def predictive_proba(net: MLP, samples: object, X: object, *,
                     link: str | None = None) -> np.ndarray:
    """Posterior-predictive class probabilities averaged over kept samples.

    Parameters
    ----------
    net : MLP
        A classifier (``loss="softmax_ce"``), or a one-output network with
        ``link="sigmoid"``.
    samples : array_like, shape (..., P), or ChainResult
        Parameter samples (leading axes pooled).
    X : array_like, shape (M, s_0)
        Inputs.
    link : {"softmax", "sigmoid"}, optional
        Default ``"softmax"`` for a ``"softmax_ce"`` network; required otherwise.

    Returns
    -------
    numpy.ndarray, shape (M, n_classes)
        ``(1/K) sum_k p(y | x, theta_k)``; rows sum to 1.
    """
    return np.exp(_log_predictive(net, samples, X, link))


def _log_predictive(net: MLP, samples: object, X: object, link: str | None) -> np.ndarray:
    if link is None:
        if not isinstance(net, MLP) or net.loss != "softmax_ce":
            raise ValueError("link must be given ('softmax' or 'sigmoid') for a network whose "
                             f"loss is not 'softmax_ce' (got loss "
                             f"{getattr(net, 'loss', None)!r})")
        link = "softmax"
    link = check_choice("link", link, LINKS)
    f = predictive_outputs(net, samples, X)
    lp = _log_proba(_check_logits(f, link), link)  # (K, M, n_classes)
    m = lp.max(axis=0)
    return m + np.log(np.exp(lp - m).mean(axis=0))  # log of the mean, stably


def predictive_mean_var(net: MLP, samples: object, X: object, *,
                        include_noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Posterior-predictive mean and variance of a regression network.

    Parameters
    ----------
    net : MLP
        A regression network (``loss="mse"``, noise variance ``net.noise_var``).
    samples : array_like, shape (..., P), or ChainResult
        Parameter samples (leading axes pooled into ``K``).
    X : array_like, shape (M, s_0)
        Inputs.
    include_noise : bool
        Add the likelihood's noise variance ``sigma^2 = net.noise_var`` (the
        variance of a new observation); ``False`` gives the spread of ``f`` alone.

    Returns
    -------
    mean : numpy.ndarray, shape (M, s_L)
        ``(1/K) sum_k f(x; theta_k)``.
    var : numpy.ndarray, shape (M, s_L)
        ``(1/K) sum_k (f_k - mean)^2`` (+ ``sigma^2``).
    """
    if isinstance(net, MLP) and net.loss != "mse":
        raise ValueError(f"predictive_mean_var needs a regression network (loss 'mse'), got "
                         f"loss {net.loss!r}; use predictive_proba for classifiers")
    f = predictive_outputs(net, samples, X)
    mean = f.mean(axis=0)
    var = f.var(axis=0)
    if include_noise:
        var = var + net.noise_var
    return mean, var


def _check_proba_labels(proba: object, y: object) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"proba must have shape (M, n_classes) with n_classes >= 2, got "
                         f"{np.shape(proba)}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("proba must be finite and >= 0")
    ya = np.asarray(y)
    if ya.shape != (p.shape[0],) or not np.issubdtype(ya.dtype, np.integer):
        raise ValueError(f"y must be integer labels of shape ({p.shape[0]},), got shape "
                         f"{ya.shape} dtype {ya.dtype}")
    if ya.size and (ya.min() < 0 or ya.max() >= p.shape[1]):
        raise ValueError(f"y labels must be in [0, {p.shape[1]}), got range "
                         f"[{ya.min()}, {ya.max()}]")
    if p.shape[0] == 0:
        raise ValueError("proba and y must hold at least one example")
    return p, ya.astype(np.int64)


def accuracy(proba: object, y: object) -> float:
    """Fraction of examples whose most probable class is the label.

    Parameters
    ----------
    proba : array_like, shape (M, n_classes)
        Class probabilities (or any scores: only the argmax counts; ties go to the
        lowest class index).
    y : array_like of int, shape (M,)
        Labels in ``[0, n_classes)``.

    Returns
    -------
    float
        In ``[0, 1]``.
    """
    p, ya = _check_proba_labels(proba, y)
    return float(np.mean(np.argmax(p, axis=1) == ya))


def nll(proba: object, y: object) -> float:
    """Mean negative log-likelihood ``-(1/M) sum_i log p(y_i | x_i)`` (natural log).

    Parameters
    ----------
    proba : array_like, shape (M, n_classes)
        Class probabilities (rows summing to 1, e.g. from :func:`predictive_proba`).
    y : array_like of int, shape (M,)
        Labels in ``[0, n_classes)``.

    Returns
    -------
    float
        ``>= 0``; ``inf`` if a label has probability 0.
    """
    p, ya = _check_proba_labels(proba, y)
    if np.any(np.abs(p.sum(axis=1) - 1.0) > 1e-6):
        raise ValueError("proba rows must sum to 1")
    with np.errstate(divide="ignore"):
        return float(-np.mean(np.log(p[np.arange(ya.size), ya])))


def gaussian_nll(mean: object, var: object, y: object) -> float:
    """Mean Gaussian negative log-likelihood of regression targets.

    Parameters
    ----------
    mean, var : array_like, shape (M, s_L) or (M,)
        Predictive mean and variance (``var > 0``), e.g. from
        :func:`predictive_mean_var`.
    y : array_like, same shape as ``mean`` (``(M,)`` allowed for ``s_L = 1``)
        Targets.

    Returns
    -------
    float
        ``(1/M) sum_i sum_j [log(2 pi var_ij) / 2 + (y_ij - mean_ij)^2 / (2 var_ij)]``.
    """
    mu = np.asarray(mean, dtype=np.float64)
    v = np.asarray(var, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    if t.ndim == 1 and mu.ndim == 2 and mu.shape[1] == 1:
        t = t[:, None]
    if mu.ndim not in (1, 2) or v.shape != mu.shape or t.shape != mu.shape or mu.size == 0:
        raise ValueError(f"mean, var and y must have one shape (M, s_L) or (M,), got "
                         f"{np.shape(mean)}, {np.shape(var)}, {np.shape(y)}")
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(t)) and np.all(np.isfinite(v))):
        raise ValueError("mean, var and y must be finite")
    if np.any(v <= 0):
        raise ValueError("var must be > 0")
    per = 0.5 * np.log(2 * np.pi * v) + (t - mu) ** 2 / (2 * v)
    return float(per.reshape(per.shape[0], -1).sum(axis=1).mean())
