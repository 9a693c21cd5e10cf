"""Tests for ``nlp_envs.ner``: tag set, bring-your-own CoNLL data, the three rewards against seqeval,
action masks, strict mode, the native vector env against ``SyncVectorEnv``, and ``evaluate``."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import InvalidAction, ResetNeeded

import nlp_envs
from nlp_envs.metrics import IncrementalEntityF1, TagScheme
from nlp_envs.ner import NerTagEnv, gold_chunk_arrays, map_tags, tag_vocabulary
from nlp_envs.readers import DataError
from nlp_envs.testing import check_vector_matches_sync
from tests.helpers import write_file

seqeval_metrics = pytest.importorskip("seqeval.metrics")

ENTITY_TAGS = ("O", "B-DATE", "I-DATE", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER")


def seqeval_sentence_f1(gold: list[str], pred: list[str]) -> float:
    """seqeval's entity F1 of one sentence, with our convention: no entity on either side -> 1.0."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not seqeval_metrics.sequence_labeling.get_entities(gold) and not (
            seqeval_metrics.sequence_labeling.get_entities(pred)
        ):
            return 1.0
        return float(seqeval_metrics.f1_score([gold], [pred], zero_division=0))


def play(env: gym.Env, actions, *, index: int | None = None, seed: int | None = None):
    """One episode; ``actions(t, obs, info)`` picks each tag. Returns (rewards, infos)."""
    obs, info = env.reset(seed=seed, options=None if index is None else {"index": index})
    rewards, infos = [], [info]
    t = 0
    while True:
        obs, r, term, trunc, info = env.step(actions(t, obs, info))
        rewards.append(r)
        infos.append(info)
        t += 1
        if term or trunc:
            return rewards, infos


# --------------------------------------------------------------------------------------------------
# tag set and data
# --------------------------------------------------------------------------------------------------


def test_tag_set_order_and_spaces() -> None:
    env = gym.make("NerTag-v0")
    u = env.unwrapped
    assert u.tag_names == ENTITY_TAGS
    assert env.action_space == gym.spaces.Discrete(9)
    space = env.observation_space
    assert space["prev_tags"].high.max() == 9 and space["position"].high.max() == 48
    assert space["num_words"].low.min() == 1 and space["word_starts"].high.max() == 63
    assert tag_vocabulary([["I-b", "O"], ["B-a"]]) == ("O", "B-a", "I-a", "B-b", "I-b")
    with pytest.raises(DataError, match="not a BIO tag"):
        tag_vocabulary([["S-PER"]])


def test_observation_layout() -> None:
    env = gym.make("NerTag-v0", info_mode="full", split="validation")
    obs, info = env.reset(seed=0, options={"index": 3})
    u = env.unwrapped
    n = int(obs["num_words"][0])
    assert n == len(info["text"].split(" "))
    assert obs["position"].tolist() == [0] and (obs["prev_tags"] == u.num_tags).all()
    starts = obs["word_starts"]
    assert (starts[:n] >= 1).all() and (starts[n:] == 0).all() and (np.diff(starts[:n]) > 0).all()
    # the first subword of each word decodes to (the start of) that word
    first = u.encoder.id_to_token(int(obs["input_ids"][starts[0]]))
    assert info["text"].split(" ")[0].lower().startswith(first.lower().lstrip("#"))
    obs, _, _, _, step_info = env.step(0)
    assert obs["position"].tolist() == [1] and obs["prev_tags"][0] == 0 and step_info["word"] == info["text"].split(" ")[0]


def test_unseen_tag_is_an_error_naming_split_sentence_and_tag(tmp_path: Path) -> None:
    write_file(tmp_path / "train.conll", "John\tB-PER\nruns\tO\n")
    write_file(tmp_path / "test.conll", "Mary\tB-PER\n\nin\tO\nParis\tB-LOC\n")
    assert gym.make("NerTag-v0", dataset=str(tmp_path)).unwrapped.tag_names == ("O", "B-PER", "I-PER")
    with pytest.raises(DataError) as err:
        gym.make("NerTag-v0", dataset=str(tmp_path), split="test")
    message = str(err.value)
    assert "split 'test'" in message and "'B-LOC'" in message
    assert "test.conll, line 4 (sentence 2, word 2)" in message  # file, line, 1-based sentence and word


