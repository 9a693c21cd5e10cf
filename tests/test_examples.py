"""Every lesson in ``examples/`` runs to the end with ``--smoke`` (its own assertions included).

Parametrized over the glob, so a new lesson is covered the moment it is added.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


def test_there_are_examples() -> None:
    assert EXAMPLES, "no examples/*.py found"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs_with_smoke(path: Path) -> None:
    head = path.read_text(encoding="utf-8")[:3000]
    for part in ("What you learn", "How to run", "Expected output"):
        assert part in head, f"{path.name}: the header has no {part!r} section"
    out = subprocess.run(
        [sys.executable, str(path), "--smoke"], cwd=path.parents[1], capture_output=True, text=True,
        timeout=300, env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert out.returncode == 0, (
        f"{path.name} --smoke failed (exit {out.returncode})\n--- stdout\n{out.stdout[-3000:]}\n"
        f"--- stderr\n{out.stderr[-3000:]}"
    )
