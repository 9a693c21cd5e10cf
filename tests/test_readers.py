"""Tests for ``nlp_envs.readers``: synthetic files for every reader feature and error message, and the
real shared data (split counts from SOURCES.md) when ``NLP_ENVS_DATA_DIR`` points at it."""

from __future__ import annotations

import csv
import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from nlp_envs.readers import (
    DataError,
    dialogue_pairs,
    load_arc,
    load_banking77,
    load_btc,
    load_goemotions,
    load_reply_selection,
    load_sgd,
    load_taskmaster4,
    load_uner_ewt,
    load_wnut17,
    read_conll,
    read_dialogues_jsonl,
    read_table,
)
from tests.helpers import write_file


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    return str(info.value)


# --------------------------------------------------------------------------------------------------
# read_table
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["t.csv", "t.csv.gz"])
def test_csv_rfc4180_quoting_and_gzip(tmp_path: Path, name: str) -> None:
    text = 'text,label,extra\n"Hello, world",greet,x\n"She said ""hi""\nthen left",story,y\nplain,other,z\n'
    cols = read_table(write_file(tmp_path / name, text))
    assert cols["text"] == ["Hello, world", 'She said "hi"\nthen left', "plain"]
    assert cols["label"] == ["greet", "story", "other"]


def test_csv_int_columns_mean_no_header(tmp_path: Path) -> None:
    cols = read_table(write_file(tmp_path / "t.csv", "a,1\nb,2\n"), text_column=0, label_column=1)
    assert cols == {"text": ["a", "b"], "label": ["1", "2"]}


