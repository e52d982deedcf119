"""Escape events per second of the first-passage loop on Müller–Brown, vs the plain ensemble loop.

The computation: M walkers (default 4,000) start at the deepest Müller–Brown
minimum A (-0.558224, 1.441726) and run overdamped Langevin (Euler–Maruyama,
dt = 2e-5) at T = 30, where the mean escape time into the ball around
minimum C is about 1e4 steps, until each enters the commitment ball of
another minimum (``basins_from_landscape``: half the distance from each
minimum to its nearest saddle), or is censored at ``--censor`` mean escape
times (default 5: about 0.7% censored).  Contenders, all float64:

* ``first_passage_1t`` / ``first_passage_2t``:
  ``langevin_opt.rates.first_passage`` with ``threads=1`` / ``threads=2``
  (the whole call is timed, including validation and packing of the running
  walkers between chunks of ``--chunk`` steps).
* ``plain_loop_1t`` / ``plain_loop_2t``: ``Sampler.run`` of the same
  landscape, integrator, dt and T for ``--plain-steps`` steps of all M walkers
  (no escape test: the baseline cost of a walker-step).

Reported: escape events per second (first-passage loop), walker-steps per
second of each contender, ``vs_plain_loop`` = first-passage walker-steps/s
divided by plain-loop walker-steps/s at the same thread count (target >= 0.8;
the first-passage loop also pays for the commitment test and for the tail of
the run, when few walkers are left; ``vs_plain_loop_1t_cpu`` is the 1-thread ratio
by process CPU time, robust on a loaded machine), and ``scaling_2t`` = first-passage wall
time on 1 thread / on 2 threads.  JIT compile time is measured on a first call
with a small ensemble; then one warm-up run and ``--repeats`` timed runs per
contender, interleaved round-robin; medians are reported.  As a check, the
first-passage results on 1 and 2 threads must be bit-identical.

Run:  python benchmarks/bench_rates.py [--walkers M] [--repeats R] [--chunk C]
The last line printed is one JSON object.
"""

from __future__ import annotations

# _common pins the BLAS/OpenMP thread pools, so it must be imported before NumPy
import _common  # isort: skip

import argparse
import math

import numba
import numpy as np

import langevin_opt as lo
from langevin_opt.rates import basins_from_landscape, exponential_rate, first_passage

DT = 2e-5
TEMPERATURE = 30.0
SEED = 20261124


