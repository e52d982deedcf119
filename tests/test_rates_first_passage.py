"""First-passage loop: identity with the plain sampler, thread/compaction independence, exact MFPT."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import langevin_opt as lo
from langevin_opt.rates import Basins, basins_from_landscape, first_passage
from langevin_opt.rates.estimators import mean_first_passage_time
from langevin_opt.rates.theory import harmonic_point, kramers_overdamped_rate, mfpt_1d_exact

REPO = Path(lo.__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mb() -> lo.Landscape:
    return lo.muller_brown()


@pytest.mark.parametrize(("name", "integ", "n", "temp"), [
    ("muller_brown", lo.Overdamped(dt=2e-5), 4000, 30.0),
    ("double_well", lo.BAOAB(dt=0.01, friction=2.0), 3000, 0.5),
], ids=["overdamped", "baoab"])
def test_trajectory_identical_to_sampler_until_escape(name, integ, n, temp):
    land = lo.make_landscape(name)
    x0 = np.tile(land.minima[0], (40, 1))
    basins = basins_from_landscape(land)
    res = first_passage(land, integ, x0, basins, temperature=temp, max_steps=n, seed=11,
                        stream_offset=5, chunk=97)
    sampler = lo.Sampler(land, integ, temperature=temp, seed=11, stream_offset=5)
    traj = sampler.run(sampler.init(x0), n, record_every=1).trajectory.positions
    assert res.n_events > 0 and res.censored.any()
    for i in range(x0.shape[0]):
        k = res.steps[i]
        assert np.array_equal(traj[k, i], res.positions[i])
        if not res.censored[i]:
            # the walker entered the region of another basin exactly at step k, never before
            b = basins.assign(traj[1:k + 1, i])
            assert b[-1] == res.final_basin[i] != 0
            assert np.all((b[:-1] == 0) | (b[:-1] == -1))
        else:
            assert k == n and res.final_basin[i] == -1


def test_independent_of_compaction_block_and_chunk(mb):
    x0 = np.tile(mb.minima[0], (300, 1))
    basins = basins_from_landscape(mb)
    kw = dict(temperature=np.linspace(22.0, 35.0, 300), max_steps=6000, seed=3)
    a = first_passage(mb, lo.Overdamped(dt=2e-5), x0, basins, chunk=1000, **kw)
    old = lo.config.block_size
    lo.config.block_size = 16
    try:
        b = first_passage(mb, lo.Overdamped(dt=2e-5), x0, basins, chunk=333, compact=False, **kw)
    finally:
        lo.config.block_size = old
    for f in ("steps", "final_basin", "censored", "positions"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    assert 0 < a.n_events < 300
    # commitment regions lie inside the basins: committed walkers quench to the basin entered
    from langevin_opt.rates.first_passage import quench_basins

    q = quench_basins(mb, a, basins)
    assert np.array_equal(q[~a.censored], a.final_basin[~a.censored])
    # no wasted steps: the work done is the sum of the walkers' own step counts
    assert a.walker_steps == int(a.steps.sum())


_SCRIPT = """
import json, numpy as np, langevin_opt as lo
from langevin_opt.rates import basins_from_landscape, first_passage
dw = lo.double_well(barrier=1.0)
r = first_passage(dw, lo.BAOAB(dt=1e-2, friction=2.0), np.full((300, 1), -1.0),
                  basins_from_landscape(dw), temperature=0.3, max_steps=3000, seed=5, chunk=500)
print(json.dumps({"steps": r.steps.tolist(), "basin": r.final_basin.tolist(),
                  "x": r.positions.ravel().tolist()}))
