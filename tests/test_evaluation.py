"""``nlp_envs.evaluate`` (:mod:`nlp_envs.evaluation`) directly: every example of a split (or of a user shard
of it) scored exactly once for any number of sub-envs, exact metrics for scripted policies (an oracle
scores perfectly, a constant policy scores the class share computed from the corpus itself), the policy
forms it accepts (obs -> actions, ``action_masks=``, scores, ``predict`` objects) and its errors.

The family metrics themselves are checked against reference implementations in the family modules
(``test_text_cls``, ``test_ner``, ``test_multilabel``, ``test_mcqa``, ``test_dialog``,
``test_dialog_select``).
"""

from __future__ import annotations

import functools
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import nlp_envs
from nlp_envs import evaluation
from nlp_envs.readers import DataError

SIZES = {"train": 200, "validation": 40, "test": 60}
SMALL = {"dataset_kwargs": {"sizes": SIZES}}

#: (env id, extra env kwargs): every embedded id, and TextCls with episodes of several examples.
CASES = [(env_id, {}) for env_id in ("TextCls-v0", "NerTag-v0", "NerTag-v1", "MultiLabelCls-v0",
                                     "MultiChoiceQA-v0", "DialogSelect-v0", "DialogReply-v0", "DialogReply-v1")]
CASES.append(("TextCls-v0", {"examples_per_episode": 3}))
#: (num_envs, (shard_index, num_shards) or None)
LAYOUTS = [
    (1, None),  # one sub-env walks the whole split
    (7, None),  # uneven sub-env shards
    (10_000, None),  # capped at the split size: one example per sub-env
    (64, (5, 16)),  # a user shard, sub-envs capped at its size
    (3, (15, 16)),  # the last user shard
]


def zero(obs: dict) -> np.ndarray:
    """Action 0 everywhere."""
    return np.zeros(len(next(iter(obs.values()))), np.int64)


