"""Every env id of the package, in one flat list (Gymnasium style).

Variants are kwargs, not subclasses. An id whose scores would change gets a new ``-vN``.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import gymnasium as gym

#: (id, entry point, vector entry point, kwargs, one-line description)
ENV_SPECS: list[tuple[str, str, str, dict[str, Any], str]] = [
    ("TextCls-v0", "nlp_envs.text_cls:TextClsEnv", "nlp_envs.text_cls:TextClsVectorEnv",
     {"dataset": "intents"}, "intent classification, embedded corpus"),
    ("TextCls-Banking77-v0", "nlp_envs.text_cls:TextClsEnv", "nlp_envs.text_cls:TextClsVectorEnv",
     {"dataset": "banking77"}, "Banking77 intent classification (data dir)"),
    ("NerTag-v0", "nlp_envs.ner:NerTagEnv", "nlp_envs.ner:NerTagVectorEnv",
     {"dataset": "entities"}, "BIO entity tagging word by word, embedded corpus"),
    ("NerTag-v1", "nlp_envs.ner:NerTagEnv", "nlp_envs.ner:NerTagVectorEnv",
     {"dataset": "entities-v1"}, "BIO entity tagging with unseen and context-typed names, embedded corpus"),
    ("NerTag-BTC-v0", "nlp_envs.ner:NerTagEnv", "nlp_envs.ner:NerTagVectorEnv",
     {"dataset": "btc"}, "Broad Twitter Corpus entity tagging (data dir)"),
    ("NerTag-WNUT17-v0", "nlp_envs.ner:NerTagEnv", "nlp_envs.ner:NerTagVectorEnv",
     {"dataset": "wnut17"}, "WNUT-17 emerging entity tagging (data dir)"),
    ("DialogReply-v0", "nlp_envs.dialog:DialogReplyEnv", "nlp_envs.dialog:DialogReplyVectorEnv",
     {"dataset": "dialogs"}, "dialogue reply generation token by token, embedded corpus"),
    ("DialogReply-v1", "nlp_envs.dialog:DialogReplyEnv", "nlp_envs.dialog:DialogReplyVectorEnv",
     {"dataset": "dialogs-v1"}, "dialogue reply generation that must copy the user's slot values, embedded corpus"),
    ("DialogReply-SGD-v0", "nlp_envs.dialog:DialogReplyEnv", "nlp_envs.dialog:DialogReplyVectorEnv",
     {"dataset": "sgd"}, "Schema-Guided Dialogue reply generation (data dir)"),
    ("DialogReply-Taskmaster4-v0", "nlp_envs.dialog:DialogReplyEnv", "nlp_envs.dialog:DialogReplyVectorEnv",
     {"dataset": "taskmaster4"}, "Taskmaster-4 coffee-ordering reply generation (data dir)"),
    ("DialogSelect-v0", "nlp_envs.dialog_select:DialogSelectEnv", "nlp_envs.dialog_select:DialogSelectVectorEnv",
     {"dataset": "dialogs"}, "dialogue reply selection among 10 candidates, embedded corpus"),
    ("DialogSelect-SGD-v0", "nlp_envs.dialog_select:DialogSelectEnv", "nlp_envs.dialog_select:DialogSelectVectorEnv",
     {"dataset": "sgd"}, "Schema-Guided Dialogue reply selection, provided dev/test sets (data dir)"),
    ("MultiLabelCls-v0", "nlp_envs.multilabel:MultiLabelClsEnv", "nlp_envs.multilabel:MultiLabelClsVectorEnv",
     {"dataset": "topics"}, "multi-label review aspects, pick labels one by one then STOP, embedded corpus"),
    ("MultiLabelCls-GoEmotions-v0", "nlp_envs.multilabel:MultiLabelClsEnv",
     "nlp_envs.multilabel:MultiLabelClsVectorEnv",
     {"dataset": "goemotions"}, "GoEmotions multi-label emotions, 28 labels (data dir)"),
    ("MultiChoiceQA-v0", "nlp_envs.mcqa:MultiChoiceQAEnv", "nlp_envs.mcqa:MultiChoiceQAVectorEnv",
     {"dataset": "quiz"}, "multiple-choice questions answerable from their text, embedded corpus"),
    ("MultiChoiceQA-ARCEasy-v0", "nlp_envs.mcqa:MultiChoiceQAEnv", "nlp_envs.mcqa:MultiChoiceQAVectorEnv",
     {"dataset": "arc-easy"}, "ARC-Easy science multiple-choice questions (data dir)"),
    ("MultiChoiceQA-ARCChallenge-v0", "nlp_envs.mcqa:MultiChoiceQAEnv", "nlp_envs.mcqa:MultiChoiceQAVectorEnv",
     {"dataset": "arc-challenge", "split": "test"}, "ARC-Challenge, evaluation only (test split; data dir)"),
]

#: The ids this package declares (the conformance tests check they equal the registry's).
ENV_IDS: tuple[str, ...] = tuple(s[0] for s in ENV_SPECS)


#: ``make_vec(..., vector_kwargs=...)`` keys that the native vector envs take as kwargs.
VECTOR_KWARGS = frozenset({"autoreset_mode"})


def _is_ours(env_id: Any) -> bool:
    if isinstance(env_id, str) and ":" in env_id:  # "nlp_envs:TextCls-v0": the module prefix of gym.make
        module, env_id = env_id.split(":", 1)
        if module.split(".")[0] != "nlp_envs":
            return False
    try:
        spec = env_id if isinstance(env_id, gym.envs.registration.EnvSpec) else gym.spec(env_id)
    except Exception:  # unknown id: let Gymnasium report it
        return False
    entry = spec.vector_entry_point
    if not isinstance(entry, str):
        return False
    from nlp_envs.family import FAMILIES  # a family declared outside the package (nlp_envs.family) is ours too

    return entry.startswith("nlp_envs.") or any(
        entry == f"{f.vector_env_class.__module__}:{f.vector_env_class.__name__}" for f in FAMILIES.values())


def install_make_vec_kwargs() -> None:
    """Let ``gym.make_vec(id, vectorization_mode="vector_entry_point", vector_kwargs={"autoreset_mode": m})``
    work for this package's ids (idempotent).

    Gymnasium (since PR #952) refuses ``vector_kwargs`` for vector entry points and passes their
    options as kwargs (``make_vec(id, autoreset_mode=m)``, which works without this). For our ids in
    that mode only, this thin wrapper of ``gymnasium.make_vec`` moves the keys of
    :data:`VECTOR_KWARGS` from ``vector_kwargs`` to the kwargs; every other call goes to Gymnasium
    unchanged. Installed by ``import nlp_envs`` (code that bound ``make_vec`` before that import keeps
    Gymnasium's own)."""
    import gymnasium.envs.registration as reg

    original = reg.make_vec
    if getattr(original, "_nlp_envs_vector_kwargs", False):
        return

    @functools.wraps(original)
    def make_vec(id: Any, num_envs: int = 1, vectorization_mode: Any = None, vector_kwargs: Any = None,
                 wrappers: Any = None, **kwargs: Any) -> Any:
        mode = getattr(vectorization_mode, "value", vectorization_mode)
        if (vector_kwargs and set(vector_kwargs) <= VECTOR_KWARGS and mode in (None, "vector_entry_point")
                and _is_ours(id)):
            kwargs = {**vector_kwargs, **kwargs}
            vector_kwargs = None
        return original(id, num_envs=num_envs, vectorization_mode=vectorization_mode, vector_kwargs=vector_kwargs,
                        wrappers=wrappers, **kwargs)

    make_vec._nlp_envs_vector_kwargs = True  # type: ignore[attr-defined]
    reg.make_vec = make_vec
    gym.make_vec = make_vec
    gym.envs.make_vec = make_vec


def register_envs() -> None:
    """Register every id of :data:`ENV_SPECS` (idempotent)."""
    install_make_vec_kwargs()
    for env_id, entry, vector_entry, kwargs, _ in ENV_SPECS:
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point=entry,
            vector_entry_point=vector_entry,
            kwargs=dict(kwargs),
            disable_env_checker=False,
        )


def registered_ids() -> list[str]:
    """Ids in Gymnasium's registry whose entry point lives in this package."""
    return sorted(
        k for k, spec in gym.registry.items()
        if isinstance(spec.entry_point, str) and spec.entry_point.startswith("nlp_envs.")
    )


def family_id(env_id: str) -> str:
    """``"MultiChoiceQA-ARCEasy-v0"`` -> ``"MultiChoiceQA-v0"`` (an id without a variant name: itself)."""
    m = re.fullmatch(r"([^-]+)-[^-]+-(v\d+)", env_id)
    return f"{m.group(1)}-{m.group(2)}" if m else env_id


def eval_only_split(env_id: str, env_kwargs: dict[str, Any] | None = None) -> str | None:
    """The split an evaluation-only id is registered with (``"test"`` for ``MultiChoiceQA-ARCChallenge-v0``,
    whose dataset has no train split), or None for an id that can be trained on. A ``dataset`` kwarg
    replaces the registered data, so it makes any id trainable as far as the registry knows."""
    split = gym.spec(env_id).kwargs.get("split")
    if split in (None, "train") or "dataset" in (env_kwargs or {}):
        return None
    return split


def train_siblings(env_id: str) -> list[str]:
    """Trainable ids of the same env class, those of ``env_id``'s family first
    (``MultiChoiceQA-ARCChallenge-v0`` -> ``["MultiChoiceQA-ARCEasy-v0", "MultiChoiceQA-v0"]``)."""
    spec = gym.spec(env_id)
    siblings = [k for k, s in gym.registry.items() if k != env_id and s.entry_point == spec.entry_point
                and eval_only_split(k) is None]
    variants = [k for k in siblings if family_id(k) == family_id(env_id) and k != family_id(env_id)]
    return variants + [k for k in siblings if k not in variants]
