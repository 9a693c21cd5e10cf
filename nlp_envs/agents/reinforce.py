"""REINFORCE with a baseline (Williams, 1992), on waves of complete episodes.

Per iteration: play ``num_envs`` episodes with the sampling policy (:func:`nlp_envs.agents.rollout.collect`),
compute the reward-to-go ``G_t``, subtract a baseline (the value head, trained by MSE, or a moving
average of episode returns), and take a gradient step on ``-A_t log pi(a_t | s_t)``. With
``update_epochs > 1`` the wave is reused for more steps through the importance ratio ``pi / pi_old``
clipped at ``1 +- clip_coef`` (the first step is exactly REINFORCE's: the ratio is 1 there).
Generation first gets a supervised warm start and then a per-token KL penalty to it (``kl_coef``).
"""

from __future__ import annotations

import time
from typing import Any

import torch

from nlp_envs.agents.advantages import clipped_surrogate, episode_charts, gae, kl_shaped_rewards, masked_mean, score
from nlp_envs.agents.rollout import collect
from nlp_envs.agents.run import Run
from nlp_envs.agents.supervised import warm_start


def train(run: Run) -> dict[str, Any]:
    cfg = run.cfg
    warm_start(run)
    sampler = run.make_sampler()
    while run.step < cfg.total_steps:
        t0 = time.perf_counter()
        # 1. rollout: one episode per sub-env
        ep = collect(run.policy, sampler, run.device, run.amp)
        rewards, kl_ref = kl_shaped_rewards(ep, run.ref, cfg.kl_coef, run.amp)
        returns, _ = gae(rewards, torch.zeros_like(rewards), ep.mask, cfg.gamma, 1.0)  # reward-to-go (B, T)

        # 2. advantages: reward-to-go minus a baseline (the value head at sampling time, or an EMA)
        if cfg.baseline == "learned":
            advantages = returns - ep.values  # the value head's estimates while the wave was played
        else:
            baseline = run.state.ema_baseline
            mean_return = float(ep.returns.mean())
            baseline = mean_return if baseline is None else baseline
            advantages = returns - baseline
            run.state.ema_baseline = cfg.baseline_decay * baseline + (1 - cfg.baseline_decay) * mean_return
        if cfg.norm_adv:
            mu = masked_mean(advantages, ep.mask)
            sd = masked_mean((advantages - mu) ** 2, ep.mask).sqrt()
            advantages = (advantages - mu) / (sd + 1e-8)

        # 3. update_epochs gradient steps on the wave. The ratio pi/pi_old is 1 at the first step, where the
        # loss's gradient is REINFORCE's -A grad log pi; the later steps reuse the wave off-policy, clipped.
        clipfracs = []
        for _ in range(cfg.update_epochs):
            logp, entropy, values = score(run.policy, ep, run.amp)
            ratio = (logp - ep.logp).exp()
            pg_loss = clipped_surrogate(advantages, ratio, cfg.clip_coef, ep.mask)
            with torch.no_grad():
                clipfracs.append(float(masked_mean(((ratio - 1.0).abs() > cfg.clip_coef).float(), ep.mask)))
            if cfg.baseline == "learned":
                v_loss = 0.5 * masked_mean((values - returns) ** 2, ep.mask)
            else:
                v_loss = torch.zeros((), device=run.device)
            entropy_mean = masked_mean(entropy, ep.mask)
            loss = pg_loss - cfg.ent_coef * entropy_mean + cfg.vf_coef * v_loss
            grad_norm = run.optimize(loss)

        steps, charts = episode_charts(ep, t0, kl_ref)
        run.end_iteration(steps, {
            **charts,
            "charts/baseline": float(run.state.ema_baseline or 0.0),
            "losses/loss": loss.item(), "losses/policy_loss": pg_loss.item(), "losses/value_loss": v_loss.item(),
            "losses/entropy": entropy_mean.item(), "losses/grad_norm": grad_norm,
            "losses/clipfrac": sum(clipfracs) / len(clipfracs),
        })
    return run.finish()
