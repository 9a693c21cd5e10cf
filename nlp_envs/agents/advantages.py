"""From collected episodes to the terms of the losses: teacher-forced re-scoring of the actions
(:func:`score`), masked means over the real steps, generalised advantage estimation (:func:`gae`) and the
per-token KL penalty to the warm start (:func:`kl_shaped_rewards`)."""

from __future__ import annotations

import time
from typing import Any

import torch

from nlp_envs.agents.policy import Policy, apply_mask
from nlp_envs.agents.rollout import Episodes


def score(policy: Policy, ep: Episodes, amp: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Teacher-forced ``(logp, entropy, values)`` of the episodes' actions under ``policy``, each (B, T)."""
    with amp:
        logits, values = policy.score_actions(ep.first_obs, ep.actions, ep.mask)
    logprobs = torch.log_softmax(apply_mask(logits, ep.action_masks), -1)  # (B, T, A)
    logp = logprobs.gather(-1, ep.actions[..., None]).squeeze(-1)
    entropy = -(logprobs.exp() * logprobs).sum(-1)
    return logp, entropy, values.float()


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum().clamp(min=1.0)


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float):
    """Generalised advantage estimation inside episodes that end by termination (bootstrap 0)."""
    B, T = rewards.shape
    adv = torch.zeros_like(rewards)
    last = torch.zeros(B, device=rewards.device)
    next_v = torch.zeros(B, device=rewards.device)
    m = mask.float()
    for t in reversed(range(T)):
        nm = m[:, t + 1] if t + 1 < T else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_v * nm - values[:, t]
        last = (delta + gamma * lam * nm * last) * m[:, t]
        adv[:, t] = last
        next_v = values[:, t]
    return adv, adv + values


def kl_shaped_rewards(ep: Episodes, ref: Policy | None, kl_coef: float, amp: Any) -> tuple[torch.Tensor, float]:
    """Rewards minus ``kl_coef * (logp - logp_ref)`` per token (generation's KL to the warm start)."""
    if ref is None or kl_coef == 0:
        return ep.rewards, 0.0
    with torch.no_grad():
        ref_logp, _, _ = score(ref, ep, amp)
    kl = (ep.logp - ref_logp) * ep.mask
    return ep.rewards - kl_coef * kl, float(masked_mean(kl, ep.mask))


def clipped_surrogate(advantages: torch.Tensor, ratio: torch.Tensor, clip_coef: float, mask: torch.Tensor) -> torch.Tensor:
    """PPO's clipped policy-gradient loss: the masked mean of ``max(-A r, -A clip(r, 1 - eps, 1 + eps))``."""
    pg_loss1 = -advantages * ratio
    pg_loss2 = -advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
    return masked_mean(torch.max(pg_loss1, pg_loss2), mask)


def episode_charts(ep: Episodes, t0: float, kl_ref: float) -> tuple[int, dict[str, float]]:
    """The env steps of a wave of whole episodes and its ``charts/`` metrics (return, length, steps per
    second since ``t0``, the reference KL), as the REINFORCE-style trainers log them."""
    steps = int(ep.mask.sum())
    return steps, {
        "charts/episode_return": float(ep.returns.mean()),
        "charts/episode_length": float(ep.mask.sum(1).float().mean()),
        "charts/steps_per_second": steps / (time.perf_counter() - t0),
        "charts/kl_ref": kl_ref,
    }
