"""Supervised reference: the same backbones and heads, trained with cross-entropy on the gold actions.

Gold comes from the env, as its family contract says (``Family.gold``, :mod:`nlp_envs.family`), and each
example is scored teacher-forced by ``policy.score_actions`` exactly as PPO re-scores an episode:

* ``gold="episodes"``: the env's public ``gold_episodes()`` gives every train example's first observation,
  gold actions and real steps (TextCls: the label, 1 step; NerTag: the gold tag of each word; DialogReply:
  the reference reply then ``[EOS]``; MultiLabelCls: the gold labels in ascending id order, then STOP (no
  STOP when ``max_labels`` picks end the episode); MultiChoiceQA: the answer's position, 1 step);
* ``gold="reset_info"`` (DialogSelect, whose candidates are drawn per episode): the reset observations of
  the vector env, the gold action in the reset info (``Family.gold_info_key``, ``"label"``).

The budget ``total_steps`` counts examples. The result is evaluated through ``nlp_envs.evaluate``.

Early stopping (``SupervisedConfig.early_stopping``, on by default): every ``eval_every`` examples (0: one
pass over the train split) the greedy policy is evaluated on ``val_split`` with the family's main metric
(``Family.main_metric``, :func:`main_metric`); the best weights are kept (a CPU copy, and ``best-<examples>.safetensors`` in the run
directory so that a resumed run restores them), training stops after ``patience`` evaluations without
improvement or at ``total_steps`` (the final weights are then one more candidate), and the best weights are
restored before the final checkpoint and test evaluation. ``final_metrics.json`` gains ``early_stopping``,
``best_examples``, ``best_epoch``, ``val_<metric>``, ``val_curve`` and ``stopped_early``. An env without the
validation split trains the whole budget (``early_stopping: "unavailable (no validation split)"``).
Generation's warm start (:func:`fit`) stops the same way on the validation F1 (every
``warm_start_eval_every`` examples, default 2,000; ``warm_start_examples`` is then the most it trains).
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from nlp_envs.agents import distributed
from nlp_envs.agents.devices import autocast
from nlp_envs.agents.policy import to_torch
from nlp_envs.agents.run import Run
from nlp_envs.agents.state import DataOrder, EarlyStoppingState, WarmStartSummary
from nlp_envs.family import FAMILIES, GOLD_RESET_INFO, family_of_env


def main_metric(family_or_env_id: str) -> str:
    """The early-stopping metric of a family (``"NerTag"``) or of an env id (``"NerTag-v0"``): its family
    contract's ``main_metric`` (the benchmark's too; ``Family.higher_is_better`` gives its direction)."""
    return (FAMILIES.get(family_or_env_id) or family_of_env(family_or_env_id)).main_metric


def has_split(env_id: str, env_kwargs: dict[str, Any], split: str) -> bool:
    """Whether ``env_id`` (with ``env_kwargs``) has the split ``split``."""
    from nlp_envs.readers import DataError

    try:
        env = gym.make(env_id, disable_env_checker=True, **{**env_kwargs, "split": split})
    except DataError as e:
        if "has no split" in str(e):
            return False
        raise
    env.close()
    return True


class GoldData:
    """Gold (first observation, actions, step mask) of the train split, in a seeded, resumable order
    (``run.state.orders[key]``, saved in the checkpoints)."""

    def __init__(self, run: Run, key: str = "order") -> None:
        self.run, self.key = run, key
        fam = family_of_env(run.env_id)
        # several ranks: one global batch of world_size * num_envs from the shared seeded permutation,
        # rank r keeps examples r, r + world_size, ... (so N ranks x B examples = 1 rank x N*B)
        self.batch_size = run.cfg.num_envs * run.world_size
        self.info_key: str | None = None
        if fam.gold == GOLD_RESET_INFO:  # episodes drawn at reset (random candidates): read them from the vector env
            self.sampler = run.make_sampler() if run.sampler is None else run.sampler
            self.info_key = fam.gold_info_key
            self.n = None
            return
        if not fam.has_gold:
            raise ValueError(f"{run.env_id}: family {fam.name} declares no gold actions (Family.gold=None), so it "
                             "cannot be trained supervised")
        env = gym.make(run.env_id, disable_env_checker=True, **{**run.env_kwargs, "split": "train"}).unwrapped
        gold = env.gold_episodes()
        self.obs, self.actions, self.mask = gold.obs, gold.actions, gold.mask
        env.close()
        self.n = len(self.actions)
        state = run.state.orders.get(key)
        if state is None:
            state = run.state.orders[key] = DataOrder.fresh(self.n, run.cfg.seed)
        self.state = state

    def next_batch(self) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        dev = self.run.device
        if self.info_key is not None:
            obs = self.sampler.start()
            labels = np.asarray(self.sampler.last_info[self.info_key], dtype=np.int64)
            return to_torch(obs, dev), torch.as_tensor(labels, device=dev)[:, None], torch.ones(len(labels), 1, dtype=torch.bool, device=dev)
        s = self.state
        idx = []
        while len(idx) < self.batch_size:  # a new permutation per pass over the split
            if s.pos >= self.n:
                rng = np.random.default_rng()
                rng.bit_generator.state = s.rng
                s.perm = rng.permutation(self.n)
                s.rng, s.pos = rng.bit_generator.state, 0
            take = s.perm[s.pos : s.pos + self.batch_size - len(idx)]
            s.pos += len(take)
            idx.extend(int(i) for i in take)
        idx = np.asarray(idx)[self.run.rank :: self.run.world_size]
        obs = {k: np.asarray(v[idx]) for k, v in self.obs.items()}
        T = int(self.mask[idx].sum(1).max())  # trim padding steps
        return (to_torch(obs, dev), torch.as_tensor(self.actions[idx, :T], device=dev),
                torch.as_tensor(self.mask[idx, :T], device=dev))


def loss_on(run: Run, obs: dict[str, torch.Tensor], actions: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Teacher-forced cross-entropy over the real steps, and the accuracy of the argmax."""
    with run.amp:
        logits, _ = run.policy.score_actions(obs, actions, mask)  # (B, T, A)
    logits = logits.float()[mask]  # (N, A)
    gold = actions[mask]
    smoothing = getattr(run.cfg, "label_smoothing", 0.0)
    loss = F.cross_entropy(logits, gold, label_smoothing=smoothing)
    acc = float((logits.argmax(-1) == gold).float().mean())
    return loss, acc


