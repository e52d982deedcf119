"""CUDA backend without a GPU: simulator runs against the CPU, PTX compilation, errors.

The simulator checks (``NUMBA_ENABLE_CUDASIM=1``, which must be set before numba
is imported) and the PTX compilation run in two subprocesses started together
(tests/cuda_checks.py: what is compared, and with which tolerance, is stated
there); each check is reported here as its own test.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import langevin_opt as lo
from langevin_opt import particles as lp
from langevin_opt.cuda import backend as B

ROOT = Path(__file__).resolve().parents[1]
HAS_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None
needs_numba_cuda = pytest.mark.skipif(not HAS_NUMBA_CUDA,
                                      reason="numba-cuda is not installed (the [test] extra "
                                             "installs it)")

SIM_CHECKS = [
    "walkers[muller_brown,gd]",
    "walkers[muller_brown,overdamped]",
    "walkers[muller_brown,mala]",
    "walkers[muller_brown,baoab]",
    "walkers[gaussian3d,mala,chunked,offset]",
    "walkers[replica_exchange,overdamped+baoab]",
    "walkers[divergence]",
    "first_passage[double_well,overdamped+baoab]",
    "first_passage[divergence,partial result]",
    "particles[run_replicas+replica_exchange,lj13]",
    "particles[dynamics,lj_box_cells]",
    "particles[dynamics,morse_2d_cells+cluster_all_pairs]",
    "config.threads_per_block[every launch]",
    "cli[run --backend cuda = cpu, H5MD frames]",
]


def _env(sim: bool) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    if sim:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    return env


@pytest.fixture(scope="module")
def checks(tmp_path_factory):
    """Run the simulator and PTX subprocesses in parallel; return their JSON results."""
    if not HAS_NUMBA_CUDA:
        pytest.skip("numba-cuda is not installed (the [test] extra installs it)")
    tmp = tmp_path_factory.mktemp("cuda")
    procs = {}
    for mode in ("sim", "ptx"):
        out = tmp / f"{mode}.json"
        procs[mode] = (out, subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "cuda_checks.py"), mode, str(out)],
            env=_env(mode == "sim"), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True))
    results = {}
    for mode, (out, proc) in procs.items():
        log, _ = proc.communicate(timeout=900)
        if proc.returncode != 0 or not out.exists():
            results[mode] = {"error": f"exit {proc.returncode}:\n{log[-4000:]}"}
        else:
            results[mode] = json.loads(out.read_text())
    return results


@needs_numba_cuda
@pytest.mark.parametrize("name", SIM_CHECKS)
def test_simulator_matches_cpu(checks, name):
    """Each CUDA kernel under the simulator against the CPU kernels, same seed."""
    sim = checks["sim"]
    assert "error" not in sim, sim.get("error")
    assert name in sim, f"check {name!r} did not run"
    ok, detail = sim[name]
    assert ok, detail


@needs_numba_cuda
def test_every_kernel_compiles_to_ptx(checks):
    """Every kernel compiles to PTX for cc 8.0 and 9.0 without a GPU."""
    ptx = checks["ptx"]
    if "skip" in ptx:
        pytest.skip(ptx["skip"])
    assert "error" not in ptx, ptx.get("error")
    kernels = ptx["kernels"]
    assert len(kernels) == 24 + 1 + 12 + 40  # walkers, swap, first passage, particles
    for lname in lo.LANDSCAPES:
        for method in ("gd", "overdamped", "mala", "baoab"):
            assert f"walkers.step[{lname},{method}]" in kernels
        for method in ("overdamped", "baoab"):
            assert f"first_passage[{lname},{method}]" in kernels
    for cc, target in (("80", "sm_80"), ("90", "sm_90")):
        for name in kernels:
            info = ptx["ptx"][f"{cc}:{name}"]
            assert info["target"] == target and info["entry"], (cc, name, info)
    assert ptx["fma_free"] == dict.fromkeys(ptx["fma_free"], 0), ptx["fma_free"]


def test_normal2_variant_is_the_cpu_stream():
    """The CUDA-compilable normal2 (math.sqrt) gives rng.normal2's bits on the CPU."""
    import numba

    from langevin_opt import rng
    from langevin_opt.cuda import _device as dv

    @numba.njit
    def both(seed, n):
        out = np.empty((n, 4))
        for i in range(n):
            a, b = rng.normal2(seed, i, 3 * i + 1, i % 3, i % 2)
            c, d = dv.normal2(seed, i, 3 * i + 1, i % 3, i % 2)
            out[i, 0] = a
            out[i, 1] = b
            out[i, 2] = c
            out[i, 3] = d
        return out

    out = both(np.uint64(2**63 + 12345), 20_000)
    assert np.array_equal(out[:, :2], out[:, 2:])


