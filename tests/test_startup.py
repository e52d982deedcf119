"""Instant start: compiled walker kernels come from the disk cache in a new process (issue 13).

Fresh Python processes share a private cache directory (``LANGEVIN_OPT_CACHE_DIR`` and
``NUMBA_CACHE_DIR``), so the tests see exactly what a user's next process sees.  To keep
the number of compiling processes small, one module fixture fills the cache with two
``langevin-opt warmup`` processes started at once; the other tests start from there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import pytest
from click.testing import CliRunner

from langevin_opt.cli import cli
from langevin_opt.runner import CompileWatch

REPO = Path(__file__).resolve().parents[1]

CONFIG = """
[experiment]
name = "startup_mb"
seed = 3

[landscape]
name = "muller_brown"

[integrator]
kind = "mala"
dt = 2e-4

[ensemble]
walkers = 8
temperatures = [25.0]
steps = 20

[output]
record_every = 5
checkpoint_every = 20
"""

#: lo.sample with the settings of CONFIG; prints the result's bytes, the kernel cache
#: statistics and the number of Numba compilations of the whole process
SAMPLE = """
import json
import langevin_opt as lo
from langevin_opt.core import jitcache
from langevin_opt.runner import CompileWatch
with CompileWatch() as watch:
    mb = lo.muller_brown()
    x0 = lo.uniform_positions([[-1.5, 1.0], [-0.5, 2.0]], 32, seed=1)
    res = lo.sample(mb, x0, 20, method="mala", dt=2e-4, temperature=25.0, seed=3,
                    record_every=5)
    e, g = mb.energy_and_gradient(res.state.positions)
print(json.dumps({
    "result": [a.tobytes().hex() for a in (res.state.positions, res.state.energies,
               res.state.accepted, res.trajectory.positions, res.trajectory.energies, e, g)],
    "stats": jitcache.compile_stats(), "compiles": watch.count,
    "modules": sorted(m.__name__ for m in jitcache._MODULES.values())}))
