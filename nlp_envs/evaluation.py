"""``nlp_envs.evaluate``: run a policy over a whole split exactly once and return the task metrics.

A policy is any callable from a batch of observations (the vector env's dict of arrays) to a batch of
actions. It may also

* accept an ``action_masks=`` keyword: it then receives the vector env's ``(num_envs, n)`` masks;
* return scores of shape ``(num_envs, n)`` instead of actions: the action is the argmax, and
  families that rank (dialogue selection) also report ranking metrics such as MRR;
* be a Stable-Baselines3 model (anything with ``predict``): ``predict(obs, deterministic=True)``.

In text mode (``evaluate(env_id, policy, obs_mode="text")``, or an env made with ``obs_mode="text"``) a
policy is any callable from a list of prompts (one per sub-env) to a list of answer strings
(:mod:`nlp_envs.text_mode`); an answer that does not parse scores as no answer.

The split is sharded over the sub-envs of the native vector env (``order="sequential"``): sub-env
``i`` visits examples ``i, i + n, i + 2n, ...``; each example is scored once.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from nlp_envs.core import NlpEnv, NlpVectorEnv
from nlp_envs.text_mode import TextVectorEnv, as_answers


class Evaluator(Protocol):
    """Collects the per-example results of one family and turns them into metrics.

    ``done_key`` is an info key of the step that completes one example (the vector env runs with
    ``info_mode="full"``); ``add`` receives the vector infos and the sub-env ids completing an example
    on this step: an episode's last step (``terminated | truncated``), or every step of a sub-env
    when the evaluator sets ``every_step = True`` (one example per step, as in classification).
    """

    done_key: str

    def add(self, infos: dict[str, Any], env_ids: np.ndarray) -> None: ...

    def compute(self) -> dict[str, Any]: ...


def make_vector_env(env_or_id: Any, *, num_envs: int, **env_kwargs: Any) -> NlpVectorEnv:
    """The native vector env of an env id, a ``gym.make`` env, or an env class, with ``env_kwargs``."""
    if isinstance(env_or_id, (NlpVectorEnv, TextVectorEnv)):
        raise TypeError("pass an env id or a single env: evaluate() builds its own sequential vector env")
    if isinstance(env_or_id, str):
        spec = gym.spec(env_or_id if ":" not in env_or_id else env_or_id.split(":", 1)[1])
        kwargs = {**spec.kwargs, **env_kwargs}
        vec_cls = _load(spec.vector_entry_point)
    elif isinstance(env_or_id, gym.Env):
        base = env_or_id.unwrapped
        if not isinstance(base, NlpEnv):
            raise TypeError(f"{type(base).__name__} is not an nlp-envs env")
        spec = env_or_id.spec or base.spec
        if spec is None:
            raise ValueError("the env has no spec (it was not built by gym.make): pass its id instead")
        kwargs = {**spec.kwargs, **env_kwargs}
        vec_cls = _load(spec.vector_entry_point)
    else:
        raise TypeError(f"expected an env id or an env, got {type(env_or_id).__name__}")
    return vec_cls(num_envs=num_envs, **kwargs)


def _load(entry: Any) -> Any:
    if not isinstance(entry, str):
        return entry
    import importlib

    mod, _, attr = entry.partition(":")
    return getattr(importlib.import_module(mod), attr)


def policy_caller(policy: Any, venv: NlpVectorEnv, env_id: str | None = None,
                  ) -> Callable[[dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray | None]]:
    """Wrap ``policy`` (see module doc) as ``obs -> (actions, scores or None)``.

    A callable's output must be integer actions of shape ``(num_envs,)`` or scores of shape
    ``(num_envs, n)`` (``n`` = the size of the Discrete action space); anything else (float actions,
    a 2-D array of another width) is a ``ValueError`` naming ``env_id`` (default: the env class).
    In text mode (a :class:`~nlp_envs.text_mode.TextVectorEnv`) it maps a list of prompts to a list of strings.
    """
    if isinstance(venv, TextVectorEnv):
        if not callable(policy):
            raise TypeError(f"a text policy must be callable (prompts -> answers), got {type(policy).__name__}")
        text_name = env_id or venv.env_class.__name__

        def call_text(obs: Any) -> tuple[tuple[str, ...], None]:
            return as_answers(policy(list(obs)), venv.num_envs, text_name), None

        return call_text  # type: ignore[return-value]
    if not callable(policy) and hasattr(policy, "predict"):
        wants_masks = "action_masks" in inspect.signature(policy.predict).parameters

        def call_sb3(obs: dict[str, np.ndarray]) -> tuple[np.ndarray, None]:
            kw = {"action_masks": venv.action_masks()} if wants_masks else {}
            actions, _ = policy.predict(obs, deterministic=True, **kw)
            return np.asarray(actions, dtype=np.int64).reshape(venv.num_envs), None

        return call_sb3
    if not callable(policy):
        raise TypeError(f"policy must be callable (obs -> actions) or have .predict, got {type(policy).__name__}")
    try:
        wants_masks = "action_masks" in inspect.signature(policy).parameters
    except (TypeError, ValueError):
        wants_masks = False

    name = env_id or type(venv.env).__name__
    b = venv.num_envs
    n = int(venv.single_action_space.n)  # type: ignore[attr-defined]
    shapes = f"({b},) integer actions or ({b}, {n}) scores (one per action of the Discrete({n}) space)"

    def call(obs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        out = policy(obs, action_masks=venv.action_masks()) if wants_masks else policy(obs)
        arr = np.asarray(out)
        if arr.ndim == 2:
            if arr.shape != (b, n):
                raise ValueError(f"{name}: policy returned scores of shape {arr.shape}; expected {shapes}")
            return arr.argmax(axis=1).astype(np.int64), arr
        if arr.shape != (b,):
            raise ValueError(f"{name}: policy returned shape {arr.shape}; expected ({b},) actions "
                             f"or ({b}, {n}) scores")
        if arr.dtype.kind not in "iu":
            raise ValueError(f"{name}: policy returned actions of dtype {arr.dtype}; expected {shapes} "
                             "(e.g. scores.argmax(axis=1), or actions.astype(np.int64) if they are whole numbers)")
        return arr.astype(np.int64, copy=False), None

    return call


def evaluate(
    env_or_id: Any,
    policy: Any,
    split: str = "test",
    *,
    num_envs: int = 64,
    seed: int = 0,
    **env_kwargs: Any,
) -> dict[str, Any]:
    """Run ``policy`` once over every example of ``split``; return the family's metrics.

    Args:
        env_or_id: an env id (``"TextCls-v0"``) or an env made by ``gym.make`` (its kwargs are reused).
        policy: see the module doc.
        split: the split to evaluate on: a name (``"test"``) or a slice of one (``"train[80%:]"``,
            ``"test[:1000]"``; :func:`nlp_envs.data.parse_split`).
        num_envs: sub-envs of the vector env (capped at the split size).
        seed: seed of the vector env (used by families with random elements, e.g. distractors).
        env_kwargs: extra env kwargs (e.g. ``data_dir=``; ``dataset="reviews.csv", test_size=0.2`` carves a
            seeded, stratified test split out of one file: :mod:`nlp_envs.data`).

    Returns:
        A dict of metrics (e.g. ``accuracy``, ``macro_f1``) plus ``num_examples``, ``split``, ``env_id``.
    """
    env_kwargs = {**env_kwargs, "split": split, "order": "sequential", "info_mode": "full"}
    probe = make_vector_env(env_or_id, num_envs=1, **env_kwargs)
    n = min(num_envs, int(probe.shard_sizes.sum()))  # this shard's examples (all of them unless sharded)
    probe.close()
    venv = make_vector_env(env_or_id, num_envs=n, **env_kwargs)
    try:
        evaluator: Evaluator = venv.make_evaluator()
        call = policy_caller(policy, venv, _env_name(env_or_id))
        sizes = venv.shard_sizes
        done = np.zeros(n, dtype=np.int64)
        obs, _ = venv.reset(seed=seed)
        key, mask_key = evaluator.done_key, f"_{evaluator.done_key}"
        record_scores = getattr(evaluator, "record_scores", None)
        while (done < sizes).any():
            actions, scores = call(obs)
            if scores is not None and record_scores is not None:
                record_scores(scores, (done < sizes) & ~venv.autoresetting)
            stepped = ~venv.autoresetting  # NEXT_STEP: the others only start their next episode
            obs, _, terminated, truncated, infos = venv.step(actions)
            completes = stepped if getattr(evaluator, "every_step", False) else terminated | truncated
            finished = np.flatnonzero(completes & (done < sizes))
            if len(finished):
                assert infos[mask_key][finished].all(), f"info[{key!r}] missing on an episode's last step"
                evaluator.add(infos, finished)
                done[finished] += 1
        result = evaluator.compute()
    finally:
        venv.close()
    result.update(num_examples=int(sizes.sum()), split=split, env_id=_env_name(env_or_id))
    return result


def _env_name(env_or_id: Any) -> str | None:
    """The env id of an id or a ``gym.make`` env (None for an env without a spec)."""
    return env_or_id if isinstance(env_or_id, str) else getattr(getattr(env_or_id, "spec", None), "id", None)
