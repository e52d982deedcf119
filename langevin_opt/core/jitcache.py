"""Disk-cached specialised kernels: one template source, one generated module per binding.

Why generated modules
---------------------
Numba's on-disk cache (``cache=True``) keys a compiled function by its source file,
qualified name and argument types.  That excludes the two patterns a kernel library
would naturally use to specialise an integrator for a landscape:

* a *closure* over the landscape function (``def build(eg): @njit def step(...)``):
  the closed-over values are not part of the cache key, so Numba refuses to cache;
* a *first-class dispatcher argument* (``@njit(cache=True) def step(eg, x, ...)``):
  the argument's type is tied to the dispatcher object of one process, so every
  new process misses the cache (measured with Numba 0.68: ``cache_misses`` grows
  in each process, ``cache_hits`` stays empty).

What works reliably is a real ``.py`` file whose module globals name the landscape
function.  A *template* is an ordinary module of the package whose kernels call
free global names (``eg``, ``METHOD``, ...) that the template declares with
placeholder values.  :func:`specialize` writes the template's source followed by
one assignment per binding (``from pkg.mod import f as eg``; ``METHOD = 2``) to a
file in the cache directory whose name is a hash of everything the compiled code
depends on, imports it, and returns the module.  Numba reads globals when it
compiles (on the first call, after the module has run), so the appended
assignments are what the kernels see, and Numba's own cache, keyed by that
unique file, stores their machine code.  A second process regenerates the same
name, finds the file and the compiled code, and skips compilation.

The hash covers the template source, the package source (every ``.py`` file of
``langevin_opt``, so an upgrade or a local edit invalidates everything), the
Numba, NumPy and Python versions, the CPU name, and for each bound function its
module, qualified name and the source file of its module.  Functions that the
bound function itself calls from *other* files are not covered (Numba's own
cache has the same limit); edit those and clear the cache (``langevin-opt
warmup --clear``).

Bindings that cannot be imported by name in a new process (closures, lambdas,
functions typed at an interactive prompt, functions whose module is not
importable) are not cached: the same template source is executed in a private
namespace with ``CACHE = False``, so results are identical and only the
compile-time saving is lost.

Cache location (first that applies): ``$LANGEVIN_OPT_CACHE_DIR``;
``$NUMBA_CACHE_DIR/langevin_opt``; ``$XDG_CACHE_HOME/langevin_opt`` or
``~/.cache/langevin_opt``.  ``LANGEVIN_OPT_CACHE=0`` disables caching.  Several
processes may start at once: generated files are written to a temporary name and
renamed atomically, and Numba writes its cache files the same way.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import platform
import sys
import tempfile
import threading
import types
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["cache_dir", "caching_enabled", "clear_cache", "compile_stats",
           "import_template_default", "specialize", "twin"]

_PKG_ROOT = Path(__file__).resolve().parents[1]
_LOCK = threading.Lock()
_MODULES: dict[str, types.ModuleType] = {}
_FINGERPRINT: list[str] = []
#: generated-module name prefix; modules are registered in sys.modules under it so
#: that their functions pickle by reference within a process
_PREFIX = "langevin_opt._jit"


def caching_enabled() -> bool:
    """Whether kernels are cached on disk (``LANGEVIN_OPT_CACHE`` is not ``0``/``false``).

    Returns
    -------
    bool
    """
    return os.environ.get("LANGEVIN_OPT_CACHE", "1").strip().lower() not in {"0", "false",
                                                                             "no", "off"}


def cache_dir() -> Path:
    """The directory that holds generated kernel modules (and, by default, their code).

    Returns
    -------
    pathlib.Path
        ``$LANGEVIN_OPT_CACHE_DIR``, else ``$NUMBA_CACHE_DIR/langevin_opt``, else
        ``$XDG_CACHE_HOME/langevin_opt`` (default ``~/.cache/langevin_opt``).
    """
    env = os.environ.get("LANGEVIN_OPT_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    numba_dir = os.environ.get("NUMBA_CACHE_DIR")
    if numba_dir:
        return Path(numba_dir).expanduser() / "langevin_opt"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "langevin_opt"


def clear_cache() -> int:
    """Delete every generated module and its compiled code.

    Returns
    -------
    int
        Number of files removed.
    """
    root = cache_dir() / "kernels"
    n = 0
    if root.is_dir():
        for f in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if f.is_file() or f.is_symlink():
                f.unlink(missing_ok=True)
                n += 1
            elif f.is_dir():
                f.rmdir()
        root.rmdir()
    return n


def _fingerprint() -> str:
    """Hash of the package source, toolchain and CPU (computed once per process)."""
    if not _FINGERPRINT:
        import numba
        import numpy

        h = hashlib.sha256()
        for f in sorted(_PKG_ROOT.rglob("*.py")):
            h.update(str(f.relative_to(_PKG_ROOT)).encode())
            h.update(f.read_bytes())
        try:
            import llvmlite.binding as ll

            cpu = ll.get_host_cpu_name()
        except Exception:  # noqa: BLE001 - only a key ingredient
            cpu = platform.machine()
        h.update(f"{numba.__version__}|{numpy.__version__}|{sys.version}|{cpu}".encode())
        _FINGERPRINT.append(h.hexdigest())
    return _FINGERPRINT[0]


def _file_digest(module: types.ModuleType) -> str | None:
    path = getattr(module, "__file__", None)
    if not path or not os.path.isfile(path):
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _import_line(name: str, value: Callable) -> tuple[str, str] | None:
    """``(python line binding name, key)`` that rebuilds ``value`` in a new process, or None."""
    import numba

    py = getattr(value, "py_func", value)
    mod_name, qual = getattr(py, "__module__", None), getattr(py, "__qualname__", "")
    if not mod_name or "<" in qual or "." in qual:
        return None
    module = sys.modules.get(mod_name)
    if module is None:
        return None
    digest = _file_digest(module)
    if digest is None:
        return None
    attr = getattr(module, qual, None)
    src = f"{mod_name}:{qual}:{digest}"
    importer = f"__import__({mod_name!r}, fromlist=['_']).{qual}"
    if mod_name == "__main__":
        importer = f"sys.modules['__main__'].{qual}"
    if attr is value:
        return f"{name} = {importer}", src
    if isinstance(value, numba.core.registry.CPUDispatcher):
        opts = {k: v for k, v in value.targetoptions.items() if k != "nopython"}
        if attr is py:  # a plain function compiled by the package (user landscapes)
            return f"{name} = _lo_numba.njit(**{opts!r})({importer})", src + repr(opts)
        # the module attribute wraps it (a Landscape made by the @landscape decorator)
        if getattr(attr, "energy_grad", None) is value:
            return f"{name} = {importer}.energy_grad", src + ":energy_grad"
    return None


def _bind_source(bindings: Mapping[str, object]) -> tuple[list[str], list[str]] | None:
    lines, keys = [], []
    for name, value in bindings.items():
        if isinstance(value, bool | int | float | str | type(None)):
            lines.append(f"{name} = {value!r}")
            keys.append(f"{name}={value!r}")
            continue
        got = _import_line(name, value)  # type: ignore[arg-type]
        if got is None:
            return None
        lines.append(got[0])
        keys.append(f"{name}={got[1]}")
    return lines, keys


def _template_source(template: str) -> tuple[str, str]:
    spec = importlib.util.find_spec(template)
    if spec is None or not spec.origin:
        raise ImportError(f"kernel template {template!r} not found")
    return spec.origin, Path(spec.origin).read_text()


MARK_START = "# jitcache: bindings"
MARK_END = "# jitcache: end"


def _render(template: str, source: str, lines: list[str]) -> str:
    """Replace the template's placeholder block with ``lines``."""
    try:
        start = source.index(MARK_START)
        end = source.index(MARK_END, start)
    except ValueError:
        raise ImportError(f"kernel template {template!r} has no '{MARK_START}' ... "
                          f"'{MARK_END}' block") from None
    return source[:start] + MARK_START + "\n" + "\n".join(lines) + "\n" + source[end:]


