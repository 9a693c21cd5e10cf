"""Lesson 08 - a custom reward for ``DialogReply-v0``, written as a TRL-style keyword function.

What you learn
    * ``gym.make("DialogReply-v0", reward=fn)``: any callable replaces the built-in ``"f1"`` /
      ``"bleu"`` / ``"rouge_l"``; the env calls it once per reply, at the end of the episode, with
      keywords only: ``fn(*, context, reply, reference, **columns) -> float``, where ``context`` is the
      list of ``{"speaker", "text"}`` turns before the reply, ``reply`` the decoded reply, ``reference``
      the dataset's reply, and ``columns`` the extra ones (``dialogue_id``, ``turn_index``, ``index``,
      ``reply_ids``, ``truncated``); take ``**columns`` so that new columns never break your function;
    * composing rewards as TRL does: small named functions (content, politeness, brevity), a weight
      each, their weighted sum the reward, each one printed under its name;
    * testing a reward before training on it: play scripted replies (``env.unwrapped.parse_actions``
      turns a text into token actions + ``[EOS]``) and check that the reward ranks them as intended,
      and that the env's reward is exactly your function of what it received.

How to run
    python examples/08_custom_reward_dialogue.py            # 5 test dialogues, ~2 s on 2 CPU cores
    python examples/08_custom_reward_dialogue.py --smoke    # 1 test dialogue, for CI

Expected output (the embedded corpus is seeded: the same on every machine)
    DialogReply-v0 with reward='polite_and_brief': weights f1_to_reference 1.0, politeness 0.25, brevity 1.0
    test example 0: last context turn 'hi, i need a lift, picking me up at park avenue, leaving at 9 pm'
      reference 'where are you heading?'
    | scripted reply                                | f1_to_reference |      politeness |         brevity | reward |
    | 'certainly! where are you heading? thanks'    |           0.800 |           1.000 |           0.000 |  1.050 |
    | 'where are you heading?'                      |           1.000 |           0.000 |           0.000 |  1.000 |
    | 'where are you heading? where are you hea...' |           0.500 |           0.000 |          -0.030 |  0.470 |
    | 'no.'                                         |           0.000 |           0.000 |           0.000 |  0.000 |
      ranking: polite and right > right > right but rambling > curt and wrong
    ... (4 more test dialogues, same ranking)
    the reward function received: context (list of 3 turns, e.g. {'speaker': 'user', 'text': 'the west!'}), ...
      and columns ['dialogue_id', 'index', 'reply_ids', 'truncated', 'turn_index']: dialogue_id='test-00001', ...
    OK: the custom reward ranks the scripted replies as intended on 5 test dialogue(s) (polite and right >
        right > right but rambling > curt and wrong), and the env's reward is the function's value
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import gymnasium as gym  # noqa: E402

import nlp_envs  # noqa: E402,F401  (registers the ids)
from nlp_envs.metrics import unigram_f1  # noqa: E402

ENV_ID = "DialogReply-v0"
POLITE_WORDS = ("please", "thanks", "thank", "sorry", "certainly")


# -- the reward: three small TRL-style functions and their weighted sum ------------------------------
def f1_to_reference(*, reply: str, reference: str, **columns: Any) -> float:
    """Content: unigram F1 with the reference (the env's default reward)."""
    return unigram_f1(reply, reference)


def politeness(*, reply: str, **columns: Any) -> float:
    """1.0 for two or more politeness words, 0.5 for one, else 0.0."""
    words = re.findall(r"[a-z']+", reply.lower())
    return min(sum(w in POLITE_WORDS for w in words), 2) / 2


def brevity(*, reply: str, reference: str, truncated: bool, **columns: Any) -> float:
    """-0.01 per word beyond the reference's length + 5; -1.0 for a reply cut at max_reply_tokens."""
    extra = len(reply.split()) - len(reference.split()) - 5
    if truncated:
        return -1.0
    return -0.01 * extra if extra > 0 else 0.0


REWARD_FUNCS: dict[Callable[..., float], float] = {f1_to_reference: 1.0, politeness: 0.25, brevity: 1.0}
CALLS: list[dict[str, Any]] = []  # what the env passed, recorded for this lesson


def polite_and_brief(*, context: list[dict[str, str]], reply: str, reference: str, **columns: Any) -> float:
    """The reward the env calls: weighted sum of :data:`REWARD_FUNCS`."""
    CALLS.append({"context": context, "reply": reply, "reference": reference, **columns})
    return sum(w * f(context=context, reply=reply, reference=reference, **columns) for f, w in REWARD_FUNCS.items())


def scripted_replies(reference: str) -> list[tuple[str, str]]:
    """(description, reply) in the intended order, best first."""
    return [
        ("polite and right", f"certainly! {reference} thanks"),
        ("right", reference),
        ("right but rambling", " ".join([reference] * 3)),
        ("curt and wrong", "no."),
    ]


def play(env: gym.Env, index: int, text: str) -> tuple[float, dict[str, Any]]:
    """One episode on example ``index``: write ``text`` then ``[EOS]``; return (reward, last info)."""
    env.reset(options={"index": index})
    total, info = 0.0, {}
    for action in env.unwrapped.parse_actions(text):
        _, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        if terminated or truncated:
            break
    return total, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5, help="test dialogues to check")
    parser.add_argument("--smoke", action="store_true", help="1 test dialogue, for CI")
    args = parser.parse_args()
    examples = 1 if args.smoke else args.examples

    # max_reply_tokens=96 leaves room for the rambling reply (the default, 32 tokens, would cut it).
    env = gym.make(ENV_ID, split="test", reward=polite_and_brief, max_reply_tokens=96, info_mode="full")
    print(f"{ENV_ID} with reward={env.unwrapped.reward_name!r}: weights "
          + ", ".join(f"{f.__name__} {w}" for f, w in REWARD_FUNCS.items()))

    intended = [name for name, _ in scripted_replies("x")]
    for index in range(examples):
        _, info = play(env, index, "")  # an empty reply, only to read the reference from info
        reference = info["reference"]
        print(f"\ntest example {index}: last context turn {env.unwrapped.context_turns(index)[-1]['text']!r}")
        print(f"  reference {reference!r}")
        print(f"| {'scripted reply':45s} | " + " | ".join(f"{f.__name__:>15s}" for f in REWARD_FUNCS) + " | reward |")
        print(f"|{'-' * 47}|" + "|".join("-" * 17 for _ in REWARD_FUNCS) + "|--------|")
        rewards = []
        for name, text in scripted_replies(reference):
            reward, info = play(env, index, text)
            call = CALLS[-1]
            parts = [f(**call) for f in REWARD_FUNCS]
            shown = text if len(text) <= 43 else text[:40] + "..."
            print(f"| {shown!r:45s} | " + " | ".join(f"{p:15.3f}" for p in parts) + f" | {reward:6.3f} |")
            # the env's reward is exactly our function of what the env passed (and info["score"] too)
            assert abs(reward - polite_and_brief(**call)) < 1e-12 and abs(reward - info["score"]) < 1e-12
            CALLS.pop()  # the check above called it once more
            rewards.append(reward)
        ranked = [intended[i] for i in sorted(range(len(rewards)), key=lambda i: -rewards[i])]
        print(f"  ranking: {' > '.join(ranked)}")
        # The key claim: the custom reward ranks the scripted replies as intended.
        assert ranked == intended, f"example {index}: ranked {ranked}, intended {intended}"

    # What the function received (the last call): context, reply, reference and the extra columns.
    call = CALLS[-1]
    columns = sorted(k for k in call if k not in ("context", "reply", "reference"))
    print(f"\nthe reward function received: context (list of {len(call['context'])} turns, e.g. "
          f"{call['context'][-1]}), reply {call['reply']!r}, reference {call['reference']!r},\n  and columns "
          f"{columns}: " + ", ".join(f"{k}={call[k]!r}" for k in ("dialogue_id", "turn_index", "index", "truncated")))
    assert {"dialogue_id", "turn_index", "index", "reply_ids", "truncated"} <= set(columns), columns
    assert isinstance(call["context"], list) and {"speaker", "text"} <= set(call["context"][-1])
    env.close()
    print(f"OK: the custom reward ranks the scripted replies as intended on {examples} test dialogue(s) "
          f"({' > '.join(intended)}), and the env's reward is the function's value")


if __name__ == "__main__":
    main()
