"""Behler–Parrinello neural potentials: energy as a sum of atomic networks, exact forces and virial.

Model
-----
``E = sum_i [ NN_{s_i}( (G_i - mu_{s_i}) / sigma_{s_i} ) + e0_{s_i} ]``: one compiled MLP
per species ``s`` (:class:`langevin_opt.nn.MLP`, layer sizes ``(D, *hidden, 1)``, its flat
parameter layout and kernels), applied to the atom's descriptor ``G_i``
(:mod:`langevin_opt.mlip.descriptors`) standardised with per-species, per-feature means
``mu`` and scales ``sigma`` that are stored with the model, plus a constant per-species
reference energy ``e0``.  All parameters of all species form one flat vector
:attr:`NeuralPotential.theta` (species after species, each in the ``nn.MLP`` layout), the
vector an optimizer or sampler moves.

Units: ``units="metal"`` means positions and box in Å, energies in eV, forces in eV/Å,
virials in eV; ``units="reduced"`` means the package's reduced units (``sigma``,
``epsilon``, ``k_B = 1``).  The unit system is a label stored with the model; the
arithmetic is the same.

Forces and virial by the chain rule (no finite differences, no autograd)
------------------------------------------------------------------------
1. ``G`` for every atom (compiled, threaded over fixed chunks of atoms);
2. each species' network forward and hand-written backward pass with output cotangent 1
   (the ``nn.mlp`` kernels, threaded over fixed chunks of 64 atoms): atomic energies
   and ``dE/dG_i = dNN/dX_i / sigma``;
3. the descriptor pass again, now contracting the analytic descriptor derivatives with
   ``dE/dG_i``: ``g_e = dE/dd_e`` for every entry ``e = (i, j)`` of the full neighbour
   list, ``d_e = r_j - r_i``;
4. a gather per atom (:mod:`langevin_opt.mlip.environment`): ``F_m = sum_{e in row m}
   (g_e - g_rev(e))``, and the atomic virials ``W^(m)_ab = -sum_{e in row m} g_e,a d_e,b``.

The virial tensor is ``W = sum_m W^(m) = -dU/d(epsilon)`` for a homogeneous strain
``epsilon`` of box and positions, and the scalar virial is its trace, ``W = -3 V dU/dV``:
the convention of :mod:`langevin_opt.particles.forces` (``P = (2 K + W) / (3 V)``).
Every per-atom quantity is computed by one thread in a fixed order and the totals are
summed in atom order, so energies, forces and virials are bit-identical for any number of
threads.  Memory is linear in ``N``: ``G`` and ``dE/dG`` (``N x D``), the full neighbour
list and ``g`` (``M x 3``), scratch per chunk.

Engine interface
----------------
:meth:`NeuralPotential.bind` fixes the species and returns a :class:`BoundPotential` whose
``energy_forces(positions, box) -> (E, F, W)`` keeps a Verlet neighbour list with a skin
between calls: the signature by which a many-body potential plugs into the particle
engines next to the pair potentials.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numba
import numpy as np
from numba import prange

from ..core.validation import check_array, check_choice, check_nonnegative, check_seed
from ..nn.mlp import (
    ACTIVATIONS,
    LOSS_COTANGENT,
    MLP,
    mlp_backward,
    mlp_forward,
    mlp_output_loss,
)
from ..particles.neighbors import NeighborList
from .descriptors import Descriptor, check_configuration, check_species
from .environment import AtomNeighbors

__all__ = ["UNITS", "MLIPResult", "NeuralPotential", "BoundPotential", "network_pass",
           "gather_forces"]

#: Unit systems a model can be labelled with.
UNITS = {"metal": "positions/box in Å, energies in eV, forces in eV/Å",
         "reduced": "reduced units (sigma, epsilon, k_B = 1)"}

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
#: Atoms per network batch (fixed: results never depend on the thread count).
NET_CHUNK = 64


class MLIPResult(NamedTuple):
    """Energy, forces and virials of one configuration.

    Attributes
    ----------
    energy : float
        Total potential energy (energy units).
    forces : numpy.ndarray, shape (N, 3)
        ``F = -dE/dx`` (energy / length).
    virial : float
        Scalar virial ``W = tr(virial_tensor)`` (energy units); in a periodic box
        ``W = -3 V dE/dV``, the convention of :mod:`langevin_opt.particles.forces`.
    virial_tensor : numpy.ndarray, shape (3, 3)
        ``W_ab = -dE/d epsilon_ab`` for a homogeneous strain (energy units).
    atomic_energies : numpy.ndarray, shape (N,)
        Network output plus reference energy of every atom; they sum to ``energy``.
    atomic_virials : numpy.ndarray, shape (N, 3, 3)
        Per-atom parts of the virial tensor (zeros when forces were not asked for).
    """

    energy: float
    forces: np.ndarray
    virial: float
    virial_tensor: np.ndarray
    atomic_energies: np.ndarray
    atomic_virials: np.ndarray


# ------------------------------------------------------------------ compiled kernels
@numba.njit(parallel=True, **_JIT)
def network_pass(jobs, order, X, theta, t_off, sizes, s_off, acts, a_off, cot, ones, yi, E,
                 dX, want):
    """Atomic energies and ``dE/dX`` of every atom through its species' MLP (compiled).

    Parameters
    ----------
    jobs : numpy.ndarray of int64, shape (J, 3)
        Rows ``(species, i0, n)``: the atoms ``order[i0:i0 + n]``, all of that species.
    order : numpy.ndarray of int64, shape (N,)
        Atoms grouped by species.
    X : numpy.ndarray of float64, shape (N, D)
        Standardised descriptors.
    theta : numpy.ndarray of float64, shape (P,)
        All parameters; species ``s`` uses ``theta[t_off[s]:t_off[s + 1]]``.
    t_off, s_off, a_off : numpy.ndarray of int64, shape (S + 1,)
        Offsets of each species' parameters, layer sizes and activation codes.
    sizes, acts : numpy.ndarray of int64
        Concatenated layer sizes and activation codes (``nn.mlp`` conventions).
    cot : int
        ``nn.mlp.LOSS_COTANGENT`` (passed in, so that the ``nn`` kernels compile for the
        same argument types as in :class:`langevin_opt.nn.MLP`).
    ones : numpy.ndarray of float64, shape (N, 1)
        Output cotangents (ones: ``dE/dNN = 1``).
    yi : numpy.ndarray of int64, shape (1,)
        Unused label array of the ``nn.mlp`` kernels.
    E : numpy.ndarray of float64, shape (N,)
        Output: network energy of every atom.
    dX : numpy.ndarray of float64, shape (N, D)
        Output (with ``want``): ``dE_i / dX_i``.
    want : bool
        Back-propagate to the inputs.
    """
    for q in prange(jobs.shape[0]):
        s = jobs[q, 0]
        i0 = jobs[q, 1]
        n = jobs[q, 2]
        th = theta[t_off[s]:t_off[s + 1]]
        sz = sizes[s_off[s]:s_off[s + 1]]
        ac = acts[a_off[s]:a_off[s + 1]]
        tot = 0
        for k in range(sz.shape[0]):
            tot += sz[k]
        fwork = np.zeros(4 * n * tot + 3 * n)
        fo = mlp_forward(th, sz, ac, X, order, i0, n, fwork)
        for b in range(n):
            E[order[i0 + b]] = fwork[fo + b]
        if want:
            mlp_output_loss(sz, cot, 1.0, ones, yi, order, i0, n, 1.0, fwork)
            grad = np.zeros(th.shape[0])
            mlp_backward(th, sz, n, fwork, grad, want)  # want, not a literal: nn's signature
            s0 = sz[0]
            for k in range(s0):
                for b in range(n):
                    dX[order[i0 + b], k] = fwork[2 * s0 * n + k * n + b]


@numba.njit(parallel=True, **_JIT)
def gather_forces(start, vec, rev, g, F, W):
    """Forces and atomic virials from the entry derivatives ``g_e = dE/dd_e`` (compiled).

    Parameters
    ----------
    start : numpy.ndarray of int64, shape (N + 1,)
        Row offsets of the full neighbour list.
    vec : numpy.ndarray of float64, shape (M, 3)
        Separation vectors ``d_e``.
    rev : numpy.ndarray of int64, shape (M,)
        Reverse entries.
    g : numpy.ndarray of float64, shape (M, 3)
        ``dE/dd_e``.
    F : numpy.ndarray of float64, shape (N, 3)
        Output forces.
    W : numpy.ndarray of float64, shape (N, 3, 3)
        Output atomic virials ``-sum_{e in row m} g_e,a d_e,b``.
    """
    n = F.shape[0]
    for m in prange(n):
        f0 = 0.0
        f1 = 0.0
        f2 = 0.0
        for a in range(3):
            for b in range(3):
                W[m, a, b] = 0.0
        for e in range(start[m], start[m + 1]):
            r = rev[e]
            f0 += g[e, 0] - g[r, 0]
            f1 += g[e, 1] - g[r, 1]
            f2 += g[e, 2] - g[r, 2]
            for a in range(3):
                for b in range(3):
                    W[m, a, b] -= g[e, a] * vec[e, b]
        F[m, 0] = f0
        F[m, 1] = f1
        F[m, 2] = f2


# ------------------------------------------------------------------ the model
def _check_hidden(hidden: object) -> tuple[int, ...]:
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Iterable):
        raise TypeError(f"hidden must be a sequence of layer widths, got {hidden!r}")
    h = tuple(hidden)
    if any(isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1 for w in h):
        raise ValueError(f"hidden must hold integers >= 1, got {h!r}")
    return tuple(int(w) for w in h)


class NeuralPotential:
    """A Behler–Parrinello neural network potential (module docstring).

    Parameters
    ----------
    descriptor : Descriptor
        :class:`~langevin_opt.mlip.descriptors.SymmetryFunctions` or
        :class:`~langevin_opt.mlip.descriptors.SortedInverseDistance`; its species are
        the model's.
    hidden : sequence of int
        Hidden layer widths of every species' network (``()``: a linear model).
    activation : str
        Hidden activation (``"tanh"``, ``"softplus"``, ``"sigmoid"``, ``"relu"``,
        ``"identity"``); smooth ones give smooth forces.
    units : {"metal", "reduced"}
        Unit label (module docstring).
    seed : int, optional
        Seed of the random initial weights (``nn.MLP.init_params``, LeCun normal); required
        unless ``theta`` is given.
    theta : array_like, shape (P,), optional
        Initial parameters instead of random ones.
    feature_mean, feature_std : array_like, shape (S, D), optional
        Descriptor standardisation (default 0 and 1); see :meth:`fit_standardization`.
    energy_offsets : array_like, shape (S,), optional
        Reference energy ``e0`` of each species (energy units; default 0).

    Attributes
    ----------
    species : tuple of str
    networks : tuple of nn.MLP
        One per species, sizes ``(D, *hidden, 1)``.
    theta : numpy.ndarray, shape (P,)
        All network parameters (read-write view target of :meth:`species_params`).
    n_params : int
        ``P``.
    feature_mean, feature_std : numpy.ndarray, shape (S, D)
    energy_offsets : numpy.ndarray, shape (S,)

    Examples
    --------
    >>> import numpy as np
    >>> from langevin_opt import mlip
    >>> sf = mlip.SymmetryFunctions(["Cu"], 4.0, mlip.radial_parameters(4, 4.0),
    ...                             mlip.angular_parameters([0.01], [1.0, 4.0]))
    >>> model = mlip.NeuralPotential(sf, hidden=(8, 8), seed=0)
    >>> x = np.array([[0.0, 0, 0], [2.5, 0, 0], [0, 2.5, 0]])
    >>> res = model.evaluate(x, ["Cu"] * 3)
    >>> bool(np.abs(res.forces.sum(axis=0)).max() < 1e-12)
    True
    """

    def __init__(self, descriptor: Descriptor, hidden: Sequence[int] = (16, 16),
                 activation: str = "tanh", *, units: str = "metal", seed: int | None = None,
                 theta: object = None, feature_mean: object = None,
                 feature_std: object = None, energy_offsets: object = None) -> None:
        if not isinstance(descriptor, Descriptor):
            raise TypeError(f"descriptor must be a SymmetryFunctions or SortedInverseDistance, "
                            f"got {type(descriptor).__name__}")
        self.descriptor = descriptor
        self.hidden = _check_hidden(hidden)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        self.units = check_choice("units", units, UNITS)
        S, D = descriptor.n_species, descriptor.n_features
        self.networks = tuple(MLP([D, *self.hidden, 1], self.activation) for _ in range(S))
        self._t_off = np.concatenate([[0], np.cumsum([m.n_params for m in self.networks])]
                                     ).astype(np.int64)
        self._sizes = np.concatenate([m.sizes_array for m in self.networks])
        self._s_off = np.arange(S + 1, dtype=np.int64) * (len(self.hidden) + 2)
        self._acts = np.concatenate([m.act_codes for m in self.networks])
        self._a_off = np.arange(S + 1, dtype=np.int64) * (len(self.hidden) + 1)
        if theta is None:
            if seed is None:
                check_seed(None)  # raises: seed is required
            seeds = np.random.SeedSequence(check_seed(seed)).generate_state(S, np.uint64)
            self.theta = np.concatenate([m.init_params(int(seeds[k]))
                                         for k, m in enumerate(self.networks)])
        else:
            self.theta = self._check_theta(theta)
        self.feature_mean = self._check_table("feature_mean", feature_mean, 0.0, (S, D))
        self.feature_std = self._check_table("feature_std", feature_std, 1.0, (S, D))
        if np.any(self.feature_std <= 0):
            raise ValueError("feature_std must be > 0")
        self.energy_offsets = self._check_table("energy_offsets", energy_offsets, 0.0, (S,))

    # -------------------------------------------------------------- parameters
    @staticmethod
    def _check_table(name: str, value: object, default: float,
                     shape: tuple[int, ...]) -> np.ndarray:
        if value is None:
            return np.full(shape, default)
        a = np.array(value, dtype=np.float64)
        if a.shape != shape or not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite with shape {shape}, got shape {a.shape}")
        return a

    def _check_theta(self, theta: object) -> np.ndarray:
        th = np.array(theta, dtype=np.float64)
        if th.shape != (self.n_params,) or not np.all(np.isfinite(th)):
            raise ValueError(f"theta must be finite with shape ({self.n_params},), got "
                             f"shape {th.shape}")
        return th

    @property
    def species(self) -> tuple[str, ...]:
        """Species names (those of the descriptor)."""
        return self.descriptor.species

    @property
    def cutoff(self) -> float:
        """Descriptor cutoff (length units)."""
        return self.descriptor.cutoff

    @property
    def n_params(self) -> int:
        """Total number of network parameters ``P``."""
        return int(self._t_off[-1])

    def species_params(self, s: int | str) -> np.ndarray:
        """View of one species' parameters in :attr:`theta` (``nn.MLP`` layout).

        Parameters
        ----------
        s : int or str
            Species index or name.

        Returns
        -------
        numpy.ndarray, shape (networks[s].n_params,)
            A view: writing it changes the model.
        """
        k = self.species.index(s) if isinstance(s, str) else int(s)
        return self.theta[self._t_off[k]:self._t_off[k + 1]]

    def set_params(self, theta: object) -> None:
        """Replace all network parameters.

        Parameters
        ----------
        theta : array_like, shape (P,)
            New finite parameters.
        """
        self.theta = self._check_theta(theta)

    def fit_standardization(self, configurations: Iterable[tuple], *,
                            min_std: float = 1e-8) -> None:
        """Set the per-species feature means and scales from a set of configurations.

        Parameters
        ----------
        configurations : iterable of (positions, species[, box])
            Configurations as :meth:`evaluate` takes them.
        min_std : float
            Scales below ``min_std`` (constant features, species absent from the data)
            are set to 1.
        """
        floor = check_nonnegative("min_std", min_std)
        S, D = self.descriptor.n_species, self.descriptor.n_features
        s1 = np.zeros((S, D))
        s2 = np.zeros((S, D))
        cnt = np.zeros(S)
        # moments about a shift (the first atom seen of each species): the variance is then
        # free of the cancellation of E[G^2] - E[G]^2, so features that are constant up to
        # rounding (a perfect lattice) get a scale ~1e-16 and fall under the floor
        shift = np.full((S, D), np.nan)
        for conf in configurations:
            G, sp = self._descriptors(*conf)
            for s in range(S):
                sel = G[sp == s]
                if not sel.shape[0]:
                    continue
                if np.isnan(shift[s, 0]):
                    shift[s] = sel[0]
                dev = sel - shift[s]
                s1[s] += dev.sum(axis=0)
                s2[s] += (dev * dev).sum(axis=0)
                cnt[s] += sel.shape[0]
        if not cnt.any():
            raise ValueError("fit_standardization needs at least one configuration")
        c = np.maximum(cnt, 1.0)[:, None]
        dmean = s1 / c
        mean = np.where(np.isnan(shift), 0.0, shift) + dmean
        std = np.sqrt(np.maximum(s2 / c - dmean * dmean, 0.0))
        std[std < floor] = 1.0
        self.feature_mean = mean
        self.feature_std = std

    def _descriptors(self, positions, species, box=None):
        x, sp, b = check_configuration(positions, species, box, self.species, self.cutoff)
        return self.descriptor._pass(self.descriptor.neighbors(x, b), sp, False)[0], sp

    # -------------------------------------------------------------- evaluation
    def _run(self, x: np.ndarray, sp: np.ndarray, nb: AtomNeighbors,
             want: bool) -> MLIPResult:
        n, D = x.shape[0], self.descriptor.n_features
        desc = self.descriptor
        S = desc.n_species
        # attributes may have been reassigned since construction: check what the kernels read
        self.theta = check_array("theta", self.theta, (self.n_params,), np.float64,
                                 finite=True)
        for name, shape in (("feature_mean", (S, D)), ("feature_std", (S, D)),
                            ("energy_offsets", (S,))):
            setattr(self, name, check_array(name, getattr(self, name), shape, np.float64,
                                            finite=True))
        G = desc._pass(nb, sp, False)[0]
        std = self.feature_std[sp]
        X = (G - self.feature_mean[sp]) / std
        order = np.argsort(sp, kind="stable").astype(np.int64)
        counts = np.bincount(sp, minlength=desc.n_species)
        jobs = []
        i0 = 0
        for s, c in enumerate(counts.tolist()):
            for a in range(i0, i0 + c, NET_CHUNK):
                jobs.append((s, a, min(NET_CHUNK, i0 + c - a)))
            i0 += c
        jobs_a = np.array(jobs, dtype=np.int64).reshape(-1, 3)
        Eat = np.empty(n)
        dX = np.empty((n, D)) if want else np.empty((1, D))
        network_pass(jobs_a, order, X, self.theta, self._t_off, self._sizes, self._s_off,
                     self._acts, self._a_off, LOSS_COTANGENT, np.ones((n, 1)),
                     np.zeros(1, dtype=np.int64),
                     Eat, dX, want)
        Eat += self.energy_offsets[sp]
        F = np.zeros((n, 3))
        Wat = np.zeros((n, 3, 3))
        if want:
            _, g = desc._pass(nb, sp, True, dX / std, G=G)
            gather_forces(nb.start, nb.vec, nb.rev, g, F, Wat)
        Wt = Wat.sum(axis=0)
        return MLIPResult(float(Eat.sum()), F, float(np.trace(Wt)), Wt, Eat, Wat)

    def evaluate(self, positions: object, species: object, box: object = None, *,
                 forces: bool = True, neighbor_list: NeighborList | None = None
                 ) -> MLIPResult:
        """Energy, forces and virials of one configuration.

        Parameters
        ----------
        positions : array_like, shape (N, 3)
            Positions (length units; Å for ``units="metal"``).
        species : sequence of str or array_like of int, shape (N,)
            Species names or indices into :attr:`species`.
        box : None or array_like, shape (3,)
            Periodic orthorhombic box edges, each at least twice the cutoff; ``None``
            for a cluster.
        forces : bool
            Compute forces and virials (otherwise they are returned as zeros).
        neighbor_list : NeighborList, optional
            A half list to reuse between calls (cutoff at least the model's; rebuilt
            when stale).

        Returns
        -------
        MLIPResult
        """
        x, sp, b = check_configuration(positions, species, box, self.species, self.cutoff)
        nb = self.descriptor.neighbors(x, b, neighbor_list=neighbor_list)
        return self._run(x, sp, nb, bool(forces))

    def energy(self, positions: object, species: object, box: object = None) -> float:
        """Total energy of one configuration (energy units).

        Parameters
        ----------
        positions, species, box
            As in :meth:`evaluate`.

        Returns
        -------
        float
        """
        return self.evaluate(positions, species, box, forces=False).energy

    def bind(self, species: object, *, skin: float = 0.5) -> BoundPotential:
        """Fix the species: a potential with ``energy_forces(positions, box)`` for the engines.

        Parameters
        ----------
        species : sequence of str or array_like of int, shape (N,)
            Species of the ``N`` atoms.
        skin : float
            Verlet skin of the neighbour list kept between calls (length units).

        Returns
        -------
        BoundPotential
        """
        return BoundPotential(self, species, skin=skin)

    def __repr__(self) -> str:
        return (f"NeuralPotential({self.descriptor!r}, hidden={self.hidden}, "
                f"activation={self.activation!r}, units={self.units!r}, "
                f"n_params={self.n_params})")


class BoundPotential:
    """A :class:`NeuralPotential` with fixed species and a persistent neighbour list.

    Parameters
    ----------
    model : NeuralPotential
        The model (its parameters are read at every call, so training updates show).
    species : sequence of str or array_like of int, shape (N,)
        Species of the atoms.
    skin : float
        Verlet skin (length units); the list is rebuilt when an atom has moved more
        than ``skin / 2`` or the box changed.

    Attributes
    ----------
    model : NeuralPotential
    species : numpy.ndarray of int64, shape (N,)
    neighbor_list : NeighborList
    """

    def __init__(self, model: NeuralPotential, species: object, *, skin: float = 0.5) -> None:
        if not isinstance(model, NeuralPotential):
            raise TypeError(f"model must be a NeuralPotential, got {type(model).__name__}")
        self.model = model
        self.species = check_species(species, model.species)
        self.neighbor_list = NeighborList(model.cutoff, skin=check_nonnegative("skin", skin))

    @property
    def cutoff(self) -> float:
        """Interaction cutoff (length units)."""
        return self.model.cutoff

    @property
    def n_atoms(self) -> int:
        """Number of atoms ``N``."""
        return int(self.species.shape[0])

    def evaluate(self, positions: object, box: object = None, *,
                 forces: bool = True) -> MLIPResult:
        """Full result (energy, forces, virials, atomic terms) at these positions.

        Parameters
        ----------
        positions : array_like, shape (N, 3)
            Positions (length units).
        box : None or array_like, shape (3,)
            Periodic box edges or ``None``.
        forces : bool
            Compute forces and virials.

        Returns
        -------
        MLIPResult
        """
        return self.model.evaluate(positions, self.species, box, forces=forces,
                                   neighbor_list=self.neighbor_list)

    def energy_forces(self, positions: object, box: object = None
                      ) -> tuple[float, np.ndarray, float]:
        """Energy, forces and scalar virial: the many-body potential interface of the engines.

        Parameters
        ----------
        positions : array_like, shape (N, 3)
            Positions (length units).
        box : None or array_like, shape (3,)
            Periodic box edges or ``None``.

        Returns
        -------
        (float, numpy.ndarray, float)
            ``E`` (energy units), ``F = -dE/dx`` of shape ``(N, 3)`` and
            ``W = -3 V dE/dV`` (energy units), as in :mod:`langevin_opt.particles.forces`.
        """
        r = self.evaluate(positions, box)
        return r.energy, r.forces, r.virial
