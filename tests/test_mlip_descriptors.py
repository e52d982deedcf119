"""mlip descriptors: hand-computed values, a slow NumPy reference, analytic derivatives,
the weak points of the sorted inverse-distance descriptor, recipes, bad input."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langevin_opt import mlip

# ------------------------------------------------------------------ reference (slow, obvious)


def naive_fc(kind, r, rc):
    if r >= rc:
        return 0.0
    if kind == "cosine":
        return 0.5 * (math.cos(math.pi * r / rc) + 1.0)
    return math.tanh(1.0 - r / rc) ** 3


def naive_symmetry_functions(x, sp, box, S, rc, radial, angular, kind="cosine"):
    """Straight loops over the formulas; unordered neighbour pairs {j, k} counted once."""
    n = len(x)
    nr, na = len(radial), len(angular)
    pairs = [(a, c) for a in range(S) for c in range(a, S)]
    out = np.zeros((n, S * nr + len(pairs) * na))

    def sep(i, j):
        d = x[j] - x[i]
        if box is not None:
            d = d - box * np.round(d / box)
        return d

    for i in range(n):
        nbrs = [j for j in range(n) if j != i and np.linalg.norm(sep(i, j)) < rc]
        for j in nbrs:
            r = np.linalg.norm(sep(i, j))
            for p, (eta, rs) in enumerate(radial):
                out[i, sp[j] * nr + p] += math.exp(-eta * (r - rs) ** 2) * naive_fc(kind, r, rc)
        for a, j in enumerate(nbrs):
            for k in nbrs[a + 1:]:
                dij, dik = sep(i, j), sep(i, k)
                rij, rik = np.linalg.norm(dij), np.linalg.norm(dik)
                rjk = np.linalg.norm(dik - dij)
                cos = np.dot(dij, dik) / (rij * rik)
                b = pairs.index(tuple(sorted((sp[j], sp[k]))))
                for q, (fn, eta, zeta, lam) in enumerate(angular):
                    t = 2.0 ** (1 - zeta) * (1 + lam * cos) ** zeta
                    if fn == 4:
                        t *= math.exp(-eta * (rij**2 + rik**2 + rjk**2)) * naive_fc(kind, rjk, rc)
                    else:
                        t *= math.exp(-eta * (rij**2 + rik**2))
                    out[i, S * nr + b * na + q] += t * naive_fc(kind, rij, rc) * naive_fc(kind, rik, rc)
    return out


def naive_sorted(x, sp, box, S, rc, K, kind="cosine"):
    n = len(x)
    out = np.zeros((n, S * K))
    for i in range(n):
        for s in range(S):
            rs = []
            for j in range(n):
                if j == i or sp[j] != s:
                    continue
                d = x[j] - x[i]
                if box is not None:
                    d = d - box * np.round(d / box)
                r = np.linalg.norm(d)
                if r < rc:
                    rs.append(r)
            for q, r in enumerate(sorted(rs)[:K]):
                out[i, s * K + q] = naive_fc(kind, r, rc) / r
    return out


def random_configuration(seed, n, S, box=None, extent=4.0, dmin=0.9):
    """n atoms with all separations >= dmin (minimum image), species in [0, S)."""
    rng = np.random.default_rng(seed)
    lo = np.zeros(3) if box is not None else -0.5 * extent * np.ones(3)
    hi = box if box is not None else 0.5 * extent * np.ones(3)
    x = []
    while len(x) < n:
        c = rng.uniform(lo, hi)
        ok = True
        for y in x:
            d = c - y
            if box is not None:
                d = d - box * np.round(d / box)
            ok = ok and np.linalg.norm(d) >= dmin
        if ok:
            x.append(c)
    return np.array(x), rng.integers(0, S, n)


def fd_jacobian(desc, x, sp, box, h=1e-6):
    n = len(x)
    out = np.zeros((n, desc.n_features, n, 3))
    for m in range(n):
        for a in range(3):
            xp, xm = x.copy(), x.copy()
            xp[m, a] += h
            xm[m, a] -= h
            out[:, :, m, a] = (desc.compute(xp, sp, box) - desc.compute(xm, sp, box)) / (2 * h)
    return out


RADIAL = [[0.5, 0.0], [1.0, 1.2]]
ANGULAR = [[4, 0.01, 2, 1], [5, 0.01, 2, 1], [4, 0.01, 2, -1], [5, 0.01, 2, -1]]
PAPER_X = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1.5, 0], [1.2, 1.1, 0.9]])


# ------------------------------------------------------------------ hand-computed values
def test_regression_numbers_of_the_reference_note():
    # shared/reference/bp_symmetry_functions.md: R_c = 6, cosine cutoff, centre atom 0
    sf = mlip.SymmetryFunctions(["A"], 6.0, RADIAL, ANGULAR)
    G = sf.compute(PAPER_X, [0, 0, 0, 0])[0]
    expect = [0.981471411239, 2.181668499301, 1.752087570470, 2.125795596892,
              0.376502631464, 0.481908598352]  # angular: the j<k-once column of the note
    np.testing.assert_allclose(G, expect, rtol=0, atol=2e-12)
    f, _ = mlip.cutoff_function("cosine", [1.0, 3.0, 6.0, 7.0], 6.0)
    np.testing.assert_allclose(f, [0.933012701892, 0.5, 0.0, 0.0], atol=1e-12)
    f, _ = mlip.cutoff_function("tanh3", [0.0, 1.0, 6.0], 6.0)
    np.testing.assert_allclose(f, [math.tanh(1.0) ** 3, 0.317580003007, 0.0], atol=1e-12)


def test_two_atoms_by_hand():
    # one pair at r = 2: G2 = exp(-eta (r - Rs)^2) f_c(r), angular terms need 2 neighbours
    rc = 5.0
    fc = 0.5 * (math.cos(math.pi * 2.0 / rc) + 1.0)
    sf = mlip.SymmetryFunctions(["A", "B"], rc, [[0.3, 1.5]], [[4, 0.1, 1, 1]])
    G = sf.compute([[0, 0, 0], [0, 2.0, 0]], ["A", "B"])
    g2 = math.exp(-0.3 * 0.25) * fc
    # features: G2[A], G2[B], G4[A,A], G4[A,B], G4[B,B]
    np.testing.assert_allclose(G, [[0, g2, 0, 0, 0], [g2, 0, 0, 0, 0]], atol=1e-15)
    assert sf.labels()[1] == "G2[B](eta=0.3,rs=1.5)" and sf.labels()[3].startswith("G4[A,B]")


def test_cutoff_derivatives_and_smoothness():
    r = np.linspace(0.1, 5.9, 37)
    for kind in ("cosine", "tanh3"):
        f, df = mlip.cutoff_function(kind, r, 6.0)
        fp, _ = mlip.cutoff_function(kind, r + 1e-6, 6.0)
        fm, _ = mlip.cutoff_function(kind, r - 1e-6, 6.0)
        np.testing.assert_allclose(df, (fp - fm) / 2e-6, atol=1e-8)
        # value and slope vanish at R_c
        f0, d0 = mlip.cutoff_function(kind, 6.0 - 1e-7, 6.0)
        assert abs(f0) < 1e-12 and abs(d0) < 1e-6


# ------------------------------------------------------------------ independent implementation
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 9), S=st.integers(1, 3),
       periodic=st.booleans(), kind=st.sampled_from(["cosine", "tanh3"]))
def test_symmetry_functions_match_naive(seed, n, S, periodic, kind):
    rc = 3.5
    box = np.array([7.0, 7.5, 8.0]) if periodic else None
    x, sp = random_configuration(seed, n, S, box, extent=5.0)
    rng = np.random.default_rng(seed + 1)
    radial = np.column_stack([rng.uniform(0.1, 2.0, 3), rng.uniform(0.0, 3.0, 3)])
    angular = np.column_stack([rng.choice([4.0, 5.0], 4), rng.uniform(0.0, 0.2, 4),
                               rng.choice([1.0, 2.0, 3.5], 4), rng.choice([-1.0, 1.0], 4)])
    names = ["A", "B", "C"][:S]
    sf = mlip.SymmetryFunctions(names, rc, radial, angular, cutoff_function=kind)
    G = sf.compute(x + (0.0 if box is None else 3 * box), sp, box)  # unwrapped positions too
    ref = naive_symmetry_functions(x, sp, box, S, rc, radial, angular, kind)
    np.testing.assert_allclose(G, ref, rtol=1e-11, atol=1e-13)
    assert G.shape == (n, sf.n_features) == (n, len(sf.labels()))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 7), S=st.integers(1, 2),
       periodic=st.booleans(), sorted_desc=st.booleans())
def test_jacobian_equals_finite_differences(seed, n, S, periodic, sorted_desc):
    rc = 3.5
    box = np.array([7.2, 7.4, 7.6]) if periodic else None
    x, sp = random_configuration(seed, n, S, box, extent=4.5)
    names = ["A", "B"][:S]
    if sorted_desc:
        desc = mlip.SortedInverseDistance(names, rc, 3, cutoff_function="tanh3")
    else:
        desc = mlip.SymmetryFunctions(names, rc, mlip.radial_parameters(3, rc),
                                      np.vstack([mlip.angular_parameters([0.02], [1.0, 2.5]),
                                                 mlip.angular_parameters([0.05], [4.0],
                                                                         kind=5)]))
    G, dG = desc.jacobian(x, sp, box)
    np.testing.assert_allclose(dG, fd_jacobian(desc, x, sp, box), atol=2e-7)
    # translation invariance of every descriptor: derivatives sum to zero over atoms
    np.testing.assert_allclose(dG.sum(axis=2), 0.0, atol=1e-12)


def test_sorted_inverse_distance_matches_naive():
    box = np.array([8.0, 8.0, 8.0])
    x, sp = random_configuration(3, 20, 2, box, dmin=1.0)
    desc = mlip.SortedInverseDistance(["A", "B"], 3.9, 4)
    np.testing.assert_allclose(desc.compute(x, sp, box), naive_sorted(x, sp, box, 2, 3.9, 4),
                               rtol=1e-13, atol=1e-15)


# ------------------------------------------------------------------ weak points of the sorted vector
def _dimer_pair(t):
    # atom 0 at the origin, atoms 1 and 2 at distances 2 + t and 2 - t: they cross at t = 0
    return np.array([[0.0, 0, 0], [2.0 + t, 0, 0], [0, 2.0 - t, 0]])


def test_sorted_descriptor_gradient_jumps_where_distances_cross():
    desc = mlip.SortedInverseDistance(["A"], 5.0, 2)
    sym = mlip.SymmetryFunctions(["A"], 5.0, mlip.radial_parameters(4, 5.0))
    h = 1e-7
    G_minus, J_minus = desc.jacobian(_dimer_pair(-h), [0, 0, 0])
    G_plus, J_plus = desc.jacobian(_dimer_pair(+h), [0, 0, 0])
    # the value is continuous ...
    np.testing.assert_allclose(G_minus, G_plus, atol=1e-6)
    # ... but the derivative of atom 0's nearest-neighbour feature jumps: before the crossing
    # the nearest neighbour is atom 1, after it atom 2
    jump = np.abs(J_minus[0, 0] - J_plus[0, 0]).max()
    assert jump > 0.1
    # the symmetry functions are smooth through the same crossing
    _, S_minus = sym.jacobian(_dimer_pair(-h), [0, 0, 0])
    _, S_plus = sym.jacobian(_dimer_pair(+h), [0, 0, 0])
    assert np.abs(S_minus - S_plus).max() < 1e-5


def test_sorted_descriptor_hard_cap_ignores_neighbours():
    # atom 0 with four neighbours inside the cutoff but n_max = 3: the farthest is ignored
    x = np.array([[0.0, 0, 0], [1.5, 0, 0], [0, 1.6, 0], [0, 0, 1.7], [-2.5, 0, 0]])
    desc = mlip.SortedInverseDistance(["A"], 4.0, 3)
    G, J = desc.jacobian(x, [0] * 5)
    assert np.all(J[0, :, 4] == 0.0)  # atom 0's features do not feel atom 4 at 2.5 < R_c
    x2 = x.copy()
    x2[4, 0] = -2.2
    assert np.array_equal(desc.compute(x2, [0] * 5)[0], G[0])
    # a model on this descriptor: atom 0's energy ignores atom 4 (bit for bit), so atom 4
    # feels no force from atom 0's environment although it sits inside atom 0's cutoff
    model = mlip.NeuralPotential(desc, (4,), seed=1)
    e0 = model.evaluate(x, [0] * 5).atomic_energies
    e1 = model.evaluate(x2, [0] * 5).atomic_energies
    assert e0[0] == e1[0] and e0[4] != e1[4]


# ------------------------------------------------------------------ recipes and settings
def test_parameter_recipes():
    sh = mlip.radial_parameters(5, 6.0, mode="shifted", r_lower=1.0)
    np.testing.assert_allclose(sh[:, 1], [1.0, 2.25, 3.5, 4.75, 6.0])
    np.testing.assert_allclose(sh[:, 0], 0.5 / 1.25**2)
    ce = mlip.radial_parameters(3, 6.0, mode="centered", r_lower=2.0)
    np.testing.assert_allclose(ce, [[0.5 / 4, 0], [0.5 / 16, 0], [0.5 / 36, 0]])
    ang = mlip.angular_parameters([0.01, 0.1], [1, 4], [-1, 1], kind=5)
    assert ang.shape == (8, 4) and set(ang[:, 0]) == {5.0}
    sf = mlip.SymmetryFunctions(["Cu", "Ag"], 6.0, sh, ang, cutoff_function="tanh3")
    assert sf.n_features == 2 * 5 + 3 * 8
    again = mlip.descriptor_from_dict(sf.to_dict())
    assert again == sf and again is not sf
    assert mlip.descriptor_from_dict(mlip.SortedInverseDistance(["Cu"], 4.0, 6).to_dict()).n_max == 6


@pytest.mark.parametrize("call, exc, text", [
    (lambda: mlip.radial_parameters(1, 5.0), ValueError, "n must be"),
    (lambda: mlip.radial_parameters(4, 5.0, mode="gaussian"), ValueError, "unknown mode"),
    (lambda: mlip.angular_parameters([0.1], [0.5]), ValueError, "zeta"),
    (lambda: mlip.angular_parameters([0.1], [1.0], [2.0]), ValueError, "lambdas"),
    (lambda: mlip.SymmetryFunctions(["A"], 5.0, [[-1.0, 0.0]]), ValueError, "eta >= 0"),
    (lambda: mlip.SymmetryFunctions(["A"], 5.0, [1.0, 2.0]), ValueError, "shape (n_r, 2)"),
    (lambda: mlip.SymmetryFunctions(["A"], 5.0, [[1, 0]], [[3, 0.1, 1, 1]]), ValueError, "kind 4 or 5"),
    (lambda: mlip.SymmetryFunctions(["A", "A"], 5.0, [[1, 0]]), ValueError, "distinct"),
    (lambda: mlip.SymmetryFunctions("Cu", 5.0, [[1, 0]]), TypeError, "sequence of names"),
    (lambda: mlip.SymmetryFunctions(["A"], 5.0, [[1, 0]], cutoff_function="cos"), ValueError,
     "did you mean 'cosine'"),
    (lambda: mlip.SortedInverseDistance(["A"], 5.0, 0), ValueError, "n_max"),
])
def test_bad_settings(call, exc, text):
    with pytest.raises(exc) as info:
        call()
    assert text in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("positions, species, box, text", [
    ([[0, 0, 0], [1, 0, 0]], ["A", "Ag"], None, "unknown species 'Ag' (atom 1)"),
    ([[0, 0, 0], [1, 0, 0]], [0, 2], None, "unknown species index 2 (atom 1)"),
    ([[0, 0, 0], [1, 0, 0]], ["A"], None, "species must have shape (2,)"),
    ([[0, 0, 0], [1, np.nan, 0]], ["A", "A"], None, "positions must be finite; atom 1"),
    ([[0, 0], [1, 0]], ["A", "A"], None, "shape (N, 3)"),
    ([[0, 0, 0], [1, 0, 0]], ["A", "A"], [10.0, 10.0, 7.0], "exceeds half the shortest box edge"),
    ([[0, 0, 0], [1, 0, 0]], ["A", "A"], [10.0, -1.0, 10.0], "positive finite edge lengths"),
])
def test_bad_configurations(positions, species, box, text):
    sf = mlip.SymmetryFunctions(["A", "B"], 4.0, [[1.0, 0.0]])
    with pytest.raises(ValueError) as info:
        sf.compute(positions, species, box)
    assert text in str(info.value) and "\n" not in str(info.value)
