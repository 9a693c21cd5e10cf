"""Tests for ``nlp_envs.ner``: tag set, bring-your-own CoNLL data, the three rewards against seqeval,
action masks, strict mode, the native vector env against ``SyncVectorEnv``, ``evaluate``, and text mode
(``obs_mode="text"``: ``NerTagCodec``'s prompt, answer formats, parse errors and gold answers)."""

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
from tests.helpers import gold_text_table, write_file

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


# --------------------------------------------------------------------------------------------------
# text mode (obs_mode="text", NerTagCodec)
# --------------------------------------------------------------------------------------------------


def text_env(env_id: str = "NerTag-v0", **kwargs) -> gym.Env:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NerTag-v0 is out of date (v1)
        return gym.make(env_id, obs_mode="text", **kwargs)


def answer(env: gym.Env, index: int, text: str):
    """Reset to sentence ``index`` and answer ``text``: ``(reward, terminated, info)``."""
    env.reset(options={"index": index})
    _, reward, terminated, _, info = env.step(text)
    return reward, terminated, info


def gold_names(env: gym.Env, index: int) -> list[str]:
    u = env.unwrapped
    return [u.tag_names[t] for t in u.gold_tag_ids(index)]


def test_text_prompt_shows_types_and_words() -> None:
    env = text_env(split="test")
    prompt, info = env.reset(options={"index": 0})
    u = env.unwrapped
    assert info["parse_error"] == "" and env.observation_space.contains(prompt)
    assert "Entity types: DATE, LOC, ORG, PER." in prompt and "PER: John Smith; LOC: Paris" in prompt
    assert f"Sentence: {' '.join(u.words(0))}\n\nEntities:" in prompt and prompt.endswith("Entities:")
    assert u.texts[0] == " ".join(u.words(0)) and u.num_tagged(0) == len(u.words(0))
    # only the first max_words words are shown (and tagged)
    env = text_env(split="test", max_words=3)
    prompt, _ = env.reset(options={"index": 0})
    assert f"Sentence: {' '.join(env.unwrapped.words(0)[:3])}\n\n" in prompt


def test_text_gold_answer_earns_full_return_on_every_test_sentence() -> None:
    env = text_env(split="test")
    u = env.unwrapped
    for i in range(u.num_examples):
        env.reset(options={"index": i})
        gold = u.gold_answer()
        assert gold == "none" or ":" in gold  # the entity list, never the tag-sequence fallback here
        reward, terminated, info = answer(env, i, gold)
        assert terminated and info["parse_error"] == "", (i, gold, info["parse_error"])
        assert reward == pytest.approx(1.0), (i, gold)


def test_text_tag_sequence_and_partial_answers_score_seqeval_f1() -> None:
    env = text_env(split="test")
    u = env.unwrapped
    checked = 0
    for i in range(200):
        gold = gold_names(env, i)
        assert len(gold) == u.num_tagged(i)  # NerTag-v0 sentences are shorter than max_words
        reward, _, info = answer(env, i, " ".join(gold))
        assert info["parse_error"] == "" and reward == pytest.approx(1.0)
        reward, _, info = answer(env, i, " ".join(t.lower() for t in gold))  # tags ignore case
        assert info["parse_error"] == "" and reward == pytest.approx(1.0)
        env.reset(options={"index": i})
        items = u.gold_answer().split("; ")
        if len(items) < 2:
            continue
        # drop the first entity from the list: entity F1 as seqeval gives it
        first = seqeval_metrics.sequence_labeling.get_entities(gold)[0]
        pred = list(gold)
        pred[first[1] : first[2] + 1] = ["O"] * (first[2] - first[1] + 1)
        expected = seqeval_sentence_f1(gold, pred)
        reward, _, info = answer(env, i, "; ".join(items[1:]))
        assert info["parse_error"] == "" and reward == pytest.approx(expected) and expected < 1.0
        reward, _, info = answer(env, i, " ".join(pred))
        assert info["parse_error"] == "" and reward == pytest.approx(expected)
        checked += 1
    assert checked > 20


