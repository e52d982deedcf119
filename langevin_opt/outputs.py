"""The output files that are not trajectories: tell their kind, describe them, plot them.

``langevin-opt inspect FILE`` and ``langevin-opt plot FILE`` read HDF5 trajectories
themselves (:mod:`langevin_opt.cli`) and every other file the package writes here.  A
file's kind follows from its content (JSON keys, ``.npz`` members and metadata, CSV
columns), never from its name alone, so a renamed or copied output is still understood:

=====================  ==============================================================
kind                   written by
=====================  ==============================================================
``run-summary``        ``langevin-opt run``: ``DIR/summary.json``
``arrhenius-summary``  ``langevin-opt arrhenius``: ``DIR/summary.json``
``fit-summary``        ``langevin-opt fit-potential``: ``DIR/summary.json``
``model``              ``langevin-opt fit-potential``: ``DIR/model.npz``
``committee``          ``fit-potential`` with ``[committee]``, ``active-learn`` rounds:
                       ``committee.npz``
``active-summary``     ``langevin-opt active-learn``: ``DIR/summary.json``
``active-strategy``    ``active-learn``: ``DIR/<strategy>/summary.json``
``active-round``       ``active-learn``: ``DIR/<strategy>/round_RR/errors.json``
``active-pool``        ``active-learn``: ``DIR/<strategy>/round_RR/pool.npz``
``dataset``            ``active-learn``: ``train.extxyz``, ``selected.extxyz`` (extended
                       XYZ, read through ASE)
``sweep-manifest``     ``langevin-opt sweep``: ``OUT/manifest.json``
``sweep-plan``         ``langevin-opt sweep``: ``OUT/sweep.json``
``sweep-table``        ``langevin-opt sweep``: ``OUT/table.csv``
``sweep-point``        ``langevin-opt sweep``: ``OUT/points/<id>/.sweep_done.json``
``flatness-results``   a sweep of a flatness config: ``points/<id>/results.npz``;
                       ``experiments/flatness_run.py``: ``OUTDIR/results.npz``
``flatness-summary``   the same: ``summary.json``, ``flatness.json``
=====================  ==============================================================

:func:`identify` reads a file and returns its kind and content; :func:`describe` the
labelled lines of ``inspect``; :func:`plot_output` draws the figure of ``plot``.  A file
of none of these kinds (and not a trajectory) is an :class:`OutputFileError` whose one
line lists every kind understood.
"""

from __future__ import annotations

import csv
import json
import math
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["OUTPUT_KINDS", "UNDERSTOOD", "OutputFileError", "describe", "identify",
           "plot_output", "run_summary_lines", "understood"]

#: Kind -> (what it is and which command writes it, ``plot --kind`` values; the first
#: is the default).
OUTPUT_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "run-summary": ("walker run summary (langevin-opt run: summary.json)", ("temperatures",)),
    "arrhenius-summary": ("escape-rate summary (langevin-opt arrhenius: summary.json)",
                          ("rates",)),
    "fit-summary": ("fit-potential summary (langevin-opt fit-potential: summary.json)",
                    ("training",)),
    "model": ("neural potential (langevin-opt fit-potential: model.npz)", ("parameters",)),
    "committee": ("committee of neural potentials (fit-potential [committee], active-learn: "
                  "committee.npz)", ("parameters",)),
    "active-summary": ("active-learning summary (langevin-opt active-learn: summary.json)",
                       ("learning",)),
    "active-strategy": ("active-learning strategy summary (langevin-opt active-learn: "
                        "<strategy>/summary.json)", ("learning",)),
    "active-round": ("active-learning round (langevin-opt active-learn: "
                     "<strategy>/round_RR/errors.json)", ("pool",)),
    "active-pool": ("active-learning exploration pool (langevin-opt active-learn: "
                    "<strategy>/round_RR/pool.npz)", ("pool",)),
    "dataset": ("labelled configurations (extended XYZ; active-learn: train.extxyz, "
                "selected.extxyz)", ("energies",)),
    "sweep-manifest": ("sweep manifest (langevin-opt sweep: manifest.json)", ("metric",)),
    "sweep-plan": ("sweep plan (langevin-opt sweep: sweep.json)", ("metric",)),
    "sweep-table": ("sweep table (langevin-opt sweep: table.csv)", ("metric",)),
    "sweep-point": ("finished sweep point (langevin-opt sweep: points/<id>/.sweep_done.json)",
                    ("summary",)),
    "flatness-results": ("SGLD flatness results (flatness sweep point or "
                         "experiments/flatness_run.py: results.npz)", ("flatness",)),
    "flatness-summary": ("SGLD flatness summary (flatness sweep point: summary.json; "
                         "fig_flatness.py: flatness.json)", ("flatness",)),
}


_EXTXYZ = (".xyz", ".extxyz")


class OutputFileError(ValueError):
    """A file that cannot be inspected or plotted: one line naming the file."""


#: The files ``inspect`` and ``plot`` understand, by the command that writes them.
UNDERSTOOD = ("run: trajectory.h5, summary.json; arrhenius: first_passage.h5, summary.json; "
              "fit-potential: model.npz, committee.npz, summary.json; active-learn: "
              "summary.json, <strategy>/summary.json, round_RR/errors.json, pool.npz, "
              "committee.npz, *.extxyz; sweep: manifest.json, sweep.json, table.csv, "
              "points/<id>/results.npz and summary.json (flatness); particle trajectories and "
              "SG-MCMC chains (HDF5)")


