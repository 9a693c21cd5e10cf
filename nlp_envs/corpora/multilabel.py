"""Seeded generator of the embedded multi-label corpus ``"topics"``: product reviews tagged with
the aspects they talk about.

Every example is a short customer review of one product; its labels are the aspects of
:data:`LABEL_NAMES` that the review comments on (1 to 4 of them). It needs no file and no network,
and the same seed gives the same corpus on every machine and Python version (only
:meth:`random.Random.random` is used, whose stream Python guarantees).

Structure
---------
* **Label-set sizes.** 1 aspect 40 %, 2 aspects 35 %, 3 aspects 18 %, 4 aspects 7 % (before
  de-duplication of texts).
* **Co-occurrence.** Each product belongs to a category (electronics, clothing, furniture, kitchen)
  whose aspects are more likely (``battery``/``screen``/``sound`` for electronics, ``size_fit``/
  ``comfort`` for clothing...), and some pairs attract each other: ``shipping`` and ``packaging``
  (a delivery story), ``price`` and ``quality`` ("worth the money"), ``quality`` and
  ``durability``. So label sets are far from independent.
* **Variety.** Each aspect has positive and negative clauses with several paraphrases and fillers
  (days, amounts, durations), joined by varied connectors, with aspect-free filler sentences
  ("Bought it as a gift.", "Three stars.") that carry no label, and random casing.

The three splits never share an identical text: test is generated first, then validation avoiding
test texts, then train avoiding both, so changing the train size never changes validation or test.

Example::

    >>> from nlp_envs.corpora import multilabel
    >>> data = multilabel.generate(seed=0, sizes={"train": 10, "validation": 2, "test": 2})
    >>> sorted(data), len(data["train"]["label"])
    (['test', 'train', 'validation'], 10)
    >>> all(1 <= len(ls) <= 4 for ls in data["train"]["label"])
    True
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from nlp_envs.corpora._rng import draw_many, generate_splits
from nlp_envs.corpora._rng import pick as _pick

__all__ = ["DEFAULT_SIZES", "LABEL_NAMES", "SPLITS", "generate"]

SPLITS: tuple[str, ...] = ("train", "validation", "test")
"""Split names, in the order they appear in the returned dict."""

DEFAULT_SIZES: Mapping[str, int] = {"train": 3000, "validation": 400, "test": 800}
"""Number of reviews per split when ``sizes`` is not given."""

LABEL_NAMES: tuple[str, ...] = (
    "price", "quality", "shipping", "packaging", "customer_service", "battery", "screen", "sound",
    "size_fit", "comfort", "durability", "ease_of_use",
)
"""The aspects, in label-id order."""

SIZE_PROBS: tuple[float, ...] = (0.40, 0.35, 0.18, 0.07)
"""Probability of a review having 1, 2, 3 or 4 aspects."""

FILLER_RATE = 0.35
"""Probability that a review carries an aspect-free sentence (before or after the aspects)."""


def _weighted(rng: random.Random, weights: Sequence[float]) -> int:
    """Return an index drawn with probability proportional to ``weights``."""
    x = rng.random() * sum(weights)
    for i, w in enumerate(weights):
        x -= w
        if x < 0:
            return i
    return max(i for i, w in enumerate(weights) if w > 0)


# Products by category, and each category's aspect weights (index = label id).
_CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    #                   price qual ship pack serv batt scrn sound size comf dura ease
    "electronics": (
        ("phone", "tablet", "laptop", "smartwatch", "e-reader", "bluetooth speaker", "headphones",
         "earbuds", "camera", "monitor"),
        (1.0, 1.0, 0.6, 0.4, 0.5, 2.0, 1.6, 1.4, 0.0, 0.3, 0.6, 0.8),
    ),
    "clothing": (
        ("jacket", "pair of jeans", "sweater", "pair of running shoes", "rain coat", "pair of boots",
         "t-shirt", "dress", "hoodie"),
        (1.0, 1.2, 0.6, 0.3, 0.4, 0.0, 0.0, 0.0, 2.2, 1.8, 0.8, 0.0),
    ),
    "furniture": (
        ("office chair", "desk", "sofa", "mattress", "bookshelf", "bed frame", "gaming chair"),
        (1.0, 1.0, 0.9, 0.7, 0.6, 0.0, 0.0, 0.0, 0.5, 1.8, 1.0, 0.9),
    ),
    "kitchen": (
        ("blender", "coffee maker", "air fryer", "toaster", "electric kettle", "rice cooker",
         "stand mixer", "knife set"),
        (1.0, 1.2, 0.7, 0.6, 0.6, 0.0, 0.2, 0.3, 0.2, 0.0, 1.2, 1.6),
    ),
}
_CATEGORY_NAMES = tuple(_CATEGORIES)

# Pairs that attract each other: once one is chosen, the other's weight is multiplied.
_AFFINITY: dict[tuple[str, str], float] = {
    ("shipping", "packaging"): 6.0,
    ("price", "quality"): 3.5,
    ("quality", "durability"): 3.0,
    ("size_fit", "comfort"): 2.5,
    ("battery", "screen"): 1.8,
    ("customer_service", "shipping"): 2.0,
    ("ease_of_use", "screen"): 1.5,
}
_INDEX = {name: i for i, name in enumerate(LABEL_NAMES)}
_BOOST = [[1.0] * len(LABEL_NAMES) for _ in LABEL_NAMES]
for (_a, _b), _w in _AFFINITY.items():
    _BOOST[_INDEX[_a]][_INDEX[_b]] = _BOOST[_INDEX[_b]][_INDEX[_a]] = _w

_AMOUNTS = ("$20", "$35", "50 dollars", "$80", "$120", "€60", "a hundred bucks", "$250", "40 euros")
_DAYS = ("two days", "three days", "a week", "ten days", "almost a month", "five days", "two weeks")
_HOURS = ("a few hours", "half a day", "a full day", "two days", "barely four hours", "ten hours")
_TIMES = ("a month", "two weeks", "three months", "a year", "six weeks", "a couple of days")

# Per aspect: (positive clauses, negative clauses). ``{p}`` is the product, ``{amount}``, ``{days}``,
# ``{hours}``, ``{time}`` are fillers.
_CLAUSES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "price": (
        ("it was a bargain at {amount}", "the price is very fair", "cheaper than anything similar",
         "great value for {amount}", "I got it on sale and it is worth every cent"),
        ("it is way overpriced", "{amount} is too much for this", "I paid {amount} and feel ripped off",
         "you can find it much cheaper elsewhere", "not worth the money"),
    ),
    "quality": (
        ("the build quality is excellent", "it feels solid and well made", "the materials are premium",
         "the craftsmanship is top notch", "everything about the finish is flawless"),
        ("it feels cheap and flimsy", "the quality is poor", "the seams were already coming apart",
         "the materials feel like cheap plastic", "the finish is sloppy"),
    ),
    "shipping": (
        ("delivery took only {days}", "it arrived earlier than promised", "shipping was fast",
         "the courier brought it the next morning", "it showed up in {days}, right on time"),
        ("it took {days} to arrive", "the delivery was late", "the parcel got lost twice",
         "shipping was painfully slow", "the courier left it in the rain"),
    ),
    "packaging": (
        ("the box was nicely packed", "it came well protected in the box", "the packaging is neat and recyclable",
         "it was wrapped with plenty of padding", "the packaging looked like a gift"),
        ("the box was crushed", "it came in a torn package", "there was no padding in the box at all",
         "the packaging was damaged and wet", "half the plastic wrap was missing"),
    ),
    "customer_service": (
        ("customer service replied within {hours}", "support was friendly and helpful",
         "the seller answered all my questions", "the support team sorted out my issue quickly",
         "the agent on the phone was very patient"),
        ("customer service never answered my emails", "support was rude", "the seller ignored my messages",
         "I waited {days} for a reply from support", "the agent on the phone hung up on me"),
    ),
    "battery": (
        ("the battery lasts {hours}", "battery life is amazing", "it charges really fast",
         "one charge easily gets me through {hours}", "the battery holds up all day"),
        ("the battery dies after {hours}", "battery life is terrible", "it takes forever to charge",
         "the battery drains even when it is off", "I have to charge it twice a day"),
    ),
    "screen": (
        ("the screen is bright and sharp", "the display colors are gorgeous", "the screen is easy to read in sunlight",
         "the display is crisp", "the touchscreen is very responsive"),
        ("the screen scratches easily", "the display is dim", "the screen has a dead pixel",
         "the touchscreen lags", "the display flickers at low brightness"),
    ),
    "sound": (
        ("the sound is rich and clear", "the bass is punchy", "audio quality is superb",
         "voices sound natural", "it gets really loud without distortion"),
        ("the sound is tinny", "there is a constant hiss in the audio", "the speakers crackle at high volume",
         "the bass is muddy", "the audio cuts out now and then"),
    ),
    "size_fit": (
        ("it fits perfectly", "the size is exactly as described", "true to size",
         "the fit is spot on", "it fits just right around the shoulders"),
        ("it runs two sizes small", "the fit is way too tight", "it is much bigger than the size chart says",
         "the sleeves are too short", "I had to size up and it still does not fit"),
    ),
    "comfort": (
        ("it is super comfortable", "I can wear it all day without any pain", "it feels soft and cozy",
         "so comfy I never want to take it off", "it is comfortable even after hours"),
        ("it is really uncomfortable", "it hurts after an hour", "it feels stiff and scratchy",
         "my back aches after sitting on it", "the padding is hard as a rock"),
    ),
    "durability": (
        ("it still works perfectly after {time}", "it has held up well after {time}", "it is built to last",
         "it survived a few drops without a scratch", "after {time} of daily use it looks new"),
        ("it broke after {time}", "it fell apart within {time}", "it stopped working after {time}",
         "a part snapped off after {time}", "it is already worn out after {time}"),
    ),
    "ease_of_use": (
        ("it is very easy to set up", "the controls are intuitive", "setup took five minutes",
         "even my grandmother can use it", "the instructions are clear and simple"),
        ("it is a pain to set up", "the controls are confusing", "the manual makes no sense",
         "it took me an hour to figure out", "the app keeps asking me to start over"),
    ),
}

_OPENERS = (
    "", "", "", "My new {p}: ", "About the {p}: ", "Review of the {p}. ", "I bought this {p} last month. ",
    "Got the {p} as a birthday gift. ", "Second {p} I've owned from this brand. ", "Quick review: ",
)
_FILLERS = (
    "Bought it as a gift.", "Three stars.", "I use it every day.", "My kids love it.",
    "Would recommend to a friend.", "Not sure I would buy it again.", "Overall it's okay.",
    "Five stars from me.", "It replaced my old one.", "Mixed feelings overall.",
)
_JOINERS = (", and ", ". ", "; ", ", but ", ". Also, ", ". On top of that, ", " and ", ". However, ")


def _fill(template: str, product: str, rng: random.Random) -> str:
    """Fill the slots of one clause template."""
    return template.format(
        p=product, amount=_pick(rng, _AMOUNTS), days=_pick(rng, _DAYS), hours=_pick(rng, _HOURS),
        time=_pick(rng, _TIMES),
    )


def _aspects(weights: Sequence[float], rng: random.Random) -> list[int]:
    """Draw 1-4 distinct aspect ids: the set size from :data:`SIZE_PROBS`, the first aspect from the
    category's weights, each further one from the weights boosted by its affinity with those chosen."""
    k = 1 + _weighted(rng, SIZE_PROBS)
    w = list(weights)
    chosen: list[int] = []
    for _ in range(k):
        if not any(x > 0 for x in w):
            break
        a = _weighted(rng, w)
        chosen.append(a)
        w[a] = 0.0
        w = [x * b for x, b in zip(w, _BOOST[a])]
    return chosen


