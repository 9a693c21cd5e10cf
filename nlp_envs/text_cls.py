"""Text classification: read a text, choose its label."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Union

import numpy as np
from gymnasium import spaces

from nlp_envs.metrics import classification_metrics
from nlp_envs import data
from nlp_envs.core import NO_FLAG, NO_ID, BlockRows, NlpEnv, NlpVectorEnv, fast_lookup, int_box, take_texts
from nlp_envs.family import GOLD_EPISODES, DataSchema, Family, GoldEpisodes, register_family
from nlp_envs.prepared import Prepared, TextColumn, tokenize_texts
from nlp_envs.readers import DataError
from nlp_envs.text_mode import Parsed, TextCodec, fail, first_line, fit, label_key, label_lookup, strip_prefix
from nlp_envs.tokenization import build_encoder


_INT_LABEL = re.compile(r"-?(?:0|[1-9][0-9]*)")

#: Where an example is, for error messages: a fixed prefix (``", row N"`` is appended, 1-based), or a
#: callable of the 1-based row (``TaskData.where``: file, row and line).
Where = Union[str, Callable[[int], str]]


def at_row(where: Where, row: int) -> str:
    """The location of 0-based ``row`` (reported 1-based)."""
    return where(row + 1) if callable(where) else f"{where}, row {row + 1}"


def label_vocabulary(data_label_names: Sequence[str] | None, train_labels: Sequence[Any]) -> tuple[str, ...]:
    """The label names in id order: the source's own list (Banking77's ``categories.json``, GoEmotions'
    ``emotions.txt``, a ``ClassLabel``, an embedded corpus), else the distinct train labels sorted --
    numerically when every one is an integer written plainly (``"2" < "10"``; ``-1``, ``0``, ``7``...),
    otherwise as strings. Integer labels of a ``datasets.Dataset`` keep ids ``0..max``."""
    if data_label_names:
        return tuple(str(n) for n in data_label_names)
    distinct = set(train_labels)
    if not distinct:
        return ()
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in distinct):
        return tuple(str(i) for i in range(max(int(v) for v in distinct) + 1))
    names = {str(v) for v in distinct}
    if all(_INT_LABEL.fullmatch(n) for n in names):
        return tuple(sorted(names, key=int))
    return tuple(sorted(names))


def map_labels(labels: Sequence[Any], names: Sequence[str], *, where: Where) -> np.ndarray:
    """Label values (names or ids) to int ids; an unknown label fails naming its row (1-based)."""
    index = {n: i for i, n in enumerate(names)}
    out = np.empty(len(labels), dtype=np.int64)
    for row, v in enumerate(labels):
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            if not 0 <= int(v) < len(names):
                raise DataError(f"{at_row(where, row)}: label id {v} out of range [0, {len(names)})")
            out[row] = int(v)
        else:
            i = index.get(str(v))
            if i is None:
                raise DataError(
                    f"{at_row(where, row)}: label {v!r} does not occur in the train split's label set "
                    f"({len(names)} labels, e.g. {list(names[:5])}); fix the row or add the label to train"
                )
            out[row] = i
    return out


def answer_step(reward_flat: Any, num_labels: int, per_episode: int, gold: Any, actions: Any, answered: Any
                ) -> tuple[Any, Any, Any, Any]:
    """The step kernel of text classification, for a batch (numpy arrays: the vector env) or one env
    (Python scalars: the single env), the same code for both.

    ``reward_flat`` is the reward table ``1 - C`` flattened (an array, or a list for scalar lookups),
    ``gold`` the gold label ids of the examples answered, ``answered`` the answers given before this
    one in the episode. Returns ``(rewards, correct, answered, terminated)``.
    """
    answered = answered + 1
    return reward_flat[gold * num_labels + actions], actions == gold, answered, answered >= per_episode


class TextClsEnv(NlpEnv):
    """## Description

    Text classification as an environment: each step shows one text (as token ids) and the agent
    answers with a label. The default dataset is an embedded, seeded intent-detection corpus
    (``"intents"``: 16 intents of a banking/travel/shopping assistant, with paraphrases, shared
    vocabulary and contrastive distractors; see :mod:`nlp_envs.corpora.intents`); ``"banking77"``
    reads Banking77 from a data directory.

    ## Action Space

    ``Discrete(num_labels)``: the label id; names in ``env.unwrapped.label_names``.

    ## Observation Space

    ``Dict`` of ``int64`` arrays:

    | key              | dtype | shape            | range                  | meaning                          |
    |------------------|-------|------------------|------------------------|----------------------------------|
    | `input_ids`      | int64 | `(max_length,)`  | `[0, vocab_size - 1]`  | `[CLS] text [SEP]`, padded with 0 |
    | `attention_mask` | int64 | `(max_length,)`  | `{0, 1}`               | 1 on real tokens                 |

    Texts longer than ``max_length`` tokens are truncated (the final ``[SEP]`` kept) and flagged
    with ``info["truncated_input"] = True``.

    ## Rewards

    1.0 for the correct label, else 0.0. With ``cost_matrix=C`` (shape ``(num_labels, num_labels)``)
    the reward is ``1 - C[gold, action]`` (e.g. to make some confusions cheaper than others).

    ## Starting State

    The first example of the episode, drawn by the env's example order (a fresh seeded permutation
    of the split on each pass; ``order="sequential"`` for evaluation); ``reset(options={"index": i})``
    pins example ``i``.

    ## Episode End

    * Termination: after ``examples_per_episode`` answers (default 1: one text per episode).
    * Truncation: never (there is no time limit).

    Stepping after the end (or before ``reset``) raises ``gymnasium.error.ResetNeeded``; an action
    that is not an int in range raises ``gymnasium.error.InvalidAction``.

    ``info``: ``index``, ``label`` (gold id), ``truncated_input`` of the example on show after ``reset``
    and of the example just answered after ``step``, which also sets ``prediction`` and ``correct``
    (``-1``/``False`` after ``reset``); ``info_mode="full"`` adds ``text``.

    Every ``reset`` and ``step`` returns the same info keys, numpy values of fixed shape
    (``info_mode="lean"``, the default; a key that does not apply holds ``-1``, ``0.0`` or ``False``);
    ``info_mode="full"`` adds the variable ones. ``obs_mode="flat"`` gives one ``int64`` Box instead of
    the Dict (its keys flattened in the Dict's order; ``env.unwrapped.flat_layout``).

    ## Arguments

    ```python
    import gymnasium as gym
    env = gym.make("TextCls-v0", split="train", max_length=64, examples_per_episode=1)
    env = gym.make("TextCls-Banking77-v0", data_dir="../shared/data", split="test")
    env = gym.make("TextCls-v0", dataset="my.csv", text_column="sentence", label_column="intent")
    ```

    | parameter              | default      | meaning                                                        |
    |------------------------|--------------|----------------------------------------------------------------|
    | `dataset`              | `"intents"`  | embedded name, known name, file/folder path, dict of split paths, or `datasets.Dataset(Dict)` |
    | `split`                | `"train"`    | `train`, `validation` (alias `dev`) or `test`                  |
    | `data_dir`             | `None`       | folder of real datasets (else `$NLP_ENVS_DATA_DIR`)            |
    | `tokenizer`            | `None`       | `None` = WordPiece trained on train; `"minilm"`; a path; a tokenizer object |
    | `vocab_size`           | `4000`       | size of the trained vocabulary                                 |
    | `max_length`           | `64`         | tokens per text (truncation flagged in `info`)                 |
    | `order`                | `"shuffle"`  | `"shuffle"` or `"sequential"`                                  |
    | `shard_index`, `num_shards` | `0`, `1` | visit only `indices[shard_index::num_shards]`                |
    | `examples_per_episode` | `1`          | answers per episode                                            |
    | `cost_matrix`          | `None`       | reward `1 - C[gold, action]`                                   |
    | `text_column`, `label_column` | `"text"`, `"label"` | columns of bring-your-own files / datasets     |
    | `dataset_kwargs`       | `None`       | options of the embedded generator (`seed`, `label_noise`, `sizes`) |

    ## Text mode

    ``obs_mode="text"``: the observation is a ``Text`` prompt (the label names, the text) and the action a
    ``Text`` answer, one label name (case, ``_``/``-``/spaces, quotes and a ``Label:`` prefix ignored), scored
    as above; an answer that is no label is no answer (``info["parse_error"]``, reward ``parse_error_reward``,
    ``prediction`` -1). See :mod:`nlp_envs.text_mode` and the env's docs page for the template.

    ## Vectorized environment

    ``gym.make_vec("TextCls-v0", num_envs=256)`` builds :class:`TextClsVectorEnv`: all sub-envs
    stepped with numpy, NEXT_STEP (default), SAME_STEP or DISABLED autoreset (``autoreset_mode=``), equal step for step to ``SyncVectorEnv`` under the same
    seeds.

    ## Version History

    * v0: initial release.
    """

    default_dataset = "intents"

    def __init__(
        self,
        dataset: Any = None,
        split: str = "train",
        *,
        examples_per_episode: int = 1,
        cost_matrix: Sequence[Sequence[float]] | np.ndarray | None = None,
        text_column: str | int = "text",
        label_column: str | int = "label",
        max_length: int = 64,
        **kwargs: Any,
    ) -> None:
        if not isinstance(examples_per_episode, int) or examples_per_episode < 1:
            raise ValueError(f"examples_per_episode={examples_per_episode!r} must be a positive int")
        self.examples_per_episode = examples_per_episode
        super().__init__(
            dataset=dataset, split=split, max_length=max_length,
            columns={"text_column": text_column, "label_column": label_column}, **kwargs,
        )
        self.label_names: tuple[str, ...] = tuple(self.prepared.meta["label_names"])
        self.num_labels = len(self.label_names)
        self.reward_table = _reward_table(cost_matrix, self.num_labels)
        self._reward_flat: list[float] = self.reward_table.ravel().tolist()  # cheap lookups in step
        self.action_space = spaces.Discrete(self.num_labels)
        self.observation_space = spaces.Dict(
            {
                "input_ids": int_box(self.encoder.vocab_size - 1, (self.max_length,)),
                "attention_mask": int_box(1, (self.max_length,)),
            }
        )
        arrays = self.prepared.arrays
        self._ids, self._mask = arrays["input_ids"], arrays["attention_mask"]
        self._labels, self._truncated = arrays["labels"], arrays["truncated"]
        self._texts: TextColumn = self.prepared.texts["text"]
        self._labels_fast = fast_lookup(self._labels)
        self._label64 = np.arange(self.num_labels, dtype=np.int64)  # action -> np.int64 (an info value)
        self._answered = 0
        self._rows = BlockRows({"input_ids": self._ids, "attention_mask": self._mask})

    @property
    def labels(self) -> np.ndarray:
        """Gold label ids of the split (read-only array)."""
        return self._labels

    @property
    def texts(self) -> TextColumn:
        """The texts of the split (``texts[i]``: example ``i``'s text, untokenized)."""
        return self._texts

    def gold_episodes(self) -> GoldEpisodes:
        """One row per example (an episode of ``examples_per_episode`` examples is that many rows): its
        observation and its gold label id, one step."""
        labels = np.asarray(self._labels)[:, None]
        return GoldEpisodes({"input_ids": self._ids, "attention_mask": self._mask}, labels,
                            np.ones_like(labels, dtype=bool))

    def _prepare_split(self, split: str) -> Prepared:
        data = self.data
        train = data.splits.get("train")
        if train is None:
            raise DataError(f"dataset {data.name!r} has no train split to build the label set and vocabulary from")
        names = label_vocabulary(data.label_names, train["label"])
        if not names:
            raise DataError(f"dataset {data.name!r}: the train split has no label at all")
        encoder = build_encoder(self._tokenizer_spec, train_texts=train["text"], vocab_size=self._vocab_size)
        cols = data.split(split)
        labels = map_labels(cols["label"], names, where=lambda row: data.where(split, row))
        ids, mask, truncated = tokenize_texts(encoder, cols["text"], self.max_length)
        return Prepared(
            encoder=encoder,
            arrays={"input_ids": ids, "attention_mask": mask, "labels": labels, "truncated": truncated},
            texts={"text": TextColumn.from_strings(cols["text"])},
            meta={"num_examples": len(labels), "label_names": list(names), "dataset": data.name},
        )

    def _obs(self, i: int, copy: int) -> dict[str, np.ndarray]:
        """Observation of example ``i`` in fresh memory (copy 0 when it is shown first, copy 1 when
        the terminal step shows it again); rows come from :class:`BlockRows` unless pinned."""
        if self._pinned:
            return {"input_ids": self._ids[i].copy(), "attention_mask": self._mask[i].copy()}
        j = self._rows.row(self._order, copy)
        return {"input_ids": self._rows.rows["input_ids"][j], "attention_mask": self._rows.rows["attention_mask"][j]}

    def lean_info_spec(self) -> dict[str, Any]:
        return {"index": NO_ID, "label": NO_ID, "truncated_input": NO_FLAG, "prediction": NO_ID, "correct": NO_FLAG}

    def example_info(self, idx: Any, labels: Any) -> dict[str, Any]:
        """Info of the examples ``idx`` on show, gold labels ``labels`` (arrays in the vector env,
        ``np.int64`` values in the single env): after ``reset``, and in the info of a step."""
        info = {"index": idx, "label": labels, "truncated_input": self._truncated[idx]}
        if self.info_mode == "full":
            info["text"] = take_texts(self._texts, idx)
        return info

    def answer_info(self, idx: Any, labels: Any, predictions: Any, correct: Any) -> dict[str, Any]:
        """Info of a step that answered the examples ``idx`` (see :meth:`example_info`)."""
        info = self.example_info(idx, labels)
        info["prediction"] = predictions
        info["correct"] = correct
        return info

    def _start_episode(self, index: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self._answered = 0
        idx = self._index64
        return self._obs(index, 0), self.example_info(idx, self._labels[idx])

    def _step_action(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        i, idx = self._index, self._index64
        reward, correct, self._answered, terminated = answer_step(
            self._reward_flat, self.num_labels, self.examples_per_episode, self._labels_fast[i], action,
            self._answered)
        info = self.answer_info(idx, self._labels[idx], self._label64[action], correct)
        if terminated:
            return self._obs(i, 1), reward, True, False, info
        return self._obs(self._next_example(), 0), reward, False, False, info

    def parse_actions(self, line: str) -> list[int]:
        """A label name (exact, or a unique prefix) or a label number."""
        text = line.strip()
        if text.isdigit() and int(text) < self.num_labels:
            return [int(text)]
        if text in self.label_names:
            return [self.label_names.index(text)]
        matches = [i for i, n in enumerate(self.label_names) if n.startswith(text)] if text else []
        if len(matches) == 1:
            return matches
        raise ValueError(
            f"{text!r} is not a label: type a number in [0, {self.num_labels}) or one of {list(self.label_names)}"
        )

    def make_evaluator(self, num_envs: int) -> ClassificationEvaluator:
        """The evaluator of :func:`nlp_envs.evaluate` (the native and the text-mode vector envs build it)."""
        return ClassificationEvaluator(self.num_labels)

    def _render_text(self) -> str:
        i = self._index
        gold = self.label_names[int(self._labels[i])]
        chosen = "-" if self._last_action is None else self.label_names[self._last_action]
        mark = "" if self._last_action is None else ("  ✓" if chosen == gold else "  ✗")
        return f"[{self.split} #{i}] {self._texts[i]}\n  gold: {gold}\n  chosen: {chosen}{mark}"


def _reward_table(cost_matrix: Any, k: int) -> np.ndarray:
    if cost_matrix is None:
        return np.eye(k, dtype=np.float64)
    c = np.asarray(cost_matrix, dtype=np.float64)
    if c.shape != (k, k):
        raise ValueError(f"cost_matrix has shape {c.shape}; expected ({k}, {k}) for {k} labels")
    if not np.isfinite(c).all():
        raise ValueError("cost_matrix has non-finite entries")
    return 1.0 - c


class TextClsVectorEnv(NlpVectorEnv):
    """Native vector version of :class:`TextClsEnv` (numpy; any ``autoreset_mode``)."""

    env_class = TextClsEnv

    def __init__(self, num_envs: int = 1, **kwargs: Any) -> None:
        super().__init__(num_envs, **kwargs)
        env: TextClsEnv = self.env  # type: ignore[assignment]
        self.label_names = env.label_names
        self._ids, self._mask, self._labels = env._ids, env._mask, env._labels
        self._reward_flat = env.reward_table.ravel()
        self._cur = np.zeros(num_envs, dtype=np.int64)
        self._count = np.zeros(num_envs, dtype=np.int64)

    def _begin(self, env_ids: np.ndarray) -> dict[str, Any]:
        idx = self._next_indices(env_ids)
        self._cur[env_ids] = idx
        self._count[env_ids] = 0
        return self.env.example_info(idx, self._labels[idx])  # type: ignore[attr-defined]

    def _advance(self, actions: np.ndarray, active: np.ndarray):
        env: TextClsEnv = self.env  # type: ignore[assignment]
        idx = self._cur[active]
        gold = self._labels[idx]
        rewards, correct, self._count[active], done = answer_step(
            self._reward_flat, env.num_labels, env.examples_per_episode, gold, actions, self._count[active])
        cont = active[~done]
        if len(cont):
            self._cur[cont] = self._next_indices(cont)
        return rewards, done, np.zeros(len(active), dtype=bool), env.answer_info(idx, gold, actions, correct)

    def _observe(self) -> dict[str, np.ndarray]:
        return {"attention_mask": self._mask[self._cur], "input_ids": self._ids[self._cur]}


class ClassificationEvaluator:
    """Accuracy and macro-F1 over one pass of a split (see :func:`nlp_envs.evaluate`)."""

    done_key = "prediction"
    every_step = True  # each answer is an example (examples_per_episode may be > 1)

    def __init__(self, num_labels: int) -> None:
        self.num_labels = num_labels
        self._pred: list[np.ndarray] = []
        self._gold: list[np.ndarray] = []
        self._index: list[np.ndarray] = []

    def add(self, infos: dict[str, Any], env_ids: np.ndarray) -> None:
        self._pred.append(infos["prediction"][env_ids])
        self._gold.append(infos["label"][env_ids])
        self._index.append(infos["index"][env_ids])

    def compute(self) -> dict[str, Any]:
        pred, gold = np.concatenate(self._pred), np.concatenate(self._gold)
        index = np.concatenate(self._index)
        if len(np.unique(index)) != len(index):
            raise RuntimeError("an example was scored twice: the evaluation pass is broken")
        return dict(classification_metrics(pred, gold, self.num_labels))


class TextClsCodec(TextCodec):
    """Text mode of ``TextCls`` (:mod:`nlp_envs.text_mode`): one label name per text."""

    template = ("Classify the text into exactly one of these labels: {labels}.\n\n"
                "Text: {text}\n\n"
                "Answer with the label name only.\nLabel:")
    answer_formats = (
        "One label name, as listed in the prompt. Only the first non-empty line counts; case, surrounding "
        "whitespace, quotes, backticks, `*`, a trailing `.` and a leading `Label:` are ignored, and `_`, `-` "
        "and spaces are the same (`Card Arrival` is `card_arrival`). Anything else (another label, two "
        "labels, an empty answer) is a parse error: reward `parse_error_reward` (0.0), `info[\"prediction\"]` "
        "-1 (no answer: a miss for accuracy and macro-F1).")
    no_answer_info = {"prediction": np.int64(-1), "correct": False}

    def prompt(self, env: Any, max_chars: int) -> str:
        head, tail = self.template.split("{text}")
        head = head.format(labels=", ".join(env.label_names))
        return fit(head, env.texts[env.current_index], tail, max_chars)

    def parse(self, env: Any, answer: str) -> Parsed:
        line = strip_prefix(first_line(answer), ("label", "answer"))
        if not line:
            return fail("empty answer: expected one label name")
        i = label_lookup(tuple(env.label_names)).get(label_key(line))
        if i is None:
            return fail(f"{line[:80]!r} is not a label; expected one of {list(env.label_names)[:10]}"
                        f"{' ...' if env.num_labels > 10 else ''}")
        if i < 0:
            return fail(f"{line[:80]!r} matches two labels once case, '_' and '-' are ignored; answer the exact name")
        return Parsed((i,))

    def no_answer(self, env: Any) -> tuple[int, ...]:
        return (0,)

    def gold_answer(self, env: Any) -> str:
        return env.label_names[int(env.labels[env.current_index])]

    def chars(self, env: Any) -> set[str]:
        return env.texts.chars() | set("".join(env.label_names))


#: The data schema of single-label text classification (``TextCls``).
CLASSIFICATION_DATA = DataSchema(
    name="classification",
    columns=("text", "label"),
    embedded={"intents": data.embedded_generator("intents", "LABEL_NAMES")},
    read_file=data.read_table_file,
    hub_columns=data.text_label_columns,
    class_labels={"label": False},
    hub_label_names=True,
    row_labels=data.class_of_rows,
    stratify=True,
)

#: The family contract of ``TextCls`` (:mod:`nlp_envs.family`).
TEXT_CLS = register_family(Family(
    name="TextCls",
    env_class=TextClsEnv,
    vector_env_class=TextClsVectorEnv,
    data=CLASSIFICATION_DATA,
    policy="classify",
    action_layout="Discrete(num_labels): the label of the text on show",
    gold=GOLD_EPISODES,
    evaluator=ClassificationEvaluator,
    main_metric="accuracy",
    second_metric="macro_f1",
    sb3_extractor="text",
    majority="classification",
    text=TextClsCodec(),
))
