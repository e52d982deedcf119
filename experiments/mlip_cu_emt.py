"""Train a Behler–Parrinello network on ASE's EMT copper and measure it against EMT.

Reproducible (one seed); runs on 2 cores in a few minutes::

    python experiments/mlip_cu_emt.py [--out-dir results/mlip_cu_emt] [--seed 0] [--quick]

Writes to ``--out-dir``: ``results.json`` (the measurements below), ``model.npz`` (the trained
network, :func:`langevin_opt.mlip.save_model`) and ``figure_data.npz`` (test-set energies and
forces of EMT and of the network, both E(V) curves, both NEB profiles), which
``paper/figures/fig_mlip.py`` draws.

Data (labelled by ``ase.calculators.emt.EMT``; eV, Å)
-----------------------------------------------------
Sampling is ASE's Langevin dynamics on EMT itself (5 fs steps, friction 0.02 fs⁻¹, started
from Maxwell–Boltzmann velocities), snapshots every ``STRIDE`` steps after ``BURN`` steps:

* ideal fcc, 3x3x3 cubic cells, at ``IDEAL_STRAINS`` (the zero-temperature equation of
  state: energies at zero force, a standard part of potential-fitting sets);
* bulk fcc, 3x3x3 cubic cells (108 atoms), lattice constant ``a_EMT (1 + s)`` for
  ``s`` in ``STRAINS`` (plus one random anisotropic strain of at most 2 % per run), at
  ``TEMPS_BULK``;
* the same cell with one vacancy (107 atoms), ``s`` in ``(-0.015, 0, 0.015)``;
* a Cu(100) slab 4x4x4 (64 atoms, bottom two layers fixed, periodic box with 12 Å of
  vacuum) clean and with one adatom at ``TEMPS_SURF``.  Each adatom run starts from a
  uniformly random lateral position in the surface cell (hollow, bridge, top sites and
  everything between, at 1.5–2.2 Å height) and keeps the first snapshots, so the data
  cover the adatom's energy surface without waiting for rare hops.  This is a generic
  sampling choice: no NEB image or saddle configuration is in the data.

The held-out *test* set comes from independent runs with another seed (a quarter of the
size), so test snapshots are never from a training trajectory.

Model and training
------------------
Cutoff 5 Å (the three first fcc shells; half the smallest box edge is 5.08 Å), 8 radial G2
(shifted, 2–5 Å) and 12 angular G4 (eta 0.005 and 0.02 Å⁻², zeta 1, 2, 4, lambda ±1),
one network (20, 16, 16, 1) tanh; :func:`langevin_opt.mlip.fit` with L-BFGS, force
weight 1 Å², ``MAX_ITER`` iterations.

Measured against EMT (both through ASE via :class:`~langevin_opt.mlip.LangevinOptCalculator`
and :mod:`langevin_opt.mlip.validation`): energy RMSE per atom and force RMSE per
component on the test set; lattice constant (minimum of E(a)); bulk modulus
(Birch–Murnaghan E(V)); vacancy formation energy (relaxed, fixed volume, 107/108 atoms);
the adatom hop barrier on Cu(100): the network's by the package's NEB
(:func:`langevin_opt.rates.saddles.neb` on ``f(x) -> (E, g)`` over the moving atoms, end
points relaxed by :func:`langevin_opt.rates.saddles.minimize`), EMT's by ASE's
climbing-image NEB; the network in ASE's NEB as a cross-check.  All geometries of the
barrier use EMT's lattice constant.  Results go to a JSON file and are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from langevin_opt import mlip
from langevin_opt.mlip import validation as V
from langevin_opt.rates import saddles

STRAINS = (-0.03, -0.015, 0.0, 0.015, 0.03)
IDEAL_STRAINS = tuple(np.linspace(-0.04, 0.04, 9))
TEMPS_BULK = (300.0, 700.0, 1100.0)
TEMPS_SURF = (300.0, 600.0, 900.0)
BURN, STRIDE, SNAPS = 20, 10, 6
ADATOM_STARTS, ADATOM_SNAPS, ADATOM_STRIDE = 8, 4, 4
MAX_ITER = 600
CUTOFF = 5.0


def md_snapshots(atoms, temperature_K, n_snap, *, burn, stride, rng):
    """Langevin MD on EMT; copies of ``atoms`` every ``stride`` steps after ``burn``."""
    from ase import units
    from ase.calculators.emt import EMT
    from ase.md import velocitydistribution as vd
    from ase.md.langevin import Langevin

    atoms = atoms.copy()
    atoms.calc = EMT()
    # ASE >= 3.29 names it thermalize_momenta (the old name is deprecated there)
    thermalize = getattr(vd, "thermalize_momenta", None) or vd.MaxwellBoltzmannDistribution
    thermalize(atoms, temperature_K=temperature_K, rng=rng)
    dyn = Langevin(atoms, timestep=5 * units.fs, temperature_K=temperature_K,
                   friction=0.02 / units.fs, rng=rng, fixcm=False)
    if burn:
        dyn.run(burn)
    out = []
    for _ in range(n_snap):
        dyn.run(stride)
        out.append(atoms.copy())
    return out


def generate(seed: int, a_emt: float, scale: float = 1.0, *, ideal: bool = True) -> list:
    """EMT configurations (unlabelled ase.Atoms); ``scale`` shrinks the number of runs.

    ``ideal=False`` leaves out the ideal lattices (the held-out set is thermal snapshots).
    """
    rng = np.random.default_rng(seed)
    confs = []
    n_snap = max(1, round(SNAPS * scale))
    for s in IDEAL_STRAINS if ideal else ():
        confs.append(V.fcc_bulk("Cu", a_emt * (1 + s)))
    for s in STRAINS:
        for T in TEMPS_BULK:
            at = V.fcc_bulk("Cu", a_emt * (1 + s))
            m = np.diag(1 + rng.uniform(-0.02, 0.02, 3)) if rng.random() < 0.5 else np.eye(3)
            at.set_cell(at.cell @ m, scale_atoms=True)
            confs += md_snapshots(at, T, n_snap, burn=BURN, stride=STRIDE, rng=rng)
    for s in (-0.015, 0.0, 0.015):
        for T in TEMPS_BULK:
            at = V.fcc_bulk("Cu", a_emt * (1 + s))
            del at[int(rng.integers(len(at)))]
            confs += md_snapshots(at, T, n_snap, burn=BURN, stride=STRIDE, rng=rng)
    slab = V.fcc100_slab("Cu", a_emt)
    top = slab.positions[:, 2].max()
    spacing = a_emt / np.sqrt(2)
    for T in TEMPS_SURF:
        confs += md_snapshots(slab, T, n_snap, burn=BURN, stride=STRIDE, rng=rng)
        for _ in range(max(1, round(ADATOM_STARTS * scale))):
            from ase import Atom

            at = slab.copy()
            xy = slab.positions[np.argmax(slab.positions[:, 2]), :2] + rng.uniform(
                0, spacing, 2)
            at.append(Atom("Cu", (xy[0], xy[1], top + rng.uniform(1.5, 2.2))))
            confs += md_snapshots(at, T, ADATOM_SNAPS, burn=0, stride=ADATOM_STRIDE, rng=rng)
    return confs


def label(confs):
    """EMT energies and forces as a Dataset (constraints removed: true forces)."""
    from ase.calculators.emt import EMT

    for at in confs:
        at.set_constraint()
    return mlip.label_with(EMT(), confs)


def network_barrier(model, start, end, *, n_images=9, fmax=0.01):
    """Adatom hop barrier of the network by the package's NEB over the moving atoms."""
    from ase.constraints import FixAtoms

    fixed = np.zeros(len(start), dtype=bool)
    for c in start.constraints:
        if isinstance(c, FixAtoms):
            fixed[c.index] = True
    moving = np.flatnonzero(~fixed)
    box = np.diag(start.cell).copy()
    pot = model.bind(start.get_chemical_symbols())
    ends = []
    for at in (start, end):
        f, x0 = V.flat_function(pot, at.positions, box, moving)
        r = saddles.minimize(f, x0, gtol=1e-4)
        ends.append((f, r.x, float(r.fun)))
    f = ends[0][0]
    band = saddles.neb(f, ends[0][1], ends[1][1], n_images=n_images, fmax=fmax)
    return {"barrier_eV": float(band.saddle_energy - ends[0][2]),
            "end_energy_difference_eV": ends[1][2] - ends[0][2],
            "profile_eV": (band.energies - ends[0][2]).tolist(),
            "converged": bool(band.converged), "saddle_gradient_norm": float(band.gradient_norm)}


