"""Entry point of the transformer agents: ``train(...)`` in Python, ``main(argv)`` for the CLI.

```
nlp-envs train TextCls-v0 --algo ppo --backbone tiny --total-steps 20000 --seed 0 --out runs/ppo
python -m nlp_envs.agents.train TextCls-v0 --algo supervised --set lr=1e-3 --set num_envs=32
python -m nlp_envs.agents.train TextCls-v0 --algo ppo --resume runs/ppo --total-steps 40000
torchrun --standalone --nproc_per_node 2 -m nlp_envs.agents.train TextCls-v0 --algo ppo --out runs/ddp
nlp-envs train TextCls-v0 --algo ppo --nproc 2 --out runs/ddp      # the same, torchrun spawned for you
```
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import types
from pathlib import Path
from typing import Any

from nlp_envs.agents.config import CONFIGS, Config, make_config, parse_set

ALGOS = tuple(CONFIGS)


def train(
    env_id: str,
    algo: str,
    *,
    backbone: str = "tiny",
    total_steps: int | None = None,
    seed: int = 0,
    out: str | None = None,
    resume: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    use_recipe: bool = True,
    overwrite: bool = False,
    **overrides: Any,
) -> dict[str, Any]:
    """Train ``algo`` on ``env_id``; return the final metrics (``eval/...`` from ``nlp_envs.evaluate``).

    Args:
        env_id: a registered nlp-envs id (``"TextCls-v0"``...).
        algo: ``reinforce``, ``ppo``, ``grpo`` or ``supervised``.
        backbone: ``tiny``, ``small``, ``minilm`` or a local model directory (pretrained backbones set the
            env's ``tokenizer`` to their own vocabulary).
        total_steps: budget in env steps (RL) or examples (supervised); default: the config's.
        seed: seeds torch, numpy, python and the envs.
        out: run directory (default ``runs/<env_id>-<algo>-<time>``).
        resume: a run directory to continue: its config, weights, optimizer, RNG states, step count
            and data order; ``total_steps`` may be raised. ``out`` must be None or the same folder. A run
            stopped before its first checkpoint starts again from step 0 with its saved config (a message
            says so); a damaged checkpoint fails naming the file (:class:`nlp_envs.agents.runfolder.CheckpointError`).
        env_kwargs: extra env kwargs (``data_dir``...).
        use_recipe: start from the shipped recipe of ``(algo, env_id, backbone)``
            (``nlp_envs/agents/hyperparams/transformer.yml``, :mod:`nlp_envs.agents.recipes`); False: the config defaults.
        overwrite: replace the run already in ``out`` (its files only); without it, a folder holding a
            run is refused (:class:`nlp_envs.agents.runfolder.RunError`): resume it, or choose another ``out``.
        overrides: any field of the algorithm's config (:mod:`nlp_envs.agents.config`); they win over the recipe.

    Under ``torchrun`` (``WORLD_SIZE > 1``) every process calls this: it joins the process group (and
    leaves it at the end if it created it), ``num_envs`` is per rank, and only rank 0 writes files and
    evaluates (:mod:`nlp_envs.agents.distributed`).
    """
    from nlp_envs.agents import distributed
    from nlp_envs.agents.devices import pick_device
    from nlp_envs.agents.run import Run
    from nlp_envs.agents.runfolder import (CheckpointError, RunError, check_out, checkpoint_dir, checkpoint_problem,
                                           clear_run, has_checkpoint, read_json, read_run_json, reading,
                                           verify_checkpoint)

    restart = False  # resuming a run stopped before its first checkpoint: it starts again
    if resume is not None:
        if overwrite:
            raise RunError("resume continues a run, overwrite replaces it: give one of them")
        run_dir = Path(resume)
        info = read_run_json(run_dir)
        if info.get("kind") != "transformer":
            raise RunError(f"{run_dir} is a {info.get('kind')!r} run, not a transformer run")
        if out is not None and Path(out).resolve() != run_dir.resolve():
            raise RunError(f"resume continues in {run_dir}; drop out={out!r}")
        with reading(run_dir / "run.json", RunError):
            algo, env_id, backbone = str(info["algo"]), str(info["env_id"]), str(info["backbone"])
            env_kwargs = dict(info["env_kwargs"])
        if has_checkpoint(run_dir):
            ckpt = checkpoint_dir(run_dir)
            try:
                verify_checkpoint(ckpt)
                saved = read_json(ckpt / "config.json", CheckpointError)
                if not isinstance(saved, dict):
                    raise CheckpointError(f"{ckpt / 'config.json'} is damaged: expected a JSON object")
            except CheckpointError as e:
                raise checkpoint_problem(run_dir, ckpt, e) from None
        else:
            saved = info.get("config")
            if not isinstance(saved, dict):
                raise RunError(f"{run_dir} has no checkpoint (the run stopped before its first one) and its "
                               f"run.json, from an older version, holds no config to start it again with: run "
                               f"the original command again with --overwrite")
            restart = True
        cfg_dict = {k: v for k, v in saved.items() if k != "algo"}
        cfg_dict.update(overrides)
        if total_steps is not None:
            cfg_dict["total_steps"] = total_steps
        cfg: Config = _config(algo, **cfg_dict)
        out = str(run_dir)
    else:
        if algo not in CONFIGS:
            raise RunError(f"algo={algo!r}: expected one of {ALGOS}")
        if total_steps is not None:
            overrides["total_steps"] = total_steps
        from nlp_envs.agents.recipes import recipe

        recipe_set, recipe_env = recipe(env_id, algo, backbone) if use_recipe else ({}, {})
        env_kwargs = {**recipe_env, **(env_kwargs or {})} or None
        cfg = _config(algo, seed=seed, **{**recipe_set, **overrides})
        out = out or f"runs/{env_id}-{algo}-{time.strftime('%Y%m%d-%H%M%S')}"
    owns_group = distributed.init(distributed.rank_device(pick_device(cfg.device)))
    try:
        out = distributed.broadcast_from_main(out)  # one run directory, named by rank 0's clock
        problem = None  # rank 0 checks (and clears) the folder; every rank gets its verdict
        if distributed.is_main():
            try:
                if restart:
                    print(f"{out}: the run stopped before its first checkpoint; starting it again from step 0 "
                          f"with its saved settings", file=sys.stderr, flush=True)
                    clear_run(out)
                elif resume is None:
                    check_out(out, overwrite=overwrite, resumable=True)
            except RunError as e:
                problem = str(e)
        problem = distributed.broadcast_from_main(problem)
        if problem is not None:
            raise RunError(problem)
        run = Run(env_id, cfg, backbone=backbone, out=out, env_kwargs=env_kwargs,
                  resume=resume is not None and not restart)
        module = importlib.import_module(f"nlp_envs.agents.{algo}")
        return module.train(run)
    finally:
        if owns_group:
            distributed.shutdown()


def _config(algo: str, **settings: Any) -> Config:
    """:func:`make_config`, its complaints as :class:`~nlp_envs.agents.runfolder.RunError` (a message at the CLI)."""
    from nlp_envs.agents.runfolder import RunError

    try:
        return make_config(algo, **settings)
    except TypeError as e:  # a value of the wrong type
        raise RunError(f"{algo} settings: {e}") from e
    except ValueError as e:
        raise RunError(str(e)) from e


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nlp-envs train", description="Train a transformer agent on an nlp-envs env.")
    p.add_argument("env_id", nargs="?", help="env id, e.g. TextCls-v0 (omit with --resume)")
    p.add_argument("--algo", choices=ALGOS, default="ppo")
    p.add_argument("--backbone", default="tiny", help="tiny | small | minilm | PATH to a local model directory")
    p.add_argument("--total-steps", type=int, default=None,
                   help="env steps (RL) or examples (supervised); same as --set total_steps=N")
    p.add_argument("--seed", type=int, default=None, help="default 0; same as --set seed=N")
    p.add_argument("--out", default=None, help="run directory")
    p.add_argument("--resume", default=None, metavar="DIR", help="continue the run in DIR")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (without it, an existing run is refused)")
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE",
                   help="env kwarg (JSON value, else string), repeatable; e.g. dataset=reviews.csv test_size=0.2")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config field (nlp_envs/agents/config.py), repeatable; wins over the recipe")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--no-recipe", action="store_true",
                   help="start from the config defaults, not the shipped recipe (nlp_envs/agents/hyperparams/transformer.yml)")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="data-parallel processes on this machine: re-runs this command under "
                        "`torchrun --standalone --nproc_per_node N` (one GPU each, or CPU processes)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.env_id is None and args.resume is None:
        build_parser().error("give ENV_ID or --resume DIR")
    if args.nproc < 1:
        build_parser().error(f"--nproc {args.nproc} must be >= 1")
    if args.resume and args.overwrite:
        build_parser().error("--resume continues a run, --overwrite replaces it: give one of them")
    from nlp_envs.agents.runfolder import RunError, read_run_json
    from nlp_envs.kv import parse_kv, take_flag_setting

    algo = args.algo
    try:
        if args.resume:
            algo = read_run_json(args.resume).get("algo")
            if algo not in CONFIGS:
                raise RunError(f"{args.resume}/run.json: algo {algo!r} is not a transformer algorithm {ALGOS}")
        overrides = parse_set(algo, args.set)  # fails here, before any process is spawned
        # --seed / --total-steps and --set seed= / total_steps= are one setting each: either way, not both
        seed = take_flag_setting(overrides, "seed", "--seed", args.seed, 0)
        total_steps = take_flag_setting(overrides, "total_steps", "--total-steps", args.total_steps, None)
        env_kwargs = parse_kv(args.env_kwarg, "--env-kwarg")
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    if total_steps is not None and total_steps < 1:  # before anything is built or spawned
        raise SystemExit(f"error: --total-steps {total_steps} must be >= 1 (the budget: env steps, or examples)")
    if args.nproc > 1 and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        from nlp_envs.agents.distributed import launch
        from nlp_envs.agents.runfolder import check_out

        if args.out and not args.resume and not args.overwrite:
            try:  # refused here, before any process is spawned
                check_out(args.out, overwrite=False, resumable=True)
            except RunError as e:
                raise SystemExit(f"error: {e}") from None

        rest = _drop_option(argv, "--nproc")
        if args.out is None and args.resume is None:  # name the run once, for every rank
            rest += ["--out", f"runs/{args.env_id}-{args.algo}-{time.strftime('%Y%m%d-%H%M%S')}"]
        return launch(rest, args.nproc)
    if args.no_progress:
        overrides["progress"] = False
    try:
        result = train(args.env_id, algo, backbone=args.backbone, total_steps=total_steps, seed=seed,
                       out=args.out, resume=args.resume, env_kwargs=env_kwargs or None,
                       use_recipe=not args.no_recipe, overwrite=args.overwrite, **overrides)
    except RunError as e:  # a damaged or existing run folder, a bad setting: a message, not a traceback
        raise SystemExit(f"error: {e}") from None
    shown = {k: v for k, v in result.items() if k.startswith("eval/") or k in ("step", "train_seconds")}
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(shown, indent=2, default=str))
    return 0


def _drop_option(argv: list[str], name: str) -> list[str]:
    """``argv`` without ``name VALUE`` / ``name=VALUE``."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a == name:
            skip = True
        elif not a.startswith(name + "="):
            out.append(a)
    return out


class _TrainModule(types.ModuleType):
    """This module, callable as :func:`train`.

    ``nlp_envs.agents.train`` names two things: the public function (``from nlp_envs.agents import train``) and
    this module (``python -m`` / ``torchrun -m nlp_envs.agents.train``). Importing a submodule rebinds its
    package's attribute to the module, so ``nlp_envs.agents.train`` turned from the function into the module
    the first time anything imported it; calling the module is calling :func:`train`, so both spellings work
    in any import order.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _TrainModule

if __name__ == "__main__":
    raise SystemExit(main())
