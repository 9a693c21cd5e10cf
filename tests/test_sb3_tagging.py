"""The tagging features of nlp_envs.agents.extractors (word windows of subword means) and the NerTag SB3 values."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch as th

import nlp_envs  # noqa: F401
from nlp_envs.agents import sb3
from nlp_envs.agents.extractors import EmbeddingBagExtractor, TinyTransformerExtractor

pytestmark = pytest.mark.skipif("NerTag-v0" not in gym.registry, reason="NerTag-v0 not registered")

D = 8


def _obs(space, words: list[list[int]], position: int, prev: list[int] | None = None,
         starts: list[int] | None = None) -> dict[str, th.Tensor]:
    """One observation (batch of 1, floats as SB3 hands them): [CLS]=2, the words' subword ids, [SEP]=3."""
    length, max_words = space["input_ids"].shape[0], space["word_starts"].shape[0]
    ids = [2] + [t for w in words for t in w] + [3]
    if starts is None:
        starts, k = [], 1
        for w in words:
            starts.append(k)
            k += len(w)
    none = int(space["prev_tags"].high.max())
    tags = (prev or []) + [none] * (max_words - len(prev or []))
    o = {"input_ids": ids + [0] * (length - len(ids)), "attention_mask": [1] * len(ids) + [0] * (length - len(ids)),
         "word_starts": starts + [0] * (max_words - len(starts)), "position": [position],
         "prev_tags": tags, "num_words": [len(words)]}
    return {k: th.tensor([v], dtype=th.float32) for k, v in o.items()}


def _window(ext, obs) -> list[th.Tensor]:
    """The window's word vectors (previous .. next), each (d,)."""
    with th.no_grad():
        h = ext.encode(obs["input_ids"].long(), obs["attention_mask"])
        feats = ext._tagging_features(obs, h)
    return [f[0] for f in feats[:-1]]


def _ext(space, **kw):
    th.manual_seed(0)
    return EmbeddingBagExtractor(space, embed_dim=D, **kw)


def test_current_word_changes_only_its_slot(ner_obs_space):
    ext = _ext(ner_obs_space)
    words = [[10], [11, 12], [13], [14]]
    a = _window(ext, _obs(ner_obs_space, words, 1))
    b = _window(ext, _obs(ner_obs_space, [[10], [21, 22], [13], [14]], 1))
    assert not th.allclose(a[1], b[1])  # the current word differs
    assert th.allclose(a[0], b[0], atol=1e-6) and th.allclose(a[2], b[2], atol=1e-6)  # its neighbours do not
    # the full features too (they also hold the sentence mean)
    assert not th.allclose(ext(_obs(ner_obs_space, words, 1)),
                           ext(_obs(ner_obs_space, [[10], [21, 22], [13], [14]], 1)))


def test_word_is_mean_of_all_its_subwords(ner_obs_space):
    ext = _ext(ner_obs_space)
    emb = ext.embedding.weight.detach()
    words = [[10], [11, 12, 15], [13]]
    cur = _window(ext, _obs(ner_obs_space, words, 1))[1]
    assert th.allclose(cur, emb[[11, 12, 15]].mean(0), atol=1e-6)
    last = _window(ext, _obs(ner_obs_space, words, 2))[1]  # the last word ends before [SEP]
    assert th.allclose(last, emb[13], atol=1e-6)
    # the second subword matters with "mean", not with "first"
    other = [[10], [11, 30, 15], [13]]
    assert not th.allclose(cur, _window(ext, _obs(ner_obs_space, other, 1))[1])
    first = _ext(ner_obs_space, word_pool="first")
    assert th.equal(_window(first, _obs(ner_obs_space, words, 1))[1],
                    _window(first, _obs(ner_obs_space, other, 1))[1])


