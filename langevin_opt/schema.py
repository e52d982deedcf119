"""Experiment configuration files (TOML): schema, validation and defaults.

A config is validated completely before anything runs or any file is touched.
Every problem is reported as one :class:`ConfigError` line naming the key and
what is allowed, e.g.::

    [integrator] dt: must be a number > 0, got 0
    [ensemble] unknown key 'walkres' (did you mean 'walkers'?); allowed: walkers, ...

Layout (all sections but ``[experiment]``'s optional keys are required)::

    [experiment]
    name = "quickstart"          # str
    seed = 2026                  # int in [0, 2**64)
    description = "..."          # str, optional

    [landscape]
    name = "narrow_wide"         # a built-in landscape (see `langevin-opt list`)
    dim = 2                      # ... plus that landscape's own settings

    [integrator]
    kind = "mala"                # gd | overdamped | mala | baoab
    dt = 1e-3                    # plus friction, mass for baoab

    [ensemble]
    walkers = 2000               # walkers per temperature (chains, with replica exchange)
    temperatures = [0.2, 0.5]    # one or more temperatures (k_B = 1)
    steps = 20000
    init = "uniform"             # uniform | minimum:<k> | point
    point = [0.0, 0.0]           # only with init = "point"
    replica_exchange = false
    swap_every = 10

    [schedule]                   # optional
    kind = "geometric"           # constant | linear | geometric | cosine
    final = 0.01

    [output]                     # optional
    record_every = 100           # frames every N steps (0: none)
    checkpoint_every = 5000
    compression = "none"         # none | gzip | lzf
"""

from __future__ import annotations

import difflib
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .landscapes import LANDSCAPES, make_landscape
from .sampling import INTEGRATORS, make_integrator
from .schedules import SCHEDULES, make_schedule

__all__ = ["ConfigError", "load_config", "validate_config", "Experiment"]


class ConfigError(ValueError):
    """A config file is malformed; the message is one line naming the key."""


@dataclass(frozen=True)
class _Field:
    kind: str  # "int", "float", "str", "bool", "float_list"
    required: bool = False
    default: Any = None
    check: Callable[[Any], str | None] | None = None
    choices: tuple[str, ...] | None = None


def _gt0(v: float) -> str | None:
    return None if v > 0 else "must be > 0"


def _ge0(v: float) -> str | None:
    return None if v >= 0 else "must be >= 0"


def _ge1(v: int) -> str | None:
    return None if v >= 1 else "must be >= 1"


def _seed(v: int) -> str | None:
    return None if 0 <= v < 2**64 else "must be in [0, 2**64)"


def _temps(v: list) -> str | None:
    if not v:
        return "must hold at least one temperature"
    if any(t < 0 for t in v):
        return "must all be >= 0"
    return None


def _init(v: str) -> str | None:
    if v in ("uniform", "point"):
        return None
    if v.startswith("minimum:") and v[8:].isdigit():
        return None
    return "must be 'uniform', 'point' or 'minimum:<k>'"


SECTIONS: dict[str, dict[str, _Field]] = {
    "experiment": {
        "name": _Field("str", required=True),
        "seed": _Field("int", required=True, check=_seed),
        "description": _Field("str", default=""),
    },
    "ensemble": {
        "walkers": _Field("int", required=True, check=_ge1),
        "temperatures": _Field("float_list", required=True, check=_temps),
        "steps": _Field("int", required=True, check=_ge1),
        "init": _Field("str", default="uniform", check=_init),
        "point": _Field("float_list", default=None),
        "replica_exchange": _Field("bool", default=False),
        "swap_every": _Field("int", default=10, check=_ge1),
    },
    "schedule": {
        "kind": _Field("str", default="constant", choices=tuple(SCHEDULES)),
        "final": _Field("float", default=None, check=_ge0),
    },
    "output": {
        "record_every": _Field("int", default=100, check=lambda v: _ge0(v)),
        "checkpoint_every": _Field("int", default=5000, check=_ge1),
        "compression": _Field("str", default="none", choices=("none", "gzip", "lzf")),
    },
}
# sections whose keys depend on a "name"/"kind" key
DYNAMIC = {"landscape": "name", "integrator": "kind"}
REQUIRED_SECTIONS = ("experiment", "landscape", "integrator", "ensemble")


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _typename(v: object) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string",
            list: "array", dict: "table"}.get(type(v), type(v).__name__)


