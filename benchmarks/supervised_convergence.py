"""Convergence of the supervised reference under early stopping (tiny backbone, one seed).

Each run trains ``supervised`` with the default early stopping (validation every pass over the train split,
patience 3) and a budget of ``--max-epochs`` passes, and records the chosen point, the best validation
value, the test metric of the restored weights and the wall time. ``--lrs`` repeats the runs of
``--lr-envs`` at other learning rates (the default is ``Config.lr``).

    python benchmarks/supervised_convergence.py                      # -> benchmarks/results/supervised_convergence.json
    python benchmarks/supervised_convergence.py --envs TextCls-v0 --lrs 5e-4 1e-3 --lr-envs TextCls-v0 --out /tmp/x.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENVS = ["TextCls-v0", "NerTag-v0", "MultiLabelCls-v0", "MultiChoiceQA-v0", "DialogSelect-v0"]


def run_one(env_id: str, *, lr: float | None, max_epochs: float, seed: int, backbone: str, extra: dict) -> dict:
    import torch

    from nlp_envs.agents.supervised import main_metric, num_examples
    from nlp_envs.agents.train import train

    n_train = num_examples(env_id, {}, "train")
    budget = int(max_epochs * n_train)
    overrides = {"progress": False, "checkpoint_every": 0, **extra}
    if lr is not None:
        overrides["lr"] = lr
    metric = main_metric(env_id)
    with tempfile.TemporaryDirectory() as out:
        start = time.time()
        r = train(env_id, "supervised", backbone=backbone, total_steps=budget, seed=seed, out=out, **overrides)
        wall = time.time() - start
        cfg = json.loads((Path(out) / "checkpoint" / "config.json").read_text())
    curve = r.get("val_curve", [])
    return {
        "env_id": env_id, "backbone": backbone, "seed": seed, "lr": cfg["lr"], "num_envs": cfg["num_envs"],
        "eval_every": cfg["eval_every"] or n_train, "patience": cfg["patience"], "train_examples": n_train,
        "max_examples": budget, "examples_trained": r["step"], "best_examples": r.get("best_examples"),
        "best_epoch": r.get("best_epoch"), "metric": metric, "val_best": r.get(f"val_{metric}"),
        "test": r[f"eval/{metric}"], "stopped_early": r.get("stopped_early"), "val_curve": curve,
        "val_passes": len(curve), "val_seconds_per_pass": r.get("val_seconds", 0.0) / max(len(curve), 1),
        "wall_s": wall, "torch_threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", nargs="+", default=ENVS)
    p.add_argument("--lrs", nargs="+", type=float, default=[1e-3], help="extra learning rates for --lr-envs")
    p.add_argument("--lr-envs", nargs="*", default=["TextCls-v0", "NerTag-v0"])
    p.add_argument("--max-epochs", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backbone", default="tiny")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="supervised config field")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "supervised_convergence.json"))
    args = p.parse_args(argv)
    import torch

    from nlp_envs.agents.config import parse_set

    torch.set_num_threads(args.threads)
    extra = parse_set("supervised", args.set)
    jobs = [(e, None) for e in args.envs] + [(e, lr) for e in args.lr_envs for lr in args.lrs]
    records = []
    out = Path(args.out)
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    for env_id, lr in jobs:
        rec = run_one(env_id, lr=lr, max_epochs=args.max_epochs, seed=args.seed, backbone=args.backbone, extra=extra)
        rec.update(git_sha=sha, machine=platform.machine(), cpu_count=os.cpu_count())
        records.append(rec)
        print(json.dumps({k: v for k, v in rec.items() if k != "val_curve"}), flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(records, indent=2) + "\n")  # after every run: partial results survive
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
