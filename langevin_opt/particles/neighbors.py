"""Cell lists and Verlet half neighbor lists (CSR), with a skin and automatic rebuild.

Layout
------
Atoms are sorted by cell into *slots* (a counting sort, O(N)): slot ``s``
holds atom ``slot_atom[s]``, and the atoms of one cell occupy consecutive
slots.  The list is a half list in CSR form over slots, with separate row
ends (the "4-array" CSR variant, so that chunks of rows can be filled in
parallel in one pass): the neighbors of slot ``s`` are
``nbr[row_start[s]:row_end[s]]`` (slot indices) and every pair within
``cutoff + skin`` appears exactly once.  The first part of a row,
``row_start[s]:row_wrap[s]``, holds pairs whose separation needs no periodic
image shift; only the rest, ``row_wrap[s]:row_end[s]`` (pairs across a box
face), needs the minimum-image convention.  Force kernels gather positions
into slot order once per step (the pair loop then reads memory that is
contiguous in space whatever the user's atom order) and scatter the forces
back.

Pairs are found with the half stencil: from each cell, the cell itself
(``t > s``) and the 13 (3-D; 4 in 2-D) neighbor cells whose offset comes
"after" zero in lexicographic order (slowest axis first).  A periodic axis
with fewer than three cells is collapsed to one cell (so no neighbor cell is
visited twice, and every pair then uses the minimum image); with every axis
collapsed the search is all-pairs, which is what ``method="all_pairs"`` forces
and what small boxes fall back to.  Open (cluster) systems put the grid over
the bounding box of the atoms.

Cost per build is O(N) at fixed density: a counting sort and about
``(27 / 2) * n_cell`` distance checks per atom (``n_cell`` = atoms per cell).

Rebuild criterion
-----------------
The list stores the positions at build time and is valid while no atom has
moved more than ``skin / 2`` since then (measured with the minimum-image
convention, so integrators may wrap positions at any time): two atoms then
approach by less than ``skin``, so every pair now inside ``cutoff`` was inside
``cutoff + skin`` at build time.  The compiled force kernels test this on the
fly (:mod:`langevin_opt.particles.forces`); :meth:`NeighborList.update` tests
it from Python.  A change of the box always triggers a rebuild.

Work units and deterministic parallel forces
--------------------------------------------
With a half list, the row of atom ``i`` also adds the reaction ``-f_ij`` to
atom ``j``, so threads working on different rows may write the same atom.
Rows are therefore grouped into *work units* that are coloured so that units
of one colour never write the same atom.  The slowest cell axis (the one with
the most cells) is cut into an even number of *slabs* of at least one cell
layer, the next axis into an even number of *blocks* of at least two cell
rows.  The half stencil from a cell at layer ``z``, row ``y`` reaches layers
``z, z + 1`` and rows ``y - 1 .. y + 1`` only, so a unit (slab ``a``, block
``b``) writes inside its own layers plus the next one, and its own rows plus
one on either side: two units with the same parities ``(a % 2, b % 2)`` never
touch the same atom (periodic wrap included, thanks to the even counts).  The
force kernels run the four colours one after the other, the units of a colour
in parallel (spread over the threads by a greedy longest-first assignment
that every thread replays), each unit serially.  No locks, atomics or per-thread force
copies are needed, and every force component receives its additions in an
order fixed by the list alone: forces, energies and virials are bit-identical
for any number of threads, and to the serial kernels.  The units depend only
on the cell grid (never on the thread count); the benchmark box of 32,000 LJ
atoms gives 40 units, 10 per colour.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np

from ..core.validation import check_choice, check_nonnegative, check_positive, check_real
from .system import check_box

__all__ = ["NeighborList", "NeighborArrays", "brute_force_pairs", "METHODS"]

#: Neighbor search methods of :class:`NeighborList`.
METHODS = ("auto", "cells", "all_pairs")

#: Systems with fewer atoms than this run the serial kernels (no thread start-up):
#: the one-thread threshold of the neighbour-list builds, the force kernels and
#: ``Dynamics``' updates (below it, a fork/join per kernel costs more than the work).
#: Serial and parallel kernels give bit-identical results.
PARALLEL_MIN_ATOMS = 2048


class NeighborArrays(NamedTuple):
    """The arrays of a built neighbor list, as passed to compiled kernels.

    Attributes
    ----------
    slot_atom : int64 (N,)
        Atom in each slot (atoms sorted by cell).
    slot_species : int64 (N,)
        Species of each slot.
    ref : float64 (N, d)
        Positions at build time, wrapped into the box, in slot order.
    row_start, row_wrap, row_end : int64 (N,)
        Row ``s`` is ``nbr[row_start[s]:row_end[s]]``; entries from ``row_wrap[s]``
        on need the minimum image.
    nbr : int32 (capacity,)
        Neighbor slots (rows of different chunks may be separated by unused entries).
    chunk_start : int64 (C + 1,)
        Fixed partition of the slots for the embarrassingly parallel passes.
    phase_start : int64 (5,)
        Work units of colour ``p`` are ``phase_start[p]:phase_start[p + 1]``.
    unit_start : int64 (U + 1,)
        Slot ranges of unit ``u`` are ``ranges[unit_start[u]:unit_start[u + 1]]``.
    ranges : int64 (R, 2)
        Slot ranges ``[lo, hi)``.
    unit_work : int64 (U,)
        Listed pairs plus rows of every unit (units of a colour are sorted by
        decreasing work, for load balancing).
    box : float64 (d,)
        Box edges (zeros for open systems).
    periodic : bool
    """

    slot_atom: np.ndarray
    slot_species: np.ndarray
    ref: np.ndarray
    row_start: np.ndarray
    row_wrap: np.ndarray
    row_end: np.ndarray
    nbr: np.ndarray
    chunk_start: np.ndarray
    phase_start: np.ndarray
    unit_start: np.ndarray
    ranges: np.ndarray
    unit_work: np.ndarray
    box: np.ndarray
    periodic: bool


# ---------------------------------------------------------------------------
# Compiled build kernels (one set per spatial dimension)
# ---------------------------------------------------------------------------
_BUILD_TEMPLATE = "langevin_opt.particles._neighbor_template"
_KERNEL_NAMES = ("assign_cells", "assign_cells_par", "sort_cells", "fill", "fill_par",
                 "max_disp2", "max_disp2_par")


_BUILD: dict[int, dict] = {}


def build_kernels(dim: int) -> dict:
    """Return the build kernels for ``dim`` = 2 or 3 (each compiles on its first call).

    They come from the kernel template :mod:`._neighbor_template` specialised for
    ``dim`` (:func:`langevin_opt.core.jitcache.specialize`), so their machine code is
    cached on disk across processes.

    Parameters
    ----------
    dim : int
        Spatial dimension.

    Returns
    -------
    dict
        Compiled kernels by name.
    """
    if dim not in _BUILD:
        from ..core.jitcache import specialize

        mod = specialize(_BUILD_TEMPLATE, {"D": int(dim)})
        _BUILD[dim] = {name: getattr(mod, name) for name in _KERNEL_NAMES}
    return _BUILD[dim]


# ---------------------------------------------------------------------------
# Grid and stencil (host side, cheap)
# ---------------------------------------------------------------------------
def _grid(xw: np.ndarray, box: np.ndarray | None, rcs: float, method: str):
    """Cell counts, sizes and origin for wrapped positions ``xw``."""
    n, d = xw.shape
    safe = rcs * (1.0 + 1e-12)  # cells never end up a rounding error below rcs
    if box is not None:
        origin = np.zeros(d)
        ext = box.copy()
        nc = np.floor(ext / safe).astype(np.int64)
    else:
        origin = xw.min(axis=0)
        ext = xw.max(axis=0) - origin
        nc = np.maximum(1, np.floor(ext / safe)).astype(np.int64)
    if method == "all_pairs":
        nc[:] = 1
    # at most ~2 cells per atom (dilute systems): larger cells are still correct
    limit = max(64, 2 * n)
    while np.prod(nc) > limit:
        nc = np.maximum(1, np.floor(nc / (np.prod(nc) / limit) ** (1.0 / d) - 1e-9)).astype(
            np.int64)
    if box is not None:
        nc[nc < 3] = 1  # a periodic axis with < 3 cells would visit a cell twice
    cs = np.where(ext > 0, ext / nc, 1.0)
    if box is None:
        cs = np.maximum(cs, rcs)  # never below the search radius
    return nc, cs, origin


def _axes(nc: np.ndarray) -> list[int]:
    """Axes from fastest to slowest: slab axis (most cells) slowest, block axis next."""
    d = nc.shape[0]
    slab = int(d - 1 - np.argmax(nc[::-1]))  # most cells; ties -> last axis
    rest = [k for k in range(d) if k != slab]
    block = max(reversed(rest), key=lambda k: nc[k])
    return [k for k in rest if k != block] + [block, slab]


def _stencil(nc: np.ndarray, order: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Strides for the axis order (fastest first) and the forward half-stencil offsets."""
    d = nc.shape[0]
    stride = np.zeros(d, dtype=np.int64)
    acc = 1
    for k in order:
        stride[k] = acc
        acc *= int(nc[k])
    ranges = [(-1, 0, 1) if nc[k] > 1 else (0,) for k in range(d)]
    offs = []
    for o in itertools.product(*ranges):
        for k in reversed(order):  # most significant (slowest) axis first
            if o[k] != 0:
                if o[k] > 0:
                    offs.append(o)
                break
    return stride, np.array(offs, dtype=np.int64).reshape(-1, d)


