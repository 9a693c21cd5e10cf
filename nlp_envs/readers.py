"""Plain-Python readers for the data files behind the environments.

Every reader returns *columns*: a ``dict[str, list]`` whose lists all have the same length (one item per
example). Loaders of known datasets return ``{split: columns}`` with split names ``"train"``,
``"validation"`` and ``"test"``. Files are only ever read, never written; ``.gz`` files are read
transparently. Text is decoded as UTF-8 (a leading byte-order mark is dropped).

Every problem with a file raises :class:`DataError` (a ``ValueError``) whose message names the file, the
row or line (1-based), the column or value at fault, and what to do about it. Readers are strict: a
byte that is not UTF-8 or a NUL byte (``line L, column C``, the 1-based character), a truncated or
corrupt ``.gz`` file, a row with more or fewer fields than the header (``line L, field F``, 1-based),
a duplicate column name, a missing, empty or NaN label, and a file without any data are errors, never
silently read. A column that the caller passed as an int position is echoed as given (``column 1`` =
``label_column=1``).

Generic readers (bring your own data):

* :func:`read_table` -- text classification tables: ``.csv``, ``.tsv``, ``.jsonl``/``.json`` (JSON lines)
  and ``.parquet``, each optionally ``.gz``; single labels or label lists.
* :func:`read_conll` -- token/tag columns (CoNLL, WNUT, UNER/CoNLL-U-like), converted to BIO (IOB2).
* :func:`read_dialogues_jsonl` and :func:`dialogue_pairs` -- dialogues and their (context, reply) pairs.

Known datasets (upstream layout under a data directory, see ``SOURCES.md`` of the shared data folder):
:func:`load_banking77`, :func:`load_btc`, :func:`load_wnut17`, :func:`load_uner_ewt`, :func:`load_sgd`,
:func:`load_taskmaster4`, :func:`load_reply_selection`, :func:`load_goemotions`, :func:`load_arc`.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
import re
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Union

import numpy as np

__all__ = [
    "DataError",
    "read_table",
    "read_conll",
    "read_dialogues_jsonl",
    "dialogue_pairs",
    "load_banking77",
    "load_btc",
    "load_wnut17",
    "load_uner_ewt",
    "load_sgd",
    "load_taskmaster4",
    "load_reply_selection",
    "load_goemotions",
    "load_arc",
    "TAG_SCHEMES",
    "locate",
]

PathLike = Union[str, "os.PathLike[str]"]
Columns = dict[str, list[Any]]
Splits = dict[str, Columns]

#: Values accepted by ``read_conll(scheme=...)``.
TAG_SCHEMES = ("auto", "iob1", "iob2", "bio", "bioes", "iobes")

# Upstream split file stem -> our split name.
_SPLIT_NAMES = {"train": "train", "dev": "validation", "test": "test"}


class DataError(ValueError):
    """A data file is missing or malformed. The message names the file, the row/line, the column or
    value at fault, and what to do."""


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _where(path: Path, *, line: int | None = None, row: int | None = None, column: Any = None) -> str:
    """``"<path>, row 3 (line 4), column 'label'"`` -- the location prefix of every error message."""
    parts = [str(path)]
    if row is not None and line is not None and row != line:
        parts.append(f"row {row} (line {line})")
    elif row is not None:
        parts.append(f"row {row}")
    elif line is not None:
        parts.append(f"line {line}")
    if column is not None:
        parts.append(f"column {column!r}")
    return ", ".join(parts)


def _base_suffix(path: Path) -> str:
    """The lower-cased suffix of ``path`` ignoring a trailing ``.gz`` (``data.tsv.gz`` -> ``.tsv``)."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[: -len(".gz")]
    return Path(name).suffix


def _check_file(path: PathLike) -> Path:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: file not found. Check the path (and the data directory you passed).")
    return p


def _open_binary(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _lines(path: Path, *, keep_ends: bool = False) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` of a (possibly gzipped) UTF-8 text file, split on ``\\n`` only.

    A leading byte-order mark is dropped. ``keep_ends=False`` removes the line ending (``\\n`` or
    ``\\r\\n``). Bytes that are not UTF-8, NUL bytes and a truncated/corrupt gzip stream raise
    :class:`DataError` naming the line (and the 1-based character column).
    """
    number = 0
    gz = path.name.lower().endswith(".gz")
    try:
        with _open_binary(path) as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    col = len(raw[: err.start].decode("utf-8", "replace")) + 1
                    raise DataError(
                        f"{path}, line {number}, column {col}: not valid UTF-8 ({err.reason}, byte "
                        f"0x{raw[err.start]:02x}). Re-encode the file as UTF-8 (e.g. `iconv -f latin1 -t "
                        "utf-8`); a binary file is not a data file."
                    ) from None
                if number == 1 and line.startswith("\ufeff"):
                    line = line[1:]
                if "\0" in line:
                    raise DataError(
                        f"{path}, line {number}, column {line.index(chr(0)) + 1}: a NUL byte. Text data "
                        "cannot hold NUL bytes: remove them (e.g. `tr -d '\\000'`), or check that this "
                        "is a text file (UTF-16 files must be re-encoded as UTF-8)."
                    )
                if not keep_ends and line.endswith("\n"):
                    line = line[:-1]
                    if line.endswith("\r"):
                        line = line[:-1]
                yield number, line
    except (EOFError, OSError, zlib.error) as err:
        what = "the gzip stream is truncated or corrupt" if gz else "the file cannot be read"
        raise DataError(
            f"{path}, line {number + 1}: {what} ({type(err).__name__}: {err}). "
            + ("Re-download or re-compress the file." if gz else "Check the file and its permissions.")
        ) from None


def _read_bytes(path: Path) -> bytes:
    """All bytes of a (possibly gzipped) file; a truncated/corrupt gzip stream is a :class:`DataError`."""
    try:
        with _open_binary(path) as fh:
            return fh.read()
    except (EOFError, OSError, zlib.error) as err:
        raise DataError(
            f"{path}: the {'gzip stream is truncated or corrupt' if path.name.lower().endswith('.gz') else 'file cannot be read'} "
            f"({type(err).__name__}: {err}). Re-download the file."
        ) from None


