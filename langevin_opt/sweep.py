"""Parameter sweeps and sharded walker ensembles on Dask (``langevin-opt sweep``).

A ``[sweep]`` section added to a config of any kind (``run``, ``arrhenius`` with a
``[landscape]``, ``[cluster]`` or ``[network]`` system, ``fit-potential``,
``active-learn`` or the SGLD ``flatness`` experiment) names the keys to vary::

    [sweep]
    mode = "product"                  # product (Cartesian, first key outermost) | zip
    shards = 1                        # run configs: split each point's walkers into
                                      # this many tasks, merged bit-identically
    [sweep.parameters]                # dotted keys of the config -> their values
    "ensemble.temperatures" = [[0.2], [0.5]]
    "experiment.seed" = {start = 1, stop = 4}            # range: 1, 2, 3 (step = 1)
    "landscape.depth_wide" = {start = 2.0, stop = 3.0, num = 3}   # 2.0, 2.5, 3.0

Each point is the base config with those keys replaced, validated by its kind's own
validator before anything starts (a bad point is one :class:`SweepError` line), and
runs as one Dask task through the same code as the command of its kind, in its own
directory ``OUT/points/<id>/`` named by its parameters.  The sweep writes, after
every finished point and atomically, ``OUT/manifest.json`` (point id, parameters,
status, attempts, timings, error message) and ``OUT/table.csv`` (the point's
parameters and the numeric fields of its ``summary.json``, flattened to dotted
columns, timings left out; also ``table.parquet`` when pandas and pyarrow are
installed).

Faults and resume: a task that raises is retried ``retries`` times, then recorded as
failed while the others go on.  A point's output holds a completion marker
(``.sweep_done.json``, written atomically last): a point that has one is never run
again, and a point without one continues from its checkpoint (``run`` configs; the
other kinds start the point again).  This covers a worker killed mid-task (Dask runs
the task again) and a whole sweep resumed after its client was killed
(``resume=True``).

Sharding: with ``shards = S`` each point of a ``run`` config runs as ``S`` tasks on
contiguous blocks of walkers (:func:`langevin_opt.runner.run_experiment` with
``shard``); walker ``i`` keeps its random stream ``(seed, i, step)``, so the merged
``trajectory.h5`` (one H5MD file, read as one run by every reader) is bit-identical
to the single-process run.

``dask.distributed`` is imported only when a sweep runs.
"""

from __future__ import annotations

import copy
import csv
import io
import itertools
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .schema._base import ConfigError, read_toml, typename

__all__ = ["KINDS", "SweepError", "SweepPlan", "SweepPoint", "SweepResult",
           "check_sweep_output", "config_kind",
           "flatten_numeric", "merge_shards", "plan_sweep", "run_point", "start_client",
           "sweep"]

#: Config kinds a sweep runs, by the command that runs them.
KINDS = ("run", "arrhenius", "fit-potential", "active-learn", "flatness")
POINTS = "points"
MANIFEST = "manifest.json"
TABLE = "table.csv"
PARQUET = "table.parquet"
PLAN = "sweep.json"
DONE = ".sweep_done.json"
ATTEMPTS = ".sweep_attempts"
SUMMARY = "summary.json"
_SWEEP_KEYS = ("kind", "mode", "shards", "parameters")
_RANGE_KEYS = ("start", "stop", "step", "num")
_MAX_POINTS = 100_000


class SweepError(ConfigError):
    """A bad sweep spec, output folder or scheduler: one line naming the key."""


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep.

    Attributes
    ----------
    index : int
        Position in the sweep (0-based).
    id : str
        Directory name under ``OUT/points/``: the index and the parameters, sanitised.
    values : dict
        Dotted config key -> the value of this point.
    config : dict
        The whole config of this point (the base with ``values`` put in, no ``[sweep]``).
    """

    index: int
    id: str
    values: dict
    config: dict


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep: its kind and every point.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    mode : str
        ``"product"`` or ``"zip"``.
    shards : int
        Tasks per point (``run`` configs; 1 otherwise).
    keys : tuple of str
        The dotted keys varied.
    points : tuple of SweepPoint
        Every point, in order.
    base_dir : str or None
        Folder against which relative paths of the config are resolved.
    spec : dict
        The config as given (with its ``[sweep]`` section), stored in ``OUT/sweep.json``.
    """

    kind: str
    mode: str
    shards: int
    keys: tuple[str, ...]
    points: tuple[SweepPoint, ...]
    base_dir: str | None
    spec: dict


