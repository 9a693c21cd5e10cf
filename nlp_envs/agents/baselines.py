"""Reference policies that need no training: random and majority.

Both are plain callables from a batch of observations (the native vector env's dict of arrays) to a
batch of actions, usable by :func:`nlp_envs.evaluate` and by ``nlp-envs eval ENV_ID --agent
random|majority``::

    policy = MajorityPolicy.fit("NerTag-v0")
    nlp_envs.evaluate("NerTag-v0", policy, split="test")

What "majority" means per family (fitted on the train split through the env's public gold API): the
family contract names its kind (``Family.majority``, :mod:`nlp_envs.family`), a key of :data:`MAJORITY`:

| kind (family)                   | prediction                                                          |
|---------------------------------|---------------------------------------------------------------------|
| classification (``TextCls``)    | the most frequent train label (ties: the lowest label id)            |
| tagging (``NerTag``)            | the most frequent train tag of the *word class* ``(first subword id of the word, previous tag)``, backing off to the first subword id alone, then to the previous tag alone; always the most frequent **allowed** tag under the BIO mask (a unigram tagger with a BIO-aware back-off: the classic CoNLL baseline, not an all-``O`` tagger whose entity F1 is 0) |
| generation (``DialogReply``)    | the most frequent train reply (its token ids, then ``[EOS]``), one token per step at ``reply_length`` |
| selection (``DialogSelect``)    | scores each candidate by how often its text is a train reply, ties broken toward the shortest candidate; returns scores, so ``evaluate`` also reports ranking metrics |
| multi-label (``MultiLabelCls``) | the most frequent train label *set* (ties: the first in ``np.unique`` order), emitted one label per step in ascending id order (skipping labels already picked or masked), then ``STOP`` |
| multiple choice (``MultiChoiceQA``) | the most frequent train gold *position* among the question's options (positions ranked by train frequency, the first one ``< num_options``); sequential mode: ``ANSWER`` at the first option on show that is that position, or at the last |
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

import nlp_envs  # noqa: F401  (registers the ids)
from nlp_envs.family import family_of_env
from nlp_envs.registration import eval_only_split, train_siblings

Obs = dict[str, np.ndarray]  # a batch of observations (the native vector env's)


def _batch_size(obs: dict[str, np.ndarray]) -> int:
    return len(next(iter(obs.values())))


class RandomPolicy:
    """Uniform over the allowed actions (all of them without ``action_masks``).

    :param action_space_n: number of actions ``n``.
    :param seed: seed of the policy's own generator.
    """

    def __init__(self, action_space_n: int, seed: int | None = None) -> None:
        self.n = int(action_space_n)
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: dict[str, np.ndarray], action_masks: np.ndarray | None = None) -> np.ndarray:
        b = _batch_size(obs)
        scores = self.rng.random((b, self.n))  # (B, n): argmax of iid uniforms = a uniform choice
        if action_masks is not None:
            masks = np.asarray(action_masks, dtype=bool).reshape(b, self.n)
            if not masks.any(axis=1).all():
                raise ValueError("an action mask allows no action")
            scores = np.where(masks, scores, -1.0)
        return scores.argmax(axis=1).astype(np.int64)


class MajorityPolicy:
    """The majority baseline of the env's family (see the module doc); build it with :meth:`fit`.

    :param family: the kind of majority baseline (a key of :data:`MAJORITY`: ``"classification"``, ``"ner"``,
        ``"generation"``, ``"selection"``, ``"multilabel"`` or ``"mcqa"``; ``Family.majority``).
    :param table: what :meth:`fit` learned (kind-specific).
    """

    def __init__(self, family: str, table: dict[str, Any]) -> None:
        if family not in MAJORITY:
            raise ValueError(f"unknown majority baseline kind {family!r}; known: {sorted(MAJORITY)}")
        self.family = family
        self.table = table

    @classmethod
    def fit(cls, env_id: str, **env_kwargs: Any) -> MajorityPolicy:
        """Fit on the train split of ``env_id`` (``env_kwargs`` as for ``gym.make``; ``split`` is ignored)."""
        env_kwargs = {k: v for k, v in env_kwargs.items() if k not in ("split", "order")}
        if eval_only_split(env_id, env_kwargs) is not None:
            # an evaluation-only id (its dataset has no train split): the majority of the training data
            # its family is trained on, as for any model evaluated there
            siblings = train_siblings(env_id)
            if not siblings:
                raise ValueError(f"{env_id} is evaluation-only and no trainable id shares its env class: "
                                 f"no train split to fit a majority baseline on")
            warnings.warn(f"{env_id} is evaluation-only: majority fitted on the train split of {siblings[0]}",
                          stacklevel=2)
            env_id = siblings[0]
        fam = family_of_env(env_id)
        if fam.majority is None:
            raise ValueError(f"no majority baseline for {env_id}: family {fam.name} declares none "
                             "(Family.majority)")
        env = gym.make(env_id, split="train", **env_kwargs)
        try:
            return cls(fam.majority, MAJORITY[fam.majority].fit(env.unwrapped))
        finally:
            env.close()

    def __call__(self, obs: dict[str, np.ndarray], action_masks: np.ndarray | None = None) -> np.ndarray:
        return MAJORITY[self.family].act(self.table, obs, action_masks)


# -- the kinds: fit (on the train env, through its public gold API) and act --------------------------------
def _fit_classification(env: Any) -> dict[str, Any]:
    labels = env.gold_episodes().actions[:, 0]
    counts = np.bincount(labels, minlength=env.num_labels)
    return {"label": int(counts.argmax()), "counts": counts.tolist()}


def _act_classification(table: dict[str, Any], obs: Obs, action_masks: Any) -> np.ndarray:
    return np.full(_batch_size(obs), table["label"], dtype=np.int64)


def _fit_tagging(env: Any) -> dict[str, Any]:
    k = env.num_tags
    gold = env.gold_episodes()
    ids, starts = gold.obs["input_ids"], gold.obs["word_starts"]  # (n, L), (n, W)
    rows, cols = np.nonzero(gold.mask)  # (n, W) words that get a step
    tags = gold.actions  # (n, W) gold tag per word
    golds = tags[rows, cols].astype(np.int64)
    prev = np.where(cols > 0, tags[rows, np.maximum(cols - 1, 0)], k).astype(np.int64)
    token = ids[rows, starts[rows, cols]].astype(np.int64)
    by_word_prev: dict[tuple[int, int], Counter] = {}
    by_word: dict[int, Counter] = {}
    for t, p, g in zip(token.tolist(), prev.tolist(), golds.tolist()):
        by_word_prev.setdefault((t, p), Counter())[g] += 1
        by_word.setdefault(t, Counter())[g] += 1
    by_prev = np.zeros((k + 1, k), dtype=np.int64)
    np.add.at(by_prev, (prev, golds), 1)
    return {
        # each class: tags ordered by train frequency (most frequent first)
        "word_prev": {key: [g for g, _ in c.most_common()] for key, c in by_word_prev.items()},
        "word": {key: [g for g, _ in c.most_common()] for key, c in by_word.items()},
        "prev": [list(np.argsort(-by_prev[p], kind="stable")) for p in range(k + 1)],
        "allowed": np.asarray(env.allowed_tags, dtype=bool),  # (k + 1, k): tags allowed after prev
        "num_tags": k,
    }


def _act_tagging(table: dict[str, Any], obs: Obs, action_masks: np.ndarray | None) -> np.ndarray:
    k = table["num_tags"]
    pos = obs["position"].reshape(-1).astype(np.int64)
    starts, ids, prev_tags = obs["word_starts"], obs["input_ids"], obs["prev_tags"]
    out = np.zeros(len(pos), dtype=np.int64)
    for i, p in enumerate(pos.tolist()):
        p = min(p, starts.shape[1] - 1)
        token = int(ids[i, starts[i, p]])
        prev = int(prev_tags[i, p - 1]) if p > 0 else k
        prev = min(prev, k)
        allowed = action_masks[i] if action_masks is not None else table["allowed"][prev]
        for ranked in (table["word_prev"].get((token, prev)), table["word"].get(token), table["prev"][prev]):
            pick = next((g for g in ranked or () if allowed[g]), None)
            if pick is not None:
                out[i] = pick
                break
        else:
            out[i] = int(np.flatnonzero(allowed)[0])
    return out


def _fit_generation(env: Any) -> dict[str, Any]:
    ref = np.asarray(env.reference_ids)  # (n, R): reply ids then [EOS], 0-padded (the gold actions)
    rows, counts = np.unique(ref, axis=0, return_counts=True)
    best = rows[counts.argmax()].astype(np.int64)
    return {"reply": best, "eos": int(env.eos_id), "count": int(counts.max())}


def _act_generation(table: dict[str, Any], obs: Obs, action_masks: np.ndarray | None) -> np.ndarray:
    reply, eos = table["reply"], table["eos"]
    length = obs["reply_length"].reshape(-1).astype(np.int64)
    tok = reply[np.minimum(length, len(reply) - 1)]
    tok = np.where((tok == 0) | (length >= len(reply) - 1), eos, tok)  # past the reply: end it
    if action_masks is not None:
        ok = np.asarray(action_masks, dtype=bool)[np.arange(len(tok)), tok]
        tok = np.where(ok, tok, eos)
    return tok.astype(np.int64)


def _fit_selection(env: Any) -> dict[str, Any]:
    pool = np.asarray(env.pool_ids).astype(np.int64)  # (n, R) train replies
    return {"freq": Counter(row.tobytes() for row in pool)}


def _act_selection(table: dict[str, Any], obs: Obs, action_masks: Any) -> np.ndarray:
    freq = table["freq"]
    cand = obs["candidate_ids"].astype(np.int64)  # (B, K, R)
    mask = obs["candidate_mask"].astype(np.int64)
    cand = cand * mask
    b, k, r = cand.shape
    counts = np.array([[freq.get(cand[i, j].tobytes(), 0) for j in range(k)] for i in range(b)], dtype=np.float64)
    lengths = mask.sum(axis=2)
    return counts - lengths / (r + 1.0)  # (B, K) scores: frequency, then shorter first


def _fit_multilabel(env: Any) -> dict[str, Any]:
    sets, counts = np.unique(np.asarray(env.gold, dtype=bool), axis=0, return_counts=True)
    best = sets[counts.argmax()]
    return {"labels": best, "stop": int(env.stop_action), "count": int(counts.max())}


def _act_multilabel(table: dict[str, Any], obs: Obs, action_masks: np.ndarray | None) -> np.ndarray:
    labels, stop = table["labels"], table["stop"]
    want = labels[None] & (np.asarray(obs["chosen"]) == 0)  # (B, K): set labels not picked yet
    if action_masks is not None:
        want &= np.asarray(action_masks, dtype=bool)[:, :stop]
    return np.where(want.any(1), want.argmax(1), stop).astype(np.int64)


def _fit_mcqa(env: Any) -> dict[str, Any]:
    counts = np.bincount(np.asarray(env.answers), minlength=env.max_options)
    ranked = np.argsort(-counts, kind="stable")  # positions by train frequency (ties: the lower one)
    return {"ranked": ranked.astype(np.int64), "counts": counts.tolist(), "mode": env.mode}


def _act_mcqa(table: dict[str, Any], obs: Obs, action_masks: Any) -> np.ndarray:
    ranked = table["ranked"]
    num = np.asarray(obs["num_options"]).reshape(-1)
    valid = ranked[None, :] < num[:, None]  # (B, M): ranked positions that exist
    pos = ranked[valid.argmax(1)]  # the most frequent existing position
    if "option_index" not in obs:  # direct mode: the position; sequential: ANSWER (0) there, else NEXT (1)
        return pos.astype(np.int64)
    shown = np.asarray(obs["option_index"]).reshape(-1)
    return (shown != pos).astype(np.int64)


@dataclass(frozen=True)
class MajorityKind:
    """One kind of majority baseline: ``fit(train env) -> table``, ``act(table, obs, action_masks) ->
    actions`` (or ``(B, n)`` scores)."""

    fit: Callable[[Any], dict[str, Any]]
    act: Callable[[dict[str, Any], Obs, Any], np.ndarray]


#: The majority baselines, by kind (``Family.majority`` names one).
MAJORITY: dict[str, MajorityKind] = {
    "classification": MajorityKind(_fit_classification, _act_classification),
    "ner": MajorityKind(_fit_tagging, _act_tagging),
    "generation": MajorityKind(_fit_generation, _act_generation),
    "selection": MajorityKind(_fit_selection, _act_selection),
    "multilabel": MajorityKind(_fit_multilabel, _act_multilabel),
    "mcqa": MajorityKind(_fit_mcqa, _act_mcqa),
}


def make_baseline(name: str, env_id: str, *, seed: int = 0, **env_kwargs: Any) -> RandomPolicy | MajorityPolicy:
    """``"random"`` or ``"majority"`` for ``env_id`` (``env_kwargs`` as for ``gym.make``)."""
    if name == "random":
        env = gym.make(env_id, **{k: v for k, v in env_kwargs.items() if k != "order"})
        n = int(env.action_space.n)
        env.close()
        return RandomPolicy(n, seed=seed)
    if name == "majority":
        return MajorityPolicy.fit(env_id, **env_kwargs)
    raise ValueError(f"unknown baseline {name!r}: expected 'random' or 'majority'")


__all__ = ["MAJORITY", "MajorityKind", "MajorityPolicy", "RandomPolicy", "make_baseline"]