def main() -> None:
    """Run the benchmark and print the table and the JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--walkers", type=int, default=4000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=1000)
    ap.add_argument("--censor", type=float, default=5.0,
                    help="censoring time in mean escape times (about 1e4 steps each)")
    ap.add_argument("--plain-steps", type=int, default=10000)
    args = ap.parse_args()

    mb = lo.muller_brown()
    integ = lo.Overdamped(dt=DT)
    basins = basins_from_landscape(mb)
    m = args.walkers
    x0 = np.tile(mb.minima[0], (m, 1))
    max_steps = int(args.censor * 1e4)
    n_thr = min(2, numba.config.NUMBA_NUM_THREADS)
    threads = [1, 2] if n_thr >= 2 else [1]

    # compile times (first calls, tiny ensembles)
    t_fp, _ = _common.time_once(lambda: first_passage(
        mb, integ, x0[:8], basins, temperature=TEMPERATURE, max_steps=10, seed=SEED))
    sampler = lo.Sampler(mb, integ, temperature=TEMPERATURE, seed=SEED)
    small = sampler.init(x0[:8])
    t_pl, _ = _common.time_once(lambda: sampler.run(small, 10))
    state = sampler.init(x0)

    def fp(th: int):  # noqa: ANN202
        return lambda: first_passage(mb, integ, x0, basins, temperature=TEMPERATURE,
                                     max_steps=max_steps, seed=SEED, chunk=args.chunk,
                                     threads=th)

    def plain(th: int):  # noqa: ANN202
        return lambda: sampler.run(state, args.plain_steps, threads=th)

    contenders = {}
    for th in threads:
        contenders[f"first_passage_{th}t"] = fp(th)
        contenders[f"plain_loop_{th}t"] = plain(th)
    timings, results = _common.time_interleaved(
        contenders, repeats=args.repeats, progress=lambda s: print("  " + s, flush=True))

    r1 = results["first_passage_1t"]
    identical = True
    if "first_passage_2t" in results:
        r2 = results["first_passage_2t"]
        identical = bool(np.array_equal(r1.steps, r2.steps)
                         and np.array_equal(r1.final_basin, r2.final_basin)
                         and np.array_equal(r1.positions, r2.positions))
    est = exponential_rate(r1.times, r1.censored)
    mean_steps = 1.0 / est.rate / DT
    rows = []
    rec: dict = {}
    for name, tm in timings.items():
        if name.startswith("first_passage"):
            ws = r1.walker_steps / tm.median
            extra = f"{r1.n_events / tm.median:,.0f} escapes/s"
        else:
            ws = m * args.plain_steps / tm.median
            extra = ""
        rec[name] = {"median_s": tm.median, "walker_steps_per_s": ws, "spread": tm.spread,
                     "cpu_per_wall": tm.cpu_per_wall}
        rows.append([name, f"{tm.median:.3f}", f"{ws / 1e6:.2f}", f"{tm.spread:.2f}",
                     f"{tm.cpu_per_wall:.2f}", extra])
    print(_common.format_table(["contender", "median s", "Mwalker-steps/s", "spread",
                                "cpu/wall", ""], rows))
    top = f"{threads[-1]}t"
    fp_top = rec[f"first_passage_{top}"]
    vs_plain = fp_top["walker_steps_per_s"] / rec[f"plain_loop_{top}"]["walker_steps_per_s"]
    vs_plain_1t = (rec["first_passage_1t"]["walker_steps_per_s"]
                   / rec["plain_loop_1t"]["walker_steps_per_s"])
    # on a loaded machine wall times are noisy; process CPU time of the 1-thread runs is not
    vs_plain_cpu_1t = ((r1.walker_steps / timings["first_passage_1t"].cpu_median)
                       / (m * args.plain_steps / timings["plain_loop_1t"].cpu_median))
    scaling = (timings["first_passage_1t"].median / timings["first_passage_2t"].median
               if "first_passage_2t" in timings else math.nan)
    escapes = r1.n_events / timings[f"first_passage_{top}"].median
    print(f"mean escape time {mean_steps:.0f} steps (k = {est.rate:.4g} per time unit, "
          f"{est.n_events} escapes, {est.n_censored} censored at {max_steps} steps); "
          f"compile: first_passage {t_fp:.1f} s, Sampler {t_pl:.1f} s; "
          f"1t/2t results identical: {identical}")
    print(f"escapes/s ({top}) {escapes:,.0f}; first-passage walker-steps/s vs plain loop: "
          f"{vs_plain:.3f} ({top}), {vs_plain_1t:.3f} (1t), {vs_plain_cpu_1t:.3f} (1t, by CPU "
          f"time); scaling 1t -> 2t: {scaling:.2f}x")
    _common.emit_json({
        "benchmark": "bench_rates",
        "escapes_per_s": escapes,
        "vs_plain_loop": vs_plain,
        "scaling_2t": scaling,
        "vs_plain_loop_1t": vs_plain_1t,
        "vs_plain_loop_1t_cpu": vs_plain_cpu_1t,
        "threads": top,
        "walkers": m,
        "temperature": TEMPERATURE,
        "dt": DT,
        "mean_escape_steps": mean_steps,
        "censored": est.n_censored,
        "compile_s": {"first_passage": t_fp, "sampler": t_pl},
        "identical_1t_2t": identical,
        "contenders": rec,
        "machine": _common.machine_info(),
    })


if __name__ == "__main__":
    main()
