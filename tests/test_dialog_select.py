"""DialogSelect (reply selection, :mod:`nlp_envs.dialog_select`): candidate sets (sampled and the provided
SGD ones), rewards, vector == sync, evaluation with actions and with scores (MRR), play and render."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import nlp_envs
from tests.helpers import assert_vector_equals_sync

SMALL = {"dataset_kwargs": {"sizes": {"train": 200, "validation": 40, "test": 60}}}


def test_selection_candidates() -> None:
    env = gym.make("DialogSelect-v0", **SMALL).unwrapped
    arrays = env.prepared.arrays
    for ep in range(40):
        obs, info = env.reset(seed=ep if ep < 3 else None)
        i, label = info["index"], info["label"]
        cand = env._cand
        assert len(cand) == 10 and cand[label] == i
        assert [c for c in cand if c == i] == [i]
        others = np.delete(cand, label)
        assert ((others < arrays["block_lo"][i]) | (others >= arrays["block_hi"][i])).all()
        dialogue = env._dialogue_ids[i]
        assert all(env._dialogue_ids[int(c)] != dialogue for c in others)
        texts = env.candidates()
        assert texts[label] == env._references[i] and texts.count(texts[label]) == 1
        rows = obs["candidate_ids"]
        assert (rows == rows[label]).all(axis=1).sum() == 1  # the true reply's ids occur once
        _, reward, term, _, step_info = env.step((label + ep % 2) % 10)
        assert term and reward == float(ep % 2 == 0) and step_info["correct"] == (ep % 2 == 0)
    assert set(np.unique([env.reset()[1]["label"] for _ in range(200)])) == set(range(10))


@pytest.mark.data
def test_sgd_provided_candidate_sets(data_dir) -> None:
    from nlp_envs.readers import load_reply_selection

    env = gym.make("DialogSelect-SGD-v0", info_mode="full", split="test", data_dir=data_dir).unwrapped
    items = load_reply_selection(data_dir, "sgd")["test"]
    assert env.uses_provided_candidates and env.num_examples == len(items["label"])
    for i in (0, 7, len(items["label"]) - 1):
        _, info = env.reset(options={"index": i})
        assert env.candidates() == items["candidates"][i] and info["label"] == items["label"][i]
        assert info["dialogue_id"] == items["dialogue_id"][i]
        assert [t["text"] for t in env.context_turns(i)] == items["context"][i]
    with pytest.raises(ValueError, match="num_candidates"):
        gym.make("DialogSelect-SGD-v0", info_mode="full", split="test", data_dir=data_dir, num_candidates=5)


@pytest.mark.parametrize("kwargs", [{}, {"num_candidates": 4}])
def test_vector_equals_sync(kwargs) -> None:
    assert_vector_equals_sync("DialogSelect-v0", {**SMALL, **kwargs})


def test_evaluate_selection() -> None:
    res = nlp_envs.evaluate("DialogSelect-v0", lambda obs: np.zeros(len(obs["context_ids"]), np.int64),
                            split="test", num_envs=8, **SMALL)
    assert "hits_at_1" in res and "mrr" not in res and 0.0 <= res["hits_at_1"] <= 0.3

    def scores(obs):  # candidate length as a score: deterministic, with ties
        return obs["candidate_mask"].sum(axis=2).astype(float)

    res = nlp_envs.evaluate("DialogSelect-v0", scores, split="test", num_envs=8, **SMALL)
    assert {"hits_at_1", "mrr"} <= set(res) and res["hits_at_1"] <= res["mrr"] <= 1.0


def test_play_and_render() -> None:
    sel = gym.make("DialogSelect-v0", render_mode="ansi", **SMALL)
    sel.reset(seed=0)
    assert sel.unwrapped.parse_actions(" 3 ") == [3]
    with pytest.raises(ValueError):
        sel.unwrapped.parse_actions("11")
    assert "[9]" in sel.render()
    sel.step(3)
    assert "reward:" in sel.render()
