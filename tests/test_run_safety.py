"""Run folders are safe to be handed and hard to lose (issue 16): fault injection on checkpoints and runs.

* No file of a run folder runs code: a crafted pickle (``data_order.pt``, an older checkpoint's
  ``.pt`` files, SB3's ``policy.pth``, cloudpickled ``:serialized:`` fields of ``model.zip``) is refused
  or never read; each test plants a marker-writing payload, checks that the payload is live (plain
  ``pickle.loads`` / SB3's own ``load`` write the marker) and that our loaders leave the marker absent.
* Every damaged checkpoint file (deleted, truncated, garbage; also behind a manifest that matches it)
  ends in a :class:`CheckpointError` naming the file, which suggests ``checkpoint.prev/`` when intact.
* ``--out`` never overwrites a run; a run killed (``kill -9``) before its first checkpoint restarts from
  its saved settings with a message; zero or negative budgets fail for every algorithm; the first
  checkpoint comes after ``checkpoint_seconds``; eval refuses env kwargs that change the run's spaces.

CPU-small: one tiny PPO run and one tiny SB3 PPO run per module, copied for each fault.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from nlp_envs.agents.runfolder import PICKLE_SUFFIXES, CheckpointError, RunError, load_state, save_state, write_manifest
from tests.helpers import TINY_ENV_KWARGS, TINY_PPO_SETTINGS, TINY_SB3_HP, TINY_SIZES

ALGOS = ("reinforce", "ppo", "grpo", "supervised", "sb3-ppo", "sb3-a2c", "sb3-dqn", "sb3-maskable-ppo")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Payload:
    """Unpickling this writes ``marker``: the harmless stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('payload ran')",))


def _live(payload: bytes, marker: Path) -> None:
    """The payload does run when unpickled (so its absence later means it was not unpickled)."""
    pickle.loads(payload)
    assert marker.exists()
    marker.unlink()


def _copy(src: Path, tmp_path: Path, name: str = "run") -> Path:
    dst = tmp_path / name
    shutil.copytree(src, dst)
    return dst


def _resume(run: Path, **kw):
    from nlp_envs.agents.train import train

    return train(None, "ppo", resume=str(run), **kw)


# -- state files: JSON + safetensors, no pickle ------------------------------------------------------
def test_state_round_trip_without_pickle(tmp_path):
    state = {"python": (3, tuple(range(5)), None), "numpy": ("MT19937", np.arange(6, dtype=np.uint32), 2, 0, 0.0),
             "big": 2**100, "nan": float("nan"), "ints": {0: {"step": torch.tensor(3.0), "m": torch.ones(2, 3)}},
             "arrays": [np.zeros((2, 0), dtype=np.int64), np.array([True, False])], "scalar": np.float32(1.5),
             "__t": "user key"}
    paths = save_state(state, tmp_path, "s")
    assert [p.name for p in paths] == ["s.json", "s.safetensors"]
    back = load_state(tmp_path, "s")
    assert back["python"] == state["python"] and back["big"] == 2**100 and np.isnan(back["nan"])
    assert back["numpy"][0] == "MT19937" and back["numpy"][1].dtype == np.uint32
    assert np.array_equal(back["numpy"][1], state["numpy"][1])
    assert torch.equal(back["ints"][0]["m"], torch.ones(2, 3)) and back["ints"][0]["step"].shape == ()
    assert back["arrays"][0].shape == (2, 0) and back["arrays"][1].dtype == bool
    assert back["scalar"] == np.float32(1.5) and type(back["scalar"]) is np.float32 and back["__t"] == "user key"
    with pytest.raises(TypeError, match="cannot be saved without pickle"):
        save_state({"f": Payload(tmp_path / "m")}, tmp_path, "bad")
    with pytest.raises(TypeError, match="dtype object"):
        save_state({"a": np.array([None])}, tmp_path, "bad")
    (tmp_path / "t.json").write_text(json.dumps({"format": "nlp-envs-state/1",
                                                 "value": {"__t": "ndarray", "dtype": "|O", "shape": [1], "b64": ""}}))
    with pytest.raises(CheckpointError, match="t.json"):
        load_state(tmp_path, "t")


