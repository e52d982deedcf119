"""Global optimisation: ``langevin_opt.optimize.global_minimize`` against SciPy's global optimisers.

Problems (bounds, global minimum ``f*``; every one has an analytic gradient):

* Rastrigin, Ackley (the package landscapes :func:`langevin_opt.rastrigin`,
  :func:`langevin_opt.ackley`), Rosenbrock, Griewank, Levy, Schwefel (2.26),
  Styblinski–Tang and Zakharov, each in 10 and 30 dimensions, written below as
  ``@landscape`` user functions.  Definitions, domains and minima: S. Surjanovic and
  D. Bingham, *Virtual Library of Simulation Experiments: Test Functions and Datasets*
  (SFU, https://www.sfu.ca/~ssurjano/optimization.html), which agree with M. Jamil and
  X.-S. Yang, "A literature survey of benchmark functions for global optimisation
  problems", Int. J. Math. Model. Numer. Optim. 4, 150 (2013) (Rastrigin F174,
  Ackley F1, Rosenbrock F105, Griewank F59, Levy (SFU), Schwefel 2.26 F113 with
  the constant 418.9828872724338 = max x sin sqrt(x) so that ``f* = 0`` exactly,
  Styblinski–Tang F144, ``f* = -39.16616570377142 d``, Zakharov F173).
* Müller–Brown (package landscape :func:`langevin_opt.muller_brown`,
  ``f* = -146.69951720995402``; K. Müller and L. D. Brown, Theor. Chim. Acta 53, 75 (1979)).
* LJ13 (``f* = -44.326801``) and, with ``--lj38``, LJ38 (``-173.928427``): Lennard-Jones
  clusters (Wales & Doye, J. Phys. Chem. A 101, 5111 (1997), Cambridge Cluster Database),
  all-pairs energy as an ``@landscape`` function of the ``3N`` coordinates in a cube.

Contenders, each with the same wall-time budget per trial (1.5 s up to 10 dimensions, 3 s in
30 dimensions and for the clusters) and the same compiled
objective (SciPy's get it through a thin Python wrapper: ``f``, ``grad``): SciPy
``dual_annealing`` (L-BFGS-B local search with the analytic gradient), ``basinhopping``
(L-BFGS-B local steps in the bounds with the gradient, from a uniform start, default
``T = 1``, ``stepsize = 0.5``), ``differential_evolution`` (defaults, polish) and ``shgo``
(up to 10 dimensions; deterministic, so run once), and ``global_minimize`` with each of its
methods at their defaults (``workers`` = one thread; nothing tuned per function).

A trial *succeeds* when ``|f - f*| <= 1e-4 * max(1, |f*|)``; SciPy runs stop at the first
evaluation that succeeds (its time is the time to solution), ``global_minimize`` runs stop at
the end of the first iteration that succeeds (``options={"f_target": ...}``).  Per function and
method: success rate, median wall time to solution and median evaluations over the successful
trials.  Summary fields: ``success_ge_best_scipy`` (on every function the default method
succeeds at least as often as the best SciPy method), ``faster_than_dual_annealing`` (functions
where its median time to solution is lower; counted when dual annealing never succeeds and it
does), ``misses`` (the functions behind a missed target).

The full run (10 seeds, 18 problems, 7 contenders) took 15 min (913 s, 94 s of it compiling)
on a shared 2-core machine at load average ~5; ``--quick`` (3 seeds, 6 problems) a few.

Run:  python benchmarks/bench_globalopt.py [--quick] [--seeds 10] [--budget 1.5]
      [--lj38] [--figure PATH]
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

import langevin_opt as lo
from langevin_opt.optimize import GLOBAL_METHODS, global_minimize
from langevin_opt.optimize._local import _landscape_fg

TOL = 1e-4
DEFAULT = GLOBAL_METHODS[0]
SCIPY = ("dual_annealing", "basinhopping", "differential_evolution", "shgo")


# ------------------------------------------------------------------- test functions
@lo.landscape(dim=1, name="rosenbrock")
def _rosenbrock(X, i, p, G):
    # SFU / Jamil & Yang F105: sum 100 (x_{k+1} - x_k^2)^2 + (x_k - 1)^2; f* = 0 at (1, ..., 1)
    d = X.shape[0]
    e = 0.0
    for k in range(d):
        G[k, i] = 0.0
    for k in range(d - 1):
        a = X[k + 1, i] - X[k, i] * X[k, i]
        b = X[k, i] - 1.0
        e += 100.0 * a * a + b * b
        G[k, i] += -400.0 * a * X[k, i] + 2.0 * b
        G[k + 1, i] += 200.0 * a
    return e


@lo.landscape(dim=1, name="griewank")
def _griewank(X, i, p, G):
    # SFU / Jamil & Yang F59: 1 + sum x^2/4000 - prod cos(x_k / sqrt(k)); f* = 0 at 0
    d = X.shape[0]
    s = 0.0
    prod = 1.0
    for k in range(d):
        s += X[k, i] * X[k, i] / 4000.0
        prod *= math.cos(X[k, i] / math.sqrt(k + 1.0))
    for k in range(d):
        sn = math.sin(X[k, i] / math.sqrt(k + 1.0))
        rest = 1.0
        for j in range(d):
            if j != k:
                rest *= math.cos(X[j, i] / math.sqrt(j + 1.0))
        G[k, i] = X[k, i] / 2000.0 + rest * sn / math.sqrt(k + 1.0)
    return 1.0 + s - prod


@lo.landscape(dim=1, name="levy")
def _levy(X, i, p, G):
    # SFU: w = 1 + (x - 1)/4; sin^2(pi w_1) + sum_{k<d} (w_k - 1)^2 [1 + 10 sin^2(pi w_k + 1)]
    #      + (w_d - 1)^2 [1 + sin^2(2 pi w_d)]; f* = 0 at (1, ..., 1)
    d = X.shape[0]
    pi = math.pi
    w1 = 1.0 + (X[0, i] - 1.0) / 4.0
    e = math.sin(pi * w1) ** 2
    for k in range(d):
        G[k, i] = 0.0
    G[0, i] += 2.0 * math.sin(pi * w1) * math.cos(pi * w1) * pi / 4.0
    for k in range(d - 1):
        w = 1.0 + (X[k, i] - 1.0) / 4.0
        s = math.sin(pi * w + 1.0)
        c = math.cos(pi * w + 1.0)
        e += (w - 1.0) ** 2 * (1.0 + 10.0 * s * s)
        G[k, i] += (2.0 * (w - 1.0) * (1.0 + 10.0 * s * s)
                    + (w - 1.0) ** 2 * 20.0 * s * c * pi) / 4.0
    wd = 1.0 + (X[d - 1, i] - 1.0) / 4.0
    s = math.sin(2.0 * pi * wd)
    c = math.cos(2.0 * pi * wd)
    e += (wd - 1.0) ** 2 * (1.0 + s * s)
    G[d - 1, i] += (2.0 * (wd - 1.0) * (1.0 + s * s) + (wd - 1.0) ** 2 * 4.0 * pi * s * c) / 4.0
    return e


@lo.landscape(dim=1, name="schwefel")
def _schwefel(X, i, p, G):
    # SFU / Jamil & Yang F113 (Schwefel 2.26): c d - sum x sin(sqrt|x|), c = max x sin sqrt x
    # = 418.9828872724338 (at x = 420.968746), so f* = 0 at (420.968746, ...)
    d = X.shape[0]
    e = 418.9828872724338 * d
    for k in range(d):
        x = X[k, i]
        r = math.sqrt(abs(x))
        e -= x * math.sin(r)
        G[k, i] = -math.sin(r) - 0.5 * r * math.cos(r) if r > 0.0 else 0.0
    return e


@lo.landscape(dim=1, name="styblinski_tang")
def _styblinski_tang(X, i, p, G):
    # SFU / Jamil & Yang F144: 0.5 sum (x^4 - 16 x^2 + 5 x); f* = -39.16616570377142 d
    # at x_k = -2.903534027771178
    d = X.shape[0]
    e = 0.0
    for k in range(d):
        x = X[k, i]
        e += 0.5 * (x**4 - 16.0 * x * x + 5.0 * x)
        G[k, i] = 2.0 * x**3 - 16.0 * x + 2.5
    return e


@lo.landscape(dim=1, name="zakharov")
def _zakharov(X, i, p, G):
    # SFU / Jamil & Yang F173: sum x^2 + (sum 0.5 k x_k)^2 + (sum 0.5 k x_k)^4; f* = 0 at 0
    d = X.shape[0]
    s2 = 0.0
    s1 = 0.0
    for k in range(d):
        s2 += X[k, i] * X[k, i]
        s1 += 0.5 * (k + 1.0) * X[k, i]
    for k in range(d):
        G[k, i] = 2.0 * X[k, i] + (2.0 * s1 + 4.0 * s1**3) * 0.5 * (k + 1.0)
    return s2 + s1 * s1 + s1**4


@lo.landscape(dim=1, name="lj")
def _lj(X, i, p, G):
    # Lennard-Jones cluster (epsilon = sigma = 1): sum_{a<b} 4 (r^-12 - r^-6), x = (x_a, y_a, z_a)
    n = X.shape[0] // 3
    e = 0.0
    for k in range(X.shape[0]):
        G[k, i] = 0.0
    for a in range(n):
        for b in range(a + 1, n):
            dx = X[3 * a, i] - X[3 * b, i]
            dy = X[3 * a + 1, i] - X[3 * b + 1, i]
            dz = X[3 * a + 2, i] - X[3 * b + 2, i]
            r2 = max(dx * dx + dy * dy + dz * dz, 1e-6)  # coincident atoms: huge, finite
            ir6 = 1.0 / (r2 * r2 * r2)
            e += 4.0 * (ir6 * ir6 - ir6)
            fr = (-48.0 * ir6 * ir6 + 24.0 * ir6) / r2  # (dU/dr) / r
            G[3 * a, i] += fr * dx
            G[3 * a + 1, i] += fr * dy
            G[3 * a + 2, i] += fr * dz
            G[3 * b, i] -= fr * dx
            G[3 * b + 1, i] -= fr * dy
            G[3 * b + 2, i] -= fr * dz
    return e


def _sized(land: lo.Landscape, dim: int) -> lo.Landscape:
    """The same user landscape in ``dim`` dimensions."""
    return lo.Landscape(name=land.name, dim=dim, params=land.params,
                        energy_grad=land.energy_grad)


def problems(lj38: bool) -> list[dict]:
    """The benchmark problems: name, landscape, bounds, f*."""
    out = []
    for d in (10, 30):
        out += [
            dict(name=f"rastrigin{d}", land=lo.rastrigin(d), box=(-5.12, 5.12), fstar=0.0),
            dict(name=f"ackley{d}", land=lo.ackley(d), box=(-32.768, 32.768), fstar=0.0),
            dict(name=f"rosenbrock{d}", land=_sized(_rosenbrock, d), box=(-5.0, 10.0),
                 fstar=0.0),
            dict(name=f"griewank{d}", land=_sized(_griewank, d), box=(-600.0, 600.0),
                 fstar=0.0),
            dict(name=f"levy{d}", land=_sized(_levy, d), box=(-10.0, 10.0), fstar=0.0),
            dict(name=f"schwefel{d}", land=_sized(_schwefel, d), box=(-500.0, 500.0),
                 fstar=0.0),
            dict(name=f"styblinski_tang{d}", land=_sized(_styblinski_tang, d),
                 box=(-5.0, 5.0), fstar=-39.16616570377142 * d),
            dict(name=f"zakharov{d}", land=_sized(_zakharov, d), box=(-5.0, 10.0), fstar=0.0),
        ]
    out.append(dict(name="muller_brown", land=lo.muller_brown(),
                    bounds=np.array([[-1.5, 1.2], [-0.5, 2.0]]), fstar=-146.69951720995402))
    out.append(dict(name="lj13", land=_sized(_lj, 39), box=(-1.6, 1.6), fstar=-44.326801))
    if lj38:
        out.append(dict(name="lj38", land=_sized(_lj, 114), box=(-2.2, 2.2),
                        fstar=-173.928427))
    for p in out:
        if "bounds" not in p:
            p["bounds"] = np.array([p["box"]] * p["land"].dim)
    return out


# ------------------------------------------------------------------- contenders
class _Hit(Exception):
    pass


class _Timeout(Exception):
    pass


class _Watch:
    """The objective seen by SciPy: counts, stops at the first success or at the budget."""

    def __init__(self, fg, target: float, budget: float) -> None:
        self.fg, self.target, self.budget = fg, target, budget
        self.nfev = 0
        self.t0 = time.perf_counter()
        self.hit: float | None = None
        self.best = math.inf

    def _eval(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        if time.perf_counter() - self.t0 > self.budget:
            raise _Timeout
        f, g = self.fg(np.ascontiguousarray(x, dtype=np.float64))
        self.nfev += 1
        self.best = min(self.best, f)
        if f <= self.target:
            self.hit = time.perf_counter() - self.t0
            raise _Hit
        return f, g

    def f(self, x: np.ndarray) -> float:
        return self._eval(x)[0]

    def g(self, x: np.ndarray) -> np.ndarray:
        return self._eval(x)[1]


def run_scipy(method: str, p: dict, fg, seed: int, budget: float) -> dict:
    target = p["fstar"] + TOL * max(1.0, abs(p["fstar"]))
    b = p["bounds"]
    w = _Watch(fg, target, budget)
    rng = np.random.default_rng(seed)
    bl = list(map(tuple, b))
    try:
        if method == "dual_annealing":
            optimize.dual_annealing(w.f, bl, maxiter=10**7, maxfun=10**9, rng=rng,
                                    minimizer_kwargs={"jac": w.g})
        elif method == "basinhopping":
            x0 = rng.uniform(b[:, 0], b[:, 1])
            optimize.basinhopping(w.f, x0, niter=10**9, rng=rng,
                                  minimizer_kwargs={"method": "L-BFGS-B", "jac": w.g,
                                                    "bounds": bl})
        elif method == "differential_evolution":
            optimize.differential_evolution(w.f, bl, maxiter=10**6, tol=0.0, rng=rng)
        else:
            optimize.shgo(w.f, bl, minimizer_kwargs={"method": "L-BFGS-B", "jac": w.g},
                          options={"maxtime": budget})
    except (_Hit, _Timeout):
        pass
    ok = w.hit is not None
    return {"success": ok, "time_s": w.hit, "nfev": w.nfev, "best": w.best}


def run_package(method: str, p: dict, seed: int, budget: float) -> dict:
    target = p["fstar"] + TOL * max(1.0, abs(p["fstar"]))
    t0 = time.perf_counter()
    r = global_minimize(p["land"], p["bounds"], method=method, seed=seed, maxiter=10**9,
                        maxtime=budget, options={"f_target": target})
    t = time.perf_counter() - t0
    ok = abs(r.fun - p["fstar"]) <= TOL * max(1.0, abs(p["fstar"]))
    return {"success": bool(ok), "time_s": t if ok else None, "nfev": int(r.nfev),
            "best": float(r.fun)}


def summarise(trials: list[dict]) -> dict:
    good = [t for t in trials if t["success"]]
    return {"trials": len(trials), "success_rate": len(good) / len(trials),
            "median_time_s": statistics.median(t["time_s"] for t in good) if good else None,
            "median_nfev": statistics.median(t["nfev"] for t in good) if good else None,
            "best": min(t["best"] for t in trials)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 seeds, a subset of problems")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=float, default=None,
                    help="wall seconds per trial (default 1.5, 3 in 30-D and for clusters)")
    ap.add_argument("--lj38", action="store_true", help="add LJ38 (expensive)")
    ap.add_argument("--only", nargs="*", default=None, help="problem names to run")
    ap.add_argument("--methods", nargs="*", default=None, help="contenders to run")
    ap.add_argument("--figure", default=None, help="write the figure to this path")
    args = ap.parse_args()
    numba.set_num_threads(1)
    seeds = 3 if args.quick else args.seeds
    probs = problems(args.lj38)
    if args.quick:
        probs = [p for p in probs if p["name"] in ("rastrigin10", "rosenbrock10", "levy10",
                                                    "styblinski_tang10", "muller_brown",
                                                    "lj13")]
    if args.only:
        probs = [p for p in probs if p["name"] in args.only]
    methods = args.methods or [*SCIPY, *GLOBAL_METHODS]
    t_start = time.perf_counter()
    t0 = time.perf_counter()
    for p in probs:  # compile every kernel first
        global_minimize(p["land"], p["bounds"], seed=0, maxiter=1)
        _landscape_fg(p["land"])(np.random.default_rng(0).uniform(p["bounds"][:, 0],
                                                                  p["bounds"][:, 1]))
    compile_s = time.perf_counter() - t0
    print(f"load {_common.load_average()}; compile {compile_s:.1f} s", flush=True)
    table: dict = {}
    rows = []
    for p in probs:
        fg = _landscape_fg(p["land"])
        budget = args.budget or (3.0 if p["land"].dim > 10 else 1.5)
        res = {}
        for m in methods:
            if m == "shgo" and p["land"].dim > 10:
                continue
            runs = []
            for s in range(1 if m == "shgo" else seeds):
                seed = 1000 + s
                runs.append(run_scipy(m, p, fg, seed, budget) if m in SCIPY
                            else run_package(m, p, seed, budget))
            res[m] = summarise(runs)
            fmt = lambda v: "-" if v is None else f"{v:.3g}"  # noqa: E731
            rows.append([p["name"], m, f"{res[m]['success_rate']:.2f}",
                         fmt(res[m]["median_time_s"]), fmt(res[m]["median_nfev"]),
                         f"{res[m]['best']:.6g}"])
            print("  ".join(rows[-1]), flush=True)
        table[p["name"]] = {"fstar": p["fstar"], "dim": p["land"].dim, "budget_s": budget,
                            "results": res}
    misses, faster = [], 0
    ge_best = True
    for name, t in table.items():
        res = t["results"]
        ours = res.get(DEFAULT)
        sc = [res[m]["success_rate"] for m in SCIPY if m in res]
        if ours is None or not sc:
            continue
        if ours["success_rate"] < max(sc):
            ge_best = False
            best = max((m for m in SCIPY if m in res), key=lambda m: res[m]["success_rate"])
            misses.append({"function": name, "target": "success_ge_best_scipy",
                           "ours": ours["success_rate"], "best_scipy": best,
                           "best_scipy_rate": res[best]["success_rate"]})
        da = res.get("dual_annealing")
        if da is not None:
            if ours["median_time_s"] is not None and (
                    da["median_time_s"] is None or ours["median_time_s"] < da["median_time_s"]):
                faster += 1
            else:
                misses.append({"function": name, "target": "faster_than_dual_annealing",
                               "ours_s": ours["median_time_s"], "dual_annealing_s":
                               da["median_time_s"]})
    print(_common.format_table(["function", "method", "success", "median TTS (s)",
                                "median nfev", "best f"], rows, align="llrrrr"))
    total = time.perf_counter() - t_start
    print(f"total {total:.0f} s", flush=True)
    if args.figure:
        from langevin_opt.plotting.globalopt import globalopt_figure

        globalopt_figure(table, args.figure)
    rec = {"benchmark": "bench_globalopt", "quick": args.quick, "seeds": seeds, "tol": TOL,
           "default_method": DEFAULT, "compile_s": compile_s, "total_s": total,
           "success_ge_best_scipy": ge_best, "faster_than_dual_annealing": faster,
           "n_functions": len(table), "faster_target": math.ceil(len(table) / 2),
           "targets_met": {"success_ge_best_scipy": ge_best,
                           "faster_than_dual_annealing>=half": faster >= math.ceil(len(table) / 2)},
           "misses": misses, "table": table, "load_average_end": _common.load_average(),
           "machine": _common.machine_info()}
    _common.emit_json(rec)


if __name__ == "__main__":
    main()