def test_csv_custom_names_and_mixed_columns(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.csv", "category,text\nx,hello\ny,bye\n")
    assert read_table(path, label_column="category")["label"] == ["x", "y"]
    # A name anywhere means a header row; the int then selects by position.
    assert read_table(path, text_column=1, label_column="category")["text"] == ["hello", "bye"]


def test_tsv_raw_quotes_never_span_lines(tmp_path: Path) -> None:
    lines = [
        'He said "hi" there\tpos',  # raw quotes inside: verbatim
        '"starts with a quote only\tneg',  # would swallow the next lines with csv.reader
        '"quoted ""inner"" text"\tpos',  # CSV-style quoting (GoEmotions): unquoted
        '  spaced text  \tneg',  # leading/trailing spaces kept
        '"\tpos',  # a lone quote is not a quoted field
    ]
    cols = read_table(write_file(tmp_path / "t.tsv", "\n".join(lines) + "\n"), text_column=0, label_column=1)
    assert cols["text"] == [
        'He said "hi" there',
        '"starts with a quote only',
        'quoted "inner" text',
        "  spaced text  ",
        '"',
    ]
    assert cols["label"] == ["pos", "neg", "pos", "neg", "pos"]


def test_tsv_header_crlf_and_label_list(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.tsv.gz", "id\tsentence\ttags\r\n1\tfirst\t3,27\r\n2\tsecond\t5\r\n")
    cols = read_table(path, text_column="sentence", label_column="tags", label_list=True)
    assert cols == {"text": ["first", "second"], "label": [["3", "27"], ["5"]]}


def test_label_separator(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.csv", "text,label\nhi,a| b\n")
    assert read_table(path, label_list=True, label_separator="|")["label"] == [["a", "b"]]


@pytest.mark.parametrize("name", ["t.jsonl", "t.json", "t.jsonl.gz"])
def test_jsonl_objects(tmp_path: Path, name: str) -> None:
    rows = [{"text": "one", "label": 3}, {"text": "two", "label": "x", "other": 1}]
    text = json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n"
    assert read_table(write_file(tmp_path / name, text)) == {"text": ["one", "two"], "label": ["3", "x"]}


def test_jsonl_label_lists_and_arrays(tmp_path: Path) -> None:
    lines = '{"t": "a", "ls": ["x", 2]}\n{"t": "b", "ls": "y,z"}\n{"t": "c", "ls": []}\n'
    path = write_file(tmp_path / "t.jsonl", lines)
    cols = read_table(path, text_column="t", label_column="ls", label_list=True)
    assert cols["label"] == [["x", "2"], ["y", "z"], []]
    arrays = write_file(tmp_path / "a.jsonl", '["first", "l1"]\n["second", "l2"]\n')
    cols = read_table(arrays, text_column=0, label_column=1)
    assert cols == {"text": ["first", "second"], "label": ["l1", "l2"]}


@pytest.mark.parametrize("name", ["t.parquet", "t.parquet.gz"])
def test_parquet(tmp_path: Path, name: str) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"sentence": ["a", "b"], "labels": [["x"], ["y", "z"]], "single": [1, 2]})
    raw = tmp_path / "raw.parquet"
    pq.write_table(table, raw)
    path = tmp_path / name
    path.write_bytes(gzip.compress(raw.read_bytes()) if name.endswith(".gz") else raw.read_bytes())
    cols = read_table(path, text_column="sentence", label_column="labels", label_list=True)
    assert cols == {"text": ["a", "b"], "label": [["x"], ["y", "z"]]}
    assert read_table(path, text_column=0, label_column=2)["label"] == ["1", "2"]
    msg = error_of(read_table, path, text_column="text", label_column="labels")
    assert str(path) in msg and "'text'" in msg and "'sentence'" in msg and "'labels'" in msg


def test_table_error_missing_column_lists_available(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.csv", "text,category\nhi,x\n")
    msg = error_of(read_table, path)
    assert str(path) in msg and "line 1" in msg and "'label'" in msg
    assert "available columns: 'text', 'category'" in msg and "label_column" in msg
    jpath = write_file(tmp_path / "t.jsonl", '{"text": "a", "label": "x"}\n{"txt": "b", "label": "y"}\n')
    msg = error_of(read_table, jpath)
    assert str(jpath) in msg and "row 2" in msg and "'text'" in msg and "'txt'" in msg


def test_table_error_empty_text_names_row_and_column(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.csv", "text,label\nfine,a\n  ,b\n")
    msg = error_of(read_table, path)
    assert str(path) in msg and "row 2 (line 3)" in msg and "column 'text'" in msg and "empty" in msg


def test_table_error_missing_label_names_row_and_column(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.tsv", "a\tx\nb\t\n")
    msg = error_of(read_table, path, text_column=0, label_column=1)
    assert str(path) in msg and "row 2" in msg and "column 1" in msg and "label is missing" in msg
    jpath = write_file(tmp_path / "t.jsonl", '{"text": "a", "label": "x"}\n{"text": "b"}\n')
    msg = error_of(read_table, jpath)
    assert str(jpath) in msg and "row 2" in msg and "column 'label'" in msg and "missing" in msg


def test_table_error_short_row(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.tsv", "a\tx\njust text\n")
    msg = error_of(read_table, path, text_column=0, label_column=1)
    assert str(path) in msg and "row 2" in msg and "column 1" in msg and "1 field(s)" in msg


def test_table_error_bad_json_and_kinds(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", \n')
    msg = error_of(read_table, path)
    assert str(path) in msg and "line 2" in msg and "invalid JSON" in msg
    path = write_file(tmp_path / "k.jsonl", '{"text": "a", "label": "x"}\n')
    msg = error_of(read_table, path, text_column=0)
    assert str(path) in msg and "row 1" in msg and "column 0" in msg and "must be a key" in msg
    path = write_file(tmp_path / "n.jsonl", '{"text": 5, "label": "x"}\n')
    msg = error_of(read_table, path)
    assert str(path) in msg and "row 1" in msg and "column 'text'" in msg and "not a string" in msg


def test_table_error_list_label_without_label_list(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.jsonl", '{"text": "a", "label": ["x", "y"]}\n')
    msg = error_of(read_table, path)
    assert str(path) in msg and "row 1" in msg and "column 'label'" in msg and "label_list=True" in msg


def test_table_error_empty_label_item(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.csv", 'text,label\nhi,"a,,b"\n')
    msg = error_of(read_table, path, label_list=True)
    assert str(path) in msg and "row 1" in msg and "column 'label'" in msg and "empty item" in msg


def test_table_error_format_and_missing_file(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.txt", "a\n")
    assert "unsupported file type '.txt'" in error_of(read_table, path)
    missing = tmp_path / "nope.csv"
    assert str(missing) in error_of(read_table, missing)
    empty = write_file(tmp_path / "e.csv", "")
    assert "header row" in error_of(read_table, empty)
    oob = write_file(tmp_path / "o.csv", "text,label\na,b\n")
    msg = error_of(read_table, oob, text_column="text", label_column=5)
    assert str(oob) in msg and "column 5" in msg and "out of range" in msg


# --------------------------------------------------------------------------------------------------
# read_conll
# --------------------------------------------------------------------------------------------------


def test_conll_tab_separators_docstart_comments(tmp_path: Path) -> None:
    text = (
        "-DOCSTART-\tO\n\n"
        "# sent_id = s1\n# text = Hi # there\n"
        "Hi\tO\n#\tO\n#NFL\tB-ORG\nthere\tO\n"
        "\t\n"  # WNUT-17 style separator: a lone TAB
        "# a free-form comment line\n"
        "ke s\tO\n\tO\nParis\tB-LOC\n"  # BTC quirks: a space inside a token, an empty token
        "   \n"
        "#\n"
        "x\tO\n"
    )
    cols = read_conll(write_file(tmp_path / "t.conll", text))
    assert cols["tokens"] == [["Hi", "#", "#NFL", "there"], ["ke s", "", "Paris"], ["x"]]
    assert cols["tags"] == [["O", "O", "B-ORG", "O"], ["O", "O", "B-LOC"], ["O"]]


def test_conll_whitespace_columns_and_gzip(tmp_path: Path) -> None:
    text = "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n"
    cols = read_conll(write_file(tmp_path / "t.txt.gz", text))
    assert cols["tokens"] == [["EU", "rejects"], ["Peter", "Blackburn"]]
    assert cols["tags"] == [["B-ORG", "O"], ["B-PER", "I-PER"]]
    chunks = read_conll(write_file(tmp_path / "c.txt", text), tag_column=2, scheme="iob2")
    assert chunks["tags"] == [["B-NP", "B-VP"], ["B-NP", "I-NP"]]


def test_conll_uner_format(tmp_path: Path) -> None:
    text = (
        "# newdoc id = doc1\n# sent_id = doc1-0001\n# text = What is this Miramar?\n"
        "1\tWhat\tO\t-\t-\n2\t#\tO\t-\t-\n3\tMiramar\tB-LOC\t-\tstephen\n4\tBay\tI-LOC\t-\tstephen\n\n"
    )
    cols = read_conll(write_file(tmp_path / "u.iob2", text), token_column=1, tag_column=2)
    assert cols == {"tokens": [["What", "#", "Miramar", "Bay"]], "tags": [["O", "O", "B-LOC", "I-LOC"]]}


def test_conll_iob1_to_iob2(tmp_path: Path) -> None:
    text = "a\tI-PER\nb\tI-PER\nc\tB-PER\nd\tO\ne\tI-LOC\nf\tI-ORG\n"
    expected = [["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG"]]
    path = write_file(tmp_path / "t.conll", text)
    assert read_conll(path, scheme="iob1")["tags"] == expected
    assert read_conll(path)["tags"] == expected  # auto detects IOB1


def test_conll_bioes_to_bio(tmp_path: Path) -> None:
    text = "a\tS-PER\nb\tB-ORG\nc\tI-ORG\nd\tE-ORG\ne\tO\nf\tB-LOC\ng\tE-LOC\n"
    expected = [["B-PER", "B-ORG", "I-ORG", "I-ORG", "O", "B-LOC", "I-LOC"]]
    path = write_file(tmp_path / "t.conll", text)
    for scheme in ("bioes", "iobes", "auto"):
        assert read_conll(path, scheme=scheme)["tags"] == expected


def test_conll_iob2_kept(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.conll", "a\tB-PER\nb\tI-PER\nc\tB-PER\n")
    for scheme in ("iob2", "bio", "auto"):
        assert read_conll(path, scheme=scheme)["tags"] == [["B-PER", "I-PER", "B-PER"]]


def test_conll_error_strict_iob2(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.conll", "a\tO\nb\tB-PER\n\nc\tO\nd\tI-LOC\n")
    msg = error_of(read_conll, path, scheme="iob2")
    assert str(path) in msg and "line 5" in msg and "'I-LOC'" in msg and "scheme='iob1'" in msg
    bioes = write_file(tmp_path / "s.conll", "a\tS-PER\n")
    msg = error_of(read_conll, bioes, scheme="bio")
    assert str(bioes) in msg and "line 1" in msg and "'S-PER'" in msg and "scheme='bioes'" in msg


def test_conll_error_bad_tag_and_short_line(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.conll", "a\tO\nb\tPERSON\n")
    msg = error_of(read_conll, path)
    assert str(path) in msg and "line 2" in msg and "column -1" in msg and "'PERSON'" in msg
    uner = write_file(tmp_path / "u.iob2", "1\tWhat\tO\t-\t-\n")
    msg = error_of(read_conll, uner)  # default tag_column=-1 reads the annotator column
    assert str(uner) in msg and "line 1" in msg and "tag_column=2" in msg
    short = write_file(tmp_path / "s.conll", "a\tO\nlonely\n")
    msg = error_of(read_conll, short)
    assert str(short) in msg and "line 2" in msg and "1 column(s)" in msg
    assert "unknown scheme" in error_of(read_conll, path, scheme="bilou")


# --------------------------------------------------------------------------------------------------
# Dialogues
# --------------------------------------------------------------------------------------------------


def _dialogue(i: str, *texts: tuple[str, str]) -> str:
    return json.dumps({"id": i, "turns": [{"speaker": s, "text": t, "extra": 1} for s, t in texts]})


@pytest.mark.parametrize("name", ["d.jsonl", "d.jsonl.gz"])
def test_dialogues_and_pairs(tmp_path: Path, name: str) -> None:
    text = "\n".join(
        [
            _dialogue(
                "d1",
                ("system", "Welcome"),
                ("user", "hi"),
                ("system", "hello"),
                ("user", "bye"),
                ("system", "ok"),
            ),
            json.dumps({"turns": [{"speaker": "user", "text": "q"}, {"speaker": "system", "text": "a"}]}),
        ]
    )
    dialogues = read_dialogues_jsonl(write_file(tmp_path / name, text))
    assert dialogues["id"] == ["d1", "1"]  # no "id": the position
    assert dialogues["turns"][0][1] == {"speaker": "user", "text": "hi"}
    pairs = dialogue_pairs(dialogues)
    assert pairs["dialogue_id"] == ["d1", "d1", "1"]  # turn 0 of d1 is never a reply
    assert pairs["turn_index"] == [2, 4, 1]
    assert pairs["context"][1] == ["Welcome", "hi", "hello", "bye"]
    assert pairs["context_speakers"][1] == ["system", "user", "system", "user"]
    assert pairs["reference"] == ["hello", "ok", "a"]
    short = dialogue_pairs(dialogues, max_context_turns=2)
    assert short["context"][1] == ["hello", "bye"]
    users = dialogue_pairs(dialogues, reply_speaker="user")
    assert users["reference"] == ["hi", "bye"]
    with pytest.raises(ValueError, match="max_context_turns"):
        dialogue_pairs(dialogues, max_context_turns=0)


def test_dialogues_custom_keys(tmp_path: Path) -> None:
    line = json.dumps({"dialogue_id": "x", "utterances": [{"role": "user", "utterance": "hey"}]})
    cols = read_dialogues_jsonl(
        write_file(tmp_path / "d.jsonl", line + "\n"),
        speaker_key="role",
        text_key="utterance",
        turns_key="utterances",
    )
    assert cols == {"id": ["x"], "turns": [[{"speaker": "user", "text": "hey"}]]}


def test_dialogues_errors(tmp_path: Path) -> None:
    path = write_file(tmp_path / "d.jsonl", _dialogue("a", ("user", "x")) + "\n" + json.dumps({"id": "b"}) + "\n")
    msg = error_of(read_dialogues_jsonl, path)
    assert str(path) in msg and "line 2" in msg and "'turns'" in msg and "turns_key" in msg
    path = write_file(tmp_path / "e.jsonl", json.dumps({"id": "c", "turns": [{"speaker": "user"}]}) + "\n")
    msg = error_of(read_dialogues_jsonl, path)
    assert str(path) in msg and "line 1" in msg and "turn 0" in msg and "'text'" in msg
    path = write_file(tmp_path / "f.jsonl", "{not json\n")
    msg = error_of(read_dialogues_jsonl, path)
    assert str(path) in msg and "line 1" in msg and "invalid JSON" in msg


def test_reply_selection_synthetic(tmp_path: Path) -> None:
    folder = tmp_path / "toy"
    folder.mkdir()
    item = {
        "dialogue_id": "d", "turn_index": 1, "context": [{"speaker": "user", "text": "hi"}],
        "reference": "hello", "candidates": ["no", "hello"], "label": 1,
    }
    write_file(folder / "reply_selection_dev.jsonl.gz", json.dumps(item) + "\n")
    write_file(folder / "reply_selection_test.jsonl.gz", json.dumps({**item, "label": 0}) + "\n")
    with pytest.raises(DataError) as info:
        load_reply_selection(tmp_path, "toy")
    msg = str(info.value)
    assert "reply_selection_test.jsonl.gz" in msg and "line 1" in msg and "column 'label'" in msg
    write_file(folder / "reply_selection_test.jsonl.gz", json.dumps(item) + "\n")
    splits = load_reply_selection(tmp_path, "toy")
    assert splits["validation"] == {
        "dialogue_id": ["d"], "turn_index": [1], "context": [["hi"]], "context_speakers": [["user"]],
        "reference": ["hello"], "candidates": [["no", "hello"]], "label": [1],
    }


@pytest.mark.parametrize(
    ("loader", "expected"),
    [
        (load_banking77, "banking77"),
        (load_btc, "broad_twitter_corpus"),
        (load_wnut17, "wnut17"),
        (load_uner_ewt, "uner_english_ewt"),
        (load_sgd, "sgd"),
        (load_taskmaster4, "taskmaster4"),
        (load_goemotions, "goemotions"),
        (load_arc, "ARC-Easy"),
    ],
)
def test_known_loaders_name_missing_path(tmp_path: Path, loader, expected: str) -> None:
    msg = error_of(loader, tmp_path)
    assert str(tmp_path) in msg and expected in msg and "file not found" in msg


# --------------------------------------------------------------------------------------------------
# Real data (NLP_ENVS_DATA_DIR)
# --------------------------------------------------------------------------------------------------


def sizes(splits: dict, column: str) -> dict[str, int]:
    return {split: len(cols[column]) for split, cols in splits.items()}


@pytest.mark.data
def test_real_banking77(data_dir: str) -> None:
    splits, names = load_banking77(data_dir)
    assert len(names) == 77 and "reverted_card_payment?" in names and "Refund_not_showing_up" in names
    assert sizes(splits, "text") == {"train": 9000, "validation": 1003, "test": 3080}
    assert Counter(splits["test"]["label"]) == {name: 40 for name in names}
    train, val = Counter(splits["train"]["label"]), Counter(splits["validation"]["label"])
    for name in names:  # stratified: about 10 % of every class
        assert abs(val[name] - 0.1 * (train[name] + val[name])) <= 0.5
    again, _ = load_banking77(data_dir)
    assert again == splits  # fixed seed
    assert any("," in text for text in splits["train"]["text"])


@pytest.mark.data
def test_real_ner(data_dir: str) -> None:
    btc = load_btc(data_dir)
    assert sizes(btc, "tokens") == {"train": 6338, "validation": 1001, "test": 2001}
    assert sum(map(len, btc["train"]["tokens"])) == 99933
    b_tags = Counter(tag for tags in btc["train"]["tags"] for tag in tags if tag.startswith("B-"))
    assert b_tags == {"B-PER": 4084, "B-ORG": 2665, "B-LOC": 2030}
    wnut = load_wnut17(data_dir)
    assert sizes(wnut, "tokens") == {"train": 3394, "validation": 1009, "test": 1287}
    assert sum(map(len, wnut["test"]["tokens"])) == 23394
    assert len({tag for tags in wnut["train"]["tags"] for tag in tags}) == 13
    uner = load_uner_ewt(data_dir)
    assert sizes(uner, "tokens") == {"validation": 2001, "test": 2077}
    assert sum(map(len, uner["validation"]["tokens"])) == 25149
    assert "#" in {tok for toks in uner["validation"]["tokens"] for tok in toks}


@pytest.mark.data
def test_real_dialogues(data_dir: str) -> None:
    sgd = load_sgd(data_dir)
    assert sizes(sgd, "id") == {"train": 12174, "validation": 2098, "test": 2921}
    assert sum(map(len, sgd["train"]["turns"])) == 223756
    tm4 = load_taskmaster4(data_dir)
    assert sizes(tm4, "id") == {"train": 2973, "validation": 358, "test": 379}
    expected_sizes = {
        "sgd": {"validation": 2000, "test": 2000},
        "taskmaster4": {"validation": 677, "test": 704},
    }
    for name, expected in expected_sizes.items():
        selection = load_reply_selection(data_dir, name)
        assert sizes(selection, "label") == expected
        for cols in selection.values():
            assert all(len(c) == 10 for c in cols["candidates"])
            triples = zip(cols["candidates"], cols["label"], cols["reference"])
            assert all(cands[label] == ref for cands, label, ref in triples)
            assert all(len(a) == len(b) for a, b in zip(cols["context"], cols["context_speakers"]))
    # Taskmaster-4 reply selection holds every system turn with context: the same count as dialogue_pairs.
    assert len(dialogue_pairs(tm4["validation"])["reference"]) == 677


@pytest.mark.data
def test_real_goemotions(data_dir: str) -> None:
    splits, names = load_goemotions(data_dir)
    assert len(names) == 28 and names[0] == "admiration" and names[27] == "neutral"
    assert sizes(splits, "text") == {"train": 43410, "validation": 5426, "test": 5427}
    assert Counter(map(len, splits["train"]["label"])) == {1: 36308, 2: 6541, 3: 532, 4: 28, 5: 1}
    assert splits["validation"]["label"][1] == ["approval", "neutral"]
    assert sum(text != text.strip() for text in splits["train"]["text"]) == 2732
    with open(Path(data_dir) / "goemotions" / "dev.tsv", encoding="utf-8", newline="") as f:
        assert [row[0] for row in csv.reader(f, delimiter="\t")] == splits["validation"]["text"]
    assert sum('"' in text for text in splits["validation"]["text"]) == 137  # the CSV-quoted rows


@pytest.mark.data
def test_real_arc(data_dir: str) -> None:
    easy = load_arc(data_dir, "easy")
    assert sizes(easy, "id") == {"train": 2251, "validation": 570, "test": 2376}
    i = easy["train"]["id"].index("NYSEDREGENTS_2006_8_10")  # labels "1".."4", answerKey "3"
    assert easy["train"]["answer"][i] == 2 and easy["train"]["options"][i][2] == "how they formed"
    challenge = load_arc(data_dir, "challenge")
    assert sizes(challenge, "id") == {"test": 1172}
    assert challenge["test"]["id"][0] == "Mercury_7175875" and challenge["test"]["answer"][0] == 2
    assert Counter(map(len, challenge["test"]["options"])) == {4: 1165, 3: 4, 5: 3}
    with pytest.raises(ValueError, match="subset"):
        load_arc(data_dir, "hard")
