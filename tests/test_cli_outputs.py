"""Issue 18: ``inspect`` and ``plot`` understand every output the package writes.

Each output is produced by its command with a tiny config (fit-potential, active-learn,
arrhenius, sweep; SG-MCMC chains through ``run_chains(out=...)``; the flatness
experiment through the sweep's point task), then ``inspect`` is checked for its labelled
key lines (numbers compared with the file) and ``plot`` for the PNG and, through the
figure handed to ``save``, for labelled axes and one distinct colour per series.  A file
the package did not write is a one-line error (exit 2) listing the files understood.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from langevin_opt import mlip
from langevin_opt import particles as lp
from langevin_opt.cli import cli

REPO = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def invoke(*args: object):  # noqa: ANN201
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(*args: object) -> str:
    r = invoke(*args)
    assert r.exit_code == 0, r.output
    return r.stdout


def error_line(result) -> str:  # noqa: ANN001
    """Assert a one-line user error without traceback (exit 2); return the line."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


class Figures:
    """Captures every figure handed to ``save`` (then saves it as usual)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from langevin_opt.plotting import _base
        from langevin_opt.plotting import mlip as pmlip

        self.figs: list = []
        real = _base.save

        def capture(fig, path, dpi=120):  # noqa: ANN001, ANN202
            self.figs.append(_summary(fig))
            return real(fig, path, dpi)

        monkeypatch.setattr(_base, "save", capture)
        monkeypatch.setattr(pmlip, "save", capture)

    def plot(self, *args: object) -> dict:
        n = len(self.figs)
        out = ok("plot", *args)
        assert out.startswith("wrote ")
        path = Path(out.split("wrote ", 1)[1].strip())
        assert path.read_bytes()[:8] == PNG
        assert len(self.figs) == n + 1
        return self.figs[-1]


def _summary(fig) -> dict:  # noqa: ANN001
    """Labels, legend texts and series colours of every axis of a figure."""
    import matplotlib.colors as mc

    axes = []
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            continue
        leg = ax.get_legend()
        lines = [ln for ln in ax.lines if not ln.get_label().startswith("_")]
        patches = [p for p in ax.patches if not p.get_label().startswith("_")]
        bars = [c for c in ax.containers if not c.get_label().startswith("_")
                and hasattr(c, "patches")]
        axes.append({
            "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(), "title": ax.get_title(),
            "legend": [t.get_text() for t in leg.get_texts()] if leg else [],
            "labels": [ln.get_label() for ln in lines] + [p.get_label() for p in patches]
            + [c.get_label() for c in bars],
            "colors": [mc.to_hex(ln.get_color()) for ln in lines]
            + [mc.to_hex(p.get_edgecolor() if p.get_fill() is False else p.get_facecolor())
               for p in patches]
            + [mc.to_hex(c.patches[0].get_facecolor()) for c in bars],
            "xticks": [t.get_text() for t in ax.get_xticklabels()]})
    return {"axes": axes, "suptitle": fig._suptitle.get_text() if fig._suptitle else ""}


def distinct(colors: list[str]) -> bool:
    return len(colors) == len(set(colors))


# --------------------------------------------------------------------------------------
# fit-potential: summary.json, model.npz, committee.npz
# --------------------------------------------------------------------------------------

FIT = """
[experiment]
name = "tiny_fit"
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
max_iter = 20
log_every = 10
"""

ENSEMBLE = FIT.replace('"tiny_fit"', '"tiny_ens"') + """
[committee]
kind = "ensemble"
size = 3
sigma_energy = 0.01
sigma_force = 0.05
"""


def morse_clusters(k: int, seed: int) -> mlip.Dataset:
    """Clusters of 6-10 atoms labelled by a Morse potential (no ASE calculator)."""
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


@pytest.fixture(scope="module")
def fit_out(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("fit")
    morse_clusters(12, 4).write(d / "train.extxyz")
    out = {}
    for name, text in (("fit", FIT), ("ens", ENSEMBLE)):
        (d / f"{name}.toml").write_text(text)
        ok("fit-potential", d / f"{name}.toml", "--out", d / name, "-q")
        out[name] = d / name
    return out


def test_inspect_fit_potential_summary(fit_out):
    s = json.loads((fit_out["fit"] / "summary.json").read_text())
    text = ok("inspect", fit_out["fit"] / "summary.json")
    assert "kind: fit-potential summary (langevin-opt fit-potential: summary.json); plot " \
           "--kind training" in text
    assert "config: tiny_fit" in text
    assert f"model: {s['n_params']} parameters, species Cu" in text
    assert "data: 8 training, 4 validation configurations" in text
    assert "final errors (energy eV/atom, force eV/Å per component):" in text
    v = s["validation"]
    assert (f"  validation: energy RMSE {v['energy_rmse_per_atom']:.4g} per atom, force RMSE "
            f"{v['force_rmse']:.4g} per component") in text
    assert "learning curve: 3 points, iterations 0..20" in text
    ens = ok("inspect", fit_out["ens"] / "summary.json")
    assert "committee: ensemble, 3 members (committee.npz)" in ens
    assert "learning curve: none (a deep ensemble has no single fit)" in ens


def test_plot_fit_potential_training_curves(fit_out, monkeypatch, tmp_path):
    figs = Figures(monkeypatch)
    f = figs.plot(fit_out["fit"] / "summary.json", "-o", tmp_path / "t.png")
    loss, energy, force = f["axes"]
    assert loss["xlabel"] == "iteration" and "loss" in loss["ylabel"]
    for ax, what in ((energy, "energy RMSE per atom"), (force, "force RMSE per component")):
        assert ax["xlabel"] == "iteration" and what in ax["ylabel"] and "eV" in ax["ylabel"]
        assert ax["legend"] == ["train", "validation"]
        assert distinct(ax["colors"])
    # the default output: <kind>.png next to the file
    ok("plot", fit_out["fit"] / "summary.json")
    assert (fit_out["fit"] / "training.png").read_bytes()[:8] == PNG
    # a deep ensemble: the members' and the committee mean's errors, one colour each
    f = figs.plot(fit_out["ens"] / "summary.json", "-o", tmp_path / "e.png")
    labels = f["axes"][1]["labels"]
    assert labels == ["member 0 (train)", "member 1 (train)", "member 2 (train)",
                      "committee mean (train)", "committee mean (validation)"]
    assert distinct(f["axes"][1]["colors"]) and "force RMSE" in f["axes"][1]["ylabel"]


def test_inspect_and_plot_model_and_committee(fit_out, monkeypatch, tmp_path):
    model = mlip.load_model(fit_out["fit"] / "model.npz")
    text = ok("inspect", fit_out["fit"] / "model.npz", "--verify")
    assert "kind: neural potential (langevin-opt fit-potential: model.npz)" in text
    assert "network: hidden [5], activation tanh; descriptor symmetry_functions, cutoff 5 Å" \
        in text
    assert f"parameters: {model.n_params} " in text
    assert "checksums: ok" in text
    text = ok("inspect", fit_out["ens"] / "committee.npz")
    assert f"committee: ensemble, 3 members x {model.n_params} parameters" in text
    figs = Figures(monkeypatch)
    f = figs.plot(fit_out["ens"] / "committee.npz", "-o", tmp_path / "p.png")
    ax = f["axes"][0]
    assert ax["legend"] == [f"member {i} ({model.n_params} values)" for i in range(3)]
    assert distinct(ax["colors"]) and ax["ylabel"] == "count"
    assert "parameter value" in ax["xlabel"]
    figs.plot(fit_out["fit"] / "model.npz", "-o", tmp_path / "m.png")


def test_inspect_verify_catches_an_edited_model(fit_out, tmp_path):
    with np.load(fit_out["fit"] / "model.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["theta"] = arrays["theta"] + 1e-9
    bad = tmp_path / "model.npz"
    np.savez(bad, **arrays)
    assert "kind: neural potential" in ok("inspect", bad)  # readable without --verify
    line = error_line(invoke("inspect", bad, "--verify"))
    assert str(bad) in line and "checksum" in line


# --------------------------------------------------------------------------------------
# active-learn: summaries, round errors, pools, extended XYZ
# --------------------------------------------------------------------------------------


def _emt_clusters(k: int, seed: int) -> mlip.Dataset:
    from ase.calculators.emt import EMT

    base = 3.6 * np.array([[0, 0, 0], [.5, .5, 0], [.5, 0, .5], [0, .5, .5], [1, 0, 0],
                           [0, 1, 0]])
    rng = np.random.default_rng(seed)
    return mlip.label_with(EMT(), [(base + rng.normal(0, 0.12, (6, 3)), ["Cu"] * 6)
                                   for _ in range(k)])


ACTIVE = """
[experiment]
name = "tiny_al"
seed = 3
[data]
initial = "initial.extxyz"
test = "test.extxyz"
[descriptor]
cutoff = 4.0
n_radial = 3
angular_etas = []
[model]
hidden = [3]
[committee]
n_members = 2
max_iter = 10
sigma_force = 0.1
sigma_energy = 0.01
[explore]
temperatures_K = [400.0]
n_steps = 4
frame_every = 2
[active]
rounds = 1
per_round = 1
strategies = ["uncertain", "random"]
"""


@pytest.fixture(scope="module")
def al_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("al")
    _emt_clusters(3, 0).write(d / "initial.extxyz")
    _emt_clusters(3, 1).write(d / "test.extxyz")
    (d / "al.toml").write_text(ACTIVE)
    ok("active-learn", d / "al.toml", "--out", d / "out", "-q")
    return d / "out"


def test_inspect_active_learn_outputs(al_out):
    s = json.loads((al_out / "summary.json").read_text())
    text = ok("inspect", al_out / "summary.json")
    assert "kind: active-learning summary (langevin-opt active-learn: summary.json); plot " \
           "--kind learning" in text
    assert "config: tiny_al" in text
    assert "data: 3 initial, 3 test configurations" in text
    for strat in ("uncertain", "random"):
        c = s["learning_curves"][strat]
        assert re.search(rf"^  {strat}\s+3->4\s+{c['force_rmse'][0]:.4g}\s+"
                         rf"{c['force_rmse'][-1]:.4g}\s", text, re.M), text
    text = ok("inspect", al_out / "uncertain" / "summary.json")
    assert "strategy uncertain: 2 of 2 rounds done, 1 labelled per round" in text
    assert "config: ?" not in text
    text = ok("inspect", al_out / "uncertain" / "round_00" / "errors.json")
    assert "round 0: 3 labelled configurations" in text
    assert "exploration: 2 pool frames" in text and "1 selected" in text
    text = ok("inspect", al_out / "uncertain" / "round_01" / "errors.json")
    assert "exploration: none (the last round)" in text
    text = ok("inspect", al_out / "uncertain" / "round_00" / "pool.npz")
    assert "pool: 2 frames" in text and "selected for labelling: 1 frame(s)" in text
    text = ok("inspect", al_out / "uncertain" / "round_00" / "committee.npz")
    assert "committee: ensemble, 2 members" in text
    text = ok("inspect", al_out / "uncertain" / "round_01" / "train.extxyz")
    assert "configurations: 4 (6..6 atoms each, 0 periodic)" in text and "species: Cu" in text


def test_plot_active_learn_outputs(al_out, monkeypatch, tmp_path):
    figs = Figures(monkeypatch)
    f = figs.plot(al_out / "summary.json", "-o", tmp_path / "l.png")
    force, energy = f["axes"]
    for ax in (force, energy):
        assert ax["xlabel"] == "labelled configurations"
        assert ax["legend"] == ["uncertain", "random"]
        assert distinct(ax["colors"]) and len(ax["colors"]) == 2
    assert force["ylabel"] == "test force RMSE (eV/Å per component)"
    assert energy["ylabel"] == "test energy RMSE (eV/atom)"
    f = figs.plot(al_out / "random" / "summary.json", "-o", tmp_path / "s.png")
    assert f["axes"][0]["legend"] == ["random"]
    for name in ("errors.json", "pool.npz"):
        f = figs.plot(al_out / "uncertain" / "round_00" / name, "-o", tmp_path / "p.png")
        ax = f["axes"][0]
        assert ax["legend"] == ["pool frame (2)", "selected for labelling (1)"]
        assert distinct(ax["colors"]) and "force std (eV/Å)" in ax["ylabel"]
    line = error_line(invoke("plot", al_out / "uncertain" / "round_01" / "errors.json",
                             "-o", tmp_path / "x.png"))
    assert "explored nothing" in line
    f = figs.plot(al_out / "uncertain" / "round_00" / "train.extxyz", "-o", tmp_path / "x.png")
    assert f["axes"][0]["xlabel"] == "energy per atom (eV)"


# --------------------------------------------------------------------------------------
# SG-MCMC chains (HDF5), arrhenius summary.json
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chains_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from langevin_opt.sgmcmc import SGLD, linear_regression, make_linear_data, run_chains

    path = tmp_path_factory.mktemp("chains") / "chains.h5"
    X, y = make_linear_data(60, [1.0, -0.5, 0.25], seed=3)
    land = linear_regression(X, y, batch_size=20)
    run_chains(land, SGLD(step_size=1e-3), np.zeros((4, 3)), 100, seed=8, thin=5,
               temperature=[1.0, 1.0, 0.5, 0.25], out=path)
    return path


def test_inspect_sgmcmc_chains(chains_file):
    text = ok("inspect", chains_file)
    assert "kind: SG-MCMC chains (sgmcmc.run_chains out=...); plot --kind energy" in text
    assert "particles: group 'chains', 4 chains, dim 3" in text
    assert "  method: sgld (step_size 0.001, decay 0.0, decay_offset 1.0)" in text
    assert "  landscape: linear_regression, 3 parameters, 60 data, batch 20" in text
    assert "  chains: 4 x 100 steps (burn-in 0, thin 5), seed 8, T = 1, 0.5, 0.25" in text
    assert "all chains finite" in text
    assert "energy: shape (20, 4), steps 0..95 (every 5)" in text


def test_plot_sgmcmc_chains_one_colour_per_chain(chains_file, monkeypatch, tmp_path):
    figs = Figures(monkeypatch)
    f = figs.plot(chains_file, "-o", tmp_path / "c.png")
    ax = f["axes"][0]
    assert ax["legend"] == ["chain 0 (T = 1)", "chain 1 (T = 1)", "chain 2 (T = 0.5)",
                            "chain 3 (T = 0.25)"]
    assert distinct(ax["colors"]) and ax["xlabel"] == "step" and "energy" in ax["ylabel"]
    line = error_line(invoke("plot", chains_file, "--kind", "histogram", "-o", tmp_path / "h.png"))
    assert "use one of: energy" in line


ARR = """
[experiment]
name = "tiny_arr"
seed = 7
[landscape]
name = "double_well"
barrier = 1.0
[integrator]
kind = "overdamped"
dt = 2e-3
[rates]
temperatures = [0.3, 0.5]
walkers = 10
max_steps = 3000
bootstrap = 0
[theory]
enabled = false
"""


def test_inspect_and_plot_arrhenius_summary(tmp_path, monkeypatch):
    (tmp_path / "arr.toml").write_text(ARR)
    ok("arrhenius", tmp_path / "arr.toml", "--out", tmp_path / "out", "-q")
    path = tmp_path / "out" / "summary.json"
    s = json.loads(path.read_text())
    text = ok("inspect", path)
    assert "kind: escape-rate summary (langevin-opt arrhenius: summary.json); plot --kind " \
           "rates" in text
    assert "config: tiny_arr" in text
    events = sum(r["events"] for r in s["rows"])
    assert f"10 walkers x 2 rows, {events} escapes" in text
    assert re.search(r"^\s+0\.3\s+\d+\s+\d+\s", text, re.M)
    figs = Figures(monkeypatch)
    f = figs.plot(path, "-o", tmp_path / "r.png")
    assert f["axes"][0]["xlabel"] == "1 / T" and f["axes"][0]["ylabel"] == "ln k"


# --------------------------------------------------------------------------------------
# sweeps: manifest.json, sweep.json, table.csv, point marker, run summary.json
# --------------------------------------------------------------------------------------

SWEEP = """
[experiment]
name = "tiny_sweep"
seed = 1
[landscape]
name = "double_well"
[integrator]
kind = "overdamped"
dt = 0.001
[ensemble]
walkers = 20
temperatures = [0.5]
steps = 200
init = "uniform"
[output]
record_every = 100
checkpoint_every = 100
[sweep]
mode = "product"
[sweep.parameters]
"ensemble.temperatures" = [[0.3], [0.8]]
"experiment.seed" = {start = 1, stop = 3}
"""


@pytest.fixture(scope="module")
def sweep_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sweep run by the code of ``langevin-opt sweep`` on an in-process Dask client.

    (A local cluster of worker processes, what the command starts, takes tens of seconds
    here; tests/test_sweep.py runs the command itself.)
    """
    distributed = pytest.importorskip("distributed")
    from langevin_opt.sweep import plan_sweep, sweep

    d = tmp_path_factory.mktemp("sweep")
    (d / "sw.toml").write_text(SWEEP)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1,
                            dashboard_address=":0", set_as_default=False) as client:
        res = sweep(plan_sweep(d / "sw.toml"), d / "out", client=client)
    assert set(res.statuses.values()) == {"done"}
    return d / "out"


