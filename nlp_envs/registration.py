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
