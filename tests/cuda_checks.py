"""CUDA backend checks run in subprocesses by tests/test_cuda_backend.py (not a test module).

``python tests/cuda_checks.py sim OUT.json``
    With ``NUMBA_ENABLE_CUDASIM=1``: every CUDA kernel at small sizes against the
    CPU kernels with the same seed.  Writes ``{check name: [ok, detail]}``.
``python tests/cuda_checks.py gpu OUT.json``
    The same checks on a real GPU (``pytest -m gpu``); bit-identity is expected
    there too with the default ``LANGEVIN_OPT_CUDA_FMA=0`` for every check but
    MALA's acceptance test (libdevice ``log``, a difference needs a tie within
    an ulp) and the large particle systems (tolerances as above).
``python tests/cuda_checks.py ptx OUT.json``
    Without the simulator: every kernel compiled to PTX for cc 8.0 and 9.0.
    Writes ``{"skip": reason}`` when NVIDIA's compiler wheels are missing.

Tolerances (see langevin_opt/cuda/_device.py): the simulator runs the kernels'
own arithmetic as Python floats (IEEE double, no contraction) and every
compiled helper as the CPU's machine code, so walker trajectories, replica
exchange and batched replicas must be *bit-identical* to the CPU.  Large
particle systems sum forces over full, sorted neighbour lists instead of the
CPU's half lists: equal to rounding (atol 1e-12 on positions and velocities,
1e-10 on forces of order 10-100, rtol 1e-12 on energy and virial totals).
"""

from __future__ import annotations

import json
import sys
import traceback
import warnings
from pathlib import Path

import numpy as np

RESULTS: dict[str, list] = {}


def check(name):
    def wrap(fn):
        try:
            detail = fn()
            RESULTS[name] = [True, detail or ""]
        except Exception:  # noqa: BLE001 - report every failure, keep checking
            RESULTS[name] = [False, traceback.format_exc(limit=6)]
        return fn

    return wrap


def same(a, b, what):
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape or not np.array_equal(a, b):
        diff = np.nanmax(np.abs(a - b)) if a.shape == b.shape else "shape"
        raise AssertionError(f"{what}: not bit-identical (max |diff| {diff})")


def close(a, b, what, atol=0.0, rtol=0.0):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if not np.allclose(a, b, atol=atol, rtol=rtol):
        raise AssertionError(f"{what}: max |diff| {np.max(np.abs(a - b)):.3g} "
                             f"> atol {atol} + rtol {rtol}")
    return float(np.max(np.abs(a - b)))


