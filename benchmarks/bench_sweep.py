"""Throughput of ``langevin_opt.sweep`` on local Dask clusters, and its overhead.

A sweep of 16 ``run`` points (double well, overdamped, one Numba thread each; the seed
varies) whose size is calibrated so that one point takes about ``--point-seconds``
(10 s) here.  Timed, in this order, after a warm-up point that fills the kernel cache:

* ``direct``: the 16 points run one after the other in this process with
  :func:`langevin_opt.runner.run_experiment` (warm kernels): the baseline;
* ``1w`` and ``2w``: :func:`langevin_opt.sweep.sweep` on a local cluster of 1 and of 2
  worker processes (1 thread each); the cluster start and a warm-up of each worker
  (imports, kernels loaded from the disk cache: about 2 s) are timed apart and not
  counted.

Last line: JSON with ``points_per_hour`` per contender, ``scaling_2w`` (time on 1 worker
over time on 2; target >= 1.8 on a 2-core machine), ``overhead_pct`` (1 worker against
direct; target <= 5 %), and the load average before and after (a loaded machine makes
the scaling meaningless).  ``--quick``: 4 points of about 1 s.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import tempfile
import time
from pathlib import Path

import _common as C  # noqa: I001  (sets thread env vars before numpy is imported)

from langevin_opt.runner import run_experiment
from langevin_opt.schema import validate_config

BASE = {
    "experiment": {"name": "bench_sweep", "seed": 1},
    "landscape": {"name": "double_well"},
    "integrator": {"kind": "overdamped", "dt": 1e-3},
    "ensemble": {"walkers": 64, "temperatures": [0.5], "steps": 20000, "init": "uniform"},
    "output": {"record_every": 2000, "checkpoint_every": 20000},
}


def point_config(steps: int, seed: int) -> dict:
    cfg = copy.deepcopy(BASE)
    cfg["ensemble"]["steps"] = steps
    cfg["output"]["record_every"] = max(steps // 10, 1)
    cfg["output"]["checkpoint_every"] = max(steps // 4, 1)
    cfg["experiment"]["seed"] = seed
    return cfg


def calibrate(target_s: float, work: Path) -> int:
    """Steps for one point of about ``target_s`` seconds (after a warm-up run)."""
    steps = 20000
    run_experiment(validate_config(point_config(steps, 0)), work / "warm", overwrite=True,
                   threads=1)
    for _ in range(4):
        t0 = time.perf_counter()
        run_experiment(validate_config(point_config(steps, 0)), work / "cal", overwrite=True,
                       threads=1)
        dt = time.perf_counter() - t0
        if abs(dt / target_s - 1) < 0.15:
            break
        steps = max(1000, int(steps * target_s / max(dt, 1e-3)))
    return steps


def warm_worker(work: str) -> float:
    """Import the package and load the run's kernels in a worker process (seconds)."""
    t0 = time.perf_counter()
    run_experiment(validate_config(point_config(1000, 0)), Path(work) / f"w{os.getpid()}",
                   overwrite=True, threads=1)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 points of about 1 s")
    ap.add_argument("--points", type=int, default=None)
    ap.add_argument("--point-seconds", type=float, default=None)
    args = ap.parse_args()
    n_points = args.points or (4 if args.quick else 16)
    target = args.point_seconds or (1.0 if args.quick else 10.0)

    import distributed

    from langevin_opt.sweep import sweep

    load_before = C.load_average()
    out: dict = {"benchmark": "sweep", "machine": C.machine_info(), "points": n_points,
                 "target_point_s": target, "load_before": load_before}
    work = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        steps = calibrate(target, work)
        out["steps_per_point"] = steps
        seeds = list(range(1, n_points + 1))
        t0 = time.perf_counter()
        for s in seeds:
            run_experiment(validate_config(point_config(steps, s)), work / "direct" / str(s),
                           threads=1)
        times = {"direct": time.perf_counter() - t0}
        spec = point_config(steps, 1)
        spec["sweep"] = {"parameters": {"experiment.seed": seeds}}
        starts, warm = {}, {}
        for n in (1, 2):
            t0 = time.perf_counter()
            cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1,
                                               processes=True, dashboard_address=":0")
            client = distributed.Client(cluster, set_as_default=False)
            starts[f"{n}w"] = time.perf_counter() - t0
            try:
                # worker processes start cold (imports, kernels from the disk cache): warm
                # them first, as the direct baseline is warm; that time is reported apart
                warm[f"{n}w"] = max(client.run(warm_worker, str(work / "warm")).values())
                t0 = time.perf_counter()
                res = sweep(spec, work / f"sweep{n}", client=client)
                times[f"{n}w"] = time.perf_counter() - t0
                assert set(res.statuses.values()) == {"done"}, res.errors
            finally:
                client.close()
                cluster.close()
        out["seconds"] = times
        out["cluster_start_s"] = starts
        out["worker_warmup_s"] = warm
        out["points_per_hour"] = {k: 3600.0 * n_points / v for k, v in times.items()}
        out["scaling_2w"] = times["1w"] / times["2w"]
        out["overhead_pct"] = 100.0 * (times["1w"] / times["direct"] - 1.0)
        out["load_after"] = C.load_average()
        out["targets_met"] = {"scaling_2w>=1.8": out["scaling_2w"] >= 1.8,
                              "overhead_pct<=5": out["overhead_pct"] <= 5.0}
        print(C.format_table(
            ["contender", "seconds", "points/hour"],
            [[k, f"{v:.1f}", f"{out['points_per_hour'][k]:.0f}"] for k, v in times.items()]))
        print(f"scaling_2w {out['scaling_2w']:.2f} (target >= 1.8), overhead "
              f"{out['overhead_pct']:.1f} % (target <= 5), load {load_before} -> "
              f"{out['load_after']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    C.emit_json(out)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", C.REPO_ROOT)  # worker processes import langevin_opt
    main()