def num_examples(env_id: str, env_kwargs: dict[str, Any], split: str) -> int:
    """The number of examples of ``split``."""
    env = gym.make(env_id, disable_env_checker=True, **{**env_kwargs, "split": split})
    try:
        return int(env.unwrapped.num_examples)
    finally:
        env.close()


class EarlyStopping:
    """Validation of the greedy policy every ``every`` examples; keeps the best weights; ``stop`` after
    ``patience`` evaluations without improvement (a strictly better main metric: higher, or lower when the
    family contract says ``higher_is_better=False``), on every ``stride``-th example of ``split``.

    Evaluations fall on the first batch reaching each multiple of ``every`` before ``budget``, plus one on
    the last batch of the budget when there was an earlier one (the final weights are a candidate too; a
    budget of at most ``every`` examples is never evaluated). Rank 0 evaluates, every rank gets the value.

    ``saved``: the state (best value and examples, evaluations without improvement, the curve) lives in
    ``run.state.early_stopping`` and so in the checkpoints; ``save_dir``: each new best is also written to
    ``save_dir/best-<examples>.safetensors`` (rank 0), which a resumed run restores from. ``prune`` removes
    the older files once a checkpoint no longer refers to them.
    """

    def __init__(self, run: Run, *, every: int, patience: int, split: str, budget: int, num_train: int,
                 saved: bool = False, save_dir: Path | None = None, stride: int = 1) -> None:
        self.run, self.every, self.patience, self.split = run, max(int(every), 1), int(patience), split
        self.stride = int(stride)
        self.budget, self.num_train, self.save_dir = int(budget), int(num_train), save_dir
        fam = family_of_env(run.env_id)
        self.metric, self.higher_is_better = fam.main_metric, fam.higher_is_better
        state = run.state.early_stopping if saved else None
        if state is None:
            state = EarlyStoppingState(next=self.every)
            if saved:
                run.state.early_stopping = state
        self.state = state
        self.best_weights: dict[str, torch.Tensor] | None = None  # CPU copy; None after a resume: the file
        self._previous_file = state.best_file  # what the checkpoint before the last one refers to

    @property
    def stop(self) -> bool:
        return self.state.bad >= self.patience

    def due(self, examples: int) -> bool:
        """Whether to evaluate the weights after ``examples`` examples."""
        if examples >= self.budget:
            return bool(self.state.curve) and self.state.curve[-1][0] != examples
        return examples >= self.state.next

    def evaluate(self, examples: int) -> float:
        """Evaluate now (after ``examples`` examples), update the state; return the metric's value."""
        run, s = self.run, self.state
        value, start = None, time.time()
        if run.is_main:
            value = float(run.evaluate(self.split, self.stride)[self.metric])
        run.policy.train()
        value = float(distributed.broadcast_from_main(value))
        s.seconds = s.seconds + time.time() - start
        s.curve.append([int(examples), value])
        s.next = (int(examples) // self.every + 1) * self.every
        if s.best is None or (value > s.best if self.higher_is_better else value < s.best):
            s.best, s.best_examples, s.bad = value, int(examples), 0
            self.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in run.policy.state_dict().items()}
            if self.save_dir is not None:
                from safetensors.torch import save_model

                s.best_file = f"best-{int(examples)}.safetensors"
                if run.is_main:
                    save_model(run.policy, str(self.save_dir / s.best_file))
        else:
            s.bad += 1
        return value

    def restore(self) -> bool:
        """Load the best weights into the policy; False when there are none (nothing was evaluated)."""
        s, policy = self.state, self.run.policy
        if s.best is None:
            return False
        if self.best_weights is not None:
            policy.load_state_dict(self.best_weights)
            return True
        path = None if self.save_dir is None or s.best_file is None else self.save_dir / s.best_file
        if path is None or not path.exists():
            warnings.warn(f"the best weights (after {s.best_examples} examples) are gone ({path}): keeping the "
                          f"last weights", stacklevel=2)
            return False
        from safetensors.torch import load_model

        load_model(policy, str(path), device=str(self.run.device))
        return True

    def prune(self, final: bool = False) -> None:
        """Remove the best-*.safetensors files other than the current one and the one the previous
        checkpoint (``checkpoint.prev/``) refers to (rank 0); call it after each checkpoint (``final``: after
        the last one, which leaves no previous checkpoint)."""
        if self.save_dir is None or not self.run.is_main:
            return
        keep = {self.state.best_file, None if final else self._previous_file}
        for f in self.save_dir.glob("best-*.safetensors"):
            if f.name not in keep:
                f.unlink(missing_ok=True)
        self._previous_file = self.state.best_file

    def summary(self, examples: int) -> dict[str, Any]:
        """``early_stopping``, ``best_examples``, ``best_epoch``, ``val_<metric>``, ``val_curve``, ``stopped_early``,
        ``val_seconds`` (time spent validating), and ``validation_stride`` when it validates on a subset."""
        s = self.state
        if not s.curve:
            return {"early_stopping": f"not evaluated (budget {self.budget} <= eval_every {self.every} examples)"}
        return {"early_stopping": "on", "best_examples": s.best_examples,
                "best_epoch": s.best_examples / max(self.num_train, 1), f"val_{self.metric}": s.best,
                "val_curve": [list(p) for p in s.curve], "stopped_early": bool(self.stop and examples < self.budget),
                "val_seconds": s.seconds, **({"validation_stride": self.stride} if self.stride > 1 else {})}


