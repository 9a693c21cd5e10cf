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
* :func:`check_vector_matches_sync` - the native vector env equals ``SyncVectorEnv`` step for step, in
  each autoreset mode (NEXT_STEP, SAME_STEP, DISABLED);
* :func:`check_info_batches` - info that batches: the same keys on every step, fixed-shape numpy
  values only, ``action_mask`` on every step of a masked env (the terminal one included);
* :func:`check_make_vec_autoreset` - ``make_vec(..., vector_kwargs={"autoreset_mode": m})`` and the
  kwarg build the native vector env in mode ``m`` (``metadata["autoreset_mode"]``);
* :func:`check_flat_obs` - ``obs_mode="flat"``: one ``int64`` Box equal to the flattened Dict;
* :func:`check_family_contract` - the id's family contract (:mod:`nlp_envs.family`) is registered, its env
  classes point to it, the vector env builds its evaluator, whose output holds its main metric;
* :func:`check_gold_episodes` - the contract's gold: ``gold_episodes()`` rows are the reset observations, and
  the gold actions replayed end each episode exactly at its last real step;
* :func:`check_text_mode` - ``obs_mode="text"``: strict ``check_env``, seeded runs equal, pickle, the bad-input
  table (non-strings rejected; unparsable, empty and 100,000-character answers scored, never raised), gold
  answers parse, the text vector env equals single envs.
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
from nlp_envs.family import FAMILIES, GOLD_EPISODES, GOLD_RESET_INFO, family_of_env


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


def check_vector_matches_sync(env_id: str, num_envs: int = 4, steps: int = 150, seed: int = 3,
                              autoreset_mode: Any = None, **kwargs: Any) -> None:
    """The native vector env (``vector_entry_point``) equals ``SyncVectorEnv`` step for step, in
    Gymnasium's autoreset mode ``autoreset_mode`` (None: each of NEXT_STEP, SAME_STEP and DISABLED;
    DISABLED resets the ended sub-envs with ``reset(options={"reset_mask": ...})``): observations,
    rewards, terminations, truncations and infos (``final_obs``/``final_info`` included), values,
    masks and dtypes; ``metadata["autoreset_mode"]`` is the mode."""
    from gymnasium.vector import AutoresetMode

    modes = list(AutoresetMode) if autoreset_mode is None else [AutoresetMode(autoreset_mode)]
    for mode in modes:
        sync = gym.vector.SyncVectorEnv([lambda: _make(env_id, **kwargs) for _ in range(num_envs)],
                                        autoreset_mode=mode)
        native = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point",
                              autoreset_mode=mode, **kwargs)
        where = f"{env_id} {mode.name}"
        try:
            assert native.metadata.get("autoreset_mode") == sync.metadata.get("autoreset_mode") == mode, where
            assert native.single_observation_space == sync.single_observation_space
            assert native.single_action_space == sync.single_action_space
            o1, i1 = sync.reset(seed=seed)
            o2, i2 = native.reset(seed=seed)
            assert_equal_nested(o1, o2, f"{where} reset obs")
            _assert_infos_equal(i1, i2, f"{where} reset")
            rng = np.random.default_rng(seed)
            n = native.single_action_space.n  # type: ignore[attr-defined]
            for t in range(steps):
                masks = native.unwrapped.action_masks()
                actions = np.array([rng.choice(np.flatnonzero(m)) if m.any() else rng.integers(n) for m in masks])
                s = sync.step(actions)
                v = native.step(actions)
                for k, name in enumerate(("obs", "reward", "terminated", "truncated")):
                    assert_equal_nested(s[k], v[k], f"{where} step {t} {name}")
                _assert_infos_equal(s[4], v[4], f"{where} step {t}")
                done = s[2] | s[3]
                if mode == AutoresetMode.DISABLED and done.any():
                    o1, i1 = sync.reset(options={"reset_mask": done.copy()})
                    o2, i2 = native.reset(options={"reset_mask": done.copy()})
                    assert_equal_nested(o1, o2, f"{where} step {t} reset_mask obs")
                    _assert_infos_equal(i1, i2, f"{where} step {t} reset_mask")
        finally:
            sync.close()
            native.close()


def _info_layout(info: dict[str, Any], where: str) -> dict[str, tuple[Any, tuple[int, ...]]]:
    layout = {}
    for k, v in info.items():
        assert isinstance(v, (np.ndarray, np.generic)), f"{where}: info[{k!r}] is a {type(v).__name__}, not numpy"
        assert v.dtype.kind in "biuf", f"{where}: info[{k!r}] has dtype {v.dtype} (not a fixed-shape number)"
        layout[k] = (v.dtype, v.shape)
    return layout


