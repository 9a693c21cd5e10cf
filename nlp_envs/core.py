"""The env core shared by every task family.

:class:`NlpEnv` owns what all NLP envs have in common: the dataset and split (through
:mod:`nlp_envs.data`), tokenization and prepared arrays (:mod:`nlp_envs.prepared`), the seeded order
in which examples are visited, ``reset(seed=, options={"index": i})``, action validation, the
episode bookkeeping (step before reset / after the end), the lean info, and text rendering. A task
file implements only the task: how to build its arrays, the observation of the current state, and
one step.

One step kernel per family
    A family's reward, transition and termination are one module-level function (``answer_step``,
    ``tag_step`` with :func:`nlp_envs.metrics.entity_f1_step`, ``pick_step``, ``choose_step``,
    ``reply_step``, ``select_step``), written with arithmetic and comparison operators only (no
    branch on the values, no ``np.where``), so that the same code runs on numpy arrays -- the vector
    env, one entry per stepping sub-env -- and on Python scalars -- the single env, a batch of one
    that pays no numpy call. Its info is built by methods of the single env class that take an index
    array or one index (``example_info``, ``tag_info``...), which the vector env calls on its
    template env (:attr:`NlpVectorEnv.env`). What is left in each class is mechanics: where the state
    lives (Python attributes / per-sub-env arrays) and how fresh observation memory is made.

:class:`NlpVectorEnv` is the base of the native vector envs: all sub-envs are stepped at once with
numpy, with any of Gymnasium 1.x's autoreset modes (``autoreset_mode=`` NEXT_STEP, the default,
SAME_STEP or DISABLED; see :class:`NlpVectorEnv`), and they are equal step for step to a
``SyncVectorEnv`` of the single env in the same mode under the same seeds (sub-env ``i`` is seeded
``seed + i``).

Info
    ``info_mode="lean"`` (default): every ``reset`` and ``step`` of an env returns the same info keys
    (the family's :meth:`NlpEnv.lean_info_spec`), each a numpy value of fixed shape (``np.int64``,
    ``np.float64``, 0-d ``bool`` arrays, ``bool`` arrays such as ``action_mask``), so that vector
    envs and RL libraries batch them; a key that does not apply to a step holds its default (``-1``
    for ids, ``0.0`` for scores, ``False``). ``info_mode="full"`` adds the family's variable
    things (texts, tag and label lists, decoded replies) on the steps where they exist.

Observation
    ``obs_mode="dict"`` (default): a ``Dict`` of ``int64`` Boxes. ``obs_mode="flat"``: one ``int64``
    ``Box``, the Dict's arrays flattened and concatenated in the Dict's key order (sorted by name,
    as ``gymnasium.spaces.flatten`` and ``FlattenObservation`` do); :attr:`NlpEnv.flat_layout` gives
    each key's slice and shape, :attr:`NlpEnv.dict_observation_space` the Dict. ``obs_mode="text"``: a
    ``Text`` prompt and ``Text`` answers, for language models (:mod:`nlp_envs.text_mode`).

Example order
    ``order="shuffle"`` (default): each pass over the split visits every example once, in a new
    permutation drawn from the env's ``np_random`` when the pass starts. ``order="sequential"``:
    examples in index order, for evaluation; with ``shard_index``/``num_shards`` an env visits only
    ``indices[shard_index::num_shards]`` (the vector env shards the split across its sub-envs, so one
    pass of all of them visits every example exactly once). ``reset(seed=...)`` restarts the pass.
    The native vector env's order is public for trainers: :meth:`NlpVectorEnv.order_state` /
    :meth:`~NlpVectorEnv.set_order_state` (a checkpoint's copy, replayed exactly),
    :meth:`~NlpVectorEnv.reseed_sub_envs` (sub-envs given one seed play the same examples) and
    :meth:`~NlpVectorEnv.restart_order`.
"""

from __future__ import annotations

import operator
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import InvalidAction, ResetNeeded
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode

from nlp_envs.data import TaskData, load_task_data
from nlp_envs.family import Family, GoldEpisodes
from nlp_envs.prepared import Prepared, cache_key, get_prepared
from nlp_envs import text_mode

ORDERS = ("shuffle", "sequential")
INFO_MODES = ("lean", "full")
OBS_MODES = ("dict", "flat", "text")

#: Default of a lean info key that does not apply to a step: -1 (an id), 0.0 (a score), False.
NO_ID = np.int64(-1)
NO_SCORE = np.float64(0.0)
NO_FLAG = np.array(False)


_FLAG_VALUES = (np.array(False), np.array(True))  # templates: a flag value is a fresh copy of one
_MISSING = object()


