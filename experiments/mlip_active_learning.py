"""Active learning against EMT copper: the most uncertain frames vs random frames, same budget.

Reproducible (seeds); about 8 minutes per repeat on 2 shared cores::

    python experiments/mlip_active_learning.py [--out-dir results/mlip_active_learning]
        [--seed 0] [--repeats 1]

Writes to ``--out-dir``: ``results.json`` (learning curves and the label saving) and, per
repeat and strategy, ``rep_<i>/<strategy>/round_RR/`` with every round's committee, training
data (extended XYZ), pool spreads, selected frames and errors
(:func:`langevin_opt.mlip.active.active_learning`).  ``paper/figures/fig_mlip_uncertainty.py``
draws ``results.json``.

Setup (eV, Å, K, fs)
--------------------
* Bulk only, 2x2x2 cubic Cu cells (32 atoms; a vacancy cell has 31), EMT lattice constant.
* Initial labelled set: ``N_INITIAL`` EMT Langevin snapshots (ideal and vacancy cells at
  300 and 600 K), the exploration starts.
* Fixed test set: independent EMT Langevin snapshots of ideal cells (strain -1, 0, +1 %)
  and vacancy cells at 300, 700, 1100 and 1500 K, never labelled for training.
* Every round: a deep ensemble of ``N_MEMBERS`` networks (6 G2 + 8 G4 at 3.5 Å, hidden
  (10, 10); L-BFGS, ``MAX_ITER``; the likelihood of the uncertainty experiment) is trained
  from scratch on the labelled set; one committee Langevin run (BAOAB, 2 fs, friction
  0.01 fs⁻¹) per temperature in ``EXPLORE_T`` from a random start, ``N_STEPS`` steps, a
  frame every ``FRAME_EVERY``: the pool.  ``uncertain`` labels the ``PER_ROUND`` frames
  with the largest force spread, ``random`` as many uniformly at random from the same kind
  of pool (the same pool in round 0); ``N_ROUNDS`` rounds.  Both strategies use the same
  seeds.
* Learning curve: committee-mean force RMSE per component on the test set against the
  number of labelled configurations.  Label saving: how many fewer labels ``uncertain``
  needs to reach the final error of ``random`` (log-linear interpolation between rounds);
  negative or absent means no saving.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mlip_cu_emt import label  # noqa: E402
from mlip_uncertainty import PRIOR, SIGMA_E, SIGMA_F, bulk_runs, make_model  # noqa: E402

from langevin_opt.mlip import active as act  # noqa: E402
from langevin_opt.mlip import validation as V  # noqa: E402

N_INITIAL = 10
PER_ROUND = 10
N_ROUNDS = 4
N_MEMBERS = 4
MAX_ITER = 250
EXPLORE_T = (300.0, 700.0, 1100.0, 1500.0)
N_STEPS = 60
FRAME_EVERY = 6


def labels_needed(n, err, target):
    """Labels at which a learning curve first reaches ``target`` (log-linear), or ``None``."""
    n = np.asarray(n, dtype=np.float64)
    le = np.log(np.asarray(err, dtype=np.float64))
    lt = np.log(target)
    if le[0] <= lt:
        return float(n[0])
    for i in range(1, n.size):
        if le[i] <= lt:
            return float(n[i - 1] + (n[i] - n[i - 1]) * (le[i - 1] - lt) / (le[i - 1] - le[i]))
    return None


def main(argv=None) -> dict:
    """Run the experiment; write and return the results."""
    from ase.calculators.emt import EMT

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", default="results/mlip_active_learning")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="2 rounds of 4, short runs")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    a, _ = V.lattice_constant(EMT())
    n_rounds, per_round = (2, 4) if args.quick else (N_ROUNDS, PER_ROUND)
    test = label(bulk_runs(args.seed + 100, a, 2, temps=(300.0, 700.0, 1100.0, 1500.0),
                           vacancy_temps=(300.0, 700.0, 1100.0, 1500.0)))
    out = os.path.abspath(args.out_dir)
    os.makedirs(out, exist_ok=True)
    reps = []
    for rep in range(args.repeats):
        seed = args.seed + rep
        pool = label(bulk_runs(seed + 200, a, 3, strains=(0.0,), temps=(300.0, 600.0),
                               vacancy_temps=(300.0, 600.0)))
        initial = pool.subset(np.random.default_rng(seed).choice(len(pool), N_INITIAL,
                                                                 replace=False))
        row = {"seed": seed}
        for strategy in act.ACTIVE_STRATEGIES:
            t1 = time.perf_counter()
            res = act.active_learning(
                make_model(seed), initial, test, reference=EMT(), n_rounds=n_rounds,
                per_round=per_round, seed=seed, strategy=strategy, temperatures_K=EXPLORE_T,
                n_steps=30 if args.quick else N_STEPS, frame_every=FRAME_EVERY,
                n_members=N_MEMBERS, sigma_energy=SIGMA_E, sigma_force=SIGMA_F,
                prior_sigma=PRIOR, max_iter=100 if args.quick else MAX_ITER,
                out_dir=os.path.join(out, f"rep_{rep}", strategy), echo=print)
            n, f = res.learning_curve
            row[strategy] = {
                "n_labelled": n.tolist(), "force_rmse": f.tolist(),
                "energy_rmse_per_atom": [r["test"]["energy_rmse_per_atom"]
                                         for r in res.rounds],
                "mean_force_std": [r["test"]["mean_force_std"] for r in res.rounds],
                "selected_mean_spread": [float(np.mean(r["selected_max_force_std"]))
                                         for r in res.rounds[:-1]],
                "pool_median_spread": [float(np.median(r["pool_max_force_std"]))
                                       for r in res.rounds[:-1]],
                "wall_s": time.perf_counter() - t1}
        target = row["random"]["force_rmse"][-1]
        need = labels_needed(row["uncertain"]["n_labelled"], row["uncertain"]["force_rmse"],
                             target)
        row["labels_to_reach_random_final"] = {
            "random": row["random"]["n_labelled"][-1], "uncertain": need,
            "saving": None if need is None else row["random"]["n_labelled"][-1] - need}
        reps.append(row)
    curves = {}
    for s in act.ACTIVE_STRATEGIES:
        runs = np.array([r[s]["force_rmse"] for r in reps])
        curves[s] = {"n_labelled": reps[0][s]["n_labelled"],
                     "force_rmse": np.exp(np.log(runs).mean(axis=0)).tolist(),
                     "force_rmse_runs": runs.tolist()}
    need = labels_needed(curves["uncertain"]["n_labelled"], curves["uncertain"]["force_rmse"],
                         curves["random"]["force_rmse"][-1])
    res = {"seed": args.seed, "repeats": args.repeats, "quick": args.quick,
           "settings": {"n_initial": N_INITIAL, "per_round": per_round, "n_rounds": n_rounds,
                        "n_members": N_MEMBERS, "explore_T_K": EXPLORE_T,
                        "n_steps": N_STEPS, "frame_every": FRAME_EVERY,
                        "max_iter": MAX_ITER},
           "n_test": len(test), "curves": curves, "repeats_detail": reps,
           "labels_to_reach_random_final_mean_curve": {
               "random": curves["random"]["n_labelled"][-1], "uncertain": need,
               "saving": None if need is None else curves["random"]["n_labelled"][-1] - need},
           "wall_s": time.perf_counter() - t0}
    with open(os.path.join(out, "results.json"), "w") as fh:
        json.dump(res, fh, indent=2)
    print(json.dumps({k: res[k] for k in ("curves", "labels_to_reach_random_final_mean_curve",
                                          "wall_s")}, indent=2))
    return res


if __name__ == "__main__":
    main()