def test_checkpoint_holds_no_pickle(finished_ppo_run):
    ckpt = finished_ppo_run / "checkpoint"
    files = sorted(p.relative_to(ckpt).as_posix() for p in ckpt.rglob("*") if p.is_file())
    assert not [f for f in files if f.endswith(PICKLE_SUFFIXES)], files
    assert {"model.safetensors", "optimizer.safetensors", "optimizer.json", "rng.json", "data_order.json",
            "config.json", "trainer_state.json", "manifest.json"} <= set(files)
    listed = json.loads((ckpt / "manifest.json").read_text())["files"]
    assert sorted(listed) == [f for f in files if f != "manifest.json"]
    assert not (finished_ppo_run / "checkpoint.prev").exists()  # a finished run keeps its final checkpoint only
    assert json.loads((finished_ppo_run / "run.json").read_text())["config"]["num_envs"] == 8


# -- crafted pickles never run -----------------------------------------------------------------------
def test_planted_data_order_pt_is_refused_without_running(finished_ppo_run, tmp_path):
    from nlp_envs.agents.train import main

    marker = tmp_path / "marker"
    payload = pickle.dumps(Payload(marker))
    _live(payload, marker)
    run = _copy(finished_ppo_run, tmp_path)
    torch.save(Payload(marker), run / "checkpoint" / "data_order.pt")
    with pytest.raises(CheckpointError, match=r"data_order\.pt.*never loaded"):
        _resume(run, total_steps=24)
    with pytest.raises(SystemExit, match=r"error: .*data_order\.pt"):
        main(["--resume", str(run), "--total-steps", "24", "--no-progress"])
    assert not marker.exists()


def test_older_pickled_checkpoint_is_refused_but_still_evaluates(finished_ppo_run, tmp_path):
    """A checkpoint of an older version (optimizer.pt, rng.pt, data_order.pt, no manifest): training
    refuses it without opening a pickle; ``nlp-envs eval`` reads only its model.safetensors."""
    from nlp_envs.agents import load_policy

    marker = tmp_path / "marker"
    run = _copy(finished_ppo_run, tmp_path)
    ckpt = run / "checkpoint"
    for name in ("optimizer", "rng", "data_order"):
        for f in ckpt.glob(f"{name}.*"):
            f.unlink()
        torch.save(Payload(marker), ckpt / f"{name}.pt")
    (ckpt / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="older nlp-envs.*never loaded"):
        _resume(run, total_steps=24)
    env_id, _, policy = load_policy(run)
    assert env_id == "TextCls-v0" and callable(policy)
    assert not marker.exists()


def _rewrite_zip(path: Path, change) -> None:
    """Rewrite the zip at ``path`` with ``change(name, bytes) -> bytes`` applied to every entry."""
    with zipfile.ZipFile(path) as z:
        entries = [(info, z.read(info.filename)) for info in z.infolist()]
    with zipfile.ZipFile(path, "w") as z:
        for info, data in entries:
            z.writestr(info, change(info.filename, data))


def _set_checksum(run: Path) -> None:
    """Record the crafted zip's hash in run.json (an attacker edits both: the checksum is no defence)."""
    import hashlib

    info = json.loads((run / "run.json").read_text())
    info["model_sha256"] = hashlib.sha256((run / "model.zip").read_bytes()).hexdigest()
    (run / "run.json").write_text(json.dumps(info))


def test_sb3_serialized_fields_never_unpickled(finished_sb3_run, tmp_path):
    """Every ``:serialized:`` field of model.zip's data (and one extra) becomes a payload: our loader
    never reads them (same predictions as the genuine model), SB3's own load runs them."""
    import gymnasium as gym

    from nlp_envs.agents import sb3
    from nlp_envs.cli import main as cli_main

    marker = tmp_path / "marker"
    payload = pickle.dumps(Payload(marker))
    _live(payload, marker)
    venv = gym.make_vec("TextCls-v0", num_envs=8, vectorization_mode="vector_entry_point", split="test",
                        **TINY_ENV_KWARGS)
    obs, _ = venv.reset(seed=2)
    _, _, genuine = sb3.load_sb3_policy(finished_sb3_run)
    want, _ = genuine.predict(obs, deterministic=True)

    run = _copy(finished_sb3_run, tmp_path)
    crafted = {":serialized:": base64.b64encode(payload).decode()}

    def poison(name: str, data: bytes) -> bytes:
        if name != "data":
            return data
        fields = json.loads(data)
        serialized = [k for k, v in fields.items() if isinstance(v, dict) and ":serialized:" in v]
        assert {"observation_space", "action_space", "policy_class"} <= set(serialized), serialized
        fields.update({k: crafted for k in serialized}, evil=crafted)
        return json.dumps(fields).encode()

    _rewrite_zip(run / "model.zip", poison)
    _set_checksum(run)
    _, _, model = sb3.load_sb3_policy(run)
    got, _ = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(got, want)
    assert cli_main(["eval", str(run), "--json", "--num-envs", "8"]) == 0
    assert not marker.exists()
    with pytest.raises(Exception):  # noqa: B017  SB3's own load: the payload runs (and then the load fails)
        sb3._algo_class("sb3-ppo").load(run / "model.zip", device="cpu")
    assert marker.exists(), "the planted payload is not live: the test above proves nothing"


