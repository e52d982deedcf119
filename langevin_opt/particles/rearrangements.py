"""Rearrangements of small clusters: first-passage times by quenching, symmetry, saddles.

Reduced units (``k_B = 1``); times in the time units of the integrator.

* :func:`cluster_first_passage` runs replicas of a cluster that start in one
  minimum at several temperatures and watches them by periodic quenches: a
  replica has *committed* to a rearrangement when a FIRE quench of its current
  configuration lands in a minimum of a different energy (a replica that only
  grazes a saddle quenches back and is not counted).  Escapes between states of
  the same energy (an adatom hopping to an equivalent site) are watched instead by
  a ``state`` function that labels raw configurations, with no quench; a replica
  has committed when it carries another state's label.  Escaped replicas stop
  being simulated; the others are right-censored at the time limit.  Every
  replica keeps its random stream (its id), so the result does not depend on
  which replicas are still running.  Systems may be periodic (``box``) with fixed
  atoms (a slab's bottom layers) and start with a burn-in.
* :func:`align` (Kabsch), :func:`symmetry_operations` (the point-group
  operations of a configuration, with the atom permutations they induce) and
  :func:`count_equivalent_saddles` (how many symmetry-equivalent copies of one
  saddle border a labelled minimum; the escape rate out of the minimum is that
  many times the rate through one of them).
* :func:`cluster_energy_function` turns potentials into the flat-vector
  ``f(x) -> (E, g)`` that :mod:`langevin_opt.rates.saddles` works with.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np

from ..core.validation import check_int, check_positive, check_seed
from .dynamics import Container, fire_replicas, run_replicas
from .fire import FIRE, fire_settings
from .forces import energy_function
from .system import ParticleSystem

__all__ = [
    "ClusterFirstPassage",
    "cluster_first_passage",
    "cluster_energy_function",
    "align",
    "symmetry_operations",
    "count_equivalent_saddles",
]


class ClusterFirstPassage(NamedTuple):
    """First-passage times of cluster replicas (one row per replica).

    Attributes
    ----------
    temperature : numpy.ndarray, shape (M,)
        Temperature of every replica.
    time : numpy.ndarray, shape (M,)
        First-passage time from the start of the clock (the end of ``burn_in``): the
        middle of the check interval in which the replica was first seen out of the
        start state (the exponential waiting time is then unbiased to first order in
        ``resolution * rate``), or the time limit for censored replicas (0 for
        ``dropped`` ones).
    censored : numpy.ndarray of bool, shape (M,)
        True if the replica never left within the time limit (or was ``dropped``).
    product_energy : numpy.ndarray, shape (M,)
        Energy of the minimum it committed to (NaN if censored, and with a ``state``
        function, which labels raw configurations without quenching).
    products : numpy.ndarray, shape (M, N, d)
        The quenched product configurations, or with a ``state`` function the raw
        configuration at detection (NaN if censored).
    start_energy : float
        Energy of the start configuration.
    resolution : float
        Time between checks (``check_every * dt``): the times are known to
        within this.
    replica_steps : int
        Replica-steps simulated (escaped replicas stop), burn-in included.
    product_state : numpy.ndarray of int, shape (M,) or None
        With a ``state`` function: the label the replica committed to (-1 if censored).
    start_state : int
        With a ``state`` function: the label of the start configuration (else -1).
    dropped : numpy.ndarray of bool, shape (M,) or None
        Replicas that had left the start state (by the escape test) at the end of
        ``burn_in``: they carry no
        event and no time at risk (censored at time 0), so the estimators of
        :mod:`langevin_opt.rates` ignore them.
    """

    temperature: np.ndarray
    time: np.ndarray
    censored: np.ndarray
    product_energy: np.ndarray
    products: np.ndarray
    start_energy: float
    resolution: float
    replica_steps: int = 0
    product_state: np.ndarray | None = None
    start_state: int = -1
    dropped: np.ndarray | None = None


def _labels(state, X: np.ndarray) -> np.ndarray:
    """``state(X)`` checked: one integer label per replica."""
    lab = state(X)
    a = np.asarray(lab)
    if a.dtype.kind not in "iu":
        raise TypeError(f"state must return integer labels, got dtype {a.dtype}")
    if a.shape != (X.shape[0],):
        raise ValueError(f"state must return one label per replica, shape ({X.shape[0]},), "
                         f"got shape {a.shape}")
    return a.astype(np.int64)


def cluster_first_passage(minimum, potentials, integrator, temperatures, max_steps: int, *,
                          replicas: int = 100, check_every: int = 200,
                          energy_tol: float = 1e-3, state=None, burn_in: int = 0,
                          seed: int | None = None, masses=None, species=None, box=None,
                          fixed=None, container: Container | None = None,
                          fire: FIRE | None = None, stream_offset: int = 0,
                          progress=None) -> ClusterFirstPassage:
    """Escape times out of a minimum, by dynamics and periodic checks of the state.

    Two ways to decide that a replica has left:

    * by energy (default): every ``check_every`` steps the replicas are quenched
      (FIRE); a quench that lands in a minimum whose energy differs from the start's
      by more than ``energy_tol`` has committed to a rearrangement;
    * by a ``state`` function, for escapes between minima of the same energy (an
      adatom hopping to an equivalent site, a permutation): ``state(X)`` labels the
      raw configurations (no quench) with an integer, negative for "in no state"
      (between basins, not committed); a replica has left when its label is
      ``>= 0`` and differs from the start configuration's.

    Parameters
    ----------
    minimum : array_like, shape (N, d)
        The start configuration (quenched with FIRE first by the energy test; used as
        given with a ``state`` function, so pass a relaxed one).
    potentials : Potential, sequence of them, or a many-body potential
        Energy terms (as in :func:`~langevin_opt.particles.run_replicas`).
    integrator : LangevinBAOAB or LangevinOverdamped
        Dynamics (with its time step and friction).
    temperatures : array_like, shape (K,)
        Temperatures; ``replicas`` replicas run at each.
    max_steps : int
        Time limit in steps after the burn-in (a multiple of ``check_every``).
    replicas : int
        Replicas per temperature.
    check_every : int
        Steps between checks (quenches or labels).
    energy_tol : float
        A quench whose energy differs from the start minimum's by more than
        this has left the basin (energy test only).
    state : callable, optional
        ``state(X) -> labels``: ``X`` of shape ``(R, N, d)`` (the replicas checked),
        ``labels`` integers of shape ``(R,)``; negative labels mean "in no state"; the
        start configuration's label must be ``>= 0``.
    burn_in : int
        Steps run before the clock starts: the replicas, started at the minimum with
        Maxwell–Boltzmann velocities, relax to the temperature (as in the dephasing
        stage of parallel replica dynamics).  Replicas that have left the start state
        by the test above at its end (one check) are ``dropped``.
    seed : int
        Generator key (required, keyword-only); replica ``k`` at temperature index
        ``t`` has stream id ``stream_offset + t * replicas + k``.
    masses : float or array_like, optional
    species : array_like of int, shape (N,), optional
    box : array_like, shape (d,), optional
        Periodic box (as in :func:`run_replicas`).
    fixed : array_like of int or bool, optional
        Atoms held in place (as in :func:`run_replicas`); needs a ``state`` function
        (the quenches would move them).
    container : Container, optional
        A spherical wall (keeps hot clusters from evaporating; it must not
        touch the minimum or the saddles that matter).
    fire : FIRE, optional
        Quench settings (default ``FIRE(fmax=1e-5)``).
    stream_offset : int
        Global index of the first replica (to split one experiment into several
        calls that follow the same trajectories).
    progress : callable, optional
        ``progress(step, n_running)`` after every check.

    Returns
    -------
    ClusterFirstPassage

    Raises
    ------
    TypeError, ValueError
        A wrong type or a missing ``seed`` (TypeError); a wrong value or shape
        (ValueError), also when ``state`` returns labels of the wrong type or shape,
        or labels the start configuration ``-1``.
    DivergenceError
        From the dynamics (:func:`run_replicas`) or a quench.
    """
    seed = check_seed(seed)
    if isinstance(temperatures, (str, bytes, dict)) or np.asarray(temperatures).dtype.kind \
            not in "iuf":
        raise TypeError(f"temperatures must be an array of numbers, got "
                        f"{type(temperatures).__name__}")
    temps = np.atleast_1d(np.asarray(temperatures, dtype=np.float64))
    if temps.ndim != 1 or np.any(~np.isfinite(temps)) or np.any(temps <= 0):
        raise ValueError("temperatures must be positive finite numbers")
    replicas = check_int("replicas", replicas, lo=1)
    check_every = check_int("check_every", check_every, lo=1)
    max_steps = check_int("max_steps", max_steps, lo=check_every)
    if max_steps % check_every:
        raise ValueError(f"max_steps must be a positive multiple of check_every={check_every}, "
                         f"got {max_steps!r}")
    burn_in = check_int("burn_in", burn_in, lo=0)
    check_positive("energy_tol", energy_tol)
    stream_offset = check_int("stream_offset", stream_offset, lo=0)
    if state is not None and not callable(state):
        raise TypeError(f"state must be a callable state(X) -> labels, got "
                        f"{type(state).__name__}")
    if fixed is not None and state is None:
        raise ValueError("fixed atoms need a state function: the energy test's quenches "
                         "would move them")
    fire = FIRE(fmax=1e-5) if fire is None else fire_settings(fire)
    common = {"masses": masses, "species": species, "box": box, "container": container}
    if state is None:
        q0 = fire_replicas(np.asarray(minimum, dtype=np.float64)[None], potentials, fire=fire,
                           species=species, box=box, container=container)
        x0, e0, s0 = q0.positions[0], float(q0.energy[0]), -1
    else:
        x0 = np.array(minimum, dtype=np.float64)
        st0 = run_replicas(x0[None], potentials, integrator, 0, temperatures=0.0,
                           velocities=np.zeros((1,) + x0.shape), fixed=fixed, seed=seed,
                           **common)
        e0 = float(st0.energy[0])
        s0 = int(_labels(state, x0[None])[0])
        if s0 < 0:
            raise ValueError(f"state labels the start configuration {s0} (in no state); it "
                             "must lie in a state")
    n_rep = replicas * temps.size
    T = np.repeat(temps, replicas)
    ids = stream_offset + np.arange(n_rep, dtype=np.int64)
    X = np.repeat(x0[None], n_rep, axis=0)
    V = None
    dt = integrator.dt
    times = np.full(n_rep, max_steps * dt)
    cens = np.ones(n_rep, dtype=bool)
    e_prod = np.full(n_rep, np.nan)
    s_prod = np.full(n_rep, -1, dtype=np.int64)
    prods = np.full_like(X, np.nan)
    dropped = np.zeros(n_rep, dtype=bool)
    active = np.arange(n_rep)

    def left(pos: np.ndarray) -> tuple[np.ndarray, object]:
        """Which of these configurations have left the start state, and the evidence."""
        if state is None:
            q = fire_replicas(pos, potentials, fire=fire, species=species, box=box,
                              container=container)
            return np.abs(q.energy - e0) > energy_tol, q
        lab = _labels(state, pos)
        return (lab >= 0) & (lab != s0), lab  # "in no state" (-1) is not a commitment

    work = 0
    if burn_in:  # one stretch, then one check: replicas outside the start state drop
        st = run_replicas(X, potentials, integrator, burn_in, temperatures=T, step0=0,
                          seed=seed, stream_ids=ids, fixed=fixed, **common)
        X[:] = st.positions
        V = st.velocities.copy()
        work += n_rep * burn_in
        away, _ = left(X)
        dropped[away] = True
        times[away] = 0.0
        active = active[~away]
        if progress is not None:
            progress(burn_in, int(active.size))
    step = burn_in
    end = burn_in + max_steps
    while step < end and active.size:
        work += active.size * check_every
        st = run_replicas(X[active], potentials, integrator, check_every, temperatures=T[active],
                          velocities=None if V is None else V[active], step0=step, seed=seed,
                          stream_ids=ids[active], fixed=fixed, **common)
        if V is None:
            V = np.zeros_like(X)
        X[active] = st.positions
        V[active] = st.velocities
        step += check_every
        out, ev = left(st.positions)
        gone = active[out]
        times[gone] = (step - burn_in - 0.5 * check_every) * dt  # middle of the interval
        cens[gone] = False
        if state is None:
            e_prod[gone] = ev.energy[out]
            prods[gone] = ev.positions[out]
        else:
            s_prod[gone] = ev[out]
            prods[gone] = st.positions[out]
        active = active[~out]
        if progress is not None:
            progress(step, int(active.size))
    return ClusterFirstPassage(T, times, cens, e_prod, prods, e0, check_every * dt, work,
                               s_prod if state is not None else None, s0,
                               dropped)


def cluster_energy_function(potentials, n_atoms: int, dim: int, *, species=None):
    """``f(x) -> (E, g)`` on flat coordinates of an open cluster, for saddle searches.

    :func:`~langevin_opt.particles.energy_function` for a cluster of ``n_atoms`` atoms
    (many-body terms are prepared once and keep their neighbour lists).

    Parameters
    ----------
    potentials : Potential or sequence of them
        Pair, bond or many-body terms.
    n_atoms, dim : int
        Shape of a configuration.
    species : array_like of int, optional

    Returns
    -------
    callable
        ``f(x)`` with ``x`` of shape ``(n_atoms * dim,)``; returns the energy and
        its gradient (``-forces``), flat.
    """
    return energy_function(ParticleSystem(np.zeros((n_atoms, dim)), species=species),
                           potentials)


def align(x, ref) -> np.ndarray:
    """Rigidly move ``x`` onto ``ref`` (same atom labels): translation and rotation.

    Kabsch's algorithm, proper rotations only (no reflection).

    Parameters
    ----------
    x, ref : array_like, shape (N, d)

    Returns
    -------
    numpy.ndarray, shape (N, d)
        ``x`` rotated and translated to minimise the RMSD to ``ref``.
    """
    x = np.asarray(x, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    xc = x - x.mean(axis=0)
    rc = ref - ref.mean(axis=0)
    u, _, vt = np.linalg.svd(xc.T @ rc)
    d = np.sign(np.linalg.det(u @ vt))
    s = np.eye(x.shape[1])
    s[-1, -1] = d
    rot = u @ s @ vt
    return xc @ rot + ref.mean(axis=0)


def _match(y: np.ndarray, x: np.ndarray, tol: float) -> np.ndarray | None:
    """Permutation p with y[i] ~ x[p[i]] for all i, or None."""
    d = np.linalg.norm(y[:, None, :] - x[None, :, :], axis=2)
    p = np.argmin(d, axis=1)
    if np.all(d[np.arange(len(p)), p] < tol) and len(np.unique(p)) == len(p):
        return p
    return None


def symmetry_operations(x, *, tol: float = 1e-4) -> list[tuple[np.ndarray, np.ndarray]]:
    """Point-group operations of a configuration (rotations and reflections).

    Parameters
    ----------
    x : array_like, shape (N, d)
        Configuration (any position and orientation; d = 2 or 3).
    tol : float
        Distance within which two atoms coincide (length units).

    Returns
    -------
    list of (Q, p)
        Orthogonal matrices ``Q`` (d, d) about the centroid and the atom
        permutations they induce: ``Q (x_i - c) = x_{p[i]} - c``.  Always
        contains the identity; e.g. 12 operations for a centred hexagon in 2-D,
        120 for an icosahedron in 3-D.
    """
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    c = x - x.mean(axis=0)
    r = np.linalg.norm(c, axis=1)
    # reference atoms: far from the centre, spanning the space
    order = np.argsort(-r)
    ref = [int(order[0])]
    for i in order[1:]:
        m = c[ref + [int(i)]]
        if np.linalg.matrix_rank(m, tol=1e-6 * max(r.max(), 1.0)) == len(ref) + 1:
            ref.append(int(i))
        if len(ref) == d:
            break
    if len(ref) < d:  # collinear (or coplanar in 3-D): complete with an orthogonal direction
        basis = np.linalg.svd(c[ref])[2]
        extra = basis[len(ref):]
    else:
        extra = np.zeros((0, d))
    A = np.vstack([c[ref], extra]).T
    ops: list[tuple[np.ndarray, np.ndarray]] = []
    cands = [np.flatnonzero(np.abs(r - r[i]) < tol) for i in ref]
    for imgs in itertools.product(*cands):
        if len(set(imgs)) < len(imgs):
            continue
        B = c[list(imgs)]
        ok = all(abs(np.linalg.norm(B[a] - B[b]) - np.linalg.norm(c[ref[a]] - c[ref[b]])) < tol
                 for a in range(len(ref)) for b in range(a))
        if not ok:
            continue
        for sign in ((1.0, -1.0) if extra.shape[0] else (1.0,)):
            Bx = np.vstack([B, sign * _completion(B, extra.shape[0], d)]).T
            try:
                Q = Bx @ np.linalg.inv(A)
            except np.linalg.LinAlgError:
                continue
            if not np.allclose(Q @ Q.T, np.eye(d), atol=1e-6):
                continue
            p = _match(c @ Q.T, c, tol)
            if p is not None and not any(np.array_equal(p, q) and np.allclose(Q, R, atol=1e-6)
                                         for R, q in ops):
                ops.append((Q, p))
    return ops


def _completion(B: np.ndarray, k: int, d: int) -> np.ndarray:
    """Unit vectors completing the rows of ``B`` to a right-handed orthonormal frame."""
    if k == 0:
        return np.zeros((0, d))
    basis = np.linalg.svd(B)[2]
    return basis[B.shape[0]:]


def count_equivalent_saddles(minimum, saddle, *, tol: float = 1e-3) -> int:
    """Number of symmetry-equivalent copies of ``saddle`` that border the labelled ``minimum``.

    Each point-group operation ``(Q, p)`` of the minimum maps it onto itself
    (after relabelling the atoms by ``p``) and the saddle onto a saddle of the
    same energy next to the same labelled minimum; the distinct images are
    counted.  The escape rate out of the minimum through this kind of saddle is
    this count times the rate through one of them.

    Parameters
    ----------
    minimum, saddle : array_like, shape (N, d)
        The minimum and a saddle next to it, with the same atom labels.
    tol : float
        RMSD below which two saddle images are the same.

    Returns
    -------
    int
    """
    m = np.asarray(minimum, dtype=np.float64)
    s = align(saddle, m)
    cm = m.mean(axis=0)
    images: list[np.ndarray] = []
    for Q, p in symmetry_operations(m):
        img = np.empty_like(s)
        img[p] = (s - cm) @ Q.T + cm
        img = align(img, m)
        if not any(math.sqrt(np.mean(np.sum((img - o) ** 2, axis=1))) < tol for o in images):
            images.append(img)
    return len(images)
