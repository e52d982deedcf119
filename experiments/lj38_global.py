"""LJ38 global optimisation: langevin_opt's methods against ``scipy.optimize.basinhopping``.

Reads ``experiments/lj38_global/config.toml`` and runs, for every method and ``trials`` seeds, one
trial with a fixed wall-time budget that stops as soon as a quench reaches the target energy
(the fcc truncated octahedron, E = -173.928427) within ``tol``:

* ``langevin_bh``: :func:`langevin_opt.particles.basin_hopping_replicas` (basin hopping whose
  perturbations are Langevin bursts from fresh Maxwell-Boltzmann velocities, replicas on a
  geometric ladder of acceptance temperatures exchanging minima);
* ``replica_exchange``: :func:`langevin_opt.particles.replica_exchange` (parallel tempering
  of BAOAB Langevin dynamics), every replica quenched with FIRE every ``quench_every`` steps;
* ``basinhopping``: ``scipy.optimize.basinhopping`` with L-BFGS-B and the analytic gradient
  of langevin_opt's compiled LJ kernel.

Each trial records the lowest energy found against wall time (``trace``: ``[seconds, E]``
pairs, one per improvement), the number of hops (or quench rounds) and the time to the target.
Compilation is done before the first trial and reported separately.

    python experiments/lj38_global.py experiments/lj38_global/config.toml OUTDIR

writes ``OUTDIR/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np
import tomllib
from scipy import optimize

from langevin_opt import particles as lp

METHODS = ("langevin_bh", "replica_exchange", "basinhopping")


def _load(path: str) -> dict:
    with open(path, "rb") as fh:
        cfg = tomllib.load(fh)
    missing = [s for s in ("experiment", "cluster", "budget", *METHODS) if s not in cfg]
    if missing:
        sys.exit(f"error: {path}: missing section(s) {missing}; needed: "
                 f"experiment, cluster, budget, {', '.join(METHODS)}")
    return cfg


class _Trace:
    """Lowest energy against wall time since ``t0``, one point per improvement."""

    def __init__(self, target: float, tol: float) -> None:
        self.t0 = time.perf_counter()
        self.best = np.inf
        self.points: list[list[float]] = []
        self.target, self.tol = target, tol
        self.hit: float | None = None

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def note(self, energy: float) -> bool:
        """Record ``energy``; true once the target has been reached."""
        if energy < self.best:
            self.best = float(energy)
            self.points.append([self.elapsed(), self.best])
        if self.hit is None and self.best < self.target + self.tol:
            self.hit = self.elapsed()
        return self.hit is not None

    def record(self, **extra: object) -> dict:
        return {"success": self.hit is not None, "time_s": self.hit, "best": self.best,
                "wall_s": self.elapsed(), "trace": self.points, **extra}


def random_cluster(n: int, radius: float, rng: np.random.Generator, count: int,
                   lj: object) -> np.ndarray:
    """``count`` random configurations of ``n`` atoms in a sphere, relaxed off overlaps."""
    pts = rng.normal(size=(count, n, 3))
    pts /= np.linalg.norm(pts, axis=2, keepdims=True)
    pts *= radius * rng.uniform(0, 1, (count, n, 1)) ** (1 / 3)
    return lp.fire_replicas(pts, lj, fire=lp.FIRE(fmax=1.0, max_steps=500)).positions


def langevin_bh(cfg: dict, seed: int, lj: object) -> dict:
    """One trial of Langevin basin hopping with exchanges (section ``[langevin_bh]``)."""
    c, m, b = cfg["cluster"], cfg["langevin_bh"], cfg["budget"]
    X = random_cluster(c["atoms"], c["init_radius"], np.random.default_rng(seed),
                       m["replicas"], lj)
    tr = _Trace(c["target_energy"], c["tol"])
    hops = [0]

    def cb(hop: int, energies: np.ndarray) -> bool:
        hops[0] = hop + 1
        return tr.note(float(energies.min())) or tr.elapsed() > b["seconds_per_trial"]

    res = lp.basin_hopping_replicas(
        X, lj, 10**8, temperatures=np.geomspace(*m["acceptance_temperatures"], m["replicas"]),
        kick_temperature=m["kick_temperature"], kick_steps=m["kick_steps"],
        integrator=lp.LangevinBAOAB(m["dt"], m["friction"]), swap_every=m["swap_every"],
        container=lp.Container(c["container_radius"], c["container_k"]), seed=seed,
        target=c["target_energy"], target_tol=c["tol"], callback=cb)
    tr.note(res.best_energy)
    return tr.record(hops=hops[0], replicas=m["replicas"])


def replica_exchange(cfg: dict, seed: int, lj: object) -> dict:
    """One trial of replica exchange with periodic FIRE quenches (``[replica_exchange]``)."""
    c, m, b = cfg["cluster"], cfg["replica_exchange"], cfg["budget"]
    ladder = np.geomspace(*m["ladder"], m["replicas"])
    state = random_cluster(c["atoms"], c["init_radius"], np.random.default_rng(seed),
                           m["replicas"], lj)
    tr = _Trace(c["target_energy"], c["tol"])
    rounds = 0
    while tr.elapsed() < b["seconds_per_trial"]:
        state, _ = lp.replica_exchange(
            state, lj, lp.LangevinBAOAB(m["dt"], m["friction"]), m["quench_every"], ladder,
            swap_every=m["swap_every"], seed=seed,
            container=lp.Container(c["container_radius"], c["container_k"]))
        rounds += 1
        q = lp.fire_replicas(state.positions, lj, fire=lp.FIRE(fmax=1e-6))
        if tr.note(float(q.energy.min())):
            break
    return tr.record(rounds=rounds, steps=rounds * m["quench_every"], replicas=m["replicas"])


def basinhopping(cfg: dict, seed: int, lj: object) -> dict:
    """One trial of ``scipy.optimize.basinhopping`` (section ``[basinhopping]``)."""
    c, m, b = cfg["cluster"], cfg["basinhopping"], cfg["budget"]
    n = c["atoms"]
    x0 = random_cluster(n, c["init_radius"], np.random.default_rng(seed), 1, lj)[0].ravel()
    evals = [0]

    def fun(flat: np.ndarray) -> tuple[float, np.ndarray]:
        evals[0] += 1
        r = lp.compute_forces(lp.ParticleSystem(flat.reshape(n, 3)), lj)
        return r.energy, -r.forces.ravel()

    tr = _Trace(c["target_energy"], c["tol"])
    hops = [0]

    def cb(x: np.ndarray, f: float, accept: bool) -> bool:
        hops[0] += 1
        return tr.note(float(f)) or tr.elapsed() > b["seconds_per_trial"]

    res = optimize.basinhopping(fun, x0, niter=10**9, T=m["temperature"], stepsize=m["stepsize"],
                                minimizer_kwargs={"method": "L-BFGS-B", "jac": True},
                                callback=cb, rng=np.random.default_rng(seed))
    tr.note(float(res.fun))
    return tr.record(hops=hops[0], energy_evaluations=evals[0])


def _warmup(lj: object) -> float:
    t0 = time.perf_counter()
    two = np.zeros((2, 2, 3)) + [[0.0], [1.1]]
    lp.fire_replicas(two, lj, fire=lp.FIRE(fmax=1.0, max_steps=5))
    lp.replica_exchange(two, lj, lp.LangevinBAOAB(0.005), 10, [0.1, 0.2], swap_every=5,
                        container=lp.Container(2.0), seed=0)
    lp.basin_hopping_replicas(two, lj, 2, temperatures=[0.5, 1], swap_every=1,
                              container=lp.Container(2.0), seed=0)
    lp.compute_forces(lp.ParticleSystem(two[0]), lj)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    """Run every method and seed of the config; write and return ``results.json``'s record."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", help="experiments/lj38_global/config.toml")
    p.add_argument("out_dir", help="directory for results.json")
    a = p.parse_args(argv)
    cfg = _load(a.config)
    numba.set_num_threads(int(cfg["budget"]["threads"]))
    lj = lp.lennard_jones(mode="plain")
    compile_s = _warmup(lj)
    print(f"compile {compile_s:.1f} s", flush=True)
    runners = {"langevin_bh": langevin_bh, "replica_exchange": replica_exchange,
               "basinhopping": basinhopping}
    seed0 = int(cfg["experiment"]["seed"])
    results: dict = {}
    t_all = time.perf_counter()
    for k, name in enumerate(METHODS):
        trials = []
        for t in range(int(cfg["budget"]["trials"])):
            seed = seed0 + 100 * k + t
            rec = runners[name](cfg, seed, lj)
            rec["seed"] = seed
            trials.append(rec)
            found = f"found in {rec['time_s']:.1f} s" if rec["success"] else "not found"
            print(f"{name} seed {seed}: best {rec['best']:.6f} {found}", flush=True)
        times = [r["time_s"] for r in trials if r["success"]]
        results[name] = {
            "trials": len(trials), "successes": len(times),
            "median_time_to_solution_s": statistics.median(times) if times else None,
            "best": min(r["best"] for r in trials), "runs": trials}
    out = {"experiment": cfg["experiment"]["name"], "config": cfg, "compile_s": compile_s,
           "total_s": time.perf_counter() - t_all, "threads": int(cfg["budget"]["threads"]),
           "load_average_end": list(os.getloadavg()), "methods": results}
    d = Path(a.out_dir)
    d.mkdir(parents=True, exist_ok=True)
    (d / "results.json").write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
