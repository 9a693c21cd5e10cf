"""Seeded generator of the embedded task-oriented dialogue corpus.

Each dialogue is a user booking something in one of four domains: a restaurant table, a taxi, a
coffee, or a hotel room. It needs no file and no network, and the same seed gives the same corpus on
every machine and every Python version (only :meth:`random.Random.random` is used, whose stream
Python guarantees).

How the system replies are determined
-------------------------------------
The user side is varied: many opening requests, slot phrasings, synonyms and slot values, answers that
sometimes also fill a slot that was not asked for, and corrections of a confirmed booking. The system
side is a fixed policy over the dialogue state, so a learner that tracks the state can reproduce every
reply exactly:

1. The domain and the slot values are read from the user turns so far (a later value overrides an
   earlier one, as in a correction).
2. While a slot is missing, the system asks for the first missing slot, in the domain's fixed order
   (restaurant: cuisine, people, day, time; taxi: pickup, destination, time; coffee: drink, size,
   milk, name; hotel: area, price, nights, day).
3. When all slots are filled, it confirms them all. If the user accepts, it books, copying the values;
   if the user corrects a value, it confirms again.
4. If the user then thanks it, it says goodbye.

Each reply comes from one template per (domain, act, slot), with slot values copied verbatim from the
user turns, so replies are short (at most 18 words) and their vocabulary is small.

Every dialogue starts with the user, alternates speakers, ends with a system reply, and has 4 to 10
turns. The three splits never share an identical dialogue: test is generated first, then validation
avoiding test dialogues, then train avoiding both, so changing the train size never changes validation
or test.

Example::

    >>> from nlp_envs.corpora import dialog
    >>> data = dialog.generate(seed=0, sizes={"train": 3, "validation": 1, "test": 1})
    >>> [turn["speaker"] for turn in data["train"]["turns"][0]][:2]
    ['user', 'system']
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

from nlp_envs.corpora._rng import chance as _chance, dialogue_splitter, generate_splits, pick as _pick

__all__ = ["DEFAULT_SIZES", "DOMAINS", "MAX_TURNS", "MIN_TURNS", "SLOT_VALUES", "SPLITS", "Turn", "generate"]

SPLITS: tuple[str, ...] = ("train", "validation", "test")
"""Split names, in the order they appear in the returned dict."""

DEFAULT_SIZES: Mapping[str, int] = {"train": 1500, "validation": 200, "test": 300}
"""Number of dialogues per split when ``sizes`` is not given."""

MIN_TURNS = 4
"""Fewest turns in a dialogue (request, confirmation, acceptance, booking)."""

MAX_TURNS = 10
"""Most turns in a dialogue; longer draws are discarded and drawn again."""


class Turn(TypedDict):
    """One turn of a dialogue."""

    speaker: str
    """``"user"`` or ``"system"``."""
    text: str
    """What was said."""


# --------------------------------------------------------------------------------------------------
# Domains.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Domain:
    """The user phrasing material and the system templates of one domain."""

    name: str
    """Domain name."""
    slots: tuple[str, ...]
    """Slots, in the order the system asks for them."""
    values: Mapping[str, tuple[str, ...]]
    """Possible values of each slot (lower case; the value sets of one domain are disjoint)."""
    openers: tuple[str, ...]
    """User requests that name the domain, e.g. "i'd like to book a table"."""
    fragments: Mapping[str, tuple[str, ...]]
    """Per slot, phrases that attach a value to a request, e.g. "for {v} people"."""
    answers: Mapping[str, tuple[str, ...]]
    """Per slot, stand-alone answers to the system's question, e.g. "{v} of us"."""
    questions: Mapping[str, str]
    """Per slot, the system's question."""
    confirm: str
    """System confirmation, with ``{slot}`` placeholders."""
    booked: str
    """System booking message, with ``{slot}`` placeholders."""


_NUMBERS = ("2", "3", "4", "5", "6", "7", "8", "two", "three", "four", "five", "six")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_GENERIC_ANSWERS = ("{v}", "{v} please", "{v}, please", "make it {v}", "{v} would be great",
                    "let's say {v}", "um, {v}", "{v} i think", "{v} is fine")

