"""``nlp_envs.prepared`` directly, on hand-built :class:`Prepared` data (no env): the cache key, the text and
list columns, ``get_prepared``'s memo and its memory-mapped disk cache (atomic writes, re-reads, a damaged
entry rebuilt, a failed build leaving nothing behind), ``verify_entry`` and ``tokenize_texts``.

The fault catalogue on real env entries (truncations, corruptions, deletions, races between processes) is
in ``test_cache_faults.py``.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from nlp_envs import prepared
from nlp_envs.cache import CacheWarning
from nlp_envs.prepared import (
    ListColumn,
    Prepared,
    TextColumn,
    cache_key,
    clear_memo,
    get_prepared,
    tokenize_texts,
    verify_entry,
)
from nlp_envs.tokenization import TextEncoder
from tests.helpers import TOY_TEXTS as TEXTS

def sample(encoder: TextEncoder) -> Prepared:
    """A small split with every kind of column: int/float/bool arrays, texts (unicode, empty), ragged lists."""
    ids, mask, truncated = encoder.encode_batch(TEXTS, 8)
    return Prepared(
        encoder=encoder,
        arrays={"input_ids": ids, "attention_mask": mask, "truncated": truncated,
                "labels": np.array([0, 3, 1, 2, 0, 1], dtype=np.int64),
                "weights": np.linspace(0.0, 1.0, 6, dtype=np.float32)},
        texts={"text": TextColumn.from_strings(TEXTS)},
        lists={"tags": ListColumn.from_lists([[1], [2, 3], [], [4, 5, 6], [0], [7, 7]])},
        meta={"num_examples": len(TEXTS), "label_names": ["a", "b", "c", "d"], "source": "unit test"},
    )


def assert_same(a: Prepared, b: Prepared) -> None:
    assert sorted(a.arrays) == sorted(b.arrays)
    for name in a.arrays:
        assert a.arrays[name].dtype == b.arrays[name].dtype, name
        np.testing.assert_array_equal(a.arrays[name], b.arrays[name], err_msg=name)
    assert sorted(a.texts) == sorted(b.texts)
    for name in a.texts:
        ta, tb = a.texts[name], b.texts[name]
        assert len(ta) == len(tb) and [ta[i] for i in range(len(ta))] == [tb[i] for i in range(len(tb))]
    assert sorted(a.lists) == sorted(b.lists)
    for name in a.lists:
        assert len(a.lists[name]) == len(b.lists[name])
        for i in range(len(a.lists[name])):
            np.testing.assert_array_equal(a.lists[name][i], b.lists[name][i])
    assert a.meta == b.meta
    assert a.encoder.name == b.encoder.name and a.encoder.fingerprint == b.encoder.fingerprint


class Builder:
    """A ``build`` callable that counts its calls."""

    def __init__(self, make) -> None:
        self.make = make
        self.calls = 0

    def __call__(self) -> Prepared:
        self.calls += 1
        return self.make()


def entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.iterdir() if p.is_dir() and not p.name.startswith("."))


def leftovers(cache: Path) -> list[str]:
    """Temp or moved-aside folders (the lock files of entries are expected)."""
    return sorted(p.name for p in cache.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock"))


# -- cache_key ---------------------------------------------------------------------------------------


def test_cache_key_is_a_stable_digest_of_its_parts() -> None:
    key = cache_key("TextClsEnv", 3, {"b": 1, "a": [1, 2]}, None)
    assert len(key) == 40 and int(key, 16) >= 0
    assert key == cache_key("TextClsEnv", 3, {"a": [1, 2], "b": 1}, None)  # dict order is irrelevant
    # the same key in another interpreter, whatever its hash seed
    code = "from nlp_envs.prepared import cache_key; print(cache_key('TextClsEnv', 3, {'a': [1, 2], 'b': 1}, None))"
    for seed in ("1", "12345"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONHASHSEED": seed}, check=True)
        assert out.stdout.strip() == key


@pytest.mark.parametrize("other", [
    ("TextClsEnv", 4, {"a": [1, 2], "b": 1}, None),  # a version
    ("NerTagEnv", 3, {"a": [1, 2], "b": 1}, None),  # the family
    ("TextClsEnv", 3, {"a": [2, 1], "b": 1}, None),  # an order inside a value
    ("TextClsEnv", 3, {"a": [1, 2], "b": 2}, None),  # one setting
    ("TextClsEnv", 3, {"a": [1, 2], "b": 1, "c": None}, None),  # one more setting
    ("TextClsEnv", 3, {"a": [1, 2], "b": 1}),  # one part fewer
    (3, "TextClsEnv", {"a": [1, 2], "b": 1}, None),  # the order of the parts
    ("TextClsEnv", "3", {"a": [1, 2], "b": 1}, None),  # a type
])
def test_cache_key_changes_with_every_part(other: tuple) -> None:
    assert cache_key(*other) != cache_key("TextClsEnv", 3, {"a": [1, 2], "b": 1}, None)


# -- columns -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("decoded_max_rows", [prepared.DECODED_CACHE_MAX_ROWS, 2], ids=["small", "large"])
def test_text_column_round_trips_strings(decoded_max_rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small columns decode every row once into an object array; larger ones decode on demand: same values."""
    monkeypatch.setattr(prepared, "DECODED_CACHE_MAX_ROWS", decoded_max_rows)
    strings = [*TEXTS, "\ud800 lone surrogate"]  # stored with surrogatepass, like the readers' text
    col = TextColumn.from_strings(strings)
    assert len(col) == len(strings)
    assert [col[i] for i in range(len(col))] == strings
    picked = col.take(np.array([6, 0, 4, 0]))
    assert picked.dtype == object and picked.tolist() == [strings[6], strings[0], "", strings[0]]
    values, offsets = col.arrays()
    assert values.dtype == np.uint8 and offsets.dtype == np.int64 and offsets[0] == 0 and offsets[-1] == len(values)
    assert values.tobytes() == "".join(strings).encode("utf-8", "surrogatepass")
    decoded = col.decoded()
    assert (decoded is None) == (len(strings) > decoded_max_rows)
    again = pickle.loads(pickle.dumps(col))  # the bytes and offsets travel, not the decoded strings
    assert [again[i] for i in range(len(again))] == strings
    with pytest.raises(IndexError):
        col[len(strings) + 1]


