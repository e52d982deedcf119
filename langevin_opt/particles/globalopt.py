"""Global optimisation of clusters: Langevin basin hopping with replica exchange.

Basin hopping (Wales & Doye, J. Phys. Chem. A 101, 5111 (1997)) walks on the
*quenched* energy landscape: from the current local minimum, perturb, quench,
and accept the new minimum with the Metropolis rule at an acceptance
temperature ``T_acc``.  Here the perturbation is physical: a short burst of
Langevin dynamics (BAOAB) at a *kick* temperature from fresh Maxwell–Boltzmann
velocities, as in minima hopping (Goedecker, J. Chem. Phys. 120, 9911 (2004)),
so the system leaves its basin over the low saddles that dynamics finds rather
than by random Cartesian displacements.  ``R`` replicas hop at once in the
compiled replica kernels (:func:`~langevin_opt.particles.run_replicas`,
:func:`~langevin_opt.particles.fire_replicas`); with a ladder of acceptance
temperatures and ``swap_every > 0`` neighbouring replicas exchange their
minima with probability ``min(1, exp[(1/T_k - 1/T_{k+1}) (E_k - E_{k+1})])``
(parallel-tempering basin hopping, Strodel et al., J. Chem. Theory Comput. 6,
2573 (2010)).

Random numbers: the kicks use replica ``r``'s streams at steps
``hop * kick_steps ...`` (velocities keyed the same way); acceptance uniforms
are ``uniform2(seed, replica, hop, 0, ACCEPT)``; swaps ``uniform2(seed, pair,
exchange, 0, SWAP)``.  A run is reproducible for any thread count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import NamedTuple

import numba
import numpy as np

from ..core.validation import check_int, check_per_item, check_positive, check_seed
from ..rng import PURPOSE_ACCEPT, uniform2
from .dynamics import (
    Container,
    LangevinBAOAB,
    LangevinOverdamped,
    VelocityVerlet,
    _as_positions,
    _swap_pass,
    fire_replicas,
    run_replicas,
)
from .fire import FIRE, fire_settings

__all__ = ["HoppingResult", "basin_hopping_replicas"]


class HoppingResult(NamedTuple):
    """Outcome of :func:`basin_hopping_replicas`.

    Attributes
    ----------
    best_positions : numpy.ndarray, shape (N, d)
        Lowest minimum found (polished to ``fmax = 1e-6``).
    best_energy : float
    positions : numpy.ndarray, shape (R, N, d)
        Current minimum of every replica (temperature slot).
    energy : numpy.ndarray, shape (R,)
    n_hops : int
        Hops done (per replica).
    accepted : numpy.ndarray of int64, shape (R,)
        Accepted hops per replica.
    swap_attempts, swap_accepts : numpy.ndarray of int64, shape (R - 1,)
        Exchanges between slots ``k, k+1``.
    best_history : numpy.ndarray, shape (n_hops,)
        Lowest energy found after each hop.
    hops_to_target, seconds_to_target : int or None, float or None
        When ``target`` was first reached (None if never).
    """

    best_positions: np.ndarray
    best_energy: float
    positions: np.ndarray
    energy: np.ndarray
    n_hops: int
    accepted: np.ndarray
    swap_attempts: np.ndarray
    swap_accepts: np.ndarray
    best_history: np.ndarray
    hops_to_target: int | None
    seconds_to_target: float | None


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _metropolis(E, E_new, T, seed, ids, hop, take):
    for r in range(E.shape[0]):
        d = E_new[r] - E[r]
        if d <= 0.0:
            take[r] = True
        else:
            u, _ = uniform2(seed, ids[r], hop, 0, PURPOSE_ACCEPT)
            take[r] = u < math.exp(-d / T[r])


def basin_hopping_replicas(positions, potentials, n_hops: int, *, temperatures=0.8,
                           kick_temperature: float = 0.4, kick_steps: int = 500,
                           integrator=None, swap_every: int = 0, fire: FIRE | None = None,
                           container: Container | None = None, seed: int | None = None,
                           target: float | None = None, target_tol: float = 1e-4,
                           callback: Callable | None = None) -> HoppingResult:
    """Langevin basin hopping of ``R`` replicas of a cluster, optionally with exchanges.

    Parameters
    ----------
    positions : array_like, shape (R, N, d)
        Starting configurations (quenched first).
    potentials : PairPotential and optionally one BondPotential
        Energy terms.
    n_hops : int
        Maximum number of hops per replica.
    temperatures : float or array_like, shape (R,)
        Metropolis acceptance temperatures (energy units); an increasing ladder
        when ``swap_every > 0``.
    kick_temperature : float
        Temperature of the Langevin bursts that perturb the minima.
    kick_steps : int
        Steps per burst.  On LJ38, 500-step bursts (2.5 time units) found the
        global minimum in 3 of 3 seeds within 30 s where 200-step bursts
        found it in 1 of 2 (the short ones rarely leave the icosahedral funnel).
    integrator : LangevinBAOAB, optional
        Dynamics of the bursts (default ``LangevinBAOAB(0.005, 1.0)``).
    swap_every : int
        Hops between replica exchanges (0: independent replicas).
    fire : FIRE, optional
        Quench settings (default ``FIRE(fmax=1e-3, max_steps=3000)``).
    container : Container, optional
        Spherical wall (recommended: bursts can evaporate atoms); minima are
        re-centred on the origin after every hop.
    seed : int
        Key of the counter-based generator (required, keyword-only).
    target : float, optional
        Stop when a minimum within ``target_tol`` of this energy is found.
    target_tol : float
        Tolerance on ``target`` (energy units).
    callback : callable, optional
        ``callback(hop, energy)`` after every hop; a true value stops the run.

    Returns
    -------
    HoppingResult

    Raises
    ------
    TypeError, ValueError
        A wrong type or a missing ``seed`` (TypeError); a wrong value or shape (ValueError).
    DivergenceError
        From a burst (:func:`run_replicas`) or a quench (:func:`fire_replicas`).
    """
    seed = check_seed(seed)
    X = _as_positions(positions)
    r, n, d = X.shape
    n_hops = check_int("n_hops", n_hops, lo=1)
    T = check_per_item("temperatures", temperatures, r, lo=0.0, lo_open=True)
    swap_every = check_int("swap_every", swap_every, lo=0)
    if swap_every and (r < 2 or np.any(np.diff(T) <= 0)):
        raise ValueError("replica exchange needs an increasing ladder of >= 2 temperatures")
    check_positive("kick_temperature", kick_temperature)
    kick_steps = check_int("kick_steps", kick_steps, lo=1)
    integ = LangevinBAOAB(0.005, 1.0) if integrator is None else integrator
    if not isinstance(integ, (VelocityVerlet, LangevinBAOAB, LangevinOverdamped)):
        raise TypeError(f"integrator must be a particle integrator, got {type(integ).__name__}")
    fire = FIRE(fmax=1e-3, max_steps=3000) if fire is None else fire_settings(fire)
    useed = np.uint64(seed)
    ids = np.arange(r, dtype=np.int64)
    q = fire_replicas(X, potentials, fire=fire, container=container)
    X = q.positions - q.positions.mean(axis=1, keepdims=True)
    E = q.energy.copy()
    accepted = np.zeros(r, dtype=np.int64)
    att = np.zeros(max(r - 1, 0), dtype=np.int64)
    acc = np.zeros(max(r - 1, 0), dtype=np.int64)
    take = np.zeros(r, dtype=np.bool_)
    ib = int(np.argmin(E))
    best_e, best_x = float(E[ib]), X[ib].copy()
    history = np.empty(n_hops)
    hit_hop = hit_s = None
    t0 = time.perf_counter()
    hop = 0
    while hop < n_hops:
        st = run_replicas(X, potentials, integ, kick_steps, temperatures=kick_temperature,
                          container=container, step0=hop * kick_steps, seed=seed)
        qn = fire_replicas(st.positions, potentials, fire=fire, container=container)
        _metropolis(E, qn.energy, T, useed, ids, hop, take)
        X[take] = qn.positions[take] - qn.positions[take].mean(axis=1, keepdims=True)
        E[take] = qn.energy[take]
        accepted += take
        if swap_every and (hop + 1) % swap_every == 0:
            ex = (hop + 1) // swap_every
            dummy = np.zeros_like(X)
            _swap_pass(X, dummy, np.zeros_like(X), E, np.zeros(r), T, useed, ex, ex % 2,
                       att, acc)
        ib = int(np.argmin(E))
        if E[ib] < best_e:
            best_e, best_x = float(E[ib]), X[ib].copy()
        history[hop] = best_e
        hop += 1
        if target is not None and hit_hop is None and best_e < target + 10 * target_tol:
            pol = fire_replicas(best_x[None], potentials, fire=FIRE(fmax=1e-6),
                                container=container)
            if abs(pol.energy[0] - target) < target_tol or pol.energy[0] < target:
                hit_hop, hit_s = hop, time.perf_counter() - t0
                break
        if callback is not None and callback(hop, E.copy()):
            break
    pol = fire_replicas(best_x[None], potentials, fire=FIRE(fmax=1e-6), container=container)
    return HoppingResult(pol.positions[0], float(pol.energy[0]), X, E, hop, accepted, att, acc,
                         history[:hop], hit_hop, hit_s)
