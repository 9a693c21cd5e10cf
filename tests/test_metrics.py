"""Tests for nlp_envs.metrics: agreement with seqeval / sklearn / nltk and hand-computed cases."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp_envs.metrics import (
    PREFIX_B,
    PREFIX_I,
    PREFIX_O,
    IncrementalEntityF1,
    TagScheme,
    classification_metrics,
    distinct_n,
    entity_scores,
    get_entities,
    multilabel_metrics,
    normalize_answer,
    rouge_l,
    sentence_bleu,
    token_classification_report,
    unigram_f1,
)

seqeval_sl = pytest.importorskip("seqeval.metrics.sequence_labeling")
seqeval_metrics = pytest.importorskip("seqeval.metrics")
skm = pytest.importorskip("sklearn.metrics")


def seqeval_entities(tags: list[str]) -> list[tuple[str, int, int]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns about non-NE tags such as "B" or "."
        return seqeval_sl.get_entities(list(tags))


def bio_names(num_types: int) -> list[str]:
    types = ["PER", "LOC", "MISC"][:num_types]
    return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]


def reference_prefix_f1(gold: list[str], pred: list[str]) -> tuple[float, int, int, int]:
    """F1 (1.0 when both empty), tp, num_pred, num_gold from seqeval's spans."""
    g, p = set(seqeval_entities(gold)), set(seqeval_entities(pred))
    tp = len(g & p)
    f1 = 2 * tp / (len(g) + len(p)) if (g or p) else 1.0
    return f1, tp, len(p), len(g)


# ------------------------------------------------------------------------------------------------
# classification
# ------------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 6).flatmap(
    lambda k: st.tuples(
        st.just(k),
        st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), min_size=1, max_size=40),
    )
))
def test_classification_metrics_match_sklearn(data: tuple[int, list[tuple[int, int]]]) -> None:
    k, pairs = data
    pred = np.array([p for p, _ in pairs])
    gold = np.array([g for _, g in pairs])
    out = classification_metrics(pred, gold, k)
    assert out["num_examples"] == len(pairs)
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(gold, pred), abs=1e-12)
    assert out["macro_f1"] == pytest.approx(skm.f1_score(gold, pred, average="macro"), abs=1e-12)


def test_classification_metrics_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one"):
        classification_metrics([], [], 3)
    with pytest.raises(ValueError, match=r"\[-1, 3\)"):
        classification_metrics([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match=r"gold ids must lie in \[0, 3\)"):
        classification_metrics([0, 1], [0, -1], 3)
    with pytest.raises(ValueError, match="2 labels but gold has 1"):
        classification_metrics([0, 1], [0], 3)


def test_classification_metrics_no_answer_is_a_miss_without_a_label() -> None:
    """-1 (a text answer that did not parse) is wrong and a false negative of the gold label, like sklearn
    with labels= the real labels present."""
    pred, gold = [0, -1, 1, 2, -1, 2], [0, 1, 1, 2, 2, 0]
    out = classification_metrics(pred, gold, 3)
    assert out["accuracy"] == pytest.approx(3 / 6)
    # per label F1 = 2 tp / (gold + pred): 0: 2/(2+1); 1: 2/(2+1); 2: 2/(2+2) (the -1s count only as gold)
    assert out["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 2) / 3)
    sklearn = pytest.importorskip("sklearn.metrics")
    assert out["macro_f1"] == pytest.approx(sklearn.f1_score(gold, pred, labels=[0, 1, 2], average="macro"))


# ------------------------------------------------------------------------------------------------
# get_entities
# ------------------------------------------------------------------------------------------------

ANY_TAGS = ["O", "B-A", "I-A", "B-B", "I-B", "E-A", "S-B", "E-B", "S-A", "B", "I", "E", "S", ".", "I-A-x"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(ANY_TAGS), min_size=0, max_size=25))
def test_get_entities_matches_seqeval(tags: list[str]) -> None:
    assert get_entities(tags) == seqeval_entities(tags)


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 1), ("LOC", 3, 3)]),
        (["O", "I-PER", "I-PER"], [("PER", 1, 2)]),  # I after O opens an entity
        (["B-PER", "I-LOC"], [("PER", 0, 0), ("LOC", 1, 1)]),  # type change splits
        (["B-PER", "B-PER"], [("PER", 0, 0), ("PER", 1, 1)]),
        (["S-PER", "B-LOC", "E-LOC"], [("PER", 0, 0), ("LOC", 1, 2)]),
        ([], []),
    ],
)
def test_get_entities_examples(tags: list[str], expected: list[tuple[str, int, int]]) -> None:
    assert get_entities(tags) == expected


