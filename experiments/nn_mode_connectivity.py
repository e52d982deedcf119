"""Mode connectivity against width: barriers between independent minima of a small classifier.

2-w-2 tanh networks, softmax cross-entropy, two-moons points (noise 0.3, seed 2), a
Gaussian prior (sigma = 2) on all parameters, for hidden widths w = 2, 4, 8, 16, 32, 64 and
two data sets: 40 points (the landscape of ``experiments/nn_escape.py``) and 100 points.
For each width, ``N_MINIMA`` minima from independent seeded starts (``nn.network_minima``:
weights ``N(0, 4 / fan_in)``, 100 full-batch gradient-descent steps, L-BFGS polish; points
whose Hessian is not positive definite are listed but not paired).  For every pair the
higher minimum is aligned to the lower one modulo hidden-unit permutations and sign flips
(``nn.connect``) and a CI-NEB path with AutoNEB insertion and a dimer-refined saddle joins
them.  Per pair:

* ``neb_barrier``: ``U(saddle) - U(lower)``, the barrier forward from the lower minimum;
* ``straight_barrier``: ``max U`` on the straight line between the aligned end points minus
  the *higher* end point (``0`` when the line never rises above it: linearly connected);
* ``saddle_index``: negative Hessian eigenvalues at the saddle (the full finite-difference
  Hessian up to ``FULL_MAX`` parameters, else the ``K_LANCZOS`` lowest by Lanczos, so at most
  that many), ``n_maxima`` of the band (more than one: the path crosses intermediate minima),
  ``ok`` (converged, end points minima, saddle of index 1).  ``FULL_MAX = 400`` covers every
  width here (P <= 322): Lanczos (ARPACK ``eigsh``, tol 1e-8) on finite-difference
  Hessian-vector products did not converge at a w = 64 point (clustered small eigenvalues),
  and the full Hessian costs only ``2 P`` gradients.  At w = 64 the CI-NEB band does not
  reach ``fmax = 1e-3`` (5000 FIRE iterations; 20000 did not either, max force 0.01, at four
  times the cost), so ``ok`` is false there, but the dimer refines the climbing image to an
  index-1 saddle with ``|grad U| ~ 1e-14`` (``refined``, ``saddle_gradient_norm``): the
  barrier is that saddle's.

A pair is ``valid`` when its saddle is dimer-refined and of index 1.  On the 100-point set
the band sometimes blows up during AutoNEB image insertion (FIRE; path length 40 times the
end-point distance, "barrier" 1211 at a point of index 0); such a pair is run once more as a
plain CI-NEB (``max_rounds = 0``, ``retried``), and pairs still invalid are left out of the
statistics (``n_invalid``).

Pairs that are one minimum modulo symmetry (aligned distance below ``SAME_TOL``) have no
barrier; they are listed with ``same_minimum = true`` and left out of the statistics.  Per
width: median, min and max of both barriers over the other pairs.  Energies ``U`` in loss
units (sum of the per-point losses plus the prior), ``k_B = 1``; distances in parameter units.

Run: ``python experiments/nn_mode_connectivity.py [out_dir]`` (default
``paper/figures/nn_mode_connectivity``; writes ``results.json`` there; 18 minutes wall on 2
cores shared with four other jobs, load 5-10; about 4 minutes of it for the 40-point set).
"""

from __future__ import annotations

import json
import os
import sys
import time
from itertools import combinations

import numpy as np

from langevin_opt import nn
from langevin_opt.nn.paths import count_maxima

WIDTHS = (2, 4, 8, 16, 32, 64)
N_DATA = (40, 100)
N_MINIMA = 12
SAME_TOL = 1e-3
FULL_MAX = 400
K_LANCZOS = 6
PATH_OPTIONS = {"n_images": 9, "max_images": 17, "max_rounds": 2, "n_straight": 41,
                "full_max": FULL_MAX, "k": K_LANCZOS, "max_iter": 5000}


