"""Multi-label text classification: read a text, pick its labels one at a time, then stop."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.error import InvalidAction

from nlp_envs import data
from nlp_envs.core import NO_FLAG, NO_ID, NO_SCORE, NlpEnv, NlpVectorEnv, check_flag, int_box, take_texts
from nlp_envs.family import GOLD_EPISODES, DataSchema, Family, GoldEpisodes, register_family
from nlp_envs.metrics import multilabel_metrics
from nlp_envs.prepared import Prepared, TextColumn, tokenize_texts
from nlp_envs.readers import DataError
from nlp_envs.text_cls import Where, at_row, label_vocabulary
from nlp_envs.text_mode import Parsed, TextCodec, fail, first_line, fit, label_key, label_lookup, strip_prefix
from nlp_envs.tokenization import build_encoder

#: Values of the ``reward=`` argument.
REWARDS = ("f1", "sparse_f1", "jaccard")


def map_label_sets(rows: Sequence[Sequence[Any]], names: Sequence[str], *, where: Where) -> np.ndarray:
    """Label lists (names or ids) to a multi-hot ``bool`` array ``(n, len(names))``; repeated labels
    count once, an empty list is an empty set; an unknown label fails naming its row."""
    index = {n: i for i, n in enumerate(names)}
    out = np.zeros((len(rows), len(names)), dtype=bool)
    for row, labels in enumerate(rows):
        if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
            raise DataError(f"{at_row(where, row)}: labels {labels!r} are not a list (multi-label data needs one)")
        for v in labels:
            if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
                if not 0 <= int(v) < len(names):
                    raise DataError(f"{at_row(where, row)}: label id {v} out of range [0, {len(names)})")
                out[row, int(v)] = True
                continue
            i = index.get(str(v))
            if i is None:
                raise DataError(
                    f"{at_row(where, row)}: label {v!r} does not occur in the train split's label set "
                    f"({len(names)} labels, e.g. {list(names[:5])}); fix the row or add the label to train"
                )
            out[row, i] = True
    return out


def set_scores(tp: Any, n_pred: Any, n_gold: Any) -> tuple[Any, Any]:
    """F1 ``2|P&G| / (|P| + |G|)`` and Jaccard ``|P&G| / |P|G|`` from the counts (scalars or arrays);
    both are 1.0 when ``P`` and ``G`` are empty (as :func:`nlp_envs.metrics.multilabel_metrics`)."""
    denom = n_pred + n_gold
    union = denom - tp
    if isinstance(denom, np.ndarray):
        return (np.where(denom > 0, 2.0 * tp / np.maximum(denom, 1), 1.0),
                np.where(union > 0, tp / np.maximum(union, 1), 1.0))
    return (2.0 * tp / denom if denom else 1.0), (tp / union if union else 1.0)


def pick_step(
    reward_mode: str, max_labels: int, stop_action: int, actions: Any, is_new: Any, is_gold: Any,
    state: tuple[Any, Any, Any, Any], n_gold: Any,
) -> tuple[Any, Any, Any, Any, Any, Any, tuple[Any, Any, Any, Any]]:
    """The step kernel of multi-label classification, for a batch (numpy arrays: the vector env) or
    one env (Python scalars: the single env), the same code for both.

    ``actions`` picks a label (``is_new``: not picked yet this episode; ``is_gold``: in the gold set)
    or is ``STOP``; ``state`` is ``(n_pred, tp, picks, score)`` (distinct labels picked, gold ones
    among them, picks made, the score rewarded so far) and ``n_gold`` the size of the gold set.
    Returns ``(rewards, terminated, fresh, hit, f1, jaccard, state)``: ``fresh`` says the label is
    added (a repeated label is a no-op that still counts as a pick), ``hit`` that it is gold.
    """
    n_pred, tp, picks, score = state
    go_on = (actions == stop_action) ^ True
    fresh = is_new & go_on
    hit = fresh & is_gold
    n_pred = n_pred + fresh
    tp = tp + hit
    picks = picks + go_on
    terminated = (go_on ^ True) | (picks >= max_labels)
    f1, jaccard = set_scores(tp, n_pred, n_gold)
    if reward_mode == "sparse_f1":
        rewards = f1 * terminated
    else:  # shaping: the change of the score ("f1" or "jaccard") of the set picked so far
        new_score = f1 if reward_mode == "f1" else jaccard
        rewards, score = new_score - score, new_score
    return rewards, terminated, fresh, hit, f1, jaccard, (n_pred, tp, picks, score)


class MultiLabelClsEnv(NlpEnv):
    """## Description

    Multi-label text classification as an environment: an episode is one text, and each step adds
    one label to the predicted set, until the agent says ``STOP`` (or ``max_labels`` picks are
    made). The agent sees the text (as token ids) and the labels picked so far. The default dataset
    is an embedded, seeded corpus (``"topics"``: product reviews tagged with 1-4 of 12 aspects such
    as ``price``, ``shipping``, ``battery``, with strong co-occurrence, e.g. shipping with
    packaging; see :mod:`nlp_envs.corpora.multilabel`); ``"goemotions"`` reads GoEmotions (28
    emotions, Reddit comments) from a data directory, and any CSV/TSV/JSONL file with a label-list
    column can be brought in (see Arguments).

    ## Action Space

    ``Discrete(num_labels + 1)``: action ``a < num_labels`` picks label ``a`` (names in
    ``env.unwrapped.label_names``); action ``num_labels`` (``env.unwrapped.stop_action``) is
    ``STOP``. The label set comes from the dataset (GoEmotions: ``emotions.txt``) or else from the
    train split (sorted names, numerically when all are integers: ``2`` before ``10``); a label of
    another split that is not in it is an error naming the file, row and line (or the split and row).

    Action mask: a label already picked this episode is invalid; ``STOP`` is always valid. The mask
    is ``env.unwrapped.action_masks()`` (bool, ``(num_labels + 1,)``, what sb3-contrib's
    ``MaskablePPO`` looks for) and ``info["action_mask"]``. With ``strict=False`` (default) a masked
    pick may still be taken: it is a no-op (the set does not change, reward 0.0) but it uses a
    step, which counts towards ``max_labels``. With ``strict=True`` it raises
    ``gymnasium.error.InvalidAction``.

    ## Observation Space

    ``Dict`` of ``int64`` arrays (``K = num_labels``, ``m = min(max_labels, K)``):

    | key              | dtype | shape            | range                  | meaning                          |
    |------------------|-------|------------------|------------------------|----------------------------------|
    | `input_ids`      | int64 | `(max_length,)`  | `[0, vocab_size - 1]`  | `[CLS] text [SEP]`, padded with 0 |
    | `attention_mask` | int64 | `(max_length,)`  | `{0, 1}`               | 1 on real tokens                 |
    | `chosen`         | int64 | `(K,)`           | `{0, 1}`               | multi-hot of the labels picked so far |
    | `num_chosen`     | int64 | `(1,)`           | `[0, m]`               | number of labels picked so far   |

    Texts longer than ``max_length`` tokens are truncated (the final ``[SEP]`` kept) and flagged
    with ``info["truncated_input"] = True``.

    ## Rewards

    Let ``P_t`` be the predicted set after step ``t`` and ``G`` the gold set. ``F1(P, G) =
    2|P & G| / (|P| + |G|)`` and ``Jaccard(P, G) = |P & G| / |P | G|``, both **1.0 when P and G are
    empty** (a text with no gold label answered by an immediate ``STOP`` is right; this matches
    :func:`nlp_envs.metrics.multilabel_metrics` and sklearn with ``zero_division=1``). ``reward=``
    chooses:

    * ``"f1"`` (default): potential-based shaping, ``r_t = F1(P_t, G) - F1_{t-1}`` with
      ``F1_0 = 0``: a correct pick earns a positive reward, a wrong one a negative one, ``STOP``
      earns 0 (or the whole ``F1(empty, empty) = 1`` if it is the first step on a label-free text).
      The rewards telescope: the episode return is the F1 of the final set.
    * ``"sparse_f1"``: 0.0 until the last step, which pays the F1 of the final set.
    * ``"jaccard"``: shaped like ``"f1"`` with the Jaccard index (``J_0 = 0``); the return is the
      Jaccard index of the final set.

    ## Starting State

    The empty set on a text drawn by the env's example order (a fresh seeded permutation of the
    split on each pass; ``order="sequential"`` for evaluation); ``reset(options={"index": i})``
    pins text ``i``.

    ## Episode End

    * Termination: ``STOP``.
    * Termination: the ``max_labels``-th pick (masked no-op picks included). This is a task rule,
      not a time limit: the set is final and the return complete, so there is nothing to
      bootstrap. An episode lasts at most ``max_labels`` steps (``STOP`` included when taken
      earlier); at most ``min(max_labels, K)`` labels are picked.
    * Truncation: never.

    Stepping after the end (or before ``reset``) raises ``gymnasium.error.ResetNeeded``; an action
    that is not an int in range raises ``gymnasium.error.InvalidAction``.

    ``info`` (every step): ``index``, ``action_mask`` (for the next step; on the last step too),
    ``truncated_input``, ``prediction`` (the action; ``-1`` after ``reset``), ``hit`` (the pick added
    a gold label), ``f1`` and ``jaccard`` (of the set picked so far, whatever ``reward`` is: the final
    set's at the last step; 0.0 after ``reset``). ``info_mode="full"`` adds ``text`` after ``reset``
    and at the last step ``pred_labels`` and ``gold_labels`` (sorted label ids of the final and gold
    sets).

    Every ``reset`` and ``step`` returns the same info keys, numpy values of fixed shape
    (``info_mode="lean"``, the default; a key that does not apply holds ``-1``, ``0.0`` or ``False``);
    ``info_mode="full"`` adds the variable ones. ``obs_mode="flat"`` gives one ``int64`` Box instead of
    the Dict (its keys flattened in the Dict's order; ``env.unwrapped.flat_layout``).

    ## Arguments

    ```python
    import gymnasium as gym
    env = gym.make("MultiLabelCls-v0", split="train", reward="f1", max_labels=5)
    env = gym.make("MultiLabelCls-GoEmotions-v0", data_dir="../shared/data", split="test")
    env = gym.make("MultiLabelCls-v0", dataset="my.csv", text_column="review", label_column="aspects")
    ```

    Bring-your-own data: a CSV/TSV/JSONL/Parquet file (used as train), a folder holding
    ``train.*`` / ``dev.*`` or ``validation.*`` / ``test.*``, or a dict of split paths, read by
    :func:`nlp_envs.readers.read_table` with ``label_list=True``: each label cell is a JSON list
    (``["price", "shipping"]``) or a string split on ``label_separator`` (``price,shipping``). A
    ``datasets.Dataset(Dict)`` whose label column holds lists (``Sequence(ClassLabel)`` names are
    decoded) works too.

    | parameter              | default      | meaning                                                        |
    |------------------------|--------------|----------------------------------------------------------------|
    | `dataset`              | `"topics"`   | embedded name, `"goemotions"`, file/folder path, dict of split paths, or `datasets.Dataset(Dict)` |
    | `split`                | `"train"`    | `train`, `validation` (alias `dev`) or `test`                  |
    | `reward`               | `"f1"`       | `"f1"`, `"sparse_f1"` or `"jaccard"` (see Rewards)             |
    | `max_labels`           | `5`          | picks per episode (reaching it ends the episode)               |
    | `strict`               | `False`      | raise `InvalidAction` on a repeated pick instead of a no-op    |
    | `max_length`           | `64`         | tokens per text (truncation flagged in `info`)                 |
    | `data_dir`             | `None`       | folder of real datasets (else `$NLP_ENVS_DATA_DIR`)            |
    | `tokenizer`            | `None`       | `None` = WordPiece trained on train; `"minilm"`; a path; a tokenizer object |
    | `vocab_size`           | `4000`       | size of the trained vocabulary                                 |
    | `order`                | `"shuffle"`  | `"shuffle"` or `"sequential"`                                  |
    | `shard_index`, `num_shards` | `0`, `1` | visit only `indices[shard_index::num_shards]`                |
    | `text_column`, `label_column` | `"text"`, `"label"` | columns of bring-your-own files / datasets     |
    | `label_separator`      | `","`        | separator of label lists stored as strings                     |
    | `dataset_kwargs`       | `None`       | options of the embedded generator (`seed`, `sizes`)            |

    Registered configurations: ``MultiLabelCls-v0`` (``dataset="topics"``),
    ``MultiLabelCls-GoEmotions-v0`` (``dataset="goemotions"``; 28 labels, 1-5 per text, mostly 1).

    ## Vectorized environment

    ``gym.make_vec("MultiLabelCls-v0", num_envs=256)`` builds :class:`MultiLabelClsVectorEnv`: all
    sub-envs stepped with numpy, NEXT_STEP (default), SAME_STEP or DISABLED autoreset (``autoreset_mode=``), equal step for step to ``SyncVectorEnv``
    under the same seeds; ``action_masks()`` gives ``(num_envs, num_labels + 1)``.
    ``nlp_envs.evaluate("MultiLabelCls-v0", policy)`` reports example-based F1, micro/macro F1,
    Jaccard, Hamming loss, subset accuracy and the mean set sizes
    (:func:`nlp_envs.metrics.multilabel_metrics`).

    ## Text mode

    ``obs_mode="text"`` (:mod:`nlp_envs.text_mode`, :class:`MultiLabelClsCodec`): one text step per
    episode. The prompt lists the label names and the text; the answer is the whole label set, the
    label names separated by commas (``price, shipping``), or ``none`` for the empty set. Names are
    matched like ``TextCls`` answers (case, ``_``, ``-`` and spaces ignored); repeated names count once;
    names past the ``max_labels``-th are ignored (the env ends the set there). An unknown name or an
    empty answer is a parse error, scored as the empty set (reward ``parse_error_reward``).

    ## Version History

    * v0: initial release.
    """

    default_dataset = "topics"

    def __init__(
        self,
        dataset: Any = None,
        split: str = "train",
        *,
        reward: str = "f1",
        max_labels: int = 5,
        strict: bool = False,
        max_length: int = 64,
        text_column: str | int = "text",
        label_column: str | int = "label",
        label_separator: str = ",",
        **kwargs: Any,
    ) -> None:
        if reward not in REWARDS:
            raise ValueError(f"reward={reward!r}: expected one of {REWARDS}")
        if not isinstance(max_labels, int) or isinstance(max_labels, bool) or max_labels < 1:
            raise ValueError(f"max_labels={max_labels!r} must be a positive int")
        self.reward_mode = reward
        self.max_labels = max_labels
        self.strict = check_flag("strict", strict)
        self._columns = {"text_column": text_column, "label_column": label_column, "label_separator": label_separator}
        super().__init__(dataset=dataset, split=split, max_length=max_length, columns=self._columns, **kwargs)
        self.label_names: tuple[str, ...] = tuple(self.prepared.meta["label_names"])
        self.num_labels = k = len(self.label_names)
        self.stop_action = k
        self.action_space = spaces.Discrete(k + 1)
        self.observation_space = spaces.Dict(
            {
                "input_ids": int_box(self.encoder.vocab_size - 1, (self.max_length,)),
                "attention_mask": int_box(1, (self.max_length,)),
                "chosen": int_box(1, (k,)),
                "num_chosen": int_box(min(max_labels, k), (1,)),
            }
        )
        arrays = self.prepared.arrays
        self._ids, self._mask = arrays["input_ids"], arrays["attention_mask"]
        self._gold, self._truncated = arrays["gold"], arrays["truncated"]
        self._gold_count = arrays["gold_count"]
        self._texts: TextColumn = self.prepared.texts["text"]
        self._action64 = np.arange(k + 1, dtype=np.int64)  # action -> np.int64 (info values)
        L = self.max_length
        # One buffer holds the whole observation; each step hands out views of a fresh copy.
        self._buf = np.zeros(2 * L + k + 1, dtype=np.int64)
        self._chosen_at, self._num_at = 2 * L, 2 * L + k
        self._allowed = np.ones(k + 1, dtype=bool)
        self._gold_row: list[bool] = []  # the gold set, multi-hot, then False for STOP
        self._n_gold = self._n_pred = self._tp = self._picks = 0
        self._score = 0.0

    def _prep_settings(self) -> Any:
        return self._columns  # file fingerprints do not cover how the files are read

    def _prepare_split(self, split: str) -> Prepared:
        data = self.data
        train = data.splits.get("train")
        if train is None:
            raise DataError(
                f"dataset {data.name!r} has no train split to build the label set and vocabulary from; "
                f"available splits: {sorted(data.splits)}"
            )
        names = label_vocabulary(data.label_names, [v for row in train["label"] for v in row])
        if not names:
            raise DataError(f"dataset {data.name!r}: the train split has no label at all")
        encoder = build_encoder(self._tokenizer_spec, train_texts=train["text"], vocab_size=self._vocab_size)
        cols = data.split(split)
        gold = map_label_sets(cols["label"], names, where=lambda row: data.where(split, row))
        ids, mask, truncated = tokenize_texts(encoder, cols["text"], self.max_length)
        return Prepared(
            encoder=encoder,
            arrays={"input_ids": ids, "attention_mask": mask, "gold": gold,
                    "gold_count": gold.sum(axis=1).astype(np.int64), "truncated": truncated},
            texts={"text": TextColumn.from_strings(cols["text"])},
            meta={"num_examples": len(gold), "label_names": list(names), "dataset": data.name},
        )

    @property
    def gold(self) -> np.ndarray:
        """Gold multi-hot labels of the split, bool ``(num_examples, num_labels)`` (read-only)."""
        return self._gold

    @property
    def texts(self) -> TextColumn:
        """The texts of the split (``texts[i]``: text ``i``, untokenized)."""
        return self._texts

    def gold_episodes(self) -> GoldEpisodes:
        """Each text's first observation (nothing chosen) and its gold labels picked in ascending id order,
        then ``STOP``; no ``STOP`` when the ``max_labels``-th pick ends the episode."""
        gold = np.asarray(self._gold, dtype=bool)  # (n, K)
        n, K = gold.shape
        obs = {"input_ids": self._ids, "attention_mask": self._mask,
               "chosen": np.zeros((n, K), dtype=np.int64), "num_chosen": np.zeros((n, 1), dtype=np.int64)}
        picks = np.minimum(gold.sum(1), self.max_labels)  # the max_labels-th pick ends the episode
        steps = picks + (picks < self.max_labels)  # ... else STOP ends it
        T = int(steps.max())
        # ascending label ids first: sort key = label id for gold labels, K (after them) for the others
        ranked = np.sort(np.where(gold, np.arange(K)[None], K), axis=1)
        actions = np.full((n, T), self.stop_action, dtype=np.int64)
        w = min(T, K)
        actions[:, :w] = np.where(np.arange(w)[None] < picks[:, None], ranked[:, :w], self.stop_action)
        return GoldEpisodes(obs, actions, np.arange(T)[None] < steps[:, None])

    # -- episode ---------------------------------------------------------------------------------
    def _obs(self) -> dict[str, np.ndarray]:
        b = self._buf.copy()  # new arrays every step: users keep observations
        L, c, n = self.max_length, self._chosen_at, self._num_at
        return {"input_ids": b[:L], "attention_mask": b[L:c], "chosen": b[c:n], "num_chosen": b[n:]}

    def _start_episode(self, index: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        L, buf = self.max_length, self._buf
        buf[:L] = self._ids[index]
        buf[L : self._chosen_at] = self._mask[index]
        buf[self._chosen_at :] = 0
        self._allowed[:] = True
        self._gold_row = [*self._gold[index].tolist(), False]
        self._n_gold = int(self._gold_count[index])
        self._n_pred = self._tp = self._picks = 0
        self._score = 0.0
        return self._obs(), self.begin_info(self._index64, self._allowed.copy())

    def lean_info_spec(self) -> dict[str, Any]:
        return {"index": NO_ID, "action_mask": None, "truncated_input": NO_FLAG, "prediction": NO_ID, "hit": NO_FLAG,
                "f1": NO_SCORE, "jaccard": NO_SCORE}

    # -- what the single and the vector env share (arrays or scalars) ----------------------------
    def begin_info(self, idx: Any, masks: Any) -> dict[str, Any]:
        """Reset info of the texts ``idx`` (an index array, or one ``np.int64``)."""
        info = {"index": idx, "action_mask": masks, "truncated_input": self._truncated[idx]}
        if self.info_mode == "full":
            info["text"] = take_texts(self._texts, idx)
        return info

    def pick_info(self, idx: Any, actions: Any, hit: Any, masks: Any, f1: Any, jaccard: Any
                  ) -> dict[str, Any]:
        """Step info of the texts ``idx`` after the picks ``actions`` (see :func:`pick_step`; arrays, or
        ``np.int64`` values)."""
        return {"index": idx, "prediction": actions, "hit": hit, "action_mask": masks,
                "f1": f1, "jaccard": jaccard, "truncated_input": self._truncated[idx]}

    def episode_labels(self, idx: np.ndarray, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``pred_labels`` and ``gold_labels`` (info at the last step, ``info_mode="full"``) of the texts
        ``idx`` whose episodes end with the labels ``chosen`` (multi-hot rows): sorted label id lists."""
        pred = np.empty(len(idx), dtype=object)
        gold = np.empty(len(idx), dtype=object)
        for j, i in enumerate(idx.tolist()):  # only texts ending an episode
            pred[j] = np.flatnonzero(chosen[j]).tolist()
            gold[j] = np.flatnonzero(self._gold[i]).tolist()
        return pred, gold

    def strict_error(self, action: int, sub_env: int | None = None) -> InvalidAction:
        """The error of a repeated label with ``strict=True`` (``sub_env``: which sub-env of a vector env)."""
        where = "" if sub_env is None else f"sub-env {sub_env}: "
        return InvalidAction(
            f"{where}label {self.label_names[action]!r} (action {action}) was already picked in this episode "
            f"(strict=True); pick another label or STOP (action {self.stop_action})"
        )

    # -- single env step -------------------------------------------------------------------------
    def _validate_action(self, action: Any) -> int:
        a = super()._validate_action(action)
        if self.strict and not self._needs_reset and not self._allowed[a]:
            raise self.strict_error(a)
        return a

    def _step_action(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        reward, terminated, fresh, hit, f1, jaccard, state = pick_step(
            self.reward_mode, self.max_labels, self.stop_action, action, self._allowed.item(action),
            self._gold_row[action], (self._n_pred, self._tp, self._picks, self._score), self._n_gold)
        self._n_pred, self._tp, self._picks, self._score = state
        if fresh:
            self._allowed[action] = False
            self._buf[self._chosen_at + action] = 1
            self._buf[self._num_at] = self._n_pred
        info = self.pick_info(self._index64, self._action64[action], hit, self._allowed.copy(), f1, jaccard)
        if terminated and self.info_mode == "full":
            chosen = self._buf[None, self._chosen_at : self._num_at]
            pred, gold = self.episode_labels(np.array([self._index]), chosen)
            info["pred_labels"], info["gold_labels"] = pred[0], gold[0]
        return self._obs(), reward, terminated, False, info

    def action_masks(self) -> np.ndarray:
        """Labels not picked yet, plus ``STOP``: bool ``(num_labels + 1,)`` (sb3-contrib ``MaskablePPO``)."""
        return self._allowed.copy()

    def predicted_labels(self) -> list[int]:
        """Sorted ids of the labels picked so far."""
        return np.flatnonzero(self._buf[self._chosen_at : self._num_at]).tolist()

    # -- play / render -------------------------------------------------------------------------------
    def parse_actions(self, line: str) -> list[int]:
        """One or more labels separated by commas (or spaces), each a label name (case-insensitive,
        or a unique prefix) or a label number, and ``stop``: ``"price, shipping, stop"``, ``"3 7 s"``."""
        text = line.strip()
        parts = [p.strip() for p in (text.split(",") if "," in text else text.split())]
        parts = [p for p in parts if p]
        hint = f"type a label number in [0, {self.num_labels}), a name from {list(self.label_names)}, or 'stop'"
        if not parts:
            raise ValueError(hint)
        lower = [n.lower() for n in self.label_names]
        out = []
        for p in parts:
            q = p.lower()
            if q in ("stop", "s", "done") and q not in lower:
                out.append(self.stop_action)
            elif p.isdigit() and int(p) < self.num_labels:
                out.append(int(p))
            elif q in lower:
                out.append(lower.index(q))
            else:
                matches = [i for i, n in enumerate(lower) if n.startswith(q)]
                if len(matches) != 1:
                    raise ValueError(f"{p!r} is not a label: {hint}")
                out.append(matches[0])
        return out

    def make_evaluator(self, num_envs: int) -> MultiLabelEvaluator:
        """The evaluator of :func:`nlp_envs.evaluate` (the native and the text-mode vector envs build it)."""
        return MultiLabelEvaluator(self.num_labels)

    def _render_text(self) -> str:
        names = self.label_names
        chosen = [names[i] for i in self.predicted_labels()]
        head = f"[{self.split} #{self._index}] {self._texts[self._index]}"
        lines = [head, f"  picked ({self._picks}/{self.max_labels} picks): {', '.join(chosen) or '-'}"]
        if self._needs_reset:
            gold = [names[i] for i, g in enumerate(self._gold_row) if g]
            f1, jaccard = set_scores(self._tp, self._n_pred, self._n_gold)
            lines.append(f"  gold: {', '.join(gold) or '(none)'}")
            lines.append(f"  F1: {f1:.3f}  Jaccard: {jaccard:.3f}")
        return "\n".join(lines)


class MultiLabelClsVectorEnv(NlpVectorEnv):
    """Native vector version of :class:`MultiLabelClsEnv` (numpy; any ``autoreset_mode``).

    All sub-envs step at once through :func:`pick_step`, the single env's kernel, on per-env counters
    (picks, predicted and true-positive labels) and the multi-hot picked sets; Python loops run only
    over sub-envs ending an episode (to list their final label sets in ``info``).
    """

    env_class = MultiLabelClsEnv

    def __init__(self, num_envs: int = 1, **kwargs: Any) -> None:
        super().__init__(num_envs, **kwargs)
        env: MultiLabelClsEnv = self.env  # type: ignore[assignment]
        self.label_names = env.label_names
        self.num_labels = k = env.num_labels
        self.reward_mode, self.strict, self.max_labels = env.reward_mode, env.strict, env.max_labels
        self._ids, self._mask, self._gold, self._gold_count = env._ids, env._mask, env._gold, env._gold_count
        n = num_envs
        self._cur = np.zeros(n, dtype=np.int64)
        self._chosen = np.zeros((n, k), dtype=np.int64)
        self._allowed = np.ones((n, k + 1), dtype=bool)
        self._n_pred = np.zeros(n, dtype=np.int64)
        self._tp = np.zeros(n, dtype=np.int64)
        self._picks = np.zeros(n, dtype=np.int64)
        self._score = np.zeros(n, dtype=np.float64)

    def _begin(self, env_ids: np.ndarray) -> dict[str, Any]:
        idx = self._next_indices(env_ids)
        self._cur[env_ids] = idx
        self._chosen[env_ids] = 0
        self._allowed[env_ids] = True
        self._n_pred[env_ids] = 0
        self._tp[env_ids] = 0
        self._picks[env_ids] = 0
        self._score[env_ids] = 0.0
        return self.env.begin_info(idx, self._allowed[env_ids])  # type: ignore[attr-defined]

    def _advance(self, actions: np.ndarray, active: np.ndarray):
        env: MultiLabelClsEnv = self.env  # type: ignore[assignment]
        k = self.num_labels
        idx = self._cur[active]
        is_new = self._allowed[active, actions]
        if self.strict:
            bad = np.flatnonzero(~is_new)
            if len(bad):
                j = int(bad[0])
                raise env.strict_error(int(actions[j]), sub_env=int(active[j]))
        state = (self._n_pred[active], self._tp[active], self._picks[active], self._score[active])
        is_gold = self._gold[idx, np.minimum(actions, k - 1)]  # (STOP: any column; not fresh)
        rewards, done, fresh, hit, f1, jaccard, state = pick_step(
            self.reward_mode, self.max_labels, k, actions, is_new, is_gold, state, self._gold_count[idx])
        self._n_pred[active], self._tp[active], self._picks[active], self._score[active] = state
        rows, cols = active[fresh], actions[fresh]
        self._chosen[rows, cols] = 1
        self._allowed[rows, cols] = False
        infos = env.pick_info(idx, actions, hit, self._allowed[active], f1, jaccard)
        ended = np.flatnonzero(done)
        if len(ended) and self.full_info:
            ids = active[ended]
            pred, gold = env.episode_labels(self._cur[ids], self._chosen[ids])
            self._report_subset(ids, {"pred_labels": pred, "gold_labels": gold})
        return rewards, done, np.zeros(len(active), dtype=bool), infos

    def _observe(self) -> dict[str, np.ndarray]:
        cur = self._cur
        return {"input_ids": self._ids[cur], "attention_mask": self._mask[cur], "chosen": self._chosen.copy(),
                "num_chosen": self._n_pred[:, None].copy()}

    def action_masks(self) -> np.ndarray:
        """Labels not picked yet plus ``STOP``, bool ``(num_envs, num_labels + 1)``."""
        return self._allowed.copy()


class MultiLabelEvaluator:
    """Multi-label scores over one pass of a split (see :func:`nlp_envs.evaluate`): the final
    predicted set of each text against its gold set, scored by
    :func:`nlp_envs.metrics.multilabel_metrics` (``example_f1``, ``micro_f1``, ``macro_f1`` over
    all labels, ``jaccard``, ``hamming_loss``, ``subset_accuracy``, ``mean_labels_pred``,
    ``mean_labels_gold``, ``num_examples``)."""

    done_key = "pred_labels"

    def __init__(self, num_labels: int) -> None:
        self.num_labels = num_labels
        self._pred: list[list[int]] = []
        self._gold: list[list[int]] = []
        self._index: list[int] = []

    def add(self, infos: dict[str, Any], env_ids: np.ndarray) -> None:
        self._pred.extend(infos["pred_labels"][env_ids])
        self._gold.extend(infos["gold_labels"][env_ids])
        self._index.extend(infos["index"][env_ids].tolist())

    def compute(self) -> dict[str, Any]:
        if not self._pred:
            raise RuntimeError("no text was scored")
        if len(set(self._index)) != len(self._index):
            raise RuntimeError("an example was scored twice: the evaluation pass is broken")
        return dict(multilabel_metrics(self._pred, self._gold, self.num_labels))


_SEPARATORS = re.compile(r"[,;]")
_ITEM_JUNK = "`'\"*[]"


def empty_set_answer(names: Sequence[str]) -> str:
    """The answer that means "no label": ``none``, or ``(none)`` when a label itself is called ``none``."""
    return "(none)" if "none" in label_lookup(tuple(names)) else "none"


class MultiLabelClsCodec(TextCodec):
    """Text mode of ``MultiLabelCls`` (:mod:`nlp_envs.text_mode`): the whole label set of a text in one answer.

    The actions of an answer are its label ids in answer order (repeats dropped, at most ``max_labels``:
    the ``max_labels``-th pick ends the episode), then ``STOP`` unless the picks already ended it; they are
    all valid under ``strict=True``. No answer is ``STOP`` alone: the empty set.
    """

    template = ("Choose every label that applies to the text (at most {max_labels}) from these labels: "
                "{labels}.\n\n"
                "Text: {text}\n\n"
                "Answer with the label names separated by commas, or {none} if no label applies.\nLabels:")
    answer_formats = (
        "The label names separated by commas (`price, shipping`; `;` works too), as listed in the prompt, "
        "or `none` for the empty set (`(none)` if a label is itself called `none`). Only the first non-empty "
        "line counts. Each name is matched like a `TextCls` label: case, surrounding whitespace, quotes, "
        "backticks, `*`, a trailing `.` are ignored and `_`, `-` and spaces are the same; a leading `Labels:`, "
        "`Label:` or `Answer:` and surrounding `[...]` are dropped and empty items (`price,,`) skipped. A "
        "repeated name counts once; names past the `max_labels`-th are ignored (the env ends the set there). "
        "An unknown or ambiguous name, `none` together with labels, or an empty answer is a parse error: "
        "reward `parse_error_reward` (0.0) and the text is scored as answered with the empty set "
        "(`info[\"pred_labels\"]` is `[]`: every gold label missed; on a text without gold labels the split "
        "metrics count that empty set as right, the reward is still `parse_error_reward`).")

    def prompt(self, env: Any, max_chars: int) -> str:
        head, tail = self.template.split("{text}")
        head = head.format(max_labels=env.max_labels, labels=", ".join(env.label_names))
        tail = tail.format(none=empty_set_answer(env.label_names))
        return fit(head, env.texts[env.current_index], tail, max_chars)

    def parse(self, env: Any, answer: str) -> Parsed:
        line = strip_prefix(first_line(answer), ("labels", "label", "answer"))
        line = line.strip().removeprefix("[").removesuffix("]").strip()
        names = tuple(env.label_names)
        keys = label_lookup(names)
        raw = [p.strip().strip(_ITEM_JUNK).strip() for p in _SEPARATORS.split(line)]
        items = [(p, label_key(p)) for p in raw if label_key(p)]
        if not items:
            return fail("empty answer: expected label names separated by commas, or "
                        f"{empty_set_answer(names)!r} for no label")
        none = empty_set_answer(names)
        if len(items) > 1 and any(k == none for _, k in items):
            return fail(f"{none!r} together with labels: answer either the labels or {none!r} alone")
        picks: list[int] = []
        for item, k in items:
            if k == none:
                continue
            i = keys.get(k)
            if i is None:
                more = " ..." if len(names) > 10 else ""
                return fail(f"{item[:80]!r} is not a label; expected names from {list(names[:10])}{more}")
            if i < 0:
                return fail(f"{item[:80]!r} matches two labels once case, '_' and '-' are ignored; "
                            "answer the exact name")
            if i not in picks:
                picks.append(i)
        picks = picks[: env.max_labels]
        if len(picks) < env.max_labels:
            picks.append(env.stop_action)
        return Parsed(tuple(picks))

    def no_answer(self, env: Any) -> tuple[int, ...]:
        return (env.stop_action,)

    def gold_answer(self, env: Any) -> str:
        gold = np.flatnonzero(env.gold[env.current_index]).tolist()
        return ", ".join(env.label_names[i] for i in gold) or empty_set_answer(env.label_names)

    def chars(self, env: Any) -> set[str]:
        return env.texts.chars() | set("".join(env.label_names)) | set(empty_set_answer(env.label_names))


#: The data schema of multi-label text classification (``MultiLabelCls``): a text and its label list.
MULTILABEL_DATA = DataSchema(
    name="multilabel",
    columns=("text", "label"),
    embedded={"topics": data.embedded_generator("multilabel", "LABEL_NAMES")},
    read_file=data.read_label_lists_file,
    hub_columns=data.text_label_columns,
    class_labels={"label": True},
    hub_label_names=True,
    row_labels=data.label_sets_of_rows,
)

#: The family contract of ``MultiLabelCls`` (:mod:`nlp_envs.family`).
MULTI_LABEL_CLS = register_family(Family(
    name="MultiLabelCls",
    env_class=MultiLabelClsEnv,
    vector_env_class=MultiLabelClsVectorEnv,
    data=MULTILABEL_DATA,
    policy="multilabel",
    action_layout="Discrete(num_labels + 1): pick one more label, or STOP (the last action) to end the set",
    gold=GOLD_EPISODES,
    evaluator=MultiLabelEvaluator,
    main_metric="example_f1",
    second_metric="micro_f1",
    sb3_extractor="text",
    majority="multilabel",
    text=MultiLabelClsCodec(),
))
