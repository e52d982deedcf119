"""mlip model on random networks: symmetries, forces and virial as exact derivatives,
continuity at the cutoff, thread independence, the engine interface, model files, bad input."""

import zipfile

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langevin_opt import mlip
from langevin_opt.mlip import io as mio
from langevin_opt.particles import fcc_lattice

RC = 3.6
BOX = np.array([7.4, 7.8, 8.2])
SF = mlip.SymmetryFunctions(
    ["Cu", "Ag"], RC, mlip.radial_parameters(4, RC, r_lower=1.0),
    np.vstack([mlip.angular_parameters([0.01, 0.05], [1.0, 3.0]),
               mlip.angular_parameters([0.02], [2.0], [1.0], kind=5)]))
SF_TANH = mlip.SymmetryFunctions(["Cu", "Ag"], RC, mlip.radial_parameters(3, RC),
                                 mlip.angular_parameters([0.02], [2.0]), cutoff_function="tanh3")
MODELS = {"cosine": mlip.NeuralPotential(SF, hidden=(8, 6), seed=0),
          "tanh3": mlip.NeuralPotential(SF_TANH, hidden=(5,), activation="softplus", seed=0),
          "sorted": mlip.NeuralPotential(mlip.SortedInverseDistance(["Cu", "Ag"], RC, 4),
                                         hidden=(6,), seed=0)}


def randomize(model, seed):
    """A random network: weights, standardisation and reference energies from ``seed``."""
    rng = np.random.default_rng(seed)
    S, D = model.descriptor.n_species, model.descriptor.n_features
    model.set_params(rng.normal(0.0, 0.6, model.n_params))
    model.feature_mean = rng.normal(0.0, 0.3, (S, D))
    model.feature_std = rng.uniform(0.5, 2.0, (S, D))
    model.energy_offsets = rng.normal(0.0, 1.0, S)
    return model


def configuration(seed, n, box=None, extent=4.5, dmin=1.0):
    rng = np.random.default_rng(seed)
    lo = np.zeros(3) if box is not None else -0.5 * extent * np.ones(3)
    hi = box if box is not None else 0.5 * extent * np.ones(3)
    x = []
    while len(x) < n:
        c = rng.uniform(lo, hi)
        d = c - np.array(x).reshape(-1, 3)
        if box is not None:
            d -= box * np.round(d / box)
        if not len(x) or np.min(np.linalg.norm(d, axis=1)) >= dmin:
            x.append(c)
    return np.array(x), rng.integers(0, 2, n)


