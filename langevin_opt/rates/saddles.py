"""Saddle searches and Hessians for any ``energy_and_gradient(x) -> (E, g)`` on flat vectors.

Everything here works on a flat coordinate vector ``x`` of length ``n`` (a
walker's ``d`` coordinates, or the ``N*d`` coordinates of a particle cluster)
and a callable ``f(x) -> (E, g)`` returning the energy (float) and the
gradient (shape ``(n,)``).  :func:`landscape_function` adapts a built-in or
user :class:`~langevin_opt.Landscape`; a particle system only needs such a
function (zero modes of free clusters are handled by ``n_zero`` in
:func:`analyse_point`).

* :func:`neb`: climbing-image nudged elastic band (Henkelman, Uberuaga &
  Jónsson, J. Chem. Phys. 113, 9901 (2000); improved tangent of Henkelman &
  Jónsson, ibid. 9978), optimised with FIRE (Bitzek et al., PRL 97, 170201 (2006)).
* :func:`dimer`: the dimer method (Henkelman & Jónsson, J. Chem. Phys. 111,
  7010 (1999)); the rotation is solved exactly in the plane of the dimer and
  its rotational force (Rayleigh–Ritz on two finite-difference Hessian-vector
  products), the translation follows the min-mode-inverted force with FIRE.
* :func:`hessian_fd`: Hessian by central differences of the gradient.
* :func:`minimize`: L-BFGS (scipy) to polish minima.

Convergence is on the force: ``|∇U| < fmax`` (Euclidean norm, energy/length).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..core.validation import check_seed
from ..landscapes import Landscape
from ..particles.fire import fire_params, fire_step_py
from .theory import HarmonicPoint, harmonic_point

if TYPE_CHECKING:
    from scipy.optimize import OptimizeResult

__all__ = [
    "EnergyGradient",
    "landscape_function",
    "rigid_body_modes",
    "hessian_fd",
    "minimize",
    "analyse_point",
    "NEBResult",
    "neb",
    "DimerResult",
    "dimer",
    "SaddleResult",
    "find_saddle",
]

#: ``f(x) -> (E, g)`` on a flat float64 vector ``x`` of shape ``(n,)``.
EnergyGradient = Callable[[np.ndarray], tuple[float, np.ndarray]]


def landscape_function(landscape: Landscape) -> EnergyGradient:
    """Adapt a :class:`~langevin_opt.Landscape` to ``f(x) -> (E, g)``.

    Parameters
    ----------
    landscape : Landscape
        Energy surface of dimension ``d``.

    Returns
    -------
    callable
        ``f(x)`` with ``x`` of shape ``(d,)``, returning ``(float, ndarray (d,))``.
    """
    from .._kernels import kernels_for

    ks = kernels_for(landscape.energy_grad)
    p = landscape.params
    d = landscape.dim
    e = np.empty(1)

    def f(x: np.ndarray) -> tuple[float, np.ndarray]:
        xt = np.array(x, dtype=np.float64).reshape(d, 1)
        g = np.empty((d, 1))
        ks.evaluate(xt, p, e, g)
        return float(e[0]), g[:, 0].copy()

    return f


def _flat(x: np.ndarray) -> np.ndarray:
    a = np.array(x, dtype=np.float64).ravel()
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise ValueError("coordinates must be a non-empty finite vector")
    return a


def hessian_fd(f: EnergyGradient, x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Hessian by central differences of the analytic gradient.

    A thin adapter of :func:`langevin_opt.analysis.fd_hessian` to ``f(x) -> (E, g)``.

    Parameters
    ----------
    f : callable
        ``f(x) -> (E, g)``.
    x : array_like, shape (n,)
        Point (length units).
    eps : float
        Difference step (length units); error ``O(eps²)``.

    Returns
    -------
    numpy.ndarray, shape (n, n)
        Symmetrised Hessian (energy / length²).
    """
    from ..analysis.hessian import fd_hessian  # the package's one finite-difference Hessian

    def gradient(xb: np.ndarray) -> np.ndarray:
        return np.reshape(f(xb[0])[1], (1, -1))

    return fd_hessian(gradient, _flat(x)[None, :], eps)[0]


