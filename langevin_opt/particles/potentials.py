"""Pair and bond potentials: scalar pair terms, parameter tables and long-range corrections.

Every interaction is one *scalar pair function* (the JAX-MD ``energy.py`` model)::

    pair(r2, p) -> (u, f_over_r)

of the squared distance ``r2`` and a 1-D float64 parameter row ``p``; it
returns the pair energy ``u(r)`` and ``f_over_r = -u'(r) / r``, so that the
force on atom ``i`` from atom ``j`` is ``f_over_r * (r_i - r_j)`` and the pair's
virial is ``f_over_r * r2``.  Pair functions use only scalar arithmetic,
``math.sqrt`` and ``math.exp``: the same Python source is compiled for the CPU
here (``numba.njit``) and can be compiled as ``numba.cuda.jit(device=True)``
functions (``pair_py`` attributes hold the sources).

Parameter tables
----------------
*Non-bonded* potentials (:class:`PairPotential`) hold one row per ordered
species pair: ``table[a * S + b]`` for species ``a, b`` (``S`` species; the
table is symmetric).  *Bonded* potentials (:class:`BondPotential`) hold a
bond list ``bonds`` of shape ``(B, 2)`` and one row per bond.

Units: reduced (``k_B = 1``); energies in units of ``epsilon``, lengths in
units of ``sigma``.

Potentials
----------
:func:`lennard_jones`
    ``4 eps [(sigma/r)^12 - (sigma/r)^6]``: ``mode="plain"`` (no cutoff),
    ``"truncated"`` (zero beyond ``r_c``) or ``"shifted"`` (truncated and shifted
    by ``-u(r_c)`` so that the energy is continuous); multi-species with
    Lorentz-Berthelot mixing; analytic tail corrections.
:func:`morse`
    ``D [exp(-2 a (r - r0)) - 2 exp(-a (r - r0))]``: minimum ``-D`` at ``r0``.
:func:`gaussian_bonds`
    ``-D exp(-(r - r0)^2 / (2 w^2))``: the bond well of a diatomic that can
    dissociate; curvature ``D / w^2`` at the minimum.
:func:`harmonic_bonds`
    ``k (r - r0)^2 / 2``.
"""

from __future__ import annotations

import abc
import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numba
import numpy as np

from ..core.validation import check_choice
from .kernels import bond_kernels, pair_kernels

__all__ = [
    "Potential",
    "ManyBodyPotential",
    "ExternalPotential",
    "as_potential",
    "PairPotential",
    "LennardJones",
    "BondPotential",
    "GaussianBonds",
    "lj_pair",
    "morse_pair",
    "gaussian_pair",
    "harmonic_pair",
    "lennard_jones",
    "lorentz_berthelot",
    "morse",
    "gaussian_bonds",
    "harmonic_bonds",
    "lj_tail_energy",
    "lj_tail_pressure",
    "LJ_MODES",
]

#: Cutoff treatments of :func:`lennard_jones` and :func:`morse`.
LJ_MODES = ("plain", "truncated", "shifted")


# ---------------------------------------------------------------------------
# Scalar pair functions (pure Python sources; compiled below for the CPU)
# ---------------------------------------------------------------------------
def _lj_pair_py(r2, p):
    # p = (c12, c6, rc2, shift) with c12 = 4 eps sigma^12, c6 = 4 eps sigma^6.
    # The cutoff is a 0/1 factor, not a branch: pairs in a Verlet list fall on either
    # side of r_c at random, and a mispredicted branch costs more than the arithmetic
    # (measured: 360 -> 260 ns per atom for LJ at rho = 0.8442).
    ir2 = 1.0 / r2
    ir6 = ir2 * ir2 * ir2
    a = p[0] * ir6
    inside = 1.0 if r2 < p[2] else 0.0
    ir6 = ir6 * inside
    u = ir6 * (a - p[1]) - p[3] * inside
    f = ir6 * (12.0 * a - 6.0 * p[1]) * ir2
    return u, f


def _morse_pair_py(r2, p):
    # p = (D, alpha, r0, rc2, shift); branch-free cutoff as in _lj_pair_py
    r = math.sqrt(r2)
    e1 = math.exp(-p[1] * (r - p[2]))
    e2 = e1 * e1
    inside = 1.0 if r2 < p[3] else 0.0
    u = (p[0] * (e2 - 2.0 * e1) - p[4]) * inside
    f = 2.0 * p[1] * p[0] * (e2 - e1) / r * inside
    return u, f


def _gaussian_pair_py(r2, p):
    # p = (D, r0, 1 / w^2)
    r = math.sqrt(r2)
    dr = r - p[1]
    u = -p[0] * math.exp(-0.5 * dr * dr * p[2])
    f = u * dr * p[2] / r
    return u, f


def _harmonic_pair_py(r2, p):
    # p = (k, r0)
    r = math.sqrt(r2)
    dr = r - p[1]
    u = 0.5 * p[0] * dr * dr
    f = -p[0] * dr / r
    return u, f


_PAIR_JIT = {"nogil": True, "error_model": "numpy", "inline": "always"}

