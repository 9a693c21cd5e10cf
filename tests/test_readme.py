"""The README's measured sections are exactly what the committed result files say."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_tables_are_fresh() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import readme_tables
    finally:
        sys.path.pop(0)
    readme = (ROOT / "README.md").read_text()
    assert readme_tables.render(readme) == readme, "README.md is stale: run python benchmarks/readme_tables.py"


def test_readme_names_both_setup_commands_and_ci_calls_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/main.sh" in readme and "bash scripts/test.sh" in readme
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def run_readme_block(heading: str) -> str:
    """Run the first Python block after ``heading`` in README.md as printed (a fresh interpreter, offline,
    embedded data); its stdout."""
    import re
    import subprocess

    section = (ROOT / "README.md").read_text().split(heading, 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"README block after {heading!r} failed:\n{out.stderr[-3000:]}"
    return out.stdout


def test_readme_quickstart_runs() -> None:
    """The Quickstart's Python block runs as printed."""
    run_readme_block("## Quickstart")


def test_readme_text_mode_block_runs() -> None:
    """The text-mode Quickstart block runs as printed, and the gold answer earns the full reward."""
    stdout = run_readme_block("### Text mode: the same tasks for language models")
    lines = stdout.strip().splitlines()
    assert "1.0 ''" in lines, stdout[-2000:]
    assert lines[-1] == "[1.0, 1.0]", stdout[-2000:]
