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


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bench")
    rc = cli_main(["bench", "--quick", "--out", str(root / "results"), "--runs", str(root / "runs")])
    assert rc == 0, (root / "results" / "tables.md").read_text()
    return root


def test_quick_writes_every_cell(quick: Path) -> None:
    bench = _bench_module()
    cfg = bench.load_config(bench.DEFAULT_CONFIG)
    cells = bench.cells_of(cfg, quick=True)
    assert len(cells) >= 5
    for c in cells:
        r = json.loads((quick / "results" / "cells" / f"{bench.cell_name(c)}.json").read_text())
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


def test_quick_summary_tables_and_plots(quick: Path) -> None:
    out = quick / "results"
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
    throughput = json.loads((out / "throughput.json").read_text())
    assert throughput and "TextCls-v0" in json.dumps(throughput)


def test_rerun_skips_finished_cells(quick: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cells = sorted((quick / "results" / "cells").glob("*.json"))
    before = {p.name: p.stat().st_mtime_ns for p in cells}
    rc = cli_main(["bench", "learn", "--quick", "--out", str(quick / "results"), "--runs", str(quick / "runs")])
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
