"""Prepared (tokenized) data: built once, cached on disk as memory-mapped ``.npy`` files, memoised.

An env's split is turned, before any episode, into a :class:`Prepared`: the :class:`TextEncoder`,
fixed-shape numpy arrays (token ids, masks, labels...) and raw-text columns stored as UTF-8 bytes plus
offsets (:class:`TextColumn`), so that even a very large corpus is held as a few memory-mapped arrays
rather than millions of Python objects.

Cache: ``<cache_dir>/prepared/<key>/`` (see :mod:`nlp_envs.cache`), written to a temp folder and
renamed, so a half-written entry is never read. Within one process, envs built with the same key
share one :class:`Prepared` (read-only arrays), which keeps vector envs of 256 copies cheap.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from nlp_envs.cache import cache_dir
from nlp_envs.tokenization import TextEncoder


#: Columns up to this many rows keep their decoded strings in memory after first use (fast ``info``);
#: larger ones decode on demand, holding no per-row Python objects.
DECODED_CACHE_MAX_ROWS = 250_000


class TextColumn:
    """A read-only column of strings stored as UTF-8 bytes + offsets.

    Small columns (<= :data:`DECODED_CACHE_MAX_ROWS` rows) decode every row once, on first access, into
    an object array, so that ``col[i]`` and ``col.take(idx)`` cost a lookup; larger ones decode on
    demand and hold no per-row Python objects.
    """

    __slots__ = ("_bytes", "_offsets", "_decoded")

    def __init__(self, data: np.ndarray, offsets: np.ndarray) -> None:
        self._bytes = data
        self._offsets = offsets
        self._decoded: np.ndarray | None = None

    @classmethod
    def from_strings(cls, texts: Iterable[str]) -> TextColumn:
        enc = [t.encode("utf-8", "surrogatepass") for t in texts]
        offsets = np.zeros(len(enc) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in enc], out=offsets[1:])
        data = np.frombuffer(b"".join(enc), dtype=np.uint8) if enc else np.zeros(0, np.uint8)
        return cls(data, offsets)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def _decode(self, i: int) -> str:
        o = self._offsets
        return self._bytes[o[i] : o[i + 1]].tobytes().decode("utf-8", "surrogatepass")

    def decoded(self) -> np.ndarray | None:
        """All rows as an object array (built on first call), or None for a large column."""
        if self._decoded is None and len(self) <= DECODED_CACHE_MAX_ROWS:
            buf = self._bytes.tobytes()
            offs = self._offsets.tolist()
            out = np.empty(len(self), dtype=object)
            out[:] = [buf[a:b].decode("utf-8", "surrogatepass") for a, b in zip(offs[:-1], offs[1:])]
            self._decoded = out
        return self._decoded

    def __getitem__(self, i: int) -> str:
        d = self._decoded if self._decoded is not None else self.decoded()
        return d[i] if d is not None else self._decode(i)

    def take(self, indices: np.ndarray) -> np.ndarray:
        """Strings at ``indices`` as an object array."""
        d = self._decoded if self._decoded is not None else self.decoded()
        if d is not None:
            return d[indices]
        out = np.empty(len(indices), dtype=object)
        out[:] = [self._decode(int(i)) for i in indices]
        return out

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self._bytes, self._offsets

    def __getstate__(self) -> tuple[np.ndarray, np.ndarray]:
        return self._bytes, self._offsets

    def __setstate__(self, state: tuple[np.ndarray, np.ndarray]) -> None:
        self._bytes, self._offsets = state
        self._decoded = None


class ListColumn:
    """A read-only column of int lists (ragged) stored flat + offsets; ``col[i]`` is a numpy view."""

    __slots__ = ("_values", "_offsets")

    def __init__(self, values: np.ndarray, offsets: np.ndarray) -> None:
        self._values = values
        self._offsets = offsets

    @classmethod
    def from_lists(cls, rows: Sequence[Sequence[int]], dtype: Any = np.int64) -> ListColumn:
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in rows], out=offsets[1:])
        values = np.fromiter((v for r in rows for v in r), dtype=dtype, count=int(offsets[-1]))
        return cls(values, offsets)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self._values[self._offsets[i] : self._offsets[i + 1]]

    def lengths(self) -> np.ndarray:
        return np.diff(self._offsets)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self._values, self._offsets


@dataclass
class Prepared:
    """Everything an env needs about its split, ready for ``step``.

    Attributes:
        encoder: the tokenizer wrapper.
        arrays: name -> numpy array (first axis = example).
        texts: name -> :class:`TextColumn` (raw text for ``info`` and rendering).
        lists: name -> :class:`ListColumn` (ragged int data, e.g. gold tags).
        meta: JSON-able facts (label names, sizes, source name...).
    """

    encoder: TextEncoder
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    texts: dict[str, TextColumn] = field(default_factory=dict)
    lists: dict[str, ListColumn] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


_MEMO: OrderedDict[str, Prepared] = OrderedDict()
_MEMO_SIZE = 16
_LOCK = threading.Lock()


def cache_key(*parts: Any) -> str:
    """Digest of the settings that determine a prepared split."""
    return hashlib.blake2b(json.dumps(parts, default=str, sort_keys=True).encode(), digest_size=20).hexdigest()


def get_prepared(key: str, build: Callable[[], Prepared], *, use_disk: bool = True) -> Prepared:
    """The prepared data for ``key``: from memory, else from the disk cache, else ``build()`` (saved)."""
    with _LOCK:
        if key in _MEMO:
            _MEMO.move_to_end(key)
            return _MEMO[key]
    folder = cache_dir("prepared") / key
    prep = None
    if use_disk and (folder / "meta.json").exists():
        try:
            prep = _load(folder)
        except (OSError, ValueError, KeyError):
            prep = None  # a stale or foreign entry: rebuild it
    if prep is None:
        prep = build()
        if use_disk:
            _save(prep, folder)
            prep = _load(folder)  # serve the memory-mapped copy: no second copy in RAM
    with _LOCK:
        _MEMO[key] = prep
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    return prep


def clear_memo() -> None:
    """Forget the in-process memo (the disk cache stays)."""
    with _LOCK:
        _MEMO.clear()


def _save(prep: Prepared, folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        for name, arr in prep.arrays.items():
            np.save(tmp / f"a.{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
        for kind, cols in (("t", prep.texts), ("l", prep.lists)):
            for name, col in cols.items():
                values, offsets = col.arrays()
                np.save(tmp / f"{kind}.{name}.values.npy", values, allow_pickle=False)
                np.save(tmp / f"{kind}.{name}.offsets.npy", offsets, allow_pickle=False)
        (tmp / "tokenizer.json").write_text(prep.encoder.backend.to_str(), encoding="utf-8")
        meta = dict(prep.meta, _encoder_name=prep.encoder.name)
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        try:
            os.replace(tmp, folder)
        except OSError:  # another process won the race: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _mmap(path: Path) -> np.ndarray:
    """Memory-map a ``.npy`` file read-only, advising the kernel that access is random (episodes
    visit rows in shuffled order), so that a page fault does not read ahead megabytes of neighbours."""
    arr = np.load(path, mmap_mode="r", allow_pickle=False)
    mm = getattr(arr, "_mmap", None)
    if mm is not None and hasattr(mm, "madvise") and hasattr(mmap, "MADV_RANDOM"):
        mm.madvise(mmap.MADV_RANDOM)
    return np.asarray(arr)


def _load(folder: Path) -> Prepared:
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    encoder = TextEncoder(Tokenizer.from_file(str(folder / "tokenizer.json")), name=meta.pop("_encoder_name"))
    prep = Prepared(encoder=encoder, meta=meta)
    for f in sorted(folder.glob("*.npy")):
        parts = f.name[: -len(".npy")].split(".")
        arr = _mmap(f)
        if parts[0] == "a":
            prep.arrays[parts[1]] = arr
    for kind, target, cls in (("t", prep.texts, TextColumn), ("l", prep.lists, ListColumn)):
        for f in sorted(folder.glob(f"{kind}.*.values.npy")):
            name = f.name.split(".")[1]
            values = _mmap(f)
            offsets = _mmap(folder / f"{kind}.{name}.offsets.npy")
            target[name] = cls(values, offsets)
    return prep


def tokenize_texts(
    encoder: TextEncoder, texts: Sequence[str], max_length: int, *, batch_size: int = 4096
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tokenize ``texts`` in batches through ``datasets.Dataset.map(batched=True)``.

    Returns ``(input_ids, attention_mask, truncated)`` as numpy arrays (see
    :meth:`TextEncoder.encode_batch`).
    """
    import datasets

    def encode(batch: dict[str, list]) -> dict[str, Any]:
        ids, mask, trunc = encoder.encode_batch(batch["text"], max_length)
        return {"input_ids": ids, "attention_mask": mask, "truncated": trunc}

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        ds = datasets.Dataset.from_dict({"text": list(texts)})
        ds = ds.map(encode, batched=True, batch_size=batch_size, remove_columns=["text"], keep_in_memory=True)
    finally:
        if was_enabled:
            datasets.enable_progress_bars()
    n = len(ds)
    if n == 0:
        return (np.zeros((0, max_length), np.int64), np.zeros((0, max_length), np.int64), np.zeros(0, bool))
    table = ds.data.table  # read the Arrow columns directly: row-wise formatting is ~1000x slower

    def matrix(name: str) -> np.ndarray:
        flat = table.column(name).combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return np.asarray(flat, dtype=np.int64).reshape(n, max_length)

    truncated = table.column("truncated").to_numpy(zero_copy_only=False).astype(bool)
    return matrix("input_ids"), matrix("attention_mask"), truncated
