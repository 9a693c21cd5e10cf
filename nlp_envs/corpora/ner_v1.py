"""Seeded generator of the ``NerTag-v1`` corpus: named entities that a word lookup cannot tag.

Sentences are tokenised, CoNLL-2003-like news, business and sports text tagged with IOB2 (BIO) tags
over the four entity types of :data:`ENTITY_TYPES` (``O``, ``B-PER``, ``I-PER``, ``B-LOC``, ...). It
needs no file and no network, and the same seed gives the same corpus on every machine and every
Python version (only :meth:`random.Random.random` is used, through :mod:`nlp_envs.corpora._rng`).

It replaces :mod:`nlp_envs.corpora.ner` (``NerTag-v0``) as the embedded default because there every
entity of the test split also occurs in train and a per-word lookup scores 0.88 entity F1. Here:

* **Unseen names.** Every name list (first names, surnames, names that are both a person's and a
  place's, cities, countries, multi-word places) is split, per seed, into a *shared* part and a
  *held-out* part (:data:`HELD_OUT_SHARE`), and syllable-built names ("Helmidale", "Kashaello")
  make two more disjoint sets: a long tail of rare names for train (:data:`TAIL_NAMES`, drawn with
  probability :data:`TAIL_RATE`; so many that the WordPiece vocabulary cuts them into pieces, as
  real rare names) and held-out ones. Train draws its names from the shared part and its tail only;
  validation and test draw each name word from the held-out part with probability
  :data:`UNSEEN_RATE`, else from the shared part. With the combinations of seen words that train
  never has ("Keller Holdings", "Maria Okafor") more than half the test mentions never occur in
  train, so a tagger has to generalise from context and word shape.
* **Types decided by the frame, not the word.** Every name word fills every entity type: "Hamilton"
  is a person ("Mr. Hamilton said"), a place ("flooding across Hamilton"), a club ("Hamilton beat
  Lisbon 2 - 1"), a company ("Hamilton Holdings", "shares in Hamilton rose") and part of a place
  ("Hamilton County"); surnames found companies and counties, cities name clubs, banks and
  universities, months are first names. Only the sentence tells which: titles (``Mr.``, ``coach``),
  suffixes (``Inc.``, ``FC``, ``University``, ``County``), prepositions (``in``, ``from``, ``at``),
  verbs and pronouns ("said it" vs "said he").
* **Nested-looking, flat spans.** "University of Lisbon" and "Maria Keller Foundation" are one ORG,
  "Lake Victoria" and "Hamilton County" one LOC: the place or person inside is not tagged (flat
  BIO, as CoNLL). Titles are outside the entity. Adjacent entities ("Kingston , Jamaica"; "Lisbon 2
  Porto 1") are separated by B- tags.
* **CoNLL-like lengths.** Short result and dateline lines (3 to 6 tokens), one- and two-clause
  sentences: mean about 14 tokens (CoNLL-2003: 14.5), at most :data:`MAX_TOKENS`.
* **Train 6000 sentences** (CoNLL-2003: 14,041), twice ``NerTag-v0``'s: at the learning grid's
  supervised budget (30,000 examples) the larger, more varied train split is what lets a small
  tagger learn the frames (tiny transformer, seed 0: 0.884 entity F1 with 3000, 0.918 with 6000).

:func:`statistics` measures what makes it hard on a generated corpus (unseen mentions, entity tokens
whose word takes two or more entity types in train, the entity F1 of a per-word majority lookup);
the values for the default corpus are in the ``NerTagEnv`` docstring and
``benchmarks/results/nertag_v1_stats.json``.

The three splits never share an identical sentence: test is generated first, then validation
avoiding test sentences, then train avoiding both, so changing the train size never changes
validation or test.

Example::

    >>> from nlp_envs.corpora import ner_v1
    >>> data = ner_v1.generate(seed=0, sizes={"train": 5, "validation": 2, "test": 2})
    >>> len(data["train"]["tokens"]), len(data["train"]["tokens"][0]) == len(data["train"]["tags"][0])
    (5, True)
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nlp_envs.corpora._rng import (
    chance as _chance,
    check_seed,
    draw_many,
    generate_splits,
    permutation,
    pick as _pick,
    resolve_sizes,
    sentence_columns,
    stream,
)

__all__ = ["DEFAULT_SIZES", "ENTITY_TYPES", "SPLITS", "TAG_NAMES", "generate", "statistics"]

SPLITS: tuple[str, ...] = ("train", "validation", "test")
"""Split names, in the order they appear in the returned dict."""

DEFAULT_SIZES: Mapping[str, int] = {"train": 6000, "validation": 400, "test": 800}
"""Number of sentences per split when ``sizes`` is not given."""

ENTITY_TYPES: tuple[str, ...] = ("PER", "LOC", "ORG", "DATE")
"""Entity types: people, places, organisations (companies, institutions, sports clubs), dates."""

TAG_NAMES: tuple[str, ...] = ("O",) + tuple(f"{p}-{t}" for t in ENTITY_TYPES for p in ("B", "I"))
"""All IOB2 tags: ``("O", "B-PER", "I-PER", "B-LOC", ...)``."""

HELD_OUT_SHARE = 0.4
"""Share of each hand-written name list that train never uses (drawn per seed)."""

UNSEEN_RATE = 0.25
"""Probability that a name word of a validation or test sentence comes from the held-out part."""

TAIL_RATE = 0.5
"""Probability that a name word of a train sentence comes from train's own syllable-built tail."""

