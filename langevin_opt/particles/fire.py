"""FIRE, the fast inertial relaxation engine (Bitzek et al., PRL 97, 170201 (2006)): one step.

One implementation of the FIRE iteration serves every minimiser in the package:

* :func:`fire_step` (compiled, inlined) is the update of ``(x, v)`` given the force at
  ``x``: velocity mixing toward the force while ``F . v > 0``, a restart (``v = 0``,
  smaller step) otherwise, then a semi-implicit Euler move with each *row* of ``x``
  capped at ``max_move``.  Rows are atoms for particle systems (:func:`fire_loop`,
  :func:`~langevin_opt.particles.fire_minimize`, the compiled loop of
  :func:`~langevin_opt.particles.fire_replicas`); a flat coordinate vector passed as a
  single row ``(1, n)`` gets one cap on its whole displacement
  (:mod:`langevin_opt.rates.saddles`: NEB bands and the dimer method, whose forces are
  not gradients).
* :class:`FIRE` holds the settings and packs them with :meth:`FIRE.params` into the
  float array the step takes; :func:`fire_params` packs settings that are not a
  :class:`FIRE` (a starting step chosen from the force, another ``n_min``).

Masses are 1; units are those of the caller (time step in time units, ``max_move`` in
length units, forces in energy / length).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np

from ..core.errors import DivergenceError
from ..core.validation import check_int, check_positive, check_real

__all__ = ["FIRE", "MinimizeResult", "fire_params", "fire_step", "fire_fmax2", "fire_loop",
           "fire_settings"]

_JIT = {"nogil": True, "error_model": "numpy", "cache": True}


@dataclass(frozen=True)
class FIRE:
    """Fast inertial relaxation engine (Bitzek et al. 2006) settings.

    Parameters
    ----------
    dt : float
        Initial time step (time units).
    dt_max : float
        Largest time step (default ``10 dt``).
    n_min : int
        Steps with ``F . v > 0`` before the time step may grow.
    f_inc, f_dec : float
        Growth (> 1) and cut (in (0, 1)) factors of the time step.
    alpha_start, f_alpha : float
        Initial mixing parameter (in (0, 1)) and its decay factor (in (0, 1]).
    max_move : float
        Largest displacement of one atom in one step (length units).
    fmax : float
        Convergence: largest atomic force norm below ``fmax`` (energy / length).
    max_steps : int
        Iteration limit.

    Raises
    ------
    TypeError
        A setting of the wrong type (a string, ``2.5`` for an integer).
    ValueError
        A setting out of its range.
    """

    dt: float = 0.005
    dt_max: float | None = None
    n_min: int = 5
    f_inc: float = 1.1
    f_dec: float = 0.5
    alpha_start: float = 0.1
    f_alpha: float = 0.99
    max_move: float = 0.2
    fmax: float = 1e-6
    max_steps: int = 100_000
    name = "fire"

    def __post_init__(self) -> None:
        dt = check_positive("dt", self.dt)
        object.__setattr__(self, "dt", dt)
        dtm = 10.0 * dt if self.dt_max is None else check_positive("dt_max", self.dt_max)
        if dtm < dt:
            raise ValueError(f"dt_max must be >= dt={dt}, got {dtm}")
        object.__setattr__(self, "dt_max", dtm)
        check_int("n_min", self.n_min, lo=0)
        check_real("f_inc", self.f_inc, lo=1.0, lo_open=True)
        check_real("f_dec", self.f_dec, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
        check_real("alpha_start", self.alpha_start, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
        check_real("f_alpha", self.f_alpha, lo=0.0, hi=1.0, lo_open=True)
        check_positive("max_move", self.max_move)
        check_positive("fmax", self.fmax)
        check_int("max_steps", self.max_steps, lo=1)

    def params(self) -> np.ndarray:
        """Parameters as the float array the kernels take (see :func:`fire_params`).

        Returns
        -------
        numpy.ndarray, shape (9,)
        """
        return fire_params(self.dt, self.dt_max, self.n_min, self.f_inc, self.f_dec,
                           self.alpha_start, self.f_alpha, self.max_move, self.fmax)


def fire_settings(fire: FIRE | None) -> FIRE:
    """``FIRE()`` for ``None``, the settings themselves, or a :class:`TypeError`.

    Parameters
    ----------
    fire : FIRE or None
        Candidate settings.

    Returns
    -------
    FIRE
    """
    if fire is None:
        return FIRE()
    if not isinstance(fire, FIRE):
        raise TypeError(f"fire must be FIRE settings or None, got {type(fire).__name__}")
    return fire


def fire_params(dt: float, dt_max: float, n_min: int, f_inc: float, f_dec: float,
                alpha_start: float, f_alpha: float, max_move: float,
                fmax: float) -> np.ndarray:
    """Pack FIRE settings into the array :func:`fire_step` takes (no checks).

    Parameters
    ----------
    dt, dt_max : float
        Initial and largest time step (time units).
    n_min : int
        Positive-power steps before the time step may grow.
    f_inc, f_dec, alpha_start, f_alpha : float
        As in :class:`FIRE`.
    max_move : float
        Largest displacement of one row of ``x`` per step (length units).
    fmax : float
        Convergence threshold on the force (energy / length).

    Returns
    -------
    numpy.ndarray, shape (9,)
        ``[dt, dt_max, n_min, f_inc, f_dec, alpha_start, f_alpha, max_move, fmax]``.
    """
    return np.array([dt, dt_max, n_min, f_inc, f_dec, alpha_start, f_alpha, max_move, fmax],
                    dtype=np.float64)


@numba.njit(inline="always", **_JIT)
def fire_fmax2(f):
    """Largest squared row norm of ``f`` (shape ``(n, D)``; energy² / length²)."""
    m = 0.0
    for i in range(f.shape[0]):
        s = 0.0
        for k in range(f.shape[1]):
            s += f[i, k] * f[i, k]
        if s > m:
            m = s
    return m


@numba.njit(inline="always", **_JIT)
def fire_step(x, v, f, st, prm):
    """One FIRE iteration on ``(x, v)`` given the force ``f`` at ``x`` (unit masses).

    ``x, v, f`` have shape ``(n, D)``; each row's move is capped at ``prm[7]``.
    ``st = [dt, alpha, n_positive]`` is updated; ``prm`` is :func:`fire_params`.
    """
    dt_max, n_min, f_inc, f_dec = prm[1], prm[2], prm[3], prm[4]
    a0, f_a, max_move = prm[5], prm[6], prm[7]
    n, D = x.shape
    p = 0.0
    vv = 0.0
    ff = 0.0
    for i in range(n):
        for k in range(D):
            p += f[i, k] * v[i, k]
            vv += v[i, k] * v[i, k]
            ff += f[i, k] * f[i, k]
    if p > 0.0:
        a = st[1]
        scale = a * math.sqrt(vv / ff) if ff > 0.0 else 0.0
        for i in range(n):
            for k in range(D):
                v[i, k] = (1.0 - a) * v[i, k] + scale * f[i, k]
        if st[2] > n_min:
            st[0] = min(st[0] * f_inc, dt_max)
            st[1] *= f_a
        st[2] += 1.0
    else:
        for i in range(n):
            for k in range(D):
                v[i, k] = 0.0
        st[0] *= f_dec
        st[1] = a0
        st[2] = 0.0
    dt = st[0]
    for i in range(n):
        d2 = 0.0
        for k in range(D):
            v[i, k] += dt * f[i, k]
            d2 += v[i, k] * v[i, k]
        step = dt * math.sqrt(d2)
        c = dt if step <= max_move else dt * max_move / step
        for k in range(D):
            x[i, k] += c * v[i, k]


# the same step, callable from Python (the compiled replica loop inlines the ones above)
@numba.njit(**_JIT)
def fire_step_py(x, v, f, st, prm):
    """:func:`fire_step` as a compiled call from Python."""
    fire_step(x, v, f, st, prm)


@numba.njit(**_JIT)
def fire_fmax2_py(f):
    """:func:`fire_fmax2` as a compiled call from Python."""
    return fire_fmax2(f)


class MinimizeResult(NamedTuple):
    """Outcome of a FIRE minimisation.

    Attributes
    ----------
    positions : numpy.ndarray, shape (N, d)
        Final positions (length units).
    energy : float
        Potential energy there (energy units).
    forces : numpy.ndarray, shape (N, d)
        Forces there (energy / length).
    fmax : float
        Largest atomic force norm at the end.
    n_steps : int
        FIRE iterations done.
    converged : bool
        ``fmax < FIRE.fmax``.

    Notes
    -----
    The package's minimizers share SciPy's result names: besides the fields above, ``x``
    (positions), ``fun`` (energy), ``jac`` (the energy gradient, ``-forces``), ``nit``
    (iterations) and ``success`` (converged) are read-only aliases, as on
    :class:`scipy.optimize.OptimizeResult` (which :func:`langevin_opt.optimize.minimize` and
    :func:`langevin_opt.rates.minimize` return).
    """

    positions: np.ndarray
    energy: float
    forces: np.ndarray
    fmax: float
    n_steps: int
    converged: bool

    @property
    def x(self) -> np.ndarray:
        """Final positions (SciPy's name for :attr:`positions`)."""
        return self.positions

    @property
    def fun(self) -> float | np.ndarray:
        """Final energy (SciPy's name for :attr:`energy`)."""
        return self.energy

    @property
    def jac(self) -> np.ndarray:
        """Energy gradient at :attr:`x`, ``-forces`` (SciPy's name)."""
        return -self.forces

    @property
    def nit(self) -> int | np.ndarray:
        """Iterations done (SciPy's name for :attr:`n_steps`)."""
        return self.n_steps

    @property
    def success(self) -> bool | np.ndarray:
        """Whether the force criterion was met (SciPy's name for :attr:`converged`)."""
        return self.converged


def fire_loop(x: np.ndarray, ff: Callable[[np.ndarray, np.ndarray], tuple[float, float]],
              fire: FIRE) -> MinimizeResult:
    """Quench ``x`` in place with FIRE, forces from ``ff(x, F) -> (energy, virial)``.

    Parameters
    ----------
    x : numpy.ndarray, shape (N, d)
        Positions (length units), moved in place.
    ff : callable
        Fills ``F`` with the forces at ``x`` and returns ``(energy, virial)``.
    fire : FIRE
        Settings.

    Returns
    -------
    MinimizeResult

    Raises
    ------
    DivergenceError
        The energy became non-finite (``step``: the iteration; ``index`` 0;
        ``partial_result``: a :class:`MinimizeResult` of the state then).
    """
    prm = fire.params()
    st = np.array([fire.dt, fire.alpha_start, 0.0])
    v = np.zeros_like(x)
    F = np.zeros_like(x)
    e, _ = ff(x, F)
    f2 = fire.fmax**2
    it = 0
    while math.isfinite(e) and it < fire.max_steps and fire_fmax2_py(F) >= f2:
        fire_step_py(x, v, F, st, prm)
        e, _ = ff(x, F)
        it += 1
    if not math.isfinite(e):  # also at iteration 0: atoms on top of each other
        part = MinimizeResult(x.copy(), float(e), F.copy(), math.nan, it, False)
        raise DivergenceError(f"FIRE produced a non-finite energy at iteration {it}; "
                              f"reduce FIRE dt={fire.dt} or max_move={fire.max_move}, or "
                              f"separate overlapping atoms", it, 0, part)
    fm = math.sqrt(fire_fmax2_py(F))
    return MinimizeResult(x.copy(), float(e), F.copy(), fm, it, fm < fire.fmax)