def compile_info_finisher(
    spec: Mapping[str, Any], full: bool, owner: str
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The function that turns the info a step or reset built into the info a caller sees, for one
    lean spec (``key -> default``, see :meth:`NlpEnv.lean_info_spec`): every lean key, its value
    converted from the default's kind, the default where the key is missing; with ``full`` the other
    keys too.

    Kinds: ``np.int64`` and ``np.float64`` (kept as they are when they already have that type: an
    immutable scalar may be shared), a 0-d ``bool`` array (a fresh copy every time: users keep infos;
    ``SyncVectorEnv`` batches 0-d arrays into a ``bool`` array, while it puts ``np.bool_`` scalars into
    an object array) or another array (``None`` default: the step must give it). The function is
    generated once per spec (like ``collections.namedtuple``): the single env's hot path then costs
    one dict lookup and one type check per key, no loop. Keys and defaults are bound as variables,
    never written into the source.
    """
    ns: dict[str, Any] = {"I64": np.int64, "F64": np.float64, "FLAGS": _FLAG_VALUES, "MISSING": _MISSING,
                          "asarray": np.asarray, "array": np.array, "owner": owner}
    lines, items = ["def finish(info):", "    get = info.get"], []
    for j, (key, default) in enumerate(spec.items()):
        ns[f"K{j}"] = key
        if default is None:
            lines += [f"    v{j} = get(K{j}, MISSING)", f"    if v{j} is MISSING:",
                      f"        raise RuntimeError(f'{{owner}} gave no info[{{K{j}!r}}] "
                      "(a lean key without default)')"]
            items.append(f"asarray(v{j})")
            continue
        ns[f"D{j}"] = default
        lines.append(f"    v{j} = get(K{j}, D{j})")
        if isinstance(default, np.integer):
            ns[f"D{j}"] = np.int64(default)
            items.append(f"v{j} if type(v{j}) is I64 else I64(v{j})")
        elif isinstance(default, np.floating):
            ns[f"D{j}"] = np.float64(default)
            items.append(f"v{j} if type(v{j}) is F64 else F64(v{j})")
        elif np.asarray(default).dtype == bool and np.ndim(default) == 0:
            ns[f"D{j}"] = bool(default)
            items.append(f"FLAGS[1 if v{j} else 0].copy()")
        else:
            ns[f"T{j}"] = np.asarray(default).dtype
            items.append(f"array(v{j}, dtype=T{j})")
    lines.append("    out = {" + ", ".join(f"K{j}: {e}" for j, e in enumerate(items)) + "}")
    if full:
        lines += ["    for k, v in info.items():", "        if k not in out:", "            out[k] = v"]
    lines.append("    return out")
    exec("\n".join(lines), ns)  # noqa: S102 - generated from the fixed templates above only
    return ns["finish"]


def check_flag(name: str, value: Any) -> bool:
    """An on/off argument: ``True``/``False`` (numpy bools and the ints 0/1 too), anything else -- such
    as the string ``"no"``, which ``bool()`` would read as True -- is a ``ValueError``."""
    if isinstance(value, (bool, np.bool_)) or (
        isinstance(value, (int, np.integer)) and not isinstance(value, bool) and int(value) in (0, 1)
    ):
        return bool(value)
    raise ValueError(f"{name}={value!r} must be True or False")


def take_texts(column: Any, idx: Any) -> Any:
    """Rows ``idx`` of a :class:`~nlp_envs.prepared.TextColumn`: an object array for an index array
    (vector envs), one ``str`` for one index (single envs)."""
    return column.take(idx) if isinstance(idx, np.ndarray) else column[idx]


def int_box(high: int | np.ndarray, shape: tuple[int, ...], low: int = 0) -> spaces.Box:
    """An ``int64`` Box with exact finite bounds."""
    return spaces.Box(low=low, high=high, shape=shape, dtype=np.int64)


def fast_lookup(arr: np.ndarray, max_rows: int = 250_000) -> Any:
    """``arr.tolist()`` for small arrays (a list lookup is ~5x cheaper than numpy scalar indexing in
    ``step``), the array itself for large ones (no per-row Python objects)."""
    return arr.tolist() if len(arr) <= max_rows else arr


class ExampleOrder:
    """The sequence of example indices one env visits (see the module doc).

    Indices are handed out from small Python-list chunks of the current permutation, so that
    ``next`` is a list lookup; only a pass boundary draws from the RNG (one ``permutation`` call).
    """

    CHUNK = 512

    def __init__(self, num_examples: int, order: str, shard_index: int = 0, num_shards: int = 1) -> None:
        if order not in ORDERS:
            raise ValueError(f"order={order!r}: expected one of {ORDERS}")
        if num_shards < 1 or not 0 <= shard_index < num_shards:
            raise ValueError(f"shard_index={shard_index} must be in [0, num_shards={num_shards})")
        self.indices = np.arange(shard_index, num_examples, num_shards, dtype=np.int64)
        if len(self.indices) == 0:
            raise ValueError(
                f"shard {shard_index} of {num_shards} is empty: the split has only {num_examples} examples"
            )
        self.shuffle = order == "shuffle"
        self.perm = self.indices
        self.pos = len(self.indices)  # position in `perm` after the current chunk; first draw starts a pass
        self.passes = 0
        self._chunk: list[int] = []
        self._chunk64: list[np.int64] = []  # the same indices as numpy scalars (info values)
        self._k = 0
        self.last64 = np.int64(-1)
        self.chunk_id = 0  # changes whenever a new chunk is drawn (see BlockRows)

    def restart(self) -> None:
        """Start a new pass at the next draw (called by ``reset(seed=...)``)."""
        self.pos = len(self.indices)
        self.passes = 0
        self._chunk, self._chunk64, self._k = [], [], 0

    def next(self, rng: np.random.Generator) -> int:
        k = self._k
        if k >= len(self._chunk):
            if self.pos >= len(self.perm):
                self.perm = rng.permutation(self.indices) if self.shuffle else self.indices
                self.pos = 0
                self.passes += 1
            chunk = self.perm[self.pos : self.pos + self.CHUNK]
            self._chunk, self._chunk64 = chunk.tolist(), list(chunk)
            self.pos += len(self._chunk)
            k = 0
            self.chunk_id += 1
        self._k = k + 1
        self.last64 = self._chunk64[k]  # the same index as an np.int64 (an info value without a conversion)
        return self._chunk[k]


class BlockRows:
    """Fresh observation rows for the examples of the order's current chunk, copied in one block.

    Gymnasium requires every returned observation to own its memory. Copying two rows per reset
    and per step costs more than the rest of a one-step episode, so rows are copied for a whole
    chunk of upcoming examples at once (``copies`` copies of each, one fancy-index per array) and
    handed out as views of distinct rows (pre-split into lists): fresh memory at a fraction of the
    per-row cost. ``rows[name][j]`` is row ``j``; :meth:`row` says which ``j`` to use.
    """

    def __init__(self, arrays: dict[str, np.ndarray], copies: int = 2) -> None:
        self.arrays = arrays
        self.copies = copies
        self._chunk_id = -1
        self.rows: dict[str, list[np.ndarray]] = {}

    def row(self, order: ExampleOrder, copy: int) -> int:
        """Index (in :attr:`rows`) of copy ``copy`` of the example ``order`` handed out last."""
        if order.chunk_id != self._chunk_id:
            idx = np.repeat(np.asarray(order._chunk, dtype=np.int64), self.copies)
            self.rows = {k: list(a[idx]) for k, a in self.arrays.items()}
            self._chunk_id = order.chunk_id
        return (order._k - 1) * self.copies + copy


class NlpEnv(gym.Env[dict, np.int64]):
    """Base class of every nlp-envs environment (see the module doc for what it owns).

    Subclasses implement :meth:`_prepare_split`, :meth:`_start_episode`, :meth:`_step_action` (through
    the family's step kernel, see the module doc), :meth:`_render_text` and :meth:`gold_episodes`; their
    module declares the family's contract (:class:`nlp_envs.family.Family`) at its bottom, which sets
    :attr:`family` and :attr:`task`.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"], "render_fps": 4}
    #: the family's contract (set by :func:`nlp_envs.family.register_family`)
    family: ClassVar[Family]
    #: data-layer task (``"classification"``, ``"ner"``...: ``family.data.name``, set with :attr:`family`)
    task: ClassVar[str]
    #: the default dataset name (an embedded generator)
    default_dataset: ClassVar[str]
    #: bump when preprocessing changes, to invalidate caches
    prep_version: ClassVar[int] = 1

    def __init__(
        self,
        *,
        dataset: Any = None,
        split: str = "train",
        data_dir: str | None = None,
        tokenizer: Any = None,
        vocab_size: int = 4000,
        max_length: int = 64,
        order: str = "shuffle",
        shard_index: int = 0,
        num_shards: int = 1,
        render_mode: str | None = None,
        dataset_kwargs: Mapping[str, Any] | None = None,
        columns: Mapping[str, Any] | None = None,
        validation_size: float | int | None = None,
        test_size: float | int | None = None,
        split_seed: int = 0,
        info_mode: str = "lean",
        obs_mode: str = "dict",
        max_prompt_chars: int = text_mode.DEFAULT_MAX_PROMPT_CHARS,
        max_answer_chars: int = text_mode.DEFAULT_MAX_ANSWER_CHARS,
        parse_error_reward: float = 0.0,
    ) -> None:
        if info_mode not in INFO_MODES:
            raise ValueError(f"info_mode={info_mode!r}: expected one of {INFO_MODES}")
        if obs_mode not in OBS_MODES:
            raise ValueError(f"obs_mode={obs_mode!r}: expected one of {OBS_MODES}")
        text_mode.check_text_limits(max_prompt_chars, max_answer_chars)
        try:
            parse_error_reward = float(parse_error_reward)
        except (TypeError, ValueError):
            raise ValueError(f"parse_error_reward={parse_error_reward!r} must be a number") from None
        if not np.isfinite(parse_error_reward):
            raise ValueError(f"parse_error_reward={parse_error_reward!r} must be finite")
        self.info_mode = info_mode
        self.obs_mode = obs_mode
        self._text = obs_mode == "text"
        self.max_prompt_chars = max_prompt_chars
        self.max_answer_chars = max_answer_chars
        self.parse_error_reward = parse_error_reward
        self._text_spaces: tuple[spaces.Text, spaces.Text] | None = None
        self._finisher: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # the compiled finisher
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r}: expected one of {self.metadata['render_modes']} or None")
        if not isinstance(max_length, int) or max_length < 4:
            raise ValueError(f"max_length={max_length!r} must be an int >= 4")
        if not isinstance(vocab_size, int) or vocab_size < 100:
            raise ValueError(f"vocab_size={vocab_size!r} must be an int >= 100")
        self.render_mode = render_mode
        self.split = split
        self.max_length = max_length
        self.order = order
        self.dataset_name = str(dataset if dataset is not None else self.default_dataset)
        self._tokenizer_spec = tokenizer
        self._vocab_size = vocab_size
        self.data: TaskData = load_task_data(
            self.task,
            dataset if dataset is not None else self.default_dataset,
            data_dir=data_dir,
            dataset_kwargs=dataset_kwargs,
            validation_size=validation_size,  # carve splits out of train (nlp_envs.data module doc)
            test_size=test_size,
            split_seed=split_seed,
            **dict(columns or {}),
        )
        key = cache_key(
            type(self).__name__, self.prep_version, _code_fingerprint(type(self)), self.data.fingerprint, split,
            _tokenizer_key(tokenizer), vocab_size, max_length, self._prep_settings(),
        )
        self.prepared: Prepared = get_prepared(key, lambda: self._prepare_split(split))
        self.data.release()  # the prepared arrays are all an episode needs: hold no raw columns
        self.encoder = self.prepared.encoder
        self.num_examples = int(self.prepared.meta["num_examples"])
        self._order = ExampleOrder(self.num_examples, order, shard_index, num_shards)
        self._index = -1  # current example, -1 before the first reset
        self._index64 = np.int64(-1)  # the same as an np.int64 (the info value)
        self._pinned = False  # True when the current example was pinned by reset(options={"index": i})
        self._needs_reset = True
        self._last_action: Any = None

    # -- observation and info modes -------------------------------------------------------------
    @property
    def observation_space(self) -> spaces.Space:  # type: ignore[override]
        """The Dict of the family, (``obs_mode="flat"``) one ``int64`` Box of its flattened keys, or
        (``obs_mode="text"``) a ``Text`` prompt."""
        if self._text:
            return self.text_spaces[0]
        return self._obs_space

    @observation_space.setter
    def observation_space(self, space: spaces.Space) -> None:
        self._dict_space = space
        self._obs_space = space
        self._flat_keys: tuple[str, ...] = ()
        if getattr(self, "obs_mode", "dict") == "flat" and isinstance(space, spaces.Dict):
            self._obs_space = spaces.flatten_space(space)
            assert self._obs_space.dtype == np.int64, self._obs_space.dtype
            self._flat_keys = tuple(space.spaces)

    @property
    def action_space(self) -> spaces.Space:  # type: ignore[override]
        """The family's ``Discrete`` actions, or (``obs_mode="text"``) a ``Text`` answer."""
        if self._text:
            return self.text_spaces[1]
        return self._action_space

    @action_space.setter
    def action_space(self, space: spaces.Space) -> None:
        self._action_space = space

    @property
    def text_codec(self) -> text_mode.TextCodec:
        """The family's text interface (:class:`nlp_envs.text_mode.TextCodec`)."""
        codec = getattr(self.family, "text", None)
        if codec is None:
            raise NotImplementedError(f"family {self.family.name!r} declares no text mode (Family.text)")
        return codec

    @property
    def text_spaces(self) -> tuple[spaces.Text, spaces.Text]:
        """``(prompt space, answer space)`` of text mode (built on first use: the character set reads the split)."""
        if self._text_spaces is None:
            self._text_spaces = text_mode.text_spaces(self, self.text_codec, self.max_prompt_chars,
                                                      self.max_answer_chars)
        return self._text_spaces

    @property
    def dict_observation_space(self) -> spaces.Dict:
        """The family's ``Dict`` observation space (whatever ``obs_mode`` is)."""
        return self._dict_space

    @property
    def flat_layout(self) -> dict[str, tuple[slice, tuple[int, ...]]]:
        """``key -> (slice of the flat observation, shape)`` in the flat order (the Dict's key order)."""
        out, start = {}, 0
        for k, sp in self._dict_space.spaces.items():
            n = int(np.prod(sp.shape))
            out[k] = (slice(start, start + n), tuple(sp.shape))
            start += n
        return out

    def flatten_obs(self, obs: dict[str, np.ndarray], batched: bool = False) -> np.ndarray:
        """A Dict observation (or a batch of them) as the flat ``int64`` array of ``obs_mode="flat"``."""
        keys = self._flat_keys or tuple(self._dict_space.spaces)
        if batched:
            n = len(next(iter(obs.values())))
            return np.concatenate([np.asarray(obs[k], dtype=np.int64).reshape(n, -1) for k in keys], axis=1)
        return np.concatenate([np.asarray(obs[k], dtype=np.int64).reshape(-1) for k in keys])

    def lean_info_spec(self) -> dict[str, Any]:
        """The info keys of every ``reset`` and ``step`` in lean mode, ``key -> default``: the value
        when the key does not apply to a step (:data:`NO_ID`, :data:`NO_SCORE`, :data:`NO_FLAG`), or
        None for an array the family gives on every step (``action_mask``). Families override this."""
        return {"index": NO_ID}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_finisher"] = None  # a generated function does not pickle; compiled again on first use
        return state

    def _finish_info(self, info: dict[str, Any]) -> dict[str, Any]:
        """The info a caller sees: the lean keys (numpy, defaults filled in), plus in full mode the rest
        (:func:`compile_info_finisher`)."""
        finish = self._finisher
        if finish is None:
            finish = self._finisher = compile_info_finisher(
                self.lean_info_spec(), self.info_mode == "full", type(self).__name__)
        return finish(info)

    # -- for subclasses ------------------------------------------------------------------------
    def _prep_settings(self) -> Any:
        """Extra settings that change the prepared arrays (part of the cache key)."""
        return None

    @abstractmethod
    def _prepare_split(self, split: str) -> Prepared:
        """Tokenize split ``split`` of ``self.data`` into a :class:`Prepared` (meta needs ``num_examples``)."""

    @abstractmethod
    def _start_episode(self, index: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Begin an episode on example ``index``: return the first observation and info."""

    @abstractmethod
    def _step_action(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Apply a validated action."""

    @abstractmethod
    def _render_text(self) -> str:
        """The current state as text (for ``render``)."""

    def gold_episodes(self) -> GoldEpisodes:
        """Every example of the split played by the gold policy: the first observations, the gold actions
        and the real steps (:class:`nlp_envs.family.GoldEpisodes`), for supervised training and the majority
        baselines. Families whose contract has ``gold="episodes"`` implement it."""
        raise NotImplementedError(
            f"{type(self).__name__} has no gold episodes (its family's contract says gold={self.family.gold!r}); "
            "implement gold_episodes() and declare gold='episodes' in the contract to train it supervised"
        )

    def parse_actions(self, line: str) -> list[int]:
        """Turn what a person typed in ``nlp-envs play`` into actions (a label name or number for
        classification, a tag for tagging, a whole reply for generation). Raise ``ValueError`` with a
        hint when the input is not understood."""
        raise NotImplementedError(f"{type(self).__name__} cannot be played by hand yet")

    # -- Gymnasium API ---------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if seed is None and not options:  # the common path: the next example of the order
            if options is not None and not isinstance(options, Mapping):
                self._reset_slow(seed, options)  # raises: options must be a dict
            order = self._order
            self._index = order.next(self._np_random or self.np_random)
            self._index64 = order.last64
            self._pinned = False
        else:
            self._reset_slow(seed, options)
        self._needs_reset = False
        self._last_action = None
        obs, info = self._start_episode(self._index)
        if self.render_mode == "human":
            self.render()
        if self._flat_keys:
            obs = self.flatten_obs(obs)  # type: ignore[assignment]
        elif self._text:
            info = self._finish_info(info)
            info["parse_error"] = ""
            return self.prompt(), info  # type: ignore[return-value]
        return obs, self._finish_info(info)

    def _reset_slow(self, seed: int | None, options: Any) -> None:
        """``reset`` with a seed or options: reseed, and pin an example or take the next one."""
        super().reset(seed=seed)
        if seed is not None:
            self._order.restart()
        index = None
        if options is not None and not isinstance(options, Mapping):
            raise ValueError(f"reset options must be a dict such as {{'index': 3}}, not {type(options).__name__} {options!r}")
        if options:
            unknown = set(options) - {"index"}
            if unknown:
                raise ValueError(f"unknown reset options {sorted(unknown)}; supported: ['index']")
            index = options.get("index")
        pinned = index is not None
        if not pinned:
            index = self._order.next(self._np_random or self.np_random)
            index64 = self._order.last64
        else:
            try:
                index = operator.index(index)
            except TypeError:
                raise ValueError(f"options['index']={index!r} must be an int") from None
            if not 0 <= index < self.num_examples:
                raise ValueError(
                    f"options['index']={index} is out of range: split {self.split!r} has {self.num_examples} examples"
                )
            index64 = np.int64(index)
        self._index = index
        self._index64 = index64
        self._pinned = pinned

    def _next_example(self) -> int:
        """Move on to the next example of the order inside an episode (``examples_per_episode > 1``)."""
        order = self._order
        self._index = order.next(self.np_random)
        self._index64 = order.last64
        self._pinned = False
        return self._index

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], SupportsFloat, bool, bool, dict[str, Any]]:
        if self._needs_reset:
            raise ResetNeeded(
                "call reset() before step(): " + ("no episode started yet" if self._index < 0 else "the episode is over")
            )
        if self._text:
            return self._text_step(action)  # type: ignore[return-value]
        a = self._validate_action(action)
        self._last_action = a
        obs, reward, terminated, truncated, info = self._step_action(a)
        if terminated or truncated:
            self._needs_reset = True
        if self.render_mode == "human":
            self.render()
        if self._flat_keys:
            obs = self.flatten_obs(obs)  # type: ignore[assignment]
        return obs, reward, terminated, truncated, self._finish_info(info)

    # -- text mode (nlp_envs.text_mode) ------------------------------------------------------------
    def prompt(self) -> str:
        """The text-mode prompt of the unit on show (any ``obs_mode``; after ``reset``)."""
        if self._index < 0:
            raise ResetNeeded("call reset() before prompt()")
        return self.text_codec.prompt(self, self.max_prompt_chars)

    def gold_answer(self) -> str:
        """The gold answer of the unit on show in the text-mode answer format (any ``obs_mode``)."""
        if self._index < 0:
            raise ResetNeeded("call reset() before gold_answer()")
        return self.text_codec.gold_answer(self)

    def parse_answer(self, answer: str) -> text_mode.Parsed:
        """The int actions of a text answer for the unit on show (or why it does not parse)."""
        if not isinstance(answer, str):
            raise InvalidAction(f"a text-mode action must be a str, got {type(answer).__name__} {answer!r:.80}")
        if len(answer) > self.max_answer_chars:
            return text_mode.fail(f"the answer has {len(answer)} characters, more than max_answer_chars="
                                  f"{self.max_answer_chars}")
        return self.text_codec.parse(self, answer)

    def _text_step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """One text-mode step: parse the answer, step its int actions until the unit ends (see
        :mod:`nlp_envs.text_mode`)."""
        parsed = self.parse_answer(action)
        codec = self.text_codec
        actions = parsed.actions if parsed.ok else codec.no_answer(self)
        if not actions:
            raise RuntimeError(f"{type(codec).__name__} gave no actions for the unit on show")
        total, terminated, truncated, info = 0.0, False, False, {}
        for a in actions:
            try:  # the int mode's own checks: the range, and the family's masks under strict=True
                a = self._validate_action(a)
                self._last_action = a
                _, reward, terminated, truncated, info = self._step_action(a)
            except InvalidAction as e:
                raise RuntimeError(f"{type(codec).__name__} gave an invalid action ({e}); a codec must give valid "
                                   "actions and turn an answer that has none into a parse error") from e
            total += float(reward)
            if terminated or truncated:
                self._needs_reset = True
                break
        if not parsed.ok:
            total = self.parse_error_reward
            info.update(codec.no_answer_info)
        if self.render_mode == "human":
            self.render()
        info = self._finish_info(info)
        info["parse_error"] = parsed.error
        return self.prompt(), total, terminated, truncated, info

    def make_evaluator(self, num_envs: int) -> Any:
        """The family's :class:`nlp_envs.evaluation.Evaluator` for a vector env of ``num_envs`` sub-envs."""
        raise NotImplementedError(f"{type(self).__name__} has no evaluator")

    @property
    def shard_size(self) -> int:
        """Examples per pass of this env (its shard of the split)."""
        return len(self._order.indices)

    def _validate_action(self, action: Any) -> int:
        n = self._action_space.n  # type: ignore[attr-defined]
        try:
            a = operator.index(action)
        except TypeError:
            shape = getattr(action, "shape", None)
            raise InvalidAction(
                f"action {action!r} (type {type(action).__name__}{'' if shape is None else f', shape {shape}'}) "
                f"is not an integer: expected an int in [0, {n})"
            ) from None
        if not 0 <= a < n:
            raise InvalidAction(f"action {a} is out of range: expected an int in [0, {n})")
        return a

    def render(self) -> str | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode; use gym.make(..., render_mode='ansi')")
            return None
        text = self._render_text() if self._index >= 0 else "(no episode: call reset())"
        if self.render_mode == "ansi":
            return text
        print(text)
        return None

    # -- helpers ----------------------------------------------------------------------------------
    @property
    def current_index(self) -> int:
        """Index (in the split) of the current example; -1 before the first reset."""
        return self._index


