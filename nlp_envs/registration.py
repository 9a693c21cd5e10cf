"""Every env id of the package, in one flat list (Gymnasium style).

Variants are kwargs, not subclasses. An id whose scores would change gets a new ``-vN``.
"""

from __future__ import annotations

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
    ("NerTag-BTC-v0", "nlp_envs.ner:NerTagEnv", "nlp_envs.ner:NerTagVectorEnv",
     {"dataset": "btc"}, "Broad Twitter Corpus entity tagging (data dir)"),
    ("NerTag-WNUT17-v0", "nlp_envs.ner:NerTagEnv", "nlp_envs.ner:NerTagVectorEnv",
     {"dataset": "wnut17"}, "WNUT-17 emerging entity tagging (data dir)"),
    ("DialogReply-v0", "nlp_envs.dialog:DialogReplyEnv", "nlp_envs.dialog:DialogReplyVectorEnv",
     {"dataset": "dialogs"}, "dialogue reply generation token by token, embedded corpus"),
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


def register_envs() -> None:
    """Register every id of :data:`ENV_SPECS` (idempotent)."""
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
