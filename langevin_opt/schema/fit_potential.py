"""Config of ``langevin-opt fit-potential``: train a neural potential on labelled data.

A TOML file::

    [experiment]  name, seed (required), description
    [data]        train (required: extended XYZ, relative to the config file),
                  validation (a second file) or n_validation (a random held-out split)
    [descriptor]  kind, cutoff (required), cutoff_function, species (default: the data's),
                  n_radial, radial_mode, angular_etas, angular_zetas, angular_lambdas,
                  angular_kind (symmetry functions), n_max (sorted inverse distances)
    [model]       hidden, activation, units
    [training]    method, max_iter, force_weight, prior_sigma, batch_size, step_size,
                  temperature, log_every
    [committee]   kind ("none", "ensemble", "posterior"), size, sigma_energy, sigma_force,
                  bootstrap (ensemble); method, n_steps, step_size, n_chains,
                  burn_in_fraction, record_every, batch_size, init_noise (posterior
                  sampler); calibrate

Units: lengths in the data's unit (Å for ``units = "metal"``), ``angular_etas`` in
length⁻², ``force_weight`` in length², ``sigma_energy`` in energy per atom (eV/atom),
``sigma_force`` in energy / length (eV/Å).  Every problem is one
:class:`~langevin_opt.schema._base.ConfigError` line naming the section and key.

Committee
---------
``kind = "ensemble"``: ``size`` networks trained by the ``[training]`` method from
independent seeds (:func:`langevin_opt.mlip.deep_ensemble`), each on ``bootstrap``
resamples if asked; they minimise the Gaussian likelihood of ``sigma_energy`` and
``sigma_force``, which then weight energies and forces (so ``[training] force_weight``
must not be given).  ``kind = "posterior"``: the ``[training]`` fit is the start of
``n_chains`` chains of the SG-MCMC ``method`` at ``T = 1`` on that likelihood
(:func:`langevin_opt.mlip.posterior_committee`), ``n_steps`` each, the first
``burn_in_fraction`` discarded, thinned by the measured autocorrelation time; at most
``size`` samples are kept.  Keys of the other kind are refused.  With validation data and
``calibrate = true`` the spread is scaled post hoc to fit the validation errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ._base import (
    ConfigError,
    Field,
    at_least,
    check_sections,
    coerce_lists,
    fill_section,
    positive,
    read_toml,
)

__all__ = ["SECTIONS", "validate_fit_config", "load_fit_config"]

_METHODS = ("lbfgs", "sgd", "sgld", "psgld", "sghmc")
_COMMITTEE_KINDS = ("none", "ensemble", "posterior")
_SAMPLERS = ("sgld", "psgld", "sghmc", "csgld")
#: ``[committee]`` keys that only one kind takes.
_ENSEMBLE_KEYS = ("bootstrap",)
_POSTERIOR_KEYS = ("method", "n_steps", "step_size", "n_chains", "burn_in_fraction",
                   "record_every", "batch_size", "init_noise")
_ACTIVATIONS = ("tanh", "softplus", "sigmoid", "relu", "identity")


def _nonneg(v: float) -> str | None:
    return None if v >= 0 else "must be >= 0"


SECTIONS: dict[str, dict[str, Field]] = {
    "experiment": {"name": Field("str", default="fit-potential"),
                   "seed": Field("int", required=True, check=at_least(0)),
                   "description": Field("str", default="")},
    "data": {"train": Field("str", required=True), "validation": Field("str", default=""),
             "n_validation": Field("int", default=0, check=at_least(0))},
    "descriptor": {
        "kind": Field("str", default="symmetry_functions",
                      choices=("symmetry_functions", "sorted_inverse_distance")),
        "cutoff": Field("float", required=True, check=positive),
        "cutoff_function": Field("str", default="cosine", choices=("cosine", "tanh3")),
        "species": Field("str_list", default=[]),
        "n_radial": Field("int", default=8, check=at_least(2)),
        "radial_mode": Field("str", default="shifted", choices=("shifted", "centered")),
        "angular_etas": Field("float_list", default=[0.005]),
        "angular_zetas": Field("float_list", default=[1.0, 4.0]),
        "angular_lambdas": Field("float_list", default=[-1.0, 1.0]),
        "angular_kind": Field("int", default=4, check=lambda v: None if v in (4, 5)
                              else "must be 4 or 5"),
        "n_max": Field("int", default=12, check=at_least(1))},
    "model": {"hidden": Field("int_list", default=[16, 16]),
              "activation": Field("str", default="tanh", choices=_ACTIVATIONS),
              "units": Field("str", default="metal", choices=("metal", "reduced"))},
    "training": {"method": Field("str", default="lbfgs", choices=_METHODS),
                 "max_iter": Field("int", default=200, check=at_least(1)),
                 "force_weight": Field("float", default=1.0, check=_nonneg),
                 "prior_sigma": Field("float", default=0.0, check=_nonneg),
                 "batch_size": Field("int", default=0, check=at_least(0)),
                 "step_size": Field("float", default=0.0, check=_nonneg),
                 "temperature": Field("float", default=0.0, check=_nonneg),
                 "log_every": Field("int", default=10, check=at_least(1))},
    "committee": {"kind": Field("str", default="none", choices=_COMMITTEE_KINDS),
                  "size": Field("int", default=4, check=at_least(2)),
                  "sigma_energy": Field("float", default=0.0, check=_nonneg),
                  "sigma_force": Field("float", default=0.0, check=_nonneg),
                  "bootstrap": Field("bool", default=False),
                  "method": Field("str", default="sgld", choices=_SAMPLERS),
                  "n_steps": Field("int", default=2000, check=at_least(10)),
                  "step_size": Field("float", default=0.0, check=_nonneg),
                  "n_chains": Field("int", default=4, check=at_least(1)),
                  "burn_in_fraction": Field("float", default=0.2, check=lambda v: None
                                            if 0.0 <= v < 1.0 else "must be in [0, 1)"),
                  "record_every": Field("int", default=0, check=at_least(0)),
                  "batch_size": Field("int", default=0, check=at_least(0)),
                  "init_noise": Field("float", default=0.0, check=_nonneg),
                  "calibrate": Field("bool", default=True)},
}
_REQUIRED = ("experiment", "data", "descriptor")


def validate_fit_config(config: Mapping, base: str | Path | None = None) -> dict:
    """Check a fit-potential config and fill in defaults.

    Parameters
    ----------
    config : mapping
        Sections as in the module docstring.
    base : str or Path, optional
        Folder against which relative data paths are resolved (the config's folder).

    Returns
    -------
    dict
        Every section and key; data paths made absolute.

    Raises
    ------
    ConfigError
        One line naming the section and key and what is allowed.
    """
    check_sections(config, list(SECTIONS), _REQUIRED)
    out = {sec: fill_section(sec, config.get(sec, {}), keys, coerce_lists)
           for sec, keys in SECTIONS.items()}
    d, t = out["data"], out["training"]
    root = Path(base) if base is not None else Path.cwd()
    for key in ("train", "validation"):
        if d[key]:
            p = Path(d[key])
            p = p if p.is_absolute() else root / p
            if not p.is_file():
                raise ConfigError(f"[data] {key}: file not found: {p}")
            d[key] = str(p)
    if d["validation"] and d["n_validation"]:
        raise ConfigError("[data] n_validation: must be 0 when a validation file is given, "
                          f"got {d['n_validation']}")
    if any(x not in (-1.0, 1.0) for x in out["descriptor"]["angular_lambdas"]):
        raise ConfigError(f"[descriptor] angular_lambdas: must be +1 or -1, got "
                          f"{out['descriptor']['angular_lambdas']!r}")
    if any(x < 1 for x in out["descriptor"]["angular_zetas"]):
        raise ConfigError(f"[descriptor] angular_zetas: must all be >= 1, got "
                          f"{out['descriptor']['angular_zetas']!r}")
    if any(x < 0 for x in out["descriptor"]["angular_etas"]):
        raise ConfigError(f"[descriptor] angular_etas: must all be >= 0, got "
                          f"{out['descriptor']['angular_etas']!r}")
    if t["method"] != "lbfgs" and not t["step_size"] > 0:
        raise ConfigError(f"[training] step_size: must be > 0 for method {t['method']!r}, got "
                          f"{t['step_size']!r}")
    if t["method"] == "lbfgs" and t["batch_size"]:
        raise ConfigError(f"[training] batch_size: must be 0 (full batch) for method 'lbfgs', "
                          f"got {t['batch_size']!r}")
    _check_committee(out, config)
    return out


def _check_committee(out: dict, raw: Mapping) -> None:
    """Cross-checks of ``[committee]`` against its kind and ``[training]``."""
    c = out["committee"]
    given = set(raw.get("committee", {}) or {})
    kind = c["kind"]
    if kind == "none":
        extra = sorted(given - {"kind"})
        if extra:
            raise ConfigError(f"[committee] {extra[0]}: needs kind = 'ensemble' or "
                              f"'posterior' (kind is 'none': no committee)")
        return
    for key, what in (("sigma_energy", "energy noise per atom, eV/atom"),
                      ("sigma_force", "force noise per component, eV/Å")):
        if not c[key] > 0:
            raise ConfigError(f"[committee] {key}: must be > 0 for kind {kind!r} (the "
                              f"likelihood's {what}), got {c[key]!r}")
    other = _POSTERIOR_KEYS if kind == "ensemble" else _ENSEMBLE_KEYS
    wrong = sorted(given & set(other))
    if wrong:
        how = ("an ensemble trains with the [training] settings" if kind == "ensemble"
               else "posterior samples come from one sampler run")
        raise ConfigError(f"[committee] {wrong[0]}: not used with kind = {kind!r} ({how}); "
                          "remove it")
    if kind == "ensemble" and "force_weight" in (raw.get("training", {}) or {}):
        raise ConfigError("[training] force_weight: not used with [committee] kind = "
                          "'ensemble' (sigma_energy and sigma_force weight energies and "
                          "forces); remove it")
    if kind == "posterior" and not c["step_size"] > 0:
        raise ConfigError(f"[committee] step_size: must be > 0 for kind 'posterior' (the "
                          f"sampler's step), got {c['step_size']!r}")


def load_fit_config(path: str | Path) -> dict:
    """Read and validate a fit-potential TOML file.

    Parameters
    ----------
    path : str or Path
        The config; relative data paths are resolved against its folder.

    Returns
    -------
    dict
        :func:`validate_fit_config` of its contents.
    """
    p = Path(path)
    return validate_fit_config(read_toml(p), base=p.resolve().parent)
