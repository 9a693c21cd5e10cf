"""Seeded generator of the embedded dialogue corpus of ``DialogReply-v1`` (``"dialogs-v1"``).

Why a second corpus
-------------------
In the ``"dialogs"`` corpus of ``DialogReply-v0`` (:mod:`nlp_envs.corpora.dialog`) most system
replies are questions and goodbyes that are the same in every dialogue, and its slot values come
from small pools, so one fixed reply scores almost as well as a reply that reads the dialogue
(test reply F1: majority reference 0.143, supervised MLE on the tiny decoder 0.158). Here every
system reply carries the facts the user gave, drawn from large pools, so a reply that ignores the
context scores low; the measured statistics are in :class:`nlp_envs.dialog.DialogReplyEnv`'s
Version History and ``benchmarks/results/dialogreply_v1_stats.json``.

The dialogues
-------------
A user books something in one of five domains: a restaurant table, a taxi, a hotel room, an
appointment, or train tickets. The slots are names, times, places, dates and quantities:

* restaurant: restaurant (900 names), people (2-12), date (336: month and day), time (54: ``"7 pm"``,
  ``"half past 8"``...), name (9,600: 80 first names x 120 surnames);
* taxi: pickup and destination (31,860: an address, 199 house numbers x 40 streets x 4 street types,
  or one of 20 landmarks, with equal chance), time, passengers (2-6), name;
* hotel: hotel (300 names), city (56), date, nights (2-14), guests (2-6);
* appointment: service (12), with (120: ``dr`` + surname), date, time, patient (a name);
* train: tickets (2-9), origin and destination (cities), date, time.

The user opens with a request that gives some of the slots, in random order and phrasing; the
system replies follow a fixed policy over the dialogue state, so a learner that tracks the state
(and copies the values) can reproduce every reply exactly:

1. The slot values are read from the user turns so far (a later value overrides an earlier one,
   as in a correction).
2. While a slot is missing, the system echoes every value it has, in the domain's fixed order and
   phrasing, then asks for the first missing slot: ``"table at golden dragon for 6 . which
   date ?"``.
3. When all slots are filled, it books, echoing them all: ``"booked : table at golden dragon for 6
   on may 14 at 7 pm under anna novak ."``.
4. The user may then correct one value (``"actually , can we change the time to half past 8"``);
   the system books again with the new value. There are no goodbyes and no replies without a value.

Slot values are lower case, without punctuation, and copied verbatim into the replies, so a reply
that reproduces the reference's tokens scores F1 1.0 after the metrics' normalisation (times are
``"7 pm"``, ``"half past 8"``, never ``"7:30"``, which the tokenizer splits into ``7 : 30``).
Dialogues have 2 to 10 turns and fit the env's default 128 context tokens; replies fit its 32
reply tokens.

Only :meth:`random.Random.random` is used (through :mod:`nlp_envs.corpora._rng`), so the same seed
gives the same corpus on every machine and Python version. The three splits never share an
identical dialogue: test is generated first, then validation, then train, so changing the train
size never changes validation or test.

Example::

    >>> from nlp_envs.corpora import dialog_v1
    >>> data = dialog_v1.generate(seed=0, sizes={"train": 3, "validation": 1, "test": 1})
    >>> [turn["speaker"] for turn in data["train"]["turns"][0]][:2]
    ['user', 'system']
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from nlp_envs.corpora._rng import chance as _chance, dialogue_splitter, generate_splits, pick as _pick
from nlp_envs.corpora.dialog import Turn

__all__ = ["DEFAULT_SIZES", "DOMAINS", "MAX_TURNS", "MIN_TURNS", "SLOT_VALUES", "SPLITS", "Turn", "generate",
           "template_words", "value_words"]

SPLITS: tuple[str, ...] = ("train", "validation", "test")
"""Split names, in the order they appear in the returned dict."""

DEFAULT_SIZES: Mapping[str, int] = {"train": 3000, "validation": 300, "test": 500}
"""Number of dialogues per split when ``sizes`` is not given."""

MIN_TURNS = 2
"""Fewest turns in a dialogue (a request with every slot, the booking)."""

MAX_TURNS = 10
"""Most turns in a dialogue; longer draws are discarded and drawn again."""


# --------------------------------------------------------------------------------------------------
# Value pools (lower case, letters, digits and spaces only).
# --------------------------------------------------------------------------------------------------

_SURNAMES = (
    "smith", "jones", "novak", "garcia", "kowalski", "tanaka", "okafor", "murphy", "chen", "patel",
    "silva", "rossi", "muller", "dubois", "jensen", "larsen", "nakamura", "kim", "park", "lopez",
    "martin", "bernard", "moreau", "fischer", "weber", "wagner", "becker", "hoffman", "schulz", "koch",
    "richter", "klein", "wolf", "neumann", "schwarz", "zimmer", "braun", "kruger", "hartmann", "lange",
    "walker", "wright", "turner", "hughes", "edwards", "collins", "stewart", "morris", "rogers", "cook",
    "morgan", "bell", "cooper", "ward", "cox", "howard", "brooks", "gray", "reed", "kelly",
    "price", "bennett", "wood", "barnes", "ross", "foster", "powell", "sanders", "perry", "butler",
    "fisher", "hayes", "myers", "ford", "ellis", "graham", "wallace", "cole", "hunt", "stone",
    "webb", "mason", "ortiz", "ramos", "reyes", "cruz", "flores", "rivera", "torres", "nguyen",
    "tran", "singh", "khan", "ali", "ahmed", "ito", "sato", "suzuki", "yamamoto", "watanabe",
    "ivanov", "petrov", "popov", "horvat", "varga", "nagy", "andersen", "nilsson", "berg", "lindqvist",
    "virtanen", "korhonen", "costa", "santos", "ferreira", "oliveira", "romano", "bianchi", "ricci", "greco",
)
_FIRST_NAMES = (
    "anna", "ben", "chloe", "daniel", "emma", "felix", "grace", "hugo", "isla", "jack",
    "kai", "lucy", "maya", "nico", "omar", "zoe", "adam", "bella", "carlos", "diana",
    "elena", "frank", "georgia", "henry", "iris", "james", "julia", "karl", "laura", "leo",
    "mia", "noah", "olivia", "paul", "quinn", "rosa", "sam", "sofia", "tom", "una",
    "victor", "wendy", "xavier", "yara", "zack", "alice", "boris", "clara", "david", "eva",
    "fatima", "gabriel", "hana", "ivan", "jasmine", "kevin", "lena", "marco", "nina", "oscar",
    "petra", "rahul", "sara", "theo", "ugo", "vera", "will", "amir", "bianca", "colin",
    "dora", "erik", "fiona", "greta", "hassan", "ingrid", "jonas", "kira", "liam", "marta",
)
_ADJECTIVES = (
    "golden", "blue", "red", "green", "silver", "little", "old", "happy", "lucky", "hidden",
    "rustic", "royal", "secret", "sunny", "wild", "crimson", "copper", "velvet", "jade", "amber",
    "ivory", "salty", "spicy", "smoky", "quiet", "humble", "grand", "urban", "coastal", "northern",
)
_NOUNS = (
    "dragon", "olive", "lantern", "spoon", "fork", "garden", "kettle", "oak", "pepper", "lemon",
    "harbour", "anchor", "barrel", "tavern", "kitchen", "orchard", "fig", "basil", "saffron", "ginger",
    "lotus", "tiger", "fox", "owl", "bear", "crown", "bridge", "mill", "pearl", "compass",
)
_HOTEL_NOUNS = ("palace", "tower", "lodge", "court", "manor", "house", "plaza", "gardens", "view", "park")
_CITIES = (
    "paris", "berlin", "madrid", "lisbon", "rome", "vienna", "prague", "warsaw", "oslo", "dublin",
    "london", "leeds", "york", "bristol", "glasgow", "edinburgh", "cardiff", "brighton", "oxford", "cambridge",
    "bath", "chester", "durham", "norwich", "exeter", "lyon", "nice", "porto", "seville", "valencia",
    "milan", "turin", "naples", "florence", "munich", "hamburg", "cologne", "zurich", "geneva", "basel",
    "ghent", "bruges", "antwerp", "utrecht", "rotterdam", "bergen", "malmo", "gothenburg", "aarhus", "krakow",
    "gdansk", "budapest", "split", "zagreb", "ljubljana", "salzburg",
)
_STREETS = (
    "elm", "oak", "maple", "cedar", "pine", "birch", "willow", "station", "church", "mill",
    "park", "river", "bridge", "market", "castle", "garden", "hill", "king", "queen", "victoria",
    "high", "north", "south", "west", "east", "spring", "lake", "forest", "meadow", "harbour",
    "chapel", "orchard", "abbey", "canal", "college", "school", "union", "windsor", "baker", "cherry",
)
_STREET_TYPES = ("street", "road", "avenue", "lane")
_LANDMARKS = (
    "central station", "city airport", "the national museum", "the old harbour", "the main library",
    "the university campus", "the football stadium", "the opera house", "the city hospital",
    "the bus terminal", "the botanical garden", "the conference centre", "the town hall", "the zoo",
    "the ferry terminal", "the shopping centre", "the cathedral", "the science park", "the beach", "the castle",
)
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_SERVICES = ("dentist", "haircut", "eye test", "massage", "check up", "physio", "vaccination", "blood test",
             "flu shot", "beard trim", "manicure", "hearing test")


def _times() -> tuple[str, ...]:
    out = [f"{h} am" for h in range(6, 12)] + ["noon"] + [f"{h} pm" for h in range(1, 12)]
    for h in range(1, 13):
        out += [f"half past {h}", f"quarter past {h}", f"quarter to {h}"]
    return tuple(out)


_TIMES = _times()
_DATES = tuple(f"{m} {d}" for m in _MONTHS for d in range(1, 29))
_RESTAURANTS = tuple(f"{a} {n}" for a in _ADJECTIVES for n in _NOUNS)
_HOTELS = tuple(f"{a} {n} hotel" for a in _ADJECTIVES for n in _HOTEL_NOUNS)
_ADDRESSES = tuple(f"{k} {s} {t}" for k in range(1, 200) for s in _STREETS for t in _STREET_TYPES)
_DOCTORS = tuple(f"dr {s}" for s in _SURNAMES)
_FULL_NAMES = tuple(f"{f} {s}" for f in _FIRST_NAMES for s in _SURNAMES)


def _numbers(lo: int, hi: int) -> tuple[str, ...]:
    return tuple(str(k) for k in range(lo, hi + 1))


# --------------------------------------------------------------------------------------------------
# Domains.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Domain:
    """The user phrasing material and the system templates of one domain."""

    name: str
    """Domain name."""
    slots: tuple[str, ...]
    """Slots, in the order the system echoes them and asks for them."""
    values: Mapping[str, tuple[str, ...]]
    """Possible values of each slot."""
    openers: tuple[str, ...]
    """User requests that name the domain, e.g. "i would like to book a table"."""
    fragments: Mapping[str, tuple[str, ...]]
    """Per slot, phrases that attach a value to a request, e.g. "for {v} people"."""
    answers: Mapping[str, tuple[str, ...]]
    """Per slot, stand-alone answers to the system's question, e.g. "{v} of us"."""
    words: Mapping[str, str]
    """Per slot, how the user names it in a correction ("the time", "the number of people")."""
    head: str
    """First words of every echo ("table", "taxi"...)."""
    echo: Mapping[str, str]
    """Per slot, the system's phrase carrying the value (``{v}``), in :attr:`slots` order."""
    questions: Mapping[str, str]
    """Per slot, the system's question."""


