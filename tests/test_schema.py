"""Config schema: defaults, round trip of stored configs, one-line errors."""

import json
from pathlib import Path

import pytest

from langevin_opt.schema import ConfigError, load_config, validate_config

ALL = sorted((Path(__file__).parent.parent / "experiments").glob("*.toml"))
# configs of `langevin-opt run`; `arrhenius` configs and the flatness experiment have their own
ARRHENIUS = [p for p in ALL if p.name.startswith("arrhenius_")]
EXPERIMENTS = [p for p in ALL if p not in ARRHENIUS and p.name != "flatness.toml"]


def test_every_shipped_config_is_covered():
    assert len(EXPERIMENTS) >= 2 and len(ARRHENIUS) >= 3


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_shipped_experiments_validate_and_round_trip(path):
    exp = load_config(path)
    stored = json.loads(json.dumps(exp.config))  # what the HDF5 parameters hold
    again = validate_config(stored)
    assert again.config == exp.config
    exp.landscape(), exp.integrator(), exp.schedule()


@pytest.mark.parametrize("path", ARRHENIUS, ids=lambda p: p.name)
def test_shipped_arrhenius_configs_validate_and_round_trip(path):
    from langevin_opt.schema.arrhenius import load_rates_config, validate_rates_config

    exp = load_rates_config(path)
    again = validate_rates_config(json.loads(json.dumps(exp.config)))
    assert again.config == exp.config
    if exp.is_network:  # no integrator: the dynamics is [rates] method
        _, net, ls = exp.network()
        assert net.n_params == ls.n_params and ls.batch_size == ls.n_data
        return
    exp.integrator()
    if exp.is_cluster:
        exp.cluster()
    else:
        exp.landscape()


def base():
    return {
        "experiment": {"name": "t", "seed": 1},
        "landscape": {"name": "double_well"},
        "integrator": {"kind": "overdamped", "dt": 0.01},
        "ensemble": {"walkers": 4, "temperatures": [1.0], "steps": 10},
    }


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda c: c["ensemble"].update(walkres=3), r"\[ensemble\] unknown key 'walkres' \(did you mean 'walkers'\?\)"),
        (lambda c: c["ensemble"].update(walkers="4"), r"\[ensemble\] walkers: must be an integer"),
        (lambda c: c["ensemble"].update(walkers=0), r"\[ensemble\] walkers: must be in \[1, 2\*\*31\]"),
        (lambda c: c["ensemble"].pop("steps"), r"\[ensemble\] steps: missing \(required\)"),
        (lambda c: c.pop("integrator"), r"\[integrator\] section is missing"),
        (lambda c: c["integrator"].update(dt=-1.0), r"\[integrator\] dt must be a finite number > 0"),
        (lambda c: c["integrator"].update(kind="mal"), r"\[integrator\] kind: .*did you mean 'mala'"),
        (lambda c: c["landscape"].update(barier=1.0), r"\[landscape\] unknown setting 'barier'.*did you mean 'barrier'"),
        (lambda c: c["landscape"].update(name="double_wel"), r"did you mean 'double_well'"),
        (lambda c: c.update(extra={}), r"config: unknown section \[extra\]; allowed: experiment, "),
        (lambda c: c["experiment"].update(seed=-1), r"\[experiment\] seed: must be in \[0, 2\*\*64\)"),
        (lambda c: c.update(schedule={"kind": "linear"}), r"\[schedule\] final: missing"),
        (lambda c: c["ensemble"].update(init="minimum:7"), r"\[ensemble\] init: landscape 'double_well' has 2 known minima"),
        (lambda c: c["landscape"].update(barrier="2"), r"\[landscape\] barrier: must be a number or an array of numbers, got string"),
        (lambda c: c["landscape"].update(tilt=True), r"\[landscape\] tilt: must be a number"),
        (lambda c: c.update(landscape={"name": "rastrigin", "dim": 10**9}), r"\[landscape\] dim must be an integer in \[1, 4096\]"),
        (lambda c: c.update(landscape={"name": "rastrigin", "dim": 2.0}), r"\[landscape\] dim: must be an integer, got number"),
    ],
)
def test_errors_are_one_line_naming_the_key(mutate, message):
    cfg = base()
    mutate(cfg)
    with pytest.raises(ConfigError, match=message) as info:
        validate_config(cfg)
    assert "\n" not in str(info.value)


def test_toml_syntax_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[experiment\nname = 1\n")
    with pytest.raises(ConfigError, match="TOML syntax error"):
        load_config(bad)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")