def main(argv=None) -> dict:
    """Run the experiment; write and return the results."""
    from ase.calculators.emt import EMT

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", default="results/mlip_cu_emt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a third of the data, 100 iterations")
    args = p.parse_args(argv)
    scale, max_iter = (1 / 3, 100) if args.quick else (1.0, MAX_ITER)
    t0 = time.perf_counter()
    timing = {}
    a_emt, _ = V.lattice_constant(EMT())
    train = label(generate(args.seed, a_emt, scale))
    test = label(generate(args.seed + 1, a_emt, scale / 4, ideal=False))
    timing["data_s"] = time.perf_counter() - t0

    rad = mlip.radial_parameters(8, CUTOFF, r_lower=2.0)
    ang = mlip.angular_parameters([0.005, 0.02], [1.0, 2.0, 4.0], [-1.0, 1.0])
    model = mlip.NeuralPotential(mlip.SymmetryFunctions(["Cu"], CUTOFF, rad, ang),
                                 hidden=(16, 16), seed=args.seed)
    t1 = time.perf_counter()
    fit = mlip.fit(model, train, method="lbfgs", max_iter=max_iter, log_every=50,
                   callback=lambda row: print(f"  it {row['iteration']:4d} loss "
                                              f"{row['loss']:.4g} E {row['train_energy_rmse']:.4g}"
                                              f" F {row['train_force_rmse']:.4g}", flush=True))
    timing["fit_s"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    calc = mlip.LangevinOptCalculator(model)
    test_err = V.energy_force_errors(calc, test)
    a_nn, e_nn = V.lattice_constant(calc, a_guess=a_emt)
    eos_emt = V.equation_of_state(EMT(), a_guess=a_emt)
    eos_nn = V.equation_of_state(calc, a_guess=a_nn)
    ev_emt = V.vacancy_formation_energy(EMT(), a=a_emt)
    ev_nn = V.vacancy_formation_energy(calc, a=a_nn)
    timing["bulk_properties_s"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    start, end = V.adatom_hop_endpoints(V.fcc100_slab("Cu", a_emt))
    for at in (start, end):
        V.relax(at, EMT(), fmax=0.005)
    b_emt, prof_emt = V.ase_neb_barrier(start, end, EMT, n_images=7)
    nn = network_barrier(model, start, end)
    b_nn_ase, prof_nn_ase = V.ase_neb_barrier(*[_relaxed(at, calc) for at in (start, end)],
                                    lambda: mlip.LangevinOptCalculator(model), n_images=7)
    timing["barrier_s"] = time.perf_counter() - t3
    timing["total_s"] = time.perf_counter() - t0

    res = {
        "seed": args.seed, "quick": args.quick,
        "data": {"n_train": len(train), "n_test": len(test),
                 "train_atoms": int(train.n_atoms.sum()), "test_atoms": int(test.n_atoms.sum())},
        "model": {"cutoff_A": CUTOFF, "n_features": model.descriptor.n_features,
                  "hidden": list(model.hidden), "n_params": model.n_params,
                  "lbfgs_iterations": int(fit.curve["iteration"][-1]),
                  "message": fit.message},
        "train_errors": {k: float(v) for k, v in fit.train.items()
                         if isinstance(v, (int, float))},
        "test_errors": test_err,
        "lattice_constant_A": {"emt": a_emt, "network": a_nn, "error": a_nn - a_emt},
        "bulk_modulus_GPa": {"emt": eos_emt.bulk_modulus, "network": eos_nn.bulk_modulus,
                             "error": eos_nn.bulk_modulus - eos_emt.bulk_modulus},
        "vacancy_formation_energy_eV": {"emt": ev_emt, "network": ev_nn,
                                        "error": ev_nn - ev_emt},
        "adatom_hop_barrier_eV": {"emt_ase_neb": b_emt, "network_package_neb": nn["barrier_eV"],
                                  "network_ase_neb": b_nn_ase,
                                  "error": nn["barrier_eV"] - b_emt,
                                  "emt_profile": prof_emt.tolist(),
                                  "network_profile": nn["profile_eV"],
                                  "network_neb_converged": nn["converged"]},
        "targets": {"barrier_within_0.05_eV": abs(nn["barrier_eV"] - b_emt) <= 0.05,
                    "lattice_constant_within_0.01_A": abs(a_nn - a_emt) <= 0.01},
        "timing_s": timing,
    }
    out = os.path.abspath(args.out_dir)
    os.makedirs(out, exist_ok=True)
    mlip.save_model(model, os.path.join(out, "model.npz"))
    e_ref, e_nn, f_ref, f_nn = parity(model, test)
    np.savez(os.path.join(out, "figure_data.npz"),
             test_energy_emt=e_ref, test_energy_network=e_nn, test_n_atoms=test.n_atoms,
             test_forces_emt=f_ref, test_forces_network=f_nn,
             eos_volume_emt=eos_emt.volumes, eos_energy_emt=eos_emt.energies,
             eos_volume_network=eos_nn.volumes, eos_energy_network=eos_nn.energies,
             neb_emt=prof_emt, neb_network=np.asarray(nn["profile_eV"]),
             neb_network_ase=prof_nn_ase)
    with open(os.path.join(out, "results.json"), "w") as fh:
        json.dump(res, fh, indent=2)
    print(json.dumps(res, indent=2))
    return res


def parity(model, data):
    """Per-atom energies and force components of EMT (the labels) and of the network."""
    e_ref, e_nn, f_ref, f_nn = [], [], [], []
    for c in range(len(data)):
        x, sp, box = data.positions[c], data.species[c], data.boxes[c]
        r = model.evaluate(x, sp, box)
        n = len(x)
        e_ref.append(data.energies[c] / n)
        e_nn.append(r.energy / n)
        f_ref.append(np.asarray(data.forces[c]).ravel())
        f_nn.append(r.forces.ravel())
    return np.array(e_ref), np.array(e_nn), np.concatenate(f_ref), np.concatenate(f_nn)


def _relaxed(atoms, calc):
    at = atoms.copy()
    V.relax(at, calc, fmax=0.005)
    return at


if __name__ == "__main__":
    main()
