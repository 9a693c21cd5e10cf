"""Tests of the embedded multi-label (``"topics"``) and multiple-choice (``"quiz"``) corpora."""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from nlp_envs.corpora import mcqa, multilabel
from nlp_envs.data import load_task_data

SPLITS = ("train", "validation", "test")
GENERATORS = {"multilabel": multilabel, "mcqa": mcqa}


@pytest.fixture(scope="module")
def topics() -> dict[str, dict[str, list]]:
    return multilabel.generate(seed=0)


@pytest.fixture(scope="module")
def quiz() -> dict[str, dict[str, list]]:
    return mcqa.generate(seed=0)


@pytest.mark.parametrize("name", GENERATORS)
def test_deterministic_and_seed_dependent(name: str) -> None:
    generate = GENERATORS[name].generate
    sizes = {"train": 200, "validation": 50, "test": 50}
    first = generate(seed=3, sizes=sizes)
    assert first == generate(seed=3, sizes=sizes)
    assert first != generate(seed=4, sizes=sizes)
    assert list(first) == list(SPLITS)


@pytest.mark.parametrize("name", GENERATORS)
def test_held_out_splits_do_not_depend_on_train_size(name: str) -> None:
    generate = GENERATORS[name].generate
    small = generate(seed=1, sizes={"train": 10, "validation": 30, "test": 30})
    large = generate(seed=1, sizes={"train": 300, "validation": 30, "test": 30})
    assert small["validation"] == large["validation"]
    assert small["test"] == large["test"]


@pytest.mark.parametrize("name", GENERATORS)
def test_default_sizes_and_speed(name: str) -> None:
    module = GENERATORS[name]
    start = time.perf_counter()
    data = module.generate()
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"{name} took {elapsed:.2f}s"
    assert dict(module.DEFAULT_SIZES) == {"train": 3000, "validation": 400, "test": 800}
    for split in SPLITS:
        for column in data[split].values():
            assert len(column) == module.DEFAULT_SIZES[split]


@pytest.mark.parametrize("name", GENERATORS)
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sizes": {"dev": 10}}, "unknown split 'dev'"),
        ({"sizes": {"train": -1}}, "non-negative int"),
        ({"seed": "0"}, "seed must be an int"),
    ],
)
def test_invalid_arguments(name: str, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GENERATORS[name].generate(**kwargs)


def test_registered_in_the_data_layer() -> None:
    data = load_task_data("multilabel", "topics", dataset_kwargs={"sizes": {"train": 20}})
    assert data.label_names == multilabel.LABEL_NAMES
    assert len(data.split("train")["text"]) == 20
    quiz = load_task_data("mcqa", "quiz", dataset_kwargs={"sizes": {"test": 7}})
    assert sorted(quiz.split("test")) == ["answer", "options", "question"]
    assert len(quiz.split("test")["question"]) == 7


# -- multi-label ------------------------------------------------------------------------------------


def test_topics_schema(topics: dict[str, dict[str, list]]) -> None:
    names = multilabel.LABEL_NAMES
    assert 10 <= len(names) <= 12 and len(set(names)) == len(names)
    order = {n: i for i, n in enumerate(names)}
    for split in SPLITS:
        for text, labels in zip(topics[split]["text"], topics[split]["label"]):
            assert isinstance(text, str) and text.strip()
            assert 1 <= len(labels) <= 4
            assert len(set(labels)) == len(labels)
            assert [order[x] for x in labels] == sorted(order[x] for x in labels)  # label-id order
        assert {x for ls in topics[split]["label"] for x in ls} == set(names)


def test_topics_set_sizes_and_co_occurrence(topics: dict[str, dict[str, list]]) -> None:
    labels = topics["train"]["label"]
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


def test_topics_splits_share_no_text(topics: dict[str, dict[str, list]]) -> None:
    texts = [set(topics[s]["text"]) for s in SPLITS]
    assert sum(map(len, texts)) == sum(len(topics[s]["text"]) for s in SPLITS)


# -- multiple choice --------------------------------------------------------------------------------


def test_quiz_schema_and_gold_positions(quiz: dict[str, dict[str, list]]) -> None:
    for split in SPLITS:
        cols = quiz[split]
        for q, options, answer in zip(cols["question"], cols["options"], cols["answer"]):
            assert q.strip().endswith("?")
            assert 3 <= len(options) <= 5
            assert len(set(options)) == len(options)
            assert isinstance(answer, int) and 0 <= answer < len(options)
    counts = Counter(len(o) for o in quiz["train"]["options"])
    assert set(counts) == {3, 4, 5}
    first = Counter(a for a, o in zip(quiz["train"]["answer"], quiz["train"]["options"]) if len(o) == 3)
    assert min(first.values()) / max(first.values()) > 0.7  # the gold position is uniform


def test_quiz_answers_follow_from_the_text(quiz: dict[str, dict[str, list]]) -> None:
    checked = 0
    for q, options, answer in zip(quiz["train"]["question"], quiz["train"]["options"], quiz["train"]["answer"]):
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


def test_quiz_splits_share_no_question(quiz: dict[str, dict[str, list]]) -> None:
    qs = [set(quiz[s]["question"]) for s in SPLITS]
    assert sum(map(len, qs)) == sum(len(quiz[s]["question"]) for s in SPLITS)
