"""TextCls (text classification): spaces, rewards and costs, several examples per episode, and the env core
seen through it (example order, seeding, pinned indices, truncation), Banking77. ``evaluate`` over TextCls
is in ``test_evaluation.py``, the data layer in ``test_data.py``, tokenizers in ``test_tokenization.py``."""

from __future__ import annotations

import json
import os

import gymnasium as gym
import numpy as np
import pytest

import nlp_envs  # noqa: F401  (registers the ids)
from nlp_envs.core import ExampleOrder


def test_make_and_spaces() -> None:
    env = gym.make("TextCls-v0", info_mode="full")
    base = env.unwrapped
    assert env.action_space == gym.spaces.Discrete(len(base.label_names))
    assert len(base.label_names) >= 10
    space = env.observation_space
    assert set(space.spaces) == {"input_ids", "attention_mask"}
    assert space["input_ids"].dtype == np.int64 and space["input_ids"].shape == (64,)
    assert space["input_ids"].high.max() == base.encoder.vocab_size - 1
    obs, info = env.reset(seed=0)
    assert {"index", "text", "label", "truncated_input"} <= set(info)
    assert obs["input_ids"][0] == base.encoder.cls_id
    n_tokens = int(obs["attention_mask"].sum())
    assert obs["input_ids"][n_tokens - 1] == base.encoder.sep_id
    assert base.encoder.decode(obs["input_ids"]).replace(" ", "") in info["text"].lower().replace(" ", "")


def test_reward_is_correctness_and_info() -> None:
    env = gym.make("TextCls-v0")
    _, info = env.reset(seed=1)
    gold = info["label"]
    _, r, term, trunc, info2 = env.step(gold)
    assert (r, term, trunc) == (1.0, True, False)
    assert info2["correct"] and info2["prediction"] == gold and info2["index"] == info["index"]
    env.reset(seed=1)
    _, r, *_ = env.step((gold + 1) % env.action_space.n)
    assert r == 0.0


def test_cost_matrix_and_validation() -> None:
    k = gym.make("TextCls-v0").action_space.n
    cost = np.ones((k, k)) - np.eye(k)
    cost[:, 0] = 0.5
    env = gym.make("TextCls-v0", cost_matrix=cost.tolist())
    _, info = env.reset(seed=0)
    gold = info["label"]
    _, r, *_ = env.step(0)
    assert r == (1.0 if gold == 0 else 0.5)
    with pytest.raises(ValueError, match=r"cost_matrix has shape \(2, 2\)"):
        gym.make("TextCls-v0", cost_matrix=[[0, 1], [1, 0]])


def test_examples_per_episode() -> None:
    env = gym.make("TextCls-v0", examples_per_episode=3)
    env.reset(seed=0)
    seen = []
    for t in range(3):
        _, _, term, _, info = env.step(0)
        seen.append(info["index"])
        assert term == (t == 2)
    assert len(set(seen)) == 3


def test_sequential_order_visits_each_example_once_and_shuffle_reshuffles() -> None:
    env = gym.make("TextCls-v0", split="validation", order="sequential")
    n = env.unwrapped.num_examples
    idx = []
    for _ in range(n):
        _, info = env.reset()
        idx.append(info["index"])
        env.step(0)
    assert idx == list(range(n))
    order = ExampleOrder(10, "shuffle")
    rng = np.random.default_rng(0)
    pass1 = [order.next(rng) for _ in range(10)]
    pass2 = [order.next(rng) for _ in range(10)]
    assert sorted(pass1) == sorted(pass2) == list(range(10)) and pass1 != pass2
    shard = ExampleOrder(10, "sequential", shard_index=1, num_shards=3)
    assert [shard.next(rng) for _ in range(4)] == [1, 4, 7, 1]


def test_reset_index_option_and_seed_restart() -> None:
    env = gym.make("TextCls-v0")
    _, info = env.reset(options={"index": 17})
    assert info["index"] == 17
    _, a = env.reset(seed=5)
    _, b = env.reset(seed=5)
    assert a["index"] == b["index"]
    with pytest.raises(ValueError, match="out of range"):
        env.reset(options={"index": 10**9})


def test_truncation_is_flagged() -> None:
    env = gym.make("TextCls-v0", max_length=8)
    flagged = 0
    for i in range(50):
        obs, info = env.reset(options={"index": i})
        assert obs["input_ids"].shape == (8,)
        flagged += info["truncated_input"]
        if info["truncated_input"]:
            assert obs["attention_mask"].all() and obs["input_ids"][-1] == env.unwrapped.encoder.sep_id
    assert flagged > 0


@pytest.mark.data
def test_banking77_real_data(data_dir: str) -> None:
    env = gym.make("TextCls-Banking77-v0", split="test", data_dir=data_dir)
    base = env.unwrapped
    assert base.num_examples == 3080 and len(base.label_names) == 77
    assert "reverted_card_payment?" in base.label_names
    assert np.bincount(base.labels, minlength=77).tolist() == [40] * 77
    train = gym.make("TextCls-Banking77-v0", split="train", data_dir=data_dir).unwrapped
    val = gym.make("TextCls-Banking77-v0", split="validation", data_dir=data_dir).unwrapped
    assert train.num_examples + val.num_examples == 10003


def test_spec_kwargs_are_json() -> None:
    spec = gym.spec("TextCls-v0")
    assert json.loads(spec.to_json())["kwargs"] == {"dataset": "intents"}
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