@dataclass(frozen=True)
class SweepResult:
    """What :func:`sweep` returns.

    Attributes
    ----------
    table : list of dict
        One row per finished point, in point order (the rows of ``table.csv``).
    statuses : dict
        Point id -> ``"done"``, ``"skipped"`` (finished before a resume) or ``"failed"``.
    futures : dict
        Point id -> the Dask future of its (last) task, for points run by this call.
    out : str
        The sweep's output folder.
    errors : dict
        Point id -> error message, for failed points.
    """

    table: list
    statuses: dict
    futures: dict = field(default_factory=dict)
    out: str = ""
    errors: dict = field(default_factory=dict)


# --------------------------------------------------------------------------
# kinds
# --------------------------------------------------------------------------


def config_kind(raw: Mapping) -> str:
    """The kind of a parsed config, from ``[sweep] kind`` or its sections.

    Parameters
    ----------
    raw : mapping
        The parsed TOML document.

    Returns
    -------
    str
        One of :data:`KINDS`.

    Raises
    ------
    SweepError
        No kind can be told from the sections.
    """
    sw = raw.get("sweep")
    if isinstance(sw, Mapping) and "kind" in sw:
        kind = sw["kind"]
        if kind not in KINDS:
            raise SweepError(f"[sweep] kind: must be one of {', '.join(KINDS)}, got {kind!r}")
        return kind
    if "rates" in raw:
        return "arrhenius"
    if "ensemble" in raw:
        return "run"
    if "sgld" in raw:
        return "flatness"
    if any(s in raw for s in ("active", "explore", "reference")):
        return "active-learn"
    data = raw.get("data")
    if isinstance(data, Mapping) and "initial" in data:
        return "active-learn"
    if isinstance(data, Mapping) and "train" in data:
        return "fit-potential"
    raise SweepError("[sweep] kind: cannot tell the config kind from its sections; set "
                     f"kind = one of {', '.join(KINDS)}")


def _validate(kind: str, cfg: Mapping, base_dir: str | None) -> Any:
    """Validate one point's config with its kind's validator."""
    if kind == "run":
        from .schema import validate_config

        return validate_config(cfg)
    if kind == "arrhenius":
        from .schema.arrhenius import validate_rates_config

        return validate_rates_config(cfg, base_dir=base_dir)
    if kind == "fit-potential":
        from .schema.fit_potential import validate_fit_config

        return validate_fit_config(cfg, base_dir)
    if kind == "active-learn":
        from .schema.active_learn import validate_active_config

        return validate_active_config(cfg, base_dir)
    from .schema.flatness import validate_flatness_config

    return validate_flatness_config(cfg)


# --------------------------------------------------------------------------
# the spec
# --------------------------------------------------------------------------


def _is_range(v: object) -> bool:
    return (isinstance(v, Mapping) and "start" in v and "stop" in v
            and set(v) <= set(_RANGE_KEYS) and not isinstance(v["start"], (list, Mapping)))


def _expand(key: str, v: object) -> list:
    """The values of one key: an array, or a range table ``{start, stop, step | num}``."""
    where = f"[sweep] parameters: {key!r}"
    if isinstance(v, list):
        if not v:
            raise SweepError(f"{where}: empty array of values (give at least one)")
        return list(v)
    if not _is_range(v):
        raise SweepError(f"{where}: must be an array of values or a range table "
                         f"{{start, stop, step}} or {{start, stop, num}}, got {typename(v)} "
                         f"{v!r}")
    nums = {k: v[k] for k in v}
    for k, x in nums.items():
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise SweepError(f"{where}: range {k} must be a finite number, got {x!r}")
    if "num" in nums:
        if "step" in nums:
            raise SweepError(f"{where}: a range takes step or num, not both")
        num = nums["num"]
        if not isinstance(num, int) or not 1 <= num <= _MAX_POINTS:
            raise SweepError(f"{where}: range num must be an integer in [1, {_MAX_POINTS}], "
                             f"got {num!r}")
        return [float(x) for x in np.linspace(nums["start"], nums["stop"], num)]
    start, stop, step = nums["start"], nums["stop"], nums.get("step", 1)
    if step == 0:
        raise SweepError(f"{where}: range step must not be 0")
    if all(isinstance(x, int) for x in (start, stop, step)):
        out: list = list(range(start, stop, step))[:_MAX_POINTS + 1]
    else:
        n = max(0, math.ceil((stop - start) / step - 1e-9))
        out = [float(start + k * step) for k in range(min(n, _MAX_POINTS + 1))]
    if not out:
        raise SweepError(f"{where}: empty range {dict(v)!r} (stop is excluded)")
    return out