def sim_checks() -> None:
    import langevin_opt as lo
    from langevin_opt import particles as lp

    mb = lo.muller_brown()
    x0 = lo.uniform_positions([[-1.5, 1.0], [-0.5, 2.0]], 32, seed=1)
    sched = lo.Linear(final=0.5)

    def compare(res_cpu, res_gpu, velocities=False):
        same(res_cpu.state.positions, res_gpu.state.positions, "positions")
        same(res_cpu.state.energies, res_gpu.state.energies, "energies")
        same(res_cpu.state.accepted, res_gpu.state.accepted, "accepted")
        same(res_cpu.trajectory.steps, res_gpu.trajectory.steps, "frame steps")
        same(res_cpu.trajectory.positions, res_gpu.trajectory.positions, "frames")
        same(res_cpu.trajectory.energies, res_gpu.trajectory.energies, "frame energies")
        if velocities:
            same(res_cpu.state.velocities, res_gpu.state.velocities, "velocities")

    for method, kw in [("gd", {}), ("overdamped", {}), ("mala", {}),
                       ("baoab", {"friction": 2.0, "mass": 1.5})]:
        @check(f"walkers[muller_brown,{method}]")
        def _(method=method, kw=kw):
            res = [lo.sample(mb, x0, 20, method=method, dt=2e-4, temperature=25.0, seed=3,
                             schedule=sched, record_every=5, backend=be, **kw)
                   for be in ("cpu", "cuda")]
            compare(*res, velocities=method == "baoab")
            return f"acceptances {int(res[0].state.accepted.sum())}"

    @check("walkers[gaussian3d,mala,chunked,offset]")
    def _():
        g = lo.gaussian(dim=3, stiffness=[1.0, 2.0, 4.0])
        x = np.random.default_rng(2).normal(size=(24, 3))
        temps = np.linspace(0.5, 2.0, 24)
        out = []
        for be in ("cpu", "cuda"):
            s = lo.Sampler(g, lo.MALA(0.3), temperature=temps, seed=11, stream_offset=5,
                           backend=be)
            st = s.init(x)
            r1 = s.run(st, 7, record_every=3)
            r2 = s.run(r1.state, 9, record_every=3)
            out.append((r1, r2))
        for a, b in zip(out[0], out[1], strict=True):
            compare(a, b)

    @check("walkers[replica_exchange,overdamped+baoab]")
    def _():
        rex = lo.ReplicaExchange(temperatures=[10, 15, 22, 33], swap_every=5)
        x = x0[:16]
        for method in ("overdamped", "baoab"):
            res = [lo.sample(mb, x, 20, method=method, dt=1e-4, seed=3, replica_exchange=rex,
                             record_every=2, backend=be) for be in ("cpu", "cuda")]
            compare(*res, velocities=method == "baoab")
            same(res[0].state.permutation, res[1].state.permutation, "permutation")
            same(res[0].state.swap_attempts, res[1].state.swap_attempts, "swap attempts")
            same(res[0].state.swap_accepts, res[1].state.swap_accepts, "swap accepts")
        return f"swap accepts {res[0].state.swap_accepts.tolist()}"

    @check("walkers[divergence]")
    def _():
        dw = lo.double_well()
        x = np.linspace(-1.5, 1.5, 8)[:, None]
        x[5] = 40.0
        errs = []
        for be in ("cpu", "cuda"):
            try:
                lo.sample(dw, x, 12, method="gd", dt=0.05, seed=0, record_every=2, backend=be)
            except lo.DivergenceError as err:
                errs.append(err)
        assert len(errs) == 2, "both backends must raise DivergenceError"
        assert (errs[0].step, errs[0].index) == (errs[1].step, errs[1].index)
        same(errs[0].partial_result.trajectory.positions,
             errs[1].partial_result.trajectory.positions,
             "frames before the failure")
        return f"step {errs[0].step} walker {errs[0].index}"

    @check("first_passage[double_well,overdamped+baoab]")
    def _():
        from langevin_opt.rates.first_passage import Basins, first_passage

        dw = lo.double_well()
        basins = Basins(np.array([[-1.0], [1.0]]), [0.3, 0.3])
        x = np.full((16, 1), -1.0)
        kw = dict(temperature=np.linspace(0.6, 1.2, 16), max_steps=np.arange(40, 200, 10),
                  seed=5, stream_offset=3, chunk=25, threads=1)  # threads: CPU only
        events = []
        for integ in (lo.Overdamped(0.02), lo.BAOAB(0.05, friction=2.0)):
            calls = {"cpu": [], "cuda": []}
            a, b = (first_passage(dw, integ, x, basins, backend=be,
                                  progress=lambda s, r, log=calls[be]: log.append((s, r)), **kw)
                    for be in ("cpu", "cuda"))
            for f in ("steps", "final_basin", "positions", "censored", "walker_steps"):
                same(getattr(a, f), getattr(b, f), f"{integ.kind} {f}")
            assert calls["cpu"] == calls["cuda"] and calls["cpu"], calls  # progress honoured
            events.append(a.n_events)
        assert min(events) > 0, events
        return f"events {events}"

    @check("first_passage[divergence,partial result]")
    def _():
        from langevin_opt.core import DivergenceError
        from langevin_opt.rates.first_passage import basins_from_landscape, first_passage

        dw = lo.double_well()
        x = np.full((12, 1), -1.0)
        x[7] = -30.0   # far out on the quartic wall: diverges within a few steps
        errs = []
        for be in ("cpu", "cuda"):
            try:
                with warnings.catch_warnings():  # the simulator's threads overflow floats
                    warnings.simplefilter("ignore", RuntimeWarning)
                    first_passage(dw, lo.Overdamped(0.02), x, basins_from_landscape(dw),
                                  temperature=0.5, max_steps=400, seed=1, chunk=10,
                                  start_basin=0, backend=be)
            except DivergenceError as err:
                errs.append(err)
        assert len(errs) == 2, "both backends must raise DivergenceError"
        a, b = errs
        assert (a.step, a.index) == (b.step, b.index) and a.index == 7, (a.step, a.index)
        for f in ("steps", "final_basin", "positions", "walker_steps"):
            same(getattr(a.partial_result, f), getattr(b.partial_result, f), f"partial {f}")
        return f"step {a.step} walker {a.index}"

    @check("particles[run_replicas+replica_exchange,lj13]")
    def _():
        # a cuboctahedron of 12 atoms around one, jittered: 4 replicas
        shell = np.array([[1, 1, 0], [1, -1, 0], [-1, 1, 0], [-1, -1, 0], [1, 0, 1], [1, 0, -1],
                          [-1, 0, 1], [-1, 0, -1], [0, 1, 1], [0, 1, -1], [0, -1, 1],
                          [0, -1, -1]], dtype=float) * (1.12 / np.sqrt(2))
        base = np.vstack([np.zeros(3), shell])
        X = base + np.random.default_rng(4).normal(scale=0.03, size=(4, 13, 3))
        lj = lp.lennard_jones(mode="plain")
        for integ in (lp.LangevinBAOAB(0.005), lp.VelocityVerlet(0.005),
                      lp.LangevinOverdamped(0.001)):
            st = [lp.run_replicas(X, lj, integ, 6, temperatures=[0.1, 0.2, 0.3, 0.4], seed=1,
                                  container=lp.Container(radius=2.0), stream_ids=[3, 0, 7, 1],
                                  backend=be) for be in ("cpu", "cuda")]
            for f in ("positions", "velocities", "forces", "energy", "virial"):
                same(getattr(st[0], f), getattr(st[1], f), f"{type(integ).__name__} {f}")
        # parallel tempering of the replicas (kwargs reach run_replicas; swaps on the host)
        rx = [lp.replica_exchange(X, lj, lp.LangevinBAOAB(0.005), 12, [0.1, 0.2, 0.35, 0.6],
                                  swap_every=3, seed=2, container=lp.Container(radius=2.0),
                                  backend=be) for be in ("cpu", "cuda")]
        same(rx[0][0].positions, rx[1][0].positions, "replica exchange positions")
        same(rx[0][1].accepted, rx[1][1].accepted, "replica exchange acceptances")
        return f"swap accepts {rx[0][1].accepted.tolist()}"

    @check("particles[dynamics,lj_box_cells]")
    def _():
        x, box = lp.fcc_lattice(4, 0.8442)   # 256 atoms, box 6.72: 3 cells of >= 1.8 per edge
        x = x + np.random.default_rng(1).normal(scale=0.05, size=x.shape)
        system = lp.ParticleSystem(x, box=box)
        lj = lp.lennard_jones(cutoff=1.5, mode="shifted")
        out = []
        for be in ("cpu", "cuda"):
            md = lp.Dynamics(system, lj, lp.LangevinBAOAB(dt=0.005), temperature=1.0, seed=1,
                             neighbors=lp.NeighborList(1.5, skin=0.3), backend=be)
            rec = md.run(4, record_every=2)
            out.append((md, rec))
        (a, ra), (b, rb) = out
        assert list(b._device.nc) == [3, 3, 3], b._device.nc
        dx = close(a.x, b.x, "positions", atol=1e-12)
        close(a.v, b.v, "velocities", atol=1e-12)
        df = close(a.forces, b.forces, "forces", atol=1e-10)
        close(a.energy, b.energy, "energy", rtol=1e-12)
        close(a.virial, b.virial, "virial", rtol=1e-12)
        same(ra.step, rb.step, "record steps")
        close(ra.potential_energy, rb.potential_energy, "recorded energy", rtol=1e-12)
        close(ra.pressure, rb.pressure, "recorded pressure", rtol=1e-10)
        return f"max |dx| {dx:.2g}, max |dF| {df:.2g}"

    @check("particles[dynamics,morse_2d_cells+cluster_all_pairs]")
    def _():
        g = np.stack(np.meshgrid(np.arange(6.0), np.arange(6.0), indexing="ij"), -1)
        x = g.reshape(-1, 2) + 0.5 + np.random.default_rng(3).normal(scale=0.05, size=(36, 2))
        system = lp.ParticleSystem(x, box=[6.0, 6.0])
        morse = lp.morse(depth=1.0, alpha=3.0, r0=1.0, cutoff=1.5, mode="shifted")
        mds = [lp.Dynamics(system, morse, lp.LangevinOverdamped(0.001), temperature=0.5,
                           seed=2, neighbors=lp.NeighborList(1.5, skin=0.3), backend=be)
               for be in ("cpu", "cuda")]
        for md in mds:
            md.run(3)
        close(mds[0].x, mds[1].x, "2-D Morse positions", atol=1e-12)
        close(mds[0].forces, mds[1].forces, "2-D Morse forces", atol=1e-10)
        cl = lp.ParticleSystem(np.array([[0, 0, 0], [1.1, 0, 0], [0, 1.1, 0], [0, 0, 1.1],
                                         [1.1, 1.1, 0.1]], dtype=float))
        lj = lp.lennard_jones(mode="plain")
        mds = [lp.Dynamics(cl, lj, lp.VelocityVerlet(0.002), temperature=0.1, seed=2,
                           backend=be) for be in ("cpu", "cuda")]
        for md in mds:
            md.run(5)
        close(mds[0].x, mds[1].x, "cluster positions", atol=1e-13)
        close(mds[0].energy, mds[1].energy, "cluster energy", rtol=1e-13)

    @check("config.threads_per_block[every launch]")
    def _():
        # every launch of every driver uses the patched block size (the simulator's kernel
        # objects record what they are launched with), and results do not depend on it
        from numba.cuda.simulator.kernel import FakeCUDAKernel

        from langevin_opt.config import config
        from langevin_opt.rates.first_passage import Basins, first_passage

        seen: list[tuple] = []
        original = FakeCUDAKernel.__getitem__

        def spy(self, configuration):
            seen.append((getattr(self.fn, "__name__", "?"), configuration[1]))
            return original(self, configuration)

        dw = lo.double_well()
        basins = Basins(np.array([[-1.0], [1.0]]), [0.3, 0.3])
        X = np.array([[[0, 0, 0], [1.1, 0, 0], [0, 1.1, 0]]], dtype=float) + \
            np.random.default_rng(5).normal(scale=0.02, size=(30, 3, 3))
        cl = lp.ParticleSystem(X[0])
        lj = lp.lennard_jones(mode="plain")

        def runs(be):
            return [
                lo.sample(mb, x0, 6, method="baoab", dt=2e-4, temperature=25.0, seed=3,
                          record_every=3, backend=be).state.positions,
                first_passage(dw, lo.Overdamped(0.02), np.full((40, 1), -1.0), basins,
                              temperature=1.0, max_steps=30, seed=5, chunk=10,
                              backend=be).steps,
                lp.run_replicas(X, lj, lp.LangevinBAOAB(0.005), 3, temperatures=0.2, seed=1,
                                backend=be).positions,
                lp.Dynamics(cl, lj, lp.VelocityVerlet(0.002), temperature=0.1, seed=2,
                            backend=be).run(2).potential_energy,
            ]

        cpu = runs("cpu")
        config.threads_per_block = 7
        FakeCUDAKernel.__getitem__ = spy
        try:
            gpu = runs("cuda")
        finally:
            FakeCUDAKernel.__getitem__ = original
            config.reset()
        sizes = {bs for _, bs in seen}
        names = {n for n, _ in seen}
        assert sizes == {7}, sizes
        for kernel in ("step_kernel", "fp_kernel", "run_kernel", "forces_all"):
            assert any(kernel in n for n in names), (kernel, names)
        for a, b in zip(cpu[:3], gpu[:3], strict=True):
            same(a, b, "results with threads_per_block=7")
        close(cpu[3], gpu[3], "Dynamics energies", rtol=1e-13)
        return f"{len(seen)} launches, kernels {sorted(names)}"

    @check("cli[run --backend cuda = cpu, H5MD frames]")
    def _():
        import tempfile

        import h5py
        from click.testing import CliRunner

        from langevin_opt.cli import cli

        cfg = ("[experiment]\nname = \"sim\"\nseed = 7\n[landscape]\nname = \"double_well\"\n"
               "barrier = 2.0\n[integrator]\nkind = \"mala\"\ndt = 0.01\n[ensemble]\n"
               "walkers = 8\ntemperatures = [0.5, 1.0]\nsteps = 20\n[output]\n"
               "record_every = 5\ncheckpoint_every = 10\n")
        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / "sim.toml"
            p.write_text(cfg)
            frames = []
            for be in ("cpu", "cuda"):
                out = Path(tmp) / be
                r = CliRunner().invoke(cli, ["run", str(p), "--out", str(out), "--backend", be,
                                             "--quiet"])
                assert r.exit_code == 0, r.output
                with h5py.File(out / "trajectory.h5") as f:
                    frames.append(f["particles/walkers/position/value"][()])
            same(frames[0], frames[1], "H5MD frames")


