"""Config dataclasses of the transformer agents: one per algorithm, fields with one-line docs.

Every field can be set from the command line with ``--set key=value`` (types follow the field) or as
a keyword of :func:`nlp_envs.agents.train.train`. ``__post_init__`` checks invariants and says how to fix them.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class Config:
    """Settings shared by every algorithm."""

    total_steps: int = 20_000
    """Budget: env steps (agent actions) for RL, gold examples (episodes) for supervised training."""
    seed: int = 0
    """Seeds python, numpy, torch and the envs; two CPU runs with one seed give identical losses."""
    num_envs: int = 64
    """Sub-envs of the native vector env = episodes collected per rollout (supervised: batch size)."""
    lr: float = 5e-4
    """AdamW learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    adam_eps: float = 1e-8
    """AdamW epsilon."""
    max_grad_norm: float = 1.0
    """Gradient clipping by global norm (0 disables)."""
    gamma: float = 1.0
    """Discount factor in [0, 1]. 1.0 for one-step envs and sparse rewards; a small or zero gamma gives
    each step of a dense-reward episode (tagging) its own credit (see nlp_envs/agents/hyperparams/transformer.yml)."""
    ent_coef: float = 0.01
    """Entropy bonus coefficient."""
    kl_coef: float = 0.05
    """Generation only: per-token KL penalty to the frozen warm-start policy, subtracted from rewards."""
    warm_start_examples: int = 2_000
    """Generation only: supervised (MLE) examples on the train replies before RL (0 disables)."""
    warm_start_lr: float | None = None
    """Generation only: learning rate of the MLE warm start (every parameter group); None: ``lr``. RL
    after a converged warm start wants a far smaller ``lr`` than MLE does (the sweep's DialogReply-v1 cells)."""
    warm_start_eval_every: int = 2_000
    """Generation only: examples of the MLE warm start between two validation evaluations (early stopping and
    the best weights kept). Each greedy validation decodes every reply of the (strided) validation split, so a
    long warm start validates more sparsely (SGD: 4,000, half the decoding of 2,000 for the same best weights)."""
    warm_start_patience: int = 3
    """Generation only: validation evaluations of the MLE warm start (one every ``warm_start_eval_every``
    examples) without improvement before it stops; a noisy, slow validation curve (SGD) wants more."""
    warm_start_val_stride: int = 1
    """Generation only: the MLE warm start validates on every this-many-th example of the validation split
    (a fixed subset spread evenly over it; 1: all of it), as ``SupervisedConfig.val_stride``."""
    warm_start_cpu_bf16: bool | None = None
    """Generation only: bf16 autocast on a CPU for the MLE warm start (``cpu_bf16`` for it alone; None: as RL).
    MLE on the tiny decoder gives the same losses as fp32 to 4 digits, 2x faster (sweep round 10), while RL keeps
    its fp32 importance ratios and KL."""
    warm_start_from: str = ""
    """Generation only: a finished supervised run folder (``nlp-envs train ENV --algo supervised``) whose
    final checkpoint is the MLE warm start, instead of training one here: its best weights, and the
    optimizer and random states it ended with, so RL after it is RL after the in-process warm start, bit for
    bit on a CPU. Its env, backbone, seed and fit settings must be the ones this config's warm start would
    train with (``total_steps = warm_start_examples``, its rates, ``eval_every`` 2,000, ``patience =
    warm_start_patience``); a mismatch fails naming the field. The learning grid trains each generation
    warm start once this way: the supervised cell of a seed is the warm start of its RL cells."""
    backbone_lr: float | None = None
    """Learning rate of the backbone's parameters (encoder / decoder); None: ``lr``. The heads always use
    ``lr``: a pretrained encoder wants ~5e-5 while its freshly initialised heads want ~1e-3."""
    warmup_frac: float = 0.0
    """Share of the budget (``total_steps``) over which the learning rates rise linearly from 0."""
    lr_decay: str = "constant"
    """After warmup: ``constant``, ``linear`` (to 0 at ``total_steps``) or ``cosine`` (to 0)."""
    freeze_backbone: bool = False
    """Pretrained backbones only: freeze the encoder, encode each example once (cached on disk, keyed by
    backbone and data) and train only the heads. Fast on a CPU; results are labelled "frozen"."""
    device: str = "auto"
    """``auto`` (cuda, then mps, then cpu), or a torch device string."""
    bf16: bool = True
    """bf16 autocast on CUDA (ignored elsewhere: see ``cpu_bf16``)."""
    cpu_bf16: bool = False
    """bf16 autocast on a CPU too (weights, optimizer and losses stay fp32), where the CPU computes bf16 natively
    (AVX-512 BF16 or AMX; elsewhere it is ignored: emulated bf16 is slower than fp32). There it trains the tiny
    generation decoder 2x faster with the same losses as fp32 to 4 digits (sweep round 10). Off by default (a
    recipe turns it on): results differ from fp32 at bf16 precision."""
    compile: bool = False
    """Wrap the backbone with ``torch.compile``."""
    checkpoint_every: int = 50
    """Write ``OUT/checkpoint/`` every this many updates (and always at the end); 0 = only at the end."""
    checkpoint_seconds: float = 60.0
    """Also write it whenever this many seconds have passed since the last one (or the start), so that a
    run killed early has a checkpoint; 0 = by ``checkpoint_every`` only."""
    eval_envs: int = 64
    """Sub-envs used by the final ``nlp_envs.evaluate`` on the test split."""
    eval_split: str = "test"
    """Split of the final evaluation ("" skips it)."""
    curve_points: int = 0
    """Also evaluate the greedy policy on ``eval_split`` at this many evenly spaced points of the budget:
    the sample-efficiency curve (metric against examples seen and seconds) in ``OUT/eval_curve.json``.
    A report only: nothing is chosen on it (early stopping reads the validation split)."""
    progress: bool = True
    """Show a tqdm progress bar."""

    algo: str = field(default="", init=False)

    def __post_init__(self) -> None:
        if self.total_steps < 1:
            raise ValueError(f"total_steps={self.total_steps} must be >= 1 (the budget: env steps, or examples)")
        if self.num_envs < 1:
            raise ValueError(f"num_envs={self.num_envs} must be >= 1")
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr} must be > 0 (try 3e-4 for tiny, 5e-5 for minilm)")
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"gamma={self.gamma} must be in [0, 1]")
        if self.backbone_lr is not None and not self.backbone_lr > 0:
            raise ValueError(f"backbone_lr={self.backbone_lr} must be > 0 (or None to use lr)")
        if not 0 <= self.warmup_frac < 1:
            raise ValueError(f"warmup_frac={self.warmup_frac} must be in [0, 1)")
        if self.lr_decay not in ("constant", "linear", "cosine"):
            raise ValueError(f"lr_decay={self.lr_decay!r}: use 'constant', 'linear' or 'cosine'")
        if not isinstance(self.warm_start_eval_every, int) or self.warm_start_eval_every < 1:
            raise ValueError(f"warm_start_eval_every={self.warm_start_eval_every!r} must be an int >= 1 (examples "
                             f"between two validations of the MLE warm start)")
        if not isinstance(self.warm_start_patience, int) or self.warm_start_patience < 1:
            raise ValueError(f"warm_start_patience={self.warm_start_patience!r} must be an int >= 1")
        if not isinstance(self.warm_start_val_stride, int) or self.warm_start_val_stride < 1:
            raise ValueError(f"warm_start_val_stride={self.warm_start_val_stride!r} must be an int >= 1 (1: the whole "
                             "validation split)")
        if self.warm_start_from and self.warm_start_examples <= 0:
            raise ValueError(f"warm_start_from={self.warm_start_from!r} with warm_start_examples="
                             f"{self.warm_start_examples}: a warm start of 0 examples has nothing to reuse; set "
                             "warm_start_examples to the supervised run's budget")
        if self.warm_start_lr is not None and not self.warm_start_lr > 0:
            raise ValueError(f"warm_start_lr={self.warm_start_lr} must be > 0 (or None: lr)")
        if self.kl_coef < 0 or self.ent_coef < 0:
            raise ValueError(f"kl_coef={self.kl_coef} and ent_coef={self.ent_coef} must be >= 0")
        if self.curve_points < 0:
            raise ValueError(f"curve_points={self.curve_points} must be >= 0")
        if self.checkpoint_every < 0 or self.checkpoint_seconds < 0:
            raise ValueError(f"checkpoint_every={self.checkpoint_every} and checkpoint_seconds="
                             f"{self.checkpoint_seconds} must be >= 0 (0 disables)")
        if self.max_grad_norm < 0:
            raise ValueError(f"max_grad_norm={self.max_grad_norm} must be >= 0 (0 disables clipping)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        names = {f.name for f in fields(cls) if f.init}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class ReinforceConfig(Config):
    """REINFORCE (Williams, 1992) with a baseline."""

    baseline: str = "learned"
    """``learned`` (value head, trained with MSE) or ``ema`` (moving average of episode returns)."""
    baseline_decay: float = 0.9
    """Decay of the ``ema`` baseline."""
    vf_coef: float = 0.5
    """Weight of the value loss (``learned`` baseline)."""
    norm_adv: bool = True
    """Normalise advantages over the batch."""
    update_epochs: int = 1
    """Gradient steps per wave. The first is plain REINFORCE; later ones reuse the wave's episodes with the
    importance ratio pi/pi_old, clipped at ``1 +- clip_coef`` (the wave was sampled by the first policy)."""
    clip_coef: float = 0.2
    """Ratio clipping of the reused steps (``update_epochs > 1`` only)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.algo = "reinforce"
        if self.update_epochs < 1:
            raise ValueError(f"update_epochs={self.update_epochs} must be >= 1")
        if not self.clip_coef > 0:
            raise ValueError(f"clip_coef={self.clip_coef} must be > 0")
        if self.baseline not in ("learned", "ema"):
            raise ValueError(f"baseline={self.baseline!r}: use 'learned' or 'ema'")
        if not 0 <= self.baseline_decay < 1:
            raise ValueError(f"baseline_decay={self.baseline_decay} must be in [0, 1)")


@dataclass
class PPOConfig(Config):
    """PPO (Schulman et al., 2017), clipped objective, GAE, as in CleanRL's ``ppo.py``."""

    # TextCls-v0, tiny, 8k steps, seed 0 (test accuracy): 2 epochs x 2 minibatches, ent 0.01 -> 0.34;
    # ent 0.03 -> 0.45; 4 epochs x 1 minibatch (full batch), ent 0.03 -> 0.49; 4 x 4 at lr 1e-3 diverged
    # (approx KL 0.2-0.6 per update, reward at chance); lr 1e-3 with 4 x 1 -> 0.43 (KL ~0.2); num_envs 32 -> 0.50
    # (slower). At 16k steps: ent 0.03 -> 0.654, ent 0.05 -> 0.742 (supervised: 0.78 at 4k examples).
    ent_coef: float = 0.05
    """Entropy bonus (PPO default 0.05: 0.01 let the policy collapse to a few labels early; 16k steps: 0.742 vs 0.654 at 0.03)."""
    update_epochs: int = 4
    """Passes over each rollout (4 full-batch passes: 0.49 vs 0.45 for 2 x 2 at 8k steps on TextCls-v0)."""
    num_minibatches: int = 1
    """Minibatches per pass (episodes are split, never cut); small minibatches (16 episodes) gave noisy, diverging steps."""
    clip_coef: float = 0.2
    """Ratio clipping epsilon."""
    clip_vloss: bool = False
    """Clip the value loss as in the PPO paper's code."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    norm_adv: bool = True
    """Normalise advantages per minibatch."""
    target_kl: float | None = None
    """Stop the epochs of an update early when the approximate KL exceeds this (None: never)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.algo = "ppo"
        if self.update_epochs < 1 or self.num_minibatches < 1:
            raise ValueError(f"update_epochs={self.update_epochs}, num_minibatches={self.num_minibatches} must be >= 1")
        if self.num_minibatches > self.num_envs:
            raise ValueError(
                f"num_minibatches={self.num_minibatches} > num_envs={self.num_envs} episodes per rollout: "
                f"lower num_minibatches or raise num_envs"
            )
        if not 0 <= self.gae_lambda <= 1:
            raise ValueError(f"gae_lambda={self.gae_lambda} must be in [0, 1]")


@dataclass
class GRPOConfig(Config):
    """GRPO (Shao et al., 2024): G samples per example, group-normalised advantages, no critic."""

    group_size: int = 8
    """G: samples (episodes) per example; ``num_envs`` must be a multiple of it."""
    clip_coef: float = 0.2
    """Ratio clipping epsilon (only matters with update_epochs > 1)."""
    update_epochs: int = 1
    """Passes over each batch of groups."""
    scale_rewards: bool = True
    """Divide by the group's return std (Dr. GRPO sets this False)."""
    flat_groups: str = "batch"
    """Groups whose G returns are all equal (all wrong or all right on a 0/1 reward: std 0, so GRPO's
    advantage is 0 and the group is wasted): ``batch`` gives them the return minus the mean return of the
    whole wave, divided by the wave's std (a batch baseline: an all-wrong group is pushed away from its
    answer); ``zero`` keeps GRPO's zero advantage."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.algo = "grpo"
        if self.flat_groups not in ("batch", "zero"):
            raise ValueError(f"flat_groups={self.flat_groups!r}: use 'batch' or 'zero'")
        if self.group_size < 2:
            raise ValueError(f"group_size={self.group_size} must be >= 2 (a group of one has no baseline)")
        if self.num_envs % self.group_size:
            raise ValueError(
                f"num_envs={self.num_envs} is not a multiple of group_size={self.group_size}: "
                f"use num_envs={self.num_envs // self.group_size * self.group_size or self.group_size}"
            )


@dataclass
class SupervisedConfig(Config):
    """Cross-entropy on the gold actions (labels, tags, reply tokens), teacher-forced."""

    label_smoothing: float = 0.0
    """Label smoothing of the cross-entropy."""
    early_stopping: bool = True
    """Evaluate on ``val_split`` every ``eval_every`` examples, keep the best weights, and stop after
    ``patience`` evaluations without improvement; ``total_steps`` is then the most examples trained on."""
    eval_every: int = 0
    """Examples between two validation evaluations; 0: one pass over the train split (an epoch)."""
    patience: int = 3
    """Validation evaluations without improvement of the main metric before training stops."""
    val_split: str = "validation"
    """Split used for early stopping (never the test split)."""
    val_stride: int = 1
    """Early stopping validates on every this-many-th example of ``val_split`` (examples ``0, k, 2k...`` of
    the env's own shard): a fixed subset spread evenly over the split, for a split whose full greedy
    evaluation costs more than the training between two evaluations (SGD generation: ~3,900 replies). 1:
    all of it. The test evaluations always read the whole ``eval_split``."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.algo = "supervised"
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing={self.label_smoothing} must be in [0, 1)")
        if self.eval_every < 0 or self.patience < 1:
            raise ValueError(f"eval_every={self.eval_every} must be >= 0 and patience={self.patience} >= 1")
        if not isinstance(self.val_stride, int) or self.val_stride < 1:
            raise ValueError(f"val_stride={self.val_stride!r} must be an int >= 1 (1: the whole {self.val_split} split)")
        if self.early_stopping and self.val_split in ("", "test"):
            raise ValueError(f"val_split={self.val_split!r}: early stopping needs a validation split, never test")


CONFIGS: dict[str, type[Config]] = {
    "reinforce": ReinforceConfig, "ppo": PPOConfig, "grpo": GRPOConfig, "supervised": SupervisedConfig,
}


def make_config(algo: str, **overrides: Any) -> Config:
    """The config of ``algo`` with ``overrides`` (unknown keys fail, listing the valid ones)."""
    if algo not in CONFIGS:
        raise ValueError(f"algo={algo!r}: expected one of {sorted(CONFIGS)}")
    cls = CONFIGS[algo]
    names = {f.name for f in fields(cls) if f.init}
    unknown = set(overrides) - names
    if unknown:
        raise ValueError(f"unknown {algo} settings {sorted(unknown)}; valid: {sorted(names)}")
    return cls(**overrides)


def parse_set(algo: str, items: list[str]) -> dict[str, Any]:
    """``["lr=1e-3", "target_kl=none"]`` -> typed overrides for ``algo``'s config."""
    cls = CONFIGS[algo]
    types = {f.name: f.type for f in fields(cls) if f.init}
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise ValueError(f"--set {item!r}: expected key=value")
        if key not in types:
            raise ValueError(f"--set {key}: unknown {algo} setting; valid: {sorted(types)}")
        t = str(types[key])
        v = raw.strip()
        if v.lower() in ("none", "null") and "None" in t:
            out[key] = None
        elif t.startswith("bool"):
            if v.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(f"--set {key}={v}: expected true/false")
            out[key] = v.lower() in ("1", "true", "yes")
        elif t.startswith("int"):
            out[key] = int(float(v)) if "e" in v.lower() else int(v)
        elif t.startswith("float"):
            out[key] = float(v)
        else:
            out[key] = v
    return out
