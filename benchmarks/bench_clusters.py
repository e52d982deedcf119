"""Global optimisation of LJ clusters: annealing, replica exchange, Langevin and SciPy hopping.

Targets: the putative global minima of LJ13 (icosahedron, E = -44.326801) and
LJ38 (fcc truncated octahedron, E = -173.928427; the double-funnel case),
Wales & Doye, J. Phys. Chem. A 101, 5111 (1997) / Cambridge Cluster Database.
A run *succeeds* when a quench reaches the target within 1e-4.

Methods (all starting from random configurations in a sphere, seeded):

* ``anneal``: :func:`langevin_opt.particles.run_replicas`, R independent
  replicas, BAOAB (dt 0.005, friction 1), temperature annealed geometrically
  from ``T_hi`` to ``T_lo``, spherical container; then every replica is
  quenched with FIRE (:func:`~langevin_opt.particles.fire_replicas`).  Success
  rate = fraction of replicas that reach the target; time to solution
  ``TTS99`` = time per replica * ln(0.01) / ln(1 - p) (the time to reach it with
  99 % probability by independent restarts).
* ``replica_exchange``: :func:`~langevin_opt.particles.replica_exchange` over a
  geometric ladder, swaps every 100 steps; after every ``quench_every`` steps
  all replicas are copied and quenched with FIRE; a trial stops when the target
  is found or the step budget is spent.  Success rate over trials and median
  wall time to solution of the successful trials.
* ``langevin_bh``: :func:`~langevin_opt.particles.basin_hopping_replicas`,
  basin hopping whose perturbations are 500-step Langevin bursts at T = 0.4
  from fresh Maxwell–Boltzmann velocities, 16 replicas hopping together on a
  geometric ladder of acceptance temperatures 0.5 to 1.2 with exchanges every
  10 hops (parallel-tempering basin hopping); stops when the target is found
  or the budget is spent.  Success rate over trials and median wall time to
  solution (including the initial quenches).
* ``basinhopping``: ``scipy.optimize.basinhopping`` (L-BFGS-B local
  minimiser with the analytic gradient from langevin_opt's compiled LJ kernel,
  Metropolis temperature 0.8, step size 0.4, random displacement of all atoms),
  stopped by callback when the target is found or after ``niter`` hops; success
  rate over trials and median wall time to solution.

The compiled kernels are warmed up first; compile time is reported
separately.  Times are wall seconds on one thread (``NUMBA_NUM_THREADS`` is
set to 1 for a like-for-like comparison with the serial SciPy baseline).

Run:  python benchmarks/bench_clusters.py [--clusters 13 38] [--trials 4] [--budget-s 120]
The last line printed is one JSON object.
"""

from __future__ import annotations

import _common  # isort: skip

import argparse
import math
import statistics
import time

import numba
import numpy as np
from scipy import optimize

from langevin_opt import particles as lp
from langevin_opt.schedules import Geometric

TARGETS = {13: -44.326801, 38: -173.928427}
TOL = 1e-4
LJ = lp.lennard_jones(mode="plain")
SETTINGS = {
    13: {"radius": 1.6, "container": 2.2, "T_hi": 0.35, "T_lo": 0.03, "anneal_steps": 20_000,
         "replicas": 64, "ladder": (0.05, 0.35), "n_ladder": 8, "quench_every": 2_000},
    38: {"radius": 2.2, "container": 2.8, "T_hi": 0.30, "T_lo": 0.03, "anneal_steps": 100_000,
         "replicas": 32, "ladder": (0.06, 0.30), "n_ladder": 12, "quench_every": 5_000},
}