def test_inspect_sweep_files(sweep_out):
    import csv

    rows = list(csv.DictReader(open(sweep_out / "table.csv")))
    assert len(rows) == 4
    for name in ("manifest.json", "sweep.json", "table.csv"):
        text = ok("inspect", sweep_out / name)
        assert "sweep of run configs over ensemble.temperatures, experiment.seed" in text
        assert "metric (plot default; plot --metric COLUMN for another): " \
               "temperatures.0.mean_energy" in text
        for r in rows:
            assert (f"  {r['point']}: ensemble.temperatures = {r['ensemble.temperatures']}, "
                    f"experiment.seed = {r['experiment.seed']} -> temperatures.0.mean_energy = "
                    f"{float(r['temperatures.0.mean_energy']):.4g}") in text
    text = ok("inspect", sweep_out / "manifest.json")
    assert "points: 4 (4 done)" in text and "(product, 1 shard(s) per point)" in text
    point = sweep_out / "points" / rows[0]["point"]
    text = ok("inspect", point / ".sweep_done.json")
    assert f"point {rows[0]['point']} (run config)" in text
    text = ok("inspect", point / "summary.json")
    assert "kind: walker run summary (langevin-opt run: summary.json)" in text
    assert "config: tiny_sweep" in text and "status: completed, 200 steps, 20 walkers" in text
    assert re.search(r"^\s+T\s+<U>\s+accept\s+basin 0: meas/exact", text, re.M)


