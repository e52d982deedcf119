"""A neural potential in every particle engine, through the one ``particles.Potential`` protocol.

One small Behler–Parrinello network is trained (L-BFGS, a few seconds) on Lennard-Jones
clusters sampled by the package's own replica dynamics; it then runs in ``Dynamics``
(velocity Verlet, BAOAB, overdamped), FIRE, ``run_replicas``, NEB + dimer and an
``arrhenius`` cluster config.  Pair potentials keep their compiled path (bit-identical
results are pinned in ``test_pinned.py``; here the protocol's own entry point is
checked against it).
"""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from langevin_opt import mlip
from langevin_opt import particles as lp
from langevin_opt.core.errors import BackendUnavailableError
from langevin_opt.rates.saddles import find_saddle, rigid_body_modes
from langevin_opt.schema.arrhenius import cluster_structure

LJ = lp.lennard_jones(mode="shifted", cutoff=2.5)
#: LJ6 octahedron (the global minimum, r_nn ~ 1.1) and a perturbed capped trigonal bipyramid
OCTA = 1.1 / np.sqrt(2) * np.array([[0, 0, 1], [0, 0, -1], [1, 0, 0], [-1, 0, 0], [0, 1, 0],
                                    [0, -1, 0]], dtype=float)


def _sample(x0, temps, per_t, seed):
    X = np.repeat(x0[None], per_t * len(temps), axis=0)
    T = np.repeat(temps, per_t)
    out, V = [], None
    for k in range(3):
        st = lp.run_replicas(X, LJ, lp.LangevinBAOAB(dt=0.005, friction=1.0), 150,
                             temperatures=T, velocities=V, seed=seed, step0=150 * k,
                             container=lp.Container(2.5))
        X, V = st.positions, st.velocities
        out.extend(X.copy())
    return out


@pytest.fixture(scope="module")
def model():
    confs = (_sample(cluster_structure("lj13"), [0.1, 0.25], 8, 1)
             + _sample(OCTA, [0.1, 0.3], 12, 2))
    res = [lp.compute_forces(lp.ParticleSystem(c), LJ) for c in confs]
    ds = mlip.Dataset(confs, [["A"] * len(c) for c in confs], np.array([r.energy for r in res]),
                      [r.forces for r in res])
    sf = mlip.SymmetryFunctions(["A"], 2.5, mlip.radial_parameters(6, 2.5),
                                mlip.angular_parameters([0.5], [1.0, 2.0]))
    m = mlip.NeuralPotential(sf, hidden=(8,), units="reduced", seed=0)
    mlip.fit(m, ds, max_iter=250)
    return m


@pytest.fixture(scope="module")
def octa_min(model):
    q = lp.fire_minimize(lp.ParticleSystem(OCTA), model, fire=lp.FIRE(fmax=1e-7))
    assert q.converged
    return q.positions


def test_pair_potentials_satisfy_the_protocol():
    x = cluster_structure("lj13") * 1.02
    s = lp.ParticleSystem(x)
    for pot in (LJ, lp.harmonic_bonds([[0, 1], [2, 5]], k=3.0, r0=1.0)):
        assert isinstance(pot, lp.Potential) and pot.compiled
        e, f, w = pot.energy_forces(x)
        r = lp.compute_forces(s, pot)
        assert (e, w) == (r.energy, r.virial) and np.array_equal(f, r.forces)
    with pytest.raises(ValueError, match="potentials must be Potential objects"):
        lp.compute_forces(s, [LJ, "lj"])


