"""The benchmark suite in one command: env throughput and the learning-results grid.

```
nlp-envs bench                       # both parts, full size (the learning grid: hours on 2 cores, grid.yml)
nlp-envs bench learn                 # the learning grid only (resumes: finished cells are not rerun)
nlp-envs bench learn --jobs 2        # ... in 2 single-thread worker processes (faster on 2 cores)
nlp-envs bench throughput            # env throughput + NLPGym peers (peers: its own venv, PEERS.md)
nlp-envs bench tables                # regenerate tables and plots from the cell files, run nothing
nlp-envs bench sweep --jobs 2        # the hyperparameter sweep behind the recipes (sweep.yml -> results/sweep)
nlp-envs bench --quick               # CI smoke slice (one seed, tiny budgets, no peers), a few minutes
python benchmarks/bench.py ...       # the same without the console script
make bench / make bench-quick
```

**Learning grid** (``benchmarks/grid.yml``): every cell ``(env id, agent, seed)`` trains (or fits) the
agent, evaluates it on the test split with :func:`nlp_envs.evaluate`, and writes
``OUT/cells/<env>__<agent>__s<seed>.json`` atomically: the test metrics, env steps, examples, wall-clock
(training + evaluation), peak resident memory of the process during the cell (``VmHWM`` after resetting it
through ``/proc/self/clear_refs``; peak CUDA memory too on a GPU), and the training curve (episode return
against env steps, at most 200 points). A rerun skips every cell whose file exists with the same spec hash;
a transformer cell that was stopped mid-run continues from its last checkpoint (``--resume``). Failed
cells are recorded with their error and retried on the next run.

From the cell files: ``OUT/summary.json`` (per env and agent: mean, std and values over seeds of every
scalar metric), ``OUT/tables.md`` (one table per env: main metric ``mean ± std``, budget, test examples,
wall-clock, peak memory, published reference where one exists, git SHA, machine) and
``OUT/curves/<env>.png`` (training return against env steps, one line per agent, shaded ± std over seeds,
with the references' test metric as dashed lines). ``benchmarks/readme_tables.py`` renders the README's
"Results" section from ``summary.json``.

**Settings from the command line**: ``--set KEY=VALUE`` (a config field of the transformer agents of the cells
run, as in ``nlp-envs train``) and ``--env-kwarg KEY=VALUE`` (an env kwarg of every cell) are merged into the
cells' specs before hashing, exactly as if written in the YAML (:func:`apply_cli_settings`), so they need
``--out`` (a folder of their own: the grid's cell files are never replaced by variants). ``--set`` on an SB3
cell, ``--set seed=``/``total_steps=`` and ``--env-kwarg split=``/``order=`` are errors saying why.

**Sample efficiency**: a top-level ``curve_points: N`` in the grid YAML (or a block's own, for its cells) puts
``curve_points: N`` into the ``set`` of every transformer cell (unless the agent's own ``set`` has it; part of the spec hash, so changing
it reruns those cells): the run evaluates its greedy policy on the test split at N evenly spaced points of
its budget and at the end (``RUN_DIR/eval_curve.json``). The cell file keeps it as ``test_curve`` =
``[[examples seen, training seconds (evaluations excluded), test main metric], ...]``; for an RL agent an
example is an episode (a sentence for NER). Per RL transformer agent the summary gives ``to_095_sup``: where
its test curve first reaches 0.95x the mean test metric of the env's supervised reference (the supervised
agent on the same backbone, else the best one), per seed, averaged over the seeds that reached it; the
tables show it as "examples / time to 0.95x sup.", and ``OUT/curves/<env>-efficiency.png`` plots the test
metric of every transformer agent against examples seen and against training seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_CONFIG = HERE / "grid.yml"
DEFAULT_OUT = HERE / "results" / "grid"
SWEEP_CONFIG = HERE / "sweep.yml"
SWEEP_OUT = HERE / "results" / "sweep"
QUICK_OUT = Path("runs/bench-quick/results")

KINDS = ("baseline", "sb3", "transformer")


def _family(env_id: str) -> Any:
    import nlp_envs  # noqa: F401  (registers the ids)
    from nlp_envs.family import family_of_env

    return family_of_env(env_id)


def main_metric(env_id: str) -> str:
    """The main test metric of ``env_id``: its family contract's (``Family.main_metric``; higher is better
    for every family so far, ``Family.higher_is_better``)."""
    return _family(env_id).main_metric


def second_metric(env_id: str) -> str:
    """The second metric the tables show (``Family.second_metric``; "" for none)."""
    return _family(env_id).second_metric


# ----------------------------------------------------------------------------------------------
# config
# ----------------------------------------------------------------------------------------------
def load_config(path: Path) -> dict[str, Any]:
    """Read and check the grid YAML (unknown agents, kinds or budgets fail here, before any run)."""
    cfg = yaml.safe_load(Path(path).read_text())
    agents = cfg.get("agents") or {}
    for name, a in agents.items():
        if a.get("kind") not in KINDS:
            raise ValueError(f"{path}: agent {name!r} has kind {a.get('kind')!r}; expected one of {KINDS}")
        if a["kind"] != "baseline" and "algo" not in a:
            raise ValueError(f"{path}: agent {name!r} needs an `algo`")
    for section in ("blocks", "quick"):
        for b in cfg.get(section) or []:
            for key in ("name", "envs", "agents", "seeds"):
                if key not in b:
                    raise ValueError(f"{path}: {section} block {b.get('name', b)!r} lacks {key!r}")
            ws = b.get("warm_start_from")
            if ws is not None and (ws not in agents or agents[ws].get("algo") != "supervised"):
                raise ValueError(f"{path}: block {b['name']!r} has warm_start_from: {ws!r}; give the name of a "
                                 "supervised agent of `agents:` (its cell of the same env and seed is the warm start)")
            for a in b["agents"]:
                if a not in agents:
                    raise ValueError(f"{path}: block {b['name']!r} uses agent {a!r}, not defined under `agents:`")
                kind = agents[a]["kind"]
                need = "supervised" if agents[a].get("algo") == "supervised" else kind
                if kind != "baseline" and need not in (b.get("steps") or {}):
                    raise ValueError(f"{path}: block {b['name']!r} runs {a!r} but has no steps.{need} budget")
    return cfg


def cells_of(cfg: dict[str, Any], quick: bool, strict: bool = True) -> list[dict[str, Any]]:
    """Every cell of the grid (or of the quick slice), in YAML order. A generation RL cell whose warm start
    pairing fails (:func:`pair_warm_start`) raises; with ``strict`` False it carries the reason as
    ``spec["unpaired"]`` instead, for callers that run only some cells (a sweep's older blocks were paired
    with the recipes of their day) or only read the cell files."""
    cells = []
    for b in cfg["quick" if quick else "blocks"]:
        for env_id in b["envs"]:
            for agent in b["agents"]:
                a = cfg["agents"][agent]
                for seed in b["seeds"]:
                    budget = None
                    if a["kind"] != "baseline":
                        budget = int(b["steps"]["supervised" if a.get("algo") == "supervised" else a["kind"]])
                    agent_set = dict(a.get("set") or {})
                    points = b.get("curve_points", cfg.get("curve_points"))  # a block's own, else the grid's
                    if a["kind"] == "transformer" and points:  # the sample-efficiency curve
                        agent_set.setdefault("curve_points", int(points))
                    spec = {"env_id": env_id, "agent": agent, "seed": int(seed), "block": b["name"],
                            "kind": a["kind"], "algo": a.get("algo", agent), "backbone": a.get("backbone"),
                            "set": agent_set, "budget": budget, "env_kwargs": b.get("env_kwargs") or {},
                            "recipe": bool(a.get("recipe", True))}
                    spec["hash"] = hashlib.sha1(json.dumps(
                        {**{k: spec[k] for k in ("env_id", "agent", "seed", "kind", "algo", "backbone", "set", "budget")},
                         **({"env_kwargs": spec["env_kwargs"]} if spec["env_kwargs"] else {}),
                         "settings": agent_settings(spec)}, sort_keys=True, default=str).encode()).hexdigest()[:12]
                    if b.get("warm_start_from") and a["kind"] == "transformer" and a.get("algo") != "supervised":
                        spec["warm_start_cell"] = cell_name({"env_id": env_id, "agent": b["warm_start_from"], "seed": seed})
                    cells.append(spec)
    by_name = {cell_name(c): c for c in cells}
    for c in cells:
        if "warm_start_cell" in c:
            try:
                pair_warm_start(c, by_name)
            except ValueError as e:
                if strict:
                    raise
                c["unpaired"] = str(e)
    seen: dict[str, str] = {}
    for c in cells:  # one file per cell name: two blocks must not share (env, agent, seed)
        name = cell_name(c)
        if name in seen and seen[name] != c["block"]:
            raise ValueError(f"cell {name} is in blocks {seen[name]!r} and {c['block']!r}: their results would "
                             "overwrite each other; give the agent another name in one of them")
        seen[name] = c["block"]
    return cells


def pair_warm_start(spec: dict[str, Any], by_name: dict[str, dict[str, Any]]) -> None:
    """A generation RL cell of a block with ``warm_start_from: AGENT``: its MLE warm start is the finished
    supervised cell of the same env and seed (``Config.warm_start_from``, bit-identical to training it again), so
    the grid trains each warm start once. Sets ``spec["warm_start_run"]`` (that cell's run folder name); fails here,
    before any run, when that cell is not in the grid or is not the fit the RL config's warm start would train
    (``spec["warm_start_cell"]``, its cell name, stays for the scheduler; it is dropped off generation).
    Not part of the hash: the result is the same either way (a cell run without its pair trains the warm start)."""
    from nlp_envs.agents.config import make_config
    from nlp_envs.agents.policy import warm_starts
    from nlp_envs.agents.recipes import recipe
    from nlp_envs.agents.supervised import warm_start_mismatches

    name = spec["warm_start_cell"]
    if not warm_starts(spec["env_id"]):
        del spec["warm_start_cell"]
        return
    sup = by_name.get(name)
    if sup is None or sup["env_kwargs"] != spec["env_kwargs"] or sup["backbone"] != spec["backbone"]:
        raise ValueError(f"cell {cell_name(spec)} (block {spec['block']!r}) takes its warm start from {name}, which "
                         "the grid lacks (same env, seed, env_kwargs and backbone): add it, or drop warm_start_from")

    def config(c: dict[str, Any]) -> Any:
        recipe_set = recipe(c["env_id"], c["algo"], c["backbone"])[0] if c.get("recipe", True) else {}
        return make_config(c["algo"], **{**recipe_set, **c["set"], "total_steps": c["budget"], "seed": c["seed"]})

    info = {"env_id": sup["env_id"], "env_kwargs": sup["env_kwargs"], "backbone": sup["backbone"], "algo": "supervised",
            "config": config(sup).to_dict()}
    bad = warm_start_mismatches(config(spec), info, env_id=spec["env_id"], env_kwargs=spec["env_kwargs"],
                                backbone=spec["backbone"])
    if bad:
        raise ValueError(f"cell {cell_name(spec)} takes its warm start from {name}, which is another fit (its value vs "
                         f"the warm start's): {'; '.join(bad)}. Align the supervised agent's recipe or budget")
    spec["warm_start_run"] = f"{name}-{sup['hash']}"


#: config fields that do not change what a cell learns (budget and seed are hashed on their own; a cell's
#: ``set`` is hashed as written, so an explicit ``curve_points`` still reruns it)
NOT_HASHED = ("total_steps", "seed", "progress", "device", "curve_points", "checkpoint_seconds")


#: config fields at the value that reproduces the trainer from before the field existed: left out of the hash,
#: so that adding a knob does not rerun a grid (any other value is hashed, and reruns the cells it changes)
NEUTRAL: dict[str, Any] = {"backbone_lr": None, "warm_start_lr": None, "warmup_frac": 0.0, "lr_decay": "constant", "freeze_backbone": False,
                          "warm_start_patience": 3, "warm_start_from": "", "cpu_bf16": False, "val_stride": 1,
                          "warm_start_val_stride": 1, "warm_start_cpu_bf16": None,
                          "warm_start_eval_every": 2000}
_MISSING = object()


def agent_settings(spec: dict[str, Any]) -> dict[str, Any]:
    """The resolved hyperparameters of a cell (part of its hash: editing nlp_envs/agents/hyperparams/sb3.yml or a
    config default reruns the affected cells, and only them)."""
    if spec["kind"] == "sb3":
        from nlp_envs.agents.sb3 import load_hyperparams

        return load_hyperparams(spec["env_id"], spec["algo"])
    if spec["kind"] == "transformer":
        from nlp_envs.agents.config import make_config
        from nlp_envs.agents.policy import warm_starts
        from nlp_envs.agents.recipes import recipe

        recipe_set, recipe_env = recipe(spec["env_id"], spec["algo"], spec["backbone"]) if spec.get("recipe", True) else ({}, {})
        cfg = make_config(spec["algo"], **{**recipe_set, **spec["set"]}).to_dict()
        out = {k: v for k, v in cfg.items() if k not in NOT_HASHED and NEUTRAL.get(k, _MISSING) != v}
        if warm_starts(spec["env_id"]) and spec["algo"] != "supervised":
            out["warm_start_rule"] = "early-stopped on validation f1"  # nlp_envs/agents/supervised.py fit, since the sweep
        return {**out, "recipe_env_kwargs": recipe_env} if recipe_env else out
    return {}


def cell_name(spec: dict[str, Any]) -> str:
    return f"{spec['env_id']}__{spec['agent']}__s{spec['seed']}"


# ----------------------------------------------------------------------------------------------
# memory
# ----------------------------------------------------------------------------------------------
def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (``VmHWM``); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------------------------
# curves
# ----------------------------------------------------------------------------------------------
def _thin(steps: list[float], values: list[float], n: int = 200) -> list[list[float]]:
    if len(steps) > n:
        idx = sorted({round(i * (len(steps) - 1) / (n - 1)) for i in range(n)})
        steps, values = [steps[i] for i in idx], [values[i] for i in idx]
    return [[float(s), float(v)] for s, v in zip(steps, values)]


def transformer_curve(run_dir: Path) -> list[list[float]]:
    """``charts/episode_return`` against ``step`` from the run's ``metrics.csv``."""
    path = run_dir / "metrics.csv"
    if not path.exists():
        return []
    steps, values = [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            v = row.get("charts/episode_return")
            if v not in (None, ""):
                steps.append(float(row["step"]))
                values.append(float(v))
    return _thin(steps, values)


def sb3_curve(run_dir: Path) -> list[list[float]]:
    """SB3's ``rollout/ep_rew_mean`` (mean return of the last 100 episodes) from its TensorBoard events."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = sorted((run_dir / "tb").rglob("events.out.tfevents.*"))
    if not files:
        return []
    acc = EventAccumulator(str(files[-1].parent), size_guidance={"scalars": 0})
    acc.Reload()
    if "rollout/ep_rew_mean" not in acc.Tags().get("scalars", []):
        return []
    events = acc.Scalars("rollout/ep_rew_mean")
    return _thin([e.step for e in events], [e.value for e in events])


# ----------------------------------------------------------------------------------------------
# one cell
# ----------------------------------------------------------------------------------------------
def run_cell(spec: dict[str, Any], runs_dir: Path) -> dict[str, Any]:
    """Train/fit the cell's agent, evaluate on test; the cell record (without the status fields)."""
    import nlp_envs

    env_id, seed, kind = spec["env_id"], spec["seed"], spec["kind"]
    env_kwargs = dict(spec.get("env_kwargs") or {})  # e.g. {num_shards: 5}: train and test on one fifth
    run_dir = runs_dir / f"{cell_name(spec)}-{spec['hash']}"  # a changed spec never resumes an old run
    out: dict[str, Any] = {"env_steps": 0, "examples": 0, "curve": []}
    if kind == "baseline":
        from nlp_envs.agents.baselines import make_baseline

        policy = make_baseline(spec["agent"], env_id, seed=seed, **env_kwargs)
        out["metrics"] = nlp_envs.evaluate(env_id, policy, split="test", seed=seed, **env_kwargs)
    elif kind == "sb3":
        from nlp_envs.agents import sb3

        res = sb3.train(env_id, spec["algo"], total_steps=spec["budget"], seed=seed, out=run_dir,
                        env_kwargs=env_kwargs or None, overwrite=True)  # an unfinished cell starts again
        out.update(metrics=res["metrics"], env_steps=int(res["total_steps"]), curve=sb3_curve(run_dir),
                   train_seconds=res["train_seconds"], hyperparams=res["hyperparams"])
    else:
        from nlp_envs.agents.runfolder import has_checkpoint
        from nlp_envs.agents.runfolder import CheckpointError
        from nlp_envs.agents.train import train

        overrides = {"progress": False, **spec["set"]}
        if spec.get("warm_start_run") and (runs_dir / spec["warm_start_run"] / "final_metrics.json").exists():
            overrides["warm_start_from"] = str(runs_dir / spec["warm_start_run"])  # else the run trains its own
        finished = run_dir / "final_metrics.json"
        res = None
        if finished.exists():  # trained and evaluated before a stop between the run and the cell file
            res = json.loads(finished.read_text())
        elif has_checkpoint(run_dir):
            try:
                res = train(env_id, spec["algo"], resume=str(run_dir), total_steps=spec["budget"], **overrides)
            except CheckpointError as e:  # damaged, or pickled by an older version: the cell starts again
                print(f"{run_dir}: {e}\nretraining the cell from scratch", file=sys.stderr, flush=True)
        if res is None:
            res = train(env_id, spec["algo"], backbone=spec["backbone"], total_steps=spec["budget"], seed=seed,
                        out=str(run_dir), env_kwargs=env_kwargs or None, use_recipe=spec.get("recipe", True),
                        overwrite=True, **overrides)  # a cell killed before its first checkpoint starts again
        steps = int(res["step"])
        if spec["algo"] == "supervised":
            out["examples"] = steps
        else:
            out["env_steps"] = steps
        out.update(metrics=res["eval"], curve=transformer_curve(run_dir), train_seconds=res.get("train_seconds"))
        curve_file = run_dir / "eval_curve.json"
        if curve_file.exists():  # [[examples, training seconds, test main metric], ...]
            m = main_metric(env_id)
            out["test_curve"] = [[p["examples"], p["train_seconds"], p["metrics"].get(m)]
                                 for p in json.loads(curve_file.read_text())]
        for key in ("best_examples", "best_epoch", "stopped_early"):
            if key in res:
                out[key] = res[key]
    return out


def execute(spec: dict[str, Any], cells_dir: Path, runs_dir: Path) -> dict[str, Any]:
    """Run one cell and write its file atomically (errors are recorded, not raised)."""
    import torch

    from nlp_envs.jsonable import json_default

    reset_ok = reset_peak_rss()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    record: dict[str, Any] = {**spec}
    try:
        record.update(run_cell(spec, runs_dir))
        record["status"] = "ok"
    except Exception as e:  # noqa: BLE001 - a failed cell is a result to report, not a crash of the grid
        record.update(status="error", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc(limit=8))
    record["wall_seconds"] = round(time.perf_counter() - t0, 4)  # 4 places: a baseline cell can take < 5 ms
    record["peak_rss_mb"] = round(peak_rss_mb(), 1)
    record["peak_rss_is_cell_only"] = reset_ok
    if torch.cuda.is_available():
        record["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    record["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    record["git_sha"] = git_sha()
    record["machine"] = machine()  # cells of one grid may run on different machines (a GPU one, say)
    path = cells_dir / f"{cell_name(spec)}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1, default=json_default))
    os.replace(tmp, path)
    return record


def git_sha() -> str:
    """The checkout's short commit; ``NLP_ENVS_GIT_SHA`` where the copy has no ``.git`` (a device machine)."""
    if os.environ.get("NLP_ENVS_GIT_SHA"):
        return os.environ["NLP_ENVS_GIT_SHA"]
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "python": platform.python_version(), "torch": torch.__version__}


def apply_cli_settings(cfg: dict[str, Any], set_items: list[str], env_kwarg_items: list[str], quick: bool,
                       only: str | None) -> dict[str, Any]:
    """A copy of the grid config with ``--set KEY=VALUE`` merged into the ``set`` of every transformer
    agent of the selected cells (``--only``) and ``--env-kwarg KEY=VALUE`` into every block's
    ``env_kwargs``: both are part of the cells' spec hash, as if written in the YAML, so such a cell is
    another cell (its own run folder; stale against the unchanged grid). Refused, with the reason:
    ``--set`` on selected SB3 cells (their hyperparameters: ``nlp_envs/agents/hyperparams/sb3.yml``), ``--set
    seed=`` / ``total_steps=`` (each cell's seed and budget come from the grid), ``--env-kwarg split=`` /
    ``order=`` (cells train on train and are tested on test). Baseline cells have no config: ``--set``
    leaves them as they are."""
    import copy

    from nlp_envs.agents.config import parse_set
    from nlp_envs.kv import parse_kv

    if not set_items and not env_kwarg_items:
        return cfg
    cfg = copy.deepcopy(cfg)
    patterns = [p for p in (only or "").split(",") if p]
    selected = [c for c in cells_of(cfg, quick, strict=False) if not patterns or any(p in cell_name(c) for p in patterns)]
    if set_items:
        for name in sorted({c["agent"] for c in selected}):
            a = cfg["agents"][name]
            if a["kind"] == "baseline":
                continue
            if a["kind"] != "transformer":
                raise ValueError(
                    f"--set applies to transformer agents; the selected cells include {name!r} ({a['kind']}), whose "
                    "hyperparameters live in nlp_envs/agents/hyperparams/sb3.yml. Narrow the cells with --only"
                )
            try:
                parsed = parse_set(a["algo"], set_items)
            except ValueError as e:
                raise ValueError(f"agent {name!r}: {e}. Narrow the cells with --only") from None
            fixed = sorted(set(parsed) & {"seed", "total_steps"})
            if fixed:
                raise ValueError(
                    f"--set {', '.join(fixed)}: each cell's seed and budget come from the grid (`seeds:`, `steps:`); "
                    "edit a copy of the YAML and pass it with --config"
                )
            a["set"] = {**(a.get("set") or {}), **parsed}
    if env_kwarg_items:
        kw = parse_kv(env_kwarg_items, "--env-kwarg")
        fixed = sorted(set(kw) & {"split", "order"})
        if fixed:
            raise ValueError(f"--env-kwarg {', '.join(fixed)}: a cell trains on the train split and is tested on test")
        for section in ("blocks", "quick"):
            for b in cfg.get(section) or []:
                b["env_kwargs"] = {**(b.get("env_kwargs") or {}), **kw}
    return cfg


def run_grid(cfg: dict[str, Any], out: Path, runs_dir: Path, quick: bool, only: str | None,
             retry_errors: bool = True, jobs: int = 1, config: Path = DEFAULT_CONFIG,
             extra_args: list[str] | None = None, claims: Path | None = None) -> list[dict[str, Any]]:
    """Run the cells still to do and return the grid's cells. Order (:func:`schedule`): longest first by the
    wall-clock of their last run, a warm start before the cells that reuse it. With ``jobs`` > 1, that many
    worker processes (each with ``cores // jobs`` torch threads) share the list: each takes the next cell no
    other has claimed (``claims``: a folder of claim files) and whose warm start is done, so a long cell never
    holds up the others."""
    cells_dir = out / "cells"
    cells_dir.mkdir(parents=True, exist_ok=True)
    patterns = [p for p in (only or "").split(",") if p]
    cells = [c for c in cells_of(cfg, quick, strict=False) if not patterns or any(p in cell_name(c) for p in patterns)]
    unpaired = [c["unpaired"] for c in cells if "unpaired" in c]
    if unpaired:  # before any run
        raise ValueError(unpaired[0] + (f" (and {len(unpaired) - 1} more cells)" if len(unpaired) > 1 else ""))
    from nlp_envs.testing import env_available

    def done(c: dict[str, Any], errors_count: bool) -> bool:
        """The cell's file holds this spec's result (an error counts as done when ``errors_count``)."""
        path = cells_dir / f"{cell_name(c)}.json"
        if not path.exists():
            return False
        old = json.loads(path.read_text())
        return old.get("hash") == c["hash"] and (old.get("status") == "ok" or errors_count)

    todo = schedule([c for c in cells if not done(c, errors_count=not retry_errors)], cells_dir)
    if claims is None:
        print(f"grid: {len(cells)} cells, {len(cells) - len(todo)} already done, {len(todo)} to run", flush=True)
    if jobs > 1 and len(todo) > 1:
        run_workers(todo, jobs, out, runs_dir, quick, config, extra_args or [])
        return cells
    todo_names = {cell_name(c): c for c in todo}

    def blocked(c: dict[str, Any]) -> bool:
        """Its warm start is a cell of this run not finished yet (it reuses that cell's run once it is)."""
        dep = todo_names.get(c.get("warm_start_cell", ""))
        return dep is not None and not done(dep, errors_count=True)

    t0 = time.perf_counter()
    pending, i = list(todo), 0
    while pending:
        c = next((c for c in pending if not blocked(c)), None)
        if c is None:  # every cell left waits for a warm start another worker is training
            time.sleep(5)
            continue
        pending.remove(c)
        if claims is not None and not _claim(claims, cell_name(c)):
            continue  # another worker runs it
        i += 1
        if not env_available(c["env_id"]):
            print(f"[{i}/{len(todo)}] {cell_name(c)}: data not available, skipped", flush=True)
            continue
        if done(c, errors_count=False):  # another bench process on the same folder finished it meanwhile
            print(f"[{i}/{len(todo)}] {cell_name(c)}: done by another process, skipped", flush=True)
            continue
        print(f"[{i}/{len(todo)}] {cell_name(c)} (budget {c['budget']}) ...", end=" ", flush=True)
        r = execute(c, cells_dir, runs_dir)
        m = main_metric(c["env_id"])
        shown = f"{m}={r['metrics'][m]:.3f}" if r["status"] == "ok" else r["error"]
        print(f"{shown}  {r['wall_seconds']:.0f}s  peak {r['peak_rss_mb']:.0f} MB  "
              f"(elapsed {time.perf_counter() - t0:.0f}s)", flush=True)
    return cells


def schedule(todo: list[dict[str, Any]], cells_dir: Path) -> list[dict[str, Any]]:
    """The cells in the order to start them: longest first (the wall-clock in their cell file from an earlier
    run, whatever its hash, in ``cells_dir``, else in the committed grid's ``benchmarks/results/grid/cells``; a
    cell never run counts as longest), so that two workers end together; then each cell that reuses a warm
    start moved just after that warm start's cell when it came before it."""
    def last_wall(c: dict[str, Any]) -> float:
        for folder in (cells_dir, DEFAULT_OUT / "cells"):
            with contextlib.suppress(OSError, ValueError):
                return float(json.loads((folder / f"{cell_name(c)}.json").read_text()).get("wall_seconds") or 0.0)
        return float("inf")

    order = sorted(todo, key=last_wall, reverse=True)
    names = [cell_name(c) for c in order]
    for c in list(order):
        dep = c.get("warm_start_cell")
        if dep in names and names.index(dep) > names.index(cell_name(c)):
            order.remove(c)
            names.remove(cell_name(c))
            k = names.index(dep) + 1
            order.insert(k, c)
            names.insert(k, cell_name(c))
    return order


def _claim(claims: Path, name: str) -> bool:
    """Claim cell ``name`` for this worker (an atomic create); False when another worker has it."""
    try:
        os.close(os.open(claims / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def run_workers(todo: list[dict[str, Any]], jobs: int, out: Path, runs_dir: Path, quick: bool, config: Path,
                extra_args: list[str] | None = None) -> None:
    """``jobs`` processes of this script (``learn --only <the cells to do>``), each with ``cores // jobs``
    torch threads, take the cells from one list through claim files in a fresh folder (removed at the end);
    their output is printed line by line with a ``[wN]`` prefix. Small models gain little from a second
    intra-op thread, so two single-thread workers finish a grid on 2 cores sooner than one process with 2
    threads."""
    import tempfile
    import threading

    jobs = min(jobs, len(todo))
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    claims = Path(tempfile.mkdtemp(dir=out, prefix=".claims-"))
    names = ",".join(cell_name(c) for c in todo)
    cmd = [sys.executable, str(Path(__file__).resolve()), "learn", "--config", str(config), "--out", str(out),
           "--runs", str(runs_dir), "--only", names, "--claims", str(claims), "--no-reports"] + \
        (["--quick"] if quick else []) + list(extra_args or [])
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=os.getcwd())
             for _ in range(jobs)]

    def relay(w: int, proc: subprocess.Popen) -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            print(f"[w{w}] {line}", end="", flush=True)

    relays = [threading.Thread(target=relay, args=(w, pr), daemon=True) for w, pr in enumerate(procs)]
    for t in relays:
        t.start()
    try:
        codes = [pr.wait() for pr in procs]
        for t in relays:
            t.join()
    finally:  # also on Ctrl-C (a killed grid leaves a .claims-* folder, ignored by git and by the next run)
        shutil.rmtree(claims, ignore_errors=True)
    if any(codes):
        print(f"grid workers exited with {codes} (failed cells are in their cell files)", flush=True)


# ----------------------------------------------------------------------------------------------
# summaries, tables, plots
# ----------------------------------------------------------------------------------------------
def summarize(cfg: dict[str, Any], out: Path, quick: bool, command: str, include_stale: bool = True) -> dict[str, Any]:
    """Aggregate the cell files of the grid's cells into ``summary.json`` (mean ± std over seeds).

    A cell file whose spec hash differs from the grid's (its settings or budget changed since it ran) is
    kept, flagged ``stale``, until it is rerun: the tables mark those rows, so that a partly rerun grid
    shows what is new and what is not."""
    cells = cells_of(cfg, quick, strict=False)  # reads cell files: an older sweep block's pairing may have drifted
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    errors = []
    for c in cells:
        path = out / "cells" / f"{cell_name(c)}.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        if r.get("hash") != c["hash"]:
            if r.get("status") == "ok" and include_stale:  # an older setting's result, shown flagged
                r["stale"] = True
                groups.setdefault((c["env_id"], c["agent"]), []).append(r)
            continue
        if r["status"] != "ok":
            errors.append({"cell": cell_name(c), "error": r.get("error")})
            continue
        groups.setdefault((c["env_id"], c["agent"]), []).append(r)
    envs: dict[str, Any] = {}
    for (env_id, agent), rs in groups.items():
        metrics: dict[str, Any] = {}
        for k in rs[0]["metrics"]:
            vals = [r["metrics"].get(k) for r in rs]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
                vals = [float(v) for v in vals]
                metrics[k] = {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                              "values": vals}
        label = cfg["agents"][agent].get("label", agent)
        e = envs.setdefault(env_id, {"main_metric": main_metric(env_id), "second_metric": second_metric(env_id),
                                     "published": (cfg.get("published") or {}).get(env_id), "agents": {}})
        e["agents"][agent] = {
            "label": label, "kind": rs[0]["kind"], "algo": rs[0].get("algo"), "backbone": rs[0].get("backbone"),
            "budget": rs[0]["budget"],
            "env_kwargs": rs[0].get("env_kwargs") or {},
            "seeds": [r["seed"] for r in rs], "metrics": metrics,
            "env_steps": statistics.fmean(r["env_steps"] for r in rs),
            "examples": statistics.fmean(r["examples"] for r in rs),
            "eval_examples": rs[0]["metrics"].get("num_examples"),
            "wall_seconds": {"mean": statistics.fmean(r["wall_seconds"] for r in rs),
                             "values": [r["wall_seconds"] for r in rs]},
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
            "peak_cuda_mb": max((r.get("peak_cuda_mb") or 0.0) for r in rs) or None,
            "git_sha": sorted({r["git_sha"] for r in rs}),
            "gpu": sorted({(r.get("machine") or {}).get("gpu") or "" for r in rs} - {""}),
            "curves": [r["curve"] for r in rs],
            "test_curves": [r["test_curve"] for r in rs if r.get("test_curve")],
            "best_epoch": (statistics.fmean(r["best_epoch"] for r in rs if r.get("best_epoch") is not None)
                           if any(r.get("best_epoch") is not None for r in rs) else None),
            "best_examples": (statistics.fmean(r["best_examples"] for r in rs if r.get("best_examples") is not None)
                              if any(r.get("best_examples") is not None for r in rs) else None),
            "stale": any(r.get("stale") for r in rs),
        }
    for e in envs.values():
        add_efficiency(e)
    current = [r for rs in groups.values() for r in rs if not r.get("stale")]
    order = {c["env_id"]: i for i, c in enumerate(cells)}
    agent_order = list(cfg["agents"])
    summary = {
        "command": command, "quick": quick, "generated_at": time.strftime("%Y-%m-%d %H:%M"),
        "git_sha": git_sha(), "machine": machine(), "num_cells": len(cells),
        "num_done": sum(len(v) for v in groups.values()), "errors": errors, "timing": grid_timing(current),
        "envs": {k: {**envs[k], "agents": dict(sorted(envs[k]["agents"].items(), key=lambda kv: agent_order.index(kv[0])))}
                 for k in sorted(envs, key=order.get)},
    }
    from nlp_envs.jsonable import json_default

    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=json_default))
    return summary