def test_plot_sweep_metric_against_parameters(sweep_out, monkeypatch, tmp_path):
    figs = Figures(monkeypatch)
    for name in ("manifest.json", "table.csv"):
        f = figs.plot(sweep_out / name, "-o", tmp_path / "m.png")
        ax = f["axes"][0]
        assert ax["xlabel"] == "ensemble.temperatures"
        assert ax["ylabel"] == "temperatures.0.mean_energy"
        assert ax["legend"] == ["experiment.seed = 1", "experiment.seed = 2"]
        assert distinct(ax["colors"])
    f = figs.plot(sweep_out / "table.csv", "--metric", "walkers", "-o", tmp_path / "w.png")
    assert f["axes"][0]["ylabel"] == "walkers"
    line = error_line(invoke("plot", sweep_out / "table.csv", "--metric", "nope", "-o",
                             tmp_path / "n.png"))
    assert "--metric nope" in line and "temperatures.0.mean_energy" in line
    # the point marker plots the point's summary; the run summary: <U> and basins against T
    point = next((sweep_out / "points").iterdir())
    f = figs.plot(point / ".sweep_done.json", "-o", tmp_path / "d.png")
    u, basins = f["axes"]
    assert u["xlabel"] == "temperature T (k_B = 1)" and u["ylabel"] == "mean energy <U>"
    assert basins["legend"] == ["basin 0 measured", "basin 0 exact (quadrature)",
                                "basin 1 measured", "basin 1 exact (quadrature)"]
    assert len(set(basins["colors"])) == 2  # one colour per basin, measured and exact
    f = figs.plot(point / "summary.json", "-o", tmp_path / "s.png")
    assert f["axes"][0]["ylabel"] == "mean energy <U>"


