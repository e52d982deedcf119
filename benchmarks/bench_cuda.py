"""GPU vs CPU throughput of the CUDA backend, in one run on one machine.

Cases:

* ``muller_brown``: overdamped Langevin on Müller–Brown, 10^6 walkers, dt = 1e-4,
  T = 25: walker-steps/s with ``backend="cuda"`` and with ``backend="cpu"``
  (all Numba threads).
* ``lj_32000``, ``lj_256000``: Lennard-Jones liquid (fcc at rho = 0.8442, r_c = 2.5
  truncated, Verlet skin 0.3, BAOAB dt = 0.005, T = 1, friction 1; the system of
  ``bench_lj.py``): atom-steps/s of ``Dynamics(..., backend="cuda")`` and of the CPU
  ``Dynamics`` with a neighbour list.

Protocol: each contender first runs untimed (compilation, neighbour lists), then
``--repeats`` timed blocks; medians are reported.  The GPU runs more steps per
block than the CPU (``--gpu-steps`` / ``--cpu-steps``) so that both blocks last a
measurable time; throughputs are per step.  Agreement is checked on the side: a
small Müller–Brown ensemble on both backends (positions should be bit-identical
with the default ``LANGEVIN_OPT_CUDA_FMA=0``) and the potential energy of the
32,000-atom liquid after a few steps on both (relative difference ~1e-13: the
GPU sums forces in another order).

Without a usable NVIDIA GPU (or under the CUDA simulator) it says so and exits 0.

Run:  python benchmarks/bench_cuda.py [--walkers 1000000] [--sizes 32000 256000]
The last line printed is one JSON object with the throughputs and ``gpu_vs_cpu``
per case.
"""

from __future__ import annotations

import _common  # isort: skip

import argparse
import os
import statistics
import time

import numba
import numpy as np

import langevin_opt as lo
from langevin_opt import cuda as lcuda
from langevin_opt import particles as lp

RHO, RC, SKIN, DT, T, FRICTION = 0.8442, 2.5, 0.3, 0.005, 1.0, 1.0
SEED = 12345


