"""PPO (Schulman et al., 2017) as in CleanRL's ``ppo.py``: clipped surrogate, GAE, value loss,
entropy bonus, minibatches, epochs, optional target-KL early stop.

Rollouts are waves of ``num_envs`` complete episodes (:func:`nlp_envs.agents.rollout.collect`); minibatches
split the *episodes* (never cut one), and every minibatch is re-scored teacher-forced in one forward
pass (:func:`nlp_envs.agents.advantages.score`). Generation: supervised warm start, then a per-token KL penalty to
it in the rewards (``kl_coef``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from nlp_envs.agents import distributed
from nlp_envs.agents.advantages import clipped_surrogate, gae, kl_shaped_rewards, masked_mean, score
from nlp_envs.agents.rollout import collect
from nlp_envs.agents.run import Run
from nlp_envs.agents.supervised import warm_start


def train(run: Run) -> dict[str, Any]:
    cfg = run.cfg
    warm_start(run)
    sampler = run.make_sampler()
    B = cfg.num_envs
    minibatch_size = B // cfg.num_minibatches
    while run.step < cfg.total_steps:
        t0 = time.perf_counter()
        # 1. rollout and advantages
        ep = collect(run.policy, sampler, run.device, run.amp)
        rewards, kl_ref = kl_shaped_rewards(ep, run.ref, cfg.kl_coef, run.amp)
        advantages, returns = gae(rewards, ep.values, ep.mask, cfg.gamma, cfg.gae_lambda)  # (B, T)

        # 2. optimise the clipped surrogate for some epochs of minibatches
        clipfracs: list[float] = []
        approx_kl = old_approx_kl = torch.zeros(())
        for epoch in range(cfg.update_epochs):
            perm = torch.randperm(B, device=run.device)
            for start in range(0, B - minibatch_size + 1, minibatch_size):
                idx = perm[start : start + minibatch_size]
                mb = ep.take(idx)
                m = mb.mask
                newlogp, entropy, newvalue = score(run.policy, mb, run.amp)
                logratio = newlogp - mb.logp
                ratio = logratio.exp()
                with torch.no_grad():
                    old_approx_kl = masked_mean(-logratio, m)
                    approx_kl = masked_mean((ratio - 1) - logratio, m)
                    clipfracs.append(float(masked_mean(((ratio - 1.0).abs() > cfg.clip_coef).float(), m)))
                mb_adv = advantages[idx]
                if cfg.norm_adv:
                    mu = masked_mean(mb_adv, m)
                    mb_adv = (mb_adv - mu) / (masked_mean((mb_adv - mu) ** 2, m).sqrt() + 1e-8)
                pg_loss = clipped_surrogate(mb_adv, ratio, cfg.clip_coef, m)
                mb_returns = returns[idx]
                if cfg.clip_vloss:
                    v_clipped = mb.values + torch.clamp(newvalue - mb.values, -cfg.clip_coef, cfg.clip_coef)
                    v_loss = 0.5 * masked_mean(torch.max((newvalue - mb_returns) ** 2, (v_clipped - mb_returns) ** 2), m)
                else:
                    v_loss = 0.5 * masked_mean((newvalue - mb_returns) ** 2, m)
                entropy_loss = masked_mean(entropy, m)
                loss = pg_loss - cfg.ent_coef * entropy_loss + cfg.vf_coef * v_loss
                grad_norm = run.optimize(loss)
            if cfg.target_kl is not None and distributed.mean(float(approx_kl)) > cfg.target_kl:  # same on all ranks
                break

        m = ep.mask
        y_pred, y_true = ep.values[m].cpu().numpy(), returns[m].cpu().numpy()
        var_y = np.var(y_true)
        explained_var = np.nan if var_y == 0 else 1 - np.var(y_true - y_pred) / var_y
        steps = int(m.sum())
        run.end_iteration(steps, {
            "charts/episode_return": float(ep.returns.mean()),
            "charts/episode_length": float(m.sum(1).float().mean()),
            "charts/steps_per_second": steps / (time.perf_counter() - t0),
            "charts/kl_ref": kl_ref,
            "losses/loss": loss.item(), "losses/policy_loss": pg_loss.item(), "losses/value_loss": v_loss.item(),
            "losses/entropy": entropy_loss.item(), "losses/old_approx_kl": float(old_approx_kl),
            "losses/approx_kl": float(approx_kl), "losses/clipfrac": float(np.mean(clipfracs)),
            "losses/explained_variance": float(explained_var), "losses/grad_norm": grad_norm,
            "losses/epochs": epoch + 1,
        })
    return run.finish()
