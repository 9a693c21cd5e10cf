"""Text mode (``obs_mode="text"``): every family as a prompt-in, string-out environment for language models.

``gym.make(env_id, obs_mode="text")`` keeps the task, the data, the splits, the rewards and the metrics of
the id, and changes only what the agent sees and says:

* the observation is a ``gymnasium.spaces.Text`` prompt, rendered from the family's fixed template (its
  :class:`TextCodec`: the task, the label set or the options, the input), at most ``max_prompt_chars``
  characters: the input part is cut to fit (the start of a text, the end of a dialogue context) and
  marked with ``...``;
* the action is a ``Text`` string of at most ``max_answer_chars`` characters: the answer for the unit on
  show, which is the whole episode (every tag of a sentence, every label of a set, the whole reply) except
  for classification with ``examples_per_episode > 1`` (one answer per text);
* the answer is parsed by the codec into the family's int actions, which are stepped through the same
  step kernel as the token-id mode: the reward of a text step is the return of those steps (entity F1 of
  the sentence, F1 of the label set, the reply reward...), and ``info`` is the info of the last of them;
* an answer that does not parse (or is longer than ``max_answer_chars``) is no exception: the unit ends
  as "no answer" (the codec's :meth:`TextCodec.no_answer` actions, scored by the split metrics as a miss:
  no entity, no label, no option), the reward is ``parse_error_reward`` (default ``0.0``) and
  ``info["parse_error"]`` says why. ``info["parse_error"]`` is ``""`` on every other reset and step.

The spaces' character set is printable ASCII plus every character of the split's strings (texts, label
names, options, candidates: :meth:`TextCodec.chars`), so every prompt lies in the observation space
(``check_env`` checks it). Answers may hold any character: ``step`` accepts any ``str``; the action
space's characters are what ``action_space.sample()`` draws from. An action that is not a ``str`` raises
``gymnasium.error.InvalidAction``.

A family declares its text interface once, in its contract (``Family.text``, a :class:`TextCodec`);
this module owns the mechanics (spaces, prompts that fit, the step of a whole answer) and
:class:`TextVectorEnv`, the vector env of text mode (a ``SyncVectorEnv`` of text-mode envs: strings do
not batch into arrays, and a language model, not the env, is the cost).
"""

from __future__ import annotations

import functools
import string
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

if TYPE_CHECKING:
    from nlp_envs.core import NlpEnv

#: Default ``max_prompt_chars``: the longest prompt (the input part is cut to fit).
DEFAULT_MAX_PROMPT_CHARS = 8192
#: Default ``max_answer_chars``: the longest answer that is parsed (a longer one is a parse error).
DEFAULT_MAX_ANSWER_CHARS = 4096
#: The marker of a cut input.
ELLIPSIS = "..."
_BASE_CHARSET = frozenset(string.printable)


@dataclass(frozen=True)
class Parsed:
    """An answer parsed by a :class:`TextCodec`.

    Attributes:
        actions: the int actions of the unit, in order (stepped until the unit ends).
        error: why the answer did not parse (``""``: it parsed; ``actions`` are then ignored).
    """

    actions: tuple[int, ...] = ()
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def fail(why: str) -> Parsed:
    """A parse failure saying ``why``."""
    return Parsed((), why)


class TextCodec(ABC):
    """The text interface of one family: its prompt template, its answer parser, what "no answer" is.

    A codec reads the env through its public attributes and methods only (``current_index``, label and
    tag names, the example's words, options, candidates, context). It is stateless (one instance serves
    every env of the family) and must never raise on an answer string: a bad answer is a
    :class:`Parsed` with an ``error``. The actions it gives are stepped without the int-mode action check, so
    they must be valid: in range, and allowed by the action mask where the env's ``strict=True`` would
    refuse a masked action (such an answer is a parse error of the codec).
    """

    #: the prompt template as documented (docs pages show it; ``{...}`` are the parts filled in)
    template: ClassVar[str]
    #: the accepted answer formats, in words (docs pages show it)
    answer_formats: ClassVar[str]
    #: info values of a step whose answer did not parse, set over the info of the no-answer actions
    #: (e.g. ``{"prediction": -1, "correct": False}``: the split metrics count a miss)
    no_answer_info: ClassVar[dict[str, Any]] = {}

    @abstractmethod
    def prompt(self, env: NlpEnv, max_chars: int) -> str:
        """The prompt of the unit on show (at most ``max_chars`` characters: cut the input with :func:`fit`)."""

    @abstractmethod
    def parse(self, env: NlpEnv, answer: str) -> Parsed:
        """The int actions of ``answer`` for the unit on show, or the reason it does not parse."""

    @abstractmethod
    def no_answer(self, env: NlpEnv) -> tuple[int, ...]:
        """Actions that end the unit on show as "no answer" (no entity, the empty set, the empty reply...)."""

    @abstractmethod
    def gold_answer(self, env: NlpEnv) -> str:
        """The gold answer of the unit on show, in the documented format (scripted agents, tests, TRL)."""

    @abstractmethod
    def chars(self, env: NlpEnv) -> set[str]:
        """Every character that a prompt of this split may contain, besides the template's (for the spaces'
        character set; :meth:`nlp_envs.prepared.TextColumn.chars` reads a whole column at once)."""

    def messages(self, env: NlpEnv, prompt: str) -> list[dict[str, str]]:
        """The prompt as chat messages (TRL's conversational format)."""
        return [{"role": "user", "content": prompt}]