_DOMAINS: tuple[_Domain, ...] = (
    _Domain(
        name="restaurant",
        slots=("cuisine", "people", "day", "time"),
        values={
            "cuisine": ("italian", "chinese", "indian", "thai", "mexican", "japanese", "french", "greek",
                        "lebanese", "korean", "spanish", "vietnamese", "turkish", "ethiopian", "british"),
            "people": _NUMBERS,
            "day": _WEEKDAYS,
            "time": ("6 pm", "6:30 pm", "7 pm", "7:30 pm", "8 pm", "8:30 pm", "9 pm", "noon", "12:30",
                     "1 pm", "18:00", "19:30", "20:00"),
        },
        openers=(
            "i'd like to book a table", "can you reserve a table", "i want to book a restaurant",
            "we're looking for somewhere to eat", "book me a table please", "i need a dinner reservation",
            "could you get us a table", "hi, i want to reserve a table", "find us a restaurant",
            "i'd love to eat out, can you book something", "table reservation please",
            "hello, we need a table",
        ),
        fragments={
            "cuisine": ("for {v} food", "at a {v} restaurant", "somewhere {v}", "serving {v} food",
                        "at a {v} place"),
            "people": ("for {v} people", "for {v} of us", "for a party of {v}", "for {v} guests"),
            "day": ("on {v}", "this {v}", "for {v}", "next {v}"),
            "time": ("at {v}", "around {v}", "for {v}"),
        },
        answers={
            "cuisine": ("{v} food", "{v} please", "something {v}", "i'm in the mood for {v}", "{v}"),
            "people": ("{v} people", "there will be {v} of us", "{v} of us", "a party of {v}", "{v}"),
            "day": ("{v}", "on {v}", "this {v}", "{v} please", "next {v} works"),
            "time": _GENERIC_ANSWERS + ("at {v}", "around {v}"),
        },
        questions={
            "cuisine": "what type of food would you like?",
            "people": "how many people is the table for?",
            "day": "which day would you like to book?",
            "time": "what time would you like the table?",
        },
        confirm="{cuisine} restaurant for {people} on {day} at {time}. shall i book it?",
        booked="done! your {cuisine} table for {people} is booked for {day} at {time}.",
    ),
    _Domain(
        name="taxi",
        slots=("pickup", "destination", "time"),
        values={
            "pickup": ("the train station", "the airport", "the central library", "the opera house",
                       "the university", "the harbour", "the stadium", "queen street", "park avenue",
                       "the grand hotel", "the hospital", "the bus station", "market square"),
            "destination": ("the shopping centre", "the botanical garden", "the conference centre",
                            "the zoo", "the museum", "the beach", "the old bridge", "king street",
                            "the cinema", "the town hall", "the ferry terminal", "river road"),
            "time": ("5 pm", "5:15 pm", "6:45 am", "7 am", "8:30 am", "noon", "midnight", "10:30",
                     "14:00", "9 pm", "11 pm", "3:20 pm"),
        },
        openers=(
            "i need a taxi", "can you book me a cab", "get me a taxi please", "i'd like to order a taxi",
            "please send a car", "i need a ride", "could you call a taxi for me", "book a cab",
            "hi, i need a lift", "can i get a taxi",
        ),
        fragments={
            "pickup": ("from {v}", "picking me up at {v}", "leaving from {v}"),
            "destination": ("to {v}", "going to {v}", "that takes me to {v}"),
            "time": ("at {v}", "for {v}", "leaving at {v}"),
        },
        answers={
            "pickup": ("{v}", "from {v}", "pick me up at {v}", "i'm at {v}", "{v} please"),
            "destination": ("{v}", "to {v}", "i'm going to {v}", "take me to {v}", "{v} please"),
            "time": _GENERIC_ANSWERS + ("at {v}",),
        },
        questions={
            "pickup": "where should the taxi pick you up?",
            "destination": "where are you heading?",
            "time": "what time do you want to leave?",
        },
        confirm="a taxi from {pickup} to {destination} at {time}. shall i book it?",
        booked="booked! a taxi will pick you up from {pickup} at {time}.",
    ),
    _Domain(
        name="coffee",
        slots=("drink", "size", "milk", "name"),
        values={
            "drink": ("latte", "cappuccino", "flat white", "americano", "mocha", "chai latte",
                      "hot chocolate", "cortado", "macchiato", "iced latte"),
            "size": ("small", "medium", "large", "extra large"),
            "milk": ("oat milk", "soy milk", "almond milk", "whole milk", "skimmed milk", "coconut milk",
                     "no milk"),
            "name": ("anna", "ben", "chloe", "daniel", "emma", "felix", "grace", "hugo", "isla", "jack",
                     "kai", "lucy", "maya", "nico", "omar", "zoe"),
        },
        openers=(
            "can i order a coffee", "i'd like a coffee", "i want to order a drink", "coffee please",
            "could i get something to drink", "i'll have a coffee", "hi, can i place an order",
            "one coffee to go please", "i need caffeine", "can you order me a coffee",
        ),
        fragments={
            "drink": ("one {v}", "one {v} to go"),
            "size": ("{v} size", "size {v}"),
            "milk": ("with {v}", "made with {v}"),
            "name": ("for {v}", "under the name {v}", "my name is {v}"),
        },
        answers={
            "drink": ("one {v}", "{v}", "{v} please", "i'll have one {v}", "{v}, thanks"),
            "size": ("{v}", "{v} please", "make it {v}", "{v} size"),
            "milk": ("{v}", "{v} please", "with {v}", "{v}, thanks"),
            "name": ("{v}", "it's {v}", "my name is {v}", "put {v}", "{v}, thanks"),
        },
        questions={
            "drink": "what would you like to drink?",
            "size": "what size would you like?",
            "milk": "which milk would you like?",
            "name": "what name should i put on the order?",
        },
        confirm="one {size} {drink} with {milk} for {name}. is that right?",
        booked="thanks {name}! your {size} {drink} will be ready in a few minutes.",
    ),
    _Domain(
        name="hotel",
        slots=("area", "price", "nights", "day"),
        values={
            "area": ("the centre", "the north", "the south", "the east", "the west", "the old town",
                     "the harbour district", "the university quarter"),
            "price": ("cheap", "moderate", "expensive", "budget", "luxury", "mid-range"),
            "nights": _NUMBERS[1:],
            "day": _WEEKDAYS,
        },
        openers=(
            "i need a hotel", "can you book me a hotel room", "i'm looking for somewhere to stay",
            "i'd like to reserve a room", "find me a hotel please", "we need accommodation",
            "hi, i want to book a hotel", "could you get me a room",
        ),
        fragments={
            "area": ("in {v}", "somewhere in {v}", "located in {v}"),
            "price": ("that is {v}", "something {v}", "in the {v} range"),
            "nights": ("for {v} nights", "staying {v} nights"),
            "day": ("from {v}", "arriving on {v}", "starting {v}"),
        },
        answers={
            "area": ("{v}", "in {v}", "{v} please", "somewhere in {v}"),
            "price": ("{v}", "{v} please", "something {v}", "{v} is fine"),
            "nights": ("{v} nights", "{v}", "for {v} nights", "just {v} nights"),
            "day": ("{v}", "on {v}", "arriving {v}", "from {v}"),
        },
        questions={
            "area": "which area would you like to stay in?",
            "price": "what price range are you looking for?",
            "nights": "how many nights will you stay?",
            "day": "which day will you arrive?",
        },
        confirm="{price} hotel in {area} for {nights} nights from {day}. shall i book it?",
        booked="your {price} hotel in {area} is booked for {nights} nights from {day}.",
    ),
)