COMBINE_RATE = 0.25
"""Probability that a sentence joins two templates."""

MAX_TOKENS = 40
"""Longest sentence, in tokens."""

# --------------------------------------------------------------------------------------------------
# Name lists, written for this project. Every list is split into shared and held-out parts per seed.
# --------------------------------------------------------------------------------------------------

_FIRST = (
    "Maria", "Ahmed", "Lena", "Tomasz", "Yuki", "Kwame", "Ingrid", "Rafael", "Aisha", "Mateo", "Dmitri",
    "Chen", "Olga", "Pedro", "Nadia", "Lars", "Amara", "Hiroshi", "Elena", "Tobias", "Zainab", "Luca",
    "Mira", "Oscar", "Fatou", "Henrik", "Leila", "Bruno", "Anika", "Samuel", "Ines", "Viktor", "Priya",
    "Jonah", "Carmen", "Ravi", "Greta", "Kofi", "Emeka", "Sanna", "Diego", "Noor", "Anna", "Peter",
    "John", "Michael", "David", "Sarah", "Laura", "Thomas", "James", "Mark", "Paul", "Robert", "Daniel",
    "Martin", "Sven", "Klaus", "Pierre", "Jean", "Marco", "Giulia", "Hans", "Erik", "Ana", "Juan",
    "Carlos", "Miguel", "Ali", "Omar", "Fatima", "Yusuf", "Mohamed", "Wei", "Hana", "Kenji", "Sergei",
    "Ivan", "Katarina", "Monika", "Petra", "Ewa", "May", "June", "April", "August",
)
_SURNAMES = (
    "Silva", "Okafor", "Novak", "Tanaka", "Fischer", "Haddad", "Lindqvist", "Moreau", "Kowalski",
    "Mensah", "Rossi", "Petrov", "Nakamura", "Costa", "Jensen", "Abbasi", "Morales", "Weber", "Dubois",
    "Ivanova", "Nguyen", "Almeida", "Berg", "Sato", "Keller", "Castillo", "Varga", "Schmidt", "Romero",
    "Yilmaz", "Kaur", "Adeyemi", "Horvat", "Lund", "Ferreira", "Osei", "Marsh", "Quinn", "Bauer",
    "Becker", "Brandt", "Carvalho", "Chaudhry", "Dimitrov", "Eriksen", "Falk", "Gallagher", "Garcia",
    "Gomez", "Hartmann", "Hoffman", "Ito", "Jovanovic", "Kaplan", "Khan", "Kim", "Klein", "Kovacs",
    "Kruger", "Larsen", "Lehmann", "Lopez", "Mazur", "Meyer", "Molina", "Moretti", "Muller", "Nielsen",
    "Novotny", "Olsen", "Ortiz", "Park", "Pereira", "Popescu", "Ramos", "Reyes", "Richter", "Rojas",
    "Santos", "Schneider", "Sharma", "Simonsen", "Sokolov", "Suzuki", "Torres", "Vasquez", "Vogel",
    "Wagner", "Walsh", "Wolff", "Yamamoto", "Zimmermann", "Zhou", "Banerjee", "Mwangi", "Otieno",
    "Kamau", "Diallo", "Traore", "Boateng", "Asante", "Okonkwo", "Eze", "Bello", "Haugen", "Virtanen",
    "Nieminen", "Aalto", "Lindgren", "Sandberg", "Holm", "Strand", "Dahl",
)
# Names that are a person's (first name or surname) and a place's.
_DUAL = (
    "Jordan", "Florence", "Georgia", "Austin", "Sydney", "Paris", "Victoria", "Charlotte", "Madison",
    "Dallas", "Houston", "Denver", "Adelaide", "Regina", "Lincoln", "Hamilton", "Chester", "Kingston",
    "Preston", "Milton", "Clayton", "Warren", "Marshall", "Jackson", "Camden", "Carson", "Quincy",
    "Troy", "Lowell", "Orlando", "Raleigh", "Tyler", "Helena", "Sofia", "Augusta", "Marion", "Eugene",
    "Alexandria", "Chelsea", "Savannah", "Aurora", "Phoenix", "Cleveland", "Nelson", "Wellington",
    "Darwin", "Washington", "Franklin", "Clinton", "Bristol", "Lancaster", "Winston", "Bradford",
    "Hudson", "Logan", "Dayton", "Salem", "Vienna", "Valencia", "Verona", "Geneva", "Odessa", "Dakota",
    "Carolina", "Kent", "Devon", "Shelby", "Trenton", "Sheridan", "Stanley", "Eaton", "Ellis", "Lyon",
    "Beverly", "Berkeley", "Chandler", "Douglas", "Everett", "Harrison", "Irving", "Kimberley",
    "Lorraine", "Mackay", "Murray", "Norman", "Perry", "Richmond", "Russell", "Sterling", "Sutton",
    "Taylor", "Vernon", "Wallace", "Winchester", "York", "Ashton", "Burton", "Dudley", "Hastings",
    "Kendal", "Lawrence", "Percy", "Rowan", "Selby", "Bolton", "Carlisle", "Dawson", "Granville",
    "Whitney", "Montgomery",
)
_CITIES = (
    "Lisbon", "Oslo", "Nairobi", "Lagos", "Krakow", "Porto", "Munich", "Seattle", "Toronto", "Manila",
    "Lima", "Quito", "Hanoi", "Tunis", "Accra", "Bergen", "Dublin", "Cairo", "Santiago", "Osaka",
    "Perth", "Montreal", "Bologna", "Seville", "Tbilisi", "Madrid", "Berlin", "Hamburg", "Frankfurt",
    "Milan", "Turin", "Naples", "Marseille", "Bordeaux", "Rotterdam", "Antwerp", "Zurich", "Basel",
    "Prague", "Budapest", "Warsaw", "Gdansk", "Riga", "Tallinn", "Helsinki", "Stockholm", "Gothenburg",
    "Copenhagen", "Aarhus", "Glasgow", "Leeds", "Manchester", "Liverpool", "Belfast", "Cardiff",
    "Athens", "Istanbul", "Ankara", "Beirut", "Amman", "Dubai", "Doha", "Karachi", "Mumbai", "Delhi",
    "Dhaka", "Bangkok", "Jakarta", "Seoul", "Beijing", "Shanghai", "Melbourne", "Auckland", "Boston",
    "Chicago", "Atlanta", "Miami", "Ottawa", "Calgary", "Havana", "Bogota", "Caracas", "Montevideo",
    "Kampala", "Dakar", "Harare", "Lusaka", "Luanda", "Casablanca", "Algiers",
)
_COUNTRIES = (
    "Portugal", "Kenya", "Brazil", "Canada", "Norway", "Vietnam", "Peru", "Ghana", "Chile", "Japan",
    "Morocco", "Egypt", "Poland", "Iceland", "Spain", "France", "Germany", "Italy", "Sweden", "Finland",
    "Ireland", "Scotland", "Russia", "China", "India", "Mexico", "Argentina", "Colombia", "Nigeria",
    "Turkey", "Greece", "Austria", "Hungary", "Romania", "Ukraine", "Denmark", "Belgium", "Croatia",
    "Serbia", "Senegal", "Uganda", "Zambia", "Tanzania", "Ethiopia", "Pakistan", "Indonesia",
    "Thailand", "Malaysia", "Australia", "Texas", "Bavaria", "Sicily", "Ontario", "Quebec", "Bengal",
)
_LONG_PLACES = (
    "New York", "Rio de Janeiro", "San Francisco", "Buenos Aires", "Cape Town", "Kuala Lumpur",
    "Hong Kong", "Sierra Leone", "New Zealand", "South Korea", "Costa Rica", "Mexico City", "Sao Paulo",
    "Los Angeles", "Addis Ababa", "United States", "United Kingdom", "Saudi Arabia", "Santa Cruz",
    "Ho Chi Minh City", "Abu Dhabi", "Tel Aviv", "St. Petersburg", "Las Vegas", "Puerto Rico",
    "Dar es Salaam", "El Salvador", "Sri Lanka", "Rocky Mountains", "Isle of Man",
)

