"""GPU checks of the transformer agents, one JSON file per stage (run by ``benchmarks/gpu/run.sh``).

Stages, in order; each writes ``OUT/<stage>.json`` as it goes (``"complete": false`` until it ends), so a
run that is killed keeps what finished:

1. ``preflight``: versions (python, torch, CUDA, transformers, the bundled packages), the GPU, the MiniLM
   directory in use and the dtype its weights load in (must be float32: bf16 is autocast only).
2. ``throughput``: MiniLM-L6 (full fine-tuning, bf16 autocast), TextCls-v0, one batch size ``--batch`` for
   both: supervised examples/s beside PPO env steps/s (rollout + update, ``update_epochs=2``, one
   minibatch: every gradient step sees the same batch as a supervised step), peak GPU memory, and the
   ratio PPO / supervised (target >= 0.4). ``compile``, the last stage, measures the same with
   ``torch.compile`` (last, so that a slow compilation costs only itself; skipped by ``--smoke``).
3. ``finetune``: full fine-tuning of MiniLM on TextCls-Banking77-v0 and NerTag-BTC-v0 (real data under
   ``$NLP_ENVS_DATA_DIR``), supervised and PPO (``backbone_lr`` for the encoder, ``lr`` for the heads,
   warmup then linear decay; the family recipe of nlp_envs/agents/hyperparams/transformer.yml on top), test metrics
   beside the CPU grid's (benchmarks/results/grid/summary.json).
4. ``families``: every task family trains a few hundred steps and is evaluated on its test split, with a
   NaN check (the encoder families on MiniLM, generation on the tiny GPT-2: MiniLM is no decoder).

Every run is sized to the wall clock (``--budget-s`` for the whole script, dealt to the stages by
:data:`SHARES`, time left over passing on): a run first takes one update, then one more (timed), then
resumes up to the budget that this rate fits into its share (never more than its target). A run that fails
is recorded with its error and the next one starts.

    python benchmarks/gpu/checks.py --out /tmp/gpu-out                 # CUDA, about 7.5 minutes
    python benchmarks/gpu/checks.py --device cpu --smoke --out /tmp/o   # every code path, tiny budgets
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("preflight", "throughput", "finetune", "families", "compile")
#: Share of the wall-clock budget per stage (of what is left when the stage starts).
SHARES = {"preflight": 0.0, "throughput": 0.16, "finetune": 0.46, "families": 0.2, "compile": 0.18}
#: Packages the bundle brings (benchmarks/gpu/bundle.sh) and those the GPU machine already has.
BUNDLED = ("gymnasium", "farama-notifications", "datasets", "dill", "multiprocess", "seqeval")
PRESENT = ("torch", "transformers", "tokenizers", "safetensors", "numpy", "pandas", "pyarrow", "fsspec",
           "huggingface-hub", "xxhash", "cloudpickle", "pyyaml", "tqdm", "tensorboard")
#: Full fine-tuning recipe of MiniLM (both algorithms): encoder and heads at their own rates, warmup.
FINETUNE = {"backbone_lr": 5e-5, "lr": 1e-3, "warmup_frac": 0.1, "lr_decay": "linear"}
#: env id -> (algorithm, backbone on CUDA) of the families stage
FAMILIES = {
    "TextCls-v0": ("ppo", "minilm"),
    "NerTag-v1": ("ppo", "minilm"),
    "DialogSelect-v0": ("grpo", "minilm"),
    "DialogReply-v1": ("ppo", "tiny"),
    "MultiLabelCls-v0": ("reinforce", "minilm"),
    "MultiChoiceQA-v0": ("supervised", "minilm"),
}


class Clock:
    """The script's deadline and each stage's share of what is left."""

    def __init__(self, budget_s: float) -> None:
        self.start = time.monotonic()
        self.deadline = self.start + budget_s

    def left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def stage_deadline(self, stage: str, todo: list[str]) -> float:
        total = sum(SHARES[s] for s in todo) or 1.0
        return time.monotonic() + self.left() * SHARES[stage] / total


class StageFile:
    """``OUT/<stage>.json``, rewritten atomically after every run of the stage."""

    def __init__(self, out: Path, stage: str, common: dict[str, Any]) -> None:
        self.path = out / f"{stage}.json"
        self.data: dict[str, Any] = {"stage": stage, "complete": False, **common}
        self.t0 = time.perf_counter()
        self.save()

    def save(self, complete: bool = False) -> None:
        self.data["complete"] = complete
        self.data["wall_s"] = round(time.perf_counter() - self.t0, 1)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str, allow_nan=True))
        tmp.replace(self.path)


def _version(name: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _error(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}".strip()[:2000]


def _has_nan(result: dict[str, Any]) -> bool:
    return any(isinstance(v, float) and math.isnan(v) for v in result.values())


class Checks:
    def __init__(self, args: argparse.Namespace) -> None:
        import torch

        self.args, self.torch = args, torch
        self.cuda = args.device == "cuda"
        self.smoke = args.smoke
        self.out, self.runs = Path(args.out), Path(args.runs)
        self.clock = Clock(args.budget_s)
        self.batch = args.batch or (8 if self.smoke else 256)
        self.common = {"progress": False, "checkpoint_every": 0, "checkpoint_seconds": 0.0, "bf16": True,
                       "device": args.device, "eval_envs": 16 if self.smoke else 256}
        self.env_kwargs: dict[str, Any] = {}

    # ------------------------------------------------------------------------------------------ helpers
    def peak_gib(self) -> float | None:
        return round(self.torch.cuda.max_memory_allocated() / 2**30, 2) if self.cuda else None

    def reset_peak(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()

    def sized_run(self, env_id: str, algo: str, *, name: str, target: int, deadline: float, eval_split: str,
                  eval_reserve_s: float = 0.0, **settings: Any) -> dict[str, Any]:
        """Train ``algo`` on ``env_id`` for as much of ``target`` steps as fits before ``deadline``.

        (A) one update (CUDA start, compilation), (B) one more, timed: its rate sizes (C), resumed up to
        ``min(target, rate x seconds left - eval_reserve_s)`` and evaluated on ``eval_split``. Returns the
        steps, seconds and rate of (C), peak GPU memory during (C) and the ``eval/`` metrics."""
        from nlp_envs.agents.train import train

        out = str(self.runs / name)
        env_kwargs = {**self.env_kwargs, **settings.pop("env_kwargs", {})} or None
        t0 = time.perf_counter()
        a = train(env_id, algo, total_steps=1, out=out, eval_split="", env_kwargs=env_kwargs,
                  **{**self.common, **settings})
        b = train(env_id, algo, resume=out, total_steps=a["step"] + 1, eval_split="")
        rate_b = (b["step"] - a["step"]) / max(b["train_seconds"], 1e-6)
        per_update = max(b["step"] - a["step"], 1)
        seconds = max(0.0, deadline - time.monotonic() - eval_reserve_s)
        total = min(target, b["step"] + int(rate_b * seconds))
        total = max(total, b["step"] + per_update)  # at least one measured update
        self.reset_peak()
        c = train(env_id, algo, resume=out, total_steps=total, eval_split=eval_split)
        steps_c = c["step"] - b["step"]
        r: dict[str, Any] = {
            "env_id": env_id, "algo": algo, "backbone": settings.get("backbone", "tiny"), "target_steps": target,
            "steps": c["step"], "warmup_calls_s": round(a["train_seconds"] + b["train_seconds"], 2),
            "measured_steps": steps_c, "measured_s": round(c["train_seconds"], 2),
            "steps_per_s": round(steps_c / max(c["train_seconds"], 1e-6), 1),
            "peak_memory_GiB": self.peak_gib(), "wall_s": round(time.perf_counter() - t0, 1),
            "settings": {k: v for k, v in settings.items() if k != "backbone"},
            **{k: v for k, v in c.items() if k.startswith("eval/") and isinstance(v, (int, float, str))},
        }
        if c.get("charts/episode_return") is not None:
            r["last_episode_return"] = c["charts/episode_return"]
        r["nan"] = _has_nan(r)
        return r

    # ------------------------------------------------------------------------------------------ stages
    def preflight(self, f: StageFile) -> None:
        torch = self.torch
        d = f.data
        d["python"] = platform.python_version()
        d["versions"] = {n: _version(n) for n in (*PRESENT, *BUNDLED)}
        d["cuda_available"] = torch.cuda.is_available()
        if self.cuda:
            d["gpu"] = torch.cuda.get_device_name()
            d["capability"] = list(torch.cuda.get_device_capability())
            d["bf16_supported"] = torch.cuda.is_bf16_supported()
            d["torch_cuda"] = torch.version.cuda
        d["imports"] = {}
        for mod in ("gymnasium", "datasets", "nlp_envs", "nlp_envs.agents.train", "seqeval.metrics"):
            try:
                __import__(mod)
                d["imports"][mod] = "ok"
            except Exception as e:  # noqa: BLE001 - reported, not fatal
                d["imports"][mod] = _error(e)
        from nlp_envs.agents.policy import build_backbone
        from nlp_envs.tokenization import minilm_dir

        d["minilm_dir"] = str(minilm_dir())
        enc, hidden = build_backbone("minilm", 30522, 128)
        d["minilm_param_dtype"] = str(next(enc.parameters()).dtype).replace("torch.", "")
        enc.to(self.args.device)
        ids = torch.randint(1000, 2000, (4, 16), device=self.args.device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.cuda):
            h = enc(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        d["minilm_forward"] = {"dtype": str(h.dtype).replace("torch.", ""), "finite": bool(torch.isfinite(h).all())}
        data = os.environ.get("NLP_ENVS_DATA_DIR", "")
        d["data_dir"] = data
        d["data_files"] = sorted(str(p.relative_to(data)) for p in Path(data).rglob("*") if p.is_file()) if data else []
        if d["minilm_param_dtype"] != "float32":
            raise RuntimeError(f"MiniLM loads as {d['minilm_param_dtype']}: its config.json must say dtype float32")

    def compile(self, f: StageFile, deadline: float) -> None:
        """:meth:`throughput` with ``torch.compile`` (last: a slow compilation costs only this stage)."""
        if self.smoke:  # a CPU compilation takes minutes: not rehearsed
            f.data.update({"runs": {}, "skipped": "smoke"})
            return
        self.throughput(f, deadline, compile_=True)

    def throughput(self, f: StageFile, deadline: float, compile_: bool = False) -> None:
        B = self.batch
        f.data.update({"env_id": "TextCls-v0", "backbone": "minilm", "batch": B, "compile": compile_, "runs": {}})
        target = 64 if self.smoke else 10**7
        for algo in ("supervised", "ppo"):
            key = f"{algo}{'-compile' if compile_ else ''}"
            runs_left = 2 - len(f.data["runs"])
            run_deadline = time.monotonic() + max(0.0, deadline - time.monotonic()) / max(runs_left, 1)
            if time.monotonic() >= deadline and not self.smoke:  # a smoke run proves every code path: none is skipped
                f.data["runs"][key] = {"skipped": "out of time"}
                continue
            extra: dict[str, Any] = ({"update_epochs": 2, "num_minibatches": 1} if algo == "ppo"
                                     else {"early_stopping": False})
            try:
                f.data["runs"][key] = self.sized_run(
                    "TextCls-v0", algo, name=f"throughput-{key}", target=target, deadline=run_deadline,
                    eval_split="", backbone="minilm", num_envs=B, lr=5e-5, compile=compile_, **extra)
            except Exception as e:  # noqa: BLE001 - recorded; the next run starts
                f.data["runs"][key] = {"error": _error(e), "traceback": traceback.format_exc()[-3000:]}
            f.save()
        sfx = "-compile" if compile_ else ""
        sup, ppo = f.data["runs"].get("supervised" + sfx, {}), f.data["runs"].get("ppo" + sfx, {})
        if sup.get("steps_per_s") and ppo.get("steps_per_s"):
            f.data["ppo_vs_supervised"] = round(ppo["steps_per_s"] / sup["steps_per_s"], 3)
        f.data["target_ratio"] = 0.4

    def finetune(self, f: StageFile, deadline: float) -> None:
        data = os.environ.get("NLP_ENVS_DATA_DIR", "")
        cells = [("TextCls-Banking77-v0", "banking77"), ("NerTag-BTC-v0", "broad_twitter_corpus")]
        f.data.update({"backbone": "minilm (full fine-tuning)", "recipe": FINETUNE, "runs": {}, "cpu_grid": {},
                       # smoke: no test evaluation (MiniLM scores ~45 examples/s on one CPU thread)
                       "eval_split": "" if self.smoke else "test"})
        targets = {("TextCls-Banking77-v0", "supervised"): 40000, ("TextCls-Banking77-v0", "ppo"): 131072,
                   ("NerTag-BTC-v0", "supervised"): 40000, ("NerTag-BTC-v0", "ppo"): 393216}
        grid = _cpu_grid()
        todo = [(env, algo) for env, folder in cells for algo in ("supervised", "ppo")
                if data and (Path(data) / folder).is_dir()]
        for env, folder in cells:
            f.data["cpu_grid"][env] = grid.get(env)
            if not data or not (Path(data) / folder).is_dir():
                f.data["runs"][env] = {"skipped": f"no {folder}/ under NLP_ENVS_DATA_DIR={data!r}"}
        for i, (env, algo) in enumerate(todo):
            key = f"{env}/{algo}"
            if time.monotonic() >= deadline and not self.smoke:  # a smoke run proves every code path: none is skipped
                f.data["runs"][key] = {"skipped": "out of time"}
                continue
            run_deadline = time.monotonic() + (deadline - time.monotonic()) / (len(todo) - i)
            extra: dict[str, Any] = {"early_stopping": False} if algo == "supervised" else {"update_epochs": 2}
            num_envs = 8 if self.smoke else (32 if algo == "supervised" else 64)
            try:
                f.data["runs"][key] = self.sized_run(
                    env, algo, name=f"finetune-{env}-{algo}", target=48 if self.smoke else targets[env, algo],
                    deadline=run_deadline, eval_split="" if self.smoke else "test", eval_reserve_s=15.0,
                    backbone="minilm", num_envs=num_envs, **FINETUNE, **extra)
            except Exception as e:  # noqa: BLE001
                f.data["runs"][key] = {"error": _error(e), "traceback": traceback.format_exc()[-3000:]}
            f.save()

    def families(self, f: StageFile, deadline: float) -> None:
        from nlp_envs.agents.policy import warm_starts

        f.data["runs"] = {}
        items = [(env, FAMILIES[env]) for env in self.args.families.split(",") if env]
        for i, (env, (algo, backbone)) in enumerate(items):
            if time.monotonic() >= deadline and not self.smoke:  # a smoke run proves every code path: none is skipped
                f.data["runs"][env] = {"skipped": "out of time"}
                continue
            run_deadline = time.monotonic() + (deadline - time.monotonic()) / (len(items) - i)
            backbone = "tiny" if self.smoke else backbone
            extra: dict[str, Any] = {}
            if warm_starts(env):  # generation: RL after a supervised warm start
                extra["warm_start_examples"] = 16 if self.smoke else 512
            if algo == "supervised":
                extra["early_stopping"] = False
            try:
                f.data["runs"][env] = self.sized_run(
                    env, algo, name=f"family-{env}", target=48 if self.smoke else 4096, deadline=run_deadline,
                    eval_split="test", eval_reserve_s=1.0 if self.smoke else 5.0, backbone=backbone,
                    num_envs=8 if self.smoke else 64, **extra)
            except Exception as e:  # noqa: BLE001
                f.data["runs"][env] = {"error": _error(e), "traceback": traceback.format_exc()[-3000:]}
            f.save()
        runs = f.data["runs"].values()
        f.data["all_trained"] = all("error" not in r and "skipped" not in r and not r.get("nan") for r in runs)


def _cpu_grid() -> dict[str, Any]:
    """Main test metric of every agent of the CPU learning grid, per env (the table to compare with)."""
    path = ROOT / "benchmarks" / "results" / "grid" / "summary.json"
    if not path.exists():
        return {}
    s = json.loads(path.read_text())
    out: dict[str, Any] = {"_source": f"benchmarks/results/grid/summary.json (git {s.get('git_sha')})"}
    for env, e in s.get("envs", {}).items():
        metric = e.get("main_metric")
        out[env] = {"metric": metric, "agents": {
            k: {"label": a.get("label"), "mean": (a.get("metrics", {}).get(metric) or {}).get("mean"),
                "n": len(a.get("seeds") or []), "budget": a.get("budget"), "stale": a.get("stale")}
            for k, a in e.get("agents", {}).items()}}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.environ.get("OUT") or "gpu-checks", help="folder of the stage JSON files")
    p.add_argument("--runs", default="/tmp/nlp-envs-gpu-runs", help="run folders (removed first)")
    p.add_argument("--device", default="cuda", help="cuda; cpu for a rehearsal (with --smoke)")
    p.add_argument("--smoke", action="store_true", help="tiny budgets and data: every code path in a minute or two")
    p.add_argument("--budget-s", type=float, default=None, help="wall clock of the whole script (default 450; smoke 150)")
    p.add_argument("--batch", type=int, default=0, help="throughput batch (default 256; smoke 8)")
    p.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    p.add_argument("--families", default=",".join(FAMILIES), help="env ids of the families stage (comma-separated)")
    args = p.parse_args(argv)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(stages) - set(STAGES)) + sorted(set(args.families.split(",")) - set(FAMILIES) - {""})
    if unknown:
        p.error(f"unknown {unknown}: --stages takes {','.join(STAGES)}; --families takes {','.join(FAMILIES)}")
    if args.budget_s is None:
        args.budget_s = 150.0 if args.smoke else 450.0
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device (torch.cuda.is_available() is False): use --device cpu --smoke")
    sys.path.insert(0, str(ROOT))
    checks = Checks(args)
    checks.out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(checks.runs, ignore_errors=True)
    common = {"device": args.device, "smoke": args.smoke, "torch": torch.__version__,
              "git_sha": os.environ.get("NLP_ENVS_GIT_SHA", ""), "budget_s": args.budget_s}
    failed = []
    for i, stage in enumerate(stages):
        f = StageFile(checks.out, stage, common)
        try:
            if stage == "preflight":
                checks.preflight(f)
            else:
                getattr(checks, stage)(f, checks.clock.stage_deadline(stage, stages[i:]))
            f.save(complete=True)
        except Exception as e:  # noqa: BLE001 - the next stage still runs
            f.data["error"], f.data["traceback"] = _error(e), traceback.format_exc()[-3000:]
            f.save()
            failed.append(stage)
            if stage == "preflight":
                print(f.data["traceback"], file=sys.stderr)
                break
        print(f"{stage}: {'failed' if stage in failed else 'done'} in {f.data['wall_s']} s -> {f.path}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
