"""Render the README's measured sections from the result files in ``benchmarks/results/``.

Each section sits between ``<!-- NAME:START -->`` and ``<!-- NAME:END -->`` markers in README.md and
is rewritten from its JSON file (a missing file leaves the section as it is), so the README never
states a number that no committed result file holds.

    python benchmarks/readme_tables.py            # rewrite README.md
    python benchmarks/readme_tables.py --check    # exit 1 if README.md is stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    if name.endswith("/"):  # a folder: {file stem: its JSON}, None when it holds none
        return {f.stem: json.loads(f.read_text()) for f in sorted(path.glob("*.json"))} or None
    return json.loads(path.read_text()) if path.exists() else None


def throughput(d: dict[str, Any]) -> str:
    lines = [
        "| env | single env steps/s (`gym.make`) | step time vs trivial env | native vector steps/s "
        f"({d['num_envs']} envs) | `SyncVectorEnv` steps/s | native / sync |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in d["rows"]:
        lines.append(
            f"| `{r['env_id']}` | {r['single_steps_per_s']:,.0f} | {r['step_time_vs_trivial']:.2f}x | "
            f"{r['native_vector_steps_per_s']:,.0f} | {r['sync_vector_steps_per_s']:,.0f} | "
            f"{r['native_vs_sync']:.1f}x |"
        )
    for r in d["rows"]:
        if "episode_end_reward_share_of_step_time" in r:
            lines += ["", f"`{r['env_id']}`: the episode-end reward (reply decoded once + metric) takes "
                          f"{100 * r['episode_end_reward_share_of_step_time']:.0f}% of single-env step time "
                          "(random actions: replies run to `max_reply_tokens`)."]
    lines += [
        "",
        f"Trivial constant env via `gym.make`: {d['trivial_single_steps_per_s']:,.0f} steps/s (ends every step; "
        "the ratio is measured right beside each env). Medians of "
        f"{d['repeats']} repeats, pre-drawn uniform random actions; {d['machine']}, git `{d['git_sha']}`.",
        f"Command: `{d['command'].strip()}`",
    ]
    return "\n".join(lines)


def peers(d: dict[str, Any]) -> str:
    lines = ["| comparison | nlp-envs steps/s | NLPGym steps/s | ratio | target |", "|---|---:|---:|---:|---|"]
    for r in d["ratios"]:
        target = "" if r.get("target_ratio") is None else (
            f">= {r['target_ratio']:,.0f}x ({'met' if r.get('target_met') else 'missed'})")
        lines.append(f"| {r['comparison']} | {r['ours_steps_per_s']:,.0f} | {r['nlpgym_steps_per_s']:,.1f} | "
                     f"{r['ratio']:,.0f}x | {target} |")
    note = d.get("metric_note")
    lines += ["", f"Same test sentences/texts on both sides, medians of alternating rounds; git `{d['git_sha']}`.",
              f"Command: `{d['command'].strip()}`"]
    if isinstance(note, dict) and note.get("summary"):
        lines += ["", f"What NLPGym calls entity F1: {note['summary']}"]
    return "\n".join(lines)


def large_corpus(d: dict[str, Any]) -> str:
    cold, warm = d["cold"], d["warm"]

    def row(name: str, r: dict[str, Any]) -> str:
        return (f"| {name} | {r['construct_s']:.2f} s | {r['anon_growth_construct_mb']:.0f} MB | "
                f"{r['anon_growth_after_steps_mb']:.0f} MB | {r['file_mapped_after_steps_mb']:.0f} MB | "
                f"{r['peak_rss_mb']:.0f} MB | {r['steps_per_s_after']:,.0f} |")

    return "\n".join([
        f"Generated classification corpus: {d['rows']:,} examples, CSV {d['csv_mb']:.0f} MB; "
        f"tokenized cache {d['cache_mb']:.0f} MB (memory-mapped `.npy`, `max_length=32`).",
        "",
        "| | construction | private memory growth (RssAnon), construction | ... after 20k episodes | "
        "file pages mapped (page cache) | peak RSS | steps/s afterwards |",
        "|---|---:|---:|---:|---:|---:|---:|",
        row("cold (empty cache: read, learn vocabulary, tokenize, write cache)", cold),
        row("warm (cached)", warm),
        "",
        "Warm, the env holds no per-example Python objects (texts are decoded on demand from UTF-8 bytes + "
        "offsets; token arrays are memory-mapped and read row by row).",
        f"Command: `{d['command'].strip()}`",
    ])


def agent_textcls(d: dict[str, Any]) -> str:
    t, lrn = d["throughput"], d["learning"]
    lines = [
        f"`{d['env_id']}`, backbone `{d['backbone']}`, {d['num_envs']} envs per batch, {d['torch_threads']} torch "
        f"thread(s), git `{d['git_sha']}`.",
        "",
        "| agent | training throughput | vs supervised (target >= 0.5x) | test accuracy, "
        f"{lrn['examples']:,} examples, {lrn['seeds']} seeds | vs supervised (target >= 0.95x) |",
        "|---|---:|---:|---:|---:|",
    ]
    for algo in ("supervised", "ppo", "reinforce", "grpo"):
        if algo not in lrn["mean"]:
            continue
        rate = t["per_second"].get(algo)
        ratio = t["vs_supervised"].get(algo)
        acc = f"{lrn['mean'][algo]:.3f} ± {lrn['std'][algo]:.3f}"
        unit = "examples" if algo == "supervised" else "env steps"
        speed = "-" if ratio is None else f"{ratio:.2f}x"
        quality = "-" if algo == "supervised" else f"{lrn['vs_supervised'][algo]:.2f}x"
        lines.append(f"| {algo} | {rate:,.0f} {unit}/s | {speed} | {acc} | {quality} |")
    if d.get("command"):
        lines += ["", f"Command: `{d['command'].strip()}`"]
    return "\n".join(lines)


#: README "Results" columns: (header, agent names tried in order; the first present in the env's results)
RESULT_COLUMNS = [
    ("random", ["random"]),
    ("majority", ["majority"]),
    ("SB3 PPO", ["sb3-maskable-ppo", "sb3-ppo"]),
    ("PPO (transformer)", ["ppo-minilm-frozen", "ppo-minilm", "ppo"]),
    ("GRPO (transformer)", ["grpo"]),
    ("REINFORCE (transformer)", ["reinforce"]),
    ("supervised (same backbone)", ["supervised-minilm-frozen", "supervised-minilm", "supervised"]),
]


def to_095_text(e: dict[str, Any]) -> str:
    """The RL transformer agent of one env that reached 0.95x its supervised reference in the fewest examples
    (bench.py ``to_095_sup``): "12,288 (PPO (tiny transformer))", "(2/3)" when only some seeds reached it,
    "not reached" when none did, "-" without test curves or a supervised reference."""
    effs = [(a["label"], a["to_095_sup"]) for a in e["agents"].values() if a.get("to_095_sup")]
    if not effs:
        return "-"
    reached = [(label, x) for label, x in effs if x["reached"]]
    if not reached:
        return "not reached"
    label, x = min(reached, key=lambda lx: lx[1]["examples"])
    part = "" if x["reached"] == x["seeds"] else f", {x['reached']}/{x['seeds']} seeds"
    return f"{x['examples']:,.0f} ({label}{part})"


def grid_results(d: dict[str, Any]) -> str:
    """At a glance: each env's main test metric per agent (mean ± std over seeds), then the links."""
    mc = d["machine"]
    lines = [
        f"Command: `{d['command']}` (the learning grid of `benchmarks/grid.yml`: {d['num_done']} of "
        f"{d['num_cells']} cells; git `{d['git_sha']}`; {mc['cpu']}, {mc['cores']} cores"
        + (f", GPU {mc['gpu']}" if mc.get("gpu") else ", no GPU") + f"; generated {d['generated_at']}).",
        "Main test metric, mean ± std over seeds (n = seeds); the backbone (tiny = 2-layer transformer from "
        "scratch, MiniLM = pretrained MiniLM-L6) is the same for PPO and its supervised reference. Budgets, "
        "wall-clock, peak memory and the other algorithms (SB3 A2C/DQN) are in "
        "[benchmarks/results/grid/tables.md](benchmarks/results/grid/tables.md); learning curves in "
        "[benchmarks/results/grid/curves/](benchmarks/results/grid/curves/). \"Examples to 0.95x sup.\": the "
        "fewest examples (episodes) after which an RL transformer agent's test metric reached 0.95x its supervised "
        "reference (`curve_points` evaluations during training; mean over the seeds that reached it). \"(stale)\": "
        "the cell ran with older settings or budgets (before the current recipes and early-stopped references) "
        "and awaits a rerun.",
        "",
        "| env | metric | " + " | ".join(h for h, _ in RESULT_COLUMNS) + " | examples to 0.95x sup. | published reference |",
        "|---|---|" + "---:|" * len(RESULT_COLUMNS) + "---:|---|",
    ]
    for env_id, e in d["envs"].items():
        cells = []
        for _, names in RESULT_COLUMNS:
            present = [n for n in names if n in e["agents"]]  # the first current agent, else the first stale one
            name = next((n for n in present if not e["agents"][n].get("stale")), present[0] if present else None)
            if name is None:
                cells.append("-")
                continue
            a = e["agents"][name]
            m = a["metrics"].get(e["main_metric"])
            if not m:
                cells.append("-")
                continue
            n = len(m["values"])
            text = f"{m['mean']:.3f} ± {m['std']:.3f}" if n > 1 else f"{m['mean']:.3f}"
            tag = (" (MiniLM frozen)" if "frozen" in name else " (MiniLM)") if a.get("backbone") == "minilm" else ""
            tag += " (stale)" if a.get("stale") else ""
            tag += " (masked)" if name == "sb3-maskable-ppo" else ""
            cells.append(f"{text}{tag} (n={n})")
        cells.append(to_095_text(e))
        pub = e.get("published")
        cells.append(f"{pub[0]:.3f} ({pub[1]})" if pub else "-")
        lines.append(f"| `{env_id}` | {e['main_metric']} | " + " | ".join(cells) + " |")
    if d.get("errors"):
        lines += ["", f"Failed cells: {len(d['errors'])} (listed in tables.md)."]
    return "\n".join(lines)


