"""Bad inputs, one table row each: bring-your-own files that used to load wrong silently or crash
unclearly (and those that already gave clear errors), each ending in a ``DataError`` that names the
file, the 1-based line and the column/field -- or loading exactly; plus env arguments that must be
refused (``strict="no"``, ``reset(options="index")``, a NaN reward).

A row: ``(id, files, call, expected)``. ``files`` maps names to text (UTF-8), bytes (verbatim) or a
writer ``f(path)``; a ``.gz`` name given text is gzipped. ``call(tmp_path)`` runs the reader or env.
``expected`` is a tuple of fragments that the error message must all contain (``{dir}`` stands for
the folder of the files), or ``Loads(value)``: the call must return ``value``.
"""

from __future__ import annotations

import gzip
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import nlp_envs  # noqa: F401  (registers the ids)
from nlp_envs.data import load_task_data
from nlp_envs.readers import DataError, read_conll, read_dialogues_jsonl, read_table

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@dataclass(frozen=True)
class Loads:
    """The call returns exactly ``value``."""

    value: Any


def table(name: str, **kw: Any) -> Callable[[Path], Any]:
    return lambda d: read_table(d / name, **kw)


def conll(name: str, **kw: Any) -> Callable[[Path], Any]:
    return lambda d: read_conll(d / name, **kw)


def dialogues(name: str) -> Callable[[Path], Any]:
    return lambda d: read_dialogues_jsonl(d / name)


def folder(task: str, **kw: Any) -> Callable[[Path], Any]:
    """Load a whole folder (all its split files)."""
    def run(d: Path) -> Any:
        data = load_task_data(task, str(d), **kw)
        return {s: cols for s, cols in data.splits.items()}
    return run


def env(env_id: str, split: str = "train", **kw: Any) -> Callable[[Path], Any]:
    """``gym.make`` on the folder; returns the label (tag) names and the labels of the split."""
    def run(d: Path) -> Any:
        base = gym.make(env_id, dataset=str(d), split=split, **kw).unwrapped
        names = getattr(base, "label_names", None) or base.tag_names
        labels = [int(v) for v in base.labels] if hasattr(base, "labels") else None
        return names, labels
    return run


def parquet(columns: dict[str, list], names: list[str] | None = None) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        arrays = [pa.array(v) for v in columns.values()]
        pq.write_table(pa.Table.from_arrays(arrays, names=names or list(columns)), path)
    return write


