"""Committees of neural potentials: deep ensembles and posterior (SG-MCMC) committees.

A :class:`Committee` is ``K >= 2`` parameter vectors ``theta_k`` of one architecture (one
descriptor, standardisation and set of reference energies).  It predicts the committee mean
of energies, forces and virials and their spread: the standard deviation over the members
(``ddof = 1``) of the total energy, of every atomic energy and of every force component,
optionally multiplied by post-hoc scale factors fitted on validation data
(:meth:`Committee.calibrate`, reported in :attr:`Committee.info`).  Bound to a species
list it is a particle potential whose ``energy_forces(positions, box)`` returns the mean
and which records the spread of every call (:class:`BoundCommittee`,
:class:`SpreadMonitor`).

Two kinds
---------
* ``"ensemble"`` (:func:`deep_ensemble`): ``K`` networks from independent random
  initialisations, each keyed by ``(seed, member)``, optionally each on a bootstrap
  resample of the configurations (as multiplicities, :func:`posterior_landscape`), trained
  to the minimum of the same ``U`` (L-BFGS-B) or with any :mod:`langevin_opt.sgmcmc`
  method, the members running as parallel chains.
* ``"posterior"`` (:func:`posterior_committee`): samples of one SGLD, pSGLD, SGHMC or
  cyclical-SGLD run at ``T = 1`` on ``U``, several chains (from one start or from given
  ones, e.g. the members of a deep ensemble), optionally each in a constant Hessian-based
  metric (:func:`laplace_metric`), thinned by the measured integrated autocorrelation
  time, with the convergence diagnostics (autocorrelation time, effective sample size,
  split R-hat across and within chains) in :attr:`Committee.info`.

Likelihood and temperature (``T = 1`` is the Bayesian posterior)
----------------------------------------------------------------
For configurations ``c`` with ``N_c`` atoms, the noise model of the reference data is

* energy: ``E_c^ref = E_c(theta) + e_c``, ``e_c ~ N(0, N_c sigma_E^2)``: independent
  atomic errors of standard deviation ``sigma_E`` (energy units per atom), so the error of
  the energy per atom has standard deviation ``sigma_E / sqrt(N_c)``;
* forces: every Cartesian component ``F_cia^ref = F_cia(theta) + f_cia``,
  ``f_cia ~ N(0, sigma_F^2)`` independently (``sigma_F`` in energy / length);
* prior: ``theta_p ~ N(0, sigma_prior^2)`` independently (none when ``prior_sigma`` is
  ``None``: a flat prior).

The samplers' energy is then exactly ``U = -log p(theta | data) + const``:

``U(theta) = sum_c [ (E_c - E_c^ref)^2 / (2 N_c sigma_E^2)
+ sum_i |F_ci - F_ci^ref|^2 / (2 sigma_F^2) ] + |theta|^2 / (2 sigma_prior^2)``

(dimensionless, nats), which :func:`posterior_landscape` builds from the training loss of
:mod:`langevin_opt.mlip.training` with force weight ``w_F = 1`` and configuration weights
``a_c = 1 / (2 sigma_E^2)``, ``b_c = 3 N_c / (2 sigma_F^2)`` (times the bootstrap
multiplicity).  The samplers target ``exp(-U / T)`` (:mod:`langevin_opt.sgmcmc`), so ``T = 1``
is the posterior.  A minibatch of ``n`` of the ``C`` configurations estimates ``U`` without
bias as ``(C / n) sum_{c in batch} U_c + prior`` (the gradient is rescaled by the same
``C / n``; Welling & Teh 2011); the SGLD update is
``theta <- theta - eta grad U~ + sqrt(2 eta) xi`` with ``eta`` the method's
``step_size`` (no Metropolis correction: an ``O(eta)`` bias, plus the minibatch noise).

Reproducibility
---------------
Member ``k`` of a deep ensemble starts from the initial weights of
:func:`member_seed` ``(seed, k)``, resamples with a generator keyed by the same pair, and
(for sgmcmc training) runs on the counter-based random stream ``k`` of ``seed``: it is
the same member whatever the ensemble size and whether it trains alone or with the
others.  Posterior chain ``c`` starts from the model's parameters or row ``c`` of
``start`` (plus an optional jitter keyed by ``(seed, c)``) and runs on stream ``c``, with
or without a constant preconditioning metric (``metric``: the chains then run one by
one).  All kernels sum in a fixed order, so a committee is bit-identical for any number
of threads.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import NamedTuple

import numba
import numpy as np

from ..core import validation as _v
from ..core.validation import (
    check_choice,
    check_int,
    check_nonnegative,
    check_positive,
    check_seed,
)
from ..datalandscape import DataLandscape
from ..particles.neighbors import NeighborList
from .dataset import Dataset
from .descriptors import check_species
from .io import ModelFileError, model_from_archive, model_metadata, read_archive, write_archive
from .model import NeuralPotential
from .training import (
    PotentialLandscape,
    _full_loss,
    energy_grad,
    errors,
    full_energy_grad,
    potential_landscape,
    predict,
    reweighted,
)
from .uncertainty import fit_scale

__all__ = ["COMMITTEE_KINDS", "POSTERIOR_METHODS", "COMMITTEE_FORMAT", "Committee",
           "CommitteePrediction", "DatasetPrediction", "BoundCommittee", "SpreadMonitor",
           "UncertaintyExceeded", "member_seed", "posterior_landscape", "deep_ensemble",
           "posterior_committee", "laplace_metric", "save_committee", "load_committee"]

#: Kinds of committee.
COMMITTEE_KINDS = ("ensemble", "posterior")
#: sgmcmc methods that sample the posterior (:func:`posterior_committee`).
POSTERIOR_METHODS = ("sgld", "psgld", "sghmc", "csgld")
#: Format name of committee files (:func:`save_committee`).
COMMITTEE_FORMAT = "langevin_opt.mlip.committee"
COMMITTEE_FORMAT_VERSION = 1
_ARRAYS = ("thetas", "feature_mean", "feature_std", "energy_offsets")


# ------------------------------------------------------------------ helpers
def member_seed(seed: int, member: int) -> int:
    """The seed of committee member ``member``: a pure function of ``(seed, member)``.

    Parameters
    ----------
    seed : int
        Committee seed, ``[0, 2**64)``.
    member : int
        Member (or chain) index, ``>= 0``.

    Returns
    -------
    int
        A seed in ``[0, 2**64)`` (``numpy.random.SeedSequence([seed, member])``).
    """
    s = np.random.SeedSequence([check_seed(seed), check_int("member", member, lo=0)])
    return int(s.generate_state(1, np.uint64)[0])


def _check_species_known(model: NeuralPotential, dataset: Dataset, what: str) -> None:
    unknown = sorted(set(dataset.species_names) - set(model.species))
    if unknown:
        raise ValueError(f"dataset has species {tuple(unknown)} that the {what} does not know "
                         f"(its species: {model.species}); a model cannot learn new species: "
                         "build one whose descriptor lists them")


def _copy_model(model: NeuralPotential, theta: object = None) -> NeuralPotential:
    return NeuralPotential(model.descriptor, model.hidden, model.activation, units=model.units,
                           theta=model.theta if theta is None else theta,
                           feature_mean=model.feature_mean, feature_std=model.feature_std,
                           energy_offsets=model.energy_offsets)


def _jsonable(x: object) -> object:
    """Plain JSON types from nested dicts/lists/tuples of NumPy scalars and arrays."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (np.floating, float)):
        f = float(x)
        return f if math.isfinite(f) else str(f)
    return x


