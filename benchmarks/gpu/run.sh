#!/usr/bin/env bash
# Runs the GPU checks (benchmarks/gpu/checks.py) on a machine that reaches no package index: installs the
# bundle's wheels with pip --no-index into a scratch folder, points the MiniLM backbone and the data
# directory at the bundle, and writes one JSON file per stage (+ log.txt) to $OUT as each stage ends.
# Build the bundle here first (bash benchmarks/gpu/bundle.sh); the device call is in benchmarks/gpu/README.md.
#   bash benchmarks/gpu/run.sh                        # CUDA, about 7.5 minutes (checks.py --budget-s 450)
#   bash benchmarks/gpu/run.sh --device cpu --smoke   # the rehearsal (benchmarks/gpu/rehearse.sh)
# Arguments go to checks.py. Env: PYTHON (default python3), OUT (default /tmp/nlp-envs-gpu-out),
# GPU_BUNDLE (default .gpu-bundle), GPU_BUNDLE_WHEELS (default $GPU_BUNDLE/wheels), GPU_CHECKS_TIMEOUT (510 s).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
PY="${PYTHON:-python3}"
BUNDLE="$(cd "${GPU_BUNDLE:-.gpu-bundle}" 2>/dev/null && pwd)" || {
  echo "error: no bundle at ${GPU_BUNDLE:-.gpu-bundle}: build it with bash benchmarks/gpu/bundle.sh and carry it" >&2; exit 1; }
WHEELS="${GPU_BUNDLE_WHEELS:-$BUNDLE/wheels}"
OUT="${OUT:-/tmp/nlp-envs-gpu-out}"
SITE="${GPU_SITE:-/tmp/nlp-envs-gpu-site}"
mkdir -p "$OUT"
t0=$SECONDS
rm -rf "$SITE"
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check \
  --target "$SITE" "$WHEELS"/*.whl
export PYTHONPATH="$ROOT:$SITE${PYTHONPATH:+:$PYTHONPATH}"
export NLP_ENVS_MINILM_DIR="$BUNDLE/minilm" NLP_ENVS_DATA_DIR="$BUNDLE/data" \
       NLP_ENVS_CACHE_DIR="${NLP_ENVS_CACHE_DIR:-/tmp/nlp-envs-gpu-cache}" HF_DATASETS_CACHE=/tmp/nlp-envs-gpu-hf \
       HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 HF_HUB_DISABLE_PROGRESS_BARS=1 \
       NLP_ENVS_GIT_SHA="$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['git_sha'])" "$BUNDLE/MANIFEST.json")"
echo "installed $(ls "$WHEELS" | wc -l) wheels into $SITE in $((SECONDS - t0)) s; results -> $OUT"
set +e
timeout "${GPU_CHECKS_TIMEOUT:-510}" "$PY" benchmarks/gpu/checks.py --out "$OUT" "$@" 2>&1 \
  | grep --line-buffered -v "^Loading weights" | tee "$OUT/log.txt"
rc=${PIPESTATUS[0]}
echo "checks.py exit $rc after $((SECONDS - t0)) s (124: stopped by the timeout; finished stages are in $OUT)" | tee -a "$OUT/log.txt"
exit "$rc"
