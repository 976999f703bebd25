"""LayoutLMv2 / LayoutLMv3 processors against transformers' on the same documents: ids and boxes exact,
pixel_values within 1e-6, word labels, question + words, truncation; LayoutLM v1's word-piece boxes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autocli.checkpoint import Checkpoint
from autocli.preprocess import load_processor
from tests.fx_layout import oracle_processor

DOCS = ("invoice", "short", "long")


def ours(folder):
    ckpt = Checkpoint.resolve(str(folder))
    return load_processor(ckpt, ckpt.config().model_type)


def oracle_inputs(folder, paths, question=None, labels=False, max_length=None):
    from PIL import Image

    proc = oracle_processor(folder)
    docs = [json.loads(p.read_text()) for p in paths]
    images = [Image.open(p.parent / d["image"]).convert("RGB") for p, d in zip(paths, docs)]
    kw = dict(boxes=[d["boxes"] for d in docs], return_tensors="np", padding=True)
    if max_length:
        kw.update(truncation=True, max_length=max_length)
    if labels:
        kw["word_labels"] = [d["word_labels"] for d in docs]
    if question is not None:
        return proc(images, [question] * len(docs), [d["words"] for d in docs], **kw)
    return proc(images, [d["words"] for d in docs], **kw)


@pytest.mark.parametrize("name", ["v2-tok", "v3-tok"])
@pytest.mark.parametrize("which", [("invoice",), ("short", "invoice"), ("long",)])
@pytest.mark.parametrize("max_length", [None, 20])
def test_processor_parity(layout_checkpoints, layout_docs, name, which, max_length):
    folder = layout_checkpoints[name]
    paths = [layout_docs[w] for w in which]
    if max_length is None and "long" in which:
        max_length = 64  # the tokenizer's model_max_length, which autocli applies by default
    want = oracle_inputs(folder, paths, max_length=max_length)
    proc = ours(folder)
    got = proc([proc.load(str(p)) for p in paths], max_length=max_length)
    assert set(got) - {"labels"} == set(want) - {"image"} | ({"pixel_values"} if "image" in want else set())
    for key in ("input_ids", "attention_mask", "bbox") + (("token_type_ids",) if "token_type_ids" in want else ()):
        assert got[key].tolist() == np.asarray(want[key]).tolist(), key
    pixels = np.asarray(want["pixel_values" if "pixel_values" in want else "image"], dtype=np.float64)
    assert got["pixel_values"].shape == pixels.shape
    assert np.abs(got["pixel_values"] - pixels).max() <= 1e-6


@pytest.mark.parametrize("name", ["v2-tok", "v3-tok"])
def test_word_labels_on_first_subwords(layout_checkpoints, layout_docs, name):
    folder = layout_checkpoints[name]
    paths = [layout_docs["invoice"]]
    want = oracle_inputs(folder, paths, labels=True)
    proc = ours(folder)
    got = proc([proc.load(str(p)) for p in paths])
    assert got["labels"].tolist() == np.asarray(want["labels"]).tolist()
    assert (got["labels"] != -100).sum() == len(json.loads(paths[0].read_text())["words"])  # one label per word


@pytest.mark.parametrize("name", ["v2-tok", "v3-tok"])
@pytest.mark.parametrize("max_length", [64, 24])
def test_question_and_words(layout_checkpoints, layout_docs, name, max_length):
    folder = layout_checkpoints[name]
    paths = [layout_docs["invoice"], layout_docs["short"]]
    question = "What is the total amount?"
    want = oracle_inputs(folder, paths, question=question, max_length=max_length)
    proc = ours(folder)
    got = proc([proc.load(str(p)).asking(question) for p in paths], max_length=max_length)
    for key in ("input_ids", "attention_mask", "bbox") + (("token_type_ids",) if "token_type_ids" in want else ()):
        assert got[key].tolist() == np.asarray(want[key]).tolist(), key


def test_v1_boxes_follow_word_pieces(layout_checkpoints, layout_docs):
    """LayoutLM v1: [CLS] [0,0,0,0], each word-piece its word's box, [SEP] [1000,1000,1000,1000] (transformers' docs)."""
    from transformers import AutoTokenizer

    folder = layout_checkpoints["v1-tok"]
    doc = json.loads(layout_docs["invoice"].read_text())
    tok = AutoTokenizer.from_pretrained(str(folder))
    enc = tok(doc["words"], is_split_into_words=True)
    want = [[0, 0, 0, 0] if w is None else doc["boxes"][w] for w in enc.word_ids()]
    want[-1] = [1000] * 4
    proc = ours(folder)
    got = proc([proc.load(str(layout_docs["invoice"]))])
    assert got["input_ids"][0].tolist() == enc["input_ids"]
    assert got["bbox"][0].tolist() == want
    assert "pixel_values" not in got