# ------------------------------------------------------------------------------------------------
# TagScheme
# ------------------------------------------------------------------------------------------------


def test_tag_scheme_tables() -> None:
    s = TagScheme(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    assert s.num_tags == 5 and s.types == ("PER", "LOC") and s.outside_id == 0
    assert s.prefix.tolist() == [PREFIX_O, PREFIX_B, PREFIX_I, PREFIX_B, PREFIX_I]
    assert s.type_id.tolist() == [-1, 0, 0, 1, 1]
    assert s.allowed_next.shape == (6, 5)
    # I-PER (2) only after B-PER (1) or I-PER (2); I-LOC (4) only after B-LOC (3) or I-LOC (4).
    assert s.allowed_next[:, 2].tolist() == [False, True, True, False, False, False]
    assert s.allowed_next[:, 4].tolist() == [False, False, False, True, True, False]
    assert s.allowed_next[:, [0, 1, 3]].all()
    assert s.decode(s.encode(["B-LOC", "O"])) == ["B-LOC", "O"]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["O", "B-PER", "B-PER"], "duplicate"),
        (["O", "X-PER"], "not a BIO tag"),
        (["O", "B-"], "not a BIO tag"),
        (["O", "S-PER"], "not a BIO tag"),
        ([], "at least one"),
    ],
)
def test_tag_scheme_validation(names: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TagScheme(names)


# ------------------------------------------------------------------------------------------------
# IncrementalEntityF1
# ------------------------------------------------------------------------------------------------


@st.composite
def gold_pred_pairs(draw: st.DrawFn) -> tuple[list[str], list[str], list[str]]:
    names = bio_names(draw(st.integers(2, 3)))
    n = draw(st.integers(1, 25))
    tag = st.sampled_from(names)
    return names, draw(st.lists(tag, min_size=n, max_size=n)), draw(st.lists(tag, min_size=n, max_size=n))


@settings(max_examples=400, deadline=None)
@given(gold_pred_pairs())
def test_incremental_f1_matches_seqeval_on_every_prefix(
    data: tuple[list[str], list[str], list[str]],
) -> None:
    names, gold, pred = data
    scheme = TagScheme(names)
    scorer = IncrementalEntityF1(scheme.encode(gold), scheme)
    assert len(scorer) == len(gold) and scorer.t == 0 and not scorer.done
    previous, returns = 0.0, 0.0
    for t, tag_id in enumerate(scheme.encode(pred), start=1):
        f1 = scorer.push(int(tag_id))
        ref_f1, tp, n_pred, n_gold = reference_prefix_f1(gold[:t], pred[:t])
        assert f1 == pytest.approx(ref_f1, abs=1e-12)
        assert (scorer.tp, scorer.num_pred, scorer.num_gold) == (tp, n_pred, n_gold)
        returns += f1 - previous
        previous = f1
    assert scorer.done
    assert scorer.num_gold == scorer.num_gold_total == len(seqeval_entities(gold))
    assert returns == pytest.approx(scorer.f1, abs=1e-12)  # shaping rewards telescope to final F1
    if scorer.num_gold or scorer.num_pred:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = seqeval_metrics.f1_score([gold], [pred])
        assert scorer.f1 == pytest.approx(expected, abs=1e-12)


def test_incremental_f1_worked_example() -> None:
    scheme = TagScheme(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    gold = scheme.encode(["B-PER", "I-PER", "O", "I-LOC"])
    scorer = IncrementalEntityF1(gold, scheme)
    # t=1: gold {PER 0-0}, pred {PER 0-0} -> 1.0 (open chunks agree)
    assert scorer.push(1) == 1.0
    # t=2: pred B-PER O -> closed {PER 0-0}; gold open {PER 0-1} -> 0
    assert scorer.push(0) == 0.0
    # t=3: still no match; gold 1, pred 1
    assert scorer.push(0) == 0.0
    assert (scorer.tp, scorer.num_pred, scorer.num_gold) == (0, 1, 1)
    # t=4: pred I-LOC after O opens LOC 3-3 which matches gold's invalid-but-valid-for-seqeval LOC
    assert scorer.push(4) == pytest.approx(2 * 1 / 4)
    with pytest.raises(ValueError, match="already been pushed"):
        scorer.push(0)


def test_incremental_f1_no_entities_is_one_and_validates() -> None:
    scheme = TagScheme(["O", "B-PER", "I-PER"])
    scorer = IncrementalEntityF1(np.zeros(3, dtype=np.int64), scheme)
    assert scorer.f1 == 1.0
    assert [scorer.push(0) for _ in range(3)] == [1.0, 1.0, 1.0]
    scorer = IncrementalEntityF1([0, 0], scheme)
    with pytest.raises(ValueError, match="outside"):
        scorer.push(3)
    with pytest.raises(ValueError, match="gold tag ids"):
        IncrementalEntityF1([0, 7], scheme)
    empty = IncrementalEntityF1(np.zeros(0, dtype=np.int64), scheme)
    assert empty.done and empty.f1 == 1.0


# ------------------------------------------------------------------------------------------------
# corpus-level NER
# ------------------------------------------------------------------------------------------------


@st.composite
def corpora(draw: st.DrawFn) -> tuple[list[str], list[list[str]], list[list[str]]]:
    names = bio_names(draw(st.integers(1, 3)))
    lengths = draw(st.lists(st.integers(1, 12), min_size=1, max_size=6))
    tag = st.sampled_from(names)
    gold = [draw(st.lists(tag, min_size=n, max_size=n)) for n in lengths]
    pred = [draw(st.lists(tag, min_size=n, max_size=n)) for n in lengths]
    return names, gold, pred


def assert_row(ours: dict[str, float], theirs: dict[str, float]) -> None:
    for key in ("precision", "recall"):
        assert ours[key] == pytest.approx(float(theirs[key]), abs=1e-9)
    assert ours["f1"] == pytest.approx(float(theirs["f1-score"]), abs=1e-9)
    assert ours["support"] == int(theirs["support"])


@settings(max_examples=200, deadline=None)
@given(corpora())
def test_entity_scores_match_seqeval(data: tuple[list[str], list[list[str]], list[list[str]]]) -> None:
    _, gold, pred = data
    ours = entity_scores(gold, pred)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = seqeval_metrics.classification_report(gold, pred, output_dict=True, zero_division=0)
        f1 = seqeval_metrics.f1_score(gold, pred, zero_division=0)
    assert ours["f1"] == pytest.approx(f1, abs=1e-9)
    assert set(ours["per_type"]) == set(report) - {"micro avg", "macro avg", "weighted avg"}
    for type_, row in ours["per_type"].items():
        assert_row(row, report[type_])
    assert_row(ours["micro"], report["micro avg"])
    assert_row(ours["weighted"], report["weighted avg"])
    if ours["per_type"]:  # seqeval's macro row is NaN when there is no entity at all; ours is 0.0
        assert_row(ours["macro"], report["macro avg"])
    assert ours["num_gold"] == sum(len(seqeval_entities(g)) for g in gold)


def test_entity_scores_checks_shapes() -> None:
    with pytest.raises(ValueError, match="sentence 0"):
        entity_scores([["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match="1 gold sentences but 2"):
        entity_scores([["O"]], [["O"], ["O"]])


@settings(max_examples=100, deadline=None)
@given(corpora(), st.booleans())
def test_token_report_matches_sklearn(
    data: tuple[list[str], list[list[str]], list[list[str]]], as_ids: bool
) -> None:
    names, gold, pred = data
    flat_gold = [t for s in gold for t in s]
    flat_pred = [t for s in pred for t in s]
    if as_ids:
        index = {n: i for i, n in enumerate(names)}
        gold = [[index[t] for t in s] for s in gold]
        pred = [[index[t] for t in s] for s in pred]
    ours = token_classification_report(gold, pred, names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = skm.classification_report(flat_gold, flat_pred, output_dict=True, zero_division=0)
    assert ours["accuracy"] == pytest.approx(report["accuracy"], abs=1e-9)
    assert ours["micro"]["f1"] == pytest.approx(report["accuracy"], abs=1e-9)
    assert set(ours["per_tag"]) == set(report) - {"accuracy", "macro avg", "weighted avg"}
    for tag, row in ours["per_tag"].items():
        assert_row(row, report[tag])
    assert_row(ours["macro"], report["macro avg"])
    assert_row(ours["weighted"], report["weighted avg"])


# ------------------------------------------------------------------------------------------------
# dialogue reply metrics
# ------------------------------------------------------------------------------------------------


def test_normalize_answer() -> None:
    assert normalize_answer("The Cat's  hat!") == "cats hat"
    assert normalize_answer("  An apple, a day.  ") == "apple day"
    assert normalize_answer("theatre another") == "theatre another"  # articles only as whole words
    assert normalize_answer("") == ""


def test_unigram_f1() -> None:
    # pred {cat, sat, cat}, ref {cat, sat, down}: overlap cat+sat = 2, P = 2/3, R = 2/3, F1 = 2/3
    assert unigram_f1("the cat sat cat", "cat sat down") == pytest.approx(2 / 3)
    assert unigram_f1("Hello!", "hello") == 1.0
    assert unigram_f1("", "the") == 1.0  # both empty after normalisation
    assert unigram_f1("", "cat") == 0.0
    assert unigram_f1("dog", "cat") == 0.0


def test_sentence_bleu_hand_computed() -> None:
    # pred: cat sat on mat today (c=5); ref: cat sat on red mat (r=5), BP = 1
    # p1 = 4/5; bigrams 2/4 -> (2+1)/(4+1) = 3/5; trigrams 1/3 -> 2/4; 4-grams 0/2 -> 1/3
    expected = (4 / 5 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert sentence_bleu("cat sat on mat today", "cat sat on red mat") == pytest.approx(expected)
    assert sentence_bleu("cat sat on mat today", "cat sat on red mat", smoothing="none") == 0.0
    # brevity: pred "cat sat" (c=2), ref 4 tokens: BP = exp(1 - 4/2) = e^-1
    # p1 = 2/2, p2 = (1+1)/(1+1), p3 = p4 = (0+1)/(max(1,0)+1) = 1/2  -> e^-1 * (1/4)^(1/4)
    assert sentence_bleu("cat sat", "cat sat on mat") == pytest.approx(math.exp(-1) * 0.25**0.25)
    # clipping: pred "on on on", ref "on mat": p1 = 1/3 (clipped), p2 = (0+1)/(2+1),
    # p3 = (0+1)/(1+1), p4 = (0+1)/(1+1); BP = 1 (3 > 2) -> (1/36)^(1/4) = 1/sqrt(6)
    assert sentence_bleu("on on on", "on mat") == pytest.approx(1 / math.sqrt(6))
    # unigram-only BLEU without smoothing is clipped unigram precision times BP
    assert sentence_bleu("on on on", "on mat", max_n=1, smoothing="none") == pytest.approx(1 / 3)
    # identical 2-token replies: p1 = p2 = 1, but p3 = p4 = (0+1)/(1+1) -> (1/4)^(1/4) = 1/sqrt(2)
    assert sentence_bleu("Cat, sat.", "cat sat") == pytest.approx(1 / math.sqrt(2))
    assert sentence_bleu("Cat, sat on mat.", "cat sat on mat") == pytest.approx(1.0)
    assert sentence_bleu("dog", "cat") == 0.0
    assert sentence_bleu("", "cat") == 0.0
    with pytest.raises(ValueError, match="smoothing"):
        sentence_bleu("a", "b", smoothing="add2")  # type: ignore[arg-type]


def test_sentence_bleu_matches_nltk() -> None:
    bleu = pytest.importorskip("nltk.translate.bleu_score")
    smooth = bleu.SmoothingFunction().method2
    cases = [
        ("cat sat on mat today", "cat sat on red mat"),
        ("cat sat", "cat sat on mat"),
        ("on on on", "on mat"),
        ("i like green eggs and ham", "i do not like green eggs or ham sam i am"),
    ]
    for pred, ref in cases:
        expected = bleu.sentence_bleu(
            [normalize_answer(ref).split()], normalize_answer(pred).split(), smoothing_function=smooth
        )
        assert sentence_bleu(pred, ref) == pytest.approx(expected, abs=1e-12)


def test_rouge_l_hand_computed() -> None:
    # LCS(cat sat on mat today, cat sat on red mat) = cat sat on mat = 4; P = R = 4/5
    assert rouge_l("cat sat on mat today", "cat sat on red mat") == pytest.approx(0.8)
    # LCS(x y z w, x z) = 2; P = 2/4, R = 2/2, F = 2 * 0.5 * 1 / 1.5 = 2/3
    assert rouge_l("x y z w", "x z") == pytest.approx(2 / 3)
    # "the" is dropped: police killed gunman / police kill gunman, LCS = 2, P = R = 2/3
    assert rouge_l("Police killed the gunman", "police kill the gunman") == pytest.approx(2 / 3)
    assert rouge_l("w z y x", "x y z w") == pytest.approx(2 * 1 / 8)  # LCS = 1
    assert rouge_l("", "") == 1.0
    assert rouge_l("cat", "") == 0.0


def test_distinct_n() -> None:
    replies = ["i am fine", "i am ok"]
    # unigrams: i am fine i am ok -> 4 unique / 6
    assert distinct_n(replies, 1) == pytest.approx(4 / 6)
    # bigrams: (i am) (am fine) (i am) (am ok) -> 3 unique / 4
    assert distinct_n(replies, 2) == pytest.approx(3 / 4)
    assert distinct_n(["hi"], 2) == 0.0
    with pytest.raises(ValueError):
        distinct_n(replies, 0)


# ------------------------------------------------------------------------------------------------
# multi-label
# ------------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 6).flatmap(
    lambda k: st.tuples(
        st.just(k),
        st.lists(
            st.tuples(st.frozensets(st.integers(0, k - 1)), st.frozensets(st.integers(0, k - 1))),
            min_size=1,
            max_size=20,
        ),
    )
))
def test_multilabel_matches_sklearn(data: tuple[int, list[tuple[frozenset[int], frozenset[int]]]]) -> None:
    from sklearn.preprocessing import MultiLabelBinarizer

    k, pairs = data
    pred_sets = [p for p, _ in pairs]
    gold_sets = [g for _, g in pairs]
    binarizer = MultiLabelBinarizer(classes=list(range(k)))
    yp, yg = binarizer.fit_transform(pred_sets), binarizer.fit_transform(gold_sets)
    out = multilabel_metrics(pred_sets, gold_sets, k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = {
            "example_f1": skm.f1_score(yg, yp, average="samples", zero_division=1.0),
            "micro_f1": skm.f1_score(yg, yp, average="micro", zero_division=1.0),
            "macro_f1": skm.f1_score(yg, yp, average="macro", zero_division=1.0),
            "jaccard": skm.jaccard_score(yg, yp, average="samples", zero_division=1.0),
            "hamming_loss": skm.hamming_loss(yg, yp),
            "subset_accuracy": skm.accuracy_score(yg, yp),
        }
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, abs=1e-12), key
    assert out["mean_labels_pred"] == pytest.approx(np.mean([len(p) for p in pred_sets]))
    assert out["mean_labels_gold"] == pytest.approx(np.mean([len(g) for g in gold_sets]))
    assert out["num_examples"] == len(pairs)


def test_multilabel_validates() -> None:
    with pytest.raises(ValueError, match=r"pred_sets\[0\]"):
        multilabel_metrics([{3}], [{0}], 3)
    with pytest.raises(ValueError, match="1 predicted sets but 2"):
        multilabel_metrics([{0}], [{0}, {1}], 3)
