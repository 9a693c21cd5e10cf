"""SB3 MaskablePPO (and PPO) on ``NerTag-v0``: the small sweep behind ``nlp_envs/agents/hyperparams/sb3.yml``'s
NerTag entries, written to ``benchmarks/results/sb3_tagging_sweep.json``.

Each run trains with :func:`nlp_envs.agents.sb3.train` (the train split, 16 envs, 1 torch thread) and reports
the test entity F1 (``nlp_envs.evaluate``, deterministic actions) and the training seconds. Every
run sets its values explicitly (overrides of the YAML), so the table keeps its meaning when the
YAML changes. What it compares (reference points: the per-word majority lookup, 0.882; random 0.04):

* the old NerTag values (gamma 1, GAE lambda 0.95, ``entity_f1`` reward, lr 1e-3, words = their
  first subword) against gamma 0 / lambda 0 (each word a contextual bandit);
* the env reward ``entity_f1`` (telescoping F1 deltas) against ``token`` (1 per correct word);
* learning rate 1e-3 / 3e-3, words as the mean of all their subwords vs their first one;
* the chosen values at 100k steps on 2 seeds, and ``sb3-ppo`` (no action mask) with them.

Run from the repository root (about 5 minutes on one CPU thread)::

    python benchmarks/sb3_tagging_sweep.py            # the whole sweep -> benchmarks/results/sb3_tagging_sweep.json
    python benchmarks/sb3_tagging_sweep.py --quick    # smoke test: the chosen values, 8192 steps, 1 seed
                                                      #   (-> runs/sb3_tagging_sweep/quick.json)
    python benchmarks/sb3_tagging_sweep.py --only chosen   # runs whose name contains "chosen"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

for _k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_k, "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlp_envs.agents import sb3  # noqa: E402

ENV_ID = "NerTag-v0"
RESULTS = ROOT / "benchmarks" / "results" / "sb3_tagging_sweep.json"

#: the chosen values (== nlp_envs/agents/hyperparams/sb3.yml's NerTag-v0 entries)
CHOSEN: dict[str, Any] = {"reward": "token", "gamma": 0.0, "gae_lambda": 0.0, "learning_rate": 3e-3,
                          "word_pool": "mean", "tag_window": 1, "ent_coef": 0.0}
OLD: dict[str, Any] = {"reward": "entity_f1", "gamma": 1.0, "gae_lambda": 0.95, "learning_rate": 1e-3,
                       "word_pool": "first", "tag_window": 1, "ent_coef": 0.0}


def _run(name: str, steps: int, seed: int = 0, algo: str = "sb3-maskable-ppo", **changes: Any) -> dict[str, Any]:
    return {"name": name, "algo": algo, "steps": steps, "seed": seed, "settings": {**CHOSEN, **changes}}


#: the runs (name, algo, steps, seed, settings): 8, each, each well under 3 minutes on one thread
RUNS: list[dict[str, Any]] = [
    _run("old-values", 50_000, **OLD),
    _run("gamma0-entity_f1", 50_000, reward="entity_f1"),
    _run("gamma0-token-lr1e-3", 50_000, learning_rate=1e-3),
    _run("gamma0-token-first-subword", 50_000, word_pool="first"),
    _run("gamma0-token", 50_000),
    _run("chosen", 100_000, seed=0),
    _run("chosen", 100_000, seed=1),
    _run("chosen-ppo", 100_000, seed=0, algo="sb3-ppo"),
]


def run_one(spec: dict[str, Any], out_root: Path) -> dict[str, Any]:
    s = spec["settings"]
    overrides = {"gamma": s["gamma"], "gae_lambda": s["gae_lambda"], "learning_rate": s["learning_rate"],
                 "ent_coef": s["ent_coef"], "extractor_kwargs.word_pool": s["word_pool"],
                 "extractor_kwargs.tag_window": s["tag_window"]}
    out = out_root / f"{spec['name']}-{spec['algo']}-s{spec['seed']}"
    result = sb3.train(ENV_ID, spec["algo"], total_steps=spec["steps"], seed=spec["seed"], out=out,
                       env_kwargs={"reward": s["reward"]}, overrides=overrides)
    m = result["metrics"]
    return {**spec, "test_entity_f1": round(float(m["entity_f1"]), 4),
            "test_token_accuracy": round(float(m["token_accuracy"]), 4),
            "train_seconds": result["train_seconds"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="only the chosen values, 8192 steps, seed 0")
    p.add_argument("--only", default=None, help="run only the runs whose name contains this")
    p.add_argument("--out", default=None, help=f"results JSON (default {RESULTS.relative_to(ROOT)}; "
                                               "--quick/--only: runs/sb3_tagging_sweep/quick.json)")
    p.add_argument("--runs-dir", default=str(ROOT / "runs" / "sb3_tagging_sweep"), help="run directories")
    args = p.parse_args(argv)
    runs = [_run("chosen-quick", 8192)] if args.quick else RUNS
    if args.only:
        runs = [r for r in runs if args.only in r["name"]]
    partial = args.quick or args.only
    out = Path(args.out) if args.out else (Path(args.runs_dir) / "quick.json" if partial else RESULTS)
    rows = []
    for spec in runs:
        start = time.perf_counter()
        row = run_one(spec, Path(args.runs_dir))
        rows.append(row)
        print(f"{row['name']:28s} {row['algo']:17s} {row['steps']:>7d} s{row['seed']}  "
              f"entity F1 {row['test_entity_f1']:.4f}  token acc {row['test_token_accuracy']:.4f}  "
              f"train {row['train_seconds']:.1f} s  (wall {time.perf_counter() - start:.0f} s)", flush=True)
    import stable_baselines3
    import torch

    doc = {
        "env_id": ENV_ID,
        "what": "test entity F1 of SB3 agents on NerTag-v0 (nlp_envs.agents.sb3.train, 16 envs, 1 torch thread, "
                "n_steps 64, batch 256, n_epochs 4, net_arch [64], bag extractor embed_dim 64); "
                "reference: majority lookup 0.882, random 0.04",
        "command": "python benchmarks/sb3_tagging_sweep.py",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared), torch threads 1",
        "versions": {"stable_baselines3": stable_baselines3.__version__, "torch": torch.__version__},
        "runs": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
