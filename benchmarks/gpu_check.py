"""GPU check of the transformer agents (run by ``benchmarks/gpu_check.sh`` on a CUDA machine).

Three stages, each written to ``--json`` as soon as it ends (a run cut short keeps what it measured):

1. ``throughput``: with the MiniLM-L6 backbone, bf16 autocast, the same batch (``--num-envs``) and the
   same TextCls-v0 train split, supervised training (examples/s) for ``--supervised-steps`` examples,
   then PPO (env steps/s, sampling and update included) for about ``--seconds`` seconds (short runs,
   each resuming the previous one), with peak GPU memory and the PG / supervised ratio (target >= 0.5).
2. ``families``: one short bf16 run on CUDA of every task family (classification, tagging, selection,
   generation, multi-label, multiple choice), evaluated on the test split: every family trains on GPU.
3. ``banking77`` (only with a data directory holding ``banking77/``): MiniLM supervised and PPO with the
   same example budget ``--banking-steps`` on TextCls-Banking77-v0, test accuracy and their ratio.

    bash benchmarks/gpu_check.sh            # or: python benchmarks/gpu_check.py --seconds 120
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from agents.train import train

# family -> (env id, algorithm, example/step budget)
FAMILIES = {
    "classification": ("TextCls-v0", "ppo", 4096),
    "tagging": ("NerTag-v0", "ppo", 4096),
    "selection": ("DialogSelect-v0", "grpo", 4096),
    "generation": ("DialogReply-v0", "ppo", 2048),
    "multi-label": ("MultiLabelCls-v0", "reinforce", 2048),
    "multiple-choice": ("MultiChoiceQA-v0", "ppo", 2048),
}


def _scalars(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if isinstance(v, (int, float, str, bool)) or v is None}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=120.0, help="PPO MiniLM wall-clock budget of stage 1")
    p.add_argument("--num-envs", type=int, default=256, help="batch: episodes per wave = supervised batch size")
    p.add_argument("--supervised-steps", type=int, default=16384, help="examples of the supervised throughput run")
    p.add_argument("--banking-steps", type=int, default=8192, help="example budget of stage 3 (0 skips it)")
    p.add_argument("--family-steps", type=int, default=0, help="budget of every stage-2 run (0: FAMILIES' own)")
    p.add_argument("--stages", default="throughput,families,banking77", help="comma-separated stages to run")
    p.add_argument("--out", default="/tmp/gpu-check", help="run directories (removed first)")
    p.add_argument("--device", default="cuda", help="cuda; cpu only for a dry run of this script (tiny budgets)")
    p.add_argument("--json", default=str(Path(__file__).parent / "results" / "gpu_check.json"))
    args = p.parse_args()
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this check is for a GPU machine (torch.cuda.is_available() is False)")
    stages = {s.strip() for s in args.stages.split(",") if s.strip()}
    unknown = stages - {"throughput", "families", "banking77"}
    if unknown:
        raise SystemExit(f"--stages: unknown {sorted(unknown)}; use throughput, families, banking77")
    shutil.rmtree(args.out, ignore_errors=True)
    result: dict[str, Any] = {"device": torch.cuda.get_device_name() if cuda else args.device, "torch": torch.__version__,
                              "num_envs": args.num_envs, "bf16": True}
    out_json = Path(args.json)
    out_json.parent.mkdir(parents=True, exist_ok=True)

    def peak_gib() -> float | None:
        return round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None

    def reset_peak() -> None:
        if cuda:
            torch.cuda.reset_peak_memory_stats()

    def save() -> None:
        out_json.write_text(json.dumps(result, indent=2))

    common = {"progress": False, "checkpoint_every": 0, "bf16": True, "device": args.device}
    if "throughput" in stages:
        reset_peak()
        sup = train("TextCls-v0", "supervised", backbone="minilm", total_steps=args.supervised_steps,
                    out=f"{args.out}/sup-minilm", num_envs=args.num_envs, lr=5e-5, eval_split="", **common)
        sup_rate = sup["step"] / sup["train_seconds"]
        sup_mem = peak_gib()
        reset_peak()
        run, chunk = f"{args.out}/ppo-minilm", 4 * args.num_envs * 16
        r = train("TextCls-v0", "ppo", backbone="minilm", total_steps=chunk, out=run, num_envs=args.num_envs,
                  num_minibatches=4, lr=5e-5, eval_split="", **common)
        steps, secs = r["step"], r["train_seconds"]
        while secs < args.seconds:  # each call resumes the run: same weights, optimizer and data order
            r = train("TextCls-v0", "ppo", resume=run, total_steps=r["step"] + chunk, eval_split="")
            steps, secs = r["step"], secs + r["train_seconds"]
        ppo_rate = steps / secs
        result["throughput"] = {
            "env_id": "TextCls-v0", "backbone": "minilm",
            "supervised": {"examples": sup["step"], "seconds": round(sup["train_seconds"], 2),
                           "examples_per_s": round(sup_rate, 1), "peak_memory_GiB": sup_mem},
            "ppo": {"env_steps": steps, "seconds": round(secs, 2), "env_steps_per_s": round(ppo_rate, 1),
                    "peak_memory_GiB": peak_gib(),
                    "last_episode_return": r.get("charts/episode_return")},
            "ppo_vs_supervised": round(ppo_rate / sup_rate, 3),
        }
        save()
        print(json.dumps(result["throughput"], indent=2), flush=True)
    if "families" in stages:
        result["families"] = {}
        for family, (env_id, algo, steps) in FAMILIES.items():
            steps = args.family_steps or steps
            t0 = time.perf_counter()
            r = train(env_id, algo, total_steps=steps, out=f"{args.out}/{family}", eval_split="test", **common)
            result["families"][family] = {"env_id": env_id, "algo": algo, "steps": steps,
                                          "wall_s": round(time.perf_counter() - t0, 1),
                                          **{k: v for k, v in _scalars(r).items() if k.startswith(("eval/", "train_"))}}
            save()
            print(family, json.dumps(result["families"][family]), flush=True)
    data_dir = os.environ.get("NLP_ENVS_DATA_DIR", "")
    if "banking77" in stages and args.banking_steps and data_dir and (Path(data_dir) / "banking77").is_dir():
        acc = {}
        for algo in ("supervised", "ppo"):
            r = train("TextCls-Banking77-v0", algo, backbone="minilm", total_steps=args.banking_steps,
                      out=f"{args.out}/banking77-{algo}", num_envs=32, lr=5e-5, eval_split="test", **common)
            acc[algo] = {"test_accuracy": r["eval/accuracy"], "train_seconds": round(r["train_seconds"], 1)}
        result["banking77"] = {"examples": args.banking_steps, "num_envs": 32, "lr": 5e-5, **acc,
                               "ppo_vs_supervised": round(acc["ppo"]["test_accuracy"]
                                                          / max(acc["supervised"]["test_accuracy"], 1e-9), 3)}
        save()
        print("banking77", json.dumps(result["banking77"]), flush=True)
    print(f"wrote {out_json}")


if __name__ == "__main__":
    main()