# Syllable-built names: the long tail of rare names, split between train and the held-out splits.
_SYL_START = (
    "Ka", "Lo", "Mi", "Te", "Ba", "Ro", "Vi", "Da", "Se", "Mo", "Ra", "Ti", "No", "Ve", "Li", "Sa", "Ko",
    "Re", "Du", "Ma", "Be", "Ga", "Sto", "Fe", "We", "Ha", "Zo", "Pe", "Dra", "Ul", "Os", "An", "El",
    "Ir", "Bra", "Cor", "Tor", "Gil", "Mar", "Val", "Nor", "Hel", "Kal", "Fen", "Jas", "Or", "Ar",
    "Quen", "Ya", "Zel",
)
_SYL_MID = ("ra", "lo", "ni", "ve", "da", "ri", "ma", "ko", "le", "sa", "ta", "go", "ne", "mi", "ba",
            "ro", "vi", "sha", "do", "li", "", "", "")
_ENDINGS = {
    "first": ("a", "o", "in", "el", "ia", "ana", "ir", "us", "ette", "ina", "ek", "is"),
    "sur": ("son", "ez", "ski", "ov", "ova", "ini", "er", "ek", "berg", "mann", "ides", "ello", "escu",
            "enko", "sen", "ic", "ati", "oglu", "stein", "wood"),
    "city": ("ton", "burg", "ford", "ville", "holm", "stad", "mouth", "field", "haven", "bury", "dale",
             "port", "grad", "abad", "pur", "ia"),
}
TAIL_NAMES = 1500
"""Syllable-built names per kind (first, surname, city) in train's tail: so many that most are rare
and the default WordPiece vocabulary (4000, trained on train) cuts them into pieces, as real rare names."""

HELD_OUT_SYNTHETIC = 300
"""Syllable-built names per kind in the held-out part."""

_HAND_LISTS: dict[str, tuple[str, ...]] = {
    "first": _FIRST, "sur": _SURNAMES, "dual": _DUAL, "city": _CITIES, "country": _COUNTRIES,
    "long": _LONG_PLACES,
}