def test_position_moves_the_window(ner_obs_space):
    ext = _ext(ner_obs_space, tag_window=2)
    words = [[10], [11, 12], [13], [14], [15]]
    at1, at2 = _window(ext, _obs(ner_obs_space, words, 1)), _window(ext, _obs(ner_obs_space, words, 2))
    for k in range(4):  # slot k at position 2 is slot k + 1 at position 1
        assert th.allclose(at2[k], at1[k + 1], atol=1e-6)
    assert not th.allclose(at1[2], at2[2])
    assert th.count_nonzero(at1[0]) == 0  # word -1: outside the sentence
    end = _window(ext, _obs(ner_obs_space, words, 4))
    assert th.count_nonzero(end[3]) == 0 and th.count_nonzero(end[4]) == 0  # past the last word
    assert ext.features_dim == ext(_obs(ner_obs_space, words, 1)).shape[1] == D + 5 * D + 16


def test_word_without_tokens_falls_back_to_sep(ner_obs_space):
    """A word cut by max_length (or empty) points at [SEP]; the word before it keeps its own span."""
    ext = _ext(ner_obs_space)
    emb = ext.embedding.weight.detach()
    # words: [10, 11] | (empty: points at [SEP], position 3) | [12]  -> ids [CLS] 10 11 12 [SEP]
    obs = _obs(ner_obs_space, [[10, 11], [], [12]], 0, starts=[1, 4, 3])
    w = _window(ext, obs)
    assert th.allclose(w[1], emb[[10, 11]].mean(0), atol=1e-6)  # not through word 2's token
    assert th.allclose(w[2], emb[3], atol=1e-6)  # the empty word: the [SEP] state
    assert th.isfinite(ext(obs)).all()


def test_env_observations_and_prev_tag(ner_obs_space):
    """Real env observations: finite, batched like single ones; the previous tag enters the features."""
    venv = gym.make_vec("NerTag-v0", num_envs=4, vectorization_mode="vector_entry_point")
    obs, _ = venv.reset(seed=0)
    obs, *_ = venv.step(np.zeros(4, dtype=np.int64))  # all O: position 1
    venv.close()
    for cls, kw in ((EmbeddingBagExtractor, {}), (TinyTransformerExtractor, {"num_heads": 2})):
        th.manual_seed(0)
        ext = cls(ner_obs_space, embed_dim=D, **kw)
        t = {k: th.as_tensor(v).float() for k, v in obs.items()}
        out = ext(t)
        assert out.shape == (4, ext.features_dim) and th.isfinite(out).all()
        one = ext({k: v[1:2] for k, v in t.items()})
        assert th.allclose(out[1:2], one, atol=1e-5)
        t2 = {k: v.clone() for k, v in t.items()}
        t2["prev_tags"][:, 0] = 1  # previous word B-DATE instead of O
        assert not th.allclose(ext(t2)[:, -16:], out[:, -16:])


def test_nertag_hyperparams():
    hp = sb3.load_hyperparams("NerTag-v0", "sb3-maskable-ppo")
    assert hp["gamma"] == 0.0 and hp["gae_lambda"] == 0.0
    assert hp["env_kwargs"] == {"reward": "token"}
    assert hp["extractor_kwargs"] == {"embed_dim": 64, "tag_window": 1, "word_pool": "mean"}
    btc = sb3.load_hyperparams("NerTag-BTC-v0", "sb3-maskable-ppo")
    assert btc["env_kwargs"] == {"reward": "token"} and btc["gamma"] == 0.0
    assert sb3.load_hyperparams("NerTag-v0", "sb3-ppo")["env_kwargs"] == {"reward": "token"}


def test_train_uses_yaml_env_kwargs(tmp_path):
    result = sb3.train("NerTag-v0", "sb3-maskable-ppo", total_steps=1024, seed=0, out=tmp_path,
                       overrides={"n_steps": 32, "batch_size": 128})
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["env_kwargs"] == {"reward": "token"}
    assert 0.0 <= result["metrics"]["entity_f1"] <= 1.0
    # the caller's env kwargs win over the YAML's
    result = sb3.train("NerTag-v0", "sb3-maskable-ppo", total_steps=512, seed=0, out=tmp_path / "f1",
                       env_kwargs={"reward": "entity_f1"}, overrides={"n_steps": 32, "batch_size": 128})
    assert result["env_kwargs"] == {"reward": "entity_f1"}
