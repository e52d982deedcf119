"""Exact Boltzmann statistics of 1-D and 2-D landscapes, and tests of samplers against them.

Units are the package's reduced units with ``k_B = 1``: temperatures ``T`` are
energies, lengths are the landscape's length unit, and the Boltzmann density is

``ρ_T(x) = exp(-U(x)/T) / Z(T)``,  ``Z(T) = ∫_B exp(-U(x)/T) dx``

over a box ``B`` (the landscape's ``bounds`` unless given).  ``Z`` carries units
of ``length^d``; the free energy ``F = -T ln Z`` is defined with that
convention (only differences of ``F`` are physical).

Quadrature
----------
Integrals are composite Gauss–Legendre tensor-product rules: every axis of the
box is cut into panels (the cut points always include any requested
*breakpoints*, such as histogram bin edges or, in 1-D, the barrier tops that
separate basins) and each panel carries ``order`` Legendre nodes.  The
integrand ``exp(-(U - U_min)/T)`` is smooth, so the rule converges like
``h^(2 order)`` in the panel width ``h``; :func:`exact_boltzmann` doubles the panel
count until ``ln Z`` and ``<U>`` change by less than ``rtol`` and reports the
last change as the error estimate.  The minimum of ``U`` on the grid is
subtracted before exponentiating, so no temperature overflows.

Accuracy (tested in ``tests/test_boltzmann.py``): with the default
``rtol = 1e-9``, ``ln Z`` and ``<U>`` agree with the closed forms of 1-D and
correlated 2-D Gaussian wells and with adaptive ``scipy.integrate.quad`` on the
double well to better than ``1e-9``; bin probabilities agree with Gaussian CDFs
to ``1e-10``; 1-D basin probabilities to ``1e-10``; 2-D basin probabilities
carry the error of an indicator function on the grid, estimated by
``basin_error`` (about ``1e-5``-``1e-4`` for Müller–Brown at ``T = 10-20``).

Basins
------
A configuration belongs to the basin of the known minimum
(``landscape.minima``) that gradient descent from it reaches.  Walkers are
quenched with the package's own compiled ``method="gd"`` integrator
(:func:`assign_basins`); quadrature nodes use the same definition: in 1-D
exactly (basins are the intervals between the local maxima of ``U``, which are
also quadrature breakpoints, so basin integrals converge like the rest), in
2-D by a quadtree of the same compiled quenches that resolves basin
boundaries down to single grid cells (:func:`grid_basin_labels`).

Tests
-----
:func:`bin_probabilities` gives the exact probability of histogram bins,
:func:`chi_square_test` compares counts with them (with an effective sample
size for correlated samples and an optional non-central allowance for a known
discretization bias), :func:`overdamped_bin_probabilities` and
:func:`euler_maruyama_density_1d` give that bias for the Euler–Maruyama scheme,
and :func:`kinetic_temperature` / :func:`configurational_temperature` are the
standard equipartition estimators.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import optimize, stats

from ..landscapes import Landscape
from ..sampling import DivergenceError, sample

__all__ = [
    "QuadratureGrid",
    "BoltzmannResult",
    "BinProbabilities",
    "ChiSquareResult",
    "quadrature_grid",
    "exact_boltzmann",
    "basin_probabilities",
    "grid_basin_labels",
    "quench",
    "assign_basins",
    "bin_probabilities",
    "overdamped_bin_probabilities",
    "euler_maruyama_density_1d",
    "chi_square_test",
    "integrated_autocorrelation_time",
    "effective_sample_size",
    "hessian",
    "laplacian",
    "kinetic_temperature",
    "configurational_temperature",
    "harmonic_basin_probabilities",
    "narrow_wide_harmonic_crossover",
    "crossover_temperature",
]

_MAX_DIM = 2


# ----------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return t


def _check_landscape(landscape: Landscape) -> None:
    if not isinstance(landscape, Landscape):
        raise ValueError(f"landscape must be a Landscape, got {type(landscape).__name__}")
    if landscape.dim > _MAX_DIM:
        raise ValueError(
            f"quadrature is implemented for 1-D and 2-D landscapes, got dim={landscape.dim}"
        )


def _box(landscape: Landscape, bounds: np.ndarray | Sequence | None) -> np.ndarray:
    b = landscape.bounds if bounds is None else bounds
    if b is None:
        raise ValueError(
            f"landscape '{landscape.name}' has no bounds; pass bounds=[[lo, hi], ...]"
        )
    b = np.asarray(b, dtype=np.float64).reshape(landscape.dim, 2)
    if not np.all(np.isfinite(b)) or np.any(b[:, 1] <= b[:, 0]):
        raise ValueError("bounds must be finite with lower < upper in every dimension")
    return b


def _minima(landscape: Landscape, minima: np.ndarray | None) -> np.ndarray:
    m = landscape.minima if minima is None else minima
    if m is None:
        raise ValueError(
            f"landscape '{landscape.name}' has no known minima; pass minima=[[...], ...]"
        )
    return np.asarray(m, dtype=np.float64).reshape(-1, landscape.dim)


def _gl_axis(
    lo: float, hi: float, panels: int, order: int, breakpoints: Sequence[float] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of a composite Gauss–Legendre rule on ``[lo, hi]``."""
    cuts = np.linspace(lo, hi, int(panels) + 1)
    extra = np.asarray(breakpoints, dtype=np.float64).ravel()
    extra = extra[(extra > lo) & (extra < hi)]
    cuts = np.unique(np.concatenate([cuts, extra]))
    # drop cut points closer than 1e-12 of the box to their left neighbour
    keep = np.concatenate([[True], np.diff(cuts) > 1e-12 * (hi - lo)])
    keep[-1] = True
    cuts = cuts[keep]
    if cuts.size >= 2 and cuts[-2] >= cuts[-1]:
        cuts = np.delete(cuts, -2)
    t, w = np.polynomial.legendre.leggauss(int(order))
    a = cuts[:-1, None]
    b = cuts[1:, None]
    nodes = 0.5 * (a + b) + 0.5 * (b - a) * t[None, :]
    weights = 0.5 * (b - a) * w[None, :]
    return nodes.ravel(), weights.ravel()


def _points(axes: Sequence[np.ndarray]) -> np.ndarray:
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def _tensor_weights(weights: Sequence[np.ndarray]) -> np.ndarray:
    w = weights[0]
    for v in weights[1:]:
        w = np.multiply.outer(w, v)
    return w


# ----------------------------------------------------------------------------
# derivatives by finite differences of the compiled gradient
# ----------------------------------------------------------------------------


def _fd_step(landscape: Landscape, eps: float | None) -> float:
    if eps is not None:
        return float(eps)
    if landscape.bounds is not None:
        return 1e-5 * float(np.max(landscape.bounds[:, 1] - landscape.bounds[:, 0]))
    return 1e-5


def hessian(landscape: Landscape, x: np.ndarray, eps: float | None = None) -> np.ndarray:
    """Hessians ``∂²U/∂x_a∂x_b`` by central differences of the analytic gradient.

    Parameters
    ----------
    landscape : Landscape
        Energy surface.
    x : array_like, shape (M, d) or (d,)
        Configurations (length units).
    eps : float, optional
        Difference step (length units); default ``1e-5`` times the largest box
        edge.  The error is ``O(eps²)`` (plus rounding ``~1e-16 |∇U| / eps``).

    Returns
    -------
    numpy.ndarray, shape (M, d, d)
        Symmetrised Hessians (energy / length²).
    """
    x = landscape._as_batch(x)
    d = landscape.dim
    h = _fd_step(landscape, eps)
    out = np.empty((x.shape[0], d, d))
    for k in range(d):
        e = np.zeros(d)
        e[k] = h
        out[:, :, k] = (landscape.gradient(x + e) - landscape.gradient(x - e)) / (2.0 * h)
    return 0.5 * (out + np.swapaxes(out, 1, 2))


