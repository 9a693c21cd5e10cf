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
from tests.helpers import gold_text_table
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


# -- text mode (obs_mode="text", issue 20) --------------------------------------------------------------

MODES = ["direct", "sequential"]


def _int_actions(mode: str, p: int) -> list[int]:
    """Answering option ``p`` in int actions, written out (sequential: NEXT p times, then ANSWER)."""
    return [p] if mode == "direct" else [NEXT] * p + [ANSWER]


@pytest.mark.parametrize("mode", MODES)
def test_text_gold_answers_earn_the_full_return(mode: str) -> None:
    env = gym.make("MultiChoiceQA-v0", obs_mode="text", split="test", mode=mode)
    base = env.unwrapped
    assert base.num_examples == 800
    for i in range(base.num_examples):
        prompt, info = env.reset(options={"index": i})
        options = base.options_of(i)
        assert info["parse_error"] == "" and base.questions[i] in prompt and prompt.endswith("Answer:")
        assert all(f"\n{'ABCDE'[k]}. {o}\n" in prompt for k, o in enumerate(options))
        assert f"\n{'ABCDEF'[len(options)]}. " not in prompt
        gold = base.gold_answer()
        assert gold == "ABCDE"[base.answers[i]]
        _, r, term, trunc, info = env.step(gold)
        assert r == 1.0 and term and not trunc and info["correct"] and info["parse_error"] == "", (i, info)
        assert info["prediction"] == base.answers[i]


@pytest.mark.parametrize("mode", MODES)
def test_text_answers_earn_what_the_int_actions_earn(mode: str) -> None:
    kw = {"split": "test", "mode": mode, **SMALL}
    text = gym.make("MultiChoiceQA-v0", obs_mode="text", **kw)
    ref = gym.make("MultiChoiceQA-v0", strict=True, **kw)
    base = text.unwrapped
    for i in range(base.num_examples):
        options = base.options_of(i)
        assert base.num_options[i] == len(options)
        for p, option in enumerate(options):
            letter = "ABCDE"[p]
            for answer in (letter, letter.lower(), f"({letter})", f"{letter}.", f"{letter})", f"Answer: {letter}",
                           f" **{letter}** \nC", f"The answer is {letter}.", option.upper(), f"{letter}. {option}",
                           f"({letter}) {option}"):
                text.reset(options={"index": i})
                assert base.parse_answer(answer).actions == tuple(_int_actions(mode, p)), answer
            _, r, term, _, info = text.step(answer)
            ref.reset(options={"index": i})
            total = 0.0
            for a in _int_actions(mode, p):
                _, r_ref, term_ref, _, info_ref = ref.step(a)
                total += r_ref
            assert term and term_ref and r == total and info["parse_error"] == ""
            for key in ("prediction", "correct", "answer", "index", "action_mask"):
                assert np.array_equal(info[key], info_ref[key]), (i, p, key)


@pytest.mark.parametrize("mode", MODES)
def test_text_malformed_answers_are_parse_errors(mode: str) -> None:
    env = gym.make("MultiChoiceQA-v0", obs_mode="text", mode=mode, split="test", parse_error_reward=-0.5)
    base = env.unwrapped
    three = next(i for i in range(base.num_examples) if base.num_options[i] == 3)
    options = base.options_of(three)
    other = next(o for j in range(base.num_examples) for o in base.options_of(j) if o not in options)
    for answer in ("D", "(E)", "Z.", "Answer: D", f"A. {options[1]}", f"D. {options[0]}", other, "maybe", "",
                   "  \n ", "x" * 100_000, "\x00\ufffd\u2603 %%% ###", "Ä", "选项 A", "🙂" * 30, ")))((("):
        env.reset(options={"index": three})
        assert not base.parse_answer(answer).ok, answer
        _, r, term, _, info = env.step(answer)
        assert term and info["parse_error"] != "" and r == base.parse_error_reward == -0.5, answer
        assert info["prediction"] == -1 and not info["correct"]
    codec = base.text_codec
    for answer in ("B" * 100_000, "(" * 100_000, "\ud800", "A\u0301"):  # the codec alone, past the length cap
        assert not codec.parse(base, answer).ok


def test_text_prompt_cuts_the_question_never_the_options() -> None:
    env = gym.make("MultiChoiceQA-v0", obs_mode="text", split="test")
    full, _ = env.reset(options={"index": 7})
    question = env.unwrapped.questions[7]
    head, tail = full.split(question)
    assert head == "Answer the multiple-choice question with the letter of the correct option.\n\nQuestion: "
    cut = gym.make("MultiChoiceQA-v0", obs_mode="text", split="test", max_prompt_chars=len(full) - 10)
    prompt, _ = cut.reset(options={"index": 7})
    assert prompt == head + question[: len(question) - 13] + "..." + tail
    small = gym.make("MultiChoiceQA-v0", obs_mode="text", split="test", max_prompt_chars=len(head) + len(tail))
    with pytest.raises(ValueError, match="options, which are never cut.*raise max_prompt_chars"):
        small.reset(options={"index": 7})


@pytest.mark.parametrize("mode", MODES)
def test_text_evaluate_gold_and_garbage_policies(mode: str) -> None:
    gold = gold_text_table("MultiChoiceQA-v0", mode=mode)
    assert len(gold) == 800
    perfect = nlp_envs.evaluate("MultiChoiceQA-v0", lambda prompts: [gold[p] for p in prompts], obs_mode="text",
                                num_envs=8, mode=mode)
    assert perfect["num_examples"] == 800 and perfect["accuracy"] == 1.0
    garbage = nlp_envs.evaluate("MultiChoiceQA-v0", lambda prompts: ["\u2603 ???"] * len(prompts), obs_mode="text",
                                num_envs=8, mode=mode)
    assert garbage["num_examples"] == 800 and garbage["accuracy"] == 0.0


def test_text_mode_conformance_in_sequential_mode() -> None:
    """The whole text-mode conformance check (nlp_envs.testing) in the non-default sequential mode; the
    direct mode runs in tests/test_conformance.py."""
    from nlp_envs import testing

    testing.check_text_mode("MultiChoiceQA-v0", episodes=20, mode="sequential")


def test_text_arc_gold_answers_and_option_texts(data_dir: str) -> None:
    env = gym.make("MultiChoiceQA-ARCChallenge-v0", obs_mode="text", data_dir=data_dir)
    base = env.unwrapped
    for i in range(base.num_examples):
        env.reset(options={"index": i})
        _, r, term, _, info = env.step(base.gold_answer())
        assert r == 1.0 and term and info["parse_error"] == "", i
    genetics = next(i for i in range(base.num_examples) if base.options_of(i) == ("R", "rr", "Rr", "RR"))
    env.reset(options={"index": genetics})
    for answer, p in (("RR", 3), ("rr", 1), ("Rr", 2), ("R", 0), ("D. RR", 3), ("C", 2)):  # "R": no letter R here
        assert base.parse_answer(answer).actions == (p,), answer
    easy = gym.make("MultiChoiceQA-ARCEasy-v0", obs_mode="text", data_dir=data_dir, split="test").unwrapped
    quoted = next(i for i in range(easy.num_examples) if easy.options_of(i)[0].startswith('"The Religions'))
    easy.reset(options={"index": quoted})
    assert [easy.parse_answer(o).actions for o in easy.options_of(quoted)] == [(0,), (1,), (2,), (3,)]
