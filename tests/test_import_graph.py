"""The import graph between magec's parts (top-level modules and packages) has no cycles, and the
store stays generic: it imports no subsystem (rules and the snapshot builder are injected).

Every ``import`` / ``from … import`` of a ``magec.*`` module counts, including imports inside
functions (a lazy import is still a dependency). Alembic migrations (``magec/store/migrations``)
are loaded by path, never imported by the store, and create every part's tables: they are a node of
their own. ``if TYPE_CHECKING:`` imports are annotations only and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import magec

ROOT = Path(magec.__file__).parent


def _part(path: Path) -> str:
    rel = path.relative_to(ROOT)
    if rel.parts[:2] == ("store", "migrations"):
        return "store.migrations"
    return rel.parts[0].removesuffix(".py") if len(rel.parts) == 1 else rel.parts[0]


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _edges() -> dict[str, dict[str, list[str]]]:
    """part -> imported part -> ["file:line", …]"""
    edges: dict[str, dict[str, list[str]]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        src = _part(path)
        tree = ast.parse(path.read_text(), str(path))
        skip = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
                if node.module == "magec":  # from magec import x: x is the part
                    names = [f"magec.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] != "magec" or len(parts) < 2:
                    continue
                dst = "store.migrations" if parts[1:3] == ["store", "migrations"] else parts[1]
                if dst != src:
                    where = f"{path.relative_to(ROOT.parent)}:{node.lineno}"
                    edges.setdefault(src, {}).setdefault(dst, []).append(where)
    return edges


def _cycles(edges: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Strongly connected components with more than one part (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def test_no_cycles_between_parts() -> None:
    edges = _edges()
    cycles = _cycles(edges)
    detail = [
        f"{a} -> {b}: {', '.join(edges[a][b][:3])}"
        for comp in cycles
        for a in comp
        for b in edges.get(a, {})
        if b in comp
    ]
    assert not cycles, "import cycles between parts:\n" + "\n".join(detail)


def test_store_imports_no_subsystem() -> None:
    store = _edges().get("store", {})
    bad = {part: where for part, where in store.items() if part in {"backends", "memory", "flows", "runtime", "agents", "config_view"}}
    assert not bad, f"magec/store must stay generic (rules and the snapshot builder are injected): {bad}"
