"""Run the temperature-flatness experiment of a config and save its per-chain arrays.

    python experiments/flatness_run.py experiments/flatness.toml OUTDIR [--threads N]

Runs :func:`langevin_opt.nn.experiment.temperature_ladder_experiment` (SGLD chains at every
temperature, a ``T = 0`` quench of each final state, flatness and test measures at the minima)
and writes ``OUTDIR/results.npz``: every per-chain array of the result (``temperature``,
``train_loss``, ``test_loss``, ``hessian_trace``, ``theta``, ...), the scalars (``n_train``,
``seconds_sgld``, ...), ``config_json`` (the config as sorted JSON) and ``seconds_total``.
The figure (``paper/figures/fig_flatness.py``) reads only this file.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from langevin_opt.nn.experiment import load_config, temperature_ladder_experiment


def main(argv: list[str] | None = None) -> Path:
    """Run the experiment of the config given on the command line; return the written file."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", help="experiments/flatness.toml")
    p.add_argument("out_dir", help="directory for results.npz")
    p.add_argument("--threads", type=int, default=None, help="Numba threads")
    a = p.parse_args(argv)
    cfg = load_config(a.config)
    t0 = time.perf_counter()
    res = temperature_ladder_experiment(cfg, threads=a.threads, progress=print)
    wall = time.perf_counter() - t0
    print(f"experiment: {wall:.1f} s")
    arrays = {k: np.asarray(v) for k, v in res.items() if k not in ("stats", "verdict")}
    arrays["config_json"] = np.asarray(json.dumps(cfg, sort_keys=True))
    arrays["seconds_total"] = np.asarray(wall)
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "results.npz", **arrays)
    return out / "results.npz"


if __name__ == "__main__":
    main()