#: CPU pair function of the Lennard-Jones potential, row ``(c12, c6, rc2, shift)``.
lj_pair = numba.njit(**_PAIR_JIT)(_lj_pair_py)
#: CPU pair function of the Morse potential, row ``(D, alpha, r0, rc2, shift)``.
morse_pair = numba.njit(**_PAIR_JIT)(_morse_pair_py)
#: CPU pair function of the Gaussian well, row ``(D, r0, 1/w^2)``.
gaussian_pair = numba.njit(**_PAIR_JIT)(_gaussian_pair_py)
#: CPU pair function of the harmonic bond, row ``(k, r0)``.
harmonic_pair = numba.njit(**_PAIR_JIT)(_harmonic_pair_py)


# ---------------------------------------------------------------------------
# The potential protocol: every energy term, pair, bond or many-body
# ---------------------------------------------------------------------------
class Potential(abc.ABC):
    """One term of the potential energy of a particle system: the interface of every engine.

    :class:`PairPotential`, :class:`BondPotential` and :class:`ManyBodyPotential` (for
    example a neural network potential through :class:`ExternalPotential`) are all
    potentials; :func:`~langevin_opt.particles.compute_forces`,
    :class:`~langevin_opt.particles.Dynamics`, the FIRE quenches, the replica runs and
    :func:`~langevin_opt.particles.energy_function` sum any list of them.  A term is
    used in two steps:

    1. ``term = potential.prepare(species, box, dim)`` once per system: checks that the
       potential can act on it (one-line ``ValueError``) and returns the object that
       evaluates it (the potential itself when it holds no state; a fresh copy with its
       own neighbour list for a many-body term, so that two systems never share one).
    2. ``term.energy_forces(positions, box, species) -> (E, F, W)`` at every step.

    Terms with ``compiled = True`` (pair and bond terms) also have scalar pair functions
    that the engines call from their own compiled loops (neighbour-list kernels,
    batched replicas, the CUDA backend): that fast path gives the same numbers as
    :meth:`energy_forces` up to the summation order of the kernel used.

    Attributes
    ----------
    kind : str
        ``"pair"``, ``"bond"`` or ``"many-body"``.
    compiled : bool
        Whether the engines may use the compiled pair-function fast path.
    name : str
        Name used in messages.
    cutoff : float
        Interaction range (length units; ``inf`` if untruncated, 0 for bonds).
    """

    kind: ClassVar[str] = "many-body"
    compiled: ClassVar[bool] = False
    name: str
    cutoff: float

    @abc.abstractmethod
    def check(self, species: np.ndarray, box: np.ndarray | None, dim: int) -> None:
        """Raise a one-line ``ValueError`` if the term cannot act on this system.

        Parameters
        ----------
        species : numpy.ndarray of int64, shape (N,)
            Species index of every atom.
        box : None or numpy.ndarray, shape (dim,)
            Periodic box edges (length units) or ``None`` (open system).
        dim : int
            Spatial dimension.
        """

    def prepare(self, species: np.ndarray, box: np.ndarray | None, dim: int) -> Potential:
        """Check the term against a system and return the object that evaluates it.

        Parameters
        ----------
        species, box, dim
            As in :meth:`check`.

        Returns
        -------
        Potential
            ``self`` for stateless terms.
        """
        self.check(species, box, dim)
        return self

    @abc.abstractmethod
    def energy_forces(self, positions: np.ndarray, box: np.ndarray | None = None,
                      species: np.ndarray | None = None) -> tuple[float, np.ndarray, float]:
        """Energy, forces and scalar virial of one configuration.

        Parameters
        ----------
        positions : numpy.ndarray, shape (N, d)
            Positions (length units), wrapped or not.
        box : None or numpy.ndarray, shape (d,)
            Periodic box edges or ``None``.
        species : numpy.ndarray of int64, shape (N,), optional
            Species (default all 0; ignored by terms bound to their species).

        Returns
        -------
        (float, numpy.ndarray, float)
            ``E`` (energy units), ``F = -dE/dx`` of shape ``(N, d)`` and the virial
            ``W = -d V dE/dV`` (energy units; :mod:`langevin_opt.particles.forces`).
        """


def _bx(box: np.ndarray | None, d: int) -> tuple[np.ndarray, bool]:
    return (np.zeros(d), False) if box is None else (np.asarray(box, dtype=np.float64), True)


def _flat_input(positions, species) -> tuple[np.ndarray, np.ndarray]:
    x = np.ascontiguousarray(positions, dtype=np.float64)
    sp = (np.zeros(x.shape[0], dtype=np.int64) if species is None
          else np.ascontiguousarray(species, dtype=np.int64))
    return x, sp


class ManyBodyPotential(Potential):
    """A potential whose energy is not a sum of pair terms (evaluated in Python-called code).

    Subclasses implement :meth:`check` and :meth:`energy_forces`, and :meth:`prepare`
    when they keep state (neighbour lists) that two systems must not share.  The
    engines run them on the CPU, one configuration per call (no batched or CUDA path).
    """

    kind: ClassVar[str] = "many-body"
    compiled: ClassVar[bool] = False


