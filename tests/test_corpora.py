"""Tests of the embedded corpus generators in :mod:`nlp_envs.corpora`: the behaviour every generator
shares (seeding, held-out splits independent of the train size, default sizes, argument checks), then
each corpus's own properties (intents, entities, dialogs, topics, quiz). The v1 corpora (``ner_v1``,
``dialog_v1``) are tested with their env versions in ``test_ner_v1.py`` and ``test_dialog_v1.py``."""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable

import pytest

from nlp_envs.corpora import dialog, intents, mcqa, multilabel, ner
from nlp_envs.data import load_task_data

SPLITS = ("train", "validation", "test")


# --------------------------------------------------------------------------------------------------
# Shared behaviour
# --------------------------------------------------------------------------------------------------

MODULES = {"intents": intents, "ner": ner, "dialog": dialog, "multilabel": multilabel, "mcqa": mcqa}
GENERATORS: dict[str, Callable[..., dict[str, dict[str, list]]]] = {name: m.generate for name, m in MODULES.items()}
#: The default split sizes, pinned: the registered envs (and their measured baselines) depend on them.
DEFAULT_SIZES = {
    "intents": {"train": 4000, "validation": 500, "test": 1000},
    "ner": {"train": 3000, "validation": 400, "test": 800},
    "dialog": {"train": 1500, "validation": 200, "test": 300},
    "multilabel": {"train": 3000, "validation": 400, "test": 800},
    "mcqa": {"train": 3000, "validation": 400, "test": 800},
}
#: Seconds a default-size generation may take (measured 0.05-0.08 s each on the shared 2-core box).
MAX_SECONDS = {"intents": 1.5, "ner": 1.5, "dialog": 1.5, "multilabel": 1.0, "mcqa": 1.0}


@pytest.mark.parametrize("name", GENERATORS)
def test_deterministic_and_seed_dependent(name: str) -> None:
    generate = GENERATORS[name]
    sizes = {"train": 200, "validation": 50, "test": 50}
    first = generate(seed=3, sizes=sizes)
    assert first == generate(seed=3, sizes=sizes)
    assert first != generate(seed=4, sizes=sizes)
    assert list(first) == list(SPLITS)


@pytest.mark.parametrize("name", GENERATORS)
def test_held_out_splits_do_not_depend_on_train_size(name: str) -> None:
    generate = GENERATORS[name]
    small = generate(seed=1, sizes={"train": 10, "validation": 30, "test": 30})
    large = generate(seed=1, sizes={"train": 300, "validation": 30, "test": 30})
    assert small["validation"] == large["validation"]
    assert small["test"] == large["test"]


@pytest.mark.parametrize("name", GENERATORS)
def test_default_sizes_and_speed(name: str) -> None:
    module = MODULES[name]
    start = time.perf_counter()
    data = module.generate()
    elapsed = time.perf_counter() - start
    assert elapsed < MAX_SECONDS[name], f"{name} took {elapsed:.2f}s"
    assert dict(module.DEFAULT_SIZES) == DEFAULT_SIZES[name]
    for split in SPLITS:
        for column in data[split].values():
            assert len(column) == module.DEFAULT_SIZES[split]