def understood() -> str:
    """The one-line list of every kind of file ``inspect`` and ``plot`` understand.

    Returns
    -------
    str
    """
    return UNDERSTOOD


def _not_ours(path: Path, why: str) -> OutputFileError:
    return OutputFileError(f"{path}: {why}; inspect and plot understand the outputs of "
                           f"langevin-opt: {understood()}")


# --------------------------------------------------------------------------
# telling the kind
# --------------------------------------------------------------------------


def _json_kind(doc: Any) -> str | None:
    if not isinstance(doc, Mapping):
        return None
    keys = set(doc)
    if {"summary", "kind", "attempts", "finished"} <= keys:
        return "sweep-point"
    if {"kind", "mode", "keys", "points"} <= keys and isinstance(doc["points"], list):
        return "sweep-manifest"
    if {"kind", "spec", "points"} <= keys:
        return "sweep-plan"
    if {"learning_curves", "n_initial", "n_test"} <= keys:
        return "active-summary"
    if {"strategy", "rounds_done", "learning_curve"} <= keys:
        return "active-strategy"
    if {"round", "n_labelled", "test"} <= keys:
        return "active-round"
    if {"n_train", "n_params", "learning_curve", "train", "validation"} <= keys:
        return "fit-summary"
    if {"stats", "verdict"} <= keys and isinstance(doc.get("stats"), Mapping):
        return "flatness-summary"
    if {"rows", "walkers", "temperatures", "name"} <= keys and isinstance(doc["rows"], list):
        return "arrhenius-summary"
    if {"experiment", "status", "steps", "walkers", "temperatures"} <= keys:
        return "run-summary"
    return None


def _npz_kind(z: Mapping[str, np.ndarray]) -> tuple[str | None, dict]:
    names = set(z)
    if {"meta", "checksum"} <= names:
        try:
            meta = json.loads(str(z["meta"]))
        except ValueError:
            return None, {}
        fmt = meta.get("format", "")
        if fmt == "langevin_opt.mlip" and "theta" in names:
            return "model", meta
        if "committee" in fmt and "thetas" in names:
            return "committee", meta
        return None, meta
    if {"max_force_std", "selected", "n_atoms"} <= names:
        return "active-pool", {}
    if {"temperature", "temperatures", "hessian_trace", "test_loss"} <= names:
        return "flatness-results", {}
    return None, {}


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def identify(path: str | Path) -> tuple[str, Any]:
    """The kind of a non-trajectory output file and its content.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    kind : str
        A key of :data:`OUTPUT_KINDS`.
    content : object
        The JSON document (a dict); for ``.npz`` files ``{"arrays": {name: array},
        "meta": dict}``; for the sweep table ``{"rows": [...], "columns": [...]}``; for
        extended XYZ the :class:`langevin_opt.mlip.Dataset`.

    Raises
    ------
    OutputFileError
        Missing, unreadable, or of no kind the package writes (one line that lists the
        kinds understood).
    """
    p = Path(path)
    if not p.exists():
        raise OutputFileError(f"{p}: no such file")
    if p.is_dir():
        raise OutputFileError(f"{p}: is a directory, expected an output file")
    head = p.read_bytes()[:8]
    if head.startswith(b"\x89PNG") or p.suffix.lower() in (".png", ".pdf", ".svg"):
        raise _not_ours(p, "is a figure, not a data file")
    if zipfile.is_zipfile(p):
        try:
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise _not_ours(p, f"not a NumPy .npz archive ({' '.join(str(err).split())})"
                            ) from None
        kind, meta = _npz_kind(arrays)
        if kind is None:
            raise _not_ours(p, "an .npz archive of no kind the package writes (members: "
                            + ", ".join(sorted(arrays)[:8]) + ")")
        return kind, {"arrays": arrays, "meta": meta}
    if p.suffix.lower() in _EXTXYZ:
        from .mlip import Dataset

        try:
            return "dataset", Dataset.read(p)
        except (ValueError, KeyError, TypeError) as err:
            raise _not_ours(p, f"not a labelled extended XYZ file ({' '.join(str(err).split())})"
                            ) from None
    try:
        text = p.read_text()
    except (UnicodeDecodeError, OSError) as err:
        raise _not_ours(p, f"not a text file ({type(err).__name__})") from None
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            doc = json.loads(text)
        except ValueError as err:
            raise _not_ours(p, f"invalid JSON ({err})") from None
        kind = _json_kind(doc)
        if kind is None:
            keys = ", ".join(list(doc)[:8]) if isinstance(doc, Mapping) else type(doc).__name__
            raise _not_ours(p, f"a JSON file of no kind the package writes (keys: {keys})")
        return kind, doc
    first = stripped.splitlines()[0] if stripped else ""
    if first.split(",")[0] == "point":
        rows = _read_csv(p)
        return "sweep-table", {"rows": rows, "columns": first.split(",")}
    raise _not_ours(p, "not an output of langevin-opt")