def posterior_landscape(model: NeuralPotential, dataset: Dataset, *, sigma_energy: float,
                        sigma_force: float, prior_sigma: float | None = None,
                        batch_size: int | None = None, multiplicity: object = None
                        ) -> PotentialLandscape:
    """``U = -log posterior`` of the energy/force likelihood (module docstring) as a landscape.

    Parameters
    ----------
    model : NeuralPotential
        Architecture, descriptor standardisation and reference energies (used as they are).
    dataset : Dataset
        Configurations with reference energies and forces; species known to the model.
    sigma_energy : float
        ``sigma_E > 0``: noise standard deviation per atom (energy units), the energy of
        configuration ``c`` having variance ``N_c sigma_E^2``.
    sigma_force : float
        ``sigma_F > 0``: noise standard deviation of every force component
        (energy / length).
    prior_sigma : float, optional
        Standard deviation of the Gaussian prior of every parameter (``None``: flat).
    batch_size : int, optional
        Configurations per minibatch (default: all).
    multiplicity : array_like of float, shape (C,), optional
        How often each configuration counts (bootstrap counts; default 1).

    Returns
    -------
    PotentialLandscape
        With ``force_weight = 1`` and ``config_weights`` ``(a_c, b_c) = m_c (1 / (2
        sigma_E^2), 3 N_c / (2 sigma_F^2))``; its energy is in nats.

    Raises
    ------
    ValueError
        A non-positive noise scale, species unknown to the model, bad multiplicities.
    """
    if not isinstance(model, NeuralPotential):
        raise TypeError(f"model must be a NeuralPotential, got {type(model).__name__}")
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a mlip.Dataset, got {type(dataset).__name__}")
    se = check_positive("sigma_energy", sigma_energy)
    sf = check_positive("sigma_force", sigma_force)
    _check_species_known(model, dataset, "model")
    C = len(dataset)
    if multiplicity is None:
        m = np.ones(C)
    else:
        m = np.array(multiplicity, dtype=np.float64)
        if m.shape != (C,) or not np.all(np.isfinite(m)) or np.any(m < 0) or not m.any():
            raise ValueError(f"multiplicity must hold {C} finite numbers >= 0, not all 0")
    n = dataset.n_atoms.astype(np.float64)
    w = np.column_stack([m / (2.0 * se * se), m * 3.0 * n / (2.0 * sf * sf)])
    return potential_landscape(model, dataset, force_weight=1.0, prior_sigma=prior_sigma,
                               batch_size=batch_size, config_weights=w,
                               name=f"posterior_{'-'.join(model.species)}_{C}conf")


# ------------------------------------------------------------------ predictions
class CommitteePrediction(NamedTuple):
    """Committee mean and spread for one configuration (:meth:`Committee.predict`).

    Standard deviations are over the members (``ddof = 1``) times the committee's scale
    factors (:attr:`Committee.energy_scale` for energies, :attr:`Committee.force_scale`
    for forces).

    Attributes
    ----------
    energy : float
        Mean total energy (energy units).
    energy_std : float
        Spread of the total energy (energy units).
    energy_per_atom_std : float
        ``energy_std / N`` (energy units per atom).
    forces : numpy.ndarray, shape (N, 3)
        Mean forces (energy / length): the forces of the mean energy.
    forces_std : numpy.ndarray, shape (N, 3)
        Spread of every force component (energy / length).
    max_force_std : float
        Largest entry of ``forces_std``.
    virial : float
        Mean scalar virial (energy units).
    atomic_energies : numpy.ndarray, shape (N,)
        Mean atomic energies (they sum to ``energy``).
    atomic_energy_std : numpy.ndarray, shape (N,)
        Spread of every atomic energy (energy units).
    member_energies : numpy.ndarray, shape (K,)
        Every member's energy.
    member_forces : numpy.ndarray, shape (K, N, 3)
        Every member's forces.
    """

    energy: float
    energy_std: float
    energy_per_atom_std: float
    forces: np.ndarray
    forces_std: np.ndarray
    max_force_std: float
    virial: float
    atomic_energies: np.ndarray
    atomic_energy_std: np.ndarray
    member_energies: np.ndarray
    member_forces: np.ndarray


class DatasetPrediction(NamedTuple):
    """Committee predictions for every configuration of a data set.

    Attributes
    ----------
    energies : numpy.ndarray, shape (C,)
        Mean energies (energy units).
    energy_std : numpy.ndarray, shape (C,)
        Spread of the energies (scaled, ``ddof = 1``).
    forces : numpy.ndarray, shape (N_atoms, 3)
        Mean forces of all configurations stacked in order (energy / length).
    forces_std : numpy.ndarray, shape (N_atoms, 3)
        Spread of every force component (scaled).
    member_energies : numpy.ndarray, shape (K, C)
    member_forces : numpy.ndarray, shape (K, N_atoms, 3)
    n_atoms : numpy.ndarray of int64, shape (C,)
        Atoms per configuration (divide energies and spreads by it for per-atom values).
    """

    energies: np.ndarray
    energy_std: np.ndarray
    forces: np.ndarray
    forces_std: np.ndarray
    member_energies: np.ndarray
    member_forces: np.ndarray
    n_atoms: np.ndarray


