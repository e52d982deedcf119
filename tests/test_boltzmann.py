"""The exact-Boltzmann toolkit (langevin_opt.analysis): quadrature, basins, tests, estimators.

Accuracy statement checked here: ``exact_boltzmann(..., rtol=1e-9)`` gives ``ln Z``
and ``<U>`` to 1e-9 (absolute / relative) against closed forms and against
adaptive ``scipy.integrate.quad``; bin probabilities to 1e-10; 2-D basin
probabilities carry the indicator-on-a-grid error reported as ``basin_error``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats
from stats_util import z_crit

import langevin_opt as lo
from langevin_opt import analysis as A

DW = lo.double_well(barrier=1.0, tilt=0.3)
MB = lo.muller_brown()


# ------------------------------------------------------------------------------ quadrature
@pytest.mark.parametrize("temperature", [0.05, 0.7, 3.0])
def test_gaussian_1d_partition_function_energy_and_free_energy(temperature):
    k, mu = 4.0, 0.3
    land = lo.gaussian(dim=1, mean=[mu], stiffness=k)
    r = A.exact_boltzmann(land, temperature)
    log_z = 0.5 * math.log(2 * math.pi * temperature / k)
    assert abs(r.log_partition - log_z) < 1e-9
    assert abs(r.mean_energy - 0.5 * temperature) < 1e-9 * temperature
    assert abs(r.free_energy + temperature * log_z) < 1e-9 * temperature
    assert abs(r.entropy - (0.5 + log_z)) < 1e-9
    assert abs(r.heat_capacity - 0.5) < 1e-8
    assert r.error < 1e-9 and r.edge_density_ratio < 1e-9  # bounds: +-12 sd at T = 1
    assert r.partition_function == pytest.approx(math.exp(log_z), rel=1e-9)


@pytest.mark.parametrize("temperature", [0.2, 1.3])
def test_gaussian_2d_correlated_stiffness(temperature):
    kmat = np.array([[2.0, 0.5], [0.5, 1.0]])
    land = lo.gaussian(dim=2, mean=[0.2, -0.4], stiffness=kmat)
    r = A.exact_boltzmann(land, temperature)
    log_z = math.log(2 * math.pi * temperature / math.sqrt(np.linalg.det(kmat)))
    assert abs(r.log_partition - log_z) < 1e-9
    assert abs(r.mean_energy - temperature) < 1e-9 * temperature  # <U> = d T / 2
    assert abs(r.heat_capacity - 1.0) < 1e-8
    assert r.basin_probabilities == pytest.approx([1.0], abs=1e-12)


def test_no_overflow_at_very_low_temperature():
    # exp(146.7 / 0.1) overflows a float; a box around the global minimum
    t = 0.1
    r = A.exact_boltzmann(MB, t, bounds=[[-0.8, -0.3], [1.2, 1.7]], basins=False)
    assert math.isfinite(r.log_partition) and r.error < 1e-9
    _, logdet = np.linalg.slogdet(A.hessian(MB, MB.minima[:1])[0])
    laplace = -MB.global_minimum / t + math.log(2 * math.pi * t) - 0.5 * logdet
    assert abs(r.log_partition - laplace) < 0.01  # Laplace's method, O(T) correction
    assert r.partition_function == math.inf
    # Laplace: <U> = U_min + d T / 2 + O(T^2)
    assert r.mean_energy == pytest.approx(MB.global_minimum + t, abs=1e-3)


@pytest.mark.parametrize("temperature", [0.3, 1.0])
def test_double_well_against_adaptive_quad_with_basins(temperature):
    def w(x):
        return math.exp(-float(DW.energy(np.array([[x]]))[0]) / temperature)

    top = optimize.brentq(lambda x: DW.gradient(np.array([[x]]))[0, 0], -0.5, 0.5, xtol=1e-15)
    lo_, hi = DW.bounds[0]
    zl = integrate.quad(w, lo_, top, epsabs=0, epsrel=1e-13, limit=200)[0]
    zr = integrate.quad(w, top, hi, epsabs=0, epsrel=1e-13, limit=200)[0]
    e1 = integrate.quad(lambda x: w(x) * DW.energy(np.array([[x]]))[0], lo_, hi,
                        epsabs=0, epsrel=1e-13, limit=200)[0]
    r = A.exact_boltzmann(DW, temperature)
    assert abs(r.log_partition - math.log(zl + zr)) < 1e-9
    assert abs(r.mean_energy - e1 / (zl + zr)) < 1e-9
    assert np.allclose(r.basin_probabilities, [zl / (zl + zr), zr / (zl + zr)], atol=1e-10)


def test_edge_weight_warning_when_the_box_cuts_the_density():
    land = lo.gaussian(dim=1, stiffness=1.0)
    with pytest.warns(RuntimeWarning, match="enlarge bounds"):
        A.exact_boltzmann(land, 1.0, bounds=[[-3.0, 3.0]])


def test_validation():
    with pytest.raises(ValueError, match="temperature"):
        A.exact_boltzmann(DW, 0.0)
    with pytest.raises(ValueError, match="1-D and 2-D"):
        A.exact_boltzmann(lo.gaussian(dim=3), 1.0)
    with pytest.raises(ValueError, match="sum to 1"):
        A.chi_square_test([5, 5], [0.2, 0.2])
    with pytest.raises(ValueError, match="increasing"):
        A.bin_probabilities(DW, 1.0, [0.0, 0.0, 1.0])


# ------------------------------------------------------------------------ histograms
def test_bin_probabilities_1d_against_gaussian_cdf():
    k, t = 2.0, 0.8
    land = lo.gaussian(dim=1, stiffness=k)
    edges = np.array([-2.0, -1.0, -0.3, 0.0, 0.45, 1.7])
    b = A.bin_probabilities(land, t, edges)
    cdf = stats.norm.cdf(edges, scale=math.sqrt(t / k))
    assert np.max(np.abs(b.probabilities - np.diff(cdf))) < 1e-10
    assert abs(b.outside - (1 - (cdf[-1] - cdf[0]))) < 1e-10
    assert b.error < 1e-9
    assert b.categories().sum() == pytest.approx(1.0, abs=1e-12)


def test_bin_probabilities_2d_against_product_of_cdfs():
    t = 0.5
    land = lo.gaussian(dim=2, stiffness=[1.0, 3.0])
    ex, ey = np.linspace(-2, 2, 7), np.array([-1.0, -0.2, 0.1, 0.9])
    b = A.bin_probabilities(land, t, (ex, ey))
    px = np.diff(stats.norm.cdf(ex, scale=math.sqrt(t)))
    py = np.diff(stats.norm.cdf(ey, scale=math.sqrt(t / 3.0)))
    assert b.probabilities.shape == (6, 3)
    assert np.max(np.abs(b.probabilities - np.outer(px, py))) < 1e-10


def test_euler_maruyama_density_harmonic_closed_form():
    # linear EM chain: stationary variance 2 T dt / (1 - (1 - k dt)^2) = T / (k (1 - k dt / 2))
    k, t, dt = 4.0, 0.5, 0.2
    land = lo.gaussian(dim=1, stiffness=k)
    x, pi = A.euler_maruyama_density_1d(land, t, dt)
    w = np.full(x.size, x[1] - x[0])
    w[[0, -1]] *= 0.5
    var = float(np.sum(w * pi * x**2))
    assert var == pytest.approx(t / (k * (1 - k * dt / 2)), rel=1e-8)


def test_first_order_euler_maruyama_bias_matches_exact_chain():
    # (q_dt - p) from rho (1 + dt f1) against the exact 1-D EM density: the remainder
    # must be O(dt^2) (quartered when dt halves) and small against the bias itself
    t = 0.5
    edges = np.linspace(-2, 2, 21)
    p = A.bin_probabilities(DW, t, edges).probabilities
    rem = []
    for dt in (0.02, 0.01):
        x, pi = A.euler_maruyama_density_1d(DW, t, dt)
        xf = np.linspace(x[0], x[-1], 400_001)
        pf = np.interp(xf, x, pi)
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pf[1:] + pf[:-1]) * np.diff(xf))])
        q_exact = np.diff(np.interp(edges, xf, cdf))
        q1 = A.overdamped_bin_probabilities(DW, t, dt, edges).probabilities
        rem.append(np.max(np.abs(q_exact - q1)))
        assert rem[-1] < 0.1 * np.max(np.abs(q1 - p))
    assert 3.0 < rem[0] / rem[1] < 5.0


# ------------------------------------------------------------------------ chi-square
def test_chi_square_false_alarm_rate_and_power():
    rng = np.random.default_rng(11)
    p = rng.dirichlet(np.ones(12))
    n, reps, alpha = 5000, 4000, 0.01
    draws = rng.multinomial(n, p, size=reps)
    rej = np.mean([not A.chi_square_test(c, p, alpha=alpha).passed for c in draws])
    # binomial 1e-3 two-sided band around alpha for `reps` replicate tests
    band = z_crit(1e-3) * math.sqrt(alpha * (1 - alpha) / reps)
    assert abs(rej - alpha) < band + 0.002  # + chi-square approximation error at n p >= 5
    q = 0.97 * p + 0.03 * np.eye(12)[0]
    power = np.mean([not A.chi_square_test(c, p, alpha=alpha).passed
                     for c in rng.multinomial(n, q, size=200)])
    assert power > 0.9


def test_chi_square_noncentral_allowance_is_calibrated():
    # samples from a known biased r, tested against p with reference=r: false alarms at
    # rate alpha; without the allowance the same samples fail far more often
    rng = np.random.default_rng(12)
    p = np.full(10, 0.1)
    r = p + 0.004 * np.array([1, -1] * 5)
    n, reps, alpha = 20_000, 3000, 0.01
    draws = rng.multinomial(n, r, size=reps)
    with_ref = np.mean([not A.chi_square_test(c, p, alpha=alpha, reference=r).passed
                        for c in draws])
    without = np.mean([not A.chi_square_test(c, p, alpha=alpha).passed for c in draws])
    band = z_crit(1e-3) * math.sqrt(alpha * (1 - alpha) / reps)
    assert with_ref < alpha + band + 0.003
    assert without > 5 * alpha


def test_chi_square_pools_small_categories_and_g_test():
    p = np.array([0.5, 0.3, 0.19, 0.004, 0.003, 0.003])
    res = A.chi_square_test([500, 300, 190, 6, 2, 2], p, min_expected=5.0)
    assert res.categories == 4 and res.dof == 3 and res.passed
    g = A.chi_square_test([500, 300, 190, 6, 2, 2], p, method="g")
    assert abs(g.statistic - res.statistic) < 1.0
    bad = A.chi_square_test([700, 200, 90, 6, 2, 2], p)
    assert not bad.passed and bad.p_value < 1e-10


def test_chi_square_with_effective_sample_size_for_correlated_chains():
    # Bin a stationary AR(1) chain (phi = 0.9, N(0, 1) marginal): counts are
    # over-dispersed by the statistical inefficiency g of the bin indicators.  Using
    # n_eff = n / max_bins g restores (conservatively) the false-alarm rate; the raw
    # statistic rejects almost always.
    phi, f, reps, alpha = 0.9, 20_000, 300, 0.01
    edges = np.array([-np.inf, -1.0, -0.3, 0.3, 1.0, np.inf])
    p = np.diff(stats.norm.cdf(edges))
    rng = np.random.default_rng(16)
    x = np.empty((f, reps))
    x[0] = rng.normal(size=reps)
    e = rng.normal(scale=math.sqrt(1 - phi**2), size=(f, reps))
    for i in range(1, f):
        x[i] = phi * x[i - 1] + e[i]
    raw = corrected = 0
    for r in range(reps):
        b = np.searchsorted(edges, x[:, r]) - 1
        c = np.bincount(b, minlength=p.size)
        g = max(A.autocorr_time((b == k).astype(float)) for k in range(p.size))
        raw += not A.chi_square_test(c, p, alpha=alpha).passed
        corrected += not A.chi_square_test(c, p, alpha=alpha, n_effective=f / g).passed
    band = z_crit(1e-3) * math.sqrt(alpha * (1 - alpha) / reps)
    assert corrected / reps < alpha + band
    assert raw / reps > 0.5


def test_autocorrelation_time_of_ar1_chains():
    # AR(1) x_t = phi x_{t-1} + e_t has g = (1 + phi) / (1 - phi)
    phi, f, m = 0.8, 4000, 100
    rng = np.random.default_rng(13)
    x = np.empty((f, m))
    x[0] = rng.normal(size=m) / math.sqrt(1 - phi**2)
    e = rng.normal(size=(f, m))
    for i in range(1, f):
        x[i] = phi * x[i - 1] + e[i]
    # chains first: (n_chains, n_samples)
    g = A.autocorr_time(x.T)
    exact = (1 + phi) / (1 - phi)
    # Madras-Sokal: Var(g) ~ 2 (2W + 1) g^2 / N with window W ~ 5 g
    se = exact * math.sqrt(2 * (2 * 5 * exact + 1) / (f * m))
    assert abs(g - exact) < z_crit() * se + 0.05 * exact / 5, (g, exact, se)
    # ESS (Geyer's initial monotone sequence, Vehtari et al.) estimates the same tau
    assert A.ess(x.T, "mean") == pytest.approx(f * m / exact, rel=0.1)
    assert A.autocorr_time(rng.normal(size=(10, 2000))) < 1.2
    # the axis convention matters: time first would read 4000 chains of 100 draws
    assert A.autocorr_time(x) < 0.5 * exact


# --------------------------------------------------------------------------- estimators
def test_hessian_and_laplacian_against_analytic():
    x = np.linspace(-1.8, 1.8, 13)[:, None]
    exact = 4.0 * (3 * x[:, 0] ** 2 - 1)
    assert np.allclose(A.laplacian(DW, x), exact, rtol=1e-7, atol=1e-7)
    assert np.allclose(A.hessian(DW, x)[:, 0, 0], exact, rtol=1e-7, atol=1e-7)


def test_bad_arguments_of_the_toolkit():
    p = np.array([0.5, 0.5])
    with pytest.raises(TypeError, match="landscape must be a Landscape, got str"):
        A.exact_boltzmann("double_well", 1.0)
    with pytest.raises(TypeError, match="temperature must be a finite number > 0"):
        A.exact_boltzmann(DW, "1.0")
    with pytest.raises(ValueError, match=r"^temperature must be a finite number > 0, got 0$"):
        A.exact_boltzmann(DW, 0)
    with pytest.raises(ValueError, match=r"unknown method 'pearsn' \(did you mean 'pearson'\?\)"):
        A.chi_square_test([10, 10], p, method="pearsn")
    assert A.chi_square_test([10, 10], p, method="G").passed  # names are case-insensitive
    with pytest.raises(ValueError, match="noncentrality must be a finite number >= 0"):
        A.chi_square_test([10, 10], p, noncentrality=-1.0)


def test_one_finite_difference_hessian():
    # rates.hessian_fd and analysis.hessian are the same implementation (analysis.fd_hessian)
    from langevin_opt.rates import hessian_fd, landscape_function

    x = np.array([[-0.55, 1.44], [0.1, 0.3]])
    for row in x:
        assert np.array_equal(hessian_fd(landscape_function(MB), row, eps=1e-4),
                              A.hessian(MB, row, eps=1e-4)[0])
    assert np.array_equal(A.fd_hessian(MB.gradient, x, 1e-4), A.hessian(MB, x, eps=1e-4))


def test_one_diagnostics_module():
    from langevin_opt import sgmcmc
    from langevin_opt.sgmcmc import diagnostics

    assert sgmcmc.split_rhat is A.split_rhat and sgmcmc.ess is A.ess
    assert diagnostics.autocorr_time is A.autocorr_time
    assert diagnostics.autocorr_function is A.autocorr_function


def test_temperature_estimators_on_exact_samples():
    t, n = 0.9, 50_000
    kmat = np.array([[2.0, 0.5], [0.5, 1.0]])
    land = lo.gaussian(dim=2, stiffness=kmat)
    rng = np.random.default_rng(14)
    x = rng.multivariate_normal(np.zeros(2), t * np.linalg.inv(kmat), size=n)
    v = rng.normal(scale=math.sqrt(t / 2.5), size=(n, 2))
    z = z_crit(1e-3, 2)
    tc, se_c = A.configurational_temperature(land, x)
    tk, se_k = A.kinetic_temperature_stats(v, mass=2.5)
    assert abs(tc - t) < z * se_c and 0 < se_c < 0.02
    assert abs(tk - t) < z * se_k and 0 < se_k < 0.02


# ------------------------------------------------------------------------------ basins
def test_walker_basins_1d_are_the_sides_of_the_barrier():
    top = optimize.brentq(lambda x: DW.gradient(np.array([[x]]))[0, 0], -0.5, 0.5, xtol=1e-15)
    x = np.concatenate([np.linspace(-2.4, 2.4, 301), [top - 1e-3, top + 1e-3]])
    lab = A.assign_basins(DW, x[:, None])
    assert np.array_equal(lab, (x > top).astype(np.int64))


def test_grid_basin_labels_2d_agree_with_walker_quench():
    # the quadtree labels of the quadrature nodes use the walkers' definition: quenching
    # density-weighted nodes as walkers gives the same labels, except possibly on the
    # one-node band along a basin boundary, whose weight is what basin_error measures
    t = 20.0
    grid = A.quadrature_grid(MB, panels=32, energy_cutoff=30 * t)
    rho = grid.density(t).ravel()
    idx = np.random.default_rng(15).choice(rho.size, 3000, p=rho)
    lab = A.assign_basins(MB, grid.points[idx])
    grid_lab = grid.labels.ravel()[idx]
    diff = np.flatnonzero(lab != grid_lab)
    assert diff.size <= 3
    g = grid.labels
    for i in idx[diff]:
        a, b = np.unravel_index(i, g.shape)
        nb = g[max(a - 1, 0):a + 2, max(b - 1, 0):b + 2]
        assert np.any(nb != g[a, b])  # on the boundary band
    r = A.exact_boltzmann(MB, t)
    assert r.basin_error < 2e-4
    assert r.basin_probabilities.sum() == pytest.approx(1.0, abs=1e-12)
    assert r.basin_probabilities[0] > r.basin_probabilities[1] > r.basin_probabilities[2]


def test_harmonic_basin_probabilities_converge_at_low_temperature():
    # Laplace's method: ln(P_1/P_0) from quadrature approaches the harmonic value with an
    # O(T) anharmonic error
    dev = []
    for t in (0.1, 0.05):
        q = A.exact_boltzmann(DW, t).basin_probabilities
        h = A.harmonic_basin_probabilities(DW, t)
        dev.append(abs(math.log(q[0] / q[1]) - math.log(h[0] / h[1])))
    assert dev[1] < 0.6 * dev[0] and dev[1] < 0.05


def test_narrow_wide_crossover_closed_form_and_root():
    th = A.narrow_wide_harmonic_crossover(dim=2)
    assert th == pytest.approx(1.0 / math.log(0.36 * 4 / (0.0225 * 3)), rel=1e-14)
    assert A.narrow_wide_harmonic_crossover(dim=1) == pytest.approx(2 * th)
    assert math.isnan(A.narrow_wide_harmonic_crossover(3.0, 0.15, 4.0, 0.6))
    land = lo.narrow_wide(dim=1)
    tq = A.crossover_temperature(land, (0.4, 1.0), bounds=[[-7.0, 7.0]])
    grid = A.quadrature_grid(land, bounds=[[-7.0, 7.0]], panels=256)
    p = grid.at(tq).basin_probabilities
    assert abs(p[0] - p[1]) < 1e-9
    assert grid.at(0.9 * tq).basin_probabilities[0] > 0.5 > grid.at(1.1 * tq).basin_probabilities[0]
