"""Startup time: a fresh Python process up to the end of its first short call, warm vs cold cache.

Each figure is the wall time of a fresh ``python -c`` process from its start to the end
of a 10-step call (issue 13), median of ``--repeats`` processes:

* ``sample_mala``: :func:`langevin_opt.sample`, MALA on Müller–Brown, 64 walkers, 10 steps.
* ``dynamics_lj108``: :class:`langevin_opt.particles.Dynamics`, Lennard-Jones liquid of
  108 atoms (FCC 3x3x3, density 0.8442, cutoff 2.5, neighbour list), BAOAB, build + 10 steps.
* ``sgld_mlp``: :func:`langevin_opt.sgmcmc.run_chains`, SGLD, 4 chains on an MLP 2-16-2
  (tanh, softmax cross-entropy, two moons, N = 500, batch 50), 10 steps.
* ``cli_quickstart``: ``langevin-opt run experiments/quickstart.toml`` end to end (the
  whole process), next to its pure run time (``run_seconds`` of its ``summary.json``).

*Warm*: the process finds the kernel cache filled (one untimed priming process per item
fills a private cache directory first).  *Cold*: every timed process gets a new empty
directory as both ``LANGEVIN_OPT_CACHE_DIR`` and ``NUMBA_CACHE_DIR``, so it compiles
everything, Numba's own cached functions of the package included (the cache is disabled
in effect: nothing is there to load).  A library item's time runs from just before the
parent starts the process to the child's clock reading right after the call (the two
read the same wall clock); the CLI item's is the whole process.  Warm and cold processes
alternate, so a change in background load hits both alike.

Targets (issue 13): ``sample_mala`` <= 1.5 s warm, ``dynamics_lj108`` <= 1.5 s warm,
``sgld_mlp`` <= 2.0 s warm, ``cli_quickstart`` end to end <= 1.3 x its run time warm.

Options: ``--repeats N`` (default 5), ``--quick`` (1 repeat, and ``cli_quickstart`` on
a 2,000-step copy of the config), ``--only NAME[,NAME]``.  The last line printed is one
JSON object with every figure, the ``warm_vs_cold`` ratios and the targets.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# _common first: it pins BLAS threads and puts the checkout on sys.path
from _common import REPO_ROOT, emit_json, load_average, machine_info

#: child programs: each prints one JSON line with the wall-clock time at the end of its call
CHILD = {
    "sample_mala": """
import langevin_opt as lo
mb = lo.muller_brown()
x0 = lo.uniform_positions([[-1.5, 1.0], [-0.5, 2.0]], 64, seed=1)
res = lo.sample(mb, x0, 10, method="mala", dt=2e-4, temperature=25.0, seed=3)
check = float(res.state.energies.sum())
""",
    "dynamics_lj108": """
from langevin_opt import particles as lp
x, box = lp.fcc_lattice(3, 0.8442)
md = lp.Dynamics(lp.ParticleSystem(x, box=box), lp.lennard_jones(cutoff=2.5, mode="truncated"),
                 lp.LangevinBAOAB(dt=0.005, friction=1.0), temperature=1.0,
                 neighbors=lp.NeighborList(2.5, skin=0.3), seed=1)
rec = md.run(10)
check = float(rec.potential_energy[-1])
""",
    "sgld_mlp": """
from langevin_opt import nn, sgmcmc
ds = nn.two_moons(500, 200, noise=0.1, seed=0)
net = nn.MLP([2, 16, 2], "tanh", "softmax_ce")
land = nn.mlp_landscape(net, ds.X_train, ds.y_train, batch_size=50, prior_sigma=1.0)
res = sgmcmc.run_chains(land, "sgld", net.init_params(0), 10, seed=1, n_chains=4,
                        step_size=0.05 / land.n_data, temperature=1.0)
