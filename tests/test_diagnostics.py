"""MCMC diagnostics against ArviZ (to 1e-8), the (chain, draw, ...) views, and the ArviZ export.

ArviZ is a test extra (``arviz>=0.17``), never imported by the package except in
:func:`langevin_opt.analysis.to_inference_data`.
"""

from __future__ import annotations

import subprocess
import sys

import arviz as az  # the test extra
import numpy as np
import pytest

import langevin_opt as lo
from langevin_opt import analysis as A
from langevin_opt.analysis import ess as ess_
from langevin_opt.analysis import mcse, rhat, to_inference_data

# ArviZ's numba path breaks mcse(method="sd") under NumPy 2; the NumPy path is the reference
az.Numba.disable_numba()


def _ar1(phi, c, s, seed):
    rng = np.random.default_rng(seed)
    x = np.empty((c, s))
    x[:, 0] = rng.standard_normal(c) / np.sqrt(1 - phi**2)
    for t in range(1, s):
        x[:, t] = phi * x[:, t - 1] + rng.standard_normal(c)
    return x


def _cases():
    rng = np.random.default_rng(2021)
    shifted = rng.standard_normal((4, 1000))
    shifted[3] += 3.0  # one of four chains 3 sigma away: the case
    return {
        "random": rng.standard_normal((4, 500, 3)),
        "ar1": _ar1(0.7, 4, 301, 1),  # odd number of draws: the middle one is dropped
        "shifted": shifted,
        "trending": _ar1(0.5, 3, 200, 2) + np.linspace(0.0, 3.0, 200),
        "variances": rng.standard_normal((4, 100)) * np.array([1.0, 1.0, 1.0, 5.0])[:, None],
        "short": rng.standard_normal((2, 4)),
        "short_odd": rng.standard_normal((3, 5)),
        "matrix_params": rng.standard_normal((3, 40, 2, 2)),
        "ties": rng.integers(0, 3, size=(4, 60)).astype(float),
    }


CASES = _cases()


def _az(fn, x, **kw):
    out = fn(az.convert_to_dataset(x), **kw)["x"]
    return np.asarray(out)


