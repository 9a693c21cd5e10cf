"""Seeded generator of the embedded named-entity-recognition corpus.

Sentences are tokenised news-, sports- and chat-style text tagged with IOB2 (BIO) tags over the four
entity types of :data:`ENTITY_TYPES`: ``O``, ``B-PER``, ``I-PER``, ``B-LOC``, ... It needs no file and
no network, and the same seed gives the same corpus on every machine and every Python version (only
:meth:`random.Random.random` is used, whose stream Python guarantees).

What makes it more than a gazetteer lookup
------------------------------------------
* **Many contexts.** Sentences come from some seventy templates (statements, quotes, questions,
  lists, sports results, lower-case chat), and about a quarter join two templates into one sentence,
  so lengths range from 5 to 30 tokens.
* **Multi-token entities.** "New York City", "Bank of Lisbon", "Maria del Carmen Ruiz", "Real Madrid",
  "March 3 , 2019", with particles ("del", "of", "van der") inside the entity.
* **Ambiguous names resolved only by context.** The same string takes different types in different
  sentences: person or place ("Florence flew to Paris" / "Paris called Florence": Jordan, Georgia,
  Austin, Sydney, ...), person or date ("April met June in May"), place or organisation (the city
  "Liverpool" and the club "Liverpool"; "Washington", "Milan", "Amazon"), person or organisation
  ("Ford", "Dell", "Hilton"). About a fifth of entity slots are filled with such a name.
* **Adjacent entities** of one type ("Jonah , Greta and Lena"), which only B- tags separate, and
  entity-free sentences.

The three splits never share an identical sentence: test is generated first, then validation avoiding
test sentences, then train avoiding both, so changing the train size never changes validation or test.
Entity *strings* are shared between splits, as in real corpora.

Example::

    >>> from nlp_envs.corpora import ner
    >>> data = ner.generate(seed=0, sizes={"train": 5, "validation": 2, "test": 2})
    >>> len(data["train"]["tokens"]), len(data["train"]["tokens"][0]) == len(data["train"]["tags"][0])
    (5, True)
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping

from nlp_envs.corpora._rng import chance as _chance, draw_many, generate_splits, pick as _pick, sentence_columns

__all__ = ["DEFAULT_SIZES", "ENTITY_TYPES", "SPLITS", "TAG_NAMES", "generate"]

SPLITS: tuple[str, ...] = ("train", "validation", "test")
"""Split names, in the order they appear in the returned dict."""

DEFAULT_SIZES: Mapping[str, int] = {"train": 3000, "validation": 400, "test": 800}
"""Number of sentences per split when ``sizes`` is not given."""

ENTITY_TYPES: tuple[str, ...] = ("PER", "LOC", "ORG", "DATE")
"""Entity types: people, places, organisations (companies, institutions, sports clubs), dates."""

TAG_NAMES: tuple[str, ...] = ("O",) + tuple(f"{p}-{t}" for t in ENTITY_TYPES for p in ("B", "I"))
"""All IOB2 tags: ``("O", "B-PER", "I-PER", "B-LOC", ...)``."""

AMBIGUOUS_RATE = 0.2
"""Probability that an entity slot is filled with a name that takes another type elsewhere."""

COMBINE_RATE = 0.25
"""Probability that a sentence joins two templates."""

MAX_TOKENS = 30
"""Longest sentence, in tokens."""


# --------------------------------------------------------------------------------------------------
# Entity lists, written for this project. Multi-token entries are space-separated tokens.
# --------------------------------------------------------------------------------------------------

_FIRST_NAMES = (
    "Maria", "Ahmed", "Lena", "Tomasz", "Yuki", "Kwame", "Ingrid", "Rafael", "Aisha", "Mateo", "Sofia",
    "Dmitri", "Chen", "Olga", "Pedro", "Nadia", "Lars", "Amara", "Hiroshi", "Elena", "Tobias", "Zainab",
    "Luca", "Mira", "Oscar", "Fatou", "Henrik", "Leila", "Bruno", "Anika", "Samuel", "Ines", "Viktor",
    "Priya", "Jonah", "Carmen", "Ravi", "Greta", "Kofi", "Helena", "Emeka", "Sanna", "Diego", "Noor",
)
_SURNAMES = (
    "Silva", "Okafor", "Novak", "Tanaka", "Fischer", "Haddad", "Lindqvist", "Moreau", "Kowalski",
    "Mensah", "Rossi", "Petrov", "Nakamura", "Costa", "Jensen", "Abbasi", "Morales", "Weber", "Dubois",
    "Ivanova", "Nguyen", "Almeida", "Berg", "Sato", "Keller", "Castillo", "Varga", "O'Brien", "Schmidt",
    "Romero", "Yilmaz", "Kaur", "Adeyemi", "Horvat", "Lund", "Ferreira", "Osei", "Marsh", "Quinn",
)
_LONG_NAMES = (
    "Maria del Carmen Ruiz", "Ana de la Cruz", "Pieter van der Berg", "Abdul Rahman Haddad",
    "Mary Ellen O'Brien", "Juan Carlos Ortega", "Li Wei Chen", "Anne-Marie Dubois", "Karl Heinz Weber",
    "Rosa Maria Ferreira", "Sean Patrick Walsh", "Jean-Baptiste Moreau", "Laura van Dijk",
    "Kim Ji-woo", "Jose Luis de Souza", "Ngozi Adaeze Okafor",
)
_PLACES = (
    "Lisbon", "Oslo", "Nairobi", "Lagos", "Krakow", "Porto", "Lyon", "Munich", "Seattle", "Toronto",
    "Manila", "Lima", "Quito", "Hanoi", "Tunis", "Accra", "Bergen", "Geneva", "Valencia", "Dublin",
    "Cairo", "Santiago", "Osaka", "Perth", "Montreal", "Bologna", "Seville", "Tbilisi", "Portugal",
    "Kenya", "Brazil", "Canada", "Norway", "Vietnam", "Peru", "Ghana", "Chile", "Japan", "Morocco",
    "Egypt", "Poland", "Iceland", "Africa", "Europe", "Texas", "Bavaria", "Patagonia", "Sicily",
)
_LONG_PLACES = (
    "New York City", "New York", "Rio de Janeiro", "San Francisco", "Buenos Aires", "Cape Town",
    "Kuala Lumpur", "Hong Kong", "Sierra Leone", "New Zealand", "South Korea", "Costa Rica",
    "Mexico City", "Sao Paulo", "Lake Geneva", "Los Angeles", "Addis Ababa", "United States",
    "United Kingdom", "Saudi Arabia", "Santa Cruz", "Ho Chi Minh City", "Rocky Mountains",
    "Isle of Skye", "Bay of Biscay",
)
_ORGANISATIONS = (
    "Bank of Lisbon", "Northwind Bank", "Atlas Airways", "Helix Pharmaceuticals", "Orion Motors",
    "United Nations", "World Health Organization", "University of Porto", "Globex", "Initech",
    "Vertex Labs", "Blue Harbor Capital", "Redwood Energy", "Kestrel Systems", "Meridian Insurance",
    "Sunrise Media", "Polaris Telecom", "Red Cross", "European Central Bank", "Greenfield Foods",
    "Nordic Rail", "Pacific Shipping Company", "Institute of Marine Research", "Silverline Logistics",
    "Apex Robotics", "Lumen Bank", "Quantum Dynamics", "Iris Studios", "Zenith Airlines",
    "Boreal Mining", "Crescent Hotels", "Stellar Books", "Cobalt Games", "Harbor Health",
)
_CLUBS = (
    "Real Madrid", "Inter Milan", "Ajax", "Benfica", "FC Porto", "Bayern Munich", "Arsenal", "Celtic",
    "Juventus", "Boca Juniors", "Galatasaray", "Olympique Lyon", "Red Star Belgrade",
)

# Names that take different types in different sentences; context alone tells them apart.
_AMBIGUOUS_PER = (
    "Jordan", "Florence", "Chelsea", "Georgia", "Austin", "Paris", "Sydney", "Savannah", "Victoria",
    "Charlotte", "Madison", "Dallas", "Adelaide", "April", "May", "June", "August", "Ford", "Dell",
    "Hilton", "Washington", "Lincoln",
)
_AMBIGUOUS_LOC = (
    "Jordan", "Florence", "Chelsea", "Georgia", "Austin", "Paris", "Sydney", "Savannah", "Victoria",
    "Charlotte", "Madison", "Dallas", "Adelaide", "Lincoln", "Washington", "Liverpool", "Barcelona",
    "Milan", "Amazon", "Boston", "Denver",
)
_AMBIGUOUS_ORG = ("Amazon", "Ford", "Dell", "Disney", "Hilton")
_AMBIGUOUS_CLUBS = ("Liverpool", "Barcelona", "Chelsea", "Milan", "Dallas", "Washington", "Boston", "Denver")

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
)


def _year(rng: random.Random) -> str:
    """Return a year between 1950 and 2029."""
    return str(1950 + int(rng.random() * 80))


def _day(rng: random.Random) -> str:
    """Return a day of the month."""
    return str(1 + int(rng.random() * 28))


def _date(rng: random.Random) -> str:
    """Return a day-precise date that reads well after "on": "Friday", "3 March", "March 3 , 2019"."""
    form = int(rng.random() * 5)
    if form == 0:
        return _pick(rng, _WEEKDAYS)
    if form == 1:
        return f"{_pick(rng, _MONTHS)} {_day(rng)}"
    if form == 2:
        return f"{_day(rng)} {_pick(rng, _MONTHS)}"
    if form == 3:
        return f"{_day(rng)} {_pick(rng, _MONTHS)} {_year(rng)}"
    return f"{_pick(rng, _MONTHS)} {_day(rng)} , {_year(rng)}"


def _period(rng: random.Random) -> str:
    """Return a coarse date that reads well after "in": "1987", "May", "May 1987", "early 2003"."""
    form = int(rng.random() * 4)
    if form == 0:
        return _year(rng)
    if form == 1:
        return _pick(rng, _MONTHS)
    if form == 2:
        return f"{_pick(rng, _MONTHS)} {_year(rng)}"
    return f"{_pick(rng, ('early', 'late'))} {_pick(rng, _MONTHS + (_year(rng),))}"


def _person(rng: random.Random) -> str:
    """Return a person name: first name, full name, long name, or an ambiguous name."""
    if _chance(rng, AMBIGUOUS_RATE):
        name = _pick(rng, _AMBIGUOUS_PER)
        return f"{name} {_pick(rng, _SURNAMES)}" if _chance(rng, 0.3) else name
    form = rng.random()
    if form < 0.3:
        return _pick(rng, _FIRST_NAMES)
    if form < 0.85:
        return f"{_pick(rng, _FIRST_NAMES)} {_pick(rng, _SURNAMES)}"
    return _pick(rng, _LONG_NAMES)


def _place(rng: random.Random) -> str:
    """Return a place name, single- or multi-token, sometimes an ambiguous one."""
    if _chance(rng, AMBIGUOUS_RATE):
        return _pick(rng, _AMBIGUOUS_LOC)
    return _pick(rng, _LONG_PLACES) if _chance(rng, 0.3) else _pick(rng, _PLACES)


def _organisation(rng: random.Random) -> str:
    """Return a company or institution name, sometimes an ambiguous one."""
    if _chance(rng, AMBIGUOUS_RATE):
        return _pick(rng, _AMBIGUOUS_ORG)
    return _pick(rng, _ORGANISATIONS)


def _club(rng: random.Random) -> str:
    """Return a sports club; about half are named after their city."""
    return _pick(rng, _AMBIGUOUS_CLUBS) if _chance(rng, 0.5) else _pick(rng, _CLUBS)


# slot name -> (entity type, filler)
_SLOTS: dict[str, tuple[str, Callable[[random.Random], str]]] = {
    "PER": ("PER", _person),
    "LOC": ("LOC", _place),
    "ORG": ("ORG", _organisation),
    "TEAM": ("ORG", _club),
    "DATE": ("DATE", _date),
    "PERIOD": ("DATE", _period),
}

# Space-separated tokens; ``{SLOT}`` tokens become entities. Every template ends with ., ? or !.
_TEMPLATES: tuple[str, ...] = (
    # people
    "{PER} flew to {LOC} on {DATE} .",
    "{PER} called {PER} from {LOC} last night .",
    "On {DATE} , {PER} met {PER} in {LOC} .",
    "{PER} , a spokesperson for {ORG} , declined to comment .",
    "According to {PER} , {ORG} will open a new office in {LOC} .",
    "{PER} has worked at {ORG} since {PERIOD} .",
    "I had lunch with {PER} and {PER} near the station .",
    "{PER} 's sister lives in {LOC} .",
    "{ORG} hired {PER} as its new chief financial officer .",
    '" We are very proud of the team , " said {PER} .',
    "{PER} scored twice as {TEAM} beat {TEAM} 3 - 1 .",
    "{TEAM} signed {PER} from {TEAM} on {DATE} .",
    "The concert in {LOC} was organised by {PER} .",
    "{PER} was born in {LOC} in {PERIOD} .",
    "Dr. {PER} presented the results at the {ORG} conference .",
    "Ms. {PER} will visit {LOC} and {LOC} on her tour .",
    "{PER} told reporters in {LOC} that the deal was off .",
    "Please send the report to {PER} before {DATE} .",
    "did {PER} ever reply to your email about {LOC} ?",
    "my cousin {PER} moved to {LOC} to study at {ORG} .",
    "{PER} and {PER} founded {ORG} in {PERIOD} .",
    "The award went to {PER} of {ORG} .",
    "{PER} is expected to arrive in {LOC} on {DATE} .",
    "Thanks to {PER} , the museum in {LOC} reopened on {DATE} .",
    "{PER} asked {PER} whether {ORG} would cover the costs .",
    "we stayed with {PER} for a week in {LOC} .",
    "{PER} visited {LOC} with {PER} .",
    "{PER} left {ORG} to join {ORG} in {LOC} .",
    "From {LOC} , {PER} drove north for six hours .",
    "{PER} , who grew up in {LOC} , now coaches {TEAM} .",
    "Letters from {PER} to {PER} were found in an attic in {LOC} .",
    "Who is meeting {PER} at the airport in {LOC} on {DATE} ?",
    "{PER} wrote a book about growing up in {LOC} .",
    "Our guide , {PER} , showed us around {LOC} .",
    "{PER} , {PER} and {PER} will represent {ORG} at the summit in {LOC} .",
    "{PER} emailed {ORG} about the refund .",
    "Mr. {PER} thanked {PER} for the flowers .",
    "lol {PER} just texted me from {LOC} !",
    # places
    "Heavy rain caused flooding across {LOC} on {DATE} .",
    "The mayor of {LOC} announced a new tram line .",
    "Flights between {LOC} and {LOC} were cancelled because of fog .",
    "{LOC} is famous for its markets and old bridges .",
    "Prices in {LOC} rose sharply in {PERIOD} .",
    "The road from {LOC} to {LOC} is closed for repairs .",
    "Tourists in {LOC} can now pay with their phones .",
    "She spent the summer hiking in {LOC} .",
    "the train to {LOC} leaves at noon from platform 4 .",
    "Population growth in {LOC} has slowed , officials said .",
    "{ORG} opened its first store in {LOC} on {DATE} .",
    "The festival moves from {LOC} to {LOC} in {PERIOD} .",
    "is it true that it snowed in {LOC} on {DATE} ?",
    # organisations
    "{ORG} shares fell 4 percent after the announcement .",
    "{ORG} reported record profits in {PERIOD} .",
    "Analysts at {ORG} expect interest rates to stay high .",
    "{ORG} and {ORG} agreed to merge on {DATE} .",
    "A lawyer for {ORG} said the lawsuit had no merit .",
    "{ORG} recalled thousands of cars built in {LOC} .",
    "The contract was awarded to {ORG} , based in {LOC} .",
    "i bought my laptop from {ORG} , not from a local shop .",
    "{ORG} will sponsor the marathon in {LOC} .",
    "Workers at {ORG} went on strike on {DATE} .",
    "The {ORG} office in {LOC} will close on {DATE} .",
    "In {PERIOD} , {ORG} moved its headquarters from {LOC} to {LOC} .",
    "the package from {ORG} arrived on {DATE} , two days late .",
    # sports clubs (organisations often named after their city)
    "{TEAM} beat {TEAM} 2 - 0 on {DATE} .",
    "{TEAM} fans celebrated in the streets of {LOC} .",
    "{TEAM} will play {TEAM} in the final in {LOC} .",
    "After losing to {TEAM} , {TEAM} fired their coach .",
    # no entities
    "the meeting was postponed again because nobody had the slides .",
    "Nobody expected the prices to rise so quickly .",
    "can you forward me the minutes from the board meeting ?",
)

_CONNECTORS: tuple[tuple[str, ...], ...] = ((",", "and"), (",", "while"), (";",), (",", "but"), ("and",))
_SLOT_TOKEN = re.compile(r"^\{(\w+)\}$")

Sentence = tuple[list[str], list[str]]


def _realise(template: str, rng: random.Random) -> Sentence:
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
        entity = filler(rng).split(" ")
        tokens.extend(entity)
        tags.extend([f"B-{entity_type}"] + [f"I-{entity_type}"] * (len(entity) - 1))
    return tokens, tags


def _sentence(rng: random.Random) -> Sentence:
    """Return one sentence: a single template or two joined ones, at most :data:`MAX_TOKENS` long."""
    tokens, tags = _realise(_pick(rng, _TEMPLATES), rng)
    if _chance(rng, COMBINE_RATE) and tokens[-1] == ".":
        second_tokens, second_tags = _realise(_pick(rng, _TEMPLATES), rng)
        connector = list(_CONNECTORS[int(rng.random() * len(_CONNECTORS))])
        if second_tags[0] == "O" and second_tokens[0] != "I":
            second_tokens[0] = second_tokens[0].lower()
        joined = tokens[:-1] + connector + second_tokens
        if len(joined) <= MAX_TOKENS:
            return joined, tags[:-1] + ["O"] * len(connector) + second_tags
    return tokens, tags


def _generate_split(n: int, rng: random.Random, seen: set[str], split: str) -> dict[str, list]:
    """Draw ``n`` sentences whose text is not in ``seen`` (which is updated)."""
    return sentence_columns(draw_many(
        n, lambda: _sentence(rng), lambda sentence: " ".join(sentence[0]), seen,
        split=split, what="sentences", unit="sentence",
    ))


def generate(
    seed: int = 0, *, sizes: Mapping[str, int] | None = None
) -> dict[str, dict[str, list[list[str]]]]:
    """Generate the NER corpus.

    :param seed: Seed of the corpus; the same seed gives the same corpus everywhere.
    :param sizes: Sentences per split, e.g. ``{"train": 1000}``; missing splits keep their default
        (train 3000, validation 400, test 800). Changing the train size does not change validation
        or test.
    :return: ``{"train": {"tokens": [[...], ...], "tags": [[...], ...]}, "validation": ..., "test": ...}``
        with one IOB2 tag from :data:`TAG_NAMES` per token.
    :raises ValueError: On an unknown split, a negative or non-int size, or a non-int seed.
    """
    return generate_splits("ner", seed, sizes, DEFAULT_SIZES, SPLITS, _generate_split)
