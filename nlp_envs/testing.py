"""Conformance checks every nlp-envs environment must pass (shipped, so users can run them too).

Each ``check_*`` function takes an env id (and kwargs for ``gym.make``) and raises ``AssertionError``
(or the offending exception) on failure. :func:`check_all` runs them all. The package's own tests run
them on every registered id (:func:`nlp_envs.registration.registered_ids`), so a new env is tested
the moment it is registered.

Checks:
* :func:`check_gymnasium` - ``gymnasium.utils.env_checker.check_env`` with warnings as errors;
* :func:`check_sb3` - Stable-Baselines3's ``check_env``;
* :func:`check_seeded_rollouts` - two envs, same seeds, seeded actions: everything equal;
* :func:`check_pickle`, :func:`check_spec_json` - round trips;
* :func:`check_bad_inputs` - bad actions, step before reset, step after the end: clear errors;
* :func:`check_random_episodes` - many seeded episodes with random options and actions, no crash;
* :func:`check_vector_matches_sync` - the native vector env equals ``SyncVectorEnv`` step for step.
"""

from __future__ import annotations

import json
import pickle
import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.error import InvalidAction, ResetNeeded

from nlp_envs.data import KNOWN_DATASETS, data_dir_from


def env_available(env_id: str) -> tuple[bool, str]:
    """Whether ``env_id`` can be built here (real-data ids need their folder under the data dir)."""
    spec = gym.spec(env_id)
    name = spec.kwargs.get("dataset")
    known = KNOWN_DATASETS.get(str(name).lower()) if isinstance(name, str) else None
    if known is None:
        return True, ""
    root = data_dir_from(None)
    if root is None or not (root / known.folder).is_dir():
        return False, f"{env_id} needs {known.folder}/ under NLP_ENVS_DATA_DIR"
    return True, ""


def _make(env_id: str, **kwargs: Any) -> gym.Env:
    return gym.make(env_id, disable_env_checker=True, **kwargs)


def _valid_action(env: gym.Env, rng: np.random.Generator) -> int:
    """A random action, respecting the env's action mask when it has one."""
    base = env.unwrapped
    n = env.action_space.n  # type: ignore[attr-defined]
    masks = getattr(base, "action_masks", None)
    if masks is not None:
        allowed = np.flatnonzero(np.asarray(masks()))
        if len(allowed):
            return int(rng.choice(allowed))
    return int(rng.integers(n))