class ExternalPotential(ManyBodyPotential):
    """Adapter: any object with an ``energy_forces`` method as a :class:`Potential`.

    ``particles`` knows no model class: a potential from elsewhere (for example
    :class:`langevin_opt.mlip.NeuralPotential` and its bound form) enters by duck typing:

    * a *model*: an object with ``bind(species)`` returning a bound object (below) and a
      ``cutoff``; the adapter binds it to each system's species (``species`` of the
      :class:`~langevin_opt.particles.ParticleSystem` index the model's species);
    * a *bound* object: ``energy_forces(positions, box) -> (E, F, W)`` with a ``cutoff``
      and, optionally, ``species`` (the atoms' species indices, checked against the
      system's) and ``model`` (whose ``bind(species)`` gives fresh copies).

    Every prepared term is a fresh binding (or a deep copy) with its own neighbour list,
    so a result never depends on what an earlier run did with the object.

    Parameters
    ----------
    obj : object
        The model or bound object.
    name : str, optional
        Name in messages (default: the class name of ``obj``).
    """

    def __init__(self, obj: object, name: str | None = None) -> None:
        bindable = callable(getattr(obj, "bind", None))
        bound = callable(getattr(obj, "energy_forces", None))
        if not (bindable or bound) or not hasattr(obj, "cutoff"):
            raise TypeError(f"a many-body potential needs energy_forces(positions, box) or "
                            f"bind(species), and a cutoff; got {type(obj).__name__}")
        self.obj = obj
        self.name = type(obj).__name__ if name is None else str(name)
        self._bound = None if bindable and not bound else obj

    @property
    def cutoff(self) -> float:
        """Interaction cutoff of the wrapped object (length units)."""
        return float(self.obj.cutoff)

    def _model(self) -> object | None:
        if callable(getattr(self.obj, "bind", None)):
            return self.obj
        m = getattr(self.obj, "model", None)
        return m if callable(getattr(m, "bind", None)) else None

    def check(self, species: np.ndarray, box: np.ndarray | None, dim: int) -> None:
        """One-line ``ValueError`` for a wrong species list or a box too small for the cutoff.

        Parameters
        ----------
        species : numpy.ndarray of int64, shape (N,)
        box : None or numpy.ndarray, shape (dim,)
        dim : int
        """
        sp = np.asarray(species)
        own = getattr(self._bound, "species", None) if self._bound is not None else None
        if own is not None and (np.shape(own) != sp.shape or not np.array_equal(own, sp)):
            raise ValueError(f"species of the system ({sp.shape[0]} atoms) differ from those "
                             f"{self.name} was bound to ({np.shape(own)[0]} atoms); bind it to "
                             "the system's species or pass the unbound model")
        names = getattr(self._model(), "species", None)
        if names is not None and sp.size and int(sp.max()) >= len(names):
            raise ValueError(f"species must be < {len(names)} for {self.name} (species "
                             f"{tuple(names)}), got {int(sp.max())}")
        if box is not None and not self.cutoff <= 0.5 * float(np.min(box)):
            raise ValueError(f"cutoff of {self.name} ({self.cutoff}) must not exceed half the "
                             f"shortest box edge ({0.5 * float(np.min(box)):.6g}) of a "
                             "periodic system")

    def prepare(self, species: np.ndarray, box: np.ndarray | None, dim: int) -> Potential:
        """A checked, fresh binding of the wrapped object for one system.

        Parameters
        ----------
        species, box, dim
            As in :meth:`Potential.check`.

        Returns
        -------
        ExternalPotential
            Bound to ``species``, with its own state.
        """
        self.check(species, box, dim)
        model = self._model()
        if model is not None:
            skin = getattr(getattr(self._bound, "neighbor_list", None), "skin", None)
            kw = {} if skin is None else {"skin": skin}
            bound = model.bind(np.asarray(species, dtype=np.int64), **kw)
        else:
            bound = copy.deepcopy(self._bound)
        out = ExternalPotential(bound, self.name)
        return out

    def energy_forces(self, positions: np.ndarray, box: np.ndarray | None = None,
                      species: np.ndarray | None = None) -> tuple[float, np.ndarray, float]:
        """Energy, forces and virial from the bound object (NaN for non-finite positions).

        Parameters
        ----------
        positions : numpy.ndarray, shape (N, d)
        box : None or numpy.ndarray, shape (d,)
        species : numpy.ndarray, optional
            Used only to bind an unbound model on first use.

        Returns
        -------
        (float, numpy.ndarray, float)
            As :meth:`Potential.energy_forces`; all NaN if a position is not finite (so
            that the engines report a divergence, not a validation error).
        """
        x = np.asarray(positions, dtype=np.float64)
        if not np.all(np.isfinite(x)):
            return math.nan, np.full(x.shape, math.nan), math.nan
        if self._bound is None:
            _, sp = _flat_input(x, species)
            self._bound = self.obj.bind(sp)
        e, f, w = self._bound.energy_forces(x, box)
        return float(e), np.asarray(f, dtype=np.float64), float(w)

    def __repr__(self) -> str:
        return f"ExternalPotential({self.obj!r})"


def as_potential(obj: object) -> Potential:
    """A :class:`Potential` for ``obj``: itself, or an :class:`ExternalPotential` adapter.

    Parameters
    ----------
    obj : Potential or object
        A potential, or an object with ``energy_forces(positions, box)`` / ``bind(species)``
        and a ``cutoff`` (see :class:`ExternalPotential`).

    Returns
    -------
    Potential

    Raises
    ------
    ValueError
        For anything else (one line naming the type).
    """
    if isinstance(obj, Potential):
        return obj
    if hasattr(obj, "cutoff") and (callable(getattr(obj, "energy_forces", None))
                                   or callable(getattr(obj, "bind", None))):
        return ExternalPotential(obj)
    raise ValueError(f"potentials must be Potential objects (pair, bond or many-body) or "
                     f"objects with energy_forces(positions, box) and a cutoff, got "
                     f"{type(obj).__name__}")