DOMAINS: tuple[str, ...] = tuple(domain.name for domain in _DOMAINS)
"""Domain names."""

SLOT_VALUES: Mapping[str, Mapping[str, tuple[str, ...]]] = {domain.name: domain.values for domain in _DOMAINS}
"""Per domain and slot, every value the corpus uses (for tests and delexicalisation)."""

_ACCEPT = ("yes please", "yes, that's right", "sounds good", "perfect, go ahead", "yep, book it",
           "correct", "that's perfect", "sure", "yes", "great, do it", "yes, thank you", "exactly")
_CORRECT = ("actually, make it {v}", "sorry, can you change that to {v}?", "wait, {v} instead please",
            "hmm, could we do {v} instead?", "no, i meant {v}", "almost, but {v} please")
_THANKS = ("thanks!", "thank you so much", "great, thanks", "that's all, thank you", "cheers",
           "perfect, thanks a lot", "thank you, bye")
_GOODBYE = "you're welcome. have a great day!"


def _user_text(text: str, rng: random.Random) -> str:
    """Apply random sentence casing and final punctuation to a user utterance."""
    if _chance(rng, 0.5):
        text = text[:1].upper() + text[1:]
    if text[-1] not in ".!?" and _chance(rng, 0.3):
        text += _pick(rng, (".", "!"))
    return text


