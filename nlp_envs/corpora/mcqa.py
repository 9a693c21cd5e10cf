"""Seeded generator of the embedded multiple-choice QA corpus ``"quiz"``.

Every example is a question (which may begin with a short context paragraph of facts), 3 to 5
answer options and the index of the correct one. Every question is answerable from its own text:
no world knowledge beyond counting, days of the week and the clock is needed. It needs no file and
no network, and the same seed gives the same corpus on every machine and Python version (only
:meth:`random.Random.random` is used, whose stream Python guarantees).

Question kinds (drawn uniformly)
--------------------------------
* ``arithmetic``: "Anna has 3 apples and buys 2 more. How many apples does Anna have now?"
  (addition, subtraction, multiplication); distractors are the other operations' results, the
  operands and off-by-one answers.
* ``where``: a context of 3-4 people and the cities they live in / work in, then "Where does Maria
  live?"; the options are cities of the context (plus one outside).
* ``boxes``: "The red box holds a key. The blue box holds a coin. ..." then "What is in the blue
  box?" or "Which box holds the coin?".
* ``order``: "Ben is taller than Ada. Ada is taller than Cy." then "Who is the shortest?" (a
  chain in shuffled sentence order, so the answer needs two or three facts).
* ``clock``: "Lena starts at 8 o'clock and works for 3 hours. When does she finish?", and "What
  day is two days after Monday?".

The position of the correct option is uniform. The three splits never share a question text: test
is generated first, then validation, then train, so changing the train size never changes
validation or test.

Example::

    >>> from nlp_envs.corpora import mcqa
    >>> data = mcqa.generate(seed=0, sizes={"train": 10, "validation": 2, "test": 2})
    >>> sorted(data["train"])
    ['answer', 'options', 'question']
    >>> all(3 <= len(o) <= 5 for o in data["train"]["options"])
    True
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence

from nlp_envs.corpora._rng import draw_many, generate_splits
from nlp_envs.corpora._rng import permutation as _permutation
from nlp_envs.corpora._rng import pick as _pick

__all__ = ["DEFAULT_SIZES", "KINDS", "SPLITS", "generate"]

SPLITS: tuple[str, ...] = ("train", "validation", "test")
"""Split names, in the order they appear in the returned dict."""

DEFAULT_SIZES: Mapping[str, int] = {"train": 3000, "validation": 400, "test": 800}
"""Number of questions per split when ``sizes`` is not given."""

_NAMES = ("Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kenji",
          "Lena", "Maria", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tom", "Uma", "Victor")
_ITEMS = ("apples", "pencils", "stickers", "marbles", "cookies", "books", "stamps", "coins", "shells",
          "cards", "oranges", "balloons")
_CITIES = ("Paris", "Oslo", "Lima", "Cairo", "Tokyo", "Rome", "Dublin", "Seoul", "Lisbon", "Vienna",
           "Nairobi", "Quito", "Madrid", "Prague", "Sydney", "Toronto")
_COLORS = ("red", "blue", "green", "yellow", "black", "white", "purple", "orange")
_OBJECTS = ("a key", "a coin", "a ring", "a letter", "a map", "a watch", "a shell", "a photo", "a stone",
            "a ticket", "a feather", "a button")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six")
_COMPARATIVES = (("taller", "tallest", "shortest"), ("older", "oldest", "youngest"),
                 ("faster", "fastest", "slowest"), ("heavier", "heaviest", "lightest"))


def _int(rng: random.Random, lo: int, hi: int) -> int:
    """Return a uniform int in ``[lo, hi]``."""
    return lo + int(rng.random() * (hi - lo + 1))


def _sample(rng: random.Random, items: Sequence[str], k: int) -> list[str]:
    """``k`` distinct elements of ``items`` in random order."""
    return [items[i] for i in _permutation(len(items), rng)[:k]]


# Each kind returns (question, correct answer, distractor candidates).
Kind = Callable[[random.Random], tuple[str, str, list[str]]]


def _arithmetic(rng: random.Random) -> tuple[str, str, list[str]]:
    name, other, item = _pick(rng, _NAMES), _pick(rng, _NAMES), _pick(rng, _ITEMS)
    op = int(rng.random() * 3)
    if op == 0:
        a, b = _int(rng, 2, 30), _int(rng, 1, 20)
        verb = _pick(rng, ("buys", "finds", "gets", "is given"))
        q = f"{name} has {a} {item} and {verb} {b} more. How many {item} does {name} have now?"
        answer, wrong = a + b, [a - b, a, b, a + b + 1, a + b - 1, a * b]
    elif op == 1:
        a = _int(rng, 5, 40)
        b = _int(rng, 1, a - 1)
        verb = _pick(rng, ("gives", "sells", "lends"))
        q = f"{name} had {a} {item} and {verb} {b} of them to {other}. How many {item} does {name} have left?"
        answer, wrong = a - b, [a + b, a, b, a - b + 1, a - b - 1]
    else:
        a, b = _int(rng, 2, 9), _int(rng, 2, 9)
        q = f"{name} buys {a} bags with {b} {item} in each bag. How many {item} does {name} buy in all?"
        answer, wrong = a * b, [a + b, a * b + a, a * b - b, a, b, a * b + 1]
    return q, str(answer), [str(w) for w in wrong if w >= 0]


def _where(rng: random.Random) -> tuple[str, str, list[str]]:
    k = _int(rng, 3, 4)
    people, cities = _sample(rng, _NAMES, k), _sample(rng, _CITIES, k + 2)
    verb, ask = _pick(rng, (("lives in", "live"), ("works in", "work"), ("was born in", "was born")))
    facts = " ".join(f"{p} {verb} {c}." for p, c in zip(people, cities))
    j = int(rng.random() * k)
    q = f"{facts} Where does {people[j]} {ask}?" if ask != "was born" else f"{facts} Where was {people[j]} born?"
    return q, cities[j], cities[:j] + cities[j + 1 :]


def _boxes(rng: random.Random) -> tuple[str, str, list[str]]:
    k = _int(rng, 3, 4)
    colors, objects = _sample(rng, _COLORS, k + 1), _sample(rng, _OBJECTS, k + 1)
    container = _pick(rng, ("box", "bag", "drawer", "jar"))
    facts = " ".join(f"The {c} {container} holds {o}." for c, o in zip(colors[:k], objects[:k]))
    j = int(rng.random() * k)
    if rng.random() < 0.5:
        q = f"{facts} What is in the {colors[j]} {container}?"
        return q, objects[j], objects[:j] + objects[j + 1 :]
    q = f"{facts} Which {container} holds {objects[j]}?"
    answers = [f"the {c} {container}" for c in colors]
    return q, answers[j], answers[:j] + answers[j + 1 :]


def _order(rng: random.Random) -> tuple[str, str, list[str]]:
    k = _int(rng, 3, 4)
    people = _sample(rng, _NAMES, k + 1)  # people[:k] from most to least; the last is not mentioned
    comp, most, least = _COMPARATIVES[int(rng.random() * len(_COMPARATIVES))]
    facts = [f"{people[i]} is {comp} than {people[i + 1]}." for i in range(k - 1)]
    facts = [facts[i] for i in _permutation(len(facts), rng)]
    if rng.random() < 0.5:
        q, answer = f"{' '.join(facts)} Who is the {most}?", people[0]
    else:
        q, answer = f"{' '.join(facts)} Who is the {least}?", people[k - 1]
    return q, answer, [p for p in people if p != answer]


def _clock(rng: random.Random) -> tuple[str, str, list[str]]:
    if rng.random() < 0.5:
        name = _pick(rng, _NAMES)
        start, hours = _int(rng, 6, 11), _int(rng, 2, 5)
        task = _pick(rng, ("works", "studies", "plays football", "practices the piano", "hikes"))
        q = f"{name} starts at {start} o'clock and {task} for {hours} hours. At what time does {name} finish?"
        times = [start + hours, start + hours + 1, start + hours - 1, start - hours, start, hours + 12]
        return q, *_hours(times)
    day, n = int(rng.random() * 7), _int(rng, 1, 3)
    q = f"Today is {_DAYS[day]}. What day will it be in {_NUMBER_WORDS[n]} days?"
    wrong = [_DAYS[(day + n + d) % 7] for d in (1, -1, 2, -2 * n)] + [_DAYS[day]]
    return q, _DAYS[(day + n) % 7], wrong


def _hours(times: list[int]) -> tuple[str, list[str]]:
    names = [f"{(t - 1) % 12 + 1} o'clock" for t in times]
    return names[0], names[1:]


KINDS: dict[str, Kind] = {"arithmetic": _arithmetic, "where": _where, "boxes": _boxes, "order": _order,
                          "clock": _clock}
"""The question kinds, by name (see the module doc)."""
_KIND_LIST = tuple(KINDS.values())


def _question(rng: random.Random) -> tuple[str, list[str], int]:
    """One question, its options (3-5, distinct) and the index of the correct one."""
    q, answer, wrong = _KIND_LIST[int(rng.random() * len(_KIND_LIST))](rng)
    distinct: list[str] = []
    for w in wrong:
        if w != answer and w not in distinct:
            distinct.append(w)
    distinct = [distinct[i] for i in _permutation(len(distinct), rng)]
    n = min(_int(rng, 3, 5), len(distinct) + 1)
    gold = int(rng.random() * n)
    options = distinct[: n - 1]
    options.insert(gold, answer)
    return q, options, gold


def _generate_split(n: int, rng: random.Random, seen: set[str], split: str) -> dict[str, list]:
    """Draw ``n`` questions whose texts are not in ``seen`` (which is updated)."""
    drawn = draw_many(n, lambda: _question(rng), lambda question: question[0], seen, split=split, what="questions")
    return {"question": [q for q, _, _ in drawn], "options": [o for _, o, _ in drawn], "answer": [a for _, _, a in drawn]}


def generate(seed: int = 0, *, sizes: Mapping[str, int] | None = None) -> dict[str, dict[str, list]]:
    """Generate the multiple-choice quiz corpus.

    :param seed: Seed of the corpus; the same seed gives the same corpus everywhere.
    :param sizes: Questions per split, e.g. ``{"train": 1000}``; missing splits keep their default
        (train 3000, validation 400, test 800). Changing the train size does not change validation
        or test.
    :return: ``{"train": {"question": [...], "options": [[...], ...], "answer": [...]}, ...}``; each
        ``options`` holds 3-5 distinct strings and ``answer`` is the index of the correct one.
    :raises ValueError: On an unknown split, a negative or non-int size, or a non-int seed.
    """
    return generate_splits("mcqa", seed, sizes, DEFAULT_SIZES, SPLITS, _generate_split)
