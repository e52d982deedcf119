"""Particle systems: positions, boundaries, neighbor lists, pair and bond potentials.

Reduced units (``k_B = 1``).  The pieces:

* :mod:`~langevin_opt.particles.system`: :class:`ParticleSystem` (positions
  ``(N, d)``, species, masses, open or periodic orthorhombic box, wrapped
  positions with image counts), minimum image, lattices.
* :mod:`~langevin_opt.particles.neighbors`: :class:`NeighborList`, a Verlet
  half list in CSR form built with a cell list (O(N)), with a skin and
  automatic rebuild.
* :mod:`~langevin_opt.particles.potentials`: scalar pair functions
  ``pair(r2, p) -> (u, f_over_r)`` and the potentials built on them
  (Lennard-Jones, Morse, Gaussian and harmonic bonds), tail corrections.
* :mod:`~langevin_opt.particles.forces`: compiled energy/force/virial kernels
  (neighbor list, all-pairs, batched replicas, bonds) and observables.
* :mod:`~langevin_opt.particles.dynamics`: velocity Verlet, BAOAB Langevin and
  overdamped Langevin for one system (:class:`Dynamics`) or many replicas of a
  small one (:func:`run_replicas`, :func:`replica_exchange`), FIRE quenches,
  H5MD trajectories (:func:`open_trajectory`).
* :mod:`~langevin_opt.particles.globalopt`: Langevin basin hopping of many
  replicas with replica exchange (:func:`basin_hopping_replicas`).
* :mod:`~langevin_opt.particles.rearrangements`: escape times of clusters by
  periodic quenches (:func:`cluster_first_passage`), point-group operations and
  symmetry-equivalent saddles, rigid alignment.

Example
-------
>>> import numpy as np
>>> from langevin_opt import particles as lp
>>> x, box = lp.fcc_lattice(3, 0.8442)
>>> system = lp.ParticleSystem(x, box=box)
>>> lj = lp.lennard_jones(cutoff=2.5, mode="truncated")
>>> res = lp.compute_forces(system, lj, neighbors=lp.NeighborList(2.5, skin=0.3))
>>> round(res.energy / system.n_atoms, 4), float(np.abs(res.forces).max()) < 1e-12
(-6.7734, True)
>>> round(res.energy / system.n_atoms + lj.tail_energy(system.density), 3)  # ~ full LJ sum
-7.225
"""

from .dynamics import (
    FIRE,
    PARTICLE_INTEGRATORS,
    Container,
    Dynamics,
    ExchangeStats,
    LangevinBAOAB,
    LangevinOverdamped,
    MDRecord,
    MinimizeResult,
    PartialRun,
    ParticleState,
    ReplicaState,
    VelocityVerlet,
    fire_minimize,
    fire_replicas,
    make_particle_integrator,
    maxwell_boltzmann,
    open_trajectory,
    replica_exchange,
    run_replicas,
)
from .forces import (
    BatchResult,
    BondKernels,
    ForceResult,
    ForceScratch,
    PairKernels,
    bond_kernels,
    compute_forces,
    compute_forces_batch,
    degrees_of_freedom,
    kinetic_energy,
    kinetic_temperature,
    make_scratch,
    pair_kernels,
    potential_energy,
    pressure,
)
from .globalopt import HoppingResult, basin_hopping_replicas
from .neighbors import NeighborArrays, NeighborList, brute_force_pairs
from .potentials import (
    LJ_MODES,
    BondPotential,
    GaussianBonds,
    LennardJones,
    PairPotential,
    gaussian_bonds,
    gaussian_pair,
    harmonic_bonds,
    harmonic_pair,
    lennard_jones,
    lj_pair,
    lj_tail_energy,
    lj_tail_pressure,
    lorentz_berthelot,
    morse,
    morse_pair,
)
from .rearrangements import (
    ClusterFirstPassage,
    align,
    cluster_energy_function,
    cluster_first_passage,
    count_equivalent_saddles,
    symmetry_operations,
)
from .system import ParticleSystem, cubic_lattice, fcc_lattice, minimum_image, wrap_positions

__all__ = [
    "ParticleSystem",
    "wrap_positions",
    "minimum_image",
    "fcc_lattice",
    "cubic_lattice",
    "NeighborList",
    "NeighborArrays",
    "brute_force_pairs",
    "PairPotential",
    "LennardJones",
    "BondPotential",
    "GaussianBonds",
    "LJ_MODES",
    "lj_pair",
    "morse_pair",
    "gaussian_pair",
    "harmonic_pair",
    "lennard_jones",
    "lorentz_berthelot",
    "lj_tail_energy",
    "lj_tail_pressure",
    "morse",
    "gaussian_bonds",
    "harmonic_bonds",
    "ForceResult",
    "BatchResult",
    "PairKernels",
    "BondKernels",
    "ForceScratch",
    "make_scratch",
    "pair_kernels",
    "bond_kernels",
    "compute_forces",
    "potential_energy",
    "compute_forces_batch",
    "kinetic_energy",
    "kinetic_temperature",
    "degrees_of_freedom",
    "pressure",
    "VelocityVerlet",
    "LangevinBAOAB",
    "LangevinOverdamped",
    "FIRE",
    "PARTICLE_INTEGRATORS",
    "make_particle_integrator",
    "maxwell_boltzmann",
    "Dynamics",
    "ParticleState",
    "PartialRun",
    "MDRecord",
    "MinimizeResult",
    "fire_minimize",
    "open_trajectory",
    "Container",
    "ReplicaState",
    "ExchangeStats",
    "run_replicas",
    "replica_exchange",
    "fire_replicas",
    "HoppingResult",
    "basin_hopping_replicas",
    "ClusterFirstPassage",
    "cluster_first_passage",
    "cluster_energy_function",
    "align",
    "symmetry_operations",
    "count_equivalent_saddles",
]
