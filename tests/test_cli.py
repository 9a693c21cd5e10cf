"""The nlp-envs command line: list, eval (baselines and JSON), play driven by piped input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run_cli(*args: str, stdin: str | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nlp_envs.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout)


def test_list_json_includes_every_declared_id() -> None:
    from nlp_envs.registration import ENV_IDS

    out = run_cli("list", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["id"] for r in rows] == list(ENV_IDS)
    textcls = next(r for r in rows if r["id"] == "TextCls-v0")
    assert textcls["split_sizes"] == {"train": 4000, "validation": 500, "test": 1000}


@pytest.mark.parametrize("agent", ["random", "majority"])
def test_eval_baseline_json(agent: str) -> None:
    out = run_cli("eval", "TextCls-v0", "--agent", agent, "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["num_examples"] == 1000 and result["split"] == "test" and result["agent"] == agent
    assert 0.0 <= result["accuracy"] <= 0.2  # 16 balanced intents: chance is 1/16


def test_eval_unknown_target_is_clear() -> None:
    out = run_cli("eval", "NoSuchEnv-v0", "--agent", "random")
    assert out.returncode != 0
    assert "neither a registered env id nor a run directory" in out.stderr


def test_play_with_piped_input() -> None:
    # a wrong label name, a help request, then label numbers; input ends before the third episode ends
    out = run_cli("play", "TextCls-v0", "--episodes", "3", stdin="not_a_label\n?\n0\n1\n")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "is not a label" in text
    assert "actions: 0=" in text
    assert text.count("episode return:") == 2
    assert "gold:" in text and "chosen:" in text
    assert "(end of input)" in text


# -- one CLI vocabulary (issue 17, item 6) ---------------------------------------------------------

import importlib.util  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_parse_kv_is_shared_and_json_else_string() -> None:
    from nlp_envs.kv import parse_kv

    assert parse_kv(["max_length=32", "test_size=0.2", "strict=true", "split=train[80%:]", "x=null", "a=b=c"]) == {
        "max_length": 32, "test_size": 0.2, "strict": True, "split": "train[80%:]", "x": None, "a": "b=c"}
    assert parse_kv(["k=1", "k=2"]) == {"k": 2}  # the last one wins
    for bad in ("max_length", "=3"):
        with pytest.raises(ValueError, match="--env-kwarg expects KEY=VALUE"):
            parse_kv([bad])
    import inspect

    import nlp_envs.agents.sb3
    import nlp_envs.agents.train

    for module in (nlp_envs.agents.train, nlp_envs.agents.sb3):  # the agents do not import the CLI (the top floor)
        assert "nlp_envs.cli" not in inspect.getsource(module)


@pytest.mark.parametrize("argv, prog", [
    (["eval", "TextCls-v0", "--agent", "random", "--bogus"], "nlp-envs eval"),
    (["list", "--bogus"], "nlp-envs list"),
    (["play", "TextCls-v0", "--bogus", "1"], "nlp-envs play"),
    (["train", "TextCls-v0", "--bogus"], "nlp-envs train"),
    (["train", "TextCls-v0", "--algo", "sb3-ppo", "--bogus"], "nlp-envs train"),
    (["bench", "tables", "--bogus"], "nlp-envs bench"),
])
def test_wrong_flag_prints_the_subcommands_usage(argv: list[str], prog: str) -> None:
    out = run_cli(*argv)
    assert out.returncode == 2
    assert f"usage: {prog}" in out.stderr and "unrecognized arguments: --bogus" in out.stderr
    assert "usage: nlp-envs [-h]" not in out.stderr


def test_eval_set_is_a_clear_error() -> None:
    from nlp_envs.cli import main

    with pytest.raises(SystemExit, match="eval trains nothing.*--env-kwarg"):
        main(["eval", "TextCls-v0", "--agent", "random", "--set", "lr=1e-3"])


def test_eval_env_kwargs_carve_a_test_split_from_one_csv(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("text,label\n" + "".join(f"text {i} {'ab'[i % 2]},{'ab'[i % 2]}\n" for i in range(50)))
    out = run_cli("eval", "TextCls-v0", "--agent", "majority", "--json", "--env-kwarg", f"dataset={path}",
                  "--env-kwarg", "test_size=0.2")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["num_examples"] == 10
    out = run_cli("eval", "TextCls-v0", "--agent", "majority", "--json", "--split", "train[80%:]",
                  "--env-kwarg", f"dataset={path}")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["num_examples"] == 10


def _capture_train(monkeypatch: pytest.MonkeyPatch) -> dict:
    import nlp_envs.agents.train

    seen: dict = {}

    def fake_train(env_id, algo, **kw):
        seen.update(kw, env_id=env_id, algo=algo)
        return {"step": 0}

    monkeypatch.setattr(nlp_envs.agents.train, "train", fake_train)
    return seen


@pytest.mark.parametrize("argv, seed, total", [
    ([], 0, None),
    (["--seed", "3"], 3, None),
    (["--set", "seed=4"], 4, None),
    (["--seed", "5", "--set", "seed=5"], 5, None),  # the same value twice is fine
    (["--set", "total_steps=512"], 0, 512),
    (["--total-steps", "256", "--set", "total_steps=256"], 0, 256),
])
def test_train_seed_and_budget_either_way(monkeypatch: pytest.MonkeyPatch, argv: list[str], seed: int,
                                          total: int | None) -> None:
    import nlp_envs.agents.train

    seen = _capture_train(monkeypatch)
    assert nlp_envs.agents.train.main(["TextCls-v0", "--algo", "ppo", "--set", "lr=1e-3", "--env-kwarg", "max_length=32",
                              *argv]) == 0
    assert seen["seed"] == seed and seen["total_steps"] == total
    assert seen["lr"] == 1e-3
    assert seen["env_kwargs"] == {"max_length": 32}


@pytest.mark.parametrize("argv, match", [
    (["--seed", "1", "--set", "seed=2"], "--seed 1 and --set seed=2 disagree"),
    (["--total-steps", "100", "--set", "total_steps=200"], "--total-steps 100 and --set total_steps=200 disagree"),
    (["--set", "total_steps=0"], "must be >= 1"),
    (["--env-kwarg", "max_length"], "--env-kwarg expects KEY=VALUE"),
    (["--set", "no_such_field=1"], "unknown ppo setting"),
])
def test_train_conflicts_are_clear_errors(monkeypatch: pytest.MonkeyPatch, argv: list[str], match: str) -> None:
    import nlp_envs.agents.train

    _capture_train(monkeypatch)
    with pytest.raises(SystemExit, match=match):
        nlp_envs.agents.train.main(["TextCls-v0", "--algo", "ppo", *argv])


def test_sb3_seed_conflict_is_a_clear_error() -> None:
    from nlp_envs.agents import sb3

    with pytest.raises(SystemExit, match="--seed 1 and --set seed=2 disagree"):
        sb3.main(["TextCls-v0", "--seed", "1", "--set", "seed=2"])


def _bench():
    spec = importlib.util.spec_from_file_location("bench_cli_under_test", ROOT / "benchmarks" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_grid() -> dict:
    return {
        "agents": {"random": {"kind": "baseline"},
                   "ppo": {"kind": "transformer", "algo": "ppo", "backbone": "tiny", "set": {"num_envs": 8}},
                   "grpo": {"kind": "transformer", "algo": "grpo", "backbone": "tiny"},
                   "sb3-ppo": {"kind": "sb3", "algo": "sb3-ppo"}},
        "blocks": [{"name": "b", "envs": ["TextCls-v0"], "agents": ["random", "ppo", "grpo", "sb3-ppo"], "seeds": [0],
                    "steps": {"transformer": 1024, "sb3": 2048}}],
    }


def test_bench_set_and_env_kwarg_go_into_the_cells_and_their_hash() -> None:
    bench = _bench()
    cfg = _tiny_grid()
    plain = {c["agent"]: c for c in bench.cells_of(cfg, quick=False)}
    changed = bench.apply_cli_settings(cfg, ["lr=1e-3"], ["max_length=32"], quick=False, only="__ppo,__random")
    cells = {c["agent"]: c for c in bench.cells_of(changed, quick=False)}
    assert cells["ppo"]["set"] == {"num_envs": 8, "lr": 1e-3} and cells["ppo"]["env_kwargs"] == {"max_length": 32}
    assert cells["ppo"]["hash"] != plain["ppo"]["hash"] and cells["random"]["hash"] != plain["random"]["hash"]
    assert cells["random"]["set"] == {} and cells["grpo"]["set"] == {}  # grpo was not selected
    assert cfg == _tiny_grid()  # the loaded config is not modified
    # the same settings give the same cells (a rerun skips them)
    again = bench.apply_cli_settings(cfg, ["lr=1e-3"], ["max_length=32"], quick=False, only="__ppo,__random")
    assert [c["hash"] for c in bench.cells_of(again, quick=False)] == [c["hash"] for c in cells.values()]


@pytest.mark.parametrize("sets, kwargs, only, match", [
    (["lr=1e-3"], [], None, "--set applies to transformer agents.*'sb3-ppo'.*--only"),
    (["seed=1"], [], "__ppo", "seed and budget come from the grid"),
    (["total_steps=10"], [], "__ppo", "seed and budget come from the grid"),
    (["group_size=4"], [], "__ppo,__grpo", "agent 'ppo': --set group_size: unknown ppo setting"),
    ([], ["split=test"], None, "trains on the train split and is tested on test"),
    ([], ["oops"], None, "--env-kwarg expects KEY=VALUE"),
])
def test_bench_settings_that_would_break_cells_are_errors(sets: list[str], kwargs: list[str], only: str | None,
                                                          match: str) -> None:
    bench = _bench()
    with pytest.raises(ValueError, match=match):
        bench.apply_cli_settings(_tiny_grid(), sets, kwargs, quick=False, only=only)


def test_bench_cli_settings_need_their_own_out(tmp_path: Path) -> None:
    bench = _bench()
    with pytest.raises(SystemExit, match="give --out FOLDER"):
        bench.main(["learn", "--quick", "--set", "lr=1e-3"])
    with pytest.raises(SystemExit, match="throughput trains no agent"):
        bench.main(["throughput", "--env-kwarg", "max_length=32", "--out", str(tmp_path)])


def test_bench_env_kwarg_runs_a_cell_with_it(tmp_path: Path) -> None:
    from nlp_envs.cli import main

    out = tmp_path / "results"
    rc = main(["bench", "learn", "--quick", "--only", "TextCls-v0__random", "--env-kwarg", "max_length=32",
               "--out", str(out), "--runs", str(tmp_path / "runs")])
    cell = json.loads((out / "cells" / "TextCls-v0__random__s0.json").read_text())
    assert cell["status"] == "ok" and cell["env_kwargs"] == {"max_length": 32}
    assert rc in (0, 1)  # 1: the other quick cells are missing from this folder's tables
