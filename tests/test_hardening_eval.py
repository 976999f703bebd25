"""Hostile data and options for `autocli eval`: one-line errors with the documented exit codes, and every
unusable row counted in the report (never skipped silently, never a traceback)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import assert_one_line_error
from tests.fx_decoders import build_decoder
from tests.fx_models import build_checkpoint

NAMES = ["neg", "neu", "pos"]
LABELS = {"id2label": {str(i): n for i, n in enumerate(NAMES)}, "label2id": {n: i for i, n in enumerate(NAMES)}}


@pytest.fixture
def classifier(tiny_root):
    return build_checkpoint(tiny_root, "bert", "sequence-classification", **LABELS)


@pytest.fixture
def tagger(tiny_root):
    tags = ["O", "B-PER", "I-PER"]
    return build_checkpoint(tiny_root, "bert", "token-classification", num_labels=3,
                            id2label={str(i): t for i, t in enumerate(tags)}, label2id={t: i for i, t in enumerate(tags)})


def _report(res, code: int) -> dict:
    assert res.exit_code == code, (res.exit_code, res.stderr)
    assert "Traceback" not in res.stderr
    return res.json()


def test_rows_of_every_kind_of_wrong(cli, classifier, tmp_path):
    lines = [
        json.dumps({"text": "fine", "label": "pos"}),
        "[1, 2]",  # an array, not an object
        "{broken",
        json.dumps({"text": "a", "label": {"name": "pos"}}),
        json.dumps({"text": "a", "label": True}),
        json.dumps({"text": "a", "text_pair": 3, "label": "neg"}),
        json.dumps({"text": 5, "label": "neg"}),
        "",
        json.dumps({"text": "also fine", "label": 2}),
    ]
    data = tmp_path / "mixed.jsonl"
    data.write_bytes(("\n".join(lines) + "\n").encode() + b'{"text": "nul\x00", "label": 0}\n' + b'\xff\xfe{"text"}\n')
    rep = _report(cli(["eval", classifier, data, "-f", "json"]), 7)
    assert rep["examples"] == 11 and rep["failed"] == 9
    assert [e["index"] for e in rep["errors"]] == [1, 2, 3, 4, 5, 6, 7, 9, 10]


def test_nothing_scorable_is_a_usage_error(cli, classifier, tmp_path):
    data = tmp_path / "junk.jsonl"
    data.write_bytes(b"\x00\x01\x02binary\n\xff\xff\n")
    res = cli(["eval", classifier, data])
    assert_one_line_error(res, 2)
    assert "none of the 2 rows" in res.stderr


def test_csv_ragged_rows_and_missing_header(cli, classifier, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text('text,label\n"a, b",pos\nonly one cell\nc,neg,extra\n')
    rep = _report(cli(["eval", classifier, data, "-f", "json"]), 7)
    assert rep["examples"] == 3 and [e["index"] for e in rep["errors"]] == [1, 2]
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert_one_line_error(cli(["eval", classifier, empty]), 2)


def test_conll_without_tag_column(cli, tagger, tmp_path):
    folder = tagger
    data = tmp_path / "d.conll"
    data.write_text("Ada B-PER\nLovelace I-PER\n\nlonely\nword O\n\nfine O\n")
    rep = _report(cli(["eval", folder, data, "-f", "json"]), 7)
    assert rep["examples"] == 3 and [e["index"] for e in rep["errors"]] == [1]
    assert "no tag column" in rep["errors"][0]["error"]["message"]


@pytest.mark.parametrize("args,code", [
    (["--limit", "0"], 2),
    (["--min", "accuracy=nan"], 2),
    (["--min", "=0.5"], 2),
    (["--max", "accuracy"], 2),
    (["--min", "perplexity=1"], 2),  # not a classification metric
    (["--task", "nonsense"], 2),
    (["--min", "accuracy=inf"], 6),  # a bound nothing meets
])
def test_option_values(cli, classifier, tmp_path, args, code):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"text": "a", "label": "pos"}) + "\n")
    res = cli(["eval", classifier, data, *args])
    assert res.exit_code == code, res.stderr
    assert "Traceback" not in res.stderr
    if code == 2:
        assert_one_line_error(res, 2)


def test_paths_that_are_not_data(cli, classifier, tmp_path):
    assert_one_line_error(cli(["eval", classifier, tmp_path]), 2)  # a folder
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"text": "a", "label": "pos"}) + "\n")
    res = cli(["eval", classifier, data, "--predictions", tmp_path / "no" / "such" / "dir.jsonl"])
    assert_one_line_error(res, 2)


def test_checkpoint_without_an_evaluated_task(cli, tiny_root, tmp_path):
    folder = build_checkpoint(tiny_root, "bert", "masked-lm")
    data = tmp_path / "d.txt"
    data.write_text("some text\n")
    res = cli(["eval", folder, data])
    assert_one_line_error(res, 5)
    assert "--task" in res.stderr


def test_text_that_is_not_utf8(cli, decoder_root, tmp_path):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    data = tmp_path / "latin1.txt"
    data.write_bytes("caf\xe9 au lait, encore du caf\xe9".encode("latin-1"))
    res = cli(["eval", folder, data])
    assert_one_line_error(res, 2)
    assert "UTF-8" in res.stderr


def test_words_the_tokenizer_refuses(cli, tagger, tmp_path):
    """A lone surrogate in a JSONL word makes the tokenizer fail: that row's error, the others scored."""
    folder = tagger
    data = tmp_path / "d.jsonl"
    data.write_text('{"tokens": ["Ada"], "tags": ["B-PER"]}\n{"tokens": ["x\\ud800"], "tags": ["O"]}\n{"tokens": ["ok"], "tags": ["O"]}\n')
    rep = _report(cli(["eval", folder, data, "-f", "json"]), 7)
    assert [e["index"] for e in rep["errors"]] == [1]


def test_a_file_named_parquet_that_is_not(cli, classifier, tmp_path):
    data = tmp_path / "rows.parquet"
    data.write_text('{"text": "not parquet", "label": "pos"}\n')
    res = cli(["eval", str(classifier), str(data), "--format", "json"])
    assert_one_line_error(res, 2)
    assert "not a readable Parquet file" in res.stderr