def minimize(f: EnergyGradient, x0: np.ndarray, *, gtol: float = 1e-8,
             max_iter: int = 10000) -> OptimizeResult:
    """Local minimum by L-BFGS.

    Parameters
    ----------
    f : callable
        ``f(x) -> (E, g)``.
    x0 : array_like, shape (n,)
        Start.
    gtol : float
        Gradient tolerance (max-norm).
    max_iter : int
        Iteration limit.

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x`` (shape (n,)), ``fun`` (the energy), ``jac``, ``nit``, ``success``, ...: the
        result type every minimizer of the package follows.
    """
    from scipy.optimize import minimize as _min

    r = _min(f, _flat(x0), jac=True, method="L-BFGS-B",
             options={"gtol": gtol, "ftol": 0.0, "maxiter": max_iter, "maxcor": 30})
    r.fun = float(r.fun)
    return r


def analyse_point(f: EnergyGradient, x: np.ndarray, *, hessian: np.ndarray | None = None,
                  n_zero: int | None = None, eps: float = 1e-5) -> HarmonicPoint:
    """Energy and Hessian spectrum at a stationary point.

    Parameters
    ----------
    f : callable
        ``f(x) -> (E, g)``.
    x : array_like, shape (n,)
        Stationary point.
    hessian : array_like, shape (n, n), optional
        Analytic Hessian; default :func:`hessian_fd`.
    n_zero : int, optional
        Zero modes to drop (e.g. 3 for a free 2-D cluster: 2 translations, 1
        rotation; 6 in 3-D); default: by a relative threshold.
    eps : float
        Difference step of the finite-difference Hessian.

    Returns
    -------
    HarmonicPoint
    """
    x = _flat(x)
    h = hessian_fd(f, x, eps) if hessian is None else np.asarray(hessian, dtype=np.float64)
    return harmonic_point(x, f(x)[0], h, n_zero=n_zero)


def rigid_body_modes(x: np.ndarray, dim: int) -> np.ndarray:
    """Orthonormal translation and rotation modes of a free cluster.

    Parameters
    ----------
    x : array_like, shape (N * dim,)
        Flat particle coordinates (``x.reshape(N, dim)``).
    dim : int
        Spatial dimension, 1, 2 or 3.

    Returns
    -------
    numpy.ndarray, shape (k, N * dim)
        Orthonormal rows spanning the ``dim`` translations and the rotations
        (1 in 2-D, 3 in 3-D, fewer for collinear configurations): the zero
        modes of any rotation- and translation-invariant energy.  Pass
        ``zero_modes=lambda x: rigid_body_modes(x, dim)`` to :func:`dimer` and
        :func:`neb` for clusters.
    """
    p = _flat(x).reshape(-1, dim)
    c = p - p.mean(0)
    vecs = []
    for a in range(dim):
        t = np.zeros_like(p)
        t[:, a] = 1.0
        vecs.append(t.ravel())
    if dim == 2:
        vecs.append(np.c_[-c[:, 1], c[:, 0]].ravel())
    elif dim == 3:
        for a in range(3):
            e = np.zeros(3)
            e[a] = 1.0
            vecs.append(np.cross(e, c).ravel())
    q, r = np.linalg.qr(np.array(vecs).T)
    keep = np.abs(np.diag(r)) > 1e-10 * max(1.0, float(np.abs(r).max()))
    return q[:, keep].T


def _projector(zero_modes: Callable[[np.ndarray], np.ndarray] | None, x: np.ndarray
               ) -> Callable[[np.ndarray], np.ndarray]:
    if zero_modes is None:
        return lambda v: v
    b = np.atleast_2d(np.asarray(zero_modes(x), dtype=np.float64))
    return lambda v: v - b.T @ (b @ v)


# --------------------------------------------------------------------------
# FIRE
# --------------------------------------------------------------------------


