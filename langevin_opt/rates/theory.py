"""Rate theory: harmonic TST (Vineyard), Kramers/Langer, Eyring–Kramers and the exact 1-D MFPT.

Conventions (``docs``: ``/work/shared/reference/algorithms.md`` §1–3), reduced
units with ``k_B = 1``:

* overdamped dynamics ``dx = -(1/ζ) ∇U dt + sqrt(2T/ζ) dW`` (this package's
  :class:`~langevin_opt.Overdamped` has ``ζ = 1``);
* underdamped dynamics ``dx = v dt, m dv = -∇U dt - mγ v dt + sqrt(2mγT) dW``
  (:class:`~langevin_opt.BAOAB` with ``friction = γ``, ``mass = m``).

Every rate needs the Hessian of ``U`` at the minimum (all eigenvalues > 0 apart
from ``n_zero`` zero modes, e.g. translations and rotations of a free cluster)
and at the saddle (exactly one negative eigenvalue ``λ_1 < 0``), and the barrier
``ΔU = U(saddle) - U(minimum)``.  Zero modes are removed from both Hessians.

Formulas (``ω² = λ/m``; products run over the non-zero modes):

* harmonic TST / Vineyard: ``k = (1/2π) Π ω_i(min) / Π' ω_i(sad) e^{-ΔU/T}``
  (the primed product skips the unstable mode);
* Langer / Grote–Hynes–Kramers spatial-diffusion rate, isotropic friction γ:
  ``k = (λ⁺/ω_b) k_TST`` with ``λ⁺ = sqrt(γ²/4 + ω_b²) - γ/2``,
  ``ω_b² = |λ_1|/m`` (in 1-D this is Kramers' formula (b) of the reference);
  ``γ → ∞`` gives the overdamped Kramers rate (a);
* overdamped Eyring–Kramers (Langer, Bovier et al.):
  ``k = |λ_1|/(2π ζ) sqrt(det H_min / |det H_sad|) e^{-ΔU/T}``.

These rates count *committed* transitions (arrival in the next basin).  The
mean time to first reach the saddle itself is about half of ``1/k``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..core.validation import check_positive

__all__ = [
    "HarmonicPoint",
    "harmonic_point",
    "vineyard_rate",
    "kramers_overdamped_rate",
    "langer_rate",
    "eyring_kramers_mfpt",
    "mfpt_1d_exact",
]


@dataclass(frozen=True)
class HarmonicPoint:
    """Eigen-decomposition of a Hessian at a stationary point.

    Attributes
    ----------
    x : numpy.ndarray, shape (n,)
        The point (flat coordinates).
    energy : float
        ``U(x)``.
    eigenvalues : numpy.ndarray, shape (n - n_zero,)
        Non-zero Hessian eigenvalues (energy / length²), ascending.
    n_negative : int
        Number of negative eigenvalues (0 at a minimum, 1 at an index-1 saddle).
    n_zero : int
        Number of eigenvalues treated as zero modes and dropped.
    """

    x: np.ndarray
    energy: float
    eigenvalues: np.ndarray
    n_negative: int
    n_zero: int


def harmonic_point(x: np.ndarray, energy: float, hess: np.ndarray, *, n_zero: int | None = None,
                   zero_tol: float = 1e-6) -> HarmonicPoint:
    """Classify a stationary point from its Hessian.

    Parameters
    ----------
    x : array_like, shape (n,)
        Stationary point.
    energy : float
        Energy there.
    hess : array_like, shape (n, n)
        Hessian (symmetrised here).
    n_zero : int, optional
        Number of zero modes to drop (the eigenvalues smallest in magnitude).
        Default: those with ``|λ| < zero_tol * max|λ|``.
    zero_tol : float
        Relative threshold for the default.

    Returns
    -------
    HarmonicPoint
    """
    h = np.asarray(hess, dtype=np.float64)
    h = 0.5 * (h + h.T)
    lam = np.linalg.eigvalsh(h)
    order = np.argsort(np.abs(lam))
    if n_zero is None:
        n_zero = int(np.sum(np.abs(lam) < zero_tol * np.max(np.abs(lam))))
    keep = np.sort(lam[order[n_zero:]])
    return HarmonicPoint(np.asarray(x, dtype=np.float64).ravel(), float(energy), keep,
                         int(np.sum(keep < 0)), int(n_zero))


def _check_pair(minimum: HarmonicPoint, saddle: HarmonicPoint) -> float:
    if minimum.n_negative != 0:
        raise ValueError(f"the minimum has {minimum.n_negative} negative Hessian eigenvalues")
    if saddle.n_negative != 1:
        raise ValueError(f"the saddle must have exactly 1 negative Hessian eigenvalue, "
                         f"has {saddle.n_negative}")
    if minimum.eigenvalues.size != saddle.eigenvalues.size:
        raise ValueError("minimum and saddle keep different numbers of modes "
                         f"({minimum.eigenvalues.size} vs {saddle.eigenvalues.size}); "
                         "check n_zero")
    return saddle.energy - minimum.energy


def _check_t(temperature: float | np.ndarray) -> np.ndarray:
    t = np.asarray(temperature, dtype=np.float64)
    if not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ValueError(f"temperature must be finite and > 0, got {temperature!r}")
    return t


def _out(v: np.ndarray) -> float | np.ndarray:
    return float(v) if np.ndim(v) == 0 else v


def vineyard_rate(minimum: HarmonicPoint, saddle: HarmonicPoint, temperature: float | np.ndarray,
                  *, mass: float = 1.0) -> float | np.ndarray:
    """Harmonic transition-state-theory rate with the Vineyard prefactor.

    Parameters
    ----------
    minimum, saddle : HarmonicPoint
        From :func:`harmonic_point` (or :func:`langevin_opt.rates.saddles.analyse_point`).
    temperature : float or array_like
        ``T > 0`` (``k_B = 1``).
    mass : float
        Mass of every coordinate.

    Returns
    -------
    float or numpy.ndarray
        ``k_TST`` in inverse time units.
    """
    du = _check_pair(minimum, saddle)
    t = _check_t(temperature)
    w_min = np.sqrt(minimum.eigenvalues / mass)
    w_sad = np.sqrt(saddle.eigenvalues[1:] / mass)
    log_pre = np.sum(np.log(w_min)) - np.sum(np.log(w_sad)) - math.log(2 * math.pi)
    return _out(np.exp(log_pre - du / t))


def langer_rate(minimum: HarmonicPoint, saddle: HarmonicPoint, temperature: float | np.ndarray,
                *, friction: float, mass: float = 1.0) -> float | np.ndarray:
    """Kramers/Langer rate at moderate to high friction (underdamped Langevin).

    ``k = (λ⁺/ω_b) k_TST`` with ``λ⁺ = sqrt(γ²/4 + ω_b²) - γ/2`` (Kramers' spatial-
    diffusion result, Langer's multi-dimensional form for isotropic friction).
    Not valid in the energy-diffusion regime (``γ`` well below ``ω_b``, weak friction).

    Parameters
    ----------
    minimum, saddle : HarmonicPoint
        Stationary points.
    temperature : float or array_like
        ``T > 0``.
    friction : float
        ``γ`` (inverse time), > 0.
    mass : float
        ``m`` > 0.

    Returns
    -------
    float or numpy.ndarray
        Rate in inverse time units.
    """
    friction = check_positive("friction", friction)
    wb = math.sqrt(-saddle.eigenvalues[0] / mass)
    lam_plus = math.sqrt(0.25 * friction**2 + wb**2) - 0.5 * friction
    return _out(np.asarray(vineyard_rate(minimum, saddle, temperature, mass=mass))
                * lam_plus / wb)


def kramers_overdamped_rate(minimum: HarmonicPoint, saddle: HarmonicPoint,
                            temperature: float | np.ndarray, *, zeta: float = 1.0
                            ) -> float | np.ndarray:
    """Overdamped Kramers / Eyring–Kramers (Langer) rate.

    ``k = |λ_1|/(2π ζ) sqrt(det H_min / |det H_sad|) e^{-ΔU/T}``; in 1-D
    ``sqrt(U''(a)|U''(b)|)/(2π ζ) e^{-ΔU/T}``.

    Parameters
    ----------
    minimum, saddle : HarmonicPoint
        Stationary points.
    temperature : float or array_like
        ``T > 0``.
    zeta : float
        Friction coefficient ``ζ = mγ`` (1 for :class:`~langevin_opt.Overdamped`).

    Returns
    -------
    float or numpy.ndarray
        Rate in inverse time units.
    """
    du = _check_pair(minimum, saddle)
    t = _check_t(temperature)
    lam1 = -saddle.eigenvalues[0]
    log_det = np.sum(np.log(minimum.eigenvalues)) - np.sum(np.log(np.abs(saddle.eigenvalues)))
    log_pre = math.log(lam1 / (2 * math.pi * zeta)) + 0.5 * log_det
    return _out(np.exp(log_pre - du / t))


def eyring_kramers_mfpt(minimum: HarmonicPoint, saddle: HarmonicPoint,
                        temperature: float | np.ndarray, *, zeta: float = 1.0
                        ) -> float | np.ndarray:
    """Eyring–Kramers mean transition time ``1 / k`` (overdamped).

    Parameters
    ----------
    minimum, saddle : HarmonicPoint
        Stationary points.
    temperature : float or array_like
        ``T > 0``.
    zeta : float
        Friction coefficient.

    Returns
    -------
    float or numpy.ndarray
        Mean time to reach the next basin (time units).
    """
    return _out(1.0 / np.asarray(kramers_overdamped_rate(minimum, saddle, temperature,
                                                         zeta=zeta)))


def mfpt_1d_exact(potential: Callable[[np.ndarray], np.ndarray], x0: float, b: float,
                  temperature: float, *, a: float = -np.inf, zeta: float = 1.0,
                  n: int = 20001) -> float:
    """Exact mean first-passage time of 1-D overdamped diffusion (double integral).

    ``τ(x0 → b) = (ζ/T) ∫_{x0}^{b} dy e^{U(y)/T} ∫_{a}^{y} dz e^{-U(z)/T}``, reflecting
    at ``a <= x0``, absorbing at ``b > x0`` (reference §3).  The inner integral is
    accumulated with ``scipy.integrate.cumulative_simpson`` on a fine grid and
    the outer one with ``scipy.integrate.simpson`` (energies are shifted by their
    maxima so nothing overflows).

    Parameters
    ----------
    potential : callable
        Vectorised ``U(x)`` on a 1-D array.
    x0, b : float
        Start and absorbing point, ``x0 < b``.
    temperature : float
        ``T > 0``.
    a : float
        Reflecting boundary (default ``-inf``: the integral is cut where
        ``e^{-(U - U_min)/T} < 1e-300``-ish, found by stepping outwards).
    zeta : float
        Friction coefficient (``D = T/ζ``).
    n : int
        Grid points per integral.

    Returns
    -------
    float
        Mean first-passage time (time units).
    """
    from scipy.integrate import cumulative_simpson, simpson

    t = float(_check_t(temperature))
    if not x0 < b:
        raise ValueError(f"need x0 < b, got x0={x0!r}, b={b!r}")
    if not a <= x0:
        raise ValueError(f"need a <= x0, got a={a!r}, x0={x0!r}")

    def u(x: np.ndarray) -> np.ndarray:
        return np.asarray(potential(np.asarray(x, dtype=np.float64)), dtype=np.float64)

    lo = float(a)
    if not math.isfinite(lo):
        grid = np.linspace(x0 - 1.0, b, 2001)
        umin = u(grid).min()
        step = max(b - x0, 1.0)
        lo = x0 - step
        while (u(np.array([lo]))[0] - umin) / t < 750.0:
            step *= 1.5
            lo = x0 - step
            if step > 1e8:
                raise ValueError("the potential does not confine the walker on the left; "
                                 "give a reflecting boundary a")
    if lo < x0:
        z = np.concatenate([np.linspace(lo, x0, n), np.linspace(x0, b, n)[1:]])
    else:
        z = np.linspace(x0, b, 2 * n - 1)
    uz = u(z)
    umin = uz.min()
    inner = np.concatenate([[0.0], cumulative_simpson(np.exp(-(uz - umin) / t), x=z)])
    ys = z >= x0
    y = z[ys]
    uy = uz[ys]
    umax = uy.max()
    outer = simpson(np.exp((uy - umax) / t) * inner[ys], x=y)
    return float(zeta / t * outer * math.exp((umax - umin) / t))
