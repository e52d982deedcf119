"""Particle potentials: symmetries and force laws (hypothesis), known values, validation."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize

from langevin_opt import particles as lp

RC = 2.5
SKIN = 0.3
SPACING = 1.15  # lattice spacing of the jittered configurations
JITTER = 0.15  # max displacement from a site, so pairs are >= 0.85 apart


# ---------------------------------------------------------------------------
# potentials under test: name -> (open-system terms, periodic terms or None)
# ---------------------------------------------------------------------------
def _bonds(n, extra):
    chain = [(i, i + 1) for i in range(n - 1)]
    return np.array(chain + [p for p in extra if p[0] != p[1]] or [(0, 1)])


def _lj(mode):
    return lp.lennard_jones(epsilon=[1.0, 0.6], sigma=[1.0, 0.85], cutoff=RC, mode=mode)


def make_terms(name, periodic, n, extra_bonds=()):
    """The potential terms of a test case (two LJ species; bonds on a chain + extras)."""
    if name.startswith("lj_"):
        mode = name[3:]
        return None if (periodic and mode == "plain") else [_lj(mode)]
    if name == "morse":
        return [lp.morse(depth=1.0, alpha=3.0, r0=1.1, cutoff=RC if periodic else None,
                         mode="shifted" if periodic else "plain", n_species=2)]
    bonds = _bonds(n, extra_bonds)
    if name == "gaussian_bonds":
        return [lp.gaussian_bonds(bonds, depth=1.5, width=0.35, r0=1.2)]
    if name == "harmonic_bonds":
        return [lp.harmonic_bonds(bonds, k=20.0, r0=1.0)]
    if name == "lj+bonds":
        return [_lj("shifted"), lp.harmonic_bonds(bonds, k=5.0, r0=1.1)]
    raise KeyError(name)


NAMES = ["lj_plain", "lj_truncated", "lj_shifted", "morse", "gaussian_bonds",
         "harmonic_bonds", "lj+bonds"]


# ---------------------------------------------------------------------------
# configurations: jittered lattices (no overlaps), clusters and periodic boxes
# ---------------------------------------------------------------------------
@st.composite
def configurations(draw, name, periodic=None):
    dim = draw(st.sampled_from([2, 3]))
    if periodic is None:
        periodic = draw(st.booleans())
    if name == "lj_plain":
        periodic = False
    n = draw(st.integers(2, 64))
    side = math.ceil(n ** (1.0 / dim))
    if periodic:
        # the cutoff must not exceed half the box; larger boxes exercise the cell grid
        edge = max(side * SPACING, 2.0 * RC + 0.1) * draw(st.floats(1.0, 1.8))
        box = np.full(dim, edge)
        a = edge / side
    else:
        box = None
        a = SPACING
    sites = draw(st.lists(st.integers(0, side**dim - 1), min_size=n, max_size=n,
                          unique=True))
    jitter = draw(st.lists(st.floats(-JITTER, JITTER), min_size=n * dim,
                           max_size=n * dim))
    grid = lp.cubic_lattice(side, a, dim)[sites]
    x = grid + a / SPACING * np.array(jitter).reshape(n, dim)
    if box is not None:
        x += draw(st.floats(-2.0, 2.0)) * box  # unwrapped input, wrapped by the system
    species = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                          max_size=4))
    system = lp.ParticleSystem(x, species=species, box=box)
    terms = make_terms(name, periodic, n, extra)
    return system, terms


def energy(system, terms):
    return lp.compute_forces(system, terms).energy


def forces(system, terms):
    """Forces through the neighbor list when periodic (cells), all-pairs otherwise."""
    if system.periodic:
        return lp.compute_forces(system, terms, neighbors=lp.NeighborList(RC, SKIN))
    return lp.compute_forces(system, terms)


def assume_no_pair_near_cutoff(system, terms, margin=1e-4):
    """Exclude the kinks: pairs at the cutoff, bonds at half the box (minimum image)."""
    if any(isinstance(t, lp.PairPotential) and math.isfinite(t.cutoff) for t in terms):
        d = system.distance_matrix()
        assume(not np.any(np.abs(d - RC) < margin))
    if system.periodic:
        for t in terms:
            if isinstance(t, lp.BondPotential):
                x = system.positions
                dr = np.abs(system.minimum_image(x[t.bonds[:, 0]] - x[t.bonds[:, 1]]))
                assume(not np.any(np.abs(dr - system.box / 2) < 10 * margin))


def rotation(angles, dim):
    if dim == 2:
        c, s = math.cos(angles[0]), math.sin(angles[0])
        return np.array([[c, -s], [s, c]])
    q = np.array([math.cos(angles[0]), *angles[1:4]])
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


SET = settings(max_examples=15, deadline=None)


# ---------------------------------------------------------------------------
# symmetries
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
@SET
@given(data=st.data())
def test_energy_invariant_under_translation(name, data):
    system, terms = data.draw(configurations(name))
    shift = np.array(data.draw(st.lists(st.floats(-10, 10), min_size=3, max_size=3)))
    moved = system.with_positions(system.positions + shift[: system.dim])
    assume_no_pair_near_cutoff(system, terms, 1e-9)
    assert energy(moved, terms) == pytest.approx(energy(system, terms), rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("name", NAMES)
@SET
@given(data=st.data())
def test_energy_invariant_under_rotation(name, data):
    system, terms = data.draw(configurations(name, periodic=False))
    angles = data.draw(st.lists(st.floats(-3.2, 3.2), min_size=4, max_size=4))
    assume(np.linalg.norm([math.cos(angles[0]), *angles[1:4]]) > 0.1)
    rot = rotation(angles, system.dim)
    centre = system.positions.mean(axis=0)
    rotated = system.with_positions((system.positions - centre) @ rot.T + centre)
    assume_no_pair_near_cutoff(system, terms, 1e-9)
    assert energy(rotated, terms) == pytest.approx(energy(system, terms), rel=1e-10,
                                                   abs=1e-10)


@pytest.mark.parametrize("name", NAMES)
@SET
@given(data=st.data())
def test_energy_invariant_under_permutation(name, data):
    system, terms = data.draw(configurations(name))
    n = system.n_atoms
    perm = np.array(data.draw(st.permutations(range(n))))
    if any(isinstance(t, lp.BondPotential) for t in terms):
        # atoms carry their species; bonds are relabelled with the atoms
        inv = np.argsort(perm)
        new_terms = [t if isinstance(t, lp.PairPotential) else
                     lp.BondPotential(t.name, t.pair, t.pair_py, inv[t.bonds], t.table)
                     for t in terms]
        permuted = system.replace(positions=system.positions[perm],
                                  species=system.species[perm], images=system.images[perm])
    else:
        # exchange identical atoms only (same species): labels stay where they are
        new = np.arange(n)
        for s in (0, 1):
            idx = np.flatnonzero(system.species == s)
            new[idx] = idx[np.argsort(perm[idx])]
        new_terms = terms
        permuted = system.with_positions(system.positions[new], system.images[new])
    assert energy(permuted, new_terms) == pytest.approx(energy(system, terms), rel=1e-10,
                                                        abs=1e-10)


# ---------------------------------------------------------------------------
# force laws
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
@SET
@given(data=st.data())
def test_total_force_vanishes(name, data):
    system, terms = data.draw(configurations(name))
    f = forces(system, terms).forces
    scale = max(1.0, float(np.abs(f).max()))
    assert np.abs(f.sum(axis=0)).max() <= 1e-13 * system.n_atoms * scale


@pytest.mark.parametrize("name", NAMES)
@SET
@given(data=st.data())
def test_forces_equal_minus_energy_gradient(name, data):
    system, terms = data.draw(configurations(name))
    assume_no_pair_near_cutoff(system, terms)
    res = forces(system, terms)
    x = system.unwrapped_positions
    h = 1e-6
    fd = np.empty_like(x)
    for i in range(system.n_atoms):
        for k in range(system.dim):
            xp = x.copy()
            xm = x.copy()
            xp[i, k] += h
            xm[i, k] -= h
            ep = energy(system.replace(positions=xp, images=None), terms)
            em = energy(system.replace(positions=xm, images=None), terms)
            fd[i, k] = -(ep - em) / (2 * h)
    scale = max(1.0, float(np.abs(res.forces).max()))
    np.testing.assert_allclose(res.forces, fd, rtol=0, atol=2e-6 * scale)
    assert res.energy == pytest.approx(energy(system, terms), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("name", NAMES)
@SET
@given(data=st.data())
def test_newton_third_law_pair_by_pair(name, data):
    system, terms = data.draw(configurations(name))
    n, box = system.n_atoms, system.box
    x = system.positions
    total = lp.compute_forces(system, terms).forces
    i = data.draw(st.integers(0, n - 1))
    acc = np.zeros(system.dim)
    for j in range(n):
        if j == i:
            continue
        pair_terms = []
        for t in terms:
            if isinstance(t, lp.PairPotential):
                pair_terms.append(t)
            else:
                rows = np.flatnonzero(((t.bonds[:, 0] == i) & (t.bonds[:, 1] == j))
                                      | ((t.bonds[:, 0] == j) & (t.bonds[:, 1] == i)))
                if rows.size:
                    pair_terms.append(lp.BondPotential(
                        t.name, t.pair, t.pair_py,
                        np.where(t.bonds[rows] == i, 0, 1), t.table[rows]))
        if not pair_terms:
            continue
        two = lp.ParticleSystem(x[[i, j]], species=system.species[[i, j]], box=box)
        f = lp.compute_forces(two, pair_terms).forces
        np.testing.assert_array_equal(f[0], -f[1])  # exactly opposite
        if box is None:  # and along the line of centres
            dr = x[i] - x[j]
            cross = f[0][:, None] * dr[None, :] - dr[:, None] * f[0][None, :]
            assert np.abs(cross).max() <= 1e-12 * max(1.0, np.abs(f[0]).max() * np.abs(dr).max())
        acc += f[0]
    scale = max(1.0, float(np.abs(total).max()))
    np.testing.assert_allclose(total[i], acc, rtol=0, atol=1e-12 * n * scale)


@pytest.mark.parametrize("name", NAMES)
@SET
@given(data=st.data())
def test_virial_pressure_equals_minus_dU_dV(name, data):
    system, terms = data.draw(configurations(name))
    assume_no_pair_near_cutoff(system, terms, 1e-3)
    res = forces(system, terms)
    d = system.dim
    eps = 1e-6

    def scaled(lam):
        box = None if system.box is None else system.box * lam
        return system.replace(positions=system.unwrapped_positions * lam, box=box,
                              images=None)

    e_p, e_m = energy(scaled(1 + eps), terms), energy(scaled(1 - eps), terms)
    w_fd = -(e_p - e_m) / (2 * eps)  # W = -dU/dlambda at lambda = 1
    scale = max(1.0, float(np.abs(res.forces).max() * np.abs(system.positions).max()))
    assert res.virial == pytest.approx(w_fd, rel=0, abs=1e-5 * scale * system.n_atoms)
    if system.periodic:
        v = system.volume
        dudv = (e_p - e_m) / (v * ((1 + eps) ** d - (1 - eps) ** d))
        p_conf = lp.pressure(res.virial, v, d)
        assert p_conf == pytest.approx(-dudv, rel=1e-5, abs=1e-5 * scale * system.n_atoms / v)


# ---------------------------------------------------------------------------
# kernels against a naive NumPy reference
# ---------------------------------------------------------------------------
def naive_lj(system, eps, sig, rc, mode):
    x, sp, n = system.positions, system.species, system.n_atoms
    e = 0.0
    f = np.zeros_like(x)
    w = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            dr = system.minimum_image(x[i] - x[j])
            r = float(np.linalg.norm(dr))
            a, b = sp[i], sp[j]
            cut = rc if mode != "plain" else np.inf
            if r >= cut:
                continue
            s6 = (sig[a, b] / r) ** 6
            u = 4 * eps[a, b] * (s6 * s6 - s6)
            if mode == "shifted":
                sc = (sig[a, b] / rc) ** 6
                u -= 4 * eps[a, b] * (sc * sc - sc)
            fr = 24 * eps[a, b] * (2 * s6 * s6 - s6) / r
            e += u
            f[i] += fr * dr / r
            f[j] -= fr * dr / r
            w += fr * r
    return e, f, w


@pytest.mark.parametrize("mode", ["plain", "truncated", "shifted"])
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_lj_matches_naive_reference(mode, data):
    system, terms = data.draw(configurations(f"lj_{mode}"))
    lj = terms[0]
    e, f, w = naive_lj(system, lj.epsilon, lj.sigma, RC, mode)
    for res in (forces(system, terms), lp.compute_forces(system, terms)):
        assert res.energy == pytest.approx(e, rel=1e-12, abs=1e-12)
        assert res.virial == pytest.approx(w, rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(res.forces, f, rtol=1e-12,
                                   atol=1e-11 * max(1.0, float(np.abs(f).max())))


# ---------------------------------------------------------------------------
# known values
# ---------------------------------------------------------------------------
def test_lj_dimer_minimum():
    eps, sig = 0.7, 1.3
    lj = lp.lennard_jones(epsilon=eps, sigma=sig, mode="plain")
    rmin = 2 ** (1 / 6) * sig
    dimer = lp.ParticleSystem([[0.0, 0.0, 0.0], [rmin, 0.0, 0.0]])
    res = lp.compute_forces(dimer, lj)
    assert res.energy == pytest.approx(-eps, rel=1e-14)
    assert np.abs(res.forces).max() < 1e-13
    opt = optimize.minimize_scalar(lambda r: float(lj.energy_force(r)[0]),
                                   bounds=(0.9 * sig, 2 * sig), method="bounded",
                                   options={"xatol": 1e-10})
    assert opt.x == pytest.approx(rmin, rel=1e-8)


def icosahedron(radius):
    phi = (1 + 5**0.5) / 2
    v = []
    for a in (-1, 1):
        for b in (-phi, phi):
            v += [(0, a, b), (a, b, 0), (b, 0, a)]
    v = np.array(v, dtype=float)
    v *= radius / np.linalg.norm(v[0])
    return np.vstack([np.zeros(3), v])


def test_lj13_icosahedron_energy():
    lj = lp.lennard_jones(mode="plain")
    x0 = icosahedron(1.1)
    assert lp.ParticleSystem(x0).distance_matrix()[0, 1:].min() == pytest.approx(1.1)

    def fun(flat):
        res = lp.compute_forces(lp.ParticleSystem(flat.reshape(13, 3)), lj)
        return res.energy, -res.forces.ravel()

    opt = optimize.minimize(fun, x0.ravel(), jac=True, method="L-BFGS-B",
                            options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 2000})
    assert opt.fun == pytest.approx(-44.326801, abs=5e-7)
    d = lp.ParticleSystem(opt.x.reshape(13, 3)).distance_matrix()
    centre = np.sort(d[0, 1:])
    assert centre[-1] - centre[0] < 1e-5  # still an icosahedron: 12 equidistant vertices


def test_batched_replicas_match_single_systems():
    lj = lp.lennard_jones(mode="plain")
    rng = np.random.default_rng(3)
    X = icosahedron(1.1)[None] + rng.normal(0, 0.05, (200, 13, 3))
    res = lp.compute_forces_batch(X, lj)
    for r in (0, 17, 199):
        one = lp.compute_forces(lp.ParticleSystem(X[r]), lj)
        assert res.energy[r] == one.energy
        assert res.virial[r] == one.virial
        np.testing.assert_array_equal(res.forces[r], one.forces)


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("rc", [2.5, 3.0])
def test_tail_corrections_match_quadrature(dim, rc):
    eps, sig, rho = 1.3, 0.9, 0.7
    lj = lp.lennard_jones(epsilon=eps, sigma=sig, cutoff=rc, mode="truncated")
    area = {2: lambda r: 2 * math.pi * r, 3: lambda r: 4 * math.pi * r * r}[dim]
    u = lambda r: 4 * eps * ((sig / r) ** 12 - (sig / r) ** 6)  # noqa: E731
    du = lambda r: 4 * eps * (-12 * sig**12 / r**13 + 6 * sig**6 / r**7)  # noqa: E731
    e_ref = 0.5 * rho * integrate.quad(lambda r: u(r) * area(r), rc, np.inf)[0]
    p_ref = -rho**2 / (2 * dim) * integrate.quad(lambda r: r * du(r) * area(r), rc, np.inf)[0]
    assert lj.tail_energy(rho, dim=dim) == pytest.approx(e_ref, rel=1e-9)
    assert lj.tail_pressure(rho, dim=dim) == pytest.approx(p_ref, rel=1e-9)
    if dim == 3:  # the textbook closed forms
        q = sig / rc
        assert lj.tail_energy(rho) == pytest.approx(
            8 / 3 * math.pi * rho * eps * sig**3 * (q**9 / 3 - q**3), rel=1e-14)
        assert lj.tail_pressure(rho) == pytest.approx(
            16 / 3 * math.pi * rho**2 * eps * sig**3 * (2 / 3 * q**9 - q**3), rel=1e-14)


def test_tail_corrections_standard_values_and_mixtures():
    lj = lp.lennard_jones(cutoff=2.5, mode="truncated")
    # rho = 0.8442, rc = 2.5 sigma (the LAMMPS "in.lj" state point)
    assert lj.tail_energy(0.8442) == pytest.approx(-0.452013, abs=1e-6)
    assert lj.tail_pressure(0.8442) == pytest.approx(-0.762135, abs=1e-6)
    assert lp.lennard_jones(mode="plain").tail_energy(0.8442) == 0.0
    mix = lp.lennard_jones(epsilon=[1.0, 0.5], sigma=[1.0, 0.8], cutoff=2.5,
                           mode="truncated")
    x = np.array([0.3, 0.7])
    expected = sum(x[a] * x[b] * lp.lj_tail_energy(0.8, mix.epsilon[a, b], mix.sigma[a, b], 2.5)
                   for a in range(2) for b in range(2))
    assert mix.tail_energy(0.8, x) == pytest.approx(expected, rel=1e-14)
    xs, box = lp.fcc_lattice(3, 0.8)
    system = lp.ParticleSystem(xs, box=box, species=np.arange(len(xs)) % 2)
    e_tail, p_tail = mix.tail(system)
    assert e_tail == pytest.approx(len(xs) * mix.tail_energy(0.8, [0.5, 0.5]), rel=1e-12)
    assert p_tail == pytest.approx(mix.tail_pressure(0.8, [0.5, 0.5]), rel=1e-12)
    with pytest.raises(ValueError, match="fractions"):
        mix.tail_energy(0.8)


def test_lorentz_berthelot_mixing():
    eps, sig = lp.lorentz_berthelot([1.0, 0.25, 4.0], [1.0, 2.0, 0.5])
    assert eps[0, 1] == pytest.approx(0.5) and eps[1, 2] == pytest.approx(1.0)
    assert sig[0, 1] == pytest.approx(1.5) and sig[0, 2] == pytest.approx(0.75)
    np.testing.assert_array_equal(eps, eps.T)
    lj = lp.lennard_jones(epsilon=[1.0, 0.25], sigma=[1.0, 2.0], mode="plain")
    r = 1.9
    dimer = lp.ParticleSystem([[0, 0, 0], [r, 0, 0]], species=[0, 1])
    e_mix = 4 * 0.5 * ((1.5 / r) ** 12 - (1.5 / r) ** 6)
    assert lp.potential_energy(dimer, lj) == pytest.approx(e_mix, rel=1e-14)
    # explicit matrices are taken as given (not Lorentz-Berthelot, e.g. Kob-Andersen)
    ka = lp.lennard_jones(epsilon=[[1.0, 1.5], [1.5, 0.5]], sigma=[[1.0, 0.8], [0.8, 0.88]],
                          cutoff=2.5)
    assert ka.epsilon[0, 1] == 1.5 and ka.sigma[1, 1] == 0.88


def test_lj_cutoff_modes():
    rc = 2.5
    r = np.array([rc - 1e-9, rc + 1e-9])
    u_plain = lp.lennard_jones(mode="plain").energy_force(r)[0]
    u_trunc, f_trunc = lp.lennard_jones(cutoff=rc, mode="truncated").energy_force(r)
    u_shift, f_shift = lp.lennard_jones(cutoff=rc, mode="shifted").energy_force(r)
    assert u_trunc[0] == pytest.approx(u_plain[0]) and u_trunc[1] == 0.0
    assert abs(u_shift[0]) < 1e-10 and u_shift[1] == 0.0
    np.testing.assert_array_equal(f_trunc, f_shift)
    assert f_trunc[1] == 0.0


def test_morse_minimum_and_shape():
    m = lp.morse(depth=2.0, alpha=1.5, r0=1.2)
    u, f = m.energy_force([1.2, 50.0])
    assert u[0] == pytest.approx(-2.0) and abs(f[0]) < 1e-14 and abs(u[1]) < 1e-12
    h = 1e-4
    curv = (m.energy_force(1.2 + h)[0] - 2 * u[0] + m.energy_force(1.2 - h)[0]) / h**2
    assert curv == pytest.approx(2 * 2.0 * 1.5**2, rel=1e-6)  # u'' = 2 D a^2


def test_gaussian_bond_curvature_gives_harmonic_frequency():
    depth, width, r0 = 3.0, 0.2, 1.1
    g = lp.gaussian_bonds([[0, 1]], depth=depth, width=width, r0=r0)
    u, f = g.energy_force([r0, 10.0])
    assert u[0] == -depth and f[0] == 0.0 and abs(u[1]) < 1e-100
    h = 1e-4
    curv = (g.energy_force(r0 + h)[0] - 2 * u[0] + g.energy_force(r0 - h)[0]) / h**2
    assert curv == pytest.approx(depth / width**2, rel=1e-6)
    assert g.curvature[0] == pytest.approx(depth / width**2)
    assert g.frequency(2.0, 2.0)[0] == pytest.approx(math.sqrt(depth / width**2 / 1.0))
    # small oscillations of the diatomic: the same frequency as the matching harmonic bond
    k = g.curvature[0]
    harm = lp.harmonic_bonds([[0, 1]], k=k, r0=r0)
    for dr in (1e-3, -1e-3):
        s = lp.ParticleSystem([[0, 0, 0], [r0 + dr, 0, 0]])
        fg = lp.compute_forces(s, g).forces[1, 0]
        fh = lp.compute_forces(s, harm).forces[1, 0]
        assert fg == pytest.approx(fh, rel=1e-4)


def test_harmonic_bond_values():
    b = lp.harmonic_bonds([[0, 1], [1, 2]], k=[2.0, 4.0], r0=[1.0, 0.5])
    s = lp.ParticleSystem([[0, 0], [1.5, 0], [1.5, 1.0]])
    res = lp.compute_forces(s, b)
    assert res.energy == pytest.approx(0.5 * 2 * 0.25 + 0.5 * 4 * 0.25)
    np.testing.assert_allclose(res.forces, [[1.0, 0.0], [-1.0, 2.0], [0.0, -2.0]], atol=1e-14)


def test_observables():
    v = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    m = np.array([2.0, 1.0])
    assert lp.kinetic_energy(v, m) == pytest.approx(3.0)
    assert lp.kinetic_temperature(v, m) == pytest.approx(1.0)  # 2 K / (3 N)
    assert lp.kinetic_temperature(v, m, dof=lp.degrees_of_freedom(2, 3, remove_com=True)) == (
        pytest.approx(2.0))
    vb = np.stack([v, 2 * v])
    np.testing.assert_allclose(lp.kinetic_energy(vb, m), [3.0, 12.0])
    assert lp.pressure(3.0, 10.0, 3, kinetic=1.5) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="degrees of freedom"):
        lp.degrees_of_freedom(1, 3, remove_com=True)


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------
def test_potential_validation():
    with pytest.raises(ValueError, match="mode"):
        lp.lennard_jones(mode="smooth")
    with pytest.raises(ValueError, match="cutoff"):
        lp.lennard_jones(cutoff=None, mode="shifted")
    with pytest.raises(ValueError, match="sigma"):
        lp.lennard_jones(sigma=-1.0)
    with pytest.raises(ValueError, match="epsilon"):
        lp.lennard_jones(epsilon=[[1.0, 2.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="bonds"):
        lp.harmonic_bonds([[0, 0]])
    with pytest.raises(ValueError, match="width"):
        lp.gaussian_bonds([[0, 1]], width=0.0)
    box = [4.0, 4.0, 4.0]
    s = lp.ParticleSystem(np.zeros((2, 3)) + [[0, 0, 0], [1, 1, 1]], box=box)
    with pytest.raises(ValueError, match="cutoff"):
        lp.compute_forces(s, lp.lennard_jones(mode="plain"))
    with pytest.raises(ValueError, match="cutoff"):
        lp.compute_forces(s, lp.lennard_jones(cutoff=2.5))
    with pytest.raises(ValueError, match="species"):
        lp.compute_forces(s.replace(species=[0, 1]), lp.lennard_jones(cutoff=1.5))
    with pytest.raises(ValueError, match="bonds"):
        lp.compute_forces(s, lp.harmonic_bonds([[0, 5]]))
    with pytest.raises(ValueError, match="neighbors.cutoff"):
        lp.compute_forces(s, lp.lennard_jones(cutoff=1.5), neighbors=lp.NeighborList(1.0))


def test_system_validation():
    with pytest.raises(ValueError, match="^positions"):
        lp.ParticleSystem(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="^positions"):
        lp.ParticleSystem([[np.nan, 0.0]])
    with pytest.raises(ValueError, match="^species"):
        lp.ParticleSystem(np.zeros((2, 2)), species=[0, -1])
    with pytest.raises(ValueError, match="^species"):
        lp.ParticleSystem(np.zeros((2, 2)), species=[0])
    with pytest.raises(ValueError, match="^masses"):
        lp.ParticleSystem(np.zeros((2, 2)), masses=[1.0, 0.0])
    with pytest.raises(ValueError, match="^box"):
        lp.ParticleSystem(np.zeros((2, 2)), box=[1.0, -1.0])
    with pytest.raises(ValueError, match="^box"):
        lp.ParticleSystem(np.zeros((2, 2)), box=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="^images"):
        lp.ParticleSystem(np.zeros((2, 2)), images=[[1, 0], [0, 0]])
    with pytest.raises(TypeError, match="^positions must be an array of numbers"):
        lp.ParticleSystem("origin")
    with pytest.raises(TypeError, match="^box must be an array of numbers"):
        lp.ParticleSystem(np.zeros((2, 2)), box="4")
    with pytest.raises(ValueError, match=r"unknown mode 'shift' \(did you mean 'shifted'\?\)"):
        lp.lennard_jones(mode="shift")
    with pytest.raises(TypeError, match="cutoff must be a finite number > 0"):
        lp.NeighborList("2.5")
    with pytest.raises(ValueError, match=r"unknown method 'cell' \(did you mean 'cells'\?\)"):
        lp.NeighborList(2.5, method="cell")
    s = lp.ParticleSystem(np.zeros((2, 3)), masses=2.0, species=[1, 0])
    assert s.masses.tolist() == [2.0, 2.0] and s.n_species == 2 and s.volume is None