def rotation(seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


systems = st.fixed_dictionaries({
    "seed": st.integers(0, 2**32 - 1), "n": st.integers(2, 8), "periodic": st.booleans(),
    "model": st.sampled_from(sorted(MODELS))})


def setup(p):
    model = randomize(MODELS[p["model"]], p["seed"])
    box = BOX if p["periodic"] else None
    x, sp = configuration(p["seed"] + 1, p["n"] + (4 if p["periodic"] else 0), box)
    return model, x, sp, box


# ------------------------------------------------------------------ symmetries
@settings(max_examples=15, deadline=None)
@given(p=systems)
def test_invariances(p):
    model, x, sp, box = setup(p)
    res = model.evaluate(x, sp, box)
    scale = 1e-12 * max(1.0, np.abs(res.atomic_energies).sum())
    rng = np.random.default_rng(p["seed"] + 2)
    # translation (and, in a box, whole box vectors on some atoms)
    shift = rng.normal(0.0, 3.0, 3)
    x2 = x + shift
    if box is not None:
        x2 += box * rng.integers(-2, 3, x.shape)
    r2 = model.evaluate(x2, sp, box)
    assert abs(r2.energy - res.energy) <= scale
    np.testing.assert_allclose(r2.forces, res.forces, atol=1e-10)
    # permutation of the atoms (like atoms exchanged, species carried along)
    perm = rng.permutation(len(x))
    r3 = model.evaluate(x[perm], sp[perm], box)
    assert abs(r3.energy - res.energy) <= scale
    np.testing.assert_allclose(r3.forces, res.forces[perm], atol=1e-10)
    np.testing.assert_allclose(r3.atomic_energies, res.atomic_energies[perm], atol=1e-12)
    # rotation (clusters: an orthorhombic box is not rotation invariant)
    if box is None:
        R = rotation(p["seed"])
        r4 = model.evaluate(x @ R.T, sp)
        assert abs(r4.energy - res.energy) <= scale
        np.testing.assert_allclose(r4.forces, res.forces @ R.T, atol=1e-10)
    # names and indices are the same species
    names = np.array(model.species)[sp]
    assert model.evaluate(x, names, box).energy == res.energy


# ------------------------------------------------------------------ forces and virial
def numeric_forces(model, x, sp, box, h=1e-5):
    F = np.zeros_like(x)
    for m in range(len(x)):
        for a in range(3):
            xp, xm = x.copy(), x.copy()
            xp[m, a] += h
            xm[m, a] -= h
            F[m, a] = -(model.energy(xp, sp, box) - model.energy(xm, sp, box)) / (2 * h)
    return F


@settings(max_examples=15, deadline=None)
@given(p=systems)
def test_forces_are_minus_the_energy_gradient(p):
    model, x, sp, box = setup(p)
    res = model.evaluate(x, sp, box)
    assert np.abs(res.forces.sum(axis=0)).max() <= 1e-13 * max(1.0, np.abs(res.forces).sum())
    fmax = max(1.0, np.abs(res.forces).max())
    np.testing.assert_allclose(res.forces, numeric_forces(model, x, sp, box), atol=2e-7 * fmax)
    assert np.isclose(res.energy, res.atomic_energies.sum(), rtol=0, atol=1e-12)
    assert model.energy(x, sp, box) == res.energy


def strained_energy(model, x, sp, box, eps):
    F = np.eye(3) + eps
    return model.energy(x @ F.T, sp, None if box is None else box * np.diag(F))


@settings(max_examples=12, deadline=None)
@given(p=systems)
def test_virial_is_minus_the_strain_derivative(p):
    model, x, sp, box = setup(p)
    res = model.evaluate(x, sp, box)
    h = 1e-6
    # a box stays orthorhombic under diagonal strains only; clusters take any strain
    comps = [(a, a) for a in range(3)] if box is not None else [(a, b) for a in range(3)
                                                                  for b in range(3)]
    for a, b in comps:
        e = np.zeros((3, 3))
        e[a, b] = h
        num = -(strained_energy(model, x, sp, box, e)
                - strained_energy(model, x, sp, box, -e)) / (2 * h)
        assert abs(num - res.virial_tensor[a, b]) <= 1e-6 * max(1.0, np.abs(res.virial_tensor).max())
    np.testing.assert_allclose(res.virial_tensor, res.virial_tensor.T, atol=1e-11)
    np.testing.assert_allclose(res.atomic_virials.sum(axis=0), res.virial_tensor, atol=1e-12)
    if box is not None:
        # scalar virial W = -3 V dU/dV under isotropic scaling of box and positions
        V = np.prod(box)
        s = 1e-6
        up = strained_energy(model, x, sp, box, np.eye(3) * s)
        dn = strained_energy(model, x, sp, box, -np.eye(3) * s)
        dUdV = (up - dn) / (V * ((1 + s) ** 3 - (1 - s) ** 3))
        assert abs(res.virial + 3 * V * dUdV) <= 1e-6 * max(1.0, abs(res.virial))
        assert res.virial == np.trace(res.virial_tensor)


# ------------------------------------------------------------------ the cutoff
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), model=st.sampled_from(sorted(MODELS)),
       sp=st.lists(st.integers(0, 1), min_size=4, max_size=4))
def test_energy_continuous_as_a_neighbour_crosses_the_cutoff(seed, model, sp):
    m = randomize(MODELS[model], seed)
    # atom 3 leaves atom 0's sphere along -x; atoms 1 and 2 are neighbours of atom 0 whose
    # mutual distance is inside the cutoff, so G2, G4 (through R_ij, R_ik) and G5 all change
    def conf(d):
        return np.array([[0.0, 0, 0], [1.9, 0.3, 0], [0.2, 1.8, 0.4], [-d, 0.1, 0.0]])

    sp = np.array(sp)
    delta = 1e-7
    inside = m.evaluate(conf(np.sqrt(RC**2 - 0.01) - delta), sp)
    outside = m.evaluate(conf(np.sqrt(RC**2 - 0.01) + delta), sp)
    assert abs(inside.energy - outside.energy) < 1e-9
    # cosine and tanh^3 cutoffs have zero slope at R_c: the forces are continuous as well
    np.testing.assert_allclose(inside.forces, outside.forces, atol=1e-5)
    # beyond the cutoff atom 3 is isolated: its energy is that of a lone atom
    far = m.evaluate(conf(RC + 0.5), sp)
    assert abs(far.energy - outside.energy) < 1e-6 * max(1.0, abs(far.energy))


