"""Uncertainty at work: committee dynamics that record, flag and stop on their force spread;
active learning that labels the most uncertain frames (or random ones), writes every round
and is reproducible from its seed; the ``active-learn`` command; the figures.

Data: small copper clusters labelled by ASE's EMT (milliseconds), tiny networks.
"""

import json
import math
import re

import numpy as np
import pytest
from ase.calculators.emt import EMT
from click.testing import CliRunner

from langevin_opt import mlip
from langevin_opt.cli import cli
from langevin_opt.mlip import active as act

RC = 4.0
BASE = 3.6 * np.array([[0, 0, 0], [.5, .5, 0], [.5, 0, .5], [0, .5, .5], [1, 0, 0],
                       [0, 1, 0], [0, 0, 1], [1, .5, .5]])


def clusters(k, seed, n=6, jitter=0.12):
    rng = np.random.default_rng(seed)
    return mlip.label_with(EMT(), [(BASE[:n] + rng.normal(0, jitter, (n, 3)), ["Cu"] * n)
                                   for _ in range(k)])


def tiny_model(seed=0):
    sf = mlip.SymmetryFunctions(["Cu"], RC, mlip.radial_parameters(4, RC, r_lower=1.5))
    return mlip.NeuralPotential(sf, hidden=(4,), seed=seed)


@pytest.fixture(scope="module")
def data():
    return clusters(6, 0), clusters(3, 1)


@pytest.fixture(scope="module")
def committee(data):
    train, _ = data
    return mlip.deep_ensemble(tiny_model(), train, n_members=3, seed=2, sigma_energy=0.01,
                              sigma_force=0.1, max_iter=30)


def one_line(excinfo):
    return "\n" not in str(excinfo.value)


