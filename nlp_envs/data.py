"""The data layer: one entry point, :func:`load_task_data`, used by every env.

``dataset=`` may be

(a) the name of an embedded generator (each family's default; works with no files, no network);
(b) the name of a known real dataset (:data:`KNOWN_DATASETS`), read in its upstream file format from
    ``data_dir=`` or ``$NLP_ENVS_DATA_DIR``, else from its Hugging Face hub id when online;
(c) a path to a local file (CSV/TSV/JSONL/Parquet, CoNLL columns for tagging, JSONL dialogues), a
    folder holding ``train.*`` / ``validation.*`` (or ``dev.*``) / ``test.*`` files, or a dict
    ``{"train": path, "test": path, ...}``;
(d) a ``datasets.Dataset`` (used as the train split) or ``datasets.DatasetDict``.

The result is a :class:`TaskData`: plain column dicts per split in the family's schema. Data files
are only read, never written; caches live in the user cache dir (:mod:`nlp_envs.cache`).

What differs between tasks is declared by each family's contract (:class:`nlp_envs.family.DataSchema`,
looked up by task name with :func:`nlp_envs.family.data_schema`): its columns, embedded generators,
bring-your-own file reader, ``datasets`` column mapping and class-label columns, and what carving keeps
in train. The callables a schema names live here (:func:`read_table_file`, :func:`read_conll_file`,
:func:`class_of_rows`...); this module has no branch on a task's name.

Bring-your-own splits (any source):

* ``split=`` takes a Hugging Face style slice of a split (:func:`parse_split`): ``"train[:80%]"``,
  ``"train[80%:]"``, ``"test[:1000]"``, ``"train[-10%:]"``. A slice is a contiguous run of rows in the
  source's order; percent bounds round to the closest row (as ``datasets``), so ``train[:80%]`` and
  ``train[80%:]`` are disjoint and cover the split. The vocabulary and label set still come from the whole
  train split, so envs on different slices of one file share token and label ids.
* ``validation_size=`` / ``test_size=`` (a fraction in (0, 1) of the train rows, rounded up, or a row
  count) carve the missing splits out of the train split, seeded by ``split_seed`` (default 0):
  stratified by label for single-label classification, a plain seeded shuffle for the other families
  (multi-label, NER, dialogue, QA), where every label (entity type) of the file keeps at least one train
  row. Each carved split keeps the source's row order. A split the source already has is an error.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp_envs import readers
from nlp_envs.cache import hub_offline
from nlp_envs.family import DataSchema, data_schema
from nlp_envs.readers import DataError

SPLITS = ("train", "validation", "test")
_SPLIT_ALIASES = {"dev": "validation", "valid": "validation", "val": "validation", "eval": "validation"}

def task_columns(task: str) -> tuple[str, ...]:
    """The columns of a task's splits (its family's :class:`~nlp_envs.family.DataSchema`)."""
    return data_schema(task).columns


Loaded = tuple[dict[str, dict[str, list]], "tuple[str, ...] | None", dict[str, Any]]


# -- split slices ----------------------------------------------------------------------------

SPLIT_GRAMMAR = (
    "NAME or NAME[FROM:TO], NAME one of train/validation (dev)/test, FROM and TO optional integers, "
    "each a row count or a percentage ending in %, negative counting from the end: "
    "'train', 'train[:80%]', 'train[80%:]', 'test[:1000]', 'train[-10%:]'"
)
_SLICE_RE = re.compile(r"^\s*(?P<name>[A-Za-z_][\w-]*)\s*(?:\[\s*(?P<lo>-?\d+%?)?\s*:\s*(?P<hi>-?\d+%?)?\s*\])?\s*$")


@dataclass(frozen=True)
class SplitSpec:
    """A parsed ``split=`` value: the split ``name`` (aliases resolved) and optional slice bounds, each
    ``(value, is_percent)`` or None (see :func:`parse_split`)."""

    name: str
    lo: tuple[int, bool] | None = None
    hi: tuple[int, bool] | None = None
    sliced: bool = False

    def bounds(self, n: int) -> tuple[int, int]:
        """``(start, stop)`` rows of a split of ``n`` rows; percentages round to the closest row."""
        return self._bound(self.lo, n, 0), self._bound(self.hi, n, n)

    @staticmethod
    def _bound(b: tuple[int, bool] | None, n: int, default: int) -> int:
        if b is None:
            return default
        v, pct = b
        if pct:
            v = v + 100 if v < 0 else v
            at = int(round(v * n / 100))
        else:
            at = v + n if v < 0 else v
        return min(max(at, 0), n)


def parse_split(split: str) -> SplitSpec:
    """Parse ``split=``: a split name (``"train"``, ``"dev"``...) or a Hugging Face style slice of one,
    ``NAME[FROM:TO]`` with row counts or percentages (:data:`SPLIT_GRAMMAR`); a bad value raises
    :class:`DataError` with the grammar."""
    if not isinstance(split, str):
        raise DataError(f"split={split!r} must be a string: {SPLIT_GRAMMAR}")
    m = _SLICE_RE.match(split)
    if m is None:
        hint = " (joining splits with '+' is not supported)" if "+" in split else ""
        raise DataError(f"split={split!r} is not a split name or slice{hint}. Accepted: {SPLIT_GRAMMAR}")
    bounds = []
    for part in ("lo", "hi"):
        raw = m.group(part)
        if raw is None:
            bounds.append(None)
            continue
        pct = raw.endswith("%")
        v = int(raw.rstrip("%"))
        if pct and not -100 <= v <= 100:
            raise DataError(f"split={split!r}: {raw} is outside -100%..100%. Accepted: {SPLIT_GRAMMAR}")
        bounds.append((v, pct))
    name = m.group("name")
    sliced = "[" in split
    return SplitSpec(_SPLIT_ALIASES.get(name, name), bounds[0], bounds[1], sliced)



class TaskData:
    """Raw data of one dataset, in the schema of its task family (:func:`task_columns`), loaded lazily.

    The fingerprint is known without reading the data (generator settings, file sizes and times,
    a dataset's own fingerprint), so an env whose prepared split is cached never reads the raw
    files; :meth:`release` drops the loaded columns once an env has prepared its split.

    Attributes:
        name: a display name (``"intents"``, ``"banking77"``, a file path...).
        task: the task family.
        fingerprint: stable digest of the source (used as a cache key).
        splits: split name -> column name -> list of values (loaded on first access).
        label_names: label vocabulary in id order when the source defines one (else None: the env
            derives it from the train split).
        extras: source-specific extras (e.g. SGD's provided reply-selection candidate sets;
            ``split_rows``: split -> 0-based rows of the train source that ``test_size=`` /
            ``validation_size=`` gave it).
    """

    def __init__(self, name: str, task: str, fingerprint: str, loader: Callable[[], Loaded], *,
                 files: Mapping[str, Path] | None = None, options: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.task = task
        self.fingerprint = fingerprint
        self._loader = loader
        self._loaded: Loaded | None = None
        self.files: dict[str, Path] = dict(files or {})  # split -> bring-your-own file (for error messages)
        self._options = dict(options or {})
        self._slices: dict[tuple[str, int, int], dict[str, list]] = {}

    def where(self, split: str, row: int, *, word: int | None = None, role: str = "label") -> str:
        """Where 1-based ``row`` (and ``word``) of ``split`` is, for error messages: the file, row and
        line for a bring-your-own file (:func:`nlp_envs.readers.locate`), else the dataset and row."""
        try:
            spec = parse_split(split)
            key = spec.name
            start = spec.bounds(self._num_rows(key))[0] if spec.sliced else 0
        except (DataError, KeyError):
            key, start = _SPLIT_ALIASES.get(split, split), 0
        source_row = start + row  # 1-based row of the whole split
        carved = self.extras.get("split_rows", {}).get(key)  # rows carved out of the train file
        if carved is not None and 1 <= source_row <= len(carved):
            path, source_row = self.files.get("train"), int(carved[source_row - 1]) + 1
        else:
            path = self.files.get(key)
        if path is not None:
            try:
                return f"{readers.locate(path, source_row, word=word, role=role, **self._options)} (split {split!r})"
            except (DataError, OSError):
                pass
        at = f"dataset {self.name!r} split {split!r}, row {row}"
        return at + (f", word {word}" if word is not None else "") + " (1-based)"

    def _load(self) -> Loaded:
        if self._loaded is None:
            splits, labels, extras = self._loader()
            self._loaded = (splits, tuple(labels) if labels else None, extras or {})
        return self._loaded

    @property
    def splits(self) -> dict[str, dict[str, list]]:
        return self._load()[0]

    @property
    def label_names(self) -> tuple[str, ...] | None:
        return self._load()[1]

    @property
    def extras(self) -> dict[str, Any]:
        return self._load()[2]

    def release(self) -> None:
        """Forget the loaded columns (they are read again if needed)."""
        self._loaded = None
        self._slices.clear()

    def _num_rows(self, key: str) -> int:
        cols = self.splits[key]
        return len(next(iter(cols.values()))) if cols else 0

    def split(self, name: str) -> dict[str, list]:
        """Columns of split ``name``: a split name (aliases such as ``dev`` accepted) or a slice of one,
        ``"train[:80%]"`` (:func:`parse_split`); a clear error for an unknown split or an empty slice."""
        spec = parse_split(name)
        key = spec.name
        if key not in self.splits:
            raise DataError(
                f"dataset {self.name!r} has no split {(spec.name if spec.sliced else name)!r}; available splits: "
                f"{sorted(self.splits)}"
                + ("; a single file is the train split: carve the others with test_size= / validation_size="
                   if key in ("test", "validation") and "train" in self.splits else "")
            )
        cols = self.splits[key]
        if not spec.sliced:
            return cols
        n = self._num_rows(key)
        start, stop = spec.bounds(n)
        if start >= stop:
            raise DataError(
                f"split={name!r} selects no row: split {key!r} of dataset {self.name!r} has {n} rows, so the "
                f"slice is rows {start}:{stop}. Accepted: {SPLIT_GRAMMAR}"
            )
        memo = (key, start, stop)
        if memo not in self._slices:
            self._slices[memo] = {c: v[start:stop] for c, v in cols.items()}
        return self._slices[memo]

    def __repr__(self) -> str:
        return f"TaskData({self.name!r}, task={self.task!r}, loaded={self._loaded is not None})"


@dataclass(frozen=True)
class KnownDataset:
    """A real dataset the project knows how to read from a data directory or the hub."""

    name: str
    task: str
    folder: str
    loader: Callable[[Path], Any]
    hub_id: str | None
    hub_config: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    description: str = ""


def files_in(task: str, folder: str, files: Mapping[str, str], **columns: Any) -> Callable[[Path], Any]:
    """A :class:`KnownDataset` loader for a dataset whose files its family's bring-your-own reader reads
    (``DataSchema.read_file``: CSV/TSV/JSONL tables, CoNLL, JSONL dialogues): ``files`` maps each split to a
    file name in ``data_dir/folder``; ``columns`` are the reader's options (``tag_column=``...). Such a
    dataset needs no loader of its own in :mod:`nlp_envs.readers`, only its entry in :data:`KNOWN_DATASETS`."""

    def load(data_dir: Path) -> dict[str, dict[str, list]]:
        read = data_schema(task).read_file
        if read is None:
            raise DataError(f"{task} has no bring-your-own file reader: give the dataset a loader of its own")
        return {split: read(readers.data_file(data_dir, folder, name), columns) for split, name in files.items()}

    load.__name__ = f"files_in_{folder}"
    return load


def _loader(fn_name: str, **kw: Any) -> Callable[[Path], Any]:
    def load(data_dir: Path) -> Any:
        return getattr(readers, fn_name)(data_dir, **kw)

    load.__name__ = fn_name
    return load


#: Known real datasets: name -> how to find and read them.
KNOWN_DATASETS: dict[str, KnownDataset] = {
    d.name: d
    for d in [
        KnownDataset("banking77", "classification", "banking77", _loader("load_banking77"), "PolyAI/banking77",
                     description="Banking77: 77 banking intents (CC BY 4.0)"),
        KnownDataset("btc", "ner", "broad_twitter_corpus", _loader("load_btc"), "GateNLP/broad_twitter_corpus",
                     text_column="tokens", label_column="ner_tags",
                     description="Broad Twitter Corpus: PER/ORG/LOC tweets (CC BY 4.0)"),
        KnownDataset("wnut17", "ner", "wnut17", _loader("load_wnut17"), "leondz/wnut_17",
                     text_column="tokens", label_column="ner_tags",
                     description="WNUT-17 emerging entities, 6 types (CC BY 4.0)"),
        KnownDataset("uner_ewt", "ner", "uner_english_ewt", _loader("load_uner_ewt"), None,
                     description="UNER English-EWT: dev and test only (CC BY-SA 4.0)"),
        KnownDataset("sgd", "dialog", "sgd", _loader("load_sgd"), None,
                     description="Schema-Guided Dialogue subset (CC BY-SA 4.0)"),
        KnownDataset("taskmaster4", "dialog", "taskmaster4", _loader("load_taskmaster4"), None,
                     description="Taskmaster-4 coffee ordering (CC BY 4.0)"),
        KnownDataset("goemotions", "multilabel", "goemotions", _loader("load_goemotions"),
                     "google-research-datasets/go_emotions", "simplified", "text", "labels",
                     description="GoEmotions: 28 emotions, multi-label (Apache-2.0)"),
        KnownDataset("arc-easy", "mcqa", "arc", _loader("load_arc", subset="easy"), "allenai/ai2_arc", "ARC-Easy",
                     description="ARC-Easy multiple-choice science questions (CC BY-SA 4.0)"),
        KnownDataset("arc-challenge", "mcqa", "arc", _loader("load_arc", subset="challenge"), "allenai/ai2_arc",
                     "ARC-Challenge", description="ARC-Challenge, test split only (CC BY-SA 4.0)"),
    ]
}

def embedded_generator(module: str, labels_attr: str | None = None) -> Callable[..., Any]:
    """A lazy wrapper around ``nlp_envs.corpora.<module>.generate`` (imported on first use), for a
    :class:`~nlp_envs.family.DataSchema`'s ``embedded``: ``fn(**kwargs) -> (splits, label_names or None)``,
    the label names read from the module's ``labels_attr`` (None: the env derives them)."""

    def gen(**kwargs: Any) -> tuple[dict[str, dict[str, list]], tuple[str, ...] | None]:
        import importlib

        mod = importlib.import_module(f"nlp_envs.corpora.{module}")
        return mod.generate(**kwargs), (tuple(getattr(mod, labels_attr)) if labels_attr else None)

    gen.__name__ = f"generate_{module}"
    gen.module = module  # type: ignore[attr-defined]
    return gen


#: Embedded generators registered at run time (:func:`register_embedded`), per task, on top of the schemas'.
_REGISTERED: dict[str, dict[str, Callable[..., Any]]] = {}


def register_embedded(task: str, name: str, fn: Callable[..., Any]) -> None:
    """Register an embedded generator ``fn(**kwargs) -> (splits, label_names or None)`` for a family."""
    data_schema(task)  # an unknown task fails here, naming the known ones
    _REGISTERED.setdefault(task, {})[name] = fn


def _embedded_of(schema: DataSchema) -> dict[str, Callable[..., Any]]:
    return {**schema.embedded, **_REGISTERED.get(schema.name, {})}


def embedded_names(task: str) -> list[str]:
    """Names of the embedded generators of a task family."""
    return sorted(_embedded_of(data_schema(task)))


# -- what the schemas name: bring-your-own readers, datasets column maps, rows kept in train ---------------


def read_table_file(path: Path, columns: Mapping[str, Any]) -> dict[str, list]:
    """One CSV/TSV/JSONL/Parquet file of single labels (``text_column=``, ``label_column=``)."""
    kw = {k: columns[k] for k in ("text_column", "label_column", "label_separator") if k in columns}
    return readers.read_table(path, label_list=False, **kw)


def read_label_lists_file(path: Path, columns: Mapping[str, Any]) -> dict[str, list]:
    """One table of label lists (``label_separator=`` splits a string cell)."""
    kw = {k: columns[k] for k in ("text_column", "label_column", "label_separator") if k in columns}
    return readers.read_table(path, label_list=True, **kw)


def read_conll_file(path: Path, columns: Mapping[str, Any]) -> dict[str, list]:
    """One CoNLL file of token and tag columns (``token_column=``, ``tag_column=``, ``scheme=``)."""
    kw = {k: columns[k] for k in ("token_column", "tag_column", "scheme") if k in columns}
    return readers.read_conll(path, **kw)


def read_dialogues_file(path: Path, columns: Mapping[str, Any]) -> dict[str, list]:
    """One JSONL file of dialogues (``speaker_key=``, ``text_key=``, ``turns_key=``)."""
    kw = {k: columns[k] for k in ("speaker_key", "text_key", "turns_key") if k in columns}
    return readers.read_dialogues_jsonl(path, **kw)


def reply_selection_extras(root: Path, folder: str) -> dict[str, Any]:
    """A known dialogue dataset's provided reply-selection candidate sets (``{"selection": ...}``), or none:
    selection envs then draw distractors."""
    try:
        return {"selection": readers.load_reply_selection(root, folder)}
    except DataError:
        return {}


def text_label_columns(columns: Mapping[str, Any]) -> dict[str, Any]:
    """``datasets`` columns of a text classification: ``text_column=``, ``label_column=``."""
    return {"text": columns.get("text_column", "text"), "label": columns.get("label_column", "label")}


def token_tag_columns(columns: Mapping[str, Any]) -> dict[str, Any]:
    """``datasets`` columns of a tagging task: ``token_column=``, ``tag_column=`` (names only)."""
    mapping = {"tokens": columns.get("token_column", "tokens"), "tags": columns.get("tag_column", "tags")}
    return {k: (v if isinstance(v, str) else k) for k, v in mapping.items()}


def class_of_rows(cols: dict[str, list]) -> list[Any]:
    """Per row, its label (single-label classification: carving is stratified by it)."""
    return [str(v) for v in cols["label"]]


def label_sets_of_rows(cols: dict[str, list]) -> list[Any]:
    """Per row, its label set (multi-label)."""
    return [frozenset(str(x) for x in (v if isinstance(v, (list, tuple)) else [v])) for v in cols["label"]]


def entity_types_of_rows(cols: dict[str, list]) -> list[Any]:
    """Per row, the entity types of its tags (``B-PER`` -> ``PER``; ``O`` is none)."""
    return [frozenset(str(t).split("-", 1)[-1] for t in tags if str(t) != "O") for tags in cols["tags"]]


def data_dir_from(data_dir: str | os.PathLike | None) -> Path | None:
    """``data_dir`` if given, else ``$NLP_ENVS_DATA_DIR``, else None."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("NLP_ENVS_DATA_DIR")
    return Path(env).expanduser() if env else None


def load_task_data(
    task: str,
    dataset: Any,
    *,
    data_dir: str | os.PathLike | None = None,
    dataset_kwargs: Mapping[str, Any] | None = None,
    validation_size: float | int | None = None,
    test_size: float | int | None = None,
    split_seed: int = 0,
    **columns: Any,
) -> TaskData:
    """Resolve ``dataset`` (see module doc) into :class:`TaskData` for ``task``.

    ``columns`` are the bring-your-own options of the family (``text_column``, ``label_column``,
    ``token_column``, ``tag_column``, ``speaker_key``...), passed to the file readers.
    ``validation_size`` / ``test_size`` (a fraction in (0, 1) of the train rows, rounded up, or a row
    count) carve those splits out of the train split when the source has none, seeded by ``split_seed``
    (stratified by label for classification; see the module doc).
    """
    data = _resolve(task, dataset, data_dir=data_dir, dataset_kwargs=dataset_kwargs, **columns)
    if validation_size is None and test_size is None:
        return data
    sizes = {"validation": _check_size("validation_size", validation_size),
             "test": _check_size("test_size", test_size)}
    if isinstance(split_seed, bool) or not isinstance(split_seed, (int, np.integer)):
        raise ValueError(f"split_seed={split_seed!r} must be an int")
    fp = _digest("carved", CARVE_VERSION, data.fingerprint, sorted(sizes.items()), int(split_seed))
    return TaskData(data.name, task, fp, functools.partial(_load_carved, data, sizes, int(split_seed)),
                    files=data.files, options=data._options)


def _resolve(
    task: str,
    dataset: Any,
    *,
    data_dir: str | os.PathLike | None = None,
    dataset_kwargs: Mapping[str, Any] | None = None,
    **columns: Any,
) -> TaskData:
    schema = data_schema(task)  # an unknown task: a ValueError naming the known ones
    kwargs = dict(dataset_kwargs or {})
    if _is_hf_dataset(dataset):
        return _from_hf(task, dataset, name=f"datasets.{type(dataset).__name__}", **columns)
    if isinstance(dataset, Mapping):
        files = {_SPLIT_ALIASES.get(k, k): Path(v) for k, v in dataset.items()}
        return _from_files(task, files, name=str({k: str(v) for k, v in files.items()}), **columns)
    if not isinstance(dataset, (str, os.PathLike)):
        raise TypeError(
            f"dataset must be a name, a path, a dict of split paths or a datasets.Dataset(Dict), not {type(dataset).__name__}"
        )
    name = str(dataset)
    embedded = _embedded_of(schema)
    if name in embedded:
        gen = embedded[name]
        fp = _digest("embedded", task, name, sorted(kwargs.items()), _generator_code(gen))
        return TaskData(name, task, fp, functools.partial(_load_embedded, task, name, kwargs))
    if kwargs:
        raise ValueError(f"dataset_kwargs={kwargs} only apply to embedded generators ({sorted(embedded)})")
    known = KNOWN_DATASETS.get(name.lower())
    if known is not None:
        if known.task != task:
            raise DataError(f"dataset {name!r} is a {known.task} dataset, not {task}")
        return _from_known(known, data_dir)
    path = Path(name).expanduser()
    if path.exists():
        return _from_files(task, _split_files(path), name=name, **columns)
    if "/" in name and not name.startswith((".", "/", "~")):
        return _from_hub(task, name, None, name=name, **columns)
    known_names = sorted(embedded) + sorted(k for k, d in KNOWN_DATASETS.items() if d.task == task)
    raise DataError(
        f"unknown dataset {name!r} for {task}: not a known name, not an existing path, not a hub id. "
        f"Known names: {known_names}"
    )


# -- carved splits (validation_size= / test_size=) ---------------------------------------------

#: bump when the carving rule changes (part of the fingerprint: old cache entries are not reused)
CARVE_VERSION = 1


def _check_size(name: str, size: Any) -> float | int | None:
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}={size!r}: give a fraction in (0, 1) or a row count (int >= 1)")
    if isinstance(size, (int, np.integer)):
        if size < 1:
            raise ValueError(f"{name}={size}: a row count must be >= 1 (or give a fraction in (0, 1))")
        return int(size)
    if not 0.0 < float(size) < 1.0:
        raise ValueError(f"{name}={size}: a fraction must be in (0, 1) (or give a row count, an int)")
    return float(size)


def _row_labels(task: str, cols: dict[str, list]) -> list[Any] | None:
    """Per row, what must stay represented in train (the schema's ``row_labels``: the label, stratified,
    for classification; the label set for multi-label; the entity types for NER); None: no labels."""
    rows = data_schema(task).row_labels
    return None if rows is None else rows(cols)


def _allocate(total: int, counts: np.ndarray, caps: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Split ``total`` rows over classes in proportion to ``counts`` (largest remainder, ties drawn
    by ``rng``), at most ``caps`` per class."""
    exact = total * counts / counts.sum()
    out = np.minimum(np.floor(exact).astype(np.int64), caps)
    order = np.lexsort((rng.random(len(counts)), -(exact - np.floor(exact))))
    left = total - int(out.sum())
    while left > 0:
        room = [i for i in order if out[i] < caps[i]]
        if not room:
            break
        for i in room[:left]:
            out[i] += 1
        left = total - int(out.sum())
    return out


def carve_rows(task: str, cols: dict[str, list], sizes: Mapping[str, float | int | None], seed: int = 0,
               *, where: str = "the train split") -> dict[str, np.ndarray]:
    """Assign the rows of ``cols`` (a train split) to ``train`` and the splits of ``sizes``
    (``{"validation": 0.1, "test": 0.2}``: fractions of the rows, rounded up, or counts): seeded,
    stratified by label for classification (each label keeps >= 1 train row), else a plain seeded
    shuffle after which every label / entity type of the file keeps >= 1 train row. Returns split ->
    sorted 0-based row indices."""
    n = len(next(iter(cols.values()))) if cols else 0
    want = {k: (math.ceil(v * n - 1e-9) if isinstance(v, float) else int(v)) for k, v in sizes.items() if v is not None}
    if sum(want.values()) >= n:
        asked = ", ".join(f"{k} {v}" for k, v in want.items())
        raise DataError(
            f"{where} has {n} rows: carving {asked} leaves none to train on; give smaller "
            f"validation_size= / test_size= (fractions in (0, 1) or row counts)"
        )
    rng = np.random.default_rng(seed)
    labels = _row_labels(task, cols)
    out: dict[str, list[int]] = {"train": []}
    if data_schema(task).stratify:
        assert labels is not None
        classes = sorted(set(labels))
        by_class = {c: [] for c in classes}
        for i, lab in enumerate(labels):
            by_class[lab].append(i)
        counts = np.array([len(by_class[c]) for c in classes], dtype=np.int64)
        room = counts - 1  # every label keeps a train row (the label set comes from train)
        taken: dict[str, np.ndarray] = {}
        for split in ("test", "validation"):
            if split in want:
                taken[split] = _allocate(want[split], counts, room, rng)
                room = room - taken[split]
                if taken[split].sum() < want[split]:
                    raise DataError(
                        f"{where}: {split} needs {want[split]} rows but only {int(taken[split].sum())} can be "
                        f"taken while every label keeps a train row ({len(classes)} labels, {n} rows); "
                        "give a smaller size"
                    )
        for k, c in enumerate(classes):
            perm = rng.permutation(by_class[c])
            at = 0
            for split in ("test", "validation"):
                if split in taken:
                    m = int(taken[split][k])
                    out.setdefault(split, []).extend(perm[at : at + m].tolist())
                    at += m
            out["train"].extend(perm[at:].tolist())
    else:
        perm = rng.permutation(n).tolist()
        at = 0
        for split in ("test", "validation"):
            if split in want:
                out[split] = perm[at : at + want[split]]
                at += want[split]
        out["train"] = perm[at:]
        if labels is not None:
            _keep_labels_in_train(out, labels)
    return {k: np.array(sorted(v), dtype=np.int64) for k, v in out.items()}


def _keep_labels_in_train(out: dict[str, list[int]], labels: list[frozenset]) -> None:
    """Swap rows so that every label (entity type) of the file has a train row: a held-out row holding a
    missing label goes to train, in exchange for a train row whose labels all stay covered."""
    count: dict[Any, int] = {}
    for r in out["train"]:
        for lab in labels[r]:
            count[lab] = count.get(lab, 0) + 1
    every = sorted({lab for row in labels for lab in row}, key=str)
    for lab in every:
        if count.get(lab):
            continue
        split, r = next((s, r) for s in ("test", "validation") if s in out for r in out[s] if lab in labels[r])
        for x in labels[r]:
            count[x] = count.get(x, 0) + 1
        swap = next((t for t in out["train"] if all(count[x] >= 2 for x in labels[t])), None)
        out[split].remove(r)
        out["train"].append(r)
        if swap is not None:
            out["train"].remove(swap)
            out[split].append(swap)
            for x in labels[swap]:
                count[x] -= 1


def _load_carved(data: TaskData, sizes: dict[str, float | int | None], seed: int) -> Loaded:
    splits, labels, extras = data._load()
    data.release()
    if "train" not in splits:
        raise DataError(
            f"dataset {data.name!r} has no train split to carve validation_size= / test_size= from; "
            f"it has {sorted(splits)}"
        )
    for split, size in sizes.items():
        if size is not None and split in splits:
            where = f" ({data.files[split]})" if split in data.files else ""
            param = "test_size" if split == "test" else "validation_size"
            raise DataError(
                f"dataset {data.name!r} already has a {split} split{where}: {param}={size} would replace it; "
                f"drop {param}= (or the {split} file)"
            )
    train = splits["train"]
    where = f"{data.files['train']} (train)" if "train" in data.files else f"dataset {data.name!r} split 'train'"
    rows = carve_rows(data.task, train, sizes, seed, where=where)
    out = dict(splits)
    for split, idx in rows.items():
        out[split] = {c: [v[i] for i in idx] for c, v in train.items()}
    return out, labels, {**extras, "split_rows": rows}


# -- sources ---------------------------------------------------------------------------------


def _from_known(known: KnownDataset, data_dir: str | os.PathLike | None) -> TaskData:
    root = data_dir_from(data_dir)
    if root is not None and (root / known.folder).is_dir():
        fp = _digest("known", known.name, _dir_signature(root / known.folder))
        return TaskData(known.name, known.task, fp, functools.partial(_load_known, known.name, root))
    where = (
        f"{root / known.folder} does not exist" if root is not None
        else "no data directory is set (data_dir= or NLP_ENVS_DATA_DIR)"
    )
    if known.hub_id is None:
        raise DataError(
            f"dataset {known.name!r} is read from a data directory only and {where}. "
            f"Point data_dir= or NLP_ENVS_DATA_DIR at a folder holding {known.folder}/"
        )
    if hub_offline():
        raise DataError(
            f"dataset {known.name!r}: {where}, and the hub is offline (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE). "
            f"Set data_dir= or NLP_ENVS_DATA_DIR to a folder holding {known.folder}/, or go online to "
            f"download {known.hub_id!r}"
        )
    return _from_hub(known.task, known.hub_id, known.hub_config, name=known.name,
                     text_column=known.text_column, label_column=known.label_column)


def _from_hub(task: str, hub_id: str, config: str | None, *, name: str, **columns: Any) -> TaskData:
    if hub_offline():
        raise DataError(
            f"dataset {hub_id!r} looks like a hub id, but the hub is offline (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE). "
            "Use a local path, or a known name with data_dir= / NLP_ENVS_DATA_DIR"
        )
    import datasets

    try:
        dd = datasets.load_dataset(hub_id, config)
    except Exception as e:  # noqa: BLE001 - re-raised with the name and the fix
        raise DataError(f"could not load {hub_id!r} from the hub: {e}") from e
    return _from_hf(task, dd, name=name, **columns)


def _is_hf_dataset(obj: Any) -> bool:
    mod = type(obj).__module__
    return mod.startswith("datasets.") and type(obj).__name__ in {"Dataset", "DatasetDict"}


def _from_hf(task: str, ds: Any, *, name: str, **columns: Any) -> TaskData:
    """Convert a ``datasets.Dataset``/``DatasetDict`` to the family schema (ClassLabel names kept)."""
    import datasets

    dd = ds if isinstance(ds, datasets.DatasetDict) else datasets.DatasetDict({"train": ds})
    mapping = data_schema(task).hub_columns(columns)

    fps = [(s, getattr(d, "_fingerprint", None) or id(d)) for s, d in dd.items()]
    return TaskData(name, task, _digest("hf", fps, sorted(mapping.items())),
                    functools.partial(_load_hf, task, dd, name, mapping))


def _split_files(path: Path) -> dict[str, Path]:
    if path.is_file():
        return {"train": path}
    files: dict[str, Path] = {}
    for f in sorted(path.iterdir()):
        if not f.is_file() or f.name.startswith("."):
            continue
        stem = f.name.split(".")[0].lower()
        split = _SPLIT_ALIASES.get(stem, stem)
        if split in SPLITS:
            if split in files:
                raise DataError(
                    f"folder {path}: both {files[split].name} and {f.name} are {split} files, so which one to "
                    f"read is ambiguous. Keep one, or pass dataset={{'{split}': <path>, ...}} to choose."
                )
            files[split] = f
    if "train" not in files and "test" not in files:
        raise DataError(
            f"folder {path} holds no train.* / validation.* (or dev.*) / test.* files; found "
            f"{sorted(p.name for p in path.iterdir())[:20]}"
        )
    return files


def _from_files(task: str, files: Mapping[str, Path], *, name: str, **columns: Any) -> TaskData:
    for split, f in files.items():
        if not Path(f).exists():
            raise DataError(f"{split} file {f} does not exist")
    if data_schema(task).read_file is None:
        raise DataError(f"bring-your-own files are not supported for {task} yet; pass a datasets.DatasetDict")

    fp = _digest("files", [(s, _file_signature(Path(f))) for s, f in sorted(files.items())],
                 sorted((k, str(v)) for k, v in columns.items()))
    return TaskData(name, task, fp, functools.partial(_load_files, task, dict(files), dict(columns)),
                    files={s: Path(f) for s, f in files.items()}, options=columns)


def _generator_code(gen: Callable[..., Any]) -> str:
    """Digest of an embedded generator's source file (a changed generator invalidates caches)."""
    import importlib.util
    import inspect

    module = getattr(gen, "module", None)
    try:
        if module is not None:
            spec = importlib.util.find_spec(f"nlp_envs.corpora.{module}")
            path = spec.origin if spec else None
        else:
            path = inspect.getsourcefile(gen)
        if not path:
            return ""
        shared = Path(path).with_name("_rng.py")  # the generators' shared random helpers
        code = Path(path).read_bytes() + (shared.read_bytes() if shared.exists() else b"")
        return hashlib.blake2b(code, digest_size=8).hexdigest()
    except (OSError, TypeError):
        return ""


def _load_embedded(task: str, name: str, kwargs: dict[str, Any]) -> Loaded:
    splits, labels = _embedded_of(data_schema(task))[name](**kwargs)
    return splits, labels, {}


def _load_known(name: str, root: Path) -> Loaded:
    known = KNOWN_DATASETS[name]
    out = known.loader(root)
    splits, labels = out if isinstance(out, tuple) else (out, None)
    extras_of = data_schema(known.task).known_extras  # e.g. SGD's provided reply-selection candidate sets
    extras: dict[str, Any] = {} if extras_of is None else dict(extras_of(root, known.folder))
    return splits, labels, extras


def _load_hf(task: str, dd: Any, name: str, mapping: dict[str, Any]) -> Loaded:
    import datasets

    schema = data_schema(task)
    want = schema.columns
    splits: dict[str, dict[str, list]] = {}
    label_names: tuple[str, ...] | None = None
    for split_name, d in dd.items():
        cols: dict[str, list] = {}
        for ours in want:
            theirs = mapping.get(ours, ours)
            if theirs not in d.column_names:
                raise DataError(
                    f"{name} split {split_name!r} has no column {theirs!r} (for {ours!r}); "
                    f"columns: {d.column_names}. Pass {ours}_column=<name>"
                )
            cols[ours] = d[theirs]
            feat = d.features[theirs]
            inner = getattr(feat, "feature", None)  # Sequence(ClassLabel) / List(ClassLabel)
            cl = feat if isinstance(feat, datasets.ClassLabel) else (
                inner if isinstance(inner, datasets.ClassLabel) else None)
            if cl is not None and ours in schema.class_labels:
                label_names = tuple(cl.names)
                if schema.class_labels[ours]:  # lists of ids (tags, label sets)
                    cols[ours] = [[cl.names[i] for i in row] for row in cols[ours]]
                else:
                    cols[ours] = [cl.names[i] for i in cols[ours]]
        splits[_SPLIT_ALIASES.get(split_name, split_name)] = cols
    return splits, (label_names if schema.hub_label_names else None), {}


def _load_files(task: str, files: dict[str, Path], columns: dict[str, Any]) -> Loaded:
    read = data_schema(task).read_file
    assert read is not None  # checked by _from_files
    return {split: read(f, columns) for split, f in files.items()}, None, {}


def _file_signature(p: Path) -> tuple[str, int, int]:
    st = p.stat()
    return (str(p.resolve()), st.st_size, int(st.st_mtime_ns))


def _dir_signature(d: Path) -> list[tuple[str, int, int]]:
    return [_file_signature(p) for p in sorted(d.rglob("*")) if p.is_file()]


def _digest(*parts: Any) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()