# --------------------------------------------------------------------------------------
# flatness results (the paper's cache, and a sweep point of a flatness config)
# --------------------------------------------------------------------------------------

FLAT = REPO / "paper" / "figures"


def test_inspect_and_plot_flatness_results(monkeypatch, tmp_path):
    text = ok("inspect", FLAT / "flatness" / "results.npz")
    assert "kind: SGLD flatness results" in text and "config: flatness" in text
    assert "chains: 48 (6 per temperature) at T = 0, 0.01, 0.03, 0.1, 0.3, 1, 3, 10" in text
    text = ok("inspect", FLAT / "flatness.json")
    doc = json.loads((FLAT / "flatness.json").read_text())
    assert f"verdict: {doc['verdict']}" in text
    rho = doc["stats"]["hessian_trace"]["rho"]
    assert f"  hessian_trace: rho {rho:+.3f}" in text
    figs = Figures(monkeypatch)
    f = figs.plot(FLAT / "flatness" / "results.npz", "-o", tmp_path / "f.png")
    assert f["suptitle"].startswith("flatness: 6 SGLD chains per temperature")
    assert any("test loss" in ax["ylabel"] for ax in f["axes"])
    figs.plot(FLAT / "flatness.json", "-o", tmp_path / "g.png")  # finds flatness/results.npz


