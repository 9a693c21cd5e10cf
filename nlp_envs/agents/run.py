"""One training run: set-up, optimizer, step accounting, logs, checkpoints and the final evaluation.

:class:`Run` is what the algorithm files (``reinforce.py``, ``ppo.py``, ``grpo.py``, ``supervised.py``) drive:
it builds the policy (:func:`build_policy`) and the AdamW optimizer with its parameter groups
(:func:`param_groups`, the schedule :func:`lr_factor`), makes the wave sampler, counts steps, logs, saves and
restores checkpoints (with the algorithm's typed state, :class:`~nlp_envs.agents.state.RunState`), evaluates
the greedy policy and writes ``final_metrics.json``. :func:`load_policy` reads a finished run back.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

import nlp_envs  # noqa: F401  (registers the ids)
from nlp_envs.agents import distributed
from nlp_envs.agents.config import Config
from nlp_envs.agents.devices import autocast, autocasts_on_cpu, eager_attention_for_cpu_bf16, pick_device
from nlp_envs.agents.greedy import GreedyPolicy
from nlp_envs.agents.loggers import Logger, QuietLogger
from nlp_envs.agents.policy import Policy, env_kwargs_for_backbone, make_policy, policy_family
from nlp_envs.agents.runfolder import (PREVIOUS, CheckpointError, checkpoint_dir, checkpoint_problem, load_state,
                                       read_json, read_run_json, reading, save_state, verify_checkpoint,
                                       write_manifest)
from nlp_envs.agents.sampling import WaveSampler
from nlp_envs.agents.seeding import rng_state, seed_everything, set_rng_state
from nlp_envs.agents.state import RunState


def build_policy(env_id: str, env_kwargs: dict[str, Any], backbone: str, freeze: bool = False) -> tuple[Policy, str]:
    """A fresh policy for ``env_id`` (spaces and vocabulary read from one single env); ``freeze``: a frozen,
    cached pretrained encoder (:mod:`nlp_envs.agents.frozen`)."""
    env = gym.make(env_id, disable_env_checker=True, **env_kwargs)
    try:
        vocab = int(env.unwrapped.encoder.vocab_size)
        policy = make_policy(env.observation_space, env.action_space, backbone, vocab, policy_family(env))
        policy.bind(env)
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


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


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
        self.amp = autocast(self.device, cfg.bf16, cfg.cpu_bf16)
        seed_everything(cfg.seed)
        if not self.is_main:
            distributed.barrier()  # rank 0 prepares (and caches) the data first
        self.policy, self.family = build_policy(env_id, self.env_kwargs, backbone, freeze=cfg.freeze_backbone)
        if self.is_main:
            distributed.barrier()
        if autocasts_on_cpu(self.device, cfg.cpu_bf16 or cfg.warm_start_cpu_bf16):  # in RL or in the MLE warm start
            eager_attention_for_cpu_bf16(self.policy)  # 1.5-1.75x faster than SDPA under CPU bf16 autocast
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
        self.state = RunState()  # the algorithm's own state, saved in checkpoints (e.g. an EMA baseline)
        self.sampler: WaveSampler | None = None
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

    def evaluate(self, split: str, stride: int = 1) -> dict[str, Any]:
        """``nlp_envs.evaluate`` of the greedy policy on ``split`` (rank 0); the policy goes back to train mode.
        ``stride`` k > 1: only every k-th example of the env's shard (``num_shards`` times k)."""
        from nlp_envs.evaluation import evaluate

        kwargs = dict(self.env_kwargs)
        if stride > 1:
            kwargs["num_shards"] = int(kwargs.get("num_shards", 1)) * stride
        metrics = evaluate(self.env_id, GreedyPolicy(self.policy, self.device, self.amp), split=split,
                           num_envs=self.cfg.eval_envs, seed=self.cfg.seed, **kwargs)
        self.policy.train()
        return metrics

    def _curve_point(self) -> None:
        """The sample-efficiency curve: evaluate on ``eval_split`` when the step count crosses the next of
        ``curve_points`` evenly spaced budget fractions (appended to ``OUT/eval_curve.json``)."""
        n, split = self.cfg.curve_points, self.cfg.eval_split
        if not n or not split or not self.is_main or self.step >= self.cfg.total_steps:
            return  # the end of the budget is evaluated by finish()
        done = self.state.curve_done
        due = int(self.step * n / self.cfg.total_steps)  # points whose fraction k/n the step count has passed
        if due <= done:
            return
        self.state.curve_done = due
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
                "order": {"sampler": self.sampler.state_dict() if self.sampler is not None else None,
                           **self.state.to_dict()}}
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
            self.load_fit_state(path)
            if (path / "ref.safetensors").exists():
                import copy

                self.ref = copy.deepcopy(self.policy).eval().requires_grad_(False)
                with reading(path / "ref.safetensors"):
                    load_model(self.ref, str(path / "ref.safetensors"), device=str(self.device))
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
                    self.state = RunState.from_dict(order)
        except CheckpointError as e:
            raise checkpoint_problem(self.out, path, e) from None

    def load_fit_state(self, path: Path) -> None:
        """From checkpoint ``path`` (checked against its manifest first): the policy's weights, the optimizer
        state and this rank's random states (a rank the checkpoint lacks keeps its own). What :meth:`load_checkpoint`
        resumes from, and what a reused warm start is (:func:`nlp_envs.agents.supervised.reuse_warm_start`)."""
        from safetensors.torch import load_model

        verify_checkpoint(path)
        with reading(path / "model.safetensors"):
            load_model(self.policy, str(path / "model.safetensors"), device=str(self.device))
        optimizer_state = load_state(path, "optimizer")
        with reading(path / "optimizer.json"):
            self.optimizer.load_state_dict(optimizer_state)
        own = path if self.rank == 0 else path / f"rank{self.rank}"
        if (own / "rng.json").exists():
            rng = load_state(own, "rng")
            with reading(own / "rng.json"):
                set_rng_state(rng)

    # -- the end ---------------------------------------------------------------------------------
    def finish(self, extra_metrics: dict[str, float] | None = None) -> dict[str, Any]:
        """Final checkpoint, test evaluation through ``nlp_envs.evaluate``, ``final_metrics.json`` (the
        evaluation and the file on rank 0 only; other ranks return the training metrics)."""
        self.save_checkpoint(keep_previous=False)
        result: dict[str, Any] = {"step": self.step, "iteration": self.iteration,
                                  "train_seconds": time.time() - self.started, **(extra_metrics or {})}
        result.update({k: v for k, v in self.logger.last.items() if k != "step"})
        warm = self.state.warm_start.to_dict() if self.state.warm_start is not None else {}
        for k, v in warm.items():  # generation: where the MLE warm start stopped
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
