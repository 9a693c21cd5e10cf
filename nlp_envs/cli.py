"""The ``nlp-envs`` command line.

``nlp-envs list``                       registered ids, spaces, dataset, split sizes, label names in id order
``nlp-envs play ENV_ID``                play an env by hand in the terminal (stdin may be piped)
``nlp-envs eval ENV_ID --agent random|majority [--split test] [--json]``
``nlp-envs eval RUN_DIR [--split test] [--json]``     a trained agent's saved policy
``nlp-envs train ENV_ID --algo ALGO ...``  transformer agent (reinforce, ppo, grpo, supervised) or SB3
``nlp-envs bench [learn|sweep|throughput|tables] ...``  the benchmark suite (``benchmarks/bench.py``)

``--env-kwarg KEY=VALUE`` (env kwargs) and ``--set KEY=VALUE`` (agent config) mean the same in ``train``,
``eval`` and ``bench`` (:mod:`nlp_envs.kv`); a wrong flag prints that subcommand's usage.
``nlp-envs docs [--out docs/envs] [--check]``  generate (or check) the env pages
``nlp-envs quickstart``                 the README's main job on the embedded default
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import nlp_envs
from nlp_envs.jsonable import json_default
from nlp_envs.kv import parse_kv as _parse_kv
from nlp_envs.registration import ENV_SPECS


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def parse_kv(items: list[str] | None, flag: str = "--env-kwarg") -> dict[str, Any]:
    """:func:`nlp_envs.kv.parse_kv` (``KEY=VALUE``, JSON values), a bad item as a one-line exit."""
    try:
        return _parse_kv(items, flag)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from nlp_envs.testing import env_available

    table = Table(title="nlp-envs registered environments")
    for col in ("id", "task", "dataset", "action space", "observation keys", "train/val/test", "labels (id order)"):
        table.add_column(col)
    rows = []
    for env_id, _, _, kwargs, desc in ENV_SPECS:
        ok, why = env_available(env_id)
        if not ok:
            rows.append({"id": env_id, "description": desc, "available": False, "reason": why})
            table.add_row(env_id, desc, str(kwargs.get("dataset")), "-", "-", f"[dim]{why}[/dim]", "-")
            continue
        env = gym.make(env_id)
        base = env.unwrapped
        sizes = {s: len(next(iter(cols.values()))) for s, cols in base.data.splits.items()}
        size_txt = "/".join(str(sizes.get(s, "-")) for s in ("train", "validation", "test"))
        # the label (tag) names in action-id order: the dataset's own list, else sorted (numerically
        # when every label is an integer), see nlp_envs.text_cls.label_vocabulary
        labels = getattr(base, "label_names", None) or getattr(base, "tag_names", None)
        labels = [str(n) for n in labels] if labels else None
        label_txt = "-" if not labels else ", ".join(f"{i}={n}" for i, n in enumerate(labels[:4])) + (
            f", ... ({len(labels)})" if len(labels) > 4 else "")
        rows.append({"id": env_id, "description": desc, "available": True, "dataset": base.data.name,
                     "action_space": repr(env.action_space), "observation_keys": list(env.observation_space.spaces),
                     "split_sizes": sizes, "labels": labels})
        table.add_row(env_id, desc, base.data.name, repr(env.action_space),
                      ", ".join(env.observation_space.spaces), size_txt, label_txt)
        env.close()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _console().print(table)
    return 0


#: Info keys that ``play`` averages over episodes, each read on the episode's last step (lean info has
#: them on every step, as running values) (label, present in which families).
_PLAY_METRICS = (
    ("correct", "accuracy"),        # classification, dialogue select, MCQA (each answer)
    ("entity_f1", "entity F1"),     # NER (end of sentence)
    ("f1", "F1"),                   # multi-label (end of episode)
    ("jaccard", "Jaccard"),         # multi-label
    ("score", None),                # dialogue reply: named by the env's reward_name
)


def _show(console: Any, text: Any) -> None:
    """Print env text verbatim (rich would read ``[train #3]`` as markup and drop it)."""
    console.print(str(text), markup=False, emoji=False, highlight=False, soft_wrap=True)


def cmd_play(args: argparse.Namespace) -> int:
    console = _console()
    kwargs = parse_kv(args.env_kwarg)
    if args.split is not None:
        kwargs["split"] = args.split
    text = bool(getattr(args, "text", False))  # --text: obs_mode="text", one line = the whole answer
    mode_kwargs = {"obs_mode": "text"} if text else {"render_mode": "ansi"}
    env = gym.make(args.env_id, **mode_kwargs, **kwargs)
    base = env.unwrapped
    interactive = sys.stdin.isatty()
    mode, typed, valid = (("text mode ", "the answer", "the accepted answers") if text
                          else ("", "an action", "the valid actions"))
    console.print(f"[bold]{args.env_id}[/bold] {mode}({base.data.name}, split {base.split}). "
                  f"Type {typed} and Enter; 'q' quits; '?' shows {valid}.")
    play_line = _play_answer if text else _play_actions
    returns: list[float] = []
    metrics: dict[str, list[float]] = {}
    for ep in range(args.episodes):
        obs, _ = env.reset(seed=None if ep else args.seed)
        episode_return = 0.0
        done = False
        console.print(f"\n[bold cyan]Episode {ep + 1}[/bold cyan]")
        _show(console, obs if text else env.render())
        while not done:
            if interactive:
                console.print("> ", end="")
            line = sys.stdin.readline()
            if not line:  # end of piped input
                console.print("\n(end of input)")
                return _play_summary(console, returns)
            if line.strip() in {"q", "quit", "exit"}:
                return _play_summary(console, returns)
            if line.strip() in {"?", "help"}:
                _show(console, base.text_codec.answer_formats if text else _action_help(base))
                continue
            steps = play_line(env, line.rstrip("\n"), console)
            if steps is None:
                continue
            for reward, term, trunc, info in steps:
                episode_return += float(reward)
                console.print(f"reward {float(reward):+.3f}   return {episode_return:.3f}", markup=False)
                if info.get("parse_error"):
                    _show(console, f"parse error: {info['parse_error']}")
                if term or trunc:
                    for key, _label in _PLAY_METRICS:  # the episode's score: its last step's info
                        if key in info:
                            metrics.setdefault(key, []).append(float(info[key]))
                    done = True
            if not text:
                _show(console, env.render())
            else:
                _show(console, f"gold answer: {base.gold_answer()}" if done else base.prompt())
        returns.append(episode_return)
        console.print(f"[bold]episode return: {episode_return:.3f}[/bold]")
        console.print("running: " + _running_text(base, returns, metrics))
    return _play_summary(console, returns)


def _play_actions(env: gym.Env, line: str, console: Any) -> list[tuple[Any, ...]] | None:
    """``play``: the actions a typed line means (``parse_actions``), stepped until the episode ends or one is
    refused; ``(reward, terminated, truncated, info)`` of each step, or None for a line that means nothing."""
    try:
        actions = env.unwrapped.parse_actions(line.strip())
    except ValueError as e:
        _show(console, e)
        return None
    steps = []
    for a in actions:
        try:
            _, reward, term, trunc, info = env.step(a)
        except gym.error.InvalidAction as e:  # e.g. a masked action with strict=True
            _show(console, e)
            break
        steps.append((reward, term, trunc, info))
        if term or trunc:
            break
    return steps


def _play_answer(env: gym.Env, line: str, console: Any) -> list[tuple[Any, ...]]:
    """``play --text``: the line is the whole answer, one text-mode step (a parse error is scored, not raised)."""
    _, reward, term, trunc, info = env.step(line)
    return [(reward, term, trunc, info)]


def _running_text(base: Any, returns: list[float], metrics: dict[str, list[float]]) -> str:
    """``N episodes, mean return R, accuracy A ...``: the metrics of the episodes played so far."""
    parts = [f"{len(returns)} episode{'s' if len(returns) != 1 else ''}", f"mean return {np.mean(returns):.3f}"]
    for key, label in _PLAY_METRICS:
        if metrics.get(key):
            name = label or str(getattr(base, "reward_name", key))
            parts.append(f"{name} {np.mean(metrics[key]):.3f}")
    return ", ".join(parts)


def _action_help(base: Any) -> str:
    """What ``parse_actions`` accepts (its docstring) and the names of the actions, if any."""
    doc = (type(base).parse_actions.__doc__ or "").strip()
    hint = " ".join(doc.replace("``", "").split()) if doc else f"an integer in [0, {base.action_space.n})"
    names = getattr(base, "label_names", None) or getattr(base, "tag_names", None)
    if names:
        hint += "\nactions: " + ", ".join(f"{i}={n}" for i, n in enumerate(names))
    return "type " + hint[0].lower() + hint[1:]


def _play_summary(console: Any, returns: list[float]) -> int:
    if returns:
        console.print(f"episodes: {len(returns)}, mean return: {np.mean(returns):.3f}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if args.set:
        raise SystemExit(
            f"error: --set {' '.join(args.set)}: --set changes how an agent trains, and eval trains nothing (a run "
            "is evaluated with its saved config; a baseline has none). Env settings go in --env-kwarg KEY=VALUE"
        )
    env_kwargs = parse_kv(args.env_kwarg)
    if args.data_dir:
        env_kwargs["data_dir"] = args.data_dir
    target = args.target
    if Path(target).is_dir() and (Path(target) / "run.json").exists():
        from nlp_envs.agents import load_policy
        from nlp_envs.agents.runfolder import RunError

        try:
            env_id, saved_kwargs, policy = load_policy(target)
        except RunError as e:  # a damaged or unfinished run folder: a message, not a traceback
            raise SystemExit(f"error: {e}") from None
        if args.env_id and args.env_id != env_id:
            if args.env_id not in gym.registry:
                raise SystemExit(f"--env-id {args.env_id!r} is not a registered id (see `nlp-envs list`)")
            if gym.spec(args.env_id).entry_point != gym.spec(env_id).entry_point:
                raise SystemExit(f"--env-id {args.env_id!r} is not the env class of the run's {env_id!r} "
                                 f"({gym.spec(env_id).entry_point}): its policy cannot act there")
            # the run's own data kwargs give way to the new id's registered ones
            saved_kwargs = {k: v for k, v in saved_kwargs.items() if k not in ("dataset", "split")}
            env_id = args.env_id
        unset = object()
        changed = {k: v for k, v in env_kwargs.items() if k != "split" and saved_kwargs.get(k, unset) != v}
        if changed:
            _check_same_spaces(env_id, saved_kwargs, {**saved_kwargs, **env_kwargs}, changed, split=args.split)
        env_kwargs = {**saved_kwargs, **env_kwargs}
        label = f"run {target}"
    else:
        if args.env_id and args.env_id != target:
            raise SystemExit("--env-id goes with a run directory; to evaluate a baseline, give the id as target")
        if target not in gym.registry:
            raise SystemExit(f"{target!r} is neither a registered env id nor a run directory (with run.json)")
        env_id = target
        if args.agent is None:
            raise SystemExit("give --agent random|majority to evaluate a baseline on an env id")
        from nlp_envs.agents.baselines import make_baseline

        policy = make_baseline(args.agent, env_id, seed=args.seed,
                               **{k: v for k, v in env_kwargs.items() if k != "split"})
        label = args.agent
    result = nlp_envs.evaluate(env_id, policy, split=args.split, num_envs=args.num_envs, **env_kwargs)
    result["agent"] = label
    if args.json:
        print(json.dumps(result, default=json_default))
    else:
        _print_metrics(result)
    return 0


def _check_same_spaces(env_id: str, saved: dict[str, Any], new: dict[str, Any], changed: dict[str, Any],
                       split: str = "test") -> None:
    """Refuse env kwargs that change the spaces the run's policy was trained on (``tokenizer=minilm`` on
    a run trained on the env's own vocabulary: ids beyond its embedding table). Both envs are built on
    the split to evaluate (an evaluation-only dataset such as ``arc-challenge`` has no train split)."""

    def spaces(kwargs: dict[str, Any]) -> tuple[Any, Any]:
        env = gym.make(env_id, disable_env_checker=True, **{**kwargs, "split": split})
        try:
            return env.observation_space, env.action_space
        finally:
            env.close()

    try:
        before = spaces(saved)
    except Exception:  # the run's own kwargs do not build here (e.g. a moved data_dir): nothing to compare
        return
    after = spaces(new)
    if before == after:
        return
    diffs = []
    for name, a, b in (("observation", before[0], after[0]), ("action", before[1], after[1])):
        if a == b:
            continue
        if isinstance(a, gym.spaces.Dict) and isinstance(b, gym.spaces.Dict):
            diffs += [f"{name} {k}: {a.spaces.get(k)} -> {b.spaces.get(k)}"
                      for k in sorted(set(a.spaces) | set(b.spaces)) if a.spaces.get(k) != b.spaces.get(k)]
        else:
            diffs.append(f"{name} space: {a} -> {b}")
    given = " ".join(f"{k}={v}" for k, v in changed.items())
    raise SystemExit(f"error: --env-kwarg {given} changes the spaces the run's policy was trained on "
                     f"({'; '.join(diffs)}): it cannot act there; drop it (the run's env kwargs: {saved})")


def _print_metrics(result: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"{result.get('env_id')} | {result.get('agent')} | split {result.get('split')}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in result.items():
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            table.add_row(k, f"{v:.4f}" if isinstance(v, (float, np.floating)) else str(v))
    _console().print(table)


def cmd_train(argv: list[str]) -> int:
    """Dispatch ``nlp-envs train ...`` to the transformer agents or to the SB3 baselines."""
    algo = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--algo"), None)
    algo = algo or next((a.split("=", 1)[1] for a in argv if a.startswith("--algo=")), None)
    resume = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--resume"), None)
    if algo is None and resume is not None and (Path(resume) / "run.json").exists():
        from nlp_envs.agents.runfolder import RunError, read_run_json

        try:
            algo = read_run_json(resume).get("algo")
        except RunError:  # damaged: nlp_envs.agents.train says so
            algo = None
    import importlib

    module = "nlp_envs.agents.sb3" if algo is not None and algo.startswith("sb3-") else "nlp_envs.agents.train"
    return int(importlib.import_module(module).main(argv) or 0)  # nlp_envs.agents.train's --help lists the algos


def cmd_bench(argv: list[str]) -> int:
    """``nlp-envs bench ...``: ``benchmarks/bench.py`` of the source checkout this package runs from."""
    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"
    if not bench.exists():
        print(f"nlp-envs bench needs a source checkout (git clone; pip install -e .): {bench} not found",
              file=sys.stderr)
        return 2
    import importlib.util

    sys.path.insert(0, str(bench.parents[1]))
    spec = importlib.util.spec_from_file_location("nlp_envs_bench", bench)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return int(module.main(argv) or 0)


def cmd_quickstart(args: argparse.Namespace) -> int:
    from nlp_envs.agents.quickstart import run

    return int(run(out=args.out, total_steps=args.total_steps, seed=args.seed) or 0)


def cmd_docs(args: argparse.Namespace) -> int:
    from nlp_envs.docs import generate_docs, render_docs, stale_pages

    if args.check:
        stale = stale_pages(args.out, render_docs())
        if stale:
            print(f"{len(stale)} stale page(s) in {args.out}: " + ", ".join(stale))
            out_opt = "" if args.out == "docs/envs" else f" --out {args.out}"
            print(f"regenerate them with `nlp-envs docs{out_opt}`")
            return 1
        print(f"{args.out} is up to date")
        return 0
    paths = generate_docs(args.out)
    print(f"wrote {len(paths)} pages to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; ``parser.subcommands`` maps each subcommand to its own parser (its usage is
    what a wrong flag of that subcommand prints)."""
    p = argparse.ArgumentParser(prog="nlp-envs", description="NLP tasks as Gymnasium environments.")
    p.add_argument("--version", action="version", version=f"nlp-envs {nlp_envs.__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    p.subcommands = sub.choices  # type: ignore[attr-defined]

    s = sub.add_parser("list", help="registered env ids with their spaces and split sizes")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")

    s = sub.add_parser("play", help="play an env by hand (reads actions from stdin)")
    s.add_argument("env_id")
    s.add_argument("--split", default=None, help="default: the id's registered split, else train")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--episodes", type=int, default=3)
    s.add_argument("--text", action="store_true",
                   help="text mode (obs_mode='text'): read the prompt, type the whole answer on one line")
    s.add_argument("--env-kwarg", action="append", metavar="KEY=VALUE",
                   help="env kwarg (JSON value, else string), repeatable")

    s = sub.add_parser("eval", help="evaluate a baseline on an env id, or a trained run directory")
    s.add_argument("target", help="env id, or a run directory holding run.json")
    s.add_argument("--agent", choices=["random", "majority"], help="baseline to evaluate on an env id")
    s.add_argument("--split", default="test")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--num-envs", type=int, default=64)
    s.add_argument("--data-dir", default=None, help="real-data folder (default $NLP_ENVS_DATA_DIR)")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.add_argument("--env-kwarg", action="append", metavar="KEY=VALUE",
                   help="env kwarg (JSON value, else string), repeatable; e.g. split=train[80%%:] or test_size=0.2")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="agent config field: accepted by train and bench; an error here (eval trains nothing)")
    s.add_argument("--env-id", default=None,
                   help="with a run directory: evaluate on this id of the same env class instead of the "
                        "run's (e.g. a MultiChoiceQA-ARCEasy-v0 run on MultiChoiceQA-ARCChallenge-v0)")

    sub.add_parser("train", add_help=False,
                   help="train an agent: --algo reinforce|ppo|grpo|supervised|sb3-ppo|sb3-a2c|sb3-dqn|"
                        "sb3-maskable-ppo (see `nlp-envs train --help`)")

    sub.add_parser("bench", add_help=False,
                   help="benchmark suite: env throughput and the learning grid (see `nlp-envs bench --help`)")

    s = sub.add_parser("docs", help="generate the env pages (docs/envs) from docstrings and live envs")
    s.add_argument("--out", default="docs/envs", help="output folder (default docs/envs)")
    s.add_argument("--check", action="store_true", help="write nothing; exit 1 listing stale pages")

    s = sub.add_parser("quickstart", help="the README main job: train on TextCls-v0, compare, plot")
    s.add_argument("--out", default="runs/quickstart")
    s.add_argument("--total-steps", type=int, default=None)
    s.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    if argv and argv[0] == "train":
        return cmd_train(argv[1:])
    if argv and argv[0] == "bench":
        return cmd_bench(argv[1:])
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # a wrong flag: that subcommand's usage, not the top-level one
        parser.subcommands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    handlers = {"list": cmd_list, "play": cmd_play, "eval": cmd_eval, "docs": cmd_docs,
                "quickstart": cmd_quickstart}
    return handlers[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
