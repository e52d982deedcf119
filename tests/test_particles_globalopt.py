"""Langevin basin hopping with replica exchange on LJ clusters."""

import numpy as np
import pytest

from langevin_opt import particles as lp

LJ = lp.lennard_jones(mode="plain")
LJ13_MIN = -44.326801


def starts(r, seed):
    x = np.random.default_rng(seed).uniform(-1.3, 1.3, (r, 13, 3))
    return lp.fire_replicas(x, LJ, fire=lp.FIRE(fmax=1.0, max_steps=500)).positions


def test_langevin_basin_hopping_finds_lj13_and_is_reproducible():
    kw = dict(temperatures=np.geomspace(0.4, 1.0, 4), swap_every=5,
              container=lp.Container(2.2, 50.0), seed=3, target=LJ13_MIN)
    res = lp.basin_hopping_replicas(starts(4, 1), LJ, 300, **kw)
    assert res.hops_to_target is not None, res.best_energy
    assert res.best_energy == pytest.approx(LJ13_MIN, abs=1e-5)
    assert np.all(np.diff(res.best_history) <= 0)
    # without a target the run goes on, with exchanges between the slots
    kw.pop("target")
    a = lp.basin_hopping_replicas(starts(4, 1), LJ, 20, **kw)
    assert a.n_hops == 20 and a.best_energy == pytest.approx(LJ13_MIN, abs=1e-5)
    np.testing.assert_array_equal(a.swap_attempts, [2, 2, 2])  # 4 exchanges, alternating
    assert a.swap_accepts.sum() > 0
    b = lp.basin_hopping_replicas(starts(4, 1), LJ, 20, **kw)
    np.testing.assert_array_equal(a.energy, b.energy)
    np.testing.assert_array_equal(a.positions, b.positions)
    # the Metropolis rule: at an acceptance temperature near 0 only downhill hops pass
    cold = lp.basin_hopping_replicas(starts(2, 2), LJ, 20, temperatures=1e-9,
                                     container=lp.Container(2.2, 50.0), seed=4)
    hist = cold.best_history
    assert np.all(np.diff(hist) <= 0) and cold.swap_attempts.size == 1


def test_basin_hopping_validation():
    x = starts(2, 0)
    with pytest.raises(ValueError, match=r"n_hops must be an integer in \[1, "):
        lp.basin_hopping_replicas(x, LJ, 0, seed=1)
    with pytest.raises(TypeError, match="n_hops must be an integer"):
        lp.basin_hopping_replicas(x, LJ, 2.5, seed=1)
    with pytest.raises(ValueError, match="increasing ladder"):
        lp.basin_hopping_replicas(x, LJ, 5, temperatures=[1.0, 0.5], swap_every=2, seed=1)
    with pytest.raises(ValueError, match="kick_temperature must be a finite number > 0"):
        lp.basin_hopping_replicas(x, LJ, 5, kick_temperature=-1.0, seed=1)
    with pytest.raises(TypeError, match="seed is required"):
        lp.basin_hopping_replicas(x, LJ, 5)
