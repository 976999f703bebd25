"""`autocli tag`: parity with transformers' token-classification pipeline for every aggregation; windows."""

from __future__ import annotations

import functools
import json

import pytest

from tests.conftest import assert_one_line_error
from tests.fx_models import build_checkpoint

TOL = 1e-4
LABELS = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world! unbelievable runners",
    "A café in Zürich serves crème brûlée.",
    "Don't stop believing; it's 2024.",
]
AGGREGATIONS = ["none", "simple", "first", "average", "max"]
TAG_FAMILIES = ["bert", "roberta", "xlm-roberta", "distilbert"]


@pytest.fixture(scope="module")
def ner_checkpoints(tiny_root):
    """BIO-labelled token classifiers: WordPiece (word-aware subwords), byte-level BPE and Unigram (the
    pipeline's fallback heuristic for subwords)."""
    kw = dict(num_labels=5, id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    return {family: build_checkpoint(tiny_root, family, "token-classification", **kw) for family in TAG_FAMILIES}


@functools.lru_cache(maxsize=None)
def _pipeline(folder: str, aggregation: str):
    from transformers import pipeline

    return pipeline("token-classification", model=folder, aggregation_strategy=aggregation, device="cpu")


def _pipeline_entities(folder, aggregation: str, text: str) -> list[dict]:
    return _pipeline(str(folder), aggregation)(text)


@pytest.mark.parametrize("family", TAG_FAMILIES)
@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_parity_with_the_pipeline(cli, ner_checkpoints, family, aggregation):
    folder = ner_checkpoints[family]
    res = cli(["tag", folder, *TEXTS, "--aggregation", aggregation, "--format", "jsonl", "--batch-size", "3"])
    assert res.exit_code == 0, res.stderr
    records = res.jsonl()
    assert [r["index"] for r in records] == list(range(len(TEXTS)))
    for rec, text in zip(records, TEXTS):
        want = _pipeline_entities(folder, aggregation, text)
        got = rec["entities"]
        key = "entity" if aggregation == "none" else "entity_group"
        assert [(e["label"], e["start"], e["end"]) for e in got] == [(w[key], w["start"], w["end"]) for w in want]
        assert all(abs(e["score"] - float(w["score"])) <= TOL for e, w in zip(got, want))
        assert [e["word"] for e in got] == [w["word"] for w in want]
        assert all(e["text"] == text[e["start"] : e["end"]] for e in got)
        if aggregation == "none":
            assert [e["token"] for e in got] == [w["index"] for w in want]


def test_ignore_labels(cli, ner_checkpoints):
    folder = ner_checkpoints["bert"]
    everything = cli(["tag", folder, TEXTS[0], "--ignore-labels", "", "--format", "json"]).json()[0]["entities"]
    no_per = cli(["tag", folder, TEXTS[0], "--ignore-labels", "O,PER", "--format", "json"]).json()[0]["entities"]
    assert {e["label"] for e in everything} - {"PER", "LOC", "O"} == set()
    assert no_per == [e for e in everything if e["label"] not in ("O", "PER")]


def test_long_text_is_windowed_and_no_token_is_dropped(cli, ner_checkpoints):
    """The tiny model has 64 positions: a 600-token text needs many windows."""
    import torch

    from autocli.inputs import Item
    from autocli.tasks import load
    from autocli.tasks.tag import TagOptions, tag

    folder = ner_checkpoints["bert"]
    text = " ".join(TEXTS * 8)
    _, tok, model = load(str(folder), "token-classification")
    enc = tok.encode(text)
    assert len(enc.ids) > 3 * model.max_positions
    (rec,) = tag(model, tok, [Item(0, {"text": text})], TagOptions(aggregation="none", ignore_labels=(), stride=16))
    tokens = [e.token for e in rec.entities]
    assert tokens == list(range(1, len(enc.ids) - 1))  # every real token, once, in order
    # The first tokens come from the first window, run on its own.
    first = tok.encode(text, max_length=model.max_positions)
    with torch.inference_mode():
        logits = model(torch.tensor([first.ids]), torch.ones(1, len(first.ids), dtype=torch.long))[0]
    probs = logits.softmax(-1)
    for e in rec.entities[:20]:
        assert abs(e.score - float(probs[e.token].max())) <= TOL
    # Through the CLI: entities keep offsets into the whole text.
    res = cli(["tag", folder, text, "--stride", "8", "--format", "json"])
    assert res.exit_code == 0, res.stderr
    ents = res.json()[0]["entities"]
    assert ents and all(e["text"] == text[e["start"] : e["end"]] for e in ents)
    assert max(e["end"] for e in ents) > len(text) - 20


def test_stride_must_fit_in_the_window(cli, ner_checkpoints):
    res = cli(["tag", ner_checkpoints["bert"], " ".join(TEXTS * 8), "--stride", "62"])
    assert res.exit_code == 7
    assert "stride" in res.stdout


def test_bad_inputs_are_error_records(cli, ner_checkpoints):
    lines = json.dumps({"text": TEXTS[0]}) + "\n" + json.dumps({"txt": "x"}) + "\n" + json.dumps({"text": TEXTS[1]}) + "\n"
    res = cli(["tag", ner_checkpoints["bert"], "--jsonl", "--format", "jsonl"], input=lines)
    assert res.exit_code == 7
    recs = res.jsonl()
    assert [r["index"] for r in recs] == [0, 1, 2] and "error" in recs[1] and "entities" in recs[2]


def test_table_and_inline_text(cli, ner_checkpoints):
    from rich.console import Console

    from autocli.render import _inline_entities
    from autocli.tasks.tag import Entity

    res = cli(["tag", ner_checkpoints["bert"], TEXTS[0], "--ignore-labels", ""])
    assert res.exit_code == 0 and "start" in res.stdout
    text = "Ada lives in London."
    ents = [Entity("PER", 0.9, "Ada", 0, 3, "ada"), Entity("LOC", 0.8, "London", 13, 19, "london")]
    con = Console(width=80, record=True, color_system=None)
    con.print(_inline_entities(text, ents))
    assert con.export_text().strip() == "Ada[PER] lives in London[LOC]."


def test_token_classifier_needed(cli, minilm_dir):
    assert_one_line_error(cli(["tag", minilm_dir, "hello"]), 5)