def _exec_uncached(template: str, path: str, source: str,
                   bindings: Mapping[str, object]) -> types.ModuleType:
    mod = types.ModuleType(f"{_PREFIX}.uncached_{template.rsplit('.', 1)[-1]}")
    mod.__file__ = path
    mod.__dict__["__lo_bindings__"] = dict(bindings)
    lines = [f"{k} = __lo_bindings__[{k!r}]" for k in bindings] + ["CACHE = False"]
    exec(compile(_render(template, source, lines), path, "exec"),  # noqa: S102 - our template
         mod.__dict__)
    return mod


def specialize(template: str, bindings: Mapping[str, object]) -> types.ModuleType:
    """Return the template module ``template`` with its free globals bound, disk-cached.

    Parameters
    ----------
    template : str
        Dotted name of a template module (for example
        ``"langevin_opt._walker_template"``).  Its kernels use ``numba.njit`` with
        ``cache=CACHE`` and call the names in ``bindings`` as module globals.
    bindings : mapping
        Global name to value: ``int``/``float``/``bool``/``str``/``None`` constants,
        or compiled (Numba) functions that are module-level names of an imported
        module (or the plain function a dispatcher was made from, or a landscape
        object whose ``energy_grad`` it is).

    Returns
    -------
    module
        The specialised module (one per distinct binding set and process).  Its
        kernels compile lazily on first call; with caching on and importable
        bindings, their machine code is loaded from and saved to :func:`cache_dir`.
    """
    origin, source = _template_source(template)
    bound = _bind_source(bindings) if caching_enabled() else None
    if bound is None:
        key = (template, tuple((k, id(v)) for k, v in bindings.items()))
        with _LOCK:
            hit = _MODULES.get(repr(key))
            if hit is None or any(getattr(hit, k) is not v for k, v in bindings.items()
                                  if not isinstance(v, bool | int | float | str | type(None))):
                hit = _MODULES[repr(key)] = _exec_uncached(template, origin, source, bindings)
            return hit
    lines, keys = bound
    h = hashlib.sha256()
    h.update(_fingerprint().encode())
    h.update(source.encode())
    h.update("\n".join(keys).encode())
    stem = f"{template.rsplit('.', 1)[-1]}_{h.hexdigest()[:24]}"
    mod_name = f"{_PREFIX}.{stem}"
    with _LOCK:
        if mod_name in _MODULES:
            return _MODULES[mod_name]
        body = _render(template, source,
                       ["import sys", "import numba as _lo_numba", *lines, "CACHE = True"])
        text = (f"# Generated by langevin_opt.core.jitcache from {template} ({origin}).\n"
                "# Do not edit: the block after 'jitcache: bindings' binds the template.\n"
                + body)
        try:
            path = _write_once(stem, text)
        except OSError:
            mod = _exec_uncached(template, origin, source, bindings)
            _MODULES[mod_name] = mod
            return mod
        spec = importlib.util.spec_from_file_location(mod_name, path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            del sys.modules[mod_name]
            raise
        _MODULES[mod_name] = mod
        return mod


def _write_once(stem: str, text: str) -> Path:
    """Write ``text`` to ``<cache>/kernels/<stem>.py`` atomically unless it is there."""
    root = cache_dir() / "kernels"
    path = root / f"{stem}.py"
    if path.is_file() and path.read_text() == text:
        return path
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=root, prefix=f".{stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # concurrent writers write the same bytes
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def compile_stats() -> dict[str, int]:
    """Cache hits and misses of every specialised kernel compiled in this process.

    Returns
    -------
    dict
        ``{"hits": int, "misses": int, "modules": int}``.
    """
    import numba

    hits = misses = 0
    for mod in list(_MODULES.values()):
        for value in vars(mod).values():
            if isinstance(value, numba.core.registry.CPUDispatcher) and \
                    value.py_func.__module__ == mod.__name__:
                st = value.stats
                hits += sum(st.cache_hits.values())
                misses += sum(st.cache_misses.values())
    return {"hits": hits, "misses": misses, "modules": len(_MODULES)}


def twin(fn: Callable, name: str, **bindings: object) -> Callable:
    """A copy of the plain function ``fn`` named ``name``, to compile the same source twice.

    Numba's disk cache files a function under its source file, qualified name and
    first line, and keys the entries by argument types and bytecode, *not* by the
    compile options.  So ``njit(parallel=True, cache=True)(f)`` and
    ``njit(cache=True)(f)`` share one index and load each other's code (measured
    with Numba 0.68: the serial dispatcher reports a cache hit on the parallel
    machine code).  Compile the second variant from a twin with its own name.

    Parameters
    ----------
    fn : function
        A plain Python function (not a dispatcher).
    name : str
        The twin's ``__name__`` and ``__qualname__``.
    **bindings
        Globals to rebind in the twin only (e.g. ``pair=bond``: the same loop over
        another scalar function); ``fn`` keeps its own.

    Returns
    -------
    function
        Same code, defaults and closure as ``fn``; its globals, with ``bindings``
        replaced in a copy when given.
    """
    glob = {**fn.__globals__, **bindings} if bindings else fn.__globals__
    g = types.FunctionType(fn.__code__, glob, name, fn.__defaults__, fn.__closure__)
    g.__qualname__ = name
    g.__kwdefaults__ = fn.__kwdefaults__
    g.__doc__ = fn.__doc__
    return g


def import_template_default(name: str) -> Callable[..., object]:
    """Placeholder for a template's unbound global: calling it is a clear error.

    Parameters
    ----------
    name : str
        The global's name, for the message.

    Returns
    -------
    callable
    """

    def unbound(*args: object) -> object:
        raise RuntimeError(f"kernel template global {name!r} was not bound by specialize()")

    return unbound