def _dialogue(rng: random.Random) -> list[Turn]:
    """Simulate one dialogue; its length is not checked here."""
    domain = _DOMAINS[int(rng.random() * len(_DOMAINS))]
    state: dict[str, str] = {}
    turns: list[Turn] = []

    def say(speaker: str, text: str) -> None:
        turns.append({"speaker": speaker, "text": text})

    def fragment(slot: str) -> str:
        value = _pick(rng, domain.values[slot])
        state[slot] = value
        return _pick(rng, domain.fragments[slot]).format(v=value)

    # Opening request with a random subset of the slots, in random order.
    given = [slot for slot in domain.slots if _chance(rng, 0.5)]
    for i in range(len(given) - 1, 0, -1):
        j = int(rng.random() * (i + 1))
        given[i], given[j] = given[j], given[i]
    parts = [fragment(slot) for slot in given]
    opener = _pick(rng, domain.openers)
    if parts:
        opener += _pick(rng, (" ", ", ")) + parts[0]
    if len(parts) > 1:
        opener += "".join(f", {part}" for part in parts[1:-1]) + _pick(rng, (" and ", ", ")) + parts[-1]
    say("user", _user_text(opener, rng))

    corrected = False
    while True:
        missing = [slot for slot in domain.slots if slot not in state]
        if missing:
            slot = missing[0]
            say("system", domain.questions[slot])
            value = _pick(rng, domain.values[slot])
            state[slot] = value
            answer = _pick(rng, domain.answers[slot]).format(v=value)
            if len(missing) > 1 and _chance(rng, 0.3):  # volunteer one more slot
                answer = f"{answer}, and {fragment(missing[1 + int(rng.random() * (len(missing) - 1))])}"
            say("user", _user_text(answer, rng))
            continue
        say("system", domain.confirm.format(**state))
        if not corrected and _chance(rng, 0.2):
            corrected = True
            slot = _pick(rng, domain.slots)
            options = [value for value in domain.values[slot] if value != state[slot]]
            state[slot] = _pick(rng, options)
            say("user", _user_text(_pick(rng, _CORRECT).format(v=state[slot]), rng))
            continue
        say("user", _user_text(_pick(rng, _ACCEPT), rng))
        say("system", domain.booked.format(**state))
        break
    if _chance(rng, 0.5):
        say("user", _user_text(_pick(rng, _THANKS), rng))
        say("system", _GOODBYE)
    return turns


def generate(seed: int = 0, *, sizes: Mapping[str, int] | None = None) -> dict[str, dict[str, list]]:
    """Generate the task-oriented dialogue corpus.

    :param seed: Seed of the corpus; the same seed gives the same corpus everywhere.
    :param sizes: Dialogues per split, e.g. ``{"train": 500}``; missing splits keep their default
        (train 1500, validation 200, test 300). Changing the train size does not change validation
        or test.
    :return: ``{"train": {"id": [...], "turns": [[{"speaker": ..., "text": ...}, ...], ...]}, ...}``;
        ids are ``"<split>-<index>"``, e.g. ``"train-00042"``.
    :raises ValueError: On an unknown split, a negative or non-int size, or a non-int seed.
    """
    make_split = dialogue_splitter(_dialogue, MIN_TURNS, MAX_TURNS)
    return generate_splits("dialog", seed, sizes, DEFAULT_SIZES, SPLITS, make_split)
