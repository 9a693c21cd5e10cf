"""MultiChoiceQA (multiple-choice QA) beyond the conformance suite: direct and sequential modes, rewards,
masks, strict mode, ``evaluate`` accuracy by hand, parsing, ARC-Easy / ARC-Challenge."""

from __future__ import annotations

import gzip
import json
import os

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import InvalidAction

import nlp_envs
from nlp_envs.mcqa import ANSWER, NEXT
from nlp_envs.readers import DataError

SMALL = {"dataset_kwargs": {"sizes": {"train": 400, "validation": 120, "test": 60}}}


def test_direct_mode_reward_mask_and_strict() -> None:
    env = gym.make("MultiChoiceQA-v0", info_mode="full", **SMALL)
    base = env.unwrapped
    assert env.action_space.n == 5
    three = next(i for i in range(base.num_examples) if base._num[i] == 3)
    obs, info = env.reset(seed=0, options={"index": three})
    assert obs["num_options"][0] == 3 and info["action_mask"].tolist() == [True] * 3 + [False] * 2
    assert len(info["options"]) == 3 and info["question"].endswith("?")
    O = base.max_option_length
    assert obs["option_mask"].reshape(5, O)[3:].sum() == 0 and obs["option_mask"].reshape(5, O)[:3].any(axis=1).all()
    gold = info["answer"]
    _, r, term, _, info = env.step(gold)
    assert term and r == 1.0 and info["correct"] and info["prediction"] == gold
    env.reset(options={"index": three})
    _, r, term, _, info = env.step(4)  # a nonexistent option: wrong, episode over
    assert term and r == 0.0 and not info["correct"]
    strict = gym.make("MultiChoiceQA-v0", info_mode="full", strict=True, **SMALL)
    strict.reset(seed=0, options={"index": three})
    with pytest.raises(InvalidAction, match="does not exist"):
        strict.step(4)


def test_sequential_mode_answers_the_last_option_automatically() -> None:
    env = gym.make("MultiChoiceQA-v0", mode="sequential", **SMALL)
    base = env.unwrapped
    assert env.action_space.n == 2
    i = next(j for j in range(base.num_examples) if base._num[j] == 4)
    obs, info = env.reset(seed=0, options={"index": i})
    gold = info["answer"]
    assert obs["option_index"][0] == 0 and obs["num_options"][0] == 4
    assert np.array_equal(obs["option_ids"], base._o_ids[i, 0])
    for k in (1, 2, 3):
        obs, r, term, _, step_info = env.step(NEXT)
        assert not term and r == 0.0 and obs["option_index"][0] == k and step_info["option_index"] == k
        assert np.array_equal(obs["option_ids"], base._o_ids[i, k])
    _, r, term, _, info = env.step(NEXT)  # at the last option, NEXT answers it
    assert term and info["prediction"] == 3 and r == float(gold == 3)
    env.reset(options={"index": i})
    env.step(NEXT)
    _, r, term, _, info = env.step(ANSWER)
    assert term and info["prediction"] == 1 and r == float(gold == 1)
    assert base.parse_actions("next next answer") == [NEXT, NEXT, ANSWER]


def test_mcqa_evaluate_accuracy_by_hand() -> None:
    def policy(obs: dict) -> np.ndarray:
        return obs["question_ids"].sum(axis=1) % obs["num_options"][:, 0]

    result = nlp_envs.evaluate("MultiChoiceQA-v0", policy, split="validation", num_envs=16, **SMALL)
    env = gym.make("MultiChoiceQA-v0", split="validation", **SMALL)
    correct = []
    for i in range(env.unwrapped.num_examples):
        obs, info = env.reset(options={"index": i})
        correct.append(int(policy({k: v[None] for k, v in obs.items()})[0]) == info["answer"])
    assert result["accuracy"] == pytest.approx(np.mean(correct)) and result["num_examples"] == 120


def test_mcqa_parse_actions_direct() -> None:
    base = gym.make("MultiChoiceQA-v0", **SMALL).unwrapped
    base.reset(seed=0)
    assert base.parse_actions("b") == [1] and base.parse_actions("C") == [2] and base.parse_actions("0") == [0]
    with pytest.raises(ValueError, match="not an option"):
        base.parse_actions("maybe")


# -- real data ----------------------------------------------------------------------------------------


def test_arc_numeric_labels_mapped_by_position(data_dir: str) -> None:
    with gzip.open(os.path.join(data_dir, "arc", "ARC-Easy", "train.json.gz"), "rt", encoding="utf-8") as f:
        items = json.load(f)
    env = gym.make("MultiChoiceQA-ARCEasy-v0", info_mode="full", data_dir=data_dir)
    numeric = [i for i, it in enumerate(items) if it["choices"]["label"][0] == "1"]
    assert len(numeric) == 102
    for i in numeric[:10]:
        _, info = env.reset(options={"index": i})
        labels = items[i]["choices"]["label"]
        assert info["answer"] == labels.index(items[i]["answerKey"])
        assert info["options"] == tuple(items[i]["choices"]["text"])


def test_arc_challenge_is_evaluation_only(data_dir: str) -> None:
    with pytest.raises(DataError, match=r"evaluation-only.*split='test'"):
        gym.make("MultiChoiceQA-ARCChallenge-v0", data_dir=data_dir, split="train")
    env = gym.make("MultiChoiceQA-ARCChallenge-v0", data_dir=data_dir)
    assert env.unwrapped.split == "test" and env.unwrapped.num_examples == 1172
    easy = gym.make("MultiChoiceQA-ARCEasy-v0", data_dir=data_dir)
    assert env.unwrapped.encoder.fingerprint == easy.unwrapped.encoder.fingerprint  # vocabulary of ARC-Easy train
    result = nlp_envs.evaluate("MultiChoiceQA-ARCChallenge-v0", lambda obs: np.zeros(len(obs["num_options"]), int),
                               data_dir=data_dir, num_envs=32)
    assert result["num_examples"] == 1172 and 0.1 < result["accuracy"] < 0.5
