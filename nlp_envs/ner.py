"""Named-entity recognition: tag a sentence word by word with BIO tags."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.error import InvalidAction

from nlp_envs import data
from nlp_envs.core import NO_FLAG, NO_ID, NO_SCORE, NlpEnv, NlpVectorEnv, check_flag, int_box, take_texts
from nlp_envs.family import GOLD_EPISODES, DataSchema, Family, GoldEpisodes, register_family
from nlp_envs.metrics import (
    TagScheme,
    entity_f1_step,
    entity_scores,
    get_entities,
    gold_chunk_arrays,
    token_classification_report,
)
from nlp_envs.prepared import ListColumn, Prepared, TextColumn
from nlp_envs.readers import DataError
from nlp_envs.text_mode import Parsed, TextCodec, fail, fit, normalize
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


def tag_step(
    reward_mode: str, prefix_of: Any, type_of: Any, actions: Any, gold: Any, t: Any, T: Any, prev_f1: Any,
    state: tuple[Any, Any, Any, Any], facts: tuple[Any, Any, Any, Any], base: Any, gold_total: Any,
) -> tuple[Any, Any, Any, tuple[Any, Any, Any, Any]]:
    """The step kernel of NER tagging, for a batch (numpy arrays: the vector env) or one env (Python
    scalars: the single env), the same code for both.

    Tags word ``t`` (of ``T`` the episode tags) with ``actions`` (tag ids; ``prefix_of``/``type_of`` map
    a tag id to its BIO prefix and type, :class:`~nlp_envs.metrics.TagScheme`), ``gold`` being the gold
    tag; the entity F1 of the prefix is :func:`nlp_envs.metrics.entity_f1_step` (``state``, ``facts``,
    ``base`` and ``gold_total`` are its arguments; the last word scores the whole gold sentence, words
    beyond ``max_words`` predicted ``O``). Returns ``(rewards, terminated, f1, state)``; the reward is
    ``f1 - prev_f1`` (``"entity_f1"``), ``1.0`` for the right tag (``"token"``) or the F1 on the last
    step (``"sparse_f1"``).
    """
    final = t + 1 == T
    f1, _, _, _, state = entity_f1_step(prefix_of[actions], type_of[actions], t, final, state, facts, base,
                                        gold_total)
    if reward_mode == "entity_f1":
        rewards = f1 - prev_f1
    elif reward_mode == "token":
        rewards = 1.0 * (actions == gold)
    else:  # "sparse_f1"
        rewards = f1 * final
    return rewards, final, f1, state


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

    ## Text mode

    ``gym.make("NerTag-v1", obs_mode="text")`` (:mod:`nlp_envs.text_mode`, :class:`NerTagCodec`): the
    observation is a prompt naming the dataset's entity types and showing the words the episode tags
    (the first ``max_words``, joined by spaces), and one step answers the whole sentence, either as an
    entity list ``PER: John Smith; LOC: Paris`` (``none`` for no entity; each entity is placed on the
    first free occurrence of its words) or as one tag per word ``B-PER I-PER O O B-LOC``. The reward is
    the episode return of those tags (the sentence's entity F1 by default); an answer that does not
    parse earns ``parse_error_reward`` and is scored as no entity. ``env.unwrapped.gold_answer()`` gives
    the gold entity list; :attr:`NerTagCodec.answer_formats` states the rules exactly.

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
        # words beyond max_words per sentence (info 'truncated_words')
        self._truncated_words = np.diff(self._offsets) - self._num_words
        self._texts: TextColumn = self.prepared.texts["text"]
        self._tokens: TextColumn = self.prepared.texts["tokens"]  # one row per word, flat
        self._all_words: np.ndarray | None = None  # object array of all words, built on first use
        self._names = np.array([*self.tag_names, "-"], dtype=object)  # last: prev_tags padding (num_tags)
        self._tag64 = np.arange(self.num_tags, dtype=np.int64)  # tag id -> np.int64 (info values)
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
        # Episode state: the sentence's words and gold facts (Python lists: tag_step runs on scalars)
        # and the tag_step state.
        self._t = 0
        self._T = 0
        self._extra = 0
        self._base = 0  # the sentence's first word in the split's flat word arrays
        self._last_tag = self.num_tags  # row of _allowed: num_tags = sentence start
        self._pool: _Pool | None = None
        self._gold: list[int] = []
        self._sentence_facts: tuple[list[int], ...] = ([], [], [], [])
        self._gold_n = 0
        self._f1_state: tuple[int, int, int, int] = (-1, -1, 0, 0)
        self._f1 = 0.0

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
        # Per word of the split, what step needs: the tag id and the gold_chunk_arrays facts
        # (type, open_start, end_at_start, count: the facts argument of entity_f1_step).
        facts = np.stack([gold, chunks["type"], chunks["open_start"], chunks["end_at_start"],
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
        o0, o1, T, n_gold, _, _ = self._episode[index].tolist()
        self._gold, *facts = self._facts[o0:o1].T.tolist()
        self._sentence_facts = tuple(facts)
        self._gold_n = n_gold
        self._t = 0
        self._T = T
        self._extra = (o1 - o0) - T
        self._base = o0
        self._f1_state = (-1, -1, 0, 0)
        self._f1 = 0.0
        self._last_tag = k = self.num_tags
        self._buf[:] = self._initial[index]
        obs, mask = self._obs(k)
        return obs, self.begin_info(self._index64, mask)

    def lean_info_spec(self) -> dict[str, Any]:
        return {"index": NO_ID, "action_mask": None, "truncated_input": NO_FLAG, "truncated_words": NO_ID,
                "gold_tag": NO_ID, "prediction": NO_ID, "entity_f1": NO_SCORE}

    # -- what the single and the vector env share (arrays or scalars) ----------------------------
    def begin_info(self, cur: Any, masks: Any) -> dict[str, Any]:
        """Reset info of the sentences ``cur`` (an index array, or one ``np.int64``)."""
        info = {"index": cur, "action_mask": masks, "truncated_input": self._truncated[cur],
                "truncated_words": self._truncated_words[cur]}
        if self.info_mode == "full":
            info["text"] = take_texts(self._texts, cur)
        return info

    def tag_info(self, cur: Any, gold: Any, actions: Any, masks: Any, f1: Any, word_at: Any
                 ) -> dict[str, Any]:
        """Step info of the sentences ``cur`` whose word at flat position ``word_at`` (in the split's
        word arrays) was tagged ``actions`` (gold tag ``gold``; arrays, or ``np.int64`` values), entity
        F1 ``f1`` so far."""
        info = {"index": cur, "gold_tag": gold, "prediction": actions, "action_mask": masks,
                "entity_f1": f1, "truncated_input": self._truncated[cur],
                "truncated_words": self._truncated_words[cur]}
        if self.info_mode == "full":
            if self._all_words is None:
                self._all_words = _words_array(self._tokens)
            info["word"] = self._all_words[word_at]
        return info

    def episode_tags(self, cur: np.ndarray, prev_tags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``pred_tags`` and ``gold_tags`` (info at the last step, ``info_mode="full"``) of the sentences
        ``cur`` whose episodes end with tags ``prev_tags`` ``(len(cur), max_words)``: object arrays of
        lists of tag names of the whole sentence, words beyond ``max_words`` predicted ``O``."""
        starts, ends = self._offsets[cur].tolist(), self._offsets[cur + 1].tolist()
        tagged = self._num_words[cur].tolist()
        rows = self._names[prev_tags].tolist()
        pred_tags = np.empty(len(cur), dtype=object)
        gold_tags = np.empty(len(cur), dtype=object)
        for j in range(len(cur)):  # only sentences ending an episode
            o0, o1, n = starts[j], ends[j], tagged[j]
            pred_tags[j] = rows[j][:n] + ["O"] * (o1 - o0 - n)
            gold_tags[j] = self._names[self._facts[o0:o1, 0]].tolist()
        return pred_tags, gold_tags

    def strict_error(self, last_tag: int, action: int, sub_env: int | None = None) -> InvalidAction:
        """The error of a masked tag with ``strict=True`` (``sub_env``: which sub-env of a vector env)."""
        prev = "the sentence start" if last_tag == self.num_tags else repr(self.tag_names[last_tag])
        allowed = [n for n, ok in zip(self.tag_names, self._allowed[last_tag]) if ok]
        where = "" if sub_env is None else f"sub-env {sub_env}: "
        return InvalidAction(
            f"{where}tag {self.tag_names[action]!r} (action {action}) cannot follow {prev} (strict=True): "
            f"I-X must follow B-X or I-X; allowed now: {allowed}"
        )

    # -- single env step -------------------------------------------------------------------------
    def _step_action(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        last = self._last_tag
        if self.strict and not self._allowed[last, action]:
            raise self.strict_error(last, action)  # before any state changes
        t = self._t
        gold = self._gold[t]
        reward, terminated, f1, self._f1_state = tag_step(
            self.reward_mode, self._prefix_list, self._type_list, action, gold, t, self._T, self._f1,
            self._f1_state, self._sentence_facts, 0, self._gold_n)
        self._f1 = f1
        self._last_tag = action
        self._t = t + 1
        buf = self._buf
        buf[self._prev_at + t] = action
        buf[self._pos_at] = t + 1
        obs, mask = self._obs(action)
        info = self.tag_info(self._index64, self._tag64[gold], self._tag64[action], mask, f1, self._base + t)
        if terminated and self.info_mode == "full":
            pred_tags, gold_tags = self.episode_tags(np.array([self._index]), self._prev_tags[None])
            info["pred_tags"], info["gold_tags"] = pred_tags[0], gold_tags[0]
        return obs, reward, terminated, False, info

    def action_masks(self) -> np.ndarray:
        """Valid tags for the current word, bool ``(num_tags,)`` (sb3-contrib ``MaskablePPO``)."""
        return self._allowed[self._last_tag].copy()

    @property
    def entity_f1(self) -> float:
        """Entity F1 of the words tagged so far (0.0 before the first step)."""
        return self._f1

    # -- the split's sentences (text mode reads them; not used by the step) --------------------------
    @property
    def texts(self) -> TextColumn:
        """The sentences of the split, each its words joined by single spaces (``texts[i]``: sentence ``i``,
        all of its words, those beyond ``max_words`` too)."""
        return self._texts

    def words(self, i: int) -> list[str]:
        """The words of sentence ``i`` (all of them; an episode tags the first :meth:`num_tagged` of them)."""
        o0, o1, _, _, _, plain = self._episode[i].tolist()
        return self._texts[i].split(" ") if plain else [self._tokens[k] for k in range(o0, o1)]

    def gold_tag_ids(self, i: int) -> np.ndarray:
        """The gold tag ids of sentence ``i``, one per word (all of them), a fresh ``int64`` array; names
        in :attr:`tag_names`."""
        i = range(self.num_examples)[i]  # numpy semantics: -1 is the last sentence
        o0, o1 = self._offsets[i : i + 2].tolist()
        return np.array(self._facts[o0:o1, 0], dtype=np.int64)

    def num_tagged(self, i: int) -> int:
        """How many words an episode on sentence ``i`` tags: ``min(len(words(i)), max_words)``."""
        return int(self._num_words[i])

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

    def gold_episodes(self) -> GoldEpisodes:
        """Each sentence's first observation (all keys, read-only views) and its gold tag per word: actions
        ``(n, max_words)``, real steps ``word < num_words`` (see :meth:`gold_arrays`)."""
        gold = self.gold_arrays()
        keys = ("input_ids", "attention_mask", "word_starts", "position", "prev_tags", "num_words")  # _slices' order
        obs = {k: self._initial[:, sl] for k, sl in zip(keys, self._slices)}
        mask = np.arange(self.max_words)[None] < gold["num_words"][:, None]
        return GoldEpisodes(obs, np.asarray(gold["gold_tags"], dtype=np.int64), mask)

    @property
    def allowed_tags(self) -> np.ndarray:
        """Tags allowed after each previous tag under the scheme (BIO...), bool ``(num_tags + 1, num_tags)``
        (read-only); row ``num_tags`` is the sentence start. ``action_masks()`` is its row of the last tag."""
        return self._allowed

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

    def make_evaluator(self, num_envs: int) -> NerEvaluator:
        """The evaluator of :func:`nlp_envs.evaluate` (the native and the text-mode vector envs build it)."""
        return NerEvaluator(self.tag_names)

    def _render_text(self) -> str:
        i, t, T = self._index, self._t, self._T
        words = self.words(i)
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

    All sub-envs step at once through :func:`tag_step`, the single env's kernel, on per-env arrays
    (the incremental entity F1 state included) and the split's flat gold facts (the sentence's
    first word at ``base``); Python loops run only over sub-envs that end an episode (full info).
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
        self._ids, self._mask, self._starts = env._ids, env._mask, env._starts
        self._num_words, self._gold_total, self._offsets = env._num_words, env._gold_total, env._offsets
        self._gold, *facts = (np.ascontiguousarray(env._facts[:, c]) for c in range(env._facts.shape[1]))
        self._sentence_facts = tuple(facts)
        n = num_envs
        self._cur = np.zeros(n, dtype=np.int64)
        self._base = np.zeros(n, dtype=np.int64)
        self._t = np.zeros(n, dtype=np.int64)
        self._T = np.ones(n, dtype=np.int64)
        self._last = np.full(n, k, dtype=np.int64)
        # tag_step's state (open chunk start and type, closed predicted chunks and true positives)
        self._f1_state = (np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64),
                          np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64))
        self._f1 = np.zeros(n, dtype=np.float64)
        self._prev_tags = np.full((n, w), k, dtype=np.int64)

    def _begin(self, env_ids: np.ndarray) -> dict[str, Any]:
        idx = self._next_indices(env_ids)
        self._cur[env_ids] = idx
        self._base[env_ids] = self._offsets[idx]
        self._t[env_ids] = 0
        self._T[env_ids] = self._num_words[idx]
        self._last[env_ids] = self.num_tags
        for a, v in zip(self._f1_state, (-1, -1, 0, 0)):
            a[env_ids] = v
        self._f1[env_ids] = 0.0
        self._prev_tags[env_ids] = self.num_tags
        masks = np.broadcast_to(self._allowed[self.num_tags], (len(env_ids), self.num_tags))
        return self.env.begin_info(idx, masks)  # type: ignore[attr-defined]

    def _advance(self, actions: np.ndarray, active: np.ndarray):
        env: NerTagEnv = self.env  # type: ignore[assignment]
        if self.strict:
            last_tag = self._last[active]
            bad = np.flatnonzero(~self._allowed[last_tag, actions])
            if len(bad):
                j = int(bad[0])
                raise env.strict_error(int(last_tag[j]), int(actions[j]), sub_env=int(active[j]))
        cur, base, t = self._cur[active], self._base[active], self._t[active]
        flat = base + t
        gold = self._gold[flat]
        rewards, final, f1, state = tag_step(
            self.reward_mode, self._prefix, self._type, actions, gold, t, self._T[active], self._f1[active],
            tuple(a[active] for a in self._f1_state), self._sentence_facts, base, self._gold_total[cur])
        for a, v in zip(self._f1_state, state):
            a[active] = v
        self._f1[active] = f1
        self._prev_tags[active, t] = actions
        self._t[active] = t + 1
        self._last[active] = actions
        infos = env.tag_info(cur, gold, actions, self._allowed[actions], f1, flat)
        done = np.flatnonzero(final)
        if len(done) and self.full_info:
            ids = active[done]
            pred_tags, gold_tags = env.episode_tags(self._cur[ids], self._prev_tags[ids])
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