_PEOPLE = _numbers(2, 12)
_GENERIC = ("{v}", "{v} please", "make it {v}", "{v} would be great", "let us say {v}", "{v} is fine")
_DATE_FRAGMENTS = ("on {v}", "for {v}", "on {v} please")
_DATE_ANSWERS = ("{v}", "on {v}", "{v} please", "{v} works for me")
_TIME_FRAGMENTS = ("at {v}", "around {v}", "for {v}")
_TIME_ANSWERS = _GENERIC + ("at {v}", "around {v}")

_DOMAINS: tuple[_Domain, ...] = (
    _Domain(
        name="restaurant",
        slots=("restaurant", "people", "date", "time", "name"),
        values={"restaurant": _RESTAURANTS, "people": _PEOPLE, "date": _DATES, "time": _TIMES,
                "name": _FULL_NAMES},
        openers=("i would like to book a table", "can you reserve a table", "book me a table please",
                 "we need a dinner reservation", "i want to reserve a table", "could you get us a table",
                 "table reservation please", "we would like to eat out"),
        fragments={
            "restaurant": ("at {v}", "at the {v}", "at {v} restaurant"),
            "people": ("for {v} people", "for {v} of us", "for a party of {v}", "for {v} guests"),
            "date": _DATE_FRAGMENTS,
            "time": _TIME_FRAGMENTS,
            "name": ("under the name {v}", "the name is {v}", "for {v}", "my name is {v}"),
        },
        answers={
            "restaurant": ("{v}", "{v} please", "the {v}", "how about {v}", "{v} restaurant"),
            "people": ("{v} people", "there will be {v} of us", "{v} of us", "a party of {v}", "{v}"),
            "date": _DATE_ANSWERS,
            "time": _TIME_ANSWERS,
            "name": ("{v}", "it is {v}", "under {v}", "the name is {v}", "put it under {v}"),
        },
        words={"restaurant": "the restaurant", "people": "the number of people", "date": "the date",
               "time": "the time", "name": "the name"},
        head="table",
        echo={"restaurant": "at {v}", "people": "for {v}", "date": "on {v}", "time": "at {v}",
              "name": "under {v}"},
        questions={"restaurant": "which restaurant ?", "people": "for how many people ?", "date": "which date ?",
                   "time": "what time ?", "name": "under what name ?"},
    ),
    _Domain(
        name="taxi",
        slots=("pickup", "destination", "time", "passengers", "name"),
        values={"pickup": _LANDMARKS + _ADDRESSES, "destination": _LANDMARKS + _ADDRESSES, "time": _TIMES,
                "passengers": _numbers(2, 6), "name": _FULL_NAMES},
        openers=("i need a taxi", "can you book me a cab", "get me a taxi please", "i would like to order a taxi",
                 "please send a car", "i need a ride", "could you call a taxi for me", "book a cab"),
        fragments={
            "pickup": ("from {v}", "picking me up at {v}", "leaving from {v}"),
            "destination": ("to {v}", "going to {v}", "that takes me to {v}"),
            "time": _TIME_FRAGMENTS + ("leaving at {v}",),
            "passengers": ("for {v} passengers", "for {v} people", "for {v} of us"),
            "name": ("under the name {v}", "the name is {v}", "for {v}", "my name is {v}"),
        },
        answers={
            "pickup": ("{v}", "from {v}", "pick me up at {v}", "i am at {v}", "{v} please"),
            "destination": ("{v}", "to {v}", "i am going to {v}", "take me to {v}", "{v} please"),
            "time": _TIME_ANSWERS,
            "passengers": ("{v}", "{v} passengers", "{v} of us", "{v} people"),
            "name": ("{v}", "it is {v}", "under {v}", "the name is {v}"),
        },
        words={"pickup": "the pickup", "destination": "the destination", "time": "the time",
               "passengers": "the number of passengers", "name": "the name"},
        head="taxi",
        echo={"pickup": "from {v}", "destination": "to {v}", "time": "at {v}", "passengers": "for {v}",
              "name": "under {v}"},
        questions={"pickup": "where from ?", "destination": "where to ?", "time": "what time ?",
                   "passengers": "how many passengers ?", "name": "under what name ?"},
    ),
    _Domain(
        name="hotel",
        slots=("hotel", "city", "date", "nights", "guests"),
        values={"hotel": _HOTELS, "city": _CITIES, "date": _DATES, "nights": _numbers(2, 14),
                "guests": _numbers(2, 6)},
        openers=("i need a hotel room", "can you book me a hotel", "i am looking for somewhere to stay",
                 "i would like to reserve a room", "find me a room please", "we need accommodation"),
        fragments={
            "hotel": ("at the {v}", "at {v}"),
            "city": ("in {v}", "somewhere in {v}"),
            "date": ("from {v}", "arriving on {v}", "starting {v}"),
            "nights": ("for {v} nights", "staying {v} nights"),
            "guests": ("for {v} guests", "for {v} adults", "for {v} of us"),
        },
        answers={
            "hotel": ("{v}", "the {v}", "{v} please", "how about the {v}"),
            "city": ("{v}", "in {v}", "{v} please"),
            "date": ("{v}", "from {v}", "arriving {v}", "on {v}"),
            "nights": ("{v} nights", "{v}", "for {v} nights", "just {v} nights"),
            "guests": ("{v}", "{v} guests", "{v} adults", "{v} of us"),
        },
        words={"hotel": "the hotel", "city": "the city", "date": "the arrival date", "nights": "the number of nights",
               "guests": "the number of guests"},
        head="room",
        echo={"hotel": "at {v}", "city": "in {v}", "date": "from {v}", "nights": "for {v} nights",
              "guests": "{v} guests"},
        questions={"hotel": "which hotel ?", "city": "which city ?", "date": "arriving when ?",
                   "nights": "how many nights ?", "guests": "how many guests ?"},
    ),
    _Domain(
        name="appointment",
        slots=("service", "with", "date", "time", "patient"),
        values={"service": _SERVICES, "with": _DOCTORS, "date": _DATES, "time": _TIMES, "patient": _FULL_NAMES},
        openers=("i need an appointment", "can i book an appointment", "i would like to see someone",
                 "please book me in", "i need to make an appointment", "do you have a slot"),
        fragments={
            "service": ("for a {v}", "for a {v} appointment"),
            "with": ("with {v}", "to see {v}"),
            "date": _DATE_FRAGMENTS,
            "time": _TIME_FRAGMENTS,
            "patient": ("for {v}", "the patient is {v}", "my name is {v}"),
        },
        answers={
            "service": ("a {v}", "{v}", "a {v} please", "it is for a {v}"),
            "with": ("{v}", "with {v}", "{v} please", "i would like to see {v}"),
            "date": _DATE_ANSWERS,
            "time": _TIME_ANSWERS,
            "patient": ("{v}", "it is {v}", "my name is {v}", "for {v}"),
        },
        words={"service": "the appointment type", "with": "the doctor", "date": "the date", "time": "the time",
               "patient": "the patient"},
        head="appointment",
        echo={"service": "for {v}", "with": "with {v}", "date": "on {v}", "time": "at {v}",
              "patient": "for {v}"},
        questions={"service": "what is it for ?", "with": "with whom ?", "date": "which date ?",
                   "time": "what time ?", "patient": "for whom ?"},
    ),
    _Domain(
        name="train",
        slots=("tickets", "origin", "destination", "date", "time"),
        values={"tickets": _numbers(2, 9), "origin": _CITIES, "destination": _CITIES, "date": _DATES,
                "time": _TIMES},
        openers=("i need train tickets", "can you book me a train", "i would like to buy train tickets",
                 "book me on a train please", "i want to travel by train"),
        fragments={
            "tickets": ("{v} tickets", "for {v} people", "{v} seats"),
            "origin": ("from {v}", "leaving {v}", "departing from {v}"),
            "destination": ("to {v}", "going to {v}", "arriving in {v}"),
            "date": _DATE_FRAGMENTS,
            "time": _TIME_FRAGMENTS + ("leaving at {v}",),
        },
        answers={
            "tickets": ("{v}", "{v} tickets", "{v} please", "{v} of us"),
            "origin": ("{v}", "from {v}", "leaving {v}", "i am in {v}"),
            "destination": ("{v}", "to {v}", "going to {v}", "i am going to {v}"),
            "date": _DATE_ANSWERS,
            "time": _TIME_ANSWERS,
        },
        words={"tickets": "the number of tickets", "origin": "the departure city", "destination": "the destination",
               "date": "the date", "time": "the time"},
        head="train",
        echo={"tickets": "{v} tickets", "origin": "from {v}", "destination": "to {v}", "date": "on {v}",
              "time": "at {v}"},
        questions={"tickets": "how many tickets ?", "origin": "from where ?", "destination": "to where ?",
                   "date": "which date ?", "time": "what time ?"},
    ),
)