def _flat_parameters(table: Mapping, prefix: str = "") -> dict[str, object]:
    """``{"a": {"b": [..]}}`` and ``{"a.b": [..]}`` both give ``{"a.b": [..]}``."""
    out: dict[str, object] = {}
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and not _is_range(v):
            if not v:
                raise SweepError(f"[sweep] parameters: {key!r}: empty table")
            out.update(_flat_parameters(v, key + "."))
        else:
            out[key] = v
    return out


def _put(cfg: dict, key: str, value: object) -> None:
    parts = key.split(".")
    if any(not p for p in parts) or len(parts) < 2:
        raise SweepError(f"[sweep] parameters: {key!r}: must be a dotted key "
                         "'section.key' of the config")
    node = cfg
    for i, p in enumerate(parts[:-1]):
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise SweepError(f"[sweep] parameters: {key!r}: {'.'.join(parts[:i + 1])} is a "
                             f"{typename(nxt)} in the config, not a table")
        node = nxt
    node[parts[-1]] = copy.deepcopy(value)


def _label(v: object) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list):
        return ",".join(_label(x) for x in v)
    if isinstance(v, Mapping):
        return ",".join(f"{k}{_label(x)}" for k, x in v.items())
    return str(v)


def _point_id(index: int, n: int, values: Mapping[str, object]) -> str:
    lasts = [k.rsplit(".", 1)[-1] for k in values]
    names = [last if lasts.count(last) == 1 else key for key, last in zip(values, lasts,
                                                                          strict=True)]
    text = "_".join(f"{name}={_label(v)}" for name, v in zip(names, values.values(),
                                                            strict=True))
    text = re.sub(r"[^A-Za-z0-9.=+,-]+", "_", text).replace(",", "-").strip("_.")[:80]
    width = max(3, len(str(n - 1)))
    return f"{index:0{width}d}" + (f"_{text}" if text else "")


def _check_int(sw: Mapping, key: str, default: int, lo: int) -> int:
    v = sw.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise SweepError(f"[sweep] {key}: must be an integer >= {lo}, got {typename(v)} {v!r}")
    return v


def plan_sweep(config: Mapping | str | Path, *, base_dir: str | Path | None = None
               ) -> SweepPlan:
    """Read a sweep spec and validate every point with its kind's validator.

    Parameters
    ----------
    config : mapping or str or Path
        The parsed config with a ``[sweep]`` section (module docstring), or its TOML file.
    base_dir : str or Path, optional
        Folder for relative paths of the config (default: the file's folder, else the
        working directory).

    Returns
    -------
    SweepPlan

    Raises
    ------
    SweepError
        One line: the ``[sweep]`` key at fault, or ``point <i> (<values>): <the kind's
        message>`` for the first point its validator refuses.
    """
    if isinstance(config, (str, Path)):
        path = Path(config)
        try:
            raw = read_toml(path)
        except ConfigError as err:
            raise SweepError(str(err)) from None
        base_dir = path.resolve().parent if base_dir is None else base_dir
    else:
        raw = copy.deepcopy(dict(config))
    base_dir = str(Path(base_dir if base_dir is not None else Path.cwd()).resolve())
    sw = raw.get("sweep")
    if not isinstance(sw, Mapping):
        raise SweepError("[sweep] section is missing (required by langevin-opt sweep)")
    for k in sw:
        if k not in _SWEEP_KEYS:
            from .core.validation import suggest

            raise SweepError(f"[sweep] unknown key {k!r}{suggest(k, _SWEEP_KEYS)}; allowed: "
                             f"{', '.join(_SWEEP_KEYS)}")
    kind = config_kind(raw)
    mode = sw.get("mode", "product")
    if mode not in ("product", "zip"):
        raise SweepError(f"[sweep] mode: must be one of product, zip, got {mode!r}")
    shards = _check_int(sw, "shards", 1, 1)
    if shards > 1 and kind != "run":
        raise SweepError(f"[sweep] shards: only run configs can be sharded, got a {kind} "
                         "config")
    params = sw.get("parameters", {})
    if not isinstance(params, Mapping):
        raise SweepError(f"[sweep] parameters: must be a table of dotted keys, got "
                         f"{typename(params)}")
    flat = _flat_parameters(params)
    if not flat and shards == 1:
        raise SweepError("[sweep] parameters: give at least one key to vary (or shards > 1)")
    values = {k: _expand(k, v) for k, v in flat.items()}
    keys = tuple(values)
    if mode == "zip":
        lengths = {k: len(v) for k, v in values.items()}
        if len(set(lengths.values())) > 1:
            raise SweepError(f"[sweep] mode: zip needs value lists of one length, got "
                             f"{', '.join(f'{k}: {n}' for k, n in lengths.items())}")
        combos = list(zip(*values.values(), strict=True)) if keys else [()]
    else:
        n = math.prod(len(v) for v in values.values())
        if n > _MAX_POINTS:
            raise SweepError(f"[sweep] parameters: {n} points, more than {_MAX_POINTS}")
        combos = list(itertools.product(*values.values()))
    base = {k: v for k, v in raw.items() if k != "sweep"}
    points = []
    for i, combo in enumerate(combos):
        vals = dict(zip(keys, combo, strict=True))
        cfg = copy.deepcopy(base)
        for k, v in vals.items():
            _put(cfg, k, v)
        pid = _point_id(i, len(combos), vals)
        where = ", ".join(f"{k}={json.dumps(v)}" for k, v in vals.items())
        try:
            import warnings

            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                exp = _validate(kind, cfg, base_dir)
        except ConfigError as err:
            msg = " ".join(str(err).split())
            raise SweepError(f"[sweep] point {i} of {len(combos)} ({where}): {msg}") from None
        if shards > 1:
            from .runner import check_shard, walker_layout

            temps, rex = walker_layout(exp)
            try:
                if shards > temps.size:
                    raise ValueError(f"more shards than the {temps.size} walkers")
                check_shard((0, temps.size), temps.size, rex is not None)
            except ValueError as err:
                raise SweepError(f"[sweep] shards: {err} (point {i}: {where})") from None
        points.append(SweepPoint(i, pid, vals, cfg))
    return SweepPlan(kind, mode, shards, keys, tuple(points), base_dir, raw)


