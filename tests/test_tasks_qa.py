"""`autocli qa`: span search, windows over long contexts, the empty answer, top-k; one end-to-end run
checked against transformers' (v4) question-answering pipeline score computed from the oracle's logits."""

from __future__ import annotations

import json
import math

import pytest
import torch

from autocli.config import Config
from autocli.inputs import Item
from autocli.tasks.qa import QAOptions, qa
from tests.conftest import assert_one_line_error

TOL = 1e-4
FILLER = "The weather was mild and the streets were quiet that morning. "


class FakeQA:
    """A QA model with hand-made logits: per token id, a start and an end logit; CLS gets `null`."""

    uses_token_type_ids = True
    device = torch.device("cpu")

    def __init__(self, tokenizer, starts: dict, ends: dict, null: float = 0.0, positions: int = 512):
        self.config = Config({"model_type": "bert"})
        self.max_positions = positions
        ids = tokenizer.token_to_id
        self.starts = {ids(t): v for t, v in starts.items()}
        self.ends = {ids(t): v for t, v in ends.items()}
        self.null, self.cls = null, tokenizer.cls_id
        self.rows = 0

    def __call__(self, input_ids, attention_mask, token_type_ids=None):
        self.rows += input_ids.shape[0]
        s, e = torch.zeros(input_ids.shape), torch.zeros(input_ids.shape)  # (B, T)
        for t, v in self.starts.items():
            s[input_ids == t] = v
        for t, v in self.ends.items():
            e[input_ids == t] = v
        s[input_ids == self.cls], e[input_ids == self.cls] = self.null, self.null
        return torch.stack([s, e], -1)  # (B, T, 2)


@pytest.fixture(scope="module")
def tok(minilm_dir):
    from autocli.tokenizer import load_tokenizer_from_dir

    return load_tokenizer_from_dir(minilm_dir)


def _ask(model, tok, question, context, **kw):
    return next(iter(qa(model, tok, [Item(0, {"question": question, "context": context})], QAOptions(**kw))))


def test_answer_in_the_last_window_of_a_long_context(tok):
    context = FILLER * 12 + "Paris is the capital of France."
    model = FakeQA(tok, {"paris": 6.0}, {"capital": 6.0})
    rec = _ask(model, tok, "What is the capital?", context, max_length=48, doc_stride=12)
    assert model.rows >= 5  # many windows
    assert rec.answer == "Paris is the capital" and context[rec.start : rec.end] == rec.answer
    assert rec.start == len(FILLER * 12)


def test_spans_from_different_windows_share_one_score(tok):
    context = "Rome was great. " + FILLER * 10 + "Paris is nice."
    model = FakeQA(tok, {"rome": 3.0, "paris": 5.0}, {"great": 3.0, "nice": 5.0})
    rec = _ask(model, tok, "Which city?", context, max_length=40, doc_stride=10, top_k=2)
    assert [a.answer for a in rec.answers] == ["Paris is nice", "Rome was great"]
    first, second = rec.answers
    assert math.isclose(first.score / second.score, math.exp(4.0), rel_tol=1e-4)  # ranked by logit sums
    total = sum(a.score for a in rec.answers)
    assert total < 1.0


def test_single_window_score_is_the_pipeline_formula(tok):
    context = "Paris is the capital of France."
    model = FakeQA(tok, {"paris": 4.0, "france": 1.0}, {"capital": 3.0, "france": 2.0}, null=1.5)
    rec = _ask(model, tok, "What?", context, top_k=50, allow_impossible=True)
    enc = tok.encode("What?", pair=context)
    ctx = [i for i, s in enumerate(enc.sequence_ids) if s == 1]
    logits = model(torch.tensor([enc.ids]), None)[0]  # (T, 2)
    keep = [0] + ctx  # CLS + context, as the pipeline's p_mask
    ps, pe = logits[keep, 0].softmax(0), logits[keep, 1].softmax(0)
    pos = {p: k for k, p in enumerate(keep)}
    want = {}
    for i in ctx:
        for j in ctx:
            if 0 <= j - i < 15:
                span = (enc.offsets[i][0], enc.offsets[j][1])
                want[span] = max(want.get(span, 0.0), float(ps[pos[i]] * pe[pos[j]]))
    null = float(ps[0] * pe[0])
    got = {(a.start, a.end): a.score for a in rec.answers if a.answer}
    best = sorted(want.items(), key=lambda kv: -kv[1])[:49]
    assert all(abs(got[span] - score) <= 1e-6 for span, score in best)
    empty = [a for a in rec.answers if a.answer == ""]
    assert len(empty) == 1 and abs(empty[0].score - null) <= 1e-6
    assert rec.answer == "Paris is the capital"


def test_impossible_answers(tok):
    context = FILLER * 6 + "Paris is the capital."
    model = FakeQA(tok, {"paris": 2.0}, {"capital": 2.0}, null=8.0)
    rec = _ask(model, tok, "What?", context, max_length=40, doc_stride=8, allow_impossible=True, top_k=3)
    assert (rec.answer, rec.start, rec.end) == ("", 0, 0)
    assert rec.answers[1].answer == "Paris is the capital"
    assert [a.score for a in rec.answers] == sorted((a.score for a in rec.answers), reverse=True)
    without = _ask(model, tok, "What?", context, max_length=40, doc_stride=8, top_k=3)
    assert all(a.answer for a in without.answers) and without.answer == "Paris is the capital"
    # One window that holds the answer keeps the empty answer from winning.
    model = FakeQA(tok, {"paris": 9.0}, {"capital": 9.0}, null=8.0)
    assert _ask(model, tok, "What?", context, max_length=40, doc_stride=8, allow_impossible=True).answer == "Paris is the capital"