def _iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` with the line ending (``\\n`` or ``\\r\\n``) removed.

    Lines are split on ``\\n`` only, so a stray ``\\r`` or other Unicode line separator inside a field
    never splits a line.
    """
    return _lines(path)


def _unique_keys(path: Path, number: int) -> Any:
    """A ``json`` ``object_pairs_hook`` that refuses a key given twice in one object."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) != len(pairs):
            seen: set[str] = set()
            dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
            raise DataError(
                f"{_where(path, line=number, column=dup)}: key {dup!r} appears twice in one JSON object "
                "(only one value would be kept). Remove or rename one of them."
            )
        return out

    return hook


def _json_line(path: Path, number: int, line: str, *, unique_keys: bool = False) -> Any:
    try:
        if unique_keys:
            return json.loads(line, object_pairs_hook=_unique_keys(path, number))
        return json.loads(line)
    except json.JSONDecodeError as err:
        raise DataError(
            f"{_where(path, line=number)}: invalid JSON ({err.msg} at character {err.pos}). "
            "A .jsonl/.json file must hold one JSON value per line (JSON lines)."
        ) from None


def _data_file(data_dir: PathLike, folder: str, filename: str) -> Path:
    """``data_dir/folder/filename``, or the same name with ``.gz`` added (or removed) if that exists."""
    path = Path(data_dir) / folder / filename
    candidates = [path]
    if filename.endswith(".gz"):
        candidates.append(path.with_name(filename[: -len(".gz")]))
    else:
        candidates.append(path.with_name(filename + ".gz"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DataError(
        f"{path}: file not found (also looked for {candidates[1].name}). Pass the data directory that "
        f"holds the '{folder}/' folder, laid out as described in SOURCES.md."
    )


#: The public name of the data-folder file lookup (:func:`nlp_envs.data.files_in` reads known datasets with it).
data_file = _data_file


# --------------------------------------------------------------------------------------------------
# read_table
# --------------------------------------------------------------------------------------------------


def _unquote_tsv(field: str) -> str:
    """Undo CSV-style quoting of one TSV field: only a field that is a whole CSV-quoted field (starts
    *and* ends with ``"``, every inner ``"`` doubled) is unquoted (outer quotes dropped, inner ``""``
    undoubled); any other field -- raw quotes such as ``"Hi" said "Bob"`` -- is returned verbatim."""
    if len(field) >= 2 and field[0] == '"' and field[-1] == '"':
        inner = field[1:-1]
        if '"' not in inner.replace('""', ""):
            return inner.replace('""', '"')
    return field


def _header_columns(path: Path, header: Sequence[str], text_column: str | int, label_column: str | int,
                    repeated: Callable[[int, int, str], str]) -> tuple[int, int]:
    """The text and label column indices of ``header`` (:func:`_resolve_column`), after checking that no
    column name occurs twice: the first repeat fails with ``repeated(first index, index, name)``."""
    for j, name in enumerate(header):
        if name in header[:j]:
            raise DataError(repeated(header.index(name), j, name))
    text_idx = _resolve_column(path, header, text_column, "text")
    return text_idx, _resolve_column(path, header, label_column, "label")


def _resolve_column(path: Path, header: Sequence[str], column: str | int, role: str) -> int:
    """Index of ``column`` (a header name or a position) in ``header``."""
    if isinstance(column, int):
        if not -len(header) <= column < len(header):
            raise DataError(
                f"{_where(path, line=1, column=column)}: {role} column index {column} is out of range; "
                f"the header has {len(header)} columns: {', '.join(map(repr, header))}. "
                f"Pass a valid {role}_column."
            )
        return column
    if column not in header:
        raise DataError(
            f"{_where(path, line=1, column=column)}: no {role} column named {column!r}; available "
            f"columns: {', '.join(map(repr, header))}. Pass {role}_column=<one of these>."
        )
    return list(header).index(column)


def _delimited_rows(
    path: Path, delimiter: str, text_column: str | int, label_column: str | int
) -> Iterator[tuple[int, int, Any, Any, tuple[str | int, str | int]]]:
    """Yield ``(row, line, text, label, (text_col, label_col))`` from a CSV (``csv`` module) or TSV
    (split on TAB, :func:`_unquote_tsv`) file. ``label`` is ``None`` when the row is too short."""
    has_header = isinstance(text_column, str) or isinstance(label_column, str)
    kind = "CSV" if delimiter == "," else "TSV"

    def records() -> Iterator[tuple[int, list[str]]]:
        """``(first line of the record, fields)``; blank lines are skipped."""
        if delimiter == ",":
            reader = csv.reader(line for _, line in _lines(path, keep_ends=True))
            start = 1
            try:
                for fields in reader:
                    if fields:  # the csv module yields [] for a blank line
                        yield start, fields
                    start = reader.line_num + 1
            except csv.Error as err:
                if "new-line character" in str(err):
                    raise DataError(
                        f"{_where(path, line=reader.line_num)}: a bare carriage return (\\r) inside an "
                        "unquoted field. Quote the field (RFC 4180) or remove the \\r (old Mac line ends: "
                        "convert them to \\n)."
                    ) from None
                raise DataError(
                    f"{_where(path, line=reader.line_num)}: malformed CSV ({err}). Fix the quoting "
                    "(RFC 4180: quote fields holding commas/newlines, double inner quotes)."
                ) from None
        else:
            for number, line in _lines(path):
                if line:
                    yield number, [_unquote_tsv(f) for f in line.split("\t")]

    it = records()
    width_line = 1
    if has_header:
        first = next(it, None)
        if first is None:
            raise DataError(f"{path}: the file is empty but a header row was expected. Add a header row.")
        header = first[1]
        width_line = first[0]
        text_idx, label_idx = _header_columns(
            path, header, text_column, label_column,
            lambda i, j, name: f"{path}, line {first[0]}, field {j + 1}: column name {name!r} appears twice "
            f"in the header (fields {i + 1} and {j + 1}). Rename one of them.",
        )
        names: tuple[str | int, str | int] = (header[text_idx], header[label_idx])
        width: int | None = len(header)
    else:
        text_idx, label_idx = int(text_column), int(label_column)
        names = (text_column, label_column)
        width = None  # set by the first row

    for row, (line, fields) in enumerate(it, start=1):
        for idx, name, role in ((text_idx, names[0], "text"), (label_idx, names[1], "label")):
            if not -len(fields) <= idx < len(fields):
                raise DataError(
                    f"{_where(path, row=row, line=line, column=name)}: the row has only {len(fields)} "
                    f"field(s), so there is no {role} column. Fix the row (a missing delimiter?) or pass "
                    f"another {role}_column."
                )
        if width is None:
            width, width_line = len(fields), line
        if len(fields) != width:
            what = "the header" if has_header else f"the first row (line {width_line})"
            if len(fields) > width:
                hint = (
                    "Quote the field that holds a comma (\"hello, world\") -- RFC 4180"
                    if kind == "CSV" else "A TAB cannot be part of a TSV field: remove it"
                )
                shown = ", ".join(repr(f if len(f) <= 40 else f[:37] + "...") for f in fields[:8])
                raise DataError(
                    f"{path}, line {line}, field {width + 1}: the row has {len(fields)} fields but {what} "
                    f"has {width}: {shown}{', ...' if len(fields) > 8 else ''}. {hint}."
                )
            raise DataError(
                f"{path}, line {line}, field {len(fields) + 1}: the row has {len(fields)} field(s) but "
                f"{what} has {width}: field(s) {len(fields) + 1}..{width} are missing. Fix the row (a "
                "missing delimiter?) or fill in the empty fields."
            )
        yield row, line, fields[text_idx], fields[label_idx], names


def _json_rows(
    path: Path, text_column: str | int, label_column: str | int
) -> Iterator[tuple[int, int, Any, Any, tuple[str | int, str | int]]]:
    """Rows of a JSON-lines file: objects (columns by key) or arrays (columns by position)."""
    row = 0
    for line_no, line in _iter_lines(path):
        if not line.strip():
            continue
        row += 1
        record = _json_line(path, line_no, line, unique_keys=True)
        values = []
        for column, role in ((text_column, "text"), (label_column, "label")):
            loc = _where(path, row=row, line=line_no, column=column)
            if isinstance(record, dict):
                if not isinstance(column, str):
                    raise DataError(
                        f"{loc}: the record is a JSON object, so {role}_column must be a key, not a "
                        f"position; available keys: {', '.join(map(repr, record))}."
                    )
                if column not in record:
                    if role == "label":
                        values.append(None)  # reported below as a missing label
                        continue
                    raise DataError(
                        f"{loc}: no key {column!r}; available keys: {', '.join(map(repr, record))}. "
                        f"Pass {role}_column=<one of these>."
                    )
                values.append(record[column])
            elif isinstance(record, list):
                if not isinstance(column, int):
                    raise DataError(
                        f"{loc}: the record is a JSON array, so {role}_column must be a position (int)."
                    )
                if not -len(record) <= column < len(record):
                    raise DataError(
                        f"{loc}: the record has only {len(record)} item(s). Fix the row or pass another "
                        f"{role}_column."
                    )
                values.append(record[column])
            else:
                raise DataError(
                    f"{_where(path, row=row, line=line_no)}: expected a JSON object or array per line, "
                    f"got {type(record).__name__}. Write one record per line."
                )
        yield row, line_no, values[0], values[1], (text_column, label_column)


def _parquet_rows(
    path: Path, text_column: str | int, label_column: str | int
) -> Iterator[tuple[int, int | None, Any, Any, tuple[str | int, str | int]]]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as err:  # pragma: no cover - pyarrow ships with `datasets`
        raise DataError(f"{path}: reading .parquet needs pyarrow ({err}). `pip install pyarrow`.") from None
    try:
        source = pa.BufferReader(_read_bytes(path)) if path.name.lower().endswith(".gz") else path
        table = pq.ParquetFile(source).read()
    except (OSError, pa.ArrowException) as err:
        raise DataError(f"{path}: not a readable Parquet file ({err}). Check the file.") from None
    header = table.column_names
    text_idx, label_idx = _header_columns(
        path, header, text_column, label_column,
        lambda i, j, name: f"{path}, column {name!r}: the column name appears twice (columns {i} and "
        f"{j}, 0-based). Rename one of them.",
    )
    texts = table.column(text_idx).to_pylist()
    labels = table.column(label_idx).to_pylist()
    names = (header[text_idx], header[label_idx])
    for row, (text, label) in enumerate(zip(texts, labels), start=1):
        yield row, None, text, label, names


#: Label cells that mean "missing" (as pandas writes NaN), refused rather than read as a class.
_NAN_LABELS = frozenset({"nan", "-nan", "+nan"})


def _label_value(
    value: Any, *, label_list: bool, separator: str, loc: str
) -> str | list[str]:
    """Normalise one raw label cell to a string, or (``label_list``) a list of strings."""

    def scalar(item: Any) -> str:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise DataError(
                f"{loc}: label {item!r} is a {type(item).__name__}; labels must be strings or numbers."
            )
        if isinstance(item, float) and not math.isfinite(item) or (
            isinstance(item, str) and item.strip().lower() in _NAN_LABELS
        ):
            raise DataError(
                f"{loc}: the label is {item!r}, a missing value (NaN), not a class. Give the row a label "
                "or drop the row (a class really called NaN needs another name)."
            )
        return str(item).strip()

    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(f"{loc}: the label is missing (empty). Give every row a label or drop the row.")
    if not label_list:
        if isinstance(value, (list, tuple)):
            raise DataError(
                f"{loc}: the label is a list ({value!r}); pass label_list=True for multi-label data."
            )
        return scalar(value)
    items = list(value) if isinstance(value, (list, tuple)) else str(value).split(separator)
    labels = [scalar(item) for item in items]
    if any(not label for label in labels):
        raise DataError(
            f"{loc}: label list {value!r} has an empty item (label_separator={separator!r}). "
            "Remove the stray separator or pass the right label_separator."
        )
    return labels


_TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")


def _table_rows(
    p: Path, text_column: str | int, label_column: str | int
) -> Iterator[tuple[int, int | None, Any, Any, tuple[str | int, str | int]]]:
    suffix = _base_suffix(p)
    if suffix == ".csv":
        return _delimited_rows(p, ",", text_column, label_column)
    if suffix == ".tsv":
        return _delimited_rows(p, "\t", text_column, label_column)
    if suffix in (".jsonl", ".json"):
        return _json_rows(p, text_column, label_column)
    if suffix == ".parquet":
        return _parquet_rows(p, text_column, label_column)
    raise DataError(
        f"{p}: unsupported file type {suffix or '(none)'!r}. Use .csv, .tsv, .jsonl/.json or .parquet "
        "(optionally .gz)."
    )


def locate(path: PathLike, row: int, *, word: int | None = None, role: str = "label", **options: Any) -> str:
    """Where record ``row`` (1-based) of a bring-your-own file is, for error messages of the envs.

    A table (:func:`read_table`; ``options``: its ``text_column``/``label_column``) gives
    ``"<file>, row 2 (line 3), column 'label'"`` (``role="text"``: the text column); a CoNLL file
    (:func:`read_conll`; ``token_column``/``tag_column``) gives ``"<file>, line 12 (sentence 3, word
    2)"`` for 1-based sentence ``row`` and ``word``. Other files: ``"<file>, row 2"``. The file is
    read again, so call this only on the way to an error.
    """
    p = Path(path)
    if _base_suffix(p) in _TABLE_SUFFIXES:
        text_column, label_column = options.get("text_column", "text"), options.get("label_column", "label")
        for r, line, _, _, names in _table_rows(p, text_column, label_column):
            if r == row:
                return _where(p, row=r, line=line, column=names[1] if role == "label" else names[0])
    elif "turns_key" not in options and "speaker_key" not in options:
        try:
            _, _, lines = _conll_sentences(p, options.get("token_column", 0), options.get("tag_column", -1))
        except DataError:
            lines = []
        if 1 <= row <= len(lines):
            ls = lines[row - 1]
            if word is not None and 1 <= word <= len(ls):
                return f"{p}, line {ls[word - 1]} (sentence {row}, word {word})"
            return f"{p}, line {ls[0]} (sentence {row})"
    return f"{p}, row {row}"


def read_table(
    path: PathLike,
    *,
    text_column: str | int = "text",
    label_column: str | int = "label",
    label_list: bool = False,
    label_separator: str = ",",
) -> Columns:
    """Read a text-classification table into ``{"text": [...], "label": [...]}``.

    Formats (chosen by suffix; each may be gzipped, e.g. ``train.tsv.gz``):

    * ``.csv`` -- read with Python's ``csv`` module (RFC 4180: quoted fields may hold commas, doubled
      quotes and newlines).
    * ``.tsv`` -- every line is one row, split on TAB. A field is unquoted only if it is a whole
      CSV-quoted field: it starts *and* ends with ``"`` and every ``"`` inside is doubled (the outer
      quotes are dropped and inner ``""`` undoubled), so CSV-style quoted fields (GoEmotions) read
      right while raw quotes (``"Hi" said "Bob"``, the SMS Spam layout) keep every character and never
      make a row span lines. A TAB can therefore never be part of a field.

    Every row of a CSV/TSV file must have as many fields as the header (or, without a header, as the
    first row): an extra field (an unquoted comma: ``hello, world,pos``) or a missing one is an error
    naming the line and field. Duplicate header names, JSON objects with a key given twice, labels
    that are empty or NaN (``NaN``/``nan`` cells, float NaN), a file without data rows, bytes that are
    not UTF-8, NUL bytes and truncated ``.gz`` files are errors too.
    * ``.jsonl`` / ``.json`` -- JSON lines: one object (columns by key) or array (columns by position)
      per line; blank lines are skipped. A single JSON document holding a list is not supported.
    * ``.parquet`` -- via pyarrow; columns by name or position.

    :param path: the file.
    :param text_column: name or position of the text column. For CSV/TSV, columns given as ints mean
        the file has **no header row**; if either column is given as a name the first row is a header
        (an int column then still selects by position).
    :param label_column: name or position of the label column (see ``text_column``).
    :param label_list: multi-label data: each label cell is a JSON list, or a string split on
        ``label_separator``; labels are then lists of strings.
    :param label_separator: separator of label lists given as strings.
    :return: ``{"text": list[str], "label": list[str] | list[list[str]]}``. Texts are kept verbatim
        (only the line ending is removed); labels are strings (numbers are converted with ``str``) with
        surrounding whitespace stripped -- the environment maps them to ids. An empty JSON label list
        is kept as ``[]``.
    :raises DataError: unknown format; missing column (the message lists the available ones); a row with
        too many or too few fields; a duplicate column name; empty text; missing or NaN label; no data
        rows; malformed CSV/JSON, UTF-8 or gzip. Messages name file, row/line and column.
    """
    p = _check_file(path)
    suffix = _base_suffix(p)
    rows = _table_rows(p, text_column, label_column)
    texts: list[str] = []
    labels: list[Any] = []
    header = suffix in (".csv", ".tsv") and (isinstance(text_column, str) or isinstance(label_column, str))
    for row, line, text, label, (text_name, label_name) in rows:
        loc = _where(p, row=row, line=line, column=text_name)
        if not isinstance(text, str):
            raise DataError(f"{loc}: the text is {text!r}, not a string. Fix the row.")
        if not text.strip():
            raise DataError(f"{loc}: the text is empty. Remove the row or fill in its text.")
        if label_list and isinstance(label, list) and not label:
            labels.append([])
        else:
            labels.append(
                _label_value(
                    label,
                    label_list=label_list,
                    separator=label_separator,
                    loc=_where(p, row=row, line=line, column=label_name),
                )
            )
        texts.append(text)
    if not texts:
        raise DataError(
            f"{p}{', line 1' if header else ''}: no data rows (the file holds "
            f"{'only a header row' if header else 'no records'}). Add examples, or leave the file out."
        )
    return {"text": texts, "label": labels}


# --------------------------------------------------------------------------------------------------
# read_conll
# --------------------------------------------------------------------------------------------------

_TAG_RE = re.compile(r"^(?:O|[BIES]-\S.*)$")
_COMMENT_KV_RE = re.compile(r"^#\s*\w[\w .-]*?\s=(?:\s|$)")


def _required_fields(column: int) -> int:
    return column + 1 if column >= 0 else -column


def _split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``."""
    return ("O", "") if tag == "O" else (tag[0], tag[2:])


def _detect_scheme(sentences: list[list[str]]) -> str:
    """The ``scheme="auto"`` rule; see :func:`read_conll`."""
    iob1 = False
    for tags in sentences:
        prev_prefix, prev_type = "O", ""
        for tag in tags:
            prefix, typ = _split_tag(tag)
            if prefix in ("S", "E"):
                return "bioes"
            if prefix == "I" and (prev_prefix == "O" or prev_type != typ):
                iob1 = True
            prev_prefix, prev_type = prefix, typ
    return "iob1" if iob1 else "iob2"


def _to_iob2(
    tags: list[str], scheme: str, *, path: Path, lines: list[int], strict: bool
) -> list[str]:
    """Convert one sentence's tags to IOB2. ``strict``: a chunk-initial ``I-X`` is an error instead of
    being turned into ``B-X``."""
    out: list[str] = []
    prev_prefix, prev_type = "O", ""
    for tag, line in zip(tags, lines):
        prefix, typ = _split_tag(tag)
        if prefix in ("S", "E") and scheme not in ("bioes", "iobes"):
            raise DataError(
                f"{_where(path, line=line)}: tag {tag!r} is a BIOES tag but scheme={scheme!r}. "
                "Pass scheme='bioes' or scheme='auto'."
            )
        if prefix == "S":
            prefix = "B"
        elif prefix == "E":
            prefix = "I"
        if prefix == "I" and (prev_prefix == "O" or prev_type != typ):
            if strict:
                raise DataError(
                    f"{_where(path, line=line)}: tag {tag!r} starts a chunk (previous tag "
                    f"{out[-1] if out else '<sentence start>'!r}), which is not valid {scheme.upper()}. "
                    "Pass scheme='iob1' (or 'auto') to convert such I- tags to B-."
                )
            prefix = "B"
        out.append("O" if prefix == "O" else f"{prefix}-{typ}")
        prev_prefix, prev_type = prefix, typ
    return out


def read_conll(
    path: PathLike, *, token_column: int = 0, tag_column: int = -1, scheme: str = "auto"
) -> Columns:
    """Read a CoNLL-style token/tag file into ``{"tokens": [[...]], "tags": [[...]]}`` with BIO tags.

    Layout: one token per line, columns separated by TABs (if the line has a TAB it is split on TABs
    exactly, so tokens may hold spaces or be empty, as in BTC) or else by runs of ASCII spaces (only
    ``" "``: a non-breaking space or other Unicode space stays inside its token, ``New\u00a0York``).
    Sentences are separated by lines of only spaces/TABs (an empty line, or WNUT-17's lone TAB). Extra
    columns are ignored, so UNER's ``index<TAB>token<TAB>tag<TAB>-<TAB>annotator`` reads with
    ``token_column=1, tag_column=2``, and CoNLL-2003's ``token POS chunk NER`` with the defaults.

    Special lines:

    * ``-DOCSTART-`` (in the token column) ends the current sentence and is skipped.
    * Comments: a line starting with ``#`` is a comment when (a) it has fewer columns than the
      token/tag columns need, or (b) it looks like a CoNLL-U ``# key = value`` comment
      (``# text = ...``, ``# sent_id = ...``, ``# newdoc id = ...``), or (c) its tag column does not
      hold a tag (``O`` or ``B-``/``I-``/``E-``/``S-`` + type). So the token ``#`` (``#<TAB>O``) and
      hashtags (``#NFL<TAB>B-ORG``) load as tokens. Comments do not end a sentence.

    Tag schemes (``scheme``); the result is always IOB2 (every chunk starts with ``B-``):

    * ``"iob2"`` / ``"bio"``: tags are kept; an ``I-X`` that starts a chunk (at sentence start, after
      ``O`` or after another type) is an error.
    * ``"iob1"``: an ``I-X`` that starts a chunk becomes ``B-X``.
    * ``"bioes"`` / ``"iobes"``: ``S-X`` -> ``B-X``, ``E-X`` -> ``I-X``, ``B``/``I`` kept; then checked
      like IOB2.
    * ``"auto"`` (default), decided once for the whole file: BIOES if any ``S-``/``E-`` tag occurs;
      otherwise IOB1 if any ``I-X`` starts a chunk; otherwise IOB2. Auto mode converts leniently: after
      S/E conversion any chunk-initial ``I-X`` becomes ``B-X`` (the chunks seqeval would read).

    :param path: the file (optionally ``.gz``).
    :param token_column: position of the token column (negative counts from the end).
    :param tag_column: position of the tag column (default: the last).
    :param scheme: one of :data:`TAG_SCHEMES`.
    :return: ``{"tokens": list[list[str]], "tags": list[list[str]]}``; empty sentences are dropped.
    :raises DataError: a line with too few columns, an invalid tag, a tag that breaks an explicit scheme,
        a file without any sentence.
    """
    p = _check_file(path)
    if scheme not in TAG_SCHEMES:
        raise DataError(f"{p}: unknown scheme {scheme!r}; choose one of {', '.join(TAG_SCHEMES)}.")
    if token_column == tag_column:
        raise DataError(f"{p}: token_column and tag_column are both {token_column}; they must differ.")
    sentences_tokens, sentences_tags, sentences_lines = _conll_sentences(p, token_column, tag_column)
    strict = scheme != "auto"
    effective = _detect_scheme(sentences_tags) if scheme == "auto" else scheme
    converted = [
        _to_iob2(t, effective, path=p, lines=ls, strict=strict and effective != "iob1")
        for t, ls in zip(sentences_tags, sentences_lines)
    ]
    return {"tokens": sentences_tokens, "tags": converted}


_SPACES = re.compile(" +")


def _conll_sentences(
    p: Path, token_column: int, tag_column: int
) -> tuple[list[list[str]], list[list[str]], list[list[int]]]:
    """Tokens, raw tags and line numbers of every sentence of a CoNLL file (see :func:`read_conll`)."""
    required = max(_required_fields(token_column), _required_fields(tag_column), 2)
    sentences_tokens: list[list[str]] = []
    sentences_tags: list[list[str]] = []
    sentences_lines: list[list[int]] = []
    tokens: list[str] = []
    tags: list[str] = []
    lines: list[int] = []

    def flush() -> None:
        if tokens:
            sentences_tokens.append(tokens.copy())
            sentences_tags.append(tags.copy())
            sentences_lines.append(lines.copy())
            tokens.clear()
            tags.clear()
            lines.clear()

    number = 0
    for number, line in _lines(p):
        if not line.strip(" \t"):
            flush()
            continue
        fields = line.split("\t") if "\t" in line else _SPACES.split(line.strip(" "))
        is_hash = line.startswith("#")
        if is_hash and (len(fields) < required or _COMMENT_KV_RE.match(line)):
            continue
        if len(fields) < required:
            raise DataError(
                f"{_where(p, line=number)}: {len(fields)} column(s) ({line!r}), but token_column="
                f"{token_column} and tag_column={tag_column} need at least {required}. Fix the line or "
                "pass the right columns."
            )
        token, tag = fields[token_column], fields[tag_column].strip()
        if token.strip() == "-DOCSTART-":
            flush()
            continue
        if not _TAG_RE.match(tag):
            if is_hash:
                continue  # a free-form comment such as "# this file was made by ..."
            raise DataError(
                f"{_where(p, line=number, column=tag_column)}: {tag!r} is not a tag (expected 'O' or "
                "B-/I-/E-/S- followed by a type). Check tag_column (UNER files need token_column=1, "
                "tag_column=2)."
            )
        tokens.append(token)
        tags.append(tag)
        lines.append(number)
    flush()
    if not sentences_tokens:
        raise DataError(
            f"{p}: no sentences: its {number} line(s) are all blank, comments or -DOCSTART-. Check the "
            "file, and token_column/tag_column."
        )
    return sentences_tokens, sentences_tags, sentences_lines


# --------------------------------------------------------------------------------------------------
# Dialogues
# --------------------------------------------------------------------------------------------------


def _turn(turn: Any, *, speaker_key: str, text_key: str, loc: str) -> dict[str, str]:
    if not isinstance(turn, dict):
        raise DataError(f"{loc}: a turn must be a JSON object, got {type(turn).__name__}.")
    for key in (speaker_key, text_key):
        if key not in turn:
            raise DataError(
                f"{loc}: the turn has no {key!r} key; available keys: {', '.join(map(repr, turn))}. "
                "Pass speaker_key=/text_key= to match the file."
            )
        if not isinstance(turn[key], str):
            raise DataError(f"{loc}: turn {key!r} is {turn[key]!r}, not a string. Fix the turn.")
    return {"speaker": turn[speaker_key], "text": turn[text_key]}


def read_dialogues_jsonl(
    path: PathLike, *, speaker_key: str = "speaker", text_key: str = "text", turns_key: str = "turns"
) -> Columns:
    """Read dialogues from JSON lines (``.jsonl`` or ``.jsonl.gz``), one dialogue object per line.

    Each object holds a list of turns under ``turns_key``, each turn an object with ``speaker_key`` and
    ``text_key``. The dialogue id is the object's ``"id"`` (else ``"dialogue_id"``, else the dialogue's
    0-based position as a string). Other keys are ignored. Blank lines are skipped.

    :return: ``{"id": list[str], "turns": list[list[{"speaker": str, "text": str}]]}``.
    :raises DataError: invalid JSON, a missing/non-list ``turns_key``, a turn without speaker or text.
    """
    p = _check_file(path)
    ids: list[str] = []
    dialogues: list[list[dict[str, str]]] = []
    for number, line in _iter_lines(p):
        if not line.strip():
            continue
        record = _json_line(p, number, line)
        loc = _where(p, line=number, column=turns_key)
        if not isinstance(record, dict):
            raise DataError(f"{_where(p, line=number)}: expected a JSON object per line (one dialogue).")
        if not isinstance(record.get(turns_key), list):
            raise DataError(
                f"{loc}: no list of turns under {turns_key!r}; available keys: "
                f"{', '.join(map(repr, record))}. Pass turns_key=<the key holding the turns>."
            )
        turns = [
            _turn(t, speaker_key=speaker_key, text_key=text_key, loc=f"{loc} (turn {i})")
            for i, t in enumerate(record[turns_key])
        ]
        ids.append(str(record.get("id", record.get("dialogue_id", len(ids)))))
        dialogues.append(turns)
    if not dialogues:
        raise DataError(f"{p}: no dialogues (the file is empty or blank). Add one JSON object per line.")
    return {"id": ids, "turns": dialogues}


def dialogue_pairs(
    dialogues: Mapping[str, Sequence[Any]],
    *,
    reply_speaker: str = "system",
    max_context_turns: int | None = None,
) -> Columns:
    """(context, reference) pairs: every turn ``i > 0`` spoken by ``reply_speaker``, with the turns
    before it as context.

    :param dialogues: columns from :func:`read_dialogues_jsonl` (``"id"`` and ``"turns"``).
    :param reply_speaker: whose turns are the replies to produce.
    :param max_context_turns: keep only the last ``max_context_turns`` turns of context (``None``: all).
    :return: ``{"dialogue_id": list[str], "turn_index": list[int], "context": list[list[str]] (turn
        texts, oldest first), "context_speakers": list[list[str]], "reference": list[str]}``.
    """
    if max_context_turns is not None and max_context_turns < 1:
        raise ValueError(f"max_context_turns must be >= 1 or None, got {max_context_turns}.")
    keys = ("dialogue_id", "turn_index", "context", "context_speakers", "reference")
    out: Columns = {key: [] for key in keys}
    for dialogue_id, turns in zip(dialogues["id"], dialogues["turns"]):
        for i in range(1, len(turns)):
            if turns[i]["speaker"] != reply_speaker:
                continue
            start = 0 if max_context_turns is None else max(0, i - max_context_turns)
            context = turns[start:i]
            out["dialogue_id"].append(dialogue_id)
            out["turn_index"].append(i)
            out["context"].append([t["text"] for t in context])
            out["context_speakers"].append([t["speaker"] for t in context])
            out["reference"].append(turns[i]["text"])
    return out


# --------------------------------------------------------------------------------------------------
# Known datasets
# --------------------------------------------------------------------------------------------------


def load_banking77(data_dir: PathLike) -> tuple[Splits, list[str]]:
    """BANKING77 intents from ``data_dir/banking77/{train.csv,test.csv,categories.json}``.

    Upstream has no validation split, so one is carved from train, stratified per class with a fixed
    seed: ``rng = numpy.random.default_rng(0)``; for each label in ``categories.json`` order,
    ``rng.permutation`` of that label's train rows (in file order) puts its first
    ``max(1, round(0.1 * n))`` rows into validation (Python's ``round``). Both splits keep file order.
    Result: train 9,000 / validation 1,003 / test 3,080.

    :return: ``(splits, label_names)``; splits hold ``{"text": list[str], "label": list[str]}`` and
        ``label_names`` is the 77 intents in ``categories.json`` order (kept verbatim, e.g.
        ``reverted_card_payment?``).
    :raises DataError: missing files, a label not in ``categories.json``.
    """
    categories_path = _data_file(data_dir, "banking77", "categories.json")
    try:
        label_names = json.loads(_read_bytes(categories_path).decode("utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        where = f"line {err.lineno}, column {err.colno}" if isinstance(err, json.JSONDecodeError) else "not UTF-8"
        raise DataError(f"{categories_path}: invalid JSON ({where}: {err}).") from None
    if not isinstance(label_names, list) or not all(isinstance(n, str) for n in label_names):
        raise DataError(f"{categories_path}: expected a JSON list of label strings.")
    known = set(label_names)
    raw: Splits = {}
    for split in ("train", "test"):
        path = _data_file(data_dir, "banking77", f"{split}.csv")
        cols = read_table(path, text_column="text", label_column="category")
        for row, label in enumerate(cols["label"], start=1):
            if label not in known:
                raise DataError(
                    f"{_where(path, row=row, column='category')}: label {label!r} is not in "
                    f"{categories_path.name}. Use the upstream files unchanged."
                )
        raw[split] = cols

    train = raw["train"]
    rng = np.random.default_rng(0)
    by_label: dict[str, list[int]] = {name: [] for name in label_names}
    for i, label in enumerate(train["label"]):
        by_label[label].append(i)
    validation_rows: set[int] = set()
    for name in label_names:
        rows = by_label[name]
        if not rows:
            continue
        n_val = max(1, round(0.1 * len(rows)))
        picked = rng.permutation(len(rows))[:n_val]
        validation_rows.update(rows[int(j)] for j in picked)

    def subset(keep: bool) -> Columns:
        idx = [i for i in range(len(train["text"])) if (i in validation_rows) == keep]
        return {"text": [train["text"][i] for i in idx], "label": [train["label"][i] for i in idx]}

    splits = {"train": subset(False), "validation": subset(True), "test": raw["test"]}
    return splits, list(label_names)


def _load_conll_splits(data_dir: PathLike, folder: str, files: Mapping[str, str], **kwargs: Any) -> Splits:
    return {split: read_conll(_data_file(data_dir, folder, name), **kwargs) for split, name in files.items()}


def load_btc(data_dir: PathLike) -> Splits:
    """Broad Twitter Corpus NER (PER/ORG/LOC, IOB2) from
    ``data_dir/broad_twitter_corpus/btc.{train,dev,test}``.

    :return: ``{split: {"tokens", "tags"}}``; train 6,338 / validation 1,001 / test 2,001 tweets. Tokens
        are verbatim (a few are empty or hold spaces upstream).
    """
    files = {"train": "btc.train", "validation": "btc.dev", "test": "btc.test"}
    return _load_conll_splits(data_dir, "broad_twitter_corpus", files, scheme="iob2")


def load_wnut17(data_dir: PathLike) -> Splits:
    """WNUT-17 emerging entities (6 lowercase types, IOB2) from ``data_dir/wnut17/``: ``wnut17train.conll``,
    ``emerging.dev.conll`` and the gold ``emerging.test.annotated``.

    :return: ``{split: {"tokens", "tags"}}``; train 3,394 / validation 1,009 / test 1,287 sentences.
    """
    files = {
        "train": "wnut17train.conll",
        "validation": "emerging.dev.conll",
        "test": "emerging.test.annotated",
    }
    return _load_conll_splits(data_dir, "wnut17", files, scheme="iob2")


def load_uner_ewt(data_dir: PathLike) -> Splits:
    """Universal NER English-EWT (PER/ORG/LOC, IOB2) from
    ``data_dir/uner_english_ewt/en_ewt-ud-{dev,test}.iob2.gz``.

    The upstream train file is not part of the shared data, so only ``"validation"`` (dev, 2,001
    sentences) and ``"test"`` (2,077) are returned -- there is **no** ``"train"`` key. Use validation for
    training, or train on :func:`load_btc`.
    """
    files = {"validation": "en_ewt-ud-dev.iob2.gz", "test": "en_ewt-ud-test.iob2.gz"}
    return _load_conll_splits(
        data_dir, "uner_english_ewt", files, token_column=1, tag_column=2, scheme="iob2"
    )


def _load_dialogue_splits(data_dir: PathLike, folder: str) -> Splits:
    return {
        ours: read_dialogues_jsonl(_data_file(data_dir, folder, f"dialogues_{upstream}.jsonl.gz"))
        for upstream, ours in _SPLIT_NAMES.items()
    }


def load_sgd(data_dir: PathLike) -> Splits:
    """Schema-Guided Dialogue (text only, subset) from ``data_dir/sgd/dialogues_{train,dev,test}.jsonl.gz``.

    :return: ``{split: {"id", "turns"}}``; 12,174 / 2,098 / 2,921 dialogues; speakers ``user``/``system``.
        Use :func:`dialogue_pairs` for (context, reply) pairs.
    """
    return _load_dialogue_splits(data_dir, "sgd")


def load_taskmaster4(data_dir: PathLike) -> Splits:
    """Taskmaster-4 coffee ordering from ``data_dir/taskmaster4/dialogues_{train,dev,test}.jsonl.gz``.

    :return: ``{split: {"id", "turns"}}``; 2,973 / 358 / 379 dialogues (split by sha1(id) mod 10);
        speakers ``user``/``system``.
    """
    return _load_dialogue_splits(data_dir, "taskmaster4")


def load_reply_selection(data_dir: PathLike, name: str) -> Splits:
    """Reply-selection items from ``data_dir/<name>/reply_selection_{dev,test}.jsonl.gz``.

    :param name: the dataset folder, ``"sgd"`` or ``"taskmaster4"``.
    :return: ``{"validation", "test"}`` -> ``{"dialogue_id": list[str], "turn_index": list[int],
        "context": list[list[str]] (turn texts), "context_speakers": list[list[str]], "reference":
        list[str], "candidates": list[list[str]], "label": list[int]}`` where
        ``candidates[label] == reference``.
    :raises DataError: missing files or keys, a label out of range or not pointing at the reference.
    """
    splits: Splits = {}
    for upstream, ours in (("dev", "validation"), ("test", "test")):
        path = _data_file(data_dir, name, f"reply_selection_{upstream}.jsonl.gz")
        cols: Columns = {
            "dialogue_id": [], "turn_index": [], "context": [], "context_speakers": [],
            "reference": [], "candidates": [], "label": [],
        }
        for number, line in _iter_lines(path):
            if not line.strip():
                continue
            record = _json_line(path, number, line)
            for key in ("context", "reference", "candidates", "label"):
                if not isinstance(record, dict) or key not in record:
                    raise DataError(
                        f"{_where(path, line=number, column=key)}: missing key {key!r}. Use the shared "
                        "reply_selection files unchanged."
                    )
            loc = _where(path, line=number, column="context")
            turns = [
                {"speaker": "", "text": t}
                if isinstance(t, str)
                else _turn(t, speaker_key="speaker", text_key="text", loc=loc)
                for t in record["context"]
            ]
            candidates, label = record["candidates"], record["label"]
            if (
                not isinstance(candidates, list)
                or not isinstance(label, int)
                or not 0 <= label < len(candidates)
                or candidates[label] != record["reference"]
            ):
                raise DataError(
                    f"{_where(path, line=number, column='label')}: label {label!r} does not index the "
                    f"reference among {len(candidates) if isinstance(candidates, list) else '?'} candidates."
                )
            cols["dialogue_id"].append(str(record.get("dialogue_id", "")))
            cols["turn_index"].append(int(record.get("turn_index", len(turns))))
            cols["context"].append([t["text"] for t in turns])
            cols["context_speakers"].append([t["speaker"] for t in turns])
            cols["reference"].append(record["reference"])
            cols["candidates"].append([str(c) for c in candidates])
            cols["label"].append(label)
        splits[ours] = cols
    return splits


def load_goemotions(data_dir: PathLike) -> tuple[Splits, list[str]]:
    """GoEmotions (27 emotions + neutral, multi-label) from ``data_dir/goemotions/``:
    ``train.tsv.gz``, ``dev.tsv``, ``test.tsv`` (``text<TAB>ids<TAB>comment id``, no header) and
    ``emotions.txt`` (label id = line index).

    Texts are verbatim (leading/trailing spaces kept) apart from undoing the CSV-style quoting of
    fields that contain ``"`` (see :func:`read_table`, TSV).

    :return: ``(splits, label_names)``; splits hold ``{"text": list[str], "label": list[list[str]]}``
        (label names, e.g. ``["approval", "neutral"]``); 43,410 / 5,426 / 5,427 rows.
    :raises DataError: missing files, a label id that is not an integer in ``range(len(label_names))``.
    """
    emotions_path = _data_file(data_dir, "goemotions", "emotions.txt")
    label_names = [line.strip() for _, line in _iter_lines(emotions_path) if line.strip()]
    splits: Splits = {}
    for upstream, ours in _SPLIT_NAMES.items():
        path = _data_file(data_dir, "goemotions", f"{upstream}.tsv")
        cols = read_table(path, text_column=0, label_column=1, label_list=True)
        named: list[list[str]] = []
        for row, ids in enumerate(cols["label"], start=1):
            bad = [i for i in ids if not (i.isdigit() and int(i) < len(label_names))]
            if bad:
                raise DataError(
                    f"{_where(path, row=row, column=1)}: label id {bad[0]!r} is not an integer in "
                    f"0..{len(label_names) - 1} ({emotions_path.name}). Use the upstream files unchanged."
                )
            named.append([label_names[int(i)] for i in ids])
        splits[ours] = {"text": cols["text"], "label": named}
    return splits, label_names


def load_arc(data_dir: PathLike, subset: str = "easy") -> Splits:
    """ARC multiple-choice science questions from ``data_dir/arc/ARC-Easy/`` or ``ARC-Challenge/``.

    Files are JSON lists (HF ``ai2_arc`` layout) named ``{train,validation,test}.json`` (optionally
    ``.gz``). ARC-Easy needs all three; ARC-Challenge needs ``test`` (its train/validation are loaded
    too if present -- the shared data has only test). The answer is the position of ``answerKey`` in
    ``choices.label``, so numeric labels (``"1"``-``"4"``) and letters are both mapped by position.

    :param subset: ``"easy"`` or ``"challenge"``.
    :return: ``{split: {"id": list[str], "question": list[str], "options": list[list[str]], "answer":
        list[int]}}``; Easy 2,251 / 570 / 2,376, Challenge test 1,172.
    """
    folders = {"easy": "ARC-Easy", "challenge": "ARC-Challenge"}
    if subset not in folders:
        raise ValueError(f"subset must be 'easy' or 'challenge', got {subset!r}.")
    folder = f"arc/{folders[subset]}"
    required = ("train", "validation", "test") if subset == "easy" else ("test",)
    splits: Splits = {}
    for split in ("train", "validation", "test"):
        try:
            path = _data_file(data_dir, folder, f"{split}.json")
        except DataError:
            if split in required:
                raise
            continue
        try:
            items = json.loads(_read_bytes(path).decode("utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            where = f", line {err.lineno}, column {err.colno}" if isinstance(err, json.JSONDecodeError) else ""
            raise DataError(f"{path}{where}: not a valid UTF-8 JSON document ({err}).") from None
        if not isinstance(items, list):
            raise DataError(f"{path}: expected a JSON list of questions, got {type(items).__name__}.")
        cols: Columns = {"id": [], "question": [], "options": [], "answer": []}
        for row, item in enumerate(items, start=1):
            try:
                texts, labels = item["choices"]["text"], item["choices"]["label"]
                qid, question, key = item["id"], item["question"], item["answerKey"]
            except (KeyError, TypeError) as err:
                raise DataError(
                    f"{_where(path, row=row, column=str(err).strip(chr(39)))}: missing field in question "
                    f"{row}. Expected id, question, choices.text, choices.label, answerKey."
                ) from None
            if len(texts) != len(labels) or key not in labels:
                raise DataError(
                    f"{_where(path, row=row, column='answerKey')}: question {qid!r}: answerKey {key!r} is "
                    f"not one of the choice labels {labels!r} (or texts and labels differ in length)."
                )
            cols["id"].append(str(qid))
            cols["question"].append(question)
            cols["options"].append(list(texts))
            cols["answer"].append(labels.index(key))
        splits[split] = cols
    return splits
