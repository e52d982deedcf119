"""Simulated escape rates against Kramers / Eyring–Kramers / Langer theory (small ensembles)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import langevin_opt as lo
from langevin_opt.rates import (
    analyse_point,
    basins_from_landscape,
    exponential_rate,
    first_passage,
    harmonic_point,
    kramers_overdamped_rate,
    landscape_function,
    langer_rate,
)


def test_muller_brown_rate_approaches_eyring_kramers_as_t_falls():
    # escape A -> C over S1 (barrier 106.03); the clock stops in the ball around C.  Finite-
    # temperature corrections make the simulated rate fall short of Eyring–Kramers by a factor
    # that shrinks as T falls (experiment: 0.6 at T = 40, ~0.8 at T = 18, ~0.9 at T = 10-11).
    mb = lo.muller_brown()
    f = landscape_function(mb)
    mn = analyse_point(f, mb.minima[0])
    sd = analyse_point(f, mb.saddles[0])
    assert abs(sd.energy - mn.energy - 106.0347) < 1e-3 and sd.n_negative == 1
    basins = basins_from_landscape(mb)
    x0 = np.tile(mb.minima[0], (600, 1))
    ratio, se = [], []
    for t in (40.0, 18.0):
        r = first_passage(mb, lo.Overdamped(dt=2e-5), x0, basins, temperature=t,
                          max_steps=2_000_000, seed=5)
        assert r.n_events == 600 and np.all(r.final_basin[r.final_basin >= 0] != 0)
        est = exponential_rate(r.times, r.censored)
        q = est.rate / kramers_overdamped_rate(mn, sd, t)
        ratio.append(q)
        se.append(q * est.log_se)
    # within a factor 2 of theory at both temperatures, and significantly closer at the lower one
    assert all(0.5 < q < 1.1 for q in ratio), ratio
    z = (ratio[1] - ratio[0]) / math.hypot(*se)
    assert z > 3, (ratio, se)


def test_underdamped_rate_matches_langer_at_moderate_friction():
    # 1-D double well (barrier 1) at 4 kT, friction gamma = 2 = omega_b: spatial-diffusion
    # regime; Kramers' formula (b) holds to within several per cent at such barriers
    dw = lo.double_well(barrier=1.0)
    mn = harmonic_point([-1.0], 0.0, [[8.0]])
    sd = harmonic_point([0.0], 1.0, [[-4.0]])
    r = first_passage(dw, lo.BAOAB(dt=0.01, friction=2.0), np.full((500, 1), -1.0),
                      basins_from_landscape(dw), temperature=0.25, max_steps=10**7, seed=5)
    est = exponential_rate(r.times, r.censored)
    q = est.rate / langer_rate(mn, sd, 0.25, friction=2.0)
    assert abs(q - 1) < 0.08 + 4 * est.log_se, q


def test_langer_rate_friction_is_checked():
    mn = harmonic_point(np.zeros(1), 0.0, np.array([[2.0]]))
    sd = harmonic_point(np.ones(1), 1.0, np.array([[-1.0]]))
    assert langer_rate(mn, sd, 0.5, friction=1.0) > 0
    with pytest.raises(ValueError, match=r"^friction must be a finite number > 0, got 0$"):
        langer_rate(mn, sd, 0.5, friction=0)
    with pytest.raises(TypeError, match="friction must be a finite number > 0, got str"):
        langer_rate(mn, sd, 0.5, friction="1")
