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
from tests.helpers import gold_text_table

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


# -- text mode (obs_mode="text", issue 20) --------------------------------------------------------------


def _text_pair(**kwargs) -> tuple[gym.Env, gym.Env]:
    """A text-mode env and a strict dict-mode env of the same split (full info)."""
    kw = {"split": "test", "info_mode": "full", **kwargs}
    return gym.make("MultiLabelCls-v0", obs_mode="text", **kw), gym.make("MultiLabelCls-v0", strict=True, **kw)


def _expected_actions(base, label_ids: list[int]) -> list[int]:
    """What an answer naming ``label_ids`` means, written out: repeats dropped, the first max_labels, STOP."""
    picks = list(dict.fromkeys(label_ids))[: base.max_labels]
    return picks + ([base.stop_action] if len(picks) < base.max_labels else [])


def test_text_gold_answers_earn_the_full_return() -> None:
    env = gym.make("MultiLabelCls-v0", obs_mode="text", split="test")
    base = env.unwrapped
    assert base.num_examples == 800
    for i in range(base.num_examples):
        prompt, info = env.reset(options={"index": i})
        assert info["parse_error"] == "" and prompt.endswith("Labels:") and base.texts[i] in prompt
        gold = base.gold_answer()
        assert gold == ", ".join(base.label_names[j] for j in np.flatnonzero(base.gold[i]))
        _, r, term, trunc, info = env.step(gold)
        assert r == pytest.approx(1.0) and term and not trunc and info["parse_error"] == "", (i, gold, info)
        assert info["f1"] == 1.0 and info["jaccard"] == 1.0


@pytest.mark.parametrize("reward", ["f1", "jaccard", "sparse_f1"])
def test_text_answers_earn_what_the_int_actions_earn(reward: str) -> None:
    text, ref = _text_pair(reward=reward, max_labels=3)
    base = text.unwrapped
    names = base.label_names
    rng = np.random.default_rng(1)
    for t in range(150):
        i = int(rng.integers(base.num_examples))
        ids = [int(x) for x in rng.integers(base.num_labels, size=int(rng.integers(0, 6)))]  # repeats, > max_labels
        styles = [str.upper, str.lower, lambda s: s.replace("_", " "), lambda s: f" `{s.replace('_', '-')}` "]
        answer = ", ".join(styles[int(rng.integers(len(styles)))](names[j]) for j in ids) or "None"
        if t % 5 == 0:
            answer = f"Labels: [{answer}]\nsecond line is ignored, weather"
        text.reset(options={"index": i})
        assert base.parse_answer(answer).actions == tuple(_expected_actions(base, ids)), answer
        _, r, term, _, info = text.step(answer)
        ref.reset(options={"index": i})
        total = 0.0
        for a in _expected_actions(base, ids):  # strict=True: no repeated pick
            _, r_ref, term_ref, _, info_ref = ref.step(a)
            total += r_ref
        assert term and term_ref and info["parse_error"] == ""
        assert r == pytest.approx(total), (answer, r, total)
        for key in ("f1", "jaccard", "prediction", "hit", "pred_labels", "gold_labels", "index"):
            assert np.array_equal(info[key], info_ref[key]), (answer, key)


def test_text_malformed_answers_are_parse_errors() -> None:
    env = gym.make("MultiLabelCls-v0", obs_mode="text", split="test", info_mode="full", parse_error_reward=-0.25)
    base = env.unwrapped
    bad = ["weather", "price, weather", "price, none", "", "   \n\n ", ",;,", "x" * 100_000, "\x00\ufffd\u2603 ☃ ✓",
           "价格, 质量", "price shipping", "Labels:", "🙂" * 50]
    for answer in bad:
        env.reset(options={"index": 3})
        assert not base.parse_answer(answer).ok, answer
        _, r, term, _, info = env.step(answer)
        assert info["parse_error"] != "" and r == base.parse_error_reward == -0.25, answer
        assert term and info["pred_labels"] == [] and info["prediction"] == base.stop_action  # the empty set
    codec = base.text_codec
    for answer in ("x" * 100_000, "," * 100_000, "\ud800", "a\u0301" * 1000):  # the codec alone, past the length cap
        assert not codec.parse(base, answer).ok


def test_text_empty_set_and_prompt(tmp_path) -> None:
    path = tmp_path / "train.jsonl"
    rows = [{"text": "great price", "label": ["price"]}, {"text": "nothing to say", "label": []},
            {"text": "slow delivery, cheap", "label": ["shipping", "price"]}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    env = gym.make("MultiLabelCls-v0", obs_mode="text", dataset=str(path), vocab_size=100, max_labels=1)
    base = env.unwrapped
    prompt, _ = env.reset(options={"index": 1})
    assert prompt == ("Choose every label that applies to the text (at most 1) from these labels: price, shipping.\n\n"
                      "Text: nothing to say\n\n"
                      "Answer with the label names separated by commas, or none if no label applies.\nLabels:")
    assert base.gold_answer() == "none"
    _, r, term, _, info = env.step("None.")
    assert r == 1.0 and term and info["parse_error"] == ""
    env.reset(options={"index": 2})
    assert base.gold_answer() == "price, shipping"
    assert base.parse_answer("shipping, price").actions == (1,)  # max_labels=1: the first pick ends the set
    _, r, *_ = env.step("shipping, price")
    assert r == pytest.approx(2 / 3)
    full, _ = gym.make("MultiLabelCls-v0", obs_mode="text", split="test").reset(options={"index": 0})
    cut = gym.make("MultiLabelCls-v0", obs_mode="text", split="test", max_prompt_chars=len(full) - 20)
    prompt, _ = cut.reset(options={"index": 0})
    text = cut.unwrapped.texts[0]
    head, tail = full.split(text)
    assert prompt == head + text[: len(text) - 23] + "..." + tail and len(prompt) == len(full) - 20
    with pytest.raises(ValueError, match="max_prompt_chars"):
        gym.make("MultiLabelCls-v0", obs_mode="text", split="test", max_prompt_chars=100).reset()


def test_text_evaluate_gold_and_garbage_policies() -> None:
    gold = gold_text_table("MultiLabelCls-v0")
    assert len(gold) == 800
    perfect = nlp_envs.evaluate("MultiLabelCls-v0", lambda prompts: [gold[p] for p in prompts], obs_mode="text",
                                num_envs=8)
    assert perfect["num_examples"] == 800 and perfect["example_f1"] == 1.0 and perfect["micro_f1"] == 1.0
    assert perfect["subset_accuracy"] == 1.0
    garbage = nlp_envs.evaluate("MultiLabelCls-v0", lambda prompts: ["\u2603 ???"] * len(prompts), obs_mode="text",
                                num_envs=8)
    assert garbage["num_examples"] == 800 and garbage["micro_f1"] == 0.0 and garbage["example_f1"] == 0.0
    assert garbage["subset_accuracy"] == 0.0 and garbage["mean_labels_pred"] == 0.0


def test_text_goemotions_gold_answers(data_dir: str) -> None:
    env = gym.make("MultiLabelCls-GoEmotions-v0", obs_mode="text", data_dir=data_dir, split="validation")
    base = env.unwrapped
    for i in range(base.num_examples):
        env.reset(options={"index": i})
        _, r, term, _, info = env.step(base.gold_answer())
        assert r == pytest.approx(1.0) and term and info["parse_error"] == "", i
    env.reset(options={"index": 0})
    assert base.parse_answer("Admiration, NEUTRAL").actions == (0, 27, base.stop_action)
