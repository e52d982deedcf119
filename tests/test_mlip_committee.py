"""Committees of neural potentials: the likelihood convention, the exact Gaussian posterior of
a model linear in its parameters, deep ensembles and posterior committees keyed by
(seed, member) for any thread count, predictions as a particle potential with a spread
monitor, storage, and bad input.

Data: small copper-like clusters labelled by a Morse pair potential (no ASE, milliseconds).
"""

import math

import numpy as np
import pytest
from stats_util import z_crit

from langevin_opt import mlip
from langevin_opt import particles as lp
from langevin_opt.mlip import committee as mc

RC = 4.5
SE, SF, SP = 0.03, 0.2, 1.0  # eV/atom, eV/Å, prior std: the likelihood of most tests


def morse_clusters(k, seed, species=("Cu",)):
    """Clusters of 5-8 atoms near an fcc fragment, labelled by a Morse potential."""
    pot = lp.morse(depth=0.4, alpha=1.4, r0=2.6, cutoff=RC, mode="shifted")
    rng = np.random.default_rng(seed)
    base = 3.6 * np.array([[0, 0, 0], [.5, .5, 0], [.5, 0, .5], [0, .5, .5], [1, 0, 0],
                           [0, 1, 0], [0, 0, 1], [1, .5, .5]])
    pos, sp, E, F = [], [], [], []
    for _ in range(k):
        n = int(rng.integers(5, 9))
        x = base[:n] + rng.normal(0, 0.15, (n, 3))
        res = lp.compute_forces(lp.ParticleSystem(x), pot)
        pos.append(x)
        sp.append([species[i % len(species)] for i in range(n)])
        E.append(res.energy)
        F.append(res.forces)
    return mlip.Dataset(pos, sp, E, F)


@pytest.fixture(scope="module")
def data():
    return morse_clusters(8, 0), morse_clusters(4, 1)


def small_net(train, seed=0, hidden=(4,)):
    m = mlip.NeuralPotential(mlip.SymmetryFunctions(["Cu"], RC, mlip.radial_parameters(3, RC)),
                             hidden=hidden, seed=seed)
    m.fit_standardization(train.configurations())
    m.energy_offsets = train.energy_offsets(m.species)
    return m


@pytest.fixture(scope="module")
def ensemble(data):
    train, _ = data
    return mlip.deep_ensemble(small_net(train), train, n_members=3, seed=5, sigma_energy=SE,
                              sigma_force=SF, prior_sigma=SP, max_iter=40)


def one_line(excinfo):
    return "\n" not in str(excinfo.value)


# ------------------------------------------------------------------ likelihood convention
def test_posterior_landscape_is_the_gaussian_negative_log_posterior(data):
    train, _ = data
    model = small_net(train)
    th = model.theta + np.random.default_rng(1).normal(0, 0.3, model.n_params)
    land = mlip.posterior_landscape(model, train, sigma_energy=SE, sigma_force=SF,
                                    prior_sigma=SP)
    # -log p: energies with variance N_c sigma_E^2, force components sigma_F^2, prior
    ref = th @ th / (2 * SP**2)
    other = mlip.NeuralPotential(model.descriptor, model.hidden, theta=th,
                                 feature_mean=model.feature_mean,
                                 feature_std=model.feature_std,
                                 energy_offsets=model.energy_offsets)
    for c in range(len(train)):
        r = other.evaluate(train.positions[c], train.species[c])
        n = len(train.species[c])
        ref += (r.energy - train.energies[c]) ** 2 / (2 * n * SE**2) \
            + np.sum((r.forces - train.forces[c]) ** 2) / (2 * SF**2)
    u, g = land.energy(th)
    assert u == pytest.approx(ref, rel=1e-12)
    assert mlip.errors(land, th)["loss"] + th @ th / (2 * SP**2) == pytest.approx(u, rel=1e-12)
    h = 1e-6
    fd = np.array([(land.energy(th + h * e)[0] - land.energy(th - h * e)[0]) / (2 * h)
                   for e in np.eye(th.size)])
    assert np.max(np.abs(g - fd)) < 1e-6 * np.max(np.abs(g))
    # a minibatch of 2 of 8 configurations, rescaled by C / n, is unbiased over an epoch
    mb = mlip.posterior_landscape(model, train, sigma_energy=SE, sigma_force=SF,
                                  prior_sigma=SP, batch_size=2)
    us, gs = zip(*(mb.energy(th, seed=3, step=s) for s in range(4)), strict=True)
    assert np.mean(us) == pytest.approx(u, rel=1e-12)
    assert np.allclose(np.mean(gs, axis=0), g, rtol=1e-10, atol=1e-10 * np.abs(g).max())
    # multiplicities count a configuration that many times (bootstrap)
    mult = np.array([2.0, 0, 1, 1, 1, 1, 1, 3])
    twice = mlip.posterior_landscape(model, train, sigma_energy=SE, sigma_force=SF,
                                     multiplicity=mult)
    per = [mlip.posterior_landscape(model, train.subset([c]), sigma_energy=SE,
                                    sigma_force=SF).energy(th)[0] for c in range(len(train))]
    assert twice.energy(th)[0] == pytest.approx(np.dot(mult, per), rel=1e-12)
    # reweighting shares the precomputed arrays and gives the same landscape
    again = mlip.reweighted(land, twice.config_weights)
    assert again.data[7] is land.data[7]
    assert again.energy(th)[0] == pytest.approx(twice.energy(th)[0] + th @ th / (2 * SP**2),
                                                rel=1e-12)  # land has the prior