def _review(rng: random.Random) -> tuple[str, list[str]]:
    """One review and its aspects (names, in label-id order)."""
    products, weights = _CATEGORIES[_pick(rng, _CATEGORY_NAMES)]
    product = _pick(rng, products)
    aspects = _aspects(weights, rng)
    positive_bias = rng.random()  # some reviewers are mostly happy, some mostly not
    clauses = []
    for a in aspects:
        pos, neg = _CLAUSES[LABEL_NAMES[a]]
        clauses.append(_fill(_pick(rng, pos if rng.random() < positive_bias else neg), product, rng))
    text = clauses[0]
    for clause in clauses[1:]:
        joiner = _pick(rng, _JOINERS)
        text += joiner + (clause[:1].upper() + clause[1:] if joiner.endswith(". ") else clause)
    opener = _fill(_pick(rng, _OPENERS), product, rng)
    if not opener or opener.endswith(". "):
        text = text[:1].upper() + text[1:]
    text = opener + text + _pick(rng, (".", ".", "!", ""))
    if rng.random() < FILLER_RATE:
        filler = _pick(rng, _FILLERS)
        text = f"{filler} {text}" if rng.random() < 0.5 else f"{text.rstrip('.!')}. {filler}"
    if rng.random() < 0.15:
        text = text.lower()
    return text, [LABEL_NAMES[a] for a in sorted(aspects)]


def _generate_split(n: int, rng: random.Random, seen: set[str], split: str) -> dict[str, list]:
    """Draw ``n`` reviews whose texts are not in ``seen`` (which is updated)."""
    reviews = draw_many(n, lambda: _review(rng), lambda review: review[0], seen, split=split, what="reviews")
    return {"text": [text for text, _ in reviews], "label": [names for _, names in reviews]}


def generate(seed: int = 0, *, sizes: Mapping[str, int] | None = None) -> dict[str, dict[str, list]]:
    """Generate the product-review aspect corpus.

    :param seed: Seed of the corpus; the same seed gives the same corpus everywhere.
    :param sizes: Reviews per split, e.g. ``{"train": 1000}``; missing splits keep their default
        (train 3000, validation 400, test 800). Changing the train size does not change validation
        or test.
    :return: ``{"train": {"text": [...], "label": [[...], ...]}, "validation": {...}, "test": {...}}``
        where each label is a list of 1-4 distinct names of :data:`LABEL_NAMES`, in label-id order.
    :raises ValueError: On an unknown split, a negative or non-int size, or a non-int seed.
    """
    return generate_splits("multilabel", seed, sizes, DEFAULT_SIZES, SPLITS, _generate_split)
