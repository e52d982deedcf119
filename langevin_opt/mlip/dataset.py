"""Labelled configurations for training neural potentials, and the ASE bridge.

A :class:`Dataset` holds ``C`` configurations (atom counts may differ) with positions
(length units), species names, an optional periodic orthorhombic box per configuration
(``None``: a cluster), reference energies (energy units), forces (energy / length) and,
optionally, stresses (energy / length³, ASE's sign convention).  Units follow the model:
Å and eV for ``units="metal"``.

ASE interop (``ase`` is imported only when these are called):

* :func:`to_ase` / :func:`from_ase`: ``ase.Atoms`` <-> ``(positions, species, box)``; a box
  must be orthorhombic and periodic in all three directions, or absent (no ``pbc``).
* :meth:`Dataset.write` / :meth:`Dataset.read`: extended XYZ through ``ase.io`` (energies,
  forces and stress stored as single-point calculator results, the format other codes
  read).
* :func:`label_with`: label any configurations with any ASE calculator (e.g. EMT).

Validation happens once, at construction: inconsistent shapes, non-finite values, empty
species names get a one-line :class:`ValueError` and nothing is written.  Species unknown to
a model are reported by :meth:`Dataset.configuration` (hence by
:func:`~langevin_opt.mlip.training.potential_landscape` and :func:`~langevin_opt.mlip.fit`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence

import numpy as np

from .descriptors import check_configuration

__all__ = ["Dataset", "to_ase", "from_ase", "label_with"]


def _check_box(box: object, where: str) -> np.ndarray | None:
    if box is None:
        return None
    b = np.asarray(box, dtype=np.float64)
    if b.ndim == 0:
        b = np.full(3, float(b))
    if b.shape != (3,) or not np.all(np.isfinite(b)) or not np.all(b > 0):
        raise ValueError(f"{where}: box must be None or 3 positive finite edge lengths, "
                         f"got {box!r}")
    return b


class Dataset:
    """Configurations with reference energies, forces and optional stresses.

    Parameters
    ----------
    positions : sequence of array_like, each shape (N_c, 3)
        Positions of every configuration (length units).
    species : sequence of sequence of str, each length N_c
        Species names of the atoms.
    energies : array_like, shape (C,)
        Reference energies (energy units).
    forces : sequence of array_like, each shape (N_c, 3)
        Reference forces (energy / length).
    boxes : sequence of (None or array_like of shape (3,)), optional
        Periodic orthorhombic box edges per configuration; ``None`` (or omitted): clusters.
    stress : array_like, shape (C, 3, 3), optional
        Reference stress tensors, symmetric (energy / length³, ASE's convention).

    Raises
    ------
    ValueError
        One line naming the configuration and the problem: counts that disagree,
        force shapes that do not match the positions, NaN or infinite values, empty
        species names, a non-positive box.
    """

    def __init__(self, positions: Sequence, species: Sequence, energies: object,
                 forces: Sequence, boxes: Sequence | None = None,
                 stress: object = None) -> None:
        if isinstance(positions, np.ndarray) and positions.ndim == 3:
            positions = list(positions)
        C = len(positions)
        if C < 1:
            raise ValueError("a Dataset needs at least one configuration")
        for name, seq in (("species", species), ("forces", forces)):
            if len(seq) != C:
                raise ValueError(f"{name} has {len(seq)} entries for {C} configurations")
        e = np.asarray(energies, dtype=np.float64)
        if e.shape != (C,):
            raise ValueError(f"energies must have shape ({C},), got {e.shape}")
        if boxes is None:
            boxes = [None] * C
        elif len(boxes) != C:
            raise ValueError(f"boxes has {len(boxes)} entries for {C} configurations")
        self.positions: list[np.ndarray] = []
        self.species: list[tuple[str, ...]] = []
        self.forces: list[np.ndarray] = []
        self.boxes: list[np.ndarray | None] = []
        for c in range(C):
            x = np.array(positions[c], dtype=np.float64)
            if x.ndim != 2 or x.shape[1] != 3 or x.shape[0] < 1:
                raise ValueError(f"configuration {c}: positions must have shape (N, 3), got "
                                 f"{x.shape}")
            n = x.shape[0]
            f = np.array(forces[c], dtype=np.float64)
            if f.shape != (n, 3):
                raise ValueError(f"configuration {c}: forces must have shape ({n}, 3) like the "
                                 f"positions, got {f.shape}")
            sp = species[c]
            if isinstance(sp, (str, bytes)) or len(sp) != n:
                raise ValueError(f"configuration {c}: species must list {n} names, one per "
                                 f"atom")
            sp = tuple(str(s) for s in sp)
            if any(not s or not isinstance(s, str) for s in sp):
                raise ValueError(f"configuration {c}: species names must be non-empty strings")
            for name, a in (("positions", x), ("forces", f)):
                if not np.all(np.isfinite(a)):
                    bad = int(np.flatnonzero(~np.isfinite(a).all(axis=1))[0])
                    raise ValueError(f"configuration {c}: {name} must be finite; atom {bad} "
                                     f"is {a[bad].tolist()}")
            if not np.isfinite(e[c]):
                raise ValueError(f"configuration {c}: energy must be finite, got {e[c]}")
            self.positions.append(x)
            self.species.append(sp)
            self.forces.append(f)
            self.boxes.append(_check_box(boxes[c], f"configuration {c}"))
        self.energies = e.copy()
        if stress is None:
            self.stress = None
        else:
            s = np.array(stress, dtype=np.float64)
            if s.shape != (C, 3, 3) or not np.all(np.isfinite(s)):
                raise ValueError(f"stress must be finite with shape ({C}, 3, 3), got shape "
                                 f"{s.shape}")
            if not np.allclose(s, s.transpose(0, 2, 1), rtol=1e-10, atol=1e-12):
                raise ValueError("stress tensors must be symmetric (a stress is; extended XYZ "
                                 "stores six Voigt components)")
            self.stress = s

    # -------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.positions)

    def __repr__(self) -> str:
        return (f"Dataset({len(self)} configurations, {self.n_atoms.sum()} atoms, species "
                f"{self.species_names}, stress={'yes' if self.stress is not None else 'no'})")

    @property
    def n_atoms(self) -> np.ndarray:
        """Atoms per configuration, shape ``(C,)``."""
        return np.array([x.shape[0] for x in self.positions], dtype=np.int64)

    @property
    def species_names(self) -> tuple[str, ...]:
        """Sorted distinct species names."""
        return tuple(sorted({s for sp in self.species for s in sp}))

    def configuration(self, c: int, names: Sequence[str], cutoff: float
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Configuration ``c`` checked against a model's species and cutoff.

        Parameters
        ----------
        c : int
            Index.
        names : sequence of str
            The model's species.
        cutoff : float
            The model's cutoff (length units); a box edge below twice it is an error.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray of int64, numpy.ndarray or None)
            Positions, species indices into ``names``, box.
        """
        try:
            return check_configuration(self.positions[c], list(self.species[c]),
                                       self.boxes[c], tuple(names), cutoff)
        except ValueError as err:
            raise ValueError(f"configuration {c}: {err}") from None

    def configurations(self) -> Iterator[tuple]:
        """``(positions, species, box)`` of every configuration (for ``fit_standardization``).

        Yields
        ------
        tuple
        """
        for c in range(len(self)):
            yield self.positions[c], list(self.species[c]), self.boxes[c]

    def subset(self, indices: Sequence[int]) -> Dataset:
        """A dataset of the configurations ``indices`` (copies).

        Parameters
        ----------
        indices : sequence of int
            Configuration indices.

        Returns
        -------
        Dataset
        """
        idx = [int(i) for i in np.asarray(indices, dtype=np.int64).ravel()]
        return Dataset([self.positions[i] for i in idx], [self.species[i] for i in idx],
                       self.energies[idx], [self.forces[i] for i in idx],
                       [self.boxes[i] for i in idx],
                       None if self.stress is None else self.stress[idx])

    def split(self, n_validation: int, *, seed: int) -> tuple[Dataset, Dataset]:
        """Random train/validation split.

        Parameters
        ----------
        n_validation : int
            Configurations held out, ``1 <= n_validation < C``.
        seed : int
            Seed of the permutation (``numpy.random.default_rng``).

        Returns
        -------
        (Dataset, Dataset)
            Training and validation sets.
        """
        from ..core.validation import check_int, check_seed

        k = check_int("n_validation", n_validation, lo=1, hi=len(self) - 1)
        perm = np.random.default_rng(check_seed(seed)).permutation(len(self))
        return self.subset(np.sort(perm[k:])), self.subset(np.sort(perm[:k]))

    def energy_offsets(self, names: Sequence[str]) -> np.ndarray:
        """Per-species energies ``e0`` by least squares of the energies on species counts.

        Parameters
        ----------
        names : sequence of str
            Species order of the result.

        Returns
        -------
        numpy.ndarray, shape (S,)
            Energy units per atom (minimum-norm solution when compositions do not
            determine them all).
        """
        names = tuple(names)
        counts = np.zeros((len(self), len(names)))
        for c, sp in enumerate(self.species):
            for s in sp:
                if s not in names:
                    raise ValueError(f"configuration {c}: unknown species {s!r}; the model "
                                     f"knows {', '.join(names)}")
                counts[c, names.index(s)] += 1
        return np.linalg.lstsq(counts, self.energies, rcond=None)[0]

    # -------------------------------------------------------------- ASE
    def to_ase(self) -> list:
        """The configurations as ``ase.Atoms`` with single-point energies, forces, stress.

        Returns
        -------
        list of ase.Atoms
        """
        from ase.calculators.singlepoint import SinglePointCalculator

        out = []
        for c in range(len(self)):
            at = to_ase(self.positions[c], self.species[c], self.boxes[c])
            res = {"energy": float(self.energies[c]), "forces": self.forces[c].copy()}
            if self.stress is not None:
                res["stress"] = self.stress[c].copy()
            at.calc = SinglePointCalculator(at, **res)
            out.append(at)
        return out

    @classmethod
    def from_ase(cls, images: Sequence) -> Dataset:
        """Build a dataset from ``ase.Atoms`` that carry energies and forces.

        Parameters
        ----------
        images : sequence of ase.Atoms
            Each with a calculator holding ``energy`` and ``forces`` (and, for all or none,
            ``stress``).

        Returns
        -------
        Dataset
        """
        pos, sps, boxes, es, fs, ss = [], [], [], [], [], []
        for c, at in enumerate(images):
            x, sp, box = from_ase(at, where=f"configuration {c}")
            calc = getattr(at, "calc", None)
            if calc is None:
                raise ValueError(f"configuration {c}: no energy/forces (an Atoms without a "
                                 f"calculator)")
            try:
                es.append(float(at.get_potential_energy()))
                fs.append(np.array(at.get_forces(), dtype=np.float64))
            except Exception as err:  # noqa: BLE001 - ASE raises several kinds here
                raise ValueError(f"configuration {c}: no energy/forces ({err})") from None
            try:
                st = at.get_stress(voigt=False)
                ss.append(np.array(st, dtype=np.float64))
            except Exception:  # noqa: BLE001 - stress is optional
                ss.append(None)
            pos.append(x)
            sps.append(sp)
            boxes.append(box)
        if len(pos) == 0:
            raise ValueError("a Dataset needs at least one configuration")
        stress = np.array(ss) if all(s is not None for s in ss) else None
        return cls(pos, sps, np.array(es), fs, boxes, stress)

    def write(self, path: str | os.PathLike) -> None:
        """Write extended XYZ through ``ase.io`` (atomically: temporary file, then rename).

        Parameters
        ----------
        path : str or os.PathLike
            Output file (``.xyz``/``.extxyz``).
        """
        import ase.io

        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".dataset-", suffix=".extxyz", dir=folder)
        os.close(fd)
        try:
            ase.io.write(tmp, self.to_ase(), format="extxyz")
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def read(cls, path: str | os.PathLike, index: str = ":") -> Dataset:
        """Read extended XYZ (or any format ``ase.io.read`` knows) into a dataset.

        Parameters
        ----------
        path : str or os.PathLike
            Input file.
        index : str
            ASE frame selection (default all).

        Returns
        -------
        Dataset
        """
        import ase.io

        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"dataset file not found: {path}")
        try:
            images = ase.io.read(path, index=index)
        except Exception as err:  # noqa: BLE001 - ASE parsers raise many kinds
            raise ValueError(f"cannot read {path}: {type(err).__name__}: {err}") from None
        if not isinstance(images, list):
            images = [images]
        return cls.from_ase(images)