@pytest.mark.parametrize("name", GENERATORS)
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sizes": {"dev": 10}}, "unknown split 'dev'"),
        ({"sizes": {"train": -1}}, "non-negative int"),
        ({"sizes": {"train": 2.5}}, "non-negative int"),
        ({"seed": "0"}, "seed must be an int"),
    ],
)
def test_invalid_arguments(name: str, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GENERATORS[name](**kwargs)


@pytest.mark.parametrize("name", GENERATORS)
def test_empty_split(name: str) -> None:
    data = GENERATORS[name](sizes={"train": 0, "validation": 0, "test": 5})
    assert all(len(column) == 0 for column in data["train"].values())
    assert all(len(column) == 5 for column in data["test"].values())


def test_registered_in_the_data_layer() -> None:
    data = load_task_data("multilabel", "topics", dataset_kwargs={"sizes": {"train": 20}})
    assert data.label_names == multilabel.LABEL_NAMES
    assert len(data.split("train")["text"]) == 20
    quiz = load_task_data("mcqa", "quiz", dataset_kwargs={"sizes": {"test": 7}})
    assert sorted(quiz.split("test")) == ["answer", "options", "question"]
    assert len(quiz.split("test")["question"]) == 7


# --------------------------------------------------------------------------------------------------
# Intents
# --------------------------------------------------------------------------------------------------


def test_intents_schema_and_balance(intents_corpus: dict[str, dict[str, list]]) -> None:
    assert len(intents.LABEL_NAMES) >= 12
    assert len(set(intents.LABEL_NAMES)) == len(intents.LABEL_NAMES)
    for split in SPLITS:
        texts, labels = intents_corpus[split]["text"], intents_corpus[split]["label"]
        assert all(isinstance(text, str) and text.strip() for text in texts)
        assert all(isinstance(y, int) and 0 <= y < len(intents.LABEL_NAMES) for y in labels)
        assert set(labels) == set(range(len(intents.LABEL_NAMES)))
        majority = Counter(labels).most_common(1)[0][1] / len(labels)
        assert majority < 0.15


def test_intents_splits_share_no_text(intents_corpus: dict[str, dict[str, list]]) -> None:
    texts = [set(intents_corpus[split]["text"]) for split in SPLITS]
    assert sum(len(t) for t in texts) == sum(len(intents_corpus[s]["text"]) for s in SPLITS)
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])


def test_intents_bag_of_words_is_good_but_not_perfect(intents_corpus: dict[str, dict[str, list]]) -> None:
    feature_extraction = pytest.importorskip("sklearn.feature_extraction.text")
    linear_model = pytest.importorskip("sklearn.linear_model")
    vectorizer = feature_extraction.CountVectorizer()
    features = vectorizer.fit_transform(intents_corpus["train"]["text"])
    classifier = linear_model.LogisticRegression(max_iter=1000)
    classifier.fit(features, intents_corpus["train"]["label"])
    test = intents_corpus["test"]
    accuracy = classifier.score(vectorizer.transform(test["text"]), test["label"])
    assert 0.70 <= accuracy <= 0.97, accuracy


def test_intents_has_contrastive_examples(intents_corpus: dict[str, dict[str, list]]) -> None:
    texts = [text.lower() for text in intents_corpus["train"]["text"]]
    negated = sum(("don't" in text or "not " in text or "instead" in text) for text in texts)
    assert negated / len(texts) > 0.1


def test_intents_label_noise() -> None:
    sizes = {"train": 400, "validation": 50, "test": 50}
    clean = intents.generate(seed=2, sizes=sizes)
    noisy = intents.generate(seed=2, sizes=sizes, label_noise=0.25)
    assert noisy["train"]["text"] == clean["train"]["text"]
    changed = sum(a != b for a, b in zip(clean["train"]["label"], noisy["train"]["label"]))
    assert changed == 100
    assert noisy["validation"] == clean["validation"]
    assert noisy["test"] == clean["test"]


@pytest.mark.parametrize("label_noise", [-0.1, 1.5])
def test_intents_label_noise_out_of_range(label_noise: float) -> None:
    with pytest.raises(ValueError, match="label_noise"):
        intents.generate(label_noise=label_noise)


# --------------------------------------------------------------------------------------------------
# NER
# --------------------------------------------------------------------------------------------------


def _entities(tokens: list[str], tags: list[str]) -> list[tuple[str, str]]:
    """Return ``(surface, type)`` pairs of a valid IOB2 sentence."""
    spans: list[tuple[list[str], str]] = []
    for token, tag in zip(tokens, tags):
        if tag.startswith("B-"):
            spans.append(([token], tag[2:]))
        elif tag.startswith("I-"):
            spans[-1][0].append(token)
    return [(" ".join(words), entity_type) for words, entity_type in spans]


def test_ner_tags_are_valid_iob2(ner_corpus: dict[str, dict[str, list]]) -> None:
    for split in SPLITS:
        for tokens, tags in zip(ner_corpus[split]["tokens"], ner_corpus[split]["tags"]):
            assert len(tokens) == len(tags)
            assert 5 <= len(tokens) <= 30
            assert all(token and " " not in token for token in tokens)
            previous = "O"
            for tag in tags:
                assert tag in ner.TAG_NAMES
                if tag.startswith("I-"):
                    assert previous in (f"B-{tag[2:]}", tag), (tokens, tags)
                previous = tag