#: the learning targets (issue "Agents that solve the tasks"): (env id, RL agents (the best mean counts),
#: reference agents (the first present), target ratio, what it says); ratio 1.0 means "above", seed by seed
PG = ["ppo", "reinforce", "grpo"]
AGENT_TARGETS = [
    ("TextCls-v0", PG, ["supervised"], 0.95, "tiny; best PG vs supervised early-stopped on validation"),
    ("NerTag-v0", PG, ["supervised"], 0.95, "tiny; same sentences seen x ~3 for supervised (early-stopped)"),
    ("NerTag-v0", ["sb3-maskable-ppo"], ["majority"], 1.0, "SB3 MaskablePPO vs the per-word majority lookup"),
    ("MultiLabelCls-v0", PG, ["supervised"], 0.9, "tiny; best PG vs supervised (early-stopped)"),
    ("MultiChoiceQA-v0", PG, ["supervised"], 0.9, "tiny; best PG vs supervised (early-stopped)"),
    ("DialogSelect-v0", PG, ["supervised"], 0.9, "tiny; best PG vs supervised"),
    ("TextCls-Banking77-v0", ["ppo-minilm-frozen", "ppo-minilm"], ["supervised-minilm-frozen", "supervised-minilm"], 0.9,
     "MiniLM (frozen + head where so labelled)"),
    ("NerTag-BTC-v0", ["ppo-minilm-frozen-tag", "ppo-minilm"], ["supervised-minilm-frozen-tag", "supervised-minilm"], 0.85,
     "MiniLM (frozen + head where so labelled)"),
    ("DialogReply-v0", ["ppo", "grpo"], ["supervised"], 1.0, "tiny GPT-2: RL after the MLE warm start vs MLE alone"),
    ("DialogReply-SGD-v0", ["ppo", "grpo"], ["supervised"], 1.0, "tiny GPT-2: RL after the MLE warm start vs MLE alone"),
    # the v1 embedded defaults (issue 21): the same targets as their v0
    ("NerTag-v1", PG, ["supervised"], 0.95, "tiny; v1: unseen and context-typed names"),
    ("NerTag-v1", ["supervised"], ["majority"], 1.0, "v1 headroom: supervised vs the per-word majority lookup"),
    ("DialogReply-v1", ["ppo", "grpo"], ["supervised"], 1.0, "tiny GPT-2: RL after the converged MLE warm start vs MLE alone"),
]


