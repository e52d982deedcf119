"""Atomic environments: full neighbour lists (CSR, atom order) built from the package's half lists.

Many-body descriptors need, for every atom ``i``, all its neighbours ``j`` within the
cutoff ``R_c`` together with the separation vectors ``d_ij = r_j - r_i`` (minimum image
in a periodic orthorhombic box).  :class:`~langevin_opt.particles.neighbors.NeighborList`
stores each pair once (a half list in cell/slot order, within ``R_c + skin``); this module
turns it into a *full* list in atom order, keeping only pairs closer than ``R_c`` at the
current positions:

* ``start`` (N + 1,): the entries of atom ``i`` are ``start[i]:start[i + 1]``;
* ``j`` (M,): the neighbour of each entry; ``vec`` (M, 3): ``d_ij``; ``r`` (M,): ``|d_ij|``;
* ``rev`` (M,): the entry ``(j, i)`` of the same pair seen from ``j`` (``rev[rev[e]] = e``).

``rev`` is what makes the forces of a many-body potential a *gather*: with ``g_e =
dE/dd_e`` the derivative of the energy with respect to the separation vector of entry
``e``, the force on atom ``m`` is ``F_m = sum_{e in row m} (g_e - g_{rev[e]})``, written
by one thread per atom without any scatter (deterministic for any thread count).

The pair of a periodic system is unique because the cutoff is at most half the shortest
box edge (checked): an atom then has at most one image of any other atom within ``R_c``,
and none of itself.  The build is serial and O(M); its order (the half list's slot order)
is fixed by the configuration, so results do not depend on the thread count.  Units: the
length unit of the positions.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from ..particles.neighbors import NeighborList

__all__ = ["AtomNeighbors", "full_neighbor_list"]

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


class AtomNeighbors(NamedTuple):
    """A full neighbour list in atom order (CSR); see the module docstring.

    Attributes
    ----------
    start : numpy.ndarray of int64, shape (N + 1,)
        Row offsets: the entries of atom ``i`` are ``start[i]:start[i + 1]``.
    j : numpy.ndarray of int64, shape (M,)
        Neighbour atom of each entry.
    vec : numpy.ndarray of float64, shape (M, 3)
        Separation ``r_j - r_i`` (minimum image), length units.
    r : numpy.ndarray of float64, shape (M,)
        ``|vec|``, strictly below the cutoff.
    rev : numpy.ndarray of int64, shape (M,)
        Entry of the same pair in the row of ``j``.
    """

    start: np.ndarray
    j: np.ndarray
    vec: np.ndarray
    r: np.ndarray
    rev: np.ndarray


@numba.njit(**_JIT)
def _full_from_half(x, slot_atom, row_start, row_end, nbr, box, periodic, rc2):
    """Full CSR list of the pairs closer than ``sqrt(rc2)`` from a half list (serial).

    One pass computes each listed pair's minimum-image vector (``rint(d / L)`` as
    ``rint(d * (1 / L))``: the same image for every pair closer than ``L / 2``) and counts
    the kept ones per atom; the second pass only copies them into place.
    """
    n = x.shape[0]
    n_half = 0
    for s in range(n):
        n_half = max(n_half, row_end[s])
    hv = np.empty((n_half, 3))
    keep = np.zeros(n_half, dtype=np.bool_)
    ib0 = 1.0 / box[0] if periodic else 0.0
    ib1 = 1.0 / box[1] if periodic else 0.0
    ib2 = 1.0 / box[2] if periodic else 0.0
    start = np.zeros(n + 1, dtype=np.int64)
    for s in range(n):
        a = slot_atom[s]
        for p in range(row_start[s], row_end[s]):
            b = slot_atom[nbr[p]]
            dx = x[b, 0] - x[a, 0]
            dy = x[b, 1] - x[a, 1]
            dz = x[b, 2] - x[a, 2]
            if periodic:
                dx -= box[0] * np.rint(dx * ib0)
                dy -= box[1] * np.rint(dy * ib1)
                dz -= box[2] * np.rint(dz * ib2)
            hv[p, 0] = dx
            hv[p, 1] = dy
            hv[p, 2] = dz
            if dx * dx + dy * dy + dz * dz < rc2:
                keep[p] = True
                start[a + 1] += 1
                start[b + 1] += 1
    for i in range(n):
        start[i + 1] += start[i]
    m = start[n]
    jj = np.empty(m, dtype=np.int64)
    vec = np.empty((m, 3))
    rr = np.empty(m)
    rev = np.empty(m, dtype=np.int64)
    fill = start[:n].copy()
    for s in range(n):
        a = slot_atom[s]
        for p in range(row_start[s], row_end[s]):
            if keep[p]:
                b = slot_atom[nbr[p]]
                dx = hv[p, 0]
                dy = hv[p, 1]
                dz = hv[p, 2]
                ea = fill[a]
                eb = fill[b]
                fill[a] = ea + 1
                fill[b] = eb + 1
                r = np.sqrt(dx * dx + dy * dy + dz * dz)
                jj[ea] = b
                vec[ea, 0] = dx
                vec[ea, 1] = dy
                vec[ea, 2] = dz
                rr[ea] = r
                rev[ea] = eb
                jj[eb] = a
                vec[eb, 0] = -dx
                vec[eb, 1] = -dy
                vec[eb, 2] = -dz
                rr[eb] = r
                rev[eb] = ea
    return start, jj, vec, rr, rev


def full_neighbor_list(positions: np.ndarray, box: np.ndarray | None, cutoff: float, *,
                       neighbor_list: NeighborList | None = None) -> AtomNeighbors:
    """Full neighbour list (pairs closer than ``cutoff``) of a 3-D configuration.

    The front ends (:class:`~langevin_opt.mlip.descriptors.SymmetryFunctions`,
    :class:`~langevin_opt.mlip.model.NeuralPotential`) validate their arguments and
    call this; it checks nothing but the list's own consistency.

    Parameters
    ----------
    positions : numpy.ndarray of float64, shape (N, 3)
        Finite positions (length units), wrapped or not.
    box : None or numpy.ndarray of float64, shape (3,)
        Periodic orthorhombic box edges, or ``None`` for a cluster.  ``cutoff`` must be
        at most half the shortest edge.
    cutoff : float
        Cutoff radius (length units).
    neighbor_list : NeighborList, optional
        A half list to reuse (its cutoff must be at least ``cutoff``); it is rebuilt
        only when stale (:meth:`~langevin_opt.particles.neighbors.NeighborList.update`).
        Default: a fresh list without skin.

    Returns
    -------
    AtomNeighbors
        The full list.
    """
    if neighbor_list is None:
        neighbor_list = NeighborList(cutoff, skin=0.0)
        neighbor_list.build(positions, box)
    else:
        if neighbor_list.cutoff < cutoff:
            raise ValueError(f"neighbor_list cutoff ({neighbor_list.cutoff}) must be at least "
                             f"the descriptor cutoff ({cutoff})")
        neighbor_list.update(positions, box)
    a = neighbor_list.arrays
    bx = np.zeros(3) if box is None else box
    start, jj, vec, rr, rev = _full_from_half(positions, a.slot_atom, a.row_start, a.row_end,
                                              a.nbr, bx, box is not None, cutoff * cutoff)
    return AtomNeighbors(start, jj, vec, rr, rev)
