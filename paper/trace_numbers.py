"""Trace every number of ``paper.md`` to an output: no number typed by hand.

Rules (checked by ``tests/test_paper.py`` and by ``paper/build.py`` before rendering):

* Every number in the body of the paper (prose, tables, captions; not the YAML header, code,
  citations, link targets or the reference list) must equal a numeric value of a figure JSON
  (``paper/figures/*.json``) *formatted with the same rounding*: ``0.82`` matches a value
  ``v`` when ``f"{v:.2f}" == "0.82"``, ``5.7e7`` when ``f"{v:.1e}"`` reads ``5.7e+07``, and a
  number followed by ``%`` may also be ``100 v``.
* A section whose heading is followed by ``<!-- numbers: a.json, b.json -->`` draws only on
  those files (and the configs below), so a number cannot be matched by accident elsewhere.
* Inputs rather than results (a temperature grid, a walker count) may instead come from the
  committed config files of the manifest's experiments (any numeric literal in them).
* Integers from 0 to 10 (counts, dimensions: "2-D", "two cores") and four-digit years are
  exempt.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "figures"))
from _paper import FIGURES, ROOT, load_manifest  # noqa: E402

NUMBER = re.compile(r"(?<![\w.^/-])([-\u2212]?\d+(?:\.\d+)?(?:[eE][-+\u2212]?\d+)?)(?![\w.]*\w)"
                    r"(\s*%)?")
MARKER = re.compile(r"<!--\s*numbers:\s*(.*?)\s*-->")


def body_text(md: str) -> str:
    """``paper.md`` without its YAML header, code, comments except markers, citations, URLs
    and the reference section."""
    md = re.sub(r"\A---\n.*?\n---\n", "", md, flags=re.S)
    md = re.sub(r"(?ms)^# References.*", "", md)
    md = re.sub(r"```.*?```", "", md, flags=re.S)
    md = re.sub(r"`[^`]*`", "", md)
    md = re.sub(r"\[@[^\]]*\]", "", md)
    md = re.sub(r"\]\([^)]*\)", "]", md)  # link and image targets
    md = re.sub(r"<!--(?!\s*numbers:).*?-->", "", md, flags=re.S)
    return md


def numeric_leaves(obj: object) -> Iterable[float]:
    """Every number in a JSON document (booleans excluded)."""
    if isinstance(obj, bool) or obj is None:
        return
    if isinstance(obj, (int, float)):
        yield float(obj)
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from numeric_leaves(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from numeric_leaves(v)


def config_numbers() -> set[float]:
    """Numeric literals of every config file the manifest's experiments name."""
    out: set[float] = set()
    for entry in load_manifest()["experiment"].values():
        for cfg in entry["configs"]:
            text = (ROOT / cfg).read_text()
            for tok in re.findall(r"(?<![\w.])\d[\d_]*(?:\.\d+)?(?:[eE][-+]?\d+)?", text):
                try:
                    out.add(float(tok.replace("_", "")))
                except ValueError:
                    pass
    return out


def _formats(token: str) -> tuple[str, int]:
    """('f' or 'e', decimals) of a number as written."""
    t = token.replace("\u2212", "-").lstrip("-")
    if "e" in t.lower():
        mant = t.lower().split("e")[0]
        return "e", len(mant.split(".")[1]) if "." in mant else 0
    return "f", len(t.split(".")[1]) if "." in t else 0


def _normal(token: str) -> str:
    t = token.replace("\u2212", "-")
    if "e" in t.lower():
        mant, exp = t.lower().split("e")
        return f"{mant}e{int(exp)}"
    return t


def matches(token: str, value: float, percent: bool = False) -> bool:
    """Whether ``value`` (or ``100 value`` for a percentage) rounds to ``token`` as written."""
    if not math.isfinite(value):
        return False
    kind, d = _formats(token)
    want = _normal(token)
    for v in ((value, 100 * value) if percent else (value,)):
        if kind == "f":
            got = f"{v:.{d}f}"
        else:
            mant, exp = f"{v:.{d}e}".split("e")
            got = f"{mant}e{int(exp)}"
        if got == want or (got.startswith("-") and got[1:] == want and v == 0):
            return True
    return False


def exempt(token: str) -> bool:
    """Small integers and years."""
    t = token.replace("\u2212", "-")
    if re.fullmatch(r"-?\d+", t):
        n = int(t)
        return 0 <= n <= 10 or 1900 <= n <= 2030
    return False


def load_jsons(names: Iterable[str] | None = None) -> dict[str, list[float]]:
    """Numeric leaves of the named figure JSONs (all of ``paper/figures/*.json`` by default)."""
    paths = sorted(FIGURES.glob("*.json")) if names is None else [FIGURES / n for n in names]
    out = {}
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"paper.md names {p.name}, which no figure wrote")
        out[p.name] = list(numeric_leaves(json.loads(p.read_text())))
    return out


def untraced(md: str) -> list[tuple[str, str, str]]:
    """``(section, number, context)`` for every number of ``md`` that traces to nothing."""
    everything = load_jsons()
    inputs = config_numbers()
    problems = []
    for section in re.split(r"(?m)^(?=#{1,3} )", body_text(md)):
        heading = section.splitlines()[0] if section.strip() else ""
        m = MARKER.search(section)
        pools = (load_jsons(n.strip() for n in m.group(1).split(",")) if m else everything)
        values = [v for vals in pools.values() for v in vals]
        text = MARKER.sub("", section)
        if text.startswith("#"):
            text = text.split("\n", 1)[1] if "\n" in text else ""
        for hit in NUMBER.finditer(text):
            tok, pct = hit.group(1), bool(hit.group(2))
            if exempt(tok):
                continue
            if any(matches(tok, v, pct) for v in values):
                continue
            if any(matches(tok, v) for v in inputs):
                continue
            a, b = max(0, hit.start() - 40), min(len(text), hit.end() + 40)
            problems.append((heading.strip("# ").strip(), tok,
                             " ".join(text[a:b].split())))
    return problems


def main() -> None:
    md = (ROOT / "paper" / "paper.md").read_text()
    bad = untraced(md)
    for section, tok, ctx in bad:
        print(f"untraced number {tok} in '{section}': ...{ctx}...")
    if bad:
        sys.exit(f"error: {len(bad)} number(s) in paper/paper.md trace to no figure JSON")
    print("every number in paper/paper.md traces to a figure JSON or a config")


if __name__ == "__main__":
    main()
