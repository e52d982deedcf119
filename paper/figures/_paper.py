"""Shared plumbing of the paper's figure scripts: the manifest, provenance and the numbers JSON.

Every result of the paper is an *experiment* (a committed config under ``experiments/``, the
command that runs it and the directory its outputs go to) and a *figure* (a script under
``paper/figures/`` that reads those outputs, never re-simulating, and writes a PNG and a JSON
of the numbers the text quotes).  Both are listed in ``paper/manifest.toml``.

When ``paper/build.py --rerun`` runs an experiment it records, under the experiment's name
in ``PROVENANCE.json`` of the output directory (experiments may share a directory), the
SHA-256 of every config file the experiment reads, the command, the wall time, the date, the
machine and the git commit.  A figure script calls :func:`require_fresh`
before reading: outputs made from a config that has changed since are refused with a one-line
message that names the command to rerun, so a changed config always forces a rerun.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "paper" / "manifest.toml"
FIGURES = ROOT / "paper" / "figures"

__all__ = ["ROOT", "FIGURES", "load_manifest", "experiment", "config_hashes",
           "stale_reason", "require_fresh", "write_numbers"]


def load_manifest(path: str | Path = MANIFEST) -> dict[str, Any]:
    """Read ``paper/manifest.toml``; return ``{"experiment": {name: entry}, "figure": {...}}``."""
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    out: dict[str, Any] = {}
    for table in ("experiment", "figure"):
        entries = raw.get(table, [])
        names = [e["name"] for e in entries]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"{path}: duplicate {table} name(s) {sorted(dup)}")
        out[table] = {e["name"]: e for e in entries}
    return out


def experiment(name: str) -> dict[str, Any]:
    """The manifest entry of experiment ``name`` (one-line error naming the known ones)."""
    exps = load_manifest()["experiment"]
    if name not in exps:
        raise KeyError(f"unknown experiment {name!r}; the manifest lists {sorted(exps)}")
    return exps[name]


def config_hashes(entry: dict[str, Any]) -> dict[str, str]:
    """SHA-256 of every config file of a manifest experiment entry (paths relative to ROOT)."""
    return {c: hashlib.sha256((ROOT / c).read_bytes()).hexdigest() for c in entry["configs"]}


def stale_reason(name: str) -> str | None:
    """Why experiment ``name``'s committed outputs cannot be used, or ``None`` when they can."""
    entry = experiment(name)
    data = ROOT / entry["data"]
    prov = data / "PROVENANCE.json"
    if not prov.is_file():
        return f"{entry['data']} has no PROVENANCE.json (never run through paper/build.py)"
    records = json.loads(prov.read_text())
    if "experiment" in records:  # a single record (the first format of this file)
        records = {records["experiment"]: records}
    record = records.get(name)
    if record is None:
        return f"{entry['data']}/PROVENANCE.json has no record of experiment {name!r}"
    recorded = record.get("configs", {})
    for cfg, digest in config_hashes(entry).items():
        if recorded.get(cfg) != digest:
            return f"{entry['data']} was made from another version of {cfg}"
    for out in entry.get("outputs", []):
        if not (data / out).exists():
            return f"{entry['data']}/{out} is missing"
    return None


def require_fresh(name: str) -> Path:
    """Return experiment ``name``'s output directory, or exit with a one-line error when stale."""
    why = stale_reason(name)
    if why is not None:
        sys.exit(f"error: {why}: run `python paper/build.py --rerun {name}` "
                 "(or `make paper-rerun`)")
    return ROOT / experiment(name)["data"]


def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "tolist"):  # NumPy scalars and arrays
        return _clean(v.tolist())
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def write_numbers(path: str | Path, numbers: dict[str, Any]) -> Path:
    """Write the numbers a figure's text quotes as strict JSON (NaN/inf as ``null``)."""
    path = Path(path)
    path.write_text(json.dumps(_clean(numbers), indent=1, allow_nan=False) + "\n")
    return path
