"""Plain helpers shared by several test modules (fixtures live in ``conftest.py`` only).

Import as ``from tests.helpers import ...``. Nothing here imports torch or ``nlp_envs.agents`` at module
level, so env and data tests that use it stay light; the agent helpers import what they need when called.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Shrunken embedded corpora (``dataset_kwargs``) for agent tests that are not about learning.
TINY_SIZES = {"sizes": {"train": 64, "validation": 16, "test": 32}}
#: The env kwargs that select them.
TINY_ENV_KWARGS = {"dataset_kwargs": TINY_SIZES}
#: ``train()`` settings of the tiny PPO run of the run-folder tests (test_run_safety and its fixture):
#: 8 one-step TextCls episodes per update, a checkpoint after each update, no evaluation.
TINY_PPO_SETTINGS = {"num_envs": 8, "progress": False, "eval_split": "", "checkpoint_every": 1, "device": "cpu",
                     "update_epochs": 1}
#: SB3 hyperparameter overrides of the tiny SB3 PPO run (test_run_safety and its fixture).
TINY_SB3_HP = {"n_envs": 2, "n_steps": 16, "batch_size": 16, "n_epochs": 1}


# -- env ids -----------------------------------------------------------------------------------------


def available_ids() -> list:
    """Every registered id, as pytest params; ids whose data is absent are skipped, not dropped."""
    from nlp_envs.registration import registered_ids
    from nlp_envs.testing import env_available

    params = []
    for env_id in registered_ids():
        ok, why = env_available(env_id)
        marks = [] if ok else [pytest.mark.skip(reason=why)]
        params.append(pytest.param(env_id, id=env_id, marks=marks))
    return params


def embedded_ids() -> list[str]:
    """The registered ids whose data is embedded (generated), so they run with no data folder."""
    from nlp_envs.docs import data_folder
    from nlp_envs.registration import registered_ids

    return [i for i in registered_ids() if data_folder(i) is None]


def registered(env_id: str) -> bool:
    return env_id in gym.registry


def registered_params(env_ids: Iterable[str]) -> list:
    """``env_ids`` as pytest params, each skipped (not dropped) when it is not registered."""
    return [pytest.param(i, marks=[] if registered(i) else [pytest.mark.skip(reason=f"{i} not registered")])
            for i in env_ids]


# -- vector envs -------------------------------------------------------------------------------------


def assert_vector_equals_sync(env_id: str, kw: dict, *, sequential: bool = False, steps: int = 150) -> None:
    """``gym.make_vec(..., "vector_entry_point")`` with 4 sub-envs equals ``SyncVectorEnv`` of 4 single envs
    step for step under random masked actions (20 % EOS for DialogReply), with at least 20 episode ends.
    ``sequential``: the vector env shards the split, sub-env ``i`` visits ``indices[i::4]``."""
    from nlp_envs.testing import assert_equal_nested

    shard = (lambda i: {"shard_index": i, "num_shards": 4}) if sequential else (lambda i: {})
    sync = gym.vector.SyncVectorEnv([lambda i=i: gym.make(env_id, **kw, **shard(i)) for i in range(4)])
    vec = gym.make_vec(env_id, num_envs=4, vectorization_mode="vector_entry_point", **kw)
    eos = vec.unwrapped.env.eos_id if env_id.startswith("DialogReply") else None
    rng = np.random.default_rng(0)
    a, b = sync.reset(seed=5), vec.reset(seed=5)
    assert_equal_nested(a, b, "reset")
    ends = 0
    for t in range(steps):
        masks = vec.unwrapped.action_masks()
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
        if eos is not None:
            actions = np.where(rng.random(len(actions)) < 0.2, eos, actions)
        a, b = sync.step(actions), vec.step(actions)
        assert_equal_nested(a, b, f"step {t}")
        assert a[1].dtype == b[1].dtype == np.float64
        ends += int((a[2] | a[3]).sum())
    assert ends >= 20
    sync.close()
    vec.close()


# -- tokenizers -------------------------------------------------------------------------------------

#: A few texts (unicode and an empty one included) for a toy WordPiece vocabulary (``toy_encoder``).
TOY_TEXTS = ["hello world", "the cat sat on the mat", "a dog", "hello cat dog world", "", "naïve café ☕ 東京"]


# -- the prepared-split cache (test_cache_faults, test_prepared) --------------------------------------

#: The envs whose cache entries the fault tests damage, by kind.
CACHE_ENVS = {"cls": ("TextCls-v0", {"split": "test"}), "ner": ("NerTag-v0", {"split": "test"})}


def make_cache_env(kind: str) -> gym.Env:
    """``gym.make`` of :data:`CACHE_ENVS` ``[kind]`` (builds or loads its prepared entry)."""
    env_id, kwargs = CACHE_ENVS[kind]
    return gym.make(env_id, **kwargs)


def env_digest(env: gym.Env) -> str:
    """Everything an episode can see: the prepared arrays, texts, lists, meta, and seeded episodes."""
    base = env.unwrapped
    p = base.prepared
    h = hashlib.sha256()
    for group in (p.arrays, {k: np.concatenate([a.view(np.uint8).reshape(-1) for a in c.arrays()])
                             for k, c in {**p.texts, **p.lists}.items()}):
        for k in sorted(group):
            h.update(k.encode() + np.ascontiguousarray(group[k]).tobytes())
    h.update(json.dumps(p.meta, sort_keys=True, default=str).encode() + p.encoder.backend.to_str().encode())
    for seed in (0, 1):
        obs, info = env.reset(seed=seed)
        h.update(repr(sorted((k, np.asarray(v).tolist()) for k, v in obs.items())).encode())
        h.update(repr(sorted((k, str(v)) for k, v in info.items())).encode())
    return h.hexdigest()


# -- files -------------------------------------------------------------------------------------------


def write_file(path: Path, text: str) -> Path:
    """Write ``text`` as UTF-8 (gzipped when the name ends with ``.gz``); returns ``path``."""
    data = text.encode("utf-8")
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def write_jsonl(path: Path, rows: Iterable[Any]) -> str:
    """One JSON value per line; returns the path as a string (the form env kwargs take)."""
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return str(path)


def metrics_rows(out: Path) -> list[dict[str, str]]:
    """The rows of a run folder's ``metrics.csv``."""
    with open(Path(out) / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


# -- transformer agents on one env (test_agents_multilabel, test_agents_mcqa) --------------------------

#: Sub-envs of the test-split evaluations: the run's own and the reloaded one batch the split alike.
EVAL_ENVS = 200


def train_kwargs(**kw: Any) -> dict[str, Any]:
    """``train()`` settings of the small learning tests: no progress bar or checkpoints, a test-split
    evaluation over :data:`EVAL_ENVS` sub-envs; ``kw`` overrides."""
    return {"progress": False, "checkpoint_every": 0, "eval_split": "test", "eval_envs": EVAL_ENVS, **kw}


def baseline_scores(env_id: str, key: str) -> tuple[float, float]:
    """The random and the majority baseline's ``key`` metric on the test split."""
    import nlp_envs
    from nlp_envs.agents.baselines import make_baseline

    return tuple(nlp_envs.evaluate(env_id, make_baseline(name, env_id), split="test", num_envs=EVAL_ENVS)[key]
                 for name in ("random", "majority"))


def assert_reloaded_run_scores_the_same(out: Path, res: dict, key: str) -> None:
    """The saved run, reloaded, scores the test split exactly as the run's own final evaluation."""
    import nlp_envs
    from nlp_envs.agents.run import load_policy

    env_id, env_kwargs, policy = load_policy(out, device="cpu")
    again = nlp_envs.evaluate(env_id, policy, split="test", num_envs=EVAL_ENVS, **env_kwargs)
    assert again[key] == res[f"eval/{key}"]
    assert {k: v for k, v in again.items() if isinstance(v, float)} == {
        k[5:]: v for k, v in res.items() if k.startswith("eval/") and isinstance(v, float)}


def make_tiny_ppo_run(out: Path, env_id: str, **kw: Any):
    """A ``Run`` of PPO with the tiny backbone (32 sub-envs, 8 steps, no evaluation), for rollout tests."""
    from nlp_envs.agents.config import make_config
    from nlp_envs.agents.run import Run

    cfg = make_config("ppo", total_steps=8, **{"num_envs": 32, "progress": False, "eval_split": "",
                                               "checkpoint_every": 0, **kw})
    return Run(env_id, cfg, backbone="tiny", out=out)


def collect_checked_waves(run, waves: int = 2) -> list:
    """Collect ``waves`` rollouts of ``run``; assert that every sampled action is allowed by the env's
    mask and that re-scoring a wave (teacher forcing) gives the log-probs and values it was sampled with."""
    import torch

    from nlp_envs.agents.advantages import score
    from nlp_envs.agents.rollout import collect

    sampler = run.make_sampler()
    episodes = []
    for _ in range(waves):
        ep = collect(run.policy, sampler, run.device, run.amp)
        assert ep.action_masks is not None
        allowed = ep.action_masks.gather(-1, ep.actions[..., None]).squeeze(-1)
        assert bool(allowed[ep.mask].all())
        logp, _, values = score(run.policy, ep, run.amp)
        assert torch.allclose(logp[ep.mask], ep.logp[ep.mask], atol=1e-4)
        assert torch.allclose(values[ep.mask], ep.values[ep.mask], atol=1e-4)
        episodes.append(ep)
    return episodes


# -- Stable-Baselines3 (test_sb3, test_sb3_all_envs) ------------------------------------------------


def mask_checked(venv):
    """``venv`` (an SB3 ``VecEnv``) wrapped to fail when an action is not allowed by the env's current
    action mask; the wrapper's ``checked`` counts the actions checked."""
    return _mask_check_class()(venv)


@functools.cache
def _mask_check_class() -> type:
    from stable_baselines3.common.vec_env import VecEnvWrapper

    class MaskCheck(VecEnvWrapper):
        def __init__(self, venv):
            super().__init__(venv)
            self.checked = 0

        def reset(self):
            return self.venv.reset()

        def step_async(self, actions):
            masks = np.stack(self.venv.env_method("action_masks"))
            bad = ~masks[np.arange(len(actions)), actions]
            assert not bad.any(), f"masked actions taken: {actions[bad]}"
            self.checked += len(actions)
            self.venv.step_async(actions)

        def step_wait(self):
            return self.venv.step_wait()

    return MaskCheck


# -- text mode ---------------------------------------------------------------------------------------------


def gold_text_table(env_id: str, split: str = "test", seed: int | None = None, **kwargs: Any) -> dict[str, str]:
    """Text mode's gold policy as a table: the prompt of every example of ``split`` (``reset(seed=seed,
    options={"index": i})``) -> its gold answer; a prompt shared by two examples must have one gold answer.
    ``nlp_envs.evaluate(env_id, lambda prompts: [table[p] for p in prompts], obs_mode="text")`` plays it."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the v0 ids whose v1 exists are "out of date"
        env = gym.make(env_id, obs_mode="text", split=split, **kwargs)
    base = env.unwrapped
    table: dict[str, str] = {}
    for i in range(base.num_examples):
        prompt, _ = env.reset(seed=seed, options={"index": i})
        gold = base.gold_answer()
        assert table.setdefault(prompt, gold) == gold, f"{env_id} example {i}: one prompt, two gold answers"
    env.close()
    return table