def test_energy_sweep_through_cutoff_has_no_jump():
    m = randomize(MODELS["cosine"], 7)
    ds = np.linspace(RC - 0.05, RC + 0.05, 201)
    x = np.array([[0.0, 0, 0], [1.9, 0.3, 0], [0.2, 1.8, 0.4], [0.0, 0.0, 0.0]])
    E = []
    for d in ds:
        x[3] = [-d, 0.0, 0.0]
        E.append(m.energy(x, [0, 1, 0, 1]))
    steps = np.abs(np.diff(E))
    assert steps.max() > 1e-7 and steps[-20:].max() == 0.0  # E varies inside, not outside
    # E(d) is smooth through R_c: no second difference comes near the size of a step (a
    # jump J at R_c would make one of them at least J)
    assert np.abs(np.diff(E, 2)).max() < 0.05 * steps.max()


# ------------------------------------------------------------------ threads and engine interface
@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_threads_bit_identical():
    x, box = fcc_lattice(3, 4 / 3.61**3)  # Cu fcc, a = 3.61 Å: 108 atoms, 10.83 Å box
    rng = np.random.default_rng(5)
    x = x + rng.normal(0, 0.1, x.shape)
    sp = rng.integers(0, 2, len(x))
    assert np.all(box >= 2 * RC)
    out = {}
    for name in MODELS:
        model = randomize(MODELS[name], 11)
        old = numba.get_num_threads()
        try:
            for t in (1, 2):
                numba.set_num_threads(t)
                out[name, t] = model.evaluate(x, sp, box)
        finally:
            numba.set_num_threads(old)
        a, b = out[name, 1], out[name, 2]
        assert a.energy == b.energy and a.virial == b.virial
        for f in ("forces", "virial_tensor", "atomic_energies", "atomic_virials"):
            assert np.array_equal(getattr(a, f), getattr(b, f)), f
        assert np.abs(a.forces).max() > 0


def test_bound_potential_keeps_a_verlet_list():
    model = randomize(MODELS["cosine"], 3)
    x, sp = configuration(9, 14, BOX)
    pot = model.bind(np.array(model.species)[sp], skin=0.4)
    e, f, w = pot.energy_forces(x, BOX)
    ref = model.evaluate(x, sp, BOX)
    assert abs(e - ref.energy) < 1e-12 and abs(w - ref.virial) < 1e-10
    np.testing.assert_allclose(f, ref.forces, atol=1e-12)
    rng = np.random.default_rng(1)
    for _ in range(3):  # moves below skin / 2: the list is reused and results stay exact
        x = x + rng.uniform(-0.05, 0.05, x.shape)
        e, f, w = pot.energy_forces(x, BOX)
        ref = model.evaluate(x, sp, BOX)
        assert abs(e - ref.energy) < 1e-12
        np.testing.assert_allclose(f, ref.forces, atol=1e-12)
    assert pot.neighbor_list.n_builds == 1 and pot.n_atoms == 14 and pot.cutoff == RC
    pot.energy_forces(x + 0.3, BOX)  # a larger move rebuilds
    assert pot.neighbor_list.n_builds == 2
    with pytest.raises(ValueError, match="species must have shape"):
        pot.energy_forces(x[:5], BOX)


def test_energy_is_the_sum_of_species_networks_on_standardised_descriptors():
    model = randomize(MODELS["cosine"], 4)
    confs = [configuration(s, 10, BOX) + (BOX,) for s in range(3)]
    model.fit_standardization(confs)
    x, sp, _ = confs[0]
    G = SF.compute(x, sp, BOX)
    allG = np.vstack([SF.compute(c[0], c[1], BOX) for c in confs])
    allsp = np.concatenate([c[1] for c in confs])
    for s in range(2):
        np.testing.assert_allclose(model.feature_mean[s], allG[allsp == s].mean(axis=0),
                                   atol=1e-12)
    X = (G - model.feature_mean[sp]) / model.feature_std[sp]
    expect = sum(model.networks[s].forward(model.species_params(s), X[sp == s]).sum()
                 + model.energy_offsets[s] * np.sum(sp == s) for s in range(2))
    assert abs(model.energy(x, sp, BOX) - expect) < 1e-11


# ------------------------------------------------------------------ model files
def test_save_load_roundtrip(tmp_path):
    for name, model in MODELS.items():
        randomize(model, 21)
        model.units = "reduced" if name == "sorted" else "metal"
        path = tmp_path / f"{name}.model"
        mlip.save_model(model, path)
        back = mlip.load_model(path)
        assert back.descriptor == model.descriptor and back.species == model.species
        assert (back.hidden, back.activation, back.units) == (model.hidden, model.activation,
                                                              model.units)
        x, sp = configuration(2, 9, BOX)
        a, b = model.evaluate(x, sp, BOX), back.evaluate(x, sp, BOX)
        assert a.energy == b.energy and np.array_equal(a.forces, b.forces)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cosine.model", "sorted.model",
                                                           "tanh3.model"]  # no temporaries


