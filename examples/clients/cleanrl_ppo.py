"""CleanRL-style PPO (examples/10_cleanrl_ppo.py, unmodified) briefly on every embedded id, in both
autoreset modes; one JSON line per (id, mode). Needs no client library (torch and Gymnasium only).

    python examples/clients/cleanrl_ppo.py --json out.json        # tests/test_clients.py runs this

Each run: 4 sub-envs x 32 steps x 2 iterations (256 env steps, 2 PPO updates), no TensorBoard, no
evaluation; the example itself asserts that every finished episode was logged.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import sys
import time
from pathlib import Path

import nlp_envs
from nlp_envs.docs import data_folder

EXAMPLE = Path(__file__).resolve().parents[1] / "10_cleanrl_ppo.py"
MODES = ("SameStep", "NextStep")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-ids", nargs="*", default=None, help="default: every embedded id")
    parser.add_argument("--json", default="", help="write the versions and one result per (id, mode) here")
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("cleanrl_ppo_example", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = example  # dataclasses look their module up
    spec.loader.exec_module(example)  # type: ignore[union-attr]
    ids = args.env_ids or [i for i in nlp_envs.registration.registered_ids() if data_folder(i) is None]
    results = []
    for env_id in ids:
        for mode in MODES:
            t0 = time.perf_counter()
            argv = ["--env-id", env_id, "--autoreset-mode", mode, "--total-timesteps", "256", "--num-envs", "4",
                    "--num-steps", "32", "--no-track", "--eval-split", ""]
            try:
                with contextlib.redirect_stdout(io.StringIO()) as log:
                    r = example.main(argv)
                out = {"env_id": env_id, "mode": mode, "status": "pass", "episodes": r["episodes"],
                       "logged": log.getvalue().strip().splitlines()[-1]}
            except Exception as e:  # noqa: BLE001 - reported per run
                out = {"env_id": env_id, "mode": mode, "status": "fail", "error": f"{type(e).__name__}: {e}"[:500]}
            out["seconds"] = round(time.perf_counter() - t0, 2)
            print(json.dumps(out), flush=True)
            results.append(out)
    if args.json:
        import gymnasium
        import torch

        versions = {"torch": torch.__version__, "gymnasium": gymnasium.__version__}
        with open(args.json, "w") as f:
            json.dump({"versions": versions, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