@pytest.mark.parametrize("case", sorted(CASES))
def test_agrees_with_arviz(case):
    x = CASES[case]
    for method in ("rank", "split", "folded", "z_scale", "identity"):
        np.testing.assert_allclose(rhat(x, method), _az(az.rhat, x, method=method),
                                   rtol=1e-8, atol=1e-12, err_msg=f"rhat {method}")
    for method in ("bulk", "tail", "mean", "sd"):
        np.testing.assert_allclose(ess_(x, method), _az(az.ess, x, method=method),
                                   rtol=1e-8, err_msg=f"ess {method}")
        rel = ess_(x, method, relative=True)
        used = x.shape[0] * 2 * (x.shape[1] // 2)  # an odd chain loses its middle draw
        np.testing.assert_allclose(rel * used, ess_(x, method), rtol=1e-12)
        if method != "tail":  # ArviZ's relative ESS of a constant indicator is its size, not 1
            np.testing.assert_allclose(rel, _az(az.ess, x, method=method, relative=True),
                                       rtol=1e-8)
    np.testing.assert_allclose(ess_(x, "quantile", prob=0.3),
                               _az(az.ess, x, method="quantile", prob=0.3), rtol=1e-8)
    np.testing.assert_allclose(ess_(x, "tail", prob=0.1),
                               _az(az.ess, x, method="tail", prob=0.1), rtol=1e-8)
    for method, kw in (("mean", {}), ("sd", {}), ("quantile", {"prob": 0.3}),
                       ("quantile", {"prob": 0.95})):
        np.testing.assert_allclose(mcse(x, method, **kw), _az(az.mcse, x, method=method, **kw),
                                   rtol=1e-8, atol=1e-12, err_msg=f"mcse {method} {kw}")
    # shapes: a float for (C, S), the trailing shape otherwise
    if x.ndim == 2:
        assert isinstance(rhat(x), float) and isinstance(ess_(x), float)
    else:
        assert np.shape(rhat(x)) == np.shape(ess_(x)) == x.shape[2:]


def test_between_chain_disagreement_lowers_ess_and_raises_rhat():
    x = CASES["shifted"]
    n = x.size
    # the within-chain autocorrelation time sees nothing wrong: tau ~ 1, so C S / tau ~ 4000
    assert A.autocorr_time(x) < 1.2
    bulk = ess_(x)
    assert bulk < 0.01 * n  # ArviZ's number (test above), far below the draws
    assert ess_(x, "mean") < 0.01 * n and rhat(x) > 1.3
    mixed = x.copy()
    mixed[3] -= 3.0
    assert ess_(mixed) > 0.5 * n and rhat(mixed) < 1.01
    # a trend within chains is caught by splitting them, also for a single chain
    assert rhat(CASES["trending"]) > 1.1
    assert rhat(CASES["trending"][:1]) > 1.1


def test_single_chain_is_split_in_two():
    x = _ar1(0.3, 1, 101, 5)
    sp = np.stack([x[0, :50], x[0, 51:]])  # (2, 50): the halves, middle draw dropped
    np.testing.assert_allclose(rhat(x, "split"), _az(az.rhat, sp, method="identity"), rtol=1e-12)
    np.testing.assert_allclose(rhat(x[0], "split"), rhat(x, "split"), rtol=0)
    # ESS of one chain agrees with ArviZ (which needs only one chain there)
    np.testing.assert_allclose(ess_(x), _az(az.ess, x, method="bulk"), rtol=1e-8)
    assert 1.0 / np.log10(101) < 101 / ess_(x[0], "mean")


def test_constant_chains_and_ess_of_independent_draws():
    assert ess_(np.ones((2, 10))) == 20.0
    assert rhat(np.ones((2, 10))) == 1.0
    assert rhat(np.array([[1.0] * 8, [2.0] * 8]), "split") == np.inf
    x = np.random.default_rng(0).standard_normal((4, 2000))
    assert 0.9 * x.size < ess_(x) < 1.1 * x.size
    # mcse of the mean of independent draws is sd / sqrt(n) to the ESS error
    assert mcse(x) == pytest.approx(x.std(ddof=1) / np.sqrt(x.size), rel=0.1)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match=r"^x must have shape .* at least 4 draws, got \(2, 3\)"):
        rhat(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="^x must be finite$"):
        ess_(np.array([[0.0, 1.0, np.nan, 2.0, 3.0]]))
    with pytest.raises(ValueError, match=r"unknown method 'buk' \(did you mean 'bulk'\?\)"):
        ess_(np.zeros((2, 8)), "buk")
    with pytest.raises(ValueError, match="unknown method 'rnk'"):
        rhat(np.zeros((2, 8)), "rnk")
    with pytest.raises(ValueError, match="^prob must be given for method='quantile'$"):
        mcse(np.zeros((2, 8)), "quantile")
    with pytest.raises(ValueError, match=r"^prob must be a number in \(0, 1\), got 1.5$"):
        ess_(np.zeros((2, 8)), "quantile", prob=1.5)
    with pytest.raises(ValueError, match="needs at least 2 chains"):
        rhat(np.zeros((1, 8)), "identity")
    with pytest.raises(TypeError, match="^method must be one of"):
        ess_(np.zeros((2, 8)), 5.0)


def test_one_implementation_and_names():
    from langevin_opt import sgmcmc
    from langevin_opt.sgmcmc import diagnostics

    assert sgmcmc.rhat is A.rhat and sgmcmc.mcse is A.mcse and sgmcmc.ess is A.ess
    assert diagnostics.split_rhat is A.split_rhat
    x = CASES["random"]
    assert np.array_equal(A.split_rhat(x), rhat(x, "rank"))
    assert np.array_equal(A.split_rhat(x, rank_normalize=False), rhat(x, "split"))