_PARTICLES = ("van", "van der", "de", "da", "dos", "del", "von", "bin", "al", "di", "de la", "le")
_INITIALS = tuple(f"{c}." for c in "ABCDEFGHJKLMNPRSTW")
_LOC_PREFIX = ("Lake", "Fort", "Port", "Mount", "St.", "Cape")
_LOC_SUFFIX = ("County", "Island", "Valley", "Bay", "Heights", "Springs", "Province", "Falls")
_LOC_COMPASS = ("New", "North", "South", "East", "West", "Upper", "Lower")
_CORP_SUFFIX = ("Group", "Inc.", "Ltd.", "Holdings", "Motors", "Airlines", "Capital", "Energy", "Media",
                "Foods", "Partners", "Pharma", "Bank", "Insurance", "Logistics", "Steel", "Telecom",
                "Systems", "Corp.", "AG", "SA", "Brothers")
_INST_OF = ("University of", "Bank of", "National Bank of", "Museum of", "Royal Bank of", "Port of")
_INST_SUFFIX = ("University", "City Council", "Police", "Hospital", "Symphony Orchestra", "Stock Exchange",
                "Chamber of Commerce", "Institute of Technology", "Airport Authority")
_COUNTRY_ORG = ("Airways", "Telecom", "Post", "Railways", "Television", "Petroleum")
_FOUNDATION = ("Foundation", "Institute", "Trust", "Center")
_CLUB_SUFFIX = ("FC", "United", "City", "Rovers", "Athletic", "Wanderers", "Town")
_CLUB_PREFIX = ("Real", "Sporting", "Dynamo", "Inter", "FC", "Olympique", "Racing")
_TITLES = ("Mr.", "Mrs.", "Ms.", "Dr.", "Professor", "President", "Prime Minister", "Minister", "Senator",
           "General", "Judge", "coach", "striker", "Chancellor", "Governor", "Ambassador", "captain")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


class _Names:
    """The name words one split may use: shared words, plus train's tail or the held-out words."""

    def __init__(self, shared: dict[str, list[str]], own: dict[str, list[str]], own_rate: float) -> None:
        self.shared, self.own, self.own_rate = shared, own, own_rate

    def word(self, rng: random.Random, kind: str) -> str:
        own = self.own.get(kind)
        if own and _chance(rng, self.own_rate):
            return _pick(rng, own)
        return _pick(rng, self.shared[kind])


def _synthetic(rng: random.Random, kind: str, count: int, taken: set[str]) -> list[str]:
    """``count`` distinct syllable-built names of ``kind`` not in ``taken`` (which is updated)."""
    out: list[str] = []
    for _ in range(count * 20):
        if len(out) == count:
            break
        name = _pick(rng, _SYL_START) + _pick(rng, _SYL_MID) + _pick(rng, _ENDINGS[kind])
        if name not in taken:
            taken.add(name)
            out.append(name)
    return out


def _split_list(items: Sequence[str], rng: random.Random) -> tuple[list[str], list[str]]:
    """``(shared, held_out)``: a seeded :data:`HELD_OUT_SHARE` of ``items`` is held out."""
    order = permutation(len(items), rng)
    k = round(HELD_OUT_SHARE * len(items))
    return [items[i] for i in sorted(order[k:])], [items[i] for i in sorted(order[:k])]


def name_pools(seed: int = 0) -> dict[str, dict[str, list[str]]]:
    """The name words of ``seed``: ``{"shared": ..., "held_out": ..., "train_tail": ...}``, each
    ``kind -> words`` (kinds ``first``, ``sur``, ``dual``, ``city``, ``country``, ``long``).

    Train uses ``shared`` and ``train_tail``; validation and test use ``shared`` and ``held_out``.
    ``held_out`` and ``train_tail`` share no word with each other or with ``shared``.
    """
    rng = stream("ner_v1", seed, "names")
    shared: dict[str, list[str]] = {}
    held: dict[str, list[str]] = {}
    for kind, items in _HAND_LISTS.items():
        shared[kind], held[kind] = _split_list(items, rng)
    taken = {w for items in _HAND_LISTS.values() for name in items for w in name.split(" ")}
    tail: dict[str, list[str]] = {}
    for kind in ("first", "sur", "city"):
        held[kind] = held[kind] + _synthetic(rng, kind, HELD_OUT_SYNTHETIC, taken)
        tail[kind] = _synthetic(rng, kind, TAIL_NAMES, taken)
    return {"shared": shared, "held_out": held, "train_tail": tail}


# --------------------------------------------------------------------------------------------------
# Entity forms
# --------------------------------------------------------------------------------------------------

def _first(rng: random.Random, n: _Names) -> str:
    return n.word(rng, "dual") if _chance(rng, 0.55) else n.word(rng, "first")


def _surname(rng: random.Random, n: _Names) -> str:
    return n.word(rng, "dual") if _chance(rng, 0.4) else n.word(rng, "sur")


def _city(rng: random.Random, n: _Names) -> str:
    r = rng.random()
    if r < 0.4:
        return n.word(rng, "dual")
    if r < 0.9:
        return n.word(rng, "city")
    return n.word(rng, "long")


def _any_name(rng: random.Random, n: _Names) -> str:
    """A surname, first name or city: the word inside "Hamilton County", "Maria Island"."""
    r = rng.random()
    return _surname(rng, n) if r < 0.45 else (_first(rng, n) if r < 0.7 else n.word(rng, "city"))