def test_text_i_without_b_reads_as_b_and_is_valid_under_strict() -> None:
    env = text_env(split="test", strict=True)
    u = env.unwrapped
    i = next(i for i in range(u.num_examples) if any(t != "O" for t in gold_names(env, i)))
    gold = gold_names(env, i)
    relaxed = [("I-" + t[2:]) if t.startswith("B-") else t for t in gold]  # every entity opened with I-X
    env.reset(options={"index": i})
    parsed = u.parse_answer(" ".join(relaxed))
    assert parsed.ok and [u.tag_names[a] for a in parsed.actions] == gold
    reward, _, info = answer(env, i, " ".join(relaxed))  # strict=True: no InvalidAction
    assert info["parse_error"] == "" and reward == pytest.approx(1.0)


def test_text_entity_placement_rules(tmp_path: Path) -> None:
    write_file(tmp_path / "train.txt", "".join(
        f"{w}\t{t}\n" for w, t in [("Paris", "B-ORG"), ("Saint-Germain", "I-ORG"), ("beat", "O"), ("Lyon", "B-ORG"),
                                    ("in", "O"), ("Paris", "B-LOC"), ("and", "O"), ("paris", "O"), ("Paris", "B-LOC"),
                                    (".", "O")]
    ) + "\nhello\tO\nworld\tO\n")
    env = text_env(dataset=str(tmp_path / "train.txt"), info_mode="full")
    u = env.unwrapped
    env.reset(options={"index": 0})
    assert u.gold_answer() == "ORG: Paris Saint-Germain; ORG: Lyon; LOC: Paris; LOC: Paris"

    def tags(text: str) -> list[str] | str:
        env.reset(options={"index": 0})
        parsed = u.parse_answer(text)
        return [u.tag_names[a] for a in parsed.actions] if parsed.ok else parsed.error

    o = ["O"] * 10
    assert tags("LOC: Paris") == ["B-LOC"] + o[1:]
    # a repeated entity tags the next free occurrence; a name inside a longer one is found whatever the order
    assert tags("LOC: Paris; LOC: Paris; ORG: Paris Saint-Germain") == \
        ["B-ORG", "I-ORG", "O", "O", "O", "B-LOC", "O", "O", "B-LOC", "O"]
    # the same case first, then ignoring case; types and extra whitespace ignore case
    assert tags("loc:   paris") == o[:7] + ["B-LOC"] + o[8:]
    assert tags("org: PARIS SAINT-GERMAIN") == ["B-ORG", "I-ORG"] + o[2:]
    # line breaks, bullets, "Entities:", code fences, "TYPE: none"
    assert tags("```\nEntities:\n- ORG: Lyon\n* LOC: Paris\nORG: none\n```") == \
        ["B-LOC", "O", "O", "B-ORG"] + o[4:]
    assert tags("None.") == o and tags("Entities: none") == o and tags("[]") == o
    # punctuation tokens are words
    assert tags("ORG: Paris .") == o[:8] + ["B-ORG", "I-ORG"]
    # errors name the item and why
    assert "not consecutive words" in tags("LOC: Paris beat")
    assert "'MISC' is not an entity type" in tags("LOC: Lyon; MISC: Paris")
    assert "overlaps" in tags("ORG: Paris Saint-Germain; LOC: Saint-Germain")
    assert "overlaps" in tags("; ".join(["LOC: Paris"] * 5))  # 3 occurrences of Paris (+1 ignoring case)
    assert "no `:`" in tags("LOC: Paris; Lyon")
    assert "not a tag" in tags("John Smith")
    assert "9 tags for 10 words" in tags(" ".join(o[1:]))
    assert "empty answer" in tags("  \n ")


BAD_ANSWERS = [
    "MISC: Paris",                      # unknown type
    "PER: Zyxwvut Qwerty",              # words not in the sentence
    "O O O",                            # wrong tag count
    "B-MISC " * 3,                      # unknown tag
    "",                                 # empty
    "x" * 100_000,                      # too long (max_answer_chars)
    "PER: " + "x" * 100_000,
    "\x00\ufffd\u2603 %%% ### \U0001f600 \ud800",  # non-ASCII garbage, a lone surrogate
    "日本語: テキスト; ☃",
    ")))(((",
]


