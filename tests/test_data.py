"""The data layer (:mod:`nlp_envs.data`) through ``gym.make``: embedded and named datasets, bring-your-own
files and folders, Hugging Face ``datasets`` inputs, clear errors, and a data folder that is never written.
Carving validation/test splits out of one file and split slices are in ``test_splits.py``; the file
readers in ``test_readers.py``."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest

from nlp_envs.data import load_task_data
from nlp_envs.readers import DataError


def test_embedded_corpus_fixed_and_not_trivial() -> None:
    a = load_task_data("classification", "intents")
    b = load_task_data("classification", "intents")
    assert a.splits["test"]["text"][:50] == b.splits["test"]["text"][:50]
    assert a.fingerprint == b.fingerprint
    assert set(a.splits) == {"train", "validation", "test"}


def test_unknown_dataset_lists_known_names() -> None:
    with pytest.raises(DataError, match=r"Known names: \['intents', 'banking77'\]"):
        gym.make("TextCls-v0", dataset="no_such_dataset")


def test_hub_name_offline_fails_fast_naming_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("NLP_ENVS_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="NLP_ENVS_DATA_DIR"):
        gym.make("TextCls-Banking77-v0")
    with pytest.raises(DataError, match="offline"):
        gym.make("TextCls-v0", dataset="someone/some_dataset")


def test_bring_your_own_csv_and_tsv_with_raw_quotes(tmp_path: Path) -> None:
    folder = tmp_path / "byo"
    folder.mkdir()
    # integer columns mean "no header row" (names select by header)
    (folder / "train.csv").write_text('"hello, there",greet\nbye now,leave\nhi,greet\n')
    (tmp_path / "named.csv").write_text('sentence,intent\n"hello, there",greet\nbye now,leave\nhi,greet\n')
    (folder / "test.tsv").write_text('he said "hi\tgreet\n"quoted ""x"" text"\tleave\nsee "you\tleave\n')
    env = gym.make("TextCls-v0", info_mode="full", dataset=str(folder), split="test", text_column=0, label_column=1)
    assert env.unwrapped.num_examples == 3
    texts = [env.reset(options={"index": i})[1]["text"] for i in range(3)]
    assert texts == ['he said "hi', 'quoted "x" text', 'see "you']
    assert env.unwrapped.label_names == ("greet", "leave")
    env2 = gym.make("TextCls-v0", info_mode="full", dataset={"train": tmp_path / "named.csv"}, text_column="sentence",
                    label_column="intent")
    assert env2.unwrapped.num_examples == 3


def test_unseen_label_in_other_split_names_the_row(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("text,label\na b c,x\nd e f,y\n")
    (tmp_path / "test.csv").write_text("text,label\na b,x\nq r,zzz\n")
    with pytest.raises(DataError, match=r"test\.csv, row 2 \(line 3\), column 'label' \(split 'test'\): label 'zzz'"):
        gym.make("TextCls-v0", dataset=str(tmp_path), split="test")


def test_hf_dataset_input_with_classlabel() -> None:
    import datasets

    feats = datasets.Features({"sentence": datasets.Value("string"),
                               "y": datasets.ClassLabel(names=["neg", "pos"])})
    train = datasets.Dataset.from_dict({"sentence": ["good film", "bad film", "great", "awful"],
                                        "y": [1, 0, 1, 0]}, features=feats)
    dd = datasets.DatasetDict({"train": train, "test": train.select([0, 1])})
    env = gym.make("TextCls-v0", dataset=dd, split="test", text_column="sentence", label_column="y")
    assert env.unwrapped.label_names == ("neg", "pos")
    assert list(env.unwrapped.labels) == [1, 0]


def test_missing_split_is_clear() -> None:
    import datasets

    ds = datasets.Dataset.from_dict({"text": ["a", "b"], "label": ["x", "y"]})
    with pytest.raises(DataError, match=r"no split 'test'; available splits: \['train'\]"):
        gym.make("TextCls-v0", dataset=ds, split="test")


def test_data_dir_is_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "train.csv").write_text("text,label\nalpha beta,x\ngamma delta,y\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.setenv("NLP_ENVS_CACHE_DIR", str(tmp_path.parent / "cache-elsewhere"))
    gym.make("TextCls-v0", dataset=str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_known_dataset_in_a_readable_format_is_one_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real dataset whose files the family's bring-your-own reader reads needs only its ``KnownDataset``
    entry (``files_in``), no loader of its own (CONTRIBUTING.md, "Add a dataset")."""
    from nlp_envs import data

    folder = tmp_path / "toyner"
    folder.mkdir()
    (folder / "train.txt").write_text("Ada B-PER\nsaid O\n\nin O\nParis B-LOC\n")
    (folder / "test.txt").write_text("Bob B-PER\nleft O\n")
    known = data.KnownDataset("toyner", "ner", "toyner", data.files_in("ner", "toyner", {"train": "train.txt",
                                                                                           "test": "test.txt"}), None)
    monkeypatch.setitem(data.KNOWN_DATASETS, "toyner", known)
    env = gym.make("NerTag-v0", dataset="toyner", data_dir=str(tmp_path), split="test").unwrapped
    assert env.num_examples == 1 and set(env.tag_names) >= {"B-PER", "B-LOC", "O"}
    (folder / "test.txt").unlink()
    with pytest.raises(DataError, match="test.txt: file not found"):
        load_task_data("ner", "toyner", data_dir=tmp_path).splits