def check_info_batches(env_id: str, episodes: int = 20, seed: int = 0, num_envs: int = 3, steps: int = 60,
                       **kwargs: Any) -> None:
    """Info that batches (default ``info_mode="lean"``): every ``reset`` and ``step`` returns the same
    keys with the same numpy dtypes and shapes (no Python numbers, strings or lists); a masked env (one
    whose ``action_masks()`` ever forbids an action, or that puts ``action_mask`` in info) has
    ``info["action_mask"]`` on every step, the terminal one included, equal to ``action_masks()``; in
    ``info_mode="full"`` those keys are still there. The native vector env's infos are all-True masked
    numeric arrays."""
    env = _make(env_id, **kwargs)
    full = _make(env_id, info_mode="full", **kwargs)
    rng = np.random.default_rng(seed)
    masked = False
    try:
        base = env.unwrapped
        _, info = env.reset(seed=seed)
        _, full_info = full.reset(seed=seed)
        layout = _info_layout(info, f"{env_id} reset")
        assert set(layout) <= set(full_info), f"{env_id}: full info lacks {sorted(set(layout) - set(full_info))}"
        for ep in range(episodes):
            for t in range(10_000):
                masks = getattr(base, "action_masks", None)
                if masks is not None and not np.asarray(masks()).all():
                    masked = True
                a = _valid_action(env, rng)
                _, _, term, trunc, info = env.step(a)
                _, _, _, _, full_info = full.step(a)
                where = f"{env_id} episode {ep} step {t}"
                got = _info_layout(info, where)
                assert got == layout, f"{where}: info keys/dtypes/shapes {got} differ from reset's {layout}"
                assert set(layout) <= set(full_info), f"{where}: full info lacks {sorted(set(layout) - set(full_info))}"
                if "action_mask" in info:
                    assert np.array_equal(info["action_mask"], base.action_masks()), f"{where}: action_mask != action_masks()"
                if term or trunc:
                    break
            s = int(rng.integers(2**31))  # both in step: the same examples
            _, info = env.reset(seed=s)
            full.reset(seed=s)
            assert _info_layout(info, f"{env_id} reset {ep}") == layout
        if masked:
            assert "action_mask" in layout, f"{env_id} masks actions but has no info['action_mask']"
    finally:
        env.close()
        full.close()
    venv = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    try:
        _, infos = venv.reset(seed=seed)
        for t in range(steps + 1):
            for k, v in infos.items():
                assert isinstance(v, np.ndarray) and v.dtype.kind in "biuf", f"{env_id} vector info[{k!r}]: {v!r}"
                if k.startswith("_"):
                    assert v.all(), f"{env_id} vector step {t}: info mask {k!r} is not all True"
            masks = venv.unwrapped.action_masks()
            actions = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
            _, _, _, _, infos = venv.step(actions)
    finally:
        venv.close()


def check_make_vec_autoreset(env_id: str, num_envs: int = 2, **kwargs: Any) -> None:
    """``gym.make_vec(id, vectorization_mode="vector_entry_point", vector_kwargs={"autoreset_mode": m})``
    and ``make_vec(..., autoreset_mode=m)`` build the native vector env in mode ``m`` for each of the
    three modes, with ``metadata["autoreset_mode"] == m``."""
    from gymnasium.vector import AutoresetMode

    for mode in AutoresetMode:
        for how in ({"vector_kwargs": {"autoreset_mode": mode}}, {"autoreset_mode": mode}):
            venv = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **how, **kwargs)
            try:
                assert venv.metadata["autoreset_mode"] == mode and venv.unwrapped.autoreset_mode == mode, (env_id, how)
                assert isinstance(venv.unwrapped, family_of_env(env_id).vector_env_class), type(venv.unwrapped)
            finally:
                venv.close()


