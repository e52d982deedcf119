"""The temperature-ladder flatness experiment (langevin_opt.nn.experiment), end to end."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from langevin_opt.nn import basin_width, hessian_trace, local_entropy, top_eigenvalues
from langevin_opt.nn.experiment import (
    analyse,
    build_problem,
    load_config,
    temperature_ladder_experiment,
    validate_config,
    verdict,
)
from langevin_opt.schema import ConfigError

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "experiment": {"seed": 3},
    "data": {"kind": "two_moons", "n_train": 64, "n_test": 200, "label_noise": 0.1},
    "network": {"hidden": [6], "prior_sigma": 2.0},
    "sgld": {"temperatures": [0.0, 0.3, 3.0], "chains_per_temperature": 3, "steps": 1500,
             "step_size": 1e-3, "batch_size": 16},
    "quench": {"steps": 1000, "step_size": 2e-3, "gtol": 1e-6},
    "flatness": {"hutchinson_samples": 8, "lanczos_iter": 32, "basin_width": True,
                 "basin_directions": 3, "local_entropy": True, "local_entropy_steps": 100,
                 "local_entropy_step_size": 1e-4},
}


@pytest.fixture(scope="module")
def run():
    return temperature_ladder_experiment(TINY)


def test_shapes_and_ladder(run):
    C = 9
    P = run["n_params"]
    assert P == 6 * 3 + 2 * 7
    np.testing.assert_array_equal(run["temperature"], np.repeat([0.0, 0.3, 3.0], 3))
    for k in ("theta", "theta_sgld"):
        assert run[k].shape == (C, P)
    for k in ("energy", "grad_norm", "train_loss", "test_loss", "test_accuracy",
              "hessian_trace", "top_eigenvalue", "basin_width", "local_entropy_msd"):
        assert run[k].shape == (C,) and np.all(np.isfinite(run[k])), k
    assert np.all(run["sgld_status"] == -1)
    assert np.all((run["test_accuracy"] > 0.5) & (run["test_accuracy"] <= 1.0))


def test_quenched_states_are_minima(run):
    pb = build_problem(TINY)
    lf = pb.full_landscape
    for c in range(run["theta"].shape[0]):
        u, g = lf.energy(run["theta"][c])
        assert u == pytest.approx(run["energy"][c], rel=1e-12)
        assert np.max(np.abs(g)) <= 1e-5            # gtol = 1e-6, with headroom
        assert np.linalg.norm(g) == pytest.approx(run["grad_norm"][c], rel=1e-9, abs=1e-12)
        # the quench went downhill
        assert u <= lf.energy(run["theta_sgld"][c])[0]
    # the gradient at the SGLD states is far from zero at T > 0
    g_hot = [np.linalg.norm(lf.energy(t)[1]) for t in run["theta_sgld"][3:]]
    assert min(g_hot) > 100 * run["grad_norm"].max()


def test_measures_equal_direct_calls(run):
    pb = build_problem(TINY)
    cfg, lf, net, ds = pb.config, pb.full_landscape, pb.net, pb.dataset
    fl, seed = cfg["flatness"], cfg["experiment"]["seed"]
    for c in (0, 4, 8):
        th = run["theta"][c]
        tr, se = hessian_trace(lf, th, n_samples=fl["hutchinson_samples"], seed=seed,
                               eps=fl["eps"])
        assert run["hessian_trace"][c] == tr and run["hessian_trace_se"][c] == se
        ev = top_eigenvalues(lf, th, 1, n_iter=fl["lanczos_iter"], seed=seed, eps=fl["eps"])
        assert run["top_eigenvalue"][c] == ev[0]
        bw = basin_width(lf, th, threshold=fl["basin_threshold"],
                         n_directions=fl["basin_directions"], seed=seed)
        assert run["basin_width"][c] == np.median(bw)
        le = local_entropy(lf, th, fl["local_entropy_gamma"],
                           temperature=fl["local_entropy_temperature"],
                           step_size=fl["local_entropy_step_size"],
                           n_steps=fl["local_entropy_steps"], seed=seed)
        assert run["local_entropy_msd"][c] == le.msd
        assert run["test_loss"][c] == pytest.approx(np.mean(net.losses(th, ds.X_test,
                                                                        ds.y_test)))
        acc = np.mean(np.argmax(net.forward(th, ds.X_train), 1) == ds.y_train)
        assert run["train_accuracy"][c] == pytest.approx(acc)
    # at a minimum the trace is close to the exact one (dense finite-difference Hessian)
    th = run["theta"][0]
    P = th.size
    H = np.array([(lf.energy(th + 1e-5 * e)[1] - lf.energy(th - 1e-5 * e)[1]) / 2e-5
                  for e in np.eye(P)])
    w = np.linalg.eigvalsh(0.5 * (H + H.T))
    assert run["top_eigenvalue"][0] == pytest.approx(w[-1], rel=1e-3)
    assert abs(run["hessian_trace"][0] - np.trace(H)) < 4 * run["hessian_trace_se"][0] + 1e-6


def test_stats_and_verdict_agree_with_numbers(run):
    stats = run["stats"]
    T = run["temperature"]
    for m in ("hessian_trace", "top_eigenvalue", "test_loss", "train_loss"):
        r = spearmanr(T, run[m])
        assert stats[m]["rho"] == pytest.approx(r.statistic)
        assert stats[m]["p"] == pytest.approx(r.pvalue)
        assert stats[m]["n"] == 9
    r = spearmanr(run["hessian_trace"], run["test_loss"])
    assert stats["trace_vs_test_loss"]["rho"] == pytest.approx(r.statistic)
    text = run["verdict"]
    alpha = stats["alpha"]

    def sig(m):
        s = stats[m]
        return 0 if not s["p"] < alpha else int(np.sign(s["rho"]))

    a, b = sig("hessian_trace"), sig("top_eigenvalue")
    assert ("flatter minima (" in text) == (a == b == -1)
    assert ("sharper minima" in text) == (a == b == 1)
    assert ("no significant change in flatness" in text) == (a == b == 0)
    assert ("test loss improves" in text) == (sig("test_loss") == -1)
    assert ("test loss gets worse" in text) == (sig("test_loss") == 1)
    assert f"rho = {stats['hessian_trace']['rho']:.2f}" in text
    assert f"p = {stats['test_loss']['p']:.2g}" in text
    # analyse() on the returned arrays reproduces the stored answer
    assert analyse(run, alpha=alpha) == (stats, text)


def _s(rho, p):
    return {"rho": rho, "p": p, "n": 40}


@pytest.mark.parametrize(
    ("tr", "ev", "te", "tt", "phrases"),
    [
        (_s(-0.6, 1e-5), _s(-0.5, 3e-4), _s(0.05, 0.7), _s(0.1, 0.5),
         ["higher T -> flatter minima (Hessian trace rho = -0.60, p = 1e-05; top eigenvalue "
          "rho = -0.50, p = 0.0003)", "test loss does not change significantly (rho = 0.05, "
          "p = 0.7)", "flatness does not predict test loss"]),
        (_s(0.6, 1e-3), _s(0.4, 0.01), _s(-0.5, 1e-3), _s(-0.4, 0.01),
         ["higher T -> sharper minima", "test loss improves (rho = -0.50",
          "flatter minima generalise worse"]),
        (_s(-0.6, 1e-3), _s(0.1, 0.6), _s(0.5, 1e-3), _s(0.4, 0.01),
         ["mixed flatness", "test loss gets worse", "flatter minima generalise better"]),
        (_s(0.1, 0.06), _s(math.nan, math.nan), _s(0.0, 1.0), _s(0.2, 0.2),
         ["no significant change in flatness", "rho = nan, p = nan",
          "test loss does not change significantly"]),
    ],
)
def test_verdict_rules(tr, ev, te, tt, phrases):
    text = verdict({"hessian_trace": tr, "top_eigenvalue": ev, "test_loss": te,
                    "trace_vs_test_loss": tt}, alpha=0.05)
    for ph in phrases:
        assert ph in text


def test_analyse_constant_and_nan():
    T = np.repeat([0.0, 1.0, 2.0], 4)
    res = {"temperature": T, "hessian_trace": -T + 0.01 * np.arange(12),
           "top_eigenvalue": np.where(T > 1, np.nan, -T), "test_loss": np.ones(12)}
    stats, text = analyse(res, alpha=0.05)
    assert stats["hessian_trace"]["rho"] < -0.9 and stats["hessian_trace"]["p"] < 1e-3
    assert stats["top_eigenvalue"]["n"] == 8
    assert math.isnan(stats["test_loss"]["rho"])
    assert stats["medians"]["hessian_trace"] == pytest.approx([0.015, -0.945, -1.905])
    assert "test loss does not change significantly (rho = nan" in text
    with pytest.raises(ValueError, match=r"alpha must be a finite number in \(0, 1\), got 1.5"):
        analyse(res, alpha=1.5)
    with pytest.raises(TypeError, match=r"alpha must be a finite number"):
        analyse(res, alpha="0.05")


def test_shipped_config_is_valid():
    cfg = load_config(ROOT / "experiments" / "flatness.toml")
    assert cfg["sgld"]["temperatures"][0] == 0.0
    assert len(cfg["sgld"]["temperatures"]) >= 6
    assert cfg["data"]["seed"] == cfg["experiment"]["seed"]


def _with(path, value):
    cfg = copy.deepcopy(TINY)
    sec, key = path.split(".")
    if value is _DEL:
        cfg[sec].pop(key)
    else:
        cfg.setdefault(sec, {})[key] = value
    return cfg


_DEL = object()


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        ("sgld.temperature", [0, 1], r"^\[sgld\] unknown key 'temperature' \(did you mean 'temperatures'\?\)"
                               r"; allowed: temperatures, chains_per_temperature"),
        ("data.kind", "mnist", r"^\[data\] kind: must be one of 'teacher_student_classification'"
                               r", .*'iris', got 'mnist'$"),
        ("sgld.temperatures", [1.0], r"\[sgld\] temperatures: must be a list of >= 2 distinct"),
        ("sgld.temperatures", [0.0, -1.0], r"\[sgld\] temperatures: must be a list"),
        ("sgld.temperatures", [1.0, 1.0], r"\[sgld\] temperatures: must be a list"),
        ("sgld.chains_per_temperature", 1, r"\[sgld\] chains_per_temperature: must be an "
                                           r"integer >= 2, got 1"),
        ("sgld.step_size", 0.0, r"\[sgld\] step_size: must be a finite number > 0, got 0.0"),
        ("sgld.steps", _DEL, r"\[sgld\] steps: missing \(required\)"),
        ("sgld.batch_size", 65, r"\[sgld\] batch_size: must be an integer in \[1, n_train=64\]"),
        ("network.activation", "gelu", r"\[network\] activation: must be one of .*'tanh'"),
        ("network.hidden", [8, 0], r"\[network\] hidden: must be a list of integers >= 1"),
        ("quench.polish", "bfgs", r"\[quench\] polish: must be one of 'lbfgs', 'none'"),
        ("data.label_noise", 1.0, r"\[data\] label_noise: must be a number in \[0, 1\)"),
        ("flatness.basin_width", 1, r"\[flatness\] basin_width: must be true or false, got 1"),
        ("analysis.alpha", 0.0, r"\[analysis\] alpha: must be a number in \(0, 1\)"),
        ("experiment.seed", -1, r"\[experiment\] seed: must be an integer in \[0, 2\*\*63\)"),
    ],
)
def test_config_errors(path, value, match):
    # the error type of every config kind (a ValueError)
    with pytest.raises(ConfigError, match=match) as ei:
        validate_config(_with(path, value))
    assert "\n" not in str(ei.value)


def test_config_section_errors():
    with pytest.raises(ValueError, match=r"unknown section \[sgdl\] \(did you mean 'sgld'\?\)"):
        validate_config({**TINY, "sgdl": {}})
    cfg = copy.deepcopy(TINY)
    del cfg["quench"]
    with pytest.raises(ValueError, match=r"^\[quench\] section is missing \(required\)$"):
        validate_config(cfg)
    with pytest.raises(ValueError, match=r"label_noise: must be 0 for a regression"):
        validate_config(_with("data.kind", "teacher_student_regression"))
    with pytest.raises(ConfigError, match="config: the document must be a TOML table"):
        validate_config([1, 2])


def test_build_problem_is_deterministic():
    a, b = build_problem(TINY), build_problem(TINY)
    np.testing.assert_array_equal(a.init, b.init)
    np.testing.assert_array_equal(a.dataset.y_train, b.dataset.y_train)
    assert len({tuple(r) for r in a.init}) == a.init.shape[0]      # independent inits
    assert a.dataset.info["n_changed"] > 0                          # label noise applied
    np.testing.assert_array_equal(a.dataset.y_test, build_problem(
        _with("data.label_noise", 0.0)).dataset.y_test)
    assert a.full_landscape.batch_size == 64 and a.landscape.batch_size == 16


def test_flatness_figure_from_per_chain_arrays(tmp_path):
    # the paper figure is drawn by the plotting package from arrays only
    from langevin_opt.plotting import flatness_figure

    rng = np.random.default_rng(0)
    T = np.repeat([0.0, 1.0, 2.0], 4)
    res = {"temperature": T, "temperatures": np.array([0.0, 1.0, 2.0]), "n_train": 64,
           "n_params": 10, "train_loss": rng.uniform(0.1, 1, 12),
           "test_loss": rng.uniform(0.1, 1, 12), "test_accuracy": rng.uniform(0.5, 1, 12),
           "hessian_trace": rng.uniform(1, 9, 12), "hessian_trace_se": np.full(12, 0.1),
           "top_eigenvalue": rng.uniform(1, 9, 12), "grad_max": np.full(12, 1e-6),
           "train_loss_sgld": rng.uniform(0.1, 1, 12)}
    stats, text = analyse(res, alpha=0.05)
    out = flatness_figure(res, stats, text, tmp_path / "flat.png", "tiny")
    assert out == tmp_path / "flat.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