_CODE_FP: dict[type, str] = {}


def _code_fingerprint(cls: type) -> str:
    """Digest of the source files of ``cls``'s family module and of the shared preprocessing code
    (:mod:`nlp_envs.metrics` too: the NER gold facts are prepared there),
    so that editing how a split is prepared invalidates its cache entries automatically."""
    fp = _CODE_FP.get(cls)
    if fp is None:
        import hashlib
        import importlib
        import inspect

        h = hashlib.blake2b(digest_size=8)
        shared = ("nlp_envs.prepared", "nlp_envs.tokenization", "nlp_envs.metrics")
        for mod in map(importlib.import_module, (cls.__module__, *shared)):
            path = inspect.getsourcefile(mod)
            if path:
                with open(path, "rb") as f:
                    h.update(f.read())
        fp = _CODE_FP[cls] = h.hexdigest()
    return fp


def _tokenizer_key(spec: Any) -> Any:
    if spec is None or isinstance(spec, str):
        return spec
    fp = getattr(spec, "fingerprint", None)
    if fp:
        return fp
    backend = getattr(spec, "backend_tokenizer", spec)
    to_str = getattr(backend, "to_str", None)
    if to_str is not None:
        import hashlib

        return hashlib.blake2b(to_str().encode(), digest_size=16).hexdigest()
    return repr(spec)


