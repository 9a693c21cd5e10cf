"""Recipes (nlp_envs/agents/recipes.py, nlp_envs/agents/hyperparams/transformer.yml) and the trainer mechanics they tune:
gamma=0, per-group learning rates with warmup/decay, REINFORCE steps per wave, GRPO's flat groups, the
sample-efficiency curve."""

from __future__ import annotations

import json
import math

import pytest
import torch

from nlp_envs.agents.config import GRPOConfig, PPOConfig, ReinforceConfig, make_config
from nlp_envs.agents.recipes import RECIPES_PATH, recipe
from nlp_envs.agents.run import lr_factor, param_groups
from nlp_envs.agents.train import train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_every_recipe_resolves_for_every_registered_id():
    from nlp_envs.registration import registered_ids

    for algo in ("reinforce", "ppo", "grpo", "supervised"):
        for env_id in registered_ids():
            for backbone in ("tiny", "minilm"):
                fields, env_kwargs = recipe(env_id, algo, backbone)
                make_config(algo, **fields)  # every value passes the config's checks
                assert isinstance(env_kwargs, dict)


def test_family_fallback_backbone_entry_and_unknown_field(tmp_path):
    y = tmp_path / "t.yml"
    y.write_text("ppo:\n  defaults: {ent_coef: 0.1}\n  TextCls-v0:\n    gamma: 0.5\n    env_kwargs: {max_length: 16}\n"
                 "    backbones: {minilm: {lr: 1.0e-4}}\n  NerTag-v0: {inherit: TextCls-v0, gamma: 0.0}\n")
    assert recipe("TextCls-Banking77-v0", "ppo", "tiny", path=y) == ({"ent_coef": 0.1, "gamma": 0.5}, {"max_length": 16})
    assert recipe("TextCls-v0", "ppo", "minilm", path=y)[0] == {"ent_coef": 0.1, "gamma": 0.5, "lr": 1e-4}
    assert recipe("NerTag-v0", "ppo", "tiny", path=y)[0]["gamma"] == 0.0
    assert recipe("DialogReply-v0", "ppo", "tiny", path=y) == ({"ent_coef": 0.1}, {})
    y.write_text("ppo:\n  TextCls-v0: {gamma_typo: 0.5}\n")
    with pytest.raises(ValueError, match="gamma_typo"):
        recipe("TextCls-v0", "ppo", "tiny", path=y)


def test_train_applies_the_recipe_and_set_wins(tmp_path):
    fields, _ = recipe("NerTag-v0", "ppo", "tiny")
    assert fields, f"{RECIPES_PATH} has no PPO recipe for NerTag-v0"
    train("NerTag-v0", "ppo", total_steps=64, num_envs=4, out=str(tmp_path / "a"), progress=False, eval_split="")
    cfg = json.loads((tmp_path / "a" / "checkpoint" / "config.json").read_text())
    for k, v in fields.items():
        if k not in ("num_envs", "total_steps"):
            assert cfg[k] == v, k
    train("NerTag-v0", "ppo", total_steps=64, num_envs=4, out=str(tmp_path / "b"), progress=False, eval_split="",
          gamma=0.5)
    assert json.loads((tmp_path / "b" / "checkpoint" / "config.json").read_text())["gamma"] == 0.5
    train("NerTag-v0", "ppo", total_steps=64, num_envs=4, out=str(tmp_path / "c"), progress=False, eval_split="",
          use_recipe=False)
    assert json.loads((tmp_path / "c" / "checkpoint" / "config.json").read_text())["gamma"] == PPOConfig.gamma


def test_config_checks():
    assert PPOConfig(gamma=0.0).gamma == 0.0
    for bad in ({"gamma": -0.1}, {"gamma": 1.5}, {"backbone_lr": 0.0}, {"warmup_frac": 1.0}, {"lr_decay": "step"}):
        with pytest.raises(ValueError):
            PPOConfig(**bad)
    with pytest.raises(ValueError, match="update_epochs"):
        ReinforceConfig(update_epochs=0)
    with pytest.raises(ValueError, match="flat_groups"):
        GRPOConfig(flat_groups="drop")


def test_learning_rate_schedule():
    c = PPOConfig(total_steps=1000, warmup_frac=0.1, lr_decay="linear")
    assert lr_factor(c, 50) == pytest.approx(0.5)
    assert lr_factor(c, 100) == pytest.approx(1.0)
    assert lr_factor(c, 550) == pytest.approx(0.5)
    assert lr_factor(c, 1000) == pytest.approx(1e-3)  # floored, never 0
    c = PPOConfig(total_steps=1000, lr_decay="cosine")
    assert lr_factor(c, 500) == pytest.approx(0.5)
    assert lr_factor(PPOConfig(total_steps=1000), 999) == 1.0


def test_param_groups_split_backbone_and_heads():
    from nlp_envs.agents.run import build_policy

    policy, _ = build_policy("TextCls-v0", {}, "tiny")
    groups = param_groups(policy, PPOConfig(lr=1e-3, backbone_lr=1e-5))
    by_name = {g["name"]: g for g in groups}
    assert by_name["heads"]["lr"] == 1e-3 and by_name["backbone"]["lr"] == 1e-5
    n_body = sum(p.numel() for p in policy.encoder.parameters())
    assert sum(p.numel() for p in by_name["backbone"]["params"]) == n_body
    total = sum(p.numel() for g in groups for p in g["params"])
    assert total == sum(p.numel() for p in policy.parameters())
    for p in policy.encoder.parameters():  # frozen parameters are left out
        p.requires_grad_(False)
    assert [g["name"] for g in param_groups(policy, PPOConfig())] == ["heads"]


def test_grpo_flat_groups_get_a_batch_baseline():
    """Group 0 all wrong, group 1 mixed: 'batch' pushes group 0 away from its answers, 'zero' wastes it."""
    from nlp_envs.agents.grpo import group_advantages

    returns = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]])
    adv, flat = group_advantages(returns, True, "batch")
    assert flat.tolist() == [True, False]
    assert (adv[0] < 0).all() and torch.allclose(adv[0], (0 - 0.25) / (returns.std() + 1e-4) * torch.ones(4))
    zero, _ = group_advantages(returns, True, "zero")
    assert (zero[0] == 0).all() and torch.allclose(zero[1], adv[1])
    assert torch.allclose(adv[1], torch.tensor([1.0, -1.0, 1.0, -1.0]) * 0.5 / (returns[1].std() + 1e-4))


def test_reinforce_several_steps_per_wave(tmp_path):
    res = train("TextCls-v0", "reinforce", total_steps=128, num_envs=32, update_epochs=3, out=str(tmp_path / "r"),
                progress=False, eval_split="", use_recipe=False)
    assert res["step"] == 128 and 0.0 <= res["losses/clipfrac"] <= 1.0


def test_curve_points_write_the_sample_efficiency_curve(tmp_path):
    res = train("TextCls-v0", "ppo", total_steps=256, num_envs=32, curve_points=4, out=str(tmp_path / "c"),
                progress=False, eval_envs=64)
    curve = json.loads((tmp_path / "c" / "eval_curve.json").read_text())
    assert [p["step"] for p in curve] == [64, 128, 192, 256]
    assert [p["examples"] for p in curve] == [64, 128, 192, 256]  # one-step env: an example per step
    assert curve[-1]["metrics"]["accuracy"] == res["eval/accuracy"]
    assert all(p["train_seconds"] >= 0 and not math.isnan(p["metrics"]["accuracy"]) for p in curve)