def truncated_gz(text: str) -> bytes:
    raw = gzip.compress(text.encode())
    return raw[: len(raw) // 2]


CONLL_TRAIN = "Paris\tB-LOC\nis\tO\n\nBob\tB-PER\nruns\tO\n"
CSV_12 = "text,label\n" + "".join(f"text number {i} here,{i}\n" for i in range(12))

CASES: list[tuple[str, dict[str, Any], Callable[[Path], Any], Any]] = [
    # -- CSV/TSV structure: extra and missing fields, duplicate headers ---------------------------
    ("csv-unquoted-comma", {"t.csv": "text,label\nfine,neg\nhello, world,pos\n"}, table("t.csv"),
     ("{dir}/t.csv, line 3, field 3", "3 fields but the header has 2: 'hello', ' world', 'pos'", "Quote the field")),
    ("csv-unquoted-comma-no-header", {"t.csv": "fine,neg\nhello, world,pos\n"},
     table("t.csv", text_column=0, label_column=1),
     ("{dir}/t.csv, line 2, field 3", "the first row (line 1) has 2")),
    ("csv-missing-field", {"t.csv": "text,label,source\na,x,web\nb,y\n"}, table("t.csv"),
     ("{dir}/t.csv, line 3, field 3", "2 field(s) but the header has 3", "missing")),
    ("csv-multiline-record-line", {"t.csv": 'text,label\n"two\nlines",x,extra\n'}, table("t.csv"),
     ("{dir}/t.csv, line 2, field 3",)),  # the line where the record starts
    ("tsv-extra-tab", {"t.tsv": "text\tlabel\na\tx\nb\tc\ty\n"}, table("t.tsv"),
     ("{dir}/t.tsv, line 3, field 3", "A TAB cannot be part of a TSV field")),
    ("tsv-missing-field-no-header", {"t.tsv": "a\tx\tid1\nb\ty\n"}, table("t.tsv", text_column=0, label_column=1),
     ("{dir}/t.tsv, line 2, field 3", "missing")),
    ("csv-duplicate-header", {"t.csv": "text,label,text\na,x,b\n"}, table("t.csv"),
     ("{dir}/t.csv, line 1, field 3", "'text' appears twice", "fields 1 and 3")),
    ("tsv-duplicate-header", {"t.tsv": "label\ttext\tlabel\nx\ta\ty\n"}, table("t.tsv"),
     ("{dir}/t.tsv, line 1, field 3", "'label' appears twice")),
    ("parquet-duplicate-column", {"t.parquet": parquet({"a": ["x"], "b": ["y"], "c": ["z"]}, ["text", "label", "text"])},
     table("t.parquet"), ("{dir}/t.parquet", "column 'text'", "appears twice")),
    ("jsonl-duplicate-key", {"t.jsonl": '{"text": "a", "label": "x"}\n{"text": "b", "label": "x", "text": "c"}\n'},
     table("t.jsonl"), ("{dir}/t.jsonl, line 2, column 'text'", "appears twice")),
    ("csv-bare-cr", {"t.csv": b"text,label\nhello\rworld,x\n"}, table("t.csv"),
     ("{dir}/t.csv, line 2", "carriage return")),
    # -- missing, empty and NaN labels -----------------------------------------------------------
    ("csv-nan-label", {"t.csv": "text,label\na,x\nb,NaN\n"}, table("t.csv"),
     ("{dir}/t.csv, row 2 (line 3), column 'label'", "NaN", "missing value")),
    ("csv-nan-lowercase", {"t.csv": "text,label\nb,nan\n"}, table("t.csv"), ("row 1 (line 2), column 'label'", "NaN")),
    ("csv-nan-in-label-list", {"t.csv": 'text,label\nb,"x,NaN"\n'}, table("t.csv", label_list=True),
     ("{dir}/t.csv, row 1 (line 2), column 'label'", "NaN")),
    ("csv-empty-label", {"t.csv": "text,label\na,x\nb,\n"}, table("t.csv"),
     ("{dir}/t.csv, row 2 (line 3), column 'label'", "missing")),
    ("tsv-empty-label", {"t.tsv": "a\tx\nb\t \n"}, table("t.tsv", text_column=0, label_column=1),
     ("{dir}/t.tsv, row 2, column 1", "missing")),
    ("jsonl-nan-label", {"t.jsonl": '{"text": "a", "label": "x"}\n{"text": "b", "label": NaN}\n'}, table("t.jsonl"),
     ("{dir}/t.jsonl, row 2, column 'label'", "NaN")),
    ("jsonl-infinite-label", {"t.jsonl": '{"text": "b", "label": Infinity}\n'}, table("t.jsonl"),
     ("{dir}/t.jsonl, row 1, column 'label'", "inf")),
    ("jsonl-null-label", {"t.jsonl": '{"text": "b", "label": null}\n'}, table("t.jsonl"),
     ("{dir}/t.jsonl, row 1, column 'label'", "missing")),
    ("jsonl-missing-label", {"t.jsonl": '{"text": "a", "label": "x"}\n{"text": "b"}\n'}, table("t.jsonl"),
     ("{dir}/t.jsonl, row 2, column 'label'", "missing")),
    ("parquet-nan-label", {"t.parquet": parquet({"text": ["a", "b"], "label": [1.0, math.nan]})}, table("t.parquet"),
     ("{dir}/t.parquet, row 2, column 'label'", "NaN")),
    ("parquet-null-label", {"t.parquet": parquet({"text": ["a", "b"], "label": ["x", None]})}, table("t.parquet"),
     ("{dir}/t.parquet, row 2, column 'label'", "missing")),
    # -- NUL bytes, encodings, gzip ---------------------------------------------------------------
    ("csv-nul", {"t.csv": "text,label\na\x00b,x\n"}, table("t.csv"), ("{dir}/t.csv, line 2, column 2", "NUL byte")),
    ("tsv-nul", {"t.tsv": "a\tx\nbb\tx\x00\n"}, table("t.tsv", text_column=0, label_column=1),
     ("{dir}/t.tsv, line 2, column 5", "NUL byte")),
    ("jsonl-nul", {"t.jsonl": '{"text": "a", "label": "x"}\x00\n'}, table("t.jsonl"),
     ("{dir}/t.jsonl, line 1, column 28", "NUL byte")),
    ("conll-nul", {"t.conll": "a\tO\nb\x00\tO\n"}, conll("t.conll"), ("{dir}/t.conll, line 2, column 2", "NUL byte")),
    ("utf16-csv", {"t.csv": "text,label\na,x\n".encode("utf-16")}, table("t.csv"),
     ("{dir}/t.csv, line 1, column 1", "not valid UTF-8")),
    ("latin1-csv", {"t.csv": "text,label\ncafé,x\n".encode("latin-1")}, table("t.csv"),
     ("{dir}/t.csv, line 2, column 4", "not valid UTF-8", "byte 0xe9", "iconv")),
    ("latin1-tsv", {"t.tsv": "a\tx\nnaïve\ty\n".encode("latin-1")}, table("t.tsv", text_column=0, label_column=1),
     ("{dir}/t.tsv, line 2, column 3", "not valid UTF-8")),
    ("latin1-conll", {"t.conll": "Zürich\tB-LOC\n".encode("latin-1")}, conll("t.conll"),
     ("{dir}/t.conll, line 1, column 2", "not valid UTF-8")),
    ("binary-csv", {"t.csv": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"}, table("t.csv"),
     ("{dir}/t.csv, line 1, column 1", "not valid UTF-8", "binary")),
    ("truncated-csv-gz", {"t.csv.gz": truncated_gz("text,label\n" + "some text,x\n" * 400)}, table("t.csv.gz"),
     ("{dir}/t.csv.gz, line", "gzip stream is truncated or corrupt")),
    ("truncated-jsonl-gz", {"t.jsonl.gz": truncated_gz('{"text": "a", "label": "x"}\n' * 400)}, table("t.jsonl.gz"),
     ("{dir}/t.jsonl.gz, line", "gzip stream is truncated")),
    ("truncated-conll-gz", {"t.conll.gz": truncated_gz("tok\tO\n" * 2000)}, conll("t.conll.gz"),
     ("{dir}/t.conll.gz, line", "gzip stream is truncated")),
    ("truncated-dialogues-gz", {"d.jsonl.gz": truncated_gz('{"turns": [{"speaker": "user", "text": "hi"}]}\n' * 400)},
     dialogues("d.jsonl.gz"), ("{dir}/d.jsonl.gz, line", "gzip stream is truncated")),
    ("not-gzip-at-all", {"t.csv.gz": b"text,label\na,x\n"}, table("t.csv.gz"),
     ("{dir}/t.csv.gz, line 1", "gzip stream is truncated or corrupt")),
    ("truncated-parquet-gz", {"t.parquet.gz": lambda p: p.write_bytes(gzip.compress(os.urandom(4000))[:2000])},
     table("t.parquet.gz"), ("{dir}/t.parquet.gz", "gzip stream is truncated")),
    # -- files without data ---------------------------------------------------------------------
    ("csv-header-only", {"t.csv": "text,label\n"}, table("t.csv"), ("{dir}/t.csv, line 1", "no data rows", "only a header")),
    ("csv-empty", {"t.csv": ""}, table("t.csv"), ("{dir}/t.csv", "header row")),
    ("jsonl-blank", {"t.jsonl": "\n\n"}, table("t.jsonl"), ("{dir}/t.jsonl", "no data rows")),
    ("conll-comments-only", {"t.conll": "# a comment\n# sent_id = 1\n\n-DOCSTART-\tO\n"}, conll("t.conll"),
     ("{dir}/t.conll", "no sentences", "4 line(s)")),
    ("dialogues-empty", {"d.jsonl": "\n"}, dialogues("d.jsonl"), ("{dir}/d.jsonl", "no dialogues")),
    ("env-header-only-train", {"train.csv": "text,label\n"}, env("TextCls-v0"),
     ("{dir}/train.csv, line 1", "no data rows")),
    ("env-conll-comments-only", {"train.conll": "# only a comment\n"}, env("NerTag-v0"),
     ("{dir}/train.conll", "no sentences")),
    # -- which file is which split ----------------------------------------------------------------
    ("ambiguous-train-files", {"train.csv": "text,label\na,x\n", "train.jsonl": '{"text": "a", "label": "x"}\n'},
     folder("classification"), ("{dir}", "train.csv", "train.jsonl", "ambiguous")),
    ("ambiguous-dev-and-validation", {"train.csv": "text,label\na,x\n", "dev.csv": "text,label\na,x\n",
                                      "validation.csv": "text,label\na,x\n"},
     folder("classification"), ("dev.csv", "validation.csv", "validation files", "ambiguous")),
    ("ambiguous-gz-and-plain", {"train.csv": "text,label\na,x\n", "train.csv.gz": "text,label\na,x\n"},
     folder("classification"), ("train.csv", "train.csv.gz", "ambiguous")),
    # -- a label or tag of another split that train does not have --------------------------------
    ("env-unknown-test-label", {"train.csv": "text,label\na b c,x\nd e f,y\n", "test.csv": "text,label\na b,x\nq r,zzz\n"},
     env("TextCls-v0", split="test"), ("{dir}/test.csv, row 2 (line 3), column 'label' (split 'test')", "'zzz'")),
    ("env-unknown-test-label-multiline", {"train.csv": "text,label\na b c,x\n",
                                          "test.csv": 'text,label\n"two\nlines",x\nq r,zzz\n'},
     env("TextCls-v0", split="test"), ("{dir}/test.csv, row 2 (line 4), column 'label'",)),
    ("env-unknown-test-label-set", {"train.jsonl": '{"text": "a b", "label": ["x"]}\n',
                                    "test.jsonl": '{"text": "a b", "label": ["x"]}\n{"text": "c", "label": ["x", "w"]}\n'},
     env("MultiLabelCls-v0", split="test"), ("{dir}/test.jsonl, row 2, column 'label' (split 'test')", "'w'")),
    ("env-unknown-test-tag", {"train.conll": CONLL_TRAIN, "test.conll": "Paris\tB-LOC\n\n# c\nAcme\tB-ORG\nsells\tO\n"},
     env("NerTag-v0", split="test"), ("{dir}/test.conll, line 4 (sentence 2, word 1) (split 'test')", "'B-ORG'")),
    # -- clear errors that were already clear (kept) --------------------------------------------
    ("missing-column", {"t.csv": "text,category\nhi,x\n"}, table("t.csv"),
     ("{dir}/t.csv, line 1, column 'label'", "available columns: 'text', 'category'")),
    ("empty-text", {"t.csv": "text,label\nfine,a\n  ,b\n"}, table("t.csv"), ("{dir}/t.csv, row 2 (line 3), column 'text'", "empty")),
    ("short-row", {"t.tsv": "a\tx\njust text\n"}, table("t.tsv", text_column=0, label_column=1),
     ("{dir}/t.tsv, row 2, column 1", "1 field(s)")),
    ("bad-json", {"t.jsonl": '{"text": "a", "label": "x"}\n{"text": "b", \n'}, table("t.jsonl"),
     ("{dir}/t.jsonl, line 2", "invalid JSON")),
    ("list-label-without-label-list", {"t.jsonl": '{"text": "a", "label": ["x", "y"]}\n'}, table("t.jsonl"),
     ("{dir}/t.jsonl, row 1, column 'label'", "label_list=True")),
    ("unsupported-suffix", {"t.txt": "a\n"}, table("t.txt"), ("{dir}/t.txt", "unsupported file type '.txt'")),
    ("conll-bad-tag", {"t.conll": "a\tO\nb\tPER\n"}, conll("t.conll"), ("{dir}/t.conll, line 2", "'PER' is not a tag")),
    ("conll-short-line", {"t.conll": "a\tO\nlonely\n"}, conll("t.conll"), ("{dir}/t.conll, line 2", "1 column(s)")),
    ("conll-iob2-violation", {"t.conll": "a\tI-PER\n"}, conll("t.conll", scheme="iob2"),
     ("{dir}/t.conll, line 1", "starts a chunk")),
    ("dialogues-no-turns", {"d.jsonl": '{"id": "1", "text": "hi"}\n'}, dialogues("d.jsonl"),
     ("{dir}/d.jsonl, line 1, column 'turns'", "no list of turns")),
    # -- loads exactly ------------------------------------------------------------------------------
    ("tsv-raw-quotes-kept", {"t.tsv": 'ham\t"Hi" said "Bob"\nspam\t"Free" entry\nham\t"quoted ""x"" text"\n'},
     table("t.tsv", text_column=1, label_column=0),
     Loads({"text": ['"Hi" said "Bob"', '"Free" entry', 'quoted "x" text'], "label": ["ham", "spam", "ham"]})),
    ("tsv-quote-pair-kept", {"t.tsv": '"a" and "b"\tx\n"\ty\n'}, table("t.tsv", text_column=0, label_column=1),
     Loads({"text": ['"a" and "b"', '"'], "label": ["x", "y"]})),
    ("tsv-empty-quoted-text", {"t.tsv": 'a\tx\n""\ty\n'}, table("t.tsv", text_column=0, label_column=1),
     ("{dir}/t.tsv, row 2, column 0", "empty")),
    ("csv-quoted-comma", {"t.csv": 'text,label\n"hello, world",pos\n'}, table("t.csv"),
     Loads({"text": ["hello, world"], "label": ["pos"]})),
    ("csv-crlf-bom", {"t.csv": "\ufefftext,label\r\na,x\r\n\"b\r\nc\",y\r\n"}, table("t.csv"),
     Loads({"text": ["a", "b\r\nc"], "label": ["x", "y"]})),
    ("conll-nbsp-inside-token", {"t.conll": "New\u00a0York B-LOC\nis O\n\nthin\u2009space O\n"}, conll("t.conll"),
     Loads({"tokens": [["New\u00a0York", "is"], ["thin\u2009space"]], "tags": [["B-LOC", "O"], ["O"]]})),
    ("conll-space-runs", {"t.conll": "  EU   NNP  B-ORG \n"}, conll("t.conll"), Loads({"tokens": [["EU"]], "tags": [["B-ORG"]]})),
    ("env-integer-labels-sort-numerically", {"train.csv": CSV_12}, env("TextCls-v0"),
     Loads((tuple(str(i) for i in range(12)), list(range(12))))),
    ("env-negative-integer-labels", {"train.csv": "text,label\na b,1\nc d,-1\ne f,0\ng h,10\n"}, env("TextCls-v0"),
     Loads((("-1", "0", "1", "10"), [2, 0, 1, 3]))),
    ("env-padded-numbers-sort-as-strings", {"train.csv": "text,label\na b,01\nc d,1\ne f,2\n"}, env("TextCls-v0"),
     Loads((("01", "1", "2"), [0, 1, 2]))),
    ("env-integer-label-sets", {"train.jsonl": '{"text": "a b", "label": [10, 2]}\n{"text": "c d", "label": [1]}\n'},
     lambda d: gym.make("MultiLabelCls-v0", dataset=str(d)).unwrapped.label_names, Loads(("1", "2", "10"))),
    ("jsonl-numbers-as-labels", {"t.jsonl": '{"text": "a", "label": 3}\n{"text": "b", "label": 1.5}\n'}, table("t.jsonl"),
     Loads({"text": ["a", "b"], "label": ["3", "1.5"]})),
]


def _write(d: Path, files: dict[str, Any]) -> None:
    for name, content in files.items():
        path = d / name
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        elif name.endswith(".gz"):
            path.write_bytes(gzip.compress(content.encode("utf-8")))
        else:
            path.write_bytes(content.encode("utf-8"))


@pytest.mark.parametrize("files, call, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(tmp_path: Path, files: dict[str, Any], call: Callable[[Path], Any], expected: Any) -> None:
    _write(tmp_path, files)
    if isinstance(expected, Loads):
        assert call(tmp_path) == expected.value
        return
    with pytest.raises(DataError) as info:
        call(tmp_path)
    msg = str(info.value)
    for fragment in expected:
        assert fragment.format(dir=tmp_path) in msg, f"{fragment!r} not in {msg!r}"


def test_case_ids_are_unique() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))


# -- env arguments ----------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ["NerTag-v0", "DialogReply-v0", "MultiLabelCls-v0", "MultiChoiceQA-v0"])
@pytest.mark.parametrize("value", ["no", "False", None, 2, [True]])
def test_strict_must_be_a_bool(env_id: str, value: Any) -> None:
    with pytest.raises(ValueError, match=r"strict=.* must be True or False"):
        gym.make(env_id, strict=value)


@pytest.mark.parametrize("value, expected", [(True, True), (False, False), (1, True), (0, False)])
def test_strict_bools_accepted(value: Any, expected: bool) -> None:
    assert gym.make("NerTag-v0", strict=value).unwrapped.strict is expected


@pytest.mark.parametrize("options", ["index", ["index"], 3])
def test_reset_options_must_be_a_dict(options: Any) -> None:
    env = gym.make("TextCls-v0")
    with pytest.raises(ValueError, match=r"reset options must be a dict such as \{'index': 3\}"):
        env.reset(options=options)
    with pytest.raises(ValueError, match=r"unknown reset options \['bogus'\]"):
        env.reset(options={"bogus": 1})


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_dialog_reward_callable_must_be_finite(value: float) -> None:
    """A reward callable's NaN/inf raises (never passed on as a reward), in the env and the vector env."""
    env = gym.make("DialogReply-v0", reward=lambda **kw: value)
    base = env.unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"returned (nan|inf|-inf) for example \d+ .*finite number"):
        env.step(base.eos_id)
    venv = gym.make_vec("DialogReply-v0", num_envs=2, vectorization_mode="vector_entry_point",
                        reward=lambda **kw: value)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match="finite number"):
        venv.step([base.eos_id, base.eos_id])
    ok = gym.make("DialogReply-v0", reward=lambda **kw: 0.25)
    ok.reset(seed=0)
    assert ok.step(base.eos_id)[1] == pytest.approx(0.25 - ok.unwrapped.token_penalty)
