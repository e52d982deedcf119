"""Figure: Boltzmann exactness of MALA on the Müller–Brown surface (sampled vs exact).

Reads only the outputs of experiment ``muller_brown`` (``experiments/muller_brown.toml``, run
by ``python paper/build.py --rerun muller_brown``): its ``summary.json``, which holds, per
temperature, the fraction of the walkers in each basin at the end of the run (each walker
quenched to its minimum) and the exact Boltzmann basin probabilities from quadrature.  The
walkers are independent, so the counts are multinomial: the figure compares them with the
exact probabilities (binomial standard errors, z-scores, a chi-square test per temperature and
over all temperatures, and the total-variation distance with its expected size from sampling
noise alone).  The landscape contour is drawn from the committed config; nothing is sampled.

    python paper/figures/fig_boltzmann.py [--out-dir DIR]

writes ``DIR/boltzmann.png`` and ``DIR/boltzmann.json`` (default ``DIR = paper/figures``).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from _paper import FIGURES, ROOT, experiment, require_fresh, write_numbers
from scipy.stats import chi2

from langevin_opt.plotting import _base
from langevin_opt.schema import load_config


def _tests(meas: np.ndarray, exact: np.ndarray, n: int) -> dict:
    """Multinomial goodness of fit of one temperature's basin fractions."""
    se = np.sqrt(exact * (1 - exact) / n)
    stat = float(n * np.sum((meas - exact) ** 2 / exact))
    dof = exact.size - 1
    return {
        "n": n, "measured": meas.tolist(), "exact": exact.tolist(),
        "error": (meas - exact).tolist(), "stderr": se.tolist(),
        "z": ((meas - exact) / se).tolist(),
        "chi2": stat, "chi2_dof": dof, "chi2_p_value": float(chi2.sf(stat, dof)),
        "total_variation": float(0.5 * np.abs(meas - exact).sum()),
        # E|m - p| = sqrt(2 / pi) * se per basin for Gaussian fluctuations
        "total_variation_expected_noise": float(0.5 * math.sqrt(2 / math.pi) * se.sum()),
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", default=str(FIGURES), help="where the PNG and JSON go")
    a = p.parse_args(argv)
    data = require_fresh("muller_brown")
    exp = load_config(ROOT / experiment("muller_brown")["configs"][0])
    land = exp.landscape()
    summary = json.loads((data / "summary.json").read_text())
    rows = [r for r in summary["temperatures"] if "basin_exact" in r]
    per_t = []
    for r in rows:
        meas, exact = np.asarray(r["basin_measured"]), np.asarray(r["basin_exact"])
        per_t.append({"T": r["T"], "acceptance": r.get("acceptance"),
                      **_tests(meas, exact, int(r["n"]))})
    stat = float(sum(t["chi2"] for t in per_t))
    dof = int(sum(t["chi2_dof"] for t in per_t))
    numbers = {
        "experiment": "muller_brown", "integrator": exp.config["integrator"]["kind"],
        "dt": exp.config["integrator"]["dt"], "steps": summary["steps"],
        "minima": np.asarray(land.minima).tolist(),
        "minima_energies": np.asarray(land.energy(np.asarray(land.minima))).tolist(),
        "chi2": stat, "chi2_dof": dof, "chi2_p_value": float(chi2.sf(stat, dof)),
        "max_abs_z": float(max(max(abs(z) for z in t["z"]) for t in per_t)),
        "max_abs_error": float(max(max(abs(e) for e in t["error"]) for t in per_t)),
        "wall_seconds": summary.get("wall_seconds"),
        "temperatures": per_t,
    }

    plt = _base.plt()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.3),
                                   gridspec_kw={"width_ratios": [1, 1.25]})
    lo, hi = np.array([-1.6, -0.5]), np.array([1.2, 2.1])
    xs, ys, e = _base.contour_grid(land, lo, hi)
    ax0.contourf(xs, ys, np.minimum(e, 100.0).T, levels=30, cmap="viridis")
    for i, m in enumerate(np.asarray(land.minima)):
        ax0.plot(m[0], m[1], "o", color="white", mec="k")
        ax0.annotate(f"basin {i}", m, textcoords="offset points", xytext=(6, 6), color="white",
                     fontsize=9)
    ax0.set(xlabel="x", ylabel="y", title="Müller–Brown surface (U clipped at 100)")
    k = len(per_t[0]["exact"])
    width = 0.8 / len(per_t)
    for j, t in enumerate(per_t):
        x = np.arange(k) + (j - (len(per_t) - 1) / 2) * width
        ax1.bar(x, t["exact"], width * 0.9, color=f"C{j}", alpha=0.35,
                label=f"T = {t['T']:g}: exact (quadrature)")
        ax1.errorbar(x, t["measured"], yerr=2 * np.asarray(t["stderr"]), fmt="o", color=f"C{j}",
                     ms=4, capsize=3,
                     label=f"T = {t['T']:g}: MALA, chi2 p = {t['chi2_p_value']:.2f}")
    ax1.set_yscale("log")
    ax1.set_xticks(range(k), [f"basin {i}" for i in range(k)])
    ax1.set(ylabel="basin probability (error bars: 2 s.e.)",
            title=f"{per_t[0]['n']} walkers per T; all T: chi2 = {stat:.2f} "
                  f"({dof} dof), p = {numbers['chi2_p_value']:.2f}")
    ax1.legend(fontsize=7)
    fig.tight_layout()
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _base.save(fig, out / "boltzmann.png")
    write_numbers(out / "boltzmann.json", numbers)
    print(out / "boltzmann.png")
    return numbers


if __name__ == "__main__":
    main()
