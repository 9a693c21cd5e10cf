"""MultiLabelCls (multi-label classification) beyond the conformance suite: set rewards, masks, STOP and
max_labels, strict mode, ``evaluate`` against ``multilabel_metrics``, parsing and rendering, GoEmotions."""

from __future__ import annotations

import csv
import json
import os

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import InvalidAction

import nlp_envs
from nlp_envs.metrics import multilabel_metrics

SMALL = {"dataset_kwargs": {"sizes": {"train": 400, "validation": 120, "test": 60}}}


def _f1(pred: set, gold: set) -> float:
    return 1.0 if not pred and not gold else 2 * len(pred & gold) / (len(pred) + len(gold))


def _jaccard(pred: set, gold: set) -> float:
    return 1.0 if not pred and not gold else len(pred & gold) / len(pred | gold)


def _play(env: gym.Env, rng: np.random.Generator, *, masked: bool = True) -> tuple[list[float], dict, list[dict]]:
    """One episode of random (masked) actions; returns rewards, final info and all step infos."""
    base = env.unwrapped
    rewards, infos = [], []
    while True:
        allowed = np.flatnonzero(base.action_masks()) if masked else np.arange(env.action_space.n)
        _, r, term, trunc, info = env.step(int(rng.choice(allowed)))
        rewards.append(r)
        infos.append(info)
        if term or trunc:
            return rewards, info, infos


@pytest.mark.parametrize("reward, score", [("f1", _f1), ("jaccard", _jaccard), ("sparse_f1", _f1)])
def test_rewards_sum_to_the_final_set_score(reward: str, score) -> None:
    env = gym.make("MultiLabelCls-v0", info_mode="full", reward=reward, **SMALL)
    base = env.unwrapped
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    for _ in range(150):
        rewards, info, _ = _play(env, rng)
        pred, gold = set(info["pred_labels"]), set(info["gold_labels"])
        assert gold == set(np.flatnonzero(base.gold[base.current_index]).tolist())
        assert sum(rewards) == pytest.approx(score(pred, gold))
        assert info["f1"] == pytest.approx(_f1(pred, gold))
        assert info["jaccard"] == pytest.approx(_jaccard(pred, gold))
        if reward == "sparse_f1":
            assert all(r == 0.0 for r in rewards[:-1])
        env.reset()


def test_shaped_rewards_sign_each_pick() -> None:
    env = gym.make("MultiLabelCls-v0", **SMALL)
    base = env.unwrapped
    env.reset(seed=1, options={"index": 0})
    gold = set(np.flatnonzero(base.gold[0]).tolist())
    wrong = next(i for i in range(base.num_labels) if i not in gold)
    right = min(gold)
    _, r, *_ = env.step(right)
    assert r == pytest.approx(2 / (1 + len(gold)))  # F1 of {right}
    _, r, *_ = env.step(wrong)
    assert r < 0
    _, r, term, _, _ = env.step(base.stop_action)
    assert term and r == 0.0


