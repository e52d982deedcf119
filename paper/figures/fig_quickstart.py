"""Figure 1: basin occupation against temperature (narrow deep vs wide shallow well).

Reads only the outputs of experiment ``quickstart`` (``experiments/quickstart.toml``, run by
``python paper/build.py --rerun quickstart``): its ``summary.json`` (per temperature, the
fraction of the parallel-tempering walkers in each basin at the end of the run, and the exact
Boltzmann basin probabilities from quadrature).  The landscape is rebuilt from the committed
config; the exact curves and the crossover temperature ``T*`` (where the narrow deep and the
wide shallow basin are equally probable) come from quadrature, which is theory, not sampling.

    python paper/figures/fig_quickstart.py [--out-dir DIR]

writes ``DIR/quickstart.png`` and ``DIR/quickstart.json`` (default ``DIR = paper/figures``):
the exact and measured crossover temperatures and, per temperature, the measured and exact
occupations, their differences, binomial standard errors and z-scores.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from _paper import FIGURES, ROOT, experiment, require_fresh, write_numbers
from scipy.optimize import brentq
from scipy.stats import chi2

from langevin_opt.analysis import quadrature_grid
from langevin_opt.plotting import basin_crossover_figure
from langevin_opt.schema import load_config


def _measured_crossover(temps: np.ndarray, diff: np.ndarray) -> float | None:
    """Temperature where the measured ``P_narrow - P_wide`` changes sign (linear in log T)."""
    idx = np.flatnonzero(np.sign(diff[:-1]) != np.sign(diff[1:]))
    if idx.size == 0:
        return None
    c = int(idx[0])
    f = diff[c] / (diff[c] - diff[c + 1])
    return float(math.exp(math.log(temps[c]) + f * math.log(temps[c + 1] / temps[c])))


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", default=str(FIGURES), help="where the PNG and JSON go")
    a = p.parse_args(argv)
    data = require_fresh("quickstart")
    exp = load_config(ROOT / experiment("quickstart")["configs"][0])
    land = exp.landscape()
    summary = json.loads((data / "summary.json").read_text())
    rows = [r for r in summary["temperatures"] if "basin_exact" in r]
    grid = quadrature_grid(land)
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    basin_crossover_figure(land, rows, out / "quickstart.png", title=exp.name, grid=grid)

    temps = np.array([r["T"] for r in rows])
    meas = np.array([r["basin_measured"] for r in rows])
    exact = np.array([r["basin_exact"] for r in rows])
    n = np.array([r["n"] for r in rows])
    se = np.sqrt(exact * (1 - exact) / n[:, None])
    # the two basins are (narrow deep, wide shallow) in the landscape's order of minima
    gap = lambda t: float(np.subtract(*grid.at(t).basin_probabilities[:2]))  # noqa: E731
    t_star = brentq(gap, temps.min(), temps.max(), xtol=1e-12)
    # chi-square of the measured counts against the exact multinomial, all temperatures
    k = exact.shape[1]
    stat = float(np.sum(n[:, None] * (meas - exact) ** 2 / np.maximum(exact, 1e-300)))
    dof = int(len(rows) * (k - 1))
    numbers = {
        "experiment": "quickstart",
        "basins": ["narrow deep", "wide shallow"],
        "walkers_per_temperature": int(n[0]),
        "steps": summary["steps"],
        "crossover_temperature_exact": t_star,
        "crossover_temperature_measured": _measured_crossover(temps, meas[:, 0] - meas[:, 1]),
        "chi2": stat, "chi2_dof": dof, "chi2_p_value": float(chi2.sf(stat, dof)),
        "max_abs_error": float(np.max(np.abs(meas - exact))),
        "max_abs_z": float(np.max(np.abs((meas - exact) / se))),
        "swap_acceptance": summary.get("swap_acceptance"),
        "wall_seconds": summary.get("wall_seconds"),
        "temperatures": [
            {"T": float(t), "n": int(nn), "measured": m.tolist(), "exact": e.tolist(),
             "error": (m - e).tolist(), "stderr": s.tolist(), "z": ((m - e) / s).tolist()}
            for t, nn, m, e, s in zip(temps, n, meas, exact, se, strict=True)],
    }
    write_numbers(out / "quickstart.json", numbers)
    print(out / "quickstart.png")
    return numbers


if __name__ == "__main__":
    main()