def random_cluster(n: int, radius: float, rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` random configurations of ``n`` atoms in a sphere, relaxed off overlaps."""
    pts = rng.normal(size=(count, n, 3))
    pts /= np.linalg.norm(pts, axis=2, keepdims=True)
    pts *= radius * rng.uniform(0, 1, (count, n, 1)) ** (1 / 3)
    # a short, loose FIRE quench removes the huge repulsions of near-overlaps
    return lp.fire_replicas(pts, LJ, fire=lp.FIRE(fmax=1.0, max_steps=500)).positions


def anneal(n: int, seed: int) -> dict:
    s = SETTINGS[n]
    rng = np.random.default_rng(seed)
    X = random_cluster(n, s["radius"], rng, s["replicas"])
    t0 = time.perf_counter()
    st = lp.run_replicas(X, LJ, lp.LangevinBAOAB(0.005, 1.0), s["anneal_steps"],
                         temperatures=s["T_hi"], schedule=Geometric(final=s["T_lo"] / s["T_hi"]),
                         seed=seed, container=lp.Container(s["container"], k=50.0))
    q = lp.fire_replicas(st.positions, LJ, fire=lp.FIRE(fmax=1e-6))
    wall = time.perf_counter() - t0
    ok = np.abs(q.energy - TARGETS[n]) < TOL
    p = ok.mean()
    per = wall / s["replicas"]
    tts = per * math.log(0.01) / math.log(1 - p) if 0 < p < 1 else (per if p == 1 else None)
    return {"replicas": s["replicas"], "steps": s["anneal_steps"], "successes": int(ok.sum()),
            "success_rate": float(p), "wall_s": wall, "time_per_replica_s": per, "tts99_s": tts,
            "best": float(q.energy.min())}


def replica_exchange(n: int, seed: int, budget_s: float) -> dict:
    s = SETTINGS[n]
    rng = np.random.default_rng(seed)
    ladder = np.geomspace(*s["ladder"], s["n_ladder"])
    X = random_cluster(n, s["radius"], rng, s["n_ladder"])
    best = [math.inf]
    found = [None]
    t0 = time.perf_counter()
    state = X
    steps = 0
    while time.perf_counter() - t0 < budget_s and found[0] is None:
        state, _ = lp.replica_exchange(state, LJ, lp.LangevinBAOAB(0.005, 1.0), s["quench_every"],
                                       ladder, swap_every=100, seed=seed,
                                       container=lp.Container(s["container"], k=50.0))
        steps += s["quench_every"]
        q = lp.fire_replicas(state.positions, LJ, fire=lp.FIRE(fmax=1e-6))
        best[0] = min(best[0], float(q.energy.min()))
        if best[0] < TARGETS[n] + TOL:
            found[0] = time.perf_counter() - t0
    return {"success": found[0] is not None, "time_s": found[0], "steps": steps,
            "best": best[0], "wall_s": time.perf_counter() - t0}


def langevin_bh(n: int, seed: int, budget_s: float) -> dict:
    s = SETTINGS[n]
    X = random_cluster(n, s["radius"], np.random.default_rng(seed), 16)
    t0 = time.perf_counter()
    stop = lambda hop, e: time.perf_counter() - t0 > budget_s  # noqa: E731
    res = lp.basin_hopping_replicas(X, LJ, 10**7, temperatures=np.geomspace(0.5, 1.2, 16),
                                    swap_every=10, container=lp.Container(s["container"], 50.0),
                                    seed=seed, target=TARGETS[n], target_tol=TOL,
                                    callback=stop)
    return {"success": res.hops_to_target is not None, "time_s": res.seconds_to_target,
            "hops": res.n_hops, "best": res.best_energy, "wall_s": time.perf_counter() - t0}


def basinhopping(n: int, seed: int, budget_s: float) -> dict:
    s = SETTINGS[n]
    rng = np.random.default_rng(seed)
    x0 = random_cluster(n, s["radius"], rng, 1)[0].ravel()

    def fun(flat):
        r = lp.compute_forces(lp.ParticleSystem(flat.reshape(n, 3)), LJ)
        return r.energy, -r.forces.ravel()

    t0 = time.perf_counter()
    found = [None]
    hops = [0]

    def callback(x, f, accept):
        hops[0] += 1
        if f < TARGETS[n] + TOL:
            found[0] = time.perf_counter() - t0
            return True
        return time.perf_counter() - t0 > budget_s

    res = optimize.basinhopping(fun, x0, niter=10**9, T=0.8, stepsize=0.4,
                                minimizer_kwargs={"method": "L-BFGS-B", "jac": True},
                                callback=callback, rng=np.random.default_rng(seed))
    return {"success": found[0] is not None, "time_s": found[0], "hops": hops[0],
            "best": float(res.fun), "wall_s": time.perf_counter() - t0}


def summarise(trials: list[dict]) -> dict:
    times = [t["time_s"] for t in trials if t["success"]]
    return {"trials": len(trials), "successes": len(times),
            "success_rate": len(times) / len(trials),
            "median_time_to_solution_s": statistics.median(times) if times else None,
            "best": min(t["best"] for t in trials), "runs": trials}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clusters", type=int, nargs="+", default=[13, 38], choices=[13, 38])
    ap.add_argument("--trials", type=int, default=4, help="seeds per method")
    ap.add_argument("--budget-s", type=float, default=120.0,
                    help="wall-time budget of one replica-exchange or basin-hopping trial")
    args = ap.parse_args()
    numba.set_num_threads(1)
    t0 = time.perf_counter()
    random_cluster(13, 1.6, np.random.default_rng(0), 2)
    lp.run_replicas(np.zeros((1, 2, 3)) + [[0.0], [1.1]], LJ, lp.LangevinBAOAB(0.005), 5,
                    container=lp.Container(2.0), seed=0)
    lp.replica_exchange(np.zeros((2, 2, 3)) + [[0.0], [1.1]], LJ, lp.LangevinBAOAB(0.005), 10,
                        [0.1, 0.2], swap_every=5, container=lp.Container(2.0), seed=0)
    lp.basin_hopping_replicas(np.zeros((2, 2, 3)) + [[0.0], [1.1]], LJ, 2, temperatures=[0.5, 1],
                              swap_every=1, container=lp.Container(2.0), seed=0)
    compile_s = time.perf_counter() - t0
    print(f"load {_common.load_average()}; compile {compile_s:.1f} s", flush=True)
    rec: dict = {"benchmark": "bench_clusters", "compile_s": compile_s, "targets": TARGETS,
                 "budget_s": args.budget_s, "results": {}}
    rows = []
    for n in args.clusters:
        res = {}
        an = [anneal(n, 100 + k) for k in range(args.trials)]
        p = sum(a["successes"] for a in an) / sum(a["replicas"] for a in an)
        per = statistics.mean(a["time_per_replica_s"] for a in an)
        res["anneal"] = {"success_rate_per_replica": p,
                         "tts99_s": (per * math.log(0.01) / math.log(1 - p) if 0 < p < 1
                                     else (per if p == 1 else None)),
                         "best": min(a["best"] for a in an), "runs": an}
        print(f"LJ{n} anneal: p = {p:.3f} per replica, TTS99 {res['anneal']['tts99_s']} s",
              flush=True)
        res["replica_exchange"] = summarise([replica_exchange(n, 200 + k, args.budget_s)
                                             for k in range(args.trials)])
        print(f"LJ{n} replica exchange: {res['replica_exchange']['successes']}/{args.trials}, "
              f"median {res['replica_exchange']['median_time_to_solution_s']} s", flush=True)
        res["langevin_bh"] = summarise([langevin_bh(n, 400 + k, args.budget_s)
                                        for k in range(args.trials)])
        print(f"LJ{n} Langevin basin hopping + exchange: {res['langevin_bh']['successes']}/"
              f"{args.trials}, median {res['langevin_bh']['median_time_to_solution_s']} s",
              flush=True)
        res["basinhopping"] = summarise([basinhopping(n, 300 + k, args.budget_s)
                                         for k in range(args.trials)])
        print(f"LJ{n} basinhopping: {res['basinhopping']['successes']}/{args.trials}, "
              f"median {res['basinhopping']['median_time_to_solution_s']} s", flush=True)
        rec["results"][f"LJ{n}"] = res
        fmt = lambda v: "-" if v is None else f"{v:.3g}"  # noqa: E731
        rows += [[f"LJ{n}", "anneal (per replica)", f"{p:.2f}", fmt(res["anneal"]["tts99_s"])],
                 [f"LJ{n}", "replica exchange", f"{res['replica_exchange']['success_rate']:.2f}",
                  fmt(res["replica_exchange"]["median_time_to_solution_s"])],
                 [f"LJ{n}", "Langevin basin hopping + RE",
                  f"{res['langevin_bh']['success_rate']:.2f}",
                  fmt(res["langevin_bh"]["median_time_to_solution_s"])],
                 [f"LJ{n}", "scipy basinhopping", f"{res['basinhopping']['success_rate']:.2f}",
                  fmt(res["basinhopping"]["median_time_to_solution_s"])]]
    print(_common.format_table(["cluster", "method", "success", "time to solution (s)"], rows,
                               align="llrr"))
    rec["load_average_end"] = _common.load_average()
    rec["machine"] = _common.machine_info()
    _common.emit_json(rec)


if __name__ == "__main__":
    main()
