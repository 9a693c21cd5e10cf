"""Early stopping of the supervised reference (nlp_envs/agents/supervised.py): stop, restore the best weights, resume,
no validation split, and generation's warm start. Tiny backbone, shrunken embedded corpora."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest
import torch

import nlp_envs  # noqa: F401
from nlp_envs.agents import load_policy, supervised
from nlp_envs.agents.config import make_config
from nlp_envs.agents.run import Run
from nlp_envs.agents.train import train
from nlp_envs.evaluation import evaluate

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZES = {"dataset_kwargs": {"sizes": {"train": 256, "validation": 64, "test": 64}}}
QUICK = {"num_envs": 16, "progress": False, "eval_envs": 64, "checkpoint_every": 0}


def _columns(out: Path) -> list[str]:
    with open(out / "metrics.csv", newline="") as f:
        return next(csv.reader(f))


def test_stops_early_and_restores_the_best_weights(tmp_path):
    out = tmp_path / "es"
    res = train("TextCls-v0", "supervised", total_steps=4096, out=str(out), env_kwargs=SIZES,
                eval_every=32, patience=1, **QUICK)
    assert res["early_stopping"] == "on" and res["stopped_early"] is True
    assert res["step"] < 4096
    curve = res["val_curve"]
    assert res["best_examples"] <= res["step"] and curve[-1][0] == res["step"]
    assert [e for e, _ in curve] == sorted({e for e, _ in curve})  # one evaluation per point, in order
    best = max(v for _, v in curve)
    assert res["val_accuracy"] == best and [e for e, v in curve if v == best][0] == res["best_examples"]
    assert curve[-1][1] <= best and res["best_epoch"] == res["best_examples"] / 256
    assert "val/accuracy" in _columns(out)
    # the checkpoint holds the restored weights: its test and validation metrics are the reported ones
    env_id, env_kwargs, policy = load_policy(out)
    test = evaluate(env_id, policy, split="test", num_envs=64, seed=0, **env_kwargs)
    val = evaluate(env_id, policy, split="validation", num_envs=64, seed=0, **env_kwargs)
    assert test["accuracy"] == res["eval/accuracy"] and val["accuracy"] == res["val_accuracy"]
    assert [p.name for p in out.glob("best-*.safetensors")] == [f"best-{res['best_examples']}.safetensors"]
    saved = json.loads((out / "final_metrics.json").read_text())
    assert saved["best_examples"] == res["best_examples"] and saved["val_curve"] == curve


def test_val_stride_validates_on_every_kth_example_and_tests_on_all(tmp_path, monkeypatch):
    seen: list[tuple[str, int, int]] = []
    evaluate_ = Run.evaluate

    def spy(self, split, stride=1):
        metrics = evaluate_(self, split, stride)
        seen.append((split, stride, metrics["num_examples"]))
        return metrics

    monkeypatch.setattr(Run, "evaluate", spy)
    res = train("TextCls-v0", "supervised", total_steps=64, out=str(tmp_path / "r"), env_kwargs=SIZES,
                eval_every=32, patience=5, val_stride=4, **QUICK)
    assert res["validation_stride"] == 4 and len(res["val_curve"]) == 2
    assert seen == [("validation", 4, 16), ("validation", 4, 16), ("test", 1, 64)]  # 64 validation examples / 4
    with pytest.raises(ValueError, match="val_stride=0"):
        make_config("supervised", val_stride=0)
    with pytest.raises(ValueError, match="warm_start_eval_every=0"):
        make_config("grpo", warm_start_eval_every=0)
    with pytest.raises(ValueError, match="warm_start_val_stride=0"):
        make_config("grpo", warm_start_val_stride=0)


def test_early_stopping_off_trains_exactly_total_steps(tmp_path):
    out = tmp_path / "off"
    res = train("TextCls-v0", "supervised", total_steps=96, out=str(out), env_kwargs=SIZES, early_stopping=False,
                eval_every=16, **{**QUICK, "eval_split": ""})
    assert res["step"] == 96 and res["early_stopping"] == "off"
    assert "best_examples" not in res and not any(c.startswith("val/") for c in _columns(out))
    assert not list(out.glob("best-*.safetensors"))


def test_budget_within_one_evaluation_interval_is_not_evaluated(tmp_path):
    res = train("TextCls-v0", "supervised", total_steps=64, out=str(tmp_path / "r"), env_kwargs=SIZES,
                **{**QUICK, "eval_split": ""})  # eval_every 0 = one pass over 256 examples > 64
    assert res["step"] == 64 and res["early_stopping"].startswith("not evaluated")


def test_env_without_validation_split_trains_the_whole_budget(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    rows = "".join(f"{w} {i % 7} word,{'ab'[i % 2]}\n" for i, w in enumerate(["red", "blue", "green"] * 12))
    (folder / "train.csv").write_text("text,label\n" + rows)
    (folder / "test.csv").write_text("text,label\n" + rows)
    with pytest.warns(UserWarning, match="no 'validation' split"):
        res = train("TextCls-v0", "supervised", total_steps=48, out=str(tmp_path / "run"),
                    env_kwargs={"dataset": str(folder)}, eval_every=16, **{**QUICK, "num_envs": 8})
    assert res["step"] == 48 and res["early_stopping"] == "unavailable (no validation split)"
    assert "eval/accuracy" in res and "best_examples" not in res


def test_resume_keeps_the_early_stopping_state(tmp_path, monkeypatch):
    kw = dict(total_steps=768, env_kwargs=SIZES, eval_every=64, patience=100, **{**QUICK, "checkpoint_every": 6})
    whole = train("TextCls-v0", "supervised", out=str(tmp_path / "whole"), **kw)
    # the same run, killed right after its checkpoint at iteration 24 (384 examples), then resumed
    save = Run.save_checkpoint

    def save_then_die(self):
        path = save(self)
        if self.iteration == 24:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(Run, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train("TextCls-v0", "supervised", out=str(tmp_path / "cut"), **kw)
    monkeypatch.setattr(Run, "save_checkpoint", save)
    resumed = train("TextCls-v0", "supervised", resume=str(tmp_path / "cut"))
    assert resumed["val_curve"] == whole["val_curve"] and resumed["best_examples"] == whole["best_examples"]
    assert resumed["eval/accuracy"] == whole["eval/accuracy"]


def test_main_metric_is_the_benchmarks_main_metric():
    spec = importlib.util.spec_from_file_location("bench", Path(__file__).parents[1] / "benchmarks" / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for env_id in ("TextCls-v0", "NerTag-v0", "DialogReply-v0", "DialogSelect-v0", "MultiLabelCls-v0", "MultiChoiceQA-v0"):
        assert supervised.main_metric(env_id) == bench.main_metric(env_id)


def test_warm_start_stops_on_validation_f1(tmp_path):
    cfg = make_config("ppo", num_envs=8, progress=False, warm_start_examples=2048, warm_start_eval_every=16)  # PPO: no early-stopping fields
    cfg.patience = 1  # read with getattr (default 3)
    sizes = {"dataset_kwargs": {"sizes": {"train": 32, "validation": 8, "test": 4}}}
    run = Run("DialogReply-v0", cfg, backbone="tiny", out=tmp_path / "gen", env_kwargs=sizes)
    supervised.warm_start(run)
    summary = run.state.warm_start.to_dict()
    assert summary["early_stopping"] == "on" and summary["best_examples"] <= summary["examples"] <= 2048
    assert summary["stopped_early"] is True and summary["examples"] < 2048
    assert summary["val_curve"][-1][1] <= summary["val_f1"] and len(summary["val_curve"]) == summary["examples"] // 16
    assert json.loads((tmp_path / "gen" / "warm_start.json").read_text()) == summary
    assert run.ref is not None
    run.logger.close()


def test_warm_start_lr_is_the_mle_rate_and_rl_gets_its_own_back(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="warm_start_lr"):
        make_config("ppo", warm_start_lr=0.0)
    cfg = make_config("ppo", num_envs=8, progress=False, warm_start_examples=32, warm_start_lr=5e-4, lr=2e-5)
    sizes = {"dataset_kwargs": {"sizes": {"train": 32, "validation": 8, "test": 4}}}
    run = Run("DialogReply-v0", cfg, backbone="tiny", out=tmp_path / "gen", env_kwargs=sizes)
    seen: list[float] = []
    step = run.optimizer.step

    def spy(*a, **k):  # the rates each MLE step of the warm start runs at
        seen.extend(g["lr"] for g in run.optimizer.param_groups)
        return step(*a, **k)

    monkeypatch.setattr(run.optimizer, "step", spy)
    supervised.warm_start(run)
    assert seen and set(seen) == {5e-4}
    assert {(g["lr"], g["base_lr"]) for g in run.optimizer.param_groups} == {(2e-5, 2e-5)}
    run.logger.close()


def test_warm_start_cpu_bf16_is_the_mle_precision_and_rl_gets_its_own_back(tmp_path, monkeypatch):
    from nlp_envs.agents import devices

    monkeypatch.setattr(devices, "cpu_computes_bf16", lambda: True)  # whatever this CPU is
    cfg = make_config("ppo", num_envs=8, progress=False, warm_start_examples=32, warm_start_cpu_bf16=True)
    sizes = {"dataset_kwargs": {"sizes": {"train": 32, "validation": 8, "test": 4}}}
    run = Run("DialogReply-v0", cfg, backbone="tiny", out=tmp_path / "gen", env_kwargs=sizes)
    seen: list[bool] = []
    score = run.policy.score_actions

    def spy(*a, **k):  # whether each MLE forward autocasts
        seen.append(torch.is_autocast_enabled("cpu"))
        return score(*a, **k)

    monkeypatch.setattr(run.policy, "score_actions", spy)
    supervised.warm_start(run)
    assert seen and set(seen) == {True}
    with run.amp:  # RL's own precision (cpu_bf16 False) is back
        assert not torch.is_autocast_enabled("cpu")
    run.logger.close()


def test_warm_start_from_a_supervised_run_is_the_same_fit_bit_for_bit(tmp_path):
    """``warm_start_from``: RL after a finished supervised run = RL after training that warm start in process
    (weights, optimizer and random states), and a run of other settings is refused, naming the field."""
    from safetensors.torch import load_file

    from nlp_envs.agents.runfolder import RunError

    common = {"seed": 3, "env_kwargs": SIZES, "use_recipe": False, **QUICK}
    rl = {"total_steps": 128, "warm_start_examples": 256, "warm_start_lr": 1e-3, "lr": 1e-4, "warm_start_patience": 2,
          "warm_start_eval_every": 64}
    a = train("DialogReply-v0", "grpo", out=str(tmp_path / "in-process"), **rl, **common)
    sup = tmp_path / "mle"
    train("DialogReply-v0", "supervised", total_steps=256, lr=1e-3, eval_every=64, patience=2, curve_points=2,
          out=str(sup), **common)  # test-curve evaluations in between change nothing
    b = train("DialogReply-v0", "grpo", out=str(tmp_path / "reused"), warm_start_from=str(sup), **rl, **common)
    wa = load_file(str(tmp_path / "in-process" / "checkpoint" / "model.safetensors"))
    wb = load_file(str(tmp_path / "reused" / "checkpoint" / "model.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a["eval"] == b["eval"]
    summary_a = json.loads((tmp_path / "in-process" / "warm_start.json").read_text())
    summary_b = json.loads((tmp_path / "reused" / "warm_start.json").read_text())
    assert summary_b.pop("from") == str(sup)
    summary_a.pop("val_seconds"), summary_b.pop("val_seconds")
    assert summary_a == summary_b and summary_a["early_stopping"] == "on"
    with pytest.raises(RunError, match=r"lr: 0\.001 vs 0\.0005.*patience: 2 vs 3"):
        train("DialogReply-v0", "grpo", out=str(tmp_path / "other"), warm_start_from=str(sup),
              **{**rl, "warm_start_lr": 5e-4, "warm_start_patience": 3}, **common)
    with pytest.raises(RunError, match=r"eval_every: 64 vs 32.*--set eval_every=32"):
        train("DialogReply-v0", "grpo", out=str(tmp_path / "other3"), warm_start_from=str(sup),
              **{**rl, "warm_start_eval_every": 32}, **common)
    with pytest.raises(RunError, match=r"val_stride: 1 vs 2; cpu_bf16: False vs True"):
        train("DialogReply-v0", "grpo", out=str(tmp_path / "other2"), warm_start_from=str(sup),
              **{**rl, "warm_start_val_stride": 2, "warm_start_cpu_bf16": True}, **common)
    with pytest.raises(ValueError, match="warm_start_examples=0"):
        make_config("grpo", warm_start_from=str(sup), warm_start_examples=0)