def laplacian(landscape: Landscape, x: np.ndarray, eps: float | None = None) -> np.ndarray:
    """Laplacian ``ΔU = Σ_k ∂²U/∂x_k²`` by central differences of the gradient.

    Parameters
    ----------
    landscape : Landscape
        Energy surface.
    x : array_like, shape (M, d) or (d,)
        Configurations (length units).
    eps : float, optional
        Difference step (length units), see :func:`hessian`.

    Returns
    -------
    numpy.ndarray, shape (M,)
        ``ΔU`` (energy / length²).
    """
    return np.trace(hessian(landscape, x, eps), axis1=1, axis2=2)


# ----------------------------------------------------------------------------
# basins: quench walkers and label grid nodes
# ----------------------------------------------------------------------------


def _capture_radius(landscape: Landscape, minima: np.ndarray) -> float:
    """Radius of the ball around each minimum that lies inside its basin (heuristic)."""
    r = np.inf
    if minima.shape[0] > 1:
        dm = np.linalg.norm(minima[:, None, :] - minima[None, :, :], axis=-1)
        r = min(r, 0.1 * float(dm[np.triu_indices(minima.shape[0], 1)].min()))
    sad = landscape.saddles
    if sad is not None and sad.shape[1] == minima.shape[1]:
        ds = np.linalg.norm(minima[:, None, :] - sad[None, :, :], axis=-1)
        r = min(r, 0.25 * float(ds.min()))
    if not math.isfinite(r):
        r = 1e-3
    return r


