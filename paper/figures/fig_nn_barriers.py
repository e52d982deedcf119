"""Figure: barriers and escape on a network's loss (issue 16).

Four panels (:func:`langevin_opt.plotting.barriers.network_barriers_figure`):

(a) the loss along the CI-NEB path and along the straight line between the start minimum
    and its partner (aligned modulo hidden-unit symmetry) of the 2-4-2 tanh classifier;
(b) the barrier between independently trained minima against the hidden width, one series
    per data-set size, pairs that are one minimum modulo symmetry left out;
(c) ln k against 1/T for full-batch overdamped Langevin with the Eyring–Kramers lines
    (through the NEB saddle, and summed over the saddles the walkers used);
(d) the mean escape time of plain minibatch SGD (no injected noise) against batch size /
    learning rate, for a sharp and a flat minimum of a two-parameter network slice and for
    the 2-4-2 network (``1 / k``, 95 % interval; settings where no walker escaped not drawn).

Reads only the committed outputs of the experiments; it never re-simulates::

    python experiments/nn_escape.py paper/figures/nn_escape/results.json
    python experiments/nn_mode_connectivity.py
    python experiments/nn_sgd_escape.py
    python paper/figures/fig_nn_barriers.py [OUT.png]

Also writes ``paper/figures/nn_barriers.json``: the numbers the text quotes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from langevin_opt.plotting.barriers import network_barriers_figure

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paper import require_fresh, write_numbers  # noqa: E402

HERE = Path(__file__).resolve().parent
RUNS = {"escape": HERE / "nn_escape" / "results.json",
        "width": HERE / "nn_mode_connectivity" / "results.json",
        "sgd": HERE / "nn_sgd_escape" / "results.json"}


def _load() -> dict:
    for name in ("nn_escape", "nn_mode_connectivity", "nn_sgd_escape"):
        require_fresh(name)
    out = {}
    for key, path in RUNS.items():
        if not path.is_file():
            sys.exit(f"error: {path} not found: run the experiment named in {__file__}'s "
                     "docstring first")
        out[key] = json.loads(path.read_text())
    return out


def _width_series(res: dict) -> list[dict]:
    """Per data-set size: width, NEB and straight-line barrier of every valid distinct pair."""
    series = {}
    for r in res["results"]:
        s = series.setdefault(r["n_data"], {"width": [], "neb_barrier": [], "line_barrier": [],
                                            "label": f"N = {r['n_data']}"})
        for pair in r["pairs"]:
            if pair.get("same_minimum") or not pair.get("valid"):
                continue
            s["width"].append(r["width"])
            s["neb_barrier"].append(pair["neb_barrier"])
            s["line_barrier"].append(pair["straight_barrier"])
    return [s for _, s in sorted(series.items()) if s["width"]]


def _sgd_series(table: list[dict], label: str) -> dict:
    k = np.array([row["rate"] for row in table], dtype=np.float64)
    lo = np.array([row["rate_low"] for row in table], dtype=np.float64)
    hi = np.array([row["rate_high"] for row in table], dtype=np.float64)
    with np.errstate(divide="ignore"):
        return {"label": label, "batch_over_lr": [row["B_over_lr"] for row in table],
                "time": np.where(k > 0, 1.0 / k, np.inf),
                "time_low": np.where(hi > 0, 1.0 / hi, np.nan),
                "time_high": np.where(lo > 0, 1.0 / lo, np.inf)}


def main(out: str | Path = HERE / "nn_barriers.png") -> Path:
    """Draw the figure and write the quoted numbers; return the figure's path."""
    runs = _load()
    esc, sgd = runs["escape"], runs["sgd"]
    fp = esc["figure_path"]
    s = np.asarray(fp["arc_length"], dtype=np.float64)
    d = np.asarray(fp["straight_distance"], dtype=np.float64)
    path = {"neb_s": s / s[-1], "neb_energy": fp["energies"], "line_s": d / d[-1],
            "line_energy": fp["straight_energies"],
            "label": f"2-4-2 tanh, NEB barrier {esc['neb_barrier']:.3f}, straight line "
                     f"{fp['straight_barrier_from_start']:.3f}"}
    tab = esc["table"]
    langevin = {"temperature": [r["T"] for r in tab], "rate": [r["rate"] for r in tab],
                "rate_low": [r["rate_low"] for r in tab],
                "rate_high": [r["rate_high"] for r in tab],
                "eyring_kramers": [r["eyring_kramers"] for r in tab],
                "eyring_kramers_total": [r["eyring_kramers_total"] for r in tab]}
    sl = sgd["systems"]["slice"]["minima"]
    series = [_sgd_series(sl[m]["table"], f"slice minimum {m} (H_e = {sl[m]['H_ae']:.2f})")
              for m in sorted(sl)]
    net = sgd["systems"]["network"]["minima"]
    for name in sorted(net):
        series.append(_sgd_series(net[name]["table"], f"2-4-2 network, minimum {name}"))
    widths = _width_series(runs["width"])
    fig = network_barriers_figure(path, widths, langevin, series, out,
                                  title="Barriers and escape on a network loss")
    numbers = {
        "neb_barrier": round(esc["neb_barrier"], 4),
        "straight_barrier": round(fp["straight_barrier_from_start"], 4),
        "arrhenius_barrier": round(esc["arrhenius_barrier"], 3),
        "arrhenius_barrier_ci": [round(x, 3) for x in esc["arrhenius_barrier_ci"]],
        "ratio_single_saddle": [round(r["ratio"], 2) for r in tab],
        "ratio_all_saddles": [round(r["ratio_total"], 2) for r in tab],
        "width_median_neb_barrier": {w["label"]: {str(x): round(float(np.median(
            np.asarray(w["neb_barrier"])[np.asarray(w["width"]) == x])), 4)
            for x in sorted(set(w["width"]))} for w in widths},
        "sgd_slope_B_over_lr": {m: [round(x, 3) for x in
                                    [sl[m]["fits"]["B_over_lr"]["slope"],
                                     *sl[m]["fits"]["B_over_lr"]["slope_ci"]]]
                                for m in sorted(sl)},
        "sgd_xie_slope": {m: round(sl[m]["predicted_slope_B_over_lr"]["xie_s1"], 4)
                          for m in sorted(sl)},
    }
    # the runs' own records too, so the text can quote any of their numbers
    numbers["escape_run"] = {k: v for k, v in esc.items() if k != "figure_path"}
    numbers["sgd_run"] = sgd
    write_numbers(Path(out).with_suffix(".json"), numbers)
    print(fig)
    return fig


if __name__ == "__main__":
    if len(sys.argv) > 2 or any(a in ("-h", "--help") for a in sys.argv[1:]):
        sys.exit(__doc__)
    main(*sys.argv[1:])