#: the grid's wall-clock target (hours, 2 cores, ``--jobs 2``)
GRID_HOURS = 2.0


def agent_targets(d: dict[str, Any]) -> str:
    """The learning targets read off the grid: best RL mean / reference mean (ratio 1.0: above, per seed)."""
    lines = ["| env | metric | RL agent | reference | RL (mean ± std) | reference (mean ± std) | ratio | target | verdict |",
             "|---|---|---|---|---:|---:|---:|---:|---|"]
    for env_id, rls, refs, target, what in AGENT_TARGETS:
        e = d["envs"].get(env_id, {})
        agents, m = e.get("agents", {}), e.get("main_metric", "")
        cands = [agents[n] for n in rls if n in agents and m in agents[n]["metrics"]]
        a = max(cands, key=lambda x: x["metrics"][m]["mean"]) if cands else None
        b = next((agents[n] for n in refs if n in agents and m in agents[n]["metrics"]), None)
        if not a or not b:
            lines.append(f"| `{env_id}` | {m or '-'} | {'/'.join(rls)} | {'/'.join(refs)} | not run | not run | - | "
                         f"{target:.2f}x | {what} |")
            continue
        x, y = a["metrics"][m], b["metrics"][m]
        rl_by_seed, ref_by_seed = dict(zip(a["seeds"], x["values"])), dict(zip(b["seeds"], y["values"]))
        paired = sorted(set(rl_by_seed) & set(ref_by_seed))
        wins = sum(rl_by_seed[k] > ref_by_seed[k] for k in paired)
        seeds = f"; RL above the reference in {wins}/{len(paired)} seeds" if paired and b["kind"] != "baseline" else ""
        if target == 1.0 and len(paired) > 1 and b["kind"] != "baseline":  # paired by seed: the gap and its std
            gaps = [rl_by_seed[k] - ref_by_seed[k] for k in paired]
            mu = sum(gaps) / len(gaps)
            sd = (sum((g - mu) ** 2 for g in gaps) / (len(gaps) - 1)) ** 0.5
            seeds += f" (paired gap {mu:+.3f} ± {sd:.3f})"
        stale = [z["label"] for z in (a, b) if z.get("stale")]
        note = f" (stale: {', '.join(stale)} ran with older settings)" if stale else ""
        if y["mean"] < 0.01:  # a reference at ~0 is under-trained: no ratio to speak of
            ratio_text, verdict = "-", f"not measured: the reference scores {y['mean']:.3f} (under-trained at this budget)"
        else:
            ratio = x["mean"] / y["mean"]
            met = (wins == len(paired) and ratio > 1) if target == 1.0 and paired and b["kind"] != "baseline" else (
                ratio > target if target == 1.0 else ratio >= target)
            ratio_text, verdict = f"{ratio:.2f}x", "met" if met else "missed"
        if stale:  # a cell that ran with older settings says nothing about the current recipe
            verdict, note = "not rerun", f" (stale: {', '.join(stale)} ran with older settings)"
        lines.append(f"| `{env_id}` | {m} | {a['label']} | {b['label']} | {x['mean']:.3f} ± {x['std']:.3f} "
                     f"(n={len(x['values'])}) | {y['mean']:.3f} ± {y['std']:.3f} (n={len(y['values'])}) | "
                     f"{ratio_text} | {target:.2f}x | {verdict}{note}: {what}{seeds} |")
    t = d.get("timing") or {}
    if t.get("span_seconds"):
        span, total = t["span_seconds"] / 3600, t["cell_seconds"] / 3600
        if span <= total:  # the cells overlapped: one `bench learn --jobs N` run, whose wall-clock the span is
            lines += ["", f"Grid wall-clock: {span:.2f} h from the first cell's start to the last one's end "
                          f"({t['first_start']} to {t['last_end']}; the cells' own wall-clock sums to {total:.2f} h); "
                          f"target: the whole grid in <= {GRID_HOURS:g} h on 2 cores with `--jobs 2`: "
                          f"{'met' if span <= GRID_HOURS else 'missed'}."]
        else:  # longer than the cells' sum: they ran in several sittings, and the span measures nothing
            lines += ["", f"Grid wall-clock: not measured in one run (the cell files come from several runs between "
                          f"{t['first_start']} and {t['last_end']}); the cells' own wall-clock sums to {total:.2f} h, "
                          f"so `--jobs 2` needs at least {total / 2:.2f} h at those speeds (target: <= {GRID_HOURS:g} h)."]
    lines += ["", f"From `benchmarks/results/grid/summary.json` (command `{d['command']}`, git `{d['git_sha']}`)."]
    return "\n".join(lines)