# --------------------------------------------------------------------------
# describing
# --------------------------------------------------------------------------


def _fmt_num(v: Any, spec: str = ".6g") -> str:
    if v is None:
        return "-"
    try:
        return format(float(v), spec)
    except (TypeError, ValueError):
        return str(v)


def run_summary_lines(summary: Mapping, kind: str) -> list[str]:
    """The per-temperature table of a walker run's ``summary.json``.

    Parameters
    ----------
    summary : mapping
        The summary (:func:`langevin_opt.runner.run_experiment`).
    kind : str
        The integrator kind (the acceptance column is filled for ``mala`` only).

    Returns
    -------
    list of str
        A header, one line per temperature (``<U>``, acceptance, basin occupations
        measured / exact with their z-scores) and the swap acceptance of replica
        exchange.
    """
    rows = summary.get("temperatures") or []
    if not rows:
        return []
    k = max((len(r.get("basin_measured", [])) for r in rows), default=0)
    show_acc = kind == "mala"
    head = f"{'T':>10}  {'<U>':>12}  {'accept':>7}"
    for b in range(k):
        head += f"  {f'basin {b}: meas/exact (z)':>27}"
    lines = [head]
    for r in rows:
        acc = _fmt_num(r.get("acceptance"), ".4f") if show_acc else "-"
        line = f"{_fmt_num(r['T'], '.4g'):>10}  {_fmt_num(r.get('mean_energy'), '.6g'):>12}  " \
               f"{acc:>7}"
        meas = r.get("basin_measured", [])
        exact = r.get("basin_exact")
        z = r.get("basin_z")
        for b in range(k):
            if b >= len(meas):
                cell = "-"
            elif exact is not None and z is not None:
                cell = f"{meas[b]:.3f}/{exact[b]:.3f} ({z[b]:+.1f})"
            else:
                cell = f"{meas[b]:.3f}"
            line += f"  {cell:>27}"
        lines.append(line)
    if "swap_acceptance" in summary:
        rates = " ".join(f"{v:.3f}" for v in summary["swap_acceptance"])
        lines.append(f"replica-exchange swap acceptance (neighbour pairs): {rates}")
    return lines




def _g(v: Any, spec: str = ".4g") -> str:
    if v is None:
        return "-"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "nan" if math.isnan(f) else format(f, spec)


def _cfg_name(doc: Mapping) -> str:
    cfg = doc.get("config")
    if isinstance(cfg, Mapping):
        return str((cfg.get("experiment") or {}).get("name", doc.get("name", "?")))
    return str(doc.get("name", doc.get("experiment", "?")))


def _errors_line(label: str, e: Mapping | None) -> str:
    if not e:
        return f"  {label}: -"
    return (f"  {label}: energy RMSE {_g(e.get('energy_rmse_per_atom'))} per atom, force RMSE "
            f"{_g(e.get('force_rmse'))} per component")


def _describe_fit(doc: Mapping) -> list[str]:
    cfg = doc.get("config") or {}
    units = (cfg.get("model") or {}).get("units", "metal")
    eu, lu = ("eV", "Å") if units == "metal" else ("energy", "length")
    species = ", ".join(doc.get("species", []))
    lines = [f"model: {doc.get('n_params')} parameters, species {species}, "
             f"{doc.get('n_features')} descriptor features, units {units}",
             f"data: {doc.get('n_train')} training, {doc.get('n_validation')} validation "
             "configurations",
             f"training: {doc.get('method')}, {_g(doc.get('n_evaluations'))} evaluations "
             f"({doc.get('message')})",
             f"final errors (energy {eu}/atom, force {eu}/{lu} per component):",
             _errors_line("train", doc.get("train")),
             _errors_line("validation", doc.get("validation"))]
    lc = doc.get("learning_curve")
    if isinstance(lc, Mapping) and lc.get("iteration"):
        it = lc["iteration"]
        lines.append(f"learning curve: {len(it)} points, iterations {it[0]}..{it[-1]}; "
                     f"series {', '.join(k for k in lc if k != 'iteration')}")
    else:
        lines.append("learning curve: none (a deep ensemble has no single fit)")
    com = doc.get("committee")
    if isinstance(com, Mapping):
        lines.append(f"committee: {com.get('kind')}, {com.get('n_members')} members "
                     f"({com.get('file')}), noise sigma_energy {_g(com.get('sigma_energy'))}, "
                     f"sigma_force {_g(com.get('sigma_force'))}")
        lines.append(_errors_line("committee mean, train", com.get("train")))
        lines.append(_errors_line("committee mean, validation", com.get("validation")))
    lines.append(f"files: {', '.join(doc.get('files', []))}; wall time {_g(doc.get('wall_s'))} s")
    return lines


def _describe_network_meta(meta: Mapping) -> list[str]:
    desc = meta.get("descriptor") or {}
    return [f"species: {', '.join(meta.get('species', []))}; units {meta.get('units')}",
            f"network: hidden {meta.get('hidden')}, activation {meta.get('activation')}; "
            f"descriptor {desc.get('kind', '?')}, cutoff {_g(desc.get('cutoff'))} Å",
            f"written by langevin_opt {meta.get('package_version')} "
            f"(format {meta.get('format')} v{meta.get('format_version')})"]


