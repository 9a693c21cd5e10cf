"""``nlp-envs play`` works for every family: driven by piped input, it prints each step's reward, the
episode return and a running metric. Parametrized over the registry, so a new family is covered the
moment it is registered with embedded data."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import gymnasium as gym
import pytest

from nlp_envs.registration import registered_ids
from tests.helpers import embedded_ids

EMBEDDED_IDS = embedded_ids()
#: "?" (help), then "0" lines: action 0 / label 0 / tag O / option A / candidate 0 / the reply "0"
SCRIPT = "?\n" + "0\n" * 200
REWARD = re.compile(r"reward [+-]\d+\.\d{3}\s+return -?\d+\.\d{3}")
RUNNING = re.compile(r"running: 1 episode, mean return -?\d+\.\d{3}, [A-Za-z][\w ]* -?\d+\.\d{3}")


def test_every_family_has_an_embedded_id() -> None:
    entry_points = {str(gym.spec(i).entry_point) for i in registered_ids()}
    embedded = {str(gym.spec(i).entry_point) for i in EMBEDDED_IDS}
    assert entry_points == embedded, f"families with no embedded-data id to play: {entry_points - embedded}"


@pytest.mark.parametrize("env_id", EMBEDDED_IDS)
def test_play_one_episode_with_piped_input(env_id: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "nlp_envs.cli", "play", env_id, "--episodes", "1"],
        input=SCRIPT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    text = out.stdout
    assert out.returncode == 0, f"{env_id}: exit {out.returncode}\n{out.stderr[-3000:]}"
    assert REWARD.search(text), f"{env_id}: no reward line\n{text}"
    assert re.search(r"episode return: -?\d+\.\d{3}", text), f"{env_id}: no episode return line\n{text}"
    assert RUNNING.search(text), f"{env_id}: no running metric line\n{text}"
    assert "(end of input)" not in text, f"{env_id}: the scripted input did not finish an episode\n{text}"
    assert "type " in text, f"{env_id}: '?' printed no help\n{text}"


def test_play_scores_each_episode_by_its_last_step() -> None:
    """Lean info carries ``entity_f1`` on every step of NER (a running value); play's running metric is
    the mean over episodes of the value on each episode's last step, not the mean over all steps."""
    env_id, episodes = "NerTag-v1", 2
    env = gym.make(env_id)
    final, every_step = [], []
    for ep in range(episodes):  # what play does with --seed 0: seed the first episode only
        env.reset(seed=None if ep else 0)
        while True:
            _, _, term, trunc, info = env.step(env.unwrapped.parse_actions("0")[0])
            every_step.append(float(info["entity_f1"]))
            if term or trunc:
                final.append(float(info["entity_f1"]))
                break
    expected, wrong = f"{sum(final) / episodes:.3f}", f"{sum(every_step) / len(every_step):.3f}"
    assert expected != wrong, "pick a script whose per-step mean differs from the per-episode one"
    out = subprocess.run(
        [sys.executable, "-m", "nlp_envs.cli", "play", env_id, "--episodes", str(episodes), "--seed", "0"],
        input="0\n" * 400, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    last = [line for line in out.stdout.splitlines() if line.startswith(f"running: {episodes} episodes")]
    assert last and f"entity F1 {expected}" in last[-1], (expected, wrong, out.stdout[-2000:])


@pytest.mark.parametrize("env_id", EMBEDDED_IDS)
def test_play_text_mode_with_piped_input(env_id: str) -> None:
    """``play --text``: the prompt, '?' prints the accepted answers, a gold answer scores its reward, a bad one
    shows its parse error (every family but DialogReply, where any line is a reply)."""
    env = gym.make(env_id, obs_mode="text")
    env.reset(seed=0)
    gold = env.unwrapped.gold_answer()
    out = subprocess.run(
        [sys.executable, "-m", "nlp_envs.cli", "play", env_id, "--text", "--episodes", "2"],
        input=f"?\n{gold}\n)))(((\n", capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    text = out.stdout
    assert out.returncode == 0, f"{env_id}: exit {out.returncode}\n{out.stderr[-3000:]}"
    assert env.unwrapped.prompt().splitlines()[0] in text, f"{env_id}: no prompt\n{text}"
    assert env.unwrapped.text_codec.answer_formats[:40] in text, f"{env_id}: '?' printed no answer formats\n{text}"
    assert re.search(r"episode return: -?\d+\.\d{3}", text) and "running: 2 episodes" in text, text
    if not env_id.startswith("DialogReply"):
        assert "reward +1.000" in text and "parse error:" in text, f"{env_id}\n{text}"