# --------------------------------------------------------------------------
# one point (runs on a worker)
# --------------------------------------------------------------------------


def _jsonable(obj: object) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _write_json(path: Path, data: object) -> None:
    from .storage._safe import write_atomic

    text = json.dumps(_jsonable(data), indent=2, allow_nan=True) + "\n"
    write_atomic(str(path), text.encode())


def _read_done(out: Path) -> dict | None:
    try:
        return json.loads((out / DONE).read_text())
    except (OSError, ValueError):
        return None


def _count_attempt(out: Path) -> int:
    from .storage._safe import write_atomic

    try:
        n = int((out / ATTEMPTS).read_text().strip() or 0)
    except (OSError, ValueError):
        n = 0
    write_atomic(str(out / ATTEMPTS), f"{n + 1}\n".encode(), fsync=False)
    return n + 1


def _attempts(out: Path) -> int:
    try:
        return int((out / ATTEMPTS).read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def _run_kind(kind: str, exp: Any, out: Path, threads: int | None,
              shard: tuple[int, int] | None) -> dict:
    """Run one validated config through the code of its command; its summary."""
    if kind == "run":
        from .core.errors import OutputError
        from .runner import TRAJECTORY, RunDiverged, run_experiment
        from .storage import CorruptionError, DamagedFileError

        kw = {"threads": threads, "make_figures": shard is None, "shard": shard}
        try:
            if (out / TRAJECTORY).is_file():  # a killed attempt: continue from its checkpoint
                try:
                    return run_experiment(exp, out, resume=True, **kw).summary
                except (OutputError, DamagedFileError, CorruptionError):
                    pass  # nothing usable to resume: start the point again
            return run_experiment(exp, out, overwrite=True, **kw).summary
        except RunDiverged as err:
            raise RuntimeError(f"run diverged at step {err.step} (walker {err.walker}): "
                               f"{' '.join(str(err).split())}") from None
    if kind == "arrhenius":
        from .rates.cli import run_arrhenius

        return run_arrhenius(exp, out, overwrite=True, threads=threads).summary
    if kind == "fit-potential":
        from .mlip.cli import run_fit_potential

        return run_fit_potential(exp, out, overwrite=True)
    if kind == "active-learn":
        from .mlip.active_cli import run_active_learn

        return run_active_learn(exp, out, overwrite=True)
    from .nn.experiment import temperature_ladder_experiment

    res = temperature_ladder_experiment(exp, threads=threads)
    arrays = {k: v for k, v in res.items() if isinstance(v, np.ndarray)}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    from .storage._safe import write_atomic

    write_atomic(str(out / "results.npz"), buf.getvalue())
    summary = {"experiment": exp["experiment"]["name"], "stats": res["stats"],
               "verdict": res["verdict"],
               **{k: v for k, v in res.items() if not isinstance(v, (np.ndarray, dict, str))}}
    _write_json(out / SUMMARY, summary)
    return summary


def run_point(kind: str, config: Mapping, out_dir: str | Path, *,
              base_dir: str | None = None, threads: int | None = 1,
              shard: tuple[int, int] | None = None, meta: Mapping | None = None) -> dict:
    """Run one sweep point (or shard) in ``out_dir``, unless it has finished already.

    The Dask task of a point.  A point whose completion marker exists returns the
    summary stored there without running anything; otherwise a ``run`` point
    continues from the checkpoint a killed attempt left, other kinds start again.
    The marker is written atomically after every output.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    config : mapping
        The point's whole config (no ``[sweep]``).
    out_dir : str or Path
        The point's output folder.
    base_dir : str, optional
        Folder for relative paths of the config.
    threads : int, optional
        Numba threads of the point (``None``: all).
    shard : (int, int), optional
        ``run`` configs: only these walkers (see :func:`langevin_opt.runner.run_experiment`).
    meta : mapping, optional
        Stored in the marker (the point's id and parameters).

    Returns
    -------
    dict
        The point's summary (``summary.json``).

    Raises
    ------
    RuntimeError
        The point failed: one line, ``<error type>: <message>``.
    """
    out = Path(out_dir)
    done = _read_done(out)
    if done is not None:
        return done["summary"]
    out.mkdir(parents=True, exist_ok=True)
    attempt = _count_attempt(out)
    t0 = time.time()
    try:
        exp = _validate(kind, config, base_dir)
        summary = _jsonable(_run_kind(kind, exp, out, threads, shard))
    except Exception as err:  # noqa: BLE001 - one picklable line for the client
        msg = " ".join(str(err).split()) or type(err).__name__
        raise RuntimeError(msg if isinstance(err, RuntimeError) and type(err) is RuntimeError
                           else f"{type(err).__name__}: {msg}") from None
    _write_json(out / DONE, {**dict(meta or {}), "kind": kind, "attempts": attempt,
                             "started": t0, "finished": time.time(),
                             "seconds": round(time.time() - t0, 3), "summary": summary})
    return summary


def merge_shards(config: Mapping, out_dir: str | Path, shard_dirs: list[str],
                 *_after: object, meta: Mapping | None = None) -> dict:
    """Merge the shards of one ``run`` point into one H5MD file and its summary.

    Frames, observables and the final checkpoint of the shards are joined walker-wise
    (``mean_energy`` is recomputed over all walkers), so ``out_dir/trajectory.h5`` is
    bit-identical to the run of the whole ensemble in one process; ``summary.json``
    and figures are those of that run.  A point with a completion marker returns it.

    Parameters
    ----------
    config : mapping
        The point's ``run`` config.
    out_dir : str or Path
        The point's folder.
    shard_dirs : list of str
        The shards' folders, in walker order.
    *_after : object
        Ignored (the shard tasks' results, so that Dask runs this after them).
    meta : mapping, optional
        Stored in the marker.

    Returns
    -------
    dict
        The summary.
    """
    from ._version import __version__
    from .runner import (
        SUMMARY as RUN_SUMMARY,
    )
    from .runner import (
        TRAJECTORY,
        _figures,
        _finish,
        _state_from_checkpoint,
        _summary,
        walker_layout,
    )
    from .schema import validate_config
    from .storage import H5MDReader, H5MDWriter
    from .storage.recording import Recorder

    out = Path(out_dir)
    done = _read_done(out)
    if done is not None:
        return done["summary"]
    t0 = time.time()
    exp = validate_config(config)
    cfg = exp.config
    landscape = exp.landscape()
    temps, _ = walker_layout(exp)
    readers = [H5MDReader(Path(d) / TRAJECTORY) for d in shard_dirs]
    try:
        steps = readers[0].steps
        for r in readers[1:]:
            if r.steps.tolist() != steps.tolist():
                raise RuntimeError(f"{r.path}: its frames are not at the steps of shard 0")
        shard_params = [r.parameters for r in readers]
        cks = [r.checkpoint() for r in readers]
        if any(ck is None for ck in cks):
            raise RuntimeError("a shard has no checkpoint")
        names = readers[0].observable_names
        comp = None if cfg["output"]["compression"] == "none" else cfg["output"]["compression"]
        params = {k: v for k, v in shard_params[0].items() if k != "shard"}
        params.update(walker_temperatures=temps, status="running",
                      started=min(p.get("started", "") for p in shard_params))
        params.pop("finished", None)
        params.pop("final_step", None)
        writer = H5MDWriter(out / TRAJECTORY, n_particles=int(temps.size), dim=landscape.dim,
                            creator_version=__version__, compression=comp, overwrite=True)
        try:
            writer.write_parameters(params)
            rec = Recorder(writer, dt=float(exp.integrator().dt))
            block = 256
            for a in range(0, steps.size, block):
                sl = slice(a, min(a + block, steps.size))
                pos = np.concatenate([r.position(sl) for r in readers], axis=1)
                rec.frames(steps[sl], pos)
                if "energy" in names:
                    e = np.concatenate([r.observable("energy")[2][sl] for r in readers], axis=1)
                    rec.observables(steps[sl], energy=e, mean_energy=e.mean(axis=1))
            for name in names:
                if name in ("energy", "mean_energy"):
                    continue
                parts = [r.observable(name) for r in readers]
                rec.observables(parts[0][0], **{name: np.concatenate([p[2] for p in parts],
                                                                     axis=1)})
            step = cks[0][0]
            arrays = {k: np.concatenate([ck[1][k] for ck in cks], axis=0) for k in cks[0][1]}
            writer.write_checkpoint(step, arrays, cks[0][2])
            status = "completed"
            _finish(writer, params, status, step)
        finally:
            if not writer.closed:
                writer.close()
    finally:
        for r in readers:
            r.close()
    state = _state_from_checkpoint(step, arrays)
    shard_sums = [json.loads((Path(d) / RUN_SUMMARY).read_text()) for d in shard_dirs]
    wall = max(s.get("wall_seconds", 0.0) for s in shard_sums)
    comp_s = max(s.get("compile_seconds", 0.0) for s in shard_sums)
    summary = _summary(exp, landscape, state, temps, status, wall, comp_s)
    summary["shards"] = len(shard_dirs)
    _write_json(out / RUN_SUMMARY, summary)
    _figures(exp, landscape, summary, out)
    summary = _jsonable(summary)
    _write_json(out / DONE, {**dict(meta or {}), "kind": "run", "attempts": 1,
                             "started": t0, "finished": time.time(),
                             "seconds": round(time.time() - t0, 3), "summary": summary})
    return summary


# --------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------


def _is_timing(key: str) -> bool:
    return "seconds" in key or key.endswith("_s") or key in ("started", "finished")


def flatten_numeric(summary: Mapping, prefix: str = "") -> dict[str, float | int]:
    """The numeric fields of a summary as ``{dotted.key: value}``, timings left out.

    Parameters
    ----------
    summary : mapping
        A ``summary.json`` document.
    prefix : str
        Put before every key.

    Returns
    -------
    dict
        Numbers (booleans as 0/1) by dotted key; array elements by index
        (``temperatures.0.mean_energy``); strings, ``None`` and keys naming a time in
        seconds (``wall_seconds``, ``wall_s``) are left out.
    """
    out: dict[str, float | int] = {}
    for k, v in summary.items():
        if _is_timing(str(k)):
            continue
        key = f"{prefix}{k}"
        if isinstance(v, bool):
            out[key] = int(v)
        elif isinstance(v, (int, float)):
            out[key] = v
        elif isinstance(v, Mapping):
            out.update(flatten_numeric(v, key + "."))
        elif isinstance(v, list) and len(v) <= 256:
            out.update(flatten_numeric({str(i): x for i, x in enumerate(v)}, key + "."))
    return out


def _rows(plan: SweepPlan, summaries: Mapping[str, dict]) -> list[dict]:
    rows = []
    for p in plan.points:
        if p.id not in summaries:
            continue
        row: dict = {"point": p.id}
        row.update({k: (v if isinstance(v, (int, float, str)) else json.dumps(v))
                    for k, v in p.values.items()})
        row.update(flatten_numeric(summaries[p.id]))
        rows.append(row)
    return rows


def _write_table(out: Path, rows: list[dict], parquet: bool = False) -> None:
    from .storage._safe import write_atomic

    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: (repr(v) if isinstance(v, float) else v) for c, v in r.items()})
    write_atomic(str(out / TABLE), buf.getvalue().encode())
    if parquet:
        try:
            import pandas as pd
            import pyarrow  # noqa: F401
        except ImportError:
            return
        pbuf = io.BytesIO()
        pd.DataFrame(rows, columns=cols).to_parquet(pbuf)
        write_atomic(str(out / PARQUET), pbuf.getvalue())


