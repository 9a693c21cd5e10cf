"""Tests of the embedded corpus generators in :mod:`nlp_envs.corpora`."""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable

import pytest

from nlp_envs.corpora import dialog, intents, ner

SPLITS = ("train", "validation", "test")


@pytest.fixture(scope="module")
def intents_data() -> dict[str, dict[str, list]]:
    return intents.generate(seed=0)


@pytest.fixture(scope="module")
def ner_data() -> dict[str, dict[str, list]]:
    return ner.generate(seed=0)


@pytest.fixture(scope="module")
def dialog_data() -> dict[str, dict[str, list]]:
    return dialog.generate(seed=0)


# --------------------------------------------------------------------------------------------------
# Shared behaviour
# --------------------------------------------------------------------------------------------------

GENERATORS: dict[str, Callable[..., dict[str, dict[str, list]]]] = {
    "intents": intents.generate,
    "ner": ner.generate,
    "dialog": dialog.generate,
}


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
    module = {"intents": intents, "ner": ner, "dialog": dialog}[name]
    start = time.perf_counter()
    data = module.generate()
    elapsed = time.perf_counter() - start
    assert elapsed < 1.5, f"{name} took {elapsed:.2f}s"
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


# --------------------------------------------------------------------------------------------------
# Intents
# --------------------------------------------------------------------------------------------------


def test_intents_schema_and_balance(intents_data: dict[str, dict[str, list]]) -> None:
    assert len(intents.LABEL_NAMES) >= 12
    assert len(set(intents.LABEL_NAMES)) == len(intents.LABEL_NAMES)
    for split in SPLITS:
        texts, labels = intents_data[split]["text"], intents_data[split]["label"]
        assert all(isinstance(text, str) and text.strip() for text in texts)
        assert all(isinstance(y, int) and 0 <= y < len(intents.LABEL_NAMES) for y in labels)
        assert set(labels) == set(range(len(intents.LABEL_NAMES)))
        majority = Counter(labels).most_common(1)[0][1] / len(labels)
        assert majority < 0.15


def test_intents_splits_share_no_text(intents_data: dict[str, dict[str, list]]) -> None:
    texts = [set(intents_data[split]["text"]) for split in SPLITS]
    assert sum(len(t) for t in texts) == sum(len(intents_data[s]["text"]) for s in SPLITS)
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])


def test_intents_bag_of_words_is_good_but_not_perfect(intents_data: dict[str, dict[str, list]]) -> None:
    feature_extraction = pytest.importorskip("sklearn.feature_extraction.text")
    linear_model = pytest.importorskip("sklearn.linear_model")
    vectorizer = feature_extraction.CountVectorizer()
    features = vectorizer.fit_transform(intents_data["train"]["text"])
    classifier = linear_model.LogisticRegression(max_iter=1000)
    classifier.fit(features, intents_data["train"]["label"])
    test = intents_data["test"]
    accuracy = classifier.score(vectorizer.transform(test["text"]), test["label"])
    assert 0.70 <= accuracy <= 0.97, accuracy


def test_intents_has_contrastive_examples(intents_data: dict[str, dict[str, list]]) -> None:
    texts = [text.lower() for text in intents_data["train"]["text"]]
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


def test_ner_tags_are_valid_iob2(ner_data: dict[str, dict[str, list]]) -> None:
    for split in SPLITS:
        for tokens, tags in zip(ner_data[split]["tokens"], ner_data[split]["tags"]):
            assert len(tokens) == len(tags)
            assert 5 <= len(tokens) <= 30
            assert all(token and " " not in token for token in tokens)
            previous = "O"
            for tag in tags:
                assert tag in ner.TAG_NAMES
                if tag.startswith("I-"):
                    assert previous in (f"B-{tag[2:]}", tag), (tokens, tags)
                previous = tag


def test_ner_every_type_in_every_split(ner_data: dict[str, dict[str, list]]) -> None:
    assert len(ner.ENTITY_TYPES) >= 3
    assert {"PER", "LOC", "ORG"} <= set(ner.ENTITY_TYPES)
    for split in SPLITS:
        types = {tag[2:] for tags in ner_data[split]["tags"] for tag in tags if tag != "O"}
        assert types == set(ner.ENTITY_TYPES), split


