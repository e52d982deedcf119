"""Issue 18, one consistent CLI: every config kind and output kind, labels, colours, list.

``validate`` knows every config kind and a config given to the wrong command is a
one-line error naming the right one; ``inspect`` and ``plot`` understand walker runs,
arrhenius first-passage files and particle trajectories; swap acceptance is one
dataset; the arrhenius table and the energy plot label every series unambiguously.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from langevin_opt.cli import cli
from langevin_opt.schema.kinds import config_kind

REPO = Path(__file__).resolve().parents[1]
EXP = REPO / "experiments"
PNG = b"\x89PNG\r\n\x1a\n"

FIT = """
[experiment]
name = "tiny_fit"
seed = 0
[data]
train = "train.xyz"
[descriptor]
cutoff = 4.0
[training]
max_iter = 5
"""
ACTIVE = """
[experiment]
name = "tiny_active"
seed = 0
[data]
initial = "train.xyz"
test = "train.xyz"
[descriptor]
cutoff = 4.0
[active]
rounds = 1
"""


def invoke(*args: object):  # noqa: ANN201
    return CliRunner().invoke(cli, [str(a) for a in args])


def error_line(result) -> str:  # noqa: ANN001
    """Assert a one-line user error without traceback (exit 2); return the line."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


@pytest.fixture
def mlip_configs(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "train.xyz").write_text("")
    out = {}
    for kind, text in (("fit-potential", FIT), ("active-learn", ACTIVE)):
        out[kind] = tmp_path / f"{kind}.toml"
        out[kind].write_text(text)
    return out


# --------------------------------------------------------------------------------------
# configs: validate every kind, wrong command -> one line naming the right one
# --------------------------------------------------------------------------------------

SHIPPED = {"quickstart.toml": "run", "muller_brown.toml": "run",
           "arrhenius_double_well.toml": "arrhenius", "arrhenius_lj7.toml": "arrhenius",
           "arrhenius_muller_brown.toml": "arrhenius", "arrhenius_nn.toml": "arrhenius",
           "flatness.toml": "flatness"}


def test_every_shipped_config_has_a_kind_and_validates():
    from langevin_opt.schema import read_toml

    assert sorted(p.name for p in EXP.glob("*.toml")) == sorted(SHIPPED)
    for name, kind in SHIPPED.items():
        assert config_kind(read_toml(EXP / name)) == kind, name
        result = invoke("validate", EXP / name)
        assert result.exit_code == 0, (name, result.output)
        assert result.stdout.startswith("ok: "), result.stdout
        if kind != "run":
            assert kind in result.stdout


def test_validate_fit_potential_and_active_learn(mlip_configs):
    for kind, path in mlip_configs.items():
        result = invoke("validate", path)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"ok: tiny_{kind.split('-')[0]} ({kind} config; "
                                        f"run with langevin-opt {kind} {path}")


def test_validate_errors_of_other_kinds_are_one_line(tmp_path, mlip_configs):
    bad = tmp_path / "bad_arr.toml"
    bad.write_text((EXP / "arrhenius_double_well.toml").read_text().replace(
        "walkers = ", "walkres = ", 1))
    assert "[rates] unknown key 'walkres'" in error_line(invoke("validate", bad))
    bad = tmp_path / "bad_flat.toml"
    bad.write_text((EXP / "flatness.toml").read_text() + "\n[sgld2]\nx = 1\n")
    assert "unknown section [sgld2]" in error_line(invoke("validate", bad))
    unknown = tmp_path / "notes.toml"
    unknown.write_text('[notes]\ntext = "hello"\n')
    assert "cannot tell what kind of config" in error_line(invoke("validate", unknown))


@pytest.mark.parametrize("command", ["run", "arrhenius", "fit-potential", "active-learn"])
def test_wrong_command_names_the_right_one(command, mlip_configs, tmp_path):
    configs = {"run": EXP / "quickstart.toml", "arrhenius": EXP / "arrhenius_nn.toml",
               "flatness": EXP / "flatness.toml", **mlip_configs}
    out = tmp_path / "out"
    for kind, path in configs.items():
        if kind == command:
            continue
        args = [command, path, "--out", out]
        line = error_line(invoke(*args))
        assert f"{path}: this is a" in line and f"not a{'n' if command[0] == 'a' else ''} {command} config;" in line
        hint = "langevin_opt.nn.experiment.temperature_ladder_experiment" if kind == "flatness" else \
            f"langevin-opt {kind} {path}"
        assert f"run it with: {hint}" in line, line
        assert not out.exists()
