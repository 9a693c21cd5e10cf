"""Data-parallel training on CPU processes (gloo): gradient averaging is exact, torchrun runs end to end.

Two ranks with B examples each must take the same optimizer steps as one process with the 2B examples
(tolerance: float32 summation order only, atol 1e-6 on the parameters and the averaged gradients); a 2-rank ``nlp-envs train --nproc 2`` run must
leave one valid checkpoint that ``nlp_envs.agents.load_policy`` and ``nlp-envs eval DIR`` read.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch
import torch.multiprocessing as mp

from tests.helpers import TINY_SIZES, metrics_rows

B = 8  # examples per rank
UPDATES = 2  # optimizer steps compared
LR = 0.1
ATOL = 1e-6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sup_run(out: Path, num_envs: int):
    from nlp_envs.agents.config import make_config
    from nlp_envs.agents.run import Run

    cfg = make_config("supervised", total_steps=10_000, num_envs=num_envs, progress=False, eval_split="",
                      checkpoint_every=0, device="cpu")
    run = Run("TextCls-v0", cfg, backbone="tiny", out=out, env_kwargs={"dataset_kwargs": TINY_SIZES})
    # SGD: a parameter difference is LR x the gradient difference. (AdamW divides by sqrt(v): where a
    # gradient is ~1e-8 its float32 rounding becomes a full-size step, which says nothing about the
    # all-reduce under test.)
    run.optimizer = torch.optim.SGD(run.policy.parameters(), lr=LR)
    return run


def _updates(run) -> dict[str, torch.Tensor]:
    """``UPDATES`` supervised steps on the run's own gold batches; the parameters after them, and the
    (averaged, clipped) gradients of the last step under ``grad/NAME``."""
    from nlp_envs.agents.supervised import GoldData, loss_on

    data = GoldData(run)
    for _ in range(UPDATES):
        obs, actions, mask = data.next_batch()
        assert len(actions) == run.cfg.num_envs
        loss, _ = loss_on(run, obs, actions, mask)
        run.optimize(loss)
    out = {k: v.detach().clone() for k, v in run.policy.named_parameters()}
    out.update({f"grad/{k}": v.grad.clone() for k, v in run.policy.named_parameters() if v.grad is not None})
    return out


def _rank_main(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    import torch.distributed as dist

    try:
        run = _sup_run(Path(out) / "ddp", num_envs=B)  # Run joins the group (gloo: the device is cpu)
        assert run.world_size == world and dist.get_backend() == "gloo"
        params = _updates(run)
        torch.save(params, Path(out) / f"params{rank}.pt")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_two_ranks_of_b_equal_one_process_of_2b(tmp_path, one_torch_thread, monkeypatch):
    """The supervised batches are the same examples split by rank, the loss a per-example mean: the
    rank-averaged gradient is the 2B-batch gradient, so parameters agree to float32 rounding."""
    mp.start_processes(_rank_main, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True, start_method="spawn")
    p0, p1 = (torch.load(tmp_path / f"params{r}.pt") for r in range(2))
    for k in p0:  # replicas stay identical: every rank applies the same all-reduced gradient
        assert torch.equal(p0[k], p1[k]), k
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    single = _updates(_sup_run(tmp_path / "single", num_envs=2 * B))
    assert single.keys() == p0.keys()
    from nlp_envs.agents.run import build_policy

    init, _ = build_policy("TextCls-v0", {"dataset_kwargs": TINY_SIZES}, "tiny")
    moved = [k for k, v in init.named_parameters() if not torch.equal(v, single[k])]
    assert len(moved) > len(single) // 4, "the updates changed little: the comparison would be vacuous"
    worst = max(float((single[k] - p0[k]).abs().max()) for k in single)
    scale = max(float(single[k].abs().max()) for k in single if k.startswith("grad/"))
    print(f"2 ranks x {B} vs 1 process x {2 * B}, {UPDATES} updates: max |diff| {worst:.1e} (max |grad| {scale:.1e})")
    assert worst <= ATOL, f"2 ranks x {B} vs 1 x {2 * B}: max |diff| {worst:.2e} > {ATOL}"


def test_torchrun_two_ranks_train_and_checkpoint(tmp_path):
    """``nlp-envs train ... --nproc 2`` (torchrun, gloo): global step counts, rank-0 files only, a
    checkpoint holding every rank's data order, loadable by ``load_policy`` and ``nlp-envs eval``."""
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "nlp_envs.cli", "train", "TextCls-v0", "--algo", "ppo", "--nproc", "2",
           "--total-steps", "64", "--out", str(out), "--no-progress", "--set", "num_envs=16",
           "--set", "checkpoint_every=1", "--set", "eval_envs=16", "--set", "device=cpu",
           "--env-kwarg", "dataset_kwargs=" + json.dumps(TINY_SIZES)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    printed = json.loads(proc.stdout[proc.stdout.index("{"):])  # rank 0 alone prints the result
    assert printed["step"] == 64 and "eval/accuracy" in printed

    rows = metrics_rows(out)
    assert [r["step"] for r in rows] == ["32", "64"]  # 2 ranks x 16 episodes of one step per update
    assert float(rows[0]["charts/steps_per_second"]) > 0
    state = json.loads((out / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 64 and state["iteration"] == 2 and state["world_size"] == 2
    for f in ("rng.json", "data_order.json"):
        assert (out / "checkpoint" / f).exists() and (out / "checkpoint" / "rank1" / f).exists()
    from nlp_envs.agents.runfolder import load_state

    orders = [load_state(p, "data_order")["sampler"] for p in (out / "checkpoint", out / "checkpoint" / "rank1")]
    assert orders[0]["env_rngs"] != orders[1]["env_rngs"]  # the ranks played different sub-envs
    assert not list(out.glob(".checkpoint*")) and not list(out.glob("*.tmp"))
    info = json.loads((out / "run.json").read_text())
    assert info["world_size"] == 2 and info["device"] == "cpu"

    from nlp_envs.agents import load_policy
    from nlp_envs.cli import main as cli_main

    env_id, env_kwargs, policy = load_policy(out)
    assert env_id == "TextCls-v0" and env_kwargs["dataset_kwargs"] == TINY_SIZES
    assert cli_main(["eval", str(out), "--json", "--num-envs", "16"]) == 0
