"""Machine-learned interatomic potentials: Behler–Parrinello neural networks.

A network maps each atom's environment, through descriptors that are invariant by
construction, to an atomic energy; the total energy is their sum and the forces and virial
are its exact derivatives (hand-written chain rule, compiled, threaded, bit-identical for
any thread count).  Only 3-D clusters and periodic orthorhombic boxes (cutoff at most half
the shortest edge).  Units: a model is labelled ``"metal"`` (Å, eV) or ``"reduced"``.

Modules
-------
* :mod:`~langevin_opt.mlip.environment`: full neighbour lists in atom order, with reverse
  entries, built from :class:`langevin_opt.particles.NeighborList` (:class:`AtomNeighbors`,
  :func:`full_neighbor_list`).
* :mod:`~langevin_opt.mlip.descriptors`: cutoff functions (cosine, tanh³), Behler symmetry
  functions G2/G4/G5 resolved by species (:class:`SymmetryFunctions`), the sorted
  inverse-distance baseline (:class:`SortedInverseDistance`), parameter recipes
  (:func:`radial_parameters`, :func:`angular_parameters`); compiled values and
  vector-Jacobian products (:func:`~langevin_opt.mlip.descriptors.descriptor_pass`).
* :mod:`~langevin_opt.mlip.model`: :class:`NeuralPotential` (one ``nn.MLP`` per species,
  stored standardisation, reference energies; :meth:`~NeuralPotential.evaluate` ->
  :class:`MLIPResult`), :class:`BoundPotential` (fixed species, persistent Verlet list,
  ``energy_forces(positions, box) -> (E, F, W)``: the many-body potential interface).
* :mod:`~langevin_opt.mlip.io`: :func:`save_model` / :func:`load_model`, one ``.npz`` file
  with settings, species, units, package version and a SHA-256 checksum.
* :mod:`~langevin_opt.mlip.dataset`: :class:`Dataset` (configurations with energies,
  forces, optional stress; extended XYZ through ASE), :func:`to_ase` / :func:`from_ase`,
  :func:`label_with` (any ASE calculator).
* :mod:`~langevin_opt.mlip.training`: the energy/force loss as a data landscape with an
  exact parameter gradient (:func:`potential_landscape`), :func:`fit` (L-BFGS-B or any
  :mod:`langevin_opt.sgmcmc` method; ``trainable=`` freezes the rest bit for bit),
  :func:`errors`, :func:`predict`, :func:`parameter_mask` (parameters by layer and species).
* :mod:`~langevin_opt.mlip.transfer`: transfer learning: :func:`fine_tune` a pretrained
  model on a little data of another system (frozen first layers or not, any training
  method, explicit ``species_map={"Ni": "Cu"}``), :func:`transfer_model`, :func:`frozen_mask`.
* :mod:`~langevin_opt.mlip.committee`: committees for uncertainty: deep ensembles
  (:func:`deep_ensemble`) and posterior committees sampled by SG-MCMC at ``T = 1``
  (:func:`posterior_committee`) on the Gaussian energy/force likelihood
  (:func:`posterior_landscape`); :class:`Committee` (mean and spread of energies and
  forces, post-hoc calibration), its particle-potential form :class:`BoundCommittee`
  with a :class:`SpreadMonitor`; :func:`save_committee` / :func:`load_committee`.
* :mod:`~langevin_opt.mlip.uncertainty`: spread–error metrics: Spearman rank correlation,
  coverage and calibration curve, Gaussian NLL, closed-form post-hoc scale factor,
  out-of-distribution spread ratio (:func:`~langevin_opt.mlip.uncertainty.calibration_report`).
* :mod:`~langevin_opt.mlip.active`: uncertainty at work: committee Langevin dynamics that
  record the force spread of every frame and flag or stop at a threshold
  (:func:`~langevin_opt.mlip.active.uncertain_dynamics`), and active learning against an
  ASE reference (:func:`~langevin_opt.mlip.active.active_learning`; the
  ``langevin-opt active-learn`` command is :mod:`~langevin_opt.mlip.active_cli`).
* :mod:`~langevin_opt.mlip.cli`: the ``langevin-opt fit-potential CONFIG.toml --out DIR``
  command (imported by :mod:`langevin_opt.cli`, not here).

Example
-------
>>> import numpy as np
>>> from langevin_opt import mlip
>>> sf = mlip.SymmetryFunctions(["Cu"], 4.0, mlip.radial_parameters(6, 4.0),
...                             mlip.angular_parameters([0.005], [1.0, 4.0]))
>>> model = mlip.NeuralPotential(sf, hidden=(10, 10), seed=0)
>>> x = np.array([[0.0, 0.0, 0.0], [2.55, 0.0, 0.0], [0.0, 2.55, 0.0], [1.3, 1.3, 2.0]])
>>> pot = model.bind(["Cu"] * 4)
>>> e, f, w = pot.energy_forces(x)
>>> f.shape, bool(abs(f.sum(axis=0)).max() < 1e-12)
((4, 3), True)
"""

from . import (
    active,
    committee,
    dataset,
    descriptors,
    environment,
    io,
    model,
    training,
    transfer,
    uncertainty,
)
from .committee import *  # noqa: F403
from .dataset import *  # noqa: F403
from .descriptors import *  # noqa: F403
from .environment import *  # noqa: F403
from .io import *  # noqa: F403
from .model import *  # noqa: F403
from .training import *  # noqa: F403
from .transfer import *  # noqa: F403

__all__ = [*environment.__all__, *descriptors.__all__, *model.__all__, *io.__all__,
           *dataset.__all__, *training.__all__, *committee.__all__, *transfer.__all__,
           "uncertainty", "active"]


def __getattr__(name: str) -> object:
    # the ASE calculator subclasses ase's Calculator: import ASE only when it is asked for
    if name in ("LangevinOptCalculator", "calculator"):
        import importlib

        mod = importlib.import_module(f"{__name__}.calculator")
        return mod if name == "calculator" else mod.LangevinOptCalculator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
