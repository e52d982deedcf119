"""Ctrl-C and progress in the Python API: chunked kernels, ``Interrupted``, progress bars.

The long calls run their compiled kernel in chunks of about a quarter of a second
(:mod:`langevin_opt.core.chunking`); SIGINT is deferred to the end of a chunk and turns
into :class:`langevin_opt.Interrupted` with the partial result.  Randomness is keyed by
``(seed, stream, step)``, so any split of a run gives the same numbers: every test here
compares a chunked or interrupted run bit for bit with an unsplit one.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest
from numba.core.compiler_lock import global_compiler_lock

import langevin_opt as lo
from langevin_opt.core import Interrupted
from langevin_opt.core import chunking as C

REPO = Path(__file__).resolve().parents[1]
ONE_CHUNK = 10**12  # FIXED_STEPS that runs every call as one compiled call


@pytest.fixture(autouse=True)
def _fresh_rates(monkeypatch):
    # no remembered rates from other tests: chunk sizes start from one step
    monkeypatch.setattr(C, "_RATES", {})


@pytest.fixture(autouse=True)
def _python_sigint_handler():
    # A process started in the background by a non-interactive shell inherits SIGINT
    # ignored (SIG_IGN), and the chunk loop rightly leaves a program's own disposition
    # alone; these tests are about Python's default Ctrl-C handling, so install it.
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _interrupt_at(threshold):
    """A progress callable that sends this process SIGINT once ``done >= threshold``."""
    def cb(done, total):
        if done >= threshold and not cb.sent:
            cb.sent = True
            signal.raise_signal(signal.SIGINT)
    cb.sent = False
    return cb


# ----------------------------------------------------------------- the chunk loop itself
def test_chunk_sizes_adapt_respect_multiple_and_limit():
    sizes = []
    loop = C.ChunkLoop(10_000, multiple=5, limit=600)
    with loop:
        for start, n in loop:
            assert start == sum(sizes)
            sizes.append(n)
            time.sleep(1e-4 * n / 5)  # 2e-5 s per step: chunks of ~12_500 wanted
    assert sum(sizes) == 10_000 and loop.done == 10_000 and not loop.interrupted
    assert all(n % 5 == 0 for n in sizes)
    assert sizes[0] == 5 and sizes[1] <= C.MAX_GROWTH * 5  # grows at most 8-fold
    ends = np.cumsum(sizes)
    # never across a multiple of the limit
    assert all((e - n) // 600 == (e - 1) // 600 for e, n in zip(ends, sizes, strict=True))
    assert max(sizes) == 600


def test_sigint_waits_for_the_chunk_then_stops():
    before = signal.getsignal(signal.SIGINT)
    loop = C.ChunkLoop(100)
    ran = []
    with loop:
        for start, n in loop:
            if start >= 3:
                signal.raise_signal(signal.SIGINT)  # "during" the chunk: deferred
            ran.append(n)
    assert loop.interrupted and loop.done == sum(ran) < 100
    assert signal.getsignal(signal.SIGINT) is before  # handler given back


def test_sigint_while_compiling_stops_at_once_and_drops_that_chunk():
    loop = C.ChunkLoop(100)
    after = []
    with loop:
        for start, _ in loop:
            if start >= 2:
                stopped = start
                with global_compiler_lock:  # as when Numba compiles the chunk's kernel
                    signal.raise_signal(signal.SIGINT)
                    after.append("not reached")
    assert loop.interrupted and not after
    assert loop.done == stopped  # the chunk that was compiling is not counted


def test_sigint_in_an_llvm_callback_is_signalled_again_outside_it():
    # LLVM calls back into Python through ctypes, which swallows exceptions: the handler
    # does not raise there but signals again a moment later
    path = os.sep.join(["", "site-packages", "llvmlite", "binding", "executionengine.py"])
    callback = types.SimpleNamespace(f_back=None, f_code=types.SimpleNamespace(
        co_name="_raw_object_cache_notify", co_filename=path))
    loop = C.ChunkLoop(100)
    reached = []
    with loop:
        for start, _ in loop:
            if start >= 2:
                stopped = start
                with global_compiler_lock:
                    C._SIGINT.handler(signal.SIGINT, callback)
                    reached.append("after the callback")
                    deadline = time.perf_counter() + 10
                    while time.perf_counter() < deadline:  # Numba's Python code
                        pass
                    reached.append("not reached")
    assert reached == ["after the callback"]
    assert loop.interrupted and loop.done == stopped


def test_a_program_with_its_own_sigint_handler_keeps_it():
    seen = []
    old = signal.signal(signal.SIGINT, lambda s, f: seen.append(s))
    try:
        loop = C.ChunkLoop(10)
        with loop:
            for _ in loop:
                signal.raise_signal(signal.SIGINT)
        assert seen and not loop.interrupted and loop.done == 10
    finally:
        signal.signal(signal.SIGINT, old)


def test_loops_in_other_threads_leave_sigint_to_the_main_thread():
    before = signal.getsignal(signal.SIGINT)
    started, release = threading.Event(), threading.Event()
    seen = []

    def work():  # a loop in a worker thread, running when the main thread starts one
        loop = C.ChunkLoop(3)
        with loop:
            for _ in loop:
                started.set()
                release.wait(10)
        seen.append(loop.interrupted)

    t = threading.Thread(target=work)
    t.start()
    started.wait(10)
    loop = C.ChunkLoop(100)
    with loop:
        for start, _ in loop:
            if start == 0:
                assert signal.getsignal(signal.SIGINT) == C._SIGINT.handler
                signal.raise_signal(signal.SIGINT)
    release.set()
    t.join(10)
    assert loop.interrupted and loop.done == 1 and seen == [False]
    assert signal.getsignal(signal.SIGINT) is before


def test_keyboard_interrupt_from_the_progress_callback_stops_the_loop():
    def cb(done, total):
        if done >= 4:
            raise KeyboardInterrupt
    loop = C.ChunkLoop(50, progress=cb)
    with loop:
        for _ in loop:
            pass
    assert loop.interrupted and 4 <= loop.done < 50


def test_progress_bar_terminal_and_plain(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(C, "DRAW_EVERY", 0.0)
    tty = Tty()
    bar = C.ProgressBar(200, "sample", stream=tty)
    bar.update(0, force=True)
    bar.update(50)
    bar.update(120)
    bar.close()
    out = tty.getvalue()
    assert out.count("\r") == 4 and out.endswith("\n")
    assert "sample: [" in out and "step 120/200" in out and "ETA" in out
    plain = io.StringIO()
    bar = C.ProgressBar(200, "sample", stream=plain)
    for k in (0, 50, 120, 200):  # throttled: the first line and the final one
        bar.update(k, force=k in (0, 200))
    bar.close()
    lines = plain.getvalue().splitlines()
    assert "\r" not in plain.getvalue() and len(lines) == 2, lines
    assert "step   0/200" in lines[0] and "100.0%  step 200/200" in lines[1]


def test_progress_argument_is_checked():
    dw = lo.double_well()
    with pytest.raises(TypeError, match=r"^progress must be True, False or a callable "
                       r"progress\(step, total\), got str 'yes'$"):
        lo.sample(dw, np.zeros((2, 1)), 10, dt=0.01, seed=0, progress="yes")


# ---------------------------------------------------------------- walkers (Sampler/sample)
def test_sample_chunked_equals_unchunked_replica_exchange(monkeypatch):
    mb = lo.muller_brown()
    x0 = lo.uniform_positions([[-1.5, 1.0], [-0.5, 2.0]], 12, seed=2)
    rex = lo.ReplicaExchange([10.0, 20.0, 40.0], swap_every=5)

    def run():
        return lo.sample(mb, x0, 300, dt=1e-4, seed=4, replica_exchange=rex, record_every=7)

    monkeypatch.setattr(C, "FIXED_STEPS", ONE_CHUNK)
    a = run()
    for fixed in (1, 13, None):  # 1 and 13 round to whole swap rounds; None: adaptive
        monkeypatch.setattr(C, "FIXED_STEPS", fixed)
        b = run()
        for f in lo.EnsembleState._fields:
            x, y = getattr(a.state, f), getattr(b.state, f)
            assert (x is None and y is None) or np.array_equal(x, y), (fixed, f)
        for x, y in zip(a.trajectory, b.trajectory, strict=True):
            assert np.array_equal(x, y), fixed
    # Ctrl-C between swap rounds: the partial result is the run of that many steps
    monkeypatch.setattr(C, "FIXED_STEPS", 20)
    with pytest.raises(Interrupted) as info:
        lo.sample(mb, x0, 300, dt=1e-4, seed=4, replica_exchange=rex, record_every=7,
                  progress=_interrupt_at(60))
    err = info.value
    part = err.partial_result
    assert isinstance(err, KeyboardInterrupt) and err.step == part.state.step == 60
    # a Sampler keyed to the long run's schedule length, run for only those steps
    s = lo.Sampler(mb, lo.Overdamped(1e-4), replica_exchange=rex, seed=4, total_steps=300)
    ref = s.run(s.init(x0), 60, record_every=7)
    assert np.array_equal(part.state.positions, ref.state.positions)
    assert np.array_equal(part.state.permutation, ref.state.permutation)
    assert np.array_equal(part.trajectory.positions, ref.trajectory.positions)
    assert part.trajectory.steps.tolist() == list(range(0, 61, 7))


CHILD = textwrap.dedent("""
    import signal, sys, time
    import numpy as np
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignored
    import langevin_opt as lo
    from langevin_opt.core import chunking

    dw = lo.double_well()
    x0 = np.linspace(-1.5, 1.5, 256)[:, None]
    kw = dict(dt=1e-3, temperature=0.5, seed=3, record_every=10_000)
    lo.sample(dw, x0, 10, **kw)  # compile first

    def started(done, total):
        if not started.said:
            started.said = True
            print("running", flush=True)
    started.said = False
    try:
        lo.sample(dw, x0, 10**7, progress=started, **kw)
    except lo.Interrupted as e:
        t = time.perf_counter()
        print("interrupted", e.step, flush=True)
        part = e.partial_result
        chunking.FIXED_STEPS = 10**12  # the reference: one compiled call
        s = lo.Sampler(dw, lo.Overdamped(1e-3), temperature=0.5, seed=3, total_steps=10**7)
        ref = s.run(s.init(x0), e.step, record_every=10_000)
        np.savez(sys.argv[1], step=e.step, pos=part.state.positions, acc=part.state.accepted,
                 e=part.state.energies, tsteps=part.trajectory.steps,
                 traj=part.trajectory.positions, ref_pos=ref.state.positions,
                 ref_acc=ref.state.accepted, ref_e=ref.state.energies,
                 ref_tsteps=ref.trajectory.steps, ref_traj=ref.trajectory.positions)
        sys.exit(0)
    print("finished", flush=True)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_in_a_child_running_sample(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out = tmp_path / "partial.npz"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "running", (line, proc.stderr.read() if proc.poll() else "")
        time.sleep(2.0)  # well into the run: compiled, many chunks done
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        line = proc.stdout.readline()
        latency = time.perf_counter() - t0
        assert line.startswith("interrupted"), (line, proc.stderr.read())
        assert latency < 3.0, latency  # chunks of ~0.25 s: well within a second unloaded
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read()
    r = np.load(out)
    assert r["step"] > 0 and int(line.split()[1]) == r["step"]
    for name in ("pos", "acc", "e", "tsteps", "traj"):
        np.testing.assert_array_equal(r[name], r["ref_" + name], err_msg=name)
    assert r["tsteps"].tolist() == list(range(0, int(r["step"]) + 1, 10_000))


# ------------------------------------------------------------------------------- particles
def _lj13():
    from langevin_opt import particles as lp

    x = np.random.default_rng(3).uniform(-1.1, 1.1, (13, 3))
    lj = lp.lennard_jones(mode="plain")
    x = lp.fire_minimize(lp.ParticleSystem(x), lj).positions
    return lp, lj, x


def test_dynamics_run_interrupted_then_continued_is_bit_identical(monkeypatch):
    lp, lj, x = _lj13()

    def make():
        return lp.Dynamics(lp.ParticleSystem(x), lj, lp.LangevinBAOAB(0.005), temperature=0.3,
                           seed=2, total_steps=400, schedule=lo.Linear(final=0.5),
                           remove_com=False)

    monkeypatch.setattr(C, "FIXED_STEPS", ONE_CHUNK)
    ref = make()
    rec = ref.run(400, record_every=25)
    monkeypatch.setattr(C, "FIXED_STEPS", 25)
    md = make()
    with pytest.raises(Interrupted) as info:
        md.run(400, record_every=25, progress=_interrupt_at(90))
    err = info.value
    part_rec, part_state = err.partial_result
    assert err.step == part_state.step == md.step == 100  # the chunk it came in finished
    assert part_rec.step.tolist() == [25, 50, 75, 100]
    np.testing.assert_array_equal(part_rec.total_energy, rec.total_energy[:4])
    np.testing.assert_array_equal(part_state.positions, md.x)
    rest = md.run(300, record_every=25)  # the object continues from where it stopped
    np.testing.assert_array_equal(md.x, ref.x)
    np.testing.assert_array_equal(md.v, ref.v)
    np.testing.assert_array_equal(np.concatenate([part_rec.total_energy, rest.total_energy]),
                                  rec.total_energy)


def test_run_replicas_chunked_and_interrupted(monkeypatch):
    lp, lj, x = _lj13()
    X = np.stack([x, x * 1.01, x * 0.99])
    kw = dict(temperatures=[0.2, 0.3, 0.4], seed=5, container=lp.Container(radius=2.5))
    monkeypatch.setattr(C, "FIXED_STEPS", ONE_CHUNK)
    ref = lp.run_replicas(X, lj, lp.LangevinBAOAB(0.005), 150, **kw)
    monkeypatch.setattr(C, "FIXED_STEPS", 11)
    with pytest.raises(Interrupted) as info:
        lp.run_replicas(X, lj, lp.LangevinBAOAB(0.005), 150, progress=_interrupt_at(40),
                        total_steps=150, **kw)
    part = info.value.partial_result
    assert info.value.step == part.step == 44
    rest = lp.run_replicas(part, lj, lp.LangevinBAOAB(0.005), 106, total_steps=150, **kw)
    for f in ("positions", "velocities", "forces", "energy"):
        np.testing.assert_array_equal(getattr(rest, f), getattr(ref, f), err_msg=f)
    assert rest.step == ref.step == 150


# ---------------------------------------------------------------------------------- chains
@pytest.fixture(scope="module")
def linreg():
    from langevin_opt import sgmcmc

    X, y = sgmcmc.make_linear_data(200, np.array([1.0, -2.0, 0.5]), seed=0)
    return sgmcmc.linear_regression(X, y, batch_size=20)


def test_run_chains_chunked_interrupted_and_diverged(monkeypatch, linreg):
    from langevin_opt.sgmcmc import run_chains

    def run(**kw):
        return run_chains(linreg, "sgld", np.zeros(3), 120, n_chains=3, seed=1,
                          step_size=1e-3, thin=10, **kw)

    monkeypatch.setattr(C, "FIXED_STEPS", ONE_CHUNK)
    a = run()
    monkeypatch.setattr(C, "FIXED_STEPS", 7)
    with pytest.raises(Interrupted) as info:
        run(progress=_interrupt_at(50))
    part = info.value.partial_result
    assert info.value.step == 56 and part.steps.tolist() == list(range(0, 56, 10))
    np.testing.assert_array_equal(part.samples, a.samples[:, :6])
    assert part.samples.flags.c_contiguous and part.energies.flags.c_contiguous
    b = run()
    for f in ("samples", "energies", "theta", "energy", "best_theta", "best_energy", "status"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    # a chain that diverges in the first chunk stays as the unsplit loop leaves it
    x0 = np.zeros((3, 3))
    x0[1] = 1e200
    errs = []
    for fixed in (ONE_CHUNK, 4):
        monkeypatch.setattr(C, "FIXED_STEPS", fixed)
        with pytest.raises(lo.DivergenceError) as info:
            run_chains(linreg, "sgld", x0, 50, seed=1, step_size=1e-3, thin=10)
        errs.append(info.value)
    assert (errs[0].step, errs[0].index) == (errs[1].step, errs[1].index) == (0, 1)
    for f in ("samples", "energies", "theta", "best_theta", "best_energy", "status"):
        np.testing.assert_array_equal(getattr(errs[0].partial_result, f),
                                      getattr(errs[1].partial_result, f), err_msg=f)


# --------------------------------------------------------------------------- first passage
def test_first_passage_chunked_and_interrupted(monkeypatch):
    from langevin_opt import rates
    from langevin_opt.rates.first_passage import STILL_RUNNING

    dw = lo.double_well()
    basins = rates.basins_from_landscape(dw)
    x0 = np.full((40, 1), basins.centers[0, 0])
    kw = dict(temperature=0.5, max_steps=3000, seed=11, chunk=200)
    calls = {}
    results = {}
    for fixed in (ONE_CHUNK, 37):
        monkeypatch.setattr(C, "FIXED_STEPS", fixed)
        log = calls[fixed] = []
        results[fixed] = rates.first_passage(dw, lo.Overdamped(dt=1e-2), x0, basins,
                                             progress=lambda s, r, log=log: log.append((s, r)),
                                             **kw)
    a, b = results.values()
    for f in ("steps", "final_basin", "positions", "censored", "walker_steps"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    assert calls[ONE_CHUNK] == calls[37]  # progress at the same chunk ends
    with pytest.raises(Interrupted) as info:
        rates.first_passage(dw, lo.Overdamped(dt=1e-2), x0, basins, **kw,
                            progress=lambda s, r: s >= 400 and signal.raise_signal(
                                signal.SIGINT))
    step, part = info.value.step, info.value.partial_result
    assert step == 400
    done = part.steps >= 0
    assert np.all(a.steps[done] == part.steps[done]) and np.all(a.steps[done] < step)
    assert np.all(part.final_basin[~done] == STILL_RUNNING)
    assert np.all((a.steps[~done] >= step) | a.censored[~done])
