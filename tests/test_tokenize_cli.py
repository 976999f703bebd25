"""`autocli tokenize`: output modes, batches, truncation, decode, errors, and no torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT, assert_one_line_error

RECORD_KEYS = ["index", "text", "ids", "tokens", "offsets", "type_ids", "truncated"]


@pytest.fixture(scope="module")
def minilm_ref(minilm_dir):
    import transformers

    transformers.logging.set_verbosity_error()
    return transformers.AutoTokenizer.from_pretrained(str(minilm_dir))


def test_table_shows_ids_tokens_and_spans(cli, minilm_dir):
    res = cli(["tokenize", minilm_dir, "Hello wörld 🙂!", "--format", "table"])
    assert res.exit_code == 0, res.stderr
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in res.stdout.splitlines() if line.startswith("| ")]
    assert rows[0] == ["#", "id", "token", "span", "text"]
    assert rows[1:] == [
        ["0", "101", "[CLS]", "", ""],
        ["1", "7592", "hello", "0:5", "Hello"],
        ["2", "2088", "world", "6:11", "wörld"],
        ["3", "100", "[UNK]", "12:13", "🙂"],
        ["4", "999", "!", "13:14", "!"],
        ["5", "102", "[SEP]", "", ""],
    ]
    assert "input 0: Hello wörld 🙂!" in res.stdout


def test_table_escapes_markup_and_whitespace(cli, bpe_tokenizer_dir):
    res = cli(["tokenize", bpe_tokenizer_dir, "[bold]x[/bold]\tend", "--format", "table"])
    assert res.exit_code == 0, res.stderr
    assert "[bold]" in res.stdout and "\\t" in res.stdout


def test_ids_equal_transformers(cli, minilm_dir, minilm_ref):
    texts = ["Hello world!", "café crème 東京 🙂", "  extra   spaces  "]
    res = cli(["tokenize", minilm_dir, *texts, "--ids"])
    assert res.exit_code == 0, res.stderr
    assert [list(map(int, line.split())) for line in res.stdout.splitlines()] == [minilm_ref(t)["input_ids"] for t in texts]


@pytest.mark.parametrize("kind", ["wordpiece_tokenizer_dir", "bpe_tokenizer_dir", "unigram_tokenizer_dir", "legacy_gpt2_dir"])
def test_ids_equal_transformers_on_fixture_kinds(cli, request, kind):
    import transformers

    folder = request.getfixturevalue(kind)
    ref = transformers.AutoTokenizer.from_pretrained(str(folder))
    texts = ["Hello world!", "naïve café 🚀", "東京"]
    res = cli(["tokenize", folder, "--ids"], input="\n".join(texts) + "\n")
    assert [list(map(int, line.split())) for line in res.stdout.splitlines()] == [ref(t)["input_ids"] for t in texts]


def test_count_and_empty_lines(cli, minilm_dir):
    res = cli(["tokenize", minilm_dir, "--count"], input="hello world\n\nhello\n")
    assert res.exit_code == 0, res.stderr
    assert res.stdout.splitlines() == ["4", "2", "3"]  # an empty line is [CLS] [SEP]


def test_json_records(cli, minilm_dir, minilm_ref):
    res = cli(["tokenize", minilm_dir, "Hello there", "--json"])
    assert res.exit_code == 0, res.stderr
    (rec,) = res.json()
    assert list(rec) == RECORD_KEYS
    want = minilm_ref("Hello there", return_offsets_mapping=True)
    assert rec["ids"] == want["input_ids"] and rec["offsets"] == [list(o) for o in want["offset_mapping"]]
    assert rec["tokens"] == ["[CLS]", "hello", "there", "[SEP]"] and rec["truncated"] is False


def test_pair(cli, minilm_dir, minilm_ref):
    res = cli(["tokenize", minilm_dir, "Where is it?", "--pair", "In Paris.", "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    (rec,) = res.jsonl()
    assert list(rec) == RECORD_KEYS + ["pair"] and rec["pair"] == "In Paris."
    want = minilm_ref("Where is it?", "In Paris.")
    assert rec["ids"] == want["input_ids"] and rec["type_ids"] == want["token_type_ids"]
    assert rec["offsets"][-4:] == [[0, 2], [3, 8], [8, 9], [0, 0]]  # spans into the pair's own text


def test_jsonl_input_with_pairs(cli, minilm_dir, minilm_ref):
    lines = [{"text": "a question?", "text_pair": "some context"}, {"text": "solo"}, "plain string"]
    res = cli(["tokenize", minilm_dir, "--jsonl", "--ids"], input="\n".join(json.dumps(x) for x in lines) + "\n")
    assert res.exit_code == 0, res.stderr
    out = [list(map(int, line.split())) for line in res.stdout.splitlines()]
    assert out == [minilm_ref("a question?", "some context")["input_ids"], minilm_ref("solo")["input_ids"], minilm_ref("plain string")["input_ids"]]


def test_no_special_tokens(cli, minilm_dir):
    res = cli(["tokenize", minilm_dir, "hello world", "--no-special-tokens", "--ids"])
    assert res.stdout.strip() == "7592 2088"


def test_max_length_truncates_and_warns(cli, minilm_dir, minilm_ref):
    text = "one two three four five six seven"
    res = cli(["tokenize", minilm_dir, text, "short", "--max-length", "5", "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    long, short = res.jsonl()
    assert long["ids"] == minilm_ref(text, max_length=5, truncation=True)["input_ids"] and long["truncated"] is True
    assert long["ids"][0] == 101 and long["ids"][-1] == 102
    assert short["truncated"] is False
    assert "warning:" in res.stderr and "truncated" in res.stderr and "0" in res.stderr
    quiet = cli(["tokenize", minilm_dir, text, "--max-length", "5", "--ids", "--quiet"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    pair = cli(["tokenize", minilm_dir, text, "--pair", "a b c d e f", "--max-length", "9", "--ids"])
    assert list(map(int, pair.stdout.split())) == minilm_ref(text, "a b c d e f", max_length=9, truncation=True)["input_ids"]


def test_max_length_too_short_is_a_usage_error(cli, minilm_dir):
    # An unusable option value is a usage error before any input is read, as in classify.
    res = cli(["tokenize", minilm_dir, "hello", "--max-length", "2", "--json"])
    assert_one_line_error(res, 2)
    assert "special tokens" in res.stderr and res.stdout == ""


@pytest.mark.parametrize("ids", ["101,7592,2088,102", "101 7592 2088 102", "[101, 7592, 2088, 102]"])
def test_decode(cli, minilm_dir, ids):
    res = cli(["tokenize", minilm_dir, "--decode", ids])
    assert res.exit_code == 0, res.stderr
    assert res.stdout == "[CLS] hello world [SEP]\n"
    assert cli(["tokenize", minilm_dir, "--decode", ids, "--no-special-tokens"]).stdout == "hello world\n"


def test_decode_stdin_and_jsonl(cli, minilm_dir):
    res = cli(["tokenize", minilm_dir, "--decode", "--no-special-tokens"], input="7592 2088\n7592\n")
    assert res.stdout.splitlines() == ["hello world", "hello"]
    res = cli(["tokenize", minilm_dir, "--decode", "--jsonl", "--format", "jsonl"], input='{"ids": [7592, 999]}\n')
    assert res.jsonl() == [{"index": 0, "ids": [7592, 999], "text": "hello!"}]


def test_decode_round_trip(cli, bpe_tokenizer_dir):
    text = "Hello world, café 🙂"
    ids = cli(["tokenize", bpe_tokenizer_dir, text, "--ids"]).stdout.strip()
    assert cli(["tokenize", bpe_tokenizer_dir, "--decode", ids, "--no-special-tokens"]).stdout == text + "\n"


def test_decode_bad_ids_are_error_records(cli, minilm_dir):
    res = cli(["tokenize", minilm_dir, "--decode"], input="7592\n99999999\nabc\n2088\n")
    assert res.exit_code == 7
    assert res.stdout.splitlines() == ["hello", "", "", "world"]
    assert "input 1: token id 99999999 is out of range" in res.stderr and "input 2" in res.stderr
    res = cli(["tokenize", minilm_dir, "--decode", "--json"], input="abc\n")
    assert res.json()[0]["error"]["message"].startswith("'abc' is not a token id")


def test_stdin_dash_and_input_file(cli, minilm_dir, tmp_path):
    f = tmp_path / "in.txt"
    f.write_text("hello\nworld\n")
    assert cli(["tokenize", minilm_dir, "--input", f, "--ids"]).stdout.splitlines() == ["101 7592 102", "101 2088 102"]
    assert cli(["tokenize", minilm_dir, "-", "--ids"], input="hello\n").stdout == "101 7592 102\n"


def test_bad_input_lines_are_error_records(cli, minilm_dir):
    res = cli(["tokenize", minilm_dir, "--format", "jsonl"], input=b"hello\n\xff\xfe\nworld\n")
    assert res.exit_code == 7
    recs = res.jsonl()
    assert [r["index"] for r in recs] == [0, 1, 2]
    assert recs[0]["ids"] == [101, 7592, 102] and "UTF-8" in recs[1]["error"]["message"] and recs[2]["ids"] == [101, 2088, 102]
    assert "1 of 3" in res.stderr
    res = cli(["tokenize", minilm_dir, "--jsonl", "--json"], input='{"text": 5}\n{"nope": 1}\n[1]\n')
    assert res.exit_code == 7 and all("error" in r for r in res.json())
    table = cli(["tokenize", minilm_dir, "--format", "table"], input=b"ok\n\xff\n")
    assert table.exit_code == 7 and "error:" in table.stdout


def test_undecodable_argument_is_an_error_record(cli, minilm_dir):
    res = cli(["tokenize", minilm_dir, "ab\udcffc", "ok", "--ids"])  # what Python makes of invalid UTF-8 in argv
    assert res.exit_code == 7
    assert res.stdout.splitlines() == ["", "101 7929 102"]
    assert "not valid UTF-8" in res.stderr


@pytest.mark.parametrize("args", [
    ["--ids", "--count"],
    ["--ids", "--json"],
    ["--count", "--format", "jsonl"],
    ["--decode", "--max-length", "3"],
    ["--decode", "--pair", "x"],
])
def test_conflicting_options(cli, minilm_dir, args):
    assert_one_line_error(cli(["tokenize", minilm_dir, "101", *args]), 2)


def test_empty_tokenizer_json(cli, tmp_path):
    (tmp_path / "tokenizer.json").write_text("")
    res = cli(["tokenize", tmp_path, "hi"])
    assert_one_line_error(res, 4)
    assert "tokenizer.json is empty" in res.stderr and "hint:" in res.stderr


def test_no_tokenizer_files(cli, tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    res = cli(["tokenize", tmp_path, "hi"])
    assert_one_line_error(res, 4)
    assert "no tokenizer files" in res.stderr and "vocab.txt" in res.stderr


def test_sentencepiece_only(cli, tmp_path):
    (tmp_path / "spm.model").write_bytes(b"\x0a\x03abc")
    res = cli(["tokenize", tmp_path, "hi"])
    assert_one_line_error(res, 5)
    assert "SentencePiece" in res.stderr


def test_missing_folder(cli, tmp_path):
    assert_one_line_error(cli(["tokenize", tmp_path / "nope", "hi"]), 3)


def test_remote_fetches_only_tokenizer_files(cli, hub, minilm_dir, tmp_path, minilm_ref):
    """A Hub checkpoint: tokenize downloads the tokenizer files, never the weights."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(minilm_dir / name, repo)
    (repo / "model.safetensors").write_bytes(b"\0" * 200_000)
    hub.add_repo("org/minilm", repo)
    res = cli(["tokenize", "org/minilm", "Hello world!", "--ids"])
    assert res.exit_code == 0, res.stderr
    assert list(map(int, res.stdout.split())) == minilm_ref("Hello world!")["input_ids"]
    assert hub.bytes_served("org/minilm", "model.safetensors") == 0
    assert hub.bytes_served("org/minilm", "tokenizer.json") > 0
    offline = cli(["tokenize", "org/minilm", "Hello world!", "--ids", "--offline"])
    assert offline.exit_code == 0 and offline.stdout == res.stdout