def test_ner_ambiguous_and_multi_token_entities(ner_data: dict[str, dict[str, list]]) -> None:
    types_of: dict[str, set[str]] = defaultdict(set)
    multi_token = 0
    for tokens, tags in zip(ner_data["train"]["tokens"], ner_data["train"]["tags"]):
        for surface, entity_type in _entities(tokens, tags):
            types_of[surface].add(entity_type)
            multi_token += " " in surface
    ambiguous = sorted(surface for surface, types in types_of.items() if len(types) >= 2)
    assert len(ambiguous) >= 5, ambiguous
    assert multi_token > 100
    assert {"Paris", "Florence", "Washington"} <= set(ambiguous)


def test_ner_splits_share_no_sentence(ner_data: dict[str, dict[str, list]]) -> None:
    sentences = [{" ".join(tokens) for tokens in ner_data[split]["tokens"]} for split in SPLITS]
    assert sum(len(s) for s in sentences) == sum(len(ner_data[s]["tokens"]) for s in SPLITS)


# --------------------------------------------------------------------------------------------------
# Dialogue
# --------------------------------------------------------------------------------------------------


def test_dialog_structure(dialog_data: dict[str, dict[str, list]]) -> None:
    for split in SPLITS:
        ids, dialogues = dialog_data[split]["id"], dialog_data[split]["turns"]
        assert len(set(ids)) == len(ids)
        for turns in dialogues:
            assert dialog.MIN_TURNS <= len(turns) <= dialog.MAX_TURNS
            speakers = [turn["speaker"] for turn in turns]
            assert speakers == ["user", "system"] * (len(turns) // 2)
            assert all(set(turn) == {"speaker", "text"} and turn["text"] for turn in turns)
            assert all(len(turn["text"].split()) <= 18 for turn in turns if turn["speaker"] == "system")


def test_dialog_system_values_come_from_context(dialog_data: dict[str, dict[str, list]]) -> None:
    values = {v for slots in dialog.SLOT_VALUES.values() for vs in slots.values() for v in vs}
    # Longest first, so "iced latte" is found as itself rather than as "latte".
    alternation = "|".join(re.escape(v) for v in sorted(values, key=lambda v: (-len(v), v)))
    any_value = re.compile(rf"(?<![\w:])(?:{alternation})(?![\w:])")
    checked = 0
    for split in SPLITS:
        for turns in dialog_data[split]["turns"]:
            for k, turn in enumerate(turns):
                if turn["speaker"] != "system":
                    continue
                context = " ".join(t["text"].lower() for t in turns[:k])
                for value in any_value.findall(turn["text"].lower()):
                    checked += 1
                    in_context = re.search(rf"(?<![\w:]){re.escape(value)}(?![\w:])", context)
                    assert in_context, (value, turn["text"], context)
    assert checked > 1000


def test_dialog_system_vocabulary_is_small(dialog_data: dict[str, dict[str, list]]) -> None:
    system_words = {
        word
        for split in SPLITS
        for turns in dialog_data[split]["turns"]
        for turn in turns
        if turn["speaker"] == "system"
        for word in turn["text"].lower().split()
    }
    user_words = {
        word
        for turns in dialog_data["train"]["turns"]
        for turn in turns
        if turn["speaker"] == "user"
        for word in turn["text"].lower().split()
    }
    assert len(system_words) < 600
    assert len(user_words) > 200  # the user side is varied


def test_dialog_replies_are_a_function_of_the_context(dialog_data: dict[str, dict[str, list]]) -> None:
    # The same user turns (as a whole history) must always get the same system reply.
    reply_of: dict[tuple[str, ...], str] = {}
    for turns in dialog_data["train"]["turns"]:
        for k in range(1, len(turns), 2):
            history = tuple(turn["text"] for turn in turns[:k])
            assert reply_of.setdefault(history, turns[k]["text"]) == turns[k]["text"]


def test_dialog_splits_share_no_dialogue(dialog_data: dict[str, dict[str, list]]) -> None:
    keys = [
        {"\n".join(turn["text"] for turn in turns) for turns in dialog_data[split]["turns"]}
        for split in SPLITS
    ]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