def _fire(force: Callable[[np.ndarray], tuple[np.ndarray, float]], x0: np.ndarray, *,
          fmax: float, max_iter: int, max_step: float, callback: Callable | None = None
          ) -> tuple[np.ndarray, int, float, bool]:
    """FIRE minimisation of a (possibly non-conservative) force field.

    ``force(x) -> (F, err)`` where ``err`` is the convergence measure.  The step is
    the package's one FIRE step (:func:`langevin_opt.particles.fire.fire_step`) on
    ``x`` as a single row, so each move is capped at ``max_step`` in Euclidean norm;
    the first time step is ``sqrt(0.1 max_step / |F(x0)|)``, ``dt_max = 10 dt``, and
    the step grows after five uphill-free iterations in a row.
    """
    x = np.array(x0, dtype=np.float64)
    f, err = force(x.copy())
    if err < fmax:
        return x, 0, err, True
    fn = float(np.linalg.norm(f))
    dt = math.sqrt(0.1 * max_step / max(fn, 1e-300))
    # n_min = 4: the step grows on the 6th positive-power iteration in a row
    prm = fire_params(dt, 10.0 * dt, 4, 1.1, 0.5, 0.1, 0.99, max_step, fmax)
    st = np.array([dt, 0.1, 0.0])
    row = x.reshape(1, -1)
    v = np.zeros_like(row)
    for it in range(1, max_iter + 1):
        fire_step_py(row, v, np.ascontiguousarray(f, dtype=np.float64).reshape(1, -1), st, prm)
        f, err = force(x.copy())
        if callback is not None:
            callback(it, x.copy(), err)
        if err < fmax:
            return x, it, err, True
        if not np.all(np.isfinite(f)):
            return x, it, err, False
    return x, max_iter, err, False


# --------------------------------------------------------------------------
# nudged elastic band
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class NEBResult:
    """Result of :func:`neb`.

    Attributes
    ----------
    images : numpy.ndarray, shape (P, n)
        The band, end points included.
    energies : numpy.ndarray, shape (P,)
        Image energies.
    saddle : numpy.ndarray, shape (n,)
        The climbing (highest) image.
    saddle_energy : float
    gradient_norm : float
        ``|∇U|`` at the climbing image.
    max_force : float
        Largest NEB force over the moving images at the end.
    n_iter : int
    converged : bool
    """

    images: np.ndarray
    energies: np.ndarray
    saddle: np.ndarray
    saddle_energy: float
    gradient_norm: float
    max_force: float
    n_iter: int
    converged: bool


def _tangent(xm: np.ndarray, x: np.ndarray, xp: np.ndarray, em: float, e: float,
             ep: float) -> np.ndarray:
    tp = xp - x
    tm = x - xm
    if ep > e > em:
        t = tp
    elif ep < e < em:
        t = tm
    else:
        dmax = max(abs(ep - e), abs(em - e))
        dmin = min(abs(ep - e), abs(em - e))
        t = tp * dmax + tm * dmin if ep > em else tp * dmin + tm * dmax
    n = np.linalg.norm(t)
    return t / n if n > 0 else tp / max(np.linalg.norm(tp), 1e-300)