def test_model_as_potential_matches_model(model):
    x = cluster_structure("lj13")
    s = lp.ParticleSystem(x)
    ref = model.evaluate(x, ["A"] * 13)
    for pot in (model, model.bind(["A"] * 13), lp.ExternalPotential(model)):
        r = lp.compute_forces(s, pot)
        assert r.energy == ref.energy and np.array_equal(r.forces, ref.forces)
    # a sum of a pair and a many-body term is the sum of the two
    both = lp.compute_forces(s, [LJ, model])
    assert both.energy == pytest.approx(ref.energy + lp.compute_forces(s, LJ).energy, abs=1e-12)
    with pytest.raises(ValueError, match="differ from those"):
        lp.compute_forces(lp.ParticleSystem(x[:6]), model.bind(["A"] * 13))
    with pytest.raises(ValueError, match="species must be < 1"):
        lp.compute_forces(lp.ParticleSystem(x, species=[1] * 13), model)
    # the trained network reproduces the LJ13 minimum it was sampled around
    q = lp.fire_minimize(s, model, fire=lp.FIRE(fmax=1e-6))
    q_lj = lp.fire_minimize(s, LJ, fire=lp.FIRE(fmax=1e-6))
    assert q.converged and q.fmax < 1e-6
    assert np.abs(q.positions - q_lj.positions).max() < 0.02
    assert q.energy == pytest.approx(q_lj.energy, rel=0.01)


def test_nve_energy_conservation(model, octa_min):
    v = lp.maxwell_boltzmann(np.ones(6), 3, 0.1, seed=4)
    d = lp.Dynamics(lp.ParticleSystem(octa_min), model, lp.VelocityVerlet(dt=0.002),
                    velocities=v)
    rec = d.run(1000, record_every=10)
    e = rec.total_energy
    drift = np.abs(e - e[0]).max()
    assert rec.kinetic_energy.std() > 0.05          # it moves
    assert drift < 2e-4 * 6, drift                  # |dE| per atom < 2e-4 over 1000 steps
    # halving dt shrinks the fluctuation about 4x (second order)
    d2 = lp.Dynamics(lp.ParticleSystem(octa_min), model, lp.VelocityVerlet(dt=0.001),
                     velocities=v)
    e2 = d2.run(2000, record_every=20).total_energy
    assert np.abs(e2 - e2[0]).max() < 0.4 * drift


def test_baoab_temperature_and_overdamped(model, octa_min):
    T = 0.08
    X = np.repeat(octa_min[None], 8, axis=0)
    st = lp.run_replicas(X, model, lp.LangevinBAOAB(dt=0.005, friction=2.0), 300,
                         temperatures=T, seed=11)
    temps = []
    for _ in range(4):
        st = lp.run_replicas(st, model, lp.LangevinBAOAB(dt=0.005, friction=2.0), 100,
                             temperatures=T, seed=11)
        temps.append(lp.kinetic_temperature(st.velocities, np.ones(6), dof=18))
    t = np.asarray(temps)
    # 32 samples of 8 x 18 degrees of freedom: std of the mean ~ T sqrt(2 / 18 / 32)
    assert abs(t.mean() - T) < 4 * T * np.sqrt(2 / 18 / 32), t.mean()
    # overdamped at T = 0 descends to the minimum; at T > 0 it stays finite and near it
    s = lp.ParticleSystem(octa_min * 1.05)
    d = lp.Dynamics(s, model, lp.LangevinOverdamped(dt=0.002), temperature=0.0, seed=1)
    e0 = d.energy
    d.run(400)
    assert d.energy < e0 and np.abs(d.forces).max() < 1e-3
    d = lp.Dynamics(s, model, lp.LangevinOverdamped(dt=0.002), temperature=0.05, seed=1)
    d.run(200)
    assert np.isfinite(d.energy) and d.energy < e0


def test_run_replicas_equals_independent_dynamics(model, octa_min):
    integ = lp.LangevinBAOAB(dt=0.005, friction=1.0)
    X = np.stack([octa_min, octa_min * 1.01])
    V = np.stack([lp.maxwell_boltzmann(np.ones(6), 3, 0.1, seed=k) for k in (1, 2)])
    both = lp.run_replicas(X, model, integ, 60, temperatures=0.1, velocities=V, seed=5)
    for k in (0, 1):
        one = lp.run_replicas(X[k:k + 1], model, integ, 60, temperatures=0.1,
                              velocities=V[k:k + 1], seed=5, stream_ids=[k])
        assert np.array_equal(one.positions[0], both.positions[k])
        assert np.array_equal(one.velocities[0], both.velocities[k])
    # replica 0 uses streams 0..N-1, as Dynamics does
    d = lp.Dynamics(lp.ParticleSystem(X[0]), model, integ, temperature=0.1, velocities=V[0],
                    seed=5)
    d.run(60)
    assert np.array_equal(d.x, both.positions[0]) and d.energy == both.energy[0]
    q = lp.fire_replicas(both.positions, model, fire=lp.FIRE(fmax=1e-6))
    assert q.converged.all() and np.all(q.fmax < 1e-6)
    with pytest.raises(BackendUnavailableError, match="many-body potentials run on"):
        lp.run_replicas(X, model, integ, 1, seed=1, backend="cuda")
    with pytest.raises(BackendUnavailableError, match="pair potentials only"):
        lp.Dynamics(lp.ParticleSystem(X[0]), model, integ, seed=1, backend="cuda")


