"""Compiled force kernels of one pair function and dimension, built once per process.

The kernels are described in :mod:`langevin_opt.particles.forces`; this module only
specialises the kernel template :mod:`langevin_opt.particles._force_template` for a pair
function (:func:`pair_kernels`, :func:`bond_kernels`).  It lies below
:mod:`~langevin_opt.particles.potentials`, so that the potential objects can evaluate
themselves through the same compiled kernels as the engines
(:meth:`langevin_opt.particles.Potential.energy_forces`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from ..core.validation import check_int

__all__ = ["PairKernels", "BondKernels", "pair_kernels", "bond_kernels", "md_kernel"]

_TEMPLATE = "langevin_opt.particles._force_template"


class PairKernels(NamedTuple):
    """Compiled non-bonded kernels of one pair function (see the module docstring)."""

    neighbor: Callable
    neighbor_serial: Callable
    all_pairs: Callable
    batch_all_pairs: Callable
    md_steps: Callable


class BondKernels(NamedTuple):
    """Compiled bonded kernels of one pair function (see the module docstring)."""

    bonds: Callable
    batch_bonds: Callable


def _kernel_module(pair: Callable, dim: int, bond: Callable | None = None):
    # ``bond`` is the bond term of ``md_steps`` (any pair function where there is none)
    from ..core.jitcache import specialize

    return specialize(_TEMPLATE, {"pair": pair, "bond": pair if bond is None else bond,
                                  "D": int(dim)})


def _make_pair_kernels(pair: Callable, D: int) -> PairKernels:
    m = _kernel_module(pair, D)
    return PairKernels(neighbor=m.neighbor, neighbor_serial=m.neighbor_serial,
                       all_pairs=m.all_pairs, batch_all_pairs=m.batch_all_pairs,
                       md_steps=m.md_steps)


def _make_bond_kernels(pair: Callable, D: int) -> BondKernels:
    m = _kernel_module(pair, D)
    return BondKernels(bonds=m.bonds, batch_bonds=m.batch_bonds)


_PAIR_KERNELS: dict[tuple[int, int], tuple[Callable, PairKernels]] = {}
_BOND_KERNELS: dict[tuple[int, int], tuple[Callable, BondKernels]] = {}


def _pair_fn(potential_or_pair) -> Callable:
    return getattr(potential_or_pair, "pair", potential_or_pair)


def pair_kernels(potential, dim: int) -> PairKernels:
    """Compiled non-bonded kernels for a potential's pair function (built once per process).

    The kernels come from a specialised template module
    (:func:`langevin_opt.core.jitcache.specialize`): for the built-in potentials and
    pair functions defined at module level, their machine code is cached on disk;
    other pair functions (closures, lambdas) get the same kernels uncached.  Each
    kernel compiles on its first call.

    Parameters
    ----------
    potential : PairPotential or numba dispatcher
        A potential, or a CPU pair function ``pair(r2, p) -> (u, f_over_r)``.
    dim : int
        Spatial dimension, 2 or 3.

    Returns
    -------
    PairKernels
    """
    return _cached(_PAIR_KERNELS, _make_pair_kernels, potential, dim)


def bond_kernels(potential, dim: int) -> BondKernels:
    """Compiled bonded kernels for a potential's pair function (built once per process).

    Cached on disk as :func:`pair_kernels`.

    Parameters
    ----------
    potential : BondPotential or numba dispatcher
        A bonded potential, or a CPU pair function.
    dim : int
        Spatial dimension, 2 or 3.

    Returns
    -------
    BondKernels
    """
    return _cached(_BOND_KERNELS, _make_bond_kernels, potential, dim)


_MD_KERNELS: dict[tuple[int, int, int], tuple[Callable, Callable, Callable]] = {}


def md_kernel(pair_potential, bond_potential, dim: int) -> Callable:
    """The compiled stretch loop ``md_steps`` for one pair term and one bond term.

    ``md_steps`` (described in :mod:`langevin_opt.particles.forces`) runs many steps of
    :class:`~langevin_opt.particles.Dynamics` in one call.  For a pair term alone it is
    :attr:`PairKernels.md_steps`; with bonds it comes from the template specialised for
    both pair functions (built once per process, cached on disk as :func:`pair_kernels`).

    Parameters
    ----------
    pair_potential : PairPotential or None
        The pair term (None: bonds only).
    bond_potential : BondPotential or None
        The bond term (None: the pair term only).
    dim : int
        Spatial dimension, 2 or 3.

    Returns
    -------
    numba dispatcher
    """
    check_int("dim", dim, lo=2, hi=3)
    if bond_potential is None:
        return pair_kernels(pair_potential, dim).md_steps
    bond = _pair_fn(bond_potential)
    pair = bond if pair_potential is None else _pair_fn(pair_potential)
    key = (id(pair), id(bond), dim)
    hit = _MD_KERNELS.get(key)
    if hit is None or hit[0] is not pair or hit[1] is not bond:
        hit = (pair, bond, _kernel_module(pair, dim, bond).md_steps)
        _MD_KERNELS[key] = hit
    return hit[2]


def _cached(cache: dict, make, potential, dim: int):
    """Kernels ``make(pair, dim)`` for a potential's pair function, built once per process."""
    check_int("dim", dim, lo=2, hi=3)
    pair = _pair_fn(potential)
    key = (id(pair), dim)
    hit = cache.get(key)
    if hit is None or hit[0] is not pair:
        hit = (pair, make(pair, dim))
        cache[key] = hit
    return hit[1]