DOMAINS: tuple[str, ...] = tuple(domain.name for domain in _DOMAINS)
"""Domain names."""


SLOT_VALUES: Mapping[str, Mapping[str, tuple[str, ...]]] = {domain.name: domain.values for domain in _DOMAINS}
"""Per domain and slot, every value the corpus can use (for tests and delexicalisation)."""

_CORRECT = ("actually , can we change {w} to {v}", "sorry , {w} should be {v}", "wait , make {w} {v} instead",
            "could you change {w} to {v} please", "one change : {w} is {v}")
_FILLERS = ("", "", "", "hi , ", "hello , ", "hey , ")
_LINKS = frozenset({"for", "at", "on", "from", "to", "in", "with", "around", "leaving", "going", "picking",
                    "departing", "arriving", "starting", "staying", "somewhere", "that"})
_PAIRED: Mapping[str, Mapping[str, str]] = {
    "taxi": {"pickup": "destination", "destination": "pickup"},
    "train": {"origin": "destination", "destination": "origin"},
}
"""Slots whose values must differ (a trip does not end where it starts)."""


def _draw(rng: random.Random, domain: _Domain, slot: str, avoid: tuple[str | None, ...] = ()) -> str:
    """A value of ``slot`` not in ``avoid``; taxi places are a landmark or an address with equal chance."""
    for _ in range(100):
        if domain.name == "taxi" and slot in ("pickup", "destination"):
            value = _pick(rng, _LANDMARKS) if _chance(rng, 0.5) else _pick(rng, _ADDRESSES)
        else:
            value = _pick(rng, domain.values[slot])
        if value not in avoid:
            return value
    raise AssertionError("unreachable: every pool has more than one value")