def _early_stopping(run: Run, data: GoldData, *, enabled: bool, every: int, patience: int, split: str,
                    budget: int, saved: bool, save_dir: Path | None, stride: int = 1) -> tuple[EarlyStopping | None, str]:
    if not enabled:
        return None, "off"
    if not has_split(run.env_id, run.env_kwargs, split):
        status = f"unavailable (no {split} split)"
        if run.is_main:
            warnings.warn(f"{run.env_id} has no {split!r} split: early stopping is off, training the whole budget",
                          stacklevel=3)
        return None, status
    num_train = data.n if data.n is not None else num_examples(run.env_id, run.env_kwargs, "train")
    es = EarlyStopping(run, every=every or num_train, patience=patience, split=split, budget=budget,
                       num_train=num_train, saved=saved, save_dir=save_dir, stride=stride)
    return es, "on"


def fit(run: Run, num_examples: int, prefix: str = "", early_stopping: bool | None = None) -> WarmStartSummary:
    """Train at most ``num_examples`` examples without counting them in ``run.step`` (generation's warm
    start); returns the early-stopping summary (also, on rank 0, ``OUT/warm_start.json`` for the warm start:
    ``prefix="warm_start/"``).

    Early stopping (``early_stopping``; None: the config's ``early_stopping``, default True) evaluates the
    main metric on the config's ``val_split`` (default ``validation``) every ``warm_start_eval_every``
    examples, stops after ``warm_start_patience`` (the RL configs) or
    ``patience`` (default 3) evaluations without improvement and restores the best weights; it validates on
    every ``warm_start_val_stride``-th example.
    """
    cfg = run.cfg
    data = GoldData(run, key=prefix + "order")
    enabled = getattr(cfg, "early_stopping", True) if early_stopping is None else early_stopping
    es, status = _early_stopping(run, data, enabled=enabled, every=cfg.warm_start_eval_every,
                                 patience=getattr(cfg, "warm_start_patience", getattr(cfg, "patience", 3)), split=getattr(cfg, "val_split", "validation"),
                                 budget=num_examples, saved=False, save_dir=None,
                                 stride=cfg.warm_start_val_stride)
    seen = 0
    while seen < num_examples and not (es is not None and es.stop):
        obs, actions, mask = data.next_batch()
        loss, acc = loss_on(run, obs, actions, mask)
        run.optimize(loss)
        seen += len(actions)
        if es is not None and es.due(seen):
            es.evaluate(seen)
    found: dict[str, Any] = {"early_stopping": status, "examples": seen}
    if es is not None:
        es.restore()
        found.update(es.summary(seen))
    summary = WarmStartSummary.from_dict(found)
    metrics = {f"{prefix}loss": loss.item(), f"{prefix}accuracy": acc, f"{prefix}examples": float(seen)}
    if summary.best_examples is not None:
        metrics.update({f"{prefix}best_examples": float(summary.best_examples),
                        f"{prefix}val_{summary.metric}": summary.best})
    run.log(metrics)
    if prefix and run.is_main:
        name = prefix.strip("/").replace("/", "_") or "fit"
        (run.out / f"{name}.json").write_text(json.dumps(summary.to_dict(), indent=2))
    return summary