# --------------------------------------------------------------------------------------------------
# text mode (nlp_envs.text_mode)
# --------------------------------------------------------------------------------------------------

#: Answers that mean "no entity" (compared after :func:`nlp_envs.text_mode.normalize`).
NO_ENTITY_ANSWERS = ("none", "no entity", "no entities", "[]")
_BULLET = re.compile(r"^[-*\u2022]\s+")
_FENCE = re.compile(r"^\s*`{3,}[^`]*$")
_ITEM_SEPARATORS = re.compile(r"[;\n\r]")


@dataclass(frozen=True)
class _TagSet:
    """Lookups of a tag set for answers: exact names first, else lower case (a lower-case key shared by two
    names is ambiguous: ``-1`` resp. ``""``)."""

    names: tuple[str, ...]
    ids: dict[str, int]                    # tag name -> id
    folded: dict[str, int]                 # lower-case tag name -> id (-1: ambiguous)
    types: dict[str, tuple[int, int]]      # entity type -> (B-type id, I-type id)
    folded_types: dict[str, str]           # lower-case type -> type ("": ambiguous)

    def tag(self, s: str) -> int | None:
        return self.ids[s] if s in self.ids else self.folded.get(s.lower())

    def type(self, s: str) -> str | None:
        return s if s in self.types else self.folded_types.get(s.lower())