def test_flatness_sweep_point_outputs(tmp_path, monkeypatch):
    """A flatness sweep point keeps arrays (results.npz) and sizes (summary.json) apart.

    The point is written by the sweep's own task (:func:`langevin_opt.sweep.run_point`);
    the experiment's result is the paper's stored run (the tiny experiment compiles for
    40 s here), given the name of this config.
    """
    import langevin_opt.nn.experiment as nx
    from langevin_opt.nn.experiment import analyse
    from langevin_opt.sweep import run_point

    with np.load(FLAT / "flatness" / "results.npz") as z:
        stored = {k: z[k] for k in z.files if k not in ("config_json", "seconds_total")}
    res = {k: (v if v.ndim else v.item()) for k, v in stored.items()}
    res["stats"], res["verdict"] = analyse(res)
    monkeypatch.setattr(nx, "temperature_ladder_experiment", lambda cfg, threads=None: res)
    cfg = json.loads((FLAT / "flatness.json").read_text())["config"]
    cfg["experiment"]["name"] = "flat_point"
    run_point("flatness", cfg, tmp_path / "p", meta={"id": "p0", "parameters": {}})
    with np.load(tmp_path / "p" / "results.npz") as z:
        assert "n_train" not in z.files  # scalars go to summary.json
    text = ok("inspect", tmp_path / "p" / "results.npz")
    assert "config: flat_point" in text and "n_train: 256" in text
    figs = Figures(monkeypatch)
    for name in ("results.npz", "summary.json", ".sweep_done.json"):
        f = figs.plot(tmp_path / "p" / name, "-o", tmp_path / "f.png")
        assert f["suptitle"].startswith("flat_point: 6 SGLD chains per temperature, N = 256")


