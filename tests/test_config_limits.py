"""Config values the kernels cannot hold are refused by validate in one line (issue 12)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from langevin_opt.cli import cli

TINY = (Path(__file__).parent / "data" / "tiny_dw.toml").read_text()


def sub(key: str, val: object, text: str = TINY) -> str:
    return re.sub(rf"^{key} = .*$", lambda m: f"{key} = {val}", text, count=1, flags=re.M)


@pytest.mark.parametrize("text, field", [
    (sub("steps", 2**63 - 1), "[ensemble] steps"),
    (sub("steps", 2**48), "[ensemble] steps"),
    (sub("record_every", 2**63 - 1), "[output] record_every"),
    (sub("walkers", 2**62), "[ensemble] walkers"),
    (sub("walkers", 10**9), "[ensemble] walkers"),
    (sub("name", '"a\\u0000b"'), "[experiment] name"),
    (sub("temperatures", "[1e300]"), "[ensemble] temperatures"),
    (sub("dt", "1e308"), "[integrator] dt"),
    (TINY.replace("steps = 200", 'steps = 200\ninit = "minimum:\u00b9"'), "[ensemble] init"),
    (
     TINY.replace("barrier = 2.0", "barrier = 2.0\nx = " + "[" * 5000 + "]" * 5000),
     "nested too deeply"),
    # found by tests/test_config_fuzz.py: validate accepted these, run crashed
    (sub("temperatures", "[1e-300]"), "[ensemble] temperatures"),
    (sub("barrier", 10**400), "[landscape] barrier"),
    (sub("barrier", "1e300"), "[landscape] barrier"),
    (TINY.replace("barrier = 2.0", "barrier = 2.0\ntilt = -1e308"), "[landscape] tilt"),
    (sub("dt", 10**400), "[integrator] dt"),
    (sub("temperatures", f"[{10**400}]"), "[ensemble] temperatures"),
    (TINY.replace("steps = 200", 'steps = 200\ninit = "point"\npoint = [1e308]'),
     "[ensemble] point"),
    (TINY.replace('name = "double_well"\nbarrier = 2.0', 'name = "muller_brown"')
     .replace("steps = 200", 'steps = 200\ninit = "point"\npoint = [1000.0, 1000.0]'),
     "[ensemble] point"),
])
def test_validate_refuses_in_one_line(tmp_path, text, field):
    path = tmp_path / "c.toml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and field in lines[0]


def test_fifo_config_is_refused(tmp_path):
    fifo = tmp_path / "c.toml"
    os.mkfifo(fifo)
    result = CliRunner().invoke(cli, ["validate", str(fifo)])
    assert result.exit_code == 2
    assert "not a regular file" in result.stderr


@pytest.mark.parametrize("text", [sub("seed", 2**64 - 1), sub("checkpoint_every", 10**9),
                                  sub("barrier", 2**64), sub("dt", 1),
                                  sub("temperatures", "[1e-30, 1e30]")])
def test_extreme_but_valid_values_run(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    assert CliRunner().invoke(cli, ["validate", str(path)]).exit_code == 0
    result = CliRunner().invoke(cli, ["run", str(path), "--out", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 0, result.output
