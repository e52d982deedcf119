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

Exit status 0 on success; 2 with one ``Error: ...`` line for a bad config, unreadable or
inconsistent data (nothing is written then), or an existing output without
``--overwrite``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

__all__ = ["fit_potential", "run_fit_potential", "FILES"]

#: Files written into the output folder.
FILES = ("model.npz", "learning_curve.png", "summary.json")


class FitPotentialError(click.ClickException):
    """A user error of ``fit-potential``: one ``Error: ...`` line, exit status 2."""

    exit_code = 2


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _build(cfg: dict) -> tuple:
    """Data sets and untrained model of a validated config (ValueError on bad data)."""
    from . import Dataset, NeuralPotential, SortedInverseDistance, SymmetryFunctions
    from .descriptors import angular_parameters, radial_parameters

    d, de, m = cfg["data"], cfg["descriptor"], cfg["model"]
    train = Dataset.read(d["train"])
    val = Dataset.read(d["validation"]) if d["validation"] else None
    if d["n_validation"]:
        if d["n_validation"] >= len(train):
            raise ValueError(f"[data] n_validation: must be below the {len(train)} training "
                             f"configurations, got {d['n_validation']}")
        train, val = train.split(d["n_validation"], seed=cfg["experiment"]["seed"])
    species = de["species"] or list(train.species_names)
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
    if not overwrite and any((out / f).exists() for f in FILES):
        raise FileExistsError(f"{out} already holds fit-potential output; use --overwrite")
    t0 = time.perf_counter()
    train, val, model = _build(cfg)
    t = cfg["training"]
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

    res = fit(model, train, method=t["method"], validation=val,
              force_weight=t["force_weight"], prior_sigma=t["prior_sigma"] or None,
              max_iter=t["max_iter"], batch_size=t["batch_size"] or None,
              seed=cfg["experiment"]["seed"], log_every=t["log_every"], callback=progress,
              **settings)
    out.mkdir(parents=True, exist_ok=True)
    save_model(model, out / FILES[0])
    learning_curve_figure(res.curve, out / FILES[1], title=cfg["experiment"]["name"])
    summary = {
        "name": cfg["experiment"]["name"], "package_version": __version__,
        "config": cfg, "n_train": len(train), "n_validation": 0 if val is None else len(val),
        "n_params": model.n_params, "species": list(model.species),
        "n_features": model.descriptor.n_features, "method": res.method,
        "message": res.message, "n_evaluations": res.n_evaluations,
        "train": res.train, "validation": res.validation,
        "units": {"energy_rmse_per_atom": "energy per atom (eV for metal)",
                  "force_rmse": "energy/length per component (eV/Å for metal)"},
        "learning_curve": {k: v.tolist() for k, v in res.curve.items()},
        "wall_s": time.perf_counter() - t0, "files": list(FILES)}
    write_atomic(str(out / FILES[2]), (json.dumps(summary, indent=2) + "\n").encode())
    return summary


@click.command("fit-potential")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", "-o", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Output directory (model.npz, learning_curve.png, summary.json).")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs in --out.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the final summary line.")
def fit_potential(config: Path, out_dir: Path, overwrite: bool, quiet: bool) -> None:
    """Train a neural interatomic potential from the config CONFIG.toml.

    Reads extended XYZ data, fits a Behler-Parrinello network (L-BFGS or an SG-MCMC
    method) to energies and forces, and writes DIR/model.npz, DIR/learning_curve.png
    and DIR/summary.json.
    """
    from ..schema._base import ConfigError
    from ..schema.fit_potential import load_fit_config

    try:
        cfg = load_fit_config(config)
    except ConfigError as err:
        msg = _one_line(str(err))
        raise FitPotentialError(msg if msg.startswith(str(config)) else f"{config}: {msg}"
                                ) from None
    echo = None if quiet else click.echo
    try:
        s = run_fit_potential(cfg, out_dir, overwrite=overwrite, echo=echo)
    except (ValueError, TypeError, FileExistsError, FileNotFoundError) as err:
        raise FitPotentialError(f"{config}: {_one_line(str(err))}") from None
    v = s["validation"] or s["train"]
    which = "validation" if s["validation"] else "train"
    click.echo(f"{s['name']}: {s['method']} {s['n_train']} configurations, {which} energy RMSE "
               f"{v['energy_rmse_per_atom']:.4g}/atom, force RMSE {v['force_rmse']:.4g}, "
               f"{s['wall_s']:.1f} s -> {out_dir}")