@pytest.mark.parametrize("bad", BAD_ANSWERS, ids=range(len(BAD_ANSWERS)))
def test_text_malformed_answers_are_parse_errors(bad: str) -> None:
    env = text_env(split="test", parse_error_reward=-0.25, info_mode="full")
    u = env.unwrapped
    i = next(i for i in range(u.num_examples) if any(t != "O" for t in gold_names(env, i)))
    reward, terminated, info = answer(env, i, bad)
    assert info["parse_error"] != "" and reward == u.parse_error_reward == -0.25 and terminated
    assert info["pred_tags"] == ["O"] * len(info["gold_tags"])  # scored as no entity


def test_text_none_answers() -> None:
    env = text_env(split="test")
    u = env.unwrapped
    free = next(i for i in range(u.num_examples) if all(t == "O" for t in gold_names(env, i)))
    tagged = next(i for i in range(u.num_examples) if any(t != "O" for t in gold_names(env, i)))
    env.reset(options={"index": free})
    assert u.gold_answer() == "none"
    for text in ("none", "NONE", "None.", "no entities"):
        reward, _, info = answer(env, free, text)
        assert info["parse_error"] == "" and reward == pytest.approx(1.0)
        reward, _, info = answer(env, tagged, text)  # parses, and misses every entity
        assert info["parse_error"] == "" and reward == 0.0


def test_text_parse_never_raises() -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    env = text_env(split="test")
    u = env.unwrapped
    env.reset(options={"index": 3})
    words = u.words(3)
    pieces = st.sampled_from([*words, *u.tag_names, "PER", "loc", ":", ";", "\n", " ", "none", "Entities:", "- ",
                              "```", "I-PER", "\x00", "\ud800"])

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.one_of(st.text(max_size=200), st.lists(pieces, max_size=40).map("".join)))
    def check(text: str) -> None:
        parsed = u.parse_answer(text)
        assert isinstance(parsed.error, str)
        if parsed.ok:
            assert len(parsed.actions) == u.num_tagged(3)
            assert all(0 <= a < u.num_tags for a in parsed.actions)

    check()


def test_text_evaluate_gold_and_garbage_policies() -> None:
    table = gold_text_table("NerTag-v0")
    result = nlp_envs.evaluate("NerTag-v0", lambda prompts: [table[p] for p in prompts], obs_mode="text",
                               num_envs=8)
    assert result["num_examples"] == 800 and result["entity_f1"] == pytest.approx(1.0)
    result = nlp_envs.evaluate("NerTag-v0", lambda prompts: ["\x00garbage ###"] * len(prompts), obs_mode="text",
                               num_envs=8)
    assert result["num_examples"] == 800 and result["entity_f1"] == 0.0 and result["num_pred_entities"] == 0


def test_text_final_period_and_words_with_spaces(tmp_path: Path) -> None:
    write_file(tmp_path / "train.tsv", "I\tO\nlove\tO\nNew York\tB-LOC\nand\tO\nParis\tB-LOC\n.\tO\n\nhi\tO\n")
    env = text_env(dataset=str(tmp_path / "train.tsv"))
    u = env.unwrapped
    env.reset(options={"index": 0})
    assert u.words(0) == ["I", "love", "New York", "and", "Paris", "."]
    # a word holding a space cannot be listed: the gold answer is the tag sequence, which earns the full return
    assert u.gold_answer() == "O O B-LOC O B-LOC O"
    reward, _, info = answer(env, 0, u.gold_answer())
    assert info["parse_error"] == "" and reward == pytest.approx(1.0)
    for text in ("LOC: Paris.", "LOC: Paris; LOC: none.", "LOC: and Paris.\n"):  # a final "." that is no word
        env.reset(options={"index": 0})
        expected = ["O"] * 3 + (["B-LOC", "I-LOC"] if "and" in text else ["O", "B-LOC"]) + ["O"]
        assert [u.tag_names[a] for a in u.parse_answer(text).actions] == expected, text
    env.reset(options={"index": 0})  # ... but a word where the sentence has it
    assert [u.tag_names[a] for a in u.parse_answer("LOC: Paris .").actions] == ["O"] * 4 + ["B-LOC", "I-LOC"]
    env.reset(options={"index": 0})
    assert "not consecutive words" in u.parse_answer("LOC: New York").error
