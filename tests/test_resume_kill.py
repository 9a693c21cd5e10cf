"""Kill -9 in the middle of training, resume, finish: the run ends where an uninterrupted one ends.

A PPO run in a subprocess checkpoints every 2 updates; it is SIGKILLed once it has logged an update
past its first checkpoint (so mid-interval, with work to redo), then ``python -m nlp_envs.agents.train --resume DIR`` finishes it. Checked:
the checkpoint left by the kill loads; at most one checkpoint interval of work is redone; no temp
file or folder survives; ``metrics.csv`` holds each step once; and the final step count, losses and
weights equal those of an uninterrupted run with the same seed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from tests.helpers import TINY_SIZES, metrics_rows

NUM_ENVS = 8  # TextCls episodes are one step: one update = NUM_ENVS env steps
EVERY = 2  # checkpoint_every (updates)
TOTAL = 40 * NUM_ENVS
SETTINGS = {"num_envs": NUM_ENVS, "checkpoint_every": EVERY, "update_epochs": 1, "num_minibatches": 1,
            "eval_split": "", "device": "cpu"}


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "nlp_envs.agents.train", *args, "--no-progress"]


def _past_checkpoint(out: Path) -> bool:
    """A checkpoint exists and metrics.csv has a row after its step."""
    try:
        step = json.loads((out / "checkpoint" / "trainer_state.json").read_text())["step"]
        lines = (out / "metrics.csv").read_text().splitlines()
        return int(float(lines[-1].split(",")[0])) > step
    except (OSError, ValueError, IndexError, KeyError):  # not there yet, or caught mid-write
        return False


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, one_torch_thread):
    from nlp_envs.agents import load_policy
    from nlp_envs.agents.runfolder import checkpoint_dir
    from nlp_envs.agents.train import train

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "killed"
    sets = [a for k, v in SETTINGS.items() for a in ("--set", f"{k}={v}")]
    proc = subprocess.Popen(
        _cmd("TextCls-v0", "--algo", "ppo", "--seed", "3", "--total-steps", str(TOTAL), "--out", str(out),
             "--env-kwarg", "dataset_kwargs=" + json.dumps(TINY_SIZES), *sets),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline and not _past_checkpoint(out):
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished (or died) before it could be killed: " + proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    # what the kill left: a complete checkpoint, and at most one interval of work beyond it
    ckpt = checkpoint_dir(out)
    saved = json.loads((ckpt / "trainer_state.json").read_text())
    assert 0 < saved["step"] < TOTAL and saved["step"] % (EVERY * NUM_ENVS) == 0, saved
    for f in ("model.safetensors", "config.json", "optimizer.safetensors", "rng.json", "data_order.json", "manifest.json"):
        assert (ckpt / f).exists(), f
    load_policy(out)
    logged = [r["step"] for r in metrics_rows(out) if r["step"]]  # a row cut short by the kill may lack its step
    killed_at = int(float(logged[-1]))
    assert saved["step"] < killed_at <= saved["step"] + EVERY * NUM_ENVS, (saved["step"], killed_at)
    print(f"killed at step {killed_at}, resumed from the checkpoint at step {saved['step']}")

    resumed = subprocess.Popen(_cmd("--resume", str(out)), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    # the uninterrupted reference run, in this process while the resumed one runs
    ref = train("TextCls-v0", "ppo", total_steps=TOTAL, seed=3, out=str(tmp_path / "ref"),
                env_kwargs={"dataset_kwargs": TINY_SIZES}, progress=False, **SETTINGS)
    stdout, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr[-3000:]
    final = json.loads((out / "checkpoint" / "trainer_state.json").read_text())
    assert final["step"] == ref["step"] == TOTAL
    assert json.loads(stdout[stdout.index("{"):])["step"] == TOTAL

    # nothing half-written survives, every step is logged once, and the trajectory is the reference's
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp")]
    assert not leftovers, leftovers
    rows, ref_rows = metrics_rows(out), metrics_rows(tmp_path / "ref")
    assert [r["step"] for r in rows] == [r["step"] for r in ref_rows] == [str(NUM_ENVS * (i + 1)) for i in range(40)]
    assert [r["losses/loss"] for r in rows] == [r["losses/loss"] for r in ref_rows]
    from safetensors.torch import load_file

    a, b = load_file(out / "checkpoint" / "model.safetensors"), load_file(tmp_path / "ref" / "checkpoint" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