def check_flat_obs(env_id: str, steps: int = 30, seed: int = 0, **kwargs: Any) -> None:
    """``obs_mode="flat"``: the observation space is one ``int64`` Box, ``gymnasium.spaces.flatten_space``
    of the Dict, and every observation equals the flattened Dict observation of the same episode."""
    flat = _make(env_id, obs_mode="flat", **kwargs)
    ref = _make(env_id, **kwargs)
    rng = np.random.default_rng(seed)
    try:
        space = flat.observation_space
        assert isinstance(space, gym.spaces.Box) and space.dtype == np.int64, space
        assert space == gym.spaces.flatten_space(ref.observation_space), "flat space != flatten_space(Dict)"
        o1, _ = flat.reset(seed=seed)
        o2, _ = ref.reset(seed=seed)
        for t in range(steps):
            assert space.contains(o1), f"step {t}: flat observation outside the space"
            assert np.array_equal(o1, gym.spaces.flatten(ref.observation_space, o2)), f"step {t}: flat obs differs"
            a = _valid_action(ref, rng)
            o1, _, term, trunc, _ = flat.step(a)
            o2, _, _, _, _ = ref.step(a)
            if term or trunc:
                o1, _ = flat.reset()
                o2, _ = ref.reset()
    finally:
        flat.close()
        ref.close()


def _assert_infos_equal(a: dict[str, Any], b: dict[str, Any], where: str) -> None:
    keys = {k for k in a if not k.startswith("_")}
    assert keys == {k for k in b if not k.startswith("_")}, f"{where}: info keys {sorted(keys)} vs {sorted(b)}"
    for k in keys:
        ma, mb = a[f"_{k}"], b[f"_{k}"]
        assert np.array_equal(ma, mb), f"{where}: info mask of {k!r} differs"
        if isinstance(a[k], dict):  # final_info
            assert isinstance(b[k], dict), f"{where}: info[{k!r}] is a {type(b[k]).__name__}"
            _assert_infos_equal(a[k], b[k], f"{where} info[{k!r}]")
            continue
        assert a[k].shape == b[k].shape, f"{where}: info[{k!r}] shape {a[k].shape} vs {b[k].shape}"
        assert a[k].dtype == b[k].dtype, f"{where}: info[{k!r}] dtype {a[k].dtype} vs {b[k].dtype}"
        for i in np.flatnonzero(ma):
            assert_equal_nested(a[k][i], b[k][i], f"{where} info[{k!r}][{i}]")


def _eval_split(env_id: str, kwargs: dict[str, Any]) -> str:
    return str(kwargs.get("split") or gym.spec(env_id).kwargs.get("split") or "test")


def check_family_contract(env_id: str, examples: int = 16, **kwargs: Any) -> None:
    """The family contract of ``env_id``: registered under its name, pointed to by the env classes (``family``,
    ``task``), its evaluator the one the vector env builds, and its main (and second) metric in the output of
    ``nlp_envs.evaluate`` (random scores over the first ``examples`` of the evaluation split)."""
    from nlp_envs.evaluation import evaluate, make_vector_env

    fam = family_of_env(env_id)
    assert FAMILIES.get(fam.name) is fam, f"{env_id}: family {fam.name!r} is not the registered one"
    env = _make(env_id, **kwargs)
    try:
        base = env.unwrapped
        assert isinstance(base, fam.env_class), f"{env_id}: {type(base).__name__} is not {fam.env_class.__name__}"
        assert type(base).family is fam and base.task == fam.data.name, f"{env_id}: the env class's family/task"
        n = int(env.action_space.n)  # type: ignore[attr-defined]
    finally:
        env.close()
    split = f"{_eval_split(env_id, kwargs)}[:{examples}]"
    rest = {k: v for k, v in kwargs.items() if k != "split"}
    venv = make_vector_env(env_id, num_envs=1, split=split, order="sequential", info_mode="full", **rest)
    try:
        assert isinstance(venv.unwrapped, fam.vector_env_class), f"{env_id}: vector env is not the contract's"
        evaluator = venv.make_evaluator()
        assert isinstance(evaluator, fam.evaluator), (
            f"{env_id}: make_evaluator() gives {type(evaluator).__name__}, the contract says {fam.evaluator.__name__}")
    finally:
        venv.close()
    rng = np.random.default_rng(0)

    def random_scores(obs: dict[str, np.ndarray], action_masks: np.ndarray) -> np.ndarray:
        return np.where(np.asarray(action_masks, dtype=bool), rng.random((len(action_masks), n)), -1.0)

    result = evaluate(env_id, random_scores, split=split, num_envs=4, **rest)
    for metric in filter(None, (fam.main_metric, fam.second_metric)):
        assert metric in result, f"{env_id}: the evaluator's output has no {metric!r} (keys {sorted(result)})"
    assert np.isfinite(float(result[fam.main_metric])), f"{env_id}: {fam.main_metric} = {result[fam.main_metric]}"