# ------------------------------------------------------------------ the committee
class Committee:
    """``K >= 2`` parameter vectors of one neural-potential architecture (module docstring).

    Parameters
    ----------
    model : NeuralPotential
        Architecture, descriptor, standardisation, reference energies and units (copied;
        its own ``theta`` is not used).
    thetas : array_like, shape (K, P)
        Finite parameters of the ``K >= 2`` members.
    kind : {"ensemble", "posterior"}
        How the members were obtained.
    info : dict, optional
        JSON-serialisable provenance and diagnostics (training settings, seed, diagnostics,
        calibration).
    energy_scale, force_scale : float
        Post-hoc factors (> 0) multiplying the energy and force spreads (default 1: the
        raw committee spread).

    Attributes
    ----------
    model : NeuralPotential
    thetas : numpy.ndarray, shape (K, P)
        Read-only.
    kind : str
    info : dict
    energy_scale, force_scale : float
    members : tuple of NeuralPotential
        One model per member (sharing the descriptor).

    Raises
    ------
    ValueError
        Fewer than two members, wrong shapes, non-finite values, bad kind or scales.
    """

    def __init__(self, model: NeuralPotential, thetas: object, *, kind: str = "ensemble",
                 info: dict | None = None, energy_scale: float = 1.0,
                 force_scale: float = 1.0) -> None:
        if not isinstance(model, NeuralPotential):
            raise TypeError(f"model must be a NeuralPotential, got {type(model).__name__}")
        self.kind = check_choice("kind", kind, COMMITTEE_KINDS)
        th = np.array(thetas, dtype=np.float64)
        if th.ndim != 2 or th.shape[1] != model.n_params:
            raise ValueError(f"thetas must have shape (K, {model.n_params}), got {th.shape}")
        if th.shape[0] < 2:
            raise ValueError(f"a committee needs at least 2 members, got {th.shape[0]}: its "
                             "spread is undefined")
        if not np.all(np.isfinite(th)):
            raise ValueError("thetas must be finite")
        th.setflags(write=False)
        self.thetas = th
        self.model = _copy_model(model, th[0])
        self.members = tuple(_copy_model(self.model, t) for t in th)
        self.energy_scale = check_positive("energy_scale", energy_scale)
        self.force_scale = check_positive("force_scale", force_scale)
        if info is not None and not isinstance(info, dict):
            raise TypeError(f"info must be a dict, got {type(info).__name__}")
        self.info = _jsonable(dict(info or {}))

    # -------------------------------------------------------------- facts
    @property
    def n_members(self) -> int:
        """Number of members ``K``."""
        return int(self.thetas.shape[0])

    @property
    def n_params(self) -> int:
        """Parameters per member ``P``."""
        return int(self.thetas.shape[1])

    @property
    def species(self) -> tuple[str, ...]:
        """Species names of the model."""
        return self.model.species

    @property
    def cutoff(self) -> float:
        """Descriptor cutoff (length units)."""
        return self.model.cutoff

    @property
    def units(self) -> str:
        """Unit label of the model (``"metal"``: Å, eV; ``"reduced"``)."""
        return self.model.units

    def member(self, k: int) -> NeuralPotential:
        """A copy of member ``k`` as an ordinary :class:`NeuralPotential`.

        Parameters
        ----------
        k : int
            Member index, ``0 <= k < K``.

        Returns
        -------
        NeuralPotential
        """
        k = check_int("k", k, lo=0, hi=self.n_members - 1)
        return _copy_model(self.model, self.thetas[k])

    def with_scales(self, energy_scale: float, force_scale: float) -> Committee:
        """The same members with other spread scale factors (recorded in ``info``).

        Parameters
        ----------
        energy_scale, force_scale : float
            Factors (> 0) multiplying the raw energy and force spreads.

        Returns
        -------
        Committee
        """
        info = dict(self.info)
        info["scales"] = {"energy_scale": float(energy_scale),
                          "force_scale": float(force_scale)}
        return Committee(self.model, self.thetas, kind=self.kind, info=info,
                         energy_scale=energy_scale, force_scale=force_scale)

    # -------------------------------------------------------------- predictions
    def _members_at(self, x: np.ndarray, sp: np.ndarray, box: object,
                    nl: NeighborList) -> list:
        return [m.evaluate(x, sp, box, neighbor_list=nl) for m in self.members]

    def _summarise(self, res: list) -> CommitteePrediction:
        e = np.array([r.energy for r in res])
        f = np.stack([r.forces for r in res])
        ea = np.stack([r.atomic_energies for r in res])
        n = f.shape[1]
        es = float(np.std(e, ddof=1)) * self.energy_scale
        fs = np.std(f, axis=0, ddof=1) * self.force_scale
        return CommitteePrediction(
            energy=float(np.mean(e)), energy_std=es, energy_per_atom_std=es / n,
            forces=f.mean(axis=0), forces_std=fs, max_force_std=float(fs.max()),
            virial=float(np.mean([r.virial for r in res])), atomic_energies=ea.mean(axis=0),
            atomic_energy_std=np.std(ea, axis=0, ddof=1) * self.energy_scale,
            member_energies=e, member_forces=f)

    def predict(self, positions: object, species: object, box: object = None, *,
                neighbor_list: NeighborList | None = None) -> CommitteePrediction:
        """Mean and spread of energy, atomic energies, forces and virial of one configuration.

        Parameters
        ----------
        positions : array_like, shape (N, 3)
            Positions (length units).
        species : sequence of str or array_like of int, shape (N,)
            Species names or indices into :attr:`species`.
        box : None or array_like, shape (3,)
            Periodic orthorhombic box edges (each at least twice the cutoff) or ``None``.
        neighbor_list : NeighborList, optional
            A half list to reuse between calls (rebuilt when stale); one is made otherwise.

        Returns
        -------
        CommitteePrediction
        """
        nl = NeighborList(self.cutoff, skin=0.0) if neighbor_list is None else neighbor_list
        return self._summarise(self._members_at(positions, species, box, nl))

    def predict_dataset(self, dataset: Dataset) -> DatasetPrediction:
        """Committee predictions for every configuration of a data set.

        Parameters
        ----------
        dataset : Dataset
            Configurations (species known to the model; reference labels are not used).

        Returns
        -------
        DatasetPrediction
        """
        if not isinstance(dataset, Dataset):
            raise TypeError(f"dataset must be a mlip.Dataset, got {type(dataset).__name__}")
        _check_species_known(self.model, dataset, "committee")
        K, C = self.n_members, len(dataset)
        n_atoms = dataset.n_atoms
        start = np.concatenate([[0], np.cumsum(n_atoms)])
        E = np.empty((K, C))
        F = np.empty((K, int(start[-1]), 3))
        for c in range(C):
            x, sp, box = dataset.configuration(c, self.species, self.cutoff)
            nl = NeighborList(self.cutoff, skin=0.0)
            for k, r in enumerate(self._members_at(x, sp, box, nl)):
                E[k, c] = r.energy
                F[k, start[c]:start[c + 1]] = r.forces
        return DatasetPrediction(
            energies=E.mean(axis=0), energy_std=E.std(axis=0, ddof=1) * self.energy_scale,
            forces=F.mean(axis=0), forces_std=F.std(axis=0, ddof=1) * self.force_scale,
            member_energies=E, member_forces=F, n_atoms=n_atoms)

    def calibrate(self, validation: Dataset) -> Committee:
        """Fit the spread scale factors on validation data (closed-form Gaussian NLL).

        With the raw spreads ``s`` and the errors ``d`` of the committee mean, the factor
        minimising the Gaussian negative log-likelihood of ``d`` under ``N(0, (k s)^2)``
        is ``k = sqrt(mean(d^2 / s^2))`` (:func:`langevin_opt.mlip.uncertainty.fit_scale`),
        fitted separately to the energies per atom and to the force components.

        Parameters
        ----------
        validation : Dataset
            Held-out configurations with reference energies and forces.

        Returns
        -------
        Committee
            The same members with ``energy_scale`` and ``force_scale`` set; ``info``
            records them under ``"calibration"`` with the number of values used.
        """
        raw = self.with_scales(1.0, 1.0).predict_dataset(validation)
        n = raw.n_atoms
        ke = fit_scale((raw.energies - validation.energies) / n, raw.energy_std / n)
        kf = fit_scale(raw.forces - np.vstack(validation.forces), raw.forces_std)
        out = self.with_scales(ke, kf)
        out.info["calibration"] = {"energy_scale": ke, "force_scale": kf,
                                   "n_configurations": len(validation),
                                   "n_force_components": int(raw.forces.size)}
        return out

    # -------------------------------------------------------------- as a potential
    def bind(self, species: object, *, skin: float = 0.5,
             monitor: SpreadMonitor | None = None) -> BoundCommittee:
        """Fix the species: the committee mean as a particle potential that keeps the spread.

        Parameters
        ----------
        species : sequence of str or array_like of int, shape (N,)
            Species of the atoms.
        skin : float
            Verlet skin of the neighbour list kept between calls (length units).
        monitor : SpreadMonitor, optional
            Records every call's spread (a fresh one without threshold by default).

        Returns
        -------
        BoundCommittee
        """
        return BoundCommittee(self, species, skin=skin, monitor=monitor)

    def __repr__(self) -> str:
        return (f"Committee(kind={self.kind!r}, n_members={self.n_members}, "
                f"species={self.species}, n_params={self.n_params}, "
                f"energy_scale={self.energy_scale:.6g}, force_scale={self.force_scale:.6g})")


# ------------------------------------------------------------------ spread monitoring
class UncertaintyExceeded(RuntimeError):
    """The committee's force spread exceeded the threshold of a :class:`SpreadMonitor`.

    Attributes
    ----------
    call : int
        Index of the call (0-based) at which it happened.
    prediction : CommitteePrediction
        The committee prediction of that call.
    """

    def __init__(self, message: str, call: int, prediction: CommitteePrediction) -> None:
        super().__init__(message)
        self.call = call
        self.prediction = prediction


