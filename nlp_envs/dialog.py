"""Dialogue reply generation: read a dialogue, write the next reply one token at a time.

This module also holds what the two dialogue families share (:class:`DialogEnvBase`): the shared
vocabulary with speaker markers and ``[EOS]``, the (context, reference) pairs of a split and the
left-truncated context arrays. Reply selection lives in :mod:`nlp_envs.dialog_select`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from gymnasium.error import InvalidAction

from nlp_envs import data
from nlp_envs.core import NO_ID, NO_SCORE, NlpEnv, NlpVectorEnv, check_flag, int_box, take_texts
from nlp_envs.family import GOLD_EPISODES, DataSchema, Family, GoldEpisodes, register_family
from nlp_envs.metrics import distinct_n, rouge_l, sentence_bleu, unigram_f1
from nlp_envs.prepared import ListColumn, Prepared, TextColumn, cache_key, get_prepared
from nlp_envs.readers import DataError, dialogue_pairs
from nlp_envs.text_mode import Parsed, TextCodec, fail, fit
from nlp_envs.tokenization import TextEncoder, build_encoder

#: Marker before each turn of the replying speaker, and before the reply itself (end of the context).
SYS_TOKEN = "[SYS]"
#: Marker before each turn of any other speaker.
USR_TOKEN = "[USR]"
#: End of a reply (the action that terminates a DialogReply episode).
EOS_TOKEN = "[EOS]"
#: Special tokens added to the shared dialogue vocabulary, after ``[PAD] [UNK] [CLS] [SEP] [MASK]``.
DIALOG_SPECIAL_TOKENS: tuple[str, ...] = (USR_TOKEN, SYS_TOKEN, EOS_TOKEN)

#: Built-in episode-end rewards: name -> ``metric(reply, reference) -> float``.
REWARDS: dict[str, Callable[[str, str], float]] = {"f1": unigram_f1, "bleu": sentence_bleu, "rouge_l": rouge_l}

#: ``action_mask=`` values.
ACTION_MASKS = (None, "train_replies")

_CHUNK = 8192  # rows per gather when packing token arrays (bounds temporary memory)


# -- preparation helpers (shared with dialog_select) ------------------------------------------------


def dialog_encoder(data: Any, spec: Any, vocab_size: int) -> TextEncoder:
    """The shared dialogue tokenizer: WordPiece trained on the distinct train turn texts (contexts and
    replies) by default, with :data:`DIALOG_SPECIAL_TOKENS` added."""
    train = data.splits.get("train")
    texts = None
    if train is not None:
        texts = list(dict.fromkeys(t["text"] for turns in train["turns"] for t in turns))
    return build_encoder(spec, train_texts=texts, vocab_size=vocab_size, extra_special_tokens=DIALOG_SPECIAL_TOKENS)


def _read_only(arr: np.ndarray) -> np.ndarray:
    """A view of ``arr`` that cannot be written (the env's prepared arrays are shared by every env of the split)."""
    view = arr.view()
    view.flags.writeable = False
    return view


def ids_dtype(vocab_size: int) -> Any:
    """Smallest dtype holding every token id (prepared arrays are widened to int64 when observed)."""
    return np.uint16 if vocab_size <= np.iinfo(np.uint16).max else np.int32


def ragged_ids(encoder: TextEncoder, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of ``texts`` (no special tokens) as flat ``values`` + ``offsets`` (``len + 1``).

    Each distinct text is encoded once (dialogue turns repeat: about a quarter of SGD's).
    """
    distinct = list(dict.fromkeys(texts))
    position = {t: k for k, t in enumerate(distinct)}
    encs = encoder.backend.encode_batch(distinct, add_special_tokens=False)
    which = np.fromiter((position[t] for t in texts), dtype=np.int64, count=len(texts))
    dist_len = np.fromiter((len(e.ids) for e in encs), dtype=np.int64, count=len(encs))
    dist_off = np.zeros(len(encs) + 1, dtype=np.int64)
    np.cumsum(dist_len, out=dist_off[1:])
    dist_values = np.fromiter((i for e in encs for i in e.ids), dtype=np.int64, count=int(dist_off[-1]))
    lengths = dist_len[which]
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    # gather each text's ids from its distinct copy: position p of the output reads dist_values at
    # dist_off[which[row(p)]] + (p - offsets[row(p)])
    row = np.repeat(np.arange(len(texts)), lengths)
    values = dist_values[dist_off[which][row] + np.arange(int(offsets[-1])) - offsets[row]] if len(row) else dist_values[:0]
    return values, offsets


def split_turn_ids(encoder: TextEncoder, data: Any, split: str, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`ragged_ids` of all turn texts of a split, cached on disk (shared by DialogReply and
    DialogSelect, whose prepared arrays are cached separately)."""
    key = cache_key("dialog-turn-ids", 1, data.fingerprint, split, encoder.fingerprint)

    def build() -> Prepared:
        values, offsets = ragged_ids(encoder, texts)
        return Prepared(encoder=encoder, lists={"turns": ListColumn(values, offsets)}, meta={"num_turns": len(texts)})

    prep = get_prepared(key, build)
    values, offsets = prep.lists["turns"].arrays()
    if len(offsets) != len(texts) + 1:
        raise RuntimeError(f"cached turn ids of {data.name!r} {split!r} do not match the data: clear the cache")
    return np.asarray(values, dtype=np.int64), np.asarray(offsets, dtype=np.int64)


def pack_rows(
    values: np.ndarray, starts: np.ndarray, lengths: np.ndarray, width: int, dtype: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``values[starts[i] : starts[i] + min(lengths[i], width)]``, left-aligned and padded with 0.

    Returns ``(ids (n, width), kept lengths (n,))``; vectorised gathers in chunks of rows.
    """
    n = len(starts)
    out = np.zeros((n, width), dtype=dtype)
    kept = np.minimum(lengths, width).astype(np.int64)
    cols = np.arange(width, dtype=np.int64)
    for a in range(0, n, _CHUNK):
        b = min(n, a + _CHUNK)
        idx = starts[a:b, None] + cols[None, :]
        valid = cols[None, :] < kept[a:b, None]
        out[a:b] = np.where(valid, values[np.where(valid, idx, 0)] if len(values) else 0, 0)
    return out, kept


def context_rows(
    turn_values: np.ndarray,
    turn_offsets: np.ndarray,
    is_reply_speaker: np.ndarray,
    ctx_start: np.ndarray,
    ctx_count: np.ndarray,
    width: int,
    encoder: TextEncoder,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The context arrays: turns ``[ctx_start, ctx_start + ctx_count)`` of the flat turn list, each
    preceded by its speaker marker, then the ``[SYS]`` marker of the reply to come; when longer than
    ``width`` tokens, the LAST ``width`` are kept (the oldest kept turn may start mid-turn).

    Returns ``(ids (n, width), lengths (n,), truncated (n,))``.
    """
    sys_id, usr_id = encoder.token_to_id(SYS_TOKEN), encoder.token_to_id(USR_TOKEN)
    num_turns = len(turn_offsets) - 1
    # one token stream for the whole split: [marker] turn tokens, [marker] turn tokens, ...
    stream = np.empty(len(turn_values) + num_turns, dtype=np.int64)
    marker_pos = turn_offsets[:-1] + np.arange(num_turns)
    is_token = np.ones(len(stream), dtype=bool)
    is_token[marker_pos] = False
    stream[marker_pos] = np.where(is_reply_speaker, sys_id, usr_id)
    stream[is_token] = turn_values
    stream_start = np.append(marker_pos, len(stream))  # turn k occupies [stream_start[k], stream_start[k+1])
    first = stream_start[ctx_start]
    end = stream_start[ctx_start + ctx_count]
    begin = np.maximum(first, end - (width - 1))  # keep room for the closing [SYS]
    ids, lengths = pack_rows(stream, begin, end - begin, width, ids_dtype(encoder.vocab_size))
    ids[np.arange(len(ids)), lengths] = sys_id
    return ids, lengths + 1, begin > first


def one_line(text: str) -> str:
    """``text`` with its line breaks (any of ``str.splitlines``'s) made spaces: one turn or candidate per line
    of a text-mode prompt."""
    return " ".join(text.splitlines())


class DialogPairs:
    """The (context, reference) pairs of one split, with the split's turns stored flat.

    Attributes (numpy, one row per pair unless said): ``dialogue_id`` / ``reference`` (lists),
    ``turn_index``, ``record`` (position of the dialogue in the split), ``ctx_start`` / ``ctx_count``
    (the context turns in the flat turn list), ``reply_turn`` (the reply's turn in the flat list);
    ``turn_text`` / ``turn_speaker`` (lists over all turns of the split), ``turn_values`` /
    ``turn_offsets`` (token ids of every turn).
    """

    def __init__(self, data: Any, split: str, reply_speaker: str, encoder: TextEncoder) -> None:
        dialogues = data.split(split)
        where = f"dataset {data.name!r} split {split!r}"
        pairs = dialogue_pairs(dialogues, reply_speaker=reply_speaker, max_context_turns=1)
        turns_per_dialogue = [len(t) for t in dialogues["turns"]]
        pairs_per_dialogue = [
            sum(1 for t in turns[1:] if t["speaker"] == reply_speaker) for turns in dialogues["turns"]
        ]
        if not pairs["reference"]:
            speakers = sorted({t["speaker"] for turns in dialogues["turns"] for t in turns})
            raise DataError(
                f"{where}: no turn i > 0 is spoken by reply_speaker={reply_speaker!r}, so there is no "
                f"(context, reply) pair; speakers found: {speakers}. Pass reply_speaker=<one of them>"
            )
        assert sum(pairs_per_dialogue) == len(pairs["reference"])
        self.dialogue_id: list[str] = [str(d) for d in pairs["dialogue_id"]]
        self.reference: list[str] = pairs["reference"]
        self.turn_index = np.asarray(pairs["turn_index"], dtype=np.int64)
        self.record = np.repeat(np.arange(len(turns_per_dialogue)), pairs_per_dialogue)
        dialogue_start = np.zeros(len(turns_per_dialogue) + 1, dtype=np.int64)
        np.cumsum(turns_per_dialogue, out=dialogue_start[1:])
        self.ctx_start = dialogue_start[self.record]
        self.ctx_count = self.turn_index.copy()
        self.reply_turn = self.ctx_start + self.turn_index
        self.turn_text = [t["text"] for turns in dialogues["turns"] for t in turns]
        self.turn_speaker = [t["speaker"] for turns in dialogues["turns"] for t in turns]
        self.turn_values, self.turn_offsets = split_turn_ids(encoder, data, split, self.turn_text)

    def reply_tokens(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(values, starts, lengths)`` of each pair's reply tokens inside :attr:`turn_values`."""
        starts = self.turn_offsets[self.reply_turn]
        return self.turn_values, starts, self.turn_offsets[self.reply_turn + 1] - starts


class DialogEnvBase(NlpEnv):
    """What DialogReply and DialogSelect share: data options, the vocabulary, the context arrays and
    rendering of the context (see :class:`DialogReplyEnv` for the documentation)."""

    default_dataset = "dialogs"

    def __init__(
        self,
        dataset: Any = None,
        split: str = "train",
        *,
        reply_speaker: str = "system",
        max_context_tokens: int = 128,
        max_reply_tokens: int = 32,
        speaker_key: str = "speaker",
        text_key: str = "text",
        turns_key: str = "turns",
        **kwargs: Any,
    ) -> None:
        if "max_length" in kwargs:
            raise ValueError("dialogue envs take max_context_tokens= and max_reply_tokens=, not max_length=")
        if not isinstance(reply_speaker, str) or not reply_speaker:
            raise ValueError(f"reply_speaker={reply_speaker!r} must be a non-empty string (e.g. 'system')")
        if not isinstance(max_reply_tokens, int) or max_reply_tokens < 2:
            raise ValueError(f"max_reply_tokens={max_reply_tokens!r} must be an int >= 2")
        if not isinstance(max_context_tokens, int) or max_context_tokens < 4:
            raise ValueError(f"max_context_tokens={max_context_tokens!r} must be an int >= 4")
        self.reply_speaker = reply_speaker
        self.max_context_tokens = max_context_tokens
        self.max_reply_tokens = max_reply_tokens
        super().__init__(
            dataset=dataset, split=split, max_length=max_context_tokens,
            columns={"speaker_key": speaker_key, "text_key": text_key, "turns_key": turns_key}, **kwargs,
        )
        arrays = self.prepared.arrays
        self._ctx_ids, self._ctx_len = arrays["context_ids"], arrays["context_len"]
        self._ctx_truncated = arrays["context_truncated"]
        self._ctx_start, self._ctx_count = arrays["ctx_start"], arrays["ctx_count"]
        self._turn_index = arrays["turn_index"]
        texts = self.prepared.texts
        self._turn_text, self._turn_speaker = texts["turn_text"], texts["turn_speaker"]
        self._dialogue_ids, self._references = texts["dialogue_id"], texts["reference"]
        self.eos_id: int = int(self.encoder.token_to_id(EOS_TOKEN))
        self.vocab_size: int = self.encoder.vocab_size
        self._positions = np.arange(max(max_context_tokens, max_reply_tokens), dtype=np.int64)

    def _prep_settings(self) -> Any:
        return {"reply_speaker": self.reply_speaker, "max_reply_tokens": self.max_reply_tokens}

    # -- read-only views of the split (analyses, baselines; never written) --------------------------------
    @property
    def references(self) -> TextColumn:
        """The reference reply of each example, ``references[i]`` a string (a read-only column of
        ``num_examples`` rows; ``len``, ``[i]``, ``take(indices)``, iteration)."""
        return self._references

    @property
    def context_ids(self) -> np.ndarray:
        """Context token ids of each example, ``(num_examples, max_context_tokens)``, right-padded with 0 (the
        observation's ``context_ids`` before ``int64``; a read-only view)."""
        return _read_only(self._ctx_ids)

    @property
    def context_lengths(self) -> np.ndarray:
        """Tokens in each row of :attr:`context_ids` (the observation's ``context_mask`` sums; read-only)."""
        return _read_only(self._ctx_len)

    @property
    def context_truncated(self) -> np.ndarray:
        """``bool (num_examples,)``: the context was longer than ``max_context_tokens`` and keeps only its last
        tokens (``info["truncated_context"]``; read-only)."""
        return _read_only(self._ctx_truncated)

    def _prepare_common(self, split: str) -> tuple[TextEncoder, DialogPairs, dict[str, np.ndarray], dict[str, TextColumn]]:
        """Encoder, the split's pairs and the context arrays/texts every dialogue env stores."""
        encoder = dialog_encoder(self.data, self._tokenizer_spec, self._vocab_size)
        pairs = DialogPairs(self.data, split, self.reply_speaker, encoder)
        arrays, texts = self._context_arrays(
            encoder, pairs.turn_values, pairs.turn_offsets, pairs.turn_text, pairs.turn_speaker,
            pairs.ctx_start, pairs.ctx_count,
        )
        arrays["turn_index"] = pairs.turn_index
        texts["dialogue_id"] = TextColumn.from_strings(pairs.dialogue_id)
        texts["reference"] = TextColumn.from_strings(pairs.reference)
        return encoder, pairs, arrays, texts

    def _context_arrays(self, encoder: TextEncoder, turn_values: np.ndarray, turn_offsets: np.ndarray,
                        turn_text: list[str], turn_speaker: list[str], ctx_start: np.ndarray,
                        ctx_count: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, TextColumn]]:
        is_reply = np.array([s == self.reply_speaker for s in turn_speaker], dtype=bool)
        ids, lengths, truncated = context_rows(
            turn_values, turn_offsets, is_reply, ctx_start, ctx_count, self.max_context_tokens, encoder
        )
        arrays = {"context_ids": ids, "context_len": lengths, "context_truncated": truncated,
                  "ctx_start": ctx_start, "ctx_count": ctx_count}
        texts = {"turn_text": TextColumn.from_strings(turn_text), "turn_speaker": TextColumn.from_strings(turn_speaker)}
        return arrays, texts

    # -- shared helpers -----------------------------------------------------------------------
    def _context_obs(self, i: int) -> dict[str, np.ndarray]:
        return {
            "context_ids": self._ctx_ids[i].astype(np.int64),
            "context_mask": (self._positions[: self.max_context_tokens] < self._ctx_len[i]).astype(np.int64),
        }

    def context_turns(self, index: int) -> list[dict[str, str]]:
        """The full (untruncated) context of example ``index``: ``[{"speaker", "text"}, ...]``, oldest first."""
        start, count = int(self._ctx_start[index]), int(self._ctx_count[index])
        return [{"speaker": self._turn_speaker[k], "text": self._turn_text[k]} for k in range(start, start + count)]

    def _base_info(self, idx: Any) -> dict[str, Any]:
        """Info of the examples ``idx`` (an index array in the vector env, one index in the single env)."""
        info = {"index": idx, "turn_index": self._turn_index[idx]}
        if self.info_mode == "full":
            info["dialogue_id"] = take_texts(self._dialogue_ids, idx)
        return info

    # -- text (text mode: nlp_envs.text_mode) ---------------------------------------------------------
    @staticmethod
    def speaker_label(speaker: str) -> str:
        """A speaker as text mode names it: the name from the data, its first letter upper case
        (``"user"`` -> ``"User"``, ``"system"`` -> ``"System"``)."""
        return speaker[:1].upper() + speaker[1:]

    def context_text(self, index: int) -> str:
        """The full (untruncated) context of example ``index`` as text mode shows it, oldest turn first, one
        turn a line: ``Speaker: text`` (:meth:`speaker_label`; the raw turn text, its line breaks made
        spaces). Text mode does not apply ``max_context_tokens`` (the token-id context); its prompt cuts the
        START of this text when it is longer than the prompt allows (``max_prompt_chars``)."""
        return "\n".join(f"{self.speaker_label(t['speaker'])}: {one_line(t['text'])}"
                         for t in self.context_turns(index))

    def context_chars(self) -> set[str]:
        """Every character :meth:`context_text` may hold for an example of the split, and those of the
        reply speaker's label (for text mode's character set: one decode of the turn columns)."""
        speakers = self._turn_speaker.chars() | set(self.reply_speaker)
        return (self._turn_text.chars() | speakers | set("".join(c.upper() for c in speakers))
                | set(self.speaker_label(self.reply_speaker)))

    def _render_context(self, i: int, last: int = 6) -> list[str]:
        turns = self.context_turns(i)
        lines = [f"[{self.split} #{i}] dialogue {self._dialogue_ids[i]}, turn {int(self._turn_index[i])}"]
        if len(turns) > last:
            lines.append(f"  ... ({len(turns) - last} earlier turns)")
        lines += [f"  {t['speaker']}: {t['text']}" for t in turns[-last:]]
        return lines


def reply_step(eos_id: int, max_reply_tokens: int, token_penalty: float, actions: Any, length: Any
               ) -> tuple[Any, Any, Any, Any]:
    """The step kernel of reply generation, for a batch (numpy arrays: the vector env) or one env
    (Python scalars: the single env), the same code for both.

    ``actions`` (token ids) are written at position ``length`` of the replies. Returns ``(rewards,
    terminated, truncated, length)``: ``[EOS]`` terminates, ``max_reply_tokens`` tokens without it
    truncate; the reward is ``-token_penalty``, to which the episode's end adds the reply's score
    (:meth:`DialogReplyEnv.score_reply`: decoding is not a kernel operation).
    """
    length = length + 1
    terminated = actions == eos_id
    truncated = (terminated ^ True) & (length >= max_reply_tokens)
    return 0.0 * actions - token_penalty, terminated, truncated, length


class DialogReplyEnv(DialogEnvBase):
    """## Description

    Dialogue reply generation as an environment: the agent reads a dialogue and writes the next
    reply of the ``reply_speaker`` (the system) one token per step; the episode ends with ``[EOS]``
    or at ``max_reply_tokens`` and the reply is scored against the reference. One episode = one
    (context, reference) pair: every turn ``i > 0`` of the replying speaker, with the turns before
    it as context. The default dataset is an embedded, seeded task-oriented corpus (``"dialogs"``:
    restaurant/taxi/coffee/hotel bookings whose system side follows a fixed policy, see
    :mod:`nlp_envs.corpora.dialog`); ``DialogReply-v1`` reads ``"dialogs-v1"`` instead, whose every
    reply echoes the names, times, places, dates and quantities the user gave
    (:mod:`nlp_envs.corpora.dialog_v1`), so that a reply that ignores the context scores low; ``"sgd"`` (Schema-Guided Dialogue) and ``"taskmaster4"``
    (Taskmaster-4) read the shared data directory; a JSONL file of ``{"turns": [{"speaker",
    "text"}, ...]}`` dialogues (or a folder of ``train/validation/test`` files) brings your own.

    ## Action Space

    ``Discrete(vocab_size)``: the id of the next reply token in the shared dialogue vocabulary
    (``env.unwrapped.encoder``; by default a WordPiece vocabulary trained on the train split's
    contexts and replies, plus the specials ``[PAD] [UNK] [CLS] [SEP] [MASK] [USR] [SYS] [EOS]``).
    ``env.unwrapped.eos_id`` ends the reply.

    Action mask: with ``action_mask="train_replies"`` only the tokens that occur in some train
    reply, plus ``[EOS]``, are allowed; the (constant) mask is ``env.unwrapped.action_masks()`` and
    ``info["action_mask"]`` (``bool``, shape ``(vocab_size,)``). A masked-out action is accepted and
    scored like any other with ``strict=False`` (default), and raises
    ``gymnasium.error.InvalidAction`` with ``strict=True``. With ``action_mask=None`` (default)
    every token is allowed and ``info`` carries no mask.

    ## Observation Space

    ``Dict`` of ``int64`` arrays (``C = max_context_tokens``, ``R = max_reply_tokens``):

    | key            | dtype | shape  | range                 | meaning                                    |
    |----------------|-------|--------|-----------------------|--------------------------------------------|
    | `context_ids`  | int64 | `(C,)` | `[0, vocab_size - 1]` | `[USR] turn [SYS] turn ... [SYS]`, padded with 0 |
    | `context_mask` | int64 | `(C,)` | `{0, 1}`              | 1 on real context tokens                   |
    | `reply_ids`    | int64 | `(R,)` | `[0, vocab_size - 1]` | the reply so far (the actions), padded with 0 |
    | `reply_mask`   | int64 | `(R,)` | `{0, 1}`              | 1 on the tokens written so far             |
    | `reply_length` | int64 | `(1,)` | `[0, R]`              | number of tokens written so far            |

    Each context turn is preceded by ``[SYS]`` (a turn of ``reply_speaker``) or ``[USR]`` (any other
    speaker), and the context ends with ``[SYS]``, the reply to come. A context longer than ``C``
    tokens keeps its LAST ``C`` tokens (the most recent turns; the oldest kept turn may be cut) and
    is flagged with ``info["truncated_context"] = True``. The reference reply's token ids (then
    ``[EOS]``, cut to ``R``) are precomputed: ``env.unwrapped.reference_ids`` (``(num_examples, R)``).

    ## Rewards

    At the end of the episode, the score of the decoded reply (special tokens dropped) against the
    reference text: ``reward="f1"`` (default) unigram F1 after SQuAD/ParlAI normalisation
    (:func:`nlp_envs.metrics.unigram_f1`), ``"bleu"`` smoothed sentence BLEU-4
    (:func:`~nlp_envs.metrics.sentence_bleu`), ``"rouge_l"`` ROUGE-L F
    (:func:`~nlp_envs.metrics.rouge_l`), or a callable, TRL style, called with keywords only::

        def reward_fn(*, context, reply, reference, **columns) -> float: ...

    where ``context`` is the list of ``{"speaker", "text"}`` turns before the reply (untruncated),
    ``reply`` the decoded reply, ``reference`` the reference text, and ``columns`` holds
    ``dialogue_id``, ``turn_index``, ``index`` (the example in the split), ``reply_ids`` (the reply's
    token ids, ``[EOS]`` excluded) and ``truncated`` (True when the reply hit ``max_reply_tokens``
    without ``[EOS]``); accept ``**columns`` so that new columns do not break your function. It must
    return a finite number: NaN or infinity raises ``ValueError`` (never passed on as a reward).
    Every step also subtracts ``token_penalty`` (default 0.0), the ``[EOS]`` step included. The reply
    is decoded once, at the end; steps before it only write an id into a buffer.

    ## Starting State

    The pair drawn by the env's example order (a fresh seeded permutation of the split on each
    pass; ``order="sequential"`` for evaluation); ``reset(options={"index": i})`` pins pair ``i``.
    The reply starts empty.

    ## Episode End

    * Termination: the action is ``[EOS]`` (the reply is complete; ``[EOS]`` is written into
      ``reply_ids`` but not into the decoded reply).
    * Truncation: ``max_reply_tokens`` tokens were written without ``[EOS]`` (the reply is scored
      as it stands).

    Stepping after the end (or before ``reset``) raises ``gymnasium.error.ResetNeeded``; an action
    that is not an int in range raises ``gymnasium.error.InvalidAction``.

    ``info`` (every step): ``index``, ``turn_index``, ``truncated_context``, ``action_mask`` (when
    masking), ``score`` (the reward before the token penalty; 0.0 before the last step) and
    ``reply_tokens`` (tokens written, ``[EOS]`` excluded; ``-1`` before the last step).
    ``info_mode="full"`` adds ``dialogue_id``, and at the last step ``reply`` (decoded text) and
    ``reference``.

    Every ``reset`` and ``step`` returns the same info keys, numpy values of fixed shape
    (``info_mode="lean"``, the default; a key that does not apply holds ``-1``, ``0.0`` or ``False``);
    ``info_mode="full"`` adds the variable ones. ``obs_mode="flat"`` gives one ``int64`` Box instead of
    the Dict (its keys flattened in the Dict's order; ``env.unwrapped.flat_layout``).

    ## Text mode

    ``obs_mode="text"`` (:mod:`nlp_envs.text_mode`, :class:`DialogReplyCodec`): one step per episode. The
    prompt is the task, the whole context one turn a line (``User: ...`` / ``System: ...``: the speakers'
    names from the data, the raw turn texts; :meth:`DialogEnvBase.context_text`; not cut to
    ``max_context_tokens``, but its START is cut to fit ``max_prompt_chars``), then ``System:`` to complete.
    The answer is the reply: its first non-empty line (a leading ``System:`` dropped), tokenized as the
    references are and stepped token by token, then ``[EOS]``, so the reward is the env's own (``reward=``,
    ``token_penalty``) for those token ids; a longer reply is cut to ``max_reply_tokens - 1`` tokens then
    ``[EOS]``, as the references are (``reference_ids``), so a text episode always terminates. Every string
    is a reply (the empty one: ``[EOS]`` at once); with ``action_mask="train_replies", strict=True`` a reply
    holding a masked-out token is a parse error (``strict=False``: stepped as it is). The gold answer
    (``env.unwrapped.gold_answer()``) is the reference text; it earns what ``reference_ids`` earn (reply F1
    0.954 on DialogReply-v0 test, 1.0 on v1: decoding loses some apostrophes). ``info["truncated_context"]``
    still refers to the token-id context.

    ## Arguments

    ```python
    import gymnasium as gym
    env = gym.make("DialogReply-v1", split="train", max_context_tokens=128, max_reply_tokens=32)
    env = gym.make("DialogReply-SGD-v0", data_dir="../shared/data", split="test", reward="bleu")
    env = gym.make("DialogReply-v0", dataset="chats.jsonl", reply_speaker="agent", speaker_key="role")
    env = gym.make("DialogReply-v0", reward=lambda *, reply, reference, **kw: float(reply == reference))
    ```

    | parameter            | default      | meaning                                                      |
    |----------------------|--------------|--------------------------------------------------------------|
    | `dataset`            | `"dialogs"`  | embedded name (`"dialogs"`, `"dialogs-v1"`), `"sgd"`, `"taskmaster4"`, a JSONL file/folder, a dict of split paths |
    | `split`              | `"train"`    | `train`, `validation` (alias `dev`) or `test`                |
    | `data_dir`           | `None`       | folder of real datasets (else `$NLP_ENVS_DATA_DIR`)          |
    | `reply_speaker`      | `"system"`   | whose turns are the replies to write                         |
    | `max_context_tokens` | `128`        | context tokens kept (the last ones)                          |
    | `max_reply_tokens`   | `32`         | reply tokens before truncation (`[EOS]` included)            |
    | `reward`             | `"f1"`       | `"f1"`, `"bleu"`, `"rouge_l"` or a callable (see Rewards)    |
    | `token_penalty`      | `0.0`        | subtracted from the reward of every step                     |
    | `action_mask`        | `None`       | `None` or `"train_replies"`                                  |
    | `strict`             | `False`      | raise `InvalidAction` on a masked-out action                 |
    | `tokenizer`          | `None`       | `None` = WordPiece trained on train; `"minilm"`; a path; a tokenizer object |
    | `vocab_size`         | `4000`       | size of the trained vocabulary                               |
    | `order`              | `"shuffle"`  | `"shuffle"` or `"sequential"`                                |
    | `shard_index`, `num_shards` | `0`, `1` | visit only `indices[shard_index::num_shards]`              |
    | `speaker_key`, `text_key`, `turns_key` | `"speaker"`, `"text"`, `"turns"` | keys of bring-your-own JSONL |
    | `dataset_kwargs`     | `None`       | options of the embedded generator (`seed`, `sizes`)          |

    Registered: ``DialogReply-v1`` (``"dialogs-v1"``), ``DialogReply-v0`` (``"dialogs"``, superseded by
    v1), ``DialogReply-SGD-v0`` (``"sgd"``), ``DialogReply-Taskmaster4-v0`` (``"taskmaster4"``).

    ## Vectorized environment

    ``gym.make_vec("DialogReply-v0", num_envs=256)`` builds :class:`DialogReplyVectorEnv`: all
    sub-envs stepped with numpy (the reply buffers are one ``(num_envs, R)`` array; only finished
    replies are decoded and scored), NEXT_STEP (default), SAME_STEP or DISABLED autoreset (``autoreset_mode=``), equal step for step to ``SyncVectorEnv``
    under the same seeds. ``nlp_envs.evaluate`` reports ``f1``, ``bleu``, ``rouge_l`` (means),
    ``distinct_1``, ``distinct_2`` (over all replies), ``mean_reply_tokens`` (vocabulary tokens,
    ``[EOS]`` excluded) and ``mean_reply_words`` (whitespace words of the decoded reply).

    ## Version History

    * v0: initial release (``"dialogs"``), superseded by v1 because a reply that ignores the dialogue
      scores almost as well as one that reads it: most replies are questions and goodbyes that are the
      same in every dialogue and the slot values come from small pools, so the majority reply scores
      0.143 test reply F1 and supervised MLE on the tiny decoder (2,000 examples) 0.158. The v0 ids
      stay registered and unchanged (same data fingerprint, same observations for a seed), so their
      numbers remain reproducible; ``gym.make`` says that v1 exists.
    * v1: the embedded ``"dialogs-v1"`` corpus (:mod:`nlp_envs.corpora.dialog_v1`): restaurant, taxi,
      hotel, appointment and train bookings whose every system reply echoes the slot values the user
      gave (names, times, places, dates, quantities; pools of 5 to 31,860 values per slot), e.g.
      ``"booked : table at golden dragon for 6 on may 14 at 7 pm under anna novak ."``; 3000/300/500
      dialogues, 9402/947/1543 (context, reply) pairs, no context over 128 tokens, replies of at most
      22 tokens. Measured on test (``python benchmarks/dialogreply_v1.py``, results in
      ``benchmarks/results/dialogreply_v1_stats.json``): 49% of the reply words are slot values
      copied from the context (every one was said before the reply) and 99.9% of the replies are
      distinct. Reply F1: majority reply 0.185; the best of 200 sampled constant train replies 0.284;
      the reference with its values deleted (right domain and act, nothing copied) 0.684; supervised
      MLE on the tiny decoder, 30,000 examples: 0.775 ± 0.040 (seeds 0/1/2: 0.819, 0.741, 0.765;
      still rising at the end of the budget), so majority = 0.24x MLE. With 2,000 examples (v0's
      budget) MLE is under-trained: 0.169 ± 0.069.
    """

    def __init__(
        self,
        dataset: Any = None,
        split: str = "train",
        *,
        reward: str | Callable[..., float] = "f1",
        token_penalty: float = 0.0,
        action_mask: str | None = None,
        strict: bool = False,
        **kwargs: Any,
    ) -> None:
        if callable(reward):
            self.reward_name = getattr(reward, "__name__", "callable")
            self._metric: Callable[[str, str], float] | None = None
        elif reward in REWARDS:
            self.reward_name = str(reward)
            self._metric = REWARDS[reward]
        else:
            raise ValueError(f"reward={reward!r}: expected one of {sorted(REWARDS)} or a callable")
        self._reward_fn = reward if callable(reward) else None
        token_penalty = float(token_penalty)
        if not np.isfinite(token_penalty):
            raise ValueError(f"token_penalty={token_penalty!r} must be finite")
        if action_mask not in ACTION_MASKS:
            raise ValueError(f"action_mask={action_mask!r}: expected one of {ACTION_MASKS}")
        self.token_penalty = token_penalty
        self.action_mask_mode = action_mask
        self.strict = check_flag("strict", strict)
        super().__init__(dataset, split, **kwargs)
        arrays = self.prepared.arrays
        self._ref_ids, self._ref_len = arrays["reference_ids"], arrays["reference_len"]
        if action_mask == "train_replies":
            mask = np.asarray(arrays["train_reply_vocab"], dtype=bool).copy()
        else:
            mask = np.ones(self.vocab_size, dtype=bool)
        mask.flags.writeable = False
        self._mask = mask
        self.action_space = spaces.Discrete(self.vocab_size)
        high = self.vocab_size - 1
        self.observation_space = spaces.Dict(
            {
                "context_ids": int_box(high, (self.max_context_tokens,)),
                "context_mask": int_box(1, (self.max_context_tokens,)),
                "reply_ids": int_box(high, (self.max_reply_tokens,)),
                "reply_mask": int_box(1, (self.max_reply_tokens,)),
                "reply_length": int_box(self.max_reply_tokens, (1,)),
            }
        )
        self._reply = np.zeros(self.max_reply_tokens, dtype=np.int64)
        self._length = 0
        self._context: dict[str, np.ndarray] = {}
        self._last_end: dict[str, Any] | None = None

    @property
    def reference_ids(self) -> np.ndarray:
        """Reference reply token ids then ``[EOS]``, ``(num_examples, max_reply_tokens)``, padded with 0."""
        return self._ref_ids

    @property
    def reference_lengths(self) -> np.ndarray:
        """Tokens in each row of :attr:`reference_ids` (``[EOS]`` included)."""
        return self._ref_len

    def gold_episodes(self) -> GoldEpisodes:
        """Each pair's first observation (the context; an empty reply so far, as read-only zeros) and its
        reference reply, one token per step then ``[EOS]`` (:attr:`reference_ids`, :attr:`reference_lengths`)."""
        n, C, R = self.num_examples, self.max_context_tokens, self.max_reply_tokens
        zeros = np.broadcast_to(np.zeros((1, R), dtype=np.int64), (n, R))
        obs = {"context_ids": np.asarray(self._ctx_ids, dtype=np.int64),
               "context_mask": (np.arange(C)[None] < np.asarray(self._ctx_len)[:, None]).astype(np.int64),
               "reply_ids": zeros, "reply_mask": zeros, "reply_length": zeros[:, :1]}
        actions = np.asarray(self.reference_ids, dtype=np.int64)
        mask = np.arange(actions.shape[1])[None] < np.asarray(self.reference_lengths)[:, None]
        return GoldEpisodes(obs, actions, mask)

    def action_masks(self) -> np.ndarray:
        """Allowed actions, ``bool (vocab_size,)`` (constant; all True without ``action_mask``)."""
        return self._mask.copy()

    def _prepare_split(self, split: str) -> Prepared:
        encoder, pairs, arrays, texts = self._prepare_common(split)
        values, starts, lengths = pairs.reply_tokens()
        width = self.max_reply_tokens
        ref, ref_len = pack_rows(values, starts, lengths, width - 1, ids_dtype(encoder.vocab_size))
        ref = np.concatenate([ref, np.zeros((len(ref), 1), dtype=ref.dtype)], axis=1)
        eos = encoder.token_to_id(EOS_TOKEN)
        ref[np.arange(len(ref)), ref_len] = eos
        arrays["reference_ids"], arrays["reference_len"] = ref, ref_len + 1
        # tokens of the train replies (+ EOS): the optional action mask
        train = pairs
        if self.data.split(split) is not self.data.splits.get("train"):
            if "train" not in self.data.splits:
                raise DataError(f"dataset {self.data.name!r} has no train split to take the reply vocabulary from")
            train = DialogPairs(self.data, "train", self.reply_speaker, encoder)
        is_reply_turn = np.zeros(len(train.turn_offsets) - 1, dtype=bool)
        is_reply_turn[train.reply_turn] = True
        vocab = np.zeros(encoder.vocab_size, dtype=bool)
        vocab[train.turn_values[np.repeat(is_reply_turn, np.diff(train.turn_offsets))]] = True
        vocab[eos] = True
        arrays["train_reply_vocab"] = vocab
        return Prepared(
            encoder=encoder, arrays=arrays, texts=texts,
            meta={"num_examples": len(pairs.reference), "dataset": self.data.name,
                  "num_dialogues": int(pairs.record[-1]) + 1},
        )

    def _obs(self) -> dict[str, np.ndarray]:
        return {
            "context_ids": self._context["context_ids"].copy(),
            "context_mask": self._context["context_mask"].copy(),
            "reply_ids": self._reply.copy(),
            "reply_mask": (self._positions[: self.max_reply_tokens] < self._length).astype(np.int64),
            "reply_length": np.array([self._length], dtype=np.int64),
        }

    def _start_episode(self, index: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self._context = self._context_obs(index)
        self._reply[:] = 0
        self._length = 0
        self._last_end = None
        return self._obs(), self.reply_info(self._index64)

    def lean_info_spec(self) -> dict[str, Any]:
        spec = {"index": NO_ID, "turn_index": NO_ID, "truncated_context": np.array(False), "score": NO_SCORE,
                "reply_tokens": NO_ID}
        if self.action_mask_mode is not None:
            spec["action_mask"] = None
        return spec

    # -- what the single and the vector env share (arrays or scalars) ----------------------------
    def reply_info(self, idx: Any) -> dict[str, Any]:
        """Info of every reset and step of the examples ``idx`` (an index array, or one ``np.int64``);
        a step that ends the episode adds :meth:`score_reply`'s."""
        info = self._base_info(idx)
        info["truncated_context"] = self._ctx_truncated[idx]
        if self.action_mask_mode is not None:
            masks = np.broadcast_to(self._mask, (*np.shape(idx), self.vocab_size))
            info["action_mask"] = masks if masks.ndim > 1 else masks.copy()  # (vector infos copy the rows)
        return info

    def strict_error(self, action: int, sub_env: int | None = None) -> InvalidAction:
        """The error of a masked-out token with ``strict=True`` (``sub_env``: the sub-env of a vector env)."""
        where = "" if sub_env is None else f"sub-env {sub_env}: "
        return InvalidAction(
            f"{where}action {action} ({self.encoder.id_to_token(action)!r}) is masked out by "
            f"action_mask={self.action_mask_mode!r} (strict=True); see env.unwrapped.action_masks()"
        )

    # -- single env step -------------------------------------------------------------------------
    def _validate_action(self, action: Any) -> int:
        a = super()._validate_action(action)
        if self.strict and not self._mask[a]:
            raise self.strict_error(a)
        return a

    def _step_action(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        self._reply[self._length] = action
        reward, terminated, truncated, self._length = reply_step(
            self.eos_id, self.max_reply_tokens, self.token_penalty, action, self._length)
        info = self.reply_info(self._index64)
        if terminated or truncated:
            score, end = self.score_reply(self._index, self._reply, self._length, terminated)
            reward += score
            info.update(end)
            self._last_end = dict(end, reward=reward)
        return self._obs(), reward, terminated, truncated, info

    def score_reply(self, index: int, reply_ids: np.ndarray, length: int, terminated: bool) -> tuple[float, dict[str, Any]]:
        """Decode a finished reply (``reply_ids[:length]``, the last one ``[EOS]`` if ``terminated``)
        and score it; return ``(score, end-of-episode info)``. Used by the vector env too."""
        n = length - 1 if terminated else length
        ids = reply_ids[:n]
        # encoder.decode(ids), padding dropped with numpy rather than a Python loop over the tokens
        reply = self.encoder.backend.decode(ids[ids != self.encoder.pad_id].tolist(), skip_special_tokens=True)
        reference = self._references[index]
        if self._metric is not None:
            score = float(self._metric(reply, reference))
        else:
            assert self._reward_fn is not None
            score = float(self._reward_fn(
                context=self.context_turns(index), reply=reply, reference=reference,
                dialogue_id=self._dialogue_ids[index], turn_index=int(self._turn_index[index]), index=index,
                reply_ids=np.array(ids, dtype=np.int64), truncated=not terminated,
            ))
            if not math.isfinite(score):
                raise ValueError(
                    f"reward={self.reward_name!r} returned {score!r} for example {index} (reply {reply!r}); a "
                    "reward must be a finite number. Return a finite float (e.g. 0.0 when there is no score)."
                )
        info = self._base_info(index)
        info.update(reply=reply, reference=reference, score=score, reply_tokens=n)
        return score, info

    def parse_actions(self, line: str) -> list[int]:
        """A whole reply: its token ids (``encoder.encode``, no special tokens), then ``[EOS]``; cut to
        fit the tokens left in the reply."""
        left = self.max_reply_tokens - self._length
        if left <= 0:
            raise ValueError("the reply is full: reset to start a new one")
        ids = self.encoder.encode(line.strip())
        return [int(i) for i in ids[: left - 1]] + [self.eos_id]

    def make_evaluator(self, num_envs: int) -> GenerationEvaluator:
        """The evaluator of :func:`nlp_envs.evaluate` (the native and the text-mode vector envs build it)."""
        return GenerationEvaluator()

    def _render_text(self) -> str:
        i = self._index
        lines = self._render_context(i)
        so_far = self.encoder.decode(self._reply[: self._length])
        lines.append(f"  reply ({self._length}/{self.max_reply_tokens} tokens): {so_far}")
        if self._last_end is not None:
            lines.append(f"  reference: {self._last_end['reference']}")
            lines.append(f"  {self.reward_name}: {self._last_end['score']:.3f}  reward: {self._last_end['reward']:.3f}")
        return "\n".join(lines)


class DialogReplyVectorEnv(NlpVectorEnv):
    """Native vector version of :class:`DialogReplyEnv` (numpy; any ``autoreset_mode``): all sub-envs
    step at once through :func:`reply_step`, the single env's kernel; finished replies are decoded
    and scored one by one (:meth:`DialogReplyEnv.score_reply`)."""

    env_class = DialogReplyEnv

    def __init__(self, num_envs: int = 1, **kwargs: Any) -> None:
        super().__init__(num_envs, **kwargs)
        env: DialogReplyEnv = self.env  # type: ignore[assignment]
        self.eos_id, self.vocab_size = env.eos_id, env.vocab_size
        self._C, self._R = env.max_context_tokens, env.max_reply_tokens
        self._mask = env.action_masks()
        self._cur = np.zeros(num_envs, dtype=np.int64)
        self._len = np.zeros(num_envs, dtype=np.int64)
        self._reply = np.zeros((num_envs, self._R), dtype=np.int64)
        self._ctx_ids = np.zeros((num_envs, self._C), dtype=np.int64)
        self._ctx_mask = np.zeros((num_envs, self._C), dtype=np.int64)
        self._cols_c = np.arange(self._C)
        self._cols_r = np.arange(self._R)

    def action_masks(self) -> np.ndarray:
        return np.broadcast_to(self._mask, (self.num_envs, self.vocab_size)).copy()

    def _begin(self, env_ids: np.ndarray) -> dict[str, Any]:
        env: DialogReplyEnv = self.env  # type: ignore[assignment]
        idx = self._next_indices(env_ids)
        self._cur[env_ids] = idx
        self._len[env_ids] = 0
        self._reply[env_ids] = 0
        self._ctx_ids[env_ids] = env._ctx_ids[idx]
        self._ctx_mask[env_ids] = self._cols_c[None, :] < env._ctx_len[idx][:, None]
        return env.reply_info(idx)

    def _advance(self, actions: np.ndarray, active: np.ndarray):
        env: DialogReplyEnv = self.env  # type: ignore[assignment]
        if env.strict:
            bad = np.flatnonzero(~self._mask[actions])
            if len(bad):
                raise env.strict_error(int(actions[bad[0]]), sub_env=int(active[bad[0]]))
        pos = self._len[active]
        self._reply[active, pos] = actions
        rewards, terminated, truncated, self._len[active] = reply_step(
            self.eos_id, self._R, env.token_penalty, actions, pos)
        finished = np.flatnonzero(terminated | truncated)
        ends: dict[str, list[Any]] = {}
        for j in finished:  # only sub-envs whose reply is complete: decode and score once
            e = int(active[j])
            score, info = env.score_reply(int(self._cur[e]), self._reply[e], int(self._len[e]), bool(terminated[j]))
            rewards[j] += score
            for k, v in info.items():
                if self.full_info or k in ("score", "reply_tokens"):
                    ends.setdefault(k, []).append(v)
        self._report_subset(active[finished], {
            k: np.array(v, dtype=object) if isinstance(v[0], str) else np.asarray(v) for k, v in ends.items()})
        return rewards, terminated, truncated, env.reply_info(self._cur[active])

    def _observe(self) -> dict[str, np.ndarray]:
        return {
            "context_ids": self._ctx_ids.copy(),
            "context_mask": self._ctx_mask.copy(),
            "reply_ids": self._reply.copy(),
            "reply_length": self._len[:, None].copy(),
            "reply_mask": (self._cols_r[None, :] < self._len[:, None]).astype(np.int64),
        }


class GenerationEvaluator:
    """Reply-generation metrics over one pass of a split (see :func:`nlp_envs.evaluate`).

    ``f1``, ``bleu``, ``rouge_l``: means over replies of :func:`~nlp_envs.metrics.unigram_f1`,
    :func:`~nlp_envs.metrics.sentence_bleu` and :func:`~nlp_envs.metrics.rouge_l` against the
    reference; ``distinct_1``, ``distinct_2``: :func:`~nlp_envs.metrics.distinct_n` over all replies;
    ``mean_reply_tokens``: vocabulary tokens per reply (``[EOS]`` excluded); ``mean_reply_words``:
    whitespace-separated words per decoded reply.
    """

    done_key = "reply"

    def __init__(self) -> None:
        self._replies: list[str] = []
        self._refs: list[str] = []
        self._tokens: list[int] = []
        self._index: list[int] = []

    def add(self, infos: dict[str, Any], env_ids: np.ndarray) -> None:
        for e in env_ids:
            self._replies.append(str(infos["reply"][e]))
            self._refs.append(str(infos["reference"][e]))
            self._tokens.append(int(infos["reply_tokens"][e]))
            self._index.append(int(infos["index"][e]))

    def compute(self) -> dict[str, Any]:
        if len(set(self._index)) != len(self._index):
            raise RuntimeError("an example was scored twice: the evaluation pass is broken")
        pairs = list(zip(self._replies, self._refs))
        n = max(1, len(pairs))
        return {
            "f1": sum(unigram_f1(p, r) for p, r in pairs) / n,
            "bleu": sum(sentence_bleu(p, r) for p, r in pairs) / n,
            "rouge_l": sum(rouge_l(p, r) for p, r in pairs) / n,
            "distinct_1": distinct_n(self._replies, 1),
            "distinct_2": distinct_n(self._replies, 2),
            "mean_reply_tokens": float(np.mean(self._tokens)) if self._tokens else 0.0,
            "mean_reply_words": float(np.mean([len(p.split()) for p in self._replies])) if pairs else 0.0,
        }


def reply_text(answer: str, speaker_label: str) -> str:
    """The reply of a text-mode answer: without a leading ``<speaker label>:`` (any case), its first
    non-empty line, without surrounding whitespace (``""`` when there is none)."""
    s = answer.lstrip()
    prefix = speaker_label + ":"
    if s[: len(prefix)].lower() == prefix.lower():
        s = s[len(prefix):]
    return next((ln for ln in s.splitlines() if ln.strip()), "").strip()


class DialogReplyCodec(TextCodec):
    """Text mode of ``DialogReply`` (:mod:`nlp_envs.text_mode`): the dialogue in, the whole reply out.

    The reply is tokenized as the references are (``env.unwrapped.encoder``, no special tokens added) and
    its tokens are stepped, then ``[EOS]``: the reward is the env's own (``reward=``, ``token_penalty``),
    the one the same token ids earn in the token-id mode.
    """

    template = ("Write the next reply of the {speaker} in this dialogue. Answer with the reply only, on one line."
                "\n\n{context}\n{Speaker}:")
    answer_formats = (
        "The reply text. Only its first non-empty line counts (a model that goes on with the next turn is cut "
        "there), without surrounding whitespace and without a leading `System:` (the reply speaker's label, any "
        "case). Any string is a reply, the empty one too (`[EOS]` at once). The reply is tokenized as the "
        "references are (`env.unwrapped.encoder`) and its tokens are stepped, then `[EOS]`: the reward is the "
        "env's reward of those token ids (`reward=`, `token_penalty`). A longer reply is cut to its first "
        "`max_reply_tokens - 1` tokens, then `[EOS]` (as the references' token ids are, `reference_ids`): a "
        "text episode always terminates. Special tokens written literally are those tokens (`[EOS]` ends the "
        "reply there). With "
        "`action_mask=\"train_replies\", strict=True` a reply holding a masked-out token is a parse error "
        "(with `strict=False` it is stepped and scored like any other). Otherwise the only parse error is an "
        "answer over `max_answer_chars`: the empty reply is stepped, reward `parse_error_reward`.")
    no_answer_info: ClassVar[dict[str, Any]] = {}

    def prompt(self, env: Any, max_chars: int) -> str:
        head, tail = self.template.split("{context}")
        speaker = env.reply_speaker
        return fit(head.format(speaker=speaker), env.context_text(env.current_index),
                   tail.format(Speaker=env.speaker_label(speaker)), max_chars, keep="end")

    def parse(self, env: Any, answer: str) -> Parsed:
        reply = reply_text(answer, env.speaker_label(env.reply_speaker))
        try:
            ids = env.encoder.encode(reply)
        except Exception:  # a lone surrogate (not UTF-8), or a custom tokenizer's failure: never raise
            try:
                ids = env.encoder.encode(reply.encode("utf-8", "replace").decode("utf-8"))
            except Exception as e:
                return fail(f"the reply could not be tokenized: {type(e).__name__}: {str(e)[:80]}")
        eos = env.eos_id
        ids = [int(i) for i in ids[: env.max_reply_tokens - 1]]  # room for [EOS], as in reference_ids
        if eos in ids:  # a literal [EOS] ends the reply there
            ids = ids[: ids.index(eos)]
        if env.strict and env.action_mask_mode is not None:
            mask = env.action_masks()
            bad = [i for i in ids if not mask[i]]
            if bad:
                tokens = sorted({str(env.encoder.id_to_token(i)) for i in bad})
                return fail(f"the reply holds tokens masked out by action_mask={env.action_mask_mode!r} "
                            f"(strict=True): {tokens[:10]}")
        return Parsed((*ids, eos))

    def no_answer(self, env: Any) -> tuple[int, ...]:
        return (env.eos_id,)

    def gold_answer(self, env: Any) -> str:
        return one_line(env.references[env.current_index]).strip()

    def chars(self, env: Any) -> set[str]:
        return env.context_chars()


#: The data schema of dialogues (``DialogReply`` and ``DialogSelect``): an id and the turns of each dialogue.
DIALOG_DATA = DataSchema(
    name="dialog",
    columns=("id", "turns"),
    embedded={"dialogs": data.embedded_generator("dialog"), "dialogs-v1": data.embedded_generator("dialog_v1")},
    read_file=data.read_dialogues_file,
    known_extras=data.reply_selection_extras,
)

#: The family contract of ``DialogReply`` (:mod:`nlp_envs.family`).
DIALOG_REPLY = register_family(Family(
    name="DialogReply",
    env_class=DialogReplyEnv,
    vector_env_class=DialogReplyVectorEnv,
    data=DIALOG_DATA,
    policy="generate",
    action_layout="Discrete(vocab_size): the next token of the reply (`[EOS]` ends it)",
    gold=GOLD_EPISODES,
    evaluator=GenerationEvaluator,
    main_metric="f1",
    second_metric="bleu",
    sb3_extractor="generation",
    majority="generation",
    text=DialogReplyCodec(),
))