def neb(f: EnergyGradient, x_start: np.ndarray, x_end: np.ndarray, *, n_images: int = 11,
        spring: float | None = None, climb: bool = True, fmax: float = 1e-3,
        max_iter: int = 20000, max_step: float | None = None,
        path: np.ndarray | None = None,
        zero_modes: Callable[[np.ndarray], np.ndarray] | None = None) -> NEBResult:
    """Climbing-image nudged elastic band between two minima.

    Parameters
    ----------
    f : callable
        ``f(x) -> (E, g)`` on flat vectors.
    x_start, x_end : array_like, shape (n,)
        End points (fixed; normally minima).
    n_images : int
        Images including the end points (>= 3).
    spring : float, optional
        Spring constant (energy / length²); default from the initial band:
        ``0.1 × (energy range) / (segment length)²``.
    climb : bool
        Climbing image (the highest image climbs to the saddle along the band,
        free of springs).  It switches on once the plain band is converged to
        ``20 fmax`` or after 200 iterations.
    fmax : float
        Convergence: largest NEB force on any moving image (for the climbing
        image, its gradient norm) below ``fmax`` (energy / length).
    max_iter : int
        FIRE iteration limit.
    max_step : float, optional
        Largest displacement of the whole band per iteration (length units);
        default 1/20 of the segment length.
    path : array_like, shape (n_images, n), optional
        Initial band (default: linear interpolation).
    zero_modes : callable, optional
        ``zero_modes(x) -> (k, n)`` orthonormal zero modes projected out of
        each image's force (e.g. :func:`rigid_body_modes`; align the end
        points first).

    Returns
    -------
    NEBResult
    """
    a = _flat(x_start)
    b = _flat(x_end)
    if a.shape != b.shape:
        raise ValueError(f"end points differ in length: {a.size} vs {b.size}")
    if isinstance(n_images, bool) or not isinstance(n_images, (int, np.integer)) or n_images < 3:
        raise ValueError(f"n_images must be an integer >= 3, got {n_images!r}")
    if not fmax > 0:
        raise ValueError(f"fmax must be > 0, got {fmax!r}")
    n = a.size
    if path is None:
        s = np.linspace(0.0, 1.0, n_images)[:, None]
        band = (1 - s) * a + s * b
    else:
        band = np.array(path, dtype=np.float64).reshape(n_images, n)
        band[0], band[-1] = a, b
    e_a = f(a)[0]
    e_b = f(b)[0]
    seg = float(np.linalg.norm(b - a)) / (n_images - 1)
    if seg == 0:
        raise ValueError("the end points coincide")
    if spring is None:
        es = [f(x)[0] for x in band[1:-1]]
        erange = max(max(es + [e_a, e_b]) - min(es + [e_a, e_b]), 1e-12)
        spring = 0.1 * erange / seg**2
    if max_step is None:
        max_step = seg / 20.0
    m = n_images - 2
    state = {"climb": False, "iter": 0, "ci": -1, "gnorm": math.inf}
    cache: dict[str, np.ndarray] = {}

    def force(flat: np.ndarray) -> tuple[np.ndarray, float]:
        imgs = np.vstack([a, flat.reshape(m, n), b])
        es = np.empty(n_images)
        gs = np.zeros((n_images, n))
        es[0], es[-1] = e_a, e_b
        for i in range(1, n_images - 1):
            es[i], gs[i] = f(imgs[i])
        ci = int(np.argmax(es[1:-1])) + 1
        out = np.empty((m, n))
        for i in range(1, n_images - 1):
            t = _tangent(imgs[i - 1], imgs[i], imgs[i + 1], es[i - 1], es[i], es[i + 1])
            g = gs[i]
            gt = float(np.dot(g, t))
            if state["climb"] and i == ci:
                out[i - 1] = -g + 2 * gt * t
            else:
                fs = spring * (np.linalg.norm(imgs[i + 1] - imgs[i])
                               - np.linalg.norm(imgs[i] - imgs[i - 1]))
                out[i - 1] = -g + gt * t + fs * t
            if zero_modes is not None:
                out[i - 1] = _projector(zero_modes, imgs[i])(out[i - 1])
        norms = np.linalg.norm(out, axis=1)
        state["ci"] = ci
        state["gnorm"] = float(np.linalg.norm(gs[ci]))
        cache["imgs"], cache["es"] = imgs, es
        err = float(norms.max())
        if climb and not state["climb"]:
            state["iter"] += 1
            if err < 20 * fmax or state["iter"] > 200:
                state["climb"] = True
                err = math.inf  # force at least one climbing evaluation
        return out.ravel(), err

    x, it, err, ok = _fire(force, band[1:-1].ravel(), fmax=fmax, max_iter=max_iter,
                           max_step=max_step)
    force(x)
    imgs, es = cache["imgs"], cache["es"]
    ci = state["ci"]
    return NEBResult(imgs, es, imgs[ci].copy(), float(es[ci]), state["gnorm"], float(err),
                     it, bool(ok))


