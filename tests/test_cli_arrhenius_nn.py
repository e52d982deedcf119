"""``langevin-opt arrhenius`` with a ``[network]`` config (issue 16 §3): Langevin and SGD.

The network is the one of ``experiments/nn_escape.py`` (2-4-2 tanh, 40 two-moons points,
prior sigma 2), whose two lowest minima classes and CI-NEB barrier (0.98551) are known;
the grids are cut to a few walkers and steps.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from langevin_opt.cli import cli
from langevin_opt.rates.cli import load_first_passage
from langevin_opt.rates.estimators import estimate_rate
from langevin_opt.schema import ConfigError
from langevin_opt.schema.arrhenius import load_rates_config, validate_rates_config
from langevin_opt.storage import H5MDReader

REPO = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"
BARRIER = 0.9855061637197533  # paper/figures/nn_escape/results.json

HEAD = """
[experiment]
name = "tiny_nn"
seed = 1

[data]
kind = "two_moons"
n_train = 40
noise = 0.3
seed = 2

[network]
hidden = [4]
activation = "tanh"
prior_sigma = 2.0
init_gain = 2.0
n_starts = 12
"""
LANGEVIN = HEAD + """
[rates]
temperatures = [0.8, 1.2]
walkers = 4
max_steps = 1600
chunk = 200
quench_steps = 200
step_size = 0.004
bootstrap = 20
"""
SGD = HEAD + """
[rates]
method = "sgd"
learning_rates = [0.03]
batch_sizes = [1, 4]
walkers = 4
max_steps = 1600
chunk = 200

