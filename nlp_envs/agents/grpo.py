"""GRPO (Shao et al., 2024): G samples per example, group-normalised advantages, no critic.

Each wave resets the sub-envs in groups of ``group_size`` with one seed per group, so the G sub-envs of
a group play the same example (:class:`nlp_envs.agents.sampling.WaveSampler`). The advantage of an episode is
its return minus the group mean, divided by the group std (``scale_rewards``); every step of the
episode gets it. A group whose G returns are all equal (all wrong, or all right, on a 0/1 reward) has
std 0 and GRPO advantage 0: with ``flat_groups="batch"`` (the default) such a group gets the return minus
the mean return of the whole wave instead (divided by the wave's std), so its samples still teach. The loss is the clipped surrogate averaged over all real tokens of the batch
(token-level mean, as in DAPO). Generation: supervised warm start, and the per-token KL to it is
subtracted from the rewards (``kl_coef``) before the group statistics.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from nlp_envs.agents.advantages import clipped_surrogate, episode_charts, kl_shaped_rewards, masked_mean, score
from nlp_envs.agents.rollout import collect
from nlp_envs.agents.run import Run
from nlp_envs.agents.supervised import warm_start


def group_advantages(returns: torch.Tensor, scale_rewards: bool, flat_groups: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(advantages (num_groups, G), flat (num_groups,))`` of a wave's episode returns (num_groups, G).

    GRPO: return minus the group mean, divided by the group std when ``scale_rewards``. A *flat* group
    (all G returns equal) gets 0 that way; ``flat_groups="batch"`` gives it the return minus the mean of
    the whole wave (divided by the wave's std when ``scale_rewards``) instead.
    """
    advantages = returns - returns.mean(1, keepdim=True)
    if scale_rewards:
        advantages = advantages / (returns.std(1, keepdim=True) + 1e-4)
    flat = (returns.max(1).values - returns.min(1).values) <= 1e-8
    if flat_groups == "batch" and bool(flat.any()):
        batch_adv = returns - returns.mean()
        if scale_rewards:
            batch_adv = batch_adv / (returns.std() + 1e-4)
        advantages = torch.where(flat[:, None], batch_adv, advantages)
    return advantages, flat


def train(run: Run) -> dict[str, Any]:
    cfg = run.cfg
    G = cfg.group_size
    warm_start(run)
    sampler = run.make_sampler(group_size=G)
    while run.step < cfg.total_steps:
        t0 = time.perf_counter()
        # 1. rollout: num_envs / G examples, G episodes each
        ep = collect(run.policy, sampler, run.device, run.amp)
        rewards, kl_ref = kl_shaped_rewards(ep, run.ref, cfg.kl_coef, run.amp)
        returns = (rewards * ep.mask).sum(1).view(-1, G)  # (num_groups, G)
        advantages, flat = group_advantages(returns, cfg.scale_rewards, cfg.flat_groups)
        group_std = returns.std(1, keepdim=True)
        advantages = advantages.reshape(-1, 1).expand_as(ep.logp)  # (B, T): one value per episode

        # 2. clipped surrogate, no value function
        for _ in range(cfg.update_epochs):
            newlogp, entropy, _ = score(run.policy, ep, run.amp)
            ratio = (newlogp - ep.logp).exp()
            pg_loss = clipped_surrogate(advantages, ratio, cfg.clip_coef, ep.mask)
            entropy_mean = masked_mean(entropy, ep.mask)
            loss = pg_loss - cfg.ent_coef * entropy_mean
            grad_norm = run.optimize(loss)

        steps, charts = episode_charts(ep, t0, kl_ref)
        run.end_iteration(steps, {
            **charts,
            "grpo/group_return_std": float(group_std.mean()),
            "grpo/frac_zero_std_groups": float(flat.float().mean()),
            "losses/loss": loss.item(), "losses/policy_loss": pg_loss.item(),
            "losses/entropy": entropy_mean.item(), "losses/grad_norm": grad_norm,
        })
    return run.finish()
