"""Documents through tag / classify / qa: each word's label is the model's argmax at the word's first token
(transformers' model on transformers' processor output), classification and answers follow the oracle's logits,
and the three commands work end to end through the console script (several documents, error records, order)."""

from __future__ import annotations

import json

import pytest
import torch

from autocli.inputs import Inputs, Item
from autocli.tasks import load
from autocli.tasks.classify import ClassifyOptions
from autocli.tasks.document import classify_documents, qa_documents, tag_documents
from autocli.tasks.qa import QAOptions
from autocli.tasks.tag import TagOptions
from tests.fx_layout import oracle_model, oracle_processor

QUESTION = "What is the total amount?"


def oracle_encoding(folder, name, path, question=None):
    """transformers' inputs for one document (v3: its processor; v1: the tokenizer and boxes per word-piece)."""
    from PIL import Image
    from transformers import AutoTokenizer

    doc = json.loads(path.read_text())
    if name.startswith("v3"):
        proc = oracle_processor(folder)
        image = Image.open(path.parent / doc["image"]).convert("RGB")
        args = (image, question, doc["words"]) if question else (image, doc["words"])
        enc = proc(*args, boxes=doc["boxes"], return_tensors="pt", truncation=True, max_length=64)
        return enc, enc.word_ids(0), doc
    tok = AutoTokenizer.from_pretrained(str(folder))
    enc = tok(question.split(), doc["words"], is_split_into_words=True, return_tensors="pt", truncation=True) if question else \
        tok(doc["words"], is_split_into_words=True, return_tensors="pt", truncation=True)
    seqs, words = enc.sequence_ids(0), enc.word_ids(0)
    boxes = [[0, 0, 0, 0] if w is None or (question and s == 0) else doc["boxes"][w] for w, s in zip(words, seqs)]
    boxes[-1] = [1000] * 4
    enc["bbox"] = torch.tensor([boxes])
    return enc, words, doc


def items(paths, question=None):
    return Inputs(Item(i, {"document": str(p), **({"question": question} if question else {})}) for i, p in enumerate(paths))


@pytest.mark.parametrize("name", ["v1-tok", "v3-tok", "v3-tok-wide"])
def test_word_label_is_first_subtoken_argmax(layout_checkpoints, layout_docs, name):
    folder = layout_checkpoints[name]
    paths = [layout_docs["invoice"], layout_docs["short"]]
    _, processor, model = load(str(folder), "token-classification", device="cpu", quiet=True)
    records = list(tag_documents(model, processor, items(paths), TagOptions(quiet=True, ignore_labels=())))
    oracle = oracle_model(folder, name)
    for rec, path in zip(records, paths):
        enc, word_ids, doc = oracle_encoding(folder, name, path)
        with torch.no_grad():
            logits = oracle(**enc).logits[0]  # (T, L)
        first = {}
        for pos, w in enumerate(word_ids):
            if w is not None:
                first.setdefault(w, pos)
        want = [oracle.config.id2label[int(logits[first[w]].argmax())] for w in sorted(first)]
        assert [w.label for w in rec.words] == want
        assert [w.word for w in rec.words] == doc["words"][: len(want)]
        assert [w.box for w in rec.words] == doc["boxes"][: len(want)]
        # entities cover the labelled words in order, each word once
        assert [w for e in rec.entities for w in e.words] == [w.word for w in rec.words]


@pytest.mark.parametrize("name", ["v1-cls", "v3-cls", "v3-1d"])
def test_classify_matches_oracle(layout_checkpoints, layout_docs, name):
    folder = layout_checkpoints[name]
    paths = [layout_docs["short"], layout_docs["invoice"]]
    _, processor, model = load(str(folder), "sequence-classification", device="cpu", quiet=True)
    records = list(classify_documents(model, processor, items(paths), ClassifyOptions(quiet=True, top_k=None)))
    oracle = oracle_model(folder, name)
    for rec, path in zip(records, paths):
        enc, _, _ = oracle_encoding(folder, name, path)
        with torch.no_grad():
            probs = oracle(**enc).logits[0].softmax(-1)
        assert rec.label == oracle.config.id2label[int(probs.argmax())]
        assert abs(rec.score - float(probs.max())) <= 1e-4


@pytest.mark.parametrize("name", ["v1-qa", "v3-qa"])
def test_qa_best_span_from_oracle_logits(layout_checkpoints, layout_docs, name):
    folder = layout_checkpoints[name]
    path = layout_docs["invoice"]
    _, processor, model = load(str(folder), "question-answering", device="cpu", quiet=True)
    options = QAOptions(quiet=True, top_k=3, max_answer_length=15)
    (rec,) = list(qa_documents(model, processor, items([path], QUESTION), options))
    enc, word_ids, doc = oracle_encoding(folder, name, path, QUESTION)
    with torch.no_grad():
        out = oracle_model(folder, name)(**enc)
    seqs = enc.sequence_ids(0)
    ctx = [p for p, s in enumerate(seqs) if s == 1]
    n = len(ctx)  # probabilities over the words and CLS (position 0), as transformers' pipeline
    s, e = out.start_logits[0, ctx + [0]].softmax(0)[:n], out.end_logits[0, ctx + [0]].softmax(0)[:n]
    best = max(((float(s[i] * e[j]), i, j) for i in range(len(ctx)) for j in range(i, min(len(ctx), i + 15))))
    first, last = word_ids[ctx[best[1]]], word_ids[ctx[best[2]]]
    assert rec.answer == " ".join(doc["words"][first:last + 1])
    assert rec.boxes == doc["boxes"][first:last + 1]
    assert abs(rec.score - best[0]) <= 1e-4
    assert len(rec.answers) == 3 and [a.score for a in rec.answers] == sorted((a.score for a in rec.answers), reverse=True)


