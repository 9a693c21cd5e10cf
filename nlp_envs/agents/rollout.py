"""Collection: one wave of complete episodes (one per sub-env) played by the sampling policy.

A wave (see :mod:`nlp_envs.agents.sampling`) is a batch of ``num_envs`` complete episodes, padded to the
longest: sub-envs that finish early keep being stepped with a valid dummy action (the model never runs for
them, and those steps are not recorded). Per-episode caches (the sentence encoding for tagging, the GPT-2
KV cache for generation) live exactly one wave.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from nlp_envs.agents.policy import Policy, apply_mask, gumbel_sample, to_torch
from nlp_envs.agents.sampling import WaveSampler


@dataclass
class Episodes:
    """A batch of B complete episodes, padded to T steps (``mask`` marks real steps).

    Shapes: ``first_obs[k]`` (B, ...), ``actions``/``logp``/``values``/``rewards``/``mask`` (B, T),
    ``action_masks`` (B, T, A) or None when every action was always valid.
    """

    first_obs: dict[str, torch.Tensor]
    actions: torch.Tensor
    logp: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    mask: torch.Tensor
    action_masks: torch.Tensor | None = None

    @property
    def returns(self) -> torch.Tensor:
        """Undiscounted episode returns (B,)."""
        return (self.rewards * self.mask).sum(1)

    def take(self, idx: torch.Tensor) -> Episodes:
        """The episodes at ``idx`` (a minibatch)."""
        am = None if self.action_masks is None else self.action_masks[idx]
        return Episodes({k: v[idx] for k, v in self.first_obs.items()}, self.actions[idx], self.logp[idx],
                        self.values[idx], self.rewards[idx], self.mask[idx], am)


@torch.no_grad()
def collect(policy: Policy, sampler: WaveSampler, device: torch.device, amp: Any) -> Episodes:
    """Play one wave (one episode per sub-env) with the sampling policy; return the padded episodes."""
    obs = sampler.start()
    B = sampler.num_envs
    first = to_torch({k: np.array(v) for k, v in obs.items()}, device)
    with amp:
        state = policy.begin(first)
    live = np.ones(B, dtype=bool)
    acts, logps, vals, rews, alive, amasks = [], [], [], [], [], []
    limit = policy.max_steps(obs) + 1
    per_step_obs = policy.per_step_obs
    while live.any():
        if len(acts) > limit:
            raise RuntimeError(f"episodes ran past {limit} steps: the env and the policy disagree on the episode length")
        masks_np = sampler.action_masks()
        masks = None if masks_np.all() else torch.from_numpy(masks_np).to(device)
        with amp:
            logits, value = policy.step(to_torch(obs, device) if per_step_obs else None, state, len(acts))
        logits = apply_mask(logits, masks)
        a = gumbel_sample(logits)
        logp = torch.log_softmax(logits, -1).gather(1, a[:, None]).squeeze(1)
        a_np = a.cpu().numpy()
        a_np[~live] = masks_np[~live].argmax(1)  # finished sub-envs: any valid action, not recorded
        obs, r, term, trunc, _ = sampler.step(a_np)
        acts.append(a)
        logps.append(logp)
        vals.append(value.float())
        rews.append(torch.as_tensor(np.where(live, r, 0.0), dtype=torch.float32, device=device))
        alive.append(torch.as_tensor(live, device=device))
        amasks.append(masks if masks is not None else torch.ones(B, logits.shape[-1], dtype=torch.bool, device=device))
        with amp:
            policy.after_step(state, a)  # generation feeds the sampled tokens to its KV cache
        live = live & ~(term | trunc)
    masks_t = torch.stack(amasks, 1)
    return Episodes(first, torch.stack(acts, 1), torch.stack(logps, 1), torch.stack(vals, 1), torch.stack(rews, 1),
                    torch.stack(alive, 1), None if bool(masks_t.all()) else masks_t)