def test_sgld_reproduces_the_exact_gaussian_posterior_of_a_linear_model(data):
    """A network without hidden layer is linear in its parameters: E and F are ``J theta + c``
    with ``J`` from the model's own evaluations at unit parameter vectors, so the posterior
    is Gaussian with precision ``H = J^T W J + I / sigma_p^2`` and mean
    ``H^-1 J^T W (y - c)``, ``W`` = 1 / (N_c sigma_E^2) for energies, 1 / sigma_F^2 for force
    components.  The committee's predictions on held-out clusters must have that mean and
    covariance within tolerances from the effective sample size (plus SGLD's known O(eta)
    variance bias, eta lambda_max / (2 - eta lambda_max) for a Gaussian target)."""
    train, test = morse_clusters(6, 0), morse_clusters(3, 5)
    model = mlip.NeuralPotential(mlip.SortedInverseDistance(["Cu"], RC, 3), hidden=(),
                                 seed=0)
    model.fit_standardization(train.configurations())
    model.energy_offsets = train.energy_offsets(model.species)
    P = model.n_params

    def outputs(th, ds):
        m = mlip.NeuralPotential(model.descriptor, (), theta=th,
                                 feature_mean=model.feature_mean,
                                 feature_std=model.feature_std,
                                 energy_offsets=model.energy_offsets)
        rs = [m.evaluate(ds.positions[c], ds.species[c]) for c in range(len(ds))]
        return np.concatenate([np.concatenate([[r.energy], r.forces.ravel()]) for r in rs])

    def design(ds):
        c0 = outputs(np.zeros(P), ds)
        return np.stack([outputs(e, ds) - c0 for e in np.eye(P)], axis=1), c0

    J, c0 = design(train)
    assert np.allclose(outputs(model.theta, train), J @ model.theta + c0, atol=1e-10)  # linear
    y = np.concatenate([np.concatenate([[train.energies[c]], train.forces[c].ravel()])
                        for c in range(len(train))])
    w = np.concatenate([[1 / (n * SE**2)] + [1 / SF**2] * (3 * n) for n in train.n_atoms])
    H = J.T @ (w[:, None] * J) + np.eye(P) / SP**2
    cov = np.linalg.inv(H)
    mean = cov @ (J.T @ (w * (y - c0)))
    lam = np.linalg.eigvalsh(H)  # measured: 1.6e4 ... 1.9e5 (kappa 11.6)
    eta = 0.05 / lam[-1]
    cm = mlip.posterior_committee(model, train, seed=11, sigma_energy=SE, sigma_force=SF,
                                  prior_sigma=SP, method="sgld", step_size=eta,
                                  n_steps=100_000, burn_in=10_000, n_chains=4,
                                  record_every=25)
    d = cm.info["diagnostics"]
    assert cm.kind == "posterior" and d["converged"] and d["max_rhat"] < 1.02
    n_eff = min(cm.n_members, d["min_ess"])
    assert n_eff > 600  # measured: ~900 members thinned every ~400 steps
    A, a0 = design(test)
    q = cm.thetas @ A.T + a0  # the members' predictions (they are linear in theta)
    qm, qc = A @ mean + a0, A @ cov @ A.T
    sd = np.sqrt(np.diag(qc))
    # means of every energy and force component, Bonferroni over all of them
    z_mean = np.abs(q.mean(axis=0) - qm) / (sd / math.sqrt(n_eff))
    assert z_mean.max() < z_crit(m=qm.size), z_mean.max()
    # covariance: whitened in the rank-P subspace of the predictions it must be the identity
    val, vec = np.linalg.eigh(qc)
    W = vec[:, -P:] / np.sqrt(val[-P:])
    Z = (q - qm) @ W
    dev = np.abs(np.cov(Z.T) - np.eye(P))
    bias = eta * lam[-1] / (2 - eta * lam[-1])
    tol = z_crit(m=P * (P + 1) // 2) * math.sqrt(2 / n_eff) + bias
    assert dev.max() < tol, (dev.max(), tol)
    # the test has power: the per-configuration (not per-atom) energy noise convention
    # gives a posterior the samples reject
    w_alt = np.concatenate([[1 / SE**2] + [1 / SF**2] * (3 * n) for n in train.n_atoms])
    cov_alt = np.linalg.inv(J.T @ (w_alt[:, None] * J) + np.eye(P) / SP**2)
    val, vec = np.linalg.eigh(A @ cov_alt @ A.T)
    Z_alt = (q - q.mean(axis=0)) @ (vec[:, -P:] / np.sqrt(val[-P:]))
    assert np.abs(np.cov(Z_alt.T) - np.eye(P)).max() > 3 * tol


def linear_posterior(train):
    """A network without hidden layer (linear in theta) and its exact Gaussian posterior.

    Returns the model, ``design(ds) -> (A, a0)`` (outputs ``A theta + a0``), the posterior
    mean and covariance and the precision ``H`` (as in the test above).
    """
    model = mlip.NeuralPotential(mlip.SortedInverseDistance(["Cu"], RC, 3), hidden=(),
                                 seed=0)
    model.fit_standardization(train.configurations())
    model.energy_offsets = train.energy_offsets(model.species)
    P = model.n_params

    def outputs(th, ds):
        m = mlip.NeuralPotential(model.descriptor, (), theta=th,
                                 feature_mean=model.feature_mean,
                                 feature_std=model.feature_std,
                                 energy_offsets=model.energy_offsets)
        rs = [m.evaluate(ds.positions[c], ds.species[c]) for c in range(len(ds))]
        return np.concatenate([np.concatenate([[r.energy], r.forces.ravel()]) for r in rs])

    def design(ds):
        c0 = outputs(np.zeros(P), ds)
        return np.stack([outputs(e, ds) - c0 for e in np.eye(P)], axis=1), c0

    J, c0 = design(train)
    y = np.concatenate([np.concatenate([[train.energies[c]], train.forces[c].ravel()])
                        for c in range(len(train))])
    w = np.concatenate([[1 / (n * SE**2)] + [1 / SF**2] * (3 * n) for n in train.n_atoms])
    H = J.T @ (w[:, None] * J) + np.eye(P) / SP**2
    cov = np.linalg.inv(H)
    return model, design, cov @ (J.T @ (w * (y - c0))), cov, H


def test_laplace_metric_sgld_from_overdispersed_starts_samples_the_exact_posterior():
    """With ``metric="laplace"`` each chain runs SGLD in ``theta = theta_c + L phi`` with
    ``L L^T = H^-1`` (exact here: the model is linear), so every direction has unit
    curvature in ``phi`` and a step ``eta = 0.2`` mixes in a few steps where plain SGLD needs
    ``0.05 / lambda_max`` (tens of thousands of steps, the test above).  Chains start 4
    posterior standard deviations apart (over-dispersed), and the pooled, balanced
    committee must still have the exact mean and covariance (tolerance from the ESS plus
    the O(eta) variance bias eta / (2 - eta) of SGLD at unit curvature)."""
    train, test = morse_clusters(6, 0), morse_clusters(3, 5)
    model, design, mean, cov, H = linear_posterior(train)
    P = model.n_params
    land = mlip.posterior_landscape(model, train, sigma_energy=SE, sigma_force=SF,
                                    prior_sigma=SP)
    L, facts = mc.laplace_metric(land, mean, floor=1 / SP**2)
    assert np.allclose(L @ L.T, cov, rtol=1e-5, atol=1e-5 * np.abs(cov).max())
    assert facts["n_negative"] == 0 and facts["lambda_max"] == pytest.approx(
        np.linalg.eigvalsh(H)[-1], rel=1e-6)
    rng = np.random.default_rng(3)
    chol = np.linalg.cholesky(cov)
    start = mean + 4.0 * rng.standard_normal((4, P)) @ chol.T
    eta = 0.2
    cm = mlip.posterior_committee(model, train, seed=2, sigma_energy=SE, sigma_force=SF,
                                  prior_sigma=SP, method="sgld", step_size=eta,
                                  n_steps=6000, burn_in=500, start=start, metric="laplace",
                                  record_every=1)
    d = cm.info["diagnostics"]
    assert cm.info["metric"] == "laplace" and len(cm.info["metric_chains"]) == 4
    assert cm.info["start"] == "given" and cm.info["n_chains"] == 4
    assert d["converged"] and d["max_rhat"] < 1.02 and d["max_rhat_within"] < 1.02
    assert d["median_between_fraction"] < 0.01
    assert d["tau_steps"] < 30  # measured: 12.4 (plain SGLD at 0.05 / lambda_max: ~400)
    n_eff = min(cm.n_members, d["min_ess"])
    assert n_eff > 1000
    A, a0 = design(test)
    q = cm.thetas @ A.T + a0
    qm, qc = A @ mean + a0, A @ cov @ A.T
    sd = np.sqrt(np.diag(qc))
    z_mean = np.abs(q.mean(axis=0) - qm) / (sd / math.sqrt(n_eff))
    assert z_mean.max() < z_crit(m=qm.size), z_mean.max()
    val, vec = np.linalg.eigh(qc)
    Z = (q - qm) @ (vec[:, -P:] / np.sqrt(val[-P:]))
    dev = np.abs(np.cov(Z.T) - np.eye(P))
    tol = z_crit(m=P * (P + 1) // 2) * math.sqrt(2 / n_eff) + eta / (2 - eta)
    assert dev.max() < tol, (dev.max(), tol)
    # a balanced committee: 6 members from 4 chains, 2 + 2 + 1 + 1
    six = mlip.posterior_committee(model, train, seed=2, sigma_energy=SE, sigma_force=SF,
                                   prior_sigma=SP, method="sgld", step_size=eta,
                                   n_steps=6000, burn_in=500, start=start,
                                   metric="laplace", record_every=1, n_members=6)
    assert np.bincount(six.info["diagnostics"]["chain_of_member"]).tolist() == [2, 2, 1, 1]
    # the diagonal (Jacobi) metric is also a valid constant metric
    diag = mlip.posterior_committee(model, train, seed=2, sigma_energy=SE, sigma_force=SF,
                                    prior_sigma=SP, method="sgld", step_size=0.02,
                                    n_steps=1500, start=start[:2], metric="diagonal")
    Ld = np.diag(1 / np.sqrt(np.diag(H)))
    Lc, _ = mc.laplace_metric(land, start[0], floor=1 / SP**2, diagonal=True)
    assert np.allclose(Lc, Ld, rtol=1e-5) and diag.info["metric"] == "diagonal"


def test_posterior_committee_start_and_metric_checks(data, ensemble):
    train, _ = data
    kw = dict(seed=0, sigma_energy=SE, sigma_force=SF, prior_sigma=SP, step_size=1e-6,
              n_steps=100)
    P = ensemble.n_params
    for bad in (np.zeros((2, P + 1)), np.zeros(P), np.full((2, P), np.nan)):
        with pytest.raises(ValueError, match="start must be") as e:
            mlip.posterior_committee(ensemble.member(0), train, start=bad, **kw)
        assert one_line(e)
    with pytest.raises(ValueError, match="n_chains=3 but start has 2 rows"):
        mlip.posterior_committee(ensemble.member(0), train, start=ensemble.thetas[:2],
                                 n_chains=3, **kw)
    with pytest.raises(ValueError, match="metric"):
        mlip.posterior_committee(ensemble.member(0), train, metric="fisher", **kw)
    # chains start at the given rows: chain c's first recorded sample is start[c]
    cm = mlip.posterior_committee(ensemble.member(0), train, start=ensemble.thetas,
                                  burn_in=0, record_every=1, n_members=3,
                                  **{**kw, "n_steps": 200})
    assert cm.info["n_chains"] == 3
    assert np.array_equal(cm.thetas, ensemble.thetas)


# ------------------------------------------------------------------ deep ensembles
def test_deep_ensemble_members_are_trained_and_keyed_by_seed_and_member(data, ensemble):
    train, _ = data
    assert ensemble.kind == "ensemble" and ensemble.n_members == 3
    base = mlip.posterior_landscape(ensemble.model, train, sigma_energy=SE, sigma_force=SF,
                                    prior_sigma=SP)
    for k in range(3):
        th0 = mlip.NeuralPotential(ensemble.model.descriptor, (4,),
                                   seed=mc.member_seed(5, k)).theta
        assert base.energy(ensemble.thetas[k])[0] < 0.05 * base.energy(th0)[0]
        assert ensemble.info["members"][k]["U"] == pytest.approx(
            base.energy(ensemble.thetas[k])[0])
    assert not np.allclose(ensemble.thetas[0], ensemble.thetas[1])
    # member k does not depend on the ensemble size
    two = mlip.deep_ensemble(small_net(train), train, n_members=2, seed=5, sigma_energy=SE,
                             sigma_force=SF, prior_sigma=SP, max_iter=40)
    assert np.array_equal(two.thetas, ensemble.thetas[:2])
    # fine-tuning a pretrained model on bootstrap resamples keeps its standardisation
    pre = ensemble.member(2)
    pre.feature_mean = pre.feature_mean + 0.01
    ft = mlip.deep_ensemble(pre, train, n_members=2, seed=1, sigma_energy=SE, sigma_force=SF,
                            init="pretrained", bootstrap=True, max_iter=5)
    assert np.array_equal(ft.model.feature_mean, pre.feature_mean)
    assert not np.array_equal(ft.thetas[0], ft.thetas[1])
    assert ft.info["init"] == "pretrained" and len(ft.info["bootstrap_counts"]) == 2


def test_sgmcmc_ensembles_are_bit_identical_for_any_thread_count_and_batching(data):
    train, _ = data
    kw = dict(n_members=3, seed=2, sigma_energy=SE, sigma_force=SF, prior_sigma=SP,
              method="sgld", step_size=1e-5, temperature=0.1, max_iter=300, batch_size=4)
    one = mlip.deep_ensemble(small_net(train), train, threads=1, **kw)
    two = mlip.deep_ensemble(small_net(train), train, threads=2, **kw)
    assert np.array_equal(one.thetas, two.thetas)
    # member k is the same in a 2- and a 3-member ensemble (chain k runs on stream k)
    kw["n_members"] = 2
    assert np.array_equal(mlip.deep_ensemble(small_net(train), train, **kw).thetas,
                          one.thetas[:2])
    # bootstrap: counts keyed by (seed, member), summing to C; other members than without
    boot = mlip.deep_ensemble(small_net(train), train, bootstrap=True, threads=2,
                              **{**kw, "n_members": 3})
    counts = np.array(boot.info["bootstrap_counts"])
    assert counts.shape == (3, len(train)) and np.all(counts.sum(axis=1) == len(train))
    assert not np.array_equal(counts[0], counts[1])
    assert not np.array_equal(boot.thetas, one.thetas)
    again = mlip.deep_ensemble(small_net(train), train, bootstrap=True, threads=1,
                               **{**kw, "n_members": 3})
    assert np.array_equal(again.thetas, boot.thetas)


# ------------------------------------------------------------------ posterior committees
def test_posterior_committee_is_reproducible_for_any_thread_count(data, ensemble):
    train, _ = data
    start = ensemble.member(0)
    kw = dict(seed=4, sigma_energy=SE, sigma_force=SF, prior_sigma=SP, step_size=2e-6,
              n_steps=1500, n_chains=2, batch_size=4, init_noise=0.01)
    a = mlip.posterior_committee(start, train, threads=1, **kw)
    b = mlip.posterior_committee(start, train, threads=2, **kw)
    assert np.array_equal(a.thetas, b.thetas) and a.info == b.info
    d = a.info["diagnostics"]
    assert a.n_members == d["n_independent"] >= 2
    assert d["thin_steps"] >= d["tau_steps"] > 0
    assert len(d["ess"]) == len(d["rhat"]) == 4 * len(d["monitored_configurations"])
    assert a.info["temperature"] == 1.0 and a.info["sigma_energy"] == SE
    # members in (chain, draw) order: chain 0's thinned samples in step order, then chain 1's
    per = a.n_members // 2
    assert list(d["chain_of_member"]) == [0] * per + [1] * per
    # fewer members on request, evenly spaced among the independent samples: here one
    # per chain, each its chain's first kept sample
    c = mlip.posterior_committee(start, train, n_members=2, **kw)
    assert c.n_members == 2 and list(c.info["diagnostics"]["chain_of_member"]) == [0, 1]
    assert np.array_equal(c.thetas[0], a.thetas[0]) and np.array_equal(c.thetas[1], a.thetas[per])
    with pytest.warns(RuntimeWarning, match="independent samples"):
        mlip.posterior_committee(start, train, n_members=10_000, **kw)


@pytest.mark.parametrize("method,settings", [("psgld", {"step_size": 1e-4}),
                                             ("sghmc", {"step_size": 1e-6, "friction": 0.1}),
                                             ("csgld", {"step_size": 4e-6, "n_cycles": 2})])
def test_other_posterior_samplers(data, ensemble, method, settings):
    train, _ = data
    cm = mlip.posterior_committee(ensemble.member(1), train, seed=1, sigma_energy=SE,
                                  sigma_force=SF, prior_sigma=SP, method=method,
                                  n_steps=1200, n_chains=2, **settings)
    assert cm.info["method"] == method and cm.n_members >= 2
    assert np.all(np.isfinite(cm.info["diagnostics"]["rhat"]))
    assert np.ptp(cm.predict_dataset(train).member_energies, axis=0).min() > 0


# ------------------------------------------------------------------ predictions
def test_predictions_are_the_member_mean_and_spread(data, ensemble):
    train, val = data
    x, sp = val.positions[0], val.species[0]
    p = ensemble.predict(x, sp)
    rs = [ensemble.member(k).evaluate(x, sp) for k in range(3)]
    e = np.array([r.energy for r in rs])
    f = np.stack([r.forces for r in rs])
    assert p.energy == pytest.approx(e.mean(), rel=1e-14)
    assert p.energy_std == pytest.approx(e.std(ddof=1), rel=1e-12)
    assert p.energy_per_atom_std == pytest.approx(e.std(ddof=1) / len(sp), rel=1e-12)
    assert np.allclose(p.forces_std, f.std(axis=0, ddof=1), rtol=1e-12, atol=0)
    assert p.max_force_std == p.forces_std.max() > 0
    assert p.atomic_energies.sum() == pytest.approx(p.energy, rel=1e-12)
    # the mean forces are minus the gradient of the mean energy
    h = 1e-5
    for i, a in ((0, 0), (3, 2)):
        xp, xm = x.copy(), x.copy()
        xp[i, a] += h
        xm[i, a] -= h
        fd = -(ensemble.predict(xp, sp).energy - ensemble.predict(xm, sp).energy) / (2 * h)
        assert p.forces[i, a] == pytest.approx(fd, abs=1e-6)
    ds = ensemble.predict_dataset(val)
    assert ds.energies[0] == pytest.approx(p.energy, rel=1e-14)
    assert np.allclose(ds.forces[:len(sp)], p.forces, rtol=0, atol=1e-14)
    assert ds.member_forces.shape == (3, int(val.n_atoms.sum()), 3)
    # post-hoc calibration: k = sqrt(mean((error / spread)^2)), reported and applied
    cal = ensemble.calibrate(val)
    de = (ds.energies - val.energies) / val.n_atoms
    kf = math.sqrt(np.mean(((ds.forces - np.vstack(val.forces)) / ds.forces_std) ** 2))
    ke = math.sqrt(np.mean((de / (ds.energy_std / val.n_atoms)) ** 2))
    assert cal.force_scale == pytest.approx(kf, rel=1e-12)
    assert cal.energy_scale == pytest.approx(ke, rel=1e-12)
    assert cal.info["calibration"]["force_scale"] == cal.force_scale
    q = cal.predict(x, sp)
    assert np.allclose(q.forces_std, kf * p.forces_std, rtol=1e-12)
    assert q.energy_std == pytest.approx(ke * p.energy_std, rel=1e-12)
    assert q.energy == p.energy


def test_committee_as_particle_potential_with_a_spread_monitor(data, ensemble):
    _, val = data
    x = val.positions[1]
    n = x.shape[0]
    s = lp.ParticleSystem(x)
    ref = ensemble.predict(x, ["Cu"] * n)
    for pot in (ensemble, ensemble.bind(["Cu"] * n)):
        r = lp.compute_forces(s, pot)
        assert r.energy == ref.energy and np.array_equal(r.forces, ref.forces)
    # a monitor shared with the engine's own binding records every call
    mon = mc.SpreadMonitor(threshold=1e9)
    bound = ensemble.bind(["Cu"] * n, monitor=mon)
    d = lp.Dynamics(s, bound, lp.LangevinBAOAB(dt=0.002, friction=5.0), temperature=0.01,
                    seed=3)
    d.run(5)
    assert mon.n_calls >= 5 and mon.exceeded == [] and mon.first_exceeded is None
    assert mon.max_force_std.shape == (mon.n_calls,) and np.all(mon.max_force_std > 0)
    assert bound.last is mon.last and mon.last.forces.shape == (n, 3)
    epa, fstd = bound.uncertainty(x)
    assert np.array_equal(fstd, ref.forces_std) and epa.shape == (n,)
    # a threshold below the spread: flagged, or the run stops
    low = 0.5 * float(mon.max_force_std.min())
    flag = mc.SpreadMonitor(threshold=low)
    lp.Dynamics(s, ensemble.bind(["Cu"] * n, monitor=flag),
                lp.LangevinBAOAB(dt=0.002, friction=5.0), temperature=0.01, seed=3).run(3)
    assert flag.first_exceeded == 0 and len(flag.exceeded) == flag.n_calls
    stop = mc.SpreadMonitor(threshold=low, action="raise")
    with pytest.raises(mc.UncertaintyExceeded, match="exceeds the threshold") as info:
        lp.Dynamics(s, ensemble.bind(["Cu"] * n, monitor=stop),
                    lp.LangevinBAOAB(dt=0.002, friction=5.0), temperature=0.01,
                    seed=3).run(3)
    assert info.value.call == 0 and info.value.prediction.max_force_std > low
    # FIRE relaxes on the mean
    q = lp.fire_minimize(s, ensemble, fire=lp.FIRE(fmax=1e-3))
    assert q.converged


# ------------------------------------------------------------------ storage
def test_save_load_round_trip_and_corruption(tmp_path, data, ensemble):
    _, val = data
    cal = ensemble.calibrate(val)
    path = tmp_path / "committee.npz"
    mlip.save_committee(cal, path)
    back = mlip.load_committee(path)
    assert np.array_equal(back.thetas, cal.thetas) and back.kind == "ensemble"
    assert (back.energy_scale, back.force_scale) == (cal.energy_scale, cal.force_scale)
    assert back.info == cal.info
    x, sp = val.positions[2], val.species[2]
    a, b = cal.predict(x, sp), back.predict(x, sp)
    assert a.energy == b.energy and np.array_equal(a.forces_std, b.forces_std)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(mlip.ModelFileError) as info:
        mlip.load_committee(bad)
    assert one_line(info)
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(mlip.ModelFileError, match="not a readable"):
        mlip.load_committee(bad)
    # an edited array with the old checksum
    with np.load(path) as z:
        arrs = {k: z[k] for k in z.files}
    arrs["thetas"] = arrs["thetas"] + 1e-9
    np.savez(bad, **arrs)
    with pytest.raises(mlip.ModelFileError, match="checksum mismatch"):
        mlip.load_committee(bad)
    mlip.save_model(ensemble.member(0), tmp_path / "model.npz")
    with pytest.raises(mlip.ModelFileError, match="missing thetas"):
        mlip.load_committee(tmp_path / "model.npz")
    with pytest.raises(FileNotFoundError):
        mlip.load_committee(tmp_path / "none.npz")


# ------------------------------------------------------------------ bad input
def test_bad_input_gets_one_clear_error(data, ensemble):
    train, _ = data
    model = ensemble.member(0)
    with pytest.raises(ValueError, match="at least 2 members") as info:
        mlip.Committee(model, ensemble.thetas[:1])
    assert one_line(info)
    with pytest.raises(ValueError, match="n_members must be >= 2") as info:
        mlip.deep_ensemble(model, train, n_members=1, seed=0, sigma_energy=SE,
                           sigma_force=SF)
    assert one_line(info)
    with pytest.raises(ValueError, match="n_members must be None or an integer >= 2"):
        mlip.posterior_committee(model, train, seed=0, sigma_energy=SE, sigma_force=SF,
                                 n_steps=100, n_members=1)
    for thr in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="threshold must be a finite number > 0") as info:
            mc.SpreadMonitor(threshold=thr)
        assert one_line(info)
    # fine-tuning on species the pretrained model does not know
    new = morse_clusters(3, 9, species=("Cu", "Ag"))
    for call in (lambda: mlip.posterior_committee(model, new, seed=0, sigma_energy=SE,
                                                  sigma_force=SF, n_steps=100),
                 lambda: mlip.deep_ensemble(model, new, n_members=2, seed=0, sigma_energy=SE,
                                            sigma_force=SF, init="pretrained",
                                            bootstrap=True)):
        with pytest.raises(ValueError, match=r"species \('Ag',\) that the pretrained model "
                                             r"does not know \(its species: \('Cu',\)\)") as info:
            call()
        assert one_line(info)
    with pytest.raises(ValueError, match="sigma_energy must be a finite number > 0"):
        mlip.posterior_landscape(model, train, sigma_energy=0.0, sigma_force=SF)
    with pytest.raises(ValueError, match="unknown method 'sgd'"):
        mlip.posterior_committee(model, train, seed=0, sigma_energy=SE, sigma_force=SF,
                                 n_steps=100, method="sgd")
    with pytest.raises(ValueError, match="samples at temperature 1"):
        mlip.posterior_committee(model, train, seed=0, sigma_energy=SE, sigma_force=SF,
                                 n_steps=100, temperature=0.5)
    with pytest.raises(ValueError, match="too few to measure"):
        mlip.posterior_committee(model, train, seed=0, sigma_energy=SE, sigma_force=SF,
                                 n_steps=20, record_every=5, step_size=1e-7)
    with pytest.raises(ValueError, match="identical members"):
        mlip.deep_ensemble(model, train, n_members=2, seed=0, sigma_energy=SE,
                           sigma_force=SF, init="pretrained")
    with pytest.raises(ValueError, match="config_weights must be finite and >= 0"):
        mlip.potential_landscape(model, train, config_weights=-np.ones(len(train)))
