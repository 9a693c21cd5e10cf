"""What a greedy generation evaluation costs: with and without the stop token, and against ``eval_envs``.

The greedy evaluation of a generation policy decodes a sub-env's whole reply with the KV cache when its
episode starts, batched over the sub-envs that start on the same step. With autoreset the sub-envs fall
out of step after the first replies, so each env step starts only a few episodes, and each batch decodes
token by token until its last reply ends: many small forwards. A reply that has ended leaves its batch
(``GeneratePolicy.greedy_replies`` drops its rows of the KV cache).

Rows, each one evaluation of the same trained policy on the same split, in one process:

* the first: the policy without its stop token (every batch decodes the whole reply cap), the baseline;
* then one per ``--envs`` value, with the stop token.

Each row has the wall-clock, the decoder forwards (counted by a forward hook), the rows they computed (a
row is one sequence prefilled or advanced by one token) beside the reply tokens the env played, and the
metrics, with whether they equal the first row's. The stop token must not change them (the skipped tokens
are never played); another number of sub-envs batches and pads the contexts differently, so it may move
them at float precision.

    HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1 NLP_ENVS_DATA_DIR=../shared/data \
        .venv/bin/python benchmarks/generation_eval.py RUN_DIR --split "validation" --envs 64,256
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import torch

import nlp_envs
from bench import git_sha  # benchmarks/ is on sys.path when this script runs
from nlp_envs.agents import load_policy


def _git_sha() -> str:
    """The commit measured (``bench.git_sha``), ``+dirty`` when the working tree differs from it."""
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=Path(__file__).parent, check=False).returncode
    return git_sha() + ("+dirty" if dirty else "")


def measure(run_dir: Path, split: str, num_envs: int, stop: bool) -> dict[str, Any]:
    """Evaluate the run's greedy policy on ``split`` with ``num_envs`` sub-envs: seconds, forwards, metrics.
    ``stop=False`` unbinds the policy's ``stop_token``: every reply decodes the whole reply cap in its batch."""
    env_id, env_kwargs, greedy = load_policy(run_dir)
    if not stop:
        greedy.policy.stop_token = None
    calls = {"forwards": 0, "rows": 0}

    def count(module: torch.nn.Module, args: Any, kwargs: dict[str, Any], output: Any) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        calls["forwards"] += 1
        calls["rows"] += int(ids.shape[0])

    handle = greedy.policy.lm.base_model.register_forward_hook(count, with_kwargs=True)
    try:
        t0 = time.perf_counter()
        metrics = nlp_envs.evaluate(env_id, greedy, split=split, num_envs=num_envs, **env_kwargs)
        seconds = time.perf_counter() - t0
    finally:
        handle.remove()
    played = metrics["mean_reply_tokens"] * metrics["num_examples"]  # reply tokens the env actually stepped
    return {"num_envs": num_envs, "stop_at_eos": stop, "seconds": round(seconds, 2), "forwards": calls["forwards"],
            "mean_rows_per_forward": round(calls["rows"] / max(calls["forwards"], 1), 1),
            "row_tokens_decoded": calls["rows"], "reply_tokens_played": round(played),
            "useful_fraction": round(played / max(calls["rows"], 1), 3), "metrics": metrics}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path, help="a finished transformer run of a generation env (run.json, checkpoint/)")
    ap.add_argument("--split", default="validation", help="split (or slice, e.g. 'validation[:1000]') to evaluate")
    ap.add_argument("--envs", default="64,256", help="comma-separated numbers of sub-envs")
    ap.add_argument("--no-stop-baseline", action="store_true",
                    help="skip the first row: the policy without its stop token (the whole reply cap decoded)")
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "generation_eval.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    envs = [int(n) for n in args.envs.split(",")]
    rows = ([] if args.no_stop_baseline else [measure(args.run_dir, args.split, envs[0], stop=False)])
    rows += [measure(args.run_dir, args.split, n, stop=True) for n in envs]
    base = rows[0]
    keys = [k for k, v in base["metrics"].items() if isinstance(v, float)]
    for r in rows:
        r["speedup_vs_first"] = round(base["seconds"] / r["seconds"], 2)
        r["same_metrics_as_first"] = all(r["metrics"][k] == base["metrics"][k] for k in keys)
    out = {"run_dir": args.run_dir.name, "split": args.split, "git_sha": _git_sha(),
           "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": 1},
           "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    print("| sub-envs | stop at eos | seconds | forwards | rows/forward | rows decoded | reply tokens played | speed-up "
          "| same metrics | f1 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['num_envs']} | {r['stop_at_eos']} | {r['seconds']} | {r['forwards']} | {r['mean_rows_per_forward']} | "
              f"{r['row_tokens_decoded']} | {r['reply_tokens_played']} | {r['speedup_vs_first']}x | "
              f"{r['same_metrics_as_first']} | {r['metrics']['f1']:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