# ------------------------------------------------------------------ dynamics
def test_uncertain_dynamics_records_flags_and_stops_keeping_every_frame(data, committee):
    train, _ = data
    x, sp = train.positions[0], train.species[0]
    kw = dict(n_steps=12, temperature_K=500.0, seed=4, dt_fs=2.0)
    free = act.uncertain_dynamics(committee, x, sp, frame_every=3, **kw)
    assert free.steps.tolist() == [0, 3, 6, 9, 12] and not free.stopped
    assert free.positions.shape == (5, 6, 3) and np.array_equal(free.positions[0], x)
    assert free.reason == "completed" and free.first_exceeded is None
    # the recorded spread is the committee's at the frame's positions
    for f in (0, 2, 4):
        p = committee.predict(free.positions[f], sp)
        assert free.max_force_std[f] == pytest.approx(p.max_force_std, rel=1e-12)
        assert free.energies[f] == pytest.approx(p.energy, rel=1e-12)
        assert free.energy_per_atom_std[f] == pytest.approx(p.energy_per_atom_std, rel=1e-12)
    # every step as a frame: the reference for thresholds
    every = act.uncertain_dynamics(committee, x, sp, frame_every=1, **kw)
    assert np.array_equal(every.positions[::3], free.positions)  # same seed, same path
    s = every.max_force_std
    assert np.ptp(s) > 0
    thr = float(np.sort(s)[len(s) // 2])  # some frames above, some below
    flag = act.uncertain_dynamics(committee, x, sp, frame_every=1, threshold=thr, **kw)
    assert np.array_equal(flag.positions, every.positions) and not flag.stopped
    assert np.array_equal(flag.exceeded, s > thr) and flag.exceeded.any()
    # stop: the run ends at the first step over the threshold, that frame kept, every
    # earlier frame kept too
    first = int(np.flatnonzero(s > thr)[0])
    stop = act.uncertain_dynamics(committee, x, sp, frame_every=1, threshold=thr,
                                  action="stop", **kw)
    assert stop.stopped and stop.reason == "threshold" and stop.n_steps == first
    assert np.array_equal(stop.positions, every.positions[:first + 1])
    assert stop.first_exceeded == first and stop.exceeded.sum() == 1
    # with sparse frames the stopping step is kept although it is not a frame step
    sparse = act.uncertain_dynamics(committee, x, sp, frame_every=5, threshold=thr,
                                    action="stop", **kw)
    assert sparse.steps[-1] == first and np.all(sparse.steps[:-1] % 5 == 0)
    assert np.array_equal(sparse.positions[-1], every.positions[first])


def test_uncertain_dynamics_bad_input(data, committee):
    train, _ = data
    x, sp = train.positions[0], train.species[0]
    for thr in (0.0, -0.1, math.nan):
        with pytest.raises(ValueError, match="threshold must be a finite number > 0") as info:
            act.uncertain_dynamics(committee, x, sp, n_steps=2, temperature_K=300.0, seed=0,
                                   threshold=thr)
        assert one_line(info)
    with pytest.raises(ValueError, match="action='stop' needs a threshold"):
        act.uncertain_dynamics(committee, x, sp, n_steps=2, temperature_K=300.0, seed=0,
                               action="stop")
    with pytest.raises(ValueError, match="unknown action .raise.; allowed: flag, stop"):
        act.uncertain_dynamics(committee, x, sp, n_steps=2, temperature_K=300.0, seed=0,
                               threshold=1.0, action="raise")
    with pytest.raises(ValueError, match="unknown species 'Ag'"):
        act.uncertain_dynamics(committee, x, ["Ag"] * 6, n_steps=2, temperature_K=300.0,
                               seed=0)


# ------------------------------------------------------------------ selection
def test_select_uncertain_takes_the_largest_spreads():
    s = np.array([0.1, 0.5, 0.3, 0.5, 0.05])
    assert act.select_uncertain(s, 3).tolist() == [1, 3, 2]  # tie: earlier first
    assert act.select_uncertain(s, 0).tolist() == []
    with pytest.raises(ValueError, match="n must be"):
        act.select_uncertain(s, 6)


def test_committee_spread_is_largest_where_it_never_saw_data(data, committee):
    """A committee trained on near-fcc fragments: compressed and stretched clusters are the
    frames with the largest spread, and the selection picks exactly those."""
    train, _ = data
    x0, sp = train.positions[1], train.species[1]
    c = x0.mean(axis=0)
    frames = [x0 + np.random.default_rng(k).normal(0, 0.02, x0.shape) for k in range(5)]
    frames.insert(1, c + 0.72 * (x0 - c))   # compressed: nearest neighbours ~1.8 Å
    frames.insert(4, c + 1.45 * (x0 - c))   # stretched
    spread = np.array([committee.predict(f, sp).max_force_std for f in frames])
    assert set(act.select_uncertain(spread, 2).tolist()) == {1, 4}


# ------------------------------------------------------------------ active learning
AL = dict(n_rounds=2, per_round=2, seed=7, temperatures_K=(300.0, 900.0), n_steps=6,
          frame_every=2, n_members=2, sigma_energy=0.01, sigma_force=0.1, max_iter=15)


def test_active_learning_selects_the_most_uncertain_writes_every_round_and_repeats(
        tmp_path, data):
    train, test = data
    init = train.subset([0, 1, 2, 3])
    res = act.active_learning(tiny_model(), init, test, reference=EMT(),
                              out_dir=tmp_path / "a", **AL)
    assert [r["n_labelled"] for r in res.rounds] == [4, 6, 8] and len(res.dataset) == 8
    for r, row in enumerate(res.rounds):
        d = tmp_path / "a" / f"round_{r:02d}"
        cm = mlip.load_committee(d / "committee.npz")
        trained = mlip.Dataset.read(d / "train.extxyz")
        assert len(trained) == row["n_labelled"]
        assert json.loads((d / "errors.json").read_text())["test"]["force_rmse"] == \
            pytest.approx(row["test"]["force_rmse"], rel=1e-12)
        # the test error is the loaded committee's
        p = cm.predict_dataset(test)
        rmse = np.sqrt(np.mean((p.forces - np.vstack(test.forces)) ** 2))
        assert rmse == pytest.approx(row["test"]["force_rmse"], rel=1e-10)
        if r == len(res.rounds) - 1:
            assert not (d / "pool.npz").exists()
            continue
        # the selected frames are the pool's largest spreads, recomputed by the committee
        with np.load(d / "pool.npz") as z:
            flat, n_at, spread, sel = z["positions"], z["n_atoms"], z["max_force_std"], \
                z["selected"]
        assert np.all(n_at == 6)
        pos = flat.reshape(-1, 6, 3)
        assert pos.shape[0] == row["n_pool"] == 2 * 3  # 2 runs x 3 frames after the start
        again = np.array([cm.predict(x, ["Cu"] * 6).max_force_std for x in pos])
        assert np.allclose(again, spread, rtol=1e-10, atol=0)
        assert sel.tolist() == row["selected"] == np.argsort(-again)[:2].tolist()
        new = mlip.Dataset.read(d / "selected.extxyz")
        assert np.allclose(np.stack(new.positions), pos[sel], atol=1e-8)
        assert np.allclose(new.energies, [EMT().get_potential_energy(
            mlip.to_ase(pos[j], ["Cu"] * 6)) for j in sel], rtol=1e-10)
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["rounds_done"] == 3
    assert summary["learning_curve"]["force_rmse"] == [r["test"]["force_rmse"]
                                                       for r in res.rounds]
    # reproducible from its seed
    rep = act.active_learning(tiny_model(), init, test, reference=EMT(), **AL)
    assert np.array_equal(rep.committee.thetas, res.committee.thetas)
    assert [r["selected"] for r in rep.rounds[:-1]] == [r["selected"] for r in res.rounds[:-1]]
    # random selection from the same pool in round 0 (same committee, same exploration)
    rnd = act.active_learning(tiny_model(), init, test, reference=EMT(), strategy="random",
                              **AL)
    assert rnd.rounds[0]["pool_max_force_std"] == res.rounds[0]["pool_max_force_std"]
    assert len(set(rnd.rounds[0]["selected"])) == 2
    rnd2 = act.active_learning(tiny_model(), init, test, reference=EMT(), strategy="random",
                               **AL)
    assert [r["selected"] for r in rnd2.rounds[:-1]] == [r["selected"]
                                                         for r in rnd.rounds[:-1]]
    with pytest.raises(ValueError, match="unknown strategy .greedy.") as info:
        act.active_learning(tiny_model(), init, test, reference=EMT(),
                            **{**AL, "n_rounds": 1}, strategy="greedy")
    assert one_line(info)


# ------------------------------------------------------------------ the command
def _config(tmp_path, sets, over=None):
    train, test = sets
    train.subset([0, 1, 2]).write(tmp_path / "initial.extxyz")
    test.write(tmp_path / "test.extxyz")
    sec = {
        "experiment": 'name = "tiny"\nseed = 3',
        "data": 'initial = "initial.extxyz"\ntest = "test.extxyz"',
        "descriptor": f"cutoff = {RC}\nn_radial = 3\nangular_etas = []",
        "model": "hidden = [3]",
        "committee": "n_members = 2\nmax_iter = 10\nsigma_force = 0.1\nsigma_energy = 0.01",
        "explore": "temperatures_K = [400.0]\nn_steps = 4\nframe_every = 2",
        "active": 'rounds = 1\nper_round = 1\nstrategies = ["uncertain", "random"]'}
    sec.update(over or {})
    path = tmp_path / "al.toml"
    path.write_text("\n".join(f"[{k}]\n{v}" for k, v in sec.items()))
    return path


def test_active_learn_command_happy_path(tmp_path, data):
    cfg = _config(tmp_path, data)
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["active-learn", str(cfg), "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    assert "tiny: test force RMSE uncertain" in r.output
    s = json.loads((out / "summary.json").read_text())
    assert (out / "learning_curve.png").stat().st_size > 1000
    for strat in ("uncertain", "random"):
        assert s["learning_curves"][strat]["n_labelled"] == [3, 4]
        for rr in ("round_00", "round_01"):
            for f in ("committee.npz", "train.extxyz", "errors.json"):
                assert (out / strat / rr / f).is_file()
        assert (out / strat / "round_00" / "selected.extxyz").is_file()
    # existing outputs are kept unless --overwrite
    r = CliRunner().invoke(cli, ["active-learn", str(cfg), "--out", str(out)])
    assert r.exit_code == 2 and "--overwrite" in r.output


@pytest.mark.parametrize("over,match", [
    ({"committee": "n_members = 1"}, r"\[committee\] n_members: must be >= 2"),
    ({"explore": "temperatures_K = [-5.0]"}, r"\[explore\] temperatures_K"),
    ({"active": 'strategies = ["greedy"]'}, r"\[active\] strategies"),
    ({"data": 'initial = "none.extxyz"\ntest = "test.extxyz"'}, "file not found"),
    ({"descriptor": "cutoff = 4.0\nspecies = [\"Ag\"]"}, r"species \('Cu',\) not in"),
    ({"reference": 'calculator = "lj"'}, r"\[reference\] calculator: must be one of emt"),
])
def test_active_learn_command_bad_input_is_one_line_and_writes_nothing(tmp_path, data, over,
                                                                        match):
    cfg = _config(tmp_path, data, over)
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["active-learn", str(cfg), "--out", str(out)])
    assert r.exit_code == 2, r.output
    err = r.output.strip()
    assert err.startswith("Error:") and "\n" not in err and "Traceback" not in err
    assert re.search(match, err), err
    assert not out.exists()


# ------------------------------------------------------------------ figures
def test_uncertainty_and_active_learning_figures_on_synthetic_data(tmp_path):
    from langevin_opt.mlip import uncertainty as U
    from langevin_opt.plotting import active_learning_figure, uncertainty_figure

    rng = np.random.default_rng(0)
    data = {}
    for k, over in (("ensemble", 1.0), ("posterior", 3.0)):
        s = rng.uniform(0.01, 0.2, 500)
        e = over * s * rng.standard_normal(500)
        exp, obs = U.calibration_curve(e, s)
        data.update({f"{k}_expected": exp, f"{k}_observed": obs, f"{k}_observed_raw": obs,
                     f"{k}_observed_ood": obs,
                     f"{k}_abs_error": np.abs(e), f"{k}_sigma": s,
                     f"{k}_group": (np.arange(500) % 3), f"{k}_barriers": 0.7 + 0.02 *
                     rng.standard_normal(4)})
    data["reference_barrier"] = np.array(0.71)
    p = uncertainty_figure(data, tmp_path / "u.png", group_names=("test", "hot", "surface"))
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(KeyError, match="posterior_sigma"):
        uncertainty_figure({k: v for k, v in data.items() if k != "posterior_sigma"},
                           tmp_path / "v.png")
    with pytest.raises(ValueError, match="must be > 0"):
        uncertainty_figure({**data, "ensemble_sigma": 0 * data["ensemble_sigma"]},
                           tmp_path / "v.png")
    assert not (tmp_path / "v.png").exists()
    curves = {"uncertain": {"n_labelled": [10, 20, 30], "force_rmse": [0.1, 0.06, 0.05]},
              "random": {"n_labelled": [10, 20, 30], "force_rmse": [0.1, 0.08, 0.07],
                         "force_rmse_runs": [[0.1, 0.08, 0.07], [0.11, 0.07, 0.06]]}}
    q = active_learning_figure(curves, tmp_path / "al.png", title="t")
    assert q.stat().st_size > 1000
    with pytest.raises(ValueError, match="differ in length"):
        active_learning_figure({"x": {"n_labelled": [1, 2], "force_rmse": [0.1]}},
                               tmp_path / "bad.png")
