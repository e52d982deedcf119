"""Figure and table: throughput against the peer codes, from the benchmarks' JSON records.

Reads only the records that the benchmarks wrote (``LANGEVIN_OPT_BENCH_RECORD``; the
manifest's ``performance`` experiment runs them) and never times anything itself::

    python paper/build.py --rerun performance     # runs the benchmarks, a quiet machine
    python paper/figures/fig_performance.py [RECORD_DIR] [OUT.png]

Every row is one task on one thread: our throughput, the peer's in the same run, and their
ratio (above 1: we are faster).  A row whose record says that another process held a core
during the run is marked ``busy`` (its ratio is reported but not judged).  Writes
``OUT.json`` with every row, the machine, the date and the load averages.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paper import require_fresh, write_numbers  # noqa: E402

HERE = Path(__file__).resolve().parent

#: (record, task, unit, our key path, [(peer label, peer key path), ...]); ``{n}`` in a path
#: is expanded over the sizes present in the record.
ROWS = [
    ("bench_walkers", "overdamped walkers, Müller–Brown", "walker-steps/s",
     "walker_steps_per_s.langevin_opt_1t",
     [("NumPy", "walker_steps_per_s.numpy"), ("scalar C", "walker_steps_per_s.c_scalar"),
      ("blocked SIMD C", "walker_steps_per_s.c_simd_1t")]),
    ("bench_lj", "LJ liquid BAOAB, N = {n}", "atom-steps/s",
     "atom_steps_per_s.{n}.langevin_opt_1t",
     [("LAMMPS", "atom_steps_per_s.{n}.lammps_1t"),
      ("LAMMPS opt", "atom_steps_per_s.{n}.lammps_opt_1t")]),
    ("bench_sgld", "SGLD, MLP 64-128-10, float64", "steps/s",
     "steps_per_s.langevin_opt_1chain",
     [("NumPy", "steps_per_s.numpy"), ("PyTorch", "steps_per_s.torch")]),
    ("bench_sgld", "SGLD, MLP 64-128-10, float32", "steps/s",
     "steps_per_s.langevin_opt_f32_1chain",
     [("NumPy", "steps_per_s.numpy_f32"), ("PyTorch", "steps_per_s.torch_f32"),
      ("JAX scan", "steps_per_s.jax_scan_f32")]),
    ("bench_mlip", "Behler–Parrinello Cu, N = {n}", "atoms/s",
     "atoms_per_s.{n}.ours_1t", [("PyTorch", "atoms_per_s.{n}.torch_1t")]),
    ("bench_nn_escape", "{n} Langevin chains, 2-20-2 MLP", "chain-steps/s",
     "chain_steps_per_s.{n}.ours_1t", [("PyTorch", "chain_steps_per_s.{n}.torch_1t")]),
]


def _get(rec: dict, path: str) -> float | None:
    cur: object = rec
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return float(cur) if isinstance(cur, (int, float)) and not isinstance(cur, bool) else None


def _busy(rec: dict) -> bool:
    if "machine_busy" in rec:
        return bool(rec["machine_busy"])
    if "targets_judged" in rec:
        return not rec["targets_judged"]
    cores = [rec.get(k) for k in ("busy_cores_start", "busy_cores_at_start",
                                  "busy_cores_end", "busy_cores_at_end")]
    cores = [c for c in cores if isinstance(c, (int, float))]
    if cores:
        return max(cores) > 0.3
    load = rec.get("load_average_start") or rec.get("load_average")
    return bool(load) and load[0] > 1.0


def rows(records: dict[str, dict]) -> list[dict]:
    """The table: one row per (task, peer) with both throughputs and their ratio."""
    out = []
    for name, task, unit, ours_path, peers in ROWS:
        rec = records.get(name)
        if rec is None:
            continue
        sizes = [""]
        if "{n}" in ours_path:
            head = ours_path.split(".{n}")[0]
            sizes = sorted(rec.get(head, {}), key=int)
        for n in sizes:
            ours = _get(rec, ours_path.format(n=n))
            if ours is None:
                continue
            for peer, ppath in peers:
                theirs = _get(rec, ppath.format(n=n))
                if theirs is None:
                    continue
                out.append({"benchmark": name, "task": task.format(n=n), "unit": unit,
                            "ours": ours, "peer": peer, "theirs": theirs,
                            "ratio": ours / theirs, "busy": _busy(rec),
                            "date": rec.get("date"), "argv": rec.get("argv")})
    return out


def main(record_dir: str | Path | None = None,
         out: str | Path = HERE / "performance.png") -> Path:
    """Draw the ratios and write the table; return the figure's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    src = Path(record_dir) if record_dir is not None else require_fresh("performance")
    records = {p.stem: json.loads(p.read_text()) for p in sorted(src.glob("bench_*.json"))}
    if not records:
        sys.exit(f"error: no benchmark records (bench_*.json) in {src}")
    table = rows(records)
    labels = [f"{r['task']} vs {r['peer']}" for r in table]
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(table) + 1.2))
    colours = ["tab:grey" if r["busy"] else ("tab:blue" if r["ratio"] >= 1 else "tab:orange")
               for r in table]
    ax.barh(range(len(table)), [r["ratio"] for r in table], color=colours)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(table)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("throughput ratio, langevin_opt / peer (1 thread; > 1: faster)")
    machine = next(iter(records.values())).get("machine", {})
    ax.set_title(f"{machine.get('cpu_model', '?')}, {machine.get('cpu_count', '?')} cores\n"
                 "blue: faster, orange: slower, grey: machine busy (not judged)", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=130)
    plt.close(fig)
    numbers = {"rows": table, "machine": machine,
               "load_average": {k: {"start": r.get("load_average_start"),
                                    "end": r.get("load_average_end", r.get("load_average"))}
                                for k, r in records.items()},
               "dates": {k: r.get("date") for k, r in records.items()},
               "records": records}
    write_numbers(Path(out).with_suffix(".json"), numbers)
    print(out)
    return Path(out)


if __name__ == "__main__":
    if len(sys.argv) > 3 or any(a in ("-h", "--help") for a in sys.argv[1:]):
        sys.exit(__doc__)
    main(*sys.argv[1:])
