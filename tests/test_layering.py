"""Layering of the code, read from the source with ``ast`` (imports at module level and inside functions):

    nlp_envs (the env library)  <-  nlp_envs.agents  <-  nlp_envs.cli (the top floor)

1. the env library (every module of ``nlp_envs/`` but ``nlp_envs/agents/`` and ``nlp_envs/cli.py``) imports
   neither ``nlp_envs.agents`` nor ``nlp_envs.cli``;
2. nothing under ``nlp_envs/``, ``benchmarks/`` or ``examples/`` imports ``nlp_envs.cli`` but the CLI itself
   (tests may: they run it; benchmarks and examples run it as a subprocess, never import it);
3. the imports among the modules of ``nlp_envs.agents`` form no cycle;
4. ``nlp_envs.agents`` never imports ``benchmarks``.

``importlib.import_module("a.b")`` with a literal name counts as an import; one with a computed name (the
trainer's ``f"nlp_envs.agents.{algo}"``) cannot be read here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AGENTS = "nlp_envs.agents"
CLI = "nlp_envs.cli"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules(*folders: str) -> dict[str, Path]:
    """``{dotted name: path}`` of every Python file under ``folders`` (of the repository root)."""
    found: dict[str, Path] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "__pycache__" not in path.parts:
                found[_module_name(path)] = path
    return found


ALL = _modules("nlp_envs", "benchmarks", "examples")


def _is_package(name: str) -> bool:
    return name in ALL and ALL[name].name == "__init__.py"


def imports_of(name: str, path: Path) -> dict[str, int]:
    """``{imported module: first line}`` of the module ``name`` at ``path``: ``import a.b`` gives ``a.b``;
    ``from a import b`` gives ``a.b`` when that is a module of this repository, else ``a``; relative imports
    are resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if _is_package(name) else name.rpartition(".")[0]
    out: dict[str, int] = {}

    def add(mod: str, line: int) -> None:
        out.setdefault(mod, line)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                add(sub if sub in ALL else mod, node.lineno)
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id == "import_module"))):
            add(node.args[0].value, node.lineno)
    return out


def _within(mod: str, package: str) -> bool:
    return mod == package or mod.startswith(package + ".")


def _violations(modules: dict[str, Path], forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for name, path in modules.items():
        for mod, line in imports_of(name, path).items():
            if any(_within(mod, f) for f in forbidden):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {mod}")
    return bad


def test_the_env_library_imports_neither_the_agents_nor_the_cli() -> None:
    library = {n: p for n, p in ALL.items() if _within(n, "nlp_envs") and not _within(n, AGENTS) and n != CLI}
    assert "nlp_envs.core" in library and "nlp_envs.kv" in library
    assert _violations(library, (AGENTS, CLI)) == []


def test_nothing_imports_the_cli() -> None:
    """The CLI is the top floor: library code, agents, benchmarks and examples never import it."""
    others = {n: p for n, p in ALL.items() if n != CLI}
    assert any(_within(n, AGENTS) for n in others) and any(n.startswith("benchmarks.") for n in others)
    assert _violations(others, (CLI,)) == []


def test_the_agents_do_not_import_the_benchmarks() -> None:
    agents = {n: p for n, p in ALL.items() if _within(n, AGENTS)}
    assert _violations(agents, ("benchmarks",)) == []


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (``[a, b, ..., a]``), or None when it is a DAG."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def agents_graph() -> dict[str, set[str]]:
    """The import graph among the modules of ``nlp_envs.agents`` (the package ``__init__`` included)."""
    agents = {n: p for n, p in ALL.items() if _within(n, AGENTS)}
    graph: dict[str, set[str]] = {}
    for name, path in agents.items():
        graph[name] = {m for m in imports_of(name, path) if m in agents and m != name}
    return graph


def test_the_agents_import_graph_is_a_dag() -> None:
    graph = agents_graph()
    assert len(graph) > 10 and any(graph.values())
    cycle = _cycle(graph)
    assert cycle is None, "import cycle among the agents' modules: " + " -> ".join(cycle or [])


def test_the_checks_see_what_they_look_for(tmp_path: Path) -> None:
    """The reader finds function-level, ``from``-, relative and ``import_module`` imports; the cycle finder
    finds cycles."""
    probe = tmp_path / "probe.py"
    probe.write_text("import os\n"
                     "def f():\n    from nlp_envs import cli\n"
                     "def g():\n    from . import rollout, config as c\n    from .policy import make_policy\n"
                     "def h():\n    import importlib\n    return importlib.import_module('benchmarks.bench')\n")
    found = imports_of(f"{AGENTS}.probe", probe)
    assert {"os", CLI, f"{AGENTS}.rollout", f"{AGENTS}.config", f"{AGENTS}.policy", "benchmarks.bench"} <= set(found)
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