check = float(res.samples.sum())
""",
}
TAIL = """
import json, time
t_end = time.time()
from langevin_opt.core import jitcache
print(json.dumps({"t_end": t_end, "check": check, "stats": jitcache.compile_stats()}))
"""
CLI_CHILD = ("import sys; from langevin_opt.cli import main; "
             "main(['run', sys.argv[1], '--out', sys.argv[2], '--overwrite', '--quiet'])")
TARGETS = {"sample_mala": 1.5, "dynamics_lj108": 1.5, "sgld_mlp": 2.0}
TARGET_CLI_RATIO = 1.3
#: the cold figures of issue 13 (before caching), for comparison
ISSUE_COLD_S = {"sample_mala": 13.5, "dynamics_lj108": 9.2, "sgld_mlp": 48.9}


def _env(cache: str) -> dict[str, str]:
    env = dict(os.environ, LANGEVIN_OPT_CACHE_DIR=cache, NUMBA_CACHE_DIR=cache)
    env.pop("LANGEVIN_OPT_CACHE", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, env.get("PYTHONPATH")) if p)
    return env


def _run_library(name: str, cache: str) -> dict:
    """One fresh process running item ``name``: seconds to the end of its call, stats."""
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", CHILD[name] + TAIL], env=_env(cache),
                         capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    if out.returncode:
        raise RuntimeError(f"{name} failed:\n{out.stderr[-3000:]}")
    rec = json.loads(out.stdout.strip().splitlines()[-1])
    return {"seconds": rec["t_end"] - t0, "check": rec["check"], "stats": rec["stats"]}


def _run_cli(config: Path, cache: str, work: str) -> dict:
    """``langevin-opt run CONFIG`` in a fresh process: whole-process seconds and summary times."""
    out_dir = os.path.join(work, "run")
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", CLI_CHILD, str(config), out_dir],
                         env=_env(cache), capture_output=True, text=True, cwd=REPO_ROOT,
                         check=False)
    seconds = time.time() - t0
    if out.returncode:
        raise RuntimeError(f"cli_quickstart failed:\n{out.stderr[-3000:]}")
    summary = json.loads(Path(out_dir, "summary.json").read_text())
    return {"seconds": seconds, "run_seconds": summary["run_seconds"],
            "compile_seconds": summary["compile_seconds"]}


def _median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def main() -> None:
    """Measure every item warm and cold and print the table, then one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="processes per figure (median)")
    ap.add_argument("--quick", action="store_true",
                    help="1 repeat; cli_quickstart on a 2,000-step copy of the config")
    ap.add_argument("--only", default="", help="comma-separated item names")
    args = ap.parse_args()
    repeats = 1 if args.quick else max(1, args.repeats)
    names = [*CHILD, "cli_quickstart"]
    if args.only:
        wanted = args.only.split(",")
        unknown = set(wanted) - set(names)
        if unknown:
            ap.error(f"unknown items {sorted(unknown)}; choose from {names}")
        names = [n for n in names if n in wanted]

    config = Path(REPO_ROOT, "experiments", "quickstart.toml")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench_startup_") as tmp:
        if args.quick and "cli_quickstart" in names:
            text = config.read_text().replace("steps = 20000", "steps = 2000")
            config = Path(tmp, "quickstart_quick.toml")
            config.write_text(text)
        warm_cache = os.path.join(tmp, "warm")
        for name in names:
            is_cli = name == "cli_quickstart"

            def once(cache: str, name: str = name, is_cli: bool = is_cli) -> dict:
                if is_cli:
                    with tempfile.TemporaryDirectory(dir=tmp) as work:
                        return _run_cli(config, cache, work)
                return _run_library(name, cache)

            once(warm_cache)  # priming: fills the warm cache (untimed)
            warm, cold = [], []
            for _ in range(repeats):  # alternate, so load changes hit both alike
                warm.append(once(warm_cache))
                with tempfile.TemporaryDirectory(dir=tmp, prefix="cold_") as fresh:
                    cold.append(once(fresh))
            w = _median([r["seconds"] for r in warm])
            c = _median([r["seconds"] for r in cold])
            row: dict = {"warm_s": w, "cold_s": c, "warm_vs_cold": w / c,
                         "warm_all_s": [r["seconds"] for r in warm],
                         "cold_all_s": [r["seconds"] for r in cold]}
            if is_cli:
                wr = _median([r["run_seconds"] for r in warm])
                cr = _median([r["run_seconds"] for r in cold])
                row.update(warm_run_s=wr, cold_run_s=cr, warm_end_to_end_vs_run=w / wr,
                           cold_end_to_end_vs_run=c / cr,
                           warm_compile_s=_median([r["compile_seconds"] for r in warm]),
                           cold_compile_s=_median([r["compile_seconds"] for r in cold]),
                           target_end_to_end_vs_run=TARGET_CLI_RATIO,
                           meets_target=w / wr <= TARGET_CLI_RATIO)
                print(f"{name:16s} warm {w:7.2f} s (run {wr:.2f} s, x{w / wr:.2f})   "
                      f"cold {c:7.2f} s (run {cr:.2f} s, x{c / cr:.2f})", flush=True)
            else:
                misses = [r["stats"]["misses"] for r in warm]
                row.update(warm_kernel_cache_misses=max(misses),
                           cold_kernel_cache_misses=max(r["stats"]["misses"] for r in cold),
                           same_result=len({r["check"] for r in warm + cold}) == 1,
                           target_warm_s=TARGETS[name], meets_target=w <= TARGETS[name],
                           issue13_cold_s=ISSUE_COLD_S[name])
                print(f"{name:16s} warm {w:7.2f} s   cold {c:7.2f} s   warm/cold "
                      f"{w / c:.3f}   target {TARGETS[name]} s   "
                      f"{'ok' if w <= TARGETS[name] else 'MISSED'}", flush=True)
            results[name] = row

    emit_json({"benchmark": "startup", "repeats": repeats, "quick": args.quick,
               "items": results,
               "warm_vs_cold": {k: v["warm_vs_cold"] for k, v in results.items()},
               "targets": {**{f"{k}_warm_s": v for k, v in TARGETS.items()},
                           "cli_quickstart_end_to_end_vs_run": TARGET_CLI_RATIO},
               "load_average": load_average(), "machine": machine_info()})


if __name__ == "__main__":
    main()
