#!/usr/bin/env bash
# Install the `clients` extra (TorchRL, TensorDict, Tianshou) into .venv-clients, a virtualenv layered
# over the project venv (.venv): it sees every package of .venv (torch 2.13.0 CPU included) and adds
# the clients on top. Kept apart because Tianshou 2.0.1 pins pandas<3 and, through virtualenv,
# filelock<4, which would downgrade packages of .venv. tests/test_clients.py runs the clients with
# .venv-clients/bin/python when the current interpreter cannot import them.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${NLP_ENVS_VENV:-.venv}"
CVENV="${NLP_ENVS_CLIENTS_VENV:-.venv-clients}"
if [ ! -x "$CVENV/bin/python" ]; then
  "$VENV/bin/python" -m venv --without-pip "$CVENV"
fi
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
CSITE="$("$CVENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "import site; site.addsitedir('$(cd "$SITE" && pwd)')" > "$CSITE/_nlp_envs_base.pth"
# torch is pinned to what .venv has, so pip never fetches another (CUDA) build.
TORCH="$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')"
"$VENV/bin/python" -m pip --python "$CVENV/bin/python" install --quiet --disable-pip-version-check \
  "torch==$TORCH" "torchrl==0.14.1" "tensordict>=0.14.3,<0.15" "tianshou==2.0.1"
echo "[setup-clients] ready: $("$CVENV/bin/python" -c 'import torch, torchrl, tianshou; print("torch", torch.__version__, "| torchrl", torchrl.__version__, "| tianshou", tianshou.__version__)')"
