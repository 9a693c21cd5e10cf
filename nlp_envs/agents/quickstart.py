"""The README's main job: train a transformer policy on ``TextCls-v0`` and put it in context.

Trains PPO with the ``tiny`` transformer backbone from scratch (a couple of minutes on 2 CPU cores),
then evaluates on the test split, beside the references that frame any RL number:

* ``random`` and ``majority`` (what chance gets),
* ``supervised``: the same backbone trained with cross-entropy on the gold labels, same example budget
  (what full supervision gets with the same model).

Prints a table, writes ``OUT/summary.json`` and a learning-curve plot ``OUT/learning_curve.png``
(PPO's training reward per episode against env steps, with the references' test accuracy).

    nlp-envs quickstart [--out runs/quickstart] [--total-steps N] [--seed S]
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

ENV_ID = "TextCls-v0"
DEFAULT_STEPS = 16_000


def _curve(run_dir: Path) -> tuple[list[float], list[float]]:
    steps, returns = [], []
    with open(run_dir / "metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row.get("charts/episode_return") not in (None, ""):
                steps.append(float(row["step"]))
                returns.append(float(row["charts/episode_return"]))
    return steps, returns


def _smooth(values: list[float], k: int = 5) -> list[float]:
    out = []
    for i in range(len(values)):
        window = values[max(0, i - k + 1) : i + 1]
        out.append(sum(window) / len(window))
    return out


def plot(path: Path, steps: list[float], returns: list[float], refs: dict[str, float], ppo_test: float) -> None:
    """PPO's training reward (raw and smoothed) with the references' test accuracy as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    ax.plot(steps, returns, color="tab:blue", alpha=0.3, linewidth=1)
    ax.plot(steps, _smooth(returns), color="tab:blue", linewidth=2, label="PPO (tiny): training reward")
    ax.scatter([steps[-1] if steps else 0], [ppo_test], color="tab:blue", marker="*", s=160, zorder=5,
               label=f"PPO (tiny): test accuracy {ppo_test:.3f}")
    styles = {"supervised": ("tab:green", "--"), "majority": ("tab:gray", ":"), "random": ("tab:red", ":")}
    for name, value in refs.items():
        color, ls = styles.get(name, ("black", "-."))
        ax.axhline(value, color=color, linestyle=ls, label=f"{name}: test accuracy {value:.3f}")
    ax.set_xlabel("environment steps (one text per step)")
    ax.set_ylabel("reward = accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{ENV_ID}: PPO with a from-scratch transformer vs references")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def run(out: str = "runs/quickstart", total_steps: int | None = None, seed: int = 0) -> int:
    import nlp_envs
    from nlp_envs.agents.baselines import make_baseline
    from nlp_envs.agents.train import train

    out_dir = Path(out)
    budget = total_steps or DEFAULT_STEPS
    t0 = time.perf_counter()
    print(f"[1/3] PPO, tiny transformer, {budget:,} env steps on {ENV_ID} ...", flush=True)
    # the demo's own run folders: a second quickstart replaces them (overwrite=True)
    ppo = train(ENV_ID, "ppo", backbone="tiny", total_steps=budget, seed=seed, out=str(out_dir / "ppo"), overwrite=True)
    t_ppo = time.perf_counter() - t0
    print(f"[2/3] supervised reference, same backbone, {budget:,} examples ...", flush=True)
    sup = train(ENV_ID, "supervised", backbone="tiny", total_steps=budget, seed=seed,
                out=str(out_dir / "supervised"), overwrite=True)
    print("[3/3] random and majority ...", flush=True)
    refs = {name: nlp_envs.evaluate(ENV_ID, make_baseline(name, ENV_ID, seed=seed), split="test")
            for name in ("random", "majority")}
    rows: list[dict[str, Any]] = [
        {"agent": "PPO (tiny transformer)", "accuracy": ppo["eval/accuracy"], "macro_f1": ppo["eval/macro_f1"],
         "budget": f"{budget:,} env steps"},
        {"agent": "supervised (tiny transformer)", "accuracy": sup["eval/accuracy"], "macro_f1": sup["eval/macro_f1"],
         "budget": f"{budget:,} examples"},
        *({"agent": name, "accuracy": r["accuracy"], "macro_f1": r["macro_f1"], "budget": "-"}
          for name, r in refs.items()),
    ]
    print(f"\n{ENV_ID}, test split ({refs['random']['num_examples']} examples), seed {seed}:\n")
    print("| agent | test accuracy | macro-F1 | budget |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['agent']} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} | {r['budget']} |")
    steps, returns = _curve(out_dir / "ppo")
    png = out_dir / "learning_curve.png"
    plot(png, steps, returns,
         {"supervised": sup["eval/accuracy"], **{k: v["accuracy"] for k, v in refs.items()}},
         ppo["eval/accuracy"])
    summary = {"env_id": ENV_ID, "seed": seed, "budget": budget, "rows": rows,
               "ppo_train_seconds": t_ppo, "total_seconds": time.perf_counter() - t0, "plot": str(png)}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\nplot: {png}\nsummary: {out_dir / 'summary.json'}  ({summary['total_seconds']:.0f} s)")
    return 0
