"""Figures: is the committee uncertainty honest, and does it pay in active learning?

1. ``mlip_uncertainty.png`` (:func:`langevin_opt.plotting.uncertainty_figure`): calibration
   curves of force components for the deep ensemble and the posterior (SG-MCMC) committee
   (raw and after the post-hoc scale fitted on validation data), error against spread for
   both on the in-distribution test set and three out-of-distribution sets, and the
   vacancy-migration barrier of every member next to EMT's.
2. ``mlip_active_learning.png`` (:func:`langevin_opt.plotting.active_learning_figure`):
   test force RMSE against labelled configurations, most-uncertain against random frames.

Reads only the outputs of the experiments (it never re-trains)::

    python experiments/mlip_uncertainty.py --out-dir paper/figures/mlip_uncertainty
    python experiments/mlip_active_learning.py --out-dir results/mlip_active_learning
    cp results/mlip_active_learning/results.json paper/figures/mlip_active_learning/
    python paper/figures/fig_mlip_uncertainty.py [UNCERTAINTY_DIR] [ACTIVE_DIR] [OUT_DIR]

Defaults: the committed outputs in ``paper/figures/mlip_uncertainty`` and
``paper/figures/mlip_active_learning``; figures written next to this script.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from langevin_opt.plotting import active_learning_figure, uncertainty_figure

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paper import require_fresh, write_numbers  # noqa: E402

HERE = Path(__file__).resolve().parent
GROUPS = ("test (in distribution)", "hot 1400 K", "strained ±2.5 %", "(100) surface")


def main(unc_dir: str | Path | None = None, al_dir: str | Path | None = None,
         out_dir: str | Path = HERE) -> list[Path]:
    """Draw both figures from finished run directories; return the written paths.

    Without directories, the committed outputs (refused when stale).  Also writes
    ``mlip_uncertainty.json`` in ``out_dir``: both runs' results, the numbers the paper quotes.
    """
    unc = Path(unc_dir) if unc_dir is not None else require_fresh("mlip_uncertainty")
    al = Path(al_dir) if al_dir is not None else require_fresh("mlip_active_learning")
    out = Path(out_dir)
    for f, how in ((unc / "figure_data.npz", "experiments/mlip_uncertainty.py"),
                   (unc / "results.json", "experiments/mlip_uncertainty.py"),
                   (al / "results.json", "experiments/mlip_active_learning.py")):
        if not f.is_file():
            sys.exit(f"error: {f} not found: run {how} first (see --help)")
    with np.load(unc / "figure_data.npz") as z:
        data = {k: z[k] for k in z.files}
    for kind in ("ensemble", "posterior"):  # test + OOD sets pooled, after the scale
        data[f"{kind}_observed_ood"] = data.pop(f"{kind}_observed_all_scaled")
    paths = [uncertainty_figure(data, out / "mlip_uncertainty.png", group_names=GROUPS)]
    res = json.loads((al / "results.json").read_text())
    sv = res["labels_to_reach_random_final_mean_curve"]
    note = ("no saving" if sv["saving"] is None or sv["saving"] <= 0
            else f"saving {sv['saving']:.0f} of {sv['random']} labels")
    paths.append(active_learning_figure(res["curves"], out / "mlip_active_learning.png",
                                        title=f"EMT Cu, {res['repeats']} repeat(s): {note}"))
    write_numbers(out / "mlip_uncertainty.json",
                  {"uncertainty": json.loads((unc / "results.json").read_text()),
                   "active_learning": res})
    for p in paths:
        print(p)
    return paths


if __name__ == "__main__":
    if len(sys.argv) > 4 or any(a in ("-h", "--help") for a in sys.argv[1:]):
        sys.exit(__doc__)
    main(*sys.argv[1:])