def test_bring_your_own_conll_docstart_comments_iob1_bioes(tmp_path: Path) -> None:
    # IOB1, space-separated CoNLL-2003 style columns, -DOCSTART- and a comment.
    write_file(tmp_path / "train.txt", (
        "-DOCSTART- -X- -X- O\n\n# a comment line\n"
        "John NNP B-NP I-PER\nSmith NNP I-NP I-PER\nlives VBZ B-VP O\nin IN B-PP O\nParis NNP B-NP I-LOC\n\n"
        "-DOCSTART- -X- -X- O\nAnn NNP B-NP I-PER\nBob NNP B-NP B-PER\n"
    ))
    # BIOES, TAB-separated, whitespace-only separator line.
    write_file(tmp_path / "test.txt", "Acme\tB-ORG\nCorp\tE-ORG\nhired\tO\nJo\tS-PER\n\t\nhi\tO\n")
    env = gym.make("NerTag-v0", info_mode="full", dataset=str(tmp_path), token_column=0, tag_column=-1)
    u = env.unwrapped
    assert u.tag_names == ("O", "B-LOC", "I-LOC", "B-PER", "I-PER") and u.num_examples == 2
    _, infos = play(env, lambda t, o, i: 0, index=0)
    assert infos[-1]["gold_tags"] == ["B-PER", "I-PER", "O", "O", "B-LOC"]
    assert infos[0]["text"] == "John Smith lives in Paris"
    _, infos = play(env, lambda t, o, i: 0, index=1)
    assert infos[-1]["gold_tags"] == ["B-PER", "B-PER"]  # IOB1: I- after O begins, B- splits
    # The BIOES test file reads (S-/E- converted) but holds ORG, which train lacks.
    with pytest.raises(DataError, match=r"test\.txt, line 1 \(sentence 1, word 1\) \(split 'test'\): tag 'B-ORG'"):
        gym.make("NerTag-v0", info_mode="full", dataset=str(tmp_path), split="test")


def test_bring_your_own_bioes_file(tmp_path: Path) -> None:
    write_file(tmp_path / "train.txt", "Acme\tB-ORG\nCorp\tE-ORG\nhired\tO\nJo\tS-PER\n\t\nhi\tO\n")
    env = gym.make("NerTag-v0", info_mode="full", dataset=str(tmp_path / "train.txt"))
    u = env.unwrapped
    assert u.tag_names == ("O", "B-ORG", "I-ORG", "B-PER", "I-PER") and u.num_examples == 2
    gold_ids = [1, 2, 0, 3]
    rewards, infos = play(env, lambda t, o, i: gold_ids[t], index=0)
    assert infos[-1]["gold_tags"] == ["B-ORG", "I-ORG", "O", "B-PER"]
    assert sum(rewards) == pytest.approx(1.0) and infos[-1]["entity_f1"] == 1.0


def test_words_with_spaces_and_truncated_input(tmp_path: Path) -> None:
    write_file(tmp_path / "train.tsv", "New York\tB-LOC\nis\tO\nbig\tO\n" + "".join(f"w{i}\tO\n" for i in range(30)))
    env = gym.make("NerTag-v0", info_mode="full", dataset=str(tmp_path / "train.tsv"), max_length=8, max_words=6)
    obs, info = env.reset(seed=0, options={"index": 0})
    assert info["truncated_input"] and info["truncated_words"] == 27 and obs["num_words"].tolist() == [6]
    last = int(obs["attention_mask"].sum()) - 1  # the final [SEP]
    assert obs["input_ids"][last] == env.unwrapped.encoder.sep_id
    assert obs["word_starts"][-1] == last  # a word cut from the input points at [SEP]
    rewards, infos = play(env, lambda t, o, i: 0, index=0)
    assert infos[1]["word"] == "New York" and len(rewards) == 6
    assert infos[-1]["pred_tags"] == ["O"] * 33 and sum(rewards) == 0.0
    # 2 = I-LOC, masked at the start but scored as given: seqeval reads it as a LOC entity
    assert not infos[0]["action_mask"][2]
    rewards, infos = play(env, lambda t, o, i: 2 if t == 0 else 0, index=0)
    assert infos[-1]["pred_tags"][:2] == ["I-LOC", "O"] and sum(rewards) == pytest.approx(1.0)