def _echo(domain: _Domain, state: Mapping[str, str]) -> str:
    """The system's phrase for the known slots, in the domain's order: ``"table at ... for 6"``."""
    parts = [domain.head] + [domain.echo[slot].format(v=state[slot]) for slot in domain.slots if slot in state]
    return " ".join(parts)


def _dialogue(rng: random.Random) -> list[Turn]:
    """Simulate one dialogue; its length is not checked here."""
    domain = _pick(rng, _DOMAINS)
    state: dict[str, str] = {}
    turns: list[Turn] = []

    def say(speaker: str, text: str) -> None:
        turns.append({"speaker": speaker, "text": text})

    def value_for(slot: str) -> str:
        """Draw a new value of ``slot`` (not its current one, nor its paired slot's) into the state."""
        other = _PAIRED.get(domain.name, {}).get(slot)
        value = _draw(rng, domain, slot, avoid=(state.get(slot), state.get(other) if other else None))
        state[slot] = value
        return value

    def fragment(slot: str) -> str:
        return _pick(rng, domain.fragments[slot]).format(v=value_for(slot))

    # Opening request with a random subset of the slots (at least one), in random order.
    given = [slot for slot in domain.slots if _chance(rng, 0.55)] or [_pick(rng, domain.slots)]
    for i in range(len(given) - 1, 0, -1):
        j = int(rng.random() * (i + 1))
        given[i], given[j] = given[j], given[i]
    parts = [fragment(slot) for slot in given]
    opener = _pick(rng, _FILLERS) + _pick(rng, domain.openers) + (" " if parts[0].split()[0] in _LINKS else " , ")
    opener += parts[0]
    if len(parts) > 1:
        opener += "".join(f" , {part}" for part in parts[1:-1]) + _pick(rng, (" and ", " , ")) + parts[-1]
    say("user", opener)

    corrected = False
    while True:
        missing = [slot for slot in domain.slots if slot not in state]
        if missing:
            slot = missing[0]
            say("system", f"{_echo(domain, state)} . {domain.questions[slot]}")
            answer = _pick(rng, domain.answers[slot]).format(v=value_for(slot))
            if len(missing) > 1 and _chance(rng, 0.35):  # volunteer one more slot
                answer = f"{answer} , and {fragment(missing[1 + int(rng.random() * (len(missing) - 1))])}"
            say("user", answer)
            continue
        say("system", f"{'changed' if corrected else 'booked'} : {_echo(domain, state)} .")
        if not corrected and _chance(rng, 0.3):
            corrected = True
            slot = _pick(rng, domain.slots)
            say("user", _pick(rng, _CORRECT).format(w=domain.words[slot], v=value_for(slot)))
            continue
        break
    return turns


