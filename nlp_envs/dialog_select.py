"""Dialogue reply selection: read a dialogue, pick the true next reply among K candidates."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from nlp_envs.core import NO_FLAG, NO_ID, NlpVectorEnv, int_box
from nlp_envs.data import parse_split
from nlp_envs.dialog import DIALOG_DATA, DialogEnvBase, dialog_encoder, ids_dtype, one_line, pack_rows, ragged_ids
from nlp_envs.family import GOLD_RESET_INFO, Family, register_family
from nlp_envs.prepared import Prepared, TextColumn
from nlp_envs.readers import DataError
from nlp_envs.text_mode import Parsed, TextCodec, fail, first_line, fit, normalize, strip_prefix

_MAX_ROUNDS = 1000  # redraw rounds for clashing distractors before giving up (never reached on real data)


def sample_candidates(
    rng: np.random.Generator, true_index: int, lo: int, hi: int, text_ids: np.ndarray, k: int
) -> tuple[np.ndarray, int]:
    """Candidate pool indices for one episode: the true reply ``true_index`` plus ``k - 1``
    distractors, and the true reply's position.

    One ``rng.random(k)`` call draws the ``k - 1`` distractors, uniformly from the pool outside
    ``[lo, hi)`` (the replies of the same dialogue, skipped by an index shift), and the position of
    the true reply; distractors whose text (token ids) equals the true reply's or an earlier
    distractor's are redrawn with ``rng.random(n_bad)`` (O(k) per round). The single and the vector
    env both call this, so their random draws are the same calls in the same order. (``random`` is
    used rather than ``integers``: a several times cheaper call, uniform up to float rounding.)
    """
    m, block = len(text_ids), hi - lo

    def to_index(u: np.ndarray) -> np.ndarray:
        j = (u * (m - block)).astype(np.int64)
        return j + block * (j >= lo)

    u = rng.random(k)
    distractors = to_index(u[: k - 1])
    label = min(int(u[k - 1] * k), k - 1)
    for _ in range(_MAX_ROUNDS):
        seen = {int(text_ids[true_index])}
        bad = []
        for j, t in enumerate(text_ids[distractors].tolist()):  # k is small: a set beats np.unique
            if t in seen:
                bad.append(j)
            else:
                seen.add(t)
        if not bad:
            break
        distractors[bad] = to_index(rng.random(len(bad)))
    else:
        raise DataError(
            f"could not find {k - 1} distinct distractors for pool reply {true_index} in {_MAX_ROUNDS} rounds: "
            "the split has too few distinct replies outside its dialogue; lower num_candidates"
        )
    out = np.empty(k, dtype=np.int64)
    out[:label] = distractors[:label]
    out[label] = true_index
    out[label + 1 :] = distractors[label:]
    return out, label


def select_step(actions: Any, label: Any) -> tuple[Any, Any, Any]:
    """The step kernel of reply selection, for a batch (numpy arrays: the vector env) or one env
    (Python scalars: the single env), the same code for both: choosing candidate ``actions`` when the
    true reply is at ``label`` ends the episode with reward 1.0 if correct, else 0.0. Returns
    ``(rewards, terminated, correct)``."""
    correct = actions == label
    return 1.0 * correct, True, correct  # every choice ends its episode (True for the whole batch)


class DialogSelectEnv(DialogEnvBase):
    """## Description

    Dialogue reply selection as an environment: the agent reads a dialogue and picks its true next
    reply (a turn of ``reply_speaker``) among ``K = num_candidates`` candidates; one step per
    episode. One episode = one (context, reference) pair, as in :class:`nlp_envs.dialog.DialogReplyEnv`
    (same data options, same shared vocabulary and context arrays). Distractors are the replies of
    OTHER dialogues of the same split, drawn on each reset with the env's ``np_random``; for the
    validation and test splits of ``"sgd"`` (and ``"taskmaster4"``) the dataset's provided
    candidate sets are used instead (``provided_candidates=True``), so scores are comparable with
    published ones.

    ## Action Space

    ``Discrete(K)``: the position of the chosen candidate. No action is ever invalid.

    ## Observation Space

    ``Dict`` of ``int64`` arrays (``C = max_context_tokens``, ``R = max_reply_tokens``):

    | key              | dtype | shape    | range                 | meaning                                   |
    |------------------|-------|----------|-----------------------|-------------------------------------------|
    | `context_ids`    | int64 | `(C,)`   | `[0, vocab_size - 1]` | `[USR] turn [SYS] turn ... [SYS]`, padded with 0 (the last `C` tokens) |
    | `context_mask`   | int64 | `(C,)`   | `{0, 1}`              | 1 on real context tokens                  |
    | `candidate_ids`  | int64 | `(K, R)` | `[0, vocab_size - 1]` | each candidate's tokens (no specials), cut to `R`, padded with 0 |
    | `candidate_mask` | int64 | `(K, R)` | `{0, 1}`              | 1 on real candidate tokens                |

    ## Rewards

    1.0 for the true reply, else 0.0.

    ## Starting State

    The pair drawn by the env's example order (``reset(options={"index": i})`` pins pair ``i``).
    Sampled candidates: ``K - 1`` distractors drawn uniformly from the replies of the other
    dialogues of the split, redrawn when their token ids equal the true reply's or each other's
    (so the true reply occurs exactly once); the true reply is put at a uniformly drawn position
    (see :func:`sample_candidates`). Provided candidates: the dataset's list, in its order (its true position is
    random); provided lists may hold near-duplicates of the true reply (generic closings).

    ## Episode End

    * Termination: after the one choice.
    * Truncation: never.

    Stepping after the end (or before ``reset``) raises ``gymnasium.error.ResetNeeded``; an action
    that is not an int in ``[0, K)`` raises ``gymnasium.error.InvalidAction``.

    ``info``: ``index``, ``turn_index``, ``label`` (the true reply's position), ``prediction`` and
    ``correct`` (``-1``/``False`` after ``reset``); ``info_mode="full"`` adds ``dialogue_id``.

    Every ``reset`` and ``step`` returns the same info keys, numpy values of fixed shape
    (``info_mode="lean"``, the default; a key that does not apply holds ``-1``, ``0.0`` or ``False``);
    ``info_mode="full"`` adds the variable ones. ``obs_mode="flat"`` gives one ``int64`` Box instead of
    the Dict (its keys flattened in the Dict's order; ``env.unwrapped.flat_layout``).

    ## Text mode

    ``obs_mode="text"`` (:mod:`nlp_envs.text_mode`, :class:`DialogSelectCodec`): the prompt is the task, the
    whole context one turn a line (``User: ...`` / ``System: ...``, as in DialogReply's text mode:
    :meth:`~nlp_envs.dialog.DialogEnvBase.context_text`, its START cut to fit ``max_prompt_chars``), the
    candidates drawn at reset numbered ``1.`` to ``K.`` (``env.unwrapped.candidates()``), then ``Answer:``.
    The answer is a candidate number (``3``, ``(3)``, ``#3``, ``Answer: 3``, ``3.``; 1-based, unlike the
    0-based actions), or a candidate's exact text (case and whitespace ignored); only the first non-empty
    line counts. Anything else (a number out of range, no candidate's text, an empty answer) is a parse
    error: reward ``parse_error_reward``, ``info["prediction"]`` -1, ``info["correct"]`` False.
    ``env.unwrapped.gold_answer()`` is the true reply's number.

    ## Arguments

    ```python
    import gymnasium as gym
    env = gym.make("DialogSelect-v0", split="train", num_candidates=10)
    env = gym.make("DialogSelect-SGD-v0", data_dir="../shared/data", split="test")  # provided sets
    ```

    | parameter             | default     | meaning                                                      |
    |-----------------------|-------------|--------------------------------------------------------------|
    | `num_candidates`      | `10`        | `K`; must equal the provided sets' size when they are used (10) |
    | `provided_candidates` | `True`      | use the dataset's candidate sets where the split has them    |
    | `max_context_tokens`  | `128`       | context tokens kept (the last ones)                          |
    | `max_reply_tokens`    | `32`        | tokens kept per candidate                                    |
    | other parameters      |             | as :class:`~nlp_envs.dialog.DialogReplyEnv` (`dataset`, `split`, `data_dir`, `reply_speaker`, `tokenizer`, `vocab_size`, `order`, `shard_index`, `num_shards`, keys, `dataset_kwargs`) |

    Registered: ``DialogSelect-v0`` (``"dialogs"``), ``DialogSelect-SGD-v0`` (``"sgd"``).

    ## Vectorized environment

    ``gym.make_vec("DialogSelect-v0", num_envs=256)`` builds :class:`DialogSelectVectorEnv`
    (numpy; NEXT_STEP, the default, SAME_STEP or DISABLED autoreset with ``autoreset_mode=``; equal step
    for step to ``SyncVectorEnv`` in the same mode under the same seeds).
    ``nlp_envs.evaluate`` reports ``hits_at_1`` (accuracy) and, when the policy returns scores of
    shape ``(num_envs, K)``, ``mrr`` (mean reciprocal rank of the true reply; ties are ranked as
    ``argmax`` breaks them, lowest position first).

    ## Version History

    * v0: initial release.
    """

    def __init__(
        self,
        dataset: Any = None,
        split: str = "train",
        *,
        num_candidates: int = 10,
        provided_candidates: bool = True,
        **kwargs: Any,
    ) -> None:
        if not isinstance(num_candidates, int) or num_candidates < 2:
            raise ValueError(f"num_candidates={num_candidates!r} must be an int >= 2")
        self.num_candidates = num_candidates
        self.provided_candidates = bool(provided_candidates)
        super().__init__(dataset, split, **kwargs)
        arrays, meta = self.prepared.arrays, self.prepared.meta
        self.uses_provided_candidates = bool(meta["provided"])
        k = num_candidates
        if self.uses_provided_candidates:
            if int(meta["set_size"]) != k:
                raise ValueError(
                    f"split {split!r} of {self.data.name!r} has provided candidate sets of {meta['set_size']} "
                    f"replies but num_candidates={k}: pass num_candidates={meta['set_size']}, or "
                    "provided_candidates=False to sample distractors"
                )
            self._provided, self._provided_label = arrays["candidates"], arrays["label"]
        elif int(meta["num_distinct_replies"]) < k:
            raise ValueError(
                f"split {split!r} of {self.data.name!r} has only {meta['num_distinct_replies']} distinct replies; "
                f"num_candidates={k} needs at least {k}"
            )
        else:
            self._lo, self._hi = arrays["block_lo"], arrays["block_hi"]
        self._pool_ids, self._pool_len, self._text_id = arrays["pool_ids"], arrays["pool_len"], arrays["pool_text_id"]
        self._pool_texts: TextColumn = self.prepared.texts["pool"]
        self.action_space = spaces.Discrete(k)
        high = self.vocab_size - 1
        self.observation_space = spaces.Dict(
            {
                "context_ids": int_box(high, (self.max_context_tokens,)),
                "context_mask": int_box(1, (self.max_context_tokens,)),
                "candidate_ids": int_box(high, (k, self.max_reply_tokens)),
                "candidate_mask": int_box(1, (k, self.max_reply_tokens)),
            }
        )
        self._position64 = np.arange(k, dtype=np.int64)  # candidate position -> np.int64 (info values)
        self._cand = np.zeros(k, dtype=np.int64)
        self._label = 0
        self._obs_cache: dict[str, np.ndarray] = {}

    def _prep_settings(self) -> Any:
        return {**super()._prep_settings(), "provided_candidates": self.provided_candidates}

    def action_masks(self) -> np.ndarray:
        """All candidates may be chosen: ``bool (K,)`` all True."""
        return np.ones(self.num_candidates, dtype=bool)

    def candidates(self) -> list[str]:
        """Texts of the current episode's candidates, in position order."""
        return [self._pool_texts[int(c)] for c in self._cand]

    @property
    def label(self) -> int:
        """Position of the true reply in the current episode."""
        return self._label

    @property
    def pool_texts(self) -> TextColumn:
        """Texts of the replies candidates are drawn from (the rows of :attr:`pool_ids`; a read-only column:
        ``len``, ``[i]``, ``chars()``)."""
        return self._pool_texts

    @property
    def pool_ids(self) -> np.ndarray:
        """Token ids of the replies candidates are drawn from (the split's references, or its provided
        candidates), ``(pool size, max_reply_tokens)``, 0-padded (read-only)."""
        return self._pool_ids

    # -- preparation ------------------------------------------------------------------------------
    def _prepare_split(self, split: str) -> Prepared:
        data = self.data
        data.split(split)  # a clear error for a split the dataset lacks
        spec = parse_split(split)
        provided = data.extras.get("selection", {}).get(spec.name) if self.provided_candidates else None
        if provided is not None:  # a slice (split="test[:50%]") takes that part of the provided items
            start, stop = spec.bounds(len(provided["label"]))
            return self._prepare_provided({k: v[start:stop] for k, v in provided.items()} if spec.sliced else provided)
        encoder, pairs, arrays, texts = self._prepare_common(split)
        values, starts, lengths = pairs.reply_tokens()
        pool, pool_len = pack_rows(values, starts, lengths, self.max_reply_tokens, ids_dtype(encoder.vocab_size))
        text_id = np.unique(pool, axis=0, return_inverse=True)[1].reshape(-1)
        arrays.update(
            pool_ids=pool, pool_len=pool_len, pool_text_id=text_id.astype(np.int64),
            block_lo=np.searchsorted(pairs.record, pairs.record, side="left").astype(np.int64),
            block_hi=np.searchsorted(pairs.record, pairs.record, side="right").astype(np.int64),
        )
        texts["pool"] = texts["reference"]
        return Prepared(
            encoder=encoder, arrays=arrays, texts=texts,
            meta={"num_examples": len(pairs.reference), "dataset": data.name, "provided": False,
                  "num_distinct_replies": int(text_id.max()) + 1},
        )

    def _prepare_provided(self, items: dict[str, list]) -> Prepared:
        encoder = dialog_encoder(self.data, self._tokenizer_spec, self._vocab_size)
        sizes = {len(c) for c in items["candidates"]}
        if len(sizes) != 1:
            raise DataError(f"dataset {self.data.name!r}: provided candidate sets have different sizes {sorted(sizes)}")
        n = len(items["label"])
        turn_text = [t for ctx in items["context"] for t in ctx]
        turn_speaker = [s for sp in items["context_speakers"] for s in sp]
        ctx_count = np.array([len(c) for c in items["context"]], dtype=np.int64)
        ctx_start = np.concatenate([[0], np.cumsum(ctx_count)[:-1]]).astype(np.int64)
        values, offsets = ragged_ids(encoder, turn_text)
        arrays, texts = self._context_arrays(encoder, values, offsets, turn_text, turn_speaker, ctx_start, ctx_count)
        flat = [c for cands in items["candidates"] for c in cands]
        pv, po = ragged_ids(encoder, flat)
        pool, pool_len = pack_rows(pv, po[:-1], np.diff(po), self.max_reply_tokens, ids_dtype(encoder.vocab_size))
        k = sizes.pop()
        arrays.update(
            turn_index=np.asarray(items["turn_index"], dtype=np.int64),
            pool_ids=pool, pool_len=pool_len, pool_text_id=np.arange(len(flat), dtype=np.int64),
            candidates=np.arange(n * k, dtype=np.int64).reshape(n, k),
            label=np.asarray(items["label"], dtype=np.int64),
        )
        texts.update(dialogue_id=TextColumn.from_strings(items["dialogue_id"]),
                     reference=TextColumn.from_strings(items["reference"]), pool=TextColumn.from_strings(flat))
        return Prepared(
            encoder=encoder, arrays=arrays, texts=texts,
            meta={"num_examples": n, "dataset": self.data.name, "provided": True, "set_size": k},
        )

    # -- episodes ---------------------------------------------------------------------------------
    def draw_candidates(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """Candidate pool indices and the true position for example ``index`` (used by the vector env)."""
        if self.uses_provided_candidates:
            return np.asarray(self._provided[index], dtype=np.int64), int(self._provided_label[index])
        return sample_candidates(rng, index, int(self._lo[index]), int(self._hi[index]), self._text_id,
                                 self.num_candidates)

    def _start_episode(self, index: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self._cand, self._label = self.draw_candidates(index, self.np_random)
        obs = self._context_obs(index)
        obs["candidate_ids"] = self._pool_ids[self._cand].astype(np.int64)
        obs["candidate_mask"] = (self._positions[: self.max_reply_tokens][None, :]
                                 < self._pool_len[self._cand][:, None]).astype(np.int64)
        self._obs_cache = obs
        info = self.select_info(self._index64, self._position64[self._label])
        return {k: v.copy() for k, v in obs.items()}, info

    def lean_info_spec(self) -> dict[str, Any]:
        return {"index": NO_ID, "turn_index": NO_ID, "label": NO_ID, "prediction": NO_ID, "correct": NO_FLAG}

    # -- what the single and the vector env share (arrays or scalars) ----------------------------
    def select_info(self, idx: Any, label: Any) -> dict[str, Any]:
        """Info of the examples ``idx``, true reply at ``label`` (arrays, or ``np.int64`` values)."""
        info = self._base_info(idx)
        info["label"] = label
        return info

    def choice_info(self, idx: Any, label: Any, predictions: Any, correct: Any) -> dict[str, Any]:
        """Info of a step that chose the candidates ``predictions`` (see :meth:`select_info`)."""
        info = self.select_info(idx, label)
        info.update(prediction=predictions, correct=correct)
        return info

    # -- single env step -------------------------------------------------------------------------
    def _step_action(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        reward, terminated, correct = select_step(action, self._label)
        pos = self._position64
        info = self.choice_info(self._index64, pos[self._label], pos[action], correct)
        return {k: v.copy() for k, v in self._obs_cache.items()}, reward, terminated, False, info

    def parse_actions(self, line: str) -> list[int]:
        """A candidate number in ``[0, K)``."""
        text = line.strip()
        if text.isdigit() and int(text) < self.num_candidates:
            return [int(text)]
        raise ValueError(f"{text!r} is not a candidate: type a number in [0, {self.num_candidates})")

    def make_evaluator(self, num_envs: int) -> SelectionEvaluator:
        """The evaluator of :func:`nlp_envs.evaluate` (the native and the text-mode vector envs build it)."""
        return SelectionEvaluator(num_envs)

    def _render_text(self) -> str:
        lines = self._render_context(self._index)
        chosen = self._last_action
        for pos, text in enumerate(self.candidates()):
            mark = ""
            if chosen is not None and pos == chosen:
                mark = "  <- chosen " + ("✓" if pos == self._label else "✗")
            elif chosen is not None and pos == self._label:
                mark = "  <- true reply"
            lines.append(f"  [{pos}] {text}{mark}")
        if chosen is not None:
            lines.append(f"  reward: {float(chosen == self._label):.1f}")
        return "\n".join(lines)


class DialogSelectVectorEnv(NlpVectorEnv):
    """Native vector version of :class:`DialogSelectEnv` (numpy; any ``autoreset_mode``): all sub-envs
    step at once through :func:`select_step`, the single env's kernel."""

    env_class = DialogSelectEnv

    def __init__(self, num_envs: int = 1, **kwargs: Any) -> None:
        super().__init__(num_envs, **kwargs)
        env: DialogSelectEnv = self.env  # type: ignore[assignment]
        k, r = env.num_candidates, env.max_reply_tokens
        self._cur = np.zeros(num_envs, dtype=np.int64)
        self._cand = np.zeros((num_envs, k), dtype=np.int64)
        self._label = np.zeros(num_envs, dtype=np.int64)
        self._ctx_ids = np.zeros((num_envs, env.max_context_tokens), dtype=np.int64)
        self._ctx_mask = np.zeros((num_envs, env.max_context_tokens), dtype=np.int64)
        self._cols_c = np.arange(env.max_context_tokens)
        self._cols_r = np.arange(r)

    def _begin(self, env_ids: np.ndarray) -> dict[str, Any]:
        env: DialogSelectEnv = self.env  # type: ignore[assignment]
        idx = self._next_indices(env_ids)
        self._cur[env_ids] = idx
        for e, i in zip(env_ids, idx):  # O(K) numpy draws per resetting sub-env, with its own generator
            self._cand[e], self._label[e] = env.draw_candidates(int(i), self._rngs[e])
        self._ctx_ids[env_ids] = env._ctx_ids[idx]
        self._ctx_mask[env_ids] = self._cols_c[None, :] < env._ctx_len[idx][:, None]
        return env.select_info(idx, self._label[env_ids])

    def _advance(self, actions: np.ndarray, active: np.ndarray):
        env: DialogSelectEnv = self.env  # type: ignore[assignment]
        label = self._label[active]
        rewards, done, correct = select_step(actions, label)
        infos = env.choice_info(self._cur[active], label, actions, correct)
        return rewards, done, np.zeros(len(active), dtype=bool), infos

    def _observe(self) -> dict[str, np.ndarray]:
        env: DialogSelectEnv = self.env  # type: ignore[assignment]
        return {
            "candidate_ids": env._pool_ids[self._cand].astype(np.int64),
            "candidate_mask": (self._cols_r < env._pool_len[self._cand][..., None]).astype(np.int64),
            "context_ids": self._ctx_ids.copy(),
            "context_mask": self._ctx_mask.copy(),
        }

    def action_masks(self) -> np.ndarray:
        return np.ones((self.num_envs, self.single_action_space.n), dtype=bool)  # type: ignore[attr-defined]


class SelectionEvaluator:
    """Reply-selection metrics over one pass of a split (see :func:`nlp_envs.evaluate`).

    ``hits_at_1``: the share of examples whose chosen candidate is the true reply (accuracy).
    ``mrr``: mean of ``1 / rank`` of the true reply under the policy's scores, where ``rank = 1 +``
    the candidates scored higher ``+`` the earlier candidates scored equal (so rank 1 iff ``argmax``
    picks it); reported only when the policy returned scores for every example.
    """

    done_key = "correct"

    def __init__(self, num_envs: int) -> None:
        self._correct: list[bool] = []
        self._index: list[int] = []
        self._rr: list[float] = []
        self._scores: np.ndarray | None = None
        self._has = np.zeros(num_envs, dtype=bool)

    def record_scores(self, scores: np.ndarray, active_mask: np.ndarray) -> None:
        scores = np.asarray(scores, dtype=np.float64)
        if self._scores is None:
            self._scores = np.zeros_like(scores)
        self._scores[active_mask] = scores[active_mask]
        self._has |= active_mask

    def add(self, infos: dict[str, Any], env_ids: np.ndarray) -> None:
        for e in env_ids:
            self._correct.append(bool(infos["correct"][e]))
            self._index.append(int(infos["index"][e]))
            if self._has[e] and self._scores is not None:
                s, label = self._scores[e], int(infos["label"][e])
                rank = 1 + int((s > s[label]).sum()) + int((s[:label] == s[label]).sum())
                self._rr.append(1.0 / rank)
                self._has[e] = False

    def compute(self) -> dict[str, Any]:
        if len(set(self._index)) != len(self._index):
            raise RuntimeError("an example was scored twice: the evaluation pass is broken")
        out: dict[str, Any] = {"hits_at_1": float(np.mean(self._correct)) if self._correct else 0.0}
        if self._rr and len(self._rr) == len(self._correct):
            out["mrr"] = float(np.mean(self._rr))
        return out


#: A candidate number as an answer: ``3``, ``3.``, ``(3)``, ``[3]``, ``#3``, ``3)``, ``Candidate 3``...
_NUMBER = re.compile(r"(?:(?:candidate|reply|option)\s*)?[#(\[]?\s*(\d{1,6})\s*[)\]]?\s*[.:]?", re.IGNORECASE)
#: A candidate number then that candidate's text: ``3. sure, what time?``
_NUMBER_TEXT = re.compile(r"[#(\[]?\s*(\d{1,6})\s*[)\]]?\s*[.:]?\s+(.+)", re.DOTALL)


def _candidate_key(text: str) -> str:
    """A candidate text or an answer, compared: one line, without surrounding quotes, backticks or ``*``,
    then :func:`nlp_envs.text_mode.normalize` (case, whitespace, a trailing ``.``)."""
    return normalize(one_line(text).strip().strip("`'\"*"))


class DialogSelectCodec(TextCodec):
    """Text mode of ``DialogSelect`` (:mod:`nlp_envs.text_mode`): the dialogue and the numbered candidates
    in, the number of the chosen one out."""

    template = ("Choose the best next reply of the {speaker} in this dialogue.\n\n{context}\n\n"
                "Candidate replies:\n{candidates}\n\n"
                "Answer with the number of the best reply only.\nAnswer:")
    answer_formats = (
        "The number of a candidate, `1` to `num_candidates` as listed (`3`, `3.`, `(3)`, `[3]`, `#3`, "
        "`Candidate 3`, `Answer: 3`), or that candidate's exact text (case, whitespace and a trailing `.` "
        "ignored), or the number followed by its text (`3. sure, what time?`). Only the first non-empty line "
        "counts; surrounding quotes, backticks and `*` are ignored. A number out of range, a text that is no "
        "candidate (or the text of two candidates), an empty answer is a parse error: reward "
        "`parse_error_reward` (0.0), `info[\"prediction\"]` -1 and `info[\"correct\"]` False (a miss for "
        "`hits_at_1`).")
    no_answer_info: ClassVar[dict[str, Any]] = {"prediction": np.int64(-1), "correct": False}

    def prompt(self, env: Any, max_chars: int) -> str:
        head, tail = self.template.split("{context}")
        numbered = "\n".join(f"{k}. {one_line(c)}" for k, c in enumerate(env.candidates(), 1))
        return fit(head.format(speaker=env.reply_speaker), env.context_text(env.current_index),
                   tail.format(candidates=numbered), max_chars, keep="end")

    def parse(self, env: Any, answer: str) -> Parsed:
        line = strip_prefix(first_line(answer), ("answer", "reply", "candidate"))
        k = env.num_candidates
        if not line:
            return fail(f"empty answer: expected a candidate number from 1 to {k}")
        m = _NUMBER.fullmatch(line)
        if m:
            n = int(m.group(1))
            return Parsed((n - 1,)) if 1 <= n <= k else fail(f"candidate {n} is out of range: expected 1 to {k}")
        keys = [_candidate_key(c) for c in env.candidates()]
        key = _candidate_key(line)
        hits = [j for j, c in enumerate(keys) if c == key]
        if len(hits) == 1:
            return Parsed((hits[0],))
        if hits:
            return fail(f"{line[:80]!r} is the text of candidates {[j + 1 for j in hits]}: answer with one number")
        m = _NUMBER_TEXT.fullmatch(line)
        if m and 1 <= int(m.group(1)) <= k and _candidate_key(m.group(2)) == keys[int(m.group(1)) - 1]:
            return Parsed((int(m.group(1)) - 1,))
        return fail(f"{line[:80]!r} is neither a candidate number from 1 to {k} nor a candidate's text")

    def no_answer(self, env: Any) -> tuple[int, ...]:
        return (0,)

    def gold_answer(self, env: Any) -> str:
        return str(env.label + 1)

    def chars(self, env: Any) -> set[str]:
        return env.context_chars() | env.pool_texts.chars()


#: The family contract of ``DialogSelect`` (:mod:`nlp_envs.family`): it reads the dialogues of ``DialogReply``.
DIALOG_SELECT = register_family(Family(
    name="DialogSelect",
    env_class=DialogSelectEnv,
    vector_env_class=DialogSelectVectorEnv,
    data=DIALOG_DATA,
    policy="select",
    action_layout="Discrete(num_candidates): the position of the chosen reply among the candidates (one step)",
    gold=GOLD_RESET_INFO,  # candidates are drawn at reset: the gold position is the reset info's "label"
    gold_info_key="label",
    evaluator=SelectionEvaluator,
    main_metric="hits_at_1",
    second_metric="mrr",
    sb3_extractor="candidates",
    majority="selection",
    text=DialogSelectCodec(),
))