def _describe_active_summary(doc: Mapping) -> list[str]:
    cfg = doc.get("config") or {}
    ac = cfg.get("active") or {}
    lines = [f"data: {doc.get('n_initial')} initial, {doc.get('n_test')} test configurations; "
             f"species {', '.join(doc.get('species', []))}; {doc.get('n_params')} parameters "
             "per member",
             f"rounds: {ac.get('rounds', '?')} x {ac.get('per_round', '?')} labelled per round",
             "test errors by strategy (force RMSE eV/Å per component, energy RMSE eV/atom):"]
    lines.append(f"  {'strategy':<12} {'labelled':>9} {'force first':>12} {'force last':>11} "
                 f"{'energy last':>12}")
    for name, c in (doc.get("learning_curves") or {}).items():
        n, f = c.get("n_labelled") or [], c.get("force_rmse") or []
        e = c.get("energy_rmse_per_atom") or []
        lines.append(f"  {name:<12} {(str(n[0]) + '->' + str(n[-1])) if n else '-':>9} "
                     f"{_g(f[0] if f else None):>12} {_g(f[-1] if f else None):>11} "
                     f"{_g(e[-1] if e else None):>12}")
    lines.append(f"wall time {_g(doc.get('wall_s'))} s")
    return lines


def _describe_strategy(doc: Mapping) -> list[str]:
    lc = doc.get("learning_curve") or {}
    lines = [f"strategy {doc.get('strategy')}: {doc.get('rounds_done')} of "
             f"{int(doc.get('n_rounds', 0)) + 1} rounds done, {doc.get('per_round')} labelled "
             f"per round, seed {doc.get('seed')}",
             f"  {'round':>5} {'labelled':>9} {'force RMSE (eV/Å)':>18} "
             f"{'energy RMSE (eV/atom)':>22}"]
    for r, (n, f, e) in enumerate(zip(lc.get("n_labelled", []), lc.get("force_rmse", []),
                                      lc.get("energy_rmse_per_atom", []), strict=False)):
        lines.append(f"  {r:>5} {n:>9} {_g(f):>18} {_g(e):>22}")
    return lines


def _describe_round(doc: Mapping) -> list[str]:
    t = doc.get("test") or {}
    lines = [f"round {doc.get('round')}: {doc.get('n_labelled')} labelled configurations, "
             f"committee trained in {_g(doc.get('train_s'))} s",
             f"test errors: force RMSE {_g(t.get('force_rmse'))} eV/Å per component, energy "
             f"RMSE {_g(t.get('energy_rmse_per_atom'))} eV/atom"]
    if "n_pool" in doc:
        pool = np.asarray(doc.get("pool_max_force_std") or [], dtype=float)
        sel = doc.get("selected_max_force_std") or []
        lines.append(f"exploration: {doc['n_pool']} pool frames (max committee force std "
                     f"median {_g(np.median(pool) if pool.size else None)}, max "
                     f"{_g(pool.max() if pool.size else None)} eV/Å); {len(sel)} selected "
                     f"(mean std {_g(np.mean(sel) if sel else None)} eV/Å) in "
                     f"{_g(doc.get('explore_s'))} s")
        for r in doc.get("runs") or []:
            lines.append(f"  run at {_g(r.get('temperature_K'))} K from start "
                         f"{r.get('start')}: {r.get('frames')} frames, {r.get('steps')} steps "
                         f"({r.get('reason')})")
    else:
        lines.append("exploration: none (the last round)")
    return lines


def _describe_pool(arrays: Mapping[str, np.ndarray]) -> list[str]:
    s = np.asarray(arrays["max_force_std"], dtype=float)
    sel = np.asarray(arrays["selected"], dtype=np.int64)
    n_at = np.asarray(arrays["n_atoms"])
    return [f"pool: {s.size} frames ({int(n_at.sum())} atoms in all, positions in Å)",
            f"max committee force std: median {_g(np.median(s) if s.size else None)}, max "
            f"{_g(s.max() if s.size else None)} eV/Å",
            f"selected for labelling: {sel.size} frame(s) ({', '.join(map(str, sel[:10]))}"
            f"{', ...' if sel.size > 10 else ''}), std "
            f"{', '.join(_g(v) for v in s[sel][:10])} eV/Å"]


def _describe_dataset(ds: Any) -> list[str]:
    n = np.asarray(ds.n_atoms)
    e = np.asarray(ds.energies, dtype=float) / np.maximum(n, 1)
    periodic = sum(b is not None for b in ds.boxes)
    return [f"configurations: {len(ds)} ({int(n.min())}..{int(n.max())} atoms each, "
            f"{periodic} periodic)",
            f"species: {', '.join(ds.species_names)}",
            f"energy per atom: {_g(e.min())}..{_g(e.max())} eV (mean {_g(e.mean())})",
            "forces: stored for every atom (eV/Å)"]