def main_metric(env_id: str) -> str:
    """The main metric of an env id: its family contract's (``Family.main_metric``)."""
    import nlp_envs  # noqa: F401  (registers the ids)
    from nlp_envs.family import family_of_env

    return family_of_env(env_id).main_metric


def gpu_results(d: dict[str, Any]) -> str:
    """The GPU checks (benchmarks/gpu/checks.py): ``d`` maps each stage to its JSON file."""
    pre, t, f, fam, c = (d.get(k) or {} for k in ("preflight", "throughput", "finetune", "families", "compile"))
    metric = main_metric
    num = lambda v, fmt: "-" if v is None else format(v, fmt)  # noqa: E731
    lines = [f"{pre.get('gpu') or pre.get('device')}, torch {pre.get('torch')}, git `{pre.get('git_sha')}`"
             f"{' (smoke run)' if pre.get('smoke') else ''}; command and files: "
             f"[benchmarks/gpu/README.md](benchmarks/gpu/README.md).", ""]
    if t.get("runs"):
        lines += [f"| MiniLM on TextCls-v0, batch {t.get('batch')} | supervised examples/s | PPO env steps/s | "
                  f"PPO / supervised (target {t.get('target_ratio')}) | peak GPU GiB (sup. / PPO) |",
                  "|---|---:|---:|---:|---|"]
        for mode, stage, sfx in (("eager", t, ""), ("torch.compile", c, "-compile")):
            runs = stage.get("runs") if isinstance(stage.get("runs"), dict) else {}
            s, p = runs.get("supervised" + sfx, {}), runs.get("ppo" + sfx, {})
            if s or p:
                lines.append(f"| {mode} | {num(s.get('steps_per_s'), ',.0f')} | {num(p.get('steps_per_s'), ',.0f')} | "
                             f"{num(stage.get('ppo_vs_supervised'), '.2f')} | "
                             f"{s.get('peak_memory_GiB')} / {p.get('peak_memory_GiB')} |")
        lines.append("")
    if f.get("runs"):
        lines += ["| MiniLM full fine-tuning | algo | steps | test metric | CPU grid, MiniLM frozen + head |",
                  "|---|---|---:|---:|---:|"]
        for key, r in f["runs"].items():
            env, _, algo = key.partition("/")
            grid = ((f.get("cpu_grid") or {}).get(env) or {}).get("agents", {})
            cpu = [a["mean"] for k, a in grid.items() if k.startswith(f"{algo}-minilm-frozen") and a.get("mean") is not None]
            val = r.get(f"eval/{metric(env)}")
            lines.append(f"| `{env}` | {algo or '-'} | {num(r.get('steps'), ',')} | "
                         f"{num(val, '.3f') if val is not None else r.get('error') or r.get('skipped') or '-'} | "
                         f"{num(cpu[0] if cpu else None, '.3f')} |")
        lines.append("")
    if fam.get("runs"):
        lines += ["| every family on the device | algo | backbone | steps | test metric | NaN |", "|---|---|---|---:|---:|---|"]
        for env, r in fam["runs"].items():
            val = r.get(f"eval/{metric(env)}")
            lines.append(f"| `{env}` | {r.get('algo', '-')} | {r.get('backbone', '-')} | {num(r.get('steps'), ',')} | "
                         f"{num(val, '.3f') if val is not None else r.get('error') or r.get('skipped') or '-'} | "
                         f"{'yes' if r.get('nan') else 'no'} |")
    return "\n".join(lines).rstrip()


