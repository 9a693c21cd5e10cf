"""Seeded generator of the embedded intent-detection corpus.

The corpus imitates the traffic of a customer assistant that serves three domains at once: banking,
travel and shopping. Every example is one user utterance labelled with one of the sixteen intents in
:data:`LABEL_NAMES`. It needs no file and no network, and the same seed gives the same corpus on every
machine and every Python version (only :meth:`random.Random.random` is used, whose stream Python
guarantees).

What makes it hard
------------------
The corpus is built so that a bag-of-words linear classifier does well but stays clearly below 100%
(about 0.88 test accuracy for ``CountVectorizer`` + ``LogisticRegression``), while a model that reads
word order can do better:

* **Paraphrase variety.** Each intent has many request templates and verb phrases, synonyms
  ("freeze", "lock", "put a hold on"), and slot fillers (amounts in several formats, dates, cities,
  people, merchants, products, order and flight numbers), wrapped in politeness prefixes and suffixes,
  random casing and punctuation, and occasional typos.
* **Shared vocabulary.** Intents of one domain use the same nouns: "card" appears in freezing,
  cancelling and disputing; "flight" in booking, status and cancelling; "order" in placing, tracking,
  returning and changing the address; "refund" in returns and disputes.
* **Context distractors.** Some utterances open with a sentence from another domain ("I'm at the
  airport right now.", "I bought a blender last week.").
* **Contrastive distractors.** About a fifth of the utterances name a confusable intent only to reject
  it: "I don't want to cancel my card, I just want to freeze it", "not the balance, I need my transfer
  limit". Both intents' words are present, in either order, so only word order and negation tell them
  apart; bag-of-words models get these close to chance.

The three splits never share an identical text: test is generated first, then validation avoiding
test texts, then train avoiding both, so changing the train size never changes validation or test.

Example::

    >>> from nlp_envs.corpora import intents
    >>> data = intents.generate(seed=0, sizes={"train": 10, "validation": 2, "test": 2})
    >>> sorted(data), len(data["train"]["text"])
    (['test', 'train', 'validation'], 10)
    >>> all(0 <= y < len(intents.LABEL_NAMES) for y in data["train"]["label"])
    True
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from nlp_envs.corpora._rng import (
    chance as _chance,
    check_seed,
    draw_new,
    generate_splits,
    permutation as _permutation,
    pick as _pick,
    stream,
)

__all__ = ["DEFAULT_SIZES", "LABEL_NAMES", "SPLITS", "generate"]

SPLITS: tuple[str, ...] = ("train", "validation", "test")
"""Split names, in the order they appear in the returned dict."""

DEFAULT_SIZES: Mapping[str, int] = {"train": 4000, "validation": 500, "test": 1000}
"""Number of utterances per split when ``sizes`` is not given."""

CONTRAST_RATE = 0.22
"""Probability that an utterance rejects a confusable intent before (or after) stating its own."""

CONTEXT_RATE = 0.15
"""Probability that an utterance opens with a context sentence, often from another domain."""

TYPO_RATE = 0.05
"""Probability that one word of an utterance gets a typo (swapped, dropped or doubled letter)."""


# --------------------------------------------------------------------------------------------------
# Random helpers (see :mod:`nlp_envs.corpora._rng`: only ``Random.random`` is used).
# --------------------------------------------------------------------------------------------------


def _digits(rng: random.Random, n: int) -> str:
    """Return ``n`` random decimal digits."""
    return "".join(str(int(rng.random() * 10)) for _ in range(n))


# --------------------------------------------------------------------------------------------------
# Slot fillers.
# --------------------------------------------------------------------------------------------------

_CITIES = (
    "Lisbon", "Madrid", "Paris", "Berlin", "Rome", "Vienna", "Prague", "Dublin", "London", "Oslo",
    "Athens", "Istanbul", "Cairo", "Nairobi", "Tokyo", "Seoul", "Bangkok", "Singapore", "Sydney",
    "Toronto", "Chicago", "Boston", "Denver", "Miami", "New York", "San Francisco", "Mexico City",
    "Buenos Aires", "Lima", "Cape Town", "Amsterdam", "Copenhagen", "Zurich", "Warsaw", "Budapest",
)
_PEOPLE = (
    "my mom", "my dad", "my sister", "my brother", "my landlord", "my roommate", "Anna", "David",
    "Priya", "Carlos", "Mei", "Tom", "Fatima", "Jonas", "Lucia", "Omar", "Sophie", "Kenji", "Grace",
    "my plumber", "the babysitter", "Mr. Novak", "my daughter", "my son", "a friend",
)
_ACCOUNTS = (
    "checking account", "savings account", "joint account", "business account", "current account",
    "student account", "checking", "savings", "main account", "holiday savings",
)
_CARDS = (
    "card", "credit card", "debit card", "visa", "mastercard", "bank card", "virtual card",
    "business card", "travel card", "contactless card",
)
_MERCHANTS = (
    "Amazon", "a gas station", "Starbucks", "Uber", "a hotel in Rome", "Netflix", "a restaurant",
    "the supermarket", "an online store", "Spotify", "a car rental", "the pharmacy", "IKEA",
    "a parking garage", "a shop I've never heard of", "the airport duty free",
)
_PRODUCTS = (
    "blender", "laptop", "phone case", "pair of running shoes", "coffee maker", "winter jacket",
    "desk lamp", "headphones", "yoga mat", "backpack", "toaster", "office chair", "smartwatch",
    "vacuum cleaner", "set of towels", "bluetooth speaker", "rice cooker", "monitor", "keyboard",
    "air fryer", "electric kettle", "suitcase", "baby stroller", "printer", "sofa cushion",
)
_CURRENCIES = (
    "dollars", "euros", "pounds", "yen", "swiss francs", "pesos", "rupees", "canadian dollars",
    "australian dollars", "kroner", "USD", "EUR", "GBP", "JPY",
)
_BILLS = (
    "electricity", "water", "phone", "internet", "gas", "rent", "mortgage", "insurance", "cable",
    "gym membership", "council tax", "credit card",
)
_DATES = (
    "today", "tomorrow", "tonight", "on Monday", "on Tuesday", "on Wednesday", "on Thursday",
    "on Friday", "this weekend", "next week", "next Friday", "on the 3rd", "on the 15th",
    "on March 3rd", "on June 21st", "in two weeks", "next month", "on the first of May",
    "before Christmas", "on Saturday morning", "this Sunday", "at the end of the month",
)
_LANDMARKS = (
    "the airport", "the train station", "the old town", "the beach", "the conference center",
    "the city center", "the cathedral", "the stadium", "the university",
)
_ROOMS = ("room", "double room", "single room", "suite", "twin room", "family room")
_NUMBER_WORDS = ("two", "three", "four", "five", "six", "seven", "ten")


def _amount(rng: random.Random) -> str:
    """Return a money amount in one of several surface formats."""
    value = _pick(rng, ("20", "35", "50", "75", "100", "120", "200", "250", "300", "480", "500",
                        "750", "1000", "1,200", "1,500", "2,000", "5,000", "60", "15", "90"))
    fmt = int(rng.random() * 6)
    if fmt == 0:
        return f"${value}"
    if fmt == 1:
        return f"{value} dollars"
    if fmt == 2:
        return f"€{value}"
    if fmt == 3:
        return f"{value} euros"
    if fmt == 4:
        return f"£{value}"
    return _pick(rng, ("fifty bucks", "a hundred dollars", "twenty quid", "a grand", "five hundred euros",
                       "two hundred pounds", "thirty dollars"))


_FILLERS: dict[str, Callable[[random.Random], str]] = {
    "amount": _amount,
    "city": lambda rng: _pick(rng, _CITIES),
    "city2": lambda rng: _pick(rng, _CITIES),
    "person": lambda rng: _pick(rng, _PEOPLE),
    "account": lambda rng: _pick(rng, _ACCOUNTS),
    "account2": lambda rng: _pick(rng, _ACCOUNTS),
    "card": lambda rng: _pick(rng, _CARDS),
    "merchant": lambda rng: _pick(rng, _MERCHANTS),
    "product": lambda rng: _pick(rng, _PRODUCTS),
    "currency": lambda rng: _pick(rng, _CURRENCIES),
    "currency2": lambda rng: _pick(rng, _CURRENCIES),
    "bill": lambda rng: _pick(rng, _BILLS),
    "date": lambda rng: _pick(rng, _DATES),
    "landmark": lambda rng: _pick(rng, _LANDMARKS),
    "room": lambda rng: _pick(rng, _ROOMS),
    "n": lambda rng: _pick(rng, _NUMBER_WORDS + ("2", "3", "4", "5")),
    "last4": lambda rng: _digits(rng, 4),
    "order_no": lambda rng: _pick(rng, ("#", "no. ", "", "A-")) + _digits(rng, 6),
    "flight_no": lambda rng: _pick(rng, ("TP", "LH", "BA", "AF", "UA", "IB", "KL")) + _digits(rng, 3),
    "street": lambda rng: f"{int(rng.random() * 200) + 1} "
    + _pick(rng, ("Oak Street", "Maple Avenue", "Rua Augusta", "High Street", "Elm Road", "Park Lane",
                  "Main Street", "Baker Street", "Hill Road", "Station Road")),
}

_SLOT = re.compile(r"\{(\w+)\}")


def _fill(template: str, rng: random.Random) -> str:
    """Replace every ``{slot}`` of ``template`` with a fresh random filler."""
    return _SLOT.sub(lambda m: _FILLERS[m.group(1)](rng), template)


# --------------------------------------------------------------------------------------------------
# Intents.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Intent:
    """The phrasing material of one intent."""

    name: str
    """Label name."""
    requests: tuple[str, ...]
    """Complete utterances (questions, statements, imperatives), with ``{slot}`` placeholders."""
    actions: tuple[str, ...]
    """Infinitive verb phrases, used after "I want to", "help me", "I don't want to", ..."""
    topics: tuple[str, ...]
    """Noun phrases naming what the user is after, used in "not the X, I need the Y"."""
    confusable: tuple[str, ...]
    """Intents this one is most often contrasted with."""


_INTENTS: tuple[_Intent, ...] = (
    _Intent(
        name="check_balance",
        requests=(
            "what's my balance?",
            "how much money do I have in my {account}?",
            "what is the current balance of my {account}?",
            "how much is left in my {account}?",
            "show me the balance on my {account}",
            "am I overdrawn?",
            "do I have enough money in my {account} to cover {amount}?",
            "how much cash do I have right now?",
            "tell me my available balance",
            "what's left on my {account} after the last payment?",
            "balance on {account} please",
            "is my {account} in the red?",
            "how much money is sitting in my {account}?",
            "can you read me my account balance?",
        ),
        actions=(
            "check my balance", "see how much money I have", "check the balance of my {account}",
            "know what's in my {account}", "look at my {account} balance", "find out how much I have left",
        ),
        topics=("balance", "account balance", "balance of my {account}", "available funds"),
        confusable=("transfer_limit", "transfer_money", "pay_bill", "exchange_rate"),
    ),
    _Intent(
        name="transfer_money",
        requests=(
            "send {amount} to {person}",
            "transfer {amount} from my {account} to my {account2}",
            "move {amount} into my {account}",
            "please wire {amount} to {person} {date}",
            "I owe {person} {amount}, can you send it?",
            "pay {person} {amount} from my {account}",
            "can you transfer {amount} to {person}?",
            "put {amount} from {account} into {account2}",
            "make a transfer of {amount} to {person}",
            "send money to {person}",
            "I need to get {amount} to {person} {date}",
            "split the dinner bill and send {person} {amount}",
        ),
        actions=(
            "send {amount} to {person}", "transfer money to {person}", "move money between my accounts",
            "wire {amount} to {person}", "make a transfer", "send {person} some money",
        ),
        topics=("transfer to {person}", "money transfer", "payment to {person}"),
        confusable=("transfer_limit", "pay_bill", "check_balance", "exchange_rate"),
    ),
    _Intent(
        name="transfer_limit",
        requests=(
            "what's my daily transfer limit?",
            "raise my transfer limit to {amount}",
            "how much can I send per day?",
            "is there a cap on how much I can wire?",
            "can I increase the limit on transfers?",
            "why can't I send more than {amount} a day?",
            "lower my daily limit to {amount}",
            "what is the maximum I can transfer from my {account}?",
            "my transfer got blocked for being over the limit, can you raise it?",
            "change the spending limit on my {card} to {amount}",
            "how high is the withdrawal limit on my {card}?",
            "what's the most I can move out of {account} in one go?",
            "not the balance, I need my transfer limit",
            "I know my balance, I'm asking how much I'm allowed to send",
        ),
        actions=(
            "raise my transfer limit", "increase my daily limit", "know my transfer limit",
            "change the limit on my {card}", "lower my spending limit", "check how much I can send per day",
        ),
        topics=("transfer limit", "daily limit", "spending limit", "withdrawal limit", "limit on my {card}"),
        confusable=("check_balance", "transfer_money", "freeze_card"),
    ),
    _Intent(
        name="freeze_card",
        requests=(
            "freeze my {card}",
            "temporarily lock my {card}",
            "please put a hold on my {card} for now",
            "I can't find my {card}, can you pause it until I look around?",
            "block my {card} for a few days",
            "switch off my {card} for now, I might have left it at a restaurant",
            "lock the {card} ending in {last4}",
            "can you temporarily disable my {card}?",
            "pause all payments on my {card} until I find it",
            "my kid has my {card}, lock it for the weekend",
            "stop my {card} from working for a while",
            "can I freeze the {card} and unfreeze it later?",
            "I don't want to cancel my {card}, I just want to freeze it",
            "don't close the {card}, just lock it until I find it",
        ),
        actions=(
            "freeze my {card}", "lock my {card} for now", "temporarily block my {card}",
            "put my {card} on hold", "pause my {card}",
        ),
        topics=("card freeze", "temporary lock on my {card}", "hold on my {card}"),
        confusable=("cancel_card", "dispute_charge", "transfer_limit"),
    ),
    _Intent(
        name="cancel_card",
        requests=(
            "cancel my {card}",
            "my {card} was stolen, cancel it",
            "I lost my {card} and need a replacement",
            "close my {card} permanently",
            "order me a new card, mine is broken",
            "someone stole my wallet with the {card} in it",
            "deactivate the {card} ending in {last4} for good",
            "my {card} got snapped in half, please send a new one",
            "I don't use my {card} anymore, close it",
            "report my {card} as lost",
            "my {card} expired {date}, I need a replacement",
            "shut down my {card} and issue a new one",
            "freezing won't help, the {card} is gone, cancel it",
        ),
        actions=(
            "cancel my {card}", "close my {card} for good", "get a replacement card",
            "report my {card} stolen", "order a new {card}",
        ),
        topics=("replacement card", "card cancellation", "new {card}"),
        confusable=("freeze_card", "dispute_charge", "cancel_booking"),
    ),
    _Intent(
        name="dispute_charge",
        requests=(
            "there's a charge of {amount} I don't recognize",
            "dispute the {amount} payment to {merchant}",
            "I was charged twice at {merchant}",
            "{merchant} took {amount} from my {card} and I never bought anything",
            "why is there a payment to {merchant} on my statement?",
            "I want my money back for the {amount} charge from {merchant}",
            "there's a weird transaction on my {card} from {date}",
            "someone used my {card} at {merchant}",
            "my {card} was charged {amount} by mistake",
            "I got billed by {merchant} after cancelling the subscription",
            "challenge the charge from {merchant} please",
            "refund the wrong charge from {merchant}",
            "I didn't buy anything to return, {merchant} charged me {amount} by mistake",
        ),
        actions=(
            "dispute a charge", "report a transaction I didn't make", "challenge the {merchant} payment",
            "get my money back for a wrong charge", "contest a payment on my {card}",
        ),
        topics=("charge from {merchant}", "unknown transaction", "double charge", "{amount} charge"),
        confusable=("return_item", "cancel_card", "freeze_card"),
    ),
    _Intent(
        name="exchange_rate",
        requests=(
            "what's the exchange rate from {currency} to {currency2}?",
            "how many {currency2} do I get for {amount}?",
            "convert {amount} to {currency}",
            "what's the rate for {currency} today?",
            "how much is {amount} in {currency}?",
            "is it a good time to change {currency} into {currency2}?",
            "what rate do you give for {currency} to {currency2}?",
            "I'm going to {city}, what's the {currency} rate?",
            "how much {currency} would {amount} buy me?",
            "what fee and rate apply if I pay in {currency}?",
        ),
        actions=(
            "check the exchange rate", "convert {amount} into {currency}", "know the {currency} rate",
            "see the rate for {currency2}", "compare {currency} and {currency2}",
        ),
        topics=("exchange rate", "{currency} rate", "conversion rate", "rate for {currency2}"),
        confusable=("transfer_money", "check_balance", "book_flight"),
    ),
    _Intent(
        name="pay_bill",
        requests=(
            "pay my {bill} bill",
            "schedule the {bill} payment for {date}",
            "when is my {bill} bill due?",
            "set up autopay for the {bill} bill",
            "I need to pay {amount} for {bill}",
            "settle my {bill} bill from my {account}",
            "did my {bill} bill get paid?",
            "pay the {bill} invoice {date}",
            "remind me to pay {bill} {date}",
            "please cover this month's {bill} bill",
            "make the {bill} payment of {amount}",
        ),
        actions=(
            "pay my {bill} bill", "set up a bill payment", "schedule my {bill} payment",
            "pay the {bill} bill {date}", "settle a bill",
        ),
        topics=("{bill} bill", "bill payment", "{bill} payment", "due date of my {bill} bill"),
        confusable=("transfer_money", "check_balance", "dispute_charge"),
    ),
    _Intent(
        name="book_flight",
        requests=(
            "book a flight from {city} to {city2} {date}",
            "I need a plane ticket to {city}",
            "find me flights to {city} {date}",
            "reserve a seat on a flight to {city}",
            "are there any cheap flights from {city} to {city2}?",
            "get me on a plane to {city} {date}",
            "I'd like a one-way ticket to {city}",
            "book {n} tickets to {city} {date}",
            "what flights leave for {city} {date}? book the earliest",
            "fly me to {city} {date}",
            "I need a return flight to {city}, leaving {date}",
            "buy a ticket on flight {flight_no}",
        ),
        actions=(
            "book a flight to {city}", "buy a plane ticket", "fly to {city} {date}",
            "reserve a flight from {city} to {city2}", "get a ticket to {city}",
        ),
        topics=("flight to {city}", "plane ticket", "ticket to {city}", "new flight"),
        confusable=("flight_status", "cancel_booking", "book_hotel"),
    ),
    _Intent(
        name="flight_status",
        requests=(
            "is my flight to {city} on time?",
            "has flight {flight_no} been delayed?",
            "what gate does my flight leave from?",
            "when does my flight to {city} land?",
            "is {flight_no} still departing {date}?",
            "did my flight from {city} get cancelled?",
            "what time does my plane board?",
            "is the {city} flight running late?",
            "any news on flight {flight_no}?",
            "when will flight {flight_no} arrive in {city}?",
            "has my connection in {city} changed gates?",
        ),
        actions=(
            "check my flight status", "know if flight {flight_no} is delayed", "see when my flight lands",
            "find my gate", "track flight {flight_no}",
        ),
        topics=("flight status", "departure time", "gate for flight {flight_no}", "arrival time"),
        confusable=("book_flight", "cancel_booking", "track_order"),
    ),
    _Intent(
        name="book_hotel",
        requests=(
            "book a hotel in {city} for {n} nights",
            "find me a {room} in {city} {date}",
            "reserve a {room} near {landmark}",
            "I need somewhere to stay in {city} {date}",
            "get me a hotel close to {landmark} in {city}",
            "are there any rooms free in {city} {date}?",
            "book {n} nights at a hotel in {city}",
            "I want a {room} with breakfast in {city}",
            "look for a cheap hotel near {landmark}",
            "can you reserve accommodation in {city} for me?",
            "I need a {room} for {n} people {date}",
        ),
        actions=(
            "book a hotel in {city}", "reserve a {room}", "find a place to stay in {city}",
            "book a {room} near {landmark}", "get a hotel room",
        ),
        topics=("hotel in {city}", "{room} in {city}", "hotel room", "accommodation"),
        confusable=("book_flight", "cancel_booking"),
    ),
    _Intent(
        name="cancel_booking",
        requests=(
            "cancel my hotel reservation in {city}",
            "cancel my flight to {city}",
            "I need to cancel my booking for {date}",
            "call off my trip to {city}",
            "please drop my reservation at the hotel near {landmark}",
            "I won't make it to {city}, cancel everything",
            "cancel flight {flight_no} for me",
            "can I get my money back if I cancel my {room}?",
            "my plans changed, cancel the {city} booking",
            "remove my {room} reservation {date}",
            "cancel the tickets to {city}",
            "I don't need a new flight, I need to cancel the one to {city}",
        ),
        actions=(
            "cancel my booking", "cancel my flight to {city}", "cancel the hotel in {city}",
            "call off my reservation", "cancel my trip",
        ),
        topics=("booking cancellation", "cancellation of my {city} trip", "reservation {date}"),
        confusable=("book_flight", "book_hotel", "cancel_card"),
    ),
    _Intent(
        name="place_order",
        requests=(
            "order a {product}",
            "buy {n} {product}s",
            "add a {product} to my cart and check out",
            "I want to purchase a {product}",
            "please order the {product} I looked at yesterday",
            "get me a new {product}",
            "can I buy a {product} and pay with my {card}?",
            "I'd like to order a {product} delivered {date}",
            "put in an order for a {product}",
            "order another {product}, same as last time",
            "buy the cheapest {product} you have",
        ),
        actions=(
            "order a {product}", "buy a {product}", "purchase a {product}", "place an order",
            "get a new {product}",
        ),
        topics=("new order", "{product} purchase", "new {product}"),
        confusable=("track_order", "return_item", "change_address"),
    ),
    _Intent(
        name="track_order",
        requests=(
            "where is my {product}?",
            "track my order {order_no}",
            "when will my {product} arrive?",
            "has my package shipped yet?",
            "my {product} still hasn't arrived",
            "what's the status of order {order_no}?",
            "is my {product} out for delivery?",
            "the tracking for {order_no} hasn't moved since {date}",
            "when is the {product} I ordered getting here?",
            "can you tell me where my parcel is?",
            "did the courier pick up my {product}?",
        ),
        actions=(
            "track my order", "find out where my {product} is", "check my delivery",
            "track order {order_no}", "see when my package arrives",
        ),
        topics=("order status", "delivery date", "tracking number", "status of order {order_no}"),
        confusable=("place_order", "change_address", "flight_status"),
    ),
    _Intent(
        name="return_item",
        requests=(
            "return the {product} I bought",
            "how do I send back a {product}?",
            "I want a refund for my {product}",
            "the {product} is broken, I want to return it",
            "the {product} doesn't fit, can I send it back?",
            "start a return for order {order_no}",
            "I changed my mind about the {product}, take it back",
            "print me a return label for the {product}",
            "my {product} arrived damaged, I want my money back",
            "can I exchange the {product} for a different one?",
            "refund me for the {product} please",
            "the charge is fine, I just want to return the {product}",
        ),
        actions=(
            "return a {product}", "send back the {product}", "get a refund for my {product}",
            "return order {order_no}",
        ),
        topics=("return label", "refund for the {product}", "return of order {order_no}"),
        confusable=("dispute_charge", "place_order", "track_order"),
    ),
    _Intent(
        name="change_address",
        requests=(
            "update my delivery address to {street}",
            "change the shipping address on order {order_no}",
            "I moved, please update my address",
            "send my {product} to {street} instead",
            "my new address is {street}",
            "can I change where order {order_no} is delivered?",
            "deliver to my office at {street} please",
            "the address on my account is wrong, it should be {street}",
            "redirect my package to {street}",
            "change my billing address to {street}",
        ),
        actions=(
            "change my address", "update my delivery address", "change the shipping address",
            "send the {product} to {street}", "fix my address",
        ),
        topics=("delivery address", "shipping address", "new address", "address on my account"),
        confusable=("track_order", "place_order"),
    ),
)

LABEL_NAMES: tuple[str, ...] = tuple(intent.name for intent in _INTENTS)
"""Intent names; a label is an index into this tuple."""

_INDEX = {name: i for i, name in enumerate(LABEL_NAMES)}

# --------------------------------------------------------------------------------------------------
# Framing material shared by all intents.
# --------------------------------------------------------------------------------------------------

_WANT = (
    "I want to", "I'd like to", "I need to", "can you help me", "help me", "is it possible to",
    "how do I", "please", "I'm trying to", "could you", "I would like to", "can I", "I have to",
    "let me", "I wanna",
)
_PREFIXES = (
    "hi,", "hello,", "hey,", "hi there.", "good morning,", "good evening.", "excuse me,",
    "quick question:", "sorry to bother you, but", "hello again.", "ok so", "um,", "yo,",
    "dear assistant,", "hey there,",
)
_SUFFIXES = (
    "thanks", "thank you!", "please", "asap", "as soon as possible", "if you can", "cheers",
    "thanks a lot", "right now", "when you get a chance", "ty", "much appreciated",
)
_CONTEXTS = (
    "I'm at the airport right now.", "I just got paid.", "my phone is almost dead.",
    "I'm travelling to {city} {date}.", "I bought a {product} last week.", "I'm in {city} at the moment.",
    "my bank app keeps crashing.", "I just checked my {account}.", "I'm on the train.",
    "I used my {card} at {merchant} yesterday.", "my flight to {city} was great.",
    "I moved to {street} last month.", "I'm planning a trip to {city}.", "long day.",
    "I ordered a {product} {date}.", "it's about my {card}.",
)
_CONTRASTS = (
    "I don't want to {other}, I just want to {own}",
    "I'm not trying to {other}. I need to {own}",
    "not looking to {other}, I want to {own}",
    "please don't {other}! I only want to {own}",
    "I want to {own}, not {other}",
    "I need to {own} - I don't need to {other}",
    "forget about trying to {other}, I'd rather {own}",
    "no need to {other}. can you {own}?",
    "I was going to {other} but actually I'd like to {own}",
    "instead of having to {other}, help me {own}",
    "ignore my last message about wanting to {other}; I want to {own}",
    "{own_request} I don't want to {other}.",
)
_TOPIC_CONTRASTS = (
    "not the {other}, I need the {own}",
    "I'm asking about the {own}, not the {other}",
    "never mind the {other}. what about the {own}?",
    "it's the {own} I care about, not the {other}",
    "forget the {other}, I need help with the {own}",
)


def _sentence_case(text: str) -> str:
    """Capitalise the first character of ``text``."""
    return text[:1].upper() + text[1:]


def _add_typo(text: str, rng: random.Random) -> str:
    """Swap, drop or double one letter of one word of at least four letters."""
    words = text.split(" ")
    candidates = [i for i, word in enumerate(words) if len(word) >= 4 and word.isalpha()]
    if not candidates:
        return text
    i = candidates[int(rng.random() * len(candidates))]
    word = words[i]
    j = 1 + int(rng.random() * (len(word) - 2))
    kind = int(rng.random() * 3)
    if kind == 0:
        word = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    elif kind == 1:
        word = word[:j] + word[j + 1 :]
    else:
        word = word[:j] + word[j] + word[j:]
    words[i] = word
    return " ".join(words)


def _core(intent: _Intent, rng: random.Random) -> str:
    """Return a plain request for ``intent``: a full request or a want-frame plus a verb phrase."""
    if _chance(rng, 0.6):
        return _fill(_pick(rng, intent.requests), rng)
    action = _fill(_pick(rng, intent.actions), rng)
    frame = _pick(rng, _WANT)
    question = frame.startswith(("can", "could", "is it", "how"))
    return f"{frame} {action}{'?' if question else ''}"


def _contrast(intent: _Intent, rng: random.Random) -> str:
    """Return an utterance for ``intent`` that explicitly rejects a confusable intent."""
    if _chance(rng, 0.75):
        other_name = _pick(rng, intent.confusable)
    else:
        other_name = _pick(rng, [name for name in LABEL_NAMES if name != intent.name])
    other = _INTENTS[_INDEX[other_name]]
    if _chance(rng, 0.3):
        template = _pick(rng, _TOPIC_CONTRASTS)
        return template.format(own=_fill(_pick(rng, intent.topics), rng),
                               other=_fill(_pick(rng, other.topics), rng))
    template = _pick(rng, _CONTRASTS)
    own_request = _sentence_case(_fill(_pick(rng, intent.requests), rng)).rstrip(".!?") + "."
    return template.format(own=_fill(_pick(rng, intent.actions), rng),
                           other=_fill(_pick(rng, other.actions), rng),
                           own_request=own_request)


def _utterance(label: int, rng: random.Random) -> str:
    """Return one utterance of intent ``LABEL_NAMES[label]``."""
    intent = _INTENTS[label]
    text = _contrast(intent, rng) if _chance(rng, CONTRAST_RATE) else _core(intent, rng)
    if _chance(rng, CONTEXT_RATE):
        text = f"{_fill(_pick(rng, _CONTEXTS), rng)} {_sentence_case(text)}"
    if _chance(rng, 0.3):
        text = f"{_pick(rng, _PREFIXES)} {text}"
    if _chance(rng, 0.25):
        end = text[-1] if text[-1] in ".!?" else ""
        text = f"{text.rstrip('.!?')}, {_pick(rng, _SUFFIXES)}{end}"
    if _chance(rng, TYPO_RATE):
        text = _add_typo(text, rng)
    if _chance(rng, 0.25):
        text = text.rstrip(".!?")
    return text.lower() if _chance(rng, 0.3) else _sentence_case(text)


def _generate_split(n: int, rng: random.Random, seen: set[str], split: str) -> dict[str, list]:
    """Draw ``n`` class-balanced utterances whose texts are not in ``seen`` (which is updated)."""
    texts: list[str] = []
    labels: list[int] = []
    n_labels = len(LABEL_NAMES)
    order: list[int] = []
    for i in range(n):
        if i % n_labels == 0:  # a fresh random permutation of the labels for every block
            order = _permutation(n_labels, rng)
        label = order[i % n_labels]
        text = draw_new(
            lambda: _utterance(label, rng), str, seen, n=n, index=i, split=split, what="utterances"
        )
        texts.append(text)
        labels.append(label)
    return {"text": texts, "label": labels}


def generate(
    seed: int = 0, *, sizes: Mapping[str, int] | None = None, label_noise: float = 0.0
) -> dict[str, dict[str, list]]:
    """Generate the intent-detection corpus.

    :param seed: Seed of the corpus; the same seed gives the same corpus everywhere.
    :param sizes: Utterances per split, e.g. ``{"train": 1000}``; missing splits keep their default
        (train 4000, validation 500, test 1000). Changing the train size does not change validation
        or test.
    :param label_noise: Fraction of *train* labels replaced by a uniformly drawn different label, in
        ``[0, 1]``; exactly ``round(label_noise * n_train)`` labels are changed. Validation and test
        stay clean.
    :return: ``{"train": {"text": [...], "label": [...]}, "validation": {...}, "test": {...}}`` where
        each label is an index into :data:`LABEL_NAMES`.
    :raises ValueError: On an unknown split, a negative or non-int size, a non-int seed, or
        ``label_noise`` outside ``[0, 1]``.
    """
    check_seed(seed)
    if not 0.0 <= label_noise <= 1.0:
        raise ValueError(f"label_noise must be in [0, 1], got {label_noise!r}")
    data = generate_splits("intents", seed, sizes, DEFAULT_SIZES, SPLITS, _generate_split)
    if label_noise > 0.0:
        rng = stream("intents", seed, "label_noise")
        labels = data["train"]["label"]
        n_noisy = round(label_noise * len(labels))
        for i in _permutation(len(labels), rng)[:n_noisy]:
            shift = 1 + int(rng.random() * (len(LABEL_NAMES) - 1))
            labels[i] = (labels[i] + shift) % len(LABEL_NAMES)
    return {split: data[split] for split in SPLITS}
