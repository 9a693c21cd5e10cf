"""The NLPGym side of ``benchmarks/peers.py``; runs inside the NLPGym venv (old ``gym``, flair, sklearn).

Not meant to be run by hand: ``peers.py`` writes the input JSON (our test-split sentences and texts,
step counts, metric examples), starts this script and sends it one request per timed run (see
:func:`main`). Usage::

    <venv>/bin/python benchmarks/peers_nlpgym_child.py IN.json   # requests on stdin, answers on stdout

Run-time adjustments (see /work/shared/PEERS.md), made here and nowhere else:

* envs are built with ``return_obs_as_vector=False`` (the default featurizers download embeddings),
  then given :class:`HashedSeqTagFeaturizer` / :class:`HashedMultiLabelFeaturizer` with
  ``set_featurizer`` and switched back to vector observations, so every step still builds an
  observation vector, a cheap one;
* ``SeqTagEnv._tokenize`` (flair ``SpaceTokenizer``, broken with the flair that installs) is replaced
  by whitespace splitting. ``reset`` calls it as ``SeqTagEnv._tokenize(...)``, through the class, so
  the replacement goes on the class: an instance attribute would never be used.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import zlib
from typing import Any

import numpy as np
import torch

from nlp_gym.data_pools.base import Sample
from nlp_gym.envs.common.reward import RewardFunction
from nlp_gym.envs.multi_label.env import MultiLabelEnv
from nlp_gym.envs.multi_label.observation import ObservationFeaturizer as MultiLabelFeaturizer
from nlp_gym.envs.seq_tagging.env import SeqTagEnv
from nlp_gym.envs.seq_tagging.observation import ObservationFeaturizer as SeqTagFeaturizer
from nlp_gym.envs.seq_tagging.reward import EntityF1Score
from nlp_gym.metrics.seq_tag import EntityScores

HASH_DIM = 64
"""Buckets of the hashed-token features."""


def _bucket(token: str) -> int:
    return zlib.crc32(token.encode("utf-8")) % HASH_DIM


class HashedSeqTagFeaturizer(SeqTagFeaturizer):
    """One-hot hashed current token ``(HASH_DIM,)`` + one-hot previous tag ``(num_tags + 1,)``."""

    def __init__(self, tags: list[str]) -> None:
        self.tag_index = {t: i for i, t in enumerate(tags)}
        self.num_tags = len(tags)

    def init_on_reset(self, input_text: Any) -> None:
        pass

    def featurize(self, observation: Any) -> torch.Tensor:
        vec = torch.zeros(self.get_observation_dim())
        vec[_bucket(observation.get_current_input())] = 1.0
        history = observation.get_current_action_history()
        vec[HASH_DIM + (self.tag_index[history[-1]] if history else self.num_tags)] = 1.0
        return vec

    def get_input_dim(self) -> int:
        return HASH_DIM

    def get_context_dim(self) -> int:
        return self.num_tags + 1


class HashedMultiLabelFeaturizer(MultiLabelFeaturizer):
    """Hashed bag of words of the text ``(HASH_DIM,)``, built once per reset, + multi-hot of the
    actions taken so far ``(num_actions,)``."""

    def __init__(self, actions: list[str]) -> None:
        self.action_index = {a: i for i, a in enumerate(actions)}
        self.text_vec = torch.zeros(HASH_DIM)

    def init_on_reset(self, input_text: Any) -> None:
        self.text_vec = torch.zeros(HASH_DIM)
        for w in str(input_text).split():
            self.text_vec[_bucket(w)] += 1.0

    def featurize(self, observation: Any) -> torch.Tensor:
        context = torch.zeros(len(self.action_index))
        for a in observation.get_current_action_history():
            context[self.action_index[a]] = 1.0
        return torch.cat([self.text_vec, context])

    def get_input_dim(self) -> int:
        return HASH_DIM

    def get_context_dim(self) -> int:
        return len(self.action_index)


class ZeroReward(RewardFunction):
    """Reward 0.0: times the env without its reward."""

    def __call__(self, observation: Any, action: str, targets: list[str]) -> float:
        return 0.0


def _whitespace_tokenize(text: str, label: list[str]) -> list[str]:
    tokens = text.split(" ")
    assert len(tokens) == len(label), "Tokenization does not match with available labels"
    return tokens


SeqTagEnv._tokenize = staticmethod(_whitespace_tokenize)  # on the class: reset calls SeqTagEnv._tokenize


def strip_prefix(tag: str) -> str:
    """NLPGym's own CoNLL pool does this (``data_pools/custom_seq_tagging_pools.py``)."""
    return tag.split("-")[1] if "-" in tag else tag


