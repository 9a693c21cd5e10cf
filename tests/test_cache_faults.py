"""Fault injection for the prepared-split cache (``nlp_envs.prepared``): every damaged entry is moved
aside and rebuilt on the next ``gym.make`` (one ``CacheWarning``), with observations identical to a
fresh build, and the repaired entry then loads silently. Also: nothing in an entry can run code, and
two processes building the same entry at once both get the same, sound entry."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import nlp_envs  # noqa: F401  (registers the ids)
from nlp_envs import prepared
from nlp_envs.prepared import CacheWarning, clear_memo, verify_entry
from tests.helpers import env_digest, make_cache_env

def entry(prepared_cache: Path) -> Path:
    (folder,) = [p for p in prepared_cache.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return folder


def npy_data_offset(path: Path) -> int:
    return prepared._npy_header(path)[3]


# -- the faults: each damages the entry folder in place ---------------------------------------------


def truncate(name: str, keep: float = 0.5) -> Callable[[Path], None]:
    def fault(folder: Path) -> None:
        path = folder / name
        path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])
    return fault


def overwrite(name: str, where: float | str, data: bytes) -> Callable[[Path], None]:
    """Write ``data`` at a fraction of the file (or ``"data"``: the first bytes after the .npy header)."""
    def fault(folder: Path) -> None:
        path = folder / name
        raw = bytearray(path.read_bytes())
        at = npy_data_offset(path) if where == "data" else int(len(raw) * where)
        raw[at : at + len(data)] = data
        path.write_bytes(bytes(raw))
    return fault


def delete(*names: str) -> Callable[[Path], None]:
    def fault(folder: Path) -> None:
        for name in names:
            (folder / name).unlink()
    return fault


def delete_half(folder: Path) -> None:
    for path in sorted(folder.iterdir())[::2]:
        path.unlink()


def delete_all_files(folder: Path) -> None:
    for path in folder.iterdir():
        path.unlink()


def old_format(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps(dict(manifest, format=1)))


def lying_header(folder: Path) -> None:
    """A header that claims fewer rows than the manifest, with the file cut to match."""
    path = folder / "a.labels.npy"
    arr = np.load(path)
    np.save(path, arr[:-1])


FAULTS: list[tuple[str, str, Callable[[Path], None], str]] = [
    # (id, env, fault, a fragment of the warning)
    ("truncate-input-ids", "cls", truncate("a.input_ids.npy"), "a.input_ids.npy is"),
    ("truncate-labels", "cls", truncate("a.labels.npy", 0.9), "a.labels.npy is"),
    ("truncate-text-values", "cls", truncate("t.text.values.npy"), "t.text.values.npy is"),
    ("truncate-meta", "cls", truncate("meta.json"), "meta.json is"),
    ("truncate-tokenizer", "cls", truncate("tokenizer.json"), "tokenizer.json is"),
    ("truncate-list-values", "ner", truncate("l.gold_facts.values.npy"), "l.gold_facts.values.npy is"),
    ("empty-manifest", "cls", truncate("manifest.json", 0.0), "manifest.json is unreadable"),
    ("corrupt-input-ids", "cls", overwrite("a.input_ids.npy", 0.5, b"\x13\x37" * 8), "a.input_ids.npy"),
    ("corrupt-npy-header", "cls", overwrite("a.input_ids.npy", 0.0, b"garbage!"), "bad .npy header"),
    ("corrupt-meta", "cls", overwrite("meta.json", 0.3, b"}{"), "meta.json does not match its digest"),
    ("corrupt-tokenizer", "cls", overwrite("tokenizer.json", 0.5, b"\x00\xff\x00"), "tokenizer.json does not match"),
    ("corrupt-text-bytes", "cls", overwrite("t.text.values.npy", 0.5, b"\xff\xfe"), "t.text.values.npy does not match"),
    ("corrupt-offsets", "ner", overwrite("t.tokens.offsets.npy", 0.5, b"\x7f" * 8), "t.tokens.offsets.npy"),
    ("flip-labels", "cls", overwrite("a.labels.npy", "data", b"\xff" * 7 + b"\x07"), "outside its saved range"),
    ("flip-labels-in-range", "cls", overwrite("a.labels.npy", "data", b"\x01"), "a.labels.npy does not match"),
    ("lying-header", "cls", lying_header, "a.labels.npy"),
    ("delete-meta", "cls", delete("meta.json"), "meta.json is missing"),
    ("delete-tokenizer", "cls", delete("tokenizer.json"), "tokenizer.json is missing"),
    ("delete-manifest", "cls", delete("manifest.json"), "manifest.json is missing"),
    ("delete-one-array", "ner", delete("a.initial_obs.npy"), "a.initial_obs.npy is missing"),
    ("delete-half", "cls", delete_half, "is missing"),
    ("delete-half-ner", "ner", delete_half, "is missing"),
    ("delete-every-file", "cls", delete_all_files, "manifest.json is missing"),
    ("old-format", "cls", old_format, "format 1"),
]


@pytest.mark.parametrize("env_kind, fault, fragment", [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_fault_is_repaired_on_next_make(prepared_cache: Path, fresh_prepared_digests: dict[str, str],
                                        env_kind: str, fault: Callable[[Path], None], fragment: str) -> None:
    make_cache_env(env_kind)
    folder = entry(prepared_cache)
    assert verify_entry(folder) is None
    fault(folder)
    assert verify_entry(folder) is not None  # the damage is seen
    clear_memo()
    with pytest.warns(CacheWarning, match="damaged") as record:
        env = make_cache_env(env_kind)
    record = [w for w in record if issubclass(w.category, CacheWarning)]  # (not gymnasium's "out of date")
    assert len(record) == 1 and fragment in str(record[0].message)
    assert "\n" not in str(record[0].message)  # one line
    assert env_digest(env) == fresh_prepared_digests[env_kind]
    assert verify_entry(entry(prepared_cache), full=True) is None
    assert [p.name for p in prepared_cache.iterdir() if p.is_dir()] == [folder.name]  # nothing left aside
    clear_memo()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)  # repaired for good: loads silently
        assert env_digest(make_cache_env(env_kind)) == fresh_prepared_digests[env_kind]


def test_foreign_folder_in_place_of_an_entry(prepared_cache: Path,
                                             fresh_prepared_digests: dict[str, str]) -> None:
    """A folder with unrelated files at the entry's path (``os.replace`` cannot overwrite it)."""
    make_cache_env("cls")
    folder = entry(prepared_cache)
    delete_all_files(folder)
    (folder / "notes.txt").write_text("not a cache entry")
    (folder / "sub").mkdir()
    clear_memo()
    with pytest.warns(CacheWarning, match="manifest.json is missing"):
        assert env_digest(make_cache_env("cls")) == fresh_prepared_digests["cls"]