def test_empty_columns() -> None:
    col = TextColumn.from_strings([])
    assert len(col) == 0 and col.take(np.array([], dtype=np.int64)).tolist() == []
    lists = ListColumn.from_lists([])
    assert len(lists) == 0 and lists.lengths().tolist() == []


def test_list_column_rows_are_views_of_one_flat_array() -> None:
    rows = [[1], [2, 3], [], [4, 5, 6]]
    col = ListColumn.from_lists(rows, dtype=np.int16)
    assert len(col) == 4 and col.lengths().tolist() == [1, 2, 0, 3]
    assert [col[i].tolist() for i in range(4)] == rows
    values, offsets = col.arrays()
    assert values.dtype == np.int16 and values.tolist() == [1, 2, 3, 4, 5, 6] and offsets.tolist() == [0, 1, 3, 3, 6]
    assert np.shares_memory(col[3], values)


@pytest.mark.parametrize("decoded_max_rows", [prepared.DECODED_CACHE_MAX_ROWS, 2], ids=["small", "large"])
def test_negative_indices_count_from_the_end(decoded_max_rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """numpy semantics for small and large columns alike: ``-1`` is the last row, ``-len`` the first, and an index
    out of range either way raises ``IndexError`` (a large column once returned an empty row for ``-1``)."""
    monkeypatch.setattr(prepared, "DECODED_CACHE_MAX_ROWS", decoded_max_rows)
    text = TextColumn.from_strings(["a", "bb", "ccc"])
    lists = ListColumn.from_lists([[1], [2, 3], [4, 5, 6]])
    assert [text[i] for i in (-1, -2, -3)] == ["ccc", "bb", "a"]
    assert text.take(np.array([-1, 0, -3])).tolist() == ["ccc", "a", "a"]
    assert [lists[i].tolist() for i in (-1, -2, -3)] == [[4, 5, 6], [2, 3], [1]]
    assert lists[np.int64(-1)].tolist() == [4, 5, 6]
    for col in (text, lists):
        for bad in (3, -4):
            with pytest.raises(IndexError):
                col[bad]
    assert text.decoded_in_memory == (decoded_max_rows >= 3)


# -- get_prepared: memo and disk cache ---------------------------------------------------------------


def test_build_once_then_memo_then_disk(prepared_cache: Path, toy_encoder: TextEncoder) -> None:
    key = cache_key("unit", "build-once")
    build = Builder(lambda: sample(toy_encoder))
    first = get_prepared(key, build)
    assert build.calls == 1
    assert_same(first, sample(toy_encoder))
    assert get_prepared(key, build) is first and build.calls == 1  # memo: the same object
    # the entry: one folder named by the key, a manifest listing every file, nothing left aside
    (folder,) = entries(prepared_cache)
    assert folder.name == key and leftovers(prepared_cache) == []
    listed = set(json.loads((folder / "manifest.json").read_text())["files"])
    assert listed == {p.name for p in folder.iterdir()} - {"manifest.json"}
    assert verify_entry(folder, full=True) is None
    # a new process (no memo) reads the disk entry, memory-mapped and read-only, without building
    clear_memo()
    again = get_prepared(key, Builder(lambda: pytest.fail("a sound entry was rebuilt")))
    assert again is not first
    assert_same(again, first)
    for name, arr in again.arrays.items():
        assert not arr.flags.writeable, name
    with pytest.raises(ValueError):
        again.arrays["labels"][0] = 5


def test_the_first_build_already_returns_the_disk_copy(prepared_cache: Path,
                                                       toy_encoder: TextEncoder) -> None:
    """The builder's own object is not kept: what it returns is the verified, memory-mapped entry (so the
    first run and every later one see the same dtypes and JSON-normalised meta)."""
    def make() -> Prepared:
        prep = sample(toy_encoder)
        prep.meta["shape"] = (2, 3)  # a tuple: JSON makes it a list
        return prep

    prep = get_prepared(cache_key("unit", "disk-copy"), make)
    assert prep.meta["shape"] == [2, 3]
    assert not prep.arrays["input_ids"].flags.writeable


def test_use_disk_false_writes_nothing(prepared_cache: Path, toy_encoder: TextEncoder) -> None:
    build = Builder(lambda: sample(toy_encoder))
    prep = get_prepared(cache_key("unit", "memory-only"), build, use_disk=False)
    assert build.calls == 1 and prep.arrays["labels"].flags.writeable
    assert not prepared_cache.exists() or entries(prepared_cache) == []


def test_memo_keeps_the_most_recent_keys(prepared_cache: Path, toy_encoder: TextEncoder,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepared, "_MEMO_SIZE", 2)
    keys = [cache_key("unit", "lru", i) for i in range(3)]
    preps = [get_prepared(k, lambda: sample(toy_encoder), use_disk=False) for k in keys[:2]]
    assert get_prepared(keys[0], lambda: pytest.fail("evicted too early"), use_disk=False) is preps[0]  # now newest
    get_prepared(keys[2], lambda: sample(toy_encoder), use_disk=False)  # evicts keys[1], the least recent
    assert get_prepared(keys[0], lambda: pytest.fail("evicted the wrong key"), use_disk=False) is preps[0]
    build = Builder(lambda: sample(toy_encoder))
    assert get_prepared(keys[1], build, use_disk=False) is not preps[1] and build.calls == 1


def test_distinct_keys_are_distinct_entries(prepared_cache: Path, toy_encoder: TextEncoder) -> None:
    def other() -> Prepared:
        prep = sample(toy_encoder)
        prep.arrays["labels"] = prep.arrays["labels"] + 1
        return prep

    a = get_prepared(cache_key("unit", "a"), lambda: sample(toy_encoder))
    b = get_prepared(cache_key("unit", "b"), other)
    assert len(entries(prepared_cache)) == 2
    assert (np.asarray(b.arrays["labels"]) == np.asarray(a.arrays["labels"]) + 1).all()


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "manifest"])
def test_damaged_entry_is_rebuilt_with_one_warning(prepared_cache: Path, toy_encoder: TextEncoder,
                                                    damage: str) -> None:
    key = cache_key("unit", "damaged", damage)
    get_prepared(key, lambda: sample(toy_encoder))
    (folder,) = entries(prepared_cache)
    path = folder / "a.labels.npy"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:-8])
    elif damage == "flip":  # in range, same size: only the digest sees it
        raw = bytearray(path.read_bytes())
        raw[-8] ^= 0x01
        path.write_bytes(bytes(raw))
    elif damage == "delete":
        path.unlink()
    else:
        (folder / "manifest.json").write_text("{not json")
    problem = verify_entry(folder)
    assert problem is not None and ("manifest.json" if damage == "manifest" else "a.labels.npy") in problem
    clear_memo()
    build = Builder(lambda: sample(toy_encoder))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prep = get_prepared(key, build)
    messages = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert build.calls == 1 and len(messages) == 1
    assert "damaged" in messages[0] and problem in messages[0] and str(folder) in messages[0]
    assert_same(prep, sample(toy_encoder))
    assert entries(prepared_cache) == [folder] and verify_entry(folder, full=True) is None
    assert leftovers(prepared_cache) == []


