"""Exactness of the samplers: walker ensembles against quadrature Boltzmann statistics.

Reduced units, ``k_B = 1``.  Every statistical assertion has a threshold
derived from the sample size (chi-square / normal quantiles at a false-alarm
probability ``ALPHA`` per test, Bonferroni-corrected where a test makes several
checks) and a fixed seed, so the outcome is deterministic.  Samples are
*independent*: many walkers with independent noise streams, one frame each
(the last), so no autocorrelation correction is needed (``n_eff = n``).

Unadjusted schemes carry a known discretisation bias, allowed for explicitly
through the non-centrality of the chi-square distribution
(``λ = n Σ (q_i - p_i)²/p_i`` for the scheme's stationary bin probabilities
``q``; see :func:`langevin_opt.analysis.chi_square_test`):

* Euler–Maruyama (``overdamped``): ``q`` from the first-order modified density
  ``ρ(1 + dt f₁)`` (:func:`~langevin_opt.analysis.overdamped_bin_probabilities`;
  its ``O(dt²)`` remainder is checked against the exact 1-D Euler–Maruyama
  density in ``test_boltzmann.py``).
* BAOAB: configurational bias ``O(h²)`` at worst, zero for harmonic wells
  (Leimkuhler & Matthews 2013).  Bound used (measured once with 4e5 walkers on
  the double well ``h=1, c=0.3`` at ``T=0.5``, ``h=0.3``, γ=1): ``λ/n ≤ 2.4e-3``;
  at ``h=0.2`` it was ``2.4e-4`` (faster than ``h⁴``).  Scaling the ``h=0.3``
  value by ``(h/0.3)⁴`` gives the allowance below, ``λ ≈ 0.04`` for n = 2e4 at
  ``h = 0.05`` -- a per-bin bias below 1/10 of the statistical error.  On
  Müller–Brown no bias was detectable with 2e5 walkers at ``h = 0.012``,
  ``λ/n < 1e-4``; the same ``h⁴`` scaling from there gives the MB allowance.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from stats_util import ALPHA, counts_1d, counts_2d, describe, logit_crossover, z_crit

import langevin_opt as lo
from langevin_opt import analysis as A

N = 20_000  # independent walkers per ensemble

# --------------------------------------------------------------------------- systems
DW = lo.double_well(barrier=1.0, tilt=0.3)
DW_EDGES = np.linspace(-2.0, 2.0, 25)
DW_TEMPS = (0.5, 1.0)
MB = lo.muller_brown()
MB_EDGES = (np.linspace(-1.5, 1.2, 19), np.linspace(-0.4, 2.0, 17))
MB_TEMPS = (10.0, 20.0)

# Run settings.  Double well: walkers start uniform on [-1.5, 1.5] (half of them in
# the wrong basin) and run ~8 relaxation times of the slowest (inter-basin) mode
# (Kramers: tau ~ 3.5 at T = 0.5 overdamped, ~2.5x longer for BAOAB at gamma = 1), so
# the test checks convergence to Boltzmann from a wrong start, not just invariance.
# Müller–Brown: inter-basin relaxation is too slow to afford, so walkers start AT the
# three minima with the exact (quadrature) basin weights -- a delta-peaked, badly
# wrong start inside every basin that only local relaxation to the Boltzmann shape can
# fix (a frozen or mis-scaled sampler fails).  Softest local mode: Hessian eigenvalue
# lambda = 221 at the shallowest minimum; overdamped runs last t = 0.03, so second
# moments relax by exp(-2 lambda t) = e^-13; BAOAB (gamma = 20) and MALA runs are longer
# in these units (lambda t / gamma = 33, lambda t acc = 50).
RUNS = {
    # name: (method, dt, steps at T_low, steps at T_high, extra kwargs)
    ("dw", "overdamped"): ("overdamped", 2e-3, 15_000, 7_500, {}),
    ("dw", "baoab"): ("baoab", 0.05, 1_600, 800, {"friction": 1.0}),
    ("dw", "mala"): ("mala", 0.05, 2_400, 1_200, {}),
    ("dw", "overdamped_large"): ("overdamped", 0.05, 2_400, 1_200, {}),
    ("mb", "overdamped"): ("overdamped", 1e-5, 3_000, 3_000, {}),
    ("mb", "baoab"): ("baoab", 5e-3, 600, 600, {"friction": 20.0}),
    ("mb", "mala"): ("mala", 3e-4, 1_000, 1_000, {}),
    ("mb", "overdamped_large"): ("overdamped", 3e-4, 1_000, 1_000, {}),
}
# BAOAB allowance lambda/n at the reference step (see the module docstring)
BAOAB_BIAS = {"dw": (2.4e-3, 0.3), "mb": (1e-4, 0.012)}


def _system(name):
    return (DW, DW_EDGES, DW_TEMPS) if name == "dw" else (MB, MB_EDGES, MB_TEMPS)


@functools.cache
def exact_bins(name, temperature):
    land, edges, _ = _system(name)
    return A.bin_probabilities(land, temperature, edges)


def steps_for(name, kind, temperature):
    _, _, n_lo, n_hi, _ = RUNS[(name, kind)]
    return n_lo if temperature == _system(name)[2][0] else n_hi


@functools.cache
def ensemble(name, kind, temperature):
    """Final state of one ensemble run (cached: several tests read the same run)."""
    land, _, _ = _system(name)
    method, dt, _, _, kw = RUNS[(name, kind)]
    steps = steps_for(name, kind, temperature)
    if name == "dw":
        x0 = lo.uniform_positions([[-1.5, 1.5]], N, seed=101)
    else:
        weights = A.exact_boltzmann(land, temperature).basin_probabilities
        pick = np.random.default_rng(202).choice(len(weights), size=N, p=weights)
        x0 = land.minima[pick]
    return lo.sample(land, x0, steps, method=method, dt=dt, temperature=temperature,
                     seed=303, **kw)


def counts(name, positions):
    _, edges, _ = _system(name)
    return counts_1d(positions, edges) if name == "dw" else counts_2d(positions, *edges)


def chi2_for(name, kind, temperature, allowance=True):
    exact = exact_bins(name, temperature)
    run = ensemble(name, kind, temperature)
    _, edges, _ = _system(name)
    method, dt, *_ = RUNS[(name, kind)]
    ref, lam = None, 0.0
    if allowance and method == "overdamped":
        land = _system(name)[0]
        ref = A.overdamped_bin_probabilities(land, temperature, dt, edges).categories()
    if allowance and method == "baoab":
        per_n, h_ref = BAOAB_BIAS[name]
        lam = N * per_n * (dt / h_ref) ** 4
    return A.chi_square_test(counts(name, run.state.positions), exact.categories(),
                             alpha=ALPHA, reference=ref, noncentrality=lam), run


CASES = [(s, t) for s in ("dw", "mb") for t in _system(s)[2]]


# ------------------------------------------------------------------ 1. Boltzmann histograms
@pytest.mark.parametrize("kind", ["overdamped", "baoab"])
@pytest.mark.parametrize(("name", "temperature"), CASES)
def test_unadjusted_schemes_at_small_dt_sample_boltzmann(name, temperature, kind):
    res, _ = chi2_for(name, kind, temperature)
    assert res.passed, f"{name} T={temperature} {kind}: {describe(res)}"
    # the allowance is a small correction, not what makes the test pass
    assert res.noncentrality < 3.0 * res.dof


@pytest.mark.parametrize(("name", "temperature"), CASES)
def test_mala_exact_at_large_dt_where_euler_maruyama_fails(name, temperature):
    mala, run = chi2_for(name, "mala", temperature)
    acc = run.state.accepted.mean() / steps_for(name, "mala", temperature)
    assert mala.noncentrality == 0.0
    assert mala.passed, f"MALA {name} T={temperature} (acceptance {acc:.2f}): {describe(mala)}"
    assert 0.2 < acc < 0.99  # a real large step: proposals are rejected
    em, _ = chi2_for(name, "overdamped_large", temperature, allowance=False)
    # the same test at the same dt must reject the unadjusted scheme
    assert em.statistic > em.threshold, f"EM at large dt passed: {describe(em)}"


@pytest.mark.parametrize("temperature", DW_TEMPS)
def test_euler_maruyama_failure_is_exactly_its_discretisation_bias(temperature):
    # The large-dt EM histogram that fails against Boltzmann passes against the exact
    # stationary density of the EM chain (1-D Nystrom solution): the failure above
    # is the scheme's known bias, not noise or an engine bug.
    _, dt, *_ = RUNS[("dw", "overdamped_large")]
    x, pi = A.euler_maruyama_density_1d(DW, temperature, dt, bounds=[[-3.0, 3.0]])
    xf = np.linspace(-3.0, 3.0, 300_001)
    pf = np.interp(xf, x, pi)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pf[1:] + pf[:-1]) * np.diff(xf))])
    q = np.diff(np.interp(DW_EDGES, xf, cdf))
    q = np.concatenate([q, [1.0 - q.sum()]])
    run = ensemble("dw", "overdamped_large", temperature)
    res = A.chi_square_test(counts("dw", run.state.positions), q, alpha=ALPHA)
    assert res.passed, describe(res)


# ------------------------------------------------------- 2. BAOAB temperatures, harmonic well
@pytest.mark.parametrize("temperature", DW_TEMPS)
def test_baoab_kinetic_and_configurational_temperature(temperature):
    run = ensemble("dw", "baoab", temperature)
    _, h, *_ = RUNS[("dw", "baoab")]
    z = z_crit(ALPHA, 2)
    # kinetic: full-step velocities are biased by -h^2 <|grad U|^2> / (4 m) (harmonic:
    # T (1 - h^2 w^2 / 4), algorithms.md sec. 10); <|grad U|^2> = T <U''> by quadrature.
    res = A.exact_boltzmann(DW, temperature)
    g = res.grid
    lap = A.laplacian(DW, g.points)
    mean_lap = float(np.sum(g.density(temperature).ravel() * lap))
    expect_kin = temperature * (1.0 - h * h * mean_lap / 4.0)
    tk, se_k = A.kinetic_temperature_stats(run.state.velocities, mass=1.0)
    assert abs(tk - expect_kin) < z * se_k, (tk, expect_kin, se_k)
    # configurational: <|grad U|^2> / <lap U> = T (bias O(h^2), far below se)
    tc, se_c = A.configurational_temperature(DW, run.state.positions)
    assert abs(tc - temperature) < z * se_c, (tc, temperature, se_c)


@pytest.mark.parametrize("friction", [1.0, 10.0])
@pytest.mark.parametrize("h_omega", [1.0, 1.5])
def test_baoab_harmonic_well_exact_positions_biased_momenta(h_omega, friction):
    # U = w^2 q^2 / 2, m = 1: BAOAB samples <q^2> = T / w^2 EXACTLY for any h < 2/w,
    # while full-step momenta have <p^2> = T (1 - h^2 w^2 / 4) (algorithms.md sec. 10).
    omega, temperature, n = 2.0, 0.7, 40_000
    land = lo.gaussian(dim=1, stiffness=omega**2)
    h = h_omega / omega
    steps = int(np.ceil(60.0 / (friction * h))) + 200  # >> 1/gamma and >> 1/omega
    run = lo.sample(land, np.zeros((n, 1)), steps, method="baoab", dt=h,
                    temperature=temperature, friction=friction, seed=404)
    q2 = run.state.positions[:, 0] ** 2
    p2 = run.state.velocities[:, 0] ** 2
    z = z_crit(ALPHA, 2)
    # Var(q^2) = 2 (T/w^2)^2 and Var(p^2) = 2 <p^2>^2 for Gaussians
    exp_q2 = temperature / omega**2
    exp_p2 = temperature * (1.0 - h_omega**2 / 4.0)
    assert abs(q2.mean() - exp_q2) < z * np.sqrt(2.0 / n) * exp_q2, (q2.mean(), exp_q2)
    assert abs(p2.mean() - exp_p2) < z * np.sqrt(2.0 / n) * exp_p2, (p2.mean(), exp_p2)


# ------------------------------------------------------------------------ 3. T = 0 limit
def test_zero_temperature_overdamped_is_gradient_descent_bit_for_bit():
    x0 = lo.uniform_positions([[-1.5, 1.0], [-0.3, 2.0]], 257, seed=5)
    a = lo.sample(MB, x0, 400, method="overdamped", dt=1e-4, temperature=0.0, seed=6,
                  record_every=50)
    b = lo.sample(MB, x0, 400, method="gd", dt=1e-4, temperature=0.0, seed=7,
                  record_every=50)
    assert np.array_equal(a.state.positions.view(np.uint64), b.state.positions.view(np.uint64))
    assert np.array_equal(a.state.energies.view(np.uint64), b.state.energies.view(np.uint64))
    assert np.array_equal(a.trajectory.positions.view(np.uint64),
                          b.trajectory.positions.view(np.uint64))
    assert not np.array_equal(a.state.positions, x0)  # it did descend


# --------------------------------------------------------------------- 4. replica exchange
RE_DW = lo.double_well(barrier=3.0, tilt=0.5)
RE_LADDER = (0.3, 0.6, 1.2, 2.4)
RE_CHAINS = 5_000
RE_STEPS, RE_SWAP, RE_DT = 5_000, 20, 0.02


@functools.cache
def re_run(swaps):
    k = len(RE_LADDER)
    # every walker starts in the metastable left well: at T = 0.3 the barrier is
    # ~12 T, so only the swaps can bring the cold replicas to the right well
    x0 = np.full((RE_CHAINS * k, 1), RE_DW.minima[0, 0])
    if swaps:
        return lo.sample(RE_DW, x0, RE_STEPS, method="mala", dt=RE_DT, seed=505,
                         replica_exchange=lo.ReplicaExchange(RE_LADDER, RE_SWAP))
    temps = np.tile(RE_LADDER, RE_CHAINS)
    return lo.sample(RE_DW, x0, RE_STEPS, method="mala", dt=RE_DT, seed=505,
                     temperature=temps)


def _re_chi2(run):
    k = len(RE_LADDER)
    x = run.state.positions[:, 0].reshape(RE_CHAINS, k)
    out = []
    for j, t in enumerate(RE_LADDER):
        exact = A.bin_probabilities(RE_DW, t, DW_EDGES)
        out.append(A.chi_square_test(counts_1d(x[:, j], DW_EDGES), exact.categories(),
                                     alpha=ALPHA / k))
    return out


def test_replica_exchange_marginals_are_boltzmann_at_every_temperature():
    run = re_run(True)
    for t, res in zip(RE_LADDER, _re_chi2(run), strict=True):
        assert res.passed, f"T={t}: {describe(res)}"
    st = run.state
    rate = st.swap_accepts / st.swap_attempts
    assert np.all((rate > 0.0) & (rate < 1.0)), rate
    # every round tries the pairs of one parity in every chain: the counts are exact
    rounds = np.arange(1, RE_STEPS // RE_SWAP + 1)
    parity = rounds % 2
    expect = [RE_CHAINS * int(np.sum(parity == (k % 2))) for k in range(len(RE_LADDER) - 1)]
    assert st.swap_attempts.tolist() == expect
    # configurations are permuted, never lost: each chain holds a permutation of slots
    assert np.array_equal(np.sort(st.permutation, axis=1),
                          np.tile(np.arange(len(RE_LADDER)), (RE_CHAINS, 1)))


def test_without_swaps_the_cold_replica_fails():
    # same walkers, temperatures and steps, no swaps: the T = 0.3 marginal is stuck in
    # the metastable well and the same test must reject it
    res = _re_chi2(re_run(False))
    assert not res[0].passed and res[0].statistic > res[0].threshold


# ------------------------------------------------------------- 5. narrow vs wide crossover
NW_BOUNDS = 7.0
NW_LADDER = (0.5, 0.56, 0.62, 0.66, 0.70, 0.76, 0.85, 1.0, 1.25, 1.6, 2.1, 2.8)
NW_CHAINS = 2_000
NW_STEPS, NW_DT, NW_SWAP = 6_000, 0.02, 50
NW_NEAR = (1, 2, 3, 4, 5)  # ladder indices bracketing the crossover


@functools.cache
def nw_fractions():
    """Narrow-basin fraction per ladder temperature from one parallel-tempering run.

    BAOAB at h = 0.02 (h w = 0.27 in the stiff narrow well): scaling the double-well
    bias bound above by (0.27/0.85)^2 gives a basin-fraction bias below 1e-3, under
    1/10 of the binomial standard error sqrt(0.25/2000) = 0.011.
    """
    land = lo.narrow_wide(dim=1)
    k = len(NW_LADDER)
    x0 = lo.uniform_positions([[-3.0, 3.0]], NW_CHAINS * k, seed=606)
    run = lo.sample(land, x0, NW_STEPS, method="baoab", dt=NW_DT, friction=1.0, seed=707,
                    replica_exchange=lo.ReplicaExchange(NW_LADDER, NW_SWAP))
    lab = A.assign_basins(land, run.state.positions)
    return (lab.reshape(NW_CHAINS, k) == 0).mean(axis=0), run


@functools.cache
def nw_grid(dim):
    land = lo.narrow_wide(dim=dim)
    return A.quadrature_grid(land, bounds=[[-NW_BOUNDS, NW_BOUNDS]] * dim,
                             panels=256 if dim == 1 else 64,
                             energy_cutoff=30.0 * max(NW_LADDER))


def test_narrow_wide_basin_fractions_match_quadrature_below_and_above_crossover():
    frac, _ = nw_fractions()
    grid = nw_grid(1)
    tq = A.crossover_temperature(lo.narrow_wide(dim=1), (0.4, 1.0),
                                 bounds=[[-NW_BOUNDS, NW_BOUNDS]])
    z = z_crit(ALPHA, 2)
    for t in (0.5, 1.0):
        j = NW_LADDER.index(t)
        p = grid.at(t).basin_probabilities[0]
        se = np.sqrt(p * (1 - p) / NW_CHAINS)
        assert abs(frac[j] - p) < z * se, (t, frac[j], p, se)
    # one temperature on each side of the crossover: the ordering flips
    assert frac[NW_LADDER.index(0.5)] > 0.5 > frac[NW_LADDER.index(1.0)]
    assert 0.5 < tq < 1.0


@pytest.mark.parametrize("dim", [1, 2])
def test_quadrature_crossover_matches_harmonic_prediction(dim):
    land = lo.narrow_wide(dim=dim)
    th = A.narrow_wide_harmonic_crossover(dim=dim)
    tq = A.crossover_temperature(land, (0.6 * th, 1.6 * th),
                                 bounds=[[-NW_BOUNDS, NW_BOUNDS]] * dim,
                                 panels=256 if dim == 1 else 64)
    # Expected deviation of the closed form T* = dD / ((d/2) ln(w_w^2 D_n / (w_n^2 D_w))):
    # (i) quartic term of each Gaussian well, -D r^4/(8 w^4): Z_i -> Z_i (1 + c_i T),
    #     c_i = d(d+2)/(8 D_i); in log(Z_n/Z_w) = dD/T - A this adds (c_n - c_w) T, which
    #     moves the root by dT_4 = (c_n - c_w) T*^3 / dD;
    # (ii) the true minima are shifted and reshaped by the other well's tail and the
    #     quartic wall: dT_min = (Laplace root at the true minima and Hessians) - T*.
    dn, dw = 4.0, 3.0
    c = dim * (dim + 2) / 8.0 * np.array([1.0 / dn, 1.0 / dw])
    dt4 = (c[0] - c[1]) * th**3 / (dn - dw)
    from scipy import optimize

    def lap_gap(t):
        p = A.harmonic_basin_probabilities(land, t)
        return np.log(p[0] / p[1])

    dtmin = optimize.brentq(lap_gap, 0.6 * th, 1.6 * th) - th
    tol = abs(dt4) + abs(dtmin)
    assert abs(tq - th) <= tol, (tq, th, dt4, dtmin)
    # and it is a real correction: the harmonic value is not exact
    assert abs(tq - th) > 1e-4


def test_measured_crossover_matches_quadrature():
    frac, _ = nw_fractions()
    grid = nw_grid(1)
    temps = np.array([NW_LADDER[i] for i in NW_NEAR])
    tq = A.crossover_temperature(lo.narrow_wide(dim=1), (0.4, 1.0),
                                 bounds=[[-NW_BOUNDS, NW_BOUNDS]])
    tm, se = logit_crossover(temps, frac[list(NW_NEAR)], NW_CHAINS)
    # The logit-vs-1/T model is exact only in the harmonic limit: the same fit applied
    # to the exact (quadrature) fractions gives ta, and |ta - tq| is the model error of
    # the interpolation, allowed explicitly (it is a fraction of se).
    ta, _ = logit_crossover(temps, [grid.at(t).basin_probabilities[0] for t in temps],
                            NW_CHAINS)
    assert abs(ta - tq) < se, (ta, tq, se)
    assert abs(tm - tq) < z_crit(ALPHA) * se + abs(ta - tq), (tm, tq, ta, se)
