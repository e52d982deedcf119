"""``langevin-opt arrhenius`` on a cluster of atoms (2-D LJ7): run, outputs, config errors."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from langevin_opt.cli import cli
from langevin_opt.rates.cli import load_first_passage

CONFIG = """
[experiment]
name = "lj7_tiny"
seed = 3
[cluster]
structure = "lj7_2d"
[integrator]
kind = "baoab"
dt = 0.005
friction = 2.0
[rates]
temperatures = [0.3]
walkers = 8
max_steps = 6000
chunk = 200
bootstrap = 0
[theory]
fmax = 1e-5
"""


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_arrhenius_cluster_run(tmp_path):
    cfg = tmp_path / "lj7.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "out"
    res = invoke("arrhenius", cfg, "--out", out)
    assert res.exit_code == 0, res.output
    assert "lj7_2d, baoab, 8 walkers x 1 temperatures" in res.output
    assert "equivalent saddles" in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["start_energy"] == pytest.approx(-12.534867, abs=1e-5)
    row = summary["rows"][0]
    assert row["events"] + row["censored"] == 8 and row["events"] > 0
    # every product is one of the published minima; every channel has 12 saddle copies
    for e in summary["product_energies"]:
        assert min(abs(e - m) for m in (-11.501, -11.477, -11.403)) < 2e-3
    for ch in summary["theory"]["channels"]:
        assert ch["negative_modes"] == 1 and ch["equivalent_saddles"] == 12
    assert row["theory_Kramers-Langer"] > 0
    back = load_first_passage(out / "first_passage.h5")
    assert back["times"].shape == (8,)
    assert back["positions"].shape == (8, 14)   # quenched products, flattened
    escaped = ~back["censored"]
    assert np.all(back["final_basin"][escaped] >= 1)
    assert (out / "arrhenius.png").exists()


@pytest.mark.parametrize("edit, message", [
    (("[cluster]", '[landscape]\nname = "double_well"\n[cluster]'),
     "needs exactly one of the sections [landscape] (walkers), [cluster] (atoms) and "
     "[network] (a network's loss), got [landscape] and [cluster]"),
    (('structure = "lj7_2d"', 'structure = "lj8"'), "[cluster] structure: must be one of"),
    (("max_steps = 6000", "max_steps = 6100"), "must be a multiple of chunk=200"),
    (("chunk = 200", "chunk = 200\nstart = 1"), "[rates] start: not used for a [cluster]"),
    (('kind = "baoab"', 'kind = "verlet"'), "[integrator] kind: must be one of"),
    (("friction = 2.0", "friction = -2.0"), "[integrator] friction must be a finite number >= 0"),
])
def test_arrhenius_cluster_config_errors(tmp_path, edit, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(CONFIG.replace(*edit))
    res = invoke("arrhenius", cfg, "--out", tmp_path / "o")
    assert res.exit_code == 2
    assert message in res.output, res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1


def test_first_passage_backend_argument():
    import langevin_opt as lo
    from langevin_opt import rates
    from langevin_opt.cuda import available

    land = lo.double_well()
    basins = rates.basins_from_landscape(land)
    x0 = np.tile(land.minima[0], (4, 1))
    kw = dict(temperature=0.3, max_steps=10, seed=1)
    with pytest.raises(ValueError, match="backend must be one of 'cpu', 'cuda', got 'tpu'"):
        rates.first_passage(land, lo.Overdamped(dt=1e-3), x0, basins, backend="tpu", **kw)
    if not available():  # never a silent CPU fallback
        with pytest.raises(Exception, match="needs an NVIDIA GPU and driver.*use backend='cpu'"):
            rates.first_passage(land, lo.Overdamped(dt=1e-3), x0, basins, backend="cuda", **kw)
