"""Temperature schedules.

A schedule is a dimensionless profile ``φ(t)`` over the steps ``t = 0 … n-1``
of a run.  Walker ``i`` integrates at temperature ``T_i · φ(t)`` (``k_B = 1``),
so one schedule anneals a whole temperature ladder at once.  Every schedule
starts at ``φ(0) = 1`` except :class:`ArraySchedule`, which is used verbatim.

>>> import numpy as np
>>> Geometric(final=0.01).factors(np.arange(3), total=2)
array([1.  , 0.1 , 0.01])
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from .core.validation import check_nonnegative, check_settings, suggest

__all__ = ["Schedule", "Constant", "Linear", "Geometric", "Cosine", "ArraySchedule",
           "SCHEDULES", "make_schedule"]


class Schedule(ABC):
    """Base class: maps step indices to temperature factors."""

    name = "schedule"

    @abstractmethod
    def factors(self, steps: np.ndarray, total: int) -> np.ndarray:
        """Temperature factors at the given steps of a run of ``total`` steps.

        Parameters
        ----------
        steps : numpy.ndarray of int
            Step indices (0 is the first step of the run).
        total : int
            Number of steps of the whole run (the profile reaches its final
            value at ``t = total``).

        Returns
        -------
        numpy.ndarray
            Factors ``φ(t) >= 0``, float64.
        """

    def to_config(self) -> dict:
        """Return ``{"kind": name, **fields}`` for configs and provenance.

        Returns
        -------
        dict
        """
        fields = {k: v for k, v in self.__dict__.items()}
        return {"kind": self.name, **fields}


def _check_final(final: float) -> float:
    return check_nonnegative("schedule final factor", final)


def _fraction(steps: np.ndarray, total: int) -> np.ndarray:
    if total < 1:
        raise ValueError(f"total steps must be >= 1, got {total}")
    return np.asarray(steps, dtype=np.float64) / float(total)


@dataclass(frozen=True)
class Constant(Schedule):
    """``φ(t) = 1``: each walker keeps its temperature."""

    name = "constant"

    def factors(self, steps: np.ndarray, total: int) -> np.ndarray:  # noqa: D102
        return np.ones(len(steps))


@dataclass(frozen=True)
class Linear(Schedule):
    """``φ(t) = 1 + (final - 1) t / n``.

    Parameters
    ----------
    final : float
        Factor reached at the end of the run (``>= 0``).
    """

    final: float = 0.0
    name = "linear"

    def __post_init__(self) -> None:
        _check_final(self.final)

    def factors(self, steps: np.ndarray, total: int) -> np.ndarray:  # noqa: D102
        return 1.0 + (self.final - 1.0) * _fraction(steps, total)


@dataclass(frozen=True)
class Geometric(Schedule):
    """``φ(t) = final ** (t / n)``: constant ratio between steps.

    Parameters
    ----------
    final : float
        Factor reached at the end of the run (``> 0``).
    """

    final: float = 0.01
    name = "geometric"

    def __post_init__(self) -> None:
        if _check_final(self.final) <= 0:
            raise ValueError(f"geometric schedule final factor must be > 0, got {self.final!r}")

    def factors(self, steps: np.ndarray, total: int) -> np.ndarray:  # noqa: D102
        return np.power(self.final, _fraction(steps, total))


@dataclass(frozen=True)
class Cosine(Schedule):
    """``φ(t) = final + (1 - final) (1 + cos(π t / n)) / 2``.

    Parameters
    ----------
    final : float
        Factor reached at the end of the run (``>= 0``).
    """

    final: float = 0.0
    name = "cosine"

    def __post_init__(self) -> None:
        _check_final(self.final)

    def factors(self, steps: np.ndarray, total: int) -> np.ndarray:  # noqa: D102
        x = _fraction(steps, total)
        return self.final + (1.0 - self.final) * 0.5 * (1.0 + np.cos(np.pi * x))


class ArraySchedule(Schedule):
    """User-supplied factors, one per step.

    Parameters
    ----------
    values : array_like
        ``φ(t)`` for ``t = 0 … n-1``; finite and ``>= 0``; at least as long as
        the run.
    """

    name = "array"

    def __init__(self, values: np.ndarray) -> None:
        v = np.asarray(values, dtype=np.float64).ravel()
        if v.size == 0 or not np.all(np.isfinite(v)) or np.any(v < 0):
            raise ValueError("schedule values must be a non-empty array of finite numbers >= 0")
        self.values = v

    def factors(self, steps: np.ndarray, total: int) -> np.ndarray:  # noqa: D102
        steps = np.asarray(steps)
        if total > self.values.size:
            raise ValueError(
                f"array schedule has {self.values.size} values but the run has {total} steps"
            )
        return self.values[steps]

    def to_config(self) -> dict:  # noqa: D102
        return {"kind": self.name, "values": self.values.tolist()}


#: Registry: schedule kind -> class.
SCHEDULES: dict[str, type] = {
    "constant": Constant,
    "linear": Linear,
    "geometric": Geometric,
    "cosine": Cosine,
    "array": ArraySchedule,
}


def make_schedule(kind: str, **settings: object) -> Schedule:
    """Build a schedule by kind name.

    Parameters
    ----------
    kind : str
        One of :data:`SCHEDULES`.
    **settings
        ``final`` for linear/geometric/cosine, ``values`` for array.

    Returns
    -------
    Schedule
    """
    if not isinstance(kind, str):
        raise TypeError(f"schedule kind must be a string, got {type(kind).__name__}")
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r}{suggest(kind, SCHEDULES)}; "
                         f"allowed: {', '.join(SCHEDULES)}")
    cls = SCHEDULES[kind]
    allowed = [k for k in inspect.signature(cls).parameters if k != "self"]
    check_settings(settings, allowed, prefix=f"bad settings for schedule {kind!r}: ")
    return cls(**settings)
