"""``langevin-opt active-learn CONFIG.toml --out DIR``: committee-driven active learning.

Reads the labelled initial and test sets (extended XYZ, through ASE), builds the descriptor
and network of the config (:mod:`langevin_opt.schema.active_learn`) and runs
:func:`langevin_opt.mlip.active.active_learning` once per strategy, labelling with ASE's
EMT.  Writes, each file atomically (temporary file, ``fsync``, rename):

* ``DIR/<strategy>/round_RR/committee.npz``, ``train.extxyz``, ``errors.json`` for every
  round, and ``pool.npz``, ``selected.extxyz`` for every round that explored;
* ``DIR/<strategy>/summary.json`` (rewritten after every round);
* ``DIR/summary.json``: the config, the learning curves (force RMSE on the test set, eV/Å,
  against the number of labelled configurations) of every strategy and the run time;
* ``DIR/learning_curve.png``: those curves.

Exit status 0 on success; 2 with one ``Error: ...`` line for a bad config, unreadable or
inconsistent data, or an existing output without ``--overwrite`` (nothing is written
then); 1 with one line if the run itself fails.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

__all__ = ["active_learn", "run_active_learn", "prepare_active_learn", "FILES"]

#: Files written at the top of the output folder (besides one folder per strategy).
FILES = ("summary.json", "learning_curve.png")


class ActiveLearnError(click.ClickException):
    """A user error of ``active-learn``: one ``Error: ...`` line, exit status 2."""

    exit_code = 2


class ActiveLearnFailed(click.ClickException):
    """The run failed while running: one ``Error: ...`` line, exit status 1."""

    exit_code = 1


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def prepare_active_learn(cfg: dict) -> tuple:
    """Data sets and untrained model of a validated config, checked before anything is written.

    Parameters
    ----------
    cfg : dict
        :func:`langevin_opt.schema.active_learn.validate_active_config` output.

    Returns
    -------
    (Dataset, Dataset, Dataset, NeuralPotential)
        Initial, test and start sets and the model.

    Raises
    ------
    ValueError
        Unreadable data, species the descriptor does not list, a box smaller than twice
        the cutoff, too few initial configurations.
    """
    from . import Dataset, NeuralPotential
    from .cli import descriptor_from_config

    d, de, m = cfg["data"], cfg["descriptor"], cfg["model"]
    sets = {}
    for key in ("initial", "test", "starts"):
        if d[key]:
            try:
                sets[key] = Dataset.read(d[key])
            except Exception as e:  # ASE raises many kinds on a malformed file
                raise ValueError(f"[data] {key}: cannot read {d[key]}: "
                                 f"{_one_line(str(e)) or type(e).__name__}") from None
    sets.setdefault("starts", sets["initial"])
    if len(sets["initial"]) < 2:
        raise ValueError(f"[data] initial: needs at least 2 labelled configurations, got "
                         f"{len(sets['initial'])}")
    species = de["species"] or sorted(set(sets["initial"].species_names)
                                      | set(sets["starts"].species_names))
    for key, ds in sets.items():
        unknown = sorted(set(ds.species_names) - set(species))
        if unknown:
            raise ValueError(f"[data] {key}: species {tuple(unknown)} not in [descriptor] "
                             f"species {tuple(species)}")
        for c, box in enumerate(ds.boxes):
            if box is not None and 2.0 * de["cutoff"] > float(min(box)):
                raise ValueError(f"[data] {key}: configuration {c} has a box edge "
                                 f"{float(min(box)):.4g} Å shorter than twice the cutoff "
                                 f"({2.0 * de['cutoff']:.4g} Å)")
    desc = descriptor_from_config(de, species)
    model = NeuralPotential(desc, hidden=m["hidden"], activation=m["activation"],
                            units="metal", seed=cfg["experiment"]["seed"])
    return sets["initial"], sets["test"], sets["starts"], model


def run_active_learn(cfg: dict, out: Path, *, overwrite: bool = False,
                     echo: object = None) -> dict:
    """Run every strategy of a validated config and write the outputs (module docstring).

    Parameters
    ----------
    cfg : dict
        :func:`langevin_opt.schema.active_learn.validate_active_config` output.
    out : Path
        Output folder (created only once the data and model are checked).
    overwrite : bool
        Replace existing outputs.
    echo : callable, optional
        ``echo(line)`` for progress lines.

    Returns
    -------
    dict
        The summary written to ``DIR/summary.json``.

    Raises
    ------
    ValueError
        Bad data (see :func:`prepare_active_learn`).
    FileExistsError
        Outputs exist and ``overwrite`` is false.
    """
    from ase.calculators.emt import EMT

    from .._version import __version__
    from ..plotting.mlip import active_learning_figure
    from ..storage._safe import write_atomic
    from .active import active_learning

    out = Path(out)
    strategies = cfg["active"]["strategies"]
    if not overwrite and (any((out / f).exists() for f in FILES)
                          or any((out / s).exists() for s in strategies)):
        raise FileExistsError(f"{out} already holds active-learn output; use --overwrite")
    initial, test, starts, model = prepare_active_learn(cfg)
    t0 = time.perf_counter()
    c, ex, ac = cfg["committee"], cfg["explore"], cfg["active"]
    curves = {}
    for s in strategies:
        res = active_learning(
            model, initial, test, reference=EMT(), n_rounds=ac["rounds"],
            per_round=ac["per_round"], seed=cfg["experiment"]["seed"], strategy=s,
            temperatures_K=ex["temperatures_K"], n_steps=ex["n_steps"],
            frame_every=ex["frame_every"], dt_fs=ex["dt_fs"],
            friction_per_fs=ex["friction_per_fs"],
            stop_threshold=ex["stop_threshold"] or None, starts=starts,
            n_members=c["n_members"], sigma_energy=c["sigma_energy"],
            sigma_force=c["sigma_force"], prior_sigma=c["prior_sigma"] or None,
            max_iter=c["max_iter"], out_dir=out / s, echo=echo)
        n, f = res.learning_curve
        curves[s] = {"n_labelled": n.tolist(), "force_rmse": f.tolist(),
                     "energy_rmse_per_atom": [r["test"]["energy_rmse_per_atom"]
                                              for r in res.rounds]}
    summary = {"name": cfg["experiment"]["name"], "package_version": __version__,
               "config": cfg, "n_initial": len(initial), "n_test": len(test),
               "n_params": model.n_params, "species": list(model.species),
               "learning_curves": curves,
               "units": {"force_rmse": "eV/Å per component",
                         "energy_rmse_per_atom": "eV/atom"},
               "wall_s": time.perf_counter() - t0,
               "files": [*FILES, *[f"{s}/round_RR/..." for s in strategies]]}
    active_learning_figure(curves, out / FILES[1], title=cfg["experiment"]["name"])
    write_atomic(str(out / FILES[0]), (json.dumps(summary, indent=2) + "\n").encode())
    return summary


@click.command("active-learn")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", "-o", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Output directory (one folder per strategy and round).")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs in --out.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the final summary line.")
def active_learn(config: Path, out_dir: Path, overwrite: bool, quiet: bool) -> None:
    """Committee-driven active learning with EMT labels, from the config CONFIG.toml.

    Trains a committee, explores with committee dynamics, labels the most uncertain (or
    random) frames with EMT, retrains, and writes every round's committee, data and
    errors to DIR/<strategy>/round_RR/, with DIR/summary.json and
    DIR/learning_curve.png.
    """
    from ..core.errors import DivergenceError
    from ..schema._base import ConfigError
    from ..schema.active_learn import load_active_config
    from ..schema.kinds import load_for_command

    try:
        cfg = load_for_command(config, "active-learn", load_active_config)
    except ConfigError as err:
        raise ActiveLearnError(str(err)) from None
    echo = None if quiet else click.echo
    try:
        s = run_active_learn(cfg, out_dir, overwrite=overwrite, echo=echo)
    except (ValueError, TypeError, FileExistsError, FileNotFoundError) as err:
        raise ActiveLearnError(f"{config}: {_one_line(str(err))}") from None
    except (DivergenceError, RuntimeError, FloatingPointError) as err:
        raise ActiveLearnFailed(f"{config}: the run failed: {_one_line(str(err))}") from None
    parts = [f"{k} {v['force_rmse'][0]:.4g} -> {v['force_rmse'][-1]:.4g} eV/Å "
             f"({v['n_labelled'][-1]} labelled)" for k, v in s["learning_curves"].items()]
    click.echo(f"{s['name']}: test force RMSE " + "; ".join(parts)
               + f", {s['wall_s']:.1f} s -> {out_dir}")
