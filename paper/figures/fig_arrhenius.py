"""Figure: escape rates and Arrhenius laws (1-D double well, Müller–Brown, 2-D LJ7) vs theory.

Reads only the ``summary.json`` of the experiments ``arrhenius_double_well``,
``arrhenius_muller_brown`` and ``arrhenius_lj7`` (``langevin-opt arrhenius CONFIG``, run by
``python paper/build.py --rerun NAME``): per temperature the measured escape rate with its
confidence interval, events and censored walkers, and the rate theories the run evaluated
(exact 1-D MFPT and Eyring–Kramers for the double well, the overdamped Eyring–Kramers/Langer
rate at the CI-NEB + dimer saddle for Müller–Brown, Kramers–Langer and harmonic TST summed
over the saddle channels for LJ7), the Arrhenius fit (barrier and ln prefactor with bootstrap
CIs) and the curvature test.  One column per system: ln k against 1/T (measured points with
their CIs, theory lines through the grid temperatures and the fitted straight line) and,
below, the measured rate over each theory against T.

    python paper/figures/fig_arrhenius.py [--out-dir DIR]

writes ``DIR/arrhenius.png`` and ``DIR/arrhenius.json`` (default ``DIR = paper/figures``):
every rate, CI, ratio to each theory (with a chi-square test of ratio 1 over the
temperatures, the CI of ln k read as +-1.96 standard errors), the fitted barrier and its CI
against the saddle barrier, and the curvature p-value, per system.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from _paper import FIGURES, require_fresh, write_numbers
from scipy.stats import chi2

from langevin_opt.plotting import _base

SYSTEMS = (("arrhenius_double_well", "1-D double well (overdamped)"),
           ("arrhenius_muller_brown", "Müller–Brown, A → C (overdamped)"),
           ("arrhenius_lj7", "2-D LJ7 rearrangement (BAOAB, γ = 2)"))


def _saddle_barrier(theory: dict) -> float | None:
    """The lowest barrier the run's saddle search found (``None`` without theory)."""
    if theory.get("channels"):
        return float(min(ch["barrier"] for ch in theory["channels"]))
    b = theory.get("barrier")
    return None if b is None else float(b)


def system_numbers(summary: dict) -> dict:
    """The quoted numbers of one arrhenius ``summary.json``."""
    theory = summary.get("theory", {})
    names = list(theory.get("formulas", {}))
    rows = []
    for r in summary["rows"]:
        row = {"T": r["temperature"], "rate": r["rate"], "rate_ci": [r["rate_low"], r["rate_high"]],
               "events": r["events"], "censored": r["censored"], "mfpt": r["mfpt"],
               "mfpt_se": r["mfpt_se"], "exponential_gof_p": r.get("gof_p")}
        for n in names:
            row[f"theory_{n}"] = r[f"theory_{n}"]
            row[f"ratio_{n}"] = r[f"ratio_{n}"]
            row[f"ratio_{n}_ci"] = [r["rate_low"] / r[f"theory_{n}"],
                                    r["rate_high"] / r[f"theory_{n}"]]
        rows.append(row)
    agreement = {}
    for n in names:
        # ln(k / theory) against 0, with the 95% CI of ln k read as +-1.96 standard errors
        z = [math.log(r[f"ratio_{n}"]) / ((math.log(r["rate_ci"][1]) - math.log(r["rate_ci"][0]))
                                         / (2 * 1.959963984540054)) for r in rows]
        stat = float(np.sum(np.square(z)))
        agreement[n] = {"mean_ratio": float(np.mean([r[f"ratio_{n}"] for r in rows])),
                        "min_ratio": float(min(r[f"ratio_{n}"] for r in rows)),
                        "max_ratio": float(max(r[f"ratio_{n}"] for r in rows)),
                        "z": z, "chi2": stat, "dof": len(z),
                        "p_value": float(chi2.sf(stat, len(z)))}
    fit, cur = summary["fit"], summary["curvature"]
    saddle = _saddle_barrier(theory)
    out = {
        "walkers": summary["walkers"], "theories": names, "rows": rows,
        "agreement": agreement,
        "fit_barrier": fit["barrier"], "fit_barrier_ci": fit["barrier_ci"],
        "fit_log_prefactor": fit["log_prefactor"], "fit_log_prefactor_ci": fit["log_prefactor_ci"],
        "fit_method": fit["method"], "fit_chi2": fit["chi2"], "fit_dof": fit["dof"],
        "curvature_z": cur["z"], "curvature_p_value": cur["p_value"], "curved": cur["curved"],
        "saddle_barrier": saddle,
        "saddle_barrier_in_fit_ci": (None if saddle is None
                                     else fit["barrier_ci"][0] <= saddle <= fit["barrier_ci"][1]),
        "fit_barrier_over_saddle": None if saddle is None else fit["barrier"] / saddle,
        "wall_s": summary.get("wall_s"),
    }
    if theory.get("channels"):
        out["channels"] = [{k: ch[k] for k in ("product_energy", "saddle_energy", "barrier",
                                               "equivalent_saddles") if k in ch}
                           for ch in theory["channels"]]
    return out