def warm_start_cpu_bf16(cfg: Any) -> bool:
    """Whether the MLE warm start of the RL config ``cfg`` autocasts to bf16 on a CPU."""
    return cfg.cpu_bf16 if cfg.warm_start_cpu_bf16 is None else cfg.warm_start_cpu_bf16


def warm_start_mismatches(cfg: Any, info: dict[str, Any], *, env_id: str, env_kwargs: dict[str, Any],
                          backbone: str, world_size: int = 1) -> list[str]:
    """How the supervised run described by ``info`` (its ``run.json``) differs from the warm start that the RL
    config ``cfg`` would train (:func:`fit`) on ``env_id``: ``"field: the run's value vs the warm start's"``
    lines, none when it is that fit."""
    have = {"val_stride": 1, "cpu_bf16": False,  # the defaults of runs from before these fields
            **dict(info.get("config") or {}), **{k: info.get(k) for k in ("env_id", "env_kwargs", "backbone", "algo")},
            "world_size": info.get("world_size", 1)}
    # the warm start trains every parameter group at warm_start_lr when it is set, else at RL's own rates
    lr, backbone_lr = (cfg.lr, cfg.backbone_lr) if cfg.warm_start_lr is None else (cfg.warm_start_lr, None)
    if cfg.warm_start_lr is not None and have.get("backbone_lr") == cfg.warm_start_lr:
        backbone_lr = cfg.warm_start_lr  # the same rate, written out
    want: dict[str, Any] = {
        "env_id": env_id, "env_kwargs": env_kwargs, "backbone": backbone, "algo": "supervised",
        "world_size": world_size, "seed": cfg.seed, "total_steps": cfg.warm_start_examples,
        "lr": lr, "backbone_lr": backbone_lr, "num_envs": cfg.num_envs, "weight_decay": cfg.weight_decay,
        "adam_eps": cfg.adam_eps, "max_grad_norm": cfg.max_grad_norm, "freeze_backbone": cfg.freeze_backbone,
        "warmup_frac": 0.0, "lr_decay": "constant", "label_smoothing": 0.0, "early_stopping": True,
        "val_split": "validation", "eval_every": cfg.warm_start_eval_every, "patience": cfg.warm_start_patience,
        "val_stride": cfg.warm_start_val_stride, "cpu_bf16": warm_start_cpu_bf16(cfg),
    }
    return [f"{k}: {have.get(k)!r} vs {v!r}" for k, v in want.items() if have.get(k) != v]