def test_tokenize_does_not_import_torch(minilm_dir):
    code = (
        "import sys\n"
        "from autocli.cli import run\n"
        f"rc = run(['tokenize', {str(minilm_dir)!r}, 'hello', '--ids'])\n"
        "bad = [m for m in ('torch', 'transformers', 'numpy') if m in sys.modules]\n"
        "assert rc == 0 and not bad, (rc, bad)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "101 7592 102"


@pytest.mark.parametrize("padding, extra", [("longest", []), ("max_length", ["--max-length", "12"])])
def test_padding_and_truncation_equal_transformers(cli, minilm_dir, padding, extra):
    from transformers import AutoTokenizer

    texts = ["Hello world!", "A much longer sentence that runs past twelve tokens for sure, it does.", "Hi"]
    res = cli(["tokenize", minilm_dir, *texts, "--padding", padding, "--truncation", "--pair", "And a pair.", *extra, "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    hf = AutoTokenizer.from_pretrained(str(minilm_dir))
    kw = {"max_length": 12} if extra else {}
    want = hf(texts, ["And a pair."] * 3, padding=padding, truncation=True, **kw)
    got = res.jsonl()
    assert [r["ids"] for r in got] == want["input_ids"]
    assert [r["attention_mask"] for r in got] == want["attention_mask"]
    assert [r["type_ids"] for r in got] == want["token_type_ids"]