def test_top_k_answers_are_distinct_and_respect_the_max_length(tok):
    context = "Paris is the capital of France and Lyon is a city."
    model = FakeQA(tok, {"paris": 5.0, "lyon": 4.0}, {"france": 5.0, "city": 4.0})
    rec = _ask(model, tok, "What?", context, top_k=4, max_answer_length=4)
    spans = [(a.start, a.end) for a in rec.answers]
    assert len(spans) == len(set(spans)) == 4
    assert all(len(tok.encode(a.answer, add_special_tokens=False).ids) <= 4 for a in rec.answers)
    assert "Paris is the capital of France" not in [a.answer for a in rec.answers]  # 6 tokens
    assert rec.answers[0].answer == "Lyon is a city"


def test_answers_snap_to_whole_words(tok):
    context = "They were unbelievably lucky."
    assert len(tok.encode("unbelievably", add_special_tokens=False).ids) > 1
    piece = tok.encode("unbelievably", add_special_tokens=False).tokens[-1]
    model = FakeQA(tok, {piece: 5.0}, {piece: 5.0})
    assert _ask(model, tok, "How?", context).answer == "unbelievably"


def test_question_too_long_for_the_window_is_an_error_record(tok):
    model = FakeQA(tok, {}, {})
    records = list(qa(
        model,
        tok,
        [Item(0, {"question": "why " * 40, "context": "Because."}), Item(1, {"question": "Why?", "context": "Because."})],
        QAOptions(max_length=32),
    ))
    assert "error" in records[0].__dict__ and records[1].answer == "Because"


# ---- end to end ---------------------------------------------------------------------------------


def _v4_best(folder, question, context):
    """transformers' (v4) pipeline answer for one window, from the oracle model's logits."""
    from transformers import AutoTokenizer

    from tests.fx_models import oracle

    t = AutoTokenizer.from_pretrained(str(folder))
    enc = t(question, context, return_tensors="pt", return_offsets_mapping=True)
    offsets = enc.pop("offset_mapping")[0]
    with torch.no_grad():
        out = oracle(folder, "bert", "question-answering")(**enc)
    seq = enc.sequence_ids(0)
    keep = [0] + [i for i, s in enumerate(seq) if s == 1]
    ps, pe = out.start_logits[0][keep].softmax(0), out.end_logits[0][keep].softmax(0)
    best = (-1.0, None)
    for a, i in enumerate(keep[1:], 1):
        for b, j in enumerate(keep[1:], 1):
            if 0 <= j - i < 15 and float(ps[a] * pe[b]) > best[0]:
                w0, w1 = enc.token_to_word(0, i), enc.token_to_word(0, j)
                s0 = enc.word_to_chars(0, w0, sequence_index=1).start
                e1 = enc.word_to_chars(0, w1, sequence_index=1).end
                best = (float(ps[a] * pe[b]), (s0, e1))
    return best, float(ps[0] * pe[0]), offsets


def test_end_to_end_against_the_pipeline_formula(cli, tiny_checkpoints):
    folder = tiny_checkpoints["bert", "question-answering"]
    question, context = "Who wrote it?", "It was written by Ada in London."
    (score, (start, end)), null, _ = _v4_best(folder, question, context)
    res = cli(["qa", folder, "--question", question, "--context", context, "--top-k", "200", "--allow-impossible", "--format", "json"])
    assert res.exit_code == 0, res.stderr
    rec = res.json()[0]
    best = next(a for a in rec["answers"] if a["answer"])
    assert (best["start"], best["end"]) == (start, end) and abs(best["score"] - score) <= TOL
    assert best["answer"] == context[start:end]
    empties = [a for a in rec["answers"] if a["answer"] == ""]
    assert len(empties) == 1 and abs(empties[0]["score"] - null) <= TOL


def test_jsonl_inputs_and_a_shared_question(cli, tiny_checkpoints, tmp_path):
    folder = tiny_checkpoints["bert", "question-answering"]
    lines = json.dumps({"question": "Who?", "context": "Ada wrote it."}) + "\n" + json.dumps({"question": "Who?"}) + "\n"
    res = cli(["qa", folder, "--jsonl", "--format", "jsonl"], input=lines)
    assert res.exit_code == 7
    recs = res.jsonl()
    assert recs[0]["answer"] in "Ada wrote it." and "error" in recs[1]
    res = cli(["qa", folder, "--question", "Who?", "--format", "jsonl"], input="Ada wrote it.\nBob read it.\n")
    assert res.exit_code == 0, res.stderr
    assert [r["index"] for r in res.jsonl()] == [0, 1]
    ctx = tmp_path / "ctx.txt"
    ctx.write_text("Ada wrote it.", encoding="utf-8")
    res = cli(["qa", folder, "--question", "Who?", "--context-file", ctx, "--format", "json"])
    assert res.exit_code == 0 and res.json()[0]["end"] <= len("Ada wrote it.")


def test_usage_errors(cli, tiny_checkpoints):
    folder = tiny_checkpoints["bert", "question-answering"]
    assert_one_line_error(cli(["qa", folder, "--context", "x"]), 2)
    assert_one_line_error(cli(["qa", folder, "--question", "q", "--context", "x", "--context-file", "f"]), 2)
