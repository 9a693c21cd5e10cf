"""Prepared (tokenized) data: built once, cached on disk as memory-mapped ``.npy`` files, memoised.

An env's split is turned, before any episode, into a :class:`Prepared`: the :class:`TextEncoder`,
fixed-shape numpy arrays (token ids, masks, labels...) and raw-text columns stored as UTF-8 bytes plus
offsets (:class:`TextColumn`), so that even a very large corpus is held as a few memory-mapped arrays
rather than millions of Python objects.

Cache: ``<cache_dir>/prepared/<key>/`` (see :mod:`nlp_envs.cache`), written to a temp folder and
renamed, so a half-written entry is never read. Within one process, envs built with the same key
share one :class:`Prepared` (read-only arrays), which keeps vector envs of 256 copies cheap.

Every entry carries a ``manifest.json`` (each file's size, digest, ``.npy`` dtype/shape and the value
range of integer arrays) and is verified on load (:func:`verify_entry`: sizes, headers and ranges
always, full digests of small files, sampled digests of large ones; everything with
``NLP_ENVS_CACHE_VERIFY=full`` and right after a rebuild). A damaged entry is moved aside and rebuilt
with one :class:`CacheWarning`; builders of one key in several processes take turns on a lock file.
Only ``.npy`` (``allow_pickle=False``) and JSON files are read: nothing in the cache can run code.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import secrets
import shutil
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from nlp_envs.cache import CacheWarning, cache_dir
from nlp_envs.tokenization import TextEncoder


#: Columns up to this many rows keep their decoded strings in memory after first use (fast ``info``);
#: larger ones decode on demand, holding no per-row Python objects.
DECODED_CACHE_MAX_ROWS = 250_000


def _row(i: int, n: int) -> int:
    """Row ``i`` of ``n`` as a non-negative index (numpy semantics), or ``IndexError``."""
    j = i + n if i < 0 else i
    if not 0 <= j < n:
        raise IndexError(f"row {i} is out of range for a column of {n} rows")
    return j


class TextColumn:
    """A read-only column of strings stored as UTF-8 bytes + offsets.

    Small columns (<= :data:`DECODED_CACHE_MAX_ROWS` rows) decode every row once, on first access, into
    an object array, so that ``col[i]`` and ``col.take(idx)`` cost a lookup; larger ones decode on
    demand and hold no per-row Python objects.
    """

    __slots__ = ("_bytes", "_offsets", "_decoded", "_chars")

    def __init__(self, data: np.ndarray, offsets: np.ndarray) -> None:
        self._bytes = data
        self._offsets = offsets
        self._decoded: np.ndarray | None = None
        self._chars: frozenset[str] | None = None

    @classmethod
    def from_strings(cls, texts: Iterable[str]) -> TextColumn:
        enc = [t.encode("utf-8", "surrogatepass") for t in texts]
        offsets = np.zeros(len(enc) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in enc], out=offsets[1:])
        data = np.frombuffer(b"".join(enc), dtype=np.uint8) if enc else np.zeros(0, np.uint8)
        return cls(data, offsets)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def chars(self) -> set[str]:
        """Every character of every row (one decode of the whole column on first call, kept: the envs and
        sub-envs that share this prepared split share it too)."""
        if self._chars is None:
            self._chars = frozenset(self._bytes.tobytes().decode("utf-8", "surrogatepass"))
        return set(self._chars)

    def _decode(self, i: int) -> str:
        o = self._offsets
        i = _row(i, len(o) - 1)
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
        """Row ``i`` (numpy semantics: ``-1`` is the last row; out of range raises ``IndexError``)."""
        d = self._decoded if self._decoded is not None else self.decoded()
        return d[i] if d is not None else self._decode(i)

    @property
    def decoded_in_memory(self) -> bool:
        """Whether the decoded strings are held in memory (a small column after its first access);
        False for a large column, which decodes each row on demand (a diagnostic)."""
        return self._decoded is not None

    def take(self, indices: np.ndarray) -> np.ndarray:
        """Strings at ``indices`` as an object array (negative indices count from the end)."""
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
        self._chars = None


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
        """Row ``i`` as a view (numpy semantics: ``-1`` is the last row; out of range raises ``IndexError``)."""
        o = self._offsets
        if i < 0:
            i = _row(i, len(o) - 1)
        return self._values[o[i] : o[i + 1]]

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

#: Version of the on-disk layout (``manifest.json``); an entry of another version is rebuilt.
CACHE_FORMAT = 2
#: Files up to this size are digested in full on every load; larger ones get their size, ``.npy``
#: header and a sampled digest (:data:`SAMPLE_BLOCKS` blocks of :data:`SAMPLE_BLOCK_BYTES`) checked,
#: unless ``$NLP_ENVS_CACHE_VERIFY=full`` asks for full digests of everything.
FULL_DIGEST_MAX_BYTES = 8 << 20
SAMPLE_BLOCKS = 16
SAMPLE_BLOCK_BYTES = 64 << 10


def cache_key(*parts: Any) -> str:
    """Digest of the settings that determine a prepared split."""
    return hashlib.blake2b(json.dumps(parts, default=str, sort_keys=True).encode(), digest_size=20).hexdigest()


def get_prepared(key: str, build: Callable[[], Prepared], *, use_disk: bool = True) -> Prepared:
    """The prepared data for ``key``: from memory, else from the disk cache, else ``build()`` (saved).

    A disk entry is verified before use (:func:`verify_entry`); a damaged one (truncated, corrupt,
    half deleted, of another format) is moved aside and rebuilt, with one :class:`CacheWarning`.
    Builders of the same key in several processes take turns (a lock file beside the entry), so the
    second one loads what the first one wrote.
    """
    with _LOCK:
        if key in _MEMO:
            _MEMO.move_to_end(key)
            return _MEMO[key]
    if not use_disk:
        prep = check_names(build())
    else:
        root = cache_dir("prepared")
        folder = root / key
        with _entry_lock(root / f".{key}.lock"):
            prep = _load_valid(folder)
            if prep is None:
                _sweep_leftovers(root, key)
                _save(check_names(build()), folder)
                prep = _load_valid(folder, full=True, rebuilt=True)  # the memory-mapped copy (or raises)
                assert prep is not None
    with _LOCK:
        _MEMO[key] = prep
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    return prep


def check_names(prep: Prepared) -> Prepared:
    """``prep`` if every array, text and list name can name its cache files, else ``ValueError``.

    A name becomes part of file names (``a.<name>.npy``, ``t.<name>.values.npy``), whose ``.``-separated
    parts say what each file holds: a name must be non-empty and hold no ``.`` and no path separator.
    Checked on every build, cached or not, so that a name is refused where it is made, not lost on reload.
    """
    for kind, names in (("arrays", prep.arrays), ("texts", prep.texts), ("lists", prep.lists)):
        for name in names:
            if not isinstance(name, str) or not name or any(c in name for c in "./\\\0"):
                raise ValueError(
                    f"Prepared.{kind} name {name!r} cannot name a cache file: use a non-empty name without "
                    "'.', '/', a backslash or NUL (e.g. '_' instead of '.')"
                )
    return prep


def clear_memo() -> None:
    """Forget the in-process memo (the disk cache stays)."""
    with _LOCK:
        _MEMO.clear()


@contextlib.contextmanager
def _entry_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (no-op where unavailable: then the atomic rename decides)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:  # a read-only cache: no lock, the rename still keeps entries whole
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _load_valid(folder: Path, *, full: bool = False, rebuilt: bool = False) -> Prepared | None:
    """The entry at ``folder`` if it verifies and loads; else None after moving a damaged entry aside
    (one :class:`CacheWarning`; ``rebuilt``: the entry was just written, so a failure is raised)."""
    if not folder.exists():
        return None
    problem = verify_entry(folder, full=full or _verify_full())
    prep = None
    if problem is None:
        try:
            prep = _load(folder)
        except Exception as err:  # noqa: BLE001 - any unreadable file means a damaged entry
            problem = f"it does not load ({type(err).__name__}: {' '.join(str(err).split())[:200]})"
    if prep is not None:
        return prep
    if rebuilt:
        raise OSError(f"the prepared cache entry {folder} fails verification right after it was written: {problem}")
    _move_aside(folder)
    warnings.warn(
        f"nlp_envs: the prepared cache entry {folder} is damaged ({problem}); moved it aside and rebuilding it",
        CacheWarning,
        stacklevel=4,
    )
    return None


def _verify_full() -> bool:
    return os.environ.get("NLP_ENVS_CACHE_VERIFY", "").strip().lower() == "full"


def _move_aside(folder: Path) -> None:
    """Rename a damaged entry out of the way (then delete it; a file still mapped elsewhere stays valid)."""
    trash = folder.with_name(f".{folder.name}.damaged.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        os.replace(folder, trash)
    except OSError:
        if not folder.exists():
            return  # someone else moved it already
        shutil.rmtree(folder, ignore_errors=True)
        return
    shutil.rmtree(trash, ignore_errors=True)


def _sweep_leftovers(root: Path, key: str, min_age_s: float = 3600.0) -> None:
    """Delete temp/damaged folders of ``key`` left by builders that died (older than ``min_age_s``)."""
    import time

    for p in root.glob(f".{key}.*"):
        try:
            if p.is_dir() and time.time() - p.stat().st_mtime > min_age_s:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def _digest_file(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _sample_digest(path: Path, size: int) -> str:
    """Digest of :data:`SAMPLE_BLOCKS` evenly spaced blocks (the first and last included)."""
    h = hashlib.blake2b(digest_size=16)
    span = max(size - SAMPLE_BLOCK_BYTES, 0)
    with open(path, "rb") as f:
        for i in range(SAMPLE_BLOCKS):
            f.seek(span * i // (SAMPLE_BLOCKS - 1))
            h.update(f.read(SAMPLE_BLOCK_BYTES))
    return h.hexdigest()


def _npy_header(path: Path) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """``(shape, fortran_order, dtype, data_offset)`` of a ``.npy`` file (never unpickles)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        return shape, fortran, dtype, f.tell()


