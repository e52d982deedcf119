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

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.validation import suggest
from ..landscapes import LANDSCAPES, Landscape, make_landscape
from ..sampling import INTEGRATORS, make_integrator
from ..schedules import SCHEDULES, make_schedule
from ._base import (
    ConfigError,
    Field,
    at_least,
    check_sections,
    fill_section,
    is_finite_number,
    is_numeric,
    read_toml,
    typename,
)

__all__ = ["ConfigError", "load_config", "validate_config", "Experiment"]


# What the compiled kernels can hold.  Steps are int64 there, and the random
# numbers are keyed by steps below 2**48 (Sampler.run); the seed is a uint64.
MAX_STEPS = 2**48
# Temperatures and dt beyond this overflow float64 on the way (noise amplitudes
# sqrt(2 T dt), times step * dt, Boltzmann weights): refused up front.
MAX_SCALE = 1e30
# Walkers of one run (walkers x temperatures): indices and buffers stay far
# inside int64 and numpy's limits; memory is checked against the machine too.
MAX_WALKERS = 2**31


def _seed(v: int) -> str | None:
    return None if 0 <= v < 2**64 else "must be in [0, 2**64)"


def _int_range(lo: int, hi: int, hi_text: str) -> Callable[[int], str | None]:
    """Range check ``lo <= value < hi``; ``hi_text`` writes the upper end (with its bracket)."""
    close = "" if hi_text.endswith("]") else ")"

    def check(v: int) -> str | None:
        return None if lo <= v < hi else f"must be in [{lo}, {hi_text}{close}"

    return check


def _temps(v: list) -> str | None:
    if not v:
        return "must hold at least one temperature"
    if any(t < 0 for t in v):
        return "must all be >= 0"
    if any(t > MAX_SCALE for t in v):
        return f"must all be <= {MAX_SCALE:g} (larger values overflow float64 in the kernels)"
    if any(0 < t < 1 / MAX_SCALE for t in v):
        return (f"must all be 0 or >= {1 / MAX_SCALE:g} (smaller values overflow float64 in "
                "Boltzmann weights)")
    return None


def _scale_floats(where: str, v: object) -> object:
    """A finite number or (nested) array of them as floats, refused beyond ``MAX_SCALE``.

    Ints are converted to floats: every such setting is a float, and an int
    beyond int64 could not be stored in the output file.
    """
    if isinstance(v, list):
        return [_scale_floats(where, x) for x in v]
    if abs(v) > MAX_SCALE:  # type: ignore[arg-type]
        raise ConfigError(f"{where}: must be <= {MAX_SCALE:g} in magnitude (larger values "
                          f"overflow float64 in the kernels), got {v!r}")
    return float(v)  # type: ignore[arg-type]


_INIT_MINIMUM = re.compile(r"minimum:[0-9]{1,9}")


def _init(v: str) -> str | None:
    if v in ("uniform", "point") or _INIT_MINIMUM.fullmatch(v):
        return None
    return "must be 'uniform', 'point' or 'minimum:<k>' (k a non-negative integer)"


SECTIONS: dict[str, dict[str, Field]] = {
    "experiment": {
        "name": Field("str", required=True),
        "seed": Field("int", required=True, check=_seed),
        "description": Field("str", default=""),
    },
    "ensemble": {
        "walkers": Field("int", required=True,
                         check=_int_range(1, MAX_WALKERS + 1, "2**31]")),
        "temperatures": Field("float_list", required=True, check=_temps),
        "steps": Field("int", required=True, check=_int_range(1, MAX_STEPS, "2**48")),
        "init": Field("str", default="uniform", check=_init),
        "point": Field("float_list", default=None),
        "replica_exchange": Field("bool", default=False),
        "swap_every": Field("int", default=10, check=_int_range(1, MAX_STEPS, "2**48")),
    },
    "schedule": {
        "kind": Field("str", default="constant", choices=tuple(SCHEDULES)),
        "final": Field("float", default=None, check=at_least(0)),
    },
    "output": {
        "record_every": Field("int", default=100, check=_int_range(0, MAX_STEPS, "2**48")),
        "checkpoint_every": Field("int", default=5000, check=_int_range(1, 2**63, "2**63")),
        "compression": Field("str", default="none", choices=("none", "gzip", "lzf")),
    },
}
# sections whose keys depend on a "name"/"kind" key
DYNAMIC = {"landscape": "name", "integrator": "kind"}
REQUIRED_SECTIONS = ("experiment", "landscape", "integrator", "ensemble")


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
    check_sections(raw, list(SECTIONS) + list(DYNAMIC), REQUIRED_SECTIONS)
    out: dict[str, dict] = {}
    for sec, fields in SECTIONS.items():
        # None only comes from a stored (normalised) config: it means "default"
        out[sec] = fill_section(sec, raw.get(sec, {}), fields)

    land, built = landscape_section(raw["landscape"])
    out["landscape"] = land
    name = land["name"]
    out["integrator"] = integrator_section(raw["integrator"], INTEGRATORS, make_integrator)

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
        _scale_floats("[ensemble] point", ens["point"])
        _check_start_energy(built, ens["point"])
    elif ens["init"].startswith("minimum:"):
        k = int(ens["init"][8:])
        n_min = 0 if built.minima is None else len(built.minima)
        if k >= n_min:
            raise ConfigError(
                f"[ensemble] init: landscape {name!r} has {n_min} known minima, "
                f"got {ens['init']!r}"
            )
    for key, v in out["integrator"].items():
        if key == "kind":
            continue
        if abs(v) > MAX_SCALE or (key == "mass" and v < 1 / MAX_SCALE):
            raise ConfigError(f"[integrator] {key}: must be in [{1 / MAX_SCALE:g}, "
                              f"{MAX_SCALE:g}] (other values overflow float64 in the "
                              f"kernels), got {v!r}" if key == "mass" else
                              f"[integrator] {key}: must be <= {MAX_SCALE:g} in magnitude "
                              f"(larger values overflow float64 in the kernels), got {v!r}")
    _check_memory(out, built.dim)
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


