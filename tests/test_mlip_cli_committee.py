"""``langevin-opt fit-potential`` with a ``[committee]`` section: deep ensembles and posterior
committees written as loadable committee files with their diagnostics and calibration, and bad
committee settings as one-line errors with exit status 2 and nothing written (issue 15)."""

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from langevin_opt import mlip
from langevin_opt import particles as lp
from langevin_opt.cli import cli


def morse_clusters(k, seed):
    """Clusters of 6-10 atoms near an fcc fragment labelled by a Morse potential (no ASE)."""
    pot = lp.morse(depth=0.4, alpha=1.4, r0=2.6, cutoff=4.5, mode="shifted")
    rng = np.random.default_rng(seed)
    base = 3.6 * np.array([[0, 0, 0], [.5, .5, 0], [.5, 0, .5], [0, .5, .5], [1, 0, 0],
                           [0, 1, 0], [0, 0, 1], [1, .5, .5], [.5, 1, .5], [.5, .5, 1]])
    pos, sp, E, F = [], [], [], []
    for _ in range(k):
        n = int(rng.integers(6, 11))
        x = base[:n] + rng.normal(0, 0.15, (n, 3))
        res = lp.compute_forces(lp.ParticleSystem(x), pot)
        pos.append(x)
        sp.append(["Cu"] * n)
        E.append(res.energy)
        F.append(res.forces)
    return mlip.Dataset(pos, sp, E, F)


BASE = """
[experiment]
name = "tiny"
seed = 3

[data]
train = "train.extxyz"
n_validation = 4

[descriptor]
cutoff = 5.0
n_radial = 5
angular_etas = []

[model]
hidden = [5]

[training]
max_iter = 40
log_every = 20
"""

ENSEMBLE = BASE + """
[committee]
kind = "ensemble"
size = 3
sigma_energy = 0.01
sigma_force = 0.05
"""

POSTERIOR = BASE + """
[committee]
kind = "posterior"
size = 6
sigma_energy = 0.01
sigma_force = 0.05
method = "sgld"
step_size = 1e-6
n_steps = 400
n_chains = 2
record_every = 2
"""


def run(tmp_path, text, *extra):
    morse_clusters(14, 4).write(tmp_path / "train.extxyz")
    cfg = tmp_path / "fit.toml"
    cfg.write_text(text)
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["fit-potential", str(cfg), "--out", str(out), *extra])
    return r, out


def test_ensemble_committee_is_written_loadable_and_calibrated(tmp_path):
    r, out = run(tmp_path, ENSEMBLE, "-q")
    assert r.exit_code == 0, r.output
    assert "ensemble committee of 3" in r.output
    assert sorted(p.name for p in out.iterdir()) == ["committee.npz", "summary.json"]
    com = mlip.load_committee(out / "committee.npz")
    assert com.kind == "ensemble" and com.n_members == 3 and com.species == ("Cu",)
    assert len({t.tobytes() for t in com.thetas}) == 3  # independent members
    s = json.loads((out / "summary.json").read_text())
    c = s["committee"]
    assert c["kind"] == "ensemble" and c["n_members"] == 3
    assert c["sigma_energy"] == 0.01 and c["sigma_force"] == 0.05
    assert len(c["info"]["members"]) == 3 and c["info"]["method"] == "lbfgs"
    # calibrated on the 4 validation configurations: the file holds the fitted scales
    assert c["calibration"]["energy_scale"] == pytest.approx(com.energy_scale)
    assert c["calibration"]["force_scale"] == pytest.approx(com.force_scale)
    assert com.force_scale != 1.0
    _, val = mlip.Dataset.read(tmp_path / "train.extxyz").split(4, seed=3)  # the CLI's split
    rep = c["validation_spread"]["forces"]
    assert rep["n"] == 3 * int(val.n_atoms.sum())
    assert rep["scale"] == pytest.approx(com.force_scale)
    assert c["validation_spread"]["energy_per_atom"]["n"] == 4
    assert 0.0 <= rep["coverage_1sigma"] <= 1.0
    pred = com.predict_dataset(val)  # the mean's validation errors, recomputed from the file
    dF = pred.forces - np.vstack(val.forces)
    assert c["validation"]["force_rmse"] == pytest.approx(np.sqrt(np.mean(dF**2)), rel=1e-12)
    # the summary's errors are those of the committee mean (no single model)
    assert s["train"] == c["train"] and s["learning_curve"] is None
    assert s["files"] == ["committee.npz", "summary.json"]
    r2, _ = run(tmp_path, ENSEMBLE)  # existing committee output: refused without --overwrite
    assert r2.exit_code == 2 and "--overwrite" in r2.output


