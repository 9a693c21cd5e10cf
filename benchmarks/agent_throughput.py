"""Throughput and learning of the transformer agents on TextCls-v0 (tiny backbone, CPU-friendly).

Measures, in one process (same threads, same machine state):

* PG training throughput: env steps/s of REINFORCE and PPO, rollout (sampling) and update included;
* supervised training throughput: examples/s of cross-entropy training on the same backbone;
* learning: PPO test accuracy vs supervised test accuracy with the same example budget.

    NLP_ENVS_CACHE_DIR=/tmp/nlpcache-agents HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false \\
        .venv/bin/python benchmarks/agent_throughput.py --steps 4096 --learn-steps 40000 --out /tmp/agent-bench
"""

from __future__ import annotations

import argparse
import json
import time

from agents.train import train


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--env-id", default="TextCls-v0")
    p.add_argument("--steps", type=int, default=4096, help="budget of the throughput runs")
    p.add_argument("--learn-steps", type=int, default=0, help="budget of the learning comparison (0 skips)")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    p.add_argument("--out", default="/tmp/agent-bench")
    args = p.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    common = {"progress": False, "eval_split": "", "checkpoint_every": 0, "num_envs": 64}
    results: dict[str, float] = {}
    for algo in ("supervised", "reinforce", "ppo"):
        t0 = time.perf_counter()
        r = train(args.env_id, algo, total_steps=args.steps, out=f"{args.out}/tp-{algo}", **common)
        results[f"{algo}_per_s"] = r["step"] / (time.perf_counter() - t0)
    for algo in ("reinforce", "ppo"):
        results[f"{algo}_vs_supervised"] = results[f"{algo}_per_s"] / results["supervised_per_s"]
    if args.learn_steps:
        for algo in ("supervised", "ppo"):
            r = train(args.env_id, algo, total_steps=args.learn_steps, out=f"{args.out}/learn-{algo}",
                      **{**common, "eval_split": "test"})
            results[f"{algo}_test_accuracy"] = r["eval/accuracy"]
        results["ppo_vs_supervised_accuracy"] = results["ppo_test_accuracy"] / results["supervised_test_accuracy"]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
