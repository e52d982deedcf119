"""An optimiser object that updates a user's NumPy parameter array in place.

>>> import numpy as np
>>> from langevin_opt.sgmcmc import Optimizer
>>> w = np.zeros(3)
>>> opt = Optimizer("sgld", lr=1e-2, temperature=0.1, seed=1)
>>> for _ in range(10):
...     grad = 2 * (w - 1.0)            # gradient of the user's own energy
...     opt.step(w, grad)               # w changes in place
>>> opt.t
10

Units: the gradient is ``grad U`` of an energy whose Boltzmann density
``exp(-U/T)`` is the target, and ``lr`` is the energy-form step ``eta``
(:mod:`.methods`).  For a *mean* loss ``L = U / N`` with a usual learning rate,
pass ``n_data=N``: the optimiser then uses ``grad U = N grad L`` and
``eta = lr / N`` (the same drift ``lr grad L``, noise ``sqrt(2 lr T / N)``).

Noise is counter-based: the normals of step ``t`` are
``normal2(seed, stream_offset, t, p // 2, PURPOSE_NOISE)``, so an optimiser is
reproducible from ``(seed, stream_offset, t)`` alone and matches chain ``c`` of
:func:`run_chains` (``stream_offset + c``) bit for bit given the same gradients.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..core.validation import (
    check_int,
    check_nonnegative,
    check_seed,
    check_stream_offset,
)
from ..schedules import Schedule
from .kernels import step_one
from .methods import (
    AUX_PER_PARAM,
    CyclicalSGLD,
    EntropySGD,
    Method,
    ReplicaExchangeSGLD,
    make_method,
)

__all__ = ["Optimizer"]


class Optimizer:
    """SGD/SGLD/pSGLD/SGHMC/cSGLD step on a user's parameter array.

    Parameters
    ----------
    method : str or Method
        ``"sgd"``, ``"sgld"``, ``"psgld"``, ``"sghmc"``, ``"csgld"`` or an
        instance (Entropy-SGD needs an inner gradient loop and replica
        exchange several replicas: use :func:`minimize` / :func:`run_chains`).
    lr : float, optional
        Step size ``eta`` (sets the method's ``step_size``).
    temperature : float
        ``T >= 0`` (``k_B = 1``); ignored by SGD.
    schedule : Schedule, optional
        Temperature profile over ``total_steps`` steps.
    lr_schedule : Schedule, optional
        Step-size profile over ``total_steps`` steps.
    total_steps : int, optional
        Length of the run; required with a schedule or cSGLD.  Stepping past
        it raises ``ValueError``.
    seed : int
        Generator key in ``[0, 2**64)`` (keyword only; required for every method
        but ``"sgd"``, which draws no random numbers).
    stream_offset : int
        Random stream of this chain (its global chain index).
    n_data : int, optional
        Give ``N`` if ``grad`` is the gradient of the mean loss ``U / N``.
    **settings
        Method fields when ``method`` is a name (e.g. ``friction=0.05``).

    Attributes
    ----------
    t : int
        Steps taken.
    method : Method
        The validated method.
    """

    def __init__(self, method: str | Method = "sgld", *, lr: float | None = None,
                 temperature: float = 1.0, schedule: Schedule | None = None,
                 lr_schedule: Schedule | None = None, total_steps: int | None = None,
                 seed: int | None = None, stream_offset: int = 0, n_data: int | None = None,
                 **settings: object) -> None:
        if lr is not None:
            if "step_size" in settings:
                raise ValueError("give lr or step_size, not both")
            if isinstance(method, str):
                settings["step_size"] = lr
        m = make_method(method, **settings)
        if lr is not None and not isinstance(method, str):
            m = replace(m, step_size=lr)
        if isinstance(m, (EntropySGD, ReplicaExchangeSGLD)):
            raise ValueError(f"method {m.kind!r} is not available as an Optimizer (it needs "
                             "its own gradient calls); use minimize() or run_chains()")
        self.method = m
        temp = check_nonnegative("temperature", temperature)
        self.temperature = 0.0 if m.kind == "sgd" else temp
        for name, s in (("schedule", schedule), ("lr_schedule", lr_schedule)):
            if s is not None and not isinstance(s, Schedule):
                raise TypeError(f"{name} must be a langevin_opt.schedules.Schedule, "
                                 f"got {type(s).__name__}")
        needs_total = schedule is not None or lr_schedule is not None or isinstance(
            m, CyclicalSGLD)
        if total_steps is None:
            if needs_total:
                raise ValueError("total_steps (an integer >= 1) is required with a schedule "
                                 "or cSGLD")
        else:
            total_steps = check_int("total_steps", total_steps, lo=1, hi=None)
        self.total_steps = total_steps
        self.schedule = schedule
        self.lr_schedule = lr_schedule
        # SGD draws no random numbers: its seed may be omitted
        self.seed = 0 if seed is None and m.kind == "sgd" else check_seed(seed)
        self.stream_offset = check_stream_offset(stream_offset, 1)
        self.n_data = None if n_data is None else check_int("n_data", n_data, lo=1, hi=None)
        self._hp = m.hyper()
        self._eta_fac: np.ndarray | None = None
        self._temp_fac: np.ndarray | None = None
        if self.total_steps is not None:
            steps = np.arange(self.total_steps)
            ef, tf = m.step_factors(steps, self.total_steps)
            if lr_schedule is not None:
                ef = ef * lr_schedule.factors(steps, self.total_steps)
            if schedule is not None:
                tf = tf * schedule.factors(steps, self.total_steps)
            self._eta_fac = np.asarray(ef, dtype=np.float64)
            self._temp_fac = np.asarray(tf, dtype=np.float64)
        self.reset()

    def reset(self) -> None:
        """Forget the method state (momentum, preconditioner) and set ``t = 0``."""
        self.t = 0
        self._aux: np.ndarray | None = None
        self._auxs = np.zeros(4)
        self._shape: tuple[int, ...] | None = None

    def _factors(self, t: int) -> tuple[float, float]:
        if self._eta_fac is not None and self._temp_fac is not None:
            if t >= self._eta_fac.size:
                raise ValueError(f"step {t} is past total_steps={self.total_steps}")
            return float(self._eta_fac[t]), float(self._temp_fac[t])
        ef, tf = self.method.step_factors(np.array([t]), t + 1)
        return float(ef[0]), float(tf[0])

    @property
    def lr(self) -> float:
        """Step size ``eta`` that the next step will use (energy units).

        Returns
        -------
        float
        """
        n = 1.0 if self.n_data is None else float(self.n_data)
        return float(self.method.step_size) * self._factors(self.t)[0] / n

    @property
    def current_temperature(self) -> float:
        """Temperature that the next step will use.

        Returns
        -------
        float
        """
        return self.temperature * self._factors(self.t)[1]

    def step(self, params: np.ndarray, grad: np.ndarray) -> None:
        """Update ``params`` in place from ``grad``.

        Parameters
        ----------
        params : numpy.ndarray of float64, any shape
            Parameters; must be writable and C-contiguous (updated in place).
        grad : array_like of float, same shape as ``params``
            ``grad U`` at ``params`` (or ``grad L`` with ``n_data``).

        Raises
        ------
        TypeError
            ``params`` is not a float64 array or ``grad`` has a non-float dtype.
        ValueError
            ``params`` is not writable and contiguous, ``grad`` has another
            shape, the shape differs from the first call, or the step is past
            ``total_steps``.
        """
        if not isinstance(params, np.ndarray) or params.dtype != np.float64:
            raise TypeError("params must be a numpy.ndarray of float64 (updated in place), got "
                             f"{type(params).__name__} of dtype {getattr(params, 'dtype', None)}")
        if not params.flags.c_contiguous or not params.flags.writeable:
            raise ValueError("params must be C-contiguous and writable (updated in place)")
        g = np.asarray(grad)
        if g.shape != params.shape:
            raise ValueError(f"grad must have the shape of params {params.shape}, got {g.shape}")
        if g.dtype.kind != "f":
            raise TypeError(f"grad must be a float array, got dtype {g.dtype}")
        if self._shape is None:
            self._shape = params.shape
            self._aux = np.zeros(max(1, AUX_PER_PARAM[self.method.code] * params.size))
        elif params.shape != self._shape:
            raise ValueError(f"params shape {params.shape} differs from the first step's "
                             f"{self._shape}; call reset() for a new model")
        ef, tf = self._factors(self.t)
        eta = float(self.method.step_size) * ef
        gflat = np.ascontiguousarray(g, dtype=np.float64).reshape(-1)
        if self.n_data is not None:
            eta = eta / self.n_data
            gflat = gflat * float(self.n_data)
        step_one(self.method.code, params.reshape(-1), gflat, self._aux, self._auxs, eta,
                 self.temperature * tf, self._hp, np.uint64(self.seed),
                 np.int64(self.stream_offset), np.int64(self.t))
        self.t += 1