def test_qa_equals_the_document_qa_pipeline(layout_checkpoints, layout_docs):
    """LayoutLM v1 against transformers' document-question-answering pipeline on the same words and boxes: the same
    answers with the same scores, a word span the pipeline lists several times (from several token spans) once.
    (The pipeline hands LayoutLMv3 its image under a name the model ignores, so v3 is compared to the model above.)"""
    import warnings

    import transformers
    from PIL import Image

    folder, path = layout_checkpoints["v1-qa"], layout_docs["invoice"]
    doc = json.loads(path.read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = transformers.pipeline("document-question-answering", model=oracle_model(folder, "v1-qa"),
                                     tokenizer=transformers.AutoTokenizer.from_pretrained(str(folder)))
        want = pipe(image=Image.open(path.parent / doc["image"]), question=QUESTION, word_boxes=list(zip(doc["words"], doc["boxes"])),
                    top_k=200, max_answer_len=15)  # enough token spans for 4 distinct word spans
    seen, distinct = set(), []
    for w in want:
        if (w["start"], w["end"]) not in seen:
            seen.add((w["start"], w["end"]))
            distinct.append(w)
    _, processor, model = load(str(folder), "question-answering", device="cpu", quiet=True)
    (rec,) = list(qa_documents(model, processor, items([path], QUESTION), QAOptions(quiet=True, top_k=4, max_answer_length=15)))
    assert [(a.text, a.first, a.last) for a in rec.answers] == [(w["answer"], w["start"], w["end"]) for w in distinct[:4]]
    assert all(abs(a.score - w["score"]) <= 1e-5 for a, w in zip(rec.answers, distinct))


# --- the commands, through the console script ------------------------------------------------------

def test_tag_command_documents_in_order_with_error_record(script, layout_checkpoints, layout_docs, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"words": ["a"], "boxes": [[1, 2, 3]]}')
    r = script(["tag", layout_checkpoints["v1-tok"], layout_docs["invoice"], bad, layout_docs["short"], "--ignore-labels", ""])
    assert r.exit_code == 7, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["index"] for x in recs] == [0, 1, 2]
    assert "error" in recs[1] and "box 0" in recs[1]["error"]["message"]
    assert [w["word"] for w in recs[2]["words"]] == ["Hello", "world"]
    assert all(len(b) == 4 for e in recs[0]["entities"] for b in e["boxes"])


def test_classify_command(script, layout_checkpoints, layout_docs):
    r = script(["classify", layout_checkpoints["v3-cls"], layout_docs["invoice"], layout_docs["short"], "--top-k", "2"])
    assert r.exit_code == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(recs) == 2 and all(len(x["scores"]) == 2 and x["label"].startswith("L") for x in recs)


def test_qa_command_answer_words_and_boxes(script, layout_checkpoints, layout_docs):
    r = script(["qa", layout_checkpoints["v3-qa"], "--question", QUESTION, layout_docs["invoice"], layout_docs["short"]])
    assert r.exit_code == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["index"] for x in recs] == [0, 1]
    for x in recs:
        assert x["question"] == QUESTION and x["answer"] == x["answers"][0]["text"]
        assert x["boxes"] == x["answers"][0]["boxes"] and len(x["boxes"]) == len(x["answers"][0]["words"])


def test_qa_documents_need_a_question(script, layout_checkpoints, layout_docs):
    r = script(["qa", layout_checkpoints["v3-qa"], layout_docs["invoice"]])
    assert r.exit_code == 2 and "question" in r.stderr


def test_layoutlmv2_is_read_but_not_run(script, layout_checkpoints, layout_docs):
    folder = layout_checkpoints["v2-tok"]
    r = script(["tag", folder, layout_docs["invoice"]])
    assert r.exit_code == 5 and "detectron2" in r.stderr and "Traceback" not in r.stderr
    r = script(["preprocess", folder, layout_docs["invoice"], "--no-values"])
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["processor"] == "LayoutLMv2Processor"
    assert {t["name"]: t["shape"] for t in out["outputs"]}["pixel_values"] == [3, 224, 224]
    r = script(["inspect", folder])
    assert r.exit_code == 0, r.stderr
    assert "LayoutLMv2ImageProcessor" in r.stdout


def test_compat_v1_needs_no_preprocessor(script, layout_checkpoints):
    r = script(["compat", layout_checkpoints["v1-tok"], "--format", "json"])
    assert r.exit_code == 0, r.stderr
    assert "preprocessor" not in r.stdout


@pytest.mark.parametrize("name", ["v1-tok", "v2-tok", "v3-tok"])
def test_preprocess_inspect_compat_of_documents_never_import_torch(layout_checkpoints, layout_docs, name):
    import subprocess
    import sys

    from tests.conftest import ROOT

    folder, doc = str(layout_checkpoints[name]), str(layout_docs["invoice"])
    commands = [["preprocess", folder, doc, "--no-values"], ["inspect", folder], ["compat", folder]]
    code = f"import sys\nfrom autocli.cli import run\ncodes = [run(c) for c in {commands!r}]\nprint(codes, 'torch' in sys.modules, file=sys.stderr)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stderr.strip().splitlines()[-1] == "[0, 0, 0] False", out.stderr