"""


def test_independent_of_thread_count():
    out = []
    for n in ("1", "2"):
        env = dict(os.environ, NUMBA_NUM_THREADS=n, PYTHONPATH=str(REPO))
        p = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                           env=env, timeout=300, check=True)
        out.append(json.loads(p.stdout.strip().splitlines()[-1]))
    assert out[0] == out[1]
    assert 0 < sum(b >= 0 for b in out[0]["basin"]) < 300


def test_rejects_bad_inputs(mb):
    basins = basins_from_landscape(mb)
    x0 = np.tile(mb.minima[0], (4, 1))
    with pytest.raises(TypeError, match="integrator"):
        first_passage(mb, lo.MALA(dt=1e-5), x0, basins, temperature=1.0, max_steps=10, seed=0)
    with pytest.raises(ValueError, match="outside every basin"):
        first_passage(mb, lo.Overdamped(dt=1e-5), np.zeros((4, 2)), basins, temperature=1.0,
                      max_steps=10, seed=0)
    with pytest.raises(ValueError, match="max_steps"):
        first_passage(mb, lo.Overdamped(dt=1e-5), x0, basins, temperature=1.0, max_steps=0,
                      seed=0)
    with pytest.raises(ValueError, match="overlap"):
        Basins([[0.0], [1.0]], [0.6, 0.6])


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg, msg
    return msg


@pytest.mark.parametrize(("kw", "exc", "text"), [
    # per-walker arrays of the wrong length: one line naming the argument (was a NumPy
    # broadcasting error)
    ({"temperature": [1.0, 2.0, 3.0]}, ValueError, r"temperature must be a scalar or have "
                                                   r"shape \(4,\), got shape \(3,\)"),
    ({"max_steps": np.array([10, 20])}, ValueError, r"max_steps must be a scalar or have "
                                                    r"shape \(4,\), got shape \(2,\)"),
    ({"temperature": [[1.0] * 4]}, ValueError, r"temperature must be a scalar or have shape"),
    ({"temperature": -1.0}, ValueError, "temperature must be finite > 0"),
    ({"max_steps": 2.5}, TypeError, "max_steps must hold integers"),
    ({"start_basin": [0, 1]}, ValueError, r"start_basin must be a scalar or have shape \(4,\)"),
    ({"start_basin": 7}, ValueError, r"start_basin must be finite in \[0, 2\]"),
    ({"stream_offset": -1}, ValueError, "stream_offset must be an integer in"),
    ({"stream_offset": 2**32 - 2}, ValueError, "stream_offset must be an integer in"),
    ({"stream_offset": 1.5}, TypeError, "stream_offset must be an integer"),
    ({"chunk": 0}, ValueError, r"chunk must be an integer in \[1, "),
    ({"threads": 0}, ValueError, "threads must be an integer in"),
    ({"progress": 3}, TypeError, r"progress must be True, False or a callable progress\(step, "),
    ({"compact": "no"}, TypeError, "compact must be True or False"),
    ({"seed": None}, TypeError, "seed is required"),
    ({"seed": -1}, ValueError, "seed must be an integer"),
    ({"velocities": np.zeros((4, 2))}, ValueError, "velocities are only used by baoab"),
])
def test_bad_inputs_get_one_line_errors(mb, kw, exc, text):
    basins = basins_from_landscape(mb)
    args = dict(temperature=1.0, max_steps=10, seed=0, start_basin=0)
    args.update(kw)
    with pytest.raises(exc, match=text) as err:
        first_passage(mb, lo.Overdamped(dt=1e-5), np.tile(mb.minima[0], (4, 1)), basins,
                      **args)
    _one_line(err)


def test_missing_seed_and_wrong_types_are_type_errors(mb):
    basins = basins_from_landscape(mb)
    x0 = np.tile(mb.minima[0], (4, 1))
    with pytest.raises(TypeError, match="seed is required"):
        first_passage(mb, lo.Overdamped(dt=1e-5), x0, basins, temperature=1.0, max_steps=10)
    with pytest.raises(TypeError, match="landscape must be a Landscape"):
        first_passage("muller_brown", lo.Overdamped(dt=1e-5), x0, basins, temperature=1.0,
                      max_steps=10, seed=0)
    with pytest.raises(TypeError, match="basins must be a Basins"):
        first_passage(mb, lo.Overdamped(dt=1e-5), x0, None, temperature=1.0, max_steps=10,
                      seed=0)


def test_baoab_velocity_shape_checked(mb):
    basins = basins_from_landscape(mb)
    x0 = np.tile(mb.minima[0], (4, 1))
    with pytest.raises(ValueError, match=r"velocities must have shape \(4, 2\)") as err:
        first_passage(mb, lo.BAOAB(dt=1e-5), x0, basins, temperature=1.0, max_steps=10,
                      seed=0, velocities=np.zeros((3, 2)))
    _one_line(err)


def test_checks_run_before_the_backend_is_chosen(mb):
    """One validation path: a bad argument is refused the same way with backend='cuda'."""
    basins = basins_from_landscape(mb)
    x0 = np.tile(mb.minima[0], (4, 1))
    for kw, text in (({"temperature": [1.0, 2.0]}, "temperature must be a scalar"),
                     ({"stream_offset": -3}, "stream_offset must be"),
                     ({"start_basin": 5}, "start_basin must be")):
        args = dict(temperature=1.0, max_steps=10, seed=0, start_basin=0, **{})
        args.update(kw)
        with pytest.raises(ValueError, match=text):
            first_passage(mb, lo.Overdamped(dt=1e-5), x0, basins, backend="cuda", **args)
    with pytest.raises(ValueError, match="compact=False keeps the CPU's initial walker blocks"):
        first_passage(mb, lo.Overdamped(dt=1e-5), x0, basins, temperature=1.0, max_steps=10,
                      seed=0, compact=False, backend="cuda")


def test_stream_offset_gives_the_streams_of_the_whole_run():
    """Walkers 6.. run alone with stream_offset=6 follow walkers 6.. of the whole run."""
    dw = lo.double_well(barrier=1.0)
    basins = basins_from_landscape(dw)
    kw = dict(temperature=0.4, max_steps=2000, seed=9, chunk=300)
    whole = first_passage(dw, lo.BAOAB(dt=0.01), np.full((10, 1), -1.0), basins, **kw)
    part = first_passage(dw, lo.BAOAB(dt=0.01), np.full((4, 1), -1.0), basins,
                         stream_offset=6, **kw)
    assert np.array_equal(whole.steps[6:], part.steps)
    assert np.array_equal(whole.positions[6:], part.positions)
    assert not np.array_equal(whole.steps[:4], part.steps)


def test_divergence_is_reported():
    from langevin_opt.core import DivergenceError

    dw = lo.double_well()
    x = np.full((8, 1), -1.0)
    x[5] = -30.0     # this walker blows up within a few steps; the others are fine
    with pytest.raises(DivergenceError, match="non-finite") as err:
        first_passage(dw, lo.Overdamped(dt=0.02), x, basins_from_landscape(dw),
                      temperature=0.5, max_steps=1000, seed=0, chunk=10, start_basin=0)
    e = err.value
    assert isinstance(e, FloatingPointError)
    assert e.index == 5 and 1 <= e.step <= 10
    assert f"at step {e.step} for walker 5" in str(e)
    part = e.partial_result
    assert part.final_basin[5] == -2 and part.steps[5] == e.step
    # the others were still running at the end of the chunk: no step, their current position
    others = np.arange(8) != 5
    assert np.all(part.steps[others] == -1) and np.all(part.final_basin[others] == -1)
    assert np.all(np.isfinite(part.positions[others]))
    assert part.walker_steps == 7 * 10 + e.step


def _dw_potential(dw: lo.Landscape):
    return lambda x: dw.energy(np.asarray(x)[:, None])


@pytest.mark.parametrize("temperature", [0.5, 0.33, 0.25])
def test_mfpt_matches_exact_double_integral(temperature):
    # absorbing boundary = the edge of the right basin's ball, x = 1 - r = 0.5 (well past the
    # barrier at 0); walkers start at the left minimum; reflecting boundary at -inf
    dw = lo.double_well(barrier=1.0)
    basins = basins_from_landscape(dw)
    assert np.allclose(basins.radii, 0.5)
    m = 1000
    res = first_passage(dw, lo.Overdamped(dt=5e-4), np.full((m, 1), -1.0), basins,
                        temperature=temperature, max_steps=10**7, seed=2026)
    assert res.n_events == m and np.all(res.final_basin == 1)
    mean, se, restricted = mean_first_passage_time(res.times, res.censored)
    exact = mfpt_1d_exact(_dw_potential(dw), -1.0, 0.5, temperature)
    assert not restricted
    assert abs(mean - exact) < 4 * se, (mean, se, exact)
    # the standard error itself is that of exponential-ish times
    assert 0.7 * exact / math.sqrt(m) < se < 1.3 * exact / math.sqrt(m)


def test_double_integral_tends_to_eyring_kramers():
    dw = lo.double_well(barrier=1.0)
    u = _dw_potential(dw)
    mn = harmonic_point([-1.0], 0.0, [[8.0]])
    sd = harmonic_point([0.0], 1.0, [[-4.0]])
    ratios = []
    for t in (0.2, 0.1, 0.05, 0.02):
        ek = 1.0 / kramers_overdamped_rate(mn, sd, t)
        ratios.append(mfpt_1d_exact(u, -1.0, 0.5, t) / ek)
    dev = np.abs(np.log(ratios))
    assert np.all(np.diff(dev) < 0), ratios
    assert dev[-1] < 0.01
    # the clock stopped at the saddle reads about half the Eyring–Kramers time
    half = mfpt_1d_exact(u, -1.0, 0.0, 0.02) * kramers_overdamped_rate(mn, sd, 0.02)
    assert abs(half - 0.5) < 0.01


def test_mfpt_1d_exact_against_closed_form():
    # free diffusion on [0, b] reflecting at 0: tau(x0 -> b) = (b^2 - x0^2) / (2 D)
    for t, x0, b in ((1.0, 0.0, 1.0), (0.5, 0.3, 2.0)):
        got = mfpt_1d_exact(lambda x: np.zeros_like(x), x0, b, t, a=0.0)
        assert got == pytest.approx((b**2 - x0**2) / (2 * t), rel=1e-8)