def check_gold_episodes(env_id: str, examples: int = 8, **kwargs: Any) -> None:
    """The gold the family contract declares. ``gold="episodes"``: ``gold_episodes()`` has one row per example,
    row ``i`` of its observations equals ``reset(options={"index": i})``'s, and its gold actions, replayed,
    end the episode exactly at the row's last real step (checked on ``examples`` examples, the first and the
    last included). ``gold="reset_info"``: the reset info holds a valid gold action."""
    fam = family_of_env(env_id)
    env = _make(env_id, **kwargs)
    base = env.unwrapped
    n = int(env.action_space.n)  # type: ignore[attr-defined]
    try:
        if fam.gold == GOLD_RESET_INFO:
            _, info = env.reset(seed=0)
            assert 0 <= int(info[fam.gold_info_key]) < n, f"{env_id}: reset info {fam.gold_info_key!r} is no action"
            return
        if fam.gold != GOLD_EPISODES:
            return
        gold = base.gold_episodes()
        count = int(base.num_examples)
        assert len(gold) == count and gold.mask.shape == gold.actions.shape, f"{env_id}: gold shapes"
        assert gold.actions.dtype == np.int64 and gold.mask.dtype == bool, f"{env_id}: gold dtypes"
        assert gold.mask[:, 0].all(), f"{env_id}: a gold episode without a step"
        pick = np.random.default_rng(0).choice(count, size=min(examples, count), replace=False)
        for i in sorted({0, count - 1, *pick.tolist()}):
            obs, _ = env.reset(options={"index": i})
            want = {k: np.asarray(v[i]) for k, v in gold.obs.items()}
            if base.obs_mode == "flat":
                want = {"flat": base.flatten_obs(want)}
                obs = {"flat": obs}
            assert set(want) == set(obs), f"{env_id}: gold observation keys {sorted(want)} vs {sorted(obs)}"
            for k in obs:
                assert np.array_equal(want[k], obs[k]), f"{env_id} example {i}: gold observation {k!r} differs"
            steps = int(gold.mask[i].sum())
            for t in range(steps):
                a = int(gold.actions[i, t])
                assert 0 <= a < n, f"{env_id} example {i} step {t}: gold action {a} is not in [0, {n})"
                _, _, term, trunc, _ = env.step(a)
                assert (term or trunc) == (t == steps - 1), (
                    f"{env_id} example {i}: the gold episode has {steps} steps, the env "
                    f"{'ended at step ' + str(t + 1) if term or trunc else 'goes on'}")
    finally:
        env.close()


def _text_answers(env: gym.Env, rng: np.random.Generator, gold_pool: list[str]) -> str:
    """A random text answer: the gold one, another example's gold, a random string of the action space,
    an empty one, or unicode garbage."""
    k = int(rng.integers(5))
    if k == 0:
        return env.unwrapped.gold_answer()
    if k == 1 and gold_pool:
        return gold_pool[int(rng.integers(len(gold_pool)))]
    if k == 2:
        chars = env.action_space.character_list  # type: ignore[attr-defined]
        return "".join(chars[int(j)] for j in rng.integers(len(chars), size=int(rng.integers(1, 40))))
    if k == 3:
        return ""
    return "\u2603 \x00 ??? " + "".join(chr(int(c)) for c in rng.integers(0x20, 0x3000, size=8))


