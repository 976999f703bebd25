"""`autocli classify`: parity with transformers' text-classification pipeline, batches, errors."""

from __future__ import annotations

import json

import pytest

from tests.conftest import assert_one_line_error
from tests.fx_models import FAMILIES, build_checkpoint

TOL = 1e-4
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world!",
    "A café in Zürich serves crème brûlée.",  # every text stays within the tiny models' 64 positions
    "unbelievable",
    "Don't stop believing; it's what we're doing, isn't it?",
]


def _pipeline(folder, **kw):
    from transformers import pipeline

    return pipeline("text-classification", model=str(folder), device="cpu", **kw)


def _same(got: list[dict], want: list[dict]) -> None:
    assert [g["label"] for g in got] == [w["label"] for w in want]
    assert all(abs(g["score"] - w["score"]) <= TOL for g, w in zip(got, want)), (got, want)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_parity_with_the_pipeline_all_labels(cli, tiny_checkpoints, family):
    folder = tiny_checkpoints[family, "sequence-classification"]
    res = cli(["classify", folder, *TEXTS, "--top-k", "all", "--format", "jsonl", "--batch-size", "2"])
    assert res.exit_code == 0, res.stderr
    records = res.jsonl()
    assert [r["index"] for r in records] == list(range(len(TEXTS)))
    pipe = _pipeline(folder)
    for rec, text in zip(records, TEXTS):
        _same(rec["scores"], pipe(text, top_k=None))
        best = pipe(text)[0]
        assert rec["label"] == best["label"] and abs(rec["score"] - best["score"]) <= TOL