def test_posterior_committee_starts_from_the_fit_and_reports_diagnostics(tmp_path):
    r, out = run(tmp_path, POSTERIOR, "-q")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["committee.npz", "learning_curve.png",
                                                     "model.npz", "summary.json"]
    com = mlip.load_committee(out / "committee.npz")
    model = mlip.load_model(out / "model.npz")
    assert com.kind == "posterior" and 2 <= com.n_members <= 6
    assert np.array_equal(com.model.feature_std, model.feature_std)
    s = json.loads((out / "summary.json").read_text())
    d = s["committee"]["info"]["diagnostics"]
    assert d["tau_steps"] > 0 and d["min_ess"] > 0 and "max_rhat" in d
    assert s["committee"]["info"]["n_chains"] == 2
    assert s["committee"]["info"]["settings"] == {"step_size": 1e-6}
    assert s["learning_curve"]["loss"][-1] < s["learning_curve"]["loss"][0]


@pytest.mark.parametrize("text,match", [
    (ENSEMBLE.replace("size = 3", "size = 1"), r"\[committee\] size: must be >= 2"),
    (ENSEMBLE.replace('kind = "ensemble"', 'kind = "ensembel"'),
     r"\[committee\] kind: must be one of none, ensemble, posterior.*did you mean 'ensemble'"),
    (ENSEMBLE.replace("sigma_force = 0.05\n", ""),
     r"\[committee\] sigma_force: must be > 0 for kind 'ensemble'"),
    (ENSEMBLE.replace("sigma_energy = 0.01", "sigma_energy = -1.0"),
     r"\[committee\] sigma_energy: must be >= 0"),
    (ENSEMBLE + "n_steps = 100\n", r"\[committee\] n_steps: not used with kind = 'ensemble'"),
    (ENSEMBLE.replace("max_iter = 40", "max_iter = 40\nforce_weight = 2.0"),
     r"\[training\] force_weight: not used with \[committee\] kind = 'ensemble'"),
    (POSTERIOR.replace("step_size = 1e-6\n", ""),
     r"\[committee\] step_size: must be > 0 for kind 'posterior'"),
    (POSTERIOR.replace('method = "sgld"', 'method = "sgd"'),
     r"\[committee\] method: must be one of sgld, psgld, sghmc, csgld"),
    (POSTERIOR + "bootstrap = true\n", r"\[committee\] bootstrap: not used with kind = "
                                       r"'posterior'"),
    (POSTERIOR.replace("n_chains = 2", "n_chains = 2\nburn_in_fraction = 1.0"),
     r"\[committee\] burn_in_fraction: must be in \[0, 1\)"),
    (BASE + "[committee]\nsize = 3\n", r"\[committee\] size: needs kind = 'ensemble' or "
                                       r"'posterior'"),
    (BASE + "[committee]\nkind = \"ensemble\"\nsigma_energy = 0.01\nsigma_force = 0.05\n"
     "sise = 3\n", r"\[committee\] unknown key 'sise' \(did you mean 'size'"),
    # found only while running: too few recorded samples to measure tau; nothing is written
    (POSTERIOR.replace("n_steps = 400", "n_steps = 20").replace("record_every = 2",
                                                                "record_every = 5"),
     r"only \d+ samples recorded per chain"),
])
def test_bad_committee_settings_exit_2_with_one_line_and_write_nothing(tmp_path, text, match):
    r, out = run(tmp_path, text)
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.startswith("Error")]
    assert len(lines) == 1 and re.search(match, lines[0]), r.output
    assert "Traceback" not in r.output
    assert not out.exists()
