"""Disk-cached kernels of the particle and SG-MCMC engines (issue 13): a second process.

Three fresh Python processes run the same short ``Dynamics`` (Lennard-Jones, neighbor
list, BAOAB) and ``run_chains`` (SGLD on an MLP): the first with an empty cache
directory (it compiles and saves), the second with that directory (it must load every
kernel: no compilation at all), and one with ``LANGEVIN_OPT_CACHE=0`` (the uncached
fallback).  All three must give the same bits.  The first and the uncached process
compile for tens of seconds; they run at the same time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CHILD = '''
import gc, hashlib, json, sys
import numba
import numpy as np
from langevin_opt import nn, particles as lp, sgmcmc
from langevin_opt.core import jitcache


def digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


x, box = lp.fcc_lattice(3, 0.8442)
md = lp.Dynamics(lp.ParticleSystem(x, box=box), lp.lennard_jones(cutoff=2.5, mode="truncated"),
                 lp.LangevinBAOAB(dt=0.005, friction=1.0), temperature=1.0,
                 neighbors=lp.NeighborList(2.5, skin=0.3), seed=1)
rec = md.run(5, record_every=1)
ds = nn.two_moons(40, 10, noise=0.1, seed=0)
net = nn.MLP([2, 4, 2], "tanh", "softmax_ce")
land = nn.mlp_landscape(net, ds.X_train, ds.y_train, batch_size=10, prior_sigma=1.0)
res = sgmcmc.run_chains(land, "sgld", net.init_params(0), 5, seed=1, n_chains=2,
                        step_size=0.05 / land.n_data, temperature=1.0)
# every compiled function of the package in this process: loaded from the cache
# (hits) or compiled here (misses, or no cache at all)
compiled = {}
for o in gc.get_objects():
    if isinstance(o, numba.core.registry.CPUDispatcher) and o.signatures and \\
            o.py_func.__module__.startswith("langevin_opt"):
        st = o.stats
        compiled[f"{o.py_func.__module__}.{o.__name__}"] = [
            sum(st.cache_hits.values()), sum(st.cache_misses.values()), len(o.signatures)]
print(json.dumps({"md": digest(md.x, md.v, md.forces, rec.potential_energy),
                  "chains": digest(res.theta, res.samples, res.energies, res.energy),
                  "jitcache": jitcache.compile_stats(), "compiled": compiled,
                  "modules": sorted(m.__name__ for m in jitcache._MODULES.values())}))
'''


def _child(script: Path, cache: Path, **extra: str) -> subprocess.Popen:
    env = dict(os.environ, LANGEVIN_OPT_CACHE_DIR=str(cache), NUMBA_CACHE_DIR=str(cache),
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    env.pop("LANGEVIN_OPT_CACHE", None)
    env.update(extra)
    return subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-4000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("startup")
    script = tmp / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    cold = _child(script, tmp / "cache")
    uncached = _child(script, tmp / "nocache", LANGEVIN_OPT_CACHE="0")
    out = {"cold": _result(cold), "uncached": _result(uncached)}
    out["warm"] = _result(_child(script, tmp / "cache"))
    return out


def test_second_process_compiles_nothing(runs):
    cold, warm = runs["cold"], runs["warm"]
    # the first process compiled the specialised kernels (force, neighbor build, SGLD
    # runner, full energies) and saved them
    assert cold["jitcache"]["misses"] >= 4 and cold["jitcache"]["modules"] >= 4
    assert warm["jitcache"]["misses"] == 0 and warm["jitcache"]["hits"] >= 4
    assert warm["modules"] == cold["modules"]
    assert not any("uncached" in m for m in warm["modules"])
    # and nothing of the package is compiled in the second process: every compiled
    # function (module-level kernels included) came from the cache
    assert warm["compiled"], "no compiled function seen"
    fresh = {k: v for k, v in warm["compiled"].items() if v[1] or v[0] != v[2]}
    assert fresh == {}, f"compiled in the second process: {fresh}"


def test_cached_and_uncached_runs_are_bit_identical(runs):
    cold, warm, uncached = runs["cold"], runs["warm"], runs["uncached"]
    assert all("uncached" in m for m in uncached["modules"]) and uncached["modules"]
    assert uncached["jitcache"]["hits"] == 0
    for key in ("md", "chains"):
        assert cold[key] == warm[key] == uncached[key], key