def spy_scored_indices(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make ``evaluate`` record the example index of every result its evaluator receives, in order."""
    seen: list[int] = []
    real = evaluation.make_vector_env

    def make_vector_env(*args: Any, **kwargs: Any):
        venv = real(*args, **kwargs)
        make_evaluator = venv.make_evaluator

        def spying_evaluator():
            ev = make_evaluator()
            add = ev.add

            def recording_add(infos: dict, env_ids: np.ndarray) -> None:
                seen.extend(np.asarray(infos["index"])[env_ids].tolist())
                add(infos, env_ids)

            ev.add = recording_add
            return ev

        venv.make_evaluator = spying_evaluator
        return venv

    monkeypatch.setattr(evaluation, "make_vector_env", make_vector_env)
    return seen


def single_env(env_id: str, **kwargs: Any) -> gym.Env:
    """The plain (unwrapped) single env of the test split, in index order."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "v0 is out of date"
        return gym.make(env_id, info_mode="full", split="test", order="sequential", **SMALL, **kwargs).unwrapped


@functools.cache
def oracle(env_id: str, extra: tuple = ()) -> tuple[Callable[[dict], np.ndarray], dict[int, float]]:
    """A policy that reads the gold answer through the observation (a table built by replaying every test
    example in a single env), and, for DialogReply, each example's score when its reference is replied
    (the score of a perfect reply is below 1 where the reference has words outside the vocabulary)."""
    env = single_env(env_id, **dict(extra))
    family = env_id.split("-")[0]
    table: dict[Any, Any] = {}
    reply_scores: dict[int, float] = {}
    for i in range(env.num_examples):
        obs, info = env.reset(options={"index": i})
        if family == "TextCls":
            key, gold = obs["input_ids"].tobytes(), int(info["label"])
        elif family == "MultiChoiceQA":
            key, gold = obs["question_ids"].tobytes() + obs["option_ids"].tobytes(), int(info["answer"])
        elif family == "MultiLabelCls":
            key, gold = obs["input_ids"].tobytes(), tuple(np.flatnonzero(env.gold[i]).tolist())
        elif family == "DialogSelect":
            key, gold = obs["context_ids"].tobytes(), obs["candidate_ids"][info["label"]].tobytes()
        elif family == "DialogReply":
            key, gold = obs["context_ids"].tobytes(), env.reference_ids[i][: env.reference_lengths[i]].tolist()
            for a in gold:
                *_, info = env.step(int(a))
            reply_scores[i] = float(info["score"])
        else:  # NerTag: one key per word
            while True:
                key = (obs["input_ids"].tobytes(), int(obs["position"][0]))
                obs, _, terminated, truncated, info = env.step(0)
                assert table.setdefault(key, int(info["gold_tag"])) == int(info["gold_tag"]), "ambiguous word"
                if terminated or truncated:
                    break
            continue
        assert table.setdefault(key, gold) == gold, f"two test examples of {env_id} look alike"

    def policy(obs: dict) -> np.ndarray:
        # Sub-envs whose episode just ended (their action is ignored) show a final observation: any action.
        if family == "TextCls":
            return np.array([table[row.tobytes()] for row in obs["input_ids"]])
        if family == "MultiChoiceQA":
            return np.array([table[q.tobytes() + o.tobytes()] for q, o in zip(obs["question_ids"], obs["option_ids"])])
        if family == "MultiLabelCls":
            stop = obs["chosen"].shape[1]
            return np.array([next((g for g in table[ids.tobytes()] if not chosen[g]), stop)
                             for ids, chosen in zip(obs["input_ids"], obs["chosen"])])
        if family == "DialogSelect":  # scores: 1 for the gold reply's row
            return np.array([[float(c.tobytes() == table[ctx.tobytes()]) for c in cands]
                             for ctx, cands in zip(obs["context_ids"], obs["candidate_ids"])])
        if family == "DialogReply":
            ref = [table[ctx.tobytes()] for ctx in obs["context_ids"]]
            return np.array([r[min(int(k[0]), len(r) - 1)] for r, k in zip(ref, obs["reply_length"])])
        return np.array([table.get((ids.tobytes(), int(p[0])), 0)
                         for ids, p in zip(obs["input_ids"], obs["position"])])

    return policy, reply_scores


def expected_indices(num_examples: int, shard: tuple[int, int] | None) -> list[int]:
    return list(range(num_examples)) if shard is None else list(range(shard[0], num_examples, shard[1]))


def perfect_scores(env_id: str, reply_scores: dict[int, float], indices: list[int]) -> dict[str, float]:
    family = env_id.split("-")[0]
    if family == "TextCls":
        return {"accuracy": 1.0, "macro_f1": 1.0}
    if family == "NerTag":
        return {"entity_f1": 1.0, "entity_precision": 1.0, "entity_recall": 1.0, "token_accuracy": 1.0}
    if family == "MultiLabelCls":
        return {"example_f1": 1.0, "micro_f1": 1.0, "jaccard": 1.0, "subset_accuracy": 1.0, "hamming_loss": 0.0}
    if family == "MultiChoiceQA":
        return {"accuracy": 1.0}
    if family == "DialogSelect":
        return {"hits_at_1": 1.0, "mrr": 1.0}
    return {"f1": float(np.mean([reply_scores[i] for i in indices]))}


# -- each example scored exactly once ---------------------------------------------------------------


@pytest.mark.parametrize("num_envs, shard", LAYOUTS, ids=[f"envs{n}-shard{s[0]}of{s[1]}" if s else f"envs{n}"
                                                          for n, s in LAYOUTS])
@pytest.mark.parametrize("env_id, extra", CASES, ids=[i + ("-epe3" if kw else "") for i, kw in CASES])
def test_oracle_scores_every_example_once_and_perfectly(env_id: str, extra: dict, num_envs: int,
                                                        shard: tuple[int, int] | None,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    policy, reply_scores = oracle(env_id, tuple(sorted(extra.items())))
    size = single_env(env_id, **extra).num_examples
    want = expected_indices(size, shard)
    shard_kwargs = {} if shard is None else {"shard_index": shard[0], "num_shards": shard[1]}
    seen = spy_scored_indices(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = nlp_envs.evaluate(env_id, policy, split="test", num_envs=num_envs, **SMALL, **extra,
                                   **shard_kwargs)
    twice = sorted(k for k, c in Counter(seen).items() if c > 1)
    assert not twice, f"scored twice: {twice}"
    assert sorted(seen) == want
    assert result["num_examples"] == len(want) and result["split"] == "test" and result["env_id"] == env_id
    for key, value in perfect_scores(env_id, reply_scores, want).items():
        assert result[key] == pytest.approx(value), key


def test_a_split_slice_is_scored_once(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = spy_scored_indices(monkeypatch)
    result = nlp_envs.evaluate("TextCls-v0", zero, split="test[50%:]", num_envs=8, **SMALL)
    assert sorted(seen) == list(range(30)) and result["num_examples"] == 30 and result["split"] == "test[50%:]"


# -- exact metrics of a constant policy, computed from the corpus ------------------------------------


@pytest.mark.parametrize("num_envs, shard", [(13, None), (64, (3, 16))], ids=["envs13", "envs64-shard3of16"])
def test_constant_policy_scores_the_share_of_its_class(num_envs: int, shard: tuple[int, int] | None) -> None:
    """Always the majority test class of TextCls-v0's corpus: accuracy = its share, macro F1 = its F1 / the
    number of classes (every class occurs in the test split), both from the generator's own labels."""
    from nlp_envs.corpora import intents

    names = intents.LABEL_NAMES
    gold = [names[y] for y in intents.generate()["test"]["label"]]
    gold = gold if shard is None else gold[shard[0] :: shard[1]]
    majority, count = Counter(gold).most_common(1)[0]
    action = gym.make("TextCls-v0").unwrapped.label_names.index(majority)
    shard_kwargs = {} if shard is None else {"shard_index": shard[0], "num_shards": shard[1]}
    result = nlp_envs.evaluate("TextCls-v0", lambda obs: np.full(len(obs["input_ids"]), action), split="test",
                               num_envs=num_envs, **shard_kwargs)
    n, k = len(gold), len(set(gold) | {majority})
    assert result["num_examples"] == n
    assert result["accuracy"] == pytest.approx(count / n)
    assert result["macro_f1"] == pytest.approx(2 * count / (count + n) / k)


def test_constant_position_scores_the_share_of_that_gold_position() -> None:
    from nlp_envs.corpora import mcqa

    answers = mcqa.generate(sizes=SIZES)["test"]["answer"]
    for position in (0, 2):
        result = nlp_envs.evaluate("MultiChoiceQA-v0", lambda obs: np.full(len(obs["num_options"]), position),
                                   split="test", num_envs=9, **SMALL)
        assert result["accuracy"] == pytest.approx(np.mean(np.asarray(answers) == position))


# -- the forms of a policy ---------------------------------------------------------------------------


def test_the_policy_gets_whole_batches_of_the_capped_size() -> None:
    shapes: list[set[int]] = []

    def policy(obs: dict) -> list[int]:  # a list is fine too
        shapes.append({len(v) for v in obs.values()})
        return [0] * len(obs["input_ids"])

    nlp_envs.evaluate("TextCls-v0", policy, split="test", num_envs=16, **SMALL)
    assert shapes and all(s == {16} for s in shapes)
    shapes.clear()
    nlp_envs.evaluate("TextCls-v0", policy, split="test", num_envs=500, **SMALL)
    assert shapes == [{60}]  # capped at the split size: one step scores every example


def test_action_masks_keyword_receives_the_vector_masks() -> None:
    """MultiLabelCls masks a picked label: a policy that asks for the masks and takes the first allowed one
    scores exactly as one that reads the same from ``obs["chosen"]``."""
    calls: list[tuple[int, ...]] = []

    def with_masks(obs: dict, action_masks: np.ndarray) -> np.ndarray:
        calls.append(action_masks.shape)
        k = obs["chosen"].shape[1]
        assert action_masks.dtype == bool and action_masks.shape == (len(obs["chosen"]), k + 1)
        assert np.array_equal(action_masks[:, :k], obs["chosen"] == 0) and action_masks[:, k].all()
        picks = action_masks[:, :k].argmax(axis=1)
        return np.where(obs["num_chosen"][:, 0] < 2, picks, k)

    def from_obs(obs: dict) -> np.ndarray:
        k = obs["chosen"].shape[1]
        return np.where(obs["num_chosen"][:, 0] < 2, (obs["chosen"] == 0).argmax(axis=1), k)

    a = nlp_envs.evaluate("MultiLabelCls-v0", with_masks, split="test", num_envs=8, **SMALL)
    b = nlp_envs.evaluate("MultiLabelCls-v0", from_obs, split="test", num_envs=8, **SMALL)
    assert calls and a == b and a["mean_labels_pred"] == 2.0


def test_scores_are_turned_into_their_argmax() -> None:
    policy, _ = oracle("TextCls-v0")
    n_actions = gym.make("TextCls-v0", **SMALL).action_space.n

    def scores(obs: dict) -> np.ndarray:
        out = np.random.default_rng(0).random((len(obs["input_ids"]), n_actions))
        out[np.arange(len(out)), policy(obs)] = 2.0
        return out

    assert nlp_envs.evaluate("TextCls-v0", scores, split="test", num_envs=8, **SMALL)["accuracy"] == 1.0


def test_ranking_scores_give_the_exact_mrr() -> None:
    """DialogSelect with scores: the gold reply ranked second everywhere gives hits@1 0 and MRR 1/2."""
    gold_row = oracle("DialogSelect-v0")[0]

    def second(obs: dict) -> np.ndarray:
        gold = gold_row(obs)  # 1.0 at the gold row
        out = gold * 0.5
        out[np.arange(len(out)), (gold.argmax(axis=1) + 1) % gold.shape[1]] = 1.0
        return out

    result = nlp_envs.evaluate("DialogSelect-v0", second, split="test", num_envs=8, **SMALL)
    assert result["hits_at_1"] == 0.0 and result["mrr"] == pytest.approx(0.5)
    actions_only = nlp_envs.evaluate("DialogSelect-v0", lambda obs: second(obs).argmax(axis=1), split="test",
                                     num_envs=8, **SMALL)
    assert actions_only["hits_at_1"] == 0.0 and "mrr" not in actions_only  # no scores, no ranking metrics


@pytest.mark.parametrize("masked", [False, True])
def test_predict_objects_are_called_deterministically(masked: bool) -> None:
    """Stable-Baselines3 models: ``predict(obs, deterministic=True)``, with ``action_masks=`` when it has it."""
    policy, _ = oracle("TextCls-v0")
    calls: list[dict] = []

    class Model:
        def predict(self, obs, state=None, episode_start=None, deterministic=False):
            calls.append({"deterministic": deterministic})
            return policy(obs), None

    class MaskableModel:
        def predict(self, obs, state=None, episode_start=None, deterministic=False, action_masks=None):
            calls.append({"deterministic": deterministic,
                          "masks": None if action_masks is None else action_masks.shape})
            return policy(obs).tolist(), None

    model = MaskableModel() if masked else Model()
    result = nlp_envs.evaluate("TextCls-v0", model, split="test", num_envs=8, **SMALL)
    assert result["accuracy"] == 1.0 and calls
    assert all(c["deterministic"] is True for c in calls)
    if masked:
        assert all(c["masks"] == (8, 16) for c in calls)


def test_a_made_env_lends_its_kwargs_and_its_id() -> None:
    env = gym.make("TextCls-v0", **SMALL)
    result = nlp_envs.evaluate(env, zero, num_envs=8)
    assert result["num_examples"] == SIZES["test"] and result["env_id"] == "TextCls-v0"
    assert nlp_envs.evaluate(env, zero, split="validation", num_envs=8)["num_examples"] == SIZES["validation"]
    assert nlp_envs.evaluate("nlp_envs:TextCls-v0", zero, num_envs=8, **SMALL)["num_examples"] == SIZES["test"]


def test_the_seed_is_the_vector_env_seed() -> None:
    """DialogSelect draws its distractors from the seeded sub-envs: the same seed shows the same candidates,
    another seed others."""
    def seen_with(seed: int) -> bytes:
        rows: list[bytes] = []

        def policy(obs: dict) -> np.ndarray:
            rows.append(obs["candidate_ids"].tobytes())
            return np.zeros(len(obs["candidate_ids"]), np.int64)

        nlp_envs.evaluate("DialogSelect-v0", policy, split="test", num_envs=8, seed=seed, **SMALL)
        return b"".join(rows)

    assert seen_with(0) == seen_with(0) != seen_with(1)


# -- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy, error, match", [
    (lambda obs: np.zeros(len(obs["input_ids"]) + 1, np.int64), ValueError, r"shape \(9,\); expected \(8,\) actions"),
    (lambda obs: 3, ValueError, r"shape \(\); expected \(8,\) actions"),
    (lambda obs: None, ValueError, r"expected \(8,\) actions"),
    (lambda obs: np.zeros((len(obs["input_ids"]), 2, 2)), ValueError, r"shape \(8, 2, 2\)"),
    (lambda obs: np.zeros((3, 16)), ValueError, r"TextCls-v0: policy returned scores of shape \(3, 16\); expected "
                                                r"\(8,\) integer actions or \(8, 16\) scores"),
    (lambda obs: np.full(len(obs["input_ids"]), 16), gym.error.InvalidAction, r"action 16 of sub-env 0 is out of range"),
    (lambda obs: np.full(len(obs["input_ids"]), -1), gym.error.InvalidAction, r"action -1 .* out of range"),
    (42, TypeError, "policy must be callable"),
], ids=["long", "scalar", "none", "3d", "short-scores", "past-the-end", "negative", "not-callable"])
def test_bad_policy_outputs_are_clear_errors(policy: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        nlp_envs.evaluate("TextCls-v0", policy, split="test", num_envs=8, **SMALL)


def test_bad_envs_and_settings_are_clear_errors() -> None:
    from nlp_envs.text_cls import TextClsEnv

    with pytest.raises(TypeError, match="pass an env id or a single env"):
        nlp_envs.evaluate(gym.make_vec("TextCls-v0", num_envs=2, vectorization_mode="vector_entry_point", **SMALL)
                          .unwrapped, zero)
    with pytest.raises(TypeError, match="CartPoleEnv is not an nlp-envs env"):
        nlp_envs.evaluate(gym.make("CartPole-v1"), zero)
    with pytest.raises(ValueError, match="no spec .* pass its id instead"):
        nlp_envs.evaluate(TextClsEnv(**SMALL), zero)
    with pytest.raises(TypeError, match="expected an env id or an env, got int"):
        nlp_envs.evaluate(42, zero)
    with pytest.raises(gym.error.NameNotFound):
        nlp_envs.evaluate("NoSuchEnv-v0", zero)
    with pytest.raises(ValueError, match="num_envs=0 must be a positive int"):
        nlp_envs.evaluate("TextCls-v0", zero, num_envs=0, **SMALL)
    with pytest.raises(DataError, match="has no split 'bogus'"):
        nlp_envs.evaluate("TextCls-v0", zero, split="bogus[:3]", **SMALL)
    with pytest.raises(ValueError, match="shard"):
        nlp_envs.evaluate("TextCls-v0", zero, shard_index=16, num_shards=16, **SMALL)


@pytest.mark.parametrize("value", [2.7, 2.0, True], ids=["fraction", "whole-float", "bool"])
def test_non_integer_actions_are_refused(value: Any) -> None:
    """Float (even whole) and bool actions are refused, never cast (2.7 would have played action 2)."""
    dtype = np.asarray(value).dtype
    with pytest.raises(ValueError, match=rf"TextCls-v0: policy returned actions of dtype {dtype}; expected \(8,\) "
                                         r"integer actions or \(8, 16\) scores"):
        nlp_envs.evaluate("TextCls-v0", lambda obs: np.full(len(obs["input_ids"]), value), split="test", num_envs=8,
                          **SMALL)


@pytest.mark.parametrize("width", [1, 3, 17])
def test_scores_of_the_wrong_width_are_refused(width: int) -> None:
    """Only ``(num_envs, n)`` is scores: a ``(num_envs, 1)`` column of actions would otherwise be action 0 everywhere."""
    with pytest.raises(ValueError, match=rf"scores of shape \(8, {width}\); expected \(8,\) integer actions or "
                                         r"\(8, 16\) scores"):
        nlp_envs.evaluate("TextCls-v0", lambda obs: np.full((len(obs["input_ids"]), width), 3), split="test",
                          num_envs=8, **SMALL)


def test_an_env_made_by_gym_make_is_named_in_errors() -> None:
    env = gym.make("TextCls-v0", **SMALL)
    with pytest.raises(ValueError, match="TextCls-v0: policy returned actions of dtype float64"):
        nlp_envs.evaluate(env, lambda obs: np.zeros(len(obs["input_ids"])), split="test", num_envs=8)


# -- real data: a shard layout that once reported "an example was scored twice" ----------------------


@pytest.mark.data
def test_banking77_sixteen_shards_partition_the_test_split(data_dir: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Each of the 16 shards of Banking77's test split is scored once by a 64-sub-env evaluation; together
    they are the split, and their correct answers add up to the whole split's."""
    env_id = "TextCls-Banking77-v0"
    seen = spy_scored_indices(monkeypatch)
    whole = nlp_envs.evaluate(env_id, zero, split="test", num_envs=64, data_dir=data_dir)
    n = whole["num_examples"]
    assert sorted(seen) == list(range(n))
    correct = 0.0
    for j in range(16):
        seen.clear()
        part = nlp_envs.evaluate(env_id, zero, split="test", num_envs=64, data_dir=data_dir, shard_index=j,
                                 num_shards=16)
        assert sorted(seen) == list(range(j, n, 16)), j
        assert part["num_examples"] == len(range(j, n, 16))
        correct += part["accuracy"] * part["num_examples"]
    assert correct == pytest.approx(whole["accuracy"] * n)