def _stats(v: list[float]) -> dict:
    """Median, min and max of a list (``None`` when empty: valid JSON)."""
    if not v:
        return {"median": None, "min": None, "max": None, "n": 0}
    a = np.asarray(v, dtype=np.float64)
    return {"median": float(np.median(a)), "min": float(a.min()), "max": float(a.max()),
            "n": int(a.size)}


def _valid(p: nn.PathResult) -> bool:
    """A dimer-refined saddle of index 1 (the barrier is a saddle's, whatever the band did)."""
    return bool(p.refined and p.index_saddle == 1)


def run_width(width: int, n_minima: int = N_MINIMA, seed: int = 1, n_data: int = 40) -> dict:
    """Minima of the 2-``width``-2 network and the barriers between every pair of them.

    Parameters
    ----------
    width : int
        Hidden units.
    n_minima : int
        Independent starts (each one minimum after polishing).
    seed : int
        Seed of the starts.
    n_data : int
        Two-moons training points.

    Returns
    -------
    dict
        ``n_data``, ``width``, ``n_params``, ``energies`` of the minima, ``pairs`` (one dict
        per pair) and per-width ``stats``.
    """
    t0 = time.time()
    ds = nn.two_moons(n_data, 0, noise=0.3, seed=2)
    net = nn.MLP([2, width, 2], "tanh", "softmax_ce")
    ls = nn.mlp_landscape(net, ds.X_train, ds.y_train, batch_size=n_data, prior_sigma=2.0)
    m = nn.network_minima(ls, net, n_minima, seed=seed, init_gain=2.0, descent_steps=100,
                          full_max=FULL_MAX)
    pairs = []
    for i, j in combinations(np.flatnonzero(m.is_minimum).tolist(), 2):
        lo_, hi_ = (i, j) if m.energy[i] <= m.energy[j] else (j, i)
        row = {"lower": lo_, "higher": hi_, "energy_lower": float(m.energy[lo_]),
               "energy_higher": float(m.energy[hi_])}
        al = nn.align(m.theta[lo_], m.theta[hi_], net)
        row["aligned_distance"] = float(al.distance)
        row["distance_before_alignment"] = float(al.distance_before)
        if al.distance < SAME_TOL:
            row["same_minimum"] = True
            pairs.append(row)
            continue
        tp = time.time()
        con = nn.connect(ls, net, m.theta[lo_], m.theta[hi_], **PATH_OPTIONS)
        row["retried"] = not _valid(con.path)
        if row["retried"]:  # the band blew up during image insertion: plain CI-NEB once more
            con = nn.connect(ls, net, m.theta[lo_], m.theta[hi_],
                             **{**PATH_OPTIONS, "max_rounds": 0})
        p = con.path
        e_hi = max(float(p.energies[0]), float(p.energies[-1]))
        row.update({
            "same_minimum": False,
            "neb_barrier": p.barrier_forward,
            "straight_barrier": max(float(p.straight_energies.max()) - e_hi, 0.0),
            "straight_barrier_from_lower": p.straight_barrier,
            "saddle_index": p.index_saddle, "full_hessian": p.full_hessian,
            "lowest_saddle_eigenvalue": float(p.spectrum_saddle[0]),
            "index_ends": [p.index_a, p.index_b], "n_maxima": count_maxima(p.energies),
            "ok": p.ok, "valid": _valid(p), "refined": p.refined,
            "saddle_gradient_norm": p.saddle_gradient_norm, "n_images": int(p.images.shape[0]),
            "neb_converged": bool(p.neb.converged), "path_length": float(p.arc_length[-1]),
            "seconds": time.time() - tp,
        })
        pairs.append(row)
    other = [r for r in pairs if not r["same_minimum"] and r["valid"]]
    return {
        "n_data": n_data, "width": width, "n_params": net.n_params,
        "energies": m.energy.tolist(), "is_minimum": m.is_minimum.tolist(),
        "lowest_eigenvalues": m.lowest_eigenvalue.tolist(),
        "n_classes": int(nn.distinct_minima(m.theta[m.is_minimum], net,
                                            energies=m.energy[m.is_minimum],
                                            tol=SAME_TOL).n_classes),
        "pairs": pairs,
        "stats": {"neb_barrier": _stats([r["neb_barrier"] for r in other]),
                  "straight_barrier": _stats([r["straight_barrier"] for r in other]),
                  "n_same_minimum": sum(r["same_minimum"] for r in pairs),
                  "n_invalid": sum(not r["same_minimum"] and not r["valid"] for r in pairs),
                  "n_retried": sum(bool(r.get("retried")) for r in pairs),
                  "n_ok": sum(bool(r["ok"]) for r in other),
                  "n_index_1": sum(r["saddle_index"] == 1 for r in other),
                  "n_multiple_maxima": sum(r["n_maxima"] > 1 for r in other)},
        "seconds": time.time() - t0,
    }


