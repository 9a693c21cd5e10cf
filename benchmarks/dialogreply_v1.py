"""Statistics of DialogReply-v1 (GitHub issue 21): its corpus, the majority reference and supervised MLE.

Measures on the embedded ``"dialogs-v1"`` corpus (seed 0, default sizes):

* corpus statistics per split: pairs, reply words and tokens, the share of reply words that are slot
  values copied from the context (:func:`nlp_envs.corpora.dialog_v1.value_words`), distinct replies,
  context lengths (none truncated at the default 128 tokens);
* context-ignoring references on test: the ``majority`` baseline (nlp_envs/agents/baselines.py, one per seed),
  the best constant reply among 200 sampled train replies, and the "template only" reply (the
  reference with its value words deleted: what a model that reads the domain and the dialogue act but
  copies no value can reach);
* supervised MLE on the tiny decoder (``nlp-envs train DialogReply-v1 --algo supervised``), one run per
  budget and seed, with its test reply F1 and the recall of the reference's value words and template
  words by its greedy replies;

and writes them, with the exact commands and the runtimes, to ``benchmarks/results/dialogreply_v1_stats.json``::

    python benchmarks/dialogreply_v1.py                                  # 3 seeds x budgets 2000 and 30000
    python benchmarks/dialogreply_v1.py --budgets 30000 --seeds 0 --out /tmp/x.json
    python benchmarks/dialogreply_v1.py --no-train                       # corpus and baselines only (seconds)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENV_ID = "DialogReply-v1"
OUT = ROOT / "benchmarks" / "results" / "dialogreply_v1_stats.json"


def corpus_stats() -> dict[str, Any]:
    """Per split: pairs, reply lengths, copied-value share, distinct replies, context lengths."""
    import gymnasium as gym
    import numpy as np

    import nlp_envs  # noqa: F401 - registers the ids
    from nlp_envs.corpora import dialog_v1
    from nlp_envs.metrics import normalize_answer

    values = dialog_v1.value_words()
    out: dict[str, Any] = {}
    for split in ("train", "validation", "test"):
        env = gym.make(ENV_ID, split=split).unwrapped
        refs = list(env.references)
        words = [normalize_answer(r).split() for r in refs]  # the reply metrics' tokens
        n_words = sum(len(w) for w in words)
        out[split] = {
            "dialogues": int(env.prepared.meta["num_dialogues"]),
            "pairs": len(refs),
            "distinct_reply_share": len(set(refs)) / len(refs),
            "reply_words_mean": n_words / len(refs),
            "reply_tokens_mean": float(np.mean(env.reference_lengths - 1)),
            "reply_tokens_max": int(env.reference_lengths.max() - 1),
            "value_word_share": sum(w in values for ws in words for w in ws) / n_words,
            "context_tokens_max": int(env.context_lengths.max()),
            "context_truncated_share": float(np.mean(env.context_truncated)),
            "vocab_size": int(env.vocab_size),
        }
        env.close()
    return out


def context_free_references(seed: int = 0, sample: int = 200) -> dict[str, Any]:
    """Test reply F1 of replies that ignore the values: best sampled constant, template only."""
    import gymnasium as gym
    import numpy as np

    from nlp_envs.corpora import dialog_v1
    from nlp_envs.metrics import normalize_answer, unigram_f1

    values = dialog_v1.value_words()
    test = list(gym.make(ENV_ID, split="test").unwrapped.references)
    train = list(dict.fromkeys(gym.make(ENV_ID, split="train").unwrapped.references))
    rng = np.random.default_rng(seed)
    candidates = [train[i] for i in rng.choice(len(train), min(sample, len(train)), replace=False)]
    scores = [float(np.mean([unigram_f1(c, r) for r in test])) for c in candidates]
    best = int(np.argmax(scores))
    template = [" ".join(w for w in normalize_answer(r).split() if w not in values) for r in test]
    return {
        "best_constant_of_sample": {"f1": scores[best], "reply": candidates[best], "sample": len(candidates),
                                    "sample_seed": seed, "mean_f1_of_sample": float(np.mean(scores))},
        "template_only": {"f1": float(np.mean([unigram_f1(t, r) for t, r in zip(template, test)])),
                          "meaning": "each test reference with its value words deleted (an oracle that knows "
                                     "the domain and the act but copies no value)"},
    }


def majority(seeds: list[int]) -> list[dict[str, Any]]:
    import nlp_envs
    from nlp_envs.agents.baselines import make_baseline

    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        policy = make_baseline("majority", ENV_ID, seed=seed)
        m = nlp_envs.evaluate(ENV_ID, policy, split="test", seed=seed)
        reply = policy.table["reply"]
        text = _decode_majority(reply, policy.table["eos"])
        rows.append({"seed": seed, "f1": m["f1"], "bleu": m["bleu"], "rouge_l": m["rouge_l"], "reply": text,
                     "train_count_of_reply": policy.table["count"], "seconds": time.perf_counter() - t0})
    return rows


def _decode_majority(reply: Any, eos: int) -> str:
    import gymnasium as gym
    import numpy as np

    env = gym.make(ENV_ID).unwrapped
    ids = np.asarray(reply)
    end = np.flatnonzero((ids == eos) | (ids == 0))
    return env.encoder.decode(ids[: end[0]] if len(end) else ids)


def copy_recall(run_dir: Path, batch: int = 256) -> dict[str, float]:
    """Recall of the test references' value words and template words by the run's greedy replies."""
    import gymnasium as gym
    import numpy as np
    import torch

    from nlp_envs.agents.run import load_policy
    from nlp_envs.corpora import dialog_v1
    from nlp_envs.metrics import normalize_answer

    values = dialog_v1.value_words()
    env_id, kwargs, greedy = load_policy(run_dir, device="cpu")
    env = gym.make(env_id, split="test", **kwargs).unwrapped
    hits = Counter()
    totals = Counter()
    cols = np.arange(env.max_context_tokens)[None]
    refs = env.references
    for a in range(0, len(refs), batch):
        idx = np.arange(a, min(a + batch, len(refs)))
        obs = {"context_ids": torch.as_tensor(env.context_ids[idx].astype(np.int64)),
               "context_mask": torch.as_tensor((cols < env.context_lengths[idx][:, None]).astype(np.int64)),
               "reply_ids": torch.zeros(len(idx), env.max_reply_tokens, dtype=torch.long)}
        replies = greedy.policy.greedy_replies(obs).numpy()
        for i, row in zip(idx, replies):
            end = np.flatnonzero(row == env.eos_id)
            pred = Counter(normalize_answer(env.encoder.decode(row[: end[0]] if len(end) else row)).split())
            for w, c in Counter(normalize_answer(refs[i]).split()).items():
                kind = "value" if w in values else "template"
                hits[kind] += min(c, pred[w])
                totals[kind] += c
    return {f"{k}_word_recall": hits[k] / max(totals[k], 1) for k in ("value", "template")}


def mle(seed: int, budget: int, runs: Path) -> dict[str, Any]:
    out = runs / f"{ENV_ID}__supervised-{budget}__s{seed}"
    cmd = [str(Path(sys.executable).parent / "nlp-envs"), "train", ENV_ID, "--algo", "supervised", "--backbone", "tiny",
           "--total-steps", str(budget), "--seed", str(seed), "--out", str(out), "--no-progress"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    r = json.loads((out / "final_metrics.json").read_text())
    row = {"seed": seed, "budget": budget, "command": shlex.join(["nlp-envs", *cmd[1:-3], "--out", "RUN", "--no-progress"]),
           "f1": r["eval/f1"], "bleu": r["eval/bleu"], "rouge_l": r["eval/rouge_l"],
           "distinct_1": r["eval/distinct_1"], "examples_trained": r["step"], "best_examples": r.get("best_examples"),
           "val_f1": r.get("val_f1"), "val_curve": r.get("val_curve"), "early_stopping": r.get("early_stopping"),
           "stopped_early": r.get("stopped_early"), "train_seconds": r.get("train_seconds"), "wall_seconds": wall}
    row.update(copy_recall(out))
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--budgets", type=int, nargs="+", default=[2000, 30000],
                   help="supervised examples (2000: the grid's DialogReply-v0 cell, the RL warm start)")
    p.add_argument("--no-train", action="store_true", help="corpus statistics and baselines only")
    p.add_argument("--runs", type=Path, default=None, help="keep the run folders here (default: a temp dir)")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    import torch

    t0 = time.perf_counter()
    record: dict[str, Any] = {
        "env_id": ENV_ID, "dataset": "dialogs-v1 (nlp_envs/corpora/dialog_v1.py, seed 0, default sizes)",
        "command": shlex.join(["python", "benchmarks/dialogreply_v1.py", *(argv if argv is not None else sys.argv[1:])]),
        "metric": "reply F1 (nlp_envs.metrics.unigram_f1, mean over test replies; nlp_envs.evaluate 'f1')",
        "corpus": corpus_stats(),
    }
    record["context_free"] = context_free_references()
    record["majority"] = majority(args.seeds)
    maj = sum(r["f1"] for r in record["majority"]) / len(record["majority"])
    if not args.no_train:
        with tempfile.TemporaryDirectory() as tmp:
            runs = args.runs or Path(tmp)
            rows = [mle(seed, budget, runs) for budget in args.budgets for seed in args.seeds]
        record["supervised_mle"] = rows
        summary = {}
        for budget in args.budgets:
            f1s = [r["f1"] for r in rows if r["budget"] == budget]
            mean = sum(f1s) / len(f1s)
            summary[str(budget)] = {"f1_mean": mean, "f1_min": min(f1s), "majority_over_mle": maj / mean,
                                    "criterion_majority_le_half_mle_every_seed": all(maj <= 0.5 * f for f in f1s)}
        record["summary"] = {"majority_f1_mean": maj, "mle_by_budget": summary}
    record["seconds"] = time.perf_counter() - t0
    record["machine"] = {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                         "load_average_1_5_15_min_at_end": list(os.getloadavg()),
                         "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "python": platform.python_version(),
                         "torch": torch.__version__, "git_sha": _git_sha(), "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record.get("summary", {"majority": record["majority"]}), indent=1))
    return 0


def _git_sha() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


if __name__ == "__main__":
    raise SystemExit(main())
