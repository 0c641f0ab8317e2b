"""The import graph of shapecli/, read from the source: no cycle anywhere.

Every import counts, those inside functions too. Importing `a.b.c` also imports the packages `a`
and `a.b` (their __init__ runs first), except the packages the importer itself lives in, which
Python has already begun importing before the importer runs.
"""
import ast
from pathlib import Path

from conftest import ROOT


def _modules() -> dict:
    out = {}
    for p in sorted((Path(ROOT) / "shapecli").rglob("*.py")):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    return out


def _ancestors(name: str) -> set:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def import_graph() -> dict:
    """{module: the shapecli modules it imports}."""
    mods = _modules()
    graph = {}
    for name, (path, is_pkg) in mods.items():
        package = name if is_pkg else name.rpartition(".")[0]
        own = _ancestors(name) | {name}
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in mods:  # `import shapecli.x.y` names a module; torch and the like drop out
                    t = t.rpartition(".")[0]
                if t:
                    deps |= ({t} | _ancestors(t)) - own
        graph[name] = deps
    return graph


def cycles(graph: dict) -> list:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_the_imports():
    g = import_graph()
    assert "shapecli.run.engine" in g["shapecli.api"] or "shapecli.run.engine" in g["shapecli.baseline.workflow"]
    assert "shapecli.model.args" in g["shapecli.load"]  # an import inside a function counts
    assert "shapecli.baseline" in g["shapecli.api"]  # importing baseline.workflow runs baseline/__init__ first
    assert "shapecli" not in g["shapecli.api"]  # ... but not the package the importer lives in


def test_a_cycle_is_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle():
    assert cycles(import_graph()) == []