def _one_line_error(path, text):
    with pytest.raises(mio.ModelFileError) as info:
        mlip.load_model(path)
    assert text in str(info.value) and "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_corrupted_or_foreign_model_files(tmp_path, monkeypatch):
    model = randomize(MODELS["cosine"], 1)
    good = tmp_path / "good.npz"
    mlip.save_model(model, good)
    raw = good.read_bytes()
    # a flipped byte inside the parameters: the zip CRC or the checksum catches it
    with zipfile.ZipFile(good) as z:
        info = z.getinfo("theta.npy")
    flipped = bytearray(raw)
    flipped[info.header_offset + 30 + len(info.filename) + 200] ^= 0x10
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(mio.ModelFileError, match="corrupted|not a readable"):
        mlip.load_model(bad)
    # a consistent archive whose parameters were edited: only the checksum can tell
    with np.load(good) as z:
        members = {k: z[k] for k in z.files}
    members["theta"] = members["theta"] + 1e-9
    edited = tmp_path / "edited.npz"
    np.savez(edited, **members)
    _one_line_error(edited, "checksum mismatch")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(raw[: len(raw) // 2])
    _one_line_error(truncated, "not a readable langevin_opt model file")
    text = tmp_path / "notes.txt"
    text.write_text("not a model\n")
    _one_line_error(text, "not a readable langevin_opt model file")
    members.pop("checksum")
    np.savez(tmp_path / "partial.npz", **members)
    _one_line_error(tmp_path / "partial.npz", "missing checksum")
    # another package version
    monkeypatch.setattr(mio, "__version__", "0.0.1")
    mlip.save_model(model, tmp_path / "old.npz")
    monkeypatch.undo()
    _one_line_error(tmp_path / "old.npz", "was written by langevin_opt 0.0.1")
    monkeypatch.setattr(mio, "FORMAT_VERSION", 99)
    mlip.save_model(model, tmp_path / "future.npz")
    monkeypatch.undo()
    _one_line_error(tmp_path / "future.npz", "version 99")
    with pytest.raises(FileNotFoundError):
        mlip.load_model(tmp_path / "missing.npz")


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("positions, species, box, text", [
    (np.zeros((2, 3)) + [[0, 0, 0], [1, 1, 1]], ["Cu", "Au"], None, "unknown species 'Au' (atom 1)"),
    (np.array([[0, 0, 0], [1, 1, 1.0]]), [0, 5], None, "unknown species index 5"),
    (np.array([[0, 0, 0], [1, 1, 1.0]]), ["Cu", "Cu"], [7.0, 7.0, 7.0], "exceeds half the shortest"),
    (np.array([[0, 0, 0], [np.nan, 1, 1.0]]), ["Cu", "Cu"], None, "positions must be finite; atom 1"),
    (np.array([[0, 0, 0], [1, np.inf, 1.0]]), ["Cu", "Cu"], BOX, "positions must be finite"),
])
def test_bad_input_one_clear_error(positions, species, box, text):
    model = MODELS["cosine"]
    with pytest.raises(ValueError) as info:
        model.evaluate(positions, species, box)
    assert text in str(info.value) and "\n" not in str(info.value)


def test_bad_model_settings():
    with pytest.raises(TypeError, match="seed is required"):
        mlip.NeuralPotential(SF)
    with pytest.raises(ValueError, match=r"theta must be finite with shape \("):
        mlip.NeuralPotential(SF, theta=np.zeros(3))
    with pytest.raises(ValueError, match="unknown units"):
        mlip.NeuralPotential(SF, seed=0, units="si")
    with pytest.raises(ValueError, match="hidden must hold integers"):
        mlip.NeuralPotential(SF, hidden=(4, 0), seed=0)
    with pytest.raises(TypeError, match="descriptor must be"):
        mlip.NeuralPotential("G2", seed=0)
    with pytest.raises(ValueError, match="feature_std"):
        mlip.NeuralPotential(SF, seed=0, feature_std=np.zeros((2, SF.n_features)))
    model = mlip.NeuralPotential(SF, seed=0)
    model.theta = np.zeros(3)  # reassigned by hand: checked before any kernel reads it
    with pytest.raises(ValueError, match=rf"theta must have shape \({model.n_params},\)"):
        model.energy(np.zeros((1, 3)), ["Cu"])
