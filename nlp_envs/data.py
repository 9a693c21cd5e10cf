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
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp_envs import readers
from nlp_envs.cache import hub_offline
from nlp_envs.readers import DataError

SPLITS = ("train", "validation", "test")
_SPLIT_ALIASES = {"dev": "validation", "valid": "validation", "val": "validation", "eval": "validation"}

#: Column schema of each task family.
TASK_COLUMNS: dict[str, tuple[str, ...]] = {
    "classification": ("text", "label"),
    "multilabel": ("text", "label"),
    "ner": ("tokens", "tags"),
    "dialog": ("id", "turns"),
    "mcqa": ("question", "options", "answer"),
}


Loaded = tuple[dict[str, dict[str, list]], "tuple[str, ...] | None", dict[str, Any]]


class TaskData:
    """Raw data of one dataset, in the schema of its task family (:data:`TASK_COLUMNS`), loaded lazily.

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
        extras: source-specific extras (e.g. SGD's provided reply-selection candidate sets).
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

    def where(self, split: str, row: int, *, word: int | None = None, role: str = "label") -> str:
        """Where 1-based ``row`` (and ``word``) of ``split`` is, for error messages: the file, row and
        line for a bring-your-own file (:func:`nlp_envs.readers.locate`), else the dataset and row."""
        key = _SPLIT_ALIASES.get(split, split)
        path = self.files.get(key)
        if path is not None:
            try:
                return f"{readers.locate(path, row, word=word, role=role, **self._options)} (split {split!r})"
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

    def split(self, name: str) -> dict[str, list]:
        """Columns of split ``name`` (aliases such as ``dev`` accepted), or a clear error."""
        key = _SPLIT_ALIASES.get(name, name)
        if key not in self.splits:
            raise DataError(
                f"dataset {self.name!r} has no split {name!r}; available splits: {sorted(self.splits)}"
            )
        return self.splits[key]

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

def _embedded(module: str, labels_attr: str | None) -> Callable[..., Any]:
    """A lazy wrapper around ``nlp_envs.corpora.<module>.generate`` (imported on first use)."""

    def gen(**kwargs: Any) -> tuple[dict[str, dict[str, list]], tuple[str, ...] | None]:
        import importlib

        mod = importlib.import_module(f"nlp_envs.corpora.{module}")
        return mod.generate(**kwargs), (tuple(getattr(mod, labels_attr)) if labels_attr else None)

    gen.__name__ = f"generate_{module}"
    gen.module = module  # type: ignore[attr-defined]
    return gen


#: Embedded generators per task family: name -> callable(**kwargs) -> (splits, label_names or None).
_EMBEDDED: dict[str, dict[str, Callable[..., tuple[dict[str, dict[str, list]], tuple[str, ...] | None]]]] = {
    "classification": {"intents": _embedded("intents", "LABEL_NAMES")},
    "ner": {"entities": _embedded("ner", None), "entities-v1": _embedded("ner_v1", None)},
    "dialog": {"dialogs": _embedded("dialog", None), "dialogs-v1": _embedded("dialog_v1", None)},
    "multilabel": {"topics": _embedded("multilabel", "LABEL_NAMES")},
    "mcqa": {"quiz": _embedded("mcqa", None)},
}


def register_embedded(task: str, name: str, fn: Callable[..., Any]) -> None:
    """Register an embedded generator ``fn(**kwargs) -> (splits, label_names or None)`` for a family."""
    _EMBEDDED.setdefault(task, {})[name] = fn


def embedded_names(task: str) -> list[str]:
    """Names of the embedded generators of a task family."""
    return sorted(_EMBEDDED.get(task, {}))


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
    **columns: Any,
) -> TaskData:
    """Resolve ``dataset`` (see module doc) into :class:`TaskData` for ``task``.

    ``columns`` are the bring-your-own options of the family (``text_column``, ``label_column``,
    ``token_column``, ``tag_column``, ``speaker_key``...), passed to the file readers.
    """
    if task not in TASK_COLUMNS:
        raise ValueError(f"unknown task family {task!r}; known: {sorted(TASK_COLUMNS)}")
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
    embedded = _EMBEDDED.get(task, {})
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
    want = TASK_COLUMNS[task]
    mapping = _column_mapping(task, columns)

    fps = [(s, getattr(d, "_fingerprint", None) or id(d)) for s, d in dd.items()]
    return TaskData(name, task, _digest("hf", fps, sorted(mapping.items())),
                    functools.partial(_load_hf, task, dd, name, mapping))


def _column_mapping(task: str, columns: Mapping[str, Any]) -> dict[str, Any]:
    mapping = {}
    if task in ("classification", "multilabel"):
        mapping = {"text": columns.get("text_column", "text"), "label": columns.get("label_column", "label")}
    elif task == "ner":
        mapping = {"tokens": columns.get("token_column", "tokens"), "tags": columns.get("tag_column", "tags")}
        if not isinstance(mapping["tokens"], str):
            mapping["tokens"] = "tokens"
        if not isinstance(mapping["tags"], str):
            mapping["tags"] = "tags"
    return mapping


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
    if task not in ("classification", "multilabel", "ner", "dialog"):
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
    splits, labels = _EMBEDDED[task][name](**kwargs)
    return splits, labels, {}


def _load_known(name: str, root: Path) -> Loaded:
    known = KNOWN_DATASETS[name]
    out = known.loader(root)
    splits, labels = out if isinstance(out, tuple) else (out, None)
    extras: dict[str, Any] = {}
    if known.task == "dialog":
        try:
            extras["selection"] = readers.load_reply_selection(root, known.folder)
        except DataError:
            pass  # no provided candidate sets: selection envs draw distractors
    return splits, labels, extras


def _load_hf(task: str, dd: Any, name: str, mapping: dict[str, Any]) -> Loaded:
    import datasets

    want = TASK_COLUMNS[task]
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
            if cl is not None and ours in ("label", "tags"):
                label_names = tuple(cl.names)
                if ours == "tags" or task == "multilabel":
                    cols[ours] = [[cl.names[i] for i in row] for row in cols[ours]]
                else:
                    cols[ours] = [cl.names[i] for i in cols[ours]]
        splits[_SPLIT_ALIASES.get(split_name, split_name)] = cols
    return splits, (label_names if task in ("classification", "multilabel") else None), {}


def _load_files(task: str, files: dict[str, Path], columns: dict[str, Any]) -> Loaded:
    splits: dict[str, dict[str, list]] = {}
    for split, f in files.items():
        if task in ("classification", "multilabel"):
            kw = {k: columns[k] for k in ("text_column", "label_column", "label_separator") if k in columns}
            splits[split] = readers.read_table(f, label_list=task == "multilabel", **kw)
        elif task == "ner":
            kw = {k: columns[k] for k in ("token_column", "tag_column", "scheme") if k in columns}
            splits[split] = readers.read_conll(f, **kw)
        else:
            kw = {k: columns[k] for k in ("speaker_key", "text_key", "turns_key") if k in columns}
            splits[split] = readers.read_dialogues_jsonl(f, **kw)
    return splits, None, {}


def _file_signature(p: Path) -> tuple[str, int, int]:
    st = p.stat()
    return (str(p.resolve()), st.st_size, int(st.st_mtime_ns))


def _dir_signature(d: Path) -> list[tuple[str, int, int]]:
    return [_file_signature(p) for p in sorted(d.rglob("*")) if p.is_file()]


def _digest(*parts: Any) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()