def _person(rng: random.Random, n: _Names) -> str:
    """A person: full name, bare surname or first name, with particles, initials, double names."""
    r = rng.random()
    if r < 0.38:
        return f"{_first(rng, n)} {_surname(rng, n)}"
    if r < 0.63:
        return _surname(rng, n)
    if r < 0.71:
        return _first(rng, n)
    if r < 0.78:
        return f"{_first(rng, n)} {_pick(rng, _PARTICLES)} {_surname(rng, n)}"
    if r < 0.84:
        return f"{_first(rng, n)} {_pick(rng, _INITIALS)} {_surname(rng, n)}"
    if r < 0.92:
        return n.word(rng, "dual")
    return f"{_first(rng, n)} {_surname(rng, n)} {_surname(rng, n)}"


def _titled(rng: random.Random, n: _Names) -> str:
    """The person after a title ("Mr. Keller", "coach Maria Keller"): mostly a surname."""
    return f"{_first(rng, n)} {_surname(rng, n)}" if _chance(rng, 0.25) else _surname(rng, n)


def _place(rng: random.Random, n: _Names) -> str:
    """A place: city, country, multi-word place, "Lake Victoria", "Hamilton County", "New Kingston"."""
    r = rng.random()
    if r < 0.4:
        return _city(rng, n)
    if r < 0.52:
        return n.word(rng, "country")
    if r < 0.64:
        return f"{_pick(rng, _LOC_PREFIX)} {_any_name(rng, n)}"
    if r < 0.82:
        return f"{_any_name(rng, n)} {_pick(rng, _LOC_SUFFIX)}"
    if r < 0.9:
        compass = _pick(rng, _LOC_COMPASS)
        return f"{compass} {n.word(rng, 'city') if _chance(rng, 0.5) else n.word(rng, 'dual')}"
    return n.word(rng, "long")


def _organisation(rng: random.Random, n: _Names) -> str:
    """A company or institution: "Keller Group", bare "Keller", "University of Lisbon", ..."""
    r = rng.random()
    if r < 0.24:
        return f"{_any_name(rng, n)} {_pick(rng, _CORP_SUFFIX)}"
    if r < 0.31:
        return f"{_surname(rng, n)} & {_surname(rng, n) if _chance(rng, 0.6) else 'Co.'}"
    if r < 0.43:
        return _surname(rng, n) if _chance(rng, 0.7) else _first(rng, n)
    if r < 0.55:
        place = _city(rng, n) if _chance(rng, 0.65) else n.word(rng, "country")
        return f"{_pick(rng, _INST_OF)} {place}"
    if r < 0.67:
        return f"{_city(rng, n)} {_pick(rng, _INST_SUFFIX)}"
    if r < 0.79:
        return f"{n.word(rng, 'country')} {_pick(rng, _COUNTRY_ORG)}"
    if r < 0.87:
        return f"{_first(rng, n)} {_surname(rng, n)} {_pick(rng, _FOUNDATION)}"
    return f"{_first(rng, n)} {_pick(rng, _CORP_SUFFIX)}"


def _team(rng: random.Random, n: _Names) -> str:
    """A sports club (ORG), mostly named after its city: "Lisbon", "Kingston FC", "Sporting Lisbon"."""
    r = rng.random()
    if r < 0.55:
        return _city(rng, n)
    if r < 0.82:
        return f"{_city(rng, n)} {_pick(rng, _CLUB_SUFFIX)}"
    return f"{_pick(rng, _CLUB_PREFIX)} {_city(rng, n)}"


def _year(rng: random.Random) -> str:
    return str(1950 + int(rng.random() * 80))


def _day(rng: random.Random) -> str:
    return str(1 + int(rng.random() * 28))


def _date(rng: random.Random, n: _Names) -> str:
    """A day-precise date that reads well after "on": "Friday", "3 March", "March 3 , 2019"."""
    form = int(rng.random() * 6)
    if form == 0:
        return _pick(rng, _WEEKDAYS)
    if form == 1:
        return f"{_pick(rng, _MONTHS)} {_day(rng)}"
    if form == 2:
        return f"{_day(rng)} {_pick(rng, _MONTHS)}"
    if form == 3:
        return f"{_day(rng)} {_pick(rng, _MONTHS)} {_year(rng)}"
    if form == 4:
        return f"{_pick(rng, _MONTHS)} {_day(rng)} , {_year(rng)}"
    return f"{_day(rng)} {_pick(rng, _MONTHS)}"


def _period(rng: random.Random, n: _Names) -> str:
    """A coarse date that reads well after "in": "1987", "May", "May 1987", "early 2003"."""
    form = int(rng.random() * 4)
    if form == 0:
        return _year(rng)
    if form == 1:
        return _pick(rng, _MONTHS)
    if form == 2:
        return f"{_pick(rng, _MONTHS)} {_year(rng)}"
    return f"{_pick(rng, ('early', 'late', 'mid'))} {_pick(rng, _MONTHS + (_year(rng),))}"


def _iso_date(rng: random.Random, n: _Names) -> str:
    """A dateline date, one token: "1996-08-30"."""
    return f"{_year(rng)}-{1 + int(rng.random() * 12):02d}-{_day(rng).zfill(2)}"


# Slots that are not entities (tagged O).
def _num(rng: random.Random, n: _Names) -> str:
    return str(1 + int(rng.random() * 20))


