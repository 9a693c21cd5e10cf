"""Data-parallel training over several processes (``torchrun``): set-up, gradient and metric reduction.

```
torchrun --standalone --nproc_per_node 2 -m nlp_envs.agents.train TextCls-v0 --algo ppo --out runs/ddp
nlp-envs train TextCls-v0 --algo ppo --nproc 2 --out runs/ddp          # spawns the torchrun above
```

Every rank holds a full replica of the policy and the optimizer and plays its own ``num_envs``
sub-envs (``num_envs`` is per rank: the global batch is ``world_size * num_envs`` episodes).

- **Process group**: created from torchrun's env vars (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
  ``MASTER_ADDR``, ``MASTER_PORT``) when ``WORLD_SIZE > 1``; backend ``nccl`` when the run's device is
  CUDA (each rank takes ``cuda:LOCAL_RANK``), ``gloo`` otherwise. With one process nothing here
  does anything and a run is bit-for-bit what it was before.
- **Data**: rank ``r``'s vector env is seeded ``seed + r * num_envs``, so the ranks together are seeded
  exactly like one vector env of ``world_size * num_envs`` sub-envs (sub-env ``g`` gets ``seed + g``),
  and every sub-env walks its own seeded permutation of the whole train split, as in one process.
  (Sharding with ``shard_index=rank, num_shards=world_size`` would instead confine each sub-env to
  ``1/world_size`` of the split, which one process never does, and fails on splits smaller than the
  world.) The supervised loop draws a global batch of ``world_size * num_envs`` examples from one
  shared seeded permutation and rank ``r`` keeps every ``world_size``-th example from ``r``
  (as ``DistributedSampler`` does), so N ranks x B examples make the same batch as 1 rank x N*B.
- **Gradients**: averaged over ranks in :meth:`nlp_envs.agents.run.Run.optimize` between ``backward`` and
  clipping (one all-reduce of the flattened gradients). ``DistributedDataParallel`` is not used: its
  hooks are tied to ``module.forward``, and the policies are driven through ``begin``/``step``/
  ``score_actions``. Each loss is a mean over a rank's equal-sized batch, so the average of the ranks'
  gradients is the gradient of the global batch's loss (exactly for per-example means; per-token
  means weigh each rank's tokens by its own token count).
- **Control flow**: step counts are summed and logged metrics averaged over ranks (``steps_per_second``
  summed), so every rank sees the same ``run.step`` and stops together; PPO's target-KL stop uses the
  mean KL. Rank 0 alone writes ``run.json``, ``metrics.csv``, ``tb/``, checkpoints (it gathers each
  rank's RNG and data-order state into them, under ``checkpoint/rank{r}/`` for ``r > 0``) and runs
  the final evaluation.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.distributed as dist

SUMMED_METRICS = frozenset({"charts/steps_per_second"})
"""Metrics summed over ranks (global throughput); every other metric is averaged."""


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """True on rank 0 (and in a single process): the rank that logs and writes files."""
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def init(device: torch.device) -> bool:
    """Join the process group described by torchrun's env vars when ``WORLD_SIZE > 1``.

    ``device`` is the run's device: ``nccl`` for CUDA, ``gloo`` otherwise. Returns True when this call
    created the group (the caller then owns :func:`shutdown`); False when there is nothing to do or
    the group already exists.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    # a long timeout: rank 0 writes checkpoints while the others wait at their next collective
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
    return True


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def rank_device(device: torch.device) -> torch.device:
    """``cuda`` -> ``cuda:LOCAL_RANK`` under several processes; any other device unchanged."""
    if device.type == "cuda" and device.index is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return torch.device("cuda", local_rank())
    return device


def _comm_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def broadcast_module(module: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (replicas start identical)."""
    if world_size() == 1:
        return
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, src=0)


def all_reduce_grads(params: Iterable[torch.nn.Parameter]) -> None:
    """Replace each gradient by its mean over ranks, in one all-reduce.

    A rank with no gradient for a parameter counts it as zero; a parameter without a gradient on every
    rank keeps ``grad=None`` (so AdamW skips it, as in one process).
    """
    n = world_size()
    if n == 1:
        return
    params = [p for p in params if p.requires_grad]
    if not params:
        return
    dev = params[0].device
    flat = torch.cat([
        *(p.grad.detach().reshape(-1).float() if p.grad is not None else torch.zeros(p.numel(), device=dev) for p in params),
        torch.tensor([float(p.grad is not None) for p in params], device=dev),  # how many ranks have a grad
    ])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    has = flat[-len(params):]
    offset = 0
    for p, h in zip(params, has.tolist()):
        chunk = flat[offset : offset + p.numel()].view_as(p)
        offset += p.numel()
        if h == 0:
            continue
        g = (chunk / n).to(p.dtype)
        if p.grad is None:
            p.grad = g
        else:
            p.grad.copy_(g)


def sum_int(x: int) -> int:
    """``x`` summed over ranks."""
    if world_size() == 1:
        return int(x)
    t = torch.tensor([float(x)], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return int(round(float(t)))


def mean(x: float) -> float:
    """``x`` averaged over ranks."""
    if world_size() == 1:
        return float(x)
    t = torch.tensor([float(x)], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return float(t) / world_size()


def reduce_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """Every metric averaged over ranks (those in :data:`SUMMED_METRICS` summed). All ranks must log
    the same keys at the same time (they run the same loop)."""
    n = world_size()
    if n == 1:
        return metrics
    keys = sorted(metrics)
    t = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return {k: float(v) if k in SUMMED_METRICS else float(v) / n for k, v in zip(keys, t.tolist())}


def gather_to_main(obj: Any) -> list[Any] | None:
    """Rank 0: the list of every rank's ``obj`` (rank order); other ranks: None."""
    if world_size() == 1:
        return [obj]
    out: list[Any] | None = [None] * world_size() if is_main() else None
    dist.gather_object(obj, out, dst=0)
    return out


def broadcast_from_main(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


# ----------------------------------------------------------------------------------------------
# nlp-envs train ... --nproc N
# ----------------------------------------------------------------------------------------------
def launch(argv: Sequence[str], nproc: int, module: str = "nlp_envs.agents.train") -> int:
    """Run ``python -m module argv`` on ``nproc`` local processes through torchrun (``--standalone``:
    one node, a free port picked by the rendezvous); return torchrun's exit code."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", module, *argv]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    print("launching: torchrun", " ".join(cmd[3:]), file=sys.stderr, flush=True)
    return subprocess.call(cmd, env=env)
