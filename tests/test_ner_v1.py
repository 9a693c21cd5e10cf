"""NerTag-v1 (issue 21): a corpus that a word lookup cannot tag, and v0 left exactly as it was.

The statistics are measured on the generated corpus (seed 0, default sizes), which is the same on every
machine (only ``random.Random.random`` is used), so the bounds are asserted, not sampled.
"""

from __future__ import annotations

import hashlib
import inspect
import json

import gymnasium as gym
import pytest

import nlp_envs  # noqa: F401  (registers the ids)
from nlp_envs import testing
from nlp_envs.corpora import ner, ner_v1
from nlp_envs.data import load_task_data
from nlp_envs.ner import NerTagEnv

# The embedded datasets of the v0 ids: their fingerprints (cache keys, digests of the generator code) and
# NerTag-v0's corpus must not move when v1 is added. The fingerprints moved once since, by design, when the
# generators' shared split loop went into corpora/_rng.py (issue 19): the rows did not (V0_CORPUS_SHA256, the
# first observation, and every corpus at seeds 0 / 1 / 7 hashed before and after).
V0_FINGERPRINTS = {
    ("classification", "intents"): "9d44be81277f64aae339aa72e8f8b7a3",
    ("ner", "entities"): "42e4e9c8f3ccf129b92399a436d29098",
    ("dialog", "dialogs"): "183850b74ec9fa4388740a2b233ebbd0",
    ("multilabel", "topics"): "ced715488e503150ed8cbb5babf05fff",
    ("mcqa", "quiz"): "8255481e0299e7f50e49aeedf67082c3",
}
V0_CORPUS_SHA256 = "5fbde0f04357c080823984b50bf59ee93c84fb78a7f9daeca4871ab946a345cd"
V1_CORPUS_SHA256 = "821cc076e77a3726cbefbcc54489a9f982f098a4d1bb72c965b543d4dc5b228f"


