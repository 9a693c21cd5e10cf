"""The greedy policy: a trained policy as ``obs batch -> scores`` for :func:`nlp_envs.evaluate` (evaluation
during training, ``nlp-envs eval RUN_DIR``, :func:`nlp_envs.agents.load_policy`)."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch

from nlp_envs.agents.policy import Policy, to_torch


class GreedyPolicy:
    """``obs batch -> scores`` for :func:`nlp_envs.evaluate` (argmax = the greedy action).

    What each family does is the policy's :meth:`~nlp_envs.agents.policy.Policy.greedy_scores`: tagging
    caches the sentence encoding per sub-env (re-encoded only where ``position == 0``), multi-label the
    text's (re-encoded only where ``input_ids`` changed); generation decodes the whole greedy reply of a
    sub-env with the KV cache when its episode starts (``reply_length == 0``; batched over the sub-envs
    starting together) and then plays it token by token; a sub-env whose reply so far differs from the plan
    (someone else chose its tokens) is scored by one full forward over context + reply instead.
    """

    def __init__(self, policy: Policy, device: torch.device, amp: Any = None) -> None:
        self.policy, self.device = policy.eval(), device
        self.amp = amp or contextlib.nullcontext()
        #: what ``greedy_scores`` keeps across calls (per-sub-env encodings, planned replies)
        self.cache: dict[str, Any] = {}

    @torch.no_grad()
    def __call__(self, obs: dict[str, np.ndarray], action_masks: np.ndarray | None = None) -> np.ndarray:
        o = to_torch(obs, self.device)
        m = None if action_masks is None else torch.as_tensor(action_masks, device=self.device)
        with self.amp:
            scores = self.policy.greedy_scores(o, m, self.cache)
        return scores.cpu().numpy()