def _sweep_rows(path: Path, kind: str, doc: Any) -> tuple[list[dict], list[str], str, str]:
    """(rows, swept keys, config kind, folder) of a sweep from any of its files."""
    folder = path.parent
    if kind == "sweep-table":
        table = doc
        meta = None
        for name in ("manifest.json", "sweep.json"):
            if (folder / name).is_file():
                try:
                    meta = json.loads((folder / name).read_text())
                except ValueError:
                    continue
                break
        if meta is None:
            raise OutputFileError(f"{path}: a sweep table without its manifest.json or "
                                  f"sweep.json beside it; the swept keys are unknown")
    else:
        meta = doc
        tpath = folder / "table.csv"
        table = ({"rows": _read_csv(tpath)} if tpath.is_file() else {"rows": []})
    if "keys" in meta:
        keys = list(meta["keys"])
    else:
        pts = meta.get("points") or []
        keys = list((pts[0].get("values") or {}) if pts else [])
    return table["rows"], keys, str(meta.get("kind", "?")), str(folder)


def _parse(v: Any) -> Any:
    """A table cell as a number, a JSON value (one-element lists unwrapped) or the text."""
    if not isinstance(v, str):
        return v
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        pass
    try:
        j = json.loads(v)
    except ValueError:
        return v
    while isinstance(j, list) and len(j) == 1:
        j = j[0]
    return j


#: Preferred sweep metrics per config kind (the first column present is the default).
SWEEP_METRICS = {
    "run": ("temperatures.0.mean_energy",),
    "arrhenius": ("fit.barrier", "rows.0.rate"),
    "fit-potential": ("validation.force_rmse", "train.force_rmse"),
    "active-learn": (),
    "flatness": ("stats.hessian_trace.rho", "stats.test_loss.rho"),
}


def _metric_columns(rows: list[dict], keys: Sequence[str]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols and c != "point" and c not in keys]
    return [c for c in cols
            if any(isinstance(_parse(r.get(c)), (int, float)) for r in rows if r.get(c))]


def _pick_metric(rows: list[dict], keys: Sequence[str], kind: str) -> str | None:
    cols = _metric_columns(rows, keys)
    for c in SWEEP_METRICS.get(kind, ()):
        if c in cols:
            return c
    for c in cols:  # the first one that changes across the points
        vals = {_parse(r.get(c)) for r in rows if r.get(c) not in (None, "")}
        if len(vals) > 1:
            return c
    return cols[0] if cols else None


def _describe_sweep(path: Path, kind: str, doc: Any) -> list[str]:
    rows, keys, ckind, _ = _sweep_rows(path, kind, doc)
    lines = [f"sweep of {ckind} configs over {', '.join(keys) or 'no keys'}"]
    if kind == "sweep-manifest":
        pts = doc.get("points") or []
        statuses: dict[str, int] = {}
        for p in pts:
            statuses[p.get("status", "?")] = statuses.get(p.get("status", "?"), 0) + 1
        lines[0] += f" ({doc.get('mode')}, {doc.get('shards')} shard(s) per point)"
        lines.append(f"points: {len(pts)} (" + ", ".join(f"{v} {k}" for k, v in
                                                       statuses.items()) + ")")
        for p in pts:
            vals = ", ".join(f"{k} = {json.dumps(v)}" for k, v in (p.get("parameters") or {})
                             .items())
            extra = f"; error: {p['error']}" if p.get("error") else ""
            lines.append(f"  {p.get('id')}: {p.get('status')}, {vals}, "
                         f"{_g(p.get('seconds'))} s{extra}")
    elif kind == "sweep-plan":
        pts = doc.get("points") or []
        lines.append(f"points planned: {len(pts)}")
        for p in pts:
            lines.append(f"  {p.get('id')}: " + ", ".join(
                f"{k} = {json.dumps(v)}" for k, v in (p.get("values") or {}).items()))
    cols = _metric_columns(rows, keys)
    metric = _pick_metric(rows, keys, ckind)
    lines.append(f"table: {len(rows)} finished points x {len(cols)} numeric result columns"
                 + (f" (e.g. {', '.join(cols[:4])}{', ...' if len(cols) > 4 else ''})"
                    if cols else ""))
    if metric is not None:
        lines.append(f"metric (plot default; plot --metric COLUMN for another): {metric}")
        for r in rows:
            vals = ", ".join(f"{k} = {r.get(k)}" for k in keys)
            lines.append(f"  {r.get('point')}: {vals} -> {metric} = {_g(_parse(r.get(metric)))}")
    return lines


def _describe_flatness_arrays(arrays: Mapping[str, np.ndarray]) -> list[str]:
    T = np.asarray(arrays["temperature"], dtype=float)
    temps = np.asarray(arrays["temperatures"], dtype=float)
    lines = [f"chains: {T.size} ({T.size // max(temps.size, 1)} per temperature) at "
             f"T = {', '.join(_g(t) for t in temps)} (U units, k_B = 1)"]
    for k in ("n_train", "n_test", "n_params"):
        if k in arrays:
            lines.append(f"{k}: {int(arrays[k])}")
    lines.append(f"  {'T':>8} {'test loss':>10} {'tr H / N':>10} {'top eig / N':>12}  (medians)")
    n = float(arrays["n_train"]) if "n_train" in arrays else 1.0
    for t in temps:
        sel = T == t
        lines.append(f"  {_g(t):>8} {_g(np.nanmedian(arrays['test_loss'][sel])):>10} "
                     f"{_g(np.nanmedian(arrays['hessian_trace'][sel]) / n):>10} "
                     f"{_g(np.nanmedian(arrays['top_eigenvalue'][sel]) / n):>12}")
    return lines


