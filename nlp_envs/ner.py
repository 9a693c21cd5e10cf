"""Named-entity recognition: tag a sentence word by word with BIO tags."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.error import InvalidAction

from nlp_envs.core import NO_FLAG, NO_ID, NO_SCORE, NlpEnv, NlpVectorEnv, check_flag, int_box
from nlp_envs.metrics import (
    PREFIX_I,
    PREFIX_O,
    TagScheme,
    entity_scores,
    token_classification_report,
)
from nlp_envs.prepared import ListColumn, Prepared, TextColumn
from nlp_envs.readers import DataError
from nlp_envs.tokenization import build_encoder

#: Values of the ``reward=`` argument.
REWARDS = ("entity_f1", "token", "sparse_f1")


def tag_vocabulary(train_tags: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """The tag names in id order, from the train split: ``O``, then ``B-X``, ``I-X`` for each entity
    type ``X`` of the train tags, types sorted (``O B-LOC I-LOC B-PER I-PER``).

    Both tags of a type are included even if only one occurs. A tag that is not ``O``/``B-X``/``I-X``
    (e.g. BIOES ``S-X`` from a ``datasets.Dataset``) raises :class:`DataError`.
    """
    types: set[str] = set()
    for row, tags in enumerate(train_tags):
        for tag in set(tags):
            if tag == "O":
                continue
            if len(tag) < 3 or tag[:2] not in ("B-", "I-"):
                raise DataError(
                    f"train sentence {row}: tag {tag!r} is not a BIO tag ('O', 'B-<type>' or 'I-<type>'); "
                    "read CoNLL files with read_conll(scheme=...) or convert the tags to BIO first"
                )
            types.add(tag[2:])
    return ("O", *(f"{p}-{t}" for t in sorted(types) for p in "BI"))


def map_tags(
    sentences: Sequence[Sequence[str]], tag_names: Sequence[str], *, where: str | Callable[[int, int], str]
) -> tuple[np.ndarray, np.ndarray]:
    """Tag names to a flat ``int64`` id array plus sentence offsets ``(n + 1,)``; an unknown tag fails
    naming its sentence and word (1-based; ``where(sentence, word)`` gives the file and line)."""
    index = {n: i for i, n in enumerate(tag_names)}
    offsets = np.zeros(len(sentences) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in sentences], out=offsets[1:])
    ids = np.empty(int(offsets[-1]), dtype=np.int64)
    for row, tags in enumerate(sentences):
        try:
            ids[offsets[row] : offsets[row + 1]] = [index[t] for t in tags]
        except KeyError:
            pos, tag = next((k, t) for k, t in enumerate(tags) if t not in index)
            at = where(row + 1, pos + 1) if callable(where) else f"{where}, sentence {row + 1}, word {pos + 1}"
            raise DataError(
                f"{at}: tag {tag!r} does not occur in the train split's tag set {list(tag_names)}; fix the "
                "data or add the type to train"
            ) from None
    return ids, offsets


def gold_chunk_arrays(gold: np.ndarray, offsets: np.ndarray, scheme: TagScheme) -> dict[str, np.ndarray]:
    """Per-token gold entity facts for the O(1) entity F1, computed for all sentences at once.

    ``gold`` is the flat tag-id array of the split and ``offsets`` its sentence offsets. Positions are
    relative to the sentence. Entities follow seqeval's default mode (as :func:`get_entities`).

    Returns flat arrays (same length as ``gold``) plus one per-sentence array:

    * ``open_start[k]``: start of the gold entity covering token ``k``, ``-1`` outside entities;
    * ``end_at_start[k]``: end (inclusive) of the gold entity starting at ``k``, else ``-1``;
    * ``count[k]``: gold entities of the sentence cut after token ``k`` (entities starting ``<= k``);
    * ``total`` ``(n,)``: gold entities per sentence.
    """
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
    return {"open_start": open_start.astype(np.int64), "end_at_start": end_at_start,
            "count": count.astype(np.int64), "total": total.astype(np.int64)}


class NerTagEnv(NlpEnv):
    """## Description

    Named-entity recognition as an environment: an episode is one sentence, and each step tags its
    next word with a BIO tag (``O``, ``B-X`` begins an entity of type ``X``, ``I-X`` continues one).
    The agent sees the whole sentence (as subword ids), where each word starts in it, which word is
    next, and the tags it chose so far. ``NerTag-v1`` reads an embedded, seeded corpus
    (``"entities-v1"``: CoNLL-like news and sports sentences with PER, ORG, LOC and DATE entities
    whose names are mostly unseen in train and whose type only the context tells; see
    :mod:`nlp_envs.corpora.ner_v1` and Version History); ``NerTag-v0`` and the class default read its
    predecessor (``"entities"``, :mod:`nlp_envs.corpora.ner`); ``"btc"`` (Broad Twitter Corpus) and
    ``"wnut17"`` read real data from a data directory, and any CoNLL file or folder can be brought in
    (see Arguments).

    ## Action Space

    ``Discrete(num_tags)``: the tag id of the current word; names in ``env.unwrapped.tag_names``.
    The tag set comes from the train split: ``O`` first, then ``B-X``, ``I-X`` for each entity type
    ``X``, types sorted (BTC: ``O B-LOC I-LOC B-ORG I-ORG B-PER I-PER``). A tag of another split that
    is not in this set is an error naming the split, sentence and tag.

    Action mask: ``I-X`` is only valid after ``B-X`` or ``I-X`` (never first). The mask of the next
    action is ``env.unwrapped.action_masks()`` (bool, ``(num_tags,)``, what sb3-contrib's
    ``MaskablePPO`` looks for) and ``info["action_mask"]``. With ``strict=False`` (default) a masked
    tag may still be taken and is scored as given, the seqeval way (``I-X`` after ``O`` opens an
    entity, as ``B-X`` would); with ``strict=True`` it raises ``gymnasium.error.InvalidAction``.

    ## Observation Space

    ``Dict`` of ``int64`` arrays:

    | key              | dtype | shape            | range                   | meaning                                   |
    |------------------|-------|------------------|-------------------------|-------------------------------------------|
    | `input_ids`      | int64 | `(max_length,)`  | `[0, vocab_size - 1]`   | `[CLS] w1 w2 ... [SEP]` subwords, padded with 0 |
    | `attention_mask` | int64 | `(max_length,)`  | `{0, 1}`                | 1 on real tokens                          |
    | `word_starts`    | int64 | `(max_words,)`   | `[0, max_length - 1]`   | position in `input_ids` of each word's first subword; 0 after the last word |
    | `position`       | int64 | `(1,)`           | `[0, max_words]`        | index of the word to tag now (`num_words` once the episode is over) |
    | `prev_tags`      | int64 | `(max_words,)`   | `[0, num_tags]`         | tags chosen so far; `num_tags` = none yet |
    | `num_words`      | int64 | `(1,)`           | `[1, max_words]`        | words in this episode                     |

    Long inputs. Only the episode's words (at most ``max_words``) are encoded. When their subwords
    do not fit in ``max_length``, the tail is cut (the final ``[SEP]`` kept): the words that lost
    all their subwords still get a step and are scored, and their ``word_starts`` entry points at
    the final ``[SEP]`` (the last attended position); ``info["truncated_input"]`` is True. A word
    with no subword at all (e.g. an empty token) points there too. A sentence longer than
    ``max_words`` words is tagged for its first ``max_words`` words only; the rest count as
    predicted ``O`` in its entity F1 (which always uses the full gold sentence), and
    ``info["truncated_words"]`` gives how many words that is (0 otherwise).

    ## Rewards

    ``reward=`` chooses:

    * ``"entity_f1"`` (default): potential-based shaping with the entity F1 of the prefix,
      ``r_t = F1_t - F1_{t-1}`` with ``F1_0 = 0``, where ``F1_t`` is seqeval's entity F1 of the
      gold and predicted tags cut after word ``t`` (:class:`nlp_envs.metrics.IncrementalEntityF1`,
      O(1) per step). The rewards telescope: the episode return is the sentence's entity F1.
    * ``"token"``: 1.0 for each correctly tagged word, else 0.0 (words beyond ``max_words`` earn
      nothing).
    * ``"sparse_f1"``: 0.0 until the last step, which pays the sentence's entity F1.

    Convention: a sentence (or prefix) with no gold and no predicted entity has F1 **1.0** (seqeval
    says 0.0), so tagging an entity-free sentence all ``O`` earns the full return. Corpus-level
    scores of :func:`nlp_envs.evaluate` count entities over all sentences and do not need it.

    ## Starting State

    The first word of a sentence drawn by the env's example order (a fresh seeded permutation of
    the split on each pass; ``order="sequential"`` for evaluation); ``reset(options={"index": i})``
    pins sentence ``i``.

    ## Episode End

    * Termination: after the last word (the ``min(len(sentence), max_words)``-th step).
    * Truncation: never (there is no time limit; ``max_words`` is part of the task, see above).

    Stepping after the end (or before ``reset``) raises ``gymnasium.error.ResetNeeded``; an action
    that is not an int in range raises ``gymnasium.error.InvalidAction``.

    ``info`` (every step): ``index``, ``action_mask`` (for the next word; on the last step too),
    ``truncated_input``, ``truncated_words``, ``gold_tag`` and ``prediction`` (tag ids of the word just
    tagged; ``-1`` after ``reset``) and ``entity_f1`` (of the words tagged so far: the sentence's entity
    F1 at the last step; 0.0 after ``reset``). ``info_mode="full"`` adds ``text`` (the words joined by
    spaces) after ``reset``, ``word`` (the word just tagged) after ``step``, and at the last step
    ``pred_tags`` and ``gold_tags`` (tag names of the whole sentence; words beyond ``max_words``
    predicted ``O``).

    Every ``reset`` and ``step`` returns the same info keys, numpy values of fixed shape
    (``info_mode="lean"``, the default; a key that does not apply holds ``-1``, ``0.0`` or ``False``);
    ``info_mode="full"`` adds the variable ones. ``obs_mode="flat"`` gives one ``int64`` Box instead of
    the Dict (its keys flattened in the Dict's order; ``env.unwrapped.flat_layout``).

    ## Arguments

    ```python
    import gymnasium as gym
    env = gym.make("NerTag-v0", split="train", reward="entity_f1", max_words=48)
    env = gym.make("NerTag-BTC-v0", data_dir="../shared/data", split="test")
    env = gym.make("NerTag-v0", dataset="my_conll_dir/", token_column=0, tag_column=-1)
    ```

    Bring-your-own data: a CoNLL file (used as train), a folder holding ``train.*`` / ``dev.*`` or
    ``validation.*`` / ``test.*``, or a dict of split paths, read by
    :func:`nlp_envs.readers.read_conll`: one token per line, TAB- or whitespace-separated columns,
    whitespace-only lines between sentences, ``-DOCSTART-`` lines skipped, ``#`` comment lines
    skipped; IOB1, IOB2 and BIOES tags are converted to BIO (``scheme="auto"`` detects which). A
    ``datasets.Dataset(Dict)`` with ``tokens``/``tags`` columns (or ``token_column=``/
    ``tag_column=`` names; ``ClassLabel`` tags are decoded) works too.

    | parameter              | default      | meaning                                                        |
    |------------------------|--------------|----------------------------------------------------------------|
    | `dataset`              | `"entities"` | embedded name, `"btc"`, `"wnut17"`, CoNLL file/folder path, dict of split paths, or `datasets.Dataset(Dict)` |
    | `split`                | `"train"`    | `train`, `validation` (alias `dev`) or `test`                  |
    | `reward`               | `"entity_f1"`| `"entity_f1"`, `"token"` or `"sparse_f1"` (see Rewards)        |
    | `strict`               | `False`      | raise `InvalidAction` on a masked tag instead of scoring it    |
    | `max_words`            | `48`         | words tagged per sentence (the rest count as `O`)              |
    | `max_length`           | `64`         | subword tokens per sentence (truncation flagged in `info`)     |
    | `data_dir`             | `None`       | folder of real datasets (else `$NLP_ENVS_DATA_DIR`)            |
    | `tokenizer`            | `None`       | `None` = WordPiece trained on train; `"minilm"`; a path; a tokenizer object |
    | `vocab_size`           | `4000`       | size of the trained vocabulary                                 |
    | `order`                | `"shuffle"`  | `"shuffle"` or `"sequential"`                                  |
    | `shard_index`, `num_shards` | `0`, `1` | visit only `indices[shard_index::num_shards]`                |
    | `token_column`, `tag_column` | `0`, `-1` | CoNLL column positions (names for `datasets` input)          |
    | `scheme`               | `"auto"`     | tag scheme of CoNLL files: `auto`, `iob1`, `iob2`/`bio`, `bioes`/`iobes` |
    | `dataset_kwargs`       | `None`       | options of the embedded generator (`seed`, `sizes`)            |

    Registered configurations: ``NerTag-v1`` (``dataset="entities-v1"``), ``NerTag-v0``
    (``dataset="entities"``), ``NerTag-BTC-v0`` (``dataset="btc"``), ``NerTag-WNUT17-v0``
    (``dataset="wnut17"``).

    ## Vectorized environment

    ``gym.make_vec("NerTag-v0", num_envs=256)`` builds :class:`NerTagVectorEnv`: all sub-envs
    stepped with numpy (the incremental entity F1 included), any ``autoreset_mode``, equal step for
    step to ``SyncVectorEnv`` under the same seeds; ``action_masks()`` gives ``(num_envs,
    num_tags)``. ``nlp_envs.evaluate("NerTag-v0", policy)`` reports corpus entity
    precision/recall/F1 (micro, as seqeval), macro F1, per-type scores and a token-level report.

    ## Version History

    * v1: the embedded default becomes ``"entities-v1"`` (:mod:`nlp_envs.corpora.ner_v1`; train
      6000, validation 400, test 800 sentences), built so that a word lookup fails and context
      succeeds. Name lists are split per seed into parts that train never uses, every name word fills
      every type (``Mr. Hamilton``, ``in Hamilton``, ``Hamilton beat Lisbon 2 - 1``, ``Hamilton
      Holdings``, ``Hamilton County``), and titles, suffixes, prepositions, verbs and pronouns decide
      the type; spans are flat BIO over nested-looking names (``University of Lisbon`` is one ORG),
      sentences 3 to 37 tokens (mean 14.1, CoNLL-2003: 14.5). Measured on the test split (seed 0;
      ``nlp_envs.corpora.ner_v1.statistics``, ``benchmarks/results/nertag_v1_stats.json``): 58.1 %
      of the 2,048 entity mentions never occur in train (60.7 % of PER/LOC/ORG; 26.7 % hold a word
      train never has); 51.4 % of entity tokens are words that train puts in entities of two or more
      types (64.1 % carry two or more tags in train). The per-word majority lookup (``nlp-envs eval
      NerTag-v1 --agent majority``) scores 0.476 entity F1 (a plain word -> tag lookup 0.255); the
      supervised tiny transformer (30,000 examples, the ``NerTag-v0`` grid cell) 0.918, 0.913, 0.923
      (seeds 0, 1, 2), so the names are learnable from context.
    * v0: initial release. Superseded by v1 (issue 21) because it measures memorisation more than
      NER: every word of every test entity occurs in train, only 34 % of test entity tokens ever carry
      more than one tag in train (18 % take two entity types), and the per-word majority lookup scores
      0.882 entity F1 (supervised tiny transformer 0.971; on real data the lookup scores 0.291 on BTC,
      0.056 on WNUT-17). ``NerTag-v0`` stays registered and unchanged, so its numbers remain
      reproducible.
    """

    task = "ner"
    default_dataset = "entities"

    def __init__(
        self,
        dataset: Any = None,
        split: str = "train",
        *,
        reward: str = "entity_f1",
        strict: bool = False,
        max_words: int = 48,
        max_length: int = 64,
        token_column: str | int = 0,
        tag_column: str | int = -1,
        scheme: str = "auto",
        **kwargs: Any,
    ) -> None:
        if reward not in REWARDS:
            raise ValueError(f"reward={reward!r}: expected one of {REWARDS}")
        if not isinstance(max_words, int) or isinstance(max_words, bool) or max_words < 1:
            raise ValueError(f"max_words={max_words!r} must be a positive int")
        self.reward_mode = reward
        self.strict = check_flag("strict", strict)
        self.max_words = max_words
        self._columns = {"token_column": token_column, "tag_column": tag_column, "scheme": scheme}
        super().__init__(dataset=dataset, split=split, max_length=max_length, columns=self._columns, **kwargs)
        self.tag_names: tuple[str, ...] = tuple(self.prepared.meta["tag_names"])
        self.num_tags = len(self.tag_names)
        self.scheme = TagScheme(self.tag_names)
        allowed = self.scheme.allowed_next.copy()  # (num_tags + 1, num_tags); row num_tags = start
        allowed.setflags(write=False)
        self._allowed = allowed
        self.action_space = spaces.Discrete(self.num_tags)
        self.observation_space = spaces.Dict(
            {
                "input_ids": int_box(self.encoder.vocab_size - 1, (self.max_length,)),
                "attention_mask": int_box(1, (self.max_length,)),
                "word_starts": int_box(self.max_length - 1, (max_words,)),
                "position": int_box(max_words, (1,)),
                "prev_tags": int_box(self.num_tags, (max_words,)),
                "num_words": int_box(max_words, (1,), low=1),
            }
        )
        arrays, lists = self.prepared.arrays, self.prepared.lists
        L = self.max_length
        # (n, 2 * max_length + 2 * max_words + 2): each sentence's first observation, flat, in the
        # order of _slices below; (n, 6): word offsets start/end, num_words, gold entities, truncated,
        # and whether text.split(" ") gives the words back (no empty word, none with a space).
        self._initial, self._episode = arrays["initial_obs"], arrays["episode"]
        self._ids, self._mask = self._initial[:, :L], self._initial[:, L : 2 * L]
        self._starts = self._initial[:, 2 * L : 2 * L + max_words]
        self._num_words, self._gold_total = self._episode[:, 2], self._episode[:, 3]
        self._truncated = self._episode[:, 4].astype(bool)
        self._facts, self._offsets = lists["gold_facts"].arrays()  # (num_words_total, 5), (n + 1,)
        self._texts: TextColumn = self.prepared.texts["text"]
        self._tokens: TextColumn = self.prepared.texts["tokens"]  # one row per word, flat
        self._prefix_list: list[int] = self.scheme.prefix.tolist()
        self._type_list: list[int] = self.scheme.type_id.tolist()
        # One buffer holds the current observation, flat; each step copies it into fresh memory
        # (a _Pool row) and hands out views of that copy.
        sizes = {"input_ids": L, "attention_mask": L, "word_starts": max_words,
                 "position": 1, "prev_tags": max_words, "num_words": 1}
        ends = np.cumsum(list(sizes.values())).tolist()
        self._slices = tuple(slice(e - n, e) for n, e in zip(sizes.values(), ends))
        self._buf = np.zeros(ends[-1], dtype=np.int64)
        self._pos_at = self._slices[3].start
        self._prev_at = self._slices[4].start
        # Episode state (the entity F1 counters mirror IncrementalEntityF1, see _step_action).
        self._t = 0
        self._T = 0
        self._extra = 0
        self._last_tag = self.num_tags  # row of _allowed: num_tags = sentence start
        self._words: list[str] = []
        self._pool: _Pool | None = None
        self._gold: list[int] = []
        self._gold_type: list[int] = []
        self._gold_open: list[int] = []
        self._gold_end: list[int] = []
        self._gold_count: list[int] = []
        self._gold_n = 0
        self._open_start = -1
        self._open_type = -1
        self._closed_pred = 0
        self._closed_tp = 0
        self._f1 = 0.0
        self._cut = False

    # -- preparation -------------------------------------------------------------------------------
    def _prep_settings(self) -> Any:
        return {"max_words": self.max_words, **self._columns}

    def _prepare_split(self, split: str) -> Prepared:
        data = self.data
        train = data.splits.get("train")
        if train is None:
            raise DataError(
                f"dataset {data.name!r} has no train split to build the tag set and vocabulary from; "
                f"available splits: {sorted(data.splits)}"
            )
        names = tag_vocabulary(train["tags"])
        scheme = TagScheme(names)
        encoder = build_encoder(
            self._tokenizer_spec, train_texts=[" ".join(ws) for ws in train["tokens"]], vocab_size=self._vocab_size
        )
        cols = data.split(split)
        tokens, tags = cols["tokens"], cols["tags"]
        where = f"dataset {data.name!r} split {split!r}"
        for row, (ws, ts) in enumerate(zip(tokens, tags)):
            if len(ws) != len(ts) or not ws:
                raise DataError(
                    f"{where}, sentence {row + 1}: {len(ws)} words but {len(ts)} tags"
                    + ("" if ws else " (an empty sentence cannot be an episode)")
                )
        gold, offsets = map_tags(tags, names, where=lambda row, word: data.where(split, row, word=word))
        chunks = gold_chunk_arrays(gold, offsets, scheme)
        n, w = len(tokens), self.max_words
        episode_words = [[str(x) for x in ws[:w]] for ws in tokens]
        ids, mask, truncated, starts = encoder.encode_words_batch(episode_words, self.max_length)
        last = np.maximum(mask.sum(axis=1) - 1, 0)  # (n,) last attended position (the final [SEP])
        word_starts = np.zeros((n, w), dtype=np.int64)
        for row, first in enumerate(starts):
            word_starts[row, : len(first)] = np.where(first >= 0, first, last[row])
        lengths = np.diff(offsets)
        # Per word of the split, what step needs: tag id, type id and the gold_chunk_arrays facts.
        facts = np.stack([gold, scheme.type_id[gold], chunks["open_start"], chunks["end_at_start"],
                          chunks["count"]], axis=1).astype(np.int64)
        num_words = np.minimum(lengths, w)
        k = len(names)
        initial = np.concatenate(  # input_ids | attention_mask | word_starts | position | prev_tags | num_words
            [ids, mask, word_starts, np.zeros((n, 1), np.int64), np.full((n, w), k, np.int64), num_words[:, None]],
            axis=1,
        )
        plain = np.array([all(x and " " not in x for x in map(str, ws)) for ws in tokens], dtype=bool)
        episode = np.stack([offsets[:-1], offsets[1:], num_words, chunks["total"], truncated, plain], axis=1)
        return Prepared(
            encoder=encoder,
            arrays={"initial_obs": initial, "episode": episode.astype(np.int64)},
            lists={"gold_facts": ListColumn(facts, offsets)},
            texts={
                "text": TextColumn.from_strings(" ".join(str(x) for x in ws) for ws in tokens),
                "tokens": TextColumn.from_strings(str(x) for ws in tokens for x in ws),
            },
            meta={"num_examples": n, "tag_names": list(names), "dataset": data.name, "max_words": w},
        )

    # -- episode ---------------------------------------------------------------------------------
    def _obs(self, mask_row: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """A fresh copy of the observation buffer, and of row ``mask_row`` of the mask table."""
        pool = self._pool
        if pool is None or pool.k == _Pool.SIZE:
            pool = self._pool = _Pool(self._buf.size, self._slices, self.num_tags)
        j = pool.k
        pool.k = j + 1
        pool.obs[j] = self._buf
        pool.masks[j] = self._allowed[mask_row]
        v = pool.views
        return ({"input_ids": v[0][j], "attention_mask": v[1][j], "word_starts": v[2][j], "position": v[3][j],
                 "prev_tags": v[4][j], "num_words": v[5][j]}, pool.mask_views[j])

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_pool"] = None  # views do not survive pickling; a new pool is made on the next step
        return state

    @property
    def _prev_tags(self) -> np.ndarray:
        """The tags chosen so far (a view of the observation buffer; not stored: views do not pickle)."""
        return self._buf[self._slices[4]]

    def _start_episode(self, index: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        o0, o1, T, n_gold, truncated, plain = self._episode[index].tolist()
        self._gold, self._gold_type, self._gold_open, self._gold_end, self._gold_count = (
            self._facts[o0:o1].T.tolist()
        )
        self._gold_n = n_gold
        text = self._texts[index]
        self._words = text.split(" ") if plain else [self._tokens[k] for k in range(o0, o1)]
        self._t = 0
        self._T = T
        self._extra = (o1 - o0) - T
        self._open_start = self._open_type = -1
        self._closed_pred = self._closed_tp = 0
        self._f1 = 0.0
        self._last_tag = k = self.num_tags
        self._buf[:] = self._initial[index]
        obs, mask = self._obs(k)
        self._cut = bool(truncated)
        info = {"index": index, "action_mask": mask, "truncated_input": self._cut, "truncated_words": self._extra}
        if self.info_mode == "full":
            info["text"] = text
        return obs, info

    def lean_info_spec(self) -> dict[str, Any]:
        return {"index": NO_ID, "action_mask": None, "truncated_input": NO_FLAG, "truncated_words": NO_ID,
                "gold_tag": NO_ID, "prediction": NO_ID, "entity_f1": NO_SCORE}

    def _strict_error(self, action: int) -> InvalidAction:
        prev = "the sentence start" if self._last_tag == self.num_tags else repr(self.tag_names[self._last_tag])
        allowed = [n for n, ok in zip(self.tag_names, self._allowed[self._last_tag]) if ok]
        return InvalidAction(
            f"tag {self.tag_names[action]!r} (action {action}) cannot follow {prev} (strict=True): I-X must "
            f"follow B-X or I-X; allowed now: {allowed}"
        )

    def _step_action(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        if self.strict and not self._allowed[self._last_tag, action]:
            raise self._strict_error(action)  # before any state changes
        # Entity F1 of the prefix, exactly IncrementalEntityF1.push (seqeval spans, 1.0 when empty),
        # from the gold facts precomputed per word (gold_chunk_arrays).
        t = self._t
        prefix, type_ = self._prefix_list[action], self._type_list[action]
        start, open_type = self._open_start, self._open_type
        if not (prefix == PREFIX_I and start >= 0 and type_ == open_type):
            if start >= 0:  # the open predicted chunk ends at t - 1 and is final
                self._closed_pred += 1
                if self._gold_end[start] == t - 1 and self._gold_type[start] == open_type:
                    self._closed_tp += 1
            if prefix == PREFIX_O:
                start = open_type = -1
            else:
                start, open_type = t, type_
            self._open_start, self._open_type = start, open_type
        terminated = t + 1 == self._T
        tp = self._closed_tp
        if terminated:  # the rest of the sentence (beyond max_words) is O: all gold entities count
            n_gold = self._gold_n
            if start >= 0 and self._gold_end[start] == t and self._gold_type[start] == open_type:
                tp += 1
        else:
            n_gold = self._gold_count[t]
            if start >= 0 and self._gold_open[t] == start and self._gold_type[t] == open_type:
                tp += 1
        denom = self._closed_pred + (start >= 0) + n_gold
        f1 = 2.0 * tp / denom if denom else 1.0
        gold = self._gold[t]
        mode = self.reward_mode
        if mode == "entity_f1":
            reward = f1 - self._f1
        elif mode == "token":
            reward = float(action == gold)
        else:
            reward = f1 if terminated else 0.0
        self._f1 = f1
        self._last_tag = action
        self._t = t + 1
        buf = self._buf
        buf[self._prev_at + t] = action
        buf[self._pos_at] = t + 1
        obs, mask = self._obs(action)
        info: dict[str, Any] = {"index": self._index, "gold_tag": gold, "prediction": action, "action_mask": mask,
                                "entity_f1": f1, "truncated_input": self._cut, "truncated_words": self._extra}
        if self.info_mode == "full":
            info["word"] = self._words[t]
        if terminated and self.info_mode == "full":
            names = self.tag_names
            info["pred_tags"] = [names[x] for x in self._prev_tags[: self._T].tolist()] + ["O"] * self._extra
            info["gold_tags"] = [names[x] for x in self._gold]
        return obs, reward, terminated, False, info

    def action_masks(self) -> np.ndarray:
        """Valid tags for the current word, bool ``(num_tags,)`` (sb3-contrib ``MaskablePPO``)."""
        return self._allowed[self._last_tag].copy()

    @property
    def entity_f1(self) -> float:
        """Entity F1 of the words tagged so far (0.0 before the first step)."""
        return self._f1

    def gold_arrays(self) -> dict[str, np.ndarray]:
        """The split's first observations and gold tags, for supervised training (read-only views).

        Keys: ``input_ids``, ``attention_mask`` ``(n, max_length)``, ``word_starts`` ``(n, max_words)``
        (as in the first observation of each sentence), ``num_words`` ``(n,)`` (words the episode tags,
        at most ``max_words``) and ``gold_tags`` ``(n, max_words)``: the gold tag id of each word, 0
        past ``num_words``.
        """
        n, w = len(self._num_words), self.max_words
        num_words = np.asarray(self._num_words)
        mask = np.arange(w)[None] < num_words[:, None]
        rows, cols = np.nonzero(mask)
        gold = np.zeros((n, w), dtype=np.int64)
        gold[rows, cols] = self._facts[np.asarray(self._offsets)[rows] + cols, 0]
        return {"input_ids": self._ids, "attention_mask": self._mask, "word_starts": self._starts,
                "num_words": num_words, "gold_tags": gold}

    # -- play / render -------------------------------------------------------------------------------
    def parse_actions(self, line: str) -> list[int]:
        """One or more tags separated by spaces, each a tag name (case-insensitive) or a tag number:
        ``"B-PER"``, ``"b-per i-per o"``, ``"1 2 0"``."""
        parts = line.split()
        if not parts:
            raise ValueError(f"type a tag: a number in [0, {self.num_tags}) or one of {list(self.tag_names)}")
        lower: dict[str, list[int]] = {}
        for i, n in enumerate(self.tag_names):
            lower.setdefault(n.lower(), []).append(i)
        out = []
        for p in parts:
            if p.isdigit() and int(p) < self.num_tags:
                out.append(int(p))
            elif p in self.tag_names:
                out.append(self.tag_names.index(p))
            elif len(lower.get(p.lower(), ())) == 1:
                out.append(lower[p.lower()][0])
            else:
                raise ValueError(
                    f"{p!r} is not a tag: type a number in [0, {self.num_tags}) or one of {list(self.tag_names)}"
                )
        return out

    def _render_text(self) -> str:
        i, t, T = self._index, self._t, self._T
        words = self._words
        names = self.tag_names
        shown = []
        for k, word in enumerate(words):
            if k < t:
                shown.append(f"{word}/{names[int(self._prev_tags[k])]}")
            elif k == t and k < T:
                shown.append(f">>{word}<<")
            else:
                shown.append(word)
        done = t == T
        head = f"[{self.split} #{i}] word {min(t + 1, T)}/{T}" if not done else f"[{self.split} #{i}] done"
        lines = [f"{head}  entity F1 so far: {self._f1:.3f}", "  " + " ".join(shown)]
        if done:
            pred = [names[int(x)] for x in self._prev_tags[:T]] + ["O"] * self._extra
            gold = [
                f"{w}/{names[g]}" + ("" if names[g] == p else "!") for w, g, p in zip(words, self._gold, pred)
            ]
            lines.append("  gold: " + " ".join(gold) + "   (! = wrong)")
        return "\n".join(lines)


class _Pool:
    """Fresh memory for observations and masks, allocated :attr:`SIZE` steps at a time.

    Gymnasium wants each step's arrays to own new memory (users keep them). Copying the buffer
    into the next row of a block and handing out pre-split views of that row costs one row copy
    per step instead of a copy plus six slices.
    """

    SIZE = 256

    def __init__(self, width: int, slices: tuple[slice, ...], num_tags: int) -> None:
        self.k = 0
        self.obs = np.empty((self.SIZE, width), dtype=np.int64)
        self.views = [list(self.obs[:, sl]) for sl in slices]  # per key: SIZE row views
        self.masks = np.empty((self.SIZE, num_tags), dtype=bool)
        self.mask_views = list(self.masks)


class NerTagVectorEnv(NlpVectorEnv):
    """Native vector version of :class:`NerTagEnv` (numpy; any ``autoreset_mode``).

    The incremental entity F1 runs for all sub-envs at once on per-env counters (closed true
    positives and predictions, the open predicted chunk) and the gold facts precomputed per token
    (:func:`gold_chunk_arrays`); Python loops run only over sub-envs that start or end an episode.
    """

    env_class = NerTagEnv

    def __init__(self, num_envs: int = 1, **kwargs: Any) -> None:
        super().__init__(num_envs, **kwargs)
        env: NerTagEnv = self.env  # type: ignore[assignment]
        self.tag_names = env.tag_names
        self.num_tags = k = env.num_tags
        self.max_words = w = env.max_words
        self.reward_mode, self.strict = env.reward_mode, env.strict
        self._allowed = env._allowed
        self._prefix = env.scheme.prefix.astype(np.int64)
        self._type = env.scheme.type_id
        self._names = np.array([*env.tag_names, "-"], dtype=object)  # last: prev_tags padding (num_tags)
        self._ids, self._mask, self._starts = env._ids, env._mask, env._starts
        self._num_words, self._truncated, self._gold_total = env._num_words, env._truncated, env._gold_total
        facts, self._offsets = env._facts, env._offsets
        # words beyond max_words per sentence (info 'truncated_words'): derived once, read on every step
        self._truncated_words = np.diff(self._offsets) - self._num_words
        self._gold, self._gold_type, self._open_start_g, self._end_at_start, self._count = (
            np.ascontiguousarray(facts[:, c]) for c in range(facts.shape[1])
        )
        self._texts, self._token_col = env._texts, env._tokens
        self._words: np.ndarray | None = None  # object array of all words, built on the first step
        self._gold_names: list[str] | None = None  # gold tag name of every word, built on the first end
        n = num_envs
        self._cur = np.zeros(n, dtype=np.int64)
        self._base = np.zeros(n, dtype=np.int64)
        self._t = np.zeros(n, dtype=np.int64)
        self._T = np.ones(n, dtype=np.int64)
        self._last = np.full(n, k, dtype=np.int64)
        self._open_s = np.full(n, -1, dtype=np.int64)
        self._open_ty = np.full(n, -1, dtype=np.int64)
        self._closed_pred = np.zeros(n, dtype=np.int64)
        self._closed_tp = np.zeros(n, dtype=np.int64)
        self._f1 = np.zeros(n, dtype=np.float64)
        self._prev_tags = np.full((n, w), k, dtype=np.int64)

    def _begin(self, env_ids: np.ndarray) -> dict[str, Any]:
        idx = self._next_indices(env_ids)
        self._cur[env_ids] = idx
        self._base[env_ids] = self._offsets[idx]
        self._t[env_ids] = 0
        self._T[env_ids] = self._num_words[idx]
        self._last[env_ids] = self.num_tags
        self._open_s[env_ids] = -1
        self._open_ty[env_ids] = -1
        self._closed_pred[env_ids] = 0
        self._closed_tp[env_ids] = 0
        self._f1[env_ids] = 0.0
        self._prev_tags[env_ids] = self.num_tags
        masks = np.broadcast_to(self._allowed[self.num_tags], (len(env_ids), self.num_tags))
        infos = {"index": idx, "action_mask": masks, "truncated_input": self._truncated[idx],
                 "truncated_words": self._truncated_words[idx]}
        if self.full_info:
            infos["text"] = self._texts.take(idx)
        return infos

    def _advance(self, actions: np.ndarray, active: np.ndarray):
        last_tag = self._last[active]
        if self.strict:
            bad = np.flatnonzero(~self._allowed[last_tag, actions])
            if len(bad):
                j = int(bad[0])
                prev = "the sentence start" if last_tag[j] == self.num_tags else repr(self.tag_names[last_tag[j]])
                raise InvalidAction(
                    f"sub-env {int(active[j])}: tag {self.tag_names[actions[j]]!r} (action {int(actions[j])}) "
                    f"cannot follow {prev} (strict=True): I-X must follow B-X or I-X"
                )
        if self._words is None and self.full_info:
            self._words = _words_array(self._token_col)
        base, t, T = self._base[active], self._t[active], self._T[active]
        flat = base + t
        gold = self._gold[flat]
        pre, typ = self._prefix[actions], self._type[actions]
        open_s, open_ty = self._open_s[active], self._open_ty[active]
        # The predicted chunk continues (I-X after B-X/I-X), or the open one closes at t - 1 (final).
        cont = (pre == PREFIX_I) & (open_s >= 0) & (typ == open_ty)
        closing = (open_s >= 0) & ~cont
        s_flat = base + np.maximum(open_s, 0)
        closed_match = closing & (self._end_at_start[s_flat] == t - 1) & (self._gold_type[s_flat] == open_ty)
        closed_pred = self._closed_pred[active] + closing
        closed_tp = self._closed_tp[active] + closed_match
        outside = pre == PREFIX_O
        open_s = np.where(cont, open_s, np.where(outside, -1, t))
        open_ty = np.where(cont, open_ty, np.where(outside, -1, typ))
        has_open = open_s >= 0
        final = t + 1 == T
        # Open chunk: a true positive iff the gold chunk covering t starts with it (same type); at the
        # last step the episode's rest is O, so it must be a gold entity ending exactly at t.
        o_flat = base + np.maximum(open_s, 0)
        match_now = has_open & (self._open_start_g[flat] == open_s) & (self._gold_type[flat] == open_ty)
        match_end = has_open & (self._end_at_start[o_flat] == t) & (self._gold_type[o_flat] == open_ty)
        tp = closed_tp + np.where(final, match_end, match_now)
        n_pred = closed_pred + has_open
        n_gold = np.where(final, self._gold_total[self._cur[active]], self._count[flat])
        denom = n_pred + n_gold
        f1 = np.where(denom > 0, 2.0 * tp / np.maximum(denom, 1), 1.0)
        if self.reward_mode == "entity_f1":
            rewards = f1 - self._f1[active]
        elif self.reward_mode == "token":
            rewards = (actions == gold).astype(np.float64)
        else:
            rewards = np.where(final, f1, 0.0)
        # Store the new state.
        self._prev_tags[active, t] = actions
        self._t[active] = t + 1
        self._last[active] = actions
        self._open_s[active], self._open_ty[active] = open_s, open_ty
        self._closed_pred[active], self._closed_tp[active] = closed_pred, closed_tp
        self._f1[active] = f1
        cur = self._cur[active]
        infos: dict[str, Any] = {"index": cur, "gold_tag": gold, "prediction": actions,
                                 "action_mask": self._allowed[actions], "entity_f1": f1,
                                 "truncated_input": self._truncated[cur],
                                 "truncated_words": self._truncated_words[cur]}
        done = np.flatnonzero(final)
        if self.full_info:
            infos["word"] = self._words[flat]  # type: ignore[index]
        if len(done) and self.full_info:
            ids = active[done]
            cur = self._cur[ids]
            starts, ends = self._offsets[cur].tolist(), self._offsets[cur + 1].tolist()
            tagged = self._T[ids].tolist()
            rows = self._names[self._prev_tags[ids]].tolist()
            if self._gold_names is None:
                self._gold_names = self._names[self._gold].tolist()
            gold_names = self._gold_names
            pred_tags = np.empty(len(done), dtype=object)
            gold_tags = np.empty(len(done), dtype=object)
            for j in range(len(done)):  # only sub-envs ending an episode; words beyond max_words: O
                o0, o1, n = starts[j], ends[j], tagged[j]
                pred_tags[j] = rows[j][:n] + ["O"] * (o1 - o0 - n)
                gold_tags[j] = gold_names[o0:o1]
            self._report_subset(ids, {"pred_tags": pred_tags, "gold_tags": gold_tags})
        return rewards, final, np.zeros(len(active), dtype=bool), infos

    def _observe(self) -> dict[str, np.ndarray]:
        cur = self._cur
        return {
            "input_ids": self._ids[cur], "attention_mask": self._mask[cur], "word_starts": self._starts[cur],
            "position": self._t[:, None].copy(), "prev_tags": self._prev_tags.copy(),
            "num_words": self._T[:, None].copy(),
        }

    def action_masks(self) -> np.ndarray:
        """Valid tags for each sub-env's next word, bool ``(num_envs, num_tags)``."""
        return self._allowed[self._last]

    def make_evaluator(self) -> NerEvaluator:
        return NerEvaluator(self.tag_names)


def _words_array(col: TextColumn) -> np.ndarray:
    """All rows of a :class:`TextColumn` as an object array (built once, so that a step gathers the
    words of all sub-envs with one numpy index)."""
    data, offsets = col.arrays()
    raw, o = data.tobytes(), offsets.tolist()
    out = np.empty(len(o) - 1, dtype=object)
    out[:] = [raw[o[k] : o[k + 1]].decode("utf-8", "surrogatepass") for k in range(len(o) - 1)]
    return out


class NerEvaluator:
    """Corpus entity scores (seqeval's) and a token-level report over one pass of a split.

    ``compute()`` returns

    * ``entity_f1``, ``entity_precision``, ``entity_recall``: micro averages over all entities, equal
      to seqeval's ``f1_score``/``precision_score``/``recall_score`` (default mode);
    * ``entity_macro_f1``: mean F1 over the entity types found in gold or prediction;
    * ``per_type``: ``{type: {"precision", "recall", "f1", "support"}}``;
    * ``token_accuracy``: fraction of words with the right tag (``O`` included);
    * ``token_report``: per-tag precision/recall/F1 over every word, ``O`` included (sklearn's
      ``classification_report``), labelled ``"level": "token_level_including_O"``: **not** an
      entity score;
    * ``num_sentences``, ``num_gold_entities``, ``num_pred_entities``.
    """

    done_key = "pred_tags"

    def __init__(self, tag_names: Sequence[str]) -> None:
        self.tag_names = tuple(tag_names)
        self._pred: list[list[str]] = []
        self._gold: list[list[str]] = []

    def add(self, infos: dict[str, Any], env_ids: np.ndarray) -> None:
        self._pred.extend(infos["pred_tags"][env_ids])
        self._gold.extend(infos["gold_tags"][env_ids])

    def compute(self) -> dict[str, Any]:
        if not self._gold:
            raise RuntimeError("no sentence was scored")
        ent = entity_scores(self._gold, self._pred)
        report = token_classification_report(self._gold, self._pred, self.tag_names)
        return {
            "entity_f1": ent["f1"],
            "entity_precision": ent["precision"],
            "entity_recall": ent["recall"],
            "entity_macro_f1": ent["macro"]["f1"],  # type: ignore[index]
            "per_type": ent["per_type"],
            "token_accuracy": report["accuracy"],
            "token_report": {"level": "token_level_including_O", **report},
            "num_sentences": len(self._gold),
            "num_gold_entities": ent["num_gold"],
            "num_pred_entities": ent["num_pred"],
        }