[theory]
enabled = false
"""


def invoke(*args: object):  # noqa: ANN201
    return CliRunner().invoke(cli, [str(a) for a in args])


def error_line(result) -> str:  # noqa: ANN001
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def _run(tmp_path_factory: pytest.TempPathFactory, text: str):  # noqa: ANN202
    d = tmp_path_factory.mktemp("nn")
    cfg = d / "tiny.toml"
    cfg.write_text(text)
    out = d / "out"
    result = invoke("arrhenius", cfg, "--out", out)
    assert result.exit_code == 0, result.output
    return out, result


@pytest.fixture(scope="module")
def langevin(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return _run(tmp_path_factory, LANGEVIN)


@pytest.fixture(scope="module")
def sgd(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return _run(tmp_path_factory, SGD)


def _check_common(out: Path, n_rows: int) -> tuple[dict, dict]:
    """Layout shared by both methods; the table re-estimated from the file matches."""
    m = 4 * n_rows
    h5 = out / "first_passage.h5"
    with H5MDReader(h5) as r:
        assert r.n_particles == m and r.dim == 22  # one walker = 22 network parameters
        start = r.position(0)
        steps, _, fpt = r.observable("first_passage_time")
        assert fpt.shape == (1, m) and steps[0] == 1600
        params = r.parameters
    assert params["kind"] == "arrhenius" and params["seed"] == 1
    assert params["config"]["network"]["loss"] == "softmax_ce"  # "auto" for two moons
    with h5py.File(h5) as f:
        assert f["first_passage/position"].shape == (m, 22)
        assert f["h5md"].attrs["version"].tolist() == [1, 1]
    back = load_first_passage(h5)
    summary = json.loads((out / "summary.json").read_text())
    assert np.all(back["start"] == start[0]) and np.all(back["start_basin"] == 0)
    done = ~back["censored"]
    assert np.all(back["final_basin"][done] >= 1) and np.all(back["final_basin"][~done] == -1)
    assert np.all(np.isfinite(back["positions"][done]))
    assert np.all(np.isnan(back["positions"][~done]))
    e = summary["minima_energies"]  # the known classes, lowest first, then new products
    n_known = len(summary["minima_counts"])
    assert n_known >= 2 and e[:n_known] == sorted(e[:n_known])
    assert summary["start_energy"] == pytest.approx(e[0], abs=1e-9)
    with h5py.File(h5) as f:
        e_prod = f["observables/product_energy/value"][0]
    np.testing.assert_allclose(e_prod[done], np.asarray(e)[back["final_basin"][done]], atol=1e-6)
    rows = summary["rows"]
    assert len(rows) == n_rows
    for k, row in enumerate(rows):
        sl = slice(4 * k, 4 * (k + 1))
        est = estimate_rate(back["times"][sl], back["censored"][sl], level=0.95,
                            seed=1 + k)
        assert row["rate"] == pytest.approx(est["rate"], rel=1e-12)
        assert row["events"] + row["censored"] == 4
        assert sum(row["final_basins"]) == row["events"]
    assert (out / "arrhenius.png").read_bytes()[:8] == PNG
    return back, summary


def test_langevin_writes_h5md_summary_and_plot(langevin):
    out, _ = langevin
    back, s = _check_common(out, 2)
    assert s["method"] == "langevin" and s["layer_sizes"] == [2, 4, 2]
    assert np.array_equal(back["temperature"], np.repeat([0.8, 1.2], 4))
    eta = s["step_size"]
    assert eta == 0.004
    cens = back["censored"]
    assert np.allclose(back["times"][cens], 1600 * eta)
    # escape times are the middle of a check interval of 200 steps
    assert np.all(back["steps"][~cens] % 200 == 100)
    assert np.allclose(back["times"], back["steps"] * eta)
    th = s["theory"]
    assert th["converged"] and th["negative_modes"] == 1 and th["partner"] == 1
    assert th["barrier"] == pytest.approx(BARRIER, rel=1e-4)
    ek = th["formulas"]["Eyring-Kramers"]
    assert len(ek) == 2 and 0 < ek[0] < ek[1]  # the rate grows with T
    assert s["rows"][0]["theory_Eyring-Kramers"] == ek[0]
    if all(r["events"] for r in s["rows"]):
        assert "fit" in s


def test_langevin_prints_the_table(langevin):
    out, result = langevin
    text = result.output
    assert "2-4-2 tanh MLP on two_moons, langevin, 4 walkers x 2 temperatures" in text
    assert "T  events censored" in text and "Eyring-Kramers" in text
    assert "channel to E = " in text and "barrier 0.9855" in text
    for t in ("0.8", "1.2"):
        assert any(line.split()[:1] == [t] for line in text.splitlines())
    assert str(out / "arrhenius.png") in text


def test_sgd_writes_h5md_summary_and_plot(sgd):
    out, result = sgd
    back, s = _check_common(out, 2)
    assert s["method"] == "sgd" and s["settings"] == [[0.03, 1], [0.03, 4]]
    assert "fit" not in s and "theory" not in s
    assert [(r["learning_rate"], r["batch_size"]) for r in s["rows"]] == [(0.03, 1), (0.03, 4)]
    assert np.all(np.isnan(back["temperature"]))
    with H5MDReader(out / "first_passage.h5") as r:
        lr = r.observable("learning_rate")[2][0]
        bs = r.observable("batch_size")[2][0]
    assert np.all(lr == 0.03) and np.array_equal(bs, np.repeat([1, 4], 4))
    # SGD time is learning_rate * steps
    np.testing.assert_allclose(back["times"], 0.03 * back["steps"], rtol=1e-12)
    assert sum(r["events"] for r in s["rows"]) >= 1  # batch size 1 at lr 0.03 escapes fast
    text = result.output
    assert "lr  batch  events censored" in text and "x 2 settings" in text


def test_sgd_same_streams_as_one_call(sgd):
    # row k is run with stream offset k * walkers: the grid split into one call per setting
    # gives the walkers of one call over the whole grid
    from langevin_opt.nn.escape import sgd_first_passage

    out, _ = sgd
    exp = load_rates_config(out.parent / "tiny.toml")
    from langevin_opt.rates.network import network_system

    system = network_system(exp)
    r = sgd_first_passage(system.landscape, system.minima[0], exp.settings(), 1600,
                          net=system.net, walkers=4, check_every=200, quench_steps=200,
                          seed=1)
    back = load_first_passage(out / "first_passage.h5")
    np.testing.assert_array_equal(r.censored, back["censored"])
    np.testing.assert_allclose(r.time, back["times"], rtol=1e-12)


def test_shipped_example_validates():
    exp = load_rates_config(REPO / "experiments" / "arrhenius_nn.toml")
    assert exp.is_network and exp.method == "langevin"
    assert exp.config["theory"]["n_images"] == 9  # the network default
    assert exp.system_name == "2-4-2 tanh MLP on two_moons"
    with pytest.raises(ValueError, match="no integrator"):
        exp.integrator()
    # normalised configs validate again to themselves (they are stored in the H5MD file)
    again = validate_rates_config(json.loads(json.dumps(exp.config)))
    assert again.config == exp.config
    sgd = validate_rates_config(__import__("tomllib").loads(SGD))
    assert validate_rates_config(json.loads(json.dumps(sgd.config))).config == sgd.config
    assert sgd.settings() == [(0.03, 1), (0.03, 4)] and sgd.max_steps() == [1600, 1600]


@pytest.mark.parametrize(("text", "edit", "match"), [
    (LANGEVIN, ("[network]", "[landscape]\nname = \"double_well\"\n[network]"),
     "needs exactly one of the sections [landscape] (walkers), [cluster] (atoms) and "
     "[network]"),
    (LANGEVIN, ("[rates]", "[integrator]\nkind = \"overdamped\"\ndt = 0.01\n[rates]"),
     "[integrator] not used with [network]"),
    (LANGEVIN, ("[data]\nkind = \"two_moons\"\n", "[datum]\n"), "unknown section [datum]"),
    (LANGEVIN, ("kind = \"two_moons\"", "kind = \"mnist\""), "[data] kind: must be one of"),
    (LANGEVIN, ("hidden = [4]", "hidden = [4]\nloss = \"mse\""),
     "[network] loss: must be auto or softmax_ce"),
    (LANGEVIN, ("activation = \"tanh\"", "activation = \"tanhh\""), "[network] activation"),
    (LANGEVIN, ("n_starts = 12", "n_starts = 0"), "[network] n_starts"),
    (LANGEVIN, ("n_starts = 12", "n_starts = 12\nhidden_units = 3"),
     "[network] unknown key 'hidden_units'"),
    (LANGEVIN, ("[rates]", "[rates]\nmethod = \"adam\""),
     "[rates] method: must be one of langevin, sgd"),
    (LANGEVIN, ("max_steps = 1600", "max_steps = 1500"),
     "[rates] max_steps: must be a multiple of chunk=200"),
    (LANGEVIN, ("max_steps = 1600", "max_steps = [1600]"),
     "[rates] max_steps: needs one entry per temperature (2)"),
    (LANGEVIN, ("[rates]", "[rates]\nstart = 1"), "[rates] start: not used with [network]"),
    (LANGEVIN, ("[rates]", "[rates]\nbatch_sizes = [4]"),
     "[rates] batch_sizes: only used with method = \"sgd\""),
    (LANGEVIN, ("temperatures = [0.8, 1.2]\n", ""), "[rates] temperatures: missing"),
    (LANGEVIN, ("step_size = 0.004", "step_size = -1.0"), "[rates] step_size"),
    (SGD, ("[rates]", "[rates]\ntemperatures = [1.0]"),
     "[rates] temperatures: not used with method = \"sgd\""),
    (SGD, ("batch_sizes = [1, 4]", "batch_sizes = [1, 41]"),
     "[rates] batch_sizes: must all be in [1, n_train=40], got 41"),
    (SGD, ("learning_rates = [0.03]", "learning_rates = [0.03, 0.0]"),
     "[rates] learning_rates: must all be > 0"),
    (SGD, ("batch_sizes = [1, 4]", "batch_sizes = [4, 4]"), "[rates] batch_sizes: must be distinct"),
    (SGD, ("learning_rates = [0.03]\n", ""), "[rates] learning_rates: missing (required"),
    (SGD, ("max_steps = 1600", "max_steps = [1600, 1600, 1600]"),
     "[rates] max_steps: needs one entry per (learning rate, batch size) pair (2)"),
])
def test_bad_config_is_one_line_exit_2(tmp_path, text, edit, match):
    assert edit[0] in text
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text.replace(edit[0], edit[1], 1))
    result = invoke("arrhenius", cfg, "--out", tmp_path / "o")
    assert result.exit_code == 2, result.output
    line = error_line(result)
    assert match in line, line
    assert not (tmp_path / "o").exists()


def test_start_beyond_the_minima_found_is_one_line_no_files(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(LANGEVIN.replace("n_starts = 12", "n_starts = 12\nstart = 40"))
    result = invoke("arrhenius", cfg, "--out", tmp_path / "o")
    assert result.exit_code == 2, result.output
    line = error_line(result)
    assert "[network] start: the 12 starts found" in line and "got 40" in line
    assert not (tmp_path / "o").exists()


def test_network_keys_refused_for_landscapes():
    raw = {"experiment": {"name": "x", "seed": 1}, "landscape": {"name": "double_well"},
           "integrator": {"kind": "overdamped", "dt": 1e-3},
           "rates": {"temperatures": [0.3], "walkers": 2, "max_steps": 10,
                     "method": "sgd"}}
    with pytest.raises(ConfigError, match=r"^\[rates\] method: only used with \[network\]$"):
        validate_rates_config(raw)
    raw["rates"].pop("method")
    raw["data"] = {"kind": "two_moons"}
    with pytest.raises(ConfigError, match=r"^\[data\] only used with \[network\]"):
        validate_rates_config(raw)
    raw.pop("data")
    # the normalised landscape config is unchanged by the network keys
    assert set(validate_rates_config(raw).config["rates"]) == {
        "temperatures", "walkers", "max_steps", "start", "basin_radius", "basin_fraction",
        "chunk", "level", "bootstrap"}


@pytest.mark.parametrize("text", [LANGEVIN, SGD], ids=["langevin", "sgd"])
def test_warmup_runs_a_cut_network_config(tmp_path, text):
    # `make warmup` runs every experiments/*.toml cut to one walker per row and one chunk,
    # without the saddle search
    import tomllib

    from langevin_opt.cli import _tiny_arrhenius

    exp = validate_rates_config(tomllib.loads(text))
    _tiny_arrhenius(exp, tmp_path)
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["walkers"] == 1 and len(s["rows"]) == 2
    assert all(r["max_steps"] == 200 for r in s["rows"])
    assert "theory" not in s and not (tmp_path / "run" / "arrhenius.png").exists()


@pytest.mark.parametrize("which", ["langevin", "sgd"])
def test_inspect_and_plot_network_files(which, request, tmp_path):
    """Issue 18: ``inspect`` and ``plot`` understand network first-passage files."""
    out, _ = request.getfixturevalue(which)
    h5 = out / "first_passage.h5"
    result = invoke("inspect", h5)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "? steps" not in text
    assert f"kind: first-passage times (langevin-opt arrhenius): network hidden [4] tanh on " \
           f"two_moons, {which}" in text
    grid = "2 settings" if which == "sgd" else "2 temperatures"
    assert f"4 walkers x {grid}, max_steps 1600)" in text
    assert "escape rates (/parameters/summary):" in text
    for kind in ("survival", "rates"):
        fig = tmp_path / f"{kind}.png"
        result = invoke("plot", h5, "--kind", kind, "-o", fig)
        assert result.exit_code == 0, result.output
        assert fig.read_bytes()[:8] == PNG
