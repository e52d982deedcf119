"""Disk-cached specialised kernels (langevin_opt.core.jitcache).

A template and a user module are written to a temporary directory; fresh Python
processes specialise the template for a user function and report Numba's cache
statistics, so the tests see exactly what a second user process would see.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest

from langevin_opt.core import jitcache

REPO = Path(__file__).resolve().parents[1]

TEMPLATE = '''
"""A test template."""
from __future__ import annotations

import numba

from langevin_opt.core.jitcache import import_template_default

# jitcache: bindings
eg = import_template_default("eg")
SCALE = 1.0
CACHE = False
# jitcache: end


@numba.njit(cache=CACHE)
def total(x, p):
    s = 0.0
    for i in range(x.shape[0]):
        s += SCALE * eg(x[i], p)
    return s
'''

USER = '''
import numba


@numba.njit(cache=True)
def quartic(x, p):
    return p[0] * x ** 4


def plain(x, p):
    return p[0] * x * x
'''

CHILD = '''
import json, sys
import numpy as np
from langevin_opt.core import jitcache
import numba, usermod
which = sys.argv[1]
fn = usermod.quartic if which == "quartic" else numba.njit(usermod.plain)
m = jitcache.specialize("tpl_mod", {"eg": fn, "SCALE": 0.5})
x = np.linspace(-1.3, 2.1, 17)
val = m.total(x, np.array([1.7]))
print(json.dumps({"value": val.hex(), "stats": jitcache.compile_stats(), "module": m.__name__,
                  "file": m.__file__}))
'''


@pytest.fixture
def sandbox(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "tpl_mod.py").write_text(textwrap.dedent(TEMPLATE))
    (src / "usermod.py").write_text(textwrap.dedent(USER))
    (src / "child.py").write_text(textwrap.dedent(CHILD))
    env = dict(os.environ, LANGEVIN_OPT_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join([str(src), str(REPO)]))
    env.pop("NUMBA_CACHE_DIR", None)
    return src, env


def _child(src: Path, env: dict, which: str = "quartic") -> dict:
    out = subprocess.run([sys.executable, str(src / "child.py"), which], env=env, check=True,
                         capture_output=True, text=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_loads_from_cache_bit_identically(sandbox):
    src, env = sandbox
    first = _child(src, env)
    second = _child(src, env)
    assert first["stats"]["misses"] == 1 and first["stats"]["hits"] == 0
    assert second["stats"]["hits"] == 1 and second["stats"]["misses"] == 0
    assert first["module"] == second["module"]
    uncached = _child(src, dict(env, LANGEVIN_OPT_CACHE="0"))
    assert "uncached" in uncached["module"] and uncached["stats"]["hits"] == 0
    x = np.linspace(-1.3, 2.1, 17)
    exact = float(np.sum(0.5 * 1.7 * x ** 4))
    assert float.fromhex(first["value"]) == float.fromhex(second["value"]) \
        == float.fromhex(uncached["value"])
    assert float.fromhex(first["value"]) == pytest.approx(exact, rel=1e-14)


def test_plain_function_compiled_by_the_package_is_cached(sandbox):
    src, env = sandbox
    first = _child(src, env, "plain")
    second = _child(src, env, "plain")
    assert second["stats"] == {"hits": 1, "misses": 0, "modules": 1}
    assert first["value"] == second["value"]


def test_editing_the_bound_function_invalidates(sandbox):
    src, env = sandbox
    first = _child(src, env)
    (src / "usermod.py").write_text(textwrap.dedent(USER).replace("x ** 4", "x ** 2"))
    second = _child(src, env)
    assert second["module"] != first["module"] and second["stats"]["misses"] == 1
    x = np.linspace(-1.3, 2.1, 17)
    assert float.fromhex(second["value"]) == pytest.approx(float(np.sum(0.85 * x ** 2)))


def test_two_processes_warming_at_once_both_succeed(sandbox):
    src, env = sandbox
    procs = [subprocess.Popen([sys.executable, str(src / "child.py"), "quartic"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1] for o in outs]
    values = {json.loads(o[0].strip().splitlines()[-1])["value"] for o in outs}
    assert len(values) == 1
    again = _child(src, env)
    assert again["stats"]["hits"] == 1 and again["value"] in values
    leftovers = [p.name for p in (Path(env["LANGEVIN_OPT_CACHE_DIR"]) / "kernels").glob(".*tmp")]
    assert leftovers == []


def test_unimportable_binding_runs_uncached(sandbox, monkeypatch):
    src, _ = sandbox
    monkeypatch.syspath_prepend(str(src))
    fn = numba.njit(lambda x, p: p[0] * x)
    mod = jitcache.specialize("tpl_mod", {"eg": fn, "SCALE": 2.0})
    assert "uncached" in mod.__name__
    assert mod.total(np.array([1.0, 2.0]), np.array([3.0])) == 18.0
    # a different closure gets its own module, not the first one's
    fn2 = numba.njit(lambda x, p: x)
    mod2 = jitcache.specialize("tpl_mod", {"eg": fn2, "SCALE": 2.0})
    assert mod2.total(np.array([1.0, 2.0]), np.array([3.0])) == 6.0


def test_template_without_binding_block_is_refused(tmp_path, monkeypatch):
    (tmp_path / "bad_tpl.py").write_text("import numba\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("LANGEVIN_OPT_CACHE_DIR", str(tmp_path / "c"))
    with pytest.raises(ImportError, match="jitcache: bindings"):
        jitcache.specialize("bad_tpl", {"SCALE": 1.0})


def test_unbound_placeholder_is_a_clear_error():
    f = jitcache.import_template_default("eg")
    with pytest.raises(RuntimeError, match="'eg' was not bound"):
        f(1.0)


def test_cache_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("LANGEVIN_OPT_CACHE_DIR", raising=False)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "nb"))
    assert jitcache.cache_dir() == tmp_path / "nb" / "langevin_opt"
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert jitcache.cache_dir() == tmp_path / "xdg" / "langevin_opt"
    monkeypatch.setenv("LANGEVIN_OPT_CACHE_DIR", str(tmp_path / "own"))
    assert jitcache.cache_dir() == tmp_path / "own"
    for off in ("0", "false", "off"):
        monkeypatch.setenv("LANGEVIN_OPT_CACHE", off)
        assert not jitcache.caching_enabled()


def test_clear_cache(sandbox, monkeypatch):
    src, env = sandbox
    _child(src, env)
    root = Path(env["LANGEVIN_OPT_CACHE_DIR"])
    assert any((root / "kernels").rglob("*.nbc"))
    monkeypatch.setenv("LANGEVIN_OPT_CACHE_DIR", str(root))
    assert jitcache.clear_cache() > 0
    assert not (root / "kernels").exists()