def test_threads_per_block_setting_is_validated(monkeypatch):
    """Launches read ``config.threads_per_block``; a bad value is a one-line error."""
    from langevin_opt.config import config
    from langevin_opt.cuda import _device as dv

    monkeypatch.setattr(config, "threads_per_block", 64)
    assert dv.threads_per_block() == 64 and dv.blocks(129) == 3 and dv.blocks(0) == 1
    monkeypatch.setattr(config, "threads_per_block", 0)
    with pytest.raises(ValueError, match=r"config.threads_per_block must be an integer in "
                                         r"\[1, 1024\], got 0"):
        dv.blocks(10)
    monkeypatch.setattr(config, "threads_per_block", 32.0)
    with pytest.raises(TypeError, match="config.threads_per_block must be an integer"):
        dv.threads_per_block()


def test_backend_argument_is_validated():
    mb = lo.muller_brown()
    with pytest.raises(ValueError, match="backend must be one of 'cpu', 'cuda', got 'gpu'"):
        lo.Sampler(mb, lo.Overdamped(1e-4), seed=0, backend="gpu")
    assert B.check_backend(" CUDA ") == "cuda"


@pytest.mark.skipif(B.available(), reason="a CUDA device (or the simulator) is available here")
def test_no_gpu_is_one_line_error_never_a_fallback():
    mb = lo.muller_brown()
    x = np.zeros((4, 2))
    expected = ("backend='cuda' needs an NVIDIA GPU and driver (numba.cuda.is_available() is "
                "False); use backend='cpu'") if HAS_NUMBA_CUDA else B._NO_PACKAGE
    for call in (
        lambda: lo.sample(mb, x, 10, dt=1e-4, seed=0, backend="cuda"),
        lambda: lo.Sampler(mb, lo.MALA(1e-4), seed=0, backend="cuda"),
        lambda: lp.run_replicas(np.zeros((2, 2, 3)) + [[[0, 0, 0], [1.1, 0, 0]]],
                                lp.lennard_jones(mode="plain"), lp.VelocityVerlet(0.001), 5,
                                seed=0, backend="cuda"),
        lambda: lp.Dynamics(lp.ParticleSystem(np.array([[0.0, 0, 0], [1.1, 0, 0]])),
                            lp.lennard_jones(mode="plain"), lp.VelocityVerlet(0.001),
                            seed=0, backend="cuda"),
    ):
        with pytest.raises(B.BackendUnavailableError) as info:
            call()
        assert str(info.value) == expected
        assert "\n" not in str(info.value)


def test_missing_numba_cuda_message(monkeypatch):
    monkeypatch.setattr(B, "_installed", lambda: False)
    assert not B.available()
    with pytest.raises(B.BackendUnavailableError, match=r"numba-cuda package.*use backend='cpu'"):
        B.require()


@pytest.mark.skipif(B.available(), reason="a CUDA device (or the simulator) is available here")
def test_cli_backend_cuda_without_gpu(tmp_path):
    """``--backend cuda`` without a GPU: exit 2, one ``Error:`` line, no traceback, no output."""
    proc = subprocess.run(
        [sys.executable, "-m", "langevin_opt.cli", "run", str(ROOT / "tests/data/tiny_dw.toml"),
         "--out", str(tmp_path / "out"), "--backend", "cuda"],
        capture_output=True, text=True, env=_env(False), cwd=ROOT, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("Error: --backend cuda needs")
    assert "use --backend cpu" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.gpu
@pytest.mark.skipif(not B.available() or B.simulator(), reason="needs a real NVIDIA GPU")
def test_gpu_matches_cpu(tmp_path):
    """On a machine with a GPU: every simulator check again on the device."""
    out = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "cuda_checks.py"), "gpu",
                           str(out)], env=_env(False), cwd=ROOT, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    failed = {k: v[1] for k, v in json.loads(out.read_text()).items() if not v[0]}
    assert not failed, failed