class SpreadMonitor:
    """Records the spread of every committee call; flags or stops when it is too large.

    One monitor can be shared by several bindings: the engines bind a fresh copy of a
    potential per system (:class:`langevin_opt.particles.ExternalPotential`), and every
    copy made from a :class:`BoundCommittee` reports to the same monitor.

    Parameters
    ----------
    threshold : float, optional
        Largest allowed force spread (energy / length, any component, after scaling);
        ``None``: only record.
    action : {"flag", "raise"}
        On exceeding: ``"flag"`` records the call in :attr:`exceeded` and goes on;
        ``"raise"`` raises :class:`UncertaintyExceeded` (stopping a dynamics run).

    Attributes
    ----------
    last : CommitteePrediction or None
        The prediction of the latest call.
    n_calls : int
    exceeded : list of int
        Calls whose force spread exceeded the threshold.
    """

    def __init__(self, threshold: float | None = None, *, action: str = "flag") -> None:
        if threshold is not None:
            threshold = check_positive("threshold", threshold)
        self.threshold = threshold
        self.action = check_choice("action", action, ("flag", "raise"))
        self.reset()

    def reset(self) -> None:
        """Forget every recorded call."""
        self.last: CommitteePrediction | None = None
        self.n_calls = 0
        self.exceeded: list[int] = []
        self._fmax: list[float] = []
        self._epa: list[float] = []

    @property
    def max_force_std(self) -> np.ndarray:
        """Largest force-component spread of every call, shape ``(n_calls,)``."""
        return np.array(self._fmax)

    @property
    def energy_per_atom_std(self) -> np.ndarray:
        """Energy spread per atom of every call, shape ``(n_calls,)``."""
        return np.array(self._epa)

    @property
    def first_exceeded(self) -> int | None:
        """The first call over the threshold, or ``None``."""
        return self.exceeded[0] if self.exceeded else None

    def record(self, prediction: CommitteePrediction) -> None:
        """Record one call's prediction (called by :class:`BoundCommittee`).

        Parameters
        ----------
        prediction : CommitteePrediction

        Raises
        ------
        UncertaintyExceeded
            With ``action="raise"``, when the force spread exceeds the threshold.
        """
        call = self.n_calls
        self.last = prediction
        self.n_calls += 1
        self._fmax.append(prediction.max_force_std)
        self._epa.append(prediction.energy_per_atom_std)
        if self.threshold is not None and prediction.max_force_std > self.threshold:
            self.exceeded.append(call)
            if self.action == "raise":
                raise UncertaintyExceeded(
                    f"committee force spread {prediction.max_force_std:.6g} exceeds the "
                    f"threshold {self.threshold:.6g} at call {call}", call, prediction)

    def __repr__(self) -> str:
        return (f"SpreadMonitor(threshold={self.threshold}, action={self.action!r}, "
                f"n_calls={self.n_calls}, exceeded={len(self.exceeded)})")


class _Rebinder:
    """What the engines rebind a :class:`BoundCommittee` from: same committee, same monitor."""

    def __init__(self, committee: Committee, monitor: SpreadMonitor) -> None:
        self.committee = committee
        self.monitor = monitor

    @property
    def species(self) -> tuple[str, ...]:
        return self.committee.species

    @property
    def cutoff(self) -> float:
        return self.committee.cutoff

    def bind(self, species: object, *, skin: float = 0.5) -> BoundCommittee:
        return BoundCommittee(self.committee, species, skin=skin, monitor=self.monitor)