@functools.lru_cache(maxsize=64)
def _tag_set(names: tuple[str, ...]) -> _TagSet:
    ids = {n: i for i, n in enumerate(names)}
    folded: dict[str, int] = {}
    for i, n in enumerate(names):
        folded[n.lower()] = -1 if n.lower() in folded else i
    types: dict[str, tuple[int, int]] = {}
    for n in names:
        if n[:2] in ("B-", "I-") and len(n) > 2:
            t = n[2:]
            types[t] = (ids.get("B-" + t, ids[n]), ids.get("I-" + t, ids[n]))
    folded_types: dict[str, str] = {}
    for t in types:
        folded_types[t.lower()] = "" if t.lower() in folded_types else t
    return _TagSet(names, ids, folded, types, folded_types)


def _listed(values: Sequence[str], limit: int = 12) -> str:
    return f"{list(values)[:limit]}{' ...' if len(values) > limit else ''}"


class NerTagCodec(TextCodec):
    """Text mode of ``NerTag`` (:mod:`nlp_envs.text_mode`): the sentence's entities, as a list or as tags.

    The prompt names the dataset's entity types and shows the words the episode tags (the first
    ``max_words``); the answer is parsed into one BIO tag per such word (see :attr:`answer_formats`),
    stepped as the episode's actions, so the reward of an answer is the sentence's entity F1 (with the
    default ``reward="entity_f1"``). ``{example}`` is ``PER: John Smith; LOC: Paris`` when the dataset has
    the types ``PER`` and ``LOC``, else ``A: <words>; B: <words>`` with its first and last type.
    """

    template = ("Find the named entities in the sentence below. Entity types: {types}.\n"
                "List each entity as TYPE: words, in the order they appear in the sentence, separated by "
                "\";\" (for example: {example}), copying the words exactly as they are written in the "
                "sentence. Answer \"none\" if the sentence has no entity.\n\n"
                "Sentence: {sentence}\n\n"
                "Entities:")
    answer_formats = (
        "One of two formats, told apart by `:` (once lines holding only a code fence (```` ``` ````) are "
        "dropped and a leading `Entities:`, any case, is removed):\n\n"
        "1. **An entity list** (the answer holds a `:`): items `TYPE: words` separated by `;` or line "
        "breaks (e.g. `PER: John Smith; LOC: Paris`); empty items are skipped, an item may start with a "
        "`- `, `* ` or `\u2022 ` bullet. `TYPE` is one of the dataset's entity types, exact or ignoring case "
        "(surrounding `*` and backticks ignored). `words` are consecutive words of the sentence on show, "
        "separated by any whitespace and compared exactly, case included (punctuation tokens are words "
        "too); an item whose words are empty or `none` lists nothing (`PER: none`), and a `.` ending the "
        "answer is dropped when the last item is not found with it. Entities are placed longest first "
        "(more words first, ties in list order), each on the first occurrence of its words, left to right, "
        "that overlaps no entity placed before it; when no free occurrence has the same case, the first "
        "free one that matches ignoring case is taken. So a repeated item (`LOC: Paris; LOC: Paris`) tags "
        "the next occurrence, and a name inside a longer one (`LOC: Paris; ORG: Paris Saint-Germain`) is "
        "found whatever the order of the list. Each entity becomes `B-TYPE I-TYPE ...`, every other word "
        "`O`. A word holding `;` or whitespace cannot be listed (use format 2). `none`, `no entity`, "
        "`no entities` and `[]` (any case, a trailing `.` ignored) are the empty list.\n"
        "2. **A tag sequence** (no `:`): exactly one tag per word on show, whitespace-separated, e.g. "
        "`B-PER I-PER O O B-LOC`; tags are the dataset's tag names, exact or ignoring case. An `I-X` that "
        "follows neither `B-X` nor `I-X` is read as `B-X` (the seqeval reading, which the reward uses too), "
        "so the actions are valid under `strict=True` as well.\n\n"
        "Parse errors (reward `parse_error_reward`, default 0.0; the sentence is scored as tagged all `O`, "
        "no entity; `info[\"parse_error\"]` names the item or tag and why): an empty answer; an item "
        "without `:`; an unknown entity type; words that are not consecutive words of the sentence on "
        "show; an entity whose every occurrence overlaps an entity placed before it; a token of a tag "
        "sequence that is not a tag; a tag sequence with more or fewer tags than words.")

    # -- prompt --------------------------------------------------------------------------------------
    @staticmethod
    def example(types: Sequence[str]) -> str:
        """The ``{example}`` of the prompt for these entity types."""
        if "PER" in types and "LOC" in types:
            return "PER: John Smith; LOC: Paris"
        if not types:
            return "none"
        return f"{types[0]}: <words>; {types[-1]}: <words>"

    def prompt(self, env: Any, max_chars: int) -> str:
        types = list(env.scheme.types)
        head, tail = self.template.split("{sentence}")
        head = head.format(types=", ".join(types), example=self.example(types))
        return fit(head, " ".join(self._shown_words(env)), tail, max_chars)

    @staticmethod
    def _shown_words(env: Any) -> list[str]:
        i = env.current_index
        return env.words(i)[: env.num_tagged(i)]

    def chars(self, env: Any) -> set[str]:
        return env.texts.chars() | set("".join(env.tag_names)) | set(self.example(list(env.scheme.types)))

    # -- answers -------------------------------------------------------------------------------------
    def no_answer(self, env: Any) -> tuple[int, ...]:
        o = env.scheme.outside_id
        return (0 if o is None else o,) * env.num_tagged(env.current_index)

    def parse(self, env: Any, answer: str) -> Parsed:
        tags = _tag_set(tuple(env.tag_names))
        text = "\n".join(ln for ln in answer.splitlines() if not _FENCE.match(ln)).strip()
        if text[:9].lower() == "entities:" and "entities" not in tags.folded_types:
            text = text[9:].strip()
        if not text:
            return fail("empty answer: list the entities as `TYPE: words; TYPE: words`, or answer `none`")
        if normalize(text) in NO_ENTITY_ANSWERS:
            return Parsed(self.no_answer(env))
        words = self._shown_words(env)
        if ":" in text:
            return self._parse_entities(env, text, words, tags)
        return self._parse_tags(env, text, len(words), tags)

    @staticmethod
    def _parse_tags(env: Any, text: str, n: int, tags: _TagSet) -> Parsed:
        out: list[int] = []
        for k, token in enumerate(text.split()):
            tag = tags.tag(token)
            if tag is None or tag < 0:
                why = "is not a tag" if tag is None else "matches two tags once case is ignored"
                return fail(f"{token[:40]!r} (token {k + 1}) {why}: expected an entity list `TYPE: words; "
                            f"...`, `none`, or one tag per word of {_listed(tags.names)}")
            out.append(tag)
        if len(out) != n:
            return fail(f"{len(out)} tags for {n} words: a tag sequence has exactly one tag per word on show")
        allowed = env.allowed_tags
        prev = len(tags.names)  # the sentence start row of allowed_tags
        for k, tag in enumerate(out):
            if not allowed[prev, tag]:  # I-X after neither B-X nor I-X: the seqeval reading, B-X
                out[k] = tag = tags.ids.get("B-" + tags.names[tag][2:], tag)
            prev = tag
        return Parsed(tuple(out))

    def _parse_entities(self, env: Any, text: str, words: list[str], tags: _TagSet) -> Parsed:
        # (item number, type, words, words without the answer's final ".")
        items: list[tuple[int, str, list[str], list[str] | None]] = []
        k = 0
        for raw in _ITEM_SEPARATORS.split(text):
            item = _BULLET.sub("", raw.strip())
            if not item:
                continue
            k += 1
            if ":" not in item:
                return fail(f"item {k} {item[:60]!r} is not `TYPE: words` (no `:`)")
            type_s, words_s = item.split(":", 1)
            type_s = type_s.strip().strip("*`").strip()
            etype = tags.type(type_s)
            if not etype:
                why = (f"the types are {_listed(list(tags.types))}" if etype is None
                       else "two types match it once case is ignored")
                return fail(f"item {k} {item[:60]!r}: {type_s[:40]!r} is not an entity type; {why}")
            ent = words_s.split()
            if not ent or (len(ent) == 1 and ent[0].lower().rstrip(".") == "none"):
                continue
            items.append((k, etype, ent, None))
        if items and text.endswith(".") and items[-1][0] == k:  # the answer's final "." may be no word
            last = items[-1]
            bare = last[2][:-1] if last[2][-1] == "." else [*last[2][:-1], last[2][-1][:-1]]
            items[-1] = (*last[:3], bare if bare else None)
        n = len(words)
        lower = [w.lower() for w in words]
        exact: dict[str, list[int]] = {}
        folded: dict[str, list[int]] = {}
        for a, (w, lw) in enumerate(zip(words, lower)):
            exact.setdefault(w, []).append(a)
            folded.setdefault(lw, []).append(a)
        taken = [False] * n

        def place(ent: list[str]) -> tuple[int, bool]:
            """The start of the first free occurrence of ``ent`` (-1: none), and whether it occurs at all."""
            m, found = len(ent), False
            for index, seq, ws in ((exact, ent, words), (folded, [w.lower() for w in ent], lower)):
                for a in index.get(seq[0], ()):
                    if ws[a : a + m] == seq:
                        found = True
                        if not any(taken[a : a + m]):
                            return a, True
            return -1, found

        out = list(self.no_answer(env))
        for k, etype, ent, bare in sorted(items, key=lambda it: -len(it[2])):  # stable: ties in list order
            start, found = place(ent)
            if not found and bare:
                ent = bare
                start, found = place(ent)
            if start < 0:
                why = ("every occurrence of these words overlaps an entity listed before it (or a longer one)"
                       if found else "these words are not consecutive words of the sentence")
                return fail(f"item {k} {etype}: {' '.join(ent)[:60]!r}: {why}")
            b, i = tags.types[etype]
            out[start : start + len(ent)] = [b] + [i] * (len(ent) - 1)
            taken[start : start + len(ent)] = [True] * len(ent)
        return Parsed(tuple(out))

    # -- gold ----------------------------------------------------------------------------------------
    def gold_answer(self, env: Any) -> str:
        """The gold entities of the words on show, in sentence order, as an entity list (``none`` when there
        is none). Where that list does not parse back into the same entities (a word holding ``;`` or
        whitespace; an entity whose words also occur, free, before it, where they would be placed), the
        gold tag sequence instead (format 2)."""
        i = env.current_index
        words = self._shown_words(env)
        names = env.tag_names
        gold = [names[t] for t in env.gold_tag_ids(i)[: len(words)].tolist()]
        chunks = sorted(get_entities(gold), key=lambda c: c[1])
        if not chunks:
            return "none"
        answer = "; ".join(f"{t}: {' '.join(words[a : b + 1])}" for t, a, b in chunks)
        parsed = self.parse(env, answer)
        if parsed.ok and sorted(get_entities([names[t] for t in parsed.actions]), key=lambda c: c[1]) == chunks:
            return answer
        tags = self._parse_tags(env, " ".join(gold), len(words), _tag_set(tuple(names)))
        return " ".join(names[t] for t in tags.actions)


#: The data schema of word tagging (``NerTag``): CoNLL-style token and tag columns.
NER_DATA = DataSchema(
    name="ner",
    columns=("tokens", "tags"),
    embedded={"entities": data.embedded_generator("ner"), "entities-v1": data.embedded_generator("ner_v1")},
    read_file=data.read_conll_file,
    hub_columns=data.token_tag_columns,
    class_labels={"tags": True},
    row_labels=data.entity_types_of_rows,
)

#: The family contract of ``NerTag`` (:mod:`nlp_envs.family`).
NER_TAG = register_family(Family(
    name="NerTag",
    env_class=NerTagEnv,
    vector_env_class=NerTagVectorEnv,
    data=NER_DATA,
    policy="tag",
    action_layout="Discrete(num_tags): the tag of the word at `position`, one word per step (the previous "
                  "tags are in `prev_tags`)",
    gold=GOLD_EPISODES,
    evaluator=NerEvaluator,
    main_metric="entity_f1",
    second_metric="token_accuracy",
    sb3_extractor="tagging",
    majority="ner",
    text=NerTagCodec(),
))