def _median_rate(fn, work: float, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return work / statistics.median(times), times


def bench_walkers(n_walkers: int, gpu_steps: int, cpu_steps: int, repeats: int) -> dict:
    mb = lo.muller_brown()
    x0 = lo.uniform_positions([[-1.5, 1.0], [-0.5, 2.0]], n_walkers, seed=1)
    out: dict = {"walkers": n_walkers}
    for be, steps in (("cuda", gpu_steps), ("cpu", cpu_steps)):
        s = lo.Sampler(mb, lo.Overdamped(1e-4), temperature=25.0, seed=SEED, backend=be)
        st = s.init(x0)
        t0 = time.perf_counter()
        st = s.run(st, 10).state  # compile + warm-up
        out[f"{be}_first_call_s"] = time.perf_counter() - t0
        holder = {"st": st}

        def run(s=s, steps=steps, holder=holder):
            holder["st"] = s.run(holder["st"], steps).state

        rate, times = _median_rate(run, n_walkers * steps, repeats)
        out[f"{be}_walker_steps_per_s"] = rate
        out[f"{be}_times_s"] = times
        out[f"{be}_steps_per_block"] = steps
    out["gpu_vs_cpu"] = out["cuda_walker_steps_per_s"] / out["cpu_walker_steps_per_s"]
    # agreement on a small ensemble
    x = x0[:4096]
    res = [lo.sample(mb, x, 200, dt=1e-4, temperature=25.0, seed=SEED, backend=be)
           for be in ("cpu", "cuda")]
    diff = np.abs(res[0].state.positions - res[1].state.positions)
    out["check_max_abs_diff_positions"] = float(diff.max())
    out["check_bit_identical"] = bool(np.array_equal(res[0].state.positions,
                                                     res[1].state.positions))
    return out


def _liquid(n_atoms: int, backend: str) -> lp.Dynamics:
    cells = round((n_atoms / 4) ** (1 / 3))
    if 4 * cells**3 != n_atoms:
        raise SystemExit(f"--sizes: {n_atoms} is not 4 k^3 (an fcc lattice)")
    x, box = lp.fcc_lattice(cells, RHO)
    system = lp.ParticleSystem(x, box=box)
    return lp.Dynamics(system, lp.lennard_jones(cutoff=RC, mode="truncated"),
                       lp.LangevinBAOAB(dt=DT, friction=FRICTION), temperature=T,
                       neighbors=lp.NeighborList(RC, skin=SKIN), seed=SEED, backend=backend)


def bench_lj(n_atoms: int, gpu_steps: int, cpu_steps: int, repeats: int) -> dict:
    out: dict = {"atoms": n_atoms}
    energies = {}
    for be, steps in (("cuda", gpu_steps), ("cpu", cpu_steps)):
        t0 = time.perf_counter()
        md = _liquid(n_atoms, be)
        md.run(10)
        energies[be] = md.energy
        out[f"{be}_setup_and_first_10_steps_s"] = time.perf_counter() - t0
        rate, times = _median_rate(lambda md=md, steps=steps: md.run(steps), n_atoms * steps,
                                   repeats)
        out[f"{be}_atom_steps_per_s"] = rate
        out[f"{be}_times_s"] = times
        out[f"{be}_steps_per_block"] = steps
    out["gpu_vs_cpu"] = out["cuda_atom_steps_per_s"] / out["cpu_atom_steps_per_s"]
    out["check_rel_diff_energy_after_10_steps"] = abs(energies["cuda"] - energies["cpu"]) / abs(
        energies["cpu"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--walkers", type=int, default=1_000_000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[32_000, 256_000])
    ap.add_argument("--gpu-steps", type=int, default=5000, help="walker steps per GPU block")
    ap.add_argument("--cpu-steps", type=int, default=200, help="walker steps per CPU block")
    ap.add_argument("--md-gpu-steps", type=int, default=500)
    ap.add_argument("--md-cpu-steps", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    record: dict = {"benchmark": "bench_cuda", "machine": _common.machine_info(),
                    "fma": os.environ.get("LANGEVIN_OPT_CUDA_FMA", "0") == "1"}
    reason = None
    if lcuda.backend.simulator():
        reason = "NUMBA_ENABLE_CUDASIM=1: the CUDA simulator is not a GPU"
    else:
        try:
            lcuda.require()
        except lcuda.BackendUnavailableError as err:
            reason = str(err)
    if reason is not None:
        print(f"bench_cuda: no CUDA GPU to benchmark here ({reason}); nothing measured.")
        record.update(skipped=reason, cases={}, gpu_vs_cpu={})
        _common.emit_json(record)
        return

    from numba import cuda

    dev = cuda.get_current_device()
    record["gpu"] = {"name": dev.name.decode() if isinstance(dev.name, bytes) else dev.name,
                     "compute_capability": list(dev.compute_capability)}
    record["cpu_threads"] = numba.get_num_threads()
    print(f"GPU: {record['gpu']['name']} (cc {dev.compute_capability}); CPU backend on "
          f"{record['cpu_threads']} Numba threads")
    cases: dict = {}
    cases["muller_brown"] = bench_walkers(args.walkers, args.gpu_steps, args.cpu_steps,
                                          args.repeats)
    for n in args.sizes:
        cases[f"lj_{n}"] = bench_lj(n, args.md_gpu_steps, args.md_cpu_steps, args.repeats)
    rows = []
    for name, c in cases.items():
        key = "walker_steps_per_s" if name == "muller_brown" else "atom_steps_per_s"
        rows.append((name, key.replace("_per_s", "/s"), f"{c['cuda_' + key]:.3e}",
                     f"{c['cpu_' + key]:.3e}", f"{c['gpu_vs_cpu']:.1f}"))
    print(_common.format_table(["case", "unit", "gpu", "cpu", "gpu/cpu"], rows))
    record["cases"] = cases
    record["gpu_vs_cpu"] = {k: v["gpu_vs_cpu"] for k, v in cases.items()}
    _common.emit_json(record)


if __name__ == "__main__":
    main()