def grid_timing(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The wall-clock of the grid from its cell files: ``cell_seconds`` (the cells' own wall-clock, summed) and
    ``span_seconds`` (from the first cell's start, ``finished_at - wall_seconds``, to the last one's end): the
    grid's wall-clock when all its cells ran in one ``bench learn`` call, an upper bound otherwise."""
    ends = []
    for r in records:
        with contextlib.suppress(KeyError, TypeError, ValueError):
            ends.append((time.mktime(time.strptime(r["finished_at"], "%Y-%m-%dT%H:%M:%S")), float(r["wall_seconds"])))
    if not ends:
        return {}
    first = min(end - wall for end, wall in ends)
    last = max(end for end, _ in ends)
    return {"cell_seconds": round(sum(wall for _, wall in ends), 1), "span_seconds": round(last - first, 1),
            "first_start": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(first)),
            "last_end": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(last)), "cells": len(ends)}


def is_supervised(name: str, a: dict[str, Any]) -> bool:
    """A supervised transformer reference (its ``algo``; by name in summaries from before it was kept)."""
    if a["kind"] != "transformer":
        return False
    return a["algo"] == "supervised" if a.get("algo") else name.startswith("supervised")


def add_efficiency(e: dict[str, Any], ratio: float = 0.95) -> None:
    """Per RL transformer agent of one env: the examples and training seconds at which its test curve first
    reaches ``ratio`` x the supervised reference's mean test metric (the supervised agent with the same
    backbone, else the best one), per seed -> ``to_095_sup`` = target, mean examples and seconds over the
    seeds that reached it, ``reached`` of ``seeds``."""
    m = e["main_metric"]
    sups = {n: a for n, a in e["agents"].items() if is_supervised(n, a) and m in a["metrics"] and not a.get("stale")}
    for name, a in e["agents"].items():
        if a["kind"] != "transformer" or is_supervised(name, a) or not a.get("test_curves"):
            continue
        same = [s for s in sups.values() if s.get("backbone") == a.get("backbone")]
        pool = same or list(sups.values())
        if not pool:
            continue
        ref = max(pool, key=lambda s: s["metrics"][m]["mean"])
        target = ratio * ref["metrics"][m]["mean"]
        hits = []
        for curve in a["test_curves"]:
            hit = next(((x, t) for x, t, v in curve if v is not None and v >= target), None)
            if hit:
                hits.append(hit)
        a["to_095_sup"] = {"target": target, "reference": ref["label"], "reached": len(hits),
                           "seeds": len(a["test_curves"]),
                           "examples": statistics.fmean(h[0] for h in hits) if hits else None,
                           "seconds": statistics.fmean(h[1] for h in hits) if hits else None}