def fit(head: str, body: str, tail: str, max_chars: int, *, keep: str = "start") -> str:
    """``head + body + tail`` in at most ``max_chars`` characters: ``body`` is cut (its start kept, or
    with ``keep="end"`` its end, as for a dialogue context) and marked with :data:`ELLIPSIS`. Fails when
    ``head + tail`` alone do not fit (raise ``max_prompt_chars``)."""
    room = max_chars - len(head) - len(tail)
    if len(body) <= room:
        return head + body + tail
    if room < len(ELLIPSIS) + 1:
        raise ValueError(f"max_prompt_chars={max_chars} leaves no room for the input: the rest of the prompt "
                         f"(task, labels, options) is {len(head) + len(tail)} characters; raise max_prompt_chars")
    cut = room - len(ELLIPSIS)
    body = body[:cut] + ELLIPSIS if keep == "start" else ELLIPSIS + body[len(body) - cut:]
    return head + body + tail


def normalize(s: str) -> str:
    """Case- and whitespace-insensitive form of an answer or a name: lower case, inner whitespace runs one
    space, no leading or trailing whitespace, and no trailing ``.``."""
    return " ".join(s.split()).lower().rstrip(".").strip()


def label_key(name: str) -> str:
    """A label name or an answer, compared: :func:`normalize`, with ``_`` and ``-`` as spaces."""
    return normalize(name.replace("_", " ").replace("-", " "))


@functools.lru_cache(maxsize=64)
def label_lookup(names: tuple[str, ...]) -> dict[str, int]:
    """answer key -> label id (exact names first; a key shared by two labels maps to -1: ambiguous)."""
    out: dict[str, int] = {}
    for i, n in enumerate(names):
        k = label_key(n)
        out[k] = -1 if k in out and out[k] != i else i
    return out


def first_line(answer: str) -> str:
    """The first non-empty line of an answer, without surrounding quotes, backticks or ``*``."""
    line = next((ln for ln in answer.splitlines() if ln.strip()), "")
    return line.strip().strip("`'\"*").strip()


def strip_prefix(line: str, prefixes: tuple[str, ...]) -> str:
    """``line`` without one leading ``prefix:`` (any case), e.g. ``"Label: billing"`` -> ``"billing"``."""
    low = line.lower()
    for p in prefixes:
        if low.startswith(p + ":"):
            return line[len(p) + 1:].strip().strip("`'\"*").strip()
    return line


def charset(codec: TextCodec, env: NlpEnv) -> str:
    """Printable ASCII plus every character of the split's strings (sorted: a stable space)."""
    chars = set(_BASE_CHARSET) | codec.chars(env)
    chars.update(codec.template)
    chars.update(ELLIPSIS)
    return "".join(sorted(chars))


def text_spaces(env: NlpEnv, codec: TextCodec, max_prompt_chars: int, max_answer_chars: int
                ) -> tuple[spaces.Text, spaces.Text]:
    """The observation (prompt) and action (answer) spaces of ``env`` in text mode."""
    chars = charset(codec, env)
    return (spaces.Text(max_length=max_prompt_chars, min_length=0, charset=chars),
            spaces.Text(max_length=max_answer_chars, min_length=0, charset=chars))