def _panel(ax: object, title: str, num: dict) -> None:
    t = np.array([r["T"] for r in num["rows"]])
    k = np.array([r["rate"] for r in num["rows"]])
    lo, hi = np.array([r["rate_ci"] for r in num["rows"]]).T
    x = 1 / t
    ax.errorbar(x, np.log(k), yerr=[np.log(k) - np.log(lo), np.log(hi) - np.log(k)], fmt="o",
                color="k", ms=5, capsize=3, label="simulated (95% CI)", zorder=3)
    for j, n in enumerate(num["theories"]):
        th = np.array([r[f"theory_{n}"] for r in num["rows"]])
        ax.plot(x, np.log(th), "-", marker=".", color=f"C{j}", label=n)
    xs = np.linspace(x.min(), x.max(), 50)
    ax.plot(xs, num["fit_log_prefactor"] - num["fit_barrier"] * xs, "--", color="0.5",
            label=(f"fit: barrier {num['fit_barrier']:.3g} "
                   f"[{num['fit_barrier_ci'][0]:.3g}, {num['fit_barrier_ci'][1]:.3g}]"))
    sub = f"curvature p = {num['curvature_p_value']:.2g}"
    if num["saddle_barrier"] is not None:
        sub = f"saddle barrier {num['saddle_barrier']:.4g}; " + sub
    ax.set(xlabel="1 / T", ylabel="ln k", title=f"{title}\n{sub}")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)


def _ratio_panel(ax: object, num: dict) -> None:
    t = np.array([r["T"] for r in num["rows"]])
    for j, n in enumerate(num["theories"]):
        ratio = np.array([r[f"ratio_{n}"] for r in num["rows"]])
        lo, hi = np.array([r[f"ratio_{n}_ci"] for r in num["rows"]]).T
        ax.errorbar(t * (1 + 0.01 * j), ratio, yerr=[ratio - lo, hi - ratio], fmt="o-",
                    color=f"C{j}", ms=4, capsize=3, label=f"k / {n}")
    ax.axhline(1.0, color="0.5", lw=1)
    ax.set(xlabel="T", ylabel="simulated k / theory (95% CI)")
    ax.legend(fontsize=7)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", default=str(FIGURES), help="where the PNG and JSON go")
    a = p.parse_args(argv)
    dirs = {name: require_fresh(name) for name, _ in SYSTEMS}
    numbers: dict = {}
    plt = _base.plt()
    fig, axes = plt.subplots(2, len(SYSTEMS), figsize=(15, 8.2),
                             gridspec_kw={"height_ratios": [1.4, 1]})
    for j, (name, title) in enumerate(SYSTEMS):
        summary = json.loads((dirs[name] / "summary.json").read_text())
        numbers[name] = system_numbers(summary)
        _panel(axes[0, j], title, numbers[name])
        _ratio_panel(axes[1, j], numbers[name])
    fig.tight_layout()
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _base.save(fig, out / "arrhenius.png")
    write_numbers(out / "arrhenius.json", numbers)
    print(out / "arrhenius.png")
    return numbers


if __name__ == "__main__":
    main()