def test_files_outside_the_manifest_are_never_loaded(prepared_cache: Path, toy_encoder: TextEncoder) -> None:
    key = cache_key("unit", "unlisted")
    get_prepared(key, lambda: sample(toy_encoder))
    (folder,) = entries(prepared_cache)
    np.save(folder / "a.planted.npy", np.arange(4))
    (folder / "t.planted.values.npy").write_bytes(b"junk")
    assert verify_entry(folder) is None
    clear_memo()
    prep = get_prepared(key, lambda: pytest.fail("rebuilt"))
    assert "planted" not in prep.arrays and "planted" not in prep.texts


@pytest.mark.parametrize("bad", ["object-array", "build-raises"])
def test_a_failed_build_leaves_no_entry(prepared_cache: Path, toy_encoder: TextEncoder, bad: str) -> None:
    key = cache_key("unit", "failed", bad)

    def broken() -> Prepared:
        if bad == "build-raises":
            raise RuntimeError("the data could not be read")
        prep = sample(toy_encoder)
        prep.arrays["objects"] = np.array([{"a": 1}, None], dtype=object)  # cannot be saved without pickle
        return prep

    with pytest.raises((RuntimeError, ValueError), match="could not be read|pickle"):
        get_prepared(key, broken)
    assert entries(prepared_cache) == [] and leftovers(prepared_cache) == []
    assert get_prepared(key, lambda: sample(toy_encoder)).meta["num_examples"] == len(TEXTS)  # a later build works


