"""Ensemble integrators: reproducibility, T = 0 limits, recording, validation, divergence."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import langevin_opt as lo
from langevin_opt.core import DivergenceError

MB = lo.muller_brown()
METHODS = ["gd", "overdamped", "mala", "baoab"]


def start(n=50, seed=1):
    return lo.uniform_positions([[-1.0, 0.5], [0.0, 1.5]], n, seed=seed)


def run(method="overdamped", n=50, steps=60, seed=7, **kw):
    kw.setdefault("temperature", 10.0)
    kw.setdefault("dt", 1e-4 if method != "mala" else 2e-3)
    return lo.sample(MB, start(n), steps, method=method, seed=seed, **kw)


def same_run(a, b):
    sa, sb = a.state, b.state
    assert np.array_equal(sa.positions, sb.positions)
    assert np.array_equal(sa.energies, sb.energies)
    assert np.array_equal(sa.accepted, sb.accepted)
    if sa.velocities is not None:
        assert np.array_equal(sa.velocities, sb.velocities)
    assert np.array_equal(a.trajectory.positions, b.trajectory.positions)
    assert np.array_equal(a.trajectory.steps, b.trajectory.steps)


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_bits_and_other_seed_differs(method):
    a = run(method, record_every=10)
    b = run(method, record_every=10)
    same_run(a, b)
    if method != "gd":
        c = run(method, seed=8, record_every=10)
        assert not np.array_equal(a.state.positions, c.state.positions)


@pytest.mark.parametrize("method", METHODS)
def test_thread_count_and_block_size_do_not_change_bits(method):
    a = run(method, n=203, threads=1, record_every=20)
    b = run(method, n=203, threads=2, record_every=20)
    same_run(a, b)
    old = lo.config.block_size
    try:
        lo.config.block_size = 7
        c = run(method, n=203, threads=2, record_every=20)
    finally:
        lo.config.block_size = old
    same_run(a, c)


@pytest.mark.parametrize("method", METHODS)
def test_split_ensemble_equals_whole(method):
    x = start(101)
    whole = lo.sample(MB, x, 40, method=method, dt=1e-4, temperature=10.0, seed=3,
                      record_every=8)
    parts = [
        lo.sample(MB, x[:60], 40, method=method, dt=1e-4, temperature=10.0, seed=3,
                  record_every=8),
        lo.sample(MB, x[60:], 40, method=method, dt=1e-4, temperature=10.0, seed=3,
                  record_every=8, stream_offset=60),
    ]
    assert np.array_equal(whole.state.positions,
                          np.concatenate([p.state.positions for p in parts]))
    assert np.array_equal(whole.trajectory.positions,
                          np.concatenate([p.trajectory.positions for p in parts], axis=1))


@pytest.mark.parametrize("method", METHODS)
def test_chunked_run_equals_single_run(method):
    integ = lo.make_integrator(method, dt=1e-4)
    sampler = lo.Sampler(MB, integ, temperature=10.0, seed=5, total_steps=60,
                         schedule=lo.Linear(final=0.5))
    s0 = sampler.init(start(30))
    one = sampler.run(s0, 60, record_every=15)
    first = sampler.run(s0, 25, record_every=15)
    second = sampler.run(first.state, 35, record_every=15)
    assert second.state.step == one.state.step == 60
    assert np.array_equal(one.state.positions, second.state.positions)
    steps = np.concatenate([first.trajectory.steps, second.trajectory.steps])
    assert steps.tolist() == [0, 15, 30, 45, 60] == one.trajectory.steps.tolist()
    frames = np.concatenate([first.trajectory.positions, second.trajectory.positions])
    assert np.array_equal(frames, one.trajectory.positions)


SCRIPT = textwrap.dedent(
    """
    import hashlib, numpy as np, numba, langevin_opt as lo
    x = lo.uniform_positions([[-1.0, 0.5], [0.0, 1.5]], 301, seed=2)
    h = hashlib.sha256()
    for method in ("overdamped", "mala", "baoab"):
        r = lo.sample(lo.muller_brown(), x, 50, method=method, dt=2e-4, temperature=10.0,
                      seed=11, record_every=10)
        h.update(r.state.positions.tobytes()); h.update(r.trajectory.positions.tobytes())
    rex = lo.ReplicaExchange(temperatures=[5.0, 10.0, 20.0], swap_every=5)
    r = lo.sample(lo.muller_brown(), x[:300], 50, dt=2e-4, seed=11, replica_exchange=rex)
    h.update(r.state.positions.tobytes()); h.update(r.state.permutation.tobytes())
    print(numba.get_num_threads(), h.hexdigest())
    """
)


def test_bit_identical_with_numba_num_threads_1_and_2_in_subprocesses():
    out = []
    for n in ("1", "2"):
        env = dict(os.environ, NUMBA_NUM_THREADS=n)
        res = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                             text=True, timeout=600, check=True)
        threads, digest = res.stdout.split()
        assert threads == n
        out.append(digest)
    assert out[0] == out[1]


def test_zero_temperature_overdamped_is_gradient_descent_bit_for_bit():
    a = run("overdamped", temperature=0.0, steps=200, dt=1e-3)
    b = run("gd", temperature=0.0, steps=200, dt=1e-3)
    same_run(a, b)
    # and a schedule reaching factor 0 turns the noise off exactly
    sched = lo.ArraySchedule(np.zeros(200))
    c = run("overdamped", temperature=10.0, steps=200, dt=1e-3, schedule=sched)
    same_run(a, c)


def test_gradient_descent_reaches_the_minimum_of_its_basin():
    x0 = MB.minima + 0.05
    r = lo.sample(MB, x0, 20000, method="gd", dt=1e-4, seed=0)
    assert np.allclose(r.state.positions, MB.minima, atol=1e-5)


def test_per_walker_temperatures_match_separate_runs():
    x = start(20)
    temps = np.linspace(1.0, 20.0, 20)
    ladder = lo.sample(MB, x, 30, dt=1e-4, temperature=temps, seed=9)
    for i in (0, 7, 19):
        single = lo.sample(MB, x[i:i + 1], 30, dt=1e-4, temperature=temps[i], seed=9,
                           stream_offset=i)
        assert np.array_equal(single.state.positions[0], ladder.state.positions[i])


def test_recorded_frames_and_energies_are_consistent():
    r = run("baoab", steps=50, record_every=10)
    t = r.trajectory
    assert t.steps.tolist() == [0, 10, 20, 30, 40, 50]
    assert t.positions.shape == (6, 50, 2) and t.energies.shape == (6, 50)
    for f in range(6):
        assert np.allclose(t.energies[f], MB.energy(t.positions[f]), rtol=1e-12, atol=1e-10)
    assert np.array_equal(t.positions[-1], r.state.positions)
    assert np.array_equal(t.positions[0], start(50))


def test_mala_counts_acceptances_and_baoab_keeps_velocities():
    r = run("mala", steps=100, dt=5e-3)
    acc = r.state.accepted
    assert acc.shape == (50,) and acc.dtype == np.int64
    assert 0 < acc.sum() < 100 * 50
    b = run("baoab", steps=10)
    assert b.state.velocities.shape == (50, 2)
    assert run("overdamped").state.velocities is None


def test_replica_exchange_statistics_and_chunking():
    rex = lo.ReplicaExchange(temperatures=[5.0, 10.0, 20.0, 40.0], swap_every=5)
    sampler = lo.Sampler(MB, lo.Overdamped(dt=1e-4), replica_exchange=rex, seed=4)
    s = sampler.init(start(40))
    a = sampler.run(s, 100, record_every=20)
    perm = a.state.permutation
    assert perm.shape == (10, 4)
    assert all(sorted(row) == [0, 1, 2, 3] for row in perm.tolist())
    att, acc = a.state.swap_attempts, a.state.swap_accepts
    # 20 rounds alternating even/odd pairs over 10 chains
    assert att.tolist() == [100, 100, 100]
    assert np.all(acc > 0) and np.all(acc <= att)
    b1 = sampler.run(s, 50, record_every=20)
    b2 = sampler.run(b1.state, 50, record_every=20)
    assert np.array_equal(a.state.positions, b2.state.positions)
    assert np.array_equal(a.state.permutation, b2.state.permutation)
    assert np.array_equal(a.state.swap_accepts, b2.state.swap_accepts)
    # frames after swaps are consistent with energies
    for f in range(len(a.trajectory.steps)):
        assert np.allclose(a.trajectory.energies[f], MB.energy(a.trajectory.positions[f]))


def test_divergence_names_step_and_walker_and_keeps_frames():
    @lo.landscape(dim=1, name="cliff")
    def cliff(X, i, p, G):
        x = X[0, i]
        G[0, i] = -4.0 * x**3
        return -(x**4)

    x0 = np.zeros((5, 1))
    x0[3, 0] = 1.0
    with pytest.raises(lo.DivergenceError, match=r"at step (\d+) for walker 3") as info:
        lo.sample(cliff, x0, 100, method="gd", dt=0.5, seed=0, record_every=1)
    err = info.value
    assert isinstance(err, DivergenceError) and lo.DivergenceError is DivergenceError
    assert err.index == 3 and 1 < err.step < 100
    assert isinstance(err.partial_result, lo.RunResult)
    assert err.partial_result.state.step == err.step
    traj = err.partial_result.trajectory
    assert traj.steps.tolist() == list(range(err.step))
    assert np.all(np.isfinite(traj.positions[:, 3]))


def test_schedules():
    steps = np.arange(5)
    assert np.allclose(lo.Linear(final=0.0).factors(steps, 4), [1, 0.75, 0.5, 0.25, 0])
    assert np.allclose(lo.Geometric(final=0.01).factors(steps, 4), 0.01 ** (steps / 4))
    assert np.allclose(lo.Cosine(final=0.0).factors(np.array([0, 2, 4]), 4), [1, 0.5, 0])
    assert np.allclose(lo.Constant().factors(steps, 4), 1)
    assert np.array_equal(lo.ArraySchedule([3, 2, 1]).factors(np.array([0, 2]), 3), [3, 1])
    with pytest.raises(ValueError, match="final factor must be > 0"):
        lo.Geometric(final=0.0)
    with pytest.raises(ValueError, match="final factor must be a finite number >= 0"):
        lo.Linear(final=-1)
    with pytest.raises(ValueError, match="has 3 values but the run has 4"):
        lo.ArraySchedule([1, 2, 3]).factors(steps[:4], 4)
    with pytest.raises(ValueError, match="unknown schedule 'exp'"):
        lo.make_schedule("exp")
    assert lo.make_schedule("linear", final=0.5) == lo.Linear(final=0.5)
    with pytest.raises(ValueError, match="did you mean 'linear'"):
        lo.make_schedule("linaer")
    with pytest.raises(ValueError, match="unknown setting 'fnal' \\(did you mean 'final'\\?\\)"):
        lo.make_schedule("linear", fnal=0.5)
    with pytest.raises(TypeError, match="^schedule final factor must be a finite number >= 0"):
        lo.make_schedule("linear", final="0.5")


def test_annealing_cools_the_ensemble():
    hot = run("overdamped", steps=3000, dt=1e-4, temperature=20.0)
    cooled = run("overdamped", steps=3000, dt=1e-4, temperature=20.0,
                 schedule=lo.Geometric(final=1e-3))
    assert cooled.state.energies.mean() < hot.state.energies.mean() - 5


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"temperature": -1.0}, "temperature must be a finite number >= 0"),
        ({"temperature": np.ones(3)}, r"temperature array must have shape \(50,\)"),
        ({"dt": 0.0}, "dt must be a finite number > 0"),
        ({"dt": float("inf")}, "dt must be a finite number > 0"),
        ({"method": "leapfrog"}, "unknown integrator 'leapfrog'"),
        ({"method": "mala", "temperature": 0.0}, "temperature must be > 0 for MALA"),
        ({"method": "baoab", "friction": -1.0}, "friction must be a finite number >= 0"),
        ({"record_every": -1}, "record_every must be an integer >= 0"),
        ({"threads": 0}, r"threads must be an integer in \[1, "),
        ({"threads": 99}, r"threads must be an integer in \[1, "),
        ({"stream_offset": -1}, "stream_offset must be an integer"),
        ({"stream_offset": 2**32 - 10}, r"stream_offset must be an integer in \[0, 4294967246\]"),
        ({"seed": -5}, "seed must be an integer"),
    ],
)
def test_invalid_parameters_are_clear_value_errors(kwargs, match):
    args = {"method": "overdamped", "dt": 1e-4, "temperature": 1.0, "seed": 1}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        lo.sample(MB, start(50), 10, **args)


@pytest.mark.parametrize(
    "x,match",
    [
        (np.zeros((0, 2)), r"shape \(M, 2\) with M >= 1"),
        (np.zeros((4, 3)), r"shape \(M, 2\)"),
        (np.zeros(4), r"shape \(M, 2\)"),
        (np.array([[0.0, np.nan]]), "positions must be finite"),
    ],
)
def test_invalid_positions(x, match):
    with pytest.raises(ValueError, match=match):
        lo.sample(MB, x, 10, dt=1e-4, seed=1)


@pytest.mark.parametrize("x", [np.zeros((4, 2), dtype=complex), "0 0", None])
def test_positions_of_the_wrong_type(x):
    with pytest.raises(TypeError, match="^positions must be a real float array"):
        lo.sample(MB, x, 10, dt=1e-4, seed=1)


def test_invalid_steps_and_replica_exchange_settings():
    with pytest.raises(ValueError, match="n_steps must be an integer >= 0"):
        lo.sample(MB, start(4), -3, dt=1e-4, seed=1)
    with pytest.raises(ValueError, match="strictly increasing"):
        lo.ReplicaExchange(temperatures=[2.0, 1.0])
    with pytest.raises(ValueError, match="at least 2"):
        lo.ReplicaExchange(temperatures=[1.0])
    with pytest.raises(ValueError, match="swap_every must be an integer >= 1"):
        lo.ReplicaExchange(temperatures=[1.0, 2.0], swap_every=0)
    rex = lo.ReplicaExchange(temperatures=[1.0, 2.0, 4.0], swap_every=10)
    with pytest.raises(ValueError, match="multiple of 3 walkers"):
        lo.sample(MB, start(4), 10, dt=1e-4, seed=1, replica_exchange=rex)
    with pytest.raises(ValueError, match="multiples of swap_every=10"):
        lo.sample(MB, start(6), 15, dt=1e-4, seed=1, replica_exchange=rex)


def test_zero_steps_returns_the_initial_state():
    r = run("overdamped", steps=0, record_every=5)
    assert np.array_equal(r.state.positions, start(50))
    assert np.allclose(r.state.energies, MB.energy(start(50)))
    assert r.trajectory.steps.tolist() == [0]


def test_frame_buffer_gives_the_same_frames_and_is_validated():
    sampler = lo.Sampler(MB, lo.Overdamped(dt=1e-4), temperature=10.0, seed=1)
    s0 = sampler.init(start(30))
    plain = sampler.run(s0, 100, record_every=10)
    buf = (np.full((20, 30, 2), np.nan), np.full((20, 30), np.nan))
    reused = sampler.run(s0, 100, record_every=10, frame_buffer=buf)
    same_run(plain, reused)
    assert np.shares_memory(reused.trajectory.positions, buf[0])
    with pytest.raises(ValueError, match=r"frame_buffer must be .* \(>= 11, 30, 2\)"):
        sampler.run(s0, 100, record_every=10, frame_buffer=(buf[0][:5], buf[1][:5]))


# ------------------------------------------------ the shared conventions (issue 11)


def test_sampler_without_seed_is_the_clear_type_error():
    with pytest.raises(TypeError, match="^seed is required"):
        lo.Sampler(MB, lo.Overdamped(dt=1e-4))
    with pytest.raises(TypeError, match="^seed is required"):
        lo.sample(MB, start(4), 10, dt=1e-4)
    with pytest.raises(TypeError, match="^seed is required"):
        lo.uniform_positions([[0.0, 1.0]], 4)


def test_string_dt_is_a_type_error():
    with pytest.raises(TypeError, match=r"^dt must be a finite number > 0, got str '1e-4'"):
        lo.sample(MB, start(4), 10, dt="1e-4", seed=1)
    with pytest.raises(TypeError, match="^dt must be"):
        lo.BAOAB(dt=None)
    with pytest.raises(TypeError, match="^integrator kind must be one of"):
        lo.make_integrator(3, dt=0.1)


def test_replica_exchange_and_temperature_together_are_refused():
    rex = lo.ReplicaExchange(temperatures=[1.0, 2.0], swap_every=5)
    with pytest.raises(ValueError, match="pass one of temperature and replica_exchange"):
        lo.sample(MB, start(4), 10, dt=1e-4, seed=1, replica_exchange=rex, temperature=1.0)
    with pytest.raises(ValueError, match="pass one of temperature and replica_exchange"):
        lo.Sampler(MB, lo.Overdamped(dt=1e-4), temperature=np.ones(4), replica_exchange=rex,
                   seed=1)
    # the default (no temperature) still works, and without a ladder it means T = 1
    lo.sample(MB, start(4), 10, dt=1e-4, seed=1, replica_exchange=rex)
    s = lo.Sampler(MB, lo.Overdamped(dt=1e-4), seed=1)
    assert s.temperatures_for(3).tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("bounds", [[[np.nan, 1.0], [0.0, 1.0]], [[0.0, np.inf], [0.0, 1.0]]])
def test_uniform_positions_refuses_non_finite_bounds(bounds):
    with pytest.raises(ValueError, match="^bounds must be finite with lower < upper"):
        lo.uniform_positions(bounds, 4, seed=1)


def test_two_dimensional_temperature_is_one_line():
    with pytest.raises(ValueError) as info:
        lo.Sampler(MB, lo.Overdamped(dt=1e-4), temperature=np.ones((64, 64)), seed=1)
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 200
    assert "got an array of shape (64, 64)" in msg
    with pytest.raises(TypeError, match="^temperature must be"):
        lo.Sampler(MB, lo.Overdamped(dt=1e-4), temperature="hot", seed=1)


def test_run_refuses_a_dict_and_a_fractional_step():
    sampler = lo.Sampler(MB, lo.Overdamped(dt=1e-4), temperature=10.0, seed=1)
    s0 = sampler.init(start(6))
    with pytest.raises(TypeError, match="^state must be an EnsembleState .*got dict"):
        sampler.run(s0._asdict(), 10)
    with pytest.raises(TypeError, match="^state.step must be an integer"):
        sampler.run(s0._replace(step=2.5), 10)
    with pytest.raises(ValueError, match="^state.step must be an integer"):
        sampler.run(s0._replace(step=-1), 10)
    with pytest.raises(TypeError, match="^n_steps must be an integer"):
        sampler.run(s0, 10.0)


def test_run_refuses_positions_of_another_ensemble():
    sampler = lo.Sampler(MB, lo.Overdamped(dt=1e-4), temperature=10.0, seed=1)
    s0 = sampler.init(start(6))
    with pytest.raises(ValueError, match=r"^state.energies must have shape \(9,\), got \(6,\)"):
        sampler.run(s0._replace(positions=start(9)), 10)
    with pytest.raises(ValueError, match=r"^state.positions must have shape \(\*, 2\)"):
        sampler.run(s0._replace(positions=np.zeros((6, 3))), 10)
    with pytest.raises(ValueError, match="^state.positions must be finite"):
        sampler.run(s0._replace(positions=np.full((6, 2), np.nan)), 10)


def test_state_arrays_are_checked_before_the_kernel_writes():
    # kernels have no bounds checks: a short array would be written past its end
    sampler = lo.Sampler(MB, lo.MALA(dt=1e-3), temperature=10.0, seed=1)
    s0 = sampler.init(start(4096))
    with pytest.raises(ValueError, match=r"^state.accepted must have shape \(4096,\), got \(8,\)"):
        sampler.run(s0._replace(accepted=np.zeros(8, int)), 200)
    with pytest.raises(TypeError, match="^state.accepted must have dtype int64"):
        sampler.run(s0._replace(accepted=np.zeros(4096)), 200)
    with pytest.raises(ValueError, match="^state.velocities must be None for mala"):
        sampler.run(s0._replace(velocities=np.zeros((4096, 2))), 10)

    baoab = lo.Sampler(MB, lo.BAOAB(dt=1e-4), temperature=10.0, seed=1)
    b0 = baoab.init(start(16))
    with pytest.raises(ValueError, match=r"^state.velocities must have shape \(16, 2\)"):
        baoab.run(b0._replace(velocities=np.zeros((8, 2))), 10)
    with pytest.raises(TypeError, match="^state.velocities must be a numpy array"):
        baoab.run(b0._replace(velocities=None), 10)

    rex = lo.ReplicaExchange(temperatures=[1.0, 2.0, 4.0], swap_every=5)
    pt = lo.Sampler(MB, lo.Overdamped(dt=1e-4), replica_exchange=rex, seed=1)
    p0 = pt.init(start(12))
    for name, bad, match in [
        ("permutation", np.zeros((4, 3), np.int64), "every row must be a permutation"),
        ("permutation", np.zeros((4, 2), np.int64), r"must have shape \(4, 3\)"),
        ("swap_attempts", np.zeros(1, np.int64), r"must have shape \(2,\)"),
        ("swap_accepts", np.zeros(5, np.int64), r"must have shape \(2,\)"),
    ]:
        with pytest.raises(ValueError, match=f"^state.{name}: {match}|^state.{name} {match}"):
            pt.run(p0._replace(**{name: bad}), 10)
    with pytest.raises(TypeError, match="^state.swap_accepts must be a numpy array"):
        pt.run(p0._replace(swap_accepts=None), 10)
    pt.run(p0, 10)  # the state from init passes


def test_run_does_not_modify_the_callers_state():
    # d = 1: the (d, M) transpose of a state array is contiguous; the kernel must not see it
    dw = lo.double_well()
    sampler = lo.Sampler(dw, lo.BAOAB(dt=0.01), temperature=0.5, seed=3)
    s0 = sampler.init(np.linspace(-1, 1, 9))
    x, v = s0.positions.copy(), s0.velocities.copy()
    sampler.run(s0, 20)
    assert np.array_equal(s0.positions, x) and np.array_equal(s0.velocities, v)


def test_baoab_without_friction_conserves_energy():
    g = lo.gaussian(dim=2, stiffness=[1.0, 4.0])
    mass = 2.0
    sampler = lo.Sampler(g, lo.BAOAB(dt=0.01, friction=0.0, mass=mass), temperature=1.0,
                         seed=5)
    s = sampler.init(lo.uniform_positions([[-2.0, 2.0], [-2.0, 2.0]], 32, seed=2))

    def total(st):
        return st.energies + 0.5 * mass * np.sum(st.velocities**2, axis=1)

    h0 = total(s)
    res = sampler.run(s, 2000)
    drift = np.abs(total(res.state) - h0) / h0
    assert drift.max() < 1e-3  # velocity Verlet: O(dt^2) energy error, no noise, no friction
    assert not np.allclose(res.state.positions, s.positions)  # it did move
    with pytest.raises(ValueError, match="^friction must be a finite number >= 0"):
        lo.BAOAB(dt=0.01, friction=-1.0)
    # with friction the same kernel thermostats: the energy is not conserved
    warm = lo.Sampler(g, lo.BAOAB(dt=0.01, friction=1.0, mass=mass), temperature=1.0, seed=5)
    r2 = warm.run(warm.init(s.positions, s.velocities), 2000)
    assert (np.abs(total(r2.state) - h0) / h0).max() > 1e-2


def test_integrator_codes_come_from_core():
    from langevin_opt import _kernels
    from langevin_opt.core import codes

    assert (codes.GD, codes.OVERDAMPED, codes.MALA, codes.BAOAB, codes.VELOCITY_VERLET) == (
        0, 1, 2, 3, 4)
    # the walker kernels (and, through them, the CUDA backend) use the same table
    for name in ("GD", "OVERDAMPED", "MALA", "BAOAB"):
        assert getattr(_kernels, name) == getattr(codes, name)
    assert [c.code for c in (lo.GradientDescent, lo.Overdamped, lo.MALA, lo.BAOAB)] == [
        codes.GD, codes.OVERDAMPED, codes.MALA, codes.BAOAB]