def reuse_warm_start(run: Run, folder: str | Path) -> WarmStartSummary:
    """Make the finished supervised run in ``folder`` this run's warm start (``Config.warm_start_from``):
    load its final checkpoint's weights (its best validated ones), the optimizer state and the random
    states it ended with: the state :func:`fit` reaches in this process, without training it again. The
    summary is the run's early-stopping record; ``OUT/warm_start.json`` also names the folder."""
    from nlp_envs.agents.runfolder import CheckpointError, RunError, checkpoint_dir, read_json, read_run_json

    folder = Path(folder)
    info = read_run_json(folder)
    bad = warm_start_mismatches(run.cfg, info, env_id=run.env_id, env_kwargs=run.env_kwargs, backbone=run.backbone,
                                world_size=run.world_size)
    if bad:
        raise RunError(f"warm_start_from={str(folder)!r} is not the warm start this config trains "
                       f"(its value vs the warm start's): {'; '.join(bad)}. Train that supervised run with the "
                       f"warm start's settings (nlp-envs train {run.env_id} --algo supervised --seed {run.cfg.seed} "
                       f"--total-steps {run.cfg.warm_start_examples} --set eval_every={run.cfg.warm_start_eval_every} "
                       f"--set patience={run.cfg.warm_start_patience} ...), or leave warm_start_from empty")
    final = folder / "final_metrics.json"
    if not final.exists():
        raise RunError(f"{folder} has no final_metrics.json: the supervised run has not finished "
                       f"(`nlp-envs train --resume {folder}` finishes it)")
    result = read_json(final)
    ckpt = checkpoint_dir(folder)
    try:
        state = read_json(ckpt / "trainer_state.json", CheckpointError)
        if int(state.get("step", -1)) != int(result.get("step", -2)):
            raise CheckpointError(f"{ckpt} is at step {state.get('step')}, not the run's last ({result.get('step')})")
        run.load_fit_state(ckpt)
    except CheckpointError as e:
        raise CheckpointError(f"warm_start_from={str(folder)!r}: {e}") from None
    summary = WarmStartSummary.from_dict({**result, "examples": int(result["step"])})  # its early-stopping record
    run.log({"warm_start/examples": float(summary.examples),
             **({f"warm_start/val_{summary.metric}": summary.best} if summary.best is not None else {})})
    if run.is_main:
        (run.out / "warm_start.json").write_text(json.dumps({**summary.to_dict(), "from": str(folder)}, indent=2))
    return summary


