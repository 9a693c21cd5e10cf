"""Supervised reference: the same backbones and heads, trained with cross-entropy on the gold actions.

Gold comes from the env's prepared arrays (``env.unwrapped.prepared.arrays`` and friends), and each
example is scored teacher-forced by ``policy.evaluate`` exactly as PPO re-scores an episode:

| family     | first observation (per example)                 | gold actions                                  |
|------------|-------------------------------------------------|-----------------------------------------------|
| `classify` | `input_ids`, `attention_mask`                   | `env.unwrapped.labels` (1 step)               |
| `tag`      | `input_ids`, `attention_mask`, `word_starts`    | `env.unwrapped.gold_arrays()["gold_tags"]`    |
| `select`   | reset observation of the vector env (random distractors) | `info["label"]` of that reset        |
| `generate` | `context_ids`, `context_mask`                   | `env.unwrapped.reference_ids` (reply + EOS)   |
| `multilabel` | `input_ids`, `attention_mask`, `chosen` = 0   | the gold labels of `env.unwrapped.gold` in ascending id order, then STOP (no STOP when `max_labels` picks end the episode) |
| `choice`   | `question_ids`, `question_mask`, `option_ids`, `option_mask`, `num_options` | `prepared.arrays["answer"]` (1 step) |

The budget ``total_steps`` counts examples. The result is evaluated through ``nlp_envs.evaluate``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from agents.rollout import Run, to_torch


class GoldData:
    """Gold (first observation, actions, step mask) of the train split, in a seeded, resumable order."""

    def __init__(self, run: Run, key: str = "order") -> None:
        self.run, self.key, self.family = run, key, run.family
        # several ranks: one global batch of world_size * num_envs from the shared seeded permutation,
        # rank r keeps examples r, r + world_size, ... (so N ranks x B examples = 1 rank x N*B)
        self.batch_size = run.cfg.num_envs * run.world_size
        kwargs = {**run.env_kwargs, "split": "train"}
        if self.family == "select":  # candidates are drawn per episode: read them from the vector env
            self.sampler = run.make_sampler() if run.sampler is None else run.sampler
            self.n = None
            return
        env = gym.make(run.env_id, disable_env_checker=True, **kwargs).unwrapped
        arrays = env.prepared.arrays
        if self.family == "classify":
            self.obs = {"input_ids": arrays["input_ids"], "attention_mask": arrays["attention_mask"]}
            self.actions = np.asarray(env.labels)[:, None]
            self.mask = np.ones_like(self.actions, dtype=bool)
        elif self.family == "tag":
            gold = env.gold_arrays()
            self.obs = {k: np.asarray(gold[k]) for k in ("input_ids", "attention_mask", "word_starts")}
            W = self.obs["word_starts"].shape[1]
            self.mask = np.arange(W)[None] < gold["num_words"][:, None]
            self.actions = np.asarray(gold["gold_tags"], dtype=np.int64)
        elif self.family == "generate":
            L = env._ctx_ids.shape[1]
            self.obs = {"context_ids": np.asarray(env._ctx_ids, dtype=np.int64),
                        "context_mask": (np.arange(L)[None] < np.asarray(env._ctx_len)[:, None]).astype(np.int64)}
            self.actions = np.asarray(env.reference_ids, dtype=np.int64)
            self.mask = np.arange(self.actions.shape[1])[None] < np.asarray(env.reference_lengths)[:, None]
        elif self.family == "multilabel":
            gold = np.asarray(env.gold, dtype=bool)  # (n, K)
            n, K = gold.shape
            self.obs = {"input_ids": arrays["input_ids"], "attention_mask": arrays["attention_mask"],
                        "chosen": np.zeros((n, K), dtype=np.int64), "num_chosen": np.zeros((n, 1), dtype=np.int64)}
            picks = np.minimum(gold.sum(1), env.max_labels)  # the max_labels-th pick ends the episode
            steps = picks + (picks < env.max_labels)  # ... else STOP ends it
            T = int(steps.max())
            # ascending label ids first: sort key = label id for gold labels, K (after them) for the others
            ranked = np.sort(np.where(gold, np.arange(K)[None], K), axis=1)
            self.actions = np.full((n, T), env.stop_action, dtype=np.int64)
            w = min(T, K)
            self.actions[:, :w] = np.where(np.arange(w)[None] < picks[:, None], ranked[:, :w], env.stop_action)
            self.mask = np.arange(T)[None] < steps[:, None]
        elif self.family == "choice":
            self.obs = {k: arrays[k].reshape(len(arrays[k]), -1)
                        for k in ("question_ids", "question_mask", "option_ids", "option_mask")}
            self.obs["num_options"] = np.asarray(arrays["num_options"], dtype=np.int64)[:, None]
            self.actions = np.asarray(arrays["answer"], dtype=np.int64)[:, None]
            self.mask = np.ones_like(self.actions, dtype=bool)
        env.close()
        self.n = len(self.actions)
        state = run.extra.get(key)
        if state is None:
            rng = np.random.default_rng(run.cfg.seed)
            state = {"rng": rng.bit_generator.state, "perm": rng.permutation(self.n), "pos": 0}
            run.extra[key] = state
        self.state = state

    def next_batch(self) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        dev = self.run.device
        if self.family == "select":
            obs = self.sampler.start()
            labels = np.asarray(self.sampler.last_info["label"], dtype=np.int64)
            return to_torch(obs, dev), torch.as_tensor(labels, device=dev)[:, None], torch.ones(len(labels), 1, dtype=torch.bool, device=dev)
        s = self.state
        idx = []
        while len(idx) < self.batch_size:  # a new permutation per pass over the split
            if s["pos"] >= self.n:
                rng = np.random.default_rng()
                rng.bit_generator.state = s["rng"]
                s["perm"] = rng.permutation(self.n)
                s["rng"], s["pos"] = rng.bit_generator.state, 0
            take = s["perm"][s["pos"] : s["pos"] + self.batch_size - len(idx)]
            s["pos"] += len(take)
            idx.extend(int(i) for i in take)
        idx = np.asarray(idx)[self.run.rank :: self.run.world_size]
        obs = {k: np.asarray(v[idx]) for k, v in self.obs.items()}
        T = int(self.mask[idx].sum(1).max())  # trim padding steps
        return (to_torch(obs, dev), torch.as_tensor(self.actions[idx, :T], device=dev),
                torch.as_tensor(self.mask[idx, :T], device=dev))


def loss_on(run: Run, obs: dict[str, torch.Tensor], actions: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Teacher-forced cross-entropy over the real steps, and the accuracy of the argmax."""
    with run.amp:
        logits, _ = run.policy.evaluate(obs, actions, mask)  # (B, T, A)
    logits = logits.float()[mask]  # (N, A)
    gold = actions[mask]
    smoothing = getattr(run.cfg, "label_smoothing", 0.0)
    loss = F.cross_entropy(logits, gold, label_smoothing=smoothing)
    acc = float((logits.argmax(-1) == gold).float().mean())
    return loss, acc


def fit(run: Run, num_examples: int, prefix: str = "") -> None:
    """Train ``num_examples`` examples without counting them in ``run.step`` (generation's warm start)."""
    data = GoldData(run, key=prefix + "order")
    seen = 0
    while seen < num_examples:
        obs, actions, mask = data.next_batch()
        loss, acc = loss_on(run, obs, actions, mask)
        run.optimize(loss)
        seen += len(actions)
    run.log({f"{prefix}loss": loss.item(), f"{prefix}accuracy": acc})


def train(run: Run) -> dict[str, Any]:
    """The supervised loop: batches of ``num_envs`` gold examples until ``total_steps`` examples."""
    data = GoldData(run)
    run.policy.train()
    while run.step < run.cfg.total_steps:
        obs, actions, mask = data.next_batch()
        loss, acc = loss_on(run, obs, actions, mask)
        grad_norm = run.optimize(loss)
        run.end_iteration(len(actions), {"losses/loss": loss.item(), "losses/cross_entropy": loss.item(),
                                         "charts/train_accuracy": acc, "losses/grad_norm": grad_norm})
    return run.finish()