class VectorOrder:
    """:class:`ExampleOrder` for ``num_envs`` sub-envs at once, with numpy (equal draws per sub-env).

    In shuffle mode every sub-env walks its own permutation of the same indices (stored as one
    ``(num_envs, n)`` array); in sequential mode sub-env ``i`` walks ``indices[i::num_envs]``.
    """

    def __init__(self, num_examples: int, num_envs: int, order: str, shard_index: int, num_shards: int) -> None:
        if order not in ORDERS:
            raise ValueError(f"order={order!r}: expected one of {ORDERS}")
        self.shuffle = order == "shuffle"
        self.num_envs = num_envs
        base = np.arange(shard_index, num_examples, num_shards, dtype=np.int64)
        if self.shuffle:
            if len(base) == 0:
                raise ValueError(f"shard {shard_index} of {num_shards} is empty ({num_examples} examples)")
            dtype = np.int32 if num_examples < 2**31 else np.int64
            self.base = base
            self.perm = np.tile(base.astype(dtype), (num_envs, 1))
            self.sizes = np.full(num_envs, len(base), dtype=np.int64)
        else:
            if len(base) < num_envs:
                raise ValueError(
                    f"order='sequential' with {num_envs} sub-envs needs at least {num_envs} examples; "
                    f"the split (shard) has {len(base)}: use fewer envs"
                )
            self.base = base
            self.sizes = np.array([len(base[i::num_envs]) for i in range(num_envs)], dtype=np.int64)
        self.pos = self.sizes.copy()

    def restart(self, env_ids: np.ndarray | slice = slice(None)) -> None:
        self.pos[env_ids] = self.sizes[env_ids]

    def next(self, env_ids: np.ndarray, rngs: list[np.random.Generator]) -> np.ndarray:
        """Next example index of each sub-env in ``env_ids`` (an int array)."""
        wrap = env_ids[self.pos[env_ids] >= self.sizes[env_ids]]
        for i in wrap:  # only at pass boundaries
            if self.shuffle:
                self.perm[i] = rngs[i].permutation(self.base)
            self.pos[i] = 0
        pos = self.pos[env_ids]
        self.pos[env_ids] = pos + 1
        if self.shuffle:
            return self.perm[env_ids, pos].astype(np.int64)
        return self.base[env_ids + pos * self.num_envs]