def _nearest(x: np.ndarray, minima: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = np.linalg.norm(x[:, None, :] - minima[None, :, :], axis=-1)
    lab = np.argmin(d, axis=1)
    return lab, d[np.arange(x.shape[0]), lab]


def quench(
    landscape: Landscape,
    positions: np.ndarray,
    *,
    minima: np.ndarray | None = None,
    dt: float | None = None,
    max_steps: int = 200_000,
    chunk: int = 500,
    capture_radius: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient-descent quench with the compiled ``method="gd"`` integrator.

    Each configuration follows ``x ← x - dt ∇U(x)`` (the package's own
    :class:`~langevin_opt.GradientDescent` kernel, run at ``T = 0``) until it
    is within ``capture_radius`` of a known minimum or ``max_steps`` is used.

    Parameters
    ----------
    landscape : Landscape
        Energy surface.
    positions : array_like, shape (M, d)
        Starting configurations (length units).
    minima : array_like, shape (k, d), optional
        Known minima (default ``landscape.minima``).
    dt : float, optional
        Descent step (length² / energy).  Default ``1 / λ_max``, with
        ``λ_max`` the largest Hessian eigenvalue at the known minima and at
        the starting points (stable for ``dt < 2/λ`` in every quadratic
        region met).  Halved and retried if a walker diverges.
    max_steps : int
        Largest number of descent steps for any walker.
    chunk : int
        Steps of the first compiled call; captured walkers are dropped between
        calls and each call is twice as long as the previous one.
    capture_radius : float, optional
        Distance (length units) from a known minimum at which a walker counts
        as converged.  Default: ``0.1`` of the smallest distance between known
        minima and ``0.25`` of the smallest minimum-to-saddle distance.

    Returns
    -------
    positions : numpy.ndarray, shape (M, d)
        Quenched configurations.
    converged : numpy.ndarray of bool, shape (M,)
        Whether each one reached a capture ball.
    """
    x0 = landscape._as_batch(positions).copy()
    mins = _minima(landscape, minima)
    r_cap = _capture_radius(landscape, mins) if capture_radius is None else float(capture_radius)
    if dt is None:
        lam = np.linalg.eigvalsh(hessian(landscape, np.concatenate([mins, x0]))).max()
        dt = 1.0 / max(float(lam), 1e-12)
    dt = float(dt)
    for _ in range(8):
        try:
            return _quench_loop(landscape, x0, mins, dt, int(max_steps), int(chunk), r_cap)
        except DivergenceError:
            dt *= 0.5
    raise FloatingPointError("gradient-descent quench diverged even after halving dt 8 times")


def _quench_loop(
    landscape: Landscape,
    x: np.ndarray,
    mins: np.ndarray,
    dt: float,
    max_steps: int,
    chunk: int,
    r_cap: float,
) -> tuple[np.ndarray, np.ndarray]:
    x = x.copy()
    _, dist = _nearest(x, mins)
    done = dist <= r_cap
    steps = 0
    while steps < max_steps and not done.all():
        active = np.flatnonzero(~done)
        n = min(chunk, max_steps - steps)
        # small sets: one thread (a parallel launch costs more than the work)
        threads = 1 if active.size < 4096 else None
        res = sample(landscape, x[active], n, method="gd", dt=dt, temperature=0.0, seed=0,
                     threads=threads)
        x[active] = res.state.positions
        _, dist = _nearest(x[active], mins)
        done[active] = dist <= r_cap
        steps += n
        chunk *= 2  # few walkers are left after a while: fewer, longer calls
    return x, done


def assign_basins(
    landscape: Landscape,
    positions: np.ndarray,
    *,
    minima: np.ndarray | None = None,
    dt: float | None = None,
    max_steps: int = 200_000,
    capture_radius: float | None = None,
) -> np.ndarray:
    """Basin of each walker: quench by gradient descent, then take the nearest known minimum.

    Parameters
    ----------
    landscape : Landscape
        Energy surface.
    positions : array_like, shape (M, d)
        Walker configurations (length units), e.g. one frame of a trajectory.
    minima : array_like, shape (k, d), optional
        Known minima (default ``landscape.minima``); labels index this array.
    dt, max_steps, capture_radius
        See :func:`quench`.

    Returns
    -------
    numpy.ndarray of int64, shape (M,)
        Index of the basin's minimum for every walker.  A walker that did not
        reach a capture ball within ``max_steps`` (it sits on a ridge) gets
        its nearest minimum after the quench.
    """
    mins = _minima(landscape, minima)
    x = landscape._as_batch(positions)
    if mins.shape[0] == 1:
        return np.zeros(x.shape[0], dtype=np.int64)
    xq, _ = quench(landscape, x, minima=mins, dt=dt, max_steps=max_steps,
                   capture_radius=capture_radius)
    return _nearest(xq, mins)[0].astype(np.int64)


def _barrier_tops_1d(landscape: Landscape, box: np.ndarray, n: int = 20001) -> np.ndarray:
    """Local maxima of a 1-D ``U`` inside the box (refined with brentq on ``U'``)."""
    xs = np.linspace(box[0, 0], box[0, 1], n)
    g = landscape.gradient(xs[:, None])[:, 0]
    idx = np.flatnonzero((g[:-1] > 0) & (g[1:] <= 0))
    tops = []
    for i in idx:
        if g[i + 1] == 0.0:
            tops.append(xs[i + 1])
            continue
        tops.append(optimize.brentq(
            lambda t: float(landscape.gradient(np.array([[t]]))[0, 0]), xs[i], xs[i + 1],
            xtol=1e-14, rtol=1e-15))
    return np.asarray(tops, dtype=np.float64)


def grid_basin_labels(
    landscape: Landscape,
    axes: Sequence[np.ndarray],
    *,
    energies: np.ndarray | None = None,
    minima: np.ndarray | None = None,
    dt: float | None = None,
    energy_cutoff: float | None = None,
) -> np.ndarray:
    """Basin labels of the nodes of a tensor grid, with the walkers' definition.

    In 1-D a node's basin is the interval between local maxima of ``U`` that
    holds it, mapped to the known minimum that a quench of the interval's
    lowest node reaches.  In 2-D the labels come from a quadtree of
    :func:`assign_basins` quenches (exactly what walkers get): a coarse
    lattice of about 64 x 64 nodes is quenched, every lattice cell whose
    corners disagree (or that holds a known minimum its corners do not show)
    is split in four with its new nodes quenched, down to single grid cells,
    and the nodes of cells whose corners agree take that label.  So only the
    nodes along basin boundaries are quenched individually.  Nodes more than
    ``energy_cutoff`` above the grid minimum carry no weight at the
    temperatures of interest: they are not quenched but get their nearest
    minimum (this keeps the quench step from being set by steep walls).

    Parameters
    ----------
    landscape : Landscape
        Energy surface (``d = 1`` or ``2``).
    axes : sequence of numpy.ndarray
        One increasing 1-D coordinate array per dimension (length units).
    energies : numpy.ndarray, optional
        ``U`` on the grid (``ij`` indexing); computed if not given.
    minima : array_like, optional
        Known minima (default ``landscape.minima``).
    dt : float, optional
        Descent step for the quenches (see :func:`quench`).
    energy_cutoff : float, optional
        Energy above the grid minimum (energy units) beyond which nodes are
        not quenched.  ``30 T`` makes the neglected weight ``< e^-30`` per node
        at temperature ``T``.  Default: twice the height of the lowest point
        of the grid's boundary above its minimum (a box that holds the
        Boltzmann weight at ``T`` has its boundary many ``T`` up; pass
        ``numpy.inf`` to quench every node).

    Returns
    -------
    numpy.ndarray of int64
        Labels with the grid's shape, indices into ``minima``.
    """
    _check_landscape(landscape)
    mins = _minima(landscape, minima)
    axes = [np.asarray(a, dtype=np.float64) for a in axes]
    shape = tuple(a.size for a in axes)
    if mins.shape[0] == 1:
        return np.zeros(shape, dtype=np.int64)
    e = landscape.energy_grid(*axes) if energies is None else np.asarray(energies)
    if landscape.dim == 1:
        x = axes[0]
        box = np.array([[x[0], x[-1]]])
        tops = _barrier_tops_1d(landscape, box)
        seg = np.searchsorted(tops, x)
        lab = np.empty(x.size, dtype=np.int64)
        for s in np.unique(seg):
            sel = np.flatnonzero(seg == s)
            start = x[sel[np.argmin(e[sel])]][None, None]
            lab[sel] = assign_basins(landscape, start, minima=mins, dt=dt)[0]
        return lab
    return _grid_labels_2d(landscape, axes, e, mins, dt, energy_cutoff)


def _grid_labels_2d(
    landscape: Landscape, axes: list[np.ndarray], e: np.ndarray, mins: np.ndarray,
    dt: float | None, energy_cutoff: float | None, coarse: int = 64,
) -> np.ndarray:
    """Quadtree labelling: quench a coarse lattice, refine only cells that straddle basins."""
    n1, n2 = e.shape
    pts = _points(axes)
    lab = np.full((n1, n2), -1, dtype=np.int64)
    # nodes above the energy cutoff carry no weight: nearest minimum, no quench
    wild = np.zeros((n1, n2), dtype=bool)
    if energy_cutoff is None:
        edge = min(float(e[0].min()), float(e[-1].min()), float(e[:, 0].min()),
                   float(e[:, -1].min()))
        energy_cutoff = 2.0 * (edge - float(np.min(e)))
        if not energy_cutoff > 0:
            energy_cutoff = np.inf
    if math.isfinite(energy_cutoff):
        wild = e > float(np.min(e)) + float(energy_cutoff)
        if wild.any():
            lab[wild] = _nearest(pts[wild.ravel()], mins)[0]
    if dt is None:
        sel = np.flatnonzero(~wild.ravel())
        lam = np.linalg.eigvalsh(hessian(landscape, np.concatenate([mins, pts[sel]]))).max()
        dt = 0.5 / max(float(lam), 1e-12)
    # known minima force refinement of the cell holding them (no basin is missed)
    mi = np.clip(np.searchsorted(axes[0], mins[:, 0]), 0, n1 - 1)
    mj = np.clip(np.searchsorted(axes[1], mins[:, 1]), 0, n2 - 1)

    def resolve(ii: np.ndarray, jj: np.ndarray) -> None:
        need = (lab[ii, jj] < 0) & ~wild[ii, jj]
        if need.any():
            flat = np.unique(ii[need] * n2 + jj[need])
            lab.ravel()[flat] = assign_basins(landscape, pts[flat], minima=mins, dt=dt)

    def lattice(n: int) -> np.ndarray:
        step = max(1, n // coarse)
        return np.unique(np.concatenate([np.arange(0, n, step), [n - 1]]))

    ci, cj = lattice(n1), lattice(n2)
    gi, gj = np.meshgrid(ci, cj, indexing="ij")
    resolve(gi.ravel(), gj.ravel())
    a0, b0 = np.meshgrid(ci[:-1], cj[:-1], indexing="ij")
    a1, b1 = np.meshgrid(ci[1:], cj[1:], indexing="ij")
    cells = np.stack([a0.ravel(), a1.ravel(), b0.ravel(), b1.ravel()], axis=1)
    uniform: list[np.ndarray] = []
    while cells.size:
        corners_i = cells[:, [0, 0, 1, 1]]
        corners_j = cells[:, [2, 3, 2, 3]]
        cl = lab[corners_i, corners_j]
        cw = wild[corners_i, corners_j]
        lo_l = np.where(cw, np.iinfo(np.int64).max, cl).min(axis=1)
        hi_l = np.where(cw, -1, cl).max(axis=1)
        split = (hi_l >= 0) & (lo_l != hi_l)
        for k in range(mins.shape[0]):  # a cell holding minimum k must show label k
            inside = (cells[:, 0] <= mi[k]) & (mi[k] <= cells[:, 1]) & \
                (cells[:, 2] <= mj[k]) & (mj[k] <= cells[:, 3])
            split |= inside & ~(hi_l == k) & ~(lo_l == k) & ((cells[:, 1] - cells[:, 0] > 1)
                                                           | (cells[:, 3] - cells[:, 2] > 1))
        small = (cells[:, 1] - cells[:, 0] <= 1) & (cells[:, 3] - cells[:, 2] <= 1)
        keep = ~split & (hi_l >= 0)
        if keep.any():
            uniform.append(np.concatenate([cells[keep], hi_l[keep, None]], axis=1))
        cells = cells[split & ~small]
        if not cells.size:
            break
        ai, aj = (cells[:, 0] + cells[:, 1]) // 2, (cells[:, 2] + cells[:, 3]) // 2
        ii = np.concatenate([np.stack([cells[:, 0], ai, cells[:, 1]], 1)] * 3, axis=1)
        jj = np.repeat(np.stack([cells[:, 2], aj, cells[:, 3]], 1), 3, axis=1)
        resolve(ii.ravel(), jj.ravel())
        sub = []
        for r0, r1 in ((cells[:, 0], ai), (ai, cells[:, 1])):
            for s0, s1 in ((cells[:, 2], aj), (aj, cells[:, 3])):
                sub.append(np.stack([r0, r1, s0, s1], axis=1))
        cells = np.concatenate(sub)
        cells = cells[(cells[:, 1] > cells[:, 0]) | (cells[:, 3] > cells[:, 2])]
        cells = np.unique(cells, axis=0)
    # fill the interior of every uniform cell, then whatever is left (wild cells)
    for block in uniform:
        for r0, r1, s0, s1, lv in block:
            sl = lab[r0:r1 + 1, s0:s1 + 1]
            sl[sl < 0] = lv
    rest = np.flatnonzero(lab.ravel() < 0)
    if rest.size:
        lab.ravel()[rest] = _nearest(pts[rest], mins)[0]
    return lab


# ----------------------------------------------------------------------------
# quadrature grid and Boltzmann statistics
# ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class QuadratureGrid:
    """A tensor-product Gauss–Legendre rule on a box, with energies and basin labels.

    Build it with :func:`quadrature_grid`.  It does not depend on the
    temperature; :meth:`at` evaluates the Boltzmann statistics at any ``T``.

    Attributes
    ----------
    landscape : Landscape
        The energy surface.
    bounds : numpy.ndarray, shape (d, 2)
        Integration box (length units).
    axes : tuple of numpy.ndarray
        Node coordinates per dimension (length units).
    weights : tuple of numpy.ndarray
        Quadrature weights per dimension (length units).
    energies : numpy.ndarray
        ``U`` at the nodes, shape ``(n_1, ..., n_d)`` (energy units).
    labels : numpy.ndarray of int64 or None
        Basin label (index into ``minima``) of every node.
    minima : numpy.ndarray or None
        The minima the labels refer to.
    panels, order : int
        Uniform panels per axis (before breakpoints) and nodes per panel.
    """

    landscape: Landscape
    bounds: np.ndarray
    axes: tuple
    weights: tuple
    energies: np.ndarray
    labels: np.ndarray | None
    minima: np.ndarray | None
    panels: int
    order: int
    breakpoints: tuple = field(default=())

    @property
    def cell_weights(self) -> np.ndarray:
        """Tensor-product weights of the nodes (length^d), grid shape."""
        return _tensor_weights(self.weights)

    @property
    def points(self) -> np.ndarray:
        """Node coordinates as an ``(N, d)`` array (``ij`` order)."""
        return _points(self.axes)

    def log_weights(self, temperature: float) -> tuple[np.ndarray, float]:
        """Unnormalised log Boltzmann weights of the nodes and the energy shift.

        Parameters
        ----------
        temperature : float
            ``T > 0`` (energy units).

        Returns
        -------
        logw : numpy.ndarray
            ``-(U - U_0)/T + ln w`` per node (grid shape).
        u0 : float
            The shift ``U_0 = min U`` on the grid (energy units).
        """
        t = _check_temperature(temperature)
        u0 = float(np.min(self.energies))
        with np.errstate(divide="ignore"):
            logw = -(self.energies - u0) / t + np.log(self.cell_weights)
        return logw, u0

    def density(self, temperature: float) -> np.ndarray:
        """Normalised probability mass of each node, ``w_i ρ_T(x_i)`` (sums to 1).

        Parameters
        ----------
        temperature : float
            ``T > 0`` (energy units).

        Returns
        -------
        numpy.ndarray
            Grid shape, dimensionless.
        """
        logw, _ = self.log_weights(temperature)
        p = np.exp(logw - logw.max())
        return p / p.sum()

    def at(self, temperature: float) -> BoltzmannResult:
        """Boltzmann statistics at one temperature on this grid.

        Parameters
        ----------
        temperature : float
            ``T > 0`` (energy units).

        Returns
        -------
        BoltzmannResult
            With ``error = nan`` (use :func:`exact_boltzmann` for an error estimate).
        """
        t = _check_temperature(temperature)
        logw, u0 = self.log_weights(t)
        mx = float(logw.max())
        p = np.exp(logw - mx)
        s = float(p.sum())
        p /= s
        log_z = -u0 / t + mx + math.log(s)
        mean_u = float(np.sum(p * self.energies))
        var_u = float(np.sum(p * (self.energies - mean_u) ** 2))
        probs = None
        if self.labels is not None and self.minima is not None:
            probs = np.bincount(self.labels.ravel(), weights=p.ravel(),
                                minlength=self.minima.shape[0])
        edge = _edge_density_ratio(p, self.cell_weights)
        return BoltzmannResult(
            temperature=t,
            log_partition=log_z,
            mean_energy=mean_u,
            energy_variance=var_u,
            free_energy=-t * log_z,
            entropy=(mean_u + t * log_z) / t,
            heat_capacity=var_u / t**2,
            basin_probabilities=probs,
            edge_density_ratio=edge,
            error=float("nan"),
            basin_error=float("nan"),
            grid=self,
        )

    def bin_masses(
        self, temperature: float, edges: Sequence[np.ndarray], factor: np.ndarray | None = None
    ) -> tuple[np.ndarray, float]:
        """Probability of each histogram bin (the edges must be grid breakpoints).

        Parameters
        ----------
        temperature : float
            ``T > 0`` (energy units).
        edges : sequence of numpy.ndarray
            One increasing edge array per dimension (length units).
        factor : numpy.ndarray, optional
            Multiplies the density node by node before normalising (grid
            shape); used for modified densities ``ρ (1 + f)``.

        Returns
        -------
        probabilities : numpy.ndarray
            Shape ``(len(e_1) - 1, ..., len(e_d) - 1)``.
        outside : float
            Probability of the rest of the box.
        """
        p = self.density(temperature)
        if factor is not None:
            p = p * factor
            p = p / p.sum()
        idx = []
        nb = []
        for ax, ed in zip(self.axes, edges, strict=True):
            ed = np.asarray(ed, dtype=np.float64)
            k = np.searchsorted(ed, ax, side="right") - 1
            k[(ax <= ed[0]) | (ax >= ed[-1])] = -1
            idx.append(k)
            nb.append(ed.size - 1)
        mesh = np.meshgrid(*idx, indexing="ij")
        inside = np.ones(p.shape, dtype=bool)
        for m in mesh:
            inside &= m >= 0
        flat = np.ravel_multi_index([m[inside] for m in mesh], nb)
        probs = np.bincount(flat, weights=p[inside], minlength=int(np.prod(nb))).reshape(nb)
        return probs, float(max(0.0, 1.0 - probs.sum()))


def _edge_density_ratio(p: np.ndarray, w: np.ndarray) -> float:
    """Largest density on the outermost nodes relative to the largest density."""
    rho = p / w
    top = float(rho.max())
    edge = 0.0
    for ax in range(rho.ndim):
        edge = max(edge, float(np.take(rho, 0, axis=ax).max()),
                   float(np.take(rho, -1, axis=ax).max()))
    return edge / top if top > 0 else 0.0


@dataclass(frozen=True)
class BoltzmannResult:
    """Exact (quadrature) Boltzmann statistics of a landscape at one temperature.

    Attributes
    ----------
    temperature : float
        ``T`` (energy units, ``k_B = 1``).
    log_partition : float
        ``ln Z``, ``Z = ∫_box exp(-U/T) dx`` (``Z`` in length^d).
    mean_energy : float
        ``<U>_T`` (energy units).
    energy_variance : float
        ``<U²>_T - <U>_T²`` (energy²).
    free_energy : float
        ``F = -T ln Z`` (energy units).
    entropy : float
        ``S = (<U> - F)/T`` (dimensionless, ``k_B = 1``).
    heat_capacity : float
        Configurational ``C = Var(U)/T²`` (dimensionless).
    basin_probabilities : numpy.ndarray or None
        Probability of each basin, aligned with the grid's ``minima``.
    edge_density_ratio : float
        Largest density on the box boundary over the largest density; a value
        above ``~1e-8`` means the box cuts off weight.
    error : float
        Estimated absolute error of ``ln Z`` (and relative error of ``<U>``,
        whichever is larger) from the last grid refinement; ``nan`` if unknown.
    basin_error : float
        Largest change of a basin probability in the last refinement.
    grid : QuadratureGrid
        The rule used.
    """

    temperature: float
    log_partition: float
    mean_energy: float
    energy_variance: float
    free_energy: float
    entropy: float
    heat_capacity: float
    basin_probabilities: np.ndarray | None
    edge_density_ratio: float
    error: float
    basin_error: float
    grid: QuadratureGrid = field(repr=False)

    @property
    def partition_function(self) -> float:
        """``Z(T)`` itself (length^d); ``inf`` if it overflows a float."""
        try:
            return math.exp(self.log_partition)
        except OverflowError:
            return math.inf


def quadrature_grid(
    landscape: Landscape,
    *,
    bounds: np.ndarray | Sequence | None = None,
    panels: int = 32,
    order: int = 8,
    breakpoints: Sequence[Sequence[float]] | None = None,
    basins: bool = True,
    minima: np.ndarray | None = None,
    dt: float | None = None,
    energy_cutoff: float | None = None,
) -> QuadratureGrid:
    """Build a composite Gauss–Legendre tensor grid over a box.

    Parameters
    ----------
    landscape : Landscape
        A 1-D or 2-D energy surface.
    bounds : array_like, shape (d, 2), optional
        Integration box (length units); default ``landscape.bounds``.
    panels : int
        Uniform panels per axis (``>= 1``).
    order : int
        Gauss–Legendre nodes per panel (``>= 2``).
    breakpoints : sequence of sequences of float, optional
        Extra panel boundaries per dimension (e.g. histogram edges, so that
        bin integrals are smooth-integrand integrals).  In 1-D the local maxima
        of ``U`` are always added, so basin integrals are exact as well.
    basins : bool
        Whether to label the nodes with basins (needs known minima).
    minima : array_like, optional
        Known minima (default ``landscape.minima``).
    dt : float, optional
        Quench step for basin labelling (see :func:`quench`).
    energy_cutoff : float, optional
        See :func:`grid_basin_labels`.

    Returns
    -------
    QuadratureGrid
    """
    _check_landscape(landscape)
    box = _box(landscape, bounds)
    d = landscape.dim
    if int(panels) < 1 or int(order) < 2:
        raise ValueError("panels must be >= 1 and order >= 2")
    bps: list[list[float]] = [[] for _ in range(d)]
    if breakpoints is not None:
        if len(breakpoints) != d:
            raise ValueError(f"breakpoints needs one sequence per dimension ({d})")
        bps = [list(np.asarray(b, dtype=np.float64).ravel()) for b in breakpoints]
    mins = None
    if basins and (minima is not None or landscape.minima is not None):
        mins = _minima(landscape, minima)
        if d == 1 and mins.shape[0] > 1:
            bps[0] = bps[0] + list(_barrier_tops_1d(landscape, box))
    else:
        basins = False
    axes = []
    weights = []
    for k in range(d):
        a, w = _gl_axis(box[k, 0], box[k, 1], panels, order, bps[k])
        axes.append(a)
        weights.append(w)
    e = landscape.energy_grid(*axes)
    if not np.all(np.isfinite(e)):
        raise ValueError("the landscape is not finite everywhere on the quadrature grid")
    labels = grid_basin_labels(landscape, axes, energies=e, minima=mins, dt=dt,
                               energy_cutoff=energy_cutoff) if basins else None
    return QuadratureGrid(landscape, box, tuple(axes), tuple(weights), e, labels, mins,
                          int(panels), int(order), tuple(tuple(b) for b in bps))


def exact_boltzmann(
    landscape: Landscape,
    temperature: float,
    *,
    bounds: np.ndarray | Sequence | None = None,
    rtol: float = 1e-9,
    order: int = 8,
    panels: int = 16,
    max_panels: int = 256,
    basins: bool = True,
    minima: np.ndarray | None = None,
) -> BoltzmannResult:
    """Exact Boltzmann statistics by adaptive tensor-product quadrature.

    The panel count per axis is doubled (from ``panels``) until ``ln Z`` and
    ``<U>/max(|<U>|, T)`` change by less than ``rtol``; the last change is
    reported as ``error``.  Because composite Gauss–Legendre converges like
    ``h^(2 order)``, the change of the last doubling bounds the error of the
    finer grid with a wide margin.  Basin probabilities are exact integrals in
    1-D (basin boundaries are breakpoints); in 2-D they carry the error of
    integrating an indicator function on the grid, reported as
    ``basin_error`` (the change in the last doubling).

    Parameters
    ----------
    landscape : Landscape
        A 1-D or 2-D energy surface.
    temperature : float
        ``T > 0`` (energy units).
    bounds : array_like, shape (d, 2), optional
        Integration box (default ``landscape.bounds``).  Check
        ``edge_density_ratio`` of the result: the box should hold all weight.
    rtol : float
        Target accuracy of ``ln Z`` and ``<U>``.
    order : int
        Nodes per panel.
    panels : int
        Starting number of panels per axis.
    max_panels : int
        Largest number of panels per axis; a :class:`RuntimeWarning` is
        issued if ``rtol`` is not reached by then.
    basins : bool
        Whether to compute basin probabilities.
    minima : array_like, optional
        Known minima (default ``landscape.minima``).

    Returns
    -------
    BoltzmannResult
    """
    t = _check_temperature(temperature)
    _check_landscape(landscape)
    want = bool(basins) and (minima is not None or landscape.minima is not None)
    one_d = landscape.dim == 1

    def level(p: int, lab: bool) -> BoltzmannResult:
        return quadrature_grid(landscape, bounds=bounds, panels=p, order=order,
                               basins=lab, minima=minima, energy_cutoff=30.0 * t).at(t)

    p = int(panels)
    prev = level(p, want and one_d)
    while True:
        p *= 2
        cur = level(p, want and one_d)
        err = max(abs(cur.log_partition - prev.log_partition),
                  abs(cur.mean_energy - prev.mean_energy) / max(abs(cur.mean_energy), t))
        if err < rtol or p >= max_panels:
            break
        prev = cur
    if err >= rtol:
        warnings.warn(f"exact_boltzmann: rtol={rtol:g} not reached with {p} panels "
                      f"(last change {err:.3g})", RuntimeWarning, stacklevel=2)
    berr = float("nan")
    if want and not one_d:
        # basin labels are T-independent but costly: label only the last two levels
        cur = level(p, True)
        prev = level(p // 2, True)
    if want:
        berr = float(np.max(np.abs(cur.basin_probabilities - prev.basin_probabilities)))
    if cur.edge_density_ratio > 1e-8:
        warnings.warn(f"exact_boltzmann: density on the box edge is {cur.edge_density_ratio:.2g} "
                      "of its maximum; enlarge bounds", RuntimeWarning, stacklevel=2)
    return replace(cur, error=float(err), basin_error=berr)


def basin_probabilities(
    landscape: Landscape, temperature: float, **kwargs: object
) -> np.ndarray:
    """Quadrature basin probabilities (same basin definition as :func:`assign_basins`).

    Parameters
    ----------
    landscape : Landscape
        A 1-D or 2-D energy surface with known minima.
    temperature : float
        ``T > 0`` (energy units).
    **kwargs
        Passed to :func:`exact_boltzmann`.

    Returns
    -------
    numpy.ndarray
        Probability of each basin, aligned with ``landscape.minima``.
    """
    return exact_boltzmann(landscape, temperature, **kwargs).basin_probabilities  # type: ignore[arg-type]


# ----------------------------------------------------------------------------
# histograms
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BinProbabilities:
    """Exact probabilities of histogram bins.

    Attributes
    ----------
    probabilities : numpy.ndarray
        One entry per bin, shape ``(n_1, ..., n_d)`` (dimensionless).
    outside : float
        Probability of the part of the box not covered by the bins.
    error : float
        Largest change of a bin probability in the last grid refinement.
    edges : tuple of numpy.ndarray
        The bin edges (length units).
    """

    probabilities: np.ndarray
    outside: float
    error: float
    edges: tuple

    def categories(self) -> np.ndarray:
        """Flattened bin probabilities followed by ``outside`` (for :func:`chi_square_test`)."""
        return np.concatenate([self.probabilities.ravel(), [self.outside]])


def _edges(landscape: Landscape, edges: object) -> list[np.ndarray]:
    if landscape.dim == 1:
        if isinstance(edges, (list, tuple)) and len(edges) == 1 \
                and np.ndim(edges[0]) == 1:
            edges = edges[0]
        out = [np.asarray(edges, dtype=np.float64).ravel()]
    else:
        if len(edges) != landscape.dim:  # type: ignore[arg-type]
            raise ValueError(f"edges needs one array per dimension ({landscape.dim})")
        out = [np.asarray(e, dtype=np.float64).ravel() for e in edges]  # type: ignore[union-attr]
    for e in out:
        if e.size < 2 or np.any(np.diff(e) <= 0) or not np.all(np.isfinite(e)):
            raise ValueError("bin edges must be finite and strictly increasing (>= 2 per axis)")
    return out


def _covering_box(landscape: Landscape, bounds: object, edges: list[np.ndarray]) -> np.ndarray:
    box = _box(landscape, bounds).copy()
    for k, e in enumerate(edges):
        box[k, 0] = min(box[k, 0], e[0])
        box[k, 1] = max(box[k, 1], e[-1])
    return box


def bin_probabilities(
    landscape: Landscape,
    temperature: float,
    edges: np.ndarray | Sequence[np.ndarray],
    *,
    bounds: np.ndarray | Sequence | None = None,
    panels: int = 32,
    order: int = 8,
    rtol: float = 1e-9,
    max_panels: int = 512,
) -> BinProbabilities:
    """Exact probabilities ``∫_bin ρ_T dx`` of histogram bins (1-D or 2-D).

    The bin edges are quadrature breakpoints, so every bin integral is a
    smooth-integrand Gauss–Legendre integral; the panel count is doubled until
    no bin probability changes by more than ``rtol``.

    Parameters
    ----------
    landscape : Landscape
        A 1-D or 2-D energy surface.
    temperature : float
        ``T > 0`` (energy units).
    edges : array_like or sequence of array_like
        Bin edges (length units): one array in 1-D, ``(x_edges, y_edges)`` in
        2-D (the ``numpy.histogram2d`` convention).
    bounds : array_like, shape (d, 2), optional
        Normalisation box (default ``landscape.bounds``, widened to cover the
        edges).  Weight outside it is taken as zero.
    panels, order : int
        Starting panels per axis and nodes per panel.
    rtol : float
        Target absolute accuracy of every bin probability.
    max_panels : int
        Largest panel count per axis.

    Returns
    -------
    BinProbabilities
    """
    _check_landscape(landscape)
    t = _check_temperature(temperature)
    ed = _edges(landscape, edges)
    box = _covering_box(landscape, bounds, ed)
    p = int(panels)
    prev = None
    while True:
        g = quadrature_grid(landscape, bounds=box, panels=p, order=order, breakpoints=ed,
                            basins=False)
        probs, out = g.bin_masses(t, ed)
        if prev is not None:
            err = float(np.max(np.abs(probs - prev)))
            if err < rtol or 2 * p > max_panels:
                return BinProbabilities(probs, out, err, tuple(ed))
        prev = probs
        p *= 2


def overdamped_bin_probabilities(
    landscape: Landscape,
    temperature: float,
    dt: float,
    edges: np.ndarray | Sequence[np.ndarray],
    *,
    bounds: np.ndarray | Sequence | None = None,
    panels: int = 128,
    order: int = 8,
) -> BinProbabilities:
    """Bin probabilities of the Euler–Maruyama stationary density to first order in ``dt``.

    The scheme ``x ← x - dt ∇U + sqrt(2 T dt) ξ`` samples
    ``ρ_dt = ρ (1 + dt f₁) + O(dt²)`` with (Talay–Tubaro expansion; derived
    from the stationarity condition of the one-step generator
    ``1 + dt L + dt² A₂``)

    ``f₁ = |∇U|²/(4T) - ΔU/2 + <ΔU>/4``,

    which vanishes on average because ``<|∇U|²>/T = <ΔU>``.  For a harmonic
    well of stiffness ``k`` it gives the exact first-order variance
    ``T/k (1 + k dt/2)``.  ``ΔU`` is taken by central differences.

    Parameters
    ----------
    landscape : Landscape
        A 1-D or 2-D energy surface.
    temperature : float
        ``T > 0`` (energy units).
    dt : float
        Time step of the scheme (time units, friction 1).
    edges : array_like or sequence of array_like
        Bin edges, as for :func:`bin_probabilities`.
    bounds : array_like, optional
        Normalisation box (default ``landscape.bounds``).
    panels, order : int
        Panels per axis and nodes per panel.

    Returns
    -------
    BinProbabilities
        With ``error`` = the largest first-order shift ``|q_i - p_i|`` (a
        scale for the neglected ``O(dt²)`` term, which is ``dt`` times smaller).
    """
    _check_landscape(landscape)
    t = _check_temperature(temperature)
    ed = _edges(landscape, edges)
    box = _covering_box(landscape, bounds, ed)
    g = quadrature_grid(landscape, bounds=box, panels=panels, order=order, breakpoints=ed,
                        basins=False)
    pts = g.points
    grad = landscape.gradient(pts)
    lap = laplacian(landscape, pts)
    rho = g.density(t).ravel()
    mean_lap = float(np.sum(rho * lap))
    f1 = np.sum(grad**2, axis=1) / (4.0 * t) - 0.5 * lap + 0.25 * mean_lap
    p0, _ = g.bin_masses(t, ed)
    q, out = g.bin_masses(t, ed, factor=(1.0 + float(dt) * f1).reshape(g.energies.shape))
    return BinProbabilities(q, out, float(np.max(np.abs(q - p0))), tuple(ed))


def euler_maruyama_density_1d(
    landscape: Landscape,
    temperature: float,
    dt: float,
    *,
    bounds: np.ndarray | Sequence | None = None,
    n: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact stationary density of the 1-D Euler–Maruyama chain (Nyström method).

    The chain ``x' = x - dt U'(x) + sqrt(2 T dt) ξ`` has the Gaussian transition
    density ``k(x'|x) = N(x'; x - dt U'(x), 2 T dt)``; its stationary density
    solves ``π(x') = ∫ k(x'|x) π(x) dx``, discretised with the trapezoid rule
    on a uniform grid whose spacing resolves the kernel width
    ``σ = sqrt(2 T dt)`` (at most ``σ/8``), and solved as a linear system with
    the normalisation replacing one equation.

    Parameters
    ----------
    landscape : Landscape
        A 1-D energy surface.
    temperature : float
        ``T > 0`` (energy units).
    dt : float
        Time step (time units, friction 1).
    bounds : array_like, shape (1, 2), optional
        Domain (default ``landscape.bounds``); mass leaving it is dropped and
        the density renormalised.
    n : int, optional
        Number of grid points (default from the spacing rule, at least 1001).

    Returns
    -------
    x : numpy.ndarray
        Grid (length units).
    density : numpy.ndarray
        ``π(x)`` normalised to unit trapezoid integral (1 / length).
    """
    if landscape.dim != 1:
        raise ValueError("euler_maruyama_density_1d needs a 1-D landscape")
    t = _check_temperature(temperature)
    dt = float(dt)
    box = _box(landscape, bounds)
    a, b = box[0]
    sig = math.sqrt(2.0 * t * dt)
    if n is None:
        n = max(1001, int(math.ceil(8.0 * (b - a) / sig)) + 1)
    if n > 6001:
        raise ValueError(f"grid of {n} points needed; dt is too small for this method")
    x = np.linspace(a, b, n)
    h = x[1] - x[0]
    mu = x - dt * landscape.gradient(x[:, None])[:, 0]
    kern = np.exp(-0.5 * ((x[:, None] - mu[None, :]) / sig) ** 2) / (sig * math.sqrt(2 * math.pi))
    wts = np.full(n, h)
    wts[[0, -1]] *= 0.5
    kmat = kern * wts[None, :]
    # stationarity (K - I) pi = 0 with the normalisation sum(w pi) = 1 replacing one row
    amat = kmat - np.eye(n)
    amat[-1, :] = wts
    rhs = np.zeros(n)
    rhs[-1] = 1.0
    pi = np.linalg.solve(amat, rhs)
    return x, pi


# ----------------------------------------------------------------------------
# goodness of fit and correlated samples
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChiSquareResult:
    """Outcome of :func:`chi_square_test`.

    Attributes
    ----------
    statistic : float
        Pearson ``X² = Σ (O - E)²/E`` (or ``G = 2 Σ O ln(O/E)``), scaled by
        ``n_effective / n``.
    dof : int
        Degrees of freedom, categories after pooling minus one.
    p_value : float
        Central chi-square upper tail probability of ``statistic``.
    threshold : float
        Rejection threshold: the ``1 - alpha`` quantile of the chi-square
        (non-central with ``noncentrality`` if a reference was given).
    alpha : float
        Significance level.
    noncentrality : float
        ``λ = n_eff Σ (r_i - p_i)²/p_i`` for the reference ``r`` (0 if none),
        plus any explicit allowance.
    n : int
        Number of samples.
    n_effective : float
        Effective number of independent samples.
    categories : int
        Number of categories after pooling.
    passed : bool
        ``statistic <= threshold``.
    """

    statistic: float
    dof: int
    p_value: float
    threshold: float
    alpha: float
    noncentrality: float
    n: int
    n_effective: float
    categories: int
    passed: bool


def chi_square_test(
    counts: np.ndarray,
    probabilities: np.ndarray,
    *,
    alpha: float = 1e-3,
    n_effective: float | None = None,
    reference: np.ndarray | None = None,
    noncentrality: float = 0.0,
    min_expected: float = 5.0,
    method: str = "pearson",
) -> ChiSquareResult:
    """Goodness-of-fit test of binned samples against exact probabilities.

    Categories whose expected count ``n_eff p_i`` is below ``min_expected``
    are pooled into one (and that one into its smallest neighbour in
    expected count if still too small), so the chi-square approximation holds.

    Correlated samples: with ``n`` samples drawn from a chain of statistical
    inefficiency ``g`` (see :func:`integrated_autocorrelation_time`), the
    multinomial variance is inflated by ``g``; passing
    ``n_effective = n / g`` rescales the statistic by ``n_eff/n`` so that it
    is again chi-square distributed.  Independent walkers at one frame have
    ``n_effective = n`` (the default).

    Known bias: for an unadjusted scheme whose stationary distribution is
    ``r`` (e.g. :func:`overdamped_bin_probabilities`), the statistic against
    ``p`` is non-central chi-square with ``λ = n_eff Σ (r_i - p_i)²/p_i``; the
    threshold is then that distribution's ``1 - alpha`` quantile.  This is the
    explicit, sample-size-derived allowance for the bias.

    Parameters
    ----------
    counts : array_like
        Observed counts per category (all samples, including an "outside"
        category if there is one).
    probabilities : array_like
        Exact probabilities of the same categories (summing to 1).
    alpha : float
        Significance level (false-alarm probability of the test).
    n_effective : float, optional
        Effective sample size (default ``n = Σ counts``).
    reference : array_like, optional
        Category probabilities the sampler is known to follow instead of
        ``probabilities`` (leading-order bias).
    noncentrality : float
        An additional allowance ``λ`` for a bias known only by its size (for
        example a bound ``n_eff Σ δ_i²/p_i`` on a bias ``δ``); added to the
        one from ``reference``.
    min_expected : float
        Smallest expected count of a category.
    method : {"pearson", "g"}
        Pearson ``X²`` or the likelihood-ratio ``G`` statistic.

    Returns
    -------
    ChiSquareResult
    """
    o = np.asarray(counts, dtype=np.float64).ravel()
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    if o.shape != p.shape:
        raise ValueError(f"counts and probabilities differ in size: {o.size} vs {p.size}")
    if np.any(p < 0) or abs(p.sum() - 1.0) > 1e-6:
        raise ValueError(f"probabilities must be >= 0 and sum to 1 (sum {p.sum():.8g})")
    r = None if reference is None else np.asarray(reference, dtype=np.float64).ravel()
    if r is not None and r.shape != p.shape:
        raise ValueError("reference must have the shape of probabilities")
    n = float(o.sum())
    if n <= 0:
        raise ValueError("no samples")
    neff = n if n_effective is None else float(n_effective)
    scale = neff / n
    # pool small categories
    small = neff * p < min_expected
    groups = [np.array([i]) for i in np.flatnonzero(~small)]
    if small.any():
        groups.append(np.flatnonzero(small))
    oo = np.array([o[g].sum() for g in groups])
    pp = np.array([p[g].sum() for g in groups])
    rr = None if r is None else np.array([r[g].sum() for g in groups])
    if pp.size > 1 and neff * pp[-1] < min_expected and small.any():
        j = int(np.argmin(pp[:-1]))
        oo[j] += oo[-1]
        pp[j] += pp[-1]
        oo, pp = oo[:-1], pp[:-1]
        if rr is not None:
            rr[j] += rr[-1]
            rr = rr[:-1]
    k = pp.size
    if k < 2:
        raise ValueError("fewer than 2 categories after pooling; use more samples or bins")
    dof = k - 1
    e = n * pp
    if method == "pearson":
        stat = float(np.sum((oo - e) ** 2 / e))
    elif method == "g":
        with np.errstate(divide="ignore", invalid="ignore"):
            term = np.where(oo > 0, oo * np.log(oo / e), 0.0)
        stat = float(2.0 * np.sum(term))
    else:
        raise ValueError(f"method must be 'pearson' or 'g', got {method!r}")
    stat *= scale
    lam = 0.0 if rr is None else float(neff * np.sum((rr - pp) ** 2 / pp))
    if not (math.isfinite(noncentrality) and noncentrality >= 0):
        raise ValueError(f"noncentrality must be a finite number >= 0, got {noncentrality!r}")
    lam += float(noncentrality)
    thr = float(stats.chi2.isf(alpha, dof)) if lam == 0.0 else float(stats.ncx2.isf(alpha, dof,
                                                                                      lam))
    pval = float(stats.chi2.sf(stat, dof))
    return ChiSquareResult(stat, dof, pval, thr, float(alpha), lam, int(n), neff, k,
                           bool(stat <= thr))


def integrated_autocorrelation_time(series: np.ndarray, c: float = 5.0) -> float:
    """Statistical inefficiency ``g = 1 + 2 Σ_{t≥1} ρ(t)`` with Sokal's window.

    Parameters
    ----------
    series : array_like, shape (F,) or (F, M)
        A time series of ``F`` frames, or ``M`` independent chains of ``F``
        frames each (autocorrelations are averaged over chains).
    c : float
        Window constant: the sum is cut at the smallest lag ``W >= c g(W)``.

    Returns
    -------
    float
        ``g >= 1`` in units of the frame interval (``g = 1``: independent
        frames); the effective sample size is ``F M / g``.
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    f = x.shape[0]
    if f < 4:
        return 1.0
    x = x - x.mean(axis=0)
    nfft = 1 << int(math.ceil(math.log2(2 * f)))
    spec = np.fft.rfft(x, n=nfft, axis=0)
    acov = np.fft.irfft(spec * np.conj(spec), n=nfft, axis=0)[:f].mean(axis=1)
    if acov[0] <= 0:
        return 1.0
    rho = acov / acov[0]
    g = 1.0
    for w in range(1, f):
        g += 2.0 * rho[w]
        if w >= c * g:
            break
    return max(1.0, float(g))


def effective_sample_size(series: np.ndarray, c: float = 5.0) -> float:
    """Effective number of independent samples ``F M / g`` of a (chain) series.

    Parameters
    ----------
    series : array_like, shape (F,) or (F, M)
        Frames of one or ``M`` independent chains.
    c : float
        Window constant of :func:`integrated_autocorrelation_time`.

    Returns
    -------
    float
    """
    x = np.asarray(series, dtype=np.float64)
    return float(x.size) / integrated_autocorrelation_time(x, c)


# ----------------------------------------------------------------------------
# temperature estimators
# ----------------------------------------------------------------------------


def kinetic_temperature(velocities: np.ndarray, mass: float = 1.0) -> tuple[float, float]:
    """Kinetic temperature ``T_kin = m <v²>`` per degree of freedom, with its standard error.

    Parameters
    ----------
    velocities : array_like, shape (M, d)
        One frame of independent walkers (length / time).
    mass : float
        Walker mass ``m`` (energy time² / length²).

    Returns
    -------
    value : float
        ``T_kin`` (energy units).
    stderr : float
        Standard error from the spread of the per-walker ``m |v|²/d``.
    """
    v = np.asarray(velocities, dtype=np.float64)
    v = v.reshape(v.shape[0], -1)
    per = float(mass) * np.mean(v**2, axis=1)
    return float(per.mean()), float(per.std(ddof=1) / math.sqrt(per.size))


def configurational_temperature(
    landscape: Landscape, positions: np.ndarray, eps: float | None = None
) -> tuple[float, float]:
    """Configurational temperature ``T_conf = <|∇U|²> / <ΔU>`` with its standard error.

    In equilibrium ``<|∇U|²> = T <ΔU>`` (integration by parts), whatever the
    dynamics.  The Laplacian is taken by central differences of the gradient.

    Parameters
    ----------
    landscape : Landscape
        Energy surface.
    positions : array_like, shape (M, d)
        Independent configurations (length units).
    eps : float, optional
        Difference step for the Laplacian (see :func:`laplacian`).

    Returns
    -------
    value : float
        ``T_conf`` (energy units).
    stderr : float
        Delta-method standard error of the ratio of means.
    """
    x = landscape._as_batch(positions)
    a = np.sum(landscape.gradient(x) ** 2, axis=1)
    b = laplacian(landscape, x, eps)
    ma, mb = float(a.mean()), float(b.mean())
    r = ma / mb
    cov = np.cov(a, b, ddof=1)
    var = (cov[0, 0] - 2 * r * cov[0, 1] + r * r * cov[1, 1]) / (mb * mb * a.size)
    return r, float(math.sqrt(max(var, 0.0)))


# ----------------------------------------------------------------------------
# harmonic approximation and the narrow/wide crossover
# ----------------------------------------------------------------------------


def harmonic_basin_probabilities(
    landscape: Landscape, temperature: float, minima: np.ndarray | None = None
) -> np.ndarray:
    """Basin probabilities in the harmonic (Laplace) approximation.

    ``Z_i ≈ exp(-U(x_i)/T) (2π T)^{d/2} / sqrt(det H_i)`` at every known
    minimum ``x_i`` (Hessian ``H_i`` by finite differences).  The relative
    error of each ``Z_i`` is ``O(T / barrier)`` (anharmonic terms).

    Parameters
    ----------
    landscape : Landscape
        Energy surface.
    temperature : float
        ``T > 0`` (energy units).
    minima : array_like, optional
        Minima (default ``landscape.minima``).

    Returns
    -------
    numpy.ndarray
        Normalised probabilities, one per minimum.
    """
    t = _check_temperature(temperature)
    mins = _minima(landscape, minima)
    u = landscape.energy(mins)
    _, logdet = np.linalg.slogdet(hessian(landscape, mins))
    logz = -(u - u.min()) / t - 0.5 * logdet
    w = np.exp(logz - logz.max())
    return w / w.sum()


def narrow_wide_harmonic_crossover(
    depth_narrow: float = 4.0,
    width_narrow: float = 0.15,
    depth_wide: float = 3.0,
    width_wide: float = 0.6,
    dim: int = 2,
) -> float:
    """Crossover temperature of :func:`~langevin_opt.narrow_wide` in the harmonic approximation.

    With ``Z_i ≈ exp(D_i/T) (2π T w_i²/D_i)^{d/2}`` the two basin weights are
    equal at

    ``T* = (D_n - D_w) / ((d/2) ln(w_w² D_n / (w_n² D_w)))``.

    Parameters
    ----------
    depth_narrow, width_narrow, depth_wide, width_wide : float
        ``D_n, w_n, D_w, w_w`` of the landscape (energy and length units).
    dim : int
        Dimension ``d``.

    Returns
    -------
    float
        ``T*`` (energy units); ``nan`` if the narrow well is not deeper or
        not narrower (no crossover).
    """
    num = float(depth_narrow) - float(depth_wide)
    den = 0.5 * dim * math.log(width_wide**2 * depth_narrow / (width_narrow**2 * depth_wide))
    if num <= 0 or den <= 0:
        return float("nan")
    return num / den


def crossover_temperature(
    landscape: Landscape,
    bracket: tuple[float, float],
    *,
    basins: tuple[int, int] = (0, 1),
    bounds: np.ndarray | Sequence | None = None,
    panels: int | None = None,
    order: int = 8,
    xtol: float = 1e-10,
    minima: np.ndarray | None = None,
) -> float:
    """Temperature at which two basins are equally probable (quadrature + brentq).

    One quadrature grid (with its basin labels, which do not depend on ``T``)
    is built and ``P_a(T) - P_b(T)`` is root-found with
    :func:`scipy.optimize.brentq` inside the bracket.

    Parameters
    ----------
    landscape : Landscape
        A 1-D or 2-D energy surface with known minima.
    bracket : (float, float)
        ``T_lo < T_hi`` (energy units) with a sign change of ``P_a - P_b``.
    basins : (int, int)
        Indices into the minima of the two basins (for ``narrow_wide``:
        0 = narrow, 1 = wide).
    bounds : array_like, optional
        Integration box (default ``landscape.bounds``).
    panels : int, optional
        Panels per axis (default 256 in 1-D, 128 in 2-D).
    order : int
        Nodes per panel.
    xtol : float
        Absolute tolerance on ``T``.
    minima : array_like, optional
        Known minima (default ``landscape.minima``).

    Returns
    -------
    float
        The crossover temperature (energy units).
    """
    lo, hi = (float(bracket[0]), float(bracket[1]))
    _check_temperature(lo)
    _check_temperature(hi)
    if panels is None:
        panels = 256 if landscape.dim == 1 else 128
    grid = quadrature_grid(landscape, bounds=bounds, panels=panels, order=order, basins=True,
                           minima=minima, energy_cutoff=30.0 * hi)
    a, b = basins

    def diff(t: float) -> float:
        pr = grid.at(t).basin_probabilities
        return float(pr[a] - pr[b])  # type: ignore[index]

    return float(optimize.brentq(diff, lo, hi, xtol=xtol))

