"""The import graph between magec's parts (top-level modules and packages) has no cycles, and the
store stays generic: it imports no subsystem (rules and the snapshot builder are injected). The
other rules of docs/architecture.md that a reading of the code can check are pinned here too:
vendor and platform SDKs only in their own folder, ``agents/`` below ``runtime/`` and ``flows/``,
the runtime below every part that plugs into it, modules of at most 600 lines with a contract
docstring, every part named in the package map.

Every ``import`` / ``from … import`` of a ``magec.*`` module counts, including imports inside
functions (a lazy import is still a dependency). Alembic migrations (``magec/store/migrations``)
are loaded by path, never imported by the store, and create every part's tables: they are a node of
their own. ``if TYPE_CHECKING:`` imports are annotations only and do not count.
"""

from __future__ import annotations

import ast
import re
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


def _imports() -> list[tuple[Path, int, str]]:
    """Every imported module name (``from a.b import c`` also as ``a.b.c``), with file and line."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(path, node.lineno, a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found += [(path, node.lineno, node.module)]
                found += [(path, node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


#: an SDK -> the one folder that may import it. ``google.genai.types`` is ADK's message vocabulary
#: (Content, Part), used everywhere; the rest of google-genai is the Gemini backend's.
SDK_HOMES = {
    "openai": "backends/openai",
    "anthropic": "backends/anthropic",
    "google.genai": "backends/gemini",
    "telegram": "clients/telegram",
    "slack_sdk": "clients/slack",
}


def test_vendor_sdks_only_in_their_folder() -> None:
    bad = []
    for path, line, name in _imports():
        for sdk, home in SDK_HOMES.items():
            if name != sdk and not name.startswith(sdk + "."):
                continue
            if sdk == "google.genai" and (name == "google.genai.types" or name.startswith("google.genai.types.")):
                continue
            rel = path.relative_to(ROOT).as_posix()
            if not rel.startswith(home + "/"):
                bad.append(f"{rel}:{line}: {name}")
    # "from google.genai import types" also names google.genai itself: allowed when all it takes is types
    bad = [b for b in bad if not b.endswith(": google.genai") or not _takes_only_types(b)]
    assert not bad, "vendor SDKs are imported only under their own folder:\n" + "\n".join(bad)


def _takes_only_types(where: str) -> bool:
    rel, line, _ = where.split(":", 2)
    node = next(
        n for n in ast.walk(ast.parse((ROOT / rel).read_text()))
        if isinstance(n, ast.ImportFrom) and n.lineno == int(line) and n.module == "google.genai"
    )
    return all(a.name == "types" for a in node.names)


def test_agents_import_neither_runtime_nor_flows() -> None:
    agents = _edges().get("agents", {})
    bad = {part: where for part, where in agents.items() if part in {"runtime", "flows"}}
    assert not bad, f"magec/agents is built on by runtime/ and flows/, never the other way: {bad}"


#: the parts that plug into the runtime (build hooks, turn observers) or serve it: it imports none
ABOVE_RUNTIME = {
    "flows", "tools", "skills", "artifacts", "audit", "costs", "clients", "voice", "a2a", "api",
    "admin_mcp", "backup", "workers", "server", "cli",
}


def test_runtime_imports_nothing_built_on_it() -> None:
    runtime = _edges().get("runtime", {})
    bad = {part: where for part, where in runtime.items() if part in ABOVE_RUNTIME}
    assert not bad, f"magec/runtime reaches its plug-ins only through BuildDeps and hooks: {bad}"


MAX_LINES = 600


def test_modules_are_small_and_state_their_contract() -> None:
    big, silent = [], []
    for path in sorted(ROOT.rglob("*.py")):
        text = path.read_text()
        rel = path.relative_to(ROOT).as_posix()
        if len(text.splitlines()) > MAX_LINES:
            big.append(f"{rel}: {len(text.splitlines())} lines")
        tree = ast.parse(text)
        if tree.body and ast.get_docstring(tree) is None:
            silent.append(rel)
    assert not big, f"modules over {MAX_LINES} lines (split by concern): {big}"
    assert not silent, f"modules without a contract docstring: {silent}"


def test_the_package_map_names_every_part() -> None:
    """docs/architecture.md's package map names every top-level package and module of magec."""
    doc = (ROOT.parent / "docs" / "architecture.md").read_text()
    block = doc.split("## Packages", 1)[1].split("```", 2)[1]
    named = set(re.findall(r"\b([a-z0-9_]+(?:\.py|/))", block))
    parts = {
        f"{p.name}/" if p.is_dir() else p.name
        for p in ROOT.iterdir()
        if (p.is_dir() and p.name != "__pycache__") or (p.suffix == ".py" and p.name not in {"__init__.py", "__main__.py"})
    }
    missing = sorted(parts - named)
    assert not missing, f"parts missing from docs/architecture.md's package map: {missing}"