def _describe_flatness_summary(doc: Mapping) -> list[str]:
    lines = [f"verdict: {doc.get('verdict')}"]
    stats = doc.get("stats") or {}
    lines.append(f"Spearman correlations with T (alpha = {stats.get('alpha')}):")
    for k, v in stats.items():
        if isinstance(v, Mapping) and "rho" in v:
            lines.append(f"  {k}: rho {_g(v.get('rho'), '+.3f')}, p {_g(v.get('p'), '.3g')}, "
                         f"n {v.get('n')}")
    for k in ("n_train", "n_test", "n_params", "n_chains"):
        if k in doc:
            lines.append(f"{k}: {doc[k]}")
    return lines


def _describe_run_summary(doc: Mapping) -> list[str]:
    lines = [f"status: {doc.get('status')}, {doc.get('steps')} steps, {doc.get('walkers')} "
             f"walkers, wall time {_g(doc.get('wall_seconds'))} s (compiling "
             f"{_g(doc.get('compile_seconds'))} s)"]
    if "diverged_at_step" in doc:
        lines.append(f"diverged at step {doc['diverged_at_step']} (walker "
                     f"{doc.get('diverged_walker')})")
    rows = doc.get("temperatures") or []
    acc = any("acceptance" in r for r in rows)
    lines += ["per temperature (energies in units of the landscape, k_B = 1):"]
    lines += ["  " + ln for ln in run_summary_lines(doc, "mala" if acc else "")]
    return lines


def _describe_arrhenius_summary(doc: Mapping) -> list[str]:
    from .rates.cli import table_lines

    rows = doc.get("rows") or []
    lines = [f"{doc.get('walkers')} walkers x {len(rows)} rows, "
             f"{sum(r.get('events', 0) for r in rows)} escapes, "
             f"{sum(r.get('censored', 0) for r in rows)} censored; wall time "
             f"{_g(doc.get('wall_s'))} s"]
    fit = doc.get("fit")
    if isinstance(fit, Mapping):
        ci = fit.get("barrier_ci") or [None, None]
        lines.append(f"Arrhenius fit: barrier {_g(fit.get('barrier'))} [{_g(ci[0])}, "
                     f"{_g(ci[1])}] (energy units, k_B = 1)")
    lines.append("escape rates (k per unit time):")
    lines += ["  " + ln for ln in table_lines(dict(doc))]
    return lines


def describe(path: str | Path, kind: str, content: Any) -> list[str]:
    """The lines ``langevin-opt inspect`` prints for a file of :func:`identify`.

    Parameters
    ----------
    path : str or Path
        The file.
    kind, content : str, object
        What :func:`identify` returned.

    Returns
    -------
    list of str
        ``file:``, ``kind:`` (with the ``plot --kind`` values), the config or run name,
        then the sizes and key results of the kind, with units.
    """
    p = Path(path)
    desc, plots = OUTPUT_KINDS[kind]
    lines = [f"file: {p} ({p.stat().st_size / 1024:.1f} KiB)",
             f"kind: {desc}" + (f"; plot --kind {'|'.join(plots)}" if plots
                                else "; nothing to plot")]
    if kind in ("model", "committee"):
        arrays, meta = content["arrays"], content["meta"]
        lines += _describe_network_meta(meta)
        if kind == "model":
            th = arrays["theta"]
            lines.append(f"parameters: {th.size} (|theta| max {_g(np.abs(th).max())}, rms "
                         f"{_g(np.sqrt(np.mean(th * th)))})")
        else:
            th = arrays["thetas"]
            info = meta.get("info") or {}
            lines.append(f"committee: {meta.get('kind')}, {th.shape[0]} members x "
                         f"{th.shape[1]} parameters; spread scales energy "
                         f"{_g(meta.get('energy_scale'))}, force {_g(meta.get('force_scale'))}")
            shown = {k: v for k, v in info.items() if isinstance(v, (int, float, str, bool))}
            if shown:
                lines.append("info: " + ", ".join(f"{k} {_g(v)}" for k, v in shown.items()))
        lines.append("checksum: stored (verified when loaded by mlip.load_model / "
                     "load_committee)")
        return lines
    if kind == "active-pool":
        return lines + _describe_pool(content["arrays"])
    if kind == "flatness-results":
        arrays = dict(content["arrays"])
        sib = _sibling(p, "flatness-summary")
        summary = sib[1] if sib else None
        for k in _FLAT_SCALARS:
            if k not in arrays and summary is not None and k in summary:
                arrays[k] = np.asarray(summary[k])
        lines.append(f"config: {_flatness_name(arrays, summary, '?')}")
        return lines + _describe_flatness_arrays(arrays)
    if kind == "dataset":
        return lines + _describe_dataset(content)
    if kind.startswith("sweep-"):
        if kind == "sweep-point":
            lines.append(f"point {content.get('id')} ({content.get('kind')} config): "
                         + ", ".join(f"{k} = {json.dumps(v)}" for k, v in
                                     (content.get("parameters") or {}).items()))
            lines.append(f"finished after {content.get('attempts')} attempt(s) in "
                         f"{_g(content.get('seconds'))} s; summary keys: "
                         + ", ".join(list(content.get("summary") or {})[:12]))
            return lines
        return lines + _describe_sweep(p, kind, content)
    if kind not in ("active-strategy", "active-round"):  # these files store no config
        lines.append(f"config: {_cfg_name(content)}")
    body = {"fit-summary": _describe_fit, "active-summary": _describe_active_summary,
            "active-strategy": _describe_strategy, "active-round": _describe_round,
            "flatness-summary": _describe_flatness_summary,
            "run-summary": _describe_run_summary,
            "arrhenius-summary": _describe_arrhenius_summary}[kind]
    return lines + body(content)