def to_ase(positions: object, species: Sequence[str], box: object = None) -> object:
    """An ``ase.Atoms`` from positions, species names and an orthorhombic box.

    Parameters
    ----------
    positions : array_like, shape (N, 3)
        Positions (Å for ASE's units).
    species : sequence of str
        Chemical symbols.
    box : None or array_like, shape (3,)
        Periodic orthorhombic box edges (``pbc=True``, cell ``diag(box)``); ``None``: a
        cluster (``pbc=False``, no cell).

    Returns
    -------
    ase.Atoms
    """
    from ase import Atoms

    x = np.asarray(positions, dtype=np.float64)
    b = _check_box(box, "to_ase")
    if b is None:
        return Atoms(symbols=list(species), positions=x, pbc=False)
    return Atoms(symbols=list(species), positions=x, cell=np.diag(b), pbc=True)


def from_ase(atoms: object, *, where: str = "from_ase"
             ) -> tuple[np.ndarray, list[str], np.ndarray | None]:
    """Positions, species names and box of an ``ase.Atoms``.

    Parameters
    ----------
    atoms : ase.Atoms
        Periodic in all three directions with an orthorhombic cell, or not periodic.
    where : str
        Prefix of error messages.

    Returns
    -------
    (numpy.ndarray, list of str, numpy.ndarray or None)
        Positions ``(N, 3)`` (wrapped into the box when periodic), chemical symbols,
        box edges ``(3,)`` or ``None``.

    Raises
    ------
    ValueError
        Mixed periodicity or a non-orthorhombic cell.
    """
    pbc = np.asarray(atoms.get_pbc(), dtype=bool)
    x = np.array(atoms.get_positions(), dtype=np.float64)
    sp = list(atoms.get_chemical_symbols())
    if not pbc.any():
        return x, sp, None
    if not pbc.all():
        raise ValueError(f"{where}: periodic in some directions only (pbc={pbc.tolist()}); "
                         f"only clusters and fully periodic boxes are supported")
    cell = np.array(atoms.get_cell(), dtype=np.float64)
    off = cell - np.diag(np.diag(cell))
    if np.abs(off).max() > 1e-10 * max(1.0, np.abs(cell).max()):
        raise ValueError(f"{where}: the cell is not orthorhombic; only orthorhombic boxes "
                         f"are supported")
    box = np.diag(cell).copy()
    return np.mod(x, box), sp, box