def test_pairs_by_flag_and_by_jsonl(cli, tiny_checkpoints):
    folder = tiny_checkpoints["bert", "sequence-classification"]
    pipe = _pipeline(folder)
    res = cli(["classify", folder, TEXTS[0], TEXTS[1], "--pair", "Someone eats.", "--top-k", "all", "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    for rec, text in zip(res.jsonl(), TEXTS[:2]):
        _same(rec["scores"], pipe({"text": text, "text_pair": "Someone eats."}, top_k=None))
    lines = "".join(json.dumps({"text": t, "text_pair": p}) + "\n" for t, p in [(TEXTS[2], TEXTS[3]), (TEXTS[3], TEXTS[1])])
    res = cli(["classify", folder, "--jsonl", "--top-k", "all", "--format", "jsonl"], input=lines)
    assert res.exit_code == 0, res.stderr
    got = res.jsonl()
    _same(got[0]["scores"], pipe({"text": TEXTS[2], "text_pair": TEXTS[3]}, top_k=None))
    _same(got[1]["scores"], pipe({"text": TEXTS[3], "text_pair": TEXTS[1]}, top_k=None))


@pytest.mark.parametrize(
    "overrides,function",
    [
        ({"num_labels": 1}, "sigmoid"),
        ({"num_labels": 1, "problem_type": "regression"}, "none"),
        ({"problem_type": "multi_label_classification"}, "sigmoid"),
        ({"problem_type": "single_label_classification"}, "softmax"),
    ],
    ids=["one-label", "regression", "multi-label", "single-label"],
)
def test_activation_follows_the_config_as_the_pipeline(cli, tiny_root, overrides, function):
    from autocli.config import Config
    from autocli.tasks.classify import default_function

    folder = build_checkpoint(tiny_root, "bert", "sequence-classification", **overrides)
    cfg = Config(json.loads((folder / "config.json").read_text()))
    assert default_function(cfg, cfg.num_labels) == function
    res = cli(["classify", folder, *TEXTS[:3], "--top-k", "all", "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    pipe = _pipeline(folder)
    for rec, text in zip(res.jsonl(), TEXTS):
        _same(rec["scores"], pipe(text, top_k=None))


@pytest.mark.parametrize("function", ["softmax", "sigmoid", "none"])
def test_function_override(cli, tiny_checkpoints, function):
    folder = tiny_checkpoints["bert", "sequence-classification"]
    res = cli(["classify", folder, TEXTS[0], "--function", function, "--top-k", "2", "--format", "json"])
    assert res.exit_code == 0, res.stderr
    rec = res.json()[0]
    assert len(rec["scores"]) == 2
    _same(rec["scores"], _pipeline(folder)(TEXTS[0], top_k=2, function_to_apply=function))


def test_order_is_the_input_order_whatever_the_batching(cli, tiny_checkpoints):
    folder = tiny_checkpoints["bert", "sequence-classification"]
    texts = [("word " * n).strip() for n in (3, 17, 1, 9, 30, 2, 9, 5)]
    one = cli(["classify", folder, *texts, "--top-k", "all", "--format", "jsonl", "--batch-size", "1"]).jsonl()
    many = cli(["classify", folder, *texts, "--top-k", "all", "--format", "jsonl", "--batch-size", "3"]).jsonl()
    assert [r["index"] for r in many] == list(range(len(texts)))
    for a, b in zip(one, many):
        _same(a["scores"], b["scores"])


def test_a_bad_line_is_its_own_error_record_and_exit_7(cli, tiny_checkpoints):
    folder = tiny_checkpoints["bert", "sequence-classification"]
    lines = '{"text": "good one"}\nnot json\n{"text": 5}\n{"text": "fine", "text_pair": ["x"]}\n{"text": "last"}\n'
    res = cli(["classify", folder, "--jsonl", "--format", "jsonl"], input=lines)
    assert res.exit_code == 7
    records = res.jsonl()
    assert [r["index"] for r in records] == [0, 1, 2, 3, 4]
    assert ["error" in r for r in records] == [False, True, True, True, False]
    assert records[4]["label"].startswith("LABEL_")
    # each failure's reason on stderr as it happens, then the summary
    assert res.stderr.splitlines()[:4] == [
        "error: input 1: not valid JSON: Expecting value at column 1",
        "error: input 2: field 'text' is a int",
        "error: input 3: field 'text_pair' is a list",
        "error: 3 of 5 inputs failed",
    ]


def test_truncation_is_warned_and_matches_a_truncating_pipeline(cli, tiny_checkpoints):
    folder = tiny_checkpoints["bert", "sequence-classification"]
    res = cli(["classify", folder, TEXTS[2], "Hi", "--max-length", "8", "--top-k", "all", "--format", "jsonl"])
    assert res.exit_code == 0
    assert "warning: 1 input truncated to 8 tokens (index 0)" in res.stderr
    want = _pipeline(folder)(TEXTS[2], top_k=None, truncation=True, max_length=8)
    _same(res.jsonl()[0]["scores"], want)
    quiet = cli(["classify", folder, TEXTS[2], "--max-length", "8", "--quiet"])
    assert "warning" not in quiet.stderr


def test_texts_longer_than_the_model_are_truncated_not_crashed(cli, tiny_checkpoints):
    folder = tiny_checkpoints["bert", "sequence-classification"]  # 64 positions
    res = cli(["classify", folder, "word " * 300, "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    assert "truncated to 64 tokens" in res.stderr


def test_table_output_and_top_k_validation(cli, tiny_checkpoints):
    folder = tiny_checkpoints["bert", "sequence-classification"]
    res = cli(["classify", folder, "Hello world!", "--top-k", "3", "--format", "table"])
    assert res.exit_code == 0 and "LABEL_" in res.stdout and "Hello world!" in res.stdout
    assert_one_line_error(cli(["classify", folder, "x", "--top-k", "zero"]), 2)
    assert_one_line_error(cli(["classify", folder, "x", "--top-k", "0"]), 2)


def test_minilm_has_no_trained_head(cli, minilm_dir):
    res = cli(["classify", minilm_dir, "hello"])
    assert_one_line_error(res, 5)
    assert "no trained" in res.stderr and "--allow-random-head" in res.stderr


def test_random_head_when_allowed(cli, minilm_dir):
    res = cli(["classify", minilm_dir, "hello", "--allow-random-head", "--format", "json"])
    assert res.exit_code == 0, res.stderr
    assert res.json()[0]["label"] in ("LABEL_0", "LABEL_1")