class NlpVectorEnv(gym.vector.VectorEnv):
    """Base of the native (numpy) vector envs: one shared prepared split, ``num_envs`` cursors.

    Subclasses set :attr:`env_class` and implement :meth:`_begin`, :meth:`_advance` (the family's
    step kernel on the stepping sub-envs' arrays, see the module doc) and :meth:`_observe`; this
    class owns the autoreset logic of all families, Gymnasium 1.x's three
    modes (``autoreset_mode=``, also ``metadata["autoreset_mode"]``), each equal step for step to
    ``SyncVectorEnv(..., autoreset_mode=m)``:

    * ``NEXT_STEP`` (default): the step after an episode ended resets that sub-env (its action is
      ignored, reward 0, ``terminated``/``truncated`` False) and returns the reset obs and info.
    * ``SAME_STEP``: the step that ends an episode returns the new episode's first obs and reset
      info; the last obs and the step's info are in ``info["final_obs"]`` (object array of
      per-sub-env observations, ``None`` elsewhere) and ``info["final_info"]`` (vector infos), with
      masks ``info["_final_obs"]``/``info["_final_info"]``.
    * ``DISABLED``: no autoreset; reset the ended sub-envs with
      ``reset(options={"reset_mask": terminated | truncated})`` before the next step (a step of an
      ended sub-env raises ``ResetNeeded``).

    ``gym.make_vec(id, vectorization_mode="vector_entry_point", autoreset_mode=m)`` and (for the ids of
    this package) ``vector_kwargs={"autoreset_mode": m}`` build one. ``info_mode``/``obs_mode`` are the
    single env's (see the module doc).
    """

    metadata: ClassVar[dict[str, Any]] = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}
    env_class: ClassVar[type[NlpEnv]]
    #: the family's contract (set by :func:`nlp_envs.family.register_family`)
    family: ClassVar[Family]

    def __new__(cls, num_envs: int = 1, **kwargs: Any) -> Any:
        """``obs_mode="text"`` builds the text-mode vector env (:class:`nlp_envs.text_mode.TextVectorEnv`)."""
        if kwargs.get("obs_mode") == "text":
            if kwargs.get("render_mode") is not None:
                raise ValueError("vector envs do not render; render a single env instead")
            kwargs.pop("render_mode", None)
            return text_mode.TextVectorEnv(cls.env_class, num_envs, **kwargs)
        return super().__new__(cls)

    def __init__(self, num_envs: int = 1, *, order: str = "shuffle", shard_index: int = 0, num_shards: int = 1,
                 render_mode: str | None = None, autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
                 **env_kwargs: Any) -> None:
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs={num_envs!r} must be a positive int")
        if render_mode is not None:
            raise ValueError("native vector envs do not render; render a single env instead")
        try:
            self.autoreset_mode = AutoresetMode(autoreset_mode)
        except ValueError:
            raise ValueError(
                f"autoreset_mode={autoreset_mode!r}: expected one of {[m.value for m in AutoresetMode]}"
            ) from None
        self.metadata = {**type(self).metadata, "autoreset_mode": self.autoreset_mode}
        self.num_envs = num_envs
        # The template env holds the prepared data (shared, read-only) and the single spaces.
        self.env = self.env_class(order=order, shard_index=shard_index, num_shards=num_shards, **env_kwargs)
        self.single_observation_space = self.env.observation_space
        self.single_action_space = self.env.action_space
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self.render_mode = None
        self.order = order
        self.info_mode = self.env.info_mode
        self.obs_mode = self.env.obs_mode
        self._lean_spec = self.env.lean_info_spec()
        self._vorder = VectorOrder(self.env.num_examples, num_envs, order, shard_index, num_shards)
        self._rngs: list[np.random.Generator] = [seeding.np_random(None)[0] for _ in range(num_envs)]
        self._autoreset = np.zeros(num_envs, dtype=bool)
        self._started = False
        self._all = np.arange(num_envs)
        self._subset_infos: list[tuple[np.ndarray, dict[str, Any]]] = []

    @property
    def full_info(self) -> bool:
        """True with ``info_mode="full"`` (families then add their variable info values)."""
        return self.info_mode == "full"

    @property
    def prepared(self) -> Prepared:
        return self.env.prepared

    @property
    def np_random_list(self) -> list[np.random.Generator]:
        """Per-sub-env generators (sub-env ``i`` seeded with ``seed + i``)."""
        return self._rngs

    @property
    def shard_sizes(self) -> np.ndarray:
        """Examples per pass of each sub-env (``order="sequential"``: its shard of the split)."""
        return self._vorder.sizes

    @property
    def autoresetting(self) -> np.ndarray:
        """Sub-envs whose next ``step`` is an autoreset (NEXT_STEP; their action will be ignored), or
        (DISABLED) that must be reset before the next step."""
        return self._autoreset.copy()

    # -- the example order: where each sub-env stands (checkpoints, GRPO's grouped waves) ----------------
    def order_state(self) -> dict[str, Any]:
        """Where every sub-env stands in its example order, as a copy for :meth:`set_order_state` (what a
        trainer's checkpoint saves).

        Keys: ``env_rngs``, each sub-env's generator state (``bit_generator.state`` dicts: JSON values);
        ``perm``, the ``(num_envs, n)`` permutations being walked (``order="shuffle"``; None in sequential
        order); ``pos``, each sub-env's ``(num_envs,)`` position in its pass. ``json.dumps(state,
        default=nlp_envs.jsonable.json_default)`` writes it as JSON; :meth:`set_order_state` takes the lists
        back. Before the first ``reset`` it describes generators that the first reset replaces.
        """
        vo = self._vorder
        perm = getattr(vo, "perm", None)
        return {"env_rngs": [r.bit_generator.state for r in self._rngs],
                "perm": None if perm is None else perm.copy(), "pos": vo.pos.copy()}

    def set_order_state(self, state: Mapping[str, Any]) -> None:
        """Put every sub-env back where :meth:`order_state` found it (of this env or of one built with the
        same arguments): the examples its next resets and autoresets start are those the saved env would
        have started next. The episodes under way are left as they are.

        Call it after the first ``reset`` (which draws every sub-env's generator afresh: ``ResetNeeded``
        before). Raises ``ValueError``, changing nothing, when ``state`` does not fit this env (keys, number
        of sub-envs, the order's kind or size).
        """
        self._require_started("set_order_state")
        missing = {"env_rngs", "perm", "pos"} - set(state)
        if missing:
            raise ValueError(f"order state lacks the keys {sorted(missing)}: expected env_rngs, perm and pos "
                             "(see order_state())")
        rngs = list(state["env_rngs"])
        if len(rngs) != self.num_envs:
            raise ValueError(f"an order state of {len(rngs)} sub-envs does not fit this env of {self.num_envs} sub-envs")
        vo = self._vorder
        pos = np.asarray(state["pos"])
        if pos.shape != vo.pos.shape or pos.dtype.kind not in "iu" or ((pos < 0) | (pos > vo.sizes)).any():
            raise ValueError(f"order state pos {pos.tolist()!r} does not fit this env: expected {self.num_envs} "
                             f"positions in [0, {vo.sizes.tolist()}]")
        perm = getattr(vo, "perm", None)
        if (perm is None) != (state["perm"] is None):
            raise ValueError(f"order state perm is {'None' if state['perm'] is None else 'an array'}: it is of a "
                             f"{'sequential' if state['perm'] is None else 'shuffled'} order, this env's order is "
                             f"{self.order!r}")
        if perm is not None:
            new_perm = np.asarray(state["perm"])
            if new_perm.shape != perm.shape:
                raise ValueError(f"order state perm has shape {new_perm.shape}; this env's order has {perm.shape} "
                                 "(num_envs, examples per pass): was it saved for another split or shard?")
        for r, s in zip(self._rngs, rngs):
            r.bit_generator.state = s
        if perm is not None:
            perm[...] = new_perm
        vo.pos[...] = pos

    def reseed_sub_envs(self, seeds: Sequence[int]) -> None:
        """Give sub-env ``i`` a new generator seeded with ``seeds[i]`` and restart its example order, as
        ``reset(seed=seeds)`` does, without starting episodes: each sub-env's next reset or autoreset draws
        from its new order. Sub-envs given one seed then play the same examples (GRPO's groups).

        Call it after the first ``reset`` (``ResetNeeded`` before: the first reset draws fresh generators).
        """
        self._require_started("reseed_sub_envs")
        seeds = [int(s) for s in seeds]
        if len(seeds) != self.num_envs:
            raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} sub-envs")
        for i, s in enumerate(seeds):
            self._rngs[i] = seeding.np_random(s)[0]
        self._vorder.restart()

    def restart_order(self, env_ids: Sequence[int] | np.ndarray | None = None) -> None:
        """Start a new pass of the example order at the next draw of the sub-envs ``env_ids`` (None: all):
        in sequential order sub-env ``i`` starts again at example ``i``; in shuffle order it draws a new
        permutation from its generator (which is not reseeded)."""
        self._vorder.restart(slice(None) if env_ids is None else np.asarray(env_ids, dtype=np.int64))

    def _require_started(self, what: str) -> None:
        if not self._started:
            raise ResetNeeded(f"call reset() before {what}(): the first reset draws every sub-env's generator afresh")

    def _report_subset(self, env_ids: np.ndarray, values: dict[str, Any]) -> None:
        """From :meth:`_advance`: info values for some of the stepped sub-envs only (e.g. the ones
        ending an episode), merged into this step's infos with their own ``_key`` masks."""
        if len(env_ids):
            self._subset_infos.append((np.asarray(env_ids), values))

    def make_evaluator(self) -> Any:
        """The family's :class:`nlp_envs.evaluation.Evaluator` (collects results, computes metrics)."""
        return self.env.make_evaluator(self.num_envs)

    def _next_indices(self, env_ids: np.ndarray) -> np.ndarray:
        return self._vorder.next(env_ids, self._rngs)

    # -- for subclasses -------------------------------------------------------------------------
    @abstractmethod
    def _begin(self, env_ids: np.ndarray) -> dict[str, Any]:
        """Start new episodes in ``env_ids``; return their reset infos as ``key -> per-env values``."""

    @abstractmethod
    def _advance(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step the sub-envs in the int array ``active`` with their actions; return
        ``(rewards, terminated, truncated, infos)`` for those sub-envs (infos: key -> values; a ``bool``
        for ``terminated``/``truncated`` applies to all of them)."""

    @abstractmethod
    def _observe(self) -> dict[str, np.ndarray]:
        """The batched (Dict) observation of all sub-envs."""

    # -- shared machinery -------------------------------------------------------------------------
    def _obs_out(self) -> Any:
        """The batched observation as returned (flat with ``obs_mode="flat"``)."""
        obs = self._observe()
        return self.env.flatten_obs(obs, batched=True) if self.obs_mode == "flat" else obs

    def _begin_infos(self, env_ids: np.ndarray) -> dict[str, Any]:
        """Reset infos of the sub-envs ``env_ids`` (distinct and sorted: ``np.flatnonzero``)."""
        return _vector_info(self._begin(env_ids), env_ids, self.num_envs, ordered=True)

    def _finish_infos(self, infos: dict[str, Any], rows: np.ndarray) -> dict[str, Any]:
        """Lean keys for every sub-env of ``rows`` (bool mask), defaults where a key did not apply;
        without ``info_mode="full"`` only those keys."""
        out: dict[str, Any] = {} if not self.full_info else dict(infos)
        for k, default in self._lean_spec.items():
            if k in infos:
                arr, mask = infos[k], infos[f"_{k}"]
                if default is not None and (mask ^ rows).any():  # (num_envs,) bools: a cheap array_equal
                    arr = arr.copy()
                    arr[rows & ~mask] = default
            elif default is None:
                raise RuntimeError(f"{type(self).__name__} gave no info[{k!r}] (a lean key without default)")
            else:
                arr = _vector_info({k: np.full(self.num_envs, default)}, self._all, self.num_envs)[k]
            out[k] = arr
            out[f"_{k}"] = rows.copy()
        return out

    # -- Gymnasium vector API -------------------------------------------------------------------
    def autoreset_now(self, env_ids: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start the next episode of the sub-envs ``env_ids`` now, exactly as their next (NEXT_STEP
        autoreset) step would; for same-step-autoreset adapters such as SB3's ``VecEnv``.

        Returns the batched observation of all sub-envs and the reset values of ``env_ids``
        (key -> values, in the order of ``env_ids``).
        """
        env_ids = np.asarray(env_ids, dtype=np.int64)
        values = self._begin(env_ids)
        self._autoreset[env_ids] = False
        rows = np.zeros(self.num_envs, dtype=bool)
        rows[env_ids] = True
        infos = self._finish_infos(_vector_info(values, env_ids, self.num_envs), rows)
        values = {k: v[env_ids] for k, v in infos.items() if not k.startswith("_")}
        return self._obs_out(), values

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed if seed is None or isinstance(seed, int) else None)
        options = dict(options or {})
        reset_mask = options.pop("reset_mask", None)
        if options:
            raise ValueError(
                f"native vector envs take only the reset option 'reset_mask', not {sorted(options)} "
                "(pin examples with a single env)"
            )
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, int):
            seeds = [seed + i for i in range(self.num_envs)]
        else:
            if len(seed) != self.num_envs:
                raise ValueError(f"got {len(seed)} seeds for {self.num_envs} envs")
            seeds = list(seed)
        if reset_mask is None:
            rows = np.ones(self.num_envs, dtype=bool)
        else:
            rows = np.asarray(reset_mask)
            if rows.shape != (self.num_envs,) or rows.dtype != np.bool_ or not rows.any():
                raise ValueError(
                    f"options['reset_mask'] must be a bool array of shape ({self.num_envs},) with at least one "
                    f"True, got {reset_mask!r}"
                )
            if not self._started:
                raise ResetNeeded("call reset() without reset_mask first")
        ids = np.flatnonzero(rows)
        for i in ids.tolist():
            s = seeds[i]
            if s is not None or not self._started:
                self._rngs[i] = seeding.np_random(s)[0]
                self._vorder.restart(np.array([i]))
        self._started = True
        self._autoreset[ids] = False
        infos = self._finish_infos(self._begin_infos(ids), rows)
        return self._obs_out(), infos

    def step(self, actions: Any):
        if not self._started:
            raise ResetNeeded("call reset() before step()")
        acts = self._validate_actions(actions)
        mode = self.autoreset_mode
        if mode == AutoresetMode.DISABLED and self._autoreset.any():
            ended = np.flatnonzero(self._autoreset).tolist()
            raise ResetNeeded(
                f"sub-envs {ended} ended their episodes (autoreset_mode=DISABLED): call "
                "reset(options={'reset_mask': terminated | truncated}) before step()"
            )
        n = self.num_envs
        rewards = np.zeros(n, dtype=np.float64)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        resetting = np.flatnonzero(self._autoreset)
        active = np.flatnonzero(~self._autoreset)
        infos: dict[str, Any] = {}
        self._subset_infos.clear()
        if len(active):
            r, te, tr, step_infos = self._advance(acts[active], active)
            rewards[active] = r
            terminated[active] = te
            truncated[active] = tr
            infos = _vector_info(step_infos, active, n, ordered=True)
            for ids, values in self._subset_infos:
                infos = _merge_vector_infos(infos, _vector_info(values, ids, n))
            self._subset_infos.clear()
        all_rows = np.ones(n, dtype=bool)
        if len(resetting):  # NEXT_STEP: the sub-envs that ended on the previous step
            infos = _merge_vector_infos(infos, self._begin_infos(resetting))
        done = terminated | truncated
        if mode == AutoresetMode.SAME_STEP and done.any():
            ended = np.flatnonzero(done)
            final_infos = self._finish_infos(infos, done)
            final_infos = {k: _rows_only(v, done) for k, v in final_infos.items()}
            final_batch = self._obs_out()
            final_obs = np.full(n, None, dtype=object)
            for i in ended.tolist():  # only sub-envs ending an episode
                final_obs[i] = ({k: v[i] for k, v in final_batch.items()} if isinstance(final_batch, dict)
                                else final_batch[i])
            kept = {}
            for k, v in infos.items():  # the ended sub-envs report their reset info instead
                if not k.startswith("_"):
                    mask = infos[f"_{k}"] & ~done
                    if mask.any():
                        kept[k], kept[f"_{k}"] = v, mask
            infos = _merge_vector_infos(kept, self._begin_infos(ended))
            infos = self._finish_infos(infos, all_rows)
            infos.update(final_obs=final_obs, _final_obs=done.copy(), final_info=final_infos,
                         _final_info=done.copy())
            self._autoreset[:] = False
        else:
            infos = self._finish_infos(infos, all_rows)
            self._autoreset = done
        return self._obs_out(), rewards, terminated, truncated, infos

    def _validate_actions(self, actions: Any) -> np.ndarray:
        arr = np.asarray(actions)
        n = self.single_action_space.n  # type: ignore[attr-defined]
        if arr.shape != (self.num_envs,):
            raise InvalidAction(f"actions must have shape ({self.num_envs},), got {arr.shape}")
        if arr.dtype.kind not in "iu":
            raise InvalidAction(f"actions must be integers in [0, {n}), got dtype {arr.dtype}")
        bad = np.flatnonzero((arr < 0) | (arr >= n))
        if len(bad):
            i = int(bad[0])
            raise InvalidAction(f"action {int(arr[i])} of sub-env {i} is out of range [0, {n})")
        return arr.astype(np.int64, copy=False)

    def action_masks(self) -> np.ndarray:
        """All-True masks ``(num_envs, n)``; families with invalid actions override this."""
        return np.ones((self.num_envs, self.single_action_space.n), dtype=bool)  # type: ignore[attr-defined]

    def close_extras(self, **kwargs: Any) -> None:
        self.env.close()