def test_large_file_path_sampled_and_full(prepared_cache: Path, fresh_prepared_digests: dict[str, str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Files above FULL_DIGEST_MAX_BYTES get a sampled digest; NLP_ENVS_CACHE_VERIFY=full checks all."""
    monkeypatch.setattr(prepared, "FULL_DIGEST_MAX_BYTES", 1024)
    monkeypatch.setattr(prepared, "SAMPLE_BLOCK_BYTES", 512)
    make_cache_env("cls")
    folder = entry(prepared_cache)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert "sample" in manifest["files"]["a.input_ids.npy"]
    # a byte inside the first sampled block: found by the default check
    overwrite("a.input_ids.npy", "data", b"\x05")(folder)
    assert "sampled digest" in verify_entry(folder)
    clear_memo()
    with pytest.warns(CacheWarning):
        assert env_digest(make_cache_env("cls")) == fresh_prepared_digests["cls"]
    # a byte between sampled blocks: missed by the sampled check, found with the full one
    folder = entry(prepared_cache)
    path = folder / "a.input_ids.npy"
    size = path.stat().st_size
    span = size - prepared.SAMPLE_BLOCK_BYTES
    header = npy_data_offset(path)
    at = span // (prepared.SAMPLE_BLOCKS - 1) + prepared.SAMPLE_BLOCK_BYTES + 64  # just after block 1
    at = header + (at - header) // 8 * 8  # the low byte of an id: it stays within the saved range
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))
    assert verify_entry(folder) is None and "does not match its digest" in verify_entry(folder, full=True)
    clear_memo()
    monkeypatch.setenv("NLP_ENVS_CACHE_VERIFY", "full")
    with pytest.warns(CacheWarning, match="a.input_ids.npy does not match its digest"):
        assert env_digest(make_cache_env("cls")) == fresh_prepared_digests["cls"]


class _Boom:
    def __reduce__(self):  # unpickling this would create the sentinel file
        return (os.system, (f"touch {os.environ['NLP_ENVS_BOOM']}",))


def test_no_cache_file_can_run_code(prepared_cache: Path, fresh_prepared_digests: dict[str, str],
                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pickled object planted as an array (and listed in the manifest) is refused, never unpickled."""
    sentinel = tmp_path / "boom"
    monkeypatch.setenv("NLP_ENVS_BOOM", str(sentinel))
    make_cache_env("cls")
    folder = entry(prepared_cache)
    np.save(folder / "a.labels.npy", np.array([_Boom()], dtype=object), allow_pickle=True)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["a.labels.npy"] = prepared._file_record(folder / "a.labels.npy")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert "Python objects" in verify_entry(folder)
    clear_memo()
    with pytest.warns(CacheWarning, match="holds Python objects"):
        assert env_digest(make_cache_env("cls")) == fresh_prepared_digests["cls"]
    assert not sentinel.exists()
    # and no file loader in the package can unpickle (testing.py's pickle.loads round-trips an env in memory;
    # nlp_envs.agents reads SB3 zips' tensor entries with torch.load(..., weights_only=True) on one line)
    root = Path(prepared.__file__).parent
    lines = [line for p in sorted(root.rglob("*.py")) for line in p.read_text(encoding="utf-8").splitlines()]
    unsafe = re.compile(r"allow_pickle\s*=\s*True|\bpickle\.load\(|\bnp\.load\((?![^)]*allow_pickle=False)")
    assert not [line for line in lines if unsafe.search(line)]
    torch_loads = [line for line in lines if "torch.load(" in line]
    assert all("weights_only=True" in line for line in torch_loads), torch_loads


_BUILDER = textwrap.dedent(
    """
    import hashlib, json, sys, time, warnings
    import gymnasium as gym, numpy as np
    import nlp_envs
    from nlp_envs.prepared import CacheWarning
    start = float(sys.argv[1])
    while time.time() < start:
        time.sleep(0.005)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CacheWarning)
        env = gym.make("TextCls-v0", split="test")
    p = env.unwrapped.prepared
    h = hashlib.sha256()
    for k in sorted(p.arrays):
        h.update(k.encode() + np.ascontiguousarray(p.arrays[k]).tobytes())
    print(json.dumps({"digest": h.hexdigest(), "warnings": sum(w.category is CacheWarning for w in caught)}))
    """
)


def _run_builders(cache_root: Path, n: int = 2) -> list[dict]:
    import time

    env = dict(os.environ, NLP_ENVS_CACHE_DIR=str(cache_root), OMP_NUM_THREADS="1")
    start = str(time.time() + 2.0)  # both processes start building at the same moment
    procs = [subprocess.Popen([sys.executable, "-c", _BUILDER, start], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(n)]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        outs.append(json.loads(out.strip().splitlines()[-1]))
    return outs


def _arrays_digest(env: gym.Env) -> str:
    p = env.unwrapped.prepared
    h = hashlib.sha256()
    for k in sorted(p.arrays):
        h.update(k.encode() + np.ascontiguousarray(p.arrays[k]).tobytes())
    return h.hexdigest()


def test_concurrent_builders_share_one_sound_entry(prepared_cache: Path, tmp_path: Path) -> None:
    """Two processes build the same entry at once (then, after damage, repair it at once): both get
    the arrays of a fresh build, one entry remains, nothing is left aside, at most one warning."""
    clear_memo()
    want = _arrays_digest(make_cache_env("cls"))
    clear_memo()
    root = tmp_path / "shared-cache"
    outs = _run_builders(root)
    assert [o["digest"] for o in outs] == [want, want] and sum(o["warnings"] for o in outs) == 0
    prepared_dir = root / "prepared"
    folders = [p for p in prepared_dir.iterdir() if p.is_dir()]
    assert len(folders) == 1 and verify_entry(folders[0], full=True) is None
    truncate("a.input_ids.npy")(folders[0])
    outs = _run_builders(root)
    assert [o["digest"] for o in outs] == [want, want] and sum(o["warnings"] for o in outs) == 1
    folders = [p for p in prepared_dir.iterdir() if p.is_dir()]
    assert len(folders) == 1 and verify_entry(folders[0], full=True) is None


def test_lost_race_without_lock_keeps_the_winner(prepared_cache: Path, fresh_prepared_digests: dict[str, str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the lock (e.g. a file system without flock), a builder whose rename fails because the
    entry appeared meanwhile keeps a sound winner, and replaces a damaged one."""
    import contextlib

    monkeypatch.setattr(prepared, "_entry_lock", lambda path: contextlib.nullcontext())
    make_cache_env("cls")
    folder = entry(prepared_cache)
    backup = {p.name: p.read_bytes() for p in folder.iterdir()}
    real_save = prepared._save

    def racing_save(prep, target):  # another builder publishes just before this one renames
        target.mkdir(exist_ok=True)
        for name, data in backup.items():
            (target / name).write_bytes(data)
        if damaged:
            truncate("a.input_ids.npy")(target)
        real_save(prep, target)

    monkeypatch.setattr(prepared, "_save", racing_save)
    for damaged in (False, True):
        delete("manifest.json")(folder)  # damage the entry so that the next make rebuilds
        clear_memo()
        with pytest.warns(CacheWarning):
            assert env_digest(make_cache_env("cls")) == fresh_prepared_digests["cls"]
        assert verify_entry(folder, full=True) is None


def test_damaged_vocabulary_cache_is_retrained(prepared_cache: Path,
                                               fresh_prepared_digests: dict[str, str]) -> None:
    """A truncated ``tokenizers/wordpiece-*.json`` (read when a split is built) is trained again."""
    import shutil

    make_cache_env("cls")
    (vocab,) = (prepared_cache.parent / "tokenizers").glob("wordpiece-*.json")
    vocab.write_bytes(vocab.read_bytes()[:100])
    shutil.rmtree(entry(prepared_cache))
    clear_memo()
    with pytest.warns(CacheWarning, match="cached vocabulary .* is damaged"):
        assert env_digest(make_cache_env("cls")) == fresh_prepared_digests["cls"]
    clear_memo()
    shutil.rmtree(entry(prepared_cache))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        assert env_digest(make_cache_env("cls")) == fresh_prepared_digests["cls"]