def ptx_checks() -> dict:
    try:
        from numba.cuda.cudadrv import nvvm

        nvvm.NVVM()
    except Exception as err:  # noqa: BLE001 - any failure to load NVVM means "no compiler"
        return {"skip": f"NVIDIA's NVVM compiler is not installed ({type(err).__name__}: "
                        f"{err}); pip install 'numba-cuda[cu13]'"}
    import re

    from langevin_opt.cuda.ptx import compile_ptx_many, kernel_sources

    ccs = [(8, 0), (9, 0)]
    ptx = compile_ptx_many(ccs)
    out: dict = {"kernels": sorted(kernel_sources()), "ptx": {}}
    for cc in ccs:
        for name, text in ptx[cc].items():
            m = re.search(r"\.target\s+(\S+)", text)
            entry = re.search(r"\.entry\s+(\S+)", text)
            out["ptx"][f"{cc[0]}{cc[1]}:{name}"] = {
                "target": m.group(1) if m else None,
                "entry": bool(entry),
                "fma": text.count("fma.rn.f64"),
            }
    # contraction off (the default) leaves no fused multiply-add in FMA-free landscapes
    out["fma_free"] = {n: ptx[(8, 0)][n].count("fma.rn.f64")
                       for n in ("walkers.step[muller_brown,overdamped]",
                                 "walkers.step[gaussian,baoab]",
                                 "particles.system.forces_list[lj,3d]")}
    return out


if __name__ == "__main__":
    mode, dest = sys.argv[1], Path(sys.argv[2])
    if mode in ("sim", "gpu"):  # gpu: the same checks on a real device
        sim_checks()
        data = RESULTS
    else:
        data = ptx_checks()
    dest.write_text(json.dumps(data))
