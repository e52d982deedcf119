"""Figure: does SGLD at higher temperature find flatter minima, and do they generalise better?

Reads only the per-chain arrays of experiment ``flatness`` (``experiments/flatness.toml``, run
by ``python paper/build.py --rerun flatness``, i.e. ``experiments/flatness_run.py``, which
calls :func:`langevin_opt.nn.experiment.temperature_ladder_experiment`: SGLD chains at every
temperature, a ``T = 0`` quench of each final state, flatness and test measures at the
minima) and draws, against ``T``, the training loss, test loss, test accuracy, Hessian trace
and top Hessian eigenvalue of the minima (one point per chain, medians as lines; the losses
and accuracy of the SGLD states before the quench in orange), the basin width when measured,
and test loss against Hessian trace.  The verdict (Spearman rank correlations over all
chains, with p-values) is the figure's title.  It never re-runs the experiment.

    python paper/figures/fig_flatness.py [--out-dir DIR]

writes ``DIR/flatness.png`` and ``DIR/flatness.json`` (default ``DIR = paper/figures``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _paper import FIGURES, require_fresh

from langevin_opt.nn.experiment import analyse
from langevin_opt.plotting import flatness_figure


def _json_safe(v):
    """NaN and infinities as ``null`` (strict JSON)."""
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", default=str(FIGURES), help="where the PNG and JSON go")
    a = p.parse_args(argv)
    data = require_fresh("flatness")
    with np.load(data / "results.npz") as z:
        res = {k: z[k] for k in z.files}
    cfg = json.loads(str(res["config_json"]))
    stats, verdict = analyse(res, alpha=cfg["analysis"]["alpha"])
    out = Path(a.out_dir) / "flatness.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    flatness_figure(res, stats, verdict, out, cfg["experiment"]["name"])
    summary = {
        "experiment": cfg["experiment"],
        "config": cfg,
        "verdict": verdict,
        "stats": stats,
        "n_chains": int(np.asarray(res["temperature"]).size),
        "n_train": int(res["n_train"]),
        "n_test": int(res["n_test"]),
        "n_params": int(res["n_params"]),
        "quench_max_abs_grad": float(np.nanmax(res["grad_max"])),
        "median_per_temperature": {
            k: [float(np.nanmedian(np.asarray(res[k])[np.asarray(res["temperature"]) == t]))
                for t in stats["temperatures"]]
            for k in ("quench_distance", "polish_distance", "energy_sgld", "energy") if k in res},
        "seconds": {k: float(res[k]) for k in ("seconds_sgld", "seconds_quench",
                                               "seconds_measures", "seconds_total")
                    if k in res},
    }
    out.with_suffix(".json").write_text(json.dumps(_json_safe(summary), indent=2,
                                                   allow_nan=False) + "\n")
    print(verdict)
    print(out)
    return summary


if __name__ == "__main__":
    main()
