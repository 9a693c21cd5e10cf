"""Transformer agents: learning, updates, checkpoints, resume, determinism, masking, every algo x family.

CPU-small: tiny backbones, a few iterations, shrunken embedded corpora where the test is not about learning.
"""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import nlp_envs  # noqa: F401
from nlp_envs.agents import load_policy
from nlp_envs.agents.config import make_config, parse_set
from nlp_envs.agents.policy import NEG, apply_mask, env_kwargs_for_backbone, gumbel_sample
from nlp_envs.agents.rollout import collect
from nlp_envs.agents.run import Run
from nlp_envs.agents.train import main, train
from tests.helpers import TINY_SIZES, metrics_rows, registered

FAMILY_IDS = ["TextCls-v0", "NerTag-v0", "DialogSelect-v0", "DialogReply-v0"]
ALGOS = ["reinforce", "ppo", "grpo", "supervised"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _quick(**kw):
    base = {"num_envs": 16, "progress": False, "eval_split": "", "checkpoint_every": 0}
    return {**base, **kw}


# ------------------------------------------------------------------------------------------------
def test_reward_rises_above_chance(tmp_path):
    """PPO (tiny) on TextCls-v0: within 3072 env steps the reward is above chance (1/16) by 1.5x and the test
    accuracy above 0.15 (measured 0.288 with seed 0 and the PPO defaults; 0.742 at 16k)."""
    res = train("TextCls-v0", "ppo", total_steps=3072, seed=0, out=str(tmp_path / "run"),
                **_quick(num_envs=64, eval_split="test"))
    rows = metrics_rows(tmp_path / "run")
    late = np.mean([float(r["charts/episode_return"]) for r in rows[-8:]])
    assert late > 1.5 / 16, f"mean reward of the last 8 rollouts {late:.3f} is not above chance"
    assert res["eval/accuracy"] > 0.15, res["eval/accuracy"]
    assert res["step"] == 3072


def test_parameters_change_after_update(tmp_path):
    cfg = make_config("reinforce", total_steps=16, **_quick())
    run = Run("TextCls-v0", cfg, backbone="tiny", out=tmp_path, env_kwargs={"dataset_kwargs": TINY_SIZES})
    before = {k: v.detach().clone() for k, v in run.policy.named_parameters()}
    from nlp_envs.agents import reinforce

    reinforce.train(run)
    changed = [k for k, v in run.policy.named_parameters() if not torch.equal(v, before[k])]
    assert any(k.startswith("encoder.") for k in changed) and any(k.startswith("head.") for k in changed)


def test_checkpoint_round_trip_gives_identical_greedy_actions(tmp_path):
    out = tmp_path / "run"
    train("TextCls-v0", "supervised", total_steps=64, out=str(out), env_kwargs={"dataset_kwargs": TINY_SIZES}, **_quick())
    for f in ("model.safetensors", "config.json", "optimizer.safetensors", "optimizer.json", "rng.json",
              "data_order.json", "trainer_state.json", "manifest.json"):
        assert (out / "checkpoint" / f).exists(), f
    info = json.loads((out / "run.json").read_text())
    assert info["kind"] == "transformer" and info["env_id"] == "TextCls-v0" and info["algo"] == "supervised"
    env_id, env_kwargs, policy = load_policy(out)
    venv = gym.make_vec(env_id, num_envs=8, vectorization_mode="vector_entry_point", **env_kwargs)
    obs, _ = venv.reset(seed=3)
    a1 = policy(obs).argmax(1)
    _, _, policy2 = load_policy(out)
    assert np.array_equal(a1, policy2(obs).argmax(1))
    # the trained weights, not a fresh init: the run's own evaluation agrees with the reloaded policy
    res = nlp_envs.evaluate(env_id, policy, split="test", **env_kwargs)
    res2 = nlp_envs.evaluate(env_id, policy2, split="test", **env_kwargs)
    assert res["accuracy"] == res2["accuracy"]


@pytest.mark.parametrize("algo", ["ppo", "supervised"])
def test_resume_continues_steps_and_data_order(tmp_path, algo):
    """A run stopped after 2 updates and resumed equals an uninterrupted run (same losses, same steps);
    two seeded runs give identical losses."""
    kw = _quick(num_envs=16)
    env_kwargs = {"dataset_kwargs": TINY_SIZES}
    train("TextCls-v0", algo, total_steps=64, seed=1, out=str(tmp_path / "full"), env_kwargs=env_kwargs, **kw)
    train("TextCls-v0", algo, total_steps=32, seed=1, out=str(tmp_path / "part"), env_kwargs=env_kwargs, **kw)
    state = json.loads((tmp_path / "part" / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 32
    res = train("TextCls-v0", algo, total_steps=64, resume=str(tmp_path / "part"))
    assert res["step"] == 64
    full, part = metrics_rows(tmp_path / "full"), metrics_rows(tmp_path / "part")
    assert [r["step"] for r in part] == [r["step"] for r in full] == ["16", "32", "48", "64"]
    assert [r["losses/loss"] for r in part] == [r["losses/loss"] for r in full]
    train("TextCls-v0", algo, total_steps=64, seed=1, out=str(tmp_path / "again"), env_kwargs=env_kwargs, **kw)
    assert [r["losses/loss"] for r in metrics_rows(tmp_path / "again")] == [r["losses/loss"] for r in full]


def test_masked_actions_are_never_sampled():
    torch.manual_seed(0)
    logits = torch.randn(512, 9) * 5
    mask = torch.rand(512, 9) > 0.5
    mask[:, 0] = True
    for _ in range(20):
        a = gumbel_sample(apply_mask(logits, mask))
        assert bool(mask[torch.arange(512), a].all())
    assert float(apply_mask(logits, mask)[~mask].max()) == NEG


@pytest.mark.skipif(not registered("NerTag-v0"), reason="NerTag-v0 not registered")
def test_rollout_respects_env_action_masks(tmp_path):
    cfg = make_config("ppo", total_steps=8, **_quick(num_envs=8))
    run = Run("NerTag-v0", cfg, backbone="tiny", out=tmp_path, env_kwargs={"dataset_kwargs": TINY_SIZES})
    ep = collect(run.policy, run.make_sampler(), run.device, run.amp)
    assert ep.action_masks is not None
    chosen = ep.action_masks.gather(-1, ep.actions[..., None]).squeeze(-1)
    assert bool(chosen[ep.mask].all())


def test_gumbel_matches_softmax():
    torch.manual_seed(0)
    logits = torch.tensor([[0.0, 1.0, 2.0, -1.0]]).expand(20000, 4)
    freq = torch.bincount(gumbel_sample(logits), minlength=4).float() / 20000
    assert torch.allclose(freq, torch.softmax(logits[0], 0), atol=0.02)


@pytest.mark.parametrize("env_id", FAMILY_IDS)
@pytest.mark.parametrize("algo", ALGOS)
def test_each_algo_runs_on_each_family(tmp_path, env_id, algo):
    if not registered(env_id):
        pytest.skip(f"{env_id} is not registered yet")
    kw = _quick(num_envs=8, eval_split="test", eval_envs=16, warm_start_examples=16)
    if algo == "grpo":
        kw["group_size"] = 4
    tiny = {"sizes": {"train": 32, "validation": 4, "test": 4 if env_id.startswith("Dialog") else 16}}
    res = train(env_id, algo, total_steps=8, out=str(tmp_path / "run"), env_kwargs={"dataset_kwargs": tiny}, **kw)
    assert res["step"] >= 8
    assert any(k.startswith("eval/") for k in res)
    assert np.isfinite(float(res["losses/loss"]))


def test_cli_and_config_errors(tmp_path):
    assert main(["TextCls-v0", "--algo", "reinforce", "--total-steps", "16", "--out", str(tmp_path / "cli"),
                 "--set", "num_envs=16", "--set", "baseline=ema", "--set", "eval_split=", "--no-progress",
                 "--env-kwarg", json.dumps(TINY_SIZES).join(["dataset_kwargs=", ""])]) == 0
    assert (tmp_path / "cli" / "run.json").exists() and (tmp_path / "cli" / "tb").is_dir()
    assert parse_set("ppo", ["target_kl=none", "update_epochs=3"]) == {"target_kl": None, "update_epochs": 3}
    with pytest.raises(ValueError, match="num_minibatches"):
        make_config("ppo", num_envs=2, num_minibatches=4)
    with pytest.raises(ValueError, match="multiple of group_size"):
        make_config("grpo", num_envs=10, group_size=4)
    with pytest.raises(ValueError, match="unknown ppo settings"):
        make_config("ppo", learning_rate=1.0)
    with pytest.raises(ValueError, match="tokenizer"):
        env_kwargs_for_backbone("minilm", {"tokenizer": "wordpiece"})
    assert env_kwargs_for_backbone("minilm", None)["tokenizer"] == "minilm"


def test_public_train_stays_callable_after_its_module_is_imported() -> None:
    """``nlp_envs.agents.train`` is the public function and the ``-m`` module: importing the module (the CLI,
    torchrun and tests do) must not turn the package attribute into something that cannot be called."""
    import importlib

    import nlp_envs.agents

    module = importlib.import_module("nlp_envs.agents.train")
    assert callable(nlp_envs.agents.train) and callable(module)
    from nlp_envs.agents import train

    assert callable(train)
    with pytest.raises(ValueError, match="algo"):
        train("TextCls-v0", algo="no-such-algo", total_steps=1)
    assert callable(nlp_envs.agents.train.main)  # the module's CLI entry is still reachable


def test_cpu_bf16_autocasts_on_a_cpu_only_when_asked_and_native(monkeypatch):
    from nlp_envs.agents import devices

    cpu, x = torch.device("cpu"), torch.ones(4, 4)
    with devices.autocast(cpu, bf16=True):  # `bf16` is the CUDA switch: a CPU stays fp32
        assert (x @ x).dtype == torch.float32
    monkeypatch.setattr(devices, "cpu_computes_bf16", lambda: True)
    with devices.autocast(cpu, bf16=False, cpu_bf16=True):
        assert (x @ x).dtype == torch.bfloat16
    monkeypatch.setattr(devices, "cpu_computes_bf16", lambda: False)  # emulated bf16: fp32 instead
    with devices.autocast(cpu, bf16=False, cpu_bf16=True):
        assert (x @ x).dtype == torch.float32


@pytest.mark.parametrize("env_id,fields,eager", [
    ("TextCls-v0", {"cpu_bf16": True}, True),
    ("DialogReply-v0", {"warm_start_cpu_bf16": True, "warm_start_examples": 0}, True),  # bf16 in the MLE phase only
    ("TextCls-v0", {}, False),
])
def test_a_run_autocasting_to_bf16_on_a_cpu_uses_the_eager_attention(tmp_path, monkeypatch, env_id, fields, eager):
    """SDPA's CPU kernel is the slow part of a bf16 step of a tiny backbone (devices.eager_attention_for_cpu_bf16):
    a run that autocasts on a native-bf16 CPU in any phase switches its transformers to eager; fp32 runs keep SDPA."""
    from transformers import PreTrainedModel

    from nlp_envs.agents import devices

    monkeypatch.setattr(devices, "cpu_computes_bf16", lambda: True)
    cfg = make_config("ppo", num_envs=4, progress=False, device="cpu", **fields)
    run = Run(env_id, cfg, backbone="tiny", out=tmp_path, env_kwargs={"dataset_kwargs": TINY_SIZES})
    impls = {m.config._attn_implementation for m in run.policy.modules() if isinstance(m, PreTrainedModel)}
    assert impls == ({"eager"} if eager else {"sdpa"})
    run.logger.close()
