"""The benchmark suite's quick mode (the CI smoke test of ``nlp-envs bench``): files produced, well-formed,
and a rerun recomputes nothing."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from nlp_envs.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_under_test", ROOT / "benchmarks" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_writes_every_cell(bench_quick_root: Path) -> None:
    bench = _bench_module()
    cfg = bench.load_config(bench.DEFAULT_CONFIG)
    cells = bench.cells_of(cfg, quick=True)
    assert len(cells) >= 5
    for c in cells:
        r = json.loads((bench_quick_root / "results" / "cells" / f"{bench.cell_name(c)}.json").read_text())
        assert r["status"] == "ok", r.get("error")
        assert r["hash"] == c["hash"]
        m = bench.main_metric(c["env_id"])
        assert 0.0 <= r["metrics"][m] <= 1.0
        assert r["metrics"]["split"] == "test" and r["metrics"]["num_examples"] > 0
        assert r["wall_seconds"] > 0 and r["peak_rss_mb"] > 50
        if c["kind"] == "baseline":
            assert r["env_steps"] == 0 and r["examples"] == 0
        elif c["algo"] == "supervised":
            assert r["examples"] >= c["budget"]
        else:
            assert r["env_steps"] >= c["budget"]
            assert len(r["curve"]) >= 2 and all(len(p) == 2 for p in r["curve"])


def test_quick_summary_tables_and_plots(bench_quick_root: Path) -> None:
    out = bench_quick_root / "results"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["quick"] is True and summary["errors"] == []
    assert summary["num_done"] == summary["num_cells"]
    env = summary["envs"]["TextCls-v0"]
    assert env["main_metric"] == "accuracy"
    assert {"random", "majority", "sb3-ppo", "ppo", "supervised"} <= set(env["agents"])
    sup, rnd = env["agents"]["supervised"], env["agents"]["random"]
    assert sup["metrics"]["accuracy"]["mean"] > rnd["metrics"]["accuracy"]["mean"]
    tables = (out / "tables.md").read_text()
    assert "## TextCls-v0" in tables and "| agent | test accuracy |" in tables
    assert "supervised (tiny transformer) | " in tables and summary["git_sha"] in tables
    for env_id in summary["envs"]:
        png = out / "curves" / f"{env_id}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert all(len(env["agents"][a]["test_curves"]) == 1 for a in ("ppo", "supervised"))  # grid.yml curve_points
    assert "to_095_sup" in env["agents"]["ppo"] and "examples to 0.95x sup." in tables
    png = out / "curves" / "TextCls-v0-efficiency.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    throughput = json.loads((out / "throughput.json").read_text())
    assert throughput and "TextCls-v0" in json.dumps(throughput)


def test_rerun_skips_finished_cells(bench_quick_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cells = sorted((bench_quick_root / "results" / "cells").glob("*.json"))
    before = {p.name: p.stat().st_mtime_ns for p in cells}
    root = bench_quick_root
    rc = cli_main(["bench", "learn", "--quick", "--out", str(root / "results"), "--runs", str(root / "runs")])
    assert rc == 0
    assert f"{len(cells)} already done, 0 to run" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in cells} == before


def test_config_errors_name_the_problem(tmp_path: Path) -> None:
    bench = _bench_module()
    bad = tmp_path / "grid.yml"
    bad.write_text("agents:\n  ppo: {kind: transformer, algo: ppo}\nblocks:\n"
                   "  - {name: b, envs: [TextCls-v0], agents: [ppo, nope], seeds: [0], steps: {transformer: 8}}\n")
    with pytest.raises(ValueError, match="uses agent 'nope'"):
        bench.load_config(bad)
    bad.write_text("agents:\n  ppo: {kind: transformer, algo: ppo}\nblocks:\n"
                   "  - {name: b, envs: [TextCls-v0], agents: [ppo], seeds: [0], steps: {sb3: 8}}\n")
    with pytest.raises(ValueError, match="no steps.transformer budget"):
        bench.load_config(bad)


def test_full_grid_config_is_valid() -> None:
    bench = _bench_module()
    cfg = bench.load_config(bench.DEFAULT_CONFIG)
    cells = bench.cells_of(cfg, quick=False)
    assert len({bench.cell_name(c) for c in cells}) == len(cells), "duplicate cells in benchmarks/grid.yml"
    for c in cells:
        bench.main_metric(c["env_id"])
    assert all(len(b["seeds"]) >= 3 for b in cfg["blocks"] if not b["name"].startswith("real data"))


def test_jobs_deal_cells_to_single_thread_workers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "grid.yml"
    cfg.write_text("agents:\n  random: {kind: baseline}\n  majority: {kind: baseline}\nblocks:\n"
                   "  - {name: b, envs: [TextCls-v0], agents: [random, majority], seeds: [0, 1], steps: {}}\n")
    out = tmp_path / "results"
    rc = cli_main(["bench", "learn", "--config", str(cfg), "--out", str(out), "--runs", str(tmp_path / "runs"),
                   "--jobs", "2"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "[w0] " in printed and "[w1] " in printed  # both workers ran cells
    cells = sorted((out / "cells").glob("*.json"))
    assert len(cells) == 4
    threads = max(1, (os.cpu_count() or 1) // 2)
    for path in cells:
        r = json.loads(path.read_text())
        assert r["status"] == "ok" and r["machine"]["torch_threads"] == threads
    summary = json.loads((out / "summary.json").read_text())  # the parent wrote the reports once, at the end
    assert summary["num_done"] == summary["num_cells"] == 4
    with pytest.raises(SystemExit, match="--jobs 0"):
        cli_main(["bench", "learn", "--config", str(cfg), "--out", str(out), "--jobs", "0"])


# ---------------------------------------------------------------------------------------------------------
# sample efficiency (curve_points, test curves, examples / time to 0.95x supervised): fake cells, no training
# ---------------------------------------------------------------------------------------------------------
def _efficiency_cfg(curve_points: int | None = 8) -> dict:
    cfg = {
        "agents": {
            "random": {"kind": "baseline", "label": "random"},
            "majority": {"kind": "baseline", "label": "majority"},
            "sb3-ppo": {"kind": "sb3", "algo": "sb3-ppo", "label": "SB3 PPO"},
            "ppo": {"kind": "transformer", "algo": "ppo", "backbone": "tiny", "label": "PPO (tiny)"},
            "grpo": {"kind": "transformer", "algo": "grpo", "backbone": "tiny", "label": "GRPO (tiny)"},
            "reinforce": {"kind": "transformer", "algo": "reinforce", "backbone": "tiny", "set": {"curve_points": 2},
                          "label": "REINFORCE (tiny)"},
            "supervised": {"kind": "transformer", "algo": "supervised", "backbone": "tiny", "label": "supervised (tiny)"},
        },
        "blocks": [{"name": "b", "envs": ["TextCls-v0"], "seeds": [0, 1, 2],
                    "agents": ["random", "majority", "sb3-ppo", "ppo", "grpo", "reinforce", "supervised"],
                    "steps": {"sb3": 64, "transformer": 64, "supervised": 64}}],
    }
    if curve_points is not None:
        cfg["curve_points"] = curve_points
    return cfg


def test_grid_curve_points_go_into_transformer_sets_and_the_hash() -> None:
    bench = _bench_module()
    assert bench.load_config(bench.DEFAULT_CONFIG).get("curve_points") == 8
    cells = {(c["agent"], c["seed"]): c for c in bench.cells_of(_efficiency_cfg(8), quick=False)}
    plain = {(c["agent"], c["seed"]): c for c in bench.cells_of(_efficiency_cfg(None), quick=False)}
    other = {(c["agent"], c["seed"]): c for c in bench.cells_of(_efficiency_cfg(4), quick=False)}
    for agent in ("ppo", "grpo", "supervised"):
        assert cells[agent, 0]["set"]["curve_points"] == 8 and other[agent, 0]["set"]["curve_points"] == 4
        assert "curve_points" not in plain[agent, 0]["set"]
        assert len({cells[agent, 0]["hash"], plain[agent, 0]["hash"], other[agent, 0]["hash"]}) == 3
    assert cells["reinforce", 0]["set"] == {"curve_points": 2}  # the agent's own value wins
    assert cells["reinforce", 0]["hash"] == plain["reinforce", 0]["hash"]
    for agent in ("random", "majority", "sb3-ppo"):  # not transformer cells: untouched
        assert "curve_points" not in cells[agent, 0]["set"]
        assert cells[agent, 0]["hash"] == plain[agent, 0]["hash"]


def test_run_cell_keeps_the_test_curve_and_early_stopping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nlp_envs.agents.train

    bench = _bench_module()
    spec = next(c for c in bench.cells_of(_efficiency_cfg(), quick=False) if c["agent"] == "supervised")

    def fake_train(env_id: str, algo: str, **kw: object) -> dict:
        assert kw["curve_points"] == 8
        out = Path(str(kw["out"]))
        out.mkdir(parents=True)
        (out / "eval_curve.json").write_text(json.dumps([
            {"step": 32, "examples": 32, "train_seconds": 1.5, "metrics": {"accuracy": 0.5, "macro_f1": 0.4}},
            {"step": 64, "examples": 64, "train_seconds": 3.0, "metrics": {"accuracy": 0.7, "macro_f1": 0.6}}]))
        return {"step": 64, "eval": {"accuracy": 0.7}, "train_seconds": 3.0, "best_examples": 32, "best_epoch": 0.5,
                "stopped_early": True}

    monkeypatch.setattr(nlp_envs.agents.train, "train", fake_train)
    out = bench.run_cell(spec, tmp_path)
    assert out["test_curve"] == [[32, 1.5, 0.5], [64, 3.0, 0.7]]
    assert (out["best_examples"], out["best_epoch"], out["stopped_early"]) == (32, 0.5, True)
    assert out["examples"] == 64 and out["metrics"] == {"accuracy": 0.7}


def _agent(kind: str, metric: float, label: str, algo: str | None = None, backbone: str | None = "tiny",
           curves: list | None = None) -> dict:
    vals = [metric]
    return {"label": label, "kind": kind, "algo": algo, "backbone": backbone if kind == "transformer" else None,
            "budget": 64, "env_kwargs": {}, "seeds": [0, 1, 2][: max(1, len(curves or []))],
            "metrics": {"accuracy": {"mean": metric, "std": 0.0, "values": vals}}, "env_steps": 64.0,
            "examples": 64.0 if algo == "supervised" else 0.0, "eval_examples": 100,
            "wall_seconds": {"mean": 10.0, "values": [10.0]}, "peak_rss_mb": 500.0, "gpu": [], "curves": [],
            "test_curves": curves or [], "best_epoch": None, "stale": False}


def _efficiency_env() -> dict:
    reach_all = [[[4096, 10.0, 0.5], [12288, 45.0, 0.97], [16384, 60.0, 0.99]],
                 [[4096, 11.0, 0.96], [12288, 44.0, 0.97]],
                 [[4096, 10.0, 0.6], [12288, 46.0, 0.95]]]  # target 0.95 exactly: reached
    reach_some = [[[4096, 10.0, 0.5], [8192, 30.0, 0.96]], [[4096, 10.0, 0.5], [8192, 30.0, 0.90]],
                  [[4096, 10.0, 0.96], [8192, 30.0, 0.96]]]
    reach_none = [[[4096, 10.0, 0.5], [8192, 30.0, 0.9]], [[4096, 10.0, 0.5], [8192, 30.0, None]]]
    sup_curves = [[[1024, 2.0, 0.9], [2048, 4.0, 1.0]]] * 3
    return {"main_metric": "accuracy", "second_metric": "", "published": None, "agents": {
        "random": _agent("baseline", 0.1, "random"),
        "majority": _agent("baseline", 0.2, "majority"),
        "sb3-ppo": _agent("sb3", 0.8, "SB3 PPO", algo="sb3-ppo"),
        "ppo": _agent("transformer", 0.97, "PPO (tiny)", algo="ppo", curves=reach_all),
        "grpo": _agent("transformer", 0.9, "GRPO (tiny)", algo="grpo", curves=reach_some),
        "reinforce": _agent("transformer", 0.9, "REINFORCE (tiny)", algo="reinforce", curves=reach_none),
        "ppo-nocurve": _agent("transformer", 0.9, "PPO (no curve)", algo="ppo"),
        "supervised": _agent("transformer", 1.0, "supervised (tiny)", algo="supervised", curves=sup_curves),
        "supervised-big": _agent("transformer", 1.2, "supervised (big)", algo="supervised", backbone="big"),
    }}


def test_to_095_sup_all_some_and_none_reached() -> None:
    bench = _bench_module()
    e = _efficiency_env()
    bench.add_efficiency(e)
    a = e["agents"]
    assert a["ppo"]["to_095_sup"] == {  # the first point at or above 0.95 x 1.0, per seed
        "target": pytest.approx(0.95), "reference": "supervised (tiny)", "reached": 3, "seeds": 3,
        "examples": pytest.approx((12288 + 4096 + 12288) / 3), "seconds": pytest.approx((45 + 11 + 46) / 3)}
    assert a["grpo"]["to_095_sup"]["reached"] == 2 and a["grpo"]["to_095_sup"]["seeds"] == 3
    assert a["grpo"]["to_095_sup"]["examples"] == pytest.approx((8192 + 4096) / 2)
    assert a["grpo"]["to_095_sup"]["seconds"] == pytest.approx(20.0)
    none = a["reinforce"]["to_095_sup"]
    assert (none["reached"], none["seeds"], none["examples"], none["seconds"]) == (0, 2, None, None)
    for name in ("random", "majority", "sb3-ppo", "ppo-nocurve", "supervised", "supervised-big"):
        assert "to_095_sup" not in a[name]
    # another backbone without its own supervised reference: the best one (supervised-big, 1.2)
    e = _efficiency_env()
    e["agents"]["ppo"]["backbone"] = "minilm"
    bench.add_efficiency(e)
    assert e["agents"]["ppo"]["to_095_sup"]["target"] == pytest.approx(0.95 * 1.2)
    assert e["agents"]["ppo"]["to_095_sup"]["reached"] == 0
    # no supervised reference at all: nothing to compare with
    e = _efficiency_env()
    del e["agents"]["supervised"], e["agents"]["supervised-big"]
    bench.add_efficiency(e)
    assert not any("to_095_sup" in x for x in e["agents"].values())


def test_tables_show_examples_and_time_to_095_sup() -> None:
    bench = _bench_module()
    e = _efficiency_env()
    e["agents"]["ppo"]["test_curves"] = [[[4096, 10.0, 0.5], [12288, 45.0, 0.97]]] * 3
    bench.add_efficiency(e)
    table = bench.env_table("TextCls-v0", e)
    head = table.splitlines()[0]
    assert "| examples to 0.95x sup. | time to 0.95x sup. (s) |" in head
    for col in ("test accuracy", "budget", "seeds", "wall-clock (s)", "peak RSS (MB)"):  # the existing columns
        assert f"| {col} |" in head
    cols = [c.strip() for c in head.strip("|").split("|")]
    ex, sec = cols.index("examples to 0.95x sup."), cols.index("time to 0.95x sup. (s)")
    rows = {r.strip("|").split("|")[0].strip(): [c.strip() for c in r.strip("|").split("|")]
            for r in table.splitlines()[2:]}
    assert all(len(r) == len(cols) for r in rows.values())
    assert (rows["PPO (tiny)"][ex], rows["PPO (tiny)"][sec]) == ("12,288", "45")
    assert (rows["GRPO (tiny)"][ex], rows["GRPO (tiny)"][sec]) == ("6,144 (2/3)", "20 (2/3)")
    assert (rows["REINFORCE (tiny)"][ex], rows["REINFORCE (tiny)"][sec]) == ("not reached", "not reached")
    for label in ("random", "SB3 PPO", "PPO (no curve)", "supervised (tiny)"):
        assert (rows[label][ex], rows[label][sec]) == ("-", "-")


def test_efficiency_plot_is_written(tmp_path: Path) -> None:
    bench = _bench_module()
    e = _efficiency_env()
    bench.add_efficiency(e)
    bare = {**_efficiency_env(), "agents": {"random": _agent("baseline", 0.1, "random")}}
    summary = {"envs": {"TextCls-v0": e, "TextCls-Banking77-v0": bare}}
    paths = bench.plot_efficiency(summary, tmp_path / "curves")
    png = tmp_path / "curves" / "TextCls-v0-efficiency.png"
    assert paths == [png]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert not (tmp_path / "curves" / "TextCls-Banking77-v0-efficiency.png").exists()  # no test curves: skipped


def test_summary_keeps_test_curves_best_epoch_and_efficiency(tmp_path: Path) -> None:
    """Fake cell files through summarize -> tables -> plots (write_reports), as `bench tables` would."""
    bench = _bench_module()
    cfg = _efficiency_cfg()
    cfg["agents"] = {k: v for k, v in cfg["agents"].items() if k in ("random", "ppo", "supervised")}
    cfg["blocks"][0]["agents"] = ["random", "ppo", "supervised"]
    cells_dir = tmp_path / "cells"
    cells_dir.mkdir()
    for c in bench.cells_of(cfg, quick=False):
        acc = {"random": 0.1, "ppo": 0.9, "supervised": 0.8 + 0.05 * c["seed"]}[c["agent"]]
        r = {**c, "status": "ok", "metrics": {"accuracy": acc, "num_examples": 100, "split": "test"},
             "env_steps": 64 if c["agent"] == "ppo" else 0, "examples": 64 if c["agent"] == "supervised" else 0,
             "curve": [], "wall_seconds": 5.0, "peak_rss_mb": 400.0, "git_sha": "abc", "machine": {}}
        if c["kind"] == "transformer":
            r["test_curve"] = [[16, 1.0, acc / 2], [32 + c["seed"] * 16, 2.0 + c["seed"], acc]]
        if c["agent"] == "supervised":
            r.update(best_examples=32 + c["seed"], best_epoch=1.0 + c["seed"], stopped_early=True)
        (cells_dir / f"{bench.cell_name(c)}.json").write_text(json.dumps(r))
    summary = bench.write_reports(cfg, tmp_path, quick=False, command="test")
    a = summary["envs"]["TextCls-v0"]["agents"]
    assert len(a["supervised"]["test_curves"]) == 3 and a["supervised"]["best_epoch"] == pytest.approx(2.0)
    assert a["ppo"]["best_epoch"] is None and a["ppo"]["algo"] == "ppo"
    eff = a["ppo"]["to_095_sup"]
    assert eff["target"] == pytest.approx(0.95 * 0.85) and (eff["reached"], eff["seeds"]) == (3, 3)
    assert eff["examples"] == pytest.approx(48) and eff["seconds"] == pytest.approx(3.0)
    assert json.loads((tmp_path / "summary.json").read_text())["envs"]["TextCls-v0"]["agents"]["ppo"]["to_095_sup"]
    tables = (tmp_path / "tables.md").read_text()
    assert "| 48 | 3 |" in tables and "best at epoch 2.0" in tables
    assert (tmp_path / "curves" / "TextCls-v0.png").exists()
    assert (tmp_path / "curves" / "TextCls-v0-efficiency.png").exists()


# ---------------------------------------------------------------------------------------------------------
# warm-start pairing and the shared cell list of the workers: specs only, no training
# ---------------------------------------------------------------------------------------------------------
def _pairing_cfg(sup_set: dict, sup_budget: int = 300) -> dict:
    return {
        "agents": {
            "supervised": {"kind": "transformer", "algo": "supervised", "backbone": "tiny", "set": sup_set},
            "grpo": {"kind": "transformer", "algo": "grpo", "backbone": "tiny", "recipe": False,
                     "set": {"warm_start_examples": 300, "warm_start_lr": 1.0e-3, "lr": 2.0e-5,
                             "warm_start_cpu_bf16": True}},  # as the supervised recipe's cpu_bf16
        },
        "blocks": [{"name": "gen", "envs": ["DialogReply-v0", "TextCls-v0"], "agents": ["supervised", "grpo"],
                    "seeds": [0, 1], "warm_start_from": "supervised",
                    "steps": {"transformer": 64, "supervised": sup_budget}}],
    }


def test_generation_rl_cells_reuse_the_supervised_cell_of_their_seed() -> None:
    bench = _bench_module()
    same = {"lr": 1.0e-3, "eval_every": 2000, "patience": 3}
    cells = {bench.cell_name(c): c for c in bench.cells_of(_pairing_cfg(same), quick=False)}
    sup = cells["DialogReply-v0__supervised__s1"]
    assert cells["DialogReply-v0__grpo__s1"]["warm_start_run"] == f"DialogReply-v0__supervised__s1-{sup['hash']}"
    assert "warm_start_run" not in cells["TextCls-v0__grpo__s1"]  # no warm start outside generation
    unpaired = _pairing_cfg(same)
    del unpaired["blocks"][0]["warm_start_from"]
    plain = {bench.cell_name(c): c for c in bench.cells_of(unpaired, quick=False)}
    assert plain["DialogReply-v0__grpo__s1"]["hash"] == cells["DialogReply-v0__grpo__s1"]["hash"]  # the same result
    with pytest.raises(ValueError, match=r"another fit .*eval_every: 1000 vs 2000"):
        bench.cells_of(_pairing_cfg({**same, "eval_every": 1000}), quick=False)
    with pytest.raises(ValueError, match=r"total_steps: 400 vs 300"):
        bench.cells_of(_pairing_cfg(same, sup_budget=400), quick=False)
    lacking = _pairing_cfg(same)
    lacking["blocks"][0]["agents"] = ["grpo"]
    with pytest.raises(ValueError, match="which the grid lacks"):
        bench.cells_of(lacking, quick=False)


def test_an_unpaired_cell_fails_only_the_runs_that_select_it(tmp_path: Path) -> None:
    """A sweep keeps blocks paired with the recipes of their day: reading the cell files (tables) and running other
    cells go on; running the drifted cell fails before any run, naming the mismatch."""
    bench = _bench_module()
    drifted = _pairing_cfg({"lr": 1.0e-3, "eval_every": 1000, "patience": 3})
    cells = {bench.cell_name(c): c for c in bench.cells_of(drifted, quick=False, strict=False)}
    assert "eval_every: 1000 vs 2000" in cells["DialogReply-v0__grpo__s0"]["unpaired"]
    assert "unpaired" not in cells["DialogReply-v0__supervised__s0"] and "unpaired" not in cells["TextCls-v0__grpo__s0"]
    with pytest.raises(ValueError, match=r"another fit .*eval_every: 1000 vs 2000.*\(and 1 more cells\)"):
        bench.run_grid(drifted, tmp_path / "out", tmp_path / "runs", quick=False, only="DialogReply-v0__grpo")
    assert not (tmp_path / "runs").exists()


def test_schedule_is_longest_first_with_each_warm_start_before_its_users(tmp_path: Path) -> None:
    bench = _bench_module()
    cells = [{"env_id": "E", "agent": a, "seed": 0} for a in ("rl", "short", "sup", "new")]
    cells[0]["warm_start_cell"] = "E__sup__s0"
    for c, wall in zip(cells[:3], (500, 10, 200)):
        (tmp_path / f"{bench.cell_name(c)}.json").write_text(json.dumps({"wall_seconds": wall}))
    order = [c["agent"] for c in bench.schedule(cells, tmp_path)]
    assert order == ["new", "sup", "rl", "short"]  # never run first; rl (500 s) waits for its warm start