def check_text_limits(max_prompt_chars: Any, max_answer_chars: Any) -> None:
    for name, v in (("max_prompt_chars", max_prompt_chars), ("max_answer_chars", max_answer_chars)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 16:
            raise ValueError(f"{name}={v!r} must be an int >= 16")


class TextVectorEnv(gym.vector.SyncVectorEnv):
    """The vector env of text mode: ``num_envs`` text-mode envs stepped one after the other.

    Built by the native vector env class when given ``obs_mode="text"`` (so ``gym.make_vec(id, n,
    obs_mode="text")`` works), with the native env's example order: in ``order="sequential"`` sub-env ``i``
    visits ``indices[i::num_envs]`` of its shard, in ``order="shuffle"`` each sub-env its own permutation
    of the whole shard; sub-env ``i`` is seeded ``seed + i``. Observations and actions are tuples of
    strings. ``shard_sizes``, ``autoresetting`` and ``make_evaluator`` are the native vector env's, so
    :func:`nlp_envs.evaluate` runs text policies the same way.
    """

    def __init__(self, env_class: type, num_envs: int = 1, *, order: str = "shuffle", shard_index: int = 0,
                 num_shards: int = 1, autoreset_mode: Any = gym.vector.AutoresetMode.NEXT_STEP,
                 **env_kwargs: Any) -> None:
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs={num_envs!r} must be a positive int")
        env_kwargs = {**env_kwargs, "obs_mode": "text", "order": order}

        def maker(i: int) -> Any:
            if order == "sequential":
                kw = {"shard_index": shard_index + i * num_shards, "num_shards": num_shards * num_envs}
            else:
                kw = {"shard_index": shard_index, "num_shards": num_shards}
            return lambda: env_class(**env_kwargs, **kw)

        if order == "sequential":
            probe = env_class(**{**env_kwargs, "shard_index": shard_index, "num_shards": num_shards})
            n = len(range(shard_index, probe.num_examples, num_shards))
            probe.close()
            if n < num_envs:
                raise ValueError(f"order='sequential' with {num_envs} sub-envs needs at least {num_envs} "
                                 f"examples; the split (shard) has {n}: use fewer envs")
        super().__init__([maker(i) for i in range(num_envs)], autoreset_mode=autoreset_mode)
        self.env_class = env_class
        self.family = env_class.family
        self.order = order
        self.obs_mode = "text"
        self._done = np.zeros(num_envs, dtype=bool)

    @property
    def env(self) -> Any:
        """The first sub-env (the native vector env's template env)."""
        return self.envs[0]

    @property
    def shard_sizes(self) -> np.ndarray:
        """Examples per pass of each sub-env."""
        return np.array([e.unwrapped.shard_size for e in self.envs], dtype=np.int64)

    @property
    def autoresetting(self) -> np.ndarray:
        """Sub-envs whose next ``step`` is an autoreset (NEXT_STEP; their action is ignored)."""
        if self.autoreset_mode != gym.vector.AutoresetMode.NEXT_STEP:
            return np.zeros(self.num_envs, dtype=bool)
        return np.asarray(self._autoreset_envs, dtype=bool).copy()

    def make_evaluator(self) -> Any:
        """The family's evaluator (:meth:`nlp_envs.core.NlpEnv.make_evaluator`)."""
        return self.env.unwrapped.make_evaluator(self.num_envs)


def as_answers(out: Any, num_envs: int, name: str) -> tuple[str, ...]:
    """A text policy's output as a tuple of ``num_envs`` answers (a clear error otherwise)."""
    if isinstance(out, str) or not isinstance(out, Sequence) or len(out) != num_envs:
        got = type(out).__name__ if not isinstance(out, Sequence) or isinstance(out, str) else f"{len(out)} items"
        raise ValueError(f"{name}: a text policy must return a list of {num_envs} strings (one per prompt); got {got}")
    bad = [i for i, a in enumerate(out) if not isinstance(a, str)]
    if bad:
        raise ValueError(f"{name}: answer {bad[0]} is {type(out[bad[0]]).__name__}, not a str")
    return tuple(out)


__all__ = ["DEFAULT_MAX_ANSWER_CHARS", "DEFAULT_MAX_PROMPT_CHARS", "ELLIPSIS", "Parsed", "TextCodec",
           "TextVectorEnv", "as_answers", "charset", "fail", "first_line", "fit", "label_key", "label_lookup",
           "normalize", "strip_prefix", "text_spaces"]