# --------------------------------------------------------------------------------------
# files the package did not write; help strings; python -m
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,content", [
    ("notes.json", '{"hello": 1}'),
    ("data.csv", "a,b\n1,2\n"),
    ("script.py", "print(1)\n"),
    ("fig.png", PNG + b"rest"),
    ("other.npz", None),
    ("foreign.h5", None),
])
def test_a_file_the_package_did_not_write_is_one_line(tmp_path, name, content):
    path = tmp_path / name
    if name == "foreign.h5":
        import h5py

        with h5py.File(path, "w") as f:
            f["x"] = np.arange(3)
    elif content is None:
        np.savez(path, x=np.arange(3))
    else:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    for cmd in ("inspect", "plot"):
        line = error_line(invoke(cmd, path))
        assert line.startswith(f"Error: {path}: ")
        for kind in ("trajectory.h5", "first_passage.h5", "model.npz", "committee.npz",
                     "table.csv", "manifest.json", "summary.json", "SG-MCMC"):
            assert kind in line, (kind, line)
    assert not (tmp_path / "energy.png").exists()


def test_plot_kind_and_metric_errors_name_what_fits(fit_out, tmp_path):
    line = error_line(invoke("plot", fit_out["fit"] / "summary.json", "--kind", "metric",
                             "-o", tmp_path / "x.png"))
    assert "not for a fit-potential summary" in line and "use one of: training" in line
    line = error_line(invoke("plot", fit_out["fit"] / "model.npz", "--metric", "x",
                             "-o", tmp_path / "x.png"))
    assert "--metric: only for sweep files" in line


