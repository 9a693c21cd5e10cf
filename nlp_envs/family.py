"""The family contract: everything the rest of the project needs to know about a task family, declared once.

A *family* is one single env class (and its native vector env): ``TextCls``, ``NerTag``, ``DialogReply``,
``DialogSelect``, ``MultiLabelCls``, ``MultiChoiceQA``. Each env module declares its family's
:class:`Family` at its bottom and registers it (:func:`register_family`), which points the env class at it
(``NerTagEnv.family``). Everything else -- the data layer, the agents (policies, supervised trainer,
baselines, SB3 glue), the benchmark -- reads the contract from the registry (:data:`FAMILIES`,
:func:`family_of_env`) instead of testing family names, class names or id prefixes.

A contract holds

* ``name`` (the id prefix, ``"NerTag"``), the env classes;
* ``data``: the data schema (:class:`DataSchema`): the columns the data layer reads and validates, the
  embedded generators, and the callables the data layer calls for bring-your-own files, ``datasets``
  inputs, and carving held-out splits;
* ``policy``: the agents' policy family (``"classify"``, ``"tag"``, ``"multilabel"``, ``"choice"``,
  ``"generate"``, ``"select"``; :data:`nlp_envs.agents.policy.POLICIES` builds it) and ``action_layout``,
  what one action means;
* ``gold``: how the gold episodes are read: :data:`GOLD_EPISODES` (the env's public
  :meth:`~nlp_envs.core.NlpEnv.gold_episodes`), :data:`GOLD_RESET_INFO` (the gold action of a one-step
  episode is the reset info's ``gold_info_key``, for families whose episodes are drawn at reset) or None;
* ``evaluator`` (the :class:`nlp_envs.evaluation.Evaluator` class the vector env's ``make_evaluator``
  builds), ``main_metric`` (in the evaluator's output), ``higher_is_better``, ``second_metric``;
* ``sb3_extractor``: the key of the family head of the SB3 features extractors
  (:data:`nlp_envs.agents.extractors.HEADS`; a string, so that this library never imports SB3 or torch);
* ``majority``: the kind of majority baseline (:data:`nlp_envs.agents.baselines.MAJORITY`), or None;
* ``text``: the text mode (``obs_mode="text"``, :class:`nlp_envs.text_mode.TextCodec`): the prompt template,
  the answer parser and what "no answer" is.

This module imports nothing of the project at import time, so any module may import it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: ``Family.gold``: the env's :meth:`gold_episodes` gives every example's first observation and gold actions.
GOLD_EPISODES = "episodes"
#: ``Family.gold``: one-step episodes drawn at reset (random candidates): the reset info's
#: ``Family.gold_info_key`` is the gold action (read from the vector env, batch by batch).
GOLD_RESET_INFO = "reset_info"
GOLD_KINDS = (GOLD_EPISODES, GOLD_RESET_INFO, None)


def _no_mapping(columns: Mapping[str, Any]) -> dict[str, Any]:
    return {}


@dataclass(frozen=True, eq=False)
class DataSchema:
    """How the data layer (:mod:`nlp_envs.data`) reads one task's data. Several families may share one
    (``DialogReply`` and ``DialogSelect`` read the same dialogues).

    Attributes:
        name: the data-layer task (``load_task_data(name, ...)``, ``KnownDataset.task``); part of the
            cache fingerprints, so never renamed.
        columns: the columns of each split, in this order (what an env's ``_prepare_split`` reads).
        embedded: embedded generator name -> ``fn(**dataset_kwargs) -> (splits, label_names or None)``
            (:func:`nlp_envs.data.embedded_generator`); the first is no default, the env class names its own.
        read_file: ``fn(path, columns) -> split columns``, reads one bring-your-own file (``columns``: the
            env's bring-your-own options, ``text_column=``...); None: bring-your-own files unsupported.
        hub_columns: ``fn(columns) -> {our column: their column}`` for ``datasets`` inputs (missing: same name).
        class_labels: our column -> True when it holds lists: the columns whose ``datasets.ClassLabel``
            ids are turned into label names.
        hub_label_names: whether a ``ClassLabel``'s names become the label vocabulary (``label_names``).
        row_labels: ``fn(train columns) -> per row, what must stay represented in train`` when carving
            ``test_size=`` / ``validation_size=`` (a label, or a frozenset of labels); None: nothing.
        stratify: carve stratified by the (single) row label, else a seeded shuffle.
        known_extras: ``fn(data_dir, folder) -> extras`` of a known real dataset (SGD's provided candidate
            sets); None: none.
    """

    name: str
    columns: tuple[str, ...]
    embedded: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    read_file: Callable[[Path, Mapping[str, Any]], dict[str, list]] | None = None
    hub_columns: Callable[[Mapping[str, Any]], dict[str, Any]] = _no_mapping
    class_labels: Mapping[str, bool] = field(default_factory=dict)
    hub_label_names: bool = False
    row_labels: Callable[[dict[str, list]], list[Any]] | None = None
    stratify: bool = False
    known_extras: Callable[[Path, str], dict[str, Any]] | None = None


@dataclass(frozen=True)
class GoldEpisodes:
    """Every example of a split played by the gold policy (:meth:`nlp_envs.core.NlpEnv.gold_episodes`).

    Attributes:
        obs: the first observation of each example, batched: key -> ``(n, *shape)`` (the values of
            ``reset(options={"index": i})``'s observation; arrays may be read-only views of the env's).
        actions: ``(n, T)`` int64: the gold action of each step, padded past the episode's end.
        mask: ``(n, T)`` bool: the real steps (row ``i`` has ``mask[i].sum()`` steps).
    """

    obs: dict[str, np.ndarray]
    actions: np.ndarray
    mask: np.ndarray

    def __len__(self) -> int:
        return len(self.actions)


@dataclass(frozen=True)
class Family:
    """The contract of one task family (see the module doc).

    Attributes:
        name: the family's name, the prefix of its ids (``"NerTag"`` for ``NerTag-BTC-v0``).
        env_class: the single env class (an :class:`nlp_envs.core.NlpEnv`).
        vector_env_class: its native vector env (an :class:`nlp_envs.core.NlpVectorEnv`).
        data: the data schema (:class:`DataSchema`).
        policy: the agents' policy family (a key of :data:`nlp_envs.agents.policy.POLICIES`).
        action_layout: what one action is, in words.
        gold: :data:`GOLD_EPISODES`, :data:`GOLD_RESET_INFO` or None (no gold: no supervised training and
            no majority baseline).
        gold_info_key: the reset info key holding the gold action (``gold == GOLD_RESET_INFO``).
        evaluator: the evaluator class the vector env's ``make_evaluator`` builds.
        main_metric: the metric that ranks agents (a key of the evaluator's output).
        higher_is_better: the main metric's direction.
        second_metric: a second metric shown in the benchmark tables ("" for none).
        sb3_extractor: the family head of the SB3 features extractors (a key of
            :data:`nlp_envs.agents.extractors.HEADS`).
        majority: the majority baseline's kind (a key of :data:`nlp_envs.agents.baselines.MAJORITY`), or None.
        text: the family's text mode (``obs_mode="text"``): a :class:`nlp_envs.text_mode.TextCodec` (its prompt
            template, its answer parser, what "no answer" is), or None (no text mode).
    """

    name: str
    env_class: type
    vector_env_class: type
    data: DataSchema
    policy: str
    action_layout: str
    gold: str | None
    evaluator: type
    main_metric: str
    higher_is_better: bool = True
    second_metric: str = ""
    gold_info_key: str = "label"
    sb3_extractor: str = "text"
    majority: str | None = None
    text: Any = None

    def __post_init__(self) -> None:
        if self.gold not in GOLD_KINDS:
            raise ValueError(f"family {self.name!r}: gold={self.gold!r}, expected one of {GOLD_KINDS}")
        if not self.name or "-" in self.name:
            raise ValueError(f"family name {self.name!r}: the prefix of its ids, non-empty, without '-'")
        if not self.main_metric:
            raise ValueError(f"family {self.name!r}: main_metric is empty; name a key of its evaluator's output")
        if self.majority is not None and self.gold is None:
            raise ValueError(f"family {self.name!r}: a majority baseline ({self.majority!r}) needs gold (gold=None)")

    @property
    def has_gold(self) -> bool:
        """Whether supervised training (and a majority baseline) can read gold actions."""
        return self.gold is not None


#: The registry: family name -> contract (filled by the env modules, :func:`register_family`).
FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Register ``family`` and point its env classes at it (``env_class.family``, and ``env_class.task``:
    the data-layer task). Idempotent for the same contract; another contract with the same name fails."""
    old = FAMILIES.get(family.name)
    if old is not None and old is not family and old.env_class is not family.env_class:
        raise ValueError(f"family {family.name!r} is already registered (by {old.env_class.__module__}); "
                         f"pick another name")
    FAMILIES[family.name] = family
    for cls in (family.env_class, family.vector_env_class):
        cls.family = family
    family.env_class.task = family.data.name
    return family


def _load_builtin() -> None:
    """Import the env modules of every registered nlp-envs id (they register their families)."""
    from nlp_envs.registration import ENV_SPECS

    for _, entry, vector_entry, _, _ in ENV_SPECS:
        for e in (entry, vector_entry):
            importlib.import_module(e.split(":", 1)[0])


def families() -> dict[str, Family]:
    """Every registered family (the package's own are imported first)."""
    _load_builtin()
    return dict(FAMILIES)


def family(name: str) -> Family:
    """The family called ``name`` (``"NerTag"``); a clear error naming the known ones."""
    if name not in FAMILIES:
        _load_builtin()
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"no family {name!r}; registered: {sorted(FAMILIES)}. A family registers itself at the "
                       f"bottom of its env module (nlp_envs.family.register_family)") from None


def data_schema(task: str) -> DataSchema:
    """The data schema called ``task`` (``"classification"``, ``"ner"``, ``"dialog"``...)."""
    found = _schema_named(task)
    if found is None:
        _load_builtin()
        found = _schema_named(task)
    if found is None:
        known = sorted({f.data.name for f in FAMILIES.values()})
        raise ValueError(f"unknown task family {task!r}; known: {known}")
    return found


def _schema_named(task: str) -> DataSchema | None:
    return next((f.data for f in FAMILIES.values() if f.data.name == task), None)


def _class_of(env_or_id: Any) -> type:
    if isinstance(env_or_id, type):
        return env_or_id
    if isinstance(env_or_id, str):
        import gymnasium as gym

        env_id = env_or_id.split(":", 1)[1] if ":" in env_or_id else env_or_id
        if ":" in env_or_id:
            importlib.import_module(env_or_id.split(":", 1)[0])
        entry = gym.spec(env_id).entry_point
        if not isinstance(entry, str):
            return entry if isinstance(entry, type) else type(entry)
        module, _, name = entry.partition(":")
        return getattr(importlib.import_module(module), name)
    if hasattr(env_or_id, "unwrapped"):
        return type(env_or_id.unwrapped)
    return type(env_or_id)


def family_of_env(env_or_id: Any) -> Family:
    """The family of an env id (``"NerTag-BTC-v0"``), an env (wrapped or not), a native vector env, or an
    env class; a clear error for anything else."""
    cls = _class_of(env_or_id)
    fam = getattr(cls, "family", None)
    if isinstance(fam, Family):
        return fam
    raise ValueError(
        f"{cls.__module__}.{cls.__name__} has no family contract: an nlp-envs env module declares one at its "
        f"bottom with nlp_envs.family.register_family(Family(...)) (see CONTRIBUTING.md)"
    )


__all__ = ["FAMILIES", "GOLD_EPISODES", "GOLD_RESET_INFO", "DataSchema", "Family", "GoldEpisodes", "data_schema",
           "families", "family", "family_of_env", "register_family"]