# --------------------------------------------------------------------------
# the client side
# --------------------------------------------------------------------------


def _require_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise SweepError("sweeps need dask.distributed: pip install 'langevin-opt[sweep]' "
                         "(or distributed>=2024.1)") from None
    return distributed


def start_client(scheduler: str | None = None, *, workers: int = 2,
                 threads_per_worker: int = 1, timeout: float = 10.0) -> tuple[Any, Any]:
    """A Dask client: connected to ``scheduler``, or to a new local cluster of processes.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``); ``None`` starts a
        :class:`distributed.LocalCluster` of ``workers`` processes.
    workers : int
        Worker processes of the local cluster.
    threads_per_worker : int
        Threads (concurrent points) per worker process.
    timeout : float
        Seconds to wait for the scheduler to answer.

    Returns
    -------
    client : distributed.Client
    cluster : distributed.LocalCluster or None
        The local cluster (close it after the client), ``None`` with ``scheduler``.

    Raises
    ------
    SweepError
        dask.distributed missing, or the scheduler does not answer within ``timeout``.
    """
    distributed = _require_distributed()
    if scheduler is not None:
        try:
            return distributed.Client(scheduler, timeout=timeout, set_as_default=False), None
        except (OSError, TimeoutError, ValueError) as err:
            msg = " ".join(str(err).split()) or type(err).__name__
            raise SweepError(f"scheduler {scheduler} did not answer within {timeout:g} s "
                             f"({msg})") from None
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker,
                                       processes=True, dashboard_address=":0")
    try:
        client = distributed.Client(cluster, set_as_default=False)
    except BaseException:
        cluster.close()
        raise
    return client, cluster