def test_neb_and_dimer_on_the_network(model):
    # a five-atom cluster: two trigonal bipyramids either side of the square pyramid
    # (Berry pseudorotation), quenched on the network
    sq = np.array([[0, 0, 0.75], [0.78, 0, 0], [-0.78, 0, 0], [0, 0.78, 0], [0, -0.78, 0]])
    d = np.zeros_like(sq)
    d[1:, :2] = [[-0.1, 0], [0.1, 0], [0, 0.1], [0, -0.1]]
    a, b = (lp.fire_minimize(lp.ParticleSystem(sq + sgn * d), model,
                             fire=lp.FIRE(fmax=1e-6)).positions for sgn in (1, -1))
    a = a - a.mean(axis=0)
    b = lp.align(b - b.mean(axis=0), a)
    assert np.abs(a - b).max() > 0.2                 # two distinct (permuted) minima
    f = lp.energy_function(lp.ParticleSystem(a), model)
    sr = find_saddle(f, a.ravel(), b.ravel(), n_images=7, fmax=1e-3, n_zero=6,
                     zero_modes=lambda x: rigid_body_modes(x, 3))
    assert sr.ok and sr.saddle.n_negative == 1
    # the climbing image and the dimer refinement agree
    assert sr.neb.energies.max() == pytest.approx(sr.saddle.energy, abs=3e-3)
    assert sr.barrier > 0.05
    assert np.abs(f(sr.saddle.x)[1]).max() < 2e-3


CONFIG = """
[experiment]
name = "mlip13"
seed = 3
[cluster]
structure = "lj13"
container_radius = 3.0
potential = {kind = "mlip", model = "model.npz"}
[integrator]
kind = "baoab"
dt = 0.005
friction = 2.0
[rates]
temperatures = [0.05]
walkers = 2
max_steps = 40
chunk = 20
bootstrap = 0
[theory]
enabled = false
[output]
plot = false
"""


def test_arrhenius_cluster_config_with_model(model, tmp_path):
    from langevin_opt.cli import cli

    mlip.save_model(model, tmp_path / "model.npz")
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    res = CliRunner().invoke(cli, ["arrhenius", str(cfg), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    q = lp.fire_minimize(lp.ParticleSystem(cluster_structure("lj13")), model,
                         fire=lp.FIRE(fmax=1e-8))
    assert summary["start_energy"] == pytest.approx(q.energy, abs=1e-6)
    assert summary["rows"][0]["censored"] == 2     # T = 0.05: no escape in 40 steps


@pytest.mark.parametrize("old, new, message", [
    ('model = "model.npz"', 'model = "nothere.npz"', "[cluster] potential: model file"),
    ('kind = "mlip"', 'kind = "eam"', "[cluster] potential: kind must be one of lj, mlip"),
    ('structure = "lj13"', 'structure = "lj7_2d"', "[cluster] structure: a neural potential"),
    ('model = "model.npz"', 'model = "bad.npz"', "[cluster] potential: "),
    ('model = "model.npz"', 'model = "model.npz", skin = 1', "unknown key 'skin'"),
])
def test_arrhenius_model_config_errors(model, tmp_path, old, new, message):
    from langevin_opt.cli import cli

    mlip.save_model(model, tmp_path / "model.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a model")
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.replace(old, new))
    res = CliRunner().invoke(cli, ["arrhenius", str(cfg), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    line = res.output.strip()
    assert "Traceback" not in line and len(line.splitlines()) == 1
    assert message in line, line
