"""Basins of attraction: gradient-descent quenches of walkers and basin labels of grid nodes.

A configuration belongs to the basin of the known minimum (``landscape.minima``)
that gradient descent from it reaches.  Walkers are quenched with the package's
own compiled ``method="gd"`` integrator (:func:`assign_basins`); quadrature nodes
use the same definition: in 1-D exactly (basins are the intervals between the
local maxima of ``U``), in 2-D by a quadtree of the same compiled quenches that
resolves basin boundaries down to single grid cells (:func:`grid_basin_labels`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import optimize

from ..landscapes import Landscape
from ..sampling import DivergenceError, sample
from ._common import _check_landscape, _minima, _points
from .hessian import hessian

__all__ = ["assign_basins", "grid_basin_labels", "quench"]


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