def template_words() -> frozenset[str]:
    """Every word the system's templates use (heads, echo phrases, questions, ``ok``, ``booked``,
    ``changed``), lower case, punctuation dropped."""
    texts = ["booked changed"]
    for domain in _DOMAINS:
        texts += [domain.head, *domain.echo.values(), *domain.questions.values()]
    return frozenset(w for t in texts for w in t.replace("{v}", " ").split() if w.isalnum())


def value_words() -> frozenset[str]:
    """Words that occur in some slot value and in no system template: in a reply, these are the words
    copied from the context (statistics such as the share of reply words that are copied values)."""
    words = {w for values in SLOT_VALUES.values() for vs in values.values() for v in vs for w in v.split()}
    return frozenset(words - template_words())


def generate(seed: int = 0, *, sizes: Mapping[str, int] | None = None) -> dict[str, dict[str, list]]:
    """Generate the ``"dialogs-v1"`` corpus.

    :param seed: Seed of the corpus; the same seed gives the same corpus everywhere.
    :param sizes: Dialogues per split, e.g. ``{"train": 500}``; missing splits keep their default
        (train 3000, validation 300, test 500). Changing the train size does not change validation
        or test.
    :return: ``{"train": {"id": [...], "turns": [[{"speaker": ..., "text": ...}, ...], ...]}, ...}``;
        ids are ``"<split>-<index>"``, e.g. ``"train-00042"``.
    :raises ValueError: On an unknown split, a negative or non-int size, or a non-int seed.
    """
    make_split = dialogue_splitter(_dialogue, MIN_TURNS, MAX_TURNS)
    return generate_splits("dialog-v1", seed, sizes, DEFAULT_SIZES, SPLITS, make_split)