def main(out_dir: str = "paper/figures/nn_mode_connectivity",
         widths: tuple[int, ...] = WIDTHS, n_minima: int = N_MINIMA,
         n_data: tuple[int, ...] = N_DATA) -> dict:
    """Run every data set and width and write ``results.json`` to ``out_dir``.

    Parameters
    ----------
    out_dir : str
        Output folder (created).
    widths : tuple of int
        Hidden widths.
    n_minima : int
        Minima per width (``n (n - 1) / 2`` pairs).
    n_data : tuple of int
        Two-moons training-set sizes.

    Returns
    -------
    dict
        The results written.
    """
    t0 = time.time()
    rows = []
    for nd, w in ((nd, w) for nd in n_data for w in widths):
        r = run_width(w, n_minima, n_data=nd)
        rows.append(r)
        st = r["stats"]
        nb, sb = st["neb_barrier"], st["straight_barrier"]
        line = (f"NEB median {nb['median']:.4g} [{nb['min']:.4g}, {nb['max']:.4g}] "
                f"straight median {sb['median']:.4g} [{sb['min']:.4g}, {sb['max']:.4g}] "
                if nb["n"] else "no distinct pair ")
        print(f"N={nd:3d} w={w:3d} P={r['n_params']:4d} classes={r['n_classes']} {line}"
              f"same={st['n_same_minimum']} ok={st['n_ok']} retried={st['n_retried']} "
              f"invalid={st['n_invalid']} {r['seconds']:.0f} s", flush=True)
    res = {
        "description": "Barriers between independent minima of 2-w-2 tanh softmax-CE "
                       "classifiers (N two-moons points, noise 0.3, seed 2, prior sigma 2) "
                       "against hidden width w; see the module docstring of "
                       "experiments/nn_mode_connectivity.py",
        "units": "U = sum of per-point losses + ||theta||^2 / (2 sigma^2) (loss units, k_B = 1); "
                 "distances in parameter units",
        "fields": {
            "neb_barrier": "U(saddle) - U(lower minimum), CI-NEB + dimer, higher minimum "
                           "aligned to the lower modulo hidden-unit symmetry",
            "straight_barrier": "max U on the straight line between the aligned end points "
                                "(41 points) minus U(higher end), clipped at 0",
            "saddle_index": "negative Hessian eigenvalues at the saddle: full Hessian when "
                            f"n_params <= {FULL_MAX}, else the {K_LANCZOS} lowest by Lanczos",
            "n_maxima": "interior maxima of the band energies (>1: intermediate minima)",
            "same_minimum": f"aligned distance < {SAME_TOL}: one minimum modulo symmetry, "
                            "no path (excluded from stats)",
            "valid": "the saddle is dimer-refined and of index 1 (else the pair is left out "
                     "of stats and counted in n_invalid)",
            "retried": "the first band (with AutoNEB insertion) gave no valid saddle; the "
                       "numbers are from a second plain CI-NEB run (max_rounds = 0)",
            "stats": "median, min, max over the valid pairs that are not the same minimum "
                     "(null when there is none)",
        },
        "widths": list(widths), "n_data": list(n_data), "n_minima": n_minima,
        "path_options": PATH_OPTIONS,
        "results": rows, "wall_seconds": time.time() - t0,
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.json"), "w") as fh:
        json.dump(res, fh, indent=1)
    print(f"{res['wall_seconds']:.0f} s")
    return res


if __name__ == "__main__":
    main(*sys.argv[1:2])
