"""Slowdown caused by recording trajectories to H5MD at the default interval, sync and async.

Two systems:

* ``walkers``: Müller–Brown, 100,000 walkers, overdamped Langevin, dt = 1e-4, T = 10, run
  the way ``langevin-opt run`` runs them (chunks of ``checkpoint_every`` steps through
  :class:`langevin_opt.Sampler`; frames every ``record_every`` = the config default 100
  steps, energies as a per-walker observable, a flush and a checkpoint after every chunk);
* ``lj32k``: a real 32,000-atom Lennard-Jones liquid (the fcc set-up of
  ``bench_lj.py``: rho = 0.8442, r_c = 2.5, Langevin BAOAB, T = 1, neighbor list) run by
  :class:`langevin_opt.particles.Dynamics`, frames (positions, velocities, images and the
  frame observables) and observables every ``record_every`` = 100 steps into
  :func:`langevin_opt.particles.open_trajectory` with its defaults (a flush at the latest
  10 s after a frame, and at ``close``).

For each system, in the same process, interleaved, medians of repeats after a warm-up
that also compiles: the plain run (nothing recorded, no file), the run recorded by the
synchronous writer (``asynchronous=False``: every flush and checkpoint in the computing
thread) and by the asynchronous one (the default: a writer thread, the compiled kernels
release the GIL).  The three runs must end in bit-identical states.  ``overhead_pct`` is
the larger of the two systems' async overheads; ``met`` is true only if it is <= 2 and
the machine was quiet (other processes kept fewer than 0.3 cores busy, sampled before and
after the measurement while this process idled).  The load averages at the start and end
are reported (the end one includes this benchmark's own load).

The time of ``close`` (final flush and consolidation into one file: a fixed cost at the
end of a run, which no writer thread can overlap) is reported apart (``close_*_s``); it is
included in the overheads.  About 3 minutes on a quiet 2-core machine with the defaults.

Run:  python benchmarks/bench_io.py [--steps 5000] [--md-steps 600] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import _common as C  # noqa: I001  (sets thread env vars before numpy is imported)
import bench_lj
import numba
import numpy as np

import langevin_opt as lo
from langevin_opt import particles as lp
from langevin_opt._version import __version__
from langevin_opt.schema import SECTIONS
from langevin_opt.storage import H5MDWriter

TARGET_PCT = 2.0
QUIET_CORES = 0.3
MODES = {"plain": None, "sync": False, "async": True}


def walker_runner(x0, steps, record_every, checkpoint_every, workdir, asynchronous,
                  threads):
    """A zero-argument run of the walker ensemble (``asynchronous=None``: no recording)."""
    record = asynchronous is not None
    sampler = lo.Sampler(lo.muller_brown(), lo.Overdamped(dt=1e-4), temperature=10.0, seed=1,
                         total_steps=steps)
    state0 = sampler.init(x0)
    n_buf = checkpoint_every // record_every + 2  # reused across chunks, as the runner does
    buffer = (np.empty((n_buf,) + x0.shape), np.empty((n_buf, x0.shape[0])))

    def go():
        t0 = time.perf_counter()
        state = state0
        writer = None
        if record:
            writer = H5MDWriter(os.path.join(workdir, "walkers.h5"), n_particles=x0.shape[0],
                                dim=x0.shape[1], creator_version=__version__, overwrite=True,
                                asynchronous=asynchronous)
        while state.step < steps:
            n = min(checkpoint_every, steps - state.step)
            res = sampler.run(state, n, record_every=record_every if record else 0,
                              threads=threads, frame_buffer=buffer if record else None)
            state = res.state
            if writer is not None:  # what runner._append and the checkpoint do
                t = res.trajectory
                times = t.steps * 1e-4
                writer.append_frames(t.steps, times, position=t.positions)
                writer.append_observables(t.steps, times, energy=t.energies,
                                          mean_energy=t.energies.mean(axis=1))
                writer.write_checkpoint(state.step, {"positions": state.positions,
                                                     "energies": state.energies,
                                                     "accepted": state.accepted})
        t_close = time.perf_counter()
        if writer is not None:
            writer.close()
        done = time.perf_counter()
        return done - t0, (state.positions.copy(), done - t_close)

    return go


def lj_runner(n_cells, steps, record_every, workdir, asynchronous, threads):
    """A zero-argument MD run of the LJ liquid from the same start state every time.

    The ``Dynamics`` object (lattice, neighbor list, first forces) is built untimed:
    ``go()`` returns ``(seconds of the run, writer creation and close included, state)``.
    """
    def go():
        md = bench_lj.make_dynamics(n_cells)
        t0 = time.perf_counter()
        writer = None
        if asynchronous is not None:
            writer = lp.open_trajectory(os.path.join(workdir, "lj.h5"), md.system,
                                        overwrite=True, asynchronous=asynchronous)
        try:
            with numba_threads(threads):
                md.run(steps, record_every=record_every, writer=writer,
                       frame_every=record_every if writer is not None else 0)
        finally:
            t_close = time.perf_counter()
            if writer is not None:
                writer.close()
        done = time.perf_counter()
        return done - t0, (np.concatenate([md.x.ravel(), md.v.ravel()]), done - t_close)

    return go


class numba_threads:
    """Run the block with ``n`` Numba threads (the MD kernels use the global setting)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> None:
        self.old = numba.get_num_threads()
        numba.set_num_threads(min(self.n, numba.config.NUMBA_NUM_THREADS))

    def __exit__(self, *exc: object) -> None:
        numba.set_num_threads(self.old)