def _efficiency_cells(a: dict[str, Any]) -> tuple[str, str]:
    eff = a.get("to_095_sup")
    if not eff:
        return "-", "-"
    if not eff["reached"]:
        return "not reached", "not reached"
    part = "" if eff["reached"] == eff["seeds"] else f" ({eff['reached']}/{eff['seeds']})"
    return f"{eff['examples']:,.0f}{part}", f"{eff['seconds']:.0f}{part}"


def _fmt(m: dict[str, Any] | None) -> str:
    if not m:
        return "-"
    return f"{m['mean']:.3f} ± {m['std']:.3f}" if len(m["values"]) > 1 else f"{m['mean']:.3f}"


def budget_text(a: dict[str, Any]) -> str:
    if a["kind"] == "baseline":
        return "fitted on train" if a["label"] == "majority" else "-"
    if a["examples"]:
        return f"{int(a['examples']):,} examples"
    return f"{int(a['env_steps']):,} env steps"


def env_table(env_id: str, e: dict[str, Any]) -> str:
    m, m2 = e["main_metric"], e["second_metric"]
    head = (f"| agent | test {m} | " + (f"test {m2} | " if m2 else "") + "budget | seeds | wall-clock (s) | "
            "examples to 0.95x sup. | time to 0.95x sup. (s) | peak RSS (MB) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for a in e["agents"].values():
        label = a["label"] + (" *(stale: older settings)*" if a.get("stale") else "")
        row = f"| {label} | {_fmt(a['metrics'].get(m))} | " + (f"{_fmt(a['metrics'].get(m2))} | " if m2 else "")
        gpu = " (GPU)" if a.get("gpu") else ""
        budget = budget_text(a)
        if a.get("best_epoch") is not None:
            budget += f" trained (early-stopped; best at epoch {a['best_epoch']:.1f} = {a['best_examples']:,.0f} examples)"
        ex, sec = _efficiency_cells(a)
        row += (f"{budget} | {len(a['seeds'])} | {a['wall_seconds']['mean']:.0f}{gpu} | {ex} | {sec} | "
                f"{a['peak_rss_mb']:.0f} |")
        lines.append(row)
    if e.get("published"):
        value, source = e["published"]
        lines.append(f"| published reference ({source}) | {value:.3f} | " + ("- | " if m2 else "") + "- | - | - | - | - | - |")
    return "\n".join(lines)


def tables_md(summary: dict[str, Any]) -> str:
    mc = summary["machine"]
    parts = [
        "# Learning results" + (" (quick smoke slice)" if summary["quick"] else ""),
        "",
        f"Command: `{summary['command']}`. Git `{summary['git_sha']}`, generated {summary['generated_at']}; "
        f"machine: {mc['cpu']}, {mc['cores']} cores, torch {mc['torch']} ({mc['torch_threads']} threads)"
        + (f", GPU {mc['gpu']}" if mc.get("gpu") else ", no GPU") + ".",
        f"Cells done: {summary['num_done']} / {summary['num_cells']}; mean ± std over seeds (sample std); "
        "test metrics from `nlp_envs.evaluate` on the whole test split (greedy actions); wall-clock = training + "
        "evaluation of one cell; peak RSS = the benchmark process during the cell. \"examples / time to 0.95x sup.\": "
        "where an RL agent's test curve (`curve_points` evaluations during training) first reaches 0.95x the "
        "mean test metric of the supervised reference on the same backbone (examples = episodes seen; time = "
        "training seconds, evaluations excluded), mean over the seeds that reached it. Supervised budgets are "
        "maxima: it stops early on the validation split. Rows marked *stale* ran with older settings or "
        "budgets and await a rerun.",
        "",
    ]
    gpus = sorted({g for e in summary["envs"].values() for a in e["agents"].values() for g in a.get("gpu") or []})
    if gpus:
        parts[-1:-1] = [f"Cells marked (GPU) ran on a machine with {', '.join(gpus)} (transformer agents on the "
                        "GPU with bf16 autocast; SB3 and baselines on its CPU); the others on the machine above.", ""]
    for env_id, e in summary["envs"].items():
        n = next(iter(e["agents"].values()))["eval_examples"]
        kw = next((a["env_kwargs"] for a in e["agents"].values() if a.get("env_kwargs")), None)
        shard = f" Env kwargs `{json.dumps(kw)}` (train and test on that shard)." if kw else ""
        parts += [f"## {env_id}", "", f"Test examples: {n}.{shard} Curves: `curves/{env_id}.png`.", "",
                  env_table(env_id, e), ""]
    if summary["errors"]:
        parts += ["## Failed cells", ""] + [f"- `{x['cell']}`: {x['error']}" for x in summary["errors"]] + [""]
    return "\n".join(parts)


def _smooth(curve: Any) -> Any:
    """Moving average of a ``(n, 2)`` curve's values over ~5% of its points (per-update returns are noisy)."""
    import numpy as np

    k = max(1, len(curve) // 20)
    if k == 1:
        return curve
    kernel = np.ones(k) / k
    padded = np.concatenate([np.full(k - 1, curve[0, 1]), curve[:, 1]])
    return np.stack([curve[:, 0], np.convolve(padded, kernel, mode="valid")], 1)


def _band(ax: Any, curves: list[Any], color: str, label: str, points: int) -> None:
    """Seeds' ``(n, 2)`` curves interpolated onto their common x range: the mean line, ± std shaded."""
    import numpy as np

    grid = np.linspace(max(c[0, 0] for c in curves), min(c[-1, 0] for c in curves), points)
    ys = np.stack([np.interp(grid, c[:, 0], c[:, 1]) for c in curves])
    mean, std = ys.mean(0), ys.std(0)
    ax.plot(grid, mean, color=color, linewidth=1.8, label=label)
    if len(curves) > 1:
        ax.fill_between(grid, mean - std, mean + std, color=color, alpha=0.2)


def _pyplot_and_colours(summary: dict[str, Any], agent_names: list[str] | None) -> tuple[Any, Callable[..., str]]:
    """pyplot on the Agg backend and ``colour_of(name, default="black")``: an agent's palette colour, fixed
    by its place in ``agent_names`` (default: every agent of ``summary``, sorted), else ``default``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"] + ["#000080", "#808000", "#008080"]
    agent_names = agent_names or sorted({n for e in summary["envs"].values() for n in e["agents"]})

    def colour_of(name: str, default: str = "black") -> str:
        return palette[agent_names.index(name) % len(palette)] if name in agent_names else default

    return plt, colour_of


def plot_curves(summary: dict[str, Any], out_dir: Path, agent_names: list[str] | None = None) -> list[Path]:
    """One PNG per env: each learning agent's training return (mean ± std over seeds) against env steps;
    the references (baselines, supervised) as dashed lines at their test metric. ``agent_names`` fixes
    each agent's colour across envs."""
    import numpy as np

    plt, colour_of = _pyplot_and_colours(summary, agent_names)

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for env_id, e in summary["envs"].items():
        fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
        drew = False
        for name, a in e["agents"].items():
            curves = [_smooth(np.asarray(c, dtype=float)) for c in a["curves"] if len(c) >= 2]
            color = colour_of(name)
            if a["kind"] == "baseline" or is_supervised(name, a) or not curves:
                value = a["metrics"].get(e["main_metric"], {}).get("mean")
                if value is not None:
                    ax.axhline(value, color=color, linestyle="--", linewidth=1.2,
                               label=f"{a['label']}: test {e['main_metric']} {value:.3f}")
                continue
            test = a["metrics"].get(e["main_metric"], {}).get("mean", float("nan"))
            _band(ax, curves, color, f"{a['label']}: training return (test {test:.3f})", 100)
            drew = True
        ax.set_xlabel("environment steps")
        ax.set_ylabel(f"episode return  /  test {e['main_metric']} (dashed)")
        ax.set_title(f"{env_id}: training return (mean ± std over seeds) and references")
        ax.grid(alpha=0.3)
        if not drew:
            ax.set_xticks([])
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        path = out_dir / f"{env_id}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_efficiency(summary: dict[str, Any], out_dir: Path, agent_names: list[str] | None = None) -> list[Path]:
    """``curves/<env>-efficiency.png``: the test main metric of every transformer agent with a test curve
    (RL and supervised; mean ± std over seeds) against examples seen (left) and training seconds (right);
    baselines and 0.95x supervised dashed."""
    import numpy as np

    plt, colour_of = _pyplot_and_colours(summary, agent_names)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for env_id, e in summary["envs"].items():
        agents = {n: a for n, a in e["agents"].items() if a.get("test_curves") and not a.get("stale")}
        if not agents:
            continue
        m = e["main_metric"]
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), dpi=110, sharey=True)
        for col, (ax, xlabel) in enumerate(zip(axes, ("examples seen (episodes)", "training seconds"))):
            for name, a in agents.items():
                color = colour_of(name)
                curves = [np.asarray([[p[col], p[2]] for p in c if p[2] is not None], dtype=float)
                          for c in a["test_curves"]]
                curves = [c for c in curves if len(c) >= 2]
                if not curves:
                    continue
                _band(ax, curves, color, a["label"], 50)
            for name, a in e["agents"].items():
                if a["kind"] == "baseline" and m in a["metrics"]:
                    color = colour_of(name, "grey")
                    ax.axhline(a["metrics"][m]["mean"], color=color, linestyle="--", linewidth=1, alpha=0.8,
                               label=f"{a['label']}: test {m} {a['metrics'][m]['mean']:.3f}" if col == 0 else None)
            targets = {(a["to_095_sup"]["target"], a["to_095_sup"].get("reference", "supervised"))
                       for a in e["agents"].values() if a.get("to_095_sup")}
            if not targets:  # no RL agent with a curve: 0.95x the best supervised reference
                sups = [a for n, a in e["agents"].items() if is_supervised(n, a) and m in a["metrics"]]
                if sups:
                    best = max(sups, key=lambda a: a["metrics"][m]["mean"])
                    targets = {(0.95 * best["metrics"][m]["mean"], best["label"])}
            for k, (target, ref) in enumerate(sorted(targets)):  # one per supervised reference in use
                ax.axhline(target, color="black", linestyle=(0, (6, 2 + 2 * k)), linewidth=1.2,
                           label=f"0.95x {ref}: {target:.3f}" if col == 0 else None)
            ax.set_xlabel(xlabel)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel(f"test {m}")
        axes[0].legend(fontsize=7, loc="best")
        fig.suptitle(f"{env_id}: sample efficiency (test {m}, mean ± std over seeds)")
        fig.tight_layout()
        path = out_dir / f"{env_id}-efficiency.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths


def write_reports(cfg: dict[str, Any], out: Path, quick: bool, command: str) -> dict[str, Any]:
    summary = summarize(cfg, out, quick, command)
    (out / "tables.md").write_text(tables_md(summary))
    plot_curves(summary, out / "curves", list(cfg["agents"]))
    plot_efficiency(summary, out / "curves", list(cfg["agents"]))
    return summary


# ----------------------------------------------------------------------------------------------
# throughput
# ----------------------------------------------------------------------------------------------
def run_throughput(out: Path, quick: bool) -> dict[str, Any]:
    """benchmarks/throughput.py (+ benchmarks/peers.py unless quick) with their JSON written under ``out``."""
    sys.path.insert(0, str(HERE))
    import throughput  # noqa: PLC0415  (benchmarks/ is not a package)

    out.mkdir(parents=True, exist_ok=True)
    args = ["--json", str(out / "throughput.json")]
    if quick:
        args += ["--envs", "TextCls-v0", "NerTag-v0", "--steps", "2000", "--vector-steps", "20", "--num-envs", "64",
                 "--repeats", "1"]
    result = {"throughput": throughput.main(args)}
    if not quick:
        import peers  # noqa: PLC0415

        result["peers"] = peers.main(["--json", str(out / "peers.json")])
    return result


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nlp-envs bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", nargs="?", default="all", choices=("all", "learn", "sweep", "throughput", "tables"),
                   help="sweep: the hyperparameter sweep behind the recipes (benchmarks/sweep.yml -> "
                        "benchmarks/results/sweep), run like `learn`")
    p.add_argument("--quick", action="store_true", help="the CI smoke slice: one seed, tiny budgets, no peers")
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="grid YAML")
    p.add_argument("--out", default=None,
                   help=f"results folder (default {DEFAULT_OUT.relative_to(ROOT)}, --quick: {QUICK_OUT})")
    p.add_argument("--runs", default=None, help="run folders of the trained agents (default: OUT/../runs-<name>)")
    p.add_argument("--only", default=None, help="run only cells whose name contains one of these comma-separated patterns "
                        "(e.g. TextCls-v0__ppo,NerTag-v0__)")
    p.add_argument("--jobs", type=int, default=1,
                   help="worker processes for the grid's cells, each with cores/jobs torch threads (2 on 2 cores: "
                        "the tiny models gain little from a second thread)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config field of the transformer agents of the cells run (as in `nlp-envs train`), repeatable; "
                        "part of the cells' hash; needs --out")
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE",
                   help="env kwarg of every cell (JSON value, else string), repeatable; part of the cells' hash; "
                        "needs --out")
    p.add_argument("--no-reports", action="store_true", help=argparse.SUPPRESS)  # a --jobs worker: cells only
    p.add_argument("--claims", default=None, help=argparse.SUPPRESS)  # a --jobs worker: the shared claim folder
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.jobs < 1:
        raise SystemExit(f"--jobs {args.jobs}: give 1 or more worker processes")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sweep = args.part == "sweep"
    if sweep:
        args.part = "learn"
        args.config = str(SWEEP_CONFIG) if args.config == str(DEFAULT_CONFIG) else args.config
    cfg = load_config(Path(args.config))
    extra_args = [a for item in args.set for a in ("--set", item)] + [a for item in args.env_kwarg for a in ("--env-kwarg", item)]
    if extra_args:
        if args.part == "throughput":
            raise SystemExit("error: --set / --env-kwarg apply to the learning grid's cells; throughput trains no agent")
        if args.out is None:
            raise SystemExit("error: --set / --env-kwarg make other cells than the grid's: give --out FOLDER, so that "
                             "the grid's results are not replaced")
        try:
            cfg = apply_cli_settings(cfg, args.set, args.env_kwarg, args.quick, args.only)
        except ValueError as e:
            raise SystemExit(f"error: {e}") from None
    default_out = SWEEP_OUT if sweep else DEFAULT_OUT
    out = Path(args.out) if args.out else (QUICK_OUT if args.quick else default_out)
    runs_dir = Path(args.runs) if args.runs else Path("runs") / ("bench-quick" if args.quick else "sweep" if sweep else "bench")
    # what produces the learning results
    command = f"nlp-envs bench {'sweep' if sweep else 'learn'}" + (" --quick" if args.quick else "") + (f" --jobs {args.jobs}" if args.jobs > 1 else "")
    out.mkdir(parents=True, exist_ok=True)
    if args.part in ("all", "throughput"):
        run_throughput(out if args.quick else HERE / "results", args.quick)
    if args.part in ("all", "learn"):
        run_grid(cfg, out, runs_dir, args.quick, args.only, jobs=args.jobs, config=Path(args.config),
                 extra_args=extra_args, claims=Path(args.claims) if args.claims else None)
    if args.no_reports:
        return 0
    if args.part in ("all", "learn", "tables"):
        summary = write_reports(cfg, out, args.quick, command)
        print(f"\n{out / 'tables.md'}: {summary['num_done']}/{summary['num_cells']} cells"
              f"{', ' + str(len(summary['errors'])) + ' failed' if summary['errors'] else ''}; "
              f"curves in {out / 'curves'}")
        return 1 if summary["errors"] else 0
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
