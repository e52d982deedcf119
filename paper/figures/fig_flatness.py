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
import textwrap
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from langevin_opt.nn.experiment import (  # noqa: E402
    analyse,
    load_config,
    temperature_ladder_experiment,
)

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


def _strip(ax, x, y, color, label=None):
    """Per-chain points (jittered) and the median per temperature rung."""
    K = int(x.max()) + 1
    rng = np.random.default_rng(0)
    jit = rng.uniform(-0.18, 0.18, x.size)
    ok = np.isfinite(y)
    ax.plot(x[ok] + jit[ok], y[ok], "o", ms=3.5, alpha=0.55, color=color, mec="none")
    med = [np.nanmedian(y[x == k]) if np.any(np.isfinite(y[x == k])) else np.nan
           for k in range(K)]
    ax.plot(range(K), med, "-", lw=2, color=color, label=label)


def make_figure(res: dict, stats: dict, verdict: str, out: Path, title: str) -> None:
    """Draw the panels against the temperature rungs and save ``out``.

    Parameters
    ----------
    res : dict
        Per-chain arrays of the experiment (or of its ``.npz`` cache).
    stats : dict
        :func:`~langevin_opt.nn.experiment.analyse` statistics.
    verdict : str
        One-sentence verdict (the title).
    out : pathlib.Path
        PNG path.
    title : str
        Experiment name.
    """
    T = np.asarray(res["temperature"], float)
    temps = np.asarray(res["temperatures"], float)
    x = np.searchsorted(temps, T).astype(float)
    N = float(res["n_train"])

    def rho(m):
        s = stats.get(m, {})
        return f"ρ = {s.get('rho', np.nan):+.2f}, p = {s.get('p', np.nan):.2g}"

    panels = [
        ("train_loss", np.asarray(res["train_loss"]), "training loss at the minimum\n"
         "(mean per example)"),
        ("test_loss", np.asarray(res["test_loss"]), "test loss (mean per example)"),
        ("test_accuracy", np.asarray(res["test_accuracy"]), "test accuracy"),
        ("hessian_trace", np.asarray(res["hessian_trace"]) / N, "Hessian trace / N\n"
         "(mean-loss units)"),
        ("top_eigenvalue", np.asarray(res["top_eigenvalue"]) / N,
         "top Hessian eigenvalue / N\n(mean-loss units)"),
    ]
    bw = np.asarray(res.get("basin_width", np.full(T.size, np.nan)), float)
    if np.any(np.isfinite(bw)):
        panels.append(("basin_width", bw, "basin width (median over\nrandom directions)"))
    if not np.any(np.isfinite(np.asarray(res["test_accuracy"], float))):
        panels = [p for p in panels if p[0] != "test_accuracy"]
    n = len(panels) + 1
    ncol = 4 if n > 6 else 3
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.5 * nrow + 0.9))
    axes = np.atleast_1d(axes).ravel()
    labels = [("0" if t == 0 else f"{t:g}") for t in temps]
    for ax, (m, y, ylab) in zip(axes, panels, strict=False):
        _strip(ax, x, y, "C0", label="minimum (after T = 0 quench)")
        if m + "_sgld" in res:
            _strip(ax, x, np.asarray(res[m + "_sgld"], float), "C1",
                   label="SGLD state before the quench")
            if m != "test_accuracy":
                ax.set_yscale("log")
            ax.legend(fontsize=7, loc="best")
        ax.set_xticks(range(temps.size), labels)
        ax.set_xlabel("temperature T (U units; mean-loss T = T / N)", fontsize=8)
        ax.set_ylabel(ylab, fontsize=9)
        ax.set_title(f"minima, Spearman vs T: {rho(m)}", fontsize=9)
        ax.grid(alpha=0.3)
    ax = axes[len(panels)]
    sc = ax.scatter(np.asarray(res["hessian_trace"]) / N, res["test_loss"], c=x, cmap="viridis",
                    s=14, vmin=0, vmax=temps.size - 1)
    cb = fig.colorbar(sc, ax=ax, ticks=range(temps.size))
    cb.ax.set_yticklabels(labels, fontsize=7)
    cb.set_label("T", fontsize=8)
    ax.set_xlabel("Hessian trace / N", fontsize=9)
    ax.set_ylabel("test loss", fontsize=9)
    ax.set_title(f"test loss vs trace: {rho('trace_vs_test_loss')}", fontsize=9)
    ax.grid(alpha=0.3)
    for ax in axes[len(panels) + 1:]:
        ax.axis("off")
    if len(axes) > len(panels) + 1:
        note = (f"T: energy units of U = N·(mean loss) + prior (k_B = 1);\n"
                f"T = 1 samples the Bayesian posterior, T = 0 is minibatch SGD.\n"
                f"Minima: full-batch gradient descent + L-BFGS from each\n"
                f"final SGLD state, max |∇U| ≤ {np.nanmax(res['grad_max']):.0e}.\n"
                f"Curvatures of U divided by N (mean-loss units);\n"
                f"Hutchinson SE of tr H / N ≈ "
                f"{np.nanmedian(np.asarray(res['hessian_trace_se'])) / N:.2f}.\n"
                f"Lines: medians; points: chains (jittered).")
        axes[-1].text(0.0, 0.95, note, va="top", fontsize=8.5, transform=axes[-1].transAxes)
    nc = T.size // temps.size
    head = (f"{title}: {nc} SGLD chains per temperature, N = {int(N)}, "
            f"P = {int(res['n_params'])}, Spearman over {T.size} chains (α = {stats['alpha']})")
    fig.suptitle(head + "\n" + "\n".join(textwrap.wrap(verdict, 150)), fontsize=9.5)
    fig.tight_layout()
    fig.savefig(out, dpi=130)
    plt.close(fig)


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
    make_figure(res, stats, verdict, out, cfg["experiment"]["name"])
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