def test_an_entry_unsound_right_after_writing_is_an_error(prepared_cache: Path, toy_encoder: TextEncoder,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest that does not match what was written (e.g. a file system that loses writes) is not
    warned about and rebuilt forever: it is an error naming the entry and the problem."""
    real = prepared._file_record
    monkeypatch.setattr(prepared, "_file_record", lambda path: {**real(path), "digest": "0" * 32})
    with pytest.raises(OSError, match=r"fails verification right after it was written: .* does not match its "):
        get_prepared(cache_key("unit", "unsound"), lambda: sample(toy_encoder))


@pytest.mark.parametrize("use_disk", [True, False], ids=["disk", "memory"])
@pytest.mark.parametrize("kind, name", [("arrays", "ids.v2"), ("texts", "text.raw"), ("lists", "tags.bio"),
                                        ("arrays", "a/b"), ("texts", "")])
def test_names_that_cannot_name_a_cache_file_are_refused(prepared_cache: Path, toy_encoder: TextEncoder,
                                                        kind: str, name: str, use_disk: bool) -> None:
    """A name with a '.' was saved as ``a.<name>.npy`` and silently skipped on reload: it is refused at build
    time, with or without the disk cache, and nothing is written."""
    def make() -> Prepared:
        prep = sample(toy_encoder)
        col = {"arrays": np.arange(len(TEXTS)), "texts": TextColumn.from_strings(TEXTS),
               "lists": ListColumn.from_lists([[1]] * len(TEXTS))}[kind]
        getattr(prep, kind)[name] = col
        return prep

    key = cache_key("unit", "bad-name", kind, name, use_disk)
    with pytest.raises(ValueError, match=rf"Prepared\.{kind} name {re.escape(repr(name))} cannot name a cache file"):
        get_prepared(key, make, use_disk=use_disk)
    assert not (prepared_cache / key).exists()


# -- tokenize_texts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 4, 4096])
def test_tokenize_texts_equals_the_encoder(toy_encoder: TextEncoder, batch_size: int) -> None:
    texts = TEXTS * 3 + ["hello world " * 10]  # the last one is truncated at 8 tokens
    ids, mask, truncated = tokenize_texts(toy_encoder, texts, 8, batch_size=batch_size)
    want = toy_encoder.encode_batch(texts, 8)
    assert ids.dtype == mask.dtype == np.int64 and truncated.dtype == bool
    assert ids.shape == mask.shape == (len(texts), 8) and truncated.shape == (len(texts),)
    for got, expected in zip((ids, mask, truncated), want):
        np.testing.assert_array_equal(got, expected)
    assert truncated[-1] and not truncated[:-1].any()


def test_tokenize_no_texts(toy_encoder: TextEncoder) -> None:
    ids, mask, truncated = tokenize_texts(toy_encoder, [], 8)
    assert ids.shape == mask.shape == (0, 8) and truncated.shape == (0,)
    assert ids.dtype == mask.dtype == np.int64 and truncated.dtype == bool


@pytest.mark.parametrize("enabled", [True, False])
def test_tokenize_texts_restores_the_progress_bars(toy_encoder: TextEncoder, enabled: bool) -> None:
    import datasets

    was = datasets.is_progress_bar_enabled()
    try:
        (datasets.enable_progress_bars if enabled else datasets.disable_progress_bars)()
        tokenize_texts(toy_encoder, TEXTS, 8)
        assert datasets.is_progress_bar_enabled() is enabled
    finally:
        (datasets.enable_progress_bars if was else datasets.disable_progress_bars)()