def _check_start_energy(landscape: Landscape, point: list) -> None:
    """Refuse a starting point where the energy or its gradient is not a finite float64."""
    import numpy as np

    with np.errstate(all="ignore"):
        e, g = landscape.energy_and_gradient(np.asarray(point, dtype=np.float64)[None])
    if not (np.all(np.isfinite(e)) and np.all(np.isfinite(g))):
        raise ConfigError(f"[ensemble] point: the energy of landscape {landscape.name!r} or its "
                          f"gradient is not finite there (float64 overflow), got {point!r}")


def run_bytes(config: Mapping, dim: int) -> int:
    """Bytes of the arrays a run of ``config`` allocates (state, scratch, frame buffers).

    Parameters
    ----------
    config : mapping
        A normalised config (``[ensemble]`` and ``[output]`` filled in).
    dim : int
        Dimension of the landscape.

    Returns
    -------
    int
        An estimate: eight state arrays of ``walkers x dim`` float64 values plus
        the frame buffer of one checkpoint interval (frames of ``walkers x
        (dim + 1)`` float64 values).
    """
    ens, outp = config["ensemble"], config["output"]
    m = ens["walkers"] * len(ens["temperatures"])
    rec = outp["record_every"]
    frames = min(outp["checkpoint_every"], ens["steps"]) // rec + 2 if rec else 0
    return 8 * m * (8 * (dim + 1) + frames * (dim + 1))


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def _check_memory(config: Mapping, dim: int) -> None:
    """Refuse a run whose arrays cannot fit in this machine's memory (one line)."""
    need, have = run_bytes(config, dim), _memory_bytes()
    if have is not None and need > have:
        gib = 2**30
        raise ConfigError(
            f"[ensemble] walkers: {config['ensemble']['walkers']} walkers x "
            f"{len(config['ensemble']['temperatures'])} temperatures need about "
            f"{need / gib:.3g} GiB, more than this machine's {have / gib:.3g} GiB of memory; "
            "reduce walkers, raise [output] record_every or lower checkpoint_every")


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


def landscape_section(table: Mapping) -> tuple[dict, Landscape]:
    """``[landscape]``: a built-in landscape's name and its own numeric settings.

    Shared by the config kinds that sample a landscape (run, arrhenius).

    Parameters
    ----------
    table : mapping
        The section as given.

    Returns
    -------
    settings : dict
        The section (a copy).
    landscape : Landscape
        The landscape it builds.

    Raises
    ------
    ConfigError
        Unknown name (with a "did you mean" hint), non-numeric setting, or a
        setting the landscape refuses.
    """
    land = dict(table)
    name = land.get("name")
    if not isinstance(name, str):
        raise ConfigError(
            f"[landscape] name: missing or not a string; allowed: {', '.join(LANDSCAPES)}"
        )
    if name not in LANDSCAPES:
        raise ConfigError(
            f"[landscape] name: unknown landscape {name!r}{suggest(name, LANDSCAPES)}; "
            f"allowed: {', '.join(LANDSCAPES)}"
        )
    for key, v in land.items():
        if key == "name":
            continue
        if key == "dim":
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(f"[landscape] dim: must be an integer, got {typename(v)} {v!r}")
        elif not is_numeric(v):
            raise ConfigError(
                f"[landscape] {key}: must be a number or an array of numbers, "
                f"got {typename(v)} {v!r}"
            )
        else:
            land[key] = _scale_floats(f"[landscape] {key}", v)
    try:
        built = make_landscape(**land)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"[landscape] {err}") from None
    return land, built


def integrator_section(table: Mapping, kinds: Sequence[str], factory: Callable,
                       purpose: str = "") -> dict:
    """``[integrator]``: a ``kind`` among ``kinds`` and numeric settings ``factory`` accepts.

    Parameters
    ----------
    table : mapping
        The section as given.
    kinds : sequence of str
        Allowed kinds.
    factory : callable
        ``factory(kind, **settings)`` builds the integrator (it checks the settings).
    purpose : str
        Words after the allowed kinds in the message (e.g. ``" for first-passage runs"``).

    Returns
    -------
    dict
        The section (a copy).

    Raises
    ------
    ConfigError
        Unknown kind (with a "did you mean" hint), non-numeric or refused setting.
    """
    integ = dict(table)
    kind = integ.get("kind")
    if not isinstance(kind, str) or kind not in kinds:
        got = f" {kind!r}{suggest(kind, kinds)}" if kind is not None else " nothing"
        raise ConfigError(f"[integrator] kind: must be one of {', '.join(kinds)}{purpose}, "
                          f"got{got}")
    for key, v in integ.items():
        if key == "kind":
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"[integrator] {key}: must be a number, got {typename(v)} {v!r}")
        if not is_finite_number(v):
            raise ConfigError(f"[integrator] {key}: must be a finite number, got {v!r}")
        integ[key] = float(v)  # every setting is a float (an int beyond int64 cannot be stored)
    try:
        factory(kind, **{k: v for k, v in integ.items() if k != "kind"})
    except (ValueError, TypeError) as err:
        raise ConfigError(f"[integrator] {err}") from None
    return integ
