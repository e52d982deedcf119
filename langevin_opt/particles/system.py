"""Particle systems: positions, species, masses, boundaries, wrapping and minimum image.

Reduced units throughout (``k_B = 1``): lengths in units of a reference length
(the Lennard-Jones ``sigma``), masses in units of a reference mass, energies
in units of a reference energy (``epsilon``), so temperatures are energies.

Boundaries
----------
``box=None``
    Open boundaries (a cluster in vacuum).  Positions are unrestricted.
``box=(L_x, L_y[, L_z])``
    Periodic orthorhombic box ``[0, L_x) x [0, L_y) x [0, L_z)``.  Stored
    positions are *wrapped* into the box and ``images`` counts how many box
    lengths each atom has crossed, so ``positions + images * box`` is the
    continuous (unwrapped) trajectory.  Pair separations use the minimum-image
    convention, which is exact for pair potentials whose cutoff is at most half
    the shortest box edge.

Two- and three-dimensional systems are supported (``positions`` of shape
``(N, 2)`` or ``(N, 3)``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numba
import numpy as np

__all__ = [
    "ParticleSystem",
    "wrap_positions",
    "minimum_image",
    "fcc_lattice",
    "cubic_lattice",
]


def _as_float_array(value, name: str) -> np.ndarray:
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError):
        raw = None
    if raw is None or raw.dtype.kind not in "iuf":  # strings, None, ragged lists, booleans
        raise TypeError(f"{name} must be an array of numbers, got {type(value).__name__}"
                        + ("" if raw is None else f" of dtype {raw.dtype}"))
    return np.array(raw, dtype=np.float64)


def check_box(box, dim: int) -> np.ndarray | None:
    """Validate a box: ``None`` (open) or ``dim`` positive finite edge lengths.

    Parameters
    ----------
    box : None or array_like, shape (dim,)
        Edge lengths of the orthorhombic periodic box (length units).
    dim : int
        Spatial dimension.

    Returns
    -------
    None or numpy.ndarray
        The edges as a new float64 array of shape ``(dim,)``.

    Raises
    ------
    ValueError
        If ``box`` is not ``None`` and not ``dim`` positive finite numbers.
    """
    if box is None:
        return None
    b = _as_float_array(box, "box")
    if b.ndim == 0:
        b = np.full(dim, float(b))
    if b.shape != (dim,) or not np.all(np.isfinite(b)) or not np.all(b > 0):
        raise ValueError(f"box must be None or {dim} positive finite edge lengths, got {box!r}")
    return b


@numba.njit(cache=True, nogil=True)
def _wrap_kernel(x, images, box):
    n, d = x.shape
    for i in range(n):
        for k in range(d):
            m = np.floor(x[i, k] / box[k])
            if m != 0.0:
                x[i, k] -= m * box[k]
                images[i, k] += np.int64(m)
            # rounding can leave x == box exactly (e.g. -1e-17 + L); fold it to 0
            if x[i, k] >= box[k]:
                x[i, k] -= box[k]
                images[i, k] += 1
            elif x[i, k] < 0.0:
                x[i, k] += box[k]
                images[i, k] -= 1


def wrap_positions(
    positions, box, images=None
) -> tuple[np.ndarray, np.ndarray]:
    """Wrap positions into a periodic box and update the image counts.

    Parameters
    ----------
    positions : array_like, shape (N, d)
        Positions (length units), anywhere in space.
    box : array_like, shape (d,)
        Edge lengths of the periodic box.
    images : array_like of int, shape (N, d), optional
        Image counts of the input positions (zeros by default).

    Returns
    -------
    wrapped : numpy.ndarray, shape (N, d)
        Positions in ``[0, L_k)`` along every axis ``k``.
    images : numpy.ndarray of int64, shape (N, d)
        Updated image counts: ``wrapped + images * box`` equals
        ``positions + images_in * box`` up to rounding.
    """
    x = np.array(positions, dtype=np.float64)
    b = check_box(box, x.shape[-1])
    if b is None:
        raise ValueError("box must be given to wrap positions")
    im = (np.zeros(x.shape, dtype=np.int64) if images is None
          else np.array(images, dtype=np.int64))
    if im.shape != x.shape:
        raise ValueError(f"images must have shape {x.shape}, got {im.shape}")
    _wrap_kernel(x.reshape(-1, x.shape[-1]), im.reshape(-1, x.shape[-1]), b)
    return x, im


def minimum_image(dr, box) -> np.ndarray:
    """Apply the minimum-image convention to separation vectors.

    Parameters
    ----------
    dr : array_like, shape (..., d)
        Separation vectors (length units).
    box : None or array_like, shape (d,)
        Periodic box edges; ``None`` returns ``dr`` unchanged (open system).

    Returns
    -------
    numpy.ndarray, shape (..., d)
        ``dr - box * rint(dr / box)``: each component in ``[-L_k/2, L_k/2]``.
    """
    d = np.array(dr, dtype=np.float64)
    if box is None:
        return d
    b = check_box(box, d.shape[-1])
    return d - b * np.rint(d / b)


@dataclass(frozen=True, eq=False)
class ParticleSystem:
    """A configuration of point particles (open cluster or periodic box).

    Construction validates and copies every array; positions of a periodic
    system are wrapped into the box (the crossings are added to ``images``).
    The object is frozen: derive new states with :meth:`replace` or
    :meth:`with_positions`.

    Parameters
    ----------
    positions : array_like, shape (N, d)
        Positions, ``d`` = 2 or 3 (length units).
    species : array_like of int, shape (N,), optional
        Species index of every atom, ``0 <= species < n_species``.  Default:
        all zeros (one species).
    masses : float or array_like, shape (N,), optional
        Atomic masses (mass units), positive.  A scalar applies to every atom.
        Default 1.
    box : None or array_like, shape (d,), optional
        Periodic orthorhombic box edges; ``None`` (default) for an open system.
    images : array_like of int, shape (N, d), optional
        Image counts of the given positions (periodic systems only).  Default
        zeros.

    Attributes
    ----------
    positions : numpy.ndarray, shape (N, d)
        Positions, wrapped into ``[0, L)`` when periodic.
    species : numpy.ndarray of int64, shape (N,)
    masses : numpy.ndarray of float64, shape (N,)
    box : numpy.ndarray, shape (d,), or None
    images : numpy.ndarray of int64, shape (N, d)
        Box crossings (all zero for open systems).

    Raises
    ------
    ValueError
        On a malformed field; the message names the field.

    Examples
    --------
    >>> s = ParticleSystem([[0.0, 0.0, 0.0], [1.2, 0.0, 0.0]])
    >>> s.n_atoms, s.dim, s.periodic
    (2, 3, False)
    >>> p = ParticleSystem([[-0.5, 1.0]], box=[4.0, 4.0])
    >>> p.positions.tolist(), p.images.tolist()
    ([[3.5, 1.0]], [[-1, 0]])
    """

    positions: np.ndarray
    species: np.ndarray | None = None
    masses: np.ndarray | float | None = None
    box: np.ndarray | None = None
    images: np.ndarray | None = None

    def __post_init__(self) -> None:
        x = _as_float_array(self.positions, "positions")
        if x.ndim != 2 or x.shape[1] not in (2, 3) or x.shape[0] < 1:
            raise ValueError(f"positions must have shape (N, 2) or (N, 3) with N >= 1, "
                             f"got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("positions must be finite")
        n, d = x.shape
        if self.species is None:
            sp = np.zeros(n, dtype=np.int64)
        else:
            raw = np.asarray(self.species)
            if raw.shape != (n,) or not (np.issubdtype(raw.dtype, np.integer)
                                         or (raw.size and np.all(np.mod(raw, 1) == 0))):
                raise ValueError(f"species must be {n} non-negative integers, got shape "
                                 f"{raw.shape} and dtype {raw.dtype}")
            sp = np.array(raw, dtype=np.int64)
            if np.any(sp < 0):
                raise ValueError("species must be non-negative integers")
        if self.masses is None:
            m = np.ones(n)
        else:
            m = _as_float_array(self.masses, "masses")
            if m.ndim == 0:
                m = np.full(n, float(m))
            if m.shape != (n,):
                raise ValueError(f"masses must be a scalar or have shape ({n},), got {m.shape}")
        if not np.all(np.isfinite(m)) or not np.all(m > 0):
            raise ValueError("masses must be positive and finite")
        box = check_box(self.box, d)
        if self.images is None:
            im = np.zeros((n, d), dtype=np.int64)
        else:
            raw = np.asarray(self.images)
            if raw.shape != (n, d) or not np.issubdtype(raw.dtype, np.integer):
                raise ValueError(f"images must be integers of shape ({n}, {d}), got shape "
                                 f"{raw.shape} and dtype {raw.dtype}")
            im = np.array(raw, dtype=np.int64)
            if box is None and np.any(im != 0):
                raise ValueError("images must be zero for an open system (box=None)")
        if box is not None:
            _wrap_kernel(x, im, box)
        object.__setattr__(self, "positions", x)
        object.__setattr__(self, "species", sp)
        object.__setattr__(self, "masses", m)
        object.__setattr__(self, "box", box)
        object.__setattr__(self, "images", im)

    # ------------------------------------------------------------------ properties
    @property
    def n_atoms(self) -> int:
        """Number of atoms ``N``."""
        return self.positions.shape[0]

    @property
    def dim(self) -> int:
        """Spatial dimension ``d`` (2 or 3)."""
        return self.positions.shape[1]

    @property
    def periodic(self) -> bool:
        """Whether the system is a periodic box."""
        return self.box is not None

    @property
    def n_species(self) -> int:
        """``max(species) + 1``."""
        return int(self.species.max()) + 1

    @property
    def volume(self) -> float | None:
        """Box volume (area in 2-D), or ``None`` for open systems."""
        return None if self.box is None else float(np.prod(self.box))

    @property
    def density(self) -> float | None:
        """Number density ``N / V``, or ``None`` for open systems."""
        v = self.volume
        return None if v is None else self.n_atoms / v

    @property
    def unwrapped_positions(self) -> np.ndarray:
        """Continuous positions ``positions + images * box``, shape ``(N, d)``."""
        if self.box is None:
            return self.positions.copy()
        return self.positions + self.images * self.box

    def counts(self, n_species: int | None = None) -> np.ndarray:
        """Number of atoms of each species.

        Parameters
        ----------
        n_species : int, optional
            Length of the result (default ``self.n_species``).

        Returns
        -------
        numpy.ndarray of int64, shape (n_species,)
        """
        return np.bincount(self.species, minlength=n_species or self.n_species)

    # ------------------------------------------------------------------ derived states
    def replace(self, **changes) -> ParticleSystem:
        """Return a copy with some fields replaced (validated again).

        Parameters
        ----------
        **changes
            New values of ``positions``, ``species``, ``masses``, ``box``, ``images``.

        Returns
        -------
        ParticleSystem
        """
        return dataclasses.replace(self, **changes)

    def with_positions(self, positions, images=None) -> ParticleSystem:
        """Return a copy at new positions.

        Parameters
        ----------
        positions : array_like, shape (N, d)
            New positions (wrapped again if periodic).
        images : array_like of int, shape (N, d), optional
            Image counts of ``positions``; by default the current ones, which is
            right when ``positions`` continue the current wrapped positions.

        Returns
        -------
        ParticleSystem
        """
        return dataclasses.replace(
            self, positions=positions, images=self.images if images is None else images)

    def minimum_image(self, dr) -> np.ndarray:
        """Minimum-image separation vectors (identity for open systems).

        Parameters
        ----------
        dr : array_like, shape (..., d)
            Separations.

        Returns
        -------
        numpy.ndarray, shape (..., d)
        """
        return minimum_image(dr, self.box)

    def distance_matrix(self) -> np.ndarray:
        """All minimum-image pair distances (O(N^2) memory; for small systems and tests).

        Returns
        -------
        numpy.ndarray, shape (N, N)
        """
        dr = self.minimum_image(self.positions[:, None, :] - self.positions[None, :, :])
        return np.sqrt(np.einsum("ijk,ijk->ij", dr, dr))


# ---------------------------------------------------------------------- lattices
def fcc_lattice(n_cells: int | tuple[int, int, int], density: float) -> tuple[np.ndarray,
                                                                                   np.ndarray]:
    """Face-centred cubic lattice filling a periodic box.

    Parameters
    ----------
    n_cells : int or (int, int, int)
        Number of cubic unit cells (4 atoms each) along each axis.
    density : float
        Number density ``N / V`` (atoms per volume unit).

    Returns
    -------
    positions : numpy.ndarray, shape (4 * prod(n_cells), 3)
    box : numpy.ndarray, shape (3,)

    Examples
    --------
    >>> x, box = fcc_lattice(20, 0.8442)     # the LAMMPS "in.lj" benchmark: 32,000 atoms
    >>> x.shape, round(float(box[0]), 4)
    ((32000, 3), 33.5919)
    """
    nc = np.broadcast_to(np.asarray(n_cells, dtype=np.int64), (3,))
    if np.any(nc < 1):
        raise ValueError(f"n_cells must be positive, got {n_cells!r}")
    if not density > 0:
        raise ValueError(f"density must be positive, got {density!r}")
    a = (4.0 / density) ** (1.0 / 3.0)
    basis = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]])
    grid = np.stack(np.meshgrid(*(np.arange(k) for k in nc), indexing="ij"), -1).reshape(-1, 3)
    x = (grid[:, None, :] + basis[None, :, :]).reshape(-1, 3) * a
    return x, nc * a


def cubic_lattice(n_side: int | tuple[int, ...], spacing: float, dim: int = 3) -> np.ndarray:
    """Simple cubic (3-D) or square (2-D) lattice points.

    Parameters
    ----------
    n_side : int or tuple of int
        Points along each axis.
    spacing : float
        Lattice constant (length units).
    dim : int
        2 or 3.

    Returns
    -------
    numpy.ndarray, shape (prod(n_side), dim)
    """
    ns = np.broadcast_to(np.asarray(n_side, dtype=np.int64), (dim,))
    grid = np.stack(np.meshgrid(*(np.arange(k) for k in ns), indexing="ij"), -1)
    return grid.reshape(-1, dim) * float(spacing)
