"""mlip transfer learning: frozen parameters (every method), the subspace landscape, fine-tuning
a pretrained model on another system, and the species mapping and its errors (issue 15)."""

import numpy as np
import pytest

from langevin_opt import mlip
from langevin_opt import particles as lp

RC = 5.0
BASE = 3.6 * np.array([[0, 0, 0], [.5, .5, 0], [.5, 0, .5], [0, .5, .5], [1, 0, 0],
                       [0, 1, 0], [0, 0, 1], [1, .5, .5], [.5, 1, .5], [.5, .5, 1]])


def morse_clusters(k, seed, species="Cu", *, depth=0.4, r0=2.6, scale=1.0):
    """Clusters of 6-10 atoms near an fcc fragment labelled by a Morse potential (no ASE)."""
    pot = lp.morse(depth=depth, alpha=1.4, r0=r0, cutoff=4.5, mode="shifted")
    rng = np.random.default_rng(seed)
    pos, sp, E, F = [], [], [], []
    for _ in range(k):
        n = int(rng.integers(6, 11))
        x = scale * BASE[:n] + rng.normal(0, 0.15, (n, 3))
        res = lp.compute_forces(lp.ParticleSystem(x), pot)
        pos.append(x)
        sp.append([species] * n)
        E.append(res.energy)
        F.append(res.forces)
    return mlip.Dataset(pos, sp, E, F)


def nickel(k, seed):
    """Another 'metal': a deeper, shorter Morse well on a 3 % smaller fragment."""
    return morse_clusters(k, seed, "Ni", depth=0.5, r0=2.5, scale=0.97)


def sf(species=("Cu",)):
    return mlip.SymmetryFunctions(list(species), RC, mlip.radial_parameters(5, RC),
                                  mlip.angular_parameters([0.01], [1.0, 2.0]))


@pytest.fixture(scope="module")
def pretrained():
    model = mlip.NeuralPotential(sf(), hidden=(6, 5), seed=0)
    mlip.fit(model, morse_clusters(16, 1), max_iter=80)
    return model


# ------------------------------------------------------------------ masks and the subspace
def test_parameter_mask_follows_the_mlp_layout():
    model = mlip.NeuralPotential(sf(("Cu", "Ag")), hidden=(4, 3), seed=1)
    net = model.networks[0]
    for layer in range(3):
        m = mlip.parameter_mask(model, layers=layer, species="Ag")
        th = np.zeros(model.n_params)
        th[m] = 1.0
        assert th[:net.n_params].sum() == 0  # Cu's network is not selected
        ag = net.unflatten(th[net.n_params:])
        for q, (w, b) in enumerate(ag):  # exactly W_layer and b_layer of Ag
            assert np.all(w == (q == layer)) and np.all(b == (q == layer))
    assert np.array_equal(mlip.parameter_mask(model, layers=-1),
                          mlip.parameter_mask(model, layers=2))
    assert mlip.parameter_mask(model).all()
    with pytest.raises(ValueError, match=r"layers must hold integers in \[-3, 2\]"):
        mlip.parameter_mask(model, layers=3)
    with pytest.raises(ValueError, match="species must be among the model's"):
        mlip.parameter_mask(model, species="Ni")


def test_subspace_landscape_is_the_restriction_of_the_loss(pretrained):
    ds = morse_clusters(5, 2)
    land = mlip.potential_landscape(pretrained, ds, prior_sigma=2.0, batch_size=2)
    keep = ~mlip.parameter_mask(pretrained, layers=0)
    th = pretrained.theta + np.random.default_rng(3).normal(0, 0.1, pretrained.n_params)
    sub = mlip.subspace_landscape(land, keep, th)
    assert sub.n_params == int(keep.sum()) < land.n_params
    u, g = land.energy(th)
    us, gs = sub.energy(th[keep])
    assert us == u and np.array_equal(gs, g[keep])  # the same kernels, bit for bit
    um, gm = land.energy(th, seed=5, chain=1, step=3)  # minibatch: the same batch too
    ums, gms = sub.energy(th[keep], seed=5, chain=1, step=3)
    assert ums == um and np.array_equal(gms, gm[keep])
    phi = th[keep] + 0.3
    assert np.array_equal(sub.full(phi)[~keep], th[~keep])
    with pytest.raises(ValueError, match="trainable must select at least one parameter"):
        mlip.subspace_landscape(land, np.zeros(land.n_params, dtype=bool))
    with pytest.raises(ValueError, match="trainable must be a boolean array"):
        mlip.fit(pretrained, ds, trainable=np.ones(3, dtype=bool))


@pytest.mark.parametrize("method,settings", [
    ("lbfgs", {}),
    ("sgld", {"step_size": 2e-4, "temperature": 1e-3, "batch_size": 3, "seed": 4}),
    ("psgld", {"step_size": 1e-3, "temperature": 1e-4, "batch_size": 3, "seed": 5}),
])
def test_frozen_parameters_stay_bit_identical_and_the_others_train(method, settings):
    train = morse_clusters(9, 6)
    model = mlip.NeuralPotential(sf(), hidden=(6, 5), seed=2)
    model.fit_standardization(train.configurations())
    frozen = mlip.parameter_mask(model, layers=0)
    before = model.theta.copy()
    res = mlip.fit(model, train, method=method, max_iter=60, log_every=20,
                   trainable=~frozen, standardize=False, **settings)
    assert res.n_trainable == int((~frozen).sum())
    assert np.array_equal(model.theta[frozen], before[frozen])  # bit for bit
    moved = model.theta[~frozen] != before[~frozen]
    assert moved.mean() > 0.9  # Langevin noise and the gradient move the trainable ones
    assert res.curve["loss"][-1] < 0.7 * res.curve["loss"][0]


