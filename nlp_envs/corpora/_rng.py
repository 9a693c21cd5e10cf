"""Random helpers shared by the embedded corpus generators.

Only :meth:`random.Random.random` is used, directly or through these helpers. Python guarantees that
a ``random.Random`` seeded with the same ``str`` gives the same ``random()`` stream on every machine
and every Python version. It makes no such promise for ``choice``, ``shuffle``, ``sample``,
``randint`` and the other convenience methods: their algorithms have changed between versions and
may change again. So drawing, shuffling and sampling are written here on top of ``random()``, and
the corpora stay the same wherever they are generated.

Each split has its own stream, seeded with a string (:func:`split_streams`). The held-out splits are
generated first, so changing the train size never changes validation or test.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")

MAX_ATTEMPTS = 200
"""Attempts to draw a new, acceptable example, per example, before giving up."""

GENERATION_ORDER: tuple[str, ...] = ("test", "validation", "train")
"""Order in which the splits are generated: held-out splits first, so they do not depend on train."""


def pick(rng: random.Random, items: Sequence[T]) -> T:
    """Return a uniformly drawn element of ``items``."""
    return items[int(rng.random() * len(items))]


def chance(rng: random.Random, p: float) -> bool:
    """Return True with probability ``p``."""
    return rng.random() < p


def permutation(n: int, rng: random.Random) -> list[int]:
    """Return a uniformly random permutation of ``range(n)`` (Fisher-Yates)."""
    items = list(range(n))
    for i in range(n - 1, 0, -1):
        j = int(rng.random() * (i + 1))
        items[i], items[j] = items[j], items[i]
    return items


def check_seed(seed: object) -> None:
    """Raise ``ValueError`` unless ``seed`` is an int (bools are refused)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")


def resolve_sizes(
    sizes: Mapping[str, int] | None, defaults: Mapping[str, int], splits: Sequence[str]
) -> dict[str, int]:
    """Merge ``sizes`` into ``defaults``, validating names and values.

    :param splits: The split names, as listed in the error on an unknown split.
    """
    resolved = dict(defaults)
    for split, size in (sizes or {}).items():
        if split not in resolved:
            raise ValueError(f"unknown split {split!r} in sizes; expected some of {list(splits)}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"sizes[{split!r}] must be a non-negative int, got {size!r}")
        resolved[split] = size
    return resolved


def split_streams(corpus: str, seed: int) -> Iterator[tuple[str, random.Random]]:
    """Yield ``(split, rng)`` for each split, in :data:`GENERATION_ORDER`.

    Each split draws from its own stream, seeded with ``"nlp_envs.<corpus>/<seed>/<split>"``.
    """
    for split in GENERATION_ORDER:
        yield split, stream(corpus, seed, split)


def stream(corpus: str, seed: int, name: str) -> random.Random:
    """Return the stream ``name`` of corpus ``corpus`` for ``seed`` (a string-seeded ``Random``)."""
    return random.Random(f"nlp_envs.{corpus}/{seed}/{name}")


def draw_new(
    draw: Callable[[], T],
    key: Callable[[T], str],
    seen: set[str],
    *,
    n: int,
    index: int,
    split: str,
    what: str,
    unit: str = "example",
    accept: Callable[[T], bool] | None = None,
) -> T:
    """Draw until an item whose key is not in ``seen`` (and that ``accept`` takes) comes up.

    The key of the returned item is added to ``seen``. Gives up after :data:`MAX_ATTEMPTS` draws.

    :param n: Examples asked for in the split (for the error message).
    :param index: Index of the example being drawn (for the error message).
    :param split: Name of the split (for the error message).
    :param what: Plural noun for the examples, e.g. ``"sentences"``.
    :param unit: Singular noun the error counts in: ``"at <unit> <index>; ask for fewer <unit>s"``.
    :raises ValueError: When no new item came up in :data:`MAX_ATTEMPTS` draws.
    """
    for _ in range(MAX_ATTEMPTS):
        item = draw()
        k = key(item)
        if (accept is None or accept(item)) and k not in seen:
            seen.add(k)
            return item
    raise ValueError(
        f"could not draw {n} distinct {split} {what} after {MAX_ATTEMPTS} attempts at "
        f"{unit} {index}; ask for fewer {unit}s"
    )


def draw_many(
    n: int,
    draw: Callable[[], T],
    key: Callable[[T], str],
    seen: set[str],
    *,
    split: str,
    what: str,
    unit: str = "example",
    accept: Callable[[T], bool] | None = None,
) -> list[T]:
    """Draw ``n`` new items one after another with :func:`draw_new` (same arguments), in order."""
    return [
        draw_new(draw, key, seen, n=n, index=i, split=split, what=what, unit=unit, accept=accept)
        for i in range(n)
    ]


def generate_splits(
    corpus: str,
    seed: int,
    sizes: Mapping[str, int] | None,
    defaults: Mapping[str, int],
    splits: Sequence[str],
    make_split: Callable[[int, random.Random, set[str], str], dict[str, list]],
) -> dict[str, dict[str, list]]:
    """The ``generate`` of a corpus: check ``seed``, resolve ``sizes`` against ``defaults``, then call
    ``make_split(n, rng, seen, split)`` for each split in :data:`GENERATION_ORDER` (held-out splits
    first, each from its own stream of :func:`split_streams`, so they do not depend on the train
    size), ``seen`` being the keys drawn so far in any split. Returns the splits in ``splits`` order.
    """
    check_seed(seed)
    resolved = resolve_sizes(sizes, defaults, splits)
    seen: set[str] = set()
    data: dict[str, dict[str, list]] = {}
    for split, rng in split_streams(corpus, seed):
        data[split] = make_split(resolved[split], rng, seen, split)
    return {split: data[split] for split in splits}


def sentence_columns(sentences: Sequence[tuple[list[str], list[str]]]) -> dict[str, list]:
    """The ``{"tokens": [...], "tags": [...]}`` columns of a tagging split from its ``(tokens, tags)`` pairs."""
    return {"tokens": [tokens for tokens, _ in sentences], "tags": [tags for _, tags in sentences]}


def dialogue_splitter(
    dialogue: Callable[[random.Random], list[dict[str, str]]], min_turns: int, max_turns: int
) -> Callable[[int, random.Random, set[str], str], dict[str, list]]:
    """The ``make_split`` of a dialogue corpus for :func:`generate_splits`: ``n`` dialogues drawn
    with ``dialogue(rng)``, of ``min_turns`` to ``max_turns`` turns, whose text (the turns' texts,
    one a line) is not in ``seen``; columns ``id`` (``"<split>-<index:05d>"``) and ``turns``."""

    def make_split(n: int, rng: random.Random, seen: set[str], split: str) -> dict[str, list]:
        dialogues = draw_many(
            n, lambda: dialogue(rng), lambda turns: "\n".join(turn["text"] for turn in turns), seen,
            accept=lambda turns: min_turns <= len(turns) <= max_turns, split=split, what="dialogues",
            unit="dialogue",
        )
        return {"id": [f"{split}-{i:05d}" for i in range(n)], "turns": dialogues}

    return make_split
