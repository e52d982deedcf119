"""Transfer learning of a Behler–Parrinello network: pretrain on EMT copper, fine-tune on nickel.

Reproducible (fixed seeds); about 5 minutes on 2 busy cores::

    python experiments/mlip_transfer.py [--out-dir paper/figures/mlip_transfer] [--seed 0]
                                        [--quick]

Writes ``results.json`` (settings, every fit's held-out errors, the table of means) to
``--out-dir``, which ``paper/figures/fig_mlip_transfer.py`` draws.

Data (labelled by ``ase.calculators.emt.EMT``; eV, Å)
-----------------------------------------------------
Small periodic cells, 2x2x2 cubic fcc (32 atoms; one run in six with a vacancy, 31
atoms), lattice constant ``a_EMT (1 + s)`` with ``s`` uniform in ``[-0.015, 0.015]`` and an
anisotropic strain of at most 0.5 % per axis, snapshots of ASE Langevin dynamics on EMT (5 fs
steps, friction 0.02 fs⁻¹) at a temperature uniform in ``[300, 1200]`` K, every ``STRIDE``
steps after ``BURN``.  Copper: ``N_CU`` training configurations.  Nickel: a pool of
``N_NI`` training configurations and an independent held-out test set of ``N_TEST``
(other seed), the same for every fit.

Model
-----
Cutoff 3.4 Å (half the smallest Ni box edge is 3.43 Å: the first neighbour shell only),
6 radial G2 (shifted, 2–3.4 Å) and 4 angular G4 (eta 0.01 Å⁻², zeta 1, 2, lambda ±1),
one network (10, 10, 10, 1) tanh (231 parameters).  Copper network: L-BFGS, ``MAX_ITER``
iterations, force weight 1 Å².

Nickel fits, for ``n`` in ``SIZES`` training configurations (the issue's 10, 30, 100, 300
and, below them, 1 and 3, where 32-atom cells stop being data-rich: one cell already gives
96 force components), ``REPEATS[n]`` random subsets of the pool per ``n`` (the same subsets
for every variant), each L-BFGS for ``MAX_ITER`` iterations:

* ``scratch``: a fresh network (seeded per repeat), standardisation and ``e0`` from the
  Ni subset (:func:`langevin_opt.mlip.fit`);
* ``fine-tune, all layers``: :func:`langevin_opt.mlip.fine_tune` of the Cu network with
  ``species_map={"Ni": "Cu"}``, nothing frozen;
* ``fine-tune, all layers, re-standardised``: the same with ``restandardize=True`` (the
  descriptor standardisation refitted to the Ni subset);
* ``fine-tune, layer 0 frozen``: the same with the first layer (descriptor -> first
  hidden layer, 110 parameters) frozen;
* ``fine-tune, output layer only``: the first two layers frozen (11 parameters train);
* ``zero-shot``: the Cu network with only ``e0`` refitted on the subset (no training).

Fine-tuning keeps the descriptor and (except ``all_restd``) the Cu standardisation (the
default of :func:`~langevin_opt.mlip.fine_tune`) and refits ``e0`` to the residual of the
Cu network.  Kernels run on one thread (``NUMBA_NUM_THREADS=1`` unless set: results do not
depend on it, and a busy 2-core machine runs small fits faster so).  Reported: energy
RMSE per atom (meV/atom) and force RMSE per component (eV/Å) on the Ni test set, mean and
standard deviation over the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # before numba is imported (docstring)

from langevin_opt import mlip  # noqa: E402
from langevin_opt.mlip import validation as V  # noqa: E402

N_CU, N_NI, N_TEST = 300, 300, 100
SIZES = (1, 3, 10, 30, 100, 300)
#: Random subsets per size (one at 300: the whole pool).
REPEATS = {1: 4, 3: 4, 10: 3, 30: 3, 100: 2, 300: 1}
BURN, STRIDE, SNAPS = 20, 10, 5
MAX_ITER = 300
CUTOFF = 3.4
HIDDEN = (10, 10)
VARIANTS = ("scratch", "all", "all_restd", "freeze1", "freeze2", "zero_shot")
LABELS = {"scratch": "from scratch", "all": "fine-tune, all layers",
          "all_restd": "fine-tune, all layers, re-standardised",
          "freeze1": "fine-tune, layer 0 frozen", "freeze2": "fine-tune, output layer only",
          "zero_shot": "Cu network, e0 refitted only"}


def md_snapshots(atoms, temperature_K, n_snap, *, rng):
    """Langevin MD on EMT; copies of ``atoms`` every ``STRIDE`` steps after ``BURN``."""
    from ase import units
    from ase.calculators.emt import EMT
    from ase.md import velocitydistribution as vd
    from ase.md.langevin import Langevin

    atoms = atoms.copy()
    atoms.calc = EMT()
    thermalize = getattr(vd, "thermalize_momenta", None) or vd.MaxwellBoltzmannDistribution
    thermalize(atoms, temperature_K=temperature_K, rng=rng)
    dyn = Langevin(atoms, timestep=5 * units.fs, temperature_K=temperature_K,
                   friction=0.02 / units.fs, rng=rng, fixcm=False)
    dyn.run(BURN)
    out = []
    for _ in range(n_snap):
        dyn.run(STRIDE)
        out.append(atoms.copy())
    return out


def generate(symbol: str, a: float, n_conf: int, seed: int):
    """``n_conf`` labelled EMT snapshots of 2x2x2 fcc cells (module docstring)."""
    from ase.calculators.emt import EMT

    rng = np.random.default_rng(seed)
    confs = []
    run = 0
    while len(confs) < n_conf:
        at = V.fcc_bulk(symbol, a * (1 + rng.uniform(-0.015, 0.015)), (2, 2, 2))
        at.set_cell(at.cell @ np.diag(1 + rng.uniform(-0.005, 0.005, 3)), scale_atoms=True)
        if run % 6 == 5:
            del at[int(rng.integers(len(at)))]
        confs += md_snapshots(at, rng.uniform(300, 1200), SNAPS, rng=rng)
        run += 1
    return mlip.label_with(EMT(), confs[:n_conf])


def descriptor(species: str):
    """The symmetry functions of every network here, for one species."""
    return mlip.SymmetryFunctions([species], CUTOFF,
                                  mlip.radial_parameters(6, CUTOFF, r_lower=2.0),
                                  mlip.angular_parameters([0.01], [1.0, 2.0]))


def heldout_errors(model, test):
    """Test-set energy RMSE per atom (meV/atom) and force RMSE per component (eV/Å)."""
    dE, dF = [], []
    for c in range(len(test)):
        r = model.evaluate(test.positions[c], test.species[c], test.boxes[c])
        dE.append((r.energy - test.energies[c]) / len(test.species[c]))
        dF.append(r.forces - test.forces[c])
    dE, dF = np.array(dE), np.concatenate(dF)
    return {"energy_mev_per_atom": 1e3 * float(np.sqrt(np.mean(dE * dE))),
            "force_ev_per_a": float(np.sqrt(np.mean(dF * dF)))}


def run_variant(variant, cu_model, sub, test, seed):
    """Train one variant on the Ni subset ``sub``; its test errors and costs."""
    t0 = time.perf_counter()
    if variant == "scratch":
        model = mlip.NeuralPotential(descriptor("Ni"), hidden=HIDDEN, seed=seed)
        res = mlip.fit(model, sub, max_iter=MAX_ITER)
        model, ntr, it = res.model, model.n_params, int(res.curve["iteration"][-1])
    elif variant == "zero_shot":
        model = mlip.transfer_model(cu_model, {"Ni": "Cu"})  # the Cu weights, untrained
        model.energy_offsets = mlip.residual_offsets(model, sub)
        ntr, it = 0, 0
    else:
        freeze = {"all": 0, "all_restd": 0, "freeze1": 1, "freeze2": 2}[variant]
        res = mlip.fine_tune(cu_model, sub, species_map={"Ni": "Cu"}, freeze=freeze,
                             max_iter=MAX_ITER, restandardize=variant == "all_restd")
        model = res.model
        ntr = res.n_trainable or model.n_params
        it = int(res.curve["iteration"][-1])
    out = heldout_errors(model, test)
    out.update(n_trainable=int(ntr), iterations=it, wall_s=time.perf_counter() - t0)
    return out


def main(argv=None) -> dict:
    """Run the experiment (module docstring); return and write the results."""
    global N_CU, N_NI, N_TEST, SIZES, REPEATS, MAX_ITER
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", default="paper/figures/mlip_transfer")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a tiny run to check the script")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--sizes", default=",".join(map(str, SIZES)))
    args = p.parse_args(argv)
    SIZES = tuple(int(n) for n in args.sizes.split(","))
    if args.quick:
        N_CU, N_NI, N_TEST, SIZES, MAX_ITER = 40, 30, 20, (3, 10), 40
        REPEATS = {3: 1, 10: 1}
    variants = args.variants.split(",")
    from ase.calculators.emt import EMT

    t_start = time.perf_counter()
    a_cu, _ = V.lattice_constant(EMT(), "Cu", a_guess=3.6)
    a_ni, _ = V.lattice_constant(EMT(), "Ni", a_guess=3.5)
    cu = generate("Cu", a_cu, N_CU, args.seed)
    cu_test = generate("Cu", a_cu, N_TEST, args.seed + 1)
    ni = generate("Ni", a_ni, N_NI, args.seed + 2)
    ni_test = generate("Ni", a_ni, N_TEST, args.seed + 3)
    t_data = time.perf_counter() - t_start
    print(f"data: {len(cu)} Cu, {len(ni)} + {len(ni_test)} Ni configurations, "
          f"{t_data:.0f} s", flush=True)

    t0 = time.perf_counter()
    cu_model = mlip.NeuralPotential(descriptor("Cu"), hidden=HIDDEN, seed=args.seed)
    pre = mlip.fit(cu_model, cu, max_iter=MAX_ITER)
    pretrain = {"cu_test": heldout_errors(cu_model, cu_test),
                "iterations": int(pre.curve["iteration"][-1]),
                "wall_s": time.perf_counter() - t0, "n_params": cu_model.n_params}
    print(f"pretrained Cu: {pretrain}", flush=True)

    fits = []
    rng = np.random.default_rng([args.seed, 7])
    for n in SIZES:
        for rep in range(REPEATS.get(n, 1)):
            idx = np.sort(rng.choice(len(ni), size=n, replace=False))
            sub = ni.subset(idx)
            for v in variants:
                r = run_variant(v, cu_model, sub, ni_test, 1000 * rep + n + args.seed)
                r.update(variant=v, n_train=n, repeat=rep)
                fits.append(r)
                print(f"n={n:4d} rep={rep} {v:10s} E {r['energy_mev_per_atom']:8.3f} "
                      f"meV/atom  F {r['force_ev_per_a']:.4f} eV/Å  ({r['wall_s']:.1f} s)",
                      flush=True)
    table = {}
    for v in variants:
        table[v] = {}
        for n in SIZES:
            rows = [f for f in fits if f["variant"] == v and f["n_train"] == n]
            e = np.array([f["energy_mev_per_atom"] for f in rows])
            fo = np.array([f["force_ev_per_a"] for f in rows])
            table[v][str(n)] = {"energy_mev_per_atom": float(e.mean()),
                                "energy_std": float(e.std(ddof=1)) if e.size > 1 else 0.0,
                                "force_ev_per_a": float(fo.mean()),
                                "force_std": float(fo.std(ddof=1)) if fo.size > 1 else 0.0,
                                "n_trainable": rows[0]["n_trainable"]}
    res = {
        "experiment": "mlip_transfer", "seed": args.seed, "quick": args.quick,
        "settings": {"n_cu": N_CU, "n_ni_pool": N_NI, "n_test": N_TEST, "sizes": list(SIZES),
                     "repeats": {str(n): REPEATS.get(n, 1) for n in SIZES},
                     "max_iter": MAX_ITER, "cutoff_A": CUTOFF,
                     "hidden": list(HIDDEN), "atoms_per_cell": 32,
                     "variants": variants,
                     "labels": {v: LABELS[v] for v in variants}},
        "lattice_constant_A": {"Cu": a_cu, "Ni": a_ni},
        "pretrain": pretrain, "table": table, "fits": fits,
        "units": {"energy_mev_per_atom": "meV/atom (test RMSE of E/N)",
                  "force_ev_per_a": "eV/Å (test RMSE per component)"},
        "data_s": t_data, "wall_s": time.perf_counter() - t_start}
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "results.json"), "w") as fh:
        json.dump(res, fh, indent=2)
    print(json.dumps(table, indent=1))
    print(f"total {res['wall_s']:.0f} s")
    return res


if __name__ == "__main__":
    main()
