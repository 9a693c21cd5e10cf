"""Generated docs (``docs/envs``): fresh, deterministic, one page per registered id."""

from __future__ import annotations

from pathlib import Path

from nlp_envs.docs import MARKER, generate_docs, render_docs, stale_pages
from nlp_envs.registration import ENV_IDS

DOCS = Path(__file__).resolve().parents[1] / "docs" / "envs"
FIX = "regenerate them with `nlp-envs docs` (from the repository root) and commit docs/envs/"


def test_committed_docs_are_fresh(tmp_path: Path) -> None:
    written = generate_docs(tmp_path)
    assert [p.name for p in written] == [f"{i}.md" for i in ENV_IDS] + ["README.md"]
    committed = sorted(p.name for p in DOCS.glob("*.md")) if DOCS.is_dir() else []
    missing = sorted({p.name for p in written} - set(committed))
    extra = sorted(set(committed) - {p.name for p in written})
    stale = [p.name for p in written
             if p.name in committed and (DOCS / p.name).read_bytes() != p.read_bytes()]
    assert not (missing or extra or stale), (
        f"docs/envs is out of date (stale: {stale}, missing: {missing}, not generated: {extra}); {FIX}"
    )


def test_check_reports_stale_pages_without_writing(tmp_path: Path) -> None:
    pages = render_docs()
    assert stale_pages(tmp_path, pages) == list(pages)  # empty folder: all missing
    assert not any(tmp_path.iterdir())
    generate_docs(tmp_path)
    assert stale_pages(tmp_path, pages) == []
    (tmp_path / "TextCls-v0.md").write_text("edited by hand\n")
    (tmp_path / "Gone-v0.md").write_text(MARKER + "\n# an id no longer registered\n")
    (tmp_path / "notes.md").write_text("not generated: left alone\n")
    assert stale_pages(tmp_path, pages) == ["TextCls-v0.md", "Gone-v0.md"]
    generate_docs(tmp_path)
    assert not (tmp_path / "Gone-v0.md").exists() and (tmp_path / "notes.md").exists()


def test_pages_have_the_sections_and_live_spaces() -> None:
    pages = render_docs()
    for env_id in ENV_IDS:
        text = pages[f"{env_id}.md"]
        assert text.startswith(MARKER + "\n") and f"# {env_id}\n" in text
        for section in ("## Spaces", "## Description", "## Action Space", "## Observation Space",
                        "## Rewards", "## Episode End", "## Text mode", "## Text prompt and answers",
                        "## Registered configurations",
                        "## Sample episode"):
            assert section in text, f"{env_id}: no {section!r}"
        assert "/work/" not in text and "/tmp/" not in text, f"{env_id}: absolute path in the page"
        assert "Prompt template" in text and "Accepted answers:" in text, f"{env_id}: no text-mode template"
    text = pages["TextCls-v0.md"]
    assert "action_space = Discrete(" in text and "'input_ids': Box(0, " in text
    assert "reset(seed=0)" in text and "episode return" in text
    assert "[TextCls-Banking77-v0](TextCls-Banking77-v0.md)" in text  # its registered configurations
    assert "require the real data" in pages["TextCls-Banking77-v0.md"]
    index = pages["README.md"]
    for env_id in ENV_IDS:
        assert f"[{env_id}]({env_id}.md)" in index


def test_cli_docs_check(tmp_path: Path) -> None:
    from nlp_envs.cli import main

    assert main(["docs", "--out", str(tmp_path), "--check"]) == 1
    assert main(["docs", "--out", str(tmp_path)]) == 0
    assert main(["docs", "--out", str(tmp_path), "--check"]) == 0
