"""Exact Boltzmann statistics of 1-D and 2-D landscapes by tensor-product quadrature.

Integrals are composite Gauss–Legendre tensor-product rules: every axis of the
box is cut into panels (the cut points always include any requested
*breakpoints*, such as histogram bin edges or, in 1-D, the barrier tops that
separate basins) and each panel carries ``order`` Legendre nodes.  The
integrand ``exp(-(U - U_min)/T)`` is smooth, so the rule converges like
``h^(2 order)`` in the panel width ``h``; :func:`exact_boltzmann` doubles the panel
count until ``ln Z`` and ``<U>`` change by less than ``rtol`` and reports the
last change as the error estimate.  The minimum of ``U`` on the grid is
subtracted before exponentiating, so no temperature overflows.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..landscapes import Landscape
from ._common import _box, _check_landscape, _check_temperature, _minima, _points
from .basins import _barrier_tops_1d, grid_basin_labels

__all__ = [
    "BoltzmannResult",
    "QuadratureGrid",
    "basin_probabilities",
    "exact_boltzmann",
    "quadrature_grid",
]


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


def _tensor_weights(weights: Sequence[np.ndarray]) -> np.ndarray:
    w = weights[0]
    for v in weights[1:]:
        w = np.multiply.outer(w, v)
    return w


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
        Quench step for basin labelling (see :func:`~langevin_opt.analysis.quench`).
    energy_cutoff : float, optional
        See :func:`~langevin_opt.analysis.grid_basin_labels`.

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
    """Quadrature basin probabilities (the basin definition of ``assign_basins``).

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
