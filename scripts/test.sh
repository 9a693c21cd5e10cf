#!/usr/bin/env bash
# README command 2: install everything (virtualenv) and run the test suite, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
VENV="${NLP_ENVS_VENV:-.venv}"
exec "$VENV/bin/python" -m pytest -q --durations=15 "$@"