# ------------------------------------------------------------------ fine-tuning
def test_fine_tuning_lowers_the_target_loss_and_leaves_the_pretrained_model(pretrained):
    theta0 = pretrained.theta.copy()
    ni, ni_val = nickel(8, 7), nickel(6, 8)
    for freeze in (0, 1, [0, 1]):
        res = mlip.fine_tune(pretrained, ni, species_map={"Ni": "Cu"}, freeze=freeze,
                             validation=ni_val, max_iter=60, log_every=30)
        m = res.model
        assert m is not pretrained and m.species == ("Ni",)
        fz = mlip.frozen_mask(m, freeze)
        assert np.array_equal(m.theta[fz], theta0[fz])
        assert np.array_equal(m.feature_std, pretrained.feature_std)  # kept by default
        c = res.curve
        assert c["loss"][-1] < 0.5 * c["loss"][0]
        assert c["val_force_rmse"][-1] < c["val_force_rmse"][0]
    assert np.array_equal(pretrained.theta, theta0) and pretrained.species == ("Cu",)
    # an sgmcmc method, with a frozen first layer
    res = mlip.fine_tune(pretrained, ni, species_map={"Ni": "Cu"}, freeze=1, method="sgd",
                         step_size=2e-3, max_iter=200, batch_size=4, seed=0, log_every=100)
    assert res.curve["loss"][-1] < 0.7 * res.curve["loss"][0]


def test_residual_offsets_make_the_pretrained_network_match_the_mean_energy(pretrained):
    ni = nickel(6, 9)
    m = mlip.transfer_model(pretrained, {"Ni": "Cu"})
    m.energy_offsets = mlip.residual_offsets(m, ni)
    e = np.array([m.energy(ni.positions[c], ni.species[c]) for c in range(len(ni))])
    # least squares on the atom counts: the residuals are orthogonal to them
    assert abs(np.sum((ni.energies - e) * ni.n_atoms)) < 1e-9 * np.sum(np.abs(ni.energies))


def test_restandardize_and_model_files(pretrained, tmp_path):
    path = tmp_path / "cu.npz"
    mlip.save_model(pretrained, path)
    ni = nickel(6, 10)
    res = mlip.fine_tune(path, ni, species_map={"Ni": "Cu"}, restandardize=True,
                         max_iter=5)
    ref = mlip.NeuralPotential(res.model.descriptor, hidden=(6, 5), seed=0)
    ref.fit_standardization(ni.configurations())
    assert np.array_equal(res.model.feature_mean, ref.feature_mean)


# ------------------------------------------------------------------ bad input
def test_unknown_target_species_is_one_clear_error(pretrained):
    ni = nickel(3, 11)
    with pytest.raises(ValueError) as err:
        mlip.fine_tune(pretrained, ni, max_iter=5)
    msg = str(err.value)
    assert "\n" not in msg
    assert "species ('Ni',) that the pretrained model does not know" in msg
    assert "species_map={'Ni': 'Cu'}" in msg


@pytest.mark.parametrize("kwargs,match", [
    ({"species_map": {"Ni": "Au"}}, r"species_map values must be species of the pretrained"),
    ({"species_map": {"Ni": "Cu", "Pt": "Cu"}}, "maps two species to the same pretrained"),
    ({"species_map": {"Pt": "Cu"}}, r"species_map keys must be species of the fine-tuning"),
    ({"species_map": ["Ni", "Cu"]}, "species_map must be a dict"),
    ({"species_map": {"Ni": "Cu"}, "freeze": 3}, r"freeze must be a number of first layers "
                                                 r"in \[0, 2\]"),
    ({"species_map": {"Ni": "Cu"}, "freeze": [0, 1, 2]}, "freeze must leave at least one"),
    ({"species_map": {"Ni": "Cu"}, "trainable": None}, "fine_tune sets trainable itself"),
    ({"species_map": {"Ni": "Cu"}, "method": "adam"}, "method must be one of"),
])
def test_bad_fine_tuning_settings_get_one_line_errors(pretrained, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match) as err:
        mlip.fine_tune(pretrained, nickel(3, 12), max_iter=5, **kwargs)
    assert "\n" not in str(err.value)


def test_renaming_that_would_merge_two_networks_is_refused():
    two = mlip.NeuralPotential(sf(("Cu", "Ni")), hidden=(3,), seed=0)
    with pytest.raises(ValueError, match="a name would stand for two networks"):
        mlip.transfer_model(two, {"Ni": "Cu"})
    ok = mlip.transfer_model(two, {"Au": "Cu"})
    assert ok.species == ("Au", "Ni") and np.array_equal(ok.theta, two.theta)


def test_transfer_learning_figure_is_written_from_a_results_table(tmp_path):
    from langevin_opt.plotting.mlip import transfer_learning_figure

    row = {"energy_mev_per_atom": 2.0, "energy_std": 0.5, "force_ev_per_a": 0.05,
           "force_std": 0.01}
    table = {"scratch": {"10": row, "30": row}, "zero_shot": {"10": row, "30": row}}
    out = transfer_learning_figure(table, tmp_path / "t.png", labels={"scratch": "s"},
                                   reference={"energy_mev_per_atom": 1.0})
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = {"scratch": {"10": {k: v for k, v in row.items() if k != "force_std"}}}
    with pytest.raises(KeyError, match="force_std"):
        transfer_learning_figure(bad, tmp_path / "u.png")
    assert not (tmp_path / "u.png").exists()
