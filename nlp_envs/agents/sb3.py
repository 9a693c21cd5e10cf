"""Stable-Baselines3 / sb3-contrib baselines on nlp-envs (PPO, A2C, DQN, MaskablePPO).

Train, from the repository root::

    python -m nlp_envs.agents.sb3 TextCls-v0 --algo sb3-ppo --total-steps 20000 --out runs/textcls-ppo
    python -m nlp_envs.agents.sb3 NerTag-v0 --algo sb3-maskable-ppo --set extractor=transformer --set learning_rate=1e-3
    nlp-envs train TextCls-v0 --algo sb3-dqn ...      # the same, through the package CLI
    nlp-envs eval runs/textcls-ppo                    # test metrics of the saved model

Hyperparameters: ``nlp_envs/agents/hyperparams/sb3.yml`` (RL-Zoo style: one section per algorithm, a ``defaults``
entry and one entry per env id; an entry may ``inherit: OTHER-ID`` and an id without an entry uses its
family's, ``Family-Name-vN`` -> ``Family-vN``, see :func:`load_hyperparams`), then ``--set key=value``
(values parsed as YAML; dotted keys reach into dicts: ``--set extractor_kwargs.embed_dim=128``). Keys
that are not constructor arguments of the SB3 class: ``n_envs``, ``n_timesteps`` (default ``--total-steps``), ``policy``, ``extractor`` (``bag`` or
``transformer``, see :mod:`nlp_envs.agents.extractors`), ``extractor_kwargs``, ``net_arch``, ``env_kwargs``
(``gym.make`` kwargs of the task variant, e.g. ``action_mask: train_replies``; recorded in ``run.json``
so evaluation uses the same env; ``--env-kwarg`` wins), ``num_threads`` (below) and ``vec_env`` (``native``:
:class:`NativeVecEnvAdapter` over our numpy vector env, the default; ``dummy``: SB3's ``DummyVecEnv``
of single envs). A learning rate ``"lin_3e-4"`` decays linearly to 0 (RL Zoo).

A run directory holds ``model.zip`` (SB3), ``run.json`` (``{"kind": "sb3", "env_id", "env_kwargs",
"algo", "hyperparams", "model_sha256", ...}``), ``metrics.json`` (``nlp_envs.evaluate`` on the test split)
and ``tb/`` (TensorBoard). :func:`load_sb3_policy` reads it back without SB3's ``load``: that one
unpickles (cloudpickle) the ``:serialized:`` fields of the zip's ``data`` entry, so a crafted
``model.zip`` would run code. Instead the model is rebuilt from ``run.json``'s hyperparameters (spaces
from the env, the policy class, schedules: everything SB3 would unpickle comes from our own config)
and only the zip's ``.pth`` tensor entries are loaded, with ``torch.load(weights_only=True)``
(:func:`nlp_envs.agents.runfolder.load_sb3_tensors`). ``--out`` on a folder holding a run is refused unless
``--overwrite`` is given.

Why an adapter and not ``DummyVecEnv``: SB3 expects same-step autoreset (the done step returns the
*new* episode's observation and puts the last one in ``infos[i]["terminal_observation"]``); our vector
envs use Gymnasium's NEXT_STEP autoreset. The adapter, on a done step, keeps the returned (terminal)
observation and immediately starts the next episode of those sub-envs only, exactly as the native
env's own autoreset step would (same example order, same random draws), so rollouts are equal step for
step to ``DummyVecEnv`` of single envs under the same seeds (tested). It uses
:meth:`~nlp_envs.core.NlpVectorEnv.autoreset_now` ("start these sub-envs' next episode now"). Measured with random actions, 16 envs, 2-core CPU
(``python -m nlp_envs.agents.sb3 TextCls-v0 --bench-vec``): native 51k env steps/s, ``DummyVecEnv`` 24k; both
are far above what SB3's updates consume (~1-2k steps/s), so ``vec_env: dummy`` is a valid fallback
(e.g. for per-env ``env_method`` calls) at no real cost in training time.

``num_threads`` (YAML, default 1) sets torch's intra-op threads during :func:`train` (restored after;
0 = torch's default). The models are tiny, so extra threads only add synchronisation: on a shared
2-core CPU, ``python -m nlp_envs.agents.sb3 TextCls-v0 --total-steps 8192`` trained in 6.4 s with 1 thread
and 58.8 s with torch's default 2 (same result).
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
import yaml
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecMonitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn

import nlp_envs  # noqa: F401  (registers the ids)
from nlp_envs.agents.extractors import TokenFeaturesExtractor, extractor_class
from nlp_envs.agents.recipes import env_entry, merge
from nlp_envs.agents.runfolder import RunError, check_out, load_sb3_tensors, read_run_json, reading
from nlp_envs.core import NlpVectorEnv
from nlp_envs.evaluation import make_vector_env
from nlp_envs.family import family_of_env
from nlp_envs.jsonable import json_default
from nlp_envs.registration import eval_only_split, family_id, train_siblings  # noqa: F401  (family_id: used by callers of nlp_envs.agents.sb3)

#: algo name -> (module, class)
ALGOS: dict[str, tuple[str, str]] = {
    "sb3-ppo": ("stable_baselines3", "PPO"),
    "sb3-a2c": ("stable_baselines3", "A2C"),
    "sb3-dqn": ("stable_baselines3", "DQN"),
    "sb3-maskable-ppo": ("sb3_contrib", "MaskablePPO"),
}
HYPERPARAMS_PATH = Path(__file__).with_name("hyperparams") / "sb3.yml"
#: hyperparameter keys handled here, not passed to the SB3 constructor
_META_KEYS = ("n_envs", "n_timesteps", "policy", "extractor", "extractor_kwargs", "net_arch", "vec_env",
              "env_kwargs", "num_threads")


# -- the vector env adapter --------------------------------------------------------------------------
class NativeVecEnvAdapter(VecEnv):
    """An SB3 ``VecEnv`` over an nlp-envs native vector env (:class:`nlp_envs.core.NlpVectorEnv`).

    On the step where sub-env ``i`` ends, ``infos[i]`` gets ``terminal_observation`` (the observation
    the native env returned) and ``TimeLimit.truncated``, the sub-env starts its next episode at once
    and the returned observation is the new episode's first one (SB3's same-step autoreset); the
    reset info goes to ``reset_infos[i]``. Vector infos (``key`` + ``_key`` mask) become one dict per
    sub-env.

    ``env_method("action_masks")`` returns the native env's masks row by row (for MaskablePPO);
    ``get_attr(name)`` reads ``name`` from the native env's template single env, which holds what all
    sub-envs share (``label_names``, spaces, ``render_mode``...). Per-sub-env state is not reachable.

    :param venv: the native vector env (``gym.make_vec(id, num_envs=n,
        vectorization_mode="vector_entry_point")``).
    """

    def __init__(self, venv: gym.vector.VectorEnv) -> None:
        base = venv.unwrapped if hasattr(venv, "unwrapped") else venv
        if not isinstance(base, NlpVectorEnv):
            raise TypeError(f"expected an nlp-envs native vector env, got {type(base).__name__}")
        self.venv = base
        self.actions: np.ndarray | None = None
        super().__init__(base.num_envs, base.single_observation_space, base.single_action_space)

    def reset(self) -> VecEnvObs:
        if any(self._options):
            raise ValueError("native vector envs take no reset options")
        seeds = self._seeds
        if all(s is None for s in seeds):
            seed: int | None = None
        elif all(s == seeds[0] + i for i, s in enumerate(seeds)):  # VecEnv.seed(s): s + i, as ours
            seed = int(seeds[0])  # type: ignore[arg-type]
        else:  # NlpVectorEnv.reset(seed=list) fails in gymnasium's VectorEnv.reset (seeding.np_random)
            raise ValueError(f"per-env seeds must be consecutive (seed + i), got {seeds}")
        obs, infos = self.venv.reset(seed=seed)
        self.reset_infos = _split_infos(infos, self.num_envs)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self.actions = np.asarray(actions).reshape(self.num_envs).astype(np.int64, copy=False)

    def step_wait(self) -> VecEnvStepReturn:
        venv = self.venv
        obs, rewards, terminated, truncated, infos = venv.step(self.actions)
        dones = terminated | truncated
        step_infos = _split_infos(infos, self.num_envs)
        for i, cut in enumerate((truncated & ~terminated).tolist()):
            step_infos[i]["TimeLimit.truncated"] = cut
        ended = np.flatnonzero(dones)
        if len(ended):
            for i in ended.tolist():
                step_infos[i]["terminal_observation"] = {k: v[i] for k, v in obs.items()}
            # The native env's autoreset step for these sub-envs only (what its next step would do):
            obs, begin = venv.autoreset_now(ended)
            begin = {k: _rows(v) for k, v in begin.items()}  # key -> values in the order of `ended`
            for j, i in enumerate(ended.tolist()):
                self.reset_infos[i] = {k: v[j] for k, v in begin.items()}
        return obs, rewards.astype(np.float32), dones, step_infos

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        idx = list(self._get_indices(indices))
        if attr_name == "action_masks":
            return [functools.partial(self._action_mask, i) for i in idx]
        if attr_name == "render_mode":
            return [None for _ in idx]
        value = getattr(self.venv.env, attr_name)  # AttributeError when absent, as SB3 expects
        return [value for _ in idx]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise NotImplementedError("the sub-envs of a native vector env share one template env: set_attr is not supported")

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        idx = list(self._get_indices(indices))
        if method_name == "action_masks":
            masks = self.venv.action_masks()
            return [masks[i] for i in idx]
        raise NotImplementedError(f"env_method({method_name!r}) is not supported on a native vector env "
                                  "(only 'action_masks'); use vec_env=dummy for per-env methods")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def action_masks(self) -> np.ndarray:
        """``(num_envs, n)`` masks of the current states."""
        return self.venv.action_masks()

    def _action_mask(self, i: int) -> np.ndarray:
        return self.venv.action_masks()[i]


def _split_infos(infos: dict[str, Any], num_envs: int) -> list[dict[str, Any]]:
    """Gymnasium vector infos (``key`` array + ``_key`` mask) -> one dict per sub-env."""
    out: list[dict[str, Any]] = [{} for _ in range(num_envs)]
    for k, v in infos.items():
        if k.startswith("_"):
            continue
        mask = infos.get(f"_{k}")
        if isinstance(v, dict):  # nested vector infos
            for i, sub in enumerate(_split_infos(v, num_envs)):
                if sub:
                    out[i][k] = sub
            continue
        rows = np.flatnonzero(mask).tolist() if mask is not None else range(num_envs)
        values = _rows(v)
        for i in rows:
            out[i][k] = values[i]
    return out


def _rows(values: Any) -> Any:
    """Per-env values, as Python scalars for 1-D arrays (``tolist`` is far faster than ``.item()``)."""
    if isinstance(values, np.ndarray) and values.ndim == 1:
        return values.tolist()
    return values


def make_sb3_vec_env(env_id: str, n_envs: int, *, env_kwargs: dict[str, Any] | None = None,
                     vec_env: str = "native") -> VecEnv:
    """A ``VecEnv`` for SB3: the native adapter (``vec_env="native"``) or ``DummyVecEnv`` of single envs."""
    kwargs = dict(env_kwargs or {})
    if vec_env == "native":
        return NativeVecEnvAdapter(make_vector_env(env_id, num_envs=n_envs, **kwargs))
    if vec_env == "dummy":
        return DummyVecEnv([functools.partial(gym.make, env_id, **kwargs) for _ in range(n_envs)])
    raise ValueError(f"vec_env={vec_env!r}: expected 'native' or 'dummy'")


# -- hyperparameters ---------------------------------------------------------------------------------
def parse_overrides(items: Sequence[str] | None) -> dict[str, Any]:
    """``key=value`` strings -> dict (values parsed as YAML: ``1e-3``, ``[64, 64]``, ``true``)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {item!r}")
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):  # YAML 1.1 reads "3e-3" as a string
            try:
                parsed = float(parsed)
            except ValueError:
                pass
        out[key.strip()] = parsed
    return out