# --------------------------------------------------------------------------
# plotting
# --------------------------------------------------------------------------


_FLAT_SCALARS = ("n_train", "n_test", "n_params")


def _sibling(path: Path, kind: str) -> tuple[Path, Any] | None:
    """The flatness file of ``kind`` beside ``path``.

    ``X.npz`` / ``X.json``, a sweep point's ``results.npz`` / ``summary.json``, or the paper's
    layout (``flatness.json`` beside ``flatness/results.npz``).
    """
    names = ((path.with_suffix(".npz"), path.parent / "results.npz",
              path.with_suffix("") / "results.npz") if kind == "flatness-results"
             else (path.with_suffix(".json"), path.parent / "summary.json"))
    for cand in names:
        if cand.is_file() and cand != path:
            try:
                k, c = identify(cand)
            except OutputFileError:
                continue
            if k == kind:
                return cand, c
    return None


def _flatness_name(arrays: Mapping, summary: Mapping | None, default: str) -> str:
    if summary is not None:
        return _cfg_name(summary)
    if "config_json" in arrays:
        try:
            return str(json.loads(str(arrays["config_json"]))["experiment"]["name"])
        except (ValueError, KeyError, TypeError):
            pass
    return default


def _flatness_arrays_for(path: Path, kind: str, content: Any) -> tuple[dict, str]:
    """The per-chain arrays (with the sizes) and the name of a flatness result.

    A sweep point keeps the arrays in ``results.npz`` and the sizes (``n_train``...) in
    ``summary.json`` beside it; ``experiments/flatness_run.py`` keeps both in
    ``results.npz`` (the paper's ``flatness/results.npz``, drawn from ``flatness.json``).
    """
    if kind == "flatness-results":
        arrays, summary = dict(content["arrays"]), None
        if any(k not in arrays for k in _FLAT_SCALARS):
            sib = _sibling(path, "flatness-summary")
            summary = sib[1] if sib else None
    else:
        summary = content
        sib = _sibling(path, "flatness-results")
        if sib is None:
            raise OutputFileError(f"{path}: the per-chain arrays are not beside it "
                                  f"({path.with_suffix('.npz').name}, results.npz or "
                                  f"{path.with_suffix('').name}/results.npz)")
        arrays = dict(sib[1]["arrays"])
    for k in _FLAT_SCALARS:
        if k not in arrays and summary is not None and k in summary:
            arrays[k] = np.asarray(summary[k])
    missing = [k for k in _FLAT_SCALARS if k not in arrays]
    if missing:
        raise OutputFileError(f"{path}: {', '.join(missing)} not stored (nor in a summary.json "
                              "beside it)")
    return arrays, _flatness_name(arrays, summary, path.stem)


def _fit_units(doc: Mapping) -> tuple[str, str]:
    units = ((doc.get("config") or {}).get("model") or {}).get("units", "metal")
    return ("eV/atom", "eV/Å") if units == "metal" else ("energy/atom", "energy/length")


def _committee_rows(path: Path, doc: Mapping) -> dict[str, dict]:
    """Errors of a deep ensemble's members (train) and of its mean (train, validation)."""
    com = doc.get("committee")
    if not isinstance(com, Mapping):
        raise OutputFileError(f"{path}: neither a learning curve nor a committee stored")
    rows: dict[str, dict] = {}
    for i, m in enumerate((com.get("info") or {}).get("members") or []):
        rows[f"member {i} (train)"] = {"energy_rmse_per_atom":
                                       m.get("train_energy_rmse_per_atom"),
                                       "force_rmse": m.get("train_force_rmse")}
    for which in ("train", "validation"):
        if isinstance(com.get(which), Mapping):
            rows[f"committee mean ({which})"] = dict(com[which])
    return rows