def check_sweep_output(out: str | Path, plan: SweepPlan, resume: bool) -> None:
    """Refuse an output folder a new sweep (or a resume) must not write to.

    Parameters
    ----------
    out : str or Path
        The sweep's output folder.
    plan : SweepPlan
        The sweep.
    resume : bool
        Whether the sweep stored there is to be continued.

    Raises
    ------
    SweepError
        ``out`` holds a sweep and ``resume`` is false; or ``resume`` and it holds
        none, or one of another config.
    """
    out = Path(out)
    manifest = out / MANIFEST
    if out.exists() and not out.is_dir():
        raise SweepError(f"{out}: exists and is not a directory")
    if resume:
        if not (out / PLAN).is_file():
            raise SweepError(f"{out / PLAN}: nothing to resume (no such file)")
        stored = json.loads((out / PLAN).read_text())
        if stored.get("spec") != _jsonable(plan.spec):
            raise SweepError(f"{out}: was written by a different sweep config; resume needs "
                             "the same config file")
    elif manifest.exists() or (out / PLAN).exists():
        raise SweepError(f"{out}: holds a sweep; pass --resume to continue it (finished "
                         "points are kept)")


def sweep(config: Mapping | str | Path | SweepPlan, out: str | Path, *, client: Any = None,
          retries: int = 0, resume: bool = False, threads: int | None = 1,
          workers: int = 2, threads_per_worker: int = 1, base_dir: str | Path | None = None,
          progress: Callable[[str], None] | None = None) -> SweepResult:
    """Run a sweep on Dask: every point as a task, outputs under ``out/points/<id>/``.

    Parameters
    ----------
    config : mapping, str, Path or SweepPlan
        A config with a ``[sweep]`` section (module docstring), its TOML file, or a
        :func:`plan_sweep` result.
    out : str or Path
        Output folder (manifest, table, ``points/``).
    client : distributed.Client, optional
        Any client (a notebook's, a ``dask-jobqueue`` cluster's); default: a local
        cluster of ``workers`` processes, closed at the end.
    retries : int
        Times a failed task is run again before the point is recorded as failed.
    resume : bool
        Continue the sweep in ``out``: finished points are skipped (never recomputed
        or touched), unfinished ones continue from their checkpoints.
    threads : int, optional
        Numba threads of each point (``None``: all cores of its worker).
    workers, threads_per_worker : int
        The local cluster's size (without ``client``).
    base_dir : str or Path, optional
        Folder for relative paths in the config (default: the config file's folder).
    progress : callable, optional
        ``progress(line)`` once per finished point (and for the dashboard address).

    Returns
    -------
    SweepResult
        The table rows, each point's status, the futures and error messages.

    Raises
    ------
    SweepError
        A bad spec or output folder (nothing has been started or written).
    """
    plan = config if isinstance(config, SweepPlan) else plan_sweep(config, base_dir=base_dir)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise SweepError(f"retries: must be an integer >= 0, got {retries!r}")
    out = Path(out)
    check_sweep_output(out, plan, resume)
    say = progress or (lambda line: None)
    own = None
    if client is None:
        client, own = start_client(workers=workers, threads_per_worker=threads_per_worker)
        say(f"local Dask cluster: {workers} workers x {threads_per_worker} threads, "
            f"dashboard {own.dashboard_link}")
    try:
        return _run_sweep(plan, out, client, retries, resume, threads, say)
    finally:
        if own is not None:
            client.close()
            own.close()


