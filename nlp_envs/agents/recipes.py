"""Recipes: the shipped defaults of the transformer agents per algorithm and env id, read from
``nlp_envs/agents/hyperparams/transformer.yml``.

``nlp-envs train ENV_ID --algo ALGO`` starts from the config dataclass defaults (:mod:`nlp_envs.agents.config`),
then applies the recipe of ``(ALGO, ENV_ID, backbone)``, then the user's ``--set`` values (which always
win). The YAML has one section per algorithm; each has a ``defaults`` entry and entries per env id. An
entry holds config fields and three special keys:

| key          | meaning                                                                                  |
|--------------|------------------------------------------------------------------------------------------|
| ``inherit``  | another entry of the same section whose values come first                                 |
| ``backbones``| ``{backbone name: {fields...}}``: values for one backbone only (``tiny``, ``minilm``...)   |
| ``env_kwargs``| ``gym.make`` kwargs of the training env (an explicit ``--env-kwarg`` wins); the test evaluation uses the same env |
| ``evidence`` | where the values come from (sweep cells in ``benchmarks/results/sweep``): documentation only |

An id without an entry uses its family's (``TextCls-Banking77-v0`` -> ``TextCls-v0``, as in
``nlp_envs/agents/hyperparams/sb3.yml``, which :mod:`nlp_envs.agents.sb3` resolves with the same :func:`env_entry` and
:func:`merge`). :func:`recipe` returns the resolved ``(config overrides, env kwargs)``.
"""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path
from typing import Any

import yaml

from nlp_envs.registration import family_id

RECIPES_PATH = Path(__file__).resolve().parent / "hyperparams" / "transformer.yml"
SPECIAL = ("inherit", "backbones", "env_kwargs", "evidence")


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``; dict values (``env_kwargs``, ``backbones``, SB3's ``extractor_kwargs``) merge
    one level deep; neither input is modified."""
    out = deepcopy(base)
    for k, v in top.items():
        out[k] = {**out[k], **v} if isinstance(v, dict) and isinstance(out.get(k), dict) else deepcopy(v)
    return out


def env_entry(section: dict[str, Any], env_id: str, chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """The ``env_id`` entry of a hyperparameter section with its ``inherit`` chain resolved (parents
    first). An id without an entry uses its family's (``Family-Name-vN`` -> ``Family-vN``), or nothing."""
    if env_id in chain:
        raise ValueError(f"hyperparameters: 'inherit' cycle {' -> '.join((*chain, env_id))}")
    entry = section.get(env_id)
    if entry is None:
        family = family_id(env_id)
        return env_entry(section, family, (*chain, env_id)) if family != env_id and family in section else {}
    entry = dict(entry)
    parent = entry.pop("inherit", None)
    if parent is None:
        return entry
    if parent not in section:
        raise ValueError(f"hyperparameters: {env_id} inherits {parent!r}, which has no entry in this algo's section")
    return merge(env_entry(section, parent, (*chain, env_id)), entry)


def recipe(env_id: str, algo: str, backbone: str = "tiny", path: Path = RECIPES_PATH) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(config overrides, env kwargs)`` of the shipped recipe for ``algo`` on ``env_id`` with ``backbone``.

    Unknown config fields fail here, naming the file and the entry, so a typo in the YAML never ships.
    """
    from nlp_envs.agents.config import CONFIGS

    if algo not in CONFIGS:
        raise ValueError(f"algo={algo!r}: expected one of {sorted(CONFIGS)}")
    table = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    section = table.get(algo) or {}
    entry = merge(section.get("defaults") or {}, env_entry(section, env_id))
    name = backbone if backbone in ("tiny", "small", "minilm") else "pretrained"
    per_backbone = (entry.get("backbones") or {}).get(name) or {}
    entry = merge({k: v for k, v in entry.items() if k != "backbones"}, per_backbone)
    env_kwargs = dict(entry.get("env_kwargs") or {})
    fields = {k: v for k, v in entry.items() if k not in SPECIAL}
    valid = {f for f in CONFIGS[algo].__dataclass_fields__ if CONFIGS[algo].__dataclass_fields__[f].init}
    unknown = set(fields) - valid
    if unknown:
        raise ValueError(f"{path}: {algo} recipe for {env_id} ({name}) sets unknown fields {sorted(unknown)}; "
                         f"valid: {sorted(valid)}")
    return fields, env_kwargs