def label_with(calculator: object, configurations: Sequence, *, stress: bool = False
               ) -> Dataset:
    """Label configurations with any ASE calculator (energies, forces, optionally stress).

    Parameters
    ----------
    calculator : ase.calculators.calculator.Calculator
        E.g. ``ase.calculators.emt.EMT()``.
    configurations : sequence of ase.Atoms or of (positions, species[, box])
        What to label.
    stress : bool
        Also store the stress (periodic configurations only).

    Returns
    -------
    Dataset
        Energies in eV, forces in eV/Å, stress in eV/Å³ (ASE units).
    """
    from ase import Atoms

    pos, sps, boxes, es, fs, ss = [], [], [], [], [], []
    for c, conf in enumerate(configurations):
        if isinstance(conf, Atoms):
            x, sp, box = from_ase(conf, where=f"configuration {c}")
        else:
            if not isinstance(conf, (tuple, list)) or len(conf) not in (2, 3):
                raise TypeError(f"configuration {c}: expected ase.Atoms or (positions, "
                                f"species[, box])")
            x = np.asarray(conf[0], dtype=np.float64)
            sp = list(conf[1])
            box = conf[2] if len(conf) == 3 else None
        at = to_ase(x, sp, box)
        at.calc = calculator
        es.append(float(at.get_potential_energy()))
        fs.append(np.array(at.get_forces(), dtype=np.float64))
        if stress:
            if box is None:
                raise ValueError(f"configuration {c}: stress needs a periodic box")
            ss.append(np.array(at.get_stress(voigt=False), dtype=np.float64))
        pos.append(x)
        sps.append(sp)
        boxes.append(None if box is None else np.asarray(box, dtype=np.float64))
    return Dataset(pos, sps, np.array(es), fs, boxes, np.array(ss) if stress else None)
