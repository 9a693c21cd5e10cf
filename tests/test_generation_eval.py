"""Greedy evaluation of a generating policy decodes with the KV cache and equals the full-forward argmax."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

import nlp_envs  # noqa: F401
from nlp_envs.agents.greedy import GreedyPolicy
from nlp_envs.agents.policy import apply_mask, to_torch
from nlp_envs.agents.run import build_policy


def _count_calls(obj: object, name: str) -> dict[str, int]:
    """Wrap method ``name`` of ``obj`` so that the returned ``{"n": ...}`` counts its calls."""
    calls = {"n": 0}
    original = getattr(obj, name)

    def counting(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    setattr(obj, name, counting)
    return calls


@pytest.mark.parametrize("env_kwargs", [{}, {"action_mask": "train_replies"}], ids=["unmasked", "masked"])
def test_kv_cached_greedy_equals_full_forward(env_kwargs: dict) -> None:
    torch.manual_seed(0)
    policy, _ = build_policy("DialogReply-v0", {}, "tiny")
    with torch.no_grad():  # a sharper random policy: varied replies, few near-ties
        for prm in policy.parameters():
            prm.mul_(3.0)
    env = gym.make_vec("DialogReply-v0", num_envs=8, vectorization_mode="vector_entry_point", split="test",
                       **env_kwargs)
    obs, info = env.reset(seed=0)
    greedy = GreedyPolicy(policy, torch.device("cpu"))
    calls = _count_calls(policy, "greedy_replies")
    checked = ends = 0
    for _ in range(80):
        mask = info.get("action_mask")
        action = greedy(obs, mask).argmax(1)
        with torch.no_grad():
            o = to_torch(obs, torch.device("cpu"))
            n = o["reply_length"].reshape(-1)
            logits, _ = policy.next_token_logits(o, n)
            full = apply_mask(logits, None if mask is None else torch.as_tensor(mask)).argmax(-1).numpy()
        live = n.numpy() < o["reply_ids"].shape[1]
        assert (action[live] == full[live]).all()
        checked += int(live.sum())
        obs, _, term, trunc, info = env.step(action)
        ends += int(term.sum() + trunc.sum())
    env.close()
    assert checked > 500 and ends >= 8
    assert calls["n"] <= 1 + 2 * ends  # one batched decode per group of episode starts, not one per token


def test_greedy_decoding_stops_at_the_end_of_every_reply_with_the_same_metrics(tmp_path) -> None:
    """``stop_token`` (the env's ``eos_id``, bound by ``build_policy``): a batch stops decoding once each reply has
    ended; the tokens it skips are never played, so the evaluation is the same, with fewer forwards."""
    from nlp_envs.agents.run import load_policy
    from nlp_envs.agents.train import train
    from nlp_envs.evaluation import evaluate

    sizes = {"dataset_kwargs": {"sizes": {"train": 256, "validation": 32, "test": 64}}}
    train("DialogReply-v0", "supervised", total_steps=640, lr=2e-3, num_envs=32, early_stopping=False, eval_split="",
          progress=False, env_kwargs=sizes, use_recipe=False, out=str(tmp_path / "mle"))  # learns to end replies
    env_id, env_kwargs, greedy = load_policy(tmp_path / "mle", device="cpu")
    policy = greedy.policy
    assert policy.stop_token == gym.make(env_id, **env_kwargs).unwrapped.eos_id
    forwards = _count_calls(policy, "_forward")

    def evaluated(stop_token: int | None) -> tuple[dict, int]:
        """The test metrics and the forwards they took, decoding with ``stop_token``."""
        policy.stop_token, forwards["n"] = stop_token, 0
        greedy.cache.clear()
        return evaluate(env_id, greedy, split="test", num_envs=16, **env_kwargs), forwards["n"]

    (stopped, n_stopped), (full, n_full) = evaluated(policy.stop_token), evaluated(None)
    assert stopped == full and stopped["mean_reply_tokens"] < 20
    assert n_stopped < 0.8 * n_full