# ---------------------------------------------------------------------------
# Potential objects
# ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PairPotential(Potential):
    """A non-bonded pair potential acting between all atom pairs.

    Attributes
    ----------
    name : str
        Name of the potential.
    pair : numba dispatcher
        CPU pair function ``pair(r2, p) -> (u, f_over_r)``.
    pair_py : callable
        Its pure-Python source (for other compilation targets).
    table : numpy.ndarray, shape (S * S, P)
        Parameter rows; row ``a * S + b`` for species ``a`` and ``b``.
    n_species : int
        Number of species ``S``.
    cutoff : float
        Largest cutoff over all species pairs (``inf`` if untruncated).
    """

    name: str
    pair: Callable
    pair_py: Callable
    table: np.ndarray
    n_species: int
    cutoff: float

    kind: ClassVar[str] = "pair"
    compiled: ClassVar[bool] = True

    def check(self, species: np.ndarray, box: np.ndarray | None, dim: int) -> None:
        """One-line ``ValueError`` for species out of range or a cutoff too long for the box.

        Parameters
        ----------
        species : numpy.ndarray of int64, shape (N,)
        box : None or numpy.ndarray, shape (dim,)
        dim : int
        """
        n_species = int(np.max(species)) + 1
        if n_species > self.n_species:
            raise ValueError(f"species must be < {self.n_species} for {self.name}, got "
                             f"{n_species - 1}")
        if box is not None and not self.cutoff <= 0.5 * float(np.min(box)):
            raise ValueError(f"cutoff of {self.name} ({self.cutoff}) must not exceed half the "
                             f"shortest box edge ({0.5 * float(np.min(box)):.6g}) of a "
                             "periodic system")

    def energy_forces(self, positions: np.ndarray, box: np.ndarray | None = None,
                      species: np.ndarray | None = None) -> tuple[float, np.ndarray, float]:
        """Energy, forces and virial over all pairs (the compiled all-pairs kernel).

        Parameters
        ----------
        positions : numpy.ndarray, shape (N, d)
        box : None or numpy.ndarray, shape (d,)
        species : numpy.ndarray of int64, shape (N,), optional

        Returns
        -------
        (float, numpy.ndarray, float)
            As :meth:`Potential.energy_forces`.
        """
        x, sp = _flat_input(positions, species)
        bx, periodic = _bx(box, x.shape[1])
        F = np.zeros(x.shape)
        e, w = pair_kernels(self, x.shape[1]).all_pairs(x, sp, self.table, self.n_species,
                                                        bx, periodic, F)
        return float(e), F, float(w)

    def energy_force(self, r, a: int = 0, b: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Evaluate the pair term at distances ``r`` (NumPy-side; for tests and plots).

        Parameters
        ----------
        r : array_like
            Distances (length units), positive.
        a, b : int
            Species of the two atoms.

        Returns
        -------
        u : numpy.ndarray
            Pair energies ``u(r)``.
        f : numpy.ndarray
            Radial forces ``-u'(r)`` (positive = repulsive).
        """
        r = np.asarray(r, dtype=np.float64)
        row = self.table[a * self.n_species + b]
        u = np.empty(r.shape)
        f = np.empty(r.shape)
        for idx, rv in np.ndenumerate(r):
            uu, fr = self.pair_py(rv * rv, row)
            u[idx] = uu
            f[idx] = fr * rv
        return u, f


@dataclass(frozen=True, eq=False)
class LennardJones(PairPotential):
    """Lennard-Jones pair potential (see :func:`lennard_jones`).

    Attributes
    ----------
    epsilon, sigma : numpy.ndarray, shape (S, S)
        Well depths (energy units) and diameters (length units) per species pair.
    rc : numpy.ndarray, shape (S, S)
        Cutoffs (``inf`` in mode ``"plain"``).
    mode : str
        ``"plain"``, ``"truncated"`` or ``"shifted"``.
    """

    epsilon: np.ndarray = field(default=None)
    sigma: np.ndarray = field(default=None)
    rc: np.ndarray = field(default=None)
    mode: str = "shifted"

    def _fractions(self, fractions) -> np.ndarray:
        s = self.n_species
        if fractions is None:
            if s != 1:
                raise ValueError("fractions must be given for a multi-species potential")
            return np.ones(1)
        x = np.asarray(fractions, dtype=np.float64)
        if x.shape != (s,) or np.any(x < 0) or not np.isclose(x.sum(), 1.0):
            raise ValueError(f"fractions must be {s} non-negative numbers summing to 1")
        return x

    def tail_energy(self, density: float, fractions=None, dim: int = 3) -> float:
        """Long-range correction to the energy per particle, ``u_tail``.

        ``u_tail = (rho / 2) sum_ab x_a x_b int_{rc}^inf u_ab(r) dS_d(r)``, assuming
        ``g(r) = 1`` beyond the cutoff; in 3-D for one species
        ``(8/3) pi rho eps sigma^3 [(1/3)(sigma/rc)^9 - (sigma/rc)^3]``.  Zero in
        mode ``"plain"``.  It corrects the *truncated* energy; in mode
        ``"shifted"`` add back the shift of every pair inside the cutoff first.

        Parameters
        ----------
        density : float
            Number density ``N / V``.
        fractions : array_like, shape (S,), optional
            Mole fractions of the species (required if ``S > 1``).
        dim : int
            Spatial dimension (2 or 3).

        Returns
        -------
        float
            Energy per particle (energy units).
        """
        return self._tail_sum(lj_tail_energy, density, fractions, dim)

    def tail_pressure(self, density: float, fractions=None, dim: int = 3) -> float:
        """Long-range correction to the pressure, ``P_tail``.

        ``P_tail = -(rho^2 / (2 d)) sum_ab x_a x_b int_{rc}^inf r u_ab'(r) dS_d(r)``;
        in 3-D for one species
        ``(16/3) pi rho^2 eps sigma^3 [(2/3)(sigma/rc)^9 - (sigma/rc)^3]``.  It is
        added to the virial pressure of the truncated (or shifted) potential.

        Parameters
        ----------
        density : float
            Number density ``N / V``.
        fractions : array_like, shape (S,), optional
            Mole fractions of the species (required if ``S > 1``).
        dim : int
            Spatial dimension (2 or 3).

        Returns
        -------
        float
            Pressure (energy / volume units).
        """
        return self._tail_sum(lj_tail_pressure, density, fractions, dim)

    def _tail_sum(self, correction, density: float, fractions, dim: int) -> float:
        # sum_ab x_a x_b correction_ab of the per-pair tail correction (0 in mode "plain")
        if self.mode == "plain":
            return 0.0
        x = self._fractions(fractions)
        return float(np.sum(np.outer(x, x) * correction(density, self.epsilon, self.sigma,
                                                        self.rc, dim)))

    def tail(self, system) -> tuple[float, float]:
        """Tail corrections of a periodic system: total energy and pressure.

        Parameters
        ----------
        system : ParticleSystem
            A periodic system.

        Returns
        -------
        (float, float)
            ``N u_tail`` (energy units) and ``P_tail``.
        """
        if system.box is None:
            raise ValueError("box must be periodic for tail corrections")
        counts = system.counts(self.n_species)[: self.n_species]
        x = counts / counts.sum()
        rho = system.density
        return (system.n_atoms * self.tail_energy(rho, x, system.dim),
                self.tail_pressure(rho, x, system.dim))


@dataclass(frozen=True, eq=False)
class BondPotential(Potential):
    """A bonded potential acting on listed atom pairs only.

    Attributes
    ----------
    name : str
    pair : numba dispatcher
        CPU pair function ``pair(r2, p) -> (u, f_over_r)``.
    pair_py : callable
        Its pure-Python source.
    bonds : numpy.ndarray of int64, shape (B, 2)
        Bonded atom pairs.
    table : numpy.ndarray, shape (B, P)
        Parameter row of every bond.
    """

    name: str
    pair: Callable
    pair_py: Callable
    bonds: np.ndarray
    table: np.ndarray

    kind: ClassVar[str] = "bond"
    compiled: ClassVar[bool] = True
    cutoff = 0.0

    def check(self, species: np.ndarray, box: np.ndarray | None, dim: int) -> None:
        """One-line ``ValueError`` for a bond that indexes an atom beyond ``N``.

        Parameters
        ----------
        species : numpy.ndarray of int64, shape (N,)
        box : None or numpy.ndarray, shape (dim,)
        dim : int
        """
        n = np.shape(species)[0]
        if self.n_bonds and self.bonds.max() >= n:
            raise ValueError(f"bonds of {self.name} must index atoms < {n}, got "
                             f"{self.bonds.max()}")

    def energy_forces(self, positions: np.ndarray, box: np.ndarray | None = None,
                      species: np.ndarray | None = None) -> tuple[float, np.ndarray, float]:
        """Energy, forces and virial of the bonds (the compiled bond kernel).

        Parameters
        ----------
        positions : numpy.ndarray, shape (N, d)
        box : None or numpy.ndarray, shape (d,)
        species : ignored

        Returns
        -------
        (float, numpy.ndarray, float)
            As :meth:`Potential.energy_forces`.
        """
        x, _ = _flat_input(positions, species)
        bx, periodic = _bx(box, x.shape[1])
        F = np.zeros(x.shape)
        e, w = bond_kernels(self, x.shape[1]).bonds(x, self.bonds, self.table, bx, periodic, F)
        return float(e), F, float(w)

    @property
    def n_bonds(self) -> int:
        """Number of bonds ``B``."""
        return self.bonds.shape[0]

    def energy_force(self, r, bond: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Evaluate the term of one bond at distances ``r`` (NumPy-side).

        Parameters
        ----------
        r : array_like
            Distances (length units), positive.
        bond : int
            Bond index.

        Returns
        -------
        u, f : numpy.ndarray
            Energies and radial forces ``-u'(r)``.
        """
        r = np.asarray(r, dtype=np.float64)
        row = self.table[bond]
        u = np.empty(r.shape)
        f = np.empty(r.shape)
        for idx, rv in np.ndenumerate(r):
            uu, fr = self.pair_py(rv * rv, row)
            u[idx] = uu
            f[idx] = fr * rv
        return u, f


@dataclass(frozen=True, eq=False)
class GaussianBonds(BondPotential):
    """Gaussian bond wells (see :func:`gaussian_bonds`).

    Attributes
    ----------
    depth, width, r0 : numpy.ndarray, shape (B,)
        Well depth ``D``, width ``w`` and bond length of every bond.
    """

    depth: np.ndarray = field(default=None)
    width: np.ndarray = field(default=None)
    r0: np.ndarray = field(default=None)

    @property
    def curvature(self) -> np.ndarray:
        """Force constants ``u''(r0) = D / w^2`` (energy / length^2), shape ``(B,)``."""
        return self.depth / self.width**2

    def frequency(self, m1, m2) -> np.ndarray:
        """Harmonic angular frequencies ``sqrt(D / (w^2 mu))`` of the bonds.

        Parameters
        ----------
        m1, m2 : float or array_like, shape (B,)
            Masses of the two atoms of each bond; ``mu = m1 m2 / (m1 + m2)``.

        Returns
        -------
        numpy.ndarray, shape (B,)
            Angular frequencies (1 / time units, time unit ``sigma sqrt(m / eps)``).
        """
        m1 = np.asarray(m1, dtype=np.float64)
        m2 = np.asarray(m2, dtype=np.float64)
        mu = m1 * m2 / (m1 + m2)
        return np.sqrt(self.curvature / mu)


# ---------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------
def _species_matrix(value, name: str, n_species: int | None) -> np.ndarray:
    """Return a symmetric (S, S) matrix from a scalar or a matrix."""
    a = np.array(value, dtype=np.float64)
    if a.ndim == 0:
        s = n_species or 1
        return np.full((s, s), float(a))
    if a.ndim != 2 or a.shape[0] != a.shape[1] or not np.allclose(a, a.T):
        raise ValueError(f"{name} must be a scalar or a symmetric (S, S) matrix, got shape "
                         f"{a.shape}")
    if n_species is not None and a.shape[0] != n_species:
        raise ValueError(f"{name} must be ({n_species}, {n_species}), got {a.shape}")
    return a


def _cutoff_matrix(cutoff, mode: str, s: int) -> np.ndarray:
    """Cutoff per species pair, (S, S): ``inf`` in mode ``"plain"``, else ``cutoff`` checked."""
    if mode == "plain":
        return np.full((s, s), np.inf)
    if cutoff is None:
        raise ValueError(f"cutoff must be given in mode {mode!r}")
    rc = _species_matrix(cutoff, "cutoff", s)
    if not np.all(np.isfinite(rc)) or np.any(rc <= 0):
        raise ValueError(f"cutoff must be positive and finite, got {cutoff!r}")
    return rc


def lorentz_berthelot(epsilon, sigma) -> tuple[np.ndarray, np.ndarray]:
    """Lorentz-Berthelot mixing rules.

    ``sigma_ab = (sigma_a + sigma_b) / 2`` and ``eps_ab = sqrt(eps_a eps_b)``.

    Parameters
    ----------
    epsilon, sigma : array_like, shape (S,)
        Per-species well depths and diameters.

    Returns
    -------
    epsilon, sigma : numpy.ndarray, shape (S, S)
        Mixed tables.

    Examples
    --------
    >>> e, s = lorentz_berthelot([1.0, 0.25], [1.0, 2.0])
    >>> e[0, 1], s[0, 1]
    (np.float64(0.5), np.float64(1.5))
    """
    e = np.atleast_1d(np.asarray(epsilon, dtype=np.float64))
    s = np.atleast_1d(np.asarray(sigma, dtype=np.float64))
    if e.ndim != 1 or e.shape != s.shape:
        raise ValueError(f"epsilon and sigma must be 1-D of equal length, got {e.shape} and "
                         f"{s.shape}")
    if np.any(e < 0) or np.any(s <= 0):
        raise ValueError("epsilon must be >= 0 and sigma > 0")
    return np.sqrt(np.outer(e, e)), 0.5 * (s[:, None] + s[None, :])


def _lj_u(r, eps, sig):
    sr6 = (sig / r) ** 6
    return 4.0 * eps * (sr6 * sr6 - sr6)


def lennard_jones(epsilon=1.0, sigma=1.0, cutoff=2.5, mode: str = "shifted",
                  n_species: int | None = None) -> LennardJones:
    """Lennard-Jones potential ``u(r) = 4 eps [(sigma/r)^12 - (sigma/r)^6]``.

    Parameters
    ----------
    epsilon, sigma : float, array_like (S,) or array_like (S, S)
        Well depth (energy units) and diameter (length units).  Scalars give
        one species (or ``n_species`` identical ones); 1-D arrays give per-species
        values mixed by the Lorentz-Berthelot rules (:func:`lorentz_berthelot`);
        symmetric matrices are used as given (e.g. Kob-Andersen).
    cutoff : float or array_like (S, S) or None
        Cutoff distance ``r_c`` (length units, absolute, not in units of sigma).
        Ignored (``inf``) in mode ``"plain"``.
    mode : {"plain", "truncated", "shifted"}
        ``"plain"``: no cutoff (open systems only).  ``"truncated"``: ``u = 0``
        for ``r >= r_c`` (the energy jumps at ``r_c``).  ``"shifted"``:
        ``u(r) - u(r_c)`` inside, continuous energy.  Forces are identical in
        the last two modes.
    n_species : int, optional
        Number of species for scalar parameters.

    Returns
    -------
    LennardJones

    Examples
    --------
    >>> lj = lennard_jones(mode="plain")
    >>> u, f = lj.energy_force(2.0 ** (1 / 6))
    >>> round(float(u), 12), abs(float(f)) < 1e-12
    (-1.0, True)
    """
    mode = check_choice("mode", mode, LJ_MODES)
    e_arr = np.asarray(epsilon, dtype=np.float64)
    s_arr = np.asarray(sigma, dtype=np.float64)
    if e_arr.ndim == 1 or s_arr.ndim == 1:
        if e_arr.ndim == 2 or s_arr.ndim == 2:
            raise ValueError("epsilon and sigma must both be per-species (1-D) or matrices")
        size = max(e_arr.size, s_arr.size)
        eps, sig = lorentz_berthelot(np.broadcast_to(e_arr, (size,)),
                                     np.broadcast_to(s_arr, (size,)))
        if n_species is not None and size != n_species:
            raise ValueError(f"epsilon must have {n_species} entries, got {size}")
    else:
        eps = _species_matrix(epsilon, "epsilon", n_species)
        sig = _species_matrix(sigma, "sigma", n_species or (eps.shape[0] if eps.ndim else None))
        if eps.shape != sig.shape:
            if eps.shape[0] == 1:
                eps = np.full(sig.shape, eps[0, 0])
            elif sig.shape[0] == 1:
                sig = np.full(eps.shape, sig[0, 0])
            else:
                raise ValueError(f"epsilon and sigma shapes differ: {eps.shape}, {sig.shape}")
    s = eps.shape[0]
    if np.any(eps < 0) or not np.all(np.isfinite(eps)):
        raise ValueError("epsilon must be finite and >= 0")
    if np.any(sig <= 0) or not np.all(np.isfinite(sig)):
        raise ValueError("sigma must be finite and > 0")
    rc = _cutoff_matrix(cutoff, mode, s)
    table = np.zeros((s * s, 4))
    for a in range(s):
        for b in range(s):
            row = table[a * s + b]
            row[0] = 4.0 * eps[a, b] * sig[a, b] ** 12
            row[1] = 4.0 * eps[a, b] * sig[a, b] ** 6
            row[2] = rc[a, b] ** 2
            row[3] = _lj_u(rc[a, b], eps[a, b], sig[a, b]) if mode == "shifted" else 0.0
    return LennardJones(name=f"lennard_jones[{mode}]", pair=lj_pair, pair_py=_lj_pair_py,
                        table=table, n_species=s, cutoff=float(rc.max()), epsilon=eps,
                        sigma=sig, rc=rc, mode=mode)


def lj_tail_energy(density, epsilon, sigma, cutoff, dim: int = 3):
    """Lennard-Jones energy tail correction per particle for one species pair.

    3-D: ``(8/3) pi rho eps sigma^3 [(1/3)(sigma/rc)^9 - (sigma/rc)^3]``;
    2-D: ``pi rho 4 eps [sigma^12 / (10 rc^10) - sigma^6 / (4 rc^4)]``.

    Parameters
    ----------
    density : float
        Number density.
    epsilon, sigma, cutoff : float or numpy.ndarray
        Pair parameters (broadcast together).
    dim : int
        2 or 3.

    Returns
    -------
    float or numpy.ndarray
    """
    eps, sig, rc = (np.asarray(v, dtype=np.float64) for v in (epsilon, sigma, cutoff))
    if dim == 3:
        q3 = (sig / rc) ** 3
        return 8.0 / 3.0 * math.pi * density * eps * sig**3 * (q3**3 / 3.0 - q3)
    if dim == 2:
        return math.pi * density * 4.0 * eps * (sig**12 / (10.0 * rc**10)
                                                - sig**6 / (4.0 * rc**4))
    raise ValueError(f"dim must be 2 or 3, got {dim!r}")


def lj_tail_pressure(density, epsilon, sigma, cutoff, dim: int = 3):
    """Lennard-Jones pressure tail correction for one species pair.

    3-D: ``(16/3) pi rho^2 eps sigma^3 [(2/3)(sigma/rc)^9 - (sigma/rc)^3]``;
    2-D: ``2 pi rho^2 eps [1.2 sigma^12 / rc^10 - 1.5 sigma^6 / rc^4]``.

    Parameters
    ----------
    density : float
        Number density.
    epsilon, sigma, cutoff : float or numpy.ndarray
        Pair parameters (broadcast together).
    dim : int
        2 or 3.

    Returns
    -------
    float or numpy.ndarray
    """
    eps, sig, rc = (np.asarray(v, dtype=np.float64) for v in (epsilon, sigma, cutoff))
    if dim == 3:
        q3 = (sig / rc) ** 3
        return 16.0 / 3.0 * math.pi * density**2 * eps * sig**3 * (2.0 / 3.0 * q3**3 - q3)
    if dim == 2:
        return 2.0 * math.pi * density**2 * eps * (1.2 * sig**12 / rc**10 - 1.5 * sig**6 / rc**4)
    raise ValueError(f"dim must be 2 or 3, got {dim!r}")


def morse(depth=1.0, alpha=6.0, r0=1.0, cutoff=None, mode: str = "plain",
          n_species: int | None = None) -> PairPotential:
    """Morse pair potential ``u(r) = D [exp(-2 a (r - r0)) - 2 exp(-a (r - r0))]``.

    The minimum is ``u(r0) = -D``; ``a r0`` (often called ``rho_0``) sets the
    range (``a r0 = 6`` is close to Lennard-Jones).

    Parameters
    ----------
    depth, alpha, r0 : float or array_like (S, S)
        Well depth ``D`` (energy units), inverse range ``a`` (1 / length) and
        equilibrium distance ``r0`` (length units), per species pair.
    cutoff : float or array_like (S, S) or None
        Cutoff (required unless ``mode="plain"``).
    mode : {"plain", "truncated", "shifted"}
        As in :func:`lennard_jones`.
    n_species : int, optional
        Number of species for scalar parameters.

    Returns
    -------
    PairPotential
    """
    mode = check_choice("mode", mode, LJ_MODES)
    mats = [np.asarray(v, dtype=np.float64) for v in (depth, alpha, r0)]
    s = n_species or max([m.shape[0] for m in mats if m.ndim == 2], default=1)
    d_m, a_m, r_m = (_species_matrix(v, name, s) for v, name in
                     zip((depth, alpha, r0), ("depth", "alpha", "r0"), strict=True))
    d_m, a_m, r_m = (np.broadcast_to(m, (s, s)) for m in (d_m, a_m, r_m))
    if np.any(d_m < 0) or np.any(a_m <= 0) or np.any(r_m <= 0):
        raise ValueError("depth must be >= 0, alpha > 0 and r0 > 0")
    rc = _cutoff_matrix(cutoff, mode, s)
    table = np.zeros((s * s, 5))
    for a in range(s):
        for b in range(s):
            row = table[a * s + b]
            row[:3] = d_m[a, b], a_m[a, b], r_m[a, b]
            row[3] = rc[a, b] ** 2
            if mode == "shifted":
                e1 = math.exp(-a_m[a, b] * (rc[a, b] - r_m[a, b]))
                row[4] = d_m[a, b] * (e1 * e1 - 2.0 * e1)
    return PairPotential(name=f"morse[{mode}]", pair=morse_pair, pair_py=_morse_pair_py,
                         table=table, n_species=s, cutoff=float(rc.max()))


def _check_bonds(bonds) -> np.ndarray:
    b = np.asarray(bonds)
    if b.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if b.ndim != 2 or b.shape[1] != 2 or not np.issubdtype(b.dtype, np.integer):
        raise ValueError(f"bonds must be integer pairs of shape (B, 2), got shape {b.shape}")
    if np.any(b < 0) or np.any(b[:, 0] == b[:, 1]):
        raise ValueError("bonds must join two distinct atoms with non-negative indices")
    return np.array(b, dtype=np.int64)


def _per_bond(value, name: str, n: int, positive: bool = True) -> np.ndarray:
    v = np.array(np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)))
    if not np.all(np.isfinite(v)) or (positive and np.any(v <= 0)) or np.any(v < 0):
        raise ValueError(f"{name} must be {'positive' if positive else 'non-negative'} "
                         f"and finite, got {value!r}")
    return v


