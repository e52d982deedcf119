"""Figure: LJ38 global optimisation, langevin_opt's methods against SciPy's basinhopping.

Reads only ``results.json`` of experiment ``lj38_global`` (``experiments/lj38_global/config.toml``,
run by ``python paper/build.py --rerun lj38_global``, i.e. ``experiments/lj38_global.py``):
for every method and seed, the lowest energy found against wall time, whether (and when) the
fcc truncated octahedron (E = -173.928427) was reached within the budget.  Left: lowest energy
above the global minimum against wall time, one line per trial (log scale; a line that ends
at the bottom reached it).  Right: successes per method and the median time to solution.

    python paper/figures/fig_lj38.py [--out-dir DIR]

writes ``DIR/lj38.png`` and ``DIR/lj38.json`` (default ``DIR = paper/figures``).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
from _paper import FIGURES, require_fresh, write_numbers

from langevin_opt.plotting import _base

LABELS = {"langevin_bh": "Langevin basin hopping + exchange",
          "replica_exchange": "replica exchange (BAOAB) + quenches",
          "basinhopping": "scipy.optimize.basinhopping"}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", default=str(FIGURES), help="where the PNG and JSON go")
    a = p.parse_args(argv)
    res = json.loads((require_fresh("lj38_global") / "results.json").read_text())
    cfg = res["config"]
    target = cfg["cluster"]["target_energy"]
    ico = cfg["cluster"].get("icosahedral_energy")
    budget = cfg["budget"]["seconds_per_trial"]
    floor = 0.05  # the global minimum (gap 0) is drawn at this height

    plt = _base.plt()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 4.4),
                                   gridspec_kw={"width_ratios": [1.6, 1]})
    methods: dict = {}
    for j, (name, m) in enumerate(res["methods"].items()):
        for i, run in enumerate(m["runs"]):
            tr = np.asarray(run["trace"], dtype=float).reshape(-1, 2)
            if tr.size == 0:
                continue
            t = np.append(tr[:, 0], run["wall_s"])
            gap = np.maximum(np.append(tr[:, 1], tr[-1, 1]) - target, floor)
            ax0.step(t, gap, where="post", color=f"C{j}", alpha=0.8,
                     label=LABELS.get(name, name) if i == 0 else None)
            if run["success"]:
                ax0.plot(run["time_s"], floor, "v", color=f"C{j}", ms=8)
        times = [r["time_s"] for r in m["runs"] if r["success"]]
        methods[name] = {
            "label": LABELS.get(name, name), "trials": m["trials"], "successes": m["successes"],
            "median_time_to_solution_s": statistics.median(times) if times else None,
            "times_to_solution_s": times, "best_energy": m["best"],
            "best_energies": [r["best"] for r in m["runs"]],
            "seeds": [r["seed"] for r in m["runs"]],
            "hops_or_quench_rounds": [r.get("hops", r.get("rounds")) for r in m["runs"]],
            "reached_icosahedral_minimum_or_lower": (None if ico is None else
                                                  sum(r["best"] < ico + 1e-3 for r in m["runs"])),
        }
    if ico is not None:
        ax0.axhline(ico - target, color="0.5", ls=":", lw=1)
        ax0.text(0.02, (ico - target) * 1.15, "lowest icosahedral minimum", fontsize=7,
                 color="0.3", transform=ax0.get_yaxis_transform())
    ax0.set(xscale="log", yscale="log", xlabel="wall time (s, one thread)",
            ylabel="lowest E found − E_global", ylim=(floor * 0.7, None),
            title=f"LJ38: {budget:g} s budget per trial (▼ at the bottom: global minimum found)")
    ax0.legend(fontsize=7, loc="lower left")
    names = list(methods)
    ax1.bar(range(len(names)), [methods[n]["successes"] for n in names],
            color=[f"C{j}" for j in range(len(names))])
    for j, n in enumerate(names):
        med = methods[n]["median_time_to_solution_s"]
        ax1.text(j, methods[n]["successes"] + 0.05,
                 "median -" if med is None else f"median {med:.1f} s", ha="center", fontsize=8)
    ax1.set_xticks(range(len(names)), [LABELS.get(n, n).split(" (")[0].replace(" + ", "\n+ ")
                                        for n in names], fontsize=7)
    ax1.set_yticks(range(cfg["budget"]["trials"] + 1))
    ax1.set(ylabel="trials reaching the global minimum", ylim=(0, cfg["budget"]["trials"] + 0.6),
            title=f"successes of {cfg['budget']['trials']} seeds")
    fig.tight_layout()
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _base.save(fig, out / "lj38.png")
    numbers = {"experiment": "lj38_global", "target_energy": target,
               "icosahedral_energy": ico, "tol": cfg["cluster"]["tol"],
               "seconds_per_trial": budget, "trials": cfg["budget"]["trials"],
               "threads": res["threads"], "compile_s": res["compile_s"],
               "total_s": res["total_s"], "load_average_end": res.get("load_average_end"),
               "methods": methods}
    write_numbers(out / "lj38.json", numbers)
    print(out / "lj38.png")
    return numbers


if __name__ == "__main__":
    main()
