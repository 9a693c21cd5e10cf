"""Large corpora: build a TextCls env over a generated 1 M-example CSV, cold and warm (cached).

Measures, each in a fresh subprocess: construction time with an empty cache (cold: read, learn the
vocabulary, tokenize through ``datasets.map``, write the memory-mapped cache) and with the cache
(warm); the growth of the process's private memory (``RssAnon``) from construction and after 20,000
episodes; the file pages mapped (``RssFile``: page cache of the memory-mapped arrays, shared and
reclaimable, which the kernel maps generously around each fault); and peak RSS. The CSV is written to a temporary folder (never
into a data directory) and deleted afterwards.

    python benchmarks/large_corpus.py [--rows 1000000] [--json benchmarks/results/large_corpus.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time
def mem(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
import gymnasium as gym, nlp_envs, datasets, tokenizers  # imports are not part of the measurement
anon0, rss0 = mem("RssAnon"), mem("VmRSS")
t0 = time.perf_counter()
env = gym.make("TextCls-v0", dataset=sys.argv[1], text_column="text", label_column="label", max_length=32)
built = time.perf_counter() - t0
anon1 = mem("RssAnon")
base = env.unwrapped
env.reset(seed=0)
t1 = time.perf_counter()
for _ in range(20000):
    env.step(0); env.reset()
steps_per_s = 20000 / (time.perf_counter() - t1)
print(json.dumps({"construct_s": built,
                  "anon_growth_construct_mb": anon1 - anon0,
                  "anon_growth_after_steps_mb": mem("RssAnon") - anon0,
                  "file_mapped_after_steps_mb": mem("RssFile"),
                  "rss_growth_after_steps_mb": mem("VmRSS") - rss0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "num_examples": base.num_examples, "vocab_size": base.encoder.vocab_size,
                  "steps_per_s_after": steps_per_s,
                  "python_text_objects_held": base.prepared.texts["text"].decoded_in_memory}))
"""


def write_corpus(path: Path, rows: int, seed: int = 0) -> int:
    """A synthetic 20-label corpus: label-specific and shared words, 6-14 words per text."""
    rng = np.random.default_rng(seed)
    shared = [f"w{i}" for i in range(4000)]
    cues = [[f"c{label}x{j}" for j in range(30)] for label in range(20)]
    labels = rng.integers(20, size=rows)
    lengths = rng.integers(6, 15, size=rows)
    with open(path, "w", encoding="utf-8") as f:
        f.write("text,label\n")
        word_ids = rng.integers(len(shared), size=(rows, 14))
        cue_ids = rng.integers(30, size=rows)
        for i in range(rows):
            words = [shared[w] for w in word_ids[i, : lengths[i]]]
            words[int(cue_ids[i]) % len(words)] = cues[labels[i]][cue_ids[i]]
            f.write(" ".join(words) + f",l{labels[i]}\n")
    return path.stat().st_size


def run_child(csv_path: Path, cache: Path) -> dict:
    env = dict(os.environ, NLP_ENVS_CACHE_DIR=str(cache), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    out = subprocess.run([sys.executable, "-c", CHILD, str(csv_path)], capture_output=True, text=True, env=env,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        t0 = time.perf_counter()
        size = write_corpus(folder / "train.csv", args.rows)
        print(f"wrote {args.rows:,} rows ({size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s", flush=True)
        cache = Path(tmp) / "cache"
        cold = run_child(folder / "train.csv", cache)
        print("cold:", json.dumps(cold), flush=True)
        warm = run_child(folder / "train.csv", cache)
        print("warm:", json.dumps(warm), flush=True)
        cache_mb = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) / 1e6
    result = {"command": "python benchmarks/large_corpus.py " + " ".join(argv or sys.argv[1:]),
              "rows": args.rows, "csv_mb": size / 1e6, "cache_mb": cache_mb, "cold": cold, "warm": warm}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
