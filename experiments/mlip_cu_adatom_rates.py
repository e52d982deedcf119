"""Escape rate of a Cu adatom on Cu(100) on the learned potential: dynamics against HTST.

The last experiment of issue 14.  Three estimates of the rate at which an adatom in a
hollow site of Cu(100) hops to one of its four neighbouring hollow sites::

    python experiments/mlip_cu_adatom_rates.py --model paper/figures/mlip_cu_emt/model.npz
        [--out results/mlip_cu_adatom_rates.json] [--seed 0] [--quick]

1. *Measured* on the network (``--model``, written by ``experiments/mlip_cu_emt.py``): first
   passage of Langevin (BAOAB) replicas at several temperatures
   (:func:`langevin_opt.particles.cluster_first_passage` with a ``state`` function),
   censoring-aware rates (:func:`langevin_opt.rates.estimate_rate`) and an Arrhenius fit
   (:func:`~langevin_opt.rates.arrhenius_fit`, with :func:`~langevin_opt.rates.bootstrap_arrhenius`
   intervals over replicas).
2. *Harmonic TST on the network*: its own minimum and saddle (the package's CI-NEB refined by
   the dimer method, :func:`langevin_opt.rates.find_saddle`, on
   :func:`langevin_opt.mlip.validation.flat_function`), Hessians by central differences of its
   analytic forces (:func:`~langevin_opt.rates.saddles.hessian_fd`), Vineyard's rate
   (:func:`~langevin_opt.rates.vineyard_rate`) and Langer's
   (:func:`~langevin_opt.rates.langer_rate`) with the friction of the dynamics.
3. *Harmonic TST on EMT* (``ase.calculators.emt.EMT``, the network's reference): the same code on
   EMT's energy and forces through ASE (:func:`~langevin_opt.mlip.validation.ase_flat_function`).

Setup (the same for all three)
------------------------------
* Cu(100) slab 4x4 surface cells, 4 layers (64 atoms) plus one adatom, from
  :func:`~langevin_opt.mlip.validation.fcc100_slab` at EMT's lattice constant, periodic box
  with 12 Å of vacuum between slab images; the **bottom two layers are fixed** (the same
  slab the network was trained on): ``fixed=`` of
  :func:`~langevin_opt.particles.run_replicas` (inverse mass 0: they never move).  The 33
  moving atoms (top two layers and the adatom) are the 99 coordinates of the saddle
  searches and Hessians; no zero modes (the fixed layers pin the slab).
* Units: eV, Å, amu (Cu 63.546); the time unit is Å sqrt(amu/eV) = 10.1805 fs; temperatures
  are ``k_B T`` in eV (``k_B`` = 8.617333e-5 eV/K); rates are reported in 1/ps.
* Rate out of the hollow site = 4 x the rate through one bridge saddle: the hollow site has
  C4v symmetry, and its four bridge saddles (to the four neighbouring hollows) are images of
  each other under it.  Exchange (the adatom replacing a surface atom) is a different,
  higher-barrier channel and is not in the harmonic rates; the dynamics counts it apart.

Dynamics and the escape criterion
---------------------------------
BAOAB with ``DT`` (0.6 time units, 6.1 fs) and friction ``FRICTION`` (0.02 per time unit,
1.96 per ps); replicas start in the network's relaxed minimum with Maxwell–Boltzmann
velocities and run ``BURN_IN`` (1.5 ps, three relaxation times 1/friction) before the clock
starts (replicas that hopped during it are dropped).  Every ``CHECK_EVERY`` steps
(25 steps, 0.15 ps) the adatom's site is read off the raw positions
(:class:`~langevin_opt.mlip.validation.HollowSites`): its lateral displacement from the
start, measured relative to the mean displacement of the top layer, within ``RADIUS``
(0.6 Å; the bridge is 1.27 Å away) of another hollow site commits it to that site.  An
adatom below 0.5 Å above the top layer (sunk into it: an exchange), or a top-layer atom
more than 0.8 site spacings (2.03 Å) from its lattice site relative to the layer (an atom
popping out, an exchange, a disordering surface) is an *other* event.  (Half a spacing was
tried first: the network's surface makes thermal excursions that large at 800–950 K which
quench back to the start minimum, and these stopped most replicas.)  A *hop* is a
commitment to another hollow site: one of the four nearest (counted as ``events_hop``) or
a farther one (``events_far_site``: a multiple jump whose intermediate site was crossed
outside its commitment region or between two checks; it too left the start site through
one of the four bridges).  An other event is censored at its time in the hop rate
(competing channels: the cause-specific rate is events / time at risk).  The time
limit at each temperature is ``--time-factor`` (0.4) over the network's own HTST rate there
(a design choice made before any dynamics; censored replicas enter the estimators as such).
The temperatures, 825–925 K, are a compromise: the trained network's barrier (0.47 eV)
makes hops rare below them on a 15–30 min budget (about 1 hop per 40–70 ps), and from
about 950 K up its Cu(100) surface makes large excursions within a picosecond or two
(EMT's at 1050 K much less).

With few events per temperature, the most informative comparison is pooled: all escapes
against the number each theory predicts for the same time at risk (``sum_T k(T) S_T``),
with an exact Poisson interval (``pooled`` in the JSON).

What the other events are (checked by quenching their configurations on the network, not
part of this script): almost all are *row slides*, a whole periodic row of four top-layer
atoms moving by one spacing (sometimes carrying the adatom along), which quench to a copy of
the start minimum.  They are a finite-size mode of the 4x4 cell, frequent on the network at
825–925 K (29 of 37 events); a short check on EMT at 1050 K (8 replicas, 3 ps, the stricter
half-spacing test) saw 4 escapes and 1 other event.  They end a replica's time at risk for hops.

Nothing is tuned: the ratios measured/HTST are reported as they come out.  Writes the JSON
``--out`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from langevin_opt.mlip.active import KB_EV, TIME_UNIT_FS  # eV/K; fs

MASS = 63.546                   # amu
TIME_UNIT_PS = TIME_UNIT_FS * 1e-3  # Å sqrt(amu/eV) in ps
TEMPS_K = (825.0, 875.0, 925.0)
DT = 0.6                        # time units (6.1 fs)
FRICTION = 0.02                 # per time unit (1.96 per ps)
BURN_IN_PS = 1.5
CHECK_EVERY = 25
REPLICAS = 14
TIME_FACTOR = 0.4
RADIUS = 0.6                    # Å
MIN_HEIGHT = 0.5                # Å
N_HOPS = 4                      # C4v: four equivalent bridge saddles around a hollow


def per_ps(rate):
    """A rate in inverse time units as 1/ps."""
    return np.asarray(rate) / TIME_UNIT_PS if np.ndim(rate) else float(rate) / TIME_UNIT_PS


def setup(a: float):
    """Slab with the adatom in a hollow and in the next one; fixed mask, box, top layer."""
    from langevin_opt.mlip import validation as V

    start, end = V.adatom_hop_endpoints(V.fcc100_slab("Cu", a))
    fixed = np.zeros(len(start), dtype=bool)
    for c in start.constraints:
        fixed[c.get_indices()] = True
    z = start.positions[:-1, 2]
    top = np.flatnonzero(np.abs(z - z.max()) < 0.1)
    return start, end, fixed, np.diag(start.cell).copy(), top


def harmonic(f, x_start, x_end, temps_ev, *, n_images=7, fmax=1e-3):
    """Minimum, saddle and HTST/Langer rates (4 hops, 1/ps) of one energy function."""
    from langevin_opt import rates

    sr = rates.find_saddle(f, x_start, x_end, n_images=n_images, fmax=fmax, n_zero=0)
    k1 = np.atleast_1d(rates.vineyard_rate(sr.minimum, sr.saddle, temps_ev, mass=MASS))
    kl = np.atleast_1d(rates.langer_rate(sr.minimum, sr.saddle, temps_ev, friction=FRICTION,
                                         mass=MASS))
    wb = float(np.sqrt(-sr.saddle.eigenvalues[0] / MASS))
    nu = N_HOPS * float(k1[0] * np.exp(sr.barrier / temps_ev[0]))
    return sr, {
        "barrier_eV": float(sr.barrier), "saddle_ok": bool(sr.ok),
        "neb_converged": bool(sr.neb.converged), "dimer_converged": bool(sr.dimer.converged),
        "saddle_gradient_norm": float(sr.dimer.gradient_norm),
        "prefactor_per_ps": per_ps(nu),
        "unstable_frequency_per_ps": per_ps(wb),
        "langer_factor": float(kl[0] / k1[0]),
        "lowest_minimum_eigenvalues_eV_A2": sr.minimum.eigenvalues[:3].tolist(),
        "saddle_eigenvalues_eV_A2": sr.saddle.eigenvalues[:3].tolist(),
        "htst_per_ps": per_ps(N_HOPS * k1).tolist(),
        "langer_per_ps": per_ps(N_HOPS * kl).tolist(),
    }


def main(argv=None) -> dict:
    """Run the experiment; write and return the results."""
    from ase.calculators.emt import EMT

    from langevin_opt import mlip, rates
    from langevin_opt.mlip import validation as V
    from langevin_opt.particles import LangevinBAOAB, cluster_first_passage

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model.npz of experiments/mlip_cu_emt.py")
    p.add_argument("--out", default="results/mlip_cu_adatom_rates.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperatures", type=float, nargs="+", default=list(TEMPS_K),
                   help="temperatures (K)")
    p.add_argument("--replicas", type=int, default=REPLICAS, help="replicas per temperature")
    p.add_argument("--time-factor", type=float, default=TIME_FACTOR,
                   help="time limit per temperature, in units of 1/k_HTST(network)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 2 temperatures, 4 replicas, short runs")
    args = p.parse_args(argv)
    temps_k = np.array(args.temperatures[:2] if args.quick else args.temperatures, dtype=float)
    replicas = 4 if args.quick else args.replicas
    tfac = 0.2 if args.quick else args.time_factor
    burn_ps = 0.3 if args.quick else BURN_IN_PS
    kT = KB_EV * temps_k
    t0 = time.perf_counter()
    timing = {}

    a_emt, _ = V.lattice_constant(EMT())
    start, end, fixed, box, top = setup(a_emt)
    moving = np.flatnonzero(~fixed)
    adatom = len(start) - 1
    model = mlip.load_model(args.model)
    pot = model.bind(start.get_chemical_symbols())
    timing["setup_s"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    f_nn, xs = V.flat_function(pot, start.positions, box, moving)
    xe = V.flat_function(pot, end.positions, box, moving)[1]
    sr_nn, nn = harmonic(f_nn, xs, xe, kT)
    timing["htst_network_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    f_emt, xs = V.ase_flat_function(start, EMT(), moving)
    xe = V.ase_flat_function(end, EMT(), moving)[1]
    _, emt = harmonic(f_emt, xs, xe, kT)
    timing["htst_emt_s"] = time.perf_counter() - t2
    print(f"network: barrier {nn['barrier_eV']:.4f} eV, prefactor {nn['prefactor_per_ps']:.3g}"
          f"/ps (saddle ok {nn['saddle_ok']});  EMT: barrier {emt['barrier_eV']:.4f} eV, "
          f"prefactor {emt['prefactor_per_ps']:.3g}/ps (ok {emt['saddle_ok']})", flush=True)

    # first passage on the network, from its own minimum
    x_min = start.positions.copy()
    x_min[moving] = sr_nn.minimum.x.reshape(-1, 3)
    sites = V.HollowSites(x_min, adatom, top, box, a_emt / np.sqrt(2.0), radius=RADIUS,
                          min_height=MIN_HEIGHT)
    integ = LangevinBAOAB(DT, FRICTION)
    burn = int(round(burn_ps / TIME_UNIT_PS / DT))
    rows, times, cens_hop = [], [], []
    t3 = time.perf_counter()
    for i, (T, k_ps) in enumerate(zip(kT, nn["htst_per_ps"], strict=True)):
        t_max_ps = tfac / k_ps
        steps = CHECK_EVERY * max(1, int(np.ceil(t_max_ps / TIME_UNIT_PS / DT / CHECK_EVERY)))
        ti = time.perf_counter()
        fp = cluster_first_passage(x_min, model, integ, [T], steps, replicas=replicas,
                                   check_every=CHECK_EVERY, state=sites, burn_in=burn,
                                   seed=args.seed, masses=MASS, box=box, fixed=fixed,
                                   stream_offset=i * replicas)
        wall = time.perf_counter() - ti
        t_ps = fp.time * TIME_UNIT_PS
        ev = ~fp.censored
        hop = ev & np.isin(fp.product_state, sites.neighbours)
        other = ev & (fp.product_state == sites.other)
        far = ev & ~hop & ~other
        est = rates.estimate_rate(t_ps, ~(hop | far), seed=args.seed)
        row = {"T_K": float(temps_k[i]), "kT_eV": float(T), "replicas": replicas,
               "dropped_in_burn_in": int(fp.dropped.sum()), "max_time_ps": steps * DT *
               TIME_UNIT_PS, "events_escape": int((hop | far).sum()),
               "events_hop": int(hop.sum()), "events_other": int(other.sum()),
               "events_far_site": int(far.sum()),
               "event_times_ps": t_ps[ev].tolist(),
               "event_labels": fp.product_state[ev].tolist(),
               "censored": int((fp.censored & ~fp.dropped).sum()),
               "rate_per_ps": est["rate"], "rate_low": est["rate_low"],
               "rate_high": est["rate_high"], "exposure_ps": est["exposure"],
               "gof_p": est.get("gof_p"),
               "htst_network_per_ps": nn["htst_per_ps"][i],
               "langer_network_per_ps": nn["langer_per_ps"][i],
               "htst_emt_per_ps": emt["htst_per_ps"][i],
               "replica_steps": int(fp.replica_steps), "wall_s": wall}
        for key, name in (("htst_network_per_ps", "htst_network"),
                          ("langer_network_per_ps", "langer_network"),
                          ("htst_emt_per_ps", "htst_emt")):
            row[f"ratio_measured_{name}"] = est["rate"] / row[key]
        rows.append(row)
        times.append(t_ps)
        cens_hop.append(~(hop | far))
        print(f"T {temps_k[i]:6.0f} K: {row['events_escape']:3d} escapes ({row['events_hop']} "
              f"hops, {row['events_far_site']} far; {row['events_other']} other, "
              f"{row['censored']} censored, "
              f"{row['dropped_in_burn_in']} dropped), k = {est['rate']:.4g} "
              f"[{est['rate_low']:.4g}, {est['rate_high']:.4g}]/ps, {wall:.0f} s", flush=True)
    timing["first_passage_s"] = time.perf_counter() - t3

    fit = None
    if sum(r["events_escape"] > 0 for r in rows) >= 2:
        wls = rates.arrhenius_fit(kT, [r["rate_per_ps"] for r in rows],
                                  [r["events_escape"] for r in rows])
        boot = rates.bootstrap_arrhenius(kT, times, cens_hop, n_boot=2000, seed=args.seed)
        fit = {"barrier_eV": wls.barrier, "barrier_ci95_eV": list(wls.barrier_ci),
               "barrier_ci95_bootstrap_eV": list(boot.barrier_ci),
               "prefactor_per_ps": wls.prefactor,
               "prefactor_ci95_per_ps": [float(np.exp(v)) for v in wls.log_prefactor_ci],
               "prefactor_ci95_bootstrap_per_ps": [float(np.exp(v))
                                                   for v in boot.log_prefactor_ci],
               "chi2": wls.chi2, "dof": wls.dof}
    pooled = pooled_ratios(rows)
    timing["total_s"] = time.perf_counter() - t0

    res = {
        "model": os.path.abspath(args.model), "seed": args.seed, "quick": args.quick,
        "setup": {"lattice_constant_A": a_emt, "slab": "Cu(100) 4x4, 4 layers + adatom",
                  "n_atoms": len(start), "fixed_atoms": int(fixed.sum()),
                  "moving_atoms": int(moving.size), "mass_amu": MASS,
                  "dt_fs": DT * TIME_UNIT_PS * 1e3, "friction_per_ps": FRICTION / TIME_UNIT_PS,
                  "burn_in_ps": burn * DT * TIME_UNIT_PS,
                  "check_every_ps": CHECK_EVERY * DT * TIME_UNIT_PS,
                  "commitment_radius_A": RADIUS, "exchange_height_A": MIN_HEIGHT,
                  "surface_atom_off_site_A": sites.max_displacement,
                  "site_labels": {"start": 0, "neighbours": sites.neighbours.tolist(),
                                  "other": sites.other},
                  "equivalent_hops": N_HOPS, "time_factor": tfac,
                  "replicas_per_temperature": replicas},
        "network_htst": nn, "emt_htst": emt, "temperatures": rows, "arrhenius_fit": fit,
        "pooled": pooled,
        "timing_s": timing,
    }
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as fh:
        json.dump(res, fh, indent=2)
    print_table(res)
    return res


def pooled_ratios(rows: list) -> dict:
    """Escapes at all temperatures against those each theory predicts for the same exposure.

    ``expected = sum_T k_theory(T) S_T`` (``S_T`` the time at risk); the ratio
    ``observed / expected`` with the exact (Garwood) Poisson 95 % interval: one number per
    theory that uses every event, where a per-temperature Arrhenius fit has few.
    """
    from scipy import stats

    n = sum(r["events_escape"] for r in rows)
    out = {"events": n}
    for key, name in (("htst_network_per_ps", "htst_network"),
                      ("langer_network_per_ps", "langer_network"),
                      ("htst_emt_per_ps", "htst_emt")):
        expected = sum(r[key] * r["exposure_ps"] for r in rows)
        lo = stats.chi2.ppf(0.025, 2 * n) / 2 / expected if n else 0.0
        hi = stats.chi2.ppf(0.975, 2 * n + 2) / 2 / expected
        out[name] = {"expected_events": expected, "ratio": n / expected,
                     "ratio_ci95": [float(lo), float(hi)]}
    return out


def print_table(res: dict) -> None:
    """The per-temperature table and the barriers."""
    print(f"\n{'T/K':>6} {'esc':>5} {'othr':>5} {'cens':>5} {'k_MD/ps':>9} {'95% CI':>19} "
          f"{'HTST_nn':>9} {'Langer_nn':>9} {'HTST_EMT':>9} {'MD/HTSTnn':>9} {'MD/EMT':>7}")
    for r in res["temperatures"]:
        print(f"{r['T_K']:6.0f} {r['events_escape']:5d} {r['events_other']:5d} "
              f"{r['censored']:5d} "
              f"{r['rate_per_ps']:9.4f} [{r['rate_low']:7.4f}, {r['rate_high']:7.4f}] "
              f"{r['htst_network_per_ps']:9.4f} {r['langer_network_per_ps']:9.4f} "
              f"{r['htst_emt_per_ps']:9.4f} {r['ratio_measured_htst_network']:9.3f} "
              f"{r['ratio_measured_htst_emt']:7.3f}")
    nn, emt, fit = res["network_htst"], res["emt_htst"], res["arrhenius_fit"]
    print(f"barrier: network saddle {nn['barrier_eV']:.4f} eV, EMT saddle "
          f"{emt['barrier_eV']:.4f} eV", end="")
    if fit:
        print(f", Arrhenius fit of the MD rates {fit['barrier_eV']:.3f} eV "
              f"[{fit['barrier_ci95_eV'][0]:.3f}, {fit['barrier_ci95_eV'][1]:.3f}]")
        print(f"prefactor (4 hops): network HTST {nn['prefactor_per_ps']:.3g}/ps, EMT HTST "
              f"{emt['prefactor_per_ps']:.3g}/ps, Arrhenius fit {fit['prefactor_per_ps']:.3g}/ps "
              f"[{fit['prefactor_ci95_per_ps'][0]:.3g}, {fit['prefactor_ci95_per_ps'][1]:.3g}]")
    else:
        print()
    pl = res["pooled"]
    print(f"pooled over temperatures, {pl['events']} escapes: " + ", ".join(
        f"measured/{k} {pl[k]['ratio']:.3g} [{pl[k]['ratio_ci95'][0]:.3g}, "
        f"{pl[k]['ratio_ci95'][1]:.3g}]" for k in ("htst_network", "langer_network", "htst_emt")))
    print(f"total {res['timing_s']['total_s']:.0f} s")


if __name__ == "__main__":
    main()