def _run_sweep(plan: SweepPlan, out: Path, client: Any, retries: int, resume: bool,
               threads: int | None, say: Callable[[str], None]) -> SweepResult:
    distributed = _require_distributed()
    (out / POINTS).mkdir(parents=True, exist_ok=True)
    if not resume:
        _write_json(out / PLAN, {"kind": plan.kind, "spec": plan.spec,
                                 "points": [{"id": p.id, "values": p.values}
                                            for p in plan.points]})
    entries: dict[str, dict] = {}
    summaries: dict[str, dict] = {}
    statuses: dict[str, str] = {}
    for p in plan.points:
        pdir = out / POINTS / p.id
        done = _read_done(pdir)
        entries[p.id] = {"id": p.id, "index": p.index, "parameters": p.values,
                         "dir": str(Path(POINTS) / p.id), "status": "pending",
                         "attempts": _attempts(pdir), "seconds": None, "error": None}
        if done is not None:
            summaries[p.id] = done["summary"]
            statuses[p.id] = "skipped"
            entries[p.id].update(status="done", attempts=done.get("attempts"),
                                 seconds=done.get("seconds"))

    def save() -> None:
        _write_json(out / MANIFEST, {"kind": plan.kind, "mode": plan.mode,
                                     "shards": plan.shards, "keys": list(plan.keys),
                                     "points": [entries[p.id] for p in plan.points]})
        _write_table(out, _rows(plan, summaries))

    save()
    if statuses:
        say(f"{len(statuses)} of {len(plan.points)} points already finished (skipped)")
    futures: dict[str, Any] = {}
    for p in plan.points:
        if p.id in statuses:
            continue
        pdir = out / POINTS / p.id
        meta = {"id": p.id, "parameters": p.values}
        if plan.shards == 1:
            futures[p.id] = client.submit(run_point, plan.kind, p.config, str(pdir),
                                          base_dir=plan.base_dir, threads=threads, meta=meta,
                                          retries=retries, pure=False)
        else:
            from .runner import walker_layout
            from .schema import validate_config

            m = walker_layout(validate_config(p.config))[0].size
            edges = np.linspace(0, m, plan.shards + 1).round().astype(int)
            sdirs = [str(pdir / "shards" / f"{k:03d}") for k in range(plan.shards)]
            parts = [client.submit(run_point, "run", p.config, d, threads=threads,
                                   shard=(int(a), int(b)), retries=retries, pure=False)
                     for d, a, b in zip(sdirs, edges[:-1], edges[1:], strict=True)]
            futures[p.id] = client.submit(merge_shards, p.config, str(pdir), sdirs, *parts,
                                          meta=meta, retries=retries, pure=False)
        entries[p.id]["status"] = "submitted"
    by_key = {f.key: pid for pid, f in futures.items()}
    errors: dict[str, str] = {}
    n_done = len(statuses)
    for fut in distributed.as_completed(list(futures.values()), loop=client.loop):
        pid = by_key[fut.key]
        pdir = out / POINTS / pid
        n_done += 1
        e = entries[pid]
        if fut.status == "finished":
            summaries[pid] = fut.result()
            done = _read_done(pdir) or {}
            e.update(status="done", attempts=done.get("attempts", _attempts(pdir)),
                     seconds=done.get("seconds"), error=None)
            statuses[pid] = "done"
            say(f"[{n_done}/{len(plan.points)}] {pid}: done in {e['seconds']} s")
        else:
            err = fut.exception()
            msg = " ".join(str(err).split()) or type(err).__name__
            e.update(status="failed", attempts=_attempts(pdir), error=msg)
            statuses[pid] = "failed"
            errors[pid] = msg
            say(f"[{n_done}/{len(plan.points)}] {pid}: failed after {e['attempts']} "
                f"attempt(s): {msg}")
        save()
    _write_table(out, _rows(plan, summaries), parquet=True)
    return SweepResult(_rows(plan, summaries), statuses, futures, str(out), errors)