def assert_equal_nested(a: Any, b: Any, path: str = "") -> None:
    """Deep equality of observations/infos (dicts, arrays, scalars), with the failing path named."""
    if isinstance(a, dict):
        assert isinstance(b, dict), f"{path}: dict vs {type(b).__name__}"
        assert set(a) == set(b), f"{path}: keys differ: {sorted(set(a) ^ set(b))}"
        for k in a:
            assert_equal_nested(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a_arr, b_arr = np.asarray(a), np.asarray(b)
        assert a_arr.shape == b_arr.shape, f"{path}: shape {a_arr.shape} vs {b_arr.shape}"
        if a_arr.dtype == object or b_arr.dtype == object:
            for i, (x, y) in enumerate(zip(a_arr.ravel(), b_arr.ravel())):
                assert_equal_nested(x, y, f"{path}[{i}]")
        else:
            assert np.array_equal(a_arr, b_arr, equal_nan=a_arr.dtype.kind == "f"), f"{path}: arrays differ"
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{path}: length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_equal_nested(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), f"{path}: {a!r} vs {b!r}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def check_gymnasium(env_id: str, **kwargs: Any) -> None:
    """Gymnasium's own checker, strict: any warning is an error."""
    from gymnasium.utils.env_checker import check_env

    env = _make(env_id, **kwargs)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_env(env.unwrapped, skip_render_check=False)
    finally:
        env.close()


def check_sb3(env_id: str, **kwargs: Any) -> None:
    """Stable-Baselines3's ``check_env`` (with its warnings turned into errors)."""
    from stable_baselines3.common.env_checker import check_env

    env = _make(env_id, **kwargs)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            # SB3 advises against Box observations of rank > 1 that are not images; candidate sets
            # (K, tokens) are 2-D by design and SB3's MultiInputPolicy flattens them.
            warnings.filterwarnings("ignore", message=".*unconventional shape.*")
            check_env(env, warn=True, skip_render_check=True)
    finally:
        env.close()


def check_seeded_rollouts(env_id: str, steps: int = 200, seed: int = 123, **kwargs: Any) -> None:
    """Two envs with the same seed and the same seeded actions produce identical transitions."""
    envs = [_make(env_id, **kwargs) for _ in range(2)]
    rngs = [np.random.default_rng(seed) for _ in range(2)]
    try:
        first = [e.reset(seed=seed) for e in envs]
        assert_equal_nested(first[0], first[1], "reset")
        for t in range(steps):
            outs = []
            for e, r in zip(envs, rngs):
                out = e.step(_valid_action(e, r))
                outs.append(out)
                if out[2] or out[3]:
                    outs[-1] = (out, e.reset())
            assert_equal_nested(outs[0], outs[1], f"step {t}")
        # a fresh seed restarts the same sequence
        again = envs[0].reset(seed=seed)
        assert_equal_nested(first[0], again, "reset(seed) again")
    finally:
        for e in envs:
            e.close()


def check_pickle(env_id: str, **kwargs: Any) -> None:
    """A pickled and restored env continues exactly like the original."""
    env = _make(env_id, **kwargs)
    try:
        env.reset(seed=7)
        env.step(_valid_action(env, np.random.default_rng(0)))
        clone = pickle.loads(pickle.dumps(env))
        rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
        for _ in range(20):
            a, b = _valid_action(env, rng_a), _valid_action(clone, rng_b)
            assert a == b
            if getattr(env.unwrapped, "_needs_reset", False):
                oa, ob = env.reset(), clone.reset()
            else:
                oa, ob = env.step(a), clone.step(b)
            assert_equal_nested(oa, ob, "after unpickling")
    finally:
        env.close()


def check_spec_json(env_id: str) -> None:
    """The registered spec survives a JSON round trip and still builds the env."""
    spec = gym.spec(env_id)
    text = spec.to_json()
    again = gym.envs.registration.EnvSpec.from_json(text)
    assert again == spec, f"{env_id}: spec changed in a JSON round trip"
    json.loads(text)


def _expect(exc: type[BaseException] | tuple[type[BaseException], ...], fn: Callable[[], Any], what: str) -> None:
    try:
        fn()
    except exc as e:
        assert str(e), f"{what}: raised {type(e).__name__} without a message"
        return
    raise AssertionError(f"{what}: no error raised")


def check_bad_inputs(env_id: str, **kwargs: Any) -> None:
    """Bad actions and out-of-order calls raise clear errors (and leave the env usable)."""
    env = _make(env_id, **kwargs).unwrapped
    try:
        _expect(ResetNeeded, lambda: env.step(0), "step before reset")
        env.reset(seed=0)
        n = env.action_space.n  # type: ignore[attr-defined]
        for bad, what in [
            (n, "action == n"), (-1, "negative action"), (1.0, "float action"), (float("nan"), "NaN action"),
            (np.array([0, 1]), "wrong shape"), ("0", "string action"), (None, "None action"),
        ]:
            _expect(InvalidAction, lambda bad=bad: env.step(bad), what)
        # the env is still usable after rejected actions; run to the end, then stepping again fails
        rng = np.random.default_rng(0)
        for _ in range(10_000):
            _, _, term, trunc, _ = env.step(_valid_action(env, rng))
            if term or trunc:
                break
        else:
            raise AssertionError("episode did not end within 10,000 steps")
        _expect(ResetNeeded, lambda: env.step(0), "step after the episode ended")
        _expect(ValueError, lambda: env.reset(options={"index": -1}), "reset(options={'index': -1})")
        _expect(ValueError, lambda: env.reset(options={"bogus": 1}), "unknown reset option")
    finally:
        env.close()


def run_episodes(env_id: str, seed: int, episodes: int, *, pin_index: bool = False, **kwargs: Any) -> int:
    """Play ``episodes`` episodes with seeded random actions (and random pinned examples); return steps."""
    env = _make(env_id, **kwargs)
    rng = np.random.default_rng(seed)
    steps = 0
    try:
        num = env.unwrapped.num_examples
        for ep in range(episodes):
            options = {"index": int(rng.integers(num))} if pin_index and rng.random() < 0.5 else None
            obs, info = env.reset(seed=seed + ep if ep % 3 == 0 else None, options=options)
            assert env.observation_space.contains(obs), f"reset observation outside the space (episode {ep})"
            while True:
                obs, reward, term, trunc, info = env.step(_valid_action(env, rng))
                steps += 1
                assert np.isfinite(reward), f"non-finite reward {reward}"
                assert env.observation_space.contains(obs), f"observation outside the space (episode {ep})"
                if term or trunc:
                    break
    finally:
        env.close()
    return steps


def check_random_episodes(env_id: str, episodes: int = 50, seed: int = 0, **kwargs: Any) -> None:
    """Seeded random episodes with random options: observations stay in the space, no crash."""
    run_episodes(env_id, seed, episodes, pin_index=True, **kwargs)


def check_vector_matches_sync(env_id: str, num_envs: int = 4, steps: int = 150, seed: int = 3, **kwargs: Any) -> None:
    """The native vector env (``vector_entry_point``) equals ``SyncVectorEnv`` step for step."""
    sync = gym.vector.SyncVectorEnv([lambda: _make(env_id, **kwargs) for _ in range(num_envs)])
    native = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    try:
        assert native.metadata.get("autoreset_mode") == sync.metadata.get("autoreset_mode")
        assert native.single_observation_space == sync.single_observation_space
        assert native.single_action_space == sync.single_action_space
        o1, i1 = sync.reset(seed=seed)
        o2, i2 = native.reset(seed=seed)
        assert_equal_nested(o1, o2, "reset obs")
        _assert_infos_equal(i1, i2, "reset")
        rng = np.random.default_rng(seed)
        n = native.single_action_space.n  # type: ignore[attr-defined]
        for t in range(steps):
            masks = native.unwrapped.action_masks()
            actions = np.array([rng.choice(np.flatnonzero(m)) if m.any() else rng.integers(n) for m in masks])
            s = sync.step(actions)
            v = native.step(actions)
            for k, name in enumerate(("obs", "reward", "terminated", "truncated")):
                assert_equal_nested(s[k], v[k], f"step {t} {name}")
            _assert_infos_equal(s[4], v[4], f"step {t}")
    finally:
        sync.close()
        native.close()


def _assert_infos_equal(a: dict[str, Any], b: dict[str, Any], where: str) -> None:
    keys = {k for k in a if not k.startswith("_")}
    assert keys == {k for k in b if not k.startswith("_")}, f"{where}: info keys {sorted(keys)} vs {sorted(b)}"
    for k in keys:
        ma, mb = a[f"_{k}"], b[f"_{k}"]
        assert np.array_equal(ma, mb), f"{where}: info mask of {k!r} differs"
        for i in np.flatnonzero(ma):
            assert_equal_nested(a[k][i], b[k][i], f"{where} info[{k!r}][{i}]")


def check_all(env_id: str, *, episodes: int = 50, **kwargs: Any) -> None:
    """Run every check on ``env_id``."""
    check_gymnasium(env_id, **kwargs)
    check_sb3(env_id, **kwargs)
    check_seeded_rollouts(env_id, **kwargs)
    check_pickle(env_id, **kwargs)
    check_spec_json(env_id)
    check_bad_inputs(env_id, **kwargs)
    check_random_episodes(env_id, episodes=episodes, **kwargs)
    check_vector_matches_sync(env_id, **kwargs)