# --------------------------------------------------------------------------
# dimer
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class DimerResult:
    """Result of :func:`dimer`.

    Attributes
    ----------
    x : numpy.ndarray, shape (n,)
        Saddle point found.
    energy : float
    gradient_norm : float
    curvature : float
        Lowest curvature along the dimer (negative at an index-1 saddle).
    mode : numpy.ndarray, shape (n,)
        Unit vector of the lowest mode.
    n_iter : int
        Translation steps.
    n_gradients : int
        Gradient evaluations.
    converged : bool
    """

    x: np.ndarray
    energy: float
    gradient_norm: float
    curvature: float
    mode: np.ndarray
    n_iter: int
    n_gradients: int
    converged: bool


def dimer(f: EnergyGradient, x0: np.ndarray, *, direction: np.ndarray | None = None,
          fmax: float = 1e-3, max_iter: int = 5000, delta: float = 1e-4,
          max_step: float = 0.02, rotations: int = 8, rotation_tol: float = 1e-3,
          seed: int | None = None,
          zero_modes: Callable[[np.ndarray], np.ndarray] | None = None) -> DimerResult:
    """Dimer search for an index-1 saddle point from a starting point.

    Each iteration rotates the dimer (length ``2 delta``) onto the lowest-
    curvature mode ``N`` (up to ``rotations`` Rayleigh–Ritz rotations, until the
    rotation angle is below ``rotation_tol``), then moves along the effective
    force ``F† = F - 2 (F·N) N`` (``F = -∇U``) while the curvature ``N·H N``
    is negative, or ``-(F·N) N`` (straight uphill along the mode) while it is
    positive (at least as fast as a spring of that curvature stretched by
    ``max_step``, so that the dimer also climbs out of a flat well bottom).

    Parameters
    ----------
    f : callable
        ``f(x) -> (E, g)`` on flat vectors.
    x0 : array_like, shape (n,)
        Start (near a saddle, in a well's rim, or a minimum displaced a little).
    direction : array_like, shape (n,), optional
        Initial dimer orientation; default random (``seed``).
    fmax : float
        Convergence on ``|∇U|`` (energy / length), with negative curvature.
    max_iter : int
        Translation steps.
    delta : float
        Half-length of the dimer (length units).
    max_step : float
        Largest translation per step (length units).
    rotations : int
        Rotation iterations per translation.
    rotation_tol : float
        Rotation angle (radians) below which rotation stops.
    seed : int, optional
        Seed of the random initial orientation; required when ``direction`` is not
        given.
    zero_modes : callable, optional
        ``zero_modes(x) -> (k, n)`` orthonormal rows spanning exact zero modes
        (e.g. :func:`rigid_body_modes` of a free cluster); the dimer and the
        step are kept orthogonal to them.

    Returns
    -------
    DimerResult
    """
    x = _flat(x0)
    n = x.size
    if direction is None:
        nvec = np.random.default_rng(check_seed(seed)).standard_normal(n)
    else:
        nvec = _flat(direction)
        if nvec.size != n:
            raise ValueError(f"direction must have length {n}")
    nvec = _projector(zero_modes, x)(nvec)
    nvec /= np.linalg.norm(nvec)
    count = [0]

    def fg(y: np.ndarray) -> tuple[float, np.ndarray]:
        count[0] += 1
        return f(y)

    def hv(y: np.ndarray, v: np.ndarray) -> np.ndarray:
        return (fg(y + delta * v)[1] - fg(y - delta * v)[1]) / (2 * delta)

    def rotate(y: np.ndarray, nv: np.ndarray) -> tuple[np.ndarray, float]:
        proj = _projector(zero_modes, y)
        nv = proj(nv)
        nv /= np.linalg.norm(nv)
        hn = proj(hv(y, nv))
        c = float(nv @ hn)
        if n == 1:
            return nv, c
        for _ in range(rotations):
            frot = hn - c * nv                       # minus the rotational force
            fr = float(np.linalg.norm(frot))
            if fr < 1e-14 * max(abs(c), 1.0):
                break
            th = frot / fr
            ht = proj(hv(y, th))
            m = np.array([[c, float(nv @ ht)], [float(th @ hn), float(th @ ht)]])
            m = 0.5 * (m + m.T)
            w, u = np.linalg.eigh(m)
            new = u[0, 0] * nv + u[1, 0] * th
            new /= np.linalg.norm(new)
            angle = math.acos(min(1.0, abs(float(new @ nv))))
            hn = u[0, 0] * hn + u[1, 0] * ht
            hn /= np.linalg.norm(u[:, 0])
            nv, c = new, float(w[0])
            if angle < rotation_tol:
                break
        return nv, c

    state = {"n": nvec, "c": 0.0, "g": math.inf, "e": 0.0}

    def force(y: np.ndarray) -> tuple[np.ndarray, float]:
        nv, c = rotate(y, state["n"])
        e, g = fg(y)
        fvec = _projector(zero_modes, y)(-g)
        fn = float(fvec @ nv)
        if c < 0:
            eff = fvec - 2 * fn * nv
        else:  # climb the lowest mode, at least as hard as a spring stretched by max_step
            up = -1.0 if fn > 0 else 1.0
            eff = up * max(abs(fn), c * max_step) * nv
        state.update(n=nv, c=c, g=float(np.linalg.norm(g)), e=e)
        err = state["g"] if c < 0 else math.inf
        return eff, err

    x, it, err, ok = _fire(force, x, fmax=fmax, max_iter=max_iter, max_step=max_step)
    return DimerResult(x, float(state["e"]), float(state["g"]), float(state["c"]),
                       state["n"].copy(), it, count[0], bool(ok))