def _vector_info(values: dict[str, Any], env_ids: np.ndarray, num_envs: int, ordered: bool = False
                 ) -> dict[str, Any]:
    """Per-env values for ``env_ids`` as Gymnasium vector infos (``key`` array + ``_key`` mask).

    ``ordered``: ``env_ids`` are distinct and sorted (``np.flatnonzero``), so that when there are
    ``num_envs`` of them they are every sub-env in order and a numeric value is copied as it is."""
    out: dict[str, Any] = {}
    every = ordered and len(env_ids) == num_envs
    for k, v in values.items():
        v = np.asarray(v) if not isinstance(v, np.ndarray) else v
        kind = v.dtype.kind
        if every and kind in "iufb" and v.shape[:1] == (num_envs,):
            if v.ndim > 1:  # per-env arrays (e.g. action masks) are stacked, as in SyncVectorEnv
                arr = np.array(v)  # (a fresh, contiguous copy)
            else:
                arr = v.astype(np.int64 if kind in "iu" else np.float64 if kind == "f" else bool)
            out[k] = arr
            out[f"_{k}"] = np.ones(num_envs, dtype=bool)
            continue
        if v.ndim > 1:
            arr = np.zeros((num_envs, *v.shape[1:]), dtype=v.dtype)
        elif kind in "iu":
            arr = np.zeros(num_envs, dtype=np.int64)
        elif kind == "f":
            arr = np.zeros(num_envs, dtype=np.float64)
        elif kind == "b":
            arr = np.zeros(num_envs, dtype=bool)
        else:
            arr = np.full(num_envs, None, dtype=object)
        arr[env_ids] = v
        mask = np.zeros(num_envs, dtype=bool)
        mask[env_ids] = True
        out[k] = arr
        out[f"_{k}"] = mask
    return out


def _rows_only(v: Any, rows: np.ndarray) -> Any:
    """A vector info value (or mask) kept at ``rows`` only, as ``SyncVectorEnv`` builds ``final_info``
    (zeros, ``None`` or ``False`` elsewhere)."""
    if v.dtype == bool and v.shape == rows.shape and v.ndim == 1:
        return v & rows
    out = np.full(v.shape, None, dtype=object) if v.dtype == object else np.zeros_like(v)
    out[rows] = v[rows]
    return out


def _merge_vector_infos(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        if k.startswith("_"):
            continue
        if k in out:
            mask = b[f"_{k}"]
            merged = out[k]
            if merged.dtype != v.dtype:
                merged = merged.astype(object)
            merged = merged.copy()
            merged[mask] = v[mask]
            out[k] = merged
            out[f"_{k}"] = out[f"_{k}"] | mask
        else:
            out[k] = v
            out[f"_{k}"] = b[f"_{k}"]
    return out
