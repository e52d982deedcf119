"""Figure: does SGLD at higher temperature find flatter minima, and do they generalise better?

Runs the temperature-ladder experiment of ``experiments/flatness.toml``
(:func:`langevin_opt.nn.experiment.temperature_ladder_experiment`: SGLD chains at every
temperature, a ``T = 0`` quench of each final state, flatness and test measures at the
minima) and draws, against ``T``, the training loss, test loss, test accuracy, Hessian trace
and top Hessian eigenvalue of the minima (one point per chain, medians as lines; the losses
and accuracy of the SGLD states before the quench in orange), the basin width when measured,
and test loss against Hessian trace.  The verdict (Spearman rank
correlations over all chains, with p-values) is the figure's title.

    python paper/figures/fig_flatness.py [CONFIG] [OUT.png] [--rerun] [--threads N]

Defaults: ``experiments/flatness.toml`` and ``paper/figures/flatness.png``.  The per-chain
arrays are cached in ``OUT.npz`` (with the config they came from) and the statistics are
written to ``OUT.json``; a cache made from the same config is redrawn without re-running
unless ``--rerun`` is given.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from langevin_opt.nn.experiment import (
    analyse,
    load_config,
    temperature_ladder_experiment,
)
from langevin_opt.plotting import flatness_figure

ROOT = Path(__file__).resolve().parents[2]


def _run_or_load(cfg: dict, cache: Path, rerun: bool, threads: int | None) -> dict:
    key = json.dumps(cfg, sort_keys=True)
    if cache.exists() and not rerun:
        with np.load(cache) as z:
            if str(z["config_json"]) == key:
                print(f"using cached results {cache} (pass --rerun to recompute)")
                return {k: z[k] for k in z.files}
        print(f"cache {cache} was made from another config: re-running")
    t0 = time.perf_counter()
    res = temperature_ladder_experiment(cfg, threads=threads, progress=print)
    wall = time.perf_counter() - t0
    print(f"experiment: {wall:.1f} s")
    arrays = {k: np.asarray(v) for k, v in res.items() if k not in ("stats", "verdict")}
    arrays["config_json"] = np.asarray(key)
    arrays["seconds_total"] = np.asarray(wall)
    np.savez_compressed(cache, **arrays)
    return arrays


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
    p.add_argument("config", nargs="?", default=str(ROOT / "experiments" / "flatness.toml"))
    p.add_argument("out", nargs="?", default=str(ROOT / "paper" / "figures" / "flatness.png"))
    p.add_argument("--rerun", action="store_true", help="ignore the cached .npz")
    p.add_argument("--threads", type=int, default=None, help="Numba threads")
    a = p.parse_args(argv)
    cfg = load_config(a.config)
    out = Path(a.out)
    res = _run_or_load(cfg, out.with_suffix(".npz"), a.rerun, a.threads)
    stats, verdict = analyse(res, alpha=cfg["analysis"]["alpha"])
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