def plot_output(path: str | Path, kind: str, content: Any, plot_kind: str, output: str | Path,
                *, metric: str | None = None) -> Path:
    """Draw the figure ``plot_kind`` of a file of :func:`identify` into ``output``.

    Parameters
    ----------
    path : str or Path
        The file.
    kind, content : str, object
        What :func:`identify` returned.
    plot_kind : str
        One of the kind's ``plot --kind`` values (:data:`OUTPUT_KINDS`).
    output : str or Path
        Figure file (format from the extension).
    metric : str, optional
        Sweeps: the table column to draw (default: :data:`SWEEP_METRICS`, else the first
        numeric column that changes across the points).

    Returns
    -------
    Path
        The written figure.

    Raises
    ------
    OutputFileError
        Nothing to draw (no learning curve, no finished point, an unknown metric).
    """
    from . import plotting
    from .plotting import outputs as po

    p = Path(path)
    out = Path(output)
    if kind == "fit-summary":
        lc = content.get("learning_curve")
        if not isinstance(lc, Mapping) or not lc.get("iteration"):
            return po.member_errors_figure(_committee_rows(p, content), out,
                                           title=_cfg_name(content), units=_fit_units(content))
        curve = {k: np.asarray(v, dtype=float) for k, v in lc.items()}
        return plotting.learning_curve_figure(curve, out, title=_cfg_name(content))
    if kind in ("model", "committee"):
        arrays, meta = content["arrays"], content["meta"]
        if kind == "model":
            groups = {"parameters": arrays["theta"]}
        else:
            groups = {f"member {i}": th for i, th in enumerate(arrays["thetas"])}
        return po.parameter_histogram_figure(
            groups, out, title=f"{p.name}: {kind} ({', '.join(meta.get('species', []))}, "
            f"hidden {meta.get('hidden')})", xlabel="network parameter value (weights and "
            "biases, dimensionless)")
    if kind == "active-summary":
        return po.error_curves_figure(content["learning_curves"], out,
                                      title=_cfg_name(content))
    if kind == "active-strategy":
        return po.error_curves_figure({content["strategy"]: content["learning_curve"]}, out,
                                      title=str(content["strategy"]))
    if kind in ("active-round", "active-pool"):
        if kind == "active-pool":
            s, sel = content["arrays"]["max_force_std"], content["arrays"]["selected"]
        elif "pool_max_force_std" in content:
            s, sel = content["pool_max_force_std"], content["selected"]
        else:
            raise OutputFileError(f"{p}: round {content.get('round')} explored nothing (the "
                                  "last round); inspect it for its test errors")
        return po.pool_figure(np.asarray(s, dtype=float), sel, out,
                              title=f"{p.parent.name}" if p.parent.name else p.stem)
    if kind == "dataset":
        n = np.asarray(content.n_atoms)
        e = np.asarray(content.energies, dtype=float) / np.maximum(n, 1)
        return po.parameter_histogram_figure({"energy per atom": e}, out, title=p.name,
                                             xlabel="energy per atom (eV)")
    if kind in ("sweep-manifest", "sweep-plan", "sweep-table"):
        rows, keys, ckind, _ = _sweep_rows(p, kind, content)
        rows = [r for r in rows if r]
        if not rows:
            raise OutputFileError(f"{p}: no finished points in the sweep table yet")
        if not keys:
            raise OutputFileError(f"{p}: the sweep varies no keys")
        cols = _metric_columns(rows, keys)
        if metric is None:
            metric = _pick_metric(rows, keys, ckind)
            if metric is None:
                raise OutputFileError(f"{p}: the sweep table has no numeric result column")
        elif metric not in cols:
            raise OutputFileError(f"--metric {metric}: not a numeric column of the sweep "
                                  f"table; use one of: {', '.join(cols[:20])}"
                                  + (f" (and {len(cols) - 20} more)" if len(cols) > 20 else ""))
        params = {k: [_parse(r.get(k)) for r in rows] for k in keys}
        y = [(_parse(r.get(metric)) if r.get(metric) not in (None, "") else float("nan"))
             for r in rows]
        return po.sweep_figure(params, y, out, metric_name=metric,
                               title=f"sweep of {ckind} configs")
    if kind in ("flatness-results", "flatness-summary"):
        from .nn.experiment import analyse

        arrays, name = _flatness_arrays_for(p, kind, content)
        stats, verdict = analyse(arrays)
        return plotting.flatness_figure(arrays, stats, verdict, out, name)
    if kind == "sweep-point":
        inner = _json_kind(content.get("summary"))
        if inner is None or not OUTPUT_KINDS[inner][1]:
            raise OutputFileError(f"{p}: the point's summary is of no kind that plots; plot "
                                  "the files of its folder")
        return plot_output(p, inner, content["summary"], OUTPUT_KINDS[inner][1][0], out)
    if kind == "run-summary":
        rows = content.get("temperatures") or []
        if not rows:
            raise OutputFileError(f"{p}: no per-temperature results (the run did not finish)")
        return po.run_summary_figure(rows, out, title=_cfg_name(content))
    if kind == "arrhenius-summary":
        from types import SimpleNamespace

        from .plotting._base import save
        from .plotting.arrhenius import arrhenius_plot, sgd_rate_plot

        rows = content.get("rows") or []
        if not rows:
            raise OutputFileError(f"{p}: no rate rows stored")
        ci = np.array([[r["rate_low"], r["rate_high"]] for r in rows], dtype=np.float64)
        k = [r["rate"] for r in rows]
        title = f"{_cfg_name(content)}: escape rates"
        if "learning_rate" in rows[0]:
            fig = sgd_rate_plot(None, [r["learning_rate"] for r in rows],
                                [r["batch_size"] for r in rows], k, ci, title=title)
        else:
            fit = SimpleNamespace(**content["fit"]) if content.get("fit") else None
            fig = arrhenius_plot(None, [r["temperature"] for r in rows], k, ci, fit=fit,
                                 title=title)
        return save(fig, out)
    raise OutputFileError(f"{p}: nothing to plot for a {OUTPUT_KINDS[kind][0]}; inspect it")
