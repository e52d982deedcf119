"""Architecture rules: no import cycles in the package; the CUDA backend imports no front end.

The module graph is built from the source with :mod:`ast` (nothing is imported), counting
every ``import`` statement wherever it stands, lazy imports inside functions included.
An edge goes to the most specific module named: ``from . import x`` where ``x`` is a
submodule is an edge to that submodule, ``from .m import name`` an edge to ``m``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import langevin_opt

PKG = Path(langevin_opt.__file__).resolve().parent
NAME = "langevin_opt"

#: Front ends and drivers of the engines, which ``langevin_opt.cuda`` must never import.
FRONT_ENDS = ("langevin_opt.rates", "langevin_opt.sampling", "langevin_opt.particles.dynamics",
              "langevin_opt.runner", "langevin_opt.cli", "langevin_opt.sgmcmc")
#: Packages whose ``__init__`` re-exports front ends (importing a name from them is not allowed
#: in ``cuda``; their shared-math submodules are).
REEXPORTING = ("langevin_opt", "langevin_opt.particles")


def _modules(root: Path = PKG, name: str = NAME) -> dict[str, Path]:
    """Module name -> source file, for every ``.py`` file of the package."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("").parts
        if rel[-1] == "__init__":
            rel = rel[:-1]
        out[".".join((name, *rel))] = path
    return out


def _is_package(mod: str, files: dict[str, Path]) -> bool:
    return files[mod].name == "__init__.py"


def _resolve(base: str, level: int, mod: str | None) -> str:
    # ``base`` is the package a level-1 import is relative to; each further dot goes up one
    parts = base.split(".")
    if level > 1:
        parts = parts[:len(parts) - (level - 1)]
    return ".".join(parts + ([mod] if mod else []))


def _edges(mod: str, files: dict[str, Path]) -> set[str]:
    """Modules of the package that ``mod`` imports (anywhere in its source)."""
    tree = ast.parse(files[mod].read_text(), filename=str(files[mod]))
    # relative imports resolve against the package: the module itself for an __init__
    base = mod if _is_package(mod, files) else mod.rpartition(".")[0]
    out: set[str] = set()

    def add(target: str) -> None:
        # the most specific module of the package that the dotted name starts with
        while target and target not in files:
            target = target.rpartition(".")[0]
        if target.startswith(NAME) and target != mod:
            out.add(target)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == NAME or alias.name.startswith(NAME + "."):
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                src = _resolve(base, node.level, node.module)
            else:
                src = node.module or ""
                if not (src == NAME or src.startswith(NAME + ".")):
                    continue
            for alias in node.names:
                sub = f"{src}.{alias.name}"
                add(sub if sub in files else src)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    files = _modules()
    return {m: _edges(m, files) for m in files}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module, or a self loop (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        # iterative Tarjan (the package graph is small, but recursion limits are not worth it)
        work = [(v, iter(sorted(graph.get(v, ()))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == node:
                            break
                    if len(comp) > 1 or node in graph.get(node, ()):
                        out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_graph_builder_sees_lazy_and_relative_imports(tmp_path):
    """The checker itself: a cycle closed only by a lazy import inside a function is found."""
    pkg = tmp_path / NAME
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import b\n")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..a import g\n    return g\n")
    (pkg / "c.py").write_text("import langevin_opt.sub.b\n")
    files = _modules(pkg, NAME)
    graph = {m: _edges(m, files) for m in files}
    assert graph[f"{NAME}.a"] == {f"{NAME}.sub.b"}
    assert graph[f"{NAME}.sub"] == {f"{NAME}.sub.b"}      # submodule, not the package
    assert graph[f"{NAME}.sub.b"] == {f"{NAME}.a"}        # the lazy import counts
    assert graph[f"{NAME}.c"] == {f"{NAME}.sub.b"}
    assert strongly_connected(graph) == [[f"{NAME}.a", f"{NAME}.sub.b"]]


def test_no_import_cycles():
    """No module of the package takes part in an import cycle, lazy imports included."""
    cycles = strongly_connected(import_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_cuda_imports_no_front_end():
    """``langevin_opt.cuda`` holds array drivers: it imports shared math, never a front end."""
    graph = import_graph()
    bad = sorted((m, t) for m, targets in graph.items() if m.startswith(NAME + ".cuda")
                 for t in targets if t in REEXPORTING
                 or any(t == f or t.startswith(f + ".") for f in FRONT_ENDS))
    assert not bad, "cuda imports front ends: " + ", ".join(f"{m} -> {t}" for m, t in bad)