def test_ner_every_type_in_every_split(ner_corpus: dict[str, dict[str, list]]) -> None:
    assert len(ner.ENTITY_TYPES) >= 3
    assert {"PER", "LOC", "ORG"} <= set(ner.ENTITY_TYPES)
    for split in SPLITS:
        types = {tag[2:] for tags in ner_corpus[split]["tags"] for tag in tags if tag != "O"}
        assert types == set(ner.ENTITY_TYPES), split


def test_ner_ambiguous_and_multi_token_entities(ner_corpus: dict[str, dict[str, list]]) -> None:
    types_of: dict[str, set[str]] = defaultdict(set)
    multi_token = 0
    for tokens, tags in zip(ner_corpus["train"]["tokens"], ner_corpus["train"]["tags"]):
        for surface, entity_type in _entities(tokens, tags):
            types_of[surface].add(entity_type)
            multi_token += " " in surface
    ambiguous = sorted(surface for surface, types in types_of.items() if len(types) >= 2)
    assert len(ambiguous) >= 5, ambiguous
    assert multi_token > 100
    assert {"Paris", "Florence", "Washington"} <= set(ambiguous)


def test_ner_splits_share_no_sentence(ner_corpus: dict[str, dict[str, list]]) -> None:
    sentences = [{" ".join(tokens) for tokens in ner_corpus[split]["tokens"]} for split in SPLITS]
    assert sum(len(s) for s in sentences) == sum(len(ner_corpus[s]["tokens"]) for s in SPLITS)


# --------------------------------------------------------------------------------------------------
# Dialogue
# --------------------------------------------------------------------------------------------------


def test_dialog_structure(dialog_corpus: dict[str, dict[str, list]]) -> None:
    for split in SPLITS:
        ids, dialogues = dialog_corpus[split]["id"], dialog_corpus[split]["turns"]
        assert len(set(ids)) == len(ids)
        for turns in dialogues:
            assert dialog.MIN_TURNS <= len(turns) <= dialog.MAX_TURNS
            speakers = [turn["speaker"] for turn in turns]
            assert speakers == ["user", "system"] * (len(turns) // 2)
            assert all(set(turn) == {"speaker", "text"} and turn["text"] for turn in turns)
            assert all(len(turn["text"].split()) <= 18 for turn in turns if turn["speaker"] == "system")


def test_dialog_system_values_come_from_context(dialog_corpus: dict[str, dict[str, list]]) -> None:
    values = {v for slots in dialog.SLOT_VALUES.values() for vs in slots.values() for v in vs}
    # Longest first, so "iced latte" is found as itself rather than as "latte".
    alternation = "|".join(re.escape(v) for v in sorted(values, key=lambda v: (-len(v), v)))
    any_value = re.compile(rf"(?<![\w:])(?:{alternation})(?![\w:])")
    checked = 0
    for split in SPLITS:
        for turns in dialog_corpus[split]["turns"]:
            for k, turn in enumerate(turns):
                if turn["speaker"] != "system":
                    continue
                context = " ".join(t["text"].lower() for t in turns[:k])
                for value in any_value.findall(turn["text"].lower()):
                    checked += 1
                    in_context = re.search(rf"(?<![\w:]){re.escape(value)}(?![\w:])", context)
                    assert in_context, (value, turn["text"], context)
    assert checked > 1000


def test_dialog_system_vocabulary_is_small(dialog_corpus: dict[str, dict[str, list]]) -> None:
    system_words = {
        word
        for split in SPLITS
        for turns in dialog_corpus[split]["turns"]
        for turn in turns
        if turn["speaker"] == "system"
        for word in turn["text"].lower().split()
    }
    user_words = {
        word
        for turns in dialog_corpus["train"]["turns"]
        for turn in turns
        if turn["speaker"] == "user"
        for word in turn["text"].lower().split()
    }
    assert len(system_words) < 600
    assert len(user_words) > 200  # the user side is varied


def test_dialog_replies_are_a_function_of_the_context(dialog_corpus: dict[str, dict[str, list]]) -> None:
    # The same user turns (as a whole history) must always get the same system reply.
    reply_of: dict[tuple[str, ...], str] = {}
    for turns in dialog_corpus["train"]["turns"]:
        for k in range(1, len(turns), 2):
            history = tuple(turn["text"] for turn in turns[:k])
            assert reply_of.setdefault(history, turns[k]["text"]) == turns[k]["text"]


def test_dialog_splits_share_no_dialogue(dialog_corpus: dict[str, dict[str, list]]) -> None:
    keys = [
        {"\n".join(turn["text"] for turn in turns) for turns in dialog_corpus[split]["turns"]}
        for split in SPLITS
    ]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])


