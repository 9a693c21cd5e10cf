"""SB3 baselines: extractors, the native vec-env adapter, training, save/load, random/majority."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.vec_env import DummyVecEnv

import nlp_envs
from nlp_envs.agents import sb3
from nlp_envs.agents.baselines import MajorityPolicy, RandomPolicy, make_baseline
from nlp_envs.agents.extractors import EmbeddingBagExtractor, TinyTransformerExtractor
from tests.helpers import mask_checked, registered, registered_params

FAMILY_IDS = ["TextCls-v0", "NerTag-v0", "DialogReply-v0", "DialogSelect-v0"]




# -- extractors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", registered_params(FAMILY_IDS))
@pytest.mark.parametrize("cls", [EmbeddingBagExtractor, TinyTransformerExtractor])
def test_extractor_forward(env_id, cls):
    venv = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point")
    obs, _ = venv.reset(seed=0)
    space = venv.single_observation_space
    ext = cls(space, embed_dim=16, **({"num_heads": 2} if cls is TinyTransformerExtractor else {}))
    assert ext.vocab_size == max(int(s.high.max()) for k, s in space.spaces.items() if k.endswith("_ids")) + 1
    tensors = {k: th.as_tensor(v).float() for k, v in obs.items()}  # SB3 hands the extractor floats
    out = ext(tensors)
    assert out.shape == (3, ext.features_dim)
    assert th.isfinite(out).all()
    venv.close()


def test_transformer_empty_text_is_finite():
    space = gym.spaces.Dict({"reply_ids": gym.spaces.Box(0, 99, (8,), np.int64),
                             "reply_mask": gym.spaces.Box(0, 1, (8,), np.int64),
                             "reply_length": gym.spaces.Box(0, 8, (1,), np.int64)})
    ext = TinyTransformerExtractor(space, embed_dim=16, num_heads=2)
    out = ext({"reply_ids": th.zeros(2, 8), "reply_mask": th.zeros(2, 8), "reply_length": th.zeros(2, 1)})
    assert th.isfinite(out).all()


# -- the adapter ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", registered_params(FAMILY_IDS))
def test_adapter_matches_dummy_vec_env(env_id):
    n, steps = 4, 60
    native = sb3.make_sb3_vec_env(env_id, n, vec_env="native")
    dummy = DummyVecEnv([lambda: gym.make(env_id) for _ in range(n)])
    for env in (native, dummy):
        env.seed(7)
    obs_a, obs_b = native.reset(), dummy.reset()
    rng = np.random.default_rng(0)
    ended = 0
    returns_a, returns_b = np.zeros(n), np.zeros(n)
    for _ in range(steps):
        for k in obs_a:
            np.testing.assert_array_equal(obs_a[k], obs_b[k], err_msg=k)
        masks = np.stack(native.env_method("action_masks"))
        if dummy.has_attr("action_masks"):  # TextClsEnv has none (all actions valid)
            np.testing.assert_array_equal(masks, np.stack(dummy.env_method("action_masks")))
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
        obs_a, r_a, d_a, info_a = native.step(actions)
        obs_b, r_b, d_b, info_b = dummy.step(actions)
        np.testing.assert_allclose(r_a, r_b)
        np.testing.assert_array_equal(d_a, d_b)
        returns_a += r_a
        returns_b += r_b
        for i in np.flatnonzero(d_a):
            ended += 1
            assert info_a[i]["TimeLimit.truncated"] == info_b[i]["TimeLimit.truncated"]
            for k, v in info_b[i]["terminal_observation"].items():
                np.testing.assert_array_equal(info_a[i]["terminal_observation"][k], v, err_msg=k)
    np.testing.assert_allclose(returns_a, returns_b)
    assert ended > 0
    native.close()
    dummy.close()


def test_adapter_get_attr_and_seeds():
    env = sb3.make_sb3_vec_env("TextCls-v0", 2)
    assert env.get_attr("label_names")[0] == gym.make("TextCls-v0").unwrapped.label_names
    assert env.has_attr("action_masks")
    env.seed(3)
    a = env.reset()
    env.seed(3)
    np.testing.assert_array_equal(a["input_ids"], env.reset()["input_ids"])
    env._seeds = [1, 5]
    with pytest.raises(ValueError, match="consecutive"):
        env.reset()


# -- hyperparameters -----------------------------------------------------------------------------------
def test_hyperparams_overrides_and_checks():
    over = sb3.parse_overrides(["learning_rate=3e-3", "net_arch=[32, 32]", "extractor_kwargs.embed_dim=8"])
    assert over["learning_rate"] == pytest.approx(3e-3)
    hp = sb3.load_hyperparams("TextCls-v0", "sb3-ppo", over)
    assert hp["net_arch"] == [32, 32] and hp["extractor_kwargs"]["embed_dim"] == 8
    assert hp["gamma"] == 0.0  # the env-id entry overrides the defaults
    env = sb3.make_sb3_vec_env("TextCls-v0", 2)
    with pytest.raises(ValueError, match=r"batch_size 512 > n_steps \* n_envs = 8 \* 2 = 16"):
        sb3.build_model("sb3-ppo", env, {**hp, "n_steps": 8, "batch_size": 512}, seed=0)
    with pytest.raises(ValueError, match="unknown algo"):
        sb3.load_hyperparams("TextCls-v0", "ppo")


# -- training, save / load -----------------------------------------------------------------------------
def test_ppo_beats_majority_textcls(sb3_textcls_ppo_run):
    majority = nlp_envs.evaluate("TextCls-v0", MajorityPolicy.fit("TextCls-v0"), split="test")
    acc = sb3_textcls_ppo_run["metrics"]["accuracy"]
    assert acc > majority["accuracy"] + 0.2, (acc, majority["accuracy"])
    out = sb3_textcls_ppo_run["run_dir"]
    run = json.loads(open(f"{out}/run.json").read())
    assert run["kind"] == "sb3" and run["env_id"] == "TextCls-v0" and run["algo"] == "sb3-ppo"
    assert json.loads(open(f"{out}/metrics.json").read())["accuracy"] == acc


def test_save_load_round_trip(sb3_textcls_ppo_run):
    env_id, env_kwargs, model = sb3.load_sb3_policy(sb3_textcls_ppo_run["run_dir"])
    assert env_id == "TextCls-v0" and env_kwargs == {}
    fresh = sb3._algo_class("sb3-ppo").load(f"{sb3_textcls_ppo_run['run_dir']}/model.zip")
    venv = gym.make_vec("TextCls-v0", num_envs=32, vectorization_mode="vector_entry_point", split="test")
    obs, _ = venv.reset(seed=1)
    a1, _ = model.predict(obs, deterministic=True)
    a2, _ = fresh.predict(obs, deterministic=True)
    np.testing.assert_array_equal(a1, a2)
    assert nlp_envs.evaluate(env_id, model, split="test")["accuracy"] == sb3_textcls_ppo_run["metrics"]["accuracy"]


@pytest.mark.skipif(not registered("NerTag-v0"), reason="NerTag-v0 not registered")
def test_maskable_ppo_never_takes_masked_action():
    from sb3_contrib import MaskablePPO

    env = mask_checked(sb3.make_sb3_vec_env("NerTag-v0", 4))
    hp = sb3.load_hyperparams("NerTag-v0", "sb3-maskable-ppo", {"n_steps": 32, "batch_size": 64,
                                                                "extractor_kwargs": {"embed_dim": 16}})
    model = sb3.build_model("sb3-maskable-ppo", env, hp, seed=0)
    assert isinstance(model, MaskablePPO)
    model.learn(256)
    assert env.checked >= 256
    obs = env.reset()
    for _ in range(50):
        masks = np.stack(env.env_method("action_masks"))
        actions, _ = model.predict(obs, action_masks=masks, deterministic=False)
        obs, *_ = env.step(actions)


# -- random / majority ---------------------------------------------------------------------------------
def test_majority_textcls_equals_test_share():
    train = gym.make("TextCls-v0", split="train").unwrapped
    test = gym.make("TextCls-v0", split="test").unwrapped
    label = np.bincount(train.labels).argmax()
    policy = MajorityPolicy.fit("TextCls-v0")
    result = nlp_envs.evaluate("TextCls-v0", policy, split="test")
    assert result["accuracy"] == pytest.approx(np.mean(test.labels == label))
    assert result["num_examples"] == test.num_examples


def test_random_textcls_and_masks():
    policy = make_baseline("random", "TextCls-v0", seed=0)
    acc = nlp_envs.evaluate("TextCls-v0", policy, split="test")["accuracy"]
    assert 0.0 < acc < 0.2  # 16 labels: chance is 1/16
    masks = np.zeros((500, 5), dtype=bool)
    masks[:, [1, 3]] = True
    acts = RandomPolicy(5, seed=0)({"x": np.zeros((500, 2))}, action_masks=masks)
    assert set(acts.tolist()) == {1, 3}


@pytest.mark.parametrize("env_id", [p for p in registered_params(FAMILY_IDS) if p.values[0] != "TextCls-v0"])
def test_baselines_other_families(env_id):
    for name in ("random", "majority"):
        result = nlp_envs.evaluate(env_id, make_baseline(name, env_id, seed=0), split="test")
        assert result["num_examples"] > 0
