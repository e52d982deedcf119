"""The README's command-line examples run as written (issue 18).

Every ```bash / ```console / ```sh / ```shell block of README.md is read and every line
that starts with ``langevin-opt`` is one of:

* a **synopsis** (it holds a placeholder such as ``CONFIG.toml``, ``FILE``, ``DIR``, ``N``
  or an ``[--option]``): every option it names, and every choice it lists after an option,
  must appear in that command's ``--help``;
* an **excluded** command (:data:`EXCLUDED`: too long for the test suite): the config it
  names is validated instead, and a small stand-in writes the outputs the later examples
  read, at the same path;
* any other command: run as written (in a temporary directory holding ``experiments/``),
  in README order; it must exit with status 0.

A command added to the README is therefore run unless it is listed in :data:`EXCLUDED`
with its reason, and an :data:`EXCLUDED` entry the README no longer has fails the test.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from langevin_opt.cli import cli

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BLOCK = re.compile(r"^```(bash|console|sh|shell)\n(.*?)^```", re.M | re.S)
#: An upper-case placeholder (CONFIG.toml, FILE, DIR, N, ADDR, FIG.png), not an option value.
PLACEHOLDER = re.compile(r"(?<![\w/.\-])(?:[A-Z][A-Z_]*)(?:\.\w+)?(?:\.\.\.)?(?![\w/])")


def readme_commands() -> list[str]:
    """Every ``langevin-opt`` line of the shell blocks, in order, comments and ``$ `` removed."""
    out = []
    for m in BLOCK.finditer(README.read_text()):
        for line in m.group(2).splitlines():
            line = line.strip().removeprefix("$ ").strip()
            if not line.startswith("langevin-opt"):
                continue
            out.append(" ".join(shlex.split(line, comments=True)))
    return out


def is_synopsis(cmd: str) -> bool:
    """A usage line (placeholders, ``[optional]`` parts), not a command to run."""
    body = cmd.split(None, 2)[2] if len(cmd.split()) > 2 else ""
    return "[" in cmd or bool(PLACEHOLDER.search(body))


# --------------------------------------------------------------------------------------
# commands not run here, each with its reason; its config is validated instead and
# ``stand_in`` writes, at the same path, what the later examples read
# --------------------------------------------------------------------------------------


def _quickstart_cut(work: Path) -> None:
    """The quickstart config cut to 10 chains x 200 steps, written to runs/quickstart."""
    text = (work / "experiments" / "quickstart.toml").read_text()
    text = re.sub(r"(?m)^walkers = \d+", "walkers = 10", text)
    text = re.sub(r"(?m)^steps = \d+", "steps = 200", text)
    text = re.sub(r"(?m)^record_every = \d+", "record_every = 100", text)
    text = re.sub(r"(?m)^checkpoint_every = \d+", "checkpoint_every = 200", text)
    cfg = work / "quickstart_cut.toml"
    cfg.write_text(text)
    r = CliRunner().invoke(cli, ["run", str(cfg), "--out", "runs/quickstart", "--quiet"])
    assert r.exit_code == 0, r.output


EXCLUDED: dict[str, tuple[str, Callable[[Path], None] | None]] = {
    # 12,000 walkers x 20,000 steps: 11 s warm, 23 s with an empty kernel cache on 2 cores
    "langevin-opt run experiments/quickstart.toml --out runs/quickstart --quiet": (
        "a 10-20 s run; its config is validated and a 200-step cut writes runs/quickstart",
        _quickstart_cut),
    # six points of 50,000 steps on a local Dask cluster: worker start-up alone is 10-30 s
    "langevin-opt sweep experiments/sweeps/double_well_sweep.toml --out runs/dw_sweep "
    "--workers 2": (
        "starts a local Dask cluster of 2 processes (30-40 s here); its config and every "
        "point are validated (tests/test_sweep.py runs the command)", None),
}


def _config_of(cmd: str) -> str:
    args = shlex.split(cmd)[2:]
    cfg = [a for a in args if a.endswith(".toml")]
    assert cfg, f"excluded command {cmd!r} names no config to validate"
    return cfg[0]


# --------------------------------------------------------------------------------------
# the tests
# --------------------------------------------------------------------------------------


def test_readme_has_the_command_line_examples():
    cmds = readme_commands()
    assert len(cmds) >= 15
    names = {c.split()[1] for c in cmds}
    for name in ("run", "validate", "inspect", "plot", "list", "arrhenius", "fit-potential",
                 "active-learn", "sweep", "warmup"):
        assert name in names, name
    runnable = [c for c in cmds if not is_synopsis(c)]
    assert {c.split()[1] for c in runnable} >= {"validate", "run", "inspect", "plot", "sweep"}
    for cmd in EXCLUDED:
        assert cmd in cmds, f"EXCLUDED lists {cmd!r}, which the README no longer has"
        assert not is_synopsis(cmd)


def test_placeholders_tell_synopses_from_commands():
    assert is_synopsis("langevin-opt run CONFIG.toml")
    assert is_synopsis("langevin-opt inspect FILE --verify")
    assert is_synopsis("langevin-opt list [--all]")
    assert not is_synopsis("langevin-opt plot runs/q/trajectory.h5 --kind histogram -T 0.3")
    assert not is_synopsis("langevin-opt validate experiments/quickstart.toml")
    assert not is_synopsis("langevin-opt list")


def _help(name: str) -> str:
    r = CliRunner().invoke(cli, [name, "--help"])
    assert r.exit_code == 0, (name, r.output)
    return " ".join(r.output.split())


@pytest.mark.parametrize("cmd", [c for c in readme_commands() if is_synopsis(c)])
def test_readme_synopsis_matches_the_help(cmd):
    """Every option and choice a usage line names exists in ``langevin-opt CMD --help``."""
    name = cmd.split()[1]
    text = _help(name)
    for opt in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", cmd.split(None, 2)[2]
                          if len(cmd.split()) > 2 else ""):
        assert re.search(rf"(?<![\w-]){re.escape(opt)}\b", text), (cmd, opt)
    for opt, choices in re.findall(r"(--[\w-]+) ([\w-]+(?:\|[\w-]+)+)", cmd):
        for choice in choices.split("|"):
            assert re.search(rf"(?<![\w-]){re.escape(choice)}(?![\w-])", text), \
                (cmd, opt, choice)


def test_readme_commands_run(tmp_path, monkeypatch):
    """Run every README command in order (excluded ones: validate and the stand-in)."""
    (tmp_path / "experiments").symlink_to(REPO / "experiments", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    ran, excluded = [], []
    for cmd in readme_commands():
        if is_synopsis(cmd):
            continue
        if cmd in EXCLUDED:
            config = _config_of(cmd)
            r = CliRunner().invoke(cli, ["validate", config])
            assert r.exit_code == 0, (cmd, r.output)
            assert r.output.startswith("ok: "), r.output
            stand_in = EXCLUDED[cmd][1]
            if stand_in is not None:
                stand_in(tmp_path)
            excluded.append(cmd)
            continue
        args = shlex.split(cmd)[1:]
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 0, f"{cmd}\n{r.output}"
        ran.append(cmd)
    assert ran and len(excluded) == len(EXCLUDED)
    # what the examples promise: the histogram and the summary figure were written
    assert (tmp_path / "runs" / "quickstart" / "hist.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "runs" / "quickstart" / "temperatures.png").is_file()


@pytest.mark.parametrize("bad", ["langevin-opt run CONFIG.toml [--verbose]",
                                 "langevin-opt plot FILE [--kind energy|bogus]",
                                 "langevin-opt run CONFIG.toml [--backend cpu|tpu]"])
def test_the_synopsis_check_catches_what_the_cli_lacks(bad):
    with pytest.raises(AssertionError):
        test_readme_synopsis_matches_the_help(bad)
