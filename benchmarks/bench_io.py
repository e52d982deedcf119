"""Slowdown caused by recording trajectories to H5MD at the default interval.

Two systems, each run the way ``langevin-opt run`` runs them (chunks of
``checkpoint_every`` steps through :class:`langevin_opt.Sampler`):

* ``walkers``: Müller–Brown, 100,000 walkers, overdamped Langevin, dt = 1e-4, T = 10;
* ``atoms32k``: a 32,000-particle, 3-D frame.  Until the particle systems exist (interatomic
  potentials issue) this is a stand-in with the same frame size: 32,000 walkers in an
  anisotropic 3-D harmonic well.  Its force is far cheaper than a Lennard-Jones force, so the
  measured overhead is an upper bound of what a real 32,000-atom system would see.

For each system, in the same process: the plain run (frames not recorded, no file) and the
recorded run (frames every ``record_every`` = the config default 100 steps, energies as a
per-walker observable, a checkpoint and flush every ``checkpoint_every`` = 5000 steps... scaled
down with ``--steps``), interleaved, medians of repeats after a warm-up that also compiles.
Last line: JSON with ``overhead_pct`` (the larger of the two systems) and per-system figures.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import _common as C  # noqa: I001  (sets thread env vars before numpy is imported)
import numpy as np

import langevin_opt as lo
from langevin_opt._version import __version__
from langevin_opt.schema import SECTIONS
from langevin_opt.storage import H5MDWriter


def make_runner(landscape, x0, steps, record_every, checkpoint_every, workdir, record,
                compression=None):
    sampler = lo.Sampler(landscape, lo.Overdamped(dt=1e-4), temperature=10.0, seed=1,
                         total_steps=steps)
    state0 = sampler.init(x0)
    n_buf = checkpoint_every // record_every + 2  # reused across chunks, as the runner does
    buffer = (np.empty((n_buf,) + x0.shape), np.empty((n_buf, x0.shape[0])))

    def go():
        state = state0
        writer = None
        if record:
            path = os.path.join(workdir, "bench.h5")
            writer = H5MDWriter(path, n_particles=x0.shape[0], dim=x0.shape[1],
                                creator_version=__version__, overwrite=True,
                                compression=compression)
        while state.step < steps:
            n = min(checkpoint_every, steps - state.step)
            res = sampler.run(state, n, record_every=record_every if record else 0, threads=2,
                              frame_buffer=buffer if record else None)
            state = res.state
            if writer is not None:
                t = res.trajectory
                times = t.steps * 1e-4
                writer.append_frames(t.steps, times, position=t.positions)
                writer.append_observables(t.steps, times, energy=t.energies)
                writer.write_checkpoint(state.step, {"positions": state.positions,
                                                     "energies": state.energies,
                                                     "accepted": state.accepted})
        if writer is not None:
            writer.close()
        return state.positions.mean(axis=0)

    return go


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--walkers", type=int, default=100_000)
    ap.add_argument("--atoms", type=int, default=32_000)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    record_every = SECTIONS["output"]["record_every"].default
    checkpoint_every = min(SECTIONS["output"]["checkpoint_every"].default, args.steps // 2)
    print(f"load average: {C.load_average()}")
    print(f"record_every = {record_every} (config default), checkpoint_every = "
          f"{checkpoint_every}, steps = {args.steps}")
    mb = lo.muller_brown()
    well = lo.gaussian(dim=3, stiffness=[1.0, 2.0, 3.0])
    systems = {
        "walkers": (mb, np.tile(mb.minima[0], (args.walkers, 1))),
        "atoms32k": (well, lo.uniform_positions([[-1, 1]] * 3, args.atoms, seed=2)),
    }
    out: dict = {"systems": {}, "machine": C.machine_info()}
    with tempfile.TemporaryDirectory() as work:
        for name, (land, x0) in systems.items():
            contenders = {
                "plain": make_runner(land, x0, args.steps, record_every, checkpoint_every,
                                     work, record=False),
                "recorded": make_runner(land, x0, args.steps, record_every, checkpoint_every,
                                        work, record=True),
            }
            timings, results = C.time_interleaved(contenders, repeats=args.repeats, warmup=1)
            assert np.array_equal(results["plain"], results["recorded"]), "runs differ"
            tp, tr = timings["plain"].median, timings["recorded"].median
            frames = args.steps // record_every + 1
            mbytes = frames * x0.size * 8 / 1e6
            overhead = 100.0 * (tr / tp - 1.0)
            out["systems"][name] = {
                "n": x0.shape[0], "dim": x0.shape[1], "plain_s": tp, "recorded_s": tr,
                "overhead_pct": overhead, "positions_MB": mbytes,
                "walker_steps_per_s_plain": x0.shape[0] * args.steps / tp,
                "spread_plain": timings["plain"].spread,
                "spread_recorded": timings["recorded"].spread,
            }
            print(C.format_table(
                ["system", "plain s", "recorded s", "overhead %", "positions MB"],
                [[name, f"{tp:.3f}", f"{tr:.3f}", f"{overhead:.2f}", f"{mbytes:.1f}"]]))
    out["overhead_pct"] = max(s["overhead_pct"] for s in out["systems"].values())
    out["record_every"] = record_every
    C.emit_json(out)


if __name__ == "__main__":
    main()
