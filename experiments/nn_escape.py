"""Escape out of a minimum of a small network's full-batch loss: Langevin rates vs Eyring–Kramers.

A 2-4-2 tanh classifier (22 parameters) on 40 two-moons points with a Gaussian prior
(sigma = 2).  Minima from 12 seeded starts (``nn.network_minima``), classes modulo
hidden-unit symmetry; the start is the lowest minimum, its partner the class
representative nearest to it modulo symmetry; ``nn.connect`` gives the CI-NEB barrier,
the dimer saddle and full Hessians.  Walkers run full-batch overdamped Langevin
(``nn.network_first_passage``, quench + L-BFGS commitment modulo symmetry) at
``T = ΔU / {3, 3.5, 4, 4.5}``; rates with 95 % intervals (``escape_rates``), an Arrhenius
fit (``rates.arrhenius_fit``) against the NEB barrier, and the ratio to
``nn.eyring_kramers_rate`` (one saddle: the start has no symmetry of its own).  Walkers
may also leave over other saddles, to other minima: the product classes are reported.

Then all the saddles the walkers used (``nn.escape_saddles``): the raw products (not
aligned) are grouped into distinct minima of parameter space, a path runs from the start
to each exact product, paths through intermediate minima (more than one maximum) or with
a saddle not of index 1 are reported and left out, and the distinct saddles are summed
into a total Eyring–Kramers rate (``eyring_kramers_total``, ``ratio_total`` per ``T``).
``figure_path`` holds the loss along the start-partner CI-NEB path (arc length, image
energies) and along the straight line between the aligned end points.

Run: ``python experiments/nn_escape.py [out.json]`` (6.5 minutes on 2 busy cores without
the saddle search; 26-39 minutes with it on 2 cores shared with four other jobs, load 5-17; the
committed result is ``paper/figures/nn_escape/results.json``).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from langevin_opt import nn
from langevin_opt.nn.escape import escape_rates, eyring_kramers_rate, network_first_passage
from langevin_opt.nn.paths import escape_saddles
from langevin_opt.rates.arrhenius import arrhenius_fit


def main(out: str = "nn_escape.json") -> dict:
    """Run the experiment and write its results to ``out`` (JSON).

    Parameters
    ----------
    out : str
        Path of the JSON file.

    Returns
    -------
    dict
        The results written.
    """
    t0 = time.time()
    ds = nn.two_moons(40, 0, noise=0.3, seed=2)
    net = nn.MLP([2, 4, 2], "tanh", "softmax_ce")
    ls = nn.mlp_landscape(net, ds.X_train, ds.y_train, batch_size=40, prior_sigma=2.0)
    m = nn.network_minima(ls, net, 12, seed=1, init_gain=2.0, descent_steps=100)
    ok = np.flatnonzero(m.is_minimum)
    cls = nn.distinct_minima(m.theta[ok], net, energies=m.energy[ok], tol=1e-3)
    reps = ok[cls.representatives]
    start = reps[np.argmin(m.energy[reps])]
    others = [r for r in reps if r != start]
    d = [nn.distance_modulo_symmetry(m.theta[start], m.theta[r], net) for r in others]
    partner = others[int(np.argmin(d))]
    con = nn.connect(ls, net, m.theta[start], m.theta[partner])
    p = con.path
    du = p.barrier_forward
    lam_max = float(p.spectrum_a.max())
    eta = 0.05 / lam_max
    temps = du / np.array([4.5, 4.0, 3.5, 3.0])
    k_ek = np.asarray(eyring_kramers_rate(p, temps))
    # time limit: three Eyring-Kramers times at the coldest temperature
    check = 200
    max_steps = int(np.ceil(3.0 / k_ek[0] / eta / check)) * check
    max_steps = min(max_steps, 400_000)
    r = network_first_passage(ls, con.theta_a, temps, max_steps, step_size=eta, net=net,
                              walkers=40, check_every=check, quench_steps=300, seed=7)
    rows = escape_rates(r, gof=True)
    done = ~r.censored
    prod_energy = np.round(r.product_energy[done], 6)
    table = []
    for row, k in zip(rows, k_ek, strict=True):
        table.append({"T": row["temperature"], "dU_over_T": du / row["temperature"],
                      "events": row["events"], "censored": row["censored"],
                      "rate": row["rate"], "rate_low": row["rate_low"],
                      "rate_high": row["rate_high"], "eyring_kramers": float(k),
                      "ratio": row["rate"] / float(k), "gof_p": row.get("gof_p")})
    # every saddle the walkers left over: one unaligned path to each distinct product
    es = escape_saddles(ls, r.start, r.product)
    k_tot = (np.asarray(eyring_kramers_rate(es, temps)) if es.saddle_path.size
             else np.full(temps.size, np.nan))
    for x, kt in zip(table, k_tot, strict=True):
        x["eyring_kramers_total"] = float(kt)
        x["ratio_total"] = x["rate"] / float(kt)
    saddles = []
    for s_id, j in enumerate(es.saddle_path):
        q = es.paths[int(j)]
        walkers = np.isin(es.labels, np.flatnonzero(es.path_saddle == s_id))
        saddles.append({
            "barrier": float(es.barrier[s_id]), "saddle_energy": float(es.saddle_energy[s_id]),
            "index": q.index_saddle, "ok": q.ok,
            "prefactor": float(eyring_kramers_rate(q, temps[0]) * np.exp(q.barrier_forward
                                                                         / temps[0])),
            "walkers_that_used_it": int(es.saddle_walkers[s_id]),
            "walkers_by_T": [int(np.sum(walkers & (r.temperature == t))) for t in temps],
            "distance_to_connect_saddle": float(np.linalg.norm(es.saddles[s_id] - p.saddle)),
        })
    product_paths = [{
        "product_energy": float(q.energies[-1]), "walkers": int(es.counts[j]),
        "n_maxima": int(es.n_maxima[j]), "index_saddle": q.index_saddle, "ok": q.ok,
        "barrier": q.barrier_forward, "saddle": int(es.path_saddle[j]),
        "distance_start_product": float(np.linalg.norm(q.images[-1] - q.images[0])),
    } for j, q in enumerate(es.paths)]
    fit = arrhenius_fit([x["T"] for x in table], [x["rate"] for x in table],
                        [x["events"] for x in table])
    res = {
        "network": "2-4-2 tanh, softmax CE, 40 two-moons points, prior sigma 2",
        "n_params": net.n_params, "n_minima_classes": int(cls.n_classes),
        "start_energy": float(m.energy[start]), "partner_energy": float(m.energy[partner]),
        "neb_barrier": du, "saddle_index": p.index_saddle, "path_ok": p.ok,
        "step_size": eta, "eta_lambda_max": eta * lam_max, "max_steps": max_steps,
        "walkers_per_T": 40, "table": table,
        "arrhenius_barrier": fit.barrier, "arrhenius_barrier_ci": list(fit.barrier_ci),
        "product_energies": sorted({float(e) for e in prod_energy}),
        "partner_hits": int(np.sum(np.abs(r.product_energy[done] - con.path.saddle_energy
                                          + p.barrier_backward) < 1e-5)),
        "n_polished": r.n_polished, "n_images": r.n_images,
        "n_distinct_products": int(es.products.shape[0]),
        "n_paths_excluded": es.n_excluded,
        "saddles": saddles,
        "product_paths": product_paths,
        "figure_path": {
            "description": "start -> partner (aligned) CI-NEB band and the straight line "
                           "between the same end points; distances in parameter units, "
                           "energies U in loss units",
            "arc_length": p.arc_length.tolist(), "energies": p.energies.tolist(),
            "straight_distance": (p.straight_s * float(np.linalg.norm(con.theta_b
                                                                       - con.theta_a))
                                  ).tolist(),
            "straight_energies": p.straight_energies.tolist(),
            "neb_barrier_from_start": p.barrier_forward,
            "straight_barrier_from_start": p.straight_barrier,
        },
        "wall_seconds": time.time() - t0,
    }
    with open(out, "w") as fh:
        json.dump(res, fh, indent=1)
    for x in table:
        print(f"T={x['T']:.4g} dU/T={x['dU_over_T']:.2f} events={x['events']} "
              f"censored={x['censored']} k={x['rate']:.3g} [{x['rate_low']:.3g}, "
              f"{x['rate_high']:.3g}] EK={x['eyring_kramers']:.3g} ratio={x['ratio']:.2f} "
              f"EK_total={x['eyring_kramers_total']:.3g} ratio_total={x['ratio_total']:.2f}")
    print(f"{len(saddles)} distinct saddles from {es.products.shape[0]} distinct products "
          f"({es.n_excluded} paths excluded): "
          + ", ".join(f"dU={x['barrier']:.4g} walkers={x['walkers_that_used_it']}"
                      for x in saddles))
    print(f"Arrhenius barrier {fit.barrier:.4g} {fit.barrier_ci} vs NEB {du:.4g}; "
          f"{res['wall_seconds']:.0f} s")
    return res


if __name__ == "__main__":
    main(*sys.argv[1:2])