def test_help_strings_cover_every_output():
    text = ok("inspect", "--help")
    assert "trajectory file FILE.h5" not in text
    for word in ("summary.json", "model.npz", "committee.npz", "table.csv", "SG-MCMC"):
        assert word in " ".join(text.split()), word
    text = " ".join(ok("plot", "--help").split())
    for word in ("--metric", "training", "learning", "parameters", "pool", "metric",
                 "flatness", "temperatures"):
        assert word in text, word


def test_python_m_cli_knows_every_command():
    """``python -m langevin_opt.cli`` registers the commands defined after ``main``."""
    r = subprocess.run([sys.executable, "-m", "langevin_opt.cli", "sweep", "--help"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "--out" in r.stdout


# --------------------------------------------------------------------------------------
# list: the [sweep] section, [network]/[data], SG-MCMC methods, potentials, clusters
# --------------------------------------------------------------------------------------


def test_list_shows_sweep_network_and_data_keys():
    from langevin_opt.schema import arrhenius
    from langevin_opt.sgmcmc.methods import METHODS
    from langevin_opt.sweep import KINDS

    text = ok("list")
    assert re.search(r"^    \[sweep\] kind .* in \{" + re.escape(", ".join(KINDS)) + r"\}, "
                     r"mode = 'product' in \{product, zip\}, shards = 1", text, re.M)
    assert re.search(r"^    \[sweep\.parameters\] ", text, re.M)
    for sec, fields_ in (("network", arrhenius.NETWORK_FIELDS),
                         ("data", arrhenius.DATA_FIELDS),
                         ("cluster", arrhenius.CLUSTER_FIELDS)):
        line = next(ln for ln in text.splitlines() if ln.startswith(f"    [{sec}] ")
                    and all(k in ln for k in fields_))
        assert line
    assert all(f"  {m} (" in text for m in METHODS)
    assert "particle potentials" in text and "cluster structures" in text