# --------------------------------------------------------------------------------------------------
# Topics (multi-label)
# --------------------------------------------------------------------------------------------------


def test_topics_schema(topics_corpus: dict[str, dict[str, list]]) -> None:
    names = multilabel.LABEL_NAMES
    assert 10 <= len(names) <= 12 and len(set(names)) == len(names)
    order = {n: i for i, n in enumerate(names)}
    for split in SPLITS:
        for text, labels in zip(topics_corpus[split]["text"], topics_corpus[split]["label"]):
            assert isinstance(text, str) and text.strip()
            assert 1 <= len(labels) <= 4
            assert len(set(labels)) == len(labels)
            assert [order[x] for x in labels] == sorted(order[x] for x in labels)  # label-id order
        assert {x for ls in topics_corpus[split]["label"] for x in ls} == set(names)


def test_topics_set_sizes_and_co_occurrence(topics_corpus: dict[str, dict[str, list]]) -> None:
    labels = topics_corpus["train"]["label"]
    sizes = Counter(len(ls) for ls in labels)
    assert all(sizes[k] / len(labels) > 0.03 for k in (1, 2, 3, 4))
    assert sizes[1] > sizes[3] > sizes[4]
    has = {n: [n in ls for ls in labels] for n in multilabel.LABEL_NAMES}

    def lift(a: str, b: str) -> float:
        both = sum(x and y for x, y in zip(has[a], has[b]))
        return both * len(labels) / (sum(has[a]) * sum(has[b]))

    assert lift("shipping", "packaging") > 1.5
    assert lift("price", "quality") > 1.3
    assert lift("battery", "size_fit") < 0.5  # different product categories


def test_topics_splits_share_no_text(topics_corpus: dict[str, dict[str, list]]) -> None:
    texts = [set(topics_corpus[s]["text"]) for s in SPLITS]
    assert sum(map(len, texts)) == sum(len(topics_corpus[s]["text"]) for s in SPLITS)


# --------------------------------------------------------------------------------------------------
# Quiz (multiple choice)
# --------------------------------------------------------------------------------------------------


def test_quiz_schema_and_gold_positions(quiz_corpus: dict[str, dict[str, list]]) -> None:
    for split in SPLITS:
        cols = quiz_corpus[split]
        for q, options, answer in zip(cols["question"], cols["options"], cols["answer"]):
            assert q.strip().endswith("?")
            assert 3 <= len(options) <= 5
            assert len(set(options)) == len(options)
            assert isinstance(answer, int) and 0 <= answer < len(options)
    counts = Counter(len(o) for o in quiz_corpus["train"]["options"])
    assert set(counts) == {3, 4, 5}
    first = Counter(a for a, o in zip(quiz_corpus["train"]["answer"], quiz_corpus["train"]["options"]) if len(o) == 3)
    assert min(first.values()) / max(first.values()) > 0.7  # the gold position is uniform


def test_quiz_answers_follow_from_the_text(quiz_corpus: dict[str, dict[str, list]]) -> None:
    checked = 0
    for q, options, answer in zip(quiz_corpus["train"]["question"], quiz_corpus["train"]["options"], quiz_corpus["train"]["answer"]):
        m = re.match(r"(\w+) has (\d+) (\w+) and \w+(?: given)? (\d+) more", q)
        if m:
            assert options[answer] == str(int(m.group(2)) + int(m.group(4)))
            checked += 1
        m = re.search(r"Where does (\w+) (live|work)\?", q)
        if m:
            city = re.search(rf"{m.group(1)} \w+ in ([\w ]+)\.", q).group(1)
            assert options[answer] == city
            checked += 1
    assert checked > 300


def test_quiz_splits_share_no_question(quiz_corpus: dict[str, dict[str, list]]) -> None:
    qs = [set(quiz_corpus[s]["question"]) for s in SPLITS]
    assert sum(map(len, qs)) == sum(len(quiz_corpus[s]["question"]) for s in SPLITS)