"""


def _env(cache: Path, **extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, LANGEVIN_OPT_CACHE_DIR=str(cache), NUMBA_CACHE_DIR=str(cache),
               PYTHONPATH=path)
    env.pop("LANGEVIN_OPT_CACHE", None)
    env.update(extra)
    return env


def _cli(*args: object) -> list[str]:
    return [sys.executable, "-c", "from langevin_opt.cli import main; main()",
            *map(str, args)]


def _sample(env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", SAMPLE], env=env, capture_output=True,
                         text=True, timeout=600, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def warmed(tmp_path_factory):
    """A cache filled by two ``warmup CONFIG`` processes started at the same time."""
    root = tmp_path_factory.mktemp("startup")
    cfg = root / "startup_mb.toml"
    cfg.write_text(textwrap.dedent(CONFIG))
    cache = root / "cache"
    env = _env(cache)
    procs = [subprocess.Popen(_cli("warmup", cfg), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=root) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    return {"cfg": cfg, "cache": cache, "env": env, "root": root,
            "codes": [p.returncode for p in procs], "outs": outs}


def test_two_warmups_at_once_both_succeed(warmed):
    """Both processes compile and store the same kernels without tripping over each other."""
    assert warmed["codes"] == [0, 0], [o[1][-2000:] for o in warmed["outs"]]
    kernels = warmed["cache"] / "kernels"
    for stdout, _ in warmed["outs"]:
        item, last = stdout.rstrip().splitlines()
        assert item.startswith(f"  {warmed['cfg']} (muller_brown, mala, 8 walkers x 20 steps): ")
        assert "compiled in" in item or "loaded from the cache" in item
        assert last.startswith(f"kernel cache: {kernels} (")
    assert any(kernels.glob("_walker_template_*.py"))
    assert not list(kernels.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_run_after_warmup_compiles_nothing(warmed):
    """``langevin-opt run`` on a warmed config loads every kernel: no notice, compile time 0."""
    out_dir = warmed["root"] / "run"
    proc = subprocess.run(_cli("run", warmed["cfg"], "--out", out_dir), env=warmed["env"],
                          capture_output=True, text=True, timeout=600, cwd=warmed["root"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "compiling kernels" not in proc.stderr + proc.stdout
    s = json.loads((out_dir / "summary.json").read_text())
    assert s["compile_seconds"] == 0.0
    assert s["run_seconds"] == pytest.approx(s["wall_seconds"], abs=2e-3)


def test_second_process_loads_every_kernel_and_matches_uncached_run(warmed):
    """``lo.sample`` in a new process compiles nothing and equals an uncached run bit for bit."""
    cached = _sample(warmed["env"])
    assert cached["stats"]["misses"] == 0 and cached["stats"]["hits"] >= 2, cached["stats"]
    assert cached["compiles"] == 0  # nothing at all was compiled in this process
    assert all("uncached" not in m for m in cached["modules"])
    uncached = _sample(_env(warmed["root"] / "other", LANGEVIN_OPT_CACHE="0"))
    assert uncached["stats"]["hits"] == 0 and uncached["compiles"] > 0
    assert all("uncached" in m for m in uncached["modules"])
    assert cached["result"] == uncached["result"]


def test_compile_watch_counts_real_compilations_only():
    """CompileWatch sees a compilation once (callees included), and none for a compiled call."""
    inner = numba.njit(lambda x: x * 2.0)
    outer = numba.njit(lambda x: inner(x) + 1.0)
    started = []
    with CompileWatch(on_first=lambda: started.append(True)) as watch:
        assert outer(1.5) == 4.0
    assert watch.count == 1 and watch.seconds > 0 and started == [True]
    with CompileWatch() as again:
        outer(2.5)
    assert again.count == 0 and again.seconds == 0.0


def test_warmup_options(tmp_path, monkeypatch):
    """No item is a usage error; --clear empties the cache; caching off is refused."""
    monkeypatch.setenv("LANGEVIN_OPT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("LANGEVIN_OPT_CACHE", raising=False)
    r = CliRunner().invoke(cli, ["warmup"])
    assert r.exit_code == 2 and "give CONFIG files, --all or --clear" in r.output
    (tmp_path / "kernels").mkdir()
    (tmp_path / "kernels" / "x.py").write_text("")
    r = CliRunner().invoke(cli, ["warmup", "--clear"])
    assert r.exit_code == 0, r.output
    assert r.output == f"cleared 1 files from {tmp_path / 'kernels'}\n"
    assert not (tmp_path / "kernels").exists()
    monkeypatch.setenv("LANGEVIN_OPT_CACHE", "0")
    r = CliRunner().invoke(cli, ["warmup", "--all"])
    assert r.exit_code == 2 and "kernel caching is disabled" in r.output
    other = tmp_path / "notes.toml"
    other.write_text('[data]\nname = "two_moons"\n')
    monkeypatch.delenv("LANGEVIN_OPT_CACHE")
    r = CliRunner().invoke(cli, ["warmup", str(other)])
    assert r.exit_code == 0
    assert f"{other}: skipped (not a run or arrhenius config)" in r.output


def test_run_prints_the_compile_notice(tmp_path, monkeypatch):
    """``run`` says on stderr that it compiles, on one line with the time it took."""
    from langevin_opt import runner

    def compiling_run(exp, out, *, compiling=None, **kwargs):  # noqa: ANN001, ANN202
        compiling(None)
        compiling(2.5)
        return runner.RunReport(Path(out), 10, 3.0, {"walkers": 1, "temperatures": []}, [],
                                2.5)

    monkeypatch.setattr(runner, "run_experiment", compiling_run)
    data = Path(__file__).parent / "data" / "tiny_dw.toml"
    r = CliRunner().invoke(cli, ["run", str(data), "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert r.stderr == "compiling kernels (first run only)... done in 2.5 s\n"
    r = CliRunner().invoke(cli, ["run", str(data), "--out", str(tmp_path / "q"), "--quiet"])
    assert r.exit_code == 0 and r.stderr == ""