def _file_record(path: Path) -> dict[str, Any]:
    size = path.stat().st_size
    rec: dict[str, Any] = {"size": size, "digest": _digest_file(path)}
    if size > FULL_DIGEST_MAX_BYTES:
        rec["sample"] = _sample_digest(path, size)
    if path.suffix == ".npy":
        shape, fortran, dtype, _ = _npy_header(path)
        rec.update(dtype=dtype.str, shape=list(shape), fortran=bool(fortran))
        if dtype.kind in "iu" and not path.name.endswith(".offsets.npy") and path.name[0] != "t":
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            if arr.size:
                rec["range"] = [int(arr.min()), int(arr.max())]
    return rec


def verify_entry(folder: Path, *, full: bool = False) -> str | None:
    """Check a prepared entry against its ``manifest.json``: None if sound, else what is wrong.

    Always: the manifest's format, every listed file present with its size, each ``.npy`` header
    (dtype, shape, data length; object arrays are refused), the saved value range of each integer
    array (labels, ids; over the sampled rows for a large file), and the digest of every file up to
    :data:`FULL_DIGEST_MAX_BYTES` (sampled blocks for larger ones). ``full``: every file's full digest.
    """
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        files = manifest["files"]
        if manifest.get("format") != CACHE_FORMAT or not isinstance(files, dict):
            return f"manifest.json is of format {manifest.get('format')!r}, not {CACHE_FORMAT}"
    except FileNotFoundError:
        return "manifest.json is missing"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        return f"manifest.json is unreadable ({type(err).__name__})"
    for name in ("meta.json", "tokenizer.json"):
        if name not in files:
            return f"manifest.json does not list {name}"
    for name, rec in files.items():
        path = folder / name
        try:
            size = path.stat().st_size
        except OSError:
            return f"{name} is missing"
        if size != rec.get("size"):
            return f"{name} is {size} bytes, {rec.get('size')} expected"
        if name.endswith(".npy"):
            try:
                shape, fortran, dtype, offset = _npy_header(path)
            except (OSError, ValueError) as err:
                return f"{name} has a bad .npy header ({err})"
            if dtype.hasobject:
                return f"{name} holds Python objects (refused: loading them could run code)"
            if (dtype.str, list(shape), bool(fortran)) != (rec.get("dtype"), rec.get("shape"), rec.get("fortran")):
                return f"{name} header says {dtype.str} {list(shape)}, the manifest {rec.get('dtype')} {rec.get('shape')}"
            if offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != size:
                return f"{name} data length does not match its header"
            bounds = rec.get("range")
            if bounds is not None:
                arr = np.load(path, mmap_mode="r", allow_pickle=False).reshape(-1)
                if size > FULL_DIGEST_MAX_BYTES and not full:  # the sampled blocks' rows only
                    step, span = SAMPLE_BLOCK_BYTES // dtype.itemsize, max(len(arr) - SAMPLE_BLOCK_BYTES // dtype.itemsize, 0)
                    starts = [span * i // (SAMPLE_BLOCKS - 1) for i in range(SAMPLE_BLOCKS)]
                    arr = np.concatenate([arr[a : a + step] for a in starts])
                lo, hi = (int(arr.min()), int(arr.max())) if arr.size else tuple(bounds)
                if lo < bounds[0] or hi > bounds[1]:
                    return f"{name} holds values in [{lo}, {hi}], outside its saved range [{bounds[0]}, {bounds[1]}]"
        if full or size <= FULL_DIGEST_MAX_BYTES:
            if _digest_file(path) != rec.get("digest"):
                return f"{name} does not match its digest"
        elif _sample_digest(path, size) != rec.get("sample"):
            return f"{name} does not match its sampled digest"
    return None


def _save(prep: Prepared, folder: Path) -> None:
    """Write ``prep`` to a temp folder with its manifest, then rename it to ``folder`` in one step.

    If ``folder`` already exists (a builder that took no lock got there first) it is kept when it
    verifies, else moved aside and replaced."""
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
        files = {f.name: _file_record(f) for f in sorted(tmp.iterdir())}
        (tmp / "manifest.json").write_text(json.dumps({"format": CACHE_FORMAT, "files": files}), encoding="utf-8")
        for attempt in range(2):
            try:
                os.replace(tmp, folder)
                return
            except OSError:
                if attempt or verify_entry(folder) is None:
                    break  # another process won the race with a sound entry: keep theirs
                _move_aside(folder)
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
    """Load a verified entry: only the files its manifest lists."""
    listed = set(json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["files"])
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    encoder = TextEncoder(Tokenizer.from_file(str(folder / "tokenizer.json")), name=meta.pop("_encoder_name"))
    prep = Prepared(encoder=encoder, meta=meta)
    for name in sorted(listed):
        parts = name[: -len(".npy")].split(".") if name.endswith(".npy") else []
        if len(parts) == 2 and parts[0] == "a":
            prep.arrays[parts[1]] = _mmap(folder / name)
    for kind, target, cls in (("t", prep.texts, TextColumn), ("l", prep.lists, ListColumn)):
        for name in sorted(listed):
            parts = name.split(".")
            if len(parts) == 4 and parts[0] == kind and parts[2] == "values":
                offsets_name = f"{kind}.{parts[1]}.offsets.npy"
                if offsets_name not in listed:
                    raise KeyError(f"{offsets_name} is not in the manifest")
                values, offsets = _mmap(folder / name), _mmap(folder / offsets_name)
                if offsets.ndim != 1 or len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(values):
                    raise ValueError(f"{offsets_name} does not fit {name}")
                target[parts[1]] = cls(values, offsets)
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
