"""The validation figure of a neural potential and its paper script (synthetic data)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from langevin_opt.plotting import potential_validation_figure

ROOT = Path(__file__).resolve().parents[1]


def _data(rng: np.random.Generator) -> dict:
    e = rng.normal(-0.005, 0.02, 20)
    f = rng.normal(0.0, 0.5, 600)
    v = np.linspace(10.5, 13.0, 9)
    eos = 0.5 * (v - 11.8) ** 2
    prof = np.sin(np.linspace(0.0, np.pi, 9)) * 0.41
    return {"test_energy_emt": e, "test_energy_network": e + rng.normal(0, 1e-3, e.size),
            "test_forces_emt": f, "test_forces_network": f + rng.normal(0, 0.05, f.size),
            "eos_volume_emt": v, "eos_energy_emt": eos, "eos_volume_network": v,
            "eos_energy_network": eos + 0.001, "neb_emt": prof, "neb_network": prof * 0.97,
            "neb_network_ase": prof * 0.96}


def _png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figure_is_written_as_png(tmp_path):
    out = potential_validation_figure(_data(np.random.default_rng(0)), tmp_path / "f.png")
    assert out == tmp_path / "f.png" and _png(out)
    assert not [p for p in tmp_path.iterdir() if p.name != "f.png"]  # no temporary left


def test_missing_array_is_named_and_nothing_written(tmp_path):
    d = _data(np.random.default_rng(1))
    del d["eos_energy_network"]
    with pytest.raises(KeyError, match="eos_energy_network"):
        potential_validation_figure(d, tmp_path / "f.png")
    assert not list(tmp_path.iterdir())


def _script():
    spec = importlib.util.spec_from_file_location("fig_mlip", ROOT / "paper/figures/fig_mlip.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_paper_script_draws_from_a_run_directory(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    np.savez(run / "figure_data.npz", **_data(np.random.default_rng(2)))
    summary = {"lattice_constant_A": {"emt": 3.5898, "network": 3.5950},
               "bulk_modulus_GPa": {"emt": 134.2, "network": 133.0},
               "adatom_hop_barrier_eV": {"emt_ase_neb": 0.41, "network_package_neb": 0.39}}
    (run / "results.json").write_text(json.dumps(summary))
    assert _png(_script().main(run, tmp_path / "out.png"))


def test_paper_script_says_which_output_is_missing(tmp_path):
    with pytest.raises(SystemExit, match="results.json not found"):
        _script().main(tmp_path, tmp_path / "out.png")
    assert not (tmp_path / "out.png").exists()


def test_committed_run_outputs_draw():
    run = ROOT / "paper/figures/mlip_cu_emt"
    with np.load(run / "figure_data.npz") as z:
        data = {k: z[k] for k in z.files}
    summary = json.loads((run / "results.json").read_text())
    # the committed numbers are the ones the arrays give
    rmse = float(np.sqrt(np.mean((data["test_forces_network"] - data["test_forces_emt"]) ** 2)))
    assert rmse == pytest.approx(summary["test_errors"]["force_rmse"], rel=1e-9)
    assert np.max(data["neb_emt"]) == pytest.approx(
        summary["adatom_hop_barrier_eV"]["emt_ase_neb"], rel=1e-12)