def _sha256(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def test_v0_fingerprints_corpus_and_first_observation_unchanged() -> None:
    for (task, name), fingerprint in V0_FINGERPRINTS.items():
        assert load_task_data(task, name).fingerprint == fingerprint, (task, name)
    assert _sha256(ner.generate(seed=0)) == V0_CORPUS_SHA256
    env = gym.make("NerTag-v0", info_mode="full")
    obs, info = env.reset(seed=0)
    assert (info["index"], info["text"]) == (1432, "lol Samuel just texted me from Montreal !")
    assert obs["input_ids"][:10].tolist() == [2, 694, 753, 693, 699, 184, 114, 1157, 5, 3]
    assert gym.spec("NerTag-v0").kwargs == {"dataset": "entities"}


def test_v1_is_a_new_embedded_dataset(ner_v1_corpus: dict) -> None:
    assert gym.spec("NerTag-v1").kwargs == {"dataset": "entities-v1"}
    v1 = load_task_data("ner", "entities-v1")
    assert v1.fingerprint not in V0_FINGERPRINTS.values()
    assert _sha256(ner_v1_corpus) == V1_CORPUS_SHA256  # the same corpus on every machine
    assert {s: len(ner_v1_corpus[s]["tokens"]) for s in ner_v1.SPLITS} == dict(ner_v1.DEFAULT_SIZES)


def test_v1_hardness_statistics(ner_v1_stats: dict) -> None:
    # issue 21: >= 40 % of test mentions unseen in train, >= 30 % of entity tokens type-ambiguous in train
    assert ner_v1_stats["unseen_mention_share"] >= 0.40
    assert ner_v1_stats["unseen_mention_share_no_date"] >= 0.40
    assert ner_v1_stats["new_word_mention_share"] >= 0.20  # a word train never has, not only a new combination
    assert ner_v1_stats["ambiguous_token_share"] >= 0.30
    assert ner_v1_stats["word_lookup_entity_f1"] <= 0.40
    assert set(ner_v1_stats["mentions_per_type"]) == set(ner_v1.ENTITY_TYPES)
    # CoNLL-2003-like sentence lengths (its mean: 14.5 tokens)
    assert 12.0 <= ner_v1_stats["mean_tokens"] <= 16.0
    assert ner_v1_stats["min_tokens"] >= 3 and ner_v1_stats["max_tokens"] <= ner_v1.MAX_TOKENS


def test_v0_is_what_the_issue_says(ner_v1_stats: dict) -> None:
    v0 = ner_v1.statistics(ner.generate(seed=0))
    assert v0["new_word_mention_share"] == 0.0  # every word of every test entity occurs in train
    assert v0["multi_tag_token_share"] == pytest.approx(0.342, abs=0.001)  # issue 21: 34 %
    assert ner_v1_stats["ambiguous_token_share"] > 2 * v0["ambiguous_token_share"]


def test_docstring_reports_the_measured_statistics(ner_v1_stats: dict) -> None:
    doc = inspect.getdoc(NerTagEnv) or ""
    history = doc.split("## Version History", 1)[1]
    for key in ("unseen_mention_share", "unseen_mention_share_no_date", "new_word_mention_share",
                "ambiguous_token_share", "multi_tag_token_share"):
        assert f"{100 * ner_v1_stats[key]:.1f} %" in history, key
    assert f"{ner_v1_stats['word_lookup_entity_f1']:.3f}" in history
    assert f"{ner_v1_stats['mentions']:,}" in history
    assert "* v1:" in history and "* v0:" in history and "Superseded by v1" in history


def test_splits_share_no_sentence_and_held_out_names_stay_out_of_train(ner_v1_corpus: dict) -> None:
    texts = {s: {" ".join(t) for t in ner_v1_corpus[s]["tokens"]} for s in ner_v1.SPLITS}
    assert not texts["train"] & texts["test"] and not texts["train"] & texts["validation"]
    assert not texts["validation"] & texts["test"]
    pools = ner_v1.name_pools(seed=0)
    shared = {w for words in pools["shared"].values() for name in words for w in name.split(" ")}
    tail = {name for words in pools["train_tail"].values() for name in words}
    # One-word held-out names; a few are also words of shared multi-word places ("Costa" of "Costa
    # Rica") or months ("August"), and train has them there.
    held = {name for words in pools["held_out"].values() for name in words if " " not in name}
    held_only = held - shared - set(ner_v1._MONTHS)
    assert len(held_only) > 1000 and not held_only & tail and not tail & shared
    train_words = {w for t in ner_v1_corpus["train"]["tokens"] for w in t}
    assert not held_only & train_words
    test_words = {w for t in ner_v1_corpus["test"]["tokens"] for w in t}
    assert len(test_words & held_only) > 300 and not test_words & tail


def test_generation_is_seeded_and_held_out_splits_ignore_the_train_size(ner_v1_corpus: dict) -> None:
    small = ner_v1.generate(seed=0, sizes={"train": 50})
    assert small["test"] == ner_v1_corpus["test"] and small["validation"] == ner_v1_corpus["validation"]
    assert ner_v1.generate(seed=1, sizes={"train": 50})["test"] != ner_v1_corpus["test"]
    for split in ner_v1.SPLITS:
        for tokens, tags in zip(ner_v1_corpus[split]["tokens"], ner_v1_corpus[split]["tags"]):
            assert len(tokens) == len(tags) and set(tags) <= set(ner_v1.TAG_NAMES)
    with pytest.raises(ValueError):
        ner_v1.generate(seed="0")  # type: ignore[arg-type]


def test_nertag_v1_passes_gymnasium_check_env() -> None:
    testing.check_gymnasium("NerTag-v1")
    env = gym.make("NerTag-v1", split="test")
    assert env.unwrapped.tag_names == ("O", "B-DATE", "I-DATE", "B-LOC", "I-LOC", "B-ORG", "I-ORG",
                                       "B-PER", "I-PER")
    assert not env.unwrapped._truncated.any()  # no test sentence loses subwords at max_length=64


def test_majority_lookup_stays_far_below_the_bound() -> None:
    from nlp_envs.agents.baselines import MajorityPolicy

    policy = MajorityPolicy.fit("NerTag-v1")
    f1 = nlp_envs.evaluate("NerTag-v1", policy, split="test")["entity_f1"]
    assert f1 <= 0.50  # issue 21 asks <= 0.55; NerTag-v0: 0.882
    assert f"{f1:.3f}" in (inspect.getdoc(NerTagEnv) or "")