def test_package_does_not_import_arviz():
    code = ("import sys, langevin_opt, langevin_opt.analysis, langevin_opt.sgmcmc, "
            "langevin_opt.nn; from langevin_opt.analysis import ess; "
            "print('arviz' in sys.modules, 'xarray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


# ------------------------------------------------------------------------ result views / export
@pytest.fixture(scope="module")
def land():
    from langevin_opt.sgmcmc import linear_regression, make_linear_data

    X, y = make_linear_data(60, [1.0, -0.5], seed=0)
    return linear_regression(X, y, batch_size=20)


def test_chain_result_is_chain_first_and_exports(land):
    from langevin_opt.sgmcmc import SGLD, run_chains

    r = run_chains(land, SGLD(step_size=1e-3), np.zeros(2), 60, n_chains=3, seed=1,
                   burn_in=20, thin=4, temperature=0.5)
    # (chain, draw, ...): contiguous arrays, and the old names are the same objects
    assert r.samples.shape == (3, 10, 2) and r.energies.shape == (3, 10)
    assert r.samples.flags.c_contiguous and r.energies.flags.c_contiguous
    assert r.chains is r.samples and r.energy_chains is r.energies
    idata = to_inference_data(r)
    th = idata.posterior["theta"]
    assert th.dims == ("chain", "draw", "theta_dim")
    np.testing.assert_array_equal(th.values, r.samples)
    np.testing.assert_array_equal(idata.posterior["draw"].values, r.steps)
    np.testing.assert_array_equal(idata.sample_stats["energy"].values, r.energies)
    assert np.all(idata.sample_stats["temperature"].values == 0.5)
    assert idata.posterior.attrs["created_by"] == "langevin_opt"
    # ArviZ's own diagnostics on the export equal ours on the result's arrays
    np.testing.assert_allclose(az.ess(idata)["theta"].values, ess_(r.samples), rtol=1e-8)


def test_chain_result_draws_are_the_chain_states_at_their_steps(land):
    """samples[c, k] is chain c's theta at steps[k]: the state a run of steps[k] steps ends in."""
    from langevin_opt.sgmcmc import SGLD, run_chains

    x0 = np.array([[0.3, -0.2], [0.0, 0.5], [-0.4, 0.1]])
    r = run_chains(land, SGLD(step_size=1e-3), x0, 30, seed=6, burn_in=5, thin=6,
                   temperature=0.7)
    assert r.steps.tolist() == [5, 11, 17, 23, 29]
    for c in range(3):
        for k, step in enumerate(r.steps.tolist()):
            # chain c alone (its stream is stream_offset + 0), stopped after `step` steps:
            # its final theta is the state before step `step`'s update
            alone = run_chains(land, SGLD(step_size=1e-3), x0[c], int(step), seed=6,
                               stream_offset=c, temperature=0.7, burn_in=int(step) - 1)
            assert r.samples[c, k].tobytes() == alone.theta[0].tobytes(), (c, k)
            # and energies[c, k] is the U~ step `step` evaluated there: the one draw of a
            # run of step + 1 steps that keeps only that step
            one = run_chains(land, SGLD(step_size=1e-3), x0[c], int(step) + 1, seed=6,
                             stream_offset=c, temperature=0.7, burn_in=int(step))
            assert one.energies.shape == (1, 1) and r.energies[c, k] == one.energies[0, 0]


def test_diagnostics_on_chain_result_arrays_equal_arviz(land):
    """rhat / ess / mcse of ``result.samples`` and ``result.energies`` as given = ArviZ's."""
    from langevin_opt.sgmcmc import SGLD, run_chains

    r = run_chains(land, SGLD(step_size=2e-3), np.zeros(2), 400, n_chains=4, seed=2,
                   burn_in=100, thin=3, temperature=1.0)
    ds = az.convert_to_dataset({"theta": r.samples, "energy": r.energies})  # (chain, draw)
    assert ds["theta"].dims[:2] == ("chain", "draw") and ds["theta"].shape == (4, 100, 2)
    for name, x in (("theta", r.samples), ("energy", r.energies)):
        np.testing.assert_allclose(az.rhat(ds)[name].values, rhat(x), rtol=1e-8)
        for method in ("bulk", "tail"):
            np.testing.assert_allclose(az.ess(ds, method=method)[name].values,
                                       ess_(x, method), rtol=1e-8)
        np.testing.assert_allclose(az.mcse(ds)[name].values, mcse(x), rtol=1e-8)
    # the time-first layout would be read as 100 chains of 4 draws: not the same numbers
    assert not np.allclose(rhat(r.samples), rhat(r.samples.transpose(1, 0, 2)))


def test_replica_sgld_export_has_a_temperature_dimension(land):
    from langevin_opt.sgmcmc import ReplicaExchangeSGLD, run_chains

    m = ReplicaExchangeSGLD(temperatures=(0.5, 1.0, 2.0), step_size=1e-3, swap_every=2)
    r = run_chains(land, m, np.zeros((6, 2)), 41, seed=3, thin=10)
    idata = to_inference_data(r)
    th = idata.posterior["theta"]
    assert th.dims == ("chain", "draw", "temperature", "theta_dim") and th.shape == (2, 5, 3, 2)
    np.testing.assert_array_equal(idata.posterior["temperature"].values, [0.5, 1.0, 2.0])
    assert set(idata.sample_stats.data_vars) == {"energy", "swap_acceptance"}
    # chain g*K + k sits at ladder slot k
    np.testing.assert_array_equal(th.sel(temperature=2.0).values[1], r.samples[5])
    np.testing.assert_array_equal(idata.sample_stats["energy"].values[0, :, 1], r.energies[1])
    np.testing.assert_allclose(idata.sample_stats["swap_acceptance"].values,
                               r.swap_accepts / r.swap_attempts)


def test_walker_run_views_and_export():
    mb = lo.muller_brown()
    x0 = lo.uniform_positions([[-1.0, 0.5], [0.0, 1.5]], 4, seed=2)
    s = lo.Sampler(mb, lo.MALA(dt=1e-4), temperature=[5.0, 5.0, 10.0, 10.0], seed=5,
                   schedule=lo.Linear(final=0.5), total_steps=40)
    res = s.run(s.init(x0), 40, record_every=10)
    t = res.trajectory
    assert t.chains.shape == (4, 5, 2) and np.array_equal(t.chains[3, 2], t.positions[2, 3])
    assert np.array_equal(t.energy_chains, t.energies.T)
    idata = to_inference_data(res, sampler=s)
    assert idata.posterior["x"].dims == ("chain", "draw", "x_dim")
    np.testing.assert_array_equal(idata.posterior["x"].values, t.chains)
    np.testing.assert_array_equal(idata.sample_stats["energy"].values, t.energy_chains)
    phi = 1.0 + (0.5 - 1.0) * t.steps / 40  # Linear schedule at the frames
    np.testing.assert_allclose(idata.sample_stats["temperature"].values,
                               np.array([5.0, 5.0, 10.0, 10.0])[:, None] * phi)
    np.testing.assert_allclose(idata.sample_stats["acceptance_rate"].values,
                               res.state.accepted / 40)
    bare = to_inference_data(res)  # no sampler: positions and energies only
    assert set(bare.sample_stats.data_vars) == {"energy"}


def test_walker_replica_export():
    mb = lo.muller_brown()
    rex = lo.ReplicaExchange(temperatures=[5.0, 10.0, 20.0], swap_every=5)
    s = lo.Sampler(mb, lo.Overdamped(dt=1e-4), replica_exchange=rex, seed=4)
    x0 = lo.uniform_positions([[-1.0, 0.5], [0.0, 1.5]], 6, seed=2)
    res = s.run(s.init(x0), 20, record_every=5)
    idata = to_inference_data(res, sampler=s)
    x = idata.posterior["x"]
    assert x.dims == ("chain", "draw", "temperature", "x_dim") and x.shape == (2, 5, 3, 2)
    np.testing.assert_array_equal(x.sel(temperature=10.0).values[1],
                                  res.trajectory.chains[4])
    np.testing.assert_array_equal(idata.sample_stats["run_temperature"].values[..., 2], 20.0)
    np.testing.assert_allclose(idata.sample_stats["swap_acceptance"].values,
                               res.state.swap_accepts / res.state.swap_attempts)


def test_export_errors(land, monkeypatch):
    mb = lo.muller_brown()
    s = lo.Sampler(mb, lo.Overdamped(dt=1e-4), seed=4)
    x0 = lo.uniform_positions([[-1.0, 0.5], [0.0, 1.5]], 2, seed=2)
    res = s.run(s.init(x0), 5)
    with pytest.raises(ValueError, match="no recorded frames: run the sampler with record_every"):
        to_inference_data(res, sampler=s)
    with pytest.raises(TypeError, match="^result must be a langevin_opt.sgmcmc.ChainResult"):
        to_inference_data(np.zeros((2, 5)))
    with pytest.raises(TypeError, match="^sampler must be a langevin_opt.sampling.Sampler"):
        to_inference_data(res, sampler="s")
    rec = s.run(s.init(x0), 5, record_every=5)
    monkeypatch.setitem(sys.modules, "arviz", None)  # as if not installed
    with pytest.raises(ImportError, match="^to_inference_data needs ArviZ, an optional extra"):
        to_inference_data(rec)
