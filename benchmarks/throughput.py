"""Env throughput, measured side by side in one process (ratios, not absolute numbers, are the point).

For each env id:
* single env via ``gym.make`` with pre-drawn uniform random actions, resetting when an episode ends, beside a
  trivial constant env via ``gym.make`` that ends (and is reset) every step;
* the native vector env (``vectorization_mode="vector_entry_point"``, default 256 sub-envs) beside
  ``SyncVectorEnv`` of the same number of ``gym.make`` envs.

Each figure is the median of ``--repeats`` timed runs. Run:

    python benchmarks/throughput.py                      # all ids whose data is available
    python benchmarks/throughput.py --envs TextCls-v0 --json benchmarks/results/throughput.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

import nlp_envs  # noqa: F401  (registers the ids)
from nlp_envs.registration import ENV_IDS
from nlp_envs.testing import env_available


class ConstantEnv(gym.Env):
    """The cheapest possible env: constant observation, every step ends the episode."""

    observation_space = spaces.Discrete(1)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return 0, {}

    def step(self, action: Any):
        return 0, 0.0, True, False, {}


if "Constant-v0" not in gym.registry:
    gym.register("Constant-v0", entry_point=ConstantEnv)


def _actions(env: Any, n: int, seed: int) -> list[int]:
    """Pre-drawn random actions (so that sampling is not timed)."""
    rng = np.random.default_rng(seed)
    return [int(a) for a in rng.integers(env.action_space.n, size=n)]


def _timed_random_steps(env: gym.Env, steps: int, seed: int) -> float:
    """Seconds of ``steps`` env steps with pre-drawn uniform random actions (reset with ``seed`` first,
    then whenever an episode ends)."""
    env.reset(seed=seed)
    acts = _actions(env, steps, seed)
    t0 = time.perf_counter()
    for a in acts:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return time.perf_counter() - t0


def time_run(env: gym.Env, steps: int, seed: int) -> float:
    """Steps/s of one timed run with pre-drawn uniform random actions, resetting when an episode ends.
    Masked actions are allowed: envs are non-strict by default and score them."""
    return steps / _timed_random_steps(env, steps, seed)


def time_single(env_id: str, steps: int, repeats: int) -> float:
    """Median steps/s of a gym.make env over ``repeats`` runs of :func:`time_run`."""
    env = gym.make(env_id)
    results = [time_run(env, steps, r) for r in range(repeats)]
    env.close()
    return statistics.median(results)


def time_single_masked(env_id: str, steps: int, repeats: int) -> float:
    """Like :func:`time_single`, but each action is drawn from the env's current action mask (what a
    masked agent's loop pays: one ``action_masks()`` call per step)."""
    env = gym.make(env_id)
    masks = env.unwrapped.action_masks
    results = []
    for r in range(repeats):
        env.reset(seed=r)
        rng = np.random.default_rng(r)
        t0 = time.perf_counter()
        for _ in range(steps):
            allowed = np.flatnonzero(masks())
            _, _, term, trunc, _ = env.step(int(allowed[rng.integers(len(allowed))]))
            if term or trunc:
                env.reset()
        results.append(steps / (time.perf_counter() - t0))
    env.close()
    return statistics.median(results)


def episode_end_share(env_id: str, steps: int, seed: int = 0) -> float:
    """Share of single-env step time spent in the episode-end reward (reply decode + metric) of a
    generation env: ``score_reply`` is wrapped with a timer while the env is stepped normally."""
    env = gym.make(env_id)
    base = env.unwrapped
    inner = base.score_reply
    spent = [0.0]

    def timed(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - t

    base.score_reply = timed
    total = _timed_random_steps(env, steps, seed)
    env.close()
    return spent[0] / total


def time_vector(env_id: str, num_envs: int, steps: int, repeats: int, mode: str) -> float:
    """Median env-steps/s of a vector env ('native' = vector_entry_point, 'sync' = SyncVectorEnv)."""
    if mode == "native":
        venv = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
    else:
        venv = gym.vector.SyncVectorEnv([lambda: gym.make(env_id) for _ in range(num_envs)])
    results = []
    for r in range(repeats):
        venv.reset(seed=r)
        rng = np.random.default_rng(r)
        n = venv.single_action_space.n
        batches = [rng.integers(n, size=num_envs) for _ in range(min(steps, 64))]
        t0 = time.perf_counter()
        for t in range(steps):
            venv.step(batches[t % len(batches)])
        results.append(steps * num_envs / (time.perf_counter() - t0))
    venv.close()
    return statistics.median(results)


def git_sha() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", nargs="*", default=None, help="env ids (default: every available id)")
    p.add_argument("--steps", type=int, default=20000, help="single-env steps per repeat")
    p.add_argument("--vector-steps", type=int, default=100, help="vector steps per repeat")
    p.add_argument("--num-envs", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", default=None, help="write results to this JSON file")
    args = p.parse_args(argv)

    ids = args.envs or [i for i in ENV_IDS if env_available(i)[0]]
    trivial_single = time_single("Constant-v0", args.steps, args.repeats)
    trivial_sync = time_vector("Constant-v0", args.num_envs, args.vector_steps, args.repeats, "sync")
    rows = []
    for env_id in ids:
        single = time_single(env_id, args.steps, args.repeats)
        trivial_single_now = time_single("Constant-v0", args.steps, args.repeats)  # same conditions, right beside
        native = time_vector(env_id, args.num_envs, args.vector_steps, args.repeats, "native")
        sync = time_vector(env_id, args.num_envs, max(5, args.vector_steps // 5), args.repeats, "sync")
        row = {
            "env_id": env_id,
            "single_steps_per_s": single,
            "trivial_single_steps_per_s": trivial_single_now,
            "step_time_vs_trivial": trivial_single_now / single,
            "native_vector_steps_per_s": native,
            "sync_vector_steps_per_s": sync,
            "native_vs_sync": native / sync,
        }
        if hasattr(gym.make(env_id).unwrapped, "score_reply"):
            row["episode_end_reward_share_of_step_time"] = episode_end_share(env_id, args.steps)
        rows.append(row)
        print(f"{env_id:28s} single {single:>10,.0f}/s  ({row['step_time_vs_trivial']:.2f}x trivial step time)  "
              f"native[{args.num_envs}] {native:>11,.0f}/s  sync {sync:>9,.0f}/s  ({row['native_vs_sync']:.1f}x)",
              flush=True)
    result = {
        "command": "python benchmarks/throughput.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "git_sha": git_sha(),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
        "num_envs": args.num_envs,
        "repeats": args.repeats,
        "trivial_single_steps_per_s": trivial_single,
        "trivial_sync_vector_steps_per_s": trivial_sync,
        "rows": rows,
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
