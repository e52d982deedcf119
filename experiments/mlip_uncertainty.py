"""Is the committee's uncertainty honest?  Deep ensemble vs posterior (SG-MCMC) committee on EMT Cu.

Reproducible (one seed); about 20 minutes on 2 shared cores::

    python experiments/mlip_uncertainty.py [--out-dir paper/figures/mlip_uncertainty] [--seed 0]

Writes to ``--out-dir``: ``results.json`` (every number below), ``figure_data.npz`` (the
calibration curves, errors and spreads of force components, member barriers), which
``paper/figures/fig_mlip_uncertainty.py`` draws, and ``ensemble.npz`` / ``posterior.npz``
(the committees, :func:`langevin_opt.mlip.save_committee`).

Data (labelled by ``ase.calculators.emt.EMT``; eV, Å)
-----------------------------------------------------
Snapshots of ASE Langevin dynamics on EMT (:func:`mlip_cu_emt.md_snapshots`: 5 fs steps,
friction 0.02 fs⁻¹, 20 steps burn-in, one snapshot every 10 steps), bulk only, in small
cells: 2x2x2 cubic fcc (32 atoms; edge 7.18 Å, so the cutoff is 3.5 Å, the first
neighbour shell) and the same cell with one vacancy (31 atoms).

* training: ideal cells at strains -1 %, 0, +1 % and vacancy cells at 0 %, each at 300,
  600 and 900 K;
* validation (for the post-hoc scale factor) and in-distribution test: the same recipe
  from independent runs (other seeds);
* out of distribution: *hot* (1400 K, ideal and vacancy cells), *strained* (±2.5 %,
  600 K), *surface* (a Cu(100) slab 3x3 cells x 4 layers, 36 atoms, bottom two layers
  fixed, at 300 and 600 K; training saw no surface).

Committees (same network, same likelihood)
------------------------------------------
Behler–Parrinello network, 6 G2 (2–3.5 Å) + 8 G4, hidden (10, 10), tanh.  The likelihood
of :mod:`langevin_opt.mlip.committee` with ``sigma_E`` = 3 meV/atom and ``sigma_F`` =
0.03 eV/Å, Gaussian prior of standard deviation 1 on every weight.

* *ensemble*: :func:`~langevin_opt.mlip.deep_ensemble`, 6 members from independent
  initialisations, L-BFGS to the minimum of ``U``;
* *posterior*: :func:`~langevin_opt.mlip.posterior_committee`, 6 chains of full-batch
  SGLD at ``T = 1`` on the same ``U``, chain ``k`` started from ensemble member ``k``
  (over-dispersed starts) after ``POLISH_ITERS`` more L-BFGS-B iterations on ``U`` (an
  optimisation burn-in: the members stop 400 iterations in, some 490-780 nats above where
  the chains then sit), each in its own constant diagonal metric ``M = diag(1 /
  max(|H_pp|, 1))`` from the finite-difference Hessian of ``U`` at its start
  (``metric="diagonal"``; a constant metric leaves the posterior invariant, no correction
  term, unlike pSGLD's adaptive one), step ``POST_STEP`` in the metric's coordinates
  (halved and rerun if a chain diverges), ``POST_STEPS`` steps, the first fifth burn-in,
  thinned by the measured autocorrelation time, one member per chain.  Its R-hat across
  chains, R-hat within each chain and the share of the variance that lies between chains
  are reported: network posteriors are multimodal and a chain does not leave its mode, so
  the committee weighs the 6 modes equally.  (The plain SGLD of the first version, step
  ``0.05 / lambda_max`` = 8.8e-11 with ``lambda_max`` = 5.7e8 from member 0, did not move
  in the soft directions: R-hat 1.58 from a single start.)

Measured on force components (and energies per atom), for each kind and data set: Spearman
rank correlation of spread and absolute error, coverage of the 1σ and 2σ intervals, the
calibration curve and its miscalibration area, the Gaussian NLL, raw and after one
post-hoc scale factor per kind fitted on the validation set
(:func:`langevin_opt.mlip.uncertainty.fit_scale`, the factor of
:meth:`Committee.calibrate`), and the growth of the median spread out of distribution.

Uncertainty-aware dynamics
--------------------------
The calibrated ensemble drives Langevin dynamics of the ideal cell
(:func:`langevin_opt.mlip.active.uncertain_dynamics`, 2 fs): ``DYN_STEPS`` steps at 600 K
with every 5th frame and its spread recorded (flag mode), then a run at ``DYN_HOT_T`` that
stops at the first step whose largest force spread exceeds ``DYN_FACTOR`` times the
largest spread of the 600 K run (every frame kept, the stopping one included).

Barrier uncertainty
-------------------
Vacancy migration in the 2x2x2 cell (31 atoms; the training data are bulk only): end
points relaxed by L-BFGS, climbing-image NEB (5 images) by
:func:`langevin_opt.rates.saddles.neb`, for EMT and for every member of both committees,
each member's band started from EMT's converged band.  The harmonic TST (Vineyard) rate at
``T_RATE`` from finite-difference Hessians at the minimum and the saddle (3 zero modes),
Cu mass 63.546 amu.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mlip_cu_emt import label, md_snapshots  # noqa: E402

from langevin_opt import mlip  # noqa: E402
from langevin_opt.mlip import uncertainty as U  # noqa: E402
from langevin_opt.mlip import validation as V  # noqa: E402
from langevin_opt.mlip.active import KB_EV, TIME_UNIT_FS  # noqa: E402
from langevin_opt.rates import saddles, theory  # noqa: E402

CUTOFF = 3.5
REPS = (2, 2, 2)
TRAIN_STRAINS = (-0.01, 0.0, 0.01)
TEMPS = (300.0, 600.0, 900.0)
SIGMA_E, SIGMA_F, PRIOR = 0.003, 0.03, 1.0
N_MEMBERS = 6
T_RATE = 600.0
MASS_CU = 63.546
SETS = ("test", "hot", "strained", "surface")
DYN_STEPS, DYN_FACTOR, DYN_HOT_T = 100, 1.5, 2000.0
POST_METHOD, POST_METRIC, POST_STEP, POST_STEPS = "sgld", "diagonal", 0.02, 5000
POLISH_ITERS = 1000


def bulk_runs(seed, a, snaps, *, strains=TRAIN_STRAINS, temps=TEMPS, vacancy_temps=TEMPS,
              vacancy_strains=(0.0,)):
    """EMT snapshots of ideal and vacancy 2x2x2 cells (unlabelled ase.Atoms)."""
    rng = np.random.default_rng(seed)
    out = []
    for s in strains:
        for t in temps:
            out += md_snapshots(V.fcc_bulk("Cu", a * (1 + s), REPS), t, snaps, burn=20,
                                stride=10, rng=rng)
    for s in vacancy_strains:
        for t in vacancy_temps:
            at = V.fcc_bulk("Cu", a * (1 + s), REPS)
            del at[int(rng.integers(len(at)))]
            out += md_snapshots(at, t, snaps, burn=20, stride=10, rng=rng)
    return out


def surface_runs(seed, a, snaps):
    """EMT snapshots of a Cu(100) slab, 3x3 surface cells, 4 layers."""
    rng = np.random.default_rng(seed)
    slab = V.fcc100_slab("Cu", a, size=(3, 3), layers=4, vacuum=6.0)
    out = []
    for t in (300.0, 600.0):
        out += md_snapshots(slab, t, snaps, burn=20, stride=10, rng=rng)
    return out


def make_data(seed, a, quick):
    """Every data set, labelled by EMT."""
    k = 2 if quick else 1
    return {
        "train": label(bulk_runs(seed, a, 6 // k)),
        "validation": label(bulk_runs(seed + 1, a, 2)),
        "test": label(bulk_runs(seed + 2, a, 3 // k + (k - 1))),
        "hot": label(bulk_runs(seed + 3, a, 6 // k, strains=(0.0,), temps=(1400.0,),
                               vacancy_temps=(1400.0,))),
        "strained": label(bulk_runs(seed + 4, a, 6 // k, strains=(-0.025, 0.025),
                                    temps=(600.0,), vacancy_temps=())),
        "surface": label(surface_runs(seed + 5, a, 6 // k)),
    }


def make_model(seed):
    """The network: 6 G2 + 8 G4 at 3.5 Å, hidden (10, 10), tanh."""
    rad = mlip.radial_parameters(6, CUTOFF, r_lower=2.0)
    ang = mlip.angular_parameters([0.005, 0.02], [1.0, 4.0])
    return mlip.NeuralPotential(mlip.SymmetryFunctions(["Cu"], CUTOFF, rad, ang),
                                hidden=(10, 10), seed=seed)


def lambda_max(land, theta, n_iter=30, eps=1e-5, seed=0):
    """Largest Hessian eigenvalue of ``U`` at ``theta`` (power iteration, FD of the gradient)."""
    v = np.random.default_rng(seed).standard_normal(theta.size)
    v /= np.linalg.norm(v)
    lam = 0.0
    for _ in range(n_iter):
        hv = (land.energy(theta + eps * v)[1] - land.energy(theta - eps * v)[1]) / (2 * eps)
        lam = float(v @ hv)
        v = hv / np.linalg.norm(hv)
    return lam


def polish(land, theta, max_iter):
    """L-BFGS-B on the exact full-data ``U`` from ``theta`` (the chains' optimisation burn-in)."""
    from scipy.optimize import minimize

    r = minimize(land.energy, theta, jac=True, method="L-BFGS-B",
                 options={"maxiter": max_iter, "gtol": 1e-10, "ftol": 1e-15, "maxcor": 20})
    return r.x, float(r.fun), int(r.nit)


def raw_predictions(cm, data):
    """Raw (unscaled) force/energy errors and spreads of a committee on every set."""
    raw = cm.with_scales(1.0, 1.0)
    out = {}
    for name, ds in data.items():
        if name == "train":
            continue
        p = raw.predict_dataset(ds)
        n = ds.n_atoms
        start = np.concatenate([[0], np.cumsum(n)])
        err_f = p.forces - np.vstack(ds.forces)
        out[name] = {
            "force_error": err_f, "force_std": p.forces_std,
            "energy_error": (p.energies - ds.energies) / n, "energy_std": p.energy_std / n,
            "config": np.repeat(np.arange(len(ds)), n),
            "start": start}
    return out


def metrics(pred, kf, ke):
    """Calibration reports of every set, raw and scaled, and OOD spread growth."""
    res = {}
    for name, p in pred.items():
        ef, sf = p["force_error"], p["force_std"]
        ee, se = p["energy_error"], p["energy_std"]
        # per configuration: RMS force error against RMS spread (ranking of configurations)
        cfg_err = np.sqrt(np.bincount(p["config"], (ef * ef).sum(axis=1)) /
                          (3 * np.bincount(p["config"])))
        cfg_sig = np.sqrt(np.bincount(p["config"], (sf * sf).sum(axis=1)) /
                          (3 * np.bincount(p["config"])))
        strip = ("calibration_expected", "calibration_observed")
        res[name] = {
            "forces_raw": {k: v for k, v in U.calibration_report(ef, sf).items()
                           if k not in strip},
            "forces_scaled": {k: v for k, v in U.calibration_report(ef, sf, scale=kf).items()
                              if k not in strip},
            "energy_raw": {k: v for k, v in U.calibration_report(ee, se).items()
                           if k not in strip},
            "energy_scaled": {k: v for k, v in U.calibration_report(ee, se, scale=ke).items()
                              if k not in strip},
            "config_spearman_force": U.spearman(cfg_sig, cfg_err),
            "median_force_std": float(np.median(sf)),
        }
    for name in ("hot", "strained", "surface"):
        res[name]["force_spread_ratio_vs_test"] = U.spread_ratio(pred["test"]["force_std"],
                                                                 pred[name]["force_std"])
        res[name]["force_rmse_ratio_vs_test"] = (res[name]["forces_raw"]["rmse"]
                                                 / res["test"]["forces_raw"]["rmse"])
    ood = np.concatenate([pred[s]["force_error"] for s in SETS]).ravel()
    oos = np.concatenate([pred[s]["force_std"] for s in SETS]).ravel()
    res["all_test_and_ood"] = {k: v for k, v in U.calibration_report(ood, oos, scale=kf).items()
                               if k not in ("calibration_expected", "calibration_observed")}
    return res


# ------------------------------------------------------------------ barrier
def vacancy_hop(a):
    """End points of a vacancy hop in the 2x2x2 cell: (start, end) ase.Atoms."""
    at = V.fcc_bulk("Cu", a, REPS)
    site = at.positions[0].copy()
    del at[0]
    d = np.linalg.norm(at.positions - site, axis=1)
    j = int(np.argmin(d))
    end = at.copy()
    end.positions[j] = site
    return at, end


def emt_function(atoms):
    """``f(x) -> (E, g)`` of EMT over every atom (eV, eV/Å)."""
    from ase.calculators.emt import EMT

    at = atoms.copy()
    at.calc = EMT()

    def f(x):
        at.positions = np.asarray(x, dtype=np.float64).reshape(-1, 3)
        return float(at.get_potential_energy()), -at.get_forces().ravel()

    return f


def barrier_and_rate(f, x_start, x_end, *, path=None, n_images=5):
    """Relaxed end points, CI-NEB barrier and Vineyard rate (s⁻¹) at ``T_RATE``."""
    r0 = saddles.minimize(f, x_start, gtol=1e-4)
    r1 = saddles.minimize(f, x_end, gtol=1e-4)
    band = saddles.neb(f, r0.x, r1.x, n_images=n_images, fmax=0.01, path=path,
                       max_iter=3000)
    mn = saddles.analyse_point(f, r0.x, n_zero=3, eps=1e-3)
    sd = saddles.analyse_point(f, band.saddle, n_zero=3, eps=1e-3)
    out = {"barrier_eV": float(band.saddle_energy - r0.fun),
           "end_energy_difference_eV": float(r1.fun - r0.fun),
           "neb_converged": bool(band.converged), "neb_iterations": int(band.n_iter),
           "saddle_negative_modes": int(sd.n_negative), "min_negative_modes": int(mn.n_negative)}
    try:
        k = theory.vineyard_rate(mn, sd, KB_EV * T_RATE, mass=MASS_CU)
        out["rate_per_s"] = float(k) / (TIME_UNIT_FS * 1e-15)
        out["prefactor_per_s"] = out["rate_per_s"] * math.exp(out["barrier_eV"] /
                                                               (KB_EV * T_RATE))
    except ValueError as e:
        out["rate_per_s"] = math.nan
        out["rate_error"] = str(e)
    return out, band


def barrier_spread(committees, a):
    """EMT's vacancy-hop barrier and rate, and every committee member's."""
    start, end = vacancy_hop(a)
    box = np.diag(start.cell).copy()
    f_emt = emt_function(start)
    emt, band = barrier_and_rate(f_emt, start.positions.ravel(), end.positions.ravel())
    res = {"emt": emt, "T_K": T_RATE, "n_atoms": len(start)}
    for kind, cm in committees.items():
        rows = []
        for k in range(cm.n_members):
            pot = cm.member(k).bind(start.get_chemical_symbols())
            f, _ = V.flat_function(pot, start.positions, box, np.arange(len(start)))
            row, _ = barrier_and_rate(f, start.positions.ravel(), end.positions.ravel(),
                                      path=band.images)
            rows.append(row)
        b = np.array([r["barrier_eV"] for r in rows])
        lk = np.log10([r["rate_per_s"] for r in rows])
        res[kind] = {"members": rows, "barrier_mean_eV": float(b.mean()),
                     "barrier_std_eV": float(b.std(ddof=1)),
                     "barrier_min_eV": float(b.min()), "barrier_max_eV": float(b.max()),
                     "log10_rate_mean": float(np.nanmean(lk)),
                     "log10_rate_std": float(np.nanstd(lk, ddof=1)),
                     "emt_barrier_z": float((emt["barrier_eV"] - b.mean()) / b.std(ddof=1)),
                     "emt_log10_rate": math.log10(emt["rate_per_s"])}
    return res


# ------------------------------------------------------------------ dynamics
def spread_dynamics(cm, a, seed):
    """Committee Langevin runs that watch their spread: calm (flag) and hot (stop)."""
    from langevin_opt.mlip.active import uncertain_dynamics

    at = V.fcc_bulk("Cu", a, REPS)
    kw = dict(frame_every=5, dt_fs=2.0, friction_per_fs=0.01)
    calm = uncertain_dynamics(cm, at.positions, at.get_chemical_symbols(),
                              np.diag(at.cell).copy(), n_steps=DYN_STEPS, seed=seed,
                              temperature_K=600.0, **kw)
    thr = DYN_FACTOR * float(calm.max_force_std.max())
    hot = uncertain_dynamics(cm, at.positions, at.get_chemical_symbols(),
                             np.diag(at.cell).copy(), n_steps=3 * DYN_STEPS, seed=seed + 1,
                             temperature_K=DYN_HOT_T, threshold=thr, action="stop", **kw)
    return {"calm_T_K": 600.0, "hot_T_K": DYN_HOT_T, "threshold_eV_per_A": thr,
            "threshold_rule": f"{DYN_FACTOR} x the largest spread of the 600 K run",
            "calm_frames": int(calm.positions.shape[0]),
            "calm_max_spread": float(calm.max_force_std.max()),
            "hot_frames_kept": int(hot.positions.shape[0]), "hot_stopped": hot.stopped,
            "hot_reason": hot.reason, "hot_steps_run": hot.n_steps,
            "hot_first_exceeded_frame": hot.first_exceeded,
            "calm_spread": calm.max_force_std.tolist(),
            "hot_spread": hot.max_force_std.tolist(), "hot_steps": hot.steps.tolist()}


# ------------------------------------------------------------------ main
def main(argv=None) -> dict:
    """Run the experiment; write and return the results."""
    from ase.calculators.emt import EMT

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", default="results/mlip_uncertainty")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="half the data, short runs")
    p.add_argument("--posterior-steps", type=int, default=POST_STEPS)
    p.add_argument("--polish-iters", type=int, default=POLISH_ITERS,
                   help="L-BFGS-B iterations on U from each member before its chain")
    p.add_argument("--posterior-method", choices=("sgld", "psgld"), default=POST_METHOD)
    p.add_argument("--posterior-metric", choices=("none", "diagonal", "laplace"),
                   default=POST_METRIC)
    p.add_argument("--posterior-step", type=float, default=POST_STEP,
                   help="step size (in the metric's coordinates with a metric)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    timing = {}
    a_emt, _ = V.lattice_constant(EMT())
    data = make_data(args.seed, a_emt, args.quick)
    timing["data_s"] = time.perf_counter() - t0
    print({k: len(v) for k, v in data.items()}, flush=True)

    t1 = time.perf_counter()
    lik = dict(sigma_energy=SIGMA_E, sigma_force=SIGMA_F, prior_sigma=PRIOR)
    ens = mlip.deep_ensemble(make_model(args.seed), data["train"], n_members=N_MEMBERS,
                             seed=args.seed, max_iter=150 if args.quick else 400, **lik)
    timing["ensemble_s"] = time.perf_counter() - t1
    print("ensemble", timing["ensemble_s"], [m["train_force_rmse"] for m in
                                             ens.info["members"]], flush=True)

    t2 = time.perf_counter()
    start = ens.member(0)
    land = mlip.posterior_landscape(start, data["train"], **lik)
    lam = lambda_max(land, start.theta, seed=args.seed)
    n_steps = 800 if args.quick else args.posterior_steps
    n_polish = 150 if args.quick else args.polish_iters
    starts, u_polished = [], []
    for th in ens.thetas:
        x, u, _ = polish(land, th, n_polish)
        starts.append(x)
        u_polished.append(u)
    timing["posterior_polish_s"] = time.perf_counter() - t2
    print("polished", timing["posterior_polish_s"], u_polished, flush=True)
    from langevin_opt.core.errors import DivergenceError

    step, attempts = args.posterior_step, []
    while True:  # a chain that diverges: halve the step and run all chains again
        psettings = {"step_size": step}
        if args.posterior_method == "psgld":
            psettings.update(alpha=0.99, eps=1e-5)
        try:
            post = mlip.posterior_committee(
                start, data["train"], seed=args.seed, method=args.posterior_method,
                n_steps=n_steps, start=np.array(starts),
                metric=None if args.posterior_metric == "none" else args.posterior_metric,
                n_members=N_MEMBERS, **psettings, **lik)
            break
        except DivergenceError as e:
            attempts.append({"step_size": step, "error": str(e).splitlines()[0]})
            print("diverged at step size", step, flush=True)
            step /= 2
    timing["posterior_s"] = time.perf_counter() - t2
    dg = post.info["diagnostics"]
    print("posterior", timing["posterior_s"], "lambda_max", lam, "tau", dg["tau_steps"],
          "rhat", dg["max_rhat"], "rhat within", dg["max_rhat_within"], "members",
          post.n_members, flush=True)
    u_members = np.array([land.energy(th)[0] for th in post.thetas])

    t3 = time.perf_counter()
    committees = {"ensemble": ens, "posterior": post}
    results_kind, fig = {}, {}
    for kind, cm in committees.items():
        pred = raw_predictions(cm, data)
        val = pred.pop("validation")
        kf = U.fit_scale(val["force_error"], val["force_std"])
        ke = U.fit_scale(val["energy_error"], val["energy_std"])
        results_kind[kind] = {"force_scale": kf, "energy_scale": ke,
                              "n_members": cm.n_members, "sets": metrics(pred, kf, ke)}
        committees[kind] = cm.with_scales(ke, kf)
        te = pred["test"]
        exp, obs = U.calibration_curve(te["force_error"], kf * te["force_std"])
        _, obs_raw = U.calibration_curve(te["force_error"], te["force_std"])
        _, obs_all = U.calibration_curve(
            np.concatenate([pred[s]["force_error"] for s in SETS]),
            kf * np.concatenate([pred[s]["force_std"] for s in SETS]))
        errs = np.concatenate([np.abs(pred[s]["force_error"]).ravel() for s in SETS])
        sig = np.concatenate([kf * pred[s]["force_std"].ravel() for s in SETS])
        grp = np.concatenate([np.full(pred[s]["force_error"].size, i)
                              for i, s in enumerate(SETS)])
        keep = np.arange(0, errs.size, max(1, errs.size // 6000))  # a small committed file
        fig.update({f"{kind}_expected": exp, f"{kind}_observed": obs,
                    f"{kind}_observed_raw": obs_raw, f"{kind}_observed_all_scaled": obs_all,
                    f"{kind}_abs_error": errs[keep], f"{kind}_sigma": sig[keep],
                    f"{kind}_group": grp[keep].astype(np.int8)})
    timing["calibration_s"] = time.perf_counter() - t3

    t5 = time.perf_counter()
    dyn = spread_dynamics(committees["ensemble"], a_emt, args.seed)
    timing["dynamics_s"] = time.perf_counter() - t5
    fig["dynamics_calm_max_force_std"] = np.array(dyn.pop("calm_spread"))
    fig["dynamics_hot_max_force_std"] = np.array(dyn.pop("hot_spread"))
    fig["dynamics_hot_steps"] = np.array(dyn.pop("hot_steps"))

    t4 = time.perf_counter()
    barrier = barrier_spread(committees, a_emt)
    timing["barrier_s"] = time.perf_counter() - t4
    for kind in committees:
        fig[f"{kind}_barriers"] = np.array([r["barrier_eV"] for r in barrier[kind]["members"]])
        fig[f"{kind}_log10_rates"] = np.log10([r["rate_per_s"]
                                               for r in barrier[kind]["members"]])
    fig["reference_barrier"] = np.array(barrier["emt"]["barrier_eV"])
    fig["reference_log10_rate"] = np.array(math.log10(barrier["emt"]["rate_per_s"]))
    timing["total_s"] = time.perf_counter() - t0

    def best(key, where, lower=True):
        vals = {k: v for k, v in ((k, where(results_kind[k]["sets"])[key])
                                  for k in results_kind)}
        return {"better": (min if lower else max)(vals, key=vals.get), "values": vals}

    better = {
        "raw_miscalibration_area_test": best("miscalibration_area",
                                             lambda s: s["test"]["forces_raw"]),
        "scaled_miscalibration_area_test": best("miscalibration_area",
                                                lambda s: s["test"]["forces_scaled"]),
        "scaled_miscalibration_area_test_and_ood": best("miscalibration_area",
                                                        lambda s: s["all_test_and_ood"]),
        "scaled_nll_test_and_ood": best("nll", lambda s: s["all_test_and_ood"]),
        "spearman_test_and_ood": best("spearman", lambda s: s["all_test_and_ood"],
                                      lower=False)}
    res = {
        "seed": args.seed, "quick": args.quick, "a_emt_A": a_emt,
        "data": {k: {"n_configurations": len(v), "n_atoms": int(v.n_atoms.sum())}
                 for k, v in data.items()},
        "model": {"cutoff_A": CUTOFF, "hidden": [10, 10], "n_params": ens.n_params,
                  "n_features": ens.model.descriptor.n_features},
        "likelihood": {"sigma_energy_eV_per_atom": SIGMA_E, "sigma_force_eV_per_A": SIGMA_F,
                       "prior_sigma": PRIOR},
        "ensemble_training": {"members": ens.info["members"]},
        "posterior_sampling": {
            "method": post.info["method"], "settings": post.info["settings"],
            "diverged_attempts": attempts,
            "metric": post.info["metric"],
            "start": "ensemble member k, polished by L-BFGS-B on U (chain k)",
            "lambda_max_at_member0": lam, "n_steps": n_steps, "burn_in": post.info["burn_in"],
            "n_chains": post.info["n_chains"], "batch_size": post.info["batch_size"],
            "metric_chains": post.info.get("metric_chains"),
            "U_members": u_members, "U_chain_final": post.info["final_U"],
            "U_ensemble": [m["U"] for m in ens.info["members"]],
            "polish_iters": n_polish, "U_polished_starts": u_polished,
            "chain_of_member": dg["chain_of_member"],
            "diagnostics": {k: dg[k] for k in (
                "tau_steps", "thin_steps", "max_rhat", "min_ess", "converged",
                "n_independent", "max_rhat_within", "median_between_fraction")},
            "rhat": dg["rhat"], "rhat_within": dg["rhat_within"], "ess": dg["ess"],
            "between_fraction": dg["between_fraction"]},
        "calibration": results_kind,
        "better_calibrated": better,
        "barrier": barrier,
        "uncertainty_aware_dynamics": dyn,
        "timing_s": timing,
    }
    out = os.path.abspath(args.out_dir)
    os.makedirs(out, exist_ok=True)
    for kind, cm in committees.items():
        mlip.save_committee(cm, os.path.join(out, f"{kind}.npz"))
    np.savez(os.path.join(out, "figure_data.npz"), **fig)
    with open(os.path.join(out, "results.json"), "w") as fh:
        json.dump(mlip.committee._jsonable(res), fh, indent=2)
    print(json.dumps(mlip.committee._jsonable({k: res[k] for k in (
        "posterior_sampling", "better_calibrated",
        "timing_s")}), indent=2))
    return res


if __name__ == "__main__":
    main()
