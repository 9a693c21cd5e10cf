"""Evaluation metrics and the incremental entity F1 used for reward shaping.

Everything here depends on numpy and the standard library only. Where a well-known reference
implementation exists, our function reproduces it and ``tests/test_metrics.py`` checks the two agree:

================================  ==============================================================
function                          reference it matches
================================  ==============================================================
:func:`classification_metrics`    ``sklearn.metrics.accuracy_score`` / ``f1_score(average="macro")``
:func:`get_entities`              ``seqeval.metrics.sequence_labeling.get_entities`` (default mode)
:class:`IncrementalEntityF1`      seqeval entity F1 of the two sequences cut after each step
                                  (a view of one sentence over :func:`entity_f1_step`)
:func:`entity_scores`             ``seqeval.metrics.classification_report(output_dict=True)``
:func:`token_classification_report`  ``sklearn.metrics.classification_report(output_dict=True)``
:func:`multilabel_metrics`        sklearn multilabel scores with ``zero_division=1.0``
:func:`sentence_bleu`             ``nltk.translate.bleu_score.sentence_bleu`` with ``method2``
:func:`normalize_answer`,         the SQuAD v1.1 evaluation script
:func:`unigram_f1`
================================  ==============================================================

Conventions used throughout:

* Entity spans are ``(type, start, end)`` with ``end`` **inclusive**, exactly as seqeval returns them.
* Tag schemes for the incremental scorer are plain IOB2/BIO: ``O``, ``B-X``, ``I-X``.
* "Undefined" scores (0/0) are 0.0 where we match seqeval/sklearn defaults (corpus-level NER and
  classification) and 1.0 where nothing predicted on nothing-to-find is the perfect answer (the
  per-sentence entity F1 used as a reward, per-example multilabel scores, text-overlap scores of two
  empty strings). Each function's docstring states which.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "PREFIX_B",
    "PREFIX_I",
    "PREFIX_O",
    "IncrementalEntityF1",
    "TagScheme",
    "classification_metrics",
    "distinct_n",
    "entity_f1_step",
    "entity_scores",
    "get_entities",
    "gold_chunk_arrays",
    "multilabel_metrics",
    "normalize_answer",
    "rouge_l",
    "sentence_bleu",
    "token_classification_report",
    "unigram_f1",
]

Entity = tuple[str, int, int]
"""An entity span ``(type, start, end)``; ``end`` is inclusive, as in seqeval."""


def _safe_div(num: float, den: float, zero: float = 0.0) -> float:
    """``num / den``, or ``zero`` when ``den == 0``."""
    return float(num) / float(den) if den else zero


def _prf(tp: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts; 0.0 wherever a ratio is 0/0 (sklearn/seqeval default)."""
    return (
        _safe_div(tp, n_pred),
        _safe_div(tp, n_gold),
        _safe_div(2 * tp, n_pred + n_gold),
    )


# --------------------------------------------------------------------------------------------------
# 1. Single-label classification
# --------------------------------------------------------------------------------------------------


def classification_metrics(pred: ArrayLike, gold: ArrayLike, num_labels: int) -> dict[str, float]:
    """Accuracy and macro F1 of single-label predictions.

    Macro F1 averages the per-label F1 over the labels that occur in ``gold`` **or** ``pred`` (a label
    absent from both has no defined F1 and is skipped). This is exactly
    ``sklearn.metrics.f1_score(gold, pred, average="macro")`` with its default ``labels=None``.

    A prediction of ``-1`` is "no answer" (a text-mode answer that did not parse): wrong for accuracy, a
    miss (false negative) of the gold label for macro F1, and no label of its own (sklearn with
    ``labels=`` the labels present, ``-1`` excluded).

    :param pred: predicted label ids, shape ``(n,)``; ``-1`` for no answer.
    :param gold: gold label ids, shape ``(n,)``.
    :param num_labels: size of the label set; every id must be in ``[0, num_labels)``.
    :return: ``{"accuracy", "macro_f1", "num_examples"}``.
    :raises ValueError: on empty input, mismatched lengths or out-of-range ids.
    """
    p = np.asarray(pred, dtype=np.int64).ravel()
    g = np.asarray(gold, dtype=np.int64).ravel()
    if p.shape != g.shape:
        raise ValueError(f"pred has {p.size} labels but gold has {g.size}")
    if p.size == 0:
        raise ValueError("classification_metrics needs at least one example")
    for name, arr, low in (("pred", p, -1), ("gold", g, 0)):
        if arr.min() < low or arr.max() >= num_labels:
            raise ValueError(
                f"{name} ids must lie in [{low}, {num_labels}); got min {arr.min()}, max {arr.max()}"
            )
    answered = p >= 0
    confusion = np.bincount(g[answered] * num_labels + p[answered], minlength=num_labels * num_labels).reshape(
        num_labels, num_labels
    )  # (gold, pred), answered examples only
    tp = np.diag(confusion)  # (L,)
    n_gold = np.bincount(g, minlength=num_labels)  # (L,): every example, answered or not
    n_pred = confusion.sum(axis=0)  # (L,)
    present = (n_gold + n_pred) > 0
    f1 = 2.0 * tp[present] / (n_gold[present] + n_pred[present])
    return {
        "accuracy": float(tp.sum() / p.size),
        "macro_f1": float(f1.mean()),
        "num_examples": int(p.size),
    }