def _pct(rng: random.Random, n: _Names) -> str:
    whole = str(int(rng.random() * 15))
    return f"{whole}.{int(rng.random() * 10)}" if _chance(rng, 0.6) else whole


def _goals(rng: random.Random, n: _Names) -> str:
    return str(int(rng.random() * 5))


def _score(rng: random.Random, n: _Names) -> str:
    return f"{_goals(rng, n)} - {int(rng.random() * 4)}"


def _title(rng: random.Random, n: _Names) -> str:
    return _pick(rng, _TITLES)


Filler = Callable[[random.Random, _Names], str]

# slot name -> (entity type or None for O, filler)
_SLOTS: dict[str, tuple[str | None, Filler]] = {
    "PER": ("PER", _person),
    "SUR": ("PER", _titled),
    "LOC": ("LOC", _place),
    "ORG": ("ORG", _organisation),
    "TEAM": ("ORG", _team),
    "DATE": ("DATE", _date),
    "PERIOD": ("DATE", _period),
    "ISODATE": ("DATE", _iso_date),
    "NUM": (None, _num),
    "PCT": (None, _pct),
    "SCORE": (None, _score),
    "GOALS": (None, _goals),
    "TITLE": (None, _title),
}

# Space-separated tokens; ``{SLOT}`` tokens are filled. Sentences end with ., ? or ! except result
# and dateline lines, as in CoNLL-2003.
_TEMPLATES: tuple[str, ...] = (
    # people
    "{PER} said on {DATE} that the talks would resume in {LOC} .",
    "{TITLE} {SUR} told reporters in {LOC} that {ORG} had rejected the offer .",
    '" We are not going to accept this , " {PER} said .',
    "{PER} , a spokesman for {ORG} , declined to comment .",
    "{PER} , who was born in {LOC} in {PERIOD} , joined {ORG} last year .",
    "{ORG} appointed {PER} as chief executive on {DATE} .",
    "{PER} will meet {PER} in {LOC} to discuss the dispute .",
    "Police in {LOC} arrested {PER} on {DATE} .",
    "{PER} , {PER} and {PER} were named in the squad .",
    "{TITLE} {SUR} arrived in {LOC} for a three-day visit .",
    "{PER} resigned from {ORG} after {NUM} years .",
    "A court in {LOC} sentenced {PER} to {NUM} years in prison .",
    "{PER} 's lawyer said he would appeal .",
    "{SUR} told {ORG} he was ready to return .",
    '" It was a difficult decision , " {TITLE} {SUR} said in a statement .',
    "{PER} flew to {LOC} to meet {TITLE} {SUR} .",
    "According to {PER} , {ORG} plans to cut {NUM} jobs in {LOC} .",
    "{PER} , the former head of {ORG} , died in {LOC} .",
    "{PER} won the election in {LOC} with {PCT} percent of the vote .",
    "Opposition leader {PER} called for new elections .",
    "{PER} was quoted by {ORG} as saying the plan had failed .",
    "{PER} asked {PER} to stay at {ORG} until {PERIOD} .",
    "{TITLE} {SUR} and {TITLE} {SUR} signed the agreement in {LOC} .",
    "A letter from {PER} to {ORG} was published .",
    "{PER} was replaced by {PER} .",
    "{PER} thanked the people of {LOC} .",
    "{PER} , {NUM} , is expected to testify .",
    "{SUR} said she expected {ORG} to approve the deal by {PERIOD} .",
    "{TITLE} {SUR} said he had spoken to {PER} by telephone .",
    "Witnesses said {PER} had left {LOC} before the attack .",
    # places
    "Heavy rain caused flooding across {LOC} .",
    "The mayor of {LOC} announced a new tram line .",
    "Flights between {LOC} and {LOC} were cancelled because of fog .",
    "Prices in {LOC} rose {PCT} percent in {PERIOD} .",
    "The road from {LOC} to {LOC} was closed for repairs .",
    "{LOC} and {LOC} agreed to reopen the border on {DATE} .",
    "An earthquake struck {LOC} , {LOC} , on {DATE} .",
    "Troops were sent to {LOC} after the clashes .",
    "The talks in {LOC} ended without agreement .",
    "Exports from {LOC} to {LOC} fell sharply in {PERIOD} .",
    "Temperatures in {LOC} reached {NUM} degrees on {DATE} .",
    "Thousands of people marched through {LOC} .",
    "The ship left {LOC} bound for {LOC} .",
    "{LOC} is the capital of {LOC} .",
    "He lives in {LOC} with his family .",
    "She moved to {LOC} in {PERIOD} .",
    "Fighting near {LOC} killed {NUM} people , officials said .",
    "{LOC} will host the summit in {PERIOD} .",
    "The train from {LOC} arrived {NUM} hours late .",
    "{LOC} , {ISODATE}",
    # organisations
    "{ORG} shares fell {PCT} percent on {DATE} .",
    "Shares in {ORG} rose {PCT} percent after the results .",
    "{ORG} said it would close its plant in {LOC} .",
    "{ORG} reported a net profit of {NUM} million dollars in {PERIOD} .",
    "Analysts at {ORG} expect rates to stay high .",
    "{ORG} and {ORG} agreed to merge .",
    "A lawyer for {ORG} said the case had no merit .",
    "{ORG} recalled thousands of cars built in {LOC} .",
    "The contract was awarded to {ORG} , based in {LOC} .",
    "{ORG} opened its first office in {LOC} .",
    "Workers at {ORG} went on strike .",
    "{ORG} bought a stake in {ORG} for {NUM} million euros .",
    "{ORG} moved its headquarters from {LOC} to {LOC} in {PERIOD} .",
    "{PER} , chairman of {ORG} , said the company would not cut jobs .",
    "The deal must be approved by {ORG} .",
    "{ORG} denied the report .",
    "{ORG} , the largest employer in {LOC} , raised its prices .",
    "Talks between {ORG} and the unions broke down on {DATE} .",
    "{PER} left {ORG} to join {ORG} in {PERIOD} .",
    "{ORG} hired {PER} from {ORG} .",
    "Students at {ORG} protested against the fees .",
    "{ORG} will sponsor the marathon in {LOC} .",
    "{ORG} said it had agreed to sell its stake .",
    # sports
    "{TEAM} beat {TEAM} {SCORE} on {DATE} .",
    "{TEAM} {GOALS} {TEAM} {GOALS}",
    "{PER} scored twice as {TEAM} beat {TEAM} {SCORE} .",
    "{TEAM} signed {PER} from {TEAM} .",
    "{TEAM} will play {TEAM} in the final in {LOC} .",
    "After losing to {TEAM} , {TEAM} sacked their coach {PER} .",
    "{PER} ( {LOC} ) beat {PER} ( {LOC} ) {SCORE} {SCORE}",
    "{TEAM} drew {SCORE} with {TEAM} in {LOC} .",
    "{TITLE} {SUR} said {TEAM} deserved to win .",
    "{PER} ( {TEAM} ) {NUM}",
    "{TEAM} fans celebrated in the streets of {LOC} .",
    "{PER} , who plays for {TEAM} , was injured .",
    "{TEAM} moved top of the table with a {SCORE} win over {TEAM} .",
    "{PER} finished second behind {PER} in {LOC} .",
    "Soccer - {TEAM} beat {TEAM}",
    "{PER} joined {TEAM} from {TEAM} for a fee of {NUM} million pounds .",
    # dates and no entities
    "The meeting was postponed until {DATE} .",
    "The index closed {PCT} points higher on {DATE} .",
    "Nobody expected prices to rise so quickly .",
    "The government said it would raise taxes in {PERIOD} .",
    "Results will be published on {DATE} .",
    "The company did not give details .",
    "Inflation fell to {PCT} percent in {PERIOD} .",
    # chat
    "did {PER} ever reply to your email about {LOC} ?",
    "lol {PER} just texted me from {LOC} !",
    "my cousin {PER} moved to {LOC} to study at {ORG} .",
)

