"""``langevin-opt fit-potential CONFIG.toml --out DIR``: train a neural potential from a config.

Reads the training (and validation) configurations from extended XYZ files through ASE,
builds the descriptor and model of the config (:mod:`langevin_opt.schema.fit_potential`),
trains with :func:`langevin_opt.mlip.fit` and writes, each atomically (temporary file,
``fsync``, rename):

* ``DIR/model.npz``: the trained model (:func:`langevin_opt.mlip.save_model`);
* ``DIR/learning_curve.png``: training loss and train/validation energy and force RMSEs;
* ``DIR/summary.json``: the config, data sizes, final errors (energy RMSE per atom in
  energy units, force RMSE per component in energy / length), the learning curve, the
  memory of the precomputed descriptors and the run time.

With a ``[committee]`` section (:mod:`langevin_opt.schema.fit_potential`) it also writes

* ``DIR/committee.npz``: the committee (:func:`langevin_opt.mlip.save_committee`): a deep
  ensemble (``kind = "ensemble"``: ``size`` members trained by the ``[training]`` method;
  no single ``model.npz`` or learning curve then) or a posterior committee (``kind =
  "posterior"``: SG-MCMC samples at ``T = 1`` started from the ``[training]`` fit, which is
  ``model.npz``);

and ``summary.json`` gains a ``committee`` block: kind, members, noise scales, the
committee's provenance and diagnostics (``info``: per-member errors of an ensemble; the
autocorrelation time, ESS, split R-hat and convergence flag of a posterior committee), the
errors of the committee mean on the training and validation data and, with validation
data, the calibration report (:func:`langevin_opt.mlip.uncertainty.calibration_report`:
Spearman correlation, coverage, NLL, miscalibration area) of energies per atom and force
components; with ``calibrate = true`` the post-hoc spread scales are fitted on the
validation data, stored in the committee file and applied in that report (in-sample,
marked ``"in_sample": true``).

Everything is computed before the first file is written, so a bad setting found during
the run (a posterior run too short to measure its autocorrelation time, a batch larger
than the data) leaves no partial output.

Exit status 0 on success; 2 with one ``Error: ...`` line for a bad config, unreadable or
inconsistent data (nothing is written then), or an existing output without
``--overwrite``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

__all__ = ["fit_potential", "run_fit_potential", "FILES", "COMMITTEE_FILE"]

#: Files written into the output folder.
FILES = ("model.npz", "learning_curve.png", "summary.json")
#: The committee file written with a ``[committee]`` section.
COMMITTEE_FILE = "committee.npz"


class FitPotentialError(click.ClickException):
    """A user error of ``fit-potential``: one ``Error: ...`` line, exit status 2."""

    exit_code = 2


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def descriptor_from_config(de: dict, species: list[str]) -> object:
    """The descriptor a validated ``[descriptor]`` section describes, for these species."""
    from .descriptors import (
        SortedInverseDistance,
        SymmetryFunctions,
        angular_parameters,
        radial_parameters,
    )

    if de["kind"] == "symmetry_functions":
        desc = SymmetryFunctions(
            species, de["cutoff"], radial_parameters(de["n_radial"], de["cutoff"],
                                                     mode=de["radial_mode"]),
            angular_parameters(de["angular_etas"], de["angular_zetas"],
                               de["angular_lambdas"], kind=de["angular_kind"])
            if de["angular_etas"] else None, cutoff_function=de["cutoff_function"])
    else:
        desc = SortedInverseDistance(species, de["cutoff"], de["n_max"],
                                     cutoff_function=de["cutoff_function"])
    return desc


def _build(cfg: dict) -> tuple:
    """Data sets and untrained model of a validated config (ValueError on bad data)."""
    from . import Dataset, NeuralPotential

    d, de, m = cfg["data"], cfg["descriptor"], cfg["model"]
    train = Dataset.read(d["train"])
    val = Dataset.read(d["validation"]) if d["validation"] else None
    if d["n_validation"]:
        if d["n_validation"] >= len(train):
            raise ValueError(f"[data] n_validation: must be below the {len(train)} training "
                             f"configurations, got {d['n_validation']}")
        train, val = train.split(d["n_validation"], seed=cfg["experiment"]["seed"])
    species = de["species"] or list(train.species_names)
    desc = descriptor_from_config(de, species)
    model = NeuralPotential(desc, hidden=m["hidden"], activation=m["activation"],
                            units=m["units"], seed=cfg["experiment"]["seed"])
    return train, val, model


def run_fit_potential(cfg: dict, out: Path, *, overwrite: bool = False,
                      echo: object = None) -> dict:
    """Train from a validated config and write the outputs (module docstring).

    Parameters
    ----------
    cfg : dict
        :func:`langevin_opt.schema.fit_potential.validate_fit_config` output.
    out : Path
        Output folder (created).
    overwrite : bool
        Replace existing outputs.
    echo : callable, optional
        ``echo(line)`` for progress lines.

    Returns
    -------
    dict
        The summary written to ``summary.json``.

    Raises
    ------
    ValueError
        Bad data (unknown species, inconsistent shapes, unreadable files).
    FileExistsError
        Outputs exist and ``overwrite`` is false.
    """
    from .._version import __version__
    from ..plotting.mlip import learning_curve_figure
    from ..storage._safe import write_atomic
    from .io import save_model
    from .training import fit

    out = Path(out)
    if not overwrite and any((out / f).exists() for f in (*FILES, COMMITTEE_FILE)):
        raise FileExistsError(f"{out} already holds fit-potential output; use --overwrite")
    t0 = time.perf_counter()
    train, val, model = _build(cfg)
    t = cfg["training"]
    kind = cfg["committee"]["kind"]
    settings = {}
    if t["method"] != "lbfgs":
        settings["step_size"] = t["step_size"]
        if t["method"] != "sgd":
            settings["temperature"] = t["temperature"]

    def progress(row: dict) -> None:
        if echo is not None:
            line = (f"  iter {row['iteration']:>6d}  loss {row['loss']:.4g}  train E "
                    f"{row['train_energy_rmse']:.4g}  F {row['train_force_rmse']:.4g}")
            if "val_energy_rmse" in row:
                line += (f"  val E {row['val_energy_rmse']:.4g}  "
                         f"F {row['val_force_rmse']:.4g}")
            echo(line)

    res = None
    if kind != "ensemble":
        res = fit(model, train, method=t["method"], validation=val,
                  force_weight=t["force_weight"], prior_sigma=t["prior_sigma"] or None,
                  max_iter=t["max_iter"], batch_size=t["batch_size"] or None,
                  seed=cfg["experiment"]["seed"], log_every=t["log_every"],
                  callback=progress, **settings)
    committee, block = (None, None) if kind == "none" else _committee(
        cfg, model, train, val, settings, echo)
    # every number is in hand: now write (each file atomically)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    if res is not None:
        save_model(model, out / FILES[0])
        learning_curve_figure(res.curve, out / FILES[1], title=cfg["experiment"]["name"])
        files += [FILES[0], FILES[1]]
    if committee is not None:
        from .committee import save_committee

        save_committee(committee, out / COMMITTEE_FILE)
        files.append(COMMITTEE_FILE)
    files.append(FILES[2])
    summary = {
        "name": cfg["experiment"]["name"], "package_version": __version__,
        "config": cfg, "n_train": len(train), "n_validation": 0 if val is None else len(val),
        "n_params": model.n_params, "species": list(model.species),
        "n_features": model.descriptor.n_features,
        "method": t["method"] if res is None else res.method,
        "message": (f"deep ensemble of {committee.n_members} members" if res is None
                    else res.message),
        "n_evaluations": None if res is None else res.n_evaluations,
        # a deep ensemble has no single model: its errors are those of the committee mean
        "train": block["train"] if res is None else res.train,
        "validation": block["validation"] if res is None else res.validation,
        "units": {"energy_rmse_per_atom": "energy per atom (eV for metal)",
                  "force_rmse": "energy/length per component (eV/Å for metal)"},
        "learning_curve": None if res is None else {k: v.tolist()
                                                    for k, v in res.curve.items()},
        "committee": block,
        "wall_s": time.perf_counter() - t0, "files": files}
    write_atomic(str(out / FILES[2]), (json.dumps(summary, indent=2) + "\n").encode())
    return summary


def _mean_errors(pred: object, ds: object) -> dict:
    """RMSEs of a committee mean (:class:`~langevin_opt.mlip.DatasetPrediction`)."""
    import numpy as np

    dE = (pred.energies - ds.energies) / pred.n_atoms
    dF = pred.forces - np.vstack(ds.forces)
    return {"energy_rmse_per_atom": float(np.sqrt(np.mean(dE * dE))),
            "force_rmse": float(np.sqrt(np.mean(dF * dF)))}


def _committee(cfg: dict, model: object, train: object, val: object, settings: dict,
               echo: object) -> tuple:
    """Build the ``[committee]`` of a validated config; ``(Committee, summary block)``."""
    import numpy as np

    from .committee import _jsonable, deep_ensemble, posterior_committee
    from .uncertainty import calibration_report

    c, t = cfg["committee"], cfg["training"]
    seed = cfg["experiment"]["seed"]
    prior = t["prior_sigma"] or None
    noise = {"sigma_energy": c["sigma_energy"], "sigma_force": c["sigma_force"]}
    if c["kind"] == "ensemble":
        if echo is not None:
            echo(f"  deep ensemble: {c['size']} members, {t['method']}, "
                 f"{t['max_iter']} iterations each")
        com = deep_ensemble(model, train, n_members=c["size"], seed=seed,
                            prior_sigma=prior, method=t["method"], max_iter=t["max_iter"],
                            bootstrap=c["bootstrap"], batch_size=t["batch_size"] or None,
                            **noise, **settings)
    else:
        n = c["n_steps"]
        if echo is not None:
            echo(f"  posterior committee: {c['n_chains']} {c['method']} chains of {n} steps "
                 f"at T = 1")
        com = posterior_committee(
            model, train, seed=seed, n_steps=n, prior_sigma=prior, method=c["method"],
            n_chains=c["n_chains"], burn_in=int(c["burn_in_fraction"] * n),
            record_every=c["record_every"] or None, n_members=c["size"],
            batch_size=c["batch_size"] or None, init_noise=c["init_noise"],
            step_size=c["step_size"], **noise)
    block = {"kind": com.kind, "n_members": com.n_members, "file": COMMITTEE_FILE, **noise,
             "units": {"sigma_energy": "energy per atom (eV/atom for metal)",
                       "sigma_force": "energy/length per component (eV/Å for metal)"},
             "train": _mean_errors(com.predict_dataset(train), train),
             "validation": None, "calibration": None}
    if val is not None:
        raw = com.predict_dataset(val)  # raw spreads (the committee's scales are 1 here)
        if c["calibrate"]:
            com = com.calibrate(val)
            block["calibration"] = {"energy_scale": com.energy_scale,
                                    "force_scale": com.force_scale, "in_sample": True}
        n_at = raw.n_atoms
        block["validation"] = _mean_errors(raw, val)
        # the spreads with the committee's scales (when calibrated: on the same data)
        block["validation_spread"] = {
            "energy_per_atom": calibration_report(
                (raw.energies - val.energies) / n_at,
                np.maximum(raw.energy_std / n_at, 1e-300), scale=com.energy_scale),
            "forces": calibration_report(
                (raw.forces - np.vstack(val.forces)).ravel(),
                np.maximum(raw.forces_std.ravel(), 1e-300), scale=com.force_scale)}
    block["info"] = com.info
    return com, _jsonable(block)


@click.command("fit-potential")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", "-o", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Output directory (model.npz, learning_curve.png, summary.json; "
                   "committee.npz with a [committee] section).")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs in --out.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the final summary line.")
def fit_potential(config: Path, out_dir: Path, overwrite: bool, quiet: bool) -> None:
    """Train a neural interatomic potential from the config CONFIG.toml.

    Reads extended XYZ data, fits a Behler-Parrinello network (L-BFGS or an SG-MCMC
    method) to energies and forces, and writes DIR/model.npz, DIR/learning_curve.png
    and DIR/summary.json.  A [committee] section (kind "ensemble" or "posterior") also
    writes DIR/committee.npz and the committee's diagnostics and calibration.
    """
    from ..core.errors import DivergenceError
    from ..schema._base import ConfigError
    from ..schema.fit_potential import load_fit_config
    from ..schema.kinds import load_for_command

    try:
        cfg = load_for_command(config, "fit-potential", load_fit_config)
    except ConfigError as err:
        raise FitPotentialError(str(err)) from None
    echo = None if quiet else click.echo
    try:
        s = run_fit_potential(cfg, out_dir, overwrite=overwrite, echo=echo)
    except (ValueError, TypeError, FileExistsError, FileNotFoundError,
            DivergenceError) as err:  # a sampler step too large diverges: one line too
        raise FitPotentialError(f"{config}: {_one_line(str(err))}") from None
    v = s["validation"] or s["train"]
    which = "validation" if s["validation"] else "train"
    com = s["committee"]
    what = "" if com is None else f"{com['kind']} committee of {com['n_members']}, "
    click.echo(f"{s['name']}: {what}{s['method']} {s['n_train']} configurations, {which} "
               f"energy RMSE {v['energy_rmse_per_atom']:.4g}/atom, force RMSE "
               f"{v['force_rmse']:.4g}, {s['wall_s']:.1f} s -> {out_dir}")
