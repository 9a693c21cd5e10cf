#!/usr/bin/env bash
# Install the `clients` extra of pyproject.toml (TorchRL, TensorDict, Tianshou) into .venv-clients, a
# virtualenv layered over the project venv (.venv): it sees every package of .venv (torch 2.13.0 CPU and
# the editable nlp_envs included) and adds the clients on top. Kept apart because Tianshou 2.0.1 pins
# pandas<3 and, through virtualenv, filelock<4, which would downgrade packages of .venv (pip installs those
# into .venv-clients and leaves .venv's alone). tests/test_clients.py runs the clients with
# .venv-clients/bin/python and skips, saying why, when it is absent or a client does not import.
#
# torch: the version .venv has is installed first (already satisfied through the layering, so nothing is
# downloaded) and pinned in the second install, so no requirement can make pip fetch another (CUDA) build.
# Exit status 1 (and a message) when pip fails, e.g. without a package index; scripts/test.sh carries on.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${NLP_ENVS_VENV:-.venv}"
CVENV="${NLP_ENVS_CLIENTS_VENV:-.venv-clients}"
if [ ! -x "$CVENV/bin/python" ]; then
  echo "[setup-clients] creating $CVENV over $VENV"
  "$VENV/bin/python" -m venv --without-pip "$CVENV"
fi
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
CSITE="$("$CVENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "import site; site.addsitedir('$(cd "$SITE" && pwd)')" > "$CSITE/_nlp_envs_base.pth"
TORCH="$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')"
# The extra's requirements, read from pyproject.toml (one list to keep).
CLIENTS="$("$VENV/bin/python" - <<'EOF'
import re
text = open("pyproject.toml").read()
block = re.search(r"^clients = \[(.*?)\]", text, re.S | re.M).group(1)
print(" ".join(re.findall(r'"([^"]+)"', block)))
EOF
)"
PIP=("$VENV/bin/python" -m pip --python "$CVENV/bin/python" install --quiet --disable-pip-version-check
     --retries 1 --timeout 20)
# shellcheck disable=SC2086
if ! "${PIP[@]}" "torch==$TORCH" || ! "${PIP[@]}" "torch==$TORCH" $CLIENTS; then
  echo "[setup-clients] pip could not install the clients extra ($CLIENTS) into $CVENV;" \
       "the client tests will skip" >&2
  exit 1
fi
echo "[setup-clients] ready: $("$CVENV/bin/python" -c 'import torch, torchrl, tensordict, tianshou; print("torch", torch.__version__, "| torchrl", torchrl.__version__, "| tensordict", tensordict.__version__, "| tianshou", tianshou.__version__)')"