def make_seq_tag_env(tokens: list[list[str]], tags: list[list[str]], reward: RewardFunction | None) -> SeqTagEnv:
    stripped = [[strip_prefix(t) for t in ts] for ts in tags]
    labels = sorted({t for ts in stripped for t in ts})
    env = SeqTagEnv(labels, reward_function=reward, return_obs_as_vector=False)
    env.set_featurizer(HashedSeqTagFeaturizer(labels))
    env.return_obs_as_vector = True
    for ws, ts in zip(tokens, stripped):
        env.add_sample(Sample(input_text=" ".join(ws), oracle_label=ts))
    return env


def make_multi_label_env(texts: list[str], labels: list[list[str]], names: list[str], max_steps: int) -> MultiLabelEnv:
    env = MultiLabelEnv(list(names), max_steps=max_steps, return_obs_as_vector=False)
    env.set_featurizer(HashedMultiLabelFeaturizer(env.action_space.actions))
    env.return_obs_as_vector = True
    for text, ls in zip(texts, labels):
        env.add_sample(Sample(input_text=text, oracle_label=list(ls)))
    return env


def time_env(env: Any, steps: int, seed: int) -> float:
    """Steps/s of one timed run: pre-drawn uniform random actions, resetting when an episode ends."""
    np.random.seed(seed)  # NLPGym's sampler draws episodes from the global numpy RNG
    env.reset()
    acts = np.random.default_rng(seed).integers(env.action_space.n, size=steps).tolist()
    t0 = time.perf_counter()
    for a in acts:
        _, _, done, _ = env.step(a)
        if done:
            env.reset()
    return steps / (time.perf_counter() - t0)


def metric_examples(examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What NLPGym reports for given gold/predicted BIO tags: its ``EntityScores`` F1 on the stripped
    tags (as its CoNLL pool feeds it), on the raw BIO tags, and the return of a SeqTagEnv episode
    with the default dense reward when the predicted tags are played."""
    out = []
    for ex in examples:
        gold, pred = ex["gold"], ex["pred"]
        g_s, p_s = [strip_prefix(t) for t in gold], [strip_prefix(t) for t in pred]
        env = make_seq_tag_env([ex["tokens"]], [gold], None)
        names = env.action_space.actions
        env.reset(sample=env.get_samples()[0])
        ret, done = 0.0, False
        for t in p_s:
            _, r, done, _ = env.step(names.index(t))
            ret += r
        assert done
        out.append({
            "nlpgym_f1_stripped_tags": float(EntityScores(average="micro")(g_s, p_s)["f1"]),
            "nlpgym_f1_bio_tags": float(EntityScores(average="micro")(gold, pred)["f1"]),
            "nlpgym_episode_return": float(ret),
        })
    return out


def main(in_path: str) -> None:
    """Build the envs from IN.json, then serve requests, one JSON line each on stdin, answering one
    JSON line each on the original stdout (everything else printed goes to stderr):

    * ``{"bench": name, "seed": r}`` -> ``{"steps_per_s": x}``, one timed run of env ``name``;
    * ``{"info": true}`` -> versions and the metric examples.

    A server rather than one batch so that the parent can interleave its repeats with ours: on a
    shared machine both sides of a ratio then run under the same load.
    """
    proto = os.fdopen(os.dup(1), "w")
    sys.stdout = sys.stderr
    cfg = json.loads(open(in_path).read())
    ner = cfg["ner"]
    envs: dict[str, Any] = {
        "seq_tag_default": make_seq_tag_env(ner["tokens"], ner["tags"], None),
        "seq_tag_zero_reward": make_seq_tag_env(ner["tokens"], ner["tags"], ZeroReward()),
    }
    rf = envs["seq_tag_default"].reward_function
    assert isinstance(rf, EntityF1Score) and rf.dense
    ml = cfg.get("multilabel")
    if ml is not None:
        envs["multi_label_default"] = make_multi_label_env(ml["text"], ml["label"], ml["label_names"], ml["max_steps"])
    proto.write(json.dumps({"ready": sorted(envs)}) + "\n")
    proto.flush()
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("info"):
            import flair
            import gym
            import sklearn

            out: dict[str, Any] = {
                "python": platform.python_version(),
                "versions": {"torch": torch.__version__, "gym": gym.__version__, "sklearn": sklearn.__version__,
                             "flair": flair.__version__},
                "metric_examples": metric_examples(cfg["metric_examples"]),
            }
        else:
            name = req["bench"]
            out = {"steps_per_s": time_env(envs[name], cfg["steps"][name], req["seed"])}
        proto.write(json.dumps(out) + "\n")
        proto.flush()


if __name__ == "__main__":
    main(sys.argv[1])
