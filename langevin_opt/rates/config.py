"""Config files of ``langevin-opt arrhenius`` (TOML): schema, validation and defaults.

Every problem is one :class:`~langevin_opt.schema.ConfigError` line naming the
key, as for ``langevin-opt run``.  Layout::

    [experiment]
    name = "arrhenius_muller_brown"   # str
    seed = 2026                       # int in [0, 2**64)
    description = "..."               # optional

    [landscape]
    name = "muller_brown"             # a built-in landscape and its settings

    # ... or, instead of [landscape], a cluster of atoms:
    [cluster]
    structure = "lj7_2d"              # lj7_2d (2-D LJ7 hexagon) | lj13 (LJ13 icosahedron)
    container_radius = 0.0            # spherical wall around the origin (0: none)
    energy_tol = 1e-3                 # quench energies differing by more: another minimum

    [integrator]
    kind = "overdamped"               # overdamped | baoab
    dt = 1e-5                         # plus friction, mass for baoab (clusters: friction)

    [rates]
    temperatures = [12.0, 15.0, 20.0] # k_B = 1; >= 1 temperature (>= 2 for a fit)
    walkers = 200                     # walkers per temperature
    max_steps = 1_000_000             # step limit (censoring), or one per temperature
    start = 0                         # index of the start minimum in the landscape's minima
    basin_radius = 0.15               # optional: commitment-ball radius, or one per minimum
    basin_fraction = 0.5              # default radius: this fraction of the distance to the
                                      # nearest known saddle
    chunk = 2000                      # steps between packings of the running walkers
                                      # (clusters: steps between quenches)
    level = 0.95                      # confidence level
    bootstrap = 1000                  # bootstrap replicas of the Arrhenius fit (0: normal theory)

    [theory]                          # optional
    enabled = true                    # CI-NEB + dimer saddle search and rate predictions
    n_images = 11
    fmax = 1e-3                       # force tolerance (energy / length)

    [output]                          # optional
    plot = true                       # write arrhenius.png
    compression = "none"              # none | gzip | lzf

Units: reduced, ``k_B = 1``; rates in inverse time units of the integrator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..landscapes import LANDSCAPES, Landscape, make_landscape
from ..sampling import make_integrator
from ..schema import (
    SECTIONS as _RUN_SECTIONS,
)
from ..schema import (
    ConfigError,
    _check_keys,
    _coerce,
    _Field,
    _is_numeric,
    _suggest,
    _typename,
    read_toml,
)

__all__ = ["RatesExperiment", "validate_rates_config", "load_rates_config", "INTEGRATOR_KINDS",
           "CLUSTER_STRUCTURES", "cluster_structure"]

#: Integrators the first-passage loop supports.
INTEGRATOR_KINDS = ("overdamped", "baoab")


def _gt0(v: float) -> str | None:
    return None if v > 0 else "must be > 0"


def _ge1(v: int) -> str | None:
    return None if v >= 1 else "must be >= 1"


def _ge0(v: int) -> str | None:
    return None if v >= 0 else "must be >= 0"


def _temps(v: list) -> str | None:
    if not v:
        return "must hold at least one temperature"
    if any(t <= 0 for t in v):
        return "must all be > 0"
    return None


def _level(v: float) -> str | None:
    return None if 0 < v < 1 else "must be in (0, 1)"


def _fraction(v: float) -> str | None:
    return None if 0 < v < 1 else "must be in (0, 1)"


SECTIONS: dict[str, dict[str, _Field]] = {
    "experiment": _RUN_SECTIONS["experiment"],
    "rates": {
        "temperatures": _Field("float_list", required=True, check=_temps),
        "walkers": _Field("int", required=True, check=_ge1),
        "max_steps": _Field("int_or_list", required=True),
        "start": _Field("int", default=0, check=_ge0),
        "basin_radius": _Field("float_or_list", default=None),
        "basin_fraction": _Field("float", default=0.5, check=_fraction),
        "chunk": _Field("int", default=2000, check=_ge1),
        "level": _Field("float", default=0.95, check=_level),
        "bootstrap": _Field("int", default=1000, check=_ge0),
    },
    "theory": {
        "enabled": _Field("bool", default=True),
        "n_images": _Field("int", default=11, check=lambda v: None if v >= 3 else "must be >= 3"),
        "fmax": _Field("float", default=1e-3, check=_gt0),
    },
    "output": {
        "plot": _Field("bool", default=True),
        "compression": _Field("str", default="none", choices=("none", "gzip", "lzf")),
    },
}
REQUIRED = ("experiment", "integrator", "rates")

#: Cluster start structures of ``[cluster] structure`` (plain Lennard-Jones, eps = sigma = 1).
CLUSTER_STRUCTURES = ("lj7_2d", "lj13")
CLUSTER_FIELDS = {
    "structure": _Field("str", required=True, choices=CLUSTER_STRUCTURES),
    "container_radius": _Field("float", default=0.0,
                               check=lambda v: None if v >= 0 else "must be >= 0"),
    "energy_tol": _Field("float", default=1e-3, check=_gt0),
}


def cluster_structure(name: str):  # noqa: ANN201
    """Start configuration of a built-in cluster (a minimum before polishing).

    Parameters
    ----------
    name : {"lj7_2d", "lj13"}

    Returns
    -------
    numpy.ndarray, shape (N, d)
    """
    import numpy as np

    if name == "lj7_2d":
        a = np.arange(6) * np.pi / 3
        return 1.12 * np.vstack([[0.0, 0.0], np.stack([np.cos(a), np.sin(a)], axis=1)])
    phi = (1 + 5**0.5) / 2
    v = [(0, a, b) for a in (-1, 1) for b in (-phi, phi)]
    v += [(a, b, 0) for a in (-1, 1) for b in (-phi, phi)]
    v += [(b, 0, a) for a in (-1, 1) for b in (-phi, phi)]
    v = np.array(v, dtype=float)
    return np.vstack([np.zeros(3), 1.1 * v / np.linalg.norm(v[0])])


def _coerce_any(sec: str, key: str, f: _Field, v: object) -> object:
    where = f"[{sec}] {key}"
    if f.kind == "int_or_list":
        items = v if isinstance(v, list) else [v]
        if not items or any(isinstance(x, bool) or not isinstance(x, int) or x < 1
                            for x in items):
            raise ConfigError(f"{where}: must be an integer >= 1 or an array of them, "
                              f"got {_typename(v)} {v!r}")
        return v
    if f.kind == "float_or_list":
        if not _is_numeric(v) or (isinstance(v, list) and any(isinstance(x, list) for x in v)):
            raise ConfigError(f"{where}: must be a number > 0 or an array of them, "
                              f"got {_typename(v)} {v!r}")
        vals = v if isinstance(v, list) else [v]
        if any(x <= 0 for x in vals):
            raise ConfigError(f"{where}: must all be > 0, got {v!r}")
        return [float(x) for x in v] if isinstance(v, list) else float(v)
    return _coerce(sec, key, f, v)


@dataclass(frozen=True)
class RatesExperiment:
    """A validated ``arrhenius`` config.

    Attributes
    ----------
    config : dict
        Normalised config (defaults filled in), stored in the output file.
    """

    config: dict

    @property
    def name(self) -> str:
        """Experiment name."""
        return self.config["experiment"]["name"]

    @property
    def seed(self) -> int:
        """Generator key."""
        return self.config["experiment"]["seed"]

    @property
    def is_cluster(self) -> bool:
        """True for a ``[cluster]`` config (atoms), False for a ``[landscape]`` one."""
        return "cluster" in self.config

    @property
    def system_name(self) -> str:
        """Landscape name or cluster structure."""
        return (self.config["cluster"]["structure"] if self.is_cluster
                else self.config["landscape"]["name"])

    def cluster(self) -> tuple:
        """Start configuration, potential and container of a ``[cluster]`` config.

        Returns
        -------
        (numpy.ndarray, LennardJones, Container or None)
        """
        from ..particles import Container, lennard_jones

        c = self.config["cluster"]
        box = Container(c["container_radius"]) if c["container_radius"] > 0 else None
        return cluster_structure(c["structure"]), lennard_jones(mode="plain"), box

    def landscape(self) -> Landscape:
        """Build the landscape.

        Returns
        -------
        Landscape
        """
        s = dict(self.config["landscape"])
        return make_landscape(s.pop("name"), **s)

    def integrator(self):  # noqa: ANN201
        """Build the integrator.

        Returns
        -------
        Overdamped or BAOAB (walkers); LangevinOverdamped or LangevinBAOAB (clusters)
        """
        s = dict(self.config["integrator"])
        kind = s.pop("kind")
        if self.is_cluster:
            from ..particles import make_particle_integrator

            return make_particle_integrator(kind, **s)
        return make_integrator(kind, **s)

    def max_steps(self) -> list[int]:
        """Step limit per temperature.

        Returns
        -------
        list of int
        """
        r = self.config["rates"]
        m = r["max_steps"]
        return list(m) if isinstance(m, list) else [m] * len(r["temperatures"])


def validate_rates_config(raw: Mapping) -> RatesExperiment:
    """Validate a parsed ``arrhenius`` config and fill in defaults.

    Parameters
    ----------
    raw : mapping
        Parsed TOML document.

    Returns
    -------
    RatesExperiment

    Raises
    ------
    ConfigError
        On the first problem (one line naming the key).
    """
    if not isinstance(raw, Mapping):
        raise ConfigError("config: the document must be a TOML table")
    _check_keys("config", raw, [*SECTIONS, "landscape", "cluster", "integrator"])
    for sec in REQUIRED:
        if sec not in raw:
            raise ConfigError(f"[{sec}] section is missing (required)")
    if ("landscape" in raw) == ("cluster" in raw):
        raise ConfigError("config: needs exactly one of the sections [landscape] (walkers) "
                          "and [cluster] (atoms)")
    for sec in raw:
        if not isinstance(raw[sec], Mapping):
            raise ConfigError(f"[{sec}] must be a table, got {_typename(raw[sec])}")
    out: dict[str, Any] = {}
    for sec, fields in SECTIONS.items():
        table = raw.get(sec, {})
        _check_keys(sec, table, list(fields))
        norm = {}
        for key, f in fields.items():
            if key in table and table[key] is not None:
                norm[key] = _coerce_any(sec, key, f, table[key])
            elif f.required:
                raise ConfigError(f"[{sec}] {key}: missing (required)")
            else:
                norm[key] = f.default
        out[sec] = norm

    if "cluster" in raw:
        return _validate_cluster(raw, out)
    land = dict(raw["landscape"])
    name = land.get("name")
    if not isinstance(name, str) or name not in LANDSCAPES:
        got = f" {name!r}{_suggest(str(name), list(LANDSCAPES))}" if name is not None else ""
        raise ConfigError(f"[landscape] name: must be one of {', '.join(LANDSCAPES)}, "
                          f"got{got or ' nothing'}")
    for key, v in land.items():
        if key != "name" and not _is_numeric(v):
            raise ConfigError(f"[landscape] {key}: must be a number or an array of numbers, "
                              f"got {_typename(v)} {v!r}")
    try:
        built = make_landscape(**land)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"[landscape] {err}") from None
    out["landscape"] = land

    out["integrator"] = _validate_integrator(raw["integrator"], make_integrator)

    r = out["rates"]
    n_t = len(r["temperatures"])
    if isinstance(r["max_steps"], list) and len(r["max_steps"]) != n_t:
        raise ConfigError(f"[rates] max_steps: needs one entry per temperature ({n_t}), "
                          f"got {len(r['max_steps'])}")
    n_min = 0 if built.minima is None else built.minima.shape[0]
    if n_min < 2:
        raise ConfigError(f"[landscape] name: landscape {name!r} lists {n_min} minima; "
                          "escape rates need at least 2")
    if r["start"] >= n_min:
        raise ConfigError(f"[rates] start: landscape {name!r} has {n_min} minima "
                          f"(0..{n_min - 1}), got {r['start']}")
    br = r["basin_radius"]
    if isinstance(br, list) and len(br) != n_min:
        raise ConfigError(f"[rates] basin_radius: needs one radius per minimum ({n_min}), "
                          f"got {len(br)}")
    from .first_passage import basins_from_landscape

    try:
        basins_from_landscape(built, br, fraction=r["basin_fraction"])
    except ValueError as err:
        raise ConfigError(f"[rates] basin_radius: {err}") from None
    return RatesExperiment(out)


def _validate_integrator(table: Mapping, factory) -> dict:  # noqa: ANN001
    """``[integrator]``: a first-passage kind and numeric settings accepted by ``factory``."""
    integ = dict(table)
    kind = integ.get("kind")
    if not isinstance(kind, str) or kind not in INTEGRATOR_KINDS:
        got = f" {kind!r}{_suggest(str(kind), list(INTEGRATOR_KINDS))}" if kind is not None \
            else " nothing"
        raise ConfigError(f"[integrator] kind: must be one of {', '.join(INTEGRATOR_KINDS)} "
                          f"for first-passage runs, got{got}")
    for key, v in integ.items():
        if key != "kind" and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ConfigError(f"[integrator] {key}: must be a number, got {_typename(v)} {v!r}")
    try:
        factory(kind, **{k: v for k, v in integ.items() if k != "kind"})
    except (ValueError, TypeError) as err:
        raise ConfigError(f"[integrator] {err}") from None
    return integ


def _validate_cluster(raw: Mapping, out: dict) -> RatesExperiment:
    """The ``[cluster]`` branch of :func:`validate_rates_config`."""
    from ..particles import make_particle_integrator

    table = raw["cluster"]
    _check_keys("cluster", table, list(CLUSTER_FIELDS))
    norm = {}
    for key, f in CLUSTER_FIELDS.items():
        if key in table and table[key] is not None:
            norm[key] = _coerce("cluster", key, f, table[key])
        elif f.required:
            raise ConfigError(f"[cluster] {key}: missing (required); one of "
                              f"{', '.join(CLUSTER_STRUCTURES)}")
        else:
            norm[key] = f.default
    out["cluster"] = norm
    out["integrator"] = _validate_integrator(raw["integrator"], make_particle_integrator)
    r = out["rates"]
    n_t = len(r["temperatures"])
    if isinstance(r["max_steps"], list) and len(r["max_steps"]) != n_t:
        raise ConfigError(f"[rates] max_steps: needs one entry per temperature ({n_t}), "
                          f"got {len(r['max_steps'])}")
    for m in (r["max_steps"] if isinstance(r["max_steps"], list) else [r["max_steps"]]):
        if m % r["chunk"]:
            raise ConfigError(f"[rates] max_steps: must be a multiple of chunk={r['chunk']} "
                              f"(the steps between quenches) for a cluster, got {m}")
    for key in ("start", "basin_radius", "basin_fraction"):
        if key in raw["rates"]:
            raise ConfigError(f"[rates] {key}: not used for a [cluster] (basins are defined "
                              "by quenching)")
        r.pop(key)
    return RatesExperiment(out)


def load_rates_config(path: str | Path) -> RatesExperiment:
    """Read and validate an ``arrhenius`` TOML config.

    Parameters
    ----------
    path : str or Path
        The ``.toml`` file.

    Returns
    -------
    RatesExperiment

    Raises
    ------
    ConfigError
        Unreadable file, TOML syntax error, or invalid content.
    """
    return validate_rates_config(read_toml(path))
