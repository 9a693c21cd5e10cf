"""The greedy policy: a trained policy as ``obs batch -> scores`` for :func:`nlp_envs.evaluate` (evaluation
during training, ``nlp-envs eval RUN_DIR``, :func:`nlp_envs.agents.load_policy`)."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch

from nlp_envs.agents.policy import NEG, Policy, apply_mask, to_torch


class GreedyPolicy:
    """``obs batch -> scores`` for :func:`nlp_envs.evaluate` (argmax = the greedy action).

    Tagging caches the sentence encoding per sub-env (re-encoded only where ``position == 0``), multi-label
    the text's (re-encoded only where ``input_ids`` changed).
    Generation decodes the whole greedy reply of a sub-env with the KV cache when its episode starts
    (``reply_length == 0``; batched over the sub-envs starting together) and then plays it token by token;
    a sub-env whose reply so far differs from the plan (someone else chose its tokens) is scored by one
    full forward over context + reply instead.
    """

    def __init__(self, policy: Policy, device: torch.device, amp: Any = None) -> None:
        self.policy, self.device = policy.eval(), device
        self.amp = amp or contextlib.nullcontext()
        self._words: torch.Tensor | None = None
        self._text: tuple[torch.Tensor, ...] | None = None  # multi-label: (input_ids, *begin's state) per sub-env
        self._plan: torch.Tensor | None = None  # generation: (num_envs, R) greedy replies being played

    def _generate(self, p: Any, o: dict[str, torch.Tensor], m: torch.Tensor | None) -> np.ndarray:
        n = o["reply_length"].reshape(-1)
        B, R = o["reply_ids"].shape
        new = n == 0
        if self._plan is None or self._plan.shape[0] != B:
            self._plan = torch.zeros(B, R, dtype=torch.long, device=self.device)
            new = new | True
        if bool(new.any()):
            rows = {k: v[new] for k, v in o.items()}
            self._plan[new] = p.greedy_replies(rows, None if m is None else m[new])
        steps = torch.arange(R, device=self.device)[None]
        so_far = steps < n[:, None]
        on_plan = ((o["reply_ids"] == self._plan) | ~so_far).all(1) & (n < R)
        tok = self._plan.gather(1, n.clamp(max=R - 1)[:, None]).squeeze(1)
        scores = torch.full((B, p.num_actions), NEG, device=self.device)
        scores[torch.arange(B, device=self.device), tok] = 0.0
        off = ~on_plan
        if bool(off.any()):  # not the planned reply: score this step with a full forward
            logits, _ = p.next_token_logits({k: v[off] for k, v in o.items()}, n[off])
            scores[off] = apply_mask(logits.float(), None if m is None else m[off])
        return scores.cpu().numpy()

    @torch.no_grad()
    def __call__(self, obs: dict[str, np.ndarray], action_masks: np.ndarray | None = None) -> np.ndarray:
        p, o = self.policy, to_torch(obs, self.device)
        with self.amp:
            if p.family == "tag":
                new = o["position"].reshape(-1) == 0
                if self._words is None or self._words.shape[0] != len(new):
                    new[:] = True
                    self._words = None
                if bool(new.any()):
                    enc = p.begin({k: v[new] for k, v in o.items()})
                    if self._words is None:
                        self._words = enc
                    else:
                        self._words[new] = enc.to(self._words.dtype)
                logits, _ = p.step(o, self._words, 0)
            elif p.family == "generate":
                m = None if action_masks is None else torch.as_tensor(action_masks, device=self.device)
                return self._generate(p, o, m)
            elif p.family == "multilabel":  # text encoding cached per sub-env, redone where the text changed
                ids, c = o["input_ids"], self._text
                new = torch.ones(len(ids), dtype=torch.bool, device=ids.device)
                if c is not None and c[0].shape == ids.shape:
                    new = (ids != c[0]).any(1)
                if bool(new.any()):
                    enc = p.begin({k: v[new] for k, v in o.items()})
                    if c is None or c[0].shape != ids.shape:
                        c = self._text = tuple(x.new_zeros(len(ids), *x.shape[1:]) for x in (ids, *enc))
                    for cached, fresh in zip(c, (ids[new], *enc)):
                        cached[new] = fresh.to(cached.dtype)
                logits, _ = p.step(o, c[1:], 0)  # reads this step's o["chosen"]
            else:  # one-step families: step returns begin's (logits, value)
                logits, _ = p.step(o, p.begin(o), 0)
        m = None if action_masks is None else torch.as_tensor(action_masks, device=self.device)
        return apply_mask(logits, m).cpu().numpy()

