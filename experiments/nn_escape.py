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

Run: ``python experiments/nn_escape.py [out.json]`` (6.5 minutes on 2 busy cores; the committed
result is ``paper/figures/nn_escape/results.json``).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from langevin_opt import nn
from langevin_opt.nn.escape import escape_rates, eyring_kramers_rate, network_first_passage
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
        "wall_seconds": time.time() - t0,
    }
    with open(out, "w") as fh:
        json.dump(res, fh, indent=1)
    for x in table:
        print(f"T={x['T']:.4g} dU/T={x['dU_over_T']:.2f} events={x['events']} "
              f"censored={x['censored']} k={x['rate']:.3g} [{x['rate_low']:.3g}, "
              f"{x['rate_high']:.3g}] EK={x['eyring_kramers']:.3g} ratio={x['ratio']:.2f}")
    print(f"Arrhenius barrier {fit.barrier:.4g} {fit.barrier_ci} vs NEB {du:.4g}; "
          f"{res['wall_seconds']:.0f} s")
    return res


if __name__ == "__main__":
    main(*sys.argv[1:2])
