"""DialogSelect (reply selection, :mod:`nlp_envs.dialog_select`): candidate sets (sampled and the provided
SGD ones), rewards, vector == sync, evaluation with actions and with scores (MRR), play and render."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import nlp_envs
from nlp_envs import testing
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


# -- text mode (obs_mode="text", DialogSelectCodec) -------------------------------------------------------

SEP = "\n\nCandidate replies:\n"


def test_text_prompt_lists_the_candidates() -> None:
    env = gym.make("DialogSelect-v0", obs_mode="text", split="test", **SMALL)
    base = env.unwrapped
    prompt, info = env.reset(seed=0)
    head, rest = prompt.split(SEP)
    assert head == ("Choose the best next reply of the system in this dialogue.\n\n"
                    + base.context_text(base.current_index))
    numbered, tail = rest.split("\n\n")
    assert numbered.splitlines() == [f"{k}. {c}" for k, c in enumerate(base.candidates(), 1)]
    assert tail == "Answer with the number of the best reply only.\nAnswer:" and info["parse_error"] == ""
    assert base.gold_answer() == str(int(info["label"]) + 1)
    short = gym.make("DialogSelect-v0", obs_mode="text", split="test", max_prompt_chars=len(prompt) - 20, **SMALL)
    cut, _ = short.reset(seed=0)
    assert len(cut) <= len(prompt) - 20 and cut.endswith(SEP + rest) and "\n\n..." in cut  # the context's start is cut


def test_text_answer_formats() -> None:
    env = gym.make("DialogSelect-v0", obs_mode="text", split="test", **SMALL)
    base = env.unwrapped
    env.reset(seed=3)
    cands = base.candidates()
    for answer in ("3", " 3 ", "3.", "(3)", "[3]", "#3", "3)", "Answer: 3", "answer: (3)", "**3**", "`3`",
                   "Candidate 3", "3\n7", "\n\n3\nbecause", cands[2], cands[2].upper() + " ", f"3. {cands[2]}",
                   f'"{cands[2]}"'):
        assert base.parse_answer(answer).actions == (2,), answer
    for answer in ("0", "11", "-1", "3 because", f"4. {cands[2]}", "", "  \n ", "1 2", "9" * 5000):
        parsed = base.parse_answer(answer)
        assert parsed.error and not parsed.actions, answer


def test_text_gold_earns_one_on_every_test_example() -> None:
    env = gym.make("DialogSelect-v0", obs_mode="text", split="test")
    base = env.unwrapped
    for i in range(base.num_examples):
        _, info = env.reset(options={"index": i})
        _, reward, term, trunc, step_info = env.step(base.gold_answer())
        assert reward == 1.0 and term and not trunc and step_info["parse_error"] == "", i
        assert step_info["correct"] and step_info["prediction"] == info["label"]


def test_text_malformed_answers_are_parse_errors() -> None:
    env = gym.make("DialogSelect-v0", obs_mode="text", parse_error_reward=-0.5, **SMALL)
    base = env.unwrapped
    for answer in ("0", "11", "x" * 100_000, "", "\x00\ufffd\u2603 %%% ###", ")))(((", "\ud800", "the first one"):
        _, info = env.reset(seed=0)
        _, reward, term, trunc, step_info = env.step(answer)
        assert step_info["parse_error"] and reward == base.parse_error_reward == -0.5, answer[:20]
        assert term and not trunc and step_info["prediction"] == -1 and not step_info["correct"]
        assert step_info["label"] == info["label"]


def test_text_evaluate_with_a_gold_policy() -> None:
    """The candidates are drawn at reset, so the gold policy reads the prompt: the context (everything before
    the candidates) -> the references of the examples with that context; it answers the candidate among them."""
    env = gym.make("DialogSelect-v0", obs_mode="text", split="test")
    base = env.unwrapped
    refs: dict[str, set[str]] = {}
    for i in range(base.num_examples):
        prompt, _ = env.reset(seed=0, options={"index": i})
        refs.setdefault(prompt.split(SEP)[0], set()).add(base.references[i])

    def gold(prompts):
        answers = []
        for p in prompts:
            context, rest = p.split(SEP)
            lines = rest.split("\n\n")[0].splitlines()
            hits = [line.split(". ", 1)[0] for line in lines if line.split(". ", 1)[1] in refs[context]]
            answers.append(hits[0] if len(hits) == 1 else "?")
        return answers

    res = nlp_envs.evaluate("DialogSelect-v0", gold, obs_mode="text", num_envs=8)
    assert res["hits_at_1"] == 1.0 and res["num_examples"] == base.num_examples and "mrr" not in res
    res = nlp_envs.evaluate("DialogSelect-v0", lambda prompts: ["?"] * len(prompts), obs_mode="text", num_envs=8)
    assert res["hits_at_1"] == 0.0  # every answer a parse error: a miss


@pytest.mark.data
def test_text_sgd_provided_candidates(data_dir) -> None:
    testing.check_gymnasium("DialogSelect-SGD-v0", obs_mode="text", data_dir=data_dir)  # strict check_env
    test = gym.make("DialogSelect-SGD-v0", obs_mode="text", split="test", data_dir=data_dir).unwrapped
    assert test.uses_provided_candidates
    for i in range(0, test.num_examples, max(1, test.num_examples // 200)):
        prompt, info = test.reset(options={"index": i})
        assert test.observation_space.contains(prompt) and len(prompt.split(SEP)[1].split("\n\n")[0].splitlines()) == 10
        _, reward, *_ = test.step(test.gold_answer())
        assert reward == 1.0, i
