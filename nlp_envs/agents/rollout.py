"""Machinery shared by every algorithm: devices, seeding, rollouts on the native vector envs, scoring,
advantages, logging, checkpoints, and the greedy policy used for evaluation.

Rollouts come in *waves*: every sub-env of the vector env plays one whole episode, all starting
together (``venv.reset()`` draws each sub-env's next example from its seeded order). Sub-envs that
finish early keep being stepped with a valid dummy action (the model never runs for them, and those
steps are not recorded), so a wave is a batch of ``num_envs`` complete episodes, padded to the longest:
no episode is ever split across updates, per-episode caches (the sentence encoding for tagging, the
GPT-2 KV cache for generation) live exactly one wave, and a checkpoint between waves captures the
whole data order. GRPO uses *grouped* waves: the G sub-envs of a group are reset with the same seed,
so they draw the same example (same distractors, same everything).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

import nlp_envs  # noqa: F401  (registers the ids)
from nlp_envs.agents import distributed
from nlp_envs.agents.config import Config
from nlp_envs.agents.policy import NEG, Policy, apply_mask, env_kwargs_for_backbone, family_of, gumbel_sample, make_policy, to_torch
from nlp_envs.agents.runfolder import (PREVIOUS, CheckpointError, checkpoint_problem, load_state, read_json, reading, save_state,
                              verify_checkpoint, write_manifest)


# ----------------------------------------------------------------------------------------------
# device, precision, seeds
# ----------------------------------------------------------------------------------------------
def pick_device(spec: str = "auto") -> torch.device:
    """``auto``: cuda, then mps, then cpu."""
    if spec != "auto":
        return torch.device(spec)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when asked, else a no-op."""
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------------------------
# episodes and samplers
# ----------------------------------------------------------------------------------------------
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


