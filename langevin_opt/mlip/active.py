"""Uncertainty at work: committee dynamics that watch their own spread, and active learning.

* :func:`uncertain_dynamics`: Langevin (BAOAB) dynamics on the mean of a
  :class:`~langevin_opt.mlip.Committee`, recording every frame's positions together with the
  committee's force spread there, and flagging (``action="flag"``) or stopping
  (``action="stop"``) at the first step whose largest force-component spread exceeds a
  threshold.  Every frame is kept, the stopping one included (:class:`UncertainTrajectory`).
* :func:`select_uncertain`: the ``n`` largest spreads (ties: the earlier frame first).
* :func:`active_learning`: train a committee (a deep ensemble), explore with committee
  dynamics at several temperatures, pick frames by spread (``strategy="uncertain"``) or at
  random from the same pool (``strategy="random"``, the control), label them with a
  reference ASE calculator, retrain, repeat; force and energy errors on a fixed test set
  after every round.  With ``out_dir`` every round's committee, data and errors are
  written, each atomically (:func:`active_learning`).

Units are ASE's "metal" units: energies in eV, lengths in Å, temperatures in K (``k_B``
from :data:`KB_EV`), time steps in fs, friction in 1/fs, masses in amu.  The particle engine
works in eV, Å and amu, whose time unit is :data:`TIME_UNIT_FS` fs; the conversion is done
here.

Randomness: the dynamics of exploration run ``i`` in round ``r`` uses the seed
``(seed, r, i)``, its start is drawn with ``(seed, r, i)`` too, and the random strategy
draws with ``(seed, r)``: the same seed gives the same rounds, and both strategies share
round 0 exactly (same committee, same pool).
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from ..core.validation import (
    check_choice,
    check_int,
    check_nonnegative,
    check_positive,
    check_seed,
)
from .committee import Committee, SpreadMonitor, _jsonable, deep_ensemble, save_committee
from .dataset import Dataset, label_with
from .descriptors import check_species
from .model import NeuralPotential

__all__ = ["KB_EV", "TIME_UNIT_FS", "ACTIVE_STRATEGIES", "UncertainTrajectory",
           "uncertain_dynamics", "select_uncertain", "committee_test_errors",
           "ActiveLearningResult", "active_learning", "stream_seed"]

#: Boltzmann constant (eV / K).
KB_EV = 8.617333262e-5
#: Time unit of the particle engine in eV, Å and amu: ``sqrt(amu Å² / eV)`` in fs.
TIME_UNIT_FS = 10.180505710774743
#: Selection strategies of :func:`active_learning`.
ACTIVE_STRATEGIES = ("uncertain", "random")


def stream_seed(seed: int, *key: int) -> int:
    """A 32-bit seed that is a pure function of ``(seed, *key)``.

    Parameters
    ----------
    seed : int
        Base seed, ``[0, 2**64)``.
    *key : int
        Further non-negative integers (round, run, ...).

    Returns
    -------
    int
        ``numpy.random.SeedSequence([seed, *key])``'s first 32-bit word.
    """
    ints = [check_seed(seed)] + [check_int("key", k, lo=0, hi=None) for k in key]
    return int(np.random.SeedSequence(ints).generate_state(1, np.uint32)[0])


# ------------------------------------------------------------------ dynamics
class UncertainTrajectory(NamedTuple):
    """Frames of :func:`uncertain_dynamics` (eV, Å).

    Attributes
    ----------
    positions : numpy.ndarray, shape (F, N, 3)
        Positions of every frame, wrapped into the box when periodic (Å).
    steps : numpy.ndarray of int64, shape (F,)
        Step of every frame (0 is the start).
    energies : numpy.ndarray, shape (F,)
        Committee-mean potential energy (eV).
    max_force_std : numpy.ndarray, shape (F,)
        Largest force-component spread of the committee at the frame (eV/Å, after the
        committee's scale factor).
    energy_per_atom_std : numpy.ndarray, shape (F,)
        Energy spread per atom (eV/atom).
    exceeded : numpy.ndarray of bool, shape (F,)
        Frames whose spread is above the threshold.
    species : tuple of str
        Species names of the atoms.
    box : numpy.ndarray or None
        Periodic box edges (Å).
    threshold : float or None
        The threshold (eV/Å).
    action : str
        ``"flag"`` or ``"stop"``.
    stopped : bool
        Whether the run ended early: at the threshold (``action="stop"``) or on
        divergence.
    reason : str
        ``"completed"``, ``"threshold"`` or ``"diverged: ..."``.
    n_steps : int
        Steps taken.
    """

    positions: np.ndarray
    steps: np.ndarray
    energies: np.ndarray
    max_force_std: np.ndarray
    energy_per_atom_std: np.ndarray
    exceeded: np.ndarray
    species: tuple
    box: np.ndarray | None
    threshold: float | None
    action: str
    stopped: bool
    reason: str
    n_steps: int

    @property
    def first_exceeded(self) -> int | None:
        """Index of the first frame over the threshold, or ``None``."""
        hit = np.flatnonzero(self.exceeded)
        return int(hit[0]) if hit.size else None


def _masses(species: Sequence[str], masses: object) -> np.ndarray:
    if masses is not None:
        m = np.array(masses, dtype=np.float64)
        m = np.full(len(species), float(m)) if m.ndim == 0 else m
        if m.shape != (len(species),) or not np.all(np.isfinite(m)) or np.any(m <= 0):
            raise ValueError(f"masses must be one positive number or {len(species)} of them")
        return m
    from ase.data import atomic_masses, atomic_numbers

    unknown = sorted({s for s in species if s not in atomic_numbers})
    if unknown:
        raise ValueError(f"no atomic mass for species {tuple(unknown)}; pass masses (amu)")
    return np.array([atomic_masses[atomic_numbers[s]] for s in species], dtype=np.float64)


def uncertain_dynamics(committee: Committee, positions: object, species: Sequence[str],
                       box: object = None, *, n_steps: int, temperature_K: float, seed: int,
                       threshold: float | None = None, action: str = "flag",
                       frame_every: int = 1, dt_fs: float = 2.0,
                       friction_per_fs: float = 0.01, masses: object = None
                       ) -> UncertainTrajectory:
    """Langevin dynamics on the committee mean that records the force spread of every frame.

    BAOAB (:class:`langevin_opt.particles.LangevinBAOAB`) on the mean energy of the
    committee; the spread is evaluated at every step (it comes with the forces).  A frame
    (positions, energy, spreads) is kept every ``frame_every`` steps, and also at the step
    where the spread first exceeds ``threshold`` when the run stops there.

    Parameters
    ----------
    committee : Committee
        The potential (``units = "metal"``).
    positions : array_like, shape (N, 3)
        Start (Å).
    species : sequence of str
        Species names of the atoms (known to the committee).
    box : None or array_like, shape (3,)
        Periodic orthorhombic box (Å), each edge at least twice the cutoff.
    n_steps : int
        Steps to run (``>= 0``).
    temperature_K : float
        Thermostat temperature (K, ``>= 0``); initial velocities are Maxwell–Boltzmann.
    seed : int
        Key of the thermostat noise and the initial velocities.
    threshold : float, optional
        Largest allowed force-component spread (eV/Å, ``> 0``); ``None``: only record.
    action : {"flag", "stop"}
        At a spread above the threshold: ``"flag"`` marks the frame and goes on;
        ``"stop"`` ends the run after that step (its frame kept).
    frame_every : int
        Steps between kept frames (``>= 1``).
    dt_fs : float
        Time step (fs).
    friction_per_fs : float
        Langevin friction (1/fs).
    masses : float or array_like, optional
        Masses (amu); default ASE's atomic masses of the species.

    Returns
    -------
    UncertainTrajectory

    Raises
    ------
    ValueError
        A threshold ``<= 0``, a bad action, a committee not in metal units, bad shapes.
    """
    from ..core.errors import DivergenceError
    from ..particles import Dynamics, LangevinBAOAB, ParticleSystem

    if not isinstance(committee, Committee):
        raise TypeError(f"committee must be a Committee, got {type(committee).__name__}")
    if committee.units != "metal":
        raise ValueError(f"uncertain_dynamics works in metal units (eV, Å, fs, K, amu); the "
                         f"committee is in {committee.units!r} units")
    if threshold is not None:
        threshold = check_positive("threshold", threshold)
    action = check_choice("action", action, ("flag", "stop"))
    if action == "stop" and threshold is None:
        raise ValueError("action='stop' needs a threshold")
    n_steps = check_int("n_steps", n_steps, lo=0, hi=None)
    frame_every = check_int("frame_every", frame_every, lo=1, hi=None)
    t_k = check_nonnegative("temperature_K", temperature_K)
    dt = check_positive("dt_fs", dt_fs) / TIME_UNIT_FS
    gamma = check_nonnegative("friction_per_fs", friction_per_fs) * TIME_UNIT_FS
    names = [str(s) for s in species]
    sp = check_species(names, committee.species)
    x0 = np.array(positions, dtype=np.float64)
    if x0.shape != (len(names), 3):
        raise ValueError(f"positions must have shape ({len(names)}, 3), got {x0.shape}")
    m = _masses(names, masses)
    b = None if box is None else np.array(box, dtype=np.float64)
    monitor = SpreadMonitor()
    pot = committee.bind(sp, monitor=monitor)
    system = ParticleSystem(x0, species=sp, masses=m, box=b)
    dyn = Dynamics(system, pot, LangevinBAOAB(dt=dt, friction=gamma),
                   temperature=KB_EV * t_k, seed=check_seed(seed))
    frames: list = []

    def keep() -> bool:
        p = monitor.last
        over = threshold is not None and p.max_force_std > threshold
        frames.append((dyn.system.positions.copy(), dyn.step, float(dyn.energy),
                       p.max_force_std, p.energy_per_atom_std, over))
        return over

    reason = "completed"
    if keep() and action == "stop":
        reason = "threshold"
    while reason == "completed" and dyn.step < n_steps:
        try:
            dyn.run(1)
        except DivergenceError as e:
            reason = "diverged: " + " ".join(str(e).split())
            break
        p = monitor.last
        over = threshold is not None and p.max_force_std > threshold
        if over and action == "stop":
            keep()
            reason = "threshold"
        elif dyn.step % frame_every == 0:
            keep()
    pos, st, en, fs, es, ex = zip(*frames, strict=True)
    return UncertainTrajectory(
        positions=np.stack(pos), steps=np.array(st, dtype=np.int64), energies=np.array(en),
        max_force_std=np.array(fs), energy_per_atom_std=np.array(es),
        exceeded=np.array(ex, dtype=bool), species=tuple(names),
        box=None if b is None else b.copy(), threshold=threshold, action=action,
        stopped=reason != "completed", reason=reason, n_steps=int(dyn.step))


# ------------------------------------------------------------------ selection
def select_uncertain(spread: object, n: int) -> np.ndarray:
    """Indices of the ``n`` largest spreads, largest first (ties: the smaller index first).

    Parameters
    ----------
    spread : array_like, shape (M,)
        One spread per candidate (e.g. the largest force-component spread, eV/Å).
    n : int
        How many to pick, ``0 <= n <= M``.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
    """
    s = np.asarray(spread, dtype=np.float64)
    if s.ndim != 1 or not np.all(np.isfinite(s)):
        raise ValueError("spread must be a 1-D array of finite numbers")
    n = check_int("n", n, lo=0, hi=s.size)
    return np.argsort(-s, kind="stable")[:n].astype(np.int64)


def committee_test_errors(committee: Committee, test: Dataset) -> dict:
    """Errors of the committee mean and summary of its spread on a labelled test set.

    Parameters
    ----------
    committee : Committee
    test : Dataset
        Reference energies (eV) and forces (eV/Å).

    Returns
    -------
    dict
        ``force_rmse`` (eV/Å, over all components), ``energy_rmse_per_atom`` (eV/atom),
        ``force_mae``, ``mean_force_std`` (eV/Å), ``member_force_rmse`` (list, one per
        member), ``n_configurations``.
    """
    p = committee.predict_dataset(test)
    df = p.forces - np.vstack(test.forces)
    de = (p.energies - test.energies) / test.n_atoms
    mf = np.vstack(test.forces)[None] - p.member_forces
    return {"force_rmse": float(np.sqrt(np.mean(df * df))),
            "force_mae": float(np.mean(np.abs(df))),
            "energy_rmse_per_atom": float(np.sqrt(np.mean(de * de))),
            "mean_force_std": float(np.mean(p.forces_std)),
            "member_force_rmse": np.sqrt(np.mean(mf * mf, axis=(1, 2))).tolist(),
            "n_configurations": len(test)}


# ------------------------------------------------------------------ active learning
class ActiveLearningResult(NamedTuple):
    """Outcome of :func:`active_learning`.

    Attributes
    ----------
    strategy : str
    rounds : list of dict
        One per trained committee (``n_rounds + 1``): ``round``, ``n_labelled``,
        ``test`` (:func:`committee_test_errors`), ``train_s``; and for the rounds that
        explored: ``n_pool``, ``pool_max_force_std`` (the pool's spreads, eV/Å),
        ``selected`` (pool indices), ``selected_max_force_std``, ``explore_s``,
        ``runs`` (per exploration run: temperature, start, frames, reason).
    committee : Committee
        The last committee.
    dataset : Dataset
        Every labelled configuration (initial first, then in order of labelling).
    """

    strategy: str
    rounds: list
    committee: Committee
    dataset: Dataset

    @property
    def learning_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """``(n_labelled, force_rmse)`` after every round (eV/Å)."""
        return (np.array([r["n_labelled"] for r in self.rounds]),
                np.array([r["test"]["force_rmse"] for r in self.rounds]))


def _concat(a: Dataset, b: Dataset) -> Dataset:
    return Dataset(list(a.positions) + list(b.positions), list(a.species) + list(b.species),
                   np.concatenate([a.energies, b.energies]), list(a.forces) + list(b.forces),
                   list(a.boxes) + list(b.boxes))


def _write_json(path: str, obj: object) -> None:
    from ..storage._safe import write_atomic

    write_atomic(path, (json.dumps(_jsonable(obj), indent=2) + "\n").encode())


def _write_npz(path: str, **arrays: np.ndarray) -> None:
    from ..storage._safe import write_atomic

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_atomic(path, buf.getvalue())


def active_learning(model: NeuralPotential, initial: Dataset, test: Dataset, *,
                    reference: object, n_rounds: int, per_round: int, seed: int,
                    strategy: str = "uncertain", temperatures_K: Sequence[float] = (300.0,),
                    n_steps: int = 100, frame_every: int = 10, dt_fs: float = 2.0,
                    friction_per_fs: float = 0.01, stop_threshold: float | None = None,
                    starts: Dataset | None = None, n_members: int = 4,
                    sigma_energy: float = 0.005, sigma_force: float = 0.05,
                    prior_sigma: float | None = None, max_iter: int = 200,
                    out_dir: str | os.PathLike | None = None,
                    echo: Callable[[str], object] | None = None) -> ActiveLearningResult:
    """Committee-driven active learning against a reference calculator (module docstring).

    Round ``r = 0 ... n_rounds``: train a deep ensemble
    (:func:`~langevin_opt.mlip.deep_ensemble`, L-BFGS, seed ``seed`` every round) on the
    labelled set and measure it on ``test``; then, unless it is the last round, run one
    :func:`uncertain_dynamics` per temperature from a start drawn from ``starts``, pool
    every frame after the first, pick ``per_round`` of them (the largest force spreads, or
    uniformly at random), label them with ``reference`` and add them to the set.

    Parameters
    ----------
    model : NeuralPotential
        Architecture (descriptor, hidden layers; ``units = "metal"``); not modified.
    initial : Dataset
        Labelled starting set (eV, Å).
    test : Dataset
        Fixed labelled test set (never trained on).
    reference : ase calculator
        Labels new frames (e.g. ``ase.calculators.emt.EMT()``).
    n_rounds : int
        Rounds of selection (``>= 1``); ``n_rounds + 1`` committees are trained.
    per_round : int
        Configurations labelled per round (``>= 1``).
    seed : int
        Key of every random choice (module docstring).
    strategy : {"uncertain", "random"}
        Selection rule.
    temperatures_K : sequence of float
        One exploration run per temperature per round (K).
    n_steps, frame_every, dt_fs, friction_per_fs : int, int, float, float
        Exploration dynamics (:func:`uncertain_dynamics`).
    stop_threshold : float, optional
        Stop an exploration run at this force spread (eV/Å), keeping its frames.
    starts : Dataset, optional
        Start configurations of exploration (default ``initial``).
    n_members, sigma_energy, sigma_force, prior_sigma, max_iter
        Committee training (:func:`~langevin_opt.mlip.deep_ensemble`).
    out_dir : str or os.PathLike, optional
        Writes ``round_RR/committee.npz``, ``round_RR/train.extxyz`` (the set it was
        trained on), ``round_RR/errors.json`` and, for rounds that explore,
        ``round_RR/pool.npz`` (``max_force_std`` and ``n_atoms`` per pool frame, their
        ``positions`` stacked, shape ``(sum n_atoms, 3)``, and the ``selected`` indices) and
        ``round_RR/selected.extxyz``; then ``summary.json``
        (rewritten after every round).  Each file atomically.
    echo : callable, optional
        ``echo(line)`` progress lines.

    Returns
    -------
    ActiveLearningResult

    Raises
    ------
    ValueError
        Bad settings, species the model does not know.
    """
    if not isinstance(model, NeuralPotential):
        raise TypeError(f"model must be a NeuralPotential, got {type(model).__name__}")
    for name, d in (("initial", initial), ("test", test)):
        if not isinstance(d, Dataset):
            raise TypeError(f"{name} must be a mlip.Dataset, got {type(d).__name__}")
    if model.units != "metal":
        raise ValueError(f"active_learning works in metal units; the model is in "
                         f"{model.units!r} units")
    strategy = check_choice("strategy", strategy, ACTIVE_STRATEGIES)
    n_rounds = check_int("n_rounds", n_rounds, lo=1, hi=None)
    per_round = check_int("per_round", per_round, lo=1, hi=None)
    seed = check_seed(seed)
    temps = [check_nonnegative("temperatures_K", t) for t in temperatures_K]
    if not temps:
        raise ValueError("temperatures_K must hold at least one temperature")
    n_steps = check_int("n_steps", n_steps, lo=1, hi=None)
    frame_every = check_int("frame_every", frame_every, lo=1, hi=n_steps)
    if stop_threshold is not None:
        stop_threshold = check_positive("stop_threshold", stop_threshold)
    starts = initial if starts is None else starts
    if not isinstance(starts, Dataset):
        raise TypeError(f"starts must be a mlip.Dataset, got {type(starts).__name__}")
    for name, d in (("initial", initial), ("test", test), ("starts", starts)):
        unknown = sorted(set(d.species_names) - set(model.species))
        if unknown:
            raise ValueError(f"{name} has species {tuple(unknown)} that the model does not "
                             f"know (its species: {model.species})")
    out = None if out_dir is None else os.fspath(out_dir)
    if out is not None:
        os.makedirs(out, exist_ok=True)
    say = echo if echo is not None else (lambda line: None)
    labelled = initial
    rounds: list[dict] = []
    committee = None
    for r in range(n_rounds + 1):
        t0 = time.perf_counter()
        committee = deep_ensemble(model, labelled, n_members=n_members, seed=seed,
                                  sigma_energy=sigma_energy, sigma_force=sigma_force,
                                  prior_sigma=prior_sigma, max_iter=max_iter)
        row = {"round": r, "n_labelled": len(labelled), "train_s": time.perf_counter() - t0,
               "test": committee_test_errors(committee, test)}
        say(f"  [{strategy}] round {r}: {len(labelled)} labelled, test force RMSE "
            f"{row['test']['force_rmse']:.4g} eV/Å, energy RMSE "
            f"{row['test']['energy_rmse_per_atom']:.4g} eV/atom")
        rdir = None
        if out is not None:
            rdir = os.path.join(out, f"round_{r:02d}")
            os.makedirs(rdir, exist_ok=True)
            save_committee(committee, os.path.join(rdir, "committee.npz"))
            labelled.write(os.path.join(rdir, "train.extxyz"))
        if r < n_rounds:
            t1 = time.perf_counter()
            frames, spreads, runs = [], [], []
            for i, t_k in enumerate(temps):
                pick = np.random.default_rng(stream_seed(seed, r, i, 1)).integers(len(starts))
                x, sp, box = starts.positions[pick], starts.species[pick], starts.boxes[pick]
                traj = uncertain_dynamics(committee, x, sp, box, n_steps=n_steps,
                                          temperature_K=t_k, seed=stream_seed(seed, r, i, 2),
                                          threshold=stop_threshold,
                                          action="flag" if stop_threshold is None else "stop",
                                          frame_every=frame_every, dt_fs=dt_fs,
                                          friction_per_fs=friction_per_fs)
                for f in range(1, traj.positions.shape[0]):
                    frames.append((traj.positions[f], list(sp), box))
                    spreads.append(traj.max_force_std[f])
                runs.append({"temperature_K": t_k, "start": int(pick),
                             "frames": int(traj.positions.shape[0] - 1),
                             "steps": traj.n_steps, "reason": traj.reason})
            spreads_a = np.array(spreads)
            k = min(per_round, len(frames))
            if strategy == "uncertain":
                chosen = select_uncertain(spreads_a, k)
            else:
                chosen = np.sort(np.random.default_rng(stream_seed(seed, r, 3)).choice(
                    len(frames), size=k, replace=False)).astype(np.int64)
            new = label_with(reference, [frames[j] for j in chosen])
            row.update({"n_pool": len(frames), "pool_max_force_std": spreads_a.tolist(),
                        "selected": chosen.tolist(),
                        "selected_max_force_std": spreads_a[chosen].tolist(),
                        "explore_s": time.perf_counter() - t1, "runs": runs})
            say(f"  [{strategy}] round {r}: pool {len(frames)} frames (spread "
                f"{np.median(spreads_a):.3g} median, {spreads_a.max():.3g} max eV/Å); "
                f"labelled {k} (spread {np.mean(spreads_a[chosen]):.3g} mean)")
            if rdir is not None:
                _write_npz(os.path.join(rdir, "pool.npz"), max_force_std=spreads_a,
                           selected=chosen, positions=np.concatenate([f[0] for f in frames]),
                           n_atoms=np.array([f[0].shape[0] for f in frames], dtype=np.int64))
                new.write(os.path.join(rdir, "selected.extxyz"))
            labelled = _concat(labelled, new)
        rounds.append(row)
        if rdir is not None:
            _write_json(os.path.join(rdir, "errors.json"), row)
            _write_json(os.path.join(out, "summary.json"), {
                "strategy": strategy, "seed": seed, "n_rounds": n_rounds,
                "per_round": per_round, "rounds_done": r + 1,
                "learning_curve": {"n_labelled": [q["n_labelled"] for q in rounds],
                                   "force_rmse": [q["test"]["force_rmse"] for q in rounds],
                                   "energy_rmse_per_atom": [
                                       q["test"]["energy_rmse_per_atom"] for q in rounds]}})
    return ActiveLearningResult(strategy, rounds, committee, labelled)