class BoundCommittee:
    """A :class:`Committee` with fixed species: the mean as a particle potential, plus spread.

    ``energy_forces(positions, box) -> (E, F, W)`` is the committee mean (the interface of
    :class:`~langevin_opt.mlip.BoundPotential`, so ``particles.Dynamics``, FIRE, replicas
    and saddle searches take it); every call's full prediction goes to :attr:`monitor`
    (``monitor.last`` holds the latest spread).

    Parameters
    ----------
    committee : Committee
    species : sequence of str or array_like of int, shape (N,)
        Species of the atoms.
    skin : float
        Verlet skin (length units).
    monitor : SpreadMonitor, optional
        Shared recorder (default: a new one without threshold).

    Attributes
    ----------
    committee : Committee
    species : numpy.ndarray of int64, shape (N,)
    neighbor_list : NeighborList
    monitor : SpreadMonitor
    """

    def __init__(self, committee: Committee, species: object, *, skin: float = 0.5,
                 monitor: SpreadMonitor | None = None) -> None:
        if not isinstance(committee, Committee):
            raise TypeError(f"committee must be a Committee, got {type(committee).__name__}")
        if monitor is not None and not isinstance(monitor, SpreadMonitor):
            raise TypeError(f"monitor must be a SpreadMonitor, got {type(monitor).__name__}")
        self.committee = committee
        self.species = check_species(species, committee.species)
        self.neighbor_list = NeighborList(committee.cutoff,
                                          skin=check_nonnegative("skin", skin))
        self.monitor = SpreadMonitor() if monitor is None else monitor

    @property
    def model(self) -> _Rebinder:
        """Binds fresh copies sharing the committee and the monitor (used by the engines)."""
        return _Rebinder(self.committee, self.monitor)

    @property
    def cutoff(self) -> float:
        """Interaction cutoff (length units)."""
        return self.committee.cutoff

    @property
    def n_atoms(self) -> int:
        """Number of atoms ``N``."""
        return int(self.species.shape[0])

    @property
    def last(self) -> CommitteePrediction | None:
        """The latest call's prediction (``monitor.last``)."""
        return self.monitor.last

    def evaluate(self, positions: object, box: object = None) -> CommitteePrediction:
        """Committee prediction at these positions (recorded by the monitor).

        Parameters
        ----------
        positions : array_like, shape (N, 3)
            Positions (length units).
        box : None or array_like, shape (3,)
            Periodic box edges or ``None``.

        Returns
        -------
        CommitteePrediction

        Raises
        ------
        UncertaintyExceeded
            If the monitor's threshold is exceeded and its action is ``"raise"``.
        """
        pred = self.committee.predict(positions, self.species, box,
                                      neighbor_list=self.neighbor_list)
        self.monitor.record(pred)
        return pred

    def energy_forces(self, positions: object, box: object = None
                      ) -> tuple[float, np.ndarray, float]:
        """Mean energy, forces and scalar virial: the many-body potential interface.

        Parameters
        ----------
        positions : array_like, shape (N, 3)
            Positions (length units).
        box : None or array_like, shape (3,)
            Periodic box edges or ``None``.

        Returns
        -------
        (float, numpy.ndarray, float)
            Mean ``E`` (energy units), mean ``F`` of shape ``(N, 3)``, mean virial
            ``W = -3 V dE/dV`` (energy units).
        """
        p = self.evaluate(positions, box)
        return p.energy, p.forces, p.virial

    def uncertainty(self, positions: object, box: object = None
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-atom energy spread and per-component force spread at these positions.

        Parameters
        ----------
        positions : array_like, shape (N, 3)
            Positions (length units).
        box : None or array_like, shape (3,)
            Periodic box edges or ``None``.

        Returns
        -------
        atomic_energy_std : numpy.ndarray, shape (N,)
            Spread of every atomic energy (energy units).
        forces_std : numpy.ndarray, shape (N, 3)
            Spread of every force component (energy / length).
        """
        p = self.evaluate(positions, box)
        return p.atomic_energy_std, p.forces_std


# ------------------------------------------------------------------ deep ensembles
def _lbfgs(land: PotentialLandscape, theta: np.ndarray, max_iter: int) -> tuple:
    from scipy.optimize import minimize as sp_minimize

    res = sp_minimize(lambda t: _full_loss(land, t), theta, jac=True, method="L-BFGS-B",
                      options={"maxiter": max_iter, "maxcor": 20, "ftol": 1e-14,
                               "gtol": 1e-10})
    return np.asarray(res.x, dtype=np.float64), str(res.message)


def _prepare_template(model: NeuralPotential, dataset: Dataset, init: str,
                      standardize: bool, fit_offsets: bool) -> NeuralPotential:
    tmpl = _copy_model(model)
    if init == "random":
        if standardize:
            tmpl.fit_standardization(dataset.configurations())
        if fit_offsets:
            tmpl.energy_offsets = dataset.energy_offsets(tmpl.species)
    return tmpl


def deep_ensemble(model: NeuralPotential, dataset: Dataset, *, n_members: int, seed: int,
                  sigma_energy: float, sigma_force: float, prior_sigma: float | None = None,
                  method: str = "lbfgs", max_iter: int = 200, bootstrap: bool = False,
                  init: str = "random", batch_size: int | None = None,
                  standardize: bool = True, fit_offsets: bool = True,
                  threads: int | None = None, **settings: object) -> Committee:
    """Train a deep ensemble: ``K`` networks from independent seeds (module docstring).

    Every member minimises (or, with an sgmcmc method, runs on) the same ``U`` of
    :func:`posterior_landscape`, so ``sigma_energy`` and ``sigma_force`` set the relative
    weight of energies and forces exactly as they set the posterior's.

    Parameters
    ----------
    model : NeuralPotential
        Architecture (descriptor, hidden layers, activation, units); not modified.
    dataset : Dataset
        Training configurations (species known to the model).
    n_members : int
        ``K >= 2``.
    seed : int
        Committee seed: member ``k`` is keyed by ``(seed, k)``.
    sigma_energy, sigma_force : float
        Noise scales of the likelihood (:func:`posterior_landscape`), > 0.
    prior_sigma : float, optional
        Gaussian prior (weight decay) standard deviation.
    method : str
        ``"lbfgs"`` (SciPy L-BFGS-B on the full-batch ``U``, deterministic) or an
        :mod:`langevin_opt.sgmcmc` method name (``"sgd"``, ``"sgld"``, ...) with
        ``**settings`` (e.g. ``step_size``, ``temperature``).
    max_iter : int
        L-BFGS iterations or sgmcmc steps per member.
    bootstrap : bool
        Train member ``k`` on a bootstrap resample of the configurations (``C`` draws
        with replacement keyed by ``(seed, k)``; entered as multiplicities).
    init : {"random", "pretrained"}
        ``"random"``: fresh initial weights per member (:func:`member_seed`), with the
        standardisation and reference energies refitted on ``dataset`` if asked;
        ``"pretrained"``: every member starts from ``model``'s parameters, keeping its
        standardisation and reference energies (fine-tuning; members then differ through
        bootstrap resamples or sgmcmc noise).
    batch_size : int, optional
        Configurations per minibatch (sgmcmc methods; default all).
    standardize, fit_offsets : bool
        With ``init="random"``: set the descriptor standardisation and the per-species
        reference energies from ``dataset`` first (on a copy of ``model``).
    threads : int, optional
        Thread count of the compiled loops (results do not depend on it).
    **settings
        Fields of the sgmcmc method (and ``temperature``).

    Returns
    -------
    Committee
        ``kind="ensemble"``; ``info`` holds the settings, every member's final ``U``
        and training errors, and the bootstrap counts.

    Raises
    ------
    ValueError
        ``n_members < 2``, species the model does not know, identical members
        (``init="pretrained"`` with L-BFGS and no bootstrap), bad settings.
    """
    from ..sgmcmc import make_method, run_chains
    from .training import FIT_METHODS

    if not isinstance(model, NeuralPotential):
        raise TypeError(f"model must be a NeuralPotential, got {type(model).__name__}")
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a mlip.Dataset, got {type(dataset).__name__}")
    if isinstance(n_members, (int, np.integer)) and not isinstance(n_members, bool) \
            and n_members < 2:
        raise ValueError(f"n_members must be >= 2 (a committee of {n_members} has no "
                         f"spread), got {n_members}")
    K = check_int("n_members", n_members, lo=2, hi=None)
    seed = check_seed(seed)
    init = check_choice("init", init, ("random", "pretrained"))
    max_iter = check_int("max_iter", max_iter, lo=1, hi=None)
    method = check_choice("method", method, FIT_METHODS)
    if method == "lbfgs":
        if settings:
            raise ValueError(f"method 'lbfgs' takes no settings, got {sorted(settings)}")
        if init == "pretrained" and not bootstrap:
            raise ValueError("init='pretrained' with method='lbfgs' and bootstrap=False "
                             "gives identical members; use bootstrap=True or an sgmcmc method")
    else:
        m = make_method(method, **{k: v for k, v in settings.items() if k != "temperature"})
    _check_species_known(model, dataset, "pretrained model" if init == "pretrained"
                         else "model")
    tmpl = _prepare_template(model, dataset, init, standardize, fit_offsets)
    kw = {"sigma_energy": sigma_energy, "sigma_force": sigma_force,
          "prior_sigma": prior_sigma}
    base = posterior_landscape(tmpl, dataset, batch_size=batch_size, **kw)
    C = len(dataset)
    counts = []
    lands = []
    for k in range(K):
        if bootstrap:
            rng = np.random.default_rng(np.random.SeedSequence([seed, k, 1]))
            cnt = np.bincount(rng.integers(0, C, C), minlength=C)
            counts.append(cnt)
            lands.append(reweighted(base, base.config_weights * cnt[:, None]))
        else:
            lands.append(base)
    if init == "random":
        theta0 = np.stack([NeuralPotential(tmpl.descriptor, tmpl.hidden, tmpl.activation,
                                           units=tmpl.units, seed=member_seed(seed, k)).theta
                           for k in range(K)])
    else:
        theta0 = np.repeat(tmpl.theta[None], K, axis=0)
    thetas = np.empty_like(theta0)
    messages = []
    with _v.threads(threads):
        if method == "lbfgs":
            for k in range(K):
                thetas[k], msg = _lbfgs(lands[k], theta0[k], max_iter)
                messages.append(msg)
        else:
            temp = settings.get("temperature", None)
            if bootstrap:
                for k in range(K):  # one landscape per member: one call each, stream k
                    r = run_chains(lands[k], m, theta0[k], max_iter, seed=seed,
                                   stream_offset=k, temperature=temp, thin=max_iter)
                    thetas[k] = r.theta[0]
            else:  # the members as parallel chains: chain k on stream k
                r = run_chains(base, m, theta0, max_iter, seed=seed, temperature=temp,
                               thin=max_iter)
                thetas[:] = r.theta
            messages = [f"completed {max_iter} {method} steps"] * K
    final = []
    for k in range(K):
        e = errors(base, thetas[k])
        final.append({"U": float(_full_loss(lands[k], thetas[k])[0]),
                      "train_energy_rmse_per_atom": e["energy_rmse_per_atom"],
                      "train_force_rmse": e["force_rmse"], "message": messages[k]})
    info = {"kind": "ensemble", "seed": seed, "n_members": K, "method": method,
            "settings": dict(settings), "max_iter": max_iter, "bootstrap": bool(bootstrap),
            "bootstrap_counts": [c.tolist() for c in counts], "init": init,
            "batch_size": base.batch_size, "n_configurations": C, **kw,
            "members": final}
    return Committee(tmpl, thetas, kind="ensemble", info=info)


# ------------------------------------------------------------------ preconditioned metric
_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


@numba.njit(**_JIT)
def _affine_theta(phi, center, L, full):
    """``full = center + L @ phi`` (fixed summation order)."""
    P = center.shape[0]
    for p in range(P):
        s = center[p]
        for k in range(phi.shape[0]):
            s += L[p, k] * phi[k]
        full[p] = s


@numba.njit(**_JIT)
def _affine_grad(L, gfull, grad):
    """``grad = L^T @ gfull`` (fixed summation order)."""
    for k in range(grad.shape[0]):
        s = 0.0
        for p in range(gfull.shape[0]):
            s += L[p, k] * gfull[p]
        grad[k] = s


@numba.njit(**_JIT)
def affine_energy_grad(phi, data, fwork, iwork, seed, chain, step, grad):
    """Minibatch ``U~`` and gradient in the coordinates ``theta = center + L phi`` (compiled).

    ``data`` is ``(*inner_data, center, L)``: the 19 arrays of a :class:`PotentialLandscape`,
    then ``center`` (shape ``(P,)``) and ``L`` (shape ``(P, P)``); ``fwork`` holds ``theta``
    and its gradient (``2 P``) before the inner landscape's scratch.  Returns ``U~(theta)``
    and writes ``dU~/dphi = L^T dU~/dtheta`` into ``grad``.
    """
    inner = data[:19]
    center = data[19]
    L = data[20]
    P = center.shape[0]
    full = fwork[:P]
    gfull = fwork[P:2 * P]
    _affine_theta(phi, center, L, full)
    u = energy_grad(full, inner, fwork[2 * P:], iwork, seed, chain, step, gfull)
    _affine_grad(L, gfull, grad)
    return u


@numba.njit(**_JIT)
def affine_full_energy_grad(phi, data, fwork, iwork, grad):
    """Exact full-data ``U`` and gradient in the coordinates ``theta = center + L phi``."""
    inner = data[:19]
    center = data[19]
    L = data[20]
    P = center.shape[0]
    full = fwork[:P]
    gfull = fwork[P:2 * P]
    _affine_theta(phi, center, L, full)
    u = full_energy_grad(full, inner, fwork[2 * P:], iwork, gfull)
    _affine_grad(L, gfull, grad)
    return u


def _affine_landscape(land: PotentialLandscape, center: np.ndarray,
                      L: np.ndarray) -> DataLandscape:
    """``phi -> U(center + L phi)`` as a data landscape (every sgmcmc method runs on it).

    SGLD with step ``eta`` in ``phi`` is, in ``theta``, Langevin dynamics with the constant
    metric ``M = L L^T``: ``theta <- theta - eta M grad U~ + sqrt(2 eta) L xi``.  Its
    stationary density is ``exp(-U)`` for any fixed invertible ``L`` (a constant metric
    needs no drift correction), up to the usual ``O(eta)`` discretisation bias.
    """
    P = land.n_params
    c = np.ascontiguousarray(center, dtype=np.float64).copy()
    m = np.ascontiguousarray(L, dtype=np.float64).copy()
    c.setflags(write=False)
    m.setflags(write=False)
    return DataLandscape(name=f"{land.name}_metric", n_params=P, n_data=land.n_data,
                         batch_size=land.batch_size, data=(*land.data, c, m),
                         fwork_size=2 * P + land.fwork_size, iwork_size=land.iwork_size,
                         energy_grad=affine_energy_grad,
                         full_energy_grad=affine_full_energy_grad)


def laplace_metric(land: PotentialLandscape, theta: object, *, floor: float | None = None,
                   eps: float = 1e-5, diagonal: bool = False,
                   threads: int | None = None) -> tuple[np.ndarray, dict]:
    """Square root ``L`` of the inverse Hessian of ``U`` at ``theta`` (a Laplace metric).

    The Hessian ``H`` of the exact full-data ``U`` is built column by column from central
    finite differences of the exact gradient (``2 P`` gradients), symmetrised and
    diagonalised, ``H = V diag(lambda) V^T``; every ``|lambda|`` is raised to at least
    ``floor``, and ``L = V diag(max(|lambda|, floor))^(-1/2)``, so ``M = L L^T`` is the
    (positive-definite) inverse of ``|H|``.  Used as the constant metric of a
    preconditioned Langevin chain, it makes the posterior locally isotropic around
    ``theta``: unit curvature in every direction stiffer than ``floor``.

    Parameters
    ----------
    land : PotentialLandscape
        The posterior landscape (:func:`posterior_landscape`).
    theta : array_like, shape (P,)
        Where to take the Hessian (e.g. a trained network: a posterior mode).
    floor : float, optional
        Smallest curvature kept (> 0); :func:`posterior_committee` passes the prior
        precision ``1 / prior_sigma^2``.  Default ``1e-9 * max|lambda|``.
    eps : float
        Finite-difference step (parameter units).
    diagonal : bool
        Keep only the diagonal of ``H`` (a Jacobi metric): ``L = diag(max(|H_pp|,
        floor))^(-1/2)``.
    threads : int, optional
        Thread count (results do not depend on it).

    Returns
    -------
    (numpy.ndarray, dict)
        ``L`` of shape ``(P, P)``, and facts: ``lambda_max``, ``lambda_min`` (signed),
        ``n_negative`` (negative eigenvalues), ``n_floored`` (raised to ``floor``),
        ``floor`` (of the full ``H``, also with ``diagonal``).
    """
    if not isinstance(land, PotentialLandscape):
        raise TypeError(f"land must be a PotentialLandscape, got {type(land).__name__}")
    P = land.n_params
    th = np.array(theta, dtype=np.float64)
    if th.shape != (P,) or not np.all(np.isfinite(th)):
        raise ValueError(f"theta must be finite with shape ({P},), got shape {th.shape}")
    eps = check_positive("eps", eps)
    H = np.empty((P, P))
    with _v.threads(threads):
        for p in range(P):
            e = np.zeros(P)
            e[p] = eps
            H[:, p] = (land.energy(th + e)[1] - land.energy(th - e)[1]) / (2.0 * eps)
    H = 0.5 * (H + H.T)
    lam, vec = np.linalg.eigh(H)
    top = float(np.max(np.abs(lam)))
    fl = 1e-9 * top if floor is None else check_positive("floor", floor)
    if diagonal:
        L = np.diag(1.0 / np.sqrt(np.maximum(np.abs(np.diag(H)), fl)))
    else:
        L = vec / np.sqrt(np.maximum(np.abs(lam), fl))[None, :]
    facts = {"lambda_max": float(lam[-1]), "lambda_min": float(lam[0]),
             "n_negative": int(np.sum(lam < 0)), "n_floored": int(np.sum(np.abs(lam) < fl)),
             "floor": fl}
    return L, facts


# ------------------------------------------------------------------ posterior committees
def _monitor_predictions(land: PotentialLandscape, samples: np.ndarray,
                         configs: np.ndarray) -> np.ndarray:
    """``(C_chains, S, Q)`` monitored predictions: energy per atom and first-atom forces.

    ``samples`` is ``(C_chains, S, P)``, chain first like the result.
    """
    Cc, S, _ = samples.shape
    cs = land.data[0]
    n = land.n_atoms[configs].astype(np.float64)
    out = np.empty((Cc, S, 4 * configs.size))
    first = cs[configs]
    for s in range(S):
        for c in range(Cc):
            E, F = predict(land, samples[c, s])
            out[c, s, :configs.size] = E[configs] / n
            out[c, s, configs.size:] = F[first].ravel()
    return out


def _pick_balanced(n_kept: int, n_chains: int, n_members: int) -> np.ndarray:
    """Indices of ``n_members`` samples of the chain-major pool of ``n_chains * n_kept``.

    Shared as evenly as possible among the chains (chain ``c`` gets ``n_members // C``, plus
    one for the first ``n_members % C`` chains), evenly spaced in time within each chain.
    """
    idx = []
    for c in range(n_chains):
        q = n_members // n_chains + (c < n_members % n_chains)
        if q:
            t = np.unique(np.linspace(0, n_kept - 1, q).round().astype(np.int64))
            idx += [c * n_kept + int(k) for k in t]
    return np.array(idx, dtype=np.int64)


def posterior_committee(model: NeuralPotential, dataset: Dataset, *, seed: int,
                        sigma_energy: float, sigma_force: float, n_steps: int,
                        prior_sigma: float | None = None, method: str = "sgld",
                        n_chains: int | None = None, burn_in: int | None = None,
                        record_every: int | None = None, n_members: int | None = None,
                        batch_size: int | None = None, init_noise: float = 0.0,
                        start: object = None, metric: str | None = None,
                        metric_floor: float | None = None, n_monitor: int = 8,
                        threads: int | None = None,
                        **settings: object) -> Committee:
    """Sample the posterior at ``T = 1`` with SG-MCMC and keep thinned samples as a committee.

    Chains start from ``model``'s parameters (train it first, e.g. with
    :func:`~langevin_opt.mlip.fit` or as a member of :func:`deep_ensemble`), or from the
    rows of ``start`` (e.g. the members of a deep ensemble: over-dispersed starts, which
    R-hat needs), and use ``model``'s standardisation and reference energies.

    Metric.  With ``metric=None`` the method runs on ``theta`` itself (plain SGLD: one step
    size for every parameter, so it must resolve the stiffest direction and crawls along
    the soft ones).  With ``metric="laplace"`` chain ``c`` runs in the coordinates
    ``theta = theta_c + L_c phi``, with ``theta_c`` its start and ``L_c L_c^T`` the inverse
    of the (absolute, floored at the prior precision ``1 / prior_sigma^2``) Hessian of
    ``U`` at ``theta_c`` (:func:`laplace_metric`, ``2 P`` full gradients per chain).  SGLD
    in ``phi`` is Langevin dynamics in ``theta`` with the *constant* metric
    ``M_c = L_c L_c^T``, ``theta <- theta - eta M_c grad U~ + sqrt(2 eta M_c) xi``, whose
    stationary density is the posterior (a constant metric needs no correction term,
    unlike pSGLD's adaptive one) up to the ``O(eta)`` discretisation bias, with ``eta``
    dimensionless (about 0.05-0.3: the local curvature in ``phi`` is 1).  The chains then
    run one after another (chain ``c`` on random stream ``c``, as without a metric).

    Convergence is measured on monitored predictions of the training set (the energy per
    atom of up to ``n_monitor`` configurations and the force on their first atom), because
    network parameters themselves need not mix (permutation symmetries) while predictions
    must:

    * ``tau``: integrated autocorrelation time (steps; Sokal's window, pooled over chains),
      the largest over the monitored predictions; the samples kept after ``burn_in`` are
      thinned to every ``ceil(tau)``-th step;
    * ``ess``: bulk effective sample size of every monitored prediction (Vehtari et al.
      2021, as ArviZ: chains that disagree lower it, unlike ``tau``); ``rhat``: their
      rank-normalised split R-hat (Vehtari et al. 2021); ``converged`` is
      ``max(rhat) < 1.1``;
    * ``rhat_within``: the largest split R-hat of a single chain (its two halves: is each
      chain stationary where it is?) and ``between_fraction``: the share of the pooled
      variance of every monitored prediction that is between chains.  Chains started in
      different modes of a network posterior rarely cross between them: then
      ``rhat_within`` is near 1 while ``rhat`` is not, and the committee weighs the modes
      equally, not by their posterior mass.

    Parameters
    ----------
    model : NeuralPotential
        The starting point and architecture; not modified.
    dataset : Dataset
        Training configurations (species known to the model).
    seed : int
        Key of the chains' random streams (chain ``c``: stream ``c``).
    sigma_energy, sigma_force : float
        Likelihood noise scales (:func:`posterior_landscape`), > 0.
    n_steps : int
        Steps per chain.
    prior_sigma : float, optional
        Gaussian prior standard deviation of every parameter.
    method : {"sgld", "psgld", "sghmc", "csgld"}
        Sampler, with ``**settings`` as its fields (e.g. ``step_size``; in the metric's
        coordinates with ``metric="laplace"``).
    n_chains : int, optional
        Independent chains (>= 1; >= 2 for a meaningful R-hat); default the rows of
        ``start``, else 4.
    burn_in : int, optional
        Steps discarded per chain (default ``n_steps // 5``).
    record_every : int, optional
        Steps between recorded samples (default: at most about 2000 per chain).
    n_members : int, optional
        Keep at most this many of the thinned samples, shared as evenly as possible among
        the chains and evenly spaced in time within each; default all.
    batch_size : int, optional
        Configurations per minibatch (default: all).
    init_noise : float
        Standard deviation of a Gaussian jitter of each chain's start (keyed by
        ``(seed, chain)``; default 0).
    start : array_like, shape (n_chains, P), optional
        Starting parameters of every chain (default ``model.theta`` for all).
    metric : {None, "laplace", "diagonal"}
        Constant preconditioning metric of every chain (above; ``"diagonal"`` keeps only the
        Hessian's diagonal; default none).
    metric_floor : float, optional
        Smallest curvature the metric keeps (default the prior precision; raise it when the
        start is far from a minimum and its soft or negative-curvature directions are far
        from quadratic).
    n_monitor : int
        Training configurations whose predictions are monitored (evenly spaced).
    threads : int, optional
        Thread count (results do not depend on it).
    **settings
        Fields of the method.

    Returns
    -------
    Committee
        ``kind="posterior"``, members in (chain, draw) order (chain 0's thinned samples
        in step order, then chain 1's, ...; ``chain_of_member`` names each one's chain);
        ``info["diagnostics"]`` holds ``tau_steps``, ``thin_steps``,
        ``ess``, ``rhat``, ``max_rhat``, ``min_ess``, ``converged``, ``n_independent``,
        ``rhat_within``, ``between_fraction``, ``chain_of_member``; with a metric,
        ``info["metric"]`` holds every chain's Hessian facts (:func:`laplace_metric`).

    Raises
    ------
    ValueError
        A method that does not sample at ``T = 1``, species the model does not know, a run
        too short to estimate ``tau`` or leaving fewer than 2 members, ``n_members < 2``,
        ``start`` of the wrong shape, an unknown metric.
    """
    from ..analysis.diagnostics import autocorr_time, ess, split_rhat
    from ..sgmcmc import make_method, run_chains

    if not isinstance(model, NeuralPotential):
        raise TypeError(f"model must be a NeuralPotential, got {type(model).__name__}")
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a mlip.Dataset, got {type(dataset).__name__}")
    seed = check_seed(seed)
    method = check_choice("method", method, POSTERIOR_METHODS)
    if "temperature" in settings:
        raise ValueError("posterior_committee samples at temperature 1 (the posterior); "
                         "do not pass temperature")
    m = make_method(method, **settings)
    n_steps = check_int("n_steps", n_steps, lo=1, hi=None)
    P = model.n_params
    if start is not None:
        st = np.array(start, dtype=np.float64)
        if st.ndim != 2 or st.shape[1] != P or st.shape[0] < 1 or \
                not np.all(np.isfinite(st)):
            raise ValueError(f"start must be finite with shape (n_chains, {P}), got shape "
                             f"{st.shape}")
        if n_chains is not None and check_int("n_chains", n_chains, lo=1, hi=None) != \
                st.shape[0]:
            raise ValueError(f"n_chains={n_chains} but start has {st.shape[0]} rows")
        n_chains = st.shape[0]
    n_chains = check_int("n_chains", 4 if n_chains is None else n_chains, lo=1, hi=None)
    if metric is not None:
        metric = check_choice("metric", metric, ("laplace", "diagonal"))
    burn_in = n_steps // 5 if burn_in is None else check_int("burn_in", burn_in, lo=0,
                                                              hi=n_steps - 1)
    span = n_steps - burn_in
    every = max(1, span // 2000) if record_every is None else check_int(
        "record_every", record_every, lo=1, hi=None)
    if n_members is not None and not (isinstance(n_members, (int, np.integer))
                                      and not isinstance(n_members, bool) and n_members >= 2):
        raise ValueError(f"n_members must be None or an integer >= 2 (a committee of one has "
                         f"no spread), got {n_members!r}")
    init_noise = check_nonnegative("init_noise", init_noise)
    n_monitor = check_int("n_monitor", n_monitor, lo=1, hi=None)
    _check_species_known(model, dataset, "pretrained model")
    tmpl = _copy_model(model)
    land = posterior_landscape(tmpl, dataset, sigma_energy=sigma_energy,
                               sigma_force=sigma_force, prior_sigma=prior_sigma,
                               batch_size=batch_size)
    centers = np.repeat(tmpl.theta[None], n_chains, axis=0) if start is None else st
    jitter = np.zeros((n_chains, P))
    if init_noise > 0:
        for c in range(n_chains):
            jitter[c] = init_noise * np.random.default_rng(
                np.random.SeedSequence([seed, c, 2])).standard_normal(P)
    metric_info = None
    if metric is None:
        r = run_chains(land, m, centers + jitter, n_steps, seed=seed, burn_in=burn_in,
                       thin=every, threads=threads)
        samples, steps, final_U = r.samples, r.steps, r.energy
    else:
        floor = (None if prior_sigma is None else 1.0 / float(prior_sigma) ** 2) \
            if metric_floor is None else check_positive("metric_floor", metric_floor)
        parts, final_U, metric_info = [], [], []
        for c in range(n_chains):
            L, facts = laplace_metric(land, centers[c], floor=floor, threads=threads,
                                      diagonal=metric == "diagonal")
            metric_info.append(facts)
            sub = _affine_landscape(land, centers[c], L)
            phi0 = np.linalg.solve(L, jitter[c])
            r = run_chains(sub, m, phi0[None], n_steps, seed=seed, burn_in=burn_in,
                           thin=every, stream_offset=c, threads=threads)
            parts.append(centers[c] + r.samples[0] @ L.T)
            final_U.append(float(r.energy[0]))
            steps = r.steps
        samples = np.stack(parts)  # (chain, draw, param)
        final_U = np.array(final_U)
    S = samples.shape[1]
    if S < 8:
        raise ValueError(f"only {S} samples recorded per chain (n_steps={n_steps}, "
                         f"burn_in={burn_in}, record_every={every}): too few to measure the "
                         "autocorrelation time; run longer or record more often")
    C = len(dataset)
    configs = np.unique(np.linspace(0, C - 1, min(n_monitor, C)).round().astype(np.int64))
    with _v.threads(threads):
        q = _monitor_predictions(land, samples, configs)
    tau_rec = np.atleast_1d(autocorr_time(q))
    thin = max(1, math.ceil(float(tau_rec.max())))
    kept = np.arange(0, S, thin)
    pool = samples[:, kept].reshape(-1, tmpl.n_params)  # chain-major, draw-minor
    chain_of = np.repeat(np.arange(n_chains), kept.size)
    n_ind = pool.shape[0]
    if n_ind < 2:
        raise ValueError(f"the run leaves {n_ind} independent sample (tau = "
                         f"{tau_rec.max() * every:.4g} steps over {span} steps after burn-in);"
                         " run longer or use more chains")
    if n_members is not None and n_members < n_ind:
        pick = _pick_balanced(kept.size, n_chains, int(n_members))
        pool, chain_of = pool[pick], chain_of[pick]
    elif n_members is not None and n_members > n_ind:
        warnings.warn(f"n_members={n_members} asked for, but the run gives only {n_ind} "
                      f"independent samples (tau = {tau_rec.max() * every:.4g} steps); "
                      "keeping those", RuntimeWarning, stacklevel=2)
    e = np.atleast_1d(ess(q))
    rh = np.atleast_1d(split_rhat(q))
    rh_in = np.max([np.atleast_1d(split_rhat(q[c:c + 1])) for c in range(n_chains)], axis=0)
    tot = q.reshape(-1, q.shape[2]).var(axis=0)
    betw = q.mean(axis=1).var(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(tot > 0, betw / tot, 0.0)
    diag = {"tau_steps": float(tau_rec.max() * every), "tau_steps_each": tau_rec * every,
            "thin_steps": thin * every, "ess": e, "min_ess": float(e.min()), "rhat": rh,
            "max_rhat": float(np.max(rh)), "converged": bool(np.max(rh) < 1.1),
            "rhat_within": rh_in, "max_rhat_within": float(np.max(rh_in)),
            "between_fraction": frac, "median_between_fraction": float(np.median(frac)),
            "n_independent": n_ind, "chain_of_member": chain_of,
            "monitored_configurations": configs,
            "first_step": int(steps[0]), "record_every": every}
    info = {"kind": "posterior", "seed": seed, "method": m.kind,
            "settings": {k: v for k, v in settings.items()}, "temperature": 1.0,
            "n_steps": n_steps, "n_chains": n_chains, "burn_in": burn_in,
            "batch_size": land.batch_size, "n_configurations": C,
            "sigma_energy": float(sigma_energy), "sigma_force": float(sigma_force),
            "prior_sigma": prior_sigma, "init_noise": init_noise,
            "start": "model" if start is None else "given", "metric": metric,
            "final_U": final_U, "diagnostics": diag}
    if metric_info is not None:
        info["metric_chains"] = metric_info
    return Committee(tmpl, pool, kind="posterior", info=info)


# ------------------------------------------------------------------ storage
def save_committee(committee: Committee, path: str | os.PathLike) -> None:
    """Write a committee to one ``.npz`` file with a SHA-256 checksum, atomically.

    Layout as :func:`langevin_opt.mlip.save_model` (``meta`` JSON, ``checksum``), with
    ``thetas`` of shape ``(K, P)`` instead of ``theta`` and the committee's ``kind``,
    ``info`` and scale factors in the metadata.

    Parameters
    ----------
    committee : Committee
    path : str or os.PathLike
        Output path (used as given).
    """
    if not isinstance(committee, Committee):
        raise TypeError(f"committee must be a Committee, got {type(committee).__name__}")
    model = committee.model
    write_archive(path, {"format": COMMITTEE_FORMAT, "format_version": COMMITTEE_FORMAT_VERSION,
                         **model_metadata(model), "kind": committee.kind,
                         "info": committee.info, "energy_scale": committee.energy_scale,
                         "force_scale": committee.force_scale},
                  {"thetas": committee.thetas, "feature_mean": model.feature_mean,
                   "feature_std": model.feature_std, "energy_offsets": model.energy_offsets},
                  prefix=".committee-")


def load_committee(path: str | os.PathLike) -> Committee:
    """Read a committee written by :func:`save_committee`, verifying format and checksum.

    Parameters
    ----------
    path : str or os.PathLike
        Committee file.

    Returns
    -------
    Committee

    Raises
    ------
    langevin_opt.mlip.ModelFileError
        Not a committee file, a missing member, a checksum mismatch (corruption), or
        another package or format version (one line, naming the file).
    FileNotFoundError
        If ``path`` does not exist.
    """
    meta, arrays = read_archive(path, what="committee", fmt=COMMITTEE_FORMAT,
                                fmt_version=COMMITTEE_FORMAT_VERSION, names=_ARRAYS,
                                resave="load it with that version and re-save")
    th = arrays["thetas"]
    model = model_from_archive(path, meta, arrays,
                               th[0] if th.ndim == 2 and th.shape[0] else None)
    try:
        out = Committee(model, th, kind=meta["kind"], info=meta["info"],
                        energy_scale=meta["energy_scale"], force_scale=meta["force_scale"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{os.fspath(path)!r} has inconsistent settings: {e}") from None
    return out