_CONNECTORS: tuple[tuple[str, ...], ...] = ((",", "and"), (",", "while"), (";",), (",", "but"), ("and",))
_SLOT_TOKEN = re.compile(r"^\{(\w+)\}$")

Sentence = tuple[list[str], list[str]]


def _realise(template: str, rng: random.Random, names: _Names) -> Sentence:
    """Fill the slots of ``template`` and return its tokens and IOB2 tags."""
    tokens: list[str] = []
    tags: list[str] = []
    for token in template.split(" "):
        match = _SLOT_TOKEN.match(token)
        if match is None:
            tokens.append(token)
            tags.append("O")
            continue
        entity_type, filler = _SLOTS[match.group(1)]
        words = filler(rng, names).split(" ")
        tokens.extend(words)
        if entity_type is None:
            tags.extend(["O"] * len(words))
        else:
            tags.extend([f"B-{entity_type}"] + [f"I-{entity_type}"] * (len(words) - 1))
    return tokens, tags


def _sentence(rng: random.Random, names: _Names) -> Sentence:
    """One sentence: a single template or two joined ones, at most :data:`MAX_TOKENS` long."""
    tokens, tags = _realise(_pick(rng, _TEMPLATES), rng, names)
    if _chance(rng, COMBINE_RATE) and tokens[-1] == ".":
        second = _pick(rng, _TEMPLATES)
        second_tokens, second_tags = _realise(second, rng, names)
        if second_tokens[-1] in (".", "?", "!"):
            connector = list(_CONNECTORS[int(rng.random() * len(_CONNECTORS))])
            if not second.startswith(("{", '"')):  # a plain first word: "the", "he"; not a name, title
                second_tokens[0] = second_tokens[0].lower()
            joined = tokens[:-1] + connector + second_tokens
            if len(joined) <= MAX_TOKENS:
                return joined, tags[:-1] + ["O"] * len(connector) + second_tags
    return tokens[:MAX_TOKENS], tags[:MAX_TOKENS]


