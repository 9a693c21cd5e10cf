"""Bring-your-own splits: ``split="train[:80%]"`` slices and ``validation_size=`` / ``test_size=``
carved out of a single file (issue 17, item 5)."""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import nlp_envs
from nlp_envs.data import carve_rows, load_task_data, parse_split
from nlp_envs.readers import DataError

LABELS = ("billing", "delivery", "refund", "account")


def write_csv(path: Path, n: int = 203, rare: int = 3) -> Path:
    """``n`` rows, labels in unequal proportions (50/25/.. %), ``rare`` rows of a rare label at the end."""
    rng = np.random.default_rng(1)
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(n - rare):
            label = LABELS[0] if i % 2 == 0 else LABELS[1 + (i // 2) % 3]
            w.writerow([f"{label} {' '.join(rng.choice(words, 4))} row {i}", label])
        for i in range(rare):
            w.writerow([f"rare thing {i}", "rare"])
    return path


def first_policy(obs: dict) -> np.ndarray:
    return np.zeros(len(obs["input_ids"]), dtype=np.int64)


def texts(env_kwargs: dict) -> list[str]:
    env = gym.make("TextCls-v0", **env_kwargs)
    base = env.unwrapped
    out = [base.prepared.texts["text"][i] for i in range(base.num_examples)]
    env.close()
    return out


# -- the two "done when" checks ------------------------------------------------------------------


def test_single_csv_slice_evaluates(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "reviews.csv")
    result = nlp_envs.evaluate("TextCls-v0", first_policy, split="train[80%:]", dataset=str(path), num_envs=8)
    assert result["split"] == "train[80%:]"
    assert result["num_examples"] == 203 - round(0.8 * 203)
    assert 0.0 <= result["accuracy"] <= 1.0


def test_single_csv_test_size_evaluates(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "reviews.csv")
    result = nlp_envs.evaluate("TextCls-v0", first_policy, split="test", dataset=str(path), test_size=0.2)
    assert result["num_examples"] == int(np.ceil(0.2 * 203))
    env = gym.make("TextCls-v0", dataset=str(path), test_size=0.2)  # the train env: the other rows
    assert env.unwrapped.num_examples == 203 - result["num_examples"]


# -- slices --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 7, 10, 203])
def test_slices_are_disjoint_and_cover(n: int) -> None:
    rows = list(range(n))
    for p in range(0, 101):
        lo, hi = parse_split(f"train[:{p}%]").bounds(n), parse_split(f"train[{p}%:]").bounds(n)
        assert rows[slice(*lo)] + rows[slice(*hi)] == rows
    for k in (0, 1, n - 1, n, n + 5):
        assert rows[slice(*parse_split(f"train[:{k}]").bounds(n))] + rows[slice(*parse_split(f"train[{k}:]").bounds(n))] == rows
    assert parse_split("train[-10%:]").bounds(n) == parse_split("train[90%:]").bounds(n)
    assert parse_split("train[-3:]").bounds(n) == (max(n - 3, 0), n)


def test_env_slices_partition_the_file_and_share_ids(tmp_path: Path) -> None:
    path = str(write_csv(tmp_path / "reviews.csv"))
    full = texts({"dataset": path})
    head, tail = texts({"dataset": path, "split": "train[:80%]"}), texts({"dataset": path, "split": "train[80%:]"})
    assert head + tail == full and not set(head) & set(tail)
    assert texts({"dataset": path, "split": "train[:150]"}) == full[:150]
    assert texts({"dataset": path, "split": "train[150:]"}) == full[150:]
    # one vocabulary and label set (from the whole train split), whatever the slice
    a = gym.make("TextCls-v0", dataset=path, split="train[:50%]").unwrapped
    b = gym.make("TextCls-v0", dataset=path, split="train[50%:]").unwrapped
    assert a.label_names == b.label_names and a.encoder.fingerprint == b.encoder.fingerprint


def test_slices_never_share_a_cache_entry_and_data_files_stay_unwritten(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "reviews.csv")
    before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    seen = {}
    for split in ("train", "train[:50%]", "train[50%:]", "train[:100]", "train[100:]", "train[:50]"):
        seen[split] = texts({"dataset": str(path), "split": split})
    assert len({tuple(v) for v in seen.values()}) == len(seen)
    assert seen["train[:50%]"] == seen["train"][: round(0.5 * 203)]
    # built again in a fresh process order: each key reads back its own entry
    assert texts({"dataset": str(path), "split": "train[50%:]"}) == seen["train[50%:]"]
    after = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    assert after == before


def test_slice_of_a_test_file_and_dev_alias(tmp_path: Path) -> None:
    write_csv(tmp_path / "train.csv")
    (tmp_path / "dev.csv").write_text("text,label\n" + "".join(f"d{i},refund\n" for i in range(10)))
    assert texts({"dataset": str(tmp_path), "split": "dev[:30%]"}) == ["d0", "d1", "d2"]
    assert texts({"dataset": str(tmp_path), "split": "validation[-2:]"}) == ["d8", "d9"]


def test_error_in_a_slice_names_the_file_row(tmp_path: Path) -> None:
    write_csv(tmp_path / "train.csv")
    lines = [f"t{i},refund" for i in range(6)]
    lines[4] = "t4,unknown_label"  # row 5, line 6 of test.csv
    (tmp_path / "test.csv").write_text("text,label\n" + "\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"test\.csv, row 5 \(line 6\)"):
        gym.make("TextCls-v0", dataset=str(tmp_path), split="test[2:]")


@pytest.mark.parametrize("bad", ["train[80%", "train[:80%", "train[a:b]", "train[::2]", "train[:80.5%]",
                                 "train[:120%]", "train+test", "train[:80%]+test", "[:80%]", ""])
def test_bad_split_grammar_is_a_clear_error(tmp_path: Path, bad: str) -> None:
    with pytest.raises(DataError, match="Accepted: NAME or NAME\\[FROM:TO\\]"):
        parse_split(bad)
    path = write_csv(tmp_path / "r.csv", n=20)
    with pytest.raises(DataError, match="Accepted"):
        gym.make("TextCls-v0", dataset=str(path), split=bad)


def test_empty_slice_and_missing_split_say_what_to_do(tmp_path: Path) -> None:
    path = str(write_csv(tmp_path / "r.csv", n=20))
    with pytest.raises(DataError, match="selects no row.*20 rows"):
        gym.make("TextCls-v0", dataset=path, split="train[60%:40%]")
    with pytest.raises(DataError, match="carve the others with test_size="):
        nlp_envs.evaluate("TextCls-v0", first_policy, split="test", dataset=path)


# -- validation_size= / test_size= --------------------------------------------------------------


def carved(path: Path, **kw) -> tuple[dict, dict]:
    data = load_task_data("classification", str(path), **kw)
    return data.splits, data.extras["split_rows"]


def test_carved_splits_are_disjoint_cover_and_stratified(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv")
    splits, rows = carved(path, test_size=0.2, validation_size=20)
    n = 203
    assert len(rows["test"]) == int(np.ceil(0.2 * n)) and len(rows["validation"]) == 20
    every = np.concatenate([rows["train"], rows["validation"], rows["test"]])
    assert sorted(every.tolist()) == list(range(n))
    full = load_task_data("classification", str(path)).splits["train"]
    for split in ("train", "validation", "test"):
        assert splits[split]["text"] == [full["text"][i] for i in rows[split]]  # file order kept
    counts = Counter(full["label"])
    for split, size in (("test", len(rows["test"])), ("validation", 20)):
        got = Counter(splits[split]["label"])
        for label, c in counts.items():  # each label within one row of its share
            assert abs(got.get(label, 0) - size * c / n) <= 1, (split, label, got)
    assert Counter(splits["train"]["label"])["rare"] >= 1  # every label keeps a train row


def test_carving_is_seeded(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv")
    a, b = carved(path, test_size=0.25)[1], carved(path, test_size=0.25)[1]
    c = carved(path, test_size=0.25, split_seed=1)[1]
    assert np.array_equal(a["test"], b["test"]) and not np.array_equal(a["test"], c["test"])
    # through the envs: another seed or size is another cache entry
    t0 = texts({"dataset": str(path), "split": "test", "test_size": 0.25})
    t1 = texts({"dataset": str(path), "split": "test", "test_size": 0.25, "split_seed": 1})
    t2 = texts({"dataset": str(path), "split": "test", "test_size": 0.3})
    assert t0 != t1 and len(t2) != len(t0)
    assert t0 == texts({"dataset": str(path), "split": "test", "test_size": 0.25})


def test_carve_then_slice(tmp_path: Path) -> None:
    path = str(write_csv(tmp_path / "r.csv"))
    test = texts({"dataset": path, "split": "test", "test_size": 40})
    assert texts({"dataset": path, "split": "test[:25%]", "test_size": 40}) == test[:10]


@pytest.mark.parametrize("kw, match", [
    ({"test_size": 1.0}, "fraction must be in"),
    ({"test_size": 0}, "row count must be >= 1"),
    ({"test_size": True}, "fraction in \\(0, 1\\) or a row count"),
    ({"test_size": "0.2"}, "fraction in \\(0, 1\\) or a row count"),
    ({"test_size": 150, "validation_size": 60}, "leaves none to train on"),
    ({"test_size": 0.1, "split_seed": 1.5}, "split_seed"),
])
def test_bad_sizes_are_clear_errors(tmp_path: Path, kw: dict, match: str) -> None:
    path = write_csv(tmp_path / "r.csv", n=200)
    with pytest.raises(ValueError, match=match):
        load_task_data("classification", str(path), **kw).splits


def test_existing_split_is_not_replaced(tmp_path: Path) -> None:
    write_csv(tmp_path / "train.csv")
    write_csv(tmp_path / "test.csv", n=20)
    with pytest.raises(DataError, match="already has a test split.*test.csv.*drop test_size="):
        gym.make("TextCls-v0", dataset=str(tmp_path), split="test", test_size=0.2)
    # a folder with train and test gets its validation split carved from train
    env = gym.make("TextCls-v0", dataset=str(tmp_path), split="validation", validation_size=0.1)
    assert env.unwrapped.num_examples == int(np.ceil(0.1 * 203))


def test_stratification_needs_room_for_every_label(tmp_path: Path) -> None:
    path = tmp_path / "tiny.csv"
    path.write_text("text,label\n" + "".join(f"t{i},l{i}\n" for i in range(5)) + "u,l0\n")
    with pytest.raises(DataError, match="every label keeps a train row"):
        load_task_data("classification", str(path), test_size=2).splits


def test_multilabel_and_ner_are_plain_seeded_with_every_label_in_train() -> None:
    rng = np.random.default_rng(0)
    n = 300
    labels = [["common"] + (["only_once"] if i == 7 else []) + (["rare"] if i % 60 == 0 else []) for i in range(n)]
    cols = {"text": [f"t{i}" for i in range(n)], "label": labels}
    for seed in range(20):
        rows = carve_rows("multilabel", cols, {"test": 0.3, "validation": 0.2}, seed)
        assert sorted(np.concatenate(list(rows.values())).tolist()) == list(range(n))
        assert len(rows["test"]) == 90 and len(rows["validation"]) == 60
        train_labels = {x for i in rows["train"] for x in labels[i]}
        assert {"common", "only_once", "rare"} <= train_labels
    tags = [["B-PER", "O"] if i != 3 else ["B-LOC", "I-LOC"] for i in range(50)]
    ner = {"tokens": [["a", "b"]] * 50, "tags": tags}
    for seed in range(10):
        rows = carve_rows("ner", ner, {"test": 0.5}, seed)
        assert 3 in rows["train"] and len(rows["test"]) == 25
    assert rng is not None


def test_ner_file_with_test_size(tmp_path: Path) -> None:
    sents = []
    for i in range(40):
        typ = "LOC" if i % 10 == 0 else "PER"
        sents.append(f"Ann\tB-{typ}\nsaw\tO\nthem{i}\tO\n")
    path = tmp_path / "tags.conll"
    path.write_text("\n".join(sents))
    env = gym.make("NerTag-v0", dataset=str(path), split="test", test_size=0.25)
    assert env.unwrapped.num_examples == 10
    result = nlp_envs.evaluate("NerTag-v0", first_policy, split="test", dataset=str(path), test_size=0.25)
    assert result["num_examples"] == 10


def test_dialogue_file_with_test_size(tmp_path: Path) -> None:
    path = tmp_path / "dialogs.jsonl"
    with path.open("w") as f:
        for i in range(30):
            turns = [{"speaker": "user", "text": f"hello {i}"}, {"speaker": "system", "text": f"hi there {i % 3}"}]
            f.write(json.dumps({"id": str(i), "turns": turns}) + "\n")
    a = gym.make("DialogReply-v0", dataset=str(path), split="test", test_size=6).unwrapped
    b = gym.make("DialogReply-v0", dataset=str(path), split="train", test_size=6).unwrapped
    assert a.num_examples == 6 and b.num_examples == 24
    assert os.path.getsize(path) > 0