def test_empty_gold_set_and_immediate_stop(tmp_path) -> None:
    path = tmp_path / "train.jsonl"
    rows = [{"text": "great price", "label": ["price"]}, {"text": "nothing to say", "label": []},
            {"text": "slow delivery, cheap", "label": ["shipping", "price"]}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    env = gym.make("MultiLabelCls-v0", info_mode="full", dataset=str(path), vocab_size=100)
    base = env.unwrapped
    assert base.label_names == ("price", "shipping")
    env.reset(seed=0, options={"index": 1})
    _, r, term, _, info = env.step(base.stop_action)  # F1(empty, empty) = 1
    assert term and r == 1.0 and info["f1"] == 1.0 and info["pred_labels"] == [] and info["gold_labels"] == []
    env.reset(options={"index": 1})
    _, r, *_ = env.step(0)
    _, r2, *_ = env.step(base.stop_action)
    assert r + r2 == 0.0
    env.reset(options={"index": 0})
    _, r, term, _, _ = env.step(base.stop_action)  # nothing picked, gold {price}
    assert term and r == 0.0


def test_masks_repeated_pick_and_strict() -> None:
    env = gym.make("MultiLabelCls-v0", info_mode="full", max_labels=3, **SMALL)
    base = env.unwrapped
    k = base.num_labels
    assert env.action_space.n == k + 1 and base.stop_action == k
    obs, info = env.reset(seed=0)
    assert info["action_mask"].all() and obs["num_chosen"][0] == 0 and not obs["chosen"].any()
    obs, r, term, _, info = env.step(2)
    assert obs["chosen"][2] == 1 and obs["num_chosen"][0] == 1
    assert not info["action_mask"][2] and info["action_mask"][k] and info["action_mask"].sum() == k
    assert np.array_equal(base.action_masks(), info["action_mask"])
    obs2, r, term, _, info = env.step(2)  # repeated: a no-op with 0 reward that still uses a pick
    assert r == 0.0 and not term and not info["hit"]
    assert np.array_equal(obs2["chosen"], obs["chosen"]) and obs2["num_chosen"][0] == 1
    _, _, term, trunc, info = env.step(5)  # the third pick ends the episode (max_labels=3)
    assert term and not trunc and info["pred_labels"] == [2, 5]

    strict = gym.make("MultiLabelCls-v0", info_mode="full", strict=True, **SMALL)
    strict.reset(seed=0)
    strict.step(4)
    with pytest.raises(InvalidAction, match="already picked"):
        strict.step(4)
    strict.step(strict.unwrapped.stop_action)  # still usable after the rejected action
    venv = gym.make_vec("MultiLabelCls-v0", num_envs=2, vectorization_mode="vector_entry_point", strict=True, **SMALL)
    venv.reset(seed=0)
    venv.step(np.array([1, 1]))
    with pytest.raises(InvalidAction, match="already picked"):
        venv.step(np.array([1, 0]))


def test_stop_and_max_labels_end() -> None:
    env = gym.make("MultiLabelCls-v0", info_mode="full", max_labels=2, **SMALL)
    base = env.unwrapped
    env.reset(seed=0)
    _, _, term, trunc, info = env.step(base.stop_action)
    assert term and not trunc and info["pred_labels"] == []
    env.reset()
    _, _, term, _, _ = env.step(0)
    assert not term
    obs, _, term, trunc, info = env.step(1)
    assert term and not trunc and obs["num_chosen"][0] == 2 and info["pred_labels"] == [0, 1]
    assert env.observation_space["num_chosen"].high[0] == 2
    big = gym.make("MultiLabelCls-v0", info_mode="full", max_labels=50, **SMALL)  # capped by the number of labels
    assert big.observation_space["num_chosen"].high[0] == big.unwrapped.num_labels


def _greedy(obs: dict, action_masks: np.ndarray) -> np.ndarray:
    """A deterministic policy of the observation: picks labels in an order hashed from the text,
    stops after 1-3 labels."""
    n, k1 = action_masks.shape
    key = obs["input_ids"].sum(axis=1)
    stop_after = 1 + key % 3
    actions = np.full(n, k1 - 1)
    for e in range(n):
        if obs["num_chosen"][e, 0] < stop_after[e]:
            order = (np.arange(k1 - 1) * 7 + key[e]) % (k1 - 1)
            actions[e] = next(a for a in order if action_masks[e, a])
    return actions


def test_evaluate_equals_multilabel_metrics_by_hand() -> None:
    result = nlp_envs.evaluate("MultiLabelCls-v0", _greedy, split="validation", num_envs=7, **SMALL)
    env = gym.make("MultiLabelCls-v0", info_mode="full", split="validation", order="sequential", **SMALL)
    base = env.unwrapped
    pred, gold = [], []
    for i in range(base.num_examples):
        obs, _ = env.reset(options={"index": i})
        while True:
            batch = {k: v[None] for k, v in obs.items()}
            obs, _, term, _, info = env.step(int(_greedy(batch, base.action_masks()[None])[0]))
            if term:
                break
        pred.append(info["pred_labels"])
        gold.append(np.flatnonzero(base.gold[i]).tolist())
    expected = multilabel_metrics(pred, gold, base.num_labels)
    assert result["num_examples"] == 120
    for key, value in expected.items():
        assert result[key] == pytest.approx(value), key
    assert 0.0 < result["example_f1"] < 1.0


def test_multilabel_parse_actions_and_render() -> None:
    env = gym.make("MultiLabelCls-v0", render_mode="ansi", **SMALL)
    base = env.unwrapped
    assert base.parse_actions("price, shipping, stop") == [
        base.label_names.index("price"), base.label_names.index("shipping"), base.stop_action]
    assert base.parse_actions("3 STOP") == [3, base.stop_action]
    assert base.parse_actions("batt") == [base.label_names.index("battery")]
    with pytest.raises(ValueError, match="not a label"):
        base.parse_actions("weather")
    env.reset(seed=0, options={"index": 0})
    env.step(base.label_names.index("price"))
    assert "price" in env.render()
    env.step(base.stop_action)
    assert "gold:" in env.render() and "F1" in env.render()


# -- real data ----------------------------------------------------------------------------------------


def test_goemotions_labels_and_quoting(data_dir: str) -> None:
    env = gym.make("MultiLabelCls-GoEmotions-v0", info_mode="full", data_dir=data_dir, split="validation")
    base = env.unwrapped
    assert base.num_labels == 28 and base.label_names[27] == "neutral"
    assert base.num_examples == 5426
    with open(os.path.join(data_dir, "goemotions", "dev.tsv"), encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    row = next(i for i, r in enumerate(rows) if '"' in r[0])
    _, info = env.reset(options={"index": row})
    assert info["text"] == rows[row][0] and not info["text"].startswith('""')
    assert np.flatnonzero(base.gold[row]).tolist() == sorted(int(x) for x in rows[row][1].split(","))