#: Rows of the clients table: (client, autoreset mode or None, row label, recipe).
CLIENT_ROWS = (
    ("cleanrl", "SameStep", "CleanRL `ppo.py` structure, SAME_STEP", "`examples/10_cleanrl_ppo.py`"),
    ("cleanrl", "NextStep", "CleanRL `ppo.py` structure, NEXT_STEP", "`examples/10_cleanrl_ppo.py`"),
    ("torchrl", None, "TorchRL", "`GymWrapper(make_vec(..., autoreset_mode=\"Disabled\"))` + `ActionMask`"),
    ("tianshou", None, "Tianshou", "collector + PPO, `EmbeddingBagFeatures`"),
)


def clients(d: dict[str, Any]) -> str:
    """The compatibility table of tests/test_clients.py (benchmarks/results/clients.json)."""
    ids = list(dict.fromkeys(r["env_id"] for r in d["results"]))
    status = {(r["client"], r.get("autoreset_mode"), r["env_id"]): r["status"] for r in d["results"]}
    v = d["versions"]
    version = {"cleanrl": f"torch {v['cleanrl']['torch']}, gymnasium {v['cleanrl']['gymnasium']}",
               "torchrl": f"torchrl {v['torchrl']['torchrl']}, tensordict {v['torchrl']['tensordict']}",
               "tianshou": f"tianshou {v['tianshou']['tianshou']}"}
    lines = ["| client | version | recipe | " + " | ".join(f"`{i}`" for i in ids) + " |",
             "|---|---|---|" + "---|" * len(ids)]
    for client, mode, label, recipe in CLIENT_ROWS:
        cells = [status.get((client, mode, i), "-") for i in ids]
        lines.append(f"| {label} | {version[client]} | {recipe} | " + " | ".join(cells) + " |")
    g = d["torchrl_gymenv_num_envs"]
    lines += ["", f"TorchRL's own batching, `GymEnv(\"nlp_envs:{g['env_id']}\", num_envs=4)`: {g['status']}"
              + (f" ({g['error']}; TorchRL 0.14.1 pairs a NEXT_STEP `AsyncVectorEnv` with SAME_STEP handling: "
                 "[docs/clients.md](docs/clients.md#torchrl-014))" if g["status"] != "pass" else "") + ".",
              f"Command: `{d['command']}`; recipes: [docs/clients.md](docs/clients.md)."]
    return "\n".join(lines)


SECTIONS: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "CLIENTS": ("clients.json", clients),
    "GPU": ("gpu/", gpu_results),
    "RESULTS": ("grid/summary.json", grid_results),
    "AGENT-TARGETS": ("grid/summary.json", agent_targets),
    "THROUGHPUT": ("throughput.json", throughput),
    "PEERS": ("peers.json", peers),
    "LARGE-CORPUS": ("large_corpus.json", large_corpus),
    "AGENT-TEXTCLS": ("agent_textcls.json", agent_textcls),
}


def render(readme: str) -> str:
    for name, (file, fn) in SECTIONS.items():
        data = _load(file)
        if data is None:
            continue
        pattern = re.compile(rf"(<!-- {name}:START -->\n).*?(<!-- {name}:END -->)", re.S)
        readme = pattern.sub(lambda m: m.group(1) + fn(data) + "\n" + m.group(2), readme)
    return readme


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="exit 1 if README.md differs from the rendering")
    args = p.parse_args(argv)
    path = ROOT / "README.md"
    old = path.read_text()
    new = render(old)
    if args.check:
        if new != old:
            print("README.md is stale: run python benchmarks/readme_tables.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