# --------------------------------------------------------------------------------------------------
# 2. Entity spans (seqeval-compatible)
# --------------------------------------------------------------------------------------------------


def _split_tag(tag: str) -> tuple[str, str]:
    """Split a tag into (prefix letter, type) the way seqeval does (non-suffix mode).

    ``"B-PER" -> ("B", "PER")``, ``"O" -> ("O", "_")``, ``"B" -> ("B", "_")``.
    """
    if not tag:
        raise ValueError("empty string is not a tag")
    return tag[0], tag[1:].split("-", maxsplit=1)[-1] or "_"


def _ends_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """seqeval's ``end_of_chunk``: does a chunk end between the previous and the current token?"""
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag not in ("O", ".") and prev_type != type_


def _starts_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """seqeval's ``start_of_chunk``: does a chunk start at the current token?"""
    if tag in ("B", "S"):
        return True
    if prev_tag in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag not in ("O", ".") and prev_type != type_


def get_entities(tags: Sequence[str]) -> list[Entity]:
    """Entity spans of one tag sequence, exactly as seqeval's default (non-strict) mode finds them.

    Returns ``(type, start, end)`` triples in order of their end, with ``end`` **inclusive**
    (``["B-PER", "I-PER", "O"] -> [("PER", 0, 1)]``), identical to
    ``seqeval.metrics.sequence_labeling.get_entities(list(tags))``. The conlleval-style rules apply to
    invalid sequences too:

    * ``I-X`` after ``O`` (or at the start) opens an entity, as if it were ``B-X``;
    * a change of type (``B-X I-Y``) closes the running entity and opens a new one;
    * ``B-X B-X`` is two entities; ``O`` closes any entity;
    * IOBES tags are understood as well: ``S-X`` is a one-token entity, ``E-X`` closes one.

    Unlike seqeval, tags that are not NE tags raise no warning, and nested lists are not flattened.
    """
    prev_tag, prev_type = "O", ""
    begin = 0
    chunks: list[Entity] = []
    for i, chunk in enumerate([*tags, "O"]):  # the trailing "O" closes a final open chunk
        tag, type_ = _split_tag(chunk)
        if _ends_chunk(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if _starts_chunk(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


# --------------------------------------------------------------------------------------------------
# 3. BIO tag tables and the O(1)-per-step entity F1
# --------------------------------------------------------------------------------------------------

PREFIX_O = 0
"""Value of :attr:`TagScheme.prefix` for the ``O`` tag."""
PREFIX_B = 1
"""Value of :attr:`TagScheme.prefix` for ``B-X`` tags."""
PREFIX_I = 2
"""Value of :attr:`TagScheme.prefix` for ``I-X`` tags."""

_BIO_RE = re.compile(r"^(?:O|([BI])-(.+))$")


class TagScheme:
    """Lookup tables for an IOB2 (BIO) tag set: which tag ids are ``O``/``B``/``I``, of which type.

    Tag names must be unique and each either ``O`` or ``B-X`` / ``I-X`` with a non-empty type ``X``.
    ``O`` need not be present, and an ``I-X`` need not have a matching ``B-X`` (every combination is
    scored the seqeval way).

    :param tag_names: the tag of each id, e.g. ``["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]``.

    Attributes (all read-only by convention):

    * ``tag_names`` -- tuple of the names, indexed by tag id.
    * ``types`` -- tuple of entity types in order of first appearance, indexed by type id.
    * ``prefix`` -- ``int8 (num_tags,)``: :data:`PREFIX_O`, :data:`PREFIX_B` or :data:`PREFIX_I`.
    * ``type_id`` -- ``int64 (num_tags,)``: index into ``types``, ``-1`` for ``O``.
    * ``allowed_next`` -- ``bool (num_tags + 1, num_tags)``: ``allowed_next[prev, tag]`` says whether
      ``tag`` may follow ``prev`` in a valid BIO sequence; row ``num_tags`` is the sentence start.
      Only ``I-X`` is ever forbidden: it must follow ``B-X`` or ``I-X``. Use a row as an action mask.
    * ``outside_id`` -- the id of ``O``, or ``None``.
    """

    def __init__(self, tag_names: Sequence[str]) -> None:
        names = tuple(tag_names)
        if not names:
            raise ValueError("a tag scheme needs at least one tag")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate tag names: {duplicates}")
        types: dict[str, int] = {}
        prefix = np.zeros(len(names), dtype=np.int8)
        type_id = np.full(len(names), -1, dtype=np.int64)
        for i, name in enumerate(names):
            match = _BIO_RE.match(name)
            if match is None:
                raise ValueError(
                    f"tag {name!r} (id {i}) is not a BIO tag; expected 'O', 'B-<type>' or 'I-<type>'"
                )
            if match.group(1) is None:
                continue
            prefix[i] = PREFIX_B if match.group(1) == "B" else PREFIX_I
            type_id[i] = types.setdefault(match.group(2), len(types))
        self.tag_names: tuple[str, ...] = names
        self.types: tuple[str, ...] = tuple(types)
        self.prefix: NDArray[np.int8] = prefix
        self.type_id: NDArray[np.int64] = type_id
        self.outside_id: int | None = names.index("O") if "O" in names else None

        n = len(names)
        is_i = prefix == PREFIX_I
        allowed = np.ones((n + 1, n), dtype=bool)
        # I-X (column) after tag prev (row): allowed iff prev is B-X or I-X of the same type.
        continues = (prefix[:, None] != PREFIX_O) & (type_id[:, None] == type_id[None, :])  # (n, n)
        allowed[:n, is_i] = continues[:, is_i]
        allowed[n, is_i] = False
        self.allowed_next: NDArray[np.bool_] = allowed

    @property
    def num_tags(self) -> int:
        """Number of tags (ids are ``0 .. num_tags - 1``)."""
        return len(self.tag_names)

    def encode(self, tags: Iterable[str]) -> NDArray[np.int64]:
        """Tag names -> int64 id array (``KeyError`` names an unknown tag)."""
        index = {name: i for i, name in enumerate(self.tag_names)}
        return np.array([index[t] for t in tags], dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tag ids -> tag names."""
        return [self.tag_names[int(i)] for i in ids]

    def __repr__(self) -> str:
        return f"TagScheme({list(self.tag_names)!r})"


def gold_chunk_arrays(gold: ArrayLike, offsets: ArrayLike, scheme: TagScheme) -> dict[str, NDArray[np.int64]]:
    """Per-token gold entity facts for the O(1) entity F1 (:func:`entity_f1_step`), for many sentences
    at once: the one place they are computed (the NER env prepares them per split, and
    :class:`IncrementalEntityF1` for its sentence).

    ``gold`` is the flat tag-id array of the sentences and ``offsets`` their offsets ``(n + 1,)``.
    Positions are relative to the sentence. Entities follow seqeval's default mode (as
    :func:`get_entities`).

    Returns flat arrays (same length as ``gold``) plus one per-sentence array:

    * ``type`` ``[k]``: the entity type id of gold tag ``k`` (``-1`` for ``O``);
    * ``open_start[k]``: start of the gold entity covering token ``k``, ``-1`` outside entities;
    * ``end_at_start[k]``: end (inclusive) of the gold entity starting at ``k``, else ``-1``;
    * ``count[k]``: gold entities of the sentence cut after token ``k`` (entities starting ``<= k``);
    * ``total`` ``(n,)``: gold entities per sentence.
    """
    gold = np.asarray(gold, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    n_tok = len(gold)
    lengths = np.diff(offsets)
    sent = np.repeat(np.arange(len(lengths)), lengths)  # (n_tok,) sentence of each token
    first = np.zeros(n_tok, dtype=bool)
    first[offsets[:-1][lengths > 0]] = True
    pre = scheme.prefix[gold]
    typ = scheme.type_id[gold]
    inside = pre != PREFIX_O
    cont = np.zeros(n_tok, dtype=bool)  # token k continues the chunk of token k - 1
    cont[1:] = (pre[1:] == PREFIX_I) & inside[:-1] & (typ[1:] == typ[:-1])
    cont &= ~first
    starts = inside & ~cont
    next_cont = np.zeros(n_tok, dtype=bool)
    next_cont[:-1] = cont[1:]
    ends = inside & ~next_cont
    pos = np.arange(n_tok)
    base = offsets[:-1][sent]  # (n_tok,) offset of each token's sentence
    chunk_start = np.maximum.accumulate(np.where(starts, pos, -1)) if n_tok else pos
    open_start = np.where(inside, chunk_start - base, -1)
    end_at_start = np.full(n_tok, -1, dtype=np.int64)
    end_at_start[starts] = pos[ends] - base[ends]
    cum = np.cumsum(starts)
    before = np.concatenate([[0], cum])[offsets[:-1]]  # (n,) entities before each sentence
    count = cum - before[sent]
    total = np.concatenate([[0], cum])[offsets[1:]] - before
    return {"type": typ.astype(np.int64), "open_start": open_start.astype(np.int64),
            "end_at_start": end_at_start, "count": count.astype(np.int64), "total": total.astype(np.int64)}


def entity_f1_step(
    pred_prefix: Any, pred_type: Any, t: Any, final: Any, state: tuple[Any, Any, Any, Any],
    facts: tuple[Any, Any, Any, Any], base: Any, gold_total: Any,
) -> tuple[Any, Any, Any, Any, tuple[Any, Any, Any, Any]]:
    """One step of the incremental entity F1, for a batch of sentences (numpy arrays, one entry per
    sentence) or for one sentence (Python scalars): the same code, written with arithmetic and
    comparison operators only (no branch, no ``np.where``), so that a single env pays no numpy call.

    The predicted tag of position ``t`` (its prefix :data:`PREFIX_O`/``B``/``I`` and type id, from
    :class:`TagScheme`) is appended to the prediction; returns ``(f1, tp, n_pred, n_gold, state)``, the
    entity F1 and counts of the gold and predicted sequences cut after ``t`` (seqeval's spans, a chunk
    still open counts as ending at ``t``; F1 is 1.0 when both are empty), and the new state.

    * ``state``: ``(open_start, open_type, closed_pred, closed_tp)``: the open predicted chunk (start,
      type; ``-1`` when none) and the predicted chunks already closed (they are final), and how many of
      them are gold entities; ``(-1, -1, 0, 0)`` before the first tag.
    * ``facts``: the ``type``, ``open_start``, ``end_at_start`` and ``count`` columns of
      :func:`gold_chunk_arrays` (arrays or lists), read at ``base + position``; ``gold_total`` the
      sentence's gold entities (``total``).
    * ``final``: score against the WHOLE gold sentence with the rest of the prediction ``O``
      (the last tagged word of a sentence cut at ``max_words``): the open chunk must then end at
      ``t`` in gold, and every gold entity counts.
    """
    gold_type, gold_open, gold_end, gold_count = facts
    open_s, open_ty, closed_pred, closed_tp = state
    has = open_s >= 0
    # The open chunk continues (I-X after B-X/I-X of type X), or it ends at t - 1 and is final.
    cont = (pred_prefix == PREFIX_I) & has & (pred_type == open_ty)
    closing = has != cont  # (cont implies has)
    s = base + open_s + (open_s < 0)  # the chunk's start (position 0 when there is none: never read)
    closed_pred = closed_pred + closing
    closed_tp = closed_tp + (closing & (gold_end[s] == t - 1) & (gold_type[s] == open_ty))
    # A new chunk opens at t unless the tag is O; its type is the tag's (O has type -1).
    new_s = t - (t + 1) * (pred_prefix == PREFIX_O)
    open_s = new_s + cont * (open_s - new_s)
    open_ty = pred_type  # (a continued chunk has the tag's type)
    has = open_s >= 0
    # The open chunk is a true positive iff the gold chunk covering t starts with it (same type);
    # when final, that gold chunk must also end at t.
    k = base + t
    o = base + open_s + (open_s < 0)
    match = has & (gold_open[k] == open_s) & (gold_type[k] == open_ty) & ((final ^ True) | (gold_end[o] == t))
    tp = closed_tp + match
    n_pred = closed_pred + has
    n_gold = gold_count[k] + final * (gold_total - gold_count[k])
    denom = n_pred + n_gold
    empty = denom == 0
    f1 = 2.0 * tp / (denom + empty) + empty  # 1.0 when there is nothing to find and nothing found
    return f1, tp, n_pred, n_gold, (open_s, open_ty, closed_pred, closed_tp)


class IncrementalEntityF1:
    """Entity F1 of a growing prediction against one gold sentence, in O(1) time per token: a view of
    one sentence over :func:`entity_f1_step` (the kernel the NER env runs, batched or not).

    After ``t`` calls to :meth:`push`, :attr:`f1` equals seqeval's entity F1 of ``gold[:t]`` against
    ``pred[:t]``: both sequences are cut after token ``t``, so a chunk still open in either of them
    counts as an entity ending at token ``t - 1``. Spans follow seqeval's default mode, invalid BIO
    included (``I-X`` after ``O`` opens an entity, a type change splits one).

    Convention: when the prefix has neither gold nor predicted entities, F1 is **1.0**, not seqeval's
    0.0 -- predicting no entity in an entity-free stretch is the perfect answer, and a reward that
    said otherwise would punish it. Corpus-level scores (:func:`entity_scores`) sum :attr:`tp`,
    :attr:`num_pred` and :attr:`num_gold` over sentences and are unaffected by this choice.

    Reward shaping: with ``F1_0 := 0`` and ``r_t = F1_t - F1_{t-1}`` (the return value of the
    ``t``-th :meth:`push` minus that of the previous one), the rewards of a sentence telescope to its
    final F1: ``sum_t r_t = F1_T``. An env can hand out ``r_t`` each step and the undiscounted return
    is exactly the sentence's seqeval F1 (with the 1.0 convention above).

    Bookkeeping: a predicted chunk that has closed (ends at ``e < t - 1``) is final, and it is a
    true positive iff ``(type, start, e)`` is an entity of the full gold sequence (gold entities that
    end before ``t - 1`` are the same in ``gold[:t]`` and in ``gold``); these are looked up in arrays
    indexed by start position (:func:`gold_chunk_arrays`). The open predicted chunk is a true positive
    iff the gold chunk open at ``t - 1`` has the same start and type. Gold counts per prefix are
    precomputed.

    :param gold_ids: gold tag ids of the sentence, shape ``(n,)``.
    :param scheme: the :class:`TagScheme` the ids refer to.

    Example::

        >>> scheme = TagScheme(["O", "B-PER", "I-PER"])
        >>> scorer = IncrementalEntityF1(scheme.encode(["B-PER", "I-PER", "O"]), scheme)
        >>> [scorer.push(t) for t in scheme.encode(["B-PER", "O", "O"])]
        [1.0, 0.0, 0.0]
    """

    def __init__(self, gold_ids: ArrayLike, scheme: TagScheme) -> None:
        gold = np.asarray(gold_ids, dtype=np.int64).ravel()
        if gold.size and (gold.min() < 0 or gold.max() >= scheme.num_tags):
            raise ValueError(
                f"gold tag ids must lie in [0, {scheme.num_tags}); "
                f"got min {gold.min()}, max {gold.max()}"
            )
        facts = gold_chunk_arrays(gold, [0, gold.size], scheme)
        self.scheme = scheme
        self.gold_ids: NDArray[np.int64] = gold
        # Python lists: the kernel then runs on Python scalars (several times faster than numpy ones).
        self._prefix: list[int] = scheme.prefix.tolist()
        self._type: list[int] = scheme.type_id.tolist()
        self._facts = tuple(facts[k].tolist() for k in ("type", "open_start", "end_at_start", "count"))
        self.num_gold_total: int = int(facts["total"][0])
        """Number of entities in the whole gold sentence."""

        self._t = 0
        self._state: tuple[int, int, int, int] = (-1, -1, 0, 0)
        self._tp = 0
        self._num_pred = 0
        self._num_gold = 0
        self._f1 = 1.0

    def __len__(self) -> int:
        """Length of the gold sentence."""
        return len(self.gold_ids)

    @property
    def t(self) -> int:
        """Number of tags pushed so far."""
        return self._t

    @property
    def done(self) -> bool:
        """Whether a tag has been pushed for every gold token."""
        return self._t == len(self.gold_ids)

    @property
    def tp(self) -> int:
        """Predicted entities of the current prefix that exactly match a gold entity of it."""
        return self._tp

    @property
    def num_pred(self) -> int:
        """Predicted entities in the current prefix (the open chunk included)."""
        return self._num_pred

    @property
    def num_gold(self) -> int:
        """Gold entities in the current prefix (the open chunk included)."""
        return self._num_gold

    @property
    def f1(self) -> float:
        """Entity F1 of the current prefix; 1.0 when it has no gold and no predicted entity."""
        return self._f1

    def push(self, pred_tag_id: int) -> float:
        """Append the next predicted tag id and return the F1 of the new prefix.

        :raises ValueError: if the tag id is out of range or the sentence is already complete.
        """
        t = self._t
        if t >= len(self.gold_ids):
            raise ValueError(f"all {t} tags of the sentence have already been pushed")
        tag = int(pred_tag_id)
        if not 0 <= tag < len(self._prefix):
            raise ValueError(f"tag id {tag} is outside [0, {len(self._prefix)})")
        self._f1, self._tp, self._num_pred, self._num_gold, self._state = entity_f1_step(
            self._prefix[tag], self._type[tag], t, False, self._state, self._facts, 0, self.num_gold_total)
        self._t = t + 1
        return self._f1


# --------------------------------------------------------------------------------------------------
# 4. Corpus-level NER evaluation
# --------------------------------------------------------------------------------------------------


def _check_parallel(gold_seqs: Sequence[Sequence[object]], pred_seqs: Sequence[Sequence[object]]) -> None:
    if len(gold_seqs) != len(pred_seqs):
        raise ValueError(f"{len(gold_seqs)} gold sentences but {len(pred_seqs)} predicted ones")
    for i, (g, p) in enumerate(zip(gold_seqs, pred_seqs)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: gold has {len(g)} tags, prediction has {len(p)}")


def _averages(
    tp: NDArray[np.int64], n_pred: NDArray[np.int64], n_gold: NDArray[np.int64]
) -> dict[str, dict[str, float]]:
    """Micro/macro/weighted P/R/F1 over per-label counts, 0/0 -> 0.0 (sklearn/seqeval defaults)."""
    per = np.array([_prf(int(a), int(b), int(c)) for a, b, c in zip(tp, n_pred, n_gold)])  # (L, 3)
    per = per.reshape(-1, 3)
    support = int(n_gold.sum())
    micro = _prf(int(tp.sum()), int(n_pred.sum()), support)
    macro = per.mean(axis=0) if len(per) else np.zeros(3)
    weighted = (n_gold @ per) / support if support else np.zeros(3)
    out: dict[str, dict[str, float]] = {}
    for name, vals in (("micro", micro), ("macro", macro), ("weighted", weighted)):
        out[name] = {
            "precision": float(vals[0]),
            "recall": float(vals[1]),
            "f1": float(vals[2]),
            "support": support,
        }
    return out


def entity_scores(
    gold_seqs: Sequence[Sequence[str]], pred_seqs: Sequence[Sequence[str]]
) -> dict[str, object]:
    """Corpus-level entity precision/recall/F1, as ``seqeval.metrics.classification_report``.

    Entities come from :func:`get_entities` per sentence (seqeval's default, conlleval-compatible
    mode); a predicted entity counts only if type, start and end all match a gold one.

    :return: a dict with

        * ``"precision"``, ``"recall"``, ``"f1"`` -- micro averages (seqeval's ``f1_score``);
        * ``"tp"``, ``"num_pred"``, ``"num_gold"`` -- the summed counts;
        * ``"micro"``, ``"macro"``, ``"weighted"`` -- ``{"precision", "recall", "f1", "support"}``
          as seqeval's ``"micro avg"``, ``"macro avg"``, ``"weighted avg"`` rows (macro averages over
          the types found in gold or prediction);
        * ``"per_type"`` -- ``{type: {"precision", "recall", "f1", "support"}}``, types sorted.

    Undefined ratios are 0.0 (seqeval with ``zero_division=0``); with no entity anywhere every score
    is 0.0 (seqeval returns NaN for the macro row there).
    """
    _check_parallel(gold_seqs, pred_seqs)
    gold_sets: dict[str, set[tuple[int, int, int]]] = {}
    pred_sets: dict[str, set[tuple[int, int, int]]] = {}
    for sent, (g, p) in enumerate(zip(gold_seqs, pred_seqs)):
        for sets, tags in ((gold_sets, g), (pred_sets, p)):
            for type_, start, end in get_entities(tags):
                sets.setdefault(type_, set()).add((sent, start, end))
    types = sorted(gold_sets.keys() | pred_sets.keys())
    empty: set[tuple[int, int, int]] = set()
    tp = np.array([len(gold_sets.get(k, empty) & pred_sets.get(k, empty)) for k in types], np.int64)
    n_pred = np.array([len(pred_sets.get(k, empty)) for k in types], np.int64)
    n_gold = np.array([len(gold_sets.get(k, empty)) for k in types], np.int64)
    avg = _averages(tp, n_pred, n_gold)
    per_type = {}
    for k, a, b, c in zip(types, tp, n_pred, n_gold):
        p, r, f = _prf(int(a), int(b), int(c))
        per_type[k] = {"precision": p, "recall": r, "f1": f, "support": int(c)}
    return {
        "precision": avg["micro"]["precision"],
        "recall": avg["micro"]["recall"],
        "f1": avg["micro"]["f1"],
        "tp": int(tp.sum()),
        "num_pred": int(n_pred.sum()),
        "num_gold": int(n_gold.sum()),
        **avg,
        "per_type": per_type,
    }


def token_classification_report(
    gold_seqs: Sequence[Sequence[str | int]],
    pred_seqs: Sequence[Sequence[str | int]],
    tag_names: Sequence[str],
) -> dict[str, object]:
    """Token-level per-tag precision/recall/F1 -- **not** entity F1.

    Every token counts once, ``O`` included, so this rewards getting the many ``O`` tokens right and
    gives partial credit for partly-correct entities; report :func:`entity_scores` as the NER score.
    It equals ``sklearn.metrics.classification_report(gold, pred, output_dict=True,
    zero_division=0)`` on the flattened tags (sklearn's default labels: the tags that occur in gold
    or prediction).

    :param gold_seqs: per sentence, tag names or tag ids.
    :param pred_seqs: same shape as ``gold_seqs``.
    :param tag_names: names of the tag ids (also used to map names to ids).
    :return: ``{"per_tag": {name: {"precision", "recall", "f1", "support"}}, "accuracy", "micro",
        "macro", "weighted"}``; ``micro`` precision, recall and F1 all equal ``accuracy``.
    """
    _check_parallel(gold_seqs, pred_seqs)
    index = {name: i for i, name in enumerate(tag_names)}
    num = len(tag_names)

    def flat(seqs: Sequence[Sequence[str | int]]) -> NDArray[np.int64]:
        ids = [index[t] if isinstance(t, str) else int(t) for s in seqs for t in s]
        arr = np.asarray(ids, dtype=np.int64)
        if arr.size and (arr.min() < 0 or arr.max() >= num):
            raise ValueError(f"tag ids must lie in [0, {num})")
        return arr

    g, p = flat(gold_seqs), flat(pred_seqs)
    confusion = np.bincount(g * num + p, minlength=num * num).reshape(num, num)  # (gold, pred)
    tp, n_gold, n_pred = np.diag(confusion), confusion.sum(axis=1), confusion.sum(axis=0)
    present = np.flatnonzero((n_gold + n_pred) > 0)
    avg = _averages(tp[present], n_pred[present], n_gold[present])
    per_tag = {}
    for i in present:
        pr, rc, f = _prf(int(tp[i]), int(n_pred[i]), int(n_gold[i]))
        per_tag[tag_names[i]] = {"precision": pr, "recall": rc, "f1": f, "support": int(n_gold[i])}
    return {"per_tag": per_tag, "accuracy": _safe_div(int(tp.sum()), g.size), **avg}


# --------------------------------------------------------------------------------------------------
# 5. Dialogue reply metrics
# --------------------------------------------------------------------------------------------------

_ARTICLES_RE = re.compile(r"\b(a|an|the)\b")
_PUNCT_TABLE = str.maketrans("", "", string.punctuation)


def normalize_answer(s: str) -> str:
    """Lowercase, delete ASCII punctuation, drop the articles a/an/the, collapse whitespace.

    The SQuAD v1.1 evaluation script's normalisation (ParlAI uses the same, except that it turns
    punctuation into spaces): ``"The Cat's hat!" -> "cats hat"``.
    """
    s = s.lower().translate(_PUNCT_TABLE)
    return " ".join(_ARTICLES_RE.sub(" ", s).split())


def _tokens(s: str) -> list[str]:
    """Tokens for every reply metric here: whitespace split of :func:`normalize_answer`."""
    return normalize_answer(s).split()


def unigram_f1(pred: str, ref: str) -> float:
    """SQuAD-style token F1 on normalised tokens (multiset overlap via ``Counter``).

    Both empty after normalisation -> 1.0; exactly one empty -> 0.0.
    """
    p, r = _tokens(pred), _tokens(ref)
    if not p or not r:
        return float(p == r)
    same = sum((Counter(p) & Counter(r)).values())
    return 2.0 * same / (len(p) + len(r))


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def sentence_bleu(
    pred: str,
    ref: str,
    max_n: int = 4,
    smoothing: Literal["add1", "none"] = "add1",
) -> float:
    """Sentence BLEU of one reply against one reference, uniform weights ``1 / max_n``.

    ``BLEU = BP * exp(mean_n log p_n)`` with clipped n-gram precisions ``p_n = m_n / max(1, c_n)``
    (``m_n`` clipped matches, ``c_n`` n-grams in the reply) and brevity penalty
    ``BP = 1 if c > r else exp(1 - r / c)`` on token counts.

    Smoothing ``"add1"`` is Lin & Och (2004)'s add-one smoothing applied to the orders ``n >= 2``
    only: ``p_n = (m_n + 1) / (max(1, c_n) + 1)``; ``p_1`` stays unsmoothed, so a reply without a
    single matching word scores 0. This is NLTK's ``SmoothingFunction().method2`` and the result
    equals ``nltk.translate.bleu_score.sentence_bleu([ref_tokens], pred_tokens,
    smoothing_function=SmoothingFunction().method2)``. ``"none"`` is plain BLEU (0 as soon as one
    order has no match).

    Tokens are those of :func:`normalize_answer` (lowercase, no punctuation or articles), as in
    ParlAI. An empty reply or reference scores 0.0.
    """
    if max_n < 1:
        raise ValueError(f"max_n must be >= 1, got {max_n}")
    if smoothing not in ("add1", "none"):
        raise ValueError(f"smoothing must be 'add1' or 'none', got {smoothing!r}")
    p, r = _tokens(pred), _tokens(ref)
    if not p or not r:
        return 0.0
    log_sum = 0.0
    for n in range(1, max_n + 1):
        pred_ngrams, ref_ngrams = _ngrams(p, n), _ngrams(r, n)
        matches = sum((pred_ngrams & ref_ngrams).values())
        total = max(1, sum(pred_ngrams.values()))
        if smoothing == "add1" and n > 1:
            matches, total = matches + 1, total + 1
        if matches == 0:
            return 0.0
        log_sum += math.log(matches / total)
    brevity = 1.0 if len(p) > len(r) else math.exp(1.0 - len(r) / len(p))
    return brevity * math.exp(log_sum / max_n)


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence, O(len(a) * len(b)) time, O(len(b)) memory."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(pred: str, ref: str) -> float:
    """ROUGE-L F-measure (beta = 1) on :func:`normalize_answer` tokens.

    ``P = LCS / len(pred)``, ``R = LCS / len(ref)``, ``F = 2PR / (P + R)``. Both empty -> 1.0,
    exactly one empty -> 0.0.
    """
    p, r = _tokens(pred), _tokens(ref)
    if not p or not r:
        return float(p == r)
    lcs = _lcs_length(p, r)
    return 2.0 * lcs / (len(p) + len(r))  # = 2PR / (P + R)


def distinct_n(replies: Iterable[str], n: int) -> float:
    """Distinct-n (Li et al., 2016): unique n-grams / total n-grams over all replies.

    n-grams are taken within each reply over :func:`normalize_answer` tokens; 0.0 if there are none.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    counts: Counter[tuple[str, ...]] = Counter()
    for reply in replies:
        counts.update(_ngrams(_tokens(reply), n))
    return _safe_div(len(counts), sum(counts.values()))


# --------------------------------------------------------------------------------------------------
# 6. Multi-label classification
# --------------------------------------------------------------------------------------------------


def _indicator(sets: Sequence[Iterable[int]], num_labels: int, name: str) -> NDArray[np.bool_]:
    """Label-id sets -> boolean indicator matrix ``(n, num_labels)``."""
    y = np.zeros((len(sets), num_labels), dtype=bool)
    for i, labels in enumerate(sets):
        ids = np.fromiter(labels, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= num_labels):
            raise ValueError(f"{name}[{i}] has label ids outside [0, {num_labels}): {sorted(ids)}")
        y[i, ids] = True
    return y


def multilabel_metrics(
    pred_sets: Sequence[Iterable[int]], gold_sets: Sequence[Iterable[int]], num_labels: int
) -> dict[str, float]:
    """Standard multi-label scores of predicted label sets against gold ones.

    Every 0/0 is 1.0 here (an empty prediction for an empty gold set is correct), so each score
    equals sklearn's on ``MultiLabelBinarizer`` indicators with ``zero_division=1.0``:

    * ``example_f1`` -- mean over examples of ``2|P & G| / (|P| + |G|)``
      (``f1_score(average="samples")``);
    * ``micro_f1`` -- F1 of the counts summed over examples and labels;
    * ``macro_f1`` -- mean over **all** ``num_labels`` labels of the per-label F1;
    * ``jaccard`` -- mean over examples of ``|P & G| / |P | G|`` (``jaccard_score(average="samples")``);
    * ``hamming_loss`` -- fraction of wrong (example, label) cells;
    * ``subset_accuracy`` -- fraction of examples with ``P == G`` exactly;
    * ``mean_labels_pred`` / ``mean_labels_gold`` -- average set sizes;
    * ``num_examples``.
    """
    if len(pred_sets) != len(gold_sets):
        raise ValueError(f"{len(pred_sets)} predicted sets but {len(gold_sets)} gold sets")
    if not pred_sets:
        raise ValueError("multilabel_metrics needs at least one example")
    yp = _indicator(pred_sets, num_labels, "pred_sets")  # (n, L)
    yg = _indicator(gold_sets, num_labels, "gold_sets")  # (n, L)
    inter = yp & yg
    n_inter_ex, n_pred_ex, n_gold_ex = inter.sum(1), yp.sum(1), yg.sum(1)  # (n,)
    n_union_ex = (yp | yg).sum(1)  # (n,)

    def ratio(num: NDArray[np.int64], den: NDArray[np.int64]) -> NDArray[np.float64]:
        return np.where(den > 0, num / np.maximum(den, 1), 1.0)

    tp_label, n_pred_label, n_gold_label = inter.sum(0), yp.sum(0), yg.sum(0)  # (L,)
    return {
        "example_f1": float(ratio(2 * n_inter_ex, n_pred_ex + n_gold_ex).mean()),
        "micro_f1": _safe_div(2 * inter.sum(), yp.sum() + yg.sum(), zero=1.0),
        "macro_f1": float(ratio(2 * tp_label, n_pred_label + n_gold_label).mean()),
        "jaccard": float(ratio(n_inter_ex, n_union_ex).mean()),
        "hamming_loss": float((yp ^ yg).mean()),
        "subset_accuracy": float((yp == yg).all(axis=1).mean()),
        "mean_labels_pred": float(n_pred_ex.mean()),
        "mean_labels_gold": float(n_gold_ex.mean()),
        "num_examples": len(pred_sets),
    }