def check_text_mode(env_id: str, episodes: int = 30, seed: int = 0, **kwargs: Any) -> None:
    """``obs_mode="text"`` (:mod:`nlp_envs.text_mode`): Gymnasium's ``check_env`` with warnings as errors; the
    spaces are ``Text``; every prompt lies in the observation space and fits ``max_prompt_chars``; two envs with
    the same seed and answers give identical transitions; a pickled env continues like the original; the
    bad-input table: a non-``str`` action raises ``InvalidAction``, unparsable and 100,000-character answers set
    ``info["parse_error"]`` and earn ``parse_error_reward`` without raising, an empty answer never raises, the
    gold answer parses; every step's info has the same keys; the text vector env (``make_vec(...,
    obs_mode="text")``) equals single envs seeded ``seed + i``."""
    kwargs = {**kwargs, "obs_mode": "text"}
    check_gymnasium(env_id, **kwargs)
    envs = [_make(env_id, **kwargs) for _ in range(2)]
    try:
        env = envs[0]
        base = env.unwrapped
        assert isinstance(env.observation_space, gym.spaces.Text), env.observation_space
        assert isinstance(env.action_space, gym.spaces.Text), env.action_space
        gold_pool: list[str] = []
        for i in range(min(20, base.num_examples)):
            env.reset(seed=seed, options={"index": i})
            gold_pool.append(base.gold_answer())
        rngs = [np.random.default_rng(seed) for _ in range(2)]
        keys = None
        for ep in range(episodes):
            outs = [e.reset(seed=seed + ep) for e in envs]
            assert_equal_nested(outs[0], outs[1], f"{env_id} text reset {ep}")
            for t in range(10_000):
                prompt = outs[0][0]
                assert env.observation_space.contains(prompt), f"{env_id} episode {ep} step {t}: prompt outside the space"
                assert len(prompt) <= base.max_prompt_chars
                gold = base.gold_answer()
                assert base.parse_answer(gold).ok, f"{env_id} episode {ep}: the gold answer {gold!r} does not parse: " \
                                                   f"{base.parse_answer(gold).error}"
                answers = [_text_answers(e, r, gold_pool) for e, r in zip(envs, rngs)]
                assert answers[0] == answers[1]
                outs = [e.step(a) for e, a in zip(envs, answers)]
                assert_equal_nested(outs[0], outs[1], f"{env_id} text episode {ep} step {t}")
                _, reward, term, trunc, info = outs[0]
                assert isinstance(info["parse_error"], str)
                if info["parse_error"]:
                    assert reward == base.parse_error_reward, f"{env_id}: a parse error earned {reward}"
                keys = keys or set(info)
                assert set(info) == keys, f"{env_id} step {t}: info keys {sorted(info)} vs {sorted(keys)}"
                assert np.isfinite(reward)
                if term or trunc:
                    break
            else:
                raise AssertionError(f"{env_id}: a text episode did not end within 10,000 answers")
        # pickle mid-run
        env.reset(seed=seed + 1)
        clone = pickle.loads(pickle.dumps(env))
        for a in (gold_pool[0], "", "???"):
            if base._needs_reset:
                assert_equal_nested(env.reset(seed=3), clone.reset(seed=3), f"{env_id} text pickle reset")
            assert_equal_nested(env.step(a), clone.step(a), f"{env_id} text pickle step {a!r}")
        clone.close()
    finally:
        for e in envs:
            e.close()
    env = _make(env_id, parse_error_reward=-0.5, **kwargs).unwrapped
    try:
        _expect(ResetNeeded, lambda: env.step("x"), "text step before reset")
        env.reset(seed=seed)
        for bad, what in [(0, "int action"), (None, "None action"), (b"bytes", "bytes action"),
                          (["a"], "list action"), (np.array(["a"]), "array action")]:
            _expect(InvalidAction, lambda bad=bad: env.step(bad), what)
        for bad, what in [("x" * 100_000, "a 100,000-character answer"), ("\x00\ufffd\u2603 %%% ###", "garbage"),
                          (")))(((", "unparsable answer")]:
            env.reset(seed=seed)
            _, reward, _, _, info = env.step(bad)
            if what == "a 100,000-character answer" or family_of_env(env_id).name != "DialogReply":
                assert info["parse_error"], f"{env_id}: {what} parsed ({info})"
            if info["parse_error"]:
                assert reward == -0.5, f"{env_id}: {what}: reward {reward}, parse_error_reward -0.5"
        env.reset(seed=seed)
        _, reward, _, _, info = env.step("")
        assert isinstance(info["parse_error"], str) and np.isfinite(reward)
    finally:
        env.close()
    num_envs = 3
    venv = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    singles = [_make(env_id, **kwargs) for _ in range(num_envs)]
    try:
        assert isinstance(venv.single_observation_space, gym.spaces.Text)
        prompts, _ = venv.reset(seed=seed)
        for i, e in enumerate(singles):
            p, _ = e.reset(seed=seed + i)
            assert prompts[i] == p, f"{env_id}: text vector sub-env {i} differs from a single env seeded {seed + i}"
        answers = [e.unwrapped.gold_answer() for e in singles]
        _, rewards, _, _, _ = venv.step(tuple(answers))
        for i, e in enumerate(singles):
            assert rewards[i] == e.step(answers[i])[1], f"{env_id}: text vector reward {i}"
    finally:
        venv.close()
        for e in singles:
            e.close()


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
    check_info_batches(env_id, **kwargs)
    check_make_vec_autoreset(env_id, **kwargs)
    check_flat_obs(env_id, **kwargs)
    check_family_contract(env_id, **kwargs)
    check_gold_episodes(env_id, **kwargs)
    check_text_mode(env_id, **kwargs)