def _coerce(section: str, key: str, f: _Field, v: object) -> object:
    where = f"[{section}] {key}"
    if f.kind == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"{where}: must be an integer, got {_typename(v)} {v!r}")
    elif f.kind == "float":
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(f"{where}: must be a finite number, got {_typename(v)} {v!r}")
        v = float(v)
    elif f.kind == "str":
        if not isinstance(v, str):
            raise ConfigError(f"{where}: must be a string, got {_typename(v)} {v!r}")
    elif f.kind == "bool":
        if not isinstance(v, bool):
            raise ConfigError(f"{where}: must be true or false, got {_typename(v)} {v!r}")
    elif f.kind == "float_list":
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = [v]
        if not isinstance(v, list) or not all(
            isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t)
            for t in v
        ):
            raise ConfigError(f"{where}: must be an array of finite numbers, got {v!r}")
        v = [float(t) for t in v]
    if f.choices is not None and v not in f.choices:
        hint = _suggest(str(v), list(f.choices))
        raise ConfigError(f"{where}: must be one of {', '.join(f.choices)}, got {v!r}{hint}")
    if f.check is not None:
        msg = f.check(v)
        if msg:
            raise ConfigError(f"{where}: {msg}, got {v!r}")
    return v


def _is_numeric(v: object) -> bool:
    if isinstance(v, list):
        return len(v) > 0 and all(_is_numeric(x) for x in v)
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_keys(section: str, table: Mapping, allowed: list[str]) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"[{section}] unknown key {key!r}{_suggest(key, allowed)}; "
                f"allowed: {', '.join(allowed)}"
            )


@dataclass(frozen=True)
class Experiment:
    """A validated experiment config: plain data plus the objects it builds.

    Attributes
    ----------
    config : dict
        The normalised config (defaults filled in), as stored in the HDF5 file.
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

    def landscape(self):  # noqa: ANN201
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
        GradientDescent, Overdamped, MALA or BAOAB
        """
        s = dict(self.config["integrator"])
        return make_integrator(s.pop("kind"), **s)

    def schedule(self):  # noqa: ANN201
        """Build the temperature schedule.

        Returns
        -------
        Schedule
        """
        s = {k: v for k, v in self.config["schedule"].items() if v is not None}
        return make_schedule(s.pop("kind"), **s)


