"""A frozen, cached pretrained encoder: each distinct text is encoded once, then looked up.

:func:`freeze_backbone` turns ``policy.encoder`` (a pretrained BERT-like model, e.g. ``backbone="minilm"``)
into a frozen feature table, so that training only updates the policy's heads:

* every encoder parameter gets ``requires_grad=False`` (the optimizer leaves them out) and the encoder
  stays in eval mode for good (``policy.train()`` does not turn its dropout back on);
* ``encoder(input_ids=..., attention_mask=...)`` returns a cached ``last_hidden_state``. A *row* is one
  sequence's real tokens (``input_ids`` cut to its attention-mask length, right padding); each distinct
  row is encoded once (no grad, autocast off, in batches of the misses) and stored; later calls look
  the rows up. The output has the requested shape ``(B, L, H)``, the encoder's dtype and the input's
  device; the real positions hold the row's hidden states (equal to the unfrozen encoder's in eval
  mode, up to the storage dtype), the padding positions hold 0 (every policy head masks them);
* the table is cached on disk, per backbone and env (see below), loaded at freeze time and written by
  :func:`flush` (call it at the end of a run; it also runs at interpreter exit).

The module object and its parameters are unchanged, so ``state_dict`` keys are those of the unfrozen
policy and checkpoints (safetensors ``save_model`` / ``load_model``) round-trip. Generation (``policy.lm``)
is not supported.

Storage dtype: ``float16`` by default (half the memory and disk; features are then rounded to fp16,
relative error ~5e-4), ``dtype=torch.float32`` for exact features. Memory: one flat ``(tokens, H)``
table, e.g. 10k Banking77 texts x ~40 tokens x 384 dims x 2 bytes ~ 300 MB.

Disk layout: ``<cache_dir>/frozen/<key>/`` (``$NLP_ENVS_CACHE_DIR``, see :mod:`nlp_envs.cache`), ``key`` =
digest of (format version, backbone directory + its config.json hash + weight files' sizes/mtimes, env
id, env kwargs, storage dtype). It holds ``meta.json`` (what the key stands for, for humans) and shards
``rows-<uuid>.safetensors`` written atomically (temp file + rename), each with tensors ``tokens`` (int32,
the rows' token ids back to back), ``offsets`` (int64, ``rows + 1``) and ``hidden`` (``(tokens, H)``, one
vector per token), and a blake2b digest of them in the header metadata. No pickle anywhere. Every flush
adds one shard of the new rows; past :data:`MAX_SHARDS` shards, a flush rewrites everything as one. A
shard that fails to load or to verify is deleted with a warning; its rows are re-encoded when next
needed and written again at the next flush.

:func:`precompute` encodes every example of some splits up front, so that training never runs the
encoder.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import threading
import uuid
import warnings
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

FORMAT_VERSION = 1
#: A flush that finds more shards than this in the folder rewrites the whole table as one shard.
MAX_SHARDS = 8
#: Sub-folder of the cache directory that holds the tables (tests point it elsewhere).
CACHE_SUBDIR = "frozen"
_UMASK = os.umask(0o022)
os.umask(_UMASK)
#: Misses are encoded in forward passes of at most this many rows (sorted by length).
ENCODE_BATCH = 128


# ----------------------------------------------------------------------------------------------
# the row table
# ----------------------------------------------------------------------------------------------
class FrozenCache:
    """Distinct rows (token id sequences) -> their hidden states, in one flat table; optionally on disk.

    ``index`` maps a row's key (the bytes of its int32 token ids) to a row number; row ``r`` owns the
    table slice ``values[starts[r] : starts[r] + lengths[r]]``. ``encoded_rows`` / ``encoder_calls``
    count the rows this process encoded and the forward passes it ran (the disk cache's rows excluded).
    """

    def __init__(self, hidden_size: int, dtype: torch.dtype, folder: Path | None = None,
                 meta: dict[str, Any] | None = None) -> None:
        self.hidden_size, self.dtype, self.folder = int(hidden_size), dtype, folder
        self.meta = dict(meta or {})
        self.index: dict[bytes, int] = {}
        self.keys: list[bytes] = []
        self.starts = np.zeros(0, np.int64)
        self.lengths = np.zeros(0, np.int64)
        self.values = torch.zeros(0, self.hidden_size, dtype=dtype)
        self.num_tokens = 0
        self.saved_rows = 0  # rows [0, saved_rows) are on disk
        self.loaded_shards: list[Path] = []
        self.encoded_rows = 0
        self.encoder_calls = 0
        self.lock = threading.RLock()
        if folder is not None:
            self._load()

    def __len__(self) -> int:
        return len(self.keys)

    def __deepcopy__(self, memo: dict) -> FrozenCache:  # a copied policy shares the table
        return self

    # -- adding and reading rows ----------------------------------------------------------------------
    def reserve(self, tokens: int) -> None:
        """Make room for ``tokens`` more table rows (capacity doubles, so appends are amortised O(1))."""
        need = self.num_tokens + int(tokens)
        if need > self.values.shape[0]:
            cap = max(need, 2 * self.values.shape[0], 1024)
            grown = torch.empty(cap, self.hidden_size, dtype=self.dtype)
            grown[: self.num_tokens] = self.values[: self.num_tokens]
            self.values = grown

    def add(self, keys: list[bytes], hidden: torch.Tensor, lengths: np.ndarray) -> None:
        """Append rows: ``hidden (M, L, H)`` (row ``i``'s first ``lengths[i]`` positions are kept)."""
        lengths = np.asarray(lengths, np.int64)
        keep = [i for i, k in enumerate(keys) if k not in self.index]
        if not keep:
            return
        lengths = lengths[keep]
        total = int(lengths.sum())
        self.reserve(total)
        valid = torch.arange(hidden.shape[1])[None] < torch.as_tensor(lengths)[:, None]  # (m, L)
        flat = hidden[torch.as_tensor(keep)][valid]  # (total, H), row-major: row by row
        self.values[self.num_tokens : self.num_tokens + total] = flat.to(self.dtype)
        starts = self.num_tokens + np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        base = len(self.keys)
        for j, i in enumerate(keep):
            self.index[keys[i]] = base + j
            self.keys.append(keys[i])
        self.starts = np.concatenate([self.starts, starts])
        self.lengths = np.concatenate([self.lengths, lengths])
        self.num_tokens += total

    def gather(self, rows: np.ndarray, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, width, H)`` hidden states of row numbers ``rows`` (``-1``: none), zero past each row's
        length, in the storage dtype; and the ``(B, width)`` validity mask."""
        rows = np.asarray(rows, np.int64)
        have = rows >= 0
        safe = np.where(have, rows, 0)
        start = np.where(have, self.starts[safe] if len(self.starts) else 0, 0)
        length = np.where(have, self.lengths[safe] if len(self.lengths) else 0, 0)
        pos = np.arange(width)[None]
        valid = pos < length[:, None]
        tok = np.where(valid, start[:, None] + pos, 0)
        valid_t = torch.from_numpy(valid)
        if self.num_tokens == 0:
            return torch.zeros(len(rows), width, self.hidden_size, dtype=self.dtype), valid_t
        out = self.values.index_select(0, torch.from_numpy(tok.reshape(-1))).reshape(len(rows), width, -1)
        return out.masked_fill_(~valid_t[..., None], 0), valid_t

    # -- disk -----------------------------------------------------------------------------------------
    def _load(self) -> None:
        from safetensors.torch import load_file

        assert self.folder is not None
        for path in sorted(self.folder.glob("rows-*.safetensors")):
            try:
                t = load_file(str(path))
                tokens, offsets, hidden = t["tokens"], t["offsets"], t["hidden"]
                _check_shard(path, tokens, offsets, hidden, self.hidden_size)
            except Exception as e:  # noqa: BLE001 - any damage: ignore the file, re-encode its rows
                warnings.warn(f"frozen encoder cache: ignoring damaged file {path} "
                              f"({type(e).__name__}: {e}); its rows will be re-encoded and saved again",
                              RuntimeWarning, stacklevel=3)
                path.unlink(missing_ok=True)
                continue
            self._add_flat(tokens.numpy(), offsets.numpy(), hidden)
            self.loaded_shards.append(path)
        self.saved_rows = len(self.keys)

    def _add_flat(self, tokens: np.ndarray, offsets: np.ndarray, hidden: torch.Tensor) -> None:
        """Append rows stored back to back (a shard's layout), skipping the rows already known."""
        lengths = np.diff(offsets)
        keys = [tokens[a:b].tobytes() for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
        new = np.asarray([k not in self.index for k in keys], bool)
        if not new.any():
            return
        # duplicates within the shard: keep the first
        seen: set[bytes] = set()
        for i, k in enumerate(keys):
            if new[i]:
                if k in seen:
                    new[i] = False
                seen.add(k)
        tok_keep = np.repeat(new, lengths)
        sel = hidden[torch.from_numpy(tok_keep)].to(self.dtype)
        lens = lengths[new]
        total = int(lens.sum())
        self.reserve(total)
        self.values[self.num_tokens : self.num_tokens + total] = sel
        starts = self.num_tokens + np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
        for k in (k for k, n in zip(keys, new) if n):
            self.index[k] = len(self.keys)
            self.keys.append(k)
        self.starts = np.concatenate([self.starts, starts])
        self.lengths = np.concatenate([self.lengths, lens.astype(np.int64)])
        self.num_tokens += total

    def flush(self) -> Path | None:
        """Write the rows not yet on disk as one new shard (or, past :data:`MAX_SHARDS`, everything as
        one shard); returns the file written, or None. A write error is a warning, never a crash."""
        with self.lock:
            if self.folder is None or len(self.keys) == self.saved_rows:
                return None
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                existing = sorted(self.folder.glob("rows-*.safetensors"))
                compact = len(existing) + 1 > MAX_SHARDS
                first = 0 if compact else self.saved_rows
                path = self._write_shard(first)
                if compact:  # everything is in the new shard: drop the shards this process read or wrote
                    for old in self.loaded_shards:
                        old.unlink(missing_ok=True)
                    self.loaded_shards = []
                self.loaded_shards.append(path)
                self.saved_rows = len(self.keys)
                return path
            except OSError as e:
                warnings.warn(f"frozen encoder cache: could not write to {self.folder} ({e}); "
                              "the new rows stay in memory only", RuntimeWarning, stacklevel=2)
                return None

    def _write_shard(self, first: int) -> Path:
        from safetensors.torch import save_file

        assert self.folder is not None
        keys = self.keys[first:]
        lengths = self.lengths[first:]
        offsets = np.zeros(len(keys) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        tokens = np.frombuffer(b"".join(keys), dtype=np.int32).copy()
        starts = self.starts[first:]
        tok_idx = np.concatenate([np.arange(s, s + n) for s, n in zip(starts.tolist(), lengths.tolist())])
        hidden = self.values.index_select(0, torch.from_numpy(tok_idx.astype(np.int64))).contiguous()
        tensors = {"tokens": torch.from_numpy(tokens), "offsets": torch.from_numpy(offsets), "hidden": hidden}
        metadata = {"format": f"nlp_envs.frozen/{FORMAT_VERSION}", "hidden_size": str(self.hidden_size),
                    "rows": str(len(keys)), "digest": _digest(tensors)}
        name = uuid.uuid4().hex
        path = self.folder / f"rows-{name}.safetensors"
        tmp = self.folder / f".rows-{name}.tmp"  # not a shard name until renamed: never read half-written
        try:
            save_file(tensors, str(tmp), metadata=metadata)
            os.chmod(tmp, 0o666 & ~_UMASK)  # safetensors creates 0600: give the cache the usual mode
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return path


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for name in ("tokens", "offsets", "hidden"):
        t = tensors[name].contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode() + str(t.dtype).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _check_shard(path: Path, tokens: torch.Tensor, offsets: torch.Tensor, hidden: torch.Tensor,
                 h: int) -> None:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != f"nlp_envs.frozen/{FORMAT_VERSION}":
        raise ValueError(f"unknown format {meta.get('format')!r}")
    if (tokens.dtype != torch.int32 or offsets.dtype != torch.int64 or hidden.dim() != 2
            or hidden.shape[1] != h):
        raise ValueError("unexpected tensor dtypes or shapes")
    off = offsets.numpy()
    if (len(off) < 1 or off[0] != 0 or (np.diff(off) < 0).any() or off[-1] != len(tokens)
            or off[-1] != len(hidden)):
        raise ValueError("inconsistent offsets")
    if meta.get("digest") != _digest({"tokens": tokens, "offsets": offsets, "hidden": hidden}):
        raise ValueError("digest mismatch")


# ----------------------------------------------------------------------------------------------
# the frozen encoder
# ----------------------------------------------------------------------------------------------
class FrozenEncoder:
    """Mixed into the encoder's own class (so the module, its parameters and state_dict keys stay).

    :func:`freeze_backbone` sets a frozen encoder's class to ``Frozen<its class>`` (this mixin first) and its
    :attr:`frozen_cache`. It overrides ``train``, ``compile`` and ``forward``; its own state and helpers are
    named ``frozen_*`` / ``_frozen_*`` so that they cannot clash with the wrapped model's attributes.

    Attributes:
        frozen_cache: the :class:`FrozenCache` this encoder reads and fills (shared by every encoder frozen
            with the same key in this process; replaced by a fresh in-memory one when loaded weights differ
            from those the cache encoded).
    """

    frozen_cache: FrozenCache

    def train(self, mode: bool = True):  # always eval: dropout stays off
        return super().train(False)  # type: ignore[misc]

    def compile(self, *args: Any, **kwargs: Any) -> None:  # nothing to compile: a table look-up
        return None

    def _frozen_encode(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The real encoder's last hidden states (no grad, autocast off, on the encoder's device)."""
        dev = next(self.parameters()).device  # type: ignore[attr-defined]
        with torch.no_grad(), torch.autocast(dev.type, enabled=False):
            out = super().forward(input_ids=ids.to(dev), attention_mask=mask.to(dev))  # type: ignore[misc]
        self.frozen_cache.encoder_calls += 1
        return out.last_hidden_state

    def frozen_ensure(self, ids: np.ndarray, lengths: np.ndarray, keys: list[bytes] | None = None) -> None:
        """Encode the rows of ``ids (N, L)`` (real tokens: the first ``lengths``) missing from the table
        (``keys``: the rows' keys when the caller has them already; used by :func:`precompute`)."""
        cache = self.frozen_cache
        if keys is None:
            ids = np.ascontiguousarray(ids, dtype=np.int32)
            keys = [ids[i, :n].tobytes() for i, n in enumerate(lengths.tolist())]
        miss: dict[bytes, int] = {}
        for k, n in zip(keys, lengths.tolist()):
            if n > 0 and k not in cache.index and k not in miss:
                miss[k] = n
        if not miss:
            return
        items = sorted(miss.items(), key=lambda kv: kv[1])  # by length: little padding per batch
        with cache.lock:
            for a in range(0, len(items), ENCODE_BATCH):
                chunk = items[a : a + ENCODE_BATCH]
                lens = np.asarray([n for _, n in chunk], np.int64)
                width = int(lens.max())
                batch = np.zeros((len(chunk), width), np.int64)
                for i, (k, n) in enumerate(chunk):
                    batch[i, :n] = np.frombuffer(k, dtype=np.int32)
                mask = (np.arange(width)[None] < lens[:, None]).astype(np.int64)
                hidden = self._frozen_encode(torch.from_numpy(batch), torch.from_numpy(mask)).float().cpu()
                cache.add([k for k, _ in chunk], hidden, lens)
                cache.encoded_rows += len(chunk)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                **kwargs: Any):
        from transformers.modeling_outputs import BaseModelOutput

        extra = {k: v for k, v in kwargs.items() if v is not None and k != "return_dict"}
        if input_ids is None or extra:  # not a plain (ids, mask) call: the real encoder, uncached
            with torch.no_grad():
                return super().forward(  # type: ignore[misc]
                    input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        shape = input_ids.shape
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        ids2 = input_ids.reshape(-1, shape[-1])
        mask2 = attention_mask.reshape(-1, shape[-1])
        B, L = ids2.shape
        ids_np = np.ascontiguousarray(ids2.detach().cpu().numpy(), dtype=np.int32)
        mask_np = mask2.detach().cpu().numpy() != 0
        lengths = mask_np.sum(1).astype(np.int64)
        prefix = (mask_np == (np.arange(L)[None] < lengths[:, None])).all(1)  # right padding
        keys = [ids_np[i, :n].tobytes() for i, n in enumerate(lengths.tolist())]
        lengths_ok = np.where(prefix, lengths, 0)
        self.frozen_ensure(ids_np, lengths_ok, keys)
        cache = self.frozen_cache
        index = cache.index
        rows = np.asarray([index.get(k, -1) if n > 0 else -1 for k, n in zip(keys, lengths_ok.tolist())],
                          np.int64)
        hidden, _ = cache.gather(rows, L)
        dtype = next(self.parameters()).dtype  # type: ignore[attr-defined]
        hidden = hidden.to(dtype)
        odd = np.nonzero(~prefix)[0]
        if len(odd):  # a mask that is not a prefix (never from the policies): encode those rows directly
            sel = torch.from_numpy(odd)
            hidden[sel] = self._frozen_encode(ids2.cpu()[sel], mask2.cpu()[sel]).to(dtype).cpu()
        hidden = hidden.to(input_ids.device).reshape(*shape, -1)
        return BaseModelOutput(last_hidden_state=hidden)


_CLASSES: dict[type, type] = {}


def _frozen_class(cls: type) -> type:
    if issubclass(cls, FrozenEncoder):
        return cls
    if cls not in _CLASSES:
        _CLASSES[cls] = type(f"Frozen{cls.__name__}", (FrozenEncoder, cls), {"__module__": __name__})
    return _CLASSES[cls]


# ----------------------------------------------------------------------------------------------
# keys, memo, public API
# ----------------------------------------------------------------------------------------------
#: Caches shared within the process by key (the most recent :data:`MEMO_SIZE`); every live cache is
#: flushed at exit, shared or not.
MEMO_SIZE = 4
_MEMO: OrderedDict[str, FrozenCache] = OrderedDict()
_LIVE: weakref.WeakSet[FrozenCache] = weakref.WeakSet()
_MEMO_LOCK = threading.Lock()


def backbone_identity(backbone: str) -> dict[str, Any]:
    """What the cached features depend on in the backbone: its directory, config.json's hash, and its
    weight files' names, sizes and modification times."""
    from nlp_envs.agents.policy import pretrained_dir

    d = pretrained_dir(backbone)
    if d is None:
        raise ValueError(f"backbone {backbone!r} is a from-scratch preset")
    d = d.resolve()
    weights = []
    for pattern in ("*.safetensors", "*.bin", "*.pt"):
        for f in sorted(d.glob(pattern)):
            st = f.stat()
            weights.append([f.name, st.st_size, st.st_mtime_ns])
    config = hashlib.blake2b((d / "config.json").read_bytes(), digest_size=16).hexdigest()
    return {"dir": str(d), "config": config, "weights": weights}


def cache_folder(backbone: str, env_id: str, env_kwargs: dict[str, Any] | None,
                 dtype: torch.dtype = torch.float16) -> tuple[Path, dict[str, Any]]:
    """The disk folder of ``(backbone, env_id, env_kwargs, dtype)`` and the facts its key digests."""
    from nlp_envs.cache import cache_dir
    from nlp_envs.prepared import cache_key

    kwargs = {k: v for k, v in (env_kwargs or {}).items() if k != "split"}
    facts = {"format": FORMAT_VERSION, "backbone": backbone, "backbone_identity": backbone_identity(backbone),
             "env_id": env_id, "env_kwargs": kwargs, "dtype": str(dtype).replace("torch.", "")}
    return cache_dir(CACHE_SUBDIR) / cache_key(facts), facts


def _weights_fingerprint(module: nn.Module) -> tuple[float, ...]:
    with torch.no_grad():
        return tuple(float(p.detach().double().sum()) for p in module.parameters())


def freeze_backbone(policy: nn.Module, *, backbone: str, env_id: str, env_kwargs: dict[str, Any] | None,
                    dtype: torch.dtype = torch.float16, disk: bool = True) -> FrozenCache:
    """Freeze ``policy.encoder`` in place and serve its outputs from a cache (see the module doc).

    Args:
        policy: a policy of :mod:`nlp_envs.agents.policy` with an ``encoder`` (every family but ``generate``).
        backbone: the pretrained backbone it was built with (``"minilm"`` or a model directory).
        env_id, env_kwargs: the env the policy plays (they key the disk cache; ``split`` is ignored).
        dtype: storage dtype of the features (``float16``; ``float32`` for exact ones).
        disk: False keeps the cache in memory only.

    Returns the :class:`FrozenCache` (shared by every policy frozen with the same key in this process).
    """
    from nlp_envs.agents.policy import PRESETS

    if backbone in PRESETS:
        raise ValueError(f"freeze_backbone is for pretrained encoders like minilm (backbone='minilm' or a "
                         f"model directory), not the from-scratch preset {backbone!r}: its random encoder "
                         f"must be trained")
    encoder = getattr(policy, "encoder", None)
    if encoder is None:
        fam = getattr(policy, "family", type(policy).__name__)
        raise ValueError(f"freeze_backbone supports encoder policies (classify, tag, select, multilabel, "
                         f"choice), not {fam!r}: a frozen decoder would leave generation nothing to learn")
    if isinstance(encoder, FrozenEncoder):
        return encoder.frozen_cache
    hidden_size = int(encoder.config.hidden_size)
    folder, facts = cache_folder(backbone, env_id, env_kwargs, dtype)
    key = folder.name if disk else f"memory-{uuid.uuid4().hex}"
    with _MEMO_LOCK:
        cache = _MEMO.get(key)
        if cache is None:
            cache = FrozenCache(hidden_size, dtype, folder if disk else None, facts)
            _LIVE.add(cache)
            if disk and not (folder / "meta.json").exists():
                from nlp_envs.cache import atomic_write_text

                try:
                    atomic_write_text(folder / "meta.json", json.dumps(facts, indent=2, default=str))
                except OSError:
                    pass
            _MEMO[key] = cache
            while len(_MEMO) > MEMO_SIZE:
                _MEMO.popitem(last=False)[1].flush()
        else:
            _MEMO.move_to_end(key)
    for p in encoder.parameters():
        p.requires_grad_(False)
    encoder.__class__ = _frozen_class(type(encoder))
    encoder.frozen_cache = cache
    encoder.eval()
    fingerprint = _weights_fingerprint(encoder)

    def check_weights(module: nn.Module, incompatible: Any) -> None:
        nonlocal fingerprint
        if _weights_fingerprint(module) != fingerprint:  # loaded weights that the cache did not encode
            warnings.warn("freeze_backbone: the encoder's weights changed after freezing (a checkpoint of a "
                          "fine-tuned encoder?); the cached features are dropped and this policy encodes "
                          "afresh, in memory only", RuntimeWarning, stacklevel=2)
            module.frozen_cache = FrozenCache(hidden_size, dtype, None)
            fingerprint = _weights_fingerprint(module)

    encoder.register_load_state_dict_post_hook(check_weights)
    return cache


def cache_of(policy: nn.Module) -> FrozenCache:
    """The :class:`FrozenCache` of a frozen policy."""
    enc = getattr(policy, "encoder", None)
    if not isinstance(enc, FrozenEncoder):
        raise ValueError("this policy's encoder is not frozen (call nlp_envs.agents.frozen.freeze_backbone first)")
    return enc.frozen_cache


def flush(policy: nn.Module | None = None) -> None:
    """Write the new rows to disk: of ``policy``'s cache, or (None) of every cache of this process."""
    if policy is not None:
        cache_of(policy).flush()
        return
    with _MEMO_LOCK:
        caches = list(_LIVE)
    for c in caches:
        c.flush()


def clear_memo() -> None:
    """Flush and forget the in-process caches (a later freeze reads the disk again)."""
    flush()
    with _MEMO_LOCK:
        _MEMO.clear()


atexit.register(flush)


def _split_rows(policy: nn.Module, env_id: str, split: str,
                env_kwargs: dict[str, Any]) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(ids (N, L), lengths (N,))`` blocks of every sequence ``policy`` encodes on ``split`` (its class's
    :meth:`~nlp_envs.agents.policy.Policy.frozen_rows`)."""
    import gymnasium as gym

    import nlp_envs  # noqa: F401  (registers the ids)

    kwargs = {k: v for k, v in env_kwargs.items() if k != "split"}
    env = gym.make(env_id, split=split, disable_env_checker=True, **kwargs).unwrapped
    try:
        return type(policy).frozen_rows(env)
    finally:
        env.close()


def precompute(policy: nn.Module, env_id: str, env_kwargs: dict[str, Any] | None,
               splits: tuple[str, ...] = ("train", "test"), block: int = 4096) -> int:
    """Encode every sequence of ``splits`` (the env's prepared arrays) that the table lacks, then
    :func:`flush`; returns the number of rows encoded. Training and evaluation on those splits then
    never run the encoder. ``env_kwargs`` as for the policy (with the backbone's ``tokenizer``)."""
    enc = getattr(policy, "encoder", None)
    if not isinstance(enc, FrozenEncoder):
        raise ValueError("precompute needs a frozen policy: call nlp_envs.agents.frozen.freeze_backbone first")
    cache = enc.frozen_cache
    before = cache.encoded_rows
    for split in splits:
        for ids, lengths in _split_rows(policy, env_id, split, dict(env_kwargs or {})):
            lengths = np.asarray(lengths, np.int64)
            for a in range(0, len(lengths), block):  # bounded temporary memory per block
                enc.frozen_ensure(np.asarray(ids[a : a + block]), lengths[a : a + block])
    cache.flush()
    return cache.encoded_rows - before
