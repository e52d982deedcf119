"""Config of the SGLD temperature-ladder flatness experiment (:mod:`langevin_opt.nn.experiment`).

A nested dict or TOML file (``experiments/flatness.toml``)::

    [experiment]  name, seed, description
    [data]        kind, n_train, n_test, teacher_sizes, noise, label_noise, seed
    [network]     hidden, activation, prior_sigma, init_gain
    [sgld]        temperatures, chains_per_temperature, steps, step_size, batch_size
    [quench]      steps, step_size, polish, gtol, maxiter
    [flatness]    hutchinson_samples, lanczos_iter, eps, basin_width, basin_threshold,
                  basin_directions, local_entropy, local_entropy_gamma,
                  local_entropy_temperature, local_entropy_step_size, local_entropy_steps
    [analysis]    alpha

Sections, unknown keys, required keys and defaults are handled as for every
config kind (:mod:`langevin_opt.schema._base`); the values have this kind's own
checkers, whose messages say type and range at once ("must be an integer >= 2").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..core.validation import suggest
from ..nn.mlp import ACTIVATIONS
from ._base import ConfigError, Field, check_sections, fill_section, read_toml

__all__ = ["DATA_KINDS", "SECTIONS", "data_section", "data_shape", "load_flatness_config",
           "training_size", "validate_flatness_config"]

#: Data sets the experiment can build (``[data] kind``).
DATA_KINDS = ("teacher_student_classification", "teacher_student_regression", "two_moons",
              "iris")

_REQ = object()  # marker: required key


def _f(default: object, kind: str, extra: object) -> Field:
    return Field(kind, required=default is _REQ, default=None if default is _REQ else default,
                 extra=extra)


# section -> key -> _f(default or _REQ, checker name, extra)
SECTIONS: dict[str, dict[str, Field]] = {
    "experiment": {"name": _f("flatness", "str", None), "seed": _f(_REQ, "seed", None),
                   "description": _f("", "str", None)},
    "data": {"kind": _f(_REQ, "choice", DATA_KINDS), "n_train": _f(256, "int", 2),
             "n_test": _f(2000, "int", 1), "teacher_sizes": _f([8, 16, 3], "sizes", None),
             "noise": _f(0.1, "nonneg", None), "label_noise": _f(0.0, "fraction", None),
             "test_fraction": _f(0.3, "open_fraction", None), "seed": _f(None, "seed_opt", None)},
    "network": {"hidden": _f([32], "hidden", None),
                "activation": _f("tanh", "choice", tuple(ACTIVATIONS)),
                "prior_sigma": _f(1.0, "positive", None), "init_gain": _f(1.0, "positive", None)},
    "sgld": {"temperatures": _f(_REQ, "temps", None),
             "chains_per_temperature": _f(_REQ, "int", 2), "steps": _f(_REQ, "int", 1),
             "step_size": _f(_REQ, "positive", None), "batch_size": _f(32, "int", 1)},
    "quench": {"steps": _f(2000, "int", 0), "step_size": _f(_REQ, "positive", None),
               "polish": _f("lbfgs", "choice", ("lbfgs", "none")),
               "gtol": _f(1e-5, "positive", None),
               "maxiter": _f(5000, "int", 1)},
    "flatness": {"hutchinson_samples": _f(100, "int", 2), "lanczos_iter": _f(40, "int", 2),
                 "eps": _f(1e-5, "positive", None), "basin_width": _f(False, "bool", None),
                 "basin_threshold": _f(1.0, "positive", None),
                 "basin_directions": _f(20, "int", 1), "local_entropy": _f(False, "bool", None),
                 "local_entropy_gamma": _f(1.0, "positive", None),
                 "local_entropy_temperature": _f(1.0, "positive", None),
                 "local_entropy_step_size": _f(1e-4, "positive", None),
                 "local_entropy_steps": _f(2000, "int", 2)},
    "analysis": {"alpha": _f(0.05, "open_fraction", None)},
}
_REQUIRED_SECTIONS = ("experiment", "data", "sgld", "quench")


def _fail(section: str, key: str, what: str, v: object, hint: str = "") -> None:
    raise ConfigError(f"[{section}] {key}: must be {what}, got {v!r}{hint}")


def _is_int(v: object) -> bool:
    return not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, np.integer))


def _is_real(v: object) -> bool:
    return (not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, float, np.integer,
                                                                    np.floating))
            and math.isfinite(float(v)))


def _check(section: str, key: str, kind: str, extra: object, v: object) -> object:
    if kind == "str":
        if not isinstance(v, str):
            _fail(section, key, "a string", v)
        return v
    if kind in ("seed", "seed_opt"):
        if kind == "seed_opt" and v is None:
            return None
        if not _is_int(v) or not 0 <= int(v) < 2**63:  # type: ignore[arg-type]
            _fail(section, key, "an integer in [0, 2**63)", v)
        return int(v)  # type: ignore[arg-type]
    if kind == "choice":
        if not isinstance(v, str) or v not in extra:  # type: ignore[operator]
            _fail(section, key, "one of " + ", ".join(map(repr, extra)), v,  # type: ignore[arg-type]
                  suggest(v, extra))  # type: ignore[arg-type]
        return v
    if kind == "int":
        if not _is_int(v) or int(v) < extra:  # type: ignore[arg-type, operator]
            _fail(section, key, f"an integer >= {extra}", v)
        return int(v)  # type: ignore[arg-type]
    if kind == "bool":
        if not isinstance(v, bool):
            _fail(section, key, "true or false", v)
        return v
    if kind == "positive":
        if not _is_real(v) or not float(v) > 0:  # type: ignore[arg-type]
            _fail(section, key, "a finite number > 0", v)
        return float(v)  # type: ignore[arg-type]
    if kind == "nonneg":
        if not _is_real(v) or not float(v) >= 0:  # type: ignore[arg-type]
            _fail(section, key, "a finite number >= 0", v)
        return float(v)  # type: ignore[arg-type]
    if kind == "fraction":
        if not _is_real(v) or not 0 <= float(v) < 1:  # type: ignore[arg-type]
            _fail(section, key, "a number in [0, 1)", v)
        return float(v)  # type: ignore[arg-type]
    if kind == "open_fraction":
        if not _is_real(v) or not 0 < float(v) < 1:  # type: ignore[arg-type]
            _fail(section, key, "a number in (0, 1)", v)
        return float(v)  # type: ignore[arg-type]
    if kind in ("sizes", "hidden"):
        lo = 2 if kind == "sizes" else 0
        if not isinstance(v, (list, tuple)) or len(v) < lo or \
                not all(_is_int(s) and int(s) >= 1 for s in v):
            what = ("a list of >= 2 integers >= 1 (inputs, ..., classes)" if kind == "sizes"
                    else "a list of integers >= 1 (hidden-layer widths)")
            _fail(section, key, what, v)
        return [int(s) for s in v]  # type: ignore[union-attr]
    if kind == "temps":
        if not isinstance(v, (list, tuple)) or len(v) < 2 or not all(
                _is_real(t) and float(t) >= 0 for t in v) or len(set(map(float, v))) != len(v):
            _fail(section, key, "a list of >= 2 distinct finite numbers >= 0", v)
        return sorted(float(t) for t in v)  # type: ignore[union-attr]
    raise AssertionError(kind)  # pragma: no cover


def _convert(section: str, key: str, f: Field, v: object) -> object:
    return _check(section, key, f.kind, f.extra, v)


def validate_flatness_config(config: Mapping) -> dict:
    """Check an experiment config and fill in defaults.

    Parameters
    ----------
    config : mapping
        Sections ``experiment``, ``data``, ``sgld``, ``quench`` (required) and
        ``network``, ``flatness``, ``analysis`` (optional), each a mapping of
        keys (module docstring; defaults in ``SECTIONS``).  Required keys:
        ``experiment.seed``, ``data.kind``, ``sgld.temperatures``,
        ``sgld.chains_per_temperature``, ``sgld.steps``, ``sgld.step_size``,
        ``quench.step_size``.

    Returns
    -------
    dict
        A new nested dict with every key present; ``sgld.temperatures`` sorted
        ascending, ``data.seed`` defaulting to ``experiment.seed``.

    Raises
    ------
    ConfigError
        A :class:`ValueError`; one line naming the section and key and what is allowed, e.g.
        ``[sgld] unknown key 'temps' (did you mean 'steps'?); allowed: ...`` or
        ``[data] kind: must be one of 'teacher_student_classification', ..., got 'mnist'``.
    """
    check_sections(config, list(SECTIONS), _REQUIRED_SECTIONS)
    out = {sec: fill_section(sec, config.get(sec, {}), keys, _convert)
           for sec, keys in SECTIONS.items()}
    out["data"] = d = data_section(config["data"], out["experiment"]["seed"])
    s = out["sgld"]
    n_train = training_size(d)
    if s["batch_size"] > n_train:
        _fail("sgld", "batch_size", f"an integer in [1, n_train={n_train}]", s["batch_size"])
    return out


def data_section(table: Mapping, seed: int, fields: Mapping[str, Field] | None = None) -> dict:
    """Validate a ``[data]`` section (shared by every config that builds a data set).

    Parameters
    ----------
    table : mapping
        The section as given (keys of ``SECTIONS["data"]``).
    seed : int
        ``[experiment] seed``: the default of ``[data] seed``.
    fields : mapping of str to Field, optional
        The section's fields (default ``SECTIONS["data"]``; a config kind may change a
        default or a bound, with this module's checkers).

    Returns
    -------
    dict
        Every key, given or defaulted; ``seed`` filled in.

    Raises
    ------
    ConfigError
        One line naming ``[data] key``.
    """
    d = fill_section("data", table, SECTIONS["data"] if fields is None else fields, _convert)
    if d["seed"] is None:
        d["seed"] = seed
    if d["kind"] == "teacher_student_classification" and d["teacher_sizes"][-1] < 2:
        _fail("data", "teacher_sizes", "a list ending with >= 2 classes", d["teacher_sizes"])
    if d["kind"] == "teacher_student_regression" and d["label_noise"] > 0:
        _fail("data", "label_noise", "0 for a regression data set", d["label_noise"])
    return d


def training_size(data: Mapping) -> int:
    """Number of training points of a validated ``[data]`` section.

    Parameters
    ----------
    data : mapping
        From :func:`data_section`.

    Returns
    -------
    int
        ``n_train``, or for ``iris`` the 150 points less the test fraction.
    """
    if data["kind"] == "iris":
        return 150 - int(round(150 * data["test_fraction"]))
    return int(data["n_train"])


def data_shape(data: Mapping) -> tuple[int, int, bool]:
    """Inputs, outputs and task of the data set of a validated ``[data]`` section.

    Parameters
    ----------
    data : mapping
        From :func:`data_section`.

    Returns
    -------
    (int, int, bool)
        Input features, network outputs (classes or regression targets), and
        whether it is a classification task.
    """
    kind = data["kind"]
    if kind == "two_moons":
        return 2, 2, True
    if kind == "iris":
        return 4, 3, True
    sizes = data["teacher_sizes"]
    return int(sizes[0]), int(sizes[-1]), kind == "teacher_student_classification"


def load_flatness_config(path: str | Path) -> dict:
    """Read and validate a TOML experiment config.

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML file (e.g. ``experiments/flatness.toml``).

    Returns
    -------
    dict
        :func:`validate_flatness_config` of its contents.
    """
    return validate_flatness_config(read_toml(path))