# --------------------------------------------------------------------------
# saddle between two minima
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class SaddleResult:
    """A verified transition state between two minima.

    Attributes
    ----------
    minimum : HarmonicPoint
        The start minimum (polished).
    saddle : HarmonicPoint
        The saddle (exactly one negative Hessian eigenvalue when ``ok``).
    barrier : float
        ``U(saddle) - U(minimum)``.
    neb : NEBResult
    dimer : DimerResult
    ok : bool
        NEB and dimer converged and the Hessian has one negative eigenvalue.
    """

    minimum: HarmonicPoint
    saddle: HarmonicPoint
    barrier: float
    neb: NEBResult
    dimer: DimerResult
    ok: bool


def find_saddle(f: EnergyGradient, x_start: np.ndarray, x_end: np.ndarray, *,
                n_images: int = 11, fmax: float = 1e-3, n_zero: int | None = None,
                eps: float = 1e-5,
                zero_modes: Callable[[np.ndarray], np.ndarray] | None = None) -> SaddleResult:
    """Polish both minima, run CI-NEB between them, refine its top with the dimer method.

    Parameters
    ----------
    f : callable
        ``f(x) -> (E, g)``.
    x_start, x_end : array_like, shape (n,)
        Approximate minima.
    n_images : int
        NEB images.
    fmax : float
        Force tolerance (energy / length).
    n_zero : int, optional
        Zero modes of the Hessians (see :func:`analyse_point`).
    eps : float
        Finite-difference step of the Hessians.
    zero_modes : callable, optional
        Zero modes projected out in NEB and dimer (see :func:`rigid_body_modes`).

    Returns
    -------
    SaddleResult
    """
    a = minimize(f, x_start).x
    b = minimize(f, x_end).x
    band = neb(f, a, b, n_images=n_images, fmax=fmax, zero_modes=zero_modes)
    i = int(np.argmax(band.energies))
    tangent = band.images[min(i + 1, n_images - 1)] - band.images[max(i - 1, 0)]
    dm = dimer(f, band.saddle, direction=tangent, fmax=min(fmax, band.gradient_norm),
               delta=eps * 10, zero_modes=zero_modes)
    mn = analyse_point(f, a, n_zero=n_zero, eps=eps)
    sd = analyse_point(f, dm.x, n_zero=n_zero, eps=eps)
    ok = band.converged and dm.converged and sd.n_negative == 1 and mn.n_negative == 0
    return SaddleResult(mn, sd, sd.energy - mn.energy, band, dm, bool(ok))
