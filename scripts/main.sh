#!/usr/bin/env bash
# README command 1: install, then run the main job on the embedded default (TextCls-v0):
# train an agent, print its test score beside the baselines, save a learning-curve plot.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
export TOKENIZERS_PARALLELISM=false
VENV="${NLP_ENVS_VENV:-.venv}"
exec "$VENV/bin/nlp-envs" quickstart --out "${OUT:-runs/quickstart}" "$@"