def _split(n: int, parts: int) -> list[int]:
    """Boundaries of ``parts`` near-equal consecutive groups of ``n`` items."""
    return [(q * n) // parts for q in range(parts + 1)]


def _units(nc: np.ndarray, order: list[int], cell_start: np.ndarray,
           row_len: np.ndarray):
    """Colour classes, units and slot ranges (see the module docstring).

    Units of a colour are sorted by decreasing work (listed pairs + rows), which
    only fixes their order: which thread runs a unit never changes the results.
    """
    slab_ax, block_ax = order[-1], order[-2]
    nz, ny = int(nc[slab_ax]), int(nc[block_ax])
    per_row = int(np.prod([nc[k] for k in order[:-2]])) if len(order) > 2 else 1
    kz = 1 if nz == 1 else (nz if nz % 2 == 0 else nz - 1)  # slabs >= 1 layer, even count
    ky = 1 if ny < 4 else 2 * (ny // 4)  # blocks >= 2 rows, even count
    zb = _split(nz, kz)
    yb = _split(ny, ky)
    work_at = np.concatenate([[0], np.cumsum(row_len + 1)])  # work of slots [0, s)
    phase_start = [0]
    unit_start = [0]
    ranges = []
    unit_work = []
    for pa in range(2):
        for pb in range(2):
            units = []
            for a in range(pa, kz, 2):
                for b in range(pb, ky, 2):
                    rs = []
                    for z in range(zb[a], zb[a + 1]):
                        lo = cell_start[(z * ny + yb[b]) * per_row]
                        hi = cell_start[(z * ny + yb[b + 1]) * per_row]
                        if hi > lo:
                            rs.append((lo, hi))
                    units.append((-sum(int(work_at[h] - work_at[lo]) for lo, h in rs), rs))
            units.sort(key=lambda item: item[0])  # stable: ties keep the grid order
            for neg_work, rs in units:
                ranges.extend(rs)
                unit_start.append(len(ranges))
                unit_work.append(-neg_work)
            phase_start.append(len(unit_start) - 1)
    return (np.array(phase_start, dtype=np.int64), np.array(unit_start, dtype=np.int64),
            np.array(ranges, dtype=np.int64).reshape(-1, 2),
            np.array(unit_work, dtype=np.int64))


def _n_chunks(n: int) -> int:
    # fixed partition of the slots for the passes without write conflicts
    return max(1, min(64, n // 256))


# ---------------------------------------------------------------------------
# The neighbor list
# ---------------------------------------------------------------------------
class NeighborList:
    """Verlet half neighbor list with a skin, built with a cell list.

    Parameters
    ----------
    cutoff : float
        Interaction cutoff ``r_c`` (length units), the largest cutoff of the
        potentials that will use the list.
    skin : float, optional
        Verlet skin (length units).  Pairs within ``cutoff + skin`` are listed;
        the list is rebuilt when an atom has moved more than ``skin / 2``.
    method : {"auto", "cells", "all_pairs"}, optional
        ``"cells"`` and ``"auto"`` use the cell list (which degrades gracefully to
        all-pairs for small boxes); ``"all_pairs"`` forces the O(N^2) search.
    capacity_factor : float, optional
        Spare room allocated for neighbor indices when the list grows.

    Attributes
    ----------
    arrays : NeighborArrays
        The list (valid after :meth:`build`).
    n_builds : int
        Number of builds so far.
    n_pairs : int
        Listed pairs (within ``cutoff + skin`` at build time).
    n_candidates : int
        Distance checks made by the last build (O(N) for the cell list).
    grid : numpy.ndarray of int64, shape (d,)
        Cells along each axis at the last build.

    Examples
    --------
    >>> import numpy as np
    >>> from langevin_opt.particles import NeighborList, fcc_lattice
    >>> x, box = fcc_lattice(4, 0.8442)
    >>> nl = NeighborList(cutoff=2.5, skin=0.3)
    >>> nl.build(x, box)
    >>> nl.n_pairs // len(x) > 30
    True
    >>> nl.update(x + 0.1, box)      # moved 0.17 > skin/2: rebuilt
    True
    """

    #: Private switch (tests): ``False`` divides by the box in the search's minimum
    #: image instead of multiplying by its reciprocal (the same list either way).
    _fast_search = True

    def __init__(self, cutoff: float, skin: float = 0.3, *, method: str = "auto",
                 capacity_factor: float = 1.2) -> None:
        self.cutoff = check_positive("cutoff", cutoff)
        self.skin = check_nonnegative("skin", skin)
        self.method = check_choice("method", method, METHODS)
        self.capacity_factor = check_real("capacity_factor", capacity_factor, lo=1.0)
        self.arrays: NeighborArrays | None = None
        self.n_builds = 0
        self.n_pairs = 0
        self.n_candidates = 0
        self.grid: np.ndarray | None = None
        self._n = -1
        self._dim = -1
        self._nbr = np.zeros(0, dtype=np.int32)
        self._region = np.zeros(1, dtype=np.int64)
        self._next_sizes: np.ndarray | None = None

    # ------------------------------------------------------------------ properties
    @property
    def radius(self) -> float:
        """Search radius ``cutoff + skin``."""
        return self.cutoff + self.skin

    @property
    def n_atoms(self) -> int:
        """Atoms of the last build (-1 before the first)."""
        return self._n

    @property
    def parallel(self) -> bool:
        """Whether the threaded kernels are used (large systems; same results)."""
        return self._n >= PARALLEL_MIN_ATOMS

    @property
    def cell_counts(self) -> np.ndarray:
        """Atoms per cell at the last build, shape ``(n_cells,)``."""
        return np.diff(self._cell_start)

    @property
    def n_units(self) -> int:
        """Number of work units of the force kernels (see the module docstring)."""
        return self.arrays.unit_start.shape[0] - 1

    # ------------------------------------------------------------------ building
    def _prepare(self, n: int, d: int) -> None:
        if (n, d) == (self._n, self._dim):
            return
        self._n, self._dim = n, d
        self._cell = np.empty(n, dtype=np.int64)
        self._xw = np.empty((n, d))
        self._sa = np.empty(n, dtype=np.int64)
        self._ssp = np.empty(n, dtype=np.int64)
        self._slot_cell = np.empty(n, dtype=np.int64)
        self._ref = np.empty((n, d))
        self._row_start = np.empty(n, dtype=np.int64)
        self._row_wrap = np.empty(n, dtype=np.int64)
        self._row_end = np.empty(n, dtype=np.int64)
        c = _n_chunks(n)
        self._chunk_start = np.array(_split(n, c), dtype=np.int64)
        self._chunk_d = np.zeros(c)
        self._used = np.zeros(c, dtype=np.int64)
        self._cand = np.zeros(c, dtype=np.int64)
        self._region = np.zeros(1, dtype=np.int64)
        self._next_sizes = None

    def _regions(self, sizes: np.ndarray) -> None:
        region = np.zeros(sizes.shape[0] + 1, dtype=np.int64)
        np.cumsum(sizes, out=region[1:])
        self._region = region
        if region[-1] > self._nbr.shape[0]:
            if region[-1] > 2**31 - 1:
                raise ValueError("too many pairs for int32 neighbor indices")
            self._nbr = np.empty(int(region[-1]), dtype=np.int32)

    def build(self, positions, box=None, species=None) -> None:
        """Build the list for the given configuration.

        Parameters
        ----------
        positions : array_like, shape (N, d)
            Positions (length units), wrapped or not.
        box : None or array_like, shape (d,)
            Periodic box edges, or ``None`` for an open system.
        species : array_like of int, shape (N,), optional
            Species of the atoms (stored in slot order for the force kernels).

        Raises
        ------
        ValueError
            If ``cutoff`` exceeds half a box edge (the minimum-image convention
            would miss interactions).
        """
        x = np.ascontiguousarray(positions, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] not in (2, 3) or x.shape[0] < 1:
            raise ValueError(f"positions must have shape (N, 2) or (N, 3), got {x.shape}")
        n, d = x.shape
        b = check_box(box, d)
        if b is not None and self.cutoff > 0.5 * b.min():
            raise ValueError(f"cutoff must not exceed half the shortest box edge "
                             f"({0.5 * b.min():.6g}), got {self.cutoff}")
        sp = np.zeros(n, dtype=np.int64) if species is None else np.ascontiguousarray(
            species, dtype=np.int64)
        if sp.shape != (n,):
            raise ValueError(f"species must have shape ({n},), got {sp.shape}")
        self._prepare(n, d)
        k = build_kernels(d)
        periodic = b is not None
        bx = b if periodic else np.zeros(d)
        nc, cs, origin = _grid(x, b, self.radius, self.method)
        mi_all = periodic and bool(np.any(nc == 1))
        order = _axes(nc)
        stride, offs = _stencil(nc, order)
        ncells = int(np.prod(nc))
        self._cell_start = np.empty(ncells + 1, dtype=np.int64)
        fill = np.empty(ncells, dtype=np.int64)
        par = n >= PARALLEL_MIN_ATOMS
        k["assign_cells_par" if par else "assign_cells"](x, bx, periodic, origin, cs, nc, stride,
                                                         self._cell, self._xw)
        k["sort_cells"](self._cell, sp, self._xw, self._cell_start, fill, self._sa, self._ssp,
                        self._slot_cell, self._ref)
        chunks = self._chunk_start
        # Each chunk fills its own region of nbr; a region needs room for its pairs plus
        # one cell of candidates (the overflow test is made per cell).
        max_cell = int(np.max(np.diff(self._cell_start)))
        if self._region.shape[0] != chunks.shape[0]:
            # first build: estimate the pairs per atom from the density (+ 30 %)
            vol = float(np.prod(b)) if periodic else float(np.prod(np.maximum(
                x.max(axis=0) - x.min(axis=0), self.radius)))
            ball = math.pi * self.radius**2 if d == 2 else 4.0 / 3.0 * math.pi * self.radius**3
            per_atom = min(n, 0.5 * n / vol * ball * 1.3 + 8.0)
            self._regions((np.diff(chunks) * per_atom).astype(np.int64) + 16 + max_cell)
        elif self._next_sizes is not None:
            self._regions(self._next_sizes + max_cell)
        self._next_sizes = None
        fill_fn = k["fill_par" if par else "fill"]
        rcs2 = self.radius**2
        # the minimum image of the search by a multiplication (same list, see search_row)
        fast = self._fast_search and periodic and (
            self.radius < 0.5 * float(bx.min()) * (1.0 - 1e-9))
        ibox = 1.0 / bx if periodic else np.zeros(d)
        for attempt in range(2):
            fill_fn(self._ref, bx, periodic, mi_all, rcs2, ibox, fast, nc, stride, offs,
                    self._slot_cell,
                    self._cell_start, chunks, self._region, self._nbr, self._row_start,
                    self._row_wrap, self._row_end, self._used, self._cand)
            used = np.where(self._used < 0, -self._used - 1, self._used)
            if np.all(self._used >= 0):
                break
            if attempt == 1:  # pragma: no cover - the exact sizes always fit
                raise RuntimeError("neighbor list regions overflowed twice")
            # an overflowing chunk went on counting, so these sizes fit
            self._regions((used * self.capacity_factor).astype(np.int64) + 16 + max_cell)
        # resize at the next build if a region is nearly full or much too large
        room = np.diff(self._region)
        if np.any(used + max_cell + 16 > room) or room.sum() > 2.0 * self.capacity_factor * (
                used.sum() + 16 * used.shape[0] + max_cell):
            self._next_sizes = (used * self.capacity_factor).astype(np.int64) + 16
        phase_start, unit_start, ranges, unit_work = _units(
            nc, order, self._cell_start, self._row_end - self._row_start)
        self.arrays = NeighborArrays(self._sa, self._ssp, self._ref, self._row_start,
                                     self._row_wrap, self._row_end, self._nbr, chunks,
                                     phase_start, unit_start, ranges, unit_work, bx, periodic)
        self.grid = nc
        self.n_pairs = int(used.sum())
        self.n_candidates = int(self._cand.sum())
        self.n_builds += 1
        self._box = None if b is None else b.copy()
        self._species = sp.copy()

    # ------------------------------------------------------------------ validity
    def max_displacement(self, positions) -> float:
        """Largest displacement of any atom since the last build (minimum image).

        Parameters
        ----------
        positions : array_like, shape (N, d)
            Current positions.

        Returns
        -------
        float
            Distance (length units).
        """
        if self.arrays is None:
            raise ValueError("neighbor list must be built first")
        x = np.ascontiguousarray(positions, dtype=np.float64)
        if x.shape != self._ref.shape:
            raise ValueError(f"positions must have shape {self._ref.shape}, got {x.shape}")
        a = self.arrays
        k = build_kernels(self._dim)["max_disp2_par" if self.parallel else "max_disp2"]
        return math.sqrt(k(x, a.ref, a.slot_atom, a.box, a.periodic, a.chunk_start,
                           self._chunk_d))

    def needs_rebuild(self, positions, box=None, species=None) -> bool:
        """Whether the list is stale.

        It is stale if never built, or built for another number of atoms, box
        or species, or if an atom has moved more than ``skin / 2`` since.

        Parameters
        ----------
        positions : array_like, shape (N, d)
            Current positions.
        box : None or array_like, shape (d,)
            Current box.
        species : array_like of int, shape (N,), optional
            Current species (default: all 0).

        Returns
        -------
        bool
        """
        if self.arrays is None:
            return True
        x = np.asarray(positions)
        if x.shape != self._ref.shape:
            return True
        b = check_box(box, x.shape[1])
        if (b is None) != (self._box is None) or (b is not None and not np.array_equal(
                b, self._box)):
            return True
        if species is None:
            if self._species.any():
                return True
        elif not np.array_equal(species, self._species):
            return True
        return self.max_displacement(x) > 0.5 * self.skin

    def update(self, positions, box=None, species=None) -> bool:
        """Rebuild the list if it is stale (see :meth:`needs_rebuild`).

        Parameters
        ----------
        positions : array_like, shape (N, d)
            Current positions.
        box : None or array_like, shape (d,)
            Current box.
        species : array_like of int, shape (N,), optional
            Species (used when rebuilding).

        Returns
        -------
        bool
            Whether the list was rebuilt.
        """
        if self.needs_rebuild(positions, box, species):
            self.build(positions, box, species)
            return True
        return False

    # ------------------------------------------------------------------ inspection
    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """The listed pairs as atom indices.

        Returns
        -------
        i, j : numpy.ndarray of int64, shape (n_pairs,)
            Every listed pair once (in no particular orientation).
        """
        a = self.arrays
        counts = a.row_end - a.row_start
        rows = np.repeat(np.arange(self._n), counts)
        idx = np.concatenate([np.arange(s0, s1) for s0, s1 in
                              zip(a.row_start.tolist(), a.row_end.tolist(), strict=True)]
                             ) if self._n else np.zeros(0, dtype=np.int64)
        t = a.nbr[idx.astype(np.int64)]
        return a.slot_atom[rows], a.slot_atom[t]


def brute_force_pairs(positions, box, radius: float) -> set[tuple[int, int]]:
    """All pairs closer than ``radius`` (minimum image), by an O(N^2) NumPy search.

    Parameters
    ----------
    positions : array_like, shape (N, d)
    box : None or array_like, shape (d,)
    radius : float

    Returns
    -------
    set of (int, int)
        Pairs ``(i, j)`` with ``i < j``.
    """
    x = np.asarray(positions, dtype=np.float64)
    dr = x[:, None, :] - x[None, :, :]
    if box is not None:
        b = np.asarray(box, dtype=np.float64)
        dr -= b * np.rint(dr / b)
    r2 = np.einsum("ijk,ijk->ij", dr, dr)
    i, j = np.nonzero(np.triu(r2 < radius * radius, 1))
    return set(zip(i.tolist(), j.tolist(), strict=True))
