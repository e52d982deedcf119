"""Config of ``langevin-opt active-learn``: committee-driven active learning against ASE EMT.

A TOML file::

    [experiment]  name, seed (required), description
    [data]        initial (required: labelled extended XYZ), test (required: labelled
                  extended XYZ, never trained on), starts (extended XYZ of exploration
                  starts; default: the initial set); paths relative to the config file
    [reference]   calculator ("emt": ase.calculators.emt.EMT, the only one for now)
    [descriptor]  kind, cutoff (required), cutoff_function, species, n_radial, radial_mode,
                  angular_etas, angular_zetas, angular_lambdas, angular_kind, n_max
                  (as in fit-potential)
    [model]       hidden, activation (units are "metal": eV, Å)
    [committee]   n_members, sigma_energy (eV/atom), sigma_force (eV/Å), prior_sigma
                  (0: none), max_iter (L-BFGS iterations per member)
    [explore]     temperatures_K, n_steps, frame_every, dt_fs, friction_per_fs,
                  stop_threshold (eV/Å; 0: never stop)
    [active]      rounds, per_round, strategies (any of "uncertain", "random")

Every problem is one :class:`~langevin_opt.schema._base.ConfigError` line naming the
section and key.
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

__all__ = ["SECTIONS", "STRATEGIES", "validate_active_config", "load_active_config"]

#: Selection strategies (:data:`langevin_opt.mlip.active.ACTIVE_STRATEGIES`).
STRATEGIES = ("uncertain", "random")
_ACTIVATIONS = ("tanh", "softplus", "sigmoid", "relu", "identity")


def _nonneg(v: float) -> str | None:
    return None if v >= 0 else "must be >= 0"


SECTIONS: dict[str, dict[str, Field]] = {
    "experiment": {"name": Field("str", default="active-learn"),
                   "seed": Field("int", required=True, check=at_least(0)),
                   "description": Field("str", default="")},
    "data": {"initial": Field("str", required=True), "test": Field("str", required=True),
             "starts": Field("str", default="")},
    "reference": {"calculator": Field("str", default="emt", choices=("emt",))},
    "descriptor": {
        "kind": Field("str", default="symmetry_functions",
                      choices=("symmetry_functions", "sorted_inverse_distance")),
        "cutoff": Field("float", required=True, check=positive),
        "cutoff_function": Field("str", default="cosine", choices=("cosine", "tanh3")),
        "species": Field("str_list", default=[]),
        "n_radial": Field("int", default=6, check=at_least(2)),
        "radial_mode": Field("str", default="shifted", choices=("shifted", "centered")),
        "angular_etas": Field("float_list", default=[0.005]),
        "angular_zetas": Field("float_list", default=[1.0, 4.0]),
        "angular_lambdas": Field("float_list", default=[-1.0, 1.0]),
        "angular_kind": Field("int", default=4, check=lambda v: None if v in (4, 5)
                              else "must be 4 or 5"),
        "n_max": Field("int", default=12, check=at_least(1))},
    "model": {"hidden": Field("int_list", default=[10, 10]),
              "activation": Field("str", default="tanh", choices=_ACTIVATIONS)},
    "committee": {"n_members": Field("int", default=4, check=at_least(2)),
                  "sigma_energy": Field("float", default=0.005, check=positive),
                  "sigma_force": Field("float", default=0.05, check=positive),
                  "prior_sigma": Field("float", default=0.0, check=_nonneg),
                  "max_iter": Field("int", default=200, check=at_least(1))},
    "explore": {"temperatures_K": Field("float_list", default=[300.0, 900.0]),
                "n_steps": Field("int", default=100, check=at_least(1)),
                "frame_every": Field("int", default=10, check=at_least(1)),
                "dt_fs": Field("float", default=2.0, check=positive),
                "friction_per_fs": Field("float", default=0.01, check=_nonneg),
                "stop_threshold": Field("float", default=0.0, check=_nonneg)},
    "active": {"rounds": Field("int", default=4, check=at_least(1)),
               "per_round": Field("int", default=10, check=at_least(1)),
               "strategies": Field("str_list", default=["uncertain"])},
}
_REQUIRED = ("experiment", "data", "descriptor")


def validate_active_config(config: Mapping, base: str | Path | None = None) -> dict:
    """Check an active-learn config and fill in defaults.

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
    d, de, ex, ac = out["data"], out["descriptor"], out["explore"], out["active"]
    root = Path(base) if base is not None else Path.cwd()
    for key in ("initial", "test", "starts"):
        if d[key]:
            p = Path(d[key])
            p = p if p.is_absolute() else root / p
            if not p.is_file():
                raise ConfigError(f"[data] {key}: file not found: {p}")
            d[key] = str(p)
    if any(x not in (-1.0, 1.0) for x in de["angular_lambdas"]):
        raise ConfigError(f"[descriptor] angular_lambdas: must be +1 or -1, got "
                          f"{de['angular_lambdas']!r}")
    if any(x < 1 for x in de["angular_zetas"]):
        raise ConfigError(f"[descriptor] angular_zetas: must all be >= 1, got "
                          f"{de['angular_zetas']!r}")
    if any(x < 0 for x in de["angular_etas"]):
        raise ConfigError(f"[descriptor] angular_etas: must all be >= 0, got "
                          f"{de['angular_etas']!r}")
    if not ex["temperatures_K"] or any(t < 0 for t in ex["temperatures_K"]):
        raise ConfigError(f"[explore] temperatures_K: must be a non-empty array of numbers "
                          f">= 0 (K), got {ex['temperatures_K']!r}")
    if ex["frame_every"] > ex["n_steps"]:
        raise ConfigError(f"[explore] frame_every: must be <= n_steps ({ex['n_steps']}), got "
                          f"{ex['frame_every']}")
    bad = [s for s in ac["strategies"] if s not in STRATEGIES]
    if bad or not ac["strategies"]:
        raise ConfigError(f"[active] strategies: must be a non-empty array of "
                          f"{', '.join(STRATEGIES)}, got {ac['strategies']!r}")
    return out


def load_active_config(path: str | Path) -> dict:
    """Read and validate an active-learn TOML file.

    Parameters
    ----------
    path : str or Path
        The config; relative data paths are resolved against its folder.

    Returns
    -------
    dict
        :func:`validate_active_config` of its contents.
    """
    p = Path(path)
    return validate_active_config(read_toml(p), base=p.resolve().parent)
