"""Multiple-choice question answering: read a question and its options, pick the correct one."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.error import InvalidAction

from nlp_envs.core import (
    NO_FLAG, NO_ID, BlockRows, NlpEnv, NlpVectorEnv, check_flag, fast_lookup, int_box, take_texts,
)
from nlp_envs import data
from nlp_envs.data import TaskData, load_task_data
from nlp_envs.family import GOLD_EPISODES, DataSchema, Family, GoldEpisodes, register_family
from nlp_envs.prepared import Prepared, TextColumn, tokenize_texts
from nlp_envs.readers import DataError
from nlp_envs.text_mode import Parsed, TextCodec, fail, first_line, fit, normalize, strip_prefix
from nlp_envs.tokenization import build_encoder

#: Values of the ``mode=`` argument.
MODES = ("direct", "sequential")
#: Actions of ``mode="sequential"``.
ANSWER, NEXT = 0, 1
#: Default ``vocab_dataset`` of datasets that have no train split to learn a vocabulary from.
VOCAB_FALLBACK: dict[str, str] = {"arc-challenge": "arc-easy"}

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def answer_index(value: Any, options: Sequence[str], *, where: str) -> int:
    """The gold option's position: an int index, the option's text, or its letter (``"A"`` = 0)."""
    n = len(options)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if 0 <= int(value) < n:
            return int(value)
        raise DataError(f"{where}: answer index {value} out of range for {n} options")
    if isinstance(value, str):
        if value in options:
            return list(options).index(value)
        v = value.strip().upper()
        if len(v) == 1 and v in _LETTERS[:n]:
            return _LETTERS.index(v)
    raise DataError(
        f"{where}: answer {value!r} is neither an option index in [0, {n}), an option's text, nor a letter "
        f"A-{_LETTERS[n - 1]}"
    )


def _vocab_texts(cols: dict[str, list]) -> list[str]:
    """Texts a vocabulary is trained on: every question and every option."""
    return list(cols["question"]) + [str(o) for opts in cols["options"] for o in opts]


def choose_step(sequential: bool, actions: Any, k: Any, num_options: Any, gold: Any
                ) -> tuple[Any, Any, Any, Any]:
    """The step kernel of multiple-choice QA, for a batch (numpy arrays: the vector env) or one env
    (Python scalars: the single env), the same code for both.

    Direct mode: ``actions`` is the chosen option, and every answer ends the episode. Sequential mode:
    ``k`` is the option on show (of ``num_options``); :data:`ANSWER` (or the last option) ends the
    episode choosing it, :data:`NEXT` shows the next one. Returns ``(rewards, terminated, k, correct)``:
    ``k`` the option chosen (direct) or on show next (sequential), ``correct`` whether an ending step
    chose the gold option ``gold``; the reward is 1.0 for a correct answer, else 0.0. (Direct mode
    returns ``terminated=True`` for a whole batch.)
    """
    if sequential:
        terminated = (actions == ANSWER) | (k == num_options - 1)
        k = k + (terminated ^ True)
        correct = terminated & (k == gold)
    else:
        terminated, k = True, actions  # every answer ends its episode (True for the whole batch)
        correct = actions == gold
    return 1.0 * correct, terminated, k, correct


class MultiChoiceQAEnv(NlpEnv):
    """## Description

    Multiple-choice question answering as an environment: the agent reads a question (which may
    carry a context paragraph) and its 3-5 options and picks one. The default dataset is an
    embedded, seeded quiz (``"quiz"``: word problems, fact lookups in a short context, orderings
    and clock/day questions, each answerable from its own text; see :mod:`nlp_envs.corpora.mcqa`);
    ``"arc-easy"`` and ``"arc-challenge"`` read ARC grade-school science questions from a data
    directory. Two modes:

    * ``mode="direct"`` (default): one step; all options are shown at once and the action is the
      option's position.
    * ``mode="sequential"`` (NLPGym's question-answering env): the options are shown one at a
      time with the question; the agent answers the option on show (``ANSWER``) or asks for the
      next one (``NEXT``). At the last option ``NEXT`` has nowhere to go and the last option is
      answered automatically (as in NLPGym), so an episode lasts at most ``num_options`` steps.

    ## Action Space

    * direct: ``Discrete(max_options)``, the option's position. Positions at or beyond the
      question's ``num_options`` are masked.
    * sequential: ``Discrete(2)``: ``0 = ANSWER``, ``1 = NEXT`` (``nlp_envs.mcqa.ANSWER``/``NEXT``);
      both are always valid.

    Action mask: ``env.unwrapped.action_masks()`` (bool, ``(n,)``, what sb3-contrib's
    ``MaskablePPO`` looks for) and ``info["action_mask"]`` after ``reset``. With ``strict=False``
    (default) a masked (nonexistent) option may still be chosen: it is a wrong answer (reward 0.0)
    and ends the episode. With ``strict=True`` it raises ``gymnasium.error.InvalidAction``.

    ## Observation Space

    ``Dict`` of ``int64`` arrays (``L = max_length``, ``M = max_options``, ``O = max_option_length``).
    Direct:

    | key              | dtype | shape     | range                 | meaning                                   |
    |------------------|-------|-----------|-----------------------|-------------------------------------------|
    | `question_ids`   | int64 | `(L,)`    | `[0, vocab_size - 1]` | `[CLS] question [SEP]`, padded with 0     |
    | `question_mask`  | int64 | `(L,)`    | `{0, 1}`              | 1 on real tokens                          |
    | `option_ids`     | int64 | `(M * O,)`| `[0, vocab_size - 1]` | the options' tokens (no specials), option `k` at `[k * O, (k + 1) * O)`, padded with 0; slots past `num_options` all 0 |
    | `option_mask`    | int64 | `(M * O,)`| `{0, 1}`              | 1 on real option tokens                   |
    | `num_options`    | int64 | `(1,)`    | `[1, M]`              | options of this question                  |

    The options are flat (``obs["option_ids"].reshape(M, O)`` gives one row per option) because
    Stable-Baselines3's checker rejects 2-D observations. Sequential: `question_ids`,
    `question_mask` as above, and

    | key              | dtype | shape     | range                 | meaning                                   |
    |------------------|-------|-----------|-----------------------|-------------------------------------------|
    | `option_ids`     | int64 | `(O,)`    | `[0, vocab_size - 1]` | tokens of the option on show              |
    | `option_mask`    | int64 | `(O,)`    | `{0, 1}`              | 1 on its real tokens                      |
    | `option_index`   | int64 | `(1,)`    | `[0, M - 1]`          | position of the option on show            |
    | `num_options`    | int64 | `(1,)`    | `[1, M]`              | options of this question                  |

    Questions longer than ``L`` tokens are cut (the final ``[SEP]`` kept), options longer than
    ``O`` too; either sets ``info["truncated_input"] = True``. A question with more than ``M``
    options is an error naming it (raise ``max_options``).

    ## Rewards

    1.0 for answering the gold option, else 0.0 (``NEXT`` steps earn 0.0).

    ## Starting State

    The question drawn by the env's example order (a fresh seeded permutation of the split on each
    pass; ``order="sequential"`` for evaluation), with option 0 on show in sequential mode;
    ``reset(options={"index": i})`` pins question ``i``.

    ## Episode End

    * Termination: an answer (direct: the one step; sequential: ``ANSWER``, or any action at the
      last option).
    * Truncation: never.

    Stepping after the end (or before ``reset``) raises ``gymnasium.error.ResetNeeded``; an action
    that is not an int in range raises ``gymnasium.error.InvalidAction``.

    ``info`` (every step): ``index``, ``answer`` (gold position), ``action_mask`` (the answering step
    too), ``truncated_input``, ``prediction`` (the position answered) and ``correct`` (``-1``/``False``
    before the answer), and in sequential mode ``option_index`` (on show). ``info_mode="full"`` adds
    ``question`` and ``options`` (a tuple of strings) after ``reset``.

    Every ``reset`` and ``step`` returns the same info keys, numpy values of fixed shape
    (``info_mode="lean"``, the default; a key that does not apply holds ``-1``, ``0.0`` or ``False``);
    ``info_mode="full"`` adds the variable ones. ``obs_mode="flat"`` gives one ``int64`` Box instead of
    the Dict (its keys flattened in the Dict's order; ``env.unwrapped.flat_layout``).

    ## Arguments

    ```python
    import gymnasium as gym
    env = gym.make("MultiChoiceQA-v0", split="train", mode="direct", max_options=5)
    env = gym.make("MultiChoiceQA-v0", mode="sequential")
    env = gym.make("MultiChoiceQA-ARCEasy-v0", data_dir="../shared/data", split="validation")
    env = gym.make("MultiChoiceQA-ARCChallenge-v0", data_dir="../shared/data")  # split="test" only
    ```

    ARC-Challenge is evaluation-only: its data has only a test split, so ``split="train"`` fails
    with a message saying to use ``split="test"`` (its registered id sets it). With no train split
    to learn a vocabulary from, the default WordPiece vocabulary is learnt from the train split of
    ``vocab_dataset`` (default ``"arc-easy"`` for ``"arc-challenge"``, read from the same data
    directory, so it works offline); pass ``tokenizer=`` to use another. Numeric ARC option labels
    (``"1"``-``"4"``) are mapped by position, like letters, by the reader.

    Bring-your-own data: a ``datasets.Dataset(Dict)`` with columns ``question`` (str), ``options``
    (list of str) and ``answer`` (index, option text, or letter).

    | parameter            | default    | meaning                                                       |
    |----------------------|------------|---------------------------------------------------------------|
    | `dataset`            | `"quiz"`   | embedded name, `"arc-easy"`, `"arc-challenge"`, or `datasets.DatasetDict` |
    | `split`              | `"train"`  | `train`, `validation` (alias `dev`) or `test`                 |
    | `mode`               | `"direct"` | `"direct"` or `"sequential"` (see Description)                |
    | `max_options`        | `5`        | `M`: option slots (direct action space)                       |
    | `max_length`         | `96`       | `L`: question tokens                                          |
    | `max_option_length`  | `16`       | `O`: tokens per option                                        |
    | `strict`             | `False`    | raise `InvalidAction` on a masked option instead of scoring it wrong |
    | `vocab_dataset`      | `None`     | dataset whose train split trains the default vocabulary (see above) |
    | `data_dir`           | `None`     | folder of real datasets (else `$NLP_ENVS_DATA_DIR`)           |
    | `tokenizer`          | `None`     | `None` = WordPiece trained on train questions and options; `"minilm"`; a path; a tokenizer object |
    | `vocab_size`         | `4000`     | size of the trained vocabulary                                |
    | `order`              | `"shuffle"`| `"shuffle"` or `"sequential"`                                 |
    | `shard_index`, `num_shards` | `0`, `1` | visit only `indices[shard_index::num_shards]`            |
    | `dataset_kwargs`     | `None`     | options of the embedded generator (`seed`, `sizes`)           |

    Registered configurations: ``MultiChoiceQA-v0`` (``dataset="quiz"``),
    ``MultiChoiceQA-ARCEasy-v0`` (``dataset="arc-easy"``; train 2,251 / validation 570 / test
    2,376), ``MultiChoiceQA-ARCChallenge-v0`` (``dataset="arc-challenge", split="test"``; 1,172).

    ## Vectorized environment

    ``gym.make_vec("MultiChoiceQA-v0", num_envs=256)`` builds :class:`MultiChoiceQAVectorEnv`
    (numpy, NEXT_STEP (default), SAME_STEP or DISABLED autoreset (``autoreset_mode=``), equal step for step to ``SyncVectorEnv`` under the same seeds;
    ``action_masks()`` gives ``(num_envs, n)``). ``nlp_envs.evaluate`` reports ``accuracy``.

    ## Text mode

    ``obs_mode="text"`` (:mod:`nlp_envs.text_mode`, :class:`MultiChoiceQACodec`), in either mode: one
    text step per question. The prompt shows the question (with its context, cut to fit when needed)
    and all of its options lettered ``A.``, ``B.``...; the answer is the option's letter (``B``,
    ``(B)``, ``B.``, ``B)``, ``Answer: B``) or its text (case and spacing ignored). Only the first
    non-empty line counts. A letter past the question's options or a text that is no option is a parse
    error, scored wrong (``info["prediction"] = -1``, ``info["correct"] = False``). Sequential mode
    steps ``NEXT`` up to the option, then ``ANSWER``.

    ## Version History

    * v0: initial release.
    """

    default_dataset = "quiz"

    def __init__(
        self,
        dataset: Any = None,
        split: str = "train",
        *,
        mode: str = "direct",
        max_options: int = 5,
        max_length: int = 96,
        max_option_length: int = 16,
        strict: bool = False,
        vocab_dataset: Any = None,
        **kwargs: Any,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}: expected one of {MODES}")
        for name, value, low in (("max_options", max_options, 2), ("max_option_length", max_option_length, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name}={value!r} must be an int >= {low}")
        self.mode = mode
        self.max_options = max_options
        self.max_option_length = max_option_length
        self.strict = check_flag("strict", strict)
        self._vocab_dataset = vocab_dataset
        self._data_dir = kwargs.get("data_dir")
        self._vocab_data: TaskData | None = None
        super().__init__(dataset=dataset, split=split, max_length=max_length, **kwargs)
        self._vocab_data = None  # only needed to prepare
        arrays = self.prepared.arrays
        self._q_ids, self._q_mask = arrays["question_ids"], arrays["question_mask"]
        self._o_ids, self._o_mask = arrays["option_ids"], arrays["option_mask"]  # (n, M, O)
        self._o_flat_ids = self._o_ids.reshape(len(self._o_ids), -1)  # (n, M * O) views
        self._o_flat_mask = self._o_mask.reshape(len(self._o_mask), -1)
        self._num, self._answer, self._truncated = arrays["num_options"], arrays["answer"], arrays["truncated"]
        self._option_offsets = arrays["option_offsets"]
        self._offsets_fast = fast_lookup(self._option_offsets)
        self._questions: TextColumn = self.prepared.texts["question"]
        self._option_texts: TextColumn = self.prepared.texts["options"]
        self._num_fast, self._answer_fast = fast_lookup(self._num), fast_lookup(self._answer)
        self._options: np.ndarray | None = None  # object array of option tuples, built on first use
        self._option64 = np.arange(max_options, dtype=np.int64)  # option position -> np.int64 (info values)
        L, M, O = self.max_length, max_options, max_option_length
        high = self.encoder.vocab_size - 1
        obs_spaces = {"question_ids": int_box(high, (L,)), "question_mask": int_box(1, (L,))}
        if mode == "direct":
            self.action_space = spaces.Discrete(M)
            obs_spaces.update(option_ids=int_box(high, (M * O,)), option_mask=int_box(1, (M * O,)),
                              num_options=int_box(M, (1,), low=1))
            self._masks = np.arange(M)[None, :] < np.arange(M + 1)[:, None]  # row n: the first n options
            self._masks.setflags(write=False)
            self._rows = BlockRows({"question_ids": self._q_ids, "question_mask": self._q_mask,
                                    "option_ids": self._o_flat_ids, "option_mask": self._o_flat_mask,
                                    "num_options": self._num[:, None]})
        else:
            self.action_space = spaces.Discrete(2)
            obs_spaces.update(option_ids=int_box(high, (O,)), option_mask=int_box(1, (O,)),
                              option_index=int_box(M - 1, (1,)), num_options=int_box(M, (1,), low=1))
            # One buffer: question_ids | question_mask | option_ids | option_mask | option_index | num_options.
            self._buf = np.zeros(2 * L + 2 * O + 2, dtype=np.int64)
        self.observation_space = spaces.Dict(obs_spaces)
        self._k = 0  # option on show (sequential)
        self._n = 1
        self._gold = 0
        self._cur_obs: dict[str, np.ndarray] = {}

    # -- preparation -------------------------------------------------------------------------------
    def _prep_settings(self) -> Any:
        # Runs before the split is prepared: fail early on an evaluation-only dataset, and find the
        # vocabulary source of a dataset without a train split.
        self._check_split(self.split)
        vocab = None
        if self._vocab_dataset is not None or (
            "train" not in self.data.splits and self._tokenizer_spec in (None, "wordpiece")
        ):
            name = self._vocab_dataset if self._vocab_dataset is not None else VOCAB_FALLBACK.get(self.data.name)
            if name is None:
                raise DataError(
                    f"dataset {self.data.name!r} has no train split to learn a vocabulary from; pass "
                    "tokenizer=<name, path or object> or vocab_dataset=<a dataset with a train split>"
                )
            self._vocab_data = load_task_data(self.task, name, data_dir=self._data_dir)
            if "train" not in self._vocab_data.splits:
                raise DataError(f"vocab_dataset {name!r} has no train split; available: {sorted(self._vocab_data.splits)}")
            vocab = self._vocab_data.fingerprint
        return {"mode": self.mode, "max_options": self.max_options, "max_option_length": self.max_option_length,
                "vocab": vocab}

    def _check_split(self, split: str) -> None:
        try:
            self.data.split(split)
        except DataError:
            if "train" in self.data.splits:
                raise
            have = sorted(self.data.splits)
            raise DataError(
                f"dataset {self.data.name!r} is evaluation-only: it has only the {have} split(s), not {split!r}. "
                f"Use split={have[-1]!r}" + (" (gym.make('MultiChoiceQA-ARCChallenge-v0') sets it)"
                                              if self.data.name == "arc-challenge" else "")
                + "; train on another dataset (e.g. 'arc-easy')"
            ) from None

    def _prepare_split(self, split: str) -> Prepared:
        data = self.data
        train = (self._vocab_data if self._vocab_data is not None else data).splits.get("train")
        encoder = build_encoder(
            self._tokenizer_spec, train_texts=None if train is None else _vocab_texts(train),
            vocab_size=self._vocab_size,
        )
        cols = data.split(split)
        questions, options = list(cols["question"]), cols["options"]
        n, M, O = len(questions), self.max_options, self.max_option_length
        where = f"dataset {data.name!r} split {split!r}"
        num = np.array([len(o) for o in options], dtype=np.int64)
        too_many = np.flatnonzero(num > M)
        if len(too_many):
            i = int(too_many[0])
            raise DataError(
                f"{where}, question {i}: {num[i]} options but max_options={M}; pass max_options={int(num.max())}"
            )
        empty = np.flatnonzero(num < 1)
        if len(empty):
            raise DataError(f"{where}, question {int(empty[0])}: no options")
        answer = np.array([answer_index(a, o, where=f"{where}, question {i}")
                           for i, (a, o) in enumerate(zip(cols["answer"], options))], dtype=np.int64)
        q_ids, q_mask, q_trunc = tokenize_texts(encoder, questions, self.max_length)
        flat = [str(x) for opts in options for x in opts]
        f_ids, f_mask, f_trunc = encoder.encode_batch(flat, O, add_special_tokens=False)
        offsets = np.concatenate([[0], np.cumsum(num)]).astype(np.int64)
        row = np.repeat(np.arange(n), num)
        pos = np.arange(len(flat)) - offsets[row]
        o_ids = np.zeros((n, M, O), dtype=np.int64)
        o_mask = np.zeros((n, M, O), dtype=np.int64)
        o_ids[row, pos], o_mask[row, pos] = f_ids, f_mask
        truncated = q_trunc | (np.bincount(row, weights=f_trunc, minlength=n) > 0)
        return Prepared(
            encoder=encoder,
            arrays={"question_ids": q_ids, "question_mask": q_mask, "option_ids": o_ids, "option_mask": o_mask,
                    "num_options": num, "answer": answer, "truncated": truncated, "option_offsets": offsets},
            texts={"question": TextColumn.from_strings(questions), "options": TextColumn.from_strings(flat)},
            meta={"num_examples": n, "dataset": data.name},
        )

    # -- episode ---------------------------------------------------------------------------------
    def options_of(self, index: int) -> tuple[str, ...]:
        """The option texts of question ``index``."""
        o = self._offsets_fast
        texts = self._option_texts.decoded()
        if texts is not None:
            return tuple(texts[o[index] : o[index + 1]])
        return tuple(self._option_texts[j] for j in range(int(o[index]), int(o[index + 1])))

    def _direct_obs(self, i: int, copy: int) -> dict[str, np.ndarray]:
        if self._pinned:
            return {"question_ids": self._q_ids[i].copy(), "question_mask": self._q_mask[i].copy(),
                    "option_ids": self._o_flat_ids[i].copy(), "option_mask": self._o_flat_mask[i].copy(),
                    "num_options": np.array([self._num_fast[i]], dtype=np.int64)}
        j = self._rows.row(self._order, copy)
        r = self._rows.rows
        return {"question_ids": r["question_ids"][j], "question_mask": r["question_mask"][j],
                "option_ids": r["option_ids"][j], "option_mask": r["option_mask"][j],
                "num_options": r["num_options"][j]}

    @property
    def answers(self) -> np.ndarray:
        """The gold option position of each question, ``(num_examples,)`` (read-only)."""
        return self._answer

    @property
    def num_options(self) -> np.ndarray:
        """The number of options of each question, ``(num_examples,)`` (read-only)."""
        return self._num

    @property
    def questions(self) -> TextColumn:
        """The questions of the split (``questions[i]``: question ``i`` with its context, untokenized)."""
        return self._questions

    @property
    def option_texts(self) -> TextColumn:
        """Every option of the split, question after question (:meth:`options_of` gives one question's)."""
        return self._option_texts

    def gold_episodes(self) -> GoldEpisodes:
        """Each question's first observation and its gold answer: direct, the answer's position (one step);
        sequential, ``NEXT`` up to the answer's option, then ``ANSWER`` there."""
        n = self.num_examples
        q = {"question_ids": self._q_ids, "question_mask": self._q_mask}
        num = np.asarray(self._num, dtype=np.int64)[:, None]
        answer = np.asarray(self._answer, dtype=np.int64)
        if self.mode == "direct":
            obs = {**q, "option_ids": self._o_flat_ids, "option_mask": self._o_flat_mask, "num_options": num}
            return GoldEpisodes(obs, answer[:, None], np.ones((n, 1), dtype=bool))
        obs = {**q, "option_ids": self._o_ids[:, 0], "option_mask": self._o_mask[:, 0],
               "option_index": np.zeros((n, 1), dtype=np.int64), "num_options": num}
        T = self.max_options
        steps = np.arange(T)[None]
        actions = np.where(steps < answer[:, None], NEXT, ANSWER).astype(np.int64)
        return GoldEpisodes(obs, actions, steps <= answer[:, None])

    def _seq_obs(self) -> dict[str, np.ndarray]:
        b = self._buf.copy()  # new arrays every step: users keep observations
        L, O = self.max_length, self.max_option_length
        a, c = 2 * L, 2 * L + 2 * O
        return {"question_ids": b[:L], "question_mask": b[L:a], "option_ids": b[a : a + O],
                "option_mask": b[a + O : c], "option_index": b[c : c + 1], "num_options": b[c + 1 :]}

    def _show_option(self, i: int, k: int) -> None:
        a, O = 2 * self.max_length, self.max_option_length
        self._buf[a : a + O] = self._o_ids[i, k]
        self._buf[a + O : a + 2 * O] = self._o_mask[i, k]
        self._buf[a + 2 * O] = k

    def _start_episode(self, index: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self._k = 0
        self._n = self._num_fast[index]
        self._gold = self._answer_fast[index]
        info = self.begin_info(self._index64, self._n)
        if self.mode == "direct":
            return self._direct_obs(index, 0), info
        L = self.max_length
        self._buf[:L] = self._q_ids[index]
        self._buf[L : 2 * L] = self._q_mask[index]
        self._buf[-1] = self._n
        self._show_option(index, 0)
        return self._seq_obs(), info

    def lean_info_spec(self) -> dict[str, Any]:
        spec = {"index": NO_ID, "answer": NO_ID, "action_mask": None, "truncated_input": NO_FLAG,
                "prediction": NO_ID, "correct": NO_FLAG}
        if self.mode != "direct":
            spec["option_index"] = np.int64(0)
        return spec

    # -- what the single and the vector env share (arrays or scalars) ----------------------------
    def option_masks(self, num: Any) -> np.ndarray:
        """Fresh action masks of questions with ``num`` options (an array of counts, or one count):
        direct, the first ``num`` positions; sequential, both actions."""
        if self.mode == "direct":
            masks = self._masks[num]
            return masks if masks.ndim > 1 else masks.copy()  # (a row view for one count)
        return np.ones((*np.shape(num), 2), dtype=bool)

    def option_tuples(self) -> np.ndarray:
        """The option texts of every question, an object array of tuples (built once)."""
        if self._options is None:
            texts = self._option_texts.decoded()
            o = self._option_offsets.tolist()
            out = np.empty(len(o) - 1, dtype=object)
            out[:] = [tuple(texts[o[i] : o[i + 1]]) if texts is not None else self.options_of(i)
                      for i in range(len(o) - 1)]
            self._options = out
        return self._options

    def begin_info(self, idx: Any, num: Any) -> dict[str, Any]:
        """Reset info of the questions ``idx`` (an index array, or one ``np.int64``), ``num`` options."""
        info = {"index": idx, "answer": self._answer[idx], "action_mask": self.option_masks(num),
                "truncated_input": self._truncated[idx]}
        if self.mode != "direct":
            info["option_index"] = 0 * idx  # the first option is on show
        if self.info_mode == "full":
            info.update(question=take_texts(self._questions, idx), options=self.option_tuples()[idx])
        return info

    def choice_info(self, idx: Any, answers: Any, num: Any, k: Any, correct: Any
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Info of a step of the questions ``idx`` (gold ``answers``, ``num`` options; ``k`` and
        ``correct`` from :func:`choose_step`; arrays, or ``np.int64`` values): ``(info, end)``, ``end``
        the keys of the episodes that end (sequential: ``prediction``, ``correct``; direct: in
        ``info``, as every step ends)."""
        info = {"index": idx, "answer": answers, "action_mask": self.option_masks(num),
                "truncated_input": self._truncated[idx]}
        if self.mode == "direct":
            info.update(prediction=k, correct=correct)
            return info, {}
        info["option_index"] = k
        return info, {"prediction": k, "correct": correct}

    def strict_error(self, action: int, num: int, sub_env: int | None = None) -> InvalidAction:
        """The error of a position past the question's options with ``strict=True`` (direct mode)."""
        where = "" if sub_env is None else f"sub-env {sub_env}: "
        return InvalidAction(
            f"{where}option {action} does not exist: this question has {num} options (strict=True); "
            f"choose a position in [0, {num})"
        )

    # -- single env step -------------------------------------------------------------------------
    def _validate_action(self, action: Any) -> int:
        a = super()._validate_action(action)
        if self.strict and self.mode == "direct" and not self._needs_reset and a >= self._n:
            raise self.strict_error(a, self._n)
        return a

    def _step_action(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        i, idx = self._index, self._index64
        reward, terminated, self._k, correct = choose_step(self.mode != "direct", action, self._k, self._n,
                                                           self._gold)
        info, end = self.choice_info(idx, self._answer[idx], self._n, self._option64[self._k], correct)
        if terminated:
            info.update(end)
        if self.mode == "direct":
            return self._direct_obs(i, 1), reward, terminated, False, info
        if not terminated:
            self._show_option(i, self._k)
        return self._seq_obs(), reward, terminated, False, info

    def action_masks(self) -> np.ndarray:
        """Direct: the question's options, bool ``(max_options,)``; sequential: ``(2,)`` all True."""
        return self.option_masks(self._n)

    # -- play / render -------------------------------------------------------------------------------
    def parse_actions(self, line: str) -> list[int]:
        """Direct: an option letter (``A``, ``b``) or number (0-based position). Sequential:
        ``answer``/``a`` or ``next``/``n`` (several separated by spaces)."""
        text = line.strip()
        if self.mode == "sequential":
            words = {"answer": ANSWER, "a": ANSWER, "next": NEXT, "n": NEXT, "0": ANSWER, "1": NEXT}
            parts = text.lower().split()
            if not parts or any(p not in words for p in parts):
                raise ValueError(f"{text!r}: type 'answer' (or 'a') to answer the option on show, 'next' (or 'n')")
            return [words[p] for p in parts]
        n = self._n if self._index >= 0 else self.max_options
        if text.isdigit() and int(text) < self.max_options:
            return [int(text)]
        if len(text) == 1 and text.upper() in _LETTERS[: self.max_options]:
            return [_LETTERS.index(text.upper())]
        raise ValueError(f"{text!r} is not an option: type a letter A-{_LETTERS[n - 1]} or a number in [0, {n})")

    def make_evaluator(self, num_envs: int) -> MultiChoiceEvaluator:
        """The evaluator of :func:`nlp_envs.evaluate` (the native and the text-mode vector envs build it)."""
        return MultiChoiceEvaluator()

    def _render_text(self) -> str:
        i = self._index
        done = self._needs_reset
        lines = [f"[{self.split} #{i}] {self._questions[i]}"]
        for k, text in enumerate(self.options_of(i)):
            mark = ""
            if self.mode == "sequential" and not done and k == self._k:
                mark = "  <- on show"
            if done and k == self._k:
                mark = "  <- answered " + ("✓" if k == self._gold else "✗")
            elif done and k == self._gold:
                mark = "  <- gold"
            if self.mode == "sequential" and not done and k > self._k:
                text = "(not shown yet)"
            lines.append(f"  {_LETTERS[k]}) {text}{mark}")
        if done and self.mode == "direct" and self._k >= self._n:
            lines.append(f"  answered position {self._k}: no such option ✗ (gold {_LETTERS[self._gold]})")
        return "\n".join(lines)


class MultiChoiceQAVectorEnv(NlpVectorEnv):
    """Native vector version of :class:`MultiChoiceQAEnv` (numpy; any ``autoreset_mode``): all
    sub-envs step at once through :func:`choose_step`, the single env's kernel."""

    env_class = MultiChoiceQAEnv

    def __init__(self, num_envs: int = 1, **kwargs: Any) -> None:
        super().__init__(num_envs, **kwargs)
        env: MultiChoiceQAEnv = self.env  # type: ignore[assignment]
        self.mode, self.strict = env.mode, env.strict
        self._q_ids, self._q_mask, self._o_ids, self._o_mask = env._q_ids, env._q_mask, env._o_ids, env._o_mask
        self._o_flat_ids, self._o_flat_mask = env._o_flat_ids, env._o_flat_mask
        self._num, self._answer = env._num, env._answer
        self._cur = np.zeros(num_envs, dtype=np.int64)
        self._k = np.zeros(num_envs, dtype=np.int64)

    def _begin(self, env_ids: np.ndarray) -> dict[str, Any]:
        idx = self._next_indices(env_ids)
        self._cur[env_ids] = idx
        self._k[env_ids] = 0
        return self.env.begin_info(idx, self._num[idx])  # type: ignore[attr-defined]

    def _advance(self, actions: np.ndarray, active: np.ndarray):
        env: MultiChoiceQAEnv = self.env  # type: ignore[assignment]
        idx = self._cur[active]
        num = self._num[idx]
        if self.strict and self.mode == "direct":
            bad = np.flatnonzero(actions >= num)
            if len(bad):
                j = int(bad[0])
                raise env.strict_error(int(actions[j]), int(num[j]), sub_env=int(active[j]))
        answers = self._answer[idx]
        rewards, done, k, correct = choose_step(self.mode != "direct", actions, self._k[active], num, answers)
        infos, end = env.choice_info(idx, answers, num, k, correct)
        if end:  # sequential: k is the option on show; only the sub-envs that answer report their answer
            self._k[active] = k
            d = np.flatnonzero(done)
            self._report_subset(active[d], {key: v[d] for key, v in end.items()})
        return rewards, done, np.zeros(len(active), dtype=bool), infos

    def _observe(self) -> dict[str, np.ndarray]:
        cur = self._cur
        if self.mode == "direct":
            return {"question_ids": self._q_ids[cur], "question_mask": self._q_mask[cur],
                    "option_ids": self._o_flat_ids[cur], "option_mask": self._o_flat_mask[cur],
                    "num_options": self._num[cur][:, None]}
        k = self._k
        return {"question_ids": self._q_ids[cur], "question_mask": self._q_mask[cur],
                "option_ids": self._o_ids[cur, k], "option_mask": self._o_mask[cur, k],
                "option_index": k[:, None].copy(), "num_options": self._num[cur][:, None]}

    def action_masks(self) -> np.ndarray:
        """Direct: each sub-env's question's options, bool ``(num_envs, max_options)``; sequential:
        ``(num_envs, 2)`` all True."""
        return self.env.option_masks(self._num[self._cur])  # type: ignore[attr-defined]


class MultiChoiceEvaluator:
    """Accuracy over one pass of a split (see :func:`nlp_envs.evaluate`): the share of questions
    answered with the gold option."""

    done_key = "correct"

    def __init__(self) -> None:
        self._correct: list[np.ndarray] = []
        self._index: list[np.ndarray] = []

    def add(self, infos: dict[str, Any], env_ids: np.ndarray) -> None:
        self._correct.append(infos["correct"][env_ids].astype(bool))
        self._index.append(infos["index"][env_ids])

    def compute(self) -> dict[str, Any]:
        if not self._correct:
            raise RuntimeError("no question was scored")
        correct, index = np.concatenate(self._correct), np.concatenate(self._index)
        if len(np.unique(index)) != len(index):
            raise RuntimeError("an example was scored twice: the evaluation pass is broken")
        return {"accuracy": float(correct.mean())}


_BARE_LETTER = re.compile(r"\(?([A-Za-z])\)?[.):]?", re.ASCII)
_LETTER_AND_TEXT = re.compile(r"(?:\(([A-Za-z])\)|([A-Za-z])[.):]|([A-Za-z])(?=\s))\s*(\S.*)", re.ASCII | re.DOTALL)
_ANSWER_IS = re.compile(r"(?:the\s+)?(?:correct\s+|final\s+)?answer\s+is\s*:?\s*", re.IGNORECASE)


def _option_line(text: str) -> str:
    """An option as the prompt shows it: on one line (whitespace runs become one space)."""
    return " ".join(str(text).split())


def _text_key(text: str, *, case: bool = False) -> str:
    """An answer or an option, compared: one line without surrounding quotes, backticks or ``*``, then
    :func:`nlp_envs.text_mode.normalize` (``case=True``: the case kept)."""
    s = _option_line(text).strip("`'\"*").strip()
    return normalize(s) if not case else s.rstrip(".").strip()


class MultiChoiceQACodec(TextCodec):
    """Text mode of ``MultiChoiceQA`` (:mod:`nlp_envs.text_mode`): one answer, a letter or an option's text,
    per question.

    The answer at position ``p`` is the action ``p`` in direct mode, and ``NEXT`` ``p`` times then
    ``ANSWER`` in sequential mode (at the last option the env answers it on any action, so the episode ends
    on the last of them either way). No answer steps the first option (``0``, or ``ANSWER``) and is
    reported as ``prediction = -1``, ``correct = False`` (a wrong answer for the accuracy).
    """

    template = ("Answer the multiple-choice question with the letter of the correct option.\n\n"
                "Question: {question}\n\n"
                "{options}\n\n"
                "Answer with the letter ({letters}) only.\nAnswer:")
    answer_formats = (
        "The letter of the option (`B`, `b`, `(B)`, `B.`, `B)`, `B:`), or the option's text (`Paris`: an exact "
        "match once case, inner whitespace, surrounding quotes and a trailing `.` are ignored; the case decides "
        "between options that differ only in case, such as `RR` and `rr`), or both (`B. Paris`, `(B) Paris`: "
        "the text must be option B's). Only the first non-empty line counts; surrounding whitespace, quotes, "
        "backticks and `*`, and a leading `Answer:`, `Final answer:`, `Option:` or `The answer is` are ignored. A "
        "single letter is always read as a letter. A letter past the question's options, a text that is no "
        "option (or two identical ones), or an empty answer is a parse error: reward `parse_error_reward` "
        "(0.0), `info[\"prediction\"]` -1 and `info[\"correct\"]` False (wrong, for the accuracy).")
    no_answer_info = {"prediction": np.int64(-1), "correct": False}

    def prompt(self, env: Any, max_chars: int) -> str:
        i = env.current_index
        options = env.options_of(i)
        if len(options) > len(_LETTERS):
            raise ValueError(f"question {i} of split {env.split!r} has {len(options)} options: text mode letters "
                             f"them A-Z, at most {len(_LETTERS)}")
        letters = ", ".join(_LETTERS[: len(options)])
        shown = "\n".join(f"{_LETTERS[k]}. {_option_line(o)}" for k, o in enumerate(options))
        head, tail = self.template.split("{question}")
        tail = tail.format(options=shown, letters=letters)
        try:
            return fit(head, env.questions[i], tail, max_chars)
        except ValueError:
            raise ValueError(
                f"question {i} of split {env.split!r}: the prompt without the question (the task and the "
                f"{len(options)} options, which are never cut) is {len(head) + len(tail)} characters, and "
                f"max_prompt_chars={max_chars} leaves no room for the question: raise max_prompt_chars") from None

    def parse(self, env: Any, answer: str) -> Parsed:
        line = strip_prefix(first_line(answer), ("answer", "final answer", "correct answer", "option", "choice"))
        m = _ANSWER_IS.match(line)
        if m:
            line = line[m.end():].strip().strip("`'\"*").strip()
        if not line:
            return fail("empty answer: expected the letter of an option")
        options = env.options_of(env.current_index)
        n = len(options)
        letters = f"A-{_LETTERS[min(n, len(_LETTERS)) - 1]}"
        bare = _BARE_LETTER.fullmatch(line.rstrip(".").strip())
        if bare:
            p = _LETTERS.index(bare.group(1).upper())
            if p < n:
                return self._choose(env, p)
        key = _text_key(line)
        hits = [k for k, o in enumerate(options) if _text_key(o) == key]
        if len(hits) > 1:  # options that differ only in case ("RR", "Rr", "rr"): the case decides
            exact = _text_key(line, case=True)
            hits = [k for k in hits if _text_key(options[k], case=True) == exact] or hits
        if len(hits) == 1:
            return self._choose(env, hits[0])
        if len(hits) > 1:
            return fail(f"{line[:80]!r} is the text of {len(hits)} options; answer with the letter")
        if bare:
            return fail(f"option {bare.group(1).upper()} does not exist: this question has {n} options ({letters})")
        both = _LETTER_AND_TEXT.fullmatch(line)
        if both:
            letter = next(g for g in both.groups()[:3] if g).upper()
            p = _LETTERS.index(letter)
            if p >= n:
                return fail(f"option {letter} does not exist: this question has {n} options ({letters})")
            if _text_key(both.group(4)) == _text_key(options[p]):
                return self._choose(env, p)
            return fail(f"{line[:80]!r} is no option's text, nor option {letter} followed by its text")
        return fail(f"{line[:80]!r} is neither an option letter ({letters}) nor an option's text")

    @staticmethod
    def _choose(env: Any, p: int) -> Parsed:
        """The actions that answer option ``p``."""
        if env.mode == "direct":
            return Parsed((p,))
        return Parsed((NEXT,) * p + (ANSWER,))

    def no_answer(self, env: Any) -> tuple[int, ...]:
        return (0,) if env.mode == "direct" else (ANSWER,)

    def gold_answer(self, env: Any) -> str:
        return _LETTERS[int(env.answers[env.current_index])]

    def chars(self, env: Any) -> set[str]:
        return env.questions.chars() | env.option_texts.chars() | set(_LETTERS)


#: The data schema of multiple-choice questions (``MultiChoiceQA``); no bring-your-own files yet.
MCQA_DATA = DataSchema(
    name="mcqa",
    columns=("question", "options", "answer"),
    embedded={"quiz": data.embedded_generator("mcqa")},
)

#: The family contract of ``MultiChoiceQA`` (:mod:`nlp_envs.family`).
MULTI_CHOICE_QA = register_family(Family(
    name="MultiChoiceQA",
    env_class=MultiChoiceQAEnv,
    vector_env_class=MultiChoiceQAVectorEnv,
    data=MCQA_DATA,
    policy="choice",
    action_layout="direct: Discrete(max_options), the chosen option (one step); sequential: Discrete(2), "
                  "ANSWER the option on show or see the NEXT",
    gold=GOLD_EPISODES,
    evaluator=MultiChoiceEvaluator,
    main_metric="accuracy",
    sb3_extractor="options",
    majority="mcqa",
    text=MultiChoiceQACodec(),
))