def test_gold_chunk_arrays_match_incremental_scorer() -> None:
    names = ("O", "B-A", "I-A", "B-B", "I-B")
    scheme = TagScheme(names)
    sents = [["B-A", "I-A", "O", "I-B"], ["O"], ["I-A", "I-B", "B-B", "I-B", "I-B"], ["B-A", "B-A"]]
    gold, offsets = map_tags(sents, names, where="x")
    facts = gold_chunk_arrays(gold, offsets, scheme)
    assert facts["total"].tolist() == [2, 0, 3, 2]
    assert facts["open_start"][offsets[2] : offsets[3]].tolist() == [0, 1, 2, 2, 2]
    assert facts["end_at_start"][offsets[0] : offsets[1]].tolist() == [1, -1, -1, 3]
    assert facts["count"][offsets[3] : offsets[4]].tolist() == [1, 2]


# --------------------------------------------------------------------------------------------------
# rewards
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("max_words", [48, 5])
def test_entity_f1_return_equals_seqeval_and_shaping_matches_scorer(max_words: int) -> None:
    env = gym.make("NerTag-v0", info_mode="full", split="validation", max_words=max_words)
    u = env.unwrapped
    rng = np.random.default_rng(max_words)
    scheme = TagScheme(u.tag_names)
    truncated = 0
    for episode in range(120):
        biased = episode % 2 == 0  # half the episodes mostly gold, so that F1 takes many values
        gold_ids: list[int] = []

        def policy(t, obs, info):
            if t == 0:
                gold_ids.clear()
            g = int(u._gold[t])
            gold_ids.append(g)
            return g if biased and rng.random() < 0.7 else int(rng.integers(u.num_tags))  # masks ignored

        rewards, infos = play(env, policy, seed=episode if episode == 0 else None)
        final = infos[-1]
        pred, gold = final["pred_tags"], final["gold_tags"]
        assert len(pred) == len(gold) and len(rewards) == min(len(gold), max_words)
        truncated += infos[0]["truncated_words"] > 0
        assert pred[len(rewards):] == ["O"] * (len(gold) - len(rewards))
        expected = seqeval_sentence_f1(gold, pred)
        assert sum(rewards) == pytest.approx(expected, abs=1e-12)
        assert final["entity_f1"] == pytest.approx(expected, abs=1e-12)
        # each step's F1 is the IncrementalEntityF1 of the prefix (the last one: of the whole sentence)
        scorer = IncrementalEntityF1(scheme.encode(gold), scheme)
        f1s = [scorer.push(scheme.encode([p])[0]) for p in pred]
        cumulative = np.cumsum(rewards)
        assert np.allclose(cumulative[:-1], f1s[: len(rewards) - 1], atol=1e-12)
        assert cumulative[-1] == pytest.approx(f1s[-1], abs=1e-12)
    if max_words == 5:
        assert truncated > 10


def test_entity_free_sentence_scores_one() -> None:
    env = gym.make("NerTag-v0", split="test")
    u = env.unwrapped
    index = next(i for i in range(u.num_examples) if u._episode[i, 3] == 0)  # no gold entity
    rewards, infos = play(env, lambda t, o, i: 0, index=index)
    assert sum(rewards) == pytest.approx(1.0) and infos[-1]["entity_f1"] == 1.0


def test_token_and_sparse_rewards() -> None:
    rng = np.random.default_rng(0)
    for reward in ("token", "sparse_f1"):
        env = gym.make("NerTag-v0", info_mode="full", reward=reward, max_words=8)
        for index in range(30):
            actions = rng.integers(0, 9, 64)
            rewards, infos = play(env, lambda t, o, i: int(actions[t]), index=index)
            steps = infos[1:]
            if reward == "token":
                assert rewards == [float(s["prediction"] == s["gold_tag"]) for s in steps]
            else:
                assert rewards[:-1] == [0.0] * (len(rewards) - 1)
                assert rewards[-1] == pytest.approx(seqeval_sentence_f1(steps[-1]["gold_tags"], steps[-1]["pred_tags"]))
    with pytest.raises(ValueError, match="reward="):
        gym.make("NerTag-v0", info_mode="full", reward="bleu")


# --------------------------------------------------------------------------------------------------
# masks, strict mode, episode bookkeeping
# --------------------------------------------------------------------------------------------------


def expected_mask(names: tuple[str, ...], prev: str | None) -> list[bool]:
    """I-X only after B-X or I-X; everything else always allowed."""
    out = []
    for n in names:
        if n.startswith("I-"):
            out.append(prev is not None and prev != "O" and prev[2:] == n[2:])
        else:
            out.append(True)
    return out


