"""An ASE calculator for langevin_opt potentials: our LJ, Morse or a trained network in ASE.

:class:`LangevinOptCalculator` wraps

* a :class:`~langevin_opt.mlip.NeuralPotential` (bound to the atoms' chemical symbols on
  first use, one :class:`~langevin_opt.mlip.BoundPotential` with its Verlet list kept per
  symbol sequence) or an already bound :class:`~langevin_opt.mlip.BoundPotential`;
* a :class:`~langevin_opt.particles.PairPotential` (Lennard-Jones, Morse, ...) or a
  sequence of them, evaluated by :func:`langevin_opt.particles.compute_forces` on a
  :class:`~langevin_opt.particles.ParticleSystem`; chemical symbols are mapped to the
  potential's species indices by ``species``;

so that ASE's optimizers, molecular dynamics, NEB and equation-of-state tools run on them.

Properties: ``energy`` and ``free_energy`` (the same number: no electronic entropy),
``forces`` and, for periodic atoms, ``stress`` from the virial tensor,
``sigma = -W / V`` in ASE's Voigt order ``(xx, yy, zz, yz, xz, xy)``, where
``W_ab = -dE/d epsilon_ab`` (the network's :attr:`~langevin_opt.mlip.MLIPResult.virial_tensor`;
``sum_pairs f(r)/r d_a d_b`` for pair potentials).  Stress is configurational only
(ASE adds no kinetic part either).

Units: the calculator passes numbers through unchanged.  A ``units="metal"`` network is
in ASE's own units (Å, eV); a reduced-unit potential (``epsilon = sigma = 1``) gives
energies in units of ``epsilon`` that ASE will label eV.

Cells: as everywhere in :mod:`langevin_opt.mlip`, atoms are either a cluster (no
``pbc``) or periodic in all three directions with an orthorhombic cell (a slab is a
periodic box with a vacuum gap); the cutoff must not exceed half the shortest edge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from ..particles.forces import compute_forces
from ..particles.potentials import PairPotential
from ..particles.system import ParticleSystem
from .dataset import from_ase
from .model import BoundPotential, NeuralPotential

__all__ = ["LangevinOptCalculator", "pair_virial_tensor"]


def pair_virial_tensor(positions: np.ndarray, species: np.ndarray, box: np.ndarray | None,
                       potential: PairPotential) -> np.ndarray:
    """Virial tensor ``W_ab = sum_{i<j} f(r)/r d_a d_b`` of a pair potential (NumPy).

    Pairs are found by a vectorised all-pairs loop (``O(N^2)``, memory ``O(N)``); the
    pair function is called only for pairs inside the cutoff.

    Parameters
    ----------
    positions : numpy.ndarray, shape (N, 3)
        Positions (length units).
    species : numpy.ndarray of int64, shape (N,)
        Species indices of the potential's table.
    box : numpy.ndarray, shape (3,), or None
        Periodic orthorhombic box (minimum image; cutoff at most half the shortest edge)
        or ``None``.
    potential : PairPotential
        The pair term.

    Returns
    -------
    numpy.ndarray, shape (3, 3)
        ``-dE/d epsilon`` for a homogeneous strain (energy units); its trace is the
        scalar virial of :func:`langevin_opt.particles.compute_forces`.
    """
    n = positions.shape[0]
    S = potential.n_species
    rc2 = potential.cutoff ** 2
    W = np.zeros((3, 3))
    for i in range(n - 1):
        d = positions[i + 1:] - positions[i]
        if box is not None:
            d -= box * np.rint(d / box)
        r2 = np.einsum("ij,ij->i", d, d)
        inside = r2 < rc2
        d, r2, sj = d[inside], r2[inside], species[i + 1:][inside]
        for b in np.unique(sj).tolist():
            sel = sj == b
            row = potential.table[int(species[i]) * S + b]
            f_over_r = np.array([potential.pair_py(q, row)[1] for q in r2[sel].tolist()])
            ds = d[sel]
            W += (ds * f_over_r[:, None]).T @ ds
    return W


class LangevinOptCalculator(Calculator):
    """ASE calculator wrapping a langevin_opt potential (module docstring).

    Parameters
    ----------
    potential : NeuralPotential, BoundPotential, PairPotential or sequence of PairPotential
        The energy.
    species : mapping of str to int, or sequence of str, optional
        Pair potentials only: chemical symbol -> species index of the potential's table
        (a sequence lists the symbols in index order).  Default: every atom is species 0.
    skin : float
        Verlet skin of the network's neighbour list (length units).
    **kwargs
        Passed to :class:`ase.calculators.calculator.Calculator` (e.g. ``label``).

    Examples
    --------
    >>> from ase.cluster import Icosahedron
    >>> from ase.optimize import BFGS
    >>> from langevin_opt import particles as lp
    >>> from langevin_opt.mlip import LangevinOptCalculator
    >>> atoms = Icosahedron("Ar", 2, latticeconstant=2 ** (2 / 3))  # 13 atoms, r_nn = 2^(1/6)
    >>> atoms.calc = LangevinOptCalculator(lp.lennard_jones(mode="plain", cutoff=None))
    >>> bool(BFGS(atoms, logfile=None).run(fmax=1e-6))
    True
    >>> round(atoms.get_potential_energy(), 6)
    -44.326801
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]
    nolabel = True

    def __init__(self, potential: object, *, species: Mapping[str, int] | Sequence[str] |
                 None = None, skin: float = 0.5, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._bound: dict[tuple[str, ...], BoundPotential] = {}
        self.skin = float(skin)
        if isinstance(potential, (NeuralPotential, BoundPotential)):
            if species is not None:
                raise ValueError("species is for pair potentials; a network knows its species "
                                 "by name")
            self.potential = potential
            self._pairs: list[PairPotential] | None = None
            self._species_map: dict[str, int] | None = None
            return
        terms = [potential] if isinstance(potential, PairPotential) else list(potential)
        if not terms or not all(isinstance(p, PairPotential) for p in terms):
            raise TypeError("potential must be a NeuralPotential, BoundPotential, "
                            "PairPotential or a non-empty sequence of PairPotential, got "
                            f"{type(potential).__name__}")
        self.potential = terms[0] if len(terms) == 1 else tuple(terms)
        self._pairs = terms
        if species is None:
            self._species_map = None
        elif isinstance(species, Mapping):
            self._species_map = {str(k): int(v) for k, v in species.items()}
        else:
            self._species_map = {str(s): k for k, s in enumerate(species)}
        n_sp = min(p.n_species for p in terms)
        if self._species_map and not all(0 <= v < n_sp for v in self._species_map.values()):
            raise ValueError(f"species indices must be in [0, {n_sp}) for these potentials, "
                             f"got {self._species_map}")

    # -------------------------------------------------------------- evaluation
    def _network(self, symbols: list[str]) -> BoundPotential:
        pot = self.potential
        if isinstance(pot, BoundPotential):
            names = tuple(pot.model.species[k] for k in pot.species.tolist())
            if tuple(symbols) != names:
                raise ValueError("the atoms' chemical symbols differ from those the "
                                 "BoundPotential was bound to")
            return pot
        key = tuple(symbols)
        if key not in self._bound:
            self._bound[key] = pot.bind(list(symbols), skin=self.skin)
        return self._bound[key]

    def _pair_species(self, symbols: list[str]) -> np.ndarray:
        if self._species_map is None:
            return np.zeros(len(symbols), dtype=np.int64)
        try:
            return np.array([self._species_map[s] for s in symbols], dtype=np.int64)
        except KeyError as err:
            raise ValueError(f"chemical symbol {err.args[0]!r} has no species index; known: "
                             f"{sorted(self._species_map)}") from None

    def calculate(self, atoms: object = None, properties: Sequence[str] = ("energy",),
                  system_changes: Sequence[str] = all_changes) -> None:
        """Compute energy, forces and (periodic atoms) stress; ASE's calculator hook.

        Parameters
        ----------
        atoms : ase.Atoms, optional
            The configuration (default: the attached atoms).
        properties : sequence of str
            Requested properties (all are computed together).
        system_changes : sequence of str
            What changed since the last call (ASE bookkeeping).
        """
        super().calculate(atoms, properties, system_changes)
        x, symbols, box = from_ase(self.atoms, where="LangevinOptCalculator")
        if "stress" in properties and box is None:
            raise PropertyNotImplementedError("stress needs atoms periodic in all three "
                                              "directions")
        if self._pairs is None:
            r = self._network(symbols).evaluate(x, box)
            energy, forces, Wt = r.energy, r.forces, r.virial_tensor
        else:
            sp = self._pair_species(symbols)
            res = compute_forces(ParticleSystem(x, sp, box=box), self._pairs)
            energy, forces = res.energy, res.forces
            Wt = None
            if box is not None:
                Wt = sum(pair_virial_tensor(x, sp, box, p) for p in self._pairs)
        self.results["energy"] = float(energy)
        self.results["free_energy"] = float(energy)
        self.results["forces"] = np.array(forces, dtype=np.float64)
        if box is not None:
            s = -np.asarray(Wt) / float(np.prod(box))
            s = 0.5 * (s + s.T)
            self.results["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2],
                                               s[0, 1]])