def harmonic_bonds(bonds, k=1.0, r0=1.0) -> BondPotential:
    """Harmonic bonds ``u(r) = k (r - r0)^2 / 2``.

    Parameters
    ----------
    bonds : array_like of int, shape (B, 2)
        Bonded atom pairs.  In periodic systems bonds use the minimum image, so
        a bond must stay shorter than half the box along every axis.
    k : float or array_like (B,)
        Force constants (energy / length^2).
    r0 : float or array_like (B,)
        Rest lengths (length units), ``>= 0``.

    Returns
    -------
    BondPotential
    """
    b = _check_bonds(bonds)
    n = b.shape[0]
    table = np.stack([_per_bond(k, "k", n), _per_bond(r0, "r0", n, positive=False)], axis=1)
    return BondPotential(name="harmonic_bonds", pair=harmonic_pair, pair_py=_harmonic_pair_py,
                         bonds=b, table=np.ascontiguousarray(table.reshape(n, 2)))


def gaussian_bonds(bonds, depth=1.0, width=0.1, r0=1.0) -> GaussianBonds:
    """Gaussian bond wells ``u(r) = -D exp(-(r - r0)^2 / (2 w^2))``.

    The well of a diatomic molecule that, unlike a harmonic bond, can
    dissociate (energy 0 at large ``r``).  Its curvature at the minimum is
    ``u''(r0) = D / w^2``, so small vibrations have the angular frequency
    ``sqrt(D / (w^2 mu))`` with the reduced mass ``mu`` (:meth:`GaussianBonds.frequency`).

    Parameters
    ----------
    bonds : array_like of int, shape (B, 2)
        Bonded atom pairs.
    depth : float or array_like (B,)
        Well depths ``D`` (energy units), positive.
    width : float or array_like (B,)
        Widths ``w`` (length units), positive.
    r0 : float or array_like (B,)
        Bond lengths (positions of the minimum), ``>= 0``.

    Returns
    -------
    GaussianBonds
    """
    b = _check_bonds(bonds)
    n = b.shape[0]
    d = _per_bond(depth, "depth", n)
    w = _per_bond(width, "width", n)
    r = _per_bond(r0, "r0", n, positive=False)
    table = np.ascontiguousarray(np.stack([d, r, 1.0 / w**2], axis=1).reshape(n, 3))
    return GaussianBonds(name="gaussian_bonds", pair=gaussian_pair, pair_py=_gaussian_pair_py,
                         bonds=b, table=table, depth=d, width=w, r0=r)