def interleaved(contenders, repeats):
    """``C.time_interleaved`` for contenders returning ``(seconds, (result, close seconds))``.

    Setup (the ``Dynamics`` object) is untimed; the median seconds of ``close`` (the
    final flush and the consolidation, the part no writer thread can hide) are returned
    as a third dict.
    """
    timings = {name: C.Timing() for name in contenders}
    results, closes = {}, {name: [] for name in contenders}
    for name, fn in contenders.items():  # warm-up: compiles, fills caches
        results[name] = fn()[1][0]
    for _ in range(repeats):
        for name, fn in contenders.items():
            c0 = time.process_time()
            dt, (results[name], close_s) = fn()
            timings[name].cpu_times.append(time.process_time() - c0)
            timings[name].times.append(dt)
            closes[name].append(close_s)
    return timings, results, {name: float(np.median(v)) for name, v in closes.items()}


def measure(name, contenders, repeats, n, steps, frame_mb):
    timings, results, closes = interleaved(contenders, repeats)
    for mode in ("sync", "async"):
        assert np.array_equal(results["plain"], results[mode]), f"{name}: {mode} run differs"
    tp = timings["plain"].median
    row = {"n": n, "steps": steps, "positions_MB": frame_mb, "plain_s": tp}
    for mode in ("sync", "async"):
        tr = timings[mode].median
        row[f"{mode}_s"] = tr
        row[f"{mode}_overhead_pct"] = 100.0 * (tr / tp - 1.0)
        row[f"spread_{mode}"] = timings[mode].spread
        row[f"close_{mode}_s"] = closes[mode]
        row[f"cpu_per_wall_{mode}"] = timings[mode].cpu_per_wall
    row["spread_plain"] = timings["plain"].spread
    row["overhead_pct"] = row["async_overhead_pct"]
    print(C.format_table(
        ["system", "plain s", "sync s", "async s", "sync %", "async %", "close sync/async s",
         "positions MB"],
        [[name, f"{tp:.3f}", f"{row['sync_s']:.3f}", f"{row['async_s']:.3f}",
          f"{row['sync_overhead_pct']:.2f}", f"{row['async_overhead_pct']:.2f}",
          f"{closes['sync']:.3f}/{closes['async']:.3f}", f"{frame_mb:.1f}"]]), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--walkers", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=5000, help="walker steps")
    ap.add_argument("--cells", type=int, default=20,
                    help="fcc cells per edge of the LJ liquid (4 n^3 atoms; 20: 32,000)")
    ap.add_argument("--md-steps", type=int, default=600)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    record_every = SECTIONS["output"]["record_every"].default
    checkpoint_every = min(SECTIONS["output"]["checkpoint_every"].default, args.steps // 2)
    out: dict = {"systems": {}, "machine": C.machine_info(), "record_every": record_every,
                 "checkpoint_every": checkpoint_every, "threads": args.threads,
                 "load_average_start": C.load_average(),
                 "busy_cores_start": C.busy_cores(2.0)}
    print(f"load average: {out['load_average_start']}, other processes busy: "
          f"{out['busy_cores_start']:.2f} cores")
    print(f"record_every = {record_every} (config default), checkpoint_every = "
          f"{checkpoint_every}, walker steps = {args.steps}, MD steps = {args.md_steps}")
    mb = lo.muller_brown()
    x0 = np.tile(mb.minima[0], (args.walkers, 1))
    with tempfile.TemporaryDirectory() as work:
        walkers = {mode: walker_runner(x0, args.steps, record_every, checkpoint_every, work,
                                       asyn, args.threads) for mode, asyn in MODES.items()}
        frames = args.steps // record_every + 1
        out["systems"]["walkers"] = measure("walkers", walkers, args.repeats, args.walkers,
                                            args.steps, frames * x0.size * 8 / 1e6)
        lj = {mode: lj_runner(args.cells, args.md_steps, record_every, work, asyn,
                              args.threads) for mode, asyn in MODES.items()}
        n_atoms = 4 * args.cells**3
        frames = args.md_steps // record_every
        out["systems"]["lj32k"] = measure("lj32k", lj, args.repeats, n_atoms, args.md_steps,
                                          frames * n_atoms * 3 * 8 / 1e6)
    out["load_average_end"] = C.load_average()
    out["busy_cores_end"] = C.busy_cores(2.0)
    quiet = max(out["busy_cores_start"], out["busy_cores_end"]) < QUIET_CORES
    out["quiet"] = bool(quiet)
    out["overhead_pct"] = max(s["async_overhead_pct"] for s in out["systems"].values())
    out["sync_overhead_pct"] = max(s["sync_overhead_pct"] for s in out["systems"].values())
    out["target_pct"] = TARGET_PCT
    out["met"] = bool(quiet and out["overhead_pct"] <= TARGET_PCT)
    print(f"load average at the end: {out['load_average_end']} (includes this run), other "
          f"processes busy: {out['busy_cores_end']:.2f} cores; "
          + ("quiet" if quiet else "NOT quiet: the overheads measure the load, not the code"))
    C.emit_json(out)


if __name__ == "__main__":
    main()
