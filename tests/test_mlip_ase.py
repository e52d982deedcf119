"""ASE interop of mlip: the calculator wrapping our potentials (LJ in ASE's BFGS on LJ13,
forces and stress against ASE's own finite differences), the Cu property functions of
:mod:`langevin_opt.mlip.validation` on EMT against ASE's EquationOfState, and a tiny
end-to-end EMT -> dataset -> fit -> held-out errors."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.emt import EMT
from ase.calculators.fd import calculate_numerical_forces
from ase.cluster import Icosahedron
from ase.eos import EquationOfState
from ase.optimize import BFGS

from langevin_opt import mlip
from langevin_opt import particles as lp
from langevin_opt.mlip import LangevinOptCalculator
from langevin_opt.mlip import validation as V

LJ13_MIN = -44.326801  # Wales & Doye (1997), the Cambridge Cluster Database


def cu_model(seed=0, rc=3.5):
    sf = mlip.SymmetryFunctions(["Cu"], rc, mlip.radial_parameters(5, rc, r_lower=2.0),
                                mlip.angular_parameters([0.01], [1.0, 2.0]))
    model = mlip.NeuralPotential(sf, hidden=(8,), seed=seed)
    # a random network with non-trivial standardisation and offset (any smooth potential)
    at = bulk("Cu", "fcc", a=3.6, cubic=True) * (3, 3, 3)
    model.fit_standardization([(at.positions, ["Cu"] * len(at), np.diag(at.cell))])
    model.energy_offsets = np.array([-3.5])
    return model


def rattled_cu(seed, a=3.6, reps=(3, 3, 3), sigma=0.08):
    at = bulk("Cu", "fcc", a=a, cubic=True) * reps
    at.positions += np.random.default_rng(seed).normal(0, sigma, at.positions.shape)
    return at


def axial_stress_fd(atoms, eps=1e-6):
    """(1/V) dE/d(epsilon_aa) by central differences of homogeneous axial strains."""
    out = np.empty(3)
    cell0, x0 = atoms.cell.copy(), atoms.positions.copy()
    for a in range(3):
        e = []
        for h in (eps, -eps):
            m = np.eye(3)
            m[a, a] += h
            atoms.set_cell(cell0 @ m, scale_atoms=False)
            atoms.positions = x0 @ m
            e.append(atoms.get_potential_energy())
        out[a] = (e[0] - e[1]) / (2 * eps) / atoms.get_volume()
    atoms.set_cell(cell0, scale_atoms=False)
    atoms.positions = x0
    return out


def shear_virial_fd(x, pot, h=1e-6):
    """-dE/d(epsilon) of a cluster by central differences of general (shear) strains."""
    W = np.empty((3, 3))
    for a in range(3):
        for b in range(3):
            e = []
            for s in (h, -h):
                m = np.eye(3)
                m[a, b] += s
                e.append(lp.compute_forces(lp.ParticleSystem(x @ m.T), pot).energy)
            W[a, b] = -(e[0] - e[1]) / (2 * h)
    return W


# ------------------------------------------------------------------ the calculator
def test_ase_bfgs_with_our_lj_reaches_the_lj13_global_minimum():
    atoms = Icosahedron("Ar", 2, latticeconstant=2 ** (2 / 3))
    assert len(atoms) == 13
    atoms.positions += np.random.default_rng(0).normal(0, 0.05, atoms.positions.shape)
    lj = lp.lennard_jones(mode="plain", cutoff=None)
    atoms.calc = LangevinOptCalculator(lj)
    e0 = atoms.get_potential_energy()
    assert e0 > LJ13_MIN + 0.1  # the rattle really moved it off the minimum
    assert BFGS(atoms, logfile=None).run(fmax=1e-6, steps=500)
    assert atoms.get_potential_energy() == pytest.approx(LJ13_MIN, abs=2e-6)
    # the same numbers as the package's own engine
    ref = lp.compute_forces(lp.ParticleSystem(atoms.positions), lj)
    assert atoms.get_potential_energy() == ref.energy
    assert np.array_equal(atoms.get_forces(), ref.forces)
    assert atoms.get_potential_energy(force_consistent=True) == ref.energy


@pytest.mark.parametrize("which", ["network", "bound", "lj", "morse2"])
def test_forces_and_stress_match_ase_finite_differences(which):
    if which in ("network", "bound"):
        at = rattled_cu(1, reps=(2, 2, 2))
        model = cu_model()
        calc = LangevinOptCalculator(model if which == "network" else
                                     model.bind(["Cu"] * len(at)))
        direct = model.evaluate(at.positions, ["Cu"] * len(at), np.diag(at.cell))
    elif which == "lj":
        at = Atoms("Ar32", positions=lp.fcc_lattice(2, 1.0)[0],
                   cell=np.diag(lp.fcc_lattice(2, 1.0)[1]), pbc=True)
        at.positions += np.random.default_rng(2).normal(0, 0.05, at.positions.shape)
        pot = lp.lennard_jones(cutoff=1.5, mode="shifted")
        calc = LangevinOptCalculator(pot)
        direct = lp.compute_forces(lp.ParticleSystem(at.positions, box=np.diag(at.cell)), pot)
    else:  # two species with a symbol map
        at = rattled_cu(3, a=3.0, reps=(2, 2, 2), sigma=0.1)
        at.symbols[::3] = "Ag"
        pot = lp.morse(depth=[[0.3, 0.4], [0.4, 0.5]], alpha=1.4, r0=2.3, cutoff=2.9,
                       mode="shifted")
        calc = LangevinOptCalculator(pot, species={"Cu": 0, "Ag": 1})
        sp = np.array([1 if s == "Ag" else 0 for s in at.get_chemical_symbols()])
        direct = lp.compute_forces(lp.ParticleSystem(at.positions, sp, box=np.diag(at.cell)),
                                   pot)
    at.calc = calc
    e = at.get_potential_energy()
    f = at.get_forces()
    s = at.get_stress()
    assert e == pytest.approx(direct.energy, rel=1e-12)
    assert np.allclose(f, direct.forces, rtol=0, atol=1e-12)
    assert np.abs(f).max() > 0.05 and abs(s).max() > 1e-4  # non-trivial values
    idx = [0, 5, len(at) - 1]  # a few atoms: each costs six evaluations
    fn = calculate_numerical_forces(at, eps=1e-5, iatoms=idx)
    assert np.abs(f[idx] - fn).max() < 1e-6 * max(1.0, np.abs(f).max())
    # stress = (1/V) dE/d(epsilon): axial strains keep the box orthorhombic (ASE's
    # calculate_numerical_stress also shears it, which these boxes cannot represent)
    sn = axial_stress_fd(at)
    assert np.abs(s[:3] - sn).max() < 1e-6 * max(1.0, np.abs(s).max())
    # trace of the virial tensor is the engine's scalar virial: -3 V P
    assert -s[:3].sum() * at.get_volume() == pytest.approx(direct.virial, rel=1e-9)


def test_pair_virial_tensor_off_diagonals_by_shear_strain():
    x = np.random.default_rng(4).uniform(0, 3.0, (12, 3))
    pot = lp.morse(depth=0.4, alpha=1.3, r0=1.2, cutoff=2.5, mode="shifted")
    W = mlip.calculator.pair_virial_tensor(x, np.zeros(12, dtype=np.int64), None, pot)
    Wn = shear_virial_fd(x, pot)
    assert np.abs(W - W.T).max() < 1e-12 and np.abs(W - np.diag(np.diag(W))).max() > 1e-2
    assert np.abs(W - Wn).max() < 1e-6 * max(1.0, np.abs(W).max())


def test_calculator_bad_input():
    lj = lp.lennard_jones(cutoff=2.5)
    cl = Atoms("Ar2", positions=[[0, 0, 0], [1.1, 0, 0]])
    cl.calc = LangevinOptCalculator(lj)
    cl.get_forces()
    with pytest.raises(PropertyNotImplementedError, match="periodic"):
        cl.get_stress()
    two = Atoms("ArXe", positions=[[0, 0, 0], [1.1, 0, 0]])
    two.calc = LangevinOptCalculator(lj, species=["Ar"])
    with pytest.raises(ValueError, match="'Xe' has no species index"):
        two.get_potential_energy()
    with pytest.raises(TypeError, match="PairPotential"):
        LangevinOptCalculator("lj")
    with pytest.raises(ValueError, match="species indices"):
        LangevinOptCalculator(lj, species={"Ar": 1})
    model = cu_model()
    with pytest.raises(ValueError, match="species is for pair potentials"):
        LangevinOptCalculator(model, species=["Cu"])
    wrong = rattled_cu(0, reps=(2, 2, 2))
    wrong.symbols[0] = "Ag"
    wrong.calc = LangevinOptCalculator(model)
    with pytest.raises(ValueError, match="Ag"):
        wrong.get_potential_energy()
    bound = rattled_cu(0, reps=(2, 2, 2))
    bound.calc = LangevinOptCalculator(model.bind(["Cu"] * 31 + ["Cu"]))
    bound.get_potential_energy()
    bound.pop()
    with pytest.raises(ValueError, match="bound to"):
        bound.get_potential_energy()


# ------------------------------------------------------------------ property functions on EMT
def test_lattice_constant_and_bulk_modulus_of_emt_match_ase_equation_of_state():
    # reference: ASE's own EquationOfState on E(V) of ASE's primitive fcc cell
    calc = EMT()
    vols, ens = [], []
    for a in np.linspace(3.50, 3.68, 9):
        at = bulk("Cu", "fcc", a=a)
        at.calc = calc
        vols.append(at.get_volume())
        ens.append(at.get_potential_energy())
    v0, _, b0 = EquationOfState(vols, ens, eos="birchmurnaghan").fit()
    a_ref, b_ref = (4 * v0) ** (1 / 3), b0 * V.EV_PER_A3_TO_GPA
    a0, e0 = V.lattice_constant(calc, reps=(1, 1, 1))
    eos = V.equation_of_state(calc, a_guess=a0, reps=(1, 1, 1))
    assert a0 == pytest.approx(3.59, abs=0.005)  # EMT's copper
    assert a0 == pytest.approx(a_ref, abs=2e-4) and eos.a0 == pytest.approx(a_ref, abs=2e-4)
    assert eos.bulk_modulus == pytest.approx(b_ref, rel=0.02)
    assert 100 < eos.bulk_modulus < 200 and eos.rms < 1e-4
    assert e0 == pytest.approx(eos.e0, abs=1e-5)


def test_vacancy_formation_energy_of_emt():
    calc = EMT()
    a0, _ = V.lattice_constant(calc, reps=(1, 1, 1))
    ev = V.vacancy_formation_energy(calc, a=a0, reps=(2, 2, 2), fmax=0.002)
    # independently: unrelaxed vacancy from the perfect crystal's energies only
    perfect = bulk("Cu", "fcc", a=a0, cubic=True) * (2, 2, 2)
    perfect.calc = calc
    e_n = perfect.get_potential_energy()
    vac = perfect.copy()
    del vac[7]
    vac.calc = calc
    ev_unrelaxed = vac.get_potential_energy() - 31 / 32 * e_n
    assert 0.0 < ev_unrelaxed - ev < 0.2  # relaxation lowers it, a little
    assert 0.8 < ev < 1.5  # copper's vacancy is ~1 eV


def test_flat_function_gradient_and_adatom_endpoints():
    slab = V.fcc100_slab("Cu", 3.6, size=(3, 3), layers=3, n_fixed_layers=1)
    start, end = V.adatom_hop_endpoints(slab)
    assert len(start) == 28 and np.array_equal(start.constraints[0].index, end.constraints[0].index)
    assert np.isclose(np.linalg.norm(end.positions[-1] - start.positions[-1]), 3.6 / 2**0.5)
    fixed = start.constraints[0].index
    assert len(fixed) == 9 and np.allclose(start.positions[fixed, 2],
                                           start.positions[:, 2].min())
    model = cu_model(rc=3.5)
    box = np.diag(start.cell).copy()
    moving = np.setdiff1d(np.arange(28), fixed)
    f, x0 = V.flat_function(model.bind(["Cu"] * 28), start.positions, box, moving)
    e, g = f(x0)
    full = model.evaluate(start.positions, ["Cu"] * 28, box)
    assert e == full.energy and np.array_equal(g, -full.forces[moving].ravel())
    k = 3 * (len(moving) - 1) + 2  # adatom z
    h = 1e-5
    xp, xm = x0.copy(), x0.copy()
    xp[k] += h
    xm[k] -= h
    assert g[k] == pytest.approx((f(xp)[0] - f(xm)[0]) / (2 * h), abs=1e-6)


def test_tiny_emt_pipeline_held_out_errors_drop():
    rng = np.random.default_rng(5)

    def confs(k):
        out = []
        for _ in range(k):
            at = rattled_cu(int(rng.integers(1 << 30)), a=3.59 * (1 + rng.uniform(-0.02, 0.02)),
                            reps=(2, 2, 2), sigma=0.1)
            if rng.random() < 0.5:
                del at[0]
            out.append(at)
        return out

    train, test = mlip.label_with(EMT(), confs(10)), mlip.label_with(EMT(), confs(4))
    model = cu_model(seed=1)
    calc = LangevinOptCalculator(model)
    model.fit_standardization(train.configurations())
    model.energy_offsets = train.energy_offsets(model.species)
    before = V.energy_force_errors(calc, test)  # untrained network, same offsets
    res = mlip.fit(model, train, validation=test, max_iter=60, log_every=60)
    after = V.energy_force_errors(calc, test)
    assert after["force_rmse"] < 0.3 * before["force_rmse"]
    assert after["energy_rmse_per_atom"] < 0.5 * before["energy_rmse_per_atom"]
    # the calculator path and the training path measure the same thing
    assert after["force_rmse"] == pytest.approx(res.validation["force_rmse"], rel=1e-9)
    assert after["energy_rmse_per_atom"] == pytest.approx(
        res.validation["energy_rmse_per_atom"], rel=1e-9)
