"""``validate`` and ``run`` agree on extreme but well-typed config values (issue 12).

Hypothesis starts from a tiny run config (1-D double well, MALA, 2 walkers, 4
steps) and replaces one or two of its values with extremes: integers near 0,
1, 2**31, 2**48, 2**63 and 2**64, tiny and huge floats (5e-324, 1e308, inf,
nan), negatives, strings with odd characters, values of the wrong type, lists
nested deeper than the reader allows, unknown keys.  For every config, either
both commands accept it and the run ends normally (exit 0, or exit 1 with one
"run diverged" line), or both refuse it with the same one ``Error:`` line and
exit 2; never a traceback.  Values that ``validate`` accepts but that would make
the run long (many steps or walkers) are not generated: those are range-checked
in test_config_limits.py.  ``LANGEVIN_OPT_STRESS_TRIALS=N`` runs N examples.
"""

from __future__ import annotations

import copy
import json
import math
import os
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langevin_opt.cli import cli
from langevin_opt.storage import H5MDReader

EXAMPLES = int(os.environ.get("LANGEVIN_OPT_STRESS_TRIALS", "0")) or 30

BASE = {
    "experiment": {"name": "fuzz", "seed": 7},
    "landscape": {"name": "double_well", "barrier": 2.0},
    "integrator": {"kind": "mala", "dt": 0.01},
    "ensemble": {"walkers": 2, "temperatures": [0.5], "steps": 4},
    "output": {"record_every": 2, "checkpoint_every": 2},
}

BIG_INTS = [2**31 - 1, 2**31, 2**31 + 1, 2**32, 2**48 - 1, 2**48, 2**53 + 1, 2**62,
            2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**30, 10**400, -1, -(2**31), -(2**63),
            -(2**63) - 1, -(2**64), -(10**400)]
SMALL_INTS = [0, 1, 2, 3, 4, 5]
FLOATS = [0.0, -0.0, 5e-324, 2.2e-308, 1e-300, 1e-30, 1e-3, 0.5, 1.0, 2.0, 1e30, 1.0000001e30,
          1e31, 1e-29, 1e-31, 1e300, 1e308, 1.7976931348623157e308, -1e-300, -0.5, -1e308, math.inf, -math.inf,
          math.nan]
ODD_TEXT = ["", " ", "a\x00b", "\x7f", "\u00b9", "minimum:\u00b9", "minimum:1\n", "\u202e",
            "\U0001f600", "x" * 10_000, "..", "/", "mala ", "MALA", "double_well\x00",
            "minimum:0", "minimum:1", "minimum:2", "minimum:999999999", "minimum:-1",
            "point", "uniform", "gzip", "lzf", "none", "constant", "linear", "geometric",
            "cosine", "array"]

ints = st.sampled_from(SMALL_INTS + BIG_INTS)
floats = st.sampled_from(FLOATS) | st.floats(allow_nan=True, allow_infinity=True)
texts = st.sampled_from(ODD_TEXT) | st.text(
    st.characters(blacklist_categories=("Cs",)), max_size=20)
nested = st.integers(1, 40).map(lambda d: "[" * d + "1" + "]" * d).map(lambda s: _Raw(s))
scalars = ints | floats | texts | st.booleans()
anything = scalars | st.lists(scalars, max_size=3) | nested | st.dictionaries(
    st.sampled_from(["a", "b\x00", "name"]), scalars, max_size=2)


class _Raw(str):
    """TOML text written as is (deeply nested arrays)."""


# Per field: its own extremes, mixed with values of any type.  Sizes that validate
# accepts but that would make the run long are left out (steps, walkers).
FIELDS = {
    ("experiment", "seed"): ints,
    ("experiment", "name"): texts,
    ("experiment", "description"): texts,
    ("landscape", "name"): texts,
    ("landscape", "barrier"): floats | ints,
    ("landscape", "tilt"): floats | ints,
    ("integrator", "kind"): texts,
    ("integrator", "dt"): floats | ints,
    ("integrator", "friction"): floats,
    ("ensemble", "walkers"): st.sampled_from([0, 1, 2, 3, -1, 2**31, *BIG_INTS[2:]]),
    ("ensemble", "temperatures"): st.lists(floats | ints, max_size=3) | floats,
    ("ensemble", "steps"): st.sampled_from([0, 1, 2, 3, 5, -1, *BIG_INTS[5:]]),
    ("ensemble", "init"): texts,
    ("ensemble", "point"): st.lists(floats, max_size=2),
    ("ensemble", "replica_exchange"): st.booleans() | ints | texts,
    ("ensemble", "swap_every"): ints,
    ("schedule", "kind"): texts,
    ("schedule", "final"): floats | ints,
    ("output", "record_every"): ints,
    ("output", "checkpoint_every"): ints,
    ("output", "compression"): texts,
    ("output", "unknown\u00e9"): ints,
}
field_names = st.sampled_from(sorted(FIELDS))


def toml_value(v: object) -> str:
    """One value as TOML (inline tables for dicts)."""
    if isinstance(v, _Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def toml_text(config: dict) -> str:
    return "".join(f"[{sec}]\n" + "".join(f"{json.dumps(k)} = {toml_value(v)}\n"
                                          for k, v in table.items())
                   for sec, table in config.items())


@st.composite
def configs(draw: st.DrawFn) -> dict:
    config = copy.deepcopy(BASE)
    for sec, key in draw(st.lists(field_names, min_size=1, max_size=2, unique=True)):
        value = draw(FIELDS[sec, key] | anything if draw(st.booleans()) else FIELDS[sec, key])
        config.setdefault(sec, {})[key] = value
    return config


def _one_line(result) -> str:  # noqa: ANN001
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get(
    "LANGEVIN_OPT_STRESS_TRIALS"), suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_validate_and_run_agree(config):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.toml"
        path.write_text(toml_text(config), encoding="utf-8")
        runner = CliRunner()
        checked = runner.invoke(cli, ["validate", str(path)])
        ran = runner.invoke(cli, ["run", str(path), "--out", str(Path(tmp) / "o"), "--quiet"])
        if checked.exit_code == 0:
            assert "Traceback" not in checked.output
            if ran.exit_code == 1:  # a run that diverges is a run: one line, frames kept
                assert _one_line(ran).startswith("Error: run diverged")
            else:
                assert ran.exit_code == 0, ran.output
                assert ran.exception is None or isinstance(ran.exception, SystemExit)
            with H5MDReader(Path(tmp) / "o" / "trajectory.h5") as r:
                assert r.parameters["config"]["ensemble"]["steps"] >= 1
        else:
            assert checked.exit_code == 2, checked.output
            assert ran.exit_code == 2, ran.output
            assert _one_line(ran) == _one_line(checked)
            assert not (Path(tmp) / "o").exists()