def load_hyperparams(env_id: str, algo: str, overrides: dict[str, Any] | None = None,
                     path: Path = HYPERPARAMS_PATH) -> dict[str, Any]:
    """``defaults`` of ``algo``, then its ``env_id`` entry, then ``overrides`` (dotted keys nest).

    The entry is resolved first: ``inherit: OTHER-ID`` puts ``OTHER-ID``'s (resolved) entry under it,
    and an id with no entry uses its family's (``TextCls-Banking77-v0`` -> ``TextCls-v0``).
    """
    if algo not in ALGOS:
        raise ValueError(f"unknown algo {algo!r}; expected one of {sorted(ALGOS)}")
    table = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    section = table.get(algo) or {}
    hp = merge(section.get("defaults") or {}, env_entry(section, env_id))
    for key, value in (overrides or {}).items():
        target = hp
        *parents, leaf = key.split(".")
        for p in parents:
            target = target.setdefault(p, {})
            if not isinstance(target, dict):
                raise ValueError(f"--set {key}: {p!r} is not a dict")
        target[leaf] = value
    return hp


def _schedule(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("lin_"):
        initial = float(value[4:])
        return lambda progress_remaining: progress_remaining * initial
    return value


def _check(algo: str, hp: dict[str, Any], n_envs: int) -> None:
    if algo in ("sb3-ppo", "sb3-maskable-ppo"):
        n_steps, batch = int(hp.get("n_steps", 2048)), int(hp.get("batch_size", 64))
        if batch > n_steps * n_envs:
            raise ValueError(f"batch_size {batch} > n_steps * n_envs = {n_steps} * {n_envs} = {n_steps * n_envs}: "
                             "lower batch_size or raise n_steps / n_envs")
        if batch < 2 and hp.get("normalize_advantage", True):
            raise ValueError(f"batch_size {batch} must be > 1 with normalize_advantage")


def _algo_class(algo: str) -> type[BaseAlgorithm]:
    import importlib

    module, name = ALGOS[algo]
    return getattr(importlib.import_module(module), name)


def build_model(algo: str, env: VecEnv, hp: dict[str, Any], *, seed: int,
                tensorboard_log: str | None = None, verbose: int = 0,
                env_id: str | None = None) -> BaseAlgorithm:
    """The SB3 model of ``algo`` on ``env`` with hyperparameters ``hp`` (see the module doc); ``env_id``
    gives the extractor its family head (the contract's ``Family.sb3_extractor``)."""
    kwargs = {k: v for k, v in hp.items() if k not in _META_KEYS}
    policy_kwargs = dict(kwargs.pop("policy_kwargs", None) or {})
    policy_kwargs.setdefault("features_extractor_class", extractor_class(hp.get("extractor", "bag")))
    extractor_kwargs = dict(policy_kwargs.get("features_extractor_kwargs", hp.get("extractor_kwargs") or {}))
    if env_id is not None and issubclass(policy_kwargs["features_extractor_class"], TokenFeaturesExtractor):
        extractor_kwargs.setdefault("head", family_of_env(env_id).sb3_extractor)
    policy_kwargs["features_extractor_kwargs"] = extractor_kwargs
    if "net_arch" in hp:
        policy_kwargs.setdefault("net_arch", hp["net_arch"])
    for k in ("learning_rate", "clip_range"):
        if k in kwargs:
            kwargs[k] = _schedule(kwargs[k])
    _check(algo, hp, env.num_envs)
    cls = _algo_class(algo)
    return cls(hp.get("policy", "MultiInputPolicy"), env, policy_kwargs=policy_kwargs, seed=seed,
               tensorboard_log=tensorboard_log, verbose=verbose, device="cpu", **kwargs)


# -- train / load ------------------------------------------------------------------------------------
def check_trainable(env_id: str, env_kwargs: dict[str, Any] | None = None) -> None:
    """Fail with a clear message when ``env_id`` cannot be trained on (an evaluation-only id such as
    ``MultiChoiceQA-ARCChallenge-v0``, registered with a test split), before anything is built."""
    split = eval_only_split(env_id, env_kwargs)
    if split is None:
        return
    raise ValueError(
        f"{env_id} is evaluation-only (registered with split={split!r}: its dataset has no train split), "
        f"so it cannot be trained on. Train on another id of its family "
        f"(e.g. {', '.join(train_siblings(env_id)) or 'none'}) "
        f"and evaluate that model here: nlp_envs.evaluate({env_id!r}, model), or "
        f"`nlp-envs eval RUN_DIR --env-id {env_id}`"
    )


def train(
    env_id: str,
    algo: str,
    *,
    total_steps: int | None,
    seed: int,
    out: str | Path,
    env_kwargs: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    progress_bar: bool = False,
    verbose: int = 0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train ``algo`` on the train split of ``env_id``, save the run in ``out``, evaluate on test.

    :param env_id: a registered id (``"TextCls-v0"``).
    :param algo: one of :data:`ALGOS`.
    :param total_steps: environment steps (all sub-envs together); ``None`` = the YAML ``n_timesteps``.
    :param seed: seeds SB3 (torch, numpy) and the vector env (sub-env ``i`` gets ``seed + i``).
    :param out: run directory (created): ``model.zip``, ``run.json``, ``metrics.json``, ``tb/``.
    :param env_kwargs: extra ``gym.make`` kwargs (e.g. ``data_dir``); the split is always train.
    :param overrides: hyperparameter overrides (``{"learning_rate": 1e-3, "extractor_kwargs.embed_dim": 32}``).
    :param progress_bar: SB3's tqdm/rich progress bar.
    :param overwrite: replace the run already in ``out``; without it such a folder is refused (:class:`RunError`).
    :return: the ``run.json`` dict with ``metrics`` (the test metrics) added.
    """
    env_kwargs = dict(env_kwargs or {})
    for k in ("split", "order"):
        if k in env_kwargs:
            raise ValueError(f"env_kwargs[{k!r}] is set by train() (train split, shuffled); remove it")
    check_trainable(env_id, env_kwargs)
    hp = load_hyperparams(env_id, algo, overrides)
    env_kwargs = {**dict(hp.pop("env_kwargs", None) or {}), **env_kwargs}  # YAML env kwargs, CLI wins
    total = int(total_steps if total_steps is not None else hp.get("n_timesteps", 100_000))
    n_envs = int(hp.get("n_envs", 16))
    if total < 1:
        raise RunError(f"total_steps={total} must be >= 1 (the budget in env steps)")
    if n_envs < 1:
        raise RunError(f"n_envs={n_envs} must be >= 1")
    out = Path(out)
    check_out(out, overwrite=overwrite, resumable=False)
    out.mkdir(parents=True, exist_ok=True)
    threads = int(hp.get("num_threads") or 0)  # torch intra-op threads for this run (0: torch's default)
    previous_threads = th.get_num_threads()
    if threads > 0:
        th.set_num_threads(threads)
    try:
        env = VecMonitor(make_sb3_vec_env(env_id, n_envs, env_kwargs={**env_kwargs, "split": "train"},
                                          vec_env=hp.get("vec_env", "native")))
        model = build_model(algo, env, hp, seed=seed, tensorboard_log=str(out / "tb"), verbose=verbose,
                            env_id=env_id)
        import sb3_contrib
        import stable_baselines3
        import torch

        run: dict[str, Any] = {
            "kind": "sb3", "env_id": env_id, "env_kwargs": env_kwargs, "algo": algo,
            "sb3_class": ALGOS[algo][1], "total_steps": total, "seed": seed, "hyperparams": hp,
            "versions": {"stable_baselines3": stable_baselines3.__version__,
                         "sb3_contrib": sb3_contrib.__version__, "torch": torch.__version__,
                         "nlp_envs": nlp_envs.__version__},
        }
        _write_json(out / "run.json", run)  # hyperparameters logged before training (CleanRL habit)
        start = time.perf_counter()
        model.learn(total_timesteps=total, progress_bar=progress_bar, tb_log_name=algo)
        run["train_seconds"] = round(time.perf_counter() - start, 2)
        import hashlib
        import io
        import os

        buffer = io.BytesIO()
        model.save(buffer)
        tmp = out / ".model.zip.tmp"
        tmp.write_bytes(buffer.getvalue())
        os.replace(tmp, out / "model.zip")  # a kill never leaves half a model.zip
        run["model_sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
        env.close()
        start = time.perf_counter()
        metrics = nlp_envs.evaluate(env_id, model, split="test", **env_kwargs)
        run["eval_seconds"] = round(time.perf_counter() - start, 2)
        _write_json(out / "metrics.json", metrics)
        _write_json(out / "run.json", run)
        return {**run, "metrics": metrics, "run_dir": str(out)}
    finally:
        th.set_num_threads(previous_threads)


def load_sb3_policy(run_dir: str | Path) -> tuple[str, dict[str, Any], BaseAlgorithm]:
    """``(env_id, env_kwargs, model)`` of a run saved by :func:`train` (model on CPU)."""
    import hashlib

    from stable_baselines3.common.save_util import recursive_setattr

    run_dir = Path(run_dir)
    run = read_run_json(run_dir)
    if run.get("kind") != "sb3":
        raise RunError(f"{run_dir}/run.json has kind {run.get('kind')!r}, not 'sb3'")
    with reading(run_dir / "run.json", RunError):
        algo, env_id, hp = str(run["algo"]), str(run["env_id"]), dict(run["hyperparams"])
        env_kwargs, seed = dict(run.get("env_kwargs") or {}), int(run.get("seed", 0))
        if algo not in ALGOS:
            raise RunError(f"{run_dir}/run.json: unknown algo {algo!r}; expected one of {sorted(ALGOS)}")
    path = run_dir / "model.zip"
    expected = run.get("model_sha256")  # catches a damaged file (no defence: run.json can be edited too)
    if expected and path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() != expected:
        raise RunError(f"{path} is damaged or replaced: its SHA-256 differs from the one in {run_dir}/run.json")
    params, variables = load_sb3_tensors(path)  # the .pth entries only, weights_only=True; never `data`
    env = make_sb3_vec_env(env_id, int(hp.get("n_envs", 16)), env_kwargs={**env_kwargs, "split": "train"})
    try:
        # spaces, policy class, schedules: from our config
        model = build_model(algo, env, hp, seed=seed, env_id=env_id)
    finally:
        env.close()
    model.env = None
    names, variable_names = model._get_torch_save_params()
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise RunError(f"{path} holds entries {unknown} that a {ALGOS[algo][1]} model does not have")
    try:
        model.set_parameters(params, exact_match=True, device="cpu")
    except Exception as e:
        raise RunError(f"{path}: its weights do not fit the {ALGOS[algo][1]} model of run.json's hyperparameters "
                       f"({type(e).__name__}: {e})") from e
    for name in variable_names:  # e.g. SAC's log_ent_coef; none for PPO, A2C, DQN, MaskablePPO
        if name in (variables or {}):
            recursive_setattr(model, f"{name}.data", variables[name])
    return env_id, env_kwargs, model


#: the name :func:`nlp_envs.agents.load_policy` dispatches to for ``kind == "sb3"``
load_policy = load_sb3_policy


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=json_default) + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: a kill never leaves half a file


# -- CLI ---------------------------------------------------------------------------------------------
def bench_vec_envs(env_id: str, n_envs: int = 16, steps: int = 2000, seed: int = 0) -> dict[str, float]:
    """Env steps per second (all sub-envs) of both SB3 vec envs under random actions."""
    result = {}
    for kind in ("native", "dummy"):
        env = make_sb3_vec_env(env_id, n_envs, vec_env=kind)
        env.seed(seed)
        env.reset()
        rng = np.random.default_rng(seed)
        start = time.perf_counter()
        for _ in range(steps):
            env.step(rng.integers(0, env.action_space.n, size=n_envs))
        result[kind] = round(steps * n_envs / (time.perf_counter() - start), 1)
        env.close()
    return result


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nlp-envs train", description=__doc__.split("\n\n")[0])
    p.add_argument("env_id", help="registered env id, e.g. TextCls-v0")
    p.add_argument("--algo", choices=sorted(ALGOS), default="sb3-ppo")
    p.add_argument("--total-steps", type=int, default=None, help="env steps (default: n_timesteps of the YAML)")
    p.add_argument("--seed", type=int, default=None, help="default 0; same as --set seed=N")
    p.add_argument("--out", default=None, help="run directory (default runs/<env_id>-<algo>-s<seed>)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (without it, an existing run is refused)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="hyperparameter override (YAML value; dotted keys nest), repeatable")
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE",
                   help="env kwarg (JSON value, else string), repeatable")
    p.add_argument("--data-dir", default=None, help="real-data directory (env kwarg data_dir)")
    p.add_argument("--no-progress-bar", action="store_true")
    p.add_argument("--verbose", type=int, default=0)
    p.add_argument("--bench-vec", action="store_true", help="only measure native vs dummy vec env speed")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.bench_vec:
        print(json.dumps(bench_vec_envs(args.env_id)))
        return 0
    from nlp_envs.kv import parse_kv, take_flag_setting

    try:
        env_kwargs = parse_kv(args.env_kwarg, "--env-kwarg")  # the one --env-kwarg syntax (nlp_envs.kv)
        if args.data_dir:
            env_kwargs["data_dir"] = args.data_dir
        check_trainable(args.env_id, env_kwargs)
        overrides = parse_overrides(args.overrides)
        seed = take_flag_setting(overrides, "seed", "--seed", args.seed, 0)  # SB3's seed is --seed
    except ValueError as e:  # a message, not a traceback
        raise SystemExit(f"error: {e}") from None
    out = args.out or f"runs/{args.env_id}-{args.algo}-s{seed}"
    if args.total_steps is not None and args.total_steps < 1:  # before anything is built
        raise SystemExit(f"error: --total-steps {args.total_steps} must be >= 1 (the budget in env steps)")
    try:
        result = train(args.env_id, args.algo, total_steps=args.total_steps, seed=seed, out=out,
                       env_kwargs=env_kwargs, overrides=overrides, progress_bar=not args.no_progress_bar,
                       verbose=args.verbose, overwrite=args.overwrite)
    except RunError as e:  # an existing run, a bad budget: a message, not a traceback
        raise SystemExit(f"error: {e}") from None
    metrics = {k: v for k, v in result["metrics"].items() if isinstance(v, (int, float, str))}
    print(json.dumps({"run_dir": result["run_dir"], "train_seconds": result["train_seconds"], **metrics}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