def test_masks_forbid_exactly_i_after_non_matching() -> None:
    env = gym.make("NerTag-v0")
    names = env.unwrapped.tag_names
    get_masks = env.get_wrapper_attr("action_masks")
    rng = np.random.default_rng(1)
    for _ in range(20):
        _, info = env.reset()
        prev = None
        while True:
            assert info["action_mask"].dtype == bool and info["action_mask"].shape == (9,)
            assert info["action_mask"].tolist() == expected_mask(names, prev)
            assert get_masks().tolist() == expected_mask(names, prev)
            a = int(rng.integers(9))  # invalid ones too: scored as given
            _, _, term, _, info = env.step(a)
            prev = names[a]
            if term:
                break


def test_strict_mode_raises_and_keeps_state() -> None:
    env = gym.make("NerTag-v0", strict=True)
    env.reset(seed=0)
    i_per = env.unwrapped.tag_names.index("I-PER")
    with pytest.raises(InvalidAction, match="cannot follow the sentence start"):
        env.step(i_per)
    assert env.unwrapped._t == 0
    env.step(env.unwrapped.tag_names.index("B-PER"))
    env.step(i_per)  # now valid
    with pytest.raises(InvalidAction, match="cannot follow 'I-PER'"):
        env.step(env.unwrapped.tag_names.index("I-LOC"))
    lenient = gym.make("NerTag-v0")
    lenient.reset(seed=0)
    lenient.step(i_per)  # scored as given


def test_step_after_end_and_bad_actions() -> None:
    env = gym.make("NerTag-v0")
    with pytest.raises(ResetNeeded):
        env.unwrapped.step(0)
    play(env, lambda t, o, i: 0, index=0)
    with pytest.raises(ResetNeeded):
        env.unwrapped.step(0)
    env.reset()
    with pytest.raises(InvalidAction):
        env.unwrapped.step(9)


def test_parse_actions_and_render() -> None:
    env = gym.make("NerTag-v0", info_mode="full", render_mode="ansi")
    u = env.unwrapped
    assert u.parse_actions("b-per") == [7] and u.parse_actions("O 3 I-LOC") == [0, 3, 4]
    with pytest.raises(ValueError, match="not a tag"):
        u.parse_actions("B-XYZ")
    _, info = env.reset(seed=0, options={"index": 0})
    first = info["text"].split(" ")[0]
    assert f">>{first}<<" in env.render()
    env.step(0)
    assert f"{first}/O" in env.render() and "entity F1" in env.render()
    while not env.step(0)[2]:
        pass
    assert "gold:" in env.render()


# --------------------------------------------------------------------------------------------------
# vector env and evaluation
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"reward": "token", "max_words": 6, "max_length": 12}, {"reward": "sparse_f1", "order": "sequential"}],
)
def test_vector_matches_sync_step_for_step(kwargs: dict) -> None:
    # order="sequential": the vector env shards the split over its sub-envs, as sub-env i of a
    # SyncVectorEnv does with shard_index=i, num_shards=4.
    shard = (lambda i: {"shard_index": i, "num_shards": 4}) if kwargs.get("order") == "sequential" else (lambda i: {})
    sync = gym.vector.SyncVectorEnv(
        [lambda i=i: gym.make("NerTag-v0", **kwargs, **shard(i)) for i in range(4)]
    )
    vec = gym.make_vec("NerTag-v0", num_envs=4, vectorization_mode="vector_entry_point", **kwargs)
    assert vec.metadata["autoreset_mode"] == sync.metadata["autoreset_mode"]
    o1, i1 = sync.reset(seed=3)
    o2, i2 = vec.reset(seed=3)
    compare(o1, o2, "reset obs")
    compare(i1, i2, "reset info")
    rng = np.random.default_rng(7)
    ends = 0
    for step in range(150):
        actions = rng.integers(0, 9, 4)
        a, b = sync.step(actions), vec.step(actions)
        compare(a[0], b[0], f"obs {step}")
        for j, what in ((1, "rewards"), (2, "terminated"), (3, "truncated")):
            assert a[j].dtype == b[j].dtype and np.array_equal(a[j], b[j]), (step, what, a[j], b[j])
        compare(a[4], b[4], f"info {step}")
        masks = np.stack([env.get_wrapper_attr("action_masks")() for env in sync.envs])
        assert np.array_equal(vec.unwrapped.action_masks(), masks), step
        ends += int(b[2].sum())
    assert ends > 20