@pytest.mark.parametrize("entry", ["policy.pth", "policy.optimizer.pth", "pytorch_variables.pth"])
def test_sb3_pickled_tensor_entry_is_refused(finished_sb3_run, tmp_path, entry):
    from nlp_envs.agents import sb3

    marker = tmp_path / "marker"
    run = _copy(finished_sb3_run, tmp_path)
    buf = io.BytesIO()
    torch.save({"x": Payload(marker)}, buf)
    with zipfile.ZipFile(run / "model.zip") as z:
        assert entry in z.namelist(), z.namelist()
    _rewrite_zip(run / "model.zip", lambda name, data: buf.getvalue() if name == entry else data)
    _set_checksum(run)
    with pytest.raises(RunError, match=rf"model\.zip: entry {entry} is not a plain tensor file"):
        sb3.load_sb3_policy(run)
    assert not marker.exists()


@pytest.mark.parametrize("fault", ["edited", "not-a-zip", "missing", "run.json"])
def test_sb3_damaged_run_is_a_message(finished_sb3_run, tmp_path, fault):
    from nlp_envs.cli import main as cli_main

    run = _copy(finished_sb3_run, tmp_path)
    zip_path = run / "model.zip"
    if fault == "edited":  # a changed byte: the checksum in run.json catches it
        data = bytearray(zip_path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        zip_path.write_bytes(bytes(data))
        match = "SHA-256"
    elif fault == "not-a-zip":
        zip_path.write_bytes(b"garbage")
        _set_checksum(run)
        match = r"model\.zip is damaged"
    elif fault == "missing":
        zip_path.unlink()
        match = "did not finish"
    else:
        (run / "run.json").write_text('{"kind": "sb3", "algo": "sb3-ppo"')
        match = r"run\.json"
    with pytest.raises(SystemExit, match=match):
        cli_main(["eval", str(run)])


# -- damaged checkpoints name the file -------------------------------------------------------------
CHECKPOINT_FILES = ("model.safetensors", "config.json", "optimizer.safetensors", "optimizer.json", "rng.json",
                    "rng.safetensors", "data_order.json", "trainer_state.json", "manifest.json")


def _damage(path: Path, how: str) -> None:
    if how == "deleted":
        path.unlink()
    elif how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(b"\x00garbage\xff" * 7)


@pytest.mark.parametrize("how", ["deleted", "truncated", "garbage"])
@pytest.mark.parametrize("name", CHECKPOINT_FILES)
def test_damaged_checkpoint_file_is_named(finished_ppo_run, tmp_path, name, how):
    run = _copy(finished_ppo_run, tmp_path)
    _damage(run / "checkpoint" / name, how)
    with pytest.raises(CheckpointError) as err:
        _resume(run, total_steps=24)
    assert name in str(err.value) and "Traceback" not in str(err.value), str(err.value)
    assert "--overwrite" in str(err.value)  # no intact earlier checkpoint: what to do instead


@pytest.mark.parametrize("how", ["deleted", "truncated", "garbage"])
@pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
def test_eval_of_a_damaged_checkpoint_names_the_file(finished_ppo_run, tmp_path, name, how):
    from nlp_envs.cli import main as cli_main

    run = _copy(finished_ppo_run, tmp_path)
    _damage(run / "checkpoint" / name, how)
    with pytest.raises(SystemExit, match=rf"error: .*checkpoint/{name.replace('.', '[.]')}"):
        cli_main(["eval", str(run)])


@pytest.mark.parametrize("name", ["model.safetensors", "config.json", "optimizer.safetensors", "optimizer.json",
                                  "rng.json", "data_order.json", "trainer_state.json"])
def test_damage_behind_a_matching_manifest_is_named(finished_ppo_run, tmp_path, name):
    """The manifest is no defence (it can be rewritten): each loader still names the file it fails on."""
    run = _copy(finished_ppo_run, tmp_path)
    _damage(run / "checkpoint" / name, "garbage")
    write_manifest(run / "checkpoint")
    with pytest.raises(CheckpointError, match=name.replace(".", r"\.")):
        _resume(run, total_steps=24)


def test_damaged_checkpoint_suggests_the_previous_one(finished_ppo_run, tmp_path, capsys):
    run = _copy(finished_ppo_run, tmp_path)
    shutil.copytree(run / "checkpoint", run / "checkpoint.prev")  # as left while training
    _damage(run / "checkpoint" / "optimizer.safetensors", "truncated")
    with pytest.raises(CheckpointError) as err:
        _resume(run, total_steps=24)
    msg = str(err.value)
    assert "optimizer.safetensors" in msg and "checkpoint.prev (step 16) is intact" in msg, msg
    command = msg.splitlines()[-1].split("&& nlp-envs")[0]  # the suggested mv commands
    subprocess.run(command, shell=True, check=True)
    assert _resume(run, total_steps=24)["step"] == 24


def test_kill_between_the_two_renames_resumes_from_previous(tmp_path):
    """Checkpoints rotate (checkpoint -> checkpoint.prev), the first one comes after checkpoint_seconds
    even with checkpoint_every=0, and a run whose checkpoint/ vanished resumes from checkpoint.prev."""
    from nlp_envs.agents.config import make_config
    from nlp_envs.agents.run import Run

    cfg = make_config("ppo", total_steps=64, checkpoint_seconds=60.0,
                      **{**TINY_PPO_SETTINGS, "checkpoint_every": 0})
    run = Run("TextCls-v0", cfg, backbone="tiny", out=tmp_path / "run", env_kwargs=TINY_ENV_KWARGS)
    run.end_iteration(8, {})
    assert not (tmp_path / "run" / "checkpoint").exists()  # not due yet
    run._last_save -= 61  # a minute later
    run.end_iteration(8, {})
    state = json.loads((tmp_path / "run" / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 16
    run._last_save -= 61
    run.end_iteration(8, {})
    run.logger.close()
    assert json.loads((tmp_path / "run" / "checkpoint.prev" / "trainer_state.json").read_text())["step"] == 16
    shutil.rmtree(tmp_path / "run" / "checkpoint")  # killed between os.replace(final, prev) and the next
    res = _resume(tmp_path / "run", total_steps=32)
    assert res["step"] == 32
    with open(tmp_path / "run" / "metrics.csv", newline="") as f:
        assert [r["step"] for r in csv.DictReader(f)] == ["8", "16", "24", "32"]


def test_checkpoint_seconds_defaults_on():
    from nlp_envs.agents.config import make_config

    assert make_config("ppo").checkpoint_seconds > 0
    with pytest.raises(ValueError, match="checkpoint_seconds"):
        make_config("ppo", checkpoint_seconds=-1)


# -- runs are never lost ---------------------------------------------------------------------------
def _listing(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("algo", ["ppo", "supervised", "sb3-ppo", "sb3-dqn"])
def test_out_on_an_existing_run_is_refused(finished_ppo_run, tmp_path, algo):
    from nlp_envs.cli import main as cli_main

    run = _copy(finished_ppo_run, tmp_path)
    before = _listing(run)
    with pytest.raises(SystemExit, match="already holds a run: .*--overwrite"):
        cli_main(["train", "TextCls-v0", "--algo", algo, "--total-steps", "16", "--out", str(run)])
    assert _listing(run) == before


def test_overwrite_replaces_only_the_run(finished_ppo_run, tmp_path):
    from nlp_envs.agents.train import main

    run = _copy(finished_ppo_run, tmp_path)
    (run / "notes.txt").write_text("mine")
    old = (run / "checkpoint" / "model.safetensors").read_bytes()
    sets = [a for k, v in TINY_PPO_SETTINGS.items() if k != "progress" for a in ("--set", f"{k}={v}")]
    assert main(["TextCls-v0", "--algo", "ppo", "--total-steps", "8", "--seed", "5", "--out", str(run), "--overwrite",
                 "--no-progress", "--env-kwarg", "dataset_kwargs=" + json.dumps(TINY_SIZES), *sets]) == 0
    assert (run / "notes.txt").read_text() == "mine"
    assert (run / "checkpoint" / "model.safetensors").read_bytes() != old
    assert json.loads((run / "checkpoint" / "trainer_state.json").read_text())["step"] == 8


@pytest.mark.parametrize("budget", ["0", "-1"])
@pytest.mark.parametrize("algo", ALGOS)
def test_zero_or_negative_budget_fails(tmp_path, algo, budget):
    from nlp_envs.cli import main as cli_main

    out = tmp_path / "run"
    with pytest.raises(SystemExit, match=rf"error: .*{budget}.*must be >= 1"):
        cli_main(["train", "TextCls-v0", "--algo", algo, "--total-steps", budget, "--out", str(out)])
    assert not out.exists()


def test_api_budgets_fail(tmp_path):
    from nlp_envs.agents import sb3
    from nlp_envs.agents.train import train

    with pytest.raises(RunError, match="must be >= 1"):
        sb3.train("TextCls-v0", "sb3-ppo", total_steps=None, seed=0, out=tmp_path / "r",
                  overrides={**TINY_SB3_HP, "n_timesteps": 0})
    with pytest.raises(RunError, match="total_steps=-3 must be >= 1"):
        train("TextCls-v0", "reinforce", total_steps=-3, out=str(tmp_path / "r"))
    assert not (tmp_path / "r").exists()


def test_kill9_before_first_checkpoint_restarts_with_a_message(tmp_path, capsys):
    from nlp_envs.cli import main as cli_main

    out = tmp_path / "killed"
    sets = [a for k, v in {**TINY_PPO_SETTINGS, "checkpoint_every": 0, "checkpoint_seconds": 0}.items()
            if k != "progress" for a in ("--set", f"{k}={v}")]
    proc = subprocess.Popen([sys.executable, "-m", "nlp_envs.agents.train", "TextCls-v0", "--algo", "ppo", "--total-steps",
                             "10000000", "--seed", "4", "--out", str(out), "--no-progress", "--env-kwarg",
                             "dataset_kwargs=" + json.dumps(TINY_SIZES), *sets],
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if len((out / "metrics.csv").read_text().splitlines()) >= 3:
                break
        except OSError:
            pass
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert not (out / "checkpoint").exists() and (out / "run.json").exists()

    with pytest.raises(SystemExit, match="before its first checkpoint"):
        cli_main(["eval", str(out)])
    with pytest.raises(SystemExit, match="already holds a run"):
        cli_main(["train", "TextCls-v0", "--algo", "ppo", "--out", str(out)])
    capsys.readouterr()
    res = _resume(out, total_steps=16)
    assert "stopped before its first checkpoint; starting it again from step 0" in capsys.readouterr().err
    assert res["step"] == 16
    cfg = json.loads((out / "checkpoint" / "config.json").read_text())
    assert cfg["seed"] == 4 and cfg["num_envs"] == 8 and cfg["total_steps"] == 16
    with open(out / "metrics.csv", newline="") as f:
        assert [r["step"] for r in csv.DictReader(f)] == ["8", "16"]  # the killed run's rows are gone


def test_no_checkpoint_and_no_saved_config_is_a_message(tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"kind": "transformer", "env_id": "TextCls-v0", "env_kwargs": {},
                                              "algo": "ppo", "backbone": "tiny"}))
    with pytest.raises(RunError, match="no checkpoint.*--overwrite"):
        _resume(out)


@pytest.mark.parametrize("content", [None, "{not json", "[]"])
def test_damaged_run_json_is_a_message(tmp_path, content):
    from nlp_envs.agents.train import main

    out = tmp_path / "r"
    out.mkdir()
    if content is not None:
        (out / "run.json").write_text(content)
    with pytest.raises(SystemExit, match=r"error: .*run\.json|not a run directory"):
        main(["--resume", str(out)])
    if content is not None:
        from nlp_envs.cli import main as cli_main

        with pytest.raises(SystemExit, match=r"error: .*run\.json"):
            cli_main(["eval", str(out)])


def test_eval_refuses_env_kwargs_that_change_the_spaces(finished_ppo_run):
    import gymnasium as gym

    from nlp_envs.cli import main as cli_main

    try:
        gym.make("TextCls-v0", tokenizer="minilm", **TINY_ENV_KWARGS).close()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"the MiniLM tokenizer is not available offline: {e}")
    with pytest.raises(SystemExit, match=r"tokenizer=minilm changes the spaces.*input_ids"):
        cli_main(["eval", str(finished_ppo_run), "--env-kwarg", "tokenizer=minilm"])
    assert cli_main(["eval", str(finished_ppo_run), "--json", "--num-envs", "8",
                     "--env-kwarg", "dataset_kwargs=" + json.dumps(TINY_SIZES)]) == 0  # the run's own value: fine
