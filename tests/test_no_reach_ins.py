"""The agents (``nlp_envs/agents/``) and the benchmarks (``benchmarks/``) use only public APIs of the envs and of
each other, read from the source with ``ast``.

A *reach-in* is an attribute access ``X._name`` (one leading underscore, or a mangled ``__name``; never a dunder
such as ``__class__``), read or written, where ``X`` is none of

* ``self`` or ``cls``, ``super()``, ``type(self)``;
* a module imported by that file (``np._NoValue``-style module internals are that module's business);
* a class defined in that file, or an object of one: a name annotated with such a class (``x: Foo``,
  ``x: Foo | None``, ``"Foo"``) or assigned from a call of it (``x = Foo(...)``) in the same function.

``getattr``/``setattr``/``hasattr``/``delattr`` with a literal private name count too, and so does
``from module import _name`` of another module's private name. The few legitimate cases are in
:data:`ALLOWED`, each with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("nlp_envs/agents", "benchmarks")

#: ``(file, what) -> why`` for the reach-ins that stay. ``what`` is the access as the source writes it
#: (``ast.unparse`` of the attribute, or ``from module import _name``).
ALLOWED: dict[tuple[str, str], str] = {
    ("nlp_envs/agents/sb3.py", "model._get_torch_save_params"):
        "Stable-Baselines3's own (third-party) list of the tensors it saves: loading a checkpoint without "
        "unpickling its `data` needs it, and SB3 has no public equivalent",
    ("nlp_envs/agents/devices.py", "torch.ops.mkldnn._is_mkldnn_bf16_supported"):
        "torch's (third-party) oneDNN query of native CPU bf16 (AVX-512 BF16 or AMX), the kernels CPU autocast runs "
        "on; torch has no public equivalent (torch.backends.cpu.get_cpu_capability says AVX512, not whether bf16 is in it)",
    ("benchmarks/peers_nlpgym_child.py", "SeqTagEnv._tokenize"):
        "the peer benchmark patches the third-party NLPGym SeqTagEnv's tokenizer (a downloaded model) with a "
        "whitespace split, offline; NLPGym has no option for it",
}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _annotation_names(node: ast.expr | None) -> set[str]:
    """Class names an annotation mentions (``Foo``, ``Foo | None``, ``Optional[Foo]``, ``"Foo"``)."""
    if node is None:
        return set()
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return set()
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


class _Scanner(ast.NodeVisitor):
    def __init__(self, tree: ast.Module) -> None:
        self.modules: set[str] = set()
        self.classes = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        for n in ast.walk(tree):
            if isinstance(n, ast.Import):
                self.modules.update((a.asname or a.name).split(".")[0] for a in n.names)
        self.local_objects: list[set[str]] = [set()]  # per function scope: names holding objects of local classes
        self.found: list[tuple[int, str]] = []

    # -- what X may be ---------------------------------------------------------------------------------
    def _owned(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return (node.id in {"self", "cls"} | self.modules | self.classes
                    or any(node.id in scope for scope in self.local_objects))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "super":
                return True
            if node.func.id == "type" and len(node.args) == 1:
                return self._owned(node.args[0])
        return False

    def _is_local_class_call(self, node: ast.expr) -> bool:
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in self.classes

    # -- scopes ----------------------------------------------------------------------------------------
    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        scope = set()
        a = node.args
        for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, *([a.vararg] if a.vararg else []),
                    *([a.kwarg] if a.kwarg else [])]:
            if _annotation_names(arg.annotation) & self.classes:
                scope.add(arg.arg)
        self.local_objects.append(scope)
        self.generic_visit(node)
        self.local_objects.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_Assign(self, node: ast.Assign) -> None:
        if self._is_local_class_call(node.value):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    self.local_objects[-1].add(t.id)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if isinstance(node.target, ast.Name) and (
                _annotation_names(node.annotation) & self.classes
                or (node.value is not None and self._is_local_class_call(node.value))):
            self.local_objects[-1].add(node.target.id)
        self.generic_visit(node)

    # -- accesses --------------------------------------------------------------------------------------
    def visit_Attribute(self, node: ast.Attribute) -> None:
        if _private(node.attr) and not self._owned(node.value):
            self.found.append((node.lineno, ast.unparse(node)))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        if (isinstance(f, ast.Name) and f.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
                and _private(node.args[1].value) and not self._owned(node.args[0])):
            self.found.append((node.lineno, ast.unparse(node)))
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if _private(alias.name):
                self.found.append((node.lineno, f"from {'.' * node.level}{node.module or ''} import {alias.name}"))


def reach_ins(path: Path) -> list[tuple[int, str]]:
    """``(line, access)`` of every reach-in of the file at ``path`` (see the module doc), allowed or not."""
    scanner = _Scanner(tree := ast.parse(path.read_text(), filename=str(path)))
    scanner.visit(tree)
    return sorted(set(scanner.found))


def _files() -> list[Path]:
    return [p for folder in FOLDERS for p in sorted((ROOT / folder).rglob("*.py")) if "__pycache__" not in p.parts]


def test_agents_and_benchmarks_use_only_public_apis() -> None:
    bad = []
    for path in _files():
        rel = path.relative_to(ROOT).as_posix()
        bad += [f"{rel}:{line}: {what}" for line, what in reach_ins(path) if (rel, what) not in ALLOWED]
    assert not bad, ("private attributes of objects this file does not own (use or add a public, documented "
                     "API instead; a third-party private API that must be called goes in ALLOWED with its "
                     "reason):\n" + "\n".join(bad))


def test_every_allowed_reach_in_still_exists() -> None:
    """An entry of :data:`ALLOWED` whose access is gone must go too (the list only shrinks)."""
    present = {(p.relative_to(ROOT).as_posix(), what) for p in _files() for _, what in reach_ins(p)}
    assert not set(ALLOWED) - present, f"stale ALLOWED entries: {sorted(set(ALLOWED) - present)}"


def test_the_scanner_sees_each_kind_of_reach_in(tmp_path: Path) -> None:
    src = tmp_path / "probe.py"
    src.write_text(
        "import numpy as np\n"
        "from nlp_envs.metrics import _tokens\n"
        "class Own:\n"
        "    def __init__(self):\n"
        "        self._x = 1\n"
        "    def same(self, other: 'Own | None') -> int:\n"
        "        return other._x + type(self)._y + super()._z + Own._w\n"
        "def f(env, base):\n"
        "    mine = Own()\n"
        "    env._facts[0] = base.venv._rngs\n"
        "    setattr(env, '_secret', 1)\n"
        "    return mine._x, np._NoValue, env.__class__, env.public\n"
    )
    assert [what for _, what in reach_ins(src)] == [
        "from nlp_envs.metrics import _tokens", "base.venv._rngs", "env._facts", "setattr(env, '_secret', 1)"]
