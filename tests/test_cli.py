"""The nlp-envs command line: list, eval (baselines and JSON), play driven by piped input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run_cli(*args: str, stdin: str | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nlp_envs.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout)


def test_list_json_includes_every_declared_id() -> None:
    from nlp_envs.registration import ENV_IDS

    out = run_cli("list", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["id"] for r in rows] == list(ENV_IDS)
    textcls = next(r for r in rows if r["id"] == "TextCls-v0")
    assert textcls["split_sizes"] == {"train": 4000, "validation": 500, "test": 1000}


@pytest.mark.parametrize("agent", ["random", "majority"])
def test_eval_baseline_json(agent: str) -> None:
    out = run_cli("eval", "TextCls-v0", "--agent", agent, "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["num_examples"] == 1000 and result["split"] == "test" and result["agent"] == agent
    assert 0.0 <= result["accuracy"] <= 0.2  # 16 balanced intents: chance is 1/16


def test_eval_unknown_target_is_clear() -> None:
    out = run_cli("eval", "NoSuchEnv-v0", "--agent", "random")
    assert out.returncode != 0
    assert "neither a registered env id nor a run directory" in out.stderr


def test_play_with_piped_input() -> None:
    # a wrong label name, a help request, then label numbers; input ends before the third episode ends
    out = run_cli("play", "TextCls-v0", "--episodes", "3", stdin="not_a_label\n?\n0\n1\n")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "is not a label" in text
    assert "actions: 0=" in text
    assert text.count("episode return:") == 2
    assert "gold:" in text and "chosen:" in text
    assert "(end of input)" in text
