"""Packaging: the wheel holds one top-level import package, ``nlp_envs`` (the agents are ``nlp_envs.agents``),
so it installs beside the OpenAI Agents SDK (``pip install openai-agents``), whose import package is
``agents``.

The wheel is built from a copy of the package sources (``pyproject.toml``, ``README.md``, ``LICENSE``,
``nlp_envs/``) with the interpreter's own setuptools (``--no-build-isolation``: nothing is downloaded), so
that a ``build/`` folder left in the working tree by another build cannot leak into it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DIST = "nlp_envs-"  # the wheel's file name and its .dist-info folder start with this


def _pip(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of the package, built from a clean copy of its sources."""
    pytest.importorskip("setuptools", reason="building the wheel needs setuptools in this venv (the dev extra)")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "nlp_envs", src / "nlp_envs",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    out = tmp_path_factory.mktemp("wheel")
    proc = _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out), str(src), timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (whl,) = out.glob(f"{DIST}*.whl")
    return whl


def test_wheel_has_one_top_level_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].startswith(DIST)}
    assert tops == {"nlp_envs"}, f"top-level entries of {wheel.name} besides its dist-info: {sorted(tops)}"
    (record,) = [n for n in names if n.endswith(".dist-info/RECORD")]
    recorded = {line.split(",")[0].split("/")[0] for line in zipfile.ZipFile(wheel).read(record).decode().splitlines()}
    assert {t for t in recorded if not t.startswith(DIST)} == {"nlp_envs"}
    top_level = [n for n in names if n.endswith(".dist-info/top_level.txt")]
    if top_level:  # setuptools writes it: the import names the distribution provides
        assert zipfile.ZipFile(wheel).read(top_level[0]).decode().split() == ["nlp_envs"]


def test_wheel_has_the_agents_and_their_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    hyperparams = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "nlp_envs/agents/hyperparams").glob("*.yml"))
    assert {"nlp_envs/agents/hyperparams/transformer.yml", "nlp_envs/agents/hyperparams/sb3.yml"} <= set(hyperparams)
    for name in [*hyperparams, "nlp_envs/py.typed", "nlp_envs/agents/py.typed", "nlp_envs/agents/__init__.py",
                 "nlp_envs/agents/train.py"]:
        assert name in names, f"{name} is not in {wheel.name}"
    # every source module of the package ships (a folder without __init__.py would be easy to lose)
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "nlp_envs").rglob("*.py") if "__pycache__" not in p.parts}
    assert sources <= names, f"modules missing from the wheel: {sorted(sources - names)}"


@pytest.mark.slow
def test_installs_beside_openai_agents(wheel: Path, tmp_path: Path) -> None:
    """A plain venv (no system site-packages, so no ``agents`` but the SDK's) with ``openai-agents`` from
    PyPI, and our wheel without its heavy dependencies (``import nlp_envs.agents`` needs only gymnasium
    and numpy): one interpreter imports ``from agents import Agent, Runner`` and ``nlp_envs.agents``."""
    dl = tmp_path / "dl"
    try:  # is PyPI reachable? (fetches the SDK's own wheel, used below)
        probe = _pip("download", "--no-deps", "--only-binary=:all:", "--retries", "1", "--timeout", "20",
                     "-d", str(dl), "openai-agents", timeout=60)
    except subprocess.TimeoutExpired:
        pytest.skip("PyPI is unreachable (pip download openai-agents timed out after 60 s)")
    if probe.returncode != 0:
        pytest.skip(f"PyPI is unreachable (pip download openai-agents failed): {probe.stderr.strip()[-300:]}")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = str(venv / "bin" / "python")
    (sdk,) = dl.glob("openai_agents-*.whl")
    proc = _pip("--python", py, "install", "--quiet", "--retries", "1", "--timeout", "30",
                str(sdk), "gymnasium>=1.0,<2", "numpy>=1.24", timeout=900)
    if proc.returncode != 0 and ("connection" in proc.stderr.lower() or "timed out" in proc.stderr.lower()):
        pytest.skip(f"PyPI is unreachable (installing openai-agents' requirements): {proc.stderr.strip()[-300:]}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = _pip("--python", py, "install", "--quiet", "--no-deps", "--no-index", str(wheel), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check = """
import importlib.resources, pathlib, sys
from agents import Agent, Runner
import agents
import nlp_envs.agents
from nlp_envs.agents import load_policy, train
site = pathlib.Path(sys.prefix).resolve()
for mod in (agents, nlp_envs.agents):
    assert site in pathlib.Path(mod.__file__).resolve().parents, (mod.__name__, mod.__file__, site)
assert pathlib.Path(agents.__file__).resolve().parent != pathlib.Path(nlp_envs.agents.__file__).resolve().parent
assert Agent.__module__.startswith("agents.") and callable(Runner.run), Agent.__module__
assert (importlib.resources.files("nlp_envs.agents") / "hyperparams" / "transformer.yml").is_file()
assert callable(load_policy) and callable(train) and "TextCls-v0" in nlp_envs.ENV_IDS
print("ok", agents.__file__, nlp_envs.agents.__file__)
"""
    run = subprocess.run([py, "-I", "-c", check], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("ok ")