def validate_config(raw: Mapping) -> Experiment:
    """Validate a parsed config mapping and fill in defaults.

    Parameters
    ----------
    raw : mapping
        The parsed TOML document.

    Returns
    -------
    Experiment

    Raises
    ------
    ConfigError
        On the first problem found (one line naming the key).
    """
    if not isinstance(raw, Mapping):
        raise ConfigError("config: the document must be a TOML table")
    allowed_sections = list(SECTIONS) + list(DYNAMIC)
    _check_keys("config", raw, allowed_sections)
    for sec in REQUIRED_SECTIONS:
        if sec not in raw:
            raise ConfigError(f"[{sec}] section is missing (required)")
    for sec in raw:
        if not isinstance(raw[sec], Mapping):
            raise ConfigError(f"[{sec}] must be a table, got {_typename(raw[sec])}")
    out: dict[str, dict] = {}
    for sec, fields in SECTIONS.items():
        table = raw.get(sec, {})
        _check_keys(sec, table, list(fields))
        norm = {}
        for key, f in fields.items():
            # None only comes from a stored (normalised) config: it means "default"
            if key in table and table[key] is not None:
                norm[key] = _coerce(sec, key, f, table[key])
            elif f.required:
                raise ConfigError(f"[{sec}] {key}: missing (required)")
            else:
                norm[key] = f.default
        out[sec] = norm

    # landscape: name + that factory's settings
    land = dict(raw["landscape"])
    name = land.get("name")
    if not isinstance(name, str):
        raise ConfigError(
            f"[landscape] name: missing or not a string; allowed: {', '.join(LANDSCAPES)}"
        )
    if name not in LANDSCAPES:
        raise ConfigError(
            f"[landscape] name: unknown landscape {name!r}{_suggest(name, list(LANDSCAPES))}; "
            f"allowed: {', '.join(LANDSCAPES)}"
        )
    for key, v in land.items():
        if key == "name":
            continue
        if key == "dim":
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(f"[landscape] dim: must be an integer, got {_typename(v)} {v!r}")
        elif not _is_numeric(v):
            raise ConfigError(
                f"[landscape] {key}: must be a number or an array of numbers, "
                f"got {_typename(v)} {v!r}"
            )
    try:
        built = make_landscape(**land)
    except ValueError as err:
        raise ConfigError(f"[landscape] {err}") from None
    except TypeError as err:  # pragma: no cover - make_landscape checks names first
        raise ConfigError(f"[landscape] {err}") from None
    out["landscape"] = land

    integ = dict(raw["integrator"])
    kind = integ.get("kind")
    if not isinstance(kind, str) or kind not in INTEGRATORS:
        got = f" {kind!r}{_suggest(str(kind), list(INTEGRATORS))}" if kind is not None else ""
        raise ConfigError(
            f"[integrator] kind: must be one of {', '.join(INTEGRATORS)}, got{got or ' nothing'}"
        )
    for key, v in integ.items():
        if key != "kind" and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ConfigError(f"[integrator] {key}: must be a number, got {_typename(v)} {v!r}")
    try:
        make_integrator(**integ)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"[integrator] {err}") from None
    out["integrator"] = integ

    ens = out["ensemble"]
    if out["integrator"]["kind"] == "mala" and any(t <= 0 for t in ens["temperatures"]):
        raise ConfigError("[ensemble] temperatures: must all be > 0 for the mala integrator")
    if ens["replica_exchange"]:
        t = ens["temperatures"]
        if len(t) < 2 or any(b <= a for a, b in zip(t, t[1:], strict=False)) or t[0] <= 0:
            raise ConfigError(
                "[ensemble] temperatures: replica exchange needs >= 2 strictly increasing "
                f"temperatures > 0, got {t!r}"
            )
        if ens["steps"] % ens["swap_every"]:
            raise ConfigError(
                f"[ensemble] steps: must be a multiple of swap_every={ens['swap_every']} with "
                f"replica exchange, got {ens['steps']}"
            )
        if out["output"]["checkpoint_every"] % ens["swap_every"]:
            raise ConfigError(
                "[output] checkpoint_every: must be a multiple of [ensemble] swap_every="
                f"{ens['swap_every']} with replica exchange, "
                f"got {out['output']['checkpoint_every']}"
            )
    if ens["init"] == "point":
        if ens["point"] is None or len(ens["point"]) != built.dim:
            raise ConfigError(
                f"[ensemble] point: init = 'point' needs point = [{built.dim} numbers], "
                f"got {ens['point']!r}"
            )
    elif ens["init"].startswith("minimum:"):
        k = int(ens["init"][8:])
        n_min = 0 if built.minima is None else len(built.minima)
        if k >= n_min:
            raise ConfigError(
                f"[ensemble] init: landscape {name!r} has {n_min} known minima, "
                f"got {ens['init']!r}"
            )
    sched = out["schedule"]
    if sched["kind"] in ("linear", "geometric", "cosine") and sched["final"] is None:
        raise ConfigError(f"[schedule] final: missing (required for kind = {sched['kind']!r})")
    if sched["kind"] == "constant" and sched["final"] is not None:
        raise ConfigError("[schedule] final: not used by kind = 'constant'; remove it")
    if sched["kind"] == "array":
        raise ConfigError("[schedule] kind: 'array' schedules are only available from Python")
    exp = Experiment(out)
    try:
        exp.schedule()
    except ValueError as err:
        raise ConfigError(f"[schedule] {err}") from None
    return exp


def load_config(path: str | Path) -> Experiment:
    """Read and validate a TOML config file.

    Parameters
    ----------
    path : str or Path
        The ``.toml`` file.

    Returns
    -------
    Experiment

    Raises
    ------
    ConfigError
        Unreadable file, TOML syntax error, or invalid content.
    """
    return validate_config(read_toml(path))


def read_toml(path: str | Path) -> dict:
    """Parse a TOML file, with one-line :class:`ConfigError` messages for every failure.

    Parameters
    ----------
    path : str or Path
        The ``.toml`` file.

    Returns
    -------
    dict
        The parsed document (not validated).

    Raises
    ------
    ConfigError
        Missing or unreadable file, or a TOML syntax error.
    """
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{p}: cannot read config ({err})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{p}: TOML syntax error: {err}") from None