def warm_start(run: Run) -> None:
    """Generation's warm start, called first by the RL algorithms: MLE on the train replies (:func:`fit`, at
    ``warm_start_lr`` when set; RL's rates come back afterwards), or the finished supervised run of
    ``warm_start_from`` (:func:`reuse_warm_start`); the MLE runs in ``warm_start_cpu_bf16``'s precision (None:
    RL's, ``cpu_bf16``). Then a frozen copy of the policy becomes the KL reference ``run.ref``; the summary is
    ``run.state.warm_start`` (saved in the checkpoints). Other families, and a resumed run that has its
    reference: nothing."""
    if not run.policy.warm_start or run.ref is not None:
        return
    if run.cfg.warm_start_examples > 0:
        peaks = [(g["lr"], g.get("base_lr", g["lr"])) for g in run.optimizer.param_groups]
        amp = run.amp
        run.amp = autocast(run.device, run.cfg.bf16, warm_start_cpu_bf16(run.cfg))
        if run.cfg.warm_start_lr is not None:  # MLE at its own rate; RL's rates come back afterwards
            for g in run.optimizer.param_groups:
                g["lr"] = g["base_lr"] = run.cfg.warm_start_lr
        try:
            if run.cfg.warm_start_from:
                run.state.warm_start = reuse_warm_start(run, run.cfg.warm_start_from)
            else:
                run.state.warm_start = fit(run, run.cfg.warm_start_examples, prefix="warm_start/")
        finally:
            run.amp = amp
            for g, (lr, base) in zip(run.optimizer.param_groups, peaks):
                g["lr"], g["base_lr"] = lr, base
    import copy

    run.ref = copy.deepcopy(run.policy).eval().requires_grad_(False)


def train(run: Run) -> dict[str, Any]:
    """The supervised loop: batches of ``num_envs`` gold examples until ``total_steps`` examples, or until
    early stopping (see the module doc) ends it; the best validated weights are then restored."""
    cfg = run.cfg
    data = GoldData(run)
    es, status = _early_stopping(run, data, enabled=getattr(cfg, "early_stopping", False),
                                 every=getattr(cfg, "eval_every", 0), patience=getattr(cfg, "patience", 3),
                                 split=getattr(cfg, "val_split", "validation"), budget=cfg.total_steps,
                                 saved=True, save_dir=run.out, stride=getattr(cfg, "val_stride", 1))
    run.policy.train()
    while run.step < cfg.total_steps and not (es is not None and es.stop):
        obs, actions, mask = data.next_batch()
        loss, acc = loss_on(run, obs, actions, mask)
        grad_norm = run.optimize(loss)
        metrics = {"losses/loss": loss.item(), "losses/cross_entropy": loss.item(),
                   "charts/train_accuracy": acc, "losses/grad_norm": grad_norm}
        examples = run.step + data.batch_size  # run.step after this batch (all ranks')
        if es is not None and es.due(examples):  # before end_iteration: its checkpoint holds this evaluation
            metrics[f"val/{es.metric}"] = es.evaluate(examples)
        saved = run.checkpoints_saved
        run.end_iteration(len(actions), metrics)
        if es is not None and run.checkpoints_saved > saved:
            es.prune()  # end_iteration saved a checkpoint: older best files are no longer referred to
    extra: dict[str, Any] = {"early_stopping": status}
    if es is not None:
        es.restore()  # before finish: the final checkpoint and the test evaluation use the best weights
        extra = es.summary(run.step)
    result = run.finish(extra)
    if es is not None:
        es.prune(final=True)
    return result