class WaveSampler:
    """Waves of complete episodes on the native vector env (see the module doc).

    ``group_size > 1`` (GRPO): sub-envs ``g*G .. g*G+G-1`` are reset with one seed per wave, drawn
    from this sampler's own generator, so each group plays G copies of one example.
    """

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], num_envs: int, seed: int, group_size: int = 1) -> None:
        self.venv = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **env_kwargs)
        self.base = getattr(self.venv, "unwrapped", self.venv)
        self.num_envs, self.seed, self.group_size = num_envs, seed, group_size
        self.rng = np.random.default_rng(seed + 1_000_003)
        self.started = False
        self.episodes = 0  # episodes started (waves x num_envs): the examples an RL agent has seen
        self.last_info: dict[str, Any] = {}

    def start(self) -> dict[str, np.ndarray]:
        if self.group_size > 1:
            # Same as reset(seed=[s_0]*G + [s_1]*G + ...): the G sub-envs of a group get one generator.
            from gymnasium.utils import seeding

            seeds = self.rng.integers(0, 2**31 - 1, size=self.num_envs // self.group_size)
            if not self.started:
                self.venv.reset(seed=self.seed)
            for i, s in enumerate(np.repeat(seeds, self.group_size)):
                self.base._rngs[i] = seeding.np_random(int(s))[0]
            self.base._vorder.restart()
            obs, self.last_info = self.venv.reset()
        elif not self.started:
            obs, self.last_info = self.venv.reset(seed=self.seed)
        else:
            obs, self.last_info = self.venv.reset()
        self.started = True
        self.episodes += self.num_envs
        return obs

    def action_masks(self) -> np.ndarray:
        return np.asarray(self.base.action_masks(), dtype=bool)

    def step(self, actions: np.ndarray):
        return self.venv.step(actions)

    # data order (checkpoints): the vector env's per-sub-env generators and permutation cursors
    def state_dict(self) -> dict[str, Any]:
        vo = self.base._vorder
        return {"started": self.started, "episodes": self.episodes, "rng": self.rng.bit_generator.state,
                "env_rngs": [r.bit_generator.state for r in self.base._rngs],
                "perm": getattr(vo, "perm", None), "pos": vo.pos.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.episodes = int(state.get("episodes", 0))
        if state["started"]:
            self.venv.reset(seed=self.seed)  # marks the env started; the order is overwritten below
            for r, s in zip(self.base._rngs, state["env_rngs"]):
                r.bit_generator.state = s
            vo = self.base._vorder
            if state["perm"] is not None:
                vo.perm[...] = state["perm"]
            vo.pos[...] = state["pos"]
        self.started = state["started"]

    def close(self) -> None:
        self.venv.close()


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
    per_step_obs = getattr(policy, "per_step_obs", policy.family == "tag")
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
        if policy.family == "generate":
            with amp:
                policy.feed(state, a)
        live = live & ~(term | trunc)
    masks_t = torch.stack(amasks, 1)
    return Episodes(first, torch.stack(acts, 1), torch.stack(logps, 1), torch.stack(vals, 1), torch.stack(rews, 1),
                    torch.stack(alive, 1), None if bool(masks_t.all()) else masks_t)


def score(policy: Policy, ep: Episodes, amp: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Teacher-forced ``(logp, entropy, values)`` of the episodes' actions under ``policy``, each (B, T)."""
    with amp:
        logits, values = policy.evaluate(ep.first_obs, ep.actions, ep.mask)
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


# ----------------------------------------------------------------------------------------------
# greedy policy (evaluation, load_policy)
# ----------------------------------------------------------------------------------------------
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
            logits, _ = _next_token_logits(p, {k: v[off] for k, v in o.items()}, n[off], o["context_ids"].shape[1])
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


def _next_token_logits(p: Any, o: dict[str, torch.Tensor], n: torch.Tensor, ctx_len: int):
    """Logits of the next reply token after ``n`` reply tokens (one full forward)."""
    from nlp_envs.agents.policy import _positions, left_align

    ctx, cmask = left_align(o["context_ids"], o["context_mask"])
    R = o["reply_ids"].shape[1]
    rmask = (torch.arange(R, device=n.device)[None] < n[:, None]).long()
    ids = torch.cat([ctx, o["reply_ids"] * rmask], 1)
    mask = torch.cat([cmask, rmask], 1)
    logits, value, _ = p._forward(ids, mask, _positions(mask))
    last = ctx_len - 1 + n  # (B,)
    rows = torch.arange(len(n), device=n.device)
    return logits[rows, last], value[rows, last]


# ----------------------------------------------------------------------------------------------
# run: set-up, logging, checkpoints, final evaluation
# ----------------------------------------------------------------------------------------------
def build_policy(env_id: str, env_kwargs: dict[str, Any], backbone: str, freeze: bool = False) -> tuple[Policy, str]:
    """A fresh policy for ``env_id`` (spaces and vocabulary read from one single env); ``freeze``: a frozen,
    cached pretrained encoder (:mod:`nlp_envs.agents.frozen`)."""
    env = gym.make(env_id, disable_env_checker=True, **env_kwargs)
    try:
        vocab = int(env.unwrapped.encoder.vocab_size)
        policy = make_policy(env.observation_space, env.action_space, backbone, vocab)
    finally:
        env.close()
    if freeze:
        from nlp_envs.agents.frozen import freeze_backbone

        freeze_backbone(policy, backbone=backbone, env_id=env_id, env_kwargs=env_kwargs)
    return policy, policy.family


BACKBONE_MODULES = ("encoder", "lm")  # the policy attributes that hold the (pretrained or preset) backbone


def param_groups(policy: torch.nn.Module, cfg: Config) -> list[dict[str, Any]]:
    """AdamW groups: the backbone at ``cfg.backbone_lr`` (default ``cfg.lr``), the heads at ``cfg.lr``;
    frozen parameters (``requires_grad=False``) are left out. ``base_lr`` is the peak of the schedule."""
    backbone_ids = {id(p) for name in BACKBONE_MODULES if hasattr(policy, name)
                    for p in getattr(policy, name).parameters()}
    trainable = [(n, p) for n, p in policy.named_parameters() if p.requires_grad]
    body = [p for _, p in trainable if id(p) in backbone_ids]
    heads = [p for _, p in trainable if id(p) not in backbone_ids]
    blr = cfg.lr if cfg.backbone_lr is None else cfg.backbone_lr
    groups = [{"params": heads, "lr": cfg.lr, "base_lr": cfg.lr, "name": "heads"}]
    if body:
        groups.append({"params": body, "lr": blr, "base_lr": blr, "name": "backbone"})
    return [g for g in groups if g["params"]]


def lr_factor(cfg: Config, step: int) -> float:
    """Multiplier of the peak learning rates at ``step`` of ``cfg.total_steps``: linear warmup over
    ``warmup_frac``, then ``constant``, ``linear`` or ``cosine`` decay to 0."""
    frac = min(max(step / max(cfg.total_steps, 1), 0.0), 1.0)
    w = cfg.warmup_frac
    if w > 0 and frac < w:
        return max(frac / w, 1e-3)  # never exactly 0: the first step still moves
    if cfg.lr_decay == "constant":
        return 1.0
    rest = (frac - w) / max(1 - w, 1e-8)
    if cfg.lr_decay == "linear":
        return max(1.0 - rest, 1e-3)
    return max(0.5 * (1 + math.cos(math.pi * rest)), 1e-3)


class Logger:
    """``OUT/metrics.csv`` + TensorBoard ``OUT/tb/`` + a tqdm bar (metrics defined in nlp_envs/agents/README.md)."""

    def __init__(self, out: Path, total: int, initial: int, progress: bool, resume: bool) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from tqdm.auto import tqdm

        self.path = out / "metrics.csv"
        self.columns: list[str] | None = None
        if resume and self.path.exists():
            try:
                self.columns = self._truncate(initial)
            except (UnicodeDecodeError, csv.Error) as e:  # a damaged log does not block the resume
                import warnings

                aside = self.path.with_name("metrics.csv.damaged")
                os.replace(self.path, aside)
                warnings.warn(f"{self.path} is damaged ({e}): moved to {aside}, logging afresh", stacklevel=2)
        elif self.path.exists():
            self.path.unlink()
        # resuming at step S: TensorBoard hides the events after S written before the interruption
        self.tb = SummaryWriter(str(out / "tb"), purge_step=initial + 1 if resume else None)
        self.bar = tqdm(total=total, initial=initial, disable=not progress, unit="step", dynamic_ncols=True)
        self.last: dict[str, float] = {}

    def log(self, step: int, metrics: dict[str, float]) -> None:
        row = {"step": step, **{k: float(v) for k, v in metrics.items()}}
        if self.columns is None or not set(row) <= set(self.columns):
            old_rows: list[dict[str, str]] = []
            if self.columns is not None and self.path.exists():
                with open(self.path, newline="") as f:
                    old_rows = list(csv.DictReader(f))
            self.columns = (self.columns or []) + [k for k in row if k not in (self.columns or [])]
            self._rewrite(self.columns, old_rows)  # a new metric: rewrite with the wider header
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([_fmt(row.get(c, "")) for c in self.columns])
        for k, v in metrics.items():
            self.tb.add_scalar(k, float(v), step)
        self.last = row
        self.bar.n = step
        shown = {k: f"{row[k]:.3g}" for k in ("charts/episode_return", "losses/loss") if k in row}
        self.bar.set_postfix(shown, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
        self.tb.close()

    def _rewrite(self, columns: list[str], rows: list[dict[str, str]]) -> None:
        """Replace metrics.csv atomically (a kill never leaves it half-written)."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, columns)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, self.path)

    def _truncate(self, step: int) -> list[str] | None:
        """Resuming at checkpoint step ``step``: drop the rows logged after it (that work is redone) and a
        last row cut short by a kill; return the header."""
        with open(self.path, newline="") as f:
            text = f.read()
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines = lines[:-1]  # the process died while appending this row
        rows = list(csv.reader(lines))
        if not rows:
            return None
        header, body = rows[0], rows[1:]
        keep = [r for r in body if len(r) == len(header) and _step_of(r[0]) is not None and _step_of(r[0]) <= step]
        if len(keep) != len(body) or len(lines) != len(text.splitlines(keepends=True)):
            self._rewrite(header, [dict(zip(header, r)) for r in keep])
        return header


class QuietLogger:
    """The logger of ranks > 0: keeps the last (rank-averaged) row, writes nothing."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}
        self.tb = _NoWriter()

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.last = {"step": step, **{k: float(v) for k, v in metrics.items()}}

    def close(self) -> None:
        pass


class _NoWriter:
    def add_scalar(self, *args: Any, **kwargs: Any) -> None:
        pass


def checkpoint_dir(run_dir: str | os.PathLike) -> Path:
    """``run_dir/checkpoint``, or ``run_dir/checkpoint.prev`` when a save was interrupted between its two
    renames (the previous checkpoint is complete; the new one is not there yet); ``.checkpoint.old`` is
    the same for runs of older versions."""
    run_dir = Path(run_dir)
    for path in (run_dir / "checkpoint", run_dir / PREVIOUS, run_dir / ".checkpoint.old"):
        if path.exists():
            return path
    return run_dir / "checkpoint"


def has_checkpoint(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` holds a checkpoint folder, intact or not (False: the run was stopped before its
    first checkpoint was complete)."""
    return checkpoint_dir(run_dir).exists()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _step_of(cell: str) -> float | None:
    """The step of a metrics.csv row; None for a damaged one (dropped on resume)."""
    try:
        return float(cell)
    except ValueError:
        return None


def _fmt(v: Any) -> Any:
    return repr(v) if isinstance(v, float) else v


class Run:
    """Everything one training run owns: config, env kwargs, policy, optimizer, sampler, logs, checkpoints.

    The run directory holds ``run.json`` (what ``nlp-envs eval DIR`` reads), ``metrics.csv``, ``tb/``,
    ``checkpoint/`` (model.safetensors, config.json, optimizer.safetensors + optimizer.json, rng.json (+
    rng.safetensors), data_order.json, trainer_state.json, manifest.json; written to a temp dir and renamed;
    no pickle, see :mod:`nlp_envs.agents.runfolder`), ``checkpoint.prev/`` (the one before, while training) and
    ``final_metrics.json``.

    Under ``torchrun`` (``WORLD_SIZE > 1``) every rank builds a Run: it joins the process group, plays
    its own rank-offset-seeded sub-envs, averages gradients in :meth:`optimize`, and reduces step counts
    and metrics; rank 0 alone writes files (see :mod:`nlp_envs.agents.distributed`).
    """

    def __init__(self, env_id: str, cfg: Config, *, backbone: str, out: str | os.PathLike,
                 env_kwargs: dict[str, Any] | None = None, resume: bool = False) -> None:
        self.env_id, self.cfg, self.backbone = env_id, cfg, backbone
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.env_kwargs = env_kwargs_for_backbone(backbone, env_kwargs)
        self.device = distributed.rank_device(pick_device(cfg.device))
        distributed.init(self.device)
        self.rank, self.world_size, self.is_main = distributed.rank(), distributed.world_size(), distributed.is_main()
        self.amp = autocast(self.device, cfg.bf16)
        seed_everything(cfg.seed)
        if not self.is_main:
            distributed.barrier()  # rank 0 prepares (and caches) the data first
        self.policy, self.family = build_policy(env_id, self.env_kwargs, backbone, freeze=cfg.freeze_backbone)
        if self.is_main:
            distributed.barrier()
        self.policy.to(self.device)
        distributed.broadcast_module(self.policy)
        if self.rank > 0:
            seed_everything(cfg.seed + 1_000_003 * self.rank)  # own sampling noise per rank; rank 0 as alone
        if cfg.compile:
            for name in ("encoder", "lm"):
                if hasattr(self.policy, name):
                    getattr(self.policy, name).compile()
        self.ref: Policy | None = None  # frozen warm start (generation; :func:`~nlp_envs.agents.supervised.warm_start`)
        self.optimizer = torch.optim.AdamW(param_groups(self.policy, cfg), weight_decay=cfg.weight_decay,
                                           eps=cfg.adam_eps)
        self.step = 0
        self.iteration = 0
        self.extra: dict[str, Any] = {}  # algorithm state saved in checkpoints (e.g. an EMA baseline)
        self.sampler: Any = None
        self.started = time.time()
        self.curve_eval_seconds = 0.0  # time spent on curve_points evaluations (left out of train_seconds)
        self.checkpoints_saved = 0  # save_checkpoint calls (supervised early stopping prunes after each)
        self._last_save = time.monotonic()  # checkpoint_seconds counts from here
        run_json = {"kind": "transformer", "env_id": env_id, "env_kwargs": self.env_kwargs, "algo": cfg.algo,
                    "backbone": backbone, "family": self.family, "seed": cfg.seed, "device": str(self.device),
                    "num_parameters": sum(p.numel() for p in self.policy.parameters()),
                    "trainable_parameters": sum(p.numel() for p in self.policy.parameters() if p.requires_grad),
                    "freeze_backbone": cfg.freeze_backbone,
                    "config": cfg.to_dict()}  # what a run killed before its first checkpoint restarts with
        if self.world_size > 1:
            run_json["world_size"] = self.world_size
        if self.is_main:
            _write_atomic(self.out / "run.json", json.dumps(run_json, indent=2, default=str))
            for stale in self.out.glob(".checkpoint.tmp-*"):  # a save cut short by a kill
                shutil.rmtree(stale, ignore_errors=True)
        self.resumed = resume
        if resume:
            self.load_checkpoint(checkpoint_dir(self.out))
        self.logger: Logger | QuietLogger = (
            Logger(self.out, cfg.total_steps, self.step, cfg.progress, resume) if self.is_main else QuietLogger())

    # -- helpers for the algorithm files ---------------------------------------------------------
    def make_sampler(self, group_size: int = 1) -> WaveSampler:
        # rank r's sub-envs are seeded seed + r*num_envs + i: all ranks together = one vector env
        seed = self.cfg.seed + self.rank * self.cfg.num_envs
        self.sampler = WaveSampler(self.env_id, self.env_kwargs, self.cfg.num_envs, seed, group_size)
        if self._pending_order is not None:
            self.sampler.load_state_dict(self._pending_order)
            self._pending_order = None
        return self.sampler

    _pending_order: dict[str, Any] | None = None

    def optimize(self, loss: torch.Tensor) -> float:
        """One optimizer step (with clipping, at the scheduled learning rates); returns the gradient norm
        (of the rank-averaged gradient)."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for p in self.policy.parameters() if p.requires_grad]
        distributed.all_reduce_grads(params)
        norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.max_grad_norm or float("inf"))
        factor = lr_factor(self.cfg, self.step)
        for group in self.optimizer.param_groups:
            base = group.setdefault("base_lr", group["lr"])  # an optimizer swapped in by the caller: its lr is the peak
            group["lr"] = base * factor
        self.optimizer.step()
        return float(norm)

    def lr(self) -> float:
        """The heads' learning rate now (logged as ``charts/learning_rate``)."""
        return self.cfg.lr * lr_factor(self.cfg, self.step)

    def log(self, metrics: dict[str, float]) -> None:
        metrics = distributed.reduce_metrics(metrics)  # mean over ranks (every rank calls log in step)
        elapsed = time.time() - self.started
        self.logger.log(self.step, {**metrics, "charts/iteration": self.iteration, "charts/elapsed_s": elapsed,
                                    "charts/learning_rate": self.lr()})

    def end_iteration(self, steps: int, metrics: dict[str, float]) -> bool:
        """Count ``steps`` env steps (or examples), log ``metrics`` at the new step, checkpoint when due;
        True while budget remains. ``steps`` are this rank's; ``run.step`` counts all ranks'."""
        self.step += distributed.sum_int(steps)
        self.iteration += 1
        self.log(metrics)
        self._curve_point()
        if self.step < self.cfg.total_steps and self._checkpoint_due():
            self.save_checkpoint()
        return self.step < self.cfg.total_steps

    def _checkpoint_due(self) -> bool:
        """Every ``checkpoint_every`` updates, and whenever ``checkpoint_seconds`` have passed since the last
        checkpoint (or the start): rank 0's clock decides, so that every rank saves together."""
        every, seconds = self.cfg.checkpoint_every, self.cfg.checkpoint_seconds
        if every and self.iteration % every == 0:
            return True
        if not seconds:
            return False
        late = self.is_main and time.monotonic() - self._last_save >= seconds
        return distributed.sum_int(int(late)) > 0 if self.world_size > 1 else late

    @property
    def examples(self) -> int:
        """Examples (episodes) seen so far, all ranks: the waves' episodes for RL, ``step`` for supervised."""
        if self.cfg.algo == "supervised" or self.sampler is None:
            return self.step
        return self.sampler.episodes * self.world_size

    def evaluate(self, split: str) -> dict[str, Any]:
        """``nlp_envs.evaluate`` of the greedy policy on ``split`` (rank 0); the policy goes back to train mode."""
        from nlp_envs.evaluation import evaluate

        metrics = evaluate(self.env_id, GreedyPolicy(self.policy, self.device, self.amp), split=split,
                           num_envs=self.cfg.eval_envs, seed=self.cfg.seed, **self.env_kwargs)
        self.policy.train()
        return metrics

    def _curve_point(self) -> None:
        """The sample-efficiency curve: evaluate on ``eval_split`` when the step count crosses the next of
        ``curve_points`` evenly spaced budget fractions (appended to ``OUT/eval_curve.json``)."""
        n, split = self.cfg.curve_points, self.cfg.eval_split
        if not n or not split or not self.is_main or self.step >= self.cfg.total_steps:
            return  # the end of the budget is evaluated by finish()
        done = self.extra.setdefault("curve_done", 0)
        due = int(self.step * n / self.cfg.total_steps)  # points whose fraction k/n the step count has passed
        if due <= done:
            return
        self.extra["curve_done"] = due
        t0 = time.time()
        metrics = self.evaluate(split)
        self._append_curve(metrics, eval_seconds=time.time() - t0)

    def _append_curve(self, metrics: dict[str, Any], eval_seconds: float) -> None:
        path = self.out / "eval_curve.json"
        curve = read_json(path) if path.exists() else []
        curve = [p for p in curve if p["step"] < self.step]  # a resumed run redoes the later points
        self.curve_eval_seconds += eval_seconds
        scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        curve.append({"step": self.step, "examples": self.examples,
                      "train_seconds": round(time.time() - self.started - self.curve_eval_seconds, 2),
                      "metrics": scalars})
        _write_atomic(path, json.dumps(curve, indent=1))
        for k, v in scalars.items():
            self.logger.tb.add_scalar(f"curve/{k}", float(v), self.step)

    # -- checkpoints ---------------------------------------------------------------------------
    def save_checkpoint(self, keep_previous: bool = True) -> Path:
        """Write ``OUT/checkpoint/`` (see the class doc) through a temp dir, renamed into place once complete
        (``manifest.json`` last); the checkpoint it replaces becomes ``checkpoint.prev/`` (removed when
        ``keep_previous`` is False: the final checkpoint of a finished run)."""
        from safetensors.torch import save_model

        final = self.out / "checkpoint"
        # every rank's own RNG and data order (rank r > 0 under checkpoint/rank{r}/); rank 0 writes them all
        mine = {"rng": rng_state(),
                "order": {"sampler": self.sampler.state_dict() if self.sampler is not None else None, **self.extra}}
        states = distributed.gather_to_main(mine)
        self.checkpoints_saved += 1
        self._last_save = time.monotonic()
        if not self.is_main:
            return final
        assert states is not None
        tmp = Path(tempfile.mkdtemp(dir=self.out, prefix=".checkpoint.tmp-"))
        save_model(self.policy, str(tmp / "model.safetensors"))
        if self.ref is not None:
            save_model(self.ref, str(tmp / "ref.safetensors"))
        (tmp / "config.json").write_text(self.cfg.to_json())
        save_state(self.optimizer.state_dict(), tmp, "optimizer")
        for r, state in enumerate(states):
            folder = tmp if r == 0 else tmp / f"rank{r}"
            folder.mkdir(exist_ok=True)
            save_state(state["rng"], folder, "rng")
            save_state(state["order"], folder, "data_order")
        trainer_state = {"step": self.step, "iteration": self.iteration, "algo": self.cfg.algo, "env_id": self.env_id}
        if self.world_size > 1:
            trainer_state["world_size"] = self.world_size
        (tmp / "trainer_state.json").write_text(json.dumps(trainer_state, indent=2))
        write_manifest(tmp)
        prev = self.out / PREVIOUS
        if final.exists():
            shutil.rmtree(prev, ignore_errors=True)
            os.replace(final, prev)  # a kill from here to the next rename resumes from checkpoint.prev
        os.replace(tmp, final)
        shutil.rmtree(self.out / ".checkpoint.old", ignore_errors=True)  # an older version's leftover
        if not keep_previous:
            shutil.rmtree(prev, ignore_errors=True)
        return final

    def load_checkpoint(self, path: Path) -> None:
        """Restore the run from checkpoint ``path`` (checked against its manifest first). Only JSON and
        safetensors files are read; :class:`~nlp_envs.agents.runfolder.CheckpointError` names a damaged file."""
        from safetensors.torch import load_model

        if not (path / "trainer_state.json").exists() and not (path / "manifest.json").exists():
            raise CheckpointError(f"no checkpoint in {path}: nothing to resume")
        try:
            verify_checkpoint(path)
            with reading(path / "model.safetensors"):
                load_model(self.policy, str(path / "model.safetensors"), device=str(self.device))
            if (path / "ref.safetensors").exists():
                import copy

                self.ref = copy.deepcopy(self.policy).eval().requires_grad_(False)
                with reading(path / "ref.safetensors"):
                    load_model(self.ref, str(path / "ref.safetensors"), device=str(self.device))
            optimizer_state = load_state(path, "optimizer")
            with reading(path / "optimizer.json"):
                self.optimizer.load_state_dict(optimizer_state)
            state = read_json(path / "trainer_state.json", CheckpointError)
            with reading(path / "trainer_state.json"):
                self.step, self.iteration = int(state["step"]), int(state["iteration"])
                saved_world = int(state.get("world_size", 1))
            own = path if self.rank == 0 else path / f"rank{self.rank}"
            if saved_world != self.world_size and self.is_main:
                import warnings

                warnings.warn(f"resuming a {saved_world}-process run on {self.world_size}: ranks >= {saved_world} "
                              f"start their data order afresh", stacklevel=2)
            if (own / "data_order.json").exists():
                order = load_state(own, "data_order")
                with reading(own / "data_order.json"):
                    self._pending_order = order.pop("sampler")
                    self.extra = order
                rng = load_state(own, "rng")
                with reading(own / "rng.json"):
                    set_rng_state(rng)
        except CheckpointError as e:
            raise checkpoint_problem(self.out, path, e) from None

    # -- the end ---------------------------------------------------------------------------------
    def finish(self, extra_metrics: dict[str, float] | None = None) -> dict[str, Any]:
        """Final checkpoint, test evaluation through ``nlp_envs.evaluate``, ``final_metrics.json`` (the
        evaluation and the file on rank 0 only; other ranks return the training metrics)."""
        self.save_checkpoint(keep_previous=False)
        result: dict[str, Any] = {"step": self.step, "iteration": self.iteration,
                                  "train_seconds": time.time() - self.started, **(extra_metrics or {})}
        result.update({k: v for k, v in self.logger.last.items() if k != "step"})
        for k, v in (self.extra.get("warm_start/summary") or {}).items():  # generation: where the MLE warm start stopped
            result.setdefault(f"warm_start/{k}", v)
        if self.cfg.eval_split and self.is_main:
            metrics = self.evaluate(self.cfg.eval_split)
            if self.cfg.curve_points:
                self._append_curve(metrics, eval_seconds=0.0)
            scalars = {f"eval/{k}": v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            for k, v in scalars.items():
                self.logger.tb.add_scalar(k, float(v), self.step)
            result.update(scalars)
            result["eval"] = metrics
        self.logger.close()
        if self.sampler is not None:
            self.sampler.close()
        if self.cfg.freeze_backbone:
            from nlp_envs.agents.frozen import flush

            flush(self.policy)  # the encoded rows go to the disk cache now, not only at exit
        if self.is_main:
            _write_atomic(self.out / "final_metrics.json", json.dumps(result, indent=2, default=str))
        return result


def load_policy(run_dir: str | os.PathLike, device: str = "auto") -> tuple[str, dict[str, Any], GreedyPolicy]:
    """``(env_id, env_kwargs, greedy policy)`` of a transformer run directory. Reads ``run.json``,
    ``checkpoint/config.json`` and ``checkpoint/model.safetensors`` only (checked against the manifest
    when there is one: checkpoints of older versions have none)."""
    from safetensors.torch import load_model

    from nlp_envs.agents.runfolder import read_run_json

    run_dir = Path(run_dir)
    info = read_run_json(run_dir)
    ckpt = checkpoint_dir(run_dir)
    if not ckpt.exists():
        raise CheckpointError(f"{run_dir} has no checkpoint/model.safetensors: the run stopped before its first "
                              f"checkpoint (`nlp-envs train --resume {run_dir}` starts it again)")
    try:
        if (ckpt / "manifest.json").exists():
            verify_checkpoint(ckpt, only=("model.safetensors", "config.json"))
        cfg = read_json(ckpt / "config.json", CheckpointError) if (ckpt / "config.json").exists() else {}
        dev = pick_device(device)
        with reading(run_dir / "run.json"):
            env_id, env_kwargs, backbone = info["env_id"], dict(info["env_kwargs"]), info["backbone"]
        policy, _ = build_policy(env_id, env_kwargs, backbone, freeze=bool(cfg.get("freeze_backbone", False)))
        with reading(ckpt / "model.safetensors"):
            load_model(policy, str(ckpt / "model.safetensors"), device=str(dev))
    except CheckpointError as e:
        raise checkpoint_problem(run_dir, ckpt, e) from None
    policy.to(dev)
    return env_id, env_kwargs, GreedyPolicy(policy, dev)
