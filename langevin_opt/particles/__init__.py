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
* :mod:`~langevin_opt.particles.fire`: the one FIRE step, used by the particle
  quenches and by the saddle searches of :mod:`langevin_opt.rates.saddles`.
* :mod:`~langevin_opt.particles.globalopt`: Langevin basin hopping of many
  replicas with replica exchange (:func:`basin_hopping_replicas`).
* :mod:`~langevin_opt.particles.rearrangements`: escape times of clusters by
  periodic quenches, or of hops between equal-energy sites by a state function of the
  positions (:func:`cluster_first_passage`), point-group operations and
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

# the public names are those listed in each submodule's ``__all__`` (one list each)
from . import dynamics, forces, globalopt, neighbors, potentials, rearrangements, system
from .dynamics import *  # noqa: F403
from .forces import *  # noqa: F403
from .globalopt import *  # noqa: F403
from .neighbors import *  # noqa: F403
from .potentials import *  # noqa: F403
from .rearrangements import *  # noqa: F403
from .system import *  # noqa: F403

__all__ = [*system.__all__, *neighbors.__all__, *potentials.__all__, *forces.__all__,
           *dynamics.__all__, *globalopt.__all__, *rearrangements.__all__]