def compare(a: dict, b: dict, where: str) -> None:
    assert set(a) == set(b), (where, sorted(set(a) ^ set(b)))
    for k in a:
        x, y = a[k], b[k]
        assert x.shape == y.shape, (where, k, x.shape, y.shape)
        if x.dtype == object:
            assert list(x) == list(y), (where, k)
        else:
            assert x.dtype == y.dtype and np.array_equal(x, y), (where, k, x, y)


def test_conformance_vector_check() -> None:
    check_vector_matches_sync("NerTag-v0", num_envs=3, steps=60, strict=True)


def test_vector_strict_raises() -> None:
    vec = gym.make_vec("NerTag-v0", num_envs=2, vectorization_mode="vector_entry_point", strict=True)
    vec.reset(seed=0)
    with pytest.raises(InvalidAction, match="sub-env 0"):
        vec.step(np.array([2, 0]))


def policy_from_obs(obs: dict) -> np.ndarray:
    """A deterministic 'random' policy: the same observation always gives the same tag."""
    ids = np.asarray(obs["input_ids"])
    return (ids.sum(axis=-1) * 7 + np.asarray(obs["position"])[..., 0] * 5 + ids[..., 1]) % 9


def test_evaluate_equals_seqeval_for_a_random_policy() -> None:
    result = nlp_envs.evaluate("NerTag-v0", policy_from_obs, split="test", num_envs=32)
    env = gym.make("NerTag-v0", info_mode="full", split="test", order="sequential")
    golds, preds = [], []
    for index in range(env.unwrapped.num_examples):
        _, infos = play(env, lambda t, o, i: int(policy_from_obs(o)), index=index)
        golds.append(infos[-1]["gold_tags"])
        preds.append(infos[-1]["pred_tags"])
    assert result["num_examples"] == len(golds) == 800
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert result["entity_f1"] == pytest.approx(seqeval_metrics.f1_score(golds, preds))
        assert result["entity_precision"] == pytest.approx(seqeval_metrics.precision_score(golds, preds))
        assert result["entity_recall"] == pytest.approx(seqeval_metrics.recall_score(golds, preds))
        report = seqeval_metrics.classification_report(golds, preds, output_dict=True, zero_division=0)
    assert result["entity_macro_f1"] == pytest.approx(report["macro avg"]["f1-score"])
    for type_, scores in result["per_type"].items():
        assert scores["f1"] == pytest.approx(report[type_]["f1-score"])
        assert scores["support"] == report[type_]["support"]
    flat_gold = [t for s in golds for t in s]
    flat_pred = [t for s in preds for t in s]
    assert result["token_accuracy"] == pytest.approx(np.mean([g == p for g, p in zip(flat_gold, flat_pred)]))
    assert result["token_report"]["level"] == "token_level_including_O"
    assert "O" in result["token_report"]["per_tag"]
    assert 0.0 < result["entity_f1"] < 0.5


# --------------------------------------------------------------------------------------------------
# real data
# --------------------------------------------------------------------------------------------------


@pytest.mark.data
@pytest.mark.parametrize(
    ("env_id", "tags", "sizes"),
    [
        ("NerTag-BTC-v0", ("O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"), (6338, 1001, 2001)),
        ("NerTag-WNUT17-v0", ("O", *(f"{p}-{t}" for t in sorted(
            ["person", "location", "corporation", "group", "product", "creative-work"]) for p in "BI")),
         (3394, 1009, 1287)),
    ],
)
def test_real_datasets_load(data_dir: str, env_id: str, tags: tuple, sizes: tuple) -> None:
    for split, size in zip(("train", "test"), sizes[::2]):  # validation: same code path
        env = gym.make(env_id, info_mode="full", split=split, data_dir=data_dir)
        assert env.unwrapped.tag_names == tags and env.unwrapped.num_examples == size
    rewards, infos = play(env, lambda t, o, i: 0, seed=0)
    assert sum(rewards) == pytest.approx(seqeval_sentence_f1(infos[-1]["gold_tags"], infos[-1]["pred_tags"]))


def test_direct_class_use() -> None:
    env = NerTagEnv(split="validation", max_words=10)
    env.reset(seed=1)
    assert env.action_masks().shape == (9,)
