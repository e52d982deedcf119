"""``langevin-opt arrhenius``: outputs, table, figure, one-line config errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from langevin_opt.cli import cli
from langevin_opt.rates.config import load_rates_config
from langevin_opt.storage import H5MDReader

REPO = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"

TINY = """
[experiment]
name = "tiny_arrhenius"
seed = 7

[landscape]
name = "double_well"
barrier = 1.0

[integrator]
kind = "overdamped"
dt = 2e-3

[rates]
temperatures = [0.3, 0.4, 0.5]
walkers = 60
max_steps = 15000
bootstrap = 50
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


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    d = tmp_path_factory.mktemp("arr")
    cfg = d / "tiny.toml"
    cfg.write_text(TINY)
    out = d / "out"
    result = invoke("arrhenius", cfg, "--out", out)
    assert result.exit_code == 0, result.output
    return cfg, out, result


def test_writes_h5md_summary_and_plot(tiny):
    cfg, out, result = tiny
    h5 = out / "first_passage.h5"
    with H5MDReader(h5) as r:
        assert r.n_particles == 180 and r.dim == 1
        assert np.all(r.position(0) == -1.0)
        steps, _, fpt = r.observable("first_passage_time")
        _, _, cens = r.observable("censored")
        _, _, temp = r.observable("temperature")
        _, _, basin = r.observable("final_basin")
        assert fpt.shape == (1, 180) and steps[0] == 15000
        assert np.allclose(temp[0], np.repeat([0.3, 0.4, 0.5], 60))
        assert np.all((basin[0] == 1) == (cens[0] == 0))
        assert np.all(fpt[0][cens[0] == 1] == pytest.approx(15000 * 2e-3))
        params = r.parameters
    assert params["kind"] == "arrhenius" and params["seed"] == 7
    assert params["config"]["rates"]["walkers"] == 60
    with h5py.File(h5) as f:
        assert f["first_passage/position"].shape == (180, 1)
        assert "h5md" in f and f["h5md"].attrs["version"].tolist() == [1, 1]
    # the reader gives the same per-walker arrays; rates re-estimated from them match the table
    from langevin_opt.rates.cli import load_first_passage
    from langevin_opt.rates.estimators import exponential_rate

    back = load_first_passage(h5)
    assert back["positions"].shape == (180, 1) and back["censored"].dtype == bool
    assert np.array_equal(back["times"], fpt[0])
    summary = json.loads((out / "summary.json").read_text())
    k0 = exponential_rate(back["times"][:60], back["censored"][:60]).rate
    assert k0 == pytest.approx(summary["rows"][0]["rate"], rel=1e-12)
    assert back["summary"]["rows"][0]["events"] == summary["rows"][0]["events"]
    rows = summary["rows"]
    assert [r["temperature"] for r in rows] == [0.3, 0.4, 0.5]
    assert sum(r["events"] + r["censored"] for r in rows) == 180
    assert int(cens.sum()) == sum(r["censored"] for r in rows)
    assert summary["theory"]["barrier"] == pytest.approx(1.0, abs=1e-6)
    assert "fit" in summary and "curvature" in summary
    assert (out / "arrhenius.png").read_bytes()[:8] == PNG


def test_prints_the_table(tiny):
    _, out, result = tiny
    text = result.output
    assert "T  events censored" in text and "Eyring-Kramers" in text
    assert "exact 1-D MFPT" in text
    assert "Arrhenius fit" in text and "curvature test" in text
    for t in ("0.3", "0.4", "0.5"):
        assert any(line.split()[:1] == [t] for line in text.splitlines())
    assert str(out / "arrhenius.png") in text


def test_existing_output_needs_overwrite(tiny):
    cfg, out, _ = tiny
    before = (out / "first_passage.h5").stat().st_mtime_ns
    result = invoke("arrhenius", cfg, "--out", out)
    assert result.exit_code == 2
    line = error_line(result)
    assert "--overwrite" in line and "--resume" not in line  # arrhenius cannot resume
    assert (out / "first_passage.h5").stat().st_mtime_ns == before
    again = invoke("arrhenius", cfg, "--out", out, "--overwrite", "--quiet", "--threads", 1)
    assert again.exit_code == 0, again.output
    assert len(again.output.strip().splitlines()) == 1
    # same seed: same first-passage times, whatever the thread count
    with H5MDReader(out / "first_passage.h5") as r:
        assert r.observable("first_passage_step")[2].sum() > 0


@pytest.mark.parametrize(("edit", "match"), [
    (("[rates]", "[rates]\nwalkres = 3"), "[rates] unknown key 'walkres' (did you mean 'walkers'?)"),
    (("kind = \"overdamped\"", "kind = \"mala\""), "[integrator] kind"),
    (("max_steps = 15000", "max_steps = [10, 20]"), "[rates] max_steps"),
    (("max_steps = 15000", "max_steps = 0"), "[rates] max_steps"),
    (("temperatures = [0.3, 0.4, 0.5]", "temperatures = [0.3, -1.0]"), "[rates] temperatures"),
    (("[rates]", "[rates]\nstart = 5"), "[rates] start"),
    (("dt = 2e-3", "dt = 0"), "[integrator]"),
    (("[rates]", "[rates]\nbasin_radius = 1.5"), "[rates] basin_radius"),
    (("barrier = 1.0", "barrier = \"high\""), "[landscape] barrier"),
    (("[rates]\n", ""), "[rates] section is missing"),
])
def test_bad_config_is_one_line_exit_2(tmp_path, edit, match):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(TINY.replace(edit[0], edit[1], 1))
    result = invoke("arrhenius", cfg, "--out", tmp_path / "o")
    assert result.exit_code == 2, result.output
    line = error_line(result)
    assert match in line
    assert not (tmp_path / "o").exists()


def test_missing_config_file(tmp_path):
    result = invoke("arrhenius", tmp_path / "nope.toml")
    assert result.exit_code == 2
    assert "no such file" in error_line(result)


@pytest.mark.parametrize("name", ["arrhenius_double_well.toml", "arrhenius_muller_brown.toml"])
def test_shipped_experiments_validate(name):
    exp = load_rates_config(REPO / "experiments" / name)
    assert len(exp.config["rates"]["temperatures"]) >= 4


def test_one_output_check_for_every_command(tmp_path):
    # run and arrhenius share runner.prepare_output and core.errors.OutputError
    from langevin_opt.core.errors import OutputError
    from langevin_opt.runner import prepare_output

    (tmp_path / "first_passage.h5").write_bytes(b"")
    with pytest.raises(OutputError, match=r"pass --overwrite to replace it$"):
        prepare_output(tmp_path, overwrite=False, target="first_passage.h5", resumable=False)
    (tmp_path / "trajectory.h5").write_bytes(b"")
    with pytest.raises(OutputError, match=r"or --resume to continue it$"):
        prepare_output(tmp_path, overwrite=False)
    with pytest.raises(OutputError, match="exclude each other"):
        prepare_output(tmp_path, overwrite=True, resume=True)
    prepare_output(tmp_path, overwrite=True, target="first_passage.h5", resumable=False)
