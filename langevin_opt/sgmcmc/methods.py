"""Stochastic-gradient optimisers and samplers: validated settings.

Energy convention (see :mod:`langevin_opt.datalandscape`): ``U = -log p(theta | data)``
(up to a constant), ``U~`` its unbiased minibatch estimate, and at temperature
``T`` (``k_B = 1``) the target density is ``exp(-U / T)``.  ``T = 1`` is the
Bayesian posterior, ``T -> 0`` minimisation of the regularised training loss.

Step-size conventions
---------------------
Every ``step_size`` here is ``eta`` in the *energy* form of Langevin dynamics,

``theta <- theta - eta * grad U~(theta) + sqrt(2 * eta * T) * xi``,   ``xi ~ N(0, I)``.

* Welling & Teh (2011) write ``Δθ = (ε/2) ∇log p + N(0, ε)``: ``eta = ε / 2``
  (at ``T = 1``).
* Deep-learning code differentiates the *mean* loss ``L = U / N`` with a
  learning rate ``lr``: ``lr * grad L = (lr / N) * grad U``, so ``eta = lr / N``
  and the matching noise has standard deviation ``sqrt(2 * lr * T / N)``.

Each class below is a frozen dataclass whose ``__post_init__`` validates every
field (a wrong type raises ``TypeError``, a value out of range ``ValueError``,
one line naming the field and its allowed range).  :data:`METHODS` maps names
to classes; :func:`make_method` builds one by name with did-you-mean errors.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from ..core.validation import (
    check_int,
    check_nonnegative,
    check_positive,
    check_real,
    check_settings,
    suggest,
)

__all__ = [
    "SGD",
    "SGLD",
    "PSGLD",
    "SGHMC",
    "CyclicalSGLD",
    "ReplicaExchangeSGLD",
    "EntropySGD",
    "Method",
    "METHODS",
    "make_method",
    "method_to_config",
    "cyclical_step_sizes",
]

# method codes used by the compiled kernels
K_SGD, K_SGLD, K_PSGLD, K_SGHMC, K_CSGLD, K_RESGLD, K_ENTROPY = range(7)


def _check_decay(decay: object, offset: object) -> None:
    try:
        d = check_real("decay", decay, lo=0.0, hi=1.0)  # a wrong type raises TypeError
    except ValueError:
        d = -1.0
    if not (d == 0.0 or 0.5 < d <= 1.0):
        raise ValueError(f"decay must be a finite number in {{0}} or (0.5, 1], got {decay!r}")
    check_positive("decay_offset", offset)


def _decay_factors(decay: float, offset: float, steps: np.ndarray) -> np.ndarray:
    if decay == 0.0:
        return np.ones(len(steps))
    return (1.0 + np.asarray(steps, dtype=np.float64) / offset) ** (-decay)


@dataclass(frozen=True)
class SGD:
    """Stochastic gradient descent, ``theta <- theta - eta * grad U~`` (the ``T = 0`` limit).

    Parameters
    ----------
    step_size : float
        ``eta`` (> 0), energy units (``lr / N`` for a mean-loss learning rate).
    """

    step_size: float = 1e-3
    kind = "sgd"
    code = K_SGD

    def __post_init__(self) -> None:
        check_positive("step_size", self.step_size)

    def hyper(self) -> np.ndarray:
        """Kernel constants (none for SGD).

        Returns
        -------
        numpy.ndarray, shape (8,)
        """
        return np.zeros(8)

    def step_factors(self, steps: np.ndarray, total: int) -> tuple[np.ndarray, np.ndarray]:
        """Step-size and temperature factors of the method itself at global ``steps``.

        Parameters
        ----------
        steps : numpy.ndarray of int
            Global step indices.
        total : int
            Total steps of the run (used by cyclical schedules).

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            Factors multiplying ``step_size`` and the temperature.
        """
        n = len(steps)
        return np.ones(n), np.ones(n)


@dataclass(frozen=True)
class SGLD(SGD):
    """Stochastic gradient Langevin dynamics (Welling & Teh, ICML 2011, pp. 681-688).

    ``theta <- theta - eta_t grad U~(theta) + sqrt(2 eta_t T) xi``; with
    ``eta_t = step_size * (1 + t / decay_offset) ** -decay`` (Welling & Teh's
    ``ε_t = a (b + t)^-γ`` with ``γ = decay``, ``b = decay_offset``,
    ``a = 2 step_size b^γ``).  No Metropolis correction: the stationary
    density is ``exp(-U/T)`` up to an ``O(eta)`` bias (plus the minibatch-noise
    bias ``O(eta * Var grad U~)``).  At ``T = 0`` it is SGD bit for bit.

    Parameters
    ----------
    step_size : float
        ``eta_0 = ε_0 / 2`` (> 0), energy units.
    decay : float
        Polynomial decay exponent ``γ``: 0 (constant step) or in (0.5, 1].
    decay_offset : float
        ``b`` (> 0), in steps.
    """

    decay: float = 0.0
    decay_offset: float = 1.0
    kind = "sgld"
    code = K_SGLD

    def __post_init__(self) -> None:
        check_positive("step_size", self.step_size)
        _check_decay(self.decay, self.decay_offset)

    def step_factors(self, steps: np.ndarray, total: int) -> tuple[np.ndarray, np.ndarray]:  # noqa: D102
        return _decay_factors(self.decay, self.decay_offset, steps), np.ones(len(steps))


@dataclass(frozen=True)
class PSGLD(SGLD):
    """Preconditioned SGLD with an RMSprop preconditioner (Li, Chen, Carlson & Carin, AAAI 2016).

    ``V <- alpha V + (1 - alpha) g ⊙ g`` (``V`` starts at ``g ⊙ g``, as in the
    authors' code), ``G = 1 / (lambda + sqrt(V))``,
    ``theta <- theta - eta G ⊙ g + sqrt(2 eta T G) ⊙ xi`` with ``g = grad U~``.
    The drift correction ``Γ(theta)`` (derivative of ``G``) is dropped, as in
    the paper's experiments.

    Parameters
    ----------
    step_size : float
        ``eta`` (> 0), energy units.
    alpha : float
        RMSprop decay in [0, 1) (paper default 0.99).
    eps : float
        ``lambda`` (> 0), the diagonal bias (paper default 1e-5).
    decay, decay_offset : float
        Polynomial step-size decay, as in :class:`SGLD`.
    """

    alpha: float = 0.99
    eps: float = 1e-5
    kind = "psgld"
    code = K_PSGLD

    def __post_init__(self) -> None:
        super().__post_init__()
        check_real("alpha", self.alpha, lo=0.0, hi=1.0, hi_open=True)
        check_positive("eps", self.eps)

    def hyper(self) -> np.ndarray:  # noqa: D102
        h = np.zeros(8)
        h[0], h[1] = self.alpha, self.eps
        return h


@dataclass(frozen=True)
class SGHMC(SGD):
    """Stochastic gradient Hamiltonian Monte Carlo (Chen, Fox & Guestrin, ICML 2014, pp. 1683-1691).

    The SGD-with-momentum form, their Eq. (15), with temperature ``T``:
    ``v <- (1 - alpha) v - eta grad U~(theta) + N(0, 2 (alpha - beta) eta T)``,
    ``theta <- theta + v``, where ``eta = ε² / M`` (learning rate),
    ``alpha = ε C / M`` (friction) and ``beta = eta * V_hat / 2`` (estimated
    gradient-noise term, often 0).  ``v`` starts at 0 and is not resampled.

    Parameters
    ----------
    step_size : float
        ``eta`` (> 0), energy units.
    friction : float
        ``alpha`` in (0, 1] (paper suggests 0.1 or 0.01).
    noise_estimate : float
        ``beta`` in [0, alpha).
    """

    friction: float = 0.1
    noise_estimate: float = 0.0
    kind = "sghmc"
    code = K_SGHMC

    def __post_init__(self) -> None:
        super().__post_init__()
        a = check_real("friction", self.friction, lo=0.0, hi=1.0, lo_open=True)
        check_real("noise_estimate", self.noise_estimate, lo=0.0, hi=a, hi_open=True)

    def hyper(self) -> np.ndarray:  # noqa: D102
        h = np.zeros(8)
        h[0], h[1] = self.friction, self.noise_estimate
        return h


def cyclical_step_sizes(step_size: float, n_cycles: int, total: int,
                        steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cyclical cosine step sizes and cycle positions (Zhang et al., ICLR 2020, Eq. 1).

    ``alpha_k = (alpha_0 / 2) [cos(pi mod(k - 1, ceil(K/M)) / ceil(K/M)) + 1]`` for
    iteration ``k = t + 1`` (``t`` the 0-based step).

    Parameters
    ----------
    step_size : float
        ``alpha_0``.
    n_cycles : int
        ``M``.
    total : int
        ``K``, the total number of steps.
    steps : numpy.ndarray of int
        0-based steps ``t``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``alpha_k`` and ``r(k) = mod(k - 1, ceil(K/M)) / ceil(K/M)`` in [0, 1).
    """
    period = -(-int(total) // int(n_cycles))
    r = np.mod(np.asarray(steps, dtype=np.int64), period) / period
    return 0.5 * step_size * (np.cos(np.pi * r) + 1.0), r


@dataclass(frozen=True)
class CyclicalSGLD(SGD):
    """Cyclical SGLD, cSGLD (Zhang, Li, Zhang, Chen & Wilson, ICLR 2020, arXiv:1902.03932).

    The run of ``K`` steps is cut into ``M = n_cycles`` cycles of ``ceil(K/M)``
    steps with the cosine step size of :func:`cyclical_step_sizes`.  While the
    cycle position ``r < exploration`` the step is plain SGD (no noise:
    exploration stage); afterwards it is SGLD at temperature ``T`` (sampling
    stage), and only sampling-stage states are kept as samples.

    Parameters
    ----------
    step_size : float
        ``alpha_0`` (> 0), energy units (peak step size).
    n_cycles : int
        ``M`` >= 1 (authors' default 4).
    exploration : float
        ``beta`` in [0, 1), the exploration proportion of each cycle (authors
        ≈ 0.9 for CIFAR-10; default 0.8).
    """

    n_cycles: int = 4
    exploration: float = 0.8
    kind = "csgld"
    code = K_CSGLD

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("n_cycles", self.n_cycles, lo=1, hi=None)
        check_real("exploration", self.exploration, lo=0.0, hi=1.0, hi_open=True)

    def step_factors(self, steps: np.ndarray, total: int) -> tuple[np.ndarray, np.ndarray]:  # noqa: D102
        a, r = cyclical_step_sizes(1.0, self.n_cycles, total, steps)
        return a, (r >= self.exploration).astype(np.float64)

    def sampling_stage(self, steps: np.ndarray, total: int) -> np.ndarray:
        """Whether each step is in a sampling stage (``r >= exploration``).

        Parameters
        ----------
        steps : numpy.ndarray of int
            0-based steps.
        total : int
            ``K``.

        Returns
        -------
        numpy.ndarray of bool
        """
        return cyclical_step_sizes(1.0, self.n_cycles, total, steps)[1] >= self.exploration


@dataclass(frozen=True)
class ReplicaExchangeSGLD(SGD):
    """Replica-exchange SGLD, reSGLD (Deng, Feng, Gao, Liang & Lin, ICML 2020, PMLR 119:2474-2483).

    ``K = len(temperatures)`` replicas per group each take an SGLD step at
    their own temperature (and step size).  Every ``swap_every`` steps,
    neighbouring replicas ``(k, k+1)`` (even pairs on even rounds, odd pairs on
    odd rounds) swap parameters if
    ``log u < (1/T_k - 1/T_{k+1}) [U~_k - U~_{k+1} - (1/T_k - 1/T_{k+1}) s2 / F]``
    with ``s2`` the variance of the noisy energy difference and ``F =
    correction`` (``F -> inf``: the naive swap).  The energies are the
    minibatch estimates at the current parameters, evaluated before the step.

    Parameters
    ----------
    temperatures : tuple of float
        Non-decreasing ladder of ``K >= 2`` temperatures (> 0).
    step_size : float or tuple of float
        ``eta`` of every replica, or one per rung (> 0).
    swap_every : int
        Steps between swap rounds (>= 1).
    correction : float
        ``F`` >= 1 (``math.inf`` allowed: no bias correction).
    energy_variance : float or None
        ``s2`` >= 0 if known (0 for full-batch energies); ``None`` estimates it
        online as the sum of both replicas' exponential moving variances of
        ``U~`` (weight ``variance_ema``); this includes the thermal
        fluctuations of ``U`` and so over-corrects slightly.
    variance_ema : float
        EMA weight in [0, 1) of the online variance estimate.
    """

    temperatures: tuple = (1.0, 2.0)
    swap_every: int = 1
    correction: float = 1.0
    energy_variance: float | None = None
    variance_ema: float = 0.9
    kind = "resgld"
    code = K_RESGLD

    def __post_init__(self) -> None:
        t = np.asarray(self.temperatures, dtype=np.float64).ravel()
        if t.size < 2 or not np.all(np.isfinite(t)) or np.any(t <= 0) or np.any(np.diff(t) < 0):
            raise ValueError("temperatures must be a non-decreasing tuple of at least 2 "
                             f"finite numbers > 0, got {self.temperatures!r}")
        object.__setattr__(self, "temperatures", tuple(float(x) for x in t))
        if np.ndim(self.step_size) == 0:
            check_positive("step_size", self.step_size)
        else:
            s = tuple(check_positive("step_size", x) for x in np.ravel(self.step_size))
            if len(s) != t.size:
                raise ValueError(f"step_size must be a number or one per temperature ({t.size}), "
                                 f"got {len(s)}")
            object.__setattr__(self, "step_size", s)
        check_int("swap_every", self.swap_every, lo=1, hi=None)
        f = self.correction
        if isinstance(f, bool) or not isinstance(f, (int, float, np.floating, np.integer)):
            raise TypeError(f"correction must be a number >= 1 (inf allowed), got "
                            f"{type(f).__name__} {f!r}")
        if not (f == math.inf or (math.isfinite(f) and f >= 1)):
            raise ValueError(f"correction must be a number >= 1 (inf allowed), got {f!r}")
        if self.energy_variance is not None:
            check_nonnegative("energy_variance", self.energy_variance)
        check_real("variance_ema", self.variance_ema, lo=0.0, hi=1.0, hi_open=True)

    @property
    def n_temps(self) -> int:
        """Replicas per group ``K``."""
        return len(self.temperatures)

    def step_sizes(self) -> np.ndarray:
        """Step size of every rung, shape ``(K,)``.

        Returns
        -------
        numpy.ndarray
        """
        return np.broadcast_to(np.asarray(self.step_size, dtype=np.float64),
                               (self.n_temps,)).copy()

    def hyper(self) -> np.ndarray:  # noqa: D102
        h = np.zeros(8)
        h[0] = 0.0 if self.correction == math.inf else 1.0 / self.correction
        h[1] = -1.0 if self.energy_variance is None else self.energy_variance
        h[2] = self.variance_ema
        h[3] = self.swap_every
        h[4] = self.n_temps
        return h


@dataclass(frozen=True)
class EntropySGD(SGD):
    """Entropy-SGD (Chaudhari et al., ICLR 2017), following the official ``optim.py``.

    Each outer step sets ``x' = mu = x`` and runs ``inner_steps`` SGLD steps on
    ``U(x') + (gamma/2) |x - x'|^2``:
    ``x' <- x' - eta' [grad U~(x') - gamma (x - x')] + sqrt(2 eta' T) xi``,
    ``mu <- beta1 mu + (1 - beta1) x'``; then ``∇F = x - mu`` (code; the paper
    writes ``gamma (x - mu)``) and a momentum step
    ``m <- momentum m + ∇F``, ``x <- x - eta (∇F + momentum m)`` (Nesterov) or
    ``x <- x - eta m``.  Scoping ``gamma_t = gamma (1 + scoping)^t`` (``t`` the outer
    step).  The official thermal noise ``ε`` is ``sqrt(T)`` here (official
    default ``ε = 1e-4``, i.e. ``T = 1e-8``).  One outer step costs
    ``inner_steps`` gradient evaluations; minibatches and noise of inner step
    ``l`` of outer step ``t`` are keyed by step ``t * inner_steps + l``.

    Parameters
    ----------
    step_size : float
        Outer learning rate ``eta`` (> 0; official 0.01 on the mean loss).
    inner_step_size : float
        Langevin learning rate ``eta'`` (> 0; official 0.1).
    inner_steps : int
        ``L`` >= 1 (paper 20).
    gamma : float
        Coupling ``gamma_0`` (> 0; official ``g0 = 0.01``).
    scoping : float
        ``g1`` >= 0 (official 0).
    beta1 : float
        Averaging weight in [0, 1) (official 0.75).
    momentum : float
        Outer momentum in [0, 1) (0: plain steps).
    nesterov : bool
        Nesterov momentum.
    """

    inner_step_size: float = 0.1
    inner_steps: int = 20
    gamma: float = 0.01
    scoping: float = 0.0
    beta1: float = 0.75
    momentum: float = 0.0
    nesterov: bool = False
    kind = "entropy-sgd"
    code = K_ENTROPY

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("inner_step_size", self.inner_step_size)
        check_int("inner_steps", self.inner_steps, lo=1, hi=None)
        check_positive("gamma", self.gamma)
        check_nonnegative("scoping", self.scoping)
        check_real("beta1", self.beta1, lo=0.0, hi=1.0, hi_open=True)
        check_real("momentum", self.momentum, lo=0.0, hi=1.0, hi_open=True)
        if not isinstance(self.nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be a bool, got {self.nesterov!r}")

    def hyper(self) -> np.ndarray:  # noqa: D102
        h = np.zeros(8)
        h[0] = self.inner_step_size
        h[1] = self.inner_steps
        h[2] = self.gamma
        h[3] = self.scoping
        h[4] = self.beta1
        h[5] = self.momentum
        h[6] = 1.0 if self.nesterov else 0.0
        return h


Method = SGD | SGLD | PSGLD | SGHMC | CyclicalSGLD | ReplicaExchangeSGLD | EntropySGD

#: Registry: method name -> class.
METHODS: dict[str, type] = {
    "sgd": SGD,
    "sgld": SGLD,
    "psgld": PSGLD,
    "sghmc": SGHMC,
    "csgld": CyclicalSGLD,
    "resgld": ReplicaExchangeSGLD,
    "entropy-sgd": EntropySGD,
}

#: State floats per parameter that each method keeps per chain.
AUX_PER_PARAM = {K_SGD: 0, K_SGLD: 0, K_PSGLD: 1, K_SGHMC: 1, K_CSGLD: 0, K_RESGLD: 0,
                 K_ENTROPY: 3}


def make_method(method: str | Method, **settings: object) -> Method:
    """Build a method from its name (or pass an instance through).

    Parameters
    ----------
    method : str or method instance
        One of :data:`METHODS` (``"sgd"``, ``"sgld"``, ``"psgld"``, ``"sghmc"``,
        ``"csgld"``, ``"resgld"``, ``"entropy-sgd"``), or an instance.
    **settings
        Fields of the class (e.g. ``step_size=1e-4``); not allowed with an
        instance.

    Returns
    -------
    Method

    Raises
    ------
    ValueError
        Unknown name or setting (with a did-you-mean hint) or a bad value.
    """
    if isinstance(method, tuple(METHODS.values())):
        if settings:
            raise ValueError(f"settings {sorted(settings)} given with a method instance; "
                             "put them in the instance")
        return method  # type: ignore[return-value]
    if not isinstance(method, str):
        raise TypeError(f"method must be a name or a method instance, got "
                        f"{type(method).__name__} {method!r}")
    key = method.lower().replace("_", "-")
    if key == "entropysgd":
        key = "entropy-sgd"
    if key not in METHODS:
        raise ValueError(f"unknown method {method!r}{suggest(key, METHODS)}; "
                         f"allowed: {', '.join(METHODS)}")
    cls = METHODS[key]
    names = [f.name for f in fields(cls)]
    check_settings(settings, names, where=f" for method {key!r}")
    return cls(**settings)


def method_to_config(method: Method) -> dict:
    """``{"kind": name, **fields}`` of a method, for provenance in H5MD files.

    Parameters
    ----------
    method : Method

    Returns
    -------
    dict
    """
    d = asdict(method)
    for k, v in d.items():
        if isinstance(v, tuple):
            d[k] = list(v)
        if v is None:
            d[k] = None
        if isinstance(v, float) and math.isinf(v):
            d[k] = "inf"
    return {"kind": method.kind, **d}
