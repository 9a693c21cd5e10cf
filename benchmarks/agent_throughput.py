"""Throughput and learning of the transformer agents on TextCls-v0 (tiny backbone, CPU-friendly).

Measures, in one process (same threads, same machine state), with the same backbone, batch
(``num_envs``) and train split for every algorithm:

* throughput: env steps/s of REINFORCE and PPO (rollout/sampling and update included) and examples/s
  of supervised cross-entropy training, and their ratios (target: PG >= 0.5x supervised);
* learning: test accuracy of PPO, REINFORCE and supervised with the same example budget, over
  ``--seeds`` seeds (mean ± std), and the ratio of each RL mean to the supervised mean (target >= 0.95).

Writes ``--json`` (default ``benchmarks/results/agent_textcls.json``) and prints a markdown table.

    NLP_ENVS_CACHE_DIR=/tmp/nlpcache-agents HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false \\
        .venv/bin/python benchmarks/agent_throughput.py --steps 2048 --learn-steps 8192 --seeds 3
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import torch

from nlp_envs.agents.config import parse_set
from nlp_envs.agents.train import train

ALGOS = ("supervised", "reinforce", "ppo")


def _git_sha() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=False).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env-id", default="TextCls-v0")
    p.add_argument("--backbone", default="tiny")
    p.add_argument("--num-envs", type=int, default=64, help="batch: episodes per wave = supervised batch size")
    p.add_argument("--steps", type=int, default=2048, help="budget of each throughput run (0 skips)")
    p.add_argument("--learn-steps", type=int, default=8192, help="example budget of each learning run (0 skips)")
    p.add_argument("--seeds", type=int, default=3, help="seeds of the learning comparison")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    p.add_argument("--set", action="append", default=[], metavar="ALGO:KEY=VALUE",
                   help="config override for one algo (e.g. ppo:lr=1e-3) or all (lr=1e-3), repeatable")
    p.add_argument("--out", default="/tmp/agent-bench", help="run directories")
    p.add_argument("--json", default=str(Path(__file__).parent / "results" / "agent_textcls.json"))
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides: dict[str, dict[str, Any]] = {a: {} for a in ALGOS}
    for item in args.set:
        algo, sep, kv = item.partition(":")
        for a in ([algo] if sep and algo in ALGOS else ALGOS):
            overrides[a].update(parse_set(a, [kv if sep and algo in ALGOS else item]))
    common = {"progress": False, "checkpoint_every": 0, "num_envs": args.num_envs}

    def run(algo: str, steps: int, seed: int, name: str, evaluate: bool) -> dict[str, Any]:
        kw = {**common, "eval_split": "test" if evaluate else "", **overrides[algo]}
        return train(args.env_id, algo, backbone=args.backbone, total_steps=steps, seed=seed,
                     out=f"{args.out}/{name}", **kw)

    result: dict[str, Any] = {
        "env_id": args.env_id, "backbone": args.backbone, "num_envs": args.num_envs, "git_sha": _git_sha(),
        "torch_threads": torch.get_num_threads(), "machine": platform.machine(), "overrides": overrides,
    }
    if args.steps:
        tp: dict[str, float] = {}
        for algo in ALGOS:  # train_seconds: set-up (env, vocabulary, model) excluded, rollout + update included
            r = run(algo, args.steps, 0, f"tp-{algo}", evaluate=False)
            tp[algo] = r["step"] / r["train_seconds"]
        result["throughput"] = {"steps": args.steps, "per_second": tp,
                                "vs_supervised": {a: tp[a] / tp["supervised"] for a in ("reinforce", "ppo")}}
    if args.learn_steps:
        acc: dict[str, list[float]] = {a: [] for a in ALGOS}
        secs: dict[str, list[float]] = {a: [] for a in ALGOS}
        for seed in range(args.seeds):
            for algo in ALGOS:
                r = run(algo, args.learn_steps, seed, f"learn-{algo}-{seed}", evaluate=True)
                acc[algo].append(float(r["eval/accuracy"]))
                secs[algo].append(float(r["train_seconds"]))
        sup = statistics.fmean(acc["supervised"])
        result["learning"] = {
            "examples": args.learn_steps, "seeds": args.seeds, "test_accuracy": acc, "train_seconds": secs,
            "mean": {a: _mean_std(acc[a])[0] for a in ALGOS}, "std": {a: _mean_std(acc[a])[1] for a in ALGOS},
            "vs_supervised": {a: statistics.fmean(acc[a]) / sup for a in ("reinforce", "ppo")},
        }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(markdown(result))
    print(f"\nwrote {args.json}")


def markdown(result: dict[str, Any]) -> str:
    """The markdown table of a result dict (one row per algorithm)."""
    tp, learn = result.get("throughput"), result.get("learning")
    head = ["algo"]
    if tp:
        head += [f"steps/s ({tp['steps']} steps)", "vs supervised (target >= 0.5)"]
    if learn:
        head += [f"test accuracy ({learn['examples']} examples, {learn['seeds']} seeds)", "vs supervised (target >= 0.95)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for algo in ALGOS:
        row = [algo]
        if tp:
            ratio = tp["vs_supervised"].get(algo)
            row += [f"{tp['per_second'][algo]:.1f}", "-" if ratio is None else f"{ratio:.2f}"]
        if learn:
            ratio = learn["vs_supervised"].get(algo)
            row += [f"{learn['mean'][algo]:.3f} ± {learn['std'][algo]:.3f}", "-" if ratio is None else f"{ratio:.2f}"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