def generate(
    seed: int = 0, *, sizes: Mapping[str, int] | None = None
) -> dict[str, dict[str, list[list[str]]]]:
    """Generate the ``NerTag-v1`` corpus.

    :param seed: Seed of the corpus (and of its name split); the same seed gives the same corpus
        everywhere.
    :param sizes: Sentences per split, e.g. ``{"train": 1000}``; missing splits keep their default
        (train 6000, validation 400, test 800). Changing the train size does not change validation
        or test.
    :return: ``{"train": {"tokens": [[...], ...], "tags": [[...], ...]}, "validation": ..., "test": ...}``
        with one IOB2 tag from :data:`TAG_NAMES` per token.
    :raises ValueError: On an unknown split, a negative or non-int size, or a non-int seed.
    """
    check_seed(seed)
    resolve_sizes(sizes, DEFAULT_SIZES, SPLITS)  # a bad size fails before the name pools are drawn
    pools = name_pools(seed)
    views = {
        "train": _Names(pools["shared"], pools["train_tail"], TAIL_RATE),
        "validation": _Names(pools["shared"], pools["held_out"], UNSEEN_RATE),
        "test": _Names(pools["shared"], pools["held_out"], UNSEEN_RATE),
    }

    def make_split(n: int, rng: random.Random, seen: set[str], split: str) -> dict[str, list]:
        names = views[split]
        return sentence_columns(draw_many(
            n, lambda: _sentence(rng, names), lambda sentence: " ".join(sentence[0]), seen,
            split=split, what="sentences", unit="sentence",
        ))

    return generate_splits("ner_v1", seed, sizes, DEFAULT_SIZES, SPLITS, make_split)


# --------------------------------------------------------------------------------------------------
# What makes it hard, measured
# --------------------------------------------------------------------------------------------------

def statistics(
    data: Mapping[str, Mapping[str, Sequence[Sequence[str]]]], *, split: str = "test"
) -> dict[str, Any]:
    """Hardness statistics of ``split`` against the train split of ``data`` (any NER corpus in the
    ``generate`` format, e.g. ``NerTag-v0``'s for comparison).

    Returns a dict with

    * ``unseen_mention_share``: entity mentions of ``split`` whose text (its words, any type) is not
      the text of a train mention; ``unseen_mention_share_no_date`` the same over PER/LOC/ORG;
      ``new_word_mention_share``: mentions holding a word that train never has at all;
    * ``ambiguous_token_share``: entity tokens of ``split`` whose word is, in train, inside entities
      of two or more types (PER/LOC/ORG/DATE); ``multi_tag_token_share``: whose word carries two or
      more distinct tags in train (``O`` and B-/I- counted apart: the looser measure of issue 21);
      ``unseen_token_share``: whose word train never has;
    * ``word_lookup_entity_f1``: seqeval entity F1 of tagging each word with its most frequent train
      tag (``O`` for a word train never has);
    * sentence and entity counts: ``sentences``, ``mentions``, ``mean_tokens``, ``median_tokens``,
      ``min_tokens``, ``max_tokens``, ``mean_mention_tokens``, ``mentions_per_type``.
    """
    from nlp_envs.metrics import entity_scores, get_entities

    train, held = data["train"], data[split]
    train_mentions: set[tuple[str, ...]] = set()
    word_types: dict[str, set[str]] = {}
    word_tags: dict[str, Counter[str]] = {}
    for words, tags in zip(train["tokens"], train["tags"]):
        for word, tag in zip(words, tags):
            word_tags.setdefault(word, Counter())[tag] += 1
        for type_, start, end in get_entities(list(tags)):
            train_mentions.add(tuple(words[start : end + 1]))
            for word in words[start : end + 1]:
                word_types.setdefault(word, set()).add(type_)
    mentions = unseen = unseen_nd = mentions_nd = new_word = 0
    ent_tokens = ambiguous = multi_tag = unseen_tok = mention_tokens = 0
    per_type: Counter[str] = Counter()
    predictions: list[list[str]] = []
    for words, tags in zip(held["tokens"], held["tags"]):
        for type_, start, end in get_entities(list(tags)):
            span = tuple(words[start : end + 1])
            mentions += 1
            per_type[type_] += 1
            mention_tokens += len(span)
            is_unseen = span not in train_mentions
            unseen += is_unseen
            if type_ != "DATE":
                mentions_nd += 1
                unseen_nd += is_unseen
            new_word += any(w not in word_tags for w in span)
            for word in span:
                ent_tokens += 1
                ambiguous += len(word_types.get(word, ())) >= 2
                multi_tag += len(word_tags.get(word, ())) >= 2
                unseen_tok += word not in word_tags
        predictions.append([word_tags[w].most_common(1)[0][0] if w in word_tags else "O" for w in words])
    lengths = sorted(len(words) for words in held["tokens"])
    n = len(lengths)
    lookup = entity_scores([list(t) for t in held["tags"]], predictions)
    return {
        "split": split,
        "sentences": n,
        "mentions": mentions,
        "mentions_per_type": dict(sorted(per_type.items())),
        "unseen_mention_share": unseen / max(mentions, 1),
        "unseen_mention_share_no_date": unseen_nd / max(mentions_nd, 1),
        "new_word_mention_share": new_word / max(mentions, 1),
        "entity_tokens": ent_tokens,
        "ambiguous_token_share": ambiguous / max(ent_tokens, 1),
        "multi_tag_token_share": multi_tag / max(ent_tokens, 1),
        "unseen_token_share": unseen_tok / max(ent_tokens, 1),
        "word_lookup_entity_f1": float(lookup["f1"]),
        "mean_tokens": sum(lengths) / max(n, 1),
        "median_tokens": float(lengths[n // 2]) if n else 0.0,
        "min_tokens": lengths[0] if n else 0,
        "max_tokens": lengths[-1] if n else 0,
        "mean_mention_tokens": mention_tokens / max(mentions, 1),
    }
